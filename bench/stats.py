#!/usr/bin/env python3
"""What counting polls costs: the serve benchmark's 304 scenario against two feedsvc servers side
by side, one with `[stats] enabled = true`, one with `enabled = false`. Release binary, loopback
only.

usage: python3 bench/stats.py [--bin target/release/feedsvc] [--articles 1000] [--rounds 5]
                              [--seconds 6] [--agents 5000] [--flush-secs 1] [--keep]
                              [--out bench/results/stats.md]

Both servers serve their own copy of one database (`feedsvc import` of --articles generated
articles, bench/generate.py, as the serve benchmark does; base URL http://127.0.0.1:8080/), with
`[server] log = "warn"` (no access log), `[admin] listen = ""`, TOKIO_WORKER_THREADS = nproc
(the serve benchmark's default), and the counting server with `flush_secs = --flush-secs`
(default 1: counts are written to SQLite every second while wrk runs, the costliest setting;
`--flush-secs 3600` leaves the writes out of the runs, the counts then reach SQLite when the
server stops: that tells the cost of counting each request from that of the periodic commits).

wrk (-t2 -c64 --latency) asks for `/atom.xml` with `Accept-Encoding: gzip` and `If-None-Match`
with the gzip ETag, as the serve benchmark's 304 scenario does, so every answer is a 304.
Two scenarios:
  304           no User-Agent (as the serve benchmark): one poller a day for the counter;
  304-agents    a wrk Lua script sends --agents distinct User-Agents in turn (reader-like names,
                one in ten in Feedly's and Inoreader's formats reporting a count), so the
                poller map and the User-Agent parser see thousands of pollers.
Each scenario runs --rounds rounds of --seconds per server after a 1 s warm-up of each, the
order alternating (on, off, off, on, ...) so that drift hits both alike. Reported per scenario:
median req/s and median p99 of each server, the ratio of the medians (on/off), every round's
rate, and as the noise the spread of each server's own rounds ((max - min) / median). After the
runs both servers are stopped (SIGTERM: the counting one writes its last counts) and
`feedsvc stats --json` of each database shows what was counted: the counting server's /atom.xml
requests must equal wrk's total plus the probes (give or take the requests in flight when wrk
stops), all but one probe 304, and the other database must hold none.

Needs python3, wrk and curl. Prints a Markdown report on stdout (progress on stderr) and writes
it to --out (with a .json of raw numbers beside it; --out '' writes nothing). Exits 2 when the
harness fails (a server not starting, an answer that is not a 304, wrk failing, the counts not
adding up), never because of the ratio. About 2.5 minutes with the defaults.
"""
import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from harness import (HarnessError, free_port, median, parse_wrk, percentile,  # noqa: E402
                     run, site_config)
SERVERS = ("on", "off")

AGENTS_LUA = r"""
-- Rotates through AGENTS distinct User-Agents, each thread from its own offset; the other
-- headers (-H) are kept. The requests are formatted once, in init.
local agents = AGENTS
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local requests = {}
local i = 0

function init(args)
  for k = 1, agents do
    local ua
    if k % 10 == 0 then
      ua = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; " .. k .. " subscribers; )"
    elseif k % 10 == 5 then
      ua = "Mozilla/5.0 (compatible; inoreader.com; " .. k .. " subscribers)"
    else
      ua = "BenchReader/" .. (k % 97) .. "." .. k .. " (Linux x86_64; +http://reader.invalid/)"
    end
    wrk.headers["User-Agent"] = ua
    requests[k] = wrk.format()
  end
  i = (tid or 0) * math.floor(agents / 2)
end

function request()
  i = i % agents + 1
  return requests[i]
end
"""


def log(msg):
    print(f"stats-bench: {msg}", file=sys.stderr, flush=True)


def config(site_dir, enabled, flush_secs):
    path = os.path.join(site_dir, "config.toml")
    with open(path, "w") as f:
        f.write(site_config("bench/stats.py", f"""[stats]
enabled = {"true" if enabled else "false"}
flush_secs = {flush_secs}
"""))
    return path


