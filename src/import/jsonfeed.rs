//! JSON Feed 1.0 and 1.1 documents.

use std::io::BufRead;

use super::{HistoryLinks, Sink};
use crate::Result;

/// Streams the items of a JSON Feed document at `name` to `sink`, resolving relative links
/// against `base`. Returns its history links (`next_url` as `next`).
///
/// Errors: the document is not a JSON Feed at all.
pub fn read(
    input: impl BufRead,
    name: &str,
    base: Option<&str>,
    sink: &mut Sink<'_>,
) -> Result<HistoryLinks> {
    let _ = (input, base, sink);
    Err(crate::Error::invalid(name, "file", "JSON feeds are not read yet"))
}
