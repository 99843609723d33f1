/*
 * bisect/builds.c - builds of a round in parallel, in this process: one thread per
 * job, each running kb_builder_build() with a builder of its own (its own worker tree
 * and git_repository), all sharing the caller's kb_cache (and kb_remote) handle.
 * Owns: the threads, the timing of each build, carrying a thread's error back.
 * Not: what to build (bisect/oracle.c), how (builder/).
 * DESIGN: one code path for one build and for many; results never go through text.
 * kb_cache is shared between threads (LMDB env opened MDB_NOTLS, map growth behind a
 * lock: the HTTP server serves many threads from one handle), and one env per file per
 * process is all LMDB allows, so the handle is not duplicated; kb_remote serialises
 * its transfers on a mutex; kb_error_last() is per thread, so a job copies its error
 * out before its thread ends.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "kbisect/oracle.h"
#include "oracle_internal.h"

struct kb_build_batch {
	kb_build_job *jobs;
	size_t n;
	pthread_t *tid;
	unsigned char *started;
};

/* "build of X started (work tree W)" (end 0), "build of X done in T: how" (end 1; a
 * recorded failure says so) */
static void job_log(const kb_build_job *j, int end)
{
	char line[600];
	const char *what = j->what ? j->what : "";
	double s = j->end - j->start;

	if (!j->log)
		return;
	if (!end)
		snprintf(line, sizeof(line), "build of %s%s started (work tree %s)", j->rev, what,
			 kb_builder_work_tree(j->builder));
	else if (j->rc)
		snprintf(line, sizeof(line), "build of %s%s stopped after %.0fs: error", j->rev,
			 what, s);
	else
		snprintf(line, sizeof(line), "build of %s%s done in %.0fs: %s", j->rev, what, s,
			 !j->res.ok && j->res.how == KB_BUILD_CACHED_FAILURE
				 ? "failed (recorded earlier; --retry-failed builds it again)"
			 : !j->res.ok ? "failed"
			 : j->res.how == KB_BUILD_BUILT ? "built"
			 : j->res.how == KB_BUILD_CACHE_HIT ? "cache hit"
			 : j->res.how == KB_BUILD_DEPENDENCY_SKIP ? "dependency skip (kernel reused)"
			 : "at hand");
	j->log(j->log_ctx, line);
}

static void *build_thread(void *arg)
{
	kb_build_job *j = arg;

	j->start = kb_now_s();
	job_log(j, 0);
	j->rc = kb_builder_build(&j->res, j->builder, j->rev);
	j->end = kb_now_s();
	if (j->rc) {
		const kb_error *e = kb_error_last();
		snprintf(j->err, sizeof(j->err), "%s", e->message);
		j->err_class = e->klass;
	}
	job_log(j, 1);
	return NULL;
}

int kb_build_batch_start(kb_build_batch **out, kb_build_job *jobs, size_t n)
{
	kb_build_batch *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (b) {
		b->tid = calloc(n ? n : 1, sizeof(*b->tid));
		b->started = calloc(n ? n : 1, 1);
	}
	if (!b || !b->tid || !b->started) {
		if (b)
			free(b->tid), free(b->started);
		free(b);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory starting %zu builds", n);
	}
	b->jobs = jobs;
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		int err;
		jobs[i].rc = 0;
		jobs[i].err[0] = '\0';
		err = pthread_create(&b->tid[i], NULL, build_thread, &jobs[i]);
		if (err) {
			jobs[i].rc = KB_ERROR;
			jobs[i].err_class = KB_ERRCLASS_OS;
			snprintf(jobs[i].err, sizeof(jobs[i].err), "cannot start a build of %s: %s",
				 jobs[i].rev, strerror(err));
			continue;
		}
		b->started[i] = 1;
	}
	*out = b;
	return 0;
}

void kb_build_batch_wait(kb_build_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		if (b->started[i])
			pthread_join(b->tid[i], NULL);
	free(b->tid);
	free(b->started);
	free(b);
}

int kb_build_jobs_run(kb_build_job *jobs, size_t n)
{
	kb_build_batch *b;
	int rc = kb_build_batch_start(&b, jobs, n);

	if (rc)
		return rc;
	kb_build_batch_wait(b);
	return 0;
}

int kb_build_job_raise(const kb_build_job *j)
{
	if (!j->rc)
		return 0;
	return kb_error_setc(j->rc, j->err_class, "%s", j->err);
}
