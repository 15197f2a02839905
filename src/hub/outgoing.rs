//! The hub's requests to the outside: verifying intent, delivering a feed, pinging an external
//! hub. Each goes through [`GuardedResolver`] (checked addresses only), follows no redirect,
//! has tight timeouts and reads at most a few KB of the answer.

use std::io::Read;
use std::time::Duration;

use sha2::Sha256;

use super::address::GuardedResolver;

/// The `User-Agent` of every hub request.
const USER_AGENT: &str = concat!("feedsvc/", env!("CARGO_PKG_VERSION"), " (WebSub hub)");

/// Longest a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a whole request may take, from resolving to the last byte of the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of an answer read (the challenge echo; anything else is discarded).
const MAX_ANSWER_BYTES: u64 = 4096;
/// Most answer header bytes.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A status, and the start of the body (at most [`MAX_ANSWER_BYTES`]; empty when the body
    /// could not be read to its end or to that length).
    Status(u16, Vec<u8>),
    /// No answer: refused address, connection error, timeout.
    Failed(String),
}

impl Answer {
    /// The status, 0 when there was none.
    pub fn status(&self) -> u16 {
        match self {
            Answer::Status(status, _) => *status,
            Answer::Failed(_) => 0,
        }
    }

    /// True for a 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status())
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Status(status, _) => write!(f, "HTTP {status}"),
            Answer::Failed(reason) => write!(f, "no answer: {reason}"),
        }
    }
}

/// The client the hub sends every request with: shared by its workers, keeping connections
/// alive per host.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// A client that reaches only addresses allowed by `allow_private` (see
    /// [`super::address`]). No proxy: it would resolve the callback in our place, unchecked.
    pub fn new(allow_private: bool, workers: usize) -> Client {
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .max_response_header_size(MAX_HEADER_BYTES)
            .max_idle_connections_per_host(workers.max(1))
            .user_agent(USER_AGENT)
            .proxy(None)
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::default(),
            GuardedResolver::new(allow_private),
        );
        Client { agent }
    }

    /// `GET url` (a verification of intent).
    ///
    /// A kept-alive connection the subscriber closes just as the request goes out fails
    /// without an answer (the pool's check that it is still open can come a moment too
    /// early). A GET is safe to repeat (RFC 9110 §9.2.2), so one that fails that way is sent
    /// once more, on a new connection, within what is left of [`REQUEST_TIMEOUT`]. A POST is
    /// not: a delivery that fails waits for its next attempt.
    pub fn get(&self, url: &str) -> Answer {
        let started = std::time::Instant::now();
        match self.agent.get(url).call() {
            Err(e) if closed_by_peer(&e) => {
                let left = REQUEST_TIMEOUT.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return finish(Err(e));
                }
                let again = self
                    .agent
                    .get(url)
                    .config()
                    .timeout_global(Some(left))
                    .build();
                finish(again.call())
            }
            result => finish(result),
        }
    }

    /// `POST url` with `body` and `headers`.
    pub fn post(&self, url: &str, headers: &[(&str, String)], body: &[u8]) -> Answer {
        let mut request = self.agent.post(url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        finish(request.send(body))
    }
}

/// True when the error is the peer closing or resetting the connection (not a timeout, a
/// refusal or a bad answer).
fn closed_by_peer(error: &ureq::Error) -> bool {
    use std::io::ErrorKind;
    matches!(error, ureq::Error::Io(e) if matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    ))
}

fn finish(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let mut start = Vec::new();
            let read = response
                .body_mut()
                .as_reader()
                .take(MAX_ANSWER_BYTES)
                .read_to_end(&mut start);
            if read.is_err() {
                // Cut short (timeout, closed early): what came is not the body, and must not
                // pass for a challenge's echo. The status stands.
                start.clear();
            }
            Answer::Status(status, start)
        }
        Err(e) => Answer::Failed(e.to_string()),
    }
}

/// `url` with `pairs` appended to its query, keeping the query it has (WebSub §5.3).
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(url.len() + 128);
    out.push_str(url);
    out.push(if url.contains('?') { '&' } else { '?' });
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    out.push_str(&encoded);
    out
}

/// `url` without its query, for logs (a callback's query may hold a token).
pub fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// `sha256=<hex>`: the `X-Hub-Signature` of `body` under `secret` (WebSub §8).
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Mac, SimpleHmac};
    let mut mac = SimpleHmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// A random challenge: 32 bytes from the system's generator, hex.
