//! Every URL of a site, in one place: what a path names ([`Route`]), how to build its path and
//! absolute URL, how to read a request path back into it, and what follows from it (the
//! content type, the cache policy, whether it is rendered on request).
//!
//! Adding a route means a variant here (with its path in [`Route::path`] and [`Route::parse`],
//! and its kind in [`Route::kind`]) and the code that renders it; nothing else builds or
//! parses URLs.

use chrono::{DateTime, Datelike};

use crate::config::Config;

/// Query parameters that name a page on the platforms archives are imported from: WordPress's
/// `p` (a post), `page_id`, `cat` and `feed`, Blogger's `alt` (a feed's format).
const NAMING_PARAMETERS: [&str; 5] = ["p", "page_id", "cat", "feed", "alt"];

/// The key an old URL (from an import) is kept and looked up under: its normalized `path`,
/// with `?` and the parameters of `query` that name a page (sorted), when it has any. Other
/// parameters (`utm_source`, Blogger's `m=1`) are left out, so they reach the same page.
pub fn old_url_key(path: &str, query: Option<&str>) -> String {
    let mut naming: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            NAMING_PARAMETERS.contains(&name)
        })
        .collect();
    if naming.is_empty() {
        return path.to_string();
    }
    naming.sort_unstable();
    format!("{path}?{}", naming.join("&"))
}

/// A feed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RSS 2.0, `rss.xml`.
    Rss,
    /// Atom 1.0, `atom.xml`.
    Atom,
    /// JSON Feed 1.1, `feed.json`.
    Json,
}

impl Format {
    /// Every format, in the order feeds are rendered and linked.
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    /// The file name of a feed of this format.
    pub fn file(self) -> &'static str {
        match self {
            Format::Rss => "rss.xml",
            Format::Atom => "atom.xml",
            Format::Json => "feed.json",
        }
    }

    /// The `Content-Type` of a feed of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => RSS_TYPE,
            Format::Atom => ATOM_TYPE,
            Format::Json => JSON_FEED_TYPE,
        }
    }

    fn from_file(file: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.file() == file)
    }
}

/// `Content-Type` of RSS documents.
pub const RSS_TYPE: &str = "application/rss+xml; charset=utf-8";
/// Atom documents.
pub const ATOM_TYPE: &str = "application/atom+xml; charset=utf-8";
/// JSON Feed documents.
pub const JSON_FEED_TYPE: &str = "application/feed+json; charset=utf-8";
/// HTML pages.
pub const HTML_TYPE: &str = "text/html; charset=utf-8";
/// XML documents that are not feeds (sitemaps).
pub const XML_TYPE: &str = "application/xml; charset=utf-8";
/// Plain text (robots.txt).
pub const TEXT_TYPE: &str = "text/plain; charset=utf-8";
/// Stylesheets.
pub const CSS_TYPE: &str = "text/css; charset=utf-8";

/// A calendar month in UTC: the period of one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month containing the instant `epoch` (UTC).
    pub fn of(epoch: i64) -> Month {
        let at = DateTime::from_timestamp(epoch, 0).unwrap_or_default();
        Month {
            year: at.year(),
            month: at.month(),
        }
    }

    /// Parses `YYYY-MM` exactly as [`Month::dir`] writes it.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(month, 2) {
            return None;
        }
        let month = Month {
            year: year.parse().ok()?,
            month: month.parse().ok()?,
        };
        (1..=12).contains(&month.month).then_some(month)
    }

    /// First second of the month.
    pub fn start(self) -> i64 {
        chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp())
            .unwrap_or(0)
    }

    /// First second of the next month.
    pub fn end(self) -> i64 {
        let (year, month) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        Month { year, month }.start()
    }

    /// `YYYY-MM`.
    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// The scope under which the store records when this month's articles last changed.
    pub fn scope(self) -> String {
        format!("{}{}", Self::SCOPE_PREFIX, self.label())
    }

    /// The scope stamped when the months linked before and after this one change.
    pub fn links_scope(self) -> String {
        format!("links:{}", self.label())
    }

    /// What every month's scope starts with.
    pub const SCOPE_PREFIX: &'static str = "month:";
    /// Past every month's scope in byte order.
    pub const SCOPE_END: &'static str = "month;";

    /// Directory of its documents below the root: `archive/2026-09/`.
    pub fn dir(self) -> String {
        format!("archive/{}/", self.label())
    }
}

