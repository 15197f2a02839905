//! `feedsvc export DIR`: the whole site as files, for any static host or CDN.
//!
//! Every URL `serve` answers with a 200 becomes a file holding the very bytes `serve` sends
//! (the stored documents, the list pages of every number, the archives and sitemaps rendered
//! on request, the assets), with the `.gz` and `.br` siblings `serve` would send (the same
//! compressor), and each file's mtime set to the document's `Last-Modified`. What a static
//! server cannot learn from files (the 301s of renamed slugs and old URLs, the 410s of deleted
//! articles, the cache policy) is written for nginx (`_feedsvc/nginx-maps.conf`) and for
//! Netlify and Cloudflare Pages (`_redirects`, `_headers`). The whole export reads one
//! committed state of the archive, so a publish during an export is all in it or not at all.
//!
//! File names (below DIR, which stands for the base URL's path):
//! a path ending in `/` → `…/index.html`; `/articles/SLUG` → `articles/SLUG.html`; the 404 page
//! → `404.html`; everything else keeps its name. Not exported: the page browsers get at a
//! feed's URL (a static host serves the feed to everyone).

mod files;
mod hosts;

use std::path::Path;

use crate::config::Config;
use crate::document::Document;
use crate::render::assets;
use crate::routes::Route;
use crate::store::Store;
use crate::Result;

pub use files::{Counts, MANIFEST, OWN_DIR};

/// What an export did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Files in the export (documents, their compressed siblings, the static hosts' files).
    pub files: usize,
    /// What happened to them.
    pub counts: Counts,
}

/// Exports the site into `dir` (see the module's documentation).
pub fn export(store: &Store, cfg: &Config, dir: &Path) -> Result<Summary> {
    let mut tree = files::Tree::open(dir)?;
    let mut rules = hosts::Rules::new(cfg);
    store.in_one_snapshot(|store| {
        let mut tags = Vec::new();
        for path in store.all_document_paths()? {
            if crate::views::is_browser_view_key(&path) {
                continue;
            }
            let (_, Some(doc)) = store.document(&path)? else {
                continue;
            };
            match doc.status {
                301 => {
                    if let Some(location) = &doc.location {
                        rules.moved(&doc.path, location);
                    }
                }
                410 => {
                    if let Some(relative) = file_name(cfg, &doc.path) {
                        let body_file = format!("{OWN_DIR}/gone/{relative}");
                        tree.put(&body_file, &doc.body, 0)?;
                        rules.gone(&doc.path, &body_file);
                    }
                }
                _ => {
                    if let Some(Route::List {
                        tag: Some(tag),
                        page: 1,
                    }) = Route::parse(cfg, &doc.path)
                    {
                        tags.push(tag);
                    }
                    put_document(&mut tree, &mut rules, cfg, doc)?;
                }
            }
        }
        // The list pages past the first, rendered as `serve` renders them on request.
        for tag in std::iter::once(None).chain(tags.into_iter().map(Some)) {
            for page in 2.. {
                let path = Route::List {
                    tag: tag.clone(),
                    page,
                }
                .path(cfg);
                match crate::ondemand::list_page(store, cfg, &path)? {
                    Some(doc) => put_document(&mut tree, &mut rules, cfg, doc)?,
                    None => break,
                }
            }
        }
        for path in crate::ondemand::archive_paths(store, cfg)? {
            if let Some(doc) = crate::ondemand::archive_document(store, cfg, &path)? {
                put_document(&mut tree, &mut rules, cfg, doc)?;
            }
        }
        Ok(())
    })?;
    for mut doc in assets::documents() {
        doc.path = format!("{}{}", cfg.base_path(), doc.path.trim_start_matches('/'));
        put_document(&mut tree, &mut rules, cfg, doc)?;
    }
    for (name, text) in rules.files() {
        tree.put(name, text.as_bytes(), 0)?;
    }
    let (counts, files) = tree.finish()?;
    Ok(Summary { files, counts })
}

/// Writes one document served with a 200 (or the 404 page) and its compressed siblings.
fn put_document(
    tree: &mut files::Tree,
    rules: &mut hosts::Rules,
    cfg: &Config,
    doc: Document,
) -> Result<()> {
    let Some(relative) = file_name(cfg, &doc.path) else {
        return Ok(());
    };
    let route = Route::parse(cfg, &doc.path);
    let freshness = route
        .as_ref()
        .map_or(crate::routes::Freshness::Page, |r| r.kind().freshness);
    rules.file(&doc.path, &doc.content_type, freshness);
    let unchanged = tree.put(&relative, &doc.body, doc.last_modified)?;
    let gz = format!("{relative}.gz");
    let br = format!("{relative}.br");
    // The compressed bytes follow from the identity bytes alone: when those are unchanged,
    // the previous export's siblings stand and nothing is compressed again.
    if unchanged
        && tree.had(&relative)
        && (!tree.had(&gz) || tree.keep(&gz))
        && (!tree.had(&br) || tree.keep(&br))
    {
        return Ok(());
    }
    let compressed = crate::compress::compress(&doc.body);
    if let Some(bytes) = compressed.gzip {
        tree.put(&gz, &bytes, doc.last_modified)?;
    }
    if let Some(bytes) = compressed.br {
        tree.put(&br, &bytes, doc.last_modified)?;
    }
    Ok(())
}

/// The file a document's URL path is exported to, or `None` for a path outside the site
/// (an old URL an import keeps, answered by a redirect only).
fn file_name(cfg: &Config, path: &str) -> Option<String> {
    let route = Route::parse(cfg, path)?;
    let relative = route.relative();
    Some(match route {
        Route::Article { .. } | Route::NotFound => format!("{relative}.html"),
        _ if relative.is_empty() || relative.ends_with('/') => format!("{relative}index.html"),
        Route::Hub => return None,
        _ => relative,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let cfg = Config::parse(
            "[site]\nbase_url = \"https://a.test/news/\"\n",
            Path::new("c"),
            Path::new("/"),
        )
        .unwrap();
        for (path, file) in [
            ("/news/", Some("index.html")),
            ("/news/page/3/", Some("page/3/index.html")),
            ("/news/tags/asia/", Some("tags/asia/index.html")),
            (
                "/news/tags/asia/page/2/",
                Some("tags/asia/page/2/index.html"),
            ),
            ("/news/tags/asia/feed.json", Some("tags/asia/feed.json")),
            (
                "/news/articles/geneva-talks",
                Some("articles/geneva-talks.html"),
            ),
            ("/news/404", Some("404.html")),
            (
                "/news/archive/2026-09/atom.xml",
                Some("archive/2026-09/atom.xml"),
            ),
            ("/news/assets/style.0a1b.css", Some("assets/style.0a1b.css")),
            ("/news/websub", None),
            ("/2019/05/old-post.html", None),
        ] {
            assert_eq!(file_name(&cfg, path).as_deref(), file, "{path}");
        }
    }
}
