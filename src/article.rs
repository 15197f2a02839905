//! Articles as a publisher writes them: front matter, flags, validation. Pure; no I/O.

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};

use crate::text::{
    is_feed_char, is_valid_slug, slugify, stable_short_id, strip_non_feed_chars, tag_key, tag_slug,
};
use crate::{Error, Result};

/// Longest accepted title, in characters.
const MAX_TITLE_CHARS: usize = 500;
/// Longest accepted tag name, in characters.
const MAX_TAG_CHARS: usize = 100;
/// Most tags one article may carry.
const MAX_TAGS: usize = 30;
/// Earliest accepted publication year (RFC 2822 dates start at 1900).
const MIN_YEAR: i32 = 1900;
/// Longest accepted summary, in characters.
const MAX_SUMMARY_CHARS: usize = 2000;

/// A moment as the author wrote it: RFC 3339 text with the author's offset, in whole seconds,
/// plus the UTC epoch used for ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// The instant, in the author's offset.
    pub at: DateTime<FixedOffset>,
}

impl Timestamp {
    /// Wraps an instant, dropping fractions of a second (feeds carry whole seconds).
    pub fn new(at: DateTime<FixedOffset>) -> Timestamp {
        let whole = at.timestamp();
        let at = DateTime::from_timestamp(whole, 0)
            .map(|utc| utc.with_timezone(at.offset()))
            .unwrap_or(at);
        Timestamp { at }
    }

    /// The current moment in UTC, in whole seconds.
    pub fn from_utc(now: DateTime<Utc>) -> Timestamp {
        Timestamp::new(now.fixed_offset())
    }

    /// Parses RFC 3339 with an offset, or a plain `YYYY-MM-DD` (midnight UTC).
    /// Returns the reason in words when the text is neither.
    pub fn parse(text: &str) -> std::result::Result<Timestamp, String> {
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Ok(Timestamp::new(at));
        }
        // Accept the common "2026-09-14 08:30:00+02:00" spelling too: RFC 3339 allows a space.
        if let Ok(at) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%:z") {
            return Ok(Timestamp::new(at));
        }
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            if text.len() == 10 {
                let midnight = date.and_hms_opt(0, 0, 0).map(|naive| naive.and_utc());
                if let Some(at) = midnight {
                    return Ok(Timestamp::new(at.fixed_offset()));
                }
            }
        }
        let looks_local = text.len() >= 19
            && NaiveDate::parse_from_str(text.get(..10).unwrap_or(""), "%Y-%m-%d").is_ok()
            && text.get(10..11).is_some_and(|t| t == "T" || t == " ")
            && !text.ends_with('Z')
            && !text[10..].contains(['+', '-']);
        if looks_local {
            return Err(format!(
                "\"{text}\" has no time zone (add one, like 2026-09-14T08:30:00+02:00 or …Z)"
            ));
        }
        Err(format!(
            "\"{text}\" is not a date (use RFC 3339 or YYYY-MM-DD)"
        ))
    }

    /// RFC 3339 in the author's offset, whole seconds (`2026-09-14T08:30:00+02:00`, `…Z` for UTC).
    pub fn rfc3339(&self) -> String {
        self.at.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// Seconds since the Unix epoch.
    pub fn epoch(&self) -> i64 {
        self.at.timestamp()
    }

    /// RFC 822 as RSS wants it (`Mon, 14 Sep 2026 08:30:00 +0200`). Offsets whose minutes are
    /// neither 00 nor 30 (Nepal's +0545, Chatham's +1245) trip validators and some readers'
    /// date parsers, so such an instant is written in UTC instead: the same moment.
    pub fn rfc2822(&self) -> String {
        let minutes = self.at.offset().local_minus_utc() / 60 % 60;
        if minutes == 0 || minutes.abs() == 30 {
            self.at.to_rfc2822()
        } else {
            self.at.with_timezone(&chrono::Utc).to_rfc2822()
        }
    }

    /// The calendar date in the author's offset (`2026-09-14`).
    pub fn date(&self) -> String {
        self.at.format("%Y-%m-%d").to_string()
    }
}

/// A tag: the name the author wrote and its URL slug.
///
/// Tags are told apart by name (ignoring case and spacing, see [`tag_key`]), not by slug. In a
/// [`NewArticle`] the slug is the one a new tag of that name would get ([`tag_slug`]); the store
/// keeps the slug of a tag it already has, so a tag's URL never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The tag's name, as its page and every feed show it: the spelling it was first given
    /// (`North Korea`). One name per tag, so feed readers show one category, not two.
    pub name: String,
    /// As used in URLs (`north-korea`).
    pub slug: String,
    /// As this article's author wrote it (`north korea`): what `feedsvc show` prints and an
    /// edit keeps. It differs from `name` only in case or spacing.
    pub written: String,
}

