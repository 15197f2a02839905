//! Command-line interface: argument types and dispatch to the library.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Parser, Subcommand};

use crate::article::Article;
use crate::article::Fields;
use crate::config::{Checkpoints, Config};
use crate::input::{article_files, read_source};
use crate::publish::{self, EditOutcome};
use crate::store::articles::ArticleQueries;
use crate::store::Store;
use crate::Error;

/// feedsvc: publish articles as RSS 2.0, Atom 1.0, JSON Feed 1.1 and HTML, and serve them.
#[derive(Debug, Parser)]
#[command(name = "feedsvc", version, about, long_about = None, after_help = "\
Examples:
  feedsvc serve                          start the server (creates the database on first run)
  feedsvc add story.md                   publish an article (Markdown with +++ TOML front matter)
  feedsvc add --title \"Talks resume\" --tag Diplomacy notes.txt
  feedsvc list                           list articles, newest first")]
pub struct Cli {
    /// Configuration file. Paths inside it are relative to its directory.
    #[arg(
        long,
        global = true,
        env = "FEEDSVC_CONFIG",
        default_value = "config.toml",
        value_name = "PATH"
    )]
    pub config: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish one or more articles; prints each article's URL.
    #[command(after_help = "\
Examples:
  feedsvc add story.md
  feedsvc add a.md b.md c.md             several files are one transaction: all or none
  feedsvc add --title \"Talks resume in Geneva\" --tag Diplomacy --tag \"North Korea\" story.txt
  cat story.md | feedsvc add -

Front matter (TOML between two +++ lines; every key optional but title):
  title, slug, published (RFC 3339 or YYYY-MM-DD), updated, author, summary, tags = [\"…\"]")]
    Add {
        /// Article files (Markdown with optional +++ front matter), or - for standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        fields: FieldFlags,
    },
    /// Bring a whole archive over, keeping entry ids and old URLs
    ///
    /// Reads a directory of `*.md` articles, a Blogger or WordPress export, an RSS, Atom or JSON
    /// feed file, or a feed's URL. Entry ids are kept verbatim and old URLs answer 301 to the
    /// new ones. One transaction; ends with a report.
    #[command(after_help = "\
