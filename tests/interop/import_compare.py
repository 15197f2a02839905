#!/usr/bin/env python3
"""Two feedsvc sites' feeds compared entry by entry with feedparser (for import_roundtrip.sh).

  import_compare.py save BASE_URL DIR     saves /atom.xml, /rss.xml and every document reached
                                          from them by prev-archive into DIR (DIR/paths lists them)
  import_compare.py compare DIR_A DIR_B   compares the saved documents of site A and site B

`compare` prints one `PASS name detail` / `FAIL name detail` line per format and property, with
counts over every entry of every document A has (the subscription feed and each monthly archive):
  documents   B serves the same chain of documents (same paths, same prev-archive order)
  ids         each document holds the same entry ids (atom:id, RSS guid), verbatim; the detail
              counts the ids that are not feedsvc's own `tag:` ones
  titles      the same title text
  links       the same alternate link (both sites have one base URL, and an imported entry's slug
              comes from its old URL, so its page keeps its address)
  published   the same instant, compared in UTC (atom:published, RSS pubDate)
  updated     the same instant, compared in UTC (atom:updated; RSS has none)
  offsets     the same UTC offsets written in atom:published and atom:updated (Atom only)
  tags        the same categories: term, label and scheme (Atom), text and domain (RSS)
  summary     the same summary text (atom:summary, RSS description)
  body        the same body text: content with its tags stripped, entities decoded and every run
              of whitespace folded to one space; the markup and the URLs inside it are not
              compared, since B sanitizes bodies again and may rewrite links to its own pages
A FAIL line shows the first differences (entry id, A's value, B's value).
Only loopback URLs are fetched.
"""
import datetime as dt
import html.parser
import os
import re
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import feedparser

ATOM = "{http://www.w3.org/2005/Atom}"
MAX_DOCUMENTS = 60
EXAMPLES = 3


def fetch(url):
    host = urllib.parse.urlsplit(url).hostname
    if host != "127.0.0.1":
        raise SystemExit(f"refusing to fetch {url}: not on the loopback")
    with urllib.request.urlopen(url, timeout=20) as response:
        return response.read()


def prev_archive(body):
    for link in ET.fromstring(body).iter(ATOM + "link"):
        if link.get("rel") == "prev-archive":
            return link.get("href")
    return None


def save(base, directory):
    """Saves the two feeds and their prev-archive chains; DIR/paths lists the paths in order."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for feed in ("atom.xml", "rss.xml"):
        url, seen = base + feed, set()
        while url and len(seen) < MAX_DOCUMENTS:
            if not url.startswith(base) or url in seen:
                raise SystemExit(f"prev-archive leaves the site or loops at {url}")
            seen.add(url)
            body = fetch(url)
            path = url[len(base):]
            with open(os.path.join(directory, path.replace("/", "_")), "wb") as f:
                f.write(body)
            paths.append(path)
            url = prev_archive(body)
    with open(os.path.join(directory, "paths"), "w") as f:
        f.write("\n".join(paths) + "\n")
    print(f"# saved {len(paths)} documents from {base}", file=sys.stderr)


class TextOnly(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def text_of(markup):
    parser = TextOnly()
    parser.feed(markup or "")
    parser.close()
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


def instant(parsed):
    """feedparser's *_parsed are UTC struct_times."""
    return None if parsed is None else dt.datetime(*parsed[:6], tzinfo=dt.timezone.utc).isoformat()


def offset(stamp):
    if not stamp:
        return None
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).utcoffset()
    except ValueError:
        return f"unparsable {stamp!r}"


def body(entry):
    content = entry.get("content")
    return text_of(content[0].value if content else entry.get("summary"))


