//! `feedsvc serve` held to what the README promises of it (Configuration, HTTP, How it works),
//! one promise at a time, on the real binary. Tests wait on the condition itself, up to
//! [`CEILING`], and bound a time from below only where the behaviour is a lower bound.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::support::{article, assert_check_ok, parse_feed, Response, Server, TestEnv, BIN};

/// The longest any awaited condition may take: generous, so that a busy machine slows a test
/// down instead of failing it.
const CEILING: Duration = Duration::from_secs(20);

/// What a browser navigating to a URL sends (Firefox and Chrome send the same list).
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A site with three articles over two months, two of them tagged Asia, with bodies long enough
/// that every feed and page is worth compressing.
fn site(settings: &[(&str, &str)]) -> TestEnv {
    let env = TestEnv::with_settings(settings);
    let body = "Diplomats met again on Tuesday to discuss the agreement. ".repeat(8);
    env.add_posts(
        &[
            (
                "Envoys reopen the Geneva channel",
                "geneva",
                "2026-01-10T10:00:00Z",
                &["Asia"],
            ),
            (
                "Shipping resumes in the Yellow Sea",
                "yellow-sea",
                "2026-01-20T10:00:00Z",
                &["Asia"],
            ),
            (
                "Cocoa farmers plant shade trees",
                "cocoa",
                "2026-02-05T10:00:00Z",
                &[],
            ),
        ],
        &body,
    );
    env
}

/// Polls `probe` until it returns something; fails after [`CEILING`].
#[track_caller]
fn wait_for<T>(what: &str, probe: impl FnMut() -> Option<T>) -> T {
    crate::support::wait_for(what, CEILING, probe)
}

/// Starts `feedsvc serve` on a site whose documents must be rendered again (a new version or
/// configuration), and waits until the server has done so: it serves the stored documents
/// meanwhile.
fn serve_after_render(env: &TestEnv) -> Server {
    let server = Server::start_with(env, &[], &[("RUST_LOG", "warn,feedsvc::http=info")]);
    wait_for("the site rendered again", || {
        server
            .stderr()
            .contains("rendered the whole site again")
            .then_some(())
    });
    server
}

/// A GET that leaves the connection open (HTTP/1.1 keep-alive).
fn keep_alive_get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// A new connection to the server, on which `bytes` were sent.
fn connect_and_send(server: &Server, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(&server.addr).expect("connect to feedsvc serve");
    stream.write_all(bytes).expect("send to feedsvc serve");
    stream
}

/// Reads one response head from `stream`; returns the status and the headers (names in lower
/// case), leaving the body unread.
#[track_caller]
fn read_head(stream: &mut TcpStream) -> (u16, BTreeMap<String, String>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "no complete response head ({other:?}) after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    (status, headers)
}

/// Reads one response (its body framed by `Content-Length`) from a connection that stays open;
/// returns its status and body.
#[track_caller]
fn read_response(stream: &mut TcpStream) -> (u16, Vec<u8>) {
    let (status, headers) = read_head(stream);
    let length = headers
        .get("content-length")
        .map(|v| v.parse::<usize>().expect("numeric Content-Length"))
        .unwrap_or_else(|| panic!("no Content-Length in {headers:?}"));
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("the response body");
    (status, body)
}

/// Waits until the server closes `stream` (end of file or reset, after a 408 or nothing);
/// returns the time from `since`. Any other byte from the server fails the test.
fn time_until_closed(mut stream: TcpStream, since: Instant) -> Duration {
    stream
        .set_read_timeout(Some(CEILING))
        .expect("read timeout");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after {:?} ({e})", since.elapsed()),
        }
    }
    assert!(
        received.is_empty() || received.starts_with(b"HTTP/1.1 408 "),
        "the server sent {:?} before closing",
        String::from_utf8_lossy(&received)
    );
    since.elapsed()
}

/// The `feedsvc-http-N` threads of process `pid`, sorted.
fn server_threads(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task");
    let mut names: Vec<String> = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_string())
        .filter(|name| name.starts_with("feedsvc-http-"))
        .collect();
    names.sort();
    names
}

/// The fields of each access-log line of `stderr`, `… INFO peer=… method=GET path=/x status=200
/// bytes=12 micros=34 user_agent=…`; the user agent, which may hold spaces, ends the line.
fn access_lines(stderr: &str) -> Vec<BTreeMap<String, String>> {
    stderr
        .lines()
        .filter(|line| line.contains(" method="))
        .map(|line| {
            let (fields, agent) = line
                .split_once(" user_agent=")
                .unwrap_or_else(|| panic!("no user agent in {line:?}"));
            let mut map: BTreeMap<String, String> = fields
                .split(' ')
                .filter_map(|field| field.split_once('='))
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect();
            map.insert("user_agent".to_string(), agent.to_string());
            map
        })
        .collect()
}

/// Waits for `count` access-log lines from `server`.
#[track_caller]
fn wait_for_access_lines(server: &Server, count: usize) -> Vec<BTreeMap<String, String>> {
    wait_for(&format!("{count} access-log lines"), || {
        let lines = access_lines(&server.stderr());
        (lines.len() >= count).then_some(lines)
    })
}

// ---------------------------------------------------------------------------------------------
// server.header_timeout_secs, server.max_connections, TOKIO_WORKER_THREADS

/// `server.header_timeout_secs`: a connection that does not finish its request head is closed
/// once that time has passed, not before; so is one that sends nothing at all, and one that
/// stays idle after its answer. Meanwhile other clients are served.
#[test]
fn header_timeout_closes_slow_silent_and_idle_connections_on_time() {
    let _clock = crate::support::timed();
    let env = site(&[("server", "header_timeout_secs = 2")]);
    let server = env.serve();
    // Each clock starts before the server can start its own: a close measured at 2 s or more
    // is never early. Half a second of slack for the two clocks' granularity.
    let earliest = Duration::from_millis(1500);
    let mut idle = connect_and_send(&server, &keep_alive_get("/atom.xml"));
    assert_eq!(read_response(&mut idle).0, 200);
    let idle_since = Instant::now();
    let silent_since = Instant::now();
    let silent = connect_and_send(&server, b"");
    let slow_since = Instant::now();
    let slow = connect_and_send(&server, b"GET /atom.xml HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    let closed: Vec<(&str, Duration)> = std::thread::scope(|scope| {
        let waits: Vec<_> = [
            ("an unfinished request head", slow, slow_since),
            ("nothing at all", silent, silent_since),
            ("nothing after its answer", idle, idle_since),
        ]
        .into_iter()
        .map(|(what, stream, since)| (what, scope.spawn(move || time_until_closed(stream, since))))
        .collect();
        for _ in 0..3 {
            let response = server.get("/atom.xml", &[]);
            assert_eq!(response.status, 200, "a normal client beside the slow ones");
            parse_feed(&response.body);
        }
        waits
            .into_iter()
            .map(|(what, wait)| (what, wait.join().expect("a waiting thread")))
            .collect()
    });
    for (what, after) in closed {
        assert!(
            after >= earliest,
            "a connection that sent {what} was closed after {after:?}, before \
             header_timeout_secs = 2"
        );
    }
}

/// Two connections that have each had their answer and sit idle, kept alive.
fn two_idle_connections(server: &Server) -> Vec<TcpStream> {
    (0..2)
        .map(|_| {
            let mut stream = connect_and_send(server, &keep_alive_get("/atom.xml"));
            stream
                .set_read_timeout(Some(CEILING))
                .expect("read timeout");
            assert_eq!(read_response(&mut stream).0, 200);
            // Distinct moments of last activity, so that which is idlest is certain.
            std::thread::sleep(Duration::from_millis(50));
            stream
        })
        .collect()
}

