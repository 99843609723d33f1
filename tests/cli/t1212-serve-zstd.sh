#!/usr/bin/env bash
# t1212-serve-zstd.sh - zstd on the wire of `kbisect cache serve`: a PUT sent with
# "Content-Encoding: zstd" (made by the zstd tool) is stored decoded and checked against
# its key like any other; a GET with "Accept-Encoding: zstd" gets a zstd frame that
# the zstd tool decodes to the stored bytes (smaller than them for text), a GET without
# it the plain bytes. A damaged frame, a frame cut short, a key that is not the SHA-256
# of the decoded body, or another encoding store nothing.
# kb-test-labels: integration
# kb-test-timeout: 60
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
T=$tmp
command -v zstd >/dev/null || { echo "skip: zstd tool not installed"; exit 0; }

serve_start --cache "$T/store" --duration 50 --quiet
U=$URL
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# a kernel-log-like text (compressible) and random bytes
for i in $(seq 3000); do printf '[%6d.%06d] kworker/%d:%d: event %d handled\n' $((i / 7)) $((i * 7919 % 1000000)) $((i % 4)) $((i % 3)) "$RANDOM"; done >"$T/text"
head -c 1500000 /dev/urandom >"$T/rand"
for f in text rand; do
	zstd -q -c "$T/$f" >"$T/$f.zst"
	key=$(sha256sum "$T/$f" | cut -c1-64)
	[ "$(code -X PUT -H 'Content-Encoding: zstd' --data-binary @"$T/$f.zst" "$U/cas/$key")" = 201 ] \
		|| fail "$f: zstd PUT"
	curl -sf "$U/cas/$key" -o "$T/$f.plain" || fail "$f: plain GET"
	cmp "$T/$f" "$T/$f.plain" || fail "$f: stored bytes differ"
	curl -sf -H 'Accept-Encoding: gzip, zstd' -D "$T/$f.hdr" "$U/cas/$key" -o "$T/$f.got.zst" || fail "$f: zstd GET"
	grep -qi '^content-encoding: zstd' "$T/$f.hdr" || { cat "$T/$f.hdr"; fail "$f: no Content-Encoding: zstd"; }
	zstd -q -d -c "$T/$f.got.zst" >"$T/$f.got" || fail "$f: the answer is not zstd"
	cmp "$T/$f" "$T/$f.got" || fail "$f: decoded answer differs"
	curl -sf -H 'Accept-Encoding: zstd;q=0' -D "$T/$f.hdr0" "$U/cas/$key" -o "$T/$f.q0" || fail "$f: q=0 GET"
	! grep -qi '^content-encoding' "$T/$f.hdr0" || fail "$f: zstd;q=0 got zstd"
	cmp "$T/$f" "$T/$f.q0" || fail "$f: q=0 answer differs"
done
[ "$(stat -c %s "$T/text.got.zst")" -lt "$(( $(stat -c %s "$T/text") / 3 ))" ] || fail "text not compressed on the wire"

# ccache keys take zstd too
[ "$(code -X PUT -H 'Content-Encoding: zstd' --data-binary @"$T/text.zst" "$U/ccache/ab/cdef")" = 201 ] || fail "ccache zstd PUT"
curl -sf "$U/ccache/ab/cdef" | cmp - "$T/text" || fail "ccache key bytes"

# bad bodies store nothing
key=$(sha256sum "$T/rand" | cut -c1-64)
other=$(printf other | sha256sum | cut -c1-64)
[ "$(code -X PUT -H 'Content-Encoding: zstd' --data-binary @"$T/rand.zst" "$U/cas/$other")" = 400 ] || fail "wrong key accepted"
[ "$(code "$U/cas/$other")" = 404 ] || fail "wrong key stored"
head -c $(( $(stat -c %s "$T/text.zst") / 2 )) "$T/text.zst" >"$T/cut.zst"
k2=$(printf cut | sha256sum | cut -c1-64)
[ "$(code -X PUT -H 'Content-Encoding: zstd' --data-binary @"$T/cut.zst" "$U/ac/$k2")" = 400 ] || fail "cut frame accepted"
[ "$(code "$U/ac/$k2")" = 404 ] || fail "cut frame stored"
[ "$(code -X PUT -H 'Content-Encoding: zstd' --data-binary @"$T/text" "$U/ac/$k2")" = 400 ] || fail "not-zstd accepted"
[ "$(code -X PUT -H 'Content-Encoding: br' --data-binary @"$T/text" "$U/ac/$k2")" = 415 ] || fail "br accepted"
[ "$(code "$U/ac/$k2")" = 404 ] || fail "a bad body was stored"
echo "ok t1212"
