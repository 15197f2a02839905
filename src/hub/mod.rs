//! Push delivery (WebSub): the built-in hub and the pings of an external one.
//!
//! A publish that changes a subscription feed writes, in its own transaction, a delivery for
//! each active subscriber of that feed, or one ping of the external hub ([`crate::store::hub`]):
//! the store is the outbox. The server runs one dispatcher thread ([`dispatch`]) that notices
//! commits and hands due deliveries to a pool of worker threads that make the requests; answers
//! come back to the dispatcher, which records them and schedules retries. Serving never waits
//! on any of it: the HTTP layer only checks a subscription request and queues it
//! ([`Hub::admit`]).

pub mod address;
mod dispatch;
pub mod outgoing;
pub mod request;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::mpsc::{Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::config::{Config, Hub as HubSetting};
use crate::Result;
use request::{Intent, Mode, Rejection};

/// Subscriptions one callback host may hold.
pub const MAX_PER_CALLBACK_HOST: usize = 1000;
/// Subscription requests a client address may send in a burst; it earns one more each
/// [`REQUEST_REFILL_SECS`] seconds.
pub const MAX_REQUEST_BURST: f64 = 60.0;
/// Seconds for a client address to earn one more subscription request.
pub const REQUEST_REFILL_SECS: f64 = 1.0;
/// Verifications of intent waiting or under way at once; beyond, requests are answered 503.
const MAX_PENDING_VERIFICATIONS: usize = 1000;
/// Client addresses the rate limiter remembers before it forgets those with full buckets.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// The hub as the HTTP layer sees it.
pub struct Hub {
    intents: SyncSender<Intent>,
    shared: Arc<Shared>,
    max_subscriptions: usize,
}

/// What the HTTP layer and the dispatcher both read.
#[derive(Default)]
struct Shared {
    registry: Mutex<Registry>,
    limiter: Mutex<HashMap<IpAddr, Bucket>>,
    /// Deliveries answered 2xx since the start.
    delivered: std::sync::atomic::AtomicU64,
    /// Deliveries that failed (to be tried again, or given up) since the start.
    failed: std::sync::atomic::AtomicU64,
}

/// The subscriptions held, and those requested and waiting for their verification, by key and
/// by callback host: for the caps, without a query. Both count against the caps, or a burst of
/// requests made before the first verification ends would all be taken.
#[derive(Default)]
struct Registry {
    keys: HashSet<(String, String)>,
    /// Subscriptions requested, neither held nor verified yet: key, and capped host.
    pending: HashMap<(String, String), String>,
    /// Held and pending subscriptions per capped host.
    per_host: HashMap<String, usize>,
    /// Verifications of intent queued or under way, whatever their mode.
    verifying: usize,
}

impl Registry {
    /// Subscriptions held or waiting for verification.
    fn len(&self) -> usize {
        self.keys.len() + self.pending.len()
    }

    /// A subscription is held (verified, or read from the store).
    fn add(&mut self, topic: &str, callback: &str, host: &str) {
        let key = (topic.to_string(), callback.to_string());
        if self.pending.remove(&key).is_some() {
            // Already counted while it waited.
            self.keys.insert(key);
        } else if self.keys.insert(key) {
            *self.per_host.entry(capped_host(host)).or_insert(0) += 1;
        }
    }

    /// A subscription neither held nor waiting was requested and waits for its verification.
    fn wait(&mut self, topic: &str, callback: &str, host: &str) {
        let key = (topic.to_string(), callback.to_string());
        if !self.keys.contains(&key) && !self.pending.contains_key(&key) {
            let host = capped_host(host);
            *self.per_host.entry(host.clone()).or_insert(0) += 1;
            self.pending.insert(key, host);
        }
    }

    /// A verification ended; a subscription still waiting on it is no longer counted.
    fn verification_ended(&mut self, topic: &str, callback: &str) {
        self.verifying = self.verifying.saturating_sub(1);
        let key = (topic.to_string(), callback.to_string());
        if let Some(host) = self.pending.remove(&key) {
            if let Some(count) = self.per_host.get_mut(&host) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_host.remove(&host);
                }
            }
        }
    }

    fn remove(&mut self, topic: &str, callback: &str, host: &str) {
        if self.keys.remove(&(topic.to_string(), callback.to_string())) {
            let host = capped_host(host);
            if let Some(count) = self.per_host.get_mut(&host) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_host.remove(&host);
                }
            }
        }
    }
}

