//! Articles, tags, redirects and tombstones: every query over them.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{Store, Tx};
use crate::article::{Article, BodyFormat, NewArticle, Tag, Timestamp, Tombstone};
use crate::text::{numbered_slug, tag_key};
use crate::Result;

/// What an insert or update writes besides the validated fields.
pub struct ArticleRow<'a> {
    /// The validated input.
    pub article: &'a NewArticle,
    /// Entry id (kept on update).
    pub entry_id: &'a str,
    /// Rendered, sanitized HTML.
    pub body_html: &'a str,
    /// Plain-text excerpt.
    pub excerpt: &'a str,
    /// Whether it is scheduled for later.
    pub is_pending: bool,
}

const COLUMNS: &str =
    "id, entry_id, slug, title, summary, excerpt, author, body_markdown, body_html, \
                       published, updated, is_pending, body_format";

fn timestamp(text: String) -> rusqlite::Result<Timestamp> {
    Timestamp::parse(&text).map_err(|reason| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("stored date {text:?}: {reason}").into(),
        )
    })
}

/// Columns `entry_id, slug, title, deleted` of `tombstones`.
fn tombstone_from_row(r: &Row<'_>) -> rusqlite::Result<Tombstone> {
    Ok(Tombstone {
        entry_id: r.get(0)?,
        slug: r.get(1)?,
        title: r.get(2)?,
        deleted: timestamp(r.get(3)?)?,
    })
}

/// Columns `name, slug` (from `offset`) of `tags`: the tag as its own page shows it.
fn tag_at(r: &Row<'_>, offset: usize) -> rusqlite::Result<Tag> {
    let name: String = r.get(offset)?;
    Ok(Tag {
        written: name.clone(),
        name,
        slug: r.get(offset + 1)?,
    })
}

