/*
 * common/util.c - the host helpers of kbisect/util.h: whole-file reads with a limit,
 * $PATH search, and running a program with a time limit (fork/exec, kill at the
 * deadline, exit status and optionally its output).
 * Owns: the one copy of each; their error messages.
 * Not: long-lived children (QEMU: vmpool/qemu.c), streaming readers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kbisect/util.h"
#include "error_internal.h"

int kb_file_read(char **out, size_t *len, const char *path, size_t max, const char *what)
{
	int is_stdin, fd;
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!out || !path)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_OS, "kb_file_read: NULL argument");
	*out = NULL;
	if (len)
		*len = 0;
	if (!what)
		what = "file";
	if (!max)
		max = KB_FILE_READ_MAX;
	is_stdin = !strcmp(path, "-");
	fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kb_error_os("cannot open %s '%s'", what, path);
	for (;;) {
		ssize_t got;
		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *b;
			if (cap > max + 1) /* read one byte past max to tell "too large" */
				break;
			if (ncap > max + 2)
				ncap = max + 2;
			if (!(b = realloc(buf, ncap))) {
				free(buf);
				if (!is_stdin)
					close(fd);
				return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS,
						     "out of memory reading %s '%s'", what, path);
			}
			buf = b;
			cap = ncap;
		}
		got = read(fd, buf + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			free(buf);
			if (!is_stdin)
				close(fd);
			errno = e;
			return kb_error_os("cannot read %s '%s'", what, path);
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max)
			break;
	}
	if (!is_stdin)
		close(fd);
	if (n > max) {
		free(buf);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_OS,
				     "%s '%s' is larger than %zu bytes; is it the right file?", what,
				     path, max);
	}
	if (!buf && !(buf = malloc(1)))
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "out of memory reading %s '%s'",
				     what, path);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return KB_OK;
}

int kb_path_find(char *buf, size_t len, const char *prog)
{
	const char *path = getenv("PATH");

	if (!buf || !len || !prog || !*prog)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_OS, "kb_path_find: no program named");
	if (strchr(prog, '/')) {
		if (access(prog, X_OK) != 0)
			return kb_error_os("cannot run '%s'", prog);
		snprintf(buf, len, "%s", prog);
		return KB_OK;
	}
	while (path && *path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		struct stat st;
		/* an empty entry is the current directory (POSIX) */
		int w = snprintf(buf, len, "%.*s%s%s", (int)n, path, n ? "/" : "./", prog);
		if (w > 0 && (size_t)w < len && access(buf, X_OK) == 0 && stat(buf, &st) == 0 &&
		    S_ISREG(st.st_mode))
			return KB_OK;
		path += n + (colon ? 1 : 0);
	}
	buf[0] = '\0';
	return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_OS,
			     "'%s' is not on PATH; install it or add its directory to PATH", prog);
}

double kb_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child: own process group, stdin /dev/null, output to out_fd (> 0; < 0: /dev/null),
 * cwd and environment of o, exec; on failure errno goes to err_fd (close-on-exec, so EOF tells
 * the parent it worked). */
