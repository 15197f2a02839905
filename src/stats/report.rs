//! What the counting adds up to, over a window of days: read by `feedsvc stats` and the admin
//! dashboard. Days are UTC days, numbered from 1970-01-01 (day 0).

use serde::Serialize;

/// The name under which pollers that report no count are summed, one per (address,
/// User-Agent) a day.
pub const OTHER_READERS: &str = "Other readers";

/// Everything counted over `days` days ending with `last_day`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Length of the window, in days.
    pub days: u32,
    /// First and last day of the window (the last is today).
    #[serde(skip)]
    pub first_day: i64,
    #[serde(skip)]
    pub last_day: i64,
    /// The most recent day in the window with any poll counted, as `YYYY-MM-DD`; `None` when
    /// nothing was counted in the window.
    pub latest_day: Option<String>,
    /// Subscribers of every feed on `latest_day`.
    pub total_subscribers: u64,
    /// Each feed polled in the window, most subscribers first.
    pub feeds: Vec<FeedReport>,
    /// The pollers that sent the most requests without validators, most first (at most ten).
    pub worst_pollers: Vec<WorstPoller>,
    /// Every day of the window, oldest first, summed over all feeds.
    pub daily: Vec<DayCounts>,
}

impl Report {
    /// Drops the days of the window before the first one with any request (counting had not
    /// started, or nobody polled yet), so that charts begin where the counts do. Totals are
    /// unchanged: those days held nothing.
    pub fn skip_days_before_counting(&mut self) {
        let quiet = self.daily.iter().take_while(|d| d.requests == 0).count();
        let quiet = quiet.min(self.daily.len().saturating_sub(1));
        self.daily.drain(..quiet);
        for feed in &mut self.feeds {
            let drop = quiet.min(feed.history.len());
            feed.history.drain(..drop);
        }
        self.first_day += quiet as i64;
    }
}

/// One feed, over the window.
#[derive(Debug, Clone, Serialize)]
pub struct FeedReport {
    /// The feed's path (`/atom.xml`, `/tags/africa/rss.xml`).
    pub path: String,
    /// Subscribers on the report's `latest_day`.
    pub subscribers: u64,
    /// `subscribers`, by aggregator (most first), then [`OTHER_READERS`] as one row (present
    /// even when 0).
    pub readers: Vec<Reader>,
    /// Requests over the window (browser views included).
    pub requests: u64,
    /// Of them, answered 200.
    pub ok: u64,
    /// Of them, answered 304.
    pub not_modified: u64,
    /// Of them, refused 429 (`server.min_poll_secs`).
    pub limited: u64,
    /// Bytes of bodies sent.
    pub bytes: u64,
    /// Distinct pollers (address + User-Agent, counted per day, summed over days; browsers
    /// not included).
    pub pollers: u64,
    /// Of them, those that never sent `If-None-Match` or `If-Modified-Since` that day.
    pub pollers_without_validators: u64,
    /// Every day of the window, oldest first.
    pub history: Vec<DayCounts>,
}

/// A feed's subscribers as one aggregator reports them, or the other readers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reader {
    /// `Feedly`, `Inoreader`, … or [`OTHER_READERS`].
    pub name: String,
    pub subscribers: u64,
}

/// One day's counts: of one feed (a feed's `history`), or of all feeds (the report's `daily`).
#[derive(Debug, Clone, Serialize)]
pub struct DayCounts {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub subscribers: u64,
    pub requests: u64,
    pub not_modified: u64,
    pub bytes: u64,
}

/// A User-Agent that polls without validators.
#[derive(Debug, Clone, Serialize)]
pub struct WorstPoller {
    /// Its User-Agent (at most 256 bytes of it), `-` when it sent none.
    pub user_agent: String,
    /// Requests without validators a day, averaged over the days it polled.
    pub unconditional_per_day: f64,
    /// All its requests in the window.
    pub requests: u64,
    /// The feeds it polled, as many as were counted (sorted).
    pub feeds: Vec<String>,
}

/// Most User-Agents listed among the worst pollers.
const WORST_POLLERS: usize = 10;

/// The report of a window in which nothing was counted (no database yet).
pub fn build_empty(days: u32, today: i64) -> Report {
    let days = days.max(1);
    let first_day = today - i64::from(days) + 1;
    Report {
        days,
        first_day,
        last_day: today,
        latest_day: None,
        total_subscribers: 0,
        feeds: Vec::new(),
        worst_pollers: Vec::new(),
        daily: (first_day..=today)
            .map(|day| DayCounts {
                day: super::day_label(day),
                subscribers: 0,
                requests: 0,
                not_modified: 0,
                bytes: 0,
            })
            .collect(),
    }
}

