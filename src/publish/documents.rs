//! The documents a change renders: site and tag feeds with their browser views, pages, article
//! pages, redirects and tombstone pages (archives and sitemaps are rendered on request, see
//! `archives`). Each
//! function renders from the transaction's view of the store and hands bytes to the
//! [`DocumentWriter`], which skips unchanged documents.

use std::collections::BTreeSet;

use super::Touched;
use crate::article::Article;
use crate::config::Config;
use crate::document::Document;
use crate::render::{self, pages, FeedSpec};
use crate::routes::Route;
use crate::store::articles::ArticleQueries;
use crate::store::hub::Fanout;
use crate::store::Tx;
use crate::views;
use crate::Result;

/// Collects the documents a change renders and stores the changed ones under one generation.
///
/// `Last-Modified` never goes backwards and moves whenever a document's bytes change (RFC 9110
/// §8.8.2): a changed document is stamped with the later of its own date (its newest entry)
/// and the moment of this change, and always at least one second past its previous stamp. A
/// back-dated article, or an edit that keeps its date, therefore still moves the stamp, so a
/// poller that only sends `If-Modified-Since` sees it.
pub(super) struct DocumentWriter<'t, 'c> {
    pub(super) tx: &'t Tx<'c>,
    pub(super) generation: i64,
    /// The publish's clock, seconds since the epoch.
    now: i64,
    changed: usize,
    /// Where changed subscription feeds are pushed.
    push: Fanout,
}

impl<'t, 'c> DocumentWriter<'t, 'c> {
    /// A writer for the transaction `tx`, storing under `generation`, at the moment `now`.
    pub(super) fn new(tx: &'t Tx<'c>, generation: i64, now: i64, push: Fanout) -> Self {
        DocumentWriter {
            tx,
            generation,
            now,
            changed: 0,
            push,
        }
    }

    /// After a subscription feed was stored: when its bytes changed, its subscribers (or the
    /// external hub) get a delivery, written in this same transaction.
    fn put_feed(&mut self, stored: bool, path: &str) -> Result<()> {
        if stored {
            self.tx
                .queue_push(path, self.push, self.now.saturating_mul(1000))?;
        }
        Ok(())
    }

    /// The stamp of a changed document whose own date is `own` and whose previous stamp was
    /// `previous` (`None` for a new document, which keeps its own date).
    fn change_stamp(&self, own: i64, previous: Option<i64>) -> i64 {
        match previous {
            Some(previous) => own.max(self.now).max(previous.saturating_add(1)),
            None => own,
        }
    }

    /// Stores `doc` unless the same bytes are already stored: an unchanged document costs a
    /// hash and an indexed lookup, and keeps its generation and validators. A changed one is
    /// stamped (see [`DocumentWriter`]); only answers with status 200 carry validators.
    fn put(&mut self, mut doc: Document) -> Result<bool> {
        let previous = match self.tx.stored_version(&doc)? {
            Some((_, true)) => return Ok(false),
            Some((previous, false)) => Some(previous),
            None => None,
        };
        if doc.status == 200 {
            doc.last_modified = self.change_stamp(doc.last_modified, previous);
        }
        self.store(doc)
    }

    /// Stores a document that states its own modification date (a feed's `<updated>` and
    /// `lastBuildDate`), which must equal its `Last-Modified`: `render(stamp)` renders it
    /// stamped `stamp`. It is first rendered with its previous stamp; only when that differs
    /// from what is stored is it rendered again with a new one.
    fn put_dated(
        &mut self,
        path: &str,
        content_type: &str,
        own: i64,
        render: impl Fn(i64) -> Result<Vec<u8>>,
    ) -> Result<bool> {
        let previous = self.tx.stored_last_modified(path)?;
        let first = own.max(previous.unwrap_or(0));
        let doc = render::encode(path, content_type, render(first)?, first);
        let previous = match self.tx.stored_version(&doc)? {
            Some((_, true)) => return Ok(false),
            Some((previous, false)) => Some(previous),
            None => None,
        };
        let stamp = self.change_stamp(own, previous);
        if stamp == first {
            return self.store(doc);
        }
        self.store(render::encode(path, content_type, render(stamp)?, stamp))
    }

    fn store(&mut self, doc: Document) -> Result<bool> {
        self.tx.put_document(&doc, self.generation)?;
        self.changed += 1;
        Ok(true)
    }

