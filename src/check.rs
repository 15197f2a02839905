//! `feedsvc check`: re-lints every published document and checks that feeds, pages and the
//! article table agree. Reports problems; changes nothing.

use std::collections::HashSet;

use crate::config::Config;
use crate::document::Document;
use crate::render::{self, MAX_FEED_BYTES};
use crate::store::articles::ArticleQueries;
use crate::store::Store;
use crate::text::is_feed_char;
use crate::Result;

/// One thing wrong with the published site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The document's path (or `-` for the archive as a whole).
    pub path: String,
    /// What is wrong.
    pub what: String,
}

/// What `check` looked at.
#[derive(Debug, Default)]
pub struct Report {
    /// Documents inspected.
    pub documents: usize,
    /// Articles inspected.
    pub articles: usize,
    /// Problems found.
    pub problems: Vec<Problem>,
}

/// The site feeds, which must carry the newest published articles in order.
const SITE_FEEDS: [&str; 3] = ["atom.xml", "rss.xml", "feed.json"];

/// Checks every stored document, every archive and sitemap the server would render, the page
/// browsers get at each RSS and Atom feed, and the agreement between articles, pages and feeds.
pub fn check_site(store: &Store, cfg: &Config) -> Result<Report> {
    let mut report = Report::default();
    // Browser views are no paths of their own: each is checked with the feeds that answer it.
    let stored = store
        .all_document_paths()?
        .into_iter()
        .filter(|path| !crate::views::is_browser_view_key(path))
        .map(|path| {
            let doc = store.document(&path)?.1;
            Ok(doc)
        });
    let on_request = crate::ondemand::archive_paths(store, cfg)?
        .into_iter()
        .map(|path| crate::ondemand::archive_document(store, cfg, &path));
    for doc in stored.chain(on_request) {
        let Some(doc) = doc? else {
            continue;
        };
        report.documents += 1;
        let mut problems = lint_document(cfg, &doc);
        if crate::views::has_browser_view(&doc) {
            problems.extend(browser_view_problems(store, cfg, &doc.path)?);
        }
        for what in problems {
            report.problems.push(Problem {
                path: doc.path.clone(),
                what,
            });
        }
    }
    let articles = store.all_articles()?;
    report.articles = articles.len();
    for article in articles.iter().filter(|a| !a.is_pending) {
        let path = crate::routes::Route::article(&article.slug).path(cfg);
        match store.document(&path)?.1 {
            Some(doc) if doc.status == 200 => {}
            Some(doc) => report.problems.push(Problem {
                path,
                what: format!("the page of a published article answers {}", doc.status),
            }),
            None => report.problems.push(Problem {
                path,
                what: "the page of a published article is missing".to_string(),
            }),
        }
    }
    let newest: Vec<&str> = articles
        .iter()
        .filter(|a| !a.is_pending)
        .take(cfg.feeds.items)
        .map(|a| a.entry_id.as_str())
        .collect();
    for file in SITE_FEEDS {
        // Atom carries an id that is not an absolute IRI in a `tag:` URI (`render::atom`).
        let expected: Vec<String> = newest
            .iter()
            .map(|id| match file.ends_with("atom.xml") {
                true => crate::render::atom::atom_id(cfg, id).into_owned(),
                false => id.to_string(),
            })
            .collect();
        let path = format!("{}{file}", cfg.base_path());
        match store.document(&path)?.1 {
            Some(doc) => {
                // A feed that does not parse is reported by the lint above.
                let Some(feed) = read_feed(&doc, &mut Vec::new()) else {
                    continue;
                };
                let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
                if ids != expected {
                    report.problems.push(Problem {
                        path,
                        what: format!(
                            "holds {} entries that differ from the newest {} published articles",
                            ids.len(),
                            expected.len()
                        ),
                    });
                }
            }
            None if !expected.is_empty() => report.problems.push(Problem {
                path,
                what: "the site feed is missing".to_string(),
            }),
            None => {}
        }
    }
    Ok(report)
}

/// Lints one document: parses, unique ids, absolute links, dates, sizes, characters.
pub fn lint_document(cfg: &Config, doc: &Document) -> Vec<String> {
    let mut problems = Vec::new();
    if doc.status != 200 {
        return problems;
    }
    let Ok(text) = std::str::from_utf8(&doc.body) else {
        problems.push("is not UTF-8".to_string());
        return problems;
    };
    // Written as they are, or as numeric references (`&#1;`), which a parser decodes.
    let mut chars = text.chars().chain(character_references(text));
    if let Some(c) = chars.find(|&c| !is_feed_char(c)) {
        problems.push(non_feed_char(c));
    }
    if !is_feed(doc) {
        return problems;
    }
    if doc.body.len() > MAX_FEED_BYTES {
        problems.push(format!(
            "is {} bytes, over the {MAX_FEED_BYTES} byte budget",
            doc.body.len()
        ));
    }
    let Some(feed) = read_feed(doc, &mut problems) else {
        return problems;
    };
    let self_url = cfg.url(doc.path.strip_prefix(cfg.base_path()).unwrap_or(&doc.path));
    if feed.self_link.as_deref() != Some(self_url.as_str()) {
        problems.push(format!(
            "its self link is {:?}, not {self_url}",
            feed.self_link
        ));
    }
    let mut seen = HashSet::new();
    for Entry { id, link, content } in &feed.entries {
        if !seen.insert(id.as_str()) {
            problems.push(format!("the entry id {id} appears twice"));
        }
        if !is_absolute(link) {
            problems.push(format!(
                "entry {id} links to {link:?}, which is not an absolute URL"
            ));
        }
        for url in attribute_urls(content) {
            if !is_absolute(&url) && !url.starts_with("mailto:") && !url.starts_with("tel:") {
                problems.push(format!(
                    "entry {id} content links to the relative URL {url:?}"
                ));
            }
        }
    }
    problems
}

