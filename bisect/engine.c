/*
 * bisect/engine.c - the bisection engine: calibration, rounds of tests, stopping rule,
 * the progress line. Its result and reports (text of a stop, JSON, HTML) are in
 * bisect/engine_report.c, its state in bisect/engine_internal.h.
 * Owns: classification of runs (target crash or not), the choice of tests, the record
 * of what was done (timeline, mass per round).
 * Not: the posterior (bisect/model.c), builds and VMs (the oracle's callbacks).
 * DESIGN: each round picks up to k nodes greedily by the entropy of the partition of
 * the culprit's posterior that their joint outcome induces (testing c splits the mass
 * into "culprit is an ancestor of c" or not), among a pool of nodes near the mass
 * quantiles. Two plans are compared per round: tests on kernels already at hand only,
 * or with builds; the one with more information per second of wall time wins.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error_internal.h"
#include "kbisect/engine.h"
#include "kbisect/report.h"
#include "model_internal.h"
#include "engine_internal.h"

#define POOL_TARGETS 48
#define PARENT_MISS 0.01 /* see clean_needed() */
#define MIN_GAIN_BITS 0.005 /* tests telling less than this are not worth running */
#define CALIB_ROUNDS 3 /* rounds on bad before giving up on the reproducer */
#define MISS_TARGET 0.005 /* adaptive runs: P(no target crash on a buggy kernel) */
#define PARENT_OF 0.05 /* see top_up_parents() */
#define TOPUP_MARGIN 1.25 /* see top_up_parents() */
#define FOCUS_MIN_Q 0.15 /* see focus_prefetch() */
#define MUST_EARLY 0.5 /* k > 1: settle the top commit's direct evidence from this mass on */
#define PARENT_TESTS 2 /* separately booted clean tests asked of a culprit's parent */
#define EXPLAINED_TAIL 0.01 /* see evidence_gap() */
#define FROZEN_MISS 0.003 /* see evidence_gap(); below the 1% of a 0.99 answer */
#define UNSETTLED_ROUNDS 8 /* rounds at >= confidence the stop rule may refuse before a set */
#define MAX_GAPS 16
#define CLARITY_FLOOR 0.02 /* see make_plan() */


static void elog(kb_engine *e, const char *fmt, ...) KB_PRINTF(2, 3);
static void elog(kb_engine *e, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!e->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->o.log(e->o.log_ctx ? e->o.log_ctx : e->o.ctx, buf);
}

static const char *nname(const kb_engine *e, size_t node)
{
	static __thread char buf[32];
	if (node == KB_MODEL_NONE)
		return "none";
	if (node < e->n && e->names[node])
		return e->names[node];
	snprintf(buf, sizeof(buf), "#%zu", node);
	return buf;
}

int kb_engine_new(kb_engine **out, kb_model *m, const kb_engine_oracle *oracle,
		  const kb_engine_opts *opts)
{
	kb_engine *e;
	kb_engine_opts o = { 0 };

	if (!out || !m || !oracle || !oracle->execute || !m->finalized)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "engine needs a finalized model and an oracle with execute()");
	*out = NULL;
	if (opts)
		o = *opts;
	if (!opts || (o.bad == 0 && m->n > 1 && !opts->bad))
		o.bad = m->n - 1;
	if (o.bad >= m->n)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "bad node %zu is not in the model of %zu nodes", o.bad, m->n);
	if (!o.workers)
		o.workers = 1;
	if (!o.runs_per_test)
		o.runs_per_test = 10;
	if (!o.calib_runs)
		o.calib_runs = 2 * o.runs_per_test;
	if (o.confidence == 0)
		o.confidence = 0.99;
	if (!o.max_rounds)
		o.max_rounds = 60;
	if (o.build_seconds == 0)
		o.build_seconds = 420;
	if (o.test_seconds == 0)
		o.test_seconds = 540;
	if (o.workers > 64 || o.runs_per_test > KB_ENGINE_MAX_RUNS ||
	    o.calib_runs > KB_ENGINE_MAX_RUNS || !(o.confidence > 0 && o.confidence < 1))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "bad engine options: need 1..64 workers, 1..%d runs per test "
				     "and a confidence in (0,1)", KB_ENGINE_MAX_RUNS);
	e = calloc(1, sizeof(*e));
	if (!e)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for the engine");
	e->m = m;
	e->o = *oracle;
	e->opt = o;
	e->n = m->n;
	e->names = calloc(e->n, sizeof(*e->names));
	e->is_merge = calloc(e->n, 1);
	e->rec = calloc(e->n, sizeof(*e->rec));
	e->buggy = calloc(e->n, sizeof(double));
	e->clar = calloc(e->n, sizeof(double));
	e->cellmass = calloc(2 * (e->n + 1) + 2, sizeof(double));
	e->in = calloc(2 * (e->n + 1) + 2, sizeof(double));
	e->cell = calloc(e->n + 1, sizeof(uint32_t));
	e->remap = calloc(2 * (e->n + 1) + 2, sizeof(uint32_t));
	e->gcount = calloc(e->n, sizeof(uint32_t));
	e->urow = calloc(m->words, sizeof(uint64_t));
	if (!e->clar || !e->gcount || !e->urow || !e->names || !e->is_merge || !e->rec || !e->buggy || !e->cellmass || !e->in ||
	    !e->cell || !e->remap) {
		kb_engine_free(e);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for the engine");
	}
	if (o.target_title && *o.target_title) {
		snprintf(e->titles[0], KB_ENGINE_TITLE_MAX, "%s", o.target_title);
		e->n_titles = 1;
	}
	*out = e;
	return 0;
}

void kb_engine_free(kb_engine *e)
{
	if (!e)
		return;
	if (e->names)
		for (size_t i = 0; i < e->n; i++)
			free(e->names[i]);
	free(e->names), free(e->is_merge), free(e->rec), free(e->buggy), free(e->clar);
	free(e->cellmass), free(e->in), free(e->cell), free(e->remap);
	free(e->gcount), free(e->urow);
	free(e->spans), free(e->rounds), free(e->set);
	free(e);
}

int kb_engine_set_node(kb_engine *e, size_t node, const char *name, int is_merge)
{
	if (!e || node >= e->n)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "engine node %zu out of range", node);
	if (name) {
		char *d = strdup(name);
		if (!d)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for a node name");
		free(e->names[node]);
		e->names[node] = d;
	}
	e->is_merge[node] = is_merge ? 1 : 0;
	return 0;
}

const char *kb_engine_node_name(const kb_engine *e, size_t node)
{
	return e ? nname(e, node) : "";
}

/* ---- evidence ---- */

static int is_target(const kb_engine *e, const kb_repro_run *r)
{
	if (r->klass != KB_RUN_CRASH)
		return 0;
	if (e->opt.any_crash)
		return 1;
	for (size_t i = 0; i < e->n_titles; i++) /* title or ALT title (syzkaller's rule) */
		if (kb_report_title_matches(e->titles[i], r->title))
			return 1;
	return 0;
}

static void add_title(kb_engine *e, const char *t)
{
	for (size_t i = 0; i < e->n_titles; i++)
		if (!strcmp(e->titles[i], t))
			return;
	if (e->n_titles < MAX_TITLES)
		snprintf(e->titles[e->n_titles++], KB_ENGINE_TITLE_MAX, "%s", t);
}

/* Crash titles of the target: the original title and every title seen on the bad
 * commit (an unrelated crash seen there only raises the learned eps a little). */
static void learn_titles(kb_engine *e, const kb_engine_outcome *oc)
{
	for (size_t i = 0; i < oc->n_runs; i++)
		if (oc->runs[i].klass == KB_RUN_CRASH)
			add_title(e, oc->runs[i].title);
}

