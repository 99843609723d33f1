#!/usr/bin/env bash
# tests/cli/t3107-bisect-simulate-fix.sh - `kbisect bisect --simulate --fix` (issue 22):
# the engine's fix mode on synthetic histories, without kernels: the JSON says
# "mode": "fix" and names the simulated fix, also with a partial fix that lowers q
# first (--partial-q); cause mode's JSON says "mode": "cause"; the HTML report of a fix
# bisection names a fix.
# kb-test-labels: unit
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

check() { # args: want-mode log out
	python3 - "$1" "$2" "$3" <<'PY'
import json, re, sys
o = json.load(open(sys.argv[3]))
assert o["mode"] == sys.argv[1], o["mode"]
what = "fix" if sys.argv[1] == "fix" else "culprit"
m = re.search(r"simulated %s: (c\d+)" % what, open(sys.argv[2]).read())
assert m and o["culprit"] == m.group(1), (o["culprit"], m and m.group(1))
assert o["probability"] >= 0.99, o["probability"]
PY
}
"$KBISECT" bisect --simulate --fix --commits 200 --seed 3 --q 0.4 --json --log "$tmp/l1" \
	>"$tmp/o1" || fail "simulate --fix: $(tail "$tmp/l1")"
check fix "$tmp/l1" "$tmp/o1" || fail "simulate --fix: $(cat "$tmp/o1")"
"$KBISECT" bisect --simulate --fix --commits 200 --seed 2 --q 0.6 --partial-q 0.15 --json \
	--log "$tmp/l2" >"$tmp/o2" || fail "simulate --fix --partial-q: $(tail "$tmp/l2")"
grep -q "^simulated partial fix: c" "$tmp/l2" || fail "no partial fix in the history"
check fix "$tmp/l2" "$tmp/o2" || fail "simulate --fix --partial-q: $(cat "$tmp/o2")"
"$KBISECT" bisect --simulate --commits 200 --seed 3 --json --log "$tmp/l3" >"$tmp/o3" ||
	fail "simulate: $(tail "$tmp/l3")"
check cause "$tmp/l3" "$tmp/o3" || fail "simulate (cause): $(cat "$tmp/o3")"
"$KBISECT" bisect --simulate --fix --commits 200 --seed 3 --log /dev/null >"$tmp/t" ||
	fail "simulate --fix (text)"
grep -q "^fix: c" "$tmp/t" || fail "text: $(cat "$tmp/t")"
# the HTML report of a fix bisection names a fix, not a first bad commit
"$KBISECT" bisect --simulate --fix --commits 200 --seed 3 --log /dev/null \
	--html "$tmp/fix.html" >/dev/null || fail "simulate --fix --html"
grep -q "<title>kbisect bisect --fix: c" "$tmp/fix.html" || fail "html title in fix mode"
grep -q "fix found" "$tmp/fix.html" || fail "html heading in fix mode"
! grep -q "first bad commit" "$tmp/fix.html" || fail "html of a fix says first bad commit"
# the log of a fix bisection: calibration on the crashing commit; a set of first fixed
# commits when the budget runs out (exit 2)
grep -q "^calibrating: [0-9]* runs on crashing commit c" "$tmp/l1" || fail "log: calibration"
set +e
"$KBISECT" bisect --simulate --fix --commits 200 --seed 3 --max-rounds 4 --log "$tmp/l4" \
	>/dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "simulate --fix --max-rounds 4: exit $rc, want 2"
grep -q "^bisection is inconclusive, the first fixed commit could be any of" "$tmp/l4" ||
	fail "log of a set in fix mode: $(tail -5 "$tmp/l4")"
echo ok
