//! Subscriber statistics (issue 15) on the real binary: what the server counts per feed and UTC
//! day, what `feedsvc stats` reports of it, what the database keeps (no client address), the
//! admin listener (dashboard, `/metrics`, its token) and `server.min_poll_secs`. Every client
//! connects from an address of 127.0.0.0/8, which is all this machine's loopback. Tests wait on
//! the condition itself, up to [`CEILING`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::support::{assert_no_panic, request_from, wait_for, Response, Server, TestEnv};

/// The longest any awaited condition may take: generous, so that a busy machine slows a test
/// down instead of failing it.
const CEILING: Duration = Duration::from_secs(20);

/// What a browser navigating to a URL sends (Firefox and Chrome send the same list).
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

// The User-Agents of the aggregators, in the formats they send (see the contract).
const FEEDLY_462: &str = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 462 subscribers; )";
const FEEDLY_470: &str = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 470 subscribers; )";
const INOREADER: &str = "Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)";
const NEWSBLUR: &str = "NewsBlur Feed Fetcher - 12 subscribers - \
     https://www.newsblur.com/site/1234/test-wire (Mozilla/5.0 (Macintosh; Intel Mac OS X \
     10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.1 Safari/605.1.15)";
const FEEDBIN_7: &str = "Feedbin feed-id:1234 - 7 subscribers";
const FEEDBIN_3: &str = "Feedbin feed-id:5678 - 3 subscribers";
const OLD_READER: &str =
    "Mozilla/5.0 (compatible; theoldreader.com; 8 subscribers; feed-id=6a1b2c3d4e5f60718293a4b5)";
const BAZQUX: &str =
    "Mozilla/5.0 (compatible; BazQux/2.4; +https://bazqux.com/fetcher; 3 subscribers)";
/// An aggregator the server knows nothing of, reporting `N readers`: named by its product token.
const FOO_READER: &str = "FooReader/2.0 (+https://fooreader.example/bot; 5 readers)";

// Readers that report no count: each distinct one is one subscriber.
const NEWSBOAT: &str = "newsboat/2.36.0 (Linux x86_64)";
const NETNEWSWIRE: &str = "NetNewsWire (RSS Reader; https://netnewswire.com/)";
const THUNDERBIRD: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0";
/// A browser; it sends [`BROWSER_ACCEPT`] and is never a subscriber.
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// The name `feedsvc stats` gives the readers that report no count.
const OTHER: &str = "Other readers";

/// The usual client address.
const LOCAL: [u8; 4] = [127, 0, 0, 1];

/// An IPv4 address as the client side of a connection binds it.
fn ip(octets: [u8; 4]) -> IpAddr {
    IpAddr::from(octets)
}

// ---------------------------------------------------------------------------------------------
// The site and its configuration
// ---------------------------------------------------------------------------------------------

