/*
 * bisect/executor_slurm.c - jobs on a Slurm cluster through its own commands.
 * Owns: finding sbatch/squeue/scancel/sacct, running them (fork/exec, no shell), the
 * validation of the job options before the first round (sbatch --test-only), job
 * submission with a time limit, following job states, cancelling, and resubmitting
 * jobs Slurm lost (NODE_FAIL, PREEMPTED, BOOT_FAIL).
 * Not: what the jobs run or what their results mean (bisect/oracle_slurm.c).
 * DESIGN: the commands, not libslurm: their options and output formats are Slurm's
 * stable interface across releases (libslurm's API and ABI change with every major
 * release and its headers are not in every cluster's images), a fork costs a few ms
 * against the ~1 s a batch job takes to start, and the coordinator then needs nothing
 * but the client commands and munge (see docs/architecture.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "executor_slurm.h"
#include "kbisect/util.h"

#define MAX_ARGS 64
#define MAX_RESUBMITS 3
#define POLL_MIN_S 0.25 /* a job's end is seen this soon while it is young */
#define POLL_MAX_S 2.0  /* and at most this late once it has run a while */

/* The ids of the jobs this process has submitted and not yet seen end, and the scancel
 * to give them to, for kb_slurm_abort_all() from a signal handler: lock-free atomics and
 * static storage only (no malloc, no stdio there). */
#define INFLIGHT_MAX 256
static _Atomic long inflight[INFLIGHT_MAX];
static char abort_scancel[4096];

static void inflight_add(long id)
{
	for (int i = 0; i < INFLIGHT_MAX; i++) {
		long free_slot = 0;
		if (atomic_compare_exchange_strong(&inflight[i], &free_slot, id))
			return;
	}
}

static void inflight_remove(long id)
{
	for (int i = 0; i < INFLIGHT_MAX; i++) {
		long was = id;
		if (id > 0 && atomic_compare_exchange_strong(&inflight[i], &was, 0))
			return;
	}
}

struct kb_slurm {
	char sbatch[4096], squeue[4096], scancel[4096], sacct[4096];
	char *partition;
	char *argbuf;              /* --slurm-args, split in place */
	char *args[MAX_ARGS];
	size_t n_args;
	unsigned submitted;
	unsigned squeue_calls;     /* squeue runs so far (the cost of following jobs) */
	double squeue_failing_since; /* 0: squeue answers */
	kb_slurm_opts o;
};

/* run argv; its stdout into out, its stderr into err (both NUL-terminated, cut);
 * the exit status (0..255), or -1 when it could not run */
static int run(char *const argv[], char *out, size_t outlen, char *err, size_t errlen)
{
	int po[2], pe[2], status = 0;
	size_t no = 0, ne = 0;
	pid_t pid;

	out[0] = err[0] = '\0';
	if (pipe(po) != 0)
		return -1;
	if (pipe(pe) != 0) {
		close(po[0]), close(po[1]);
		return -1;
	}
	/* Ctrl-C reaches the whole foreground process group: the command must not die of it
	 * half way (an sbatch killed after Slurm took the job loses its id), and the second
	 * Ctrl-C's handler must not run in the middle: SIGINT waits until the command is
	 * done (kb_slurm_submit() holds it a little longer, until the id is recorded) */
	sigset_t intr, old;
	sigemptyset(&intr);
	sigaddset(&intr, SIGINT);
	sigprocmask(SIG_BLOCK, &intr, &old);
	pid = fork();
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]), close(pe[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]), close(pe[1]);
	struct pollfd fds[2] = { { .fd = po[0], .events = POLLIN }, { .fd = pe[0], .events = POLLIN } };
	int open_fds = 2;
	while (open_fds) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			char buf[4096];
			ssize_t r;
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(fds[i].fd, buf, sizeof(buf));
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
				continue;
			}
			char *dst = i ? err : out;
			size_t *n = i ? &ne : &no, len = i ? errlen : outlen;
			size_t take = (size_t)r < len - 1 - *n ? (size_t)r : len - 1 - *n;
			memcpy(dst + *n, buf, take);
			*n += take;
			dst[*n] = '\0';
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (!WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* the last non-empty line of text, trimmed, into buf */
static const char *last_line(char *buf, size_t len, const char *text)
{
	const char *end = text + strlen(text), *start;

	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(buf, len, "%.*s", (int)(end - start), start);
	return buf;
}

/* split s in place on blanks, keeping '...' and "..." together */
static int split_args(kb_slurm *s, char *p)
{
	while (*p) {
		char q = 0, *w;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (s->n_args == MAX_ARGS - 16)
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "--slurm-args: more than "
					     "%d options", MAX_ARGS - 16);
		s->args[s->n_args++] = w = p;
		while (*p && (q || (*p != ' ' && *p != '\t'))) {
			if (!q && (*p == '\'' || *p == '"'))
				q = *p++;
			else if (q && *p == q)
				q = 0, p++;
			else
				*w++ = *p++;
		}
		if (q)
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "--slurm-args: unclosed "
					     "quote in '%s'", s->o.args);
		if (*p)
			p++;
		*w = '\0';
	}
	return 0;
}

