#!/usr/bin/env bash
# tests/cli/t2001-pool-vmstate-key.sh - `kbisect pool run` keys saved vm states by the
# kernel signature (--vmlinux or --signature) + VM settings: a second bzImage with the
# same signature restores the first one's state from the cache (no boot), a changed
# VM setting (--mem) boots again, without a signature the bzImage hash is the key (so
# the other bzImage boots); bad --signature / --vmlinux input fails clearly.
# kb-test-labels: vm
# kb-test-timeout: 400
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
: "${KB_SOURCE_DIR:?set KB_SOURCE_DIR}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# usage and bad input
set +e
"$KBISECT" pool run --kernel k --repro r --signature xyz >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 129 ] || fail "bad --signature: exit $rc, want 129"
grep -q "bad --signature 'xyz'" "$tmp/err" || fail "bad --signature: $(cat "$tmp/err")"
"$KBISECT" pool run --kernel k --repro r --vmlinux v --signature "$(printf '0%.0s' {1..64})" \
  >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 129 ] || fail "--vmlinux with --signature: exit $rc, want 129"
"$KBISECT" pool run --kernel k --repro r --vmlinux "$tmp/no-vmlinux" --no-cache \
  >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "missing --vmlinux: exit $rc, want 1"
grep -q "no-vmlinux" "$tmp/err" || fail "missing --vmlinux: $(cat "$tmp/err")"
echo "not an elf" > "$tmp/bad-vmlinux"
"$KBISECT" pool run --kernel k --repro r --vmlinux "$tmp/bad-vmlinux" --no-cache \
  >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "bad --vmlinux: exit $rc, want 1: $(cat "$tmp/err")"
set -e
"$KBISECT" pool run --help | grep -- "--vmlinux <file> | --signature <hex>" >/dev/null || fail "--help"

read -r _ kernel vmlinux < <(bash "$KB_SOURCE_DIR/scripts/fetch-kernels.sh" 2>/dev/null | head -1) || true
if [ -z "${kernel:-}" ] || [ ! -r "$kernel" ] || [ ! -r "$vmlinux" ]; then
  echo "no kernel from scripts/fetch-kernels.sh: skipping the vm part" >&2
  exit 0
fi
sig=$("$KBISECT" signature "$vmlinux" | grep -oE '[0-9a-f]{64}' | head -1)
[ ${#sig} -eq 64 ] || fail "kbisect signature: '$sig'"
# two bzImages with the same kernel: the second has a byte appended (another hash)
cp "$kernel" "$tmp/a.bzImage"
cp "$kernel" "$tmp/b.bzImage"
printf 'x' >> "$tmp/b.bzImage"
printf '#!/bin/sh\nexit 0\n' > "$tmp/true.sh"
mkdir "$tmp/work"
export TMPDIR="$tmp/work" KBISECT_CACHE="$tmp/cache"
run() { # run NAME ARGS... -> $tmp/NAME.json
  local name=$1; shift
  "$KBISECT" pool run --repro "$tmp/true.sh" --accel tcg --timeout 30 --json "$@" \
    > "$tmp/$name.json" 2>"$tmp/$name.err" || fail "$name: $(cat "$tmp/$name.err")"
}
check() { # check NAME PYTHON-ASSERTIONS (d = the JSON, v = d["vms"])
  python3 - "$tmp/$1.json" "$2" <<'PY' || fail "$1: $(cat "$tmp/$1.json")"
import json, sys
d = json.load(open(sys.argv[1])); v = d["vms"]
assert all(r["class"] == "ok" for r in d["runs"]), d["runs"]
exec(sys.argv[2])
PY
}

run a --kernel "$tmp/a.bzImage" --vmlinux "$vmlinux"
check a "assert d['signature'] == '$sig' and d['vm_state_key'] == 'signature'; assert v['boots'] == 1, v"
run b --kernel "$tmp/b.bzImage" --signature "$sig"
check b "assert v['boots'] == 0 and v['cache_loads'] >= 1, v; assert d['runs'][0]['cloned']"
run mem --kernel "$tmp/b.bzImage" --signature "$sig" --mem 384
check mem "assert v['boots'] == 1 and v['cache_loads'] == 0, v"
run nosig --kernel "$tmp/b.bzImage"
check nosig "assert d['signature'] is None and d['vm_state_key'] == 'bzimage'; assert v['boots'] == 1, v"
# the text summary says what the key was
"$KBISECT" pool run --kernel "$tmp/a.bzImage" --signature "$sig" --repro "$tmp/true.sh" \
  --accel tcg > "$tmp/text" 2>&1 || fail "text: $(cat "$tmp/text")"
grep -q "^vm states: 0 booted, [1-9][0-9]* from the cache, 0 from the state dir (keyed by kernel signature)" \
  "$tmp/text" || fail "text summary: $(cat "$tmp/text")"
echo ok