/// Sets `line` (`key = value`) in `[section]` of `text`: replaces the key's line if the section
/// has one, adds it below the section's header otherwise, and adds the section if it is absent.
fn set_setting(text: &str, section: &str, line: &str) -> String {
    let key = line.split('=').next().unwrap_or("").trim();
    let header = format!("[{section}]");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let Some(start) = lines.iter().position(|l| l.trim() == header) else {
        return format!("{}\n{header}\n{line}\n", text.trim_end());
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let existing = (start + 1..end).find(|&i| {
        lines[i]
            .split('=')
            .next()
            .is_some_and(|k| k.trim() == key && lines[i].contains('='))
    });
    match existing {
        Some(i) => lines[i] = line.to_string(),
        None => lines.insert(start + 1, line.to_string()),
    }
    lines.join("\n") + "\n"
}

/// A site with two articles (one tagged Asia) and `settings` as `(section, "key = value")`,
/// any section. The admin listener is off unless a setting turns it on.
fn site(settings: &[(&str, &str)]) -> TestEnv {
    let env = TestEnv::new();
    env.write_config(&set_setting(
        &env.config_text(&[]),
        "admin",
        "listen = \"\"",
    ));
    configure(&env, settings);
    let body = "Diplomats met again on Tuesday to discuss the agreement. ".repeat(8);
    env.add_posts(
        &[
            (
                "Envoys reopen the Geneva channel",
                "geneva",
                "2026-01-10T10:00:00Z",
                &["Asia"],
            ),
            (
                "Cocoa farmers plant shade trees",
                "cocoa",
                "2026-01-11T10:00:00Z",
                &[],
            ),
        ],
        &body,
    );
    env
}

/// Sets each `(section, "key = value")` in the site's `config.toml`.
fn configure(env: &TestEnv, settings: &[(&str, &str)]) {
    let mut text = std::fs::read_to_string(env.config_path()).expect("read config.toml");
    for (section, line) in settings {
        text = set_setting(&text, section, line);
    }
    env.write_config(&text);
}

/// Sends SIGTERM and waits for a clean exit (the counts are written on the way out).
#[track_caller]
fn stop(server: &mut Server) {
    let status = server
        .terminate(CEILING)
        .unwrap_or_else(|| panic!("serve still running after SIGTERM:\n{}", server.stderr()));
    assert!(
        status.success(),
        "serve exited with {status:?} after SIGTERM:\n{}",
        server.stderr()
    );
    assert_no_panic(&server.stderr());
}

/// The admin listener's address, from serve's line `feedsvc admin listening on http://ADDR/`.
#[track_caller]
fn admin_address(server: &Server) -> String {
    wait_for("the admin listener's line", CEILING, || {
        server.later_lines().iter().find_map(|line| {
            line.trim_end()
                .strip_prefix("feedsvc admin listening on http://")?
                .strip_suffix('/')
                .filter(|addr| addr.parse::<std::net::SocketAddr>().is_ok())
                .map(str::to_string)
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Polls, and what the test expects of them
// ---------------------------------------------------------------------------------------------

/// What the test sent to one path and what came back, as `feedsvc stats` must count it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Sent {
    requests: u64,
    ok: u64,
    not_modified: u64,
    limited: u64,
    bytes: u64,
}

/// A client of the public listener that keeps account of every answer, per path.
struct Poller {
    /// The public listener's address.
    addr: String,
    sent: BTreeMap<String, Sent>,
}

impl Poller {
    fn new(server: &Server) -> Poller {
        Poller {
            addr: server.addr.clone(),
            sent: BTreeMap::new(),
        }
    }

    /// GET `path` from `from` as `agent`, with more headers.
    fn get_from(
        &mut self,
        from: [u8; 4],
        agent: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut all = vec![("User-Agent", agent)];
        all.extend_from_slice(headers);
        let response = request_from(&self.addr, ip(from), "GET", path, &all);
        let sent = self.sent.entry(path.to_string()).or_default();
        sent.requests += 1;
        match response.status {
            200 => sent.ok += 1,
            304 => sent.not_modified += 1,
            429 => sent.limited += 1,
            _ => {}
        }
        sent.bytes += response.body.len() as u64;
        response
    }

    /// GET `path` from 127.0.0.1 as `agent`, with more headers.
    fn get(&mut self, agent: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.get_from(LOCAL, agent, path, headers)
    }

    /// An unconditional GET of `path` that must be answered 200 with the feed.
    #[track_caller]
    fn poll(&mut self, agent: &str, path: &str) -> Response {
        let response = self.get(agent, path, &[]);
        assert_eq!(response.status, 200, "{agent} polling {path}");
        response
    }

    /// What was sent to `path`.
    fn sent(&self, path: &str) -> Sent {
        self.sent.get(path).cloned().unwrap_or_default()
    }
}

/// `feedsvc stats --json ARGS…`, parsed.
#[track_caller]
fn report(env: &TestEnv, args: &[&str]) -> Value {
    let mut all = vec!["stats", "--json"];
    all.extend_from_slice(args);
    let run = env.run(&all).success();
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stats --json is not JSON ({e}):\n{}", run.stdout))
}

/// Runs `feedsvc stats --json` until `done` holds of the report; fails showing the last one.
#[track_caller]
fn wait_for_report(env: &TestEnv, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + CEILING;
    loop {
        let last = report(env, &[]);
        if done(&last) {
            return last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not after {CEILING:?}; the last report:\n{last:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The report's entry for the feed at `path`.
#[track_caller]
fn feed<'r>(report: &'r Value, path: &str) -> &'r Value {
    report["feeds"]
        .as_array()
        .expect("feeds is an array")
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no feed {path} in the report:\n{report:#}"))
}

/// The paths of the report's feeds, sorted.
fn feed_paths(report: &Value) -> Vec<String> {
    let mut paths: Vec<String> = report["feeds"]
        .as_array()
        .expect("feeds is an array")
        .iter()
        .map(|f| f["path"].as_str().expect("a path").to_string())
        .collect();
    paths.sort();
    paths
}

/// A feed's `readers` rows as (name, subscribers), in the report's order.
fn readers(feed: &Value) -> Vec<(String, u64)> {
    feed["readers"]
        .as_array()
        .expect("readers is an array")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("a name").to_string(),
                r["subscribers"].as_u64().expect("a count"),
            )
        })
        .collect()
}

/// `readers` rows as [`readers`] returns them.
fn rows(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    expected.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// A numeric field of a JSON object.
#[track_caller]
fn number(value: &Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count in {value:#}"))
}

/// Asserts the report's counts of one feed equal what the test sent to it.
#[track_caller]
fn assert_counted(feed: &Value, sent: &Sent) {
    let counted = Sent {
        requests: number(feed, "requests"),
        ok: number(feed, "ok"),
        not_modified: number(feed, "not_modified"),
        limited: number(feed, "limited"),
        bytes: number(feed, "bytes"),
    };
    assert_eq!(&counted, sent, "the counts of {}", feed["path"]);
}

// ---------------------------------------------------------------------------------------------
// Counting and `feedsvc stats`
// ---------------------------------------------------------------------------------------------

/// Every aggregator's User-Agent is read for its name and count; the report holds the latest
/// count each one sent that day (not the sum of its polls), different feed ids of one
/// aggregator add up, each distinct reader is one subscriber however often it polls, and a
/// browser viewing the feed is counted as a request but is no subscriber. Requests, 304s and
/// bytes are exactly what was sent; pages are not feeds and are not counted.
#[test]
fn stats_report_the_latest_aggregator_counts_and_one_subscriber_per_reader() {
    let env = site(&[]);
    let mut server = env.serve();
    let mut client = Poller::new(&server);
    for agent in [
        FEEDLY_462, INOREADER, NEWSBLUR, FEEDBIN_7, FEEDBIN_3, OLD_READER, BAZQUX, FOO_READER,
    ] {
        client.poll(agent, "/atom.xml");
    }
    for _ in 0..5 {
        client.poll(NEWSBOAT, "/atom.xml");
    }
    let first = client.poll(NETNEWSWIRE, "/atom.xml");
    let etag = first.expect_header("etag").to_string();
    for _ in 0..2 {
        let again = client.get(NETNEWSWIRE, "/atom.xml", &[("If-None-Match", &etag)]);
        assert_eq!(again.status, 304, "a poll with the feed's ETag");
    }
    client.poll(THUNDERBIRD, "/atom.xml");
    client.poll(THUNDERBIRD, "/rss.xml");
    let view = client.get(FIREFOX, "/atom.xml", &[("Accept", BROWSER_ACCEPT)]);
    assert_eq!(view.status, 200);
    assert!(
        view.expect_header("content-type").starts_with("text/html"),
        "a browser gets the feed's browser view: {:?}",
        view.headers
    );
    // Pages are not feeds.
    for path in ["/", "/articles/geneva"] {
        let page = client.get(NEWSBOAT, path, &[]);
        assert_eq!(page.status, 200, "{path}");
    }
    // Later the same day, Feedly reports a new count.
    client.poll(FEEDLY_470, "/atom.xml");
    stop(&mut server);

    let report = report(&env, &[]);
    assert_eq!(report["days"], 30, "{report:#}");
    let day = report["latest_day"].as_str().expect("a latest day");
    assert_eq!(day, day_name(today_number()));
    assert_eq!(feed_paths(&report), ["/atom.xml", "/rss.xml"], "{report:#}");

    let atom = feed(&report, "/atom.xml");
    assert_eq!(
        readers(atom),
        rows(&[
            ("Feedly", 470),
            ("Inoreader", 114),
            ("NewsBlur", 12),
            ("Feedbin", 7 + 3),
            ("The Old Reader", 8),
            ("FooReader", 5),
            ("BazQux", 3),
            (OTHER, 3),
        ]),
        "the aggregators' latest counts, most first, then one per distinct reader"
    );
    assert_eq!(
        number(atom, "subscribers"),
        470 + 114 + 12 + 10 + 8 + 5 + 3 + 3
    );
    assert_counted(atom, &client.sent("/atom.xml"));
    assert!(number(atom, "bytes") > 0);
    // Every (address, User-Agent) but the browser's: the nine aggregator agents (Feedly with
    // two) and three readers; of them, only NetNewsWire sent validators.
    assert_eq!(number(atom, "pollers"), 12, "{atom:#}");
    assert_eq!(number(atom, "pollers_without_validators"), 11, "{atom:#}");

    let rss = feed(&report, "/rss.xml");
    assert_eq!(readers(rss), rows(&[(OTHER, 1)]));
    assert_eq!(number(rss, "subscribers"), 1);
    assert_counted(rss, &client.sent("/rss.xml"));
    assert_eq!(number(&report, "total_subscribers"), 625 + 1);

    let worst = &report["worst_pollers"][0];
    assert_eq!(worst["user_agent"], NEWSBOAT, "{report:#}");
    assert_eq!(worst["requests"], 5, "{worst:#}");
    assert_eq!(
        worst["unconditional_per_day"].as_f64(),
        Some(5.0),
        "{worst:#}"
    );
    assert_eq!(
        worst["feeds"],
        serde_json::json!(["/atom.xml"]),
        "{worst:#}"
    );

    // Every day of the window, oldest first, the last one today with all of it.
    let daily = report["daily"].as_array().expect("daily is an array");
    assert_eq!(daily.len(), 30, "{report:#}");
    let last = &daily[29];
    assert_eq!(last["day"], day);
    assert_eq!(number(last, "subscribers"), 626);
    let (atom_sent, rss_sent) = (client.sent("/atom.xml"), client.sent("/rss.xml"));
    assert_eq!(
        number(last, "requests"),
        atom_sent.requests + rss_sent.requests
    );
    assert_eq!(number(last, "not_modified"), 2);
    assert_eq!(number(last, "bytes"), atom_sent.bytes + rss_sent.bytes);
    let history = atom["history"].as_array().expect("history is an array");
    assert_eq!(history.len(), 30);
    assert_eq!(history[29]["day"], day);
    assert_eq!(number(&history[29], "subscribers"), 625);
    assert_eq!(number(&history[29], "requests"), atom_sent.requests);
    assert!(
        history[..29]
            .iter()
            .all(|d| d["requests"] == 0 && d["subscribers"] == 0),
        "nothing was counted before today: {history:#?}"
    );

    // A shorter window holds the same day.
    let week = report_with_days(&env, "7");
    assert_eq!(week["days"], 7);
    assert_eq!(week["daily"].as_array().map(Vec::len), Some(7));
    assert_eq!(number(&week, "total_subscribers"), 626);

    // The same, as a table.
    let table = env.run(&["stats"]).success().stdout;
    for shown in [
        "/atom.xml",
        "/rss.xml",
        "Feedly",
        "470",
        "Inoreader",
        "NewsBlur",
        "Feedbin",
        "The Old Reader",
        "BazQux",
        "FooReader",
        OTHER,
    ] {
        assert!(table.contains(shown), "the table lacks {shown:?}:\n{table}");
    }
}

/// `feedsvc stats --json --days N`.
#[track_caller]
fn report_with_days(env: &TestEnv, days: &str) -> Value {
    report(env, &["--days", days])
}

/// With `stats.flush_secs = 1` the counts reach the database while the server runs, and a
/// later flush the same day replaces an aggregator's count and keeps a reader seen before it
/// as the same one.
#[test]
fn counts_reach_the_database_every_flush_and_later_flushes_do_not_add_up() {
    let env = site(&[("stats", "flush_secs = 1")]);
    let server = env.serve();
    let mut client = Poller::new(&server);
    client.poll(FEEDLY_462, "/atom.xml");
    client.poll(NEWSBOAT, "/atom.xml");
    client.poll(FEEDBIN_7, "/atom.xml");
    let first = wait_for_report(&env, "the first polls flushed", |r| {
        r["feeds"][0]["requests"] == 3
    });
    assert_eq!(
        readers(feed(&first, "/atom.xml")),
        rows(&[("Feedly", 462), ("Feedbin", 7), (OTHER, 1)])
    );
    client.poll(FEEDLY_470, "/atom.xml");
    client.poll(NEWSBOAT, "/atom.xml");
    client.poll(FEEDBIN_7, "/atom.xml");
    let second = wait_for_report(&env, "the later polls flushed", |r| {
        r["feeds"][0]["requests"] == 6
    });
    let atom = feed(&second, "/atom.xml");
    assert_eq!(
        readers(atom),
        rows(&[("Feedly", 470), ("Feedbin", 7), (OTHER, 1)]),
        "after a second flush"
    );
    assert_eq!(number(atom, "subscribers"), 478);
    assert_eq!(number(&second, "total_subscribers"), 478);
    assert_counted(atom, &client.sent("/atom.xml"));
}

/// `stats.enabled = false`: nothing is counted per feed.
#[test]
fn with_stats_disabled_nothing_is_counted() {
    let env = site(&[("stats", "enabled = false"), ("stats", "flush_secs = 1")]);
    let mut server = env.serve();
    let mut client = Poller::new(&server);
    client.poll(FEEDLY_462, "/atom.xml");
    client.poll(NEWSBOAT, "/atom.xml");
    std::thread::sleep(Duration::from_millis(1500));
    stop(&mut server);
    let report = report(&env, &[]);
    assert_eq!(report["feeds"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["total_subscribers"], 0);
    assert_eq!(report["latest_day"], Value::Null);
}

/// One poller is one (address, User-Agent): the same reader from two addresses is two readers.
/// An aggregator's count is its own, whichever address its polls come from.
#[test]
fn the_same_user_agent_from_two_addresses_is_two_readers() {
    let env = site(&[]);
    let mut server = env.serve();
    let mut client = Poller::new(&server);
    for from in [LOCAL, [127, 0, 0, 2]] {
        for _ in 0..2 {
            let r = client.get_from(from, NEWSBOAT, "/atom.xml", &[]);
            assert_eq!(r.status, 200);
        }
        let r = client.get_from(from, FEEDLY_462, "/atom.xml", &[]);
        assert_eq!(r.status, 200);
    }
    stop(&mut server);
    let report = report(&env, &[]);
    let atom = feed(&report, "/atom.xml");
    assert_eq!(readers(atom), rows(&[("Feedly", 462), (OTHER, 2)]));
    assert_eq!(number(atom, "subscribers"), 464);
    assert_eq!(number(atom, "pollers"), 4, "{atom:#}");
    assert_counted(atom, &client.sent("/atom.xml"));
}

/// A site under a base path counts its feeds too.
#[test]
fn feeds_under_a_base_path_are_counted() {
    let env = TestEnv::new();
    let text = env.config_text(&[]).replace(
        "base_url = \"http://wire.test/\"",
        "base_url = \"http://wire.test/news/\"",
    );
    assert!(text.contains("wire.test/news/"), "{text}");
    env.write_config(&set_setting(&text, "admin", "listen = \"\""));
    env.add_article(
        "Cocoa farmers plant shade trees",
        "cocoa",
        "2026-01-10T10:00:00Z",
        "Body.",
    );
    let mut server = env.serve();
    let mut client = Poller::new(&server);
    client.poll(FEEDLY_462, "/news/atom.xml");
    client.poll(NEWSBOAT, "/news/rss.xml");
    stop(&mut server);
    let report = report(&env, &[]);
    let paths = feed_paths(&report);
    assert_eq!(paths.len(), 2, "{report:#}");
    assert!(
        paths[0].ends_with("/atom.xml") && paths[1].ends_with("/rss.xml"),
        "{paths:?}"
    );
    assert_eq!(number(&report, "total_subscribers"), 463);
}

/// Tag feeds and the JSON feed are subscription feeds: counted under their own path; a
/// month's archive feed is not.
#[test]
fn tag_feeds_are_counted_under_their_path() {
    let env = site(&[]);
    let mut server = env.serve();
    let mut client = Poller::new(&server);
    client.poll(INOREADER, "/tags/asia/atom.xml");
    client.poll(NEWSBOAT, "/tags/asia/rss.xml");
    client.poll(NEWSBOAT, "/feed.json");
    // A month's archive feed is for reading back, not for subscribing: not counted.
    client.poll(THUNDERBIRD, "/archive/2026-01/atom.xml");
    stop(&mut server);
    let report = report(&env, &[]);
    assert_eq!(
        feed_paths(&report),
        ["/feed.json", "/tags/asia/atom.xml", "/tags/asia/rss.xml"],
        "{report:#}"
    );
    assert_eq!(
        readers(feed(&report, "/tags/asia/atom.xml")),
        rows(&[("Inoreader", 114), (OTHER, 0)])
    );
    assert_eq!(number(&report, "total_subscribers"), 116);
}

/// `feedsvc stats` on a site nobody polled yet, and its refusals of a bad `--days`.
#[test]
fn stats_without_polls_is_empty_and_a_bad_days_is_refused() {
    let env = site(&[]);
    let report = report(&env, &[]);
    assert_eq!(report["latest_day"], Value::Null, "{report:#}");
    assert_eq!(report["total_subscribers"], 0);
    assert_eq!(report["feeds"], serde_json::json!([]));
    assert_eq!(report["daily"].as_array().map(Vec::len), Some(30));
    assert_eq!(report_with_days(&env, "3650")["days"], 3650);
    assert_eq!(
        report_with_days(&env, "1")["daily"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    env.run(&["stats"]).success();
    for days in ["0", "abc", "3651", ""] {
        for json in [true, false] {
            let mut args = vec!["stats", "--days", days];
            if json {
                args.push("--json");
            }
            let run = env.run(&args);
            assert_ne!(run.code, 0, "{args:?} succeeded:\n{}", run.stdout);
            assert_eq!(run.stdout, "", "{args:?}");
            assert!(
                run.stderr.contains("--days") || run.stderr.contains("days"),
                "{args:?}: the error does not name --days: {}",
                run.stderr
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Days: the window, the latest day, retention
// ---------------------------------------------------------------------------------------------

/// Today's number, in UTC days since 1970-01-01 (the stats tables' `day`).
fn today_number() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(86_400)
}

/// A day's number as `feedsvc stats` writes it: `YYYY-MM-DD`.
fn day_name(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .expect("a day")
        .format("%Y-%m-%d")
        .to_string()
}

/// Counts of earlier days, written straight into the tables (as a server would have flushed
/// them) for `/atom.xml`: on `day`, `requests` requests (all 200 but `not_modified`), 100 bytes
/// each, Feedly reporting `feedly`, and `readers` readers.
fn write_day(env: &TestEnv, day: i64, requests: i64, not_modified: i64, feedly: i64, readers: u8) {
    if !env.stats_db_path().exists() {
        // `feedsvc serve` makes the counting's database as it starts.
        drop(env.serve());
    }
    let conn = rusqlite::Connection::open(env.stats_db_path()).expect("open the database");
    conn.execute(
        "INSERT INTO stats_feeds (day, path, requests, ok, not_modified, limited, bytes) \
         VALUES (?1, '/atom.xml', ?2, ?3, ?4, 0, ?5)",
        rusqlite::params![
            day,
            requests,
            requests - not_modified,
            not_modified,
            requests * 100
        ],
    )
    .expect("insert a day of a feed");
    conn.execute(
        "INSERT INTO stats_aggregators (day, path, name, feed_id, subscribers, seen_ms) \
         VALUES (?1, '/atom.xml', 'Feedly', '', ?2, ?3)",
        rusqlite::params![day, feedly, day * 86_400_000 + 3_600_000],
    )
    .expect("insert an aggregator's count");
    let pollers = (0..readers)
        .map(|n| (vec![n; 16], 0, format!("reader-{n}/1.0")))
        .chain([(vec![200; 16], 1, FEEDLY_462.to_string())]);
    for (poller, kind, agent) in pollers {
        conn.execute(
            "INSERT INTO stats_pollers (day, path, poller, kind, agent, requests, unconditional) \
             VALUES (?1, '/atom.xml', ?2, ?3, ?4, 1, 1)",
            rusqlite::params![day, poller, kind, agent],
        )
        .expect("insert a poller");
    }
}

/// Sums are over the window; subscribers are those of the latest day in it with counts; a
/// window holding no counted day has no latest day and no feed.
#[test]
fn stats_sum_the_window_and_take_subscribers_from_its_latest_day() {
    let env = site(&[]);
    let today = today_number();
    write_day(&env, today - 10, 10, 2, 500, 1);
    write_day(&env, today - 3, 4, 1, 520, 2);

    let month = report(&env, &[]);
    assert_eq!(month["latest_day"], day_name(today - 3), "{month:#}");
    assert_eq!(number(&month, "total_subscribers"), 522);
    let atom = feed(&month, "/atom.xml");
    assert_eq!(readers(atom), rows(&[("Feedly", 520), (OTHER, 2)]));
    assert_counted(
        atom,
        &Sent {
            requests: 14,
            ok: 11,
            not_modified: 3,
            limited: 0,
            bytes: 1400,
        },
    );
    // One reader and Feedly, then two readers and Feedly.
    assert_eq!(number(atom, "pollers"), 2 + 3, "{atom:#}");
    let history = atom["history"].as_array().expect("history");
    assert_eq!(history.len(), 30);
    let on = |day: i64| {
        history
            .iter()
            .find(|d| d["day"] == day_name(day))
            .unwrap_or_else(|| panic!("no {} in {history:#?}", day_name(day)))
    };
    assert_eq!(number(on(today - 10), "subscribers"), 501);
    assert_eq!(number(on(today - 10), "requests"), 10);
    assert_eq!(number(on(today - 3), "subscribers"), 522);
    assert_eq!(number(on(today - 5), "requests"), 0);
    assert_eq!(history[29]["day"], day_name(today));

    let week = report_with_days(&env, "5");
    assert_eq!(week["latest_day"], day_name(today - 3), "{week:#}");
    assert_eq!(number(&week, "total_subscribers"), 522);
    assert_eq!(number(feed(&week, "/atom.xml"), "requests"), 4);

    let two_days = report_with_days(&env, "2");
    assert_eq!(two_days["latest_day"], Value::Null, "{two_days:#}");
    assert_eq!(two_days["total_subscribers"], 0);
    assert_eq!(two_days["feeds"], serde_json::json!([]));
}

/// Rows of `day` in the three stats tables together.
fn rows_of_day(env: &TestEnv, day: i64) -> i64 {
    let conn = open_database(env);
    ["stats_feeds", "stats_pollers", "stats_aggregators"]
        .into_iter()
        .map(|table| {
            conn.query_row(
                &format!("SELECT count(*) FROM {table} WHERE day = ?1"),
                [day],
                |r| r.get::<_, i64>(0),
            )
            .expect("count a day's rows")
        })
        .sum()
}

/// A flush deletes the days older than `stats.retention_days` and keeps the others.
#[test]
fn a_flush_deletes_the_days_beyond_retention() {
    let env = site(&[
        ("stats", "flush_secs = 1"),
        ("stats", "retention_days = 30"),
    ]);
    let today = today_number();
    write_day(&env, today - 100, 3, 0, 400, 1);
    write_day(&env, today - 10, 3, 0, 450, 1);
    assert_eq!(rows_of_day(&env, today - 100), 1 + 1 + 2);
    let server = env.serve();
    let mut client = Poller::new(&server);
    client.poll(NEWSBOAT, "/atom.xml");
    wait_for("the old day deleted", CEILING, || {
        (rows_of_day(&env, today - 100) == 0).then_some(())
    });
    assert_eq!(
        rows_of_day(&env, today - 10),
        1 + 1 + 2,
        "a day within retention was deleted"
    );
    wait_for_report(&env, "today's poll flushed", |r| {
        r["latest_day"] == day_name(today)
    });
}

// ---------------------------------------------------------------------------------------------
// No client address is stored
// ---------------------------------------------------------------------------------------------

/// Every way an IPv4 address could be written into the database: its text, its IPv4-mapped
/// IPv6 text, its four bytes, its hex.
fn address_forms(octets: [u8; 4]) -> Vec<(String, Vec<u8>)> {
    let [a, b, c, d] = octets;
    let text = format!("{a}.{b}.{c}.{d}");
    let hex = format!("{a:02x}{b:02x}{c:02x}{d:02x}");
    let mapped = format!(
        "::ffff:{:x}:{:x}",
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d])
    );
    vec![
        (text.clone(), text.clone().into_bytes()),
        (
            format!("::ffff:{text}"),
            format!("::ffff:{text}").into_bytes(),
        ),
        (mapped.clone(), mapped.into_bytes()),
        (format!("{hex} (hex)"), hex.clone().into_bytes()),
        (
            format!("{} (HEX)", hex.to_uppercase()),
            hex.to_uppercase().into_bytes(),
        ),
        (format!("{octets:?} (bytes)"), octets.to_vec()),
    ]
}

/// The databases' files (`feedsvc.db`, `feedsvc-stats.db`, their `-wal` and `-shm`) and their
/// bytes.
fn database_files(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    let dir = env
        .db_path()
        .parent()
        .expect("data directory")
        .to_path_buf();
    std::fs::read_dir(&dir)
        .expect("the data directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("feedsvc"))
        })
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read a database file");
            (p.display().to_string(), bytes)
        })
        .collect()
}

/// Asserts no form of any of `addresses` occurs in the database's files.
#[track_caller]
fn assert_no_address_stored(env: &TestEnv, addresses: &[[u8; 4]], when: &str) {
    let files = database_files(env);
    for database in ["feedsvc.db", "feedsvc-stats.db"] {
        assert!(
            files.iter().any(|(name, _)| name.ends_with(database)),
            "no {database}"
        );
    }
    for (name, bytes) in &files {
        for octets in addresses {
            for (form, needle) in address_forms(*octets) {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{when}: {name} holds the client address as {form}"
                );
            }
        }
    }
}

/// The counting's database, opened read-only.
fn open_database(env: &TestEnv) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        env.stats_db_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the database read-only")
}

/// Rows in each stats table.
fn stats_rows(env: &TestEnv) -> BTreeMap<&'static str, i64> {
    let conn = open_database(env);
    ["stats_feeds", "stats_pollers", "stats_aggregators"]
        .into_iter()
        .map(|table| {
            let count: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .expect("count rows");
            (table, count)
        })
        .collect()
}

/// Pollers from three loopback addresses are counted (the stats tables hold their rows), yet
/// no form of any address is in the database or its write-ahead log, while the server runs
/// nor after it stopped.
#[test]
fn the_database_holds_no_client_address() {
    let addresses = [LOCAL, [127, 45, 67, 89], [127, 201, 113, 7]];
    let env = site(&[("stats", "flush_secs = 1")]);
    let mut server = env.serve();
    let mut client = Poller::new(&server);
    for from in addresses {
        for (agent, path) in [
            (NEWSBOAT, "/atom.xml"),
            (NEWSBOAT, "/rss.xml"),
            (FEEDLY_462, "/atom.xml"),
        ] {
            assert_eq!(client.get_from(from, agent, path, &[]).status, 200);
        }
        let view = client.get_from(from, FIREFOX, "/atom.xml", &[("Accept", BROWSER_ACCEPT)]);
        assert_eq!(view.status, 200);
    }
    // A User-Agent is kept to its first 256 bytes.
    let long_agent = format!("LongReader/1.0 ({})", "x".repeat(1000));
    let r = client.get_from(addresses[1], &long_agent, "/atom.xml", &[]);
    assert_eq!(r.status, 200);
    // Four readers of /atom.xml and three of /rss.xml, from three addresses.
    let report = wait_for_report(&env, "the polls flushed", |r| {
        r["feeds"].as_array().is_some_and(|f| f.len() == 2) && r["total_subscribers"] == 462 + 4 + 3
    });
    assert_eq!(number(&report, "total_subscribers"), 469);
    for poller in report["worst_pollers"].as_array().expect("worst_pollers") {
        let agent = poller["user_agent"].as_str().expect("a User-Agent");
        assert!(agent.len() <= 256, "a User-Agent of {} bytes", agent.len());
    }
    let longest: i64 = open_database(&env)
        .query_row(
            "SELECT max(length(CAST(agent AS BLOB))) FROM stats_pollers",
            [],
            |r| r.get(0),
        )
        .expect("the longest agent");
    assert!(
        (1..=256).contains(&longest),
        "an agent of {longest} bytes is stored"
    );
    let counted = stats_rows(&env);
    assert!(
        counted["stats_feeds"] >= 2
            && counted["stats_pollers"] >= 9
            && counted["stats_aggregators"] >= 1,
        "the stats tables hold too few rows: {counted:?}"
    );
    assert_no_address_stored(&env, &addresses, "while serving");
    stop(&mut server);
    assert_no_address_stored(&env, &addresses, "after stopping");
}

// ---------------------------------------------------------------------------------------------
// server.min_poll_secs
// ---------------------------------------------------------------------------------------------

/// `server.min_poll_secs = 60`: a second unconditional fetch of a feed by the same poller is
/// refused 429 with `Retry-After`; a fetch with validators never is (304), nor another
/// User-Agent, another address, another feed, a page, or a browser. The refusals are counted.
#[test]
fn min_poll_secs_limits_unconditional_polls_of_one_poller() {
    let env = site(&[("server", "min_poll_secs = 60")]);
    let mut server = env.serve();
    let mut client = Poller::new(&server);
    let first = client.poll(NEWSBOAT, "/atom.xml");
    let etag = first.expect_header("etag").to_string();
    let last_modified = first.expect_header("last-modified").to_string();
    let check_limited = |r: &Response, what: &str| {
        assert_eq!(r.status, 429, "{what}");
        let retry = r.expect_header("retry-after");
        let seconds: u64 = retry
            .parse()
            .unwrap_or_else(|_| panic!("{what}: Retry-After {retry:?} is not whole seconds"));
        assert!((1..=60).contains(&seconds), "{what}: Retry-After {seconds}");
    };
    let again = client.get(NEWSBOAT, "/atom.xml", &[]);
    check_limited(&again, "a second unconditional fetch");
    for validator in [
        ("If-None-Match", etag.as_str()),
        ("If-Modified-Since", &last_modified),
    ] {
        let r = client.get(NEWSBOAT, "/atom.xml", &[validator]);
        assert_eq!(r.status, 304, "a fetch with {}", validator.0);
    }
    let third = client.get(NEWSBOAT, "/atom.xml", &[]);
    check_limited(&third, "a third unconditional fetch");
    client.poll(THUNDERBIRD, "/atom.xml");
    let elsewhere = client.get_from([127, 0, 0, 2], NEWSBOAT, "/atom.xml", &[]);
    assert_eq!(
        elsewhere.status, 200,
        "the same User-Agent from another address"
    );
    client.poll(NEWSBOAT, "/rss.xml");
    for _ in 0..2 {
        assert_eq!(client.get(NEWSBOAT, "/", &[]).status, 200, "a page");
        let view = client.get(NEWSBOAT, "/atom.xml", &[("Accept", BROWSER_ACCEPT)]);
        assert_eq!(view.status, 200, "a browser view");
    }
    stop(&mut server);
    let report = report(&env, &[]);
    let atom = feed(&report, "/atom.xml");
    assert_eq!(number(atom, "limited"), 2, "{atom:#}");
    assert_counted(atom, &client.sent("/atom.xml"));
}

/// Without `server.min_poll_secs` (0 by default) no poller is ever limited.
#[test]
fn without_min_poll_secs_no_poll_is_limited() {
    let env = site(&[]);
    let mut server = env.serve();
    let mut client = Poller::new(&server);
    for _ in 0..6 {
        client.poll(NEWSBOAT, "/atom.xml");
    }
    stop(&mut server);
    let report = report(&env, &[]);
    let atom = feed(&report, "/atom.xml");
    assert_eq!(number(atom, "limited"), 0);
    assert_eq!(number(atom, "ok"), 6);
}

// ---------------------------------------------------------------------------------------------
// The admin listener
// ---------------------------------------------------------------------------------------------

/// One request to the admin listener, from 127.0.0.1.
fn admin_request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    request_from(addr, ip(LOCAL), method, path, headers)
}

/// The samples of a Prometheus exposition: (name, labels, value), comments skipped.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("a sample without a value: {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("a sample with a bad value: {line:?}"));
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let inside = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("unclosed labels: {line:?}"));
                    let labels = inside
                        .split(',')
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (key, value) = pair
                                .split_once('=')
                                .unwrap_or_else(|| panic!("a bad label: {line:?}"));
                            (key.to_string(), value.trim_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            (name, labels, value)
        })
        .collect()
}

/// The value of the sample `name` with exactly `labels`; 0 when there is none yet.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples(text)
        .into_iter()
        .find(|(n, l, _)| n == name && *l == wanted)
        .map_or(0.0, |(_, _, v)| v)
}

