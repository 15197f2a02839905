//! WebSub (issue 14): the built-in hub held to the checks of the WebSub conformance suite
//! (websub.rocks hub 100–106), discovery, retries, the safety refusals and the outbox, on the
//! real binary, with a test subscriber listening on loopback. Tests wait on the condition itself,
//! up to [`CEILING`]; a fixed wait ([`QUIET`]) is used only to show that something did not happen.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::support::{
    attribute_values, parse_feed, start_tags, toml_string, Response, Server, TestEnv,
};

/// The longest any awaited condition may take: generous, so that a busy machine slows a test
/// down instead of failing it.
const CEILING: Duration = Duration::from_secs(20);

/// How long a test waits, after the thing that would have come first has come, before it
/// concludes that a request that must not happen did not happen.
const QUIET: Duration = Duration::from_secs(2);

/// The `[websub]` line every test but the refusal of private callbacks needs: the test
/// subscriber listens on loopback.
const PRIVATE_OK: &str = "allow_private_callbacks = true";

// ---------------------------------------------------------------------------------------------
// The test subscriber
// ---------------------------------------------------------------------------------------------

/// How the subscriber answers a verification of intent (`GET callback?hub.mode=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// 200 with the challenge as the whole body: the intent is confirmed.
    Echo,
    /// 200 with a body that is not the challenge.
    Other,
    /// 404 with the challenge as the body (the body is right, the status is not).
    NotFound,
    /// Reads the request and never answers.
    Hang,
}

/// How the subscriber answers one content delivery (`POST callback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// This status, with an empty body.
    Status(u16),
    /// This status with `Location: /elsewhere` (a redirect the hub must not follow).
    Redirect(u16),
    /// Reads the request and never answers (the connection stays open until the hub closes it).
    Hold,
}

/// One request the subscriber received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    /// The request target as sent: `/cb?id=7&hub.mode=…`.
    target: String,
    /// The target's path: `/cb`.
    path: String,
    /// The target's query, decoded, in order.
    query: Vec<(String, String)>,
    /// Header names lowercased, in the order received.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// When its head and body had been read.
    at: Instant,
}

impl Received {
    /// Every value of query parameter `name`.
    fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of query parameter `name`, which must be present once.
    #[track_caller]
    fn param(&self, name: &str) -> &str {
        match self.params(name)[..] {
            [value] => value,
            ref other => panic!("{name} is {other:?} in {}", self.target),
        }
    }

    /// The first value of a header (name in any case).
    fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the subscriber does, changeable while it runs.
#[derive(Debug)]
struct Script {
    verify: Verify,
    /// Answers to the next deliveries, in order; [`Script::then`] once they are used up.
    answers: VecDeque<Answer>,
    then: Answer,
}

#[derive(Debug)]
struct Shared {
    script: Mutex<Script>,
    received: Mutex<Vec<Received>>,
    stop: AtomicBool,
}

/// An HTTP/1.1 subscriber on `127.0.0.1:PORT` in background threads, one per connection: it
/// records every request and answers as its [`Script`] says (`Connection: close` always).
struct Subscriber {
    port: u16,
    shared: Arc<Shared>,
}

impl Subscriber {
    /// A subscriber answering verifications as `verify` says and deliveries with `answers`,
    /// then 200 to every later one.
    fn start(verify: Verify, answers: &[Answer]) -> Subscriber {
        Subscriber::scripted(verify, answers, Answer::Status(200))
    }

    /// A subscriber that confirms every intent and accepts every delivery.
    fn echoing() -> Subscriber {
        Subscriber::start(Verify::Echo, &[])
    }

    fn scripted(verify: Verify, answers: &[Answer], then: Answer) -> Subscriber {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test subscriber");
        let port = listener.local_addr().expect("subscriber address").port();
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                verify,
                answers: answers.iter().copied().collect(),
                then,
            }),
            received: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accepting);
                std::thread::spawn(move || answer_connection(stream, &shared));
            }
        });
        Subscriber { port, shared }
    }

    /// A callback URL on this subscriber with a query of its own: `http://127.0.0.1:PORT/cb?id=ID`.
    fn callback(&self, id: &str) -> String {
        format!("http://127.0.0.1:{}/cb?id={id}", self.port)
    }

    /// What `feedsvc subscriptions --json` calls this subscriber: `127.0.0.1:PORT`.
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn set_verify(&self, verify: Verify) {
        lock(&self.shared.script).verify = verify;
    }

    /// Every request received so far, in order.
    fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// The verifications of intent (GET) received so far.
    fn verifications(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == "GET")
            .collect()
    }

    /// The content deliveries (POST) received so far.
    fn deliveries(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    /// Waits until at least `count` verifications have arrived; returns them all.
    #[track_caller]
    fn wait_verifications(&self, count: usize) -> Vec<Received> {
        wait_for(
            &format!("{count} verification(s) at {}", self.host()),
            || {
                let got = self.verifications();
                (got.len() >= count).then_some(got)
            },
        )
    }

    /// Waits until at least `count` deliveries have arrived; returns them all.
    #[track_caller]
    fn wait_deliveries(&self, count: usize) -> Vec<Received> {
        wait_for(&format!("{count} delivery(ies) at {}", self.host()), || {
            let got = self.deliveries();
            (got.len() >= count).then_some(got)
        })
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads one request from `stream`, records it, and answers it as the script says.
fn answer_connection(mut stream: TcpStream, shared: &Shared) {
    // Short reads, so that a held connection notices when the subscriber is dropped.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let Some(request) = read_request(&mut stream, shared) else {
        return;
    };
    let reply: Option<(u16, Vec<u8>, &str)> = {
        let mut script = lock(&shared.script);
        match request.method.as_str() {
            "GET" => {
                let challenge = request
                    .query
                    .iter()
                    .find(|(n, _)| n == "hub.challenge")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                match script.verify {
                    Verify::Echo => Some((200, challenge.into_bytes(), "")),
                    Verify::Other => Some((200, format!("not {challenge}").into_bytes(), "")),
                    Verify::NotFound => Some((404, challenge.into_bytes(), "")),
                    Verify::Hang => None,
                }
            }
            "POST" => {
                let then = script.then;
                match script.answers.pop_front().unwrap_or(then) {
                    Answer::Status(status) => Some((status, Vec::new(), "")),
                    Answer::Redirect(status) => {
                        Some((status, Vec::new(), "Location: /elsewhere\r\n"))
                    }
                    Answer::Hold => None,
                }
            }
            _ => Some((405, Vec::new(), "Allow: GET, POST\r\n")),
        }
    };
    // Recorded before the answer: whatever the hub does after the answer, the test has seen
    // the request by then.
    lock(&shared.received).push(request);
    match reply {
        Some((status, body, extra)) => {
            let head = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                 {extra}Connection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.shutdown(Shutdown::Write);
            // Drain what the hub may still send, so that closing does not reset the answer.
            let mut sink = [0u8; 1024];
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                match stream.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if is_timeout(&e) => {}
                    Err(_) => break,
                }
            }
        }
        None => {
            // Never answer: wait until the hub gives up (closes) or the test ends.
            let mut sink = [0u8; 1024];
            while !shared.stop.load(Ordering::SeqCst) {
                match stream.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if is_timeout(&e) => {}
                    Err(_) => break,
                }
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads one HTTP/1.1 request (body framed by `Content-Length` or chunked); `None` when the
/// peer closes first, sends garbage, or the subscriber is dropped.
fn read_request(stream: &mut TcpStream, shared: &Shared) -> Option<Received> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    let mut read_more = |raw: &mut Vec<u8>| -> Option<()> {
        loop {
            if shared.stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                return None;
            }
            match stream.read(&mut buffer) {
                Ok(0) => return None,
                Ok(n) => {
                    raw.extend_from_slice(&buffer[..n]);
                    return Some(());
                }
                Err(e) if is_timeout(&e) => {}
                Err(_) => return None,
            }
        }
    };
    let head_end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        read_more(&mut raw)?;
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body_start = head_end + 4;
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            if let Some(body) = dechunk(&raw[body_start..]) {
                break body;
            }
            read_more(&mut raw)?;
        }
    } else {
        let length: usize = header("content-length")
            .map(|v| v.parse().ok())
            .unwrap_or(Some(0))?;
        while raw.len() < body_start + length {
            read_more(&mut raw)?;
        }
        raw[body_start..body_start + length].to_vec()
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (target.clone(), String::new()),
    };
    Some(Received {
        method,
        path,
        query: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        target,
        headers,
        body,
        at: Instant::now(),
    })
}

