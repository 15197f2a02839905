#!/usr/bin/env python3
"""WebSub delivery benchmarks: publish-to-subscriber latency, and a fan-out to 1,000 subscribers
while wrk polls the feed. Release binary, loopback only (every address is in 127.0.0.0/8).

usage: python3 bench/websub.py [--bin target/release/feedsvc] [--publishes 30]
                               [--subscribers 1000] [--runs 3] [--wrk-seconds 4]
                               [--callback-hosts 4] [--listener-procs 2] [--keep] [--log warn]

1. Latency. One subscriber on /atom.xml (with a secret). --publishes times: `feedsvc add` of a
   new article (a generated 3-5 KB body, the newest, so it changes every site feed), then the
   time from `feedsvc add` returning (process exit) to the subscriber having read the whole new
   feed body (the one holding that article). Median, p90, min, max; goal: median < 100 ms.
   A negative figure means the delivery arrived before the CLI process had exited.
2. Fan-out. --subscribers subscriptions to /atom.xml in all (the latency subscriber is one of
   them), each with its own secret and callback URL, the callbacks spread over --callback-hosts
   addresses (127.0.0.1, 127.0.1.1, 127.0.1.2, ...: the hub takes at most 1,000 subscriptions per
   callback host) and the subscription requests over client source addresses 127.0.2.1, ... (at
   most 20 requests each: the hub allows 60 per minute per client address). Round 0: one
   publish with nothing else running: the time from `feedsvc add` returning until every
   subscriber has read the new body (goal < 5 s), and the CPU feedsvc and the subscriber
   processes used meanwhile (which side dominates). Then --runs rounds: wrk alone for
   --wrk-seconds, then wrk again with publishes back to back from 0.3 s into its run (each once
   all subscribers have the previous one), so that its figure is its throughput during
   fan-outs: the ratio of the medians with and without, wrk's p99 latency, every publish's
   fan-out time, and the CPU of feedsvc, the subscribers and wrk over each whole wrk run
   (/proc/PID/stat), from which the hub's CPU per delivery is estimated.
   wrk (-t2 -c64) polls /atom.xml as an aggregator does: `Accept-Encoding: gzip` and
   `If-None-Match` with the last ETag it got (a Lua script), so it gets 304s except just after a
   publish.

The subscribers are asyncio servers (one event loop per --listener-procs process, each serving
some of the callback addresses) that parse HTTP/1.1 themselves (keep-alive, Content-Length or
chunked), answer a verification with its challenge, and on a delivery check the
`X-Hub-Signature` (HMAC-SHA256 of the body with that subscription's secret; under wrk for one
callback in 20, to spare the CPU) and note the newest article serial in the body. Bad
signatures and duplicate deliveries are counted and reported.

Needs python3, wrk (apt-get install wrk) and a feedsvc binary with WebSub (cargo build
--release). Prints a Markdown report on stdout; progress goes to stderr. Exits 2 when the
harness fails (feedsvc not starting or dying, a subscription refused, wrk failing), never
because a goal is missed: the report says which goals are met. About 40 seconds.
"""

import argparse
import asyncio
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import queue
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import generate  # noqa: E402  (bench/generate.py: sentences and paragraphs for the bodies)
from harness import free_port, percentile  # noqa: E402  (bench/harness.py)

MARKER = re.compile(rb"WSB(\d{6})")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"websub-bench: {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def fmt_s(x):
    return "n/a" if x is None else f"{x:.2f}"


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    except (OSError, IndexError, ValueError):
        return float("nan")


def secret_of(i):
    return hashlib.sha256(f"websub-bench-{i}".encode()).hexdigest()[:40]


# ---------------------------------------------------------------------------- subscribers

def parse_chunked(buf):
    """(body, bytes consumed) of a complete chunked body at the start of buf, or None."""
    pos, out = 0, []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", pos - 2)  # trailers end with an empty line
            if end < 0:
                return None
            return b"".join(out), end + 4
        if len(buf) < pos + size + 2:
            return None
        out.append(bytes(buf[pos:pos + size]))
        pos += size + 2


