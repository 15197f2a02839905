//! `feedsvc import` on the real binary: exports and feed files from `tests/fixtures/import/`
//! (and, for import by URL, a second feedsvc served on 127.0.0.1) become articles that keep
//! their entry ids, slugs, dates and tags, and their old URLs answer with 301s.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::support::{assert_no_panic, assert_refused, parse_feed, Run, Server, TestEnv, BIN};

// WordPress ---------------------------------------------------------------------------------

#[test]
fn wordpress_posts_keep_their_ids_slugs_offsets_authors_and_tags() {
    let (env, run) = imported("wordpress-1.2.xml");
    assert_totals(
        &run,
        "imported 3 articles, updated 0, unchanged 0, skipped 8",
    );

    let storm = listed(&env, "https://harbournews.example.com/?p=101");
    assert_eq!(storm["slug"], "storm-closes-coast-road");
    assert_eq!(storm["title"], "Storm closes the coast road — again");
    // wp:post_date is local time; wp:post_date_gmt gives its offset.
    assert_eq!(storm["published"], "2025-09-14T08:30:00+02:00");
    assert_eq!(storm["updated"], "2025-09-14T11:02:10+02:00");
    assert_eq!(storm["author"], "Marta Nowak");
    assert_eq!(storm["summary"], "Police closed the road at dawn.");
    // The post format ("Aside") is no tag.
    assert_eq!(storm["tags"], json!(["Weather", "Coast Road"]));
    let shown = env.show_json("storm-closes-coast-road");
    assert_eq!(shown["body_format"], "html");
    let body = shown["body"].as_str().expect("body");
    assert!(
        body.starts_with("<p>GDAŃSK — The coast road closed at 6 a.m. on Sunday.</p>"),
        "WordPress's bare paragraphs become <p>: {body}"
    );

    // A percent-encoded non-ASCII post_name becomes a readable ASCII slug.
    let athens = listed(&env, "https://harbournews.example.com/?p=102");
    assert_eq!(athens["slug"], "athena-kausonas");
    assert_eq!(athens["title"], "Καύσωνας στην Αθήνα");
    assert_eq!(athens["published"], "2025-09-13T12:00:00+02:00");
    assert_eq!(
        athens["author"], "nikos",
        "an unknown login is kept as the name"
    );

    let old = TestEnv::new();
    import(&old, &[&fixture("wordpress-1.0.xml")]);
    let buses = listed(&old, "http://oldpaper.example.net/?p=7");
    assert_eq!(buses["slug"], "night-buses-cut");
    assert_eq!(buses["published"], "2008-03-02T21:15:00-05:00");
    assert_eq!(buses["author"], "Old Editor");
    assert_eq!(buses["tags"], json!(["City", "night buses"]));
}

#[test]
fn wordpress_items_that_are_not_posts_are_skipped_with_their_reason() {
    let env = TestEnv::new();
    let report = import_json(&env, &[&fixture("wordpress-1.2.xml")]);
    let reasons: Vec<String> = report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| format!("{}: {}", text(&s["position"]), text(&s["reason"])))
        .collect();
    let expected = [
        "item 2 (line 54): comment (Piotr)",
        "item 3 (line 63): comment (Ola)",
        "item 6 (line 108): draft",
        "item 7 (line 122): private (private)",
        "item 8 (line 134): page",
        "item 9 (line 144): attachment",
        "item 10 (line 154): menu item",
        "item 11 (line 163): other kind (wp_block)",
    ];
    assert_eq!(reasons, expected);
    let ids: Vec<String> = env.list_json().iter().map(|a| text(&a["id"])).collect();
    for hidden in ["?p=104", "?p=105", "?page_id=2", "?p=120", "?p=130"] {
        assert!(
            !ids.iter().any(|id| id.ends_with(hidden)),
            "{hidden} imported: {ids:?}"
        );
    }
}

#[test]
fn a_wordpress_future_post_is_scheduled_and_kept_out_of_the_feeds() {
    let (env, _) = imported("wordpress-future.xml");
    let future = listed(&env, "https://harbournews.example.com/?p=202");
    assert_eq!(future["scheduled"], true);
    assert_eq!(future["published"], "2099-05-01T09:00:00+02:00");
    assert_eq!(
        listed(&env, "https://harbournews.example.com/?p=201")["scheduled"],
        false
    );
    let server = env.serve();
    // Until it is published its page is not there, and its old URL does not give it away.
    assert_eq!(
        server.get("/articles/lighthouse-centenary", &[]).status,
        404
    );
    assert_ne!(server.get("/?p=202", &[]).status, 301);
    for ids in feed_ids(&server).values() {
        assert_eq!(
            ids,
            &vec!["https://harbournews.example.com/?p=201".to_string()]
        );
    }
}

