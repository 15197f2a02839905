//! Feeds read back as a feed reader reads them: the fixture corpus through Atom, RSS and JSON
//! Feed, plus the few exact bytes that matter.

use chrono::{DateTime, Utc};
use feed_rs::model::{Entry, Feed};

use crate::support::{
    article, attribute_values, fixture_articles, parse_feed, start_tags, unescape_html, Server,
    TestEnv,
};

/// What the front matter of each fixture says, and so what every feed must show.
struct Fixture {
    slug: &'static str,
    title: &'static str,
    /// The front matter's `published`, as written.
    published: &'static str,
    tags: &'static [&'static str],
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        slug: "ampersand-title",
        title: "Q&A: <b> \"quotes\" & 'apostrophes'",
        published: "2026-01-05T10:00:00+01:00",
        tags: &["Diplomacy"],
    },
    Fixture {
        slug: "arabic-title",
        title: "استئناف المحادثات في جنيف",
        published: "2026-01-27T11:30:00+03:00",
        tags: &["Middle East", "Diplomacy"],
    },
    Fixture {
        slug: "cdata-end",
        title: "CDATA terminator ]]> in the body",
        published: "2026-02-22T08:00:00+01:00",
        tags: &[],
    },
    Fixture {
        slug: "cjk-title",
        title: "北京与首尔恢复对话",
        published: "2026-01-20T14:00:00+08:00",
        tags: &["China", "韩国"],
    },
    Fixture {
        slug: "control-chars",
        title: "Control characters",
        published: "2026-06-02T06:00:00+02:00",
        tags: &[],
    },
    Fixture {
        slug: "date-only",
        title: "Date-only publication date",
        // `published = "2026-02-14"` means midnight UTC.
        published: "2026-02-14T00:00:00Z",
        tags: &[],
    },
    Fixture {
        slug: "emoji",
        title: "Markets rally 📈 as talks succeed 🎉",
        published: "2026-02-03T16:45:00Z",
        tags: &["Trade"],
    },
    Fixture {
        slug: "footnotes-table",
        title: "Footnotes, tables, strikethrough and code",
        published: "2026-06-21T18:30:00+02:00",
        tags: &["Trade"],
    },
    Fixture {
        slug: "long-quote",
        title: "Mediator warns ceasefire talks face “narrow window”",
        published: "2026-08-11T05:45:00+09:00",
        tags: &["Diplomacy", "Asia"],
    },
    Fixture {
        slug: "negative-offset",
        title: "Hawaii offset −10:00, one second before midnight",
        published: "2026-07-04T23:59:59-10:00",
        tags: &[],
    },
    Fixture {
        slug: "relative-links",
        title: "Relative and absolute links",
        published: "2026-04-19T07:20:00+02:00",
        tags: &[],
    },
    Fixture {
        slug: "sanitizer",
        title: "Sanitizer attack vectors",
        published: "2026-05-17T13:00:00+02:00",
        tags: &[],
    },
    Fixture {
        slug: "tags-spaces-accents",
        title: "Tags with spaces and accents",
        published: "2026-03-08T12:00:00-03:00",
        tags: &["North Korea", "Côte d'Ivoire", "São Paulo", "Économie"],
    },
    Fixture {
        slug: "timezone-offset",
        title: "Nepal offset +05:45",
        published: "2026-03-29T01:30:00+05:45",
        tags: &["Asia"],
    },
    Fixture {
        slug: "typography",
        title: "“Peace is possible” — talks resume… 2026–2027",
        published: "2026-01-12T09:15:00+01:00",
        tags: &["Diplomacy", "Europe"],
    },
    Fixture {
        slug: "updated-later",
        title: "Updated two days after publication",
        published: "2026-04-10T09:00:00+02:00",
        tags: &["Europe"],
    },
    Fixture {
        slug: "utc-z",
        title: "UTC with Z suffix",
        published: "2026-05-01T00:00:00Z",
        tags: &[],
    },
];

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .to_utc()
}

/// The sentence of `control-chars.md`, and what the corpus makes of it: the same sentence with
/// control characters XML cannot carry (C0, DEL, C1, U+FFFE) inside. Bodies lose them.
const CONTROL_SENTENCE: &str = "Control characters are stripped.";
const CONTROL_INJECTED: &str =
    "Con\u{1}trol\u{8} char\u{b}acters\u{1b} are\u{7f} str\u{85}ipped.\u{c}\u{fffe}";

