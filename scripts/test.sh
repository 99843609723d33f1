#!/usr/bin/env bash
# scripts/test.sh - the README's test command: install dependencies, build kbisect twice
# (gcc, and clang with AddressSanitizer+UBSan), and run the whole suite in both.
# KB_TEST_QUICK=1 runs only the ASan build's unit label (for a fast local loop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

echo "== build (gcc, RelWithDebInfo)"
CC=gcc bash scripts/build.sh build
echo "== build (clang, ASan+UBSan)"
CC=clang bash scripts/build.sh build-asan -DKB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug

# a one-host Slurm cluster (munged, slurmctld, slurmd; state in a temporary directory)
# for the --executor slurm tests (label slurm), stopped whatever happens
KB_SLURM_DIR=$(mktemp -d /tmp/kb-slurm.XXXXXX)
export KB_SLURM_DIR
trap 'bash scripts/slurm-local.sh stop "$KB_SLURM_DIR"; rm -rf "$KB_SLURM_DIR"' EXIT
echo "== Slurm (scripts/slurm-local.sh start $KB_SLURM_DIR)"
bash scripts/slurm-local.sh start "$KB_SLURM_DIR" ||
	echo "== Slurm did not start: the slurm tests will say why and skip"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rc=0
# The 'demo' label (the real-kernel demo scenario bisected end to end, ~10 min on two
# idle cores, 25+ on a loaded one) runs only with KB_TEST_DEMO=1, to keep CI's suite short;
# everything else, real QEMU (vm) and real-kernel builds (slow) included, always runs.
exclude=demo
[ -n "${KB_TEST_DEMO:-}" ] && exclude='^$'
echo "== tests (gcc build: all labels but '$exclude')"
(cd build && ctest --output-on-failure -j2 --timeout 3000 -LE "$exclude") || rc=1
echo "== tests (ASan+UBSan build: all but the vm, slow and demo labels)"
(cd build-asan && ctest --output-on-failure -j2 -LE 'vm|slow|bench|demo') || rc=1
exit $rc
