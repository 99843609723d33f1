#!/usr/bin/env bash
# tests/cli/t3102-bisect-html.sh - the HTML reports of `kbisect bisect --html` and
# `kbisect analyze --html` (one template) opened in headless Chromium: the DOM has the
# crash title, the culprit with its link (--commit-url, or commit-url in the config
# file), the evidence per tested commit with a bar per test and a segment per run, the
# timeline (a row per worker, axis, legend) and the mass per round with its legend;
# screenshots at a fixed width show those regions drawn (tests/cli/lib/html-check.py:
# not blank, every timeline bar in its colour where the DOM puts it, legend colours,
# verdict badge). Bad --commit-url patterns are refused. A --fix report speaks of the
# fix ("no fix in the range"), not of a culprit. The real bisection's report
# (consoles, times of a replay) is checked in t3101.
# kb-test-labels: integration
# kb-test-timeout: 240
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
	echo "no chromium (scripts/install-deps.sh installs it): skipping" >&2
	exit 0
fi
check="$src/tests/cli/lib/html-check.py"

# the commit URL from the config file when --commit-url is not given
export KBISECT_CONFIG="$tmp/config"
echo "commit-url = https://git.example.org/linux/commit/?id=%s" >"$KBISECT_CONFIG"
"$KBISECT" bisect --simulate --commits 1200 --workers 4 --q 0.5 --seed 11 \
	--html "$tmp/report.html" --json --log /dev/null >"$tmp/out"
culprit=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["culprit"])' "$tmp/out")

"$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
	--user-data-dir="$tmp/profile" --dump-dom "file://$tmp/report.html" \
	>"$tmp/dom.html" 2>"$tmp/chrome.err" || fail "chromium: $(tail -5 "$tmp/chrome.err")"
python3 - "$tmp/dom.html" "$culprit" "$tmp/out" <<'PY' || fail "dom"
import html.parser, json, sys
dom, culprit, res = open(sys.argv[1]).read(), sys.argv[2], json.load(open(sys.argv[3]))
class P(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.rects = {}; s.ids = {}; s.cur = None
        s.links = []; s.segs = 0; s.rows = 0; s.legend = {}
    def handle_starttag(s, tag, a):
        a = dict(a)
        if "id" in a: s.ids[a["id"]] = ""; s.cur = a["id"]
        if tag == "svg": s.stack.append(a.get("id"))
        if tag == "rect" and s.stack and a.get("class"): s.rects.setdefault(s.stack[-1], []).append(a)
        if tag == "a" and "href" in a: s.links.append(a["href"])
        if "seg" in (a.get("class") or "").split(): s.segs += 1
        if tag == "tr": s.rows += 1
    def handle_endtag(s, tag):
        if tag == "svg": s.stack.pop()
    def handle_data(s, d):
        if s.cur: s.ids[s.cur] += d
p = P(); p.feed(dom)
for i in ("result", "crash", "culprit", "rates", "flags", "candidates", "evidence", "run-legend",
          "timeline", "timeline-legend", "mass", "mass-legend"):
    assert i in p.ids, ("missing", i, sorted(p.ids))
assert "general protection fault in vmx_vcpu_run" in p.ids["crash"], p.ids["crash"]
assert culprit in p.ids["culprit"] and "FOUND" in p.ids["culprit"], p.ids["culprit"]
assert "flaky" in p.ids["flags"] or not res["flags"], (p.ids["flags"], res["flags"])
assert "https://git.example.org/linux/commit/?id=" + culprit in p.links, p.links[:5]
# a segment per run of every test
assert p.segs == res["test_runs"], (p.segs, res["test_runs"])
tl = p.rects["timeline"]
assert len(tl) >= 2 * len(res["mass_per_round"]), len(tl)
assert len({r["y"] for r in tl}) == 4, "one row per worker"
assert any(r["class"] == "x" for r in tl)        # tests with the target crash
assert len(p.rects["mass"]) >= len(res["mass_per_round"])
for w in ("build", "test with the target crash", "test without it"):
    assert w in p.ids["timeline-legend"], p.ids["timeline-legend"]
assert culprit in p.ids["mass-legend"], p.ids["mass-legend"]
PY
python3 "$check" "$browser" "$tmp/report.html" "$tmp/shots" --workers 4 || fail "screenshot of the bisect report"

# --commit-url wins over the config file; bad patterns are refused before any work
"$KBISECT" bisect --simulate --commits 200 --seed 3 --html "$tmp/r2.html" \
	--commit-url 'https://git.kernel.org/torvalds/c/%s' --log /dev/null >/dev/null
grep -q 'href="https://git.kernel.org/torvalds/c/c0' "$tmp/r2.html" || fail "--commit-url links"
for bad in 'https://x/c' 'https://x/%s/%s' 'https://x/%d' 'javascript:%s'; do
	set +e
	"$KBISECT" bisect --simulate --commits 50 --html "$tmp/r3.html" --commit-url "$bad" \
		--log /dev/null >/dev/null 2>"$tmp/err"
	rc=$?
	set -e
	[ $rc -ne 0 ] || fail "--commit-url '$bad' accepted"
	grep -q "commit-url" "$tmp/err" || fail "--commit-url '$bad': $(cat "$tmp/err")"
	[ ! -e "$tmp/r3.html" ] || fail "a report was written with --commit-url '$bad'"
done
echo "commit-url = not a url" >"$KBISECT_CONFIG"
set +e
"$KBISECT" bisect --simulate --commits 50 --html "$tmp/r3.html" --log /dev/null >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "$KBISECT_CONFIG" "$tmp/err" || fail "bad commit-url in the config: rc $rc, $(cat "$tmp/err")"
rm -f "$KBISECT_CONFIG"

# --fix: the page speaks of a fix (the mass chart's hatched part is "no fix in the
# range"), never of a culprit (a release flag needs a real repository: bisect/engine_html)
"$KBISECT" bisect --simulate --fix --commits 300 --seed 5 --html "$tmp/fix.html" --json \
	--log /dev/null >"$tmp/fix.json"
grep -q "no fix in the range" "$tmp/fix.html" || fail "--fix report: no 'no fix in the range'"
grep -q "culprit in the range" "$tmp/fix.html" && fail "--fix report speaks of a culprit"
grep -q "fix found\|no single fix" "$tmp/fix.html" || fail "--fix report heading"

# analyze: the same template (result, evidence with per-run bars, legend, links)
"$KBISECT" analyze --html "$tmp/an.html" --commit-url 'https://git.kernel.org/torvalds/c/%s' \
	"$src/tests/data/logs/seed-vmx_vcpu_run.log" >/dev/null
for want in 'id=result' 'id=evidence' 'id=run-legend' 'NOT SUPPORTED' \
	'href="https://git.kernel.org/torvalds/c/167dcfc0' "class='seg target'" \
	'general protection fault in vmx_vcpu_run'; do
	grep -qF "$want" "$tmp/an.html" || fail "analyze page: no $want"
done
python3 "$check" "$browser" "$tmp/an.html" "$tmp/shots" --kind analyze || fail "screenshot of the analyze page"
echo ok