static int push_span(kb_engine *e, const struct span *s)
{
	if (e->n_spans == e->cap_spans) {
		size_t cap = e->cap_spans ? e->cap_spans * 2 : 32;
		struct span *p = realloc(e->spans, cap * sizeof(*p));
		if (!p)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for the timeline");
		e->spans = p, e->cap_spans = cap;
	}
	e->spans[e->n_spans++] = *s;
	return 0;
}

/* Planning times: what the oracle's rounds took so far, else the options' guesses. */
static double plan_test_s(const kb_engine *e)
{
	return e->n_test ? e->sum_test / e->n_test : e->opt.test_seconds;
}

static double plan_build_s(const kb_engine *e)
{
	return e->n_build ? e->sum_build / e->n_build : e->opt.build_seconds;
}

/* weighed only with per-commit build costs (real runs: rounds of seconds, where
 * choosing is a visible share); in the simulator the gaps are waits for speculative
 * builds, not a cost of the next round */
static double plan_gap_s(const kb_engine *e)
{
	return e->o.build_seconds && e->n_gap ? e->sum_gap / e->n_gap : 0;
}

/* When the oracle started on an outcome: its build, or its test when nothing was built. */
static double outcome_start(const kb_engine_outcome *oc)
{
	return oc->build_start < oc->test_start ? oc->build_start : oc->test_start;
}

static void note_time(kb_engine *e, double a, double b)
{
	if (!e->have_t0 || a < e->t0)
		e->t0 = a, e->have_t0 = 1;
	if (b > e->tmax)
		e->tmax = b;
}

/* Note which commits have their parent's kernel (for the result's flags). The model
 * itself gives a culprit that identical kernels would disagree on a small prior; a
 * commit that touches no build input is declared to it, since its parent's signature
 * may be unknown. Checked for every tested commit, since the parent may be tested later. */
static void note_same_kernels(kb_engine *e)
{
	kb_key ks, ps;

	for (size_t c = 0; c < e->n; c++) {
		struct node_rec *nr = &e->rec[c];
		if (nr->built < 0 || nr->same_as_parent)
			continue; /* untested nodes count once their signature is known */
		if (kb_model_signature(e->m, c, &ks))
			for (size_t i = 0; i < kb_model_n_parents(e->m, c); i++)
				if (kb_model_signature(e->m, kb_model_parent(e->m, c, i), &ps) &&
				    kb_key_equal(&ps, &ks))
					nr->same_as_parent = 1;
	}
}

static int absorb(kb_engine *e, const kb_engine_request *rq, const kb_engine_outcome *oc)
{
	struct node_rec *nr = &e->rec[rq->node];
	struct span s = { .round = e->round, .worker = rq->worker, .node = rq->node,
			  .how = oc->how, .buildable = oc->buildable,
			  .build_start = oc->build_start, .build_end = oc->build_end,
			  .test_start = oc->test_start, .test_end = oc->test_end };
	unsigned t = 0, c = 0, x = 0;
	char hex[KB_KEY_HEXLEN + 1] = "unknown";

	note_time(e, outcome_start(oc), oc->test_end > oc->build_end ? oc->test_end : oc->build_end);
	if (oc->n_runs && oc->test_end > oc->test_start)
		e->sum_test += oc->test_end - oc->test_start, e->n_test++;
	if (oc->how == KB_COST_BUILD && oc->build_end > oc->build_start)
		e->sum_build += oc->build_end - oc->build_start, e->n_build++;
	if (oc->how == KB_COST_BUILD)
		e->builds++;
	else if (nr->built == 0 && oc->prebuilt) {
		e->prefetch_used++; /* built meanwhile: neither a build now nor one avoided */
	} else if (nr->built == 0) {
		e->builds_avoided++;
		e->saved += plan_build_s(e);
	}
	if (oc->has_signature)
		kb_key_to_hex(hex, &oc->signature);
	elog(e, "testing commit %s", nname(e, rq->node));
	if (!oc->buildable) {
		nr->built = -1;
		kb_model_set_untestable(e->m, rq->node, 1);
		elog(e, "commit %s failed to build: untestable", nname(e, rq->node));
		return push_span(e, &s);
	}
	nr->built = 1;
	if (oc->has_signature) {
		elog(e, "kernel signature: %s", hex);
		int rc = kb_model_set_signature(e->m, rq->node, &oc->signature);
		if (rc)
			return rc;
	}
	if (oc->same_as_parent) {
		nr->same_as_parent = 2;
		kb_model_set_inert(e->m, rq->node);
	}
	note_same_kernels(e);
	nr->tests++;
	e->tests++;
	for (size_t i = 0; i < oc->n_runs && i < KB_ENGINE_MAX_RUNS; i++) {
		const kb_repro_run *r = &oc->runs[i];
		e->runs++;
		if (is_target(e, r)) {
			t++, nr->target++;
			elog(e, "run #%zu: crashed: %s", i, r->title);
		} else if (r->klass == KB_RUN_OK) {
			c++, nr->clean++;
			elog(e, "run #%zu: OK", i);
		} else {
			x++;
			if (r->klass == KB_RUN_CRASH) {
				nr->other++;
				elog(e, "run #%zu: crashed: %s (other crash, ignored)", i, r->title);
			} else if (r->klass == KB_RUN_BOOT_FAILURE) {
				nr->boot++;
				elog(e, "run #%zu: boot failure (ignored)", i);
			} else {
				nr->infra++;
				elog(e, "run #%zu: infra error: %s (ignored)", i, r->title);
			}
		}
	}
	if (oc->n_runs < rq->runs)
		elog(e, "%u runs of %u lost", rq->runs - (unsigned)oc->n_runs, rq->runs);
	/* a kernel that never boots cannot be tested: like a failed build */
	if (oc->n_runs > 0 && nr->boot == nr->target + nr->clean + nr->other + nr->infra + nr->boot &&
	    t + c == 0) {
		nr->built = -1;
		kb_model_set_untestable(e->m, rq->node, 1);
		elog(e, "commit %s: kernel does not boot: untestable", nname(e, rq->node));
	}
	e->runs_asked += rq->runs, e->runs_told += t + c;
	s.target = t, s.clean = c, s.other = x;
	int rc = kb_model_add_runs(e->m, rq->node, t, c, x);
	return rc ? rc : push_span(e, &s);
}

/* ---- choice of tests ---- */

static double xlogx(double x)
{
	return x > 1e-300 ? -x * log(x) : 0;
}

/* most runs one test asks for: 4 N, within KB_ENGINE_MAX_RUNS */
static unsigned runs_cap(const kb_engine *e)
{
	unsigned cap = 4 * e->opt.runs_per_test;
	return cap > KB_ENGINE_MAX_RUNS ? KB_ENGINE_MAX_RUNS : cap;
}

static unsigned runs_now(const kb_engine *e)
{
	double q;
	unsigned r = e->opt.runs_per_test;

	if (e->opt.fixed_runs)
		return r;
	kb_model_rates(e->m, &q, NULL, NULL, NULL);
	if (q > 0 && q < 1) {
		double need = ceil(log(MISS_TARGET) / log(1 - q));
		if (need > r)
			r = need > runs_cap(e) ? runs_cap(e) : (unsigned)need;
	}
	return r > KB_ENGINE_MAX_RUNS ? KB_ENGINE_MAX_RUNS : r;
}

/* clean runs needed on a parent of the top commit before we call it the culprit: enough
 * that a buggy parent would have crashed with probability >= 1 - PARENT_MISS even at
 * the low end (5% quantile) of a buggy kernel's own rate (kernels' rates differ: the
 * mean rate's quantile would let a parent with a rate of its own far below it pass),
 * at most 6 N (two tests of up to 4 N) */
