//! `feedsvc serve`: hyper on tokio, serving the documents the publisher stored (and the few
//! rendered on request by `ondemand`: deeper list pages, archives, sitemaps). The HTTP layer only routes,
//! negotiates and sets headers; the cache loads, compresses and keeps the bytes.

pub mod cache;
pub mod conns;
pub mod respond;
pub mod target;
mod websub;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;
use crate::store::Store;
use crate::{Error, Result};
use cache::Cache;
use target::{BadTarget, Target};

/// How long responses in flight may take to finish after SIGTERM or SIGINT.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Pause after a failed accept (out of file descriptors and the like), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Largest buffer a connection reads a request into.
const MAX_BUFFER_BYTES: usize = 64 * 1024;
/// Largest request head accepted (431 beyond).
const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Most header fields accepted in a request.
const MAX_HEADERS: usize = 100;

/// Longest the scheduler sleeps before looking again for newly scheduled articles.
const RECHECK: Duration = Duration::from_secs(2);
/// How long the scheduler waits after a failed release before trying again.
const SCHEDULER_RETRY: Duration = Duration::from_secs(10);

/// Everything a request handler needs.
pub struct State {
    cfg: Config,
    cache: Cache,
    /// The WebSub dispatcher, when a hub is configured.
    hub: Option<crate::hub::Hub>,
    /// The path of the built-in hub (`/websub`).
    hub_path: String,
    /// Who polls the feeds, and the counters of `/metrics`.
    stats: Arc<crate::stats::Stats>,
}

/// Serves until SIGINT or SIGTERM, then lets in-flight responses finish (up to
/// [`SHUTDOWN_GRACE`]).
///
/// Prints `feedsvc listening on http://ADDR/` on stdout once the socket is bound.
///
/// One single-threaded runtime per core (`TOKIO_WORKER_THREADS` overrides the count), the way
/// nginx runs one event loop per worker: the first accepts and deals connections out in turn,
/// and each connection lives on one thread for its whole life. A request then never wakes
/// another thread or waits on a shared run queue, which a work-stealing runtime does for every
/// response. Blocking work (loading and compressing a document) goes to each runtime's pool.
pub fn serve(
    cfg: Config,
    listener: std::net::TcpListener,
    admin: Option<std::net::TcpListener>,
) -> Result<()> {
    let count = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the async runtime", e))
    };
    let main = runtime()?;
    let stats = Arc::new(crate::stats::Stats::new(&cfg, count));
    let flusher = crate::stats::Flusher::start(&cfg, stats.clone())?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = vec![main.handle().clone()];
    let mut threads = Vec::new();
    for index in 1..count {
        let worker = runtime()?;
        workers.push(worker.handle().clone());
        let mut stopped = stopped.clone();
        let thread = std::thread::Builder::new()
            .name(format!("feedsvc-http-{index}"))
            .spawn(move || {
                cache::set_worker(index);
                worker.block_on(async move {
                    let _ = stopped.wait_for(|&s| s).await;
                });
            })
            .map_err(|e| Error::io("starting a server thread", e))?;
        threads.push(thread);
    }
    let outcome = main.block_on(run(cfg, listener, admin, workers, stats));
    let _ = stop.send(true);
    for thread in threads {
        let _ = thread.join();
    }
    // Every response has been counted: write the last counts.
    flusher.finish();
    outcome
}

/// Binds the listening socket; done before anything else so a bad address writes nothing.
pub fn bind(listen: &str) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

