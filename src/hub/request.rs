//! A subscription request to the built-in hub (WebSub §5.1), read and checked: what the
//! subscriber asked for, or why it is refused.

use crate::config::{Config, MAX_LEASE_SECONDS, MIN_LEASE_SECONDS};
use crate::routes::Route;

/// Longest callback URL accepted, in bytes.
pub const MAX_CALLBACK_BYTES: usize = 2000;
/// Secrets must be shorter than this, in bytes (WebSub §5.1).
pub const MAX_SECRET_BYTES: usize = 200;

/// Subscribe or unsubscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `hub.mode=subscribe`.
    Subscribe,
    /// `hub.mode=unsubscribe`.
    Unsubscribe,
}

impl Mode {
    /// The value of `hub.mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Subscribe => "subscribe",
            Mode::Unsubscribe => "unsubscribe",
        }
    }
}

/// What a subscriber asked for, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// Subscribe or unsubscribe.
    pub mode: Mode,
    /// The topic as the subscriber wrote it (echoed in the verification).
    pub topic_url: String,
    /// The topic's path, as documents are keyed (`/atom.xml`).
    pub topic: String,
    /// The callback URL, as given.
    pub callback: String,
    /// The callback's host, as in the URL (an IPv6 literal bracketed).
    pub host: String,
    /// The callback's port.
    pub port: u16,
    /// The lease to grant, in seconds (already clamped).
    pub lease_seconds: u64,
    /// The secret deliveries are signed with.
    pub secret: Option<String>,
}

impl Intent {
    /// `host[:port]` of the callback, as listed and counted.
    pub fn callback_host(&self) -> String {
        callback_host(&self.callback)
    }
}

/// `host[:port]` of a callback URL (the port only when the URL names one).
pub fn callback_host(callback: &str) -> String {
    match url::Url::parse(callback) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("");
            match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            }
        }
        Err(_) => String::new(),
    }
}

/// Why a request is refused: the status to answer and a sentence for the subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 4xx (or 503).
    pub status: u16,
    /// Plain text, naming the parameter.
    pub reason: String,
}

impl Rejection {
    /// A 400 naming what is wrong.
    pub fn bad(reason: impl Into<String>) -> Rejection {
        Rejection {
            status: 400,
            reason: reason.into(),
        }
    }
}

/// Reads a form-encoded subscription request. Unknown parameters are ignored; of a parameter
/// given twice, the first counts. Whether the topic's feed exists and where the callback's host
/// resolves are checked by the caller.
pub fn parse(cfg: &Config, body: &[u8]) -> Result<Intent, Rejection> {
    let mut mode = None;
    let mut topic = None;
    let mut callback = None;
    let mut lease = None;
    let mut secret = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "hub.mode" => &mut mode,
            "hub.topic" => &mut topic,
            "hub.callback" => &mut callback,
            "hub.lease_seconds" => &mut lease,
            "hub.secret" => &mut secret,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.into_owned());
        }
    }
    let mode =
        match mode.as_deref() {
            Some("subscribe") => Mode::Subscribe,
            Some("unsubscribe") => Mode::Unsubscribe,
            Some("publish") => return Err(Rejection::bad(
                "hub.mode: this hub publishes this site's own feeds as they change; no publish \
                 request is needed",
            )),
            Some(other) => {
                return Err(Rejection::bad(format!(
                    "hub.mode: \"{}\" is not subscribe or unsubscribe",
                    shorten(other)
                )))
            }
            None => {
                return Err(Rejection::bad(
                    "hub.mode: missing (subscribe or unsubscribe)",
                ))
            }
        };
    let topic_url = topic.ok_or_else(|| Rejection::bad("hub.topic: missing"))?;
    let topic = topic_path(cfg, &topic_url).ok_or_else(|| {
        Rejection::bad(format!(
            "hub.topic: \"{}\" is not a feed of this site (its feeds are at {}atom.xml, rss.xml \
             and feed.json, and tags/<tag>/ each)",
            shorten(&topic_url),
            cfg.site.base_url
        ))
    })?;
    let callback = callback.ok_or_else(|| Rejection::bad("hub.callback: missing"))?;
    let (host, port) = check_callback(&callback)?;
    let lease_seconds = match lease.as_deref().map(str::trim) {
        None | Some("") => cfg.websub.lease_seconds,
        Some(text) => {
            if !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Rejection::bad(format!(
                    "hub.lease_seconds: \"{}\" is not a number of seconds",
                    shorten(text)
                )));
            }
            text.parse::<u64>().unwrap_or(u64::MAX)
        }
    }
    .clamp(MIN_LEASE_SECONDS, MAX_LEASE_SECONDS);
    if let Some(secret) = &secret {
        if secret.len() >= MAX_SECRET_BYTES {
            return Err(Rejection::bad(format!(
                "hub.secret: {} bytes; it must be shorter than {MAX_SECRET_BYTES}",
                secret.len()
            )));
        }
    }
    Ok(Intent {
        mode,
        topic_url,
        topic,
        callback,
        host,
        port,
        lease_seconds,
        secret: secret.filter(|s| !s.is_empty()),
    })
}

