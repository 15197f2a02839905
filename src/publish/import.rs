//! Storing an import: articles from elsewhere, any number of them, in one transaction, found
//! again by their entry ids, so that running the same import twice changes nothing.
//!
//! The importer hands articles over a batch at a time ([`Session::put`]); their bodies are
//! rendered on every core, then stored. Nothing is held beyond the batch, so memory stays
//! bounded whatever the size of the archive. [`Session::finish`] renders what changed and
//! commits; dropping the session instead (a dry run, or an import refused) writes nothing.

use chrono::{DateTime, Utc};

use super::{
    fingerprint, finish, mint_entry_id, same_tags, touch_article, touch_departure, Touched,
    FINGERPRINT_KEY,
};
use crate::article::{BodyFormat, NewArticle};
use crate::config::Config;
use crate::render;
use crate::routes::Route;
use crate::store::articles::ArticleQueries;
use crate::store::{ArticleRow, Store, Tx};
use crate::text::numbered_slug;
use crate::Result;

/// Past this many articles added or changed, an import renders the whole site once instead
/// of each touched document.
const RENDER_EVERYTHING_PAST: usize = 200;

/// SQLite's page cache during an import, in KiB: the whole import is one transaction, and
/// pages that do not fit are written to the WAL and read back.
const IMPORT_CACHE_KIB: u32 = 64 * 1024;

/// One article of an import, checked.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The article; `slug` is the one it asks for (another is found when that one is taken),
    /// `entry_id` the id it keeps (`None`: found by slug, or given a new one).
    pub article: NewArticle,
    /// The URL relative links of an HTML body are resolved against: where the article was.
    pub base_url: Option<String>,
    /// Its old URLs' paths (normalized, see `routes::old_url_path`), answered with 301s.
    pub old_paths: Vec<String>,
    /// False when the source gave no date: a stored article keeps its own.
    pub dated: bool,
}

/// What became of an incoming article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// Stored as a new article.
    Imported,
    /// Its entry id was stored already, with other content: updated.
    Updated,
    /// Its entry id was stored already, with the same content: nothing written.
    Unchanged,
    /// Its entry id belongs to an article deleted here: left deleted.
    Deleted,
}

/// An incoming article's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// What happened.
    pub placed: Placed,
    /// The slug it is at (for a new article whose slug was taken, another one).
    pub slug: String,
}

/// An import under way: one write transaction.
pub struct Session<'s> {
    tx: Tx<'s>,
    cfg: &'s Config,
    now: DateTime<Utc>,
    touched: Touched,
    changes: usize,
}

impl<'s> Session<'s> {
    /// Starts an import: takes the write lock until [`Session::finish`] or drop.
    pub fn begin(store: &'s mut Store, cfg: &'s Config, now: DateTime<Utc>) -> Result<Self> {
        store.set_cache_kib(IMPORT_CACHE_KIB)?;
        let tx = store.write()?;
        let mut touched = Touched::default();
        if !tx.has_articles()? {
            // Nothing was stored before: render every document of the site once at the end.
            // The bodies are rendered here, by this version with this configuration: none
            // needs rendering again, as the fingerprint would otherwise ask.
            touched.everything = true;
            tx.set_meta(FINGERPRINT_KEY, &fingerprint(cfg))?;
        }
        Ok(Session {
            tx,
            cfg,
            now,
            touched,
            changes: 0,
        })
    }

    /// How many articles this import added or changed so far.
    pub fn changes(&self) -> usize {
        self.changes
    }

    /// Stores a batch. Each article gets its outcome, or the reason it cannot be stored (its
    /// body nests too deep, or renders too large): such an article is not stored, and the
    /// importer decides whether that refuses the import. Errors: the database's.
    pub fn put(
        &mut self,
        batch: Vec<Incoming>,
    ) -> Result<Vec<std::result::Result<Outcome, String>>> {
        let rendered = render_all(self.cfg, &batch);
        let mut outcomes = Vec::with_capacity(batch.len());
        for (incoming, rendered) in batch.into_iter().zip(rendered) {
            outcomes.push(match rendered {
                Ok((body, html, excerpt)) => Ok(self.store_one(incoming, body, &html, &excerpt)?),
                Err(reason) => Err(reason),
            });
        }
        Ok(outcomes)
    }

