#!/usr/bin/env python3
"""Screenshot checks for pages.sh.

  png_check.py FILE WIDTH [TITLE]
      Exit 0 when FILE is a PNG WIDTH pixels wide that is not blank and, when TITLE is given,
      in which Tesseract OCR reads at least 3/4 of TITLE's words of 3 or more letters, in
      order and close together (case and accents ignored; see `title_read`). Prints a one-line verdict. Exit 2 when the image is fine but
      the title was not read, 1 for anything else. Decodes the PNG with zlib alone (8-bit
      RGB/RGBA, any filter).
  png_check.py --ocr FILE TITLE
      The title check alone, on any screenshot (exit 0 read, 2 not read, 1 OCR failed).
  png_check.py --absent FILE WORD
      Exit 0 when Tesseract OCR reads WORD nowhere in FILE (case and accents ignored), 2 when
      it reads it, 1 when OCR failed: what the browser must not show, such as its own banner.
  png_check.py --h1 HTML_FILE
      Prints the text of the page's first <h1> (the title a reader sees); exit 1 when none.
"""
import html.parser
import re
import shutil
import struct
import subprocess
import sys
import unicodedata
import zlib

TITLE_NOT_READ = 2
WORD_READ = 2


def rows(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color = header[:4]
    if depth != 8 or color not in (2, 6):
        raise ValueError(f"unsupported PNG (depth {depth}, colour type {color})")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    out = []
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for x in range(stride):
            a = cur[x - bpp] if x >= bpp else 0
            b = previous[x]
            c = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                cur[x] = (cur[x] + a) & 255
            elif kind == 2:
                cur[x] = (cur[x] + b) & 255
            elif kind == 3:
                cur[x] = (cur[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[x] = (cur[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(bytes(cur))
        previous = cur
    return width, height, bpp, out


class FirstH1(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth, self.done, self.parts = 0, False, []

    def handle_starttag(self, tag, attrs):
        if tag == "h1" and not self.done:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "h1" and self.depth:
            self.depth -= 1
            self.done = self.depth == 0

    def handle_data(self, data):
        if self.depth and not self.done:
            self.parts.append(data)


def first_h1(path):
    parser = FirstH1()
    with open(path, encoding="utf-8", errors="replace") as f:
        parser.feed(f.read())
    return " ".join("".join(parser.parts).split())


def words(text, min_len=1):
    """Lower-case words of letters, accents dropped."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return [w for w in re.findall(r"[^\W\d_]+", plain.lower()) if len(w) >= min_len]


def in_order(wanted, seen):
    """Length of the longest common subsequence of two word lists."""
    row = [0] * (len(seen) + 1)
    for w in wanted:
        diag = 0
        for j, s in enumerate(seen, 1):
            diag, row[j] = row[j], diag + 1 if w == s else max(row[j], row[j - 1])
    return row[-1]


def ocr_text(path):
    """What Tesseract reads in the image at `path`."""
    if not shutil.which("tesseract"):
        raise RuntimeError("tesseract is not installed")
    r = subprocess.run(["tesseract", path, "stdout", "-l", "eng"], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"tesseract exit status {r.returncode}: {r.stderr.strip()[:300]}")
    return r.stdout


def title_read(path, title):
    """(ok, detail): whether Tesseract reads most of the title's words, in the title's order and
    close together: at least 3/4 of its words of 3+ letters must appear in order within a run
    of OCR words not much longer than the title. Words scattered over the page (a body that
    repeats the title's words) do not count."""
    wanted = words(title, 3)
    if len(wanted) < 2:
        raise RuntimeError(f"title {title!r} has too few words of 3+ letters to check")
    ocr = words(ocr_text(path), 3)
    span = len(wanted) + max(2, len(wanted) // 4)
    best, at = 0, 0
    for i in range(max(1, len(ocr) - span + 1)):
        n = in_order(wanted, ocr[i:i + span])
        if n > best:
            best, at = n, i
    ok = 4 * best >= 3 * len(wanted)
    detail = f"OCR read {best}/{len(wanted)} title words in order"
    if best < len(wanted):
        detail += f" (closest run of OCR words: {' '.join(ocr[at:at + span])!r})"
    return ok, detail


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--h1":
        title = first_h1(sys.argv[2])
        if not title:
            print(f"{sys.argv[2]}: no <h1> with text")
            return 1
        print(title)
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--ocr":
        try:
            ok, detail = title_read(sys.argv[2], sys.argv[3])
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"OCR failed: {e}")
            return 1
        print(f"{detail} of {sys.argv[3]!r}")
        return 0 if ok else TITLE_NOT_READ
    if len(sys.argv) == 4 and sys.argv[1] == "--absent":
        wanted = words(sys.argv[3])
        if len(wanted) != 1:
            print(f"--absent takes one word, not {sys.argv[3]!r}")
            return 1
        try:
            text = ocr_text(sys.argv[2])
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"OCR failed: {e}")
            return 1
        read = words(text)
        if wanted[0] in read:
            line = next(l for l in text.splitlines() if wanted[0] in words(l))
            print(f"OCR read {sys.argv[3]!r} in {line.strip()[:200]!r}")
            return WORD_READ
        print(f"OCR read {len(read)} words, none of them {sys.argv[3]!r}")
        return 0
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip())
        return 1
    path, want_width = sys.argv[1], int(sys.argv[2])
    title = sys.argv[3] if len(sys.argv) == 4 else None
    try:
        width, height, bpp, lines = rows(path)
    except (OSError, ValueError, zlib.error, TypeError, struct.error) as e:
        print(f"{path}: {e}")
        return 1
    if width != want_width:
        print(f"{width} px wide, expected {want_width}")
        return 1
    background = lines[0][:bpp]
    inked = sum(1 for line in lines for x in range(0, len(line), bpp) if line[x:x + bpp] != background)
    share = inked / (width * height)
    distinct_rows = len(set(lines))
    verdict = f"{width}x{height}, {share:.1%} of pixels differ from the background, {distinct_rows} distinct rows"
    if not (share > 0.02 and distinct_rows > 50):
        print(verdict + ": blank")
        return 1
    if title is None:
        print(verdict)
        return 0
    try:
        ok, detail = title_read(path, title)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"{verdict}; OCR failed: {e}")
        return 1
    print(f"{verdict}; {detail} of {title!r}")
    return 0 if ok else TITLE_NOT_READ


if __name__ == "__main__":
    sys.exit(main())