Examples:
  feedsvc import old-site/posts/                      a directory of Markdown articles
  feedsvc import blog-12-02-2026.xml                  a Blogger export (\"Back up content\")
  feedsvc import newsroom.WordPress.2026-12-02.xml    a WordPress export (WXR)
  feedsvc import https://old.example.org/feed.xml     a feed, its whole history (RFC 5005)
  feedsvc import --dry-run --json export.xml          the report only; nothing written

The format is recognised from the content (--format overrides). Each entry keeps its id; its
slug comes from its old URL (or wp:post_name, blogger:filename, the title); a slug already taken
gets -2, -3… and the report says so. Drafts, private posts, pages, comments, attachments, menu
items, settings and templates are skipped and reported. An item that cannot be read refuses the
whole import (nothing is written) unless --skip-unreadable is given. Importing again updates
what changed and leaves the rest byte for byte as it was.")]
    Import {
        /// Directories, export or feed files, or http(s) URLs of feeds.
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<String>,
        /// Read every source as this format instead of recognising it.
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<ImportFormat>,
        /// Read and check everything and print the report; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Import the items that can be read and list the others, instead of refusing.
        #[arg(long)]
        skip_unreadable: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change an article; keeps its entry id, sets `updated` to now unless given.
    #[command(after_help = "\
Examples:
  feedsvc edit geneva-talks story.md     replace the article with the file's content
  feedsvc edit geneva-talks --title \"Geneva talks collapse\"
  feedsvc edit geneva-talks --slug geneva-talks-collapse   the old URL then redirects (301)")]
    Edit {
        /// The article's current slug.
        #[arg(id = "current_slug", value_name = "SLUG")]
        slug: String,
        /// New content (front matter and body), or - for standard input. Without it only the
        /// flags change.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        fields: FieldFlags,
    },
    /// Delete an article; its page answers 410 Gone and the Atom feed carries a tombstone.
    #[command(after_help = "Example:\n  feedsvc delete geneva-talks")]
    Delete {
        /// The article's slug.
        slug: String,
    },
    /// List articles, newest first: published date, slug, title.
    #[command(after_help = "Examples:\n  feedsvc list\n  feedsvc list --json | jq '.[0].url'")]
    List {
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one article's fields and body.
    #[command(
        after_help = "Examples:\n  feedsvc show geneva-talks\n  feedsvc show geneva-talks --json"
    )]
    Show {
        /// The article's slug.
        slug: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the WebSub subscriptions of the built-in hub, by feed: callback host, lease end,
    /// last delivery and its status, failures in a row.
    #[command(
        after_help = "Examples:\n  feedsvc subscriptions\n  feedsvc subscriptions --json | jq 'length'"
    )]
    Subscriptions {
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Subscribers, requests and pollers of each feed, as `feedsvc serve` counted them
    ///
    /// Subscribers are the latest count each aggregator reports in its User-Agent (Feedly,
    /// Inoreader, NewsBlur, Feedbin …) plus one per other reader (address and User-Agent) a
    /// day, on the most recent day counted. Counts reach the database every stats.flush_secs.
    #[command(after_help = "\
Examples:
  feedsvc stats                 the last 30 days
  feedsvc stats --days 7
  feedsvc stats --json | jq '.feeds[] | {path, subscribers}'")]
    Stats {
        /// Days to add up, ending today (UTC).
        #[arg(long, default_value_t = 30, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..=3650))]
        days: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy the databases into a backup file, consistently, while the server runs
    ///
    /// The archive goes to FILE and the counting's database, when there is one, beside it
    /// (`x.db` → `x-stats.db`). Each copy is one committed state (SQLite's VACUUM INTO): no
    /// article without its pages and feeds. Publishers and the server go on meanwhile. Restore
    /// by stopping the server and putting the copies in place of storage.database and its
    /// `-stats` sibling.
    #[command(after_help = "\
Examples:
  feedsvc backup /var/backups/feedsvc/2026-12-03.db
  feedsvc backup --force latest.db       replace an earlier backup of that name")]
    Backup {
        /// The backup file to write; an existing file is refused unless --force.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace FILE (and its `-stats` sibling) if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Write the whole site as files for a static host or CDN, updating an earlier export
    ///
    /// Every URL `feedsvc serve` answers becomes a file with the same bytes, with `.gz` and `.br`
    /// siblings and the document's Last-Modified as its mtime; the 301s, 410s and cache policy
    /// go to `_feedsvc/nginx-maps.conf` (nginx, see deploy/nginx-static.conf) and to
    /// `_redirects` and `_headers` (Netlify, Cloudflare Pages). Exporting again rewrites only
    /// the files whose bytes changed and removes those no longer part of the site.
    #[command(after_help = "\
Examples:
  feedsvc export /srv/www/news
  feedsvc export site/ && rsync -a --delete site/ host:/srv/www/news/")]
    Export {
        /// The directory to write: new, empty, or an earlier export.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Re-lint every published feed and page, and check that they agree with the archive.
    #[command(
        after_help = "Example:\n  feedsvc check      exits 1 and lists each problem when there is any"
    )]
    Check,
    /// Serve the site until SIGINT or SIGTERM.
    #[command(after_help = "\
Examples:
  feedsvc serve
  feedsvc serve --listen 0.0.0.0:8080
  RUST_LOG=debug feedsvc serve

On first start the database is created and the sample articles (storage.samples) are loaded.")]
    Serve {
        /// Address to listen on (default: server.listen from the configuration).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
}

/// Flags that supply or override front-matter fields.
#[derive(Debug, Args, Default)]
pub struct FieldFlags {
    /// Headline.
    #[arg(long)]
    title: Option<String>,
    /// URL slug (lowercase letters, digits, single hyphens).
    #[arg(long)]
    slug: Option<String>,
    /// Publication time: RFC 3339 with offset, or YYYY-MM-DD.
    #[arg(long)]
    published: Option<String>,
    /// Last update time: RFC 3339 with offset, or YYYY-MM-DD.
    #[arg(long)]
    updated: Option<String>,
    /// Byline (default: site.author).
    #[arg(long)]
    author: Option<String>,
    /// Dek: one or two sentences shown under the headline and in feeds.
    #[arg(long)]
    summary: Option<String>,
    /// A tag; repeat for several. Replaces the front matter's tags.
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

impl FieldFlags {
    fn fields(&self) -> Fields {
        Fields {
            title: self.title.clone(),
            slug: self.slug.clone(),
            published: self.published.clone(),
            updated: self.updated.clone(),
            author: self.author.clone(),
            summary: self.summary.clone(),
            tags: (!self.tags.is_empty()).then(|| self.tags.clone()),
        }
    }
}

/// Makes a panic (a bug) print one line instead of a backtrace. The process then exits non-zero;
/// in the server, tokio catches a panicking task, so one request fails and the rest are served.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("feedsvc: internal error: {message}{location} (please report this)");
    }));
}

