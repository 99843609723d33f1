/*
 * bisect/oracle_test.c - the real oracle's tests: runs of the reproducer on a built
 * kernel, from the cache's test records first, the rest in the VM pool.
 * Owns: the kernel file of a build (<cache>/kernels/<id>.bzImage), the test key of a
 * kernel + reproducer + command line, which cached runs this bisection has used, and
 * what of a pool run is stored as evidence (never a host failure); run consoles for
 * the report.
 * Not: builds (oracle.c), the pool itself (vmpool/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/error_internal.h"
#include "oracle_internal.h"

static size_t *consumed_of(kb_oracle *o, const kb_key *tk)
{
	for (size_t i = 0; i < o->n_cons; i++)
		if (kb_key_equal(&o->cons[i].test_key, tk))
			return &o->cons[i].used;
	if (o->n_cons == o->cap_cons) {
		size_t cap = o->cap_cons ? 2 * o->cap_cons : 16;
		struct consumed *p = realloc(o->cons, cap * sizeof(*p));
		if (!p)
			return NULL;
		o->cons = p, o->cap_cons = cap;
	}
	o->cons[o->n_cons].test_key = *tk;
	o->cons[o->n_cons].used = 0;
	return &o->cons[o->n_cons++].used;
}

int kb_oracle__kernel_file(kb_oracle *o, const kb_build_result *b, char *path, size_t len)
{
	const kb_key *img = kb_build_result_artifact(b, "bzImage");
	char hex[KB_KEY_HEXLEN + 1];
	struct stat st;

	if (!img)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BISECT, "build of %s has no bzImage "
				     "artifact; check --image", b->commit);
	kb_key_to_hex(hex, img);
	snprintf(path, len, "%s/%s.bzImage", o->kdir, hex);
	if (stat(path, &st) == 0)
		return 0;
	return kb_cache_get_file(o->cache, img, path); /* reads through the remote */
}

/* the cached runs of test key tk not used yet in this bisection, into oc (up to want) */
static int from_cache(kb_oracle *o, const kb_key *tk, unsigned want, kb_engine_outcome *oc,
		      size_t **used_out)
{
	kb_test_run *cached = NULL;
	size_t n_cached = 0, *used;
	unsigned taken = 0;

	if (kb_cache_test_list(&cached, &n_cached, o->cache, tk) != 0) {
		kb_error_clear();
		n_cached = 0;
	}
	used = consumed_of(o, tk);
	if (!used) {
		free(cached);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	while (*used < n_cached && oc->n_runs < want) {
		kb_repro_run *run = &oc->runs[oc->n_runs++];
		run->klass = cached[*used].klass;
		snprintf(run->title, sizeof(run->title), "%.159s", cached[*used].title);
		run->has_console = cached[*used].has_console;
		run->console = cached[*used].console;
		(*used)++, taken++;
	}
	free(cached);
	oc->how = taken == want && oc->how != KB_COST_BUILD ? KB_COST_FREE : oc->how;
	*used_out = used;
	return 0;
}

/* n runs in the pool on the kernel at path; stored in the cache as they are evidence */
static int in_pool(kb_oracle *o, const kb_build_result *b, const char *path, const kb_key *tk,
		   unsigned n, size_t *used, kb_engine_outcome *oc)
{
	kb_pool_kernel k = { .kernel = path, .cmdline = o->a.cmdline,
			     .signature = b->has_signature ? &b->signature : NULL };
	kb_pool_result *res = NULL;
	int rc = kb_pool_run_n(&res, o->pool, &k, o->a.repro, n, o->a.run_timeout);

	if (rc)
		return rc;
	for (unsigned i = 0; i < n; i++) {
		kb_test_run tr = { .klass = res[i].klass, .duration_s = res[i].duration_s,
				   .has_console = res[i].has_console, .console = res[i].console,
				   .time = (int64_t)time(NULL) };
		kb_repro_run *run = &oc->runs[oc->n_runs++];
		snprintf(tr.title, sizeof(tr.title), "%s", res[i].title);
		run->klass = res[i].klass;
		snprintf(run->title, sizeof(run->title), "%.159s", res[i].title);
		run->has_console = res[i].has_console;
		run->console = res[i].console;
		/* an infra failure of the pool (VM, host) is not stored: a resumed bisection
		 * should run it again. The reproducer's own failures (SYZFAIL/SYZFATAL) are
		 * outcomes like any other: stored, so that a repeated bisection replays them
		 * instead of running again. */
		int pool_failure = res[i].klass == KB_RUN_INFRA &&
				   strncmp(res[i].title, "SYZFAIL", 7) != 0 &&
				   strncmp(res[i].title, "SYZFATAL", 8) != 0;
		if (!pool_failure && kb_cache_test_add(o->cache, tk, &tr) == 0)
			(*used)++;
		kb_error_clear();
	}
	kb_pool_results_free(res, n);
	/* clones on frozen randomness would make a flaky bug look always or never there:
	 * stop with the pool's reason rather than bisect on it (its error stays set) */
	if ((rc = kb_pool_health(o->pool)) != 0)
		return rc;
	return 0;
}

void kb_oracle__test_key(kb_oracle *o, const kb_build_result *b, kb_key *tk)
{
	kb_test_inputs ti = { 0 };

	ti.signature = &b->signature;
	ti.repro = &o->repro_key;
	ti.cmdline = o->a.cmdline ? o->a.cmdline : "";
	ti.vm_settings = "kbisect-bisect";
	kb_test_key_compute(tk, &ti);
}

int kb_oracle__runs_cached(kb_oracle *o, const kb_key *tk, unsigned want, kb_engine_outcome *oc)
{
	size_t *used = NULL;

	return from_cache(o, tk, want, oc, &used);
}

int kb_oracle__test_kernel(kb_oracle *o, const kb_build_result *b, unsigned want,
			   kb_engine_outcome *oc)
{
	const kb_key *img = kb_build_result_artifact(b, "bzImage");
	char path[4200];
	kb_key tk;
	size_t *used = NULL;
	int rc;

	if (!img)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BISECT, "build of %s has no bzImage "
				     "artifact; check --image", b->commit);
	if (o->slurm) /* --executor slurm: the runs are a job on the cluster */
		return kb_oracle__slurm_test(o, b, want, oc);
	kb_oracle__test_key(o, b, &tk);
	if ((rc = from_cache(o, &tk, want, oc, &used)) != 0)
		return rc;
	oc->test_start = oc->test_end = kb_now_s() - o->t0;
	if (oc->n_runs >= want)
		return 0;
	if ((rc = kb_oracle__kernel_file(o, b, path, sizeof(path))) != 0)
		return rc;
	kb_oracle__log(o, "test of %s started: %u runs in the pool", b->commit,
		       want - (unsigned)oc->n_runs);
	if ((rc = in_pool(o, b, path, &tk, want - (unsigned)oc->n_runs, used, oc)) != 0)
		return rc;
	oc->test_end = kb_now_s() - o->t0;
	kb_oracle__log(o, "test of %s done in %.0fs", b->commit, oc->test_end - oc->test_start);
	return 0;
}

int kb_oracle__console(void *ctx, const kb_key *id, const char *path)
{
	kb_oracle *o = ctx;

	return kb_cache_get_file(o->cache, id, path);
}
