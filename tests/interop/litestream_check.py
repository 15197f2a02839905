#!/usr/bin/env python3
"""Checks of a database restored by `litestream restore` (called by litestream.sh).

  litestream_check.py integrity DB
      `PRAGMA integrity_check` answers ok.
  litestream_check.py adds DB ADDS_LOG KILL_EPOCH WINDOW_SECS
      ADDS_LOG holds one `EPOCH SLUG` line per `feedsvc add` that returned (EPOCH: when it
      returned). The restored articles table must hold every slug whose add returned more than
      WINDOW_SECS (the recovery point) before KILL_EPOCH (Litestream's last kill), and no slug
      that was never added. Reports the recovery point seen: how long before the kill the adds
      it lost returned, and the newest add it kept.
  litestream_check.py feeds BASE_URL LIST_JSON ITEMS
      /atom.xml and /feed.json of the server at BASE_URL carry, in order, the entry ids and
      links of the ITEMS newest articles of `feedsvc list --json` (LIST_JSON, newest first).

Each prints one line `ok DETAIL` or `bad DETAIL` and exits 0 or 1.
"""

import json
import sqlite3
import sys
import urllib.request
import xml.etree.ElementTree as ET

ATOM = "{http://www.w3.org/2005/Atom}"


def verdict(ok, detail):
    print(("ok " if ok else "bad ") + detail)
    return 0 if ok else 1


def integrity(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    return verdict(rows == ["ok"], f"{db}: integrity_check {'; '.join(rows)[:300]}")


def adds(db, log, kill, window):
    kill, window = float(kill), float(window)
    returned = {}
    with open(log, encoding="utf-8") as f:
        for line in f:
            when, slug = line.split()
            returned[slug] = float(when)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    stored = {r[0] for r in conn.execute("SELECT slug FROM articles")}
    due = {s for s, t in returned.items() if t < kill - window}
    missing = sorted(due - stored, key=returned.get)
    unknown = sorted(stored - set(returned))
    lost = [t for s, t in returned.items() if s not in stored and t < kill]
    kept = [t for s, t in returned.items() if s in stored]
    seen = (
        f"the {len(lost)} adds lost returned {kill - max(lost):.2f} to {kill - min(lost):.2f} s"
        " before the kill"
        if lost
        else "no add that returned before the kill was lost"
    )
    if kept:
        seen += f", the newest kept {kill - max(kept):.2f} s before it"
    detail = (
        f"{len(stored)} articles restored of {len(returned)} adds; {len(due)} returned more than"
        f" {window:g} s before the kill, {len(missing)} of them missing"
        f"{' (' + ', '.join(missing[:5]) + ')' if missing else ''}; {len(unknown)} never added"
        f"{' (' + ', '.join(unknown[:5]) + ')' if unknown else ''}; {seen}"
    )
    return verdict(not missing and not unknown and due, detail)


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def feeds(base, list_json, items):
    with open(list_json, encoding="utf-8") as f:
        articles = [a for a in json.load(f) if not a.get("scheduled")]
    want = [(a["id"], a["url"]) for a in articles[: int(items)]]
    root = ET.fromstring(fetch(base.rstrip("/") + "/atom.xml"))
    atom = []
    for entry in root.findall(f"{ATOM}entry"):
        link = next(
            (
                l.get("href")
                for l in entry.findall(f"{ATOM}link")
                if l.get("rel", "alternate") == "alternate"
            ),
            None,
        )
        atom.append((entry.findtext(f"{ATOM}id"), link))
    feed = json.loads(fetch(base.rstrip("/") + "/feed.json"))
    jsonfeed = [(i.get("id"), i.get("url")) for i in feed.get("items", [])]
    problems = []
    for name, got in (("atom.xml", atom), ("feed.json", jsonfeed)):
        if got != want:
            first = next(
                (i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want))
            )
            problems.append(
                f"{name}: {len(got)} entries, first difference at {first}: "
                f"{got[first] if first < len(got) else None} != "
                f"{want[first] if first < len(want) else None}"
            )
    detail = "; ".join(problems) or (
        f"atom.xml and feed.json carry the {len(want)} newest of {len(articles)} articles"
        f" (ids and links), newest {want[0][0] if want else None}"
    )
    return verdict(not problems and want, detail)


def main(argv):
    commands = {"integrity": (integrity, 1), "adds": (adds, 4), "feeds": (feeds, 3)}
    if len(argv) < 2 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return commands[argv[1]][0](*argv[2:])
    except Exception as e:  # a check that cannot run fails, with the reason
        return verdict(False, f"{argv[1]}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
