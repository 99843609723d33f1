#!/usr/bin/env bash
# tests/cli/t1000-cache-put-get.sh - `kbisect cache put|get|ls|show|pin|unpin|verify|
# gc|compact`: put prints the SHA-256 of the file, get writes it back byte for byte
# (also to stdout), --cache vs $KBISECT_CACHE, help and usage exit codes.
# kb-test-labels: cli
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

head -c 3000000 /dev/urandom > "$tmp/img"
printf 'CONFIG_KASAN=y\n' > "$tmp/config"
want=$(sha256sum "$tmp/img" | cut -c1-64)

id=$("$KBISECT" cache put --cache "$tmp/c" "$tmp/img")
[ "$id" = "$want" ] || fail "put printed '$id', sha256sum says $want"
"$KBISECT" cache get --cache "$tmp/c" "$id" -o "$tmp/back"
cmp -s "$tmp/img" "$tmp/back" || fail "get returned other bytes"
"$KBISECT" cache get --cache "$tmp/c" "$id" -o - | cmp -s - "$tmp/img" || fail "get -o - differs"

# KBISECT_CACHE instead of --cache; stdin put; several files print "<id>  <file>"
export KBISECT_CACHE="$tmp/c"
id2=$("$KBISECT" cache put --kind config - < "$tmp/config")
[ "$id2" = "$(sha256sum "$tmp/config" | cut -c1-64)" ] || fail "stdin put id"
n=$("$KBISECT" cache put "$tmp/img" "$tmp/config" | grep -c '  ')
[ "$n" = 2 ] || fail "two files should print two '<id>  <file>' lines"
"$KBISECT" cache ls | grep "^$id " >/dev/null || fail "ls does not list $id"
"$KBISECT" cache ls --json | python3 -c '
import json, sys
objs = json.load(sys.stdin)
kinds = sorted(o["kind"] for o in objs)
assert kinds == ["blob", "config"], kinds' || fail "ls --json"
"$KBISECT" cache show "$id2" | grep '^kind: *config' >/dev/null || fail "show kind"
"$KBISECT" cache pin "$id"
"$KBISECT" cache show --json "$id" | python3 -c 'import json,sys; assert json.load(sys.stdin)["pinned"]' || fail "pin"
"$KBISECT" cache gc --max-size 1 | grep 'evicted 1 object' >/dev/null || fail "gc should evict the unpinned config only"
"$KBISECT" cache get "$id" -o "$tmp/back2" && cmp -s "$tmp/img" "$tmp/back2" || fail "pinned object lost"
"$KBISECT" cache unpin "$id"
"$KBISECT" cache verify | grep '^ok' >/dev/null || fail "verify"
"$KBISECT" cache compact | grep 'data.mdb' >/dev/null || fail "compact"
"$KBISECT" cache get "$id" -o "$tmp/back3" && cmp -s "$tmp/img" "$tmp/back3" || fail "after compact"

# help and usage
"$KBISECT" cache --help | grep 'kbisect cache put' >/dev/null || fail "cache --help"
for sub in put get ls show stats gc verify compact pin unpin; do
  "$KBISECT" cache "$sub" --help | grep "usage: " >/dev/null || fail "cache $sub --help"
done
set +e
"$KBISECT" cache frobnicate >/dev/null 2>&1; [ $? = 129 ] || fail "unknown subcommand: exit 129"
"$KBISECT" cache put --bogus x >/dev/null 2>&1; [ $? = 129 ] || fail "unknown option: exit 129"
"$KBISECT" cache get "$id" >/dev/null 2>&1; [ $? = 129 ] || fail "get without -o: exit 129"
"$KBISECT" cache get nothex -o x >/dev/null 2>&1; [ $? = 129 ] || fail "bad id: exit 129"
"$KBISECT" cache put --kind nosuch "$tmp/img" >/dev/null 2>&1; [ $? = 129 ] || fail "bad kind: exit 129"
"$KBISECT" cache >/dev/null 2>&1; [ $? = 129 ] || fail "no subcommand: exit 129"
exit 0
