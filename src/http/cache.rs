//! The server's view of the published documents: a bounded in-memory cache in front of the
//! store. Every request checks for commits (three loads from SQLite's WAL index, and `PRAGMA
//! data_version` when they changed), so what a publish commits is what the very next request
//! sees. Documents are compressed here, once per version, on their first request.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use hyper::header::HeaderValue;

use super::respond::{http_date, Coding, Resource};
use crate::config::Config;
use crate::document::Document;
use crate::render::assets;
use crate::routes::{CacheControl, Freshness, Route};
use crate::store::walindex::WalIndex;
use crate::store::Store;
use crate::{Error, Result};

/// Memory the cache may hold, in bytes of bodies.
const BUDGET_BYTES: usize = 24 * 1024 * 1024;
/// Memory the cache may spend remembering paths that hold nothing (a path is at most
/// [`super::target::MAX_PATH_BYTES`]): a few hundred long ones, thousands of usual ones.
const MISS_BUDGET_BYTES: usize = 1024 * 1024;
/// What remembering one such path holds besides the path itself.
const MISS_BYTES: usize = 64;

/// Published documents, as resources ready to answer with.
pub struct Cache {
    /// The database's WAL-index header, read by every request to learn whether anything
    /// committed (`None` where it cannot be mapped: then every request asks SQLite).
    wal_index: Option<WalIndex>,
    /// The [`WalIndex::fingerprint`] the cache was last brought up to date with.
    seen: AtomicU64,
    monitor: Mutex<Monitor>,
    shared: Arc<Shared>,
    assets: HashMap<String, Arc<Resource>>,
    /// Lookups answered from memory and loaded from the store, one pair per server thread.
    tallies: Vec<Tally>,
}

