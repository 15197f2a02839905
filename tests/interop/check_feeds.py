#!/usr/bin/env python3
"""Interop checks of a running feedsvc against outside tools (called by run.sh).

  check_feeds.py prepare SRC_DIR DST_DIR
      Copies the fixture articles, injects control characters into control-chars.md's body
      (the fixture README asks the test to do that; none are stored in the file), and adds the
      generated PROBES articles.
  check_feeds.py check --base URL --fixtures DIR --work DIR --schema RNC --site-author NAME
                       --plain-from EPOCH --plain-to EPOCH
      Fetches every feed (site and tag feeds, RSS/Atom/JSON) and judges it with xmllint, jing,
      feedparser, newsboat, sfeed and curl. Prints one `PASS name detail` / `FAIL name detail`
      line per check and `N passed, M failed` last; exits 1 when any check failed.

Expected values come from the fixtures themselves, never from feedsvc: front matter (tomllib),
and, for an article without a `summary`, the excerpt derived from its Markdown body with an
independent CommonMark parser (markdown-it-py, see `excerpt_of`).
"""

import argparse
import calendar
import email.utils
import gzip
import html
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import date, datetime, timezone

try:
    import tomllib
except ImportError:  # Python < 3.11: run.sh installs tomli into the venv
    import tomli as tomllib

ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
DC = "http://purl.org/dc/elements/1.1/"

# Control characters a reader would choke on (XML-illegal C0, DEL, C1, non-characters).
BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
CONTROL_SENTENCE = "Control characters are stripped."
CONTROL_INJECTED = "Con\x01trol\x08 char\x0bacters\x1b are\x7f str\u0085ipped.\x0c\ufffe"

# Generated inputs added with the corpus (the fixture files stay untouched). An article without a
# summary whose first paragraph shows markup as code: its excerpt is plain text with `<` in it,
# which every format must carry as text (RSS <description> is HTML, so it must be escaped).
PROBES = {
    "excerpt-markup.md": """+++
title = "Excerpt with markup-like text"
slug = "excerpt-markup"
published = "2026-03-01T10:00:00Z"
+++

Use `<script>alert(1)</script>` and `<![CDATA[` with care, and keep 1 &lt; 2.
""",
    # Longer than the excerpt: a heading and a code block that the excerpt skips, a short first
    # paragraph (so the second one is taken too), a cut at a word boundary marked with an
    # ellipsis, and a third paragraph that must not be reached.
    "excerpt-long.md": """+++
title = "Excerpt cut at a word boundary"
slug = "excerpt-long"
published = "2026-03-02T10:00:00Z"
+++

## Not part of the excerpt

```text
nor is this code block
```

**BERN** — A *short* opening paragraph with a [link](https://example.org/) and `code`.

Negotiators from the three delegations worked through the night on the wording of the
customs annex, trading drafts line by line until the early hours, while observers waited
in the corridor outside the conference room, refreshing their phones for news of a
breakthrough that, by dawn, had still not come; the chair then adjourned the session.

Third paragraph: never part of the excerpt.
""",
}

PLAIN_SLUG = "plain-text-flags"
PLAIN_TITLE = "Plain text with flags"
PLAIN_TAGS = ["Flags"]

passed = failed = 0


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    detail = BAD_CHARS.sub(lambda m: "\\x%02x" % ord(m.group()), str(detail)).replace("\n", " | ")
    if len(detail) > 900:
        detail = detail[:900] + "…"
    print(f"{'PASS' if ok else 'FAIL'} {name} {detail}".rstrip(), flush=True)


def verdict(name, errors, ok_detail):
    report(not errors, name, "; ".join(errors) if errors else ok_detail)


# ----------------------------------------------------------------------------------- corpus
def as_published(name, text):
    """A fixture's text as it is handed to `feedsvc add` (control characters injected)."""
    if name == "control-chars.md":
        if CONTROL_SENTENCE not in text:
            sys.exit(f"prepare: {name} no longer contains {CONTROL_SENTENCE!r}")
        head, sep, body = text.partition("\n+++\n")
        text = head + sep + body.replace(CONTROL_SENTENCE, CONTROL_INJECTED)
    return text


