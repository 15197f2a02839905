//! `server.min_poll_secs`: a poller that fetches the same feed without validators more often
//! than this is answered 429. Readers that send validators are never limited: their polls cost
//! a 304.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Pollers remembered at most (all feeds); beyond, new ones are not limited until old ones are
/// forgotten.
const MAX_REMEMBERED: usize = 1_000_000;

/// Locks the remembered fetches are spread over, so that threads seldom want the same one.
const SHARDS: usize = 16;

/// When each (poller, feed) last fetched without validators.
pub struct Limiter {
    min: Option<Duration>,
    shards: Vec<Mutex<HashMap<(u128, u64), Instant>>>,
}

impl Limiter {
    /// A limiter of one fetch without validators per `min_poll_secs` (0: none).
    pub fn new(min_poll_secs: u64) -> Limiter {
        Limiter {
            min: (min_poll_secs > 0).then(|| Duration::from_secs(min_poll_secs)),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Whether a limit is set.
    pub fn is_on(&self) -> bool {
        self.min.is_some()
    }

    /// Lets a fetch without validators of `path` by `poller` through (and remembers it), or
    /// says in how many whole seconds the next is allowed.
    pub fn check(&self, poller: u128, path: &str, now: Instant) -> Result<(), u64> {
        let Some(min) = self.min else {
            return Ok(());
        };
        let key = (poller, path_hash(path));
        let shard = &self.shards[(poller as usize) % SHARDS];
        let mut seen = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(last) = seen.get_mut(&key) {
            let since = now.saturating_duration_since(*last);
            if since < min {
                let left = min - since;
                return Err(left.as_secs() + u64::from(left.subsec_nanos() > 0));
            }
            *last = now;
            return Ok(());
        }
        if seen.len() < MAX_REMEMBERED / SHARDS {
            seen.insert(key, now);
        }
        Ok(())
    }

    /// Forgets fetches older than the limit (they no longer hold anyone back).
    pub fn forget_old(&self) {
        let Some(min) = self.min else {
            return;
        };
        let now = Instant::now();
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, last| now.saturating_duration_since(*last) < min);
        }
    }
}

fn path_hash(path: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_fetch_within_the_limit_waits_for_what_is_left() {
        let limiter = Limiter::new(60);
        let start = Instant::now();
        assert_eq!(limiter.check(1, "/atom.xml", start), Ok(()));
        assert_eq!(
            limiter.check(1, "/atom.xml", start + Duration::from_millis(10_500)),
            Err(50),
            "49.5 s left: asked to wait 50"
        );
        assert_eq!(limiter.check(1, "/rss.xml", start), Ok(()), "another feed");
        assert_eq!(
            limiter.check(2, "/atom.xml", start),
            Ok(()),
            "another poller"
        );
        assert_eq!(
            limiter.check(1, "/atom.xml", start + Duration::from_secs(60)),
            Ok(())
        );
        assert_eq!(
            limiter.check(1, "/atom.xml", start + Duration::from_secs(61)),
            Err(59),
            "the allowed fetch started the wait again"
        );
    }

    #[test]
    fn no_limit_lets_everything_through() {
        let limiter = Limiter::new(0);
        let now = Instant::now();
        assert!(!limiter.is_on());
        for _ in 0..3 {
            assert_eq!(limiter.check(1, "/atom.xml", now), Ok(()));
        }
    }
}
