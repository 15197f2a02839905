//! Rendering: Markdown, feeds and pages, from stored articles to bytes. Never touches SQLite
//! or the network; `publish` decides what to render and stores the result.

pub mod assets;
pub mod atom;
pub mod body;
pub mod conform;
pub mod json;
pub mod markdown;
pub mod nesting;
pub mod pages;
pub mod rss;
pub mod sitemap;

use crate::article::Timestamp;
use crate::article::{Article, Tombstone};
use crate::config::Config;
use crate::document::Document;
use crate::routes::Route;

/// The `Content-Type` of each kind of document; the route table owns them.
pub use crate::routes::{ATOM_TYPE, HTML_TYPE, JSON_FEED_TYPE, RSS_TYPE, TEXT_TYPE, XML_TYPE};

/// Largest feed document we publish; older items lose their full content first.
pub const MAX_FEED_BYTES: usize = 1_000_000;

/// Largest rendered body of one article: half a feed, so any article fits in a feed with room
/// for the summaries of the others.
pub const MAX_ITEM_BYTES: usize = MAX_FEED_BYTES / 2;

/// The generator named in feeds.
pub const GENERATOR: &str = "feedsvc";
/// Its version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One feed to render: the site's or a tag's.
pub struct FeedSpec<'a> {
    /// The site configuration.
    pub cfg: &'a Config,
    /// Feed title.
    pub title: String,
    /// Feed description / subtitle.
    pub description: String,
    /// Directory of the feed files below the root: `""` or `"tags/north-korea/"`.
    pub dir: String,
    /// The HTML page the feed belongs to (absolute URL).
    pub page_url: String,
    /// Entries, newest first.
    pub articles: &'a [Article],
    /// Deleted entries to announce (Atom only).
    pub tombstones: &'a [Tombstone],
    /// Further links by relation (RFC 5005 `current`, `prev-archive`), absolute URLs.
    pub links: Vec<(&'static str, String)>,
    /// True for an archive document (RFC 5005 `fh:archive`), which never changes once its
    /// period is over.
    pub is_archive: bool,
    /// When the feed last changed (seconds since the epoch), when that is later than its
    /// newest entry: a back-dated entry, an edit that kept its date or a removal changes the
    /// feed without a newer entry. 0 when unknown.
    pub modified: i64,
}

/// Namespace of RFC 5005 feed history elements.
pub const HISTORY_NS: &str = "http://purl.org/syndication/history/1.0";

impl FeedSpec<'_> {
    /// The WebSub hub a subscription feed names (none for archives, or with no hub).
    pub fn hub_url(&self) -> Option<String> {
        if self.is_archive {
            None
        } else {
            self.cfg.hub_url()
        }
    }

    /// Absolute URL of one of this feed's files (`atom.xml`).
    pub fn url(&self, file: &str) -> String {
        self.cfg.url(&format!("{}{file}", self.dir))
    }

    /// When the feed was last modified (RFC 4287 §4.2.14): the newest `updated` among entries
    /// and tombstones, or [`FeedSpec::modified`] when later; the epoch for an empty feed. It
    /// never reads the clock, so re-rendering an unchanged feed gives the same bytes.
    pub fn updated(&self) -> Timestamp {
        let newest = self.newest_entry();
        if self.modified > newest.epoch() {
            if let Some(at) = chrono::DateTime::from_timestamp(self.modified, 0) {
                return Timestamp::from_utc(at);
            }
        }
        newest
    }

    /// The newest `updated` among entries and tombstones; the epoch for an empty feed.
    fn newest_entry(&self) -> Timestamp {
        let newest_entry = self
            .articles
            .iter()
            .map(|a| &a.updated)
            .max_by_key(|t| t.epoch());
        let newest_tombstone = self
            .tombstones
            .iter()
            .map(|t| &t.deleted)
            .max_by_key(|t| t.epoch());
        [newest_entry, newest_tombstone]
            .into_iter()
            .flatten()
            .max_by_key(|t| t.epoch())
            .cloned()
            .unwrap_or_else(|| Timestamp::from_utc(chrono::DateTime::UNIX_EPOCH))
    }
}

/// The byline of an article: its own author or the site's.
pub fn author_of<'a>(cfg: &'a Config, article: &'a Article) -> &'a str {
    article.author.as_deref().unwrap_or(&cfg.site.author)
}

