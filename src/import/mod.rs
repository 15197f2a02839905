//! `feedsvc import`: bring an archive from elsewhere (a directory of our Markdown, a Blogger or
//! WordPress export, an RSS, Atom or JSON feed file, or a feed's URL) while keeping what its
//! readers rely on: every entry id verbatim, and the old URLs (answered with 301s).
//!
//! Each reader (`blogger`, `wordpress`, `feed`, `jsonfeed`) streams the items of one source to
//! a sink as [`Item`]s, one at a time, so memory stays bounded whatever the source's size. The
//! importer (`importer`) turns entries into articles and stores them.
//!
//! Readers never fail on one bad item: an item that cannot be read becomes
//! [`Item::Unreadable`] (the importer decides, with `--skip-unreadable`, whether that refuses the
//! import). A reader returns an error only when the source as a whole is not of its format.

use crate::article::Timestamp;

pub mod blogger;
pub mod feed;
pub mod fetch;
pub mod importer;
pub mod jsonfeed;
pub mod wordpress;
pub mod xml;

/// The formats `feedsvc import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// A directory of feedsvc Markdown articles.
    Markdown,
    /// A Blogger export ("Back up content"): Atom with Blogger's kinds, or the 2018 format.
    Blogger,
    /// A WordPress export (WXR 1.0–1.2).
    WordPress,
    /// An RSS 2.0, Atom 1.0 or JSON Feed document.
    Feed,
}

/// Where an item sits in its source, for messages: `item 12 (line 340)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// 1-based index among the source's items (entries, posts, comments…).
    pub item: usize,
    /// 1-based line where the item starts, when known.
    pub line: Option<u64>,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item {}", self.item)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// The body of an imported entry, as the source gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// HTML (Atom `type="html"` or `xhtml`, RSS `description`/`content:encoded`, WordPress
    /// `content:encoded`, JSON Feed `content_html`). Unsanitized: the importer sanitizes it.
    Html(String),
    /// Plain text (Atom `type="text"`, JSON Feed `content_text`).
    Text(String),
}

/// Where a tag came from on the old platform, so its old URLs can be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOrigin {
    /// A Blogger label (`/search/label/NAME`, `/feeds/posts/default/-/NAME`).
    BloggerLabel,
    /// A WordPress category, with its `nicename` (`/category/NICENAME/`).
    WordPressCategory { nicename: Option<String> },
    /// A WordPress tag, with its `nicename` (`/tag/NICENAME/`).
    WordPressTag { nicename: Option<String> },
    /// A feed's category (no old URL known).
    Feed,
}

/// A tag of an imported entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTag {
    /// The display name (Blogger label, WordPress category name, feed category label or term).
    pub name: String,
    /// Where it came from.
    pub origin: TagOrigin,
}

/// An item that becomes an article.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Where it is in the source.
    pub position: Position,
    /// The entry id, verbatim (Blogger's `tag:` id, WordPress's `guid`, Atom `id`, RSS `guid`,
    /// JSON Feed `id`). Never empty: an item without one is [`Item::Unreadable`], except
    /// that RSS items without `guid` use their `link` (what readers do).
    pub id: String,
    /// The headline as plain text (markup in an HTML title already turned into text).
    pub title: Option<String>,
    /// The old absolute URL of the article's page (Atom `link rel=alternate`, RSS `link`,
    /// WordPress `link`, JSON Feed `url`).
    pub link: Option<String>,
    /// The slug the platform gives (`wp:post_name`, percent-decoded; the last segment of
    /// `blogger:filename` without `.html`), if any.
    pub slug: Option<String>,
    /// First publication, with the source's offset.
    pub published: Option<Timestamp>,
    /// Last update, with the source's offset.
    pub updated: Option<Timestamp>,
    /// The author's display name.
    pub author: Option<String>,
    /// The dek as plain text (WordPress excerpt, Atom summary when there is also content, JSON
    /// Feed `summary`).
    pub summary: Option<String>,
    /// Tags in source order (duplicates allowed: the importer folds them).
    pub tags: Vec<ImportTag>,
    /// The body.
    pub body: Body,
    /// Other old paths (with query) answering for this entry, beside `link`'s: WordPress's
    /// `/?p=ID`.
    pub old_paths: Vec<String>,
    /// True for an item meant to appear later (WordPress `future`). Informational: an article
    /// waits while its published moment is ahead of the clock, and a `future` post whose moment
    /// has passed is published, as WordPress's own scheduler would on its next run.
    pub scheduled: bool,
}