/// WordPress publishes a `future` post whose moment has passed at its scheduler's next run;
/// so does the import: the fixture's is dated 2025-10-01, before any clock running this.
#[test]
fn a_wordpress_future_post_whose_moment_has_passed_is_published() {
    let (env, _) = imported("wordpress-1.2.xml");
    let budget = listed(&env, "https://harbournews.example.com/?p=103");
    assert_eq!(budget["scheduled"], false, "{budget}");
}

#[test]
fn wordpress_old_urls_and_feed_urls_answer_301() {
    let (env, _) = imported("wordpress-1.2.xml");
    let server = env.serve();
    let storm = env.article_url("storm-closes-coast-road");
    let athens = env.article_url("athena-kausonas");
    let moved = [
        ("/2025/09/14/storm-closes-coast-road/", storm.clone()),
        ("/2025/09/14/storm-closes-coast-road/?m=1", storm.clone()),
        ("/?p=101", storm.clone()),
        ("/?p=101&utm_source=feed", storm),
        ("/?p=102", athens.clone()),
        (
            "/2025/09/13/%ce%b1%ce%b8%ce%ae%ce%bd%ce%b1-%ce%ba%ce%b1%cf%8d%cf%83%cf%89%ce%bd%ce%b1%cf%82/",
            athens,
        ),
        ("/feed/", site("rss.xml")),
        ("/feed/atom/", site("atom.xml")),
        ("/?feed=rss2", site("rss.xml")),
        ("/category/weather/", site("tags/weather/")),
        ("/category/weather/feed/", site("tags/weather/rss.xml")),
        ("/tag/coast-road/feed/", site("tags/coast-road/rss.xml")),
    ];
    for (old, location) in moved {
        assert_moved(&server, old, &location);
    }
    // Skipped items leave no redirect behind.
    assert_ne!(server.get("/2025/09/10/staff-rota/", &[]).status, 301);
}

