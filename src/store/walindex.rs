//! Noticing commits without a system call: every commit to a database in WAL mode ends by
//! writing the header of its WAL index, in the shared-memory file (`DATABASE-shm`) that every
//! connection, in every process, maps (<https://www.sqlite.org/walformat.html>, "The WAL-Index
//! Header"). A read-only mapping of that header turns "did anything commit since I last
//! looked?" into three memory loads, exactly as fresh as `PRAGMA data_version`, which reads the
//! same header when its read transaction begins.
//!
//! The one module of feedsvc with `unsafe` code: reading memory that other processes write
//! needs volatile loads through a raw pointer, which safe Rust cannot express. The mapping is
//! made by `memmap2` (safely: [`memmap2::MmapRaw`] hands out only pointers), and this module
//! only ever loads aligned 32-bit words from it.
#![allow(unsafe_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::{MmapOptions, MmapRaw};
use rusqlite::{Connection, OpenFlags};

/// `iVersion` of a valid WAL-index header (the only format SQLite writes).
const WAL_INDEX_VERSION: u32 = 3_007_000;
/// Offsets, in the first copy of the header (the copy a writer updates last), of `iVersion`,
/// `iChange` (incremented by every commit), `isInit` (the first byte of its word) and the two
/// words of `aCksum` (the checksum of every field before it: any change of the header changes
/// it). The header is in the machine's own byte order.
const VERSION: usize = 0;
const CHANGE: usize = 8;
const IS_INIT: usize = 12;
const CHECKSUM: [usize; 2] = [40, 44];
/// Both copies of the header and the checkpoint information after them: the least the file
/// holds once any connection has read the database in WAL mode.
const HEADER_BYTES: usize = 136;

/// A read-only view of a database's WAL-index header.
///
/// SQLite truncates the shared-memory file only when a process finds that no other process
/// holds its "DMS" lock, a POSIX record lock, so the lock this process holds is what keeps the
/// mapped bytes in the file (reading a mapped page past the end of a file raises SIGBUS). Two
/// things keep that lock: a connection of the index's own, open for as long as it lives; and
/// the file it mapped, never closed. POSIX drops every lock a process holds on a file as soon
/// as the process closes *any* descriptor of it, so closing ours would drop the locks of every
/// SQLite connection of the process, and the next process to open the database would truncate
/// the file under the mapping (a publish killed the server with SIGBUS until it was kept open).
pub struct WalIndex {
    // Declared first, so unmapped before the connection below closes.
    header: MmapRaw,
    /// Never used after [`WalIndex::open`]; in a mutex only so the index can be shared
    /// between threads.
    _keeper: std::sync::Mutex<Connection>,
    /// Never closed, even when the index is dropped (see above): one descriptor per process.
    file: std::mem::ManuallyDrop<std::fs::File>,
    /// Where the file is: see [`WalIndex::notice_replacement`].
    shm: std::path::PathBuf,
    /// False once the mapped file is found to be no longer the database's.
    current: AtomicBool,
}

