#!/usr/bin/env bash
# scripts/fetch-kernels.sh [DIR] - download two consecutive Debian 12 cloud kernels
# (linux-image-*-cloud-amd64-unsigned) into DIR (default $KB_KERNEL_DIR or
# ~/.cache/kbisect-kernels) and unpack them. Prints, one per line:
#   <name> <bzImage path> <vmlinux path>
# vmlinux is the ELF payload of the bzImage (sections intact, symbols stripped), which
# is what `kbisect signature` needs. Files already present are reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${KB_KERNEL_DIR:-$HOME/.cache/kbisect-kernels}}
mkdir -p "$dir"
cd "$dir"

# Preferred pair (6.1.192-1 and 6.1.192-2); fall back to the two newest 6.1 cloud kernels.
pkgs=(linux-image-6.1.0-55-cloud-amd64-unsigned linux-image-6.1.0-56-cloud-amd64-unsigned)
have_pkg() { apt-cache show "$1" >/dev/null 2>&1; }
if ! have_pkg "${pkgs[0]}" || ! have_pkg "${pkgs[1]}"; then
  [ -n "$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' 2>/dev/null)" ] \
    || apt-get update -qq >/dev/null 2>&1 || true
  mapfile -t pkgs < <(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' \
    | awk '{print $1}' | sort -t- -k4,4n | tail -n 2)
fi
if [ ${#pkgs[@]} -lt 2 ]; then
  echo "fetch-kernels: no Debian cloud kernel packages found; run 'apt-get update'" >&2
  exit 1
fi

for p in "${pkgs[@]}"; do
  name=${p#linux-image-}; name=${name%-unsigned}
  if [ ! -s "$name/vmlinux" ]; then
    rm -rf "$name.tmp" && mkdir -p "$name.tmp"
    ( cd "$name.tmp" && apt-get download "$p" >/dev/null 2>&1 ) || {
      echo "fetch-kernels: 'apt-get download $p' failed; check the network and 'apt-get update'" >&2
      exit 1; }
    dpkg -x "$name.tmp"/*.deb "$name.tmp/x"
    mkdir -p "$name"
    cp "$name.tmp"/x/boot/vmlinuz-* "$name/bzImage"
    cp "$name.tmp"/x/boot/config-* "$name/config"
    bash "$here/extract-vmlinux.sh" "$name/bzImage" > "$name/vmlinux.tmp"
    mv "$name/vmlinux.tmp" "$name/vmlinux"
    rm -rf "$name.tmp"
  fi
  echo "$name $dir/$name/bzImage $dir/$name/vmlinux"
done
