# tests/cli/lib/preamble.sh - sourced first by CLI tests (after setting $src): strict
# mode, $KBISECT required, a scratch directory $tmp removed on exit, fail(), and git's
# author variables for the test repositories; kernel_or_skip for the tests that boot
# one real kernel.
set -euo pipefail
# Under pipefail a pipeline whose writer dies of SIGPIPE fails: never end one in a reader
# that may leave early (grep -q, head -1) while the writer may still write. Match a variable
# with `grep -q PAT <<<"$var"`, a command's output with `cmd | grep PAT >/dev/null` (GNU
# grep without -q reads all its input).
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t

# kernel_or_skip: sets kernel to the bzImage of the first kernel scripts/fetch-kernels.sh
# gives; without one, says so and exits 0 (the test is skipped).
kernel_or_skip() {
  kernel=$(bash "$src/scripts/fetch-kernels.sh" 2>/dev/null | awk 'NR==1{print $2}') || true
  if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
    echo "no kernel from scripts/fetch-kernels.sh: skipping" >&2
    exit 0
  fi
}
