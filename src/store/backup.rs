//! Consistent copies of a live database (`feedsvc backup`): SQLite's `VACUUM INTO`, which reads
//! the whole database in one read transaction, so the copy is one committed state even while
//! the server serves and publishers write (they are never blocked: WAL readers do not block
//! writers). The copy is written beside its destination under a temporary name, checked,
//! flushed to disk and only then given its name, so a failed or interrupted backup leaves no
//! file that looks like a backup.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::stats::StatsStore;
use super::Store;
use crate::error::{Error, Result};

/// What one database's backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The backup file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

impl Store {
    /// Writes a consistent copy of the archive to `dest`; an existing `dest` is replaced only
    /// when `force` is set (the check and the naming are one atomic step without it).
    pub fn backup(&self, dest: &Path, force: bool) -> Result<Copied> {
        snapshot(self.conn(), dest, force)
    }
}

impl StatsStore {
    /// Writes a consistent copy of the counting's database to `dest` (see [`Store::backup`]).
    pub fn backup(&self, dest: &Path, force: bool) -> Result<Copied> {
        snapshot(self.conn(), dest, force)
    }
}

/// Refuses a destination that cannot take a backup, before anything is read or written.
pub fn check_destination(dest: &Path, force: bool) -> Result<()> {
    let fail = |reason: &str| Error::Database {
        path: dest.to_path_buf(),
        reason: reason.to_string(),
    };
    match std::fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => return Err(fail("is a directory; name the backup file")),
        Ok(_) if !force => {
            return Err(fail(
                "already exists; choose another name, or pass --force to replace it",
            ))
        }
        _ => {}
    }
    let dir = parent_dir(dest);
    if !dir.is_dir() {
        return Err(Error::Database {
            path: dir.to_path_buf(),
            reason: "no such directory for the backup".to_string(),
        });
    }
    Ok(())
}

fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn snapshot(conn: &Connection, dest: &Path, force: bool) -> Result<Copied> {
    check_destination(dest, force)?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".to_string());
    let temp = parent_dir(dest).join(format!(".{name}.partial-{}", std::process::id()));
    // A temporary file left by a backup that was killed under this process id.
    let _ = std::fs::remove_file(&temp);
    let outcome = write_copy(conn, &temp, dest, force);
    if outcome.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    outcome
}

fn write_copy(conn: &Connection, temp: &Path, dest: &Path, force: bool) -> Result<Copied> {
    let fail = |reason: String| Error::Database {
        path: dest.to_path_buf(),
        reason,
    };
    let temp_text = temp.to_str().ok_or_else(|| {
        fail("the backup's path is not valid UTF-8, which SQLite needs".to_string())
    })?;
    conn.execute("VACUUM INTO ?1", [temp_text])
        .map_err(|e| fail(format!("cannot write the backup: {}", super::describe(&e))))?;
    verify(temp).map_err(fail)?;
    let file = std::fs::File::open(temp).map_err(|e| Error::Io {
        context: format!("reading the backup {}", temp.display()),
        source: e,
    })?;
    file.sync_all().map_err(|e| Error::Io {
        context: format!("flushing the backup {} to disk", temp.display()),
        source: e,
    })?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    drop(file);
    if force {
        std::fs::rename(temp, dest)
    } else {
        // A hard link fails when `dest` exists, so a file created since the first check is
        // not replaced either.
        std::fs::hard_link(temp, dest).and_then(|()| std::fs::remove_file(temp))
    }
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            fail("already exists; choose another name, or pass --force to replace it".to_string())
        }
        _ => Error::Io {
            context: format!("naming the backup {}", dest.display()),
            source: e,
        },
    })?;
    if let Ok(dir) = std::fs::File::open(parent_dir(dest)) {
        let _ = dir.sync_all();
    }
    Ok(Copied {
        path: dest.to_path_buf(),
        bytes,
    })
}

/// Reads the whole copy back: `PRAGMA integrity_check` must answer `ok`.
fn verify(copy: &Path) -> std::result::Result<(), String> {
    let conn = Connection::open_with_flags(copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open the copy: {}", super::describe(&e)))?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("cannot check the copy: {}", super::describe(&e)))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(format!("the copy failed its integrity check: {verdict}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_that_cannot_take_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("old.db");
        std::fs::write(&existing, b"x").unwrap();
        let refused = check_destination(&existing, false).unwrap_err();
        assert!(refused.to_string().contains("--force"), "{refused}");
        check_destination(&existing, true).expect("--force replaces a file");
        let is_dir = check_destination(dir.path(), true).unwrap_err();
        assert!(is_dir.to_string().contains("is a directory"), "{is_dir}");
        let nowhere = check_destination(&dir.path().join("no/such/x.db"), false).unwrap_err();
        assert!(
            nowhere.to_string().contains("no such directory"),
            "{nowhere}"
        );
        check_destination(&dir.path().join("new.db"), false).expect("a new file");
    }
}
