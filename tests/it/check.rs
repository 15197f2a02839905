//! `feedsvc check` finds what it claims to find: each problem is planted into the database of
//! a published site, and `check` must name the document and the problem, report nothing else,
//! and exit non-zero. A clean site passes.

use rusqlite::{params, Connection, OptionalExtension};

use crate::support::{assert_check_ok, toml_string, TestEnv};

/// Largest feed document feedsvc publishes (`render::MAX_FEED_BYTES`).
const MAX_FEED_BYTES: usize = 1_000_000;

/// The site's feeds, as stored.
const SITE_FEEDS: [&str; 3] = ["/atom.xml", "/rss.xml", "/feed.json"];

/// Feeds of the tag every article of [`published_site`] carries.
const TAG_FEEDS: [&str; 3] = [
    "/tags/diplomacy/atom.xml",
    "/tags/diplomacy/rss.xml",
    "/tags/diplomacy/feed.json",
];

/// Publishes one article tagged `Diplomacy`.
fn add(env: &TestEnv, title: &str, slug: &str, published: &str, body: &str) {
    let text = format!(
        "+++\ntitle = {}\nslug = \"{slug}\"\npublished = \"{published}\"\ntags = [\"Diplomacy\"]\n+++\n\n{body}\n",
        toml_string(title)
    );
    let path = env.write_article(&format!("{slug}.md"), &text);
    env.add(&[&path]);
}

/// Three articles of September 2026 whose bodies carry a relative link (made absolute at
/// publish time), a `mailto:` and a `tel:` link, plus one scheduled article.
fn published_site() -> TestEnv {
    let env = TestEnv::new();
    add(
        &env,
        "September one",
        "sep-one",
        "2026-09-02T09:00:00Z",
        "Body one, [more](more-info), [write](mailto:desk@example.org), [call](tel:+15550100).",
    );
    add(
        &env,
        "September two",
        "sep-two",
        "2026-09-12T09:00:00Z",
        "Body two.",
    );
    add(
        &env,
        "September three",
        "sep-three",
        "2026-09-20T09:00:00+02:00",
        "Body three, ![map](map.png).",
    );
    add(
        &env,
        "Not yet",
        "not-yet",
        "2099-01-01T00:00:00Z",
        "Scheduled body.",
    );
    env
}

fn open(env: &TestEnv) -> Connection {
    Connection::open(env.db_path()).expect("open the database")
}

/// The stored body of the document at `path`, as text.
fn stored_text(env: &TestEnv, path: &str) -> String {
    let body: Vec<u8> = open(env)
        .query_row("SELECT body FROM documents WHERE path = ?1", [path], |r| {
            r.get(0)
        })
        .optional()
        .expect("read a document")
        .unwrap_or_else(|| panic!("no document stored at {path}"));
    String::from_utf8(body).expect("a stored document is UTF-8")
}

/// Replaces the stored body of the document at `path`.
fn store_text(env: &TestEnv, path: &str, text: &str) {
    let changed = open(env)
        .execute(
            "UPDATE documents SET body = ?2 WHERE path = ?1",
            params![path, text.as_bytes()],
        )
        .expect("write a document");
    assert_eq!(changed, 1, "no document stored at {path}");
}

/// Runs `sql` with `params` against the site's database.
fn execute(env: &TestEnv, sql: &str, params: impl rusqlite::Params) {
    open(env).execute(sql, params).expect(sql);
}

/// The `entry_id` of an article.
fn entry_id(env: &TestEnv, slug: &str) -> String {
    open(env)
        .query_row(
            "SELECT entry_id FROM articles WHERE slug = ?1",
            [slug],
            |r| r.get(0),
        )
        .expect("an article")
}

/// Runs `check`, which must fail, and returns the problems it listed as (path, what).
#[track_caller]
fn problems(env: &TestEnv) -> Vec<(String, String)> {
    let run = env.run(&["check"]);
    assert_ne!(
        run.code, 0,
        "check passed a site with a planted problem:\n{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("problems in"),
        "stderr names no count: {}",
        run.stderr
    );
    let listed: Vec<(String, String)> = run
        .stdout
        .lines()
        .map(|line| {
            let (path, what) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("not a `PATH: problem` line: {line:?}"));
            (path.to_string(), what.to_string())
        })
        .collect();
    assert!(!listed.is_empty(), "check failed without listing a problem");
    listed
}

