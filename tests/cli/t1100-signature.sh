#!/usr/bin/env bash
# tests/cli/t1100-signature.sh - `kbisect signature`: today's algorithm and --legacy
# match an independent Python computation and one from readelf + objcopy section dumps
# on a gcc-built ELF (and on the real Debian kernels when they are already in
# ~/.cache/kbisect-kernels: this test never downloads), --json, bad input, usage.
# kb-test-labels: cli
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py="$src/tests/helpers/elf_signature.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

printf 'int v = 3;\nint main(void) { return v; }\n' > "$tmp/p.c"
gcc -g -o "$tmp/p" "$tmp/p.c"
want=$(python3 "$py" "$tmp/p" | cut -d' ' -f1)
got=$("$KBISECT" signature "$tmp/p")
[ "$got" = "$want" ] || fail "signature $got, python says $want"
[[ "$got" =~ ^[0-9a-f]{64}$ ]] || fail "not 64 hex: $got"

# a third computation from binutils: readelf lists the sections (allocated, not NOBITS
# or NOTE, in header order), objcopy dumps each one's bytes, hashlib does the rest
binutils_sig() { # FILE legacy|syzkaller
  local f=$1 algo=$2 i=0 name
  : > "$tmp/list"
  LC_ALL=C readelf -S -W "$f" | sed -n 's/^ *\[ *\([0-9]*\)\] \([^ ]*\) *\([A-Z_a-z0-9]*\) .*/\1 \2 \3/p' |
  while read -r idx name type; do
    flags=$(LC_ALL=C readelf -S -W "$f" | grep -E "^ *\[ *$idx\] " | awk '{print $(NF-3)}')
    [ "$idx" = 0 ] && continue
    case "$flags" in *A*) ;; *) continue ;; esac
    case "$type" in NOBITS|NOTE) continue ;; esac
    objcopy --dump-section "$name=$tmp/sec.$idx" "$f" "$tmp/junk" 2>/dev/null ||
      : > "$tmp/sec.$idx" # an empty section cannot be dumped
    echo "$tmp/sec.$idx" >> "$tmp/list"
  done
  python3 - "$algo" "$tmp/list" <<'PY'
import hashlib, sys
h = hashlib.sha256()
for path in open(sys.argv[2]).read().split():
    data = open(path, "rb").read()
    h.update(data if sys.argv[1] == "legacy" else hashlib.sha256(data).digest())
print(h.hexdigest())
PY
}
bu=$(binutils_sig "$tmp/p" syzkaller)
[ "$got" = "$bu" ] || fail "signature $got, readelf+objcopy say $bu"

# --legacy: syzkaller's algorithm before 2022-06-23, also checked twice
legacy=$("$KBISECT" signature --legacy "$tmp/p")
want_legacy=$(python3 "$py" --legacy "$tmp/p" | cut -d' ' -f1)
[ "$legacy" = "$want_legacy" ] || fail "legacy $legacy, python says $want_legacy"
bu=$(binutils_sig "$tmp/p" legacy)
[ "$legacy" = "$bu" ] || fail "legacy $legacy, readelf+objcopy say $bu"
[ "$legacy" != "$got" ] || fail "legacy and today's signature are equal: $got"

# --json
json=$("$KBISECT" signature --json "$tmp/p")
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["signature"]==sys.argv[2], o; assert o["file"]==sys.argv[3]; assert o["algorithm"]=="syzkaller", o' \
  "$json" "$want" "$tmp/p" || fail "bad json: $json"
json=$("$KBISECT" signature --json --legacy "$tmp/p")
python3 -c 'import json,sys; o=json.loads(sys.argv[1]); assert o["signature"]==sys.argv[2], o; assert o["algorithm"]=="legacy", o' \
  "$json" "$want_legacy" || fail "bad --legacy json: $json"

# several files: "<sig>  <file>" lines, like sha256sum
cp "$tmp/p" "$tmp/q"
n=$("$KBISECT" signature "$tmp/p" "$tmp/q" | grep -c "^$want  ")
[ "$n" = 2 ] || fail "expected 2 lines for 2 files"

# bad input: exit 1 and the file named on stderr, nothing on stdout
echo "plain text" > "$tmp/text"
head -c 100 "$tmp/p" > "$tmp/trunc"
for f in "$tmp/text" "$tmp/trunc" "$tmp/missing"; do
  set +e
  out=$("$KBISECT" signature "$f" 2>"$tmp/err"); rc=$?
  set -e
  [ $rc -eq 1 ] || fail "exit $rc for $f (want 1)"
  [ -z "$out" ] || fail "stdout not empty for $f"
  grep -q "$f" "$tmp/err" || fail "error does not name $f: $(cat "$tmp/err")"
done

# usage
set +e
"$KBISECT" signature >/dev/null 2>&1; rc1=$?
"$KBISECT" signature --bogus "$tmp/p" >/dev/null 2>&1; rc2=$?
set -e
[ $rc1 -eq 129 ] || fail "no file: exit $rc1, want 129"
[ $rc2 -eq 129 ] || fail "bad option: exit $rc2, want 129"
"$KBISECT" signature --help | grep "kernel signature" >/dev/null || fail "--help"

# real kernels, when fetched already (scripts/fetch-kernels.sh)
kdir=${KB_KERNEL_DIR:-$HOME/.cache/kbisect-kernels}
for v in "$kdir"/*/vmlinux; do
  [ -s "$v" ] || continue
  want=$(python3 "$py" "$v" | cut -d' ' -f1)
  got=$("$KBISECT" signature "$v")
  [ "$got" = "$want" ] || fail "real kernel $v: $got, python says $want"
  echo "ok: $v $got"
done
echo "t1100-signature: ok"
