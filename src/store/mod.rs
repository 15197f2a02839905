//! The SQLite store: opening, pragmas, migrations. All SQL lives under this module.

pub mod articles;
pub mod backup;
mod documents;
pub mod hub;
mod migrations;
pub mod stats;
pub mod walindex;

pub use articles::ArticleRow;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::{Error, Result};

/// How often a connection waiting for a lock tries again (see [`set_busy_handler`]).
const LOCK_RETRY: Duration = Duration::from_millis(1);

/// How often opening tries again to switch a new database to WAL while others hold it.
const WAL_SWITCH_RETRY: Duration = Duration::from_millis(5);

/// A WAL longer than this is folded back after a publish (see [`Store::fold_long_wal`]), and
/// truncated to it after a checkpoint (`journal_size_limit`).
const LONG_WAL_BYTES: u64 = 8 * 1024 * 1024;

/// How long folding the WAL waits for readers before leaving it to the server.
const FOLD_WAIT: Duration = Duration::from_millis(100);

/// `PRAGMA application_id` of a feedsvc database ("FEED" in ASCII).
const APPLICATION_ID: i64 = 0x4645_4544;

/// A connection to the archive.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    busy_timeout: Duration,
}

/// How long a connection waits for a lock held by another process, in milliseconds (one value
/// per process: every store of a process is opened with the same configuration).
static BUSY_TIMEOUT_MS: AtomicU64 = AtomicU64::new(crate::config::DEFAULT_BUSY_TIMEOUT_MS);

/// The database this process works on, for explaining SQLite's errors wherever they happen
/// (see [`explain`]). One per process, like the busy timeout.
static DATABASE: std::sync::RwLock<Option<PathBuf>> = std::sync::RwLock::new(None);

/// Maps SQLite's codes to the errors a publisher can act on, naming the database this process
/// opened. Called by the conversion from `rusqlite::Error`; other errors pass unchanged.
pub fn explain(e: Error) -> Error {
    let path = EXPLAINED_AS
        .with(|p| p.borrow().clone())
        .or_else(|| match DATABASE.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        });
    let Some(path) = path else {
        return e;
    };
    let timeout = Duration::from_millis(BUSY_TIMEOUT_MS.load(Ordering::Relaxed));
    explain_error(&path, timeout, e)
}

