//! Monthly archives (RFC 5005 archived feeds, `/archive/YYYY-MM/atom.xml` and `rss.xml`, and
//! the page browsers get there), the monthly sitemaps and the sitemap index, rendered when
//! asked for.
//!
//! Rendering them at publish time would re-render the whole month on every add, a cost that
//! grows with the month and the archive, for documents a feed reader fetches once (to fill a
//! gap in its history) and a crawler once a day. The server renders them from the store on the
//! first request and keeps them until the next publish.

use chrono::DateTime;

use crate::config::Config;
use crate::document::Document;
use crate::render::sitemap::SitemapEntry;
use crate::render::{self, FeedSpec};
pub use crate::routes::Month;
use crate::routes::{ArchiveFile, Format, Route};
use crate::store::articles::ArticleQueries;
use crate::Result;

/// The documents this module renders.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Atom(Month),
    Rss(Month),
    /// The browser view of the month's Atom and RSS archives.
    View(Month),
    Sitemap(Month),
    SitemapIndex,
}

fn parse(cfg: &Config, path: &str) -> Option<Kind> {
    if let Some(dir) = crate::views::dir_of_key(path) {
        // A month's view shows its feeds: the key names the directory they share.
        return match Route::parse(cfg, &format!("{dir}{}", Format::Atom.file()))? {
            Route::Archive { month, .. } => Some(Kind::View(month)),
            _ => None,
        };
    }
    match Route::parse(cfg, path)? {
        Route::SitemapIndex => Some(Kind::SitemapIndex),
        Route::Archive { month, file } => Some(match file {
            ArchiveFile::Feed(Format::Atom) => Kind::Atom(month),
            ArchiveFile::Feed(_) => Kind::Rss(month),
            ArchiveFile::Sitemap => Kind::Sitemap(month),
        }),
        _ => None,
    }
}

/// Renders the archive document, its browser view (`path` is then a view key, see
/// [`super::browser_view_key`]) or the sitemap at `path`, or `None` when the path names none
/// of them or the month holds nothing.
pub fn archive_document(
    q: &impl ArticleQueries,
    cfg: &Config,
    path: &str,
) -> Result<Option<Document>> {
    let (kind, month) = match parse(cfg, path) {
        None => return Ok(None),
        Some(Kind::SitemapIndex) => return sitemap_index(q, cfg, path).map(Some),
        Some(kind @ (Kind::Atom(m) | Kind::Rss(m) | Kind::View(m) | Kind::Sitemap(m))) => (kind, m),
    };
    let articles = q.published_between(month.start(), month.end())?;
    let tombstones = q.tombstones_between(month.start(), month.end())?;
    if articles.is_empty() && tombstones.is_empty() {
        return Ok(None);
    }
    let previous = q.last_published_before(month.start())?.map(Month::of);
    let next = q.first_published_from(month.end())?.map(Month::of);
    // A back-dated article or an edit changes the month without a newer date in it; a month
    // that gains its first article or loses its last changes its neighbours' links. The store
    // stamps the month for each (see `Tx::stamp_changes`).
    let changed = q.changed_at(&month.scope())?;
    let links_changed = q.changed_at(&month.links_scope())?;
    if kind == Kind::Sitemap(month) {
        let entries: Vec<SitemapEntry> = articles
            .iter()
            .map(|a| SitemapEntry {
                url: render::article_url(cfg, &a.slug),
                lastmod: a.updated.rfc3339(),
            })
            .collect();
        return Ok(Some(render::encode(
            path,
            render::XML_TYPE,
            render::sitemap::render_urlset(&entries),
            crate::article::newest_update(&articles).max(changed),
        )));
    }
    let dir = month.dir();
    let mut links = vec![("current", cfg.site.base_url.clone())];
    if let Some(previous) = previous {
        links.push(("prev-archive", cfg.url(&previous.dir())));
    }
    // RFC 5005 §4: archives link both ways, so a reader can walk them from either end.
    if let Some(next) = next {
        links.push(("next-archive", cfg.url(&next.dir())));
    }
    let spec = FeedSpec {
        cfg,
        title: format!(
            "{} — archive {}",
            cfg.site.title,
            dir.trim_start_matches("archive/").trim_end_matches('/')
        ),
        description: cfg.site.description.clone(),
        dir,
        page_url: cfg.site.base_url.clone(),
        articles: &articles,
        tombstones: &tombstones,
        links,
        is_archive: true,
        modified: changed.max(links_changed),
    };
    let (content_type, body) = match kind {
        Kind::Atom(_) => (render::ATOM_TYPE, render::atom::render_atom(&spec)?),
        Kind::Rss(_) => (render::RSS_TYPE, render::rss::render_rss(&spec)?),
        // The view (sitemaps were answered above).
        _ => (render::HTML_TYPE, render::pages::render_feed_view(&spec)?),
    };
    Ok(Some(render::encode(
        path,
        content_type,
        body,
        spec.updated().epoch(),
    )))
}

