//! Atom 1.0 (RFC 4287) with RFC 6721 tombstones for deleted entries.

use std::collections::BTreeMap;

use atom_syndication::extension::{Extension, ExtensionMap};
use atom_syndication::{
    Category, Content, Entry, Feed, FixedDateTime, Generator, Link, Person, Text, WriteConfig,
};

use super::{author_of, fit_feed, FeedSpec, GENERATOR, VERSION};
use crate::article::Timestamp;
use crate::Result;

/// Namespace of RFC 6721 deleted-entry elements.
const TOMBSTONES_NS: &str = "http://purl.org/atompub/tombstones/1.0";

/// Renders the Atom document of `spec`, with the browser stylesheet at `stylesheet`.
pub fn render_atom(spec: &FeedSpec<'_>, stylesheet: &str) -> Result<Vec<u8>> {
    let mut failure = None;
    let bytes = fit_feed(spec.articles.len(), |keep| {
        match write(spec, keep, stylesheet) {
            Ok(bytes) => bytes,
            Err(e) => {
                failure = Some(e);
                Vec::new()
            }
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

fn write(
    spec: &FeedSpec<'_>,
    keep_content: usize,
    stylesheet: &str,
) -> std::result::Result<Vec<u8>, String> {
    let cfg = spec.cfg;
    let mut feed = Feed::default();
    feed.set_id(spec.url(""));
    feed.set_title(Text::plain(spec.title.clone()));
    if !spec.description.is_empty() {
        feed.set_subtitle(Some(Text::plain(spec.description.clone())));
    }
    feed.set_updated(date(&spec.updated()));
    feed.set_authors(vec![person(&cfg.site.author)]);
    feed.set_links(vec![
        link(spec.url("atom.xml"), "self", Some("application/atom+xml")),
        link(spec.page_url.clone(), "alternate", Some("text/html")),
    ]);
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
            entry.set_id(article.entry_id.clone());
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

    if !spec.tombstones.is_empty() {
        feed.namespaces
            .insert("at".to_string(), TOMBSTONES_NS.to_string());
        let deleted = spec
            .tombstones
            .iter()
            .map(|t| {
                let mut comment = Extension::default();
                comment.set_name("at:comment");
                comment.set_value(Some(format!("“{}” was removed.", t.title)));
                let mut children = BTreeMap::new();
                children.insert("at:comment".to_string(), vec![comment]);
                let mut attrs = BTreeMap::new();
                attrs.insert("ref".to_string(), t.entry_id.clone());
                attrs.insert("when".to_string(), t.deleted.rfc3339());
                let mut ext = Extension::default();
                ext.set_name("at:deleted-entry");
                ext.set_attrs(attrs);
                ext.set_children(children);
                ext
            })
            .collect::<Vec<_>>();
        let mut by_name = BTreeMap::new();
        by_name.insert("deleted-entry".to_string(), deleted);
        let mut extensions = ExtensionMap::new();
        extensions.insert("at".to_string(), by_name);
        feed.set_extensions(extensions);
    }

    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<?xml-stylesheet type=\"text/xsl\" href=\"{stylesheet}\"?>\n"
    )
    .into_bytes();
    feed.write_with_config(
        &mut out,
        WriteConfig {
            write_document_declaration: false,
            indent_size: Some(2),
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(out)
}
