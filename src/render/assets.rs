//! Static assets compiled into the binary (the stylesheet), addressed by content fingerprint
//! so they can be cached for a year.

use std::sync::LazyLock;

use crate::document::Document;

/// The site's stylesheet.
const STYLE_CSS: &[u8] = include_bytes!("../../assets/style.css");

/// One asset: its fingerprinted file name and its content.
pub struct Asset {
    /// File name below `/assets/`, e.g. `style.3f9a1c2e.css`.
    pub name: String,
    /// Content-Type.
    pub content_type: &'static str,
    /// Bytes.
    pub bytes: &'static [u8],
}

fn fingerprinted(stem: &str, ext: &str, bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
    format!("{stem}.{hex}.{ext}")
}

static ASSETS: LazyLock<[Asset; 1]> = LazyLock::new(|| {
    [Asset {
        name: fingerprinted("style", "css", STYLE_CSS),
        content_type: crate::routes::CSS_TYPE,
        bytes: STYLE_CSS,
    }]
});

/// Every asset.
pub fn all() -> &'static [Asset] {
    &ASSETS[..]
}

/// File name of the stylesheet.
pub fn stylesheet_name() -> &'static str {
    &ASSETS[0].name
}

/// A string that changes whenever any asset changes (part of the site fingerprint).
pub fn fingerprint() -> String {
    ASSETS
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The assets as documents for the server, keyed by `/assets/<name>`.
pub fn documents() -> Vec<Document> {
    all()
        .iter()
        .map(|a| {
            super::encode(
                &format!("/assets/{}", a.name),
                a.content_type,
                a.bytes.to_vec(),
                0,
            )
        })
        .collect()
}
