//! WordPress exports (WXR 1.0, 1.1, 1.2).
//!
//! A WXR file is RSS 2.0 with WordPress's namespace: the channel lists the authors, categories
//! and tags, then one `item` per post, page, attachment, menu item, revision… with the post's
//! fields in `wp:` elements and its comments as `wp:comment` children. Only published (and
//! scheduled) posts become entries; everything else is skipped with its reason, and each
//! comment is skipped after its post.

use std::collections::HashMap;
use std::io::BufRead;

use chrono::{FixedOffset, NaiveDateTime};

use super::feed::parse_rfc2822;
use super::xml::{
    html_to_text, open_root, unreadable_partial, unreadable_rest, Node, Ns, XmlEvent, XmlReader,
};
use super::{
    Body, Entry, ImportTag, Item, Position, Sink, SkipReason, Skipped, TagOrigin, Unreadable,
};
use crate::article::Timestamp;
use crate::Result;

/// How WordPress writes its dates (`wp:post_date`, `wp:post_date_gmt`).
const WP_DATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Streams the items of a WordPress export at `name` to `sink`.
///
/// Errors: the file is not a WordPress export at all (not XML, no RSS channel).
pub fn read(input: impl BufRead, name: &str, sink: &mut Sink<'_>) -> Result<()> {
    let mut xml = XmlReader::new(input);
    let root = open_root(&mut xml, name)?;
    if !root.name.is(Ns::None, "rss") {
        return Err(crate::Error::invalid(
            name,
            "file",
            format!(
                "not a WordPress export (the root element is <{}>, not <rss>)",
                root.qname
            ),
        ));
    }
    let mut site = Site::default();
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
        let is_item = element.name.is(Ns::None, "item");
        let is_site = element.name.is(Ns::Wp, "author")
            || element.name.is(Ns::Wp, "category")
            || element.name.is(Ns::Wp, "tag");
        if !is_item && !is_site {
            continue;
        }
        if is_item {
            count += 1;
        }
        let node = match xml.read_tree(element) {
            Ok(node) => node,
            Err(partial) if is_item => {
                let id = partial.node.child_text(Ns::None, "guid");
                let _ = sink(unreadable_partial(&partial, count, id));
                return Ok(());
            }
            Err(_) => return Ok(()),
        };
        if !is_item {
            site.note(&node);
            continue;
        }
        let position = Position {
            item: count,
            line: Some(node.line),
        };
        if sink(post_item(&node, position, &site)).is_break() {
            return Ok(());
        }
        for comment in node.elements().filter(|child| child.is(Ns::Wp, "comment")) {
            count += 1;
            let skipped = Item::Skipped(Skipped {
                position: Position {
                    item: count,
                    line: Some(comment.line),
                },
                id: comment.child_text(Ns::Wp, "comment_id"),
                title: None,
                reason: SkipReason::Comment,
                detail: comment.child_text(Ns::Wp, "comment_author"),
            });
            if sink(skipped).is_break() {
                return Ok(());
            }
        }
    }
}

/// What the channel says before the items.
#[derive(Default)]
struct Site {
    /// `wp:author_login` → `wp:author_display_name`.
    authors: HashMap<String, String>,
    /// `wp:cat_name` → `wp:category_nicename`, for items whose categories lack `nicename`.
    categories: HashMap<String, String>,
    /// `wp:tag_name` → `wp:tag_slug`, likewise for tags.
    tags: HashMap<String, String>,
}

impl Site {
    fn note(&mut self, node: &Node) {
        if node.is(Ns::Wp, "author") {
            let login = node.child_text(Ns::Wp, "author_login");
            let display = node.child_text(Ns::Wp, "author_display_name");
            if let (Some(login), Some(display)) = (login, display) {
                self.authors.insert(login, display);
            }
        } else if node.is(Ns::Wp, "category") {
            let name = node.child_text(Ns::Wp, "cat_name");
            let nicename = node.child_text(Ns::Wp, "category_nicename");
            if let (Some(name), Some(nicename)) = (name, nicename) {
                self.categories.insert(name, nicename);
            }
        } else if node.is(Ns::Wp, "tag") {
            let name = node.child_text(Ns::Wp, "tag_name");
            let slug = node.child_text(Ns::Wp, "tag_slug");
            if let (Some(name), Some(slug)) = (name, slug) {
                self.tags.insert(name, slug);
            }
        }
    }
}