def prepare(src, dst):
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        if name == "README.md" or not (name.endswith(".md") or name.endswith(".txt")):
            continue
        with open(os.path.join(src, name), encoding="utf-8") as f:
            text = as_published(name, f.read())
        with open(os.path.join(dst, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    for name, text in PROBES.items():
        with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
            f.write(text)


# ----------------------------------------------------------------------------------- excerpt
# feedsvc's documented excerpt rule (src/render/markdown.rs, `excerpt`): the opening of the body
# as plain text (headings, code blocks, tables, footnote definitions and raw HTML skipped; the
# text of code spans and image alt text kept; line breaks become spaces), whole paragraphs
# until at least EXCERPT_CHARS / 2 characters are gathered, characters XML cannot carry
# dropped, whitespace collapsed; when longer than EXCERPT_CHARS characters it is cut at the last
# space past the half, trailing `,;:.` dropped, and `…` appended. The Markdown is parsed here
# with markdown-it-py (CommonMark + tables, strikethrough, footnotes), not with feedsvc's parser.
EXCERPT_CHARS = 280


def markdown_parser():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.footnote import footnote_plugin

    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).use(footnote_plugin)


def is_feed_char(c):
    """A character an XML 1.0 document can carry and a reader does not choke on."""
    return c in "\t\n\r" or (unicodedata.category(c) != "Cc" and c not in "\ufffe\uffff")


def inline_text(tokens):
    out = []
    for t in tokens or []:
        if t.type in ("text", "code_inline"):
            out.append(t.content)
        elif t.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif t.type == "image":
            out.append(inline_text(t.children))  # the alt text
        # html_inline, footnote_ref, link/emphasis/strikethrough markers: no text of their own
    return "".join(out)


def excerpt_of(markdown, parser=None):
    tokens = (parser or markdown_parser()).parse(markdown)
    skipped = {"heading_open": 1, "heading_close": -1, "table_open": 1, "table_close": -1,
               "footnote_block_open": 1, "footnote_block_close": -1}
    text, depth = "", 0
    for t in tokens:
        depth += skipped.get(t.type, 0)
        if depth:
            continue
        if t.type == "inline":
            text += inline_text(t.children)
        elif t.type == "paragraph_close":
            if len(text) >= EXCERPT_CHARS // 2:
                break
            text += " "
        # fence, code_block, html_block: skipped
    text = " ".join("".join(c for c in text if is_feed_char(c)).split())
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text[:EXCERPT_CHARS]
    space = cut.rfind(" ")
    if space > EXCERPT_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(",;:. ") + "…"


def to_epoch(value):
    """Front-matter time (string or TOML datetime) -> UTC epoch; a bare date is midnight UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            value = date.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp())
    return calendar.timegm(value.timetuple())


def load_expected(fixtures, base, site_author, plain_window):
    """slug -> expected fields, from the fixtures' front matter."""
    expected = {}
    sources = {}
    for name in sorted(os.listdir(fixtures)):
        if (name.endswith(".md") and name != "README.md") or name == "no-front-matter.txt":
            with open(os.path.join(fixtures, name), encoding="utf-8") as f:
                sources[name] = as_published(name, f.read())
    sources.update(PROBES)
    parser = markdown_parser()

    def summary_of(name, fm, body):
        """(summary, where it comes from): the front matter's, or the excerpt of the body."""
        if fm.get("summary") is not None:
            return fm["summary"], "front matter"
        excerpt = excerpt_of(body, parser)
        if not excerpt:
            raise SystemExit(f"{name}: no summary and no text for an excerpt")
        return excerpt, "body's excerpt"

    if "no-front-matter.txt" not in sources:
        raise SystemExit(f"{fixtures}: no no-front-matter.txt")
    for name, text in sources.items():
        if name == "no-front-matter.txt":
            continue
        m = re.match(r"\+\+\+\n(.*?)\n\+\+\+\n", text, re.S)
        if not m:
            raise SystemExit(f"{name}: no +++ front matter")
        fm = tomllib.loads(m.group(1))
        slug = fm.get("slug") or name[:-3]
        published = to_epoch(fm["published"])
        summary, summary_source = summary_of(name, fm, text[m.end():])
        expected[slug] = dict(
            slug=slug,
            title=fm["title"],
            link=base + "articles/" + slug,
            published=published,
            published_window=(published, published),
            updated=to_epoch(fm["updated"]) if "updated" in fm else published,
            tags=list(dict.fromkeys(fm.get("tags", []))),
            author=fm.get("author", site_author),
            summary=summary,
            summary_source=summary_source,
        )
    lo, hi = plain_window
    summary, summary_source = summary_of("no-front-matter.txt", {}, sources["no-front-matter.txt"])
    expected[PLAIN_SLUG] = dict(
        slug=PLAIN_SLUG, title=PLAIN_TITLE, link=base + "articles/" + PLAIN_SLUG,
        published=None, published_window=(lo - 1, hi + 1), updated=None, tags=PLAIN_TAGS,
        author=site_author, summary=summary, summary_source=summary_source,
    )
    return expected


def in_window(exp, epoch, field="published"):
    if epoch is None:
        return False
    if field == "updated" and exp["updated"] is not None:
        return epoch == exp["updated"]
    lo, hi = exp["published_window"]
    return lo <= epoch <= hi


def fmt_epoch(epoch):
    if epoch is None:
        return "none"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def want_time(exp, field="published"):
    if field == "updated" and exp["updated"] is not None:
        return fmt_epoch(exp["updated"])
    lo, hi = exp["published_window"]
    return fmt_epoch(lo) if lo == hi else f"{fmt_epoch(lo)}..{fmt_epoch(hi)}"


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
RFC822 = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct"
                    r"|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} (?:[+-]\d{4}|GMT|UT)")


def rfc3339_epoch(text):
    """(epoch, None) for an RFC 3339 date-time with an offset (Atom, JSON Feed); else (None, why)."""
    if not isinstance(text, str) or not RFC3339.fullmatch(text):
        return None, f"{text!r} is not an RFC 3339 date-time with an offset"
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()), None


def rfc822_epoch(text):
    """(epoch, None) for an RFC 822 date as the RSS Board profile wants it (4-digit year,
    numeric zone or GMT, the right weekday); else (None, why)."""
    m = RFC822.fullmatch(text or "")
    if not m:
        return None, f"{text!r} is not an RFC 822 date (Www, D Mmm YYYY HH:MM:SS +ZZZZ)"
    dt = email.utils.parsedate_to_datetime(text)
    if dt.strftime("%a") != m.group(1):
        return None, f"{text!r}: {dt.date()} is a {dt.strftime('%a')}, not a {m.group(1)}"
    return int(dt.timestamp()), None


