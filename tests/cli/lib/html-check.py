# tests/cli/lib/html-check.py - checks an HTML report of kbisect (bisect or analyze) in
# headless Chromium: where its key regions are (a copy of the page with a script that
# writes their boxes into the DOM, read with --dump-dom), a screenshot at a fixed window
# width, and what those regions of the screenshot show: not blank, the bars of the
# timeline drawn in their colours where the DOM puts them, the legends' colours, the
# verdict badge. Optionally saves a region's pixels or compares them with a saved one
# (a replayed bisection must draw the same timeline as the run that made the evidence).
# Python 3 standard library only (tests/cli/lib/png.py reads the screenshot).
#
# usage: html-check.py BROWSER PAGE WORKDIR [--kind bisect|analyze] [--workers K]
#                      [--save NAME=FILE] [--compare NAME=FILE] [--builds yes|no]
# --builds no: the timeline shows tests only (every kernel came from the cache, built by
# a run that left no journal, e.g. one aborted with a second Ctrl-C)
# Prints what it found; exits 1 with the reason on the first failed check.
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import png  # noqa: E402

WIDTH = 1280
GEOM_SCRIPT = r"""
<script>
(function () {
  function box(el) {
    var r = el.getBoundingClientRect();
    return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height};
  }
  var out = {regions: {}, bars: [], swatches: {}, height: document.documentElement.scrollHeight};
  ["result", "culprit", "timeline", "timeline-legend", "mass", "mass-legend", "evidence",
   "run-legend", "candidates"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) out.regions[id] = box(el);
  });
  document.querySelectorAll("#timeline rect[class], #mass rect[class]").forEach(function (r) {
    var b = box(r);
    b.fill = r.getAttribute("fill"); b.cls = r.getAttribute("class");
    b.svg = r.ownerSVGElement.id;
    out.bars.push(b);
  });
  ["timeline-legend", "mass-legend", "run-legend"].forEach(function (id) {
    var l = [];
    document.querySelectorAll("#" + id + " .sw").forEach(function (s) {
      var b = box(s); b.bg = getComputedStyle(s).backgroundColor; l.push(b);
    });
    out.swatches[id] = l;
  });
  var pre = document.createElement("pre");
  pre.id = "kbgeom";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def fail(msg):
    print("html-check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def chrome(browser, workdir, *args):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", "--force-device-scale-factor=1", "--disable-extensions",
           "--user-data-dir=" + os.path.join(workdir, "chrome-profile")] + list(args)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=90)
    if p.returncode != 0:
        fail("chromium %s: exit %d: %s" % (" ".join(args[:1]), p.returncode,
                                             p.stderr.decode(errors="replace")[-800:]))
    return p.stdout.decode(errors="replace")


def hexrgb(s):
    s = s.strip()
    if s.startswith("#") and len(s) == 7:
        return tuple(int(s[i:i + 2], 16) for i in (1, 3, 5))
    m = re.match(r"rgba?\((\d+),\s*(\d+),\s*(\d+)", s)
    return tuple(int(v) for v in m.groups()) if m else None


def near(a, b, tol=24):
    return a is not None and b is not None and all(abs(x - y) <= tol for x, y in zip(a, b))


def region_pixels(img, r, pad=0):
    return list(img.region(r["x"] - pad, r["y"] - pad, r["x"] + r["w"] + pad,
                           r["y"] + r["h"] + pad))


def has_colour(pixels, rgb, min_count=4):
    return sum(1 for p in pixels if near(p, rgb, 12)) >= min_count


def main():
    args = sys.argv[1:]
    if len(args) < 3:
        fail("usage: html-check.py BROWSER PAGE WORKDIR [options]")
    browser, page, workdir = args[:3]
    opts = {"--kind": "bisect", "--workers": None, "--save": [], "--compare": [], "--builds": "yes"}
    i = 3
    while i < len(args):
        if args[i] in ("--save", "--compare"):
            opts[args[i]].append(args[i + 1])
        else:
            opts[args[i]] = args[i + 1]
        i += 2
    os.makedirs(workdir, exist_ok=True)
    # 1. the regions' boxes: a copy of the page next to it, with the script at the end
    text = open(page, encoding="utf-8").read()
    if "<script" in text.lower():
        fail("the report has a script: it must be a static page")
    m = re.search(r'\bsrc="?(https?:[^" >]*)', text)
    if m:
        fail("the report loads %s (reports must work offline)" % m.group(1))
    if re.search(r"<(link|img|iframe)\b", text, re.I) or "@import" in text or "url(http" in text:
        fail("the report loads external resources")
    geom_page = os.path.join(os.path.dirname(os.path.abspath(page)), ".kbgeom-" +
                             os.path.basename(page))
    open(geom_page, "w", encoding="utf-8").write(text.replace("</body>", GEOM_SCRIPT + "</body>"))
    try:
        dom = chrome(browser, workdir, "--window-size=%d,1200" % WIDTH, "--dump-dom",
                     "file://" + geom_page)
    finally:
        os.unlink(geom_page)
    m = re.search(r'<pre id="kbgeom">(.*?)</pre>', dom, re.S)
    if not m:
        fail("no geometry from the page (did chromium run the script?)")
    import html as htmlmod
    g = json.loads(htmlmod.unescape(m.group(1)))
    want = ["result", "evidence", "run-legend"]
    if opts["--kind"] == "bisect":
        want += ["timeline", "timeline-legend", "mass", "mass-legend"]
    for rid in want:
        if rid not in g["regions"] or g["regions"][rid]["w"] < 10 or g["regions"][rid]["h"] < 5:
            fail("region #%s missing or empty: %s" % (rid, g["regions"].get(rid)))
    # 2. a screenshot tall enough for them
    bottom = max(r["y"] + r["h"] for k, r in g["regions"].items() if k in want) + 16
    height = int(min(max(bottom, 600), 6000))
    shot = os.path.join(workdir, os.path.basename(page) + ".png")
    chrome(browser, workdir, "--window-size=%d,%d" % (WIDTH, height), "--screenshot=" + shot,
           "file://" + os.path.abspath(page))
    img = png.read(shot)
    if img.width != WIDTH:
        fail("screenshot is %d px wide, want %d" % (img.width, WIDTH))
    # 3. the result: the verdict badge in colour
    res = region_pixels(img, g["regions"]["result"])
    if not (has_colour(res, (0x2e, 0x7d, 0x32), 40) or has_colour(res, (0xc6, 0x28, 0x28), 40)):
        fail("no verdict badge (green or red) in the result region")
    print("result region %dx%d: badge drawn" % (g["regions"]["result"]["w"],
                                                 g["regions"]["result"]["h"]))
    # 4. the legends: every swatch in its colour
    for lid, sws in g["swatches"].items():
        if lid not in g["regions"]:
            continue
        if len(sws) < 3:
            fail("legend #%s has %d entries" % (lid, len(sws)))
        drawn = 0
        for s in sws:
            rgb = hexrgb(s["bg"])
            if rgb is None:  # a pattern (hatched): not a single colour
                continue
            cx, cy = int(s["x"] + s["w"] / 2), int(s["y"] + s["h"] / 2)
            if near(img.pixel(cx, cy), rgb, 12):
                drawn += 1
        if drawn < len(sws) - 1:
            fail("legend #%s: %d of %d swatches show their colour" % (lid, drawn, len(sws)))
        print("legend #%s: %d entries, %d in colour" % (lid, len(sws), drawn))
    if opts["--kind"] == "bisect":
        # 5. the timeline: not blank, and every bar in its colour where the DOM says
        tl = g["regions"]["timeline"]
        pix = region_pixels(img, tl)
        inked = sum(1 for p in pix if not near(p, (255, 255, 255), 6) and
                    not near(p, (0xf5, 0xf5, 0xf5), 6))
        share = inked / max(1, len(pix))
        if share < 0.15:
            fail("timeline region is mostly blank (%.0f%% drawn)" % (100 * share))
        bars = [b for b in g["bars"] if b["svg"] == "timeline"]
        ok = checked = 0
        rows = set()
        for b in bars:
            rows.add(round(b["y"]))
            if b["w"] < 4 or b["h"] < 4:
                continue
            checked += 1
            if near(img.pixel(int(b["x"] + b["w"] / 2), int(b["y"] + b["h"] / 2)), hexrgb(b["fill"])):
                ok += 1
        if not checked or ok < 0.95 * checked:
            fail("timeline: %d of %d bars show their colour in the screenshot" % (ok, checked))
        classes = {b["cls"] for b in bars}
        if (opts["--builds"] == "yes" and "b" not in classes) or not classes & {"x", "t"}:
            fail("timeline lacks builds or tests: classes %s" % sorted(classes))
        if opts["--workers"] and len(rows) != int(opts["--workers"]):
            fail("timeline has %d rows of bars, want %s (one per worker)" % (len(rows), opts["--workers"]))
        span = tl["w"]
        xs = [b["x"] + b["w"] for b in bars]
        if max(xs) - tl["x"] < 0.5 * span:
            fail("timeline bars end at %.0f of %.0f px: the time axis is off" % (max(xs) - tl["x"], span))
        print("timeline %dx%d: %.0f%% drawn, %d bars (%d checked in colour), %d rows, classes %s"
              % (tl["w"], tl["h"], 100 * share, len(bars), checked, len(rows), "".join(sorted(classes))))
        # 6. the mass per round: at least three commit colours
        mass = region_pixels(img, g["regions"]["mass"])
        palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
        seen = [c for c in palette if has_colour(mass, hexrgb(c), 20)]
        if len(seen) < 2:
            fail("mass chart shows %d commit colours" % len(seen))
        print("mass chart: %d commit colours" % len(seen))
    # 7. save or compare regions (pixels of the region's own box)
    for spec in opts["--save"] + opts["--compare"]:
        name, path = spec.split("=", 1)
        r = g["regions"][name]
        data = [img.rows[y][int(r["x"]) * img.bpp:int(r["x"] + r["w"]) * img.bpp]
                for y in range(int(r["y"]), int(r["y"] + r["h"]))]
        blob = {"w": int(r["w"]), "h": len(data), "rows": [bytes(d).hex() for d in data]}
        if spec in opts["--save"]:
            json.dump(blob, open(path, "w"))
            print("saved region #%s (%dx%d)" % (name, blob["w"], blob["h"]))
        else:
            old = json.load(open(path))
            if (old["w"], old["h"]) != (blob["w"], blob["h"]):
                fail("region #%s is %dx%d, was %dx%d" % (name, blob["w"], blob["h"], old["w"], old["h"]))
            diff = sum(1 for a, b in zip(old["rows"], blob["rows"]) if a != b)
            if diff > max(1, blob["h"] // 50):
                fail("region #%s differs from the saved one in %d of %d pixel rows" % (name, diff, blob["h"]))
            print("region #%s matches the saved one (%d of %d rows differ)" % (name, diff, blob["h"]))
    print("ok")


main()