static unsigned clean_needed(const kb_engine *e)
{
	double lo = kb_model_kernel_rate_quantile(e->m, 0.05);
	unsigned cap = 6 * e->opt.runs_per_test;

	if (!(lo > 0 && lo < 1))
		return cap;
	double need = ceil(log(PARENT_MISS) / log(1 - lo));
	return need > cap ? cap : (need < 1 ? 1 : (unsigned)need);
}

/* A test of a parent of a likely culprit (posterior >= PARENT_OF) gets the runs that
 * bring its clean runs to clean_needed() in this one round (at most 4 N): the stop rule
 * asks for them, and a second round on the same kernel for a few more runs costs a whole
 * test round. Lost, infra and other runs are allowed for by the share seen so far. */
static void top_up_parents(kb_engine *e, kb_engine_request *rq, size_t n)
{
	unsigned cap = runs_cap(e), need_clean = clean_needed(e);
	double useful = e->runs_asked ? (double)e->runs_told / e->runs_asked : 0.9;

	if (e->opt.fixed_runs)
		return;
	if (useful < 0.5)
		useful = 0.5;
	for (size_t h = 0; h < e->n; h++) {
		if (e->m->post[h] < PARENT_OF)
			continue;
		for (size_t i = 0; i < kb_model_n_parents(e->m, h); i++) {
			size_t par = kb_model_parent(e->m, h, i);
			unsigned clean;
			kb_model_evidence(e->m, par, NULL, &clean, NULL);
			if (clean >= need_clean)
				continue;
			unsigned want = (unsigned)ceil((TOPUP_MARGIN * need_clean - clean) / useful);
			if (want > cap)
				want = cap;
			for (size_t j = 0; j < n; j++)
				if (rq[j].node == par && rq[j].runs < want)
					rq[j].runs = want;
		}
	}
}

struct plan {
	size_t node[64];
	double gain[64];
	size_t n;
	int builds;
	double total;
	double cost; /* expected round time: the dearest of its tests */
};

/* Expected time of a round testing node, whose kernel is had as kind says. */
static double node_cost(kb_engine *e, size_t node, int kind)
{
	double t = plan_gap_s(e) + plan_test_s(e);

	if (kind == KB_COST_BUILD) {
		double b = e->o.build_seconds ? e->o.build_seconds(e->o.ctx, node) : -1;
		t += b >= 0 ? b : plan_build_s(e);
	}
	return t;
}

static void cells_reset(kb_engine *e, size_t *ncells)
{
	memset(e->cell, 0, (e->n + 1) * sizeof(*e->cell));
	e->cellmass[0] = 1.0;
	*ncells = 1;
}

static double split_gain(kb_engine *e, const uint64_t *row, size_t nw, size_t ncells)
{
	const double *p = e->m->post;
	double g = 0;

	memset(e->in, 0, ncells * sizeof(*e->in));
	for (size_t w = 0; w < nw; w++)
		for (uint64_t b = row[w]; b; b &= b - 1) {
			size_t h = w * 64 + (size_t)__builtin_ctzll(b);
			e->in[e->cell[h]] += p[h];
		}
	for (size_t k = 0; k < ncells; k++) {
		double out = e->cellmass[k] - e->in[k];
		if (out < 0)
			out = 0;
		g += xlogx(e->in[k]) + xlogx(out) - xlogx(e->cellmass[k]);
	}
	return g / log(2);
}

static void cells_split(kb_engine *e, const uint64_t *row, size_t nw, size_t *ncells)
{
	const double *p = e->m->post;
	size_t nc = *ncells;

	for (size_t k = 0; k < nc; k++)
		e->remap[k] = UINT32_MAX;
	for (size_t w = 0; w < nw; w++)
		for (uint64_t b = row[w]; b; b &= b - 1) {
			size_t h = w * 64 + (size_t)__builtin_ctzll(b);
			uint32_t old = e->cell[h];
			if (e->remap[old] == UINT32_MAX) {
				e->remap[old] = (uint32_t)(*ncells)++;
				e->cellmass[e->remap[old]] = 0;
			}
			e->cell[h] = e->remap[old];
			e->cellmass[e->remap[old]] += p[h];
			e->cellmass[old] -= p[h];
		}
}

/* The hypotheses under which testing c shows the bug: c's closure row, or the union
 * of the rows of every node sharing c's kernel. *nw gets the words to scan. */
static const uint64_t *test_row(kb_engine *e, size_t c, size_t *nw)
{
	uint32_t g = e->m->group[c];

	if (e->gcount && e->gcount[g] > 1) {
		uint64_t *u = e->urow;
		memset(u, 0, e->m->words * sizeof(*u));
		for (size_t x = 0; x < e->n; x++)
			if (e->m->group[x] == g) {
				const uint64_t *r = kb_model__row(e->m, x);
				for (size_t w = 0; w <= x / 64; w++)
					u[w] |= r[w];
			}
		*nw = e->m->words;
		return u;
	}
	*nw = c / 64 + 1;
	return kb_model__row(e->m, c);
}

static int in_plan(const struct plan *pl, size_t c)
{
	for (size_t i = 0; i < pl->n; i++)
		if (pl->node[i] == c)
			return 1;
	return 0;
}

/* Expected round time of testing node: its pool entry's cost, else as it stands. */
static double cost_of(kb_engine *e, size_t node, const size_t *pool, size_t n_pool,
		      const double *cost)
{
	for (size_t j = 0; j < n_pool; j++)
		if (pool[j] == node)
			return cost[j];
	return node_cost(e, node, e->rec[node].built > 0 ? KB_COST_TEST : KB_COST_BUILD);
}

/* greedy plan over pool; cheap_only restricts to kernels at hand; with cost (per pool
 * entry, expected round time) pl->cost gets the plan's round time, and with per_time
 * each pick is the best gain per round time instead of the best gain */
static void make_plan(kb_engine *e, struct plan *pl, const size_t *must, size_t n_must,
		      const size_t *pool, const int *kind, const uint64_t *const *rows,
		      const size_t *nws, size_t n_pool, int cheap_only, size_t limit,
		      const double *cost, int per_time)
{
	size_t ncells;

	memset(pl, 0, sizeof(*pl));
	cells_reset(e, &ncells);
	e->cell[e->n] = 0; /* NONE: never buggy, stays out of every split */
	for (size_t i = 0; i < n_must && pl->n < limit; i++) {
		size_t nw;
		const uint64_t *row = test_row(e, must[i], &nw);
		double g = split_gain(e, row, nw, ncells);
		cells_split(e, row, nw, &ncells);
		pl->node[pl->n] = must[i], pl->gain[pl->n] = g, pl->n++;
		pl->total += g;
		if (!e->rec[must[i]].built)
			pl->builds = 1;
		if (cost) {
			double c = cost_of(e, must[i], pool, n_pool, cost);
			if (c > pl->cost)
				pl->cost = c;
		}
	}
	while (pl->n < limit) {
		double best = MIN_GAIN_BITS, best_score = 0;
		size_t bi = SIZE_MAX;
		for (size_t i = 0; i < n_pool; i++) {
			if (cheap_only && kind[i] == KB_COST_BUILD)
				continue;
			if (in_plan(pl, pool[i]))
				continue;
			/* what its split is worth, times what a test of it can still tell (a
			 * floor keeps every split that tells something in the running) */
			double g = split_gain(e, rows[i], nws[i], ncells);
			if (g <= MIN_GAIN_BITS)
				continue;
			g *= e->clar[pool[i]] > CLARITY_FLOOR ? e->clar[pool[i]] : CLARITY_FLOOR;
			double score = g;
			if (per_time)
				score = g / (cost[i] > pl->cost ? cost[i] : pl->cost);
			if (bi == SIZE_MAX || score > best_score)
				best = g, best_score = score, bi = i;
		}
		if (bi == SIZE_MAX)
			break;
		cells_split(e, rows[bi], nws[bi], &ncells);
		pl->node[pl->n] = pool[bi], pl->gain[pl->n] = best, pl->n++;
		pl->total += best;
		if (kind[bi] == KB_COST_BUILD)
			pl->builds = 1;
		if (cost && cost[bi] > pl->cost)
			pl->cost = cost[bi];
	}
}