static void child(const char *const *argv, const kb_spawn_opts *o, int out_fd, int err_fd)
{
	int e, nul = open("/dev/null", O_RDWR);

	setpgid(0, 0);
	if (out_fd < 0) /* discarded */
		out_fd = nul;
	if (nul >= 0)
		dup2(nul, 0);
	if (out_fd > 0) {
		dup2(out_fd, 1);
		dup2(out_fd, 2);
	}
	if (nul > 2)
		close(nul);
	if (o->cwd && chdir(o->cwd) != 0)
		goto fail;
	for (size_t i = 0; o->env_unset && o->env_unset[i]; i++)
		unsetenv(o->env_unset[i]);
	for (size_t i = 0; o->env_set && o->env_set[i]; i++) {
		const char *eq = strchr(o->env_set[i], '=');
		char name[256];
		size_t n;
		if (!eq || (n = (size_t)(eq - o->env_set[i])) >= sizeof(name))
			continue;
		memcpy(name, o->env_set[i], n);
		name[n] = '\0';
		setenv(name, eq + 1, 1);
	}
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], (char *const *)argv);
fail:
	e = errno;
	if (write(err_fd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/* The process groups of the children kb_spawn() is running now (0: free slot), for
 * kb_spawn_signal_all() from a signal handler: lock-free atomics only. */
#define LIVE_MAX 256
static _Atomic int live[LIVE_MAX];

static void live_add(pid_t pid)
{
	for (int i = 0; i < LIVE_MAX; i++) {
		int free_slot = 0;
		if (atomic_compare_exchange_strong(&live[i], &free_slot, (int)pid))
			return;
	}
}

static void live_remove(pid_t pid)
{
	for (int i = 0; i < LIVE_MAX; i++) {
		int was = (int)pid;
		if (atomic_compare_exchange_strong(&live[i], &was, 0))
			return;
	}
}

void kb_spawn_signal_all(int sig)
{
	for (int i = 0; i < LIVE_MAX; i++) {
		int p = atomic_load(&live[i]);
		if (p > 0)
			kill(-p, sig);
	}
}

/* Keep what fits of the bytes read (the rest is dropped, so the child never blocks). */
static void keep(kb_spawn_opts *o, const char *b, size_t n)
{
	size_t room = o->capture_max - o->output_len;
	if (n > room)
		n = room;
	memcpy(o->output + o->output_len, b, n);
	o->output_len += n;
	o->output[o->output_len] = '\0';
}

/* the longest wait between two looks at a running child */
#define SPAWN_POLL_MAX_MS 50

int kb_spawn(const char *const *argv, kb_spawn_opts *o)
{
	int outp[2] = { -1, -1 }, errp[2], st = 0, e = 0, done = 0, step = 1;
	double deadline;
	ssize_t got;
	pid_t pid;

	if (!argv || !argv[0] || !o)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_OS, "kb_spawn: no program named");
	o->output = NULL;
	o->output_len = 0;
	o->status = -1;
	o->timed_out = 0;
	if (o->capture_max && !(o->output = calloc(1, o->capture_max + 1)))
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "out of memory running '%s'",
				     argv[0]);
	if ((o->capture_max && pipe2(outp, O_CLOEXEC) != 0) || pipe2(errp, O_CLOEXEC) != 0) {
		e = kb_error_os("cannot run '%s': no pipe", argv[0]);
		if (outp[0] >= 0)
			close(outp[0]), close(outp[1]);
		free(o->output), o->output = NULL;
		return e;
	}
	deadline = o->timeout_s > 0 ? kb_now_s() + o->timeout_s : 0;
	pid = fork();
	if (pid == 0)
		child(argv, o, o->capture_max ? outp[1] : o->out_fd, errp[1]);
	close(errp[1]);
	if (outp[1] >= 0)
		close(outp[1]);
	if (pid < 0) {
		e = kb_error_os("cannot run '%s': fork failed", argv[0]);
		close(errp[0]);
		if (outp[0] >= 0)
			close(outp[0]);
		free(o->output), o->output = NULL;
		return e;
	}
	setpgid(pid, pid); /* also here: no race with a kill before the child ran */
	live_add(pid);
	while ((got = read(errp[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(errp[0]);
	if (got == (ssize_t)sizeof(e)) { /* exec failed */
		live_remove(pid);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (outp[0] >= 0)
			close(outp[0]);
		free(o->output), o->output = NULL;
		errno = e;
		if (o->cwd && e == ENOENT && access(o->cwd, X_OK) != 0)
			return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "cannot run '%s' in '%s': "
					     "no such directory", argv[0], o->cwd);
		return kb_error_os("cannot run '%s'", argv[0]);
	}
	while (!done) {
		double left = deadline ? deadline - kb_now_s() : 1;
		int ms = left <= 0 ? 0 : left * 1000 > step ? step : (int)(left * 1000) + 1;
		pid_t w;
		/* 1, 2, 4 ... 50 ms: a short command (git rev-parse) is seen to end within a
		 * few ms, a long one (make) costs at most 20 wake-ups a second */
		step = step * 2 > SPAWN_POLL_MAX_MS ? SPAWN_POLL_MAX_MS : step * 2;
		if (outp[0] >= 0) {
			struct pollfd p = { outp[0], POLLIN, 0 };
			char b[4096];
			if (poll(&p, 1, ms) > 0) {
				got = read(outp[0], b, sizeof(b));
				if (got > 0)
					keep(o, b, (size_t)got);
				else if (got == 0 || errno != EINTR)
					close(outp[0]), outp[0] = -1;
			}
		} else {
			struct timespec ts = { 0, (long)ms * 1000000L };
			nanosleep(&ts, NULL);
		}
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			done = 1;
		} else if (deadline && kb_now_s() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			o->timed_out = 1;
			done = 1;
		}
	}
	live_remove(pid);
	kill(-pid, SIGKILL); /* what the group left behind (make's children) goes too */
	if (outp[0] >= 0) { /* what is left in the pipe */
		int fl = fcntl(outp[0], F_GETFL);
		char b[4096];
		fcntl(outp[0], F_SETFL, fl | O_NONBLOCK);
		while ((got = read(outp[0], b, sizeof(b))) > 0)
			keep(o, b, (size_t)got);
		close(outp[0]);
	}
	o->status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
	if (o->timed_out)
		return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_OS,
				     "'%s' ran past its time limit of %g s and was killed", argv[0],
				     o->timeout_s);
	return KB_OK;
}
