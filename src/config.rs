//! The configuration file (`config.toml`): parsed once at startup into a validated [`Config`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{Error, Result};

/// The validated configuration every part of feedsvc receives by reference.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (for messages).
    pub path: PathBuf,
    /// Site identity.
    pub site: Site,
    /// Server settings.
    pub server: Server,
    /// Where the archive lives.
    pub storage: Storage,
    /// Feed sizes.
    pub feeds: Feeds,
    /// Push delivery (WebSub).
    pub websub: WebSub,
    /// Counting who polls the feeds.
    pub stats: Stats,
    /// The admin listener (dashboard and metrics).
    pub admin: Admin,
}

/// `[stats]`: counting requests, pollers and subscribers per feed and day.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Whether `feedsvc serve` counts at all.
    pub enabled: bool,
    /// How often counts are written to the database.
    pub flush: Duration,
    /// Days of counts kept.
    pub retention_days: u32,
}

/// `[admin]`: the private listener of the dashboard and `/metrics`.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Its address; `None` when disabled.
    pub listen: Option<String>,
    /// The bearer token every request must carry; `None`: no token asked (loopback only).
    pub token: Option<String>,
}

/// Which WebSub hub the feeds advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hub {
    /// None: feeds name no hub and nothing is pushed.
    Off,
    /// feedsvc's own hub at `/websub`.
    Builtin,
    /// An external hub at this URL, pinged after each publish that changes a feed.
    External(String),
}

/// `[websub]`: push delivery of feeds to subscribers.
#[derive(Debug, Clone)]
pub struct WebSub {
    /// The hub the feeds advertise.
    pub hub: Hub,
    /// Lease granted when a subscriber asks for none, in seconds.
    pub lease_seconds: u64,
    /// Whether callbacks may resolve to loopback, private, link-local, multicast or
    /// unspecified addresses.
    pub allow_private_callbacks: bool,
    /// The most subscriptions the built-in hub holds.
    pub max_subscriptions: usize,
}

/// Shortest lease the built-in hub grants, in seconds (an hour).
pub const MIN_LEASE_SECONDS: u64 = 3600;
/// Longest lease the built-in hub grants, in seconds (30 days).
pub const MAX_LEASE_SECONDS: u64 = 2_592_000;

/// `[site]`: who publishes, and where.
#[derive(Debug, Clone)]
pub struct Site {
    /// Feed and page title.
    pub title: String,
    /// Public root URL, always ending in `/`; every link in feeds is absolute from it.
    pub base_url: String,
    /// The host part of `base_url`, used to mint `tag:` entry ids.
    pub host: String,
    /// One-line description of the site (feed subtitle, page description).
    pub description: String,
    /// Default author of articles that do not name one.
    pub author: String,
    /// Language tag of the site's content (`en`, `fr`, `zh-Hans` …).
    pub language: String,
}

/// `[server]`: how `feedsvc serve` listens and answers.
#[derive(Debug, Clone)]
pub struct Server {
    /// Address to listen on (`--listen` overrides it).
    pub listen: String,
    /// `Cache-Control: max-age` of feeds, in seconds.
    pub feed_max_age: u64,
    /// `Cache-Control: max-age` of HTML pages, in seconds.
    pub page_max_age: u64,
    /// How long a client may take to send its request headers, and how long a keep-alive
    /// connection may wait for its next request.
    pub header_timeout: Duration,
    /// How long a new connection may take to send its first byte.
    pub first_byte_timeout: Duration,
    /// Connections served at once; at the limit the idlest are closed to make room, and when
    /// none is idle a new one is answered 503.
    pub max_connections: usize,
    /// Default log filter (`RUST_LOG` overrides it).
    pub log: String,
    /// Shortest interval between two fetches of one feed without validators by one poller
    /// (address and User-Agent); a faster one gets 429. Zero: no limit.
    pub min_poll_secs: u64,
}

/// `[storage]`: the database and input limits.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The SQLite database file (absolute, resolved against the config file's directory).
    pub database: PathBuf,
    /// Directory of sample articles loaded when the database is created by `serve`; `None` if unset.
    pub samples: Option<PathBuf>,
    /// Largest accepted article body, in bytes.
    pub max_article_bytes: usize,
    /// How long a publish waits for another writer before giving up.
    pub busy_timeout: Duration,
    /// Who copies the write-ahead log back into the database.
    pub checkpoints: Checkpoints,
}