/// A whole chunked body, or `None` while its last chunk has not arrived.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------------
// The site, the hub endpoint and the CLI
// ---------------------------------------------------------------------------------------------

/// Polls `probe` until it returns something; fails after [`CEILING`].
#[track_caller]
fn wait_for<T>(what: &str, probe: impl FnMut() -> Option<T>) -> T {
    crate::support::wait_for(what, CEILING, probe)
}

/// A site with the `[websub]` lines given and one article, "Envoys reopen the Geneva channel",
/// tagged Asia (so that `/tags/asia/…` exists and January 2026 has an archive).
fn site(websub: &[&str]) -> TestEnv {
    let env = TestEnv::new();
    let mut config = env.config_text(&[]);
    config.push_str("\n[websub]\n");
    for line in websub {
        config.push_str(line);
        config.push('\n');
    }
    env.write_config(&config);
    publish(
        &env,
        "Envoys reopen the Geneva channel",
        "geneva",
        "2026-01-10T10:00:00Z",
        &["Asia"],
    );
    env
}

/// Writes and publishes an article with tags through `feedsvc add`.
#[track_caller]
fn publish(env: &TestEnv, title: &str, slug: &str, published: &str, tags: &[&str]) {
    let tags: Vec<String> = tags.iter().map(|t| toml_string(t)).collect();
    let text = format!(
        "+++\ntitle = {}\nslug = \"{slug}\"\npublished = \"{published}\"\ntags = [{}]\n+++\n\n\
         News of {slug}.\n",
        toml_string(title),
        tags.join(", ")
    );
    let path = env.write_article(&format!("{slug}.md"), &text);
    env.add(&[&path]);
}

/// The absolute URL of a path of the site: `http://wire.test/atom.xml`.
fn site_url(env: &TestEnv, path: &str) -> String {
    format!("{}{}", env.base, path.trim_start_matches('/'))
}

/// The built-in hub's URL.
fn hub_url(env: &TestEnv) -> String {
    site_url(env, "websub")
}

/// One request with a body on a fresh connection (`Connection: close`, `Content-Length` set).
fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(&server.addr).expect("connect to feedsvc serve");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.addr,
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send the head");
    // A server may refuse a large body from its head alone and close: the body is then not
    // sent, so that unread bytes cannot turn the close into a reset that loses the answer.
    let answered_early = body.len() > 8192 && {
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("read timeout");
        let mut first = [0u8; 1];
        matches!(stream.peek(&mut first), Ok(1))
    };
    if !answered_early {
        let _ = stream.write_all(body);
    }
    stream
        .set_read_timeout(Some(CEILING))
        .expect("read timeout");
    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            // A reset after the whole answer (a body left unread): the answer is what counts.
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => panic!("reading the answer to {method} {path}: {e}"),
        }
    }
    Response::from_raw(&raw, method == "HEAD")
}

/// `POST /websub` with these form parameters, form-encoded.
fn post_hub(server: &Server, params: &[(&str, &str)]) -> Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    send(
        server,
        "POST",
        "/websub",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

/// Asks the hub to subscribe `callback` to `topic`, with `extra` parameters; returns the answer.
fn subscribe(server: &Server, topic: &str, callback: &str, extra: &[(&str, &str)]) -> Response {
    let mut params = vec![
        ("hub.mode", "subscribe"),
        ("hub.topic", topic),
        ("hub.callback", callback),
    ];
    params.extend_from_slice(extra);
    post_hub(server, &params)
}

/// Subscribes `callback` (on `subscriber`, which must confirm) to `topic`: asserts the 202,
/// waits for the verification and until `feedsvc subscriptions` lists the subscription;
/// returns the verification request.
#[track_caller]
fn subscribe_and_wait(
    env: &TestEnv,
    server: &Server,
    subscriber: &Subscriber,
    topic: &str,
    callback: &str,
    extra: &[(&str, &str)],
) -> Received {
    let before = subscriber.verifications().len();
    let was_listed = listed(env, topic, &subscriber.host()).len();
    let answer = subscribe(server, topic, callback, extra);
    assert_eq!(answer.status, 202, "subscribe: {}", answer.text());
    let verification = subscriber.wait_verifications(before + 1)[before].clone();
    wait_for("the subscription is listed", || {
        (listed(env, topic, &subscriber.host()).len() > was_listed).then_some(())
    });
    verification
}

/// `feedsvc subscriptions --json`, parsed.
#[track_caller]
fn subscriptions(env: &TestEnv) -> Vec<serde_json::Value> {
    let out = env.run(&["subscriptions", "--json"]).success().stdout;
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("subscriptions --json is not a JSON array ({e}): {out}"))
}

/// The listed subscriptions to `topic` of callbacks on `host`.
#[track_caller]
fn listed(env: &TestEnv, topic: &str, host: &str) -> Vec<serde_json::Value> {
    subscriptions(env)
        .into_iter()
        .filter(|s| s["topic"] == topic && s["callback_host"] == host)
        .collect()
}

/// The `(rel, url)` pairs of every `Link` header: `<url>; rel="hub", <url>; rel="self"`.
fn links<'a>(headers: impl IntoIterator<Item = &'a (String, String)>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (_, value) in headers.into_iter().filter(|(n, _)| n == "link") {
        for link in value.split(',') {
            let Some((target, params)) = link.trim().split_once('>') else {
                continue;
            };
            let url = target.trim().trim_start_matches('<').to_string();
            for param in params.split(';') {
                if let Some((name, rels)) = param.trim().split_once('=') {
                    if name.trim().eq_ignore_ascii_case("rel") {
                        for rel in rels.trim().trim_matches('"').split_whitespace() {
                            found.push((rel.to_ascii_lowercase(), url.clone()));
                        }
                    }
                }
            }
        }
    }
    found
}

