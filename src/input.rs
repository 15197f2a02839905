//! Reading article files from disk: one file (or standard input) into a [`Source`], and the
//! article files of a directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::article::{parse_source, Source};
use crate::Error;

/// What a source file may hold beyond `storage.max_article_bytes` of body: its front matter.
pub const FRONT_MATTER_ROOM_BYTES: usize = 64 * 1024;

/// Reads a file (or standard input for `-`) into a [`Source`].
///
/// A file is read whole or refused: one larger than the body's limit plus room for front
/// matter is refused, naming the limit, never cut short (a cut article would be stored short, or
/// a cut inside a character would be blamed on the encoding). The body's own limit is checked
/// when the article is validated.
pub fn read_source(path: &Path, max_bytes: usize) -> anyhow::Result<Source> {
    let is_stdin = path.as_os_str() == "-";
    let name = if is_stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let limit = max_bytes.saturating_add(FRONT_MATTER_ROOM_BYTES);
    // One byte past the limit is enough to know the input is too large, however large it is.
    let take = (limit as u64).saturating_add(1);
    let mut bytes = Vec::new();
    let result = if is_stdin {
        std::io::stdin().lock().take(take).read_to_end(&mut bytes)
    } else {
        if path.is_dir() {
            return Err(Error::Read {
                path: path.to_path_buf(),
                reason: "is a directory, not an article file".into(),
            }
            .into());
        }
        std::fs::File::open(path).and_then(|f| f.take(take).read_to_end(&mut bytes))
    };
    result.map_err(|e| Error::Read {
        path: PathBuf::from(&name),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (cannot read the file)".to_string()
            }
            _ => format!("cannot read: {e}"),
        },
    })?;
    if bytes.len() > limit {
        return Err(Error::invalid(
            &name,
            "input",
            format!(
                "is larger than {limit} bytes, the most an article file may hold: a body of \
                 storage.max_article_bytes ({max_bytes} bytes) plus {FRONT_MATTER_ROOM_BYTES} \
                 bytes of front matter; nothing was stored"
            ),
        )
        .into());
    }
    Ok(parse_source(&name, &bytes)?)
}

/// What `import` finds in a directory.
pub struct ArticleFiles {
    /// The `*.md` files, sorted by name.
    pub files: Vec<PathBuf>,
    /// Directories named `*.md`: left out, since an import does not descend into directories.
    pub directories: Vec<PathBuf>,
}

/// Most unreadable entries named in one refusal; the rest are counted.
const LISTED_PROBLEMS: usize = 5;

/// The `*.md` files of `dir`, sorted by name, and the directories named `*.md` it leaves out.
///
/// Errors: `dir` cannot be read, or an entry named `*.md` is not a file that can be read (a
/// symbolic link to nothing or to itself, a FIFO, a socket, a device): importing the rest would
/// lose that article without a word, and a second import of the same directory would then be
/// refused for the slugs the first one took. Every such entry is named, on one line.
pub fn article_files(dir: &Path) -> anyhow::Result<ArticleFiles> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Read {
        path: dir.to_path_buf(),
        reason: format!("cannot read the directory: {e}"),
    })?;
    let mut found = ArticleFiles {
        files: Vec::new(),
        directories: Vec::new(),
    };
    let mut problems = Vec::new();
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                problems.push(format!("an entry cannot be read ({e})"));
                continue;
            }
        };
        if path.extension().is_none_or(|x| x != "md") {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => found.files.push(path),
            Ok(meta) if meta.is_dir() => found.directories.push(path),
            Ok(meta) => problems.push(format!(
                "{}: is {}, not a regular file",
                path.display(),
                file_kind(&meta.file_type())
            )),
            Err(e) => problems.push(format!("{}: {}", path.display(), unfollowable(&path, &e))),
        }
    }
    if !problems.is_empty() {
        problems.sort();
        let count = problems.len();
        let mut listed = problems
            .into_iter()
            .take(LISTED_PROBLEMS)
            .collect::<Vec<_>>()
            .join("; ");
        if count > LISTED_PROBLEMS {
            listed.push_str(&format!("; and {} more", count - LISTED_PROBLEMS));
        }
        anyhow::bail!(
            "{}: cannot import: {listed} (fix or remove them; nothing was imported)",
            dir.display()
        );
    }
    found.files.sort();
    found.directories.sort();
    Ok(found)
}

/// Names a kind of file that is neither a regular file nor a directory.
fn file_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "something else"
    }
}

/// Why `path` cannot be examined, for an entry whose metadata could not be read.
fn unfollowable(path: &Path, e: &std::io::Error) -> String {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return format!("cannot be examined ({e})");
    }
    let target = std::fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("is a symbolic link to a missing file ({target})")
    } else {
        format!("is a symbolic link that cannot be followed to {target} ({e})")
    }
}
