//! Blogger exports ("Back up content"): the Atom file with Blogger's kinds, and the 2018 format.
//!
//! The classic export is an Atom feed whose entries say what they are with a category in the
//! `http://schemas.google.com/g/2005#kind` scheme (post, page, comment, settings, template);
//! labels are categories in the `http://www.blogger.com/atom/ns#` scheme, drafts carry
//! `app:control/app:draft`. The 2018 export uses elements in Blogger's own namespace instead
//! (`blogger:type`, `blogger:status`, `blogger:filename`, `blogger:created`) and labels are
//! categories without a scheme. A blog's public Atom feed reads as a classic export of posts.

use std::io::BufRead;

use url::Url;

use super::feed::{alternate_link, atom_body, atom_text};
use super::xml::{
    open_root, parse_rfc3339, resolve_url, unreadable_partial, unreadable_rest, with_xml_base,
    Node, Ns, XmlEvent, XmlReader,
};
use super::{Entry, ImportTag, Item, Position, Sink, SkipReason, Skipped, TagOrigin, Unreadable};
use crate::article::Timestamp;
use crate::Result;

/// The category scheme of the classic export's entry kinds.
const KIND_SCHEME: &str = "http://schemas.google.com/g/2005#kind";
/// The category scheme of Blogger labels.
const LABEL_SCHEME: &str = "http://www.blogger.com/atom/ns#";
/// What Blogger writes as the author's name when the profile has none.
const UNKNOWN_AUTHOR: &str = "Unknown";

/// Streams the items of a Blogger export at `name` to `sink`.
///
/// Errors: the file is not a Blogger export at all (not XML, no Atom feed element).
pub fn read(input: impl BufRead, name: &str, sink: &mut Sink<'_>) -> Result<()> {
    let mut xml = XmlReader::new(input);
    let root = open_root(&mut xml, name)?;
    if !root.name.is_atom("feed") {
        return Err(crate::Error::invalid(
            name,
            "file",
            format!(
                "not a Blogger export (the root element is <{}>, not an Atom <feed>)",
                root.qname
            ),
        ));
    }
    let root_base = root
        .attrs
        .iter()
        .find(|(key, _)| key == "xml:base")
        .map(|(_, value)| value.as_str());
    let mut blog = Blog {
        base: with_xml_base(None, root_base),
        home: None,
    };
    let mut count = 0;
    loop {
        let element = match xml.next_event() {
            Ok(XmlEvent::Start(element)) => element,
            Ok(XmlEvent::Eof) => return Ok(()),
            Ok(_) => continue,
            Err(error) => {
                let _ = sink(unreadable_rest(&error, count + 1));
                return Ok(());
            }
        };
        if element.name.is_atom("link") {
            // The feed's own alternate link is the blog's home: 2018 filenames hang off it.
            if let Ok(link) = xml.read_tree(element) {
                if link.attr("rel") == Some("alternate") && blog.home.is_none() {
                    let href = link.attr("href").unwrap_or_default();
                    blog.home = Url::parse(&resolve_url(blog.base.as_ref(), href)).ok();
                }
            }
            continue;
        }
        if !element.name.is_atom("entry") {
            continue;
        }
        count += 1;
        let item = match xml.read_tree(element) {
            Ok(node) => entry_item(&node, count, &blog),
            Err(partial) => {
                let id = partial.node.child_atom("id").and_then(Node::trimmed_text);
                let _ = sink(unreadable_partial(&partial, count, id));
                return Ok(());
            }
        };
        if sink(item).is_break() {
            return Ok(());
        }
    }
}

/// What the feed level says about the blog.
struct Blog {
    /// The feed's `xml:base`, if any.
    base: Option<Url>,
    /// The feed's alternate link (`https://x.blogspot.com/`).
    home: Option<Url>,
}

/// What an entry is, from either format.
#[derive(Debug, PartialEq)]
enum Kind {
    Post,
    Skip(SkipReason, Option<String>),
}

fn kind(node: &Node) -> Kind {
    let classic = node
        .elements()
        .filter(|child| child.is_atom("category"))
        .find(|category| category.attr("scheme") == Some(KIND_SCHEME))
        .and_then(|category| category.attr("term"))
        .and_then(|term| term.rsplit_once('#'))
        .map(|(_, kind)| kind.trim().to_ascii_lowercase());
    let modern = node
        .child_text(Ns::Blogger, "type")
        .map(|kind| kind.to_ascii_lowercase());
    let is_reply = node.child(Ns::Thr, "in-reply-to").is_some();
    let kind = classic.or(modern).unwrap_or_else(|| {
        if is_reply {
            "comment".to_string()
        } else {
            "post".to_string()
        }
    });
    match kind.as_str() {
        "post" if is_reply => Kind::Skip(SkipReason::Comment, None),
        "post" => {
            let status = node
                .child_text(Ns::Blogger, "status")
                .map(|status| status.to_ascii_uppercase());
            let is_draft = node
                .child(Ns::App, "control")
                .and_then(|control| control.child_text(Ns::App, "draft"))
                .is_some_and(|draft| draft.eq_ignore_ascii_case("yes"));
            match status.as_deref() {
                _ if is_draft => Kind::Skip(SkipReason::Draft, None),
                Some("DRAFT") => Kind::Skip(SkipReason::Draft, None),
                Some("DELETED") | Some("SOFT_TRASHED") => {
                    Kind::Skip(SkipReason::Private, status.clone())
                }
                _ => Kind::Post,
            }
        }
        "comment" => Kind::Skip(SkipReason::Comment, None),
        "page" => Kind::Skip(SkipReason::Page, None),
        "settings" => Kind::Skip(SkipReason::Settings, None),
        "template" => Kind::Skip(SkipReason::Template, None),
        _ => Kind::Skip(SkipReason::Other, Some(kind)),
    }
}