/// The whole corpus published in one call, and a server over it. The files are copied into the
/// site's `articles/`, with control characters injected into `control-chars.md` (the fixture
/// file itself holds none, so that editors and diffs show it).
fn corpus() -> (TestEnv, Server) {
    let env = TestEnv::new();
    let fixtures = fixture_articles();
    assert_eq!(
        fixtures.len(),
        FIXTURES.len(),
        "every fixture article is described in FIXTURES"
    );
    let files: Vec<std::path::PathBuf> = fixtures
        .iter()
        .map(|path| {
            let name = path.file_name().expect("a file name").to_string_lossy();
            let mut text = std::fs::read_to_string(path).expect("read a fixture");
            if name == "control-chars.md" {
                assert!(text.contains(CONTROL_SENTENCE), "{name} lost its sentence");
                text = text.replace(CONTROL_SENTENCE, CONTROL_INJECTED);
            }
            env.write_article(&name, &text)
        })
        .collect();
    let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let out = env.add(&refs);
    assert_eq!(out.lines().count(), FIXTURES.len(), "{out}");
    let server = env.serve();
    (env, server)
}

#[track_caller]
fn fetch(server: &Server, path: &str) -> (Vec<u8>, Feed) {
    let r = server.get(path, &[]);
    assert_eq!(r.status, 200, "{path}");
    let feed = parse_feed(&r.body);
    (r.body, feed)
}

fn title(entry: &Entry) -> &str {
    entry
        .title
        .as_ref()
        .map(|t| t.content.as_str())
        .unwrap_or_else(|| panic!("entry {} has no title", entry.id))
}

fn content(entry: &Entry) -> &str {
    entry
        .content
        .as_ref()
        .and_then(|c| c.body.as_deref())
        .unwrap_or_else(|| panic!("entry {} has no content", entry.id))
}

#[track_caller]
fn entry<'a>(feed: &'a Feed, base: &str, slug: &str) -> &'a Entry {
    let link = format!("{base}articles/{slug}");
    let found: Vec<&Entry> = feed
        .entries
        .iter()
        .filter(|e| e.links.iter().any(|l| l.href == link))
        .collect();
    assert_eq!(found.len(), 1, "entries linking to {link}");
    found[0]
}

/// Which kind of feed, for the fields that differ between formats.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Atom,
    Rss,
    Json,
}

/// Names a reader shows for an entry's categories: Atom labels, RSS and JSON terms.
fn category_names(kind: Kind, entry: &Entry) -> Vec<String> {
    entry
        .categories
        .iter()
        .map(|c| match kind {
            Kind::Atom => c.label.clone().unwrap_or_else(|| c.term.clone()),
            Kind::Rss | Kind::Json => c.term.clone(),
        })
        .collect()
}

#[track_caller]
fn check_corpus_feed(kind: Kind, feed: &Feed, base: &str) {
    assert_eq!(feed.entries.len(), FIXTURES.len(), "{kind:?}");
    for fixture in FIXTURES {
        let e = entry(feed, base, fixture.slug);
        assert_eq!(title(e), fixture.title, "{kind:?} {}", fixture.slug);
        assert_eq!(
            e.links[0].href,
            format!("{base}articles/{}", fixture.slug),
            "{kind:?} {}",
            fixture.slug
        );
        assert!(
            e.id.starts_with("tag:wire.test,2026-"),
            "{kind:?} id {}",
            e.id
        );
        assert!(e.id.ends_with(fixture.slug), "{kind:?} id {}", e.id);
        assert_eq!(
            e.published,
            Some(instant(fixture.published)),
            "{kind:?} {} published",
            fixture.slug
        );
        let mut names = category_names(kind, e);
        let mut expected: Vec<String> = fixture.tags.iter().map(|t| t.to_string()).collect();
        names.sort();
        expected.sort();
        assert_eq!(names, expected, "{kind:?} {} categories", fixture.slug);
        assert!(!content(e).is_empty(), "{kind:?} {}", fixture.slug);
    }
    // Newest first.
    let dates: Vec<DateTime<Utc>> = feed
        .entries
        .iter()
        .map(|e| e.published.expect("published"))
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted, "{kind:?} entries are newest first");
}

#[test]
fn corpus_reads_back_from_every_feed() {
    let (env, server) = corpus();
    let (_, atom) = fetch(&server, "/atom.xml");
    let (_, rss) = fetch(&server, "/rss.xml");
    let (_, json) = fetch(&server, "/feed.json");
    check_corpus_feed(Kind::Atom, &atom, &env.base);
    check_corpus_feed(Kind::Rss, &rss, &env.base);
    check_corpus_feed(Kind::Json, &json, &env.base);

    // One stable id per article: Atom id = RSS guid = JSON id = `show --json` id.
    for fixture in FIXTURES {
        let id = &entry(&atom, &env.base, fixture.slug).id;
        assert_eq!(&entry(&rss, &env.base, fixture.slug).id, id);
        assert_eq!(&entry(&json, &env.base, fixture.slug).id, id);
        assert_eq!(env.show_json(fixture.slug)["id"], id.as_str());
    }
    let mut ids: Vec<&str> = atom.entries.iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), FIXTURES.len(), "ids are unique");

    // Atom carries `updated` separately.
    let later = entry(&atom, &env.base, "updated-later");
    assert_eq!(later.updated, Some(instant("2026-04-12T18:15:00+02:00")));
    let later = entry(&json, &env.base, "updated-later");
    assert_eq!(later.updated, Some(instant("2026-04-12T18:15:00+02:00")));
}

