#!/usr/bin/env bash
# bench/report/run.sh [MiB] - how fast the console parser is (report/report*.c), measured
# against a same-run baseline that only splits the console into lines and strstr()s one
# oops header. Builds bench/report/throughput.c with -O2 against the sources, feeds it a
# MiB-sized console (default 10: the real clean boot log of tests/data/oops repeated,
# then a real WARNING report) and prints MiB/s and the time ratios (median of 5).
# Target: kb_report_parse within 10x the baseline, i.e. a flooded 10 MiB console parses
# in well under a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kbbench-report.XXXXXX")
trap 'rm -rf "$work"' EXIT
${CC:-gcc} -std=c11 -D_GNU_SOURCE -O2 -I"$src/include" -I"$src" -o "$work/throughput" \
  "$here/throughput.c" "$src"/report/report*.c "$src/common/error.c" "$src/common/key.c" \
  -lcrypto -lpthread
"$work/throughput" "$src/tests/data/oops/real-clean-boot.txt" \
  "$src/tests/data/oops/real-warn.txt" "${1:-10}"
