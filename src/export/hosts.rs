//! What a static server needs beyond the files: the 301s, the 410s and the cache policy, for
//! nginx (`_feedsvc/nginx-maps.conf`, `map` blocks to include in `http {}`; see
//! `deploy/nginx-static.conf`) and for Netlify and Cloudflare Pages (`_redirects` and
//! `_headers` at the root).

use std::collections::HashSet;
use std::fmt::Write;

use crate::config::Config;
use crate::routes::{CacheControl, Freshness};

/// The nginx include, below the export root.
pub const NGINX_MAPS: &str = "_feedsvc/nginx-maps.conf";
/// Netlify's and Cloudflare Pages' redirect rules.
pub const REDIRECTS: &str = "_redirects";
/// Netlify's and Cloudflare Pages' header rules.
pub const HEADERS: &str = "_headers";

/// nginx's default `map_hash_max_size`; a map with more entries needs a larger one.
const NGINX_MAP_ENTRIES: usize = 1024;
/// Keys longer than this need a larger `map_hash_bucket_size` than nginx's default.
const NGINX_MAP_KEY_BYTES: usize = 48;

/// The rules gathered while the documents are exported.
pub struct Rules {
    base: String,
    cache: CacheControl,
    /// Old path (or path and naming query, as `routes::old_url_key` keeps it) → Location.
    moved: Vec<(String, String)>,
    /// Path of a deleted article → the file holding its 410 page.
    gone: Vec<(String, String)>,
    /// `_headers` rules: path pattern → Content-Type and Cache-Control.
    headers: Vec<(String, String, String)>,
    has_articles: bool,
    has_assets: bool,
    /// Every path the export answers (files and 410s), in lower case: nginx's and the
    /// static hosts' path rules ignore case.
    live: HashSet<String>,
}

impl Rules {
    pub fn new(cfg: &Config) -> Rules {
        Rules {
            base: cfg.base_path().to_string(),
            cache: CacheControl::of(cfg),
            moved: Vec::new(),
            gone: Vec::new(),
            headers: Vec::new(),
            has_articles: false,
            has_assets: false,
            live: HashSet::new(),
        }
    }

    /// A 301 from `from` to the absolute URL `location`.
    pub fn moved(&mut self, from: &str, location: &str) {
        self.moved.push((from.to_string(), location.to_string()));
    }

    /// A 410 at `path`, its page in the export at `body_file`.
    pub fn gone(&mut self, path: &str, body_file: &str) {
        self.live.insert(path.to_lowercase());
        self.gone.push((path.to_string(), body_file.to_string()));
    }

    /// A file served at `path` with `content_type` and the cache policy of `freshness`.
    pub fn file(&mut self, path: &str, content_type: &str, freshness: Freshness) {
        self.live.insert(path.to_lowercase());
        let rest = path.strip_prefix(&self.base).unwrap_or(path);
        if rest.starts_with("articles/") {
            self.has_articles = true;
        } else if rest.starts_with("assets/") {
            self.has_assets = true;
        } else {
            let cache = if rest == "404" {
                self.cache.error.clone()
            } else {
                self.cache.for_freshness(freshness).to_string()
            };
            self.headers
                .push((path.to_string(), content_type.to_string(), cache));
        }
    }

    /// The redirects a static server can take: nginx's maps and the static hosts compare
    /// paths without regard to case, so an old URL that differs from a page the site answers
    /// (`/Atom.xml`) or from an earlier old URL only in case would take that one's place, and
    /// two such keys make nginx refuse the whole map. Those are left out (and counted).
    fn moved_kept(&self) -> (Vec<&(String, String)>, usize) {
        let mut taken = self.live.clone();
        let kept: Vec<_> = self
            .moved
            .iter()
            .filter(|(from, _)| taken.insert(from.to_lowercase()))
            .collect();
        let dropped = self.moved.len() - kept.len();
        (kept, dropped)
    }

