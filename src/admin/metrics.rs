//! `/metrics`: the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

use super::Live;
use crate::config::Config;
use crate::routes::Family;
use crate::stats::metrics::Totals;
use crate::store::Store;
use crate::Result;

/// `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the metrics read from the database.
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// Publishing transactions since the database was created.
    pub publishes: u64,
    /// Articles published (scheduled ones not yet).
    pub articles: u64,
    /// Each feed's subscribers on the latest day counted.
    pub subscribers: Vec<(String, u64)>,
    /// Active WebSub subscriptions, and those with a delivery waiting; `None` without the
    /// built-in hub.
    pub websub: Option<(u64, u64)>,
}

/// Reads what the metrics need from the database.
pub fn gather(store: &Store, cfg: &Config, now: chrono::DateTime<chrono::Utc>) -> Result<Gathered> {
    use crate::store::articles::ArticleQueries;
    let today = crate::stats::day_of(now.timestamp_millis());
    // Two days: the latest day counted is today, or yesterday just after midnight.
    let report = crate::stats::report::build(store, 2, today)?;
    let websub = match cfg.websub.hub {
        crate::config::Hub::Builtin => {
            let all = store.subscriptions(now.timestamp())?;
            let pending = all.iter().filter(|s| s.pending).count();
            Some((all.len() as u64, pending as u64))
        }
        _ => None,
    };
    Ok(Gathered {
        publishes: store.generation()?.max(0) as u64,
        articles: store.count_published(None)? as u64,
        subscribers: report
            .feeds
            .into_iter()
            .map(|f| (f.path, f.subscribers))
            .collect(),
        websub,
    })
}

/// A label value, escaped as the format asks (`\`, `"` and line feeds).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The exposition of everything counted.
pub fn render(totals: &Totals, live: &Live, gathered: &Gathered) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "feedsvc_http_requests_total",
        "counter",
        "Requests answered, by route kind and status.",
    );
    for (kind, status, n) in &totals.requests {
        let _ = writeln!(
            out,
            "feedsvc_http_requests_total{{kind=\"{}\",status=\"{status}\"}} {n}",
            kind.label()
        );
    }
    family(
        &mut out,
        "feedsvc_http_response_bytes_total",
        "counter",
        "Body bytes sent, by route kind.",
    );
    for kind in Family::ALL {
        let _ = writeln!(
            out,
            "feedsvc_http_response_bytes_total{{kind=\"{}\"}} {}",
            kind.label(),
            totals.bytes[kind.index()]
        );
    }
    let ok = totals.requests_of(Family::Feed, "200");
    let not_modified = totals.requests_of(Family::Feed, "304");
    family(
        &mut out,
        "feedsvc_http_not_modified_ratio",
        "gauge",
        "Share of the feeds' 200 and 304 answers that were 304 Not Modified, since the start.",
    );
    let ratio = if ok + not_modified == 0 {
        0.0
    } else {
        not_modified as f64 / (ok + not_modified) as f64
    };
    let _ = writeln!(out, "feedsvc_http_not_modified_ratio {ratio}");
    family(
        &mut out,
        "feedsvc_cache_hits_total",
        "counter",
        "Document lookups answered from memory.",
    );
    let _ = writeln!(out, "feedsvc_cache_hits_total {}", live.cache_hits);
    family(
        &mut out,
        "feedsvc_cache_misses_total",
        "counter",
        "Document lookups that went to the database.",
    );
    let _ = writeln!(out, "feedsvc_cache_misses_total {}", live.cache_misses);
    family(
        &mut out,
        "feedsvc_open_connections",
        "gauge",
        "Client connections open on the public listener.",
    );
    let _ = writeln!(out, "feedsvc_open_connections {}", live.open_connections);
    family(
        &mut out,
        "feedsvc_publishes_total",
        "counter",
        "Publishing transactions since the database was created.",
    );
    let _ = writeln!(out, "feedsvc_publishes_total {}", gathered.publishes);
    family(&mut out, "feedsvc_articles", "gauge", "Articles published.");
    let _ = writeln!(out, "feedsvc_articles {}", gathered.articles);
    family(
        &mut out,
        "feedsvc_feed_subscribers",
        "gauge",
        "Subscribers of each feed on the latest day counted.",
    );
    for (path, n) in &gathered.subscribers {
        let _ = writeln!(
            out,
            "feedsvc_feed_subscribers{{path=\"{}\"}} {n}",
            label(path)
        );
    }
    if let Some((subscriptions, pending)) = gathered.websub {
        family(
            &mut out,
            "feedsvc_websub_subscriptions",
            "gauge",
            "Active WebSub subscriptions.",
        );
        let _ = writeln!(out, "feedsvc_websub_subscriptions {subscriptions}");
        family(
            &mut out,
            "feedsvc_websub_pending_deliveries",
            "gauge",
            "WebSub subscriptions with a delivery waiting.",
        );
        let _ = writeln!(out, "feedsvc_websub_pending_deliveries {pending}");
    }
    if let Some((delivered, failed)) = live.websub {
        family(
            &mut out,
            "feedsvc_websub_deliveries_total",
            "counter",
            "WebSub deliveries since the start, by outcome (a failed one is tried again later).",
        );
        let _ = writeln!(
            out,
            "feedsvc_websub_deliveries_total{{outcome=\"delivered\"}} {delivered}"
        );
        let _ = writeln!(
            out,
            "feedsvc_websub_deliveries_total{{outcome=\"failed\"}} {failed}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_and_escapes_labels() {
        let metrics = crate::stats::metrics::Metrics::new(1);
        metrics.count(Family::Feed, 200, 1000);
        metrics.count(Family::Feed, 304, 0);
        metrics.count(Family::Feed, 304, 0);
        metrics.count(Family::Feed, 304, 0);
        let text = render(
            &metrics.totals(),
            &Live {
                cache_hits: 5,
                cache_misses: 2,
                open_connections: 3,
                websub: Some((7, 1)),
            },
            &Gathered {
                publishes: 4,
                articles: 9,
                subscribers: vec![("/tags/a\"b/atom.xml".to_string(), 12)],
                websub: Some((2, 0)),
            },
        );
        for line in [
            "feedsvc_http_requests_total{kind=\"feed\",status=\"200\"} 1",
            "feedsvc_http_requests_total{kind=\"feed\",status=\"304\"} 3",
            "feedsvc_http_response_bytes_total{kind=\"feed\"} 1000",
            "feedsvc_http_not_modified_ratio 0.75",
            "feedsvc_cache_hits_total 5",
            "feedsvc_cache_misses_total 2",
            "feedsvc_open_connections 3",
            "feedsvc_publishes_total 4",
            "feedsvc_articles 9",
            "feedsvc_feed_subscribers{path=\"/tags/a\\\"b/atom.xml\"} 12",
            "feedsvc_websub_subscriptions 2",
            "feedsvc_websub_deliveries_total{outcome=\"delivered\"} 7",
            "feedsvc_websub_deliveries_total{outcome=\"failed\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
        assert!(text.ends_with('\n'));
    }
}