#[test]
fn feed_metadata_and_self_links() {
    let (env, server) = corpus();
    let (_, atom) = fetch(&server, "/atom.xml");
    assert_eq!(atom.title.as_ref().unwrap().content, "Test Wire");
    assert!(
        atom.links
            .iter()
            .any(|l| l.href == format!("{}atom.xml", env.base) && l.rel.as_deref() == Some("self")),
        "{:?}",
        atom.links
    );
    let (_, json) = fetch(&server, "/feed.json");
    assert_eq!(json.title.as_ref().unwrap().content, "Test Wire");
    let (bytes, _) = fetch(&server, "/feed.json");
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(value["feed_url"], format!("{}feed.json", env.base));
    assert_eq!(value["home_page_url"], env.base.as_str());
}

#[test]
fn hostile_markup_never_reaches_a_feed() {
    let (env, server) = corpus();
    for path in ["/atom.xml", "/rss.xml", "/feed.json"] {
        let (_, feed) = fetch(&server, path);
        let html = content(entry(&feed, &env.base, "sanitizer"));
        assert!(html.contains("Safe text survives."), "{path}: {html}");
        for bad in [
            "<script",
            "onerror",
            "onload",
            "javascript:",
            "<iframe",
            "style=",
            "<svg",
        ] {
            assert!(
                !html.to_ascii_lowercase().contains(bad),
                "{path}: {bad} survived in {html}"
            );
        }
    }
    let page = server.get("/articles/sanitizer", &[]);
    assert_eq!(page.status, 200);
    let page = page.text();
    assert!(page.contains("Safe text survives."));
    for bad in ["<script>alert", "onerror", "javascript:alert", "<iframe"] {
        assert!(!page.contains(bad), "article page: {bad} survived");
    }
}

/// Control characters in a body are removed from every feed and the page; the text around
/// them is kept exactly.
#[test]
fn control_characters_are_stripped_from_bodies() {
    let (env, server) = corpus();
    let is_control = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    for path in ["/atom.xml", "/rss.xml", "/feed.json"] {
        let (bytes, feed) = fetch(&server, path);
        let text = String::from_utf8(bytes).expect("UTF-8");
        assert!(
            !text.contains(is_control) && !text.contains('\u{fffe}'),
            "{path} carries a control character"
        );
        let html = content(entry(&feed, &env.base, "control-chars"));
        assert_eq!(
            html.trim_end(),
            format!("<p>{CONTROL_SENTENCE}</p>"),
            "{path}"
        );
    }
    let page = server.get("/articles/control-chars", &[]);
    assert_eq!(page.status, 200);
    let page = page.text();
    assert!(page.contains(&format!("<p>{CONTROL_SENTENCE}</p>")));
    assert!(!page.contains(is_control) && !page.contains('\u{fffe}'));
    assert_eq!(
        env.show_json("control-chars")["body_markdown"]
            .as_str()
            .expect("a body")
            .trim(),
        CONTROL_SENTENCE,
        "the stored body lost the characters too"
    );
}

#[test]
fn links_in_feed_content_are_absolute() {
    let (env, server) = corpus();
    for path in ["/atom.xml", "/rss.xml", "/feed.json"] {
        let (_, feed) = fetch(&server, path);
        let html = content(entry(&feed, &env.base, "relative-links"));
        let mut urls = attribute_values(html, "href");
        urls.extend(attribute_values(html, "src"));
        assert_eq!(urls.len(), 4, "{path}: {html}");
        for url in &urls {
            assert!(
                url.starts_with("http://") || url.starts_with("https://"),
                "{path}: relative URL {url:?} in {html}"
            );
        }
        for expected in [
            format!("{}reports/2026", env.base),
            env.base.clone(),
            format!("{}articles/images/map.png", env.base),
            "https://example.org/".to_string(),
        ] {
            assert!(
                urls.contains(&expected),
                "{path}: no {expected} in {urls:?}"
            );
        }
    }
}

