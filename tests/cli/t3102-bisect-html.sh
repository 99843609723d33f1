#!/usr/bin/env bash
# tests/cli/t3102-bisect-html.sh - the --html report of `kbisect bisect` opened in
# headless Chromium: the DOM has the culprit, the per-worker timeline (a rect per build
# and test, one row per worker) and the mass per round; a screenshot renders.
# kb-test-labels: integration
# kb-test-timeout: 180
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
	echo "no chromium (scripts/install-deps.sh installs it): skipping" >&2
	exit 0
fi

"$KBISECT" bisect --simulate --commits 1200 --workers 4 --q 0.5 --seed 11 \
	--html "$tmp/report.html" --json --log /dev/null >"$tmp/out"
culprit=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["culprit"])' "$tmp/out")
rounds=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["mass_per_round"]))' "$tmp/out")

chrome() { timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
	--user-data-dir="$tmp/profile" "$@" 2>>"$tmp/chrome.err"; }
chrome --dump-dom "file://$tmp/report.html" >"$tmp/dom.html" || fail "chromium: $(tail -5 "$tmp/chrome.err")"
python3 - "$tmp/dom.html" "$culprit" "$rounds" <<'PY' || fail "dom"
import sys, html.parser
dom, culprit, rounds = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3])
class P(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.rects = {}; s.texts = []; s.ids = set()
    def handle_starttag(s, tag, a):
        a = dict(a)
        if "id" in a: s.ids.add(a["id"])
        if tag == "svg": s.stack.append(a.get("id"))
        if tag == "rect" and s.stack: s.rects.setdefault(s.stack[-1], []).append(a)
    def handle_endtag(s, tag):
        if tag == "svg": s.stack.pop()
    def handle_data(s, d): s.texts.append(d)
p = P(); p.feed(dom)
assert {"culprit", "timeline", "mass", "evidence", "candidates"} <= p.ids, p.ids
assert culprit in "".join(p.texts), "culprit not shown"
tl = p.rects.get("timeline", [])
assert len(tl) >= 2 * rounds, len(tl)            # builds and tests
assert len({r["y"] for r in tl}) == 4, "one row per worker"
assert any(r.get("class") == "x" for r in tl)   # tests with the target crash
assert len(p.rects.get("mass", [])) >= rounds
PY
chrome --screenshot="$tmp/shot.png" --window-size=1100,900 "file://$tmp/report.html" \
	>/dev/null || fail "screenshot: $(tail -5 "$tmp/chrome.err")"
[ "$(stat -c %s "$tmp/shot.png")" -gt 10000 ] || fail "empty screenshot"
echo ok