async fn run(
    cfg: Config,
    listener: std::net::TcpListener,
    admin: Option<std::net::TcpListener>,
    workers: Vec<tokio::runtime::Handle>,
    stats: Arc<crate::stats::Stats>,
) -> Result<()> {
    let listener = TcpListener::from_std(listener)
        .map_err(|e| Error::io("registering the listening socket", e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", e))?;
    let monitor = Store::open(&cfg.storage.database, cfg.storage.busy_timeout, false)?;
    let reader = Store::open(&cfg.storage.database, cfg.storage.busy_timeout, false)?;
    let hub = crate::hub::Hub::start(&cfg)?;
    let state = Arc::new(State {
        cache: Cache::new(&cfg, monitor, reader, workers.len())?,
        hub,
        hub_path: crate::routes::Route::Hub.path(&cfg),
        stats,
        cfg,
    });
    println!("feedsvc listening on http://{local}/");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(address = %local, database = %state.cfg.storage.database.display(), "serving");

    tokio::spawn(schedule(state.clone()));

    let (max_connections, room) =
        connection_limit(state.cfg.server.max_connections, raise_open_file_limit());
    let places = Places {
        permits: Arc::new(Semaphore::new(max_connections)),
        waiting: Arc::new(AtomicUsize::new(0)),
        room,
        registry: Arc::new(std::sync::Mutex::new(conns::Registry::default())),
    };
    let mut line = conns::WaitingLine::default();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    if let Some(admin) = admin {
        start_admin(&state, admin, &places, max_connections, stopping.clone())?;
    }
    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut next_worker = 0usize;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The socket moves to the worker's own reactor.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, %peer, "could not hand a connection over");
                continue;
            }
        };
        let worker = &workers[next_worker % workers.len()];
        next_worker = next_worker.wrapping_add(1);
        // A place, or else a seat in the waiting room.
        let (place, activity) = match places.permits.clone().try_acquire_owned() {
            Ok(permit) => (Place::Seated(permit), places.register(true)),
            Err(_) => {
                // When the room is full, the connection that has waited longest without
                // sending anything gives its seat up to the newcomer and closes. When none
                // can (twice the room is waiting for a place, each having sent its request),
                // a new connection is closed at once.
                let waiting = places.waiting.load(Ordering::Acquire);
                if waiting >= places.room && line.send_away_oldest() {
                    places.waiting.fetch_sub(1, Ordering::AcqRel);
                } else if waiting >= 2 * places.room {
                    continue;
                }
                let activity = places.register(false);
                line.push(activity.clone());
                let seat = WaitingSeat::take(&places.waiting, activity.clone());
                (Place::Waiting(seat), activity)
            }
        };
        let conn = Connection {
            state: state.clone(),
            peer,
            activity,
        };
        worker.spawn(conn.run(stream, place, places.clone()));
    }
    drop(listener);
    tracing::info!("shutting down: finishing responses in flight");
    let _ = stop.send(true);
    places.lock().stop_all();
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, places.permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "some connections were still open after {} s",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}

/// Starts the admin listener (dashboard and `/metrics`) beside the public one, and prints its
/// address.
fn start_admin(
    state: &Arc<State>,
    listener: std::net::TcpListener,
    places: &Places,
    max_connections: usize,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("reading the admin listener's address", e))?;
    let (seen, places) = (state.clone(), places.clone());
    let live = move || {
        let (cache_hits, cache_misses) = seen.cache.hits_and_misses();
        let seated = max_connections.saturating_sub(places.permits.available_permits());
        crate::admin::Live {
            cache_hits,
            cache_misses,
            open_connections: (seated + places.waiting.load(Ordering::Relaxed)) as u64,
            websub: seen.hub.as_ref().map(crate::hub::Hub::delivery_counts),
        }
    };
    let sources =
        crate::admin::Sources::new(state.cfg.clone(), state.stats.clone(), Box::new(live));
    tokio::spawn(crate::admin::serve(listener, Arc::new(sources), stopping));
    println!("feedsvc admin listening on http://{local}/");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(address = %local, "admin listener (dashboard and /metrics)");
    Ok(())
}

/// How long a new connection that has sent its request waits at the limit for an idle one to
/// close.
const PLACE_WAIT: Duration = Duration::from_millis(1000);
/// How long a connection waiting for a place gives the idle connection it asked to close,
/// before it asks another.
const PLACE_ROUND: Duration = Duration::from_millis(200);

/// The places of `server.max_connections`, and the waiting room beside them.
#[derive(Clone)]
struct Places {
    permits: Arc<Semaphore>,
    /// Connections in the waiting room.
    waiting: Arc<AtomicUsize>,
    /// Size of the waiting room.
    room: usize,
    registry: Arc<std::sync::Mutex<conns::Registry>>,
}

/// A connection's seat in the waiting room, given up when dropped, unless the connection was
/// sent away (its seat went to the newcomer that sent it away).
struct WaitingSeat(Arc<AtomicUsize>, Arc<conns::Activity>);

