//! Documents rendered when the server is first asked for them, not at publish time: list
//! pages past the first, monthly archives with their browser views, and sitemaps. Any publish
//! may change them all, so storing them would make each publish cost in proportion to the
//! archive; the server renders them from the store (one indexed query and a template) and keeps
//! them until the next publish. Reads only: `publish` writes, this module never does.

mod archives;
mod lists;

pub use archives::{archive_document, archive_paths};
pub use lists::list_page;
