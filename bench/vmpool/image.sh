#!/usr/bin/env bash
# bench/vmpool/image.sh [BUILD_DIR] - disk images and the vm state key, measured in one
# run under TCG:
#  1. --image: "start a run" -> "reproducer running" (start_s, median of 5) for a cold
#     boot of the image (--cold) vs a clone of the pre-booted image; the small kernel of
#     scripts/disk-kernel.sh and the image of scripts/make-image.sh;
#  2. the vm state key: wall time of a 1-run `pool run` on a rebuilt bzImage of a kernel
#     whose state is in the cache, keyed by the bzImage hash (boots again) vs by the
#     kernel signature (--vmlinux: restored, no boot); Debian cloud kernel.
# Prints the figures and the ratios. Env: KBISECT.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
kb=${KBISECT:-$build/cli/kbisect}
[ -x "$kb" ] || { echo "bench/vmpool: no kbisect at '$kb'; build first" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp
printf '#!/bin/sh\nexit 0\n' > "$tmp/short.sh"
median_start() {
  python3 -c 'import json,sys,statistics; r=json.load(open(sys.argv[1]))["runs"]
assert all(x["class"] == "ok" for x in r), r
print("%.3f" % statistics.median(x["start_s"] for x in r))' "$1"
}

echo "== 1. --image: cold boot vs clone (start -> reproducer running, median of 5)"
dk=$(bash "$here/scripts/disk-kernel.sh")
bash "$here/scripts/make-image.sh" "$tmp/disk.raw" "$build/vmpool/kbisect-agent" >/dev/null 2>&1
img=(--kernel "$dk" --image "$tmp/disk.raw" --accel tcg --no-cache --timeout 30 --json
     --repro "$tmp/short.sh" --runs 5 --vms 1)
"$kb" pool run "${img[@]}" --cold > "$tmp/cold.json"
"$kb" pool run "${img[@]}" > "$tmp/clone.json"
cold=$(median_start "$tmp/cold.json"); clone=$(median_start "$tmp/clone.json")
echo "cold boot of the image: ${cold}s"
echo "clone of the image:     ${clone}s"
python3 -c "print('ratio cold/clone: %.1fx' % ($cold / $clone))"

echo "== 2. a rebuilt bzImage (same kernel, other bytes) whose state is in the cache"
read -r _ kernel vmlinux < <(bash "$here/scripts/fetch-kernels.sh" | head -1)
cp "$kernel" "$tmp/old.bzImage"; cp "$kernel" "$tmp/new.bzImage"; printf 'x' >> "$tmp/new.bzImage"
export KBISECT_CACHE=$tmp/cache
k=(--accel tcg --timeout 30 --json --repro "$tmp/short.sh")
"$kb" pool run "${k[@]}" --kernel "$tmp/old.bzImage" > /dev/null       # state by bzImage hash
"$kb" pool run "${k[@]}" --kernel "$tmp/old.bzImage" --vmlinux "$vmlinux" > /dev/null # by signature
t0=$(date +%s.%N)
"$kb" pool run "${k[@]}" --kernel "$tmp/new.bzImage" > "$tmp/byhash.json"
t1=$(date +%s.%N)
"$kb" pool run "${k[@]}" --kernel "$tmp/new.bzImage" --vmlinux "$vmlinux" > "$tmp/bysig.json"
t2=$(date +%s.%N)
python3 - "$tmp/byhash.json" "$tmp/bysig.json" "$t0" "$t1" "$t2" <<'PY'
import json, sys
h, s = (json.load(open(f))["vms"] for f in sys.argv[1:3])
t0, t1, t2 = map(float, sys.argv[3:6])
print("keyed by bzImage hash: %.1fs (boots %d, from cache %d)" % (t1 - t0, h["boots"], h["cache_loads"]))
print("keyed by signature:    %.1fs (boots %d, from cache %d)" % (t2 - t1, s["boots"], s["cache_loads"]))
print("ratio hash/signature: %.1fx" % ((t1 - t0) / (t2 - t1)))
PY
