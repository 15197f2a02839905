//! JSON Feed 1.1 (<https://www.jsonfeed.org/version/1.1/>).

use serde::Serialize;

use super::{author_of, fit_feed, FeedSpec};
use crate::Result;

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<Hub>,
    language: &'a str,
    authors: Vec<Author<'a>>,
    items: Vec<JsonItem<'a>>,
}

/// A hub the feed can be subscribed at (JSON Feed 1.1 `hubs`).
#[derive(Serialize)]
struct Hub {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: String,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_text: Option<&'a str>,
    summary: &'a str,
    date_published: String,
    date_modified: String,
    tags: Vec<&'a str>,
    authors: Vec<Author<'a>>,
}

/// Renders the JSON Feed document of `spec`.
pub fn render_json(spec: &FeedSpec<'_>) -> Result<Vec<u8>> {
    let cfg = spec.cfg;
    let mut failure = None;
    let bytes = fit_feed(spec.articles.len(), |keep| {
        let items = spec
            .articles
            .iter()
            .enumerate()
            .map(|(index, a)| JsonItem {
                id: &a.entry_id,
                url: super::article_url(cfg, &a.slug),
                title: &a.title,
                // An item must carry content_html or content_text.
                content_html: (index < keep).then_some(a.body_html.as_str()),
                content_text: (index >= keep).then_some(a.description()),
                summary: a.description(),
                date_published: a.published.rfc3339(),
                date_modified: a.updated.rfc3339(),
                tags: a.tags.iter().map(|t| t.name.as_str()).collect(),
                authors: vec![Author {
                    name: author_of(cfg, a),
                }],
            })
            .collect();
        let feed = JsonFeed {
            version: "https://jsonfeed.org/version/1.1",
            title: &spec.title,
            home_page_url: &spec.page_url,
            feed_url: spec.url("feed.json"),
            description: &spec.description,
            hubs: spec
                .hub_url()
                .map(|url| Hub {
                    kind: "WebSub",
                    url,
                })
                .into_iter()
                .collect(),
            language: &cfg.site.language,
            authors: vec![Author {
                name: &cfg.site.author,
            }],
            items,
        };
        match serde_json::to_vec_pretty(&feed) {
            Ok(bytes) => bytes,
            Err(e) => {
                failure = Some(e.to_string());
                Vec::new()
            }
        }
    });
    match failure {
        Some(reason) => Err(crate::Error::Render {
            what: spec.url("feed.json"),
            reason,
        }),
        None => Ok(bytes),
    }
}
