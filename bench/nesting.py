#!/usr/bin/env python3
"""Times `feedsvc add` on bodies of pathological nesting, each in a fresh site.

Usage: cargo build --release && python3 bench/nesting.py [target/release/feedsvc]
Prints a Markdown table for RELIABILITY.md: the shape, the body's size, the depth as written
(the number of nested openings; Markdown may read fewer: links cannot hold links), the wall
time and the CPU time (user + system) of the `add`, and its outcome. The machine is shared:
CPU time is the steadier figure.
"""
import os
import resource
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/feedsvc"
SIZE = 1_000_000  # bytes of body: just under max_article_bytes (1 MiB)
# Bodies within the nesting limits are sized to render to just under
# render::markdown::MAX_UNSANITIZED_BYTES (750,000), the most the sanitizer is given.
NEAR_CAP = 740_000
LIMIT = 64  # render::nesting::MAX_DEPTH
FORMATTING = 16  # render::nesting::MAX_FORMATTING

CONFIG = """[site]
title = "Figures"
base_url = "http://wire.test/"
description = "Nesting figures"
[server]
listen = "127.0.0.1:0"
[storage]
database = "data/feedsvc.db"
samples = ""
[admin]
listen = ""
"""


def fill(unit, size=SIZE):
    """`unit` repeated to about `size` bytes."""
    return unit * (size // len(unit))


def nested(open_, close="", middle="x"):
    """`open_` then `close` repeated to fill the body, around `middle`."""
    n = SIZE // (len(open_) + len(close))
    return open_ * n + middle + close * n, n


def shapes():
    yield "`- ` (list in list)", *nested("- ")
    yield "`>` (block quote in block quote)", *nested(">")
    yield "`> ` on lines of growing depth", "\n".join(
        "> " * i + "x" for i in range(1, 1000)), 999
    yield "`<ul>`", *nested("<ul>")
    yield "`<div>`", *nested("<div>")
    yield "`<div>` closed", *nested("<div>", "</div>")
    yield "`*a ` … ` a*` (emphasis)", *nested("*a ", " a*")
    yield "`*` (one run)", fill("*"), 1
    yield "`[` (open brackets)", fill("["), 1
    yield "`[` … `](u)` (links)", *nested("[", "](u)")
    yield "`<table><tr><td>`", *nested("<table><tr><td>")
    yield "`<b><i>`", *nested("<b><i>")
    yield "`<b id=N>` (distinct formatting)", "".join(
        f'<b id="{i}">' for i in range(SIZE // 14)), SIZE // 14
    yield f"`- `×{LIMIT} x, repeated", fill("- " * LIMIT + "x\n\n"), LIMIT
    yield f"`>`×{LIMIT} x, repeated", fill(">" * LIMIT + "x\n\n"), LIMIT
    yield f"`<div>`×{LIMIT} closed, repeated", fill(
        "<div>" * LIMIT + "x" + "</div>" * LIMIT + "\n", NEAR_CAP), LIMIT
    half = FORMATTING // 2
    yield f"`<b><i>`×{half} closed, repeated", fill(
        "<b><i>" * half + "x" + "</i></b>" * half + "\n", NEAR_CAP), FORMATTING
    yield f"`<span>`×{LIMIT} closed, repeated", fill(
        "<span>" * LIMIT + "x" + "</span>" * LIMIT + "\n", NEAR_CAP), LIMIT
    yield f"`<div>`×{LIMIT - 1} left open, then paragraphs", "<div>" * (LIMIT - 1) + "\n\n" + fill(
        "a *b* c\n\n", NEAR_CAP * 9 // 22), LIMIT - 1
    for count in (LIMIT - 1, FORMATTING):
        yield f"`<p>` `<b id=N>`×{count} `</p>` (reopened in each paragraph), then paragraphs", (
            "<p>" + "".join(f'<b id="{i}">' for i in range(count)) + "</p>\n\n"
            + fill("x\n\n", NEAR_CAP // 3)), count
    # Shapes known to make Markdown parsers slow (pulldown-cmark stays linear on them).
    yield "`1. ` (ordered list in ordered list)", *nested("1. ")
    yield "`![` … `](u)` (images)", *nested("![", "](u)")
    yield "`<a ` never closed", fill("<a "), 1
    yield "`<!--` never closed", fill("x <!-- "), 1
    yield "`[a](` never closed", fill("[a]("), 1
    yield "`[a]` references, one definition", fill("[a] ") + "\n\n[a]: https://example.org/\n", 1
    yield "backtick runs of growing length", "".join("`" * i + "a" for i in range(1, 1400)), 1
    yield "`*a **a ***a _b __b` mixed runs", fill("*a **a ***a _b __b "), 1
    yield "`~~a` runs", fill("~~a "), 1
    yield "table of 50,000 columns", "|" + "a|" * 50_000 + "\n|" + "-|" * 50_000 + "\n" + (
        "|" + "b|" * 50_000 + "\n") * 8, 1
    for size in (SIZE, 320_000, 180_000):
        yield "ordinary paragraphs and lists", fill(
            "A *short* paragraph with a [link](https://example.org/).\n\n"
            "- one\n  - two\n    > quoted **text**\n\n", size), 4


def run(name, body, depth):
    with tempfile.TemporaryDirectory() as site:
        os.mkdir(os.path.join(site, "data"))
        with open(os.path.join(site, "config.toml"), "w") as f:
            f.write(CONFIG)
        article = os.path.join(site, "a.md")
        with open(article, "w") as f:
            f.write('+++\ntitle = "Deep"\nslug = "deep"\npublished = "2026-09-14T08:30:00Z"\n'
                    "+++\n\n" + body + "\n")
        # Create the database first, so only the add is timed.
        subprocess.run([BIN, "--config", os.path.join(site, "config.toml"), "list"],
                       capture_output=True, check=True)
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        try:
            done = subprocess.run(
                [BIN, "--config", os.path.join(site, "config.toml"), "add", article],
                capture_output=True, text=True, timeout=120)
            seconds = f"{time.monotonic() - start:.2f}"
            cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (cpu_after.ru_utime - cpu_before.ru_utime
                   + cpu_after.ru_stime - cpu_before.ru_stime)
            seconds += f" | {cpu:.2f}"
            if done.returncode == 0:
                outcome = "accepted"
            else:
                outcome = "refused: " + done.stderr.strip().split(": ", 2)[-1][:48] + "…"
        except subprocess.TimeoutExpired:
            seconds, outcome = "> 120 | ?", "killed"
    print(f"| {name} | {len(body):,} | {depth:,} | {seconds} | {outcome} |", flush=True)


print("| input shape | body bytes | depth written | wall s | CPU s | outcome |")
print("|---|---:|---:|---:|---:|---|")
for shape in shapes():
    run(*shape)