/// Absolute URL of an article page.
pub fn article_url(cfg: &Config, slug: &str) -> String {
    Route::article(slug).url(cfg)
}

/// Absolute URL of a tag page.
pub fn tag_url(cfg: &Config, tag_slug: &str) -> String {
    Route::tag_page(tag_slug).url(cfg)
}

/// Renders with `render(keep_content)`, where `keep_content` is how many of the newest items
/// keep their full content; drops content from the oldest items until the result fits in
/// [`MAX_FEED_BYTES`] (binary search: the size grows with `keep_content`).
pub fn fit_feed(items: usize, mut render: impl FnMut(usize) -> Vec<u8>) -> Vec<u8> {
    let full = render(items);
    if full.len() <= MAX_FEED_BYTES || items == 0 {
        return full;
    }
    // Invariant: keeping `low` items fits (or low == 0), keeping `high` does not.
    let (mut low, mut high) = (0, items);
    let mut best = None;
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        let bytes = render(mid);
        if bytes.len() <= MAX_FEED_BYTES {
            low = mid;
            best = Some(bytes);
        } else {
            high = mid;
        }
    }
    best.unwrap_or_else(|| render(low))
}

/// Turns rendered bytes into a document: hashes them for the ETag.
pub fn encode(path: &str, content_type: &str, body: Vec<u8>, last_modified: i64) -> Document {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(&body);
    let etag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    Document {
        path: path.to_string(),
        status: 200,
        content_type: content_type.to_string(),
        location: None,
        body,
        etag,
        last_modified,
    }
}