    /// The files to write: name below the export root and text.
    pub fn files(&self) -> [(&'static str, String); 3] {
        [
            (NGINX_MAPS, self.nginx_maps()),
            (REDIRECTS, self.redirects()),
            (HEADERS, self.headers()),
        ]
    }

    fn nginx_maps(&self) -> String {
        let mut out = String::new();
        let c = &self.cache;
        let _ = writeln!(
            out,
            "# Written by `feedsvc export`: include this file in nginx's http {{}} block\n\
             # (see deploy/nginx-static.conf). It changes when articles are renamed or deleted:\n\
             # reload nginx after an export.\n\
             # The values feedsvc serve sends: Cache-Control of a 301, of a 404 or 410, and the\n\
             # headers of every HTML answer."
        );
        let mut constant = |name: &str, value: &str| {
            let _ = writeln!(out, "map $uri {name} {{\n    default \"{value}\";\n}}");
        };
        constant("$feedsvc_redirect_cache_control", &c.redirect);
        constant("$feedsvc_error_cache_control", &c.error);
        for (header, value) in crate::routes::HTML_SECURITY_HEADERS {
            let name = header.to_lowercase().replace('-', "_");
            constant(&format!("$feedsvc_html_{name}"), value);
        }
        // A key is a path: one that started otherwise (`~…`) would be read as a regex.
        let usable = |key: &str| key.starts_with('/') && is_nginx_safe(key);
        let (kept, clashing) = self.moved_kept();
        let (by_path, by_query): (Vec<_>, Vec<_>) = kept
            .iter()
            .copied()
            .filter(|(from, to)| usable(from) && is_nginx_safe(to))
            .partition(|(from, _)| !from.contains('?'));
        let entries = by_path.len().max(by_query.len()).max(self.gone.len());
        let longest = self
            .moved
            .iter()
            .map(|(from, _)| from.len())
            .chain(self.gone.iter().map(|(path, _)| path.len()))
            .max()
            .unwrap_or(0);
        if entries > NGINX_MAP_ENTRIES || longest > NGINX_MAP_KEY_BYTES {
            let _ = writeln!(
                out,
                "map_hash_max_size {};\nmap_hash_bucket_size {};",
                (entries * 2).next_power_of_two().max(2048),
                (longest + 16).next_power_of_two().max(64)
            );
        }
        let unquotable = kept.len() - by_path.len() - by_query.len();
        if unquotable > 0 {
            let _ = writeln!(
                out,
                "# {unquotable} redirects left out: their old URLs hold characters an nginx map \
                 cannot quote."
            );
        }
        if clashing > 0 {
            let _ = writeln!(
                out,
                "# {clashing} redirects left out: their old URLs differ only in case from a page \
                 of the site or an earlier old URL, and nginx's maps ignore case."
            );
        }
        out.push_str("map $uri $feedsvc_moved {\n    default \"\";\n");
        for (from, to) in &by_path {
            let _ = writeln!(out, "    \"{from}\" \"{to}\";");
        }
        out.push_str("}\nmap $uri$is_args$args $feedsvc_moved_query {\n    default \"\";\n");
        for (from, to) in &by_query {
            let _ = writeln!(out, "    \"{from}\" \"{to}\";");
        }
        out.push_str("}\nmap $uri $feedsvc_gone {\n    default \"\";\n");
        for (path, _) in self.gone.iter().filter(|(p, _)| usable(p)) {
            let _ = writeln!(out, "    \"{path}\" 1;");
        }
        // By route pattern rather than one entry per file, so that a new tag's feeds or a new
        // month's archive take the feed policy without a reload of nginx.
        let base = regex_escape(&self.base);
        let _ = write!(
            out,
            "}}\nmap $uri $feedsvc_cache_control {{\n    default \"{page}\";\n    \
             \"~^{base}assets/\" \"{immutable}\";\n    \
             \"~^{base}(tags/[^/]+/)?(atom\\.xml|rss\\.xml|feed\\.json)$\" \"{feed}\";\n    \
             \"~^{base}archive/[0-9]{{4}}-[0-9]{{2}}/(atom|rss)\\.xml$\" \"{feed}\";\n}}\n",
            page = c.page,
            immutable = c.immutable,
            feed = c.feed,
        );
        out
    }

    fn redirects(&self) -> String {
        let mut out = String::from(
            "# Written by `feedsvc export` for Netlify and Cloudflare Pages: the 301s of renamed\n\
             # and imported URLs, the 410s of deleted articles (Netlify only: Cloudflare Pages\n\
             # has no 410). Old URLs that differ only in their query string are in\n\
             # _feedsvc/nginx-maps.conf.\n",
        );
        for (from, to) in self.moved_kept().0 {
            if from.contains('?') || !is_literal_rule_path(from) || has_space(to) {
                continue;
            }
            let _ = writeln!(out, "{from} {to} 301");
        }
        for (path, body_file) in &self.gone {
            if !is_literal_rule_path(path) {
                continue;
            }
            let _ = writeln!(out, "{path} {}{body_file} 410", self.base);
        }
        out
    }

    fn headers(&self) -> String {
        let mut out = String::from(
            "# Written by `feedsvc export` for Netlify and Cloudflare Pages: each file's\n\
             # Content-Type and Cache-Control as feedsvc serve sends them.\n",
        );
        let html = crate::routes::HTML_TYPE;
        let mut rule = |pattern: &str, content_type: &str, cache: &str| {
            let _ = writeln!(
                out,
                "{pattern}\n  Content-Type: {content_type}\n  Cache-Control: {cache}\n  \
                 X-Content-Type-Options: nosniff"
            );
            if content_type.starts_with("text/html") {
                for (name, value) in crate::routes::HTML_SECURITY_HEADERS {
                    let _ = writeln!(out, "  {name}: {value}");
                }
            }
        };
        if self.has_articles {
            rule(&format!("{}articles/*", self.base), html, &self.cache.page);
        }
        if self.has_assets {
            rule(
                &format!("{}assets/*", self.base),
                crate::routes::CSS_TYPE,
                &self.cache.immutable,
            );
        }
        for (path, content_type, cache) in &self.headers {
            rule(path, content_type, cache);
        }
        out
    }
}

/// True for text that can stand between double quotes in nginx's configuration as it is: no
/// quote, backslash, `$` (a variable), whitespace or control character.
fn is_nginx_safe(text: &str) -> bool {
    !text.is_empty()
        && !text.chars().any(|c| {
            matches!(c, '"' | '\\' | '$' | '{' | '}' | ';') || c.is_whitespace() || c.is_control()
        })
}

/// True for a path that `_redirects` reads as itself: Netlify and Cloudflare Pages read `*` as
/// "anything" and a segment starting with `:` as a placeholder, so an old URL such as `/*`
/// (from an imported archive) would redirect the whole site.
fn is_literal_rule_path(path: &str) -> bool {
    path.starts_with('/')
        && !has_space(path)
        && !path.contains('*')
        && !path.split('/').any(|segment| segment.starts_with(':'))
}

fn has_space(text: &str) -> bool {
    text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Escapes the characters a regular expression gives a meaning to.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rules() -> Rules {
        let cfg = Config::parse(
            "[site]\nbase_url = \"https://a.test/\"\n[server]\nfeed_max_age = 300\npage_max_age = 60\n",
            Path::new("c"),
            Path::new("/"),
        )
        .unwrap();
        Rules::new(&cfg)
    }

    #[test]
    fn nginx_maps_carry_the_redirects_the_gone_and_the_policy() {
        let mut r = rules();
        r.moved("/articles/old", "https://a.test/articles/new");
        r.moved("/?p=12", "https://a.test/articles/new");
        r.moved("/we\"ird", "https://a.test/articles/new");
        r.gone("/articles/deleted", "_feedsvc/gone/articles/deleted.html");
        let maps = r.nginx_maps();
        assert!(maps.contains("map $uri $feedsvc_moved {\n    default \"\";\n    \"/articles/old\" \"https://a.test/articles/new\";\n}"), "{maps}");
        assert!(maps.contains("$feedsvc_moved_query {\n    default \"\";\n    \"/?p=12\" \"https://a.test/articles/new\";\n}"), "{maps}");
        assert!(maps.contains("\"/articles/deleted\" 1;"), "{maps}");
        assert!(maps.contains("1 redirects left out"), "{maps}");
        assert!(!maps.contains("we\"ird"), "{maps}");
        assert!(
            maps.contains("default \"max-age=60, stale-while-revalidate=300\""),
            "{maps}"
        );
        assert!(maps.contains("\"~^/(tags/[^/]+/)?(atom\\.xml|rss\\.xml|feed\\.json)$\" \"max-age=300, stale-while-revalidate=600\""), "{maps}");
        assert!(
            maps.contains("map $uri $feedsvc_html_x_frame_options {\n    default \"DENY\";\n}"),
            "{maps}"
        );
        assert!(maps.contains("$feedsvc_redirect_cache_control {\n    default \"max-age=3600\";"));
        assert!(
            !maps.contains("map_hash_max_size"),
            "small maps need no larger hash"
        );
    }

    /// Old URLs come from imported archives: none may widen into a rule for other paths.
    #[test]
    fn old_urls_that_would_match_more_than_themselves_are_left_out() {
        let mut r = rules();
        for from in ["/*", "/blog/:year/x", "~.*", "/a b", "relative"] {
            r.moved(from, "https://a.test/articles/new");
        }
        r.moved("/2019/05/kept.html", "https://a.test/articles/new");
        let redirects = r.redirects();
        let rules: Vec<&str> = redirects.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            rules,
            ["/2019/05/kept.html https://a.test/articles/new 301"]
        );
        let maps = r.nginx_maps();
        assert!(!maps.contains("\"~.*\""), "{maps}");
        assert!(!maps.contains("\"relative\""), "{maps}");
        assert!(maps.contains("\"/2019/05/kept.html\""), "{maps}");
    }

