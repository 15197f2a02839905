//! Command-line interface: argument types and dispatch to the library.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Parser, Subcommand};

use crate::article::Article;
use crate::article::{parse_source, Fields, Source};
use crate::config::Config;
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
    /// Load a whole archive: every `*.md` file of a directory, in one transaction and one
    /// rendering of the site. Prints how many articles were added.
    #[command(after_help = "\
Examples:
  feedsvc import old-site/posts/         all or nothing; a progress bar on a terminal

Each file is an article as for `feedsvc add`. Scheduled articles (published in the future) are
stored and appear at their moment. A directory named *.md is skipped, with a line on stderr; an
entry named *.md that cannot be read (a broken symbolic link, a FIFO) refuses the import.")]
    Import {
        /// Directory of article files (`*.md`, not recursive).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
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
        Command::Import { dir } => import(&cfg, &dir),
        Command::Edit { slug, file, fields } => {
            edit(&cfg, &slug, file.as_deref(), &fields.fields())
        }
        Command::Delete { slug } => {
            let mut store = open(&cfg, false)?;
            let deleted = publish::delete(&mut store, &cfg, &slug, Utc::now())?;
            fold_long_wal(&mut store);
            println!("deleted {} ({})", deleted.slug, deleted.title);
            Ok(())
        }
        Command::List { json } => list(&cfg, json),
        Command::Show { slug, json } => show(&cfg, &slug, json),
        Command::Check => check(&cfg),
        Command::Serve { listen } => serve(&cfg, listen.as_deref()),
    }
}

/// Folds a long WAL back after a publish (see [`Store::fold_long_wal`]). The publish is
/// committed either way, so a failure here is only worth a debug line.
fn fold_long_wal(store: &mut Store) {
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

/// What a source file may hold beyond `storage.max_article_bytes` of body: its front matter.
const FRONT_MATTER_ROOM_BYTES: usize = 64 * 1024;

/// Reads a file (or standard input for `-`) into a [`Source`].
///
/// A file is read whole or refused: one larger than the body's limit plus room for front
/// matter is refused, naming the limit, never cut short (a cut article would be stored short, or
/// a cut inside a character would be blamed on the encoding). The body's own limit is checked
/// when the article is validated.
fn read_source(path: &Path, max_bytes: usize) -> anyhow::Result<Source> {
    let is_stdin = path.as_os_str() == "-";
    let name = if is_stdin {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let limit = max_bytes.saturating_add(FRONT_MATTER_ROOM_BYTES);
    // One byte past the limit is enough to know the input is too large, however large it is.
    let take = (limit as u64).saturating_add(1);
    let mut bytes = Vec::new();
    let result = if is_stdin {
        std::io::stdin().lock().take(take).read_to_end(&mut bytes)
    } else {
        if path.is_dir() {
            return Err(Error::Read {
                path: path.to_path_buf(),
                reason: "is a directory, not an article file".into(),
            }
            .into());
        }
        std::fs::File::open(path).and_then(|f| f.take(take).read_to_end(&mut bytes))
    };
    result.map_err(|e| Error::Read {
        path: PathBuf::from(&name),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (cannot read the file)".to_string()
            }
            _ => format!("cannot read: {e}"),
        },
    })?;
    if bytes.len() > limit {
        return Err(Error::invalid(
            &name,
            "input",
            format!(
                "is larger than {limit} bytes, the most an article file may hold: a body of \
                 storage.max_article_bytes ({max_bytes} bytes) plus {FRONT_MATTER_ROOM_BYTES} \
                 bytes of front matter; nothing was stored"
            ),
        )
        .into());
    }
    Ok(parse_source(&name, &bytes)?)
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
    fold_long_wal(&mut store);
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

/// What `import` finds in a directory.
struct ArticleFiles {
    /// The `*.md` files, sorted by name.
    files: Vec<PathBuf>,
    /// Directories named `*.md`: left out, since an import does not descend into directories.
    directories: Vec<PathBuf>,
}

/// Most unreadable entries named in one refusal; the rest are counted.
const LISTED_PROBLEMS: usize = 5;

/// The `*.md` files of `dir`, sorted by name, and the directories named `*.md` it leaves out.
///
/// Errors: `dir` cannot be read, or an entry named `*.md` is not a file that can be read (a
/// symbolic link to nothing or to itself, a FIFO, a socket, a device): importing the rest would
/// lose that article without a word, and a second import of the same directory would then be
/// refused for the slugs the first one took. Every such entry is named, on one line.
fn article_files(dir: &Path) -> anyhow::Result<ArticleFiles> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Read {
        path: dir.to_path_buf(),
        reason: format!("cannot read the directory: {e}"),
    })?;
    let mut found = ArticleFiles {
        files: Vec::new(),
        directories: Vec::new(),
    };
    let mut problems = Vec::new();
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                problems.push(format!("an entry cannot be read ({e})"));
                continue;
            }
        };
        if path.extension().is_none_or(|x| x != "md") {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => found.files.push(path),
            Ok(meta) if meta.is_dir() => found.directories.push(path),
            Ok(meta) => problems.push(format!(
                "{}: is {}, not a regular file",
                path.display(),
                file_kind(&meta.file_type())
            )),
            Err(e) => problems.push(format!("{}: {}", path.display(), unfollowable(&path, &e))),
        }
    }
    if !problems.is_empty() {
        problems.sort();
        let count = problems.len();
        let mut listed = problems
            .into_iter()
            .take(LISTED_PROBLEMS)
            .collect::<Vec<_>>()
            .join("; ");
        if count > LISTED_PROBLEMS {
            listed.push_str(&format!("; and {} more", count - LISTED_PROBLEMS));
        }
        anyhow::bail!(
            "{}: cannot import: {listed} (fix or remove them; nothing was imported)",
            dir.display()
        );
    }
    found.files.sort();
    found.directories.sort();
    Ok(found)
}

