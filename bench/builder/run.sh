#!/usr/bin/env bash
# bench/builder/run.sh [bench.py options] - build the gcc build if needed and run the
# builder benchmark (see bench.py: plain incremental make vs kbisect build, cold and
# warm cache, builds avoided, dependency-skip precision). Takes tens of minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x build/cli/kbisect ] || bash scripts/build.sh build
exec python3 bench/builder/bench.py "$@"
