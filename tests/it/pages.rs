//! The HTML a reader and a crawler rely on: structure, metadata, escaping, no script. Pages
//! are parsed as a browser parses them (html5ever, through scraper) and checked element by
//! element.

use scraper::{ElementRef, Html, Selector};

use crate::support::{article, fixtures_dir, Server, TestEnv};

/// What a browser navigating to a URL sends.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The page at `path`, which must answer 200 with HTML, parsed.
#[track_caller]
fn page(server: &Server, path: &str) -> Html {
    page_with(server, path, &[])
}

/// The page a browser navigating to `path` gets (for a feed: its browser view), parsed.
#[track_caller]
fn browser_page(server: &Server, path: &str) -> Html {
    page_with(server, path, &[("Accept", BROWSER_ACCEPT)])
}

#[track_caller]
fn page_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> Html {
    let r = server.get(path, headers);
    assert_eq!(r.status, 200, "{path}");
    assert_eq!(
        r.expect_header("content-type"),
        "text/html; charset=utf-8",
        "{path}"
    );
    Html::parse_document(&r.text())
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("selector {css}: {e}"))
}

/// Every element matching `css`.
fn all<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    doc.select(&selector(css)).collect()
}

/// The one element matching `css`.
#[track_caller]
fn one<'a>(doc: &'a Html, css: &str) -> ElementRef<'a> {
    let found = all(doc, css);
    assert_eq!(found.len(), 1, "elements matching {css}");
    found[0]
}

/// An attribute of the one element matching `css`.
#[track_caller]
fn attr(doc: &Html, css: &str, name: &str) -> String {
    one(doc, css)
        .value()
        .attr(name)
        .unwrap_or_else(|| panic!("{css} has no {name}"))
        .to_string()
}

/// The `content` of the one `<meta>` whose `key` attribute (`name` or `property`) is `value`.
#[track_caller]
fn meta(doc: &Html, key: &str, value: &str) -> String {
    attr(doc, &format!("meta[{key}=\"{value}\"]"), "content")
}

/// The page's feed autodiscovery links name the RSS, Atom and JSON feeds in `dir_url`.
#[track_caller]
fn assert_feed_links(doc: &Html, dir_url: &str) {
    for (kind, file) in [
        ("application/rss+xml", "rss.xml"),
        ("application/atom+xml", "atom.xml"),
        ("application/feed+json", "feed.json"),
    ] {
        let css = format!("link[rel=alternate][type=\"{kind}\"]");
        assert_eq!(attr(doc, &css, "href"), format!("{dir_url}{file}"));
    }
}

