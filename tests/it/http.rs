//! The server: conditional GET, content negotiation, methods, paths, headers, freshness.

use crate::support::{article, Response, Server, TestEnv};

/// A site with a few articles (enough that every feed is worth compressing) and its server.
fn site() -> (TestEnv, Server) {
    let env = TestEnv::new();
    let mut files = Vec::new();
    for (n, tag) in ["Asia", "Europe", "Asia"].iter().enumerate() {
        let slug = format!("story-{n}");
        let text = format!(
            "+++\ntitle = \"Story number {n}\"\nslug = \"{slug}\"\npublished = \"2026-0{}-10T10:00:00Z\"\ntags = [\"{tag}\"]\n+++\n\n{}\n",
            n + 1,
            "Diplomats met again on Tuesday to discuss the agreement. ".repeat(8)
        );
        files.push(env.write_article(&format!("{slug}.md"), &text));
    }
    let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    env.add(&refs);
    let server = env.serve();
    (env, server)
}

#[track_caller]
fn assert_not_modified(response: &Response, etag: &str) {
    assert_eq!(response.status, 304, "headers: {:?}", response.headers);
    assert!(response.body.is_empty());
    assert_eq!(response.expect_header("etag"), etag);
    assert!(response
        .expect_header("cache-control")
        .contains("max-age=300"));
    assert!(
        response.varies_on("Accept-Encoding"),
        "{:?}",
        response.headers
    );
}