/// A document of a month's archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveFile {
    /// The archived feed (RFC 5005) in RSS or Atom.
    Feed(Format),
    /// The month's sitemap.
    Sitemap,
}

/// What a path of the site names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// The index (`tag: None`) or a tag's page, page 1 or a deeper one (`page/N/`).
    List { tag: Option<String>, page: usize },
    /// A feed of the site (`tag: None`) or of a tag.
    Feed { tag: Option<String>, format: Format },
    /// An article's page (also the 301 of an old slug, or the 410 of a deleted article).
    Article { slug: String },
    /// A month's archived feed or sitemap.
    Archive { month: Month, file: ArchiveFile },
    /// The sitemap index.
    SitemapIndex,
    /// `robots.txt`.
    Robots,
    /// The page served with every 404.
    NotFound,
    /// A fingerprinted asset (`assets/NAME`).
    Asset { name: String },
    /// The built-in WebSub hub (`websub`), which takes subscription requests by POST.
    Hub,
}

/// The family of documents a request falls in, as the metrics count requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A subscription feed: the site's or a tag's, in any format.
    Feed,
    /// The index, tag pages and article pages.
    Page,
    /// A month's archived feed.
    Archive,
    /// The sitemap index and the months' sitemaps.
    Sitemap,
    /// Fingerprinted assets.
    Asset,
    /// `robots.txt`.
    Robots,
    /// The built-in WebSub hub.
    Hub,
    /// The liveness probe.
    Health,
    /// Anything else: 404s, refusals, malformed requests.
    Other,
}

impl Family {
    /// Every family, in the order of [`Family::index`].
    pub const ALL: [Family; 9] = [
        Family::Feed,
        Family::Page,
        Family::Archive,
        Family::Sitemap,
        Family::Asset,
        Family::Robots,
        Family::Hub,
        Family::Health,
        Family::Other,
    ];

    /// Its place in [`Family::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its name in the metrics (`feed`, `page` …).
    pub fn label(self) -> &'static str {
        match self {
            Family::Feed => "feed",
            Family::Page => "page",
            Family::Archive => "archive",
            Family::Sitemap => "sitemap",
            Family::Asset => "asset",
            Family::Robots => "robots",
            Family::Hub => "hub",
            Family::Health => "health",
            Family::Other => "other",
        }
    }
}

/// How long an answer may be kept, by kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Feeds: `server.feed_max_age`.
    Feed,
    /// Pages, sitemaps and the like: `server.page_max_age`.
    Page,
    /// Fingerprinted assets: a year, immutable.
    Immutable,
}

/// A feed may be served stale, while it is revalidated, for this many times its max-age.
const FEED_STALE_FACTOR: u64 = 2;
/// A page may be served stale for this many times its max-age (counted from at least
/// [`PAGE_STALE_FLOOR_SECS`]).
const PAGE_STALE_FACTOR: u64 = 5;
/// The least max-age the page's stale window is counted from.
const PAGE_STALE_FLOOR_SECS: u64 = 60;
/// How long a stored redirect (an old slug) may be kept.
const REDIRECT_MAX_AGE_SECS: u32 = 3600;
/// How long a 404 or 410 may be kept.
const ERROR_MAX_AGE_SECS: u32 = 60;
/// Fingerprinted assets never change: a year.
const IMMUTABLE_MAX_AGE_SECS: u32 = 31_536_000;

