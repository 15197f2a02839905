//! Runs an import: reads each source, turns its entries into articles, stores them a batch at
//! a time in one transaction ([`crate::publish::import::Session`]), records the old URLs, and
//! says what happened in a [`Report`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::{fetch, Body, Entry, Item, SkipReason, SourceFormat, TagOrigin, Unreadable};
use crate::article::{self, BodyFormat, Fields, Limits, Timestamp};
use crate::config::Config;
use crate::publish::import::{Incoming, Placed, Session};
use crate::routes::{old_url_key, Format, Route};
use crate::store::Store;
use crate::{Error, Result};

/// Articles stored per batch: bodies of a batch are rendered on every core at once.
const BATCH: usize = 256;

/// How `feedsvc import` runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Read every source as this format instead of recognising it.
    pub format: Option<SourceFormat>,
    /// Read and check everything, write nothing.
    pub dry_run: bool,
    /// Import what can be read and list the rest, instead of refusing the import.
    pub skip_unreadable: bool,
}

/// One item named in a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Named {
    /// The source it came from (file, directory or URL).
    pub source: String,
    /// Where it is in the source: `item 12 (line 340)`, or a file name.
    pub position: String,
    /// Its entry id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its title, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Why it is listed.
    pub reason: String,
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.source, self.position)?;
        match (&self.title, &self.id) {
            (Some(title), _) => write!(f, " \"{title}\"")?,
            (None, Some(id)) => write!(f, " <{id}>")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.reason)
    }
}

/// What an import did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// The sources, as given.
    pub sources: Vec<String>,
    /// Documents read (files, or fetched feed pages).
    pub documents: usize,
    /// New articles stored.
    pub imported: usize,
    /// Articles stored before whose content changed.
    pub updated: usize,
    /// Articles stored before, unchanged.
    pub unchanged: usize,
    /// Items left out, each with its reason (the first [`MAX_LISTED`]; `skipped_count` counts
    /// them all).
    pub skipped: Vec<Named>,
    /// How many items were left out.
    pub skipped_count: usize,
    /// How many items were left out, by reason.
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// Items that could not be read (left out with `--skip-unreadable`; otherwise they refused
    /// the import); the first [`MAX_LISTED`].
    pub unreadable: Vec<Named>,
    /// How many items could not be read.
    pub unreadable_count: usize,
    /// New articles whose slug was taken, stored under another one.
    pub renamed: Vec<Named>,
    /// True when nothing was written on purpose.
    pub dry_run: bool,
}

/// Most items a report lists of each kind (skipped, unreadable): an export of a million
/// comments is counted, not held in memory.
pub const MAX_LISTED: usize = 10_000;

impl Report {
    fn add_skipped(&mut self, named: Named) {
        // The reason without its detail: `other kind (wp_block)` counts as `other kind`.
        let reason = named
            .reason
            .split(" (")
            .next()
            .unwrap_or_default()
            .to_string();
        *self.skipped_by_reason.entry(reason).or_default() += 1;
        self.skipped_count += 1;
        if self.skipped.len() < MAX_LISTED {
            self.skipped.push(named);
        }
    }

    fn add_unreadable(&mut self, named: Named) {
        self.unreadable_count += 1;
        if self.unreadable.len() < MAX_LISTED {
            self.unreadable.push(named);
        }
    }

    /// The report as lines of text: a line per listed item, then the totals.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for named in &self.skipped {
            out.push_str(&format!("skipped {named}\n"));
        }
        for named in &self.renamed {
            out.push_str(&format!("renamed {named}\n"));
        }
        for named in &self.unreadable {
            out.push_str(&format!("unreadable {named}\n"));
        }
        for (what, count, listed) in [
            ("skipped", self.skipped_count, self.skipped.len()),
            ("unreadable", self.unreadable_count, self.unreadable.len()),
        ] {
            if count > listed {
                out.push_str(&format!(
                    "and {} more {what} items, not listed\n",
                    count - listed
                ));
            }
        }
        if !self.skipped_by_reason.is_empty() {
            let reasons: Vec<String> = self
                .skipped_by_reason
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            out.push_str(&format!("skipped by reason: {}\n", reasons.join(", ")));
        }
        let would = if self.dry_run {
            "dry run, nothing written: "
        } else {
            ""
        };
        out.push_str(&format!(
            "{would}imported {} articles, updated {}, unchanged {}, skipped {}{} ({})\n",
            self.imported,
            self.updated,
            self.unchanged,
            self.skipped_count,
            if self.unreadable_count == 0 {
                String::new()
            } else {
                format!(", unreadable {}", self.unreadable_count)
            },
            self.sources.join(", ")
        ));
        out
    }
}