impl WaitingSeat {
    fn take(waiting: &Arc<AtomicUsize>, activity: Arc<conns::Activity>) -> WaitingSeat {
        waiting.fetch_add(1, Ordering::AcqRel);
        WaitingSeat(waiting.clone(), activity)
    }
}

impl Drop for WaitingSeat {
    fn drop(&mut self) {
        if self.1.leave_waiting() {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Where a new connection stands.
enum Place {
    /// It holds one of the `server.max_connections` places.
    Seated(OwnedSemaphorePermit),
    /// It arrived at the limit: once it sends its first byte, an idle connection is closed
    /// to make room for it. Until then it holds no place, so that connections that send
    /// nothing cannot queue ahead of those that do.
    Waiting(WaitingSeat),
}

impl Places {
    fn lock(&self) -> std::sync::MutexGuard<'_, conns::Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(&self, seated: bool) -> Arc<conns::Activity> {
        self.lock().register(seated)
    }

    /// A place for a connection that has sent its first byte: a free one, or one an idle
    /// connection gives up.
    ///
    /// The connection queues for a place before any is freed for it, so that the place an idle
    /// connection gives up comes to it and not to a newcomer the accept loop seats meanwhile
    /// (the semaphore hands released places to those queued first). Should a place still not
    /// come (the connection asked had just started a request), another idle one is asked, each
    /// [`PLACE_ROUND`], until [`PLACE_WAIT`] has passed.
    async fn make_room(&self) -> Option<OwnedSemaphorePermit> {
        use std::future::Future;
        use std::task::Poll;
        let acquire = self.permits.clone().acquire_owned();
        let mut acquire = std::pin::pin!(acquire);
        // One poll takes a free place or joins the queue.
        let first = std::future::poll_fn(|cx| Poll::Ready(acquire.as_mut().poll(cx))).await;
        if let Poll::Ready(taken) = first {
            return taken.ok();
        }
        let deadline = tokio::time::Instant::now() + PLACE_WAIT;
        loop {
            let asked = self.lock().shed_idlest(1);
            tracing::debug!(
                asked,
                "at the connection limit: closing the idlest connection"
            );
            let round = (tokio::time::Instant::now() + PLACE_ROUND).min(deadline);
            match tokio::time::timeout_at(round, acquire.as_mut()).await {
                Ok(taken) => return taken.ok(),
                Err(_) if round >= deadline => return None,
                Err(_) => {}
            }
        }
    }
}

/// File descriptors kept for everything but client connections: the database, the listening
/// socket, logs.
const RESERVED_FDS: u64 = 64;

/// The size of the waiting room beside `max_connections` places.
fn waiting_room(max_connections: usize) -> usize {
    (max_connections / 4).clamp(16, 4096)
}

/// Raises the soft limit on open files to the hard limit, as a server that holds thousands of
/// sockets needs; returns the limit now in force (`None`: unlimited).
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!(error = %e, "could not raise the limit on open files");
        }
        limit = getrlimit(Resource::Nofile);
    }
    limit.current
}

/// `server.max_connections`, lowered so that its places, twice its waiting room and
/// [`RESERVED_FDS`] fit in `open_files`; and the size of the waiting room.
fn connection_limit(configured: usize, open_files: Option<u64>) -> (usize, usize) {
    let needed = |places: usize| (places + 2 * waiting_room(places)) as u64 + RESERVED_FDS;
    let Some(open_files) = open_files.filter(|&n| needed(configured) > n) else {
        return (configured, waiting_room(configured));
    };
    // Places and twice a room of a quarter of them: one and a half file each.
    let mut allowed = usize::try_from(open_files.saturating_sub(RESERVED_FDS) * 2 / 3)
        .unwrap_or(usize::MAX)
        .min(configured);
    // The room's least size can still overflow a tiny budget.
    while allowed > 1 && needed(allowed) > open_files {
        allowed -= 1;
    }
    let allowed = allowed.max(1);
    tracing::warn!(
        configured,
        allowed,
        open_files,
        "server.max_connections is more than the limit on open files allows; lowered"
    );
    (allowed, waiting_room(allowed))
}

/// One client connection, from its first byte to its close.
struct Connection {
    state: Arc<State>,
    peer: SocketAddr,
    activity: Arc<conns::Activity>,
}

