//! `feedsvc export DIR`: every URL `serve` answers, as files with the bytes it sends, and an
//! incremental second export.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::{Server, TestEnv};

fn post(env: &TestEnv, slug: &str, published: &str, tags: &[&str]) {
    let title = format!("Story {slug}");
    let body = format!("The body of {slug}: “quoted” — and & more.");
    env.add_posts(&[(&title, slug, published, tags)], &body);
}

/// A site with list pages past the first, two tags, three months, a renamed and a deleted
/// article.
fn site() -> TestEnv {
    let env = TestEnv::with_settings(&[("feeds", "page_size = 2"), ("feeds", "items = 3")]);
    post(&env, "first", "2025-01-05T10:00:00Z", &["Asia"]);
    post(
        &env,
        "second",
        "2025-01-20T10:00:00+09:00",
        &["Asia", "Trade"],
    );
    post(&env, "third", "2025-02-03T08:00:00Z", &["Trade"]);
    post(&env, "fourth", "2025-03-01T00:00:00Z", &["Asia"]);
    post(&env, "fifth", "2025-03-09T12:30:00-05:00", &[]);
    post(&env, "doomed", "2025-03-10T00:00:00Z", &["Asia"]);
    env.run(&["edit", "fourth", "--slug", "fourth-renamed"])
        .success();
    env.run(&["delete", "doomed"]).success();
    env
}

/// The exported documents: file below DIR → URL path. Compressed siblings and the export's
/// own files are left out.
fn documents(dir: &Path) -> BTreeMap<String, String> {
    let manifest = std::fs::read_to_string(dir.join("_feedsvc/manifest")).expect("a manifest");
    manifest
        .lines()
        .filter(|f| !f.ends_with(".gz") && !f.ends_with(".br"))
        .filter(|f| !f.starts_with('_'))
        .map(|f| {
            let url = if f == "index.html" {
                "/".to_string()
            } else if let Some(dir) = f.strip_suffix("/index.html") {
                format!("/{dir}/")
            } else if let Some(page) = f.strip_suffix(".html") {
                format!("/{page}")
            } else {
                format!("/{f}")
            };
            (f.to_string(), url)
        })
        .collect()
}

fn export(env: &TestEnv, dir: &Path) -> String {
    let run = env.run(&["export", dir.to_str().expect("UTF-8")]);
    assert_eq!(run.code, 0, "export failed: {}", run.stderr);
    run.stdout.trim().to_string()
}

/// The `<loc>`s of a sitemap.
fn locations(xml: &str) -> Vec<String> {
    xml.split("<loc>")
        .skip(1)
        .filter_map(|s| s.split("</loc>").next())
        .map(|s| s.to_string())
        .collect()
}

fn path_of(env: &TestEnv, url: &str) -> String {
    format!(
        "/{}",
        url.strip_prefix(&env.base).expect("a URL of the site")
    )
}