/// `server.max_connections`: at the limit, a new connection is served and the connection idle
/// the longest is closed to make room (a keep-alive connection between requests); the other
/// stays open and is served.
#[test]
fn max_connections_closes_the_idlest_connection_to_make_room() {
    // A header timeout far beyond the test, so the held connections stay open on their own.
    let env = site(&[
        ("server", "max_connections = 2"),
        ("server", "header_timeout_secs = 120"),
    ]);
    let server = env.serve();
    let mut held = two_idle_connections(&server);
    let mut third = connect_and_send(&server, &keep_alive_get("/atom.xml"));
    third.set_read_timeout(Some(CEILING)).expect("read timeout");
    let (status, body) = read_response(&mut third);
    assert_eq!(status, 200, "a new connection at the limit");
    assert_eq!(parse_feed(&body).entries.len(), 3);
    let mut rest = Vec::new();
    let closed = held[0].read_to_end(&mut rest);
    assert!(
        matches!(closed, Ok(0))
            || matches!(&closed, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "the idlest connection was not closed: {closed:?}, {rest:?}"
    );
    held[1]
        .write_all(&keep_alive_get("/atom.xml"))
        .expect("a second request");
    assert_eq!(
        read_response(&mut held[1]).0,
        200,
        "the other held connection"
    );
}

/// A connection busy answering (a client reading slowly) is never cut to make room: at the
/// limit with every connection busy, a further one is told the server is busy (503 with
/// `Retry-After`, then closed), and the busy ones still get every answer whole.
#[test]
fn max_connections_answers_503_when_every_connection_is_busy() {
    let env = site(&[
        ("server", "max_connections = 2"),
        ("server", "header_timeout_secs = 120"),
    ]);
    let server = env.serve();
    let one = server
        .get("/atom.xml", &[("Accept-Encoding", "identity")])
        .body
        .len();
    // Enough pipelined requests that their answers fill both sockets' buffers many times over
    // while the client reads nothing.
    let count = (64 << 20) / one + 1;
    let request = b"GET /atom.xml HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n";
    let busy: Vec<(TcpStream, std::thread::JoinHandle<()>)> = (0..2)
        .map(|_| {
            let stream = TcpStream::connect(&server.addr).expect("connect");
            let mut writer = stream.try_clone().expect("clone the socket");
            let sending = std::thread::spawn(move || {
                for _ in 0..count {
                    if writer.write_all(request).is_err() {
                        return;
                    }
                }
            });
            (stream, sending)
        })
        .collect();
    // Until the server's writes wait on the client.
    for (stream, _) in &busy {
        crate::support::wait_until_the_sender_waits(stream, 64 << 10);
    }
    let mut third = connect_and_send(&server, &keep_alive_get("/atom.xml"));
    third.set_read_timeout(Some(CEILING)).expect("read timeout");
    let (status, headers) = read_head(&mut third);
    assert_eq!(status, 503, "a connection beyond the limit: {headers:?}");
    let retry_after: u64 = headers
        .get("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("503 without a numeric Retry-After: {headers:?}"));
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert_eq!(
        headers.get("cache-control").map(String::as_str),
        Some("no-store")
    );
    let length: usize = headers["content-length"].parse().expect("Content-Length");
    let mut rest = Vec::new();
    third
        .read_to_end(&mut rest)
        .expect("the body, then the close");
    assert_eq!(rest.len(), length, "the body is complete, then the close");
    for (mut stream, sending) in busy {
        stream
            .set_read_timeout(Some(CEILING))
            .expect("read timeout");
        for n in 0..count {
            let (status, body) = read_response(&mut stream);
            assert_eq!(
                (n, status, body.len()),
                (n, 200, one),
                "answer {n} of {count}"
            );
        }
        sending.join().expect("the sending thread");
    }
}

/// `server.first_byte_timeout_secs`: a connection that sends nothing is closed once that time
/// has passed, long before `header_timeout_secs`; one that has begun its request head keeps
/// the header timeout, and is served when it finishes.
#[test]
fn first_byte_timeout_closes_silent_connections_early() {
    let _clock = crate::support::timed();
    let env = site(&[
        ("server", "first_byte_timeout_secs = 1"),
        ("server", "header_timeout_secs = 60"),
    ]);
    let server = env.serve();
    let since = Instant::now();
    let silent = connect_and_send(&server, b"");
    let mut started = connect_and_send(&server, b"GET /atom.xml HTTP/1.1\r\n");
    let after = time_until_closed(silent, since);
    assert!(
        after >= Duration::from_millis(500),
        "a silent connection was closed after {after:?}, before first_byte_timeout_secs = 1"
    );
    assert!(
        after < Duration::from_secs(30),
        "a silent connection was kept {after:?}: the header timeout, not the first-byte one"
    );
    std::thread::sleep(Duration::from_secs(2));
    started
        .write_all(b"Host: x\r\n\r\n")
        .expect("the rest of the head");
    started
        .set_read_timeout(Some(CEILING))
        .expect("read timeout");
    assert_eq!(read_response(&mut started).0, 200, "a begun request head");
}

/// Sets a flag when dropped: stops a helper thread even when the test fails.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether the server has closed `stream` (end of file or reset), without waiting.
fn closed_by_server(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let open = matches!(stream.peek(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).expect("blocking");
    !open
}

/// A client holding more connections than `server.max_connections` that never send a byte,
/// reopening each one the server closes, does not lock readers out: every poll beside the flood
/// is answered 200, each taking the place of an idle connection. (The flood stays within the
/// waiting room, 16 beside 64 places: past it, newcomers that reconnect as fast as they are
/// sent away can age a reader out of the room before its first byte is read; see
/// RELIABILITY.md, "Connection floods".)
#[test]
fn a_flood_of_idle_connections_does_not_starve_readers() {
    let _load = crate::support::heavy();
    let env = site(&[
        ("server", "max_connections = 64"),
        ("server", "first_byte_timeout_secs = 2"),
    ]);
    let server = env.serve();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let addr = server.addr.clone();
    let (statuses, reopened) = std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        let flood = scope.spawn(|| {
            let mut held: Vec<TcpStream> = Vec::new();
            let mut reopened = 0usize;
            let deadline = Instant::now() + 2 * CEILING;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                let before = held.len();
                held.retain(|s| !closed_by_server(s));
                reopened += before - held.len();
                while held.len() < 72 {
                    match TcpStream::connect(&addr) {
                        Ok(s) => held.push(s),
                        Err(_) => break,
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            reopened
        });
        std::thread::sleep(Duration::from_millis(500));
        let statuses: Vec<u16> = (0..60)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(50));
                server.get("/atom.xml", &[]).status
            })
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (statuses, flood.join().expect("the flood"))
    });
    assert!(
        reopened > 0,
        "the server closed none of the flood's connections"
    );
    let refused = statuses.iter().filter(|&&s| s != 200).count();
    assert_eq!(refused, 0, "polls beside the flood: {statuses:?}");
}

