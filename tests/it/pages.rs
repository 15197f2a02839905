//! The HTML a reader and a crawler rely on: structure, metadata, escaping, no script.

use crate::support::{article, fixtures_dir, TestEnv};

/// The text between `start` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// Every `<script …>` opening tag in the page.
fn script_tags(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    lower
        .match_indices("<script")
        .map(|(i, _)| lower[i..i + lower[i..].find('>').unwrap_or(0) + 1].to_string())
        .collect()
}

fn json_ld(html: &str) -> serde_json::Value {
    let block = between(html, "<script type=\"application/ld+json\">", "</script>")
        .expect("a JSON-LD block");
    serde_json::from_str(block).expect("JSON-LD parses as JSON")
}

#[test]
fn article_page_has_what_readers_and_crawlers_need() {
    let env = TestEnv::new();
    let text = "+++\ntitle = \"Talks resume in Geneva\"\nslug = \"talks\"\npublished = \"2026-09-14T08:30:00+02:00\"\n\
                updated = \"2026-09-15T10:00:00+02:00\"\nsummary = \"Envoys met again.\"\ntags = [\"North Korea\", \"Diplomacy\"]\n+++\n\
                **GENEVA** — Body.\n\n## Section\n\n> “A quote.”\n>\n> — A. Person, envoy\n";
    let path = env.write_article("talks.md", text);
    env.add(&[&path]);
    env.add_article(
        "Older piece",
        "older",
        "2026-09-01T08:00:00Z",
        "Older body.",
    );
    let server = env.serve();
    let page = server.get("/articles/talks", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.expect_header("content-type"),
        "text/html; charset=utf-8"
    );
    assert!(page
        .expect_header("content-security-policy")
        .contains("default-src 'none'"));
    assert_eq!(page.expect_header("x-content-type-options"), "nosniff");
    assert!(page.header("etag").is_some() && page.header("last-modified").is_some());
    let html = page.text();
    let base = &env.base;
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(html.contains("name=\"viewport\""));
    assert!(html.contains(&format!(
        "<link rel=\"canonical\" href=\"{base}articles/talks\">"
    )));
    for (kind, file) in [
        ("application/rss+xml", "rss.xml"),
        ("application/atom+xml", "atom.xml"),
        ("application/feed+json", "feed.json"),
    ] {
        let link = format!("type=\"{kind}\"");
        let tag = html
            .lines()
            .find(|l| l.contains("rel=\"alternate\"") && l.contains(&link))
            .unwrap_or_else(|| panic!("autodiscovery link for {kind}"));
        assert!(tag.contains(&format!("href=\"{base}{file}\"")), "{tag}");
    }
    assert!(html.contains("property=\"og:title\""));
    assert!(html.contains("name=\"twitter:card\""));
    assert!(html.contains("<time datetime=\"2026-09-14T08:30:00+02:00\">"));
    assert!(html.contains("<time datetime=\"2026-09-15T10:00:00+02:00\">"));
    assert!(html.contains("<article"));
    assert!(html.contains("<h1>Talks resume in Geneva</h1>"));
    assert!(html.contains("<h2>Section</h2>"));
    assert!(html.contains("<blockquote>"));
    assert!(html.contains(&format!("href=\"{base}tags/north-korea/\"")));
    assert!(
        html.contains(&format!("href=\"{base}articles/older\"")),
        "link to the previous article"
    );
    let ld = json_ld(&html);
    assert_eq!(ld["@type"], "NewsArticle");
    assert_eq!(ld["headline"], "Talks resume in Geneva");
    assert_eq!(ld["datePublished"], "2026-09-14T08:30:00+02:00");
    assert_eq!(ld["dateModified"], "2026-09-15T10:00:00+02:00");
    assert_eq!(
        script_tags(&html),
        ["<script type=\"application/ld+json\">"]
    );
    // The stylesheet is a separate, small, long-cached resource.
    let css = between(&html, "<link rel=\"stylesheet\" href=\"", "\"").expect("stylesheet link");
    let css = server.get(css, &[]);
    assert_eq!(css.status, 200);
    assert!(css.body.len() < 10 * 1024);
    assert!(css.expect_header("cache-control").contains("immutable"));
}

#[test]
fn a_hostile_title_is_escaped_everywhere_on_the_page() {
    let env = TestEnv::new();
    let title = "</script><script>alert(1)</script> & \"Q\" <b>x</b>";
    env.run_stdin(
        &["add", "-"],
        article(title, "hostile", "2026-05-01T10:00:00Z", "Body.").as_bytes(),
    )
    .success();
    let server = env.serve();
    for path in ["/articles/hostile", "/"] {
        let html = server.get(path, &[]).text();
        assert!(
            !html.contains("<script>alert(1)"),
            "{path}: raw script from the title"
        );
        assert!(
            !html.contains("<b>x</b>"),
            "{path}: raw markup from the title"
        );
        assert!(
            script_tags(&html)
                .iter()
                .all(|t| t == "<script type=\"application/ld+json\">"),
            "{path}"
        );
    }
    let html = server.get("/articles/hostile", &[]).text();
    assert_eq!(
        json_ld(&html)["headline"],
        title,
        "the JSON-LD carries the exact title"
    );
}

