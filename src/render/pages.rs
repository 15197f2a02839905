//! HTML pages (article, index, tag, messages, the browser view of a feed), rendered with
//! compile-time checked templates.

use askama::Template;
use serde_json::json;

use super::{article_url, author_of, tag_url, FeedSpec};
use crate::article::Article;
use crate::config::Config;
use crate::{Error, Result};

/// What every page's `<head>` and chrome needs about the site.
pub struct SiteView<'a> {
    title: &'a str,
    description: &'a str,
    language: &'a str,
    locale: String,
    home: String,
    stylesheet: String,
}

/// Feed URLs linked from a page.
pub struct FeedLinks {
    rss: String,
    atom: String,
    json: String,
}

/// Per-page `<head>` values.
pub struct Head {
    title: String,
    description: String,
    canonical: String,
    og_type: &'static str,
    feed_title: String,
    feeds: FeedLinks,
}

/// A tag as linked from a page.
pub struct TagLink {
    name: String,
    url: String,
}

/// An article as shown on pages.
pub struct ArticleView {
    title: String,
    url: String,
    summary: Option<String>,
    description: String,
    author: String,
    published: String,
    published_display: String,
    updated: String,
    updated_display: String,
    is_updated: bool,
    body_html: String,
    tags: Vec<TagLink>,
}

/// A link with a title.
pub struct Link {
    title: String,
    url: String,
}

#[derive(Template)]
#[template(path = "article.html")]
struct ArticlePage<'a> {
    site: SiteView<'a>,
    head: Head,
    article: ArticleView,
    previous: Option<Link>,
    next: Option<Link>,
    json_ld: String,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage<'a> {
    site: SiteView<'a>,
    head: Head,
    heading: String,
    articles: Vec<ArticleView>,
    newer: Option<String>,
    older: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    site: SiteView<'a>,
    head: Head,
    heading: String,
    text: String,
    link: Option<Link>,
}

#[derive(Template)]
#[template(path = "feed_view.html")]
struct FeedViewPage<'a> {
    site: SiteView<'a>,
    head: Head,
    heading: String,
    description: String,
    page_url: String,
    is_archive: bool,
    subscribe_atom: String,
    subscribe_rss: String,
    articles: Vec<ArticleView>,
}

fn site_view(cfg: &Config) -> SiteView<'_> {
    SiteView {
        title: &cfg.site.title,
        description: &cfg.site.description,
        language: &cfg.site.language,
        locale: cfg.site.language.replace('-', "_"),
        home: cfg.site.base_url.clone(),
        stylesheet: format!(
            "{}assets/{}",
            cfg.base_path(),
            super::assets::stylesheet_name()
        ),
    }
}

fn feed_links(cfg: &Config, dir: &str) -> FeedLinks {
    FeedLinks {
        rss: cfg.url(&format!("{dir}rss.xml")),
        atom: cfg.url(&format!("{dir}atom.xml")),
        json: cfg.url(&format!("{dir}feed.json")),
    }
}

/// "14 September 2026"
fn display_date(t: &crate::article::Timestamp) -> String {
    t.at.format("%-d %B %Y").to_string()
}

fn article_view(cfg: &Config, a: &Article) -> ArticleView {
    ArticleView {
        title: a.title.clone(),
        url: article_url(cfg, &a.slug),
        summary: a.summary.clone(),
        description: a.description().to_string(),
        author: author_of(cfg, a).to_string(),
        published: a.published.rfc3339(),
        published_display: display_date(&a.published),
        updated: a.updated.rfc3339(),
        updated_display: display_date(&a.updated),
        is_updated: a.updated.epoch() > a.published.epoch(),
        body_html: a.body_html.clone(),
        tags: a
            .tags
            .iter()
            .map(|t| TagLink {
                name: t.name.clone(),
                url: tag_url(cfg, &t.slug),
            })
            .collect(),
    }
}

/// JSON inside `<script>` must not be able to close the element: escape `<`, `>` and `&`.
fn script_safe_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn render(template: &impl Template, what: &str) -> Result<Vec<u8>> {
    template
        .render()
        .map(String::into_bytes)
        .map_err(|e| Error::Render {
            what: what.to_string(),
            reason: e.to_string(),
        })
}

/// The page of one article, with links to its neighbours.
pub fn render_article(
    cfg: &Config,
    article: &Article,
    previous: Option<&Article>,
    next: Option<&Article>,
) -> Result<Vec<u8>> {
    let view = article_view(cfg, article);
    let json_ld = json!({
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "description": article.description(),
        "datePublished": view.published,
        "dateModified": view.updated,
        "author": [{"@type": "Person", "name": view.author}],
        "publisher": {"@type": "Organization", "name": cfg.site.title, "url": cfg.site.base_url},
        "mainEntityOfPage": {"@type": "WebPage", "@id": view.url},
        "url": view.url,
        "inLanguage": cfg.site.language,
        "keywords": article.tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        "identifier": article.entry_id,
    });
    let link = |a: &Article| Link {
        title: a.title.clone(),
        url: article_url(cfg, &a.slug),
    };
    let page = ArticlePage {
        site: site_view(cfg),
        head: Head {
            title: format!("{} — {}", article.title, cfg.site.title),
            description: article.description().to_string(),
            canonical: view.url.clone(),
            og_type: "article",
            feed_title: cfg.site.title.clone(),
            feeds: feed_links(cfg, ""),
        },
        previous: previous.map(link),
        next: next.map(link),
        json_ld: script_safe_json(&json_ld),
        article: view,
    };
    render(&page, &article_url(cfg, &article.slug))
}

