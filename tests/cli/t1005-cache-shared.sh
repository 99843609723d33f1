#!/usr/bin/env bash
# tests/cli/t1005-cache-shared.sh - a cache made by one user, used by another: the files
# follow the umask (umask 002: group-writable, so a group shares one cache; umask 022:
# 0644 as before), and a user who may not write it can still read it (ls, get, verify:
# the read-only open works without write access to lock.mdb), while a put says clearly
# that the cache is not writable. Needs root (to run as 'nobody'); skips otherwise.
# kb-test-labels: cli
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null; then
  echo "skip: needs root, a 'nobody' user and setpriv"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
chmod 755 "$tmp"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
mode() { stat -c %a "$1"; }
head -c 300000 /dev/urandom > "$tmp/in"
chmod 644 "$tmp/in"
mkdir "$tmp/out"; chown nobody "$tmp/out"

for um in 002 022; do
  c="$tmp/c$um"
  id=$(umask $um; "$KBISECT" cache put --cache "$c" "$tmp/in")
  want=664; [ $um = 022 ] && want=644
  for f in data.mdb lock.mdb kbisect.lock; do
    [ "$(mode "$c/$f")" = $want ] || fail "umask $um: $f has mode $(mode "$c/$f"), want $want"
  done
  wantd=775; [ $um = 022 ] && wantd=755
  [ "$(mode "$c")" = $wantd ] || fail "umask $um: directory mode $(mode "$c"), want $wantd"
  # another user, who may not write it, reads it
  as_nobody "$KBISECT" cache ls --cache "$c" | grep "$id" >/dev/null || fail "umask $um: nobody cannot ls"
  as_nobody "$KBISECT" cache get --cache "$c" "$id" -o "$tmp/out/back$um" \
    || fail "umask $um: nobody cannot get"
  cmp -s "$tmp/in" "$tmp/out/back$um" || fail "umask $um: nobody got other bytes"
  as_nobody "$KBISECT" cache verify --cache "$c" >/dev/null || fail "umask $um: nobody cannot verify"
  set +e; as_nobody "$KBISECT" cache put --cache "$c" "$tmp/in" >/dev/null 2>"$tmp/err"; rc=$?; set -e
  [ $rc = 1 ] && grep -q "not writable" "$tmp/err" || fail "umask $um: put by nobody: $rc $(cat "$tmp/err")"
  # and the owner's cache is unharmed
  "$KBISECT" cache verify --cache "$c" >/dev/null || fail "umask $um: verify after"
done
echo ok
