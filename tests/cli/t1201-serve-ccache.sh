#!/usr/bin/env bash
# t1201-serve-ccache.sh - Debian's ccache (4.7.5) uses `kbisect cache serve` as its
# remote storage with layout=bazel: a small C project compiled twice from two separate
# local ccache directories; the second time every result is a remote hit.
# kb-test-labels: integration
# kb-test-timeout: 120
set -euo pipefail
K=${KBISECT:?set KBISECT to the kbisect binary}
command -v ccache >/dev/null || { echo "skip: ccache not installed (scripts/install-deps.sh)"; exit 0; }
T=$(mktemp -d /tmp/kbtest-t1201-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

printf 'token-for-ccache\n' >"$T/tokens"
"$K" cache serve --cache "$T/store" --listen 127.0.0.1:0 --port-file "$T/port" \
	--auth-token-file "$T/tokens" --duration 100 --quiet >/dev/null 2>"$T/err" &
pid=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { cat "$T/err"; fail "server did not start"; }
PORT=$(cat "$T/port")

mkdir "$T/src"
for i in 1 2 3 4; do
	printf '#include <string.h>\nint f%d(const char *s) { return (int)strlen(s) * %d; }\n' "$i" "$i" >"$T/src/f$i.c"
done
printf 'int f1(const char *);\nint main(void) { return f1("x") - 1; }\n' >"$T/src/main.c"

export CCACHE_CONFIGPATH=/dev/null
# the token travels as the password of HTTP basic auth
export CCACHE_REMOTE_STORAGE="http://ccache:token-for-ccache@127.0.0.1:$PORT/ccache|layout=bazel"
build() { # build DIR: compile everything with ccache dir DIR
	export CCACHE_DIR=$1
	ccache -z >/dev/null
	(cd "$T/src" && for f in *.c; do ccache gcc -O2 -c "$f" -o "${f%.c}.o"; done)
	ccache --print-stats >"$1.stats"
}
stat_of() { awk -v k="$2" '$1 == k { print $2 }' "$1.stats"; }

build "$T/ccache-a"
[ "$(stat_of "$T/ccache-a" remote_storage_hit)" = 0 ] || fail "first build had remote hits"
[ "$(stat_of "$T/ccache-a" remote_storage_write)" -ge 5 ] || fail "first build wrote nothing remote"
[ "$(stat_of "$T/ccache-a" remote_storage_error)" = 0 ] || fail "remote errors in first build"
rm -f "$T"/src/*.o
build "$T/ccache-b"
[ "$(stat_of "$T/ccache-b" remote_storage_hit)" = 5 ] || { cat "$T/ccache-b.stats"; fail "second build: not 5 remote hits"; }
[ "$(stat_of "$T/ccache-b" cache_miss)" = 0 ] || fail "second build compiled something"
ccache -s >"$T/s.txt"
grep -A3 -i "^remote storage" "$T/s.txt" | grep -Eq "Hits: +5 / +5" || { cat "$T/s.txt"; fail "ccache -s: not 5/5 remote hits"; }
(cd "$T/src" && gcc -o prog ./*.o && ./prog) || fail "objects from the remote do not link/run"

# a wrong token: ccache counts errors but still compiles (the server says 401)
export CCACHE_REMOTE_STORAGE="http://ccache:wrong@127.0.0.1:$PORT/ccache|layout=bazel"
build "$T/ccache-c"
[ "$(stat_of "$T/ccache-c" remote_storage_hit)" = 0 ] || fail "wrong token got hits"
curl -s -u x:token-for-ccache "http://127.0.0.1:$PORT/metrics" | grep -q '^kbisect_requests_total{method="GET",code="401"} [1-9]' \
	|| fail "401s not counted"
echo "ok t1201"