#[test]
fn full_response_carries_validators_and_cache_headers() {
    let (_env, server) = site();
    let r = server.get("/atom.xml", &[]);
    assert_eq!(r.status, 200);
    let etag = r.expect_header("etag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let last_modified = r.expect_header("last-modified");
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");
    // The newest entry was updated 2026-03-10T10:00:00Z.
    assert_eq!(last_modified, "Tue, 10 Mar 2026 10:00:00 GMT");
    assert!(r.expect_header("cache-control").contains("max-age=300"));
    assert!(r.varies_on("Accept-Encoding"), "{:?}", r.headers);
    assert_eq!(r.header("content-encoding"), None);
}

#[test]
fn conditional_get_table() {
    let (_env, server) = site();
    let full = server.get("/atom.xml", &[]);
    let etag = full.expect_header("etag").to_string();
    let last_modified = full.expect_header("last-modified").to_string();
    let weak = format!("W/{etag}");
    let list = format!("\"nope\", {etag}");
    let list_weak = format!("\"nope\",{weak}");

    for value in [etag.as_str(), &weak, &list, &list_weak, "*"] {
        let r = server.get("/atom.xml", &[("If-None-Match", value)]);
        assert_not_modified(&r, &etag);
    }

    let r = server.get("/atom.xml", &[("If-Modified-Since", &last_modified)]);
    assert_not_modified(&r, &etag);
    assert_eq!(r.expect_header("last-modified"), last_modified);

    // If-None-Match decides when present, even if If-Modified-Since would say 304.
    let r = server.get(
        "/atom.xml",
        &[
            ("If-None-Match", "\"something-else\""),
            ("If-Modified-Since", &last_modified),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, full.body);

    let r = server.get("/atom.xml", &[("If-None-Match", "\"something-else\"")]);
    assert_eq!(r.status, 200);

    let r = server.get(
        "/atom.xml",
        &[("If-Modified-Since", "Thu, 01 Jan 2026 00:00:00 GMT")],
    );
    assert_eq!(r.status, 200, "modified after the given date");
    assert_eq!(r.body, full.body);
}

/// RFC 9110 §15.4.5: a 304 carries what the 200 would of Cache-Control, ETag, Vary and Date,
/// and other metadata only to guide caches. Most polls end in a 304, so it carries nothing
/// more: Last-Modified only for a client that validates by date, no content headers.
#[test]
fn a_304_carries_the_validators_and_freshness_and_no_more() {
    let (_env, server) = site();
    let full = server.get("/atom.xml", &[("Accept-Encoding", "gzip")]);
    let etag = full.expect_header("etag").to_string();
    let last_modified = full.expect_header("last-modified").to_string();
    assert_eq!(full.expect_header("x-content-type-options"), "nosniff");
    let by_tag = server.get(
        "/atom.xml",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
    );
    let by_date = server.get(
        "/atom.xml",
        &[
            ("Accept-Encoding", "gzip"),
            ("If-Modified-Since", &last_modified),
        ],
    );
    for (how, r) in [("If-None-Match", &by_tag), ("If-Modified-Since", &by_date)] {
        assert_eq!(r.status, 304, "{how}");
        assert_eq!(r.expect_header("etag"), etag, "{how}");
        assert_eq!(
            r.header("cache-control"),
            full.header("cache-control"),
            "{how}"
        );
        assert_eq!(r.header("vary"), full.header("vary"), "{how}");
        assert!(r.header("date").is_some(), "{how}");
        for absent in [
            "content-type",
            "content-encoding",
            "content-length",
            "x-content-type-options",
        ] {
            assert_eq!(r.header(absent), None, "{how}: {absent}");
        }
    }
    assert_eq!(by_tag.header("last-modified"), None);
    assert_eq!(
        by_date.header("last-modified"),
        Some(last_modified.as_str())
    );
}

#[test]
fn gzip_is_negotiated() {
    let (_env, server) = site();
    for path in [
        "/atom.xml",
        "/rss.xml",
        "/feed.json",
        "/articles/story-0",
        "/",
    ] {
        let identity = server.get(path, &[]);
        assert_eq!(identity.status, 200, "{path}");
        assert_eq!(identity.header("content-encoding"), None, "{path}");
        let r = server.get(path, &[("Accept-Encoding", "gzip")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{path}");
        assert!(r.varies_on("Accept-Encoding"), "{:?}", r.headers);
        assert_eq!(r.expect_header("content-length"), r.body.len().to_string());
        assert_eq!(
            r.decoded_body(),
            identity.body,
            "{path}: gzip decodes to the identity bytes"
        );
        assert_ne!(r.body, identity.body);
        // A cached gzip copy revalidates with its own ETag.
        let etag = r.expect_header("etag").to_string();
        let again = server.get(
            path,
            &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
        );
        assert_eq!(again.status, 304, "{path}");
    }
}

#[test]
fn brotli_is_negotiated() {
    let (_env, server) = site();
    for path in ["/atom.xml", "/rss.xml", "/feed.json", "/articles/story-1"] {
        let identity = server.get(path, &[]);
        let r = server.get(path, &[("Accept-Encoding", "br")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), Some("br"), "{path}");
        assert!(r.varies_on("Accept-Encoding"), "{:?}", r.headers);
        assert_eq!(
            r.decoded_body(),
            identity.body,
            "{path}: br decodes to the identity bytes"
        );
        let r = server.get(path, &[("Accept-Encoding", "gzip, deflate, br")]);
        assert_eq!(
            r.header("content-encoding"),
            Some("br"),
            "{path}: br preferred"
        );
        assert_eq!(r.decoded_body(), identity.body);
    }
}

#[test]
fn refusing_identity_alone_gets_gzip() {
    let (_env, server) = site();
    let identity = server.get("/atom.xml", &[]);
    let r = server.get("/atom.xml", &[("Accept-Encoding", "identity;q=0")]);
    assert_eq!(r.status, 200, "headers: {:?}", r.headers);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.decoded_body(), identity.body);
}

#[test]
fn no_accept_encoding_means_no_content_encoding() {
    let (_env, server) = site();
    let r = server.get("/rss.xml", &[]);
    assert_eq!(r.header("content-encoding"), None);
    assert!(r.text().starts_with("<?xml"));
    let r = server.get("/rss.xml", &[("Accept-Encoding", "identity")]);
    assert_eq!(r.header("content-encoding"), None);
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let (_env, server) = site();
    for (path, encoding) in [
        ("/atom.xml", None),
        ("/atom.xml", Some("gzip")),
        ("/articles/story-2", None),
    ] {
        let headers: Vec<(&str, &str)> = encoding
            .map(|e| ("Accept-Encoding", e))
            .into_iter()
            .collect();
        let get = server.get(path, &headers);
        let head = server.request("HEAD", path, &headers);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        for name in [
            "content-length",
            "content-type",
            "etag",
            "last-modified",
            "cache-control",
            "vary",
        ] {
            assert_eq!(head.header(name), get.header(name), "{path} {name}");
        }
        assert_eq!(
            head.header("content-encoding"),
            get.header("content-encoding")
        );
        assert_eq!(
            head.expect_header("content-length"),
            get.body.len().to_string()
        );
    }
}

#[test]
fn other_methods_get_405_with_allow() {
    let (_env, server) = site();
    for method in ["POST", "PUT", "DELETE"] {
        let r = server.request(method, "/atom.xml", &[]);
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.expect_header("allow"), "GET, HEAD");
    }
}

#[test]
fn unknown_path_is_404_with_an_html_page() {
    let (_env, server) = site();
    let r = server.get("/nope", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.expect_header("content-type"), "text/html; charset=utf-8");
    let body = r.text();
    assert!(body.contains("<html"), "{body}");
    assert!(body.to_lowercase().contains("not found"), "{body}");
    let r = server.get("/articles/nope", &[]);
    assert_eq!(r.status, 404);
    let r = server.request("HEAD", "/nope", &[]);
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());
}

#[test]
fn traversal_and_bad_paths() {
    let (env, server) = site();
    std::fs::write(env.path("secret.txt"), "top secret").unwrap();
    for path in [
        "/articles/../config.toml",
        "/articles/%2e%2e/config.toml",
        "/articles/%2E%2E/%2e%2e/config.toml",
        "/../../../../etc/passwd",
        "/config.toml",
        "/data/feedsvc.db",
        "/secret.txt",
    ] {
        let r = server.get(path, &[]);
        assert_eq!(r.status, 404, "{path}");
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(
            !body.contains("base_url"),
            "{path} leaked the configuration"
        );
        assert!(!body.contains("top secret"), "{path} leaked a file");
    }
    for path in ["/articles/story-0%00", "/atom.xml%00.html", "/a%0Ab"] {
        assert_eq!(server.get(path, &[]).status, 400, "{path}");
    }
    let long = format!("/{}", "a".repeat(5000));
    assert_eq!(server.get(&long, &[]).status, 414);
}

#[test]
fn query_strings_do_not_change_the_answer() {
    let (_env, server) = site();
    let plain = server.get("/atom.xml", &[]);
    for path in ["/atom.xml?_=123", "/atom.xml?utm_source=x&y=%00"] {
        let r = server.get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("etag"), plain.header("etag"), "{path}");
        assert_eq!(r.body, plain.body, "{path}");
    }
}