/* Expected time of the round pl plans: with per-commit costs the dearest of its tests
 * (pl->cost), else one test round plus one build when it builds anything. */
static double plan_time(const kb_engine *e, const struct plan *pl, int per_commit)
{
	if (!per_commit)
		return plan_gap_s(e) + plan_test_s(e) + (pl->builds ? plan_build_s(e) : 0);
	return pl->cost > 0 ? pl->cost : plan_gap_s(e) + plan_test_s(e);
}

struct bnode {
	double b;
	size_t c;
};

static int by_buggy(const void *x, const void *y)
{
	const struct bnode *a = x, *b = y;
	if (a->b != b->b)
		return a->b < b->b ? -1 : 1;
	return a->c < b->c ? -1 : a->c > b->c;
}

/* nodes whose P(buggy) is nearest to evenly spaced targets, overall and among kernels
 * at hand (tested, or handed to the prefetch) */
static size_t build_pool(kb_engine *e, size_t *pool, int *kind)
{
	size_t *ord = malloc(e->n * sizeof(*ord)), *cheap = malloc(e->n * sizeof(*cheap));
	size_t n_ord = 0, n_cheap = 0, n_pool = 0;

	if (!ord || !cheap) {
		free(ord), free(cheap);
		return 0;
	}
	for (size_t c = 0; c < e->n; c++) {
		double b = e->buggy[c];
		if (e->rec[c].built < 0 || b < 1e-6 || b > 1 - 1e-6)
			continue;
		ord[n_ord++] = c;
		if (e->rec[c].built > 0 || e->rec[c].ready)
			cheap[n_cheap++] = c;
	}
	/* sort both lists by P(buggy) */
	for (int pass = 0; pass < 2; pass++) {
		size_t *v = pass ? cheap : ord, nv = pass ? n_cheap : n_ord;
		struct bnode *tmp = malloc((nv ? nv : 1) * sizeof(*tmp));
		if (!tmp)
			break;
		for (size_t i = 0; i < nv; i++)
			tmp[i].b = e->buggy[v[i]], tmp[i].c = v[i];
		qsort(tmp, nv, sizeof(*tmp), by_buggy);
		for (size_t i = 0; i < nv; i++)
			v[i] = tmp[i].c;
		free(tmp);
		/* evenly spaced, plus the tails: when the top commit holds 98%, the rest of
		 * the mass may lie thinly spread below the first target */
		static const double tails[] = { 0.0005, 0.002, 0.006, 0.012, 0.988, 0.994,
						0.998, 0.9995 };
		size_t n_tails = sizeof(tails) / sizeof(tails[0]);
		for (size_t t = 1; t < POOL_TARGETS + n_tails && nv; t++) {
			double target = t < POOL_TARGETS ? (double)t / POOL_TARGETS
							 : tails[t - POOL_TARGETS];
			size_t lo = 0, hi = nv;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (e->buggy[v[mid]] < target)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (size_t k = lo > 0 ? lo - 1 : 0; k <= lo && k < nv; k++) {
				size_t c = v[k];
				int dup = 0;
				for (size_t i = 0; i < n_pool; i++)
					if (pool[i] == c)
						dup = 1;
				if (!dup)
					pool[n_pool++] = c;
			}
		}
	}
	/* the untested nodes right next to the mass: every node with a large posterior and
	 * its parents (these settle the last step) */
	for (size_t c = 0; c < e->n && n_pool < 4 * POOL_TARGETS + 64; c++) {
		if (e->m->post[c] < 0.02 || e->rec[c].built < 0)
			continue;
		size_t cand[9] = { c };
		size_t nc = 1;
		for (size_t i = 0; i < kb_model_n_parents(e->m, c) && nc < 9; i++)
			cand[nc++] = kb_model_parent(e->m, c, i);
		for (size_t i = 0; i < nc; i++) {
			int dup = 0;
			if (e->rec[cand[i]].built < 0)
				continue;
			for (size_t j = 0; j < n_pool; j++)
				if (pool[j] == cand[i])
					dup = 1;
			if (!dup)
				pool[n_pool++] = cand[i];
		}
	}
	{
		unsigned runs = runs_now(e);
		for (size_t i = 0; i < n_pool; i++)
			e->clar[pool[i]] = kb_model_test_clarity(e->m, pool[i], runs);
	}
	for (size_t i = 0; i < n_pool; i++) {
		int k = e->rec[pool[i]].built > 0 ? KB_COST_TEST : KB_COST_BUILD;
		if (e->o.cost) {
			int ok = KB_COST_BUILD;
			if (e->o.cost(e->o.ctx, pool[i], &ok) == 0 && ok < k)
				k = ok;
		}
		kind[i] = k;
		if (k != KB_COST_BUILD && e->o.signature && e->rec[pool[i]].built == 0 &&
		    !e->rec[pool[i]].sig_asked) {
			kb_key sig, have;
			e->rec[pool[i]].sig_asked = 1;
			if (e->o.signature(e->o.ctx, pool[i], &sig) == 1 &&
			    !kb_model_signature(e->m, pool[i], &have) &&
			    kb_model_set_signature(e->m, pool[i], &sig) == 0)
				e->sig_learned++;
			kb_error_clear();
		}
	}
	free(ord), free(cheap);
	return n_pool;
}

static void check_stop(kb_engine *e);
static size_t evidence_gap(const kb_engine *e, size_t top, size_t *need, const char **why);

/* speculative builds wanted per round (0: none) */
static size_t prefetch_n(const kb_engine *e)
{
	if (!e->o.prefetch || e->opt.prefetch < 0)
		return 0;
	return e->opt.prefetch ? (size_t)e->opt.prefetch : e->opt.workers;
}

/* The commits weighed in a round: what testing each costs now (kind) and the
 * hypotheses under which its test shows the bug (rows, nws words of them). */
struct cpool {
	size_t *node;
	int *kind;
	const uint64_t **rows;
	uint64_t **owned; /* rows made for a kernel shared by several commits */
	size_t *nws;
	size_t n;
};

static void cpool_free(struct cpool *cp)
{
	for (size_t i = 0; cp->owned && i < cp->n; i++)
		free(cp->owned[i]);
	free(cp->node), free(cp->kind), free(cp->rows), free(cp->owned), free(cp->nws);
	memset(cp, 0, sizeof(*cp));
}

/* fill cp with build_pool()'s commits under the current posterior and their rows */
static int cpool_make(kb_engine *e, struct cpool *cp)
{
	size_t cap = 4 * POOL_TARGETS + 128;

	memset(cp, 0, sizeof(*cp));
	cp->node = malloc(cap * sizeof(*cp->node));
	cp->kind = malloc(cap * sizeof(*cp->kind));
	cp->rows = calloc(cap, sizeof(*cp->rows));
	cp->owned = calloc(cap, sizeof(*cp->owned));
	cp->nws = calloc(cap, sizeof(*cp->nws));
	if (!cp->node || !cp->kind || !cp->rows || !cp->owned || !cp->nws) {
		cpool_free(cp);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory choosing tests");
	}
	cp->n = build_pool(e, cp->node, cp->kind);
	return 0;
}

