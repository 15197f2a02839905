#!/usr/bin/env python3
"""A WebSub subscriber written from the W3C Recommendation (https://www.w3.org/TR/websub/) with the
Python standard library only, to check feedsvc's hub from the outside; used by websub.sh.

  websub_subscriber.py subscribe FEED_URL --name NAME --sync-dir DIR --titles T1 [T2 ...]
                       [--expect-hub URL] [--unsubscribe-after K] [--lease 7200]
                       [--delivery-status 200] [--timeout 20]
  websub_subscriber.py flask-websub FEED_URL --name NAME --sync-dir DIR --titles T1 [T2 ...]
                       [--expect-hub URL] [--timeout 20]

`subscribe`:
  1. GETs FEED_URL and finds the hub and the self URL in the HTTP Link header (parsed as RFC 8288
     says) and in the document (Atom and RSS `link rel="hub"`/`rel="self"` through xml.etree, JSON
     Feed `hubs` and `feed_url` through json); both must agree, self must be FEED_URL. A HEAD and
     a conditional GET answered 304 must carry the same Link header.
  2. Starts its callback server on 127.0.0.1 (a free port; the callback URL has a query of its own,
     which the hub must keep), POSTs hub.mode=subscribe with a random hub.secret and
     hub.lease_seconds=--lease, and answers the hub's verification GET only when hub.mode,
     hub.topic and hub.lease_seconds are the ones asked for.
  3. Handshake with the calling script, once per title K (1-based): writes DIR/NAME.ready.K when it
     is ready for publish K, waits for DIR/published.K (the script touches it when `feedsvc add`
     of title K has returned), then waits up to --timeout seconds for a delivery whose body holds
     an entry titled TK. Every delivery must carry `X-Hub-Signature: sha256=<HMAC of the body>`
     (compared in constant time), the feed's Content-Type, the Link rel=hub and rel=self headers,
     and a body that parses as the feed; the body must be the one a GET of the topic returns.
     A title "-" means that publish K does not change this feed: nothing may come within 5 s.
  4. With --unsubscribe-after K: after delivery K it unsubscribes (and answers the verification
     GET with hub.mode=unsubscribe), and then expects nothing at all for the later titles.
  feedparser, when importable, parses every document and delivery too (it does not read JSON
  Feed before 6.1: then it is skipped for that format, with a note).

`subscriptions BASE EXPECTED`: judges `feedsvc subscriptions --json` read from standard input
against EXPECTED, a JSON object {feed path: [last_status or null, ...]} (null: not delivered to
yet, nothing checked but the count); prints a summary or what differs (then exits 1).

`flask-websub`: the same steps 1 and 3 with PyPI's flask-websub (its discover() and Subscriber,
served by werkzeug on 127.0.0.1). Over plain http that library subscribes without a secret, so
its deliveries must carry no X-Hub-Signature.

Prints `PASS NAME/check detail` and `FAIL NAME/check detail` lines (notes start with `#`) and exits
1 when anything failed. Every request goes to 127.0.0.0/8: any other host is refused.
"""

import argparse
import hashlib
import hmac
import http.client
import http.server
import ipaddress
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET

try:
    import feedparser  # optional: the venv of run.sh has it
except ImportError:
    feedparser = None

ATOM_NS = "http://www.w3.org/2005/Atom"
FORMATS = {
    # path suffix: (format, media type of the representation)
    "atom.xml": ("atom", "application/atom+xml"),
    "rss.xml": ("rss", "application/rss+xml"),
    "feed.json": ("json", "application/feed+json"),
}


class Report:
    def __init__(self, name):
        self.name = name
        self.failed = 0
        self.lock = threading.Lock()

    def _line(self, verdict, check, detail):
        detail = " ".join(str(detail).split())  # one line
        if len(detail) > 600:
            detail = detail[:600] + "…"
        with self.lock:
            print(f"{verdict} {self.name}/{check} {detail}", flush=True)

    def ok(self, check, detail):
        self._line("PASS", check, detail)

    def bad(self, check, detail):
        self.failed += 1
        self._line("FAIL", check, detail)

    def check(self, cond, check, good, bad):
        if cond:
            self.ok(check, good)
        else:
            self.bad(check, bad)
        return cond

    def note(self, msg):
        with self.lock:
            print(f"# {self.name}: {msg}", flush=True)


class Fatal(Exception):
    """A step the rest depends on failed (already reported)."""


