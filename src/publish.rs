//! "The archive changed": store the change and render everything it touches, in one
//! transaction, so readers see the site as it was before or as it is after, never between.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::article::{self, Fields, Limits, NewArticle, Source, Timestamp};
use crate::config::Config;
use crate::render::{self, pages, FeedSpec};
use crate::store::articles::ArticleQueries;
use crate::store::{Article, ArticleRow, Document, Store, Tx};
use crate::{Error, Result};

/// Key in `meta` of the fingerprint of everything, besides articles, that shapes the output.
const FINGERPRINT_KEY: &str = "site_fingerprint";

/// What a change touched, and so what must be rendered again.
#[derive(Debug, Default)]
struct Touched {
    /// Articles whose pages (and whose neighbours' pages) must be rendered.
    articles: BTreeSet<i64>,
    /// Neighbours from before the change (their links may now point elsewhere).
    extra_pages: BTreeSet<i64>,
    /// Tags whose feeds and pages must be rendered.
    tags: BTreeSet<i64>,
    /// Article slugs whose pages are gone, with the title they had.
    gone: Vec<(String, String)>,
    /// Article ids whose old slugs must redirect to their current page.
    moved: BTreeSet<i64>,
    /// Archive months (RFC 5005) whose documents must be rendered.
    months: BTreeSet<Month>,
}

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

/// The outcome of an edit.
#[derive(Debug, PartialEq, Eq)]
pub enum EditOutcome {
    /// The article changed; its URL now.
    Changed(String),
    /// Nothing differed from what is stored; nothing was written.
    Unchanged(String),
}

/// Validates each source (with `flags` overriding its fields) against the limits in `cfg`.
pub fn prepare(
    cfg: &Config,
    sources: &[Source],
    flags: &Fields,
    now: DateTime<Utc>,
) -> Result<Vec<NewArticle>> {
    let limits = Limits {
        max_body_bytes: cfg.storage.max_article_bytes,
    };
    sources
        .iter()
        .map(|s| {
            article::validate(
                &s.name,
                &s.fields.clone().overlay(flags),
                &s.body,
                now,
                limits,
            )
        })
        .collect()
}

/// Adds articles in one transaction and renders what they touch. Returns their URLs.
///
/// Errors: a slug already taken (by a stored article or another input), database errors. On
/// error nothing is written.
pub fn add(
    store: &mut Store,
    cfg: &Config,
    articles: &[NewArticle],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let tx = store.write()?;
    let mut touched = Touched::default();
    let mut urls = Vec::with_capacity(articles.len());
    for (index, new) in articles.iter().enumerate() {
        if let Some(existing) = tx.article_by_slug(&new.slug)? {
            return Err(Error::SlugTaken {
                source_name: new.source_name.clone(),
                slug: new.slug.clone(),
                title: existing.title,
            });
        }
        if let Some(earlier) = articles[..index].iter().find(|a| a.slug == new.slug) {
            return Err(Error::SlugTaken {
                source_name: new.source_name.clone(),
                slug: new.slug.clone(),
                title: earlier.title.clone(),
            });
        }
        let entry_id = mint_entry_id(&tx, cfg, new)?;
        let url = render::article_url(cfg, &new.slug);
        let body_html = render_body(new, &url)?;
        let excerpt = render::markdown::excerpt(&new.body);
        let is_pending = new.published.epoch() > now.timestamp();
        let id = tx.insert_article(&ArticleRow {
            article: new,
            entry_id: &entry_id,
            body_html: &body_html,
            excerpt: &excerpt,
            is_pending,
        })?;
        if !is_pending {
            touch_article(&tx, &mut touched, id)?;
        }
        urls.push(url);
    }
    finish(tx, cfg, touched, now)?;
    Ok(urls)
}