/// Progress, for a bar on a terminal.
pub trait Progress {
    /// A source starts; `bytes` is its size when known.
    fn source(&self, name: &str, bytes: Option<u64>);
    /// `bytes` of the source read so far (files of a directory, for a directory).
    fn bytes(&self, bytes: u64);
    /// `items` items taken so far, in all.
    fn items(&self, items: u64);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn source(&self, _: &str, _: Option<u64>) {}
    fn bytes(&self, _: u64) {}
    fn items(&self, _: u64) {}
}

/// Limits on fetching a feed by URL.
pub fn fetch_limits() -> fetch::FetchLimits {
    fetch::FetchLimits {
        timeout: std::time::Duration::from_secs(30),
        max_bytes: 64 * 1024 * 1024,
        max_redirects: 5,
        max_documents: 10_000,
    }
}

/// Imports `sources` into `store`. Errors: a source that cannot be read or is none of the
/// formats; unreadable items without `skip_unreadable` (listing them all); the database's.
/// On error, and on a dry run, nothing is written.
pub fn run(
    store: &mut Store,
    cfg: &Config,
    sources: &[String],
    options: &Options,
    progress: &(dyn Progress + Sync),
) -> Result<Report> {
    let now = Utc::now();
    let mut importer = Importer {
        session: Session::begin(store, cfg, now)?,
        cfg,
        now,
        options,
        progress,
        report: Report {
            sources: sources.to_vec(),
            dry_run: options.dry_run,
            ..Report::default()
        },
        batch: Vec::with_capacity(BATCH),
        seen_ids: HashSet::new(),
        history_ids: None,
        seen_slugs: HashMap::new(),
        tags: BTreeSet::new(),
        platforms: BTreeSet::new(),
        failure: None,
        items: 0,
        source: String::new(),
    };
    for source in sources {
        importer.source = source.clone();
        importer.read(source)?;
        if let Some(e) = importer.failure.take() {
            return Err(e);
        }
    }
    importer.flush()?;
    if let Some(e) = importer.failure.take() {
        return Err(e);
    }
    let Importer {
        mut session,
        mut report,
        tags,
        platforms,
        ..
    } = importer;
    if report.unreadable_count > 0 && !options.skip_unreadable {
        return Err(refusal(&report));
    }
    redirect_old_feeds(&mut session, &platforms, &tags)?;
    if options.dry_run {
        return Ok(report);
    }
    session.finish()?;
    report.dry_run = false;
    Ok(report)
}

/// The error of an import refused for its unreadable items.
fn refusal(report: &Report) -> Error {
    const LISTED: usize = 20;
    let mut lines: Vec<String> = report
        .unreadable
        .iter()
        .take(LISTED)
        .map(|n| n.to_string())
        .collect();
    if report.unreadable_count > LISTED {
        lines.push(format!("and {} more", report.unreadable_count - LISTED));
    }
    Error::Import(format!(
        "{} unreadable: {} (nothing was imported; fix them, or pass --skip-unreadable to import the rest)",
        if report.unreadable_count == 1 {
            "an item is".to_string()
        } else {
            format!("{} items are", report.unreadable_count)
        },
        lines.join("; ")
    ))
}