/// The URLs a `Link` header gives for `rel`.
fn link_urls(headers: &[(String, String)], rel: &str) -> Vec<String> {
    links(headers)
        .into_iter()
        .filter(|(r, _)| r == rel)
        .map(|(_, url)| url)
        .collect()
}

/// The `href` of every link element (`<link …>` or `<atom:link …>`) with `rel` in an XML feed.
fn xml_links(xml: &str, element: &str, rel: &str) -> Vec<String> {
    start_tags(xml, element)
        .into_iter()
        .filter(|tag| attribute_values(tag, "rel") == [rel])
        .flat_map(|tag| attribute_values(tag, "href"))
        .collect()
}

/// The titles of a feed's entries, as a reader shows them.
fn entry_titles(body: &[u8]) -> Vec<String> {
    parse_feed(body)
        .entries
        .iter()
        .filter_map(|e| e.title.as_ref().map(|t| t.content.clone()))
        .collect()
}

/// HMAC-SHA256 (RFC 2104) built from `sha2`, independently of the server's code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    const BLOCK: usize = 64;
    let mut padded = [0u8; BLOCK];
    if key.len() > BLOCK {
        padded[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        padded[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = padded.iter().map(|b| b ^ 0x36).collect();
    let outer_pad: Vec<u8> = padded.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts that `delivery` is the feed at `path` as the server serves it now, with its
/// content type and the hub's `Link` header.
#[track_caller]
fn assert_delivers_feed(env: &TestEnv, server: &Server, delivery: &Received, path: &str) {
    assert_eq!(delivery.method, "POST");
    let served = server.get(path, &[("Accept-Encoding", "identity")]);
    assert_eq!(served.status, 200, "{path}");
    assert_eq!(
        delivery.header("content-type"),
        Some(served.expect_header("content-type")),
        "the delivery of {path} has the feed's content type"
    );
    assert_eq!(
        delivery.header("content-encoding"),
        None,
        "deliveries are uncompressed"
    );
    assert!(
        delivery.body == served.body,
        "the delivery of {path} is not the feed served now:\n{}\n---\n{}",
        String::from_utf8_lossy(&delivery.body),
        served.text()
    );
    assert_eq!(
        link_urls(&delivery.headers, "hub"),
        [hub_url(env)],
        "{:?}",
        delivery.headers
    );
    assert_eq!(
        link_urls(&delivery.headers, "self"),
        [site_url(env, path)],
        "{:?}",
        delivery.headers
    );
}

/// The lease a listed subscription has left, in seconds from now.
#[track_caller]
fn lease_left(subscription: &serde_json::Value) -> i64 {
    let text = subscription["lease_expires"]
        .as_str()
        .unwrap_or_else(|| panic!("no lease_expires in {subscription}"));
    let expires = chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("lease_expires {text:?} is not RFC 3339: {e}"));
    assert_eq!(
        expires.offset().local_minus_utc(),
        0,
        "lease_expires {text:?} is not UTC"
    );
    (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds()
}

// ---------------------------------------------------------------------------------------------
// websub.rocks hub 100–106
// ---------------------------------------------------------------------------------------------

/// Hub 100: a subscription is verified (mode, topic, challenge and lease appended to the
/// callback's own query), listed by `feedsvc subscriptions`, and each new version of the feed
/// is delivered once, whole, with its content type and `Link` header, and unsigned.
#[test]
fn hub_100_a_verified_subscription_gets_each_new_version_unsigned() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    let callback = subscriber.callback("7");

    let answer = subscribe(&server, &topic, &callback, &[]);
    assert_eq!(answer.status, 202, "{}", answer.text());
    let verification = subscriber.wait_verifications(1)[0].clone();
    assert_eq!(verification.path, "/cb");
    assert!(
        verification.target.starts_with("/cb?id=7&"),
        "the callback's own query is kept first: {}",
        verification.target
    );
    assert_eq!(verification.param("id"), "7");
    assert_eq!(verification.param("hub.mode"), "subscribe");
    assert_eq!(verification.param("hub.topic"), topic);
    assert!(
        verification.param("hub.challenge").len() >= 8,
        "a random challenge: {}",
        verification.target
    );
    assert_eq!(
        verification.param("hub.lease_seconds"),
        "864000",
        "the default lease when none is asked for"
    );

    wait_for("the subscription is listed", || {
        (listed(&env, &topic, &subscriber.host()).len() == 1).then_some(())
    });
    let entry = &listed(&env, &topic, &subscriber.host())[0];
    let left = lease_left(entry);
    assert!(
        (864000 - 600..=864000 + 60).contains(&left),
        "a lease of 10 days, {left} s left: {entry}"
    );
    assert_eq!(entry["failures"], 0, "{entry}");
    let text = env.run(&["subscriptions"]).success().stdout;
    assert!(
        text.contains(&topic) && text.contains(&subscriber.host()),
        "subscriptions lists the topic and the callback host:\n{text}"
    );
    assert!(
        subscriber.deliveries().is_empty(),
        "nothing is delivered before a publish"
    );

    publish(
        &env,
        "Shipping resumes in the Yellow Sea",
        "yellow-sea",
        "2026-02-20T10:00:00Z",
        &[],
    );
    let delivery = subscriber.wait_deliveries(1)[0].clone();
    assert_eq!(delivery.target, "/cb?id=7", "deliveries go to the callback");
    assert_eq!(
        delivery.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    assert_delivers_feed(&env, &server, &delivery, "/atom.xml");
    let titles = entry_titles(&delivery.body);
    assert!(
        titles.contains(&"Shipping resumes in the Yellow Sea".to_string()),
        "the delivery holds the new entry: {titles:?}"
    );
    assert_eq!(
        delivery.header("x-hub-signature"),
        None,
        "no signature without a secret"
    );
    std::thread::sleep(QUIET);
    assert_eq!(
        subscriber.deliveries().len(),
        1,
        "one publish, one delivery"
    );
    // The hub records the answer after the subscriber has it: wait for the record.
    let entry = wait_for("the delivery's answer is listed", || {
        let entry = listed(&env, &topic, &subscriber.host()).pop()?;
        (entry["last_status"] == 200).then_some(entry)
    });
    assert_eq!(entry["pending"], false, "{entry}");
    assert!(entry["last_delivery"].is_string(), "{entry}");
}

/// Hub 101: with `hub.secret`, each delivery carries `X-Hub-Signature: sha256=<hex>`, the
/// HMAC-SHA256 of the body under the secret.
#[test]
fn hub_101_a_secret_signs_each_delivery_with_hmac_sha256() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    let secret = "correct horse battery staple";
    subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &subscriber.callback("signed"),
        &[("hub.secret", secret)],
    );

    publish(
        &env,
        "Cocoa farmers plant shade trees",
        "cocoa",
        "2026-02-05T10:00:00Z",
        &[],
    );
    let delivery = subscriber.wait_deliveries(1)[0].clone();
    assert_delivers_feed(&env, &server, &delivery, "/atom.xml");
    let expected = format!(
        "sha256={}",
        hex(&hmac_sha256(secret.as_bytes(), &delivery.body))
    );
    assert_eq!(
        delivery.header("x-hub-signature"),
        Some(expected.as_str()),
        "the signature of the body"
    );
    assert!(entry_titles(&delivery.body).contains(&"Cocoa farmers plant shade trees".to_string()));
}

/// The test's HMAC is right: RFC 4231 test cases 2 (short key) and 6 (a key longer than a block).
#[test]
fn the_tests_hmac_sha256_matches_rfc_4231() {
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hex(&hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

/// The test subscriber itself: it echoes a challenge (decoded), answers deliveries as scripted,
/// and records bodies framed either way.
#[test]
fn the_test_subscriber_echoes_challenges_and_answers_as_scripted() {
    let subscriber = Subscriber::start(Verify::Echo, &[Answer::Status(500)]);
    let exchange = |request: &[u8]| -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", subscriber.port)).expect("connect");
        stream.write_all(request).expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer
    };
    let answer = exchange(b"GET /cb?id=7&hub.challenge=a%2Bb%20c HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.ends_with("\r\n\r\na+b c"), "{answer}");
    let answer = exchange(
        b"POST /cb?id=7 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 500 "), "{answer}");
    let answer = exchange(b"POST /cb HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    let verifications = subscriber.verifications();
    assert_eq!(verifications.len(), 1);
    assert_eq!(verifications[0].param("id"), "7");
    assert_eq!(verifications[0].param("hub.challenge"), "a+b c");
    let bodies: Vec<Vec<u8>> = subscriber
        .deliveries()
        .into_iter()
        .map(|d| d.body)
        .collect();
    assert_eq!(bodies, [b"abcde".to_vec(), b"xyz".to_vec()]);
}

/// Hub 102: parameters the hub does not know are ignored; the subscription works.
#[test]
fn hub_102_unknown_parameters_are_ignored() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "rss.xml");
    let verification = subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &subscriber.callback("extra"),
        &[
            ("hub.foo", "bar"),
            ("utm_source", "reader"),
            ("hub.verify", "sync"),
            ("", "nameless"),
        ],
    );
    assert_eq!(verification.param("hub.mode"), "subscribe");
    publish(
        &env,
        "Harvest in the delta",
        "harvest",
        "2026-02-01T10:00:00Z",
        &[],
    );
    let delivery = subscriber.wait_deliveries(1)[0].clone();
    assert_delivers_feed(&env, &server, &delivery, "/rss.xml");
    assert_eq!(
        delivery.header("content-type"),
        Some("application/rss+xml; charset=utf-8")
    );
    assert!(entry_titles(&delivery.body).contains(&"Harvest in the delta".to_string()));
}