/// The `Cache-Control` of each kind of answer, as `serve` sends it and as a static export
/// tells its server to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheControl {
    /// A 200 of a feed ([`Freshness::Feed`]).
    pub feed: String,
    /// A 200 of a page, sitemap or the like ([`Freshness::Page`]).
    pub page: String,
    /// A 301.
    pub redirect: String,
    /// A 404 or 410.
    pub error: String,
    /// A fingerprinted asset ([`Freshness::Immutable`]).
    pub immutable: String,
}

impl CacheControl {
    /// The values for the site configured in `cfg` (`server.feed_max_age`, `page_max_age`).
    pub fn of(cfg: &Config) -> CacheControl {
        let feed = cfg.server.feed_max_age;
        let page = cfg.server.page_max_age;
        CacheControl {
            feed: format!(
                "max-age={feed}, stale-while-revalidate={}",
                feed * FEED_STALE_FACTOR
            ),
            page: format!(
                "max-age={page}, stale-while-revalidate={}",
                page.max(PAGE_STALE_FLOOR_SECS) * PAGE_STALE_FACTOR
            ),
            redirect: format!("max-age={REDIRECT_MAX_AGE_SECS}"),
            error: format!("max-age={ERROR_MAX_AGE_SECS}"),
            immutable: format!("max-age={IMMUTABLE_MAX_AGE_SECS}, immutable"),
        }
    }

    /// The value for a 200 of the given freshness.
    pub fn for_freshness(&self, freshness: Freshness) -> &str {
        match freshness {
            Freshness::Feed => &self.feed,
            Freshness::Page => &self.page,
            Freshness::Immutable => &self.immutable,
        }
    }
}

/// Headers every HTML answer carries: a policy that allows no script at all, no framing, and
/// referrers cut to the origin across sites. `serve` sends them; an export tells its static
/// server to. Names in lower case, as the HTTP layer's header names are built from them at
/// compile time.
pub const HTML_SECURITY_HEADERS: [(&str, &str); 3] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self' https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-frame-options", "DENY"),
];

/// What follows from a route for the code that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// `Content-Type` of a 200 answer.
    pub content_type: &'static str,
    /// Its cache policy.
    pub freshness: Freshness,
}

impl Route {
    /// The site's index page.
    pub const INDEX: Route = Route::List { tag: None, page: 1 };

    /// A tag's first page.
    pub fn tag_page(slug: &str) -> Route {
        Route::List {
            tag: Some(slug.to_string()),
            page: 1,
        }
    }

    /// A feed of the site (`tag: None`) or of a tag.
    pub fn feed(tag: Option<&str>, format: Format) -> Route {
        Route::Feed {
            tag: tag.map(str::to_string),
            format,
        }
    }

    /// An article's page.
    pub fn article(slug: &str) -> Route {
        Route::Article {
            slug: slug.to_string(),
        }
    }

    /// The path below the site's root, without the leading slash: `tags/asia/atom.xml`.
    pub fn relative(&self) -> String {
        let list_dir = |tag: &Option<String>| match tag {
            Some(slug) => format!("tags/{slug}/"),
            None => String::new(),
        };
        match self {
            Route::List { tag, page: 1 } => list_dir(tag),
            Route::List { tag, page } => format!("{}page/{page}/", list_dir(tag)),
            Route::Feed { tag, format } => format!("{}{}", list_dir(tag), format.file()),
            Route::Article { slug } => format!("articles/{slug}"),
            Route::Archive { month, file } => {
                let name = match file {
                    ArchiveFile::Feed(format) => format.file(),
                    ArchiveFile::Sitemap => "sitemap.xml",
                };
                format!("{}{name}", month.dir())
            }
            Route::SitemapIndex => "sitemap.xml".to_string(),
            Route::Robots => "robots.txt".to_string(),
            Route::NotFound => "404".to_string(),
            Route::Asset { name } => format!("assets/{name}"),
            Route::Hub => "websub".to_string(),
        }
    }

    /// The path the server answers at, under the base URL's path: `/news/tags/asia/atom.xml`.
    pub fn path(&self, cfg: &Config) -> String {
        format!("{}{}", cfg.base_path(), self.relative())
    }