/// Who checkpoints the archive's write-ahead log (`storage.checkpoints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoints {
    /// feedsvc: `serve` checkpoints in the background and the publishing commands fold a long
    /// log back.
    Feedsvc,
    /// Litestream, which replicates the database: feedsvc never checkpoints the archive (the
    /// counting's database keeps SQLite's automatic passive checkpoints, which Litestream's
    /// read lock keeps from restarting its log). Litestream's read lock makes another
    /// process's full checkpoint wait out its busy timeout and give up, and a checkpoint made
    /// while Litestream is down makes it ship the whole database again.
    Litestream,
}

/// `[feeds]`: what each feed carries.
#[derive(Debug, Clone)]
pub struct Feeds {
    /// Entries in each subscription feed (site and tag feeds).
    pub items: usize,
    /// Articles per index or tag page.
    pub page_size: usize,
}

/// Checks `[admin]`: a listener reachable from other machines must ask for a token.
fn admin_settings(raw: &RawAdmin) -> std::result::Result<Admin, String> {
    let listen = raw.listen.trim();
    let token = raw.token.trim();
    if listen.is_empty() {
        return Ok(Admin {
            listen: None,
            token: None,
        });
    }
    let Some(loopback) = is_loopback_listen(listen) else {
        return Err(format!(
            "admin.listen: \"{listen}\" is not an address and port (like 127.0.0.1:8081)"
        ));
    };
    if !loopback && token.is_empty() {
        return Err(format!(
            "admin.listen: \"{listen}\" is not a loopback address, so admin.token must be set: \
             the dashboard and /metrics would otherwise be open to the network (clients then \
             send `Authorization: Bearer TOKEN`)"
        ));
    }
    if token.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(
            "admin.token: must be printable ASCII without spaces (it is sent in a header)"
                .to_string(),
        );
    }
    Ok(Admin {
        listen: Some(listen.to_string()),
        token: (!token.is_empty()).then(|| token.to_string()),
    })
}

/// Whether `listen` (`IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`) names only loopback
/// addresses; `None` when it is not such an address.
pub fn is_loopback_listen(listen: &str) -> Option<bool> {
    if let Ok(address) = listen.parse::<std::net::SocketAddr>() {
        return Some(address.ip().is_loopback());
    }
    let (host, port) = listen.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.eq_ignore_ascii_case("localhost").then_some(true)
}

/// The file as written: every key optional but `site.base_url`, unknown keys refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    site: RawSite,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    feeds: RawFeeds,
    #[serde(default)]
    websub: RawWebSub,
    #[serde(default)]
    stats: RawStats,
    #[serde(default)]
    admin: RawAdmin,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStats {
    enabled: bool,
    flush_secs: u64,
    retention_days: u32,
}