/// A Blogger entry as an [`Item`].
fn entry_item(node: &Node, item: usize, blog: &Blog) -> Item {
    let position = Position {
        item,
        line: Some(node.line),
    };
    let id = node.child_atom("id").and_then(Node::trimmed_text);
    let title = node.child_atom("title").and_then(atom_text);
    if let Kind::Skip(reason, detail) = kind(node) {
        return Item::Skipped(Skipped {
            position,
            id,
            title,
            reason,
            detail,
        });
    }
    let Some(id) = id else {
        return unreadable(position, None, title, "no <id>".to_string());
    };
    let base = with_xml_base(blog.base.as_ref(), node.attr("xml:base"));
    let filename = node.child_text(Ns::Blogger, "filename");
    let link = alternate_link(node, base.as_ref()).or_else(|| {
        let home = blog.home.as_ref().or(base.as_ref());
        filename.as_deref().map(|path| resolve_url(home, path))
    });
    let slug = filename.as_deref().or(link.as_deref()).and_then(slug_of);
    let published = match date(node, "published") {
        Ok(Some(at)) => Some(at),
        Ok(None) => match node.child_text(Ns::Blogger, "created") {
            Some(text) => match parse_rfc3339("blogger:created", &text) {
                Ok(at) => Some(at),
                Err(reason) => return unreadable(position, Some(id), title, reason),
            },
            None => None,
        },
        Err(reason) => return unreadable(position, Some(id), title, reason),
    };
    let updated = match date(node, "updated") {
        Ok(at) => at,
        Err(reason) => return unreadable(position, Some(id), title, reason),
    };
    let author = node
        .child_atom("author")
        .and_then(|author| author.child_atom("name"))
        .and_then(Node::trimmed_text)
        .filter(|name| name != UNKNOWN_AUTHOR);
    let tags = node
        .elements()
        .filter(|child| child.is_atom("category"))
        .filter(|category| {
            matches!(
                category.attr("scheme").map(str::trim),
                None | Some("") | Some(LABEL_SCHEME)
            )
        })
        .filter_map(|category| category.attr("term"))
        .map(str::trim)
        .filter(|term| !term.is_empty())
        .map(|term| ImportTag {
            name: term.to_string(),
            origin: TagOrigin::BloggerLabel,
        })
        .collect();
    let (body, summary) = atom_body(node.child_atom("content"), node.child_atom("summary"));
    Item::Entry(Box::new(Entry {
        position,
        id,
        title,
        link,
        slug,
        published,
        updated,
        author,
        summary,
        tags,
        body,
        old_paths: Vec::new(),
        scheduled: false,
    }))
}

fn date(node: &Node, field: &str) -> std::result::Result<Option<Timestamp>, String> {
    match node.child_atom(field).and_then(Node::trimmed_text) {
        Some(text) => parse_rfc3339(field, &text).map(Some),
        None => Ok(None),
    }
}

/// The last path segment of a URL or path, without `.html`: `story` of
/// `https://x.blogspot.com/2025/09/story.html`.
fn slug_of(url_or_path: &str) -> Option<String> {
    let parsed = Url::parse(url_or_path).ok();
    let path = match &parsed {
        Some(url) => url.path(),
        None => url_or_path.split(['?', '#']).next().unwrap_or_default(),
    };
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    let slug = last.strip_suffix(".html").unwrap_or(last);
    (!slug.is_empty()).then(|| slug.to_string())
}

