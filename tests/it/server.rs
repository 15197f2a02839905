//! `feedsvc serve` held to what the README promises of it (Configuration, HTTP, How it works),
//! one promise at a time, on the real binary. Tests wait on the condition itself, up to
//! [`CEILING`], and bound a time from below only where the behaviour is a lower bound.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::support::{article, attribute_values, parse_feed, Response, Server, TestEnv, BIN};

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

/// Rewrites one line of the site's `config.toml`; for the keys the harness writes itself
/// (`log`, `samples`, `title`, `base_url`), which a second line would duplicate.
#[track_caller]
fn replace_setting(env: &TestEnv, old: &str, new: &str) {
    let text = std::fs::read_to_string(env.config_path()).expect("read config.toml");
    assert!(text.contains(old), "config.toml has no {old:?}:\n{text}");
    env.write_config(&text.replacen(old, new, 1));
}

/// Polls `probe` until it returns something; fails after [`CEILING`].
#[track_caller]
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + CEILING;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not after {CEILING:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
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
    replace_setting(env, "samples = \"\"", "samples = \"samples\"");
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
    replace_setting(&env, "log = \"warn\"", "log = \"info\"");
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

    replace_setting(&env, "log = \"info\"", "log = \"warn\"");
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
    replace_setting(
        &env,
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
    replace_setting(&env, "log = \"warn\"", "log = \"info\"");
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
    attribute_values(text, "href")
        .into_iter()
        .find(|href| href.starts_with("/assets/") && href.ends_with(ext))
        .unwrap_or_else(|| panic!("no /assets/…{ext} link in {text}"))
}

/// Feeds are `public, max-age=<feed_max_age>, stale-while-revalidate=<twice that>`; pages
/// `public, max-age=<page_max_age>, stale-while-revalidate=<five times that, at least 300>`.
fn freshness(feed_max_age: u32, page_max_age: u32) -> (String, String) {
    (
        format!(
            "public, max-age={feed_max_age}, stale-while-revalidate={}",
            feed_max_age * 2
        ),
        format!(
            "public, max-age={page_max_age}, stale-while-revalidate={}",
            page_max_age.max(60) * 5
        ),
    )
}

/// README, "HTTP": the exact `Cache-Control` of every kind of answer, and of its 304.
#[test]
fn cache_control_is_exact_for_every_kind_of_answer_and_its_304() {
    const IMMUTABLE: &str = "public, max-age=31536000, immutable";
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
    let xsl = asset_link(&server.get("/atom.xml", &[]).text(), ".xsl");
    let cases: &[(&str, u16, &str)] = &[
        ("/atom.xml", 200, &feed),
        ("/rss.xml", 200, &feed),
        ("/feed.json", 200, &feed),
        ("/tags/asia/atom.xml", 200, &feed),
        ("/archive/2026-01/rss.xml", 200, &feed),
        ("/", 200, &page),
        ("/articles/geneva", 200, &page),
        ("/tags/asia/", 200, &page),
        (&style, 200, IMMUTABLE),
        (&xsl, 200, IMMUTABLE),
        ("/articles/yellow-sea", 301, "public, max-age=3600"),
        ("/no-such-page", 404, "public, max-age=60"),
        ("/articles/cocoa", 410, "public, max-age=60"),
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
    drop(server);
    // Longer pages, shorter feeds: both stale-while-revalidate rules again.
    replace_setting(&env, "feed_max_age = 120", "feed_max_age = 45");
    replace_setting(&env, "page_max_age = 30", "page_max_age = 90");
    let server = env.serve();
    let (feed, page) = freshness(45, 90);
    assert_eq!(
        server.get("/rss.xml", &[]).expect_header("cache-control"),
        feed
    );
    assert_eq!(server.get("/", &[]).expect_header("cache-control"), page);
}

/// README, "Feeds": a browser navigating to an RSS or Atom feed gets the same bytes as
/// `application/xml`, with its own ETag; feed readers (naming the feed type, `*/*`, or no
/// Accept) get the feed type; each revalidates with its own tag; JSON Feed has no browser view.
#[test]
fn a_browser_gets_rss_and_atom_as_generic_xml_with_its_own_etag() {
    let env = site(&[]);
    let server = env.serve();
    for (path, media) in [
        ("/atom.xml", "application/atom+xml"),
        ("/rss.xml", "application/rss+xml"),
    ] {
        for encoding in ["identity", "gzip"] {
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
                "application/xml; charset=utf-8",
                "{context}"
            );
            let browser_etag = browser.expect_header("etag");
            for accept in [Some(media), Some("*/*"), None] {
                let reader = get(accept, None);
                let context = format!("{context}, Accept: {accept:?}");
                assert_eq!(
                    reader.expect_header("content-type"),
                    format!("{media}; charset=utf-8"),
                    "{context}"
                );
                assert_eq!(reader.body, browser.body, "{context}: the same bytes");
                let reader_etag = reader.expect_header("etag");
                assert_ne!(reader_etag, browser_etag, "{context}");
                let revalidated = get(accept, Some(reader_etag));
                assert_eq!(revalidated.status, 304, "{context}");
                assert_eq!(revalidated.expect_header("etag"), reader_etag, "{context}");
            }
            let revalidated = get(Some(BROWSER_ACCEPT), Some(browser_etag));
            assert_eq!(revalidated.status, 304, "{context}");
            assert_eq!(revalidated.expect_header("etag"), browser_etag, "{context}");
            for r in [&browser, &revalidated] {
                assert!(
                    r.varies_on("Accept") && r.varies_on("Accept-Encoding"),
                    "{context}: {:?}",
                    r.headers
                );
            }
        }
    }
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

/// Starts the site's server, fetches every route; path -> (ETag, body).
fn every_document(env: &TestEnv) -> BTreeMap<&'static str, (String, String)> {
    let server = env.serve();
    TITLED
        .iter()
        .chain(UNTITLED)
        .map(|&path| {
            let r = server.get(path, &[]);
            let expected = if path == "/no-such-page" { 404 } else { 200 };
            assert_eq!(r.status, expected, "{path}");
            (path, (r.expect_header("etag").to_string(), r.text()))
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

    let server = env.serve();
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
    let before = every_document(&env);
    for path in stored_paths(&env) {
        assert!(
            TITLED.contains(&path.as_str()) || UNTITLED.contains(&path.as_str()),
            "{path} is stored but not checked here"
        );
    }
    assert_eq!(every_document(&env), before, "a restart without a change");

    replace_setting(&env, "title = \"Test Wire\"", "title = \"Evening Wire\"");
    let retitled = every_document(&env);
    for path in TITLED {
        let (etag, body) = &retitled[path];
        assert!(body.contains("Evening Wire"), "{path}: no new title");
        assert!(!body.contains("Test Wire"), "{path}: the old title is left");
        assert_ne!(etag, &before[path].0, "{path}: new bytes, same ETag");
    }
    for path in UNTITLED {
        assert_eq!(retitled[path], before[path], "{path} holds no title");
    }

    replace_setting(
        &env,
        "base_url = \"http://wire.test/\"",
        "base_url = \"https://news.test/\"",
    );
    let moved = every_document(&env);
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
