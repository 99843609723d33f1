/*
 * bisect/oracle.c - the real oracle: the engine's callbacks answered with the builder
 * and the VM pool.
 * Owns: opening and closing the oracle (builders per worker tree, pool), the range
 * (DAG + model), the engine wired to it, the builder's predictions (cost, expected
 * build time, signature of a kernel at hand), a round's builds and speculative builds
 * (bisect/builds.c threads), pre-booting kernels at hand.
 * Not: running the tests (oracle_test.c), the journal (journal.c), the release walk
 * (releases.c), the choice of commits (bisect/engine.c).
 * DESIGN: a builder per worker tree, opened when that tree is first used; the round's
 * builds use trees 0..k-1, speculative builds the trees after the highest in use, all
 * on threads of this process sharing the one kb_cache handle. Predictions are
 * remembered per node: a kernel at hand stays at hand, "needs a build" holds until the
 * next build lands.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error_internal.h"
#include "oracle_internal.h"

void kb_oracle__log(kb_oracle *o, const char *fmt, ...)
{
	char line[4400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->a.log(o->a.log_ctx, line);
}

/* the builder of worker tree w, opened on first use; NULL with the error set */
static kb_builder *builder_for(kb_oracle *o, unsigned w)
{
	const kb_oracle_opts *a = &o->a;

	if (w >= ORACLE_MAX_BUILDERS) {
		kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "worker %u is past the last worker "
			      "tree (%d)", w, ORACLE_MAX_BUILDERS - 1);
		return NULL;
	}
	while (o->n_builders <= w) {
		kb_build_opts bo = { .config_path = a->config, .work_dir = a->work_dir,
				     .worker = (int)o->n_builders, .jobs = (int)a->jobs,
				     .ccache = a->ccache, .ccache_remote = a->ccache_remote,
				     .build_cmd = a->build_cmd, .retry_failed = a->retry_failed,
				     .image_path = a->image, .quiet = 1 };
		if (kb_builder_open(&o->builders[o->n_builders], a->repo, o->cache, &bo) != 0)
			return NULL;
		o->n_builders++;
	}
	return o->builders[w];
}

/* The builder's prediction for node, remembered: a kernel at hand stays at hand, and
 * "needs a build" holds until the next build lands (o->gen). 0 or -1 (no prediction). */
static int predicted(kb_oracle *o, size_t node, struct prediction **out)
{
	struct prediction *p = &o->pred[node];
	kb_build_result res;

	if (p->valid && (p->res.how != KB_BUILD_NEEDS_BUILD || p->gen == o->gen)) {
		*out = p;
		return 0;
	}
	if (kb_builder_predict(&res, o->builders[0], kb_gitdag_id(o->dag, node)) != 0) {
		kb_error_clear();
		return -1;
	}
	p->valid = 1;
	p->gen = o->gen;
	p->res = res;
	*out = p;
	return 0;
}

/* expected seconds of building node now: incremental builds differ a lot (a header
 * most files include against one driver file), and the engine weighs that */
static double real_build_seconds(void *ctx, size_t node)
{
	kb_oracle *o = ctx;
	struct prediction *p;

	if (predicted(o, node, &p) != 0 || p->res.how != KB_BUILD_NEEDS_BUILD ||
	    p->res.est_seconds <= 0)
		return -1;
	return p->res.est_seconds;
}

static int real_cost(void *ctx, size_t node, int *kind)
{
	kb_oracle *o = ctx;
	struct prediction *p;

	*kind = KB_COST_BUILD;
	if (predicted(o, node, &p) == 0 && p->res.how != KB_BUILD_NEEDS_BUILD)
		*kind = KB_COST_TEST;
	return 0;
}

/* the signature of a kernel at hand (cache hit, dependency skip) before testing it */
static int real_signature(void *ctx, size_t node, kb_key *out)
{
	kb_oracle *o = ctx;
	struct prediction *p;

	if (predicted(o, node, &p) != 0 || p->res.how == KB_BUILD_NEEDS_BUILD || !p->res.ok ||
	    !p->res.has_signature)
		return 0;
	*out = p->res.signature;
	return 1;
}

/* kernel at hand: boot it and store the reproducer in its template now, so its runs
 * start from clones at once if the next round tests it */