/// Why an item is not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// A draft (Blogger `app:draft`, `blogger:status` DRAFT, WordPress `draft`/`pending`/`auto-draft`).
    Draft,
    /// WordPress `private`, or trashed/deleted posts.
    Private,
    /// A page, not a post.
    Page,
    /// A comment.
    Comment,
    /// A WordPress attachment.
    Attachment,
    /// A WordPress navigation menu item.
    MenuItem,
    /// Blogger settings.
    Settings,
    /// Blogger template (layout).
    Template,
    /// Another kind of item (revisions, blocks, custom CSS…).
    Other,
    /// An entry id already seen earlier in this import.
    Duplicate,
}

impl SkipReason {
    /// The word used in the report.
    pub fn word(self) -> &'static str {
        match self {
            SkipReason::Draft => "draft",
            SkipReason::Private => "private",
            SkipReason::Page => "page",
            SkipReason::Comment => "comment",
            SkipReason::Attachment => "attachment",
            SkipReason::MenuItem => "menu item",
            SkipReason::Settings => "settings",
            SkipReason::Template => "template",
            SkipReason::Other => "other kind",
            SkipReason::Duplicate => "duplicate",
        }
    }
}

/// An item of the source that is not an article to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is.
    pub position: Position,
    /// Its id, when it has one.
    pub id: Option<String>,
    /// Its title, when it has one.
    pub title: Option<String>,
    /// Why it is left out.
    pub reason: SkipReason,
    /// A detail for the report (the WordPress post type, say), if useful.
    pub detail: Option<String>,
}

/// An item that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Where it is.
    pub position: Position,
    /// Its id, when that much could be read.
    pub id: Option<String>,
    /// Its title, when that much could be read.
    pub title: Option<String>,
    /// What is wrong, in words: `no <id>`, `published: "x" is not a date`.
    pub reason: String,
}

/// One item of a source.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An article to import.
    Entry(Box<Entry>),
    /// Not an article (a draft, a comment…).
    Skipped(Skipped),
    /// Cannot be read.
    Unreadable(Unreadable),
}

/// What a sink answers: go on, or stop reading (the import is refused already).
pub type Flow = std::ops::ControlFlow<()>;

/// Receives the items of a source, in order.
pub type Sink<'a> = dyn FnMut(Item) -> Flow + 'a;

/// Links of a feed document that lead to more of its history (RFC 5005).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryLinks {
    /// `rel="prev-archive"`: the previous archive document of an archived feed.
    pub prev_archive: Option<String>,
    /// `rel="next"`: the next page of a paged feed.
    pub next: Option<String>,
    /// True when the document says it is a complete feed (`fh:complete`).
    pub complete: bool,
}

/// Recognises a source's format from its first bytes (up to 64 KiB, fewer for a short file).
/// `None` when it is none of the formats.
pub fn detect(head: &[u8]) -> Option<SourceFormat> {
    let mut rest = head;
    while let Some(after) = rest.strip_prefix(b"\xEF\xBB\xBF") {
        rest = after;
    }
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &rest[start..];
    if rest.starts_with(b"{") {
        return Some(SourceFormat::Feed);
    }
    if !rest.starts_with(b"<") {
        return None;
    }
    let has = |needle: &[u8]| rest.windows(needle.len()).any(|w| w == needle);
    if has(b"wordpress.org/export/") || has(b"<wp:wxr_version") {
        Some(SourceFormat::WordPress)
    } else if has(b"schemas.google.com/blogger/") || has(b"tag:blogger.com,1999:blog-") {
        // A Blogger export names Blogger's kinds (or the 2018 namespace); a blog's public feed
        // carries `tag:blogger.com` ids too and reads as well with the Blogger reader.
        Some(SourceFormat::Blogger)
    } else if has(b"<rss") || has(b"<feed") || has(b"<rdf:RDF") {
        Some(SourceFormat::Feed)
    } else {
        None
    }
}