/// A newsroom imports while its site is served: the server answers from the archive as it was
/// until the import commits, then from the archive as it is, old URLs included, even those
/// asked for (and not found) before.
#[test]
fn an_import_reaches_a_running_server_old_urls_included() {
    let env = TestEnv::new();
    env.add_article(
        "Already here",
        "already-here",
        "2026-01-05T09:00:00Z",
        "Text.",
    );
    let server = env.serve();
    let before = server.get("/atom.xml", &[]);
    assert_eq!(before.status, 200);
    assert!(!before.text().contains("?p=101"));
    assert_ne!(server.get("/?p=101", &[]).status, 301);
    assert_eq!(server.get("/feed/", &[]).status, 404);
    import(
        &env,
        &fixtures("wordpress-1.2.xml")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let storm = env.article_url("storm-closes-coast-road");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !server.get("/atom.xml", &[]).text().contains("?p=101") {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never saw the import"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_moved(&server, "/?p=101", &storm);
    assert_moved(&server, "/2025/09/14/storm-closes-coast-road/", &storm);
    assert_moved(&server, "/feed/", &site("rss.xml"));
    assert!(server.get("/atom.xml", &[]).text().contains("Already here"));
}

// Blogger -----------------------------------------------------------------------------------

#[test]
fn blogger_posts_keep_their_ids_labels_authors_and_offsets() {
    let (env, run) = imported(BLOGGER);
    assert_totals(
        &run,
        "imported 3 articles, updated 0, unchanged 0, skipped 10",
    );
    let bridge = listed(&env, "tag:blogger.com,1999:blog-1234567890.post-1111");
    assert_eq!(bridge["slug"], "council-votes-bridge");
    assert_eq!(bridge["published"], "2025-09-14T08:30:00+02:00");
    assert_eq!(bridge["author"], "Anna Svensson");
    assert_eq!(bridge["tags"], json!(["Local politics", "Transport"]));

    let ferry = listed(&env, "tag:blogger.com,1999:blog-1234567890.post-2222");
    assert_eq!(ferry["slug"], "ferry-back");
    assert_eq!(ferry["title"], "Ферри вернулся — the ferry is back");

    // The 2018 format: the slug from blogger:filename, labels in any script.
    let market = listed(&env, "tag:blogger.com,1999:blog-555.post-901");
    assert_eq!(market["slug"], "night-market-returns");
    assert_eq!(market["published"], "2025-09-10T21:00:00+08:00");
    assert_eq!(market["updated"], "2025-09-11T08:00:00+08:00");
    assert_eq!(market["author"], "林美玲");
    assert_eq!(market["tags"], json!(["台北", "Markets"]));
}

#[test]
fn blogger_drafts_pages_comments_settings_and_templates_are_skipped() {
    let (env, run) = imported(BLOGGER);
    for line in [
        "\"Template: Harbour Daily\": template",
        "\"BLOG_NAME\": settings",
        "\"DRAFT: budget numbers\": draft",
        "\"About us\": page",
        "\"Finally!\": comment",
        "\"Draft: typhoon follow-up\": draft",
        "\"Retracted\": private (DELETED)",
        "\"Binned\": private (SOFT_TRASHED)",
        "\"Contact\": page",
        "<tag:blogger.com,1999:blog-555.post-7001>: comment",
    ] {
        let found = run
            .stdout
            .lines()
            .any(|l| l.starts_with("skipped ") && l.ends_with(line));
        assert!(found, "no skipped line ending in {line}:\n{}", run.stdout);
    }
    assert_eq!(env.list_json().len(), 3);
}

#[test]
fn blogger_relative_images_are_resolved_against_the_old_page() {
    let (env, _) = imported("blogger-classic.xml");
    let body = text(&env.show_json("ferry-back")["body"]);
    assert!(
        body.contains("src=\"https://harbourdaily.blogspot.com/images/ferry.jpg\""),
        "{body}"
    );
}

#[test]
fn blogger_old_urls_and_feed_urls_answer_301() {
    let (env, _) = imported(BLOGGER);
    let server = env.serve();
    let bridge = env.article_url("council-votes-bridge");
    let moved = [
        ("/2025/09/council-votes-bridge.html", bridge.clone()),
        ("/2025/09/council-votes-bridge.html?m=1", bridge),
        (
            "/2025/09/night-market-returns.html",
            env.article_url("night-market-returns"),
        ),
        ("/feeds/posts/default", site("atom.xml")),
        ("/feeds/posts/default?alt=rss", site("rss.xml")),
        (
            "/feeds/posts/default/-/Transport",
            site("tags/transport/atom.xml"),
        ),
        ("/search/label/Transport", site("tags/transport/")),
    ];
    for (old, location) in moved {
        assert_moved(&server, old, &location);
    }
    assert_eq!(
        server.get("/p/about.html", &[]).status,
        404,
        "a skipped page"
    );
}

// Feed files --------------------------------------------------------------------------------

#[test]
fn feed_entry_ids_are_carried_by_every_feed() {
    let env = TestEnv::new();
    let paths = fixtures("rss-2.0.xml atom-1.0.xml jsonfeed-1.1.json jsonfeed-1.0.json");
    let mut args: Vec<&str> = vec!["--skip-unreadable"];
    args.extend(paths.iter().map(String::as_str));
    import(&env, &args);
    let expected = [
        "https://news.example.org/2025/09/14/harbour-strike",
        "urn:uuid:3e1f0a52-77c1-4b0a-9a55-1d2b6a0e8c11",
        "https://news.example.org/2025/09/12/brief",
        "urn:uuid:9b2e4a1c-0d7f-4a51-8f0e-3c5a0d1e2b77",
        "tag:news.example.org,2025:markets-0913",
        "tag:news.example.org,2025:note",
        "tag:news.example.org,2025:podcast",
        "https://gazette.example/2026/09/council-vote",
        "tag:gazette.example,2026:monsoon",
        "1024",
        "quay-17",
        "quay-16",
    ];
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed_ids(&env), expected);
    let server = env.serve();
    // Atom wants an absolute IRI: a JSON Feed or RSS id that is not one (`1024`) is carried in a
    // `tag:` URI of the site's host; RSS and JSON Feed carry every id as it is.
    let in_atom = |id: &String| {
        if id.contains(':') {
            id.clone()
        } else {
            format!("tag:wire.test,2000:id:{id}")
        }
    };
    for (feed, mut ids) in feed_ids(&server) {
        ids.sort();
        let mut want: Vec<String> = if feed.contains("atom") {
            expected.iter().map(in_atom).collect()
        } else {
            expected.clone()
        };
        want.sort();
        assert_eq!(ids, want, "{feed}");
    }
    let crete = listed(&env, "urn:uuid:9b2e4a1c-0d7f-4a51-8f0e-3c5a0d1e2b77");
    assert_eq!(crete["title"], "Floods & landslides: the week in Κρήτη");
    assert_eq!(crete["published"], "2025-09-14T06:00:00+03:00");
    assert_eq!(crete["author"], "Eleni Papadopoulou");
    assert_eq!(crete["summary"], "Roads closed across the island.");
    let strike = listed(&env, "https://news.example.org/2025/09/14/harbour-strike");
    assert_eq!(strike["tags"], json!(["Economy", "Labour"]));
    assert_eq!(strike["author"], "Maria Keller");
    let council = listed(&env, "https://gazette.example/2026/09/council-vote");
    assert_eq!(council["published"], "2026-09-14T08:30:00+05:30");
}

#[test]
fn html_bodies_are_sanitized_and_their_links_made_absolute() {
    let (env, _) = imported("atom-hostile-body.xml");
    let shown = env.show_json("x");
    assert_eq!(shown["body_format"], "html");
    let body = text(&shown["body"]);
    for banned in ["<script", "steal()", "onclick", "style", "display:none"] {
        assert!(!body.contains(banned), "{banned} survived: {body}");
    }
    assert!(body.contains("Boats at dawn."), "{body}");
    assert!(
        body.contains("src=\"https://old.example/img/a.jpg\""),
        "{body}"
    );
    assert!(
        body.contains("href=\"https://old.example/2025/09/y.html\""),
        "{body}"
    );
}

// Running again -----------------------------------------------------------------------------

#[test]
fn importing_again_changes_nothing_byte_for_byte() {
    let env = TestEnv::new();
    // Dates with milliseconds (Blogger), none at all (the ampersand export's first item),
    // bodies in text, XHTML and HTML: each must compare equal to what was stored.
    let sources = fixtures(
        "wordpress-1.2.xml blogger-classic.xml blogger-2018.xml atom-1.0.xml jsonfeed-1.1.json \
         broken-ampersand.xml",
    );
    let args: Vec<&str> = sources.iter().map(String::as_str).collect();
    import(&env, &args);
    let server = env.serve();
    let etag = feed_etag(&server);
    let before = env.snapshot();
    let run = import(&env, &args);
    assert_totals(
        &run,
        "imported 0 articles, updated 0, unchanged 15, skipped 18",
    );
    assert_eq!(env.snapshot(), before);
    assert_eq!(feed_etag(&server), etag);
}

#[test]
fn a_changed_item_is_updated_in_place() {
    let (env, _) = imported("wordpress-1.0.xml");
    let changed = copy_fixture(
        &env,
        "wordpress-1.0.xml",
        ("Night buses cut from March", "Night buses cut from April"),
    );
    let run = import(&env, &[&changed]);
    assert_totals(
        &run,
        "imported 0 articles, updated 1, unchanged 1, skipped 0",
    );
    let list = env.list_json();
    assert_eq!(list.len(), 2);
    let buses = listed(&env, "http://oldpaper.example.net/?p=7");
    assert_eq!(buses["title"], "Night buses cut from April");
    assert_eq!(buses["slug"], "night-buses-cut");
}

#[test]
fn an_entry_deleted_here_stays_deleted() {
    let env = TestEnv::new();
    let source = fixture("wordpress-1.0.xml");
    import(&env, &[&source]);
    env.run(&["delete", "night-buses-cut"]).success();
    let before = env.snapshot();
    let report = import_json(&env, &[&source]);
    assert_eq!(report["imported"], 0);
    assert_eq!(report["unchanged"], 1);
    let skipped = report["skipped"].as_array().expect("skipped");
    assert_eq!(skipped.len(), 1, "{report}");
    assert_eq!(skipped[0]["id"], "http://oldpaper.example.net/?p=7");
    assert!(text(&skipped[0]["reason"]).contains("deleted"), "{report}");
    assert_eq!(env.snapshot(), before);
}

#[test]
fn a_taken_slug_is_reported_as_renamed() {
    let env = TestEnv::new();
    env.add_article(
        "Buses, the older story",
        "night-buses-cut",
        "2007-01-01T10:00:00Z",
        "Old.",
    );
    let run = import(&env, &[&fixture("wordpress-1.0.xml")]);
    let renamed = report_lines(&run, "renamed ");
    assert_eq!(renamed.len(), 1, "{}", run.stdout);
    assert!(
        renamed[0].contains("\"Night buses cut from March\"")
            && renamed[0].contains("stored at \"night-buses-cut-2\""),
        "{}",
        renamed[0]
    );
    assert_eq!(
        listed(&env, "http://oldpaper.example.net/?p=7")["slug"],
        "night-buses-cut-2"
    );
    let server = env.serve();
    assert_moved(
        &server,
        "/2008/03/02/night-buses-cut/",
        &env.article_url("night-buses-cut-2"),
    );
}

// Dry runs and reports ----------------------------------------------------------------------

#[test]
fn a_dry_run_reports_what_a_real_run_does_and_writes_nothing() {
    let env = TestEnv::new();
    let source = fixture("blogger-classic.xml");
    let dry = import(&env, &["--dry-run", &source]);
    assert!(!env.db_path().exists(), "a dry run created the database");
    let real = import(&env, &[&source]);
    let totals = dry
        .stdout
        .replace("dry run, nothing written: imported", "imported");
    assert_ne!(
        totals, dry.stdout,
        "the dry run does not say so: {}",
        dry.stdout
    );
    assert_eq!(totals, real.stdout);

    let before = env.snapshot();
    let dry = import_json(&env, &["--dry-run", &fixture("wordpress-1.2.xml")]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["imported"], 3);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn the_json_report_has_every_field() {
    let env = TestEnv::new();
    let sources =
        fixtures("broken-truncated.xml atom-1.0.xml jsonfeed-1.1.json blogger-classic.xml");
    let mut args = vec!["--skip-unreadable"];
    args.extend(sources.iter().map(String::as_str));
    let report = import_json(&env, &args);
    let keys: std::collections::BTreeSet<&String> =
        report.as_object().expect("object").keys().collect();
    let fields = "documents dry_run imported renamed skipped skipped_by_reason skipped_count \
                  sources unchanged unreadable unreadable_count updated";
    assert_eq!(
        keys.into_iter().cloned().collect::<Vec<_>>().join(" "),
        fields
    );
    assert_eq!(report["sources"], json!(sources));
    assert_eq!(report["skipped_count"], 5);
    assert_eq!(report["skipped_by_reason"]["comment"], 1);
    assert_eq!(report["unreadable_count"], 1);
    assert_eq!(report["documents"], 4);
    assert_eq!(report["imported"], 2 + 4 + 3 + 2);
    assert_eq!(
        (&report["updated"], &report["unchanged"]),
        (&0.into(), &0.into())
    );
    assert_eq!(report["dry_run"], false);
    for list in ["skipped", "unreadable", "renamed"] {
        for named in report[list].as_array().expect("a list") {
            for field in ["source", "position", "reason"] {
                assert!(named[field].is_string(), "{list}: no {field} in {named}");
            }
        }
    }
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(5));
    let unreadable = &report["unreadable"][0];
    assert_eq!(unreadable["source"], sources[0].as_str());
    assert_eq!(unreadable["position"], "item 3 (line 30)");
    assert_eq!(unreadable["title"], "Third, cut short");
    assert!(
        text(&unreadable["reason"]).contains("CDATA not closed"),
        "{unreadable}"
    );
    let renamed = &report["renamed"][0];
    assert_eq!(renamed["source"], sources[2].as_str());
    assert_eq!(
        (&renamed["id"], &renamed["title"]),
        (&"1024".into(), &"Morning briefing".into())
    );
    assert!(
        text(&renamed["reason"]).contains("\"briefing-2\""),
        "{renamed}"
    );
}

// Broken files ------------------------------------------------------------------------------

#[test]
fn broken_exports_are_recovered() {
    let cases = "\
        broken-ampersand.xml|qa-rates|Q&A: rates, risks — and what comes next…
        broken-ampersand.xml|story-2|Next story
        broken-cdata.xml|story-1|Parser bug found in election results feed
        broken-cdata.xml|story-2|Count resumes
        broken-control-chars.xml|story-1|Ceasefire holds in the north
        broken-control-chars.xml|story-2|Second
        broken-encoding.xml|story-1|Café owners protest new rules
        broken-undeclared-prefix.xml|story-1|Prefixes gone missing";
    for case in cases.lines() {
        let fields: Vec<&str> = case.trim().split('|').collect();
        let (env, _) = imported(fields[0]);
        assert_eq!(env.show_json(fields[1])["title"], fields[2], "{case}");
    }
    let body_of = |file: &str| {
        let (env, _) = imported(file);
        (text(&env.show_json("story-1")["body"]), env)
    };
    let (cdata, _) = body_of("broken-cdata.xml");
    assert!(
        cdata.contains("<code>a[b[1]]&gt; c</code> and stopped — officials said."),
        "{cdata}"
    );
    let (control, _) = body_of("broken-control-chars.xml");
    assert_eq!(control, "<p>KYIV — Київ залишався спокійним.</p>");
    let (latin1, _) = body_of("broken-encoding.xml");
    assert!(latin1.contains("The café owners of Montmartre"), "{latin1}");
    let (_, undeclared) = body_of("broken-undeclared-prefix.xml");
    let story = listed(&undeclared, "https://broken.example.com/?p=1");
    assert_eq!(story["author"], "Kim Lee");
    assert_eq!(story["summary"], "A short dek.");
    assert_eq!(undeclared.list_json().len(), 1, "the page is skipped");
}

#[test]
fn a_truncated_export_is_refused_unless_told_to_skip() {
    let env = TestEnv::new();
    let source = fixture("broken-truncated.xml");
    assert_refused(
        &env,
        &["import", &source],
        None,
        &[
            &source,
            "item 3 (line 30)",
            "\"Third, cut short\"",
            "CDATA not closed",
        ],
    );
    assert!(
        !env.db_path().exists(),
        "a refused import created the database"
    );

    // With a database already there, a refusal leaves it as it was.
    import(&env, &[&fixture("wordpress-1.0.xml")]);
    assert_refused(&env, &["import", &source], None, &["item 3"]);

    let run = import(&env, &["--skip-unreadable", &source]);
    let unreadable = report_lines(&run, "unreadable ");
    assert_eq!(unreadable.len(), 1, "{}", run.stdout);
    assert!(
        unreadable[0].contains("item 3 (line 30) \"Third, cut short\""),
        "{}",
        unreadable[0]
    );
    assert_totals(
        &run,
        "imported 2 articles, updated 0, unchanged 0, skipped 0, unreadable 1",
    );
    assert_eq!(env.show_json("story-2")["title"], "Second of three");
    assert!(env.run(&["show", "story-3", "--json"]).code != 0);
}

#[test]
fn a_broken_json_feed_is_refused_unless_told_to_skip() {
    let env = TestEnv::new();
    let source = fixture("broken-jsonfeed.json");
    assert_refused(
        &env,
        &["import", &source],
        None,
        &[&source, "item 2", "tags", "item 3", "no id"],
    );
    assert!(!env.db_path().exists());
    let report = import_json(&env, &["--skip-unreadable", &source]);
    assert_eq!(report["imported"], 2);
    let positions: Vec<String> = report["unreadable"]
        .as_array()
        .expect("unreadable")
        .iter()
        .map(|u| text(&u["position"]))
        .collect();
    assert_eq!(positions, ["item 2 (line 10)", "item 3 (line 16)"]);
    let mut ids: Vec<String> = env.list_json().iter().map(|a| text(&a["id"])).collect();
    ids.sort();
    assert_eq!(ids, ["wire-1", "wire-4"]);
}

#[test]
fn a_file_of_no_known_format_is_refused_naming_it() {
    let env = TestEnv::new();
    for (name, bytes) in [
        ("notes.txt", &b"Just some notes, not a feed.\n"[..]),
        (
            "page.html",
            b"<!doctype html><html><body><p>Hi</p></body></html>",
        ),
    ] {
        let path = env.write_bytes(name, bytes).display().to_string();
        let message = assert_refused(&env, &["import", &path], None, &[&path]);
        assert!(
            message.contains("is not a Blogger or WordPress export"),
            "{message}"
        );
        assert!(!env.db_path().exists());
    }
}

#[test]
fn format_overrides_what_the_content_says() {
    let env = TestEnv::new();
    let source = fixture("wordpress-1.0.xml");
    let message = assert_refused(
        &env,
        &["import", "--format", "blogger", &source],
        None,
        &[&source],
    );
    assert!(message.contains("not a Blogger export"), "{message}");
    assert!(!env.db_path().exists());
    // Read as a plain RSS feed, the export's posts keep their guids and RSS dates.
    import(&env, &["--format", "feed", &source]);
    let buses = listed(&env, "http://oldpaper.example.net/?p=7");
    assert_eq!(buses["published"], "2008-03-03T02:15:00Z");
}

// Import by URL -----------------------------------------------------------------------------

#[test]
fn import_by_url_round_trips_ids_titles_dates_and_tags() {
    let (origin, authority, _server) = served_origin();
    let key = |a: &Value| {
        let published =
            chrono::DateTime::parse_from_rfc3339(&text(&a["published"])).expect("RFC 3339");
        let tags = a["tags"].clone();
        (
            text(&a["id"]),
            text(&a["title"]),
            published.timestamp(),
            tags,
        )
    };
    let mut want: Vec<_> = origin.list_json().iter().map(key).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let want_ids: Vec<String> = want.iter().map(|w| w.0.clone()).collect();

    // Atom and RSS link to their archives (RFC 5005); the JSON Feed links to none.
    for feed in ["atom.xml", "rss.xml"] {
        let copy = TestEnv::new();
        let url = format!("http://{authority}/{feed}");
        let run = run_offline(&copy, &["import", &url]);
        assert_eq!(run.code, 0, "{feed}: {}{}", run.stdout, run.stderr);
        // Two entries per feed document: the rest come from the archives it links to.
        assert!(
            run.stdout
                .contains("imported 4 articles, updated 0, unchanged 0, skipped"),
            "{feed}: {}",
            run.stdout
        );
        let mut got: Vec<_> = copy.list_json().iter().map(key).collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, want, "{feed}");

        let before = copy.snapshot();
        let again = run_offline(&copy, &["import", &url]);
        assert!(
            again
                .stdout
                .contains("imported 0 articles, updated 0, unchanged 4"),
            "{feed}: {}{}",
            again.stdout,
            again.stderr
        );
        assert_eq!(
            copy.snapshot(),
            before,
            "{feed}: importing again changed the copy"
        );

        let copy_server = copy.serve();
        let mut atom_ids = feed_ids(&copy_server).remove("/atom.xml").expect("atom");
        atom_ids.sort();
        assert_eq!(atom_ids, want_ids, "{feed}");
    }
}

