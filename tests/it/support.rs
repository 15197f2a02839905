//! Test harness: a fresh site directory per test, the built binary, a served site and a tiny
//! blocking HTTP/1.1 client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_feedsvc");

/// The fixture articles checked into the repository.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/articles")
}

/// Every `*.md` fixture article (the README is documentation, not an article), sorted.
pub fn fixture_articles() -> Vec<PathBuf> {
    markdown_files(&fixtures_dir())
}

/// The `*.md` files of `dir` but its README, sorted.
pub fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter(|p| p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

/// Markdown with front matter: a title, a slug, a publication time and a body.
pub fn article(title: &str, slug: &str, published: &str, body: &str) -> String {
    format!(
        "+++\ntitle = {}\nslug = \"{slug}\"\npublished = \"{published}\"\n+++\n\n{body}\n",
        toml_string(title)
    )
}

/// A TOML basic string holding `text`.
pub fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Polls `probe` every 20 ms until it returns something; fails naming `what` after `limit`.
#[track_caller]
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the server writing to `stream` is held up by it: at least `at_least` bytes wait
/// unread, and that count has not moved over three looks 200 ms apart (a sender that is only
/// slow, on a loaded machine, moves it). Reads nothing. Fails after 30 s.
#[track_caller]
pub fn wait_until_the_sender_waits(stream: &TcpStream, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut last, mut still) = (0, 0);
    loop {
        // FIONREAD: the bytes waiting; unlike a peek, it leaves the socket's blocking mode
        // (shared with any clone writing on it) alone.
        let waiting = rustix::io::ioctl_fionread(stream).expect("FIONREAD");
        still = if waiting == last { still + 1 } else { 0 };
        last = waiting;
        if waiting >= at_least && still >= 3 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server never waited on the client: {waiting} bytes unread"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What one run of the binary produced.
#[derive(Debug, Clone)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output, as text.
    pub stdout: String,
    /// Standard error, as text.
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Run {
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert_no_panic(&run.stderr);
        assert_ne!(run.code, 101, "feedsvc panicked:\n{}", run.stderr);
        run
    }

    /// Panics with both streams unless the command succeeded.
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "command failed\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// No user ever sees a panic, a backtrace hint or an internal error, whatever the input.
#[track_caller]
pub fn assert_no_panic(stderr: &str) {
    for sign in ["panicked", "RUST_BACKTRACE", "internal error"] {
        assert!(!stderr.contains(sign), "feedsvc panicked:\n{stderr}");
    }
}

/// Tests that load the machine (many processes, hundreds of connections, random kills timed
/// against a measured publish) hold this lock exclusively; tests that measure time hold it
/// shared. So a timing is never taken beside a load, whatever else runs in parallel.
static LOAD: RwLock<()> = RwLock::new(());

/// For a test that loads the machine: runs alone among the load and timed tests.
pub fn heavy() -> RwLockWriteGuard<'static, ()> {
    LOAD.write().unwrap_or_else(PoisonError::into_inner)
}

/// For a test that measures time: never runs beside a [`heavy`] one.
pub fn timed() -> RwLockReadGuard<'static, ()> {
    LOAD.read().unwrap_or_else(PoisonError::into_inner)
}

/// `site.base_url` of every test site. The server listens on a port the kernel picks (the
/// configuration says `127.0.0.1:0`), so the public URL is a name of its own: nothing is ever
/// fetched from it (`.test` is reserved and never resolves); tests reach the server at
/// [`Server::addr`].
pub const BASE_URL: &str = "http://wire.test/";

/// A site directory: `config.toml`, `data/`, and `articles/` for inputs.
pub struct TestEnv {
    dir: tempfile::TempDir,
    /// `site.base_url`, ending in `/`.
    pub base: String,
}

impl TestEnv {
    /// A site with the default settings.
    pub fn new() -> TestEnv {
        TestEnv::with_settings(&[])
    }

    /// A site with extra `key = value` lines per section: `[("feeds", "items = 5")]`.
    pub fn with_settings(extra: &[(&str, &str)]) -> TestEnv {
        let dir = tempfile::tempdir().expect("temporary directory");
        let env = TestEnv {
            dir,
            base: BASE_URL.to_string(),
        };
        std::fs::create_dir_all(env.path("data")).expect("data directory");
        std::fs::create_dir_all(env.path("articles")).expect("articles directory");
        env.write_config(&env.config_text(extra));
        env
    }

