#!/usr/bin/env bash
# tests/cli/t3130-bench-accuracy-scripts.sh - bench/accuracy's scripts on a few simulated
# bisections: run.sh's misspec table on the default and on other histories
# (KB_ACC_SEED), trace.sh's summary; usage errors and a build without kb-accuracy.
# kb-test-labels: cli
# kb-test-timeout: 300
set -euo pipefail
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${KB_BUILD_DIR:?set KB_BUILD_DIR to the build directory}
[ -x "$build/bench/kb-accuracy" ] || { echo "SKIP: no $build/bench/kb-accuracy"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run="$src/bench/accuracy/run.sh"
trace="$src/bench/accuracy/trace.sh"

# the control rows on the default histories and on seed 7: the same rows, other histories
KB_ACC_CONDS=control bash "$run" "$build" 3 misspec > "$tmp/default" || fail "run.sh default"
KB_ACC_SEED=7 KB_ACC_CONDS=control bash "$run" "$build" 3 misspec > "$tmp/seed7" ||
	fail "run.sh with KB_ACC_SEED=7"
for f in default seed7; do
	n=$(grep -c '^control .* kbisect ' "$tmp/$f" || true)
	[ "$n" = 8 ] || fail "$f: want 8 control rows (2 shapes, 2 q, 2 k), got $n: $(cat "$tmp/$f")"
done
# the same rows (cond, shape, q, k) in the same order
for f in default seed7; do
	awk '$5 == "kbisect" { print $1, $2, $3, $4 }' "$tmp/$f" > "$tmp/$f.keys"
done
cmp -s "$tmp/default.keys" "$tmp/seed7.keys" || fail "the rows differ in what they are"
! cmp -s "$tmp/default" "$tmp/seed7" || fail "KB_ACC_SEED=7 ran the default histories"
KB_ACC_SEED=7 KB_ACC_CONDS=control bash "$run" "$build" 3 misspec > "$tmp/seed7b"
cmp -s "$tmp/seed7" "$tmp/seed7b" || fail "seed 7 twice: not the same table"

# bad input: a seed that is not a number, a build without kb-accuracy
rc=0; KB_ACC_SEED=7x bash "$run" "$build" 3 misspec > "$tmp/out" 2> "$tmp/err" || rc=$?
[ "$rc" = 2 ] || fail "KB_ACC_SEED=7x: want exit 2, got $rc"
grep -q "KB_ACC_SEED must be a number" "$tmp/err" || fail "KB_ACC_SEED=7x: $(cat "$tmp/err")"
mkdir "$tmp/empty"
rc=0; bash "$run" "$tmp/empty" 3 misspec > "$tmp/out" 2> "$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "run.sh without kb-accuracy: want exit 1, got $rc"
grep -q "build first" "$tmp/err" || fail "run.sh without kb-accuracy: $(cat "$tmp/err")"

# trace.sh: where a row's rounds go, from the engine's log
bash "$trace" "$build" 3 --q 0.5 --k 1 --cond control > "$tmp/trace" || fail "trace.sh"
grep -q "^bisections that named a culprit: [1-3]$" "$tmp/trace" || fail "trace: $(cat "$tmp/trace")"
grep -q "^rounds per bisection: [0-9.]*, tests [0-9.]*$" "$tmp/trace" || fail "trace rounds"
grep -q "^rounds longer than the usual [0-9]*s (waited for a build): " "$tmp/trace" ||
	fail "trace build waits"
rc=0; bash "$trace" "$build" > "$tmp/out" 2> "$tmp/err" || rc=$?
[ "$rc" = 2 ] || fail "trace.sh without arguments: want exit 2, got $rc"
grep -q "^usage: " "$tmp/err" || fail "trace.sh usage: $(cat "$tmp/err")"
rc=0; bash "$trace" "$tmp/empty" 3 > "$tmp/out" 2> "$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "trace.sh without kb-accuracy: want exit 1, got $rc"
echo "ok"