pub fn challenge() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No system generator: time and address entropy (the challenge only has to be
        // unguessable by the subscriber, which learns it anyway).
        let seed = format!("{:?}{:p}", std::time::SystemTime::now(), &bytes);
        use sha2::Digest;
        bytes.copy_from_slice(&Sha256::digest(seed.as_bytes()));
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_callbacks_query_is_kept() {
        assert_eq!(
            with_query(
                "http://a.example/cb?id=7",
                &[
                    ("hub.mode", "subscribe"),
                    ("hub.topic", "http://s/atom.xml")
                ]
            ),
            "http://a.example/cb?id=7&hub.mode=subscribe&hub.topic=http%3A%2F%2Fs%2Fatom.xml"
        );
        assert_eq!(
            with_query("http://a.example/cb", &[("hub.challenge", "x y")]),
            "http://a.example/cb?hub.challenge=x+y"
        );
    }

    /// Reads one whole request from `reader` and returns its request line. The whole request
    /// is read before answering: closing a socket with unread bytes resets the connection, and
    /// the client could lose the answer.
    fn read_request(reader: &mut std::io::BufReader<std::net::TcpStream>) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let _ = std::io::Read::read_exact(reader, &mut vec![0u8; length]);
        line.trim_end().to_string()
    }

    /// What a test server does after answering a connection's first request.
    #[derive(Clone, Copy, PartialEq)]
    enum Then {
        /// Closes the connection.
        Close,
        /// Sends bytes without end.
        Endless,
        /// On its first connection only: reads the next request and closes without an answer
        /// (as a server whose keep-alive timeout ends just then does); closes the others.
        DropTheSecond,
    }

    /// A loopback server answering each connection's first request with `answer`, then doing
    /// `then`; returns its address and the request lines it received.
    fn server(
        answer: &'static str,
        then: Then,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().flatten().enumerate() {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let line = read_request(&mut reader);
                log.lock().unwrap().push(line);
                let mut stream = stream;
                let _ = stream.write_all(answer.as_bytes());
                match then {
                    Then::Endless => while stream.write_all(&[b'x'; 8192]).is_ok() {},
                    Then::DropTheSecond if n == 0 => {
                        let line = read_request(&mut reader);
                        log.lock().unwrap().push(line);
                    }
                    _ => {}
                }
            }
        });
        (address, seen)
    }

    #[test]
    fn an_answer_is_read_up_to_its_cap_and_redirects_are_not_followed() {
        let client = Client::new(true, 1);
        // A body without end: the request ends once the cap is read.
        let (endless, _) = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n",
            Then::Endless,
        );
        let started = std::time::Instant::now();
        match client.get(&format!("http://{endless}/cb")) {
            Answer::Status(200, start) => assert_eq!(start.len() as u64, MAX_ANSWER_BYTES),
            other => panic!("{other:?}"),
        }
        assert!(
            started.elapsed() < REQUEST_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
        // A redirect is an answer, not a request to make.
        let (redirecting, seen) = server(
            "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
            Then::Close,
        );
        assert_eq!(
            client.post(&format!("http://{redirecting}/cb"), &[], b"body"),
            Answer::Status(302, Vec::new())
        );
        assert_eq!(
            client.get(&format!("http://{redirecting}/cb")).status(),
            302
        );
        std::thread::sleep(Duration::from_millis(100));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, ["POST /cb HTTP/1.1", "GET /cb HTTP/1.1"], "{seen:?}");
    }

    #[test]
    fn a_get_on_a_connection_the_subscriber_closed_is_sent_again_and_a_post_is_not() {
        let answer = "HTTP/1.1 204 No Content\r\n\r\n";
        let client = Client::new(true, 1);
        let (address, seen) = server(answer, Then::DropTheSecond);
        let url = format!("http://{address}/cb");
        assert_eq!(client.get(&url), Answer::Status(204, Vec::new()));
        // The kept connection is closed as this GET arrives; it is sent again on a new one.
        assert_eq!(client.get(&url), Answer::Status(204, Vec::new()));
        assert_eq!(*seen.lock().unwrap(), ["GET /cb HTTP/1.1"; 3]);

        let client = Client::new(true, 1);
        let (address, seen) = server(answer, Then::DropTheSecond);
        let url = format!("http://{address}/cb");
        assert_eq!(
            client.post(&url, &[], b"1"),
            Answer::Status(204, Vec::new())
        );
        let second = client.post(&url, &[], b"2");
        assert!(matches!(second, Answer::Failed(_)), "{second:?}");
        assert_eq!(*seen.lock().unwrap(), ["POST /cb HTTP/1.1"; 2]);
    }

    #[test]
    fn challenges_differ() {
        let (a, b) = (challenge(), challenge());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
