#!/usr/bin/env bash
# tests/cli/t3100-bisect-simulate.sh - `kbisect bisect --simulate`: finds the simulated
# culprit, text / --json / --html output, the log, and usage errors (exit 129).
# kb-test-labels: unit
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$KBISECT" bisect --help | grep -- "--simulate" >/dev/null || fail "help"

# text: the culprit, its probability, and the simulated truth agree
"$KBISECT" bisect --simulate --commits 800 --q 0.5 --seed 7 >"$tmp/out" 2>"$tmp/log"
grep -Eq "^culprit: c[0-9]* \(probability (0\.99|> 0\.9999)" "$tmp/out" || fail "text: $(cat "$tmp/out")"
grep -q "(found)" "$tmp/out" || fail "wrong culprit: $(cat "$tmp/out")"
grep -q "^testing commit c" "$tmp/log" || fail "log"
grep -q "^run #0: " "$tmp/log" || fail "log runs"
grep -q "^posterior after round 2:" "$tmp/log" || fail "log posterior"
grep -q "^round [0-9]*: [0-9]* candidates left, top c" "$tmp/log" || fail "progress line"
# the log in syzbot's bisect.txt shape: verdicts, the culprit, signatures, totals
culprit=$(sed -n 's/^culprit: \(c[0-9]*\) .*/\1/p' "$tmp/out")
grep -q "^bisecting cause commit starting from c" "$tmp/log" || fail "log start"
grep -q "^# git bisect start c" "$tmp/log" || fail "log: git bisect start"
grep -q "^# git bisect good c" "$tmp/log" || fail "log: good verdicts"
grep -q "^# git bisect bad $culprit\$" "$tmp/log" || fail "log: bad verdict of the culprit"
grep -q "^$culprit is the first bad commit\$" "$tmp/log" || fail "log: first bad commit"
grep -q "^culprit signature: [0-9a-f]\{64\}\$" "$tmp/log" || fail "log: culprit signature"
grep -q "^parent  signature: [0-9a-f]\{64\}\$" "$tmp/log" || fail "log: parent signature"
grep -Eq "^revisions tested: [0-9]+, total time: [0-9hms.]+ \(build: [0-9hms.]+, test: [0-9hms.]+\)\$" \
	"$tmp/log" || fail "log: revisions tested: $(grep revisions "$tmp/log")"
grep -q "^first bad commit: $culprit" "$tmp/log" || fail "log: first bad commit line"
grep -q "^commits after it up to the bad commit: [0-9]*\$" "$tmp/log" || fail "log: place"

# only a credible set (the budget spent): exit 2, the set, stop "budget"
set +e
"$KBISECT" bisect --simulate --commits 800 --seed 7 --max-rounds 3 >"$tmp/out3" 2>"$tmp/log3"; rc=$?
"$KBISECT" bisect --simulate --commits 800 --seed 7 --max-rounds 3 --json >"$tmp/j3" 2>/dev/null
rc2=$?
set -e
[ $rc -eq 2 ] && [ $rc2 -eq 2 ] || fail "credible set: exit $rc / $rc2, want 2"
grep -q "^no single culprit (budget)" "$tmp/out3" || fail "set text: $(head -3 "$tmp/out3")"
grep -q "^bisection is inconclusive, the first bad commit could be any of" "$tmp/log3" ||
	fail "set log: $(tail -5 "$tmp/log3")"
python3 - "$tmp/j3" <<'PY' || fail "set json: $(head -c 400 "$tmp/j3")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["schema"] == 1 and o["stop"] == "budget" and o["culprit"] is None
assert o["culprit_info"] is None and len(o["candidates"]) > 1
PY

# on a terminal: the progress line is drawn in place on stderr, and cleared before
# the result
if command -v script >/dev/null; then
	script -qec "'$KBISECT' bisect --simulate --commits 300 --seed 5" /dev/null >"$tmp/tty" 2>&1 || true
	grep -aq $'\r\033\[K\[[0-9m]*s\] round [0-9]*: .* runs done, ETA ~.*, top c' "$tmp/tty" ||
		fail "no progress line on a terminal: $(head -c 300 "$tmp/tty" | cat -v)"
	tr '\r' '\n' <"$tmp/tty" | grep -a "^culprit: c" >/dev/null || fail "result not on a line of its own"
fi

# json: binding fields, and a merge-heavy history with 4 workers
"$KBISECT" bisect --simulate --commits 1500 --shape merges --workers 4 --q 0.2 --seed 3 \
	--json --html "$tmp/r.html" --log "$tmp/log2" >"$tmp/j"
python3 - "$tmp/j" <<'PY' || fail "json: $(head -c 600 "$tmp/j")"
import json, sys
o = json.load(open(sys.argv[1]))
for k in ("schema", "culprit", "culprit_info", "probability", "stop", "candidates", "flags",
          "tested", "skipped", "seconds"):
    assert k in o, k
assert o["schema"] == 1 and o["stop"] == "confident" and o["skipped"] == []
assert o["culprit_info"]["commit"] == o["culprit"]
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
grep -q "need --bad, --good" "$tmp/err" || fail "missing options message"
echo ok
