//! The server's counters for `/metrics`: requests by route family and status, and bytes sent.
//! Each server thread adds to its own set (on cache lines of its own); reading sums them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::routes::Family;

/// The statuses counted one by one; any other is counted as [`OTHER_STATUS`].
pub const STATUSES: [u16; 19] = [
    200, 301, 304, 400, 401, 403, 404, 405, 406, 408, 410, 413, 414, 415, 429, 431, 500, 501, 503,
];
/// The label of statuses not in [`STATUSES`].
pub const OTHER_STATUS: &str = "other";

const COLUMNS: usize = STATUSES.len() + 1;
const FAMILIES: usize = Family::ALL.len();

/// One thread's counters.
#[repr(align(128))]
struct Thread {
    requests: [[AtomicU64; COLUMNS]; FAMILIES],
    bytes: [AtomicU64; FAMILIES],
}

impl Thread {
    fn new() -> Thread {
        Thread {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            bytes: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Every thread's counters.
pub struct Metrics {
    threads: Box<[Thread]>,
}

/// Counters summed over threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// (family, status label, requests), only the non-zero ones.
    pub requests: Vec<(Family, String, u64)>,
    /// Bytes of bodies sent, by family (in the order of [`Family::ALL`]).
    pub bytes: [u64; FAMILIES],
}

impl Totals {
    /// Requests of `family` answered `status`.
    pub fn requests_of(&self, family: Family, status: &str) -> u64 {
        self.requests
            .iter()
            .filter(|(f, s, _)| *f == family && s == status)
            .map(|(_, _, n)| n)
            .sum()
    }
}

impl Metrics {
    /// Counters for `threads` server threads.
    pub fn new(threads: usize) -> Metrics {
        Metrics {
            threads: (0..threads.max(1)).map(|_| Thread::new()).collect(),
        }
    }

    /// Counts one answer.
    pub fn count(&self, family: Family, status: u16, bytes: u64) {
        let thread = &self.threads[crate::http::cache::worker() % self.threads.len()];
        let column = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len());
        thread.requests[family.index()][column].fetch_add(1, Relaxed);
        thread.bytes[family.index()].fetch_add(bytes, Relaxed);
    }

    /// The sums over threads.
    pub fn totals(&self) -> Totals {
        let mut requests = Vec::new();
        for family in Family::ALL {
            for column in 0..COLUMNS {
                let n: u64 = self
                    .threads
                    .iter()
                    .map(|t| t.requests[family.index()][column].load(Relaxed))
                    .sum();
                if n > 0 {
                    let status = STATUSES
                        .get(column)
                        .map_or(OTHER_STATUS.to_string(), u16::to_string);
                    requests.push((family, status, n));
                }
            }
        }
        let bytes =
            std::array::from_fn(|i| self.threads.iter().map(|t| t.bytes[i].load(Relaxed)).sum());
        Totals { requests, bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_summed_by_family_and_status() {
        let metrics = Metrics::new(2);
        metrics.count(Family::Feed, 200, 100);
        metrics.count(Family::Feed, 304, 0);
        metrics.count(Family::Feed, 304, 0);
        metrics.count(Family::Page, 599, 7);
        let totals = metrics.totals();
        assert_eq!(totals.requests_of(Family::Feed, "200"), 1);
        assert_eq!(totals.requests_of(Family::Feed, "304"), 2);
        assert_eq!(totals.requests_of(Family::Page, OTHER_STATUS), 1);
        assert_eq!(totals.bytes[Family::Feed.index()], 100);
        assert_eq!(totals.bytes[Family::Page.index()], 7);
        assert_eq!(totals.requests.len(), 3, "zeros are left out");
    }
}
