#!/usr/bin/env python3
"""Checks for export_nginx.sh: nginx serving a `feedsvc export` answers like `feedsvc serve`.

  export_nginx.py compare SERVE_URL NGINX_URL --moved PATH... --gone PATH --export DIR [--label L]
  export_nginx.py paths SERVE_URL NGINX_URL LABEL PATH...
  export_nginx.py snapshot DIR OUT_JSON
  export_nginx.py incremental DIR BEFORE_JSON SUMMARY_LINE --new FILE [--absent FILE...] [--label L]

`compare` finds every URL from serve (the sitemap index, its months' sitemaps and their URLs,
the site's and each tag's feeds in three formats, each month's archived feeds, the index and
tag pages with every page number, robots.txt, the assets, the 404 page) and asks both servers
for each, with no Accept-Encoding, with gzip and with br. `paths` does the same for the PATHs
given. `snapshot` records each exported file's mtime and digest; `incremental` compares the
directory after a second export with that record and the export's summary line.

Prints one line per check, `ok NAME detail` or `bad NAME detail` (export_nginx.sh turns them
into PASS/FAIL lines); exits 0 when it could run the checks at all, whatever they found, and 1
with a message when it could not.
"""
import argparse
import email.utils
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.parse
import zlib

# Headers that must be equal on every answer (absent on both counts as equal).
SAME_HEADERS = [
    "content-type",
    "content-encoding",
    "cache-control",
    "x-content-type-options",
    "content-security-policy",
    "referrer-policy",
    "x-frame-options",
]
# The three ways a client asks: no Accept-Encoding, gzip only, br only.
CODINGS = {"identity": None, "gzip": "gzip", "br": "br"}
MAX_LISTED = 5
# Set by --without-br: nginx has no brotli_static here, so br is not compared.
WITHOUT_BR = False


def http_date(text):
    """An HTTP date as seconds since the epoch."""
    return email.utils.parsedate_to_datetime(text).timestamp()


def say(ok, name, detail):
    print(f"{'ok' if ok else 'bad'} {name} {detail}", flush=True)


class Client:
    """One keep-alive connection to a server, reopened when the server closes it."""

    def __init__(self, base):
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.conn = None

    def get(self, path, headers=None):
        """GET `path`: (status, {lowercase name: value}, raw body), without decoding the body."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                target = urllib.parse.quote(path, safe="/?=&%:@!$'()*+,;~-._")
                self.conn.putrequest("GET", target, skip_accept_encoding=True)
                for name, value in (headers or {}).items():
                    self.conn.putheader(name, value)
                self.conn.endheaders()
                response = self.conn.getresponse()
                body = response.read()
                got = {k.lower(): v for k, v in response.getheaders()}
                if got.get("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, got, body
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def path_of(base, url):
    """The request path of an absolute URL of the site, or None for another site's URL."""
    url = url.replace("&amp;", "&")
    if not url.startswith(base):
        return None
    return "/" + url[len(base) :].split("#")[0]


def locs(body):
    return re.findall(r"<loc>([^<]+)</loc>", body.decode("utf-8", "replace"))


def discover(serve, base):
    """Every URL serve answers, found the way a crawler would, by kind."""
    urls = {}

    def add(kind, path):
        urls.setdefault(path, kind)

    def fetch(path):
        status, _, body = serve.get(path)
        return status, body

    status, index = fetch("/sitemap.xml")
    if status != 200:
        raise SystemExit(f"serve answered /sitemap.xml with {status}")
    add("sitemap", "/sitemap.xml")
    months = []
    for loc in locs(index):
        path = path_of(base, loc)
        if path is None:
            continue
        add("sitemap", path)
        month = re.fullmatch(r"/archive/(\d{4}-\d{2})/sitemap\.xml", path)
        if month:
            months.append(month.group(1))
        _, sitemap = fetch(path)
        for url in locs(sitemap):
            page = path_of(base, url)
            if page is not None:
                add("sitemap url", page)
    for month in months:
        for name in ("atom.xml", "rss.xml"):
            add("archive", f"/archive/{month}/{name}")
    tags, assets = set(), set()
    html_paths = [p for p, k in urls.items() if k == "sitemap url"] + ["/"]
    for path in html_paths:
        _, body = fetch(path)
        text = body.decode("utf-8", "replace")
        tags.update(re.findall(re.escape(base) + r"tags/([^/\"#?]+)/", text))
        for href in re.findall(r'href="([^"]*assets/[^"]+)"', text):
            href = urllib.parse.urljoin(base + path.lstrip("/"), href.replace("&amp;", "&"))
            asset = path_of(base, href)
            if asset:
                assets.add(asset)
    lists = [""] + [f"tags/{t}/" for t in sorted(tags)]
    pages = {}
    for prefix in lists:
        for name in ("atom.xml", "rss.xml", "feed.json"):
            add("feed", f"/{prefix}{name}")
        add("list", f"/{prefix}")
        number = 2
        while number < 1000:
            path = f"/{prefix}page/{number}/"
            add("list", path)  # the first page past the end is a 404 on both
            if fetch(path)[0] != 200:
                break
            number += 1
        pages[prefix or "/"] = number - 1
    for asset in sorted(assets):
        add("asset", asset)
    add("robots", "/robots.txt")
    add("404", "/404")
    add("404", "/no-such-page")
    return urls, sorted(tags), pages, months