    /// An old URL that differs from a page of the site, or from another old URL, only in case
    /// would take its place in nginx (whose maps ignore case), or make nginx refuse the map.
    #[test]
    fn old_urls_that_differ_only_in_case_are_left_out() {
        let mut r = rules();
        r.file("/atom.xml", crate::routes::ATOM_TYPE, Freshness::Feed);
        r.file(
            "/articles/geneva-talks",
            crate::routes::HTML_TYPE,
            Freshness::Page,
        );
        r.moved("/Atom.xml", "https://a.test/articles/atom-xml");
        r.moved(
            "/ARTICLES/geneva-talks",
            "https://a.test/articles/geneva-talks-2",
        );
        r.moved("/Case", "https://a.test/articles/one");
        r.moved("/case", "https://a.test/articles/two");
        let maps = r.nginx_maps();
        assert!(!maps.contains("\"/Atom.xml\""), "{maps}");
        assert!(!maps.contains("\"/ARTICLES/geneva-talks\""), "{maps}");
        assert!(
            maps.contains("\"/Case\" \"https://a.test/articles/one\""),
            "{maps}"
        );
        assert!(!maps.contains("\"/case\""), "{maps}");
        assert!(maps.contains("# 3 redirects left out"), "{maps}");
        let redirects = r.redirects();
        assert!(
            !redirects.contains("Atom.xml") && !redirects.contains("/case "),
            "{redirects}"
        );
    }