    /// How many documents changed in all.
    pub(super) fn finish(self) -> usize {
        self.changed
    }
}

pub(super) fn render_touched(
    tx: &Tx<'_>,
    cfg: &Config,
    touched: &Touched,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    render_site(tx, cfg, out)?;
    for &tag_id in &touched.tags {
        render_tag(tx, cfg, tag_id, out)?;
    }
    let mut pages: BTreeSet<i64> = touched.extra_pages.clone();
    for &id in &touched.articles {
        pages.insert(id);
        if let Some(article) = tx.article_by_id(id)? {
            if !article.is_pending {
                let (previous, next) = tx.neighbours(&article)?;
                pages.extend(previous.map(|a| a.id));
                pages.extend(next.map(|a| a.id));
            }
        }
    }
    for id in pages {
        render_article_page(tx, cfg, id, out)?;
    }
    for &id in &touched.moved {
        render_redirects(tx, cfg, id, out)?;
    }
    for (slug, title) in &touched.gone {
        render_gone(tx, cfg, slug, title, out)?;
    }
    Ok(())
}

/// Calls `each` with every article in publication order (oldest first), a batch at a time.
pub(super) fn for_each_article(
    tx: &Tx<'_>,
    published_only: bool,
    mut each: impl FnMut(&Article) -> Result<()>,
) -> Result<()> {
    const BATCH: usize = 500;
    let (mut at, mut id) = (i64::MIN, i64::MIN);
    loop {
        let batch = tx.articles_after(at, id, BATCH, published_only)?;
        for article in &batch {
            each(article)?;
        }
        match batch.last() {
            Some(last) if batch.len() == BATCH => (at, id) = (last.published.epoch(), last.id),
            _ => return Ok(()),
        }
    }
}

/// Renders every document of the site: after a change of version or configuration, and after
/// an import. Walks the archive once in publication order, so each page's neighbours are at
/// hand and memory stays bounded.
pub(super) fn rebuild_everything(
    tx: &Tx<'_>,
    cfg: &Config,
    out: &mut DocumentWriter<'_, '_>,
    rerender_bodies: bool,
) -> Result<()> {
    if rerender_bodies {
        // Bodies hold absolute links made from base_url: render them again too.
        for_each_article(tx, false, |article| {
            let url = render::article_url(cfg, &article.slug);
            // A body stored by an older version that now passes a limit is shown as plain
            // text rather than refused: it was published, and stays so. Say so in the log.
            let body = &article.body_markdown;
            let format = article.body_format;
            let html = render::body::try_render(body, format, &url).unwrap_or_else(|e| {
                tracing::warn!(slug = %article.slug, reason = %e, "a stored body is shown as plain text");
                render::markdown::preformatted(body)
            });
            if html != article.body_html {
                tx.set_body_html(article.id, &html)?;
            }
            Ok(())
        })?;
    }
    render_site(tx, cfg, out)?;
    for (id, _) in tx.all_tags()? {
        render_tag(tx, cfg, id, out)?;
    }
    // A window of three: the page in the middle is rendered once its next article is known.
    let mut previous: Option<Article> = None;
    let mut current: Option<Article> = None;
    for_each_article(tx, true, |article| {
        if let Some(cur) = &current {
            render_page_with(cfg, cur, previous.as_ref(), Some(article), out)?;
            render_redirects_of(tx, cfg, cur, out)?;
        }
        previous = current.take();
        current = Some(article.clone());
        Ok(())
    })?;
    if let Some(cur) = &current {
        render_page_with(cfg, cur, previous.as_ref(), None, out)?;
        render_redirects_of(tx, cfg, cur, out)?;
    }
    // Archives and sitemaps are rendered on request (see `archives`); drop copies stored by
    // versions that rendered them here, or they would shadow the current ones.
    tx.delete_documents_under(&format!("{}archive/", cfg.base_path()))?;
    tx.delete_document(&format!("{}sitemap.xml", cfg.base_path()))?;
    // Pages of deleted articles and redirects stay as they are: 410 and 301 keep their meaning.
    Ok(())
}

