//! Pathological bodies: nesting too deep for the HTML parser to handle in bounded time is
//! refused before it is parsed, naming the line; bodies at the limit and large bodies of
//! shallow structures are published; a stored body past the limit is rendered as text. Also
//! the URL-valued attributes hostile bodies use to smuggle `javascript:` and `data:` URLs.

use std::time::Duration;

use crate::support::{
    article, assert_clean_failure, html_start_tags, parse_feed, unescape_html, TestEnv,
};

/// `render::nesting::MAX_DEPTH`.
const LIMIT: usize = 64;

/// Refusals come before any HTML parsing; this only keeps a regression from hanging the suite
/// (a debug build took minutes on these bodies before the limit).
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A site holding one ordinary article, so a refusal has feeds and pages it could disturb.
fn site() -> TestEnv {
    let env = TestEnv::new();
    env.add_article(
        "Talks resume",
        "talks-resume",
        "2026-09-14T08:30:00Z",
        "Delegations met again.",
    );
    env
}

/// `body` (whose first line is line 2 of the body: the line after `+++` is empty) is refused
/// at `line` of the body, at depth `LIMIT + 1`, in one clean line, and nothing changes.
#[track_caller]
fn assert_too_deep(env: &TestEnv, name: &str, body: &str, line: usize) {
    let line = format!(
        "{name}.md: body: line {line}: nested {} levels deep",
        LIMIT + 1
    );
    assert_add_refused(env, name, body, &[&line, &format!("the limit is {LIMIT}")]);
}

/// Adding `body` as `{name}.md` fails with one line holding every fragment, prints no URL, and
/// changes nothing.
#[track_caller]
fn assert_add_refused(env: &TestEnv, name: &str, body: &str, fragments: &[&str]) {
    let path = env.write_article(
        &format!("{name}.md"),
        &article("Deep", name, "2026-09-15T08:30:00Z", body),
    );
    let file = path.display().to_string();
    let before = env.snapshot();
    let run = env.run_with_limit(&["add", &file], HANG_GUARD);
    assert_eq!(
        env.snapshot(),
        before,
        "{name}: the refusal changed the site"
    );
    assert_clean_failure(&run, name, fragments);
    assert_eq!(run.stdout, "", "{name}: a refused add printed URLs");
}

#[test]
fn deep_markdown_lists_are_refused_naming_their_line() {
    let env = site();
    let body = format!("Intro.\n\nMore.\n\n{}x\n", "- ".repeat(LIMIT + 1));
    assert_too_deep(&env, "lists", &body, 6);
    let indented: String = (0..=LIMIT)
        .map(|i| format!("{}- item {i}\n", "  ".repeat(i)))
        .collect();
    assert_too_deep(
        &env,
        "indented",
        &format!("Intro.\n\n{indented}"),
        LIMIT + 4,
    );
    // The attack that took over a minute: 100,000 nested items, 200 KB. (Without the text,
    // the line is a thematic break.)
    assert_too_deep(&env, "attack", &format!("{}x", "- ".repeat(100_000)), 2);
}

#[test]
fn an_edit_to_a_deep_body_is_refused_and_keeps_the_article() {
    let env = site();
    let path = env.write_article(
        "talks-resume.md",
        &article(
            "Talks resume",
            "talks-resume",
            "2026-09-14T08:30:00Z",
            &format!("Delegations met again.\n\n{}x\n", "> ".repeat(LIMIT + 1)),
        ),
    );
    let file = path.display().to_string();
    let before = env.snapshot();
    let run = env.run_with_limit(&["edit", "talks-resume", &file], HANG_GUARD);
    assert_eq!(env.snapshot(), before, "the refused edit changed the site");
    let line = format!(
        "talks-resume.md: body: line 4: nested {} levels deep",
        LIMIT + 1
    );
    assert_clean_failure(&run, "edit", &[&line, &format!("the limit is {LIMIT}")]);
}

#[test]
fn deep_block_quotes_are_refused_naming_their_line() {
    let env = site();
    let body = format!("Intro.\n\n{}x\n", "> ".repeat(LIMIT + 1));
    assert_too_deep(&env, "quotes", &body, 4);
    let growing: String = (1..=LIMIT + 1)
        .map(|i| format!("{} line {i}\n", ">".repeat(i)))
        .collect();
    assert_too_deep(&env, "growing", &growing, LIMIT + 2);
    assert_too_deep(&env, "attack", &">".repeat(100_000), 2);
}

