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

pub use files::Counts;
use files::OWN_DIR;

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
    let mut out = Out {
        tree: files::Tree::open(dir)?,
        rules: hosts::Rules::new(cfg),
        to_compress: Vec::new(),
    };
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
                        out.rules.moved(&doc.path, location);
                    }
                }
                410 => out.gone(cfg, doc)?,
                _ => {
                    if let Some(Route::List {
                        tag: Some(tag),
                        page: 1,
                    }) = Route::parse(cfg, &doc.path)
                    {
                        tags.push(tag);
                    }
                    out.document(cfg, doc)?;
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
                    Some(doc) => out.document(cfg, doc)?,
                    None => break,
                }
            }
        }
        for path in crate::ondemand::archive_paths(store, cfg)? {
            if let Some(doc) = crate::ondemand::archive_document(store, cfg, &path)? {
                out.document(cfg, doc)?;
            }
        }
        Ok(())
    })?;
    for mut doc in assets::documents() {
        doc.path = format!("{}{}", cfg.base_path(), doc.path.trim_start_matches('/'));
        out.document(cfg, doc)?;
    }
    out.compress_pending()?;
    for (name, text) in out.rules.files() {
        out.tree.put(name, text.as_bytes(), 0)?;
    }
    let (counts, files) = out.tree.finish()?;
    Ok(Summary { files, counts })
}

/// Documents compressed together, one per core.
const COMPRESS_BATCH: usize = 32;

/// Where an export writes.
struct Out {
    tree: files::Tree,
    rules: hosts::Rules,
    /// Documents written whose compressed siblings are still to be made: file and document.
    to_compress: Vec<(String, Document)>,
}

impl Out {
    /// Writes one document served with a 200 (or the 404 page) and its compressed siblings.
    fn document(&mut self, cfg: &Config, doc: Document) -> Result<()> {
        let Some(relative) = file_name(cfg, &doc.path) else {
            return Ok(());
        };
        let freshness = Route::parse(cfg, &doc.path)
            .map_or(crate::routes::Freshness::Page, |r| r.kind().freshness);
        self.rules.file(&doc.path, &doc.content_type, freshness);
        self.put_with_siblings(relative, doc)
    }

    /// Writes the 410 page of a deleted article (or of a tag left without articles) under
    /// `_feedsvc/gone/`, at its URL's file name with `.html` added where it has none
    /// (`articles/SLUG.html`, `tags/T/index.html`, `tags/T/atom.xml.html`), with its siblings.
    fn gone(&mut self, cfg: &Config, doc: Document) -> Result<()> {
        let Some(relative) = file_name(cfg, &doc.path) else {
            return Ok(());
        };
        let html = if relative.ends_with(".html") {
            ""
        } else {
            ".html"
        };
        let body_file = format!("{OWN_DIR}/gone/{relative}{html}");
        self.rules.gone(&doc.path, &body_file);
        self.put_with_siblings(body_file, doc)
    }

    /// Writes `doc`'s bytes at `relative`; its compressed siblings follow in a batch.
    fn put_with_siblings(&mut self, relative: String, doc: Document) -> Result<()> {
        let (gz, br) = (format!("{relative}.gz"), format!("{relative}.br"));
        // The compressed bytes follow from the identity bytes alone: when those are
        // unchanged, the previous export's siblings stand and nothing is compressed again.
        // (Siblings are written before their file, so an export cut short never leaves a
        // file newer than its siblings.)
        let tree = &self.tree;
        let sibling_there = |name: &str| !tree.had(name) || tree.holds_file(name);
        if tree.had(&relative)
            && tree.holds(&relative, &doc.body)?
            && sibling_there(&gz)
            && sibling_there(&br)
        {
            for name in [&relative, &gz, &br] {
                self.tree.keep(name);
            }
            return Ok(());
        }
        self.to_compress.push((relative, doc));
        if self.to_compress.len() >= COMPRESS_BATCH {
            self.compress_pending()?;
        }
        Ok(())
    }

    /// Compresses the pending documents on every core and writes each one's siblings, then
    /// the document itself.
    fn compress_pending(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.to_compress);
        let compressed =
            crate::parallel::map(&batch, 1, |(_, doc)| crate::compress::compress(&doc.body));
        for ((relative, doc), variants) in batch.iter().zip(compressed) {
            if let Some(bytes) = variants.gzip {
                self.tree
                    .put(&format!("{relative}.gz"), &bytes, doc.last_modified)?;
            }
            if let Some(bytes) = variants.br {
                self.tree
                    .put(&format!("{relative}.br"), &bytes, doc.last_modified)?;
            }
            self.tree.put(relative, &doc.body, doc.last_modified)?;
        }
        Ok(())
    }
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