impl Tag {
    /// Validates a tag name and derives the slug a new tag of that name gets.
    pub fn parse(name: &str) -> std::result::Result<Tag, String> {
        Ok(Tag::named(Tag::check_name(name)?))
    }

    /// A new tag of a checked name.
    fn named(name: &str) -> Tag {
        Tag {
            name: name.to_string(),
            slug: tag_slug(name),
            written: name.to_string(),
        }
    }

    /// The name trimmed, or why it cannot be a tag.
    fn check_name(name: &str) -> std::result::Result<&str, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("a tag is empty".to_string());
        }
        if name.chars().any(|c| c.is_control() || !is_feed_char(c)) {
            return Err(format!("tag {name:?} contains control characters"));
        }
        if name.chars().count() > MAX_TAG_CHARS {
            return Err(format!("a tag is longer than {MAX_TAG_CHARS} characters"));
        }
        Ok(name)
    }
}

/// Fields as given by front matter or flags; `None` means "not given".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    /// `title`
    pub title: Option<String>,
    /// `slug`
    pub slug: Option<String>,
    /// `published`, unparsed
    pub published: Option<String>,
    /// `updated`, unparsed
    pub updated: Option<String>,
    /// `author`
    pub author: Option<String>,
    /// `summary`
    pub summary: Option<String>,
    /// `tags`
    pub tags: Option<Vec<String>>,
}

impl Fields {
    /// Fields from `over` replace those in `self`.
    pub fn overlay(mut self, over: &Fields) -> Fields {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f.clone(); } )* };
        }
        take!(title, slug, published, updated, author, summary, tags);
        self
    }
}

/// An input document split into its front matter fields and its Markdown body.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The name used in messages (file path or `<stdin>`).
    pub name: String,
    /// Front matter fields (all `None` without front matter).
    pub fields: Fields,
    /// The body, exactly as written after the front matter.
    pub body: String,
}

/// Decodes raw input bytes and splits front matter from the body.
///
/// Errors: empty input, invalid UTF-8, unterminated or invalid TOML, unknown keys, wrong types.
pub fn parse_source(name: &str, bytes: &[u8]) -> Result<Source> {
    if bytes.is_empty() {
        return Err(Error::invalid(name, "input", "the input is empty"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            name,
            "input",
            format!(
                "is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
                e.valid_up_to()
            ),
        )
    })?;
    // Editors that convert encodings can stack byte order marks; none of them is text.
    let text = text.trim_start_matches('\u{FEFF}');
    let mut lines = lines_with_endings(text);
    if !lines.next().is_some_and(is_fence) {
        return Ok(Source {
            name: name.to_string(),
            fields: Fields::default(),
            body: text.to_string(),
        });
    }
    let front_start = text.len() - lines.as_str().len();
    let Some(fence) = lines.find(|line| is_fence(line)) else {
        return Err(Error::invalid(
            name,
            "front matter",
            "is not terminated: no closing +++ line",
        ));
    };
    let body_start = text.len() - lines.as_str().len();
    let front_end = body_start - fence.len();
    let front = &text[front_start..front_end];
    // TOML knows LF and CRLF only; a file saved with old Mac line endings (CR) is still read.
    let front = if front.contains('\r') {
        std::borrow::Cow::Owned(front.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(front)
    };
    let fields = parse_front_matter(name, &front)?;
    Ok(Source {
        name: name.to_string(),
        fields,
        body: text[body_start..].to_string(),
    })
}

/// A front matter fence: `+++`, then optionally spaces or tabs an editor left behind.
fn is_fence(line: &str) -> bool {
    line.trim_end_matches(['\r', '\n'])
        .trim_end_matches([' ', '\t'])
        == "+++"
}

/// The lines of `text`, each with its ending: `\n`, `\r\n`, or a lone `\r` (old Mac files).
/// [`Lines::as_str`] gives what is left, so offsets come without counting.
fn lines_with_endings(text: &str) -> Lines<'_> {
    Lines { rest: text }
}

/// See [`lines_with_endings`].
struct Lines<'a> {
    rest: &'a str,
}

impl<'a> Lines<'a> {
    /// The text not yet returned.
    fn as_str(&self) -> &'a str {
        self.rest
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let end = match self.rest.find(['\n', '\r']) {
            None => self.rest.len(),
            Some(i) if self.rest[i..].starts_with("\r\n") => i + 2,
            Some(i) => i + 1,
        };
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(line)
    }
}