# ---------------------------------------------------------------------------- HTTP client

def loopback_only(url):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"not an http URL: {url}")
    try:
        addr = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        raise ValueError(f"not a literal loopback address: {url}") from None
    if not addr.is_loopback:
        raise ValueError(f"refusing a request off the loopback: {url}")
    return parts


def request(method, url, headers=None, body=None, timeout=10):
    """(status, headers (http.client.HTTPMessage), body bytes); no redirects followed."""
    parts = loopback_only(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data
    finally:
        conn.close()


# ---------------------------------------------------------------------------- Link header

TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_link_header(values):
    """RFC 8288 section 3: [(target, {param: value})] of every Link header field value."""
    links = []
    for value in values:
        i, n = 0, len(value)

        def skip_ws():
            nonlocal i
            while i < n and value[i] in " \t":
                i += 1

        while i < n:
            while i < n and value[i] in " \t,":
                i += 1
            if i >= n:
                break
            if value[i] != "<":
                raise ValueError(f"expected '<' at offset {i} of {value!r}")
            end = value.find(">", i)
            if end < 0:
                raise ValueError(f"unterminated '<' in {value!r}")
            target = value[i + 1:end]
            i = end + 1
            params = {}
            while True:
                skip_ws()
                if i >= n or value[i] == ",":
                    break
                if value[i] != ";":
                    raise ValueError(f"expected ';' or ',' at offset {i} of {value!r}")
                i += 1
                skip_ws()
                m = TOKEN.match(value, i)
                if not m:
                    raise ValueError(f"expected a parameter name at offset {i} of {value!r}")
                pname = m.group().lower()
                i = m.end()
                skip_ws()
                pval = ""
                if i < n and value[i] == "=":
                    i += 1
                    skip_ws()
                    if i < n and value[i] == '"':
                        i += 1
                        out = []
                        while i < n and value[i] != '"':
                            if value[i] == "\\" and i + 1 < n:
                                i += 1
                            out.append(value[i])
                            i += 1
                        if i >= n:
                            raise ValueError(f"unterminated quoted string in {value!r}")
                        i += 1
                        pval = "".join(out)
                    else:
                        m = TOKEN.match(value, i)
                        if not m:
                            raise ValueError(f"expected a parameter value at offset {i} of {value!r}")
                        pval = m.group()
                        i = m.end()
                params.setdefault(pname, pval)  # the first occurrence counts (RFC 8288 3.3)
            links.append((target, params))
    return links


def rels_of(headers, base_url):
    """{rel: [absolute target, ...]} from every Link header of a response."""
    out = {}
    for target, params in parse_link_header(headers.get_all("Link") or []):
        for rel in params.get("rel", "").lower().split():
            out.setdefault(rel, []).append(urllib.parse.urljoin(base_url, target))
    return out


def hub_and_self(rels):
    return rels.get("hub", []), rels.get("self", [])


# ---------------------------------------------------------------------------- documents

def parse_feed(fmt, body):
    """Parses a feed body: {"hub": [...], "self": [...], "titles": [...]}; raises ValueError."""
    if fmt == "json":
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"not JSON: {e}") from None
        if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(
                "https://jsonfeed.org/version/"):
            raise ValueError("not a JSON Feed (no jsonfeed.org version)")
        hubs = doc.get("hubs", [])
        if not isinstance(hubs, list):
            raise ValueError("hubs is not an array")
        items = doc.get("items")
        if not isinstance(items, list):
            raise ValueError("items is not an array")
        return {
            "hub": [h.get("url") for h in hubs if isinstance(h, dict) and h.get("type") == "WebSub"],
            "hub_types": [h.get("type") for h in hubs if isinstance(h, dict)],
            "self": [doc["feed_url"]] if "feed_url" in doc else [],
            "titles": [it.get("title") for it in items if isinstance(it, dict)],
        }
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise ValueError(f"not well-formed XML: {e}") from None
    if fmt == "atom":
        if root.tag != f"{{{ATOM_NS}}}feed":
            raise ValueError(f"root element is {root.tag}, not atom:feed")
        holder = root
        entries = root.findall(f"{{{ATOM_NS}}}entry")
        title_tag = f"{{{ATOM_NS}}}title"
    else:
        if root.tag != "rss":
            raise ValueError(f"root element is {root.tag}, not rss")
        holder = root.find("channel")
        if holder is None:
            raise ValueError("rss has no channel")
        entries = holder.findall("item")
        title_tag = "title"
    hubs, selves = [], []
    for link in holder.findall(f"{{{ATOM_NS}}}link"):
        rels = (link.get("rel") or "alternate").lower().split()
        if "hub" in rels:
            hubs.append(link.get("href"))
        if "self" in rels:
            selves.append(link.get("href"))
    titles = []
    for entry in entries:
        t = entry.find(title_tag)
        titles.append("".join(t.itertext()) if t is not None else None)
    return {"hub": hubs, "self": selves, "titles": titles}


