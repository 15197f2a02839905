//! JSON Feed 1.0 and 1.1 documents (<https://jsonfeed.org/version/1.1>), read as a stream: the
//! `items` array is taken one item at a time, so a huge file never sits in memory whole.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Body, Entry, HistoryLinks, ImportTag, Item, Position, Sink, TagOrigin, Unreadable};
use crate::article::Timestamp;
use crate::{Error, Result};

/// What every JSON Feed `version` starts with.
const VERSION_PREFIX: &str = "https://jsonfeed.org/version/";

/// Streams the items of a JSON Feed document at `name` to `sink`, resolving relative links
/// against `base` (the document's URL, when fetched; else the feed's `feed_url` or
/// `home_page_url` when they come before `items`). Returns its history links (`next_url` as
/// `next`).
///
/// An item that cannot be read (no `id`, a field of the wrong type, a bad date) becomes
/// [`Item::Unreadable`] and reading goes on. When the JSON itself breaks inside `items`, the
/// items before are delivered and one [`Item::Unreadable`] stands for the rest. A feed-level
/// author is used for items without one only when it comes before `items` in the file (the
/// usual order). Reading stops, with `Ok`, as soon as the sink answers `Break`.
///
/// Errors: the document is not a JSON object, or has neither a JSON Feed `version` nor an
/// `items` array ([`Error::InvalidArticle`] on field `file`); the input cannot be read
/// ([`Error::Io`]).
pub fn read(
    input: impl BufRead,
    name: &str,
    base: Option<&str>,
    sink: &mut Sink<'_>,
) -> Result<HistoryLinks> {
    let line = Rc::new(Cell::new(1));
    let mut input = input;
    skip_byte_order_marks(&mut input).map_err(|e| Error::io(format!("reading {name}"), e))?;
    let counted = LineCounter {
        inner: input,
        line: Rc::clone(&line),
    };
    let mut reading = Reading {
        sink,
        base: base.map(str::to_string),
        line,
        feed_author: None,
        version: None,
        has_items: false,
        in_items: false,
        delivered: 0,
        current: Position::default(),
        next_url: None,
        stopped: false,
    };
    let mut deserializer = serde_json::Deserializer::from_reader(counted);
    let outcome = FeedSeed(&mut reading)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if reading.stopped {
        return Ok(reading.links());
    }
    if let Err(e) = outcome {
        reading.fail(name, e)?;
        return Ok(reading.links());
    }
    match &reading.version {
        Some(version) if !version.starts_with(VERSION_PREFIX) => Err(not_a_feed(
            name,
            &format!("its version is \"{version}\", not {VERSION_PREFIX}…"),
        )),
        None if !reading.has_items => Err(not_a_feed(name, "it has no version and no items")),
        _ => Ok(reading.links()),
    }
}

/// The refusal for a document that is not a JSON Feed.
fn not_a_feed(name: &str, why: &str) -> Error {
    Error::invalid(name, "file", format!("is not a JSON Feed ({why})"))
}

/// Skips UTF-8 byte order marks, which serde_json refuses but editors leave.
fn skip_byte_order_marks(input: &mut impl BufRead) -> io::Result<()> {
    const MARK: &[u8] = b"\xEF\xBB\xBF";
    while input.fill_buf()?.starts_with(MARK) {
        input.consume(MARK.len());
    }
    Ok(())
}

/// A reader that counts the lines it has passed, so an item's position names its line.
struct LineCounter<R> {
    inner: R,
    line: Rc<Cell<u64>>,
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.inner.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        let newlines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.line.set(self.line.get() + newlines);
        self.inner.consume(n);
        Ok(n)
    }
}

/// The state of one read: what the top level said so far, and where in `items` we are.
struct Reading<'s, 'a> {
    sink: &'s mut Sink<'a>,
    base: Option<String>,
    line: Rc<Cell<u64>>,
    feed_author: Option<String>,
    version: Option<String>,
    has_items: bool,
    in_items: bool,
    delivered: usize,
    current: Position,
    next_url: Option<String>,
    stopped: bool,
}

impl Reading<'_, '_> {
    fn links(&self) -> HistoryLinks {
        HistoryLinks {
            next: self.next_url.as_deref().map(|url| self.resolve(url)),
            ..HistoryLinks::default()
        }
    }