/* the rows of cp's commits (e->gcount counted for the model's final kernel groups) */
static void cpool_rows(kb_engine *e, struct cpool *cp)
{
	for (size_t i = 0; i < cp->n; i++) {
		const uint64_t *r = test_row(e, cp->node[i], &cp->nws[i]);
		if (r == e->urow) {
			cp->owned[i] = malloc(e->m->words * sizeof(uint64_t));
			if (!cp->owned[i]) {
				cp->nws[i] = cp->node[i] / 64 + 1;
				r = kb_model__row(e->m, cp->node[i]);
			} else {
				memcpy(cp->owned[i], r, e->m->words * sizeof(uint64_t));
				r = cp->owned[i];
			}
		}
		cp->rows[i] = r;
	}
}

/* Append to pre (up to want to build, want at hand to pre-boot) the picks of plan x
 * past its first skip entries. */
static void take_prefetch(const struct plan *x, size_t skip, const struct plan *pl,
			  const struct cpool *cp, size_t want, size_t *pre, size_t *n_pre)
{
	size_t nb = 0, nt = 0;

	for (size_t i = skip; i < x->n; i++) {
		if (in_plan(pl, x->node[i]))
			continue;
		for (size_t j = 0; j < cp->n; j++) {
			if (cp->node[j] != x->node[i])
				continue;
			if (cp->kind[j] == KB_COST_BUILD && nb < want)
				pre[(*n_pre)++] = x->node[i], nb++;
			else if (cp->kind[j] == KB_COST_TEST && nt < want)
				pre[(*n_pre)++] = x->node[i], nt++;
			break;
		}
	}
}

/* k > 1: speculative builds for the round's heaviest cell (the part of the mass its
 * tests leave together), as if the round left the culprit there. When it does, the
 * next round tests k kernels at hand (a test round without a build); the picks that
 * complement the round's tests instead land one in each cell, and whichever cell is
 * left, the next round builds anyway. Used while q looks >= FOCUS_MIN_Q: with a
 * rarer crash a round leaves the mass spread over several cells, and re-tests of
 * kernels at hand plus builds in several cells serve better (accuracy bench, k = 4
 * and 8: wall time -1..-4% at q >= 0.2, +1..2% at q = 0.1 when used there too).
 * Returns 0 (pre filled) or 1 (no such cell). */
static int focus_prefetch(kb_engine *e, const struct plan *pl, const struct cpool *cp,
			  size_t want, size_t *pre, size_t *n_pre)
{
	struct plan x;
	struct cpool fp;
	size_t ncells = 0, heavy = 0, in_heavy = 0;
	double *post, none = e->m->post_none;
	int rc = 1;

	/* re-plan just the round's tests: this leaves their cells in e->cell, e->cellmass */
	make_plan(e, &x, pl->node, pl->n, cp->node, cp->kind, cp->rows, cp->nws, cp->n, 0,
		  pl->n, NULL, 0);
	for (size_t h = 0; h <= e->n; h++)
		if (e->cell[h] + 1 > ncells)
			ncells = e->cell[h] + 1;
	for (size_t k = 1; k < ncells; k++)
		if (e->cellmass[k] > e->cellmass[heavy])
			heavy = k;
	for (size_t h = 0; h < e->n; h++)
		in_heavy += e->cell[h] == heavy && e->m->post[h] > 0;
	if (in_heavy < 2 || !(e->cellmass[heavy] > 0))
		return 1;
	post = malloc(2 * e->n * sizeof(*post)); /* the posterior, then P(buggy) */
	if (!post)
		return 1;
	memcpy(post, e->m->post, e->n * sizeof(*post));
	memcpy(post + e->n, e->buggy, e->n * sizeof(*post));
	for (size_t h = 0; h < e->n; h++)
		e->m->post[h] = e->cell[h] == heavy ? post[h] / e->cellmass[heavy] : 0;
	e->m->post_none = e->cell[e->n] == heavy ? none / e->cellmass[heavy] : 0;
	if (kb_model_buggy_all(e->m, e->buggy) == 0 && cpool_make(e, &fp) == 0) {
		struct plan y;
		size_t lim = 2 * want > 64 ? 64 : 2 * want;
		cpool_rows(e, &fp);
		make_plan(e, &y, NULL, 0, fp.node, fp.kind, fp.rows, fp.nws, fp.n, 0, lim, NULL, 0);
		take_prefetch(&y, 0, pl, &fp, want, pre, n_pre);
		cpool_free(&fp);
		rc = 0;
	}
	kb_error_clear();
	memcpy(e->m->post, post, e->n * sizeof(*post));
	memcpy(e->buggy, post + e->n, e->n * sizeof(*post));
	e->m->post_none = none;
	free(post);
	return rc;
}

/* Choose the round's tests into rq[0..*n_rq-1] and, when pre is given, up to
 * prefetch_n() commits to get ready meanwhile (build, pre-boot) into pre[0..*n_pre-1]:
 * what the next round will most likely want (at k = 1, for a bisection step, the
 * next midpoint on one side; at k > 1 see focus_prefetch()). */
static int choose(kb_engine *e, kb_engine_request *rq, size_t *n_rq, size_t *pre,
		  size_t *n_pre)
{
	size_t must[16], n_must = 0;
	struct cpool cp;
	struct plan a, b, c3, *pl;
	double p;
	size_t top;
	unsigned runs = runs_now(e);

	*n_rq = 0;
	if (n_pre)
		*n_pre = 0;
	int rc = kb_model_buggy_all(e->m, e->buggy);
	if (rc || (rc = cpool_make(e, &cp)) != 0)
		return rc;
	if (e->sig_learned) { /* kernels at hand told their signatures: pool them first */
		e->sig_learned = 0;
		note_same_kernels(e);
		if ((rc = kb_model_update(e->m)) != 0 ||
		    (rc = kb_model_buggy_all(e->m, e->buggy)) != 0) {
			cpool_free(&cp);
			return rc;
		}
		cp.n = build_pool(e, cp.node, cp.kind);
		e->sig_learned = 0;
		check_stop(e); /* pooled evidence may settle it: then test nothing */
		if (e->stop != KB_STOP_RUNNING) {
			cpool_free(&cp);
			return 0;
		}
	}
	top = kb_model_top(e->m, &p);
	if (top != KB_MODEL_NONE && p >= (e->opt.workers > 1 ? MUST_EARLY * e->opt.confidence : e->opt.confidence)) {
		size_t need[MAX_GAPS], nn = evidence_gap(e, top, need, NULL);
		for (size_t i = 0; i < nn && n_must < 16; i++)
			if (e->rec[need[i]].built >= 0)
				must[n_must++] = need[i];
	}
	memset(e->gcount, 0, e->n * sizeof(*e->gcount));
	for (size_t c = 0; c < e->n; c++)
		e->gcount[e->m->group[c]]++;
	cpool_rows(e, &cp);
	/* per-commit round times when the oracle can tell build costs apart (an
	 * incremental build across a header most files include costs a full build) */
	double *cost = e->o.build_seconds ? malloc((cp.n ? cp.n : 1) * sizeof(*cost)) : NULL;
	for (size_t i = 0; cost && i < cp.n; i++)
		cost[i] = node_cost(e, cp.node[i], cp.kind[i]);
	make_plan(e, &a, must, n_must, cp.node, cp.kind, cp.rows, cp.nws, cp.n, 1, e->opt.workers, cost, 0);
	make_plan(e, &b, must, n_must, cp.node, cp.kind, cp.rows, cp.nws, cp.n, 0, e->opt.workers, cost, 0);
	{
		double ta = plan_time(e, &a, cost != NULL);
		double tb = plan_time(e, &b, cost != NULL);
		pl = (a.n && a.total / ta >= b.total / tb) || !b.n ? &a : &b;
		if (cost) { /* the best information per round time, commit by commit */
			double tp = pl == &a ? ta : tb;
			make_plan(e, &c3, must, n_must, cp.node, cp.kind, cp.rows, cp.nws, cp.n, 0,
				  e->opt.workers, cost, 1);
			double tc = plan_time(e, &c3, 1);
			if (c3.n && (!pl->n || c3.total / tc > pl->total / tp))
				pl = &c3;
		}
	}
	free(cost);
	if (pre && n_pre && pl->n && prefetch_n(e)) {
		size_t want = prefetch_n(e);
		double q;
		kb_model_rates(e->m, &q, NULL, NULL, NULL);
		if (e->opt.workers == 1 || q < FOCUS_MIN_Q ||
		    focus_prefetch(e, pl, &cp, want, pre, n_pre)) {
			/* the picks that best complement the round's tests */
			struct plan x;
			size_t lim = pl->n + 2 * want > 64 ? 64 : pl->n + 2 * want;
			make_plan(e, &x, pl->node, pl->n, cp.node, cp.kind, cp.rows, cp.nws, cp.n,
				  0, lim, NULL, 0);
			take_prefetch(&x, pl->n, pl, &cp, want, pre, n_pre);
		}
	}
	cpool_free(&cp);
	for (size_t i = 0; i < pl->n; i++) {
		rq[i].node = pl->node[i];
		rq[i].runs = runs;
		rq[i].worker = (unsigned)i;
	}
	*n_rq = pl->n;
	top_up_parents(e, rq, pl->n);
	/* idle workers: first a separate boot of each commit the stop rule asks about whose
	 * kernel is at hand (one more test in this round, not in the next: all-clean tests
	 * may be frozen ones), then more runs on the most informative tests */
	unsigned w = (unsigned)pl->n;
	for (size_t i = 0; i < n_must && w < e->opt.workers; i++) {
		if (e->rec[must[i]].built != 1)
			continue;
		for (size_t j = 0; j < pl->n; j++)
			if (rq[j].node == must[i]) {
				rq[*n_rq] = rq[j];
				rq[*n_rq].worker = w++;
				++*n_rq;
				break;
			}
	}
	for (unsigned i = 0; pl->n && w < e->opt.workers; w++, i++) {
		kb_engine_request *r = &rq[i % pl->n];
		if (r->runs + runs <= KB_ENGINE_MAX_RUNS)
			r->runs += runs;
	}
	return 0;
}

