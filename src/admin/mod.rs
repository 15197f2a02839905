//! The admin listener (`admin.listen`): the dashboard at `/` and Prometheus metrics at
//! `/metrics`, on an address of their own, never the public one. When `admin.token` is set,
//! every request must carry it as `Authorization: Bearer TOKEN`.

pub mod dashboard;
pub mod metrics;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::stats::Stats;
use crate::store::Store;
use crate::{Error, Result};

/// Admin connections served at once (it is for a few operators and one scraper).
const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Days the dashboard shows.
pub const DASHBOARD_DAYS: u32 = 90;
/// Publishes the dashboard lists.
const RECENT_PUBLISHES: usize = 10;
/// Subscriptions the dashboard lists.
const LISTED_SUBSCRIPTIONS: usize = 50;

/// What the server knows only in memory, read when a page or the metrics are asked for.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Document lookups answered from memory, and from the store.
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Client connections open on the public listener.
    pub open_connections: u64,
    /// WebSub deliveries answered 2xx and failed since the start; `None` without the built-in
    /// hub.
    pub websub: Option<(u64, u64)>,
}

/// Everything the admin pages read.
pub struct Sources {
    pub cfg: Config,
    pub stats: Arc<Stats>,
    /// The in-memory figures, read on each request.
    pub live: Box<dyn Fn() -> Live + Send + Sync>,
    /// A connection to the database, opened on first use.
    store: Mutex<Option<Store>>,
}

impl Sources {
    pub fn new(
        cfg: Config,
        stats: Arc<Stats>,
        live: Box<dyn Fn() -> Live + Send + Sync>,
    ) -> Sources {
        Sources {
            cfg,
            stats,
            live,
            store: Mutex::new(None),
        }
    }

    /// Runs `read` on the database connection (opening it if needed); a failed read drops the
    /// connection, so the next request opens a fresh one.
    fn with_store<T>(&self, read: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let mut slot = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        let store = match slot.as_ref() {
            Some(store) => store,
            None => slot.insert(Store::open(
                &self.cfg.storage.database,
                self.cfg.storage.busy_timeout,
                false,
            )?),
        };
        let outcome = read(store);
        if outcome.is_err() {
            *slot = None;
        }
        outcome
    }
}

/// Serves the admin listener until `stopping` turns true.
pub async fn serve(
    listener: std::net::TcpListener,
    sources: Arc<Sources>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "could not register the admin listener");
            return;
        }
    };
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut stopped = std::pin::pin!(async move {
        let _ = stopping.wait_for(|&s| s).await;
    });
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => return,
        };
        // At the limit, new admin connections are closed; the public listener is not touched.
        let Ok(place) = places.clone().try_acquire_owned() else {
            continue;
        };
        let sources = sources.clone();
        tokio::spawn(async move {
            let _place = place;
            let service = hyper::service::service_fn(move |req| {
                let sources = sources.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&sources, req).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                // One request per connection: an idle client cannot hold one of the few places.
                .keep_alive(false)
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "admin connection ended with an error");
            }
        });
    }
}

/// True when `authorization` is `Bearer TOKEN` with the configured token (compared in time
/// that does not depend on where they differ).
fn is_authorized(expected: &str, authorization: Option<&HeaderValue>) -> bool {
    let Some(given) = authorization.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, token)) = given.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let token = token.trim().as_bytes();
    let expected = expected.as_bytes();
    let mut differ = token.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        differ |= usize::from(token.get(i).copied().unwrap_or(0) ^ e);
    }
    differ == 0
}

async fn answer(sources: &Arc<Sources>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let is_head = req.method() == Method::HEAD;
    if let Some(token) = &sources.cfg.admin.token {
        if !is_authorized(token, req.headers().get(header::AUTHORIZATION)) {
            let mut r = crate::http::plain(
                StatusCode::UNAUTHORIZED,
                "This needs the admin token: Authorization: Bearer TOKEN.\n",
                is_head,
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"feedsvc admin\""),
            );
            return r;
        }
    }
    if req.method() != Method::GET && !is_head {
        let mut r = crate::http::plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed (GET, HEAD).\n",
            false,
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let page = match req.uri().path() {
        "/" => Page::Dashboard,
        "/metrics" => Page::Metrics,
        _ => return crate::http::plain(StatusCode::NOT_FOUND, "Not found.\n", is_head),
    };
    let owned = sources.clone();
    let made = tokio::task::spawn_blocking(move || render(&owned, page))
        .await
        .map_err(|e| Error::Internal {
            what: "the task rendering an admin page",
            source: Box::new(e),
        })
        .and_then(|made| made);
    match made {
        Ok((content_type, body)) => {
            let mut r = crate::http::plain(StatusCode::OK, body, is_head);
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if page == Page::Dashboard {
                r.headers_mut()
                    .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                r.headers_mut().insert(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                );
                // Its styles are inline: a page of its own, with no other source of anything.
                r.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                         frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                    ),
                );
            }
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering an admin page failed");
            crate::http::plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error; it has been logged.\n",
                is_head,
            )
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Dashboard,
    Metrics,
}

fn render(sources: &Sources, page: Page) -> Result<(&'static str, String)> {
    let now = chrono::Utc::now();
    let live = (sources.live)();
    match page {
        Page::Metrics => {
            let gathered = sources.with_store(|store| metrics::gather(store, &sources.cfg, now))?;
            Ok((
                metrics::CONTENT_TYPE,
                metrics::render(&sources.stats.metrics.totals(), &live, &gathered),
            ))
        }
        Page::Dashboard => {
            let (report, hub, recent) = sources.with_store(|store| {
                let today = crate::stats::day_of(now.timestamp_millis());
                let mut report = crate::stats::report::build(store, DASHBOARD_DAYS, today)?;
                report.skip_days_before_counting();
                let hub = match sources.cfg.websub.hub {
                    crate::config::Hub::Builtin => {
                        let all = store.subscriptions(now.timestamp())?;
                        Some(dashboard::HubHealth {
                            total: all.len(),
                            pending: all.iter().filter(|s| s.pending).count(),
                            failing: all.iter().filter(|s| s.failures > 0).count(),
                            subscriptions: all.into_iter().take(LISTED_SUBSCRIPTIONS).collect(),
                        })
                    }
                    _ => None,
                };
                use crate::store::articles::ArticleQueries;
                let recent = store
                    .latest(RECENT_PUBLISHES, 0)?
                    .into_iter()
                    .map(|a| dashboard::Publish {
                        url: crate::routes::Route::article(&a.slug).url(&sources.cfg),
                        published: a.published.at.to_rfc3339(),
                        title: a.title,
                    })
                    .collect();
                Ok((report, hub, recent))
            })?;
            let page = dashboard::render(&dashboard::Dashboard {
                site_title: &sources.cfg.site.title,
                site_url: &sources.cfg.site.base_url,
                now: now.timestamp(),
                stats_enabled: sources.stats.enabled(),
                report: &report,
                hub,
                recent,
            });
            Ok(("text/html; charset=utf-8", page))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_bearer_token_is_let_in() {
        let header = |v: &str| Some(HeaderValue::from_str(v).unwrap());
        assert!(is_authorized("s3cret", header("Bearer s3cret").as_ref()));
        assert!(is_authorized("s3cret", header("bearer s3cret").as_ref()));
        for wrong in [
            "Bearer s3cre",
            "Bearer s3crett",
            "Basic s3cret",
            "s3cret",
            "Bearer ",
        ] {
            assert!(!is_authorized("s3cret", header(wrong).as_ref()), "{wrong}");
        }
        assert!(!is_authorized("s3cret", None));
    }
}
