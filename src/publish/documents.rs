//! The documents a change renders: site and tag feeds and pages, article pages, archives,
//! redirects and tombstone pages. Each function renders from the transaction's view of the
//! store and hands bytes to the [`DocumentWriter`], which skips unchanged documents.

use std::collections::BTreeSet;

use chrono::DateTime;

use super::Touched;
use crate::config::Config;
use crate::render::sitemap::SitemapEntry;
use crate::render::{self, pages, FeedSpec};
use crate::store::articles::ArticleQueries;
use crate::store::{Article, Document, Tx};
use crate::Result;

/// A calendar month in UTC: the period of one archive document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month containing the instant `epoch` (UTC).
    pub fn of(epoch: i64) -> Month {
        use chrono::Datelike;
        let at = DateTime::from_timestamp(epoch, 0).unwrap_or_default();
        Month {
            year: at.year(),
            month: at.month(),
        }
    }

    /// First second of the month.
    pub fn start(self) -> i64 {
        chrono::NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp())
            .unwrap_or(0)
    }

    /// First second of the next month.
    pub fn end(self) -> i64 {
        let (year, month) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        Month { year, month }.start()
    }

    /// Directory of its documents below the root: `archive/2026-09/`.
    pub fn dir(self) -> String {
        format!("archive/{:04}-{:02}/", self.year, self.month)
    }
}

/// Collects the documents a change renders; [`DocumentWriter::flush`] compresses the changed
/// ones (in parallel) and stores them under one generation.
pub(super) struct DocumentWriter<'t, 'c> {
    pub(super) tx: &'t Tx<'c>,
    pub(super) generation: i64,
    pending: Vec<Document>,
    pending_bytes: usize,
    changed: usize,
}

/// Bytes of queued documents after which they are compressed and stored (bounds the memory of
/// a whole-site rebuild).
const FLUSH_BYTES: usize = 32 * 1024 * 1024;

impl<'t, 'c> DocumentWriter<'t, 'c> {
    /// A writer for the transaction `tx`, storing under `generation`.
    pub(super) fn new(tx: &'t Tx<'c>, generation: i64) -> Self {
        DocumentWriter {
            tx,
            generation,
            pending: Vec::new(),
            pending_bytes: 0,
            changed: 0,
        }
    }

    /// Queues `doc` unless the same bytes are already stored (or queued): an unchanged document
    /// costs a hash and an indexed lookup, and keeps its generation and validators.
    fn put(&mut self, doc: Document) -> Result<()> {
        if self.tx.has_same_document(&doc)? {
            return Ok(());
        }
        self.pending.retain(|queued| queued.path != doc.path);
        self.pending_bytes += doc.body.len();
        self.pending.push(doc);
        if self.pending_bytes > FLUSH_BYTES {
            self.store_pending()?;
        }
        Ok(())
    }

    /// Compresses and stores what is queued, so later queries in the transaction see it.
    fn store_pending(&mut self) -> Result<()> {
        let compressed = compress_all(std::mem::take(&mut self.pending));
        self.pending_bytes = 0;
        for doc in &compressed {
            self.tx.put_document(doc, self.generation)?;
        }
        self.changed += compressed.len();
        Ok(())
    }

    /// Compresses and stores what is queued; returns how many documents changed in all.
    pub(super) fn flush(mut self) -> Result<usize> {
        self.store_pending()?;
        Ok(self.changed)
    }
}

