#!/usr/bin/env bash
# bench/cache/run.sh [KBISECT] - kbisect cache put/get against the zstd CLI on two
# consecutive real Debian cloud vmlinux images (scripts/fetch-kernels.sh), in one run.
# Prints MB/s for `kbisect cache put` / `kbisect cache get` and `zstd -3` / `zstd -d`
# on the same bytes (files in page cache, outputs to fresh files, median of N runs),
# the ratios, and the stored size of the second kernel against plain `zstd -3`.
# Targets: put and get >= 0.8x zstd; second kernel stored in <= 0.4x its zstd -3 size.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
kb=${1:-${KBISECT:-$src/build/cli/kbisect}}
runs=${KB_BENCH_RUNS:-5}
[ -x "$kb" ] || { echo "bench/cache: no kbisect binary at '$kb'; build first" >&2; exit 1; }
command -v zstd >/dev/null || { echo "bench/cache: needs the zstd CLI (apt-get install zstd)" >&2; exit 1; }
mapfile -t kern < <(bash "$src/scripts/fetch-kernels.sh")
A=$(echo "${kern[0]}" | awk '{print $3}')
B=$(echo "${kern[1]}" | awk '{print $3}')
work=$(mktemp -d "${TMPDIR:-/tmp}/kbbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat "$A" "$B" >/dev/null   # page cache
idA=$(sha256sum "$A" | cut -c1-64)
idB=$(sha256sum "$B" | cut -c1-64)
size=$(stat -c %s "$B")

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# time_ns CMD... : wall time of one run in ns; CPU seconds (user+sys, all threads)
# are appended to $work/cpu.<label> when /usr/bin/time exists
timer=""
[ -x /usr/bin/time ] && timer=/usr/bin/time
# KB_BENCH_RT=1: run every timed command (kbisect and zstd alike) under `chrt -f 50`, so
# that on a machine loaded by other jobs the wall-clock ratios measure the tools and not
# the run queue (needs root; the CPU-time figures do not use it).
rt=()
[ "${KB_BENCH_RT:-0}" = 1 ] && rt=(chrt -f 50)
time_ns() { local s e; s=$(now); "${rt[@]}" "$@" >/dev/null; e=$(now); echo $((e - s)); }
cpu() { # cpu LABEL CMD...
  local l=$1; shift
  if [ -n "$timer" ]; then "$timer" -a -o "$work/cpu.$l" -f "%U %S" "$@" >/dev/null; fi
}

declare -A T
for r in $(seq "$runs"); do
  rm -rf "$work/c" "$work"/*.zst "$work"/out*
  T[zc]+="$(time_ns zstd -3 -q -f "$A" -o "$work/a.zst") "
  T[zd]+="$(time_ns zstd -d -q -f "$work/a.zst" -o "$work/outz") "
  rm -f "$work/outz"
  T[zc2]+="$(time_ns zstd -3 -q -f "$B" -o "$work/b.zst") "
  T[pa]+="$(time_ns "$kb" cache put --cache "$work/c" --kind vmlinux "$A") "
  T[pb]+="$(time_ns "$kb" cache put --cache "$work/c" --kind vmlinux "$B") "
  T[ga]+="$(time_ns "$kb" cache get --cache "$work/c" "$idA" -o "$work/outa") "
  T[gb]+="$(time_ns "$kb" cache get --cache "$work/c" "$idB" -o "$work/outb") "
  # the same puts without fsync (zstd does not fsync either)
  rm -rf "$work/cn"
  T[na]+="$(KBISECT_CACHE_NOSYNC=1 time_ns "$kb" cache put --cache "$work/cn" --kind vmlinux "$A") "
  T[nb]+="$(KBISECT_CACHE_NOSYNC=1 time_ns "$kb" cache put --cache "$work/cn" --kind vmlinux "$B") "
  cmp -s "$work/outa" "$A" && cmp -s "$work/outb" "$B" || { echo "bench/cache: get returned wrong bytes" >&2; exit 1; }
  # CPU time of the same operations (a busy machine makes wall time noisy)
  rm -rf "$work/c2" "$work/outz" "$work/outa2" "$work/outb2"
  cpu zc zstd -3 -q -f "$A" -o "$work/a2.zst"
  cpu zd zstd -d -q -f "$work/a2.zst" -o "$work/outz"
  cpu pa "$kb" cache put --cache "$work/c2" --kind vmlinux "$A"
  cpu pb "$kb" cache put --cache "$work/c2" --kind vmlinux "$B"
  cpu ga "$kb" cache get --cache "$work/c2" "$idA" -o "$work/outa2"
  cpu gb "$kb" cache get --cache "$work/c2" "$idB" -o "$work/outb2"
done
med() { echo "${T[$1]}" | tr ' ' '\n' | grep . | median; }
mbs() { awk -v b="$size" -v t="$1" 'BEGIN {printf "%.0f", b / 1e6 / (t / 1e9)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b / a}'; }   # speed ratio = time_b/time_a

zs=$(stat -c %s "$work/b.zst")
stB=$("$kb" cache show --cache "$work/c" --json "$idB" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stored"])')
stA=$("$kb" cache show --cache "$work/c" --json "$idA" | python3 -c 'import json,sys; print(json.load(sys.stdin)["stored"])')
za=$(stat -c %s "$work/a.zst")

echo "bench/cache: $(basename "$(dirname "$A")") -> $(basename "$(dirname "$B")") vmlinux, $size bytes, median of $runs runs"
printf "%-34s %8s MB/s\n" "zstd -3 (kernel 1)" "$(mbs "$(med zc)")"
printf "%-34s %8s MB/s\n" "kbisect cache put (kernel 1, plain)" "$(mbs "$(med pa)")"
printf "%-34s %8s MB/s\n" "kbisect cache put (kernel 2, delta)" "$(mbs "$(med pb)")"
printf "%-34s %8s MB/s\n" "  same, KBISECT_CACHE_NOSYNC=1" "$(mbs "$(med na)") / $(mbs "$(med nb)")"
printf "%-34s %8s MB/s\n" "zstd -d (kernel 1)" "$(mbs "$(med zd)")"
printf "%-34s %8s MB/s\n" "kbisect cache get (kernel 1, plain)" "$(mbs "$(med ga)")"
printf "%-34s %8s MB/s\n" "kbisect cache get (kernel 2, delta)" "$(mbs "$(med gb)")"
echo "ratio put/zstd-3 (plain):  $(ratio "$(med pa)" "$(med zc)")  (target >= 0.8)"
echo "ratio put/zstd-3 (delta):  $(ratio "$(med pb)" "$(med zc)")  (target >= 0.8)"
echo "ratio put/zstd-3 without fsync: plain $(ratio "$(med na)" "$(med zc)"), delta $(ratio "$(med nb)" "$(med zc)")"
echo "ratio get/zstd-d (plain):  $(ratio "$(med ga)" "$(med zd)")  (target >= 0.8)"
echo "ratio get/zstd-d (delta):  $(ratio "$(med gb)" "$(med zd)")  (target >= 0.8)"
if [ -n "$timer" ]; then
  cmed() { awk '{print $1 + $2}' "$work/cpu.$1" | median; }
  echo "CPU seconds (user+sys, median): zstd -3 $(cmed zc), put plain $(cmed pa), put delta $(cmed pb); zstd -d $(cmed zd), get plain $(cmed ga), get delta $(cmed gb)"
  echo "CPU ratio put/zstd-3: plain $(ratio "$(cmed pa)" "$(cmed zc)"), delta $(ratio "$(cmed pb)" "$(cmed zc)"); get/zstd-d: plain $(ratio "$(cmed ga)" "$(cmed zd)"), delta $(ratio "$(cmed gb)" "$(cmed zd)")"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (wall-time ratios need a quiet machine${rt:+; timed under ${rt[*]}})"
echo "kernel 1 stored: $stA bytes, zstd -3: $za bytes (ratio $(awk -v a="$stA" -v b="$za" 'BEGIN {printf "%.3f", a / b}'))"
echo "kernel 2 stored: $stB bytes, zstd -3: $zs bytes (ratio $(awk -v a="$stB" -v b="$zs" 'BEGIN {printf "%.3f", a / b}'), target <= 0.4)"