static void slog(kb_slurm *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(kb_slurm *s, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->o.log(s->o.log_ctx, line);
}

/* argv of sbatch for job j (name, time, partition, user options, then --wrap) */
static size_t sbatch_argv(kb_slurm *s, char **argv, char *bufs, size_t buflen, const char *name,
			  unsigned time_min, const char *wrap, int test_only)
{
	size_t n = 0;
	char *b = bufs;

	argv[n++] = s->sbatch;
	argv[n++] = "--parsable";
	if (test_only)
		argv[n++] = "--test-only";
	snprintf(b, buflen / 4, "--job-name=%s", name);
	argv[n++] = b, b += buflen / 4;
	snprintf(b, buflen / 4, "--time=%u", time_min ? time_min : 1);
	argv[n++] = b, b += buflen / 4;
	if (s->partition) {
		snprintf(b, buflen / 4, "--partition=%s", s->partition);
		argv[n++] = b, b += buflen / 4;
	}
	/* the job's output stays on its node (never read back: results travel through the
	 * cache server), under /tmp there */
	argv[n++] = "--output=/tmp/kbisect-slurm-%j.log";
	argv[n++] = "--requeue";
	for (size_t i = 0; i < s->n_args; i++)
		argv[n++] = s->args[i];
	snprintf(b, buflen / 4, "--wrap=%s", wrap);
	argv[n++] = b;
	argv[n] = NULL;
	return n;
}

int kb_slurm_open(kb_slurm **out, const kb_slurm_opts *opts)
{
	kb_slurm *s = calloc(1, sizeof(*s));
	char o[4096], e[4096], line[1024];
	char *argv[MAX_ARGS + 8], *bufs = NULL;
	int rc;

	*out = NULL;
	if (!s)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	s->o = *opts;
	if (kb_path_find(s->sbatch, sizeof(s->sbatch), "sbatch") != 0 ||
	    kb_path_find(s->squeue, sizeof(s->squeue), "squeue") != 0 ||
	    kb_path_find(s->scancel, sizeof(s->scancel), "scancel") != 0) {
		free(s);
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BISECT, "--executor slurm: sbatch, "
				     "squeue or scancel not found in $PATH; install Slurm's client "
				     "commands (Debian: slurm-client) and munge on this host, see "
				     "docs/scale-out.md");
	}
	if (kb_path_find(s->sacct, sizeof(s->sacct), "sacct") != 0)
		s->sacct[0] = '\0';
	if (!abort_scancel[0]) /* before any job: the handler only reads it */
		memcpy(abort_scancel, s->scancel, sizeof(abort_scancel));
	kb_error_clear();
	s->partition = opts->partition ? strdup(opts->partition) : NULL;
	s->argbuf = strdup(opts->args ? opts->args : "");
	bufs = malloc(4 * 8192);
	if (!s->argbuf || !bufs || (opts->partition && !s->partition)) {
		free(bufs);
		kb_slurm_free(s);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	if ((rc = split_args(s, s->argbuf)) != 0) {
		free(bufs);
		kb_slurm_free(s);
		return rc;
	}
	/* Slurm validates the job (auth, partition, limits, options) without queueing it */
	sbatch_argv(s, argv, bufs, 4 * 8192, "kbisect-check", 1, "true", 1);
	rc = run(argv, o, sizeof(o), e, sizeof(e));
	free(bufs);
	if (rc != 0) {
		const char *why = last_line(line, sizeof(line), e[0] ? e : o);
		const char *munge = strstr(e, "Munge encode failed");
		if (munge && !strstr(why, "Munge")) { /* the cause, before Slurm's summary */
			size_t l = strlen(line);
			snprintf(line + l, sizeof(line) - l, " (%.*s)", (int)strcspn(munge, "\n"),
				 munge);
		}
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "--executor slurm: Slurm rejects the "
			      "jobs of this bisection (sbatch --test-only%s%s%s%s: %s); check "
			      "--slurm-partition and --slurm-args against 'sinfo', and that munged "
			      "runs with the cluster's key (docs/scale-out.md)",
			      s->partition ? " --partition=" : "", s->partition ? s->partition : "",
			      s->n_args ? " " : "", opts->args && s->n_args ? opts->args : "",
			      rc < 0 ? "could not run sbatch" : why[0] ? why : "no message");
		kb_slurm_free(s);
		return KB_EINVAL;
	}
	*out = s;
	return 0;
}

