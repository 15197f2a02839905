#!/usr/bin/env python3
"""The feedsvc benchmark harness; bench/run.sh installs the tools, builds feedsvc and runs this.

Sections (each can be skipped with BENCH_SKIP="serve idle publish memory hugo"):
  serve    feedsvc vs Debian's nginx serving the same bytes, wrk, interleaved rounds, at each
           connection count of BENCH_CONNECTIONS
  idle     the same pair holding BENCH_IDLE idle keep-alive connections: RSS growth per
           connection, and the 304 polling rate at 64 connections with them against without
  publish  `feedsvc import` and single `feedsvc add` timings for each size in BENCH_SIZES
  memory   peak RSS (VmHWM) of `feedsvc serve` at the largest size while wrk runs the scenarios
  hugo     rebuild time of a hugo site after adding one post vs `feedsvc add`, same Markdown

Progress goes to stderr; the Markdown report goes to stdout and to BENCH_OUT
(default bench/results/latest.md), raw numbers to the .json beside it.
Exit status: 0 when every section ran (whatever the targets say), 2 on a harness error.
"""
import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import platform
import random
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate  # noqa: E402  (bench/generate.py: the article generator)
from flood import nginx_pids, rss_kib  # noqa: E402  (bench/flood.py: VmRSS of a process tree)

BASE_URL = "http://127.0.0.1:8080/"  # constant: changing it would make feedsvc re-render the site
IDLE_POLLERS = 64  # wrk connections polling beside the idle ones (section idle)
KEEPALIVE_SECS = 300  # feedsvc header_timeout_secs = nginx keepalive_timeout: idle ones stay open


class HarnessError(Exception):
    """A failure of the harness or of a tool it drives (not a missed target)."""


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def env_int(name, default):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HarnessError(f"{name}={raw!r} is not an integer")
    if value <= 0:
        raise HarnessError(f"{name}={raw!r} must be positive")
    return value


def env_sizes(name, default):
    raw = os.environ.get(name, "").strip() or default
    try:
        sizes = [int(x) for x in raw.split()]
    except ValueError:
        raise HarnessError(f"{name}={raw!r} must be space-separated integers")
    if not sizes or any(n <= 0 for n in sizes):
        raise HarnessError(f"{name}={raw!r} must list positive sizes")
    return sorted(set(sizes))


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def percentile(xs, p):
    """Nearest-rank percentile (p in 0..100)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def fmt(x, digits=1):
    if x is None or (isinstance(x, float) and x != x):
        return "n/a"
    return f"{x:,.{digits}f}"


def open_file_limit():
    """This process's limit on open files (run.sh raised it; its children inherit it)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft


def run(argv, timeout=None, check=True, **kw):
    """subprocess.run with captured text output and a clear error."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except FileNotFoundError:
        raise HarnessError(f"{argv[0]}: not found")
    except subprocess.TimeoutExpired:
        raise HarnessError(f"timed out after {timeout} s: {shlex.join(map(str, argv))}")
    if check and proc.returncode != 0:
        raise HarnessError(f"exit {proc.returncode}: {shlex.join(map(str, argv))}\n"
                           f"{proc.stderr.strip()[-2000:]}")
    return proc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WRK_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out, err="", label=""):
    """wrk's --latency report as a dict: rps, p99_ms, requests, non_2xx_3xx, socket_errors and
    the raw text; HarnessError when it has no rate or no 99th percentile."""
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p = re.search(r"^\s+99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    if not m or not p:
        raise HarnessError(f"cannot parse wrk output ({label}):\n{out}\n{err}")
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(m.group(1)),
        "p99_ms": float(p.group(1)) * WRK_UNIT[p.group(2)],
        "requests": int(total.group(1)) if total else None,
        "non_2xx_3xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
        "raw": out,
    }


# --- processes ---------------------------------------------------------------------------------

class Servers:
    """Every long-running process the harness starts; stopped on exit whatever happens."""

    def __init__(self, pidfile):
        self.pidfile = pidfile
        self.procs = []

    def start(self, name, argv, **kw):
        proc = subprocess.Popen(argv, **kw)
        self.procs.append((name, proc))
        if self.pidfile:
            with open(self.pidfile, "a") as f:
                f.write(f"{proc.pid} {name}\n")
        return proc

    def stop(self, proc, timeout=15):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"pid {proc.pid} did not stop in {timeout} s; killing it")
                proc.kill()
                proc.wait(5)
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def stop_all(self):
        for _, proc in list(self.procs):
            try:
                self.stop(proc)
            except Exception as e:  # keep stopping the others
                log(f"stopping pid {proc.pid}: {e}")


# --- the harness -------------------------------------------------------------------------------


def site_config(writer, extra="", server=""):
    """The benchmark site's config.toml (feeds rendered with BASE_URL, the database beside it,
    no samples, no admin listener), with `server` lines added to [server] and `extra` TOML
    appended."""
    return f'''# written by {writer}
[site]
title = "Benchmark Dispatch"
base_url = "{BASE_URL}"
description = "Generated articles for the benchmark."
[server]
listen = "127.0.0.1:8080"   # overridden with --listen
# warn: no access-log line per request (info would log every request and dominate the profile)
log = "warn"
{server}[storage]
database = "feedsvc.db"
samples = ""
[admin]
listen = ""
{extra}'''

class Bench:
    def __init__(self, args):
        self.bin = args.bin
        self.root = args.root
        self.work = args.work
        self.servers = Servers(args.pidfile)
        self.cache = os.environ.get("BENCH_CACHE") or "/tmp/feedsvc-bench"
        self.serve_n = env_int("BENCH_SERVE_N", 1000)
        self.sizes = env_sizes("BENCH_SIZES", "1000 10000 100000")
        self.hugo_n = env_int("BENCH_HUGO_N", 10000)
        self.duration = env_int("BENCH_DURATION", 10)
        self.rounds = env_int("BENCH_ROUNDS", 3)
        self.threads = env_int("BENCH_THREADS", 2)
        self.connections = env_sizes("BENCH_CONNECTIONS", "64 1000")
        self.idle = env_int("BENCH_IDLE", 10000)
        # above every connection count used, so that feedsvc never sheds one during a run
        self.max_connections = max(20000, self.idle + 2 * max(self.connections))
        self.nproc = os.cpu_count() or 1
        self.workers = env_int("BENCH_WORKERS", self.nproc)
        self.adds = env_int("BENCH_ADDS", 20)
        self.hugo_rebuilds = env_int("BENCH_HUGO_REBUILDS", 5)
        self.month_fill = os.environ.get("BENCH_MONTH_FILL", "1").strip() != "0"
        self.skip = set(os.environ.get("BENCH_SKIP", "").split())
        unknown = self.skip - {"serve", "idle", "publish", "memory", "hugo"}
        if unknown:
            raise HarnessError(f"BENCH_SKIP: unknown sections {sorted(unknown)}")
        self.out = os.environ.get("BENCH_OUT") or os.path.join(HERE, "results", "latest.md")
        self.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.results = {"settings": {
            "serve_n": self.serve_n, "sizes": self.sizes, "hugo_n": self.hugo_n,
            "duration_s": self.duration, "rounds": self.rounds, "wrk_threads": self.threads,
            "wrk_connections": self.connections, "idle": self.idle,
            "max_connections": self.max_connections, "keepalive_s": KEEPALIVE_SECS,
            "workers": self.workers, "adds": self.adds,
            "hugo_rebuilds": self.hugo_rebuilds, "month_fill": self.month_fill,
            "skip": sorted(self.skip)}}
        self.add_cache = {}  # n -> publishing result (reused by the hugo section)
        self.serve_site = None  # (site dir, config, import seconds) of sections serve and idle
        self.started = time.time()

    # -- archives -------------------------------------------------------------------------------

    def archive(self, n):
        """A directory of n generated articles, cached across runs under BENCH_CACHE."""
        gen = os.path.join(HERE, "generate.py")
        with open(gen, "rb") as f:
            stamp = f"{n} {hashlib.sha256(f.read()).hexdigest()}"
        d = os.path.join(self.cache, f"articles-{n}")
        marker = os.path.join(d, ".complete")
        if os.path.exists(marker) and open(marker).read().strip() == stamp:
            return d
        os.makedirs(self.cache, exist_ok=True)
        tmp = f"{d}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"generating {n} articles into {d}")
        t = time.perf_counter()
        run([sys.executable, gen, str(n), tmp])
        with open(os.path.join(tmp, ".complete"), "w") as f:
            f.write(stamp + "\n")
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp, d)
        log(f"generated {n} articles in {time.perf_counter() - t:.1f} s")
        return d

    def new_article(self, serial, when):
        """A new generated article (same generator as the archive), slug story-<serial>."""
        rng = random.Random(serial * 7919 + 17)
        text = generate.article(serial, when, rng)
        # the generator picks a random UTC offset; pin UTC so "a few minutes ago" stays in the
        # past (a future date would make the add a scheduled article, not a publish)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        return re.sub(r'^published = "[^"]*"$', f'published = "{stamp}"', text, count=1,
                      flags=re.M)

    # -- feedsvc --------------------------------------------------------------------------------

    def site(self, name):
        """A fresh feedsvc site directory with its config.toml; returns (dir, config path)."""
        d = os.path.join(self.work, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        cfg = os.path.join(d, "config.toml")
        with open(cfg, "w") as f:
            f.write(site_config("bench/harness.py", server=(
                f"max_connections = {self.max_connections}\n"
                f"# idle keep-alive connections stay open through a run (nginx: keepalive_timeout)\n"
                f"header_timeout_secs = {KEEPALIVE_SECS}\n")))
        return d, cfg

    def feedsvc(self, cfg, *args, timeout=None):
        return run([self.bin, "--config", cfg, *args], timeout=timeout)

    def import_archive(self, n):
        """Fresh database with n articles; returns (site dir, config, import seconds)."""
        src = self.archive(n)
        d, cfg = self.site(f"site-{n}")
        log(f"feedsvc import of {n} articles")
        t = time.perf_counter()
        proc = self.feedsvc(cfg, "import", src, timeout=6 * 3600)
        secs = time.perf_counter() - t
        if f"imported {n} articles" not in proc.stdout:
            raise HarnessError(f"feedsvc import printed {proc.stdout.strip()!r}, expected {n} articles")
        log(f"imported {n} articles in {secs:.1f} s")
        return d, cfg, secs

    def start_feedsvc(self, cfg, name):
        port = free_port()
        d = os.path.dirname(cfg)
        out = open(os.path.join(d, f"{name}.stdout"), "w+")
        err = open(os.path.join(d, f"{name}.stderr"), "w")
        env = dict(os.environ, TOKIO_WORKER_THREADS=str(self.workers))
        env.pop("RUST_LOG", None)  # server.log = "warn" applies only when RUST_LOG is unset
        proc = self.servers.start("feedsvc", [self.bin, "--config", cfg, "serve", "--listen",
                                              f"127.0.0.1:{port}"],
                                  stdout=out, stderr=err, env=env)
        deadline = time.time() + 600  # a stale site is re-rendered before listening
        while time.time() < deadline:
            out.seek(0)
            if "feedsvc listening on http://" in out.read():
                return proc, f"http://127.0.0.1:{port}"
            if proc.poll() is not None:
                raise HarnessError(f"feedsvc serve exited with {proc.returncode}: "
                                   f"{open(err.name).read()[-2000:]}")
            time.sleep(0.05)
        raise HarnessError("feedsvc serve did not print its listening line within 600 s")

    # -- http helpers ---------------------------------------------------------------------------

    def curl(self, url, headers=(), body_path=None):
        """(status, headers dict lowercased, body bytes) via curl, nothing decoded."""
        hdr_file = os.path.join(self.work, "curl.headers")
        body_file = body_path or os.path.join(self.work, "curl.body")
        argv = ["curl", "-sS", "--max-time", "30", "-D", hdr_file, "-o", body_file]
        for h in headers:
            argv += ["-H", h]
        for stale in (hdr_file, body_file):
            if os.path.exists(stale):
                os.remove(stale)
        run(argv + [url], timeout=60)
        with open(hdr_file, encoding="latin-1", newline="") as f:
            lines = f.read().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs.setdefault(k.strip().lower(), v.strip())
        body = b""
        if os.path.exists(body_file):  # curl creates no file for an empty body (a 304)
            with open(body_file, "rb") as f:
                body = f.read()
        return status, hdrs, body

    def wait_http(self, url, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                return
            except Exception:
                time.sleep(0.05)
        raise HarnessError(f"{url} did not answer within {timeout} s")

    # -- wrk ------------------------------------------------------------------------------------

    def wrk_argv(self, url, headers, connections, duration=None):
        return (["wrk", f"-t{self.threads}", f"-c{connections}",
                 f"-d{duration or self.duration}s", "--latency"]
                + [a for h in headers for a in ("-H", h)] + [url])

    def wrk(self, url, headers=(), duration=None, label="", connections=None):
        duration = duration or self.duration
        argv = self.wrk_argv(url, headers, connections or self.connections[0], duration)
        proc = run(argv, timeout=duration + 60)
        result = parse_wrk(proc.stdout, proc.stderr, label)
        if result["non_2xx_3xx"] or result["socket_errors"]:
            log(f"warning: {label}: {result['non_2xx_3xx']} non-2xx/3xx responses, "
                f"{result['socket_errors']} socket errors")
        return result

    # -- scenarios ------------------------------------------------------------------------------

    def scenarios(self, base, article_path, etag_gz):
        """(key, title, url, headers) of the four serving scenarios against one server."""
        return [
            ("identity", "full feed `/atom.xml`, identity", f"{base}/atom.xml", []),
            ("gzip", "full feed, `Accept-Encoding: gzip`", f"{base}/atom.xml",
             ["Accept-Encoding: gzip"]),
            ("304", "conditional GET answered 304 (gzip ETag)", f"{base}/atom.xml",
             ["Accept-Encoding: gzip", f"If-None-Match: {etag_gz}"]),
            ("article", "article page, identity", f"{base}{article_path}", []),
        ]

    def probe(self, name, base, article_path, export_dir=None):
        """Fetches what the scenarios ask for with curl, checks the answers and returns facts:
        ETag of the gzip feed, response sizes; with export_dir, saves the bytes there."""
        feed = os.path.join(self.work, f"{name}-atom.xml")
        feed_gz = os.path.join(self.work, f"{name}-atom.xml.gz")
        page = os.path.join(self.work, f"{name}-article")
        st, h_id, body = self.curl(f"{base}/atom.xml", body_path=feed)
        if st != 200 or h_id.get("content-encoding"):
            raise HarnessError(f"{name}: /atom.xml answered {st} {h_id}")
        if b"<feed" not in body:
            raise HarnessError(f"{name}: /atom.xml is not an Atom feed")
        st, h_gz, gz = self.curl(f"{base}/atom.xml", ["Accept-Encoding: gzip"], body_path=feed_gz)
        if st != 200 or h_gz.get("content-encoding") != "gzip":
            raise HarnessError(f"{name}: gzip /atom.xml answered {st} {h_gz}")
        if gzip.decompress(gz) != body:
            raise HarnessError(f"{name}: the gzip variant does not decode to the identity feed")
        st, h_pg, html = self.curl(f"{base}{article_path}", body_path=page)
        if st != 200 or b"<article" not in html:
            raise HarnessError(f"{name}: {article_path} answered {st}")
        etag = h_gz.get("etag")
        if not etag:
            raise HarnessError(f"{name}: the gzip feed has no ETag")
        st, h_304, b304 = self.curl(f"{base}/atom.xml",
                                    ["Accept-Encoding: gzip", f"If-None-Match: {etag}"])
        if st != 304 or b304:
            raise HarnessError(f"{name}: If-None-Match {etag} answered {st}, not 304")
        if export_dir:
            os.makedirs(os.path.join(export_dir, os.path.dirname(article_path.lstrip("/"))),
                        exist_ok=True)
            shutil.copyfile(feed, os.path.join(export_dir, "atom.xml"))
            shutil.copyfile(feed_gz, os.path.join(export_dir, "atom.xml.gz"))
            shutil.copyfile(page, os.path.join(export_dir, article_path.lstrip("/")))
        hsize = lambda h: sum(len(k) + len(v) + 4 for k, v in h.items())  # noqa: E731
        return {
            "etag_gz": etag, "etag_identity": h_id.get("etag"),
            "content_type": h_id.get("content-type"),
            "feed_bytes": len(body), "feed_gz_bytes": len(gz), "article_bytes": len(html),
            "header_bytes": {"identity": hsize(h_id), "gzip": hsize(h_gz),
                             "304": hsize(h_304), "article": hsize(h_pg)},
            "bodies": (body, gz, html),
        }

    # -- nginx ----------------------------------------------------------------------------------

    def start_nginx(self, docroot):
        prefix = os.path.join(self.work, "nginx")
        shutil.rmtree(prefix, ignore_errors=True)
        os.makedirs(os.path.join(prefix, "logs"))
        port = free_port()
        conf = os.path.join(prefix, "nginx.conf")
        # every connection of a run may land on one worker; run.sh raised the open-file limit
        worker_connections = max(16384, self.idle + 2 * max(self.connections))
        open_files = min(65536, open_file_limit())
        text = f"""# written by bench/harness.py: static files, the same bytes feedsvc serves