#[test]
fn an_export_holds_every_url_serve_answers_byte_for_byte() {
    let env = site();
    let server = env.serve();
    let dir = env.path("export");
    let summary = export(&env, &dir);
    let docs = documents(&dir);

    // Every document URL serve answers is a file…
    let mut expected: Vec<String> = vec![
        "/".into(),
        "/page/2/".into(),
        "/page/3/".into(),
        "/tags/asia/".into(),
        "/tags/asia/page/2/".into(),
        "/robots.txt".into(),
        "/sitemap.xml".into(),
        "/404".into(),
    ];
    for tag in ["", "tags/asia/", "tags/trade/"] {
        for feed in ["atom.xml", "rss.xml", "feed.json"] {
            expected.push(format!("/{tag}{feed}"));
        }
    }
    let index = server.get("/sitemap.xml", &[]);
    for month in locations(&index.text()) {
        let month_path = path_of(&env, &month);
        expected.push(month_path.clone());
        let dir_path = month_path.trim_end_matches("sitemap.xml");
        expected.push(format!("{dir_path}atom.xml"));
        expected.push(format!("{dir_path}rss.xml"));
        for page in locations(&server.get(&month_path, &[]).text()) {
            expected.push(path_of(&env, &page));
        }
    }
    let served: Vec<&String> = docs.values().collect();
    for path in &expected {
        assert!(
            served.contains(&path),
            "{path} is not in the export: {served:?}"
        );
    }
    assert!(!served.iter().any(|p| p.contains("doomed")), "{served:?}");
    assert!(
        !served.contains(&&"/page/4/".to_string()),
        "a page past the last"
    );
    assert!(
        served.iter().any(|p| p.starts_with("/assets/")),
        "{served:?}"
    );

    // …with serve's status, bytes, compressed bytes and Last-Modified.
    for (file, path) in &docs {
        let on_disk = dir.join(file);
        let identity = server.get(path, &[("Accept-Encoding", "identity")]);
        let status = if path == "/404" { 404 } else { 200 };
        assert_eq!(identity.status, status, "{path}");
        assert_eq!(
            identity.body,
            std::fs::read(&on_disk).unwrap(),
            "{path}: the export's bytes differ from serve's"
        );
        for (coding, suffix) in [("gzip", "gz"), ("br", "br")] {
            let answer = server.get(path, &[("Accept-Encoding", coding)]);
            let sibling = dir.join(format!("{file}.{suffix}"));
            match answer.header("Content-Encoding") {
                Some(c) => {
                    assert_eq!(c, coding);
                    assert_eq!(
                        answer.body,
                        std::fs::read(&sibling)
                            .unwrap_or_else(|_| panic!("{path}: no {suffix} sibling")),
                        "{path}: {coding} bytes differ"
                    );
                }
                None => assert!(!sibling.exists(), "{path}: serve sends no {coding}"),
            }
        }
        if let Some(modified) = identity.header("Last-Modified") {
            let mtime = std::fs::metadata(&on_disk).unwrap().modified().unwrap();
            let secs = mtime
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let date = chrono::DateTime::from_timestamp(secs as i64, 0)
                .unwrap()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string();
            assert_eq!(date, modified, "{path}: mtime is not Last-Modified");
        }
    }

    // The redirect, the 410 and the cache policy, for nginx and for Netlify.
    let moved = server.get("/articles/fourth", &[]);
    assert_eq!(moved.status, 301);
    let location = moved.expect_header("Location").to_string();
    let maps = std::fs::read_to_string(dir.join("_feedsvc/nginx-maps.conf")).unwrap();
    assert!(
        maps.contains(&format!("\"/articles/fourth\" \"{location}\";")),
        "{maps}"
    );
    assert!(maps.contains("\"/articles/doomed\" 1;"), "{maps}");
    let feed_policy = server.get("/atom.xml", &[]);
    assert!(
        maps.contains(&format!(
            "(atom\\.xml|rss\\.xml|feed\\.json)$\" \"{}\";",
            feed_policy.expect_header("Cache-Control")
        )),
        "{maps}"
    );
    let gone = server.get("/articles/doomed", &[("Accept-Encoding", "identity")]);
    assert_eq!(gone.status, 410);
    assert_eq!(
        gone.body,
        std::fs::read(dir.join("_feedsvc/gone/articles/doomed.html")).unwrap()
    );
    let redirects = std::fs::read_to_string(dir.join("_redirects")).unwrap();
    assert!(
        redirects.contains(&format!("\n/articles/fourth {location} 301\n")),
        "{redirects}"
    );
    assert!(
        redirects.contains("\n/articles/doomed /_feedsvc/gone/articles/doomed.html 410\n"),
        "{redirects}"
    );
    assert!(summary.starts_with("exported "), "{summary}");
    assert!(
        summary.ends_with(" written, 0 unchanged, 0 removed"),
        "{summary}"
    );
}

/// Exporting again after one publish rewrites only the files whose bytes changed: the others
/// keep their inode and mtime, so a sync uploads a handful.
#[test]
fn a_second_export_rewrites_only_what_changed() {
    let env = site();
    let dir = env.path("export");
    export(&env, &dir);
    let before = stat_all(&dir);
    // Same content again: nothing written.
    let again = export(&env, &dir);
    assert!(again.contains(": 0 written, "), "{again}");
    assert!(again.ends_with(" 0 removed"), "{again}");
    assert_eq!(stat_all(&dir), before);

    post(&env, "sixth", "2025-03-20T00:00:00Z", &["Trade"]);
    env.run(&["delete", "first"]).success();
    let summary = export(&env, &dir);
    let after = stat_all(&dir);
    assert!(after.contains_key("articles/sixth.html"), "{summary}");
    assert!(!after.contains_key("articles/first.html"), "{summary}");
    assert!(after.contains_key("_feedsvc/gone/articles/first.html"));
    let mut rewritten = 0;
    let mut kept = 0;
    // The manifest is the export's own record, not counted among the files.
    for (file, (inode, mtime, bytes)) in after.iter().filter(|(f, _)| *f != "_feedsvc/manifest") {
        let Some((old_inode, old_mtime, old_bytes)) = before.get(file) else {
            rewritten += 1;
            continue;
        };
        if bytes == old_bytes {
            assert_eq!(
                (inode, mtime),
                (old_inode, old_mtime),
                "{file}: rewritten with the same bytes"
            );
            kept += 1;
        } else {
            assert_ne!(
                inode, old_inode,
                "{file}: changed in place, not replaced whole"
            );
            rewritten += 1;
        }
    }
    let count = |word: &str| -> usize {
        summary
            .split(", ")
            .chain(summary.split(": ").nth(1))
            .find_map(|part| part.strip_suffix(word))
            .and_then(|n| n.trim().rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no '{word}' count in {summary}"))
    };
    // Written: exactly the new files and those whose bytes changed.
    assert_eq!(count(" written"), rewritten, "{summary}");
    assert!(kept > 0, "{summary}");
    // The first article's page and its siblings went, as serve now answers 410 there.
    let removed = before.keys().filter(|f| !after.contains_key(*f)).count();
    assert!(removed >= 1, "{summary}");
    assert_eq!(count(" removed"), removed, "{summary}");
    eprintln!("export: after one add and one delete: {summary}");

    let mut server = env.serve();
    for file in ["atom.xml", "tags/trade/feed.json", "index.html"] {
        let path = documents(&dir)
            .get(file)
            .cloned()
            .unwrap_or_else(|| panic!("{file} exported"));
        let answer = server.get(&path, &[("Accept-Encoding", "identity")]);
        assert_eq!(
            answer.body,
            std::fs::read(dir.join(file)).unwrap(),
            "{file}"
        );
    }
    Server::terminate(&mut server, Duration::from_secs(10));
}

/// file → (inode, mtime, bytes) of every file of the export.
fn stat_all(dir: &Path) -> BTreeMap<String, (u64, SystemTime, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let meta = std::fs::metadata(&path).unwrap();
            let name = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(
                name,
                (
                    meta.ino(),
                    meta.modified().unwrap(),
                    std::fs::read(&path).unwrap(),
                ),
            );
        }
    }
    out
}