/// A WordPress item as an [`Item`] (its comments are given by the caller).
fn post_item(node: &Node, position: Position, site: &Site) -> Item {
    let title = node
        .child(Ns::None, "title")
        .map(|title| html_to_text(&title.html()))
        .filter(|title| !title.is_empty());
    let guid = node.child_text(Ns::None, "guid");
    let post_type = node
        .child_text(Ns::Wp, "post_type")
        .unwrap_or_else(|| "post".to_string());
    let status = node
        .child_text(Ns::Wp, "status")
        .unwrap_or_else(|| "publish".to_string());
    let skip = |reason: SkipReason, detail: Option<String>| {
        Item::Skipped(Skipped {
            position: position.clone(),
            id: guid.clone(),
            title: title.clone(),
            reason,
            detail,
        })
    };
    match post_type.as_str() {
        "post" => {}
        "page" => return skip(SkipReason::Page, None),
        "attachment" => return skip(SkipReason::Attachment, None),
        "nav_menu_item" => return skip(SkipReason::MenuItem, None),
        other => return skip(SkipReason::Other, Some(other.to_string())),
    }
    // `inherit` belongs to revisions and attachments; on a post it defers to the type.
    let scheduled = match status.as_str() {
        "publish" | "inherit" => false,
        "future" => true,
        "draft" | "pending" | "auto-draft" => return skip(SkipReason::Draft, None),
        "private" | "trash" => return skip(SkipReason::Private, Some(status)),
        other => return skip(SkipReason::Other, Some(format!("status {other}"))),
    };
    let unreadable = |id: Option<String>, reason: String| {
        Item::Unreadable(Unreadable {
            position: position.clone(),
            id,
            title: title.clone(),
            reason,
        })
    };
    let Some(id) = guid.clone() else {
        return unreadable(None, "no <guid>".to_string());
    };
    let published = match wp_date(node, "post_date") {
        Ok(Some(at)) => Some(at),
        Ok(None) => node
            .child_text(Ns::None, "pubDate")
            .and_then(|text| parse_rfc2822("pubDate", &text).ok())
            // WordPress writes a date before 1970 (`-0001`) for posts never published.
            .filter(|at| at.epoch() > 0),
        Err(reason) => return unreadable(Some(id), reason),
    };
    let updated = match wp_date(node, "post_modified") {
        Ok(at) => at,
        Err(reason) => return unreadable(Some(id), reason),
    };
    let author = node
        .child_text(Ns::Dc, "creator")
        .map(|login| site.authors.get(&login).cloned().unwrap_or(login));
    let summary = node
        .child(Ns::Excerpt, "encoded")
        .map(|excerpt| html_to_text(&excerpt.html()))
        .filter(|text| !text.is_empty());
    let body = node
        .child(Ns::Content, "encoded")
        .map(|content| autop(&content.html()))
        .unwrap_or_default();
    let old_paths = node
        .child_text(Ns::Wp, "post_id")
        .map(|post_id| vec![format!("/?p={post_id}")])
        .unwrap_or_default();
    Item::Entry(Box::new(Entry {
        position,
        id,
        title,
        link: node.child_text(Ns::None, "link"),
        slug: node
            .child_text(Ns::Wp, "post_name")
            .map(|name| percent_decode(&name)),
        published,
        updated,
        author,
        summary,
        tags: tags(node, site),
        body: Body::Html(body),
        old_paths,
        scheduled,
    }))
}