/// RFC 5005 archives repeat entries of the feed (and of each other): one history holds each
/// entry once, however many of its documents carry it.
#[test]
fn import_by_url_does_not_report_archive_overlap_as_skipped() {
    let (_origin, authority, _server) = served_origin();
    let copy = TestEnv::new();
    let url = format!("http://{authority}/atom.xml");
    let run = run_offline(&copy, &["import", "--json", &url]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(report["imported"], 4);
    assert_eq!(report["skipped"], json!([]), "{report:#}");
}

// Helpers -----------------------------------------------------------------------------------

/// A site served on a free loopback port, whose own URLs name that port (so every history
/// link an import follows stays on loopback), with four articles in four months and two
/// entries per feed document: its feeds link to archives.
///
/// The origin listens on a loopback address of its own (127.0.13.N): the port found free there
/// cannot be taken by another test's listener before the server binds it, as other tests
/// listen on 127.0.0.1.
fn served_origin() -> (TestEnv, String, Server) {
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);
    let ip = format!(
        "127.0.13.{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let authority = free_address(&ip);
    let mut origin = TestEnv::new();
    origin.base = format!("http://{authority}/");
    origin.write_config(&origin.config_text(&[("feeds", "items = 2")]));
    let stories = "\
        Harbour dredging begins|dredging|2025-06-03T09:00:00+02:00|Harbour
        Ferry fares rise|ferry-fares|2025-07-14T18:30:00-04:00|Transport
        Storm warning lifted|storm-lifted|2025-08-22T06:15:00+09:00|Weather
        Night market opens|night-market|2025-09-01T20:00:00Z|Harbour";
    for story in stories.lines() {
        let [title, slug, published, tag] = story.trim().split('|').collect::<Vec<_>>()[..] else {
            panic!("{story}");
        };
        let text = format!(
            "+++\ntitle = \"{title}\"\nslug = \"{slug}\"\npublished = \"{published}\"\n\
             tags = [\"{tag}\"]\n+++\n\n<p>Body of {slug}.</p>\n"
        );
        origin.add(&[&origin.write_article(&format!("{slug}.md"), &text)]);
    }
    let server = origin.serve_with(&["--listen", &authority], &[]);
    assert_eq!(server.addr, authority);
    (origin, authority, server)
}

/// Both Blogger exports.
const BLOGGER: &str = "blogger-classic.xml blogger-2018.xml";

/// A fresh site with the named fixtures imported (the import must succeed), and the run.
#[track_caller]
fn imported(names: &str) -> (TestEnv, Run) {
    let env = TestEnv::new();
    let paths = fixtures(names);
    let run = import(&env, &paths.iter().map(String::as_str).collect::<Vec<_>>());
    (env, run)
}

/// The absolute paths of fixtures, named in one space-separated list.
fn fixtures(names: &str) -> Vec<String> {
    names.split_whitespace().map(fixture).collect()
}

/// The entry ids `list --json` shows, sorted.
fn listed_ids(env: &TestEnv) -> Vec<String> {
    let mut ids: Vec<String> = env.list_json().iter().map(|a| text(&a["id"])).collect();
    ids.sort();
    ids
}

/// The absolute path of a fixture under `tests/fixtures/import/`.
fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/import", name]
        .iter()
        .collect();
    path.display().to_string()
}