/// Renders the RSS, Atom and JSON feeds of `spec` and the page browsers get at the first two.
fn render_feeds(spec: &FeedSpec<'_>, cfg: &Config, out: &mut DocumentWriter<'_, '_>) -> Result<()> {
    let path = |file: &str| format!("{}{}{file}", cfg.base_path(), spec.dir);
    let own = spec.updated().epoch();
    let stamped = |modified: i64| FeedSpec {
        modified,
        links: spec.links.clone(),
        title: spec.title.clone(),
        description: spec.description.clone(),
        dir: spec.dir.clone(),
        page_url: spec.page_url.clone(),
        ..*spec
    };
    let stored = out.put_dated(&path("rss.xml"), render::RSS_TYPE, own, |modified| {
        render::rss::render_rss(&stamped(modified))
    })?;
    out.put_feed(stored, &path("rss.xml"))?;
    let stored = out.put_dated(&path("atom.xml"), render::ATOM_TYPE, own, |modified| {
        render::atom::render_atom(&stamped(modified))
    })?;
    out.put_feed(stored, &path("atom.xml"))?;
    // The view shows what the feeds hold; it is stamped like any page when its bytes change.
    out.put(render::encode(
        &views::key_of_dir(&path("")),
        render::HTML_TYPE,
        pages::render_feed_view(spec)?,
        own,
    ))?;
    // JSON Feed states no date of its own.
    let stored = out.put(render::encode(
        &path("feed.json"),
        render::JSON_FEED_TYPE,
        render::json::render_json(spec)?,
        own,
    ))?;
    out.put_feed(stored, &path("feed.json"))?;
    Ok(())
}

fn render_site(tx: &Tx<'_>, cfg: &Config, out: &mut DocumentWriter<'_, '_>) -> Result<()> {
    let articles = tx.latest(cfg.feeds.items.max(cfg.feeds.page_size + 1), 0)?;
    let in_feed = &articles[..articles.len().min(cfg.feeds.items)];
    let tombstones = tx.recent_tombstones(cfg.feeds.items)?;
    let mut links = Vec::new();
    if let Some(newest) = articles.first() {
        links.push((
            "prev-archive",
            cfg.url(&crate::routes::Month::of(newest.published.epoch()).dir()),
        ));
    }
    let spec = FeedSpec {
        cfg,
        title: cfg.site.title.clone(),
        description: cfg.site.description.clone(),
        dir: String::new(),
        page_url: cfg.site.base_url.clone(),
        articles: in_feed,
        tombstones: &tombstones,
        links,
        is_archive: false,
        modified: 0,
    };
    render_feeds(&spec, cfg, out)?;
    let on_page = &articles[..articles.len().min(cfg.feeds.page_size)];
    let page_modified = crate::article::newest_update(on_page).max(spec.updated().epoch());
    let html = pages::render_list(cfg, None, on_page, 1, articles.len() > cfg.feeds.page_size)?;
    out.put(render::encode(
        cfg.base_path(),
        render::HTML_TYPE,
        html,
        page_modified,
    ))?;
    out.put(render::encode(
        &format!("{}robots.txt", cfg.base_path()),
        render::TEXT_TYPE,
        render::sitemap::render_robots(&cfg.url("sitemap.xml")),
        0,
    ))?;
    let not_found = pages::render_message(
        cfg,
        "Page not found",
        "There is nothing at this address. The article may have moved, or the link may be mistyped.",
        None,
    )?;
    let mut doc = render::encode(
        &format!("{}404", cfg.base_path()),
        render::HTML_TYPE,
        not_found,
        0,
    );
    doc.status = 404;
    out.put(doc)?;
    Ok(())
}