def slugify(name):
    """The tag-slug rule (drop apostrophes, transliterate, lowercase, non-alphanumerics -> '-')
    for Latin text; None when a letter has no ASCII decomposition (CJK...), whose
    transliteration needs a table this checker does not carry."""
    text = name.replace("'", "").replace("\u2019", "")
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    if any(ord(c) > 127 and unicodedata.category(c)[0] in "LN" for c in decomposed):
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", decomposed.encode("ascii", "ignore").decode().lower()).strip("-")
    return slug or None


# ------------------------------------------------------------------------------------- http
class Response:
    pass


def curl(url, work, headers=(), tag="x"):
    """GET with curl; returns status, lower-cased headers and the raw (undecoded) body."""
    hdr_file = os.path.join(work, f"curl-{tag}.headers")
    body_file = os.path.join(work, f"curl-{tag}.body")
    cmd = ["curl", "-sS", "--max-time", "20", "-D", hdr_file, "-o", body_file]
    for h in headers:
        cmd += ["-H", h]
    r = subprocess.run(cmd + [url], capture_output=True, text=True)
    resp = Response()
    resp.url, resp.error, resp.status, resp.headers, resp.body = url, None, None, {}, b""
    if r.returncode != 0:
        resp.error = f"curl rc={r.returncode}: {r.stderr.strip()}"
        return resp
    with open(hdr_file, encoding="latin-1", newline="") as f:
        lines = f.read().split("\r\n")
    resp.status = int(lines[0].split()[1])
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            resp.headers[k.strip().lower()] = v.strip()
    if os.path.exists(body_file):
        with open(body_file, "rb") as f:
            resp.body = f.read()
    return resp