def properties(entry, is_atom):
    """What a reader shows of an entry, as comparable values."""
    values = {
        "titles": entry.get("title"),
        "links": entry.get("link"),
        "published": instant(entry.get("published_parsed")),
        "tags": sorted((t.get("term"), t.get("label"), t.get("scheme")) for t in entry.get("tags", [])),
        "summary": text_of(entry.get("summary")) if entry.get("content") else None,
        "body": body(entry),
    }
    if is_atom:
        # dict.get: feedparser's own get() answers `updated` with `published` when it is missing.
        values["updated"] = instant(dict.get(entry, "updated_parsed"))
        values["offsets"] = (offset(entry.get("published")), offset(dict.get(entry, "updated")))
    return values


def short(value):
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def difference(a, b):
    if isinstance(a, list) and isinstance(b, list):
        return f"only in A {short([x for x in a if x not in b])}, only in B {short([x for x in b if x not in a])}"
    return f"A {short(a)} B {short(b)}"


def compare(dir_a, dir_b):
    failures = 0

    def verdict(name, errors, detail):
        nonlocal failures
        if errors:
            failures += 1
            print(f"FAIL {name}: {detail}; " + "; ".join(errors[:EXAMPLES]))
        else:
            print(f"PASS {name}: {detail}")

    paths_a = open(os.path.join(dir_a, "paths")).read().split()
    paths_b = open(os.path.join(dir_b, "paths")).read().split()
    verdict("documents", [f"A: {' '.join(paths_a)}", f"B: {' '.join(paths_b)}"] if paths_a != paths_b else [],
            f"{len(paths_a)} documents in A, {len(paths_b)} in B")

    for fmt, is_atom in (("atom", True), ("rss", False)):
        paths = [p for p in paths_a if p.endswith(fmt + ".xml")]
        names = ["titles", "links", "published", "tags", "summary", "body"]
        if is_atom:
            names[3:3] = ["updated", "offsets"]
        errors = {name: [] for name in ["ids"] + names}
        matched = {name: 0 for name in names}
        ids_a, ids_matched, entries = set(), 0, 0
        for path in paths:
            name = path.replace("/", "_")
            feed_a = feedparser.parse(open(os.path.join(dir_a, name), "rb").read())
            try:
                feed_b = feedparser.parse(open(os.path.join(dir_b, name), "rb").read())
            except FileNotFoundError:
                feed_b = feedparser.parse(b"")
            if feed_a.bozo:
                errors["ids"].append(f"A's /{path} is not well-formed: {feed_a.bozo_exception}")
            by_id_b = {e.get("id"): e for e in feed_b.entries}
            missing = [e.get("id") for e in feed_a.entries if e.get("id") not in by_id_b]
            extra = sorted(set(by_id_b) - {e.get("id") for e in feed_a.entries})
            if missing or extra:
                errors["ids"].append(f"/{path}: {len(missing)} of A's ids missing in B (first {short(missing[:2])}),"
                                     f" {len(extra)} ids only in B (first {short(extra[:2])})")
            for entry_a in feed_a.entries:
                entries += 1
                ids_a.add(entry_a.get("id"))
                entry_b = by_id_b.get(entry_a.get("id"))
                if entry_b is None:
                    continue
                ids_matched += 1
                values_a, values_b = properties(entry_a, is_atom), properties(entry_b, is_atom)
                for prop in names:
                    if values_a[prop] == values_b[prop]:
                        matched[prop] += 1
                    else:
                        errors[prop].append(f"{entry_a.get('id')} in /{path}: "
                                            + difference(values_a[prop], values_b[prop]))
        foreign = sum(1 for i in ids_a if not str(i).startswith("tag:"))
        where = (f"{entries} entries ({len(ids_a)} distinct, {foreign} not tag: ids) in {len(paths)}"
                 f" {fmt} documents")
        verdict(f"{fmt}-ids", errors["ids"], f"{ids_matched} of {where} found in B by id")
        for prop in names:
            verdict(f"{fmt}-{prop}", errors[prop], f"{matched[prop]} of {ids_matched} entries alike")
    return failures


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "save":
        save(sys.argv[2] if sys.argv[2].endswith("/") else sys.argv[2] + "/", sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(1 if compare(sys.argv[2], sys.argv[3]) else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
