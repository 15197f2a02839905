//! `feedsvc check`: re-lints every published document and checks that feeds, pages and the
//! article table agree. Reports problems; changes nothing.

use std::collections::HashSet;

use crate::config::Config;
use crate::render::{self, MAX_FEED_BYTES};
use crate::store::articles::ArticleQueries;
use crate::store::{Document, Store};
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

/// Checks every stored document, every archive and sitemap the server would render, and the
/// agreement between articles, pages and feeds.
pub fn check_site(store: &Store, cfg: &Config) -> Result<Report> {
    let mut report = Report::default();
    let stored = store.all_document_paths()?.into_iter().map(|path| {
        let doc = store.document(&path)?.1;
        Ok(doc)
    });
    let on_request = crate::publish::archive_paths(store, cfg)?
        .into_iter()
        .map(|path| crate::publish::archive_document(store, cfg, &path));
    for doc in stored.chain(on_request) {
        let Some(doc) = doc? else {
            continue;
        };
        report.documents += 1;
        for what in lint_document(cfg, &doc) {
            report.problems.push(Problem {
                path: doc.path.clone(),
                what,
            });
        }
    }
    let articles = store.all_articles()?;
    report.articles = articles.len();
    for article in articles.iter().filter(|a| !a.is_pending) {
        let path = format!("{}articles/{}", cfg.base_path(), article.slug);
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
    let expected: Vec<&str> = articles
        .iter()
        .filter(|a| !a.is_pending)
        .take(cfg.feeds.items)
        .map(|a| a.entry_id.as_str())
        .collect();
    let atom_path = format!("{}atom.xml", cfg.base_path());
    if let Some(doc) = store.document(&atom_path)?.1 {
        if let Ok(feed) = atom_syndication::Feed::read_from(&doc.body[..]) {
            let ids: Vec<&str> = feed.entries().iter().map(|e| e.id()).collect();
            if ids != expected {
                report.problems.push(Problem {
                    path: atom_path,
                    what: format!(
                        "holds {} entries that differ from the newest {} published articles",
                        ids.len(),
                        expected.len()
                    ),
                });
            }
        }
    } else if !expected.is_empty() {
        report.problems.push(Problem {
            path: atom_path,
            what: "the site feed is missing".to_string(),
        });
    }
    Ok(report)
}

/// Lints one document: parses, unique ids, absolute links, sizes, characters.
pub fn lint_document(cfg: &Config, doc: &Document) -> Vec<String> {
    let mut problems = Vec::new();
    if doc.status != 200 {
        return problems;
    }
    let is_feed = [render::RSS_TYPE, render::ATOM_TYPE, render::JSON_FEED_TYPE]
        .contains(&doc.content_type.as_str());
    let Ok(text) = std::str::from_utf8(&doc.body) else {
        problems.push("is not UTF-8".to_string());
        return problems;
    };
    if let Some(c) = text.chars().find(|&c| !is_feed_char(c)) {
        problems.push(format!(
            "contains the character U+{:04X}, which XML cannot carry",
            c as u32
        ));
    }
    if !is_feed {
        return problems;
    }
    if doc.body.len() > MAX_FEED_BYTES {
        problems.push(format!(
            "is {} bytes, over the {MAX_FEED_BYTES} byte budget",
            doc.body.len()
        ));
    }
    let self_url = cfg.url(doc.path.strip_prefix(cfg.base_path()).unwrap_or(&doc.path));
    let mut entries: Vec<(String, String, String)> = Vec::new(); // id, link, content
    let mut self_link = None;
    if doc.content_type == render::ATOM_TYPE {
        match atom_syndication::Feed::read_from(&doc.body[..]) {
            Ok(feed) => {
                self_link = feed
                    .links()
                    .iter()
                    .find(|l| l.rel() == "self")
                    .map(|l| l.href().to_string());
                for e in feed.entries() {
                    let link = e
                        .links()
                        .iter()
                        .find(|l| l.rel() == "alternate")
                        .map(|l| l.href().to_string())
                        .unwrap_or_default();
                    let content = e
                        .content()
                        .and_then(|c| c.value())
                        .unwrap_or("")
                        .to_string();
                    entries.push((e.id().to_string(), link, content));
                }
            }
            Err(e) => problems.push(format!("is not a valid Atom document: {e}")),
        }
    } else if doc.content_type == render::RSS_TYPE {
        match rss::Channel::read_from(&doc.body[..]) {
            Ok(channel) => {
                self_link = channel.atom_ext().and_then(|a| {
                    a.links()
                        .iter()
                        .find(|l| l.rel() == "self")
                        .map(|l| l.href().to_string())
                });
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
                    let content = item.content().unwrap_or("").to_string();
                    entries.push((id, item.link().unwrap_or("").to_string(), content));
                }
            }
            Err(e) => problems.push(format!("is not a valid RSS document: {e}")),
        }
    } else {
        match serde_json::from_slice::<serde_json::Value>(&doc.body) {
            Ok(feed) => {
                self_link = feed["feed_url"].as_str().map(str::to_string);
                for item in feed["items"].as_array().into_iter().flatten() {
                    entries.push((
                        item["id"].as_str().unwrap_or("").to_string(),
                        item["url"].as_str().unwrap_or("").to_string(),
                        item["content_html"].as_str().unwrap_or("").to_string(),
                    ));
                }
            }
            Err(e) => problems.push(format!("is not valid JSON: {e}")),
        }
    }
    if self_link.as_deref() != Some(self_url.as_str()) {
        problems.push(format!("its self link is {self_link:?}, not {self_url}"));
    }
    let mut seen = HashSet::new();
    for (id, link, content) in &entries {
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
}