fn render_tag(
    tx: &Tx<'_>,
    cfg: &Config,
    tag_id: i64,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    let Some(tag) = tx.tag_by_id(tag_id)? else {
        return Ok(());
    };
    let dir = Route::tag_page(&tag.slug).relative();
    let articles = tx.latest_in_tag(tag_id, cfg.feeds.items.max(cfg.feeds.page_size + 1), 0)?;
    if articles.is_empty() && tx.count_published(Some(tag_id))? == 0 {
        // The tag is no longer used by any published article: its feeds and page are gone.
        tx.prune_tags(&[tag_id])?;
        let text = format!("Nothing is tagged “{}” any more.", tag.name);
        let body = pages::render_message(cfg, "Gone", &text, None)?;
        let dir_path = format!("{}{dir}", cfg.base_path());
        for path in tx.document_paths(&dir_path)? {
            out.put(render::status_document(&path, 410, None, body.clone(), 0))?;
        }
        // Browsers at the feeds' URLs now get the 410 like everyone; the view has no reader.
        tx.delete_document(&views::key_of_dir(&dir_path))?;
        return Ok(());
    }
    let in_feed = &articles[..articles.len().min(cfg.feeds.items)];
    let spec = FeedSpec {
        cfg,
        title: format!("{} — {}", cfg.site.title, tag.name),
        description: format!("Articles tagged “{}” on {}", tag.name, cfg.site.title),
        dir: dir.clone(),
        page_url: render::tag_url(cfg, &tag.slug),
        articles: in_feed,
        tombstones: &[],
        links: Vec::new(),
        is_archive: false,
        modified: 0,
    };
    render_feeds(&spec, cfg, out)?;
    let on_page = &articles[..articles.len().min(cfg.feeds.page_size)];
    let html = pages::render_list(
        cfg,
        Some(&tag),
        on_page,
        1,
        articles.len() > cfg.feeds.page_size,
    )?;
    out.put(render::encode(
        &format!("{}{dir}", cfg.base_path()),
        render::HTML_TYPE,
        html,
        crate::article::newest_update(on_page),
    ))?;
    Ok(())
}

fn article_path(cfg: &Config, slug: &str) -> String {
    Route::article(slug).path(cfg)
}

fn render_article_page(
    tx: &Tx<'_>,
    cfg: &Config,
    id: i64,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    let Some(article) = tx.article_by_id(id)? else {
        return Ok(());
    };
    if article.is_pending {
        return Ok(());
    }
    let (previous, next) = tx.neighbours(&article)?;
    render_page_with(cfg, &article, previous.as_ref(), next.as_ref(), out)
}

/// Renders an article's page given its neighbours.
fn render_page_with(
    cfg: &Config,
    article: &Article,
    previous: Option<&Article>,
    next: Option<&Article>,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    let html = pages::render_article(cfg, article, previous, next)?;
    // The page shows its neighbours' titles: it changes when they do.
    let last_modified = [Some(article), previous, next]
        .into_iter()
        .flatten()
        .map(|a| a.updated.epoch())
        .max()
        .unwrap_or(0);
    out.put(render::encode(
        &article_path(cfg, &article.slug),
        render::HTML_TYPE,
        html,
        last_modified,
    ))?;
    Ok(())
}

fn render_redirects(
    tx: &Tx<'_>,
    cfg: &Config,
    id: i64,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    let Some(article) = tx.article_by_id(id)? else {
        return Ok(());
    };
    render_redirects_of(tx, cfg, &article, out)
}

/// Renders the 301s of `article`'s old slugs and old URLs.
fn render_redirects_of(
    tx: &Tx<'_>,
    cfg: &Config,
    article: &Article,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    let id = article.id;
    let url = render::article_url(cfg, &article.slug);
    for old in tx.redirects_to(id)? {
        let body = pages::render_message(
            cfg,
            "Moved",
            "This article has a new address.",
            Some((&article.title, &url)),
        )?;
        out.put(render::status_document(
            &article_path(cfg, &old),
            301,
            Some(url.clone()),
            body,
            article.updated.epoch(),
        ))?;
    }
    for old in tx.old_urls_of(id)? {
        let body = pages::render_moved(cfg, &article.title, &url);
        out.put(render::status_document(
            &old,
            301,
            Some(url.clone()),
            body,
            article.updated.epoch(),
        ))?;
    }
    Ok(())
}

/// Renders the 301s of old feed and tag URLs (from an import) to the routes that took their
/// place.
pub(super) fn render_old_route_urls(
    tx: &Tx<'_>,
    cfg: &Config,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    for (old, target) in tx.old_route_urls()? {
        let url = cfg.url(&target);
        let body = pages::render_moved(cfg, &url, &url);
        out.put(render::status_document(&old, 301, Some(url), body, 0))?;
    }
    Ok(())
}

fn render_gone(
    tx: &Tx<'_>,
    cfg: &Config,
    slug: &str,
    title: &str,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    if tx.article_by_slug(slug)?.is_some_and(|a| !a.is_pending) {
        return Ok(());
    }
    let text = format!("“{title}” was removed and is no longer available.");
    let body = pages::render_message(cfg, "Article removed", &text, None)?;
    out.put(render::status_document(
        &article_path(cfg, slug),
        410,
        None,
        body,
        0,
    ))?;
    Ok(())
}