/// What is wrong with the page browsers get at the RSS or Atom feed at `feed_path`: missing,
/// answering another status, not an HTML page, or holding characters no document may carry.
fn browser_view_problems(store: &Store, cfg: &Config, feed_path: &str) -> Result<Vec<String>> {
    let Some(key) = crate::views::browser_view_key(feed_path) else {
        return Ok(Vec::new());
    };
    let view = match store.document(&key)?.1 {
        Some(doc) => Some(doc),
        None => crate::ondemand::archive_document(store, cfg, &key)?,
    };
    Ok(match view {
        None => vec!["has no browser view: a browser gets the feed's XML".to_string()],
        Some(view) if view.status != 200 => {
            vec![format!("its browser view answers {}", view.status)]
        }
        Some(view) if view.content_type != render::HTML_TYPE => vec![format!(
            "its browser view is {}, not an HTML page",
            view.content_type
        )],
        Some(view) => lint_document(cfg, &view)
            .into_iter()
            .map(|what| format!("its browser view {what}"))
            .collect(),
    })
}

fn is_feed(doc: &Document) -> bool {
    [render::RSS_TYPE, render::ATOM_TYPE, render::JSON_FEED_TYPE]
        .contains(&doc.content_type.as_str())
}

fn non_feed_char(c: char) -> String {
    format!(
        "contains the character U+{:04X}, which XML cannot carry",
        c as u32
    )
}

/// A feed as a reader sees it, whatever its format.
struct Feed {
    /// The `rel="self"` link (`feed_url` in JSON Feed).
    self_link: Option<String>,
    entries: Vec<Entry>,
}

/// One entry (item) of a feed.
struct Entry {
    id: String,
    /// The entry's page.
    link: String,
    /// Its HTML content, unescaped; empty when it carries none.
    content: String,
}

/// Reads a feed document of any of the three formats. Problems only one format can have (bad
/// dates, a missing guid, characters escaped in JSON strings) go to `problems`; `None` when
/// the document does not parse, with the reason in `problems`.
fn read_feed(doc: &Document, problems: &mut Vec<String>) -> Option<Feed> {
    match doc.content_type.as_str() {
        render::ATOM_TYPE => read_atom(&doc.body, problems),
        render::RSS_TYPE => read_rss(&doc.body, problems),
        _ => read_json_feed(&doc.body, problems),
    }
}

/// The parsed value, or `None` with the reason in `problems`.
fn parsed<T, E: std::fmt::Display>(
    result: std::result::Result<T, E>,
    what: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    result
        .map_err(|e| problems.push(format!("is not {what}: {e}")))
        .ok()
}

fn read_atom(body: &[u8], problems: &mut Vec<String>) -> Option<Feed> {
    let feed = parsed(
        atom_syndication::Feed::read_from(body),
        "a valid Atom document",
        problems,
    )?;
    // The Atom reader also accepts RFC 822 and other spellings: look at the text itself.
    let text = String::from_utf8_lossy(body);
    for element in ["published", "updated"] {
        for date in element_texts(&text, element) {
            if chrono::DateTime::parse_from_rfc3339(date).is_err() {
                problems.push(format!(
                    "has a bad <{element}> date {date:?} (not RFC 3339)"
                ));
            }
        }
    }
    let self_link = feed
        .links()
        .iter()
        .find(|l| l.rel() == "self")
        .map(|l| l.href().to_string());
    let entries = feed
        .entries()
        .iter()
        .map(|e| Entry {
            id: e.id().to_string(),
            link: e
                .links()
                .iter()
                .find(|l| l.rel() == "alternate")
                .map(|l| l.href().to_string())
                .unwrap_or_default(),
            content: e
                .content()
                .and_then(|c| c.value())
                .unwrap_or("")
                .to_string(),
        })
        .collect();
    Some(Feed { self_link, entries })
}

