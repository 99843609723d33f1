#!/usr/bin/env bash
# t1207-serve-disk-full.sh - `kbisect cache serve` on a disk that fills up: the cache
# lives on a small tmpfs (in a private mount namespace, so nothing outlives the test).
# Uploads that do not fit must get 507 "no space left" (never 500), store nothing
# (GET 404), leave every earlier object intact, and after the disk grows the same
# upload must succeed; `kbisect cache verify` is clean at the end. Skipped (exit 0,
# with a message) where mount namespaces or tmpfs mounts are not allowed.
# kb-test-labels: fault integration
# kb-test-timeout: 120
set -euo pipefail
: "${KBISECT:?set KBISECT to the kbisect binary}"
if [ -z "${KB_T1207_NS:-}" ]; then
	if ! unshare -m --propagation private sh -c \
		'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs "$d" && umount "$d" && rmdir "$d"' \
		2>/dev/null; then
		echo "SKIP t1207: no mount namespace / tmpfs here (needs root or CAP_SYS_ADMIN)"
		exit 0
	fi
	KB_T1207_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
# shellcheck source=lib/serve.sh
. "$src/tests/cli/lib/serve.sh"
T=$tmp serve_log=$tmp/log
serve_exit_hook() { umount "$T/disk" 2>/dev/null || true; }

mkdir "$T/disk"
mount -t tmpfs -o size=24m tmpfs "$T/disk"
serve_start --cache "$T/disk/store" --duration 100

put() { curl -s -o "$T/answer" -w '%{http_code}' -X PUT --data-binary @"$1" "$URL/cas/$(sha256sum "$1" | cut -c1-64)"; }
for i in 1 2 3; do
	head -c 3000000 /dev/urandom >"$T/keep$i"
	[ "$(put "$T/keep$i")" = 201 ] || fail "setup put $i"
done

# fill the disk: random (incompressible) 5 MB objects until one does not fit
full=
for i in $(seq 10); do
	head -c 5000000 /dev/urandom >"$T/big$i"
	code=$(put "$T/big$i")
	case $code in
	201) ;;
	507) full=$i; break ;;
	*) fail "upload $i on a full disk: HTTP $code: $(cat "$T/answer"); log: $(tail -3 "$T/log")" ;;
	esac
done
[ -n "$full" ] || fail "the 24 MB disk never filled"
grep -q "no space left" "$T/answer" || fail "507 without 'no space left': $(cat "$T/answer")"
H=$(sha256sum "$T/big$full" | cut -c1-64)
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/cas/$H")" = 404 ] || fail "a failed upload is visible"
# a second attempt and a record on the full disk: 507 or success, never 500
code=$(put "$T/big$full")
case $code in 201|507) ;; *) fail "retry on a full disk: HTTP $code: $(cat "$T/answer")" ;; esac
TK=$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)
code=$(curl -s -o "$T/answer" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data-binary '[{"class":"ok","title":"","duration_s":1.5,"time":1700000000}]' "$URL/kb/v1/test/$TK")
case $code in 200|201|507) ;; *) fail "record on a full disk: HTTP $code: $(cat "$T/answer")" ;; esac
for i in 1 2 3; do
	curl -sf "$URL/cas/$(sha256sum "$T/keep$i" | cut -c1-64)" -o "$T/back" || fail "keep$i unreadable on a full disk"
	cmp -s "$T/back" "$T/keep$i" || fail "keep$i changed"
done
grep -q "no space left" "$T/log" || fail "the server log does not say 'no space left'"

# the disk grows: the same upload now succeeds and reads back
mount -o remount,size=64m "$T/disk"
code=$(put "$T/big$full")
case $code in 200|201) ;; *) fail "upload after the disk grew: HTTP $code: $(cat "$T/answer")" ;; esac
curl -sf "$URL/cas/$H" -o "$T/back" && cmp -s "$T/back" "$T/big$full" || fail "object after the disk grew"
kill -TERM "$pid"; wait "$pid" || fail "server exit status"
pid=
"$KBISECT" cache verify --cache "$T/disk/store" >"$T/verify" 2>&1 || fail "verify: $(cat "$T/verify")"
echo "ok t1207 (disk full at upload $full: 507 no space left)"
