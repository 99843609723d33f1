#!/usr/bin/env bash
# t1202-serve-bad-input.sh - hostile clients against `kbisect cache serve`: malformed
# request lines and headers, lying Content-Length, truncated bodies, chunked uploads,
# path tricks, oversized keys and headers, slow clients holding connections. Each
# gets a clean 4xx (or a closed connection), the server stays up, and afterwards the
# entries stored before read back intact and `kbisect cache verify` is clean.
# kb-test-labels: integration
# kb-test-timeout: 120
set -euo pipefail
K=${KBISECT:?set KBISECT to the kbisect binary}
T=$(mktemp -d /tmp/kbtest-t1202-XXXXXX)
pid=
slow_pids=()
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	for p in "${slow_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$K" cache serve --cache "$T/store" --listen 127.0.0.1:0 --port-file "$T/port" \
	--timeout 2 --max-blob-size 4M --duration 100 --quiet >/dev/null 2>"$T/err" &
pid=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { cat "$T/err"; fail "server did not start"; }
PORT=$(cat "$T/port")
URL="http://127.0.0.1:$PORT"

# entries that must survive everything below
for i in 1 2 3; do
	head -c $((i * 100000)) /dev/urandom >"$T/obj$i"
	h=$(sha256sum "$T/obj$i" | cut -d' ' -f1)
	echo "$h" >"$T/obj$i.id"
	curl -sf -X PUT --data-binary @"$T/obj$i" "$URL/cas/$h" -o /dev/null || fail "setup put $i"
done
H=$(cat "$T/obj1.id")

# raw REQUEST: send bytes on a fresh connection, print the status of the answer
# (000 when the server closed the connection without one)
raw() {
	python3 - "$PORT" "$1" <<'PY'
import socket, sys
port, data = int(sys.argv[1]), sys.argv[2].encode().decode('unicode_escape').encode('latin-1')
s = socket.create_connection(("127.0.0.1", port), timeout=5)
buf = b""
try:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass  # the server answered and closed before taking everything
try:
    while True:
        b = s.recv(4096)
        if not b:
            break
        buf += b
except (socket.timeout, OSError):
    pass
line = buf.split(b"\r\n", 1)[0].split()
print(line[1].decode() if len(line) > 1 and buf.startswith(b"HTTP/") else "000")
PY
}
is4xx() { case "$1" in 4??|000) ;; *) fail "$2: got $1";; esac; }

is4xx "$(raw 'GARBAGE\r\n\r\n')" "garbage request line"
is4xx "$(raw 'GET\r\n\r\n')" "request line without path"
is4xx "$(raw 'GET /status HTTP/1.1\r\nNo-Colon-Here\r\n\r\n')" "header without colon"
is4xx "$(raw "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 40000 /dev/zero | tr '\0' a)\r\n\r\n")" "40 KB header"
is4xx "$(raw "PUT /cas/$H HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")" "chunked PUT"
is4xx "$(raw "PUT /cas/$H HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")" "non-numeric length"
is4xx "$(raw "PUT /cas/$H HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")" "huge length"
# lying Content-Length: promise 1000 bytes, send 10, close -> nothing stored
L=$(printf 'x%.0s' $(seq 10) | sha256sum | cut -d' ' -f1)
raw "PUT /cas/$L HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nxxxxxxxxxx" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/cas/$L")" = 404 ] || fail "short body stored"
# Content-Length smaller than the body: the extra bytes are a bad next request
S=$(printf 'abc' | sha256sum | cut -d' ' -f1)
raw "PUT /cas/$S HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGARBAGE-GARBAGE\r\n\r\n" >/dev/null
# truncated body of an existing object under its own key
raw "PUT /cas/$H HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n$(head -c 500 /dev/zero | tr '\0' y)" >/dev/null
# two Content-Length headers (request smuggling through a proxy that reads the other):
# 400, nothing stored, the connection closed
D=$(printf 'xyz' | sha256sum | cut -d' ' -f1)
[ "$(raw "PUT /cas/$D HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nxyz$(printf 'z%.0s' $(seq 27))")" = 400 ] ||
	fail "duplicate Content-Length not refused with 400"
[ "$(raw "PUT /cas/$D HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nxyz")" = 400 ] ||
	fail "duplicate Content-Length (same value) not refused with 400"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/cas/$D")" = 404 ] || fail "duplicate Content-Length stored a body"
# path tricks and oversized keys
is4xx "$(raw "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")" "dotdot"
is4xx "$(raw "GET /cas/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n")" "%2f"
is4xx "$(raw "GET /%2e%2e/cas/$H HTTP/1.1\r\nHost: x\r\n\r\n")" "%2e"
is4xx "$(raw "GET /cas/$H$H HTTP/1.1\r\nHost: x\r\n\r\n")" "128-digit key"
is4xx "$(raw "GET /cas/$(head -c 5000 /dev/zero | tr '\0' a) HTTP/1.1\r\nHost: x\r\n\r\n")" "5000-digit key"
is4xx "$(raw "GET /cas/${H}%00 HTTP/1.1\r\nHost: x\r\n\r\n")" "NUL in path"
is4xx "$(raw "DELETE /cas/$H HTTP/1.1\r\nHost: x\r\n\r\n")" "DELETE"
# slow clients: 20 connections that send half a request and stall; others are served,
# and the server drops the stalled ones after --timeout
for i in $(seq 20); do
	python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $PORT))