impl Default for RawStats {
    fn default() -> Self {
        RawStats {
            enabled: true,
            flush_secs: 60,
            retention_days: 400,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAdmin {
    listen: String,
    token: String,
}

impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            listen: "127.0.0.1:8081".to_string(),
            token: String::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWebSub {
    hub: String,
    lease_seconds: u64,
    allow_private_callbacks: bool,
    max_subscriptions: usize,
}

impl Default for RawWebSub {
    fn default() -> Self {
        RawWebSub {
            hub: "builtin".to_string(),
            lease_seconds: 864_000,
            allow_private_callbacks: false,
            max_subscriptions: 10_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    #[serde(default = "default_title")]
    title: String,
    base_url: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_author")]
    author: String,
    #[serde(default = "default_language")]
    language: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: String,
    feed_max_age: u64,
    page_max_age: u64,
    header_timeout_secs: u64,
    first_byte_timeout_secs: u64,
    max_connections: usize,
    log: String,
    min_poll_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStorage {
    database: PathBuf,
    samples: PathBuf,
    max_article_bytes: usize,
    busy_timeout_ms: u64,
    checkpoints: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFeeds {
    items: usize,
    page_size: usize,
}

fn default_title() -> String {
    "feedsvc".to_string()
}
fn default_author() -> String {
    "Staff".to_string()
}
fn default_language() -> String {
    "en".to_string()
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:8080".to_string(),
            feed_max_age: 300,
            page_max_age: 60,
            header_timeout_secs: 10,
            first_byte_timeout_secs: 5,
            max_connections: 10_000,
            log: "info".to_string(),
            min_poll_secs: 0,
        }
    }
}

/// `storage.busy_timeout_ms` when the configuration does not set it.
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 10_000;

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            database: PathBuf::from("data/feedsvc.db"),
            samples: PathBuf::new(),
            max_article_bytes: 1024 * 1024,
            busy_timeout_ms: DEFAULT_BUSY_TIMEOUT_MS,
            checkpoints: "feedsvc".to_string(),
        }
    }
}

impl Default for RawFeeds {
    fn default() -> Self {
        RawFeeds {
            items: 20,
            page_size: 20,
        }
    }
}

impl Config {
    /// Reads and validates the file at `path`. Errors name the file and the offending key.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: format!("cannot read the configuration file: {e}"),
        })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Config::parse(&text, path, &dir)
    }

    /// Parses configuration text; relative paths are resolved against `dir`.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Config> {
        let fail = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| fail(describe_toml_error(text, &e)))?;
        let base = url::Url::parse(raw.site.base_url.trim()).map_err(|e| {
            fail(format!(
                "site.base_url: \"{}\" is not an absolute URL ({e})",
                raw.site.base_url
            ))
        })?;
        if base.scheme() != "http" && base.scheme() != "https" {
            return Err(fail(format!(
                "site.base_url: \"{}\" must start with http:// or https://",
                raw.site.base_url
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(fail(format!(
                "site.base_url: \"{}\" must not have a query or fragment",
                raw.site.base_url
            )));
        }
        let host = base
            .host_str()
            .ok_or_else(|| fail("site.base_url: the URL has no host".to_string()))?
            .to_string();
        let mut base_url = base.to_string();
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        if raw.site.title.trim().is_empty() {
            return Err(fail("site.title: must not be empty".to_string()));
        }
        if raw.site.language.trim().is_empty()
            || !raw
                .site
                .language
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(fail(format!(
                "site.language: \"{}\" is not a language tag (like en or pt-BR)",
                raw.site.language
            )));
        }
        if raw.feeds.items == 0 || raw.feeds.items > 1000 {
            return Err(fail(format!(
                "feeds.items: {} must be between 1 and 1000",
                raw.feeds.items
            )));
        }
        if raw.feeds.page_size == 0 || raw.feeds.page_size > 1000 {
            return Err(fail(format!(
                "feeds.page_size: {} must be between 1 and 1000",
                raw.feeds.page_size
            )));
        }
        if raw.storage.max_article_bytes == 0 {
            return Err(fail(
                "storage.max_article_bytes: must be greater than 0".to_string(),
            ));
        }
        if raw.server.max_connections == 0 {
            return Err(fail(
                "server.max_connections: must be greater than 0".to_string(),
            ));
        }
        if raw.storage.database.as_os_str().is_empty() {
            return Err(fail("storage.database: must not be empty".to_string()));
        }
        let checkpoints = match raw.storage.checkpoints.as_str() {
            "feedsvc" => Checkpoints::Feedsvc,
            "litestream" => Checkpoints::Litestream,
            other => {
                return Err(fail(format!(
                    "storage.checkpoints: \"{other}\" is not \"feedsvc\" or \"litestream\""
                )))
            }
        };
        let hub = match raw.websub.hub.trim() {
            "" => Hub::Off,
            "builtin" => Hub::Builtin,
            other => {
                let url = url::Url::parse(other).map_err(|e| {
                    fail(format!(
                        "websub.hub: \"{other}\" is not \"builtin\", \"\" or an absolute URL ({e})"
                    ))
                })?;
                if url.scheme() != "http" && url.scheme() != "https" {
                    return Err(fail(format!(
                        "websub.hub: \"{other}\" must start with http:// or https://"
                    )));
                }
                Hub::External(url.to_string())
            }
        };
        if !(MIN_LEASE_SECONDS..=MAX_LEASE_SECONDS).contains(&raw.websub.lease_seconds) {
            return Err(fail(format!(
                "websub.lease_seconds: {} must be between {MIN_LEASE_SECONDS} and {MAX_LEASE_SECONDS}",
                raw.websub.lease_seconds
            )));
        }
        if !(1..=86_400).contains(&raw.stats.flush_secs) {
            return Err(fail(format!(
                "stats.flush_secs: {} must be between 1 and 86400",
                raw.stats.flush_secs
            )));
        }
        if raw.stats.retention_days == 0 {
            return Err(fail("stats.retention_days: must be at least 1".to_string()));
        }
        let admin = admin_settings(&raw.admin).map_err(fail)?;
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        };
        Ok(Config {
            path: path.to_path_buf(),
            site: Site {
                title: raw.site.title.trim().to_string(),
                base_url,
                host,
                description: raw.site.description.trim().to_string(),
                author: raw.site.author.trim().to_string(),
                language: raw.site.language.trim().to_string(),
            },
            server: Server {
                listen: raw.server.listen,
                feed_max_age: raw.server.feed_max_age,
                page_max_age: raw.server.page_max_age,
                header_timeout: Duration::from_secs(raw.server.header_timeout_secs.max(1)),
                // Never longer than the time allowed for the whole head.
                first_byte_timeout: Duration::from_secs(
                    raw.server
                        .first_byte_timeout_secs
                        .clamp(1, raw.server.header_timeout_secs.max(1)),
                ),
                max_connections: raw.server.max_connections,
                log: raw.server.log,
                min_poll_secs: raw.server.min_poll_secs,
            },
            storage: Storage {
                database: resolve(&raw.storage.database),
                samples: if raw.storage.samples.as_os_str().is_empty() {
                    None
                } else {
                    Some(resolve(&raw.storage.samples))
                },
                max_article_bytes: raw.storage.max_article_bytes,
                busy_timeout: Duration::from_millis(raw.storage.busy_timeout_ms),
                checkpoints,
            },
            feeds: Feeds {
                items: raw.feeds.items,
                page_size: raw.feeds.page_size,
            },
            websub: WebSub {
                hub,
                lease_seconds: raw.websub.lease_seconds,
                allow_private_callbacks: raw.websub.allow_private_callbacks,
                max_subscriptions: raw.websub.max_subscriptions,
            },
            stats: Stats {
                enabled: raw.stats.enabled,
                flush: Duration::from_secs(raw.stats.flush_secs),
                retention_days: raw.stats.retention_days,
            },
            admin,
        })
    }

    /// The counting's database, beside the archive's (`data/feedsvc-stats.db`).
    pub fn stats_database(&self) -> PathBuf {
        crate::store::stats::path_beside(&self.storage.database)
    }

    /// The URL of the hub the feeds advertise, if any.
    pub fn hub_url(&self) -> Option<String> {
        match &self.websub.hub {
            Hub::Off => None,
            Hub::Builtin => Some(crate::routes::Route::Hub.url(self)),
            Hub::External(url) => Some(url.clone()),
        }
    }

    /// The absolute URL of a site path such as `articles/x` (no leading slash).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.site.base_url, path.trim_start_matches('/'))
    }

    /// The path part of `base_url` (`/` or `/news/`), which prefixes every route.
    pub fn base_path(&self) -> &str {
        let after_scheme = self
            .site
            .base_url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or("");
        after_scheme
            .find('/')
            .map(|i| &after_scheme[i..])
            .unwrap_or("/")
    }
}

