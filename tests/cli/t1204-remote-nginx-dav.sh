#!/usr/bin/env bash
# t1204-remote-nginx-dav.sh - the protocol is the standard one: kbisect clients can use
# a plain nginx WebDAV server as their remote. Objects are shared through it; kbisect's
# record paths are unknown there, which is a miss, not a failure of the remote.
# kb-test-labels: integration
# kb-test-timeout: 60
set -euo pipefail
K=${KBISECT:?set KBISECT to the kbisect binary}
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || { echo "skip: no nginx (scripts/install-deps.sh installs nginx-light)"; exit 0; }
T=$(mktemp -d /tmp/kbtest-t1204-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export HOME=$T KBISECT_CONFIG=$T/none
unset KBISECT_REMOTE KBISECT_CACHE KBISECT_REMOTE_TOKEN KBISECT_REMOTE_TOKEN_FILE

mkdir -p "$T/www" "$T/ngx"
chmod 755 "$T"
chmod 777 "$T/www" "$T/ngx"   # nginx workers run as nobody
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/ngx/nginx.conf" <<EOF2
worker_processes 1;
daemon off;
pid $T/ngx/nginx.pid;
error_log $T/ngx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_max_body_size 64m;
  client_body_temp_path $T/ngx/body;
  proxy_temp_path $T/ngx/proxy;
  fastcgi_temp_path $T/ngx/fastcgi;
  uwsgi_temp_path $T/ngx/uwsgi;
  scgi_temp_path $T/ngx/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $T/www;
    location / { dav_methods PUT; create_full_put_path on; dav_access user:rw all:r; }
  }
}
EOF2
"$NGINX" -p "$T/ngx" -c "$T/ngx/nginx.conf" 2>"$T/ngx/stderr" &
pid=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT/kb"

head -c 700000 /dev/urandom >"$T/obj"
ID=$("$K" cache put --cache="$T/a" "$T/obj" | tail -1 | cut -c1-64)
"$K" remote push --cache="$T/a" --remote "$URL" "$ID" 2>"$T/push.err" || { cat "$T/push.err" "$T/ngx/error.log"; fail "push to nginx"; }
[ -f "$T/www/kb/cas/$ID" ] || fail "nginx did not store /kb/cas/$ID"
"$K" remote get --cache="$T/b" --remote "$URL" "$ID" -o "$T/out" 2>"$T/get.err" || { cat "$T/get.err"; fail "get from nginx"; }
cmp "$T/obj" "$T/out" || fail "object differs"
# a build record nginx cannot know: a miss (exit 1: not found anywhere), remote not failed
set +e
"$K" remote build --cache="$T/b" --remote "$URL" \
	1111111111111111111111111111111111111111111111111111111111111111 >/dev/null 2>"$T/build.err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "record miss not exit 1"
grep -q "misses 1" "$T/build.err" || { cat "$T/build.err"; fail "record miss not counted as a miss"; }
! grep -q "failed" "$T/build.err" || { cat "$T/build.err"; fail "remote marked failed on a plain cache"; }
echo "ok t1204"
