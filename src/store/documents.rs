//! Rendered documents (feeds, pages, redirects) with their validators. The server compresses
//! each one the first time it is asked for it, so a publish stores identity bytes only.
//!
//! They are written in the same transaction as the article change that caused them, so a
//! reader never sees a feed linking to a page that is not there yet. Every write bumps the
//! store's generation; the server asks for the paths changed since the generation it knows.

use rusqlite::{params, OptionalExtension};

use super::{Store, Tx};
use crate::document::Document;
use crate::Result;

const GENERATION_KEY: &str = "generation";

impl Tx<'_> {
    /// The generation this transaction writes under (one more than the last committed).
    pub fn next_generation(&self) -> Result<i64> {
        let current: Option<String> = self
            .tx
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [GENERATION_KEY],
                |r| r.get(0),
            )
            .optional()?;
        let current = current.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        Ok(current + 1)
    }

    /// Records `generation` as the newest; called once per publishing transaction.
    pub fn set_generation(&self, generation: i64) -> Result<()> {
        self.set_meta(GENERATION_KEY, &generation.to_string())
    }

    /// The `Last-Modified` of the document stored at `doc.path`, and whether it has the same
    /// bytes and headers as `doc`; `None` when nothing is stored there.
    pub fn stored_version(&self, doc: &Document) -> Result<Option<(i64, bool)>> {
        Ok(self
            .tx
            .prepare_cached(
                "SELECT last_modified, etag = ?2 AND status = ?3 AND content_type = ?4 \
                 AND location IS ?5 FROM documents WHERE path = ?1",
            )?
            .query_row(
                params![
                    doc.path,
                    doc.etag,
                    doc.status,
                    doc.content_type,
                    doc.location
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The `Last-Modified` of the document stored at `path`, if any.
    pub fn stored_last_modified(&self, path: &str) -> Result<Option<i64>> {
        Ok(self
            .tx
            .prepare_cached("SELECT last_modified FROM documents WHERE path = ?1")?
            .query_row([path], |r| r.get(0))
            .optional()?)
    }

    /// Stamps every list, tag and month this transaction changed (see migration 3) with `now`,
    /// or one second past the latest stamp of any scope when that is later, so each publish's
    /// stamp is later than every earlier one. A month that gained its first article or lost
    /// its last one changes the archive links of the months around it: their `links:YYYY-MM`
    /// scopes are stamped too.
    /// Returns how many scopes were stamped.
    pub fn stamp_changes(&self, now: i64) -> Result<usize> {
        // Months whose being populated flipped; `substr(scope, 7)` is `YYYY-MM`.
        let flipped: Vec<String> = self
            .tx
            .prepare_cached(
                "SELECT substr(scope, 7) FROM changes WHERE pending = 1 \
                 AND scope >= 'month:' AND scope < 'month;' AND populated IS NOT EXISTS \
                 (SELECT 1 FROM articles WHERE is_pending = 0 \
                  AND published_at >= unixepoch(substr(scope, 7) || '-01') \
                  AND published_at < unixepoch(substr(scope, 7) || '-01', '+1 month'))",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for month in &flipped {
            for neighbour in [
                "SELECT max(published_at) AS t FROM articles WHERE is_pending = 0 \
                 AND published_at < unixepoch(?1 || '-01')",
                "SELECT min(published_at) AS t FROM articles WHERE is_pending = 0 \
                 AND published_at >= unixepoch(?1 || '-01', '+1 month')",
            ] {
                self.tx
                    .prepare_cached(&format!(
                        "INSERT INTO changes (scope, pending) \
                     SELECT 'links:' || strftime('%Y-%m', t, 'unixepoch'), 1 \
                     FROM ({neighbour}) WHERE t IS NOT NULL \
                     ON CONFLICT (scope) DO UPDATE SET pending = 1"
                    ))?
                    .execute([month])?;
            }
        }
        self.tx.prepare_cached(
            "UPDATE changes SET populated = EXISTS (SELECT 1 FROM articles WHERE is_pending = 0 \
             AND published_at >= unixepoch(substr(scope, 7) || '-01') \
             AND published_at < unixepoch(substr(scope, 7) || '-01', '+1 month')) \
             WHERE pending = 1 AND scope >= 'month:' AND scope < 'month;'",
        )?
        .execute([])?;
        let latest: i64 = self
            .tx
            .prepare_cached("SELECT coalesce(max(at), 0) FROM changes")?
            .query_row([], |r| r.get(0))?;
        Ok(self
            .tx
            .prepare_cached("UPDATE changes SET at = ?1, pending = 0 WHERE pending = 1")?
            .execute([now.max(latest.saturating_add(1))])?)
    }

    /// Stores a document under `generation`, replacing what was at its path.
    pub fn put_document(&self, doc: &Document, generation: i64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO documents (path, status, content_type, location, etag, \
             last_modified, generation, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                doc.path,
                doc.status,
                doc.content_type,
                doc.location,
                doc.etag,
                doc.last_modified,
                generation,
                doc.body
            ])?;
        Ok(())
    }

    /// Removes every document whose path starts with `prefix` (one range of the path index).
    pub fn delete_documents_under(&self, prefix: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM documents WHERE path >= ?1 AND path < ?1 || x'ff'")?
            .execute([prefix])?;
        Ok(())
    }

    /// Removes the document at `path`, if any.
    pub fn delete_document(&self, path: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM documents WHERE path = ?1")?
            .execute([path])?;
        Ok(())
    }

    /// Every stored path that starts with `prefix`.
    pub fn document_paths(&self, prefix: &str) -> Result<Vec<String>> {
        let mut stmt = self.tx.prepare(
            "SELECT path FROM documents WHERE substr(path, 1, length(?1)) = ?1 ORDER BY path",
        )?;
        let paths = stmt
            .query_map([prefix], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(paths)
    }
}

impl Store {
    /// Reads one document (if any) and the store's generation, in one consistent snapshot.
    /// Inside [`Store::in_one_snapshot`], that snapshot.
    pub fn document(&self, path: &str) -> Result<(i64, Option<Document>)> {
        // Its own read transaction, unless one is open already (`in_one_snapshot`).
        let tx = if self.conn().is_autocommit() {
            Some(self.conn().unchecked_transaction()?)
        } else {
            None
        };
        let generation = read_generation(self.conn())?;
        let doc = self
            .conn()
            .prepare_cached(
                "SELECT path, status, content_type, location, body, etag, last_modified \
                 FROM documents WHERE path = ?1",
            )?
            .query_row([path], |r| {
                Ok(Document {
                    path: r.get(0)?,
                    status: r.get(1)?,
                    content_type: r.get(2)?,
                    location: r.get(3)?,
                    body: r.get(4)?,
                    etag: r.get(5)?,
                    last_modified: r.get(6)?,
                })
            })
            .optional()?;
        if let Some(tx) = tx {
            tx.finish()?;
        }
        Ok((generation, doc))
    }

    /// Runs `f` with every read of this store seeing one committed state, however long `f`
    /// takes and whatever other processes commit meanwhile (one read transaction; in WAL mode
    /// it blocks no writer). For a reader that must see the site whole: the static export.
    pub fn in_one_snapshot<T>(&self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let tx = self.conn().unchecked_transaction()?;
        // The snapshot starts with the first read, not with BEGIN.
        read_generation(&tx)?;
        let outcome = f(self);
        tx.finish()?;
        outcome
    }

    /// The current generation and the paths written after `since`, in one snapshot.
    pub fn changed_since(&self, since: i64) -> Result<(i64, Vec<String>)> {
        let tx = self.conn().unchecked_transaction()?;
        let generation = read_generation(&tx)?;
        let paths = tx
            .prepare_cached("SELECT path FROM documents WHERE generation > ?1")?
            .query_map([since], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        tx.finish()?;
        Ok((generation, paths))
    }

    /// Every stored document path, sorted.
    pub fn all_document_paths(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT path FROM documents ORDER BY path")?;
        let paths = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(paths)
    }

    /// The store's current generation.
    pub fn generation(&self) -> Result<i64> {
        read_generation(self.conn())
    }
}

fn read_generation(conn: &rusqlite::Connection) -> Result<i64> {
    let value: Option<String> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([GENERATION_KEY], |r| r.get(0))
        .optional()?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}
