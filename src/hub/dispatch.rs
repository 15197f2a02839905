//! The dispatcher thread and its workers: from the deliveries a publish wrote to requests, and from answers to the
//! store.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::outgoing::{self, Answer, Client};
use super::request::{Intent, Mode};
use super::{capped_host, lock, tell, Done, Handed, Shared};
use crate::config::Config;
use crate::routes::Route;
use crate::store::hub::{Delivery, Fanout, NewSubscription};
use crate::store::Store;
use crate::{Error, Result};

/// How often the dispatcher looks for commits when nothing else wakes it.
const TICK: Duration = Duration::from_millis(20);
/// Threads verifying intent. A pool of their own, so that callbacks that never answer a
/// verification (anyone can ask for one) never hold up deliveries.
const VERIFIERS: usize = 8;
/// Threads delivering feeds and pinging the external hub.
const DELIVERERS: usize = 32;
/// Deliveries under way to one callback host at most (whatever its port): subscribers that
/// never answer hold at most this many deliverers, whatever their number.
const MAX_IN_FLIGHT_PER_HOST: usize = 8;
/// Deliveries handed to the workers per round, beyond those already out.
const BATCH: usize = 1024;
/// First wait before a failed delivery is tried again; it doubles with each failure.
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// Longest wait between two tries.
const LONGEST_RETRY: Duration = Duration::from_secs(3600);
/// A delivery still failing this long after it was first due is dropped.
const GIVE_UP_AFTER: Duration = Duration::from_secs(25 * 3600);
/// How often ended leases are removed.
const EXPIRY_EVERY: Duration = Duration::from_secs(30);
/// Wait after the store failed before the dispatcher tries again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// One request for a worker.
enum Job {
    Verify {
        intent: Intent,
        challenge: String,
    },
    Deliver {
        handed: Handed,
        headers: Vec<(&'static str, String)>,
        body: Arc<Vec<u8>>,
    },
}

/// Starts the dispatcher thread (which starts the workers).
pub(super) fn start(cfg: Config, shared: Arc<Shared>, intents: Receiver<Intent>) -> Result<()> {
    let store = Store::open(&cfg.storage.database, cfg.storage.busy_timeout, false)?;
    let now = chrono::Utc::now().timestamp();
    {
        let mut registry = lock(&shared.registry);
        for s in store.subscriptions(now)? {
            registry.add(&s.topic, &s.callback, &s.callback_host);
        }
    }
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let clients = Clients {
        callbacks: Client::new(cfg.websub.allow_private_callbacks, MAX_IN_FLIGHT_PER_HOST),
        // The external hub is the operator's choice, not a stranger's: it may be inside the
        // network.
        hub: Client::new(true, MAX_IN_FLIGHT_PER_HOST),
    };
    let verify = pool("feedsvc-hub-verify", VERIFIERS, &clients, &done_tx)?;
    let deliver = pool("feedsvc-hub-deliver", DELIVERERS, &clients, &done_tx)?;
    let mut dispatcher = Dispatcher {
        hub_url: cfg.hub_url().unwrap_or_default(),
        fanout: crate::publish::fanout(&cfg),
        cfg,
        store,
        shared,
        verify,
        deliver,
        in_flight: HashMap::new(),
        per_host: HashMap::new(),
        next_due: Some(0),
        data_version: None,
        unrecorded: Vec::new(),
        last_expiry: None,
    };
    std::thread::Builder::new()
        .name("feedsvc-hub".to_string())
        .spawn(move || {
            yield_to_serving();
            dispatcher.run(&intents, &done_rx)
        })
        .map_err(|e| Error::io("starting the hub", e))?;
    Ok(())
}

/// A worker: takes jobs until the dispatcher is gone.
/// Niceness of the hub's threads: when the cores are busy, serving comes first.
const HUB_NICENESS: i32 = 10;

/// Lowers the calling thread's priority to [`HUB_NICENESS`] (on Linux, the priority of
/// "process" 0 is the calling thread's), so that signing and sending deliveries takes the cores
/// only when serving leaves them idle.
fn yield_to_serving() {
    if let Err(e) = rustix::process::setpriority_process(None, HUB_NICENESS) {
        tracing::debug!(error = %e, "could not lower a hub thread's priority");
    }
}

/// Starts `count` workers named `name-N` taking jobs from one queue; returns its sender.
fn pool(name: &str, count: usize, clients: &Clients, done: &Sender<Done>) -> Result<Sender<Job>> {
    let (sender, receiver) = std::sync::mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for index in 0..count {
        let jobs = receiver.clone();
        let done = done.clone();
        let clients = clients.clone();
        std::thread::Builder::new()
            .name(format!("{name}-{index}"))
            .spawn(move || {
                yield_to_serving();
                work(&clients, &jobs, &done)
            })
            .map_err(|e| Error::io("starting a hub worker", e))?;
    }
    Ok(sender)
}

/// The workers' clients: one for subscribers' callbacks, one for the configured hub.
#[derive(Clone)]
struct Clients {
    callbacks: Client,
    hub: Client,
}

fn work(clients: &Clients, jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>) {
    loop {
        let job = match lock(jobs).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        match job {
            Job::Verify { intent, challenge } => {
                let lease = intent.lease_seconds.to_string();
                let mut pairs = vec![
                    ("hub.mode", intent.mode.as_str()),
                    ("hub.topic", intent.topic_url.as_str()),
                    ("hub.challenge", challenge.as_str()),
                ];
                if intent.mode == Mode::Subscribe {
                    pairs.push(("hub.lease_seconds", &lease));
                }
                let answer = clients
                    .callbacks
                    .get(&outgoing::with_query(&intent.callback, &pairs));
                tell(
                    done,
                    Done::Verified {
                        intent,
                        challenge,
                        answer,
                    },
                );
            }
            Job::Deliver {
                handed,
                headers,
                body,
            } => {
                let client = if handed.subscription.is_some() {
                    &clients.callbacks
                } else {
                    &clients.hub
                };
                let answer = client.post(&handed.url, &headers, &body);
                tell(done, Done::Delivered { handed, answer });
            }
        }
    }
}

/// A feed's body as delivered, shared by every delivery of one round.
#[derive(Clone)]
struct Feed {
    bytes: Arc<Vec<u8>>,
    content_type: String,
    /// The feed's URL: the topic.
    url: String,
}

struct Dispatcher {
    cfg: Config,
    hub_url: String,
    fanout: Fanout,
    store: Store,
    shared: Arc<Shared>,
    /// The verifiers' queue.
    verify: Sender<Job>,
    /// The deliverers' queue.
    deliver: Sender<Job>,
    /// Deliveries handed to the workers and not back yet: key, and the host they went to (as
    /// [`capped_host`] names it).
    in_flight: HashMap<String, String>,
    /// Deliveries under way per host.
    per_host: HashMap<String, usize>,
    /// When the soonest waiting delivery is due (ms); `None`: nothing waits.
    next_due: Option<i64>,
    /// The store's `data_version` when it last looked.
    data_version: Option<i64>,
    /// Answers not yet stored (the store was busy): stored before anything else is done.
    unrecorded: Vec<Done>,
    last_expiry: Option<Instant>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Dispatcher {
    fn run(&mut self, intents: &Receiver<Intent>, done: &Receiver<Done>) {
        loop {
            // Answers first (they free places and record outcomes), then new requests.
            match done.recv_timeout(TICK) {
                Ok(first) => {
                    self.unrecorded.push(first);
                    self.unrecorded.extend(done.try_iter().take(4 * BATCH));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            for intent in intents.try_iter() {
                let challenge = outgoing::challenge();
                let _ = self.verify.send(Job::Verify { intent, challenge });
            }
            if let Err(e) = self.round() {
                tracing::error!(error = %e, "the WebSub hub could not reach the store; trying again");
                std::thread::sleep(STORE_RETRY);
            }
        }
    }

    /// Records answers, notices publishes, ends leases, hands out due deliveries.
    fn round(&mut self) -> Result<()> {
        if !self.unrecorded.is_empty() {
            // Kept when they cannot be stored (the store busy), and stored again next round:
            // until then their deliveries stay in flight, and nothing more is handed out.
            let finished = std::mem::take(&mut self.unrecorded);
            if let Err(e) = self.record(&finished) {
                self.unrecorded = finished;
                return Err(e);
            }
        }
        // A commit by another connection (a publish) may have queued deliveries.
        let version = self.store.data_version()?;
        if self.data_version != Some(version) {
            self.data_version = Some(version);
            self.next_due = Some(0);
        }
        if self
            .last_expiry
            .is_none_or(|at| at.elapsed() >= EXPIRY_EVERY)
        {
            self.last_expiry = Some(Instant::now());
            let now = chrono::Utc::now().timestamp();
            let ended = if self.store.next_lease_end()?.is_some_and(|end| end <= now) {
                let tx = self.store.write()?;
                let ended = tx.expire_subscriptions(now)?;
                tx.commit()?;
                ended
            } else {
                Vec::new()
            };
            let mut registry = lock(&self.shared.registry);
            for (topic, callback, host) in &ended {
                registry.remove(topic, callback, host);
                tracing::info!(%topic, callback_host = %host, "WebSub lease ended");
            }
        }
        if self.next_due.is_some_and(|due| due <= now_ms()) {
            self.hand_out()?;
        }
        Ok(())
    }

    /// Stores what came back, in one transaction.
    fn record(&mut self, finished: &[Done]) -> Result<()> {
        let now = chrono::Utc::now().timestamp();
        let tx = self.store.write()?;
        let mut registry_changes = Vec::new();
        let mut answered = Vec::new();
        let mut verifications_ended = Vec::new();
        for done in finished {
            match done {
                Done::Verified {
                    intent,
                    challenge,
                    answer,
                } => {
                    verifications_ended.push((intent.topic.as_str(), intent.callback.as_str()));
                    let echoed = matches!(&answer, Answer::Status(s, body)
                        if (200..300).contains(s) && body.as_slice() == challenge.as_bytes());
                    let host = intent.callback_host();
                    if !echoed {
                        tracing::info!(
                            mode = intent.mode.as_str(),
                            topic = %intent.topic,
                            callback_host = %host,
                            answer = %answer,
                            "WebSub intent not verified: the callback did not echo the challenge"
                        );
                        continue;
                    }
                    match intent.mode {
                        Mode::Subscribe => {
                            tx.put_subscription(
                                &NewSubscription {
                                    topic: &intent.topic,
                                    callback: &intent.callback,
                                    callback_host: &host,
                                    secret: intent.secret.as_deref(),
                                    lease_seconds: intent.lease_seconds as i64,
                                },
                                now,
                            )?;
                            tracing::info!(topic = %intent.topic, callback_host = %host,
                                lease_seconds = intent.lease_seconds, "WebSub subscription verified");
                            registry_changes.push((
                                true,
                                intent.topic.clone(),
                                intent.callback.clone(),
                                host,
                            ));
                        }
                        Mode::Unsubscribe => {
                            if tx
                                .remove_subscription(&intent.topic, &intent.callback)?
                                .is_some()
                            {
                                tracing::info!(topic = %intent.topic, callback_host = %host,
                                    "WebSub subscription removed at the subscriber's request");
                            }
                            registry_changes.push((
                                false,
                                intent.topic.clone(),
                                intent.callback.clone(),
                                host,
                            ));
                        }
                    }
                }
                Done::Delivered { handed, answer } => {
                    let Handed {
                        key,
                        version,
                        subscription,
                        attempts,
                        first_ms,
                        url: target,
                    } = handed;
                    let (key, version, subscription, attempts, first_ms) =
                        (key.as_str(), *version, *subscription, *attempts, *first_ms);
                    answered.push(key);
                    let status = answer.status();
                    let outcome = if answer.is_success() {
                        &self.shared.delivered
                    } else {
                        &self.shared.failed
                    };
                    outcome.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if answer.is_success() {
                        // Kept and due again if a publish met it since it was handed out.
                        tx.delivery_done(key, version, subscription, status, now, now_ms())?;
                        continue;
                    }
                    if status == 410 {
                        if let Some(id) = subscription {
                            if let Some((topic, callback, host)) =
                                tx.remove_subscription_by_id(id, target)?
                            {
                                tracing::info!(%topic, callback_host = %host,
                                    "WebSub subscriber answered 410 Gone: subscription removed");
                                registry_changes.push((false, topic, callback, host));
                            }
                            continue;
                        }
                    }
                    let now_ms = now_ms();
                    let retry = retry_at(attempts, first_ms, now_ms, key);
                    match retry {
                        Some(at) => {
                            tracing::debug!(%key, answer = %answer, attempts = attempts + 1,
                                "WebSub delivery failed; will retry");
                            self.next_due = Some(self.next_due.map_or(at, |d| d.min(at)));
                        }
                        None => tracing::warn!(
                            %key,
                            target = %outgoing::without_query(target),
                            answer = %answer,
                            attempts = attempts + 1,
                            "WebSub delivery dropped after a day of failures"
                        ),
                    }
                    tx.delivery_failed(key, subscription, status, now, retry)?;
                }
            }
        }
        tx.commit()?;
        for key in answered {
            self.answered(key);
        }
        let mut registry = lock(&self.shared.registry);
        for (added, topic, callback, host) in registry_changes {
            if added {
                registry.add(&topic, &callback, &host);
            } else {
                registry.remove(&topic, &callback, &host);
            }
        }
        for (topic, callback) in verifications_ended {
            registry.verification_ended(topic, callback);
        }
        // Places freed: more may be handed out.
        self.next_due = Some(self.next_due.map_or(0, |d| d.min(now_ms())));
        Ok(())
    }

    /// A delivery came back: it is no longer under way.
    fn answered(&mut self, key: &str) {
        if let Some(host) = self.in_flight.remove(key) {
            if let Some(count) = self.per_host.get_mut(&host) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_host.remove(&host);
                }
            }
        }
    }

    /// Hands the due deliveries to the workers (up to [`BATCH`] more than are out, at most
    /// [`MAX_IN_FLIGHT_PER_HOST`] to one host).
    fn hand_out(&mut self) -> Result<()> {
        let now = now_ms();
        let waiting = self.store.deliveries(self.in_flight.len() + BATCH)?;
        let complete = waiting.len() < self.in_flight.len() + BATCH;
        self.next_due = None;
        let mut bodies: HashMap<String, Option<Feed>> = HashMap::new();
        let mut dropped = Vec::new();
        for delivery in waiting {
            if self.in_flight.contains_key(&delivery.key) {
                continue;
            }
            if delivery.due_ms > now {
                self.next_due = Some(delivery.due_ms);
                break;
            }
            let host = delivery
                .subscription
                .as_ref()
                .map_or_else(String::new, |s| capped_host(&s.callback_host));
            if self.per_host.get(&host).copied().unwrap_or(0) >= MAX_IN_FLIGHT_PER_HOST {
                // Its turn comes when one to that host is answered.
                continue;
            }
            let body = match bodies.get(&delivery.topic) {
                Some(body) => body.clone(),
                None => {
                    let body = self.feed(&delivery.topic)?;
                    bodies.insert(delivery.topic.clone(), body.clone());
                    body
                }
            };
            let job = body.as_ref().and_then(|feed| self.job(&delivery, feed));
            match (body, job) {
                (Some(body), Some((url, mut headers))) => {
                    let payload = if delivery.subscription.is_some() {
                        headers.push(("Content-Type", body.content_type.clone()));
                        if let Some(secret) = delivery
                            .subscription
                            .as_ref()
                            .and_then(|s| s.secret.as_deref())
                        {
                            headers.push((
                                "X-Hub-Signature",
                                outgoing::signature(secret, &body.bytes),
                            ));
                        }
                        body.bytes.clone()
                    } else {
                        Arc::new(Self::ping_body(&body.url))
                    };
                    *self.per_host.entry(host.clone()).or_insert(0) += 1;
                    self.in_flight.insert(delivery.key.clone(), host);
                    let _ = self.deliver.send(Job::Deliver {
                        handed: Handed {
                            key: delivery.key,
                            version: delivery.version,
                            subscription: delivery.subscription.map(|s| s.id),
                            attempts: delivery.attempts,
                            first_ms: delivery.first_ms,
                            url,
                        },
                        headers,
                        body: payload,
                    });
                }
                _ => dropped.push(delivery.key),
            }
        }
        if !dropped.is_empty() {
            let tx = self.store.write()?;
            for key in &dropped {
                tx.drop_delivery(key)?;
            }
            tx.commit()?;
        }
        if !complete && self.next_due.is_none() {
            // More than a batch waits: the next round hands out more as answers come back.
            self.next_due = Some(now);
        }
        Ok(())
    }

    /// The current body, type and URL of the feed at `topic`, if it is still served.
    fn feed(&self, topic: &str) -> Result<Option<Feed>> {
        let Some(route) = Route::parse(&self.cfg, topic) else {
            return Ok(None);
        };
        let (_, doc) = self.store.document(topic)?;
        Ok(doc.filter(|d| d.status == 200).map(|d| Feed {
            bytes: Arc::new(d.body),
            content_type: d.content_type,
            url: route.url(&self.cfg),
        }))
    }

    /// Where a delivery goes and the headers it carries besides its type and signature;
    /// `None` when it can no longer be made (lease ended, hub no longer external).
    fn job(
        &self,
        delivery: &Delivery,
        feed: &Feed,
    ) -> Option<(String, Vec<(&'static str, String)>)> {
        match &delivery.subscription {
            Some(s) => {
                if s.expires_at <= chrono::Utc::now().timestamp()
                    || self.fanout != Fanout::Subscribers
                {
                    return None;
                }
                let link = super::discovery_link(&self.hub_url, &feed.url);
                Some((s.callback.clone(), vec![("Link", link)]))
            }
            None => (self.fanout == Fanout::ExternalHub).then(|| {
                (
                    self.hub_url.clone(),
                    vec![(
                        "Content-Type",
                        "application/x-www-form-urlencoded".to_string(),
                    )],
                )
            }),
        }
    }

    /// The form that tells an external hub the feed at `topic_url` changed: `hub.url` and
    /// `hub.topic` both (hubs differ on the name).
    fn ping_body(topic_url: &str) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("hub.mode", "publish")
            .append_pair("hub.url", topic_url)
            .append_pair("hub.topic", topic_url)
            .finish()
            .into_bytes()
    }
}

/// When a delivery that failed for the `attempts + 1`th time is tried again: after
/// [`FIRST_RETRY`] doubled per earlier failure, at most [`LONGEST_RETRY`], plus up to a quarter
/// more at random (so that subscribers failing together do not retry together); `None` once it
/// has failed for [`GIVE_UP_AFTER`].
fn retry_at(attempts: i64, first_ms: i64, now_ms: i64, key: &str) -> Option<i64> {
    if now_ms.saturating_sub(first_ms) >= GIVE_UP_AFTER.as_millis() as i64 {
        return None;
    }
    let doubled = FIRST_RETRY
        .as_millis()
        .saturating_mul(1u128 << attempts.clamp(0, 40))
        .min(LONGEST_RETRY.as_millis()) as i64;
    Some(now_ms + doubled + jitter(doubled / 4, key, now_ms))
}

/// A number in `0..=span`, spread by the key and the time.
fn jitter(span: i64, key: &str, now_ms: i64) -> i64 {
    use std::hash::BuildHasher;
    if span <= 0 {
        return 0;
    }
    let hash = std::collections::hash_map::RandomState::new().hash_one((key, now_ms));
    (hash % (span as u64 + 1)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_end_after_a_day() {
        let start = 1_000_000;
        let first = retry_at(0, start, start, "s:1").unwrap() - start;
        assert!((2000..=2500).contains(&first), "{first}");
        let third = retry_at(2, start, start, "s:1").unwrap() - start;
        assert!((8000..=10_000).contains(&third), "{third}");
        let late = retry_at(30, start, start, "s:1").unwrap() - start;
        assert!((3_600_000..=4_500_000).contains(&late), "{late}");
        let day = 24 * 3600 * 1000;
        assert!(
            retry_at(20, start, start + day, "s:1").is_some(),
            "retried for a day at least"
        );
        assert_eq!(retry_at(20, start, start + day + 3600 * 1000, "s:1"), None);
    }
}