/// `check` fails, and every problem it lists is about `path`, one of them holding `needle`.
#[track_caller]
fn assert_reports(env: &TestEnv, path: &str, needle: &str) {
    let listed = problems(env);
    let others: Vec<_> = listed.iter().filter(|(p, _)| p != path).collect();
    assert!(
        others.is_empty(),
        "a problem planted in {path} was reported elsewhere too: {others:?}"
    );
    assert!(
        listed.iter().any(|(_, what)| what.contains(needle)),
        "{path}: no problem mentions {needle:?}: {listed:?}"
    );
}

/// Edits the stored document at `path` with `edit`, asserts that `check` reports `needle`
/// there and nothing anywhere else, then puts the original bytes back.
#[track_caller]
fn assert_planted(env: &TestEnv, path: &str, edit: impl FnOnce(&str) -> String, needle: &str) {
    let original = stored_text(env, path);
    let planted = edit(&original);
    assert_ne!(planted, original, "{path}: the edit changed nothing");
    store_text(env, path, &planted);
    assert_reports(env, path, needle);
    store_text(env, path, &original);
}

/// [`assert_planted`], the edit replacing `from` by `to`.
#[track_caller]
fn assert_replacement_reported(env: &TestEnv, path: &str, (from, to): (&str, &str), needle: &str) {
    assert_planted(env, path, |text| replaced(text, from, to), needle);
}

/// `text` with `from` replaced by `to`, which must occur.
#[track_caller]
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not found in:\n{text}");
    text.replace(from, to)
}

/// `text` with the first `<name>…</name>` element replaced by `<name>inner</name>`.
#[track_caller]
fn with_element(text: &str, name: &str, inner: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let start = text.find(&open).unwrap_or_else(|| panic!("no {open}"));
    let end = start + text[start..].find(&close).expect("a closing tag") + close.len();
    format!("{}{open}{inner}{close}{}", &text[..start], &text[end..])
}

/// `text` without its second `<name>…</name>` element.
#[track_caller]
fn without_second(text: &str, name: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let first = text.find(&open).expect("a first element");
    let start = first + 1 + text[first + 1..].find(&open).expect("a second element");
    let end = start + text[start..].find(&close).expect("a closing tag") + close.len();
    format!("{}{}", &text[..start], &text[end..])
}

/// A JSON document edited as a value.
fn edit_json(text: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut value: serde_json::Value = serde_json::from_str(text).expect("a JSON feed");
    edit(&mut value);
    serde_json::to_string_pretty(&value).expect("serialize")
}

/// `text` grown to exactly `size` bytes by inserting `open`, padding and `close` before the
/// last `before`; the result is still a valid document of its format.
fn padded(text: &str, before: &str, (open, close): (&str, &str), size: usize) -> String {
    let at = text.rfind(before).expect("the closing token");
    let padding = "x".repeat(size - text.len() - open.len() - close.len());
    format!("{}{open}{padding}{close}{}", &text[..at], &text[at..])
}