/// Replaces fields of the article at `slug`: stored values, then `source` (if any), then
/// `flags`. Keeps the entry id; `updated` becomes `now` unless a new value is given. A new
/// slug leaves a redirect at the old one.
pub fn edit(
    store: &mut Store,
    cfg: &Config,
    slug: &str,
    source: Option<&Source>,
    flags: &Fields,
    now: DateTime<Utc>,
) -> Result<EditOutcome> {
    let tx = store.write()?;
    let existing = tx.article_by_slug(slug)?.ok_or_else(|| Error::NotFound {
        slug: slug.to_string(),
    })?;
    let stored = Fields {
        title: Some(existing.title.clone()),
        slug: Some(existing.slug.clone()),
        published: Some(existing.published.rfc3339()),
        updated: Some(existing.updated.rfc3339()),
        author: existing.author.clone(),
        summary: existing.summary.clone(),
        tags: Some(existing.tags.iter().map(|t| t.name.clone()).collect()),
    };
    let mut fields = stored.clone();
    let mut body = existing.body_markdown.clone();
    let source_name = match source {
        Some(s) => {
            fields = fields.overlay(&s.fields);
            body = s.body.clone();
            s.name.clone()
        }
        None => slug.to_string(),
    };
    let fields = fields.overlay(flags);
    let limits = Limits {
        max_body_bytes: cfg.storage.max_article_bytes,
    };
    let mut new = article::validate(&source_name, &fields, &body, now, limits)?;
    let same_as_stored = new.title == existing.title
        && new.slug == existing.slug
        && new.published == existing.published
        && new.author == existing.author
        && new.summary == existing.summary
        && new.tags == existing.tags
        && new.body == existing.body_markdown;
    if same_as_stored && new.updated == existing.updated {
        return Ok(EditOutcome::Unchanged(render::article_url(
            cfg,
            &existing.slug,
        )));
    }
    if new.updated == existing.updated {
        // Not given anew: the edit itself is the update.
        let now = Timestamp::from_utc(now);
        new.updated = if now.epoch() < new.published.epoch() {
            new.published.clone()
        } else {
            now
        };
    }
    if new.slug != existing.slug {
        if let Some(other) = tx.article_by_slug(&new.slug)? {
            return Err(Error::SlugTaken {
                source_name,
                slug: new.slug.clone(),
                title: other.title,
            });
        }
    }

    let mut touched = Touched::default();
    if !existing.is_pending {
        let (previous, next) = tx.neighbours(&existing)?;
        touched.extra_pages.extend(previous.map(|a| a.id));
        touched.extra_pages.extend(next.map(|a| a.id));
        touched.tags.extend(tag_ids(&tx, &existing)?);
        touched.months.insert(Month::of(existing.published.epoch()));
    }
    let url = render::article_url(cfg, &new.slug);
    let body_html = render_body(&new, &url)?;
    let excerpt = render::markdown::excerpt(&new.body);
    let is_pending = new.published.epoch() > now.timestamp();
    tx.update_article(
        existing.id,
        &ArticleRow {
            article: &new,
            entry_id: &existing.entry_id,
            body_html: &body_html,
            excerpt: &excerpt,
            is_pending,
        },
    )?;
    if new.slug != existing.slug {
        tx.add_redirect(&existing.slug, existing.id)?;
        touched.moved.insert(existing.id);
    }
    if is_pending {
        if !existing.is_pending {
            touched
                .gone
                .push((existing.slug.clone(), existing.title.clone()));
        }
    } else {
        touch_article(&tx, &mut touched, existing.id)?;
    }
    finish(tx, cfg, touched, now)?;
    Ok(EditOutcome::Changed(url))
}

/// Deletes the article at `slug`; its page answers 410 and the Atom feed carries a tombstone.
pub fn delete(store: &mut Store, cfg: &Config, slug: &str, now: DateTime<Utc>) -> Result<Article> {
    let tx = store.write()?;
    let existing = tx.article_by_slug(slug)?.ok_or_else(|| Error::NotFound {
        slug: slug.to_string(),
    })?;
    let mut touched = Touched::default();
    if !existing.is_pending {
        let (previous, next) = tx.neighbours(&existing)?;
        touched.extra_pages.extend(previous.map(|a| a.id));
        touched.extra_pages.extend(next.map(|a| a.id));
        touched.tags.extend(tag_ids(&tx, &existing)?);
        touched
            .gone
            .push((existing.slug.clone(), existing.title.clone()));
        for old in tx.redirects_to(existing.id)? {
            touched.gone.push((old, existing.title.clone()));
        }
    }
    tx.delete_article(&existing, &Timestamp::from_utc(now))?;
    finish(tx, cfg, touched, now)?;
    Ok(existing)
}

