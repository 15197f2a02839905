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
}

/// The subscriptions held, by key and by callback host: for the caps, without a query.
#[derive(Default)]
struct Registry {
    keys: HashSet<(String, String)>,
    per_host: HashMap<String, usize>,
}

impl Registry {
    fn add(&mut self, topic: &str, callback: &str, host: &str) {
        if self.keys.insert((topic.to_string(), callback.to_string())) {
            *self.per_host.entry(host.to_string()).or_insert(0) += 1;
        }
    }

    fn remove(&mut self, topic: &str, callback: &str, host: &str) {
        if self.keys.remove(&(topic.to_string(), callback.to_string())) {
            if let Some(count) = self.per_host.get_mut(host) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_host.remove(host);
                }
            }
        }
    }
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

    /// Takes a checked subscription request from `client` for verification, or refuses it: too
    /// many requests from that address (429), too many subscriptions for the callback's host
    /// (429) or in all (503), too many verifications waiting (503).
    pub fn admit(&self, intent: Intent, client: IpAddr) -> std::result::Result<(), Rejection> {
        self.take_token(client)?;
        if intent.mode == Mode::Subscribe {
            let registry = lock(&self.shared.registry);
            let renewal = registry
                .keys
                .contains(&(intent.topic.clone(), intent.callback.clone()));
            if !renewal {
                if registry.keys.len() >= self.max_subscriptions {
                    return Err(Rejection {
                        status: 503,
                        reason: format!(
                            "this hub holds its most subscriptions ({}); try again later",
                            self.max_subscriptions
                        ),
                    });
                }
                let host = intent.callback_host();
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
        }
        match self.intents.try_send(intent) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Rejection {
                status: 503,
                reason: "too many subscription requests are being verified; try again shortly"
                    .to_string(),
            }),
            Err(TrySendError::Disconnected(_)) => Err(Rejection {
                status: 503,
                reason: "the hub is not running; try again later".to_string(),
            }),
        }
    }

    fn take_token(&self, client: IpAddr) -> std::result::Result<(), Rejection> {
        let now = Instant::now();
        let mut buckets = lock(&self.shared.limiter);
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&client) {
            buckets.retain(|_, b| refill(b, now) < MAX_REQUEST_BURST);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
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
        key: String,
        subscription: Option<i64>,
        attempts: i64,
        first_ms: i64,
        target: String,
        answer: outgoing::Answer,
    },
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
                hub.admit(intent(&format!("https://r.example/{n}")), client)
                    .map_err(|r| r.status),
            );
            while receiver.try_recv().is_ok() {}
        }
        assert!(statuses[..MAX_REQUEST_BURST as usize]
            .iter()
            .all(|s| s.is_ok()));
        assert_eq!(statuses.last(), Some(&Err(429)));
        assert!(hub.admit(intent("https://r.example/x"), other).is_ok());
    }

    #[test]
    fn caps_count_new_subscriptions_not_renewals() {
        let (hub, _receiver) = hub(1);
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        lock(&hub.shared.registry).add("/atom.xml", "https://r.example/a", "r.example");
        assert_eq!(
            hub.admit(intent("https://r.example/b"), client)
                .map_err(|r| r.status),
            Err(503)
        );
        assert!(hub.admit(intent("https://r.example/a"), client).is_ok());
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
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            hub.admit(intent("https://r.example/new"), client)
                .map_err(|r| r.status),
            Err(429)
        );
        lock(&hub.shared.registry).remove("/atom.xml", "https://r.example/0", "r.example");
        assert!(hub.admit(intent("https://r.example/new"), client).is_ok());
    }
}