/// The error and its causes on one line, skipping causes the message already includes; `None`
/// when the error is not worth a message (standard output closed early, as in `list | head`).
pub fn error_line(e: &anyhow::Error) -> Option<String> {
    let is_broken_pipe = e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if is_broken_pipe {
        return None;
    }
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    Some(line.replace('\n', " "))
}

/// Runs the parsed command. Errors carry one line of explanation for the user.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::load(&cli.config)?;
    crate::init_logging(&cfg.server.log);
    match cli.command {
        Command::Add { files, fields } => add(&cfg, &files, &fields.fields()),
        Command::Import {
            sources,
            format,
            dry_run,
            skip_unreadable,
            json,
        } => {
            let options = crate::import::importer::Options {
                format: format.map(ImportFormat::format),
                dry_run,
                skip_unreadable,
            };
            import(&cfg, &sources, &options, json)
        }
        Command::Edit { slug, file, fields } => {
            edit(&cfg, &slug, file.as_deref(), &fields.fields())
        }
        Command::Delete { slug } => {
            let mut store = open(&cfg, false)?;
            let deleted = publish::delete(&mut store, &cfg, &slug, Utc::now())?;
            fold_long_wal(&cfg, &mut store);
            println!("deleted {} ({})", deleted.slug, deleted.title);
            Ok(())
        }
        Command::List { json } => list(&cfg, json),
        Command::Show { slug, json } => show(&cfg, &slug, json),
        Command::Subscriptions { json } => subscriptions(&cfg, json),
        Command::Stats { days, json } => stats(&cfg, days, json),
        Command::Backup { file, force } => backup(&cfg, &file, force),
        Command::Export { dir } => export(&cfg, &dir),
        Command::Check => check(&cfg),
        Command::Serve { listen } => serve(&cfg, listen.as_deref()),
    }
}

/// Folds a long WAL back after a publish (see [`Store::fold_long_wal`]), unless Litestream
/// checkpoints (`storage.checkpoints`). The publish is committed either way, so a failure here
/// is only worth a debug line.
fn fold_long_wal(cfg: &Config, store: &mut Store) {
    if cfg.storage.checkpoints == Checkpoints::Litestream {
        return;
    }
    if let Err(e) = store.fold_long_wal() {
        tracing::debug!(error = %e, "checkpoint after publishing left for later");
    }
}

fn open(cfg: &Config, create: bool) -> anyhow::Result<Store> {
    Ok(Store::open(
        &cfg.storage.database,
        cfg.storage.busy_timeout,
        create,
    )?)
}

