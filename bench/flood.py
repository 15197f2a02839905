#!/usr/bin/env python3
"""A flood of idle connections beside normal polls: feedsvc and nginx, the same bytes.

usage: python3 bench/flood.py [--bin target/release/feedsvc] [--conns 5000] [--seconds 30]
                             [--max-connections N]

For each server in turn: polls GET /atom.xml (Accept-Encoding: gzip, a new connection per poll,
as an aggregator does) for --seconds with nothing else running, then again while another
process holds --conns TCP connections that never send a byte and opens a new one for each the
server closes. With --max-connections below --conns, feedsvc sheds idle connections at its
limit to seat the polls. Reports each phase's poll latency (median, p99, max; connect to last byte),
failed polls, the flood's reconnects, and the server's resident memory (VmRSS, summed over
nginx's processes), sampled twice a second, at its peak. The sample articles of data/samples
are the site; nginx (Debian's, started on a temporary prefix with as many workers as feedsvc
has threads) serves the exact bytes feedsvc served.

Needs python3, nginx (apt-get install nginx) and a feedsvc binary (cargo build --release).
Prints a Markdown report. Only sends traffic to 127.0.0.1.
"""

import argparse
import http.client
import multiprocessing
import os
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def log(msg):
    print(f"flood: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"flood: nothing answered on port {port} within {timeout} s")


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def nginx_pids(master):
    pids = [master]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return pids


# --- the flood: a process holding N idle connections --------------------------------------------

def flood(port, n, held, reconnects, stop):
    sel = selectors.DefaultSelector()

    def open_one():
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_READ)

    for _ in range(n):
        open_one()
    count = 0
    while not stop.is_set():
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                open_one()
                count += 1
        held.value = len(sel.get_map())
        reconnects.value = count
    for key in list(sel.get_map().values()):
        key.fileobj.close()


# --- the poller ----------------------------------------------------------------------------------

def poll(port, seconds, interval=0.05):
    times, failures = [], 0
    end = time.time() + seconds
    while time.time() < end:
        start = time.perf_counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/atom.xml", headers={"Accept-Encoding": "gzip"})
            r = c.getresponse()
            r.read()
            c.close()
            if r.status != 200:
                failures += 1
            else:
                times.append((time.perf_counter() - start) * 1000)
        except OSError:
            failures += 1
        time.sleep(interval)
    return times, failures


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def phase(name, port, pids, seconds, conns):
    stop = multiprocessing.Event()
    held = multiprocessing.Value("i", 0)
    reconnects = multiprocessing.Value("i", 0)
    proc = None
    if conns:
        proc = multiprocessing.Process(target=flood, args=(port, conns, held, reconnects, stop))
        proc.start()
        deadline = time.time() + 30
        while held.value < conns * 0.95 and time.time() < deadline:
            time.sleep(0.1)
        log(f"{name}: the flood holds {held.value} connections")
    peak = [rss_kib(pids())]

    pool = multiprocessing.Pool(1)
    pending = pool.apply_async(poll, (port, seconds))
    while not pending.ready():
        peak.append(rss_kib(pids()))
        time.sleep(0.5)
    times, failures = pending.get()
    pool.close()
    held_end = held.value
    if proc:
        stop.set()
        proc.join(10)
    return {
        "server": name,
        "flood": conns,
        "held": held_end,
        "reconnects": reconnects.value,
        "polls": len(times) + failures,
        "failed": failures,
        "median": statistics.median(times) if times else float("nan"),
        "p99": percentile(times, 99),
        "max": max(times) if times else float("nan"),
        "rss_mib": max(peak) / 1024,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/feedsvc"))
    ap.add_argument("--conns", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--max-connections", type=int, default=0,
                    help="feedsvc's server.max_connections (default: its own default)")
    args = ap.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(args.bin):
        raise SystemExit(f"flood: no feedsvc binary at {args.bin} (cargo build --release)")
    if not os.path.exists(nginx):
        raise SystemExit("flood: nginx not found (apt-get install nginx)")
    work = tempfile.mkdtemp(prefix="feedsvc-flood-")
    procs = []
    try:
        port = free_port()
        with open(os.path.join(work, "config.toml"), "w") as f:
            f.write(f"""[site]
title = "Flood Wire"
base_url = "http://127.0.0.1:{port}/"
[server]
listen = "127.0.0.1:{port}"
log = "warn"
{f"max_connections = {args.max_connections}" if args.max_connections else ""}
[storage]
database = "data/feedsvc.db"
samples = "{os.path.join(ROOT, 'data/samples')}"
[admin]
listen = ""
""")
        os.makedirs(os.path.join(work, "data"))
        env = dict(os.environ, TOKIO_WORKER_THREADS=str(args.workers))
        fs = subprocess.Popen([args.bin, "--config", os.path.join(work, "config.toml"), "serve"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        procs.append(fs)
        body = wait_http(port, "/atom.xml")
        root = os.path.join(work, "www")
        os.makedirs(root)
        with open(os.path.join(root, "atom.xml"), "wb") as f:
            f.write(body)
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("GET", "/atom.xml", headers={"Accept-Encoding": "gzip"})
        gz = c.getresponse().read()
        with open(os.path.join(root, "atom.xml.gz"), "wb") as f:
            f.write(gz)

        nport = free_port()
        prefix = os.path.join(work, "nginx")
        os.makedirs(os.path.join(prefix, "logs"))
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""user root;
worker_processes {args.workers};
worker_rlimit_nofile 20000;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log error;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  sendfile on;
  tcp_nodelay on;
  types {{ application/atom+xml xml; }}
  gzip_static on;
  etag on;
  server {{
    listen 127.0.0.1:{nport} reuseport;
    root {root};
  }}
}}
""")
        ng = subprocess.Popen([nginx, "-p", prefix, "-e", f"{prefix}/logs/error.log", "-c", conf,
                               "-g", "daemon off;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(ng)
        wait_http(nport, "/atom.xml")
        log(f"feedsvc on {port}, nginx on {nport}; {args.conns} idle connections, "
            f"{args.seconds} s per phase")

        rows = []
        for name, p, pids in [("feedsvc", port, lambda: [fs.pid]),
                              ("nginx", nport, lambda: nginx_pids(ng.pid))]:
            for conns in (0, args.conns):
                row = phase(name, p, pids, args.seconds, conns)
                log(f"{row}")
                rows.append(row)
        print(f"| server | idle connections held | reconnects | polls | failed | median ms "
              f"| p99 ms | max ms | peak RSS MiB |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print(f"| {r['server']} | {r['held'] if r['flood'] else 0} | {r['reconnects']} "
                  f"| {r['polls']} | {r['failed']} | {r['median']:.2f} | {r['p99']:.2f} "
                  f"| {r['max']:.2f} | {r['rss_mib']:.1f} |")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
