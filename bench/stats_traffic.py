#!/usr/bin/env python3
"""Writes a few weeks of plausible polling into feedsvc's counting database, for the
dashboard's screenshot and for checking the dashboard on more than a handful of rows.

usage: python3 bench/stats_traffic.py DATABASE [--days 42] [--end-day YYYY-MM-DD] [--seed 15]
                                      [--hostile] [--keep] [--summary FILE]

DATABASE is the counting's database beside the archive (`data/feedsvc-stats.db` beside
`data/feedsvc.db`); `feedsvc serve` makes it as it starts: run it once first, and stop the server before writing (it keeps today's counts
in memory and would add them to what is written here at its next flush). The rows of the
window's days are replaced (--keep leaves rows already there and only adds or replaces).

What is written, for each UTC day of the window (days since 1970-01-01, the last one --end-day,
today by default):
  - feeds: /atom.xml (the main feed), /rss.xml, /feed.json, /tags/diplomacy/atom.xml,
    /tags/trade/rss.xml, /tags/climate/atom.xml;
  - aggregators reporting subscribers (Feedly, Inoreader, NewsBlur with its site URL as feed
    id, two Feedbin feed ids, The Old Reader with a feed id), their counts growing over the
    weeks with some noise, a smaller aggregator now and then missing a day; each also as a poller
    (an aggregator's) with its User-Agent, polling every 10 to 60 minutes, mostly answered 304;
  - readers: a few dozen distinct pollers a day on the main feed, fewer on the others,
    fewer at weekends, each polling hourly or so with validators (a 200 on days with a new
    article, 304 otherwise);
  - three bad pollers that never send validators, every minute to every five, on the main feed
    and one tag feed; the worst of them is refused 429 in the last two weeks (as when
    `server.min_poll_secs` was turned on);
  - a few browser views a day (counted in the feed's requests; a browser is no poller, so it has
    no row in stats_pollers);
  - stats_feeds rows that add up what the pollers did (requests, 200, 304, 429, bytes).
--hostile adds a poller whose User-Agent holds markup and quotes (`<script>`, `&`, `"`), for
checking that the dashboard escapes what it shows. --summary writes what `feedsvc stats --json`
should report from these rows as JSON: for each day and feed its subscribers (by aggregator
name, then "Other readers"), requests, ok, not_modified, limited and bytes; and the User-Agents
that polled without validators, most a day first ("worst_agents").

Pollers are 16 random bytes, as the server's daily keyed hashes look. Deterministic for a seed.
"""
import argparse
import datetime as dt
import json
import random
import sqlite3
import sys

DAY_MS = 86_400_000
READER, AGGREGATOR, BROWSER = 0, 1, 2  # as the server tells pollers apart

# path -> (share of the main feed's audience, identity body bytes, gzip body bytes)
FEEDS = {
    "/atom.xml": (1.0, 22_900, 7_400),
    "/rss.xml": (0.45, 20_100, 6_900),
    "/feed.json": (0.12, 19_300, 6_600),
    "/tags/diplomacy/atom.xml": (0.10, 17_200, 5_800),
    "/tags/trade/rss.xml": (0.07, 15_900, 5_400),
    "/tags/climate/atom.xml": (0.05, 12_400, 4_300),
}

# name, feed id ({i}: a number per feed), User-Agent format ({n}: subscribers, {id}: the feed
# id), (start, end) subscribers on the main feed, poll interval in minutes
AGGREGATORS = [
    ("Feedly", "", "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; )",
     (380, 471), 15),
    ("Inoreader", "", "Mozilla/5.0 (compatible; inoreader.com; {n} subscribers)", (92, 131), 20),
    ("NewsBlur", "https://www.newsblur.com/site/61522{i}/the-meridian-dispatch",
     "NewsBlur Feed Fetcher - {n} subscribers - {id} (Mozilla/5.0 (Macintosh; Intel Mac OS X "
     "10_14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36)", (18, 29), 30),
    ("Feedbin", "17{i}4", "Feedbin feed-id:{id} - {n} subscribers", (9, 14), 30),
    ("Feedbin", "882{i}3", "Feedbin feed-id:{id} - {n} subscribers", (2, 6), 30),
    ("The Old Reader", "6a1b3f0c2d9e{i}",
     "Mozilla/5.0 (compatible; theoldreader.com; {n} subscribers; feed-id={id})", (5, 9), 60),
]

READER_AGENTS = [
    "newsboat/2.36.0 (Linux x86_64)",
    "NetNewsWire (RSS Reader; https://netnewswire.com/)",
    "Tiny Tiny RSS/23.04 (https://tt-rss.org/)",
    "FreshRSS/1.23.1 (Linux; https://freshrss.org)",
    "Miniflux/2.1.0 (https://miniflux.app)",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0",
    "rss2email/3.14 (https://github.com/rss2email/rss2email)",
    "NextCloud-News/1.0",
    "Liferea/1.15.4 (Linux; en_US.UTF-8; https://lzone.de/liferea/)",
    "Akregator/6.2.3; syndication",
    "Vienna/3.9.0",
    "Reeder/5.2 CFNetwork/1494.0.7 Darwin/23.4.0",
    "feedparser/6.0.11 +https://github.com/kurtmckee/feedparser/",
    "QuiteRSS/0.19.4 (X11; Linux x86_64)",
]