fn add(cfg: &Config, files: &[PathBuf], flags: &Fields) -> anyhow::Result<()> {
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        anyhow::bail!("standard input (-) can be given only once");
    }
    let sources = files
        .iter()
        .map(|f| read_source(f, cfg.storage.max_article_bytes))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let now = Utc::now();
    let articles = publish::prepare(cfg, &sources, flags, now)?;
    let mut store = open(cfg, true)?;
    let urls = publish::add(&mut store, cfg, &articles, now)?;
    fold_long_wal(cfg, &mut store);
    let mut out = std::io::stdout().lock();
    for (url, article) in urls.iter().zip(&articles) {
        writeln!(out, "{url}")?;
        if article.published.epoch() > now.timestamp() {
            eprintln!(
                "feedsvc: {} is scheduled: it appears in feeds and pages at {}",
                article.slug,
                article.published.rfc3339()
            );
        }
    }
    Ok(())
}

fn import(
    cfg: &Config,
    sources: &[String],
    options: &crate::import::importer::Options,
    json: bool,
) -> anyhow::Result<()> {
    // A refused import (or a dry run) writes nothing, not even a new database: without one,
    // the import builds a new database beside where it belongs and moves it into place only
    // once it is committed.
    let database = &cfg.storage.database;
    let scratch = (!database.exists()).then(|| {
        let mut name = database.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".import-{}", std::process::id()));
        database.with_file_name(name)
    });
    let mut store = match &scratch {
        Some(path) => {
            let store = Store::open(path, cfg.storage.busy_timeout, true)?;
            store.begin_bulk_load()?;
            store
        }
        None => open(cfg, true)?,
    };
    let progress = ImportProgress::new();
    let started = std::time::Instant::now();
    let result = crate::import::importer::run(&mut store, cfg, sources, options, &progress);
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "import read, stored and rendered"
    );
    progress.bar.finish_and_clear();
    if let Some(path) = &scratch {
        let remove = |path: &Path| {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        };
        if result.is_ok() && !options.dry_run {
            let folded = store.end_bulk_load();
            drop(store);
            // A link fails if a database appeared meanwhile (a server started): never
            // replace one.
            let placed = folded
                .map_err(anyhow::Error::from)
                .and_then(|()| std::fs::hard_link(path, database).map_err(anyhow::Error::from));
            remove(path);
            placed.with_context(|| {
                format!(
                    "{}: cannot put the new database in place (nothing was imported)",
                    database.display()
                )
            })?;
        } else {
            drop(store);
            remove(path);
        }
    } else if result.is_ok() && !options.dry_run && cfg.storage.checkpoints == Checkpoints::Feedsvc
    {
        // The import is committed; a checkpoint that cannot finish (a busy reader) only
        // leaves work for later. Litestream's checkpoints fold it when they are left to it.
        if let Err(e) = store.checkpoint_all() {
            tracing::debug!(error = %e, "checkpoint after import left for later");
        }
    }
    let report = result?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

/// `--format` of `feedsvc import`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ImportFormat {
    /// Blogger export (Atom, classic or 2018)
    Blogger,
    /// WordPress export (WXR)
    Wordpress,
    /// RSS 2.0, Atom 1.0 or JSON Feed
    Feed,
    /// A directory of feedsvc Markdown articles
    Markdown,
}

impl ImportFormat {
    fn format(self) -> crate::import::SourceFormat {
        use crate::import::SourceFormat;
        match self {
            ImportFormat::Blogger => SourceFormat::Blogger,
            ImportFormat::Wordpress => SourceFormat::WordPress,
            ImportFormat::Feed => SourceFormat::Feed,
            ImportFormat::Markdown => SourceFormat::Markdown,
        }
    }
}

/// The import's progress bar on a terminal: bytes (or files) read, items taken, items per
/// second, and the time left. Nothing on a pipe.
struct ImportProgress {
    bar: indicatif::ProgressBar,
    started: std::time::Instant,
}