user root;
worker_processes {self.workers};
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
worker_rlimit_nofile {open_files};
events {{ worker_connections {worker_connections}; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout {KEEPALIVE_SECS};
  keepalive_requests 1000000;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  open_file_cache_min_uses 1;
  open_file_cache_errors on;
  types {{ application/atom+xml xml; text/html html; }}
  default_type text/html;
  charset utf-8;
  charset_types application/atom+xml text/html;
  gzip off;
  gzip_static on;
  gzip_vary on;
  etag on;
  server {{
    listen 127.0.0.1:{port} reuseport;
    root {docroot};
    location / {{ }}
  }}
}}
"""
        with open(conf, "w") as f:
            f.write(text)
        run([self.nginx, "-t", "-q", "-p", prefix, "-e", f"{prefix}/logs/error.log", "-c", conf])
        proc = self.servers.start("nginx", [self.nginx, "-p", prefix, "-e",
                                            f"{prefix}/logs/error.log", "-c", conf, "-g",
                                            "daemon off;"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            self.wait_http(f"{base}/atom.xml")
        except HarnessError:
            raise HarnessError(f"nginx did not start: {open(prefix + '/logs/error.log').read()}")
        return proc, base, text

    # -- section 1: serving ---------------------------------------------------------------------

    def serve_pair(self):
        """feedsvc on the archive of BENCH_SERVE_N articles (imported once) and nginx on the bytes
        it served; returns the facts of both, their processes and base URLs."""
        n = self.serve_n
        if self.serve_site is None:
            self.serve_site = self.import_archive(n)
        _, cfg, _ = self.serve_site
        fs_proc, fs_base = self.start_feedsvc(cfg, "serve")
        article_path = f"/articles/story-{n - 1:06d}"  # the newest article
        export = os.path.join(self.work, "nginx-root")
        shutil.rmtree(export, ignore_errors=True)
        fs = self.probe("feedsvc", fs_base, article_path, export_dir=export)
        ng_proc, ng_base, ng_conf = self.start_nginx(export)
        ng = self.probe("nginx", ng_base, article_path)
        if ng["bodies"] != fs["bodies"]:
            raise HarnessError("nginx does not serve the bytes exported from feedsvc")
        log(f"nginx serves the exported bytes; feedsvc ETag {fs['etag_gz']}, "
            f"nginx ETag {ng['etag_gz']}; both answer 304")
        for facts in (fs, ng):
            facts.pop("bodies")
        fs["max_connections"] = self.feedsvc_max_connections(cfg)
        return {"article_path": article_path, "nginx_conf": ng_conf,
                "feedsvc": (fs_proc, fs_base, fs), "nginx": (ng_proc, ng_base, ng)}

    def feedsvc_max_connections(self, cfg):
        """feedsvc's max_connections as in force: it lowers the configured value (with a
        warning) when the limit on open files is too small for it."""
        with open(os.path.join(os.path.dirname(cfg), "serve.stderr")) as f:
            m = re.search(r"lowered.*?allowed\W+(\d+)|allowed\W+(\d+).*?lowered", f.read())
        return int(m.group(1) or m.group(2)) if m else self.max_connections

    def section_serve(self):
        pair = self.serve_pair()
        article_path = pair["article_path"]
        runs = {}  # connections -> key -> server -> wrk results
        commands = {}
        for conns in self.connections:
            for idx in range(4):
                for rnd in range(self.rounds):
                    for name in ("feedsvc", "nginx"):
                        _, base, facts = pair[name]
                        key, title, url, headers = self.scenarios(base, article_path,
                                                                  facts["etag_gz"])[idx]
                        if rnd == 0:  # short warm-up, not recorded
                            self.wrk(url, headers, duration=1, connections=conns,
                                     label=f"warm-up {name} {key} -c{conns}")
                        log(f"wrk {key} -c{conns} round {rnd + 1}/{self.rounds}: {name}")
                        r = self.wrk(url, headers, connections=conns,
                                     label=f"{name} {key} -c{conns}")
                        runs.setdefault(conns, {}).setdefault(key, {}).setdefault(
                            name, []).append(r)
                        commands.setdefault(f"{key} -c{conns}", {})[name] = shlex.join(
                            self.wrk_argv(url, headers, conns))
        fs_proc, ng_proc = pair["feedsvc"][0], pair["nginx"][0]
        hwm = read_status(fs_proc.pid)
        self.servers.stop(ng_proc)
        self.servers.stop(fs_proc)
        tables = []
        for conns in self.connections:
            table = []
            for key, title, _, _ in self.scenarios("", article_path, ""):
                row = {"key": key, "title": title}
                for name in ("feedsvc", "nginx"):
                    rs = runs[conns][key][name]
                    row[name] = {"rps": median([r["rps"] for r in rs]),
                                 "p99_ms": median([r["p99_ms"] for r in rs]),
                                 "rps_all": [r["rps"] for r in rs],
                                 "p99_all": [r["p99_ms"] for r in rs],
                                 "errors": sum(r["non_2xx_3xx"] + r["socket_errors"] for r in rs)}
                row["ratio"] = row["feedsvc"]["rps"] / row["nginx"]["rps"]
                table.append(row)
            tables.append({"connections": conns, "table": table})
        self.results["serve"] = {
            "n": self.serve_n, "import_s": self.serve_site[2], "article_path": article_path,
            "tables": tables, "feedsvc": pair["feedsvc"][2], "nginx": pair["nginx"][2],
            "nginx_conf": pair["nginx_conf"], "commands": commands,
            "feedsvc_status_after": hwm,
            "raw": {conns: {k: {s: [r["raw"] for r in v] for s, v in by.items()}
                            for k, by in per.items()} for conns, per in runs.items()},
        }

    # -- section 1b: idle connections -----------------------------------------------------------

    def hold(self, base, etag):
        """Starts the helper process holding BENCH_IDLE idle keep-alive connections to `base`
        (each has sent one conditional GET and read its 304); returns (process, how many it
        opened) once all are established."""
        port = base.rsplit(":", 1)[1]
        proc = self.servers.start("--hold", [sys.executable, os.path.abspath(__file__), "--hold",
                                             port, str(self.idle), etag],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline().split()  # "ready ESTABLISHED FAILED", or nothing on a crash
        if len(line) != 3 or line[0] != "ready":
            self.servers.stop(proc)
            raise HarnessError(f"the idle-connection holder failed (exit {proc.poll()})")
        return proc, int(line[1])

    def release(self, proc):
        """Ends the holder: its connections close; returns (established, closed by the server
        while held, failed to establish)."""
        try:  # closing its stdin tells it to close everything
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise HarnessError("the idle-connection holder did not end within 60 s")
        self.servers.stop(proc)
        established, closed, failed = map(int, out.split()[1:4])  # "held E CLOSED FAILED"
        return established, closed, failed

    def settled_rss(self, pids, timeout=10):
        """Resident set (kB, summed over `pids()`) once two samples 0.5 s apart agree."""
        prev = rss_kib(pids())
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.5)
            cur = rss_kib(pids())
            if abs(cur - prev) <= max(64, prev // 500):
                return cur
            prev = cur
        return prev

    def section_idle(self):
        pair = self.serve_pair()
        pids = {"feedsvc": lambda: [pair["feedsvc"][0].pid],
                "nginx": lambda: nginx_pids(pair["nginx"][0].pid)}
        res = {}
        for name in ("feedsvc", "nginx"):
            _, base, facts = pair[name]
            _, _, url, headers = self.scenarios(base, pair["article_path"], facts["etag_gz"])[2]
            self.wrk(url, headers, duration=1, connections=IDLE_POLLERS,
                     label=f"warm-up {name} 304 idle")
            res[name] = {"url": url, "headers": headers, "without": [], "with": [], "holds": []}
        for rnd in range(self.rounds):
            for name in ("feedsvc", "nginx"):
                row = res[name]
                log(f"idle round {rnd + 1}/{self.rounds}: {name}, wrk 304 -c{IDLE_POLLERS} alone")
                row["without"].append(self.wrk(row["url"], row["headers"],
                                               connections=IDLE_POLLERS,
                                               label=f"{name} 304 without idle"))
                if rnd == 0:  # after a run at 64 connections: what they cost is in it
                    row["rss_before_kb"] = self.settled_rss(pids[name])
                log(f"idle round {rnd + 1}/{self.rounds}: {name}, opening {self.idle:,} idle "
                    f"connections")
                holder, established = self.hold(pair[name][1], pair[name][2]["etag_gz"])
                if rnd == 0:
                    row["rss_after_kb"] = self.settled_rss(pids[name])
                    row["rss_established"] = established
                log(f"idle round {rnd + 1}/{self.rounds}: {name}, wrk 304 -c{IDLE_POLLERS} beside "
                    f"{established:,} idle connections")
                row["with"].append(self.wrk(row["url"], row["headers"], connections=IDLE_POLLERS,
                                            label=f"{name} 304 with idle"))
                held, closed, failed = self.release(holder)
                row["holds"].append({"established": held, "closed": closed, "failed": failed})
                if closed + failed > self.idle / 100:
                    log(f"WARNING: {name} closed {closed} and refused {failed} of the "
                        f"{self.idle:,} idle connections: this round is invalid")
                time.sleep(1)  # let the server take in the closes before the next run
        self.servers.stop(pair["nginx"][0])
        self.servers.stop(pair["feedsvc"][0])
        rows = []
        for name in ("feedsvc", "nginx"):
            row = res[name]
            without = median([r["rps"] for r in row["without"]])
            with_ = median([r["rps"] for r in row["with"]])
            lost = max(h["closed"] + h["failed"] for h in row["holds"])
            rows.append({
                "server": name,
                "held": min(h["established"] for h in row["holds"]),
                "rss_before_kb": row["rss_before_kb"], "rss_after_kb": row["rss_after_kb"],
                "per_conn_bytes": (row["rss_after_kb"] - row["rss_before_kb"]) * 1024
                / max(1, row["rss_established"]),
                "rps_without": without, "rps_with": with_, "ratio": with_ / without,
                "p99_without_ms": median([r["p99_ms"] for r in row["without"]]),
                "p99_with_ms": median([r["p99_ms"] for r in row["with"]]),
                "rps_without_all": [r["rps"] for r in row["without"]],
                "rps_with_all": [r["rps"] for r in row["with"]],
                "holds": row["holds"],
                "closed": sum(h["closed"] + h["failed"] for h in row["holds"]),
                "valid": lost <= self.idle / 100,
                "errors": sum(r["non_2xx_3xx"] + r["socket_errors"]
                              for r in row["without"] + row["with"]),
                "command": shlex.join(self.wrk_argv(row["url"], row["headers"], IDLE_POLLERS)),
                "raw": {k: [r["raw"] for r in row[k]] for k in ("without", "with")},
            })
        self.results["idle"] = {"idle": self.idle, "pollers": IDLE_POLLERS, "rows": rows,
                                "feedsvc_max_connections": pair["feedsvc"][2]["max_connections"],
                                "nginx_conf": pair["nginx_conf"]}

    # -- section 2: publishing ------------------------------------------------------------------

    @staticmethod
    def add_window():
        """(start of the month the timed adds go into, T): every timed add and the month fill
        are dated before T, in that month, and in the past (a future date would make the add a
        scheduled article, not a publish). Near the start of a month the previous one is used."""
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
        month = (now - dt.timedelta(hours=6)).replace(day=1, hour=0, minute=0, second=0)
        next_month = (month + dt.timedelta(days=32)).replace(day=1)
        return month, min(now, next_month) - dt.timedelta(minutes=5)

    def write_article(self, directory, serial, when):
        path = os.path.join(directory, f"story-{serial:06d}.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.new_article(serial, when))
        return path

    def time_adds(self, cfg, serial0, first, count, subdir):
        """Times `count` single `feedsvc add` calls (process start to exit), each a new article
        with slug story-<serial0 + k>, published at `first` + 10 s × k (each the newest)."""
        src = os.path.join(os.path.dirname(cfg), subdir)
        os.makedirs(src, exist_ok=True)
        times = []
        files = []
        for k in range(count):
            serial = serial0 + k
            path = self.write_article(src, serial, first + dt.timedelta(seconds=10 * k))
            files.append(path)
            argv = [self.bin, "--config", cfg, "add", path]
            t = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True)
            elapsed = time.perf_counter() - t
            if proc.returncode != 0 or f"/articles/story-{serial:06d}" not in proc.stdout:
                raise HarnessError(f"feedsvc add {path} failed (exit {proc.returncode}): "
                                   f"{proc.stderr.strip()}")
            if proc.stderr.strip():
                raise HarnessError(f"feedsvc add {path} said: {proc.stderr.strip()}")
            times.append(elapsed * 1000)
        return times, files

    def month_density(self, n):
        """Average articles per month of the generated archive of n articles."""
        src = self.archive(n)
        stamps = []
        for i in (0, n - 1):
            with open(os.path.join(src, f"story-{i:06d}.md"), encoding="utf-8") as f:
                m = re.search(r'^published = "([^"]+)"', f.read(), re.M)
            stamps.append(dt.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")))
        days = max((stamps[1] - stamps[0]).total_seconds() / 86400, 1.0)
        return max(1, round(n * (365.25 / 12) / days))

    def publish_one(self, n):
        if n in self.add_cache:
            return self.add_cache[n]
        d, cfg, import_s = self.import_archive(n)
        month, end = self.add_window()
        base = max(n, 1_000_000)  # slugs story-<serial> never met in the archive
        log(f"timing {self.adds} single `feedsvc add` calls into {n} articles")
        times, files = self.time_adds(cfg, base + 200_000, end - dt.timedelta(minutes=90),
                                      self.adds, "new")
        res = {"n": n, "import_s": import_s, "add_ms": times, "median_ms": median(times),
               "p90_ms": percentile(times, 90), "min_ms": min(times), "max_ms": max(times),
               "month": month.strftime("%Y-%m"), "cfg": cfg, "files": files}
        log(f"N={n}: import {import_s:.1f} s, add median {res['median_ms']:.1f} ms, "
            f"p90 {res['p90_ms']:.1f} ms")
        # The normal setup: `feedsvc serve` runs on the database while articles are added. Its
        # connection keeps SQLite's WAL index (an add then need not rebuild it from the WAL
        # file) and it checkpoints in the background.
        log(f"timing {self.adds} more adds into {n} articles with feedsvc serve running")
        proc, _ = self.start_feedsvc(cfg, f"publish-serve-{n}")
        try:
            stimes, _ = self.time_adds(cfg, base + 250_000, end - dt.timedelta(minutes=60),
                                       self.adds, "new-served")
        finally:
            self.servers.stop(proc)
        res.update({"served_add_ms": stimes, "served_median_ms": median(stimes),
                    "served_p90_ms": percentile(stimes, 90), "served_max_ms": max(stimes)})
        log(f"N={n}: add with the server running: median {res['served_median_ms']:.1f} ms, "
            f"p90 {res['served_p90_ms']:.1f} ms")
        if self.month_fill:
            # The generated archive ends before this month, so the adds above went into a month
            # that held only themselves. A newsroom with this archive publishes `fill` articles a
            # month: add that many to this month (one `feedsvc add` of all of them, earlier than
            # the timed adds), then time the same number of adds again.
            fill = self.month_density(n)
            fill_dir = os.path.join(d, "fill")
            os.makedirs(fill_dir, exist_ok=True)
            span = (end - dt.timedelta(hours=2) - month).total_seconds()
            paths = [self.write_article(fill_dir, base + 10_000 + j,
                                        month + dt.timedelta(seconds=span * j / fill))
                     for j in range(fill)]
            log(f"N={n}: filling {month:%Y-%m} with {fill} articles (one `feedsvc add`)")
            t = time.perf_counter()
            proc = run([self.bin, "--config", cfg, "add", *paths], timeout=3 * 3600)
            fill_s = time.perf_counter() - t
            if proc.stdout.count("/articles/") != fill:
                raise HarnessError(f"feedsvc add of the {fill} fill articles printed "
                                   f"{proc.stdout.count('/articles/')} URLs")
            log(f"timing {self.adds} more adds into {month:%Y-%m} holding {fill} articles")
            ftimes, _ = self.time_adds(cfg, base + 300_000, end - dt.timedelta(minutes=30),
                                       self.adds, "new-full-month")
            res.update({"fill": fill, "fill_s": fill_s, "full_add_ms": ftimes,
                        "full_median_ms": median(ftimes), "full_p90_ms": percentile(ftimes, 90),
                        "full_max_ms": max(ftimes)})
            log(f"N={n}: add into a month of {fill} articles: median "
                f"{res['full_median_ms']:.1f} ms, p90 {res['full_p90_ms']:.1f} ms")
        db = os.path.join(d, "feedsvc.db")
        res["db_bytes"] = sum(os.path.getsize(p) for p in (db, db + "-wal", db + "-shm")
                              if os.path.exists(p))
        self.add_cache[n] = res
        return res

    def section_publish(self):
        rows = [self.publish_one(n) for n in self.sizes]
        lo, hi = rows[0], rows[-1]
        self.results["publish"] = {
            "rows": [{k: v for k, v in r.items() if k not in ("cfg", "files")} for r in rows],
            "ratio": {"small": lo["n"], "large": hi["n"],
                      "value": hi["median_ms"] / lo["median_ms"]},
        }
        if self.month_fill:
            self.results["publish"]["full_ratio"] = hi["full_median_ms"] / lo["full_median_ms"]
        # keep only the largest database (the memory section serves it); free the disk
        for r in rows[:-1]:
            if r["n"] not in (self.hugo_n,):
                shutil.rmtree(os.path.dirname(r["cfg"]), ignore_errors=True)

    # -- section 3: memory ----------------------------------------------------------------------

    def section_memory(self):
        n = self.sizes[-1]
        if n in self.add_cache:
            cfg = self.add_cache[n]["cfg"]
        else:
            _, cfg, _ = self.import_archive(n)
        proc, base = self.start_feedsvc(cfg, "memory")
        before = read_status(proc.pid)
        article_path = f"/articles/story-{n - 1:06d}"
        facts = self.probe("memory", base, article_path)
        runs = {}
        for key, _, url, headers in self.scenarios(base, article_path, facts["etag_gz"]):
            log(f"memory: wrk {key} against feedsvc at N={n}")
            runs[key] = self.wrk(url, headers, label=f"memory {key}")["rps"]
        after = read_status(proc.pid)
        self.servers.stop(proc)
        self.results["memory"] = {"n": n, "before": before, "after": after, "rps": runs,
                                  "hwm_mb": after.get("VmHWM", 0) / 1024}
        log(f"memory: VmHWM {after.get('VmHWM', 0) / 1024:.1f} MB at N={n}")

    # -- section 4: hugo ------------------------------------------------------------------------

    def section_hugo(self):
        n = self.hugo_n
        src = self.archive(n)
        site = os.path.join(self.work, "hugo-site")
        shutil.rmtree(site, ignore_errors=True)
        posts = os.path.join(site, "content", "posts")
        os.makedirs(posts)
        layouts = os.path.join(site, "layouts", "_default")
        os.makedirs(layouts)
        with open(os.path.join(site, "config.toml"), "w") as f:
            f.write(HUGO_CONFIG)
        for name, text in HUGO_LAYOUTS.items():
            with open(os.path.join(layouts, name), "w") as f:
                f.write(text)
        log(f"converting {n} articles to hugo posts")
        for name in sorted(os.listdir(src)):
            if name.endswith(".md"):
                with open(os.path.join(src, name), encoding="utf-8") as f:
                    text = f.read()
                with open(os.path.join(posts, name), "w", encoding="utf-8") as f:
                    f.write(to_hugo(text))
        log("hugo: first full build")
        t = time.perf_counter()
        run(["hugo", "--quiet", "--source", site], timeout=3 * 3600)
        first_s = time.perf_counter() - t
        if not os.path.exists(os.path.join(site, "public", "index.xml")):
            raise HarnessError("hugo built no public/index.xml")
        # feedsvc adds into an archive of the same size (and the same Markdown)
        fs = self.publish_one(n)
        times = []
        # hugo gets the very articles feedsvc added, one post per rebuild
        new_files = list(fs["files"])
        while len(new_files) < self.hugo_rebuilds:  # BENCH_ADDS smaller than the rebuild count
            _, end = self.add_window()
            new_files.append(self.write_article(site, max(n, 1_000_000) + 400_000 + len(new_files),
                                                end - dt.timedelta(minutes=1)))
        for k in range(self.hugo_rebuilds):
            with open(new_files[k], encoding="utf-8") as f:
                text = f.read()
            with open(os.path.join(posts, os.path.basename(new_files[k])), "w",
                      encoding="utf-8") as f:
                f.write(to_hugo(text))
            log(f"hugo: rebuild {k + 1}/{self.hugo_rebuilds}")
            t = time.perf_counter()
            run(["hugo", "--quiet", "--source", site], timeout=3 * 3600)
            times.append((time.perf_counter() - t) * 1000)
        slug = os.path.basename(new_files[self.hugo_rebuilds - 1])[:-3]
        if not os.path.exists(os.path.join(site, "public", "posts", slug, "index.html")):
            raise HarnessError(f"hugo did not build the added post {slug}")
        self.results["hugo"] = {
            "n": n, "first_build_s": first_s, "rebuild_ms": times,
            "hugo_median_ms": median(times), "feedsvc_median_ms": fs["median_ms"],
            "ratio": median(times) / fs["median_ms"],
            "public_files": sum(len(fs_) for _, _, fs_ in os.walk(os.path.join(site, "public"))),
        }
        log(f"hugo rebuild median {median(times):.0f} ms vs feedsvc add {fs['median_ms']:.1f} ms")

    # -- report ---------------------------------------------------------------------------------

    def machine(self):
        def first(argv, pattern=None):
            try:
                p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                text = (p.stdout + p.stderr).strip()
            except Exception:
                return "n/a"
            if pattern:
                m = re.search(pattern, text)
                return m.group(1) if m else text.splitlines()[0] if text else "n/a"
            return text.splitlines()[0] if text else "n/a"

        cpu = "n/a"
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem = "n/a"
        try:
            for line in open("/proc/meminfo"):
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        except OSError:
            pass
        commit = first(["git", "-C", self.root, "rev-parse", "--short", "HEAD"])
        dirty = first(["git", "-C", self.root, "status", "--porcelain", "--untracked-files=no"])
        return {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": self.nproc, "cpu": cpu, "memory": mem,
            "kernel": platform.release(),
            "os": first(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
            "feedsvc": first([self.bin, "--version"]) + (
                f" ({self.bin})" if os.environ.get("FEEDSVC_BIN") else " (built by run.sh)"),
            "commit": commit + ("-dirty" if dirty not in ("", "n/a") else ""),
            "nginx": first([self.nginx, "-v"], r"nginx/(\S+)"),
            "wrk": first(["wrk", "-v"], r"wrk (\S+)"),
            "nginx_workers": self.workers, "feedsvc_workers": self.workers,
            "wrk_threads": self.threads, "wrk_connections": self.connections,
            "idle_connections": self.idle, "open_files": open_file_limit(),
            "hugo": first(["hugo", "version"], r"(v[\d.]+\S*)"),
            "python": platform.python_version(),
        }

    def report(self):
        r = self.results
        m = r["machine"]
        L = []
        w = L.append
        w("# feedsvc benchmark")
        w("")
        w(f"Run {m['date']}, {r['elapsed_s'] / 60:.1f} minutes, by `bench/run.sh`.")
        w("")
        w("| machine | |")
        w("| --- | --- |")
        for k, label in [("cpu", "CPU"), ("nproc", "cores (nproc)"), ("memory", "memory"),
                         ("os", "OS"), ("kernel", "kernel (`uname -r`)"), ("feedsvc", "feedsvc"),
                         ("commit", "repository commit"), ("nginx", "nginx"), ("wrk", "wrk"),
                         ("hugo", "hugo"), ("python", "python")]:
            w(f"| {label} | {m[k]} |")
        w(f"| workers | nginx `worker_processes {m['nginx_workers']}`, feedsvc "
          f"`TOKIO_WORKER_THREADS={m['feedsvc_workers']}` |")
        w(f"| wrk threads, connections | `-t{m['wrk_threads']}`, "
          + " and ".join(f"`-c{c}`" for c in m["wrk_connections"])
          + f"; section idle: `-c{IDLE_POLLERS}` beside {m['idle_connections']:,} idle |")
        w(f"| open files (`ulimit -n`) | {m['open_files']:,} |")
        w("")
        w(f"**wrk and the servers share the same {m['nproc']} cores** (loopback, one machine): "
          f"the load generator takes CPU from the server under test, so the serving figures are "
          f"relative, not the capacity of a dedicated server.")
        w("")
        s = r["settings"]
        w(f"Settings: BENCH_SERVE_N={s['serve_n']} BENCH_SIZES=\"{' '.join(map(str, s['sizes']))}\" "
          f"BENCH_HUGO_N={s['hugo_n']} BENCH_DURATION={s['duration_s']} BENCH_ROUNDS={s['rounds']} "
          f"BENCH_THREADS={s['wrk_threads']} "
          f"BENCH_CONNECTIONS=\"{' '.join(map(str, s['wrk_connections']))}\" "
          f"BENCH_IDLE={s['idle']} "
          f"BENCH_WORKERS={s['workers']} BENCH_ADDS={s['adds']} "
          f"BENCH_HUGO_REBUILDS={s['hugo_rebuilds']} BENCH_MONTH_FILL={int(s['month_fill'])}"
          + (f" BENCH_SKIP=\"{' '.join(s['skip'])}\"" if s["skip"] else ""))
        w("")
        targets = []

        if "serve" in r:
            sv = r["serve"]
            w("## 1. Serving: feedsvc vs nginx")
            w("")
            w(f"feedsvc serves an archive of {sv['n']:,} articles (`feedsvc serve`, "
              f"`[server] log = \"warn\"`, so no access-log line per request, "
              f"`max_connections = {s['max_connections']}`, `header_timeout_secs = "
              f"{s['keepalive_s']}`; `TOKIO_WORKER_THREADS={s['workers']}`: {s['workers']} server "
              f"threads, one single-threaded tokio runtime each). nginx {m['nginx']} serves the "
              f"exact bytes feedsvc served, exported to a directory (`atom.xml`, `atom.xml.gz` "
              f"for `gzip_static`, `{sv['article_path']}`), with `worker_processes "
              f"{s['workers']}`, sendfile, tcp_nopush, open_file_cache, etag, access_log off, "
              f"`keepalive_timeout {s['keepalive_s']}`. Each wrk run: `wrk -t{s['wrk_threads']} "
              f"-cCONNECTIONS -d{s['duration_s']}s --latency`, {s['rounds']} rounds per server, "
              f"interleaved feedsvc, nginx, feedsvc, nginx …, after a 1 s warm-up each; the "
              f"tables give the median over the rounds.")
            w("")
            if sv["feedsvc"]["max_connections"] < s["max_connections"]:
                w(f"feedsvc lowered `max_connections` to {sv['feedsvc']['max_connections']:,} "
                  f"to fit the limit on open files ({m['open_files']:,}).")
                w("")
            goals = {"identity": 1.0, "gzip": 1.0, "304": 1.2, "article": 1.0}
            for tb in sv["tables"]:
                c = tb["connections"]
                w(f"### {c:,} connections (`wrk -t{s['wrk_threads']} -c{c}`)")
                w("")
                w("| scenario | feedsvc req/s | nginx req/s | feedsvc/nginx | feedsvc p99 | "
                  "nginx p99 |")
                w("| --- | ---: | ---: | ---: | ---: | ---: |")
                for row in tb["table"]:
                    f, g = row["feedsvc"], row["nginx"]
                    w(f"| {row['title']} | {fmt(f['rps'], 0)} | {fmt(g['rps'], 0)} | "
                      f"{row['ratio']:.2f}× | {fmt(f['p99_ms'], 2)} ms | "
                      f"{fmt(g['p99_ms'], 2)} ms |")
                w("")
                for row in tb["table"]:
                    goal = goals[row["key"]]
                    ok = row["ratio"] >= goal
                    name = f"{row['key']} req/s ≥ {goal:.1f}× nginx at -c{c}"
                    w(f"- {name}: {row['ratio']:.2f}× vs {goal:.1f}×, "
                      f"{'met' if ok else '**not met**'}")
                    targets.append((name, f"{row['ratio']:.2f}×", ok))
                worse = [row["key"] for row in tb["table"]
                         if row["feedsvc"]["p99_ms"] > row["nginx"]["p99_ms"]]
                p99s = ", ".join(f"{row['key']} {fmt(row['feedsvc']['p99_ms'], 2)} vs "
                                 f"{fmt(row['nginx']['p99_ms'], 2)} ms" for row in tb["table"])
                name = f"p99 not worse than nginx (every scenario) at -c{c}"
                w(f"- {name}: {p99s} (feedsvc vs nginx), "
                  f"{'met' if not worse else '**not met**'}")
                targets.append((name, "worse in: " + ", ".join(worse) if worse
                                else "not worse in any", not worse))
                w("")
                errs = [(row["key"], name, row[name]["errors"]) for row in tb["table"]
                        for name in ("feedsvc", "nginx") if row[name]["errors"]]
                if errs:
                    w("**Errors during the runs:** "
                      + ", ".join(f"{k} {n}: {e}" for k, n, e in errs))
                    w("")
                w("All rounds (req/s):")
                w("")
                for row in tb["table"]:
                    w(f"- {row['key']}: feedsvc "
                      + ", ".join(fmt(x, 0) for x in row["feedsvc"]["rps_all"]) + "; nginx "
                      + ", ".join(fmt(x, 0) for x in row["nginx"]["rps_all"]))
                w("")
            fs, ng = sv["feedsvc"], sv["nginx"]
            w(f"Bodies: feed {fs['feed_bytes']:,} bytes identity, {fs['feed_gz_bytes']:,} gzip; "
              f"article page {fs['article_bytes']:,} bytes. Response header bytes "
              f"(feedsvc / nginx): "
              + ", ".join(f"{k} {fs['header_bytes'][k]} / {ng['header_bytes'][k]}"
                          for k in ("identity", "gzip", "304", "article"))
              + f". ETags: feedsvc `{fs['etag_gz']}`, nginx `{ng['etag_gz']}` (gzip variant).")
            w("")

        if "idle" in r:
            il = r["idle"]
            w("## 1b. Idle keep-alive connections")
            w("")
            w(f"feedsvc and nginx started afresh as in section 1 (same bytes, same workers; "
              f"`header_timeout_secs` and "
              f"`keepalive_timeout` {s['keepalive_s']} s, feedsvc `max_connections` "
              f"{il['feedsvc_max_connections']:,}). A helper process (Python, selectors) opens "
              f"{il['idle']:,} keep-alive connections, each sends one conditional GET of "
              f"`/atom.xml` (gzip, the ETag of the 304 scenario), reads its 304 and stays idle, "
              f"as aggregators keep connections. RSS is VmRSS (nginx: master and workers summed), "
              f"read once it settles after the first wrk run without them, just before they "
              f"open, and again once all are established; growth per connection = difference / connections established "
              f"(nginx allocates its table of `worker_connections` at start, so that part is in "
              f"the RSS before). "
              f"Then wrk runs the 304 scenario (`-t{s['wrk_threads']} -c{il['pollers']} "
              f"-d{s['duration_s']}s`) without and with the idle connections, interleaved, "
              f"{s['rounds']} rounds each (a new set of idle connections per round), medians. "
              f"wrk, the helper and both servers share the machine's cores.")
            w("")
            w("| server | idle conns held | RSS before | RSS after | growth per idle conn | "
              "req/s without | req/s with | with/without | p99 without | p99 with | "
              "conns closed by server |")
            w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for row in il["rows"]:
                w(f"| {row['server']} | {row['held']:,} | {row['rss_before_kb'] / 1024:.1f} MB | "
                  f"{row['rss_after_kb'] / 1024:.1f} MB | {fmt(row['per_conn_bytes'], 0)} B | "
                  f"{fmt(row['rps_without'], 0)} | {fmt(row['rps_with'], 0)} | "
                  f"{row['ratio']:.2f} | {fmt(row['p99_without_ms'], 2)} ms | "
                  f"{fmt(row['p99_with_ms'], 2)} ms | {row['closed']:,} |")
            w("")
            for row in il["rows"]:
                if not row["valid"]:
                    w(f"**INVALID: {row['server']} closed or refused more than 1% of the "
                      f"{il['idle']:,} idle connections in a round** "
                      f"({', '.join(str(h['closed'] + h['failed']) for h in row['holds'])} "
                      f"per round): its figures do not show {il['idle']:,} connections held.")
                    w("")
                if row["errors"]:
                    w(f"**Errors during the {row['server']} runs:** {row['errors']}")
                    w("")
            w("All rounds (req/s, without / with): "
              + "; ".join(f"{row['server']} "
                          + ", ".join(f"{fmt(a, 0)} / {fmt(b, 0)}" for a, b in
                                      zip(row["rps_without_all"], row["rps_with_all"]))
                          for row in il["rows"]) + ".")
            w("")
            fs = il["rows"][0]
            ok = fs["ratio"] >= 0.9 and fs["valid"]
            name = (f"feedsvc 304 req/s with {il['idle']:,} idle connections ≥ 0.90× without")
            w(f"- {name}: {fs['ratio']:.2f} vs 0.90"
              + ("" if fs["valid"] else " (invalid: idle connections were closed)")
              + f", {'met' if ok else '**not met**'} (nginx: {il['rows'][1]['ratio']:.2f})")
            w(f"- RSS growth per idle connection: feedsvc {fmt(fs['per_conn_bytes'], 0)} B, "
              f"nginx {fmt(il['rows'][1]['per_conn_bytes'], 0)} B")
            w("")
            targets.append((name, f"{fs['ratio']:.2f}" + ("" if fs["valid"] else " (invalid)"),
                            ok))

        if "publish" in r:
            pb = r["publish"]
            full = s["month_fill"]
            w("## 2. Publishing at scale")
            w("")
            w(f"For each size: generate the articles (`bench/generate.py`, spread evenly from "
              f"2018-01 to 2026-10), `feedsvc import` them into a fresh database (wall time), then "
              f"time {s['adds']} single `feedsvc add FILE` calls from process start to exit "
              f"(`time.perf_counter` around `subprocess.run`), each a new generated article with "
              f"a new slug, published minutes before now (each the newest article, so it goes "
              f"into every site feed).")
            if full:
                w("")
                w("The generated archive ends before the current month, so those adds go into a "
                  "month that holds only themselves. A newsroom with that archive publishes about "
                  "N/106 articles a month, so the harness then adds that many articles to the "
                  "month (one `feedsvc add` of all of them, dated earlier) and times "
                  f"{s['adds']} more single adds: the \"full month\" columns. (The month's "
                  "archive feeds and sitemap are rendered by the server on request, so a full "
                  "month should cost a publish nothing; these columns check that.)")
            w("")
            if full:
                w("| articles | import | add median | add p90 | add max | month fill | "
                  "full month: add median | p90 | max | database |")
                w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            else:
                w("| articles | import | add median | add p90 | add min | add max | database |")
                w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for row in pb["rows"]:
                if full:
                    w(f"| {row['n']:,} | {row['import_s']:.1f} s | {row['median_ms']:.1f} ms | "
                      f"{row['p90_ms']:.1f} ms | {row['max_ms']:.1f} ms | {row['fill']:,} "
                      f"({row['fill_s']:.1f} s) | {row['full_median_ms']:.1f} ms | "
                      f"{row['full_p90_ms']:.1f} ms | {row['full_max_ms']:.1f} ms | "
                      f"{row['db_bytes'] / 1e6:.0f} MB |")
                else:
                    w(f"| {row['n']:,} | {row['import_s']:.1f} s | {row['median_ms']:.1f} ms | "
                      f"{row['p90_ms']:.1f} ms | {row['min_ms']:.1f} ms | {row['max_ms']:.1f} ms | "
                      f"{row['db_bytes'] / 1e6:.0f} MB |")
            w("")
            if all("served_median_ms" in row for row in pb["rows"]):
                w(f"With `feedsvc serve` running on the same database (the normal setup: its "
                  f"connection keeps SQLite's WAL index, so an add does not rebuild it from the "
                  f"WAL file, and it checkpoints in the background), {s['adds']} more adds, each "
                  f"the newest article, timed the same way:")
                w("")
                w("| articles | add median | add p90 | add max |")
                w("| ---: | ---: | ---: | ---: |")
                for row in pb["rows"]:
                    w(f"| {row['n']:,} | {row['served_median_ms']:.1f} ms | "
                      f"{row['served_p90_ms']:.1f} ms | {row['served_max_ms']:.1f} ms |")
                w("")
            ratio = pb["ratio"]
            w(f"Median add at {ratio['large']:,} / at {ratio['small']:,}: "
              f"**{ratio['value']:.2f}×**"
              + (f"; into a full month: **{pb['full_ratio']:.2f}×**." if full else "."))
            w("")
            rows = {row["n"]: row for row in pb["rows"]}
            big = rows.get(100000) or pb["rows"][-1]
            small = rows.get(1000) or pb["rows"][0]
            note = "" if big["n"] == 100000 else f", measured at {big['n']:,}"
            snote = "" if small["n"] == 1000 else f" (at {small['n']:,})"
            variants = [("", "median_ms")]
            if all("served_median_ms" in row for row in pb["rows"]):
                variants.append((", server running", "served_median_ms"))
            if full:
                variants.append((", full month", "full_median_ms"))
            for label, key in variants:
                targets.append((f"median add ≤ 15 ms at 100k{label}{note}",
                                f"{big[key]:.1f} ms", big[key] <= 15))
                rel = big[key] / small[key]
                targets.append((f"median add at 100k ≤ 1.2× at 1k{label}{note}",
                                f"{rel:.2f}× ({big[key]:.1f} ms vs {small[key]:.1f} ms{snote})",
                                rel <= 1.2))

        if "memory" in r:
            mm = r["memory"]
            w("## 3. Memory")
            w("")
            w(f"`feedsvc serve` on the {mm['n']:,}-article database of section 2, with wrk running "
              f"the four serving scenarios against it one after the other "
              f"({s['duration_s']} s each): peak resident set (VmHWM from /proc/PID/status) after "
              f"the load.")
            w("")
            w("| | VmHWM (peak RSS) | VmRSS |")
            w("| --- | ---: | ---: |")
            for label, st in (("after start", mm["before"]), ("after the load", mm["after"])):
                w(f"| {label} | {st.get('VmHWM', 0) / 1024:.1f} MB | "
                  f"{st.get('VmRSS', 0) / 1024:.1f} MB |")
            w("")
            line = ("Throughput during these runs (req/s): "
                    + ", ".join(f"{k} {fmt(v, 0)}" for k, v in mm["rps"].items()) + ".")
            if "serve" in r:
                st = r["serve"]["feedsvc_status_after"]
                line += (f" In section 1 ({r['serve']['n']:,} articles) feedsvc's VmHWM was "
                         f"{st.get('VmHWM', 0) / 1024:.1f} MB.")
            w(line)
            w("")
            note = "" if mm["n"] == 100000 else f" (measured at {mm['n']:,}, not 100,000)"
            targets.append((f"peak RSS ≤ 64 MB at 100k{note}", f"{mm['hwm_mb']:.1f} MB",
                            mm["hwm_mb"] <= 64))

        if "hugo" in r:
            hg = r["hugo"]
            w("## 4. Against a static site generator (hugo)")
            w("")
            w(f"Debian's hugo {m['hugo']} with a theme-less site (three tiny layouts, "
              f"`[outputs] home = [\"HTML\", \"RSS\"]`, tags as a taxonomy, `rssLimit = 20`) "
              f"built from the same {hg['n']:,} generated Markdown files (TOML front matter, "
              f"`published` renamed `date`). The first build took {hg['first_build_s']:.1f} s "
              f"({hg['public_files']:,} files in public/). Then one post is added and "
              f"`hugo --quiet` rebuilds, {len(hg['rebuild_ms'])} times (the posts are the ones "
              f"`feedsvc add` published in section 2). hugo uses every core.")
            w("")
            w("| publish one article into {:,} | median |".format(hg["n"]))
            w("| --- | ---: |")
            w(f"| hugo rebuild (`hugo --quiet`) | {hg['hugo_median_ms']:.0f} ms |")
            w(f"| `feedsvc add` | {hg['feedsvc_median_ms']:.1f} ms |")
            w("")
            w(f"hugo / feedsvc: **{hg['ratio']:.1f}×**. Rebuilds (ms): "
              + ", ".join(f"{x:.0f}" for x in hg["rebuild_ms"]) + ".")
            w("")

        w("## Targets")
        w("")
        if targets:
            w("| target | measured | met |")
            w("| --- | --- | --- |")
            for name, value, ok in targets:
                w(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
        else:
            w("No target was measured in this run.")
        w("")
        w("## How it was run")
        w("")
        w("```sh")
        w("bash bench/run.sh   # with the settings above")
        w("feedsvc --config CFG import DIR          # section 2, per size")
        w(f"feedsvc --config CFG add FILE            # timed, {s['adds']} per size")
        w(f"TOKIO_WORKER_THREADS={s['workers']} feedsvc --config CFG serve "
          f"--listen 127.0.0.1:PORT")
        if "serve" in r:
            for key, by in r["serve"]["commands"].items():
                for name, cmd in by.items():
                    w(f"{cmd}   # {key}, {name}")
        if "idle" in r:
            for row in r["idle"]["rows"]:
                w(f"{row['command']}   # idle, {row['server']}, without and with "
                  f"{r['idle']['idle']} idle connections")
        if "hugo" in r:
            w("hugo --quiet --source SITE")
        w("```")
        if "serve" in r or "idle" in r:
            w("")
            w("<details><summary>nginx.conf</summary>")
            w("")
            w("```nginx")
            w((r.get("serve") or r["idle"])["nginx_conf"].rstrip())
            w("```")
            w("")
            w("</details>")
        w("")
        r["targets"] = [{"target": t, "measured": v, "met": ok} for t, v, ok in targets]
        return "\n".join(L)

    def main(self):
        self.results["machine"] = self.machine()
        try:
            if "serve" not in self.skip:
                self.section_serve()
            if "idle" not in self.skip:
                self.section_idle()
            if "publish" not in self.skip:
                self.section_publish()
            if "memory" not in self.skip:
                self.section_memory()
            if "hugo" not in self.skip:
                self.section_hugo()
        finally:
            self.servers.stop_all()
        self.results["elapsed_s"] = time.time() - self.started
        text = self.report()
        os.makedirs(os.path.dirname(os.path.abspath(self.out)), exist_ok=True)
        with open(self.out, "w") as f:
            f.write(text + "\n")
        raw = os.path.splitext(self.out)[0] + ".json"
        with open(raw, "w") as f:
            json.dump(self.results, f, indent=1, default=str)
        print(text, flush=True)
        log(f"report written to {self.out} (raw numbers: {raw}); "
            f"{self.results['elapsed_s'] / 60:.1f} minutes")


def read_status(pid):
    """Memory lines of /proc/PID/status, in kB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "VmPeak", "VmSize", "Threads"):
                out[k] = int(v.split()[0])
    return out