/// A copy of a fixture inside `env` with one piece of text replaced; returns its path.
fn copy_fixture(env: &TestEnv, name: &str, (from, to): (&str, &str)) -> String {
    let original = std::fs::read_to_string(fixture(name)).expect("read fixture");
    assert!(original.contains(from), "{name} lacks {from:?}");
    let path = env.write_article(name, &original.replacen(from, to, 1));
    path.display().to_string()
}

/// Panics unless the text report's last line starts with `totals` (after the dry-run words).
#[track_caller]
fn assert_totals(run: &Run, totals: &str) {
    let last = run.stdout.lines().last().unwrap_or_default();
    let last = last.trim_start_matches("dry run, nothing written: ");
    assert!(last.starts_with(totals), "{}", run.stdout);
}

/// The lines of a text report that start with `word`.
fn report_lines<'a>(run: &'a Run, word: &str) -> Vec<&'a str> {
    run.stdout.lines().filter(|l| l.starts_with(word)).collect()
}

/// `feedsvc import ARGS…`, which must succeed.
#[track_caller]
fn import(env: &TestEnv, args: &[&str]) -> Run {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    env.run(&all).success()
}

/// `feedsvc import --json ARGS…`, parsed.
#[track_caller]
fn import_json(env: &TestEnv, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = import(env, &all);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// The `list --json` entry with entry id `id`.
#[track_caller]
fn listed(env: &TestEnv, id: &str) -> Value {
    env.list_json()
        .into_iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("no article with id {id}"))
}