/// Hub 103: subscribing again before the lease ends renews it (new lease, new secret) and
/// leaves one subscription: a publish is delivered once, signed with the new secret.
#[test]
fn hub_103_a_re_subscription_renews_the_lease_without_doubling_deliveries() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    let callback = subscriber.callback("again");

    let first = subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &callback,
        &[("hub.lease_seconds", "7200")],
    );
    assert_eq!(first.param("hub.lease_seconds"), "7200");
    let entries = listed(&env, &topic, &subscriber.host());
    assert_eq!(entries.len(), 1, "{entries:?}");
    let left = lease_left(&entries[0]);
    assert!((7200 - 600..=7200 + 60).contains(&left), "{left} s left");

    let answer = subscribe(
        &server,
        &topic,
        &callback,
        &[("hub.lease_seconds", "86400"), ("hub.secret", "renewed")],
    );
    assert_eq!(answer.status, 202, "{}", answer.text());
    let second = subscriber.wait_verifications(2)[1].clone();
    assert_eq!(second.param("hub.mode"), "subscribe");
    assert_eq!(second.param("hub.lease_seconds"), "86400");
    let entries = wait_for("the renewed lease is listed", || {
        let entries = listed(&env, &topic, &subscriber.host());
        (entries.len() != 1 || lease_left(&entries[0]) > 7200 + 60).then_some(entries)
    });
    assert_eq!(
        entries.len(),
        1,
        "one subscription per topic and callback: {entries:?}"
    );
    let left = lease_left(&entries[0]);
    assert!((86400 - 600..=86400 + 60).contains(&left), "{left} s left");

    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    let delivery = subscriber.wait_deliveries(1)[0].clone();
    assert_delivers_feed(&env, &server, &delivery, "/atom.xml");
    let expected = format!("sha256={}", hex(&hmac_sha256(b"renewed", &delivery.body)));
    assert_eq!(
        delivery.header("x-hub-signature"),
        Some(expected.as_str()),
        "signed with the secret of the renewal"
    );
    std::thread::sleep(QUIET);
    assert_eq!(
        subscriber.deliveries().len(),
        1,
        "a renewed subscription is delivered once"
    );
}

/// A re-subscription replaces the old one only once verified: when the renewal's verification
/// fails, the old subscription (lease, no secret) stays and is still delivered.
#[test]
fn a_re_subscription_that_fails_verification_keeps_the_old_subscription() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    let callback = subscriber.callback("kept");
    subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &callback,
        &[("hub.lease_seconds", "7200")],
    );

    subscriber.set_verify(Verify::Other);
    let answer = subscribe(
        &server,
        &topic,
        &callback,
        &[("hub.lease_seconds", "86400"), ("hub.secret", "never")],
    );
    assert_eq!(answer.status, 202, "{}", answer.text());
    subscriber.wait_verifications(2);
    std::thread::sleep(QUIET);
    let entries = listed(&env, &topic, &subscriber.host());
    assert_eq!(entries.len(), 1, "{entries:?}");
    let left = lease_left(&entries[0]);
    assert!(
        (7200 - 600..=7200 + 60).contains(&left),
        "the old lease stays: {left} s left"
    );

    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    let delivery = subscriber.wait_deliveries(1)[0].clone();
    assert_delivers_feed(&env, &server, &delivery, "/atom.xml");
    assert_eq!(
        delivery.header("x-hub-signature"),
        None,
        "the unverified secret is not used"
    );
}

/// Asked-for leases are clamped to [3600, 2592000]; the verification says the lease granted.
#[test]
fn asked_leases_are_clamped_between_an_hour_and_thirty_days() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    let short = subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &subscriber.callback("short"),
        &[("hub.lease_seconds", "5")],
    );
    assert_eq!(short.param("hub.lease_seconds"), "3600");
    let long = subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &site_url(&env, "rss.xml"),
        &subscriber.callback("long"),
        &[("hub.lease_seconds", "999999999")],
    );
    assert_eq!(long.param("hub.lease_seconds"), "2592000");
    let left = lease_left(&listed(&env, &site_url(&env, "rss.xml"), &subscriber.host())[0]);
    assert!(
        (2592000 - 600..=2592000 + 60).contains(&left),
        "{left} s left"
    );
}