#[test]
fn a_clean_site_passes_and_every_document_is_counted() {
    let env = published_site();
    // Browser views of feeds are stored too, under keys no request names (`view:/…`): they are
    // checked with their feeds and not counted as documents.
    let stored: usize = open(&env)
        .query_row(
            "SELECT count(*) FROM documents WHERE path LIKE '/%'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect("count") as usize;
    // Rendered on request: the sitemap index, and September's sitemap, Atom and RSS archives.
    let on_request = 4;
    assert_eq!(
        assert_check_ok(&env),
        format!(
            "ok: {} documents and 4 articles checked, no problems",
            stored + on_request
        )
    );

    let short = TestEnv::with_settings(&[("feeds", "items = 2")]);
    add(&short, "One", "one", "2026-09-02T09:00:00Z", "a");
    add(&short, "Two", "two", "2026-09-03T09:00:00Z", "b");
    add(&short, "Three", "three", "2026-10-03T09:00:00Z", "c");
    assert_check_ok(&short);
}

/// The page a browser gets at an RSS or Atom feed's URL is checked with that feed: damaged,
/// answering another status or type, or missing, it is reported under both feed paths that
/// answer with it, never under its key.
#[test]
fn a_damaged_or_missing_browser_view_is_reported_at_its_feeds() {
    let env = published_site();
    let view = "view:/tags/diplomacy/";
    let original = stored_text(&env, view);
    let feeds = ["/tags/diplomacy/atom.xml", "/tags/diplomacy/rss.xml"];
    let reported = |env: &TestEnv, what: &str| {
        let listed = problems(env);
        let mut paths: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
        paths.sort();
        assert_eq!(paths, feeds, "{listed:?}");
        assert!(listed.iter().all(|(_, w)| w == what), "{listed:?}");
    };
    store_text(
        &env,
        view,
        &replaced(&original, "September two", "September\u{1}two"),
    );
    reported(
        &env,
        "its browser view contains the character U+0001, which XML cannot carry",
    );
    store_text(&env, view, &original);
    assert_check_ok(&env);
    let set = |column: &str, value: &str| {
        let sql = format!("UPDATE documents SET {column} = ?2 WHERE path = ?1");
        execute(&env, &sql, [view, value]);
    };
    set("status", "410");
    reported(&env, "its browser view answers 410");
    set("status", "200");
    set("content_type", "application/xml; charset=utf-8");
    reported(
        &env,
        "its browser view is application/xml; charset=utf-8, not an HTML page",
    );
    set("content_type", "text/html; charset=utf-8");
    assert_check_ok(&env);
    execute(&env, "DELETE FROM documents WHERE path = ?1", [view]);
    reported(&env, "has no browser view: a browser gets the feed's XML");
}

/// A tag no article carries any more answers 410 at its feeds' URLs, browsers included: its
/// feeds need no browser view then.
#[test]
fn a_gone_tag_needs_no_browser_view() {
    let env = published_site();
    let text = "+++\ntitle = \"Brief\"\nslug = \"brief\"\npublished = \"2026-09-05T09:00:00Z\"\n\
                tags = [\"Briefs\"]\n+++\n\nShort.\n";
    env.add(&[&env.write_article("brief.md", text)]);
    assert_check_ok(&env);
    env.run(&["delete", "brief"]).success();
    let gone: i64 = open(&env)
        .query_row(
            "SELECT count(*) FROM documents WHERE path LIKE '/tags/briefs/%' AND status = 410",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert!(gone >= 2, "{gone} documents of the tag answer 410");
    assert_check_ok(&env);
}

#[test]
fn a_site_with_nothing_published_needs_no_site_feed() {
    let env = TestEnv::new();
    add(&env, "Not yet", "not-yet", "2099-01-01T00:00:00Z", "Later.");
    assert_check_ok(&env);
    for path in SITE_FEEDS {
        execute(&env, "DELETE FROM documents WHERE path = ?1", [path]);
    }
    assert_check_ok(&env);
}

#[test]
fn duplicate_entry_ids() {
    let env = published_site();
    let (one, two) = (entry_id(&env, "sep-one"), entry_id(&env, "sep-two"));
    // Tag feeds: the site feeds would also disagree with the article table.
    for path in TAG_FEEDS {
        assert_replacement_reported(
            &env,
            path,
            (&two, &one),
            &format!("the entry id {one} appears twice"),
        );
    }
    assert_check_ok(&env);
}

#[test]
fn relative_entry_links() {
    let env = published_site();
    let absolute = format!("{}articles/sep-two", env.base);
    for path in SITE_FEEDS.into_iter().chain(TAG_FEEDS) {
        assert_replacement_reported(
            &env,
            path,
            (&absolute, "/articles/sep-two"),
            "links to \"/articles/sep-two\", which is not an absolute URL",
        );
    }
    assert_check_ok(&env);
}

#[test]
fn relative_links_in_content() {
    let env = published_site();
    for (absolute, relative) in [
        (format!("{}articles/more-info", env.base), "more-info"),
        (format!("{}articles/map.png", env.base), "map.png"),
    ] {
        for path in SITE_FEEDS {
            assert_replacement_reported(
                &env,
                path,
                (&absolute, relative),
                &format!("content links to the relative URL \"{relative}\""),
            );
        }
    }
    assert_check_ok(&env);
}

#[test]
fn bad_dates_in_each_format() {
    let env = published_site();
    let rfc822 = "Sun, 20 Sep 2026 09:00:00 +0200";
    for (path, element, date, needle) in [
        // RSS wants RFC 822; an RFC 3339 date is the usual mistake.
        (
            "/rss.xml",
            "pubDate",
            "2026-09-20T07:00:00Z",
            "has a bad pubDate Some(\"2026-09-20T07:00:00Z\")".to_string(),
        ),
        (
            "/rss.xml",
            "lastBuildDate",
            "yesterday",
            "has a bad lastBuildDate \"yesterday\" (not RFC 822)".to_string(),
        ),
        // Atom wants RFC 3339; its reader accepts RFC 822 too, so only `check` notices.
        (
            "/atom.xml",
            "published",
            rfc822,
            format!("has a bad <published> date \"{rfc822}\" (not RFC 3339)"),
        ),
        (
            "/tags/diplomacy/atom.xml",
            "updated",
            rfc822,
            format!("has a bad <updated> date \"{rfc822}\" (not RFC 3339)"),
        ),
    ] {
        assert_planted(
            &env,
            path,
            |text| with_element(text, element, date),
            &needle,
        );
    }
    // JSON Feed wants RFC 3339 too.
    for field in ["date_published", "date_modified"] {
        assert_planted(
            &env,
            "/feed.json",
            |text| {
                edit_json(text, |feed| {
                    feed["items"][1][field] = "Sat, 12 Sep 2026 09:00:00 +0000".into();
                })
            },
            &format!("has a bad {field} \"Sat, 12 Sep 2026 09:00:00 +0000\" (not RFC 3339)"),
        );
    }
    assert_planted(
        &env,
        "/tags/diplomacy/feed.json",
        |text| {
            edit_json(text, |feed| {
                feed["items"][0]["date_modified"] = 20260912.into()
            })
        },
        "has a bad date_modified 20260912",
    );
    assert_check_ok(&env);
}

#[test]
fn wrong_self_links() {
    let env = published_site();
    for path in SITE_FEEDS {
        let file = path.trim_start_matches('/');
        assert_planted(
            &env,
            path,
            |text| {
                replaced(
                    text,
                    &format!("\"{}{file}\"", env.base),
                    &format!("\"http://old.example/{file}\""),
                )
            },
            &format!(
                "its self link is Some(\"http://old.example/{file}\"), not {}{file}",
                env.base
            ),
        );
    }
    // A tag feed that claims to be the site's feed.
    assert_planted(
        &env,
        "/tags/diplomacy/rss.xml",
        |text| {
            replaced(
                text,
                &format!("{}tags/diplomacy/rss.xml", env.base),
                &format!("{}rss.xml", env.base),
            )
        },
        "its self link is",
    );
    assert_check_ok(&env);
}

#[test]
fn feeds_over_the_byte_budget() {
    let env = published_site();
    let cases = [
        ("/atom.xml", "</feed>", ("<!--", "-->")),
        ("/rss.xml", "</rss>", ("<!--", "-->")),
        (
            "/tags/diplomacy/feed.json",
            "}",
            (",\"_padding\": \"", "\""),
        ),
    ];
    for (path, before, wrap) in cases {
        let original = stored_text(&env, path);
        // Exactly at the budget is allowed.
        store_text(&env, path, &padded(&original, before, wrap, MAX_FEED_BYTES));
        assert_check_ok(&env);
        store_text(&env, path, &original);
        assert_planted(
            &env,
            path,
            |text| padded(text, before, wrap, MAX_FEED_BYTES + 1),
            "is 1000001 bytes, over the 1000000 byte budget",
        );
    }
    // Pages have no budget.
    let page = "/articles/sep-two";
    let original = stored_text(&env, page);
    store_text(
        &env,
        page,
        &padded(&original, "</body>", ("<!--", "-->"), 2 * MAX_FEED_BYTES),
    );
    assert_check_ok(&env);
}

#[test]
fn control_characters() {
    let env = published_site();
    for (path, from, to, code) in [
        ("/articles/sep-two", "Body two.", "Body\u{1}two.", "U+0001"),
        ("/rss.xml", "Body two.", "Body\u{1b}two.", "U+001B"),
        (
            "/tags/diplomacy/atom.xml",
            "Body two.",
            "Body\u{fffe}two.",
            "U+FFFE",
        ),
        // As numeric references, which a parser turns into the characters.
        ("/articles/sep-one", "Body one", "Body&#1;one", "U+0001"),
        (
            "/tags/diplomacy/rss.xml",
            "Body two.",
            "Body&#x1B;two.",
            "U+001B",
        ),
        // JSON escapes control characters; the decoded text still carries them.
        ("/feed.json", "Body two.", "Body\\u0007two.", "U+0007"),
    ] {
        assert_replacement_reported(
            &env,
            path,
            (from, to),
            &format!("contains the character {code}, which XML cannot carry"),
        );
    }
    assert_check_ok(&env);
}

#[test]
fn article_pages_missing_or_not_answering_200() {
    let env = published_site();
    let page = "/articles/sep-two";
    execute(
        &env,
        "UPDATE documents SET status = 404 WHERE path = ?1",
        [page],
    );
    assert_reports(&env, page, "the page of a published article answers 404");
    execute(&env, "DELETE FROM documents WHERE path = ?1", [page]);
    assert_reports(&env, page, "the page of a published article is missing");
}

#[test]
fn site_feeds_that_disagree_with_the_article_table() {
    let env = published_site();
    let differ = "holds 2 entries that differ from the newest 3 published articles";
    assert_planted(
        &env,
        "/atom.xml",
        |text| without_second(text, "entry"),
        differ,
    );
    assert_planted(
        &env,
        "/rss.xml",
        |text| without_second(text, "item"),
        differ,
    );
    assert_planted(
        &env,
        "/feed.json",
        |text| {
            edit_json(text, |feed| {
                feed["items"].as_array_mut().expect("items").remove(1);
            })
        },
        differ,
    );
    assert_planted(
        &env,
        "/feed.json",
        |text| {
            edit_json(text, |feed| {
                feed["items"].as_array_mut().expect("items").swap(0, 1);
            })
        },
        "holds 3 entries that differ from the newest 3 published articles",
    );
    assert_check_ok(&env);

    // The table changes under the feeds: an entry id the feeds never carried.
    execute(
        &env,
        "UPDATE articles SET entry_id = 'tag:example.org,2026-09-12:renamed' WHERE slug = 'sep-two'",
        [],
    );
    let listed = problems(&env);
    let mut paths: Vec<&str> = listed.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/atom.xml", "/feed.json", "/rss.xml"], "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|(_, what)| what
                == "holds 3 entries that differ from the newest 3 published articles"),
        "{listed:?}"
    );
}

