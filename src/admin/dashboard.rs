//! The admin dashboard: one server-rendered HTML page (no JavaScript, charts as inline SVG) with
//! subscribers, requests and the share answered 304, who polls badly, WebSub delivery health and
//! the latest publishes.
//!
//! Everything from data goes through the template's HTML escaping: User-Agents, feed paths and
//! callback hosts are chosen by whoever sends the requests.

use askama::Template;
use chrono::{DateTime, NaiveDate};

use crate::stats::report::{FeedReport, Report, OTHER_READERS};
use crate::store::hub::Subscription;

/// What the dashboard shows, gathered by the admin listener.
pub struct Dashboard<'a> {
    /// The site's title.
    pub site_title: &'a str,
    /// The site's base URL.
    pub site_url: &'a str,
    /// When the page is generated, seconds since the epoch.
    pub now: i64,
    /// False when `stats.enabled = false`: the page says that nothing new is counted.
    pub stats_enabled: bool,
    /// The counted figures, over a 90-day window.
    pub report: &'a Report,
    /// The built-in WebSub hub's state; `None` when that hub is off.
    pub hub: Option<HubHealth>,
    /// The most recent publishes, newest first (at most ten are shown).
    pub recent: Vec<Publish>,
}

/// The built-in WebSub hub's subscriptions and how their deliveries fare.
pub struct HubHealth {
    /// Active subscriptions.
    pub total: usize,
    /// Subscriptions with a delivery waiting.
    pub pending: usize,
    /// Subscriptions whose last delivery failed (`failures > 0`).
    pub failing: usize,
    /// At most 50 subscriptions, shown as a table. Their secrets and full callback URLs are
    /// never shown, only the callback's host.
    pub subscriptions: Vec<Subscription>,
}

/// An article as published.
pub struct Publish {
    /// Its title.
    pub title: String,
    /// Its absolute URL.
    pub url: String,
    /// When it was published, RFC 3339.
    pub published: String,
}

/// Feeds drawn in the subscribers chart: more lines than this cannot be told apart, and the
/// page stays small with many feeds. The others are in the tables.
const CHARTED_FEEDS: usize = 8;
/// Rows of the subscriptions table and of the recent publishes.
const SHOWN_SUBSCRIPTIONS: usize = 50;
const SHOWN_PUBLISHES: usize = 10;
/// Feeds named beside one poller before "and N more".
const SHOWN_POLLER_FEEDS: usize = 5;
/// Characters of a feed path in a chart's legend.
const LEGEND_CHARS: usize = 44;

/// Chart geometry, in SVG user units (the SVG scales to the page's width).
const CHART_WIDTH: f64 = 760.0;
const PLOT_LEFT: f64 = 64.0;
const PLOT_RIGHT: f64 = 744.0;
const PLOT_TOP: f64 = 16.0;
const PLOT_BOTTOM: f64 = 216.0;
const LEGEND_ROW: f64 = 20.0;

/// Dash patterns of the subscriber lines, so that series differ by more than their colour.
const DASHES: [&str; CHARTED_FEEDS] = [
    "", "10 5", "2 4", "14 4 3 4", "6 3", "3 3 10 3", "18 6", "1 5",
];

/// The dashboard page as HTML. Never fails: should the template refuse (it cannot for these
/// values), a short page saying so is returned instead.
pub fn render(d: &Dashboard<'_>) -> String {
    let page = page_view(d);
    page.render().unwrap_or_else(|e| {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Dashboard</title>\
             </head><body><p>The dashboard could not be rendered: {}</p></body></html>\n",
            crate::text::escape_markup(&e.to_string())
        )
    })
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Page<'a> {
    site_title: &'a str,
    site_url: &'a str,
    generated: String,
    generated_iso: String,
    is_counting: bool,
    days: u32,
    has_data: bool,
    latest_day: String,
    other_readers: &'static str,
    frame: Frame,
    cards: Vec<Card>,
    subscribers_chart: Option<LineChart>,
    uncharted: usize,
    requests_chart: Option<BarChart>,
    feeds: Vec<FeedRow>,
    readers: Vec<ReaderRow>,
    readers_by_feed: Vec<FeedReaders>,
    worst: Vec<PollerRow>,
    hub: Option<HubView>,
    recent: Vec<PublishRow>,
}