def feedparser_titles(fmt, body, content_type):
    """Entry titles and hub links as feedparser reads them; None when it cannot read the format."""
    if feedparser is None:
        return None
    d = feedparser.parse(body, response_headers={"content-type": content_type})
    if fmt == "json" and not str(d.get("version", "")).startswith("json"):
        return None
    if d.get("bozo") and not d.entries:
        raise ValueError(f"feedparser: {d.get('bozo_exception')}")
    hubs = [l.get("href") for l in d.feed.get("links", []) if l.get("rel") == "hub"]
    return {"titles": [e.get("title") for e in d.entries], "hub": hubs, "version": d.get("version")}


def media_type(ct):
    """('type/subtype', {param: value}) of a Content-Type value, lowercased."""
    parts = [p.strip() for p in (ct or "").split(";")]
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"').lower()
    return parts[0].lower(), params


# ---------------------------------------------------------------------------- discovery

def discover(rep, feed_url, fmt, mtype, expect_hub):
    """Step 1; returns (hub URL, topic URL, content type of the GET)."""
    try:
        status, headers, body = request("GET", feed_url)
    except OSError as e:
        rep.bad("get", f"GET {feed_url}: {e}")
        raise Fatal()
    ct = headers.get("Content-Type", "")
    if not rep.check(status == 200 and media_type(ct)[0] == mtype, "get",
                     f"GET {feed_url}: 200, {ct}, {len(body)} bytes",
                     f"GET {feed_url}: status {status}, Content-Type {ct!r} (expected {mtype})"):
        raise Fatal()
    try:
        rels = rels_of(headers, feed_url)
    except ValueError as e:
        rep.bad("link-header", f"unparsable Link header {headers.get_all('Link')}: {e}")
        raise Fatal()
    hubs, selves = hub_and_self(rels)
    problems = []
    if len(hubs) != 1:
        problems.append(f"{len(hubs)} rel=hub links")
    if len(selves) != 1:
        problems.append(f"{len(selves)} rel=self links")
    if selves and selves[0] != feed_url:
        problems.append(f"rel=self is {selves[0]}, not the feed's URL")
    if hubs and expect_hub and hubs[0] != expect_hub:
        problems.append(f"rel=hub is {hubs[0]}, expected {expect_hub}")
    if not rep.check(not problems, "link-header",
                     f"Link: hub {hubs[0] if hubs else ''}, self {selves[0] if selves else ''}",
                     f"{'; '.join(problems)} in {headers.get_all('Link')}"):
        raise Fatal()
    hub, topic = hubs[0], selves[0]

    try:
        doc = parse_feed(fmt, body)
    except ValueError as e:
        rep.bad("document", f"{feed_url} does not parse as {fmt}: {e}")
        raise Fatal()
    where = {"atom": "atom:feed/atom:link", "rss": "rss/channel/atom:link",
             "json": "hubs[type=WebSub].url and feed_url"}[fmt]
    rep.check(doc["hub"] == [hub] and doc["self"] == [topic], "document-links",
              f"{where}: hub and self agree with the Link header",
              f"{where}: hub {doc['hub']} self {doc['self']}, Link header: hub {hub} self {topic}"
              + (f"; hubs types {doc.get('hub_types')}" if fmt == "json" else ""))

    if feedparser is not None:
        try:
            fp = feedparser_titles(fmt, body, ct)
        except ValueError as e:
            rep.bad("feedparser", f"{feed_url}: {e}")
        else:
            if fp is None:
                rep.note(f"feedparser {feedparser.__version__} does not read JSON Feed: skipped")
            else:
                rep.check(fp["titles"] == doc["titles"] and hub in fp["hub"], "feedparser",
                          f"{fp['version']}: {len(fp['titles'])} entries as xml.etree reads them, "
                          f"hub link seen",
                          f"{fp['version']}: titles {fp['titles'][:3]}… vs {doc['titles'][:3]}…, "
                          f"hub links {fp['hub']}")

    # HEAD and 304 carry the same Link header (aggregators often poll conditionally).
    try:
        hs, hh, _ = request("HEAD", feed_url)
        h_rels = hub_and_self(rels_of(hh, feed_url))
        rep.check(hs == 200 and h_rels == ([hub], [topic]), "head",
                  "HEAD: 200 with the same Link header",
                  f"HEAD: status {hs}, Link {hh.get_all('Link')}")
    except (OSError, ValueError) as e:
        rep.bad("head", f"HEAD {feed_url}: {e}")
    etag = headers.get("ETag")
    if not etag:
        rep.bad("304", "the GET had no ETag")
    else:
        try:
            cs, ch, cb = request("GET", feed_url, headers={"If-None-Match": etag})
            c_rels = hub_and_self(rels_of(ch, feed_url))
            rep.check(cs == 304 and c_rels == ([hub], [topic]) and not cb, "304",
                      f"If-None-Match {etag}: 304 with the same Link header",
                      f"If-None-Match {etag}: status {cs}, Link {ch.get_all('Link')}, "
                      f"{len(cb)} body bytes")
        except (OSError, ValueError) as e:
            rep.bad("304", f"conditional GET {feed_url}: {e}")
    return hub, topic, ct


