#!/usr/bin/env bash
# t1211-serve-keepalive.sh - `kbisect cache serve` keeps HTTP/1.1 connections open after
# GET, HEAD and DELETE answers (hits, misses, errors), as after PUT: one client sends
# ~20 mixed requests and must use one TCP connection for all of them (its local port
# never changes, no answer says "Connection: close"). HEAD of the empty blob's SHA-256
# answers 200 with Content-Length 0 (as bazel-remote does) without it being stored.
# kb-test-labels: integration
# kb-test-timeout: 60
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
T=$tmp

printf 'tok-keepalive\n' >"$T/tokens"
serve_start --cache "$T/store" --auth-token-file "$T/tokens" --duration 50 --quiet

python3 - "$PORT" <<'PY' || fail "keep-alive (see above)"
import hashlib, http.client, os, sys
port = int(sys.argv[1])
auth = {"Authorization": "Bearer tok-keepalive"}
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
ports = set()
def req(method, path, body=None, headers=auth, want=None):
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    ports.add(c.sock.getsockname()[1] if c.sock else None)
    if want is not None and r.status != want:
        sys.exit(f"{method} {path}: {r.status}, want {want}")
    if (r.getheader("Connection") or "").lower() == "close":
        sys.exit(f"{method} {path} -> {r.status}: Connection: close")
    return r, data
blob = os.urandom(300000)
key = hashlib.sha256(blob).hexdigest()
empty = hashlib.sha256(b"").hexdigest()
req("PUT", f"/cas/{key}", blob, want=201)
r, d = req("GET", f"/cas/{key}", want=200)
assert d == blob, "GET returned other bytes"
r, d = req("HEAD", f"/cas/{key}", want=200)
assert r.getheader("Content-Length") == str(len(blob)), r.getheader("Content-Length")
r, d = req("HEAD", f"/cas/{empty}", want=200)
assert r.getheader("Content-Length") == "0" and d == b"", "empty blob HEAD"
r, d = req("GET", f"/bazel/cas/{empty}", want=200)
assert d == b""
req("GET", "/cas/" + hashlib.sha256(b"nope").hexdigest(), want=404)
req("HEAD", "/ac/" + hashlib.sha256(b"nope").hexdigest(), want=404)
req("PUT", "/ccache/ab/cdef", b"x" * 1000, want=201)
req("GET", "/ccache/ab/cdef", want=200)
req("DELETE", "/ccache/ab/cdef", want=200)
req("DELETE", "/ccache/ab/cdef", want=404)
req("GET", "/cas/NOTHEX", want=400)
req("GET", "/no/such/path", want=404)
req("GET", f"/cas/{key}", headers={}, want=401)
req("GET", "/status", want=200)
req("GET", "/metrics", want=200)
req("DELETE", f"/cas/{key}", want=405)
for _ in range(3):
    req("GET", f"/cas/{key}", want=200)
if len(ports) != 1:
    sys.exit(f"{len(ports)} connections for one client's requests: {sorted(ports, key=str)}")
print("one connection for all requests")
PY
echo "ok t1211"
