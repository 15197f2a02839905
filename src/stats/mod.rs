//! Who polls the feeds: requests, answers, bytes, pollers and subscribers per feed and UTC day,
//! and the server's counters for `/metrics`.
//!
//! Serving only adds to counters that belong to its own thread ([`Shard`]: a lock no other
//! thread takes but the flush, once every `stats.flush_secs`). The [`Flusher`] takes each
//! thread's counts and adds them to the database, every `stats.flush_secs` and at shutdown.
//!
//! No client address is kept: a poller is a keyed hash of its address and User-Agent, whose key
//! is drawn at random for each UTC day and lives only in this process's memory. Once the day is
//! over its key is gone, and nobody, this server included, can tell which address a stored
//! poller was. (A restart draws a new key, so a poller seen before and after a restart the same
//! day counts twice that day.)

pub mod agent;
pub mod limit;
pub mod metrics;
pub mod report;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::Config;
use crate::store::stats::StatsStore;
use crate::Result;

/// Longest User-Agent kept, in bytes.
pub const MAX_AGENT_BYTES: usize = 256;

/// Most distinct pollers one thread tracks between two flushes; beyond, polls still count as
/// requests, but new pollers are not told apart (a flood of made-up User-Agents cannot grow
/// memory without bound).
const MAX_POLLERS_PER_FLUSH: usize = 200_000;

/// Flushes kept in memory when the database refuses them (locked for long), before the oldest
/// is given up.
const MAX_UNWRITTEN: usize = 60;

/// What kind of poller a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A feed reader: one subscriber per (address, User-Agent) a day.
    Reader = 0,
    /// An aggregator that reports how many subscribe through it.
    Aggregator = 1,
}

/// One answer to a request for a subscription feed, as the counting sees it.
#[derive(Debug, Clone, Copy)]
pub struct Poll<'a> {
    /// The feed's path.
    pub path: &'a str,
    /// The client's address.
    pub peer: IpAddr,
    /// Its User-Agent (`""` when it sent none).
    pub user_agent: &'a str,
    /// Whether it sent `If-None-Match` or `If-Modified-Since`.
    pub conditional: bool,
    /// Whether it is a browser viewing the feed (it asked for HTML): not a poller.
    pub browser: bool,
    /// The status answered.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
}

/// One feed's counts on one day, between two flushes.
#[derive(Debug, Default)]
pub struct FeedCounts {
    pub requests: u64,
    pub ok: u64,
    pub not_modified: u64,
    pub limited: u64,
    pub bytes: u64,
    /// By poller hash.
    pub pollers: HashMap<u128, PollerCounts, BuildHasherDefault<Spread>>,
    /// By (aggregator, feed id): the latest count reported and when (ms since the epoch).
    pub aggregators: HashMap<(String, String), (u64, i64)>,
}

/// One poller of one feed on one day, between two flushes.
#[derive(Debug)]
pub struct PollerCounts {
    pub kind: Kind,
    /// Its User-Agent, at most [`MAX_AGENT_BYTES`].
    pub agent: Box<str>,
    pub requests: u64,
    /// Requests without validators.
    pub unconditional: u64,
}

/// One day's counts, by feed path.
pub type FeedsOfDay = HashMap<Box<str>, FeedCounts, BuildHasherDefault<Spread>>;

/// What one thread counted between two flushes: by UTC day (one, but around midnight), by feed
/// path.
#[derive(Debug, Default)]
pub struct Counts {
    pub days: Vec<(i64, FeedsOfDay)>,
    /// Distinct pollers held (for [`MAX_POLLERS_PER_FLUSH`]).
    pollers: usize,
    /// Pollers not told apart because the limit was reached.
    pub untracked: u64,
}

impl Counts {
    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }
}

/// The hasher of the counting's maps, a fraction of SipHash's cost. Their keys need no defence
/// against chosen collisions: poller hashes are keyed SipHash outputs (spread evenly already),
/// and paths are those of the site's own feeds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Spread(u64);

impl Hasher for Spread {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64 ^ (n >> 64) as u64);
    }
}

