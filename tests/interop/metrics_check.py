#!/usr/bin/env python3
"""Checks for admin.sh: the admin listener's /metrics as Prometheus parses it, and what
`feedsvc stats --json` reports, against the polls the script made (or the rows
bench/stats_traffic.py wrote).

  metrics_check.py metrics METRICS_FILE POLLS_TSV --subscribers PATH=N ... --articles N
  metrics_check.py report REPORT_JSON POLLS_TSV --subscribers PATH=N ... --readers PATH=NAME:N,...
                   --today YYYY-MM-DD
  metrics_check.py traffic REPORT_JSON SUMMARY_JSON

POLLS_TSV has one line per request the script sent to a subscription feed: path, HTTP status,
body bytes received (tab-separated). Prints one line per check, `ok NAME detail` or
`bad NAME detail` (admin.sh turns them into PASS/FAIL lines); exits 0 when it could run the
checks at all, whatever they found, and 1 (with a message) when it could not (an unreadable
file, no prometheus_client).
"""
import argparse
import collections
import json
import math
import sys

# Every family the contract names: exposition name -> (type, label names).
FAMILIES = {
    "feedsvc_http_requests_total": ("counter", {"kind", "status"}),
    "feedsvc_http_response_bytes_total": ("counter", {"kind"}),
    "feedsvc_http_not_modified_ratio": ("gauge", set()),
    "feedsvc_cache_hits_total": ("counter", set()),
    "feedsvc_cache_misses_total": ("counter", set()),
    "feedsvc_open_connections": ("gauge", set()),
    "feedsvc_publishes_total": ("counter", set()),
    "feedsvc_articles": ("gauge", set()),
    "feedsvc_feed_subscribers": ("gauge", {"path"}),
    "feedsvc_websub_subscriptions": ("gauge", set()),
    "feedsvc_websub_deliveries_total": ("counter", {"outcome"}),
}
KINDS = {"feed", "page", "archive", "sitemap", "asset", "robots", "hub", "health", "other"}


def say(ok, name, detail):
    print(f"{'ok' if ok else 'bad'} {name} {detail}", flush=True)


def read_polls(path):
    polls = []
    with open(path) as f:
        for line in f:
            if line.strip():
                feed, status, size = line.rstrip("\n").split("\t")
                polls.append((feed, int(status), int(size)))
    return polls


def pairs(values):
    out = {}
    for item in values or []:
        key, _, value = item.rpartition("=")
        out[key] = value
    return out


