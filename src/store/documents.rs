//! Rendered documents (feeds, pages, redirects) with their validators. The server compresses
//! each one the first time it is asked for it, so a publish stores identity bytes only.
//!
//! They are written in the same transaction as the article change that caused them, so a
//! reader never sees a feed linking to a page that is not there yet. Every write bumps the
//! store's generation; the server asks for the paths changed since the generation it knows.

use rusqlite::{params, OptionalExtension};

use super::{Store, Tx};
use crate::Result;

/// A document ready to store: identity bytes, headers and validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// URL path below the site root, starting with `/` (`/atom.xml`, `/articles/x`); or the
    /// key of a feed's browser view (`view:/tags/asia/`), which no request path can name.
    pub path: String,
    /// HTTP status to answer with: 200, 301 (with `location`) or 410.
    pub status: u16,
    /// `Content-Type` header value.
    pub content_type: String,
    /// Absolute URL for a 301.
    pub location: Option<String>,
    /// Identity bytes.
    pub body: Vec<u8>,
    /// Hash of the identity bytes; the ETag of each variant derives from it.
    pub etag: String,
    /// `Last-Modified`, seconds since the epoch.
    pub last_modified: i64,
}

const GENERATION_KEY: &str = "generation";

impl Tx<'_> {
    /// The generation this transaction writes under (one more than the last committed).
    pub fn next_generation(&self) -> Result<i64> {
        let current: Option<String> = self
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

    /// True when a document with the same bytes and headers is stored at its path.
    pub fn has_same_document(&self, doc: &Document) -> Result<bool> {
        let same: Option<bool> = self
            .prepare_cached(
                "SELECT etag = ?2 AND status = ?3 AND last_modified = ?4 AND content_type = ?5 \
                 AND location IS ?6 FROM documents WHERE path = ?1",
            )?
            .query_row(
                params![
                    doc.path,
                    doc.etag,
                    doc.status,
                    doc.last_modified,
                    doc.content_type,
                    doc.location
                ],
                |r| r.get(0),
            )
            .optional()?;
        Ok(same == Some(true))
    }

    /// Stores a document under `generation`, replacing what was at its path.
    pub fn put_document(&self, doc: &Document, generation: i64) -> Result<()> {
        self.prepare_cached(
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
        self.prepare_cached("DELETE FROM documents WHERE path >= ?1 AND path < ?1 || x'ff'")?
            .execute([prefix])?;
        Ok(())
    }

    /// Removes the document at `path`, if any.
    pub fn delete_document(&self, path: &str) -> Result<()> {
        self.prepare_cached("DELETE FROM documents WHERE path = ?1")?
            .execute([path])?;
        Ok(())
    }

    /// Every stored path that starts with `prefix`.
    pub fn document_paths(&self, prefix: &str) -> Result<Vec<String>> {
        let mut stmt = self.prepare(
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
    pub fn document(&self, path: &str) -> Result<(i64, Option<Document>)> {
        let tx = self.conn().unchecked_transaction()?;
        let generation = read_generation(&tx)?;
        let doc = tx
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
        tx.finish()?;
        Ok((generation, doc))
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