static void preboot(kb_oracle *o, size_t node, const kb_build_result *b)
{
	char path[4200];

	if (!o->pool || !b->ok || o->popts.cold || kb_oracle__kernel_file(o, b, path, sizeof(path)) != 0) {
		kb_error_clear();
		return;
	}
	kb_pool_kernel k = { .kernel = path, .cmdline = o->a.cmdline,
			     .signature = b->has_signature ? &b->signature : NULL };
	if (kb_pool_prepare(o->pool, &k, o->a.repro, 0) == 0) {
		kb_oracle__log(o, "pre-booting the kernel of %s", kb_gitdag_id(o->dag, node));
		o->preboots++;
	}
	kb_error_clear();
}

/* The engine's guesses at the next round: remembered here, started by real_execute()
 * once the round's own builds are done, so that they build while its tests run. */
static int real_prefetch(void *ctx, const size_t *nodes, size_t n, unsigned *n_built)
{
	kb_oracle *o = ctx;

	*n_built = 0;
	o->n_pre = 0;
	for (size_t i = 0; i < n; i++) {
		struct prediction *pp;
		if (predicted(o, nodes[i], &pp) != 0)
			continue;
		if (pp->res.how == KB_BUILD_NEEDS_BUILD) { /* build it meanwhile, if allowed */
			if (o->n_pre < o->a.prebuild && o->n_pre < ORACLE_MAX_PRE) {
				kb_oracle__log(o, "building %s meanwhile",
					       kb_gitdag_id(o->dag, nodes[i]));
				o->pre[o->n_pre++] = nodes[i];
				o->prebuilt[nodes[i]] = 1;
				(*n_built)++;
			}
			continue;
		}
		preboot(o, nodes[i], &pp->res);
	}
	return 0;
}

/* start the speculative builds (on work trees of their own, after the round's) */
static void prefetch_start(kb_oracle *o, unsigned first_worker)
{
	size_t n = 0;

	for (size_t i = 0; i < o->n_pre; i++) {
		kb_build_job *j = &o->pre_jobs[n];
		memset(j, 0, sizeof(*j));
		j->rev = kb_gitdag_id(o->dag, o->pre[i]);
		j->log = o->a.log, j->log_ctx = o->a.log_ctx, j->what = " (speculative)";
		j->builder = builder_for(o, first_worker + (unsigned)i);
		if (!j->builder) {
			kb_error_clear();
			kb_oracle__log(o, "cannot start a speculative build; going on without it");
			continue;
		}
		n++;
	}
	if (n && kb_build_batch_start(&o->pre_batch, o->pre_jobs, n) != 0) {
		kb_error_clear();
		kb_oracle__log(o, "cannot start a speculative build; going on without it");
	}
}

/* wait for the speculative builds: their results are in the cache for the next round */
static void prefetch_wait(kb_oracle *o)
{
	kb_build_batch_wait(o->pre_batch);
	o->pre_batch = NULL;
	if (o->n_pre)
		o->gen++;
	o->n_pre = 0;
}

/* 1 when the kernel of node was reused (dependency skip) from the build of one of its
 * parents' trees: the commit touches no input of the build, only files outside it */
static int outside_build_inputs(kb_oracle *o, size_t node, const kb_build_result *b)
{
	if (b->how != KB_BUILD_DEPENDENCY_SKIP || !b->reused_from[0] || !o->m)
		return 0;
	for (size_t i = 0; i < kb_model_n_parents(o->m, node); i++) {
		struct prediction *pp;
		size_t p = kb_model_parent(o->m, node, i);
		if (predicted(o, p, &pp) != 0)
			continue;
		if (!strcmp(pp->res.tree, b->reused_from))
			return 1;
	}
	return 0;
}

int kb_oracle__outside_build(kb_oracle *o, size_t node, const kb_build_result *b)
{
	return outside_build_inputs(o, node, b);
}

/* the round's builds, all at once: jobs[i] on the tree of rq[i].worker (a tree asked
 * twice in one round gets a fresh one); *next_tree: the first tree not used */
static int build_round(kb_oracle *o, const kb_engine_request *rq, size_t n, kb_build_job *jobs,
		       unsigned *next_tree)
{
	unsigned top = o->k;

	for (size_t i = 0; i < n; i++)
		if (rq[i].worker + 1 > top)
			top = rq[i].worker + 1;
	for (size_t i = 0; i < n; i++) {
		unsigned w = rq[i].worker;
		for (size_t p = 0; p < i; p++)
			if (rq[p].worker == w) {
				w = top++;
				break;
			}
		jobs[i].rev = kb_gitdag_id(o->dag, rq[i].node);
		jobs[i].log = o->a.log, jobs[i].log_ctx = o->a.log_ctx;
		jobs[i].builder = builder_for(o, w);
		if (!jobs[i].builder)
			return kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
	}
	*next_tree = top;
	return kb_build_jobs_run(jobs, n);
}