int kb_slurm_submit(kb_slurm *s, kb_slurm_job *j)
{
	char o[4096], e[4096], line[1024];
	char *argv[MAX_ARGS + 8];
	size_t buflen = 4 * (strlen(j->script) + 8192);
	char *bufs = malloc(buflen);
	int rc;
	long id;

	if (!bufs)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory submitting %s", j->name);
	sbatch_argv(s, argv, bufs, buflen, j->name, j->time_min, j->script, 0);
	sigset_t intr, old; /* a second Ctrl-C now must find the new id in the registry */
	sigemptyset(&intr);
	sigaddset(&intr, SIGINT);
	sigprocmask(SIG_BLOCK, &intr, &old);
	rc = run(argv, o, sizeof(o), e, sizeof(e));
	id = rc == 0 ? strtol(o, NULL, 10) : 0;
	if (rc == 0 && id > 0)
		inflight_add(id);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(bufs);
	if (rc != 0 || id <= 0)
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_BISECT, "sbatch did not take job %s: %s; "
				     "check the cluster with 'sinfo' and 'squeue'", j->name,
				     rc < 0 ? "could not run sbatch" :
				     last_line(line, sizeof(line), e[0] ? e : o));
	if (!j->submitted_at)
		j->submitted_at = kb_now_s();
	j->id = id;
	j->queued_at = kb_now_s();
	j->phase = KB_SLURM_QUEUED;
	j->state[0] = '\0';
	j->exit_code = -1;
	s->submitted++;
	return 0;
}

int kb_slurm_state_lost(const char *state)
{
	return !strcmp(state, "NODE_FAIL") || !strcmp(state, "PREEMPTED") ||
	       !strcmp(state, "BOOT_FAIL");
}

static int state_final(const char *st)
{
	static const char *const fin[] = { "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
					   "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "OUT_OF_MEMORY",
					   "DEADLINE", NULL };
	for (size_t i = 0; fin[i]; i++)
		if (!strncmp(st, fin[i], strlen(fin[i])))
			return 1;
	return 0;
}

/* a job seen in state st (exit code ec or -1): ended, lost and resubmitted, or queued */
static void job_seen(kb_slurm *s, kb_slurm_job *j, const char *st, int ec)
{
	if (!state_final(st))
		return;
	inflight_remove(j->id);
	snprintf(j->state, sizeof(j->state), "%s", st);
	char *sp = strchr(j->state, ' '); /* "CANCELLED by 0" */
	if (sp)
		*sp = '\0';
	j->exit_code = ec;
	if (kb_slurm_state_lost(j->state) && !j->cancelled) {
		j->lost++;
		if (j->resubmits < MAX_RESUBMITS) {
			long old = j->id;
			j->resubmits++;
			if (kb_slurm_submit(s, j) == 0) {
				slog(s, "slurm: job %ld (%s) was lost (%s): infra, not evidence; "
				     "resubmitted as job %ld", old, j->name, st, j->id);
				return;
			}
			slog(s, "slurm: job %ld (%s) was lost (%s) and cannot be resubmitted: %s",
			     old, j->name, st, kb_error_last()->message);
			kb_error_clear();
		}
	}
	j->phase = KB_SLURM_DONE;
	j->ended_at = kb_now_s();
}

/* the jobs' ids as "1,2,3" (queued ones only); 0 when none is queued */
static size_t id_list(char *buf, size_t len, kb_slurm_job *const *jobs, size_t n)
{
	size_t k = 0, used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (jobs[i]->phase != KB_SLURM_QUEUED || used + 24 >= len)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%ld", k ? "," : "", jobs[i]->id);
		k++;
	}
	return k;
}

/* jobs squeue no longer knows: their end from sacct (accounting or job completion
 * log), else UNKNOWN (the oracle then goes by what reached the cache) */