thread_local! {
    /// Another database this thread works on for a moment (the counting's), whose errors
    /// must name it rather than the archive (see [`ExplainAs`]).
    static EXPLAINED_AS: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// While it lives, SQLite's errors on this thread are explained as errors of `path` rather
/// than of the archive: for the code of another database (the counting's).
pub(crate) struct ExplainAs(Option<PathBuf>);

impl ExplainAs {
    pub(crate) fn new(path: &Path) -> ExplainAs {
        ExplainAs(EXPLAINED_AS.with(|p| p.replace(Some(path.to_path_buf()))))
    }
}

impl Drop for ExplainAs {
    fn drop(&mut self) {
        let previous = self.0.take();
        EXPLAINED_AS.with(|p| *p.borrow_mut() = previous);
    }
}

thread_local! {
    /// When the current wait for a lock began.
    static WAITING_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// SQLite's own busy timeout sleeps in growing steps (up to 100 ms), so with many writers one
/// process can keep losing the lock to others that happen to wake first, until it times out.
/// Retrying every millisecond keeps the waiters on an equal footing.
fn set_busy_handler(conn: &mut Connection, timeout: Duration) -> Result<()> {
    BUSY_TIMEOUT_MS.store(timeout.as_millis() as u64, Ordering::Relaxed);
    conn.busy_handler(Some(|retries: i32| {
        let now = Instant::now();
        let since = WAITING_SINCE.with(|cell| {
            let since = match cell.get() {
                Some(since) if retries > 0 => since,
                _ => now,
            };
            cell.set(Some(since));
            since
        });
        if now.duration_since(since).as_millis() as u64 >= BUSY_TIMEOUT_MS.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(LOCK_RETRY);
        true
    }))?;
    Ok(())
}

/// What a database file holds, read before anything is written to it.
struct SchemaState {
    app_id: i64,
    version: usize,
    has_tables: bool,
}

/// Gives each tag stored before names were matched its key ([`tag_key`](crate::text::tag_key)),
/// which SQL cannot compute.
fn fill_tag_keys(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let tags: Vec<(i64, String)> = tx
        .prepare("SELECT id, name FROM tags")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = tx.prepare("UPDATE tags SET key = ?2 WHERE id = ?1")?;
    for (id, name) in tags {
        update.execute(rusqlite::params![id, crate::text::tag_key(&name)])?;
    }
    Ok(())
}

impl SchemaState {
    fn read(conn: &Connection) -> Result<SchemaState> {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        Ok(SchemaState {
            app_id: conn.query_row("PRAGMA application_id", [], |r| r.get(0))?,
            version: usize::try_from(version).unwrap_or(usize::MAX),
            has_tables: conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table')",
                [],
                |r| r.get(0),
            )?,
        })
    }
}

/// Refuses a file that another program owns, or that a newer feedsvc wrote.
fn refuse_foreign(path: &Path, state: &SchemaState) -> Result<()> {
    if state.app_id != APPLICATION_ID && (state.app_id != 0 || state.has_tables) {
        return Err(Error::Database {
            path: path.to_path_buf(),
            reason: "is not a feedsvc database (it holds other data; point storage.database at another file)".to_string(),
        });
    }
    if state.version > migrations::MIGRATIONS.len() {
        return Err(Error::Database {
            path: path.to_path_buf(),
            reason: format!(
                "was written by a newer feedsvc (schema version {}, this one knows {})",
                state.version,
                migrations::MIGRATIONS.len()
            ),
        });
    }
    Ok(())
}

/// A write transaction; every change of one command happens inside one of these.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl Store {
    /// Opens (creating if `create` and needed) the database at `path`, applies pragmas and
    /// migrations. Errors: not a feedsvc database, made by a newer feedsvc, unreadable, read-only.
    pub fn open(path: &Path, busy_timeout: Duration, create: bool) -> Result<Store> {
        let db_error = |reason: String| Error::Database {
            path: path.to_path_buf(),
            reason,
        };
        if !create && !path.exists() {
            return Err(db_error(
                "no database here yet (run `feedsvc add` or `feedsvc serve` to create it, or check storage.database in config.toml)".to_string(),
            ));
        }
        if create {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    db_error(format!(
                        "cannot create the directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        match DATABASE.write() {
            Ok(mut database) => *database = Some(path.to_path_buf()),
            Err(poisoned) => *poisoned.into_inner() = Some(path.to_path_buf()),
        }
        BUSY_TIMEOUT_MS.store(busy_timeout.as_millis() as u64, Ordering::Relaxed);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| db_error(format!("cannot open the database: {}", describe(&e))))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            busy_timeout,
        };
        set_busy_handler(&mut store.conn, busy_timeout)?;
        // Look before touching: a foreign file must be left exactly as it is.
        let state = store.read_state()?;
        refuse_foreign(&store.path, &state)?;
        store.configure()?;
        if state.version < migrations::MIGRATIONS.len() {
            store.migrate()?;
        }
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads application id, schema version and whether any table exists, in one snapshot.
    fn read_state(&self) -> Result<SchemaState> {
        let read = || -> Result<SchemaState> {
            let tx = self.conn.unchecked_transaction()?;
            let state = SchemaState::read(&tx)?;
            tx.finish()?;
            Ok(state)
        };
        read()
    }

    fn configure(&mut self) -> Result<()> {
        // Switching to WAL needs a moment alone with the file; when several processes create the
        // database at once, SQLite answers busy without waiting, so wait here.
        let deadline = Instant::now() + self.busy_timeout;
        let mode: String = loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            {
                Ok(mode) => break mode,
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if matches!(
                        f.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && Instant::now() < deadline =>
                {
                    std::thread::sleep(WAL_SWITCH_RETRY);
                }
                Err(e) => return Err(e.into()),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Database {
                path: self.path.clone(),
                reason: format!("cannot switch the database to WAL mode (it is in {mode} mode)"),
            });
        }
        // Closing the last connection would checkpoint the whole WAL and fsync: a short-lived
        // `feedsvc add` would pay for it every time. The WAL stays; the next opener uses it.
        self.conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        self.conn.execute_batch(&format!(
            // No automatic checkpoints: `feedsvc serve` checkpoints in the background
            // (`checkpoint`), and the publishing commands fold a long WAL back themselves
            // (`fold_long_wal`). An automatic checkpoint in a short-lived process does not help:
            // the next process to open the database rebuilds the WAL index from the WAL file,
            // forgets that the frames were copied, and copies them all again.
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {LONG_WAL_BYTES};"
        ))?;
        Ok(())
    }

    /// Brings the schema up to date. Another process may have done it meanwhile, so the state
    /// is read again under the write lock.
    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let state = SchemaState::read(&tx)?;
        refuse_foreign(&path, &state)?;
        if state.version >= migrations::MIGRATIONS.len() {
            return Ok(());
        }
        for sql in &migrations::MIGRATIONS[state.version..] {
            tx.execute_batch(sql)?;
        }
        if state.version < migrations::TAG_KEYS {
            fill_tag_keys(&tx)?;
        }
        tx.pragma_update(None, "user_version", migrations::MIGRATIONS.len() as i64)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
        Ok(())
    }

    /// Starts the write transaction of one command. It takes the write lock at once, waiting up
    /// to the busy timeout for other writers; then fails with [`Error::Locked`].
    pub fn write(&mut self) -> Result<Tx<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Tx { tx })
    }

    /// The connection, for this module's queries outside a write (list, show, serving
    /// documents). No SQL runs outside `store`.
    fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Copies what it can of the WAL back into the database without waiting for readers or
    /// writers (a passive checkpoint).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Copies the whole WAL back into the database and truncates it, waiting for readers to
    /// move on (after a bulk import, so the next publish does not inherit gigabytes of WAL).
    /// Readers that stay leave part of it for the server's passive checkpoints.
    pub fn checkpoint_all(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// After a publish from the command line: once the WAL file holds more than 8 MB, copies
    /// it back into the database and truncates it. A process that opens the database while no
    /// other connection is open (no `feedsvc serve` running) must read the whole WAL first,
    /// about 0.5 ms per MB, so without this every add would be slower than the one before.
    /// Waits at most 100 ms for readers; if they stay, the server's checkpoints do it later.
    pub fn fold_long_wal(&mut self) -> Result<()> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
        if size <= LONG_WAL_BYTES {
            return Ok(());
        }
        set_busy_handler(&mut self.conn, FOLD_WAIT)?;
        let outcome = self.checkpoint_all();
        set_busy_handler(&mut self.conn, self.busy_timeout)?;
        outcome
    }

    /// Writes a database no one else has opened yet (a new one an import fills before it is
    /// moved into place) without a write-ahead log: in WAL mode every page would be written
    /// twice, to the log and then to the file. [`Store::end_bulk_load`] turns the log back on.
    pub fn begin_bulk_load(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
        Ok(())
    }

    /// Back to WAL mode after [`Store::begin_bulk_load`].
    pub fn end_bulk_load(&self) -> Result<()> {
        self.conn
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        Ok(())
    }

    /// Lets SQLite keep up to `kib` KiB of pages in memory (2 MiB by default). A transaction
    /// larger than its cache spills pages to the WAL and reads them back again and again: an
    /// import of a whole archive spends most of its time so with the default.
    pub fn set_cache_kib(&self, kib: u32) -> Result<()> {
        self.conn
            .execute_batch(&format!("PRAGMA cache_size = -{kib}"))?;
        Ok(())
    }

    /// `PRAGMA data_version`: changes whenever another connection commits.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }
}