/// Publishes scheduled articles whose moment has come. Returns how many.
pub fn release_due(store: &mut Store, cfg: &Config, now: DateTime<Utc>) -> Result<usize> {
    if store.due_articles(now.timestamp())?.is_empty() {
        return Ok(0);
    }
    let tx = store.write()?;
    let count = tx.due_articles(now.timestamp())?.len();
    finish(tx, cfg, Touched::default(), now)?;
    Ok(count)
}

/// Renders the whole site again if the binary, its assets or the configuration changed since
/// the last publish (or if nothing was ever rendered). Returns true if it rebuilt.
pub fn refresh_if_stale(store: &mut Store, cfg: &Config, now: DateTime<Utc>) -> Result<bool> {
    if store.meta(FINGERPRINT_KEY)?.as_deref() == Some(&fingerprint(cfg)) {
        return Ok(false);
    }
    let tx = store.write()?;
    finish(tx, cfg, Touched::default(), now)?;
    Ok(true)
}

/// Renders the article's body, refusing one too large for a feed item: a reader that meets a
/// feed over its size limit drops the whole feed.
fn render_body(new: &NewArticle, url: &str) -> Result<String> {
    let html = render::markdown::render_html(&new.body, url);
    if html.len() > render::MAX_ITEM_BYTES {
        return Err(Error::invalid(
            &new.source_name,
            "body",
            format!(
                "renders to {} bytes of HTML, more than one feed item may carry ({} bytes); split the article",
                html.len(),
                render::MAX_ITEM_BYTES
            ),
        ));
    }
    Ok(html)
}