/// The path of the subscription feed `url` names (`/tags/asia/atom.xml`), if it is one of
/// this site's: under `site.base_url` (the scheme aside: a site moved to https keeps its
/// subscribers), a site or tag feed, not an archive.
pub fn topic_path(cfg: &Config, url: &str) -> Option<String> {
    let given = url::Url::parse(url.trim()).ok()?;
    let base = url::Url::parse(&cfg.site.base_url).ok()?;
    if given.query().is_some()
        || given.fragment().is_some()
        || given.host() != base.host()
        || given.port_or_known_default() != base.port_or_known_default()
            && given.scheme() == base.scheme()
        || !matches!(given.scheme(), "http" | "https")
    {
        return None;
    }
    let path = given.path().to_string();
    match Route::parse(cfg, &path)? {
        route @ Route::Feed { .. } => Some(route.path(cfg)),
        _ => None,
    }
}

/// Checks a callback URL: absolute http or https, with a host, no fragment, not too long.
/// Returns its host and port.
fn check_callback(callback: &str) -> Result<(String, u16), Rejection> {
    if callback.len() > MAX_CALLBACK_BYTES {
        return Err(Rejection::bad(format!(
            "hub.callback: {} bytes; at most {MAX_CALLBACK_BYTES}",
            callback.len()
        )));
    }
    let url = url::Url::parse(callback).map_err(|e| {
        Rejection::bad(format!(
            "hub.callback: \"{}\" is not an absolute URL ({e})",
            shorten(callback)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Rejection::bad(format!(
            "hub.callback: \"{}\" must be an http or https URL",
            shorten(callback)
        )));
    }
    if url.fragment().is_some() {
        return Err(Rejection::bad(
            "hub.callback: must not have a fragment (#…)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Rejection::bad(
            "hub.callback: must not carry a user name or password",
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Rejection::bad("hub.callback: the URL has no host"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Rejection::bad("hub.callback: the URL has no port"))?;
    Ok((host.to_string(), port))
}

/// At most 100 characters of what a client sent, for messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(base: &str) -> Config {
        let text = format!("[site]\nbase_url = \"{base}\"\n");
        Config::parse(
            &text,
            std::path::Path::new("config.toml"),
            std::path::Path::new("."),
        )
        .expect("config")
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()
    }

    const CALLBACK: &str = "https://reader.example.net/push?feed=7";

    #[test]
    fn a_subscription_request_is_read() {
        let cfg = cfg("https://news.example.org/");
        let intent = parse(
            &cfg,
            &form(&[
                ("hub.mode", "subscribe"),
                ("hub.topic", "https://news.example.org/tags/asia/atom.xml"),
                ("hub.callback", CALLBACK),
                ("hub.lease_seconds", "7200"),
                ("hub.secret", "s3cret"),
                ("hub.unknown", "ignored"),
            ]),
        )
        .expect("valid");
        assert_eq!(intent.mode, Mode::Subscribe);
        assert_eq!(intent.topic, "/tags/asia/atom.xml");
        assert_eq!(intent.callback, CALLBACK);
        assert_eq!(intent.host, "reader.example.net");
        assert_eq!(intent.port, 443);
        assert_eq!(intent.lease_seconds, 7200);
        assert_eq!(intent.secret.as_deref(), Some("s3cret"));
        assert_eq!(intent.callback_host(), "reader.example.net");
    }

    #[test]
    fn leases_are_clamped_and_defaulted() {
        let cfg = cfg("https://news.example.org/");
        let lease = |value: Option<&str>| {
            let mut pairs = vec![
                ("hub.mode", "subscribe"),
                ("hub.topic", "https://news.example.org/feed.json"),
                ("hub.callback", CALLBACK),
            ];
            if let Some(v) = value {
                pairs.push(("hub.lease_seconds", v));
            }
            parse(&cfg, &form(&pairs)).map(|i| i.lease_seconds)
        };
        assert_eq!(lease(None), Ok(864_000));
        assert_eq!(lease(Some("10")), Ok(3600));
        assert_eq!(lease(Some("99999999999999999999999")), Ok(2_592_000));
        assert_eq!(lease(Some("86400")), Ok(86_400));
        assert_eq!(lease(Some("-5")).map_err(|r| r.status), Err(400));
        assert_eq!(lease(Some("1e3")).map_err(|r| r.status), Err(400));
    }

    #[test]
    fn only_this_sites_subscription_feeds_are_topics() {
        let cfg = cfg("https://news.example.org/world/");
        let topic = |url: &str| topic_path(&cfg, url);
        assert_eq!(
            topic("https://news.example.org/world/rss.xml").as_deref(),
            Some("/world/rss.xml")
        );
        // A site moved to https keeps subscribers of its http URLs.
        assert_eq!(
            topic("http://news.example.org/world/tags/asia/feed.json").as_deref(),
            Some("/world/tags/asia/feed.json")
        );
        for foreign in [
            "https://evil.example.com/world/atom.xml",
            "https://news.example.org/atom.xml",
            "https://news.example.org:8443/world/atom.xml",
            "https://news.example.org/world/archive/2026-01/atom.xml",
            "https://news.example.org/world/articles/x",
            "https://news.example.org/world/atom.xml?x=1",
            "https://news.example.org/world/atom.xml#top",
            "ftp://news.example.org/world/atom.xml",
            "/world/atom.xml",
        ] {
            assert_eq!(topic(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn bad_requests_name_the_parameter() {
        let cfg = cfg("https://news.example.org/");
        let topic = "https://news.example.org/atom.xml";
        let long_secret = "x".repeat(200);
        let long_callback = format!("https://a.example/{}", "x".repeat(2000));
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![("hub.topic", topic), ("hub.callback", CALLBACK)],
                "hub.mode",
            ),
            (
                vec![
                    ("hub.mode", "follow"),
                    ("hub.topic", topic),
                    ("hub.callback", CALLBACK),
                ],
                "hub.mode",
            ),
            (
                vec![("hub.mode", "subscribe"), ("hub.callback", CALLBACK)],
                "hub.topic",
            ),
            (
                vec![("hub.mode", "subscribe"), ("hub.topic", topic)],
                "hub.callback",
            ),
            (
                vec![
                    ("hub.mode", "subscribe"),
                    ("hub.topic", topic),
                    ("hub.callback", "ftp://x/y"),
                ],
                "hub.callback",
            ),
            (
                vec![
                    ("hub.mode", "subscribe"),
                    ("hub.topic", topic),
                    ("hub.callback", "/relative"),
                ],
                "hub.callback",
            ),
            (
                vec![
                    ("hub.mode", "subscribe"),
                    ("hub.topic", topic),
                    ("hub.callback", "https://a.example/cb#frag"),
                ],
                "hub.callback",
            ),
            (
                vec![
                    ("hub.mode", "subscribe"),
                    ("hub.topic", topic),
                    ("hub.callback", &long_callback),
                ],
                "hub.callback",
            ),
            (
                vec![
                    ("hub.mode", "subscribe"),
                    ("hub.topic", topic),
                    ("hub.callback", CALLBACK),
                    ("hub.secret", &long_secret),
                ],
                "hub.secret",
            ),
        ];
        for (pairs, parameter) in cases {
            let rejection = parse(&cfg, &form(&pairs)).expect_err(parameter);
            assert_eq!(rejection.status, 400);
            assert!(
                rejection.reason.starts_with(parameter),
                "{parameter}: {}",
                rejection.reason
            );
        }
    }
}