impl WalIndex {
    /// Maps the WAL-index header of the database at `database`, which must be in WAL mode.
    /// `None` when it cannot be: no such file, not in WAL mode, a filesystem without shared
    /// memory, or a header that is not in the documented format. The caller then asks SQLite
    /// (`PRAGMA data_version`) instead.
    pub fn open(database: &Path) -> Option<WalIndex> {
        // Read-write without create, as every connection of the server: a read-only one cannot
        // open a WAL database whose log another process has just removed.
        let keeper = Connection::open_with_flags(
            database,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        keeper
            .busy_timeout(std::time::Duration::from_secs(5))
            .ok()?;
        let mode: String = keeper
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        // A read maps (and, for the first connection of all, initialises) the shared memory
        // and takes the lock that keeps it from being truncated.
        keeper
            .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .ok()?;
        // The file SQLite uses: named after the database's path as SQLite resolved it (through
        // symbolic links), not as the configuration spells it.
        let shm = std::path::PathBuf::from(format!("{}-shm", keeper.path()?));
        // From here on the descriptor is never closed, whatever happens (see the struct).
        let file = std::mem::ManuallyDrop::new(std::fs::File::open(&shm).ok()?);
        if file.metadata().ok()?.len() < HEADER_BYTES as u64 {
            return None;
        }
        let header = MmapOptions::new()
            .len(HEADER_BYTES)
            .map_raw_read_only(&*file)
            .ok()?;
        let index = WalIndex {
            header,
            _keeper: std::sync::Mutex::new(keeper),
            file,
            shm,
            current: AtomicBool::new(true),
        };
        let is_init = index.word(IS_INIT).to_ne_bytes()[0];
        let valid = index.word(VERSION) == WAL_INDEX_VERSION && is_init == 1;
        valid.then_some(index)
    }

    /// A value that changes whenever a transaction commits to the database (or the log is
    /// restarted): the commit counter and the header's checksum. Two requests that read the
    /// same value saw the same committed state. `None` once [`WalIndex::notice_replacement`]
    /// found the mapped file is no longer the database's: the caller must then ask SQLite.
    pub fn fingerprint(&self) -> Option<u64> {
        if !self.current.load(Ordering::Relaxed) {
            return None;
        }
        let change = u64::from(self.word(CHANGE));
        let checksum = u64::from(self.word(CHECKSUM[0]) ^ self.word(CHECKSUM[1]).rotate_left(16));
        // What the caller reads after this (SQLite's own read of the same header, its
        // documents) comes after these loads.
        std::sync::atomic::fence(Ordering::Acquire);
        Some((change << 32) | checksum)
    }

    /// Checks that the mapped file is still the one at its path: removed, or replaced by hand
    /// while the server runs, the mapping would show a file no one writes any more and hide
    /// every later commit. True the one time it finds so; [`WalIndex::fingerprint`] is `None`
    /// from then on. One `stat` and one `fstat`: for a periodic check, not every request.
    pub fn notice_replacement(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let is_current = match (std::fs::metadata(&self.shm), self.file.metadata()) {
            (Ok(live), Ok(mapped)) => (live.dev(), live.ino()) == (mapped.dev(), mapped.ino()),
            _ => false,
        };
        !is_current && self.current.swap(false, Ordering::Relaxed)
    }

    /// The aligned 32-bit word at `offset` of the header, as SQLite last wrote it.
    fn word(&self, offset: usize) -> u32 {
        debug_assert!(offset % 4 == 0 && offset + 4 <= HEADER_BYTES);
        // SAFETY: the mapping is HEADER_BYTES long, starts on a page boundary and lives as long
        // as `self`; `offset` is a multiple of 4 within it, so the pointer is valid for reads
        // and aligned for a u32. The bytes stay in the file while this process holds SQLite's
        // lock (see the struct). Other processes write them concurrently, as C writes memory
        // it shares between processes; they are read with a volatile load, which the compiler
        // may neither elide nor merge, never through a reference, and never written (the
        // page is mapped read-only, which is also why this is not an atomic: std allows atomic
        // accesses to read-only memory only in restricted cases). A torn or stale value only
        // makes the caller ask SQLite once more, or find out at its next request.
        unsafe { std::ptr::read_volatile(self.header.as_ptr().add(offset).cast::<u32>()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &Path) -> Connection {
        let conn = Connection::open(dir.join("db.sqlite")).unwrap();
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        conn
    }

    #[test]
    fn every_commit_changes_the_fingerprint_and_reads_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let writer = database(dir.path());
        let index = WalIndex::open(&dir.path().join("db.sqlite")).expect("a WAL index");
        let mut seen = vec![index.fingerprint().unwrap()];
        for i in 0..50 {
            writer.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
            let now = index.fingerprint().unwrap();
            assert!(
                !seen.contains(&now),
                "commit {i} left the fingerprint as it was"
            );
            seen.push(now);
            // Reading changes nothing.
            let _: i64 = writer
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(index.fingerprint(), Some(now));
        }
        // A checkpoint that restarts the log changes it too, and the next commit again.
        writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        writer.execute("INSERT INTO t VALUES (0)", []).unwrap();
        assert!(!seen.contains(&index.fingerprint().unwrap()));
    }

    #[test]
    fn a_commit_by_another_process_connection_is_seen() {
        // Another connection stands for another process: both share the file, as processes do.
        let dir = tempfile::tempdir().unwrap();
        let _first = database(dir.path());
        let index = WalIndex::open(&dir.path().join("db.sqlite")).unwrap();
        let before = index.fingerprint();
        let other = Connection::open(dir.path().join("db.sqlite")).unwrap();
        other.execute("INSERT INTO t VALUES (1)", []).unwrap();
        assert_ne!(index.fingerprint(), before);
    }

    #[test]
    fn a_database_opened_through_a_symbolic_link_is_watched_at_its_real_place() {
        let dir = tempfile::tempdir().unwrap();
        let writer = database(dir.path());
        let link = dir.path().join("link.sqlite");
        std::os::unix::fs::symlink(dir.path().join("db.sqlite"), &link).unwrap();
        // A stale file where the link's name would put it, as a moved database leaves.
        std::fs::write(dir.path().join("link.sqlite-shm"), vec![0u8; 32768]).unwrap();
        let index = WalIndex::open(&link).expect("a WAL index");
        let before = index.fingerprint();
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        assert_ne!(index.fingerprint(), before);
        assert!(!index.notice_replacement());
    }

    #[test]
    fn a_removed_file_is_noticed_and_its_mapping_no_longer_used() {
        let dir = tempfile::tempdir().unwrap();
        let _writer = database(dir.path());
        let index = WalIndex::open(&dir.path().join("db.sqlite")).unwrap();
        assert!(!index.notice_replacement());
        assert!(index.fingerprint().is_some());
        std::fs::remove_file(dir.path().join("db.sqlite-shm")).unwrap();
        assert!(index.notice_replacement(), "found once");
        assert!(!index.notice_replacement(), "and said once");
        assert_eq!(
            index.fingerprint(),
            None,
            "the caller asks SQLite from then on"
        );
    }

    #[test]
    fn no_index_for_a_database_not_in_wal_mode_or_missing() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("plain.sqlite")).unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        assert!(WalIndex::open(&dir.path().join("plain.sqlite")).is_none());
        assert!(WalIndex::open(&dir.path().join("missing.sqlite")).is_none());
    }
}
