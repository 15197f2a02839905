//! Fetching a feed's whole history by URL: timeouts, a size cap, redirects, and RFC 5005 links.
// Placeholder until the fetcher lands.
use std::io::BufRead;
use std::time::Duration;

use super::HistoryLinks;
use crate::Result;

pub struct FetchLimits { pub timeout: Duration, pub max_bytes: u64, pub max_redirects: u32, pub max_documents: usize }
pub struct Document<'a> { pub url: &'a str, pub content_type: Option<&'a str>, pub body: &'a mut dyn BufRead }
pub fn is_url(source: &str) -> bool { let s = source.to_ascii_lowercase(); s.starts_with("http://") || s.starts_with("https://") }
pub fn fetch_history(url: &str, _limits: &FetchLimits, _read: &mut dyn FnMut(Document<'_>) -> Result<HistoryLinks>) -> Result<Vec<String>> {
    Err(crate::Error::invalid(url, "url", "fetching is not built yet"))
}