#[test]
fn etag_changes_after_an_add() {
    let (env, server) = site();
    let before = server.get("/atom.xml", &[]);
    let etag = before.expect_header("etag").to_string();
    env.add_article("Breaking", "breaking", "2026-10-01T00:00:00Z", "News.");
    let after = server.get("/atom.xml", &[("If-None-Match", &etag)]);
    assert_eq!(after.status, 200, "a stale copy must not be confirmed");
    assert_ne!(after.expect_header("etag"), etag);
    assert!(after.text().contains("Breaking"));
}

#[test]
fn etag_stays_after_an_edit_that_changes_nothing() {
    let (env, server) = site();
    let before = server.get("/atom.xml", &[]);
    env.run(&["edit", "story-1", "--title", "Story number 1"])
        .success();
    let after = server.get("/atom.xml", &[]);
    assert_eq!(after.header("etag"), before.header("etag"));
    assert_eq!(
        after.header("last-modified"),
        before.header("last-modified")
    );
    assert_eq!(after.body, before.body);
}

#[test]
fn content_types() {
    let (_env, server) = site();
    for (path, expected) in [
        ("/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/tags/asia/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/tags/asia/atom.xml", "application/atom+xml; charset=utf-8"),
        (
            "/tags/asia/feed.json",
            "application/feed+json; charset=utf-8",
        ),
        ("/articles/story-0", "text/html; charset=utf-8"),
        ("/tags/asia/", "text/html; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
    ] {
        let r = server.get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.expect_header("content-type"), expected, "{path}");
    }
}

#[test]
fn healthz_answers_200() {
    let (_env, server) = site();
    let r = server.get("/healthz", &[]);
    assert_eq!(r.status, 200);
    assert!(!r.body.is_empty());
}

#[test]
fn healthz_answers_before_anything_is_published() {
    let env = TestEnv::new();
    let server = env.serve();
    assert_eq!(server.get("/healthz", &[]).status, 200);
    let feed = crate::support::parse_feed(&server.get("/atom.xml", &[]).body);
    assert!(feed.entries.is_empty());
}

/// The directives of a `Content-Security-Policy`, by name.
fn csp_directives(csp: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    csp.split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_ascii_lowercase();
            Some((name, words.map(str::to_string).collect()))
        })
        .collect()
}