/// Hub 104: an unsubscription is verified (`hub.mode=unsubscribe`), the subscription goes, and
/// a later publish delivers nothing to it (while another subscriber still gets it).
#[test]
fn hub_104_an_unsubscription_is_verified_and_ends_deliveries() {
    let env = site(&[PRIVATE_OK]);
    let leaving = Subscriber::echoing();
    let staying = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    let callback = leaving.callback("bye");
    subscribe_and_wait(&env, &server, &leaving, &topic, &callback, &[]);
    subscribe_and_wait(&env, &server, &staying, &topic, &staying.callback("1"), &[]);

    let answer = post_hub(
        &server,
        &[
            ("hub.mode", "unsubscribe"),
            ("hub.topic", &topic),
            ("hub.callback", &callback),
        ],
    );
    assert_eq!(answer.status, 202, "{}", answer.text());
    let verification = leaving.wait_verifications(2)[1].clone();
    assert_eq!(verification.param("hub.mode"), "unsubscribe");
    assert_eq!(verification.param("hub.topic"), topic);
    assert_eq!(verification.param("id"), "bye");
    assert!(!verification.param("hub.challenge").is_empty());
    wait_for("the subscription is gone", || {
        listed(&env, &topic, &leaving.host())
            .is_empty()
            .then_some(())
    });
    assert_eq!(listed(&env, &topic, &staying.host()).len(), 1);

    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    staying.wait_deliveries(1);
    std::thread::sleep(QUIET);
    assert!(
        leaving.deliveries().is_empty(),
        "delivered after unsubscribing: {:?}",
        leaving.deliveries()
    );
}

/// Hub 106: a JSON Feed topic is delivered as `application/feed+json` with the new item.
#[test]
fn hub_106_a_json_feed_topic_is_delivered_as_json_feed() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "feed.json");
    subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &subscriber.callback("json"),
        &[],
    );
    publish(
        &env,
        "Rain returns to the Sahel",
        "sahel",
        "2026-02-12T10:00:00Z",
        &[],
    );
    let delivery = subscriber.wait_deliveries(1)[0].clone();
    assert_eq!(
        delivery.header("content-type"),
        Some("application/feed+json; charset=utf-8")
    );
    assert_delivers_feed(&env, &server, &delivery, "/feed.json");
    let json: serde_json::Value =
        serde_json::from_slice(&delivery.body).expect("the delivery is JSON");
    let titles: Vec<&str> = json["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["title"].as_str())
        .collect();
    assert!(titles.contains(&"Rain returns to the Sahel"), "{titles:?}");
}

/// Only the topics whose bytes a publish changes are delivered: an untagged article reaches the
/// site feed's subscribers, not a tag feed's; a tagged one reaches the tag feed's, as RSS.
#[test]
fn only_the_feeds_a_publish_changes_are_delivered() {
    let env = site(&[PRIVATE_OK]);
    let site_subscriber = Subscriber::echoing();
    let tag_subscriber = Subscriber::echoing();
    let server = env.serve();
    let site_topic = site_url(&env, "atom.xml");
    let tag_topic = site_url(&env, "tags/asia/rss.xml");
    subscribe_and_wait(
        &env,
        &server,
        &site_subscriber,
        &site_topic,
        &site_subscriber.callback("site"),
        &[],
    );
    subscribe_and_wait(
        &env,
        &server,
        &tag_subscriber,
        &tag_topic,
        &tag_subscriber.callback("asia"),
        &[],
    );

    publish(
        &env,
        "Untagged news",
        "untagged",
        "2026-02-01T10:00:00Z",
        &[],
    );
    site_subscriber.wait_deliveries(1);
    std::thread::sleep(QUIET);
    assert!(
        tag_subscriber.deliveries().is_empty(),
        "the tag feed did not change"
    );

    publish(
        &env,
        "Typhoon season ends",
        "typhoon",
        "2026-02-02T10:00:00Z",
        &["Asia"],
    );
    let delivery = tag_subscriber.wait_deliveries(1)[0].clone();
    assert_eq!(
        delivery.header("content-type"),
        Some("application/rss+xml; charset=utf-8")
    );
    assert_delivers_feed(&env, &server, &delivery, "/tags/asia/rss.xml");
    assert!(entry_titles(&delivery.body).contains(&"Typhoon season ends".to_string()));
    site_subscriber.wait_deliveries(2);
}

// ---------------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------------

/// Every subscription feed says where its hub is and what its own URL is: in the `Link` header
/// of its 200, 304 and HEAD answers, and inside the document. Archives are not topics.
#[test]
fn every_feed_advertises_the_hub_in_headers_and_documents() {
    let env = site(&[]);
    let server = env.serve();
    let hub = hub_url(&env);
    for path in [
        "/atom.xml",
        "/rss.xml",
        "/feed.json",
        "/tags/asia/atom.xml",
        "/tags/asia/rss.xml",
        "/tags/asia/feed.json",
    ] {
        let own = site_url(&env, path);
        let full = server.get(path, &[]);
        assert_eq!(full.status, 200, "{path}");
        let etag = full.expect_header("etag").to_string();
        let not_modified = server.get(path, &[("If-None-Match", &etag)]);
        assert_eq!(not_modified.status, 304, "{path}");
        let head = server.request("HEAD", path, &[]);
        assert_eq!(head.status, 200, "{path}");
        for (answer, kind) in [(&full, "200"), (&not_modified, "304"), (&head, "HEAD")] {
            assert_eq!(
                link_urls(&answer.headers, "hub"),
                [hub.as_str()],
                "{path} {kind}: {:?}",
                answer.headers
            );
            assert_eq!(
                link_urls(&answer.headers, "self"),
                [own.as_str()],
                "{path} {kind}: {:?}",
                answer.headers
            );
        }
        let text = String::from_utf8(full.decoded_body()).expect("UTF-8 feed");
        if path.ends_with("rss.xml") {
            assert_eq!(
                xml_links(&text, "atom:link", "hub"),
                [hub.as_str()],
                "{path}"
            );
            assert_eq!(
                xml_links(&text, "atom:link", "self"),
                [own.as_str()],
                "{path}"
            );
        } else if path.ends_with("atom.xml") {
            assert_eq!(xml_links(&text, "link", "hub"), [hub.as_str()], "{path}");
            assert_eq!(xml_links(&text, "link", "self"), [own.as_str()], "{path}");
        } else {
            let json: serde_json::Value = serde_json::from_str(&text).expect("JSON Feed");
            assert_eq!(
                json["hubs"],
                serde_json::json!([{"type": "WebSub", "url": hub}]),
                "{path}"
            );
            assert_eq!(json["feed_url"], own, "{path}");
        }
        // Still a feed every reader parses.
        parse_feed(text.as_bytes());
    }

    let archive = server.get("/archive/2026-01/atom.xml", &[]);
    assert_eq!(archive.status, 200);
    assert!(
        link_urls(&archive.headers, "hub").is_empty(),
        "an archive is not a topic: {:?}",
        archive.headers
    );
    let text = String::from_utf8(archive.decoded_body()).expect("UTF-8 archive");
    assert!(xml_links(&text, "link", "hub").is_empty(), "{text}");
}

