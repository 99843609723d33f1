#!/usr/bin/env bash
# bench/vmpool/run.sh [BUILD_DIR] - snapshot clones vs cold boots, measured in one run on
# the same kernel (scripts/fetch-kernels.sh) and the same generated initramfs, under TCG:
#  1. "start a run" -> "reproducer running" (start_s of `kbisect pool run --json`):
#     a cold boot (--cold) vs a clone of the pre-booted template (target: >= 20x);
#  2. runs per minute for N short runs (default 20): the pool (P VMs = cores, clones,
#     template boot included) vs booting a fresh VM per run, one after the other;
#  3. 8 clones at once: time to all running, memory per clone;
#  4. randomness in clones: the crash rate of an RNG-driven reproducer (it crashes the
#     kernel when the first digit of a kernel-made random UUID is odd, p = 1/2) in
#     RATE_RUNS clones vs RATE_RUNS cold boots, with a two-proportion z-test; and
#     whether any two clones of the template shared their entropy token.
# Prints the figures and the ratios. Env: RUNS (20), VMS (nproc), RATE_RUNS (40),
# ONLY (e.g. "4": run only the sections listed), KBISECT.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
kb=${KBISECT:-$build/cli/kbisect}
runs=${RUNS:-20}
vms=${VMS:-$(nproc)}
rate_runs=${RATE_RUNS:-40}
only=${ONLY:-1234}
want() { case "$only" in *"$1"*) return 0;; esac; return 1; }
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

# cold_vs_clone REPRO RUNS TAG: RUNS cold boots then RUNS clones, one VM each (kept in
# $tmp/coldTAG.json, $tmp/cloneTAG.json); sets cold_start/clone_start (median start_s),
# cold_ok/clone_ok (runs classed ok) and cold_n/clone_n (runs).
cold_vs_clone() {
  "$kb" pool run "${common[@]}" --repro "$1" --runs "$2" --vms 1 --cold > "$tmp/cold$3.json"
  "$kb" pool run "${common[@]}" --repro "$1" --runs "$2" --vms 1 > "$tmp/clone$3.json"
  read -r cold_start _ cold_ok cold_n < <(stats "$tmp/cold$3.json")
  read -r clone_start _ clone_ok clone_n < <(stats "$tmp/clone$3.json")
}

echo "== kernel $kernel, $(nproc) cores, $vms VMs, TCG"
if want 1; then
echo "== 1. start of a run -> reproducer running (median of 5)"
cold_vs_clone "$tmp/short.sh" 5 1
echo "cold boot:      ${cold_start}s   (ok $cold_ok/$cold_n)"
echo "snapshot clone: ${clone_start}s   (ok $clone_ok/$clone_n)"
python3 -c "print('ratio cold/clone: %.1fx (target >= 20x)' % ($cold_start / $clone_start))"

echo "== 1b. the same with a static C reproducer (gcc -static, ~680 KB: a cold boot must"
echo "       also send it over the serial agent channel; a clone's template holds it)"
printf '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n' > "$tmp/short.c"
cold_vs_clone "$tmp/short.c" 3 1c
echo "cold boot:      ${cold_start}s"
echo "snapshot clone: ${clone_start}s"
python3 -c "print('ratio cold/clone: %.1fx' % ($cold_start / $clone_start))"

fi
if want 2; then
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

fi
if want 3; then
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
fi
if want 4; then
echo "== 4. randomness in clones: crash rate of an RNG-driven reproducer, $rate_runs runs each"
cat > "$tmp/rng.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
/* crashes the kernel when the guest kernel's RNG says so: p = 1/2 */
int main(void) {
  char u[64] = "", d[2] = "";
  FILE *f = fopen("/proc/sys/kernel/random/uuid", "r");
  if (!f || !fgets(u, sizeof u, f)) return 1;
  d[0] = u[0];
  if (strtol(d, NULL, 16) & 1) {
    int fd = open("/proc/sysrq-trigger", O_WRONLY);
    return write(fd, "c", 1) == 1 ? 0 : 1;
  }
  puts("no crash this time");
  return 0;
}
C
t0=$(date +%s.%N)
"$kb" pool run "${common[@]}" --repro "$tmp/rng.c" --runs "$rate_runs" --vms "$vms" --cold > "$tmp/rcold.json"
t1=$(date +%s.%N)
"$kb" pool run "${common[@]}" --repro "$tmp/rng.c" --runs "$rate_runs" --vms "$vms" > "$tmp/rclone.json"
t2=$(date +%s.%N)
python3 - "$tmp/rcold.json" "$tmp/rclone.json" "$t0" "$t1" "$t2" <<'PY'
import json, math, sys
cold, clone = (json.load(open(p))["runs"] for p in sys.argv[1:3])
t0, t1, t2 = map(float, sys.argv[3:6])
def rate(runs):
    valid = [r for r in runs if r["class"] in ("ok", "crash")]
    return sum(1 for r in valid if r["class"] == "crash"), len(valid), len(runs)
kc, nc, ac = rate(cold)
kk, nk, ak = rate(clone)
print("cold boots: %d/%d crashed (%.2f), %d other; %.0f s" % (kc, nc, kc / nc, ac - nc, t1 - t0))
print("clones:     %d/%d crashed (%.2f), %d other; %.0f s" % (kk, nk, kk / nk, ak - nk, t2 - t1))
p = (kc + kk) / (nc + nk)
se = math.sqrt(p * (1 - p) * (1 / nc + 1 / nk)) or 1
z = (kk / nk - kc / nc) / se
pval = math.erfc(abs(z) / math.sqrt(2))
print("difference clone - cold: %+.2f, z = %.2f, two-sided p = %.2f (%s)" %
      (kk / nk - kc / nc, z, pval, "equal within noise" if pval > 0.01 else "DIFFERENT"))
toks = [r["entropy_token"] for r in clone if r["entropy_token"]]
print("clone entropy tokens: %d, distinct %d; infra 'clone entropy not refreshed': %d" %
      (len(toks), len(set(toks)),
       sum(1 for r in clone if r["title"] == "kbisect: clone entropy not refreshed")))
print("time per run: cold %.1f s, clone %.1f s (%.1fx)" %
      ((t1 - t0) / len(cold), (t2 - t1) / len(clone), (t1 - t0) / (t2 - t1)))
PY
fi