    /// The configuration this harness writes, with `extra` lines added to their sections.
    pub fn config_text(&self, extra: &[(&str, &str)]) -> String {
        let section = |name: &str| -> String {
            extra
                .iter()
                .filter(|(s, _)| *s == name)
                .map(|(_, line)| format!("{line}\n"))
                .collect()
        };
        format!(
            "[site]\ntitle = \"Test Wire\"\nbase_url = \"{base}\"\ndescription = \"World news for tests\"\n{site}\
             \n[server]\nlisten = \"127.0.0.1:0\"\nlog = \"warn\"\n{server}\
             \n[storage]\ndatabase = \"data/feedsvc.db\"\nsamples = \"\"\n{storage}\
             \n[feeds]\n{feeds}\
             \n[stats]\n{stats}\
             \n[admin]\n{admin}",
            base = self.base,
            stats = section("stats"),
            // No admin listener unless a test asks for one: tests run side by side.
            admin = match section("admin") {
                lines if lines.is_empty() => "listen = \"\"\n".to_string(),
                lines => lines,
            },
            site = section("site"),
            server = section("server"),
            storage = section("storage"),
            feeds = section("feeds"),
        )
    }

    /// Replaces `config.toml`.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config.toml");
    }

    /// Rewrites one line of `config.toml` (a second line would duplicate the key); fails if
    /// the file has no `old`.
    #[track_caller]
    pub fn replace_setting(&self, old: &str, new: &str) {
        let text = std::fs::read_to_string(self.config_path()).expect("read config.toml");
        assert!(text.contains(old), "config.toml has no {old:?}:\n{text}");
        self.write_config(&text.replacen(old, new, 1));
    }

    /// A path inside the site directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    /// The SQLite database the configuration names.
    pub fn db_path(&self) -> PathBuf {
        self.path("data/feedsvc.db")
    }

    /// The counting's database, beside the archive's (created by `feedsvc serve`).
    pub fn stats_db_path(&self) -> PathBuf {
        self.path("data/feedsvc-stats.db")
    }

    /// Absolute URL of an article page.
    pub fn article_url(&self, slug: &str) -> String {
        format!("{}articles/{slug}", self.base)
    }

    /// Publishes `(title, slug, published, tags)` articles, each with `body`, in one `add`.
    pub fn add_posts(&self, posts: &[(&str, &str, &str, &[&str])], body: &str) {
        let files: Vec<PathBuf> = posts
            .iter()
            .map(|(title, slug, published, tags)| {
                let tags: Vec<String> = tags.iter().map(|t| toml_string(t)).collect();
                let text = format!(
                    "+++\ntitle = {}\nslug = \"{slug}\"\npublished = \"{published}\"\n\
                     tags = [{}]\n+++\n\n{body}\n",
                    toml_string(title),
                    tags.join(", ")
                );
                self.write_article(&format!("{slug}.md"), &text)
            })
            .collect();
        let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        self.add(&paths);
    }

    /// Writes an input file under `articles/` and returns its path.
    pub fn write_article(&self, name: &str, text: &str) -> PathBuf {
        self.write_bytes(name, text.as_bytes())
    }

    /// Writes raw bytes under `articles/` and returns the path.
    pub fn write_bytes(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path("articles").join(name);
        std::fs::write(&path, bytes).expect("write article");
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(self.config_path())
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE")
            .env_remove("FEEDSVC_CONFIG")
            .env_remove("TOKIO_WORKER_THREADS");
        cmd
    }

    /// Runs `feedsvc --config <config.toml> args…` with no input.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run feedsvc");
        Run::from_output(output)
    }

    /// Runs the binary with `input` on standard input.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn feedsvc");
        let mut stdin = child.stdin.take().expect("stdin pipe");
        let input = input.to_vec();
        // Write from another thread so a large input cannot deadlock against full output pipes.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output().expect("wait for feedsvc");
        writer.join().expect("stdin writer");
        Run::from_output(output)
    }

    /// Runs the binary, killing it if it has not finished after `limit` (a command that should
    /// fail at once, like `serve` on a bad database, must not hang the suite if it succeeds).
    pub fn run_with_limit(&self, args: &[&str], limit: Duration) -> Run {
        let mut child = self.spawn(args);
        let deadline = Instant::now() + limit;
        while child.try_wait().expect("poll feedsvc").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let run = TestEnv::finish(child);
                panic!(
                    "feedsvc {args:?} still running after {limit:?}: {}",
                    run.stderr
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        TestEnv::finish(child)
    }

    /// Starts the binary without waiting (for concurrency tests).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn feedsvc")
    }

    /// Collects a spawned child's result.
    pub fn finish(child: Child) -> Run {
        Run::from_output(child.wait_with_output().expect("wait for feedsvc"))
    }

    /// Publishes files; panics unless it succeeds. Returns stdout.
    #[track_caller]
    pub fn add(&self, files: &[&Path]) -> String {
        let mut args = vec!["add"];
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        args.extend(names.iter().map(String::as_str));
        self.run(&args).success().stdout
    }

    /// Writes and publishes one article; returns its URL.
    #[track_caller]
    pub fn add_article(&self, title: &str, slug: &str, published: &str, body: &str) -> String {
        let path = self.write_article(
            &format!("{slug}.md"),
            &article(title, slug, published, body),
        );
        self.add(&[&path]).trim().to_string()
    }

    /// `feedsvc list --json`, parsed.
    #[track_caller]
    pub fn list_json(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["list", "--json"]).success().stdout;
        serde_json::from_str(&out).expect("list --json is a JSON array")
    }

    /// `feedsvc show <slug> --json`, parsed.
    #[track_caller]
    pub fn show_json(&self, slug: &str) -> serde_json::Value {
        let out = self.run(&["show", slug, "--json"]).success().stdout;
        serde_json::from_str(&out).expect("show --json is a JSON object")
    }

    /// Everything stored, to prove a command changed nothing: the `list --json` output plus a
    /// digest of every row of every table (documents included).
    pub fn snapshot(&self) -> Snapshot {
        let list = self.run(&["list", "--json"]);
        Snapshot {
            list: (list.code, list.stdout),
            tables: table_digest(&self.db_path()),
        }
    }

    /// Starts `feedsvc serve`; the server is killed when the returned value is dropped.
    pub fn serve(&self) -> Server {
        Server::start(self)
    }

    /// Starts `feedsvc serve ARGS…` with extra environment variables.
    pub fn serve_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Server {
        Server::start_with(self, args, vars)
    }
}

