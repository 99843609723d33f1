#!/usr/bin/env bash
# tests/cli/t3201-fix-kernel.sh - fix bisection (issue 22) end to end on a REAL kernel, at
# CI size: the demo's scenario (scripts/demo-scenario/scenario.py) with 6 synthetic
# commits on top of linux-source-6.1: one adds bug A (a flaky NULL dereference in
# prctl(), taken when the kernel's get_random_u32() says so, ~40% of calls), a later one
# only narrows its race (~10%: a partial fix), the next one fixes it. `kbisect bisect
# --fix` from the bug's commit (crashing) to the tip (fixed), with real tinyconfig builds
# (incremental in the worker trees) and real QEMU runs (TCG), must name the fix, not the
# partial fix. Its wall time is printed.
# History: on 7 Dec 2026 (session 9) it named the PARTIAL fix in 1 of 3 runs, at
# p = 0.9911, after 46 clean runs in 3 boots of the partial fix's kernel (its rate about
# a tenth of the 0.48 learned on the crashing commit; the stop rule then asked clean
# runs for the crashing commit's rate), and was labelled demo. Fixed in session 10
# (docs/kbisect-bisect.md, "A partial fix is not a fix"): the fix's own kernel must now
# run clean long enough to rule out a rate lowered to a 20th of the crashing commit's
# (256 runs here), and the model has a prior share of such lowered rates; back in CI.
# Runs of session 10 (2 shared cores, another engineer's and this session's CPU-heavy
# jobs running beside it: bench/kernel's git bisect and QEMU runs, load 8-16):
#   run 1 (a fresh tree):      650 s, bisection 624 s (first build 448 s), fix named, p 0.9923
#   run 2 (a fresh kept tree): 857 s, bisection 843 s (first build 576 s), fix named, p 0.9934
#   run 3 (the kept tree):     305 s, bisection 272 s (first build 29 s), fix named, p 0.9953
#   run 4 (kept tree, ctest):  233 s, bisection 201 s (first build 25 s), fix named, p 0.9972
#     (beside it: bench/kernel's fixb, syzbot's way, clean kernel builds; load ~10)
# Each run: 8 rounds, the partial fix's kernel crashed in its first test (64 runs), the
# fix's kernel ran 4 tests of 64 clean runs (the rule's 256).
# kb-test-labels: vm slow
# kb-test-timeout: 1800
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*" >&2; exit 1; }
if [ ! -f /usr/src/linux-source-6.1.tar.xz ] &&
   [ ! -f "${KB_KERNEL_REPO:-$HOME/.cache/kbisect/linux-6.1}/.git/kbisect-import-done" ]; then
	echo "no linux-source-6.1 (scripts/install-deps.sh installs it): skipping" >&2
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; git -C "${repo:-/nonexistent}" worktree prune 2>/dev/null || true' EXIT
repo=$(bash "$src/scripts/kernel-repo.sh")
# The worker's tree is kept between runs (KB_TEST_FIX_WORK, default under ~/.cache, as
# the imported kernel repository is): the first build is then incremental, as every
# later one in a bisection is. The first run on a machine makes one full build. A run
# that finds the tree in use (flock) by another one takes a fresh tree of its own.
work=${KB_TEST_FIX_WORK:-$HOME/.cache/kbisect/t3201-work}
mkdir -p "$work"
exec 9>"$work.lock"
if flock -n 9; then
	for t in "$work"/*/w*/src; do # a tree whose repository was imported again: drop it
		if [ -d "$t" ] && ! git -C "$t" rev-parse -q --verify HEAD >/dev/null 2>&1; then
			rm -rf "$(dirname "$t")"
		fi
	done
else
	work=$tmp/work
fi
if [ -n "$(ls -A "$work" 2>/dev/null)" ]; then
	echo "work tree: $work (kept from an earlier run)"
else
	echo "work tree: $work (new: one full build)"
fi
scen=$(python3 "$src/scripts/demo-scenario/scenario.py" --repo "$repo" --dir "$tmp/scen" \
	--name t3201 --commits 6 --bug-a-at 0.2 --bug-b-at 0.0 --partial-fix-a-at 0.5 \
	--fix-a-at 0.7 --seed 3201)
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$scen" "$1"; }
crashing=$(field culprit_a) fixed=$(field bad) fix=$(field fix_a) partial=$(field partial_fix_a)
git -C "$repo" show "$fix" -- kernel/sys.c | grep '^-.*leader = NULL' >/dev/null ||
	fail "scenario: the fix does not remove the bug"
git -C "$repo" show "$partial" -- kernel/sys.c | grep '^+.*% 10 < 1' >/dev/null ||
	fail "scenario: the partial fix does not narrow the race"
[ "$(git -C "$repo" rev-list --count "$crashing..$fixed")" = 4 ] || fail "scenario: not 4 commits after the bug"

start=$(date +%s)
"$KBISECT" bisect --fix --repo "$repo" --crashing "$crashing" --fixed "$fixed" \
	--config "$(field config)" --repro "$(field repro_a)" --cache "$tmp/cache" \
	--work-dir "$work" --workers 1 --vms 2 --accel tcg --run-timeout 30 --json \
	--progress 2 --log "$tmp/log" >"$tmp/out" 2>"$tmp/err" || fail "fix bisect: $(tail -30 "$tmp/log"; cat "$tmp/err")"
echo "fix bisection: $(( $(date +%s) - start ))s"
grep -v '^run #' "$tmp/log"
# the plain progress lines count the objects a real kernel build compiles (issue 24)
grep -E "^progress: .*building [0-9a-f]{12}.*, [1-9][0-9]*(/~[0-9]+)? objects" "$tmp/err" | tail -3 ||
	fail "no compiled objects in the progress lines: $(grep '^progress:' "$tmp/err" | tail -5)"
python3 - "$tmp/out" "$fix" "$partial" <<'PY' || fail "result: $(cat "$tmp/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["mode"] == "fix", o["mode"]
assert o["culprit"] == sys.argv[2], ("named", o["culprit"], "fix", sys.argv[2], "partial", sys.argv[3])
assert o["probability"] >= 0.99, o["probability"]
t = " ".join(str(x) for x in o["titles"])
assert "SYZFAIL" not in t and ("NULL" in t or "fault" in t or "BUG" in t), t
PY
grep -q "^checking the fixed commit" "$tmp/log" || fail "the fixed commit was not checked"
git -C "$repo" update-ref -d refs/heads/kbisect-t3201 || true
echo ok