class CallbackProtocol(asyncio.Protocol):
    def __init__(self, events, sample):
        self.events = events
        self.sample = sample
        self.buf = bytearray()
        self.head = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        while True:
            if self.head is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                lines = bytes(self.buf[:end]).split(b"\r\n")
                del self.buf[:end + 4]
                try:
                    method, target, _ = lines[0].split(b" ", 2)
                except ValueError:
                    self.transport.close()
                    return
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(b":")
                    headers[k.strip().lower()] = v.strip()
                self.head = (method, target.decode("latin-1"), headers)
            method, target, headers = self.head
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                got = parse_chunked(self.buf)
                if got is None:
                    return
                body, used = got
            else:
                used = int(headers.get(b"content-length", b"0"))
                if len(self.buf) < used:
                    return
                body = bytes(self.buf[:used])
            del self.buf[:used]
            self.head = None
            self.handle(method, target, headers, body)

    def respond(self, status, reason, body, close):
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
            % (status, reason, len(body), b"Connection: close\r\n" if close else b"", body))
        if close:
            self.transport.close()

    def handle(self, method, target, headers, body):
        now = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
        close = headers.get(b"connection", b"").lower() == b"close"
        parts = urllib.parse.urlsplit(target)
        m = re.fullmatch(r"/cb/(\d+)", parts.path)
        if not m:
            return self.respond(404, b"Not Found", b"no such callback\n", close)
        cb = int(m.group(1))
        if method == b"GET":
            q = urllib.parse.parse_qs(parts.query)
            challenge = q.get("hub.challenge", [""])[0]
            if not challenge:
                return self.respond(400, b"Bad Request", b"no challenge\n", close)
            self.events.put(("verify", cb, q.get("hub.mode", [""])[0], now))
            return self.respond(200, b"OK", challenge.encode(), close)
        if method == b"POST":
            sig_ok = None  # not checked (only every sample-th callback is, to spare the CPU)
            if cb % self.sample.value == 0:
                sig = headers.get(b"x-hub-signature", b"").decode("latin-1")
                want = "sha256=" + hmac.new(secret_of(cb).encode(), body,
                                            hashlib.sha256).hexdigest()
                sig_ok = hmac.compare_digest(sig, want)
            serials = [int(x) for x in MARKER.findall(body)]
            self.events.put(("delivery", cb, max(serials) if serials else -1, now, sig_ok,
                             len(body)))
            return self.respond(200, b"OK", b"ok\n", close)
        self.respond(405, b"Method Not Allowed", b"", close)


