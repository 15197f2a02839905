//! The command line: publishing, listing, editing, deleting, and every refusal.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::support::{article, assert_refused, fixtures_dir, Run, TestEnv};

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn parse_time(text: &serde_json::Value) -> DateTime<Utc> {
    let text = text.as_str().expect("a timestamp string");
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .to_utc()
}

// ---------------------------------------------------------------------------------------------
// add

#[test]
fn add_prints_the_article_url() {
    let env = TestEnv::new();
    let file = env.write_article(
        "talks.md",
        &article(
            "Talks resume in Geneva",
            "geneva-talks",
            "2026-09-14T08:30:00+02:00",
            "GENEVA — Talks resumed on Monday.",
        ),
    );
    let run = env.run(&["add", file.to_str().unwrap()]).success();
    assert_eq!(run.stdout, format!("{}articles/geneva-talks\n", env.base));
    let listed = env.list_json();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["title"], "Talks resume in Geneva");
}

#[test]
fn add_several_files_prints_one_url_each_in_order() {
    let env = TestEnv::new();
    let a = env.write_article("a.md", &article("First", "first", "2026-03-01", "One."));
    let b = env.write_article("b.md", &article("Second", "second", "2026-02-01", "Two."));
    let c = env.write_article("c.md", &article("Third", "third", "2026-04-01", "Three."));
    let out = env.add(&[&a, &b, &c]);
    assert_eq!(
        lines(&out),
        [
            env.article_url("first"),
            env.article_url("second"),
            env.article_url("third")
        ]
    );
    assert_eq!(env.list_json().len(), 3);
}

#[test]
fn add_reads_standard_input_for_dash() {
    let env = TestEnv::new();
    let text = article(
        "From a pipe",
        "from-a-pipe",
        "2026-05-05T05:05:05Z",
        "Piped body.",
    );
    let run = env.run_stdin(&["add", "-"], text.as_bytes()).success();
    assert_eq!(run.stdout.trim_end(), env.article_url("from-a-pipe"));
    let shown = env.show_json("from-a-pipe");
    assert_eq!(shown["title"], "From a pipe");
    assert_eq!(
        shown["body_markdown"].as_str().unwrap().trim(),
        "Piped body."
    );
}

#[test]
fn add_plain_text_with_flags() {
    let env = TestEnv::new();
    let file = fixtures_dir().join("no-front-matter.txt");
    let run = env
        .run(&[
            "add",
            "--title",
            "Imported from plain text",
            "--tag",
            "North Korea",
            "--tag",
            "Côte d'Ivoire",
            "--summary",
            "A plain file.",
            "--published",
            "2026-06-06T06:06:06+06:00",
            file.to_str().unwrap(),
        ])
        .success();
    assert_eq!(
        run.stdout.trim_end(),
        env.article_url("imported-from-plain-text")
    );
    let shown = env.show_json("imported-from-plain-text");
    assert_eq!(shown["title"], "Imported from plain text");
    assert_eq!(shown["summary"], "A plain file.");
    assert_eq!(
        shown["tags"],
        serde_json::json!(["North Korea", "Côte d'Ivoire"])
    );
    assert_eq!(shown["published"], "2026-06-06T06:06:06+06:00");
    let original = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        shown["body_markdown"],
        original.as_str(),
        "the body is kept exactly"
    );
    let html = shown["body_html"].as_str().unwrap();
    assert_eq!(html.matches("<p>").count(), 2, "two paragraphs: {html}");
}

#[test]
fn add_flags_override_front_matter() {
    let env = TestEnv::new();
    let file = env.write_article(
        "x.md",
        "+++\ntitle = \"Front matter title\"\nslug = \"kept-slug\"\npublished = \"2026-01-01\"\ntags = [\"Old\"]\n+++\nBody.\n",
    );
    env.run(&[
        "add",
        "--title",
        "Flag title",
        "--tag",
        "New",
        file.to_str().unwrap(),
    ])
    .success();
    let shown = env.show_json("kept-slug");
    assert_eq!(shown["title"], "Flag title");
    assert_eq!(shown["tags"], serde_json::json!(["New"]));
}

// ---------------------------------------------------------------------------------------------
// list and show