/// One server thread's lookups, on a cache line of their own so threads never share one.
#[derive(Default)]
#[repr(align(128))]
struct Tally {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What the blocking loads share with the request path.
struct Shared {
    cfg: Config,
    policy: Policy,
    /// Reads (and renders what is rendered on request); held only for that, not while
    /// compressing.
    reader: Mutex<Store>,
    entries: RwLock<Entries>,
    /// One lock per path being loaded: requests that miss the same path together wait for the
    /// first, which loads and compresses it once; misses of other paths go on in parallel.
    in_flight: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// `Cache-Control` values by kind of document.
struct Policy {
    feed: HeaderValue,
    page: HeaderValue,
    redirect: HeaderValue,
    error: HeaderValue,
    immutable: HeaderValue,
}

/// The long-lived connection that reads what changed when something committed.
struct Monitor {
    store: Store,
    data_version: i64,
}

thread_local! {
    /// Which server thread this is (0 unless [`set_worker`] said otherwise).
    static WORKER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Tells the cache, and the counters kept per server thread, that this thread is server thread
/// `index` (of the `threads` passed to [`Cache::new`]).
pub fn set_worker(index: usize) {
    WORKER.with(|w| w.set(index));
}

/// The server thread this thread is (see [`set_worker`]).
pub fn worker() -> usize {
    WORKER.with(|w| w.get())
}

/// What the cache holds, for one store generation.
struct Entries {
    /// The store generation the entries are valid for.
    generation: i64,
    /// Documents by path, within [`BUDGET_BYTES`].
    documents: Bounded<Arc<Resource>>,
    /// Paths known to hold no document, within [`MISS_BUDGET_BYTES`]: kept apart so that
    /// requests for paths that name nothing, however many, never push a document out.
    misses: Bounded<()>,
    /// Paths of documents rendered on request (list pages, archives, sitemaps); any publish
    /// may change them.
    rendered_on_request: HashSet<String>,
}

impl Entries {
    fn new(generation: i64) -> Entries {
        Entries {
            generation,
            documents: Bounded::new(BUDGET_BYTES),
            misses: Bounded::new(MISS_BUDGET_BYTES),
            rendered_on_request: HashSet::new(),
        }
    }

    /// What the cache knows of `path`: `Some(None)` when it is known to hold nothing, `None`
    /// when it is not known.
    fn get(&self, path: &str) -> Option<Option<Arc<Resource>>> {
        if let Some(resource) = self.documents.get(path) {
            return Some(Some(resource.clone()));
        }
        self.misses.get(path).map(|()| None)
    }
}

/// Values by path, the oldest dropped first once their sizes (each with its path) pass a
/// budget.
struct Bounded<V> {
    budget: usize,
    map: HashMap<String, (V, usize)>,
    order: VecDeque<String>,
    bytes: usize,
}

impl<V> Bounded<V> {
    fn new(budget: usize) -> Bounded<V> {
        Bounded {
            budget,
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }

    fn get(&self, path: &str) -> Option<&V> {
        self.map.get(path).map(|(value, _)| value)
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    /// Keeps `value` at `path`; `size` is what it holds besides the path.
    fn insert(&mut self, path: String, value: V, size: usize) {
        let size = path.len() + size;
        if let Some((_, old)) = self.map.insert(path.clone(), (value, size)) {
            self.bytes -= old;
        } else {
            self.order.push_back(path);
        }
        self.bytes += size;
        while self.bytes > self.budget {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some((_, old)) = self.map.remove(&oldest) {
                self.bytes -= old;
            }
        }
    }

    /// Removes the entries at `paths`; one pass over the eviction order, however many.
    fn remove_all<'a>(&mut self, paths: impl IntoIterator<Item = &'a String>) {
        let mut removed = false;
        for path in paths {
            if let Some((_, old)) = self.map.remove(path) {
                self.bytes -= old;
                removed = true;
            }
        }
        if removed {
            let map = &self.map;
            self.order.retain(|p| map.contains_key(p));
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.bytes = 0;
    }
}

impl Cache {
    /// Builds the cache over two connections: `monitor` watches for commits, `reader` loads.
    /// `threads` is the number of server threads that will ask it for documents.
    pub fn new(cfg: &Config, monitor: Store, reader: Store, threads: usize) -> Result<Cache> {
        let header = |text: String| {
            HeaderValue::from_str(&text).map_err(|e| Error::Render {
                what: "Cache-Control".to_string(),
                reason: e.to_string(),
            })
        };
        let texts = CacheControl::of(cfg);
        let policy = Policy {
            feed: header(texts.feed)?,
            page: header(texts.page)?,
            redirect: header(texts.redirect)?,
            error: header(texts.error)?,
            immutable: header(texts.immutable)?,
        };
        // The fingerprint is read before the version, so no commit falls between the two
        // unnoticed: one that lands after it changes the fingerprint again.
        let wal_index = WalIndex::open(monitor.path());
        if wal_index.is_none() {
            tracing::warn!(
                database = %monitor.path().display(),
                "cannot map the database's WAL index (its -shm file); every request will ask \
                 SQLite for changes"
            );
        }
        let seen = wal_index
            .as_ref()
            .and_then(WalIndex::fingerprint)
            .unwrap_or(0);
        let data_version = monitor.data_version()?;
        let generation = monitor.generation()?;
        let assets = assets::documents()
            .into_iter()
            .map(|doc| {
                let path = format!("{}{}", cfg.base_path(), doc.path.trim_start_matches('/'));
                let mut resource = to_resource(&policy, doc, Freshness::Immutable);
                resource.family = crate::routes::Family::Asset;
                (path, Arc::new(resource))
            })
            .collect();
        Ok(Cache {
            wal_index,
            seen: AtomicU64::new(seen),
            monitor: Mutex::new(Monitor {
                store: monitor,
                data_version,
            }),
            shared: Arc::new(Shared {
                cfg: cfg.clone(),
                policy,
                reader: Mutex::new(reader),
                entries: RwLock::new(Entries::new(generation)),
                in_flight: Mutex::new(HashMap::new()),
            }),
            tallies: (0..threads.max(1)).map(|_| Tally::default()).collect(),
            assets,
        })
    }

    /// Lookups answered from memory, and lookups that went to the store, since the start.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        use Ordering::Relaxed;
        self.tallies.iter().fold((0, 0), |(h, m), t| {
            (h + t.hits.load(Relaxed), m + t.misses.load(Relaxed))
        })
    }

    /// The resource at `path`, or `None` when nothing is published there.
    pub async fn lookup(&self, path: &str) -> Result<Option<Arc<Resource>>> {
        use Ordering::Relaxed;
        let tally = &self.tallies[worker() % self.tallies.len()];
        if let Some(asset) = self.assets.get(path) {
            tally.hits.fetch_add(1, Relaxed);
            return Ok(Some(asset.clone()));
        }
        self.refresh()?;
        if let Some(known) = self.shared.entries.read().map_err(poisoned)?.get(path) {
            tally.hits.fetch_add(1, Relaxed);
            return Ok(known);
        }
        tally.misses.fetch_add(1, Relaxed);
        let shared = self.shared.clone();
        let owned = path.to_string();
        tokio::task::spawn_blocking(move || shared.load(&owned))
            .await
            .map_err(|e| Error::Internal {
                what: "the task loading a document",
                source: Box::new(e),
            })?
    }

    /// Checks, now and then, that the mapped WAL index is still the database's: a `-shm` file
    /// removed or replaced by hand while the server runs would otherwise hide every later
    /// commit. When it is not, every request asks SQLite from then on (and the server says so).
    pub fn check_wal_index(&self) {
        if self
            .wal_index
            .as_ref()
            .is_some_and(WalIndex::notice_replacement)
        {
            tracing::warn!(
                database = %self.shared.cfg.storage.database.display(),
                "the database's -shm file was removed or replaced while serving; every request \
                 now asks SQLite for changes (restart the server to read it again)"
            );
        }
    }

    /// Drops entries that changed since the cache's generation. Runs on every request, so it
    /// first reads whether anything committed at all: the WAL index's fingerprint, memory
    /// shared with every writer, not a system call. Only when it moved does the request ask
    /// SQLite what changed.
    fn refresh(&self) -> Result<()> {
        let fingerprint = self.wal_index.as_ref().and_then(WalIndex::fingerprint);
        if fingerprint.is_some_and(|now| now == self.seen.load(Ordering::Acquire)) {
            return Ok(());
        }
        let mut monitor = self.monitor.lock().map_err(poisoned)?;
        // Recorded once the commits it stands for are dealt with; read before the version,
        // so a commit landing meanwhile leaves it stale and the next request looks again.
        let dealt_with = |seen: &AtomicU64| {
            if let Some(now) = fingerprint {
                seen.store(now, Ordering::Release);
            }
        };
        let version = monitor.store.data_version()?;
        if version == monitor.data_version {
            dealt_with(&self.seen);
            return Ok(());
        }
        let known = self.shared.entries.read().map_err(poisoned)?.generation;
        let (generation, paths) = monitor.store.changed_since(known)?;
        if generation == known {
            // A commit that published nothing (the counting's flush, a WebSub subscription):
            // every cached document and page stands.
            monitor.data_version = version;
            dealt_with(&self.seen);
            return Ok(());
        }
        let mut entries = self.shared.entries.write().map_err(poisoned)?;
        if paths.len() > entries.documents.len() {
            entries.documents.clear();
        } else {
            entries.documents.remove_all(&paths);
        }
        // Paths that held nothing may hold documents now, and list pages may have shifted.
        entries.misses.clear();
        let on_request = std::mem::take(&mut entries.rendered_on_request);
        entries.documents.remove_all(&on_request);
        entries.generation = generation;
        monitor.data_version = version;
        drop(entries);
        dealt_with(&self.seen);
        Ok(())
    }
}

impl Shared {
    /// Loads the document at `path` (stored, or a list page, archive or sitemap rendered now;
    /// `path` may also be the key of a feed's browser view), compresses it and caches it.
    fn load(&self, path: &str) -> Result<Option<Arc<Resource>>> {
        let flight = self
            .in_flight
            .lock()
            .map_err(poisoned)?
            .entry(path.to_string())
            .or_default()
            .clone();
        let outcome = {
            let _loading = flight.lock().map_err(poisoned)?;
            self.load_once(path)
        };
        let mut in_flight = self.in_flight.lock().map_err(poisoned)?;
        // The last of the requests that waited for this path removes its lock.
        if Arc::strong_count(&flight) == 2 {
            in_flight.remove(path);
        }
        outcome
    }

    fn load_once(&self, path: &str) -> Result<Option<Arc<Resource>>> {
        if let Some(known) = self.entries.read().map_err(poisoned)?.get(path) {
            return Ok(known);
        }
        let (generation, doc, on_request) = {
            let store = self.reader.lock().map_err(poisoned)?;
            let (generation, stored) = store.document(path)?;
            match stored {
                Some(doc) => (generation, Some(doc), false),
                None => {
                    let mut doc = crate::ondemand::list_page(&store, &self.cfg, path)?;
                    if doc.is_none() {
                        doc = crate::ondemand::archive_document(&*store, &self.cfg, path)?;
                    }
                    let on_request = doc.is_some();
                    (generation, doc, on_request)
                }
            }
        };
        let resource = doc.map(|d| {
            let freshness = freshness_of(&self.cfg, &d.path);
            let link = hub_link_of(&self.cfg, &d.path);
            let family = family_of(&self.cfg, &d.path);
            let mut resource = to_resource(&self.policy, d, freshness);
            resource.link = link;
            resource.family = family;
            Arc::new(resource)
        });
        let mut entries = self.entries.write().map_err(poisoned)?;
        // Only cache what is at least as new as what the cache knows; an older snapshot could
        // otherwise outlive the refresh that invalidated it.
        if generation >= entries.generation {
            match &resource {
                Some(found) => {
                    entries
                        .documents
                        .insert(path.to_string(), found.clone(), found.size());
                    if on_request {
                        entries.rendered_on_request.insert(path.to_string());
                    }
                }
                None => entries.misses.insert(path.to_string(), (), MISS_BYTES),
            }
        }
        Ok(resource)
    }
}

fn poisoned<T>(e: std::sync::PoisonError<T>) -> Error {
    Error::Internal {
        what: "the document cache",
        source: e.to_string().into(),
    }
}

/// Builds the resource to answer with, compressing the body (the one place that happens).
/// How long the document at `path` may be kept, from its route. A feed's browser view stands
/// at its feed's URL and changes when the feed does: the feed's freshness, so that the two
/// representations of one URL age alike.
fn freshness_of(cfg: &Config, path: &str) -> Freshness {
    if crate::views::is_browser_view_key(path) {
        return Freshness::Feed;
    }
    Route::parse(cfg, path).map_or(Freshness::Page, |route| route.kind().freshness)
}

/// The family the metrics count requests for the document at `path` in; a feed's browser view
/// is its feed's.
fn family_of(cfg: &Config, path: &str) -> crate::routes::Family {
    if crate::views::is_browser_view_key(path) {
        return crate::routes::Family::Feed;
    }
    Route::parse(cfg, path).map_or(crate::routes::Family::Other, |route| route.family())
}

/// The `Link` header of a subscription feed (site or tag feed; not an archive) when a hub is
/// configured: `<hub>; rel="hub", <feed URL>; rel="self"` (WebSub §4).
fn hub_link_of(cfg: &Config, path: &str) -> Option<HeaderValue> {
    let hub = cfg.hub_url()?;
    let route @ Route::Feed { .. } = Route::parse(cfg, path)? else {
        return None;
    };
    HeaderValue::from_str(&crate::hub::discovery_link(&hub, &route.url(cfg))).ok()
}

/// `freshness` follows from the document's route (see [`freshness_of`]).
fn to_resource(policy: &Policy, doc: Document, freshness: Freshness) -> Resource {
    let quoted = |suffix: &str| {
        HeaderValue::from_str(&format!("\"{}{suffix}\"", doc.etag))
            .unwrap_or(HeaderValue::from_static("\"0\""))
    };
    let compressed = crate::compress::compress(&doc.body);
    if freshness != Freshness::Immutable {
        // The one sign that concurrent first requests for a document share one compression.
        // A size of 0 means no such variant is kept (too small to gain, or no gain).
        let size = |variant: &Option<Vec<u8>>| variant.as_ref().map_or(0, Vec::len);
        tracing::debug!(
            path = %doc.path,
            identity = doc.body.len(),
            gzip = size(&compressed.gzip),
            br = size(&compressed.br),
            "compressed"
        );
    }
    let identity = quoted("");
    let (br, gzip) = (quoted("-br"), quoted("-gz"));
    let is_browser_view = crate::views::is_browser_view_key(&doc.path);
    let cache_control = match doc.status {
        200 => match freshness {
            Freshness::Feed => policy.feed.clone(),
            Freshness::Page => policy.page.clone(),
            Freshness::Immutable => policy.immutable.clone(),
        },
        301 => policy.redirect.clone(),
        _ => policy.error.clone(),
    };
    Resource {
        status: doc.status,
        content_type: HeaderValue::from_str(&doc.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
        location: doc
            .location
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok()),
        cache_control,
        last_modified: doc.last_modified,
        last_modified_header: (doc.last_modified > 0)
            .then(|| HeaderValue::from_str(&http_date(doc.last_modified)).ok())
            .flatten(),
        has_browser_view: crate::views::has_browser_view(&doc),
        is_browser_view,
        link: None,
        family: crate::routes::Family::Other,
        variants: [
            Some((Coding::Identity, identity, Bytes::from(doc.body))),
            compressed.br.map(|b| (Coding::Brotli, br, Bytes::from(b))),
            compressed
                .gzip
                .map(|g| (Coding::Gzip, gzip, Bytes::from(g))),
        ]
        .into_iter()
        .flatten()
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock left poisoned by a panic is an internal failure, not a rendering one.
    #[test]
    fn a_poisoned_lock_is_an_internal_error() {
        let lock = Arc::new(Mutex::new(()));
        let held = lock.clone();
        let _ = std::thread::spawn(move || {
            let _guard = held.lock();
            panic!("a thread dies holding the lock");
        })
        .join();
        let error = lock
            .lock()
            .map_err(poisoned)
            .expect_err("the lock is poisoned");
        assert!(matches!(error, Error::Internal { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("internal error in the document cache"),
            "{error}"
        );
    }

    fn resource(body: &'static [u8]) -> Arc<Resource> {
        Arc::new(Resource {
            status: 200,
            content_type: HeaderValue::from_static("text/html"),
            location: None,
            cache_control: HeaderValue::from_static("max-age=60"),
            last_modified: 0,
            last_modified_header: None,
            variants: vec![(
                Coding::Identity,
                HeaderValue::from_static("\"e\""),
                Bytes::from_static(body),
            )],
            has_browser_view: false,
            is_browser_view: false,
            link: None,
            family: crate::routes::Family::Page,
        })
    }

    /// Paths that name nothing, however many and however long, never push a document out;
    /// the newest of them are still remembered.
    #[test]
    fn misses_never_displace_documents() {
        let mut entries = Entries::new(0);
        entries
            .documents
            .insert("/atom.xml".into(), resource(b"<feed/>"), 300);
        let long = "x".repeat(super::super::target::MAX_PATH_BYTES - 10);
        for n in 0..(4 * BUDGET_BYTES / long.len()) {
            entries
                .misses
                .insert(format!("/{n}/{long}"), (), MISS_BYTES);
        }
        assert!(matches!(entries.get("/atom.xml"), Some(Some(_))));
        assert!(entries.misses.bytes <= MISS_BUDGET_BYTES);
        let last = format!("/{}/{long}", 4 * BUDGET_BYTES / long.len() - 1);
        assert!(
            matches!(entries.get(&last), Some(None)),
            "the newest miss is known"
        );
        assert!(entries.get("/0/x").is_none(), "never seen");
    }

    /// Documents past the budget go oldest first, and the byte count follows.
    #[test]
    fn documents_go_oldest_first() {
        let mut bounded = Bounded::new(100);
        bounded.insert("/a".into(), 1, 40);
        bounded.insert("/b".into(), 2, 40);
        assert_eq!((bounded.len(), bounded.bytes), (2, 84));
        bounded.insert("/c".into(), 3, 40);
        assert_eq!(bounded.get("/a"), None);
        assert_eq!((bounded.get("/b"), bounded.get("/c")), (Some(&2), Some(&3)));
        bounded.insert("/b".into(), 4, 10);
        assert_eq!((bounded.get("/b"), bounded.bytes), (Some(&4), 54));
        bounded.remove_all(&["/c".to_string()]);
        assert_eq!(
            (bounded.len(), bounded.bytes, bounded.order.len()),
            (1, 12, 1)
        );
    }
}