const KNOWN_KEYS: &str = "title, slug, published, updated, author, summary, tags";

fn parse_front_matter(name: &str, toml_text: &str) -> Result<Fields> {
    let table: toml::Table = toml::from_str(toml_text).map_err(|e| {
        let line = e.span().map(|s| {
            toml_text[..s.start.min(toml_text.len())]
                .matches('\n')
                .count()
                + 2
        });
        let message = e.message().trim().replace('\n', " ");
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        Error::invalid(
            name,
            "front matter",
            format!("is not valid TOML: {message}{at}"),
        )
    })?;
    let mut fields = Fields::default();
    for (key, value) in &table {
        match key.as_str() {
            "title" => fields.title = Some(expect_string(name, "title", value)?),
            "slug" => fields.slug = Some(expect_string(name, "slug", value)?),
            "author" => fields.author = Some(expect_string(name, "author", value)?),
            "summary" => fields.summary = Some(expect_string(name, "summary", value)?),
            "published" => fields.published = Some(expect_date(name, "published", value)?),
            "updated" => fields.updated = Some(expect_date(name, "updated", value)?),
            "tags" => {
                let toml::Value::Array(items) = value else {
                    return Err(Error::invalid(
                        name,
                        "tags",
                        format!("expected an array of strings, found {}", value.type_str()),
                    ));
                };
                let tags = items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(s) => Ok(s.clone()),
                        other => Err(Error::invalid(
                            name,
                            "tags",
                            format!(
                                "expected an array of strings, found a {} in it",
                                other.type_str()
                            ),
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?;
                fields.tags = Some(tags);
            }
            other => {
                return Err(Error::InvalidArticle {
                    source_name: name.to_string(),
                    field: "front matter",
                    reason: format!("unknown key \"{other}\" (known keys: {KNOWN_KEYS})"),
                })
            }
        }
    }
    Ok(fields)
}

fn expect_string(name: &str, field: &'static str, value: &toml::Value) -> Result<String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        other => Err(Error::invalid(
            name,
            field,
            format!("expected a string, found {}", other.type_str()),
        )),
    }
}

/// Dates may be TOML strings or TOML date-times (`published = 2026-09-14T08:30:00+02:00`).
fn expect_date(name: &str, field: &'static str, value: &toml::Value) -> Result<String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        other => Err(Error::invalid(
            name,
            field,
            format!("expected a date, found {}", other.type_str()),
        )),
    }
}

/// Limits that come from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
}

/// What an article's body is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFormat {
    /// Markdown (CommonMark with tables, footnotes and strikethrough): what authors write.
    #[default]
    Markdown,
    /// HTML, as imported from another platform (sanitized by the same rules as Markdown's
    /// output, its links absolute).
    Html,
}

impl BodyFormat {
    /// The word stored in the database and shown by `show` and `list --json`.
    pub fn word(self) -> &'static str {
        match self {
            BodyFormat::Markdown => "markdown",
            BodyFormat::Html => "html",
        }
    }

    /// Reads [`BodyFormat::word`] back; anything else is Markdown.
    pub fn from_word(word: &str) -> BodyFormat {
        if word == "html" {
            BodyFormat::Html
        } else {
            BodyFormat::Markdown
        }
    }
}

/// A validated article, ready to store. Every field has been checked; the body has had the
/// characters XML cannot carry removed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewArticle {
    /// Where it came from, for messages.
    pub source_name: String,
    /// The headline, trimmed.
    pub title: String,
    /// The URL slug.
    pub slug: String,
    /// When it is (or will be) published.
    pub published: Timestamp,
    /// Last substantive change; equals `published` for a new article unless given.
    pub updated: Timestamp,
    /// The byline; `None` means the site's default author.
    pub author: Option<String>,
    /// The dek; `None` when the author gave none.
    pub summary: Option<String>,
    /// Tags in the author's order, without duplicates (names that differ only in case or
    /// spacing are one tag; the first spelling is kept).
    pub tags: Vec<Tag>,
    /// The body, in `body_format`.
    pub body: String,
    /// What the body is written in.
    pub body_format: BodyFormat,
    /// The entry id it keeps from elsewhere (an imported article); `None` for a new article,
    /// which gets a `tag:` id of the site's own.
    pub entry_id: Option<String>,
}

