#!/usr/bin/env bash
# scripts/demo-cache.sh - the cache demo: install what is missing, build kbisect,
# fetch two real consecutive Debian cloud kernels, store both vmlinux and both bzImage
# in a FRESH cache, and show their kernel signatures and what the cache made of them
# (compression, shared chunks, deltas).
#   KB_DEMO_CACHE=DIR   cache directory to (re)create (default ./demo-cache; removed first)
#   KB_DEMO_NO_DEPS=1   skip scripts/install-deps.sh (no root needed)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n== %s\n' "$*"; }

if [ -z "${KB_DEMO_NO_DEPS:-}" ]; then
  step "install dependencies (scripts/install-deps.sh)"
  bash scripts/install-deps.sh
fi

step "build kbisect (scripts/build.sh build)"
bash scripts/build.sh build
kb=$root/build/cli/kbisect
"$kb" --version

step "fetch two real kernels (scripts/fetch-kernels.sh)"
mapfile -t kernels < <(bash scripts/fetch-kernels.sh)
[ ${#kernels[@]} -ge 2 ] || { echo "demo: fetch-kernels.sh gave no kernels" >&2; exit 1; }
printf '%s\n' "${kernels[@]}"

cache=${KB_DEMO_CACHE:-$root/demo-cache}
case "$cache" in /|"$HOME"|"$root") echo "demo: refusing to remove '$cache'" >&2; exit 1;; esac
rm -rf "$cache"
export KBISECT_CACHE=$cache
step "fresh cache in $cache"

# `cache put --kind` when this build of kbisect has it (stats per kind).
kind() { "$kb" cache put --help 2>&1 | grep -- '--kind' >/dev/null && echo "--kind=$1" || true; }
sigs=()
for line in "${kernels[@]}"; do
  read -r name bz vm <<<"$line"
  sig=$("$kb" signature "$vm")
  sigs+=("$sig")
  echo "$name"
  echo "  kernel signature  $sig"
  t0=$(date +%s.%N)
  vid=$("$kb" cache put $(kind vmlinux) "$vm" | awk '{print $1}' | tail -n 1)
  bid=$("$kb" cache put $(kind bzimage) "$bz" | awk '{print $1}' | tail -n 1)
  t1=$(date +%s.%N)
  printf '  vmlinux  %s  (%s bytes)\n' "$vid" "$(stat -c %s "$vm")"
  printf '  bzImage  %s  (%s bytes)\n' "$bid" "$(stat -c %s "$bz")"
  printf '  stored both in %.1fs\n' "$(echo "$t1 - $t0" | bc)"
done
if [ "${sigs[0]}" = "${sigs[1]}" ]; then
  echo "the two kernels have the SAME signature: a bisection would treat them as one"
else
  echo "the two kernels have different signatures: they may behave differently"
fi

step "kbisect cache stats"
"$kb" cache stats
du -sh "$cache" | awk '{print "cache on disk: " $1}'