class Server:
    def __init__(self, name, bin_path, cfg, workers):
        self.name = name
        self.cfg = cfg
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        d = os.path.dirname(cfg)
        self.out = open(os.path.join(d, "serve.out"), "w+")
        self.err = open(os.path.join(d, "serve.err"), "w+")
        env = dict(os.environ, TOKIO_WORKER_THREADS=str(workers))
        env.pop("RUST_LOG", None)
        self.proc = subprocess.Popen([bin_path, "--config", cfg, "serve", "--listen",
                                      f"127.0.0.1:{self.port}"],
                                     stdout=self.out, stderr=self.err, env=env)
        deadline = time.time() + 300
        while time.time() < deadline:
            self.out.seek(0)
            if "feedsvc listening on http://" in self.out.read():
                return
            if self.proc.poll() is not None:
                raise HarnessError(f"feedsvc serve ({name}) exited with {self.proc.returncode}: "
                                   f"{self.log_tail()}")
            time.sleep(0.05)
        raise HarnessError(f"feedsvc serve ({name}) did not print its listening line")

    def log_tail(self):
        self.err.seek(0)
        return self.err.read()[-2000:]

    def alive(self):
        if self.proc.poll() is not None:
            raise HarnessError(f"feedsvc serve ({self.name}) died with {self.proc.returncode}: "
                               f"{self.log_tail()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: pid {self.proc.pid} did not stop in 30 s; killing it")
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def curl(url, headers=()):
    """(status, ETag) of a GET, the body dropped."""
    argv = ["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
            "%{http_code} %header{etag}"]
    for h in headers:
        argv += ["-H", h]
    out = run(argv + [url], timeout=30).stdout.strip()
    status, _, etag = out.partition(" ")
    return int(status), etag


def wrk(url, headers, seconds, threads, connections, script=None, label=""):
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", script]
    argv.append(url)
    proc = run(argv, timeout=seconds + 60)
    result = parse_wrk(proc.stdout, proc.stderr, label)
    if result["non_2xx_3xx"] or result["socket_errors"]:
        raise HarnessError(f"{label}: {result['non_2xx_3xx']} non-2xx/3xx answers, "
                           f"{result['socket_errors']} socket errors:\n{proc.stdout}")
    return result, argv


def counted(bin_path, cfg):
    """/atom.xml in `feedsvc stats --json --days 2`: (requests, not_modified, pollers)."""
    out = run([bin_path, "--config", cfg, "stats", "--json", "--days", "2"], timeout=60).stdout
    report = json.loads(out)
    for feed in report.get("feeds", []):
        if feed["path"] == "/atom.xml":
            return feed["requests"], feed["not_modified"], feed["pollers"]
    return 0, 0, 0