/// `feedsvc check` must pass; returns its summary line.
#[track_caller]
pub fn assert_check_ok(env: &TestEnv) -> String {
    let run = env.run(&["check"]);
    assert_eq!(
        run.code, 0,
        "feedsvc check found problems:\n{}{}",
        run.stdout, run.stderr
    );
    run.stdout.trim().to_string()
}

/// The observable state of a site's database.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    list: (i32, String),
    tables: String,
}

/// A digest of every row of every table, in a stable order; "no database" if the file is absent.
pub fn table_digest(db: &Path) -> String {
    use sha2::{Digest, Sha256};
    if !db.exists() {
        return "no database".to_string();
    }
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database read-only");
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .expect("list tables")
        .query_map([], |r| r.get(0))
        .expect("query tables")
        .collect::<rusqlite::Result<_>>()
        .expect("table names");
    tables.sort();
    let mut hasher = Sha256::new();
    for table in &tables {
        hasher.update(table.as_bytes());
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
            .expect("select rows");
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).expect("query rows");
        let mut count = 0u64;
        while let Some(row) = rows.next().expect("row") {
            count += 1;
            for i in 0..columns {
                use rusqlite::types::ValueRef;
                match row.get_ref(i).expect("value") {
                    ValueRef::Null => hasher.update(b"N"),
                    ValueRef::Integer(n) => hasher.update(format!("I{n}")),
                    ValueRef::Real(f) => hasher.update(format!("R{f}")),
                    ValueRef::Text(t) => {
                        hasher.update(format!("T{}:", t.len()));
                        hasher.update(t);
                    }
                    ValueRef::Blob(b) => {
                        hasher.update(format!("B{}:", b.len()));
                        hasher.update(b);
                    }
                }
            }
        }
        hasher.update(format!("#{count}"));
    }
    let digest = hasher.finalize();
    format!(
        "{} tables: {}",
        tables.join(","),
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// The address in serve's first line, `feedsvc listening on http://ADDR/`.
pub fn listening_address(line: &str) -> Option<&str> {
    line.trim_end()
        .strip_prefix("feedsvc listening on http://")?
        .strip_suffix('/')
        .filter(|addr| addr.parse::<std::net::SocketAddr>().is_ok())
}

/// A running `feedsvc serve`, killed on drop.
pub struct Server {
    child: Child,
    /// Where it listens, as it printed it: `127.0.0.1:PORT`.
    pub addr: String,
    stderr_path: PathBuf,
    /// The lines serve printed on stdout after its first, as they come.
    later_lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    fn start(env: &TestEnv) -> Server {
        Server::start_with(env, &[], &[])
    }

    /// Starts `feedsvc serve ARGS…` with extra environment variables; waits for its first line,
    /// `feedsvc listening on http://ADDR/`, and talks to ADDR from then on.
    pub fn start_with(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Server {
        // Each server of a site writes its own log: a test may run two at once.
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let stderr_path = env.path(&format!("serve-{n}.stderr"));
        let stderr = std::fs::File::create(&stderr_path).expect("server stderr file");
        let child = env
            .command(&["serve"])
            .args(args)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn feedsvc serve");
        Server::adopt(child, stderr_path)
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// What the server printed on stdout after its first line, so far.
    pub fn later_lines(&self) -> Vec<String> {
        self.later_lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to `limit`) for the server to exit; returns its exit status,
    /// or `None` when it was still running at the limit.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        if let Some(status) = self.child.try_wait().expect("wait for feedsvc serve") {
            return Some(status);
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {} failed", self.child.id());
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for feedsvc serve") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Takes over a `feedsvc serve` the caller spawned with a command of its own (stdout piped,
    /// stderr written to `stderr_path`): reads the address from its first line and, like any
    /// other server, kills it on drop.
    pub fn adopt(mut child: Child, stderr_path: PathBuf) -> Server {
        use std::io::BufRead;
        let stdout = child.stdout.take().expect("the command pipes stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        let later_lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let collected = std::sync::Arc::clone(&later_lines);
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = sender.send(first);
            // Keep the pipe open for as long as the server lives: a write to a closed stdout fails.
            for line in reader.lines() {
                let Ok(line) = line else { break };
                collected
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        // Empty when serve exits (or says nothing) first: its stderr then tells why.
        let first = receiver
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_default();
        let mut server = Server {
            child,
            addr: String::new(),
            stderr_path,
            later_lines,
        };
        match listening_address(&first) {
            Some(addr) => server.addr = addr.to_string(),
            None => panic!(
                "serve printed {first:?} instead of its address:\n{}",
                server.stderr()
            ),
        }
        server
    }

    /// `GET path` with extra headers.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers)
    }

    /// One request on a fresh connection (`Connection: close`); the path is sent verbatim.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let stream = TcpStream::connect(&self.addr).expect("connect to feedsvc serve");
        let response = exchange(stream, &self.addr, method, path, headers);
        assert_no_panic(&self.stderr());
        response
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection to `to` from the loopback address `from` (all of 127/8 is this machine).
pub fn connect_from(from: std::net::IpAddr, to: std::net::SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::new(from, 0))
            .expect("bind 127.0.0.x");
        let stream = socket.connect(to).await.expect("connect");
        let stream = stream.into_std().expect("std stream");
        stream.set_nonblocking(false).expect("blocking");
        stream
    })
}

/// One request to `addr` (`127.0.0.1:PORT`) on a fresh connection from the loopback address
/// `from` (`Connection: close`); the path is sent verbatim.
pub fn request_from(
    addr: &str,
    from: std::net::IpAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let to = addr.parse().expect("a socket address");
    exchange(connect_from(from, to), addr, method, path, headers)
}

/// Sends one request on `stream` to `addr` (`Connection: close`, the path verbatim) and reads
/// the whole answer.
fn exchange(
    mut stream: TcpStream,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" || method == "PUT" {
        request.push_str("Content-Length: 0\r\n");
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    Response::parse(&raw, method == "HEAD")
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body bytes as sent (still encoded if `Content-Encoding` is set).
    pub body: Vec<u8>,
}

impl Response {
    /// Parses a whole response read from a connection by a client of the test's own
    /// (`is_head`: the answer to a HEAD request, which has no body).
    pub fn from_raw(raw: &[u8], is_head: bool) -> Response {
        Response::parse(raw, is_head)
    }

    fn parse(raw: &[u8], is_head: bool) -> Response {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
        let head = std::str::from_utf8(&raw[..end]).expect("headers are ASCII");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header line {line:?}"));
                (name.trim().to_ascii_lowercase(), value.trim().to_string())
            })
            .collect();
        let mut body = raw[end + 4..].to_vec();
        let response_has_body = !is_head && status != 304 && status != 204;
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        if chunked && response_has_body {
            body = dechunk(&body);
        } else if let Some(length) = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
        {
            if response_has_body {
                assert_eq!(
                    body.len(),
                    length,
                    "body length differs from Content-Length"
                );
            }
        }
        if !response_has_body {
            assert!(
                body.is_empty(),
                "a {status} response to a {} request carries a body",
                if is_head { "HEAD" } else { "GET" }
            );
        }
        Response {
            status,
            headers,
            body,
        }
    }

    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a header that must be present.
    #[track_caller]
    pub fn expect_header(&self, name: &str) -> &str {
        self.header(name).unwrap_or_else(|| {
            panic!(
                "no {name} header (status {}, headers {:?})",
                self.status, self.headers
            )
        })
    }

    /// True when `Vary` lists `name` (case-insensitive).
    pub fn varies_on(&self, name: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == "vary")
            .flat_map(|(_, v)| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case(name))
    }

    /// The body as UTF-8 text.
    #[track_caller]
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("body is UTF-8")
    }

    /// The body with its `Content-Encoding` undone.
    pub fn decoded_body(&self) -> Vec<u8> {
        match self.header("content-encoding") {
            None | Some("identity") => self.body.clone(),
            Some("gzip") => gunzip(&self.body),
            Some("br") => unbrotli(&self.body),
            Some(other) => panic!("unexpected Content-Encoding {other}"),
        }
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&body[..line_end]).expect("chunk size");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("hex chunk size");
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// Decompresses gzip bytes.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// Decompresses brotli bytes.
pub fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &bytes[..], &mut out).expect("valid brotli");
    out
}