/// One line from a TOML error: the key it concerns (when it is about a value), the message,
/// and the line.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return message;
    };
    let start = span.start.min(text.len());
    let line_number = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_number - 1).unwrap_or("");
    let section = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(['[', ']']).trim().to_string());
    match (section, line.split_once('=')) {
        (Some(section), Some((key, _))) if !message.contains(key.trim()) => {
            format!("{section}.{}: {message} (line {line_number})", key.trim())
        }
        _ => format!("{message} (line {line_number})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("config.toml"), Path::new("/srv/site"))
    }

    #[test]
    fn minimal_config_gets_defaults_and_normalized_base_url() {
        let c = parse("[site]\nbase_url = \"https://news.example.org/world\"\n").unwrap();
        assert_eq!(c.site.base_url, "https://news.example.org/world/");
        assert_eq!(c.site.host, "news.example.org");
        assert_eq!(c.base_path(), "/world/");
        assert_eq!(
            c.url("articles/a"),
            "https://news.example.org/world/articles/a"
        );
        assert_eq!(c.feeds.items, 20);
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.storage.database, Path::new("/srv/site/data/feedsvc.db"));
        assert_eq!(c.storage.max_article_bytes, 1024 * 1024);
    }

    #[test]
    fn the_hub_is_builtin_unless_set() {
        let base = "[site]\nbase_url = \"https://news.example.org/world\"\n";
        let c = parse(base).unwrap();
        assert_eq!(c.websub.hub, Hub::Builtin);
        assert_eq!(
            c.hub_url().as_deref(),
            Some("https://news.example.org/world/websub")
        );
        assert_eq!(c.websub.lease_seconds, 864_000);
        assert!(!c.websub.allow_private_callbacks);
        assert_eq!(c.websub.max_subscriptions, 10_000);
        let off = parse(&format!("{base}[websub]\nhub = \"\"\n")).unwrap();
        assert_eq!(off.websub.hub, Hub::Off);
        assert_eq!(off.hub_url(), None);
        let external = parse(&format!(
            "{base}[websub]\nhub = \"https://hub.example.net/\"\n"
        ))
        .unwrap();
        assert_eq!(
            external.hub_url().as_deref(),
            Some("https://hub.example.net/")
        );
        for (value, key) in [
            ("hub = \"ftp://hub.example.net/\"", "websub.hub"),
            ("hub = \"built-in\"", "websub.hub"),
            ("lease_seconds = 60", "websub.lease_seconds"),
            ("lease_seconds = 2592001", "websub.lease_seconds"),
            ("leases = 1", "leases"),
        ] {
            let err = parse(&format!("{base}[websub]\n{value}\n")).unwrap_err();
            assert!(err.to_string().contains(key), "{value}: {err}");
        }
    }

    #[test]
    fn checkpoints_are_feedsvcs_unless_left_to_litestream() {
        let base = "[site]\nbase_url = \"https://news.example.org/\"\n";
        assert_eq!(
            parse(base).unwrap().storage.checkpoints,
            Checkpoints::Feedsvc
        );
        let left = parse(&format!("{base}[storage]\ncheckpoints = \"litestream\"\n")).unwrap();
        assert_eq!(left.storage.checkpoints, Checkpoints::Litestream);
        for value in ["\"Litestream\"", "\"\"", "\"none\""] {
            let err = parse(&format!("{base}[storage]\ncheckpoints = {value}\n")).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("storage.checkpoints"), "{value}: {text}");
            assert!(
                text.contains("\"feedsvc\" or \"litestream\""),
                "{value}: {text}"
            );
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse("[site]\nbase_url = \"http://a/\"\ncolour = \"red\"\n").unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn base_url_is_required_and_checked() {
        assert!(parse("[site]\ntitle = \"x\"\n")
            .unwrap_err()
            .to_string()
            .contains("base_url"));
        let err = parse("[site]\nbase_url = \"not a url\"\n").unwrap_err();
        assert!(err.to_string().contains("site.base_url"), "{err}");
        let err = parse("[site]\nbase_url = \"ftp://a/\"\n").unwrap_err();
        assert!(err.to_string().contains("http"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        let err = parse("[site]\nbase_url = \"http://a/\"\n[feeds]\nitems = 0\n").unwrap_err();
        assert!(err.to_string().contains("feeds.items"), "{err}");
        let err = parse("[site]\nbase_url = \"http://a/\"\n[feeds]\nitems = \"x\"\n").unwrap_err();
        assert!(
            err.to_string().contains("feeds.items: invalid type"),
            "{err}"
        );
        assert!(err.to_string().contains("(line 4)"), "{err}");
    }
}
