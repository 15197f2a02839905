//! Writing an export directory incrementally: a file is rewritten only when its bytes change
//! (the others keep their mtime, so `rsync` or an object-storage sync uploads a handful of
//! files after a publish), each write lands whole (a temporary file renamed into place, so a
//! static server never sends half a file), and files of the previous export that are no longer
//! part of the site are removed. The previous export's file list is its manifest.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// Where the export keeps its own files, which a static server must not serve.
pub const OWN_DIR: &str = "_feedsvc";
/// The list of the files an export wrote, one relative path per line.
pub const MANIFEST: &str = "_feedsvc/manifest";

/// What happened to the files of one export.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Files written (new, or bytes changed).
    pub written: usize,
    /// Files whose bytes were already there; left untouched.
    pub unchanged: usize,
    /// Files of the previous export that are no longer part of the site.
    pub removed: usize,
}

/// The export directory being written.
pub struct Tree {
    root: PathBuf,
    /// The files of the previous export.
    previous: HashSet<String>,
    /// The files of this export.
    current: Vec<String>,
    seen: HashSet<String>,
    counts: Counts,
}

impl Tree {
    /// Opens `root` for an export: creates it if missing; refuses a directory that holds files
    /// but no manifest (it is not an earlier export, and files in it could be overwritten).
    pub fn open(root: &Path) -> Result<Tree> {
        let fail = |reason: String| Error::Read {
            path: root.to_path_buf(),
            reason,
        };
        if root.exists() && !root.is_dir() {
            return Err(fail("is not a directory".to_string()));
        }
        std::fs::create_dir_all(root).map_err(|e| io(e, "creating", root))?;
        let manifest = root.join(MANIFEST);
        let previous = match std::fs::read_to_string(&manifest) {
            Ok(text) => text
                .lines()
                .filter(|l| is_safe_relative(l))
                .map(str::to_string)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut entries = std::fs::read_dir(root).map_err(|e| io(e, "reading", root))?;
                if entries.next().is_some() {
                    return Err(fail(format!(
                        "is not empty and holds no earlier export ({MANIFEST}); export into a \
                         new or empty directory"
                    )));
                }
                // An empty manifest at once: a first export cut short can be run again.
                write_whole(&manifest, b"", 0)?;
                HashSet::new()
            }
            Err(e) => return Err(io(e, "reading", &manifest)),
        };
        Ok(Tree {
            root: root.to_path_buf(),
            previous,
            current: Vec::new(),
            seen: HashSet::new(),
            counts: Counts::default(),
        })
    }

    /// True when the previous export wrote `relative`.
    pub fn had(&self, relative: &str) -> bool {
        self.previous.contains(relative)
    }

    /// True when the file at `relative` holds exactly `bytes` (a link there never does).
    pub fn holds(&self, relative: &str, bytes: &[u8]) -> Result<bool> {
        let path = self.within(relative)?;
        Ok(match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() && meta.len() == bytes.len() as u64 => {
                std::fs::read(&path).map_err(|e| io(e, "reading", &path))? == bytes
            }
            _ => false,
        })
    }

    /// Writes `bytes` at `relative` unless the file already holds exactly them; a written
    /// file's mtime is `modified` (seconds since the epoch) when that is known (above 0).
    /// Returns true when the bytes were already there.
    pub fn put(&mut self, relative: &str, bytes: &[u8], modified: i64) -> Result<bool> {
        if !is_safe_relative(relative) {
            return Err(Error::Render {
                what: format!("the export file name {relative:?}"),
                reason: "not a plain relative path".to_string(),
            });
        }
        let same = self.holds(relative, bytes)?;
        if same {
            self.counts.unchanged += 1;
        } else {
            write_whole(&self.within(relative)?, bytes, modified)?;
            self.counts.written += 1;
        }
        self.record(relative);
        Ok(same)
    }

    /// True when a regular file is at `relative` (not a link, not a directory).
    pub fn holds_file(&self, relative: &str) -> bool {
        self.within(relative)
            .is_ok_and(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// Keeps a file of the previous export as it is (its source did not change), if it is
    /// still on disk; returns false when it is not.
    pub fn keep(&mut self, relative: &str) -> bool {
        if !self.previous.contains(relative) || !self.holds_file(relative) {
            return false;
        }
        self.counts.unchanged += 1;
        self.record(relative);
        true
    }

    /// The path of `relative` below the root, refusing a directory on the way that is a
    /// symbolic link: an export never writes or removes anything outside its directory.
    fn within(&self, relative: &str) -> Result<PathBuf> {
        let mut path = self.root.clone();
        let mut parts = relative.split('/').peekable();
        while let Some(part) = parts.next() {
            path.push(part);
            if parts.peek().is_some()
                && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(Error::Read {
                    path,
                    reason: "is a symbolic link; an export writes nothing through links"
                        .to_string(),
                });
            }
        }
        Ok(path)
    }

    fn record(&mut self, relative: &str) {
        if self.seen.insert(relative.to_string()) {
            self.current.push(relative.to_string());
        }
    }

    /// Removes the files of the previous export that this one did not write (and directories
    /// left empty by that), then writes the manifest. Returns the counts and the number of
    /// files now in the export.
    pub fn finish(mut self) -> Result<(Counts, usize)> {
        let mut stale: Vec<&String> = self
            .previous
            .iter()
            .filter(|p| !self.seen.contains(*p) && p.as_str() != MANIFEST)
            .collect();
        stale.sort();
        for relative in stale {
            let path = self.within(relative)?;
            match std::fs::remove_file(&path) {
                Ok(()) => self.counts.removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e, "removing", &path)),
            }
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == self.root || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        let files = self.current.len();
        self.current.sort_unstable();
        let mut manifest = self.current.join("\n");
        manifest.push('\n');
        let path = self.root.join(MANIFEST);
        let unchanged = std::fs::read(&path).is_ok_and(|old| old == manifest.as_bytes());
        if !unchanged {
            write_whole(&path, manifest.as_bytes(), 0)?;
        }
        Ok((self.counts, files))
    }
}

