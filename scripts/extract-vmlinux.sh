#!/usr/bin/env bash
# scripts/extract-vmlinux.sh BZIMAGE > VMLINUX - write the ELF kernel that a bzImage
# carries compressed (after the method of the kernel's scripts/extract-vmlinux: try each
# compression magic at each offset until the output is an ELF file).
set -euo pipefail
img=$1
[ -r "$img" ] || { echo "extract-vmlinux: cannot read '$img'" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

try() { # magic(hex-escaped for grep -P) name decompress-command...
  local magic=$1 name=$2; shift 2
  for pos in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1); do
    tail -c +$((pos + 1)) "$img" | "$@" > "$tmp/out" 2>/dev/null || true
    if [ -s "$tmp/out" ] && is_elf "$tmp/out"; then
      cat "$tmp/out"; exit 0
    fi
  done
}
try '\x28\xb5\x2f\xfd' zstd zstd -dc
try '\xfd\x37\x7a\x58\x5a\x00' xz xz -dc
try '\x1f\x8b\x08' gzip gzip -dc
try '\x5d\x00\x00\x00' lzma xz -dc --format=lzma
try '\x02\x21\x4c\x18' lz4 lz4 -dc
echo "extract-vmlinux: no compressed ELF kernel found in '$img'" >&2
exit 1