static void ask_sacct(kb_slurm *s, kb_slurm_job *j)
{
	char o[8192], e[2048], idb[32], line[256];
	int rc = -1;

	snprintf(idb, sizeof(idb), "%ld", j->id);
	if (s->sacct[0]) {
		char *argv[] = { s->sacct, "-n", "-X", "-P", "-o", "State,ExitCode", "-j", idb, NULL };
		rc = run(argv, o, sizeof(o), e, sizeof(e));
		if (rc != 0 || !o[0]) {
			char *argv2[] = { s->sacct, "-c", "-n", "-P", "-o", "JobID,State", "-j", idb,
					  NULL };
			rc = run(argv2, o, sizeof(o), e, sizeof(e));
		}
	}
	if (rc == 0 && o[0]) {
		char st[64] = "";
		int ec = -1;
		last_line(line, sizeof(line), o);
		if (strchr(line, '|')) {
			char *bar = strchr(line, '|');
			*bar = '\0';
			/* State|ExitCode or JobID|State */
			if (!strcmp(line, idb))
				snprintf(st, sizeof(st), "%.63s", bar + 1);
			else
				snprintf(st, sizeof(st), "%.63s", line), ec = atoi(bar + 1);
		}
		if (state_final(st)) {
			job_seen(s, j, st, ec);
			return;
		}
	}
	job_seen(s, j, "COMPLETED", -1); /* gone from the queue: ended */
	snprintf(j->state, sizeof(j->state), "UNKNOWN");
}

