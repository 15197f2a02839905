//! List pages beyond the first (`/page/2/`, `/tags/<tag>/page/2/`). Every publish shifts them
//! all by one, so rendering them at publish time would cost in proportion to the archive; they
//! are rendered when asked for instead (one indexed query and a template) and cached by the
//! server until the next publish.

use crate::article::newest_update;
use crate::config::Config;
use crate::document::Document;
use crate::render::{self, pages};
use crate::routes::Route;
use crate::store::articles::ArticleQueries;
use crate::store::Store;
use crate::Result;

/// Which list page past the first a path names: the tag's slug (`None` for the index) and
/// the page number.
fn parse(cfg: &Config, path: &str) -> Option<(Option<String>, usize)> {
    match Route::parse(cfg, path)? {
        Route::List { tag, page } if page >= 2 => Some((tag, page)),
        _ => None,
    }
}

/// Renders the list page at `path`, or `None` when the path names no list page or the page is
/// past the end. The page number is compared with the number of pages before anything is
/// read or rendered: a page past the last costs one count, whatever its number.
pub fn list_page(store: &Store, cfg: &Config, path: &str) -> Result<Option<Document>> {
    let Some((tag_slug, page)) = parse(cfg, path) else {
        return Ok(None);
    };
    let size = cfg.feeds.page_size;
    let tag = match tag_slug {
        Some(slug) => match store.tag_by_slug(&slug)? {
            Some(found) => Some(found),
            None => return Ok(None),
        },
        None => None,
    };
    // A page number too large for its offset to be counted is a 404 before anything is read;
    // any other page past the last finds no article below: 404 too, nothing rendered.
    let Some(offset) = offset_of(page, size) else {
        return Ok(None);
    };
    // Every change to the list shifts its pages, often without a newer date on them.
    let (tag, articles, changed) = match tag {
        Some((id, tag)) => (
            Some(tag),
            store.latest_in_tag(id, size + 1, offset)?,
            store.changed_at(&format!("tag:{id}"))?,
        ),
        None => (
            None,
            store.latest(size + 1, offset)?,
            store.changed_at("site")?,
        ),
    };
    if articles.is_empty() {
        return Ok(None);
    }
    let on_page = &articles[..articles.len().min(size)];
    let html = pages::render_list(cfg, tag.as_ref(), on_page, page, articles.len() > size)?;
    Ok(Some(render::encode(
        path,
        render::HTML_TYPE,
        html,
        newest_update(on_page).max(changed),
    )))
}

/// How many articles come before page `page` (counted from 1) of `size` articles each.
/// Checked arithmetic: no page number, however large, wraps to an earlier page.
fn offset_of(page: usize, size: usize) -> Option<usize> {
    page.checked_sub(1)?.checked_mul(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn list_paths() {
        let cfg = Config::parse(
            "[site]\nbase_url = \"http://a/news/\"\n",
            Path::new("c"),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(parse(&cfg, "/news/page/2/"), Some((None, 2)));
        assert_eq!(
            parse(&cfg, "/news/tags/north-korea/page/12/"),
            Some((Some("north-korea".into()), 12))
        );
        for no in [
            "/news/page/1/",
            "/news/page/02/",
            "/news/page/x/",
            "/news/page/2",
            "/page/2/",
            "/news/tags/x/page/",
            "/news/page/-1/",
        ] {
            assert_eq!(parse(&cfg, no), None, "{no}");
        }
    }

    #[test]
    fn no_page_number_wraps_to_an_earlier_page() {
        assert_eq!(offset_of(1, 20), Some(0));
        assert_eq!(offset_of(3, 20), Some(40));
        assert_eq!(offset_of(0, 20), None);
        for huge in [usize::MAX / 20 + 2, usize::MAX] {
            assert_eq!(offset_of(huge, 20), None, "{huge}");
        }
        // Past what SQLite's signed OFFSET holds: the store's bound keeps it past every row.
        assert_eq!(
            offset_of(461_168_601_842_738_792, 20),
            Some(9_223_372_036_854_775_820)
        );
    }
}