#[test]
fn deep_raw_html_is_refused_naming_its_line() {
    let env = site();
    // Each with the levels one repetition opens.
    for (name, open, levels) in [
        ("lists", "<ul>", 1),
        ("divisions", "<div>", 1),
        ("tables", "<table><tr><td>", 3),
        // `</span>` cannot close across the `<div>`: the parser keeps both open.
        ("crossed", "<span><div></span>", 2),
    ] {
        let count = (LIMIT + 1).div_ceil(levels);
        let body = format!("Intro.\n\n<p>text</p>\n\n{}x\n", open.repeat(count));
        assert_too_deep(&env, name, &body, 6);
    }
    // Formatting elements are opened again in every later paragraph: fewer may be open at once.
    let body = format!("Intro.\n\n<p>{}</p>\n\nx\n", "<b><i>".repeat(9));
    assert_add_refused(
        &env,
        "formatting",
        &body,
        &[
            "formatting.md: body: line 4: 17 formatting elements",
            "the limit is 16",
        ],
    );
    // Elements of one HTML block, the deepest on its third line.
    let body = format!(
        "<div>\n{}\n{}\n</div>\n",
        "<div>".repeat(LIMIT / 2),
        "<div>".repeat(LIMIT / 2)
    );
    assert_too_deep(&env, "block", &body, 4);
    // Inline HTML inside Markdown structures adds to their depth.
    let body = format!("{}<span>x</span>\n", "> ".repeat(LIMIT));
    assert_too_deep(&env, "mixed", &body, 2);
    // The attack that took 6.6 s and was accepted: 55,000 nested lists, 220 KB.
    assert_too_deep(&env, "attack", &"<ul>".repeat(55_000), 2);
}

#[test]
fn nesting_at_the_limit_is_published() {
    let env = site();
    let bodies = [
        ("lists", format!("{}x\n", "- ".repeat(LIMIT))),
        ("quotes", format!("{}x\n", "> ".repeat(LIMIT))),
        (
            "divisions",
            format!("{}x{}\n", "<div>".repeat(LIMIT), "</div>".repeat(LIMIT)),
        ),
        (
            "formatting",
            format!("<p>{}</p>\n\nx\n", "<b><i>".repeat(8)),
        ),
        (
            "mixed",
            format!("{}<span>x</span>\n", "> ".repeat(LIMIT - 1)),
        ),
    ];
    // Each with markup the body must be rendered with, and how many times.
    let formatting = format!("<p>{}</i></b>", "<b><i>".repeat(8));
    let expected = [
        ("lists", "<ul>", LIMIT),
        ("quotes", "<blockquote>", LIMIT),
        ("divisions", "<div>", LIMIT),
        ("formatting", formatting.as_str(), 1),
        ("mixed", "<blockquote>", LIMIT - 1),
    ];
    for ((slug, body), (_, element, count)) in bodies.iter().zip(expected) {
        env.add_article("At the limit", slug, "2026-09-15T08:30:00Z", body);
        let html = env.show_json(slug)["body_html"]
            .as_str()
            .expect("a rendered body")
            .to_string();
        assert_eq!(html.matches(element).count(), count, "{slug}: {html}");
    }
}

#[test]
fn a_large_body_of_many_shallow_structures_is_published() {
    let env = site();
    let section = "## Section\n\nA *short* paragraph with a [link](https://example.org/).\n\n\
                   - one\n  - two\n    > quoted **text**\n\n<div><p>raw <b>html</b></p></div>\n\n";
    let body = section.repeat(150_000 / section.len());
    let path = env.write_article(
        "large.md",
        &article("Large", "large", "2026-09-15T08:30:00Z", &body),
    );
    let file = path.display().to_string();
    env.run_with_limit(&["add", &file], HANG_GUARD).success();
    let html = env.show_json("large")["body_html"].to_string();
    assert_eq!(
        html.matches("<blockquote>").count(),
        150_000 / section.len()
    );
}

/// Lines at the limit render to many times their size: such a body is refused before the
/// sanitizer parses megabytes of HTML it would refuse afterwards as too large for a feed.
#[test]
fn a_body_that_renders_far_past_the_item_limit_is_refused_before_sanitizing() {
    let env = site();
    let body = format!("{}x\n\n", ">".repeat(LIMIT)).repeat(1000);
    let path = env.write_article(
        "expanding.md",
        &article("Expanding", "expanding", "2026-09-15T08:30:00Z", &body),
    );
    let file = path.display().to_string();
    let before = env.snapshot();
    let run = env.run_with_limit(&["add", &file], HANG_GUARD);
    assert_eq!(env.snapshot(), before, "the refusal changed the site");
    assert_clean_failure(
        &run,
        "expanding",
        &[
            "expanding.md: body: renders to",
            "bytes of HTML before sanitizing",
        ],
    );
}

