#!/usr/bin/env bash
# t1200-serve-bazel.sh - `kbisect cache serve` speaks the Bazel HTTP remote-cache
# protocol to curl: PUT/GET/HEAD /cas/ and /ac/ (with a path prefix), wrong hash,
# bad keys, size limit, tokens, /status and /metrics; usage errors exit 129.
# kb-test-labels: integration
# kb-test-timeout: 120
set -euo pipefail
K=${KBISECT:?set KBISECT to the kbisect binary}
T=$(mktemp -d /tmp/kbtest-t1200-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# start_server NAME ARGS...: starts a server on an ephemeral port, sets $URL
start_server() {
	local name=$1; shift
	"$K" cache serve --cache "$T/$name" --listen 127.0.0.1:0 --port-file "$T/$name.port" \
		--duration 100 --quiet "$@" >"$T/$name.out" 2>"$T/$name.err" &
	pids+=($!)
	SERVER_PID=$!
	for _ in $(seq 50); do [ -s "$T/$name.port" ] && break; sleep 0.1; done
	[ -s "$T/$name.port" ] || { cat "$T/$name.err"; fail "server $name did not start"; }
	URL="http://127.0.0.1:$(cat "$T/$name.port")"
}
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# usage errors and help
"$K" cache serve --help | grep -- '--auth-token-file' >/dev/null || fail "help lacks options"
set +e
"$K" cache serve --bogus >/dev/null 2>&1; [ $? -eq 129 ] || fail "bad option not 129"
"$K" cache serve --listen nonsense:port >/dev/null 2>&1; [ $? -eq 129 ] || fail "bad listen not 129"
"$K" cache serve --cache "$T/x" --listen 127.0.0.1:0 --auth-token-file "$T/none" 2>"$T/err"
[ $? -eq 1 ] || fail "missing token file not exit 1"
set -e
grep -q "$T/none" "$T/err" || fail "token file error does not name the file"

start_server s1 --max-blob-size 1M
head -c 300000 /dev/urandom >"$T/blob"
H=$(sha256sum "$T/blob" | cut -d' ' -f1)
[ "$(code "$URL/cas/$H")" = 404 ] || fail "GET miss not 404"
[ "$(code -X PUT --data-binary @"$T/blob" "$URL/cas/$H")" = 201 ] || fail "PUT not 201"
[ "$(code -X PUT --data-binary @"$T/blob" "$URL/cas/$H")" = 200 ] || fail "second PUT not 200"
curl -sf "$URL/cas/$H" -o "$T/back"
cmp "$T/blob" "$T/back" || fail "GET body differs"
curl -sfI "$URL/team/x/cas/$H" | tr -d '\r' | grep -i "^content-length: 300000$" >/dev/null || fail "HEAD size"
# a body whose SHA-256 is not its key is refused and not stored
W=$(printf '%s' "$H" | tr '0-9a-f' '1-9a-f0')
[ "$(code -X PUT --data-binary @"$T/blob" "$URL/cas/$W")" = 400 ] || fail "wrong hash not 400"
[ "$(code "$URL/cas/$W")" = 404 ] || fail "wrong-hash upload was stored"
# keys: uppercase, short, path tricks
[ "$(code "$URL/cas/${H^^}")" = 400 ] || fail "uppercase key not 400"
[ "$(code "$URL/cas/abc")" = 400 ] || fail "short key not 400"
[ "$(code --path-as-is "$URL/cas/../ac/$H")" = 400 ] || fail "dotdot not 400"
[ "$(code --path-as-is "$URL/%2e%2e/cas/$H")" = 400 ] || fail "%2e not 400"
# /ac/ stores any bytes under any key (ccache, Bazel ActionResult)
echo "action result" >"$T/ac"
[ "$(code -X PUT --data-binary @"$T/ac" "$URL/p/ac/$W")" = 201 ] || fail "ac PUT"
curl -sf "$URL/p/ac/$W" | grep "action result" >/dev/null || fail "ac GET"
# too large: 413 (or the connection is cut after the early answer)
head -c 2000000 /dev/zero >"$T/big"
B=$(sha256sum "$T/big" | cut -d' ' -f1)
c=$(code -X PUT --data-binary @"$T/big" "$URL/cas/$B" || true)
[ "$c" = 413 ] || fail "oversized PUT gave $c"
[ "$(code "$URL/cas/$B")" = 404 ] || fail "oversized upload stored"
# status and metrics
curl -sf "$URL/status" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["store"]["objects"] >= 2, d
assert d["requests"]["PUT"] >= 3, d
assert d["max_blob_size"] == 1048576, d
' || fail "status JSON"
curl -sf "$URL/metrics" >"$T/metrics"
grep -q '^kbisect_requests_total{method="PUT",code="201"} [1-9]' "$T/metrics" || fail "metrics PUT 201"
grep -q '^kbisect_cache_misses_total [1-9]' "$T/metrics" || fail "metrics misses"
grep -q '^# TYPE kbisect_store_objects gauge' "$T/metrics" || fail "metrics store"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "server did not exit 0 on SIGTERM"
grep -q "serving '$T/s1'" "$T/s1.out" || fail "no banner"

# tokens: writes need one; reads too unless --allow-anonymous-read
printf '# team tokens\nbuild-farm-1\n' >"$T/tokens"
start_server s2 --auth-token-file "$T/tokens" --allow-anonymous-read
[ "$(code -X PUT --data-binary @"$T/blob" "$URL/cas/$H")" = 401 ] || fail "PUT without token"
[ "$(code -X PUT -H 'Authorization: Bearer nope' --data-binary @"$T/blob" "$URL/cas/$H")" = 401 ] || fail "bad token"
[ "$(code -X PUT -H 'Authorization: Bearer build-farm-1' --data-binary @"$T/blob" "$URL/cas/$H")" = 201 ] || fail "good token"
[ "$(code "$URL/cas/$H")" = 200 ] || fail "anonymous read"
start_server s3 --auth-token-file "$T/tokens"
[ "$(code "$URL/cas/$H")" = 401 ] || fail "read without token"
[ "$(code -u ccache:build-farm-1 "$URL/cas/$H")" = 404 ] || fail "basic auth token"

# a cache at its size limit evicts old entries; an entry that cannot fit gets 507
start_server s5 --max-size 1M
head -c 3000000 /dev/urandom >"$T/huge"
[ "$(code -X PUT --data-binary @"$T/huge" "$URL/cas/$(sha256sum "$T/huge" | cut -c1-64)")" = 507 ] || fail "not 507"
for i in 1 2 3 4 5 6; do
	head -c 300000 /dev/urandom >"$T/small$i"
	[ "$(code -X PUT --data-binary @"$T/small$i" "$URL/cas/$(sha256sum "$T/small$i" | cut -c1-64)")" = 201 ] || fail "PUT $i under limit"
done
# (the text is read whole first: grep -q quitting early would fail curl's write)
m=$(curl -sf "$URL/metrics") || fail "metrics"
grep -q '^kbisect_evictions_total [1-9]' <<<"$m" || fail "no evictions counted"
[ "$(code "$URL/cas/$(sha256sum "$T/small6" | cut -c1-64)")" = 200 ] || fail "newest entry evicted"

# IPv6 loopback, when the host has it
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	"$K" cache serve --cache "$T/v6" --listen '[::1]:0' --port-file "$T/v6.port" --duration 30 \
		--quiet >"$T/v6.out" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do [ -s "$T/v6.port" ] && break; sleep 0.1; done
	curl -sfg "http://[::1]:$(cat "$T/v6.port")/status" | grep uptime_s >/dev/null || fail "IPv6 status"
	grep -q 'http://\[::1\]:' "$T/v6.out" || fail "IPv6 banner"
fi

# TLS (GnuTLS inside libmicrohttpd): https works with the server's certificate
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
		-subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
	start_server s4 --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
	TURL=${URL/http:/https:}
	[ "$(code --cacert "$T/cert.pem" -X PUT --data-binary @"$T/blob" "$TURL/cas/$H")" = 201 ] || fail "PUT over TLS"
	curl -sf --cacert "$T/cert.pem" "$TURL/cas/$H" | cmp - "$T/blob" || fail "GET over TLS"
	[ "$(code "$URL/status")" = 000 ] || fail "plain HTTP accepted on the TLS port"
	grep -q "on https://" "$T/s4.out" || fail "banner does not say https"
	# TLS 1.2 and 1.3 only: a client offering only 1.0 or 1.1 gets no session (the
	# client's own security level is lowered so that only the server can refuse)
	TPORT=${TURL##*:}; TPORT=${TPORT%%/*}
	for v in tls1 tls1_1; do
		echo | timeout 10 openssl s_client -connect "127.0.0.1:$TPORT" -"$v" \
			-cipher 'DEFAULT:@SECLEVEL=0' >"$T/s_client.$v" 2>&1 &&
			fail "the server accepted a $v session"
	done
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$TPORT" -tls1_2 \
		>"$T/s_client.tls1_2" 2>&1 || fail "TLS 1.2 refused: $(tail -3 "$T/s_client.tls1_2")"
	set +e
	"$K" cache serve --cache "$T/x" --listen 127.0.0.1:0 --tls-cert "$T/cert.pem" 2>"$T/err"
	[ $? -eq 1 ] || fail "--tls-cert without --tls-key not exit 1"
	set -e
fi
echo "ok t1200"
