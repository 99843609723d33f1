#!/usr/bin/env bash
# tests/cli/t4000-analyze-seed.sh - `kbisect analyze` on the seed syzbot log (text, --json,
# --html, stdin) and on the synthetic logs; bad input and usage errors.
# kb-test-labels: cli
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
logs="$src/tests/data/logs"
seed="$logs/seed-vmx_vcpu_run.log"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# text: the four findings the seed log must give
out=$("$KBISECT" analyze "$seed")
grep -q "seen only on the first tested commit a99163e9" <<<"$out" || fail "original title: $out"
grep -q "9 'bad' verdicts .* rest only on test-infrastructure failures such as 'SYZFAIL: wrong response packet'" <<<"$out" \
  || fail "syzfail finding missing"
grep -q "commits 889231c6, e71ba945 have the same kernel signature" <<<"$out" || fail "signatures"
grep -q "NOT SUPPORTED" <<<"$out" || fail "culprit should not be supported"

# --json: required fields, checked by an independent reader
"$KBISECT" analyze --json "$seed" > "$tmp/seed.json"
python3 - "$tmp/seed.json" <<'PY' || fail "json check"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["original_title"] == "general protection fault in vmx_vcpu_run", o["original_title"]
assert o["reported_culprit"].startswith("167dcfc0"), o["reported_culprit"]
assert 0 <= o["culprit_probability"] < 0.01, o["culprit_probability"]
assert o["supported"] is False
assert o["original_seen_on"] == ["a99163e9e708d5d773b7de6da952fcddc341f977"]
v = o["verdicts"]
assert len(v) == 17
bad = [x for x in v if x["log_verdict"] == "bad" and not x["log_verdict_implied"]]
assert len(bad) == 9, len(bad)
for x in bad:
    assert x["rests_on"] == "infra", x
    assert x["runs"] in (10, 20), x
    crashed = [t for t in x["titles"] if t["outcome"] == "crashed"]
    assert len(crashed) == 1 and crashed[0]["count"] == 1, crashed
    assert crashed[0]["title"] == "SYZFAIL: wrong response packet"
    assert x["kbisect_verdict"] == "good" and x["agrees"] is False, x
groups = [sorted(c[:8] for c in g["commits"]) for g in o["identical_signatures"]]
assert ["889231c6", "e71ba945"] in groups, groups
assert o["cost"]["builds_avoided"] >= 1
# the release walk: the good release's false-negative chance reaches the probability
w = o["release_false_negative"]
assert w is not None and w["commit"].startswith("f40ddce8") and w["clean_runs"] > 0, w
assert 0 <= w["probability"] < 1
assert abs(o["culprit_probability"] - o["model_culprit_probability"] * (1 - w["probability"])) < 1e-9
good = [x for x in v if x["log_verdict"] == "good"]
assert good and all(x["p_false_negative"] is None or 0 <= x["p_false_negative"] <= 1 for x in good)
PY

# --html: a page that names the verdict; stdin as input
"$KBISECT" analyze --html "$tmp/r.html" - < "$seed" > /dev/null
grep -q "NOT SUPPORTED" "$tmp/r.html" || fail "html verdict"
grep -q "</html>" "$tmp/r.html" || fail "html incomplete"

# the synthetic logs: a supported cause and fix bisection, the other forms parse
"$KBISECT" analyze --json "$logs/cause-supported.log" | python3 -c \
  'import json,sys; o=json.load(sys.stdin); assert o["supported"] is True and o["culprit_probability"] > 0.9, o["culprit_probability"]' \
  || fail "cause-supported"
"$KBISECT" analyze --json "$logs/fix.log" | python3 -c \
  'import json,sys; o=json.load(sys.stdin); assert o["kind"] == "fix" and o["supported"] is True' \
  || fail "fix"
for f in skips-builderrors oldest-release-crashes merges-flaky; do
  "$KBISECT" analyze "$logs/$f.log" > /dev/null || fail "$f"
done

# a log whose original commit showed no kernel crash (SYZFAIL, OK, a boot failure): an
# audit with exit 0 that says so, never "supported"
"$KBISECT" analyze --json "$logs/no-original-crash.log" > "$tmp/noorig.json" || fail "no-original-crash: exit $?"
python3 - "$tmp/noorig.json" <<'PY' || fail "no-original-crash json"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["original_title"] is None, o["original_title"]
assert o["supported"] is False
assert any("never reproduced in this log" in f for f in o["findings"]), o["findings"]
PY
"$KBISECT" analyze "$logs/no-original-crash.log" | grep "original crash: none (never reproduced in this log)" >/dev/null \
  || fail "no-original-crash text"

# bad input: exit 1, the file named, nothing on stdout
printf 'hello\nthis is not a log\n' > "$tmp/not-a-log.txt"
for f in "$tmp/not-a-log.txt" "$tmp/missing.log" "$KBISECT"; do
  set +e
  out=$("$KBISECT" analyze "$f" 2>"$tmp/err"); rc=$?
  set -e
  [ $rc -eq 1 ] || fail "exit $rc for $f (want 1)"
  [ -z "$out" ] || fail "stdout not empty for $f"
  grep -qF "$f" "$tmp/err" || fail "error does not name $f: $(cat "$tmp/err")"
done
grep -q "not a syzkaller bisection log" <(("$KBISECT" analyze "$tmp/not-a-log.txt" 2>&1) || true) \
  || fail "not-a-log message"
# an html path that cannot be written: exit 1
set +e
"$KBISECT" analyze --html "$tmp/no/dir/r.html" "$seed" > /dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "unwritable html: exit $rc"

# usage: 129
for args in "" "--bogus $seed" "--workers 0 $seed" "--html" "$seed $seed"; do
  set +e
  # shellcheck disable=SC2086
  "$KBISECT" analyze $args > /dev/null 2>&1; rc=$?
  set -e
  [ $rc -eq 129 ] || fail "'analyze $args' exit $rc (want 129)"
done
"$KBISECT" analyze --help | grep "usage: kbisect analyze" >/dev/null || fail "--help"
echo "ok"
