//! The server at the edges of what a request may name or say: list pages past the last (and
//! page numbers past every integer type), floods of paths that name nothing, and request
//! fields sent on more than one line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{attribute_values, heavy, Server, TestEnv};

/// The `compressed` events of the cache (each first load of a document logs one), and the
/// level that shows them.
const CACHE_DEBUG: &str = "log = \"warn,feedsvc::http::cache=debug\"";

/// A site of `count` articles, all tagged Asia, with the cache's debug events in the server's
/// log. Bodies are long enough that every feed and page is worth compressing.
fn site(count: usize) -> TestEnv {
    let env = TestEnv::new();
    let config = std::fs::read_to_string(env.config_path()).expect("read config.toml");
    env.write_config(&config.replacen("log = \"warn\"", CACHE_DEBUG, 1));
    let body = "Negotiators met again in Geneva to discuss the agreement. ".repeat(12);
    let files: Vec<_> = (0..count)
        .map(|n| {
            let text = format!(
                "+++\ntitle = \"Dispatch {n}\"\nslug = \"dispatch-{n}\"\n\
                 published = \"2026-04-{:02}T{:02}:00:00Z\"\ntags = [\"Asia\"]\n+++\n\n{body}\n",
                n / 24 + 1,
                n % 24
            );
            env.write_article(&format!("dispatch-{n}.md"), &text)
        })
        .collect();
    env.add(&files.iter().map(|f| f.as_path()).collect::<Vec<_>>());
    env
}

/// The paths of the `compressed` events in the server's log so far, in order.
fn compressed_paths(server: &Server) -> Vec<String> {
    server
        .stderr()
        .lines()
        .filter(|line| line.contains(" compressed "))
        .filter_map(|line| {
            let start = line.find(" path=")? + " path=".len();
            let rest = &line[start..];
            Some(rest[..rest.find(' ').unwrap_or(rest.len())].to_string())
        })
        .collect()
}

/// README, "Routes": `/page/N/` exists for N from 2 to the last page, written without leading
/// zeros; every other number answers 404, whatever its size, and nothing is rendered, compressed
/// or cached for it (a number past the last page once wrapped to a negative SQL offset and
/// served page 1 again, one rendering and compression per number).
#[test]
fn list_pages_past_the_last_answer_404_and_render_nothing() {
    // 45 articles at the default 20 a page: pages 1, 2 and 3, on the index and the tag alike.
    let env = site(45);
    let server = env.serve();
    for dir in ["/", "/tags/asia/"] {
        for page in [2, 3] {
            let path = format!("{dir}page/{page}/");
            let r = server.get(&path, &[]);
            assert_eq!(r.status, 200, "{path}");
            let text = r.text();
            let expected = format!(">Dispatch {}<", 45 - 20 * (page - 1) - 1);
            assert!(text.contains(&expected), "{path} lacks {expected}");
        }
    }
    // The 404 page is loaded (and compressed) once, by the first path that names nothing.
    assert_eq!(server.get("/nothing-here", &[]).status, 404);
    let before = compressed_paths(&server);
    assert!(
        before.iter().any(|p| p == "/page/3/"),
        "the log shows compressions: {before:?}"
    );
    let numbers = [
        "4",
        "5",
        "0",
        "1",
        "02",
        "003",
        "+3",
        "3.0",
        "461168601842738792",
        "922337203685477581",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "123456789012345678901234567890",
    ];
    for dir in ["/", "/tags/asia/"] {
        for number in numbers {
            let path = format!("{dir}page/{number}/");
            let r = server.get(&path, &[]);
            assert_eq!(r.status, 404, "{path}");
            assert!(
                r.text().contains("Page not found"),
                "{path} answers with the 404 page"
            );
        }
    }
    assert_eq!(
        compressed_paths(&server),
        before,
        "a page past the last was rendered and cached"
    );
}