/// A policy under which no script runs, nothing is framed and nothing submits: `default-src
/// 'none'` with nothing that loosens it for scripts, and only the site's own stylesheet.
#[track_caller]
fn assert_no_script_policy(csp: &str) {
    let directives = csp_directives(csp);
    let none = vec!["'none'".to_string()];
    assert_eq!(directives.get("default-src"), Some(&none), "{csp}");
    for name in ["base-uri", "form-action", "frame-ancestors"] {
        assert_eq!(directives.get(name), Some(&none), "{name} in {csp}");
    }
    for name in [
        "script-src",
        "script-src-elem",
        "script-src-attr",
        "object-src",
        "frame-src",
        "child-src",
        "worker-src",
        "connect-src",
    ] {
        assert!(
            directives.get(name).is_none_or(|v| *v == none),
            "{name} loosened in {csp}"
        );
    }
    assert_eq!(
        directives.get("style-src"),
        Some(&vec!["'self'".to_string()]),
        "{csp}"
    );
    for (name, sources) in &directives {
        for source in sources {
            assert!(
                !matches!(
                    source.as_str(),
                    "*" | "'unsafe-inline'" | "'unsafe-eval'" | "data:" | "blob:"
                ),
                "{name} {source} in {csp}"
            );
        }
    }
}

#[test]
fn csp_checker_refuses_loose_policies() {
    assert_no_script_policy(
        "default-src 'none'; style-src 'self'; img-src 'self' https:; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
    );
    for loose in [
        "default-src *; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "default-src 'none'; script-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "default-src 'none'; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "default-src 'none'; style-src 'self'; form-action 'none'; frame-ancestors 'none'",
    ] {
        let outcome = std::panic::catch_unwind(|| assert_no_script_policy(loose));
        assert!(outcome.is_err(), "{loose} passed");
    }
}

#[test]
fn html_responses_carry_security_headers() {
    let (_env, server) = site();
    for path in ["/", "/articles/story-0", "/tags/asia/", "/nope"] {
        let r = server.get(path, &[]);
        assert!(
            r.expect_header("content-type").starts_with("text/html"),
            "{path}"
        );
        assert_no_script_policy(r.expect_header("content-security-policy"));
        assert_eq!(
            r.expect_header("x-content-type-options"),
            "nosniff",
            "{path}"
        );
    }
    // The page a browser gets at a feed's URL is HTML like any other.
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for path in ["/atom.xml", "/rss.xml", "/tags/asia/atom.xml"] {
        let r = server.get(path, &[("Accept", browser)]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.expect_header("content-type"), "text/html; charset=utf-8");
        assert_no_script_policy(r.expect_header("content-security-policy"));
        assert_eq!(r.expect_header("x-frame-options"), "DENY", "{path}");
        assert_eq!(r.expect_header("x-content-type-options"), "nosniff");
    }
    for path in ["/atom.xml", "/rss.xml", "/feed.json"] {
        let r = server.get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.expect_header("x-content-type-options"), "nosniff");
        assert_eq!(r.header("content-security-policy"), None, "{path}");
    }
}

#[test]
fn tag_page_without_slash_redirects() {
    let (env, server) = site();
    let r = server.get("/tags/asia", &[]);
    assert_eq!(r.status, 301);
    let location = r.expect_header("location");
    assert!(
        location == "/tags/asia/" || location == format!("{}tags/asia/", env.base),
        "{location}"
    );
    assert_eq!(server.get("/tags/asia/", &[]).status, 200);
    assert_eq!(server.get("/tags/no-such-tag", &[]).status, 404);
}

#[test]
fn article_page_shows_the_article() {
    let env = TestEnv::new();
    let text = article(
        "Q&A: <b> \"quotes\" & 'apostrophes'",
        "qa",
        "2026-02-02T02:02:02Z",
        "Body with <script>alert(1)</script> and text.",
    );
    let file = env.write_article("qa.md", &text);
    env.add(&[&file]);
    let server = env.serve();
    let r = server.get("/articles/qa", &[]);
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(!html.contains("<b> \"quotes\""), "the title is escaped");
    assert!(!html.contains("<script>alert"), "raw script survived");
    assert!(html.contains(&env.article_url("qa")), "canonical URL");
    let unescaped = crate::support::unescape_html(&html);
    assert!(unescaped.contains("Q&A: <b> \"quotes\" & 'apostrophes'"));
}

