#!/usr/bin/env bash
# tests/cli/t1003-cache-disk-full.sh - a cache on a full disk (a real 8 MiB tmpfs): a
# put that does not fit fails with one line saying "no space left" (not "Input/output
# error"), exit 1; what was stored before survives byte for byte; nothing half-written
# is visible (verify clean, no temporary file left); after space is freed puts work.
# Needs root (mount -t tmpfs); skips otherwise.
# kb-test-labels: cli fault
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
mnt="$tmp/mnt"
mkdir "$mnt"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=8m tmpfs "$mnt" 2>/dev/null; then
  rm -rf "$tmp"
  echo "skip: cannot mount a tmpfs (needs root)"
  exit 0
fi
trap 'umount "$mnt" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
c="$mnt/c"

head -c 300000 /dev/urandom > "$tmp/small"
id=$("$KBISECT" cache put --cache "$c" "$tmp/small")
# incompressible, larger than the disk
head -c 12000000 /dev/urandom > "$tmp/big"
set +e; "$KBISECT" cache put --cache "$c" "$tmp/big" >/dev/null 2>"$tmp/err"; rc=$?; set -e
[ $rc = 1 ] || fail "put on a full disk exited $rc ($(cat "$tmp/err"))"
[ "$(wc -l < "$tmp/err")" = 1 ] || fail "more than one line: $(cat "$tmp/err")"
grep -q "no space left" "$tmp/err" || fail "said '$(cat "$tmp/err")', want 'no space left'"
grep -qi "input/output" "$tmp/err" && fail "said Input/output error: $(cat "$tmp/err")"

# a get onto the full disk: a clear error, no partial output file
set +e; "$KBISECT" cache get --cache "$c" "$id" -o "$mnt/out" 2>"$tmp/err2"; rc=$?; set -e
if [ $rc != 0 ]; then
  grep -qi "no space left" "$tmp/err2" || fail "get said '$(cat "$tmp/err2")'"
  ls "$mnt" | grep "out" >/dev/null && fail "a failed get left a file: $(ls "$mnt")"
fi

# the store is whole and holds nothing of the failed put
"$KBISECT" cache verify --cache "$c" >/dev/null || fail "verify after disk full"
[ "$("$KBISECT" cache ls --cache "$c" | wc -l)" = 2 ] || fail "ls: $("$KBISECT" cache ls --cache "$c")"
"$KBISECT" cache get --cache "$c" "$id" -o "$tmp/back" && cmp -s "$tmp/small" "$tmp/back" \
  || fail "lost the object stored before"
ls -a "$c" | grep -E 'kbtmp|compact.tmp' >/dev/null && fail "temporary files left: $(ls -a "$c")"

# room again (a bigger disk): the same put works
mount -o remount,size=64m "$mnt"
big=$("$KBISECT" cache put --cache "$c" "$tmp/big") || fail "put after freeing space"
"$KBISECT" cache get --cache "$c" "$big" -o "$tmp/bigback" && cmp -s "$tmp/big" "$tmp/bigback" \
  || fail "big object after freeing space"
"$KBISECT" cache verify --cache "$c" >/dev/null || fail "verify at the end"
echo "ok"