/// Where the charts' plot area and axis labels sit.
struct Frame {
    width: String,
    left: String,
    right: String,
    bottom: String,
    y_label_x: String,
    x_label_y: String,
}

struct Card {
    label: &'static str,
    value: String,
    note: String,
}

struct LineChart {
    label: String,
    height: String,
    y_ticks: Vec<YTick>,
    x_ticks: Vec<XTick>,
    series: Vec<Series>,
}

struct BarChart {
    label: String,
    height: String,
    legend_y: String,
    y_ticks: Vec<YTick>,
    x_ticks: Vec<XTick>,
    bars: Vec<Bar>,
}

struct YTick {
    y: String,
    label: String,
}

struct XTick {
    x: String,
    anchor: &'static str,
    label: String,
}

struct Series {
    class: String,
    dash: &'static str,
    path: String,
    name: String,
    legend_x: String,
    legend_end: String,
    legend_text: String,
    legend_y: String,
}

struct Bar {
    tip: String,
    x: String,
    width: String,
    top: String,
    height: String,
    not_modified_top: String,
    not_modified_height: String,
}

struct FeedRow {
    path: String,
    subscribers: String,
    requests: String,
    not_modified_share: String,
    bytes: String,
    pollers: String,
    without_validators: String,
}

struct ReaderRow {
    name: String,
    subscribers: String,
    share: String,
}

struct FeedReaders {
    path: String,
    rows: Vec<ReaderRow>,
}

struct PollerRow {
    user_agent: String,
    unconditional_per_day: String,
    requests: String,
    feeds: String,
}

struct HubView {
    total: String,
    pending: String,
    failing: String,
    more: usize,
    subscriptions: Vec<SubscriptionRow>,
}

struct SubscriptionRow {
    topic: String,
    callback_host: String,
    lease_end: String,
    last_delivery: String,
    last_status: String,
    failures: String,
    is_failing: bool,
    is_pending: bool,
}

struct PublishRow {
    title: String,
    url: Option<String>,
    datetime: Option<String>,
    published: String,
}

