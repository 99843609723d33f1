#!/usr/bin/env bash
# tests/cli/t3112-bisect-slurm-abort.sh - Ctrl-C twice (abort now) during a bisection
# with --executor slurm on the local Slurm (scripts/slurm-local.sh; scripts/test.sh's,
# else its own): the jobs already submitted - the round's builds and a speculative one,
# on a slow node (the program the jobs run sleeps a minute first) - are scancel'ed:
# within a few seconds of the exit squeue shows none of them pending or running, and
# sacct has them CANCELLED. The first Ctrl-C alone leaves them to finish (that is the
# "stop after the running round" of t3110).
# kb-test-labels: slurm
# kb-test-timeout: 300
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
export HOME=$tmp KBISECT_CONFIG=$tmp/none
unset KBISECT_REMOTE KBISECT_CACHE KBISECT_REMOTE_TOKEN KBISECT_REMOTE_TOKEN_FILE

# shellcheck source=lib/slurm.sh
. "$src/tests/cli/lib/slurm.sh"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	grep -o "as job [0-9]*" "$tmp/log" 2>/dev/null | while read -r _ _ id; do
		scancel "$id" 2>/dev/null || true; rm -f "/tmp/kbisect-slurm-$id.log"; done
	if [ -n "$own" ]; then bash "$src/scripts/slurm-local.sh" stop "$KB_SLURM_DIR"; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# a small repository: a build command that never runs (the node is slow to start)
repo=$tmp/repo
git init -q "$repo"
for i in 1 2 3 4 5 6; do
	echo "$i" > "$repo/f"; git -C "$repo" add f; git -C "$repo" commit -qm "c$i"
	[ $i -eq 1 ] && git -C "$repo" tag v1.0
done
echo "# CONFIG_X is not set" > "$tmp/config"
echo 'int main(void) { return 0; }' > "$tmp/repro.c"
"$KBISECT" cache serve --cache "$tmp/server" --listen 127.0.0.1:0 --port-file "$tmp/port" \
	--duration 280 --quiet >/dev/null 2>"$tmp/serve.err" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || fail "server did not start: $(cat "$tmp/serve.err")"
cat > "$tmp/kb-node" <<SH
#!/bin/sh
sleep 60
exec "$KBISECT" "\$@"
SH
chmod +x "$tmp/kb-node"

KBISECT_SLURM_BIN=$tmp/kb-node KBISECT_SLURM_NODE_DIR=$tmp/node "$KBISECT" bisect \
	--executor slurm --remote "http://127.0.0.1:$(cat "$tmp/port")" --repo "$repo" \
	--bad HEAD --good v1.0 --config "$tmp/config" --repro "$tmp/repro.c" \
	--build-cmd 'true' --image bzImage --cache "$tmp/cache" --work-dir "$tmp/wt" \
	--workers 2 --prebuild 1 --log "$tmp/log" >/dev/null 2>"$tmp/err" &
pid=$!
# until the round's builds and the speculative one are submitted
for _ in $(seq 600); do
	n=$(grep -c "as job [0-9]*" "$tmp/log" 2>/dev/null || true)
	[ "${n:-0}" -ge 2 ] && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
ids=$(grep -o "as job [0-9]*" "$tmp/log" | awk '{print $3}' | sort -u)
[ "$(echo "$ids" | wc -w)" -ge 2 ] || fail "not 2 jobs submitted: $(cat "$tmp/log" "$tmp/err")"
sleep 1
kill -INT $pid
sleep 0.5
grep -q "Ctrl-C again to abort now" "$tmp/err" || fail "first Ctrl-C: $(cat "$tmp/err")"
# the first Ctrl-C cancels nothing: the jobs are still queued or running
for id in $ids; do
	st=$(squeue -h -j "$id" -o %T 2>/dev/null || true)
	case $st in PENDING|RUNNING|CONFIGURING) ;; *) fail "job $id is '$st' after one Ctrl-C" ;; esac
done
kill -INT $pid
t0=$(date +%s)
set +e
wait $pid; rc=$?
set -e
[ $rc -eq 130 ] || fail "abort: exit $rc, want 130: $(cat "$tmp/err")"
grep -q "the Slurm jobs in flight cancelled (scancel)" "$tmp/err" || fail "abort message: $(cat "$tmp/err")"
# within a few seconds none of the jobs is pending or running any more
left=
for _ in $(seq 50); do
	left=$(squeue -h -t PENDING,RUNNING,CONFIGURING,COMPLETING -o %i 2>/dev/null |
		grep -xF "$(echo "$ids")" || true)
	[ -z "$left" ] && break
	sleep 0.1
done
[ -z "$left" ] || fail "jobs still queued $(( $(date +%s) - t0 ))s after the abort: $left"
echo "aborted: $(echo "$ids" | wc -w) jobs gone from squeue within $(( $(date +%s) - t0 ))s"
acct=$(sacct -c -n -P -o JobID,JobName,State 2>/dev/null ||
	sacct -X -n -P -o JobID,JobName,State -S now-1hour)
for id in $ids; do
	for _ in $(seq 50); do grep -q "^$id|" <<<"$acct" && break; sleep 0.1
		acct=$(sacct -c -n -P -o JobID,JobName,State 2>/dev/null || true); done
	grep -Eq "^$id\|kbisect-build-[0-9a-f]+\|CANCELLED" <<<"$acct" ||
		fail "job $id not CANCELLED in sacct: $(echo "$acct" | grep "^$id|")"
done
echo ok
