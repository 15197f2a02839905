//! RSS 2.0 (also 0.91/0.92 and RSS 1.0 `rdf:RDF`) and Atom 1.0 feed documents.
//!
//! Items stream to the sink one at a time. Atom's text constructs and content are turned into
//! [`Body`] here; the Blogger reader, whose export is Atom, shares those helpers.

use std::io::BufRead;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};
use url::Url;

use super::xml::{
    collapse_spaces, html_to_text, open_root, parse_rfc3339, resolve_url, unreadable_partial,
    unreadable_rest, with_xml_base, Node, Ns, XmlEvent, XmlReader,
};
use super::{Body, Entry, HistoryLinks, ImportTag, Item, Position, Sink, TagOrigin, Unreadable};
use crate::article::Timestamp;
use crate::Result;

/// Streams the items of an RSS or Atom document at `name` to `sink`, resolving relative links
/// against `base` (the document's URL, when fetched). Returns its RFC 5005 history links.
///
/// Errors: the document is not RSS or Atom at all.
pub fn read(
    input: impl BufRead,
    name: &str,
    base: Option<&str>,
    sink: &mut Sink<'_>,
) -> Result<HistoryLinks> {
    let mut xml = XmlReader::new(input);
    let root = open_root(&mut xml, name)?;
    let base = base.and_then(|base| Url::parse(base).ok());
    let base = with_xml_base(base.as_ref(), root_attr(&root.attrs, "xml:base"));
    if root.name.is_atom("feed") {
        Ok(read_atom(&mut xml, base, sink))
    } else if root.name.is(Ns::None, "rss") || root.name.is(Ns::Rdf, "RDF") {
        Ok(read_rss(&mut xml, base, sink))
    } else {
        Err(crate::Error::invalid(
            name,
            "file",
            format!(
                "not an RSS or Atom feed (the root element is <{}>)",
                root.qname
            ),
        ))
    }
}

fn root_attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// Reads the feed-level history link or completeness marker in `node`, if it is one.
fn note_history(node: &Node, base: Option<&Url>, links: &mut HistoryLinks) {
    if node.is(Ns::Fh, "complete") {
        links.complete = true;
        return;
    }
    let Some(href) = node.attr("href") else {
        return;
    };
    let base = with_xml_base(base, node.attr("xml:base"));
    match node.attr("rel").map(str::trim) {
        Some("prev-archive") => links.prev_archive = Some(resolve_url(base.as_ref(), href)),
        Some("next") => links.next = Some(resolve_url(base.as_ref(), href)),
        _ => {}
    }
}

fn read_atom<R: BufRead>(
    xml: &mut XmlReader<R>,
    base: Option<Url>,
    sink: &mut Sink<'_>,
) -> HistoryLinks {
    let mut links = HistoryLinks::default();
    let mut feed_author: Option<String> = None;
    let mut count = 0;
    loop {
        let element = match xml.next_event() {
            Ok(XmlEvent::Start(element)) => element,
            Ok(XmlEvent::Eof) => return links,
            Ok(_) => continue,
            Err(error) => {
                let _ = sink(unreadable_rest(&error, count + 1));
                return links;
            }
        };
        let is_entry = element.name.is_atom("entry");
        let is_feed_level = element.name.is_atom("link")
            || element.name.is_atom("author")
            || element.name.is(Ns::Fh, "complete");
        if !is_entry && !is_feed_level {
            continue;
        }
        if is_entry {
            count += 1;
        }
        let node = match xml.read_tree(element) {
            Ok(node) => node,
            Err(partial) if is_entry => {
                let id = partial.node.child_atom("id").and_then(Node::trimmed_text);
                let _ = sink(unreadable_partial(&partial, count, id));
                return links;
            }
            Err(_) => return links,
        };
        if !is_entry {
            if node.is_atom("author") {
                feed_author = node.child_atom("name").and_then(Node::trimmed_text);
            } else {
                note_history(&node, base.as_ref(), &mut links);
            }
            continue;
        }
        let position = Position {
            item: count,
            line: Some(node.line),
        };
        let item = atom_entry(&node, position, base.as_ref(), feed_author.as_deref());
        if sink(item).is_break() {
            return links;
        }
    }
}