fn page_view<'a>(d: &Dashboard<'a>) -> Page<'a> {
    let r = d.report;
    let has_data = !r.feeds.is_empty();
    let latest_day = r.latest_day.as_deref().map(long_day).unwrap_or_default();
    let requests: u64 = r.daily.iter().map(|day| day.requests).sum();
    let not_modified: u64 = r.daily.iter().map(|day| day.not_modified).sum();
    let bytes: u64 = r.daily.iter().map(|day| day.bytes).sum();
    let cards = vec![
        Card {
            label: "Subscribers",
            value: group(r.total_subscribers),
            note: if latest_day.is_empty() {
                "none counted yet".to_string()
            } else {
                format!("on {latest_day}")
            },
        },
        Card {
            label: "Requests",
            value: group(requests),
            note: format!("last {} days", r.days),
        },
        Card {
            label: "Answered 304",
            value: percent(not_modified, requests),
            note: format!("{} not modified", group(not_modified)),
        },
        Card {
            label: "Sent",
            value: human_bytes(bytes),
            note: "feed bodies".to_string(),
        },
        Card {
            label: "Feeds polled",
            value: group(r.feeds.len() as u64),
            note: format!("last {} days", r.days),
        },
    ];
    Page {
        site_title: d.site_title,
        site_url: d.site_url,
        generated: DateTime::from_timestamp(d.now, 0)
            .map(|t| t.format("%-d %B %Y, %H:%M UTC").to_string())
            .unwrap_or_default(),
        generated_iso: DateTime::from_timestamp(d.now, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default(),
        is_counting: d.stats_enabled,
        days: r.days,
        has_data,
        latest_day,
        other_readers: OTHER_READERS,
        frame: Frame {
            width: coord(CHART_WIDTH),
            left: coord(PLOT_LEFT),
            right: coord(PLOT_RIGHT),
            bottom: coord(PLOT_BOTTOM),
            y_label_x: coord(PLOT_LEFT - 8.0),
            x_label_y: coord(PLOT_BOTTOM + 20.0),
        },
        cards,
        subscribers_chart: if has_data {
            subscribers_chart(&r.feeds)
        } else {
            None
        },
        uncharted: r.feeds.len().saturating_sub(CHARTED_FEEDS),
        requests_chart: if has_data { requests_chart(r) } else { None },
        feeds: r.feeds.iter().map(feed_row).collect(),
        readers: readers_overall(&r.feeds),
        readers_by_feed: r
            .feeds
            .iter()
            .filter_map(|f| {
                let rows: Vec<ReaderRow> = f
                    .readers
                    .iter()
                    .filter(|reader| reader.subscribers > 0)
                    .map(|reader| ReaderRow {
                        name: reader.name.clone(),
                        subscribers: group(reader.subscribers),
                        share: percent(reader.subscribers, f.subscribers),
                    })
                    .collect();
                (!rows.is_empty()).then(|| FeedReaders {
                    path: f.path.clone(),
                    rows,
                })
            })
            .collect(),
        worst: r
            .worst_pollers
            .iter()
            .map(|p| PollerRow {
                user_agent: p.user_agent.clone(),
                unconditional_per_day: decimal(p.unconditional_per_day),
                requests: group(p.requests),
                feeds: feed_list(&p.feeds),
            })
            .collect(),
        hub: d.hub.as_ref().map(|h| hub_view(h, d.now)),
        recent: d
            .recent
            .iter()
            .take(SHOWN_PUBLISHES)
            .map(publish_row)
            .collect(),
    }
}

fn feed_row(f: &FeedReport) -> FeedRow {
    FeedRow {
        path: f.path.clone(),
        subscribers: group(f.subscribers),
        requests: group(f.requests),
        not_modified_share: percent(f.not_modified, f.requests),
        bytes: human_bytes(f.bytes),
        pollers: group(f.pollers),
        without_validators: group(f.pollers_without_validators),
    }
}

/// Subscribers on the latest day by reader, summed over feeds; most first, other readers last.
fn readers_overall(feeds: &[FeedReport]) -> Vec<ReaderRow> {
    let mut sums: Vec<(String, u64)> = Vec::new();
    for reader in feeds.iter().flat_map(|f| &f.readers) {
        match sums.iter_mut().find(|(name, _)| *name == reader.name) {
            Some((_, n)) => *n += reader.subscribers,
            None => sums.push((reader.name.clone(), reader.subscribers)),
        }
    }
    sums.retain(|(_, n)| *n > 0);
    sums.sort_by(|a, b| {
        (a.0 == OTHER_READERS)
            .cmp(&(b.0 == OTHER_READERS))
            .then(b.1.cmp(&a.1))
            .then(a.0.cmp(&b.0))
    });
    let total: u64 = sums.iter().map(|(_, n)| n).sum();
    sums.into_iter()
        .map(|(name, n)| ReaderRow {
            name,
            subscribers: group(n),
            share: percent(n, total),
        })
        .collect()
}

fn feed_list(feeds: &[String]) -> String {
    let mut text = feeds
        .iter()
        .take(SHOWN_POLLER_FEEDS)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if feeds.len() > SHOWN_POLLER_FEEDS {
        text.push_str(&format!(
            " and {} more",
            group((feeds.len() - SHOWN_POLLER_FEEDS) as u64)
        ));
    }
    text
}