/// A path below the export root that cannot leave it: no empty, `.` or `..` component, no
/// absolute path, no backslash or control character.
fn is_safe_relative(relative: &str) -> bool {
    !relative.is_empty()
        && !relative.starts_with('/')
        && !relative.chars().any(|c| c == '\\' || c.is_control())
        && relative
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk, sets its mtime, and
/// renames it into place.
fn write_whole(path: &Path, bytes: &[u8], modified: i64) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(e, "creating", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        if modified > 0 {
            file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(modified as u64))?;
        }
        drop(file);
        std::fs::rename(&temp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io(e, "writing", path)
    })
}

fn io(e: std::io::Error, doing: &str, path: &Path) -> Error {
    Error::Io {
        context: format!("{doing} {}", path.display()),
        source: e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_export() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/./b",
            "a\\b",
            "a\nb",
        ] {
            assert!(!is_safe_relative(bad), "{bad:?}");
        }
        for good in [
            "index.html",
            "tags/asia/atom.xml",
            "archive/2026-09/rss.xml.gz",
        ] {
            assert!(is_safe_relative(good), "{good:?}");
        }
    }

    #[test]
    fn a_second_export_writes_only_what_changed_and_removes_what_went() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        let mut tree = Tree::open(&root).unwrap();
        assert!(!tree.put("a.html", b"one", 1_700_000_000).unwrap());
        assert!(!tree.put("tags/x/atom.xml", b"two", 0).unwrap());
        let (counts, files) = tree.finish().unwrap();
        assert_eq!(
            (counts.written, counts.unchanged, counts.removed, files),
            (2, 0, 0, 2)
        );
        let mtime = std::fs::metadata(root.join("a.html"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            mtime,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );

        let mut tree = Tree::open(&root).unwrap();
        assert!(tree.put("a.html", b"one", 1_800_000_000).unwrap());
        assert!(!tree.put("b.html", b"three", 0).unwrap());
        let (counts, _) = tree.finish().unwrap();
        assert_eq!(
            (counts.written, counts.unchanged, counts.removed),
            (1, 1, 1)
        );
        // The unchanged file kept its mtime; the removed one took its empty directories along.
        let kept = std::fs::metadata(root.join("a.html"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(kept, mtime);
        assert!(!root.join("tags").exists());
        let manifest = std::fs::read_to_string(root.join(MANIFEST)).unwrap();
        assert_eq!(manifest, "a.html\nb.html\n");
    }

    #[test]
    fn nothing_is_written_through_a_linked_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let mut tree = Tree::open(&root).unwrap();
        tree.put("articles/a.html", b"one", 0).unwrap();
        tree.finish().unwrap();
        std::fs::remove_dir_all(root.join("articles")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("articles")).unwrap();
        let mut tree = Tree::open(&root).unwrap();
        let refused = tree.put("articles/a.html", b"two", 0).unwrap_err();
        assert!(refused.to_string().contains("symbolic link"), "{refused}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        // A link in a file's own place is replaced by the file, its target left alone.
        let target = dir.path().join("target.txt");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, root.join("b.html")).unwrap();
        tree.put("b.html", b"keep", 0).unwrap();
        assert!(!std::fs::symlink_metadata(root.join("b.html"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }

    #[test]
    fn a_directory_that_is_not_an_export_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let refused = Tree::open(dir.path()).err().expect("refused");
        assert!(
            refused.to_string().contains("holds no earlier export"),
            "{refused}"
        );
        assert_eq!(
            std::fs::read(dir.path().join("notes.txt")).unwrap(),
            b"mine"
        );
    }
}
