//! "The archive changed": store the change and render everything it touches, in one
//! transaction, so readers see the site as it was before or as it is after, never between.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::article::Article;
use crate::article::{self, Fields, Limits, NewArticle, Source, Tag, Timestamp};
use crate::config::Config;
use crate::render;
use crate::store::articles::ArticleQueries;
use crate::store::{ArticleRow, Store, Tx};
use crate::{Error, Result};

mod documents;
pub mod import;

pub use crate::routes::Month;
use documents::{rebuild_everything, render_touched, DocumentWriter};

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
    /// Render every document (after an import).
    everything: bool,
    /// Render the 301s of old feed and tag URLs (after an import that recorded some).
    old_routes: bool,
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
/// Errors: a slug already taken (by a stored article or another input), a body too large for
/// a feed, database errors. On error nothing is written.
pub fn add(
    store: &mut Store,
    cfg: &Config,
    articles: &[NewArticle],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let mut seen = std::collections::HashMap::with_capacity(articles.len());
    for new in articles {
        if let Some(earlier) = seen.insert(new.slug.as_str(), new) {
            return Err(Error::SlugTaken {
                source_name: new.source_name.clone(),
                slug: new.slug.clone(),
                title: earlier.title.clone(),
            });
        }
    }
    let bodies = render_bodies(cfg, articles)?;
    let tx = store.write()?;
    let mut touched = Touched::default();
    let mut urls = Vec::with_capacity(articles.len());
    for (new, (body_html, excerpt)) in articles.iter().zip(&bodies) {
        if let Some(title) = tx.slug_title(&new.slug)? {
            return Err(Error::SlugTaken {
                source_name: new.source_name.clone(),
                slug: new.slug.clone(),
                title,
            });
        }
        let entry_id = mint_entry_id(&tx, cfg, new)?;
        let is_pending = new.published.epoch() > now.timestamp();
        let id = tx.insert_article(&ArticleRow {
            article: new,
            entry_id: &entry_id,
            body_html,
            excerpt,
            is_pending,
        })?;
        if !is_pending {
            touch_article(&tx, &mut touched, id)?;
        }
        urls.push(render::article_url(cfg, &new.slug));
    }
    finish(tx, cfg, touched, now)?;
    Ok(urls)
}

/// Renders each article's body and excerpt, on every core when there are many.
fn render_bodies(cfg: &Config, articles: &[NewArticle]) -> Result<Vec<(String, String)>> {
    let one = |new: &NewArticle| -> Result<(String, String)> {
        let url = render::article_url(cfg, &new.slug);
        Ok((
            render_body(new, &url)?,
            render::body::excerpt(&new.body, new.body_format),
        ))
    };
    crate::parallel::map(articles, 32, one)
        .into_iter()
        .collect()
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
        tags: Some(existing.tags.iter().map(|t| t.written.clone()).collect()),
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
    // An article imported as HTML stays HTML: a new body is read as the stored one was.
    new.body_format = existing.body_format;
    let same_as_stored = new.title == existing.title
        && new.slug == existing.slug
        && new.published == existing.published
        && new.author == existing.author
        && new.summary == existing.summary
        && same_tags(&new.tags, &existing.tags)
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
        touch_departure(&tx, &mut touched, &existing)?;
    }
    let url = render::article_url(cfg, &new.slug);
    let body_html = render_body(&new, &url)?;
    let excerpt = render::body::excerpt(&new.body, new.body_format);
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
        touch_departure(&tx, &mut touched, &existing)?;
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

/// Whether the site was ever rendered into this database (by any version or configuration).
pub fn was_rendered(store: &Store) -> Result<bool> {
    Ok(store.meta(FINGERPRINT_KEY)?.is_some())
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

/// Renders the article's body, refusing one that could not be sanitized in bounded time (too
/// deeply nested, or too large before sanitizing) and one too large for a feed item: a reader
/// that meets a feed over its size limit drops the whole feed.
fn render_body(new: &NewArticle, url: &str) -> Result<String> {
    let html = render::body::try_render(&new.body, new.body_format, url)
        .map_err(|refusal| Error::invalid(&new.source_name, "body", refusal.to_string()))?;
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

/// Where a publish pushes the subscription feeds it changes.
pub fn fanout(cfg: &Config) -> crate::store::hub::Fanout {
    use crate::store::hub::Fanout;
    match cfg.websub.hub {
        crate::config::Hub::Off => Fanout::Nowhere,
        crate::config::Hub::Builtin => Fanout::Subscribers,
        crate::config::Hub::External(_) => Fanout::ExternalHub,
    }
}

/// Everything besides the articles that shapes what is rendered.
fn fingerprint(cfg: &Config) -> String {
    use sha2::{Digest, Sha256};
    let parts = [
        render::VERSION.to_string(),
        render::markdown::BODY_REVISION.to_string(),
        render::assets::fingerprint(),
        cfg.site.base_url.clone(),
        cfg.site.title.clone(),
        cfg.site.description.clone(),
        cfg.site.author.clone(),
        cfg.site.language.clone(),
        cfg.feeds.items.to_string(),
        cfg.feeds.page_size.to_string(),
        cfg.server.feed_max_age.to_string(),
        cfg.hub_url().unwrap_or_default(),
    ];
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// `tag:host,YYYY-MM-DD:slug` (RFC 4151), made unique with a counter if that id was ever used.
fn mint_entry_id(tx: &Tx<'_>, cfg: &Config, new: &NewArticle) -> Result<String> {
    if let Some(kept) = &new.entry_id {
        return Ok(kept.clone());
    }
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

/// True when both lists name the same tags, written alike, in the same order. Slugs are left
/// out: a new article's are proposals, the store keeps those of the tags it has.
fn same_tags(new: &[Tag], stored: &[Tag]) -> bool {
    new.iter()
        .map(|t| &t.written)
        .eq(stored.iter().map(|t| &t.written))
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

/// What an article leaving its place (edited or deleted) touches: the pages of its neighbours
/// there, its tags, its month.
fn touch_departure(tx: &Tx<'_>, touched: &mut Touched, article: &Article) -> Result<()> {
    let (previous, next) = tx.neighbours(article)?;
    touched.extra_pages.extend(previous.map(|a| a.id));
    touched.extra_pages.extend(next.map(|a| a.id));
    touched.tags.extend(tag_ids(tx, article)?);
    Ok(())
}

fn touch_article(tx: &Tx<'_>, touched: &mut Touched, id: i64) -> Result<()> {
    touched.articles.insert(id);
    if let Some(article) = tx.article_by_id(id)? {
        touched.tags.extend(tag_ids(tx, &article)?);
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
    // Lists, tags and months whose documents are rendered on request take this moment as
    // their change; stored documents are stamped as they are written.
    let stamped = tx.stamp_changes(now.timestamp())?;
    let push = fanout(cfg);
    let mut writer = DocumentWriter::new(&tx, generation, now.timestamp(), push);
    if full || touched.everything {
        rebuild_everything(&tx, cfg, &mut writer, full)?;
        tx.set_meta(FINGERPRINT_KEY, &fingerprint)?;
    } else {
        render_touched(&tx, cfg, &touched, &mut writer)?;
    }
    if touched.old_routes {
        documents::render_old_route_urls(&tx, cfg, &mut writer)?;
    }
    if writer.finish() > 0 || stamped > 0 {
        tx.set_generation(generation)?;
    }
    tx.commit()
}