    fn store_one(
        &mut self,
        incoming: Incoming,
        body: String,
        html: &str,
        excerpt: &str,
    ) -> Result<Outcome> {
        let Incoming {
            mut article,
            old_paths,
            dated,
            ..
        } = incoming;
        article.body = body;
        let existing = match &article.entry_id {
            Some(id) => {
                if self.tx.is_tombstoned(id)? {
                    return Ok(Outcome {
                        placed: Placed::Deleted,
                        slug: article.slug,
                    });
                }
                self.tx.article_by_entry_id(id)?
            }
            None => self.tx.article_by_slug(&article.slug)?,
        };
        let Some(existing) = existing else {
            return self.insert_new(article, html, excerpt, &old_paths);
        };
        // Found again: it keeps its slug (its URL is known by now) and, when the source has
        // no date, its dates.
        article.slug = existing.slug.clone();
        if !dated {
            article.published = existing.published.clone();
            article.updated = existing.updated.clone();
        }
        let mut old_added = false;
        for path in &old_paths {
            old_added |= self.tx.add_old_url(path, Some(existing.id), None)?;
        }
        let same = article.title == existing.title
            && article.published == existing.published
            && article.updated == existing.updated
            && article.author == existing.author
            && article.summary == existing.summary
            && same_tags(&article.tags, &existing.tags)
            && article.body == existing.body_markdown
            && article.body_format == existing.body_format;
        if same {
            if old_added {
                self.touched.moved.insert(existing.id);
                self.changes += 1;
            }
            return Ok(Outcome {
                placed: Placed::Unchanged,
                slug: existing.slug,
            });
        }
        let is_pending = article.published.epoch() > self.now.timestamp();
        if !existing.is_pending {
            touch_departure(&self.tx, &mut self.touched, &existing)?;
        }
        self.tx.update_article(
            existing.id,
            &ArticleRow {
                article: &article,
                entry_id: &existing.entry_id,
                body_html: html,
                excerpt,
                is_pending,
            },
        )?;
        if is_pending && !existing.is_pending {
            self.touched
                .gone
                .push((existing.slug.clone(), existing.title.clone()));
        }
        self.touch(existing.id, is_pending, old_added)?;
        Ok(Outcome {
            placed: Placed::Updated,
            slug: existing.slug,
        })
    }

    fn insert_new(
        &mut self,
        mut article: NewArticle,
        html: &str,
        excerpt: &str,
        old_paths: &[String],
    ) -> Result<Outcome> {
        let wanted = article.slug.clone();
        let mut n = 1;
        while self.tx.slug_title(&article.slug)?.is_some() {
            n += 1;
            article.slug = numbered_slug(&wanted, n);
        }
        let entry_id = mint_entry_id(&self.tx, self.cfg, &article)?;
        let is_pending = article.published.epoch() > self.now.timestamp();
        let id = self.tx.insert_article(&ArticleRow {
            article: &article,
            entry_id: &entry_id,
            body_html: html,
            excerpt,
            is_pending,
        })?;
        let own_path = Route::article(&article.slug).path(self.cfg);
        let mut old_added = false;
        for path in old_paths.iter().filter(|p| **p != own_path) {
            old_added |= self.tx.add_old_url(path, Some(id), None)?;
        }
        self.touch(id, is_pending, old_added)?;
        Ok(Outcome {
            placed: Placed::Imported,
            slug: article.slug,
        })
    }

    fn touch(&mut self, id: i64, is_pending: bool, old_added: bool) -> Result<()> {
        self.changes += 1;
        if old_added {
            self.touched.moved.insert(id);
        }
        if self.touched.everything || self.changes > RENDER_EVERYTHING_PAST {
            // Everything is rendered at the end: stop collecting.
            self.touched = Touched {
                everything: true,
                old_routes: self.touched.old_routes,
                ..Touched::default()
            };
        } else if !is_pending {
            touch_article(&self.tx, &mut self.touched, id)?;
        }
        Ok(())
    }

    /// The slug of the tag named `name`, if the archive has that tag.
    pub fn tag_slug(&self, name: &str) -> Result<Option<String>> {
        self.tx.tag_slug_named(name)
    }

    /// Records that the old URL `path` (an old feed or tag page) now lives at `route`.
    pub fn redirect_route(&mut self, path: &str, route: &Route) -> Result<()> {
        if Route::parse(self.cfg, path).is_some() {
            // One of our own paths: never shadowed.
            return Ok(());
        }
        if self.tx.add_old_url(path, None, Some(&route.relative()))? {
            self.touched.old_routes = true;
            self.changes += 1;
        }
        Ok(())
    }

    /// Renders what changed and commits. With no change at all, nothing is written: the
    /// documents keep their bytes and validators.
    pub fn finish(self) -> Result<()> {
        if self.changes == 0 {
            return Ok(());
        }
        let started = std::time::Instant::now();
        finish(self.tx, self.cfg, self.touched, self.now)?;
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "import rendered and committed"
        );
        Ok(())
    }
}

/// Each article's stored body (Markdown as written; HTML sanitized, its links made absolute
/// against where it was), rendered HTML and excerpt, on every core when there are many.
fn render_all(
    cfg: &Config,
    batch: &[Incoming],
) -> Vec<std::result::Result<(String, String, String), String>> {
    let one = |incoming: &Incoming| -> std::result::Result<(String, String, String), String> {
        let a = &incoming.article;
        let url = render::article_url(cfg, &a.slug);
        let base = incoming.base_url.as_deref().unwrap_or(&url);
        let html = render::body::try_render(&a.body, a.body_format, base)
            .map_err(|refusal| format!("body: {refusal}"))?;
        if html.len() > render::MAX_ITEM_BYTES {
            return Err(format!(
                "body: renders to {} bytes of HTML, more than one feed item may carry ({} bytes)",
                html.len(),
                render::MAX_ITEM_BYTES
            ));
        }
        let body = match a.body_format {
            // Stored as sanitized, so that rendering it again (at its new URL) changes nothing.
            BodyFormat::Html => html.clone(),
            BodyFormat::Markdown => a.body.clone(),
        };
        let excerpt = render::body::excerpt(&body, a.body_format);
        Ok((body, html, excerpt))
    };
    crate::parallel::map(batch, 8, one)
}