def compare_one(serve, nginx, path, coding, problems, decoded, identity_bodies):
    """Compares both servers' answers to GET `path` asking for `coding`; appends differences."""
    headers = {"Accept-Encoding": CODINGS[coding]} if CODINGS[coding] else {}
    s_status, s_headers, s_body = serve.get(path, headers)
    n_status, n_headers, n_body = nginx.get(path, headers)
    where = f"{path} ({coding})"
    if s_status != n_status:
        problems.append(f"{where}: status {n_status}, serve {s_status}")
        return None
    for name in SAME_HEADERS:
        if s_headers.get(name) != n_headers.get(name):
            problems.append(f"{where}: {name} {n_headers.get(name)!r}, serve {s_headers.get(name)!r}")
    varies = ["accept-encoding" in h.get("vary", "").lower() for h in (s_headers, n_headers)]
    if varies[0] != varies[1]:
        problems.append(f"{where}: Vary {n_headers.get('vary')!r}, serve {s_headers.get('vary')!r}")
    # serve sends no Last-Modified where it has none (robots.txt, assets): nginx then sends
    # the file's mtime, which is harmless. A list page past the first is dated by the last
    # change to its list, which may leave its own bytes as they were: an export then leaves
    # the file (and its mtime) alone, so nginx's date may be earlier than serve's, never later.
    if (
        s_status == 200
        and "last-modified" in s_headers
        and not (
            s_headers["last-modified"] == n_headers.get("last-modified")
            or (
                "last-modified" in n_headers
                and s_body == n_body
                and http_date(n_headers["last-modified"]) < http_date(s_headers["last-modified"])
            )
        )
    ):
        problems.append(
            f"{where}: Last-Modified {n_headers.get('last-modified')!r},"
            f" serve {s_headers.get('last-modified')!r}"
        )
    if s_body != n_body:
        problems.append(f"{where}: body of {len(n_body)} bytes differs from serve's {len(s_body)}")
    if coding == "identity":
        identity_bodies[path] = s_body
    else:
        encoding = n_headers.get("content-encoding")
        if encoding == coding:
            decoded.append((path, coding, n_body))
    return s_status, n_headers


def decompress(coding, body):
    if coding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    return subprocess.run(["brotli", "-d", "-c"], input=body, capture_output=True, check=True).stdout


def listed(problems):
    more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
    return "; ".join(problems[:MAX_LISTED]) + more


def compare_paths(serve, nginx, paths, label):
    """The identity, gzip and br checks over `paths`; returns {path: nginx headers of the
    identity answer} for the paths serve answered 200."""
    decoded, identity_bodies, ok200 = [], {}, {}
    for coding in CODINGS:
        if coding == "br" and WITHOUT_BR:
            continue
        problems = []
        for path in paths:
            got = compare_one(serve, nginx, path, coding, problems, decoded, identity_bodies)
            if got and coding == "identity" and got[0] == 200:
                ok200[path] = got[1]
        say(
            not problems,
            f"{label}-{coding}",
            listed(problems)
            or f"{len(paths)} URLs: same status, Content-Type, Cache-Control, Last-Modified,"
            f" Vary and bytes as serve",
        )
    for coding in ("gzip",) if WITHOUT_BR else ("gzip", "br"):
        mine = [(p, b) for p, c, b in decoded if c == coding]
        problems = []
        for path, body in mine:
            try:
                plain = decompress(coding, body)
            except (zlib.error, subprocess.CalledProcessError) as e:
                problems.append(f"{path}: does not decode ({e})")
                continue
            if plain != identity_bodies.get(path):
                problems.append(f"{path}: decodes to other bytes than serve's identity body")
        if not mine:
            problems.append(f"nginx sent no {coding} body at all")
        say(
            not problems,
            f"{label}-{coding}-decodes",
            listed(problems) or f"{len(mine)} {coding} bodies decode to serve's identity bytes",
        )
    return ok200