def listener_main(hosts, ports_out, events, stop, sample):
    """One subscriber process: an event loop serving the callback URLs on each address."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def run():
        loop = asyncio.get_running_loop()
        ports = []
        servers = []
        for host in hosts:
            srv = await loop.create_server(lambda: CallbackProtocol(events, sample), host, 0, backlog=4096)
            servers.append(srv)
            ports.append(srv.sockets[0].getsockname()[1])
        ports_out.send(ports)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for srv in servers:
            srv.close()

    asyncio.run(run())


class Subscribers:
    """The listener processes and what they report."""

    def __init__(self, hosts, procs):
        ctx = multiprocessing.get_context("fork")
        self.events = ctx.Queue()
        self.stop = ctx.Event()
        self.sample = ctx.Value("i", 1, lock=False)  # check the signature of every sample-th cb
        self.procs = []
        self.addr = {}  # host -> port
        groups = [hosts[i::procs] for i in range(procs)]
        for group in groups:
            if not group:
                continue
            a, b = ctx.Pipe(duplex=False)
            p = ctx.Process(target=listener_main, args=(group, b, self.events, self.stop, self.sample),
                            daemon=True)
            p.start()
            if not a.poll(10):
                raise BenchError("a subscriber process did not start")
            for host, port in zip(group, a.recv()):
                self.addr[host] = port
            self.procs.append(p)
        self.hosts = hosts
        self.cond = threading.Condition()
        self.verified = {}    # cb -> mode of the last verification
        self.deliveries = {}  # serial -> {cb: [arrival, ...]}
        self.bad_sigs = 0
        self.checked_sigs = 0
        self.last_size = 0
        self.n_deliveries = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def url(self, cb):
        host = self.hosts[cb % len(self.hosts)]
        return f"http://{host}:{self.addr[host]}/cb/{cb}"

    def _drain(self):
        while True:
            try:
                ev = self.events.get(timeout=0.5)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            except (EOFError, OSError):
                return
            with self.cond:
                if ev[0] == "verify":
                    self.verified[ev[1]] = ev[2]
                else:
                    _, cb, serial, t, sig_ok, size = ev
                    self.n_deliveries += 1
                    self.last_size = size
                    if sig_ok is not None:
                        self.checked_sigs += 1
                        if not sig_ok:
                            self.bad_sigs += 1
                    self.deliveries.setdefault(serial, {}).setdefault(cb, []).append(t)
                self.cond.notify_all()

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
            return True

    def cpu(self):
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def close(self):
        self.stop.set()
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.terminate()


# ---------------------------------------------------------------------------- feedsvc

class Site:
    def __init__(self, bin_path, work, log_level="warn"):
        self.bin = bin_path
        self.work = work
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/"
        self.hub = self.base + "websub"
        self.config = os.path.join(work, "config.toml")
        os.makedirs(os.path.join(work, "data"))
        with open(self.config, "w") as f:
            f.write(f"""[site]
title = "WebSub Bench Wire"
base_url = "{self.base}"
[server]
listen = "127.0.0.1:{self.port}"
log = "{log_level}"
[storage]
database = "data/feedsvc.db"
samples = "{os.path.join(ROOT, 'data/samples')}"
[websub]
allow_private_callbacks = true
[admin]
listen = ""
""")
        self.proc = subprocess.Popen([self.bin, "--config", self.config, "serve"],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(work, "serve.err"), "wb"))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, _, _ = self.get("/atom.xml")
                if status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise BenchError(f"feedsvc serve did not answer on {self.base}: {self.log_tail()}")

    def log_tail(self):
        if self.proc.poll() is not None:
            log(f"feedsvc serve has exited with status {self.proc.returncode}")
        with open(os.path.join(self.work, "serve.err"), "rb") as f:
            return f.read()[-800:].decode("utf-8", "replace")

    def get(self, path, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            return r.status, r.headers, r.read()
        finally:
            c.close()

    def subscribe(self, topic, callback, secret, source):
        body = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.topic": topic,
                                       "hub.callback": callback, "hub.secret": secret,
                                       "hub.lease_seconds": "86400"})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                       source_address=(source, 0))
        try:
            c.request("POST", "/websub", body=body,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def add(self, serial, rng):
        """`feedsvc add` of a new article holding marker WSB<serial>; (seconds, t_returned)."""
        path = os.path.join(self.work, "article.md")
        body = "\n\n".join(generate.paragraph(rng) for _ in range(rng.randint(6, 9)))
        with open(path, "w") as f:
            f.write(body + "\n")
        argv = [self.bin, "--config", self.config, "add", "--title",
                f"Harbour bulletin WSB{serial:06d}", "--slug", f"bulletin-{serial:06d}",
                "--tag", "Shipping", path]
        t0 = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        t1 = time.monotonic()
        if proc.returncode != 0:
            raise BenchError(f"feedsvc add failed: {proc.stderr.strip()[-500:]}")
        return t1 - t0, t1

    def subscriptions(self):
        proc = subprocess.run([self.bin, "--config", self.config, "subscriptions", "--json"],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise BenchError(f"feedsvc subscriptions --json failed: {proc.stderr.strip()[-500:]}")
        return json.loads(proc.stdout)

    def wait_active(self, n, timeout=60):
        deadline = time.time() + timeout
        while True:
            got = len(self.subscriptions())
            if got >= n:
                return got
            if time.time() > deadline:
                raise BenchError(f"{got} active subscriptions after {timeout} s, expected {n}")
            time.sleep(0.3)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# ---------------------------------------------------------------------------- wrk

WRK_LUA = """-- poll as an aggregator does: the ETag of the last answer goes into If-None-Match
local etag = nil
request = function()
  local h = { ["Accept-Encoding"] = "gzip" }
  if etag then h["If-None-Match"] = etag end
  return wrk.format("GET", "/atom.xml", h)
