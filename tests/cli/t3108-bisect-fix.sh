#!/usr/bin/env bash
# tests/cli/t3108-bisect-fix.sh - fix bisection end to end (issue 22) on the real-bisect
# scenario (tests/cli/lib/bisect-scenario.sh: real Debian kernels, real QEMU runs, the
# newer kernel crashes), with three more commits on top: one switches back to the old
# kernel (the fix, tagged v1.5 as a release), two around it change nothing built.
# `--fix --crashing <culprit> --fixed HEAD` must name the fix (JSON "mode": "fix", the
# release flag) and --find-fixed must find v1.5 by itself; bad input exits 1 with a
# clear message and leaves no journal: a --fixed that still crashes, a --crashing that
# does not crash, and the usage errors of the options.
# kb-test-labels: vm
# kb-test-timeout: 900
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

# usage errors need no kernel
set +e
"$KBISECT" bisect --fix --repo . --crashing HEAD --config c --repro r >/dev/null 2>"$tmp/u1"
rc1=$?
"$KBISECT" bisect --fix --bad HEAD --good HEAD~1 --repo . --crashing a --fixed b --config c \
	--repro r >/dev/null 2>"$tmp/u2"
rc2=$?
"$KBISECT" bisect --crashing a --fixed b >/dev/null 2>"$tmp/u3"
rc3=$?
set -e
[ $rc1 -eq 129 ] && grep -q -- "--fixed or --find-fixed" "$tmp/u1" || fail "no --fixed: $rc1 $(cat "$tmp/u1")"
[ $rc2 -eq 129 ] && grep -q -- "not --bad" "$tmp/u2" || fail "--fix --bad: $rc2 $(cat "$tmp/u2")"
[ $rc3 -eq 129 ] && grep -q -- "need --fix" "$tmp/u3" || fail "no --fix: $rc3 $(cat "$tmp/u3")"

# shellcheck source=lib/bisect-scenario.sh
. "$src/tests/cli/lib/bisect-scenario.sh"
make_bisect_scenario "$tmp" || exit 0
for i in 14 fix 16; do
	if [ "$i" = fix ]; then
		echo old > "$repo/scripts/kernel"
		msg="switch back to the old kernel (fix)"
	else
		echo "change $i" >> "$repo/notes.txt"
		msg="change $i"
	fi
	git -C "$repo" add -A
	git -C "$repo" commit -q -m "$msg"
	[ "$i" = fix ] && git -C "$repo" tag v1.5
done
fix=$(git -C "$repo" log --format=%H -1 --grep='(fix)')
args=(--repo "$repo" --config "$tmp/config" --repro "$tmp/repro.c"
	--build-cmd 'sh scripts/build.sh' --image bzImage --cache "$tmp/cache" --work-dir "$tmp/wt"
	--accel tcg --vms 2 --runs-per-test 2 --workers 1 --run-timeout 120)
kb() { "$KBISECT" bisect --fix "${args[@]}" "$@"; }
no_journal() {
	! ls "$tmp"/cache/journals/*.jsonl >/dev/null 2>&1 ||
		fail "$1 left a journal: $(ls "$tmp"/cache/journals)"
}

# a --fixed that still crashes: the commit before the fix
set +e
kb --crashing "$culprit" --fixed "$fix~1" --log "$tmp/log1" >"$tmp/out1" 2>"$tmp/err1"
rc=$?
set -e
[ $rc -eq 1 ] || fail "--fixed that crashes: exit $rc, want 1; $(cat "$tmp/err1")"
grep -q "still crashes" "$tmp/err1" && grep -q -- "--fixed" "$tmp/err1" ||
	fail "--fixed that crashes: message $(cat "$tmp/err1")"
[ ! -s "$tmp/out1" ] || fail "--fixed that crashes printed a result: $(cat "$tmp/out1")"
no_journal "a --fixed that crashes"

# a --crashing that does not crash: the last commit before the culprit
set +e
kb --crashing "$culprit~1" --fixed HEAD --log "$tmp/log2" >"$tmp/out2" 2>"$tmp/err2"
rc=$?
set -e
[ $rc -eq 1 ] || fail "--crashing that does not crash: exit $rc, want 1; $(cat "$tmp/err2")"
grep -q "did not crash" "$tmp/err2" && grep -q -- "--crashing" "$tmp/err2" ||
	fail "--crashing that does not crash: message $(cat "$tmp/err2")"
no_journal "a --crashing that does not crash"

# --fixed not after --crashing
set +e
kb --crashing HEAD --fixed "$culprit" --log "$tmp/log3" >"$tmp/out3" 2>"$tmp/err3"
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "not a later commit" "$tmp/err3" ||
	fail "--fixed before --crashing: exit $rc; $(cat "$tmp/err3")"

# the fix bisection itself
start=$(date +%s)
kb --crashing "$culprit" --fixed HEAD --json --log "$tmp/log" >"$tmp/out" 2>"$tmp/err" ||
	fail "fix bisect: $(tail -20 "$tmp/log"; cat "$tmp/err")"
echo "fix bisection: $(( $(date +%s) - start ))s"
cat "$tmp/log"
python3 - "$tmp/out" "$fix" <<'PY' || fail "result: $(cat "$tmp/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["mode"] == "fix", o["mode"]
assert o["culprit"] == sys.argv[2], (o["culprit"], sys.argv[2])
assert o["probability"] >= 0.99, o["probability"]
assert "release" in o["flags"] and o["release"] == "v1.5", (o["flags"], o.get("release"))
PY
grep -q "^checking the fixed commit" "$tmp/log" || fail "the fixed commit was not checked"
kb --crashing "$culprit" --fixed HEAD --log "$tmp/logt" >"$tmp/outt" 2>"$tmp/err" ||
	fail "fix bisect (text): $(cat "$tmp/err")"
grep -q "^fix: $fix" "$tmp/outt" && grep -q "release (v1.5)" "$tmp/outt" ||
	fail "text result: $(cat "$tmp/outt")"

# --find-fixed: v1.5 is the first release above the culprit that runs clean
kb --crashing "$culprit" --find-fixed --json --log "$tmp/log4" >"$tmp/out4" 2>"$tmp/err" ||
	fail "--find-fixed: $(tail -20 "$tmp/log4"; cat "$tmp/err")"
grep -q "^fixed release: v1.5" "$tmp/log4" || fail "--find-fixed log: $(head -20 "$tmp/log4")"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["culprit"] == sys.argv[2], o' \
	"$tmp/out4" "$fix" || fail "--find-fixed result: $(cat "$tmp/out4")"
echo ok
