#!/usr/bin/env bash
# t1208-serve-memory.sh - memory of `kbisect cache serve` under concurrent uploads,
# with its defaults: 12 clients upload 40 MB objects (random bytes) at once, then 12
# slow readers hold GETs open. The server's anonymous RSS (/proc/<pid>/status RssAnon)
# is sampled throughout. It must stay under 4 store writers' worth (--max-uploads 4,
# ~150 MiB each) plus 64 MiB, and fall under 128 MiB within 5 s of the load ending
# (the server trims its heap when idle). Every object must read back identical.
# Skipped for sanitizer builds (their allocator keeps memory on purpose).
# Loopback only; bounded (~30 s).
# kb-test-labels: fault integration
# kb-test-timeout: 180
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
T=$tmp
if grep -q __asan_init "$KBISECT" 2>/dev/null; then
	echo "SKIP t1208: sanitizer build (RSS is not the server's)"
	exit 0
fi

serve_start --cache "$T/store" --duration 150 --quiet

python3 - "$PORT" "$pid" <<'PY' || fail "memory"
import hashlib, http.client, os, sys, threading, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
N, SIZE = 12, 40 << 20
LIMIT_LOAD, LIMIT_IDLE = 4 * 150 + 64, 128  # MiB

def anon():
    for l in open("/proc/%d/status" % pid):
        if l.startswith("RssAnon:"):
            return int(l.split()[1]) >> 10
peak, stop = [0], threading.Event()
def sampler():
    while not stop.is_set():
        peak[0] = max(peak[0], anon())
        time.sleep(0.02)
threading.Thread(target=sampler, daemon=True).start()

keys, errors = [None] * N, []
def put(i):
    try:
        data = os.urandom(SIZE)
        keys[i] = hashlib.sha256(data).hexdigest()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.putrequest("PUT", "/cas/" + keys[i])
        c.putheader("Content-Length", str(SIZE))
        c.endheaders()
        mv = memoryview(data)
        for o in range(0, SIZE, 1 << 16):
            c.send(mv[o:o + (1 << 16)])
        r = c.getresponse()
        r.read()
        if r.status not in (200, 201):
            errors.append("PUT %d: HTTP %d" % (i, r.status))
    except Exception as e:
        errors.append("PUT %d: %s" % (i, e))
def get(i):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("GET", "/cas/" + keys[i])
        r = c.getresponse()
        got = r.read(1 << 20)
        time.sleep(1.5)  # a slow reader: the server holds its reader meanwhile
        got += r.read()
        if r.status != 200 or hashlib.sha256(got).hexdigest() != keys[i]:
            errors.append("GET %d: HTTP %d, %d bytes, wrong content" % (i, r.status, len(got)))
    except Exception as e:
        errors.append("GET %d: %s" % (i, e))
def run(fn):
    ths = [threading.Thread(target=fn, args=(i,)) for i in range(N)]
    [t.start() for t in ths]
    [t.join() for t in ths]
t0 = time.time()
run(put)
put_peak, peak[0] = peak[0], 0
run(get)
get_peak = peak[0]
time.sleep(5)
stop.set()
idle = anon()
print("%d x %d MiB uploads: peak RssAnon %d MiB; %d slow GETs: peak %d MiB; 5 s after the load: %d MiB (%.1f s)"
      % (N, SIZE >> 20, put_peak, N, get_peak, idle, time.time() - t0))
if errors:
    sys.exit("; ".join(errors[:4]))
if max(put_peak, get_peak) > LIMIT_LOAD:
    sys.exit("peak %d MiB > %d MiB" % (max(put_peak, get_peak), LIMIT_LOAD))
if idle > LIMIT_IDLE:
    sys.exit("%d MiB still resident after the load (> %d MiB)" % (idle, LIMIT_IDLE))
PY
kill -TERM "$pid"; wait "$pid" || fail "server exit status"
pid=
echo "ok t1208"