/// Validates merged `fields` and `body` into a [`NewArticle`].
///
/// `published` defaults to `now`; `updated` defaults to `published`. Errors name the source,
/// the field and the problem.
pub fn validate(
    source_name: &str,
    fields: &Fields,
    body: &str,
    now: DateTime<Utc>,
    limits: Limits,
) -> Result<NewArticle> {
    let invalid = |field: &'static str, reason: String| Error::invalid(source_name, field, reason);

    let title = match fields.title.as_deref().map(str::trim) {
        None => {
            return Err(invalid(
                "title",
                "is missing (add title = \"…\" to the front matter or pass --title)".into(),
            ))
        }
        Some("") => return Err(invalid("title", "is blank".into())),
        Some(t) => t,
    };
    if let Some(c) = title.chars().find(|&c| c.is_control() || !is_feed_char(c)) {
        return Err(invalid(
            "title",
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(invalid(
            "title",
            format!("is longer than {MAX_TITLE_CHARS} characters"),
        ));
    }

    let slug = match fields.slug.as_deref() {
        Some(slug) => {
            if !is_valid_slug(slug) {
                return Err(invalid(
                    "slug",
                    format!(
                        "{slug:?} is not a valid slug (use lowercase letters, digits and single hyphens, like geneva-talks, at most {} characters)",
                        crate::text::MAX_SLUG_LEN
                    ),
                ));
            }
            slug.to_string()
        }
        None => slugify(title).unwrap_or_else(|| stable_short_id("article", title)),
    };

    let published = match fields.published.as_deref() {
        Some(text) => Timestamp::parse(text).map_err(|reason| invalid("published", reason))?,
        None => Timestamp::from_utc(now),
    };
    let updated = match fields.updated.as_deref() {
        Some(text) => Timestamp::parse(text).map_err(|reason| invalid("updated", reason))?,
        None => published.clone(),
    };
    for (field, at) in [("published", &published), ("updated", &updated)] {
        use chrono::Datelike;
        if at.at.year() < MIN_YEAR || at.at.with_timezone(&Utc).year() < MIN_YEAR {
            return Err(invalid(
                field,
                format!(
                    "{} is before {MIN_YEAR}: RSS dates (RFC 822) cannot carry it",
                    at.rfc3339()
                ),
            ));
        }
    }
    if updated.epoch() < published.epoch() {
        return Err(invalid(
            "updated",
            format!(
                "{} is earlier than published ({})",
                updated.rfc3339(),
                published.rfc3339()
            ),
        ));
    }

    let author = match fields.author.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            return Err(invalid(
                "author",
                "is blank (leave it out to use the site's author)".into(),
            ))
        }
        Some(a) if a.chars().any(|c| c.is_control() || !is_feed_char(c)) => {
            return Err(invalid("author", "contains control characters".into()))
        }
        Some(a) => Some(a.to_string()),
    };

    let summary = match fields.summary.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) if s.chars().any(|c| !is_feed_char(c)) => {
            return Err(invalid("summary", "contains control characters".into()))
        }
        Some(s) if s.chars().count() > MAX_SUMMARY_CHARS => {
            return Err(invalid(
                "summary",
                format!("is longer than {MAX_SUMMARY_CHARS} characters"),
            ))
        }
        Some(s) => Some(s.to_string()),
    };

    // Refused at the first distinct name past the limit, before any later name is looked at:
    // 100,000 distinct tags cost no more than 31 (repeated names are checked as they come).
    let mut tags: Vec<Tag> = Vec::new();
    let mut keys = std::collections::HashSet::new();
    for name in fields.tags.iter().flatten() {
        let name = Tag::check_name(name).map_err(|reason| invalid("tags", reason))?;
        if keys.insert(tag_key(name)) {
            if tags.len() == MAX_TAGS {
                return Err(invalid("tags", format!("more than {MAX_TAGS} tags")));
            }
            tags.push(Tag::named(name));
        }
    }

    if body.len() > limits.max_body_bytes {
        return Err(invalid(
            "body",
            format!(
                "is {} bytes, more than the limit of {} bytes (storage.max_article_bytes)",
                body.len(),
                limits.max_body_bytes
            ),
        ));
    }
    let body = strip_non_feed_chars(body);
    if body.trim().is_empty() {
        return Err(invalid(
            "body",
            "is empty (write the article after the front matter)".into(),
        ));
    }

    Ok(NewArticle {
        source_name: source_name.to_string(),
        title: title.to_string(),
        slug,
        published,
        updated,
        author,
        summary,
        tags,
        body: body.into_owned(),
        body_format: BodyFormat::Markdown,
        entry_id: None,
    })
}