/* ---- rounds ---- */

static int push_round(kb_engine *e)
{
	struct round_rec r = { .round = e->round, .seconds = e->tmax - e->t0 };
	size_t *set = NULL, n = 0;
	double mass;

	if (e->n_rounds == e->cap_rounds) {
		size_t cap = e->cap_rounds ? e->cap_rounds * 2 : 16;
		struct round_rec *p = realloc(e->rounds, cap * sizeof(*p));
		if (!p)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory for the round log");
		e->rounds = p, e->cap_rounds = cap;
	}
	r.none = e->m->post_none;
	for (size_t h = 0; h < e->n; h++) {
		double p = e->m->post[h];
		size_t k = r.n_top;
		if (k == ROUND_TOP && p <= r.p[ROUND_TOP - 1])
			continue;
		if (k < ROUND_TOP)
			r.n_top++;
		else
			k = ROUND_TOP - 1;
		while (k > 0 && r.p[k - 1] < p)
			r.top[k] = r.top[k - 1], r.p[k] = r.p[k - 1], k--;
		r.top[k] = h, r.p[k] = p;
	}
	if (kb_model_credible_set(e->m, e->opt.confidence, &set, &n, &mass) == 0) {
		free(e->set);
		e->set = set, e->n_set = n, e->set_mass = mass;
		r.n_set = n;
	}
	e->rounds[e->n_rounds++] = r;
	{
		char line[512];
		int off = snprintf(line, sizeof(line), "posterior after round %u:", e->round);
		for (size_t i = 0; i < r.n_top && i < 5 && off < (int)sizeof(line); i++)
			off += snprintf(line + off, sizeof(line) - (size_t)off, " %s %.3f",
					nname(e, r.top[i]), r.p[i]);
		if (off < (int)sizeof(line))
			snprintf(line + off, sizeof(line) - (size_t)off, " (none %.3f, %zu hold %.0f%%)",
				 r.none, r.n_set, e->opt.confidence * 100);
		elog(e, "%s", line);
	}
	return 0;
}

/* P(X >= x) for X ~ Binomial(n, p) */
static double binom_tail(unsigned x, unsigned n, double p)
{
	double below = 0;

	if (x == 0)
		return 1;
	if (p <= 0)
		return 0;
	for (unsigned k = 0; k < x && k <= n; k++)
		below += exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) +
			     k * log(p) + (n - k) * log1p(-p));
	return below >= 1 ? 0 : 1 - below;
}

/* Of node's kernel's tests, those with at least N/2 clean runs (not a test that a burst
 * of infra errors left with a few) whose target crashes (if any) the false-crash rate
 * explains (P(>= its crashes | its runs, eps_hi) >= EXPLAINED_TAIL). */
static unsigned clean_tests(const kb_engine *e, size_t node, double eps_hi)
{
	const kb_model__group *g = &e->m->groups[e->m->group[node]];
	unsigned n = 0;

	for (size_t i = 0; i < g->n_tests; i++) {
		const kb_model__test *t = &g->tests[i];
		n += 2 * t->clean >= e->opt.runs_per_test &&
		     (!t->target || binom_tail(t->target, t->target + t->clean, eps_hi) >=
					    EXPLAINED_TAIL);
	}
	return n;
}

/* What the stop rule still asks before naming top (issue 19): a target crash on top;
 * of each parent that builds, clean runs enough for a buggy one to have crashed
 * (clean_needed()), clean evidence from PARENT_TESTS separately booted tests (a test
 * counts if the false-crash rate explains its target crashes, if any), and no target
 * crashes over all its runs that the false-crash rate does not explain (P(>= its
 * crashes | its runs, eps at its 95% quantile) >= EXPLAINED_TAIL), and tests that a
 * buggy kernel at the low end of a kernel's own rate (no lower than clean_needed()'s
 * cap covers) would have shown with probability at most FROZEN_MISS more than with
 * independent runs, over the posterior share of all-or-nothing tests (each all-clean test
 * could be one frozen outcome: two suffice while tests look independent, a third or
 * fourth boot is asked once all-crash or clean-on-buggy tests say that tests freeze,
 * or while too few tests tell). The good end of the
 * range is a parent too; it is not tested here, so a top with no parent in the range
 * must show the crash in two tests (one test's crash could be a false or a frozen one).
 * Fills need[] with the nodes to test (at most MAX_GAPS), returns their number; *why
 * gets the first reason (may be NULL). 0: top can be named. */
