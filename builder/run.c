/*
 * builder/run.c - child processes of the builder (make, git, custom build commands):
 * environment edits, output to a log, a time limit enforced on the whole process
 * group.
 * Not: what to run (build.c, repo.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kbisect/error.h"
#include "common/error_internal.h"
#include "build_internal.h"

double kb_run__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void child(const char *const *argv, const char *cwd, const char *const *env_set,
		  const char *const *env_unset, int out_fd)
{
	int devnull = open("/dev/null", O_RDWR);

	setpgid(0, 0);
	if (devnull >= 0)
		dup2(devnull, 0);
	if (out_fd < 0)
		out_fd = devnull;
	if (out_fd >= 0) {
		dup2(out_fd, 1);
		dup2(out_fd, 2);
	}
	if (cwd && chdir(cwd) != 0)
		_exit(127);
	for (size_t i = 0; env_unset && env_unset[i]; i++)
		unsetenv(env_unset[i]);
	for (size_t i = 0; env_set && env_set[i]; i++) {
		const char *eq = strchr(env_set[i], '=');
		char name[256];
		size_t n;
		if (!eq || (n = (size_t)(eq - env_set[i])) >= sizeof(name))
			continue;
		memcpy(name, env_set[i], n);
		name[n] = '\0';
		setenv(name, eq + 1, 1);
	}
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

int kb_run__cmd(const char *const *argv, const char *cwd, const char *const *env_set,
		const char *const *env_unset, int out_fd, double timeout_s, int *exit_status)
{
	double deadline = timeout_s > 0 ? kb_run__now() + timeout_s : 0;
	int status = 0, timed_out = 0;
	pid_t pid, r;

	pid = fork();
	if (pid < 0)
		return kb_error_os("cannot start '%s'", argv[0]);
	if (pid == 0)
		child(argv, cwd, env_set, env_unset, out_fd);
	setpgid(pid, pid); /* both sides, so the group exists before any kill */
	for (;;) {
		r = waitpid(pid, &status, deadline ? WNOHANG : 0);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return kb_error_os("cannot wait for '%s'", argv[0]);
		if (deadline && kb_run__now() > deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			timed_out = 1;
			break;
		}
		if (deadline) {
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	/* Whatever the group left behind (make's children) goes too. */
	kill(-pid, SIGKILL);
	if (timed_out)
		return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_BUILD,
				     "'%s' ran past its time limit of %.0fs and was killed; "
				     "raise the limit with --timeout",
				     argv[0], timeout_s);
	if (WIFEXITED(status))
		*exit_status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		*exit_status = 128 + WTERMSIG(status);
	else
		*exit_status = 255;
	return KB_OK;
}