def conditional(nginx, ok200, label):
    for name, field, sent in (
        ("etag", "etag", "If-None-Match"),
        ("date", "last-modified", "If-Modified-Since"),
    ):
        problems = []
        for path, headers in ok200.items():
            value = headers.get(field)
            if not value:
                problems.append(f"{path}: no {field}")
                continue
            status, answer, body = nginx.get(path, {sent: value})
            if status != 304 or body:
                problems.append(f"{path}: {sent} {value} got {status}")
            elif "cache-control" not in answer:
                problems.append(f"{path}: 304 without Cache-Control")
        say(
            not problems and bool(ok200),
            f"{label}-304-{name}",
            listed(problems) or f"{len(ok200)} URLs answer {sent} with 304",
        )


def command_compare(args):
    serve, nginx = Client(args.serve), Client(args.nginx)
    base = args.serve.rstrip("/") + "/"
    urls, tags, pages, months = discover(serve, base)
    label = args.label
    articles = [p for p, k in urls.items() if k == "sitemap url"]
    assets = [p for p, k in urls.items() if k == "asset"]
    deep = {k: v for k, v in pages.items() if v > 1}
    say(
        len(articles) >= 10 and len(tags) >= 3 and len(deep) >= 2 and len(months) >= 2,
        f"{label}-urls",
        f"{len(urls)} URLs: {len(articles)} in the sitemaps of {len(months)} months, {len(tags)} tags,"
        f" lists with more than one page: {deep}",
    )
    ok200 = compare_paths(serve, nginx, list(urls), label)
    conditional(nginx, ok200, label)

    # A renamed slug and old URLs (a path, a query naming the page): serve's 301, Location and
    # Cache-Control.
    problems = []
    fields = ("location", "cache-control")
    for path in args.moved:
        s_status, s_headers, _ = serve.get(path)
        n_status, n_headers, _ = nginx.get(path)
        s_got = [s_status] + [s_headers.get(f) for f in fields]
        n_got = [n_status] + [n_headers.get(f) for f in fields]
        if s_status != 301 or n_got != s_got:
            problems.append(f"{path}: nginx {n_got}, serve {s_got}")
    say(
        not problems,
        f"{label}-moved",
        listed(problems) or f"{len(args.moved)} old URLs answer serve's 301: {', '.join(args.moved)}",
    )
    # A deleted article (and the pages and feeds of a tag left without articles): serve's 410
    # and its page.
    problems = []
    for path in args.gone:
        s_status, s_headers, s_body = serve.get(path)
        n_status, n_headers, n_body = nginx.get(path)
        if (s_status, n_status) != (410, 410):
            problems.append(f"{path}: nginx {n_status}, serve {s_status}")
            continue
        problems += [
            f"{path}: {f} {n_headers.get(f)!r}, serve {s_headers.get(f)!r}"
            for f in ("content-type", "cache-control")
            if s_headers.get(f) != n_headers.get(f)
        ]
        if n_body != s_body:
            problems.append(f"{path}: body of {len(n_body)} bytes, serve's {len(s_body)}")
    say(
        not problems,
        f"{label}-gone",
        listed(problems) or f"{', '.join(args.gone)}: 410 with serve's page",
    )

    # What is on disk but no URL of the site: 404 from nginx as from serve, never the file.
    hidden = ["/_feedsvc/nginx-maps.conf", "/_feedsvc/manifest", f"/_feedsvc/gone{args.gone[0]}.html",
              "/_feedsvc/", "/_redirects", "/_headers", "/index.html", "/404.html",
              "/atom.xml.gz", "/atom.xml.br", "/sitemap.xml.gz"]
    hidden += [a + suffix for a in sorted(assets)[:1] for suffix in (".gz", ".br")]
    hidden += [p + ".html" for p in articles[:2]] + [p.rstrip("/") + "/index.html" for p in
                                                       [f"/tags/{t}/" for t in tags[:1]]]
    problems = []
    for path in hidden:
        s_status, _, _ = serve.get(path)
        n_status, _, n_body = nginx.get(path)
        file = os.path.join(args.export, path.lstrip("/"))
        if n_status != s_status:
            problems.append(f"{path}: nginx {n_status}, serve {s_status}")
        elif os.path.isfile(file) and n_status == 200:
            problems.append(f"{path}: nginx serves the exported file")
    say(not problems, f"{label}-hidden", listed(problems) or f"{len(hidden)} file names answer like serve (404)")

    # Without the slash (or with one too many), serve redirects to the URL; so does nginx.
    problems = []
    redirects = [f"/tags/{tags[0]}", articles[0] + "/"]
    for path in redirects:
        s_status, s_headers, _ = serve.get(path)
        n_status, n_headers, _ = nginx.get(path)
        s_to = urllib.parse.urlsplit(s_headers.get("location", "")).path
        n_to = urllib.parse.urljoin(path, n_headers.get("location", ""))
        if (s_status, s_to) != (n_status, n_to):
            problems.append(f"{path}: nginx {n_status} to {n_to!r}, serve {s_status} to {s_to!r}")
    say(not problems, f"{label}-slash-redirects", listed(problems) or f"{redirects} redirect like serve")