/// The sanitizer's HTML parser logs "foster parenting not implemented" for text or stray
/// elements inside a table. That says nothing a user can act on: `add` keeps it off the
/// terminal at the configured level, and `RUST_LOG=html5ever=warn` still shows it.
#[test]
fn add_keeps_the_html_parsers_warnings_off_the_terminal() {
    let env = TestEnv::new();
    let file = env.write_article(
        "table.md",
        &article(
            "Hostile tables",
            "hostile-tables",
            "2026-09-14",
            "<table><tr>text<td>x</td></tr></table>\n\n<table>text in a table</table>",
        ),
    );
    let run = env.run(&["add", file.to_str().unwrap()]).success();
    assert!(
        !run.stderr.contains("foster parenting"),
        "stderr: {}",
        run.stderr
    );
    assert_eq!(run.stderr, "", "add printed on stderr");

    let edited = env.write_article(
        "table2.md",
        &article(
            "Hostile tables",
            "hostile-tables",
            "2026-09-14",
            "<table>other text in a table</table>",
        ),
    );
    let output = std::process::Command::new(crate::support::BIN)
        .arg("--config")
        .arg(env.config_path())
        .args(["edit", "hostile-tables", edited.to_str().unwrap()])
        .env("RUST_LOG", "html5ever=warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run feedsvc");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "edit failed: {stderr}");
    assert!(
        stderr.contains("foster parenting"),
        "RUST_LOG=html5ever=warn shows no parser warning: {stderr:?}"
    );
}