/// `hub = ""`: no hub anywhere, and no hub endpoint.
#[test]
fn without_a_hub_nothing_is_advertised_and_websub_is_not_found() {
    let env = site(&["hub = \"\"", PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    for path in ["/atom.xml", "/rss.xml", "/feed.json", "/tags/asia/atom.xml"] {
        let answer = server.get(path, &[("Accept-Encoding", "identity")]);
        assert_eq!(answer.status, 200, "{path}");
        assert!(
            link_urls(&answer.headers, "hub").is_empty(),
            "{path}: {:?}",
            answer.headers
        );
        let text = answer.text();
        assert!(!text.contains("rel=\"hub\""), "{path}: {text}");
        if path.ends_with(".json") {
            let json: serde_json::Value = serde_json::from_str(&text).expect("JSON Feed");
            assert!(
                json.get("hubs").is_none_or(|h| h == &serde_json::json!([])),
                "{path}: {json}"
            );
        }
    }
    let answer = subscribe(
        &server,
        &site_url(&env, "atom.xml"),
        &subscriber.callback("1"),
        &[],
    );
    assert_eq!(answer.status, 404, "{}", answer.text());
    std::thread::sleep(QUIET);
    assert!(subscriber.received().is_empty());
}

/// `hub = "<URL>"`: the feeds name that hub, in headers and documents, and the built-in
/// endpoint is not there. The hub is only advertised here: the pings the site's publish queued
/// are removed before the server starts, so nothing is ever sent off this machine.
#[test]
fn an_external_hub_is_advertised_instead_of_the_built_in_one() {
    let external = "https://hub.example.org/";
    let env = site(&[&format!("hub = \"{external}\"")]);
    let queued = |sql: &str| -> i64 {
        let conn = rusqlite::Connection::open(env.db_path()).expect("open the database");
        conn.execute_batch(sql).expect("edit the outbox");
        conn.query_row("SELECT count(*) FROM hub_deliveries", [], |r| r.get(0))
            .expect("count the outbox")
    };
    assert!(
        queued("") > 0,
        "the publish queued no ping of the external hub"
    );
    assert_eq!(queued("DELETE FROM hub_deliveries;"), 0);
    let server = env.serve();
    for path in ["/atom.xml", "/rss.xml", "/feed.json", "/tags/asia/atom.xml"] {
        let answer = server.get(path, &[("Accept-Encoding", "identity")]);
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(
            link_urls(&answer.headers, "hub"),
            [external],
            "{path}: {:?}",
            answer.headers
        );
        assert_eq!(link_urls(&answer.headers, "self"), [site_url(&env, path)]);
        let text = answer.text();
        if path.ends_with("rss.xml") {
            assert_eq!(xml_links(&text, "atom:link", "hub"), [external], "{path}");
        } else if path.ends_with("atom.xml") {
            assert_eq!(xml_links(&text, "link", "hub"), [external], "{path}");
        } else {
            let json: serde_json::Value = serde_json::from_str(&text).expect("JSON Feed");
            assert_eq!(
                json["hubs"],
                serde_json::json!([{"type": "WebSub", "url": external}])
            );
        }
    }
    let answer = post_hub(
        &server,
        &[
            ("hub.mode", "subscribe"),
            ("hub.topic", &site_url(&env, "atom.xml")),
            ("hub.callback", "http://127.0.0.1:9/cb"),
        ],
    );
    assert_eq!(answer.status, 404, "{}", answer.text());
    assert_eq!(queued(""), 0, "the server queued a ping of its own");
}

// ---------------------------------------------------------------------------------------------
// Delivery outcomes
// ---------------------------------------------------------------------------------------------

/// A delivery answered 500, then with a redirect (never followed), is retried until a 2xx; then
/// nothing more is sent, and the subscription shows the success.
#[test]
fn a_failed_delivery_is_retried_until_it_succeeds() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::start(
        Verify::Echo,
        &[
            Answer::Status(500),
            Answer::Redirect(302),
            Answer::Status(200),
        ],
    );
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &subscriber.callback("retry"),
        &[],
    );
    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    let deliveries = subscriber.wait_deliveries(3);
    for delivery in &deliveries {
        assert_eq!(delivery.target, "/cb?id=retry");
        assert_delivers_feed(&env, &server, delivery, "/atom.xml");
    }
    assert!(
        deliveries[1].at - deliveries[0].at >= Duration::from_millis(500),
        "retried without backing off: {:?}",
        deliveries[1].at - deliveries[0].at
    );
    let entry = wait_for("the success is listed", || {
        let entry = listed(&env, &topic, &subscriber.host()).pop()?;
        (entry["last_status"] == 200).then_some(entry)
    });
    assert_eq!(entry["failures"], 0, "{entry}");
    assert_eq!(entry["pending"], false, "{entry}");
    std::thread::sleep(QUIET + QUIET);
    let received = subscriber.received();
    assert_eq!(
        subscriber.deliveries().len(),
        3,
        "delivered again after a 2xx"
    );
    assert!(
        received.iter().all(|r| r.path == "/cb"),
        "the hub followed a redirect: {received:?}"
    );
}

/// A 410 to a delivery ends the subscription: it is no longer listed, and gets nothing more.
#[test]
fn a_410_ends_the_subscription() {
    let env = site(&[PRIVATE_OK]);
    let gone = Subscriber::start(Verify::Echo, &[Answer::Status(410)]);
    let control = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    subscribe_and_wait(&env, &server, &gone, &topic, &gone.callback("gone"), &[]);
    subscribe_and_wait(&env, &server, &control, &topic, &control.callback("1"), &[]);
    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    gone.wait_deliveries(1);
    wait_for("the subscription is gone", || {
        listed(&env, &topic, &gone.host()).is_empty().then_some(())
    });
    assert_eq!(listed(&env, &topic, &control.host()).len(), 1);

    publish(&env, "Rain returns", "rain", "2026-02-12T10:00:00Z", &[]);
    control.wait_deliveries(2);
    std::thread::sleep(QUIET);
    assert_eq!(gone.deliveries().len(), 1, "delivered after a 410");
}