s.sendall(b'GET /sta')
t = time.time()
s.settimeout(10)
try:
    d = s.recv(10)
except Exception:
    d = b'timeout'
open('$T/slow$i', 'w').write('%.1f %r' % (time.time() - t, d))
" &
	slow_pids+=($!)
done
sleep 0.5
for i in 1 2 3; do
	curl -sf --max-time 5 "$URL/cas/$(cat "$T/obj$i.id")" -o "$T/back$i" || fail "served while slow clients wait"
done
wait "${slow_pids[@]}"
slow_pids=()
for i in $(seq 20); do
	t=$(cut -d' ' -f1 "$T/slow$i")
	python3 -c "import sys; sys.exit(0 if float('$t') < 8 else 1)" || fail "slow client $i held on for ${t}s"
done

# a trickling upload (10 bytes a second: never idle long enough for --timeout) is
# dropped once it has run for --timeout at under 1 KiB/s
python3 - "$PORT" "$H" <<'PY' || fail "trickling upload not dropped"
import socket, sys, time
port, key = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("PUT /cas/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" % key).encode())
t0 = time.time()
try:
    while time.time() - t0 < 12:
        s.sendall(b"0123456789")
        s.settimeout(1.0)
        try:
            if s.recv(100) == b"":
                break
        except socket.timeout:
            pass
except OSError:
    pass
el = time.time() - t0
sys.exit(0 if el < 8 else "held for %.1fs" % el)
PY
# (counted when MHD reports the request over, which may come just after the client
# saw the connection close: give it a moment on a loaded machine)
for _ in $(seq 20); do
	grep -q '^kbisect_requests_total{method="PUT",code="408"} 1$' <<<"$(curl -sf "$URL/metrics")" && break
	sleep 0.1
done
grep -q '^kbisect_requests_total{method="PUT",code="408"} 1$' <<<"$(curl -sf "$URL/metrics")" || fail "408 not counted"

# still up, nothing lost or corrupted
kill -0 "$pid" || fail "server died"
for i in 1 2 3; do
	curl -sf "$URL/cas/$(cat "$T/obj$i.id")" -o "$T/back$i" || fail "obj$i gone"
	cmp "$T/obj$i" "$T/back$i" || fail "obj$i corrupted"
done
curl -sf "$URL/status" >/dev/null || fail "status after abuse"
kill -TERM "$pid"; wait "$pid" || fail "server exit status"
pid=
"$K" cache verify --cache="$T/store" || fail "cache verify not clean"

# the access log never carries raw control bytes: escapes decoded by MHD (%0a, %1b)
# and raw bytes in the request target come out as \xNN
"$K" cache serve --cache "$T/store3" --listen 127.0.0.1:0 --port-file "$T/port3" \
	--duration 60 >/dev/null 2>"$T/log3" &
pid=$!
for _ in $(seq 50); do [ -s "$T/port3" ] && break; sleep 0.1; done
PORT=$(cat "$T/port3")
raw "GET /a%0akbisect-serve:%20GET%20/forged%20200%200.1ms%0a%1b[31m HTTP/1.1\r\nHost: x\r\n\r\n" >/dev/null
raw "GET /b\x1b]0;title\x07/c HTTP/1.1\r\nHost: x\r\n\r\n" >/dev/null
raw "GET /status HTTP/1.1\r\nHost: x\r\n\r\n" >/dev/null
kill -TERM "$pid"; wait "$pid" || true
pid=
python3 - "$T/log3" <<'PY' || fail "access log: raw control bytes or a forged line"
import sys
log = open(sys.argv[1], "rb").read()
bad = [c for c in log if (c < 0x20 and c != 0x0a) or c == 0x7f]
lines = log.split(b"\n")[:-1]
# the one request that mentions /forged is logged as one line, its path escaped
forged = [l for l in lines if b"/forged" in l and b'"GET /a\\x0akbisect-serve:\\x20GET' not in l]
if bad or forged or len(lines) < 3:
    sys.exit("bad bytes %r, forged %r, %d lines: %r" % (bad[:5], forged, len(lines), log[:300]))
PY

# --max-connections-per-ip: one address holding 3 stalled connections gets no 4th
"$K" cache serve --cache "$T/store2" --listen 127.0.0.1:0 --port-file "$T/port2" \
	--timeout 2 --max-connections-per-ip 3 --duration 60 --quiet >/dev/null 2>"$T/err2" &
pid=$!
for _ in $(seq 50); do [ -s "$T/port2" ] && break; sleep 0.1; done
P2=$(cat "$T/port2")
python3 - "$P2" <<'PY' || fail "per-ip limit"
import socket, sys, time, urllib.request
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
for s in held:
    s.sendall(b"GET /sta")
time.sleep(0.3)
try:
    urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=3).read()
    sys.exit("a 4th connection was served")
except Exception:
    pass
time.sleep(3)  # the stalled ones hit --timeout
assert urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=3).status == 200
PY
echo "ok t1202"