impl Connection {
    async fn run(self, stream: std::net::TcpStream, place: Place, places: Places) {
        let _closed = conns::ClosedOnDrop(self.activity.clone());
        let peer = self.peer;
        let stream = match tokio::net::TcpStream::from_std(stream) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, %peer, "could not register a connection");
                return;
            }
        };
        // A connection that has sent nothing has a short deadline: holding sockets open is
        // the cheapest way to crowd readers out.
        if !self.first_byte(&stream).await {
            return;
        }
        let permit = match place {
            Place::Seated(permit) => permit,
            Place::Waiting(seat) => match places.make_room().await {
                Some(permit) => {
                    drop(seat);
                    self.activity.seat();
                    permit
                }
                // Say so and when to come back, rather than leave the client waiting. The
                // seat is kept until then, so refusals count against the waiting room.
                // Boxed: its read buffer would otherwise be part of every connection's task.
                None => return Box::pin(refuse_busy(stream)).await,
            },
        };
        self.serve(stream, permit).await;
    }

    /// Waits for the client's first byte, up to `server.first_byte_timeout_secs`; false if
    /// none came, the connection closed, or it was asked to close.
    async fn first_byte(&self, stream: &tokio::net::TcpStream) -> bool {
        let deadline = self.state.cfg.server.first_byte_timeout;
        let mut byte = [0u8; 1];
        tokio::select! {
            peeked = tokio::time::timeout(deadline, stream.peek(&mut byte)) => {
                // False too when sent away from the waiting room just before the byte came.
                matches!(peeked, Ok(Ok(n)) if n > 0) && self.activity.spoke()
            }
            _ = self.activity.close_requested() => false,
        }
    }

    async fn serve(self, stream: tokio::net::TcpStream, permit: OwnedSemaphorePermit) {
        let _permit = permit;
        let peer = self.peer;
        let state = self.state.clone();
        let activity = self.activity.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            let answering = activity.answering();
            async move {
                let response = handle(&state, req, peer).await;
                Ok::<_, Infallible>(response.map(|body| conns::TrackedBody::new(body, answering)))
            }
        });
        let io = TokioIo::new(conns::Tracked::new(stream, self.activity.clone()));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.state.cfg.server.header_timeout)
            .keep_alive(true)
            // A client may send its request and then close its side while it waits.
            .half_close(true)
            .max_buf_size(MAX_BUFFER_BYTES)
            .max_header_size(MAX_HEADER_BYTES)
            .max_headers(MAX_HEADERS)
            .serve_connection(io, service);
        let mut conn = std::pin::pin!(conn);
        // The connection, closed early when asked to: at once when idle and asked to make
        // room, after the answer in progress otherwise (and at shutdown).
        let mut closing = false;
        let ended = std::future::poll_fn(|cx| {
            if !closing {
                match self.activity.poll_close_request(cx) {
                    None => {}
                    Some(conns::CloseRequest::MakeRoom) if self.activity.is_idle() => {
                        tracing::debug!(%peer, "closed an idle connection to make room");
                        return std::task::Poll::Ready(Ok(()));
                    }
                    Some(_) => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            std::future::Future::poll(conn.as_mut(), cx)
        })
        .await;
        if let Err(e) = ended {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
    }
}

/// How long a client refused at the connection limit is asked to wait, in seconds.
const BUSY_RETRY_AFTER_SECS: u64 = 2;

/// Longest a refusal may take (its write, and reading what the client sent meanwhile).
const REFUSAL_TIME_LIMIT: Duration = Duration::from_secs(2);

/// Answers a connection beyond `server.max_connections`, when no idle one closed to make room, with 503 and `Retry-After`, then closes
/// it. What the client sent is read and discarded before the close, so the kernel does not
/// reset the connection and lose the answer.
async fn refuse_busy(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BODY: &str = "The server is at its connection limit; try again shortly.\n";
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ndate: {}\r\nretry-after: {BUSY_RETRY_AFTER_SECS}\r\n\
         content-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n",
        respond::http_date(chrono::Utc::now().timestamp()),
        BODY.len()
    );
    let _ = tokio::time::timeout(REFUSAL_TIME_LIMIT, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(BODY.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// Renders the whole site again if this version or the configuration changed since the last
/// publish (while the documents already stored are being served), then publishes scheduled
/// articles on time: sleeps until the next one is due (checking at least every few seconds for
/// newly scheduled ones), then releases it.
async fn schedule(state: Arc<State>) {
    let cfg = state.cfg.clone();
    let mut writer: Option<Store> = None;
    let mut refreshed = false;
    loop {
        let cfg2 = cfg.clone();
        let taken = writer.take();
        let outcome =
            tokio::task::spawn_blocking(move || -> (Option<Store>, bool, Result<Option<i64>>) {
                let mut store = match taken {
                    Some(s) => s,
                    None => {
                        match Store::open(&cfg2.storage.database, cfg2.storage.busy_timeout, false)
                        {
                            Ok(s) => s,
                            Err(e) => return (None, false, Err(e)),
                        }
                    }
                };
                let now = chrono::Utc::now();
                if !refreshed {
                    match crate::publish::refresh_if_stale(&mut store, &cfg2, now) {
                        Ok(true) => tracing::info!(
                            "rendered the whole site again (new version or configuration)"
                        ),
                        Ok(false) => {}
                        Err(e) => return (Some(store), false, Err(e)),
                    }
                }
                // Publishes leave the WAL to grow; keep it short here, off the publish path
                // (unless Litestream checkpoints: `storage.checkpoints`).
                if cfg2.storage.checkpoints == crate::config::Checkpoints::Feedsvc {
                    if let Err(e) = store.checkpoint() {
                        tracing::debug!(error = %e, "checkpoint skipped");
                    }
                }
                let result =
                    crate::publish::release_due(&mut store, &cfg2, now).and_then(|released| {
                        if released > 0 {
                            tracing::info!(released, "published scheduled articles");
                        }
                        use crate::store::articles::ArticleQueries;
                        store.next_scheduled()
                    });
                (Some(store), true, result)
            })
            .await;
        let wait = match outcome {
            Ok((store, done, Ok(next))) => {
                writer = store;
                refreshed |= done;
                match next {
                    Some(at) => {
                        let now = chrono::Utc::now();
                        let millis = (at * 1000 - now.timestamp_millis()).max(0) as u64;
                        Duration::from_millis(millis).min(RECHECK)
                    }
                    None => RECHECK,
                }
            }
            Ok((store, done, Err(e))) => {
                writer = store;
                refreshed |= done;
                tracing::error!(error = %e, "publishing scheduled articles failed");
                SCHEDULER_RETRY
            }
            Err(e) => {
                tracing::error!(error = %e, "the scheduler task failed");
                SCHEDULER_RETRY
            }
        };
        state.cache.check_wal_index();
        tokio::time::sleep(wait).await;
    }
}

/// Answers one request and writes its access-log line.
async fn handle(state: &State, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    // Fields are gathered only when the line is wanted: under load the log is usually off.
    let logged = tracing::enabled!(target: "feedsvc::access", tracing::Level::INFO).then(|| {
        let started = Instant::now();
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        (
            req.method().clone(),
            req.uri().path().to_string(),
            user_agent,
            started,
        )
    });
    let mut served = Served::default();
    let response = if req.uri().path() == state.hub_path && check_host(&req).is_ok() {
        served.family = crate::routes::Family::Hub;
        // Boxed: hyper keeps room for this future in every connection, idle ones included,
        // and the hub's is the largest of a request's.
        Box::pin(websub::answer(state, req, peer)).await
    } else {
        let response = answer(state, &req, peer, &mut served).await;
        count(state, &req, peer, &served, &response);
        response
    };
    if served.family == crate::routes::Family::Hub {
        state.stats.metrics.count(
            served.family,
            response.status().as_u16(),
            body_bytes(&response),
        );
    }
    if let Some((method, path, user_agent, started)) = logged {
        tracing::info!(
            target: "feedsvc::access",
            %peer,
            %method,
            %path,
            status = response.status().as_u16(),
            bytes = %response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-"),
            micros = started.elapsed().as_micros() as u64,
            %user_agent,
        );
    }
    response
}

/// What the counting needs to know of an answer besides the response.
struct Served {
    /// The family of the document answered (`Other` for refusals and 404s).
    family: crate::routes::Family,
    /// The subscription feed's path, when one was answered (or refused with 429).
    feed: Option<String>,
    /// Whether a browser was answered with the feed's browser view.
    browser: bool,
}

impl Default for Served {
    fn default() -> Self {
        Served {
            family: crate::routes::Family::Other,
            feed: None,
            browser: false,
        }
    }
}

/// Body bytes of a response (0 for HEAD and 304).
fn body_bytes(response: &Response<Full<Bytes>>) -> u64 {
    use hyper::body::Body;
    response.body().size_hint().exact().unwrap_or(0)
}

/// Whether a request carries a validator (`If-None-Match` or `If-Modified-Since`).
fn is_conditional(req: &Request<Incoming>) -> bool {
    req.headers().contains_key(header::IF_NONE_MATCH)
        || req.headers().contains_key(header::IF_MODIFIED_SINCE)
}

fn user_agent(req: &Request<Incoming>) -> &str {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Adds an answer to the metrics, and a subscription feed's to the counting of its pollers.
fn count(
    state: &State,
    req: &Request<Incoming>,
    peer: SocketAddr,
    served: &Served,
    response: &Response<Full<Bytes>>,
) {
    let status = response.status().as_u16();
    let bytes = body_bytes(response);
    state.stats.metrics.count(served.family, status, bytes);
    if let Some(path) = &served.feed {
        state.stats.record(&crate::stats::Poll {
            path,
            peer: peer.ip(),
            user_agent: user_agent(req),
            conditional: is_conditional(req),
            browser: served.browser,
            status,
            bytes,
        });
    }
}

/// The answer of `server.min_poll_secs` to a poller that fetched this feed without validators
/// too recently.
fn too_soon(retry_after: u64, is_head: bool) -> Response<Full<Bytes>> {
    let mut r = plain(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "Too soon: this feed was fetched without validators a moment ago. Send the ETag you \
             got as If-None-Match (or Last-Modified as If-Modified-Since) and poll as often as \
             you like; otherwise retry after {retry_after} seconds.\n"
        ),
        is_head,
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    r
}

async fn answer(
    state: &State,
    req: &Request<Incoming>,
    peer: SocketAddr,
    served: &mut Served,
) -> Response<Full<Bytes>> {
    let is_head = req.method() == hyper::Method::HEAD;
    if let Err(problem) = check_host(req) {
        return plain(StatusCode::BAD_REQUEST, problem, is_head);
    }
    if !target::is_allowed(req.method()) {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed: this server only publishes (GET, HEAD).\n",
            false,
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(target::ALLOW));
        return r;
    }
    let route = match target::route(req.uri().path()) {
        Ok(route) => route,
        Err(BadTarget::TooLong) => {
            return plain(StatusCode::URI_TOO_LONG, "URI too long.\n", is_head)
        }
        Err(BadTarget::Malformed) => {
            return plain(StatusCode::BAD_REQUEST, "Bad request path.\n", is_head)
        }
    };
    let path = match route {
        Target::Health => {
            served.family = crate::routes::Family::Health;
            return plain(StatusCode::OK, "ok\n", is_head);
        }
        Target::Document(path) => path,
    };
    // An old URL whose query names the page (WordPress's `/?p=123`, an imported archive's)
    // is stored with it; any other query is not part of a document's key.
    if let Some(query) = req.uri().query() {
        let key = crate::routes::old_url_key(&path, Some(query));
        if key != path {
            if let Ok(Some(moved)) = state.cache.lookup(&key).await {
                return build(respond::answer(&moved, req.headers(), is_head));
            }
        }
    }
    let found = match state.cache.lookup(&path).await {
        Ok(Some(resource)) => {
            served.family = resource.family;
            let is_feed = resource.family == crate::routes::Family::Feed;
            // Read `Accept` once: whether a browser asks (for the counting), and whether it
            // gets the feed's browser view.
            let browser = (is_feed || resource.has_browser_view)
                && respond::Resource::asks_for_html(req.headers());
            if is_feed {
                served.browser = browser;
                if state.stats.limiter.is_on() && !browser && !is_conditional(req) {
                    let poller = state.stats.poller(peer.ip(), user_agent(req));
                    if let Err(wait) = state.stats.limiter.check(poller, &path, Instant::now()) {
                        served.feed = Some(path);
                        return too_soon(wait, is_head);
                    }
                }
            }
            representation(state, &path, resource, browser)
                .await
                .map(|found| Some((found, is_feed)))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    match found {
        Ok(Some((resource, is_feed))) => {
            let response = build(respond::answer(&resource, req.headers(), is_head));
            if is_feed {
                served.feed = Some(path);
            }
            response
        }
        Ok(None) => {
            // /tags/x -> /tags/x/ and /articles/x/ -> /articles/x, when that exists.
            let alternative = match path.strip_suffix('/') {
                Some(stripped) if !stripped.is_empty() => stripped.to_string(),
                _ => format!("{path}/"),
            };
            if let Ok(Some(_)) = state.cache.lookup(&alternative).await {
                let location = state.cfg.url(&alternative);
                let mut r = plain(StatusCode::MOVED_PERMANENTLY, "Moved.\n", is_head);
                if let Ok(v) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                return r;
            }
            not_found(state, req, is_head).await
        }
        Err(e) => {
            tracing::error!(error = %e, path = %path, "loading a document failed");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error; it has been logged.\n",
                is_head,
            )
        }
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one `Host` line, and any request at most
/// one, with a valid value (empty is allowed: a target with no authority).
fn check_host(req: &Request<Incoming>) -> std::result::Result<(), &'static str> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => Err("Bad request: more than one Host header.\n"),
        (None, _) if req.version() >= hyper::Version::HTTP_11 => {
            Err("Bad request: an HTTP/1.1 request needs a Host header.\n")
        }
        (Some(value), _) if !is_valid_host(value.as_bytes()) => {
            Err("Bad request: the Host header is not a host[:port].\n")
        }
        _ => Ok(()),
    }
}

/// `uri-host [ ":" port ]`, or empty.
fn is_valid_host(value: &[u8]) -> bool {
    value.is_empty()
        || (!value.contains(&b'@')
            && std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<hyper::http::uri::Authority>().ok())
                .is_some())
}

/// What to answer with at `path`: the feed's browser view when a browser navigates to an RSS or
/// Atom feed, otherwise `resource` itself. A feed whose view is not stored (a database a version
/// without views rendered, until the next start re-renders it) is answered as it is.
async fn representation(
    state: &State,
    path: &str,
    resource: Arc<respond::Resource>,
    asks_for_html: bool,
) -> Result<Arc<respond::Resource>> {
    if !resource.gives_browser_view(asks_for_html) {
        return Ok(resource);
    }
    let Some(key) = crate::views::browser_view_key(path) else {
        return Ok(resource);
    };
    Ok(state.cache.lookup(&key).await?.unwrap_or(resource))
}

async fn not_found(state: &State, req: &Request<Incoming>, is_head: bool) -> Response<Full<Bytes>> {
    let page = format!("{}404", state.cfg.base_path());
    match state.cache.lookup(&page).await {
        Ok(Some(resource)) => {
            let mut r = build(respond::answer(&resource, req.headers(), is_head));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
        _ => plain(StatusCode::NOT_FOUND, "Not found.\n", is_head),
    }
}

fn build(answer: respond::Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    *response.headers_mut() = answer.headers;
    // A 304 has no content to protect; caches keep the stored response's headers.
    if answer.status != 304 {
        respond::add_security_headers(response.headers_mut());
    }
    response
}

/// A plain-text answer that is never cached (errors, refusals, the hub's answers). A HEAD gets
/// the length its GET would, without the body.
pub(crate) fn plain(
    status: StatusCode,
    text: impl Into<Bytes>,
    is_head: bool,
) -> Response<Full<Bytes>> {
    let text = text.into();
    let length = text.len();
    let body = if is_head { Bytes::new() } else { text };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    respond::add_security_headers(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_limit_fits_the_open_file_limit() {
        assert_eq!(connection_limit(10_000, None), (10_000, 2_500));
        assert_eq!(connection_limit(10_000, Some(20_000)), (10_000, 2_500));
        let (places, room) = connection_limit(10_000, Some(4_096));
        assert!(places + 2 * room + 64 <= 4_096, "{places} + 2 × {room}");
        assert!(places >= 2_600, "{places} places: the budget is well used");
        let (places, room) = connection_limit(100, Some(80));
        assert_eq!(
            (places, room),
            (1, 16),
            "a budget too small still serves one"
        );
    }
}
