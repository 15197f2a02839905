//! Push delivery (WebSub): subscriptions, and the deliveries a publish writes and the
//! server works through. Topics are feed paths (`/atom.xml`), as documents are keyed.

use rusqlite::{params, OptionalExtension};

use super::{Store, Tx};
use crate::Result;

/// A verified subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Row id.
    pub id: i64,
    /// The feed's path.
    pub topic: String,
    /// Where deliveries go.
    pub callback: String,
    /// The callback's `host[:port]`.
    pub callback_host: String,
    /// The secret deliveries are signed with.
    pub secret: Option<String>,
    /// When the lease ends, seconds since the epoch.
    pub expires_at: i64,
    /// When the last delivery was tried, seconds since the epoch.
    pub last_delivery_at: Option<i64>,
    /// Status of the last delivery (0: no answer).
    pub last_status: Option<i64>,
    /// Failed deliveries since the last success.
    pub failures: i64,
    /// Whether a delivery waits.
    pub pending: bool,
}

/// The fields a verified subscription is stored with.
#[derive(Debug, Clone)]
pub struct NewSubscription<'a> {
    /// The feed's path.
    pub topic: &'a str,
    /// Where deliveries go.
    pub callback: &'a str,
    /// The callback's `host[:port]`.
    pub callback_host: &'a str,
    /// The secret deliveries are signed with.
    pub secret: Option<&'a str>,
    /// The lease granted, in seconds.
    pub lease_seconds: i64,
}

/// A delivery waiting in the store.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `s:<subscription id>` or `p:<topic>`.
    pub key: String,
    /// The subscription (`None`: a ping of the external hub).
    pub subscription: Option<Subscription>,
    /// The feed's path.
    pub topic: String,
    /// When it is due, milliseconds since the epoch.
    pub due_ms: i64,
    /// Attempts made so far.
    pub attempts: i64,
    /// When it was first due, milliseconds since the epoch.
    pub first_ms: i64,
    /// Publishes that met it waiting: a delivery under way ends it only if no publish met it
    /// since it was handed out.
    pub version: i64,
}

/// Where a changed feed goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fanout {
    /// Nowhere (no hub).
    Nowhere,
    /// To each active subscription of the built-in hub.
    Subscribers,
    /// To the external hub, one ping per feed.
    ExternalHub,
}

const SUBSCRIPTION_COLUMNS: &str = "s.id, s.topic, s.callback, s.callback_host, s.secret, \
     s.expires_at, s.last_delivery_at, s.last_status, s.failures";

fn subscription_at(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: r.get(first)?,
        topic: r.get(first + 1)?,
        callback: r.get(first + 2)?,
        callback_host: r.get(first + 3)?,
        secret: r.get(first + 4)?,
        expires_at: r.get(first + 5)?,
        last_delivery_at: r.get(first + 6)?,
        last_status: r.get(first + 7)?,
        failures: r.get(first + 8)?,
        pending: false,
    })
}