    /// The absolute URL: every link in feeds and pages is one.
    pub fn url(&self, cfg: &Config) -> String {
        cfg.url(&self.relative())
    }

    /// What a normalized request path (see `http::target`) names, if anything.
    pub fn parse(cfg: &Config, path: &str) -> Option<Route> {
        let rest = path.strip_prefix(cfg.base_path())?;
        let (tag, rest) = match rest.strip_prefix("tags/") {
            Some(after) => {
                let (slug, rest) = after.split_once('/')?;
                if slug.is_empty() {
                    return None;
                }
                (Some(slug.to_string()), rest)
            }
            None => (None, rest),
        };
        if rest.is_empty() {
            return Some(Route::List { tag, page: 1 });
        }
        if let Some(number) = rest.strip_prefix("page/").and_then(|n| n.strip_suffix('/')) {
            let page = parse_page(number)?;
            return Some(Route::List { tag, page });
        }
        if let Some(format) = Format::from_file(rest) {
            return Some(Route::Feed { tag, format });
        }
        if tag.is_some() {
            return None;
        }
        let route = match rest {
            "sitemap.xml" => Route::SitemapIndex,
            "robots.txt" => Route::Robots,
            "404" => Route::NotFound,
            "websub" => Route::Hub,
            _ => {
                if let Some(slug) = rest.strip_prefix("articles/") {
                    if slug.is_empty() || slug.contains('/') {
                        return None;
                    }
                    return Some(Route::article(slug));
                }
                if let Some(name) = rest.strip_prefix("assets/") {
                    if name.is_empty() || name.contains('/') {
                        return None;
                    }
                    return Some(Route::Asset {
                        name: name.to_string(),
                    });
                }
                let (month, name) = rest.strip_prefix("archive/")?.split_once('/')?;
                let month = Month::parse(month)?;
                let file = match name {
                    "sitemap.xml" => ArchiveFile::Sitemap,
                    "rss.xml" => ArchiveFile::Feed(Format::Rss),
                    "atom.xml" => ArchiveFile::Feed(Format::Atom),
                    _ => return None,
                };
                Route::Archive { month, file }
            }
        };
        Some(route)
    }

    /// Content type, cache policy and how it is rendered.
    /// The family the metrics count this route's requests in.
    pub fn family(&self) -> Family {
        match self {
            Route::Feed { .. } => Family::Feed,
            Route::List { .. } | Route::Article { .. } => Family::Page,
            Route::Archive {
                file: ArchiveFile::Feed(_),
                ..
            } => Family::Archive,
            Route::Archive {
                file: ArchiveFile::Sitemap,
                ..
            }
            | Route::SitemapIndex => Family::Sitemap,
            Route::Asset { .. } => Family::Asset,
            Route::Robots => Family::Robots,
            Route::Hub => Family::Hub,
            Route::NotFound => Family::Other,
        }
    }

    pub fn kind(&self) -> Kind {
        let html = Kind {
            content_type: HTML_TYPE,
            freshness: Freshness::Page,
        };
        let feed = |format: Format| Kind {
            content_type: format.content_type(),
            freshness: Freshness::Feed,
        };
        let sitemap = Kind {
            content_type: XML_TYPE,
            freshness: Freshness::Page,
        };
        match self {
            Route::List { .. } | Route::Article { .. } | Route::NotFound => html,
            Route::Feed { format, .. }
            | Route::Archive {
                file: ArchiveFile::Feed(format),
                ..
            } => feed(*format),
            Route::Archive {
                file: ArchiveFile::Sitemap,
                ..
            }
            | Route::SitemapIndex => sitemap,
            Route::Robots | Route::Hub => Kind {
                content_type: TEXT_TYPE,
                freshness: Freshness::Page,
            },
            Route::Asset { name } => Kind {
                content_type: if name.ends_with(".css") {
                    CSS_TYPE
                } else {
                    "application/octet-stream"
                },
                freshness: Freshness::Immutable,
            },
        }
    }
}

