//! Scheduling, slow clients and restarts: behaviour over time, on the real binary.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};

use crate::support::{article, TestEnv};

#[test]
fn scheduled_article_appears_at_its_moment_and_not_before() {
    let _clock = crate::support::timed();
    let env = TestEnv::new();
    env.add_article(
        "Already out",
        "already-out",
        "2026-03-01T10:00:00Z",
        "Body.",
    );
    let server = env.serve();
    // Whole seconds, far enough ahead that the add below surely ends before the moment (four
    // times what an add took just now, at least 4 s): the server must publish it on its own,
    // on time.
    let started = Instant::now();
    env.add_article("Measured", "measured", "2026-03-02T10:00:00Z", "Body.");
    let lead = (started.elapsed() * 4).max(Duration::from_secs(4));
    let due = Utc::now() + chrono::Duration::from_std(lead).expect("a short lead");
    let due_text = due.to_rfc3339_opts(SecondsFormat::Secs, true);
    let due_epoch = chrono::DateTime::parse_from_rfc3339(&due_text)
        .unwrap()
        .timestamp();
    let added = env
        .run_stdin(
            &["add", "-"],
            article(
                "Embargoed report",
                "embargoed-report",
                &due_text,
                "Embargoed body.",
            )
            .as_bytes(),
        )
        .success();
    assert_eq!(
        added.stdout.trim(),
        env.article_url("embargoed-report"),
        "stdout is the URL alone"
    );
    assert!(
        added.stderr.contains("scheduled"),
        "add says the article is scheduled: {}",
        added.stderr
    );
    let listed = env.run(&["list"]).success().stdout;
    assert!(
        listed.contains("embargoed-report") && listed.contains("(scheduled)"),
        "{listed}"
    );

    let deadline = Instant::now() + lead + Duration::from_secs(30);
    loop {
        let feed = server.get("/atom.xml", &[]).text();
        let page = server.get("/articles/embargoed-report", &[]).status;
        let now = Utc::now().timestamp();
        if feed.contains("Embargoed report") {
            assert!(now >= due_epoch, "published {} s early", due_epoch - now);
            // The scheduler wakes on the second; allow a loaded machine some slack.
            assert!(now <= due_epoch + 5, "published {} s late", now - due_epoch);
            assert_eq!(page, 200, "the page is served with the feed entry");
            break;
        }
        assert!(
            now < due_epoch || page == 404 || page == 200,
            "unexpected status {page}"
        );
        if now < due_epoch {
            assert_eq!(
                page, 404,
                "the page of a scheduled article is not served early"
            );
        }
        assert!(
            Instant::now() < deadline,
            "the scheduled article never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let listed = env.run(&["list"]).success().stdout;
    assert!(!listed.contains("(scheduled)"), "{listed}");
}

#[test]
fn hundreds_of_slow_clients_do_not_stop_a_normal_one() {
    let _load = crate::support::heavy();
    let env = TestEnv::new();
    env.add_article(
        "Slow clients",
        "slow-clients",
        "2026-03-01T10:00:00Z",
        "Body.",
    );
    let server = env.serve();
    let mut idle = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&server.addr).expect("connect");
        // Headers that never finish.
        stream
            .write_all(b"GET /atom.xml HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .expect("write");
        idle.push(stream);
    }
    for attempt in 0..5 {
        let started = Instant::now();
        let response = server.get("/atom.xml", &[]);
        assert_eq!(response.status, 200, "attempt {attempt}");
        assert!(response.text().contains("Slow clients"));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a normal client waited {:?}",
            started.elapsed()
        );
    }
    drop(idle);
}

#[test]
fn a_killed_server_restarts_with_the_same_bytes_and_etags() {
    let env = TestEnv::new();
    env.add_article(
        "Before the crash",
        "before-the-crash",
        "2026-03-01T10:00:00Z",
        "Body & more.",
    );
    let paths = [
        "/atom.xml",
        "/rss.xml",
        "/feed.json",
        "/",
        "/articles/before-the-crash",
    ];
    let first: Vec<_> = {
        let server = env.serve();
        paths
            .iter()
            .map(|p| {
                let r = server.get(p, &[("Accept-Encoding", "gzip")]);
                (r.status, r.header("etag").map(str::to_string), r.body)
            })
            .collect()
        // Dropping the server kills it with SIGKILL.
    };
    let server = env.serve();
    for (path, before) in paths.iter().zip(first) {
        let r = server.get(path, &[("Accept-Encoding", "gzip")]);
        assert_eq!(
            (r.status, r.header("etag").map(str::to_string), r.body),
            before,
            "{path}"
        );
    }
}