impl ImportProgress {
    fn new() -> ImportProgress {
        use std::io::IsTerminal;
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {percent:>3}% {msg} (ETA {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        ImportProgress {
            bar,
            started: std::time::Instant::now(),
        }
    }
}

impl crate::import::importer::Progress for ImportProgress {
    fn source(&self, name: &str, size: Option<u64>) {
        self.bar.set_prefix(name.to_string());
        self.bar.set_length(size.unwrap_or(0));
        self.bar.set_position(0);
    }
    fn bytes(&self, bytes: u64) {
        self.bar.set_position(bytes);
    }
    fn items(&self, items: u64) {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "{items} items, {:.0} items/s",
            items as f64 / seconds
        ));
    }
}

fn edit(cfg: &Config, slug: &str, file: Option<&Path>, flags: &Fields) -> anyhow::Result<()> {
    let source = file
        .map(|f| read_source(f, cfg.storage.max_article_bytes))
        .transpose()?;
    let mut store = open(cfg, false)?;
    let outcome = publish::edit(&mut store, cfg, slug, source.as_ref(), flags, Utc::now())?;
    fold_long_wal(cfg, &mut store);
    match outcome {
        EditOutcome::Changed(url) => println!("{url}"),
        EditOutcome::Unchanged(url) => {
            println!("{url}");
            eprintln!("feedsvc: nothing changed; nothing was written");
        }
    }
    Ok(())
}

fn article_json(cfg: &Config, a: &Article, with_body: bool) -> serde_json::Value {
    let mut value = serde_json::json!({
        "slug": a.slug,
        "title": a.title,
        "url": crate::render::article_url(cfg, &a.slug),
        "id": a.entry_id,
        "published": a.published.rfc3339(),
        "updated": a.updated.rfc3339(),
        "author": crate::render::author_of(cfg, a),
        "summary": a.summary,
        "tags": a.tags.iter().map(|t| &t.written).collect::<Vec<_>>(),
        "scheduled": a.is_pending,
        "body_format": a.body_format.word(),
    });
    if with_body {
        value["body"] = a.body_markdown.clone().into();
        if a.body_format == crate::article::BodyFormat::Markdown {
            value["body_markdown"] = a.body_markdown.clone().into();
        }
        value["body_html"] = a.body_html.clone().into();
    }
    value
}

fn stats(cfg: &Config, days: u32, json: bool) -> anyhow::Result<()> {
    let today = crate::stats::day_of(Utc::now().timestamp_millis());
    let counts = crate::store::stats::StatsStore::open(
        &cfg.stats_database(),
        cfg.storage.busy_timeout,
        false,
    )?;
    let report = match counts {
        Some(counts) => crate::stats::report::build(&counts, days, today)?,
        None => crate::stats::report::build_empty(days, today),
    };
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    write!(out, "{}", stats_text(&report))?;
    Ok(())
}

/// The report of `feedsvc stats`, as lines to read.
fn stats_text(report: &crate::stats::report::Report) -> String {
    use crate::admin::dashboard::{decimal, group, human_bytes, percent};
    use std::fmt::Write;
    let mut out = String::new();
    let Some(latest) = &report.latest_day else {
        let _ = writeln!(
            out,
            "No feed was polled in the last {} days (counts reach the database every \
             stats.flush_secs while `feedsvc serve` runs).",
            report.days
        );
        return out;
    };
    let _ = writeln!(
        out,
        "{} subscribers on {latest} (the most recent day counted); {} days of requests.",
        group(report.total_subscribers),
        report.days
    );
    for feed in &report.feeds {
        let _ = writeln!(out, "\n{}", feed.path);
        let _ = writeln!(out, "  subscribers {:>12}", group(feed.subscribers));
        for reader in &feed.readers {
            let _ = writeln!(
                out,
                "    {:<22} {:>8}",
                reader.name,
                group(reader.subscribers)
            );
        }
        let _ = writeln!(
            out,
            "  requests {:>15}   answered 304: {}   sent: {}",
            group(feed.requests),
            percent(feed.not_modified, feed.requests),
            human_bytes(feed.bytes)
        );
        if feed.limited > 0 {
            let _ = writeln!(out, "  refused 429 {:>12}", group(feed.limited));
        }
        let _ = writeln!(
            out,
            "  pollers a day, summed {:>5}   of them without validators: {}",
            group(feed.pollers),
            group(feed.pollers_without_validators)
        );
    }
    if !report.worst_pollers.is_empty() {
        let _ = writeln!(
            out,
            "\nWorst pollers (requests without If-None-Match or If-Modified-Since, a day):"
        );
        for poller in &report.worst_pollers {
            let _ = writeln!(
                out,
                "  {:>9}  {}  ({})",
                decimal(poller.unconditional_per_day),
                poller.user_agent,
                poller.feeds.join(", ")
            );
        }
    }
    out
}

