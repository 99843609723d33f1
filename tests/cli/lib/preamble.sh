# tests/cli/lib/preamble.sh - sourced first by CLI tests (after setting $src): strict
# mode, $KBISECT required, a scratch directory $tmp removed on exit, fail(), and git's
# author variables for the test repositories.
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