/// `GET /metrics` on the admin listener, checked to be the Prometheus text format.
#[track_caller]
fn metrics(admin: &str) -> String {
    let r = admin_request(admin, "GET", "/metrics", &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let content_type = r.expect_header("content-type");
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
        "/metrics is {content_type}"
    );
    r.text()
}

/// The dashboard and `/metrics` answer on the admin listener, and only there: the public
/// listener answers 404 to their paths. The dashboard is server-rendered HTML without script,
/// with inline SVG, and shows the feeds polled and their aggregators.
#[test]
fn the_dashboard_answers_on_the_admin_listener_only() {
    let env = site(&[
        ("admin", "listen = \"127.0.0.1:0\""),
        ("stats", "flush_secs = 1"),
    ]);
    let server = env.serve();
    let admin = admin_address(&server);
    assert_ne!(admin, server.addr);
    for path in ["/metrics", "/admin", "/admin/", "/admin/metrics"] {
        let r = server.get(path, &[]);
        assert_eq!(r.status, 404, "the public listener answers {path}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("feedsvc_http_requests_total"),
            "{path}"
        );
    }
    let mut client = Poller::new(&server);
    client.poll(FEEDLY_462, "/atom.xml");
    client.poll(NEWSBOAT, "/atom.xml");
    client.poll(INOREADER, "/rss.xml");
    let page = wait_for("the dashboard shows the polls", CEILING, || {
        let r = admin_request(&admin, "GET", "/", &[]);
        let text = String::from_utf8_lossy(&r.body).into_owned();
        (r.status == 200
            && ["/atom.xml", "/rss.xml", "Feedly", "Inoreader"]
                .iter()
                .all(|s| text.contains(s)))
        .then_some(r)
    });
    assert!(
        page.expect_header("content-type").starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert!(
        page.expect_header("cache-control").contains("no-store"),
        "{:?}",
        page.headers
    );
    let html = page.text().to_ascii_lowercase();
    assert!(!html.contains("<script"), "the dashboard runs script");
    assert!(
        html.contains("<svg"),
        "the dashboard has no inline SVG chart"
    );
    let head = admin_request(&admin, "HEAD", "/", &[]);
    assert_eq!(head.status, 200);
    // The admin listener serves nothing else, and only reads.
    for path in ["/atom.xml", "/admin/", "/nothing-here"] {
        assert_eq!(
            admin_request(&admin, "GET", path, &[]).status,
            404,
            "the admin listener answers {path}"
        );
    }
    for path in ["/", "/metrics"] {
        assert_eq!(
            admin_request(&admin, "POST", path, &[]).status,
            405,
            "POST {path}"
        );
    }
}

/// `/metrics` counts the public listener's answers by kind and status, as they happen, and
/// names every series of the contract.
#[test]
fn metrics_count_the_answers_as_they_happen() {
    let env = site(&[
        ("admin", "listen = \"127.0.0.1:0\""),
        ("stats", "flush_secs = 1"),
    ]);
    let server = env.serve();
    let admin = admin_address(&server);
    let text = metrics(&admin);
    for name in [
        "feedsvc_http_requests_total",
        "feedsvc_http_response_bytes_total",
        "feedsvc_http_not_modified_ratio",
        "feedsvc_cache_hits_total",
        "feedsvc_cache_misses_total",
        "feedsvc_open_connections",
        "feedsvc_publishes_total",
        "feedsvc_articles",
        "feedsvc_websub_subscriptions",
        "feedsvc_websub_deliveries_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")) || samples(&text).iter().any(|s| s.0 == name),
            "/metrics lacks {name}:\n{text}"
        );
    }
    assert_eq!(sample(&text, "feedsvc_articles", &[]), 2.0, "{text}");
    let ok = [("kind", "feed"), ("status", "200")];
    let not_modified = [("kind", "feed"), ("status", "304")];
    let page_ok = [("kind", "page"), ("status", "200")];
    let before = (
        sample(&text, "feedsvc_http_requests_total", &ok),
        sample(&text, "feedsvc_http_requests_total", &not_modified),
        sample(&text, "feedsvc_http_requests_total", &page_ok),
    );
    let mut client = Poller::new(&server);
    client.poll(NEWSBOAT, "/atom.xml");
    client.poll(FEEDLY_462, "/atom.xml");
    let etag = client
        .poll(THUNDERBIRD, "/rss.xml")
        .expect_header("etag")
        .to_string();
    let r = client.get(THUNDERBIRD, "/rss.xml", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert_eq!(client.get(NEWSBOAT, "/articles/geneva", &[]).status, 200);
    let expected = (before.0 + 3.0, before.1 + 1.0, before.2 + 1.0);
    let text = wait_for("the requests in /metrics", CEILING, || {
        let text = metrics(&admin);
        let now = (
            sample(&text, "feedsvc_http_requests_total", &ok),
            sample(&text, "feedsvc_http_requests_total", &not_modified),
            sample(&text, "feedsvc_http_requests_total", &page_ok),
        );
        assert!(
            now.0 <= expected.0 && now.1 <= expected.1 && now.2 <= expected.2,
            "counted more than was sent: {now:?}, expected {expected:?}:\n{text}"
        );
        (now == expected).then_some(text)
    });
    assert!(
        sample(
            &text,
            "feedsvc_http_response_bytes_total",
            &[("kind", "feed")]
        ) > 0.0,
        "{text}"
    );
    let ratio = sample(&text, "feedsvc_http_not_modified_ratio", &[]);
    assert!((0.0..=1.0).contains(&ratio) && ratio > 0.0, "{text}");
    // Subscribers per feed: Feedly's 462 and one reader.
    wait_for("the subscribers in /metrics", CEILING, || {
        let text = metrics(&admin);
        (sample(&text, "feedsvc_feed_subscribers", &[("path", "/atom.xml")]) == 463.0).then_some(())
    });
}