#[test]
fn cdata_terminators_round_trip() {
    let (env, server) = corpus();
    for path in ["/atom.xml", "/rss.xml", "/feed.json"] {
        let (_, feed) = fetch(&server, path);
        let e = entry(&feed, &env.base, "cdata-end");
        assert_eq!(title(e), "CDATA terminator ]]> in the body", "{path}");
        // RSS descriptions are HTML; Atom and JSON Feed summaries are plain text.
        let summary = e.summary.as_ref().map(|s| s.content.clone());
        let summary = if path == "/rss.xml" {
            summary.map(|s| unescape_html(&s))
        } else {
            summary
        };
        assert_eq!(
            summary.as_deref(),
            Some("Body contains ]]> and <![CDATA[ literally."),
            "{path}"
        );
        let text = unescape_html(content(e));
        for needle in [
            "must not end early at ]]> here.",
            "<code>]]></code>",
            "an opening marker <![CDATA[ without closing it.",
            "Two in a row: ]]>]]> and one more ]]>",
        ] {
            assert!(text.contains(needle), "{path}: {needle:?} not in {text}");
        }
        // The entry after it in the feed is intact (nothing was swallowed).
        assert_eq!(feed.entries.len(), FIXTURES.len(), "{path}");
    }
}

#[test]
fn text_is_escaped_exactly_once() {
    let (env, server) = corpus();
    for path in ["/atom.xml", "/rss.xml", "/feed.json"] {
        let (_, feed) = fetch(&server, path);
        let e = entry(&feed, &env.base, "ampersand-title");
        assert_eq!(title(e), "Q&A: <b> \"quotes\" & 'apostrophes'", "{path}");
        let body = content(e);
        assert!(
            !body.contains("&amp;amp;"),
            "{path}: double escaping in {body}"
        );
        assert!(
            unescape_html(body).contains("Q&A, AT&T, 1 < 2 > 0, \"double\" and 'single'"),
            "{path}: {body}"
        );
        let code = content(entry(&feed, &env.base, "footnotes-table"));
        assert!(
            code.contains("&lt;b&gt;not bold&lt;/b&gt; &amp; co"),
            "{path}: code block not escaped: {code}"
        );
        let typography = content(entry(&feed, &env.base, "typography"));
        assert!(
            typography.contains("“within days”") && typography.contains("2026–2027 period…"),
            "{path}: {typography}"
        );
    }
}

#[test]
fn rss_exact_bytes() {
    let (env, server) = corpus();
    let xml = server.get("/rss.xml", &[]).text();
    let self_link = format!("{}rss.xml", env.base);
    let links = start_tags(&xml, "atom:link");
    assert!(
        links
            .iter()
            .any(|tag| attribute_values(tag, "href") == [self_link.clone()]
                && attribute_values(tag, "rel") == ["self"]),
        "no atom:link rel=self to {self_link}: {links:?}"
    );
    assert!(xml.contains("xmlns:atom=\"http://www.w3.org/2005/Atom\""));
    let guids = start_tags(&xml, "guid");
    assert_eq!(guids.len(), FIXTURES.len());
    for guid in guids {
        assert_eq!(attribute_values(guid, "isPermaLink"), ["false"], "{guid}");
    }

    let pub_dates: Vec<&str> = xml
        .split("<pubDate>")
        .skip(1)
        .map(|rest| &rest[..rest.find("</pubDate>").expect("closed pubDate")])
        .collect();
    assert_eq!(pub_dates.len(), FIXTURES.len());
    for date in &pub_dates {
        assert_rfc822(date);
    }
    for fixture in FIXTURES {
        let item_start = xml
            .find(&format!(
                "<link>{}articles/{}</link>",
                env.base, fixture.slug
            ))
            .unwrap_or_else(|| panic!("no item for {}", fixture.slug));
        let rest = &xml[item_start..];
        let date = &rest[rest.find("<pubDate>").unwrap() + 9..rest.find("</pubDate>").unwrap()];
        let parsed = DateTime::parse_from_rfc2822(date)
            .unwrap_or_else(|e| panic!("{date}: {e}"))
            .to_utc();
        assert_eq!(
            parsed,
            instant(fixture.published),
            "{}: {date}",
            fixture.slug
        );
    }
}

/// `Sat, 04 Jul 2026 23:59:59 -1000`: weekday, 1–2 digit day, month name, 4-digit year, time,
/// numeric zone.
#[track_caller]
fn assert_rfc822(date: &str) {
    let parts: Vec<&str> = date.split(' ').collect();
    assert_eq!(parts.len(), 6, "{date}");
    assert!(
        ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"].contains(&parts[0]),
        "{date}"
    );
    assert!(
        (1..=2).contains(&parts[1].len()) && parts[1].chars().all(|c| c.is_ascii_digit()),
        "{date}"
    );
    assert!(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            .contains(&parts[2]),
        "{date}"
    );
    assert!(
        parts[3].len() == 4 && parts[3].chars().all(|c| c.is_ascii_digit()),
        "4-digit year: {date}"
    );
    let time: Vec<&str> = parts[4].split(':').collect();
    assert!(
        time.len() == 3 && time.iter().all(|t| t.len() == 2),
        "{date}"
    );
    assert!(
        parts[5].len() == 5
            && (parts[5].starts_with('+') || parts[5].starts_with('-'))
            && parts[5][1..].chars().all(|c| c.is_ascii_digit()),
        "{date}"
    );
    let parsed = DateTime::parse_from_rfc2822(date).unwrap_or_else(|e| panic!("{date}: {e}"));
    assert_eq!(
        parsed.format("%a,").to_string(),
        parts[0],
        "weekday matches the date: {date}"
    );
}

