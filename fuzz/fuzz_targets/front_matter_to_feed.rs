//! Arbitrary bytes as an article file, through everything `feedsvc add` does to it short of
//! SQLite: front matter parsing, validation, Markdown rendering and sanitizing, the excerpt,
//! the timestamps' round trip through their stored text, then the Atom, RSS and JSON feeds, the
//! article page and the feeds' browser view. Every feed must parse back (feed-rs) with the
//! article's title, tags and date, XML feeds may hold only XML characters, the page has exactly
//! one `<script>` and the browser view none.
//! A panic anywhere is a bug.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use feedsvc::article::{parse_source, validate, Limits, NewArticle, Timestamp};
use feedsvc::config::Config;
use feedsvc::render::{self, atom, json, markdown, pages, rss, FeedSpec};
use feedsvc::article::Article;
use libfuzzer_sys::fuzz_target;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let text = "[site]\ntitle = \"Fuzz Wire\"\nbase_url = \"https://news.example.org/wire/\"\n\
                    description = \"Arbitrary input\"\n";
        Config::parse(text, Path::new("fuzz.toml"), Path::new("/nonexistent"))
            .expect("the fuzz configuration is valid")
    })
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_867_200, 0).expect("2026-11-28T12:00:00Z")
}

/// XML 1.0 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The article as the store gives it back: timestamps are kept as RFC 3339 text.
fn as_stored(cfg: &Config, new: &NewArticle) -> Article {
    let stored = |t: &Timestamp| {
        Timestamp::parse(&t.rfc3339())
            .unwrap_or_else(|e| panic!("stored timestamp {} does not parse back: {e}", t.rfc3339()))
    };
    let url = render::article_url(cfg, &new.slug);
    Article {
        id: 1,
        entry_id: format!(
            "tag:{},{}:{}",
            cfg.site.host,
            new.published.at.with_timezone(&Utc).format("%Y-%m-%d"),
            new.slug
        ),
        slug: new.slug.clone(),
        title: new.title.clone(),
        summary: new.summary.clone(),
        excerpt: markdown::excerpt(&new.body),
        author: new.author.clone(),
        body_markdown: new.body.clone(),
        body_format: new.body_format,
        body_html: markdown::render_html(&new.body, &url),
        published: stored(&new.published),
        updated: stored(&new.updated),
        is_pending: false,
        tags: new.tags.clone(),
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = config();
    let Ok(source) = parse_source("fuzz.md", data) else {
        return;
    };
    let limits = Limits {
        max_body_bytes: cfg.storage.max_article_bytes,
    };
    let Ok(new) = validate("fuzz.md", &source.fields, &source.body, now(), limits) else {
        return;
    };
    let article = as_stored(cfg, &new);
    if article.body_html.len() > render::MAX_ITEM_BYTES {
        return; // `publish::add` refuses it
    }
    let articles = [article];
    let spec = FeedSpec {
        cfg,
        title: cfg.site.title.clone(),
        description: cfg.site.description.clone(),
        dir: String::new(),
        page_url: cfg.site.base_url.clone(),
        articles: &articles,
        tombstones: &[],
        links: Vec::new(),
        is_archive: false,
        modified: 0,
    };
    let feeds = [
        ("atom", atom::render_atom(&spec).expect("Atom renders")),
        ("rss", rss::render_rss(&spec).expect("RSS renders")),
        ("json", json::render_json(&spec).expect("JSON Feed renders")),
    ];
    let names: Vec<&str> = new.tags.iter().map(|t| t.name.as_str()).collect();
    for (kind, bytes) in &feeds {
        let text = std::str::from_utf8(bytes).expect("feeds are UTF-8");
        if *kind != "json" {
            if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
                panic!("{kind}: U+{:04X} is not an XML character", c as u32);
            }
        }
        let feed = feed_rs::parser::parse(&bytes[..])
            .unwrap_or_else(|e| panic!("{kind} does not parse back: {e}\n{text}"));
        assert_eq!(feed.entries.len(), 1, "{kind} entries");
        let entry = &feed.entries[0];
        assert_eq!(
            entry.title.as_ref().map(|t| t.content.as_str()),
            Some(new.title.as_str()),
            "{kind} title"
        );
        let categories: Vec<&str> = entry
            .categories
            .iter()
            .map(|c| match *kind {
                "atom" => c.label.as_deref().unwrap_or_default(),
                _ => c.term.as_str(),
            })
            .collect();
        assert_eq!(categories, names, "{kind} categories");
        assert_eq!(
            entry.published,
            Some(new.published.at.with_timezone(&Utc)),
            "{kind} published ({})",
            new.published.rfc3339()
        );
    }
    let page = pages::render_article(cfg, &articles[0], None, None).expect("the page renders");
    let page = String::from_utf8(page).expect("pages are UTF-8");
    assert_eq!(
        page.to_ascii_lowercase().matches("<script").count(),
        1,
        "one <script> on the page:\n{page}"
    );
    let view = pages::render_feed_view(&spec).expect("the feed's browser view renders");
    let view = String::from_utf8(view).expect("pages are UTF-8");
    assert!(
        !view.to_ascii_lowercase().contains("<script"),
        "a <script> on the feed's browser view:\n{view}"
    );
});
