#!/usr/bin/env bash
# bench/kernel/run.sh - real kernel bisection: git bisect (a), syzbot's way (b) and kbisect
# (cold, warm, second bug) on the built-in scenario; see bench/kernel/README.md.
#   bench/kernel/run.sh [--seed N] [--commits 520] [--merges 20] [--only cold,warm,bugb,a,b]
# Builds kbisect in ./build unless --kbisect PATH is given. Logs go to stdout; keep them:
#   bench/kernel/run.sh --seed 1 2>&1 | tee bench-kernel-s1.log
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ " $* " != *" --kbisect "* ]]; then
  bash scripts/build.sh build >/dev/null
  set -- --kbisect build/cli/kbisect "$@"
fi
export KB_KERNEL_REPO=${KB_KERNEL_REPO:-$HOME/.cache/kbisect-demo/linux-6.1}
bash scripts/kernel-repo.sh >/dev/null
exec python3 bench/kernel/bench.py "$@"