/// A `LIMIT` or `OFFSET` as SQLite takes it. A cast would wrap a count past `i64::MAX` to a
/// negative number, which SQLite reads as no limit or no offset at all (the first page again);
/// the largest `i64` means the same thing as the count asked for: more than any table holds.
fn sql_bound(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn article_from_row(row: &Row<'_>) -> rusqlite::Result<Article> {
    Ok(Article {
        id: row.get(0)?,
        entry_id: row.get(1)?,
        slug: row.get(2)?,
        title: row.get(3)?,
        summary: row.get(4)?,
        excerpt: row.get(5)?,
        author: row.get(6)?,
        body_markdown: row.get(7)?,
        body_html: row.get(8)?,
        published: timestamp(row.get(9)?)?,
        updated: timestamp(row.get(10)?)?,
        is_pending: row.get(11)?,
        body_format: BodyFormat::from_word(&row.get::<_, String>(12)?),
        tags: Vec::new(),
    })
}

/// Runs an article query and fills in each article's tags.
fn query_articles(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Article>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut articles = stmt
        .query_map(params, article_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut tag_stmt = conn.prepare_cached(
        "SELECT t.name, t.slug, coalesce(at.name, t.name) FROM article_tags at \
         JOIN tags t ON t.id = at.tag_id WHERE at.article_id = ?1 ORDER BY at.position",
    )?;
    let article_tag = |r: &Row<'_>| -> rusqlite::Result<Tag> {
        Ok(Tag {
            written: r.get(2)?,
            ..tag_at(r, 0)?
        })
    };
    for article in &mut articles {
        article.tags = tag_stmt
            .query_map([article.id], article_tag)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
    }
    Ok(articles)
}

/// Queries shared by a plain connection and a write transaction.
pub trait ArticleQueries {
    /// The connection to query.
    fn db(&self) -> &Connection;

    /// The article with this slug, scheduled or not.
    fn article_by_slug(&self, slug: &str) -> Result<Option<Article>> {
        let sql = format!("SELECT {COLUMNS} FROM articles WHERE slug = ?1");
        Ok(query_articles(self.db(), &sql, [slug])?.pop())
    }

    /// The article with this entry id, scheduled or not.
    fn article_by_entry_id(&self, entry_id: &str) -> Result<Option<Article>> {
        let sql = format!("SELECT {COLUMNS} FROM articles WHERE entry_id = ?1");
        Ok(query_articles(self.db(), &sql, [entry_id])?.pop())
    }

    /// True when an article with this entry id was deleted here (a tombstone holds it).
    fn is_tombstoned(&self, entry_id: &str) -> Result<bool> {
        Ok(self
            .db()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM tombstones WHERE entry_id = ?1)")?
            .query_row([entry_id], |r| r.get(0))?)
    }

    /// The slug of the tag named `name` (ignoring case and spacing), if there is one.
    fn tag_slug_named(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .db()
            .prepare_cached("SELECT slug FROM tags WHERE key = ?1 ORDER BY id LIMIT 1")?
            .query_row([tag_key(name)], |r| r.get(0))
            .optional()?)
    }

    /// True when the archive holds any article (scheduled ones included).
    fn has_articles(&self) -> Result<bool> {
        Ok(self
            .db()
            .query_row("SELECT EXISTS (SELECT 1 FROM articles)", [], |r| r.get(0))?)
    }

    /// The title of the article that has this slug, if any.
    fn slug_title(&self, slug: &str) -> Result<Option<String>> {
        Ok(self
            .db()
            .prepare_cached("SELECT title FROM articles WHERE slug = ?1")?
            .query_row([slug], |r| r.get(0))
            .optional()?)
    }

    /// The article with this row id.
    fn article_by_id(&self, id: i64) -> Result<Option<Article>> {
        let sql = format!("SELECT {COLUMNS} FROM articles WHERE id = ?1");
        Ok(query_articles(self.db(), &sql, [id])?.pop())
    }

    /// Every article, scheduled ones included, newest first.
    fn all_articles(&self) -> Result<Vec<Article>> {
        let sql = format!("SELECT {COLUMNS} FROM articles ORDER BY published_at DESC, id DESC");
        query_articles(self.db(), &sql, [])
    }

    /// Up to `limit` articles after the position (`published_at`, `id`) in publication order,
    /// oldest first: a cursor over the whole archive that never holds all of it in memory.
    /// With `published_only`, scheduled articles are skipped.
    fn articles_after(
        &self,
        at: i64,
        id: i64,
        limit: usize,
        published_only: bool,
    ) -> Result<Vec<Article>> {
        let pending = if published_only {
            "is_pending = 0 AND"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM articles WHERE {pending} \
             (published_at > ?1 OR (published_at = ?1 AND id > ?2)) \
             ORDER BY published_at ASC, id ASC LIMIT ?3"
        );
        query_articles(self.db(), &sql, params![at, id, sql_bound(limit)])
    }

    /// The newest `limit` published articles, skipping `offset`.
    fn latest(&self, limit: usize, offset: usize) -> Result<Vec<Article>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM articles WHERE is_pending = 0 \
             ORDER BY published_at DESC, id DESC LIMIT ?1 OFFSET ?2"
        );
        query_articles(
            self.db(),
            &sql,
            params![sql_bound(limit), sql_bound(offset)],
        )
    }

    /// The newest `limit` published articles with the tag, skipping `offset`.
    fn latest_in_tag(&self, tag_id: i64, limit: usize, offset: usize) -> Result<Vec<Article>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM articles WHERE id IN ( \
               SELECT article_id FROM article_tags WHERE tag_id = ?1 AND is_pending = 0 \
               ORDER BY published_at DESC, article_id DESC LIMIT ?2 OFFSET ?3) \
             ORDER BY published_at DESC, id DESC"
        );
        query_articles(
            self.db(),
            &sql,
            params![tag_id, sql_bound(limit), sql_bound(offset)],
        )
    }

    /// Number of published articles (with the tag, if given).
    fn count_published(&self, tag_id: Option<i64>) -> Result<usize> {
        let n: i64 = match tag_id {
            None => self.db().query_row(
                "SELECT count(*) FROM articles WHERE is_pending = 0",
                [],
                |r| r.get(0),
            )?,
            Some(tag) => self.db().query_row(
                "SELECT count(*) FROM article_tags WHERE tag_id = ?1 AND is_pending = 0",
                [tag],
                |r| r.get(0),
            )?,
        };
        Ok(n as usize)
    }

    /// The published articles just older and just newer than `article`: (previous, next).
    fn neighbours(&self, article: &Article) -> Result<(Option<Article>, Option<Article>)> {
        let at = article.published.epoch();
        let older = format!(
            "SELECT {COLUMNS} FROM articles WHERE is_pending = 0 \
             AND (published_at < ?1 OR (published_at = ?1 AND id < ?2)) \
             ORDER BY published_at DESC, id DESC LIMIT 1"
        );
        let newer = format!(
            "SELECT {COLUMNS} FROM articles WHERE is_pending = 0 \
             AND (published_at > ?1 OR (published_at = ?1 AND id > ?2)) \
             ORDER BY published_at ASC, id ASC LIMIT 1"
        );
        let previous = query_articles(self.db(), &older, params![at, article.id])?.pop();
        let next = query_articles(self.db(), &newer, params![at, article.id])?.pop();
        Ok((previous, next))
    }

    /// Published articles with `start <= published_at < end`, newest first.
    fn published_between(&self, start: i64, end: i64) -> Result<Vec<Article>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM articles WHERE is_pending = 0 \
             AND published_at >= ?1 AND published_at < ?2 ORDER BY published_at DESC, id DESC"
        );
        query_articles(self.db(), &sql, params![start, end])
    }

    /// The newest `published_at` of a published article before `t`.
    fn last_published_before(&self, t: i64) -> Result<Option<i64>> {
        Ok(self.db().query_row(
            "SELECT max(published_at) FROM articles WHERE is_pending = 0 AND published_at < ?1",
            [t],
            |r| r.get(0),
        )?)
    }

    /// The oldest `published_at` of a published article at or after `t`.
    fn first_published_from(&self, t: i64) -> Result<Option<i64>> {
        Ok(self.db().query_row(
            "SELECT min(published_at) FROM articles WHERE is_pending = 0 AND published_at >= ?1",
            [t],
            |r| r.get(0),
        )?)
    }

    /// Calls `each(published_at, updated_at)` for every published article, oldest first:
    /// one pass over an index, however large the archive.
    fn for_each_publication(&self, mut each: impl FnMut(i64, i64)) -> Result<()> {
        let mut stmt = self.db().prepare_cached(
            "SELECT published_at, updated_at FROM articles WHERE is_pending = 0 \
             ORDER BY published_at",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            each(row.get(0)?, row.get(1)?);
        }
        Ok(())
    }

    /// Tombstones of entries published with `start <= published_at < end`.
    fn tombstones_between(&self, start: i64, end: i64) -> Result<Vec<Tombstone>> {
        let mut stmt = self.db().prepare_cached(
            "SELECT entry_id, slug, title, deleted FROM tombstones \
             WHERE published_at >= ?1 AND published_at < ?2 ORDER BY deleted_at DESC",
        )?;
        let rows = stmt
            .query_map([start, end], tombstone_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The tag's row id and name, by slug.
    fn tag_by_slug(&self, slug: &str) -> Result<Option<(i64, Tag)>> {
        Ok(self
            .db()
            .prepare_cached("SELECT id, name, slug FROM tags WHERE slug = ?1")?
            .query_row([slug], |r| Ok((r.get(0)?, tag_at(r, 1)?)))
            .optional()?)
    }

    /// The tag with this row id.
    fn tag_by_id(&self, id: i64) -> Result<Option<Tag>> {
        Ok(self
            .db()
            .query_row("SELECT name, slug FROM tags WHERE id = ?1", [id], |r| {
                tag_at(r, 0)
            })
            .optional()?)
    }

    /// Every tag with its row id.
    fn all_tags(&self) -> Result<Vec<(i64, Tag)>> {
        let mut stmt = self
            .db()
            .prepare("SELECT id, name, slug FROM tags ORDER BY slug")?;
        let tags = stmt
            .query_map([], |r| Ok((r.get(0)?, tag_at(r, 1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(tags)
    }

    /// The slug an old slug now redirects to, if any.
    fn redirect_target(&self, old_slug: &str) -> Result<Option<String>> {
        Ok(self
            .db()
            .query_row(
                "SELECT a.slug FROM redirects r JOIN articles a ON a.id = r.article_id WHERE r.old_slug = ?1",
                [old_slug],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The newest `limit` tombstones.
    fn recent_tombstones(&self, limit: usize) -> Result<Vec<Tombstone>> {
        let mut stmt = self.db().prepare_cached(
            "SELECT entry_id, slug, title, deleted FROM tombstones ORDER BY deleted_at DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([sql_bound(limit)], tombstone_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Scheduled articles whose moment has come (`published_at <= now`).
    fn due_articles(&self, now: i64) -> Result<Vec<i64>> {
        let mut stmt = self.db().prepare_cached(
            "SELECT id FROM articles WHERE is_pending = 1 AND published_at <= ?1",
        )?;
        let ids = stmt
            .query_map([now], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(ids)
    }

    /// The moment of the next scheduled article, if any.
    fn next_scheduled(&self) -> Result<Option<i64>> {
        Ok(self.db().query_row(
            "SELECT min(published_at) FROM articles WHERE is_pending = 1",
            [],
            |r| r.get(0),
        )?)
    }

    /// When the list of `scope` last changed (seconds since the epoch; 0 when never recorded).
    /// Scopes: `site` (any published article), `tag:<id>`, `month:<YYYY-MM>` (UTC), and
    /// `links:<YYYY-MM>` (the months an archive links before and after it).
    fn changed_at(&self, scope: &str) -> Result<i64> {
        Ok(self
            .db()
            .prepare_cached("SELECT at FROM changes WHERE scope = ?1")?
            .query_row([scope], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    /// The latest [`ArticleQueries::changed_at`] among scopes from `first` to `last`
    /// (inclusive, in byte order: `month:2026-01` … `month:2026-03`).
    fn newest_change_between(&self, first: &str, last: &str) -> Result<i64> {
        Ok(self
            .db()
            .prepare_cached(
                "SELECT coalesce(max(at), 0) FROM changes WHERE scope >= ?1 AND scope <= ?2",
            )?
            .query_row([first, last], |r| r.get(0))?)
    }

    /// A value from the `meta` table.
    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .db()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }
}

impl ArticleQueries for Store {
    fn db(&self) -> &Connection {
        self.conn()
    }
}

impl ArticleQueries for Tx<'_> {
    fn db(&self) -> &Connection {
        &self.tx
    }
}

impl Tx<'_> {
    /// Inserts a new article with its tags; returns its row id.
    pub fn insert_article(&self, row: &ArticleRow<'_>) -> Result<i64> {
        let a = row.article;
        self.tx.prepare_cached(
            "INSERT INTO articles (entry_id, slug, title, summary, excerpt, author, body_markdown, \
             body_html, published, published_at, updated, updated_at, is_pending, body_format) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            row.entry_id,
            a.slug,
            a.title,
            a.summary,
            row.excerpt,
            a.author,
            a.body,
            row.body_html,
            a.published.rfc3339(),
            a.published.epoch(),
            a.updated.rfc3339(),
            a.updated.epoch(),
            row.is_pending,
            a.body_format.word(),
        ])?;
        let id = self.tx.last_insert_rowid();
        // A new article takes over an old slug that used to redirect elsewhere.
        self.tx
            .prepare_cached("DELETE FROM redirects WHERE old_slug = ?1")?
            .execute([&a.slug])?;
        self.set_tags(id, row)?;
        Ok(id)
    }

    /// Replaces an article's fields and tags (the entry id stays).
    pub fn update_article(&self, id: i64, row: &ArticleRow<'_>) -> Result<()> {
        let a = row.article;
        self.tx.prepare_cached(
            "UPDATE articles SET slug = ?2, title = ?3, summary = ?4, excerpt = ?5, author = ?6, \
             body_markdown = ?7, body_html = ?8, published = ?9, published_at = ?10, updated = ?11, \
             updated_at = ?12, is_pending = ?13, body_format = ?14 WHERE id = ?1",
        )?
        .execute(params![
            id,
            a.slug,
            a.title,
            a.summary,
            row.excerpt,
            a.author,
            a.body,
            row.body_html,
            a.published.rfc3339(),
            a.published.epoch(),
            a.updated.rfc3339(),
            a.updated.epoch(),
            row.is_pending,
            a.body_format.word(),
        ])?;
        self.tx
            .prepare_cached("DELETE FROM redirects WHERE old_slug = ?1")?
            .execute([&a.slug])?;
        self.tx
            .execute("DELETE FROM article_tags WHERE article_id = ?1", [id])?;
        self.set_tags(id, row)?;
        Ok(())
    }

    fn set_tags(&self, article_id: i64, row: &ArticleRow<'_>) -> Result<()> {
        for (position, tag) in row.article.tags.iter().enumerate() {
            let tag_id = self.tag_id_for(tag)?;
            self.tx.prepare_cached(
                "INSERT INTO article_tags (article_id, tag_id, position, published_at, is_pending, name) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                article_id,
                tag_id,
                position as i64,
                row.article.published.epoch(),
                row.is_pending,
                tag.written,
            ])?;
        }
        Ok(())
    }

    /// The row id of the tag named `tag.name`, ignoring case and spacing ([`tag_key`]); a new
    /// tag is created when there is none. A tag that exists keeps its slug, whatever rule made
    /// it: readers subscribe to its feeds. A new tag gets `tag.slug`, or, when a tag of another
    /// name holds that slug already, the first free of `slug-2`, `slug-3`…
    fn tag_id_for(&self, tag: &Tag) -> Result<i64> {
        let key = tag_key(&tag.name);
        let by_key: Option<i64> = self
            .tx
            .prepare_cached("SELECT id FROM tags WHERE key = ?1 ORDER BY id LIMIT 1")?
            .query_row([&key], |r| r.get(0))
            .optional()?;
        if let Some(id) = by_key {
            return Ok(id);
        }
        let mut slug = tag.slug.clone();
        let mut n = 1;
        while self.tag_by_slug(&slug)?.is_some() {
            n += 1;
            slug = numbered_slug(&tag.slug, n);
        }
        self.tx
            .prepare_cached("INSERT INTO tags (slug, name, key) VALUES (?1, ?2, ?3)")?
            .execute(params![slug, tag.name, key])?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Replaces an article's rendered body (after a change of base URL or renderer).
    pub fn set_body_html(&self, id: i64, html: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE articles SET body_html = ?2 WHERE id = ?1")?
            .execute(params![id, html])?;
        Ok(())
    }

    /// Marks scheduled articles as published.
    pub fn release(&self, ids: &[i64]) -> Result<()> {
        for id in ids {
            self.tx
                .execute("UPDATE articles SET is_pending = 0 WHERE id = ?1", [id])?;
            self.tx.execute(
                "UPDATE article_tags SET is_pending = 0 WHERE article_id = ?1",
                [id],
            )?;
        }
        Ok(())
    }

    /// Records that `old_slug` now lives at the article `article_id`.
    pub fn add_redirect(&self, old_slug: &str, article_id: i64) -> Result<()> {
        self.tx.execute(
            "INSERT INTO redirects (old_slug, article_id) VALUES (?1, ?2) \
             ON CONFLICT (old_slug) DO UPDATE SET article_id = excluded.article_id",
            params![old_slug, article_id],
        )?;
        Ok(())
    }

    /// Records an old URL (a path, with its query when that names the page) answering 301 to
    /// the article `article_id` or to the route `target` (a path below the site's root). The
    /// first record of a path stays. Returns true when it was new.
    pub fn add_old_url(
        &self,
        path: &str,
        article_id: Option<i64>,
        target: Option<&str>,
    ) -> Result<bool> {
        let added = self
            .tx
            .prepare_cached(
                "INSERT INTO old_urls (path, article_id, target) VALUES (?1, ?2, ?3)                  ON CONFLICT (path) DO NOTHING",
            )?
            .execute(params![path, article_id, target])?;
        Ok(added > 0)
    }

    /// The old URLs that answer for the article.
    pub fn old_urls_of(&self, article_id: i64) -> Result<Vec<String>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT path FROM old_urls WHERE article_id = ?1 ORDER BY path")?;
        let paths = stmt
            .query_map([article_id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(paths)
    }

    /// The old URLs that answer for a route (old feeds and tag pages), with their targets.
    pub fn old_route_urls(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT path, target FROM old_urls WHERE target IS NOT NULL ORDER BY path",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        Ok(rows)
    }

    /// Old slugs that point at the article.
    pub fn redirects_to(&self, article_id: i64) -> Result<Vec<String>> {
        let mut stmt = self
            .tx
            .prepare("SELECT old_slug FROM redirects WHERE article_id = ?1")?;
        let slugs = stmt
            .query_map([article_id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(slugs)
    }

    /// Deletes the article (its tags and redirects go with it) and leaves a tombstone.
    pub fn delete_article(&self, article: &Article, deleted: &Timestamp) -> Result<()> {
        self.tx
            .execute("DELETE FROM articles WHERE id = ?1", [article.id])?;
        if !article.is_pending {
            self.tx.execute(
                "INSERT OR REPLACE INTO tombstones (entry_id, slug, title, published_at, deleted, deleted_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    article.entry_id,
                    article.slug,
                    article.title,
                    article.published.epoch(),
                    deleted.rfc3339(),
                    deleted.epoch()
                ],
            )?;
        }
        Ok(())
    }

    /// Removes tags no article uses any more; returns their slugs.
    pub fn prune_tags(&self, candidates: &[i64]) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for &id in candidates {
            let slug: Option<String> = self
                .tx
                .query_row(
                    "DELETE FROM tags WHERE id = ?1 AND NOT EXISTS \
                     (SELECT 1 FROM article_tags WHERE tag_id = ?1) RETURNING slug",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            removed.extend(slug);
        }
        Ok(removed)
    }

    /// Sets a value in the `meta` table.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// True when an entry id is already used by an article or a tombstone.
    pub fn entry_id_exists(&self, entry_id: &str) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM articles WHERE entry_id = ?1) \
                 OR EXISTS (SELECT 1 FROM tombstones WHERE entry_id = ?1)",
            )?
            .query_row([entry_id], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrations::MIGRATIONS;

    /// A count past `i64::MAX` stays past every row; it never wraps to a negative number,
    /// which SQLite would read as no offset.
    #[test]
    fn bounds_past_i64_stay_large() {
        assert_eq!(sql_bound(0), 0);
        assert_eq!(sql_bound(20), 20);
        assert_eq!(sql_bound(i64::MAX as usize), i64::MAX);
        assert_eq!(sql_bound(461_168_601_842_738_791 * 20), i64::MAX);
        assert_eq!(sql_bound(usize::MAX), i64::MAX);
    }

    /// A database of schema 3, when tags were told apart by slug (`C++` was stored at `c`),
    /// upgraded in place: each stored tag is found again by its name, in any case, at the slug
    /// it had; new names get slugs of their own.
    #[test]
    fn tags_stored_by_slug_keep_their_slugs_after_the_upgrade() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).expect("create");
            for sql in &MIGRATIONS[..3] {
                conn.execute_batch(sql).expect("schema 1 to 3");
            }
            conn.pragma_update(None, "user_version", 3)
                .expect("version");
            conn.pragma_update(None, "application_id", crate::store::APPLICATION_ID)
                .expect("application id");
            conn.execute_batch(
                "INSERT INTO tags (id, slug, name) VALUES (1, 'c', 'C++'), \
                 (2, 'economie', 'ÉCONOMIE'), (3, 'north-korea', 'North  Korea');",
            )
            .expect("tags of the old rule");
        }
        let mut store =
            Store::open(&path, std::time::Duration::from_secs(1), false).expect("upgrade");
        let tx = store.write().expect("a transaction");
        let slug_of = |name: &str| {
            let tag = Tag::parse(name).expect("a tag name");
            let id = tx.tag_id_for(&tag).expect("a tag id");
            tx.tag_by_id(id).expect("query").expect("the tag").slug
        };
        assert_eq!(slug_of("C++"), "c", "the same name");
        assert_eq!(slug_of("c++"), "c", "in another case");
        assert_eq!(slug_of("économie"), "economie", "folded beyond ASCII");
        assert_eq!(
            slug_of("north-korea"),
            "north-korea",
            "with other separators"
        );
        assert_eq!(slug_of("C#"), "c-sharp", "a new name");
        assert_eq!(slug_of("C"), "c-2", "a new name whose slug is taken");
        assert_eq!(slug_of("c"), "c-2", "found again by its name");
    }
}
