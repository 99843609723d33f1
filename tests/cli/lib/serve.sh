# tests/cli/lib/serve.sh - sourced by the CLI tests that run `kbisect cache serve` (t12xx,
# t3002, t3110, t3210) right after lib/preamble.sh (a Slurm test: after lib/slurm.sh):
# replaces the preamble's EXIT trap by serve_cleanup (kill the server started by
# serve_start, if still running, and wait for it; call serve_exit_hook if the test
# defines one; remove $tmp unless KB_KEEP is set). serve_start ARGS...: one server in the
# background. Not: the tests' own requests.

pid=
serve_log=$tmp/err

# EXIT trap: stops the server of serve_start (unless the test cleared $pid), calls the
# test's serve_exit_hook, removes $tmp (kept when KB_KEEP is set, to look at after a run).
serve_cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	if declare -F serve_exit_hook >/dev/null; then serve_exit_hook; fi
	[ -n "${KB_KEEP:-}" ] || rm -rf "$tmp"
}
trap serve_cleanup EXIT

# serve_start ARGS...: `$KBISECT cache serve --listen 127.0.0.1:0 --port-file $tmp/port
# ARGS` in the background (stdout to /dev/null, stderr to $serve_log, $tmp/err unless the
# test set it); waits up to 5 s for the port file, else prints the log and fails; sets
# pid, PORT and URL (http://127.0.0.1:PORT).
serve_start() {
	"$KBISECT" cache serve --listen 127.0.0.1:0 --port-file "$tmp/port" "$@" \
		>/dev/null 2>"$serve_log" &
	pid=$!
	for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
	[ -s "$tmp/port" ] || { cat "$serve_log"; fail "server did not start"; }
	PORT=$(cat "$tmp/port")
	URL="http://127.0.0.1:$PORT"
}