end
response = function(status, headers, body)
  local e = headers["ETag"] or headers["etag"] or headers["Etag"]
  if e then etag = e end
end
"""


def wrk_argv(script, base, seconds):
    return ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", "-s", script, base + "atom.xml"]


def wrk_parse(out, err=""):
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise BenchError(f"cannot parse wrk output:\n{out}\n{err}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    p99 = re.search(r"^\s+99(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"rps": float(m.group(1)), "requests": int(total.group(1)) if total else None,
            "p99_ms": float(p99.group(1)) * unit[p99.group(2)] if p99 else float("nan"),
            "non_2xx_3xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0}


# ---------------------------------------------------------------------------- the benchmark

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/feedsvc"))
    ap.add_argument("--publishes", type=int, default=30)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--wrk-seconds", type=int, default=4)
    ap.add_argument("--callback-hosts", type=int, default=4)
    ap.add_argument("--listener-procs", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--log", default="warn", help="feedsvc's [server] log (warn: no access log)")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        raise SystemExit(f"websub-bench: no feedsvc binary at {args.bin} (cargo build --release)")
    if not shutil.which("wrk"):
        raise SystemExit("websub-bench: wrk not found (apt-get install wrk)")
    if args.callback_hosts * 1000 < args.subscribers or args.callback_hosts > 200:
        raise SystemExit("websub-bench: --callback-hosts must allow 1,000 subscriptions per host")
    work = tempfile.mkdtemp(prefix="feedsvc-websub-bench-")
    site = subs = None
    wrk_proc = None
    rng = random.Random(7)
    try:
        site = Site(args.bin, work, args.log)
        hosts = ["127.0.0.1"] + [f"127.0.1.{i}" for i in range(1, args.callback_hosts)]
        subs = Subscribers(hosts, max(1, min(args.listener_procs, len(hosts))))
        topic = site.base + "atom.xml"
        log(f"feedsvc on {site.base}; subscribers on {subs.addr}")
        result = {"settings": vars(args), "subscriber_procs": len(subs.procs)}

        # -- 1. latency ---------------------------------------------------------------------
        status, body = site.subscribe(topic, subs.url(0), secret_of(0), "127.0.0.1")
        if status != 202:
            raise BenchError(f"subscribe: {status} {body[:200]!r}")
        if not subs.wait(lambda: subs.verified.get(0) == "subscribe", 10):
            raise BenchError("the hub did not verify the first subscription within 10 s")
        site.wait_active(1)
        serial = 0
        lat, add_s, missed = [], [], 0
        log(f"latency: {args.publishes} publishes, one subscriber")
        for _ in range(args.publishes):
            serial += 1
            took, t_ret = site.add(serial, rng)
            add_s.append(took)
            s = serial
            if subs.wait(lambda: 0 in subs.deliveries.get(s, {}), 10):
                lat.append((subs.deliveries[s][0][0] - t_ret) * 1000)
            else:
                missed += 1
            time.sleep(0.1)
        result["latency"] = {"ms": lat, "missed": missed, "add_ms": [x * 1000 for x in add_s]}
        log(f"latency: median {statistics.median(lat) if lat else float('nan'):.1f} ms, "
            f"missed {missed}")

        # -- 2. fan-out: subscribe the others -----------------------------------------------
        n = args.subscribers
        log(f"fan-out: subscribing {n - 1} more callbacks over {len(hosts)} hosts")
        sources = iter(f"127.0.{2 + k // 250}.{1 + k % 250}" for k in range(100000))
        src_lock = threading.Lock()
        per_source, state = 20, {"left": 0, "src": None, "429": 0}

        def next_source():
            with src_lock:
                if state["left"] == 0:
                    state["src"], state["left"] = next(sources), per_source
                state["left"] -= 1
                return state["src"]

        def one(cb):
            for attempt in range(4):
                try:
                    status, body = site.subscribe(topic, subs.url(cb), secret_of(cb),
                                                  next_source())
                except OSError as e:
                    status, body = 0, str(e).encode()
                    time.sleep(0.2 * (attempt + 1))
                    continue
                if status == 202:
                    return None
                if status == 429:
                    with src_lock:
                        state["429"] += 1
                        state["left"] = 0  # move on to a fresh source address
                    continue
                return f"cb {cb}: {status} {body[:200]!r}"
            return f"cb {cb}: four attempts failed, the last: {status} {body[:200]!r}"

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            errors = [e for e in pool.map(one, range(1, n)) if e]
        if errors:
            raise BenchError(f"{len(errors)} subscription requests refused, first: {errors[0]}")
        if not subs.wait(lambda: sum(1 for m in subs.verified.values() if m == "subscribe") >= n, 120):
            raise BenchError(f"only {len(subs.verified)} of {n} verifications within 120 s")
        active = site.wait_active(n)
        sub_s = time.monotonic() - t0
        log(f"fan-out: {active} subscriptions active after {sub_s:.1f} s "
            f"({state['429']} answers 429 on the way)")
        result["subscribe"] = {"n": n, "seconds": sub_s, "answers_429": state["429"],
                               "sources": 1 + (n - 1) // per_source}

        # -- 3. fan-out under wrk -----------------------------------------------------------
        script = os.path.join(work, "poll.lua")
        with open(script, "w") as f:
            f.write(WRK_LUA)
        subprocess.run(wrk_argv(script, site.base, 1), capture_output=True, timeout=60)  # warm-up
        state_s = {"serial": serial}

        def one_publish():
            """One publish; waits until all n subscribers have it (at most 30 s)."""
            if site.proc.poll() is not None:
                raise BenchError(f"feedsvc serve exited with status {site.proc.returncode}")
            state_s["serial"] += 1
            s = state_s["serial"]
            t_start = time.monotonic()
            _, t_ret = site.add(s, rng)
            done = subs.wait(lambda: len(subs.deliveries.get(s, {})) >= n, 30)
            t_seen = time.monotonic()
            with subs.cond:
                got = dict(subs.deliveries.get(s, {}))
            firsts = sorted(ts[0] for ts in got.values())
            return {
                "delivered": len(got), "complete": done,
                "all_s": (firsts[-1] - t_ret) if done else None,
                "first_ms": (firsts[0] - t_ret) * 1000 if firsts else float("nan"),
                "median_ms": (statistics.median(firsts) - t_ret) * 1000 if firsts else float("nan"),
                "duplicates": sum(len(ts) - 1 for ts in got.values()),
                "busy_s": t_seen - t_start, "t_start": t_start, "t_seen": t_seen,
            }

        def run_wrk(seconds, during=None):
            """wrk for `seconds`, calling during(t_start, t_end) meanwhile; its figures and the
            CPU seconds feedsvc, the subscribers and wrk used over its whole run."""
            nonlocal wrk_proc
            cpu0 = (cpu_seconds(site.proc.pid), subs.cpu())
            wrk_proc = subprocess.Popen(wrk_argv(script, site.base, seconds),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            t0 = time.monotonic()
            extra = during(t0, t0 + seconds) if during else {}
            # wait for wrk's exit without reaping it, so that /proc still has its CPU times
            os.waitid(os.P_PID, wrk_proc.pid, os.WEXITED | os.WNOWAIT)
            cpu1 = (cpu_seconds(site.proc.pid), subs.cpu(), cpu_seconds(wrk_proc.pid))
            out, err = wrk_proc.communicate(timeout=60)
            wrk_proc = None
            run = wrk_parse(out, err)
            run.update({"cpu_feedsvc": cpu1[0] - cpu0[0], "cpu_subscribers": cpu1[1] - cpu0[1],
                        "cpu_wrk": cpu1[2]})
            run.update(extra)
            return run

        def summary(pubs, t_wrk=None, t_end=None):
            run = dict(pubs[0])
            overlap = sum(max(0.0, min(p["t_seen"], t_end) - max(p["t_start"], t_wrk))
                          for p in pubs) if t_wrk is not None else None
            run.update({
                "publishes": len(pubs),
                "all_s_each": [p["all_s"] for p in pubs],
                "incomplete": sum(1 for p in pubs if not p["complete"]),
                "duplicates": sum(p["duplicates"] for p in pubs),
                "coverage": overlap / (t_end - t_wrk) if t_wrk is not None else None,
            })
            return run

        def publishes_during(t_wrk, t_end):
            """Publishes back to back from 0.3 s into wrk's run until 0.3 s before its end."""
            time.sleep(0.3)
            pubs = [one_publish()]
            while t_end - time.monotonic() > 0.3 and pubs[-1]["complete"]:
                pubs.append(one_publish())
            return summary(pubs, t_wrk, t_end)

        log(f"fan-out to {n} without wrk")
        c0 = (cpu_seconds(site.proc.pid), subs.cpu())
        quiet = summary([one_publish()])
        c1 = (cpu_seconds(site.proc.pid), subs.cpu())
        quiet.update({"cpu_feedsvc": c1[0] - c0[0], "cpu_subscribers": c1[1] - c0[1],
                      "window_s": quiet["busy_s"], "body_bytes": subs.last_size})
        log(f"quiet fan-out: {quiet['delivered']}/{n}, all in {fmt_s(quiet['all_s'])} s, CPU feedsvc "
            f"{quiet['cpu_feedsvc']:.2f} s, subscribers {quiet['cpu_subscribers']:.2f} s")
        time.sleep(1)
        subs.sample.value = 20  # under wrk, the subscribers check one signature in 20
        base_runs, fan_runs = [], []
        for r in range(args.runs):
            log(f"round {r + 1}/{args.runs}: wrk alone")
            base_runs.append(run_wrk(args.wrk_seconds))
            time.sleep(1)
            log(f"round {r + 1}/{args.runs}: wrk with fan-outs to {n}")
            run = run_wrk(args.wrk_seconds, publishes_during)
            fan_runs.append(run)
            log(f"fan-out {r + 1}: {run['publishes']} publishes, the first delivered to "
                f"{run['delivered']}/{n} in {fmt_s(run['all_s'])} s; wrk {run['rps']:.0f} req/s "
                f"vs {base_runs[-1]['rps']:.0f} alone")
            time.sleep(1)
        with subs.cond:
            bad_sigs, total, checked = subs.bad_sigs, subs.n_deliveries, subs.checked_sigs
        result["fanout"] = {"quiet": quiet, "baseline": base_runs, "fanout": fan_runs,
                            "bad_signatures": bad_sigs, "checked_signatures": checked,
                            "deliveries": total}
        errors_logged = [l for l in site.log_tail().splitlines()
                         if re.search(r"panicked|\bERROR\b", l)]
        report(args, site, result, errors_logged)
    except BenchError as e:
        log(f"error: {e}")
        if site:
            log(f"feedsvc log tail: {site.log_tail()}")
        sys.exit(2)
    finally:
        if wrk_proc and wrk_proc.poll() is None:
            wrk_proc.kill()
            wrk_proc.wait()
        if subs:
            subs.close()
        if site:
            site.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(args, site, result, errors_logged):
    lat = result["latency"]["ms"]
    add_ms = result["latency"]["add_ms"]
    fo = result["fanout"]
    med = statistics.median(lat) if lat else float("nan")
    version = subprocess.run([site.bin, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    w = print
    w(f"## WebSub delivery ({version}, commit {commit}, {os.cpu_count()} cores)\n")
    w(f"`{shlex.join(['python3', 'bench/websub.py'] + sys.argv[1:])}`\n")
    w("### Latency: `feedsvc add` returning → the subscriber has the new feed body\n")
    w("| publishes | missed | median ms | p90 ms | min ms | max ms | `feedsvc add` median ms | goal |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    w(f"| {len(lat)} | {result['latency']['missed']} | {med:.1f} | {percentile(lat, 90):.1f} "
      f"| {min(lat) if lat else float('nan'):.1f} | {max(lat) if lat else float('nan'):.1f} "
      f"| {statistics.median(add_ms):.1f} | median < 100 ms: "
      f"{'met' if med < 100 and not result['latency']['missed'] else 'NOT met'} |\n")
    sb = result["subscribe"]
    q = fo["quiet"]
    w(f"### Fan-out: {sb['n']:,} subscribers on /atom.xml, one publish, wrk polling\n")
    w(f"The delivered body (the whole Atom feed, 20 entries) is {q['body_bytes'] / 1024:.0f} KiB.")
    w(f"{sb['n']:,} subscriptions from {sb['sources']} client addresses, verified and active in "
      f"{sb['seconds']:.1f} s ({sb['answers_429']} answers 429). Round 0: one publish with "
      f"nothing else running. Rounds 1-{len(fo['fanout'])}: wrk (`-t2 -c64 -d{args.wrk_seconds}s`, "
      f"If-None-Match with the last ETag) alone, then wrk again with publishes back to back from "
      f"0.3 s in (each once all {sb['n']:,} have the previous one), so that its throughput is "
      f"the one during fan-outs. Times are from `feedsvc add` returning; the first publish of "
      f"each round is in the columns, all of them in \"every publish\".\n")
    w("| round | delivered | all delivered s | first ms | median ms | publishes: every one, all "
      "delivered s | fan-out share of the wrk run | wrk req/s alone | wrk req/s with fan-outs "
      "| CPU s alone: feedsvc / wrk | CPU s with fan-outs: feedsvc / subscribers / wrk |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")

    def alls_of(x):
        return f"{x:.2f}" if x is not None else "incomplete"

    w(f"| 0 (no wrk) | {q['delivered']:,} | {alls_of(q['all_s'])} | {q['first_ms']:.0f} "
      f"| {q['median_ms']:.0f} | 1: {alls_of(q['all_s'])} | – | – | – | – "
      f"| {q['cpu_feedsvc']:.2f} / {q['cpu_subscribers']:.2f} / – |")
    for i, (b, f) in enumerate(zip(fo["baseline"], fo["fanout"]), 1):
        each = " ".join(alls_of(x) for x in f["all_s_each"])
        w(f"| {i} | {f['delivered']:,} | {alls_of(f['all_s'])} | {f['first_ms']:.0f} "
          f"| {f['median_ms']:.0f} | {f['publishes']}: {each} | {f['coverage']:.0%} "
          f"| {b['rps']:,.0f} | {f['rps']:,.0f} | {b['cpu_feedsvc']:.2f} / {b['cpu_wrk']:.2f} "
          f"| {f['cpu_feedsvc']:.2f} / {f['cpu_subscribers']:.2f} / {f['cpu_wrk']:.2f} |")
    every = [q["all_s"]] + [x for f in fo["fanout"] for x in f["all_s_each"]]
    alls = [x for x in every if x is not None]
    b_med = statistics.median(b["rps"] for b in fo["baseline"])
    f_med = statistics.median(f["rps"] for f in fo["fanout"])
    worst = max(alls) if len(alls) == len(every) else float("inf")
    dups = q["duplicates"] + sum(f["duplicates"] for f in fo["fanout"])
    w("")
    w(f"- every subscriber had each publish: in {len(alls)} of {len(every)} publishes; time until "
      f"all {sb['n']:,} had it: median {statistics.median(alls) if alls else float('nan'):.2f} s, "
      f"worst {worst:.2f} s; goal < 5 s: {'met' if worst < 5 else 'NOT met'}")
    w(f"- wrk throughput during fan-outs / without: {f_med:,.0f} / {b_med:,.0f} req/s = "
      f"**{f_med / b_med:.2f}** (medians of {len(fo['baseline'])} runs each); wrk's p99 latency "
      f"{statistics.median(f['p99_ms'] for f in fo['fanout']):.2f} ms with fan-outs, "
      f"{statistics.median(b['p99_ms'] for b in fo['baseline']):.2f} ms without")
    bad = sum(f["non_2xx_3xx"] + f["socket_errors"] for f in fo["baseline"] + fo["fanout"])
    w(f"- bad signatures: {fo['bad_signatures']} of the {fo['checked_signatures']:,} checked "
      f"({fo['deliveries']:,} deliveries; all checked but under wrk, one callback in 20); duplicate "
      f"deliveries: {dups}; wrk non-2xx/3xx answers and socket errors: {bad}")
    procs = result["subscriber_procs"]
    busy = q["cpu_subscribers"] / (q["window_s"] * procs) if q["window_s"] else float("nan")
    w(f"- CPU of round 0 (no wrk; publish to last delivery, {q['window_s']:.2f} s): feedsvc "
      f"{q['cpu_feedsvc']:.2f} s ({q['cpu_feedsvc'] / q['window_s']:.0%} of a core), the "
      f"{procs} subscriber processes {q['cpu_subscribers']:.2f} s ({busy:.0%} of their "
      f"capacity, one core each): "
      + ("the subscribers were busy most of the time and may be what bounds the fan-out"
         if busy > 0.7 else "the subscriber side was not the bottleneck"))
    # Where the CPU went in the wrk runs: feedsvc's CPU per poll answered comes from the runs
    # without fan-out; what it used beyond that in the runs with fan-outs went to the hub.
    per_req = statistics.median(b["cpu_feedsvc"] / b["requests"] for b in fo["baseline"]
                                if b["requests"])
    hub_cpu = [f["cpu_feedsvc"] - per_req * f["requests"] for f in fo["fanout"]]
    n_del = [f["publishes"] * sb["n"] for f in fo["fanout"]]
    us_per = statistics.median(h / d * 1e6 for h, d in zip(hub_cpu, n_del))
    serve_alone = statistics.median(b["cpu_feedsvc"] + b["cpu_wrk"] for b in fo["baseline"])
    serve_fan = statistics.median(f["cpu_feedsvc"] - h + f["cpu_wrk"]
                                  for f, h in zip(fo["fanout"], hub_cpu))
    subs_fan = statistics.median(f["cpu_subscribers"] for f in fo["fanout"])
    w(f"- where the CPU went ({os.cpu_count()} cores, {args.wrk_seconds} s per wrk run, medians): "
      f"serving the polls and wrk itself {serve_alone:.2f} s alone, {serve_fan:.2f} s with "
      f"fan-outs (ratio {serve_fan / serve_alone:.2f}); the hub's deliveries about "
      f"{statistics.median(hub_cpu):.2f} s ({us_per:.0f} µs of feedsvc CPU per delivery, counting "
      f"as serving what the same number of polls cost without fan-out); the subscriber "
      f"processes {subs_fan:.2f} s")
    if errors_logged:
        w(f"- feedsvc logged errors: {errors_logged[:3]}")


if __name__ == "__main__":
    main()
