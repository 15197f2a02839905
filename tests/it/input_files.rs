//! Input files as publishers have them: oversized files, odd front matter fences, directories
//! holding more than articles, tags that differ only in symbols, and very long tag lists.

use std::path::Path;
use std::time::Duration;

use crate::support::{article, assert_refused, parse_feed, toml_string, TestEnv};

/// `storage.max_article_bytes` of the sites that test sizes: small enough that a body at the
/// limit renders to well under what a feed item may carry.
const BODY_LIMIT: usize = 100_000;
/// What a file may hold besides its body (`FRONT_MATTER_ROOM_BYTES` in src/cli.rs).
const FRONT_MATTER_ROOM: usize = 64 * 1024;

fn sized_site() -> TestEnv {
    TestEnv::with_settings(&[("storage", &format!("max_article_bytes = {BODY_LIMIT}"))])
}

/// Front matter of exactly `bytes` bytes, fences included: a title and a TOML comment.
fn front_matter_of(bytes: usize) -> String {
    let head = "+++\ntitle = \"Sized\"\nslug = \"sized\"\npublished = \"2026-03-01\"\n# ";
    let tail = "\n+++\n";
    let room = bytes - head.len() - tail.len();
    format!("{head}{}{tail}", "c".repeat(room))
}

/// `n` bytes of Markdown, mostly two-byte characters, in lines of 79 bytes ending in `\n`.
fn body_of(n: usize) -> String {
    let line = format!("{}\n", "é".repeat(39));
    let mut body = line.repeat(n / line.len());
    let rest = n - body.len();
    if rest > 0 {
        body.push_str(&"é".repeat((rest - 1) / 2));
        if (rest - 1) % 2 == 1 {
            body.push('a');
        }
        body.push('\n');
    }
    assert_eq!(body.len(), n, "the body is exactly {n} bytes");
    body
}

/// A file the old reader cut short and stored: 720 KB of TOML comment, then a 432 KB body, on
/// a site with the default limit (1 MiB of body).
fn comment_heavy_file() -> Vec<u8> {
    let mut text = String::from("+++\ntitle = \"Long read\"\nslug = \"long-read\"\n");
    for _ in 0..9_000 {
        text.push_str(&format!("# {}\n", "x".repeat(78)));
    }
    text.push_str("+++\n");
    for n in 0..5_400 {
        text.push_str(&format!(
            "Paragraph {n:05} of the long read, {}.\n\n",
            "w".repeat(42)
        ));
    }
    text.push_str("THE END\n");
    text.into_bytes()
}

#[test]
fn an_oversized_file_is_refused_whole_never_stored_short() {
    let env = TestEnv::new();
    let bytes = comment_heavy_file();
    assert!(bytes.len() > 1_100_000, "{} bytes", bytes.len());
    let path = env.write_bytes("long-read.md", &bytes);
    let size_message = ["larger than 1114112 bytes", "storage.max_article_bytes"];
    let mut expected = vec!["long-read.md"];
    expected.extend(size_message);
    assert_refused(&env, &["add", path.to_str().unwrap()], None, &expected);

    let mut expected = vec!["<stdin>"];
    expected.extend(size_message);
    assert_refused(&env, &["add", "-"], Some(&bytes), &expected);

    let dir = env.path("archive");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("long-read.md"), &bytes).unwrap();
    std::fs::write(
        dir.join("short.md"),
        article("Short", "short", "2026-01-01", "Fits."),
    )
    .unwrap();
    let mut expected = vec!["archive/long-read.md"];
    expected.extend(size_message);
    assert_refused(&env, &["import", dir.to_str().unwrap()], None, &expected);
    assert!(env.list_json().is_empty(), "nothing was stored");
}