/// Parses a feed of any kind with feed-rs, as a feed reader would.
#[track_caller]
pub fn parse_feed(bytes: &[u8]) -> feed_rs::model::Feed {
    feed_rs::parser::parse(bytes).unwrap_or_else(|e| {
        panic!(
            "feed does not parse: {e}\n{}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// Undoes the five predefined XML/HTML entities (and numeric ones), for comparing text.
pub fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Panics unless `run` failed with exactly one line on stderr holding every fragment.
#[track_caller]
pub fn assert_clean_failure(run: &Run, what: &str, fragments: &[&str]) -> String {
    assert_no_panic(&run.stderr);
    assert_ne!(run.code, 0, "{what} succeeded:\n{}", run.stdout);
    let message = run.stderr.trim_end();
    assert_eq!(
        message.lines().count(),
        1,
        "{what}: the error is not one line:\n{}",
        run.stderr
    );
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "{what}: the error lacks {fragment:?}: {message}"
        );
    }
    message.to_string()
}

/// Runs `args` (with `stdin` if given), expecting a refusal whose one-line message contains
/// every fragment, nothing on stdout, and no change to the database.
#[track_caller]
pub fn assert_refused(
    env: &TestEnv,
    args: &[&str],
    stdin: Option<&[u8]>,
    fragments: &[&str],
) -> String {
    let before = env.snapshot();
    let run = match stdin {
        Some(input) => env.run_stdin(args, input),
        None => env.run(args),
    };
    let message = assert_clean_failure(&run, &format!("{args:?}"), fragments);
    assert_eq!(run.stdout, "", "a refused command printed URLs");
    assert_eq!(
        env.snapshot(),
        before,
        "a refused command changed the database"
    );
    message
}

/// Values of the attribute `attr` (any case) on every start tag of an HTML fragment, or of an
/// XML start tag, as written (entities not decoded).
pub fn attribute_values(html: &str, attr: &str) -> Vec<String> {
    let attr = attr.to_ascii_lowercase();
    html_start_tags(html)
        .into_iter()
        .flat_map(|tag| tag.attributes)
        .filter(|(name, _)| *name == attr)
        .map(|(_, value)| value)
        .collect()
}

/// Every start tag `<name …>` (up to its `>`) in an XML document.
pub fn start_tags<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}");
    let mut tags = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        if after.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            let end = after.find('>').map_or(after.len(), |e| e + 1);
            tags.push(&rest[i..i + open.len() + end]);
        }
        rest = after;
    }
    tags
}