def metrics(args):
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError as e:
        sys.exit(f"metrics_check.py: {e}")
    text = open(args.file, encoding="utf-8").read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and friends on a bad line
        say(False, "metrics-parse", f"prometheus_client cannot parse /metrics: {e}")
        return
    # The parser names a counter's family without its `_total`; its samples keep the name.
    by_sample = {}
    samples = collections.defaultdict(list)
    for fam in families:
        for s in fam.samples:
            by_sample.setdefault(s.name, fam)
            samples[s.name].append(s)
    untyped = sorted({f.name for f in families if f.type in ("unknown", "untyped")})
    say(not untyped, "metrics-parse",
        f"{len(families)} families, {sum(len(v) for v in samples.values())} samples parsed by "
        f"prometheus_client" + (f"; without a TYPE: {', '.join(untyped)}" if untyped else ""))

    problems = []
    for name, (kind, labels) in FAMILIES.items():
        fam = by_sample.get(name)
        if fam is None:
            problems.append(f"{name} missing")
            continue
        if fam.type != kind:
            problems.append(f"{name} is a {fam.type}, expected a {kind}")
        if not fam.documentation:
            problems.append(f"{name} has no HELP")
        for s in samples[name]:
            if set(s.labels) != labels:
                problems.append(f"{name}{s.labels}: labels {sorted(s.labels)}, expected "
                                f"{sorted(labels)}")
                break
        for s in samples[name]:
            if math.isnan(s.value) or (s.value < 0):
                problems.append(f"{name}{s.labels} = {s.value}")
    say(not problems, "metrics-families",
        "all 11 families of the contract, typed, documented, with their labels"
        if not problems else "; ".join(problems[:8]))
    missing = {name for name in FAMILIES if name not in by_sample}

    def values(name, **want):
        return [s for s in samples.get(name, [])
                if all(s.labels.get(k) == v for k, v in want.items())]

    req = "feedsvc_http_requests_total"
    if req not in missing:
        kinds = {s.labels.get("kind") for s in samples[req]}
        bad = sorted(k for k in kinds if k not in KINDS)
        say(not bad, "metrics-kinds",
            f"kinds seen: {', '.join(sorted(k for k in kinds if k))}"
            + (f"; not in the contract: {', '.join(map(str, bad))}" if bad else ""))

    polls = read_polls(args.polls)
    n = len(polls)
    n200 = sum(1 for _, st, _ in polls if st == 200)
    n304 = sum(1 for _, st, _ in polls if st == 304)
    body = sum(size for _, _, size in polls)
    if req not in missing:
        feed = values(req, kind="feed")
        got = {s.labels["status"]: s.value for s in feed}
        total = sum(got.values())
        ok = total == n and got.get("200", 0) == n200 and got.get("304", 0) == n304 and total > 0
        say(ok, "metrics-feed-requests",
            f"feedsvc_http_requests_total{{kind=\"feed\"}}: {json.dumps(got, sort_keys=True)}; "
            f"the script made {n} feed requests ({n200} answered 200, {n304} 304)")
        page = sum(s.value for s in values(req, kind="page"))
        say(page >= 1, "metrics-page-requests",
            f"kind=\"page\": {page:g} (the script fetched the public index once)")
    name = "feedsvc_http_response_bytes_total"
    if name not in missing:
        got = sum(s.value for s in values(name, kind="feed"))
        say(got == body, "metrics-feed-bytes",
            f"{name}{{kind=\"feed\"}} = {got:g}; the script received {body} body bytes from feeds")
    name = "feedsvc_http_not_modified_ratio"
    if name not in missing and samples[name]:
        got = samples[name][0].value
        want = n304 / (n200 + n304) if n200 + n304 else 0.0
        say(abs(got - want) < 1e-6, "metrics-not-modified-ratio",
            f"{name} = {got:.6f}; 304/(200+304) of the script's feed requests = "
            f"{n304}/{n200 + n304} = {want:.6f}")
    name = "feedsvc_feed_subscribers"
    if name not in missing:
        got = {s.labels.get("path"): s.value for s in samples[name]}
        want = {p: float(v) for p, v in pairs(args.subscribers).items()}
        wrong = {p: got.get(p) for p in want if got.get(p) != want[p]}
        say(not wrong, "metrics-subscribers",
            f"{name}: {json.dumps(got, sort_keys=True)}" +
            (f"; expected {json.dumps(want, sort_keys=True)}" if wrong else ""))
    name = "feedsvc_articles"
    if name not in missing and samples[name]:
        got = samples[name][0].value
        say(got == args.articles, "metrics-articles", f"{name} = {got:g}, "
            f"{args.articles} articles published")
    problems = []
    for name, want in (("feedsvc_websub_subscriptions", 0.0),):
        if name not in missing and samples[name] and samples[name][0].value != want:
            problems.append(f"{name} = {samples[name][0].value:g}, expected {want:g}")
    name = "feedsvc_websub_deliveries_total"
    if name not in missing:
        outcomes = {s.labels.get("outcome"): s.value for s in samples[name]}
        if set(outcomes) != {"delivered", "failed"}:
            problems.append(f"{name} outcomes {sorted(map(str, outcomes))}, expected "
                            "delivered and failed")
        elif any(outcomes.values()):
            problems.append(f"{name} {outcomes} with no subscriber")
    for name in ("feedsvc_cache_hits_total", "feedsvc_cache_misses_total",
                 "feedsvc_open_connections", "feedsvc_publishes_total"):
        if name not in missing and samples[name]:
            v = samples[name][0].value
            if v != int(v):
                problems.append(f"{name} = {v} is not a whole number")
    say(not problems, "metrics-other",
        "no WebSub subscription nor delivery; cache, connection and publish counts are whole "
        "numbers" if not problems else "; ".join(problems))