/// Metrics still run with the per-feed counting off.
#[test]
fn metrics_run_with_stats_disabled() {
    let env = site(&[
        ("admin", "listen = \"127.0.0.1:0\""),
        ("stats", "enabled = false"),
    ]);
    let server = env.serve();
    let admin = admin_address(&server);
    let ok = [("kind", "feed"), ("status", "200")];
    let before = sample(&metrics(&admin), "feedsvc_http_requests_total", &ok);
    let mut client = Poller::new(&server);
    client.poll(NEWSBOAT, "/atom.xml");
    client.poll(NEWSBOAT, "/atom.xml");
    wait_for("the requests in /metrics", CEILING, || {
        (sample(&metrics(&admin), "feedsvc_http_requests_total", &ok) == before + 2.0).then_some(())
    });
}

/// A non-loopback admin address without a token is refused at start, before anything is bound
/// or written, with an error naming both settings.
#[test]
fn a_public_admin_address_without_a_token_is_refused_at_start() {
    let env = site(&[]);
    configure(
        &env,
        &[
            ("admin", "listen = \"0.0.0.0:0\""),
            ("admin", "token = \"\""),
        ],
    );
    let before = database_files(&env);
    let run = env.run_with_limit(&["serve"], CEILING);
    assert_no_panic(&run.stderr);
    assert_ne!(run.code, 0, "serve started:\n{}", run.stdout);
    assert!(
        !run.stdout.contains("listening"),
        "serve bound a listener first:\n{}",
        run.stdout
    );
    for name in ["admin.token", "admin.listen"] {
        assert!(
            run.stderr.contains(name),
            "the error does not name {name}: {}",
            run.stderr
        );
    }
    assert!(
        database_files(&env) == before,
        "a refused serve changed the database's files"
    );
}

