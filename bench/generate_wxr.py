#!/usr/bin/env python3
"""Writes a WordPress export (WXR 1.2) of N realistic world-news posts into one file, for
`feedsvc import FILE` and its benchmark: HTML bodies with headings, quotations and images,
categories and tags, two authors, a comment on every tenth post, a draft and a page every 50.

usage: generate_wxr.py N OUT.xml [--start 2018-01-01] [--seed 1]
"""
import argparse
import datetime as dt
import random
from xml.sax.saxutils import escape

from generate import CITIES, TAGS, paragraph, sentence

HEAD = """<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
  xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wfw="http://wellformedweb.org/CommentAPI/"
  xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>Harbour Wire</title><link>https://wire.example.org</link>
  <description>World news</description><language>en-GB</language>
  <wp:wxr_version>1.2</wp:wxr_version>
  <wp:base_site_url>https://wire.example.org</wp:base_site_url>
  <wp:author><wp:author_id>1</wp:author_id><wp:author_login><![CDATA[amina]]></wp:author_login><wp:author_display_name><![CDATA[Amina Diallo]]></wp:author_display_name></wp:author>
  <wp:author><wp:author_id>2</wp:author_id><wp:author_login><![CDATA[jonas]]></wp:author_login><wp:author_display_name><![CDATA[Jonas Berg]]></wp:author_display_name></wp:author>
"""


def slug(text):
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-").replace("--", "-")


def post(i, when, rng, kind="post", status="publish"):
    title = f"{sentence(rng, rng.randint(6, 10))[:-1]} ({i})"
    name = f"story-{i:06d}"
    offset = dt.timedelta(hours=rng.choice([0, 1, 2, -5, 9]))
    local = when + offset
    tags = rng.sample(TAGS, rng.randint(1, 4))
    body = (f"<p><strong>{rng.choice(CITIES)}</strong> — {paragraph(rng)}</p>\n"
            f"<p>{paragraph(rng)}</p>\n<h2>{sentence(rng, 4)[:-1]}</h2>\n<p>{paragraph(rng)}</p>\n"
            f"<blockquote><p>“{sentence(rng)}”</p><p>— A. Spokesperson</p></blockquote>\n"
            f"<p><img src=\"/wp-content/uploads/{when:%Y/%m}/{name}.jpg\" alt=\"Harbour\"></p>\n"
            f"<p>{paragraph(rng)} &amp; {paragraph(rng)}</p>\n<h2>{sentence(rng, 3)[:-1]}</h2>\n"
            f"<p>{paragraph(rng)}</p>")
    cats = "".join(
        f'<category domain="{"category" if n == 0 else "post_tag"}" nicename="{slug(t)}"><![CDATA[{t}]]></category>'
        for n, t in enumerate(tags))
    comment = ""
    if i % 10 == 0:
        comment = (f"<wp:comment><wp:comment_id>{i}</wp:comment_id><wp:comment_author><![CDATA[Reader]]>"
                   f"</wp:comment_author><wp:comment_content><![CDATA[{sentence(rng)}]]></wp:comment_content>"
                   f"<wp:comment_approved>1</wp:comment_approved></wp:comment>")
    return f"""  <item>
    <title>{escape(title)}</title>
    <link>https://wire.example.org/{local:%Y/%m/%d}/{name}/</link>
    <pubDate>{when:%a, %d %b %Y %H:%M:%S} +0000</pubDate>
    <dc:creator><![CDATA[{rng.choice(["amina", "jonas"])}]]></dc:creator>
    <guid isPermaLink="false">https://wire.example.org/?p={i + 1}</guid>
    <description></description>
    <content:encoded><![CDATA[{body}]]></content:encoded>
    <excerpt:encoded><![CDATA[{sentence(rng)}]]></excerpt:encoded>
    <wp:post_id>{i + 1}</wp:post_id>
    <wp:post_date><![CDATA[{local:%Y-%m-%d %H:%M:%S}]]></wp:post_date>
    <wp:post_date_gmt><![CDATA[{when:%Y-%m-%d %H:%M:%S}]]></wp:post_date_gmt>
    <wp:post_name><![CDATA[{name}]]></wp:post_name>
    <wp:status><![CDATA[{status}]]></wp:status>
    <wp:post_type><![CDATA[{kind}]]></wp:post_type>
    {cats}{comment}
  </item>
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("out")
    parser.add_argument("--start", default="2018-01-01")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = dt.datetime.fromisoformat(args.start)
    step = (dt.datetime(2026, 11, 1) - start) / max(args.n, 1)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(HEAD)
        for i in range(args.n):
            f.write(post(i, start + step * i, rng))
            if i % 50 == 49:
                f.write(post(args.n + i, start + step * i, rng, status="draft"))
                f.write(post(2 * args.n + i, start + step * i, rng, kind="page"))
        f.write("</channel>\n</rss>\n")


if __name__ == "__main__":
    main()