/// The old reader cut the file at its limit; a cut inside `é` made a valid UTF-8 file look
/// like one that is not.
#[test]
fn a_file_over_the_limit_is_told_so_even_when_the_limit_falls_inside_a_character() {
    let env = sized_site();
    let limit = BODY_LIMIT + FRONT_MATTER_ROOM;
    let front = front_matter_of(1_001);
    let text = format!("{front}{}", body_of(limit + 100 - front.len()));
    assert!(
        !text.is_char_boundary(limit),
        "byte {limit} falls inside a character"
    );
    let path = env.write_article("accented.md", &text);
    let message = assert_refused(
        &env,
        &["add", path.to_str().unwrap()],
        None,
        &[
            "accented.md",
            "input",
            "larger than",
            "storage.max_article_bytes",
        ],
    );
    assert!(!message.contains("UTF-8"), "{message}");
    let message = assert_refused(
        &env,
        &["add", "-"],
        Some(text.as_bytes()),
        &["<stdin>", "larger than"],
    );
    assert!(!message.contains("UTF-8"), "{message}");
}

/// A body of exactly `storage.max_article_bytes`, behind front matter that fills its room, is a
/// file of exactly the most a file may hold: stored whole, to the last byte. One byte more is
/// refused.
#[test]
fn a_body_at_the_limit_is_stored_whole() {
    let env = sized_site();
    let body = body_of(BODY_LIMIT);
    let text = format!("{}{body}", front_matter_of(FRONT_MATTER_ROOM));
    assert_eq!(text.len(), BODY_LIMIT + FRONT_MATTER_ROOM);
    let path = env.write_article("sized.md", &text);
    env.add(&[&path]);
    let shown = env.show_json("sized");
    assert_eq!(shown["body_markdown"].as_str(), Some(body.as_str()));
    let server = env.serve();
    let page = server.get("/articles/sized", &[]).text();
    let last_line = body.trim_end().lines().last().unwrap();
    assert!(page.contains(last_line), "the page ends as the body does");

    let over = format!("{}{body}b", front_matter_of(FRONT_MATTER_ROOM));
    let path = env.write_article("over.md", &over);
    assert_refused(
        &env,
        &["add", path.to_str().unwrap()],
        None,
        &["over.md", "larger than 165536 bytes"],
    );
}

#[test]
fn front_matter_fences_with_trailing_blanks_old_mac_line_endings_or_two_boms_are_read() {
    let env = TestEnv::new();
    for (name, text) in [
        (
            "spaces.md",
            "+++   \ntitle = \"Spaces after the fence\"\n+++\t \nBody one.\n".to_string(),
        ),
        (
            "mac.md",
            "+++\rtitle = \"Old Mac line endings\"\rtags = [\"Archive\"]\r+++\rBody two.\rMore.\r"
                .to_string(),
        ),
        (
            "boms.md",
            "\u{FEFF}\u{FEFF}+++\r\ntitle = \"Two byte order marks\"\r\n+++\r\nBody three.\r\n"
                .to_string(),
        ),
    ] {
        let path = env.write_article(name, &text);
        env.add(&[&path]);
    }
    let titles: Vec<String> = env
        .list_json()
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_string())
        .collect();
    for title in [
        "Spaces after the fence",
        "Old Mac line endings",
        "Two byte order marks",
    ] {
        assert!(titles.iter().any(|t| t == title), "{title}: {titles:?}");
    }
    let mac = env.show_json("old-mac-line-endings");
    assert_eq!(mac["tags"], serde_json::json!(["Archive"]));
    assert_eq!(mac["body_markdown"], "Body two.\rMore.\r");
    let boms = env.show_json("two-byte-order-marks");
    assert_eq!(boms["body_markdown"], "Body three.\r\n");
}

/// A directory of three good articles and, named like articles, entries that are none.
fn archive_with(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.path("archive");
    std::fs::create_dir_all(&dir).unwrap();
    for n in 1..=3 {
        let text = article(
            &format!("Story {n}"),
            &format!("story-{n}"),
            "2026-02-01",
            "Body.",
        );
        std::fs::write(dir.join(format!("story-{n}.md")), text).unwrap();
    }
    dir
}