    #[test]
    fn netlify_files() {
        let mut r = rules();
        r.moved("/articles/old", "https://a.test/articles/new");
        r.moved("/?p=12", "https://a.test/articles/new");
        r.gone("/articles/deleted", "_feedsvc/gone/articles/deleted.html");
        r.file("/atom.xml", crate::routes::ATOM_TYPE, Freshness::Feed);
        r.file("/articles/x", crate::routes::HTML_TYPE, Freshness::Page);
        let redirects = r.redirects();
        assert!(redirects.contains("\n/articles/old https://a.test/articles/new 301\n"));
        assert!(!redirects.contains("p=12"));
        assert!(
            redirects.contains("\n/articles/deleted /_feedsvc/gone/articles/deleted.html 410\n")
        );
        let headers = r.headers();
        assert!(headers.contains("/atom.xml\n  Content-Type: application/atom+xml; charset=utf-8\n  Cache-Control: max-age=300, stale-while-revalidate=600\n"), "{headers}");
        assert!(
            headers.contains("/articles/*\n  Content-Type: text/html; charset=utf-8\n"),
            "{headers}"
        );
        // serve's security headers on HTML, and only there.
        let html_rule = headers.split("/articles/*").nth(1).unwrap_or_default();
        let html_rule = html_rule.split("\n/").next().unwrap_or_default();
        assert!(html_rule.contains("\n  x-frame-options: DENY"), "{headers}");
        assert!(
            html_rule.contains("\n  content-security-policy: default-src 'none';"),
            "{headers}"
        );
        let feed_rule = headers.split("\n/atom.xml\n").nth(1).unwrap_or_default();
        let feed_rule = feed_rule.split("\n/").next().unwrap_or_default();
        assert!(!feed_rule.contains("x-frame-options"), "{headers}");
    }
}