/// An Atom entry as an [`Item`].
fn atom_entry(
    node: &Node,
    position: Position,
    base: Option<&Url>,
    feed_author: Option<&str>,
) -> Item {
    let base = with_xml_base(base, node.attr("xml:base"));
    let id = node.child_atom("id").and_then(Node::trimmed_text);
    let title = node.child_atom("title").and_then(atom_text);
    let Some(id) = id else {
        return unreadable(position, None, title, "no <id>");
    };
    let dates = (|| {
        let published = optional_date(node.child_atom("published"), "published")?;
        let updated = optional_date(node.child_atom("updated"), "updated")?;
        Ok::<_, String>((published, updated))
    })();
    let (published, updated) = match dates {
        Ok(dates) => dates,
        Err(reason) => return unreadable(position, Some(id), title, &reason),
    };
    let author = node
        .child_atom("author")
        .and_then(|author| author.child_atom("name"))
        .and_then(Node::trimmed_text)
        .or_else(|| feed_author.map(str::to_string));
    let tags = node
        .elements()
        .filter(|child| child.is_atom("category"))
        .filter_map(|category| {
            let name = category
                .attr("label")
                .filter(|label| !label.trim().is_empty())
                .or_else(|| category.attr("term"))?;
            let name = name.trim();
            (!name.is_empty()).then(|| ImportTag {
                name: name.to_string(),
                origin: TagOrigin::Feed,
            })
        })
        .collect();
    let (body, summary) = atom_body(node.child_atom("content"), node.child_atom("summary"));
    Item::Entry(Box::new(Entry {
        position,
        id,
        title,
        link: alternate_link(node, base.as_ref()),
        slug: None,
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

/// The entry's `link rel="alternate"` (or without `rel`), preferring `type="text/html"`,
/// made absolute against `base`.
pub(super) fn alternate_link(entry: &Node, base: Option<&Url>) -> Option<String> {
    let alternates: Vec<&Node> = entry
        .elements()
        .filter(|child| child.is_atom("link"))
        .filter(|link| matches!(link.attr("rel").map(str::trim), None | Some("alternate")))
        .filter(|link| {
            link.attr("href")
                .is_some_and(|href| !href.trim().is_empty())
        })
        .collect();
    let link = alternates
        .iter()
        .find(|link| link.attr("type").is_some_and(|kind| kind.contains("html")))
        .or(alternates.first())?;
    let base = with_xml_base(base, link.attr("xml:base"));
    link.attr("href")
        .map(|href| resolve_url(base.as_ref(), href))
}

/// An Atom text construct (`title`, `summary`) as plain text; `None` when empty.
pub(super) fn atom_text(node: &Node) -> Option<String> {
    let text = match node.attr("type").map(str::trim) {
        Some("html") => html_to_text(&node.html()),
        Some("xhtml") => collapse_spaces(&node.text()),
        _ => collapse_spaces(&node.text()),
    };
    (!text.is_empty()).then_some(text)
}

/// The body and summary of an Atom entry from its `content` and `summary`.
///
/// `type="text"` (or none) is [`Body::Text`], `html` is [`Body::Html`], `xhtml` is the inner
/// `div`'s markup as HTML. Content given by `src`, or in a type that is not text, leaves the
/// summary as the body; so does no content. When the content is the body, the summary is kept
/// as plain text.
pub(super) fn atom_body(content: Option<&Node>, summary: Option<&Node>) -> (Body, Option<String>) {
    if let Some(body) = content.and_then(construct_body) {
        return (body, summary.and_then(atom_text));
    }
    let body = summary
        .and_then(construct_body)
        .unwrap_or_else(|| Body::Html(String::new()));
    (body, None)
}

fn construct_body(node: &Node) -> Option<Body> {
    if node.attr("src").is_some() {
        return None;
    }
    let kind = node
        .attr("type")
        .map(|kind| kind.trim().to_ascii_lowercase());
    let body = match kind.as_deref() {
        None | Some("text") | Some("text/plain") => Body::Text(node.text()),
        Some("html") | Some("text/html") => Body::Html(node.html()),
        Some("xhtml") | Some("application/xhtml+xml") => {
            let markup = match node
                .child(Ns::Xhtml, "div")
                .or_else(|| node.child(Ns::None, "div"))
            {
                Some(div) => div.inner_markup(),
                None => node.inner_markup(),
            };
            Body::Html(markup)
        }
        Some(kind) if kind.starts_with("text/") => Body::Text(node.text()),
        Some(_) => return None,
    };
    let empty = match &body {
        Body::Html(text) | Body::Text(text) => text.trim().is_empty(),
    };
    (!empty).then_some(body)
}

fn optional_date(
    node: Option<&Node>,
    field: &str,
) -> std::result::Result<Option<Timestamp>, String> {
    match node.and_then(Node::trimmed_text) {
        Some(text) => parse_rfc3339(field, &text).map(Some),
        None => Ok(None),
    }
}

fn unreadable(position: Position, id: Option<String>, title: Option<String>, reason: &str) -> Item {
    Item::Unreadable(Unreadable {
        position,
        id,
        title,
        reason: reason.to_string(),
    })
}

/// Without a base (a file, not a fetched URL), relative links resolve against the channel's
/// `link`, the site's address.
fn read_rss<R: BufRead>(
    xml: &mut XmlReader<R>,
    mut base: Option<Url>,
    sink: &mut Sink<'_>,
) -> HistoryLinks {
    let mut links = HistoryLinks::default();
    let mut count = 0;
    loop {
        let element = match xml.next_event() {
            Ok(XmlEvent::Start(element)) => element,
            Ok(XmlEvent::Eof) => return links,
            Ok(_) => continue,
            Err(error) => {
                let _ = sink(unreadable_rest(&error, count + 1));
                return links;
            }
        };
        let is_item = element.name.is(Ns::None, "item");
        let is_site_link = base.is_none() && element.name.is(Ns::None, "link");
        let is_channel_level = is_site_link
            || element.name.is(Ns::Atom, "link")
            || element.name.is(Ns::Fh, "complete");
        if !is_item && !is_channel_level {
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
                return links;
            }
            Err(_) => return links,
        };
        if is_site_link {
            base = node.trimmed_text().and_then(|site| Url::parse(&site).ok());
            continue;
        }
        if !is_item {
            note_history(&node, base.as_ref(), &mut links);
            continue;
        }
        let position = Position {
            item: count,
            line: Some(node.line),
        };
        if sink(rss_item(&node, position, base.as_ref())).is_break() {
            return links;
        }
    }
}

/// An RSS item as an [`Item`].
fn rss_item(node: &Node, position: Position, base: Option<&Url>) -> Item {
    let title = node
        .child(Ns::None, "title")
        .map(|title| html_to_text(&title.html()))
        .filter(|title| !title.is_empty());
    let guid_node = node.child(Ns::None, "guid");
    let guid = guid_node.and_then(Node::trimmed_text);
    let link = node
        .child_text(Ns::None, "link")
        .map(|link| resolve_url(base, &link));
    let about = node.attr("rdf:about").map(|about| resolve_url(base, about));
    let Some(id) = guid.clone().or_else(|| link.clone()).or(about) else {
        return unreadable(position, None, title, "no guid or link");
    };
    // A guid is a permalink unless it says otherwise (RSS 2.0).
    let guid_is_link = guid_node.is_some_and(|guid| guid.attr("isPermaLink") != Some("false"))
        && guid.as_deref().is_some_and(|guid| guid.starts_with("http"));
    let link = link.or_else(|| guid.filter(|_| guid_is_link));

    let published = match node.child_text(Ns::None, "pubDate") {
        Some(text) => match parse_rfc2822("pubDate", &text) {
            Ok(at) => Some(at),
            Err(reason) => return unreadable(position, Some(id), title, &reason),
        },
        None => match optional_date(node.child(Ns::Dc, "date"), "dc:date") {
            Ok(at) => at,
            Err(reason) => return unreadable(position, Some(id), title, &reason),
        },
    };
    let updated = match optional_date(node.child(Ns::Atom, "updated"), "atom:updated") {
        Ok(at) => at,
        Err(reason) => return unreadable(position, Some(id), title, &reason),
    };
    let author = node
        .child_text(Ns::None, "author")
        .map(|author| rss_author_name(&author))
        .or_else(|| node.child_text(Ns::Dc, "creator"));
    let tags = node
        .elements()
        .filter(|child| child.is(Ns::None, "category"))
        .filter_map(Node::trimmed_text)
        .map(|name| ImportTag {
            name,
            origin: TagOrigin::Feed,
        })
        .collect();
    let content = node
        .child(Ns::Content, "encoded")
        .map(Node::html)
        .filter(|html| !html.trim().is_empty());
    let description = node
        .child(Ns::None, "description")
        .map(Node::html)
        .filter(|html| !html.trim().is_empty());
    let (body, summary) = match (content, description) {
        (Some(content), description) => (
            Body::Html(content),
            description
                .map(|description| html_to_text(&description))
                .filter(|text| !text.is_empty()),
        ),
        (None, Some(description)) => (Body::Html(description), None),
        (None, None) => (Body::Html(String::new()), None),
    };
    Item::Entry(Box::new(Entry {
        position,
        id,
        title,
        link,
        slug: None,
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

/// The name in RSS's `author` ("editor@example.com (Jane Doe)"), or the text as it is.
fn rss_author_name(author: &str) -> String {
    if let (Some(open), Some(close)) = (author.find('('), author.rfind(')')) {
        let name = author[open + 1..close].trim();
        if open < close && !name.is_empty() {
            return name.to_string();
        }
    }
    author.trim().to_string()
}

/// Parses an RFC 2822 date as feeds write it, keeping its offset: the weekday may be missing,
/// the day a single digit, the year two digits, the seconds missing, the month spelled out, the
/// zone a name (`GMT`, `UT`, `EST`, `PDT`, `CEST`…) or missing (UTC).
/// Returns the reason in words when it is not a date.
pub(super) fn parse_rfc2822(field: &str, text: &str) -> std::result::Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc2822(text) {
        return Ok(Timestamp::new(at));
    }
    lenient_rfc2822(text)
        .map(Timestamp::new)
        .ok_or_else(|| format!("{field}: \"{text}\" is not a date"))
}

fn lenient_rfc2822(text: &str) -> Option<DateTime<FixedOffset>> {
    let cleaned = text.replace(',', " ");
    let mut tokens: Vec<&str> = cleaned.split_whitespace().collect();
    if tokens.first().is_some_and(|first| {
        first.chars().all(|c| c.is_ascii_alphabetic()) && month(first).is_none()
    }) {
        tokens.remove(0);
    }
    let (day, month) = match (tokens.first()?.parse::<u32>(), month(tokens.get(1)?)) {
        (Ok(day), Some(month)) => (day, month),
        // "Sep 14 2025" puts the month first.
        _ => (tokens.get(1)?.parse().ok()?, month(tokens.first()?)?),
    };
    let mut year: i32 = tokens.get(2)?.parse().ok()?;
    if year < 100 {
        year += if year < 50 { 2000 } else { 1900 };
    }
    let mut clock = tokens.get(3)?.split(':');
    let hour: u32 = clock.next()?.parse().ok()?;
    let minute: u32 = clock.next()?.parse().ok()?;
    let second: u32 = match clock.next() {
        Some(second) => second.split('.').next()?.parse().ok()?,
        None => 0,
    };
    let offset = match tokens.get(4) {
        Some(zone) => zone_offset(zone)?,
        None => 0,
    };
    let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_time(NaiveTime::from_hms_opt(
        hour,
        minute,
        second.min(59),
    )?);
    let offset = FixedOffset::east_opt(offset)?;
    naive.and_local_timezone(offset).single()
}

fn month(token: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let prefix = token.get(..3)?.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|name| *name == prefix)
        .and_then(|at| u32::try_from(at + 1).ok())
}

/// Seconds east of UTC for a numeric offset or a zone name feeds use; unknown names read as UTC
/// (RFC 2822 says an unknown zone means the offset is unknown).
fn zone_offset(zone: &str) -> Option<i32> {
    let digits = zone.replace(':', "");
    if let Some(sign) = match digits.chars().next() {
        Some('+') => Some(1),
        Some('-') => Some(-1),
        _ => None,
    } {
        let value: i32 = digits.get(1..)?.parse().ok()?;
        let (hours, minutes) = if digits.len() <= 3 {
            (value, 0)
        } else {
            (value / 100, value % 100)
        };
        return Some(sign * (hours * 3600 + minutes * 60));
    }
    let hours = match zone.to_ascii_uppercase().as_str() {
        "EST" => -5,
        "EDT" | "AST" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        "CET" | "BST" => 1,
        "CEST" | "EET" => 2,
        "EEST" | "MSK" => 3,
        "JST" | "KST" => 9,
        _ => 0,
    };
    Some(hours * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(xml: &str, base: Option<&str>) -> (Vec<Item>, HistoryLinks) {
        let mut items = Vec::new();
        let links = read(xml.as_bytes(), "feed.xml", base, &mut |item| {
            items.push(item);
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        (items, links)
    }

    fn entry(item: &Item) -> &Entry {
        match item {
            Item::Entry(entry) => entry,
            other => panic!("not an entry: {other:?}"),
        }
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/import/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn the_fixtures_are_detected_as_feeds() {
        for name in ["rss-2.0.xml", "atom-1.0.xml"] {
            assert_eq!(
                super::super::detect(fixture(name).as_bytes()),
                Some(super::super::SourceFormat::Feed),
                "{name}"
            );
        }
    }

    #[test]
    fn rfc2822_variants_keep_their_offset() {
        let cases = [
            (
                "Sun, 14 Sep 2025 08:30:00 +0200",
                "2025-09-14T08:30:00+02:00",
            ),
            ("Sun, 7 Sep 2025 08:30:00 GMT", "2025-09-07T08:30:00Z"),
            ("7 Sep 2025 08:30:00 UT", "2025-09-07T08:30:00Z"),
            ("Sun, 07 Sep 2025 08:30:00 PDT", "2025-09-07T08:30:00-07:00"),
            ("Sun, 07 Sep 2025 08:30:00 EST", "2025-09-07T08:30:00-05:00"),
            (
                "Sunday, 07 September 2025 08:30 +02:00",
                "2025-09-07T08:30:00+02:00",
            ),
            ("Sun, 07 Sep 25 08:30:00 CEST", "2025-09-07T08:30:00+02:00"),
        ];
        for (text, expected) in cases {
            let at = parse_rfc2822("pubDate", text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(at.rfc3339(), expected, "{text}");
        }
        assert!(parse_rfc2822("pubDate", "yesterday").is_err());
    }

    #[test]
    fn rss_fixture_reads_guid_link_dates_authors_categories_and_bodies() {
        let (items, links) = read_all(&fixture("rss-2.0.xml"), None);
        assert_eq!(items.len(), 4, "{items:#?}");
        let first = entry(&items[0]);
        assert_eq!(
            first.id,
            "https://news.example.org/2025/09/14/harbour-strike"
        );
        assert_eq!(
            first.title.as_deref(),
            Some("Harbour strike ends — talks to resume Monday")
        );
        assert_eq!(
            first.published.as_ref().unwrap().rfc3339(),
            "2025-09-14T08:30:00+02:00"
        );
        assert_eq!(
            first.updated.as_ref().unwrap().rfc3339(),
            "2025-09-14T10:05:00+02:00"
        );
        assert_eq!(first.author.as_deref(), Some("Maria Keller"));
        assert_eq!(
            first
                .tags
                .iter()
                .map(|tag| tag.name.as_str())
                .collect::<Vec<_>>(),
            ["Economy", "Labour"]
        );
        assert!(matches!(&first.body, Body::Html(html) if html.contains("<p>HAMBURG —")));
        assert_eq!(
            first.summary.as_deref(),
            Some("Dock workers return after a nine-day walkout.")
        );
        // Without content:encoded the description is the body.
        let second = entry(&items[1]);
        assert_eq!(second.id, "urn:uuid:3e1f0a52-77c1-4b0a-9a55-1d2b6a0e8c11");
        assert_eq!(
            second.link.as_deref(),
            Some("https://news.example.org/2025/09/13/tokyo")
        );
        assert_eq!(second.author.as_deref(), Some("田中 花子"));
        assert_eq!(
            second.published.as_ref().unwrap().rfc3339(),
            "2025-09-13T07:00:00Z"
        );
        assert!(matches!(&second.body, Body::Html(html) if html.contains("東京")));
        assert_eq!(second.summary, None);
        // No guid: the link is the id.
        let third = entry(&items[2]);
        assert_eq!(third.id, "https://news.example.org/2025/09/12/brief");
        assert!(matches!(&items[3], Item::Unreadable(u) if u.reason == "no guid or link"));
        assert_eq!(
            links.next.as_deref(),
            Some("https://news.example.org/feed.xml?page=2")
        );
    }

    #[test]
    fn atom_fixture_reads_constructs_bases_and_history() {
        let (items, links) = read_all(&fixture("atom-1.0.xml"), None);
        assert_eq!(items.len(), 4, "{items:#?}");
        let first = entry(&items[0]);
        assert_eq!(first.id, "urn:uuid:9b2e4a1c-0d7f-4a51-8f0e-3c5a0d1e2b77");
        assert_eq!(
            first.title.as_deref(),
            Some("Floods & landslides: the week in Κρήτη")
        );
        // Relative link resolved against the entry's xml:base.
        assert_eq!(
            first.link.as_deref(),
            Some("https://news.example.org/world/2025/09/crete-floods")
        );
        assert_eq!(
            first.published.as_ref().unwrap().rfc3339(),
            "2025-09-14T06:00:00+03:00"
        );
        assert_eq!(first.author.as_deref(), Some("Eleni Papadopoulou"));
        assert_eq!(first.tags[0].name, "Weather");
        assert_eq!(first.tags[1].name, "greece");
        assert!(matches!(&first.body, Body::Html(html) if html.contains("<p>HERAKLION —")));
        assert_eq!(
            first.summary.as_deref(),
            Some("Roads closed across the island.")
        );
        // xhtml content is the div's inner markup; the feed's author stands in.
        let second = entry(&items[1]);
        assert_eq!(second.author.as_deref(), Some("The Desk"));
        match &second.body {
            Body::Html(html) => {
                assert!(html.starts_with("<p>Markets"), "{html}");
                assert!(!html.contains("div"), "{html}");
            }
            other => panic!("{other:?}"),
        }
        // Text content, and a summary standing in for content given by src.
        assert!(matches!(&entry(&items[2]).body, Body::Text(text) if text.contains("Plain words")));
        let fourth = entry(&items[3]);
        assert!(matches!(&fourth.body, Body::Text(text) if text == "Listen to the briefing."));
        assert_eq!(fourth.summary, None);
        assert_eq!(
            links.prev_archive.as_deref(),
            Some("https://news.example.org/archive/2025-08.xml")
        );
        assert!(links.complete);
    }

    #[test]
    fn relative_links_resolve_against_the_base_given() {
        let xml = "<rss version=\"2.0\"><channel><item><link>/a/b</link></item></channel></rss>";
        let (items, _) = read_all(xml, Some("https://example.com/feed.xml"));
        assert_eq!(
            entry(&items[0]).link.as_deref(),
            Some("https://example.com/a/b")
        );
    }

    #[test]
    fn rss_1_0_items_are_read() {
        let xml = "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
                   xmlns=\"http://purl.org/rss/1.0/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\
                   <channel rdf:about=\"https://e.org/\"><title>x</title></channel>\
                   <item rdf:about=\"https://e.org/1\"><title>One</title><link>https://e.org/1</link>\
                   <dc:date>2025-09-14T08:00:00+02:00</dc:date></item></rdf:RDF>";
        let (items, _) = read_all(xml, None);
        let first = entry(&items[0]);
        assert_eq!(first.id, "https://e.org/1");
        assert_eq!(
            first.published.as_ref().unwrap().rfc3339(),
            "2025-09-14T08:00:00+02:00"
        );
    }

    #[test]
    fn bad_dates_and_missing_ids_are_unreadable_items_not_errors() {
        let xml = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>a</id>\
                   <published>last week</published></entry><entry><title>t</title></entry>\
                   <entry><id>c</id></entry></feed>";
        let (items, _) = read_all(xml, None);
        assert!(matches!(&items[0], Item::Unreadable(u) if u.reason.contains("published")));
        assert!(matches!(&items[1], Item::Unreadable(u) if u.reason == "no <id>"));
        assert_eq!(entry(&items[2]).id, "c");
    }

    #[test]
    fn a_break_from_the_sink_stops_reading() {
        let xml =
            "<rss><channel><item><guid>1</guid></item><item><guid>2</guid></item></channel></rss>";
        let mut seen = 0;
        read(xml.as_bytes(), "f", None, &mut |_| {
            seen += 1;
            std::ops::ControlFlow::Break(())
        })
        .unwrap();
        assert_eq!(seen, 1);
    }

    #[test]
    fn a_document_of_another_kind_is_an_error_naming_the_file() {
        let mut sink = |_| std::ops::ControlFlow::Continue(());
        let error = read(
            "<html><body/></html>".as_bytes(),
            "page.html",
            None,
            &mut sink,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("page.html") && error.contains("<html>"),
            "{error}"
        );
        let error = read("just text".as_bytes(), "notes.txt", None, &mut sink).unwrap_err();
        assert!(error.to_string().contains("notes.txt"));
    }
}
