/*
 * bisect/engine_choose.c - the engine's choice of tests: the pool of candidate commits,
 * plans (tests on kernels at hand, or with builds) and their cost, the parents' clean
 * evidence topped up, speculative builds (prefetch) for the next round.
 * Owns: kb_engine__choose() and its helpers; the constants of the choice.
 * Not: the rounds, calibration and stopping rule (bisect/engine.c), the posterior
 * (bisect/model.c), reports (bisect/engine_report.c).
 * DESIGN: each round picks up to k nodes greedily by the entropy of the partition of
 * the culprit's posterior that their joint outcome induces (testing c splits the mass
 * into "culprit is an ancestor of c" or not), among a pool of nodes near the mass
 * quantiles. Two plans are compared per round: tests on kernels already at hand only,
 * or with builds; the one with more information per second of wall time wins.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "kbisect/engine.h"
#include "model_internal.h"
#include "engine_internal.h"

#define POOL_TARGETS 48
#define MIN_GAIN_BITS 0.005 /* tests telling less than this are not worth running */
#define MISS_TARGET 0.005 /* adaptive runs: P(no target crash on a buggy kernel) */
#define PARENT_OF 0.05 /* see top_up_parents() */
#define TOPUP_MARGIN 1.25 /* see top_up_parents() */
#define FOCUS_MIN_Q 0.15 /* see focus_prefetch() */
#define MUST_EARLY 0.5 /* k > 1: settle the top commit's direct evidence from this mass on */
#define CLARITY_FLOOR 0.02 /* see make_plan() */

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

/* runs per test this round: N, more while q looks small (up to 4 N) */
unsigned kb_engine__runs_now(const kb_engine *e)
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
unsigned kb_engine__clean_needed(const kb_engine *e)
{
	double lo = kb_model_kernel_rate_quantile(e->m, 0.05);
	unsigned cap = 6 * e->opt.runs_per_test;

	if (!(lo > 0 && lo < 1))
		return cap;
	double need = ceil(log(PARENT_MISS) / log(1 - lo));
	return need > cap ? cap : (need < 1 ? 1 : (unsigned)need);
}

/* A test of a parent of a likely culprit (posterior >= PARENT_OF) gets the runs that
 * bring its clean runs to kb_engine__clean_needed() in this one round (at most 4 N): the stop rule
 * asks for them, and a second round on the same kernel for a few more runs costs a whole
 * test round. Lost, infra and other runs are allowed for by the share seen so far. */
static void top_up_parents(kb_engine *e, kb_engine_request *rq, size_t n)
{
	unsigned cap = runs_cap(e), need_clean = kb_engine__clean_needed(e);
	double useful = e->runs_asked ? (double)e->runs_told / e->runs_asked : 0.9;

	if (e->opt.fix) { /* fix mode: the likely fixes need the clean runs */
		kb_engine__fix_top_up(e, rq, n);
		return;
	}
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
	double t = kb_engine__plan_gap_s(e) + kb_engine__plan_test_s(e);

	if (kind == KB_COST_BUILD) {
		double b = e->o.build_seconds ? e->o.build_seconds(e->o.ctx, node) : -1;
		t += b >= 0 ? b : kb_engine__plan_build_s(e);
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
		return kb_engine__plan_gap_s(e) + kb_engine__plan_test_s(e) +
		       (pl->builds ? kb_engine__plan_build_s(e) : 0);
	return pl->cost > 0 ? pl->cost : kb_engine__plan_gap_s(e) + kb_engine__plan_test_s(e);
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
		unsigned runs = kb_engine__runs_now(e);
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
			    !kb_model_signature(&have, e->m, pool[i]) &&
			    kb_model_set_signature(e->m, pool[i], &sig) == 0)
				e->sig_learned++;
			kb_error_clear();
		}
	}
	free(ord), free(cheap);
	return n_pool;
}


/* speculative builds wanted per round (0: none) */
size_t kb_engine__prefetch_n(const kb_engine *e)
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
	if (kb_model_buggy_all(e->buggy, e->m) == 0 && cpool_make(e, &fp) == 0) {
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
 * kb_engine__prefetch_n() commits to get ready meanwhile (build, pre-boot) into pre[0..*n_pre-1]:
 * what the next round will most likely want (at k = 1, for a bisection step, the
 * next midpoint on one side; at k > 1 see focus_prefetch()). */
int kb_engine__choose(kb_engine *e, kb_engine_request *rq, size_t *n_rq, size_t *pre,
		      size_t *n_pre)
{
	size_t must[16], n_must = 0;
	struct cpool cp;
	struct plan a, b, c3, *pl;
	double p;
	size_t top;
	unsigned runs = kb_engine__runs_now(e);

	*n_rq = 0;
	if (n_pre)
		*n_pre = 0;
	int rc = kb_model_buggy_all(e->buggy, e->m);
	if (rc || (rc = cpool_make(e, &cp)) != 0)
		return rc;
	if (e->sig_learned) { /* kernels at hand told their signatures: pool them first */
		e->sig_learned = 0;
		kb_engine__note_same_kernels(e);
		if ((rc = kb_model_update(e->m)) != 0 ||
		    (rc = kb_model_buggy_all(e->buggy, e->m)) != 0) {
			cpool_free(&cp);
			return rc;
		}
		cp.n = build_pool(e, cp.node, cp.kind);
		e->sig_learned = 0;
		kb_engine__check_stop(e); /* pooled evidence may settle it: then test nothing */
		if (e->stop != KB_STOP_RUNNING) {
			cpool_free(&cp);
			return 0;
		}
	}
	top = kb_model_top(e->m, &p);
	if (top != KB_MODEL_NONE && p >= (e->opt.workers > 1 ? MUST_EARLY * e->opt.confidence : e->opt.confidence)) {
		size_t need[MAX_GAPS], nn = kb_engine__evidence_gap(e, top, need, NULL);
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
	if (pre && n_pre && pl->n && kb_engine__prefetch_n(e)) {
		size_t want = kb_engine__prefetch_n(e);
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