/// A list page: the index (`tag` is `None`) or a tag page. `page` counts from 1; `has_older`
/// says whether a next page exists.
pub fn render_list(
    cfg: &Config,
    tag: Option<&crate::article::Tag>,
    articles: &[Article],
    page: usize,
    has_older: bool,
) -> Result<Vec<u8>> {
    let list = |page: usize| crate::routes::Route::List {
        tag: tag.map(|t| t.slug.clone()),
        page: page.max(1),
    };
    let dir = list(1).relative();
    let page_url = |n: usize| list(n).url(cfg);
    let (title, heading, feed_title, description) = match tag {
        Some(t) => (
            format!("{} — {}", t.name, cfg.site.title),
            t.name.clone(),
            format!("{} — {}", cfg.site.title, t.name),
            format!("Articles tagged “{}” on {}", t.name, cfg.site.title),
        ),
        None => (
            cfg.site.title.clone(),
            "Latest articles".to_string(),
            cfg.site.title.clone(),
            if cfg.site.description.is_empty() {
                cfg.site.title.clone()
            } else {
                cfg.site.description.clone()
            },
        ),
    };
    let title = if page > 1 {
        format!("{title} (page {page})")
    } else {
        title
    };
    let list = ListPage {
        site: site_view(cfg),
        head: Head {
            title,
            description,
            canonical: page_url(page),
            og_type: "website",
            feed_title,
            feeds: feed_links(cfg, &dir),
        },
        heading,
        articles: articles.iter().map(|a| article_view(cfg, a)).collect(),
        newer: (page > 1).then(|| page_url(page - 1)),
        older: has_older.then(|| page_url(page + 1)),
    };
    render(&list, &page_url(page))
}

/// The page a browser gets at an RSS or Atom feed's URL: what a feed is and the address to
/// subscribe to, then the feed's entries (title, date, author, summary), newest first. One page
/// serves both formats of `spec`, whose entries are the same. An archive's page offers the
/// site's feed instead, since an archive is not something to follow.
pub fn render_feed_view(spec: &FeedSpec<'_>) -> Result<Vec<u8>> {
    let cfg = spec.cfg;
    // An archive has no JSON Feed beside it; the footer's subscribe links go to the site's feeds.
    let feed_dir = if spec.is_archive {
        ""
    } else {
        spec.dir.as_str()
    };
    let feed_title = if spec.is_archive {
        cfg.site.title.clone()
    } else {
        spec.title.clone()
    };
    let feeds = feed_links(cfg, feed_dir);
    let page = FeedViewPage {
        site: site_view(cfg),
        head: Head {
            title: format!("{} (web feed)", spec.title),
            description: if spec.description.is_empty() {
                spec.title.clone()
            } else {
                spec.description.clone()
            },
            canonical: spec.url("atom.xml"),
            og_type: "website",
            feed_title,
            feeds: FeedLinks {
                rss: feeds.rss.clone(),
                atom: feeds.atom.clone(),
                json: feeds.json,
            },
        },
        heading: spec.title.clone(),
        description: spec.description.clone(),
        page_url: spec.page_url.clone(),
        is_archive: spec.is_archive,
        subscribe_atom: feeds.atom,
        subscribe_rss: feeds.rss,
        articles: spec.articles.iter().map(|a| article_view(cfg, a)).collect(),
    };
    render(&page, &spec.url("atom.xml"))
}

/// The body of a 301 from an old URL of an imported archive: a few hundred bytes, not a page of
/// the site. An import of 100,000 posts leaves twice as many old URLs; browsers and readers
/// follow the `Location` and never show the body.
pub fn render_moved(cfg: &Config, title: &str, url: &str) -> Vec<u8> {
    use crate::text::escape_markup;
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>Moved — {}</title>\
         </head><body><p>This has a new address: <a href=\"{}\">{}</a>.</p></body></html>\n",
        escape_markup(&cfg.site.language),
        escape_markup(&cfg.site.title),
        escape_markup(url),
        escape_markup(title),
    )
    .into_bytes()
}

/// A short page with a heading and a sentence (404, 410, 301 bodies).
pub fn render_message(
    cfg: &Config,
    heading: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Result<Vec<u8>> {
    let page = MessagePage {
        site: site_view(cfg),
        head: Head {
            title: format!("{heading} — {}", cfg.site.title),
            description: text.to_string(),
            canonical: cfg.site.base_url.clone(),
            og_type: "website",
            feed_title: cfg.site.title.clone(),
            feeds: feed_links(cfg, ""),
        },
        heading: heading.to_string(),
        text: text.to_string(),
        link: link.map(|(title, url)| Link {
            title: title.to_string(),
            url: url.to_string(),
        }),
    };
    render(&page, heading)
}
