# tests/cli/lib/slurm.sh - the Slurm cluster of a slurm-labelled test (sourced after
# preamble.sh): scripts/test.sh's one-node cluster (KB_SLURM_DIR) when it answers,
# else one of the test's own under $tmp/slurm (own=1: the test stops it in its
# cleanup with `scripts/slurm-local.sh stop "$KB_SLURM_DIR"`). Skips the test (exit 0,
# a SKIP line) when Slurm cannot be started here. Exports SLURM_CONF and adds
# /usr/sbin to PATH.
own=
if [ -z "${KB_SLURM_DIR:-}" ] || ! SLURM_CONF=$KB_SLURM_DIR/slurm.conf sinfo >/dev/null 2>&1; then
	KB_SLURM_DIR=$tmp/slurm
	if ! bash "$src/scripts/slurm-local.sh" start "$KB_SLURM_DIR" >/dev/null 2>"$tmp/slurm.err"; then
		echo "SKIP: cannot start Slurm here: $(tail -1 "$tmp/slurm.err")" >&2
		exit 0
	fi
	own=1
fi
export SLURM_CONF=$KB_SLURM_DIR/slurm.conf PATH=$PATH:/usr/sbin