static size_t evidence_gap(const kb_engine *e, size_t top, size_t *need, const char **why)
{
	unsigned t, c, tt;
	size_t n = 0, np = kb_model_n_parents(e->m, top);
	double eps_hi, q_lo, q_frz;
	const char *w = NULL;

	kb_model_misfit(e->m, &eps_hi, NULL, NULL);
	q_lo = kb_model_kernel_rate_quantile(e->m, 0.05);
	/* no lower than the rate clean_needed()'s cap still covers: a buggy kernel rarer
	 * than that passes its clean runs too */
	q_frz = 1 - pow(PARENT_MISS, 1.0 / (6 * e->opt.runs_per_test));
	if (q_lo > q_frz)
		q_frz = q_lo;
	kb_model_evidence(e->m, top, &t, NULL, NULL);
	kb_model_tests(e->m, top, NULL, NULL, &tt);
	if (t == 0)
		w = "no target crash on it yet", need[n++] = top;
	else if (np == 0 && tt < PARENT_TESTS)
		w = "its parent is the good end, which is not tested: its own crash is asked "
		    "of two tests", need[n++] = top;
	for (size_t i = 0; i < np && n < MAX_GAPS; i++) {
		size_t par = kb_model_parent(e->m, top, i);
		const char *pw = NULL;
		if (e->rec[par].built < 0)
			continue;
		kb_model_evidence(e->m, par, &t, &c, NULL);
		if (c < clean_needed(e))
			pw = "a parent has too few clean runs";
		else if (clean_tests(e, par, eps_hi) < PARENT_TESTS)
			pw = "a parent's clean evidence does not come from two separately booted tests "
			     "with N/2 clean runs each";
		else if (t && binom_tail(t, t + c, eps_hi) < EXPLAINED_TAIL)
			pw = "a parent's target crashes are more than false crashes explain";
		else if (kb_model_buggy_miss(e->m, par, q_frz, (e->opt.runs_per_test + 1) / 2) >
			 FROZEN_MISS)
			pw = "a parent's clean tests could each be one frozen outcome of a buggy "
			     "kernel (all-or-nothing tests): one more boot is asked";
		if (pw) {
			need[n++] = par;
			if (!w)
				w = pw;
		}
	}
	if (why)
		*why = w;
	return n;
}