struct Importer<'a, 's> {
    session: Session<'s>,
    cfg: &'a Config,
    now: DateTime<Utc>,
    options: &'a Options,
    progress: &'a (dyn Progress + Sync),
    report: Report,
    batch: Vec<(Incoming, Named)>,
    /// Entry ids taken in this import (a second item with one is a duplicate).
    seen_ids: HashSet<String>,
    /// Entry ids met in the documents of the feed history being fetched: its archives repeat
    /// entries of the feed and of each other, and the first met (the newest) is the one kept.
    history_ids: Option<HashSet<String>>,
    /// Slugs of Markdown articles in this import, with their file.
    seen_slugs: HashMap<String, String>,
    /// Tags met, with where they came from (their old URLs are answered).
    tags: BTreeSet<(String, OldTag)>,
    /// Platforms entries came from (their feed URLs are answered).
    platforms: BTreeSet<Platform>,
    /// A database error met inside a sink, which can only stop the reading.
    failure: Option<Error>,
    items: u64,
    source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum OldTag {
    BloggerLabel,
    WordPressCategory(String),
    WordPressTag(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Platform {
    Blogger,
    WordPress,
}

impl Importer<'_, '_> {
    fn read(&mut self, source: &str) -> Result<()> {
        if fetch::is_url(source) {
            return self.read_url(source);
        }
        let path = Path::new(source);
        if path.is_dir()
            && self
                .options
                .format
                .is_none_or(|f| f == SourceFormat::Markdown)
        {
            return self.read_directory(path);
        }
        let file = std::fs::File::open(path).map_err(|e| Error::Read {
            path: path.to_path_buf(),
            reason: match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                _ => format!("cannot read: {e}"),
            },
        })?;
        let size = file.metadata().ok().map(|m| m.len());
        self.progress.source(source, size);
        let counted = Counted {
            inner: file,
            read: 0,
            progress: self.progress,
        };
        let mut input = BufReader::with_capacity(64 * 1024, counted);
        let format = match self.options.format {
            Some(format) => format,
            None => {
                let head = input.fill_buf().map_err(|e| Error::Read {
                    path: path.to_path_buf(),
                    reason: format!("cannot read: {e}"),
                })?;
                super::detect(head).ok_or_else(|| not_a_source(source))?
            }
        };
        if format == SourceFormat::Markdown {
            return Err(Error::invalid(
                source,
                "file",
                "is a file; --format markdown reads a directory of article files",
            ));
        }
        self.report.documents += 1;
        self.read_file(input, source, format)
    }

    /// Reads an export or feed file: the reader parses on a thread of its own while this one
    /// renders and stores what it has read, so parsing costs no time of its own.
    fn read_file(
        &mut self,
        input: impl BufRead + Send,
        name: &str,
        format: SourceFormat,
    ) -> Result<()> {
        use std::sync::atomic::{AtomicBool, Ordering};
        /// Items read ahead of the one being stored.
        const AHEAD: usize = 2 * BATCH;
        match format {
            SourceFormat::Blogger => self.platforms.insert(Platform::Blogger),
            SourceFormat::WordPress => self.platforms.insert(Platform::WordPress),
            _ => false,
        };
        let stop = AtomicBool::new(false);
        let (items, received) = std::sync::mpsc::sync_channel::<Item>(AHEAD);
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| -> Result<()> {
                // Both are the thread's: the sender is dropped when the reading ends, which
                // ends the loop below.
                let (mut input, items) = (input, items);
                let mut sink = |item: Item| {
                    if stop.load(Ordering::Relaxed) || items.send(item).is_err() {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                };
                match format {
                    SourceFormat::Blogger => super::blogger::read(&mut input, name, &mut sink),
                    SourceFormat::WordPress => super::wordpress::read(&mut input, name, &mut sink),
                    _ if starts_like_json(&mut input) => {
                        super::jsonfeed::read(&mut input, name, None, &mut sink).map(drop)
                    }
                    _ => super::feed::read(&mut input, name, None, &mut sink).map(drop),
                }
            });
            for item in received.iter() {
                if self.take(item).is_break() {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
            drop(received);
            match reader.join() {
                Ok(read) => read,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Reads one XML or JSON document of `format` and returns its history links.
    fn read_document(
        &mut self,
        input: &mut dyn BufRead,
        name: &str,
        base: Option<&str>,
        format: SourceFormat,
    ) -> Result<super::HistoryLinks> {
        let mut platform = None;
        let links = {
            let mut sink = |item: Item| self.take(item);
            match format {
                SourceFormat::Blogger => {
                    platform = Some(Platform::Blogger);
                    super::blogger::read(input, name, &mut sink)?;
                    super::HistoryLinks::default()
                }
                SourceFormat::WordPress => {
                    platform = Some(Platform::WordPress);
                    super::wordpress::read(input, name, &mut sink)?;
                    super::HistoryLinks::default()
                }
                SourceFormat::Feed => {
                    if starts_like_json(input) {
                        super::jsonfeed::read(input, name, base, &mut sink)?
                    } else {
                        super::feed::read(input, name, base, &mut sink)?
                    }
                }
                SourceFormat::Markdown => super::HistoryLinks::default(),
            }
        };
        if let Some(platform) = platform {
            self.platforms.insert(platform);
        }
        Ok(links)
    }

    fn read_url(&mut self, url: &str) -> Result<()> {
        self.progress.source(url, None);
        self.history_ids = Some(HashSet::new());
        let limits = fetch_limits();
        let forced = self.options.format;
        let mut read = |doc: fetch::Document<'_>| -> Result<super::HistoryLinks> {
            let final_url = doc.url.to_string();
            let format = match forced {
                Some(format) => format,
                None => {
                    let head = doc.body.fill_buf().map_err(|e| Error::Read {
                        path: final_url.clone().into(),
                        reason: format!("cannot read: {e}"),
                    })?;
                    super::detect(head).ok_or_else(|| not_a_source(&final_url))?
                }
            };
            self.report.documents += 1;
            // Items are named by the document they are in.
            self.source = final_url.clone();
            let links = self.read_document(doc.body, &final_url, Some(&final_url), format)?;
            if self.failure.is_some() {
                // Stop following: the import is refused already.
                return Ok(super::HistoryLinks::default());
            }
            Ok(links)
        };
        let fetched = fetch::fetch_history(url, &limits, &mut read);
        self.history_ids = None;
        fetched?;
        Ok(())
    }

    fn read_directory(&mut self, dir: &Path) -> Result<()> {
        let found = crate::input::article_files(dir).map_err(|e| Error::Import(e.to_string()))?;
        for skipped in &found.directories {
            eprintln!(
                "feedsvc: skipped {}: is a directory (import reads the files of one directory, \
                 not the directories in it)",
                skipped.display()
            );
        }
        if found.files.is_empty() {
            return Err(Error::Import(format!(
                "{}: no *.md article files in this directory",
                dir.display()
            )));
        }
        self.progress
            .source(&dir.display().to_string(), Some(found.files.len() as u64));
        self.report.documents += found.files.len();
        let limits = Limits {
            max_body_bytes: self.cfg.storage.max_article_bytes,
        };
        // Files are read and checked a batch at a time, on every core.
        let (max_bytes, now) = (self.cfg.storage.max_article_bytes, self.now);
        let read = |file: &std::path::PathBuf| {
            crate::input::read_source(file, max_bytes)
                .map_err(|e| e.to_string())
                .and_then(|source| {
                    article::validate(&source.name, &source.fields, &source.body, now, limits)
                        .map_err(|e| e.to_string())
                })
        };
        let mut n = 0;
        for chunk in found.files.chunks(BATCH) {
            let articles = crate::parallel::map(chunk, 8, read);
            for (file, article) in chunk.iter().zip(articles) {
                n += 1;
                self.take_markdown(n, file, article);
                if self.failure.is_some() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Takes the `n`th Markdown file of a directory, read and checked.
    fn take_markdown(
        &mut self,
        n: usize,
        file: &Path,
        article: std::result::Result<crate::article::NewArticle, String>,
    ) {
        {
            let name = file.display().to_string();
            let named = |reason: String| Named {
                source: self.source.clone(),
                position: name.clone(),
                id: None,
                title: None,
                reason,
            };
            self.items += 1;
            self.progress.bytes(n as u64 + 1);
            self.progress.items(self.items);
            let article = match article {
                Ok(article) => article,
                Err(reason) => {
                    self.report.add_unreadable(named(reason));
                    return;
                }
            };
            if let Some(other) = self.seen_slugs.insert(article.slug.clone(), name.clone()) {
                self.report.add_unreadable(named(format!(
                    "slug: \"{}\" is also the slug of {other}",
                    article.slug
                )));
                return;
            }
            let named = Named {
                title: Some(article.title.clone()),
                ..named(String::new())
            };
            self.push(
                Incoming {
                    article,
                    base_url: None,
                    old_paths: Vec::new(),
                    dated: true,
                },
                named,
            );
        }
    }

    /// The sink every reader sends its items to.
    fn take(&mut self, item: Item) -> ControlFlow<()> {
        self.items += 1;
        if self.items % 64 == 0 {
            self.progress.items(self.items);
        }
        match item {
            Item::Entry(entry) => {
                let repeated_in_history = self
                    .history_ids
                    .as_mut()
                    .is_some_and(|ids| !ids.insert(entry.id.clone()));
                if repeated_in_history {
                    // Another document of the same history carries it too.
                } else if !self.seen_ids.insert(entry.id.clone()) {
                    self.report.add_skipped(Named {
                        source: self.source.clone(),
                        position: entry.position.to_string(),
                        id: Some(entry.id.clone()),
                        title: entry.title.clone(),
                        reason: SkipReason::Duplicate.word().to_string(),
                    });
                } else {
                    let named = Named {
                        source: self.source.clone(),
                        position: entry.position.to_string(),
                        id: Some(entry.id.clone()),
                        title: entry.title.clone(),
                        reason: String::new(),
                    };
                    match self.incoming(*entry) {
                        Ok(incoming) => self.push(incoming, named),
                        Err(reason) => self.report.add_unreadable(Named { reason, ..named }),
                    }
                }
            }
            Item::Skipped(s) => {
                let reason = match &s.detail {
                    Some(detail) => format!("{} ({detail})", s.reason.word()),
                    None => s.reason.word().to_string(),
                };
                self.report.add_skipped(Named {
                    source: self.source.clone(),
                    position: s.position.to_string(),
                    id: s.id,
                    title: s.title,
                    reason,
                });
            }
            Item::Unreadable(Unreadable {
                position,
                id,
                title,
                reason,
            }) => self.report.add_unreadable(Named {
                source: self.source.clone(),
                position: position.to_string(),
                id,
                title,
                reason,
            }),
        }
        if self.failure.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn push(&mut self, incoming: Incoming, named: Named) {
        self.batch.push((incoming, named));
        if self.batch.len() >= BATCH {
            if let Err(e) = self.flush() {
                self.failure = Some(e);
            }
        }
    }

    /// Stores the batch.
    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let (incoming, named): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let wanted: Vec<String> = incoming.iter().map(|i| i.article.slug.clone()).collect();
        let outcomes = self.session.put(incoming)?;
        for ((outcome, named), wanted) in outcomes.into_iter().zip(named).zip(wanted) {
            match outcome {
                Ok(outcome) => match outcome.placed {
                    Placed::Imported => {
                        self.report.imported += 1;
                        if outcome.slug != wanted {
                            self.report.renamed.push(Named {
                                reason: format!(
                                    "slug \"{wanted}\" is taken; stored at \"{}\"",
                                    outcome.slug
                                ),
                                ..named
                            });
                        }
                    }
                    Placed::Updated => self.report.updated += 1,
                    Placed::Unchanged => self.report.unchanged += 1,
                    Placed::Deleted => self.report.add_skipped(Named {
                        reason: "deleted here (feedsvc delete); left deleted".to_string(),
                        ..named
                    }),
                },
                Err(reason) => self.report.add_unreadable(Named { reason, ..named }),
            }
        }
        Ok(())
    }

    /// An entry as an article to store, or why it cannot be one.
    fn incoming(&mut self, entry: Entry) -> std::result::Result<Incoming, String> {
        let Entry {
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
            old_paths,
            scheduled: _,
        } = entry;
        let (mut body, format) = match body {
            Body::Html(html) => (html, BodyFormat::Html),
            Body::Text(text) => (text_to_html(&text), BodyFormat::Html),
        };
        if body.trim().is_empty() {
            // A post with a title only (a link post): its summary, else its link, is the body.
            body = match (&summary, &link) {
                (Some(summary), _) if !summary.trim().is_empty() => {
                    format!("<p>{}</p>", crate::text::escape_markup(summary))
                }
                (_, Some(link)) => format!(
                    "<p><a href=\"{}\">{}</a></p>",
                    crate::text::escape_markup(link),
                    crate::text::escape_markup(link)
                ),
                _ => return Err("has no body, summary or link".to_string()),
            };
        }
        let title = match title.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => {
                let text = crate::render::body::html_text(&body, 200);
                let words: Vec<&str> = text.split_whitespace().collect();
                let mut title = String::new();
                for word in words {
                    if title.chars().count() + word.chars().count() > 80 {
                        title.push('…');
                        break;
                    }
                    if !title.is_empty() {
                        title.push(' ');
                    }
                    title.push_str(word);
                }
                if title.is_empty() {
                    return Err("has no title and no text to make one of".to_string());
                }
                title
            }
        };
        let slug = slug
            .as_deref()
            .and_then(usable_slug)
            .or_else(|| link.as_deref().and_then(slug_of_url));
        let dated = published.is_some() || updated.is_some();
        let published = published
            .or_else(|| updated.clone())
            .unwrap_or_else(|| Timestamp::from_utc(self.now));
        let updated = updated
            .filter(|u| u.epoch() >= published.epoch())
            .unwrap_or_else(|| published.clone());
        let summary = summary
            .map(|s| cut_chars(s.trim(), 2000))
            .filter(|s| !s.is_empty());
        let mut names = Vec::new();
        for tag in &tags {
            let old = match &tag.origin {
                TagOrigin::BloggerLabel => Some(OldTag::BloggerLabel),
                TagOrigin::WordPressCategory { nicename } => {
                    nicename.clone().map(OldTag::WordPressCategory)
                }
                TagOrigin::WordPressTag { nicename } => nicename.clone().map(OldTag::WordPressTag),
                TagOrigin::Feed => None,
            };
            if let Some(old) = old {
                if self.tags.len() < 100_000 {
                    self.tags.insert((tag.name.trim().to_string(), old));
                }
            }
            names.push(tag.name.clone());
        }
        let fields = Fields {
            title: Some(title),
            slug,
            published: Some(published.rfc3339()),
            updated: Some(updated.rfc3339()),
            author: author
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty()),
            summary,
            tags: Some(names),
        };
        let name = format!("{}: {position}", self.source);
        let limits = Limits {
            max_body_bytes: self.cfg.storage.max_article_bytes,
        };
        let mut article =
            article::validate(&name, &fields, &body, self.now, limits).map_err(|e| match e {
                Error::InvalidArticle { field, reason, .. } => format!("{field}: {reason}"),
                other => other.to_string(),
            })?;
        article.body_format = format;
        article.entry_id = Some(id);
        let base_url = link
            .as_deref()
            .filter(|l| url::Url::parse(l).is_ok())
            .map(str::to_string);
        let mut paths = Vec::new();
        for old in link.iter().chain(old_paths.iter()) {
            if let Some(path) = old_path(old) {
                if Route::parse(self.cfg, &path).is_none() && !paths.contains(&path) {
                    paths.push(path);
                }
            }
        }
        Ok(Incoming {
            article,
            base_url,
            old_paths: paths,
            dated,
        })
    }
}

/// Answers the source platforms' well-known feed URLs, and the old URLs of their tags.
fn redirect_old_feeds(
    session: &mut Session<'_>,
    platforms: &BTreeSet<Platform>,
    tags: &BTreeSet<(String, OldTag)>,
) -> Result<()> {
    let site = |format| Route::feed(None, format);
    for platform in platforms {
        let feeds: &[(&str, Format)] = match platform {
            Platform::Blogger => &[
                ("/feeds/posts/default", Format::Atom),
                ("/feeds/posts/default?alt=atom", Format::Atom),
                ("/feeds/posts/default?alt=rss", Format::Rss),
                ("/feeds/posts/summary", Format::Atom),
                ("/feeds/posts/summary?alt=rss", Format::Rss),
            ],
            Platform::WordPress => &[
                ("/feed/", Format::Rss),
                ("/feed/rss2/", Format::Rss),
                ("/feed/rss/", Format::Rss),
                ("/feed/atom/", Format::Atom),
                ("/?feed=rss2", Format::Rss),
                ("/?feed=rss", Format::Rss),
                ("/?feed=atom", Format::Atom),
            ],
        };
        for (path, format) in feeds {
            session.redirect_route(path, &site(*format))?;
        }
    }
    for (name, old) in tags {
        let Some(slug) = session.tag_slug(name)? else {
            continue;
        };
        let tag = Some(slug.as_str());
        let page = Route::tag_page(&slug);
        let (rss, atom) = (
            Route::feed(tag, Format::Rss),
            Route::feed(tag, Format::Atom),
        );
        // A label is one path segment: what would end it (`/`, `?`, `#`) is escaped.
        let escaped: String = name
            .chars()
            .map(|c| match c {
                '%' => "%25".to_string(),
                '/' => "%2F".to_string(),
                '?' => "%3F".to_string(),
                '#' => "%23".to_string(),
                c => c.to_string(),
            })
            .collect();
        let name = &escaped;
        let routes: Vec<(String, &Route)> = match old {
            OldTag::BloggerLabel => vec![
                (format!("/search/label/{name}"), &page),
                (format!("/feeds/posts/default/-/{name}"), &atom),
                (format!("/feeds/posts/default/-/{name}?alt=rss"), &rss),
                (format!("/feeds/posts/summary/-/{name}"), &atom),
                (format!("/feeds/posts/summary/-/{name}?alt=rss"), &rss),
            ],
            OldTag::WordPressCategory(nice) | OldTag::WordPressTag(nice) => {
                let base = match old {
                    OldTag::WordPressCategory(_) => "category",
                    _ => "tag",
                };
                vec![
                    (format!("/{base}/{nice}/"), &page),
                    (format!("/{base}/{nice}/feed/"), &rss),
                    (format!("/{base}/{nice}/feed/rss2/"), &rss),
                    (format!("/{base}/{nice}/feed/atom/"), &atom),
                ]
            }
        };
        for (path, route) in routes {
            if let Some(path) = old_path(&path) {
                session.redirect_route(&path, route)?;
            }
        }
    }
    Ok(())
}

/// The key under which an old URL (absolute, or a path with its query) is answered: its path
/// normalized as request paths are, with the query when that names the page (`/?p=123`).
pub fn old_path(old: &str) -> Option<String> {
    let base = url::Url::parse("http://old.invalid/").ok()?;
    let url = base.join(old.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let crate::http::target::Target::Document(path) =
        crate::http::target::route(url.path()).ok()?
    else {
        return None;
    };
    Some(old_url_key(&path, url.query()))
}

/// The slug a platform gave, if it is one (percent-decoded, lowercased, or made one).
fn usable_slug(given: &str) -> Option<String> {
    let decoded = percent_decode(given.trim());
    if crate::text::is_valid_slug(&decoded) {
        return Some(decoded);
    }
    crate::text::slugify(&decoded)
}

/// The slug in an old URL: its last path segment without `.html` (`/2025/09/story.html` ->
/// `story`; `/2025/09/14/story/` -> `story`). None for `/?p=123` and the like.
fn slug_of_url(link: &str) -> Option<String> {
    let url = url::Url::parse(link).ok()?;
    let segment = url.path_segments()?.rev().find(|s| !s.is_empty())?;
    let stem = [".html", ".htm", ".php", ".aspx"]
        .iter()
        .find_map(|ext| segment.strip_suffix(ext))
        .unwrap_or(segment);
    if stem == "index" {
        return None;
    }
    usable_slug(stem)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Plain text as HTML paragraphs (blank lines part them; single line ends become `<br>`).
fn text_to_html(text: &str) -> String {
    let mut html = String::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        html.push_str("<p>");
        html.push_str(&crate::text::escape_markup(paragraph).replace('\n', "<br>\n"));
        html.push_str("</p>\n");
    }
    html
}

fn cut_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{}…", cut.trim_end())
}

/// True when the document's first character (after byte order marks and white space) is `{`.
fn starts_like_json(input: &mut dyn BufRead) -> bool {
    let head = input.fill_buf().unwrap_or_default();
    head.iter()
        .find(|b| !b.is_ascii_whitespace() && !matches!(**b, 0xEF | 0xBB | 0xBF))
        == Some(&b'{')
}

fn not_a_source(name: &str) -> Error {
    Error::invalid(
        name,
        "file",
        "is not a Blogger or WordPress export, nor an RSS, Atom or JSON feed (use --format to say which it is)",
    )
}

/// A reader that counts the bytes read, for progress.
struct Counted<'p, R> {
    inner: R,
    read: u64,
    progress: &'p (dyn Progress + Sync),
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        self.progress.bytes(self.read);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A million comments are counted, by reason, and the first ones listed: the report's
    /// memory stays bounded.
    #[test]
    fn skipped_items_past_the_listing_limit_are_counted_not_kept() {
        let mut report = Report::default();
        for n in 0..MAX_LISTED + 5 {
            report.add_skipped(Named {
                source: "export.xml".into(),
                position: format!("item {n}"),
                id: None,
                title: None,
                reason: if n % 2 == 0 {
                    "comment (Reader)"
                } else {
                    "page"
                }
                .into(),
            });
        }
        assert_eq!(report.skipped.len(), MAX_LISTED);
        assert_eq!(report.skipped_count, MAX_LISTED + 5);
        assert_eq!(report.skipped_by_reason["comment"], MAX_LISTED / 2 + 3);
        assert_eq!(report.skipped_by_reason["page"], MAX_LISTED / 2 + 2);
        let text = report.text();
        assert!(
            text.contains("and 5 more skipped items, not listed"),
            "{text}"
        );
        assert!(
            text.contains(&format!("skipped {}", MAX_LISTED + 5)),
            "{text}"
        );
    }

    #[test]
    fn slugs_come_from_old_urls() {
        assert_eq!(
            slug_of_url("https://x.blogspot.com/2025/09/some-story.html").as_deref(),
            Some("some-story")
        );
        assert_eq!(
            slug_of_url("https://example.com/2025/09/14/talks-resume/").as_deref(),
            Some("talks-resume")
        );
        assert_eq!(slug_of_url("https://example.com/?p=123"), None);
        assert_eq!(
            usable_slug("%e4%b8%ad%e5%9b%bd-economy").as_deref(),
            Some("zhong-guo-economy")
        );
    }

    #[test]
    fn old_paths_are_normalized_and_keep_a_naming_query() {
        assert_eq!(
            old_path("https://x.blogspot.com/2025/09/a%20b.html?m=1").as_deref(),
            Some("/2025/09/a b.html")
        );
        assert_eq!(
            old_path("https://example.com/?p=123").as_deref(),
            Some("/?p=123")
        );
        assert_eq!(
            old_path("/feeds/posts/default?alt=rss").as_deref(),
            Some("/feeds/posts/default?alt=rss")
        );
        assert_eq!(old_path("javascript:alert(1)"), None);
    }
}
