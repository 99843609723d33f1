#!/usr/bin/env bash
# t1214-serve-config.sh - `kbisect cache serve --config FILE` ('key = value' lines named
# as the long flags, # comments) and KBISECT_SERVE_<FLAG> variables, with precedence
# flag > env > file > default: observed through the cache served (the "serving '<dir>'"
# line), the port file written and --quiet (no access log). Bad settings (unknown key,
# no '=', a boolean set to "maybe", a missing file, an unknown KBISECT_SERVE_ variable)
# exit 129/1 naming the file and line or the variable.
# kb-test-labels: integration
# kb-test-timeout: 60
src=${KB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/preamble.sh
. "$src/tests/cli/lib/preamble.sh"
for v in $(env | sed -n 's/^\(KBISECT_SERVE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset KBISECT_CACHE

# serve ARGS...: run a 1-second server on port 0; sets out (stdout) and err (stderr);
# one request to /status so the access log has a line unless --quiet
serve() {
	rm -f "$tmp"/port*
	"$KBISECT" cache serve --listen 127.0.0.1:0 --duration 1 "$@" >"$tmp/out" 2>"$tmp/err" &
	local p=$! pf
	for _ in $(seq 50); do
		pf=$(ls "$tmp"/port* 2>/dev/null | head -1) && [ -n "$pf" ] && [ -s "$pf" ] && break
		sleep 0.1
	done
	[ -n "$pf" ] && curl -fsS "http://127.0.0.1:$(cat "$pf")/status" >/dev/null
	wait "$p" || { cat "$tmp/err"; fail "serve $* exited non-zero"; }
	out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
}
command -v curl >/dev/null || { echo "no curl: skipping" >&2; exit 0; }

cat >"$tmp/serve.conf" <<CONF
# kbisect cache serve settings
cache = $tmp/from-file
   port-file   =   $tmp/port.file
quiet = true

max-size = 1G
CONF
serve --config "$tmp/serve.conf"
[[ $out == *"serving '$tmp/from-file'"* ]] || fail "file's cache not used: $out"
[ -s "$tmp/port.file" ] || fail "file's port-file not written"
[ -z "$err" ] || fail "file's quiet = true ignored: $err"

# env beats the file; KBISECT_SERVE_CONFIG names the file
KBISECT_SERVE_CONFIG=$tmp/serve.conf KBISECT_SERVE_CACHE=$tmp/from-env \
	KBISECT_SERVE_PORT_FILE=$tmp/port.env serve
[[ $out == *"serving '$tmp/from-env'"* ]] || fail "env cache did not beat the file: $out"
[ -s "$tmp/port.env" ] || fail "KBISECT_SERVE_PORT_FILE not used"
[ -z "$err" ] || fail "quiet from the file lost: $err"

# the flag beats env and file
KBISECT_SERVE_CACHE=$tmp/from-env serve --config "$tmp/serve.conf" --cache "$tmp/from-flag"
[[ $out == *"serving '$tmp/from-flag'"* ]] || fail "flag did not beat env/file: $out"

# a boolean set false in env does not set it; default (no file, no env): access log on
KBISECT_SERVE_QUIET=false KBISECT_SERVE_PORT_FILE=$tmp/port.d serve --cache "$tmp/d"
[[ $err == *"/status"* ]] || fail "no access log with quiet=false: $err"
KBISECT_SERVE_QUIET=yes KBISECT_SERVE_PORT_FILE=$tmp/port.q serve --cache "$tmp/d"
[ -z "$err" ] || fail "KBISECT_SERVE_QUIET=yes ignored: $err"
# --flag=value syntax in the file path
serve --config="$tmp/serve.conf"
[[ $out == *"serving '$tmp/from-file'"* ]] || fail "--config=FILE not read"

# bad settings: exit 129 naming file+line or the variable, nothing served
bad() { # want-rc want-text ARGS... (env via the caller)
	local want=$1 text=$2 rc=0
	shift 2
	"$KBISECT" cache serve --listen 127.0.0.1:0 --duration 1 "$@" >/dev/null 2>"$tmp/berr" || rc=$?
	[ "$rc" = "$want" ] || fail "$* exited $rc, want $want: $(cat "$tmp/berr")"
	grep -qF -- "$text" "$tmp/berr" || fail "$* error lacks '$text': $(cat "$tmp/berr")"
}
printf 'cache = %s/x\nlisen = 0.0.0.0:1\n' "$tmp" >"$tmp/typo.conf"
bad 129 "config file '$tmp/typo.conf' line 2: unknown setting 'lisen'" --config "$tmp/typo.conf"
printf 'quiet\n' >"$tmp/noeq.conf"
bad 129 "line 1: expected 'key = value'" --config "$tmp/noeq.conf"
printf 'quiet = maybe\n' >"$tmp/bool.conf"
bad 129 "'quiet' takes true or false" --config "$tmp/bool.conf"
bad 1 "cannot read config file '$tmp/none.conf'" --config "$tmp/none.conf"
KBISECT_SERVE_LISEN=x bad 129 "environment variable KBISECT_SERVE_LISEN: unknown setting 'lisen'"
bad 129 "needs a value" --config
# --help works whatever the config says
"$KBISECT" cache serve --config "$tmp/typo.conf" --help | grep -- '--config <file>' >/dev/null ||
	fail "--help with a bad config"
[ ! -e "$tmp/x" ] || fail "a bad config still opened a cache"
echo "ok: config file, env, precedence, errors"