/// One server thread's share: its counts and its day's key.
struct Shard {
    inner: Mutex<ShardInner>,
}

struct ShardInner {
    /// The day `key` belongs to.
    day: i64,
    key: [u64; 2],
    counts: Counts,
}

/// The counting of one `feedsvc serve`.
pub struct Stats {
    enabled: bool,
    shards: Box<[Shard]>,
    /// The day's key: (day, key). Read by a thread when its own copy is of another day.
    key: Mutex<(i64, [u64; 2])>,
    /// `server.min_poll_secs`.
    pub limiter: limit::Limiter,
    /// The counters of `/metrics`, one set per thread.
    pub metrics: metrics::Metrics,
}

/// The UTC day of `epoch_ms`, counted from 1970-01-01.
pub fn day_of(epoch_ms: i64) -> i64 {
    epoch_ms.div_euclid(86_400_000)
}

/// `YYYY-MM-DD` of a day number.
pub fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn random_key() -> [u64; 2] {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        // No entropy source: a key still nobody stores, from the clock and the allocator.
        let salt = std::collections::hash_map::RandomState::new();
        use std::hash::BuildHasher;
        let a = salt.hash_one(now_ms());
        bytes[..8].copy_from_slice(&a.to_le_bytes());
        bytes[8..].copy_from_slice(&salt.hash_one(a).to_le_bytes());
    }
    let (a, b) = bytes.split_at(8);
    [
        u64::from_le_bytes(a.try_into().unwrap_or_default()),
        u64::from_le_bytes(b.try_into().unwrap_or_default()),
    ]
}