/// A JSON string's text (empty for anything else).
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// An absolute URL of the test site.
fn site(relative: &str) -> String {
    format!("{}{relative}", crate::support::BASE_URL)
}

/// Panics unless `GET old` answers 301 to `location`.
#[track_caller]
fn assert_moved(server: &Server, old: &str, location: &str) {
    let response = server.get(old, &[]);
    assert_eq!(response.status, 301, "GET {old}");
    assert_eq!(response.header("location"), Some(location), "GET {old}");
}

/// The entry ids of each site feed, as a reader sees them.
fn feed_ids(server: &Server) -> std::collections::BTreeMap<&'static str, Vec<String>> {
    ["/rss.xml", "/atom.xml", "/feed.json"]
        .into_iter()
        .map(|path| {
            let response = server.get(path, &[]);
            assert_eq!(response.status, 200, "GET {path}");
            let feed = parse_feed(&response.decoded_body());
            (path, feed.entries.into_iter().map(|e| e.id).collect())
        })
        .collect()
}

/// The Atom feed's ETag.
fn feed_etag(server: &Server) -> String {
    server
        .get("/atom.xml", &[])
        .expect_header("etag")
        .to_string()
}

/// A port free on 127.0.0.1 a moment ago.
/// `ip:port` with a port nobody listens on at `ip` now.
fn free_address(ip: &str) -> String {
    let listener = std::net::TcpListener::bind((ip, 0)).expect("bind a port");
    listener.local_addr().expect("local address").to_string()
}

/// Runs the binary with no proxy in its environment: a fetch goes straight to 127.0.0.1.
fn run_offline(env: &TestEnv, args: &[&str]) -> Run {
    // A clear environment: no proxy variable can send the request anywhere else.
    let mut command = std::process::Command::new(BIN);
    command
        .env_clear()
        .arg("--config")
        .arg(env.config_path())
        .args(args)
        .current_dir(env.path(""))
        .stdin(std::process::Stdio::null());
    let output = command.output().expect("run feedsvc");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_panic(&run.stderr);
    run
}