/// Names a kind of file that is neither a regular file nor a directory.
fn file_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "something else"
    }
}

/// Why `path` cannot be examined, for an entry whose metadata could not be read.
fn unfollowable(path: &Path, e: &std::io::Error) -> String {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return format!("cannot be examined ({e})");
    }
    let target = std::fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("is a symbolic link to a missing file ({target})")
    } else {
        format!("is a symbolic link that cannot be followed to {target} ({e})")
    }
}

fn import(cfg: &Config, dir: &Path) -> anyhow::Result<()> {
    let ArticleFiles { files, directories } = article_files(dir)?;
    for skipped in &directories {
        eprintln!(
            "feedsvc: skipped {}: is a directory (import reads the files of one directory, not \
             the directories in it)",
            skipped.display()
        );
    }
    if files.is_empty() {
        anyhow::bail!("{}: no *.md article files in this directory", dir.display());
    }
    let bar = progress_bar(files.len());
    bar.set_message("reading");
    let mut sources = Vec::with_capacity(files.len());
    for (n, file) in files.iter().enumerate() {
        sources.push(read_source(file, cfg.storage.max_article_bytes)?);
        if n % 512 == 0 {
            bar.set_position(n as u64);
        }
    }
    let now = Utc::now();
    bar.set_message("checking");
    let articles = publish::prepare(cfg, &sources, &Fields::default(), now)?;
    drop(sources);
    let mut store = open(cfg, true)?;
    bar.set_position(0);
    bar.set_message("storing");
    let stored = |n: usize| {
        bar.set_position(n as u64);
        if n == articles.len() {
            bar.set_message("rendering the site");
        }
    };
    let urls = publish::import(&mut store, cfg, &articles, now, &stored)?;
    bar.set_message("checkpointing");
    // The import is committed; a checkpoint that cannot finish (a busy reader) only leaves
    // work for later.
    if let Err(e) = store.checkpoint_all() {
        tracing::debug!(error = %e, "checkpoint after import left for later");
    }
    bar.finish_and_clear();
    println!("imported {} articles from {}", urls.len(), dir.display());
    Ok(())
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(len: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:>18} [{bar:40}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn edit(cfg: &Config, slug: &str, file: Option<&Path>, flags: &Fields) -> anyhow::Result<()> {
    let source = file
        .map(|f| read_source(f, cfg.storage.max_article_bytes))
        .transpose()?;
    let mut store = open(cfg, false)?;
    let outcome = publish::edit(&mut store, cfg, slug, source.as_ref(), flags, Utc::now())?;
    fold_long_wal(&mut store);
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
    });
    if with_body {
        value["body_markdown"] = a.body_markdown.clone().into();
        value["body_html"] = a.body_html.clone().into();
    }
    value
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
    writeln!(out)?;
    write!(out, "{}", article.body_markdown)?;
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
    crate::http::serve(cfg.clone(), listener)?;
    Ok(())
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