/// At `server.max_connections` with the waiting room full of connections that sent nothing, a
/// client that sends its request is served: the connection that has waited longest leaves the
/// room for it, and the idlest connection holding a place gives it up.
#[test]
fn a_full_waiting_room_makes_way_for_a_client_that_speaks() {
    // Two places and a waiting room of 16 (its least size).
    let env = site(&[
        ("server", "max_connections = 2"),
        ("server", "header_timeout_secs = 120"),
        ("server", "first_byte_timeout_secs = 120"),
    ]);
    let server = env.serve();
    let silent: Vec<TcpStream> = (0..18)
        .map(|_| {
            let stream = TcpStream::connect(&server.addr).expect("connect");
            // Accepted in this order, so that which waited longest is certain.
            std::thread::sleep(Duration::from_millis(30));
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        silent.iter().all(|s| !closed_by_server(s)),
        "a silent connection closed before the room was full"
    );
    let mut speaker = connect_and_send(&server, &keep_alive_get("/atom.xml"));
    speaker
        .set_read_timeout(Some(CEILING))
        .expect("read timeout");
    let (status, body) = read_response(&mut speaker);
    assert_eq!(status, 200, "a client that speaks at the limit");
    assert_eq!(parse_feed(&body).entries.len(), 3);
    let closed: Vec<usize> = wait_for("the two connections that made way", || {
        let closed: Vec<usize> = (0..silent.len())
            .filter(|&i| closed_by_server(&silent[i]))
            .collect();
        (closed.len() >= 2).then_some(closed)
    });
    assert_eq!(
        closed,
        vec![0, 2],
        "the first place-holder and the longest waiting leave, nobody else"
    );
}

/// Sends `request` on a new connection and reads the whole answer until the server closes.
fn exchange(server: &Server, request: &[u8]) -> String {
    let mut stream = connect_and_send(server, request);
    stream
        .set_read_timeout(Some(CEILING))
        .expect("read timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// RFC 9112 §3.2: an HTTP/1.1 request without `Host`, any request with two `Host` lines, and
/// one whose `Host` is not `host[:port]` get 400; HTTP/1.0 may leave `Host` out.
#[test]
fn host_must_be_present_once_and_valid() {
    let env = site(&[]);
    let server = env.serve();
    let bad = [
        (
            "no Host",
            "GET /atom.xml HTTP/1.1\r\nConnection: close\r\n\r\n",
        ),
        (
            "two Host lines",
            "GET /atom.xml HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: close\r\n\r\n",
        ),
        (
            "two Host lines in HTTP/1.0",
            "GET /atom.xml HTTP/1.0\r\nHost: x\r\nHost: x\r\n\r\n",
        ),
        (
            "a Host with user info",
            "GET /atom.xml HTTP/1.1\r\nHost: user@x\r\nConnection: close\r\n\r\n",
        ),
        (
            "a Host with a space",
            "GET /atom.xml HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
        ),
    ];
    for (what, request) in bad {
        let answer = exchange(&server, request.as_bytes());
        assert!(
            answer.starts_with("HTTP/1.1 400 ") || answer.starts_with("HTTP/1.0 400 "),
            "{what}: {answer:?}"
        );
        assert!(!answer.contains("<feed"), "{what}: the feed was sent");
    }
    let good = [
        ("HTTP/1.0 without Host", "GET /atom.xml HTTP/1.0\r\n\r\n"),
        (
            "a Host with a port",
            "GET /atom.xml HTTP/1.1\r\nHost: wire.test:8080\r\nConnection: close\r\n\r\n",
        ),
        (
            "an IPv6 Host",
            "GET /atom.xml HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        ),
        (
            "an empty Host",
            "GET /atom.xml HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
        ),
    ];
    for (what, request) in good {
        let answer = exchange(&server, request.as_bytes());
        assert!(answer.contains(" 200 OK\r\n"), "{what}: {answer:?}");
        assert!(answer.contains("<feed"), "{what}: no feed");
    }
}

/// A client that sends its whole request and then closes its side of the connection (a
/// half-close, as `nc -N` and some scripts do) still gets its answer.
#[test]
fn a_client_that_half_closes_after_its_request_is_answered() {
    let env = site(&[]);
    let server = env.serve();
    let mut stream = connect_and_send(&server, &keep_alive_get("/atom.xml"));
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("close the sending side");
    stream
        .set_read_timeout(Some(CEILING))
        .expect("read timeout");
    let (status, body) = read_response(&mut stream);
    assert_eq!(status, 200);
    assert_eq!(parse_feed(&body).entries.len(), 3);
}

/// SIGTERM with responses in flight: the server stops accepting, finishes every response it
/// has begun (a client that reads slowly gets each one whole, never a cut body), then exits 0.
#[test]
fn sigterm_finishes_the_responses_in_flight_then_exits() {
    // A feed of about a megabyte: articles with long bodies, each kept whole in the feed.
    let env = TestEnv::new();
    let paragraph = "Diplomats met again on Tuesday to discuss the agreement. ".repeat(20);
    let body = vec![paragraph; 40].join("\n\n");
    let files: Vec<_> = (1..=24)
        .map(|n| {
            let slug = format!("talks-{n}");
            let published = format!("2026-01-{n:02}");
            env.write_article(
                &format!("{slug}.md"),
                &article(&format!("Talks, day {n}"), &slug, &published, &body),
            )
        })
        .collect();
    env.add(&files.iter().map(|f| f.as_path()).collect::<Vec<_>>());
    let mut server = env.serve();
    let feed_len = server
        .get("/atom.xml", &[("Accept-Encoding", "identity")])
        .body
        .len();
    assert!(feed_len > 500_000, "a feed of {feed_len} bytes");
    // Pipelined requests for the uncompressed feed, read by the server at once (they are
    // small), their answers unread: the server blocks once the socket buffers (a few MB) are
    // full, in the middle of one of the responses.
    let one = b"GET /atom.xml HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n";
    let count = (24 << 20) / feed_len + 1;
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    stream
        .write_all(&one.repeat(count))
        .expect("send the requests");
    crate::support::wait_until_the_sender_waits(&stream, 64 << 10);
    let mut first = [0u8; 12];
    stream
        .read_exact(&mut first)
        .expect("the first response has begun");
    let status = server.terminate(Duration::from_millis(300));
    assert!(
        status.is_none(),
        "the server exited with a response still being read: {status:?}"
    );
    stream
        .set_read_timeout(Some(CEILING))
        .expect("read timeout");
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("the rest, up to the close");
    let mut all = first.to_vec();
    all.extend_from_slice(&rest);
    // Every response on the wire is whole: a status line, headers and the full body.
    let mut at = 0;
    let mut whole = 0;
    while at < all.len() {
        let head_end = all[at..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("a response head cut after {whole} whole responses"));
        let head = String::from_utf8_lossy(&all[at..at + head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().expect("length"))
            })
            .expect("Content-Length");
        at += head_end + 4 + length;
        assert!(
            at <= all.len(),
            "response {} cut: body {length} bytes, got {}",
            whole + 1,
            all.len() - (at - length)
        );
        whole += 1;
    }
    assert!(
        whole * feed_len > 2 << 20,
        "only {whole} responses were in flight: the test did not fill the socket buffers"
    );
    assert!(
        whole < count,
        "the server kept answering new requests after SIGTERM"
    );
    let status = server
        .terminate(CEILING)
        .expect("the server exits once the responses are read");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

/// `TOKIO_WORKER_THREADS=N`: the server runs N threads that serve connections, the main one
/// and N - 1 named `feedsvc-http-1` … (see `http::serve`); every one answers.
#[test]
fn tokio_worker_threads_chooses_how_many_threads_serve() {
    let env = site(&[]);
    for threads in [1usize, 3] {
        let server = env.serve_with(&[], &[("TOKIO_WORKER_THREADS", &threads.to_string())]);
        // Connections are dealt out to the threads in turn: each thread answers two of these.
        for _ in 0..threads * 2 {
            assert_eq!(server.get("/atom.xml", &[]).status, 200);
        }
        let expected: Vec<String> = (1..threads).map(|n| format!("feedsvc-http-{n}")).collect();
        assert_eq!(
            server_threads(server.pid()),
            expected,
            "TOKIO_WORKER_THREADS={threads}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// FEEDSVC_CONFIG, storage.samples, the access log

/// `FEEDSVC_CONFIG` names the configuration for a command run anywhere without `--config`:
/// `add`, `list` and `serve` work on that site, and nothing lands in the working directory.
#[test]
fn feedsvc_config_points_every_command_at_the_site() {
    let env = TestEnv::new();
    let elsewhere = tempfile::tempdir().expect("temporary directory");
    let command = |args: &[&str]| {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(elsewhere.path())
            .env("FEEDSVC_CONFIG", env.config_path())
            .env_remove("RUST_LOG")
            .env_remove("TOKIO_WORKER_THREADS")
            .stdin(Stdio::null());
        command
    };
    let run = |args: &[&str]| {
        let output = command(args).output().expect("run feedsvc");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "feedsvc {args:?}: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let file = env.write_article(
        "elsewhere.md",
        &article(
            "Filed from elsewhere",
            "elsewhere",
            "2026-03-01T10:00:00Z",
            "Body.",
        ),
    );
    let file = file.to_str().expect("a UTF-8 path");
    assert_eq!(run(&["add", file]).trim(), env.article_url("elsewhere"));
    assert!(run(&["list"]).contains("elsewhere"));
    assert!(env.db_path().exists(), "the site's database was written");
    // Without the variable, the same command looks for ./config.toml and finds none.
    let bare = command(&["list"])
        .env_remove("FEEDSVC_CONFIG")
        .output()
        .expect("run feedsvc");
    assert!(!bare.status.success(), "list ran without a configuration");

    let stderr_path = env.path("elsewhere.stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let child = command(&["serve"])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn feedsvc serve");
    let server = Server::adopt(child, stderr_path);
    assert_eq!(server.get("/articles/elsewhere", &[]).status, 200);
    let feed = parse_feed(&server.get("/atom.xml", &[]).body);
    assert_eq!(feed.entries.len(), 1);
    let entries = std::fs::read_dir(elsewhere.path()).expect("list the working directory");
    assert_eq!(
        entries.count(),
        0,
        "a command wrote into its working directory"
    );
}

/// Writes three sample articles into the site's `samples/` and names it in `storage.samples`;
/// returns their titles, newest first.
fn configure_samples(env: &TestEnv) -> Vec<&'static str> {
    let dir = env.path("samples");
    std::fs::create_dir_all(&dir).expect("samples directory");
    let samples = [
        ("Sample three", "sample-three", "2026-04-03T08:00:00Z"),
        ("Sample two", "sample-two", "2026-04-02T08:00:00Z"),
        ("Sample one", "sample-one", "2026-04-01T08:00:00Z"),
    ];
    for (title, slug, published) in samples {
        let text = article(title, slug, published, "A sample body.");
        std::fs::write(dir.join(format!("{slug}.md")), text).expect("write a sample");
    }
    env.replace_setting("samples = \"\"", "samples = \"samples\"");
    samples.iter().map(|(title, _, _)| *title).collect()
}

/// The entry titles of the site's Atom feed, newest first.
fn feed_titles(server: &Server) -> Vec<String> {
    let response = server.get("/atom.xml", &[]);
    assert_eq!(response.status, 200);
    parse_feed(&response.body)
        .entries
        .into_iter()
        .map(|e| e.title.map(|t| t.content).unwrap_or_default())
        .collect()
}

/// `storage.samples`: the `serve` that creates the database loads every sample article and
/// serves them; a second start loads nothing again, and a database that already exists is
/// never seeded.
#[test]
fn samples_are_loaded_by_the_serve_that_creates_the_database_only() {
    let env = TestEnv::new();
    let titles = configure_samples(&env);
    {
        let server = env.serve();
        assert_eq!(feed_titles(&server), titles);
        for slug in ["sample-one", "sample-two", "sample-three"] {
            let page = server.get(&format!("/articles/{slug}"), &[]);
            assert_eq!(page.status, 200, "{slug}");
        }
    }
    let after_first = env.snapshot();
    {
        let server = env.serve();
        assert_eq!(feed_titles(&server), titles, "a second start");
        let stderr = server.stderr();
        assert!(!stderr.contains("ERROR"), "{stderr}");
    }
    assert_eq!(
        env.snapshot(),
        after_first,
        "the second start stored something"
    );
    assert_eq!(env.list_json().len(), titles.len());

    let existing = TestEnv::new();
    existing.add_article("Written first", "written-first", "2026-03-01", "Body.");
    configure_samples(&existing);
    let server = existing.serve();
    assert_eq!(feed_titles(&server), ["Written first"]);
    assert_eq!(server.get("/articles/sample-one", &[]).status, 404);
    assert_eq!(existing.list_json().len(), 1);
}

/// The access log (README, "HTTP"): with `server.log = "info"` one line per request with its
/// method, path, status, bytes (the Content-Length), duration and user agent; with "warn" none.
#[test]
fn the_access_log_has_one_line_per_request_at_info_and_none_at_warn() {
    let env = site(&[]);
    env.replace_setting("log = \"warn\"", "log = \"info\"");
    let agent = "Mozilla/5.0 (X11; Linux x86_64) FeedReader/2.1";
    let send = |server: &Server| {
        let started = Instant::now();
        let feed = server.get("/atom.xml?utm_source=x", &[("User-Agent", agent)]);
        let took = started.elapsed();
        let missing = server.get("/no-such-page", &[]);
        assert_eq!((feed.status, missing.status), (200, 404));
        (feed, took, missing)
    };
    let server = env.serve();
    let (feed, took, missing) = send(&server);
    let lines = wait_for_access_lines(&server, 2);
    assert_eq!(lines.len(), 2, "one line per request: {lines:#?}");
    for (line, (path, response, user_agent)) in lines.iter().zip([
        ("/atom.xml", &feed, agent),
        ("/no-such-page", &missing, "-"),
    ]) {
        let field = |name: &str| line.get(name).map(String::as_str);
        assert_eq!(field("method"), Some("GET"), "{line:?}");
        assert_eq!(field("path"), Some(path), "{line:?}");
        assert_eq!(
            field("status"),
            Some(response.status.to_string().as_str()),
            "{line:?}"
        );
        assert_eq!(
            field("bytes"),
            Some(response.expect_header("content-length")),
            "{line:?}"
        );
        assert_eq!(field("user_agent"), Some(user_agent), "{line:?}");
    }
    let micros: u128 = lines[0]["micros"].parse().expect("micros is a number");
    assert!(
        micros <= took.as_micros(),
        "the server took {micros} µs of a {took:?} round trip"
    );
    drop(server);

    env.replace_setting("log = \"info\"", "log = \"warn\"");
    let server = env.serve();
    send(&server);
    // The line is written before the answer is sent: none by now is none at all.
    let stderr = server.stderr();
    assert!(access_lines(&stderr).is_empty(), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// one compression per document version

/// A body of about 20 KB that compresses, different for each `n`.
fn long_body(n: usize) -> String {
    (0..200)
        .map(|i| {
            format!(
                "Paragraph {i} of report {n}: the delegations met again and agreed on item {}.\n\n",
                i * 7 + n
            )
        })
        .collect()
}

/// README, "How it works": the first request for a document compresses it, and concurrent
/// first requests wait for that one compression (each is logged at debug level).
#[test]
fn concurrent_first_requests_share_one_compression() {
    const REQUESTS: usize = 16;
    let env = TestEnv::new();
    let files: Vec<_> = (0..20)
        .map(|n| {
            let slug = format!("report-{n}");
            let published = format!("2026-05-{:02}T10:00:00Z", n + 1);
            let text = article(&format!("Report {n}"), &slug, &published, &long_body(n));
            env.write_article(&format!("{slug}.md"), &text)
        })
        .collect();
    let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    env.add(&paths);
    env.replace_setting(
        "log = \"warn\"",
        "log = \"warn,feedsvc::http::cache=debug\"",
    );
    let server = env.serve();
    let start = Barrier::new(REQUESTS);
    let answers: Vec<Response> = std::thread::scope(|scope| {
        let requests: Vec<_> = (0..REQUESTS)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    server.get("/atom.xml", &[("Accept-Encoding", "gzip")])
                })
            })
            .collect();
        requests
            .into_iter()
            .map(|r| r.join().expect("a request thread"))
            .collect()
    });
    for answer in &answers {
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("content-encoding"), Some("gzip"));
        assert_eq!(answer.header("etag"), answers[0].header("etag"));
        assert!(answer.body == answers[0].body, "the gzip bytes differ");
    }
    let identity = server.get("/atom.xml", &[]);
    assert!(identity.body.len() > 300_000, "a large feed");
    // Each compression is logged before its answer is sent.
    let stderr = server.stderr();
    let compressions: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(" compressed ") && line.contains(" path=/atom.xml "))
        .collect();
    assert_eq!(compressions.len(), 1, "{REQUESTS} first requests: {stderr}");
    for size in [
        format!("identity={}", identity.body.len()),
        format!("gzip={}", answers[0].body.len()),
    ] {
        assert!(
            compressions[0].contains(&size),
            "{size}: {}",
            compressions[0]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Accept-Encoding, Cache-Control, the browser view of feeds

/// README, "HTTP": `Accept-Encoding` is negotiated with q-values, and 406 answers only when
/// everything acceptable is refused. `/atom.xml` has identity, gzip and br; `/robots.txt` is too
/// small to compress and has identity only.
#[test]
fn refusing_every_available_coding_gets_406_and_nothing_less_does() {
    let env = site(&[]);
    let server = env.serve();
    // Accept-Encoding, then the coding sent for /atom.xml and for /robots.txt (None: 406).
    let cases: &[(&str, Option<&str>, Option<&str>)] = &[
        ("identity;q=0, *;q=0", None, None),
        ("br;q=0, gzip;q=0, identity;q=0", None, None),
        ("*;q=0", None, None),
        // Refusing identity alone asks for compression: gzip, then br, when there is one.
        ("identity;q=0", Some("gzip"), None),
        ("identity;q=0, gzip;q=0", Some("br"), None),
        ("deflate, identity;q=0", Some("gzip"), None),
        ("*;q=0, gzip", Some("gzip"), None),
        // Only codings the server does not have: identity, acceptable unless refused.
        ("deflate, zstd", Some("identity"), Some("identity")),
        ("br;q=0, gzip;q=0", Some("identity"), Some("identity")),
        ("*;q=0, identity", Some("identity"), Some("identity")),
        ("identity;q=0.5, *;q=0", Some("identity"), Some("identity")),
    ];
    let identity: BTreeMap<&str, Vec<u8>> = ["/atom.xml", "/robots.txt"]
        .into_iter()
        .map(|path| (path, server.get(path, &[]).body))
        .collect();
    for (accept, atom, robots) in cases {
        for (path, expected) in [("/atom.xml", atom), ("/robots.txt", robots)] {
            let headers = [("Accept-Encoding", *accept)];
            let r = server.get(path, &headers);
            let context = format!("{path} with Accept-Encoding: {accept}");
            let Some(coding) = expected else {
                assert_eq!(r.status, 406, "{context}");
                assert_eq!(r.expect_header("content-type"), "text/plain; charset=utf-8");
                assert_eq!(r.header("content-encoding"), None, "{context}");
                assert!(!r.body.is_empty(), "{context}: a 406 explains itself");
                assert_eq!(server.request("HEAD", path, &headers).status, 406);
                continue;
            };
            assert_eq!(r.status, 200, "{context}");
            assert_eq!(r.header("content-encoding").unwrap_or("identity"), *coding);
            assert_eq!(r.decoded_body(), identity[path], "{context}");
        }
    }
    let refused = server.get("/atom.xml", &[("Accept-Encoding", "*;q=0")]);
    assert!(
        refused.varies_on("Accept-Encoding"),
        "{:?}",
        refused.headers
    );
}

/// A 406 is framed like any other answer: HEAD carries the `Content-Length` of its GET
/// (README: "HEAD is GET without the body"), and the access log counts the bytes sent.
#[test]
fn a_406_has_the_content_length_of_its_body_on_get_head_and_in_the_log() {
    let env = site(&[]);
    env.replace_setting("log = \"warn\"", "log = \"info\"");
    let server = env.serve();
    let refuse = [("Accept-Encoding", "identity;q=0, *;q=0")];
    let get = server.get("/atom.xml", &refuse);
    let head = server.request("HEAD", "/atom.xml", &refuse);
    assert_eq!((get.status, head.status), (406, 406));
    let length = get.body.len().to_string();
    assert_eq!(get.header("content-length"), Some(length.as_str()));
    assert_eq!(
        head.header("content-length"),
        Some(length.as_str()),
        "HEAD is GET without the body: {:?}",
        head.headers
    );
    for line in wait_for_access_lines(&server, 2) {
        assert_eq!(line["bytes"], length, "{line:?}");
    }
}

/// The link to a fingerprinted asset in `text` (`/assets/NAME.HASH.EXT`), ending in `ext`.
#[track_caller]
fn asset_link(text: &str, ext: &str) -> String {
    // Also in an `<?xml-stylesheet href="…"?>` instruction, which is not a start tag.
    text.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .find(|href| href.starts_with("/assets/") && href.ends_with(ext))
        .unwrap_or_else(|| panic!("no /assets/…{ext} link in {text}"))
}

/// Feeds are `max-age=<feed_max_age>, stale-while-revalidate=<twice that>`; pages
/// `max-age=<page_max_age>, stale-while-revalidate=<five times that, at least 300>`.
fn freshness(feed_max_age: u32, page_max_age: u32) -> (String, String) {
    (
        format!(
            "max-age={feed_max_age}, stale-while-revalidate={}",
            feed_max_age * 2
        ),
        format!(
            "max-age={page_max_age}, stale-while-revalidate={}",
            page_max_age.max(60) * 5
        ),
    )
}

/// README, "HTTP": the exact `Cache-Control` of every kind of answer, and of its 304.
#[test]
fn cache_control_is_exact_for_every_kind_of_answer_and_its_304() {
    const IMMUTABLE: &str = "max-age=31536000, immutable";
    let env = site(&[
        ("server", "feed_max_age = 120"),
        ("server", "page_max_age = 30"),
    ]);
    env.run(&["edit", "yellow-sea", "--slug", "yellow-sea-shipping"])
        .success();
    env.run(&["delete", "cocoa"]).success();
    let server = env.serve();
    let (feed, page) = freshness(120, 30);
    let style = asset_link(&server.get("/", &[]).text(), ".css");
    let cases: &[(&str, u16, &str)] = &[
        ("/atom.xml", 200, &feed),
        ("/rss.xml", 200, &feed),
        ("/feed.json", 200, &feed),
        ("/tags/asia/atom.xml", 200, &feed),
        ("/archive/2026-01/rss.xml", 200, &feed),
        ("/", 200, &page),
        ("/articles/geneva", 200, &page),
        ("/tags/asia/", 200, &page),
        // XML, but not feeds: the page policy.
        ("/sitemap.xml", 200, &page),
        ("/archive/2026-01/sitemap.xml", 200, &page),
        (&style, 200, IMMUTABLE),
        ("/articles/yellow-sea", 301, "max-age=3600"),
        ("/no-such-page", 404, "max-age=60"),
        ("/articles/cocoa", 410, "max-age=60"),
        // Answered by the router, like a 400 or a 405, not from a stored document.
        ("/tags/asia", 301, "no-store"),
    ];
    for &(path, status, cache_control) in cases {
        let r = server.get(path, &[("Accept-Encoding", "gzip")]);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.expect_header("cache-control"), cache_control, "{path}");
        if status == 200 {
            let etag = r.expect_header("etag");
            let again = server.get(
                path,
                &[("Accept-Encoding", "gzip"), ("If-None-Match", etag)],
            );
            assert_eq!(again.status, 304, "{path}");
            assert_eq!(
                again.expect_header("cache-control"),
                cache_control,
                "{path} 304"
            );
        }
    }
    // A browser at a feed's URL gets its view, which ages like the feed, 304 included.
    for path in [
        "/atom.xml",
        "/tags/asia/rss.xml",
        "/archive/2026-01/atom.xml",
    ] {
        let browser = [("Accept-Encoding", "gzip"), ("Accept", BROWSER_ACCEPT)];
        let r = server.get(path, &browser);
        let context = format!("the browser view at {path}");
        assert_eq!(
            r.expect_header("content-type"),
            "text/html; charset=utf-8",
            "{context}"
        );
        assert_eq!(r.expect_header("cache-control"), feed, "{context}");
        let etag = ("If-None-Match", r.expect_header("etag"));
        let again = server.get(path, &[browser[0], browser[1], etag]);
        assert_eq!(again.status, 304, "{context}");
        assert_eq!(again.expect_header("cache-control"), feed, "{context} 304");
    }
    drop(server);
    // Longer pages, shorter feeds: both stale-while-revalidate rules again.
    env.replace_setting("feed_max_age = 120", "feed_max_age = 45");
    env.replace_setting("page_max_age = 30", "page_max_age = 90");
    let server = env.serve();
    let (feed, page) = freshness(45, 90);
    assert_eq!(
        server.get("/rss.xml", &[]).expect_header("cache-control"),
        feed
    );
    assert_eq!(server.get("/", &[]).expect_header("cache-control"), page);
}

/// The bytes stored for the document at `path`, read from the database itself.
#[track_caller]
fn stored_body(env: &TestEnv, path: &str) -> Vec<u8> {
    rusqlite::Connection::open(env.db_path())
        .expect("open the database")
        .query_row("SELECT body FROM documents WHERE path = ?1", [path], |r| {
            r.get(0)
        })
        .unwrap_or_else(|e| panic!("no document at {path}: {e}"))
}

/// README, "Feeds": a browser navigating to an RSS or Atom feed (it asks for HTML and names
/// neither feed type) gets the feed's browser view, an HTML page of the feed's entries with
/// dates written for people, with its own ETag and the feed's Last-Modified; feed readers
/// (naming the feed type, `*/*`, or no Accept) get the feed's stored bytes, no XSL instruction
/// in them. Each revalidates with its own tags only; both vary on Accept; JSON Feed has no view.
#[test]
fn a_browser_gets_a_page_at_rss_and_atom_urls_and_a_reader_the_feed() {
    let env = site(&[]);
    let server = env.serve();
    let geneva = (
        "Envoys reopen the Geneva channel",
        "2026-01-10T10:00:00Z\">10 January 2026<",
    );
    let yellow = (
        "Shipping resumes in the Yellow Sea",
        "2026-01-20T10:00:00Z\">20 January 2026<",
    );
    let cocoa = (
        "Cocoa farmers plant shade trees",
        "2026-02-05T10:00:00Z\">5 February 2026<",
    );
    // Directory, the feeds' title, their entries; archives are rendered on request.
    let directories = [
        ("/", "Test Wire", &[cocoa, yellow, geneva][..]),
        ("/tags/asia/", "Test Wire — Asia", &[yellow, geneva][..]),
        (
            "/archive/2026-01/",
            "Test Wire — archive 2026-01",
            &[yellow, geneva][..],
        ),
    ];
    let feeds = directories.iter().flat_map(|&(dir, title, entries)| {
        ["atom", "rss"].map(|format| (format!("{dir}{format}.xml"), format, title, entries))
    });
    for (path, format, title, entries) in feeds {
        let path = path.as_str();
        let media = format!("application/{format}+xml");
        for encoding in ["identity", "gzip", "br"] {
            let get = |accept: Option<&str>, etag: Option<&str>| {
                let mut headers = vec![("Accept-Encoding", encoding)];
                headers.extend(accept.map(|a| ("Accept", a)));
                headers.extend(etag.map(|e| ("If-None-Match", e)));
                server.get(path, &headers)
            };
            let context = format!("{path}, Accept-Encoding: {encoding}");
            let browser = get(Some(BROWSER_ACCEPT), None);
            assert_eq!(browser.status, 200, "{context}");
            assert_eq!(
                browser.expect_header("content-type"),
                "text/html; charset=utf-8",
                "{context}"
            );
            assert!(
                browser.header("content-security-policy").is_some(),
                "{context}: an HTML page carries the page headers: {:?}",
                browser.headers
            );
            let page = String::from_utf8(browser.decoded_body()).expect("UTF-8");
            assert!(page.starts_with("<!DOCTYPE html>"), "{context}: {page}");
            assert!(
                page.contains(&format!("<h1>{title}</h1>")),
                "{context}: {page}"
            );
            assert!(page.contains("This is a"), "{context}: no note on feeds");
            let mut at = 0;
            for (entry, date) in entries {
                let found = page[at..]
                    .find(&format!(">{entry}</a>"))
                    .unwrap_or_else(|| panic!("{context}: {entry} missing or out of order"));
                at += found;
                assert!(
                    page[at..].contains(date),
                    "{context}: {entry} without {date}"
                );
            }
            let view_etag = browser.expect_header("etag");

            // Readers get the feed's bytes: stored ones, or for an archive those of a request
            // that names no type at all.
            let expected = if path.starts_with("/archive/") {
                get(None, None).decoded_body()
            } else {
                stored_body(&env, path)
            };
            assert!(expected.starts_with(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<"));
            assert!(
                !String::from_utf8_lossy(&expected).contains("xml-stylesheet"),
                "{path}"
            );
            let mut reader_etags = Vec::new();
            for accept in [Some(media.as_str()), Some("*/*"), None] {
                let reader = get(accept, None);
                let context = format!("{context}, Accept: {accept:?}");
                assert_eq!(reader.status, 200, "{context}");
                assert_eq!(
                    reader.expect_header("content-type"),
                    format!("{media}; charset=utf-8"),
                    "{context}"
                );
                assert_eq!(
                    reader.decoded_body(),
                    expected,
                    "{context}: the feed's bytes"
                );
                assert_eq!(
                    reader.header("last-modified"),
                    browser.header("last-modified"),
                    "{context}: the view shows what the feed holds"
                );
                let reader_etag = reader.expect_header("etag").to_string();
                assert_ne!(reader_etag, view_etag, "{context}");
                // Each representation revalidates with its own tag, never with the other's.
                assert_eq!(get(accept, Some(&reader_etag)).status, 304, "{context}");
                assert_eq!(get(accept, Some(view_etag)).status, 200, "{context}");
                let page_again = get(Some(BROWSER_ACCEPT), Some(&reader_etag));
                assert_eq!(page_again.status, 200, "{context}");
                assert_eq!(page_again.expect_header("etag"), view_etag, "{context}");
                assert!(
                    reader.varies_on("Accept") && reader.varies_on("Accept-Encoding"),
                    "{context}: {:?}",
                    reader.headers
                );
                reader_etags.push(reader_etag);
            }
            let revalidated = get(Some(BROWSER_ACCEPT), Some(view_etag));
            assert_eq!(revalidated.status, 304, "{context}");
            assert_eq!(revalidated.expect_header("etag"), view_etag, "{context}");
            for r in [&browser, &revalidated] {
                assert!(
                    r.varies_on("Accept") && r.varies_on("Accept-Encoding"),
                    "{context}: {:?}",
                    r.headers
                );
            }
            let head = server.request(
                "HEAD",
                path,
                &[("Accept-Encoding", encoding), ("Accept", BROWSER_ACCEPT)],
            );
            assert_eq!(head.status, 200, "{context}");
            assert!(head.body.is_empty(), "{context}");
            for name in [
                "content-type",
                "content-length",
                "etag",
                "last-modified",
                "vary",
            ] {
                assert_eq!(
                    head.header(name),
                    browser.header(name),
                    "HEAD {context}: {name}"
                );
            }
        }
    }
    // Both formats of one directory show one page; a new entry changes it like the feeds.
    let view = |path: &str| server.get(path, &[("Accept", BROWSER_ACCEPT)]);
    let (atom, rss) = (view("/atom.xml"), view("/rss.xml"));
    assert_eq!(atom.body, rss.body);
    assert_eq!(atom.header("etag"), rss.header("etag"));
    env.add_article(
        "Rains return to the Sahel",
        "sahel",
        "2026-03-01T08:00:00Z",
        "Rain.",
    );
    let after = wait_for("the view shows the new entry", || {
        let r = view("/rss.xml");
        r.text()
            .contains(">Rains return to the Sahel</a>")
            .then_some(r)
    });
    assert_ne!(after.header("etag"), atom.header("etag"));
    // Stamped by the same publish as the feed it shows.
    assert_eq!(
        after.expect_header("last-modified"),
        server.get("/rss.xml", &[]).expect_header("last-modified")
    );

    let reader = server.get("/feed.json", &[]);
    let browser = server.get("/feed.json", &[("Accept", BROWSER_ACCEPT)]);
    for r in [&reader, &browser] {
        assert_eq!(
            r.expect_header("content-type"),
            "application/feed+json; charset=utf-8"
        );
        assert!(!r.varies_on("Accept"), "{:?}", r.headers);
    }
    assert_eq!(browser.header("etag"), reader.header("etag"));
    assert_eq!(browser.body, reader.body);
}

/// Runs `sql` against the site's database.
fn execute(env: &TestEnv, sql: &str) {
    rusqlite::Connection::open(env.db_path())
        .expect("open the database")
        .execute(sql, [])
        .expect(sql);
}

/// The stored rows whose key is no request path (the browser views), with their status.
fn stored_view_keys(env: &TestEnv) -> Vec<(String, u16)> {
    let db = rusqlite::Connection::open(env.db_path()).expect("open the database");
    let mut select = db
        .prepare("SELECT path, status FROM documents WHERE path NOT LIKE '/%' ORDER BY path")
        .expect("select documents");
    let rows = select
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query documents");
    rows.collect::<rusqlite::Result<_>>().expect("rows")
}

/// A tag no published article carries any more answers 410 at its feeds' URLs to browsers as
/// to readers: its view is removed, not turned into a 410 of its own; it comes back with the tag.
#[test]
fn a_tag_that_is_gone_answers_browsers_410_and_its_view_goes() {
    let env = site(&[]);
    let views = |env: &TestEnv| -> Vec<String> {
        stored_view_keys(env)
            .into_iter()
            .map(|(key, status)| {
                assert_eq!(status, 200, "{key}");
                key
            })
            .collect()
    };
    assert_eq!(views(&env), ["view:/", "view:/tags/asia/"]);
    env.run(&["delete", "geneva"]).success();
    env.run(&["delete", "yellow-sea"]).success();
    assert_eq!(views(&env), ["view:/"]);
    assert_check_ok(&env);
    let server = env.serve();
    for path in ["/tags/asia/atom.xml", "/tags/asia/rss.xml"] {
        for accept in [BROWSER_ACCEPT, "application/atom+xml"] {
            let r = server.get(path, &[("Accept", accept)]);
            assert_eq!(r.status, 410, "{path}, Accept: {accept}");
            assert_eq!(r.expect_header("content-type"), "text/html; charset=utf-8");
            assert!(!r.varies_on("Accept"), "{path}: {:?}", r.headers);
            assert!(r.text().contains("Nothing is tagged “Asia” any more."));
        }
    }
    let text = "+++\ntitle = \"Typhoon season opens\"\nslug = \"typhoon\"\n\
                published = \"2026-03-02T10:00:00Z\"\ntags = [\"Asia\"]\n+++\nWind.\n";
    env.add(&[&env.write_article("typhoon.md", text)]);
    assert_eq!(views(&env), ["view:/", "view:/tags/asia/"]);
    let back = wait_for("the tag's view is back", || {
        let r = server.get("/tags/asia/atom.xml", &[("Accept", BROWSER_ACCEPT)]);
        (r.status == 200).then_some(r)
    });
    assert_eq!(
        back.expect_header("content-type"),
        "text/html; charset=utf-8"
    );
    assert!(back.text().contains(">Typhoon season opens</a>"));
}

/// A site rendered by a version without browser views gets them when the next start re-renders
/// everything (README, "How it works": upgrading re-renders the whole site). Until then a
/// browser gets the feed itself rather than an error.
#[test]
fn a_site_rendered_without_browser_views_gets_them_at_the_next_start() {
    let env = site(&[]);
    execute(&env, "DELETE FROM documents WHERE path LIKE 'view:%'");
    let server = env.serve();
    let fallback = server.get("/atom.xml", &[("Accept", BROWSER_ACCEPT)]);
    assert_eq!(fallback.status, 200);
    assert_eq!(
        fallback.expect_header("content-type"),
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(fallback.body, server.get("/atom.xml", &[]).body);
    drop(server);
    // What an upgrade looks like to the store: the site's fingerprint no longer matches.
    execute(
        &env,
        "UPDATE meta SET value = 'an older feedsvc' WHERE key = 'site_fingerprint'",
    );
    let server = serve_after_render(&env);
    for path in [
        "/atom.xml",
        "/rss.xml",
        "/tags/asia/atom.xml",
        "/tags/asia/rss.xml",
    ] {
        let r = server.get(path, &[("Accept", BROWSER_ACCEPT)]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.expect_header("content-type"),
            "text/html; charset=utf-8",
            "{path}"
        );
    }
    assert_check_ok(&env);
}

/// README, "How it works": rendering the whole site again at a start (a new version or
/// configuration) never keeps the server from serving the documents already stored. Here the
/// render cannot even begin, as another process holds the write lock: the server still comes
/// up and serves the stored feed and pages at once, and renders the site as soon as the lock
/// is released.
#[test]
fn a_start_that_renders_the_site_again_serves_the_stored_documents_meanwhile() {
    let env = site(&[("storage", "busy_timeout_ms = 120000")]);
    let stored = env.serve().get("/atom.xml", &[]).body;
    env.replace_setting("title = \"Test Wire\"", "title = \"Evening Wire\"");
    let db = rusqlite::Connection::open(env.db_path()).expect("open the database");
    db.execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let server = Server::start_with(&env, &[], &[("RUST_LOG", "warn,feedsvc::http=info")]);
    let served = server.get("/atom.xml", &[]);
    assert_eq!(served.status, 200);
    assert_eq!(
        served.body, stored,
        "the stored feed, while the render waits"
    );
    assert_eq!(server.get("/articles/geneva", &[]).status, 200);
    assert!(!server.stderr().contains("rendered the whole site again"));
    db.execute_batch("COMMIT").expect("release the write lock");
    let feed = wait_for("the site rendered with its new title", || {
        let body = server.get("/atom.xml", &[]).text();
        body.contains("Evening Wire").then_some(body)
    });
    assert!(!feed.contains("Test Wire"), "{feed}");
}

// ---------------------------------------------------------------------------------------------
// a change of configuration

/// Every route of the [`site`] with `feeds.page_size = 1`: feeds, pages and the 404 page hold
/// the site's title; sitemaps and robots.txt hold URLs only.
const TITLED: &[&str] = &[
    "/",
    "/page/2/",
    "/page/3/",
    "/rss.xml",
    "/atom.xml",
    "/feed.json",
    "/articles/geneva",
    "/articles/yellow-sea",
    "/articles/cocoa",
    "/tags/asia/",
    "/tags/asia/page/2/",
    "/tags/asia/rss.xml",
    "/tags/asia/atom.xml",
    "/tags/asia/feed.json",
    "/archive/2026-01/atom.xml",
    "/archive/2026-01/rss.xml",
    "/archive/2026-02/atom.xml",
    "/archive/2026-02/rss.xml",
    "/no-such-page",
];
const UNTITLED: &[&str] = &[
    "/sitemap.xml",
    "/archive/2026-01/sitemap.xml",
    "/archive/2026-02/sitemap.xml",
    "/robots.txt",
];

/// The browser views of the [`site`]'s feeds (they hold its title): the key each is stored
/// under (archives' views are rendered on request), and a feed URL that answers browsers with it.
const VIEWS: &[(&str, &str)] = &[
    ("view:/", "/atom.xml"),
    ("view:/tags/asia/", "/tags/asia/rss.xml"),
    ("view:/archive/2026-01/", "/archive/2026-01/rss.xml"),
    ("view:/archive/2026-02/", "/archive/2026-02/atom.xml"),
];

/// Starts the site's server (once it has rendered the site again, if `changed`), fetches every
/// route and every browser view; path (or view key) -> (ETag, body).
fn every_document(env: &TestEnv, changed: bool) -> BTreeMap<&'static str, (String, String)> {
    let server = if changed {
        serve_after_render(env)
    } else {
        env.serve()
    };
    let documents = TITLED.iter().chain(UNTITLED).map(|&path| {
        let r = server.get(path, &[]);
        let expected = if path == "/no-such-page" { 404 } else { 200 };
        assert_eq!(r.status, expected, "{path}");
        (path, r)
    });
    let views = VIEWS.iter().map(|&(key, path)| {
        let r = server.get(path, &[("Accept", BROWSER_ACCEPT)]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.expect_header("content-type"), "text/html; charset=utf-8");
        (key, r)
    });
    documents
        .chain(views)
        .map(|(key, r)| {
            // A 404 carries no validator: its bytes stand in for one.
            let tag = match r.header("etag") {
                Some(etag) => etag.to_string(),
                None => {
                    use sha2::Digest;
                    format!("{:x}", sha2::Sha256::digest(&r.body))
                }
            };
            (key, (tag, r.text()))
        })
        .collect()
}

/// Paths of the stored documents answered with 200 (they must all be in the lists above).
fn stored_paths(env: &TestEnv) -> Vec<String> {
    let db = rusqlite::Connection::open(env.db_path()).expect("open the database");
    let mut select = db
        .prepare("SELECT path FROM documents WHERE status = 200 ORDER BY path")
        .expect("select documents");
    let paths = select
        .query_map([], |row| row.get(0))
        .expect("query documents");
    paths.collect::<rusqlite::Result<_>>().expect("paths")
}

/// README, "How it works": upgrading feedsvc re-renders the whole site once, bodies included.
/// A body stored by a version whose sanitizer kept `rel` on a link it had emptied (the Nu HTML
/// Checker refuses `<a rel>` without `href`) is rendered again from its Markdown at the next
/// start, in the articles table and on the page.
#[test]
fn an_upgrade_re_renders_stored_bodies() {
    let env = TestEnv::new();
    env.add_article(
        "Links",
        "links",
        "2026-01-10",
        "[click](javascript:alert(1)) and [ok](https://example.org/)",
    );
    let fixed =
        "<p><a>click</a> and <a href=\"https://example.org/\" rel=\"noopener\">ok</a></p>\n";
    let body = |db: &rusqlite::Connection| -> String {
        db.query_row("SELECT body_html FROM articles", [], |row| row.get(0))
            .expect("body_html")
    };
    let db = rusqlite::Connection::open(env.db_path()).expect("open the database");
    assert_eq!(body(&db), fixed);
    // What an older version left behind: its bodies and its fingerprint.
    db.execute(
        "UPDATE articles SET body_html = ?1",
        [fixed.replace("<a>click", "<a rel=\"noopener\">click")],
    )
    .expect("store an old body");
    db.execute(
        "UPDATE meta SET value = 'an older feedsvc' WHERE key = 'site_fingerprint'",
        [],
    )
    .expect("store an old fingerprint");
    drop(db);

    let server = serve_after_render(&env);
    let page = server.get("/articles/links", &[]).text();
    assert!(page.contains(fixed.trim_end()), "{page}");
    let db = rusqlite::Connection::open(env.db_path()).expect("open the database");
    assert_eq!(body(&db), fixed);
}

/// README, "How it works": changing the configuration re-renders the whole site at the next
/// server start. A new `site.title` is in every feed and page, a new `site.base_url` in every
/// link, and their ETags change; a restart without a change keeps every ETag and byte.
#[test]
fn a_changed_title_or_base_url_re_renders_every_document() {
    let env = site(&[("feeds", "page_size = 1")]);
    let before = every_document(&env, false);
    for path in stored_paths(&env) {
        let path = path.as_str();
        assert!(
            TITLED.contains(&path)
                || UNTITLED.contains(&path)
                || VIEWS.iter().any(|(key, _)| *key == path),
            "{path} is stored but not checked here"
        );
    }
    assert_eq!(
        every_document(&env, false),
        before,
        "a restart without a change"
    );

    env.replace_setting("title = \"Test Wire\"", "title = \"Evening Wire\"");
    let retitled = every_document(&env, true);
    for path in TITLED.iter().chain(VIEWS.iter().map(|(key, _)| key)) {
        let (etag, body) = &retitled[path];
        assert!(body.contains("Evening Wire"), "{path}: no new title");
        assert!(!body.contains("Test Wire"), "{path}: the old title is left");
        assert_ne!(etag, &before[path].0, "{path}: new bytes, same ETag");
    }
    for path in UNTITLED {
        assert_eq!(retitled[path], before[path], "{path} holds no title");
    }

    env.replace_setting(
        "base_url = \"http://wire.test/\"",
        "base_url = \"https://news.test/\"",
    );
    let moved = every_document(&env, true);
    for (path, (etag, body)) in &moved {
        assert!(body.contains("https://news.test/"), "{path}: no new URL");
        assert!(
            !body.contains("http://wire.test/"),
            "{path}: an old URL is left"
        );
        assert_ne!(etag, &retitled[path].0, "{path}: new bytes, same ETag");
    }
    // Entry ids were minted at insert, from the host of that day, and never change.
    let ids = |feed: &str| -> Vec<String> {
        parse_feed(feed.as_bytes())
            .entries
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(ids(&moved["/atom.xml"].1), ids(&before["/atom.xml"].1));
}
