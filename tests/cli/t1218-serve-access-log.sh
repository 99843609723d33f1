#!/usr/bin/env bash
# t1218-serve-access-log.sh - the access log of `kbisect cache serve`: in the
# "combined" format (the default; to stderr, or --access-log FILE) and as JSON lines
# (--access-log-format json, --access-log - for stdout), one line per request with the
# time, client address, identity (the token's name, "-" without one; never the token),
# method, path, status, bytes sent (the body: a GET of an N-byte blob logs N, also
# when sent zstd-compressed: the compressed size) and duration. A file log is reopened
# on SIGHUP (log rotation: lines after the signal go to the new file).
# kb-test-labels: integration
# kb-test-timeout: 60
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
T=$tmp

printf 'secret-rw-token  alice\nro:secret-ro-token\n' >"$T/tokens"
head -c 150000 /dev/urandom | base64 -w0 | head -c 200000 >"$T/blob" # compressible
KEY=$(sha256sum "$T/blob" | cut -c1-64)

# 1. combined, to a file; rotated by SIGHUP
serve_start --cache "$T/store" --auth-token-file "$T/tokens" --access-log "$T/access.log" \
	--duration 50
curl -sf -o /dev/null -X PUT -H "Authorization: Bearer secret-rw-token" \
	--data-binary @"$T/blob" "$URL/cas/$KEY" || fail "PUT"
curl -sf -o /dev/null -A "t1218 agent" -H "Authorization: Bearer secret-rw-token" \
	"$URL/cas/$KEY" || fail "GET"
curl -s -o /dev/null "$URL/cas/$KEY" # no token: 401
RO_NAME=sha256:$(printf %s secret-ro-token | sha256sum | cut -c1-8)
curl -s -o /dev/null -H "Authorization: Bearer secret-ro-token" "$URL/cas/$(printf x | sha256sum | cut -c1-64)"
mv "$T/access.log" "$T/access.log.1"
kill -HUP "$pid"
for _ in $(seq 50); do grep -q 'reloaded' "$serve_log" && break; sleep 0.1; done
grep -q 'reloaded' "$serve_log" || fail "no reload: $(cat "$serve_log")"
curl -sf -o /dev/null -H "Authorization: Bearer secret-ro-token" "$URL/status" || fail "status"
kill -TERM "$pid"; wait "$pid" || fail "server exit status"
pid=
grep -q '"GET ' "$serve_log" && fail "access lines went to stderr with --access-log"

python3 - "$T" "$KEY" "$RO_NAME" <<'PY' || fail "combined log (see above)"
import re, sys, time
T, key, ro_name = sys.argv[1:]
line_re = re.compile(r'^(?P<addr>\S+) - (?P<ident>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) '
                     r'(?P<path>\S+) (?P<proto>HTTP/1\.[01])" (?P<status>\d{3}) (?P<bytes>\d+) '
                     r'"(?P<ref>[^"]*)" "(?P<ua>[^"]*)" (?P<dur>\d+\.\d{6})$')
def parse(path):
    out = []
    for l in open(path).read().splitlines():
        m = line_re.match(l)
        if not m:
            sys.exit(f"{path}: not combined + duration: {l!r}")
        out.append(m.groupdict())
    return out
old, new = parse(f"{T}/access.log.1"), parse(f"{T}/access.log")
want = [("PUT", f"/cas/{key}", "201", "alice"), ("GET", f"/cas/{key}", "200", "alice"),
        ("GET", f"/cas/{key}", "401", "-"), ("GET", None, "404", ro_name)]
if len(old) != len(want):
    sys.exit(f"rotated log has {len(old)} lines, want {len(want)}: {old}")
for got, (meth, path, status, ident) in zip(old, want):
    if (got["method"], got["status"], got["ident"]) != (meth, status, ident) or \
       (path and got["path"] != path) or got["addr"] != "127.0.0.1":
        sys.exit(f"line {got} is not {meth} {path} {status} {ident}")
    t = time.strptime(got["time"], "%d/%b/%Y:%H:%M:%S +0000")
    if abs(time.mktime(t) - time.timezone - time.time()) > 120:
        sys.exit(f"time {got['time']} is not now (UTC)")
    if float(got["dur"]) > 30:
        sys.exit(f"duration {got['dur']}")
if old[1]["bytes"] != "200000" or old[1]["ua"] != "t1218 agent":
    sys.exit(f"GET line: bytes {old[1]['bytes']} (want 200000), agent {old[1]['ua']!r}")
if len(new) != 1 or new[0]["path"] != "/status" or new[0]["ident"] != ro_name:
    sys.exit(f"after SIGHUP the new file has {new}")
PY
if grep -q 'secret-' "$T/access.log.1" "$T/access.log" "$serve_log"; then fail "a token in the logs"; fi

# 2. JSON lines on stdout; a zstd GET logs the compressed size
"$KBISECT" cache serve --cache "$T/store" --listen 127.0.0.1:0 --port-file "$T/port2" \
	--auth-token-file "$T/tokens" --access-log - --access-log-format json --duration 50 \
	>"$T/out2" 2>"$T/err2" &
pid=$!
for _ in $(seq 50); do [ -s "$T/port2" ] && break; sleep 0.1; done
URL2=http://127.0.0.1:$(cat "$T/port2")
curl -sf -o "$T/z" -H "Accept-Encoding: zstd" -H "Authorization: Bearer secret-rw-token" \
	"$URL2/cas/$KEY" || fail "zstd GET"
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer secret-ro-token" "$URL2/ac/$KEY"
kill -TERM "$pid"; wait "$pid" || fail "server 2 exit status"
pid=
grep -q '"method"' "$T/err2" && fail "JSON access lines on stderr with --access-log -"
python3 - "$T/out2" "$(stat -c %s "$T/z")" "$RO_NAME" <<'PY' || fail "json log (see above)"
import json, sys
path, zsize, ro_name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
recs = [json.loads(l) for l in open(path) if l.startswith("{")]
if len(recs) != 2:
    sys.exit(f"{len(recs)} JSON lines, want 2: {recs}")
need = {"time", "client", "identity", "method", "path", "status", "bytes_sent", "duration_s"}
for r in recs:
    if not need <= set(r):
        sys.exit(f"missing {need - set(r)} in {r}")
g, d = recs
if (g["method"], g["status"], g["identity"], g["client"]) != ("GET", 200, "alice", "127.0.0.1"):
    sys.exit(f"GET record {g}")
if g["bytes_sent"] != zsize or zsize >= 200000:
    sys.exit(f"zstd GET: bytes_sent {g['bytes_sent']}, body was {zsize}")
if (d["method"], d["status"], d["identity"]) != ("DELETE", 403, ro_name):
    sys.exit(f"DELETE record {d}")
if not g["time"].endswith("Z") or not isinstance(g["duration_s"], float):
    sys.exit(f"time/duration {g}")
PY

# 3. bad values are refused before serving
"$KBISECT" cache serve --cache "$T/store" --access-log-format apache --duration 1 2>"$T/err3" &&
	fail "--access-log-format apache accepted"
grep -q 'combined or json' "$T/err3" || fail "bad format message: $(cat "$T/err3")"
"$KBISECT" cache serve --cache "$T/store" --listen 127.0.0.1:0 \
	--access-log "$T/no/such/dir/log" --duration 1 2>"$T/err4" && fail "unwritable log accepted"
grep -q "$T/no/such/dir/log" "$T/err4" || fail "unwritable log message: $(cat "$T/err4")"
echo "ok"