def spread(xs):
    return (max(xs) - min(xs)) / statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/feedsvc"))
    ap.add_argument("--articles", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--agents", type=int, default=5000)
    ap.add_argument("--flush-secs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "stats.md"),
                    help="report path ('' for none); raw numbers go to a .json beside it")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        raise HarnessError(f"no feedsvc binary at {args.bin} (cargo build --release)")
    for tool in ("wrk", "curl"):
        if not shutil.which(tool):
            raise HarnessError(f"{tool} not found (apt-get install {tool})")
    started = time.time()
    load_before = os.getloadavg()
    work = tempfile.mkdtemp(prefix="feedsvc-stats-bench.")
    servers = {}
    try:
        # one database, copied for each server
        src = os.path.join(work, "articles")
        log(f"generating and importing {args.articles} articles")
        run([sys.executable, os.path.join(HERE, "generate.py"), str(args.articles), src])
        seed = os.path.join(work, "seed")
        os.makedirs(seed)
        cfg = config(seed, False, args.flush_secs)
        t = time.perf_counter()
        run([args.bin, "--config", cfg, "import", src], timeout=3600)
        log(f"imported in {time.perf_counter() - t:.1f} s")
        for name in SERVERS:
            d = os.path.join(work, name)
            os.makedirs(d)
            with sqlite3.connect(os.path.join(seed, "feedsvc.db")) as a, \
                    sqlite3.connect(os.path.join(d, "feedsvc.db")) as b:
                a.backup(b)
            servers[name] = Server(name, args.bin, config(d, name == "on", args.flush_secs),
                                   args.workers)
        # probes: the gzip ETag, and a 304 to it
        etags = {}
        probes = {}
        for name, srv in servers.items():
            status, etag = curl(f"{srv.base}/atom.xml", ["Accept-Encoding: gzip"])
            if status != 200 or not etag:
                raise HarnessError(f"{name}: /atom.xml answered {status} with ETag {etag!r}")
            status, _ = curl(f"{srv.base}/atom.xml",
                             ["Accept-Encoding: gzip", f"If-None-Match: {etag}"])
            if status != 304:
                raise HarnessError(f"{name}: If-None-Match {etag} answered {status}, not 304")
            etags[name] = etag
            probes[name] = (2, 1)  # (requests, of them 304)
        if etags["on"] != etags["off"]:
            raise HarnessError(f"the two servers' ETags differ: {etags}")
        script = os.path.join(work, "agents.lua")
        with open(script, "w") as f:
            f.write(AGENTS_LUA.replace("AGENTS", str(args.agents)))
        scenarios = [("304", None), ("304-agents", script)]
        runs = {}
        commands = {}
        wrk_total = {name: 0 for name in SERVERS}
        wrk_runs = 0
        for key, scr in scenarios:
            for rnd in range(args.rounds):
                order = SERVERS if rnd % 2 == 0 else tuple(reversed(SERVERS))
                for name in order:
                    srv = servers[name]
                    headers = ["Accept-Encoding: gzip", f"If-None-Match: {etags[name]}"]
                    url = f"{srv.base}/atom.xml"
                    if rnd == 0:
                        warm, _ = wrk(url, headers, 1, args.threads, args.connections, scr,
                                      f"warm-up {key} {name}")
                        wrk_total[name] += warm["requests"] or 0
                        wrk_runs += 1
                    log(f"{key} round {rnd + 1}/{args.rounds}: counting {name}")
                    r, argv = wrk(url, headers, args.seconds, args.threads, args.connections,
                                  scr, f"{key} {name}")
                    srv.alive()
                    wrk_total[name] += r["requests"] or 0
                    wrk_runs += 1
                    runs.setdefault(key, {}).setdefault(name, []).append(r)
                    commands.setdefault(key, {})[name] = shlex.join(
                        [a if a != script else "agents.lua" for a in argv])
        for name, srv in servers.items():
            rc = srv.stop()
            if rc != 0:
                raise HarnessError(f"{name}: feedsvc serve exited with {rc} on SIGTERM: "
                                   f"{srv.log_tail()}")
            tail = srv.log_tail().strip()
            if tail:
                log(f"{name}: the server logged: {tail[-500:]}")
        # what was counted
        count = {name: counted(args.bin, servers[name].cfg) for name in SERVERS}
        # wrk counts the answers it read; when it stops, each connection may have a request
        # in flight that the server answered (and counted) all the same.
        want = wrk_total["on"] + probes["on"][0]
        slack = args.connections * wrk_runs // 2
        req, nm, pollers = count["on"]
        if not want <= req <= want + slack or req - nm != probes["on"][0] - probes["on"][1]:
            raise HarnessError(f"the counting server counted {req} requests ({nm} 304) on "
                               f"/atom.xml; wrk and the probes read {want} answers (and at most "
                               f"{slack} more may have been in flight), all 304 but "
                               f"{probes['on'][0] - probes['on'][1]}")
        if count["off"][0] != 0:
            raise HarnessError(f"the server with stats.enabled = false counted {count['off']}")

        table = []
        for key, _ in scenarios:
            row = {"key": key}
            for name in SERVERS:
                rs = runs[key][name]
                rps = [r["rps"] for r in rs]
                row[name] = {"rps": median(rps), "p99_ms": median([r["p99_ms"] for r in rs]),
                             "rps_all": rps, "p99_all": [r["p99_ms"] for r in rs],
                             "spread": spread(rps), "p90_rps": percentile(rps, 90)}
            row["ratio"] = row["on"]["rps"] / row["off"]["rps"]
            row["round_ratios"] = [a["rps"] / b["rps"]
                                   for a, b in zip(runs[key]["on"], runs[key]["off"])]
            table.append(row)
        result = {
            "settings": vars(args) | {"out": args.out},
            "machine": {"nproc": os.cpu_count(), "kernel": platform.release(),
                        "load_before": load_before, "load_after": os.getloadavg(),
                        "python": platform.python_version(),
                        "wrk": run(["wrk", "-v"], check=False).stdout.splitlines()[0:1],
                        "feedsvc": run([args.bin, "--version"], check=False).stdout.strip()},
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "table": table, "commands": commands,
            "counted": {"on": {"requests": req, "not_modified": nm, "pollers": pollers},
                        "wrk_and_probes": want},
            "raw": {k: {n: [r["raw"] for r in v] for n, v in by.items()}
                    for k, by in runs.items()},
            "elapsed_s": time.time() - started,
        }
        text = report(result, args)
        print(text, flush=True)
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as f:
                f.write(text + "\n")
            with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
                json.dump(result, f, indent=1, default=str)
            log(f"report written to {args.out}")
        log(f"{result['elapsed_s'] / 60:.1f} minutes")
    finally:
        for srv in servers.values():
            try:
                srv.stop()
            except Exception as e:  # keep stopping the other
                log(f"stopping {srv.name}: {e}")
        if args.keep:
            log(f"scratch directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(r, args):
    L = []
    w = L.append
    m = r["machine"]
    w("# Counting polls: 304 throughput with `[stats] enabled` on and off")
    w("")
    w(f"{r['date']}, {m['nproc']} cores, Linux {m['kernel']}, {m['feedsvc']}. Two release "
      f"servers side by side on copies of one database of {args.articles:,} generated "
      f"articles, TOKIO_WORKER_THREADS={args.workers}; the counting one with "
      f"`flush_secs = {args.flush_secs}`. wrk -t{args.threads} -c{args.connections} "
      f"(`Accept-Encoding: gzip`, `If-None-Match` with the gzip ETag: every answer a 304), "
      f"{args.rounds} rounds of {args.seconds} s per server and scenario, alternating "
      f"(on, off, off, on, ...), after a 1 s warm-up. wrk and both servers share the cores; "
      f"the load average (1 min) was {m['load_before'][0]:.2f} before the run and "
      f"{m['load_after'][0]:.2f} after it (work outside the benchmark raises it).")
    w("")
    w("| scenario | on: req/s (median) | off: req/s (median) | on/off | on: p99 | off: p99 |"
      " noise (spread of rounds, on / off) |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in r["table"]:
        title = ("304, no User-Agent" if row["key"] == "304"
                 else f"304, {args.agents:,} User-Agents in turn")
        w(f"| {title} | {row['on']['rps']:,.0f} | {row['off']['rps']:,.0f} | "
          f"**{row['ratio']:.3f}** | {row['on']['p99_ms']:.2f} ms | {row['off']['p99_ms']:.2f} ms"
          f" | {row['on']['spread'] * 100:.1f}% / {row['off']['spread'] * 100:.1f}% |")
    w("")
    for row in r["table"]:
        w(f"- {row['key']}: on " + ", ".join(f"{x:,.0f}" for x in row["on"]["rps_all"])
          + "; off " + ", ".join(f"{x:,.0f}" for x in row["off"]["rps_all"])
          + "; on/off by round " + ", ".join(f"{x:.3f}" for x in row["round_ratios"]) + ".")
    c = r["counted"]
    w("")
    w(f"Counted by the server with counting on (`feedsvc stats --json`, /atom.xml): "
      f"{c['on']['requests']:,} requests, {c['on']['not_modified']:,} answered 304, "
      f"{c['on']['pollers']:,} pollers; wrk and the probes read {c['wrk_and_probes']:,} "
      f"answers (wrk does not count the requests in flight when it stops). "
      f"The server with counting off counted none.")
    w("")
    w("How it was run:")
    w("")
    w("```sh")
    w(f"python3 bench/stats.py --articles {args.articles} --rounds {args.rounds} "
      f"--seconds {args.seconds} --agents {args.agents} --flush-secs {args.flush_secs}")
    for key, by in r["commands"].items():
        for name, cmd in by.items():
            w(f"{cmd}   # {key}, counting {name}")
    w("```")
    return "\n".join(L)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # through main's `finally`
    try:
        main()
    except HarnessError as e:
        log(f"error: {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