/// A list page number as written in a path: 2 or more, no leading zero.
fn parse_page(number: &str) -> Option<usize> {
    if number.starts_with('0') || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok().filter(|&n| n >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(base: &str) -> Config {
        Config::parse(
            &format!("[site]\nbase_url = \"{base}\"\n"),
            Path::new("c"),
            Path::new("/"),
        )
        .expect("a configuration")
    }

    /// Every route reads back from the path it builds, under a root and under a path prefix.
    #[test]
    fn every_route_round_trips() {
        let month = Month::of(1_788_000_000);
        let routes = [
            Route::INDEX,
            Route::List {
                tag: None,
                page: 12,
            },
            Route::tag_page("north-korea"),
            Route::List {
                tag: Some("north-korea".into()),
                page: 2,
            },
            Route::feed(None, Format::Rss),
            Route::feed(None, Format::Atom),
            Route::feed(None, Format::Json),
            Route::feed(Some("asia"), Format::Json),
            Route::article("geneva-talks"),
            Route::Archive {
                month,
                file: ArchiveFile::Feed(Format::Atom),
            },
            Route::Archive {
                month,
                file: ArchiveFile::Feed(Format::Rss),
            },
            Route::Archive {
                month,
                file: ArchiveFile::Sitemap,
            },
            Route::SitemapIndex,
            Route::Robots,
            Route::NotFound,
            Route::Hub,
            Route::Asset {
                name: "style.0123456789.css".into(),
            },
        ];
        for base in ["http://a.test/", "https://a.test/news/"] {
            let cfg = cfg(base);
            for route in &routes {
                let path = route.path(&cfg);
                assert_eq!(Route::parse(&cfg, &path).as_ref(), Some(route), "{path}");
                assert_eq!(route.url(&cfg), format!("{base}{}", route.relative()));
            }
        }
    }

    #[test]
    fn paths_that_name_nothing() {
        let cfg = cfg("http://a.test/news/");
        for path in [
            "/page/2/",
            "/news/page/1/",
            "/news/page/02/",
            "/news/page/x/",
            "/news/page/2",
            "/news/page/-1/",
            "/news/tags/x/page/",
            "/news/tags//atom.xml",
            "/news/tags/x/robots.txt",
            "/news/tags/x/articles/y",
            "/news/articles/",
            "/news/articles/a/b",
            "/news/archive/2026-9/atom.xml",
            "/news/archive/2026-13/atom.xml",
            "/news/archive/2026-09/feed.json",
            "/news/archive/2026-09/",
            "/news/assets/",
            "/news/config.toml",
        ] {
            assert_eq!(Route::parse(&cfg, path), None, "{path}");
        }
    }

    #[test]
    fn kinds() {
        let atom = Route::feed(None, Format::Atom).kind();
        assert_eq!(
            (atom.content_type, atom.freshness),
            (ATOM_TYPE, Freshness::Feed)
        );
        // A sitemap is XML but not a feed: the page policy, not the feed one.
        let sitemap = Route::SitemapIndex.kind();
        assert_eq!(
            (sitemap.content_type, sitemap.freshness),
            (XML_TYPE, Freshness::Page)
        );
        let asset = Route::Asset {
            name: "style.0123456789.css".into(),
        }
        .kind();
        assert_eq!(
            (asset.content_type, asset.freshness),
            (CSS_TYPE, Freshness::Immutable)
        );
    }

    #[test]
    fn months_span_their_days() {
        let march = Month::parse("2026-03").expect("a month");
        assert_eq!(march.start(), 1_772_323_200);
        assert_eq!(Month::of(march.end() - 1), march);
        assert_eq!(
            Month::of(march.end()),
            Month::parse("2026-04").expect("a month")
        );
        let december = Month::parse("2026-12").expect("a month");
        assert_eq!(Month::of(december.end()).label(), "2027-01");
    }
}