#[test]
fn new_commits_are_seen_on_the_very_next_request() {
    let env = TestEnv::new();
    env.add_article("First", "first", "2026-01-01T00:00:00Z", "x");
    let server = env.serve();
    // Several rounds: each publish is seen by the request right after it, not by luck of
    // timing once.
    for round in 0..5 {
        let (title, slug) = (format!("Second {round}"), format!("second-{round}"));
        let path = format!("/articles/{slug}");
        // Warm the cache, including a negative entry for the page that does not exist yet.
        assert_eq!(server.get("/atom.xml", &[]).status, 200);
        assert_eq!(server.get(&path, &[]).status, 404);
        env.add_article(
            &title,
            &slug,
            &format!("2026-01-0{}T00:00:00Z", round + 2),
            "y",
        );
        assert_eq!(server.get(&path, &[]).status, 200, "round {round}");
        assert!(
            server.get("/atom.xml", &[]).text().contains(&title),
            "round {round}"
        );
        env.run(&["delete", &slug]).success();
        assert_eq!(server.get(&path, &[]).status, 410, "round {round}");
    }
}

// ---------------------------------------------------------------------------------------------
// server settings

/// `server.listen` chooses the address, `--listen` overrides it; both take port 0 (the kernel
/// picks one) and `serve` prints the address it really bound.
#[test]
fn server_listen_and_the_listen_flag_choose_the_address() {
    let env = TestEnv::new();
    env.add_article("Listening", "listening", "2026-03-01T10:00:00Z", "Body.");
    env.write_config(
        &env.config_text(&[])
            .replace("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.2:0\""),
    );
    let configured = env.serve();
    assert!(
        configured.addr.starts_with("127.0.0.2:"),
        "server.listen = 127.0.0.2:0 printed {}",
        configured.addr
    );
    assert_eq!(configured.get("/articles/listening", &[]).status, 200);
    let flagged = env.serve_with(&["--listen", "127.0.0.3:0"], &[]);
    assert!(
        flagged.addr.starts_with("127.0.0.3:"),
        "--listen 127.0.0.3:0 printed {}",
        flagged.addr
    );
    assert_eq!(flagged.get("/articles/listening", &[]).status, 200);
}

/// Publishes an article tagged "Asia".
fn add_tagged(env: &TestEnv, title: &str, slug: &str, published: &str) {
    let text = article(title, slug, published, "Diplomats met again on Tuesday.").replacen(
        "+++\n\n",
        "tags = [\"Asia\"]\n+++\n\n",
        1,
    );
    let path = env.write_article(&format!("{slug}.md"), &text);
    env.add(&[&path]);
}

/// Every kind of document the site serves (stored or rendered on request).
const EVERY_KIND: &[&str] = &[
    "/atom.xml",
    "/rss.xml",
    "/feed.json",
    "/",
    "/page/2/",
    "/tags/asia/",
    "/tags/asia/page/2/",
    "/tags/asia/atom.xml",
    "/tags/asia/rss.xml",
    "/tags/asia/feed.json",
    "/archive/2026-01/atom.xml",
    "/archive/2026-01/rss.xml",
    "/archive/2026-01/sitemap.xml",
    "/sitemap.xml",
    "/articles/jan-20",
];

