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

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rc=0
echo "== tests (gcc build: everything)"
(cd build && ctest --output-on-failure -j2 --timeout 900) || rc=1
echo "== tests (ASan+UBSan build: all but the vm and slow labels)"
(cd build-asan && ctest --output-on-failure -j2 -LE 'vm|slow|bench') || rc=1
exit $rc