/// The item's categories and tags, in order. Old exports repeat each category without a
/// `domain`: those count only when the item has no `domain="category"` ones. A missing
/// `nicename` is looked up among the channel's categories and tags by name.
fn tags(node: &Node, site: &Site) -> Vec<ImportTag> {
    let categories: Vec<&Node> = node
        .elements()
        .filter(|child| child.is(Ns::None, "category"))
        .collect();
    let has_domain_categories = categories
        .iter()
        .any(|category| category.attr("domain") == Some("category"));
    categories
        .into_iter()
        .filter_map(|category| {
            let name = category.trimmed_text()?;
            let nicename = |known: &HashMap<String, String>| {
                category
                    .attr("nicename")
                    .map(str::to_string)
                    .or_else(|| known.get(&name).cloned())
            };
            let origin = match category.attr("domain") {
                Some("category") => TagOrigin::WordPressCategory {
                    nicename: nicename(&site.categories),
                },
                Some("post_tag") | Some("tag") => TagOrigin::WordPressTag {
                    nicename: nicename(&site.tags),
                },
                Some(_) => return None,
                None if has_domain_categories => return None,
                None => TagOrigin::WordPressCategory {
                    nicename: nicename(&site.categories),
                },
            };
            Some(ImportTag { name, origin })
        })
        .collect()
}

/// A date from `wp:FIELD` (site-local) and `wp:FIELD_gmt` (UTC): the instant of the UTC one
/// with the site's offset (local − UTC). With only one of them (WordPress writes
/// `0000-00-00 00:00:00` for the UTC date of drafts and some scheduled posts), that one is
/// taken as UTC, the offset being unknown. `Ok(None)` when neither is there.
fn wp_date(node: &Node, field: &str) -> std::result::Result<Option<Timestamp>, String> {
    let parse = |name: String| -> std::result::Result<Option<NaiveDateTime>, String> {
        match node.child_text(Ns::Wp, &name) {
            Some(text) if !text.starts_with("0000-00-00") => {
                NaiveDateTime::parse_from_str(&text, WP_DATE_FORMAT)
                    .map(Some)
                    .map_err(|_| format!("wp:{name}: \"{text}\" is not a date"))
            }
            _ => Ok(None),
        }
    };
    let local = parse(field.to_string())?;
    let gmt = parse(format!("{field}_gmt"))?;
    let utc = FixedOffset::east_opt(0).expect("zero is a valid offset");
    let at = match (local, gmt) {
        (Some(local), Some(gmt)) => {
            let seconds = (local - gmt).num_seconds();
            let offset = i32::try_from(seconds)
                .ok()
                .and_then(FixedOffset::east_opt)
                .unwrap_or(utc);
            gmt.and_utc().with_timezone(&offset)
        }
        (Some(only), None) | (None, Some(only)) => only.and_utc().with_timezone(&utc),
        (None, None) => return Ok(None),
    };
    Ok(Some(Timestamp::new(at)))
}

/// Decodes `%XX` escapes (WordPress stores non-ASCII slugs percent-encoded); invalid UTF-8
/// after decoding is replaced.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                at += 3;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Block-level tags whose presence means the content already has its paragraph markup.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "div",
    "dl",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
];

/// Paragraph markup for classic-editor content, as WordPress's `wpautop` adds when showing it
/// (the export holds the text as typed): blocks separated by a blank line become `<p>`
/// paragraphs, single newlines inside them `<br />`. Content that has any block-level tag
/// (`<p>`, `<div>`, `<h2>`…, which includes all block-editor content) is left as it is; this
/// is the simple part of `wpautop`, not its handling of mixed inline and block markup.
fn autop(content: &str) -> String {
    if content.trim().is_empty() || has_block_tag(content) {
        return content.to_string();
    }
    let text = content.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len() + 64);
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, out: &mut String| {
        if paragraph.is_empty() {
            return;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("<p>");
        out.push_str(&paragraph.join("<br />\n"));
        out.push_str("</p>");
        paragraph.clear();
    };
    for line in text.split('\n') {
        if line.trim().is_empty() {
            flush(&mut paragraph, &mut out);
        } else {
            paragraph.push(line.trim_end());
        }
    }
    flush(&mut paragraph, &mut out);
    out
}

