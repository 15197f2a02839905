//! `feedsvc serve` held to what the README promises of it (Configuration, HTTP, How it works),
//! one promise at a time, on the real binary. Tests wait on the condition itself, up to
//! [`CEILING`], and bound a time from below only where the behaviour is a lower bound.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{parse_feed, Server, TestEnv};

/// The longest any awaited condition may take: generous, so that a busy machine slows a test
/// down instead of failing it.
const CEILING: Duration = Duration::from_secs(20);

/// A site with three articles over two months, two of them tagged Asia, with bodies long enough
/// that every feed and page is worth compressing.
fn site(settings: &[(&str, &str)]) -> TestEnv {
    let env = TestEnv::with_settings(settings);
    let body = "Diplomats met again on Tuesday to discuss the agreement. ".repeat(8);
    let files: Vec<_> = [
        (
            "Envoys reopen the Geneva channel",
            "geneva",
            "2026-01-10",
            "[\"Asia\"]",
        ),
        (
            "Shipping resumes in the Yellow Sea",
            "yellow-sea",
            "2026-01-20",
            "[\"Asia\"]",
        ),
        (
            "Cocoa farmers plant shade trees",
            "cocoa",
            "2026-02-05",
            "[]",
        ),
    ]
    .iter()
    .map(|(title, slug, day, tags)| {
        let text = format!(
            "+++\ntitle = \"{title}\"\nslug = \"{slug}\"\npublished = \"{day}T10:00:00Z\"\n\
             tags = {tags}\n+++\n\n{body}\n"
        );
        env.write_article(&format!("{slug}.md"), &text)
    })
    .collect();
    let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    env.add(&paths);
    env
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

/// Reads one response (its body framed by `Content-Length`) from a connection that stays open;
/// returns its status and body.
#[track_caller]
fn read_response(stream: &mut TcpStream) -> (u16, Vec<u8>) {
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
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| {
                value
                    .trim()
                    .parse::<usize>()
                    .expect("numeric Content-Length")
            })
        })
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
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

/// `server.max_connections`: with two connections held open, a third is not answered; once
/// one of the two closes, it is.
#[test]
fn max_connections_makes_a_further_connection_wait_until_one_closes() {
    // A header timeout far beyond the test, so the held connections stay open.
    let env = site(&[
        ("server", "max_connections = 2"),
        ("server", "header_timeout_secs = 120"),
    ]);
    let server = env.serve();
    let request = keep_alive_get("/atom.xml");
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect_and_send(&server, &request);
            assert_eq!(read_response(&mut stream).0, 200);
            stream
        })
        .collect();
    // The kernel completes the handshake and queues the connection; the server leaves it there.
    let mut third = connect_and_send(&server, &request);
    third
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("read timeout");
    match third.read(&mut [0u8; 1]) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("a third connection was answered beside two held ones: {other:?}"),
    }
    drop(held.pop());
    third.set_read_timeout(Some(CEILING)).expect("read timeout");
    let (status, body) = read_response(&mut third);
    assert_eq!(
        status, 200,
        "the waiting connection is served once one closed"
    );
    assert_eq!(parse_feed(&body).entries.len(), 3);
    // The connection still held is served too.
    held[0].write_all(&request).expect("a second request");
    assert_eq!(read_response(&mut held[0]).0, 200);
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
