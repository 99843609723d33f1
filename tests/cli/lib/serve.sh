# tests/cli/lib/serve.sh - sourced by the CLI tests of `kbisect cache serve` (t1201, t1203,
# t1206-t1209, t1211, t1212) right after lib/preamble.sh: replaces the preamble's EXIT
# trap by serve_cleanup (kill the server started by serve_start, if still running, and
# wait for it; call serve_exit_hook if the test defines one; remove $tmp).
# serve_start ARGS...: one server in the background. Not: the tests' own requests.

pid=
serve_log=$tmp/err

# EXIT trap: stops the server of serve_start (unless the test cleared $pid), removes $tmp.
serve_cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	if declare -F serve_exit_hook >/dev/null; then serve_exit_hook; fi
	rm -rf "$tmp"
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