/// A callback that does not confirm the intent exactly (another body, or the challenge with a
/// 404) is never listed and never delivered to.
#[test]
fn a_callback_that_does_not_echo_the_challenge_never_becomes_active() {
    let env = site(&[PRIVATE_OK]);
    let other = Subscriber::start(Verify::Other, &[]);
    let not_found = Subscriber::start(Verify::NotFound, &[]);
    let control = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    for subscriber in [&other, &not_found] {
        let answer = subscribe(&server, &topic, &subscriber.callback("no"), &[]);
        assert_eq!(answer.status, 202, "{}", answer.text());
        subscriber.wait_verifications(1);
    }
    subscribe_and_wait(&env, &server, &control, &topic, &control.callback("1"), &[]);
    std::thread::sleep(QUIET);
    let all = subscriptions(&env);
    assert_eq!(all.len(), 1, "only the confirmed one is listed: {all:?}");

    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    control.wait_deliveries(1);
    std::thread::sleep(QUIET);
    for subscriber in [&other, &not_found] {
        assert!(
            subscriber.deliveries().is_empty(),
            "an unconfirmed callback got {:?}",
            subscriber.deliveries()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Safety and refusals
// ---------------------------------------------------------------------------------------------

/// By default a callback on a loopback or unspecified address is refused with 403 and a reason;
/// nothing is stored and the callback hears nothing.
#[test]
fn a_private_callback_is_refused_by_default() {
    let env = site(&[]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    let before = env.snapshot();
    // Every one of these names the loopback interface (0.0.0.0 reaches it on Linux): a hub that
    // wrongly accepted them would still send nothing off this machine.
    let callbacks = [
        subscriber.callback("1"),
        format!("http://localhost:{}/cb", subscriber.port),
        format!("http://[::1]:{}/cb", subscriber.port),
        format!("http://127.8.9.10:{}/cb", subscriber.port),
        format!("http://0.0.0.0:{}/cb", subscriber.port),
        format!("http://[::ffff:127.0.0.1]:{}/cb", subscriber.port),
    ];
    for callback in &callbacks {
        let answer = subscribe(&server, &topic, callback, &[]);
        assert_eq!(answer.status, 403, "{callback}: {}", answer.text());
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/plain")),
            "{callback}: {:?}",
            answer.headers
        );
        assert!(!answer.text().trim().is_empty(), "{callback}: no reason");
    }
    assert_eq!(env.snapshot(), before, "a refusal changed the database");
    std::thread::sleep(QUIET);
    assert!(
        subscriber.received().is_empty(),
        "a refused callback was contacted: {:?}",
        subscriber.received()
    );
    assert!(subscriptions(&env).is_empty());
}

/// Each bad request gets its 4xx with a plain-text reason (naming the parameter for a 400), and
/// changes nothing: no row, no verification sent.
#[test]
fn bad_subscription_requests_get_a_reason_and_change_nothing() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let control = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    let callback = subscriber.callback("bad");
    // A good subscription request with `changes` made: a value replaced or added, or (None)
    // the parameter left out.
    let good_but = |changes: &[(&str, Option<String>)]| -> Vec<(String, String)> {
        let mut params = vec![
            ("hub.mode".to_string(), "subscribe".to_string()),
            ("hub.topic".to_string(), topic.clone()),
            ("hub.callback".to_string(), callback.clone()),
        ];
        for (name, value) in changes {
            params.retain(|(n, _)| n != name);
            if let Some(value) = value {
                params.push((name.to_string(), value.clone()));
            }
        }
        params
    };
    let set = |value: &str| Some(value.to_string());
    let cases = [
        ("hub.mode", good_but(&[("hub.mode", None)])),
        ("hub.mode", good_but(&[("hub.mode", set("follow"))])),
        ("hub.topic", good_but(&[("hub.topic", None)])),
        (
            "hub.topic",
            good_but(&[("hub.topic", set("http://elsewhere.test/atom.xml"))]),
        ),
        (
            "hub.topic",
            good_but(&[(
                "hub.topic",
                Some(site_url(&env, "archive/2026-01/atom.xml")),
            )]),
        ),
        (
            "hub.topic",
            good_but(&[("hub.topic", Some(site_url(&env, "tags/nowhere/atom.xml")))]),
        ),
        (
            "hub.topic",
            good_but(&[("hub.topic", Some(site_url(&env, "articles/geneva")))]),
        ),
        ("hub.topic", good_but(&[("hub.topic", set("/atom.xml"))])),
        ("hub.callback", good_but(&[("hub.callback", None)])),
        (
            "hub.callback",
            good_but(&[(
                "hub.callback",
                Some(format!("ftp://127.0.0.1:{}/cb", subscriber.port)),
            )]),
        ),
        ("hub.callback", good_but(&[("hub.callback", set("/cb"))])),
        (
            "hub.callback",
            good_but(&[("hub.callback", Some(format!("{callback}#part")))]),
        ),
        (
            "hub.callback",
            good_but(&[(
                "hub.callback",
                Some(format!("{callback}&pad={}", "p".repeat(2000))),
            )]),
        ),
        (
            "hub.secret",
            good_but(&[("hub.secret", Some("s".repeat(200)))]),
        ),
        (
            "hub.lease_seconds",
            good_but(&[("hub.lease_seconds", set("-5"))]),
        ),
        (
            "hub.lease_seconds",
            good_but(&[("hub.lease_seconds", set("a week"))]),
        ),
    ];

    let before = env.snapshot();
    let assert_reason = |answer: &Response, what: &str, status: u16, names: &str| {
        assert_eq!(answer.status, status, "{what}: {}", answer.text());
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/plain")),
            "{what}: {:?}",
            answer.headers
        );
        let reason = answer.text();
        assert!(!reason.trim().is_empty(), "{what}: no reason");
        assert!(
            reason.contains(names),
            "{what}: the reason does not name {names}: {reason}"
        );
    };
    for (names, params) in &cases {
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let answer = post_hub(&server, &params);
        assert_reason(&answer, &format!("{params:?}"), 400, names);
    }
    let form = format!(
        "hub.mode=subscribe&hub.topic={}&hub.callback={}",
        url::form_urlencoded::byte_serialize(topic.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(callback.as_bytes()).collect::<String>()
    );
    for content_type in [
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let answer = send(
            &server,
            "POST",
            "/websub",
            &[("Content-Type", content_type)],
            form.as_bytes(),
        );
        assert_reason(&answer, content_type, 415, "");
    }
    let answer = send(&server, "POST", "/websub", &[], form.as_bytes());
    assert_reason(&answer, "no Content-Type", 415, "");
    let huge = format!("{form}&padding={}", "x".repeat(17 * 1024));
    let answer = send(
        &server,
        "POST",
        "/websub",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        huge.as_bytes(),
    );
    assert_eq!(answer.status, 413, "a body over 16 KiB");
    for method in ["GET", "PUT", "DELETE"] {
        let answer = server.request(method, "/websub", &[]);
        assert_eq!(answer.status, 405, "{method} /websub");
        assert_eq!(answer.header("allow"), Some("POST"), "{method} /websub");
    }
    assert_eq!(
        env.snapshot(),
        before,
        "a refused request changed the database"
    );

    // Verifications are sent in the background: a good request after the bad ones is verified,
    // and by then (and a while after) none of the bad ones has been.
    subscribe_and_wait(&env, &server, &control, &topic, &control.callback("1"), &[]);
    std::thread::sleep(QUIET);
    assert!(
        subscriber.received().is_empty(),
        "a refused request was verified: {:?}",
        subscriber.received()
    );
    assert_eq!(subscriptions(&env).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// The outbox, and serving beside deliveries
// ---------------------------------------------------------------------------------------------

/// An article added while the server is down (killed) is delivered when it starts again: the
/// CLI writes the work, the server does it.
#[test]
fn an_add_while_the_server_is_down_is_delivered_when_it_starts() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &subscriber.callback("later"),
        &[],
    );
    drop(server); // SIGKILL

    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    std::thread::sleep(QUIET);
    assert!(
        subscriber.deliveries().is_empty(),
        "the CLI delivered: {:?}",
        subscriber.deliveries()
    );
    let waiting = listed(&env, &topic, &subscriber.host()).pop();

    let server = env.serve();
    let delivery = subscriber.wait_deliveries(1)[0].clone();
    assert_delivers_feed(&env, &server, &delivery, "/atom.xml");
    assert!(entry_titles(&delivery.body).contains(&"Ports reopen".to_string()));
    // Checked last, so that a wrong flag does not hide whether the delivery is made.
    let waiting = waiting.expect("the subscription is listed while the server is down");
    assert_eq!(
        waiting["pending"], true,
        "subscriptions --json while the server was down: a delivery waits: {waiting}"
    );
}

/// A server killed while a subscriber holds a delivery unanswered sends it again after a
/// restart.
#[test]
fn a_delivery_cut_by_a_killed_server_is_sent_again_after_restart() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::start(Verify::Echo, &[Answer::Hold]);
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &subscriber.callback("held"),
        &[],
    );
    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    subscriber.wait_deliveries(1);
    drop(server); // SIGKILL, the delivery unanswered
    assert_eq!(
        subscriber.deliveries().len(),
        1,
        "the delivery was retried before the kill: the test proves nothing"
    );

    let server = env.serve();
    let deliveries = subscriber.wait_deliveries(2);
    assert_delivers_feed(&env, &server, &deliveries[1], "/atom.xml");
    assert!(entry_titles(&deliveries[1].body).contains(&"Ports reopen".to_string()));
    let entry = wait_for("the success is listed", || {
        let entry = listed(&env, &topic, &subscriber.host()).pop()?;
        (entry["last_status"] == 200).then_some(entry)
    });
    assert_eq!(entry["pending"], false, "{entry}");
}