fn subscriptions(cfg: &Config, json: bool) -> anyhow::Result<()> {
    let now = Utc::now().timestamp();
    let list = if cfg.storage.database.exists() {
        open(cfg, false)?.subscriptions(now)?
    } else {
        Vec::new()
    };
    let topic_url = |topic: &str| {
        crate::routes::Route::parse(cfg, topic).map_or_else(|| topic.to_string(), |r| r.url(cfg))
    };
    let when = |epoch: i64| {
        chrono::DateTime::from_timestamp(epoch, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let mut out = std::io::stdout().lock();
    if json {
        let values: Vec<_> = list
            .iter()
            .map(|s| {
                serde_json::json!({
                    "topic": topic_url(&s.topic),
                    "callback_host": s.callback_host,
                    "lease_expires": when(s.expires_at),
                    "last_delivery": s.last_delivery_at.map(when),
                    "last_status": s.last_status,
                    "failures": s.failures,
                    "pending": s.pending,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?;
        return Ok(());
    }
    if list.is_empty() {
        let hub = match &cfg.websub.hub {
            crate::config::Hub::Builtin => "",
            crate::config::Hub::Off => " (websub.hub is \"\": no hub is advertised)",
            crate::config::Hub::External(_) => {
                " (websub.hub names an external hub, which keeps its own)"
            }
        };
        writeln!(out, "no active subscriptions{hub}")?;
        return Ok(());
    }
    let mut current = "";
    for s in &list {
        if s.topic != current {
            current = &s.topic;
            let count = list.iter().filter(|o| o.topic == s.topic).count();
            writeln!(
                out,
                "{}  ({count} subscriber{})",
                topic_url(&s.topic),
                if count == 1 { "" } else { "s" }
            )?;
        }
        let last = match (s.last_delivery_at, s.last_status) {
            (Some(at), Some(0)) => format!("last delivery {} failed (no answer)", when(at)),
            (Some(at), Some(status)) => format!("last delivery {} HTTP {status}", when(at)),
            _ => "no delivery yet".to_string(),
        };
        let failures = if s.failures > 0 {
            format!(
                ", {} failure{} in a row",
                s.failures,
                if s.failures == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        let pending = if s.pending { ", delivery pending" } else { "" };
        writeln!(
            out,
            "  {}  lease until {}  {last}{failures}{pending}",
            s.callback_host,
            when(s.expires_at)
        )?;
    }
    Ok(())
}

fn list(cfg: &Config, json: bool) -> anyhow::Result<()> {
    let database = &cfg.storage.database;
    if database
        .parent()
        .is_some_and(|dir| !dir.as_os_str().is_empty() && !dir.is_dir())
    {
        anyhow::bail!(
            "{}: the directory of the database does not exist (check storage.database in {})",
            database.display(),
            cfg.path.display()
        );
    }
    if !database.exists() {
        // No database yet means no articles.
        if json {
            println!("[]");
        }
        return Ok(());
    }
    let store = open(cfg, false)?;
    let articles = store.all_articles()?;
    let mut out = std::io::stdout().lock();
    if json {
        let values: Vec<_> = articles
            .iter()
            .map(|a| article_json(cfg, a, false))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?;
    } else {
        for a in &articles {
            let scheduled = if a.is_pending { "  (scheduled)" } else { "" };
            writeln!(
                out,
                "{}  {}  {}{scheduled}",
                a.published.date(),
                a.slug,
                a.title
            )?;
        }
    }
    Ok(())
}

fn show(cfg: &Config, slug: &str, json: bool) -> anyhow::Result<()> {
    let store = open(cfg, false)?;
    let article = store
        .article_by_slug(slug)?
        .ok_or_else(|| Error::NotFound {
            slug: slug.to_string(),
        })?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&article_json(cfg, &article, true))?
        )?;
        return Ok(());
    }
    writeln!(out, "title:     {}", article.title)?;
    writeln!(out, "slug:      {}", article.slug)?;
    writeln!(
        out,
        "url:       {}",
        crate::render::article_url(cfg, &article.slug)
    )?;
    writeln!(out, "id:        {}", article.entry_id)?;
    writeln!(
        out,
        "published: {}{}",
        article.published.rfc3339(),
        if article.is_pending {
            " (scheduled)"
        } else {
            ""
        }
    )?;
    writeln!(out, "updated:   {}", article.updated.rfc3339())?;
    writeln!(
        out,
        "author:    {}",
        crate::render::author_of(cfg, &article)
    )?;
    if let Some(summary) = &article.summary {
        writeln!(out, "summary:   {summary}")?;
    }
    let tags: Vec<&str> = article.tags.iter().map(|t| t.written.as_str()).collect();
    writeln!(out, "tags:      {}", tags.join(", "))?;
    writeln!(out, "body:      {}", article.body_format.word())?;
    writeln!(out)?;
    write!(out, "{}", article.body_markdown)?;
    Ok(())
}

fn backup(cfg: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    use crate::store::backup::check_destination;
    use crate::store::stats::{path_beside, StatsStore};
    if !cfg.storage.database.exists() {
        anyhow::bail!(
            "{}: no database to back up (storage.database in {})",
            cfg.storage.database.display(),
            cfg.path.display()
        );
    }
    let stats_file = path_beside(file);
    let counting = StatsStore::open(&cfg.stats_database(), cfg.storage.busy_timeout, false)?;
    // Both destinations are checked, and both copies made, before either is named: a backup
    // that fails leaves nothing behind.
    let live = [cfg.storage.database.clone(), cfg.stats_database()];
    check_destination(file, force, &live)?;
    if counting.is_some() {
        check_destination(&stats_file, force, &live)?;
    }
    let store = open(cfg, false)?;
    let archive = store.copy_for_backup(file)?;
    let counts = match &counting {
        Some(counting) => Some(counting.copy_for_backup(&stats_file)?),
        None => None,
    };
    for (source, copy) in [
        (cfg.storage.database.clone(), Some(archive)),
        (cfg.stats_database(), counts),
    ] {
        if let Some(copy) = copy {
            let copied = copy.name(force)?;
            println!(
                "backed up {} to {} ({} bytes)",
                source.display(),
                copied.path.display(),
                copied.bytes
            );
        }
    }
    Ok(())
}

fn export(cfg: &Config, dir: &Path) -> anyhow::Result<()> {
    let mut store = open(cfg, false)?;
    // A site rendered by another version or configuration (a new base URL) is rendered again
    // first, as `serve` would.
    publish::refresh_if_stale(&mut store, cfg, Utc::now())?;
    // Scheduled articles whose moment has come are published first, as the running server
    // would have: a site served only from exports gets them at its next export.
    publish::release_due(&mut store, cfg, Utc::now())?;
    let summary = crate::export::export(&store, cfg, dir)?;
    if matches!(cfg.websub.hub, crate::config::Hub::Builtin) {
        if let Some(hub) = cfg.hub_url() {
            eprintln!(
                "feedsvc: note: the exported feeds name the built-in WebSub hub {hub}, which a \
                 static host cannot answer: keep `feedsvc serve` answering that URL, or set \
                 websub.hub to an outside hub (or \"\") in {} and export again",
                cfg.path.display()
            );
        }
    }
    let c = summary.counts;
    println!(
        "exported {} files to {}: {} written, {} unchanged, {} removed",
        summary.files,
        dir.display(),
        c.written,
        c.unchanged,
        c.removed
    );
    Ok(())
}

fn check(cfg: &Config) -> anyhow::Result<()> {
    let store = open(cfg, false)?;
    let report = crate::check::check_site(&store, cfg)?;
    let mut out = std::io::stdout().lock();
    for problem in &report.problems {
        writeln!(out, "{}: {}", problem.path, problem.what)?;
    }
    if report.problems.is_empty() {
        writeln!(
            out,
            "ok: {} documents and {} articles checked, no problems",
            report.documents, report.articles
        )?;
        Ok(())
    } else {
        anyhow::bail!(
            "{} problems in {} documents (listed above)",
            report.problems.len(),
            report.documents
        )
    }
}

fn serve(cfg: &Config, listen: Option<&str>) -> anyhow::Result<()> {
    let (address, origin) = match listen {
        Some(address) => (address, "--listen".to_string()),
        None => (
            cfg.server.listen.as_str(),
            format!("{}: server.listen", cfg.path.display()),
        ),
    };
    let listener = crate::http::bind(address)
        .map_err(|e| anyhow::anyhow!("{origin}: cannot listen on \"{address}\": {e}"))?;
    let admin = match &cfg.admin.listen {
        Some(admin) => Some(bind_admin(cfg, admin, &listener)?),
        None => None,
    };
    let is_new = !cfg.storage.database.exists();
    let mut store = open(cfg, true)?;
    if is_new {
        if let Some(dir) = &cfg.storage.samples {
            seed(&mut store, cfg, dir)
                .with_context(|| format!("loading the sample articles from {}", dir.display()))?;
        }
    }
    // A site never rendered is rendered before serving, so that nothing is missing. One to
    // render again (new version or configuration) is rendered by the server's scheduler while
    // the documents already stored are served.
    if !publish::was_rendered(&store)? {
        publish::refresh_if_stale(&mut store, cfg, Utc::now())?;
    }
    drop(store);
    crate::http::serve(cfg.clone(), listener, admin)?;
    Ok(())
}

/// Binds the admin listener; never on the public listener's address.
fn bind_admin(
    cfg: &Config,
    address: &str,
    public: &std::net::TcpListener,
) -> anyhow::Result<std::net::TcpListener> {
    let origin = format!("{}: admin.listen", cfg.path.display());
    let same = |a: std::net::SocketAddr, b: std::net::SocketAddr| {
        a.port() == b.port()
            && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
    };
    if let (Ok(public), Ok(wanted)) = (public.local_addr(), address.parse::<std::net::SocketAddr>())
    {
        if wanted.port() != 0 && same(public, wanted) {
            anyhow::bail!(
                "{origin}: \"{address}\" is the public listener's address; the dashboard and \
                 /metrics need an address of their own (\"\" turns them off)"
            );
        }
    }
    crate::http::bind(address).map_err(|e| {
        anyhow::anyhow!(
            "{origin}: cannot listen on \"{address}\": {e} (set admin.listen to a free \
             address, or to \"\" to turn the dashboard and /metrics off)"
        )
    })
}

/// Loads every `*.md` file of `dir` in one transaction.
fn seed(store: &mut Store, cfg: &Config, dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let files = article_files(dir)?.files;
    let sources = files
        .iter()
        .map(|f| read_source(f, cfg.storage.max_article_bytes))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let now = Utc::now();
    let articles = publish::prepare(cfg, &sources, &Fields::default(), now)?;
    publish::add(store, cfg, &articles, now)?;
    tracing::info!(count = articles.len(), "loaded sample articles");
    Ok(())
}