/// The text between the first `open` and the next `close`.
pub fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

/// A start tag as an HTML tokenizer sees it: lowercased name and attribute names, raw values.
#[derive(Debug)]
pub struct StartTag {
    pub name: String,
    pub attributes: Vec<(String, String)>,
}

impl StartTag {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every start tag in `html`, skipping comments, end tags, declarations and the raw text of
/// elements whose content is not markup.
pub fn html_start_tags(html: &str) -> Vec<StartTag> {
    let mut tags = Vec::new();
    let mut at = 0;
    while let Some(offset) = html[at..].find('<') {
        let start = at + offset;
        let rest = &html[start..];
        if let Some(after) = rest.strip_prefix("<!--") {
            at = start + 4 + after.find("-->").map_or(after.len(), |end| end + 3);
            continue;
        }
        if rest.starts_with("</") || rest.starts_with("<!") || rest.starts_with("<?") {
            at = start + rest.find('>').map_or(rest.len(), |end| end + 1);
            continue;
        }
        if !rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            at = start + 1;
            continue;
        }
        let (tag, length) = start_tag(&rest[1..]);
        at = start + 1 + length;
        let is_raw_text = matches!(
            tag.name.as_str(),
            "script"
                | "style"
                | "textarea"
                | "title"
                | "xmp"
                | "iframe"
                | "noembed"
                | "noframes"
                | "noscript"
        );
        if is_raw_text {
            let close = format!("</{}", tag.name);
            // ASCII lowercasing keeps byte offsets.
            let lower = html[at..].to_ascii_lowercase();
            at += lower.find(&close).unwrap_or(lower.len());
        }
        tags.push(tag);
    }
    tags
}