fn has_block_tag(html: &str) -> bool {
    html.match_indices('<').any(|(at, _)| {
        let rest = html[at + 1..].strip_prefix('/').unwrap_or(&html[at + 1..]);
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let name = rest[..end].to_ascii_lowercase();
        BLOCK_TAGS.contains(&name.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(xml: &str) -> Vec<Item> {
        let mut items = Vec::new();
        read(xml.as_bytes(), "export.xml", &mut |item| {
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

    fn skipped(item: &Item) -> (SkipReason, Option<&str>) {
        match item {
            Item::Skipped(skipped) => (skipped.reason, skipped.detail.as_deref()),
            other => panic!("not skipped: {other:?}"),
        }
    }

    #[test]
    fn wxr_1_2_published_post_keeps_site_offset_tags_and_old_paths() {
        let items = read_all(&fixture("wordpress-1.2.xml"));
        let post = entry(&items[0]);
        assert_eq!(post.id, "https://harbournews.example.com/?p=101");
        assert_eq!(
            post.title.as_deref(),
            Some("Storm closes the coast road — again")
        );
        assert_eq!(
            post.link.as_deref(),
            Some("https://harbournews.example.com/2025/09/14/storm-closes-coast-road/")
        );
        assert_eq!(post.slug.as_deref(), Some("storm-closes-coast-road"));
        assert_eq!(
            post.published.as_ref().unwrap().rfc3339(),
            "2025-09-14T08:30:00+02:00"
        );
        assert_eq!(
            post.updated.as_ref().unwrap().rfc3339(),
            "2025-09-14T11:02:10+02:00"
        );
        assert_eq!(post.author.as_deref(), Some("Marta Nowak"));
        assert_eq!(
            post.summary.as_deref(),
            Some("Police closed the road at dawn.")
        );
        assert_eq!(post.old_paths, vec!["/?p=101".to_string()]);
        assert!(!post.scheduled);
        assert_eq!(
            post.tags,
            vec![
                ImportTag {
                    name: "Weather".into(),
                    origin: TagOrigin::WordPressCategory {
                        nicename: Some("weather".into())
                    }
                },
                ImportTag {
                    name: "Coast Road".into(),
                    origin: TagOrigin::WordPressTag {
                        nicename: Some("coast-road".into())
                    }
                },
            ]
        );
        let Body::Html(html) = &post.body else {
            panic!()
        };
        assert_eq!(
            html,
            "<p>GDAŃSK — The coast road closed at 6 a.m. on Sunday.</p>\n\
             <p>“We will reopen when it is safe,” a spokesman said.<br />\n\
             Updates follow.</p>"
        );
        // The two comments follow their post.
        assert_eq!(skipped(&items[1]).0, SkipReason::Comment);
        assert_eq!(skipped(&items[2]).0, SkipReason::Comment);
    }

    #[test]
    fn wxr_1_2_non_ascii_slug_and_block_content_are_kept() {
        let items = read_all(&fixture("wordpress-1.2.xml"));
        let post = entry(&items[3]);
        assert_eq!(post.slug.as_deref(), Some("αθήνα-καύσωνας"));
        let Body::Html(html) = &post.body else {
            panic!()
        };
        assert!(
            html.starts_with("<!-- wp:paragraph -->\n<p>ΑΘΗΝΑ"),
            "{html}"
        );
        assert!(
            !html.contains("<br />"),
            "block content is not given line breaks: {html}"
        );
        assert_eq!(
            post.author.as_deref(),
            Some("nikos"),
            "unknown logins pass through"
        );
    }

    #[test]
    fn wxr_1_2_statuses_and_types_are_skipped_with_reasons() {
        let items = read_all(&fixture("wordpress-1.2.xml"));
        let future = entry(&items[4]);
        assert!(future.scheduled);
        assert_eq!(
            future.published.as_ref().unwrap().rfc3339(),
            "2025-10-01T06:00:00+02:00"
        );
        assert_eq!(skipped(&items[5]).0, SkipReason::Draft);
        assert_eq!(skipped(&items[6]).0, SkipReason::Private);
        assert_eq!(skipped(&items[7]).0, SkipReason::Page);
        assert_eq!(skipped(&items[8]).0, SkipReason::Attachment);
        assert_eq!(skipped(&items[9]).0, SkipReason::MenuItem);
        assert_eq!(skipped(&items[10]), (SkipReason::Other, Some("wp_block")));
        assert_eq!(items.len(), 11);
        assert_eq!(entry(&items[3]).position.item, 4);
    }

    #[test]
    fn wxr_1_0_namespace_and_old_categories_are_read() {
        let items = read_all(&fixture("wordpress-1.0.xml"));
        let post = entry(&items[0]);
        assert_eq!(post.id, "http://oldpaper.example.net/?p=7");
        assert_eq!(post.author.as_deref(), Some("Old Editor"));
        assert_eq!(
            post.tags,
            vec![
                ImportTag {
                    name: "City".into(),
                    origin: TagOrigin::WordPressCategory {
                        nicename: Some("city".into())
                    }
                },
                ImportTag {
                    name: "night buses".into(),
                    origin: TagOrigin::WordPressTag {
                        nicename: Some("night-buses".into())
                    }
                },
            ]
        );
        assert_eq!(
            post.published.as_ref().unwrap().rfc3339(),
            "2008-03-02T21:15:00-05:00"
        );
        assert_eq!(entry(&items[1]).slug.as_deref(), Some("second-story"));
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn a_draft_with_no_gmt_date_is_dated_by_its_local_date_as_utc() {
        let xml = "<rss><channel><item><guid>g</guid><wp:post_type>post</wp:post_type>\
                   <wp:status>publish</wp:status><wp:post_date>2025-09-01 10:00:00</wp:post_date>\
                   <wp:post_date_gmt>0000-00-00 00:00:00</wp:post_date_gmt>\
                   <pubDate>Mon, 30 Nov -0001 00:00:00 +0000</pubDate></item></channel></rss>";
        let items = read_all(xml);
        assert_eq!(
            entry(&items[0]).published.as_ref().unwrap().rfc3339(),
            "2025-09-01T10:00:00Z"
        );
    }

    #[test]
    fn a_bad_date_or_missing_guid_is_unreadable() {
        let xml = "<rss><channel><item><guid>g</guid><wp:post_date>yesterday</wp:post_date></item>\
                   <item><title>No guid</title></item></channel></rss>";
        let items = read_all(xml);
        assert!(matches!(&items[0], Item::Unreadable(u) if u.reason.contains("wp:post_date")));
        assert!(matches!(&items[1], Item::Unreadable(u) if u.reason == "no <guid>"));
    }

    fn html_body(entry: &Entry) -> &str {
        match &entry.body {
            Body::Html(html) => html,
            Body::Text(text) => panic!("text body: {text}"),
        }
    }

    #[test]
    fn broken_cdata_with_a_stray_end_keeps_the_whole_content() {
        let items = read_all(&fixture("broken-cdata.xml"));
        assert_eq!(
            html_body(entry(&items[0])),
            "<p>The script read <code>a[b[1]]> c</code> and stopped — officials said.</p>"
        );
        assert_eq!(entry(&items[1]).title.as_deref(), Some("Count resumes"));
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn broken_undeclared_prefixes_are_read_by_their_usual_names() {
        let items = read_all(&fixture("broken-undeclared-prefix.xml"));
        let post = entry(&items[0]);
        assert_eq!(post.author.as_deref(), Some("Kim Lee"));
        assert_eq!(post.summary.as_deref(), Some("A short dek."));
        assert_eq!(post.slug.as_deref(), Some("story-1"));
        assert!(html_body(post).contains("서울"));
        assert_eq!(skipped(&items[1]).0, SkipReason::Page);
    }

    #[test]
    fn broken_ampersands_entities_and_mismatched_tags_are_recovered() {
        let items = read_all(&fixture("broken-ampersand.xml"));
        let post = entry(&items[0]);
        assert_eq!(
            post.title.as_deref(),
            Some("Q&A: rates, risks — and what comes next…")
        );
        assert_eq!(
            post.link.as_deref(),
            Some("https://broken.example.com/?p=1&utm_source=feed")
        );
        assert_eq!(html_body(post), "<p>Smith & Sons said\u{a0}no.</p>");
        assert_eq!(
            post.tags,
            vec![ImportTag {
                name: "R&D".into(),
                origin: TagOrigin::WordPressCategory {
                    nicename: Some("r&d".into())
                }
            }]
        );
        // The item after the mismatched end tag is read as its own item.
        assert_eq!(entry(&items[1]).title.as_deref(), Some("Next story"));
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn broken_control_characters_are_dropped() {
        let items = read_all(&fixture("broken-control-chars.xml"));
        let post = entry(&items[0]);
        assert_eq!(post.title.as_deref(), Some("Ceasefire holds in the north"));
        assert_eq!(html_body(post), "<p>KYIV — Київ залишався спокійним.</p>");
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn broken_encoding_reads_latin1_bytes_in_a_utf8_file() {
        let bytes = std::fs::read(format!(
            "{}/tests/fixtures/import/broken-encoding.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut items = Vec::new();
        read(&bytes[..], "broken-encoding.xml", &mut |item| {
            items.push(item);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        let post = entry(&items[0]);
        assert_eq!(post.title.as_deref(), Some("Café owners protest new rules"));
        assert!(html_body(post).contains("PARIS — The café owners"));
    }

    #[test]
    fn broken_truncated_file_delivers_the_items_before_and_names_the_cut_one() {
        let items = read_all(&fixture("broken-truncated.xml"));
        assert_eq!(items.len(), 3, "{items:#?}");
        assert_eq!(entry(&items[0]).title.as_deref(), Some("First of three"));
        assert_eq!(entry(&items[1]).title.as_deref(), Some("Second of three"));
        match &items[2] {
            Item::Unreadable(unreadable) => {
                assert_eq!(
                    unreadable.id.as_deref(),
                    Some("https://broken.example.com/?p=3")
                );
                assert_eq!(unreadable.position.item, 3);
                assert!(unreadable.position.line.is_some_and(|line| line > 20));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_break_from_the_sink_stops_before_the_comments() {
        let mut seen = 0;
        read(
            fixture("wordpress-1.2.xml").as_bytes(),
            "export.xml",
            &mut |_| {
                seen += 1;
                std::ops::ControlFlow::Break(())
            },
        )
        .unwrap();
        assert_eq!(seen, 1);
    }

    /// Generates a WXR file of `items` posts on the fly, never holding it whole.
    struct GeneratedExport {
        items: usize,
        next: usize,
        chunk: Vec<u8>,
        at: usize,
    }

    impl std::io::Read for GeneratedExport {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at == self.chunk.len() {
                self.chunk.clear();
                self.at = 0;
                if self.next == 0 {
                    self.chunk.extend_from_slice(
                        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" \
                          xmlns:wp=\"http://wordpress.org/export/1.2/\" \
                          xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\n<channel>\n",
                    );
                }
                if self.next < self.items {
                    let n = self.next;
                    self.chunk.extend_from_slice(format!(
                        "<item>\n<title>Story {n} &#8212; a headline</title>\n\
                         <link>https://example.com/{n}/</link>\n\
                         <guid isPermaLink=\"false\">https://example.com/?p={n}</guid>\n\
                         <content:encoded><![CDATA[First paragraph of story {n}.\n\n\
                         Second paragraph, with a quote: \u{201c}yes\u{201d}.]]></content:encoded>\n\
                         <wp:post_id>{n}</wp:post_id>\n\
                         <wp:post_date>2025-09-14 08:30:00</wp:post_date>\n\
                         <wp:post_date_gmt>2025-09-14 06:30:00</wp:post_date_gmt>\n\
                         <wp:post_name>story-{n}</wp:post_name>\n<wp:status>publish</wp:status>\n\
                         <wp:post_type>post</wp:post_type>\n\
                         <category domain=\"category\" nicename=\"news\">News</category>\n</item>\n"
                    ).as_bytes());
                    self.next += 1;
                } else if self.next == self.items {
                    self.chunk.extend_from_slice(b"</channel>\n</rss>\n");
                    self.next += 1;
                }
            }
            let n = buf.len().min(self.chunk.len() - self.at);
            buf[..n].copy_from_slice(&self.chunk[self.at..n + self.at]);
            self.at += n;
            Ok(n)
        }
    }

    /// 100,000 posts stream through in bounded memory; run with `--ignored --release` to time.
    #[test]
    #[ignore]
    fn a_large_export_streams() {
        let items = 100_000;
        let input = std::io::BufReader::new(GeneratedExport {
            items,
            next: 0,
            chunk: Vec::new(),
            at: 0,
        });
        let started = std::time::Instant::now();
        let mut entries = 0;
        let mut last_line = 0;
        read(input, "large.xml", &mut |item| {
            if let Item::Entry(entry) = item {
                entries += 1;
                last_line = entry.position.line.unwrap_or(0);
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(entries, items);
        assert_eq!(last_line, 4 + 15 * (items as u64 - 1));
        eprintln!("{items} posts in {:?}", started.elapsed());
    }

    #[test]
    fn every_wordpress_and_broken_fixture_is_detected_as_wordpress() {
        for name in [
            "wordpress-1.2.xml",
            "wordpress-1.0.xml",
            "broken-cdata.xml",
            "broken-undeclared-prefix.xml",
            "broken-ampersand.xml",
            "broken-control-chars.xml",
            "broken-encoding.xml",
            "broken-truncated.xml",
        ] {
            let path = format!(
                "{}/tests/fixtures/import/{name}",
                env!("CARGO_MANIFEST_DIR")
            );
            let bytes = std::fs::read(path).unwrap();
            assert_eq!(
                super::super::detect(&bytes),
                Some(super::super::SourceFormat::WordPress),
                "{name}"
            );
        }
    }

    #[test]
    fn autop_makes_paragraphs_only_without_block_tags() {
        assert_eq!(autop("a\nb\n\n\nc"), "<p>a<br />\nb</p>\n<p>c</p>");
        assert_eq!(autop("<em>a</em>\r\n\r\nb"), "<p><em>a</em></p>\n<p>b</p>");
        assert_eq!(autop("<p>a</p>\n\n<p>b</p>"), "<p>a</p>\n\n<p>b</p>");
        assert_eq!(autop("<h2>x</h2>\nb"), "<h2>x</h2>\nb");
        // `<picture>` starts with `p` but is not a paragraph.
        assert!(autop("<picture></picture>\n\nb").starts_with("<p>"));
    }

    #[test]
    fn percent_decoding_handles_utf8_and_stray_percents() {
        assert_eq!(percent_decode("%e6%9d%b1%e4%ba%ac-news"), "東京-news");
        assert_eq!(percent_decode("100%-sure%2"), "100%-sure%2");
    }

    #[test]
    fn a_file_that_is_not_rss_is_an_error() {
        let mut sink = |_| std::ops::ControlFlow::Continue(());
        let error = read("<feed/>".as_bytes(), "export.xml", &mut sink).unwrap_err();
        assert!(error.to_string().contains("export.xml"));
    }
}