static int by_node(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* Stop with a set: the credible set plus the commits the stop rule still asked about. */
static void stop_unsettled(kb_engine *e, const size_t *need, size_t n_need, const char *why)
{
	double eps_hi, rho, spread;
	size_t *set = realloc(e->set, (e->n_set + n_need + 1) * sizeof(*set));

	if (set) {
		e->set = set;
		for (size_t i = 0; i < n_need; i++) {
			int dup = 0;
			for (size_t j = 0; j < e->n_set; j++)
				dup |= e->set[j] == need[i];
			if (!dup) {
				e->set[e->n_set++] = need[i];
				e->set_mass += kb_model_posterior(e->m, need[i]);
			}
		}
		qsort(e->set, e->n_set, sizeof(*e->set), by_node); /* NONE (SIZE_MAX) last */
	}
	kb_model_misfit(e->m, &eps_hi, &rho, &spread);
	snprintf(e->why, sizeof(e->why), "%s (after %u more rounds; all-or-nothing tests %.2f, "
		 "rates differ between kernels %.2f, false crashes up to %.4f)", why,
		 e->unsettled, rho, spread, eps_hi);
	e->stop = KB_STOP_UNSETTLED;
	elog(e, "unsettled: the top commit holds the confidence but %s", e->why);
}

static void check_stop(kb_engine *e)
{
	double p;
	size_t top = kb_model_top(e->m, &p), need[MAX_GAPS], n_need = 0;
	const char *why = NULL;

	if (top != KB_MODEL_NONE && p >= e->opt.confidence)
		n_need = evidence_gap(e, top, need, &why);
	if (top == KB_MODEL_NONE && p >= e->opt.confidence)
		e->stop = KB_STOP_NONE;
	else if (top != KB_MODEL_NONE && p >= e->opt.confidence && !n_need)
		e->stop = KB_STOP_CONFIDENT;
	else if (n_need && ++e->unsettled > UNSETTLED_ROUNDS)
		stop_unsettled(e, need, n_need, why);
	else if (e->round >= e->opt.max_rounds ||
		 (e->opt.max_seconds > 0 && e->tmax - e->t0 >= e->opt.max_seconds)) {
		e->stop = KB_STOP_BUDGET;
		if (n_need)
			stop_unsettled(e, need, n_need, why), e->stop = KB_STOP_BUDGET;
	}
}

static int execute(kb_engine *e, kb_engine_request *rq, size_t n, kb_engine_outcome **out)
{
	kb_engine_outcome *oc = calloc(n ? n : 1, sizeof(*oc));
	int rc;

	*out = NULL;
	if (!oc)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for test outcomes");
	rc = e->o.execute(e->o.ctx, rq, n, oc);
	if (rc) {
		free(oc);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		if (oc[i].n_runs > KB_ENGINE_MAX_RUNS)
			oc[i].n_runs = KB_ENGINE_MAX_RUNS;
	*out = oc;
	return 0;
}

/* the oracle's journal of an identical earlier bisection, if it has this round: 1 and
 * rq/n filled, else 0 */
static int replayed(kb_engine *e, kb_engine_request *rq, size_t *n)
{
	size_t m = 0;

	if (!e->o.replay || e->o.replay(e->o.ctx, e->round, rq, &m) != 1 || m == 0 || m > 64)
		return 0;
	for (size_t i = 0; i < m; i++)
		if (rq[i].node >= e->n || rq[i].runs == 0 || rq[i].runs > KB_ENGINE_MAX_RUNS)
			return 0; /* not this DAG's journal after all */
	*n = m;
	elog(e, "round %u as recorded earlier (%zu test%s)", e->round, m, m == 1 ? "" : "s");
	return 1;
}

/* hand the speculative builds of this round to the oracle */
static int start_prefetch(kb_engine *e, const size_t *pre, size_t n_pre)
{
	char buf[512];
	size_t len = 0;
	int rc;

	if (!n_pre || !e->o.prefetch)
		return 0;
	for (size_t i = 0; i < n_pre && len < sizeof(buf) - 48; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s", nname(e, pre[i]));
	elog(e, "preparing meanwhile:%s", buf);
	unsigned built = 0;
	rc = e->o.prefetch(e->o.ctx, pre, n_pre, &built);
	if (rc == 0)
		e->prefetched += built;
	for (size_t i = 0; rc == 0 && i < n_pre; i++)
		e->rec[pre[i]].ready = 1; /* build_pool offers it among the kernels at hand */
	return rc;
}

/* "20 runs on BAD: 0 target crashes, 18 ok, 2 infra (SYZFAIL: ... x2)": what the
 * calibration runs of oc were, into buf. */
static void calib_summary(char *buf, size_t len, const kb_engine *e, const kb_engine_outcome *oc)
{
	unsigned n[4] = { 0 };
	size_t off = 0;
	int w;

	unsigned target = 0, listed = 0;

	for (size_t i = 0; i < oc->n_runs; i++) {
		if (oc->runs[i].klass >= 0 && oc->runs[i].klass < 4)
			n[oc->runs[i].klass]++;
		target += is_target(e, &oc->runs[i]);
	}
	w = snprintf(buf, len, "%zu runs on %s: %u target crashes, %u ok, %u infra", oc->n_runs,
		     nname(e, e->opt.bad), target, n[KB_RUN_OK], n[KB_RUN_INFRA]);
	off = w > 0 && (size_t)w < len ? (size_t)w : len - 1;
	/* the infra titles, each once with its count */
	for (size_t i = 0; i < oc->n_runs && off + 8 < len; i++) {
		unsigned same = 0;
		int seen = 0;
		if (oc->runs[i].klass != KB_RUN_INFRA)
			continue;
		for (size_t j = 0; j < oc->n_runs; j++)
			if (oc->runs[j].klass == KB_RUN_INFRA &&
			    !strcmp(oc->runs[j].title, oc->runs[i].title)) {
				seen |= j < i;
				same++;
			}
		if (seen)
			continue;
		w = snprintf(buf + off, len - off, "%s%.80s x%u", listed++ ? ", " : " (",
			     oc->runs[i].title[0] ? oc->runs[i].title : "no reason", same);
		off = w > 0 && (size_t)w < len - off ? off + (size_t)w : len - 1;
	}
	if (n[KB_RUN_INFRA] && off + 2 < len)
		snprintf(buf + off, len - off, ")");
	if (n[KB_RUN_BOOT_FAILURE]) {
		off = strlen(buf);
		snprintf(buf + off, len - off, ", %u boot failures", n[KB_RUN_BOOT_FAILURE]);
	}
	if (n[KB_RUN_CRASH] > target) {
		off = strlen(buf);
		snprintf(buf + off, len - off, ", %u other crashes", n[KB_RUN_CRASH] - target);
	}
}

static int calibrate(kb_engine *e)
{
	kb_engine_request rq[65];
	kb_engine_outcome *oc;
	size_t n = 1, pre[64], n_pre = 0;
	unsigned t;
	int rc;

	rq[0].node = e->opt.bad, rq[0].runs = e->opt.calib_runs, rq[0].worker = 0;
	/* the other workers test by the prior meanwhile, with as many runs as the bad
	 * commit gets (q is not known yet: at q = 0.2, 10 runs miss a buggy kernel one
	 * time in 9); their runs are classified once the bad commit told us the crash
	 * titles. With one worker, the prior's first picks are built meanwhile instead. */
	kb_engine_request jr[64];
	size_t jn = 0;
	int from_journal = replayed(e, jr, &jn) && jr[0].node == e->opt.bad;

	/* a journal round still goes through choose(): what it learns on the way (the
	 * signatures of kernels at hand) is part of the state the recorded run had */
	if (e->opt.workers > 1 || prefetch_n(e) || from_journal) {
		size_t m = 0;
		rc = kb_model_update(e->m);
		if (rc)
			return rc;
		rc = choose(e, rq + 1, &m, pre, &n_pre);
		if (rc)
			return rc;
		if (e->opt.workers == 1) {
			n_pre = 0;
			for (size_t i = 0; i < m && n_pre < prefetch_n(e); i++)
				if (rq[1 + i].node != e->opt.bad)
					pre[n_pre++] = rq[1 + i].node;
			m = 0;
		}
		for (size_t i = 0; i < m && n < e->opt.workers; i++)
			if (rq[1 + i].node != e->opt.bad) {
				rq[n] = rq[1 + i];
				rq[n].worker = (unsigned)n;
				rq[n].runs = e->opt.calib_runs;
				n++;
			}
	}
	if (from_journal) { /* as recorded: all kernels cached, nothing to prepare */
		memcpy(rq, jr, jn * sizeof(*jr));
		n = jn;
		n_pre = 0;
	}
	elog(e, "calibrating: %u runs on bad commit %s", rq[0].runs, nname(e, e->opt.bad));
	if ((rc = start_prefetch(e, pre, n_pre)) != 0)
		return rc;
	rc = execute(e, rq, n, &oc);
	if (rc)
		return rc;
	if (!oc[0].buildable) {
		free(oc);
		e->stop = KB_STOP_NO_REPRO;
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "bad commit %s does not build; give a bad commit that builds",
				     nname(e, e->opt.bad));
	}
	learn_titles(e, &oc[0]);
	{
		char sum[900];
		calib_summary(sum, sizeof(sum), e, &oc[0]);
		elog(e, "%s", sum);
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = absorb(e, &rq[i], &oc[i]);
	free(oc);
	if (rc)
		return rc;
	if (e->o.record)
		e->o.record(e->o.ctx, e->round, rq, n);
	kb_model_evidence(e->m, e->opt.bad, &t, NULL, NULL);
	if (t == 0 && e->round >= CALIB_ROUNDS) {
		e->stop = KB_STOP_NO_REPRO;
		elog(e, "the reproducer did not crash bad commit %s in %u runs", nname(e, e->opt.bad),
		     e->opt.calib_runs * e->round);
	}
	for (size_t i = 0; i < e->n_titles; i++)
		elog(e, "target crash title: %s", e->titles[i]);
	return 0;
}

int kb_engine_step(kb_engine *e, int *done)
{
	kb_engine_request rq[64];
	kb_engine_outcome *oc = NULL;
	size_t n = 0, pre[64], n_pre = 0;
	int rc = 0;

	if (done)
		*done = 0;
	if (!e)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "no engine");
	if (e->stop != KB_STOP_RUNNING)
		goto finished;
	e->round++;
	if (!e->calibrated) {
		unsigned t;
		rc = calibrate(e);
		kb_model_evidence(e->m, e->opt.bad, &t, NULL, NULL);
		e->calibrated = t > 0;
		if (rc)
			return rc;
	} else {
		kb_engine_request jr[64];
		size_t jn = 0;
		int from_journal = replayed(e, jr, &jn);
		/* choose() even for a journal round: it learns what the recorded run learned */
		if ((rc = choose(e, rq, &n, pre, &n_pre)) != 0)
			return rc;
		if (e->stop != KB_STOP_RUNNING)
			goto finished;
		if (from_journal) {
			memcpy(rq, jr, jn * sizeof(*jr));
			n = jn;
			n_pre = 0;
		}
		if (n == 0) {
			/* signatures learned while choosing may have settled it already */
			check_stop(e);
			if (e->stop == KB_STOP_RUNNING) {
				e->stop = KB_STOP_UNTESTABLE;
				elog(e, "nothing left worth testing");
			}
			goto finished;
		}
		if ((rc = start_prefetch(e, pre, n_pre)) != 0)
			return rc;
		double prev_end = e->tmax;
		int had_t0 = e->have_t0;
		rc = execute(e, rq, n, &oc);
		if (rc)
			return rc;
		if (had_t0 && n) { /* time between rounds: choosing, the oracle's bookkeeping */
			double first = outcome_start(&oc[0]);
			for (size_t i = 1; i < n; i++)
				if (outcome_start(&oc[i]) < first)
					first = outcome_start(&oc[i]);
			if (first >= prev_end)
				e->sum_gap += first - prev_end, e->n_gap++;
		}
		for (size_t i = 0; i < n && !rc; i++)
			rc = absorb(e, &rq[i], &oc[i]);
		free(oc);
		if (rc)
			return rc;
		if (e->o.record)
			e->o.record(e->o.ctx, e->round, rq, n);
	}
	rc = kb_model_update(e->m);
	if (rc)
		return rc;
	rc = push_round(e);
	if (rc)
		return rc;
	if (e->stop == KB_STOP_RUNNING)
		check_stop(e);
	if (e->o.log) {
		char buf[256];
		kb_engine_progress(e, buf, sizeof(buf));
		elog(e, "%s", buf);
	}
finished:
	if (done)
		*done = e->stop != KB_STOP_RUNNING;
	return 0;
}

int kb_engine_run(kb_engine *e)
{
	int done = 0;

	while (!done) {
		int rc = kb_engine_step(e, &done);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- progress ---- */

static void fmt_dur(char *buf, size_t len, double s)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, len, "%ldh%02ldm", t / 3600, (t / 60) % 60);
	else if (t >= 60)
		snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, len, "%lds", t);
}

void kb_engine_progress(const kb_engine *e, char *buf, size_t len)
{
	double p;
	size_t top;
	char el[32], left[32];
	double rounds_left;

	if (!e || !len)
		return;
	top = kb_model_top(e->m, &p);
	fmt_dur(el, sizeof(el), e->tmax - e->t0);
	rounds_left = e->n_set > 1 ? ceil(log((double)e->n_set) / log(e->opt.workers + 1.0)) + 1 : 1;
	if (e->stop != KB_STOP_RUNNING)
		rounds_left = 0;
	fmt_dur(left, sizeof(left), rounds_left * (plan_gap_s(e) + plan_build_s(e) + plan_test_s(e)));
	snprintf(buf, len, "round %u: %zu candidates left, top %s %.3f, elapsed %s, ~%s left",
		 e->round, e->n_set, nname(e, top), p, el, left);
}
