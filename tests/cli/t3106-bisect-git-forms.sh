#!/usr/bin/env bash
# tests/cli/t3106-bisect-git-forms.sh - `kbisect bisect` takes a range as git bisect
# does, on the real scenario (real builds of a git repository, QEMU runs): run inside
# the repository without --repo, the range as `G..B` and as `B ^G`, a pathspec after
# `--` (commits that touch none of its paths are left out, never tested), `--skip`
# (a commit never tested). Usage errors of the new forms exit 129.
# kb-test-labels: vm
# kb-test-timeout: 600
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"

# usage errors first (no kernels needed)
for bad_args in "v1.0...HEAD" "..HEAD" "HEAD~1..HEAD HEAD~2..HEAD"; do
	set +e
	# shellcheck disable=SC2086
	"$KBISECT" bisect $bad_args --config x --repro y >/dev/null 2>"$tmp/err"; rc=$?
	set -e
	[ $rc -eq 129 ] || fail "'$bad_args': exit $rc, want 129: $(cat "$tmp/err")"
done
set +e
(cd "$tmp" && "$KBISECT" bisect HEAD~3..HEAD --config "$tmp/x" --repro /dev/null >/dev/null 2>"$tmp/err"); rc=$?
set -e
[ $rc -eq 1 ] || fail "outside a repository: exit $rc"
grep -q "not inside a git repository" "$tmp/err" || fail "outside a repository: $(cat "$tmp/err")"

# shellcheck source=lib/bisect-scenario.sh
. "$src/tests/cli/lib/bisect-scenario.sh"
make_bisect_scenario "$tmp" || exit 0
opts=(--config "$tmp/config" --repro "$tmp/repro.c" --build-cmd 'sh scripts/build.sh'
	--image bzImage --cache "$tmp/cache" --work-dir "$tmp/wt" --accel tcg --vms 2
	--runs-per-test 2 --workers 2 --run-timeout 120)

# in the repository, no --repo; G..B; only scripts/ matters (the culprit is the one
# commit of the range that changes it besides none): the other commits are left out
(cd "$repo" && "$KBISECT" bisect v1.0..HEAD "${opts[@]}" --json --log "$tmp/log1" -- scripts/ \
	>"$tmp/out1" 2>"$tmp/err1") || fail "G..B -- scripts/: $(tail -20 "$tmp/log1"; cat "$tmp/err1")"
grep -q "^pathspec: 11 of 13 commits left out: they touch none of its paths" "$tmp/log1" ||
	fail "pathspec log: $(head -5 "$tmp/log1")"
python3 - "$tmp/out1" "$culprit" "$(git -C "$repo" rev-parse HEAD)" <<'PY' || fail "pathspec result: $(cat "$tmp/out1")"
import json, sys
o = json.load(open(sys.argv[1]))
culprit, head = sys.argv[2], sys.argv[3]
assert o["culprit"] == culprit, o["culprit"]
assert len(o["skipped"]) == 11 and culprit not in o["skipped"] and head not in o["skipped"]
# no commit outside the pathspec was tested
assert {t["commit"] for t in o["tested"]} <= {culprit, head}, o["tested"]
assert {t["commit"] for t in o["timeline"]} <= {culprit, head}, o["timeline"]
PY

# the same again as text (replayed from the journal and the cache): the culprit with its
# subject, author and date
(cd "$repo" && "$KBISECT" bisect v1.0..HEAD "${opts[@]}" --log "$tmp/log1b" -- scripts/ \
	>"$tmp/text1" 2>"$tmp/err1") || fail "text: $(cat "$tmp/err1")"
grep -q "^culprit: $culprit (probability " "$tmp/text1" || fail "text: $(cat "$tmp/text1")"
grep -q "^    switch to the new kernel (culprit)\$" "$tmp/text1" || fail "text subject: $(cat "$tmp/text1")"
grep -q "^    Author: t <t@t>\$" "$tmp/text1" || fail "text author: $(cat "$tmp/text1")"
grep -Eq "^    Date:   [A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]+ [0-9:]{8} [0-9]{4} [+-][0-9]{4}\$" "$tmp/text1" ||
	fail "text date: $(cat "$tmp/text1")"

# B ^G with --skip: the commit after the culprit is never tested
# (sed reads all of rev-list's output: with `head -1` git, which flushes each line into a
# pipe, could be killed by SIGPIPE when head had gone, and pipefail ended the test
# silently; it did once in CI)
after=$(git -C "$repo" rev-parse "$culprit^{commit}" >/dev/null && git -C "$repo" rev-list --reverse "$culprit..HEAD" | sed -n 1p)
[ -n "$after" ] || fail "no commit after the culprit $culprit"
(cd "$repo/scripts" && "$KBISECT" bisect HEAD "^$culprit~2" --skip "$after" "${opts[@]}" --json \
	--log "$tmp/log2" >"$tmp/out2" 2>"$tmp/err2") || fail "B ^G --skip: $(tail -20 "$tmp/log2"; cat "$tmp/err2")"
grep -q "^--skip $after: 1 commit of the range left out" "$tmp/log2" || fail "skip log: $(head -5 "$tmp/log2")"
python3 - "$tmp/out2" "$culprit" "$after" <<'PY' || fail "skip result: $(cat "$tmp/out2")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["culprit"] == sys.argv[2], o["culprit"]
assert o["skipped"] == [sys.argv[3]], o["skipped"]
assert sys.argv[3] not in {t["commit"] for t in o["timeline"]}, o["timeline"]
PY
echo ok
