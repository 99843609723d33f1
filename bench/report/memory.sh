#!/usr/bin/env bash
# bench/report/memory.sh [KBISECT] [MiB...] - memory of `kbisect report` on big consoles.
# Feeds `kbisect report -` a console of each size (default 64 and 1024 MiB: ordinary
# boot noise lines, then the real WARNING report of tests/data/oops/real-warn.txt) and
# prints its peak RSS next to the input size, and, as the same-run baseline, the peak
# RSS of `wc -l` reading the same stream. Target (docs/kbisect-report.md): the parser's
# memory does not grow with the console (kbisect 440f7c9 held 2.24 GB for 1 GiB).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
kbisect=${1:-$src/build/cli/kbisect}
shift || true
sizes=${*:-64 1024}
[ -x "$kbisect" ] || { echo "no kbisect at $kbisect; build first"; exit 0; }
[ -x /usr/bin/time ] || { echo "no /usr/bin/time; skipped"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kbbench-mem.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
feed() {
  { yes "[    1.234567][    T1] random: crng init done, some ordinary boot noise" |
      head -c $(($1 << 20)) || true; cat "$src/tests/data/oops/real-warn.txt"; }
}
printf '%10s %14s %14s %10s  %s\n' "input MiB" "report RSS MiB" "wc RSS MiB" "ratio" "title"
for mib in $sizes; do
  feed "$mib" | /usr/bin/time -f "%M %e" -o "$tmp/t" "$kbisect" report - > "$tmp/out"
  read -r rss secs < <(tail -1 "$tmp/t")
  feed "$mib" | /usr/bin/time -f "%M" -o "$tmp/b" wc -l > /dev/null
  base=$(tail -1 "$tmp/b")
  printf '%10d %14.1f %14.1f %9.1fx  %s (%ss)\n' "$mib" "$(echo "$rss/1024" | bc -l)" \
    "$(echo "$base/1024" | bc -l)" "$(echo "$rss/$base" | bc -l)" "$(cut -f2 "$tmp/out")" "$secs"
done
