//! feedsvc: a feed service for newsrooms.
//!
//! Articles (Markdown with TOML front matter) are kept in SQLite. Each change to the archive
//! renders, in the same transaction, every document it touches (RSS 2.0, Atom 1.0 and JSON Feed
//! 1.1 feeds, per-tag feeds, HTML pages) together with their validators. `feedsvc serve`
//! compresses each document once, on its first request, and then serves those bytes as they
//! are, so a poll costs a header check and a copy.
//!
//! Calls point one way: `cli`/`http` -> `publish` -> `store` + `render` -> `article`.
#![forbid(unsafe_code)]

pub mod article;
pub mod check;
pub mod cli;
pub mod config;
pub mod document;
pub mod error;
pub mod http;
pub mod publish;
pub mod render;
pub mod routes;
pub mod store;
pub mod text;

pub use error::{Error, Result};

/// Sends log lines to stderr, filtered by `RUST_LOG` or else `default_filter`.
pub fn init_logging(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
