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
    pub daily: Vec<DayTotals>,
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
    pub history: Vec<FeedDay>,
}

/// A feed's subscribers as one aggregator reports them, or the other readers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reader {
    /// `Feedly`, `Inoreader`, … or [`OTHER_READERS`].
    pub name: String,
    pub subscribers: u64,
}

/// One feed on one day.
#[derive(Debug, Clone, Serialize)]
pub struct FeedDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub subscribers: u64,
    pub requests: u64,
    pub not_modified: u64,
    pub bytes: u64,
}

/// All feeds on one day.
#[derive(Debug, Clone, Serialize)]
pub struct DayTotals {
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
