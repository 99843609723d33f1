#!/usr/bin/env bash
# bench/server/run.sh - load benchmark of `kbisect cache serve` against nginx.
#
# In one run, on this machine, with the same blobs (1 KB - 50 MB, log-uniform sizes,
# half random bytes, half base64 text) and the same load generator (loadgen.c: libcurl
# multi, keep-alive, every GET body checked against its SHA-256 name, p50/p99 latency):
#   1. kbisect: GET + PUT mix ($PUT_PCT % PUTs of new blobs, $MIX_CONNS connections),
#      then every stored blob is read back and checked
#   2. for each client count in $CLIENTS (1 and 64): $ROUNDS rounds of GET-only then
#      PUT-only (the put/ blobs again and again) load on kbisect and on nginx
#      (nginx-light: sendfile for GET, WebDAV PUT into files), the side that goes first
#      alternating from round to round so the noise of a shared machine hits both
#   3. `kbisect cache verify` of the store after all that
# and prints GET/PUT throughput, p50/p99 latency and the ratios kbisect/nginx, with the
# targets: GET throughput >= 0.8x nginx at 64 clients, GET p99 <= 2x nginx's.
# bazel-remote is not compared: it is not packaged for Debian 12 (nginx only).
# Everything listens on 127.0.0.1 and stops by itself.
#
# usage: bench/server/run.sh   (env: KBISECT, SECONDS_PER_PHASE=6, ROUNDS=3,
#                               CLIENTS="1 64", MIX_CONNS=32, PUT_PCT=20, NBLOBS=24)
set -euo pipefail
cd "$(dirname "$0")/../.."
K=${KBISECT:-$PWD/build/cli/kbisect}
PHASE_S=${SECONDS_PER_PHASE:-6}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-1 64}
MIX_CONNS=${MIX_CONNS:-32}
PUT_PCT=${PUT_PCT:-20}
NBLOBS=${NBLOBS:-24}
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$K" ] || { echo "bench/server: no kbisect at '$K'; build first or set KBISECT" >&2; exit 1; }
[ -x "$NGINX" ] || { echo "bench/server: nginx missing; apt-get install nginx-light" >&2; exit 1; }

