//! `feedsvc backup`: a consistent copy while the server serves and publishers write, and the
//! refusals that keep it from losing anything.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{article, TestEnv};

fn integrity(db: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the backup");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

/// A site whose database is `backup`, to run `check` and `list` on it as a restore would.
fn restored(backup: &Path) -> TestEnv {
    let env = TestEnv::new();
    std::fs::copy(backup, env.db_path()).expect("restore the backup");
    env
}

fn slugs(env: &TestEnv) -> Vec<String> {
    env.list_json()
        .iter()
        .map(|a| a["slug"].as_str().expect("a slug").to_string())
        .collect()
}

/// Eight publishers add articles one after another while the server runs; backups taken
/// meanwhile each pass `integrity_check` and `feedsvc check` (every article with its page and
/// feeds), hold every add that returned before the backup began, and of each publisher's
/// sequence a prefix: no later article without the earlier ones.
#[test]
fn backups_during_eight_publishers_are_consistent_prefixes() {
    let _load = crate::support::heavy();
    const PUBLISHERS: usize = 8;
    const EACH: usize = 6;
    let env = TestEnv::new();
    env.add_article("Seed", "seed", "2025-01-01T00:00:00Z", "Before the rush.");
    let files: Vec<Vec<(String, PathBuf)>> = (0..PUBLISHERS)
        .map(|p| {
            (0..EACH)
                .map(|n| {
                    let slug = format!("pub{p}-n{n}");
                    let published = format!("2025-02-{:02}T{:02}:00:00Z", n + 1, p);
                    let text = article(
                        &format!("Publisher {p} item {n}"),
                        &slug,
                        &published,
                        "Body.",
                    );
                    (
                        slug.clone(),
                        env.write_article(&format!("{slug}.md"), &text),
                    )
                })
                .collect()
        })
        .collect();
    let _server = env.serve();
    let returned: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    let backups: Vec<(PathBuf, Vec<String>)> = std::thread::scope(|scope| {
        let writers: Vec<_> = files
            .iter()
            .map(|files| {
                let (env, returned) = (&env, &returned);
                scope.spawn(move || {
                    for (slug, file) in files {
                        let run = env.run_with_limit(
                            &["add", file.to_str().expect("UTF-8")],
                            Duration::from_secs(120),
                        );
                        assert_eq!(run.code, 0, "add {slug}: {}", run.stderr);
                        returned.lock().unwrap().push(slug.clone());
                    }
                })
            })
            .collect();
        let backer = scope.spawn(|| {
            let mut taken = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(300);
            for round in 0..3 {
                // Wait for a few more adds, so the backups fall at different moments.
                while returned.lock().unwrap().len() < (round + 1) * 8
                    && !done.load(Ordering::SeqCst)
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let before = returned.lock().unwrap().clone();
                let file = env.path(&format!("backup-{round}.db"));
                let run = env.run(&["backup", file.to_str().expect("UTF-8")]);
                assert_eq!(run.code, 0, "backup {round}: {}", run.stderr);
                assert!(
                    run.stdout.contains(&format!("to {}", file.display())),
                    "{}",
                    run.stdout
                );
                taken.push((file, before));
            }
            taken
        });
        for w in writers {
            w.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
        done.store(true, Ordering::SeqCst);
        backer
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    });
    let mut sizes = Vec::new();
    for (file, before) in &backups {
        assert_eq!(integrity(file), "ok", "{}", file.display());
        let site = restored(file);
        crate::support::assert_check_ok(&site);
        let held = slugs(&site);
        for slug in before {
            assert!(
                held.contains(slug),
                "{}: the add of {slug} returned before the backup began, but it is missing",
                file.display()
            );
        }
        for p in 0..PUBLISHERS {
            let mine: Vec<usize> = (0..EACH)
                .filter(|n| held.contains(&format!("pub{p}-n{n}")))
                .collect();
            assert_eq!(
                mine,
                (0..mine.len()).collect::<Vec<_>>(),
                "{}: publisher {p}'s articles in the backup are not a prefix of its adds",
                file.display()
            );
        }
        sizes.push(held.len());
    }
    eprintln!("backup: three backups during {PUBLISHERS} publishers held {sizes:?} articles");
}

#[test]
fn a_backup_is_never_written_over_an_existing_file_without_force() {
    let env = TestEnv::new();
    env.add_article("One", "one", "2025-01-01T00:00:00Z", "First.");
    let target = env.path("nightly.db");
    std::fs::write(&target, b"an older backup").unwrap();
    let refused = env.run(&["backup", target.to_str().unwrap()]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("nightly.db") && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    crate::support::assert_no_panic(&refused.stderr);
    assert_eq!(std::fs::read(&target).unwrap(), b"an older backup");

    let forced = env.run(&["backup", "--force", target.to_str().unwrap()]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(integrity(&target), "ok");
    assert_eq!(slugs(&restored(&target)), ["one"]);

    let nowhere = env.path("no-such-dir/x.db");
    let failed = env.run(&["backup", nowhere.to_str().unwrap()]);
    assert_eq!(failed.code, 1);
    assert!(failed.stderr.contains("no-such-dir"), "{}", failed.stderr);
}

/// A site of one article whose server ran, so that both databases exist.
fn site_with_counting() -> TestEnv {
    let env = TestEnv::new();
    env.add_article("One", "one", "2025-01-01T00:00:00Z", "First.");
    let mut server = env.serve();
    crate::support::wait_for("the counting database", Duration::from_secs(10), || {
        env.stats_db_path().exists().then_some(())
    });
    server.terminate(Duration::from_secs(10));
    env
}

/// `--force` never lets a backup replace the live databases or their logs: SQLite would apply
/// the old log to the copy, or the server would find the archive where its counts were.
#[test]
fn a_backup_never_replaces_the_live_databases() {
    let env = site_with_counting();
    let before = env.snapshot();
    let archive = env.db_path();
    let wal = format!("{}-wal", archive.display());
    let stats = env.stats_db_path();
    let through_dotdot = env.path("data/../data/feedsvc.db");
    for dest in [
        archive.to_str().unwrap(),
        through_dotdot.to_str().unwrap(),
        wal.as_str(),
        stats.to_str().unwrap(),
    ] {
        let run = env.run(&["backup", "--force", dest]);
        assert_eq!(run.code, 1, "backup --force {dest} was not refused");
        assert!(run.stderr.contains("live database"), "{}", run.stderr);
        crate::support::assert_no_panic(&run.stderr);
    }
    assert_eq!(env.snapshot(), before);
    crate::support::assert_check_ok(&env);
}

/// The counting's database goes beside the archive's copy; when its name is taken, neither is
/// written.
#[test]
fn the_counting_database_is_backed_up_beside_the_archive() {
    let env = site_with_counting();
    let taken = env.path("b-stats.db");
    std::fs::write(&taken, b"mine").unwrap();
    let refused = env.run(&["backup", env.path("b.db").to_str().unwrap()]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("b-stats.db"), "{}", refused.stderr);
    assert!(
        !env.path("b.db").exists(),
        "the archive's copy was written anyway"
    );
    std::fs::remove_file(&taken).unwrap();

    let run = env.run(&["backup", env.path("b.db").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert_eq!(integrity(&env.path("b-stats.db")), "ok");
    let conn = rusqlite::Connection::open(env.path("b-stats.db")).unwrap();
    let id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    let original = rusqlite::Connection::open(env.stats_db_path()).unwrap();
    let expected: i64 = original
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id, expected, "the copy is the counting's database");
}

#[test]
fn a_site_without_a_database_has_nothing_to_back_up() {
    let env = TestEnv::new();
    let run = env.run(&["backup", env.path("b.db").to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no database to back up"),
        "{}",
        run.stderr
    );
    assert!(!env.path("b.db").exists());
    assert!(!env.db_path().exists(), "backup created the database");
}