# User-Agent, paths, polls a day, days it runs (None: every day)
BAD_POLLERS = [
    ("python-requests/2.31.0", ["/atom.xml"], 1440, None),
    ("Go-http-client/1.1", ["/atom.xml", "/tags/diplomacy/atom.xml"], 600, None),
    ("NewsFetcherBot/0.3 (+http://newsfetcher.invalid/bot)", ["/rss.xml"], 480, 0.7),
]

HOSTILE_AGENT = 'Evil<script>alert("x")</script> & <b>Co</b>/1.0 \'quoted\''

BROWSER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/131.0.0.0 Safari/537.36")


def utc_day(date):
    return (date - dt.date(1970, 1, 1)).days


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("database")
    p.add_argument("--days", type=int, default=42, help="length of the window (default 42)")
    p.add_argument("--end-day", help="last day, YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--hostile", action="store_true",
                   help="add a poller whose User-Agent holds markup and quotes")
    p.add_argument("--keep", action="store_true", help="do not delete the window's rows first")
    p.add_argument("--summary", help="write what the report should say as JSON to this file")
    args = p.parse_args()
    if not 1 <= args.days <= 400:
        p.error("--days must be 1..400")
    return args


class Day:
    """The rows of one day, added up as they are made."""

    def __init__(self, day):
        self.day = day
        self.feeds = {}       # path -> [requests, ok, not_modified, limited, bytes]
        self.pollers = []     # (path, poller, kind, agent, requests, unconditional)
        self.aggregators = []  # (path, name, feed_id, subscribers, seen_ms)

    def poll(self, rng, path, kind, agent, requests, unconditional, ok, limited=0,
             gzip_share=0.8):
        """One poller's day on one feed: `ok` of its requests answered 200, `limited` 429,
        the rest 304."""
        ok = min(ok, requests - limited)
        _, identity, gz = FEEDS[path]
        gz_ok = round(ok * gzip_share)
        body = gz_ok * gz + (ok - gz_ok) * identity
        row = self.feeds.setdefault(path, [0, 0, 0, 0, 0])
        row[0] += requests
        row[1] += ok
        row[2] += requests - ok - limited
        row[3] += limited
        row[4] += body
        if kind != BROWSER:  # a browser viewing a feed is no poller: it has no row
            self.pollers.append((path, rng.randbytes(16), kind, agent[:256], requests,
                                 unconditional))


def grow(start, end, progress, rng, noise=0.02):
    value = start + (end - start) * progress
    return max(1, round(value * (1 + rng.uniform(-noise, noise))))