    /// `url` made absolute against the base, or as given when there is none or it fails.
    fn resolve(&self, url: &str) -> String {
        self.base
            .as_deref()
            .and_then(|base| url::Url::parse(base).ok())
            .and_then(|base| base.join(url).ok())
            .map(String::from)
            .unwrap_or_else(|| url.to_string())
    }

    /// Hands an item to the sink; false when the sink wants no more.
    fn deliver(&mut self, item: Item) -> bool {
        self.delivered += 1;
        if (self.sink)(item).is_break() {
            self.stopped = true;
        }
        !self.stopped
    }

    /// Turns a failed parse into what the caller sees: an input error, a refusal, or (when the
    /// JSON breaks inside or after `items`) one unreadable item standing for the rest.
    fn fail(&mut self, name: &str, e: serde_json::Error) -> Result<()> {
        if e.is_io() {
            return Err(Error::io(format!("reading {name}"), io::Error::from(e)));
        }
        let broken = e.is_syntax() || e.is_eof();
        if broken && (self.in_items || self.delivered > 0) {
            let (position, reason) = if self.in_items {
                (
                    self.current.clone(),
                    format!("the JSON breaks here ({e}): this item and any after it are lost"),
                )
            } else {
                (
                    Position {
                        item: self.delivered + 1,
                        line: None,
                    },
                    format!("the JSON breaks after the items ({e})"),
                )
            };
            self.deliver(Item::Unreadable(Unreadable {
                position,
                id: None,
                title: None,
                reason,
            }));
            return Ok(());
        }
        Err(not_a_feed(name, &e.to_string()))
    }
}

/// Reads the top-level object, handing `items` to [`ItemsSeed`].
struct FeedSeed<'r, 's, 'a>(&'r mut Reading<'s, 'a>);

impl<'de> DeserializeSeed<'de> for FeedSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FeedSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON Feed object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let reading = self.0;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" => {
                    map.next_value_seed(ItemsSeed(&mut *reading))?;
                    if reading.stopped {
                        return Err(de::Error::custom("the import stopped reading"));
                    }
                }
                "version" => {
                    let value: Value = map.next_value()?;
                    reading.version = Some(match value {
                        Value::String(text) => text,
                        other => other.to_string(),
                    });
                }
                "next_url" => reading.next_url = text(map.next_value()?),
                "author" | "authors" => {
                    let value: Value = map.next_value()?;
                    if reading.feed_author.is_none() {
                        reading.feed_author = author_name(&key, &value);
                    }
                }
                "feed_url" | "home_page_url" => {
                    let url = text(map.next_value()?);
                    if reading.base.is_none() {
                        reading.base = url.filter(|u| url::Url::parse(u).is_ok());
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads the `items` array one element at a time.
struct ItemsSeed<'r, 's, 'a>(&'r mut Reading<'s, 'a>);

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let reading = self.0;
        reading.has_items = true;
        reading.in_items = true;
        loop {
            reading.current = Position {
                item: reading.delivered + 1,
                line: None,
            };
            if seq.next_element_seed(ItemSeed(&mut *reading))?.is_none() {
                break;
            }
            if reading.stopped {
                return Err(de::Error::custom("the import stopped reading"));
            }
        }
        reading.in_items = false;
        Ok(())
    }
}

/// Reads one item as a JSON value (so a wrong type in it does not derail the parser), turns it
/// into an [`Item`] and hands it to the sink.
struct ItemSeed<'r, 's, 'a>(&'r mut Reading<'s, 'a>);

impl<'de> DeserializeSeed<'de> for ItemSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let reading = self.0;
        // The parser has just seen the item's first character: the line counted is its line.
        reading.current.line = Some(reading.line.get());
        let value = Value::deserialize(deserializer)?;
        let item = convert(value, reading);
        reading.deliver(item);
        Ok(())
    }
}