/// A body stored before the limit existed is rendered again when the site is rebuilt: as its
/// text, in bounded time, and the rest of the site is published as usual.
#[test]
fn a_stored_body_past_the_limit_is_rendered_as_text() {
    let env = site();
    let deep = "<ul>".repeat(55_000);
    {
        let db = rusqlite::Connection::open(env.db_path()).expect("open the database");
        db.execute(
            "UPDATE articles SET body_markdown = ?1 WHERE slug = 'talks-resume'",
            [&deep],
        )
        .expect("store a deep body");
        // As after an upgrade: the next command renders every body again.
        db.execute("DELETE FROM meta WHERE key = 'site_fingerprint'", [])
            .expect("forget the fingerprint");
    }
    let path = env.write_article(
        "next.md",
        &article("Next", "next", "2026-09-15T08:30:00Z", "Next body."),
    );
    let file = path.display().to_string();
    env.run_with_limit(&["add", &file], HANG_GUARD).success();
    let html = env.show_json("talks-resume")["body_html"]
        .as_str()
        .expect("a rendered body")
        .to_string();
    assert_eq!(
        html,
        format!("<pre>{}</pre>\n", "&lt;ul&gt;".repeat(55_000))
    );
}

/// Every attribute that takes a URL: none may keep a `javascript:` or `data:` URL, in the page
/// or in any feed.
#[test]
fn no_url_attribute_keeps_a_script_or_data_url() {
    let env = TestEnv::new();
    let vectors = [
        "<q cite=\"javascript:alert(1)\">quoted</q>",
        "<blockquote cite=\"data:text/html,<script>alert(1)</script>\">block</blockquote>",
        "<ins cite=\"javascript:alert(1)\">inserted</ins> <del cite=\"data:text/plain,x\">deleted</del>",
        "<a href=\"https://example.org/\" ping=\"javascript:alert(1)\">ping</a>",
        "<img src=\"https://example.org/i.png\" srcset=\"javascript:alert(1) 1x\" longdesc=\"data:x\" alt=\"i\">",
        "<video poster=\"javascript:alert(1)\" src=\"data:video/mp4,x\"></video>",
        "<form action=\"javascript:alert(1)\"><button formaction=\"data:x\">b</button></form>",
        "<table background=\"javascript:alert(1)\"><tr><td>cell</td></tr></table>",
        "<svg><a xlink:href=\"javascript:alert(1)\">svg</a></svg>",
        "<object data=\"javascript:alert(1)\"></object>",
        "<a href=\"java&#x09;script:alert(1)\">tab</a> <a href=\" data:text/html,x\">space</a>",
        "[md](javascript:alert(1)) ![img](data:image/png;base64,AAAA)",
    ];
    env.add_article(
        "Hostile attributes",
        "hostile",
        "2026-09-15T08:30:00Z",
        &vectors.join("\n\n"),
    );
    let server = env.serve();
    let page = server.get("/articles/hostile", &[]);
    assert_eq!(page.status, 200);
    let mut documents = vec![("page".to_string(), page.text())];
    for path in ["/atom.xml", "/rss.xml", "/feed.json"] {
        let feed = parse_feed(&server.get(path, &[]).decoded_body());
        for entry in feed.entries {
            let content = entry.content.and_then(|c| c.body);
            let summary = entry.summary.map(|s| s.content);
            documents.extend(
                content
                    .into_iter()
                    .chain(summary)
                    .map(|html| (path.to_string(), html)),
            );
        }
    }
    assert!(
        documents
            .iter()
            .filter(|(_, html)| html.contains("quoted") && html.contains("cell"))
            .count()
            >= 4,
        "the body is missing from the page or a feed"
    );
    for (source, html) in &documents {
        for tag in html_start_tags(html) {
            for (name, value) in &tag.attributes {
                let url: String = unescape_html(value)
                    .to_ascii_lowercase()
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect();
                assert!(
                    !url.contains("javascript:") && !url.contains("data:"),
                    "{source}: {name}={value:?} on <{}>",
                    tag.name
                );
            }
        }
    }
}