/// A document that answers with a status other than 200 (301 redirects, 410 gone).
pub fn status_document(
    path: &str,
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
    last_modified: i64,
) -> Document {
    let mut doc = encode(path, HTML_TYPE, body, last_modified);
    doc.status = status;
    doc.location = location;
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_hashes_the_bytes() {
        let body = "<p>hello world</p>\n".repeat(100).into_bytes();
        let doc = encode("/x", HTML_TYPE, body.clone(), 7);
        assert_eq!(doc.etag.len(), 24);
        assert_eq!(
            encode("/x", HTML_TYPE, body.clone(), 7),
            doc,
            "same bytes, same document"
        );
        assert_ne!(encode("/x", HTML_TYPE, b"other".to_vec(), 7).etag, doc.etag);
    }

    #[test]
    fn fit_feed_searches_for_the_most_content_that_fits() {
        let mut calls = 0;
        let out = fit_feed(1000, |keep| {
            calls += 1;
            vec![b'x'; 2_000 * keep + 10]
        });
        assert_eq!(out.len(), 2_000 * 499 + 10);
        assert!(calls <= 12, "{calls} renders");
        assert_eq!(fit_feed(3, |keep| vec![b'x'; 10 * keep]).len(), 30);
    }

    /// Ten articles, newest first, whose bodies together are about twice the feed budget.
    fn heavy_articles() -> Vec<Article> {
        (0..10)
            .map(|n| {
                let at = Timestamp::parse(&format!("2026-09-{:02}T09:00:00Z", 20 - n)).unwrap();
                Article {
                    id: n as i64,
                    entry_id: format!("tag:example.org,2026-09-{:02}:story-{n}", 20 - n),
                    slug: format!("story-{n}"),
                    title: format!("Story {n}"),
                    summary: Some(format!("What story {n} says")),
                    excerpt: String::new(),
                    author: None,
                    body_markdown: String::new(),
                    body_format: Default::default(),
                    // 150 to 240 KB, so the cut does not fall on an even count by chance.
                    body_html: format!("<p>{}</p>", "words ".repeat(25_000 + 1_500 * n)),
                    published: at.clone(),
                    updated: at,
                    is_pending: false,
                    tags: Vec::new(),
                }
            })
            .collect()
    }

    /// What a reader gets from one entry: its id, whether it has full content, its summary.
    type Shown = (String, bool, String);

    /// The newest entries keep their full content, every older one has lost it and kept its
    /// summary, and the feed holds as much content as the budget allows.
    #[track_caller]
    fn assert_oldest_lose_content_first(articles: &[Article], bytes: &[u8], shown: &[Shown]) {
        assert!(bytes.len() <= MAX_FEED_BYTES, "{} bytes", bytes.len());
        let ids: Vec<&str> = shown.iter().map(|(id, _, _)| id.as_str()).collect();
        let expected: Vec<&str> = articles.iter().map(|a| a.entry_id.as_str()).collect();
        assert_eq!(ids, expected, "every entry stays, newest first");
        for ((_, _, summary), article) in shown.iter().zip(articles) {
            assert_eq!(summary, article.description());
        }
        let kept = shown.iter().take_while(|(_, full, _)| *full).count();
        assert!(
            shown[kept..].iter().all(|(_, full, _)| !full),
            "content after a content-less entry: {:?}",
            shown.iter().map(|(_, full, _)| full).collect::<Vec<_>>()
        );
        assert!(kept >= 1 && kept < articles.len(), "kept {kept}");
        // One more body would not have fitted.
        assert!(
            bytes.len() + articles[kept].body_html.len() > MAX_FEED_BYTES,
            "{} bytes with {kept} bodies: room for one more",
            bytes.len()
        );
    }

    fn spec<'a>(cfg: &'a Config, articles: &'a [Article]) -> FeedSpec<'a> {
        FeedSpec {
            cfg,
            title: "Test Wire".to_string(),
            description: String::new(),
            dir: String::new(),
            page_url: cfg.url(""),
            articles,
            tombstones: &[],
            links: Vec::new(),
            is_archive: false,
            modified: 0,
        }
    }

    fn config() -> Config {
        Config::parse(
            "[site]\nbase_url = \"http://example.org/\"\n",
            std::path::Path::new("config.toml"),
            std::path::Path::new("/"),
        )
        .unwrap()
    }

    #[test]
    fn atom_drops_content_of_the_oldest_entries_first() {
        let (cfg, articles) = (config(), heavy_articles());
        let bytes = atom::render_atom(&spec(&cfg, &articles)).unwrap();
        let feed = atom_syndication::Feed::read_from(&bytes[..]).unwrap();
        let shown: Vec<Shown> = feed
            .entries()
            .iter()
            .map(|e| {
                let content = e.content().and_then(|c| c.value());
                if let Some(html) = content {
                    let article = articles.iter().find(|a| a.entry_id == e.id()).unwrap();
                    assert_eq!(html, article.body_html);
                }
                let summary = e.summary().map(|s| s.value.clone()).unwrap_or_default();
                (e.id().to_string(), content.is_some(), summary)
            })
            .collect();
        assert_oldest_lose_content_first(&articles, &bytes, &shown);
    }

    #[test]
    fn rss_drops_content_of_the_oldest_items_first() {
        let (cfg, articles) = (config(), heavy_articles());
        let bytes = rss::render_rss(&spec(&cfg, &articles)).unwrap();
        let channel = ::rss::Channel::read_from(&bytes[..]).unwrap();
        let shown: Vec<Shown> = channel
            .items()
            .iter()
            .map(|item| {
                let id = item.guid().unwrap().value().to_string();
                if let Some(html) = item.content() {
                    let article = articles.iter().find(|a| a.entry_id == id).unwrap();
                    assert_eq!(html, article.body_html);
                }
                let summary = item.description().unwrap_or_default().to_string();
                (id, item.content().is_some(), summary)
            })
            .collect();
        assert_oldest_lose_content_first(&articles, &bytes, &shown);
    }

    #[test]
    fn json_feed_drops_content_of_the_oldest_items_first() {
        let (cfg, articles) = (config(), heavy_articles());
        let bytes = json::render_json(&spec(&cfg, &articles)).unwrap();
        let feed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let shown: Vec<Shown> = feed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let id = item["id"].as_str().unwrap().to_string();
                let summary = item["summary"].as_str().unwrap().to_string();
                let full = match item["content_html"].as_str() {
                    Some(html) => {
                        let article = articles.iter().find(|a| a.entry_id == id).unwrap();
                        assert_eq!(html, article.body_html);
                        true
                    }
                    // An item without content_html must carry content_text: the summary.
                    None => {
                        assert_eq!(item["content_text"].as_str(), Some(summary.as_str()));
                        false
                    }
                };
                (id, full, summary)
            })
            .collect();
        assert_oldest_lose_content_first(&articles, &bytes, &shown);
    }

    /// Two entries, the first with markup in its title and its own author and offset.
    fn two_articles() -> Vec<Article> {
        let mut articles: Vec<Article> = heavy_articles().into_iter().take(2).collect();
        for a in &mut articles {
            a.body_html = "<p>Body.</p>".to_string();
        }
        articles[0].title = "Tom & Jerry <b>meet</b>".to_string();
        articles[0].author = Some("A. Reporter".to_string());
        articles[0].published = Timestamp::parse("2026-09-20T23:30:00-04:00").unwrap();
        articles
    }

    fn texts(html: &scraper::Html, css: &str) -> Vec<String> {
        let selector = scraper::Selector::parse(css).unwrap();
        html.select(&selector)
            .map(|e| {
                e.text()
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn attrs(html: &scraper::Html, css: &str, name: &str) -> Vec<String> {
        let selector = scraper::Selector::parse(css).unwrap();
        html.select(&selector)
            .filter_map(|e| e.value().attr(name).map(str::to_string))
            .collect()
    }

    #[test]
    fn the_browser_view_shows_the_entries_with_dates_for_people() {
        let (cfg, articles) = (config(), two_articles());
        let mut spec = spec(&cfg, &articles);
        spec.description = "Wire copy".to_string();
        let bytes = pages::render_feed_view(&spec).unwrap();
        let html = scraper::Html::parse_document(std::str::from_utf8(&bytes).unwrap());
        assert_eq!(texts(&html, "title"), ["Test Wire (web feed)"]);
        assert_eq!(texts(&html, "main h1"), ["Test Wire"]);
        assert_eq!(texts(&html, "main .dek"), ["Wire copy"]);
        assert_eq!(attrs(&html, "meta[name=robots]", "content"), ["noindex"]);
        // The note says what this is and gives both addresses to copy.
        let note = texts(&html, ".feed-note").join(" ");
        assert!(note.contains("This is a web feed."), "{note}");
        assert_eq!(
            texts(&html, ".feed-note code"),
            ["http://example.org/atom.xml", "http://example.org/rss.xml"]
        );
        // Every entry, newest first, linked, with its date as the author wrote it.
        assert_eq!(
            texts(&html, ".teaser h2 a"),
            ["Tom & Jerry <b>meet</b>", "Story 1"]
        );
        assert_eq!(
            attrs(&html, ".teaser h2 a", "href"),
            [
                "http://example.org/articles/story-0",
                "http://example.org/articles/story-1"
            ]
        );
        assert_eq!(
            texts(&html, ".teaser .meta"),
            [
                "20 September 2026 · A. Reporter",
                "19 September 2026 · Staff"
            ]
        );
        assert_eq!(
            attrs(&html, ".teaser time", "datetime"),
            ["2026-09-20T23:30:00-04:00", "2026-09-19T09:00:00Z"]
        );
        assert_eq!(
            texts(&html, ".teaser .summary"),
            ["What story 0 says", "What story 1 says"]
        );
        assert!(texts(&html, "b").is_empty(), "markup in a title is text");

        let empty = pages::render_feed_view(&FeedSpec {
            articles: &[],
            ..spec
        })
        .unwrap();
        let empty = scraper::Html::parse_document(std::str::from_utf8(&empty).unwrap());
        assert!(texts(&empty, ".teaser").is_empty());
        assert!(texts(&empty, "main p").contains(&"This feed has no entries yet.".to_string()));
    }

    #[test]
    fn an_archive_view_offers_the_site_feed() {
        let (cfg, articles) = (config(), two_articles());
        let spec = FeedSpec {
            title: "Test Wire — archive 2026-09".to_string(),
            dir: "archive/2026-09/".to_string(),
            is_archive: true,
            ..spec(&cfg, &articles)
        };
        let bytes = pages::render_feed_view(&spec).unwrap();
        let html = scraper::Html::parse_document(std::str::from_utf8(&bytes).unwrap());
        assert_eq!(texts(&html, "main h1"), ["Test Wire — archive 2026-09"]);
        assert_eq!(
            texts(&html, ".feed-note code"),
            ["http://example.org/atom.xml"]
        );
        let alternates = attrs(&html, "link[rel=alternate]", "href");
        assert!(
            alternates.iter().all(|href| !href.contains("archive")),
            "{alternates:?}"
        );
        assert_eq!(texts(&html, ".teaser h2 a").len(), 2);
    }
}