fn hub_view(h: &HubHealth, now: i64) -> HubView {
    let shown = h.subscriptions.len().min(SHOWN_SUBSCRIPTIONS);
    HubView {
        total: group(h.total as u64),
        pending: group(h.pending as u64),
        failing: group(h.failing as u64),
        more: h.total.saturating_sub(shown),
        subscriptions: h
            .subscriptions
            .iter()
            .take(SHOWN_SUBSCRIPTIONS)
            .map(|s| SubscriptionRow {
                topic: s.topic.clone(),
                callback_host: s.callback_host.clone(),
                lease_end: if s.expires_at <= now {
                    format!("{} (ended)", utc_minute(s.expires_at))
                } else {
                    utc_minute(s.expires_at)
                },
                last_delivery: s
                    .last_delivery_at
                    .map(utc_minute)
                    .unwrap_or_else(|| "never".into()),
                last_status: match s.last_status {
                    None => "—".to_string(),
                    Some(0) => "no answer".to_string(),
                    Some(code) => code.to_string(),
                },
                failures: group(s.failures.max(0) as u64),
                is_failing: s.failures > 0,
                is_pending: s.pending,
            })
            .collect(),
    }
}

fn publish_row(p: &Publish) -> PublishRow {
    // Only web addresses become links: a `javascript:` URL must not, whatever put it there.
    let is_web = p.url.starts_with("https://") || p.url.starts_with("http://");
    let parsed = DateTime::parse_from_rfc3339(&p.published).ok();
    PublishRow {
        title: p.title.clone(),
        url: is_web.then(|| p.url.clone()),
        datetime: parsed.map(|t| t.to_rfc3339()),
        published: parsed
            .map(|t| t.format("%-d %b %Y, %H:%M").to_string())
            .unwrap_or_else(|| p.published.clone()),
    }
}

/// The subscribers of the most followed feeds, one line each, over the window.
fn subscribers_chart(feeds: &[FeedReport]) -> Option<LineChart> {
    let charted = &feeds[..feeds.len().min(CHARTED_FEEDS)];
    let days = charted.iter().map(|f| f.history.len()).max()?;
    if days == 0 {
        return None;
    }
    let max = charted
        .iter()
        .flat_map(|f| &f.history)
        .map(|day| day.subscribers)
        .max()
        .unwrap_or(0);
    let (top, step) = scale(max);
    let y = |v: u64| PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * ratio(v, top);
    let x = |i: usize| PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * ratio(i as u64, (days - 1) as u64);
    let legend_top = PLOT_BOTTOM + 48.0;
    let column = (PLOT_RIGHT - PLOT_LEFT) / 2.0;
    let series = charted
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut path = String::new();
            for (j, day) in f.history.iter().enumerate() {
                let command = if j == 0 { 'M' } else { 'L' };
                path.push_str(&format!(
                    "{command}{},{}",
                    coord(x(j)),
                    coord(y(day.subscribers))
                ));
            }
            // One day of data is a point; draw it across the plot so that it shows.
            if let [only] = f.history.as_slice() {
                path = format!(
                    "M{},{}L{},{}",
                    coord(PLOT_LEFT),
                    coord(y(only.subscribers)),
                    coord(PLOT_RIGHT),
                    coord(y(only.subscribers))
                );
            }
            let legend_x = PLOT_LEFT + column * (i % 2) as f64;
            let legend_y = legend_top + LEGEND_ROW * (i / 2) as f64;
            Series {
                class: format!("c{i}"),
                dash: DASHES[i],
                path,
                name: format!(
                    "{} ({})",
                    truncate(&f.path, LEGEND_CHARS),
                    group(f.subscribers)
                ),
                legend_x: coord(legend_x),
                legend_end: coord(legend_x + 36.0),
                legend_text: coord(legend_x + 44.0),
                legend_y: coord(legend_y),
            }
        })
        .collect::<Vec<_>>();
    let rows = series.len().div_ceil(2) as f64;
    let dates: Vec<&str> = charted
        .iter()
        .map(|f| f.history.as_slice())
        .max_by_key(|h| h.len())
        .unwrap_or(&[])
        .iter()
        .map(|d| d.day.as_str())
        .collect();
    Some(LineChart {
        label: format!(
            "Subscribers per day of the {} most followed feeds{}, on a scale of 0 to {}",
            series.len(),
            span(&dates),
            group(top)
        ),
        height: coord(legend_top + LEGEND_ROW * rows - 6.0),
        y_ticks: y_ticks(top, step, y),
        x_ticks: x_ticks(&dates, x),
        series,
    })
}