/// The keyed hash of a poller: its address and User-Agent under the day's key.
fn poller_hash(key: [u64; 2], peer: IpAddr, user_agent: &str) -> u128 {
    use std::hash::Hasher;
    let mut hasher = siphasher::sip128::SipHasher13::new_with_keys(key[0], key[1]);
    match peer.to_canonical() {
        IpAddr::V4(v4) => hasher.write(&v4.octets()),
        IpAddr::V6(v6) => hasher.write(&v6.octets()),
    }
    hasher.write_u8(0xff);
    hasher.write(user_agent.as_bytes());
    use siphasher::sip128::Hasher128;
    hasher.finish128().as_u128()
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn clip(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Stats {
    /// The counting for `threads` server threads.
    pub fn new(cfg: &Config, threads: usize) -> Stats {
        let day = day_of(now_ms());
        let key = random_key();
        Stats {
            enabled: cfg.stats.enabled,
            shards: (0..threads.max(1))
                .map(|_| Shard {
                    inner: Mutex::new(ShardInner {
                        day,
                        key,
                        counts: Counts::default(),
                    }),
                })
                .collect(),
            key: Mutex::new((day, key)),
            limiter: limit::Limiter::new(cfg.server.min_poll_secs),
            metrics: metrics::Metrics::new(threads),
        }
    }

    /// Whether polls are counted (`stats.enabled`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The key of `day`: drawn afresh the first time a thread asks on a new day.
    fn key_of(&self, day: i64) -> [u64; 2] {
        let mut key = self.key.lock().unwrap_or_else(PoisonError::into_inner);
        if key.0 != day {
            *key = (day, random_key());
        }
        key.1
    }

    /// The hash that stands for this poller today (for the limiter, which must agree across
    /// threads).
    pub fn poller(&self, peer: IpAddr, user_agent: &str) -> u128 {
        let day = day_of(now_ms());
        poller_hash(self.key_of(day), peer, user_agent)
    }

    fn shard(&self) -> &Shard {
        &self.shards[crate::http::cache::worker() % self.shards.len()]
    }

    /// Counts one answer for a subscription feed.
    pub fn record(&self, poll: &Poll<'_>) {
        if !self.enabled {
            return;
        }
        let now = now_ms();
        let day = day_of(now);
        let mut inner = self
            .shard()
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if inner.day != day {
            inner.key = self.key_of(day);
            inner.day = day;
        }
        let key = inner.key;
        let counts = &mut inner.counts;
        let at = match counts.days.iter().position(|(d, _)| *d == day) {
            Some(at) => at,
            None => {
                counts.days.push((day, HashMap::default()));
                counts.days.len() - 1
            }
        };
        let feeds = &mut counts.days[at].1;
        if !feeds.contains_key(poll.path) {
            feeds.insert(poll.path.into(), FeedCounts::default());
        }
        let Some(feed) = feeds.get_mut(poll.path) else {
            return;
        };
        feed.requests += 1;
        feed.bytes += poll.bytes;
        match poll.status {
            200 => feed.ok += 1,
            304 => feed.not_modified += 1,
            429 => feed.limited += 1,
            _ => {}
        }
        if poll.browser {
            return;
        }
        let hash = poller_hash(key, poll.peer, poll.user_agent);
        let known = feed.pollers.contains_key(&hash);
        if !known && counts.pollers >= MAX_POLLERS_PER_FLUSH {
            counts.untracked += 1;
            return;
        }
        let poller = feed.pollers.entry(hash).or_insert_with(|| {
            counts.pollers += 1;
            let (kind, agent) = match agent::reported(poll.user_agent) {
                Some(said) => (Kind::Aggregator, clip(&said.agent, MAX_AGENT_BYTES).into()),
                None => (Kind::Reader, clip(poll.user_agent, MAX_AGENT_BYTES).into()),
            };
            PollerCounts {
                kind,
                agent,
                requests: 0,
                unconditional: 0,
            }
        });
        poller.requests += 1;
        if !poll.conditional {
            poller.unconditional += 1;
        }
        if poller.kind == Kind::Aggregator {
            if let Some(said) = agent::reported(poll.user_agent) {
                let latest = feed
                    .aggregators
                    .entry((said.name, said.feed_id))
                    .or_insert((said.subscribers, now));
                if now >= latest.1 {
                    *latest = (said.subscribers, now);
                }
            }
        }
    }

    /// Takes what every thread counted since the last call.
    pub fn take(&self) -> Vec<Counts> {
        self.shards
            .iter()
            .map(|shard| {
                let mut inner = shard.inner.lock().unwrap_or_else(PoisonError::into_inner);
                std::mem::take(&mut inner.counts)
            })
            .filter(|counts| !counts.is_empty())
            .collect()
    }
}

/// Writes the counts to the database every `stats.flush_secs`, and once more when stopped.
pub struct Flusher {
    stop: mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    /// Starts the thread that flushes `stats` into the database of `cfg`.
    /// The counting's database is opened (made, the first time) here, so that a problem with
    /// it shows at start; serving goes on without it, and each flush tries again.
    pub fn start(cfg: &Config, stats: Arc<Stats>) -> Result<Flusher> {
        let (stop, stopped) = mpsc::channel::<()>();
        let cfg = cfg.clone();
        let store = if stats.enabled() {
            StatsStore::open(&cfg.stats_database(), cfg.storage.busy_timeout, true)
                .inspect_err(|e| {
                    tracing::error!(error = %e, "the counting's database cannot be opened; counts are kept in memory until it can")
                })
                .ok()
                .flatten()
        } else {
            None
        };
        let thread = std::thread::Builder::new()
            .name("feedsvc-stats".to_string())
            .spawn(move || flush_loop(&cfg, &stats, store, &stopped))
            .map_err(|e| crate::Error::io("starting the counting's thread", e))?;
        Ok(Flusher {
            stop,
            thread: Some(thread),
        })
    }

    /// Writes what is left and stops.
    pub fn finish(mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn flush_loop(
    cfg: &Config,
    stats: &Stats,
    mut store: Option<StatsStore>,
    stopped: &mpsc::Receiver<()>,
) {
    let mut unwritten: Vec<Counts> = Vec::new();
    loop {
        let last = !matches!(
            stopped.recv_timeout(cfg.stats.flush),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        stats.limiter.forget_old();
        unwritten.extend(stats.take());
        if stats.enabled() {
            let now = now_ms();
            match write(cfg, &mut store, &unwritten, day_of(now)) {
                Ok(()) => unwritten.clear(),
                Err(e) => {
                    store = None;
                    tracing::warn!(error = %e, "could not write the feed statistics; kept for the next try");
                    while unwritten.len() > MAX_UNWRITTEN {
                        unwritten.remove(0);
                    }
                }
            }
            let untracked: u64 = unwritten.iter().map(|c| c.untracked).sum();
            if untracked > 0 {
                tracing::warn!(
                    untracked,
                    "more distinct pollers than the counting holds between flushes; lower stats.flush_secs"
                );
            }
        }
        if last {
            return;
        }
    }
}

fn write(
    cfg: &Config,
    store: &mut Option<StatsStore>,
    counts: &[Counts],
    today: i64,
) -> Result<()> {
    let store = match store {
        Some(store) => store,
        None => match StatsStore::open(&cfg.stats_database(), cfg.storage.busy_timeout, true)? {
            Some(opened) => store.insert(opened),
            None => return Ok(()),
        },
    };
    store.add(counts, today - i64::from(cfg.stats.retention_days) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll<'a>(ua: &'a str, peer: &str, status: u16) -> Poll<'a> {
        Poll {
            path: "/atom.xml",
            peer: peer.parse().unwrap(),
            user_agent: ua,
            conditional: status == 304,
            browser: false,
            status,
            bytes: if status == 200 { 1000 } else { 0 },
        }
    }

    fn stats() -> Stats {
        let cfg = crate::config::Config::parse(
            "[site]\nbase_url = \"http://example.org/\"\n",
            std::path::Path::new("config.toml"),
            std::path::Path::new("."),
        )
        .unwrap();
        Stats::new(&cfg, 2)
    }

    #[test]
    fn a_poller_is_its_address_and_user_agent_under_the_days_key() {
        let key = random_key();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(poller_hash(key, a, "x"), poller_hash(key, a, "x"));
        assert_eq!(poller_hash(key, a, "x"), poller_hash(key, mapped, "x"));
        assert_ne!(poller_hash(key, a, "x"), poller_hash(key, b, "x"));
        assert_ne!(poller_hash(key, a, "x"), poller_hash(key, a, "y"));
        assert_ne!(poller_hash(key, a, "x"), poller_hash(random_key(), a, "x"));
    }

    #[test]
    fn counts_add_up_per_feed_and_poller_and_keep_the_latest_reported_count() {
        let stats = stats();
        let feedly =
            |n: u64| format!("Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; )");
        let (first, second) = (feedly(462), feedly(470));
        stats.record(&poll(&first, "192.0.2.9", 200));
        stats.record(&poll(&second, "192.0.2.10", 304));
        stats.record(&poll("newsboat/2.36", "192.0.2.1", 200));
        stats.record(&poll("newsboat/2.36", "192.0.2.1", 304));
        stats.record(&Poll {
            browser: true,
            ..poll("Mozilla/5.0 Firefox", "192.0.2.3", 200)
        });
        let taken = stats.take();
        assert_eq!(taken.len(), 1, "one thread counted");
        let day = &taken[0].days[0].1;
        let feed = &day["/atom.xml"];
        assert_eq!(
            (feed.requests, feed.ok, feed.not_modified, feed.bytes),
            (5, 3, 2, 3000)
        );
        assert_eq!(
            feed.pollers.len(),
            3,
            "two Feedly fetchers and newsboat; no browser"
        );
        let reader = feed
            .pollers
            .values()
            .find(|p| p.kind == Kind::Reader)
            .unwrap();
        assert_eq!((reader.requests, reader.unconditional), (2, 1));
        assert_eq!(
            feed.aggregators[&("Feedly".to_string(), String::new())].0,
            470,
            "the latest count, not the sum"
        );
        assert!(stats.take().is_empty(), "taken once");
    }

    #[test]
    fn long_user_agents_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(MAX_AGENT_BYTES);
        assert!(clip(&long, MAX_AGENT_BYTES).len() <= MAX_AGENT_BYTES);
        assert_eq!(clip("abc", 2), "ab");
    }
}
