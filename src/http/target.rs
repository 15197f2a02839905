//! The request target: its path normalized (percent-escapes decoded, dot segments resolved,
//! repeated slashes folded) and refused when malformed. What a normalized path names is for
//! [`crate::routes::Route::parse`]; the cache looks the path up as it is.

use hyper::Method;

/// What a request asks for, after normalization.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A published document (or asset) at this normalized path.
    Document(String),
    /// Liveness probe.
    Health,
}

/// Why a request target is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BadTarget {
    /// Longer than we accept.
    TooLong,
    /// Not decodable, or contains NUL or control characters.
    Malformed,
}

/// Longest request path accepted (before the query).
pub const MAX_PATH_BYTES: usize = 2048;

/// The methods every resource allows.
pub const ALLOW: &str = "GET, HEAD";

/// True for methods we answer; others get 405 with `Allow`.
pub fn is_allowed(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Maps a raw request path (query already removed) to a route.
///
/// Percent-escapes are decoded, `.` and `..` segments resolved the way a browser would (never
/// above the root) and repeated slashes folded. NUL, control characters and invalid UTF-8 are
/// refused. Nothing here touches the file system: documents come from the store.
pub fn route(raw_path: &str) -> Result<Target, BadTarget> {
    if raw_path.len() > MAX_PATH_BYTES {
        return Err(BadTarget::TooLong);
    }
    let decoded = percent_decode(raw_path).ok_or(BadTarget::Malformed)?;
    if decoded.chars().any(|c| c.is_control()) || decoded.contains('\\') {
        return Err(BadTarget::Malformed);
    }
    let trailing_slash =
        decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut path = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        path.push('/');
        path.push_str(s);
    }
    if path.is_empty() || trailing_slash {
        path.push('/');
    }
    if path == "/healthz" {
        return Ok(Target::Health);
    }
    Ok(Target::Document(path))
}

fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(p: &str) -> Result<Target, BadTarget> {
        Ok(Target::Document(p.to_string()))
    }

    #[test]
    fn normalization_table() {
        let cases: &[(&str, Result<Target, BadTarget>)] = &[
            ("/", doc("/")),
            ("", doc("/")),
            ("/atom.xml", doc("/atom.xml")),
            ("/tags/north-korea/", doc("/tags/north-korea/")),
            ("/tags/north-korea", doc("/tags/north-korea")),
            ("//articles///x", doc("/articles/x")),
            ("/articles/../config.toml", doc("/config.toml")),
            ("/articles/%2e%2e/%2e%2e/etc/passwd", doc("/etc/passwd")),
            ("/../../../etc/passwd", doc("/etc/passwd")),
            ("/articles/./x", doc("/articles/x")),
            ("/articles/x/..", doc("/articles/")),
            ("/a%20b", doc("/a b")),
            ("/healthz", Ok(Target::Health)),
            ("/articles/x%00", Err(BadTarget::Malformed)),
            ("/articles/%zz", Err(BadTarget::Malformed)),
            ("/articles/%ff", Err(BadTarget::Malformed)),
            ("/articles/%", Err(BadTarget::Malformed)),
            ("/a%5cb", Err(BadTarget::Malformed)),
            ("/a%0ab", Err(BadTarget::Malformed)),
        ];
        for (input, expected) in cases {
            assert_eq!(&route(input), expected, "{input}");
        }
        assert_eq!(
            route(&format!("/{}", "a".repeat(MAX_PATH_BYTES))),
            Err(BadTarget::TooLong)
        );
    }

    /// The browser views of feeds are stored under keys a request must never reach directly.
    #[test]
    fn no_request_path_is_a_view_key() {
        for raw in [
            "view:/",
            "/view:/",
            "/./view:/atom.xml",
            "//view:/",
            "/%76iew:/",
            "/../view:/",
        ] {
            let Ok(Target::Document(path)) = route(raw) else {
                panic!("{raw} is a document path");
            };
            assert!(path.starts_with('/'), "{raw} -> {path}");
            assert!(!crate::views::is_browser_view_key(&path), "{raw} -> {path}");
        }
    }

    #[test]
    fn methods() {
        assert!(is_allowed(&Method::GET) && is_allowed(&Method::HEAD));
        for m in [
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
        ] {
            assert!(!is_allowed(&m));
        }
    }
}