/// Sends `count` GET requests for unique paths of about `length` bytes that name nothing, over
/// `connections` keep-alive connections, pipelined; returns how many answered 404.
fn flood(server: &Server, count: usize, length: usize, connections: usize) -> usize {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|c| {
                scope.spawn(move || {
                    let stream = TcpStream::connect(&server.addr).expect("connect");
                    stream
                        .set_read_timeout(Some(Duration::from_secs(60)))
                        .expect("read timeout");
                    let mut writer = stream.try_clone().expect("a second handle");
                    let mine: Vec<usize> = (c..count).step_by(connections).collect();
                    let sent = mine.len();
                    let sender = std::thread::spawn(move || {
                        for n in mine {
                            let path = format!("/gone/{n}-{}", "z".repeat(length));
                            let request = format!("GET {path} HTTP/1.1\r\nHost: flood\r\n\r\n");
                            writer.write_all(request.as_bytes()).expect("send");
                        }
                    });
                    let mut reader = BufReader::new(stream);
                    let mut not_found = 0;
                    for _ in 0..sent {
                        if answer_status(&mut reader) == 404 {
                            not_found += 1;
                        }
                    }
                    sender.join().expect("the sending thread");
                    not_found
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a flooding connection"))
            .sum()
    })
}

/// Reads one response framed by `Content-Length` off a kept-alive connection; returns its
/// status.
fn answer_status(reader: &mut BufReader<TcpStream>) -> u16 {
    let mut line = String::new();
    reader.read_line(&mut line).expect("a status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("a header line");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a numeric Content-Length");
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the body");
    status
}

/// README, "HTTP": paths that name nothing are remembered apart from the documents, so that a
/// flood of them (here 20,000 unique 2 KB paths, twice the cache's budget with the redirect
/// check each makes) does not push the compressed feed out: after it, the feed's brotli bytes
/// are still served from the cache, without compressing again.
#[test]
fn a_flood_of_paths_that_name_nothing_leaves_the_feed_cached() {
    let _alone = heavy();
    let env = site(20);
    let server = env.serve();
    let warm = server.get("/atom.xml", &[("Accept-Encoding", "br")]);
    assert_eq!(warm.status, 200);
    assert_eq!(warm.header("content-encoding"), Some("br"));
    let feed_compressions = |server: &Server| {
        compressed_paths(server)
            .iter()
            .filter(|p| *p == "/atom.xml")
            .count()
    };
    assert_eq!(feed_compressions(&server), 1, "{}", server.stderr());

    const PATHS: usize = 20_000;
    assert_eq!(flood(&server, PATHS, 2000, 4), PATHS);

    let after = server.get("/atom.xml", &[("Accept-Encoding", "br")]);
    assert_eq!(after.status, 200);
    assert_eq!(after.header("content-encoding"), Some("br"));
    assert_eq!(after.body, warm.body);
    assert_eq!(
        feed_compressions(&server),
        1,
        "the feed was pushed out of the cache and compressed again"
    );
    // Paths that name nothing still answer 404, the last ones and new ones alike.
    assert_eq!(flood(&server, 10, 20, 1), 10);
}

/// RFC 9110 §5.3: field lines of one name are one comma-separated list. A reader that sends
/// its tags on two `If-None-Match` lines gets 304 when the tag is on the second; two
/// `Accept-Encoding` lines and two `Accept` lines are read together too.
#[test]
fn list_fields_sent_on_several_lines_are_read_as_one() {
    let env = site(3);
    let server = env.serve();
    let full = server.get("/atom.xml", &[]);
    let etag = full.expect_header("etag").to_string();
    let r = server.get(
        "/atom.xml",
        &[("If-None-Match", "\"other\""), ("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 304, "{:?}", r.headers);
    assert_eq!(r.expect_header("etag"), etag);
    let r = server.get(
        "/atom.xml",
        &[
            ("If-None-Match", "\"other\""),
            ("If-None-Match", "\"more\""),
        ],
    );
    assert_eq!(r.status, 200);

    let r = server.get(
        "/atom.xml",
        &[("Accept-Encoding", "identity"), ("Accept-Encoding", "br")],
    );
    assert_eq!(r.header("content-encoding"), Some("br"), "{:?}", r.headers);

    let r = server.get(
        "/atom.xml",
        &[("Accept", "text/html"), ("Accept", "application/atom+xml")],
    );
    assert!(
        r.expect_header("content-type")
            .starts_with("application/atom+xml"),
        "a reader that names Atom on its second Accept line gets the feed: {:?}",
        r.headers
    );
    let r = server.get("/atom.xml", &[("Accept", "text/html")]);
    assert!(r.expect_header("content-type").starts_with("text/html"));
}

/// RFC 9110 §13.1.3: `If-Modified-Since` is evaluated against the `Last-Modified` the answer
/// would carry; a document without one (robots.txt, the fingerprinted stylesheet) answers in
/// full, while `If-None-Match` still applies.
#[test]
fn if_modified_since_is_ignored_where_no_last_modified_is_sent() {
    let env = site(3);
    let server = env.serve();
    let index = server.get("/", &[]).text();
    let stylesheet = attribute_values(&index, "href")
        .into_iter()
        .find(|href| href.contains("/assets/"))
        .expect("the index links the stylesheet");
    let stylesheet = &stylesheet[stylesheet.find("/assets/").expect("an assets path")..];
    let future = "Fri, 01 Jan 2100 00:00:00 GMT";
    for path in ["/robots.txt", stylesheet] {
        let full = server.get(path, &[]);
        assert_eq!(full.status, 200, "{path}");
        assert_eq!(full.header("last-modified"), None, "{path}");
        let r = server.get(path, &[("If-Modified-Since", future)]);
        assert_eq!(r.status, 200, "{path}: {:?}", r.headers);
        assert_eq!(r.body, full.body, "{path}");
        let etag = full.expect_header("etag");
        let r = server.get(path, &[("If-None-Match", etag)]);
        assert_eq!(r.status, 304, "{path}");
    }
    // A document that has a Last-Modified still answers 304 to a later date.
    let r = server.get("/atom.xml", &[("If-Modified-Since", future)]);
    assert!(server
        .get("/atom.xml", &[])
        .header("last-modified")
        .is_some());
    assert_eq!(r.status, 304);
}
