#!/usr/bin/env python3
"""scripts/trace-view, rendered: writes a trace (aw_trace_tests' structure test, keeping its
file), draws it with trace-view, has headless Chromium screenshot the page, and checks that
the page is self-contained, names the expected tracks, and that the screenshot is not blank
but shows the colours of steps, waits and managers.

  view_test.py <aw_trace_tests> <scripts/trace-view> <work dir>

Exit status 77 (skipped) when chromium is not installed.
"""
import glob
import os
import shutil
import struct
import subprocess
import sys
import zlib


def read_png(path):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG format"
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def main():
    tests, view, work = sys.argv[1:4]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium is not installed: skipped")
        return 77
    os.makedirs(work, exist_ok=True)
    for old in glob.glob(os.path.join(work, "aw_trace_*")):
        os.remove(old)
    env = dict(os.environ, TMPDIR=work, AW_TRACE_KEEP="1")
    subprocess.run([tests, "--gtest_filter=Trace.TasksManagersAndWaitsNestAsTheCodeDoes"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    (trace,) = glob.glob(os.path.join(work, "aw_trace_*_structure.json"))
    page = os.path.join(work, "timeline.html")
    with open(page, "w") as f:
        subprocess.run([sys.executable, view, trace], stdout=f, check=True)
    text = open(page).read()
    failures = []
    for name in ("structured_program", "sleeper_child", "waiter_child", "named_manager", "aw::lock"):
        if name not in text:
            failures.append("the page does not name " + name)
    for outside in ("<script", "http://", "https://", "src=", "@import"):
        if outside in text.replace('xmlns="http://www.w3.org/2000/svg"', ""):
            failures.append("the page is not self-contained: " + outside)
    png = os.path.join(work, "timeline.png")
    if os.path.exists(png):
        os.remove(png)
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--screenshot=" + png,
                    "--window-size=1800,400", "file://" + os.path.abspath(page)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
    width, height, rows = read_png(png)
    counts = {}
    for row in rows:
        for px in row:
            counts[px] = counts.get(px, 0) + 1
    white = counts.get((255, 255, 255), 0)
    if white > 0.98 * width * height:
        failures.append("the screenshot is blank")
    for name, colour in (("step", (0x3b, 0x6f, 0xd4)), ("manager", (0x3f, 0x9e, 0x5a)), ("wait", (0xb9, 0xbe, 0xc7))):
        if counts.get(colour, 0) < 20:
            failures.append("the screenshot shows no %s slices (colour %s: %d pixels)" % (name, colour, counts.get(colour, 0)))
    # One grey band per track: the main task and its two children.
    band = (0xf4, 0xf5, 0xf7)
    column = [rows[y][5] for y in range(height)]
    bands = sum(1 for y in range(1, height) if column[y] == band and column[y - 1] != band)
    if bands < 3:
        failures.append("the screenshot shows %d track bands, not 3" % bands)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
