#!/usr/bin/env bash
# bench/server/run.sh - load benchmark of `kbisect cache serve` against nginx.
#
# In one run, on this machine, with the same blobs (1 KB - 50 MB, log-uniform sizes,
# half random bytes, half base64 text) and the same load generator (loadgen.c: libcurl
# multi, keep-alive, every GET body checked against its SHA-256 name):
#   1. $ROUNDS rounds of: kbisect GET only ($CONNS connections, $SECONDS_PER_PHASE s),
#      then nginx (nginx-light, sendfile, static files) with the same GET load;
#      alternating spreads the noise of a shared machine over both sides
#   2. kbisect: GET + PUT mix ($PUT_PCT % PUTs of new blobs), then every stored blob is
#      read back and checked, then `kbisect cache verify`
# and prints the GET throughput ratio kbisect/nginx (target >= 0.5).
# Everything listens on 127.0.0.1 and stops by itself.
#
# usage: bench/server/run.sh   (env: KBISECT, SECONDS_PER_PHASE=8, ROUNDS=3, CONNS=32,
#                               PUT_PCT=20, NBLOBS=24)
set -euo pipefail
cd "$(dirname "$0")/../.."
K=${KBISECT:-$PWD/build/cli/kbisect}
PHASE_S=${SECONDS_PER_PHASE:-8}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
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
	--max-blob-size 64M --max-connections 512 --duration $((PHASE_S * (2 * ROUNDS + 2) + 300)) --quiet \
	>/dev/null 2>"$T/kb.err" &
pids+=($!)
KPID=$!
for _ in $(seq 100); do [ -s "$T/kb.port" ] && break; sleep 0.1; done
[ -s "$T/kb.port" ] || { cat "$T/kb.err"; exit 1; }
KURL="http://127.0.0.1:$(cat "$T/kb.port")"

# nginx serving the same files as static files under /cas/
mkdir -p "$T/www/cas" "$T/ngx"
ln "$T"/blobs/get/* "$T/www/cas/"
chmod 755 "$T" "$T/blobs" "$T/blobs/get" "$T/www" "$T/www/cas"  # nginx workers run as nobody
chmod 644 "$T"/blobs/get/*
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
  default_type application/octet-stream;
  client_body_temp_path $T/ngx/body;
  proxy_temp_path $T/ngx/proxy;
  fastcgi_temp_path $T/ngx/fastcgi;
  uwsgi_temp_path $T/ngx/uwsgi;
  scgi_temp_path $T/ngx/scgi;
  server { listen 127.0.0.1:$NPORT; root $T/www; }
}
EOF
"$NGINX" -p "$T/ngx" -c "$T/ngx/nginx.conf" 2>"$T/ngx/stderr" &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NPORT/" && break; sleep 0.1; done
NURL="http://127.0.0.1:$NPORT"

echo "== upload the GET set to kbisect"
"$T/loadgen" "$KURL" "$T/blobs" upload | tee "$T/upload.txt"
for r in $(seq "$ROUNDS"); do
	echo "== round $r: kbisect GET only, $CONNS connections, ${PHASE_S}s"
	"$T/loadgen" "$KURL" "$T/blobs" "$CONNS" "$PHASE_S" 0 2 | tee -a "$T/kb-get.txt"
	echo "== round $r: nginx GET only, $CONNS connections, ${PHASE_S}s"
	"$T/loadgen" "$NURL" "$T/blobs" "$CONNS" "$PHASE_S" 0 2 | tee -a "$T/ngx-get.txt"
done
echo "== kbisect: GET + ${PUT_PCT}% PUT, $CONNS connections, ${PHASE_S}s, then read everything back"
rc=0
"$T/loadgen" "$KURL" "$T/blobs" "$CONNS" "$PHASE_S" "$PUT_PCT" 2 | tee "$T/kb-mix.txt" || rc=1
curl -s "$KURL/metrics" | grep -E '^kbisect_(requests_total|sent|received|cache_)' | sed 's/^/   /'
kill -TERM "$KPID"; wait "$KPID" || rc=1
echo "== kbisect cache verify"
"$K" cache verify --cache="$T/store" || rc=1

# GET MB/s of a side: all bytes of its load phases over all their seconds
rate() { awk '/phase=load/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "seconds") s += kv[2]; if (kv[1] == "get_bytes") b += kv[2] } } END { printf "%.1f", b / s / 1e6 }' "$1"; }
kb=$(rate "$T/kb-get.txt")
ng=$(rate "$T/ngx-get.txt")
rounds=$(paste <(grep phase=load "$T/kb-get.txt" | sed 's/.*get_MBps=\([0-9.]*\).*/\1/') \
	<(grep phase=load "$T/ngx-get.txt" | sed 's/.*get_MBps=\([0-9.]*\).*/\1/') |
	awk '{ printf "%.2fx ", $1 / $2 }')
errs=$(cat "$T"/kb-*.txt "$T/upload.txt" | sed -n 's/.*errors=\([0-9]*\) corrupt=\([0-9]*\).*lost=\([0-9]*\).*/\1 \2 \3/p' | awk '{e+=$1; c+=$2; l+=$3} END {print e, c, l}')
echo
echo "results (same machine, same run, ${CONNS} connections, $ROUNDS x ${PHASE_S}s per side):"
echo "  kbisect GET: $kb MB/s   nginx GET: $ng MB/s   (per round: $rounds)"
python3 -c "import sys; r=$kb/$ng; print('  GET throughput ratio kbisect/nginx = %.2fx (target >= 0.5x): %s' % (r, 'ok' if r >= 0.5 else 'BELOW TARGET'))"
echo "  mixed phase: $(sed -n 's/.*phase=load .*get_MBps=\([0-9.]*\) puts=\([0-9]*\) .*put_MBps=\([0-9.]*\).*/GET \1 MB\/s, \2 PUTs at \3 MB\/s/p' "$T/kb-mix.txt")"
echo "  errors / corrupt / lost over all kbisect phases: $errs"
[ "$errs" = "0 0 0" ] || rc=1
exit $rc