/* what a round's build tells the engine; 1 when the kernel is there to test */
static int build_outcome(kb_oracle *o, const kb_engine_request *rq, const kb_build_job *j,
			 kb_engine_outcome *oc)
{
	oc->build_start = j->start - o->t0;
	oc->build_end = j->end - o->t0;
	oc->how = j->res.how == KB_BUILD_BUILT ? KB_COST_BUILD : KB_COST_TEST;
	if (j->res.how != KB_BUILD_BUILT)
		oc->build_end = oc->build_start;
	if (!j->res.ok) {
		oc->buildable = 0;
		oc->test_start = oc->test_end = oc->build_end;
		o->a.log(o->a.log_ctx, j->res.reason[0] ? j->res.reason : "build failed");
		return 0;
	}
	if (j->res.how == KB_BUILD_CACHE_HIT && o->prebuilt[rq->node]) {
		oc->prebuilt = 1; /* the speculative build of an earlier round */
		o->prebuilt[rq->node] = 0;
	}
	oc->buildable = 1;
	oc->same_as_parent = outside_build_inputs(o, rq->node, &j->res);
	oc->has_signature = j->res.has_signature;
	oc->signature = j->res.signature;
	return 1;
}

/* A build that failed because of the host (a missing tool, out of memory, killed, disk
 * full, ccache, timeout): infra, not evidence that the commit does not build. The
 * engine gets one infra run (censored) and no verdict; nothing was recorded, so the
 * next test of the commit builds again. 0, or the build's error once
 * ORACLE_MAX_HOST_FAILS builds in a row failed so (the host needs fixing). */
static int host_build_failure(kb_oracle *o, const kb_build_job *j, kb_engine_outcome *oc)
{
	if (++o->host_fails >= ORACLE_MAX_HOST_FAILS)
		return kb_build_job_raise(j);
	kb_oracle__log(o, "build of %s failed because of the host (infra, not recorded, "
		       "will be tried again): %s", j->rev, j->res.reason);
	oc->build_start = j->start - o->t0;
	oc->build_end = oc->test_start = oc->test_end = j->end - o->t0;
	oc->how = KB_COST_BUILD;
	oc->buildable = 1;
	oc->n_runs = 1;
	oc->runs[0].klass = KB_RUN_INFRA;
	snprintf(oc->runs[0].title, sizeof(oc->runs[0].title), "build failed on the host: %s",
		 j->res.reason);
	return 0;
}

static int real_execute(void *ctx, const kb_engine_request *rq, size_t n, kb_engine_outcome *out)
{
	kb_oracle *o = ctx;
	kb_build_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	unsigned next_tree = o->k;
	int rc;

	if (!jobs)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	kb_oracle__evidence_clock(o);
	if (o->slurm) { /* --executor slurm: the round is jobs on the cluster */
		free(jobs);
		rc = kb_oracle__slurm_execute(o, rq, n, out);
		if (!rc) /* the HTML timeline and the journal, as for local rounds */
			kb_oracle__evidence_times(o, rq, n, out);
		return rc;
	}
	rc = build_round(o, rq, n, jobs, &next_tree);
	if (rc) {
		free(jobs);
		return rc;
	}
	o->gen++; /* this round's builds landed: "needs a build" predictions expire */
	prefetch_start(o, next_tree);
	for (size_t i = 0; i < n && !rc; i++) {
		if (jobs[i].rc && jobs[i].res.infra) {
			rc = host_build_failure(o, &jobs[i], &out[i]);
			continue;
		}
		if (!jobs[i].rc)
			o->host_fails = 0;
		if (jobs[i].rc) {
			rc = kb_build_job_raise(&jobs[i]);
			break;
		}
		if (build_outcome(o, &rq[i], &jobs[i], &out[i]))
			rc = kb_oracle__test_kernel(o, &jobs[i].res, rq[i].runs, &out[i]);
	}
	if (!rc)
		kb_oracle__evidence_times(o, rq, n, out);
	prefetch_wait(o);
	free(jobs);
	return rc;
}

/* ---- opening, the range, the engine ---- */