# ---------------------------------------------------------------------------- callback server

class Callback:
    """The subscriber's callback endpoint: verification GETs and delivery POSTs."""

    def __init__(self, rep, delivery_status):
        self.rep = rep
        self.delivery_status = delivery_status
        self.cond = threading.Condition()
        self.intent = None        # {"mode", "topic", "lease"} the next verification must match
        self.verifications = []   # (query dict, answered True/False)
        self.deliveries = []      # {"t", "headers", "body"}
        self.token = secrets.token_urlsafe(12)
        cb = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body=b"", ctype="text/plain"):
                self.send_response(status)
                if status != 204:
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 204 and body:
                    self.wfile.write(body)

            def our_path(self):
                parts = urllib.parse.urlsplit(self.path)
                return parts, parts.path == f"/callback/{cb.token}"

            def do_GET(self):
                parts, ours = self.our_path()
                if not ours:
                    return self.answer(404, b"no such callback\n")
                query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
                one = {k: v[0] for k, v in query.items() if len(v) == 1}
                with cb.cond:
                    intent = cb.intent
                    ok = (intent is not None and query.get("client") == ["interop"]
                          and one.get("hub.mode") == intent["mode"]
                          and one.get("hub.topic") == intent["topic"]
                          and one.get("hub.challenge")
                          and (intent["mode"] != "subscribe"
                               or one.get("hub.lease_seconds") == str(intent["lease"])))
                    cb.verifications.append((query, bool(ok)))
                    if ok:
                        cb.intent = None
                    cb.cond.notify_all()
                if ok:
                    self.answer(200, one["hub.challenge"].encode())
                else:
                    self.answer(404, b"not an intent of this subscriber\n")

            def do_POST(self):
                _, ours = self.our_path()
                body = self.read_body()
                if body is None:
                    return self.answer(400, b"bad body framing\n")
                t = time.time()
                if not ours:
                    return self.answer(404, b"no such callback\n")
                with cb.cond:
                    cb.deliveries.append({"t": t, "headers": self.headers, "body": body,
                                          "path": self.path})
                    cb.cond.notify_all()
                self.answer(cb.delivery_status, b"" if cb.delivery_status == 204 else b"thanks\n")

            def read_body(self):
                te = (self.headers.get("Transfer-Encoding") or "").lower()
                if "chunked" in te:
                    chunks = []
                    while True:
                        line = self.rfile.readline(1024)
                        try:
                            size = int(line.split(b";")[0].strip(), 16)
                        except ValueError:
                            return None
                        if size == 0:
                            while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline(8)
                length = self.headers.get("Content-Length")
                if length is None:
                    return b""
                try:
                    return self.rfile.read(int(length))
                except ValueError:
                    return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/callback/{self.token}?client=interop"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def expect(self, mode, topic, lease=None):
        with self.cond:
            self.intent = {"mode": mode, "topic": topic, "lease": lease}

    def wait_verified(self, timeout):
        """(True, query) once the pending intent was verified; (False, last query or None)."""
        deadline = time.time() + timeout
        with self.cond:
            while self.intent is not None and time.time() < deadline:
                self.cond.wait(deadline - time.time())
            last = self.verifications[-1][0] if self.verifications else None
            return self.intent is None, last

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def hub_post(hub, params, timeout=10):
    body = urllib.parse.urlencode(params).encode()
    return request("POST", hub, headers={"Content-Type": "application/x-www-form-urlencoded"},
                   body=body, timeout=timeout)


