//! WordPress exports (WXR 1.0, 1.1, 1.2).

use std::io::BufRead;

use super::Sink;
use crate::Result;

/// Streams the items of a WordPress export at `name` to `sink`.
///
/// Errors: the file is not a WordPress export at all (not XML, no RSS channel).
pub fn read(input: impl BufRead, name: &str, sink: &mut Sink<'_>) -> Result<()> {
    let _ = (input, sink);
    Err(crate::Error::invalid(name, "file", "WordPress exports are not read yet"))
}