def command_paths(args):
    serve, nginx = Client(args.serve), Client(args.nginx)
    ok200 = compare_paths(serve, nginx, args.paths, args.label)
    conditional(nginx, ok200, args.label)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def files_of(root):
    found = {}
    for directory, _, names in os.walk(root):
        for name in names:
            full = os.path.join(directory, name)
            found[os.path.relpath(full, root)] = (os.stat(full).st_mtime_ns, digest(full))
    return found


def command_snapshot(args):
    with open(args.out, "w") as f:
        json.dump(files_of(args.dir), f)


def command_incremental(args):
    with open(args.before) as f:
        before = {k: tuple(v) for k, v in json.load(f).items()}
    after = files_of(args.dir)
    summary = re.fullmatch(
        r"exported (\d+) files to (.+): (\d+) written, (\d+) unchanged, (\d+) removed",
        args.summary.strip(),
    )
    if not summary:
        say(False, f"{args.label}-summary", f"unexpected summary line {args.summary!r}")
        return
    total, _, written, unchanged, removed = summary.groups()
    total, written, unchanged, removed = int(total), int(written), int(unchanged), int(removed)
    # The summary counts every file but the manifest (the list of the others).
    def is_site(name):
        return name != "_feedsvc/manifest"

    new = [n for n in after if n not in before and is_site(n)]
    changed = [n for n in after if n in before and after[n][1] != before[n][1] and is_site(n)]
    gone = [n for n in before if n not in after and is_site(n)]
    touched = [n for n in after if n in before and after[n][1] == before[n][1]
               and after[n][0] != before[n][0] and is_site(n)]
    site = [n for n in after if is_site(n)]
    say(
        written == len(new) + len(changed) and removed == len(gone) and total == len(site)
        and unchanged == total - written,
        f"{args.label}-summary",
        f"{args.summary.strip()!r}; on disk: {len(site)} files, {len(new)} new, {len(changed)}"
        f" changed, {len(gone)} removed",
    )
    say(
        not touched,
        f"{args.label}-mtimes",
        f"rewritten with the same bytes: {touched[:MAX_LISTED]}" if touched
        else f"the {len(site) - len(new) - len(changed)} unchanged files kept their mtime",
    )
    say(
        0 < written <= total // 4,
        f"{args.label}-few",
        f"{written} of {total} files written",
    )
    say(
        args.new in after,
        f"{args.label}-new-page",
        f"{args.new} {'exists' if args.new in after else 'is missing'}",
    )
    if args.absent:
        left = [n for n in args.absent if n in after]
        say(
            not left and all(n in before for n in args.absent),
            f"{args.label}-removed-files",
            f"still there: {left}" if left else f"removed: {', '.join(args.absent)}",
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("compare")
    p.add_argument("serve")
    p.add_argument("nginx")
    p.add_argument("--moved", action="append", required=True, help="an old URL (repeat)")
    p.add_argument("--gone", action="append", required=True, help="a deleted page (repeat)")
    p.add_argument("--export", required=True)
    p.add_argument("--label", default="all", help="what the check names start with")
    p.set_defaults(run=command_compare)
    p = sub.add_parser("paths")
    p.add_argument("serve")
    p.add_argument("nginx")
    p.add_argument("label")
    p.add_argument("paths", nargs="+")
    p.set_defaults(run=command_paths)
    p = sub.add_parser("snapshot")
    p.add_argument("dir")
    p.add_argument("out")
    p.set_defaults(run=command_snapshot)
    p = sub.add_parser("incremental")
    p.add_argument("dir")
    p.add_argument("before")
    p.add_argument("summary")
    p.add_argument("--new", required=True, help="a file the export must now hold")
    p.add_argument("--absent", action="append", default=[], help="a file it must no longer hold")
    p.add_argument("--label", default="incremental", help="what the check names start with")
    p.set_defaults(run=command_incremental)
    for p in (sub.choices["compare"], sub.choices["paths"]):
        p.add_argument("--without-br", action="store_true", help="nginx cannot send br here")
    args = parser.parse_args()
    global WITHOUT_BR
    WITHOUT_BR = getattr(args, "without_br", False)
    try:
        args.run(args)
    except (OSError, http.client.HTTPException, ValueError) as e:
        print(f"export_nginx.py {args.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
