//! feedsvc: a feed service for newsrooms.
//!
//! Articles (Markdown with TOML front matter) are kept in SQLite. Each change to the archive
//! renders, in the same transaction, every document it touches (RSS 2.0, Atom 1.0 and JSON Feed
//! 1.1 feeds, per-tag feeds, HTML pages) together with their validators. `feedsvc serve`
//! compresses each document once, on its first request, and then serves those bytes as they
//! are, so a poll costs a header check and a copy.
//!
//! Calls point one way:
//!
//! - `cli` -> `publish` (writes: a change and every document it touches, in one transaction);
//! - `http` -> `ondemand` (reads: list pages, archives and sitemaps rendered on request) and
//!   the store's stored documents;
//! - `publish`, `ondemand` -> `store` (all SQL) + `render` (bytes, never SQL or the network);
//! - everything -> `routes` (every URL: build, parse, content type, cache policy), `views`
//!   (where feeds' browser views are kept), `article` and `document` (the domain types),
//!   `compress` (content-codings, used by `http` only).
// No unsafe code, but for one module that reads SQLite's shared memory
// (`store::walindex`, which allows it for itself and says why).
#![deny(unsafe_code)]

pub mod admin;
pub mod article;
pub mod check;
pub mod cli;
pub mod compress;
pub mod config;
pub mod document;
pub mod error;
pub mod export;
pub mod http;
pub mod hub;
pub mod import;
pub mod input;
pub mod ondemand;
pub mod parallel;
pub mod publish;
pub mod render;
pub mod routes;
pub mod stats;
pub mod store;
pub mod text;
pub mod views;

pub use error::{Error, Result};

/// Libraries whose log lines speak of their own internals, not of anything a user can act on:
/// the HTML parser under the sanitizer warns "foster parenting not implemented" for every
/// article with text or a stray element inside a table. Off unless a filter names them.
const QUIET_TARGETS: &str = "html5ever=off,markup5ever=off,ammonia=off";

/// Sends log lines to stderr, filtered by `RUST_LOG` or else `default_filter`. The libraries
/// in [`QUIET_TARGETS`] stay silent unless the filter names them (`RUST_LOG=html5ever=warn`).
pub fn init_logging(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    // A later directive for the same target replaces an earlier one, so the user's win.
    let quiet = |filter: &str| EnvFilter::try_new(format!("{QUIET_TARGETS},{filter}"));
    let filter = std::env::var(EnvFilter::DEFAULT_ENV)
        .map_err(|_| ())
        .and_then(|user| quiet(&user).map_err(|_| ()))
        .or_else(|_| quiet(default_filter))
        .unwrap_or_else(|_| EnvFilter::new(format!("{QUIET_TARGETS},info")));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
