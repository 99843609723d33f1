#!/usr/bin/env bash
# t1217-serve-reload.sh - SIGHUP makes a running `kbisect cache serve` (HTTPS, tokens)
# reload its token file and TLS certificate and key without a restart: after swapping
# both files and sending SIGHUP, the old token gets 401, the new one 200, new handshakes
# get the new certificate; an upload that was half sent when the signal came completes
# (201, stored, the same bytes back) and a kept-alive connection stays open across it.
# A reload that fails (a certificate file that is not PEM, a key of another
# certificate, a missing token file) changes nothing (old token still accepted, new one
# refused, old certificate served) and logs an error naming the file.
# kb-test-labels: integration
# kb-test-timeout: 90
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
T=$tmp
command -v openssl >/dev/null || { echo "no openssl: skipping"; exit 0; }

for n in 1 2 3; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key$n.pem" -out "$T/cert$n.pem" \
		-days 2 -subj "/CN=kbisect-reload-$n" 2>/dev/null || fail "openssl req"
done
cp "$T/cert1.pem" "$T/cert.pem"
cp "$T/key1.pem" "$T/key.pem"
printf '# the first team\ntok-old-1 alice\nro:tok-old-ro\n' >"$T/tokens"
serve_start --cache "$T/store" --auth-token-file "$T/tokens" --tls-cert "$T/cert.pem" \
	--tls-key "$T/key.pem" --duration 80

python3 - "$PORT" "$pid" "$T" "$serve_log" <<'PY' || { cat "$serve_log" >&2; fail "reload (see above)"; }
import hashlib, http.client, os, signal, ssl, sys, time
port, pid, T, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def der(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())

def served():
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    c.connect()
    d = c.sock.getpeercert(binary_form=True)
    c.close()
    return d

def status(token, path="/status", conn=None):
    c = conn or http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    r.read()
    if conn is None:
        c.close()
    return r.status

def reload(what):
    """SIGHUP; wait for the server's verdict line; return it."""
    before = open(log, "rb").read().count(b"(SIGHUP)")
    os.kill(pid, signal.SIGHUP)
    for _ in range(100):
        lines = [l for l in open(log, "rb").read().split(b"\n") if b"(SIGHUP)" in l]
        if len(lines) > before:
            return lines[-1].decode()
        time.sleep(0.05)
    sys.exit(f"{what}: no reload message in the log")

def swap(name, src_path):
    data = open(src_path, "rb").read()
    with open(os.path.join(T, name + ".tmp"), "wb") as f:
        f.write(data)
    os.rename(os.path.join(T, name + ".tmp"), os.path.join(T, name))

def check(cond, msg):
    if not cond:
        sys.exit(msg)

check(served() == der(f"{T}/cert1.pem"), "not serving cert1 at start")
check(status("tok-old-1") == 200, "old token refused at start")
check(status("tok-new-1") == 401, "new token accepted before the reload")

# an upload half sent, and a kept-alive connection, across the reload
blob = os.urandom(3 << 20)
key = hashlib.sha256(blob).hexdigest()
up = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=20)
up.putrequest("PUT", f"/cas/{key}")
up.putheader("Authorization", "Bearer tok-old-1")
up.putheader("Content-Length", str(len(blob)))
up.endheaders()
up.send(blob[: len(blob) // 2])
keep = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
check(status("tok-old-1", conn=keep) == 200, "kept-alive connection: first request")
keep_port = keep.sock.getsockname()[1]

# swap tokens, certificate and key; SIGHUP
with open(f"{T}/tokens.new", "w") as f:
    f.write("tok-new-1 bob\nro:tok-new-ro ci-runners\n")
os.rename(f"{T}/tokens.new", f"{T}/tokens")
swap("cert.pem", f"{T}/cert2.pem")
swap("key.pem", f"{T}/key2.pem")
msg = reload("good reload")
check("reloaded" in msg, f"good reload: {msg}")

up.send(blob[len(blob) // 2 :])
r = up.getresponse()
r.read()
check(r.status == 201, f"upload across the reload: {r.status}")
check(status("tok-new-1", conn=keep) == 200, "kept-alive connection after the reload")
check(keep.sock.getsockname()[1] == keep_port, "kept-alive connection was reopened")
check(status("tok-old-1") == 401, "old token still accepted after the reload")
check(status("tok-old-ro") == 401, "old read-only token still accepted after the reload")
check(status("tok-new-1") == 200, "new token refused after the reload")
check(status("tok-new-ro", f"/cas/{key}") == 200, "new read-only token cannot GET")
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
c.request("GET", f"/cas/{key}", headers={"Authorization": "Bearer tok-new-1"})
check(c.getresponse().read() == blob, "the upload across the reload came back different")
check(served() == der(f"{T}/cert2.pem"), "new certificate not served after the reload")

# failing reloads change nothing: tokens updated too, but the reload is all or nothing
with open(f"{T}/tokens", "w") as f:
    f.write("tok-bad-1 mallory\n")
for what, prep, names in (
    ("a certificate that is not PEM", lambda: open(f"{T}/cert.pem", "w").write("not a certificate\n"), "cert.pem"),
    ("a key of another certificate", lambda: (swap("cert.pem", f"{T}/cert3.pem"), swap("key.pem", f"{T}/key1.pem")), "key.pem"),
    ("a missing token file", lambda: (swap("cert.pem", f"{T}/cert3.pem"), swap("key.pem", f"{T}/key3.pem"), os.unlink(f"{T}/tokens")), "tokens"),
):
    prep()
    msg = reload(what)
    check("failed" in msg and f"{T}/{names}" in msg, f"{what}: message does not name {names}: {msg}")
    check(status("tok-new-1") == 200, f"{what}: the current token is refused")
    check(status("tok-bad-1") == 401, f"{what}: a token of the failed reload is accepted")
    check(served() == der(f"{T}/cert2.pem"), f"{what}: the certificate changed")

# and a good reload after them works
with open(f"{T}/tokens", "w") as f:
    f.write("tok-last\n")
msg = reload("last reload")
check("reloaded" in msg, f"last reload: {msg}")
check(served() == der(f"{T}/cert3.pem"), "cert3 not served after the last reload")
check(status("tok-last") == 200 and status("tok-new-1") == 401, "tokens after the last reload")
PY
curl -sfk -H "Authorization: Bearer tok-last" "https://127.0.0.1:$PORT/metrics" >"$T/metrics" ||
	fail "metrics"
grep -qx 'kbisect_reloads_total 2' "$T/metrics" || fail "kbisect_reloads_total: $(grep reload "$T/metrics")"
grep -qx 'kbisect_reload_failures_total 3' "$T/metrics" || fail "kbisect_reload_failures_total"
# the access log names tokens, never shows them
grep -q ' bob \[' "$serve_log" || fail "no access log line with identity bob"
if grep -q 'tok-' "$serve_log"; then fail "a token appears in the log"; fi
kill -TERM "$pid"; wait "$pid" || fail "server exit status"
pid=
echo "ok"