int kb_slurm_poll(kb_slurm *s, kb_slurm_job *const *jobs, size_t n)
{
	size_t cap = 32 * n + 64;
	char *ids = malloc(cap), *o = malloc(65536), e[2048], line[512];
	char *seen = calloc(n ? n : 1, 1);
	int rc;

	if (!ids || !o || !seen) {
		free(ids), free(o), free(seen);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	if (!id_list(ids, cap, jobs, n)) {
		free(ids), free(o), free(seen);
		return 0;
	}
	long *asked = calloc(n, sizeof(*asked)); /* the ids this squeue is asked about */
	if (!asked) {
		free(ids), free(o), free(seen);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		asked[i] = jobs[i]->phase == KB_SLURM_QUEUED ? jobs[i]->id : 0;
	{
		char *argv[] = { s->squeue, "-h", "--states=all", "-o", "%i|%T|%r", "-j", ids, NULL };
		rc = run(argv, o, 65536, e, sizeof(e));
		s->squeue_calls++;
	}
	if (rc != 0) {
		/* squeue fails for ids it has forgotten, and while slurmctld restarts */
		if (strstr(e, "Invalid job id")) {
			for (size_t i = 0; i < n; i++)
				if (jobs[i]->phase == KB_SLURM_QUEUED && jobs[i]->id == asked[i]) {
					char one[32];
					snprintf(one, sizeof(one), "%ld", jobs[i]->id);
					char *argv[] = { s->squeue, "-h", "--states=all", "-o", "%i|%T|%r",
							 "-j", one, NULL };
					if (run(argv, o, 65536, e, sizeof(e)) == 0 && o[0]) {
						char *bar = strchr(o, '|');
						char st[64];
						snprintf(st, sizeof(st), "%.63s", bar ? bar + 1 : "");
						if (strchr(st, '|'))
							*strchr(st, '|') = '\0';
						job_seen(s, jobs[i], st, -1);
					} else {
						ask_sacct(s, jobs[i]);
					}
				}
			free(ids), free(o), free(seen), free(asked);
			return 0;
		}
		if (!s->squeue_failing_since)
			s->squeue_failing_since = kb_now_s();
		if (kb_now_s() - s->squeue_failing_since > 60) {
			kb_error_setc(KB_ERROR, KB_ERRCLASS_BISECT, "squeue has failed for a minute: %s;"
				      " check slurmctld ('scontrol ping')",
				      last_line(line, sizeof(line), e[0] ? e : o));
			free(ids), free(o), free(seen), free(asked);
			return KB_ERROR;
		}
		free(ids), free(o), free(seen), free(asked);
		return 0;
	}
	s->squeue_failing_since = 0;
	for (char *p = o, *nl; *p; p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		long id = strtol(p, NULL, 10);
		char *bar = strchr(p, '|');
		if (!bar)
			continue;
		char st[64];
		snprintf(st, sizeof(st), "%.63s", bar + 1);
		if (strchr(st, '|'))
			*strchr(st, '|') = '\0';
		for (size_t i = 0; i < n; i++)
			if (jobs[i]->phase == KB_SLURM_QUEUED && asked[i] == id && !seen[i]) {
				seen[i] = 1;
				job_seen(s, jobs[i], st, -1);
			}
		if (!nl)
			break;
	}
	for (size_t i = 0; i < n; i++) /* asked for, not listed: purged from slurmctld */
		if (jobs[i]->phase == KB_SLURM_QUEUED && !seen[i] && jobs[i]->id == asked[i])
			ask_sacct(s, jobs[i]);
	free(ids), free(o), free(seen), free(asked);
	return 0;
}

double kb_slurm_poll_interval(double age_s)
{
	double t = age_s / 20;
	return t < POLL_MIN_S ? POLL_MIN_S : t > POLL_MAX_S ? POLL_MAX_S : t;
}

int kb_slurm_wait(kb_slurm *s, kb_slurm_job *const *jobs, size_t n,
		  int (*stop)(void *ctx), void *ctx)
{
	for (;;) {
		size_t left = 0;
		double youngest = 0; /* the latest submission among the jobs still queued */
		int rc = kb_slurm_poll(s, jobs, n);
		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++)
			if (jobs[i]->phase == KB_SLURM_QUEUED) {
				left++;
				if (jobs[i]->queued_at > youngest)
					youngest = jobs[i]->queued_at;
			}
		if (!left || (stop && stop(ctx)))
			return 0;
		/* one squeue for all the jobs each time, less often as they get older: a job
		 * of a few seconds is seen ending within 0.25 s, a longer one within 5% of its
		 * run time, a build of minutes within 2 s; a long round costs few squeue calls */
		double dt = kb_slurm_poll_interval(kb_now_s() - youngest);
		struct timespec ts = { (time_t)dt, (long)((dt - (double)(time_t)dt) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

void kb_slurm_cancel(kb_slurm *s, kb_slurm_job *j)
{
	char o[1024], e[1024], idb[32];

	if (j->phase != KB_SLURM_QUEUED)
		return;
	snprintf(idb, sizeof(idb), "%ld", j->id);
	char *argv[] = { s->scancel, idb, NULL };
	if (run(argv, o, sizeof(o), e, sizeof(e)) != 0)
		slog(s, "slurm: scancel %s failed: %s", idb, e);
	inflight_remove(j->id);
	j->cancelled = 1;
	j->phase = KB_SLURM_DONE;
	j->ended_at = kb_now_s();
	snprintf(j->state, sizeof(j->state), "CANCELLED");
}

unsigned kb_slurm_submitted(const kb_slurm *s)
{
	return s ? s->submitted : 0;
}

unsigned kb_slurm_squeue_calls(const kb_slurm *s)
{
	return s ? s->squeue_calls : 0;
}

/* n as decimal into buf (async-signal-safe); the length */
static size_t fmt_long(char *buf, long n)
{
	char t[24];
	size_t k = 0, len = 0;

	do
		t[k++] = (char)('0' + n % 10);
	while ((n /= 10) > 0 && k < sizeof(t));
	while (k)
		buf[len++] = t[--k];
	buf[len] = '\0';
	return len;
}

int kb_slurm_abort_all(void)
{
	static char ids[INFLIGHT_MAX][24];
	static char *argv[INFLIGHT_MAX + 3];
	static char quiet[] = "--quiet";
	int n = 0, status;
	pid_t pid;

	if (!abort_scancel[0])
		return 0;
	argv[0] = abort_scancel;
	argv[1] = quiet;
	for (int i = 0; i < INFLIGHT_MAX; i++) {
		long id = atomic_exchange(&inflight[i], 0);
		if (id > 0) {
			fmt_long(ids[n], id);
			argv[2 + n] = ids[n];
			n++;
		}
	}
	if (!n)
		return 0;
	argv[2 + n] = NULL;
	pid = fork();
	if (pid == 0) {
		execv(abort_scancel, argv);
		_exit(127);
	}
	/* scancel answers in milliseconds; a slurmctld that does not is not waited for
	 * past 3 s (scancel goes on, reparented, and the jobs end by their time limit) */
	for (int i = 0; pid > 0 && i < 150; i++) {
		if (waitpid(pid, &status, WNOHANG) != 0)
			break;
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return n;
}

void kb_slurm_free(kb_slurm *s)
{
	if (!s)
		return;
	free(s->partition);
	free(s->argbuf);
	free(s);
}
