#!/usr/bin/env bash
# bench/vmpool/run.sh [BUILD_DIR] - snapshot clones vs cold boots, measured in one run on
# the same kernel (scripts/fetch-kernels.sh) and the same generated initramfs, under TCG:
#  1. "start a run" -> "reproducer running" (start_s of `kbisect pool run --json`):
#     a cold boot (--cold) vs a clone of the pre-booted template (target: >= 20x);
#  2. runs per minute for N short runs (default 20): the pool (P VMs = cores, clones,
#     template boot included) vs booting a fresh VM per run, one after the other.
# Prints the figures and the ratios. Env: RUNS (20), VMS (nproc), KBISECT.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
kb=${KBISECT:-$build/bisect/kbisect}
runs=${RUNS:-20}
vms=${VMS:-$(nproc)}
[ -x "$kb" ] || { echo "bench/vmpool: no kbisect at '$kb'; build first" >&2; exit 1; }
kernel=$(bash "$here/scripts/fetch-kernels.sh" | awk 'NR==1{print $2}')
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp
printf '#!/bin/sh\nexit 0\n' > "$tmp/short.sh"; chmod +x "$tmp/short.sh"
common=(--kernel "$kernel" --accel tcg --no-cache --timeout 30 --json)

stats() { # file.json -> "median_start_s mean_duration_s n_ok n"
  python3 - "$1" <<'PY'
import json, sys, statistics
d = json.load(open(sys.argv[1]))
r = d["runs"]
print("%.4f %.4f %d %d" % (statistics.median(x["start_s"] for x in r),
      statistics.mean(x["duration_s"] for x in r),
      sum(1 for x in r if x["class"] == "ok"), len(r)))
PY
}

echo "== kernel $kernel, $(nproc) cores, $vms VMs, TCG"
echo "== 1. start of a run -> reproducer running (median of 5)"
"$kb" pool run "${common[@]}" --repro "$tmp/short.sh" --runs 5 --vms 1 --cold > "$tmp/cold1.json"
"$kb" pool run "${common[@]}" --repro "$tmp/short.sh" --runs 5 --vms 1 > "$tmp/clone1.json"
read -r cold_start _ cold_ok cold_n < <(stats "$tmp/cold1.json")
read -r clone_start _ clone_ok clone_n < <(stats "$tmp/clone1.json")
echo "cold boot:      ${cold_start}s   (ok $cold_ok/$cold_n)"
echo "snapshot clone: ${clone_start}s   (ok $clone_ok/$clone_n)"
python3 -c "print('ratio cold/clone: %.1fx (target >= 20x)' % ($cold_start / $clone_start))"

echo "== 1b. the same with a static C reproducer (gcc -static, ~680 KB: a cold boot must"
echo "       also send it over the serial agent channel; a clone's template holds it)"
printf '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n' > "$tmp/short.c"
"$kb" pool run "${common[@]}" --repro "$tmp/short.c" --runs 3 --vms 1 --cold > "$tmp/cold1c.json"
"$kb" pool run "${common[@]}" --repro "$tmp/short.c" --runs 3 --vms 1 > "$tmp/clone1c.json"
read -r coldc_start _ _ _ < <(stats "$tmp/cold1c.json")
read -r clonec_start _ _ _ < <(stats "$tmp/clone1c.json")
echo "cold boot:      ${coldc_start}s"
echo "snapshot clone: ${clonec_start}s"
python3 -c "print('ratio cold/clone: %.1fx' % ($coldc_start / $clonec_start))"

echo "== 2. $runs short runs: throughput"
t0=$(date +%s.%N)
"$kb" pool run "${common[@]}" --repro "$tmp/short.sh" --runs "$runs" --vms 1 --cold > "$tmp/cold2.json"
t1=$(date +%s.%N)
"$kb" pool run "${common[@]}" --repro "$tmp/short.sh" --runs "$runs" --vms "$vms" > "$tmp/pool2.json"
t2=$(date +%s.%N)
read -r _ _ c_ok c_n < <(stats "$tmp/cold2.json")
read -r _ _ p_ok p_n < <(stats "$tmp/pool2.json")
python3 - "$t0" "$t1" "$t2" "$runs" "$c_ok" "$p_ok" <<'PY'
import sys
t0, t1, t2, n = map(float, sys.argv[1:5])
cold, pool = t1 - t0, t2 - t1
print("fresh VM per run, sequential: %5.1fs  %6.1f runs/min  (ok %s/%d)" % (cold, 60 * n / cold, sys.argv[5], n))
print("pool (template boot included): %5.1fs  %6.1f runs/min  (ok %s/%d)" % (pool, 60 * n / pool, sys.argv[6], n))
print("ratio pool/sequential: %.1fx" % (cold / pool))
PY

echo "== 3. 8 clones at once: time until all 8 run the reproducer, memory per clone"
printf '#!/bin/sh\nsleep 8\n' > "$tmp/sleep.sh"; chmod +x "$tmp/sleep.sh"
"$kb" pool run "${common[@]}" --repro "$tmp/sleep.sh" --runs 8 --vms 8 > "$tmp/par.json" &
bg=$!
pss_max=0; n_max=0
for _ in $(seq 1 400); do
  pids=$(pgrep -f "qemu-system-x86_64.*$tmp/.*/vm[0-9]/" || true)
  n=$(echo "$pids" | grep -c . || true)
  if [ "$n" -ge "$n_max" ] && [ "$n" -gt 0 ]; then
    pss=0
    for p in $pids; do
      v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
      pss=$((pss + ${v:-0}))
    done
    n_max=$n; pss_max=$pss
  fi
  kill -0 $bg 2>/dev/null || break
  sleep 0.1
done
wait $bg
python3 - "$tmp/par.json" "$n_max" "$pss_max" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = sorted(x["start_s"] for x in d["runs"])
n, pss = int(sys.argv[2]), int(sys.argv[3])
print("8 clones: start -> running %.3fs (fastest) .. %.3fs (slowest); ok %d/8" %
      (s[0], s[-1], sum(1 for x in d["runs"] if x["class"] == "ok")))
if n:
    print("PSS while %d clones ran: %.0f MB each" % (n, pss / 1024.0 / n))
PY