/// Everything besides the articles that shapes what is rendered.
fn fingerprint(cfg: &Config) -> String {
    use sha2::{Digest, Sha256};
    let parts = [
        render::VERSION.to_string(),
        render::assets::fingerprint(),
        cfg.site.base_url.clone(),
        cfg.site.title.clone(),
        cfg.site.description.clone(),
        cfg.site.author.clone(),
        cfg.site.language.clone(),
        cfg.feeds.items.to_string(),
        cfg.feeds.page_size.to_string(),
        cfg.server.feed_max_age.to_string(),
    ];
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `tag:host,YYYY-MM-DD:slug` (RFC 4151), made unique with a counter if that id was ever used.
fn mint_entry_id(tx: &Tx<'_>, cfg: &Config, new: &NewArticle) -> Result<String> {
    let date = new.published.at.with_timezone(&Utc).format("%Y-%m-%d");
    let base = format!("tag:{},{date}:{}", cfg.site.host, new.slug);
    let mut candidate = base.clone();
    let mut n = 1;
    while tx.entry_id_exists(&candidate)? {
        n += 1;
        candidate = format!("{base}-{n}");
    }
    Ok(candidate)
}

fn tag_ids(tx: &Tx<'_>, article: &Article) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(article.tags.len());
    for tag in &article.tags {
        if let Some((id, _)) = tx.tag_by_slug(&tag.slug)? {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn touch_article(tx: &Tx<'_>, touched: &mut Touched, id: i64) -> Result<()> {
    touched.articles.insert(id);
    if let Some(article) = tx.article_by_id(id)? {
        touched.tags.extend(tag_ids(tx, &article)?);
        touched.months.insert(Month::of(article.published.epoch()));
    }
    Ok(())
}

/// Releases due articles, renders everything `touched` names (everything, if the site's
/// fingerprint changed), and commits.
fn finish(tx: Tx<'_>, cfg: &Config, mut touched: Touched, now: DateTime<Utc>) -> Result<()> {
    let due = tx.due_articles(now.timestamp())?;
    tx.release(&due)?;
    for id in due {
        touch_article(&tx, &mut touched, id)?;
    }
    let fingerprint = fingerprint(cfg);
    let full = tx.meta(FINGERPRINT_KEY)?.as_deref() != Some(&fingerprint);
    let generation = tx.next_generation()?;
    let mut writer = DocumentWriter {
        tx: &tx,
        generation,
        changed: 0,
    };
    if full {
        rebuild_everything(&tx, cfg, &mut writer)?;
        tx.set_meta(FINGERPRINT_KEY, &fingerprint)?;
    } else {
        render_touched(&tx, cfg, &touched, &mut writer)?;
    }
    if writer.changed > 0 {
        tx.set_generation(generation)?;
    }
    tx.commit()
}

struct DocumentWriter<'t, 'c> {
    tx: &'t Tx<'c>,
    generation: i64,
    changed: usize,
}

impl DocumentWriter<'_, '_> {
    fn put(&mut self, doc: Document) -> Result<()> {
        if self.tx.put_document(&doc, self.generation)? {
            self.changed += 1;
        }
        Ok(())
    }
}

fn render_touched(
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
    for month in months {
        render_archive(tx, cfg, month, out)?;
    }
    Ok(())
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

fn rebuild_everything(tx: &Tx<'_>, cfg: &Config, out: &mut DocumentWriter<'_, '_>) -> Result<()> {
    // Bodies hold absolute links made from base_url: render them again too.
    for article in tx.all_articles()? {
        let url = render::article_url(cfg, &article.slug);
        let html = render::markdown::render_html(&article.body_markdown, &url);
        if html != article.body_html {
            tx.execute(
                "UPDATE articles SET body_html = ?2 WHERE id = ?1",
                rusqlite::params![article.id, html],
            )?;
        }
    }
    render_site(tx, cfg, out)?;
    for (id, _) in tx.all_tags()? {
        render_tag(tx, cfg, id, out)?;
    }
    let ids: Vec<i64> = tx
        .all_articles()?
        .iter()
        .filter(|a| !a.is_pending)
        .map(|a| a.id)
        .collect();
    for id in &ids {
        render_article_page(tx, cfg, *id, out)?;
        render_redirects(tx, cfg, *id, out)?;
    }
    let mut months = BTreeSet::new();
    let mut cursor = tx.first_published_from(i64::MIN)?;
    while let Some(t) = cursor {
        let month = Month::of(t);
        months.insert(month);
        cursor = tx.first_published_from(month.end())?;
    }
    for month in months {
        render_archive(tx, cfg, month, out)?;
    }
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
    let articles = tx.latest(cfg.feeds.items.max(cfg.feeds.page_size), 0)?;
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
    let html = pages::render_list(cfg, None, on_page, 1, false)?;
    out.put(render::encode(
        cfg.base_path(),
        render::HTML_TYPE,
        html,
        page_modified,
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

fn newest_update(articles: &[Article]) -> i64 {
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
    let articles = tx.latest_in_tag(tag_id, cfg.feeds.items.max(cfg.feeds.page_size), 0)?;
    if articles.is_empty() && tx.count_published(Some(tag_id))? == 0 {
        // The tag is no longer used by any published article: its feeds and page are gone.
        let removed = tx.prune_tags(&[tag_id])?;
        let text = format!("Nothing is tagged “{}” any more.", tag.name);
        let body = pages::render_message(cfg, "Gone", &text, None)?;
        for path in tx.document_paths(&format!("{}{dir}", cfg.base_path()))? {
            out.put(render::status_document(&path, 410, None, body.clone(), 0))?;
        }
        let _ = removed;
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
    let html = pages::render_list(cfg, Some(&tag), on_page, 1, false)?;
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
    let html = pages::render_article(cfg, &article, previous.as_ref(), next.as_ref())?;
    // The page shows its neighbours' titles: it changes when they do.
    let last_modified = [Some(&article), previous.as_ref(), next.as_ref()]
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
