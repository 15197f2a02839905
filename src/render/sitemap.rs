//! Sitemaps (<https://www.sitemaps.org/protocol.html>): a monthly `urlset` of article pages and
//! a sitemap index that lists the months, so a crawler re-reads only the months whose
//! `lastmod` moved. Both are rendered on request (see `publish::archives`).

/// One URL with its last modification (RFC 3339).
pub struct SitemapEntry {
    /// Absolute URL.
    pub url: String,
    /// `lastmod`, W3C datetime.
    pub lastmod: String,
}

fn render(root: &str, element: &str, entries: &[SitemapEntry]) -> Vec<u8> {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{root} xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n"
    );
    for entry in entries {
        out.push_str(&format!(
            "  <{element}>\n    <loc>{}</loc>\n    <lastmod>{}</lastmod>\n  </{element}>\n",
            crate::text::escape_markup(&entry.url),
            entry.lastmod
        ));
    }
    out.push_str(&format!("</{root}>\n"));
    out.into_bytes()
}

/// A `urlset` of pages.
pub fn render_urlset(entries: &[SitemapEntry]) -> Vec<u8> {
    render("urlset", "url", entries)
}

/// A sitemap index of sitemaps.
pub fn render_index(entries: &[SitemapEntry]) -> Vec<u8> {
    render("sitemapindex", "sitemap", entries)
}

/// `robots.txt` allowing everything and naming the sitemap.
pub fn render_robots(sitemap_url: &str) -> Vec<u8> {
    format!("User-agent: *\nAllow: /\n\nSitemap: {sitemap_url}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlset_escapes_and_lists() {
        let xml = String::from_utf8(render_urlset(&[SitemapEntry {
            url: "https://a.example/articles/x?a=1&b=2".to_string(),
            lastmod: "2026-09-14T08:30:00+02:00".to_string(),
        }]))
        .unwrap();
        assert!(
            xml.contains("<loc>https://a.example/articles/x?a=1&amp;b=2</loc>"),
            "{xml}"
        );
        assert!(xml.contains("<lastmod>2026-09-14T08:30:00+02:00</lastmod>"));
        assert!(xml.starts_with("<?xml") && xml.trim_end().ends_with("</urlset>"));
    }
}
