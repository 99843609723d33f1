#!/usr/bin/env bash
# tests/cli/t3104-bisect-prebuild.sh - `kbisect bisect --prebuild 1`: while a round's
# tests run, the likeliest next candidate is built in the background (its own work
# tree), so later rounds find it built (pre-booting kernels at hand is not checked here:
# with signatures known before testing, this small history leaves no such candidate).
# The scenario of t3101 (real git repository,
# real builds of two real Debian kernels, real QEMU runs): the culprit must still be
# right, the log and the JSON must show the speculative builds, each in a work tree of
# its own. Also checks that the per-commit outside_build_inputs mark (a commit whose
# kernel was reused from its parent's build by dependency skip) lands only on commits
# that change notes.txt alone (whether such a commit gets tested at all is up to the
# engine: a commit known to share a kernel is pooled, not tested). With --ccache, the
# builds (the speculative ones in their own process too) compile through ccache, whose
# files go to <cache>/ccache. --prebuild and --boot-timeout with bad values are usage
# errors.
# kb-test-labels: vm
# kb-test-timeout: 600
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

set +e
"$KBISECT" bisect --simulate --prebuild lots >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 129 ] || fail "--prebuild lots: exit $rc, want 129"
grep -q "bad --prebuild 'lots'" "$tmp/err" || fail "usage message: $(cat "$tmp/err")"
set +e
"$KBISECT" bisect --simulate --boot-timeout -3 >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 129 ] || fail "--boot-timeout -3: exit $rc, want 129"
grep -q "bad --boot-timeout '-3'" "$tmp/err" || fail "usage message: $(cat "$tmp/err")"

# shellcheck source=lib/bisect-scenario.sh
. "$src/tests/cli/lib/bisect-scenario.sh"
make_bisect_scenario "$tmp" || exit 0
unset CCACHE_DIR
start=$(date +%s)
"$KBISECT" bisect --repo "$repo" --bad HEAD --good v1.0 --config "$tmp/config" \
	--repro "$tmp/repro.c" --build-cmd 'sh scripts/build.sh' --image bzImage \
	--cache "$tmp/cache" --work-dir "$tmp/wt" --accel tcg --vms 2 --runs-per-test 2 \
	--workers 1 --prebuild 1 --ccache ccache --run-timeout 120 --json --log "$tmp/log" >"$tmp/out" 2>"$tmp/err" ||
	fail "bisect: $(tail -20 "$tmp/log"; cat "$tmp/err")"
echo "bisection with --prebuild 1: $(( $(date +%s) - start ))s"
cat "$tmp/log"
grep -q "^building [0-9a-f]\{40\} meanwhile" "$tmp/log" || fail "no speculative build in the log"
git -C "$repo" log --format='%H %s' >"$tmp/subjects"
python3 - "$tmp/out" "$culprit" "$tmp/subjects" <<'PY' || fail "result: $(cat "$tmp/out")"
import json, sys
o = json.load(open(sys.argv[1]))
subj = dict(l.rstrip("\n").split(" ", 1) for l in open(sys.argv[3]))
assert o["culprit"] == sys.argv[2], (o["culprit"], sys.argv[2])
# outside_build_inputs: only commits that change notes.txt alone (not a build input),
# reused from their parent's build; never the culprit, which changes scripts/kernel
outside = [t["commit"] for t in o["tested"] if t["outside_build_inputs"]]
print("outside_build_inputs:", len(outside), "of", len(o["tested"]), "tested commits")
assert all(subj[c].startswith("change ") for c in outside), [subj[c] for c in outside]
assert "outside_build_inputs" not in o["flags"], o["flags"]
assert o["builds_prefetched"] >= 1, o["builds_prefetched"]
assert 0 <= o["builds_prefetched_used"] <= o["builds_prefetched"]
print("prefetched", o["builds_prefetched"], "used", o["builds_prefetched_used"],
      "builds", o["builds"], "avoided", o["builds_avoided"])
PY
ls "$tmp/wt"/*/ | grep '^w1$' >/dev/null || fail "the speculative build did not use a work tree of its own: $(ls -R "$tmp/wt" | head)"
n_cc=$(find "$tmp/cache/ccache" -type f -name '*R' 2>/dev/null | wc -l)
[ "$n_cc" -ge 2 ] || fail "ccache results in $tmp/cache/ccache: $n_cc, want >= 2 (one per kernel variant)"
echo "ccache results in <cache>/ccache: $n_cc"