/// The path of every document this module renders for the store as it is: the sitemap index,
/// then each month's sitemap and archive feeds, oldest month first.
pub fn archive_paths(q: &impl ArticleQueries, cfg: &Config) -> Result<Vec<String>> {
    let base = cfg.base_path();
    let mut paths = vec![format!("{base}sitemap.xml")];
    for (month, _) in months_published(q)? {
        for file in ["sitemap.xml", "atom.xml", "rss.xml"] {
            paths.push(format!("{base}{}{file}", month.dir()));
        }
    }
    Ok(paths)
}

/// Every month with published articles, oldest first, with the newest `updated` of its
/// articles. One pass over an index, in order of publication.
fn months_published(q: &impl ArticleQueries) -> Result<Vec<(Month, i64)>> {
    let mut months: Vec<(Month, i64)> = Vec::new();
    q.for_each_publication(|published, updated| {
        let month = Month::of(published);
        match months.last_mut() {
            Some((last, newest)) if *last == month => *newest = (*newest).max(updated),
            _ => months.push((month, updated)),
        }
    })?;
    Ok(months)
}

/// `/sitemap.xml`: one monthly sitemap per month with published articles, newest change of
/// each as its `lastmod`.
fn sitemap_index(q: &impl ArticleQueries, cfg: &Config, path: &str) -> Result<Document> {
    let mut months = months_published(q)?;
    // Each month's `lastmod` is its sitemap's `Last-Modified`.
    for (month, modified) in &mut months {
        *modified = (*modified).max(q.changed_at(&month.scope())?);
    }
    let entries: Vec<SitemapEntry> = months
        .iter()
        .map(|(month, modified)| SitemapEntry {
            url: cfg.url(&format!("{}sitemap.xml", month.dir())),
            lastmod: DateTime::from_timestamp(*modified, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect();
    let newest = months.iter().map(|(_, m)| *m).max().unwrap_or(0);
    // A month whose last article went is no longer listed, but was stamped when it went.
    let newest = newest.max(q.newest_change_between(Month::SCOPE_PREFIX, Month::SCOPE_END)?);
    Ok(render::encode(
        path,
        render::XML_TYPE,
        render::sitemap::render_index(&entries),
        newest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn archive_paths() {
        let cfg = Config::parse(
            "[site]\nbase_url = \"http://a/news/\"\n",
            Path::new("c"),
            Path::new("/"),
        )
        .unwrap();
        let m = Month::parse("2026-09").unwrap();
        assert_eq!(parse(&cfg, "/news/sitemap.xml"), Some(Kind::SitemapIndex));
        assert_eq!(
            parse(&cfg, "/news/archive/2026-09/atom.xml"),
            Some(Kind::Atom(m))
        );
        assert_eq!(
            parse(&cfg, "/news/archive/2026-09/rss.xml"),
            Some(Kind::Rss(m))
        );
        assert_eq!(
            parse(&cfg, "/news/archive/2026-09/sitemap.xml"),
            Some(Kind::Sitemap(m))
        );
        assert_eq!(
            parse(&cfg, &format!("/news/{}atom.xml", m.dir())),
            Some(Kind::Atom(m))
        );
        assert_eq!(
            parse(&cfg, "view:/news/archive/2026-09/"),
            Some(Kind::View(m))
        );
        for no in [
            "/sitemap.xml",
            "/news/archive/2026-13/atom.xml",
            "/news/archive/2026-00/atom.xml",
            "/news/archive/2026-9/atom.xml",
            "/news/archive/26-09/atom.xml",
            "/news/archive/2026-09/feed.json",
            "/news/archive/2026-09/",
            "/news/archive/2026-09/atom.xml/x",
            "/news/archive/+026-09/atom.xml",
            "/news/tags/sitemap.xml",
            "view:/news/",
            "view:/archive/2026-09/",
            "view:/news/archive/2026-09",
            "view:/news/archive/2026-09/atom.xml",
            "view:/news/tags/asia/",
            "/news/view:/news/archive/2026-09/",
        ] {
            assert_eq!(parse(&cfg, no), None, "{no}");
        }
    }

    #[test]
    fn months_span_their_days() {
        let m = Month::parse("2024-12").unwrap();
        assert_eq!(m.start(), 1_733_011_200);
        assert_eq!(m.end(), 1_735_689_600);
        assert_eq!(Month::of(m.end() - 1), m);
        assert_eq!(Month::of(m.end()).dir(), "archive/2025-01/");
    }
}
