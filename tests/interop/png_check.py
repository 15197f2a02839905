#!/usr/bin/env python3
"""png_check.py FILE WIDTH: exit 0 when FILE is a PNG WIDTH pixels wide that is not blank,
printing a one-line verdict. Decodes the PNG with zlib alone (8-bit RGB/RGBA, any filter)."""
import struct
import sys
import zlib


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


def main():
    path, want_width = sys.argv[1], int(sys.argv[2])
    try:
        width, height, bpp, lines = rows(path)
    except (OSError, ValueError, zlib.error, TypeError) as e:
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
    print(verdict)
    return 0 if share > 0.02 and distinct_rows > 50 else 1


if __name__ == "__main__":
    sys.exit(main())