T=$(mktemp -d /tmp/kbbench-server-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT

cc -O2 -Wall -Wextra -o "$T/loadgen" bench/server/loadgen.c -lcurl -lcrypto -lpthread

# blobs: get/<sha> (stored before the GET phases) and put/<sha> (uploaded during the mix)
python3 - "$T/blobs" "$NBLOBS" <<'PY'
import base64, hashlib, math, os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
for sub, count in (("get", n), ("put", n // 2 + 1)):
    os.makedirs(os.path.join(root, sub))
    for i in range(count):
        size = int(math.exp(rng.uniform(math.log(1024), math.log(50 << 20))))
        if i == 0:
            size = 50 << 20  # always one of the largest
        if i % 2:
            data = base64.b64encode(os.urandom(size * 3 // 4 + 3))[:size]
        else:
            data = os.urandom(size)
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(root, sub, h), "wb") as f:
            f.write(data)
PY
echo "blobs: $(ls "$T/blobs/get" | wc -l) for GET ($(du -sm "$T/blobs/get" | cut -f1) MB), $(ls "$T/blobs/put" | wc -l) for PUT ($(du -sm "$T/blobs/put" | cut -f1) MB)"

# kbisect server
"$K" cache serve --cache "$T/store" --listen 127.0.0.1:0 --port-file "$T/kb.port" \
	--max-blob-size 64M --max-connections 512 --max-connections-per-ip 512 \
	--duration $((PHASE_S * (8 * ROUNDS + 2) + 600)) --quiet \
	>/dev/null 2>"$T/kb.err" &
pids+=($!)
KPID=$!
for _ in $(seq 100); do [ -s "$T/kb.port" ] && break; sleep 0.1; done
[ -s "$T/kb.port" ] || { cat "$T/kb.err"; exit 1; }
KURL="http://127.0.0.1:$(cat "$T/kb.port")"

# nginx serving the same files as static files under /cas/
mkdir -p "$T/www/cas" "$T/ngx"
cp "$T"/blobs/get/* "$T/www/cas/"
chmod 755 "$T" "$T/blobs" "$T/blobs/get" "$T/www"  # nginx workers run as nobody
chmod 777 "$T/www/cas" "$T/ngx"                    # ... and write the PUTs there
chmod 644 "$T"/www/cas/*
NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/ngx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $T/ngx/nginx.pid;
error_log $T/ngx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_max_body_size 64m;
  default_type application/octet-stream;
  client_body_temp_path $T/ngx/body;
  proxy_temp_path $T/ngx/proxy;
  fastcgi_temp_path $T/ngx/fastcgi;
  uwsgi_temp_path $T/ngx/uwsgi;
  scgi_temp_path $T/ngx/scgi;
  server { listen 127.0.0.1:$NPORT; root $T/www;
    location / { dav_methods PUT; dav_access user:rw group:r all:r; } }
}
EOF
"$NGINX" -p "$T/ngx" -c "$T/ngx/nginx.conf" 2>"$T/ngx/stderr" &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && break; sleep 0.1; done
NURL="http://127.0.0.1:$NPORT"

echo "== upload the GET set to kbisect"
"$T/loadgen" "$KURL" "$T/blobs" upload | tee "$T/upload.txt"
rc=0
echo "== kbisect: GET + ${PUT_PCT}% PUT of new blobs, $MIX_CONNS connections, ${PHASE_S}s, then read everything back"
"$T/loadgen" "$KURL" "$T/blobs" "$MIX_CONNS" "$PHASE_S" "$PUT_PCT" 2 | tee "$T/kb-mix.txt" || rc=1

# one timed phase: side (kb|ngx), op (get|put), clients -> $T/<side>-<op>-<clients>.txt
phase() {
	local url=$KURL th=2 pct=0
	[ "$1" = ngx ] && url=$NURL
	[ "$2" = put ] && pct=100
	[ "$3" -lt 2 ] && th=1
	echo "   $1 $2, $3 clients: $(LOADGEN_NO_CHECK=1 "$T/loadgen" "$url" "$T/blobs" "$3" "$PHASE_S" "$pct" "$th" |
		tee -a "$T/$1-$2-$3.txt" | sed 's/.*\(get_MBps=[0-9.]*\).*\(put_MBps=[0-9.]*\).*errors=\([0-9]*\).*\(get_p50.*\)/\1 \2 errors=\3 \4/')" ||
		rc=1
}
for c in $CLIENTS; do
	for r in $(seq "$ROUNDS"); do
		echo "== $c clients, round $r"
		if [ $((r % 2)) = 1 ]; then sides="kb ngx"; else sides="ngx kb"; fi
		for op in get put; do for side in $sides; do phase "$side" "$op" "$c"; done; done
	done
done
curl -s "$KURL/metrics" | grep -E '^kbisect_(requests_total|sent|received|cache_|request_duration_seconds_(sum|count))|^process_' | sed 's/^/   /'
kill -TERM "$KPID"; wait "$KPID" || rc=1
echo "== kbisect cache verify"
"$K" cache verify --cache="$T/store" || rc=1

# the summary: MB/s over all rounds (bytes / seconds); latency percentiles: median of
# the rounds' own p50/p99
python3 - "$T" "$CLIENTS" "$ROUNDS" "$PHASE_S" <<'PY' || rc=1
import statistics, sys
T, clients, rounds, secs = sys.argv[1], sys.argv[2].split(), sys.argv[3], sys.argv[4]
def load(side, op, c):
    rows = []
    for line in open(f"{T}/{side}-{op}-{c}.txt"):
        if "phase=load" in line:
            rows.append(dict(kv.split("=", 1) for kv in line.split()))
    return rows
def summary(rows, op):
    secs = sum(float(r["seconds"]) for r in rows)
    mb = sum(float(r[f"{op}_bytes"]) for r in rows) / secs / 1e6
    p50 = statistics.median(float(r[f"{op}_p50_ms"]) for r in rows)
    p99 = statistics.median(float(r[f"{op}_p99_ms"]) for r in rows)
    n = sum(int(r[f"{op}s"]) for r in rows)
    per = [float(r[f"{op}_bytes"]) / float(r["seconds"]) / 1e6 for r in rows]
    return mb, p50, p99, n, per
bad = 0
print(f"\nresults (same machine, same run, {rounds} rounds x {secs}s per side and load, keep-alive):")
for c in clients:
    for op in ("get", "put"):
        kb, ng = summary(load("kb", op, c), op), summary(load("ngx", op, c), op)
        ratio = kb[0] / ng[0] if ng[0] else 0
        per = " ".join("%.2fx" % (a / b) for a, b in zip(kb[4], ng[4]) if b)
        print(f"  {op.upper()} {c:>2} clients: kbisect {kb[0]:7.1f} MB/s p50 {kb[1]:8.2f} ms p99 {kb[2]:8.2f} ms ({kb[3]} reqs)"
              f" | nginx {ng[0]:7.1f} MB/s p50 {ng[1]:8.2f} ms p99 {ng[2]:8.2f} ms ({ng[3]} reqs)")
        p99r = kb[2] / ng[2] if ng[2] else 0
        line = f"      throughput ratio kbisect/nginx = {ratio:.2f}x (rounds: {per}); p99 ratio = {p99r:.2f}x"
        if op == "get" and c == "64":
            ok = ratio >= 0.8
            okp = p99r <= 2.0
            line += (f"\n      GET throughput ratio at 64 clients = {ratio:.2f}x (target >= 0.8x): {'ok' if ok else 'BELOW TARGET'}"
                     f"\n      GET p99 ratio at 64 clients = {p99r:.2f}x (target <= 2x): {'ok' if okp else 'ABOVE TARGET'}")
        print(line)
PY
echo "  mixed phase: $(sed -n 's/.*phase=load .*get_MBps=\([0-9.]*\) puts=\([0-9]*\) .*put_MBps=\([0-9.]*\).*/GET \1 MB\/s, \2 PUTs at \3 MB\/s/p' "$T/kb-mix.txt")"
errs=$(cat "$T"/kb-*.txt "$T/upload.txt" | sed -n 's/.*errors=\([0-9]*\) corrupt=\([0-9]*\).*lost=\([0-9]*\).*/\1 \2 \3/p' | awk '{e+=$1; c+=$2; l+=$3} END {print e, c, l}')
echo "  errors / corrupt / lost over all kbisect phases: $errs"
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$errs" = "0 0 0" ] || rc=1
exit $rc