/// The item at `reading.current`, or the reason it cannot be read.
fn convert(value: Value, reading: &Reading) -> Item {
    let position = reading.current.clone();
    let Value::Object(fields) = value else {
        return Item::Unreadable(Unreadable {
            position,
            id: None,
            title: None,
            reason: format!("is not an object but {}", kind(&value)),
        });
    };
    let id = match fields.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() => Some(id.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    let title = fields
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_string);
    let unreadable = |reason: String| {
        Item::Unreadable(Unreadable {
            position: position.clone(),
            id: id.clone(),
            title: title.clone(),
            reason,
        })
    };
    let Some(entry_id) = id.clone() else {
        let reason = match fields.get("id") {
            None => "no id".to_string(),
            Some(Value::String(_)) => "an empty id".to_string(),
            Some(other) => format!("id: is {}, not a string", kind(other)),
        };
        return unreadable(reason);
    };
    match entry(&fields, entry_id, reading) {
        Ok(mut entry) => {
            entry.position = position;
            Item::Entry(Box::new(entry))
        }
        Err(reason) => unreadable(reason),
    }
}

/// Builds the entry from an item's fields; the reason in words when a field is wrong.
fn entry(fields: &Map<String, Value>, id: String, reading: &Reading) -> Result<Entry, String> {
    let title: Option<String> = field(fields, "title")?;
    let url: Option<String> = field(fields, "url")?;
    let html: Option<String> = field(fields, "content_html")?;
    let text: Option<String> = field(fields, "content_text")?;
    let summary: Option<String> = field(fields, "summary")?;
    let published = date(fields, "date_published")?;
    let updated = date(fields, "date_modified")?;
    let tags: Option<Vec<String>> = field(fields, "tags")?;
    let author = match (fields.get("authors"), fields.get("author")) {
        (Some(value), _) => check_author("authors", value)?,
        (None, Some(value)) => check_author("author", value)?,
        (None, None) => None,
    }
    .or_else(|| reading.feed_author.clone());
    let body = match (html, text) {
        (Some(html), _) => Body::Html(html),
        (None, Some(text)) => Body::Text(text),
        (None, None) => Body::Text(String::new()),
    };
    Ok(Entry {
        position: Position::default(),
        id,
        title: title.filter(|t| !t.trim().is_empty()),
        link: url
            .filter(|u| !u.trim().is_empty())
            .map(|u| reading.resolve(&u)),
        slug: None,
        published,
        updated,
        author,
        summary: summary.filter(|s| !s.trim().is_empty()),
        tags: tags
            .unwrap_or_default()
            .into_iter()
            .filter(|name| !name.trim().is_empty())
            .map(|name| ImportTag {
                name,
                origin: TagOrigin::Feed,
            })
            .collect(),
        body,
        old_paths: Vec::new(),
        scheduled: false,
    })
}

/// The field `key` as a `T` (absent or `null` is `None`), or `key: <serde's message>`.
fn field<T: serde::de::DeserializeOwned>(
    fields: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, String> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(|e| format!("{key}: {e}")),
    }
}

/// An RFC 3339 date field, keeping its offset.
fn date(fields: &Map<String, Value>, key: &str) -> Result<Option<Timestamp>, String> {
    field::<String>(fields, key)?
        .map(|text| Timestamp::parse(&text).map_err(|reason| format!("{key}: {reason}")))
        .transpose()
}

/// The author's name of an item's `authors` (1.1) or `author` (1.0), checking the types.
fn check_author(key: &str, value: &Value) -> Result<Option<String>, String> {
    #[derive(Deserialize)]
    struct Author {
        name: Option<String>,
    }
    let name = if key == "authors" {
        Vec::<Author>::deserialize(value)
            .map_err(|e| format!("{key}: {e}"))?
            .into_iter()
            .find_map(|author| author.name)
    } else {
        Author::deserialize(value)
            .map_err(|e| format!("{key}: {e}"))?
            .name
    };
    Ok(name.filter(|n| !n.trim().is_empty()))
}

/// The feed-level author's name, leniently (a wrong type there is no reason to lose items).
fn author_name(key: &str, value: &Value) -> Option<String> {
    check_author(key, value).ok().flatten()
}

/// A string value, or `None` for anything else.
fn text(value: Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() => Some(text),
        _ => None,
    }
}

