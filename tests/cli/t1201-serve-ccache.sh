#!/usr/bin/env bash
# t1201-serve-ccache.sh - Debian's ccache (4.7.5) uses `kbisect cache serve` as its
# remote storage with each of its layouts (bazel, subdirs - ccache's default - and flat):
# a small C project compiled twice from two separate local ccache directories; the
# second time every result is a remote hit. DELETE (ccache's remove) drops a key.
# kb-test-labels: integration
# kb-test-timeout: 180
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
T=$tmp
command -v ccache >/dev/null || { echo "skip: ccache not installed (scripts/install-deps.sh)"; exit 0; }

printf 'token-for-ccache\n' >"$T/tokens"
serve_start --cache "$T/store" --auth-token-file "$T/tokens" --duration 100

mkdir "$T/src"
for i in 1 2 3 4; do
	printf '#include <string.h>\nint f%d(const char *s) { return (int)strlen(s) * %d; }\n' "$i" "$i" >"$T/src/f$i.c"
done
printf 'int f1(const char *);\nint main(void) { return f1("x") - 1; }\n' >"$T/src/main.c"

export CCACHE_CONFIGPATH=/dev/null
# the token travels as the password of HTTP basic auth
build() { # build DIR: compile everything with ccache dir DIR
	export CCACHE_DIR=$1
	ccache -z >/dev/null
	(cd "$T/src" && for f in *.c; do ccache gcc -O2 -c "$f" -o "${f%.c}.o"; done)
	ccache --print-stats >"$1.stats"
}
stat_of() { awk -v k="$2" '$1 == k { print $2 }' "$1.stats"; }

for layout in bazel subdirs flat; do
	export CCACHE_REMOTE_STORAGE="http://ccache:token-for-ccache@127.0.0.1:$PORT/ccache|layout=$layout"
	rm -f "$T"/src/*.o
	build "$T/ccache-a-$layout"
	[ "$(stat_of "$T/ccache-a-$layout" remote_storage_hit)" = 0 ] || fail "$layout: first build had remote hits"
	[ "$(stat_of "$T/ccache-a-$layout" remote_storage_write)" -ge 5 ] || fail "$layout: first build wrote nothing remote"
	[ "$(stat_of "$T/ccache-a-$layout" remote_storage_error)" = 0 ] || fail "$layout: remote errors in first build"
	rm -f "$T"/src/*.o
	build "$T/ccache-b-$layout"
	[ "$(stat_of "$T/ccache-b-$layout" remote_storage_hit)" = 5 ] || { cat "$T/ccache-b-$layout.stats"; fail "$layout: second build: not 5 remote hits"; }
	[ "$(stat_of "$T/ccache-b-$layout" remote_storage_error)" = 0 ] || fail "$layout: remote errors in second build"
	[ "$(stat_of "$T/ccache-b-$layout" cache_miss)" = 0 ] || fail "$layout: second build compiled something"
	ccache -s >"$T/s.txt"
	grep -A3 -i "^remote storage" "$T/s.txt" | grep -E "Hits: +5 / +5" >/dev/null || { cat "$T/s.txt"; fail "$layout: ccache -s: not 5/5 remote hits"; }
	(cd "$T/src" && gcc -o prog ./*.o && ./prog) || fail "$layout: objects from the remote do not link/run"
done
[ "$(grep -c ' /ccache/[0-9a-v][0-9a-v]/[0-9a-v]* HTTP/1.1" 200 ' "$T/err")" -ge 5 ] || fail "subdirs layout not served"

# DELETE of a ccache key (subdirs and flat paths are plain keys)
U="http://127.0.0.1:$PORT/ccache"
code() { curl -s -o /dev/null -w '%{http_code}' -u x:token-for-ccache "$@"; }
[ "$(code -X PUT --data-binary hello "$U/ab/cdef0123")" = 201 ] || fail "PUT of a subdirs key"
[ "$(curl -s -u x:token-for-ccache "$U/ab/cdef0123")" = hello ] || fail "GET of a subdirs key"
[ "$(code "$U/abcdef0123")" = 404 ] || fail "the flat path of another key answered"
[ "$(code -X DELETE -u x:wrong "$U/ab/cdef0123")" = 401 ] || fail "DELETE without a valid token"
[ "$(code -X DELETE "$U/ab/cdef0123")" = 200 ] || fail "DELETE of a stored key"
[ "$(code "$U/ab/cdef0123")" = 404 ] || fail "GET after DELETE"
[ "$(code -X DELETE "$U/ab/cdef0123")" = 404 ] || fail "DELETE of a missing key"
[ "$(code -X DELETE "http://127.0.0.1:$PORT/cas/$(printf x | sha256sum | cut -c1-64)")" = 405 ] || fail "DELETE on /cas/"

# a wrong token: ccache counts errors but still compiles (the server says 401)
export CCACHE_REMOTE_STORAGE="http://ccache:wrong@127.0.0.1:$PORT/ccache|layout=bazel"
build "$T/ccache-c"
[ "$(stat_of "$T/ccache-c" remote_storage_hit)" = 0 ] || fail "wrong token got hits"
grep -q '^kbisect_requests_total{method="GET",code="401"} [1-9]' \
	<<<"$(curl -s -u x:token-for-ccache "http://127.0.0.1:$PORT/metrics")" || fail "401s not counted"
echo "ok t1201"
