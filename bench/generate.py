#!/usr/bin/env python3
"""Writes N realistic world-news articles (3-5 KB of Markdown with TOML front matter and tags)
into a directory, for loading with `feedsvc import DIR` and for benchmarks.

usage: generate.py N OUTDIR [--start 2018-01-01] [--seed 1]
Articles are spread evenly over time from --start, one slug per article, deterministic per seed.
"""
import argparse
import datetime as dt
import os
import random

CITIES = ["GENEVA", "SEOUL", "ABIDJAN", "LIMA", "NAIROBI", "JAKARTA", "OSLO", "SANTIAGO",
          "CAIRO", "HANOI", "BOGOTÁ", "TBILISI", "DAKAR", "MANILA", "QUITO", "ACCRA"]
TAGS = ["Diplomacy", "Trade", "Climate", "North Korea", "Europe", "Asia", "Africa", "Americas",
        "Économie", "Côte d'Ivoire", "Health", "Energy", "Elections", "Migration", "Fisheries",
        "Shipping", "Agriculture", "Technology", "Security", "Culture"]
WORDS = ("officials delegates ministers negotiators agreed talks framework quota coastal "
         "regional cooperative harvest shipping insurers hotline ceasefire envoy summit "
         "parliament budget reform tariff market growers season forecast drought rainfall "
         "survey commission statement agency pressure monitors observers").split()
OFFSETS = ["+00:00", "+02:00", "-05:00", "+09:00", "+05:30", "-03:00", "Z"]


def sentence(rng, n=None):
    n = n or rng.randint(12, 24)
    words = [rng.choice(WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def paragraph(rng):
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 5)))


def article(i, when, rng):
    city = rng.choice(CITIES)
    title = f"{sentence(rng, rng.randint(6, 10))[:-1]} ({i})"
    tags = rng.sample(TAGS, rng.randint(1, 4))
    offset = rng.choice(OFFSETS)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + offset
    body = [f"**{city}** — {paragraph(rng)}", paragraph(rng), f"## {sentence(rng, 4)[:-1]}",
            paragraph(rng), f"> “{sentence(rng)}”\n>\n> — A. Spokesperson, {rng.choice(WORDS)} office",
            paragraph(rng), f"## {sentence(rng, 3)[:-1]}", paragraph(rng), paragraph(rng)]
    front = (f'+++\ntitle = "{title}"\nslug = "story-{i:06d}"\npublished = "{stamp}"\n'
             f'summary = "{sentence(rng)}"\ntags = [{", ".join(chr(34) + t + chr(34) for t in tags)}]\n+++\n')
    return front + "\n\n".join(body) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("outdir")
    parser.add_argument("--start", default="2018-01-01")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.outdir, exist_ok=True)
    start = dt.datetime.fromisoformat(args.start)
    end = dt.datetime(2026, 11, 1)
    step = (end - start) / max(args.n, 1)
    for i in range(args.n):
        with open(os.path.join(args.outdir, f"story-{i:06d}.md"), "w", encoding="utf-8") as f:
            f.write(article(i, start + step * i, rng))


if __name__ == "__main__":
    main()