#[test]
fn list_shows_date_slug_title_newest_first() {
    let env = TestEnv::new();
    let a = env.write_article(
        "a.md",
        &article("Middle one", "middle", "2026-05-10T12:00:00Z", "b"),
    );
    let b = env.write_article("b.md", &article("Oldest one", "oldest", "2026-02-01", "b"));
    // 23:30 at -05:00 is the next day in UTC; list shows the author's date.
    let c = env.write_article(
        "c.md",
        &article("Newest one", "newest", "2026-09-30T23:30:00-05:00", "b"),
    );
    env.add(&[&a, &b, &c]);
    let out = env.run(&["list"]).success().stdout;
    assert_eq!(
        lines(&out),
        [
            "2026-09-30  newest  Newest one",
            "2026-05-10  middle  Middle one",
            "2026-02-01  oldest  Oldest one",
        ]
    );

    let listed = env.list_json();
    let slugs: Vec<&str> = listed.iter().map(|v| v["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["newest", "middle", "oldest"]);
    assert_eq!(listed[0]["title"], "Newest one");
    assert_eq!(listed[0]["url"], env.article_url("newest"));
    assert_eq!(listed[0]["published"], "2026-09-30T23:30:00-05:00");
}

#[test]
fn list_of_an_empty_site() {
    let env = TestEnv::new();
    assert_eq!(env.run(&["list"]).success().stdout, "");
    assert_eq!(env.list_json(), Vec::<serde_json::Value>::new());
}

#[test]
fn show_prints_fields_and_body() {
    let env = TestEnv::new();
    let text = "+++\ntitle = \"Ceasefire holds\"\nslug = \"ceasefire\"\npublished = \"2026-07-01T09:00:00+03:00\"\nupdated = \"2026-07-02T10:00:00+03:00\"\nauthor = \"A. Reporter\"\nsummary = \"Day two.\"\ntags = [\"Middle East\", \"Diplomacy\"]\n+++\n\nThe ceasefire *held*.\n";
    let file = env.write_article("c.md", text);
    env.add(&[&file]);

    let shown = env.show_json("ceasefire");
    assert_eq!(shown["title"], "Ceasefire holds");
    assert_eq!(shown["url"], env.article_url("ceasefire"));
    assert_eq!(shown["published"], "2026-07-01T09:00:00+03:00");
    assert_eq!(shown["updated"], "2026-07-02T10:00:00+03:00");
    assert_eq!(
        shown["tags"],
        serde_json::json!(["Middle East", "Diplomacy"])
    );
    assert_eq!(shown["body_markdown"], "\nThe ceasefire *held*.\n");
    let id = shown["id"].as_str().unwrap();
    assert!(id.starts_with("tag:wire.test,2026-07-01:"), "entry id {id}");

    let plain = env.run(&["show", "ceasefire"]).success().stdout;
    let url = env.article_url("ceasefire");
    let expected = [
        "title:     Ceasefire holds",
        "slug:      ceasefire",
        &format!("url:       {url}"),
        &format!("id:        {id}"),
        "published: 2026-07-01T09:00:00+03:00",
        "updated:   2026-07-02T10:00:00+03:00",
        "author:    A. Reporter",
        "summary:   Day two.",
        "tags:      Middle East, Diplomacy",
        "body:      markdown",
        "",
        "",
        "The ceasefire *held*.",
    ];
    assert_eq!(lines(&plain), expected, "{plain}");
}

#[test]
fn show_of_an_unknown_slug_is_refused() {
    let env = TestEnv::new();
    env.add_article("Present", "present", "2026-01-01", "x");
    let run = env.run(&["show", "absent"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("absent"), "{}", run.stderr);
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// edit

#[test]
fn edit_title_and_slug_keeps_id_and_redirects() {
    let env = TestEnv::new();
    env.add_article(
        "Talks resume",
        "talks",
        "2026-09-14T08:30:00+02:00",
        "Body.",
    );
    let before = env.show_json("talks");
    // The server runs across the edit and has both addresses cached.
    let server = env.serve();
    assert_eq!(server.get("/articles/talks", &[]).status, 200);
    assert_eq!(server.get("/articles/talks-collapse", &[]).status, 404);
    let started = Utc::now() - chrono::Duration::seconds(1);

    let run = env
        .run(&[
            "edit",
            "talks",
            "--title",
            "Talks collapse",
            "--slug",
            "talks-collapse",
        ])
        .success();
    assert_eq!(run.stdout.trim_end(), env.article_url("talks-collapse"));

    let after = env.show_json("talks-collapse");
    assert_eq!(after["title"], "Talks collapse");
    assert_eq!(after["id"], before["id"], "the entry id never changes");
    assert_eq!(after["published"], "2026-09-14T08:30:00+02:00");
    assert!(
        parse_time(&after["updated"]) >= started,
        "updated moves to now: {after}"
    );
    assert!(parse_time(&after["updated"]) <= Utc::now());
    assert_eq!(after["body_markdown"], before["body_markdown"]);
    let slugs: Vec<String> = env
        .list_json()
        .iter()
        .map(|v| v["slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(slugs, ["talks-collapse"]);
    assert_ne!(env.run(&["show", "talks"]).code, 0);

    let old = server.get("/articles/talks", &[]);
    assert_eq!(old.status, 301);
    assert_eq!(
        old.expect_header("location"),
        env.article_url("talks-collapse")
    );
    let new = server.get("/articles/talks-collapse", &[]);
    assert_eq!(new.status, 200);
    assert!(new.text().contains("Talks collapse"));
}

#[test]
fn edit_title_only() {
    let env = TestEnv::new();
    env.add_article("Old headline", "story", "2026-03-03T03:03:03Z", "Body.");
    let before = env.show_json("story");
    env.run(&["edit", "story", "--title", "New headline"])
        .success();
    let after = env.show_json("story");
    assert_eq!(after["title"], "New headline");
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["url"], env.article_url("story"));
    assert_eq!(after["published"], "2026-03-03T03:03:03Z");
    assert_eq!(after["body_markdown"], before["body_markdown"]);
}

#[test]
fn edit_with_a_file_replaces_the_content() {
    let env = TestEnv::new();
    env.add_article(
        "Draft headline",
        "story",
        "2026-03-03T03:03:03Z",
        "First body.",
    );
    let file = env.write_article(
        "new.md",
        "+++\ntitle = \"Final headline\"\n+++\nSecond body.\n",
    );
    env.run(&["edit", "story", file.to_str().unwrap()])
        .success();
    let after = env.show_json("story");
    assert_eq!(after["title"], "Final headline");
    assert_eq!(after["body_markdown"], "Second body.\n");
    assert_eq!(after["published"], "2026-03-03T03:03:03Z");
}

#[test]
fn edit_that_changes_nothing_writes_nothing() {
    let env = TestEnv::new();
    env.add_article("Same", "same", "2026-04-04T04:04:04Z", "Body.");
    let before = env.snapshot();
    let run = env.run(&["edit", "same", "--title", "Same"]).success();
    assert_eq!(run.stdout.trim_end(), env.article_url("same"));
    assert_eq!(env.snapshot(), before, "a no-op edit changed the database");
}

#[test]
fn edit_of_an_unknown_slug_is_refused() {
    let env = TestEnv::new();
    env.add_article("Present", "present", "2026-01-01", "x");
    let before = env.snapshot();
    let run = env.run(&["edit", "absent", "--title", "x"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("absent"), "{}", run.stderr);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn edit_to_a_taken_slug_is_refused() {
    let env = TestEnv::new();
    env.add_article("One", "one", "2026-01-01", "x");
    env.add_article("Two", "two", "2026-01-02", "y");
    let before = env.snapshot();
    let run = env.run(&["edit", "two", "--slug", "one"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("one"), "{}", run.stderr);
    assert_eq!(env.snapshot(), before);
}

// ---------------------------------------------------------------------------------------------
// delete

#[test]
fn delete_removes_the_article_and_leaves_a_tombstone() {
    let env = TestEnv::new();
    env.add_article("Keep me", "keep", "2026-01-01", "x");
    env.add_article("Remove me", "remove", "2026-02-02", "y");
    let id = env.show_json("remove")["id"].as_str().unwrap().to_string();

    let run = env.run(&["delete", "remove"]).success();
    assert!(run.stdout.contains("remove"), "{}", run.stdout);
    let slugs: Vec<String> = env
        .list_json()
        .iter()
        .map(|v| v["slug"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(slugs, ["keep"]);

    let server = env.serve();
    assert_eq!(server.get("/articles/remove", &[]).status, 410);
    assert_eq!(server.get("/articles/keep", &[]).status, 200);
    let atom = server.get("/atom.xml", &[]).text();
    let tombstones = crate::support::start_tags(&atom, "at:deleted-entry");
    assert_eq!(tombstones.len(), 1, "{atom}");
    let refs = crate::support::attribute_values(tombstones[0], "ref");
    assert_eq!(refs, [id.as_str()]);
    assert!(
        atom.contains("xmlns:at=\"http://purl.org/atompub/tombstones/1.0\""),
        "{atom}"
    );
    let feed = crate::support::parse_feed(atom.as_bytes());
    assert!(feed.entries.iter().all(|e| e.id != id));
}

#[test]
fn delete_of_an_unknown_slug_is_refused() {
    let env = TestEnv::new();
    env.add_article("Present", "present", "2026-01-01", "x");
    let before = env.snapshot();
    let run = env.run(&["delete", "absent"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("absent"), "{}", run.stderr);
    assert_eq!(env.snapshot(), before);
}

// ---------------------------------------------------------------------------------------------
// refusals: exit non-zero, one line naming file, field and problem, database unchanged

/// A site holding one article, so that "unchanged" is about a real database.
fn seeded() -> TestEnv {
    let env = TestEnv::new();
    env.add_article(
        "Existing story",
        "existing",
        "2026-01-15T10:00:00Z",
        "Body.",
    );
    env
}

fn refuse_file(name: &str, bytes: &[u8], fragments: &[&str]) -> String {
    let env = seeded();
    let path = env.write_bytes(name, bytes);
    let mut all = vec![name];
    all.extend_from_slice(fragments);
    assert_refused(&env, &["add", path.to_str().unwrap()], None, &all)
}

#[test]
fn refuses_empty_input() {
    refuse_file("empty.md", b"", &["empty"]);
}

#[test]
fn refuses_empty_standard_input() {
    let env = seeded();
    assert_refused(&env, &["add", "-"], Some(b""), &["<stdin>", "empty"]);
}

#[test]
fn refuses_missing_title() {
    refuse_file(
        "no-title.md",
        b"+++\nslug = \"no-title\"\npublished = \"2026-01-01\"\n+++\nBody.\n",
        &["title", "missing"],
    );
}

#[test]
fn refuses_missing_title_on_plain_text_without_flag() {
    refuse_file("plain.txt", b"Just a body.\n", &["title", "missing"]);
}

#[test]
fn refuses_blank_title() {
    refuse_file(
        "blank-title.md",
        b"+++\ntitle = \"   \"\n+++\nBody.\n",
        &["title", "blank"],
    );
}

#[test]
fn refuses_unterminated_front_matter() {
    refuse_file(
        "unterminated.md",
        b"+++\ntitle = \"Never closed\"\n\nBody.\n",
        &["front matter", "+++"],
    );
}

#[test]
fn refuses_invalid_toml() {
    refuse_file(
        "bad-toml.md",
        b"+++\ntitle = \"x\nslug = \n+++\nBody.\n",
        &["front matter", "TOML"],
    );
}

#[test]
fn refuses_unknown_front_matter_key() {
    refuse_file(
        "unknown-key.md",
        b"+++\ntitle = \"x\"\ncolour = \"red\"\n+++\nBody.\n",
        &["colour"],
    );
}

#[test]
fn refuses_wrong_type() {
    refuse_file(
        "wrong-type.md",
        b"+++\ntitle = 5\n+++\nBody.\n",
        &["title", "string"],
    );
}

#[test]
fn refuses_impossible_date_with_exact_message() {
    let env = seeded();
    let path = env.write_article(
        "bad-date.md",
        "+++\ntitle = \"x\"\npublished = \"2025-13-45\"\n+++\nBody.\n",
    );
    let name = path.display().to_string();
    let message = assert_refused(&env, &["add", &name], None, &[]);
    let expected =
        format!("{name}: published: \"2025-13-45\" is not a date (use RFC 3339 or YYYY-MM-DD)");
    assert!(
        message == expected || message == format!("feedsvc: {expected}"),
        "message:  {message}\nexpected: {expected}"
    );
}

#[test]
fn refuses_non_utf8_bytes() {
    refuse_file(
        "latin1.md",
        b"+++\ntitle = \"Caf\xe9\"\n+++\nBody \xff\xfe.\n",
        &["UTF-8"],
    );
}

#[test]
fn refuses_nul_in_title() {
    refuse_file(
        "nul-title.md",
        b"+++\ntitle = \"a\\u0000b\"\n+++\nBody.\n",
        &["title", "control"],
    );
}

#[test]
fn refuses_control_character_in_title() {
    refuse_file(
        "escape-title.md",
        b"+++\ntitle = \"red \\u001b[31m alert\"\n+++\nBody.\n",
        &["title", "control"],
    );
}

#[test]
fn refuses_control_character_in_title_flag() {
    let env = seeded();
    let path = env.write_article("x.md", "Body.\n");
    assert_refused(
        &env,
        &["add", "--title", "bell\u{7}", path.to_str().unwrap()],
        None,
        &["x.md", "title", "control"],
    );
}

#[test]
fn refuses_dot_dot_slug() {
    refuse_file(
        "dots.md",
        b"+++\ntitle = \"x\"\nslug = \"../x\"\n+++\nBody.\n",
        &["slug", "../x"],
    );
}

#[test]
fn refuses_slash_in_slug() {
    refuse_file(
        "slash.md",
        b"+++\ntitle = \"x\"\nslug = \"a/b\"\n+++\nBody.\n",
        &["slug", "a/b"],
    );
}

#[test]
fn refuses_empty_body() {
    refuse_file(
        "no-body.md",
        b"+++\ntitle = \"Nothing to say\"\n+++\n\n   \n",
        &["body", "empty"],
    );
}

#[test]
fn refuses_a_taken_slug_and_points_at_edit() {
    refuse_file(
        "again.md",
        b"+++\ntitle = \"Another\"\nslug = \"existing\"\n+++\nBody.\n",
        &["slug", "existing", "feedsvc edit"],
    );
}

#[test]
fn refuses_the_same_slug_twice_in_one_call() {
    let env = seeded();
    let a = env.write_article("a.md", &article("A", "twin", "2026-02-01", "a"));
    let b = env.write_article("b.md", &article("B", "twin", "2026-02-02", "b"));
    assert_refused(
        &env,
        &["add", a.to_str().unwrap(), b.to_str().unwrap()],
        None,
        &["b.md", "twin"],
    );
}

#[test]
fn refuses_a_missing_file() {
    let env = seeded();
    let path = env.path("articles/not-there.md");
    assert_refused(
        &env,
        &["add", path.to_str().unwrap()],
        None,
        &["not-there.md"],
    );
}

#[test]
fn refuses_a_body_over_the_configured_limit() {
    let env = TestEnv::with_settings(&[("storage", "max_article_bytes = 200")]);
    env.add_article("Small", "small", "2026-01-01", "Fits.");
    let path = env.write_article(
        "big.md",
        &article("Big", "big", "2026-01-02", &"word ".repeat(100)),
    );
    assert_refused(
        &env,
        &["add", path.to_str().unwrap()],
        None,
        &["big.md", "body", "max_article_bytes"],
    );
}

/// README: "An article whose rendered body exceeds 500,000 bytes is refused at `add`." Each
/// `&` renders as `&amp;` inside `<p>…</p>\n`: N of them render to 5 N + 8 bytes.
#[test]
fn refuses_a_body_that_renders_to_more_than_500000_bytes() {
    let env = seeded();
    let body = |n: usize| "&".repeat(n);
    let over = env.write_article(
        "over.md",
        &article("Over", "over", "2026-02-01", &body(99_999)),
    );
    let message = assert_refused(
        &env,
        &["add", over.to_str().unwrap()],
        None,
        &[
            "over.md",
            "body",
            "renders to 500003 bytes of HTML",
            "500000",
        ],
    );
    assert!(message.contains("split the article"), "{message}");
    let at_limit = env.write_article(
        "at-limit.md",
        &article("At the limit", "at-limit", "2026-02-01", &body(99_998)),
    );
    env.add(&[&at_limit]);
    let html = env.show_json("at-limit")["body_html"]
        .as_str()
        .expect("a body")
        .len();
    assert_eq!(html, 499_998, "the rendered body");
    let server = env.serve();
    let feed = crate::support::parse_feed(&server.get("/atom.xml", &[]).body);
    assert_eq!(
        feed.entries[0].title.as_ref().unwrap().content,
        "At the limit"
    );
}

#[test]
fn refuses_all_files_when_one_is_bad() {
    let env = seeded();
    let good = env.write_article(
        "good.md",
        &article("Good one", "good-one", "2026-03-01", "ok"),
    );
    let bad = env.write_article(
        "bad.md",
        "+++\ntitle = \"Bad\"\npublished = \"soon\"\n+++\nx\n",
    );
    let third = env.write_article("third.md", &article("Third", "third", "2026-03-03", "ok"));
    assert_refused(
        &env,
        &[
            "add",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
            third.to_str().unwrap(),
        ],
        None,
        &["bad.md", "published"],
    );
    assert!(env.run(&["show", "good-one"]).code != 0);
}

#[test]
fn refuses_all_files_when_a_later_one_takes_a_stored_slug() {
    let env = seeded();
    let good = env.write_article(
        "good.md",
        &article("Good one", "good-one", "2026-03-01", "ok"),
    );
    let clash = env.write_article("clash.md", &article("Clash", "existing", "2026-03-02", "x"));
    assert_refused(
        &env,
        &["add", good.to_str().unwrap(), clash.to_str().unwrap()],
        None,
        &["clash.md", "existing"],
    );
}

// ---------------------------------------------------------------------------------------------
// configuration and help

#[test]
fn config_with_an_unknown_key_is_refused() {
    let env = TestEnv::new();
    env.write_config(&env.config_text(&[("site", "colour = \"red\"")]));
    let run = env.run(&["list"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("colour"), "{}", run.stderr);
    assert!(run.stderr.contains("config.toml"), "{}", run.stderr);
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
}

#[test]
fn config_with_a_bad_base_url_is_refused() {
    let env = TestEnv::new();
    for bad in ["not a url", "ftp://example.org/"] {
        let text = env.config_text(&[]).replace(
            &format!("base_url = \"{}\"", env.base),
            &format!("base_url = \"{bad}\""),
        );
        env.write_config(&text);
        let run = env.run(&["list"]);
        assert_ne!(run.code, 0, "{bad}");
        assert!(run.stderr.contains("base_url"), "{}", run.stderr);
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    }
}

#[test]
fn missing_config_file_is_refused() {
    let env = TestEnv::new();
    std::fs::remove_file(env.config_path()).unwrap();
    let run = env.run(&["list"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("config.toml"), "{}", run.stderr);
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let env = TestEnv::new();
    for sub in [
        "add", "import", "edit", "delete", "list", "show", "check", "serve",
    ] {
        let run = env.run(&[sub, "--help"]);
        assert_eq!(run.code, 0, "{sub} --help failed: {}", run.stderr);
        assert!(
            run.stdout.contains("Example"),
            "{sub} --help:\n{}",
            run.stdout
        );
    }
    let run = env.run(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Example"), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------------
// scheduling, concurrency, foreign databases

#[test]
fn scheduled_article_is_listed_but_not_published() {
    let env = TestEnv::new();
    env.add_article("Already out", "out", "2026-06-01T00:00:00Z", "x");
    let file = env.write_article(
        "future.md",
        &article(
            "From the future",
            "future",
            "2099-01-01T00:00:00Z",
            "Not yet.",
        ),
    );
    let run = env.run(&["add", file.to_str().unwrap()]).success();
    assert_eq!(
        run.stdout.lines().next(),
        Some(env.article_url("future").as_str())
    );
    assert!(
        run.stdout.contains("scheduled") || run.stderr.contains("scheduled"),
        "the publisher is told the article is scheduled: {run:?}"
    );

    let listing = env.run(&["list"]).success().stdout;
    let line = listing
        .lines()
        .find(|l| l.contains("future"))
        .unwrap_or_else(|| panic!("not listed:\n{listing}"));
    assert!(
        line.starts_with("2099-01-01  future  From the future"),
        "{line}"
    );
    assert!(line.contains("scheduled"), "{line}");
    assert_eq!(env.show_json("future")["scheduled"], true);

    let server = env.serve();
    for path in ["/atom.xml", "/rss.xml", "/feed.json", "/"] {
        let response = server.get(path, &[]);
        assert_eq!(response.status, 200, "{path}");
        let text = response.text();
        assert!(text.contains("Already out"), "{path}");
        assert!(!text.contains("From the future"), "{path}");
    }
    let feed = crate::support::parse_feed(&server.get("/atom.xml", &[]).body);
    let titles: Vec<String> = feed
        .entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect();
    assert_eq!(titles, ["Already out"]);
    assert_eq!(server.get("/articles/future", &[]).status, 404);
    // Nor in a sitemap or an archive: nothing tells a crawler it exists.
    let index = server.get("/sitemap.xml", &[]);
    assert_eq!(index.status, 200);
    assert!(index.text().contains("archive/2026-06/sitemap.xml"));
    assert!(!index.text().contains("2099"), "{}", index.text());
    for path in ["/archive/2099-01/sitemap.xml", "/archive/2099-01/atom.xml"] {
        assert_eq!(server.get(path, &[]).status, 404, "{path}");
    }
}

#[test]
fn concurrent_adds_all_land() {
    let _load = crate::support::heavy();
    let env = TestEnv::new();
    let mut children = Vec::new();
    for process in 0..6 {
        let mut paths = Vec::new();
        for n in 0..3 {
            let slug = format!("p{process}-n{n}");
            let published = format!("2026-0{}-1{}T12:00:00Z", process + 1, n);
            let path = env.write_article(
                &format!("{slug}.md"),
                &article(
                    &format!("Process {process} item {n}"),
                    &slug,
                    &published,
                    "x",
                ),
            );
            paths.push(path.display().to_string());
        }
        let mut args = vec!["add"];
        args.extend(paths.iter().map(String::as_str));
        children.push(env.spawn(&args));
    }
    let runs: Vec<_> = children.into_iter().map(TestEnv::finish).collect();
    for run in runs {
        assert_eq!(run.code, 0, "a concurrent add failed: {}", run.stderr);
        assert_eq!(run.stdout.lines().count(), 3);
    }
    let listed = env.list_json();
    assert_eq!(listed.len(), 18);
    for process in 0..6 {
        for n in 0..3 {
            let slug = format!("p{process}-n{n}");
            assert!(
                listed.iter().any(|v| v["slug"] == slug.as_str()),
                "{slug} missing"
            );
        }
    }
    let server = env.serve();
    let feed = crate::support::parse_feed(&server.get("/atom.xml", &[]).body);
    assert_eq!(
        feed.entries.len(),
        18,
        "every concurrent add reached the feed"
    );
}

/// Starts `n` `feedsvc add` processes at once, each with its own article, and waits for all.
fn racing_adds(env: &TestEnv, prefix: &str, month: u32, n: usize) -> Vec<Run> {
    let children: Vec<_> = (0..n)
        .map(|i| {
            let slug = format!("{prefix}-{i}");
            let published = format!("2026-{month:02}-{:02}", i + 1);
            let text = article(&format!("{prefix} {i}"), &slug, &published, "x");
            let path = env.write_article(&format!("{slug}.md"), &text);
            env.spawn(&["add", path.to_str().unwrap()])
        })
        .collect();
    children.into_iter().map(TestEnv::finish).collect()
}

#[test]
fn concurrent_adds_to_an_existing_database_all_land() {
    let _load = crate::support::heavy();
    let env = TestEnv::new();
    env.add_article("Seed", "seed", "2026-01-01T00:00:00Z", "x");
    for run in racing_adds(&env, "late", 2, 6) {
        assert_eq!(run.code, 0, "a concurrent add failed: {}", run.stderr);
    }
    assert_eq!(env.list_json().len(), 7);
}

#[test]
fn first_adds_racing_to_create_the_database_all_land() {
    let _load = crate::support::heavy();
    for round in 0..3 {
        let env = TestEnv::new();
        for run in racing_adds(&env, "first", 3, 6) {
            assert_eq!(
                run.code, 0,
                "round {round}: an add racing to create the database failed: {}",
                run.stderr
            );
        }
        assert_eq!(env.list_json().len(), 6, "round {round}");
    }
}

fn point_at_database(env: &TestEnv, db: &Path) {
    let text = env.config_text(&[]).replace(
        "database = \"data/feedsvc.db\"",
        &format!(
            "database = {}",
            crate::support::toml_string(&db.display().to_string())
        ),
    );
    env.write_config(&text);
}

fn foreign_database(env: &TestEnv) -> std::path::PathBuf {
    let db = env.path("data/crm.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO customers (name) VALUES ('Ada'), ('Grace');",
    )
    .unwrap();
    drop(conn);
    db
}

#[test]
fn foreign_database_is_refused_with_a_clear_error() {
    let env = TestEnv::new();
    let db = foreign_database(&env);
    point_at_database(&env, &db);
    let file = env.write_article("x.md", &article("X", "x", "2026-01-01", "x"));
    for args in [
        vec!["list"],
        vec!["add", file.to_str().unwrap()],
        vec!["serve"],
    ] {
        let run = env.run_with_limit(&args, std::time::Duration::from_secs(20));
        assert_ne!(run.code, 0, "{args:?}");
        assert!(run.stderr.contains("crm.db"), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("not a feedsvc database"),
            "{args:?}: {}",
            run.stderr
        );
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["customers"]);
}

#[test]
fn foreign_database_file_is_left_byte_for_byte_untouched() {
    let env = TestEnv::new();
    let db = foreign_database(&env);
    point_at_database(&env, &db);
    let before = std::fs::read(&db).unwrap();
    let file = env.write_article("x.md", &article("X", "x", "2026-01-01", "x"));
    assert_ne!(env.run(&["add", file.to_str().unwrap()]).code, 0);
    assert_ne!(env.run(&["list"]).code, 0);
    let after = std::fs::read(&db).unwrap();
    // Bytes 18 and 19 of the header are the journal mode versions (1 = rollback, 2 = WAL).
    assert_eq!(
        (after[18], after[19]),
        (before[18], before[19]),
        "the foreign database was switched to another journal mode"
    );
    assert!(after == before, "the foreign database file was modified");
}

#[test]
fn garbage_database_file_is_refused_with_a_clear_error() {
    let env = TestEnv::new();
    let db = env.path("data/garbage.db");
    let garbage: Vec<u8> = b"this is not sqlite at all; "
        .iter()
        .copied()
        .cycle()
        .take(8192)
        .collect();
    std::fs::write(&db, &garbage).unwrap();
    point_at_database(&env, &db);
    let file = env.write_article("x.md", &article("X", "x", "2026-01-01", "x"));
    for args in [
        vec!["list"],
        vec!["add", file.to_str().unwrap()],
        vec!["serve"],
    ] {
        let run = env.run_with_limit(&args, std::time::Duration::from_secs(20));
        assert_ne!(run.code, 0, "{args:?}");
        assert!(
            run.stderr.contains("garbage.db"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("not a"), "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the file was modified"
    );
}

/// `feedsvc import DIR`: every article in one transaction, the site rendered once, the WAL
/// folded back into the database; one bad file refuses the whole directory and writes nothing.
#[test]
fn import_loads_a_directory_in_one_step() {
    let env = TestEnv::new();
    let dir = env.path("archive");
    std::fs::create_dir_all(&dir).expect("a directory");
    for n in 0..30 {
        let text = article(
            &format!("Archived story {n}"),
            &format!("archived-{n}"),
            &format!("2025-{:02}-{:02}T08:00:00Z", 1 + n % 12, 1 + n),
            "From the old site.",
        );
        std::fs::write(dir.join(format!("story-{n:02}.md")), text).expect("an article");
    }
    let run = env.run(&["import", dir.to_str().unwrap()]).success();
    assert_eq!(
        run.stdout.trim_end(),
        format!(
            "imported 30 articles, updated 0, unchanged 0, skipped 0 ({})",
            dir.display()
        )
    );
    assert_eq!(env.list_json().len(), 30);
    let wal = env.db_path().with_extension("db-wal");
    let wal_bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(wal_bytes, 0, "the import left its WAL behind");

    let server = env.serve();
    let atom = server.get("/atom.xml", &[]).text();
    assert!(atom.contains(&env.article_url("archived-29")), "{atom}");
    let december = server.get("/archive/2025-12/atom.xml", &[]);
    assert_eq!(december.status, 200);
    assert!(december.text().contains("Archived story 11"));
    drop(server);

    let before = env.snapshot();
    std::fs::write(dir.join("story-99.md"), "+++\ntitle = 3\n+++\nbody\n").expect("a bad file");
    let refused = env.run(&["import", dir.to_str().unwrap()]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("story-99.md"), "{}", refused.stderr);
    assert!(refused.stderr.contains("title"), "{}", refused.stderr);
    assert_eq!(env.snapshot(), before, "a refused import wrote something");
}

/// Without a server, each `feedsvc add` is the first connection to the database and reads the
/// whole WAL before it can start; publishing folds the WAL back once it passes 8 MB, so it
/// stays short however many articles are added.
#[test]
fn publishing_without_a_server_keeps_the_wal_short() {
    let env = TestEnv::new();
    let paragraph = "A long dispatch from the field, with every detail the desk asked for. ";
    let body = paragraph.repeat(600); // ~42 KB: a publish writes about 1 MB
    let wal = env.db_path().with_extension("db-wal");
    let mut largest = 0;
    let mut folded = false;
    for n in 0..20 {
        let slug = format!("long-{n}");
        env.add_article(
            &format!("Long dispatch {n}"),
            &slug,
            &format!("2026-03-{:02}T08:00:00Z", n + 1),
            &body,
        );
        let size = std::fs::metadata(&wal)
            .expect("the database is in WAL mode")
            .len();
        folded |= size < largest;
        largest = largest.max(size);
    }
    // Each add folds the WAL before it exits once the file passes the threshold.
    let limit = 8 * 1024 * 1024;
    assert!(
        largest <= limit,
        "the WAL grew to {largest} bytes (limit {limit})"
    );
    assert!(folded, "the WAL never shrank (largest {largest} bytes)");
    assert_eq!(env.list_json().len(), 20);
    // `check` exits non-zero on any problem.
    env.run(&["check"]).success();
}