/// All requests per day, the part answered 304 shaded.
fn requests_chart(r: &Report) -> Option<BarChart> {
    let days = r.daily.len();
    if days == 0 {
        return None;
    }
    let max = r.daily.iter().map(|d| d.requests).max().unwrap_or(0);
    let (top, step) = scale(max);
    let y = |v: u64| PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * ratio(v, top);
    let slot = (PLOT_RIGHT - PLOT_LEFT) / days as f64;
    let width = slot * 0.75;
    let centre = |i: usize| PLOT_LEFT + slot * (i as f64 + 0.5);
    let bars = r
        .daily
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let not_modified = day.not_modified.min(day.requests);
            Bar {
                tip: format!(
                    "{}: {} requests, {} answered 304 ({})",
                    long_day(&day.day),
                    group(day.requests),
                    group(not_modified),
                    percent(not_modified, day.requests)
                ),
                x: coord(centre(i) - width / 2.0),
                width: coord(width),
                top: coord(y(day.requests)),
                height: coord(PLOT_BOTTOM - y(day.requests)),
                not_modified_top: coord(y(not_modified)),
                not_modified_height: coord(PLOT_BOTTOM - y(not_modified)),
            }
        })
        .collect();
    let requests: u64 = r.daily.iter().map(|d| d.requests).sum();
    let not_modified: u64 = r.daily.iter().map(|d| d.not_modified).sum();
    let dates: Vec<&str> = r.daily.iter().map(|d| d.day.as_str()).collect();
    Some(BarChart {
        label: format!(
            "Requests per day{}: {} in all, {} of them answered 304 (not modified)",
            span(&dates),
            group(requests),
            percent(not_modified, requests)
        ),
        height: coord(PLOT_BOTTOM + 64.0),
        legend_y: coord(PLOT_BOTTOM + 48.0),
        y_ticks: y_ticks(top, step, y),
        x_ticks: x_ticks(&dates, centre),
        bars,
    })
}

/// " from 5 September 2026 to 3 December 2026", or nothing without days.
fn span(days: &[&str]) -> String {
    match (days.first(), days.last()) {
        (Some(first), Some(last)) => {
            format!(" from {} to {}", long_day(first), long_day(last))
        }
        _ => String::new(),
    }
}

fn y_ticks(top: u64, step: u64, y: impl Fn(u64) -> f64) -> Vec<YTick> {
    (0..=top / step)
        .map(|i| YTick {
            y: coord(y(i * step)),
            label: group(i * step),
        })
        .collect()
}

/// Labels for the first, middle and last day.
fn x_ticks(days: &[&str], x: impl Fn(usize) -> f64) -> Vec<XTick> {
    let n = days.len();
    let mut picks = vec![(0, "start")];
    if n > 2 {
        picks.push((n / 2, "middle"));
    }
    if n > 1 {
        picks.push((n - 1, "end"));
    }
    picks
        .into_iter()
        .map(|(i, anchor)| XTick {
            x: coord(x(i)),
            anchor,
            label: short_day(days[i]),
        })
        .collect()
}