fn symlink(target: &str, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// Each entry that cannot be read is named; nothing is imported, so that the same import can
/// run again once the archive is fixed.
#[test]
fn import_refuses_entries_it_cannot_read_and_names_each() {
    let env = TestEnv::new();
    let dir = archive_with(&env);
    symlink("gone.md", &dir.join("dangling.md"));
    symlink("loop-b.md", &dir.join("loop-a.md"));
    symlink("loop-a.md", &dir.join("loop-b.md"));
    let fifo = dir.join("pipe.md");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let args = ["import", dir.to_str().unwrap()];
    let run = env.run_with_limit(&args, Duration::from_secs(60));
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert_refused(
        &env,
        &args,
        None,
        &[
            "archive/dangling.md: is a symbolic link to a missing file (gone.md)",
            "archive/loop-a.md: is a symbolic link that cannot be followed",
            "archive/loop-b.md: is a symbolic link that cannot be followed",
            "archive/pipe.md: is a FIFO (named pipe), not a regular file",
            "nothing was imported",
        ],
    );
    for entry in ["dangling.md", "loop-a.md", "loop-b.md", "pipe.md"] {
        std::fs::remove_file(dir.join(entry)).unwrap();
    }
    let run = env.run(&args).success();
    assert!(
        run.stdout.starts_with("imported 3 articles"),
        "{}",
        run.stdout
    );
}

/// An import reads one directory, not the directories in it: one named like an article is
/// left out, and said to be.
#[test]
fn import_skips_a_directory_named_like_an_article_and_says_so() {
    let env = TestEnv::new();
    let dir = archive_with(&env);
    std::fs::create_dir(dir.join("drafts.md")).unwrap();
    std::fs::write(
        dir.join("drafts.md").join("draft.md"),
        article("Draft", "draft", "2026-02-02", "Not yet."),
    )
    .unwrap();
    let run = env.run(&["import", dir.to_str().unwrap()]).success();
    assert!(
        run.stdout.starts_with("imported 3 articles"),
        "{}",
        run.stdout
    );
    let skipped = format!(
        "skipped {}: is a directory",
        dir.join("drafts.md").display()
    );
    assert_eq!(
        run.stderr.lines().filter(|l| l.contains(&skipped)).count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(env.list_json().len(), 3);
}

/// An article file with the given title, slug and tags.
fn tagged(env: &TestEnv, slug: &str, tags: &[&str]) -> std::path::PathBuf {
    let list: Vec<String> = tags.iter().map(|t| toml_string(t)).collect();
    env.write_article(
        &format!("{slug}.md"),
        &format!(
            "+++\ntitle = \"About {slug}\"\nslug = \"{slug}\"\npublished = \"2026-04-01\"\ntags = [{}]\n+++\nBody.\n",
            list.join(", ")
        ),
    )
}

/// The titles of the entries of a tag's Atom feed, and the names its articles' pages give it.
fn tag_feed_titles(server: &crate::support::Server, slug: &str) -> Vec<String> {
    let response = server.get(&format!("/tags/{slug}/atom.xml"), &[]);
    assert_eq!(response.status, 200, "/tags/{slug}/atom.xml");
    parse_feed(&response.body)
        .entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect()
}

#[test]
fn tags_that_differ_in_symbols_are_distinct_and_keep_their_spelling() {
    let env = TestEnv::new();
    for (slug, tag) in [
        ("about-c", "C"),
        ("about-cpp", "C++"),
        ("about-csharp", "C#"),
    ] {
        env.add(&[&tagged(&env, slug, &[tag])]);
    }
    let show = env.run(&["show", "about-cpp"]).success().stdout;
    assert!(show.contains("\ntags:      C++\n"), "{show}");
    assert_eq!(
        env.show_json("about-csharp")["tags"],
        serde_json::json!(["C#"])
    );
    let server = env.serve();
    for (tag_slug, title) in [
        ("c", "About about-c"),
        ("c-plus-plus", "About about-cpp"),
        ("c-sharp", "About about-csharp"),
    ] {
        assert_eq!(
            tag_feed_titles(&server, tag_slug),
            [title],
            "/tags/{tag_slug}/"
        );
        let page = server.get(&format!("/tags/{tag_slug}/"), &[]);
        assert_eq!(page.status, 200, "/tags/{tag_slug}/");
    }
    crate::support::assert_check_ok(&env);
}

/// A tag keeps its slug: a new name whose slug is taken gets the next free one, and a name
/// that differs only in case joins the tag it names, keeping its author's spelling.
#[test]
fn an_existing_tag_keeps_its_url() {
    let env = TestEnv::new();
    env.add(&[&tagged(&env, "first", &["C Plus Plus"])]);
    env.add(&[&tagged(&env, "second", &["C++"])]);
    env.add(&[&tagged(&env, "third", &["c plus plus", "C++"])]);
    let show = env.run(&["show", "third"]).success().stdout;
    assert!(show.contains("\ntags:      c plus plus, C++\n"), "{show}");
    let server = env.serve();
    assert_eq!(
        tag_feed_titles(&server, "c-plus-plus"),
        ["About third", "About first"]
    );
    assert_eq!(
        tag_feed_titles(&server, "c-plus-plus-2"),
        ["About third", "About second"]
    );
    // Feeds name a tag as it was first spelled: one category per tag for a reader.
    let atom = parse_feed(&server.get("/atom.xml", &[]).body);
    let third = atom
        .entries
        .iter()
        .find(|e| e.title.as_ref().unwrap().content == "About third")
        .unwrap();
    let labels: Vec<Option<&str>> = third
        .categories
        .iter()
        .map(|c| c.label.as_deref())
        .collect();
    assert_eq!(labels, [Some("C Plus Plus"), Some("C++")]);
    drop(server);

    // An edit keeps the author's spelling; an edit that changes nothing writes nothing.
    let before = env.snapshot();
    let run = env.run(&["edit", "third"]).success();
    assert!(run.stderr.contains("nothing changed"), "{}", run.stderr);
    assert_eq!(env.snapshot(), before);
    env.run(&["edit", "third", "--title", "About third, revised"])
        .success();
    let show = env.run(&["show", "third"]).success().stdout;
    assert!(show.contains("\ntags:      c plus plus, C++\n"), "{show}");
    crate::support::assert_check_ok(&env);
}

/// Tags stored before names were matched sit at the slug the old rule gave them (`Q&A` at
/// `q-a`), and their articles have no spelling of their own: the same name, in any case, still
/// finds them there, and those articles show the tag's name.
#[test]
fn tags_stored_under_the_old_slug_rule_keep_their_urls() {
    let env = TestEnv::new();
    env.add(&[&tagged(&env, "old", &["Q&A", "ÉCONOMIE"])]);
    {
        // Put the database back where a database of the old rule is after migrating.
        let db = rusqlite::Connection::open(env.db_path()).unwrap();
        db.execute_batch(
            "UPDATE tags SET slug = 'q-a' WHERE name = 'Q&A';
             UPDATE article_tags SET name = NULL;",
        )
        .unwrap();
    }
    env.add(&[&tagged(&env, "new", &["q&a", "Économie"])]);
    assert_eq!(
        env.show_json("new")["tags"],
        serde_json::json!(["q&a", "Économie"])
    );
    assert_eq!(
        env.show_json("old")["tags"],
        serde_json::json!(["Q&A", "ÉCONOMIE"])
    );
    let db = rusqlite::Connection::open(env.db_path()).unwrap();
    let slugs: Vec<String> = db
        .prepare("SELECT slug FROM tags ORDER BY slug")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(slugs, ["economie", "q-a"], "no tag was made anew");
}

#[test]
fn a_hundred_thousand_tags_are_refused_at_once() {
    let env = TestEnv::new();
    let names: Vec<String> = (0..100_000).map(|n| format!("\"{n}\"")).collect();
    let text = format!(
        "+++\ntitle = \"Tag storm\"\ntags = [{}]\n+++\nBody.\n",
        names.join(",")
    );
    let path = env.write_article("storm.md", &text);
    // A hang guard, not a speed measurement: the refusal took 10.8 s when every tag was
    // slugged and compared with every other first.
    let run = env.run_with_limit(&["add", path.to_str().unwrap()], Duration::from_secs(20));
    crate::support::assert_clean_failure(&run, "add", &["storm.md", "tags: more than 30 tags"]);
    assert!(env.list_json().is_empty());
}