impl<'a> Tx<'a> {
    /// Commits every change of the command at once.
    pub fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}

/// Maps SQLite's codes to the errors a publisher can act on.
fn explain_error(path: &Path, busy_timeout: Duration, e: Error) -> Error {
    use rusqlite::ErrorCode;
    let Error::Db(rusqlite::Error::SqliteFailure(code, _)) = &e else {
        return e;
    };
    let reason = match code.code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            return Error::Locked {
                path: path.to_path_buf(),
                waited_ms: busy_timeout.as_millis() as u64,
            }
        }
        ErrorCode::NotADatabase => {
            "is not a SQLite database (is storage.database pointing at the right file?)".to_string()
        }
        ErrorCode::DatabaseCorrupt => "is corrupt (restore it from a backup)".to_string(),
        ErrorCode::ReadOnly => {
            "is read-only (check the permissions of the file and its directory)".to_string()
        }
        ErrorCode::CannotOpen => {
            "cannot be opened (check that the directory exists and is writable)".to_string()
        }
        ErrorCode::DiskFull => {
            "cannot be written: the disk is full; nothing was changed".to_string()
        }
        ErrorCode::SystemIoFailure => {
            "cannot be written: I/O error; nothing was changed".to_string()
        }
        ErrorCode::PermissionDenied => "permission denied".to_string(),
        _ => return e,
    };
    Error::Database {
        path: path.to_path_buf(),
        reason,
    }
}