#[test]
fn a_directory_that_is_not_an_export_is_left_alone() {
    let env = site();
    let dir = env.path("mine");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), b"my own page").unwrap();
    let run = env.run(&["export", dir.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("mine") && run.stderr.contains("holds no earlier export"),
        "{}",
        run.stderr
    );
    crate::support::assert_no_panic(&run.stderr);
    assert_eq!(
        std::fs::read(dir.join("index.html")).unwrap(),
        b"my own page"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

    let file = env.path("a-file");
    std::fs::write(&file, b"x").unwrap();
    let run = env.run(&["export", file.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
}

/// An export cut short (killed at any moment) can be run again, and leaves no compressed
/// sibling that disagrees with its file: the siblings are written first.
#[test]
fn an_export_cut_short_is_finished_by_the_next() {
    let env = TestEnv::new();
    for n in 0..40 {
        post(
            &env,
            &format!("story-{n:02}"),
            &format!("2025-01-{:02}T10:00:00Z", n % 28 + 1),
            &["Asia"],
        );
    }
    let dir = env.path("export");
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    for (round, delay_ms) in [1u64, 15, 40, 80].into_iter().enumerate() {
        // Every document changes between rounds, so each round rewrites files and siblings.
        let title = format!("Wire {round}");
        env.write_config(&config.replace("title = \"Test Wire\"", &format!("title = \"{title}\"")));
        let mut child = env.spawn(&["export", dir.to_str().unwrap()]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        export(&env, &dir);
        for (file, _) in documents(&dir) {
            let plain = std::fs::read(dir.join(&file)).unwrap();
            if let Ok(gz) = std::fs::read(dir.join(format!("{file}.gz"))) {
                assert_eq!(
                    crate::support::gunzip(&gz),
                    plain,
                    "round {round}: {file}.gz is stale"
                );
            }
            if let Ok(br) = std::fs::read(dir.join(format!("{file}.br"))) {
                assert_eq!(
                    crate::support::unbrotli(&br),
                    plain,
                    "round {round}: {file}.br is stale"
                );
            }
        }
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(
            index.contains(&title),
            "round {round}: the index is not the latest"
        );
    }
}

/// An article scheduled for later reaches the export made after its moment, as it reaches
/// serve's pages then: a site served only from exports gets it too.
#[test]
fn a_scheduled_article_is_exported_once_its_moment_has_come() {
    let env = TestEnv::new();
    // Far enough ahead that the add and the first export surely end before the moment: four
    // times what an add and an export took just now, at least 5 s (a loaded machine).
    let started = std::time::Instant::now();
    post(&env, "now", "2025-01-05T10:00:00Z", &[]);
    let dir = env.path("export");
    export(&env, &dir);
    let lead = (started.elapsed() * 4).max(Duration::from_secs(5));
    let due = chrono::Utc::now() + chrono::Duration::from_std(lead).expect("a short lead");
    post(
        &env,
        "later",
        &due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        &[],
    );
    export(&env, &dir);
    assert!(
        !dir.join("articles/later.html").exists(),
        "exported before its moment"
    );
    while chrono::Utc::now() < due + chrono::Duration::seconds(1) {
        std::thread::sleep(Duration::from_millis(100));
    }
    export(&env, &dir);
    assert!(
        dir.join("articles/later.html").exists(),
        "not exported after its moment"
    );
    let feed = std::fs::read_to_string(dir.join("atom.xml")).unwrap();
    assert!(feed.contains("articles/later"), "{feed}");
}
