#!/usr/bin/env bash
# t1206-serve-slowloris.sh - slowloris against `kbisect cache serve` with its DEFAULT
# connection settings: 300 connections from one address (127.0.0.2) each send a
# request header one byte a second (never idle long enough for the idle timeout),
# while 23 other clients (127.0.0.1) fetch an object. Every other client must be
# answered (in under 5 s each), the server must shut the slow connections at the
# header deadline (10 s by default), then serve the slow address again.
# Loopback only; bounded (~20 s), stops by itself.
# kb-test-labels: fault integration
# kb-test-timeout: 120
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
T=$tmp

# 300 slow connections need 300 descriptors in the test and (at most) as many in the
# server; default soft limits of 1024 are enough
serve_start --cache "$T/store" --duration 90 --quiet
head -c 200000 /dev/urandom >"$T/obj"
H=$(sha256sum "$T/obj" | cut -d' ' -f1)
curl -sf -X PUT --data-binary @"$T/obj" "$URL/cas/$H" -o /dev/null || fail "setup put"

python3 - "$PORT" "$H" "$T/obj" <<'PY' || fail "slowloris"
import socket, sys, threading, time, hashlib
port, key, objpath = int(sys.argv[1]), sys.argv[2], sys.argv[3]
want = open(objpath, "rb").read()
N_SLOW, N_GOOD = 300, 23
t_start = time.time()

# the attacker: 127.0.0.2, 300 connections, one header byte per second each
slow = []
for _ in range(N_SLOW):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        slow.append(s)
    except OSError:
        s.close()
req = ("GET /cas/%s HTTP/1.1\r\nHost: x\r\nX-Slow: " % key).encode() + b"a" * 100
closed_at = {}
stop = threading.Event()

def trickle():
    i = 0
    while not stop.is_set() and time.time() - t_start < 40:
        for s in slow:
            if s in closed_at:
                continue
            try:
                s.send(req[i % len(req):i % len(req) + 1])
                # a closed connection shows up as readable EOF / reset
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        closed_at[s] = time.time() - t_start
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
                    s.settimeout(2)
            except OSError:
                closed_at[s] = time.time() - t_start
        i += 1
        stop.wait(1.0)

th = threading.Thread(target=trickle)
th.start()
time.sleep(1.5)  # every slow connection is open and trickling

# the others: 127.0.0.1, one request at a time, each must be answered within 5 s
answered, late = 0, []
for i in range(N_GOOD):
    t0 = time.time()
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(("GET /cas/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % key).encode())
        buf = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            buf += b
        c.close()
        head, _, body = buf.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 200") and body == want:
            answered += 1
        else:
            late.append("client %d: %r" % (i, head[:40]))
    except OSError as e:
        late.append("client %d: %s after %.1fs" % (i, e, time.time() - t0))
    time.sleep(0.2)

# wait for the header deadline (10 s from each slow connection's start) to pass
while time.time() - t_start < 16 and len(closed_at) < len(slow):
    time.sleep(0.5)
stop.set()
th.join()
n_open = len(slow) - len(closed_at)
print("slow connections opened %d, shut by the server %d (last at %.1f s), still open %d; "
      "other clients answered %d/%d"
      % (len(slow), len(closed_at), max(closed_at.values() or [0]), n_open, answered, N_GOOD))
for s in slow:
    s.close()
if late:
    sys.exit("not answered: " + "; ".join(late[:5]))
if n_open:
    sys.exit("%d slow connections were still open after 16 s" % n_open)
# the slow address is served again once its connections are gone
c = socket.socket()
c.bind(("127.0.0.2", 0))
c.settimeout(5)
c.connect(("127.0.0.1", port))
c.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
if not c.recv(100).startswith(b"HTTP/1.1 200"):
    sys.exit("127.0.0.2 not served after its slow connections were shut")
PY
curl -sf "$URL/metrics" | grep -E '^kbisect_header_timeouts_total [1-9]' >/dev/null ||
	fail "header timeouts not counted: $(curl -s "$URL/metrics" | grep header_timeouts)"
kill -0 "$pid" || fail "server died"
kill -TERM "$pid"; wait "$pid" || fail "server exit status"
pid=
echo "ok t1206"