#[test]
fn tag_feeds_only_carry_their_tag() {
    let (env, server) = corpus();
    let (_, asia) = fetch(&server, "/tags/asia/atom.xml");
    let slugs: Vec<String> = asia
        .entries
        .iter()
        .map(|e| {
            e.links[0]
                .href
                .trim_start_matches(&format!("{}articles/", env.base))
                .to_string()
        })
        .collect();
    assert_eq!(slugs, ["long-quote", "timezone-offset"], "newest first");
    assert!(
        asia.links
            .iter()
            .any(|l| l.href == format!("{}tags/asia/atom.xml", env.base)
                && l.rel.as_deref() == Some("self")),
        "{:?}",
        asia.links
    );

    let (_, diplomacy) = fetch(&server, "/tags/diplomacy/rss.xml");
    let mut titles: Vec<&str> = diplomacy.entries.iter().map(title).collect();
    titles.sort();
    let mut expected: Vec<&str> = FIXTURES
        .iter()
        .filter(|f| f.tags.contains(&"Diplomacy"))
        .map(|f| f.title)
        .collect();
    expected.sort();
    assert_eq!(titles, expected);

    let (_, json) = fetch(&server, "/tags/economie/feed.json");
    assert_eq!(json.entries.len(), 1);
    assert_eq!(title(&json.entries[0]), "Tags with spaces and accents");

    // Tag URLs in RSS categories are ASCII slugs.
    let rss = server.get("/rss.xml", &[]).text();
    for domain in [
        "tags/north-korea/",
        "tags/cote-divoire/",
        "tags/sao-paulo/",
        "tags/economie/",
    ] {
        assert!(
            rss.contains(&format!("domain=\"{}{domain}\"", env.base)),
            "{domain}"
        );
        let page = server.get(&format!("/{domain}"), &[]);
        assert_eq!(page.status, 200, "{domain}");
    }
}

#[test]
fn feeds_hold_at_most_the_configured_number_of_items() {
    let env = TestEnv::with_settings(&[("feeds", "items = 5")]);
    let mut files = Vec::new();
    for n in 1..=8 {
        let slug = format!("day-{n}");
        files.push(env.write_article(
            &format!("{slug}.md"),
            &format!(
                "+++\ntitle = \"Day {n}\"\nslug = \"{slug}\"\npublished = \"2026-09-0{n}T12:00:00Z\"\ntags = [\"Daily\"]\n+++\nDay {n}.\n"
            ),
        ));
    }
    let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    env.add(&refs);
    let server = env.serve();
    for path in [
        "/atom.xml",
        "/rss.xml",
        "/feed.json",
        "/tags/daily/atom.xml",
        "/tags/daily/rss.xml",
        "/tags/daily/feed.json",
    ] {
        let (_, feed) = fetch(&server, path);
        let titles: Vec<&str> = feed.entries.iter().map(title).collect();
        assert_eq!(
            titles,
            ["Day 8", "Day 7", "Day 6", "Day 5", "Day 4"],
            "{path}"
        );
    }
}

#[test]
fn editing_title_and_slug_keeps_the_entry_id() {
    let (env, server) = corpus();
    let (_, atom) = fetch(&server, "/atom.xml");
    let (_, rss) = fetch(&server, "/rss.xml");
    let atom_id = entry(&atom, &env.base, "utc-z").id.clone();
    let rss_guid = entry(&rss, &env.base, "utc-z").id.clone();
    assert_eq!(atom_id, rss_guid);

    env.run(&[
        "edit",
        "utc-z",
        "--title",
        "UTC, renamed",
        "--slug",
        "utc-renamed",
    ])
    .success();

    let (_, atom) = fetch(&server, "/atom.xml");
    let (_, rss) = fetch(&server, "/rss.xml");
    let (_, json) = fetch(&server, "/feed.json");
    for (kind, feed) in [("atom", &atom), ("rss", &rss), ("json", &json)] {
        let e = entry(feed, &env.base, "utc-renamed");
        assert_eq!(title(e), "UTC, renamed", "{kind}");
        assert_eq!(e.id, atom_id, "{kind}: the id survived the edit");
        assert!(
            feed.entries
                .iter()
                .all(|e| !e.links.iter().any(|l| l.href == env.article_url("utc-z"))),
            "{kind}: the old URL is gone from the feed"
        );
        assert_eq!(feed.entries.len(), FIXTURES.len(), "{kind}");
    }
}

