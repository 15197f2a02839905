//! The library error type: every failure a user can meet, with the context needed to explain it.

use std::path::PathBuf;

/// Everything that can go wrong in feedsvc's library code.
///
/// Each variant carries what a person needs to fix the problem: the file, the field, the slug.
/// `Display` gives one line, suitable for stderr or a log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read or parsed.
    #[error("{}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },

    /// An article's input is not acceptable. `source_name` is the file name (or `<stdin>`).
    #[error("{source_name}: {field}: {reason}")]
    InvalidArticle {
        source_name: String,
        field: &'static str,
        reason: String,
    },

    /// An input file could not be read.
    #[error("{}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },

    /// An import is refused as a whole (its items are named in the message).
    #[error("{0}")]
    Import(String),

    /// No article has this slug.
    #[error("no article with slug \"{slug}\" (see `feedsvc list`)")]
    NotFound { slug: String },

    /// The slug is already used by another article.
    #[error(
        "{source_name}: slug: \"{slug}\" is already taken by \"{title}\" (use `feedsvc edit {slug}` to change it, or choose another slug)"
    )]
    SlugTaken {
        source_name: String,
        slug: String,
        title: String,
    },

    /// The database file exists but is not usable by this version of feedsvc.
    #[error("{}: {reason}", path.display())]
    Database { path: PathBuf, reason: String },

    /// Another process held the database for longer than we are willing to wait.
    #[error("{}: the database is locked by another process (waited {waited_ms} ms); nothing was changed, try again", path.display())]
    Locked { path: PathBuf, waited_ms: u64 },

    /// A SQLite error that has no more specific meaning (those that have one become
    /// [`Error::Locked`] or [`Error::Database`] as they are converted: see `From` below).
    #[error("database error: {0}")]
    Db(#[source] rusqlite::Error),

    /// A feed or page could not be rendered.
    #[error("rendering {what}: {reason}")]
    Render { what: String, reason: String },

    /// A failure inside feedsvc itself, not caused by its input or its files: a thread that
    /// panicked while holding a shared lock, a background task that died.
    #[error("internal error in {what}: {source}")]
    Internal {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An I/O error with a description of what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Every SQLite error is explained as it enters the library's error type, so a caller never
/// has to remember to: "database is locked" becomes [`Error::Locked`] naming the file, "disk
/// full" an [`Error::Database`] that says nothing was changed, and so on.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        crate::store::explain(Error::Db(e))
    }
}

/// The result type used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for an [`Error::InvalidArticle`].
    pub fn invalid(source_name: &str, field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArticle {
            source_name: source_name.to_string(),
            field,
            reason: reason.into(),
        }
    }

    /// Shorthand for an [`Error::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