/// The text of an element as a reader sees it: its text nodes, white space folded.
fn text(element: ElementRef<'_>) -> String {
    element
        .text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of every element matching `css`.
fn texts(doc: &Html, css: &str) -> Vec<String> {
    all(doc, css).into_iter().map(text).collect()
}

/// The page's `<script>` elements, by `type`: only the JSON-LD block may be there.
fn script_types(doc: &Html) -> Vec<String> {
    all(doc, "script")
        .iter()
        .map(|s| s.value().attr("type").unwrap_or("").to_string())
        .collect()
}

fn json_ld(doc: &Html) -> serde_json::Value {
    let block = text(one(doc, "script[type=\"application/ld+json\"]"));
    serde_json::from_str(&block).expect("JSON-LD parses as JSON")
}

/// Nothing in `scope` that runs script or loads active content.
#[track_caller]
fn assert_inert(doc: &Html, scope: &str) {
    for element in all(doc, &format!("{scope} *")) {
        let name = element.value().name();
        assert!(
            !matches!(
                name,
                "script" | "iframe" | "svg" | "math" | "style" | "object" | "embed" | "form"
            ),
            "<{name}> in {scope}"
        );
        for (attribute, value) in element.value().attrs() {
            assert!(
                !attribute.starts_with("on") && attribute != "style",
                "{attribute}= on <{name}> in {scope}"
            );
            if matches!(attribute, "href" | "src" | "action" | "formaction") {
                let url = value.trim().to_ascii_lowercase();
                assert!(
                    !url.starts_with("javascript:") && !url.starts_with("data:"),
                    "{attribute}={value:?} on <{name}> in {scope}"
                );
            }
        }
    }
}

#[test]
fn article_page_has_what_readers_and_crawlers_need() {
    let env = TestEnv::new();
    let text_of = "+++\ntitle = \"Talks resume in Geneva\"\nslug = \"talks\"\npublished = \"2026-09-14T08:30:00+02:00\"\n\
                updated = \"2026-09-15T10:00:00+02:00\"\nauthor = \"A. Reporter\"\nsummary = \"Envoys met again.\"\n\
                tags = [\"North Korea\", \"Diplomacy\"]\n+++\n\
                **GENEVA** — Body.\n\n## Section\n\n> “A quote.”\n>\n> — A. Person, envoy\n";
    let path = env.write_article("talks.md", text_of);
    env.add(&[&path]);
    env.add_article(
        "Older piece",
        "older",
        "2026-09-01T08:00:00Z",
        "Older body.",
    );
    env.add_article(
        "Newer piece",
        "newer",
        "2026-09-20T08:00:00Z",
        "Newer body.",
    );
    let server = env.serve();
    let response = server.get("/articles/talks", &[]);
    assert!(response
        .expect_header("content-security-policy")
        .contains("default-src 'none'"));
    assert_eq!(response.expect_header("x-content-type-options"), "nosniff");
    assert!(response.header("etag").is_some() && response.header("last-modified").is_some());
    assert!(response.text().starts_with("<!DOCTYPE html>"));
    let doc = page(&server, "/articles/talks");
    let base = &env.base;
    let url = format!("{base}articles/talks");

    // <head>: language, charset, viewport, title, canonical URL, feed autodiscovery.
    assert_eq!(attr(&doc, "html", "lang"), "en");
    assert_eq!(attr(&doc, "meta[charset]", "charset"), "utf-8");
    assert!(meta(&doc, "name", "viewport").contains("width=device-width"));
    assert_eq!(
        text(one(&doc, "head > title")),
        "Talks resume in Geneva — Test Wire"
    );
    assert_eq!(meta(&doc, "name", "description"), "Envoys met again.");
    assert_eq!(attr(&doc, "link[rel=canonical]", "href"), url);
    for (kind, file) in [
        ("application/rss+xml", "rss.xml"),
        ("application/atom+xml", "atom.xml"),
        ("application/feed+json", "feed.json"),
    ] {
        let css = format!("link[rel=alternate][type=\"{kind}\"]");
        assert_eq!(attr(&doc, &css, "href"), format!("{base}{file}"), "{kind}");
    }

    // Open Graph and Twitter: what a link preview shows.
    for (key, name, value) in [
        ("property", "og:site_name", "Test Wire"),
        ("property", "og:title", "Talks resume in Geneva — Test Wire"),
        ("property", "og:description", "Envoys met again."),
        ("property", "og:url", url.as_str()),
        ("property", "og:type", "article"),
        ("property", "og:locale", "en"),
        (
            "property",
            "article:published_time",
            "2026-09-14T08:30:00+02:00",
        ),
        (
            "property",
            "article:modified_time",
            "2026-09-15T10:00:00+02:00",
        ),
        ("name", "twitter:card", "summary"),
        (
            "name",
            "twitter:title",
            "Talks resume in Geneva — Test Wire",
        ),
        ("name", "twitter:description", "Envoys met again."),
    ] {
        assert_eq!(meta(&doc, key, name), value, "{name}");
    }
    let article_tags: Vec<String> = all(&doc, "meta[property=\"article:tag\"]")
        .iter()
        .map(|m| m.value().attr("content").unwrap_or("").to_string())
        .collect();
    assert_eq!(article_tags, ["North Korea", "Diplomacy"]);

    // The story: headline, dek, byline with both times, body, tags.
    assert_eq!(
        text(one(&doc, "article.story h1")),
        "Talks resume in Geneva"
    );
    assert_eq!(text(one(&doc, "article.story .dek")), "Envoys met again.");
    assert_eq!(text(one(&doc, ".byline .author")), "A. Reporter");
    let times: Vec<(String, String)> = all(&doc, ".byline time")
        .iter()
        .map(|t| {
            (
                t.value().attr("datetime").unwrap_or("").to_string(),
                text(*t),
            )
        })
        .collect();
    assert_eq!(
        times,
        [
            (
                "2026-09-14T08:30:00+02:00".to_string(),
                "14 September 2026".to_string()
            ),
            (
                "2026-09-15T10:00:00+02:00".to_string(),
                "15 September 2026".to_string()
            ),
        ]
    );
    assert_eq!(texts(&doc, ".body strong"), ["GENEVA"]);
    assert_eq!(texts(&doc, ".body h2"), ["Section"]);
    assert_eq!(
        texts(&doc, ".body blockquote p"),
        ["“A quote.”", "— A. Person, envoy"]
    );
    let tags: Vec<(String, String)> = all(&doc, "ul.tags a[rel=tag]")
        .iter()
        .map(|a| (text(*a), a.value().attr("href").unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        tags,
        [
            (
                "North Korea".to_string(),
                format!("{base}tags/north-korea/")
            ),
            ("Diplomacy".to_string(), format!("{base}tags/diplomacy/")),
        ]
    );

    // Its neighbours, in publication order.
    assert_eq!(
        attr(&doc, "nav.pager a[rel=prev]", "href"),
        format!("{base}articles/older")
    );
    assert_eq!(
        text(one(&doc, "nav.pager a[rel=prev]")),
        "Previous Older piece"
    );
    assert_eq!(
        attr(&doc, "nav.pager a[rel=next]", "href"),
        format!("{base}articles/newer")
    );
    assert_eq!(text(one(&doc, "nav.pager a[rel=next]")), "Next Newer piece");
    let newest = page(&server, "/articles/newer");
    assert!(all(&newest, "nav.pager a[rel=next]").is_empty());

    // Subscribe links in the footer.
    let footer: Vec<String> = all(&doc, "footer.site-footer a")
        .iter()
        .map(|a| a.value().attr("href").unwrap_or("").to_string())
        .collect();
    assert_eq!(
        footer,
        [
            format!("{base}rss.xml"),
            format!("{base}atom.xml"),
            format!("{base}feed.json")
        ]
    );

    // JSON-LD: the only script, a NewsArticle with the article's values.
    assert_eq!(script_types(&doc), ["application/ld+json"]);
    let ld = json_ld(&doc);
    assert_eq!(ld["@type"], "NewsArticle");
    assert_eq!(ld["headline"], "Talks resume in Geneva");
    assert_eq!(ld["description"], "Envoys met again.");
    assert_eq!(ld["datePublished"], "2026-09-14T08:30:00+02:00");
    assert_eq!(ld["dateModified"], "2026-09-15T10:00:00+02:00");
    assert_eq!(ld["author"][0]["name"], "A. Reporter");
    assert_eq!(ld["url"], url.as_str());
    assert_eq!(
        ld["keywords"],
        serde_json::json!(["North Korea", "Diplomacy"])
    );
    assert_eq!(ld["identifier"], env.show_json("talks")["id"]);

    // The stylesheet: separate, small (README: under 8 KB), cached for a year.
    let css = attr(&doc, "link[rel=stylesheet]", "href");
    let css = server.get(&css, &[]);
    assert_eq!(css.status, 200);
    assert_eq!(css.expect_header("content-type"), "text/css; charset=utf-8");
    assert!(css.body.len() < 8 * 1024, "{} bytes of CSS", css.body.len());
    assert_eq!(
        css.expect_header("cache-control"),
        "max-age=31536000, immutable"
    );
}

#[test]
fn an_article_without_dek_or_update_shows_neither() {
    let env = TestEnv::new();
    env.add_article("Plain", "plain", "2026-03-01T10:00:00Z", "First words.");
    let server = env.serve();
    let doc = page(&server, "/articles/plain");
    assert!(all(&doc, ".dek").is_empty());
    assert_eq!(all(&doc, ".byline time").len(), 1, "no 'Updated' time");
    // No author in the front matter: the site's byline (site.author defaults to Staff).
    assert_eq!(text(one(&doc, ".byline .author")), "Staff");
    // No dek: the description is the body's first words.
    assert_eq!(meta(&doc, "name", "description"), "First words.");
    assert!(
        all(&doc, "nav.pager a").is_empty(),
        "a lone article has no neighbours"
    );
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
    let doc = page(&server, "/articles/hostile");
    assert_eq!(text(one(&doc, "article.story h1")), title);
    assert!(all(&doc, "h1 b").is_empty(), "markup from the title");
    assert_eq!(
        text(one(&doc, "head > title")),
        format!("{title} — Test Wire")
    );
    assert_eq!(
        meta(&doc, "property", "og:title"),
        format!("{title} — Test Wire")
    );
    assert_eq!(script_types(&doc), ["application/ld+json"]);
    assert_eq!(
        json_ld(&doc)["headline"],
        title,
        "the JSON-LD carries the exact title"
    );
    let index = page(&server, "/");
    assert_eq!(texts(&index, "ol.teasers h2 a"), [title]);
    assert!(
        all(&index, "ol.teasers b").is_empty(),
        "markup from the title"
    );
    assert!(script_types(&index).is_empty(), "a list page has no script");
    for feed in ["/atom.xml", "/rss.xml"] {
        let view = browser_page(&server, feed);
        assert_eq!(texts(&view, "ol.teasers h2 a"), [title], "{feed}");
        assert!(all(&view, "main b").is_empty(), "markup from the title");
        assert!(
            script_types(&view).is_empty(),
            "a feed's browser view has no script"
        );
    }
}

/// README, "Feeds": a browser at a feed's URL gets a page of the site, styled by its stylesheet:
/// what a feed is and the addresses to subscribe to, the feed's title and description, its
/// entries linked, dated for people, with byline, summary and tags; not for search engines.
#[test]
fn a_feed_opened_in_a_browser_is_a_page_that_explains_subscribing() {
    let env = TestEnv::new();
    env.add(&[&fixtures_dir().join("tags-spaces-accents.md")]);
    env.run_stdin(
        &["add", "-"],
        "+++\ntitle = \"Talks resume\"\nslug = \"talks\"\nsummary = \"Envoys met.\"\n\
         published = \"2026-09-14T08:30:00+02:00\"\nauthor = \"A. Reporter\"\n\
         tags = [\"North Korea\"]\n+++\nBody.\n"
            .as_bytes(),
    )
    .success();
    let server = env.serve();
    let base = &env.base;
    for file in ["atom.xml", "rss.xml"] {
        let path = format!("/tags/north-korea/{file}");
        let doc = browser_page(&server, &path);
        assert_eq!(attr(&doc, "html", "lang"), "en");
        assert_eq!(
            text(one(&doc, "head > title")),
            "Test Wire — North Korea (web feed)"
        );
        assert_eq!(meta(&doc, "name", "robots"), "noindex");
        assert_eq!(
            attr(&doc, "link[rel=canonical]", "href"),
            format!("{base}tags/north-korea/atom.xml")
        );
        let css = attr(&doc, "link[rel=stylesheet]", "href");
        assert_eq!(server.get(&css, &[]).status, 200, "{css}");
        assert_feed_links(&doc, &format!("{base}tags/north-korea/"));
        let note = text(one(&doc, "main .feed-note"));
        assert!(note.starts_with("This is a web feed."), "{note}");
        assert!(note.contains("feed reader"), "{note}");
        assert_eq!(
            texts(&doc, "main .feed-note code"),
            [
                format!("{base}tags/north-korea/atom.xml"),
                format!("{base}tags/north-korea/rss.xml")
            ]
        );
        assert_eq!(text(one(&doc, "main h1")), "Test Wire — North Korea");
        assert_eq!(
            text(one(&doc, "main .dek")),
            "Articles tagged “North Korea” on Test Wire"
        );
        // The feed's own page on the site.
        assert_eq!(texts(&doc, "main > p > a"), ["Read it on the website"]);
        assert_eq!(
            attr(&doc, "main > p > a", "href"),
            format!("{base}tags/north-korea/")
        );
        assert_eq!(
            texts(&doc, "ol.teasers h2 a"),
            ["Talks resume", "Tags with spaces and accents"]
        );
        assert_eq!(
            attr(&doc, "ol.teasers li:first-child h2 a", "href"),
            format!("{base}articles/talks")
        );
        // The date as the author wrote it, for people, with the machine form beside it.
        let first = "ol.teasers li:first-child";
        assert_eq!(
            text(one(&doc, &format!("{first} .meta"))),
            "14 September 2026 · A. Reporter"
        );
        assert_eq!(
            attr(&doc, &format!("{first} time"), "datetime"),
            "2026-09-14T08:30:00+02:00"
        );
        assert_eq!(text(one(&doc, &format!("{first} .summary"))), "Envoys met.");
        assert_eq!(texts(&doc, &format!("{first} ul.tags a")), ["North Korea"]);
        assert!(script_types(&doc).is_empty());
        assert_inert(&doc, "main");
    }
    // A month's archive is no feed to follow: its page offers the site's feed instead.
    let archive = browser_page(&server, "/archive/2026-09/rss.xml");
    assert_eq!(
        texts(&archive, "main .feed-note code"),
        [format!("{base}atom.xml")]
    );
    assert_eq!(texts(&archive, "ol.teasers h2 a"), ["Talks resume"]);
}

#[test]
fn sanitized_bodies_carry_no_script() {
    let env = TestEnv::new();
    env.add(&[&fixtures_dir().join("sanitizer.md")]);
    let server = env.serve();
    let doc = page(&server, "/articles/sanitizer");
    assert!(texts(&doc, ".body p")
        .iter()
        .any(|p| p.contains("Safe text survives.")));
    assert_eq!(script_types(&doc), ["application/ld+json"]);
    assert_inert(&doc, "main");
}

#[test]
fn tag_pages_link_the_tags_own_feeds_and_paginate() {
    let env = TestEnv::with_settings(&[("feeds", "page_size = 2")]);
    env.add(&[&fixtures_dir().join("tags-spaces-accents.md")]);
    for n in 1..=2 {
        let text = format!(
            "+++\ntitle = \"Korea story {n}\"\nslug = \"korea-{n}\"\npublished = \"2026-04-0{n}T10:00:00Z\"\n\
             tags = [\"North Korea\"]\n+++\nBody.\n"
        );
        env.add(&[&env.write_article(&format!("korea-{n}.md"), &text)]);
    }
    let server = env.serve();
    let base = &env.base;
    let doc = page(&server, "/tags/north-korea/");
    assert_eq!(
        attr(&doc, "link[rel=canonical]", "href"),
        format!("{base}tags/north-korea/")
    );
    assert_eq!(text(one(&doc, "h1.list-title")), "North Korea");
    assert_feed_links(&doc, &format!("{base}tags/north-korea/"));
    // Newest first, two a page; page 2 holds the rest and links back.
    assert_eq!(
        texts(&doc, "ol.teasers h2 a"),
        ["Korea story 2", "Korea story 1"]
    );
    assert_eq!(
        attr(&doc, "nav.pager a[rel=next]", "href"),
        format!("{base}tags/north-korea/page/2/")
    );
    let second = page(&server, "/tags/north-korea/page/2/");
    assert_eq!(
        texts(&second, "ol.teasers h2 a"),
        ["Tags with spaces and accents"]
    );
    assert_eq!(
        attr(&second, "link[rel=canonical]", "href"),
        format!("{base}tags/north-korea/page/2/")
    );
    assert_eq!(
        attr(&second, "nav.pager a[rel=prev]", "href"),
        format!("{base}tags/north-korea/")
    );
    assert!(all(&second, "nav.pager a[rel=next]").is_empty());
    assert_eq!(server.get("/tags/north-korea/page/3/", &[]).status, 404);
    // Each teaser links its tags; the other tags of the fixture have pages and feeds too.
    let teaser_tags = texts(&second, "ol.teasers ul.tags a");
    assert_eq!(
        teaser_tags,
        ["North Korea", "Côte d'Ivoire", "São Paulo", "Économie"]
    );
    assert_eq!(
        text(one(&page(&server, "/tags/cote-divoire/"), "h1.list-title")),
        "Côte d'Ivoire"
    );
    assert_eq!(server.get("/tags/sao-paulo/atom.xml", &[]).status, 200);
}

/// The titles listed on an index page, in order.
fn listed(server: &Server, path: &str) -> Vec<String> {
    texts(&page(server, path), "ol.teasers h2 a")
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
    let base = &env.base;
    let first = page(&server, "/");
    assert_eq!(texts(&first, "ol.teasers h2 a"), ["Story 5", "Story 4"]);
    assert_eq!(
        attr(&first, "ol.teasers li:first-child h2 a", "href"),
        format!("{base}articles/story-5")
    );
    assert!(all(&first, "nav.pager a[rel=prev]").is_empty());
    assert_eq!(
        attr(&first, "nav.pager a[rel=next]", "href"),
        format!("{base}page/2/")
    );
    let second = page(&server, "/page/2/");
    assert_eq!(texts(&second, "ol.teasers h2 a"), ["Story 3", "Story 2"]);
    assert_eq!(
        attr(&second, "nav.pager a[rel=prev]", "href"),
        base.as_str()
    );
    assert_eq!(
        attr(&second, "nav.pager a[rel=next]", "href"),
        format!("{base}page/3/")
    );
    let third = page(&server, "/page/3/");
    assert_eq!(texts(&third, "ol.teasers h2 a"), ["Story 1"]);
    assert!(all(&third, "nav.pager a[rel=next]").is_empty());
    assert_eq!(server.get("/page/4/", &[]).status, 404);
    // A new article shifts every page by one, at once.
    env.add_article("Story 6", "story-6", "2026-03-06T10:00:00Z", "Body.");
    assert_eq!(listed(&server, "/"), ["Story 6", "Story 5"]);
    assert_eq!(listed(&server, "/page/2/"), ["Story 4", "Story 3"]);
    assert_eq!(listed(&server, "/page/3/"), ["Story 2", "Story 1"]);
    assert_eq!(server.get("/page/4/", &[]).status, 404);
}

#[test]
fn not_found_is_a_friendly_html_page() {
    let env = TestEnv::new();
    env.add_article("Only story", "only", "2026-03-01T10:00:00Z", "Body.");
    let server = env.serve();
    let response = server.get("/no/such/page", &[]);
    assert_eq!(response.status, 404);
    assert_eq!(
        response.expect_header("content-type"),
        "text/html; charset=utf-8"
    );
    let doc = Html::parse_document(&response.text());
    assert_eq!(text(one(&doc, "main h1")), "Page not found");
    assert_eq!(attr(&doc, "header .site-title a", "href"), env.base);
    assert!(script_types(&doc).is_empty());
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
        .lines()
        .any(|l| l == format!("Sitemap: {}sitemap.xml", env.base)));
    let index = server.get("/sitemap.xml", &[]);
    assert_eq!(index.status, 200);
    let index = index.text();
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
    let september = server.get("/archive/2026-09/sitemap.xml", &[]);
    assert_eq!(september.status, 200);
    let september = september.text();
    assert!(september.contains(&format!("<loc>{}articles/september</loc>", env.base)));
    assert!(september.contains("<lastmod>2026-09-14T08:30:00+02:00</lastmod>"));
    assert!(!september.contains("october"));
}