#[test]
fn a_new_article_is_in_the_very_next_atom_fetch() {
    let env = TestEnv::new();
    env.add_article("Seed", "seed", "2026-01-01T00:00:00Z", "x");
    let server = env.serve();
    let (_, first) = fetch(&server, "/atom.xml");
    assert_eq!(first.entries.len(), 1);
    for n in 0..10 {
        let slug = format!("fresh-{n}");
        let title_text = format!("Fresh “{n}” & <news>");
        let published = format!("2026-09-{:02}T08:00:00+02:00", 10 + n);
        let path = env.write_article(
            &format!("{slug}.md"),
            &article(&title_text, &slug, &published, "Just in."),
        );
        env.add(&[&path]);
        let (_, feed) = fetch(&server, "/atom.xml");
        let newest = &feed.entries[0];
        assert_eq!(title(newest), title_text, "round {n}");
        assert_eq!(newest.links[0].href, env.article_url(&slug), "round {n}");
        assert_eq!(feed.entries.len(), n + 2, "round {n}");
    }
}

/// The `href` of each `<link rel="…">` in an Atom document, by `rel`.
fn atom_link(atom: &str, rel: &str) -> Option<String> {
    start_tags(atom, "link")
        .into_iter()
        .find(|tag| attribute_values(tag, "rel") == [rel])
        .and_then(|tag| attribute_values(tag, "href").pop())
}

/// RFC 5005 archives are rendered when asked for: they hold their whole month, chain back
/// through `prev-archive`, carry tombstones, answer 304 to their validator, and change on the
/// very next request after a publish touches their month.
#[test]
fn monthly_archives_follow_every_publish() {
    let env = TestEnv::new();
    env.add_article("August one", "aug-one", "2026-08-03T09:00:00+02:00", "a");
    env.add_article("August two", "aug-two", "2026-08-20T09:00:00Z", "b");
    env.add_article("September one", "sep-one", "2026-09-02T09:00:00Z", "c");
    let server = env.serve();

    let site = server.get("/atom.xml", &[]).text();
    let september = format!("{}archive/2026-09/atom.xml", env.base);
    assert_eq!(atom_link(&site, "prev-archive"), Some(september.clone()));

    let archive = server.get("/archive/2026-09/atom.xml", &[]);
    assert_eq!(archive.status, 200);
    assert!(archive
        .expect_header("content-type")
        .starts_with("application/atom+xml"));
    let text = archive.text();
    assert!(text.contains("<fh:archive"), "{text}");
    assert_eq!(atom_link(&text, "self"), Some(september.clone()));
    assert_eq!(
        atom_link(&text, "current"),
        Some(format!("{}atom.xml", env.base))
    );
    assert_eq!(
        atom_link(&text, "prev-archive"),
        Some(format!("{}archive/2026-08/atom.xml", env.base))
    );
    assert_eq!(parse_feed(&archive.body).entries.len(), 1);
    let august = server.get("/archive/2026-08/rss.xml", &[]);
    assert_eq!(august.status, 200);
    assert_eq!(parse_feed(&august.body).entries.len(), 2);
    let august_etag = august.expect_header("etag").to_string();
    let etag = archive.expect_header("etag").to_string();
    let again = server.get("/archive/2026-09/atom.xml", &[("If-None-Match", &etag)]);
    assert_eq!(
        again.status, 304,
        "an unchanged archive keeps its validator"
    );

    env.add_article("September two", "sep-two", "2026-09-12T09:00:00Z", "d");
    let grown = server.get("/archive/2026-09/atom.xml", &[("If-None-Match", &etag)]);
    assert_eq!(
        grown.status, 200,
        "a publish in the month changes its archive"
    );
    let titles: Vec<String> = parse_feed(&grown.body)
        .entries
        .iter()
        .map(|e| title(e).to_string())
        .collect();
    assert_eq!(titles, ["September two", "September one"]);
    // The publish dropped every archive the server had rendered; August renders again to the
    // same bytes, so an aggregator holding its validator still gets a 304.
    let unchanged = server.get(
        "/archive/2026-08/rss.xml",
        &[("If-None-Match", &august_etag)],
    );
    assert_eq!(
        unchanged.status, 304,
        "a finished month keeps its validator"
    );

    env.run(&["delete", "aug-one"]).success();
    let august = server.get("/archive/2026-08/atom.xml", &[]).text();
    let tombstones = start_tags(&august, "at:deleted-entry");
    assert_eq!(tombstones.len(), 1, "{august}");
    assert_eq!(parse_feed(august.as_bytes()).entries.len(), 1);

    for missing in [
        "/archive/2026-07/atom.xml",
        "/archive/2026-13/atom.xml",
        "/archive/2026-09/feed.json",
        "/archive/2026-9/atom.xml",
    ] {
        assert_eq!(server.get(missing, &[]).status, 404, "{missing}");
    }
    let index = server.get("/sitemap.xml", &[]).text();
    for month in ["2026-08", "2026-09"] {
        assert!(
            index.contains(&format!(
                "<loc>{}archive/{month}/sitemap.xml</loc>",
                env.base
            )),
            "{index}"
        );
    }
    let urls = server.get("/archive/2026-09/sitemap.xml", &[]).text();
    assert!(urls.contains(&env.article_url("sep-two")), "{urls}");
}