# ---------------------------------------------------------------------------- sync with the script

def wait_file(path, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return os.stat(path).st_mtime
        time.sleep(0.02)
    return None


def touch(path):
    with open(path, "w"):
        pass


# ---------------------------------------------------------------------------- delivery checks

def check_delivery(rep, k, d, fmt, mtype, hub, topic, secret, title, get_ct):
    """The checks of one delivery of title K (the one holding it)."""
    h, body = d["headers"], d["body"]
    sig = h.get("X-Hub-Signature")
    if secret is None:
        rep.check(sig is None, f"delivery-{k}-signature", "no X-Hub-Signature (no secret given)",
                  f"X-Hub-Signature {sig!r} although no secret was given")
    else:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        algo, _, got = (sig or "").partition("=")
        rep.check(algo == "sha256" and hmac.compare_digest(got.encode(), expected.encode()),
                  f"delivery-{k}-signature", "X-Hub-Signature sha256 matches the body",
                  f"X-Hub-Signature {sig!r}, expected sha256={expected}")
    ct = h.get("Content-Type", "")
    mt, params = media_type(ct)
    try:
        rels = hub_and_self(rels_of(h, topic))
    except ValueError as e:
        rels = f"unparsable: {e}"
    problems = []
    if mt != mtype or params.get("charset") != "utf-8":
        problems.append(f"Content-Type {ct!r}, expected {mtype}; charset=utf-8")
    if get_ct and media_type(get_ct) != (mt, params):
        problems.append(f"Content-Type {ct!r} differs from the GET's {get_ct!r}")
    if rels != ([hub], [topic]):
        problems.append(f"Link {h.get_all('Link')}, expected hub {hub} and self {topic}")
    if h.get("Content-Encoding", "identity").lower() != "identity":
        problems.append(f"Content-Encoding {h.get('Content-Encoding')} (the body must be plain)")
    rep.check(not problems, f"delivery-{k}-headers", f"{ct}; Link rel=hub and rel=self",
              "; ".join(problems))
    try:
        doc = parse_feed(fmt, body)
    except ValueError as e:
        rep.bad(f"delivery-{k}-body", f"{len(body)} bytes do not parse as {fmt}: {e}")
        return
    ok = rep.check(title in doc["titles"], f"delivery-{k}-body",
                   f"parses as {fmt} ({len(doc['titles'])} entries), holds '{title}'",
                   f"parses as {fmt} but no entry is titled '{title}': {doc['titles'][:5]}")
    if ok and feedparser is not None:
        try:
            fp = feedparser_titles(fmt, body, ct)
        except ValueError as e:
            rep.bad(f"delivery-{k}-feedparser", str(e))
        else:
            if fp is not None:
                rep.check(title in fp["titles"], f"delivery-{k}-feedparser",
                          f"{fp['version']}: holds '{title}'",
                          f"{fp['version']}: no '{title}' among {fp['titles'][:5]}")
    # The body delivered is the representation a GET of the topic returns now.
    try:
        gs, _, gb = request("GET", topic)
        rep.check(gs == 200 and gb == body, f"delivery-{k}-same-as-get",
                  "the body is byte for byte what GET of the topic returns",
                  f"GET {topic}: status {gs}, {len(gb)} bytes, delivery {len(body)} bytes, "
                  f"equal={gb == body}")
    except OSError as e:
        rep.bad(f"delivery-{k}-same-as-get", f"GET {topic}: {e}")


def wait_delivery(cb, start_index, title, fmt, timeout):
    """The first delivery from start_index on whose body holds an entry titled `title`."""
    deadline = time.time() + timeout
    i = start_index
    with cb.cond:
        while True:
            while i < len(cb.deliveries):
                d = cb.deliveries[i]
                i += 1
                try:
                    if title in parse_feed(fmt, d["body"])["titles"]:
                        return d
                except ValueError:
                    return d  # reported by check_delivery
            left = deadline - time.time()
            if left <= 0:
                return None
            cb.cond.wait(left)


# ---------------------------------------------------------------------------- subscribe

def cmd_subscribe(args):
    rep = Report(args.name)
    fmt, mtype = format_of(args.feed_url)
    cb = None
    try:
        hub, topic, get_ct = discover(rep, args.feed_url, fmt, mtype, args.expect_hub)
        cb = Callback(rep, args.delivery_status)
        secret = secrets.token_hex(24)
        cb.expect("subscribe", topic, args.lease)
        try:
            status, _, body = hub_post(hub, {
                "hub.mode": "subscribe", "hub.topic": topic, "hub.callback": cb.url,
                "hub.secret": secret, "hub.lease_seconds": str(args.lease)})
        except OSError as e:
            rep.bad("subscribe", f"POST {hub}: {e}")
            raise Fatal()
        if not rep.check(status == 202, "subscribe", f"POST {hub}: 202",
                         f"POST {hub}: status {status}: {body[:200]!r}"):
            raise Fatal()
        ok, query = cb.wait_verified(args.timeout)
        if not rep.check(ok, "verify",
                         f"GET callback with hub.mode=subscribe, hub.topic, a challenge, "
                         f"hub.lease_seconds={args.lease} and the callback's own query: "
                         f"answered with the challenge",
                         f"no matching verification within {args.timeout} s "
                         f"(last query seen: {query})"):
            raise Fatal()

        subscribed = True
        seen = 0
        for k, title in enumerate(args.titles, 1):
            touch(os.path.join(args.sync_dir, f"{args.name}.ready.{k}"))
            published = wait_file(os.path.join(args.sync_dir, f"published.{k}"), 120)
            if published is None:
                rep.bad(f"delivery-{k}", f"the script never published title {k}")
                raise Fatal()
            if title == "-" or not subscribed:
                quiet = min(args.timeout, 5)
                time.sleep(quiet)
                with cb.cond:
                    late = cb.deliveries[seen:]
                    seen = len(cb.deliveries)
                why = "publish {k} leaves this feed as it was" if subscribed else "unsubscribed"
                rep.check(not late, f"nothing-{k}",
                          f"nothing delivered within {quiet} s of publish {k} ({why.format(k=k)})",
                          f"{len(late)} deliveries after publish {k} ({why.format(k=k)})")
            else:
                d = wait_delivery(cb, seen, title, fmt, args.timeout)
                with cb.cond:
                    seen = len(cb.deliveries)
                if d is None:
                    rep.bad(f"delivery-{k}", f"nothing holding '{title}' within {args.timeout} s "
                            f"({len(cb.deliveries)} deliveries in all)")
                    continue
                rep.ok(f"delivery-{k}", f"'{title}' received at {(d['t'] - published) * 1000:+.0f} ms "
                       f"from `feedsvc add` returning")
                check_delivery(rep, k, d, fmt, mtype, hub, topic, secret, title, get_ct)
                if args.unsubscribe_after == k:
                    time.sleep(1.0)  # a late duplicate of delivery k is not "after unsubscribe"
                    with cb.cond:
                        seen = len(cb.deliveries)
                    cb.expect("unsubscribe", topic)
                    status, _, body = hub_post(hub, {"hub.mode": "unsubscribe", "hub.topic": topic,
                                                     "hub.callback": cb.url})
                    if not rep.check(status == 202, "unsubscribe", f"POST {hub}: 202",
                                     f"POST {hub}: status {status}: {body[:200]!r}"):
                        raise Fatal()
                    ok, query = cb.wait_verified(args.timeout)
                    if not rep.check(ok, "unsubscribe-verify",
                                     "GET callback with hub.mode=unsubscribe: answered",
                                     f"no matching verification within {args.timeout} s "
                                     f"(last query: {query})"):
                        raise Fatal()
                    subscribed = False
        time.sleep(1.0)
        with cb.cond:
            bodies = [hashlib.sha256(d["body"]).hexdigest() for d in cb.deliveries]
            extra = len(cb.verifications) - (2 if args.unsubscribe_after else 1)
        dups = len(bodies) - len(set(bodies))
        rep.check(dups == 0, "no-duplicates", f"{len(bodies)} deliveries, all different",
                  f"{dups} of {len(bodies)} deliveries repeat a body already delivered")
        if extra:
            rep.note(f"{extra} unexpected verification requests")
    except Fatal:
        pass
    finally:
        if cb is not None:
            cb.close()
        for k in range(1, len(args.titles) + 1):  # never leave the script waiting
            touch(os.path.join(args.sync_dir, f"{args.name}.ready.{k}"))
    return 1 if rep.failed else 0


def format_of(url):
    for suffix, fm in FORMATS.items():
        if urllib.parse.urlsplit(url).path.endswith(suffix):
            return fm
    raise SystemExit(f"cannot tell the format of {url} (atom.xml, rss.xml or feed.json)")


# ---------------------------------------------------------------------------- flask-websub

def cmd_flask(args):
    rep = Report(args.name)
    fmt, _ = format_of(args.feed_url)
    try:
        import logging
        from flask import Flask, request as flask_request
        from werkzeug.serving import make_server
        from flask_websub.subscriber import (Subscriber, SQLite3SubscriberStorage,
                                             SQLite3TempSubscriberStorage, discover as fw_discover)
    except Exception as e:  # noqa: BLE001 - any import problem means "not usable"
        print(f"# flask-websub: not usable here: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    app = Flask("interop_flask_websub")
    sub = Subscriber(SQLite3SubscriberStorage(os.path.join(args.sync_dir, f"{args.name}.db")),
                     SQLite3TempSubscriberStorage(os.path.join(args.sync_dir, f"{args.name}.tmp.db")))
    app.register_blueprint(sub.build_blueprint(url_prefix="/callbacks"))
    cond = threading.Condition()
    state = {"verified": [], "errors": [], "bodies": [], "posts": []}

    @app.before_request
    def record():
        if flask_request.method == "POST":
            with cond:
                state["posts"].append({"t": time.time(), "headers": dict(flask_request.headers)})

    @sub.add_success_handler
    def on_success(topic_url, callback_id, mode):
        with cond:
            state["verified"].append((topic_url, mode))
            cond.notify_all()

    @sub.add_error_handler
    def on_error(topic_url, callback_id, reason):
        with cond:
            state["errors"].append((topic_url, reason))
            cond.notify_all()

    @sub.add_listener
    def on_body(topic_url, callback_id, body):
        with cond:
            state["bodies"].append({"t": time.time(), "topic": topic_url, "body": body})
            cond.notify_all()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    port = server.server_port
    app.config["SERVER_NAME"] = f"127.0.0.1:{port}"
    app.config["PREFERRED_URL_SCHEME"] = "http"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with app.app_context():
            try:
                found = fw_discover(args.feed_url)
            except Exception as e:  # noqa: BLE001
                rep.bad("discover", f"flask_websub discover({args.feed_url}): {type(e).__name__}: {e}")
                raise Fatal()
            problems = []
            if found.get("topic_url") != args.feed_url:
                problems.append(f"topic {found.get('topic_url')}")
            if args.expect_hub and found.get("hub_url") != args.expect_hub:
                problems.append(f"hub {found.get('hub_url')}, expected {args.expect_hub}")
            if not rep.check(not problems, "discover", f"hub {found.get('hub_url')}, topic "
                             f"{found.get('topic_url')}", "; ".join(problems)):
                raise Fatal()
            loopback_only(found["hub_url"])
            try:
                sub.subscribe(topic_url=found["topic_url"], hub_url=found["hub_url"],
                              lease_seconds=args.lease)
            except Exception as e:  # noqa: BLE001
                rep.bad("subscribe", f"{type(e).__name__}: {e}")
                raise Fatal()
            rep.ok("subscribe", f"the hub answered 202 (callback on 127.0.0.1:{port})")
        deadline = time.time() + args.timeout
        with cond:
            while not state["verified"] and not state["errors"] and time.time() < deadline:
                cond.wait(deadline - time.time())
            verified, errors = list(state["verified"]), list(state["errors"])
        if not rep.check(verified == [(args.feed_url, "subscribe")], "verify",
                         "its verification handler accepted the hub's GET",
                         f"verified {verified}, errors {errors} within {args.timeout} s"):
            raise Fatal()
        seen = 0
        for k, title in enumerate(args.titles, 1):
            touch(os.path.join(args.sync_dir, f"{args.name}.ready.{k}"))
            published = wait_file(os.path.join(args.sync_dir, f"published.{k}"), 120)
            if published is None:
                rep.bad(f"delivery-{k}", f"the script never published title {k}")
                raise Fatal()
            deadline = time.time() + args.timeout
            got = None
            with cond:
                while got is None:
                    for d in state["bodies"][seen:]:
                        try:
                            if title in parse_feed(fmt, d["body"])["titles"]:
                                got = d
                                break
                        except ValueError as e:
                            got = dict(d, error=str(e))
                            break
                    seen = len(state["bodies"])
                    if got is not None or time.time() >= deadline:
                        break
                    cond.wait(deadline - time.time())
                posts = list(state["posts"])
            if got is None:
                rep.bad(f"delivery-{k}", f"its listener got nothing holding '{title}' within "
                        f"{args.timeout} s ({len(posts)} POSTs reached the callback)")
                continue
            if "error" in got:
                rep.bad(f"delivery-{k}", f"the body does not parse as {fmt}: {got['error']}")
                continue
            rep.ok(f"delivery-{k}", f"its listener got '{title}' at "
                   f"{(got['t'] - published) * 1000:+.0f} ms from `feedsvc add` returning")
            signed = [p for p in posts if "X-Hub-Signature" in p["headers"]]
            rep.check(not signed, f"delivery-{k}-signature", "no X-Hub-Signature (no secret given)",
                      f"{len(signed)} POSTs carry X-Hub-Signature although no secret was given")
    except Fatal:
        pass
    finally:
        server.shutdown()
        for k in range(1, len(args.titles) + 1):
            touch(os.path.join(args.sync_dir, f"{args.name}.ready.{k}"))
    return 1 if rep.failed else 0


def cmd_subscriptions(args):
    """Judges `feedsvc subscriptions --json` (standard input) against {feed path: [status]}."""
    base, expected = args.base, json.loads(args.expected)
    raw = sys.stdin.read()
    try:
        subs = json.loads(raw)
    except ValueError:
        print(f"not JSON: {raw[:300]!r}")
        return 1
    if not isinstance(subs, list):
        print(f"not an array: {raw[:300]!r}")
        return 1
    got = {}
    for s in subs:
        topic = s.get("topic", "")
        got.setdefault(topic[len(base):] if topic.startswith(base) else topic, []).append(s)
    problems = []
    for key in sorted(set(got) | set(expected)):
        have, want = got.get(key, []), sorted(expected.get(key, []), key=str)
        if len(have) != len(want):
            problems.append(f"{key}: {len(have)} subscriptions, expected {len(want)}")
            continue
        for s in have:
            if not str(s.get("callback_host", "")).startswith("127.0.0.1:") \
                    or not s.get("lease_expires"):
                problems.append(f"{key}: callback_host {s.get('callback_host')!r}, "
                                f"lease_expires {s.get('lease_expires')!r}")
        if all(w is None for w in want):
            continue
        statuses = sorted((s.get("last_status") for s in have), key=str)
        if statuses != want:
            problems.append(f"{key}: last_status {statuses}, expected {want}")
        for s in have:
            if s.get("failures") != 0 or s.get("pending") is not False \
                    or not s.get("last_delivery"):
                problems.append(f"{key}: failures {s.get('failures')!r}, pending "
                                f"{s.get('pending')!r}, last_delivery {s.get('last_delivery')!r}")
    if problems:
        print("; ".join(problems))
        return 1
    print(", ".join(f"{k} {len(v)}" for k, v in sorted(got.items())))
    return 0


def main():
    ap = argparse.ArgumentParser(description="an independent WebSub subscriber (standard library)")
    sp = ap.add_subparsers(dest="cmd", required=True)
    for name in ("subscribe", "flask-websub"):
        p = sp.add_parser(name)
        p.add_argument("feed_url")
        p.add_argument("--name", required=True, help="prefix of the check names and sync files")
        p.add_argument("--sync-dir", required=True)
        p.add_argument("--titles", nargs="+", required=True)
        p.add_argument("--expect-hub")
        p.add_argument("--lease", type=int, default=7200)
        p.add_argument("--timeout", type=float, default=20)
        if name == "subscribe":
            p.add_argument("--unsubscribe-after", type=int, default=0)
            p.add_argument("--delivery-status", type=int, default=200)
    p = sp.add_parser("subscriptions", help="judge `feedsvc subscriptions --json` on stdin")
    p.add_argument("base")
    p.add_argument("expected", help='JSON {"feed path": [last_status or null, ...]}')
    args = ap.parse_args()
    if args.cmd == "subscriptions":
        sys.exit(cmd_subscriptions(args))
    loopback_only(args.feed_url)
    if args.cmd == "subscribe":
        sys.exit(cmd_subscribe(args))
    sys.exit(cmd_flask(args))


if __name__ == "__main__":
    main()