fn read_rss(body: &[u8], problems: &mut Vec<String>) -> Option<Feed> {
    let channel = parsed(
        rss::Channel::read_from(body),
        "a valid RSS document",
        problems,
    )?;
    if let Some(date) = channel.last_build_date() {
        if chrono::DateTime::parse_from_rfc2822(date).is_err() {
            problems.push(format!("has a bad lastBuildDate {date:?} (not RFC 822)"));
        }
    }
    let self_link = channel.atom_ext().and_then(|a| {
        a.links()
            .iter()
            .find(|l| l.rel() == "self")
            .map(|l| l.href().to_string())
    });
    let mut entries = Vec::new();
    for item in channel.items() {
        let id = item
            .guid()
            .map(|g| g.value().to_string())
            .unwrap_or_default();
        if id.is_empty() {
            problems.push(format!("item “{}” has no guid", item.title().unwrap_or("")));
        }
        match item.pub_date() {
            Some(date) if chrono::DateTime::parse_from_rfc2822(date).is_ok() => {}
            other => problems.push(format!("item {id} has a bad pubDate {other:?}")),
        }
        entries.push(Entry {
            link: item.link().unwrap_or("").to_string(),
            content: item.content().unwrap_or("").to_string(),
            id,
        });
    }
    Some(Feed { self_link, entries })
}

fn read_json_feed(body: &[u8], problems: &mut Vec<String>) -> Option<Feed> {
    let feed: serde_json::Value = parsed(serde_json::from_slice(body), "valid JSON", problems)?;
    // JSON strings carry control characters as `\u0001` escapes, which the text scan misses.
    if let Some(c) = json_chars(&feed).find(|&c| !is_feed_char(c)) {
        problems.push(non_feed_char(c));
    }
    let mut entries = Vec::new();
    for item in feed["items"].as_array().into_iter().flatten() {
        let id = item["id"].as_str().unwrap_or("").to_string();
        for field in ["date_published", "date_modified"] {
            let date = &item[field];
            let is_rfc3339 = date
                .as_str()
                .is_some_and(|d| chrono::DateTime::parse_from_rfc3339(d).is_ok());
            if !date.is_null() && !is_rfc3339 {
                problems.push(format!("item {id} has a bad {field} {date} (not RFC 3339)"));
            }
        }
        entries.push(Entry {
            link: item["url"].as_str().unwrap_or("").to_string(),
            content: item["content_html"].as_str().unwrap_or("").to_string(),
            id,
        });
    }
    let self_link = feed["feed_url"].as_str().map(str::to_string);
    Some(Feed { self_link, entries })
}

/// Every character of every string (keys included) in a JSON value.
fn json_chars(value: &serde_json::Value) -> Box<dyn Iterator<Item = char> + '_> {
    use serde_json::Value;
    match value {
        Value::String(s) => Box::new(s.chars()),
        Value::Array(items) => Box::new(items.iter().flat_map(json_chars)),
        Value::Object(map) => {
            Box::new(map.iter().flat_map(|(k, v)| k.chars().chain(json_chars(v))))
        }
        _ => Box::new(std::iter::empty()),
    }
}

/// The characters named by numeric character references (`&#1;`, `&#x1B;`) in markup.
fn character_references(markup: &str) -> impl Iterator<Item = char> + '_ {
    markup.split("&#").skip(1).filter_map(|rest| {
        let (number, _) = rest.split_once(';')?;
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        char::from_u32(code)
    })
}

fn is_absolute(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Values of `href` and `src` attributes in an HTML fragment (as sanitized markup writes them).
fn attribute_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            let after = &rest[start + attribute.len()..];
            let end = after.find('"').unwrap_or(after.len());
            urls.push(after[..end].replace("&amp;", "&"));
            rest = &after[end..];
        }
    }
    urls
}

/// The text of every `<name>…</name>` element (without attributes), as feedsvc writes them.
fn element_texts<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut texts = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        texts.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_attribute_urls() {
        let urls = attribute_urls(
            r#"<a href="https://a/?x=1&amp;y=2">a</a><img src="img.png"><a href="/b">"#,
        );
        assert_eq!(urls, ["https://a/?x=1&y=2", "/b", "img.png"]);
    }

    #[test]
    fn finds_character_references() {
        let named: String =
            character_references("a &#1; &#x1B; &#X7f; &#38; &#bad; &#12 &#xZ; &#").collect();
        assert_eq!(named, "\u{1}\u{1b}\u{7f}&");
    }

    #[test]
    fn finds_element_texts() {
        let xml = "<feed><updated>1</updated><x/><updated>2</updated><updated>3</feed>";
        assert_eq!(element_texts(xml, "updated"), ["1", "2"]);
        assert!(element_texts(xml, "published").is_empty());
    }

    #[test]
    fn reads_every_json_string() {
        let value = serde_json::json!({"a": ["b", {"c\u{1}": 1}], "d": null, "e": "f"});
        let mut chars: Vec<char> = json_chars(&value).collect();
        chars.sort();
        assert_eq!(chars, ['\u{1}', 'a', 'b', 'c', 'd', 'e', 'f']);
    }
}
