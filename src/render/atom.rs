//! Atom 1.0 (RFC 4287) with RFC 6721 tombstones for deleted entries.

use atom_syndication::{
    Category, Content, Entry, Feed, FixedDateTime, Generator, Link, Person, Text, WriteConfig,
};

use super::{author_of, fit_feed, FeedSpec, GENERATOR, VERSION};
use crate::article::Timestamp;
use crate::Result;

/// Namespace of RFC 6721 deleted-entry elements.
const TOMBSTONES_NS: &str = "http://purl.org/atompub/tombstones/1.0";

/// Renders the Atom document of `spec`.
pub fn render_atom(spec: &FeedSpec<'_>) -> Result<Vec<u8>> {
    let mut failure = None;
    let bytes = fit_feed(spec.articles.len(), |keep| match write(spec, keep) {
        Ok(bytes) => bytes,
        Err(e) => {
            failure = Some(e);
            Vec::new()
        }
    });
    match failure {
        Some(reason) => Err(crate::Error::Render {
            what: spec.url("atom.xml"),
            reason,
        }),
        None => Ok(bytes),
    }
}

fn date(t: &Timestamp) -> FixedDateTime {
    t.at
}

fn link(href: String, rel: &str, mime: Option<&str>) -> Link {
    let mut link = Link::default();
    link.set_href(href);
    link.set_rel(rel);
    link.set_mime_type(mime.map(str::to_string));
    link
}

fn person(name: &str) -> Person {
    Person {
        name: name.to_string(),
        ..Default::default()
    }
}

fn write(spec: &FeedSpec<'_>, keep_content: usize) -> std::result::Result<Vec<u8>, String> {
    let cfg = spec.cfg;
    let mut feed = Feed::default();
    // Archive documents are parts of the same logical feed (RFC 5005): same id.
    feed.set_id(if spec.is_archive {
        cfg.site.base_url.clone()
    } else {
        spec.url("")
    });
    feed.set_title(Text::plain(spec.title.clone()));
    if !spec.description.is_empty() {
        feed.set_subtitle(Some(Text::plain(spec.description.clone())));
    }
    feed.set_updated(date(&spec.updated()));
    feed.set_authors(vec![person(&cfg.site.author)]);
    let mut links = vec![
        link(spec.url("atom.xml"), "self", Some("application/atom+xml")),
        link(spec.page_url.clone(), "alternate", Some("text/html")),
    ];
    if let Some(hub) = spec.hub_url() {
        links.push(link(hub, "hub", None));
    }
    for (rel, href) in &spec.links {
        links.push(link(
            format!("{href}atom.xml"),
            rel,
            Some("application/atom+xml"),
        ));
    }
    feed.set_links(links);
    feed.set_generator(Some(Generator {
        value: GENERATOR.to_string(),
        uri: None,
        version: Some(VERSION.to_string()),
    }));
    feed.set_lang(Some(cfg.site.language.clone()));

    let entries = spec
        .articles
        .iter()
        .enumerate()
        .map(|(index, article)| {
            let url = super::article_url(cfg, &article.slug);
            let mut entry = Entry::default();
            entry.set_id(atom_id(cfg, &article.entry_id).into_owned());
            entry.set_title(Text::plain(article.title.clone()));
            entry.set_published(Some(date(&article.published)));
            entry.set_updated(date(&article.updated));
            entry.set_authors(vec![person(author_of(cfg, article))]);
            entry.set_links(vec![link(url.clone(), "alternate", Some("text/html"))]);
            entry.set_summary(Some(Text::plain(article.description().to_string())));
            if index < keep_content {
                let mut content = Content::default();
                content.set_content_type(Some("html".to_string()));
                content.set_value(Some(article.body_html.clone()));
                entry.set_content(Some(content));
            }
            entry.set_categories(
                article
                    .tags
                    .iter()
                    .map(|tag| Category {
                        term: tag.slug.clone(),
                        scheme: Some(cfg.url("tags/")),
                        label: Some(tag.name.clone()),
                    })
                    .collect::<Vec<_>>(),
            );
            entry
        })
        .collect::<Vec<_>>();
    feed.set_entries(entries);

    // Feed-level extension elements must precede the entries (RFC 4287's schema), and the
    // crate writes its extensions after them: render them here and splice them in below.
    let mut extra = String::new();
    if spec.is_archive {
        feed.namespaces
            .insert("fh".to_string(), super::HISTORY_NS.to_string());
        extra.push_str("  <fh:archive/>\n");
    }
    if !spec.tombstones.is_empty() {
        feed.namespaces
            .insert("at".to_string(), TOMBSTONES_NS.to_string());
        for t in spec.tombstones {
            extra.push_str(&format!(
                "  <at:deleted-entry ref=\"{}\" when=\"{}\">\n    <at:comment>{}</at:comment>\n  </at:deleted-entry>\n",
                crate::text::escape_markup(&atom_id(cfg, &t.entry_id)),
                t.deleted.rfc3339(),
                crate::text::escape_markup(&format!("“{}” was removed.", t.title)),
            ));
        }
    }

    let mut out = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n".to_vec();
    feed.write_with_config(
        &mut out,
        WriteConfig {
            write_document_declaration: false,
            indent_size: Some(2),
        },
    )
    .map_err(|e| e.to_string())?;
    if !extra.is_empty() {
        let at = find(&out, b"  <entry>")
            .or_else(|| find(&out, b"</feed>"))
            .ok_or("the Atom writer produced no </feed>")?;
        out.splice(at..at, extra.into_bytes());
    }
    Ok(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The id an entry has in Atom, which wants an absolute IRI (RFC 4287 §4.2.6). An id kept
/// verbatim from elsewhere that is not one (an RSS `guid` or JSON Feed `id` such as `1024`;
/// those feeds allow any string, and carry it as it is) becomes a `tag:` URI of the site's
/// host that holds it: `tag:news.example.org,2000:id:1024`. Every other id is its own.
pub fn atom_id<'a>(cfg: &crate::config::Config, id: &'a str) -> std::borrow::Cow<'a, str> {
    let scheme_len = id.find(':').filter(|&n| n > 0).filter(|&n| {
        let scheme = &id[..n];
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let is_iri = scheme_len.is_some_and(|n| n + 1 < id.len())
        && !id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"{}|\\^`".contains(c));
    if is_iri {
        return std::borrow::Cow::Borrowed(id);
    }
    let mut escaped = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&byte) {
            escaped.push(byte as char);
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    std::borrow::Cow::Owned(format!("tag:{},2000:id:{escaped}", cfg.site.host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_are_not_absolute_iris_are_carried_in_a_tag_uri() {
        let cfg = crate::config::Config::parse(
            "[site]\nbase_url = \"https://news.example.org/\"\n",
            std::path::Path::new("config.toml"),
            std::path::Path::new("/"),
        )
        .expect("a configuration");
        for kept in [
            "tag:blogger.com,1999:blog-1.post-2",
            "https://example.com/?p=123",
            "urn:uuid:3e1f0a52-77c1-4b0a-9a55-1d2b6a0e8c11",
        ] {
            assert_eq!(atom_id(&cfg, kept), kept);
        }
        assert_eq!(atom_id(&cfg, "1024"), "tag:news.example.org,2000:id:1024");
        assert_eq!(
            atom_id(&cfg, "quay 17"),
            "tag:news.example.org,2000:id:quay%2017"
        );
        assert_eq!(atom_id(&cfg, ":x"), "tag:news.example.org,2000:id::x");
        assert_eq!(
            atom_id(&cfg, "http://a b"),
            "tag:news.example.org,2000:id:http://a%20b"
        );
    }
}