def report(args):
    rep = json.load(open(args.file))
    polls = read_polls(args.polls)
    want_subs = {p: int(v) for p, v in pairs(args.subscribers).items()}
    feeds = {f["path"]: f for f in rep.get("feeds", [])}
    say(rep.get("latest_day") == args.today, "report-latest-day",
        f"latest_day {rep.get('latest_day')!r}, today is {args.today}")
    total = sum(want_subs.values())
    got = {p: feeds[p]["subscribers"] if p in feeds else None for p in want_subs}
    ok = got == want_subs and rep.get("total_subscribers") == total
    expected = "" if got == want_subs else f", expected {json.dumps(want_subs, sort_keys=True)}"
    say(ok, "report-subscribers",
        f"total_subscribers {rep.get('total_subscribers')} (expected {total}); by feed "
        f"{json.dumps(got, sort_keys=True)}{expected}")
    problems = []
    for spec in args.readers or []:
        path, _, rows = spec.partition("=")
        want = [(name, int(n)) for name, _, n in (r.rpartition(":") for r in rows.split(","))]
        have = [(r["name"], r["subscribers"]) for r in feeds.get(path, {}).get("readers", [])]
        if have != want:
            problems.append(f"{path}: readers {have}, expected {want}")
    say(not problems, "report-readers",
        "latest value per aggregator (not a sum of polls), feed ids of one aggregator added up, "
        "one reader per address and User-Agent, browsers left out, Other readers last"
        if not problems else "; ".join(problems))
    by_path = collections.defaultdict(lambda: [0, 0, 0, 0])
    for path, status, size in polls:
        row = by_path[path]
        row[0] += 1
        row[1] += status == 200
        row[2] += status == 304
        row[3] += size
    problems = []
    for path, (n, n200, n304, size) in sorted(by_path.items()):
        f = feeds.get(path)
        have = (f["requests"], f["ok"], f["not_modified"], f["bytes"]) if f else None
        if have != (n, n200, n304, size):
            problems.append(f"{path}: (requests, ok, not_modified, bytes) {have}, the script "
                            f"saw {(n, n200, n304, size)}")
    say(not problems, "report-counts",
        f"requests, 200s, 304s and body bytes of {len(by_path)} feeds as the script saw them"
        if not problems else "; ".join(problems))


def traffic(args):
    """The report over the generated rows against what bench/stats_traffic.py --summary says."""
    rep = json.load(open(args.file))
    summary = json.load(open(args.summary))
    days = summary["days"]  # "YYYY-MM-DD" -> path -> counts
    window = sorted(days)[-rep["days"]:]
    latest = window[-1]
    feeds = {f["path"]: f for f in rep.get("feeds", [])}
    problems = []
    if rep.get("latest_day") != latest:
        problems.append(f"latest_day {rep.get('latest_day')}, expected {latest}")
    want_total = sum(v["subscribers"] for v in days[latest].values())
    if rep.get("total_subscribers") != want_total:
        problems.append(f"total_subscribers {rep.get('total_subscribers')}, expected {want_total}")
    for path in sorted({p for d in window for p in days[d]}):
        f = feeds.get(path)
        if f is None:
            problems.append(f"{path} missing")
            continue
        want = {k: sum(days[d].get(path, {}).get(k, 0) for d in window)
                for k in ("requests", "ok", "not_modified", "limited", "bytes")}
        want["subscribers"] = days[latest].get(path, {}).get("subscribers", 0)
        have = {k: f.get(k) for k in want}
        if have != want:
            problems.append(f"{path}: {have}, expected {want}")
        readers = days[latest].get(path, {}).get("readers", {})
        have_r = {r["name"]: r["subscribers"] for r in f.get("readers", [])}
        if have_r != readers:
            problems.append(f"{path}: readers {have_r}, expected {readers}")
    say(not problems, "report-generated",
        f"{len(window)} generated days, {len(feeds)} feeds: subscribers on {latest} "
        f"(total {want_total}), readers by aggregator, requests, 200/304/429 and bytes over the "
        "window" if not problems else "; ".join(problems[:6]))
    worst = [w["user_agent"] for w in rep.get("worst_pollers", [])]
    top = summary.get("worst_agents", [])[:2]
    say(worst[:2] == top, "report-worst-pollers",
        f"worst pollers {worst[:3]}" + ("" if worst[:2] == top else f", expected {top} first"))


def main():
    p = argparse.ArgumentParser(description="admin.sh's checks of /metrics and feedsvc stats")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("metrics")
    m.add_argument("file")
    m.add_argument("polls")
    m.add_argument("--subscribers", nargs="*", default=[])
    m.add_argument("--articles", type=float, required=True)
    r = sub.add_parser("report")
    r.add_argument("file")
    r.add_argument("polls")
    r.add_argument("--subscribers", nargs="*", default=[])
    r.add_argument("--readers", nargs="*", default=[])
    r.add_argument("--today", required=True)
    t = sub.add_parser("traffic")
    t.add_argument("file")
    t.add_argument("summary")
    args = p.parse_args()
    try:
        {"metrics": metrics, "report": report, "traffic": traffic}[args.command](args)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"metrics_check.py {args.command}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