/// The host a callback's `host[:port]` counts against for [`MAX_PER_CALLBACK_HOST`]: without
/// the port, and without the trailing dot of a fully qualified name (the same machine either
/// way).
pub(crate) fn capped_host(host_port: &str) -> String {
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(host_port, |(inside, _)| inside),
        None => match host_port.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => host_port,
        },
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// A token bucket of subscription requests.
struct Bucket {
    tokens: f64,
    at: Instant,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    /// Deliveries answered 2xx, and deliveries that failed, since the start.
    pub fn delivery_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.shared.delivered.load(Relaxed),
            self.shared.failed.load(Relaxed),
        )
    }

    /// Starts the dispatcher and its workers when a hub is configured; `None` otherwise.
    pub fn start(cfg: &Config) -> Result<Option<Hub>> {
        if cfg.websub.hub == HubSetting::Off {
            // Deliveries queued while a hub was configured wait until one is again.
            return Ok(None);
        }
        let shared = Arc::new(Shared::default());
        let (intents, receiver) = std::sync::mpsc::sync_channel(MAX_PENDING_VERIFICATIONS);
        dispatch::start(cfg.clone(), shared.clone(), receiver)?;
        Ok(Some(Hub {
            intents,
            shared,
            max_subscriptions: cfg.websub.max_subscriptions,
        }))
    }

    /// Takes a checked subscription request for verification, or refuses it: too many
    /// subscriptions for the callback's host (429) or in all (503), too many verifications
    /// waiting (503). The request was counted against its client's budget first
    /// ([`Hub::take_token`]).
    pub fn admit(&self, intent: Intent) -> std::result::Result<(), Rejection> {
        let busy = || Rejection {
            status: 503,
            reason: "too many subscription requests are being verified; try again shortly"
                .to_string(),
        };
        // Held until the request is queued and counted: the dispatcher updates the registry
        // under this lock, so it cannot see the verification end before it is counted.
        let mut registry = lock(&self.shared.registry);
        if registry.verifying >= MAX_PENDING_VERIFICATIONS {
            return Err(busy());
        }
        let key = (intent.topic.clone(), intent.callback.clone());
        let host = intent.callback_host();
        let renewal = registry.keys.contains(&key) || registry.pending.contains_key(&key);
        let subscribe = intent.mode == Mode::Subscribe;
        if subscribe && !renewal {
            if registry.len() >= self.max_subscriptions {
                return Err(Rejection {
                    status: 503,
                    reason: format!(
                        "this hub holds its most subscriptions ({}); try again later",
                        self.max_subscriptions
                    ),
                });
            }
            let host = capped_host(&host);
            if registry.per_host.get(&host).copied().unwrap_or(0) >= MAX_PER_CALLBACK_HOST {
                return Err(Rejection {
                    status: 429,
                    reason: format!(
                        "hub.callback: {host} already holds {MAX_PER_CALLBACK_HOST} \
                         subscriptions, the most one callback host may"
                    ),
                });
            }
        }
        match self.intents.try_send(intent) {
            Ok(()) => {
                registry.verifying += 1;
                if subscribe && !renewal {
                    registry.wait(&key.0, &key.1, &host);
                }
                Ok(())
            }
            Err(TrySendError::Full(_)) => Err(busy()),
            Err(TrySendError::Disconnected(_)) => Err(Rejection {
                status: 503,
                reason: "the hub is not running; try again later".to_string(),
            }),
        }
    }

    /// Counts a subscription request from `client`, before anything is checked or looked up
    /// for it: a refused request costs the hub as much as an accepted one. Refuses it (429)
    /// when that address has used its budget.
    pub fn take_token(&self, client: IpAddr) -> std::result::Result<(), Rejection> {
        let now = Instant::now();
        let key = budget_key(client);
        let mut buckets = lock(&self.shared.limiter);
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&key) {
            buckets.retain(|_, b| refill(b, now) < MAX_REQUEST_BURST);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: MAX_REQUEST_BURST,
            at: now,
        });
        if refill(bucket, now) < 1.0 {
            return Err(Rejection {
                status: 429,
                reason: format!(
                    "too many subscription requests from {client}: at most {} a minute",
                    (60.0 / REQUEST_REFILL_SECS) as u64
                ),
            });
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}

/// Whose budget a request from `client` spends: an IPv4 address's own, or the /64 of an IPv6
/// one (a single machine or customer is given a whole /64, and could otherwise spend a new
/// budget with each of its addresses).
fn budget_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Adds what `bucket` earned since it was last looked at; returns its tokens.
fn refill(bucket: &mut Bucket, now: Instant) -> f64 {
    let earned = now.duration_since(bucket.at).as_secs_f64() / REQUEST_REFILL_SECS;
    bucket.tokens = (bucket.tokens + earned).min(MAX_REQUEST_BURST);
    bucket.at = now;
    bucket.tokens
}

/// What the dispatcher hears from the workers.
enum Done {
    /// A verification of intent came back.
    Verified {
        intent: Intent,
        challenge: String,
        answer: outgoing::Answer,
    },
    /// A delivery (or ping) came back.
    Delivered {
        handed: Handed,
        answer: outgoing::Answer,
    },
}

/// A delivery as handed to a worker, and so as its answer comes back.
struct Handed {
    /// The delivery's key in the store.
    key: String,
    /// Its version when it was handed out.
    version: i64,
    /// Its subscription (`None`: a ping of the external hub).
    subscription: Option<i64>,
    /// Attempts made before this one.
    attempts: i64,
    /// When it was first due, milliseconds since the epoch.
    first_ms: i64,
    /// Where it is sent.
    url: String,
}

