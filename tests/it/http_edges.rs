//! The server at the edges of what a request may name or say: list pages past the last (and
//! page numbers past every integer type), floods of paths that name nothing, and request
//! fields sent on more than one line.

use crate::support::{Server, TestEnv};

/// The `compressed` events of the cache (each first load of a document logs one), and the
/// level that shows them.
const CACHE_DEBUG: &str = "log = \"warn,feedsvc::http::cache=debug\"";

/// A site of `count` articles, all tagged Asia, with the cache's debug events in the server's
/// log. Bodies are long enough that every feed and page is worth compressing.
fn site(count: usize) -> TestEnv {
    let env = TestEnv::new();
    let config = std::fs::read_to_string(env.config_path()).expect("read config.toml");
    env.write_config(&config.replacen("log = \"warn\"", CACHE_DEBUG, 1));
    let body = "Negotiators met again in Geneva to discuss the agreement. ".repeat(12);
    let files: Vec<_> = (0..count)
        .map(|n| {
            let text = format!(
                "+++\ntitle = \"Dispatch {n}\"\nslug = \"dispatch-{n}\"\n\
                 published = \"2026-04-{:02}T{:02}:00:00Z\"\ntags = [\"Asia\"]\n+++\n\n{body}\n",
                n / 24 + 1,
                n % 24
            );
            env.write_article(&format!("dispatch-{n}.md"), &text)
        })
        .collect();
    env.add(&files.iter().map(|f| f.as_path()).collect::<Vec<_>>());
    env
}

/// The paths of the `compressed` events in the server's log so far, in order.
fn compressed_paths(server: &Server) -> Vec<String> {
    server
        .stderr()
        .lines()
        .filter(|line| line.contains(" compressed "))
        .filter_map(|line| {
            let start = line.find(" path=")? + " path=".len();
            let rest = &line[start..];
            Some(rest[..rest.find(' ').unwrap_or(rest.len())].to_string())
        })
        .collect()
}

/// README, "Routes": `/page/N/` exists for N from 2 to the last page, written without leading
/// zeros; every other number answers 404, whatever its size, and nothing is rendered, compressed
/// or cached for it (a number past the last page once wrapped to a negative SQL offset and
/// served page 1 again, one rendering and compression per number).
#[test]
fn list_pages_past_the_last_answer_404_and_render_nothing() {
    // 45 articles at the default 20 a page: pages 1, 2 and 3, on the index and the tag alike.
    let env = site(45);
    let server = env.serve();
    for dir in ["/", "/tags/asia/"] {
        for page in [2, 3] {
            let path = format!("{dir}page/{page}/");
            let r = server.get(&path, &[]);
            assert_eq!(r.status, 200, "{path}");
            let text = r.text();
            let expected = format!(">Dispatch {}<", 45 - 20 * (page - 1) - 1);
            assert!(text.contains(&expected), "{path} lacks {expected}");
        }
    }
    // The 404 page is loaded (and compressed) once, by the first path that names nothing.
    assert_eq!(server.get("/nothing-here", &[]).status, 404);
    let before = compressed_paths(&server);
    assert!(
        before.iter().any(|p| p == "/page/3/"),
        "the log shows compressions: {before:?}"
    );
    let numbers = [
        "4",
        "5",
        "0",
        "1",
        "02",
        "003",
        "+3",
        "3.0",
        "461168601842738792",
        "922337203685477581",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "123456789012345678901234567890",
    ];
    for dir in ["/", "/tags/asia/"] {
        for number in numbers {
            let path = format!("{dir}page/{number}/");
            let r = server.get(&path, &[]);
            assert_eq!(r.status, 404, "{path}");
            assert!(
                r.text().contains("Page not found"),
                "{path} answers with the 404 page"
            );
        }
    }
    assert_eq!(
        compressed_paths(&server),
        before,
        "a page past the last was rendered and cached"
    );
}