/// Adds up the counts of the `days` days that end with `today` (a UTC day number).
pub fn build(
    store: &crate::store::stats::StatsStore,
    days: u32,
    today: i64,
) -> crate::Result<Report> {
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    let days = days.max(1);
    let last_day = today;
    let first_day = today - i64::from(days) + 1;
    let feed_days = store.feed_days(first_day, last_day)?;
    let poller_days = store.poller_days(first_day, last_day)?;
    let aggregator_days = store.aggregator_days(first_day, last_day)?;

    // Subscribers by (day, path): aggregators' counts, then readers.
    let mut readers: HashMap<(i64, &str), u64> = HashMap::new();
    let mut pollers: HashMap<&str, (u64, u64)> = HashMap::new();
    for row in &poller_days {
        if row.kind == super::Kind::Reader as i64 {
            *readers.entry((row.day, &row.path)).or_default() += row.pollers;
        }
        let entry = pollers.entry(&row.path).or_default();
        entry.0 += row.pollers;
        entry.1 += row.without_validators;
    }
    let mut aggregated: HashMap<(i64, &str), Vec<(&str, u64)>> = HashMap::new();
    for row in &aggregator_days {
        aggregated
            .entry((row.day, &row.path))
            .or_default()
            .push((&row.name, row.subscribers));
    }
    let subscribers_on = |day: i64, path: &str| -> u64 {
        readers.get(&(day, path)).copied().unwrap_or(0)
            + aggregated
                .get(&(day, path))
                .map_or(0, |list| list.iter().map(|(_, n)| n).sum())
    };

    let latest = feed_days.iter().map(|row| row.day).max();
    let paths: BTreeSet<&str> = feed_days.iter().map(|row| row.path.as_str()).collect();
    let by_day_path: HashMap<(i64, &str), &crate::store::stats::FeedDayRow> = feed_days
        .iter()
        .map(|row| ((row.day, row.path.as_str()), row))
        .collect();
    let window = first_day..=last_day;

    let mut feeds: Vec<FeedReport> = paths
        .iter()
        .map(|&path| {
            let rows = feed_days.iter().filter(|row| row.path == path);
            let sum = |f: fn(&crate::store::stats::FeedDayRow) -> u64| rows.clone().map(f).sum();
            let (polled, without) = pollers.get(path).copied().unwrap_or((0, 0));
            let mut list: Vec<Reader> = latest
                .and_then(|day| aggregated.get(&(day, path)))
                .map(|list| {
                    list.iter()
                        .map(|(name, n)| Reader {
                            name: (*name).to_string(),
                            subscribers: *n,
                        })
                        .collect()
                })
                .unwrap_or_default();
            list.sort_by(|a, b| b.subscribers.cmp(&a.subscribers).then(a.name.cmp(&b.name)));
            list.push(Reader {
                name: OTHER_READERS.to_string(),
                subscribers: latest
                    .and_then(|day| readers.get(&(day, path)).copied())
                    .unwrap_or(0),
            });
            FeedReport {
                path: path.to_string(),
                subscribers: latest.map_or(0, |day| subscribers_on(day, path)),
                readers: list,
                requests: sum(|r| r.requests),
                ok: sum(|r| r.ok),
                not_modified: sum(|r| r.not_modified),
                limited: sum(|r| r.limited),
                bytes: sum(|r| r.bytes),
                pollers: polled,
                pollers_without_validators: without,
                history: window
                    .clone()
                    .map(|day| {
                        let row = by_day_path.get(&(day, path));
                        DayCounts {
                            day: super::day_label(day),
                            subscribers: subscribers_on(day, path),
                            requests: row.map_or(0, |r| r.requests),
                            not_modified: row.map_or(0, |r| r.not_modified),
                            bytes: row.map_or(0, |r| r.bytes),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    feeds.sort_by(|a, b| {
        b.subscribers
            .cmp(&a.subscribers)
            .then(b.requests.cmp(&a.requests))
            .then(a.path.cmp(&b.path))
    });

    let mut daily: BTreeMap<i64, DayCounts> = window
        .clone()
        .map(|day| {
            (
                day,
                DayCounts {
                    day: super::day_label(day),
                    subscribers: 0,
                    requests: 0,
                    not_modified: 0,
                    bytes: 0,
                },
            )
        })
        .collect();
    for row in &feed_days {
        if let Some(total) = daily.get_mut(&row.day) {
            total.requests += row.requests;
            total.not_modified += row.not_modified;
            total.bytes += row.bytes;
            total.subscribers += subscribers_on(row.day, &row.path);
        }
    }

    let worst_pollers = store
        .worst_agents(first_day, last_day, WORST_POLLERS)?
        .into_iter()
        .map(|row| WorstPoller {
            user_agent: if row.agent.is_empty() {
                "-".to_string()
            } else {
                row.agent
            },
            unconditional_per_day: row.unconditional as f64 / row.days.max(1) as f64,
            requests: row.requests,
            feeds: row.paths,
        })
        .collect();

    Ok(Report {
        days,
        first_day,
        last_day,
        latest_day: latest.map(super::day_label),
        total_subscribers: feeds.iter().map(|f| f.subscribers).sum(),
        feeds,
        worst_pollers,
        daily: daily.into_values().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_begin_on_the_first_day_with_requests() {
        let mut report = build_empty(10, 20_000);
        report.daily[6].requests = 3;
        report.skip_days_before_counting();
        assert_eq!(report.daily.len(), 4);
        assert_eq!(report.daily[0].requests, 3);
        assert_eq!(report.first_day, 20_000 - 9 + 6);

        let mut quiet = build_empty(10, 20_000);
        quiet.skip_days_before_counting();
        assert_eq!(
            quiet.daily.len(),
            1,
            "a window without requests keeps its last day"
        );
    }
}