impl Tx<'_> {
    /// Records, in the publish's transaction, that the feed at `topic` changed: a delivery
    /// due at `now_ms` for each subscriber whose lease runs (or one ping of the external hub).
    /// A delivery already waiting for the same subscriber or hub stays as it is (it sends the
    /// latest body anyway), one version on. Returns how many deliveries were added or met.
    pub fn queue_push(&self, topic: &str, fanout: Fanout, now_ms: i64) -> Result<usize> {
        let sql = match fanout {
            Fanout::Nowhere => return Ok(0),
            Fanout::Subscribers => {
                "INSERT INTO hub_deliveries (key, subscription_id, topic, due_ms, first_ms) \
                 SELECT 's:' || id, id, topic, ?2, ?2 FROM subscriptions \
                 WHERE topic = ?1 AND expires_at > ?2 / 1000 \
                 ON CONFLICT (key) DO UPDATE SET version = version + 1"
            }
            Fanout::ExternalHub => {
                "INSERT INTO hub_deliveries (key, subscription_id, topic, due_ms, first_ms) \
                 VALUES ('p:' || ?1, NULL, ?1, ?2, ?2) \
                 ON CONFLICT (key) DO UPDATE SET version = version + 1"
            }
        };
        Ok(self
            .tx
            .prepare_cached(sql)?
            .execute(params![topic, now_ms])?)
    }

    /// Stores a verified subscription, replacing the one of the same topic and callback (its
    /// lease and secret); its delivery statistics are kept. Returns its id.
    pub fn put_subscription(&self, new: &NewSubscription<'_>, now: i64) -> Result<i64> {
        Ok(self
            .tx
            .prepare_cached(
                "INSERT INTO subscriptions (topic, callback, callback_host, secret, \
                 lease_seconds, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6 + ?5, ?6) \
                 ON CONFLICT (topic, callback) DO UPDATE SET callback_host = excluded.callback_host, \
                 secret = excluded.secret, lease_seconds = excluded.lease_seconds, \
                 expires_at = excluded.expires_at RETURNING id",
            )?
            .query_row(
                params![
                    new.topic,
                    new.callback,
                    new.callback_host,
                    new.secret,
                    new.lease_seconds,
                    now
                ],
                |r| r.get(0),
            )?)
    }

    /// Removes the subscription of `topic` and `callback` (and its waiting delivery); returns
    /// its callback host if there was one.
    pub fn remove_subscription(&self, topic: &str, callback: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached(
                "DELETE FROM subscriptions WHERE topic = ?1 AND callback = ?2 \
                 RETURNING callback_host",
            )?
            .query_row([topic, callback], |r| r.get(0))
            .optional()?)
    }

    /// Removes the subscriptions whose lease ended at or before `now`; returns their topic,
    /// callback and callback host.
    pub fn expire_subscriptions(&self, now: i64) -> Result<Vec<(String, String, String)>> {
        let rows = self
            .tx
            .prepare_cached(
                "DELETE FROM subscriptions WHERE expires_at <= ?1 \
                 RETURNING topic, callback, callback_host",
            )?
            .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// A delivery handed out at `version` succeeded with `status` at `now`: its subscriber's
    /// record shows it, and it is done; unless a publish met it since (it carried the feed from
    /// before), when it is due again at `now_ms` with its attempts counted afresh.
    pub fn delivery_done(
        &self,
        key: &str,
        version: i64,
        subscription: Option<i64>,
        status: u16,
        now: i64,
        now_ms: i64,
    ) -> Result<()> {
        let ended = self
            .tx
            .prepare_cached("DELETE FROM hub_deliveries WHERE key = ?1 AND version = ?2")?
            .execute(params![key, version])?;
        if ended == 0 {
            self.tx
                .prepare_cached(
                    "UPDATE hub_deliveries SET due_ms = ?2, first_ms = ?2, attempts = 0 \
                     WHERE key = ?1",
                )?
                .execute(params![key, now_ms])?;
        }
        if let Some(id) = subscription {
            self.tx
                .prepare_cached(
                    "UPDATE subscriptions SET last_delivery_at = ?2, last_status = ?3, \
                     failures = 0 WHERE id = ?1",
                )?
                .execute(params![id, now, status])?;
        }
        Ok(())
    }

    /// A delivery failed with `status` (0: no answer) at `now`: it is tried again at
    /// `retry_ms`, or dropped when `None`; its subscriber's record counts the failure.
    pub fn delivery_failed(
        &self,
        key: &str,
        subscription: Option<i64>,
        status: u16,
        now: i64,
        retry_ms: Option<i64>,
    ) -> Result<()> {
        match retry_ms {
            Some(due) => self
                .tx
                .prepare_cached(
                    "UPDATE hub_deliveries SET attempts = attempts + 1, due_ms = ?2 WHERE key = ?1",
                )?
                .execute(params![key, due])?,
            None => self
                .tx
                .prepare_cached("DELETE FROM hub_deliveries WHERE key = ?1")?
                .execute([key])?,
        };
        if let Some(id) = subscription {
            self.tx
                .prepare_cached(
                    "UPDATE subscriptions SET last_delivery_at = ?2, last_status = ?3, \
                     failures = failures + 1 WHERE id = ?1",
                )?
                .execute(params![id, now, status])?;
        }
        Ok(())
    }

    /// Removes a subscription by id (its subscriber answered 410 Gone), if it still has that
    /// callback (ids are given again once the highest is deleted: the answer may come from a
    /// subscription that has ended since); returns its topic, callback and callback host.
    pub fn remove_subscription_by_id(
        &self,
        id: i64,
        callback: &str,
    ) -> Result<Option<(String, String, String)>> {
        Ok(self
            .tx
            .prepare_cached(
                "DELETE FROM subscriptions WHERE id = ?1 AND callback = ?2 \
                 RETURNING topic, callback, callback_host",
            )?
            .query_row(params![id, callback], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
    }

    /// Drops a delivery that can no longer be made (its topic is gone).
    pub fn drop_delivery(&self, key: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM hub_deliveries WHERE key = ?1")?
            .execute([key])?;
        Ok(())
    }
}

impl Store {
    /// When the soonest lease ends, seconds since the epoch.
    pub fn next_lease_end(&self) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT min(expires_at) FROM subscriptions")?
            .query_row([], |r| r.get(0))?)
    }

    /// Up to `limit` waiting deliveries, the soonest due first, with their subscriptions.
    pub fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT d.key, d.topic, d.due_ms, d.attempts, d.first_ms, d.version, \
             s.id IS NOT NULL, {SUBSCRIPTION_COLUMNS} FROM hub_deliveries d \
             LEFT JOIN subscriptions s ON s.id = d.subscription_id \
             ORDER BY d.due_ms LIMIT ?1"
        );
        let rows = self
            .conn()
            .prepare_cached(&sql)?
            .query_map([limit as i64], |r| {
                let has_subscription: bool = r.get(6)?;
                Ok(Delivery {
                    key: r.get(0)?,
                    topic: r.get(1)?,
                    due_ms: r.get(2)?,
                    attempts: r.get(3)?,
                    first_ms: r.get(4)?,
                    version: r.get(5)?,
                    subscription: if has_subscription {
                        Some(subscription_at(r, 7)?)
                    } else {
                        None
                    },
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Every subscription whose lease has not ended at `now`, by topic then callback.
    pub fn subscriptions(&self, now: i64) -> Result<Vec<Subscription>> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS}, EXISTS (SELECT 1 FROM hub_deliveries d \
             WHERE d.subscription_id = s.id) FROM subscriptions s WHERE s.expires_at > ?1 \
             ORDER BY s.topic, s.callback"
        );
        let rows = self
            .conn()
            .prepare_cached(&sql)?
            .query_map([now], |r| {
                let mut s = subscription_at(r, 0)?;
                s.pending = r.get(9)?;
                Ok(s)
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::open(&dir.path().join("f.db"), Duration::from_secs(1), true)
            .expect("a new store");
        (dir, store)
    }

    fn subscribe(store: &mut Store, topic: &str, callback: &str, lease: i64, now: i64) -> i64 {
        let tx = store.write().unwrap();
        let id = tx
            .put_subscription(
                &NewSubscription {
                    topic,
                    callback,
                    callback_host: "r.example",
                    secret: None,
                    lease_seconds: lease,
                },
                now,
            )
            .unwrap();
        tx.commit().unwrap();
        id
    }

    fn publish(store: &mut Store, topics: &[&str], now_ms: i64) -> usize {
        let tx = store.write().unwrap();
        let mut added = 0;
        for topic in topics {
            added += tx.queue_push(topic, Fanout::Subscribers, now_ms).unwrap();
        }
        tx.commit().unwrap();
        added
    }

    #[test]
    fn a_changed_feed_becomes_one_delivery_per_active_subscriber() {
        let (_dir, mut store) = store();
        let now = 1_800_000_000;
        let a = subscribe(&mut store, "/atom.xml", "https://r.example/a", 3600, now);
        subscribe(
            &mut store,
            "/atom.xml",
            "https://r.example/old",
            3600,
            now - 7200,
        );
        subscribe(&mut store, "/rss.xml", "https://r.example/b", 3600, now);
        assert_eq!(
            publish(&mut store, &["/atom.xml"], now * 1000),
            1,
            "the expired lease gets nothing"
        );
        // A second publish before the delivery is made coalesces into it, one version on.
        assert_eq!(publish(&mut store, &["/atom.xml"], now * 1000 + 5), 1);
        let waiting = store.deliveries(10).unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].version, 1);
        assert_eq!(waiting[0].subscription.as_ref().map(|s| s.id), Some(a));
        let tx = store.write().unwrap();
        tx.delivery_failed(&waiting[0].key, Some(a), 500, now, Some(now * 1000 + 2000))
            .unwrap();
        tx.commit().unwrap();
        let listed = store.subscriptions(now).unwrap();
        let first = listed.iter().find(|s| s.id == a).unwrap();
        assert_eq!(
            (first.failures, first.last_status, first.pending),
            (1, Some(500), true)
        );
        let tx = store.write().unwrap();
        tx.delivery_done(&waiting[0].key, 1, Some(a), 204, now + 2, now * 1000 + 2000)
            .unwrap();
        assert_eq!(tx.expire_subscriptions(now).unwrap().len(), 1);
        tx.commit().unwrap();
        let listed = store.subscriptions(now).unwrap();
        assert_eq!(listed.len(), 2);
        let first = listed.iter().find(|s| s.id == a).unwrap();
        assert_eq!(
            (first.failures, first.last_status, first.pending),
            (0, Some(204), false)
        );
    }

    #[test]
    fn a_renewal_keeps_one_subscription_and_an_unsubscription_drops_its_delivery() {
        let (_dir, mut store) = store();
        let now = 1_800_000_000;
        let first = subscribe(&mut store, "/atom.xml", "https://r.example/a", 3600, now);
        let again = subscribe(
            &mut store,
            "/atom.xml",
            "https://r.example/a",
            86_400,
            now + 10,
        );
        assert_eq!(first, again);
        let listed = store.subscriptions(now).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].expires_at, now + 10 + 86_400);
        publish(&mut store, &["/atom.xml"], now * 1000);
        let tx = store.write().unwrap();
        assert_eq!(
            tx.remove_subscription("/atom.xml", "https://r.example/a")
                .unwrap()
                .as_deref(),
            Some("r.example")
        );
        tx.commit().unwrap();
        assert!(
            store.deliveries(10).unwrap().is_empty(),
            "its delivery went with it"
        );
    }

    #[test]
    fn a_publish_during_a_delivery_keeps_it_for_the_new_body() {
        let (_dir, mut store) = store();
        let now = 1_800_000_000;
        let a = subscribe(&mut store, "/atom.xml", "https://r.example/a", 3600, now);
        publish(&mut store, &["/atom.xml"], now * 1000);
        let handed_out = store.deliveries(10).unwrap().remove(0);
        // The feed changes again while that delivery is under way.
        publish(&mut store, &["/atom.xml"], now * 1000 + 10);
        let tx = store.write().unwrap();
        tx.delivery_done(
            &handed_out.key,
            handed_out.version,
            Some(a),
            200,
            now,
            now * 1000 + 50,
        )
        .unwrap();
        tx.commit().unwrap();
        let again = store.deliveries(10).unwrap();
        assert_eq!(again.len(), 1, "the new body is still to be sent");
        assert_eq!((again[0].due_ms, again[0].attempts), (now * 1000 + 50, 0));
        let tx = store.write().unwrap();
        tx.delivery_done(
            &again[0].key,
            again[0].version,
            Some(a),
            200,
            now,
            now * 1000 + 90,
        )
        .unwrap();
        tx.commit().unwrap();
        assert!(store.deliveries(10).unwrap().is_empty());
    }

    #[test]
    fn a_delivery_given_up_is_dropped_and_counted() {
        let (_dir, mut store) = store();
        let now = 1_800_000_000;
        let a = subscribe(&mut store, "/atom.xml", "https://r.example/a", 3600, now);
        publish(&mut store, &["/atom.xml"], now * 1000);
        let key = store.deliveries(10).unwrap().remove(0).key;
        let tx = store.write().unwrap();
        tx.delivery_failed(&key, Some(a), 503, now, None).unwrap();
        tx.commit().unwrap();
        assert!(store.deliveries(10).unwrap().is_empty());
        let listed = store.subscriptions(now).unwrap();
        assert_eq!(
            (listed[0].failures, listed[0].last_status, listed[0].pending),
            (1, Some(503), false),
            "the subscription stays, with the failure on record"
        );
    }

    #[test]
    fn an_external_hub_gets_one_ping_per_feed() {
        let (_dir, mut store) = store();
        let tx = store.write().unwrap();
        assert_eq!(
            tx.queue_push("/atom.xml", Fanout::ExternalHub, 1000)
                .unwrap(),
            1
        );
        assert_eq!(
            tx.queue_push("/rss.xml", Fanout::ExternalHub, 1000)
                .unwrap(),
            1
        );
        assert_eq!(
            tx.queue_push("/atom.xml", Fanout::ExternalHub, 2000)
                .unwrap(),
            1,
            "met the waiting ping, one version on"
        );
        assert_eq!(
            tx.queue_push("/atom.xml", Fanout::Nowhere, 2000).unwrap(),
            0
        );
        tx.commit().unwrap();
        let keys: Vec<String> = store
            .deliveries(10)
            .unwrap()
            .into_iter()
            .map(|d| d.key)
            .collect();
        assert_eq!(keys.len(), 2);
        assert!(keys.contains(&"p:/atom.xml".to_string()));
    }
}