fn describe(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error of the counting's database names that file, not the archive, and only while
    /// its code runs.
    #[test]
    fn errors_name_the_database_they_come_from() {
        let corrupt = || {
            Error::Db(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                None,
            ))
        };
        let stats = Path::new("/srv/data/feedsvc-stats.db");
        {
            let _named = ExplainAs::new(stats);
            let explained = explain(corrupt()).to_string();
            assert!(
                explained.starts_with("/srv/data/feedsvc-stats.db: is corrupt"),
                "{explained}"
            );
        }
        let after = explain(corrupt()).to_string();
        assert!(!after.contains("feedsvc-stats.db"), "{after}");
    }

    /// A database written by the first schema (documents with stored gzip and brotli copies)
    /// opens under the current one with every document's identity bytes and validators kept,
    /// and with the site fingerprint forgotten so the next publish renders the site again.
    #[test]
    fn first_schema_upgrades_in_place() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).expect("create");
            conn.execute_batch(migrations::MIGRATIONS[0])
                .expect("schema 1");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .expect("application id");
            conn.execute(
                "INSERT INTO documents (path, status, content_type, location, body, gzip, br, \
                 etag, last_modified, generation) \
                 VALUES ('/atom.xml', 200, 'application/atom+xml', NULL, x'3c666565642f3e', \
                 x'1f8b', x'0b', 'abc', 1700000000, 7)",
                [],
            )
            .expect("a document");
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('site_fingerprint', 'old'), \
                 ('generation', '7')",
                [],
            )
            .expect("meta");
        }
        let store = Store::open(&path, Duration::from_secs(1), false).expect("upgrade");
        let (generation, doc) = store.document("/atom.xml").expect("read");
        let doc = doc.expect("the document survived");
        assert_eq!(generation, 7);
        assert_eq!(doc.body, b"<feed/>");
        assert_eq!(
            (doc.etag.as_str(), doc.last_modified),
            ("abc", 1_700_000_000)
        );
        use crate::store::articles::ArticleQueries;
        assert_eq!(store.meta("site_fingerprint").expect("meta"), None);
        let version: i64 = store
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version as usize, migrations::MIGRATIONS.len());
        let columns: Vec<String> = store
            .conn()
            .prepare("SELECT name FROM pragma_table_info('documents') ORDER BY cid")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("columns");
        assert_eq!(
            columns,
            [
                "path",
                "status",
                "content_type",
                "location",
                "etag",
                "last_modified",
                "generation",
                "body"
            ],
            "no stored compressed copies, and the body last"
        );
        let indexes: Vec<String> = store
            .conn()
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("indexes");
        assert!(
            indexes.contains(&"documents_by_generation".to_string()),
            "{indexes:?}"
        );
        assert!(
            indexes.contains(&"articles_by_publication".to_string()),
            "{indexes:?}"
        );
    }
}