/// Callbacks that accept a connection and never answer (to a delivery, to a verification) do
/// not slow serving: feeds and the hub endpoint still answer at once.
#[test]
fn a_hanging_callback_never_slows_serving() {
    let _clock = crate::support::timed();
    let env = site(&[PRIVATE_OK]);
    let hanging = Subscriber::scripted(Verify::Echo, &[], Answer::Hold);
    let silent = Subscriber::start(Verify::Hang, &[]);
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    for id in ["1", "2", "3", "4"] {
        subscribe_and_wait(&env, &server, &hanging, &topic, &hanging.callback(id), &[]);
    }
    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    hanging.wait_deliveries(1);
    let answer = subscribe(&server, &topic, &silent.callback("1"), &[]);
    assert_eq!(answer.status, 202);
    silent.wait_verifications(1);

    for round in 0..5 {
        let started = Instant::now();
        let answer = server.get("/atom.xml", &[]);
        let took = started.elapsed();
        assert_eq!(answer.status, 200, "round {round}");
        assert!(
            entry_titles(&answer.decoded_body()).contains(&"Ports reopen".to_string()),
            "round {round}"
        );
        assert!(
            took < Duration::from_secs(5),
            "GET /atom.xml took {took:?} beside hanging callbacks"
        );
        let started = Instant::now();
        let answer = subscribe(
            &server,
            &site_url(&env, "rss.xml"),
            &silent.callback(&round.to_string()),
            &[],
        );
        let took = started.elapsed();
        assert_eq!(answer.status, 202, "round {round}: {}", answer.text());
        assert!(
            took < Duration::from_secs(5),
            "POST /websub took {took:?} beside hanging callbacks"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Checked again at delivery time; the external hub
// ---------------------------------------------------------------------------------------------

/// A callback's address is checked on every connection, not only when it subscribed: a
/// subscription made while private callbacks were allowed (or a name that later resolves
/// inside the network) gets no request once they are not, and its failures are counted.
#[test]
fn a_callback_is_checked_again_at_delivery_time() {
    let env = site(&[PRIVATE_OK]);
    let subscriber = Subscriber::echoing();
    let server = env.serve();
    let topic = site_url(&env, "atom.xml");
    subscribe_and_wait(
        &env,
        &server,
        &subscriber,
        &topic,
        &subscriber.callback("rebound"),
        &[],
    );
    drop(server);
    let mut config = env.config_text(&[]);
    config.push_str("\n[websub]\nallow_private_callbacks = false\n");
    env.write_config(&config);
    publish(&env, "Ports reopen", "ports", "2026-02-11T10:00:00Z", &[]);
    let _server = env.serve();
    let failed = wait_for("the refused delivery is recorded", || {
        listed(&env, &topic, &subscriber.host())
            .pop()
            .filter(|s| s["failures"].as_i64().unwrap_or(0) >= 1)
    });
    assert_eq!(
        failed["last_status"], 0,
        "no answer, since no request: {failed}"
    );
    assert_eq!(failed["pending"], true, "it will be tried again: {failed}");
    std::thread::sleep(QUIET);
    assert!(
        subscriber.deliveries().is_empty(),
        "a delivery reached a loopback callback with private callbacks refused"
    );
}

/// `hub = "<URL>"`: after each publish that changes a feed, the server tells that hub, with
/// `hub.mode=publish` and the feed's URL as both `hub.url` and `hub.topic`.
#[test]
fn an_external_hub_is_pinged_for_each_changed_feed() {
    let hub = Subscriber::echoing();
    let hub_url = format!("http://127.0.0.1:{}/hub", hub.port);
    let env = site(&[&format!("hub = \"{hub_url}\"")]);
    let _server = env.serve();
    let pinged = |received: &[Received]| -> Vec<String> {
        received
            .iter()
            .map(|r| {
                assert_eq!(r.path, "/hub");
                assert_eq!(
                    r.header("content-type"),
                    Some("application/x-www-form-urlencoded")
                );
                let form: Vec<(String, String)> =
                    url::form_urlencoded::parse(&r.body).into_owned().collect();
                let value = |name: &str| {
                    form.iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                assert_eq!(value("hub.mode"), "publish", "{form:?}");
                assert_eq!(value("hub.url"), value("hub.topic"), "{form:?}");
                value("hub.url")
            })
            .collect()
    };
    // The site's first publish queued a ping of each of its feeds.
    let first = pinged(&hub.wait_deliveries(6));
    for path in ["atom.xml", "rss.xml", "feed.json"] {
        assert!(first.contains(&site_url(&env, path)), "{path}: {first:?}");
    }
    let before = hub.deliveries().len();
    publish(
        &env,
        "Ports reopen",
        "ports",
        "2026-02-11T10:00:00Z",
        &["Trade"],
    );
    let after = wait_for("pings of the second publish", || {
        let all = hub.deliveries();
        let new = pinged(&all[before..]);
        (new.len() >= 6).then_some(new)
    });
    for path in ["atom.xml", "tags/trade/rss.xml", "tags/trade/feed.json"] {
        assert!(after.contains(&site_url(&env, path)), "{path}: {after:?}");
    }
    assert!(hub.verifications().is_empty());
}
