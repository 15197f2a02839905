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
    /// Writes a consistent copy of the archive beside `dest`, checked and on disk, ready to
    /// be named `dest` (see [`Copy::name`]).
    pub fn copy_for_backup(&self, dest: &Path) -> Result<Copy> {
        Copy::write(self.conn(), dest)
    }
}

impl StatsStore {
    /// Writes a consistent copy of the counting's database beside `dest` (see
    /// [`Store::copy_for_backup`]).
    pub fn copy_for_backup(&self, dest: &Path) -> Result<Copy> {
        Copy::write(self.conn(), dest)
    }
}

/// Refuses a destination that cannot take a backup, before anything is read or written:
/// a directory, a missing directory, an existing file without `force`, anything but a regular
/// file or a link even with it (a device, a FIFO), and any of `live`, the files of the
/// databases being copied (the database and its `-wal` and `-shm`), which a backup replacing
/// them would corrupt.
pub fn check_destination(dest: &Path, force: bool, live: &[PathBuf]) -> Result<()> {
    let fail = |reason: &str| Error::Database {
        path: dest.to_path_buf(),
        reason: reason.to_string(),
    };
    let dir = parent_dir(dest);
    if !dir.is_dir() {
        return Err(Error::Database {
            path: dir.to_path_buf(),
            reason: "no such directory for the backup".to_string(),
        });
    }
    let named = identity(dest);
    for database in live {
        let mut files = vec![database.clone()];
        for suffix in ["-wal", "-shm"] {
            let mut name = database.clone().into_os_string();
            name.push(suffix);
            files.push(PathBuf::from(name));
        }
        if files.iter().any(|f| identity(f) == named) {
            return Err(fail(
                "is a file of the live database; a backup must go to a file of its own",
            ));
        }
    }
    match std::fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => Err(fail("is a directory; name the backup file")),
        Ok(_) if !force => Err(fail(
            "already exists; choose another name, or pass --force to replace it",
        )),
        Ok(meta) if !meta.is_file() && !meta.file_type().is_symlink() => Err(fail(
            "is not a regular file (a device or a pipe); a backup replaces only files",
        )),
        _ => Ok(()),
    }
}

/// What names the same file: the device and inode when it exists, otherwise the canonical
/// directory and the name.
fn identity(path: &Path) -> (Option<(u64, u64)>, Option<PathBuf>) {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = std::fs::metadata(path) {
        return (Some((meta.dev(), meta.ino())), None);
    }
    let dir = std::fs::canonicalize(parent_dir(path)).ok();
    (None, dir.zip(path.file_name()).map(|(d, n)| d.join(n)))
}

fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A checked copy on disk under a temporary name beside its destination; removed when dropped
/// without being named.
#[derive(Debug)]
pub struct Copy {
    temp: PathBuf,
    dest: PathBuf,
    bytes: u64,
    named: bool,
}

impl Copy {
    fn write(conn: &Connection, dest: &Path) -> Result<Copy> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "backup".to_string());
        let temp = parent_dir(dest).join(format!(".{name}.partial-{}", std::process::id()));
        // A temporary file left by a backup that was killed under this process id.
        let _ = std::fs::remove_file(&temp);
        let mut copy = Copy {
            temp,
            dest: dest.to_path_buf(),
            bytes: 0,
            named: false,
        };
        let fail = |reason: String| Error::Database {
            path: dest.to_path_buf(),
            reason,
        };
        let temp_text = copy.temp.to_str().ok_or_else(|| {
            fail("the backup's path is not valid UTF-8, which SQLite needs".to_string())
        })?;
        conn.execute("VACUUM INTO ?1", [temp_text])
            .map_err(|e| fail(format!("cannot write the backup: {}", super::describe(&e))))?;
        verify(&copy.temp).map_err(fail)?;
        let file = std::fs::File::open(&copy.temp).map_err(|e| Error::Io {
            context: format!("reading the backup {}", copy.temp.display()),
            source: e,
        })?;
        file.sync_all().map_err(|e| Error::Io {
            context: format!("flushing the backup {} to disk", copy.temp.display()),
            source: e,
        })?;
        copy.bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(copy)
    }

    /// Gives the copy its name: replacing an existing file when `force`, otherwise failing if
    /// one appeared since the destination was checked (a hard link cannot replace a file).
    pub fn name(mut self, force: bool) -> Result<Copied> {
        let fail = |reason: String| Error::Database {
            path: self.dest.clone(),
            reason,
        };
        if force {
            std::fs::rename(&self.temp, &self.dest)
        } else {
            std::fs::hard_link(&self.temp, &self.dest)
                .and_then(|()| std::fs::remove_file(&self.temp))
        }
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => fail(
                "already exists; choose another name, or pass --force to replace it".to_string(),
            ),
            _ => Error::Io {
                context: format!("naming the backup {}", self.dest.display()),
                source: e,
            },
        })?;
        self.named = true;
        if let Ok(dir) = std::fs::File::open(parent_dir(&self.dest)) {
            let _ = dir.sync_all();
        }
        Ok(Copied {
            path: self.dest.clone(),
            bytes: self.bytes,
        })
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        if !self.named {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
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
        let refused = check_destination(&existing, false, &[]).unwrap_err();
        assert!(refused.to_string().contains("--force"), "{refused}");
        check_destination(&existing, true, &[]).expect("--force replaces a file");
        let is_dir = check_destination(dir.path(), true, &[]).unwrap_err();
        assert!(is_dir.to_string().contains("is a directory"), "{is_dir}");
        let nowhere = check_destination(&dir.path().join("no/such/x.db"), false, &[]).unwrap_err();
        assert!(
            nowhere.to_string().contains("no such directory"),
            "{nowhere}"
        );
        check_destination(&dir.path().join("new.db"), false, &[]).expect("a new file");
        let fifo = dir.path().join("pipe");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let special = check_destination(&fifo, true, &[]).unwrap_err();
        assert!(
            special.to_string().contains("not a regular file"),
            "{special}"
        );
    }

    /// The live database, its log and its index, under any name that reaches them, are never
    /// a backup's destination, not even with --force.
    #[test]
    fn the_live_database_is_never_a_destination() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("data/feedsvc.db");
        std::fs::create_dir_all(live.parent().unwrap()).unwrap();
        std::fs::write(&live, b"db").unwrap();
        std::fs::write(dir.path().join("data/feedsvc.db-wal"), b"wal").unwrap();
        std::os::unix::fs::symlink(&live, dir.path().join("link.db")).unwrap();
        for dest in [
            live.clone(),
            dir.path().join("data/../data/feedsvc.db"),
            dir.path().join("link.db"),
            dir.path().join("data/feedsvc.db-wal"),
            dir.path().join("data/feedsvc.db-shm"),
        ] {
            let refused = check_destination(&dest, true, std::slice::from_ref(&live))
                .expect_err(&dest.display().to_string());
            assert!(refused.to_string().contains("live database"), "{refused}");
        }
        check_destination(&dir.path().join("data/copy.db"), true, &[live]).expect("another file");
    }
}
