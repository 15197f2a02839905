//! Load, faults and locks: nothing is lost, nothing half-published, on the real binary.
//!
//! Each test prints its figures on stderr as `reliability: …` lines; RELIABILITY.md collects them
//! (`cargo test --test it reliability -- --test-threads=2 --nocapture`).

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat};

use crate::support::{
    article, assert_check_ok, assert_clean_failure, assert_no_panic, parse_feed, Run, Server,
    TestEnv, BIN,
};

// ---------------------------------------------------------------------------------------------
// helpers

/// A deterministic pseudo-random sequence (Knuth's MMIX LCG), so a failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A value in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

const WORDS: &[&str] = &[
    "envoys",
    "talks",
    "ceasefire",
    "harbour",
    "ministers",
    "statement",
    "border",
    "grain",
    "convoy",
    "parliament",
    "budget",
    "election",
    "drought",
    "the",
    "of",
    "and",
    "in",
    "a",
    "on",
    "after",
    "said",
    "officials",
    "Monday",
    "Geneva",
];

/// About `bytes` of Markdown prose (headings, emphasis, lists, links), different for each seed.
fn big_body(seed: u64, bytes: usize) -> String {
    let mut rng = Lcg::new(seed);
    let mut out = String::with_capacity(bytes + 1024);
    let mut paragraph = 0;
    while out.len() < bytes {
        paragraph += 1;
        match paragraph % 9 {
            0 => out.push_str(&format!("## Section {paragraph}\n\n")),
            4 => {
                for item in 0..3 {
                    out.push_str(&format!(
                        "- item {item} of {}\n",
                        WORDS[rng.below(24) as usize]
                    ));
                }
                out.push('\n');
            }
            _ => {
                for word in 0..90 {
                    let w = WORDS[rng.below(WORDS.len() as u64) as usize];
                    match word % 17 {
                        5 => out.push_str(&format!("*{w}*")),
                        11 => out.push_str(&format!("[{w}](/articles/{w})")),
                        _ => out.push_str(w),
                    }
                    out.push(' ');
                }
                out.push_str(&format!("({seed}-{paragraph}).\n\n"));
            }
        }
    }
    out
}

/// RFC 3339 time `hours` after 2025-01-01T00:00:00Z (all in the past: no test waits on a clock).
fn hours_after_2025(hours: u64) -> String {
    let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
        .expect("a valid time")
        .to_utc();
    (start + chrono::Duration::hours(hours as i64)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `PRAGMA integrity_check`, as SQLite itself reports it ("ok" when the file is sound).
fn integrity_check(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .expect("prepare integrity_check")
        .query_map([], |r| r.get(0))
        .expect("run integrity_check")
        .collect::<rusqlite::Result<_>>()
        .expect("integrity_check rows");
    rows.join("; ")
}

/// The status of the stored document at `path`, or None when there is none.
fn document_status(db: &Path, path: &str) -> Option<i64> {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    conn.query_row(
        "SELECT status FROM documents WHERE path = ?1",
        [path],
        |r| r.get(0),
    )
    .ok()
}

/// The slugs of `feedsvc list --json`.
fn listed_slugs(env: &TestEnv) -> BTreeSet<String> {
    env.list_json()
        .iter()
        .map(|v| v["slug"].as_str().expect("a slug").to_string())
        .collect()
}

/// The site directory of `env`.
fn site_dir(env: &TestEnv) -> PathBuf {
    env.config_path()
        .parent()
        .expect("config.toml has a directory")
        .to_path_buf()
}

/// Writes a big article (about 200 KB of Markdown) and returns its file.
fn write_big_article(
    env: &TestEnv,
    title: &str,
    slug: &str,
    published: &str,
    seed: u64,
) -> PathBuf {
    env.write_article(
        &format!("{slug}.md"),
        &article(title, slug, published, &big_body(seed, 200_000)),
    )
}

/// Runs `args` through `sh` with a file-size limit of `bytes` (rounded down to 512-byte blocks)
/// and SIGXFSZ ignored, so writes past the limit fail with EFBIG as on a full disk.
fn run_with_file_size_limit(env: &TestEnv, bytes: u64, args: &[&str]) -> Run {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"",
            (bytes / 512).max(1)
        ))
        .arg(BIN)
        .arg("--config")
        .arg(env.config_path())
        .args(args)
        .current_dir(site_dir(env))
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("FEEDSVC_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_panic(&run.stderr);
    run
}

/// Runs an outside command on `path`; its error output when it fails.
fn outside(program: &str, args: &[&str], path: &Path) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} {} failed ({}): {}",
            args.join(" "),
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Why a test that needs root cannot run: these tests fail rather than pass without checking.
/// CI runs as root; elsewhere run them as root or leave them out by name (`--skip`).
const NEEDS_ROOT: &str = "this test needs root (mount, chattr); run the suite as root, or leave \
                          the test out with `cargo test -- --skip NAME`";

/// A file or directory made immutable with `chattr +i` (root cannot write it either); the
/// attribute is removed on drop so the temporary directory can be deleted.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    /// Panics when the attribute cannot be set: the test must not pass without its fault.
    #[track_caller]
    fn set(paths: &[PathBuf]) -> Immutable {
        let mut done = Immutable(Vec::new());
        for path in paths {
            if let Err(e) = outside("chattr", &["+i"], path) {
                panic!("{e}\n{NEEDS_ROOT}");
            }
            done.0.push(path.clone());
        }
        done
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = outside("chattr", &["-i"], path);
        }
    }
}

/// A small tmpfs mounted over a directory (a disk that really fills up), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Panics when it cannot be mounted: the test must not pass without its fault.
    #[track_caller]
    fn mount(at: &Path, size: &str) -> Tmpfs {
        let size = format!("size={size}");
        if let Err(e) = outside("mount", &["-t", "tmpfs", "-o", &size, "feedsvc-test"], at) {
            panic!("{e}\n{NEEDS_ROOT}");
        }
        Tmpfs(at.into())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = outside("umount", &["-l"], &self.0);
    }
}

/// What a server did with raw bytes: the status of its first response line (None when it closed
/// the connection without answering) and everything it sent.
struct Exchange {
    status: Option<u16>,
    raw: Vec<u8>,
}

