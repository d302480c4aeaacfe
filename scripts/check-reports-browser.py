#!/usr/bin/env python3
"""check-reports-browser.py: renders every committed report.html in headless Chromium (Debian's
`chromium`) and fails on what a reader would trip over:
  - a console error or a failed load while the page renders;
  - an image that does not load (every plot is an inlined SVG: it must decode, with a size);
  - a page wider than a 1280 px window (tables that run off the side);
  - unreadable text: page text below 12 px, plot text below 10 px (the SVG's own font sizes),
    overlapping tick labels or key entries inside a plot (text boxes estimated from the SVG:
    position, font size, anchor, rotation);
and writes a PNG of each page (--png-dir) for a human to look at.

A page not written by this renderer (no `generator` meta tag "attnscope report (document model)":
published before the one-model reports) fails as LEGACY — regenerate it from its database — or,
with --allow-legacy, is listed as NOT CHECKED (never as passed).

Usage: python3 scripts/check-reports-browser.py [--png-dir DIR] [--only GLOB] [--allow-legacy] [REPORT.html ...]
  default: every reports/**/report.html tracked by git. Exit 0 when every page passes, 1 when one
  fails (each problem printed), 3 when Chromium is missing: the check then reports SKIPPED, never
  passed. Chromium runs with a fresh --user-data-dir, no network, no GPU, nothing from the page
  ever reaches a shell (argument vectors only).
"""
import argparse
import base64
import fnmatch
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio"]
MIN_PAGE_PX = 12.0   # body text and table cells
MIN_PLOT_PX = 10.0   # text inside a plot (ticks, keys), in the SVG's own pixels at its natural size
SVG_NS = "{http://www.w3.org/2000/svg}"

