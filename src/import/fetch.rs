//! Fetching a feed's whole history by URL: timeouts, a size cap, redirects, and RFC 5005 links.
//!
//! [`fetch_history`] fetches a feed and then the documents its history links lead to
//! (`prev-archive` for archived feeds, `next` for paged ones), handing each body to a reader as
//! it streams in. Nothing here knows the formats: the caller detects and parses them.

use std::collections::{HashSet, VecDeque};
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;

use ureq::ResponseExt;

use super::HistoryLinks;
use crate::{Error, Result};

/// The `User-Agent` sent with every request.
const USER_AGENT: &str = concat!("feedsvc/", env!("CARGO_PKG_VERSION"), " (import)");

/// The `Accept` header: feeds first, then any XML or JSON (servers label feeds loosely), then
/// anything, since the content is recognised from its bytes anyway.
const ACCEPT: &str = "application/feed+json, application/atom+xml, application/rss+xml, \
                      application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1";

/// How far a fetch may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchLimits {
    /// For each request: resolving the host, connecting, sending the request, receiving the
    /// response headers, and each read of the body.
    pub timeout: Duration,
    /// The most bytes of one document, after decompression.
    pub max_bytes: u64,
    /// The most redirects followed for one document.
    pub max_redirects: u32,
    /// The most documents fetched in all (the first one included).
    pub max_documents: usize,
}

impl Default for FetchLimits {
    /// 30 s per request, 50 MiB per document, 5 redirects, 1,000 documents.
    fn default() -> Self {
        FetchLimits {
            timeout: Duration::from_secs(30),
            max_bytes: 50 * 1024 * 1024,
            max_redirects: 5,
            max_documents: 1000,
        }
    }
}

/// One fetched document, its body streaming in.
pub struct Document<'a> {
    /// The final URL, after redirects: the base for the document's relative links.
    pub url: &'a str,
    /// The `Content-Type` header, if the server sent one.
    pub content_type: Option<&'a str>,
    /// The body, decompressed and capped at [`FetchLimits::max_bytes`]. A read past the cap, or
    /// a network failure, is an I/O error here; [`fetch_history`] then returns the reason as
    /// its error whatever the reader made of it.
    pub body: &'a mut dyn BufRead,
}