/// A published (or scheduled) article as the archive holds it: what feeds and pages show.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// Row id (internal).
    pub id: i64,
    /// The `tag:` URI minted at insert; never changes.
    pub entry_id: String,
    /// Current URL slug.
    pub slug: String,
    /// Headline.
    pub title: String,
    /// The dek as written, if any.
    pub summary: Option<String>,
    /// Plain-text opening of the body, used where no summary was written.
    pub excerpt: String,
    /// Byline, if the article names one.
    pub author: Option<String>,
    /// The body as written, in `body_format` (Markdown unless imported as HTML).
    pub body_markdown: String,
    /// What `body_markdown` is written in.
    pub body_format: BodyFormat,
    /// Sanitized HTML with absolute links.
    pub body_html: String,
    /// Publication moment.
    pub published: Timestamp,
    /// Last update.
    pub updated: Timestamp,
    /// True while `published` lies in the future and nothing shows it yet.
    pub is_pending: bool,
    /// Tags in the author's order.
    pub tags: Vec<Tag>,
}

impl Article {
    /// The summary a reader sees: the author's dek, or the body's opening.
    pub fn description(&self) -> &str {
        self.summary.as_deref().unwrap_or(&self.excerpt)
    }
}

/// The newest `updated` among `articles`, in seconds since the epoch; 0 for none.
pub fn newest_update(articles: &[Article]) -> i64 {
    articles
        .iter()
        .map(|a| a.updated.epoch())
        .max()
        .unwrap_or(0)
}