/// The `Link` header that names a feed's hub and the feed itself (WebSub §4), on the feed's
/// answers and on each delivery of it.
pub fn discovery_link(hub_url: &str, topic_url: &str) -> String {
    format!("<{hub_url}>; rel=\"hub\", <{topic_url}>; rel=\"self\"")
}

/// Sends on a channel whose receiver may be gone (the process is stopping).
fn tell<T>(sender: &Sender<T>, message: T) {
    let _ = sender.send(message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(max: usize) -> (Hub, std::sync::mpsc::Receiver<Intent>) {
        let (intents, receiver) = std::sync::mpsc::sync_channel(4);
        (
            Hub {
                intents,
                shared: Arc::new(Shared::default()),
                max_subscriptions: max,
            },
            receiver,
        )
    }

    fn intent(callback: &str) -> Intent {
        Intent {
            mode: Mode::Subscribe,
            topic_url: "https://s.example/atom.xml".to_string(),
            topic: "/atom.xml".to_string(),
            callback: callback.to_string(),
            host: "r.example".to_string(),
            port: 443,
            lease_seconds: 3600,
            secret: None,
        }
    }

    #[test]
    fn a_client_address_has_a_budget_of_requests() {
        let (hub, receiver) = hub(100);
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let other: IpAddr = "203.0.113.10".parse().unwrap();
        let mut statuses = Vec::new();
        for n in 0..(MAX_REQUEST_BURST as usize + 1) {
            statuses.push(
                hub.take_token(client)
                    .and_then(|()| hub.admit(intent(&format!("https://r.example/{n}"))))
                    .map_err(|r| r.status),
            );
            while receiver.try_recv().is_ok() {}
        }
        assert!(statuses[..MAX_REQUEST_BURST as usize]
            .iter()
            .all(|s| s.is_ok()));
        assert_eq!(statuses.last(), Some(&Err(429)));
        assert!(hub.take_token(other).is_ok());
    }

    #[test]
    fn caps_count_new_subscriptions_not_renewals() {
        let (hub, _receiver) = hub(1);
        lock(&hub.shared.registry).add("/atom.xml", "https://r.example/a", "r.example");
        assert_eq!(
            hub.admit(intent("https://r.example/b"))
                .map_err(|r| r.status),
            Err(503)
        );
        assert!(hub.admit(intent("https://r.example/a")).is_ok());
    }

    #[test]
    fn a_callback_host_has_a_cap() {
        let (hub, _receiver) = hub(10 * MAX_PER_CALLBACK_HOST);
        {
            let mut registry = lock(&hub.shared.registry);
            for n in 0..MAX_PER_CALLBACK_HOST {
                registry.add("/atom.xml", &format!("https://r.example/{n}"), "r.example");
            }
        }
        assert_eq!(
            hub.admit(intent("https://r.example/new"))
                .map_err(|r| r.status),
            Err(429)
        );
        lock(&hub.shared.registry).remove("/atom.xml", "https://r.example/0", "r.example");
        assert!(hub.admit(intent("https://r.example/new")).is_ok());
    }
    /// The cap is per callback host: the same host on another port, or spelled with the
    /// trailing dot of a fully qualified name, is the same machine and must share it.
    #[test]
    fn the_callback_host_cap_cannot_be_dodged_with_a_port_or_a_trailing_dot() {
        let (hub, _receiver) = hub(10 * MAX_PER_CALLBACK_HOST);
        {
            let mut registry = lock(&hub.shared.registry);
            for n in 0..MAX_PER_CALLBACK_HOST {
                let callback = format!("https://r.example/{n}");
                registry.add("/atom.xml", &callback, &request::callback_host(&callback));
            }
        }
        for other in ["https://r.example:8443/new", "https://r.example./new"] {
            assert_eq!(
                hub.admit(intent(other)).map_err(|r| r.status),
                Err(429),
                "{other} is on the host that holds {MAX_PER_CALLBACK_HOST} subscriptions"
            );
        }
    }

    /// One IPv6 machine (or customer) holds a whole /64: counted per address, its requests
    /// are never limited. Addresses of one /64 must share a budget.
    #[test]
    fn ipv6_clients_of_one_64_share_a_budget() {
        let (hub, receiver) = hub(100_000);
        let mut statuses = Vec::new();
        for n in 0..(MAX_REQUEST_BURST as usize + 1) {
            let client: IpAddr = format!("2001:db8:1:2::{:x}", n + 1).parse().unwrap();
            statuses.push(
                hub.take_token(client)
                    .and_then(|()| hub.admit(intent(&format!("https://r.example/{n}"))))
                    .map_err(|r| r.status),
            );
            while receiver.try_recv().is_ok() {}
        }
        assert_eq!(
            statuses.last(),
            Some(&Err(429)),
            "{} requests from one /64 were all taken",
            statuses.len()
        );
    }
}