# Appended to a copy of the page: after load, it checks every image and the computed font size of
# every element holding text, and writes the verdict into the DOM (read back with --dump-dom).
CHECK_SCRIPT = """
<script>
window.addEventListener('load', function () {
  var problems = [];
  var imgs = document.images;
  for (var i = 0; i < imgs.length; ++i) {
    var im = imgs[i];
    if (!im.complete || im.naturalWidth === 0 || im.naturalHeight === 0)
      problems.push('image ' + i + ' (' + (im.alt || '').slice(0, 60) + ') did not load');
  }
  // Wider than the window: the reader scrolls sideways (or a screenshot cuts the table off).
  var wide = document.documentElement.scrollWidth;
  if (wide > window.innerWidth + 1) problems.push('page is ' + wide + 'px wide in a ' + window.innerWidth + 'px window');
  var all = document.body.getElementsByTagName('*');
  for (var j = 0; j < all.length; ++j) {
    var el = all[j];
    if (el.id === 'attnscope-check') continue;
    var own = '';
    for (var c = el.firstChild; c; c = c.nextSibling) if (c.nodeType === 3) own += c.textContent;
    if (!own.trim()) continue;
    var px = parseFloat(getComputedStyle(el).fontSize);
    if (px < MIN_PX) problems.push('text of <' + el.tagName.toLowerCase() + '> at ' + px + 'px: "' + own.trim().slice(0, 40) + '"');
  }
  var out = document.createElement('pre');
  out.id = 'attnscope-check';
  out.textContent = 'IMAGES ' + imgs.length + '\\n' + problems.join('\\n');
  document.body.appendChild(out);
});
</script>
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(binary, profile, args, timeout=120):
    cmd = [binary] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"] + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def console_errors(stderr):
    """Console errors and failed loads Chromium logged while rendering the page."""
    bad = []
    for line in stderr.splitlines():
        if "CONSOLE" in line and ("ERROR" in line or "Uncaught" in line):
            bad.append(line.strip())
        elif "net::ERR_" in line and "favicon" not in line:
            bad.append(line.strip())
    return bad


def svg_text_boxes(svg_bytes):
    """(text, x0, y0, x1, y1, font px, rotated) of every <text> of a gnuplot SVG, in its pixels."""
    root = ET.fromstring(svg_bytes)
    boxes = []

    def walk(node, fx, fy, font_px, rotated):
        transform = node.get("transform", "")
        m = re.search(r"translate\(\s*([-\d.]+)\s*[, ]\s*([-\d.]+)\s*\)", transform)
        if m:
            fx, fy = fx + float(m.group(1)), fy + float(m.group(2))
        if re.search(r"rotate\(\s*-?[1-9]", transform):
            rotated = True
        style = node.get("style", "") + ";" + ("font-size:" + node.get("font-size") if node.get("font-size") else "")
        fm = re.search(r"font-size:\s*([\d.]+)", style)
        if fm:
            font_px = float(fm.group(1))
        if node.tag == SVG_NS + "text":
            text = "".join(node.itertext()).strip()
            if text:
                anchor = node.get("text-anchor") or (re.search(r"text-anchor:\s*(\w+)", style) or [None, "start"])[1]
                x = fx + float(node.get("x", 0) or 0)
                y = fy + float(node.get("y", 0) or 0)
                width = 0.58 * font_px * len(text)
                x0 = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
                boxes.append((text, x0, y - 0.8 * font_px, x0 + width, y + 0.2 * font_px, font_px, rotated))
            return
        for child in node:
            walk(child, fx, fy, font_px, rotated)

    walk(root, 0.0, 0.0, 12.0, False)
    return boxes


def check_svg(svg_bytes, where):
    problems = []
    try:
        boxes = svg_text_boxes(svg_bytes)
    except ET.ParseError as e:
        return ["%s: the plot is not valid SVG (%s)" % (where, e)]
    for text, x0, y0, x1, y1, px, rotated in boxes:
        if px < MIN_PLOT_PX:
            problems.append("%s: plot text '%s' at %.1f px" % (where, text[:40], px))
    flat = [b for b in boxes if not b[6]]
    for i in range(len(flat)):
        for j in range(i + 1, len(flat)):
            a, b = flat[i], flat[j]
            ox = min(a[3], b[3]) - max(a[1], b[1])
            oy = min(a[4], b[4]) - max(a[2], b[2])
            # Overlap of more than a third of the smaller box in both directions: unreadable.
            if ox > 0.34 * min(a[3] - a[1], b[3] - b[1]) and oy > 0.34 * min(a[4] - a[2], b[4] - b[2]):
                problems.append("%s: labels overlap: '%s' and '%s'" % (where, a[0][:30], b[0][:30]))
    return problems


def check_page(binary, html_path, png_path):
    problems = []
    with open(html_path, "rb") as f:
        page = f.read().decode("utf-8", errors="replace")
    # Plots first: they are inlined images, decoded here from the page itself.
    for k, m in enumerate(re.finditer(r'<img alt="([^"]*)" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)):
        try:
            svg = base64.b64decode(m.group(2), validate=True)
        except Exception:
            problems.append("image %d (%s): not valid base64" % (k, m.group(1)[:50]))
            continue
        problems += check_svg(svg, "plot %d (%s)" % (k, m.group(1)[:60]))
    with tempfile.TemporaryDirectory(prefix="attnscope-browser-") as tmp:
        probe = os.path.join(tmp, "page.html")
        script = CHECK_SCRIPT.replace("MIN_PX", str(MIN_PAGE_PX))
        with open(probe, "w", encoding="utf-8") as f:
            f.write(page.replace("</body>", script + "</body>") if "</body>" in page else page + script)
        profile = os.path.join(tmp, "profile")
        dom = run_chromium(binary, profile, ["--dump-dom", "--virtual-time-budget=5000", "--window-size=1280,2400", "file://" + probe])
        problems += ["console: " + e for e in console_errors(dom.stderr)]
        m = re.search(r'<pre id="attnscope-check">(.*?)</pre>', dom.stdout, re.S)
        if not m:
            problems.append("the page did not finish loading in Chromium (exit %d): %s" % (dom.returncode, dom.stderr[-300:]))
        else:
            lines = m.group(1).split("\n")
            problems += [l for l in lines[1:] if l.strip()]
        if png_path:
            os.makedirs(os.path.dirname(png_path) or ".", exist_ok=True)
            shot = run_chromium(binary, os.path.join(tmp, "profile2"),
                                ["--screenshot=" + os.path.abspath(png_path), "--window-size=1280,2400",
                                 "file://" + os.path.abspath(html_path)])
            if not os.path.exists(png_path):
                problems.append("no screenshot (exit %d): %s" % (shot.returncode, shot.stderr[-300:]))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pages", nargs="*")
    ap.add_argument("--png-dir", default="")
    ap.add_argument("--only", default="*")
    ap.add_argument("--allow-legacy", action="store_true")
    args = ap.parse_args()
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True).stdout.strip() or "."
    pages = args.pages or [os.path.join(root, p) for p in subprocess.run(
        ["git", "-C", root, "ls-files", "*report.html"], capture_output=True, text=True).stdout.split()]
    pages = [p for p in pages if fnmatch.fnmatch(p, args.only)]
    binary = chromium()
    if not binary:
        print("check-reports-browser: SKIPPED: no chromium on PATH (apt-get install chromium); %d page(s) NOT checked"
              % len(pages))
        return 3
    if not pages:
        print("check-reports-browser: FAIL: no report.html to check")
        return 1
    failed = legacy = 0
    for page in pages:
        rel = os.path.relpath(page, root)
        with open(page, "rb") as f:
            head = f.read(4096).decode("utf-8", errors="replace")
        if 'content="attnscope report (document model)"' not in head:
            legacy += 1
            if args.allow_legacy:
                print("NOT CHECKED %s (legacy renderer: regenerate it with `attnscope report` from its database)" % rel)
            else:
                print("FAIL %s: LEGACY (not written by the one-model renderer: regenerate it from its database)" % rel)
                failed += 1
            continue
        png = os.path.join(args.png_dir, rel.replace(os.sep, "__").replace(".html", ".png")) if args.png_dir else ""
        problems = check_page(binary, page, png)
        print("%s %s%s" % ("FAIL" if problems else "ok  ", rel, (" -> " + png) if png else ""))
        for p in problems[:40]:
            print("    " + p)
        if len(problems) > 40:
            print("    ... %d more" % (len(problems) - 40))
        failed += bool(problems)
    print("check-reports-browser: %d page(s), %d failed, %d legacy%s" % (
        len(pages), failed, legacy, " (not checked)" if args.allow_legacy and legacy else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