fn exchange(addr: &str, request: &[u8]) -> Exchange {
    let mut stream = TcpStream::connect(addr).expect("connect to feedsvc serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    // The server may refuse and close before reading everything; that is an answer too.
    let _ = stream.write_all(request);
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                break
            }
            Err(e) => panic!(
                "the server neither answered nor closed the connection within 10 s ({e}); got {:?}",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    let status = raw
        .split(|&b| b == b'\n')
        .next()
        .and_then(|line| std::str::from_utf8(line).ok())
        .and_then(|line| {
            line.strip_prefix("HTTP/1.1 ")
                .or(line.strip_prefix("HTTP/1.0 "))
        })
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    assert!(
        status.is_some() || raw.is_empty(),
        "not an HTTP response: {:?}",
        String::from_utf8_lossy(&raw)
    );
    Exchange { status, raw }
}

// ---------------------------------------------------------------------------------------------
// 1. load: concurrent publishers and pollers

/// Counts a publisher as finished when dropped, even if it panicked, so pollers always stop.
struct Finished<'a>(&'a AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What one poller saw.
#[derive(Default)]
struct Polls {
    answered: usize,
    versions: usize,
    entries: usize,
    pages_checked: usize,
    links: HashSet<String>,
    problems: Vec<String>,
}

/// Polls the site feeds as fast as possible until `stop()`. Every response must be 200 and
/// parse as a feed; every entry link seen for the first time is fetched at once (a feed must
/// never announce a page that is not served yet). Bytes identical to a response already parsed
/// are not parsed again: they parse the same way, and the CPU is better spent on publishing.
fn poll_feeds(server: &Server, base: &str, first: usize, stop: &dyn Fn() -> bool) -> Polls {
    use std::hash::{Hash, Hasher};
    const FEEDS: [&str; 2] = ["/atom.xml", "/rss.xml"];
    let mut polls = Polls::default();
    let mut parsed: HashSet<u64> = HashSet::new();
    let mut turn = first;
    while !stop() {
        let path = FEEDS[turn % FEEDS.len()];
        turn += 1;
        let response = server.get(path, &[]);
        polls.answered += 1;
        if response.status != 200 {
            polls
                .problems
                .push(format!("{path} answered {}", response.status));
            continue;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        response.body.hash(&mut hasher);
        if !parsed.insert(hasher.finish()) {
            continue;
        }
        polls.versions += 1;
        let feed = match feed_rs::parser::parse(&response.body[..]) {
            Ok(feed) => feed,
            Err(e) => {
                polls.problems.push(format!("{path} does not parse: {e}"));
                continue;
            }
        };
        for entry in &feed.entries {
            polls.entries += 1;
            if entry.links.is_empty() {
                polls
                    .problems
                    .push(format!("{path}: entry {} has no link", entry.id));
            }
            for link in &entry.links {
                if !polls.links.insert(link.href.clone()) {
                    continue;
                }
                let Some(rest) = link.href.strip_prefix(base) else {
                    polls
                        .problems
                        .push(format!("{path}: link {} is outside the site", link.href));
                    continue;
                };
                let page = server.get(&format!("/{rest}"), &[]);
                polls.pages_checked += 1;
                if page.status != 200 {
                    polls.problems.push(format!(
                        "{path} links {} which answered {}",
                        link.href, page.status
                    ));
                }
            }
        }
    }
    polls
}

/// `processes` publishers, each running `per_process` single-article `feedsvc add` one after
/// the other (one transaction each), while two pollers read the site feeds as fast as they can.
fn publish_under_polling(processes: usize, per_process: usize) {
    let _load = crate::support::heavy();
    let env = TestEnv::new();
    env.add_article(
        "Before the rush",
        "before-the-rush",
        "2024-12-31T00:00:00Z",
        "Seed.",
    );
    let files: Vec<Vec<PathBuf>> = (0..processes)
        .map(|p| {
            (0..per_process)
                .map(|n| {
                    let slug = format!("load-p{p}-n{n:02}");
                    let published = hours_after_2025((n * processes + p) as u64);
                    let text = article(
                        &format!("Process {p} item {n}"),
                        &slug,
                        &published,
                        &format!("Body of {slug} & co."),
                    );
                    env.write_article(&format!("{slug}.md"), &text)
                })
                .collect()
        })
        .collect();
    let server = env.serve();
    let finished = AtomicUsize::new(0);
    let started = Instant::now();
    // A ceiling for a hang, not a speed target (the benchmarks measure speed).
    let ceiling = Duration::from_secs(600);
    let deadline = started + ceiling;
    let stop = || finished.load(Ordering::SeqCst) == processes || Instant::now() > deadline;

    let (adds, polls) = std::thread::scope(|scope| {
        let (env, server, stop, finished) = (&env, &server, &stop, &finished);
        let readers: Vec<_> = (0..2)
            .map(|r| scope.spawn(move || poll_feeds(server, &env.base, r, stop)))
            .collect();
        let writers: Vec<_> = files
            .iter()
            .map(|files| {
                scope.spawn(move || {
                    let _finished = Finished(finished);
                    files
                        .iter()
                        .map(|file| {
                            let t = Instant::now();
                            let run = env.run_with_limit(
                                &["add", file.to_str().expect("UTF-8 path")],
                                Duration::from_secs(120),
                            );
                            (file.clone(), run, t.elapsed())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let adds: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        let polls: Vec<_> = readers.into_iter().map(|r| r.join()).collect();
        (adds, polls)
    });
    let elapsed = started.elapsed();
    let adds: Vec<_> = adds
        .into_iter()
        .flat_map(|a| a.unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect();
    let polls: Vec<Polls> = polls
        .into_iter()
        .map(|p| p.unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .collect();

    let mut took: Vec<Duration> = adds.iter().map(|(_, _, t)| *t).collect();
    took.sort();
    let answered: usize = polls.iter().map(|p| p.answered).sum();
    let versions: usize = polls.iter().map(|p| p.versions).sum();
    let entries: usize = polls.iter().map(|p| p.entries).sum();
    let pages: usize = polls.iter().map(|p| p.pages_checked).sum();
    eprintln!(
        "reliability: load: {processes} publishers x {per_process} sequential adds = {} \
         transactions in {:.1} s (add median {:.2} s, slowest {:.2} s); 2 pollers: {answered} \
         feed responses ({versions} distinct feed versions parsed, {entries} entries), {pages} \
         article pages fetched the moment a feed first linked them",
        adds.len(),
        elapsed.as_secs_f64(),
        took.get(took.len() / 2)
            .unwrap_or(&Duration::ZERO)
            .as_secs_f64(),
        took.last().unwrap_or(&Duration::ZERO).as_secs_f64(),
    );
    assert!(elapsed < ceiling, "the load hung: {elapsed:?}");
    assert_eq!(adds.len(), processes * per_process);
    for (file, run, _) in &adds {
        assert_eq!(
            run.code,
            0,
            "{} failed under load: {}",
            file.display(),
            run.stderr
        );
        assert_eq!(run.stderr, "", "{}: add said something", file.display());
        let slug = file.file_stem().and_then(|s| s.to_str()).expect("a slug");
        assert_eq!(run.stdout.trim(), env.article_url(slug));
    }
    for (i, p) in polls.iter().enumerate() {
        assert!(
            p.problems.is_empty(),
            "poller {i} saw {} problems, first: {:?}",
            p.problems.len(),
            &p.problems[..p.problems.len().min(10)]
        );
        assert!(
            p.answered >= 10,
            "poller {i} got only {} answers",
            p.answered
        );
    }

    let listed = listed_slugs(&env);
    assert_eq!(
        listed.len(),
        processes * per_process + 1,
        "every article is listed"
    );
    for files in &files {
        for file in files {
            let slug = file.file_stem().and_then(|s| s.to_str()).expect("a slug");
            assert!(listed.contains(slug), "{slug} was lost");
        }
    }

    // At the end: the feeds hold the newest entries, and every link any poller saw is served.
    let atom = parse_feed(&server.get("/atom.xml", &[]).body);
    let newest: Vec<String> = atom
        .entries
        .iter()
        .map(|e| e.title.as_ref().expect("a title").content.clone())
        .collect();
    let expected: Vec<String> = (0..20)
        .map(|k| {
            let index = processes * per_process - 1 - k;
            format!("Process {} item {}", index % processes, index / processes)
        })
        .collect();
    assert_eq!(newest, expected, "the site feed holds the newest 20");
    let mut links: HashSet<&String> = HashSet::new();
    for p in &polls {
        links.extend(&p.links);
    }
    for link in &links {
        let path = format!("/{}", link.strip_prefix(&env.base).expect("a site link"));
        assert_eq!(server.get(&path, &[]).status, 200, "{link}");
    }
    let summary = assert_check_ok(&env);
    eprintln!(
        "reliability: load: all {} adds exited 0 with their URL and nothing on stderr; {} \
         articles listed; every poll answered 200 and parsed; {} distinct entry links, all 200 \
         when first seen and at the end; {summary}",
        adds.len(),
        listed.len(),
        links.len(),
    );
}

#[test]
fn eight_publishers_and_two_pollers_lose_nothing() {
    publish_under_polling(8, 25);
}

#[test]
fn one_publisher_and_two_pollers_lose_nothing() {
    publish_under_polling(1, 40);
}

// ---------------------------------------------------------------------------------------------
// 2. locks

#[test]
fn a_held_write_lock_makes_publishing_fail_fast_and_cleanly() {
    let _clock = crate::support::timed();
    let env = TestEnv::with_settings(&[("storage", "busy_timeout_ms = 500")]);
    env.add_article("Existing", "existing", "2025-02-01T10:00:00Z", "Body.");
    let server = env.serve();
    let file = env.write_article(
        "waiting.md",
        &article("Waiting", "waiting", "2025-02-02T10:00:00Z", "Body."),
    );
    let before = env.snapshot();
    let feed_before = server.get("/atom.xml", &[]).body;

    let holder = rusqlite::Connection::open(env.db_path()).expect("open the database");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let commands: [&[&str]; 3] = [
        &["add", file.to_str().expect("UTF-8 path")],
        &["edit", "existing", "--title", "Renamed"],
        &["delete", "existing"],
    ];
    let mut waits = Vec::new();
    for args in commands {
        let started = Instant::now();
        let run = env.run_with_limit(args, Duration::from_secs(20));
        let waited = started.elapsed();
        assert_clean_failure(&run, &format!("{args:?}"), &["locked", "feedsvc.db"]);
        assert!(
            waited < Duration::from_secs(15),
            "{args:?} waited {waited:?} with busy_timeout_ms = 500"
        );
        assert!(
            waited >= Duration::from_millis(450),
            "{args:?} gave up after {waited:?}, before the busy timeout"
        );
        waits.push(waited);
        // Readers are not blocked by a writer.
        let served = server.get("/atom.xml", &[]);
        assert_eq!((served.status, &served.body), (200, &feed_before));
    }
    holder.execute_batch("ROLLBACK").expect("release the lock");
    drop(holder);
    assert_eq!(
        env.snapshot(),
        before,
        "a refused publish changed the database"
    );

    env.run(&["add", file.to_str().expect("UTF-8 path")])
        .success();
    assert!(listed_slugs(&env).contains("waiting"));
    assert!(server.get("/atom.xml", &[]).text().contains("Waiting"));
    eprintln!(
        "reliability: write lock held by another connection: add, edit, delete each refused \
         after {:?} (busy_timeout_ms = 500) naming the lock, database unchanged, server kept \
         serving; add succeeded once the lock was released",
        waits
            .iter()
            .map(|w| format!("{:.2} s", w.as_secs_f64()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_long_running_reader_does_not_make_a_publish_fail() {
    let env = TestEnv::with_settings(&[("storage", "busy_timeout_ms = 500")]);
    env.add_article("First", "first", "2025-02-01T10:00:00Z", "Body.");
    let reader = rusqlite::Connection::open(env.db_path()).expect("open the database");
    reader.execute_batch("BEGIN").expect("begin a read");
    let count = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT count(*) FROM articles", [], |r| r.get(0))
            .expect("count articles")
    };
    assert_eq!(count(&reader), 1);
    // busy_timeout_ms = 500: a publish that had to wait for the reader would fail.
    for n in 0..3 {
        let slug = format!("during-read-{n}");
        env.add_article(
            &format!("During the read {n}"),
            &slug,
            &hours_after_2025(1000 + n),
            "Body.",
        );
    }
    let big = write_big_article(
        &env,
        "Big beside a reader",
        "big-beside",
        &hours_after_2025(2000),
        7,
    );
    env.add(&[&big]);
    assert_eq!(count(&reader), 1, "the reader keeps its snapshot");
    reader.execute_batch("COMMIT").expect("end the read");
    assert_eq!(count(&reader), 5);
    drop(reader);
    assert_eq!(listed_slugs(&env).len(), 5);
    assert_check_ok(&env);
    assert_eq!(integrity_check(&env.db_path()), "ok");
    eprintln!(
        "reliability: a read transaction held open across 4 publishes (one of 200 KB): all \
         succeeded, the reader kept its snapshot"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. SIGKILL at random moments

/// Three timed runs of `run`: one run may meet a slow disk or a busy core; the kill moments
/// start from their median.
fn three_runs(mut run: impl FnMut(u64) -> Duration) -> [Duration; 3] {
    [run(0), run(1), run(2)]
}

/// Sends SIGKILL to `child` after `delay`. Returns the exit status if it had already finished
/// by itself (then the kill interrupted nothing).
fn kill_after(mut child: std::process::Child, delay: Duration) -> Option<std::process::ExitStatus> {
    std::thread::sleep(delay);
    let finished = child.try_wait().expect("poll the child");
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    finished
}

/// A series of kills: when to send each one, and what they did.
struct Kills {
    rng: Lcg,
    /// The three measured runs the series started from.
    measured: [Duration; 3],
    /// How long a publish takes, as far as the series knows: the median of the measured runs
    /// at first; shorter whenever a kill finds the process already gone, longer when a kill
    /// aimed at the end still came before the commit. The machine's speed drifts (other tests,
    /// the page cache); this keeps the kills on the publish.
    estimate: Duration,
    /// Kills so far.
    sent: usize,
    /// Whether the last kill was aimed at the end of the publish.
    aimed_late: bool,
    /// Still running when killed: the kill interrupted a publish.
    interrupted: usize,
    /// Interrupted before its commit: the change is absent.
    before_commit: usize,
    /// Interrupted after its commit (checkpoint, exit): the change is there.
    after_commit: usize,
    /// Had exited 0 before the signal.
    finished: usize,
}

impl Kills {
    /// A series seeded with `seed`, timed from `measured` runs of the same publish.
    fn new(seed: u64, measured: [Duration; 3]) -> Kills {
        let mut sorted = measured;
        sorted.sort();
        Kills {
            rng: Lcg::new(seed),
            measured,
            estimate: sorted[1],
            sent: 0,
            aimed_late: false,
            interrupted: 0,
            before_commit: 0,
            after_commit: 0,
            finished: 0,
        }
    }

    /// When to send the next kill: two kills in three land between 5 % and 90 % of a publish
    /// (rendering takes most of it); the commit comes at its very end, so every third kill is
    /// aimed around the end (80 % to 120 %: commit, exit).
    fn next_delay(&mut self) -> Duration {
        let uniform = self.rng.below(1000) as f64 / 1000.0;
        self.aimed_late = self.sent % 3 == 2;
        self.sent += 1;
        let fraction = if self.aimed_late {
            0.8 + 0.4 * uniform
        } else {
            0.05 + 0.85 * uniform
        };
        self.estimate.mul_f64(fraction)
    }

    /// Counts what the last kill did and adjusts the estimate.
    fn record(&mut self, finished: Option<std::process::ExitStatus>, is_present: bool) {
        match finished {
            Some(_) => {
                self.finished += 1;
                self.estimate = self.estimate.mul_f64(0.85);
            }
            None => {
                self.interrupted += 1;
                if is_present {
                    self.after_commit += 1;
                } else {
                    self.before_commit += 1;
                    if self.aimed_late {
                        self.estimate = self.estimate.mul_f64(1.05);
                    }
                }
            }
        }
    }

    /// The figures of the series, for RELIABILITY.md.
    fn describe(&self) -> String {
        format!(
            "{} kills at moments derived from three measured runs ({:?} ms, ending at an \
             estimate of {} ms): {} interrupted a running publish ({} before its commit, {} \
             after it), {} had exited before the signal",
            self.sent,
            self.measured.map(|d| d.as_millis()),
            self.estimate.as_millis(),
            self.interrupted,
            self.before_commit,
            self.after_commit,
            self.finished
        )
    }

    /// The series proved something: most kills interrupted a running publish, and a fair share
    /// of those came before its commit (the case that could half-publish).
    #[track_caller]
    fn assert_meaningful(&self, what: &str) {
        let kills = self.sent;
        assert!(
            self.interrupted * 2 >= kills,
            "{what}: only {} of {kills} kills interrupted a running publish ({} had finished): \
             the kill moments miss the publish",
            self.interrupted,
            self.finished
        );
        assert!(
            self.before_commit * 4 >= kills,
            "{what}: only {} of {kills} kills came before the commit",
            self.before_commit
        );
    }
}

#[test]
fn add_killed_at_random_moments_leaves_the_site_as_before_or_after() {
    let _load = crate::support::heavy();
    const KILLS: usize = 30;
    let env = TestEnv::new();
    let db = env.db_path();
    // The site the kills meet: enough big articles that every feed is at its size budget, so
    // the measured adds cost what the killed ones do (below the budget, each new big article
    // makes the next add slower). Each add renders a big page and its neighbour's.
    let seeds: Vec<PathBuf> = (0..6)
        .map(|n| write_big_article(&env, "Seed", &format!("seed-{n}"), &hours_after_2025(n), n))
        .collect();
    env.add(&seeds.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    let measured = three_runs(|n| {
        let slug = format!("measured-{n}");
        let file = write_big_article(&env, "Measured", &slug, &hours_after_2025(10 + n), 10 + n);
        let started = Instant::now();
        env.add(&[&file]);
        started.elapsed()
    });
    let mut expected = listed_slugs(&env);
    assert_eq!(expected.len(), 9);
    let mut kills = Kills::new(0xfeed_5eed, measured);
    let mut absent = Vec::new();
    for i in 0..KILLS {
        let slug = format!("killed-{i:02}");
        // Spread over months so each add also renders a different archive.
        let published = hours_after_2025(240 * (i as u64 + 1));
        let file = write_big_article(
            &env,
            &format!("Killed {i}"),
            &slug,
            &published,
            100 + i as u64,
        );
        let delay = kills.next_delay();
        let child = env.spawn(&["add", file.to_str().expect("UTF-8 path")]);
        let finished = kill_after(child, delay);
        if let Some(status) = finished {
            assert!(
                status.success(),
                "iteration {i}: the add failed by itself: {status}"
            );
            // An add that reported success must be there, whatever came after.
            expected.insert(slug.clone());
        }

        let listed = listed_slugs(&env);
        let is_present = listed.contains(&slug);
        kills.record(finished, is_present);
        if is_present {
            expected.insert(slug.clone());
        } else {
            absent.push(slug.clone());
        }
        assert_eq!(listed, expected, "iteration {i} (killed after {delay:?})");
        assert_check_ok(&env);
        assert_eq!(integrity_check(&db), "ok", "iteration {i}");
        let page = document_status(&db, &format!("/articles/{slug}"));
        assert_eq!(
            page,
            is_present.then_some(200),
            "iteration {i}: the page must exist exactly when the article does"
        );
    }
    kills.assert_meaningful("SIGKILL during add");

    // The next adds work, including the slugs whose add was killed before its commit.
    env.add_article(
        "After the kills",
        "after-the-kills",
        &hours_after_2025(9000),
        "Body.",
    );
    expected.insert("after-the-kills".to_string());
    let again: Vec<PathBuf> = absent
        .iter()
        .enumerate()
        .map(|(n, slug)| {
            expected.insert(slug.clone());
            env.write_article(
                &format!("{slug}-again.md"),
                &article(
                    "Again",
                    slug,
                    &hours_after_2025(9100 + n as u64),
                    "Small body.",
                ),
            )
        })
        .collect();
    if !again.is_empty() {
        env.add(&again.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    }
    assert_eq!(listed_slugs(&env), expected);
    let server = env.serve();
    for slug in &expected {
        assert_eq!(
            server.get(&format!("/articles/{slug}"), &[]).status,
            200,
            "{slug}"
        );
    }
    let feed = parse_feed(&server.get("/atom.xml", &[]).body);
    assert!(!feed.entries.is_empty());
    for entry in &feed.entries {
        for link in &entry.links {
            let path = link.href.strip_prefix(&env.base).expect("a site link");
            assert_eq!(
                server.get(&format!("/{path}"), &[]).status,
                200,
                "{}",
                link.href
            );
        }
    }
    assert_check_ok(&env);
    eprintln!(
        "reliability: SIGKILL during add of a 200 KB article: {} (article absent before the \
         commit, published after); integrity_check ok, feedsvc check ok and list == pages \
         after every one; later adds, including the {} killed slugs, all succeeded",
        kills.describe(),
        absent.len(),
    );
}

#[test]
fn edit_killed_at_random_moments_leaves_the_article_old_or_new() {
    let _load = crate::support::heavy();
    const KILLS: usize = 20;
    let env = TestEnv::new();
    let db = env.db_path();
    let published = hours_after_2025(100);
    let version = |n: u64| -> (String, String) {
        (format!("Story revision {n}"), big_body(1000 + n, 200_000))
    };
    let write_version = |n: u64| -> PathBuf {
        let (title, body) = version(n);
        env.write_article(
            &format!("story-{n}.md"),
            &article(&title, "story", &published, &body),
        )
    };
    env.add_article("Neighbour", "neighbour", &hours_after_2025(50), "Body.");
    env.add(&[&write_version(0)]);
    let id = env.show_json("story")["id"].clone();
    let server = env.serve();

    let measured = three_runs(|n| {
        let file = write_version(n + 1);
        let started = Instant::now();
        env.run(&["edit", "story", file.to_str().expect("UTF-8 path")])
            .success();
        started.elapsed()
    });
    let mut current = 3;
    let mut kills = Kills::new(0xed17_5eed, measured);
    for i in 0..KILLS {
        let next = i as u64 + 4;
        let file = write_version(next);
        let delay = kills.next_delay();
        let child = env.spawn(&["edit", "story", file.to_str().expect("UTF-8 path")]);
        let finished = kill_after(child, delay);
        if let Some(status) = finished {
            assert!(status.success(), "iteration {i}: the edit failed: {status}");
        }

        let shown = env.show_json("story");
        assert_eq!(shown["id"], id, "iteration {i}: the entry id changed");
        let title = shown["title"].as_str().expect("a title").to_string();
        let is_new = title == version(next).0;
        assert!(
            is_new || finished.is_none(),
            "iteration {i}: an edit that exited 0 was lost"
        );
        kills.record(finished, is_new);
        if is_new {
            current = next;
        }
        let (expected_title, expected_body) = version(current);
        assert_eq!(title, expected_title, "iteration {i}: neither old nor new");
        assert_eq!(
            shown["body_markdown"].as_str().expect("a body").trim(),
            expected_body.trim(),
            "iteration {i}: the body does not match the title"
        );
        let page = server.get("/articles/story", &[]);
        assert_eq!(page.status, 200, "iteration {i}");
        assert!(
            page.text().contains(&expected_title),
            "iteration {i}: the page is stale"
        );
        let feed = parse_feed(&server.get("/atom.xml", &[]).body);
        let titles: Vec<&str> = feed
            .entries
            .iter()
            .map(|e| e.title.as_ref().expect("a title").content.as_str())
            .collect();
        assert!(
            titles.contains(&expected_title.as_str()),
            "iteration {i}: {titles:?}"
        );
        assert_check_ok(&env);
        assert_eq!(integrity_check(&db), "ok", "iteration {i}");
    }
    kills.assert_meaningful("SIGKILL during edit");
    let last = write_version(99);
    env.run(&["edit", "story", last.to_str().expect("UTF-8 path")])
        .success();
    assert_eq!(env.show_json("story")["title"], "Story revision 99");
    assert!(server
        .get("/atom.xml", &[])
        .text()
        .contains("Story revision 99"));
    assert_check_ok(&env);
    eprintln!(
        "reliability: SIGKILL during edit of a 200 KB article (server running): {} (old \
         version before the commit, new after); never a mix; entry id kept; integrity_check \
         and feedsvc check ok after each; the next edit succeeded",
        kills.describe(),
    );
}

// ---------------------------------------------------------------------------------------------
// 4. full disk, read-only files

/// The server reads SQLite's shared memory (`-shm`) through a mapping. A publishing command
/// that opens the database while the server holds it must find it in use and leave it whole:
/// if the server had given up SQLite's lock on that file (POSIX drops a process's locks when it
/// closes any descriptor of the file), the command would shrink it, and here, unable to grow it
/// back under its file-size limit, leave the server's mapping past the end of the file: the
/// server's next request would kill it (SIGBUS).
#[test]
fn a_publish_leaves_the_servers_shared_memory_whole() {
    let env = TestEnv::new();
    env.add_article("Existing", "existing", "2025-02-01T10:00:00Z", "Body.");
    let server = env.serve();
    let shm = env.db_path().with_extension("db-shm");
    for round in 0..3 {
        assert_eq!(server.get("/atom.xml", &[]).status, 200, "round {round}");
        let size = std::fs::metadata(&shm).expect("the -shm file").len();
        let slug = format!("limited-{round}");
        let file = write_big_article(&env, "Limited", &slug, &hours_after_2025(round), round);
        let run =
            run_with_file_size_limit(&env, 16 * 1024, &["add", file.to_str().expect("UTF-8")]);
        assert_ne!(run.code, 0, "an add under a 16 KB file limit succeeded");
        assert_eq!(
            std::fs::metadata(&shm).expect("the -shm file").len(),
            size,
            "round {round}: the publish changed the size of the shared memory in use"
        );
        assert_eq!(server.get("/atom.xml", &[]).status, 200, "round {round}");
    }
}

#[test]
fn add_that_cannot_grow_its_files_fails_cleanly_and_the_server_keeps_serving() {
    let env = TestEnv::new();
    env.add_article("Existing", "existing", "2025-02-01T10:00:00Z", "Body.");
    let server = env.serve();
    // A publish of a 200 KB article writes a few MB (its page, the site's and its tags' feeds
    // with its full content): these limits stop it at different points of its transaction.
    const MB: u64 = 1024 * 1024;
    let limits = [16 * 1024, MB, 2 * MB, 3 * MB, 4 * MB, 64 * MB];
    let (mut refused, mut accepted) = (Vec::new(), Vec::new());
    for (i, limit) in limits.into_iter().enumerate() {
        let slug = format!("too-big-{i}");
        let file = write_big_article(
            &env,
            &format!("Too big {i}"),
            &slug,
            &hours_after_2025(i as u64),
            40 + i as u64,
        );
        let before = env.snapshot();
        let feed_before = server.get("/atom.xml", &[]).body;
        let run =
            run_with_file_size_limit(&env, limit, &["add", file.to_str().expect("UTF-8 path")]);
        if run.code == 0 {
            assert_eq!(run.stdout.trim(), env.article_url(&slug));
            assert!(
                listed_slugs(&env).contains(&slug),
                "limit {limit}: reported added, not listed"
            );
            assert_eq!(server.get(&format!("/articles/{slug}"), &[]).status, 200);
            accepted.push(limit);
        } else {
            let message = assert_clean_failure(
                &run,
                &format!("add under a {limit}-byte file limit"),
                &["feedsvc.db"],
            );
            assert!(
                !message.contains("database error"),
                "not explained: {message}"
            );
            assert_eq!(
                env.snapshot(),
                before,
                "limit {limit}: a failed add changed the database"
            );
            let served = server.get("/atom.xml", &[]);
            assert_eq!(
                (served.status, served.body),
                (200, feed_before),
                "limit {limit}"
            );
            assert_eq!(server.get(&format!("/articles/{slug}"), &[]).status, 404);
            refused.push((limit, message));
        }
        assert_check_ok(&env);
        assert_eq!(integrity_check(&env.db_path()), "ok", "limit {limit}");
    }
    assert!(
        refused.iter().any(|(l, _)| *l == 16 * 1024),
        "an add under a 16 KB file limit succeeded"
    );
    assert!(accepted.contains(&(64 * MB)), "an add with room failed");
    let again = env.write_article(
        "after.md",
        &article("After", "after", "2025-03-01", "Body."),
    );
    env.add(&[&again]);
    eprintln!(
        "reliability: add of a 200 KB article under {} file-size limits (RLIMIT_FSIZE, EFBIG): \
         refused under {:?} KB with one line, database and served feed unchanged (e.g. {:?}); \
         accepted and served under {:?} KB; check and integrity_check ok after each",
        limits.len(),
        refused.iter().map(|(l, _)| l / 1024).collect::<Vec<_>>(),
        refused.first().map(|(_, m)| m.as_str()).unwrap_or(""),
        accepted.iter().map(|l| l / 1024).collect::<Vec<_>>(),
    );
}

#[test]
fn add_on_a_full_disk_fails_cleanly_and_works_once_there_is_room() {
    let env = TestEnv::new();
    let _disk = Tmpfs::mount(&env.path("data"), "8m");
    env.add_article("Existing", "existing", "2025-02-01T10:00:00Z", "Body.");
    let server = env.serve();
    let feed_before = server.get("/atom.xml", &[]).body;
    let filler_path = env.path("data/filler");
    let mut filler = std::fs::File::create(&filler_path).expect("create the filler");
    let chunk = vec![0x55u8; 64 * 1024];
    let mut filled = 0u64;
    loop {
        match filler.write(&chunk) {
            Ok(0) => break,
            Ok(n) => filled += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    filler.sync_all().expect("sync the filler");
    let file = write_big_article(&env, "No room", "no-room", "2025-03-01T10:00:00Z", 5);
    let mut messages = Vec::new();
    for free in [0u64, 128 * 1024] {
        filler
            .set_len(filled - free)
            .expect("make a little room on the disk");
        let before = env.snapshot();
        let run = env.run_with_limit(
            &["add", file.to_str().expect("UTF-8 path")],
            Duration::from_secs(30),
        );
        let message = assert_clean_failure(
            &run,
            &format!("add on a full disk ({free} bytes free)"),
            &["feedsvc.db", "full"],
        );
        assert_eq!(env.snapshot(), before, "a failed add changed the database");
        let served = server.get("/atom.xml", &[]);
        assert_eq!((served.status, &served.body), (200, &feed_before));
        assert_check_ok(&env);
        messages.push(message);
    }
    drop(filler);
    std::fs::remove_file(&filler_path).expect("remove the filler");
    env.add(&[&file]);
    assert!(server.get("/atom.xml", &[]).text().contains("No room"));
    assert_eq!(integrity_check(&env.db_path()), "ok");
    eprintln!(
        "reliability: full disk (8 MB tmpfs, 0 and 128 KB free): add refused twice with {:?}, \
         database and served feed unchanged; add succeeded once the space was freed",
        messages[0]
    );
}

#[test]
fn an_immutable_database_refuses_writes_clearly_and_changes_nothing() {
    let env = TestEnv::new();
    env.add_article("Existing", "existing", "2025-02-01T10:00:00Z", "Body.");
    let file = env.write_article("new.md", &article("New", "new", "2025-03-01", "Body."));
    let before = env.snapshot();
    let bytes_before = std::fs::read(env.db_path()).expect("the database");
    let mut outcomes = Vec::new();
    {
        let _immutable = Immutable::set(&[env.db_path()]);
        let commands: [&[&str]; 3] = [
            &["add", file.to_str().expect("UTF-8 path")],
            &["edit", "existing", "--title", "Renamed"],
            &["delete", "existing"],
        ];
        for args in commands {
            let run = env.run_with_limit(args, Duration::from_secs(20));
            assert_clean_failure(&run, &format!("{args:?}"), &["feedsvc.db", "read-only"]);
        }
        // Reading still works.
        assert_eq!(listed_slugs(&env), ["existing".to_string()].into());
        assert_check_ok(&env);
    }
    {
        // The whole data directory read-only as well: SQLite cannot create its WAL index, so
        // even reading may be refused, but only with one line naming the file.
        let _immutable = Immutable::set(&[env.db_path(), env.path("data")]);
        for args in [
            vec!["add", file.to_str().expect("UTF-8 path")],
            vec!["list"],
            vec!["check"],
        ] {
            let run = env.run_with_limit(&args, Duration::from_secs(20));
            if args[0] == "add" || run.code != 0 {
                let message = assert_clean_failure(&run, &format!("{args:?}"), &["feedsvc.db"]);
                outcomes.push(format!("{} refused ({message})", args[0]));
            } else {
                outcomes.push(format!("{} worked", args[0]));
            }
        }
    }
    assert_eq!(
        std::fs::read(env.db_path()).expect("the database"),
        bytes_before
    );
    assert_eq!(env.snapshot(), before);
    env.add(&[&file]);
    assert_eq!(listed_slugs(&env).len(), 2);
    eprintln!(
        "reliability: immutable database file (chattr +i, binds root too): add, edit, delete \
         refused with one line naming the file and \"read-only\", list and check still work; \
         immutable data directory too: {}; file byte-for-byte unchanged",
        outcomes.join("; ")
    );
}

// ---------------------------------------------------------------------------------------------
// 5. corrupt databases, missing directories, bad settings

/// A site whose database holds eight 20 KB articles from one `add`, closed (no WAL beside it).
fn site_with_a_real_database() -> TestEnv {
    let env = TestEnv::new();
    let files: Vec<PathBuf> = (0..8u64)
        .map(|n| {
            let slug = format!("story-{n}");
            let text = article(
                &format!("Story {n}"),
                &slug,
                &hours_after_2025(n * 300),
                &big_body(n, 20_000),
            );
            env.write_article(&format!("{slug}.md"), &text)
        })
        .collect();
    env.add(&files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    // feedsvc leaves its WAL in place; fold it into the database file, so that damaging the
    // file damages the data (a damaged WAL is another story).
    let conn = rusqlite::Connection::open(env.db_path()).expect("open the database");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.db_path().display()));
    }
    env
}

/// Starts `feedsvc serve` on a damaged database. It may refuse (one line naming the file) or
/// serve the documents that are still readable; either way no panic, and only 200, 404 or 500
/// (the logged internal error) as answers. Returns what happened, for the figures.
fn serve_on_a_damaged_database(env: &TestEnv) -> String {
    let out = env.path("damaged-serve.stdout");
    let err = env.path("damaged-serve.stderr");
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(env.config_path())
        .arg("serve")
        .current_dir(site_dir(env))
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("FEEDSVC_CONFIG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("spawn feedsvc serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    let outcome = loop {
        if let Some(status) = child.try_wait().expect("poll serve") {
            let run = Run {
                code: status.code().unwrap_or(-1),
                stdout: std::fs::read_to_string(&out).unwrap_or_default(),
                stderr: std::fs::read_to_string(&err).unwrap_or_default(),
            };
            break format!(
                "refused: {}",
                assert_clean_failure(&run, "serve on a damaged database", &["feedsvc.db"])
            );
        }
        let printed = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(line) = printed.lines().next().filter(|_| printed.contains('\n')) {
            let addr = crate::support::listening_address(line)
                .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"));
            let mut statuses = Vec::new();
            for path in ["/atom.xml", "/articles/story-1", "/"] {
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let status = exchange(addr, request.as_bytes()).status;
                assert!(
                    matches!(status, Some(200 | 404 | 500)),
                    "serve on a damaged database: {path} answered {status:?}"
                );
                statuses.push(format!("{path} {}", status.unwrap_or(0)));
            }
            break format!("served ({})", statuses.join(", "));
        }
        assert!(
            Instant::now() < deadline,
            "serve neither started nor refused within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_no_panic(&std::fs::read_to_string(&err).unwrap_or_default());
    outcome
}

/// Every command, on a damaged database: non-zero, one line naming the file, file untouched.
#[track_caller]
fn assert_every_command_refuses(env: &TestEnv, damage: &str, commands: &[&[&str]]) -> usize {
    let db = env.db_path();
    let bytes = std::fs::read(&db).expect("the damaged database");
    let file = env.write_article(
        "fresh.md",
        &article("Fresh", "fresh", "2025-06-01", "Body."),
    );
    let add = ["add", file.to_str().expect("UTF-8 path")];
    let mut all: Vec<&[&str]> = commands.to_vec();
    all.push(&add);
    for args in &all {
        let run = env.run_with_limit(args, Duration::from_secs(20));
        let message = assert_clean_failure(&run, &format!("{damage}: {args:?}"), &["feedsvc.db"]);
        assert!(
            !message.contains("Error code"),
            "{damage}: {args:?}: a raw SQLite error: {message}"
        );
        assert_eq!(
            std::fs::read(&db).expect("the database"),
            bytes,
            "{damage}: {args:?} modified the damaged file"
        );
    }
    all.len()
}

const READING_COMMANDS: [&[&str]; 6] = [
    &["list"],
    &["list", "--json"],
    &["check"],
    &["edit", "story-1", "--title", "X"],
    &["delete", "story-1"],
    &["serve"],
];

#[test]
fn a_database_of_random_bytes_is_refused_by_every_command() {
    let env = TestEnv::new();
    let mut rng = Lcg::new(0x0bad_0db0);
    let garbage: Vec<u8> = (0..64 * 1024).map(|_| rng.next() as u8).collect();
    std::fs::write(env.db_path(), garbage).expect("write garbage");
    let mut commands = READING_COMMANDS.to_vec();
    commands.push(&["show", "story-1"]);
    let n = assert_every_command_refuses(&env, "random bytes", &commands);
    eprintln!("reliability: corrupt database (64 KB random bytes): {n} commands refused cleanly");
}

#[test]
fn a_database_truncated_to_half_is_refused_by_every_command() {
    let env = site_with_a_real_database();
    let db = env.db_path();
    let size = std::fs::metadata(&db).expect("the database").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .and_then(|f| f.set_len(size / 2))
        .expect("truncate the database");
    let mut commands = READING_COMMANDS.to_vec();
    commands.push(&["show", "story-1"]);
    let n = assert_every_command_refuses(&env, "truncated to half", &commands);
    eprintln!(
        "reliability: corrupt database (a real {size}-byte one truncated to half): {n} commands \
         refused cleanly"
    );
}

#[test]
fn a_database_with_a_zeroed_header_is_refused_by_every_command() {
    let env = site_with_a_real_database();
    let db = env.db_path();
    let mut bytes = std::fs::read(&db).expect("the database");
    bytes[..100].fill(0);
    std::fs::write(&db, bytes).expect("zero the header");
    let mut commands = READING_COMMANDS.to_vec();
    commands.push(&["show", "story-1"]);
    let n = assert_every_command_refuses(&env, "zeroed header", &commands);
    eprintln!(
        "reliability: corrupt database (100-byte header zeroed): {n} commands refused cleanly"
    );
}

#[test]
fn a_database_with_garbage_over_its_first_pages_is_refused_and_serve_stays_sane() {
    let env = site_with_a_real_database();
    let db = env.db_path();
    let mut bytes = std::fs::read(&db).expect("the database");
    let mut rng = Lcg::new(0x005c_4e3a);
    for b in &mut bytes[4096..4 * 4096] {
        *b = rng.next() as u8;
    }
    std::fs::write(&db, bytes).expect("damage the first pages");
    let n = assert_every_command_refuses(
        &env,
        "garbage over pages 2-4",
        &READING_COMMANDS[..READING_COMMANDS.len() - 1],
    );
    let served = serve_on_a_damaged_database(&env);
    eprintln!(
        "reliability: corrupt database (pages 2-4 overwritten): {n} commands refused cleanly; \
         serve {served}"
    );
}

#[test]
fn show_on_a_corrupt_database_names_the_file() {
    let env = site_with_a_real_database();
    let db = env.db_path();
    let mut bytes = std::fs::read(&db).expect("the database");
    let mut rng = Lcg::new(0x005c_4e3a);
    for b in &mut bytes[4096..4 * 4096] {
        *b = rng.next() as u8;
    }
    std::fs::write(&db, bytes).expect("damage the first pages");
    let run = env.run(&["show", "story-1"]);
    let message = assert_clean_failure(
        &run,
        "show on a corrupt database",
        &["feedsvc.db", "corrupt"],
    );
    assert!(!message.contains("Error code"), "{message}");
}

#[test]
fn a_missing_data_directory_is_named_by_every_command_that_needs_the_database() {
    let env = TestEnv::new();
    std::fs::remove_dir(env.path("data")).expect("remove data/");
    for args in [
        vec!["check"],
        vec!["show", "x"],
        vec!["edit", "x", "--title", "Y"],
        vec!["delete", "x"],
    ] {
        let run = env.run(&args);
        assert_clean_failure(
            &run,
            &format!("{args:?}"),
            &["feedsvc.db", "storage.database"],
        );
    }
    assert!(
        !env.path("data").exists(),
        "a reading command created data/"
    );
}

#[test]
fn list_with_a_missing_data_directory_names_the_path() {
    let env = TestEnv::new();
    std::fs::remove_dir(env.path("data")).expect("remove data/");
    for args in [vec!["list"], vec!["list", "--json"]] {
        let run = env.run(&args);
        assert_clean_failure(&run, &format!("{args:?}"), &["data", "storage.database"]);
    }
}

#[test]
fn out_of_range_settings_are_refused_naming_the_file_and_key() {
    let env = TestEnv::new();
    let file = env.write_article("x.md", &article("X", "x", "2025-01-01", "Body."));
    let mut cases: Vec<(String, &str)> = [
        ("feeds", "items = 0", "feeds.items"),
        ("feeds", "items = 1001", "feeds.items"),
        ("feeds", "items = -1", "feeds.items"),
        ("feeds", "items = \"twenty\"", "feeds.items"),
        ("feeds", "page_size = 0", "feeds.page_size"),
        (
            "storage",
            "max_article_bytes = 0",
            "storage.max_article_bytes",
        ),
        ("storage", "busy_timeout_ms = -5", "storage.busy_timeout_ms"),
        ("server", "max_connections = 0", "server.max_connections"),
        ("site", "language = \"en us\"", "site.language"),
    ]
    .iter()
    .map(|(section, line, key)| (env.config_text(&[(section, line)]), *key))
    .collect();
    for bad in ["ftp://x", "not a url", "http://"] {
        let text = env.config_text(&[]).replace(
            &format!("base_url = \"{}\"", env.base),
            &format!("base_url = \"{bad}\""),
        );
        cases.push((text, "site.base_url"));
    }
    let mut tried = 0;
    for (text, key) in &cases {
        env.write_config(text);
        for args in [
            vec!["list"],
            vec!["add", file.to_str().expect("UTF-8 path")],
            vec!["serve"],
        ] {
            let run = env.run_with_limit(&args, Duration::from_secs(20));
            assert_clean_failure(&run, &format!("{key} {args:?}"), &["config.toml", key]);
            tried += 1;
        }
        assert!(
            !env.db_path().exists(),
            "{key}: a refused configuration created the database"
        );
    }
    eprintln!(
        "reliability: {} out-of-range settings x (list, add, serve) = {tried} runs refused with \
         one line naming config.toml and the key, no database created",
        cases.len()
    );
}

#[test]
fn serve_with_an_invalid_listen_address_names_the_key_and_writes_nothing() {
    let env = TestEnv::new();
    for bad in ["not an address", "127.0.0.1:99999", "localhost"] {
        let text = env
            .config_text(&[])
            .replace("listen = \"127.0.0.1:0\"", &format!("listen = \"{bad}\""));
        env.write_config(&text);
        let run = env.run_with_limit(&["serve"], Duration::from_secs(20));
        assert_clean_failure(&run, &format!("listen = {bad:?}"), &["server.listen", bad]);
        assert!(
            !env.db_path().exists(),
            "{bad}: serve created the database before refusing"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 6. hostile HTTP

#[test]
fn hostile_requests_get_4xx_or_a_closed_connection_and_the_server_keeps_serving() {
    let _clock = crate::support::timed();
    let env = TestEnv::with_settings(&[("server", "header_timeout_secs = 3")]);
    env.add_article("Published", "published", "2025-02-01T10:00:00Z", "Body.");
    let server = env.serve();
    let wellformed = |method: &str, target: &str| -> Vec<u8> {
        format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()
    };
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("malformed request line".into(), b"GARBAGE\r\n\r\n".to_vec()),
        ("HTTP/0.9 request".into(), b"GET /\r\n".to_vec()),
        ("empty lines".into(), b"\r\n\r\n\r\n\r\n".to_vec()),
        ("binary noise".into(), (0..512u32).map(|i| (i * 37 % 256) as u8).collect()),
        ("raw NUL in the path".into(), b"GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("HTTP/2 preface".into(), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ("HTTP/7.0".into(), b"GET / HTTP/7.0\r\nHost: x\r\n\r\n".to_vec()),
        (
            "1 MB header line".into(),
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "a".repeat(1024 * 1024)
            )
            .into_bytes(),
        ),
        (
            "200 headers".into(),
            format!(
                "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..200).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()
            )
            .into_bytes(),
        ),
        ("10 000-character URI".into(), wellformed("GET", &format!("/{}", "a".repeat(10_000)))),
        (
            "header without a colon".into(),
            b"GET / HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n".to_vec(),
        ),
        (
            "Content-Length and chunked".into(),
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        ),
        (
            "bad Content-Length".into(),
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
        ),
        ("POST with a body".into(), {
            let body = "+++\ntitle = \"Pwned\"\n+++\nHa\n";
            format!(
                "POST /articles/published HTTP/1.1\r\nHost: x\r\nContent-Type: text/markdown\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }),
        ("CONNECT".into(), wellformed("CONNECT", "127.0.0.1:22")),
    ];
    for target in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/articles/..%2f..%2fconfig.toml",
        "/articles/%2e%2e/%2e%2e/%2e%2e/config.toml",
        "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/%5c..%5cconfig.toml",
        "/a%00b",
        "/articles/published%00.html",
        "/%",
        "/%zz",
        "http://evil.example/etc/passwd",
        "/data/feedsvc.db",
        "/config.toml",
    ] {
        cases.push((format!("GET {target}"), wellformed("GET", target)));
    }
    for method in [
        "PUT", "DELETE", "PATCH", "TRACE", "OPTIONS", "BREW", "PROPFIND",
    ] {
        cases.push((
            format!("{method} /atom.xml"),
            wellformed(method, "/atom.xml"),
        ));
    }

    let mut closed = Vec::new();
    let mut statuses = BTreeSet::new();
    for (name, request) in &cases {
        let answer = exchange(&server.addr, request);
        let text = String::from_utf8_lossy(&answer.raw);
        for secret in ["root:", "[site]", "base_url", "SQLite format"] {
            assert!(
                !text.contains(secret),
                "{name}: the answer leaks {secret:?}:\n{text}"
            );
        }
        match answer.status {
            None => closed.push(name.as_str()),
            Some(status) => {
                assert!(
                    (400..500).contains(&status),
                    "{name}: answered {status}:\n{text}"
                );
                statuses.insert(status);
            }
        }
        assert_no_panic(&server.stderr());
    }
    let started = Instant::now();
    let atom = server.get("/atom.xml", &[]);
    let took = started.elapsed();
    assert_eq!(atom.status, 200);
    assert!(parse_feed(&atom.body).entries.len() == 1);
    assert!(
        took < Duration::from_secs(5),
        "GET /atom.xml took {took:?} afterwards"
    );
    eprintln!(
        "reliability: {} hostile requests on raw TCP: {} answered 4xx ({statuses:?}), {} \
         closed without an answer ({closed:?}), none 2xx/5xx, nothing leaked; GET /atom.xml \
         then answered 200 in {:.1} ms",
        cases.len(),
        cases.len() - closed.len(),
        closed.len(),
        took.as_secs_f64() * 1000.0
    );
}

#[test]
fn a_100_kb_header_line_is_refused() {
    let env = TestEnv::new();
    env.add_article("Published", "published", "2025-02-01T10:00:00Z", "Body.");
    let server = env.serve();
    for size in [70 * 1024, 100 * 1024, 200 * 1024] {
        let request = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
            "a".repeat(size)
        );
        let answer = exchange(&server.addr, request.as_bytes());
        assert!(
            answer.status.is_none_or(|s| (400..500).contains(&s)),
            "a {size}-byte header line answered {:?}",
            answer.status
        );
    }
    assert_eq!(server.get("/atom.xml", &[]).status, 200);
}

#[test]
fn nothing_is_writable_over_http() {
    let env = TestEnv::new();
    env.add_article("Published", "published", "2025-02-01T10:00:00Z", "Body.");
    let server = env.serve();
    let before = env.snapshot();
    let body = "+++\ntitle = \"Pwned\"\nslug = \"pwned\"\n+++\nOverwritten.\n";
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for target in ["/articles/published", "/articles/pwned", "/atom.xml", "/"] {
            let request = format!(
                "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Type: text/markdown\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let answer = exchange(&server.addr, request.as_bytes());
            assert_eq!(answer.status, Some(405), "{method} {target}");
        }
    }
    assert_eq!(
        env.snapshot(),
        before,
        "a request over HTTP changed the database"
    );
    let page = server.get("/articles/published", &[]);
    assert_eq!(page.status, 200);
    assert!(!page.text().contains("Overwritten"));
    assert_eq!(server.get("/articles/pwned", &[]).status, 404);
}

/// The scheduler meets a held write lock: its log line names the database and says it is
/// locked by another process (as every command does), not a bare SQLite code; once the lock
/// goes, the scheduled article is published.
#[test]
fn the_scheduler_explains_a_held_lock_and_publishes_once_it_goes() {
    let _clock = crate::support::timed();
    let env = TestEnv::with_settings(&[("storage", "busy_timeout_ms = 200")]);
    env.add_article("Existing", "existing", "2025-02-01T10:00:00Z", "Body.");
    let due = chrono::Utc::now() + chrono::Duration::seconds(3);
    env.add_article(
        "Embargoed",
        "embargoed",
        &due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Body.",
    );
    // The lock is taken before the server starts, so that the scheduler meets it however
    // long the start takes (the server comes up and serves with the lock held).
    let holder = rusqlite::Connection::open(env.db_path()).expect("open the database");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let server = env.serve();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server
        .stderr()
        .contains("publishing scheduled articles failed")
        || !server.stderr().contains("locked by another process")
    {
        assert!(
            Instant::now() < deadline,
            "the scheduler never said the database was locked:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = server.stderr();
    assert!(
        log.contains("feedsvc.db"),
        "the log names the database: {log}"
    );
    assert!(
        !log.contains("database error"),
        "a bare SQLite error: {log}"
    );
    holder.execute_batch("ROLLBACK").expect("release the lock");
    drop(holder);
    while server.get("/articles/embargoed", &[]).status != 200 {
        assert!(
            Instant::now() < deadline,
            "never published after the lock went"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