fn unreadable(
    position: Position,
    id: Option<String>,
    title: Option<String>,
    reason: String,
) -> Item {
    Item::Unreadable(Unreadable {
        position,
        id,
        title,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Body;
    use super::*;

    fn read_all(xml: &str) -> Vec<Item> {
        let mut items = Vec::new();
        read(xml.as_bytes(), "blog.xml", &mut |item| {
            items.push(item);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        items
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/import/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    fn entry(item: &Item) -> &Entry {
        match item {
            Item::Entry(entry) => entry,
            other => panic!("not an entry: {other:?}"),
        }
    }

    fn skipped(item: &Item) -> SkipReason {
        match item {
            Item::Skipped(skipped) => skipped.reason,
            other => panic!("not skipped: {other:?}"),
        }
    }

    #[test]
    fn classic_export_reads_posts_and_skips_the_rest_with_reasons() {
        let items = read_all(&fixture("blogger-classic.xml"));
        assert_eq!(skipped(&items[0]), SkipReason::Template);
        assert_eq!(skipped(&items[1]), SkipReason::Settings);
        let post = entry(&items[2]);
        assert_eq!(post.id, "tag:blogger.com,1999:blog-1234567890.post-1111");
        assert_eq!(
            post.title.as_deref(),
            Some("Council votes to reopen the old bridge")
        );
        assert_eq!(
            post.link.as_deref(),
            Some("https://harbourdaily.blogspot.com/2025/09/council-votes-bridge.html")
        );
        assert_eq!(post.slug.as_deref(), Some("council-votes-bridge"));
        assert_eq!(
            post.published.as_ref().unwrap().rfc3339(),
            "2025-09-14T08:30:00+02:00"
        );
        assert_eq!(
            post.updated.as_ref().unwrap().rfc3339(),
            "2025-09-14T09:12:45+02:00"
        );
        assert_eq!(post.author.as_deref(), Some("Anna Svensson"));
        assert_eq!(
            post.tags,
            vec![
                ImportTag {
                    name: "Local politics".into(),
                    origin: TagOrigin::BloggerLabel
                },
                ImportTag {
                    name: "Transport".into(),
                    origin: TagOrigin::BloggerLabel
                },
            ]
        );
        assert!(matches!(&post.body, Body::Html(html) if html.starts_with("<p>SKÄRHAMN —")));
        // "Unknown" is Blogger's placeholder, not a name.
        let second = entry(&items[3]);
        assert_eq!(second.author, None);
        assert!(
            matches!(&second.body, Body::Html(html) if html.contains("src=\"/images/ferry.jpg\"")),
            "relative image links are left for the importer to rewrite"
        );
        assert_eq!(
            second.title.as_deref(),
            Some("Ферри вернулся — the ferry is back")
        );
        assert_eq!(skipped(&items[4]), SkipReason::Draft);
        assert_eq!(skipped(&items[5]), SkipReason::Page);
        assert_eq!(skipped(&items[6]), SkipReason::Comment);
        assert_eq!(items.len(), 7);
        assert_eq!(post.position.item, 3);
        assert!(post.position.line.is_some_and(|line| line > 10));
    }

    #[test]
    fn export_2018_reads_types_statuses_and_filenames() {
        let items = read_all(&fixture("blogger-2018.xml"));
        let post = entry(&items[0]);
        assert_eq!(post.id, "tag:blogger.com,1999:blog-555.post-901");
        assert_eq!(post.slug.as_deref(), Some("night-market-returns"));
        assert_eq!(
            post.link.as_deref(),
            Some("https://nightdesk.blogspot.com/2025/09/night-market-returns.html")
        );
        assert_eq!(
            post.published.as_ref().unwrap().rfc3339(),
            "2025-09-10T21:00:00+08:00"
        );
        assert_eq!(post.tags[0].name, "台北");
        assert_eq!(post.tags[0].origin, TagOrigin::BloggerLabel);
        assert_eq!(skipped(&items[1]), SkipReason::Draft);
        assert_eq!(skipped(&items[2]), SkipReason::Private);
        assert_eq!(skipped(&items[3]), SkipReason::Private);
        assert_eq!(skipped(&items[4]), SkipReason::Page);
        assert_eq!(skipped(&items[5]), SkipReason::Comment);
        assert_eq!(items.len(), 6);
    }

    #[test]
    fn undeclared_app_prefix_still_marks_a_draft() {
        let xml = "<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>tag:blogger.com,1999:blog-1.post-2</id>\
                   <app:control><app:draft>yes</app:draft></app:control></entry></feed>";
        assert_eq!(skipped(&read_all(xml)[0]), SkipReason::Draft);
    }

    #[test]
    fn an_entry_without_id_is_unreadable() {
        let xml =
            "<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>x</title></entry></feed>";
        assert!(matches!(&read_all(xml)[0], Item::Unreadable(u) if u.reason == "no <id>"));
    }

    #[test]
    fn a_file_that_is_not_an_atom_feed_is_an_error() {
        let mut sink = |_| std::ops::ControlFlow::Continue(());
        let error = read("<rss/>".as_bytes(), "export.xml", &mut sink).unwrap_err();
        assert!(error.to_string().contains("export.xml"), "{error}");
    }

    #[test]
    fn the_fixtures_are_detected_as_blogger() {
        for name in ["blogger-classic.xml", "blogger-2018.xml"] {
            assert_eq!(
                super::super::detect(fixture(name).as_bytes()),
                Some(super::super::SourceFormat::Blogger),
                "{name}"
            );
        }
    }

    #[test]
    fn slugs_come_from_the_last_segment() {
        assert_eq!(slug_of("/2025/09/story.html").as_deref(), Some("story"));
        assert_eq!(
            slug_of("https://x.blogspot.com/p/about.html?m=1").as_deref(),
            Some("about")
        );
        assert_eq!(slug_of("https://x.blogspot.com/"), None);
    }
}