def fill(args):
    rng = random.Random(args.seed)
    end = (dt.date.fromisoformat(args.end_day) if args.end_day
           else dt.datetime.now(dt.timezone.utc).date())
    last = utc_day(end)
    first = last - args.days + 1
    # a new article about every other day: every subscriber fetches the feed once that day
    publish_days = {d for d in range(first, last + 1) if rng.random() < 0.5}
    days = []
    for day in range(first, last + 1):
        d = Day(day)
        progress = (day - first) / max(1, args.days - 1)
        weekend = dt.date.fromordinal(dt.date(1970, 1, 1).toordinal() + day).weekday() >= 5
        published = day in publish_days
        changes = 1 + (rng.random() < 0.3) if published else 0  # times the feed changed
        # aggregators
        for name, feed_id, agent_fmt, (lo, hi), every in AGGREGATORS:
            for index, (path, (share, _, _)) in enumerate(FEEDS.items()):
                if share < 0.1 and name not in ("Feedly", "Inoreader"):
                    continue
                if name not in ("Feedly", "Inoreader") and rng.random() < 0.03:
                    continue  # a smaller aggregator's fetcher missed a day
                subscribers = grow(lo * share, hi * share, progress, rng)
                polls = 1440 // every + rng.randint(-3, 3)
                this_id = feed_id.format(i=index)
                d.aggregators.append((path, name, this_id, subscribers,
                                      day * DAY_MS + rng.randint(20 * 3_600_000, DAY_MS - 1)))
                d.poll(rng, path, AGGREGATOR, agent_fmt.format(n=subscribers, id=this_id),
                       polls, 1, 1 + changes, gzip_share=1.0)
        # readers: distinct (address, User-Agent) pairs of the day
        base_readers = 38 + 22 * progress
        for path, (share, _, _) in FEEDS.items():
            n = round(base_readers * share * (0.75 if weekend else 1.0) * rng.uniform(0.9, 1.1))
            for _ in range(n):
                agent = rng.choice(READER_AGENTS)
                every = rng.choice([15, 30, 60, 60, 60, 120, 240, 1440])
                polls = max(1, 1440 // every + rng.randint(-2, 2))
                if rng.random() < 0.2:  # a laptop: opened for part of the day
                    polls = max(1, polls // rng.randint(2, 6))
                unconditional = 1 if rng.random() < 0.3 else 0
                d.poll(rng, path, READER, agent, polls, unconditional,
                       unconditional + min(changes, polls))
        # bad pollers: no validators, ever
        for agent, paths, per_day, odds in BAD_POLLERS:
            if odds is not None and rng.random() > odds:
                continue
            for path in paths:
                polls = per_day + rng.randint(-per_day // 50, per_day // 50)
                limited = 0
                if agent.startswith("python-requests") and last - day < 14:
                    limited = polls - 288  # at most one answer every 5 minutes
                d.poll(rng, path, READER, agent, polls, polls, polls - limited, limited=limited,
                       gzip_share=0.0)
        if args.hostile:
            d.poll(rng, "/atom.xml", READER, HOSTILE_AGENT, 96, 96, 96, gzip_share=0.0)
        # browsers viewing a feed (the page of the feed, about 9 KB)
        for _ in range(rng.randint(2, 9)):
            path = rng.choice(["/atom.xml", "/atom.xml", "/rss.xml", "/tags/diplomacy/atom.xml"])
            d.poll(rng, path, BROWSER, BROWSER_AGENT, rng.randint(1, 2), 1, 1, gzip_share=1.0)
        days.append(d)
    return first, last, days


def write(db_path, args, first, last, days):
    db = sqlite3.connect(db_path, timeout=10)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version < 1:
        sys.exit(f"stats_traffic.py: {db_path} has no counting tables (schema version {version}): "
                 "run `feedsvc serve` on its site once first")
    with db:
        if not args.keep:
            for table in ("stats_feeds", "stats_pollers", "stats_aggregators"):
                db.execute(f"DELETE FROM {table} WHERE day BETWEEN ?1 AND ?2", (first, last))
        for d in days:
            db.executemany(
                "INSERT OR REPLACE INTO stats_feeds "
                "(day, path, requests, ok, not_modified, limited, bytes) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                [(d.day, path, *row) for path, row in d.feeds.items()])
            db.executemany(
                "INSERT OR REPLACE INTO stats_pollers "
                "(day, path, poller, kind, agent, requests, unconditional) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                [(d.day, *row) for row in d.pollers])
            db.executemany(
                "INSERT OR REPLACE INTO stats_aggregators "
                "(day, path, name, feed_id, subscribers, seen_ms) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                [(d.day, *row) for row in d.aggregators])
    db.close()


def summarize(days):
    """What the report should make of these rows (see the module's doc)."""
    day0 = dt.date(1970, 1, 1)
    out = {}
    unconditional = {}  # agent -> {day: requests without validators}
    for d in days:
        feeds = {}
        for path, row in d.feeds.items():
            requests, ok, not_modified, limited, body = row
            feeds[path] = {"requests": requests, "ok": ok, "not_modified": not_modified,
                           "limited": limited, "bytes": body, "readers": {"Other readers": 0}}
        for path, name, _, subscribers, _ in d.aggregators:
            readers = feeds[path]["readers"]
            readers[name] = readers.get(name, 0) + subscribers
        for path, _, kind, agent, _, uncond in d.pollers:
            if kind == READER:
                feeds[path]["readers"]["Other readers"] += 1
            if uncond:
                per_day = unconditional.setdefault(agent, {})
                per_day[d.day] = per_day.get(d.day, 0) + uncond
        for f in feeds.values():
            f["subscribers"] = sum(f["readers"].values())
        out[str(day0 + dt.timedelta(d.day))] = feeds
    worst = sorted(unconditional, key=lambda a: -sum(unconditional[a].values())
                   / len(unconditional[a]))
    return {"days": out, "worst_agents": worst[:10]}


def main():
    args = parse_args()
    first, last, days = fill(args)
    write(args.database, args, first, last, days)
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summarize(days), f, indent=1, sort_keys=True)
    main_feed = [sum(s for p, _, _, s, _ in d.aggregators if p == "/atom.xml")
                 + sum(1 for p, _, kind, _, _, _ in d.pollers
                       if p == "/atom.xml" and kind == READER)
                 for d in (days[0], days[-1])]
    requests = sum(row[0] for d in days for row in d.feeds.values())
    pollers = sum(len(d.pollers) for d in days)
    day0 = dt.date(1970, 1, 1)
    print(f"wrote {len(days)} days ({day0 + dt.timedelta(first)} to "
          f"{day0 + dt.timedelta(last)}): {requests:,} requests, {pollers:,} poller rows; "
          f"/atom.xml subscribers {main_feed[0]} on the first day, {main_feed[1]} on the last")


if __name__ == "__main__":
    main()