def hold_connections(port, n, etag, in_flight=256, timeout=300):
    """The idle-connection holder (`harness.py --hold PORT N ETAG`, started by section idle):
    opens n keep-alive connections to 127.0.0.1:PORT, at most `in_flight` at a time; each sends
    one conditional GET of /atom.xml (gzip, If-None-Match ETAG), reads its 304 and then stays
    idle. Prints "ready ESTABLISHED FAILED", holds them until its stdin closes, then prints
    "held ESTABLISHED CLOSED FAILED" (CLOSED: ended by the server while idle) and exits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    request = (f"GET /atom.xml HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Encoding: gzip\r\n"
               f"If-None-Match: {etag}\r\nConnection: keep-alive\r\n\r\n").encode()
    sel = selectors.DefaultSelector()
    buffers = {}  # socket -> bytes read so far, until its 304 is complete
    idle = set()
    opened = failed = closed = 0

    def fail(sock):
        nonlocal failed
        failed += 1
        buffers.pop(sock, None)
        sel.unregister(sock)
        sock.close()

    def on_idle(sock):  # readable while idle: the server closed it (or sent something)
        nonlocal closed
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            closed += 1
            sel.unregister(sock)
            sock.close()

    deadline = time.time() + timeout
    while (opened < n or buffers) and time.time() < deadline:
        while opened < n and len(buffers) < in_flight:
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            sel.register(sock, selectors.EVENT_WRITE)
            buffers[sock] = b""
            opened += 1
        for key, events in sel.select(timeout=1):
            sock = key.fileobj
            if sock in idle:
                on_idle(sock)
                continue
            if events & selectors.EVENT_WRITE:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    fail(sock)
                    continue
                sock.send(request)  # a few hundred bytes into an empty socket buffer
                sel.modify(sock, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                fail(sock)
                continue
            buffers[sock] += data
            head = buffers[sock]
            if b"\r\n\r\n" in head:
                del buffers[sock]
                if head.startswith((b"HTTP/1.1 304 ", b"HTTP/1.0 304 ")):
                    idle.add(sock)
                else:
                    fail(sock)
    for sock in list(buffers):  # not answered within the timeout
        fail(sock)
    print(f"ready {len(idle)} {failed}", flush=True)
    sel.register(sys.stdin, selectors.EVENT_READ)
    while True:
        events = sel.select()
        if any(key.fileobj is sys.stdin for key, _ in events):
            if not sys.stdin.readline():
                break
        for key, _ in events:
            if key.fileobj is not sys.stdin:
                on_idle(key.fileobj)
    print(f"held {len(idle)} {closed} {failed}", flush=True)
    for key in list(sel.get_map().values()):
        key.fileobj.close()


def to_hugo(text):
    """feedsvc's +++ TOML front matter as hugo's: `published` becomes `date`."""
    if not text.startswith("+++\n"):
        raise HarnessError("article without +++ front matter")
    end = text.index("\n+++\n", 4)
    front = re.sub(r"^published\s*=", "date =", text[4:end], flags=re.M)
    return "+++\n" + front + text[end:]


HUGO_CONFIG = """# written by bench/harness.py: a theme-less site
baseURL = "http://127.0.0.1:8080/"
title = "Benchmark Dispatch"
languageCode = "en"
rssLimit = 20
disableKinds = ["sitemap", "robotsTXT", "404"]
[outputs]
home = ["HTML", "RSS"]
[taxonomies]
tag = "tags"
"""

HUGO_LAYOUTS = {
    "single.html": """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{{ .Title }} · {{ .Site.Title }}</title></head><body><article>
