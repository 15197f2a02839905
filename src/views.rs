//! Where the browser views of feeds are kept. The page a browser gets at an RSS or Atom feed's
//! URL is stored (or, for archives, rendered) beside the feeds, under a key that no request
//! can name: request paths always start with `/`, view keys never do. A view is therefore
//! reached only through negotiation at its feeds' URLs, is never a page of its own, and never
//! falls under a directory's paths (a tag that is gone turns its feeds into 410s, not its view).

use crate::document::Document;
use crate::render;

/// What every view key starts with.
const PREFIX: &str = "view:";

/// True for a document whose URL answers browsers with a view: an RSS or Atom feed. Only
/// published feeds carry these types (the 410 of a feed that is gone is an HTML page).
pub fn has_browser_view(doc: &Document) -> bool {
    doc.content_type == render::RSS_TYPE || doc.content_type == render::ATOM_TYPE
}

/// The key of the view of the feeds in the directory `dir_path` (`/`, `/news/tags/asia/`).
pub fn key_of_dir(dir_path: &str) -> String {
    format!("{PREFIX}{dir_path}")
}

/// The key of the view a browser gets at `feed_path` (an `atom.xml` or `rss.xml`, which share
/// it), or `None` when the path names neither.
pub fn browser_view_key(feed_path: &str) -> Option<String> {
    let dir = feed_path
        .strip_suffix("atom.xml")
        .or_else(|| feed_path.strip_suffix("rss.xml"))?;
    (dir.starts_with('/') && dir.ends_with('/')).then(|| key_of_dir(dir))
}

/// True when `key` is the key of a view rather than a request path.
pub fn is_browser_view_key(key: &str) -> bool {
    key.starts_with(PREFIX)
}

/// The directory path a view key stands for (`/tags/asia/`), or `None` for any other key.
pub fn dir_of_key(key: &str) -> Option<&str> {
    key.strip_prefix(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_share_the_key_of_their_directory() {
        for (feed, key) in [
            ("/atom.xml", "view:/"),
            ("/rss.xml", "view:/"),
            ("/news/tags/asia/atom.xml", "view:/news/tags/asia/"),
            ("/news/tags/asia/rss.xml", "view:/news/tags/asia/"),
            ("/archive/2026-09/rss.xml", "view:/archive/2026-09/"),
        ] {
            assert_eq!(browser_view_key(feed).as_deref(), Some(key), "{feed}");
            assert!(is_browser_view_key(key));
            assert!(!is_browser_view_key(feed));
            assert_eq!(
                dir_of_key(key),
                feed.strip_suffix(&feed[feed.rfind('/').unwrap() + 1..])
            );
        }
        for other in [
            "/feed.json",
            "/",
            "/tags/asia/",
            "/xatom.xml",
            "atom.xml",
            "tags/atom.xml",
            "/a/atom.xml/",
        ] {
            assert_eq!(browser_view_key(other), None, "{other}");
        }
    }
}