/// Settings of the counting out of their range are refused at start, naming the setting.
#[test]
fn stats_settings_out_of_range_are_refused_at_start() {
    let env = site(&[]);
    let valid = std::fs::read_to_string(env.config_path()).expect("read config.toml");
    for (section, line, named) in [
        ("stats", "flush_secs = 0", "flush_secs"),
        ("stats", "flush_secs = 86401", "flush_secs"),
        ("stats", "retention_days = 0", "retention_days"),
        ("server", "min_poll_secs = -1", "min_poll_secs"),
    ] {
        env.write_config(&set_setting(&valid, section, line));
        let run = env.run_with_limit(&["serve"], CEILING);
        assert_no_panic(&run.stderr);
        assert_ne!(run.code, 0, "serve started with {section}.{line}");
        assert!(
            run.stderr.contains(named),
            "{section}.{line}: the error does not name {named}: {}",
            run.stderr
        );
    }
}

/// With `admin.token` set, every admin request needs `Authorization: Bearer TOKEN`; without
/// it, or with another, the answer is 401 with `WWW-Authenticate: Bearer`.
#[test]
fn the_admin_token_is_required_when_set() {
    const TOKEN: &str = "correct-horse-battery-staple";
    let env = site(&[
        ("admin", "listen = \"127.0.0.1:0\""),
        ("admin", &format!("token = \"{TOKEN}\"")),
    ]);
    let server = env.serve();
    let admin = admin_address(&server);
    let right = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    let basic = format!("Basic {TOKEN}");
    for path in ["/", "/metrics"] {
        for refused in [
            vec![],
            vec![("Authorization", wrong.as_str())],
            vec![("Authorization", basic.as_str())],
            vec![("Authorization", "Bearer ")],
        ] {
            let r = admin_request(&admin, "GET", path, &refused);
            assert_eq!(r.status, 401, "GET {path} with {refused:?}");
            assert!(
                r.expect_header("www-authenticate").starts_with("Bearer"),
                "{:?}",
                r.headers
            );
            let body = String::from_utf8_lossy(&r.body);
            assert!(
                !body.contains("feedsvc_") && !body.contains("<svg"),
                "a refused request got the content: {body}"
            );
        }
        let r = admin_request(&admin, "GET", path, &[("Authorization", &right)]);
        assert_eq!(r.status, 200, "GET {path} with the token");
    }
}
