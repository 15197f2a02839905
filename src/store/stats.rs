//! The counting's own database (`feedsvc-stats.db` beside `feedsvc.db`): what `crate::stats`
//! flushes, and what its reports read.
//!
//! A file of its own, so that counting never touches the archive: a flush never makes a publish
//! wait for the write lock, and the server's watch on the archive's files (which wakes it to
//! look for publishes) never wakes for a flush.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use crate::stats::Counts;
use crate::{Error, Result};

/// Marks the file as feedsvc's counting (`PRAGMA application_id`: "fsvS").
const APPLICATION_ID: i64 = 0x6673_7653;

/// The schema, in order; `PRAGMA user_version` records how many have run. Days are UTC days
/// since 1970-01-01. A poller is a keyed hash of (client address, User-Agent) whose key changes
/// every day and is never written anywhere: no client address is stored. `kind`: 0 a reader, 1
/// an aggregator that reports its subscribers (its count is in `stats_aggregators`); a browser
/// viewing a feed is no poller and has no row. `unconditional`: requests without If-None-Match
/// or If-Modified-Since.
const SCHEMA: &[&str] = &[r#"
    CREATE TABLE stats_feeds (
        day          INTEGER NOT NULL,
        path         TEXT NOT NULL,
        requests     INTEGER NOT NULL DEFAULT 0,
        ok           INTEGER NOT NULL DEFAULT 0,
        not_modified INTEGER NOT NULL DEFAULT 0,
        limited      INTEGER NOT NULL DEFAULT 0,
        bytes        INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, path)
    ) WITHOUT ROWID;
    CREATE TABLE stats_pollers (
        day           INTEGER NOT NULL,
        path          TEXT NOT NULL,
        poller        BLOB NOT NULL,
        kind          INTEGER NOT NULL,
        agent         TEXT NOT NULL,
        requests      INTEGER NOT NULL DEFAULT 0,
        unconditional INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, path, poller)
    ) WITHOUT ROWID;
    CREATE TABLE stats_aggregators (
        day         INTEGER NOT NULL,
        path        TEXT NOT NULL,
        name        TEXT NOT NULL,
        feed_id     TEXT NOT NULL DEFAULT '',
        subscribers INTEGER NOT NULL,
        seen_ms     INTEGER NOT NULL,
        PRIMARY KEY (day, path, name, feed_id)
    ) WITHOUT ROWID;
    "#];

/// The counting's database of the archive at `database`: `feedsvc-stats.db` beside
/// `feedsvc.db` (`NAME-stats.EXT` beside `NAME.EXT`).
pub fn path_beside(database: &Path) -> PathBuf {
    let stem = database
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "feedsvc".to_string());
    let name = match database.extension() {
        Some(ext) => format!("{stem}-stats.{}", ext.to_string_lossy()),
        None => format!("{stem}-stats"),
    };
    database.with_file_name(name)
}

/// A connection to the counting's database.
pub struct StatsStore {
    conn: Connection,
    path: std::path::PathBuf,
}

impl StatsStore {
    /// Opens the database at `path`, creating it (and its schema) if `create`; `None` when it
    /// does not exist and `create` is false.
    pub fn open(path: &Path, busy_timeout: Duration, create: bool) -> Result<Option<StatsStore>> {
        let _named = super::ExplainAs::new(path);
        let fail = |reason: String| Error::Database {
            path: path.to_path_buf(),
            reason,
        };
        if !create && !path.exists() {
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)
            .map_err(|e| fail(format!("cannot open the database: {}", super::describe(&e))))?;
        super::set_busy_handler(&mut conn, busy_timeout)?;
        let (id, version): (i64, usize) = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .and_then(|id| {
                conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
                    .map(|v| (id, v.max(0) as usize))
            })
            .map_err(|e| fail(format!("cannot read the database: {}", super::describe(&e))))?;
        if id != APPLICATION_ID && !(id == 0 && version == 0) {
            return Err(fail(
                "is not feedsvc's statistics database (another file has its name)".to_string(),
            ));
        }
        if version > SCHEMA.len() {
            return Err(fail(format!(
                "was written by a newer feedsvc (schema version {version}, this one knows {})",
                SCHEMA.len()
            )));
        }
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        if version < SCHEMA.len() {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Another process may have made it meanwhile.
            let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for step in SCHEMA.iter().skip(now.max(0) as usize) {
                tx.execute_batch(step)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA.len() as i64)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.commit()?;
        }
        Ok(Some(StatsStore {
            conn,
            path: path.to_path_buf(),
        }))
    }
}