<h1>{{ .Title }}</h1><p>{{ .Params.summary }}</p>
<time datetime="{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}">{{ .Date.Format "2 January 2006" }}</time>
<ul>{{ range .Params.tags }}<li><a href="{{ "tags/" | relURL }}{{ . | urlize }}/">{{ . }}</a></li>{{ end }}</ul>
{{ .Content }}
{{ with .PrevInSection }}<a rel="prev" href="{{ .RelPermalink }}">{{ .Title }}</a>{{ end }}
{{ with .NextInSection }}<a rel="next" href="{{ .RelPermalink }}">{{ .Title }}</a>{{ end }}
</article></body></html>
""",
    "list.html": """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{{ .Title }} · {{ .Site.Title }}</title></head><body><h1>{{ .Title }}</h1><ul>
{{ range first 20 .Pages.ByDate.Reverse }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> {{ .Params.summary }}</li>{{ end }}
</ul></body></html>
""",
    "index.html": """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{{ .Site.Title }}</title>{{ with .OutputFormats.Get "rss" }}<link rel="alternate" type="application/rss+xml" href="{{ .RelPermalink }}">{{ end }}
</head><body><h1>{{ .Site.Title }}</h1><ul>
{{ range first 20 (where .Site.RegularPages "Type" "posts").ByDate.Reverse }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> {{ .Params.summary }}</li>{{ end }}
</ul></body></html>
""",
}


def main():
    if sys.argv[1:2] == ["--hold"]:
        port, n, etag = sys.argv[2:5]
        hold_connections(int(port), int(n), etag)
        return
    parser = argparse.ArgumentParser(description="feedsvc benchmark harness (run bench/run.sh)")
    parser.add_argument("--bin", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--pidfile")
    args = parser.parse_args()
    def on_term(*_):
        log("terminated: stopping the servers")
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    try:
        Bench(args).main()
    except HarnessError as e:
        log(f"error: {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
    except Exception:  # a bug of the harness: show where, exit as a harness error
        import traceback
        traceback.print_exc()
        sys.exit(2)


if __name__ == "__main__":
    main()