/// Tokenizes one start tag after its `<`: returns it and the bytes consumed (through `>`).
fn start_tag(text: &str) -> (StartTag, usize) {
    let mut chars = text.char_indices().peekable();
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0C');
    let mut tag = StartTag {
        name: String::new(),
        attributes: Vec::new(),
    };
    while let Some(&(_, c)) = chars.peek() {
        if is_space(c) || c == '/' || c == '>' {
            break;
        }
        tag.name.push(c.to_ascii_lowercase());
        chars.next();
    }
    loop {
        while chars.next_if(|&(_, c)| is_space(c) || c == '/').is_some() {}
        let Some((i, first)) = chars.next() else {
            return (tag, text.len());
        };
        if first == '>' {
            return (tag, i + 1);
        }
        // The first character of a name may be `=`.
        let mut name = first.to_ascii_lowercase().to_string();
        while let Some((_, c)) =
            chars.next_if(|&(_, c)| !(is_space(c) || matches!(c, '/' | '>' | '=')))
        {
            name.push(c.to_ascii_lowercase());
        }
        while chars.next_if(|&(_, c)| is_space(c)).is_some() {}
        let mut value = String::new();
        if chars.next_if(|&(_, c)| c == '=').is_some() {
            while chars.next_if(|&(_, c)| is_space(c)).is_some() {}
            match chars.peek().map(|&(_, c)| c) {
                Some(quote @ ('"' | '\'')) => {
                    chars.next();
                    for (_, c) in chars.by_ref() {
                        if c == quote {
                            break;
                        }
                        value.push(c);
                    }
                }
                _ => {
                    while let Some((_, c)) = chars.next_if(|&(_, c)| !(is_space(c) || c == '>')) {
                        value.push(c);
                    }
                }
            }
        }
        tag.attributes.push((name, value));
    }
}