int kb_oracle_open(kb_oracle **out, kb_cache *cache, kb_remote *remote,
		   const kb_oracle_opts *opts)
{
	kb_oracle *o = calloc(1, sizeof(*o));

	*out = NULL;
	if (!o)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	o->a = *opts;
	o->cache = cache;
	o->remote = remote;
	o->t0 = kb_now_s();
	o->k = opts->workers ? opts->workers : 1;
	if (kb_sha256_file(&o->repro_key, opts->repro) != 0) {
		char why[1024];
		snprintf(why, sizeof(why), "%s", kb_error_last()->message);
		free(o);
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BISECT, "cannot read reproducer: "
				     "%s; give an existing file with --repro", why);
	}
	snprintf(o->kdir, sizeof(o->kdir), "%s/kernels", opts->cache_dir);
	mkdir(o->kdir, 0755);
	for (unsigned i = 0; i < o->k; i++)
		if (!builder_for(o, i))
			goto fail;
	if (opts->executor && !strcmp(opts->executor, "slurm")) { /* no VMs on this host */
		if (kb_oracle__slurm_open(o) != 0)
			goto fail;
		*out = o;
		return 0;
	}
	o->popts.vms = opts->vms;
	o->popts.boot_timeout_s = opts->boot_timeout;
	o->popts.cold = opts->cold;
	o->popts.accel = opts->accel;
	o->popts.cache = cache;
	if (kb_pool_open(&o->pool, &o->popts) != 0)
		goto fail;
	*out = o;
	return 0;
fail:;
	int rc = kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
	kb_oracle_free(o);
	return rc;
}

int kb_oracle_range(kb_oracle *o, const char *const *goods, size_t n_goods)
{
	size_t n;

	if (kb_gitdag_open(&o->dag, o->a.repo, o->a.bad, goods, n_goods) != 0 ||
	    kb_gitdag_model(&o->m, o->dag, NULL) != 0)
		return kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
	n = kb_gitdag_size(o->dag);
	kb_oracle__log(o, "bisecting %zu commits between good and %s", n,
		       kb_gitdag_id(o->dag, n - 1));
	o->prebuilt = calloc(n, 1);
	o->pred = calloc(n, sizeof(*o->pred));
	if (!o->prebuilt || !o->pred)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	return 0;
}

int kb_oracle_engine(kb_engine **out, kb_oracle *o, kb_engine_opts *eo)
{
	kb_engine_oracle eor = { 0 };
	int rc;

	*out = NULL;
	if (!o->dag)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "kb_oracle_engine: no range (call kb_oracle_range first)");
	eor.ctx = o;
	eor.cost = real_cost;
	eor.build_seconds = real_build_seconds;
	eor.execute = real_execute;
	eor.prefetch = real_prefetch;
	eor.signature = real_signature;
	eor.replay = kb_oracle__journal_replay;
	eor.record = kb_oracle__journal_record;
	kb_oracle__journal_path(o, eo);
	kb_oracle__journal_load(o);
	if (json_array_size(o->replay))
		kb_oracle__log(o, "replaying %zu rounds of an identical earlier bisection (%s)",
			       json_array_size(o->replay), o->journal);
	eor.log = o->a.log;
	eor.log_ctx = o->a.log_ctx;
	eor.console = kb_oracle__console;
	if (!eo->fix) /* fix mode: bad is the crashing node (kb_oracle_fix_range()) */
		eo->bad = kb_gitdag_size(o->dag) - 1;
	if ((rc = kb_engine_new(out, o->m, &eor, eo)) != 0)
		return rc;
	for (size_t i = 0; i < kb_gitdag_size(o->dag); i++)
		kb_engine_set_node(*out, i, kb_gitdag_id(o->dag, i), kb_gitdag_is_merge(o->dag, i));
	return 0;
}

const kb_gitdag *kb_oracle_dag(const kb_oracle *o)
{
	return o->dag;
}

kb_model *kb_oracle_model(const kb_oracle *o)
{
	return o->m;
}

unsigned kb_oracle_preboots(const kb_oracle *o)
{
	return o->preboots;
}

void kb_oracle_free(kb_oracle *o)
{
	if (!o)
		return;
	kb_build_batch_wait(o->pre_batch);
	kb_oracle__slurm_free(o);
	kb_model_free(o->m);
	kb_gitdag_free(o->dag);
	kb_pool_free(o->pool);
	for (unsigned i = 0; i < o->n_builders; i++)
		kb_builder_free(o->builders[i]);
	free(o->cons);
	free(o->rec_times);
	free(o->prebuilt);
	free(o->pred);
	json_decref(o->replay);
	free(o);
}