#[test]
fn a_missing_site_feed() {
    let env = published_site();
    for path in SITE_FEEDS {
        let original = stored_text(&env, path);
        execute(&env, "DELETE FROM documents WHERE path = ?1", [path]);
        assert_reports(&env, path, "the site feed is missing");
        execute(
            &env,
            "INSERT INTO documents (path, status, content_type, location, etag, last_modified, \
             generation, body) SELECT ?1, status, content_type, location, etag, last_modified, \
             generation, ?2 FROM documents WHERE path = ?3",
            params![
                path,
                original.as_bytes(),
                path.replace('/', "/tags/diplomacy/")
            ],
        );
        assert_check_ok(&env);
    }
}

#[test]
fn archive_feeds_rendered_on_request() {
    let env = published_site();
    let month = ["/archive/2026-09/atom.xml", "/archive/2026-09/rss.xml"];
    // Only the archives render from the table; the stored feeds keep the old body.
    let body = |extra: &str| {
        execute(
            &env,
            "UPDATE articles SET body_html = '<p>Body two.</p>' || ?1 WHERE slug = 'sep-two'",
            [extra],
        )
    };
    body("<p><a href=\"/elsewhere\">elsewhere</a></p>");
    let listed = problems(&env);
    for path in month {
        assert!(
            listed.contains(&(
                path.to_string(),
                format!(
                    "entry {} content links to the relative URL \"/elsewhere\"",
                    entry_id(&env, "sep-two")
                )
            )),
            "{path}: {listed:?}"
        );
    }
    assert_eq!(listed.len(), 2, "{listed:?}");

    body("<p>\u{1}</p>");
    let listed = problems(&env);
    for path in month {
        assert!(
            listed.contains(&(
                path.to_string(),
                "contains the character U+0001, which XML cannot carry".to_string()
            )),
            "{path}: {listed:?}"
        );
    }
    assert!(
        listed.iter().all(|(p, _)| month.contains(&p.as_str())),
        "{listed:?}"
    );

    body("");
    assert_check_ok(&env);
}
