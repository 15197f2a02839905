#!/usr/bin/env python3
"""Times `feedsvc import` of a whole archive into a new database: a directory of N Markdown
articles (bench/generate.py) and a WordPress export of N posts (bench/generate_wxr.py).
Prints, for each, the median wall time and the largest peak RSS of --runs runs.

usage: bench/import.py FEEDSVC_BIN [--n 100000] [--runs 3] [--work DIR] [--only markdown|wordpress]
The generated sources are kept in --work and reused by the next run.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def config(work, name):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    text = open(os.path.join(REPO, "config.toml"), encoding="utf-8").read()
    lines = []
    for line in text.splitlines():
        if line.startswith("database ="):
            line = f'database = "{d}/feedsvc.db"'
        elif line.startswith("samples ="):
            line = 'samples = ""'
        lines.append(line)
    path = os.path.join(d, "config.toml")
    open(path, "w", encoding="utf-8").write("\n".join(lines) + "\n")
    return path


def timed(cmd):
    """Wall seconds and peak RSS (MB) of one run of cmd."""
    # The report lists every skipped item: files, not pipes, so that nothing waits on a reader.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        secs = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        out, err = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return secs, usage.ru_maxrss / 1024, out.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bin")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/feedsvc-import-bench")
    ap.add_argument("--only", choices=["markdown", "wordpress"], help="time one source only")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    markdown = os.path.join(args.work, f"markdown-{args.n}")
    wxr = os.path.join(args.work, f"wordpress-{args.n}.xml")
    if not os.path.isdir(markdown) or len(os.listdir(markdown)) != args.n:
        print(f"generating {args.n} Markdown articles", file=sys.stderr)
        shutil.rmtree(markdown, ignore_errors=True)
        subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), str(args.n), markdown], check=True)
    if not os.path.exists(wxr):
        print(f"generating a WordPress export of {args.n} posts", file=sys.stderr)
        subprocess.run([sys.executable, os.path.join(HERE, "generate_wxr.py"), str(args.n), wxr + ".part"],
                       check=True)
        os.rename(wxr + ".part", wxr)
    print(f"| source | articles | median | runs | peak RSS (largest) |")
    print(f"| --- | ---: | ---: | --- | ---: |")
    sources = [("Markdown directory", markdown), ("WordPress export (WXR 1.2)", wxr)]
    for label, source in [s for s in sources if args.only in (None, s[0].split()[0].lower())]:
        times, peaks = [], []
        for run in range(args.runs):
            cfg = config(args.work, "site")
            secs, peak, last = timed([args.bin, "--config", cfg, "import", source])
            if f"imported {args.n} articles" not in last:
                sys.exit(f"unexpected report: {last}")
            times.append(secs)
            peaks.append(peak)
            print(f"# {label} run {run + 1}: {secs:.1f} s, {peak:.0f} MB", file=sys.stderr)
        runs = ", ".join(f"{t:.1f}" for t in times)
        print(f"| {label} | {args.n:,} | {statistics.median(times):.1f} s | {runs} | {max(peaks):.0f} MB |")


if __name__ == "__main__":
    main()
