/*
 * builder/run.c - child processes of the builder (make, git, custom build commands):
 * the builder's face of kb_spawn() (kbisect/util.h, which does the fork/exec,
 * environment edits, log fd and the time limit on the whole process group), with the
 * builder's timeout error.
 * Not: what to run (build.c, repo.c); the spawning itself (common/util.c).
 */
#include "kbisect/error.h"
#include "kbisect/util.h"
#include "common/error_internal.h"
#include "build_internal.h"

int kb_run__result(int rc, const char *prog, const kb_spawn_opts *o, int *exit_status)
{
	if (rc == KB_ETIMEOUT)
		return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_BUILD,
				     "'%s' ran past its time limit of %.0fs and was killed; "
				     "raise the limit with --timeout",
				     prog, o->timeout_s);
	if (rc < 0)
		return rc;
	*exit_status = o->status;
	return KB_OK;
}

int kb_run__cmd(const char *const *argv, const char *cwd, const char *const *env_set,
		const char *const *env_unset, int out_fd, double timeout_s, int *exit_status)
{
	kb_spawn_opts o = { .timeout_s = timeout_s, .out_fd = out_fd, .cwd = cwd,
			    .env_set = env_set, .env_unset = env_unset };

	return kb_run__result(kb_spawn(argv, &o), argv[0], &o, exit_status);
}