/// Archives and sitemaps stored by an older feedsvc (which rendered them at publish time) must
/// not shadow the ones rendered on request: the next full rebuild drops them.
#[test]
fn a_rebuild_drops_archives_stored_by_older_versions() {
    let env = TestEnv::new();
    env.add_article("September one", "sep-one", "2026-09-02T09:00:00Z", "a");
    {
        let conn = rusqlite::Connection::open(env.db_path()).expect("open the database");
        for path in ["/archive/2026-09/atom.xml", "/sitemap.xml"] {
            conn.execute(
                "INSERT OR REPLACE INTO documents (path, status, content_type, location, etag, \
                 last_modified, generation, body) \
                 VALUES (?1, 200, 'application/xml', NULL, 'stale', 0, 999, x'7374616c65')",
                [path],
            )
            .expect("a stale stored copy");
        }
        // What the schema upgrade does: the next publish renders the whole site again.
        conn.execute("DELETE FROM meta WHERE key = 'site_fingerprint'", [])
            .expect("forget the fingerprint");
    }
    env.add_article("September two", "sep-two", "2026-09-12T09:00:00Z", "b");
    let conn = rusqlite::Connection::open(env.db_path()).expect("open the database");
    let stored: i64 = conn
        .query_row(
            "SELECT count(*) FROM documents WHERE path LIKE '/archive/%' OR path = '/sitemap.xml'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(stored, 0, "stored archive copies survived the rebuild");
    let server = env.serve();
    let archive = server.get("/archive/2026-09/atom.xml", &[]);
    assert_eq!(archive.status, 200);
    assert_eq!(parse_feed(&archive.body).entries.len(), 2);
    assert!(server
        .get("/sitemap.xml", &[])
        .text()
        .contains("<sitemapindex"));
}

/// The `href` of the `atom:link` with `rel` in an RSS channel.
fn rss_link(channel: &rss::Channel, rel: &str) -> Option<String> {
    channel
        .atom_ext()?
        .links()
        .iter()
        .find(|l| l.rel() == rel)
        .map(|l| l.href().to_string())
}

/// The site's RSS and Atom feeds link the archive of the newest article's month
/// (`prev-archive`, RFC 5005), in RSS through `atom:link` and to the RSS archive; each archive
/// links the months before and after it and the current feed, in its own format. Tag feeds have no
/// archives of their own, so they link none.
#[test]
fn site_feeds_link_the_archive_of_the_newest_month() {
    let env = TestEnv::new();
    let tagged = |title: &str, slug: &str, published: &str| {
        let text = format!(
            "+++\ntitle = \"{title}\"\nslug = \"{slug}\"\npublished = \"{published}\"\ntags = [\"Asia\"]\n+++\nBody.\n"
        );
        env.add(&[&env.write_article(&format!("{slug}.md"), &text)]);
    };
    tagged("July one", "jul-one", "2026-07-03T09:00:00Z");
    tagged("August one", "aug-one", "2026-08-03T09:00:00Z");
    let server = env.serve();
    let archive = |month: &str| format!("{}archive/{month}/", env.base);
    let rss = |path: &str| {
        let r = server.get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        rss::Channel::read_from(&r.body[..]).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let atom = |path: &str| {
        let r = server.get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        atom_link(&r.text(), "prev-archive")
    };
    assert_eq!(
        rss_link(&rss("/rss.xml"), "prev-archive"),
        Some(format!("{}rss.xml", archive("2026-08")))
    );
    assert_eq!(
        atom("/atom.xml"),
        Some(format!("{}atom.xml", archive("2026-08")))
    );
    let august = rss("/archive/2026-08/rss.xml");
    assert_eq!(
        rss_link(&august, "prev-archive"),
        Some(format!("{}rss.xml", archive("2026-07")))
    );
    assert_eq!(
        rss_link(&august, "current"),
        Some(format!("{}rss.xml", env.base))
    );
    assert_eq!(
        rss_link(&rss("/archive/2026-07/rss.xml"), "prev-archive"),
        None
    );
    // And the month after it (RFC 5005 §4), so the oldest archive is not left without links.
    assert_eq!(
        rss_link(&rss("/archive/2026-07/rss.xml"), "next-archive"),
        Some(format!("{}rss.xml", archive("2026-08")))
    );
    let july = server.get("/archive/2026-07/atom.xml", &[]).text();
    assert_eq!(
        atom_link(&july, "next-archive"),
        Some(format!("{}atom.xml", archive("2026-08")))
    );
    assert_eq!(
        rss_link(&august, "next-archive"),
        None,
        "nothing after August yet"
    );
    for path in ["/tags/asia/rss.xml", "/tags/asia/atom.xml"] {
        assert_eq!(atom(path), None, "{path}");
    }

    // A publish in a later month moves the site feeds' link.
    tagged("September one", "sep-one", "2026-09-03T09:00:00Z");
    assert_eq!(
        atom("/atom.xml"),
        Some(format!("{}atom.xml", archive("2026-09")))
    );
    assert_eq!(
        rss_link(&rss("/rss.xml"), "prev-archive"),
        Some(format!("{}rss.xml", archive("2026-09")))
    );
}

/// RSS `<ttl>` is `server.feed_max_age` in minutes (at least 1), in site and tag feeds.
#[test]
fn rss_ttl_follows_feed_max_age() {
    for (max_age, ttl) in [("600", "10"), ("90", "1"), ("30", "1")] {
        let env = TestEnv::with_settings(&[("server", &format!("feed_max_age = {max_age}"))]);
        let text = "+++\ntitle = \"Timed\"\nslug = \"timed\"\npublished = \"2026-03-01T10:00:00Z\"\ntags = [\"Asia\"]\n+++\nBody.\n";
        env.add(&[&env.write_article("timed.md", text)]);
        let server = env.serve();
        for path in ["/rss.xml", "/tags/asia/rss.xml"] {
            let r = server.get(path, &[]);
            assert_eq!(r.status, 200, "{path}");
            let channel = rss::Channel::read_from(&r.body[..]).expect("RSS");
            assert_eq!(
                channel.ttl(),
                Some(ttl),
                "{path} with feed_max_age = {max_age}"
            );
        }
    }
}

/// Feeds stay under 1,000,000 bytes: when the newest entries' full content would not fit, the
/// oldest entries lose their content first and keep their summary; the newest keep it.
#[test]
fn feeds_over_one_megabyte_drop_the_oldest_content_first() {
    let env = TestEnv::new();
    // Eight articles of about 240 KB of HTML each (under the 500,000-byte item limit): 1.9 MB
    // with full content.
    let files: Vec<std::path::PathBuf> = (1..=8)
        .map(|n| {
            let body = format!("Paragraph {n} of a long dispatch. ").repeat(7_000);
            let text = format!(
                "+++\ntitle = \"Long {n}\"\nslug = \"long-{n}\"\npublished = \"2026-05-0{n}T10:00:00Z\"\n\
                 summary = \"Dek {n}.\"\ntags = [\"Long reads\"]\n+++\n{body}\n"
            );
            env.write_article(&format!("long-{n}.md"), &text)
        })
        .collect();
    env.add(&files.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    let server = env.serve();
    for path in [
        "/atom.xml",
        "/rss.xml",
        "/feed.json",
        "/tags/long-reads/atom.xml",
        "/tags/long-reads/rss.xml",
        "/tags/long-reads/feed.json",
    ] {
        let (bytes, feed) = fetch(&server, path);
        assert!(bytes.len() <= 1_000_000, "{path} is {} bytes", bytes.len());
        assert!(bytes.len() > 700_000, "{path} dropped more than needed");
        let titles: Vec<&str> = feed.entries.iter().map(title).collect();
        assert_eq!(
            titles,
            ["Long 8", "Long 7", "Long 6", "Long 5", "Long 4", "Long 3", "Long 2", "Long 1"],
            "{path}: every entry stays"
        );
        let with_content: Vec<bool> = feed
            .entries
            .iter()
            .map(|e| {
                e.content
                    .as_ref()
                    .and_then(|c| c.body.as_deref())
                    .is_some_and(|b| b.contains("of a long dispatch"))
            })
            .collect();
        let kept = with_content.iter().take_while(|&&c| c).count();
        assert!(
            (2..8).contains(&kept),
            "{path}: {kept} entries keep their content"
        );
        assert!(
            with_content[kept..].iter().all(|&c| !c),
            "{path}: content dropped out of order: {with_content:?}"
        );
        for (n, e) in feed.entries.iter().enumerate() {
            let summary = e.summary.as_ref().map(|s| s.content.trim().to_string());
            assert_eq!(
                summary.as_deref(),
                Some(format!("Dek {}.", 8 - n).as_str()),
                "{path}: entry {n} keeps its summary"
            );
        }
    }
}