/// One feed's counts on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedDayRow {
    pub day: i64,
    pub path: String,
    pub requests: u64,
    pub ok: u64,
    pub not_modified: u64,
    pub limited: u64,
    pub bytes: u64,
}

/// One feed's pollers of one kind on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerDayRow {
    pub day: i64,
    pub path: String,
    /// 0 readers, 1 aggregators (see [`crate::stats::Kind`]).
    pub kind: i64,
    pub pollers: u64,
    /// Of them, those that sent no validator that day.
    pub without_validators: u64,
}

/// One aggregator's subscribers of one feed on one day (its feed ids summed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorDayRow {
    pub day: i64,
    pub path: String,
    pub name: String,
    pub subscribers: u64,
}

/// A User-Agent's requests without validators.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub agent: String,
    pub unconditional: u64,
    /// Days it polled on.
    pub days: u64,
    pub requests: u64,
    /// The feeds it polled.
    pub paths: Vec<String>,
}

fn count(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(i)?.max(0) as u64)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl StatsStore {
    /// Adds what the server threads counted since the last flush, and deletes the days before
    /// `first_kept`, in one transaction.
    pub fn add(&mut self, batches: &[Counts], first_kept: i64) -> Result<()> {
        let _named = super::ExplainAs::new(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for counts in batches {
            add_counts(&tx, counts)?;
        }
        for table in ["stats_feeds", "stats_pollers", "stats_aggregators"] {
            tx.prepare_cached(&format!("DELETE FROM {table} WHERE day < ?1"))?
                .execute([first_kept])?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Adds what one server thread counted since the last flush.
fn add_counts(tx: &rusqlite::Transaction<'_>, counts: &Counts) -> Result<()> {
    {
        let mut feeds = tx.prepare_cached(
            "INSERT INTO stats_feeds (day, path, requests, ok, not_modified, limited, bytes) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (day, path) DO UPDATE SET requests = requests + excluded.requests, \
             ok = ok + excluded.ok, not_modified = not_modified + excluded.not_modified, \
             limited = limited + excluded.limited, bytes = bytes + excluded.bytes",
        )?;
        let mut pollers = tx.prepare_cached(
            "INSERT INTO stats_pollers (day, path, poller, kind, agent, requests, unconditional) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (day, path, poller) DO UPDATE SET \
             requests = requests + excluded.requests, \
             unconditional = unconditional + excluded.unconditional, \
             kind = max(kind, excluded.kind)",
        )?;
        let mut aggregators = tx.prepare_cached(
            "INSERT INTO stats_aggregators (day, path, name, feed_id, subscribers, seen_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (day, path, name, feed_id) DO UPDATE SET \
             subscribers = excluded.subscribers, seen_ms = excluded.seen_ms \
             WHERE excluded.seen_ms >= stats_aggregators.seen_ms",
        )?;
        for (day, paths) in &counts.days {
            for (path, feed) in paths {
                let path: &str = path;
                feeds.execute(params![
                    day,
                    path,
                    signed(feed.requests),
                    signed(feed.ok),
                    signed(feed.not_modified),
                    signed(feed.limited),
                    signed(feed.bytes)
                ])?;
                for (hash, poller) in &feed.pollers {
                    pollers.execute(params![
                        day,
                        path,
                        &hash.to_be_bytes()[..],
                        poller.kind as i64,
                        &*poller.agent,
                        signed(poller.requests),
                        signed(poller.unconditional)
                    ])?;
                }
                for ((name, feed_id), (subscribers, seen_ms)) in &feed.aggregators {
                    aggregators.execute(params![
                        day,
                        path,
                        name,
                        feed_id,
                        signed(*subscribers),
                        seen_ms
                    ])?;
                }
            }
        }
        Ok(())
    }
}

impl StatsStore {
    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Each feed's counts on each day from `first` to `last`.
    pub fn feed_days(&self, first: i64, last: i64) -> Result<Vec<FeedDayRow>> {
        let _named = super::ExplainAs::new(&self.path);
        let mut stmt = self.conn().prepare_cached(
            "SELECT day, path, requests, ok, not_modified, limited, bytes FROM stats_feeds \
             WHERE day BETWEEN ?1 AND ?2 ORDER BY day, path",
        )?;
        let rows = stmt
            .query_map([first, last], |r| {
                Ok(FeedDayRow {
                    day: r.get(0)?,
                    path: r.get(1)?,
                    requests: count(r, 2)?,
                    ok: count(r, 3)?,
                    not_modified: count(r, 4)?,
                    limited: count(r, 5)?,
                    bytes: count(r, 6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Distinct pollers of each feed, by kind, on each day from `first` to `last`.
    pub fn poller_days(&self, first: i64, last: i64) -> Result<Vec<PollerDayRow>> {
        let _named = super::ExplainAs::new(&self.path);
        let mut stmt = self.conn().prepare_cached(
            "SELECT day, path, kind, count(*), \
             sum(CASE WHEN unconditional >= requests THEN 1 ELSE 0 END) \
             FROM stats_pollers WHERE day BETWEEN ?1 AND ?2 GROUP BY day, path, kind",
        )?;
        let rows = stmt
            .query_map([first, last], |r| {
                Ok(PollerDayRow {
                    day: r.get(0)?,
                    path: r.get(1)?,
                    kind: r.get(2)?,
                    pollers: count(r, 3)?,
                    without_validators: count(r, 4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Each aggregator's subscribers of each feed on each day from `first` to `last`: the
    /// latest count of each of its feed ids, summed over its feed ids.
    pub fn aggregator_days(&self, first: i64, last: i64) -> Result<Vec<AggregatorDayRow>> {
        let _named = super::ExplainAs::new(&self.path);
        let mut stmt = self.conn().prepare_cached(
            "SELECT day, path, name, sum(subscribers) FROM stats_aggregators \
             WHERE day BETWEEN ?1 AND ?2 GROUP BY day, path, name",
        )?;
        let rows = stmt
            .query_map([first, last], |r| {
                Ok(AggregatorDayRow {
                    day: r.get(0)?,
                    path: r.get(1)?,
                    name: r.get(2)?,
                    subscribers: count(r, 3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The `limit` User-Agents with the most requests without validators a day (over the days
    /// each polled on), from `first` to `last`.
    pub fn worst_agents(&self, first: i64, last: i64, limit: usize) -> Result<Vec<AgentRow>> {
        let _named = super::ExplainAs::new(&self.path);
        let mut stmt = self.conn().prepare_cached(
            "SELECT agent, sum(unconditional) AS u, count(DISTINCT day) AS d, sum(requests) \
             FROM stats_pollers WHERE day BETWEEN ?1 AND ?2 AND unconditional > 0 \
             GROUP BY agent ORDER BY CAST(u AS REAL) / d DESC, agent LIMIT ?3",
        )?;
        let mut rows = stmt
            .query_map(params![first, last, limit as i64], |r| {
                Ok(AgentRow {
                    agent: r.get(0)?,
                    unconditional: count(r, 1)?,
                    days: count(r, 2)?,
                    requests: count(r, 3)?,
                    paths: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut paths = self.conn().prepare_cached(
            "SELECT DISTINCT path FROM stats_pollers \
             WHERE day BETWEEN ?1 AND ?2 AND agent = ?3 ORDER BY path",
        )?;
        for row in &mut rows {
            row.paths = paths
                .query_map(params![first, last, row.agent], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
        }
        Ok(rows)
    }
}
