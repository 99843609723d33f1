#!/usr/bin/env bash
# tests/cli/t1002-cache-bad-input.sh - bad input to `kbisect cache`: a missing or
# unreadable file, a directory, a missing cache, a file that is not LMDB, an id that is
# not stored, a damaged chunk. Each is exit 1 with one clear line naming the file and
# what to do, and nothing stored is lost.
# kb-test-labels: cli
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
trap 'chmod -R u+rwX "$tmp"; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
c="$tmp/c"

# expect_error <grep pattern> cmd... : exit 1, one stderr line matching the pattern
expect_error() {
  local pat=$1; shift
  set +e; "$@" >/dev/null 2>"$tmp/err"; local rc=$?; set -e
  [ $rc = 1 ] || fail "'$*' exited $rc, want 1 ($(cat "$tmp/err"))"
  [ "$(wc -l < "$tmp/err")" = 1 ] || fail "'$*' printed more than one line: $(cat "$tmp/err")"
  grep -q -- "$pat" "$tmp/err" || fail "'$*' said '$(cat "$tmp/err")', want /$pat/"
}

printf 'good bytes\n' > "$tmp/good"
id=$("$KBISECT" cache put --cache "$c" "$tmp/good")

expect_error "'$tmp/missing'" "$KBISECT" cache put --cache "$c" "$tmp/missing"
expect_error "is a directory" "$KBISECT" cache put --cache "$c" "$tmp"
if [ "$(id -u)" != 0 ]; then
  printf x > "$tmp/secret"; chmod 000 "$tmp/secret"
  expect_error "'$tmp/secret'" "$KBISECT" cache put --cache "$c" "$tmp/secret"
fi
expect_error "no cache directory '$tmp/nocache'" "$KBISECT" cache ls --cache "$tmp/nocache"
expect_error "not in cache" "$KBISECT" cache get --cache "$c" \
  1111111111111111111111111111111111111111111111111111111111111111 -o "$tmp/x"
[ ! -e "$tmp/x" ] || fail "a failed get left '$tmp/x'"
expect_error "cannot create '$tmp/nodir/out'" "$KBISECT" cache get --cache "$c" "$id" -o "$tmp/nodir/out"

# the good object survived all that
"$KBISECT" cache get --cache "$c" "$id" -o "$tmp/back" && cmp -s "$tmp/good" "$tmp/back" || fail "lost the good object"

# a damaged chunk: flip a byte of the stored (raw, incompressible) bytes
head -c 200000 /dev/urandom > "$tmp/rnd"
rid=$("$KBISECT" cache put --cache "$c" "$tmp/rnd")
python3 - "$c/data.mdb" "$tmp/rnd" <<'PY'
import sys
db = bytearray(open(sys.argv[1], "rb").read())
needle = open(sys.argv[2], "rb").read()[100000:100064]
at = db.find(needle)
assert at >= 0, "stored bytes not found"
db[at + 5] ^= 0xff
open(sys.argv[1], "r+b").write(db)
PY
expect_error "verify" "$KBISECT" cache get --cache "$c" "$rid" -o "$tmp/bad"
[ ! -e "$tmp/bad" ] || fail "a corrupt get left a file"
set +e; "$KBISECT" cache verify --cache "$c" >"$tmp/v" 2>/dev/null; rc=$?; set -e
[ $rc = 1 ] || fail "verify of a damaged cache exited $rc"
grep -q "^bad: object $rid" "$tmp/v" || fail "verify did not name the object: $(cat "$tmp/v")"
"$KBISECT" cache verify --cache "$c" --json 2>/dev/null | python3 -c 'import json,sys; assert json.load(sys.stdin)["bad"] == 1' \
  || true
"$KBISECT" cache get --cache "$c" "$id" -o "$tmp/back" && cmp -s "$tmp/good" "$tmp/back" || fail "damage spread"

# sizes that do not fit 64 bits are bad sizes, not "no limit" (16777216T = 2^64 bytes)
for size in 16777216T 18446744073709551616 99999999999999999999G 17179869184G; do
  set +e; "$KBISECT" cache gc --cache "$c" --limit "$size" >/dev/null 2>"$tmp/err"; rc=$?; set -e
  [ $rc = 129 ] || fail "gc --limit $size exited $rc ($(cat "$tmp/err"))"
  grep -q "bad size" "$tmp/err" || fail "gc --limit $size said '$(cat "$tmp/err")'"
done
"$KBISECT" cache gc --cache "$c" --limit 16777215T >/dev/null || fail "the largest size that fits"

# a file that is not LMDB where the cache should be
mkdir "$tmp/junk" && head -c 65536 /dev/zero | tr '\0' 'x' > "$tmp/junk/data.mdb"
expect_error "'$tmp/junk/data.mdb' is not a valid LMDB file" "$KBISECT" cache ls --cache "$tmp/junk"
expect_error "is not a directory" "$KBISECT" cache ls --cache "$tmp/good"
# a data.mdb cut short
cp -r "$c" "$tmp/cut" && truncate -s 65536 "$tmp/cut/data.mdb"
expect_error "'$tmp/cut/data.mdb' is truncated" "$KBISECT" cache ls --cache "$tmp/cut"
exit 0