/// An entry that was deleted, kept so feeds can tell readers (RFC 6721).
#[derive(Debug, Clone, PartialEq)]
pub struct Tombstone {
    /// The deleted entry's id.
    pub entry_id: String,
    /// Its last slug.
    pub slug: String,
    /// Its last title.
    pub title: String,
    /// When it was deleted.
    pub deleted: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .to_utc()
    }
    const LIMITS: Limits = Limits {
        max_body_bytes: 1000,
    };

    fn parse(text: &str) -> Result<NewArticle> {
        let source = parse_source("story.md", text.as_bytes())?;
        validate("story.md", &source.fields, &source.body, now(), LIMITS)
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn front_matter_and_body() {
        let a = parse("+++\ntitle = \"Talks resume\"\npublished = \"2026-09-14T08:30:00+02:00\"\ntags = [\"North Korea\", \"north korea\", \"Asia\"]\n+++\nGENEVA — Body.\n").unwrap();
        assert_eq!(a.title, "Talks resume");
        assert_eq!(a.slug, "talks-resume");
        assert_eq!(a.published.rfc3339(), "2026-09-14T08:30:00+02:00");
        assert_eq!(a.published.rfc2822(), "Mon, 14 Sep 2026 08:30:00 +0200");
        for (written, rss) in [
            (
                "2026-09-14T08:30:00+05:30",
                "Mon, 14 Sep 2026 08:30:00 +0530",
            ),
            (
                "2026-09-14T08:30:00-09:30",
                "Mon, 14 Sep 2026 08:30:00 -0930",
            ),
            // Minutes other than 00 and 30: the same instant in UTC.
            (
                "2026-09-14T08:30:00+05:45",
                "Mon, 14 Sep 2026 02:45:00 +0000",
            ),
            (
                "2026-09-14T08:30:00+12:45",
                "Sun, 13 Sep 2026 19:45:00 +0000",
            ),
        ] {
            let t = Timestamp::parse(written).expect("a timestamp");
            assert_eq!(t.rfc2822(), rss, "{written}");
        }
        assert_eq!(a.updated, a.published);
        assert_eq!(
            a.tags.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(),
            ["north-korea", "asia"]
        );
        assert_eq!(a.body, "GENEVA — Body.\n");
    }

    #[test]
    fn toml_native_dates_and_date_only() {
        let a = parse("+++\ntitle = \"x\"\npublished = 2026-09-14T08:30:00.75+02:00\nupdated = 2026-09-15\n+++\nb").unwrap();
        assert_eq!(a.published.rfc3339(), "2026-09-14T08:30:00+02:00");
        assert_eq!(a.updated.rfc3339(), "2026-09-15T00:00:00Z");
    }

    #[test]
    fn defaults_published_to_now() {
        let a = parse("+++\ntitle = \"x\"\n+++\nb").unwrap();
        assert_eq!(a.published.rfc3339(), "2026-11-28T12:00:00Z");
    }

    #[test]
    fn refusals_name_field_and_problem() {
        assert!(message("").contains("story.md: input: the input is empty"));
        assert!(message("+++\ntitle = \"x\"\nbody").contains("front matter: is not terminated"));
        assert!(message("+++\ntitle = \n+++\nb").contains("front matter: is not valid TOML"));
        assert!(
            message("+++\ntitle = \"x\"\ncolour = 1\n+++\nb").contains("unknown key \"colour\"")
        );
        assert!(
            message("+++\ntitle = 5\n+++\nb").contains("title: expected a string, found integer")
        );
        assert!(
            message("+++\ntitle = \"x\"\ntags = \"a\"\n+++\nb").contains("tags: expected an array")
        );
        assert!(message("+++\n+++\nb").contains("title: is missing"));
        assert!(message("+++\ntitle = \"  \"\n+++\nb").contains("title: is blank"));
        assert!(message("+++\ntitle = \"a\\u0000b\"\n+++\nb")
            .contains("title: contains the control character U+0000"));
        assert_eq!(
            message("+++\ntitle = \"x\"\npublished = \"2025-13-45\"\n+++\nb"),
            "story.md: published: \"2025-13-45\" is not a date (use RFC 3339 or YYYY-MM-DD)"
        );
        assert!(
            message("+++\ntitle = \"x\"\npublished = \"2025-01-02T10:00:00\"\n+++\nb")
                .contains("has no time zone")
        );
        assert!(message("+++\ntitle = \"x\"\nslug = \"../x\"\n+++\nb")
            .contains("slug: \"../x\" is not a valid slug"));
        assert!(message("+++\ntitle = \"x\"\nslug = \"a/b\"\n+++\nb").contains("slug:"));
        assert!(message("+++\ntitle = \"x\"\n+++\n  \n").contains("body: is empty"));
        assert!(
            message(&format!("+++\ntitle = \"x\"\n+++\n{}", "a".repeat(1001)))
                .contains("storage.max_article_bytes")
        );
        assert!(message(
            "+++\ntitle = \"x\"\npublished = \"2026-02-02\"\nupdated = \"2026-02-01\"\n+++\nb"
        )
        .contains("updated:"));
        let err = parse_source("f.md", b"\xff\xfe").unwrap_err().to_string();
        assert!(err.contains("f.md: input: is not UTF-8"), "{err}");
    }

    #[test]
    fn dates_before_1900_are_refused() {
        assert_eq!(
            message("+++\ntitle = \"x\"\npublished = \"0001-01-01\"\n+++\nb"),
            "story.md: published: 0001-01-01T00:00:00Z is before 1900: RSS dates (RFC 822) cannot carry it"
        );
        assert!(
            message("+++\ntitle = \"x\"\npublished = \"1900-01-01T00:30:00+01:00\"\n+++\nb")
                .contains("before 1900")
        );
        assert!(parse("+++\ntitle = \"x\"\npublished = \"1900-01-01T00:00:00Z\"\n+++\nb").is_ok());
    }

    #[test]
    fn body_loses_only_characters_xml_cannot_carry() {
        let a = parse("+++\ntitle = \"x\"\n+++\na\u{1}b “c” ]]> d\n").unwrap();
        assert_eq!(a.body, "ab “c” ]]> d\n");
    }

    #[test]
    fn front_matter_fences_may_carry_trailing_blanks_and_any_line_ending() {
        for (what, text) in [
            ("trailing spaces", "+++  \ntitle = \"T\"\n+++ \t\nBody.\n"),
            (
                "trailing tab, CRLF",
                "+++\t\r\ntitle = \"T\"\r\n+++\r\nBody.\r\n",
            ),
            (
                "CR only",
                "+++\rtitle = \"T\"\rtags = [\"a\",\r  \"b\"]\r+++\rBody.\r",
            ),
            (
                "two BOMs",
                "\u{FEFF}\u{FEFF}+++\ntitle = \"T\"\n+++\nBody.\n",
            ),
        ] {
            let source =
                parse_source("s.md", text.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(source.fields.title.as_deref(), Some("T"), "{what}");
            assert!(
                source.body.starts_with("Body."),
                "{what}: {:?}",
                source.body
            );
        }
        let source =
            parse_source("s.md", "+++\rtitle = \"T\"\r+++\rOne.\rTwo.\r".as_bytes()).unwrap();
        assert_eq!(
            source.body, "One.\rTwo.\r",
            "the body keeps its line endings"
        );
        let err = parse_source("s.md", b"+++\rtitle = \"T\"\rbad = \r+++\rBody.")
            .unwrap_err()
            .to_string();
        assert!(err.contains("(line 3)"), "{err}");
        // Text before the fence, or a fence with more on its line, is not front matter.
        for text in [
            " +++\ntitle = \"T\"\n+++\nb",
            "+++ x\ntitle = \"T\"\n+++\nb",
        ] {
            assert_eq!(parse_source("s.md", text.as_bytes()).unwrap().body, text);
        }
        let err = parse_source("s.md", b"+++ \ntitle = \"T\"\n++ \nb").unwrap_err();
        assert!(err.to_string().contains("no closing +++ line"), "{err}");
    }

    #[test]
    fn tags_differ_by_name_not_by_slug() {
        let tags = |list: &str| {
            parse(&with_lines(&format!("tags = {list}")))
                .unwrap()
                .tags
                .into_iter()
                .map(|t| (t.name, t.slug))
                .collect::<Vec<_>>()
        };
        let pair = |name: &str, slug: &str| (name.to_string(), slug.to_string());
        assert_eq!(
            tags("[\"C\", \"C++\", \"C#\"]"),
            [
                pair("C", "c"),
                pair("C++", "c-plus-plus"),
                pair("C#", "c-sharp")
            ]
        );
        assert_eq!(
            tags("[\"Rust\", \"rust\", \" RUST \", \"North  Korea\", \"north korea\"]"),
            [pair("Rust", "rust"), pair("North  Korea", "north-korea")],
            "case and spacing make no new tag; the first spelling stays"
        );
        // Duplicates do not count towards the limit; the 31st distinct name does.
        let mut names: Vec<String> = (0..MAX_TAGS).map(|i| format!("\"t{i}\"")).collect();
        names.extend((0..MAX_TAGS).map(|i| format!("\"T{i}\"")));
        assert_eq!(tags(&format!("[{}]", names.join(", "))).len(), MAX_TAGS);
        names.push("\"one more\"".into());
        let text = with_lines(&format!("tags = [{}]", names.join(", ")));
        assert!(
            message(&text).contains("tags: more than 30 tags"),
            "{}",
            message(&text)
        );
        // The later names are not even looked at: an empty one after the 31st goes unnoticed.
        names.push("\"\"".into());
        let text = with_lines(&format!("tags = [{}]", names.join(", ")));
        assert!(
            message(&text).contains("tags: more than 30 tags"),
            "{}",
            message(&text)
        );
    }

    #[test]
    fn no_front_matter_is_plain_body() {
        let s = parse_source("s.txt", "Just text.\n+++\n".as_bytes()).unwrap();
        assert_eq!(s.fields, Fields::default());
        assert_eq!(s.body, "Just text.\n+++\n");
    }

    #[test]
    fn titles_without_usable_letters_get_a_stable_slug() {
        let slug = |title: &str| {
            parse(&format!("+++\ntitle = {title:?}\n+++\nb"))
                .unwrap()
                .slug
        };
        // `article-` and the first 8 hex digits of the SHA-256 of the trimmed title.
        assert_eq!(slug("???"), "article-a03b221c");
        assert_eq!(slug("!!!"), "article-e84c538e");
        assert_eq!(slug("“…”"), "article-063cb34f");
        assert_eq!(slug("  ???  "), slug("???"), "the title is trimmed first");
        assert_eq!(slug("???"), slug("???"), "the same title, the same slug");
        // Scripts and emoji that transliterate get a readable slug instead.
        assert_eq!(slug("📈🎉"), "chart-with-upwards-trend-tada");
        assert_eq!(slug("北京"), "bei-jing");
    }

    /// Front matter with `title = "x"`, the given extra lines, and a one-word body.
    fn with_lines(lines: &str) -> String {
        format!("+++\ntitle = \"x\"\n{lines}\n+++\nb")
    }

    #[test]
    fn dates_without_a_zone_are_told_apart_from_non_dates() {
        for local in ["2025-01-02T10:00:00", "2025-01-02 10:00:00"] {
            let text = with_lines(&format!("published = \"{local}\""));
            assert!(message(&text).contains("has no time zone"), "{local}");
        }
        for not_a_date in [
            "2025-13-45T10:00:00",
            "2025-01-02X10:00:00",
            "2025-01-02T10:00:00+0200",
            "2025-01-0",
        ] {
            let text = with_lines(&format!("published = \"{not_a_date}\""));
            assert!(message(&text).contains("is not a date"), "{not_a_date}");
        }
        let evening = Timestamp::parse("2026-09-14T23:30:00-05:00").unwrap();
        assert_eq!(
            evening.date(),
            "2026-09-14",
            "the date in the author's offset"
        );
    }

    #[test]
    fn fields_at_their_limits() {
        let tags = |n: usize| {
            let names: Vec<String> = (0..n).map(|i| format!("\"t{i}\"")).collect();
            format!("tags = [{}]", names.join(", "))
        };
        let accepted = [
            format!("title = \"{}\"", "t".repeat(MAX_TITLE_CHARS)),
            format!("tags = [\"{}\"]", "t".repeat(MAX_TAG_CHARS)),
            format!("summary = \"{}\"", "s".repeat(MAX_SUMMARY_CHARS)),
            tags(MAX_TAGS),
        ];
        for lines in &accepted {
            // A second title line would be a TOML error: replace the default one.
            let text = with_lines(lines).replacen("title = \"x\"\ntitle", "title", 1);
            assert!(parse(&text).is_ok(), "{lines}: {}", message(&text));
        }
        for (lines, field) in [
            (
                format!("title = \"{}\"", "t".repeat(MAX_TITLE_CHARS + 1)),
                "title: is longer than 500 characters",
            ),
            (
                format!("tags = [\"{}\"]", "t".repeat(MAX_TAG_CHARS + 1)),
                "tags: a tag is longer than 100 characters",
            ),
            (
                format!("summary = \"{}\"", "s".repeat(MAX_SUMMARY_CHARS + 1)),
                "summary: is longer than 2000 characters",
            ),
            (tags(MAX_TAGS + 1), "tags: more than 30 tags"),
        ] {
            let text = with_lines(&lines).replacen("title = \"x\"\ntitle", "title", 1);
            assert!(
                message(&text).contains(field),
                "{field}: {}",
                message(&text)
            );
        }
        let body = |n: usize| format!("+++\ntitle = \"x\"\n+++\n{}", "a".repeat(n));
        assert!(parse(&body(LIMITS.max_body_bytes)).is_ok());
        assert!(message(&body(LIMITS.max_body_bytes + 1)).contains("body: is"));
    }

    #[test]
    fn control_characters_are_refused_in_every_short_field() {
        // A tab is a control character XML can carry; U+FFFE is not a control character
        // but XML cannot carry it. Neither belongs in a one-line field.
        for bad in ["a\\tb", "a\\uFFFEb", "a\\u0001b"] {
            for (key, field) in [
                ("title", "title: contains the control character"),
                ("author", "author: contains control characters"),
                ("summary", "summary: contains control characters"),
                ("tags", "tags: tag"),
            ] {
                let value = if key == "tags" {
                    format!("[\"{bad}\"]")
                } else {
                    format!("\"{bad}\"")
                };
                let text = with_lines(&format!("{key} = {value}")).replacen(
                    "title = \"x\"\ntitle",
                    "title",
                    1,
                );
                if key == "summary" && bad == "a\\tb" {
                    // A summary may hold a tab: it is a paragraph, not a line.
                    assert!(parse(&text).is_ok(), "{}", message(&text));
                    continue;
                }
                assert!(
                    message(&text).contains(field),
                    "{key} {bad}: {}",
                    message(&text)
                );
            }
        }
        let a = parse(&with_lines(
            "author = \" Jane Doe \"\nsummary = \" The dek. \"",
        ))
        .unwrap();
        assert_eq!(a.author.as_deref(), Some("Jane Doe"));
        assert_eq!(a.summary.as_deref(), Some("The dek."));
        assert!(message(&with_lines("author = \" \"")).contains("author: is blank"));
        assert_eq!(parse(&with_lines("summary = \" \"")).unwrap().summary, None);
    }

    #[test]
    fn toml_errors_name_the_line_of_the_file() {
        // Line 1 is `+++`, so the TOML's second line is the file's third.
        let err = message("+++\ntitle = \"x\"\nbad = \n+++\nb");
        assert!(err.contains("(line 3)"), "{err}");
    }

    #[test]
    fn flags_override_front_matter_field_by_field() {
        let front = Fields {
            title: Some("Front".into()),
            summary: Some("Dek".into()),
            tags: Some(vec!["A".into()]),
            ..Fields::default()
        };
        let flags = Fields {
            title: Some("Flag".into()),
            author: Some("Jane".into()),
            ..Fields::default()
        };
        let merged = front.overlay(&flags);
        assert_eq!(
            merged,
            Fields {
                title: Some("Flag".into()),
                summary: Some("Dek".into()),
                author: Some("Jane".into()),
                tags: Some(vec!["A".into()]),
                ..Fields::default()
            }
        );
    }
}