# ---------------------------------------------------------------------------- body content
HREF_RE = re.compile(r"""\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def hrefs(fragment):
    return [html.unescape(a or b or c) for a, b, c in HREF_RE.findall(fragment or "")]


def text_of(fragment):
    """Visible text of an HTML fragment as an HTML5 parser reads it: tags dropped, comments and
    `<!`/`<?` markup dropped up to the next `>` (or the end: a bogus comment), entities decoded,
    whitespace collapsed. A `<` not followed by a letter, `/`, `!` or `?` stays text."""
    s = re.sub(r"<!--.*?(?:-->|$)", " ", fragment or "", flags=re.S)
    s = re.sub(r"<[!?][^>]*(?:>|$)", " ", s)
    s = re.sub(r"</?[A-Za-z][^>]*(?:>|$)", " ", s)
    s = html.unescape(s)
    return re.sub(r"\s+", " ", s).strip()


def body_errors(slug, fragment, base):
    """What is wrong with one entry's HTML content, as a reader would get it."""
    errs = []
    if not fragment:
        return [f"{slug}: no content"]
    text = text_of(fragment)
    if BAD_CHARS.search(fragment):
        errs.append(f"{slug}: control character in content")
    for bad in ("<script", "javascript:", "onerror", "onload", "<iframe", "<svg"):
        if bad in fragment.lower():
            errs.append(f"{slug}: content contains {bad!r}")
    for h in hrefs(fragment):
        if urllib.parse.urlsplit(h).scheme not in ("http", "https"):
            errs.append(f"{slug}: link {h!r} is not an absolute http(s) URL")
    article = base + "articles/" + slug
    musts = {
        "ampersand-title": ['Body text also has them: Q&A, AT&T, 1 < 2 > 0, "double" and \'single\'.',
                            "a fake <b> tag"],
        "typography": ["“within days”", "2026–2027 period… and ‘nothing more’"],
        "cjk-title": ["北京 — 两国外交官周二在北京举行了为期一天的会谈"],
        "emoji": ["Stocks rose 📈 and traders cheered 🎉. Flags and joined sequences too: 🇨🇭 👩🏽‍💻."],
        "cdata-end": ["must not end early at ]]> here.",
                      "In a code span: ]]> and <![CDATA[ and <![CDATA[x]]> all stay literal.",
                      "an opening marker <![CDATA[ without closing it.",
                      "Two in a row: ]]>]]> and one more ]]>"],
        "sanitizer": ["Safe text survives."],
        "control-chars": [CONTROL_SENTENCE],
        "footnotes-table": ["<b>not bold</b> & co", "According to provisional customs figures.",
                            "Busan", "Abidjan"],
        "long-quote": ["— Eleanor Vance-Mori, independent mediator", "A warning from the table"],
        "relative-links": ["see the report", "must stay unchanged."],
        PLAIN_SLUG: ["This file has no front matter at all.", "A second paragraph follows"],
        "excerpt-markup": ["Use <script>alert(1)</script> and <![CDATA[ with care, and keep 1 < 2."],
        "excerpt-long": ["A short opening paragraph with a", "the chair then adjourned the session.",
                         "Third paragraph: never part of the excerpt."],
    }.get(slug, [])
    for m in musts:
        if m not in text:
            errs.append(f"{slug}: content text lacks {m!r}")
    if slug == "relative-links":
        links = set(hrefs(fragment))
        for want in (urllib.parse.urljoin(article, "../reports/2026"), base,
                     urllib.parse.urljoin(article, "images/map.png"), "https://example.org/"):
            if want not in links:
                errs.append(f"{slug}: content has no link to {want!r} (has {sorted(links)})")
    if slug == "footnotes-table":
        low = fragment.lower()
        if "<b>not bold" in low:
            errs.append(f"{slug}: code block <b> rendered as markup")
        if "<table" not in low:
            errs.append(f"{slug}: no <table>")
        if "<del>" not in low and "<s>" not in low:
            errs.append(f"{slug}: strikethrough not rendered")
    if slug == PLAIN_SLUG and fragment.count("<p>") != 2:
        errs.append(f"{slug}: expected 2 paragraphs, got {fragment.count('<p>')}")
    return errs


# ------------------------------------------------------------------------------- the feeds
class Feed:
    """One served feed document and what it must contain."""

    def __init__(self, path, kind, slugs):
        self.path, self.kind, self.slugs = path, kind, slugs
        self.url = None
        self.file = None
        self.body = b""
        self.ok = False  # fetched with 200


def file_name(path):
    return path.strip("/").replace("/", "_") or "root"


def fetch_feeds(feeds, base, work):
    ctypes = {"rss": "application/rss+xml", "atom": "application/atom+xml",
              "json": "application/feed+json"}
    for feed in feeds:
        feed.url = base + feed.path.lstrip("/")
        name = file_name(feed.path)
        r = curl(feed.url, work, tag=name)
        errs = []
        if r.error:
            errs.append(r.error)
        elif r.status != 200:
            errs.append(f"status {r.status}")
        else:
            ctype = r.headers.get("content-type", "")
            if ctype.split(";")[0].strip() != ctypes[feed.kind]:
                errs.append(f"Content-Type {ctype!r}, expected {ctypes[feed.kind]}")
            if "accept-encoding" not in r.headers.get("vary", "").lower():
                errs.append(f"Vary {r.headers.get('vary')!r} lacks Accept-Encoding")
            if not r.headers.get("etag"):
                errs.append("no ETag")
            feed.ok = True
            feed.body = r.body
            feed.headers = r.headers
            feed.file = os.path.join(work, "feeds", name)
            with open(feed.file, "wb") as f:
                f.write(r.body)
        verdict(f"http:{feed.path}", errs,
                f"200 {feed.headers.get('content-type')} {len(feed.body)} bytes" if feed.ok else "")


def check_http_caching(feed, work):
    name = file_name(feed.path)
    # gzip: same bytes after gunzip, marked as gzip, Vary set.
    r = curl(feed.url, work, ["Accept-Encoding: gzip"], tag=name + "-gz")
    errs = []
    if r.error or r.status != 200:
        errs.append(r.error or f"status {r.status}")
    else:
        if r.headers.get("content-encoding") != "gzip":
            errs.append(f"Content-Encoding {r.headers.get('content-encoding')!r}, expected gzip")
        else:
            try:
                plain = gzip.decompress(r.body)
                if plain != feed.body:
                    errs.append(f"gunzipped {len(plain)} bytes differ from identity {len(feed.body)} bytes")
            except Exception as e:
                errs.append(f"gunzip failed: {e}")
        if "accept-encoding" not in r.headers.get("vary", "").lower():
            errs.append("gzip response lacks Vary: Accept-Encoding")
    verdict(f"gzip:{feed.path}", errs, f"{len(r.body)} gzip bytes gunzip to the identity body")
    gz_etag = r.headers.get("etag") if not errs else None

    # Conditional GET: If-None-Match (identity and gzip variants) and If-Modified-Since.
    errs = []
    etag = feed.headers.get("etag")
    tries = [("If-None-Match", [f"If-None-Match: {etag}"])]
    if gz_etag:
        tries.append(("If-None-Match(gzip)", [f"If-None-Match: {gz_etag}", "Accept-Encoding: gzip"]))
    if feed.headers.get("last-modified"):
        tries.append(("If-Modified-Since", [f"If-Modified-Since: {feed.headers['last-modified']}"]))
    else:
        errs.append("no Last-Modified")
    for label, hdrs in tries:
        c = curl(feed.url, work, hdrs, tag=name + "-cond")
        if c.status != 304:
            errs.append(f"{label} gave {c.status or c.error}, expected 304")
        elif c.body:
            errs.append(f"{label}: 304 with a {len(c.body)}-byte body")
    c = curl(feed.url, work, ['If-None-Match: "not-the-etag"'], tag=name + "-cond")
    if c.status != 200 or c.body != feed.body:
        errs.append(f"non-matching If-None-Match gave {c.status}, expected 200 with the body")
    verdict(f"conditional:{feed.path}", errs, f"ETag {etag} and Last-Modified give 304")


def check_xmllint(feed):
    r = subprocess.run(["xmllint", "--noout", feed.file], capture_output=True, text=True)
    verdict(f"xmllint:{feed.path}", [r.stderr.strip() or f"rc={r.returncode}"] if r.returncode else [],
            "well-formed")


def check_jing(feeds, schema):
    """One jing run for every Atom document (Java starts once)."""
    atom = [f for f in feeds if f.kind == "atom" and f.ok]
    if not atom:
        report(False, "jing", "no Atom document was fetched to validate")
        return
    r = subprocess.run(["jing", "-c", schema] + [f.file for f in atom], capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip().splitlines()
    for feed in atom:
        errs = [line.replace(feed.file, "") for line in out if line.startswith(feed.file + ":")]
        if r.returncode != 0 and not errs and not any(line.startswith("/") for line in out):
            errs = out or [f"jing rc={r.returncode}"]  # jing itself failed
        verdict(f"jing:{feed.path}", errs, "valid against RFC 4287 RELAX NG schema")


def xml_entries(feed):
    """Raw per-entry facts from the document itself (ElementTree, no interpretation)."""
    root = ET.fromstring(feed.body)
    out = []
    if feed.kind == "rss":
        channel = root.find("channel")
        selfs = [l.get("href") for l in channel.findall(f"{{{ATOM}}}link") if l.get("rel") == "self"]
        dates = [(el.tag, el.text) for el in channel.findall("lastBuildDate") + channel.findall("pubDate")]
        for item in channel.findall("item"):
            out.append(dict(
                link=(item.findtext("link") or "").strip(),
                id=(item.findtext("guid") or "").strip(),
                content=item.findtext(f"{{{CONTENT}}}encoded"),
                summary=item.findtext("description"),
                summary_type="html",  # RSS description is HTML by convention (RSS Board profile)
                categories=[(c.text, c.get("domain")) for c in item.findall("category")],
                author=item.findtext(f"{{{DC}}}creator"),
                published=item.findtext("pubDate"),
            ))
    else:
        selfs = [l.get("href") for l in root.findall(f"{{{ATOM}}}link") if l.get("rel") == "self"]
        dates = [("updated", root.findtext(f"{{{ATOM}}}updated"))]
        for entry in root.findall(f"{{{ATOM}}}entry"):
            links = [l.get("href") for l in entry.findall(f"{{{ATOM}}}link")
                     if l.get("rel", "alternate") == "alternate"]
            content = entry.find(f"{{{ATOM}}}content")
            out.append(dict(
                link=links[0] if links else "",
                id=(entry.findtext(f"{{{ATOM}}}id") or "").strip(),
                content=content.text if content is not None and content.get("type") == "html" else None,
                summary=entry.findtext(f"{{{ATOM}}}summary"),
                summary_type=entry.find(f"{{{ATOM}}}summary").get("type", "text")
                if entry.find(f"{{{ATOM}}}summary") is not None else None,
                categories=[(c.get("label"), c.get("term"), c.get("scheme"))
                            for c in entry.findall(f"{{{ATOM}}}category")],
                author=entry.findtext(f"{{{ATOM}}}author/{{{ATOM}}}name"),
                published=entry.findtext(f"{{{ATOM}}}published"),
                updated=entry.findtext(f"{{{ATOM}}}updated"),
            ))
    return selfs, dates, out


def atom_schematron(body):
    """The two Schematron rules of RFC 4287's schema that jing does not apply."""
    errs = []
    root = ET.fromstring(body)
    feed_author = root.find(f"{{{ATOM}}}author") is not None
    for n, entry in enumerate(root.findall(f"{{{ATOM}}}entry"), 1):
        if not feed_author and entry.find(f"{{{ATOM}}}author") is None:
            errs.append(f"entry {n}: no atom:author and the feed has none")
        alternate = [l for l in entry.findall(f"{{{ATOM}}}link") if l.get("rel", "alternate") == "alternate"]
        if not alternate and entry.find(f"{{{ATOM}}}content") is None:
            errs.append(f"entry {n}: neither an alternate link nor content")
    return errs


def slug_of_link(link, base):
    prefix = base + "articles/"
    return link[len(prefix):] if link and link.startswith(prefix) else None


def compare_items(tool, feed, items, expected, base, check_dates=True):
    """items: dicts with title, link, published (epoch) and optional updated, id.
    Returns error strings: each expected article appears once with the right fields."""
    errs = []
    seen = {}
    for it in items:
        slug = slug_of_link(it.get("link"), base)
        if slug is None or slug not in expected:
            errs.append(f"unexpected item link {it.get('link')!r} (title {it.get('title')!r})")
            continue
        if slug in seen:
            errs.append(f"{slug}: appears twice")
        seen[slug] = it
        exp = expected[slug]
        if it.get("title") != exp["title"]:
            errs.append(f"{slug}: title {it.get('title')!r} != {exp['title']!r}")
        if check_dates and not in_window(exp, it.get("published")):
            errs.append(f"{slug}: published {fmt_epoch(it.get('published'))} != {want_time(exp)}")
        if check_dates and "updated" in it and not in_window(exp, it["updated"], "updated"):
            errs.append(f"{slug}: updated {fmt_epoch(it['updated'])} != {want_time(exp, 'updated')}")
    missing = [s for s in feed.slugs if s not in seen]
    if missing:
        errs.append(f"missing items: {missing}")
    extra = [s for s in seen if s not in feed.slugs]
    if extra:
        errs.append(f"items that do not belong here: {extra}")
    ids = [it.get("id") for it in items if "id" in it]
    for i in ids:
        if not i:
            errs.append(f"{tool}: an item has no id")
    dups = sorted({i for i in ids if i and ids.count(i) > 1})
    if dups:
        errs.append(f"duplicate ids {dups}")
    return errs


def check_feedparser(feed, expected, base, ids_by_slug):
    import feedparser
    d = feedparser.parse(feed.body, response_headers={
        "content-type": feed.headers.get("content-type", ""), "content-location": feed.url})
    errs = []
    want_version = {"rss": "rss20", "atom": "atom10"}[feed.kind]
    if d.bozo:
        errs.append(f"bozo: {d.get('bozo_exception')}")
    if d.version != want_version:
        errs.append(f"version {d.version!r}, expected {want_version}")
    if not d.feed.get("title"):
        errs.append("feed has no title")
    items = []
    for n, e in enumerate(d.entries, 1):
        for field in ("id", "title", "link"):
            if not e.get(field):
                errs.append(f"entry {n}: no {field}")
        pp = e.get("published_parsed")
        up = e.get("updated_parsed")
        if not pp and not up:
            errs.append(f"entry {n}: no parseable date")
        it = dict(title=e.get("title"), link=e.get("link"), id=e.get("id"),
                  published=calendar.timegm(pp) if pp else None)
        if feed.kind == "atom":
            it["updated"] = calendar.timegm(up) if up else None
        items.append(it)
        slug = slug_of_link(e.get("link"), base)
        if slug in expected:
            exp = expected[slug]
            ids_by_slug.setdefault(slug, {})[feed.path] = e.get("id")
            if e.get("author") != exp["author"]:
                errs.append(f"{slug}: author {e.get('author')!r} != {exp['author']!r}")
            labels = [t.get("label") or t.get("term") for t in e.get("tags", [])]
            if feed.kind == "rss":
                labels = [t.get("term") for t in e.get("tags", [])]
            if labels != exp["tags"]:
                errs.append(f"{slug}: tags {labels} != {exp['tags']}")
            got = e.get("summary")
            if e.get("summary_detail", {}).get("type") == "text/html":
                got = text_of(got)  # feedparser hands out (sanitized) HTML
            if got != exp["summary"]:
                errs.append(f"{slug}: summary {got!r} != the {exp['summary_source']} {exp['summary']!r}")
    errs += compare_items("feedparser", feed, items, expected, base)
    order = [it["published"] or 0 for it in items]
    if order != sorted(order, reverse=True):
        errs.append("entries are not newest first")
    verdict(f"feedparser:{feed.path}", errs,
            f"{d.version}, {len(d.entries)} entries: titles, links, dates, ids, tags, authors match")


def check_document(feed, expected, base, tag_slugs):
    """The document's own bytes: self link, date syntax and instants, categories/tag URLs,
    summaries, authors, HTML content."""
    errs = []
    try:
        selfs, dates, entries = xml_entries(feed)
    except ET.ParseError as e:
        report(False, f"document:{feed.path}", f"not well-formed: {e}")
        return
    if selfs != [feed.url]:
        errs.append(f"rel=self {selfs} != [{feed.url!r}]")
    if feed.kind == "atom":
        errs += atom_schematron(feed.body)
    parse_date = rfc822_epoch if feed.kind == "rss" else rfc3339_epoch
    for tag, text in dates:
        if parse_date(text)[1]:
            errs.append(f"feed {tag}: {parse_date(text)[1]}")
    seen = [slug_of_link(e["link"], base) for e in entries]
    missing = [s for s in feed.slugs if s not in seen]
    if missing:
        errs.append(f"missing entries: {missing}")
    for e in entries:
        slug = slug_of_link(e["link"], base)
        if slug not in expected:
            errs.append(f"unexpected entry link {e['link']!r}")
            continue
        exp = expected[slug]
        fields = ("published",) if feed.kind == "rss" else ("published", "updated")
        for field in fields:
            epoch, why = parse_date(e[field])
            if why:
                errs.append(f"{slug}: {field} {why}")
            elif not in_window(exp, epoch, field):
                errs.append(f"{slug}: {field} {e[field]} is {fmt_epoch(epoch)}, expected {want_time(exp, field)}")
        errs += body_errors(slug, e["content"], base)
        got = e["summary"]
        if e["summary_type"] in ("html", "xhtml"):
            got = text_of(got)  # what an HTML renderer shows
        # The front matter's summary, or else the excerpt derived from the fixture's body.
        want = re.sub(r"\s+", " ", exp["summary"]).strip()
        if got is None:
            errs.append(f"{slug}: no summary (expected the {exp['summary_source']} {want!r})")
        elif got != want:
            hint = " (plain text put into HTML without escaping)" if feed.kind == "rss" and \
                re.search(r"<[A-Za-z/!?]", e["summary"] or "") else ""
            errs.append(f"{slug}: {e['summary_type']} summary {e['summary']!r} reads as {got!r},"
                        f" not the {exp['summary_source']} {want!r}{hint}")
        if e["author"] != exp["author"]:
            errs.append(f"{slug}: author {e['author']!r} != {exp['author']!r}")
        if feed.kind == "rss":
            names = [c[0] for c in e["categories"]]
            for name, domain in e["categories"]:
                want = base + "tags/" + tag_slugs.get(name, "?") + "/"
                if domain != want:
                    errs.append(f"{slug}: category {name!r} domain {domain!r} != {want!r}")
        else:
            names = [c[0] for c in e["categories"]]
            for label, term, scheme in e["categories"]:
                if term != tag_slugs.get(label) or scheme != base + "tags/":
                    errs.append(f"{slug}: category term={term!r} scheme={scheme!r} label={label!r}")
        if names != exp["tags"]:
            errs.append(f"{slug}: categories {names} != {exp['tags']}")
    verdict(f"document:{feed.path}", errs,
            "self link, categories, summaries, authors and HTML content as published")


def check_json(feed, expected, base, ids_by_slug):
    errs = []
    try:
        doc = json.loads(feed.body.decode("utf-8"))
    except Exception as e:
        report(False, f"json:{feed.path}", f"not JSON: {e}")
        return
    if doc.get("version") != "https://jsonfeed.org/version/1.1":
        errs.append(f"version {doc.get('version')!r}")
    if not isinstance(doc.get("title"), str) or not doc.get("title"):
        errs.append("no title")
    if doc.get("feed_url") != feed.url:
        errs.append(f"feed_url {doc.get('feed_url')!r} != {feed.url!r}")
    if not str(doc.get("home_page_url", "")).startswith(base):
        errs.append(f"home_page_url {doc.get('home_page_url')!r}")
    items = doc.get("items")
    if not isinstance(items, list):
        report(False, f"json:{feed.path}", "items is not a list")
        return
    rows = []
    for n, it in enumerate(items, 1):
        if not isinstance(it.get("id"), str) or not it.get("id"):
            errs.append(f"item {n}: id missing or not a string")
        if not (isinstance(it.get("content_html"), str) or isinstance(it.get("content_text"), str)):
            errs.append(f"item {n}: neither content_html nor content_text")
        row = dict(title=it.get("title"), link=it.get("url"), id=it.get("id"))
        for key, field in (("published", "date_published"), ("updated", "date_modified")):
            row[key], why = rfc3339_epoch(it.get(field))
            if why:
                errs.append(f"item {n}: {field} {why}")
        rows.append(row)
        slug = slug_of_link(it.get("url"), base)
        if slug in expected:
            exp = expected[slug]
            ids_by_slug.setdefault(slug, {})[feed.path] = it.get("id")
            if it.get("tags", []) != exp["tags"]:
                errs.append(f"{slug}: tags {it.get('tags')} != {exp['tags']}")
            if it.get("summary") != exp["summary"]:
                errs.append(f"{slug}: summary {it.get('summary')!r} != the"
                            f" {exp['summary_source']} {exp['summary']!r}")
            authors = [a.get("name") for a in it.get("authors", doc.get("authors", []))]
            if authors != [exp["author"]]:
                errs.append(f"{slug}: authors {authors} != {[exp['author']]}")
            # feedsvc gives every article of a feed this small its full HTML body.
            if not isinstance(it.get("content_html"), str):
                errs.append(f"{slug}: no content_html (content_text {it.get('content_text')!r})")
            else:
                errs += body_errors(slug, it["content_html"], base)
    errs += compare_items("json", feed, rows, expected, base)
    verdict(f"json:{feed.path}", errs, f"JSON Feed 1.1, {len(items)} items match the fixtures")


def check_newsboat(feed, expected, base, work):
    """newsboat keys items by guid across all its feeds, so each feed gets its own cache."""
    home = tempfile.mkdtemp(prefix="newsboat-", dir=work)
    urls = os.path.join(home, "urls")
    cache = os.path.join(home, "cache.db")
    with open(urls, "w") as f:
        f.write(feed.url + "\n")
    r = subprocess.run(["newsboat", "-x", "reload", "-u", urls, "-c", cache, "-C", "/dev/null"],
                       env=dict(os.environ, HOME=home), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    errs = []
    if r.returncode != 0:
        verdict(f"newsboat:{feed.path}", [f"rc={r.returncode} {r.stderr.strip()[:300]}"], "")
        return
    db = sqlite3.connect(cache)
    feed_rows = db.execute("select title from rss_feed where rssurl = ?", (feed.url,)).fetchall()
    rows = db.execute("select title, url, pubDate, guid, content, author from rss_item"
                      " where feedurl = ?", (feed.url,)).fetchall()
    db.close()
    if not feed_rows:
        verdict(f"newsboat:{feed.path}", ["newsboat stored no feed (fetch or parse failed)"], "")
        return
    items = [dict(title=t, link=u, published=p, id=g) for t, u, p, g, _, _ in rows]
    errs += compare_items("newsboat", feed, items, expected, base)
    for t, u, p, g, content, author in rows:
        slug = slug_of_link(u, base)
        if slug in expected:
            errs += body_errors(slug, content, base)
            if author != expected[slug]["author"]:
                errs.append(f"{slug}: author {author!r} != {expected[slug]['author']!r}")
    verdict(f"newsboat:{feed.path}", errs, f"{len(rows)} items stored with the right title, link, date")


def sfeed_unescape(field):
    return re.sub(r"\\([nt\\])", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}[m.group(1)], field)


def check_sfeed(feed, expected, base, tag_slugs):
    """curl URL | sfeed, as a user would run it (the bytes are the ones curl fetched)."""
    r = subprocess.run(["sfeed"], input=feed.body, capture_output=True, timeout=60)
    if r.returncode != 0:
        verdict(f"sfeed:{feed.path}", [f"rc={r.returncode} {r.stderr.decode(errors='replace')[:300]}"], "")
        return
    items = []
    errs = []
    for line in r.stdout.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        f = (line.split("\t") + [""] * 9)[:9]
        ts, title, link, content, ctype, gid, author, _enclosure, category = map(sfeed_unescape, f)
        items.append(dict(title=title, link=link, id=gid, published=int(ts) if ts else None))
        slug = slug_of_link(link, base)
        if slug in expected:
            exp = expected[slug]
            if ctype != "html":
                errs.append(f"{slug}: content-type {ctype!r}, expected html")
            errs += body_errors(slug, content, base)
            if author != exp["author"]:
                errs.append(f"{slug}: author {author!r} != {exp['author']!r}")
            cats = [c for c in category.split("|") if c]
            want = exp["tags"] if feed.kind == "rss" else [tag_slugs.get(t) for t in exp["tags"]]
            if cats != want:
                errs.append(f"{slug}: categories {cats} != {want}")
    errs += compare_items("sfeed", feed, items, expected, base)
    verdict(f"sfeed:{feed.path}", errs, f"{len(items)} rows: titles, links, timestamps, content match")


def check_pages(expected, tag_slugs, base, work):
    errs = []
    for slug, exp in sorted(expected.items()):
        r = curl(exp["link"], work, tag="page")
        if r.status != 200 or not r.headers.get("content-type", "").startswith("text/html"):
            errs.append(f"{exp['link']}: {r.status or r.error} {r.headers.get('content-type')}")
        elif html.escape(exp["title"], quote=False) not in r.body.decode("utf-8", "replace") and \
                exp["title"] not in html.unescape(r.body.decode("utf-8", "replace")):
            errs.append(f"{exp['link']}: page does not show the title {exp['title']!r}")
    for name, slug in sorted(tag_slugs.items()):
        r = curl(base + "tags/" + slug + "/", work, tag="page")
        if r.status != 200:
            errs.append(f"tag page {slug}/ ({name}): {r.status or r.error}")
    verdict("pages", errs, f"{len(expected)} article pages and {len(tag_slugs)} tag pages answer 200")


def discover_tags(base, work, expected):
    """Tag name -> slug, read from /rss.xml's <category domain> (feedsvc's own URLs), and
    checked against the slug rule for Latin names."""
    r = curl(base + "rss.xml", work, tag="discover")
    found = {}
    errs = []
    try:
        for item in ET.fromstring(r.body).find("channel").findall("item"):
            for c in item.findall("category"):
                m = re.fullmatch(re.escape(base) + r"tags/([a-z0-9]+(?:-[a-z0-9]+)*)/", c.get("domain") or "")
                if not m:
                    errs.append(f"category {c.text!r}: domain {c.get('domain')!r} is not {base}tags/<slug>/")
                    continue
                found[c.text] = m.group(1)
    except Exception as e:
        errs.append(f"cannot read /rss.xml categories: {e}")
    want_names = {t for exp in expected.values() for t in exp["tags"]}
    if set(found) != want_names:
        errs.append(f"tags {sorted(found)} != front-matter tags {sorted(want_names)}")
    for name, slug in found.items():
        rule = slugify(name)
        if rule is not None and slug != rule:
            errs.append(f"tag {name!r}: slug {slug!r}, expected {rule!r}")
    for name, slug in (("North Korea", "north-korea"), ("Côte d'Ivoire", "cote-divoire"),
                       ("São Paulo", "sao-paulo"), ("Économie", "economie")):
        if found.get(name) != slug:
            errs.append(f"tag {name!r}: slug {found.get(name)!r}, expected {slug!r}")
    verdict("tags", errs, ", ".join(f"{n}->{s}" for n, s in sorted(found.items())))
    return found


def check(args):
    base = args.base if args.base.endswith("/") else args.base + "/"
    work = args.work
    os.makedirs(os.path.join(work, "feeds"), exist_ok=True)
    expected = load_expected(args.fixtures, base, args.site_author, (args.plain_from, args.plain_to))
    tag_slugs = discover_tags(base, work, expected)

    feeds = []
    all_slugs = sorted(expected)
    for kind, name in (("atom", "atom.xml"), ("rss", "rss.xml"), ("json", "feed.json")):
        feeds.append(Feed("/" + name, kind, all_slugs))
    for tag, slug in sorted(tag_slugs.items(), key=lambda kv: kv[1]):
        members = sorted(s for s, exp in expected.items() if tag in exp["tags"])
        for kind, name in (("atom", "atom.xml"), ("rss", "rss.xml"), ("json", "feed.json")):
            feeds.append(Feed(f"/tags/{slug}/{name}", kind, members))

    fetch_feeds(feeds, base, work)
    ok_feeds = [f for f in feeds if f.ok]
    for feed in ok_feeds:
        check_http_caching(feed, work)
    for feed in ok_feeds:
        if feed.kind != "json":
            check_xmllint(feed)
    check_jing(ok_feeds, args.schema)

    ids_by_slug = {}
    for feed in ok_feeds:
        try:
            if feed.kind == "json":
                check_json(feed, expected, base, ids_by_slug)
                continue
            check_feedparser(feed, expected, base, ids_by_slug)
            check_document(feed, expected, base, tag_slugs)
            check_newsboat(feed, expected, base, work)
            check_sfeed(feed, expected, base, tag_slugs)
        except Exception as e:  # one broken document must not hide the other checks
            report(False, f"checker:{feed.path}", f"{type(e).__name__}: {e}")

    # An entry's id is its identity for every reader: the same in every feed that carries it.
    errs = []
    for slug, by_feed in sorted(ids_by_slug.items()):
        if len(set(by_feed.values())) != 1:
            errs.append(f"{slug}: ids differ across feeds {sorted(set(by_feed.values()))}")
    for slug in sorted(expected):
        want = sorted(f.path for f in feeds if slug in f.slugs)
        got = sorted(ids_by_slug.get(slug, {}))
        if got != want:
            errs.append(f"{slug}: ids read from {got}, expected from {want}")
    verdict("ids-consistent", errs, f"{len(ids_by_slug)} articles keep one id across all feeds")
    check_pages(expected, tag_slugs, base, work)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("src")
    pp.add_argument("dst")
    pc = sub.add_parser("check")
    pc.add_argument("--base", required=True)
    pc.add_argument("--fixtures", required=True)
    pc.add_argument("--work", required=True)
    pc.add_argument("--schema", required=True)
    pc.add_argument("--site-author", required=True)
    pc.add_argument("--plain-from", type=int, required=True)
    pc.add_argument("--plain-to", type=int, required=True)
    args = p.parse_args()
    if args.cmd == "prepare":
        prepare(args.src, args.dst)
        return 0
    check(args)
    if passed == 0:
        report(False, "checker", "no check passed")
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