/// Compresses documents on every core: compression is most of a publish's CPU time.
fn compress_all(docs: Vec<Document>) -> Vec<Document> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(docs.len());
    if threads <= 1 {
        return docs.into_iter().map(render::compress).collect();
    }
    // Deal the documents out round-robin so large feeds spread over the threads.
    let mut shares: Vec<Vec<Document>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, doc) in docs.into_iter().enumerate() {
        shares[i % threads].push(doc);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| {
                scope.spawn(move || share.into_iter().map(render::compress).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(done) => done,
                // Compression does not panic on any input; if it did, fail loudly.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
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
    let mut months = touched.months.clone();
    for month in &touched.months {
        // The next archive's prev-archive link may now point at this month.
        if let Some(t) = tx.first_published_from(month.end())? {
            months.insert(Month::of(t));
        }
    }
    let any_month = !months.is_empty();
    for month in months {
        render_archive(tx, cfg, month, out)?;
    }
    if any_month {
        render_sitemap_index(tx, cfg, out)?;
    }
    Ok(())
}

/// `/sitemap.xml`: the index of the monthly sitemaps.
fn render_sitemap_index(tx: &Tx<'_>, cfg: &Config, out: &mut DocumentWriter<'_, '_>) -> Result<()> {
    // The index lists the stored monthly sitemaps, including those queued by this change.
    out.store_pending()?;
    let prefix = format!("{}archive/", cfg.base_path());
    let months = tx.document_dates(&prefix, "/sitemap.xml")?;
    let entries: Vec<SitemapEntry> = months
        .iter()
        .map(|(path, modified)| SitemapEntry {
            url: cfg.url(path.strip_prefix(cfg.base_path()).unwrap_or(path)),
            lastmod: DateTime::from_timestamp(*modified, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect();
    let newest = months.iter().map(|(_, m)| *m).max().unwrap_or(0);
    out.put(render::encode(
        &format!("{}sitemap.xml", cfg.base_path()),
        render::XML_TYPE,
        render::sitemap::render_index(&entries),
        newest,
    ))
}

fn render_archive(
    tx: &Tx<'_>,
    cfg: &Config,
    month: Month,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    let articles = tx.published_between(month.start(), month.end())?;
    let tombstones = tx.tombstones_between(month.start(), month.end())?;
    let dir = month.dir();
    let mut links = vec![("current", cfg.site.base_url.clone())];
    if let Some(t) = tx.last_published_before(month.start())? {
        links.push(("prev-archive", cfg.url(&Month::of(t).dir())));
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
    };
    let last_modified = spec.updated().epoch();
    let xsl = stylesheet(cfg);
    let path = |file: &str| format!("{}{}{file}", cfg.base_path(), spec.dir);
    let entries: Vec<SitemapEntry> = articles
        .iter()
        .map(|a| SitemapEntry {
            url: render::article_url(cfg, &a.slug),
            lastmod: a.updated.rfc3339(),
        })
        .collect();
    out.put(render::encode(
        &path("sitemap.xml"),
        render::XML_TYPE,
        render::sitemap::render_urlset(&entries),
        newest_update(&articles),
    ))?;
    out.put(render::encode(
        &path("rss.xml"),
        render::RSS_TYPE,
        render::rss::render_rss(&spec, &xsl)?,
        last_modified,
    ))?;
    out.put(render::encode(
        &path("atom.xml"),
        render::ATOM_TYPE,
        render::atom::render_atom(&spec, &xsl)?,
        last_modified,
    ))
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
            let html = render::markdown::render_html(&article.body_markdown, &url);
            if html != article.body_html {
                tx.execute(
                    "UPDATE articles SET body_html = ?2 WHERE id = ?1",
                    rusqlite::params![article.id, html],
                )?;
            }
            Ok(())
        })?;
    }
    render_site(tx, cfg, out)?;
    for (id, _) in tx.all_tags()? {
        render_tag(tx, cfg, id, out)?;
    }
    // A window of three: the page in the middle is rendered once its next article is known.
    let mut months = BTreeSet::new();
    let mut previous: Option<Article> = None;
    let mut current: Option<Article> = None;
    for_each_article(tx, true, |article| {
        months.insert(Month::of(article.published.epoch()));
        if let Some(cur) = &current {
            render_page_with(cfg, cur, previous.as_ref(), Some(article), out)?;
            render_redirects(tx, cfg, cur.id, out)?;
        }
        previous = current.take();
        current = Some(article.clone());
        Ok(())
    })?;
    if let Some(cur) = &current {
        render_page_with(cfg, cur, previous.as_ref(), None, out)?;
        render_redirects(tx, cfg, cur.id, out)?;
    }
    for month in months {
        render_archive(tx, cfg, month, out)?;
    }
    render_sitemap_index(tx, cfg, out)?;
    // Pages of deleted articles and redirects stay as they are: 410 and 301 keep their meaning.
    Ok(())
}

fn stylesheet(cfg: &Config) -> String {
    format!(
        "{}assets/{}",
        cfg.base_path(),
        render::assets::feed_xsl_name()
    )
}

fn render_feeds(
    spec: &FeedSpec<'_>,
    cfg: &Config,
    last_modified: i64,
    out: &mut DocumentWriter<'_, '_>,
) -> Result<()> {
    let path = |file: &str| format!("{}{}{file}", cfg.base_path(), spec.dir);
    let xsl = stylesheet(cfg);
    out.put(render::encode(
        &path("rss.xml"),
        render::RSS_TYPE,
        render::rss::render_rss(spec, &xsl)?,
        last_modified,
    ))?;
    out.put(render::encode(
        &path("atom.xml"),
        render::ATOM_TYPE,
        render::atom::render_atom(spec, &xsl)?,
        last_modified,
    ))?;
    out.put(render::encode(
        &path("feed.json"),
        render::JSON_FEED_TYPE,
        render::json::render_json(spec)?,
        last_modified,
    ))?;
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
            cfg.url(&Month::of(newest.published.epoch()).dir()),
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
    };
    let last_modified = spec.updated().epoch();
    render_feeds(&spec, cfg, last_modified, out)?;
    let on_page = &articles[..articles.len().min(cfg.feeds.page_size)];
    let page_modified = newest_update(on_page).max(last_modified);
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
    out.put(doc)
}

pub(super) fn newest_update(articles: &[Article]) -> i64 {
    articles
        .iter()
        .map(|a| a.updated.epoch())
        .max()
        .unwrap_or(0)
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
    let dir = format!("tags/{}/", tag.slug);
    let articles = tx.latest_in_tag(tag_id, cfg.feeds.items.max(cfg.feeds.page_size + 1), 0)?;
    if articles.is_empty() && tx.count_published(Some(tag_id))? == 0 {
        // The tag is no longer used by any published article: its feeds and page are gone.
        tx.prune_tags(&[tag_id])?;
        let text = format!("Nothing is tagged “{}” any more.", tag.name);
        let body = pages::render_message(cfg, "Gone", &text, None)?;
        for path in tx.document_paths(&format!("{}{dir}", cfg.base_path()))? {
            out.put(render::status_document(&path, 410, None, body.clone(), 0))?;
        }
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
    };
    let last_modified = spec.updated().epoch();
    render_feeds(&spec, cfg, last_modified, out)?;
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
        newest_update(on_page),
    ))
}

fn article_path(cfg: &Config, slug: &str) -> String {
    format!("{}articles/{slug}", cfg.base_path())
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
    ))
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
    ))
}
