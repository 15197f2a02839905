//! A rendered document: what `render` produces, `store` keeps and `http` serves.

/// A document ready to store: identity bytes, headers and validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// URL path below the site root, starting with `/` (`/atom.xml`, `/articles/x`); or the
    /// key of a feed's browser view (`view:/tags/asia/`), which no request path can name.
    pub path: String,
    /// HTTP status to answer with: 200, 301 (with `location`) or 410.
    pub status: u16,
    /// `Content-Type` header value.
    pub content_type: String,
    /// Absolute URL for a 301.
    pub location: Option<String>,
    /// Identity bytes.
    pub body: Vec<u8>,
    /// Hash of the identity bytes; the ETag of each variant derives from it.
    pub etag: String,
    /// `Last-Modified`, seconds since the epoch.
    pub last_modified: i64,
}