/// What kind of JSON value this is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::ControlFlow;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/import/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Reads `bytes`, collecting every item.
    fn read_all(bytes: &[u8], base: Option<&str>) -> (Result<HistoryLinks>, Vec<Item>) {
        let mut items = Vec::new();
        let mut sink = |item: Item| {
            items.push(item);
            ControlFlow::Continue(())
        };
        let links = read(bytes, "test.json", base, &mut sink);
        (links, items)
    }

    fn entry(item: &Item) -> &Entry {
        match item {
            Item::Entry(entry) => entry,
            other => panic!("expected an entry, got {other:?}"),
        }
    }

    fn unreadable(item: &Item) -> &Unreadable {
        match item {
            Item::Unreadable(unreadable) => unreadable,
            other => panic!("expected an unreadable item, got {other:?}"),
        }
    }

    #[test]
    fn version_1_1_items_keep_their_fields() {
        let (links, items) = read_all(&fixture("jsonfeed-1.1.json"), None);
        let links = links.unwrap();
        assert_eq!(
            links.next.as_deref(),
            Some("https://gazette.example/feed-2.json")
        );
        assert_eq!(items.len(), 3);

        let first = entry(&items[0]);
        assert_eq!(first.id, "https://gazette.example/2026/09/council-vote");
        assert_eq!(
            first.title.as_deref(),
            Some("Council says “yes” to the harbour plan — after a 9-hour session")
        );
        assert_eq!(
            first.body,
            Body::Html("<p>The vote was <em>12–3</em>.</p>".into())
        );
        assert_eq!(first.summary.as_deref(), Some("A long night at city hall."));
        assert_eq!(
            first.published.as_ref().map(Timestamp::rfc3339).as_deref(),
            Some("2026-09-14T08:30:00+05:30")
        );
        assert_eq!(
            first.updated.as_ref().map(Timestamp::rfc3339).as_deref(),
            Some("2026-09-14T10:00:00+05:30")
        );
        assert_eq!(first.author.as_deref(), Some("Priya Raman"));
        let tags: Vec<_> = first.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tags, ["Politics", "Harbour"]);
        assert!(first.tags.iter().all(|t| t.origin == TagOrigin::Feed));
        assert_eq!(first.position.item, 1);
        assert_eq!(first.position.line, Some(9));

        let second = entry(&items[1]);
        assert_eq!(
            second.title.as_deref(),
            Some("मानसून की पहली बारिश — शहर में जलभराव")
        );
        // Relative to the feed's `feed_url`, as no base was given.
        assert_eq!(
            second.link.as_deref(),
            Some("https://gazette.example/2026/09/monsoon")
        );
        assert_eq!(
            second.body,
            Body::Text("Heavy rain flooded three streets.\nTraffic was diverted.".into())
        );
        assert_eq!(
            second.published.as_ref().map(Timestamp::rfc3339).as_deref(),
            Some("2026-09-13T18:45:00-04:00")
        );
        assert_eq!(second.author.as_deref(), Some("Harbour Gazette newsroom"));

        let third = entry(&items[2]);
        assert_eq!(third.id, "1024");
        assert_eq!(
            third.body,
            Body::Html("<p>Both given: the HTML wins.</p>".into())
        );
        assert_eq!(third.position.item, 3);
    }

    #[test]
    fn the_given_base_resolves_relative_links() {
        let (links, items) = read_all(
            &fixture("jsonfeed-1.1.json"),
            Some("https://mirror.example/news/feed.json"),
        );
        assert_eq!(
            links.unwrap().next.as_deref(),
            Some("https://mirror.example/news/feed-2.json")
        );
        assert_eq!(
            entry(&items[1]).link.as_deref(),
            Some("https://mirror.example/2026/09/monsoon")
        );
    }

    #[test]
    fn version_1_0_author_object() {
        let (links, items) = read_all(&fixture("jsonfeed-1.0.json"), None);
        assert_eq!(links.unwrap(), HistoryLinks::default());
        assert_eq!(items.len(), 2);
        assert_eq!(entry(&items[0]).author.as_deref(), Some("Ana Ribeiro"));
        assert_eq!(entry(&items[1]).author.as_deref(), Some("João Pires"));
        assert_eq!(
            entry(&items[0])
                .published
                .as_ref()
                .map(Timestamp::rfc3339)
                .as_deref(),
            Some("2019-03-02T07:00:00+01:00")
        );
    }

    #[test]
    fn a_wrong_type_or_missing_id_is_unreadable_and_reading_goes_on() {
        let (links, items) = read_all(&fixture("broken-jsonfeed.json"), None);
        assert!(links.is_ok(), "{links:?}");
        assert_eq!(items.len(), 4);
        assert_eq!(entry(&items[0]).id, "wire-1");
        let wrong = unreadable(&items[1]);
        assert_eq!(wrong.position.item, 2);
        assert_eq!(wrong.id.as_deref(), Some("wire-2"));
        assert_eq!(wrong.title.as_deref(), Some("Tags of the wrong type"));
        assert!(
            wrong.reason.starts_with("tags: invalid type"),
            "{}",
            wrong.reason
        );
        let no_id = unreadable(&items[2]);
        assert_eq!(no_id.position.item, 3);
        assert_eq!(no_id.title.as_deref(), Some("No id at all"));
        assert_eq!(no_id.reason, "no id");
        assert_eq!(entry(&items[3]).id, "wire-4");
    }

    #[test]
    fn a_bad_date_is_unreadable() {
        let json = br#"{"version":"https://jsonfeed.org/version/1.1","items":[
            {"id":"a","date_published":"yesterday"},{"id":"b","id2":1}]}"#;
        let (links, items) = read_all(json, None);
        assert!(links.is_ok());
        assert!(unreadable(&items[0])
            .reason
            .starts_with("date_published: \"yesterday\""));
        assert_eq!(entry(&items[1]).id, "b");
    }

    #[test]
    fn broken_syntax_delivers_what_came_before() {
        let json = b"{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[\n\
            {\"id\":\"a\",\"title\":\"A\"},\n{\"id\":\"b\" \"title\":\"B\"},\n{\"id\":\"c\"}]}";
        let (links, items) = read_all(json, None);
        assert!(links.is_ok(), "{links:?}");
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(entry(&items[0]).id, "a");
        let rest = unreadable(&items[1]);
        assert_eq!(rest.position.item, 2);
        assert_eq!(rest.position.line, Some(3));
        assert!(rest.reason.contains("line 3"), "{}", rest.reason);
    }

    #[test]
    fn a_truncated_file_delivers_what_came_before() {
        let json =
            br#"{"version":"https://jsonfeed.org/version/1","items":[{"id":"a"},{"id":"b","ti"#;
        let (links, items) = read_all(json, None);
        assert!(links.is_ok());
        assert_eq!(items.len(), 2);
        assert_eq!(unreadable(&items[1]).position.item, 2);
    }

    #[test]
    fn fields_come_in_any_order() {
        let json = br#"{"items":[{"id":"a"}],"next_url":"https://x.example/2","version":"https://jsonfeed.org/version/1.1"}"#;
        let (links, items) = read_all(json, None);
        assert_eq!(links.unwrap().next.as_deref(), Some("https://x.example/2"));
        assert_eq!(entry(&items[0]).id, "a");
    }

    #[test]
    fn other_documents_are_refused() {
        for json in [
            &b"[1, 2]"[..],
            b"{\"title\": \"no version, no items\"}",
            b"{\"version\": \"https://example.com/other\", \"items\": []}",
            b"{\"version\": \"https://jsonfeed.org/version/1.1\", \"items\": {}}",
            b"{\"version\": ",
            b"not json",
        ] {
            let (links, items) = read_all(json, None);
            let message = links.unwrap_err().to_string();
            assert!(
                message.starts_with("test.json: file: is not a JSON Feed"),
                "{message}"
            );
            assert!(items.is_empty());
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let json = b"\xEF\xBB\xBF{\"version\":\"https://jsonfeed.org/version/1.1\",\"items\":[]}";
        assert!(read_all(json, None).0.is_ok());
    }

    #[test]
    fn break_stops_reading() {
        let json = br#"{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"a"},{"id":"b"},{"id":"c"}]}"#;
        let mut seen = 0;
        let mut sink = |_: Item| {
            seen += 1;
            ControlFlow::Break(())
        };
        assert!(read(&json[..], "test.json", None, &mut sink).is_ok());
        assert_eq!(seen, 1);
    }

    #[test]
    fn items_are_handed_over_before_the_array_ends() {
        // A reader that fails after the first item proves the items are not collected first.
        let head = br#"{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"a"},"#;
        let failing = head.chain(FailingReader);
        let mut ids = Vec::new();
        let mut sink = |item: Item| {
            ids.push(entry(&item).id.clone());
            ControlFlow::Continue(())
        };
        let outcome = read(io::BufReader::new(failing), "test.json", None, &mut sink);
        assert_eq!(ids, ["a"]);
        assert!(matches!(outcome, Err(Error::Io { .. })), "{outcome:?}");
    }

    struct FailingReader;

    impl Read for FailingReader {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("connection reset"))
        }
    }
}
