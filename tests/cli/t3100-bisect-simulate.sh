#!/usr/bin/env bash
# tests/cli/t3100-bisect-simulate.sh - `kbisect bisect --simulate`: finds the simulated
# culprit, text / --json / --html output, the log, and usage errors (exit 129).
# kb-test-labels: unit
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$KBISECT" bisect --help | grep -q -- "--simulate" || fail "help"

# text: the culprit, its probability, and the simulated truth agree
"$KBISECT" bisect --simulate --commits 800 --q 0.5 --seed 7 >"$tmp/out" 2>"$tmp/log"
grep -Eq "^culprit: c[0-9]* \(probability (0\.99|> 0\.9999)" "$tmp/out" || fail "text: $(cat "$tmp/out")"
grep -q "(found)" "$tmp/out" || fail "wrong culprit: $(cat "$tmp/out")"
grep -q "^testing commit c" "$tmp/log" || fail "log"
grep -q "^run #0: " "$tmp/log" || fail "log runs"
grep -q "^posterior after round 2:" "$tmp/log" || fail "log posterior"
grep -q "^round [0-9]*: [0-9]* candidates left, top c" "$tmp/log" || fail "progress line"

# json: binding fields, and a merge-heavy history with 4 workers
"$KBISECT" bisect --simulate --commits 1500 --shape merges --workers 4 --q 0.2 --seed 3 \
	--json --html "$tmp/r.html" --log "$tmp/log2" >"$tmp/j"
python3 - "$tmp/j" <<'PY' || fail "json: $(head -c 600 "$tmp/j")"
import json, sys
o = json.load(open(sys.argv[1]))
for k in ("culprit", "probability", "candidates", "flags", "tested", "seconds"):
    assert k in o, k
assert o["culprit"] and o["probability"] >= 0.99
assert o["candidates"][0]["commit"] == o["culprit"]
assert "flaky" in o["flags"]
assert len(o["tested"]) > 3 and o["seconds"] > 0
assert max(t["worker"] for t in o["timeline"]) == 3
PY
grep -q 'id="timeline"' "$tmp/r.html" || fail "html timeline"
grep -q "^testing commit" "$tmp/log2" || fail "--log file"

# usage errors
for args in "--workers 0" "--confidence 1.5" "--shape spiral" "--bogus" "--q 0"; do
	set +e
	"$KBISECT" bisect --simulate $args >/dev/null 2>"$tmp/err"; rc=$?
	set -e
	[ $rc -eq 129 ] || fail "'$args' exit $rc"
done
set +e
"$KBISECT" bisect --repo . >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 129 ] || fail "missing options exit $rc"
grep -q "need --repo, --bad" "$tmp/err" || fail "missing options message"
echo ok
