#!/usr/bin/env bash
# tests/cli/t2100-report.sh - `kbisect report`: titles and classes of corpus console logs,
# --json (with ALT titles), --end, --title normalisation, stdin, a 256 MiB console in
# bounded memory, bad input and usage errors.
# kb-test-labels: cli
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
d="$src/tests/data/oops"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$KBISECT" report "$d/real-warn.txt")
[ "$out" = "$(printf 'crash\tWARNING in kbcrash_warn')" ] || fail "warn: '$out'"
out=$("$KBISECT" report - < "$d/real-null-deref.txt")
[ "$out" = "$(printf 'crash\tBUG: unable to handle kernel NULL pointer dereference in kbcrash_null_deref')" ] \
  || fail "stdin: '$out'"
out=$("$KBISECT" report "$d/real-clean-boot.txt")
[ "$out" = "$(printf 'ok\t')" ] || fail "clean boot: '$out'"
out=$("$KBISECT" report --end=no_boot "$d/real-clean-boot.txt")
[ "$out" = "$(printf 'boot_failure\t')" ] || fail "no_boot: '$out'"
out=$("$KBISECT" report --end=lost_conn "$d/real-clean-boot.txt")
[ "$out" = "$(printf 'infra\tlost connection to test machine')" ] || fail "lost_conn: '$out'"
out=$("$KBISECT" report "$d/real-syzfail.txt")
[ "$out" = "$(printf 'infra\tSYZFAIL: wrong response packet')" ] || fail "syzfail: '$out'"

json=$("$KBISECT" report --json --text "$d/syz-gpf-vmx-vcpu-run.txt")
python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["class"] == "crash" and o["title"] == "general protection fault in vmx_vcpu_run", o
assert o["corrupted"] is False and 0 < o["start"] < o["end"], o
assert o["report"].startswith("general protection fault"), o["report"][:80]
' "$json" || fail "bad json: $json"

# ALT titles: a KASAN report is also "bad-access in <frame>"
json=$("$KBISECT" report --json "$d/syz-kasan-uaf-read.txt")
python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["class"] == "crash" and o["title"].startswith("KASAN: "), o
frame = o["title"].rsplit(" in ", 1)[1]
assert "bad-access in " + frame in o["alt"], o
' "$json" || fail "no ALT title: $json"
json=$("$KBISECT" report --json "$d/real-clean-boot.txt")
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["alt"] == [], o' "$json" \
  || fail "alt of a clean boot: $json"

# streaming: a 256 MiB console (boot noise, then a report) in bounded memory
if [ -x /usr/bin/time ]; then
  { yes "[    1.234567][    T1] random: crng init done, some ordinary boot noise" |
      head -c 268435456 || true; cat "$d/real-warn.txt"; } |
    /usr/bin/time -f "%M" -o "$tmp/rss" "$KBISECT" report - > "$tmp/big.out"
  [ "$(cat "$tmp/big.out")" = "$(printf 'crash\tWARNING in kbcrash_warn')" ] \
    || fail "256 MiB console: $(cat "$tmp/big.out")"
  rss=$(tail -1 "$tmp/rss")
  [ "$rss" -lt 65536 ] || fail "256 MiB console took $rss KiB of memory (want < 64 MiB)"
fi

out=$("$KBISECT" report --title "KASAN: use-after-free Read in foo.isra.0" "WARNING: CPU: 1 PID: 3604 at net/core/dev.c:10845")
[ "$out" = "$(printf 'KASAN: use-after-free Read in foo\nWARNING: CPU: NUM PID: NUM at net/core/dev.c:LINE')" ] \
  || fail "titles: '$out'"

# garbage gives ok, not an error
head -c 200000 /dev/urandom > "$tmp/noise"
out=$("$KBISECT" report "$tmp/noise")
[ "$(echo "$out" | cut -f1)" = ok ] || fail "noise: '$out'"
: > "$tmp/empty"
[ "$("$KBISECT" report "$tmp/empty")" = "$(printf 'ok\t')" ] || fail "empty file"

# bad input: exit 1 naming the file; usage errors: 129
set +e
"$KBISECT" report "$tmp/missing" >/dev/null 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "missing file: exit $rc"
grep -q "$tmp/missing" "$tmp/err" || fail "error does not name the file: $(cat "$tmp/err")"
for args in "" "--bogus x" "--end=sometime x" "a b" "--title"; do
  set +e
  # shellcheck disable=SC2086
  "$KBISECT" report $args >/dev/null 2>&1; rc=$?
  set -e
  [ $rc -eq 129 ] || fail "'report $args': exit $rc, want 129"
done
"$KBISECT" report --help | grep "kbisect report" >/dev/null || fail "--help"
echo "ok t2100-report"