#[test]
fn sanitized_bodies_carry_no_script() {
    let env = TestEnv::new();
    env.add(&[&fixtures_dir().join("sanitizer.md")]);
    let server = env.serve();
    let html = server.get("/articles/sanitizer", &[]).text();
    assert!(html.contains("Safe text survives."));
    assert_eq!(
        script_tags(&html),
        ["<script type=\"application/ld+json\">"]
    );
    for bad in [
        "onerror",
        "onload",
        "javascript:",
        "<iframe",
        "<svg",
        "style=\"",
    ] {
        assert!(!html.contains(bad), "{bad} reached the page");
    }
}

#[test]
fn tag_pages_link_the_tags_own_feeds() {
    let env = TestEnv::new();
    env.add(&[&fixtures_dir().join("tags-spaces-accents.md")]);
    let server = env.serve();
    let page = server.get("/tags/north-korea/", &[]);
    assert_eq!(page.status, 200);
    let html = page.text();
    let base = &env.base;
    assert!(html.contains(&format!(
        "<link rel=\"canonical\" href=\"{base}tags/north-korea/\">"
    )));
    for file in ["rss.xml", "atom.xml", "feed.json"] {
        assert!(
            html.contains(&format!("href=\"{base}tags/north-korea/{file}\"")),
            "{file}"
        );
    }
    assert!(html.contains("North Korea"));
    assert_eq!(server.get("/tags/cote-divoire/", &[]).status, 200);
    assert_eq!(server.get("/tags/sao-paulo/atom.xml", &[]).status, 200);
}

#[test]
fn index_pages_are_paginated_and_follow_publishing() {
    let env = TestEnv::with_settings(&[("feeds", "page_size = 2")]);
    for n in 1..=5 {
        env.add_article(
            &format!("Story {n}"),
            &format!("story-{n}"),
            &format!("2026-03-0{n}T10:00:00Z"),
            "Body.",
        );
    }
    let server = env.serve();
    let first = server.get("/", &[]).text();
    assert!(first.contains("Story 5") && first.contains("Story 4") && !first.contains("Story 3"));
    assert!(first.contains(&format!("href=\"{}page/2/\"", env.base)));
    let second = server.get("/page/2/", &[]).text();
    assert!(
        second.contains("Story 3") && second.contains("Story 2") && !second.contains("Story 4")
    );
    assert!(second.contains(&format!("href=\"{}page/3/\"", env.base)));
    let third = server.get("/page/3/", &[]).text();
    assert!(third.contains("Story 1") && !third.contains("page/4/"));
    assert_eq!(server.get("/page/4/", &[]).status, 404);
    // A new article shifts every page by one, at once.
    env.add_article("Story 6", "story-6", "2026-03-06T10:00:00Z", "Body.");
    let second = server.get("/page/2/", &[]).text();
    assert!(
        second.contains("Story 4") && second.contains("Story 3"),
        "page 2 after a publish"
    );
    assert_eq!(server.get("/page/4/", &[]).status, 404);
    assert!(server.get("/page/3/", &[]).text().contains("Story 2"));
}

#[test]
fn not_found_is_a_friendly_html_page() {
    let env = TestEnv::new();
    env.add_article("Only story", "only", "2026-03-01T10:00:00Z", "Body.");
    let server = env.serve();
    let page = server.get("/no/such/page", &[]);
    assert_eq!(page.status, 404);
    assert_eq!(
        page.expect_header("content-type"),
        "text/html; charset=utf-8"
    );
    let html = page.text();
    assert!(html.contains("<!DOCTYPE html>") && html.contains("Page not found"));
}

#[test]
fn sitemap_and_robots() {
    let env = TestEnv::new();
    env.add_article(
        "September story",
        "september",
        "2026-09-14T08:30:00+02:00",
        "Body.",
    );
    env.add_article(
        "October story",
        "october",
        "2026-10-02T11:00:00+09:00",
        "Body.",
    );
    let server = env.serve();
    let robots = server.get("/robots.txt", &[]);
    assert_eq!(robots.status, 200);
    assert!(robots
        .text()
        .contains(&format!("Sitemap: {}sitemap.xml", env.base)));
    let index = server.get("/sitemap.xml", &[]).text();
    assert!(index.contains("<sitemapindex"));
    for month in ["2026-09", "2026-10"] {
        assert!(
            index.contains(&format!(
                "<loc>{}archive/{month}/sitemap.xml</loc>",
                env.base
            )),
            "{index}"
        );
    }
    let september = server.get("/archive/2026-09/sitemap.xml", &[]).text();
    assert!(september.contains(&format!("<loc>{}articles/september</loc>", env.base)));
    assert!(september.contains("<lastmod>2026-09-14T08:30:00+02:00</lastmod>"));
    assert!(!september.contains("october"));
}