/// RFC 9110 §8.8.2: `Last-Modified` never goes backwards and moves whenever the bytes change,
/// so a poller that sends only `If-Modified-Since` sees a back-dated article, an edit that keeps
/// the article's dates and a deletion; a document whose bytes did not change still answers 304.
/// A feed's own date (Atom `<updated>`, RSS `lastBuildDate`) is its `Last-Modified`.
#[test]
fn if_modified_since_sees_back_dated_adds_edits_and_deletes_in_every_document() {
    let env = TestEnv::with_settings(&[("feeds", "page_size = 2")]);
    for (slug, day) in [
        ("jan-10", 10),
        ("jan-20", 20),
        ("jan-25", 25),
        ("jan-28", 28),
    ] {
        add_tagged(
            &env,
            &format!("Story of {slug}"),
            slug,
            &format!("2026-01-{day}T10:00:00Z"),
        );
    }
    let server = env.serve();
    let snapshot = |server: &Server| -> Vec<(String, String, String)> {
        EVERY_KIND
            .iter()
            .map(|path| {
                let r = server.get(path, &[("Accept-Encoding", "identity")]);
                assert_eq!(r.status, 200, "{path}");
                (
                    path.to_string(),
                    r.expect_header("etag").to_string(),
                    r.expect_header("last-modified").to_string(),
                )
            })
            .collect()
    };
    let mut changed_once: std::collections::BTreeSet<String> = Default::default();
    let changes: &[(&str, &[&str])] = &[
        // Published before the newest entry, in the same month and tag.
        (
            "a back-dated add",
            &[
                "add-tagged",
                "Story of jan-15",
                "jan-15",
                "2026-01-15T10:00:00Z",
            ],
        ),
        // A new title, the same `published` and `updated`.
        (
            "an edit that keeps the dates",
            &[
                "edit",
                "jan-25",
                "--title",
                "Story of jan-25, retitled",
                "--updated",
                "2026-01-25T10:00:00Z",
            ],
        ),
        ("a delete", &["delete", "jan-10"]),
        // January's archives now link February's (next-archive).
        (
            "an add in a later month",
            &[
                "add-tagged",
                "Story of feb-02",
                "feb-02",
                "2026-02-02T10:00:00Z",
            ],
        ),
    ];
    for (what, command) in changes {
        let before = snapshot(&server);
        match command[0] {
            "add-tagged" => {
                add_tagged(&env, command[1], command[2], command[3]);
            }
            _ => {
                env.run(command).success();
            }
        }
        for (path, etag, last_modified) in &before {
            let r = server.get(
                path,
                &[
                    ("Accept-Encoding", "identity"),
                    ("If-Modified-Since", last_modified),
                ],
            );
            let now_etag = r.expect_header("etag").to_string();
            if &now_etag == etag {
                // Deeper list pages are rendered on request and stamped with their list's last
                // change: they may answer 200 with the same bytes, never 304 with new ones.
                if !path.contains("/page/") {
                    assert_eq!(
                        r.status, 304,
                        "{path} after {what}: unchanged, yet {}",
                        r.status
                    );
                }
                continue;
            }
            changed_once.insert(path.clone());
            assert_eq!(
                r.status, 200,
                "{path} changed after {what} (ETag {etag} -> {now_etag}), yet If-Modified-Since: \
                 {last_modified} answered {}",
                r.status
            );
            let new_lm = r.expect_header("last-modified");
            let parse = |t: &str| chrono::DateTime::parse_from_rfc2822(t).expect("an HTTP date");
            assert!(
                parse(new_lm) > parse(last_modified),
                "{path}: {last_modified} -> {new_lm}"
            );
            let text = r.text();
            if path.ends_with("atom.xml") {
                let feed = crate::support::parse_feed(&r.body);
                let updated = feed.updated.expect("a feed <updated>");
                assert_eq!(
                    updated.timestamp(),
                    parse(new_lm).timestamp(),
                    "{path}: <updated> is Last-Modified"
                );
            } else if path.ends_with("rss.xml") {
                let build = crate::support::between(&text, "<lastBuildDate>", "</lastBuildDate>")
                    .expect("a lastBuildDate");
                assert_eq!(
                    parse(build).timestamp(),
                    parse(new_lm).timestamp(),
                    "{path}: lastBuildDate is Last-Modified"
                );
            }
        }
    }
    // Nothing changed since the last snapshot: every document answers 304.
    for (path, _, last_modified) in snapshot(&server) {
        let r = server.get(&path, &[("If-Modified-Since", &last_modified)]);
        assert_eq!(r.status, 304, "{path} unchanged since {last_modified}");
    }
    let never: Vec<&&str> = EVERY_KIND
        .iter()
        .filter(|p| !changed_once.contains(**p))
        .collect();
    assert!(
        never.is_empty(),
        "these documents never changed, so the test proves nothing for them: {never:?}"
    );
}

/// Conditional requests apply to 2xx answers only (RFC 9110 §13.2.1): a 404, 410 or 301
/// carries no ETag or Last-Modified, and answers the same whatever the request's validators.
#[test]
fn error_and_redirect_answers_carry_no_validators() {
    let (env, server) = site();
    env.run(&["edit", "story-0", "--slug", "story-zero"])
        .success();
    env.run(&["delete", "story-1"]).success();
    for (path, status) in [
        ("/no-such-page", 404),
        ("/articles/story-1", 410),
        ("/articles/story-0", 301),
    ] {
        let r = server.get(path, &[]);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.header("etag"), None, "{path}: {:?}", r.headers);
        assert_eq!(r.header("last-modified"), None, "{path}: {:?}", r.headers);
        for conditional in [
            ("If-None-Match", "*"),
            ("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"),
        ] {
            let again = server.get(path, &[conditional]);
            assert_eq!(again.status, status, "{path} with {conditional:?}");
            assert_eq!(again.body, r.body, "{path} with {conditional:?}");
        }
    }
}