/// True when `source` is an http or https URL (the prefix, in any case), not a file path.
pub fn is_url(source: &str) -> bool {
    let has_prefix = |prefix: &str| {
        source
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    has_prefix("http://") || has_prefix("https://")
}

/// Fetches `url`, hands each document to `read` (which parses it and returns its history
/// links), and follows `prev-archive` (archived feeds, RFC 5005 §4) and `next` (paged feeds,
/// §3) until none is left, a URL repeats (a loop ends the walk, it is no error), a document
/// says it is complete, or `max_documents` documents were fetched. Returns the URLs fetched
/// (final URLs, after redirects), in order. Relative history links are resolved against the
/// final URL of their document. `read` can end the walk by returning empty links. The proxy
/// named by `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` (and `NO_PROXY`) is used.
///
/// Errors ([`Error::InvalidArticle`] on field `url` for a URL that is not http or https,
/// [`Error::Read`] naming the URL for everything else): a URL that is not http or https; no
/// answer within the timeout; more redirects than allowed; a status other than 2xx; a body
/// larger than `max_bytes`; a network failure while reading; or any error `read` returns. The
/// documents read before the error have been handed to `read` already: the caller keeps
/// nothing unless the whole walk succeeds.
pub fn fetch_history(
    url: &str,
    limits: &FetchLimits,
    read: &mut dyn FnMut(Document<'_>) -> Result<HistoryLinks>,
) -> Result<Vec<String>> {
    walk(url, limits, ureq::Proxy::try_from_env(), read)
}

/// [`fetch_history`] through `proxy` (none in tests, so that they only ever reach loopback).
fn walk(
    url: &str,
    limits: &FetchLimits,
    proxy: Option<ureq::Proxy>,
    read: &mut dyn FnMut(Document<'_>) -> Result<HistoryLinks>,
) -> Result<Vec<String>> {
    let start = parse(url)?;
    let agent = agent(limits, proxy);
    let mut fetched = Vec::new();
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([start]);
    while let Some(next) = queue.pop_front() {
        if !seen.insert(key(&next)) {
            continue;
        }
        if fetched.len() >= limits.max_documents {
            tracing::warn!(
                url = %next,
                max_documents = limits.max_documents,
                "the feed's history goes on past the document limit; the rest is not fetched"
            );
            break;
        }
        let (final_url, links) = fetch_one(&agent, next.as_str(), limits, read)?;
        seen.insert(key(&final_url));
        fetched.push(final_url.to_string());
        if links.complete {
            break;
        }
        for link in [links.prev_archive, links.next].into_iter().flatten() {
            let resolved = final_url
                .join(&link)
                .map_err(|e| Error::invalid(&link, "url", format!("is not a URL ({e})")))?;
            check_scheme(&resolved)?;
            queue.push_back(resolved);
        }
    }
    Ok(fetched)
}

/// The agent for one walk: the limits, our headers, statuses left to us.
fn agent(limits: &FetchLimits, proxy: Option<ureq::Proxy>) -> ureq::Agent {
    let timeout = Some(limits.timeout);
    ureq::Agent::config_builder()
        .proxy(proxy)
        .timeout_resolve(timeout)
        .timeout_connect(timeout)
        .timeout_send_request(timeout)
        .timeout_recv_response(timeout)
        .timeout_per_read(timeout)
        .max_redirects(limits.max_redirects)
        .max_redirects_will_error(true)
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .accept(ACCEPT)
        .build()
        .into()
}

/// Fetches one document and hands it to `read`; returns its final URL and its links.
fn fetch_one(
    agent: &ureq::Agent,
    url: &str,
    limits: &FetchLimits,
    read: &mut dyn FnMut(Document<'_>) -> Result<HistoryLinks>,
) -> Result<(url::Url, HistoryLinks)> {
    let failed = |reason: String| Error::Read {
        path: PathBuf::from(url),
        reason,
    };
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| failed(explain(&e, limits)))?;
    let status = response.status();
    if !status.is_success() {
        let reason = status.canonical_reason().unwrap_or("");
        let hint = if status.is_redirection() {
            " (a redirect not followed: max_redirects is 0)"
        } else {
            ""
        };
        return Err(failed(format!(
            "the server answered {} {reason}{hint}",
            status.as_u16()
        )));
    }
    let final_url = parse(&response.get_uri().to_string())?;
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let capped = Capped {
        inner: response.body_mut().as_reader(),
        left: limits.max_bytes,
        max_bytes: limits.max_bytes,
        failure: None,
    };
    let mut body = BufReader::new(capped);
    let outcome = read(Document {
        url: final_url.as_str(),
        content_type: content_type.as_deref(),
        body: &mut body,
    });
    // The body's own failure explains more than what a parser made of the I/O error (it may
    // even have taken it for a truncated document and gone on).
    if let Some(reason) = body.into_inner().failure {
        return Err(Error::Read {
            path: PathBuf::from(final_url.as_str()),
            reason,
        });
    }
    Ok((final_url, outcome?))
}

/// A ureq error in words, naming the limit that was hit.
fn explain(e: &ureq::Error, limits: &FetchLimits) -> String {
    match e {
        ureq::Error::Timeout(phase) => {
            format!("no answer within {:?} ({phase})", limits.timeout)
        }
        ureq::Error::TooManyRedirects => {
            format!("more than {} redirects", limits.max_redirects)
        }
        other => other.to_string(),
    }
}

/// `text` as an http or https URL.
fn parse(text: &str) -> Result<url::Url> {
    let url = url::Url::parse(text)
        .map_err(|e| Error::invalid(text, "url", format!("is not a URL ({e})")))?;
    check_scheme(&url)?;
    Ok(url)
}

/// Refuses URLs other than http and https, before any network use.
fn check_scheme(url: &url::Url) -> Result<()> {
    if matches!(url.scheme(), "http" | "https") && url.has_host() {
        Ok(())
    } else {
        Err(Error::invalid(
            url.as_str(),
            "url",
            "only http and https URLs can be fetched",
        ))
    }
}

/// What makes two URLs the same document: all but the fragment.
fn key(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_fragment(None);
    url.into()
}

/// A body that refuses to go past `max_bytes` and remembers why it stopped.
struct Capped<R> {
    inner: R,
    left: u64,
    max_bytes: u64,
    failure: Option<String>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(reason) = &self.failure {
            return Err(io::Error::other(reason.clone()));
        }
        // One byte more than allowed tells a body at the cap from one past it.
        let room = usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let reason = format!("reading the body failed: {e}");
                self.failure = Some(reason.clone());
                return Err(io::Error::new(e.kind(), reason));
            }
        };
        if n as u64 > self.left {
            let reason = format!(
                "the document is larger than the limit of {} bytes",
                self.max_bytes
            );
            self.failure = Some(reason.clone());
            return Err(io::Error::other(reason));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// A tiny HTTP server on 127.0.0.1: `answer(path)` gives the whole response, or `None` to
    /// keep the connection open without a word. Returns its base URL and the request heads.
    fn serve(
        answer: impl Fn(&str) -> Option<Vec<u8>> + Send + 'static,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            let mut silent = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let head = read_head(&mut stream);
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                seen.lock().unwrap().push(head);
                match answer(&path) {
                    Some(response) => {
                        let _ = stream.write_all(&response);
                    }
                    None => silent.push(stream),
                }
            }
        });
        (base, requests)
    }

    fn read_head(stream: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    fn ok(body: &str) -> Option<Vec<u8>> {
        Some(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }

    fn gzipped(body: &str) -> Option<Vec<u8>> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(body.as_bytes()).unwrap();
        let packed = encoder.finish().unwrap();
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            packed.len()
        )
        .into_bytes();
        response.extend(packed);
        Some(response)
    }

    fn redirect(to: &str) -> Option<Vec<u8>> {
        Some(format!(
            "HTTP/1.1 301 Moved Permanently\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ).into_bytes())
    }

    fn limits() -> FetchLimits {
        FetchLimits {
            timeout: Duration::from_secs(5),
            max_bytes: 1000,
            max_redirects: 3,
            max_documents: 10,
        }
    }

    /// A reader for test documents: the body is `prev=URL next=URL` words; it records
    /// `(final URL, content type, body)`.
    fn walk_test(
        url: &str,
        limits: &FetchLimits,
        log: &mut Vec<(String, Option<String>, String)>,
    ) -> Result<Vec<String>> {
        walk(url, limits, None, &mut |document: Document<'_>| {
            let mut body = String::new();
            document
                .body
                .read_to_string(&mut body)
                .map_err(|e| Error::io("test body", e))?;
            let mut links = HistoryLinks::default();
            for word in body.split_whitespace() {
                if let Some(url) = word.strip_prefix("prev=") {
                    links.prev_archive = Some(url.to_string());
                } else if let Some(url) = word.strip_prefix("next=") {
                    links.next = Some(url.to_string());
                }
            }
            log.push((
                document.url.to_string(),
                document.content_type.map(str::to_string),
                body,
            ));
            Ok(links)
        })
    }

    #[test]
    fn archived_documents_are_followed_through_prev_archive() {
        let (base, requests) = serve(|path| match path {
            "/feed" => ok("prev=/archive/2"),
            "/archive/2" => ok("prev=1"),
            "/archive/1" => ok("the oldest"),
            _ => None,
        });
        let mut log = Vec::new();
        let urls = walk_test(&format!("{base}/feed"), &limits(), &mut log).unwrap();
        assert_eq!(
            urls,
            [
                format!("{base}/feed"),
                format!("{base}/archive/2"),
                format!("{base}/archive/1")
            ]
        );
        assert_eq!(log[2].2, "the oldest");
        assert_eq!(log[0].1.as_deref(), Some("application/atom+xml"));
        let first = requests.lock().unwrap()[0].to_ascii_lowercase();
        let user_agent = format!("user-agent: feedsvc/{} (import)", env!("CARGO_PKG_VERSION"));
        assert!(first.contains(&user_agent), "{first}");
        assert!(first.contains("accept: application/feed+json"), "{first}");
    }

    #[test]
    fn paged_documents_are_followed_through_next() {
        let (base, _) = serve(|path| match path {
            "/page/1" => ok("next=/page/2"),
            "/page/2" => ok("next=/page/3"),
            "/page/3" => ok("last page"),
            _ => None,
        });
        let urls = walk_test(&format!("{base}/page/1"), &limits(), &mut Vec::new()).unwrap();
        assert_eq!(urls.len(), 3);
        assert!(urls[2].ends_with("/page/3"));
    }

    #[test]
    fn a_redirect_is_followed_and_its_target_is_the_base() {
        let (base, _) = serve(|path| match path {
            "/old/feed" => redirect("/new/feed"),
            "/new/feed" => ok("prev=archive-1"),
            "/new/archive-1" => ok("done"),
            _ => None,
        });
        let mut log = Vec::new();
        let urls = walk_test(&format!("{base}/old/feed"), &limits(), &mut log).unwrap();
        assert_eq!(
            urls,
            [format!("{base}/new/feed"), format!("{base}/new/archive-1")]
        );
        assert_eq!(log[0].0, format!("{base}/new/feed"));
    }

    #[test]
    fn too_many_redirects_are_refused() {
        let (base, _) = serve(|path| {
            let n: u32 = path.trim_start_matches("/r").parse().unwrap_or(0);
            redirect(&format!("/r{}", n + 1))
        });
        let error = walk_test(&format!("{base}/r0"), &limits(), &mut Vec::new()).unwrap_err();
        assert!(
            error.to_string().contains("more than 3 redirects"),
            "{error}"
        );
    }

    #[test]
    fn a_loop_stops_the_walk_without_error() {
        let (base, requests) = serve(|path| match path {
            "/a" => ok("prev=/b"),
            "/b" => ok("prev=/a#again"),
            _ => None,
        });
        let urls = walk_test(&format!("{base}/a"), &limits(), &mut Vec::new()).unwrap();
        assert_eq!(urls, [format!("{base}/a"), format!("{base}/b")]);
        assert_eq!(requests.lock().unwrap().len(), 2);
    }

    #[test]
    fn the_walk_stops_at_max_documents() {
        let (base, _) = serve(|path| {
            let n: u32 = path.trim_start_matches("/p").parse().unwrap_or(0);
            // Twenty pages: a walk without the limit ends too, and fails the test.
            ok(&if n < 20 {
                format!("next=/p{}", n + 1)
            } else {
                "the end".to_string()
            })
        });
        let limits = FetchLimits {
            max_documents: 4,
            ..limits()
        };
        let urls = walk_test(&format!("{base}/p0"), &limits, &mut Vec::new()).unwrap();
        assert_eq!(urls.len(), 4);
    }

    #[test]
    fn a_body_over_the_cap_is_refused_naming_the_limit() {
        let big = "x".repeat(1001);
        let exact = "y".repeat(1000);
        let (base, _) = serve(move |path| match path {
            "/big" => ok(&big),
            "/exact" => ok(&exact),
            _ => None,
        });
        let error = walk_test(&format!("{base}/big"), &limits(), &mut Vec::new()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("limit of 1000 bytes"), "{message}");
        assert!(message.starts_with(&format!("{base}/big")), "{message}");
        assert!(walk_test(&format!("{base}/exact"), &limits(), &mut Vec::new()).is_ok());
    }

    #[test]
    fn the_cap_is_reported_even_when_the_reader_swallows_the_error() {
        let big = "x".repeat(5000);
        let (base, _) = serve(move |_| ok(&big));
        let outcome = walk(&format!("{base}/big"), &limits(), None, &mut |document| {
            let mut sink = Vec::new();
            let _ = document.body.read_to_end(&mut sink);
            Ok(HistoryLinks::default())
        });
        let message = outcome.unwrap_err().to_string();
        assert!(message.contains("limit of 1000 bytes"), "{message}");
    }

    #[test]
    fn a_gzipped_body_is_decoded_and_capped_after_decoding() {
        let small = "prev=/old ".repeat(50);
        let (base, requests) = serve(move |path| match path {
            "/feed" => gzipped(&small),
            "/old" => gzipped("done"),
            _ => gzipped(&"z".repeat(100_000)),
        });
        let mut log = Vec::new();
        let urls = walk_test(&format!("{base}/feed"), &limits(), &mut log).unwrap();
        assert_eq!(urls.len(), 2);
        assert_eq!(log[1].2, "done");
        let first = requests.lock().unwrap()[0].to_ascii_lowercase();
        assert!(first.contains("accept-encoding: gzip, br"), "{first}");
        // 100,000 bytes pack into far less than the 1,000-byte cap, which applies to what comes out.
        let error = walk_test(&format!("{base}/bomb"), &limits(), &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("limit of 1000 bytes"), "{error}");
    }

    #[test]
    fn a_404_is_an_error_naming_the_status() {
        let (base, _) = serve(|_| {
            Some(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            )
        });
        let error = walk_test(&format!("{base}/gone"), &limits(), &mut Vec::new()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("404"), "{message}");
        assert!(message.contains("/gone"), "{message}");
    }

    #[test]
    fn a_silent_server_times_out() {
        let (base, _) = serve(|_| None);
        let limits = FetchLimits {
            timeout: Duration::from_millis(300),
            ..limits()
        };
        // On a thread, so that a walk without a timeout fails the test instead of hanging it.
        let (done, outcome) = std::sync::mpsc::channel();
        let started = Instant::now();
        std::thread::spawn(move || {
            let outcome = walk_test(&format!("{base}/feed"), &limits, &mut Vec::new());
            let _ = done.send(outcome.map_err(|e| e.to_string()));
        });
        let outcome = outcome
            .recv_timeout(Duration::from_secs(5))
            .expect("no timeout within 5 s");
        let error = outcome.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{error}");
        assert!(error.contains("no answer within 300ms"), "{error}");
    }

    #[test]
    fn other_schemes_are_refused_before_any_request() {
        let mut called = false;
        for url in ["ftp://127.0.0.1/feed.xml", "file:///etc/passwd", "feed.xml"] {
            let outcome = walk(url, &limits(), None, &mut |_| {
                called = true;
                Ok(HistoryLinks::default())
            });
            let message = outcome.unwrap_err().to_string();
            assert!(message.starts_with(url), "{message}");
        }
        assert!(!called);
        let error = walk(
            "ftp://127.0.0.1/x",
            &limits(),
            None,
            &mut |_| unreachable!(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("only http and https"), "{error}");
    }

    #[test]
    fn is_url_checks_the_scheme() {
        assert!(is_url("https://example.com/feed"));
        assert!(is_url("HTTP://EXAMPLE.COM/"));
        assert!(!is_url("httpx://example.com"));
        assert!(!is_url("feeds/http://"));
        assert!(!is_url("./export.xml"));
        assert!(!is_url("ftp://example.com/feed"));
    }
}