/// The axis' top and step between ticks: a round step (1, 2 or 5 times a power of ten) giving
/// about four ticks. Never zero, so nothing divides by zero when every value is 0.
fn scale(max: u64) -> (u64, u64) {
    let raw = max.div_ceil(4).max(1);
    let mut magnitude = 1u64;
    while magnitude.saturating_mul(10) <= raw {
        magnitude *= 10;
    }
    let step = [1, 2, 5, 10]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10 * magnitude);
    (max.div_ceil(step).max(1) * step, step)
}

/// `part / whole` as a float, 0 when `whole` is 0.
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// An SVG coordinate with one decimal; never `NaN` or `inf`.
fn coord(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "0".to_string()
    }
}

/// `12345` -> `12,345`.
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1234.56` -> `1,234.6`; `—` for a value that is not a number.
pub(crate) fn decimal(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return "—".to_string();
    }
    let tenths = (v * 10.0).round() as u64;
    format!("{}.{}", group(tenths / 10), tenths % 10)
}

/// `part` as a percentage of `whole` (`42.5%`), `—` when `whole` is 0.
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "—".to_string()
    } else {
        format!("{}%", decimal(100.0 * ratio(part, whole)))
    }
}

/// `1234567` -> `1.2 MB` (decimal units, as network traffic is counted).
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `2026-12-03` -> `3 Dec`; other text as it is.
fn short_day(day: &str) -> String {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|d| d.format("%-d %b").to_string())
        .unwrap_or_else(|_| day.to_string())
}

/// `2026-12-03` -> `3 December 2026`; other text as it is.
fn long_day(day: &str) -> String {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(|d| d.format("%-d %B %Y").to_string())
        .unwrap_or_else(|_| day.to_string())
}

/// Seconds since the epoch as `2026-12-03 11:12 UTC`.
fn utc_minute(epoch: i64) -> String {
    DateTime::from_timestamp(epoch, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".to_string())
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(chars - 1).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::report::{DayCounts, Reader, WorstPoller};

    const NOW: i64 = 1_796_300_000; // 2026-12-03

    fn day(n: u32) -> String {
        format!("2026-11-{n:02}")
    }

    fn empty_report() -> Report {
        Report {
            days: 90,
            first_day: 20_701,
            last_day: 20_790,
            latest_day: None,
            total_subscribers: 0,
            feeds: Vec::new(),
            worst_pollers: Vec::new(),
            daily: (1..=30)
                .map(|n| DayCounts {
                    day: day(n),
                    subscribers: 0,
                    requests: 0,
                    not_modified: 0,
                    bytes: 0,
                })
                .collect(),
        }
    }

    fn feed(path: &str, subscribers: u64, readers: Vec<Reader>) -> FeedReport {
        FeedReport {
            path: path.to_string(),
            subscribers,
            readers,
            requests: 12_345,
            ok: 2_345,
            not_modified: 10_000,
            limited: 0,
            bytes: 3_500_000,
            pollers: 40,
            pollers_without_validators: 3,
            history: (1..=30)
                .map(|n| DayCounts {
                    day: day(n),
                    subscribers: subscribers * u64::from(n) / 30,
                    requests: 400,
                    not_modified: 300,
                    bytes: 100_000,
                })
                .collect(),
        }
    }

    fn report_with_data() -> Report {
        let mut r = empty_report();
        r.latest_day = Some(day(30));
        r.total_subscribers = 1_476;
        r.feeds = vec![
            feed(
                "/atom.xml",
                1_470,
                vec![
                    Reader {
                        name: "Feedly".to_string(),
                        subscribers: 1_462,
                    },
                    Reader {
                        name: OTHER_READERS.to_string(),
                        subscribers: 8,
                    },
                ],
            ),
            feed(
                "/tags/africa/rss.xml",
                6,
                vec![Reader {
                    name: OTHER_READERS.to_string(),
                    subscribers: 6,
                }],
            ),
        ];
        for d in &mut r.daily {
            d.requests = 800;
            d.not_modified = 600;
            d.bytes = 200_000;
        }
        r.worst_pollers = vec![WorstPoller {
            user_agent: "<script>alert(1)</script>\"><img src=x onerror=alert(2)>".to_string(),
            unconditional_per_day: 1_440.0,
            requests: 43_200,
            feeds: vec!["/atom.xml".to_string()],
        }];
        r
    }

    fn subscription(failures: i64) -> Subscription {
        Subscription {
            id: 1,
            topic: "/atom.xml".to_string(),
            callback: "https://reader.example/push/secret-path?token=abc".to_string(),
            callback_host: "reader.example".to_string(),
            secret: Some("hunter2-signing-secret".to_string()),
            expires_at: NOW + 86_400,
            last_delivery_at: Some(NOW - 60),
            last_status: Some(if failures > 0 { 500 } else { 204 }),
            failures,
            pending: failures > 0,
        }
    }

    fn page(report: &Report, hub: Option<HubHealth>, recent: Vec<Publish>) -> String {
        render(&Dashboard {
            site_title: "The Daily <Example>",
            site_url: "https://news.example",
            now: NOW,
            stats_enabled: true,
            report,
            hub,
            recent,
        })
    }

    /// No coordinate or figure that is not a number.
    fn assert_numbers_are_finite(html: &str) {
        for bad in ["NaN", "\"inf", "\"-inf", ",inf", ",-inf", "Linf", "inf\""] {
            assert!(!html.contains(bad), "{bad} in {html}");
        }
    }

    /// The text between `<svg` and `</svg>`, every chart.
    fn svgs(html: &str) -> Vec<&str> {
        html.split("<svg")
            .skip(1)
            .map(|s| s.split("</svg>").next().unwrap_or(""))
            .collect()
    }

    #[test]
    fn a_hostile_user_agent_comes_out_as_inert_text() {
        let report = report_with_data();
        let html = page(&report, None, Vec::new());
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        let doc = scraper::Html::parse_document(&html);
        let select = |css: &str| scraper::Selector::parse(css).expect("a valid selector");
        assert_eq!(doc.select(&select("script, img, [onerror]")).count(), 0);
        let codes: Vec<String> = doc
            .select(&select("td code"))
            .map(|c| c.text().collect())
            .collect();
        assert!(
            codes.contains(&report.worst_pollers[0].user_agent),
            "the User-Agent is shown as text: {codes:?}"
        );
        let title: String = doc
            .select(&select("title"))
            .flat_map(|t| t.text())
            .collect();
        assert!(
            title.starts_with("Dashboard · The Daily <Example>"),
            "{title}"
        );
    }

    #[test]
    fn an_empty_report_says_nothing_was_counted_and_draws_no_chart() {
        let html = page(&empty_report(), None, Vec::new());
        assert!(html.contains("Nothing counted yet"), "{html}");
        assert!(svgs(&html).is_empty());
        assert_numbers_are_finite(&html);
        assert!(!html.contains("<script"));
        assert!(html.contains("The built-in WebSub hub is off."));
        assert!(html.contains("Nothing published yet."));
    }

    #[test]
    fn a_window_of_zeros_scales_without_dividing_by_zero() {
        let mut r = empty_report();
        r.latest_day = Some(day(30));
        r.feeds = vec![feed("/atom.xml", 0, Vec::new())];
        for f in &mut r.feeds {
            f.requests = 0;
            f.not_modified = 0;
            for d in &mut f.history {
                d.requests = 0;
                d.not_modified = 0;
            }
        }
        let html = page(&r, None, Vec::new());
        assert_eq!(svgs(&html).len(), 2);
        assert_numbers_are_finite(&html);
        assert!(html.contains("—"), "a share of nothing is shown as a dash");
    }

    #[test]
    fn a_single_day_is_drawn_across_the_plot() {
        let mut r = report_with_data();
        r.daily.truncate(1);
        for f in &mut r.feeds {
            f.history.truncate(1);
        }
        let html = page(&r, None, Vec::new());
        assert_numbers_are_finite(&html);
        assert!(html.contains("d=\"M64.0,"), "{html}");
    }

    #[test]
    fn a_report_with_data_shows_its_figures_and_charts() {
        let html = page(&report_with_data(), None, Vec::new());
        assert!(html.contains("1,476"), "the total subscribers, grouped");
        assert!(html.contains("/tags/africa/rss.xml"));
        assert!(html.contains("Feedly"));
        assert!(html.contains("1,462"));
        assert!(html.contains("12,345"), "a feed's requests");
        assert!(html.contains("81.0%"), "a feed's 304 share");
        assert!(html.contains("3.5 MB"));
        assert!(html.contains("1,440.0"), "unconditional requests a day");
        assert!(html.contains("30 November 2026"));
        let charts = svgs(&html);
        assert_eq!(charts.len(), 2);
        for svg in &charts {
            assert!(svg.contains("role=\"img\""));
            assert!(svg.contains("aria-label=\""));
            assert!(svg.contains("<title>"));
        }
        // The second feed's line is dashed, so lines differ by more than colour.
        assert!(charts[0].contains("stroke-dasharray=\"10 5\""));
        assert_numbers_are_finite(&html);
        assert!(!html.contains("<script"));
        assert!(!html.contains("Counting is off"));
    }

    #[test]
    fn counting_off_is_said() {
        let r = report_with_data();
        let html = render(&Dashboard {
            site_title: "Site",
            site_url: "https://news.example",
            now: NOW,
            stats_enabled: false,
            report: &r,
            hub: None,
            recent: Vec::new(),
        });
        assert!(html.contains("Counting is off"));
        assert!(html.contains("stats.enabled = false"));
    }

    #[test]
    fn many_feeds_chart_the_top_eight_and_say_how_many_more() {
        let mut r = report_with_data();
        r.feeds = (0..50)
            .map(|i| feed(&format!("/tags/t{i}/atom.xml"), 100 - i, Vec::new()))
            .collect();
        let html = page(&r, None, Vec::new());
        assert_eq!(svgs(&html)[0].matches("<path ").count(), CHARTED_FEEDS);
        assert!(html.contains("42 more are in the table below"));
        assert!(
            html.contains("/tags/t49/atom.xml"),
            "every feed is in the table"
        );
        assert!(html.len() < 200_000, "{} bytes", html.len());
    }

    #[test]
    fn hub_health_shows_hosts_never_secrets_or_callbacks() {
        let hub = HubHealth {
            total: 2,
            pending: 1,
            failing: 1,
            subscriptions: vec![subscription(0), subscription(3)],
        };
        let html = page(&report_with_data(), Some(hub), Vec::new());
        assert!(html.contains("reader.example"));
        assert!(!html.contains("hunter2"));
        assert!(!html.contains("secret-path"));
        assert!(html.contains("class=\"failing\""));
        assert!(html.contains("2026-12-04"), "the lease end");
    }

    #[test]
    fn recent_publishes_link_only_web_addresses() {
        let recent = vec![
            Publish {
                title: "Rains <return>".to_string(),
                url: "https://news.example/rains".to_string(),
                published: "2026-12-02T09:30:00+01:00".to_string(),
            },
            Publish {
                title: "Odd".to_string(),
                url: "javascript:alert(1)".to_string(),
                published: "yesterday".to_string(),
            },
        ];
        let html = page(&empty_report(), None, recent);
        assert!(html.contains("href=\"https://news.example/rains\""));
        assert!(html.contains("datetime=\"2026-12-02T09:30:00+01:00\""));
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("Rains <return>"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(12_345), "12,345");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(5, 0), "—");
        assert_eq!(decimal(f64::NAN), "—");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(999_999), "1.0 MB");
        assert_eq!(scale(0), (1, 1));
        assert_eq!(scale(3), (3, 1));
        assert_eq!(scale(462), (600, 200));
        assert_eq!(scale(1_000), (1_000, 500));
    }
}
