//! Blogger exports ("Back up content"): the Atom file with Blogger's kinds, and the 2018 format.

use std::io::BufRead;

use super::Sink;
use crate::Result;

/// Streams the items of a Blogger export at `name` to `sink`.
///
/// Errors: the file is not a Blogger export at all (not XML, no Atom feed element).
pub fn read(input: impl BufRead, name: &str, sink: &mut Sink<'_>) -> Result<()> {
    let _ = (input, sink);
    Err(crate::Error::invalid(name, "file", "Blogger exports are not read yet"))
}
