/*
 * bisect/simulate.c - synthetic bisections for the accuracy benchmark and tests.
 * Owns: random histories, the hidden culprit, the simulated reproducer, build cache
 * and clock (an engine oracle), and the two baseline strategies.
 * Not: the model or the engine (bisect/model.c, bisect/engine.c), which are driven
 * exactly as the real builder and VM pool drive them.
 * DESIGN: everything derives from the seed: the history and culprit from opts.seed,
 * run outcomes from a per-strategy stream, so strategies face the same history and
 * the same kind of noise. Wall time: a round lasts the build time if it builds
 * anything, plus the test time; workers of a round run in parallel.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "kbisect/simulate.h"
#include "model_internal.h"

#define NOPAR SIZE_MAX
#define TITLE_A "general protection fault in vmx_vcpu_run"
#define TITLE_B "KASAN: use-after-free Read in vmx_vcpu_run"

struct kb_sim {
	kb_sim_opts o;
	size_t n;
	size_t *p0, *p1;       /* parents in range, NOPAR if none */
	uint8_t *unbuild, *nonkernel, *buggy;
	size_t *ident;         /* kernel identity: node whose kernel this node builds */
	size_t culprit;
	size_t partial;        /* fix mode: the partial fix (NOPAR: none) */
	uint8_t *part;         /* fix mode: the partial fix is an ancestor-or-self */
	size_t n_cand;         /* commits the culprit is drawn from (uniformly) */
	/* oracle state */
	uint64_t rng;
	double clock;
	int8_t *state;         /* per identity: 0 not built, 1 built, -1 failed */
	uint8_t *prebuilt;     /* per identity: built speculatively, not tested yet */
	unsigned builds, tests, runs, rounds;
	size_t pend[64], n_pend; /* speculative builds asked for the coming round */
	unsigned workers;      /* build slots for them (the engine's k) */
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double urand(uint64_t *x)
{
	return (double)(splitmix(x) >> 11) / 9007199254740992.0;
}

static size_t irand(uint64_t *x, size_t n)
{
	return n ? (size_t)(splitmix(x) % n) : 0;
}

const char *kb_sim_strategy_name(int strategy)
{
	switch (strategy) {
	case KB_SIM_ENGINE: return "kbisect";
	case KB_SIM_GIT_ANY: return "git-any-crash";
	case KB_SIM_SYZKALLER: return "syzkaller";
	}
	return "unknown";
}

void kb_sim_free(kb_sim *s)
{
	if (!s)
		return;
	free(s->p0), free(s->p1), free(s->unbuild), free(s->nonkernel), free(s->buggy);
	free(s->part);
	free(s->ident), free(s->state), free(s->prebuilt);
	free(s);
}

static double def(double v, double d)
{
	return v == 0 ? d : (v < 0 ? 0 : v);
}

static int identifiable(const kb_sim *s, size_t i)
{
	return !s->unbuild[i] && !s->nonkernel[i] &&
	       (s->p0[i] == NOPAR || !s->unbuild[s->p0[i]]) &&
	       (s->p1[i] == NOPAR || !s->unbuild[s->p1[i]]);
}

/* Fix mode: buggy[] so far says "the fix is an ancestor-or-self"; invert it, and draw
 * the partial fix (partial_q > 0) among the fix's identifiable proper ancestors other
 * than the crashing commit. 0, or -1 on out of memory. */
static int sim_fix_setup(kb_sim *s, uint64_t *r)
{
	uint8_t *anc = calloc(s->n, 1);
	size_t n_anc = 0;

	if (!anc)
		return -1;
	anc[s->culprit] = 1;
	for (size_t i = s->n; i-- > 0;) /* parents have smaller indices */
		if (anc[i]) {
			if (s->p0[i] != NOPAR)
				anc[s->p0[i]] = 1;
			if (s->p1[i] != NOPAR)
				anc[s->p1[i]] = 1;
		}
	for (size_t i = 1; i < s->n; i++)
		n_anc += anc[i] && i != s->culprit && identifiable(s, i);
	if (s->o.partial_q > 0 && n_anc) {
		size_t pick = irand(r, n_anc);
		for (size_t i = 1; i < s->n; i++)
			if (anc[i] && i != s->culprit && identifiable(s, i) && pick-- == 0) {
				s->partial = i;
				break;
			}
		for (size_t i = 0; i < s->n; i++)
			s->part[i] = i == s->partial ||
				     (s->p0[i] != NOPAR && s->part[s->p0[i]]) ||
				     (s->p1[i] != NOPAR && s->part[s->p1[i]]);
	}
	for (size_t i = 0; i < s->n; i++)
		s->buggy[i] = !s->buggy[i];
	free(anc);
	return 0;
}

int kb_sim_new(kb_sim **out, const kb_sim_opts *opts)
{
	kb_sim_opts o = { 0 };
	kb_sim *s;
	uint64_t r;
	size_t count = 0, tip = NOPAR, *mainline, n_main = 0, n_cand = 0;

	if (!out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "kb_sim_new: out is NULL");
	*out = NULL;
	if (opts)
		o = *opts;
	if (!o.n)
		o.n = 1000;
	o.q = def(o.q, 0.5);
	o.eps = def(o.eps, 0);
	o.infra_rate = def(o.infra_rate, 0.05);
	o.lost_rate = def(o.lost_rate, 0.02);
	o.other_rate = def(o.other_rate, 0.01);
	o.unbuildable = def(o.unbuildable, 0.01);
	o.nonkernel = def(o.nonkernel, 0.1);
	o.burst_infra = def(o.burst_infra, 0.6);
	o.build_seconds = def(o.build_seconds, 420);
	o.test_seconds = def(o.test_seconds, 540);
	if (o.q_max > 0 && !(o.q_min > 0 && o.q_min <= o.q_max && o.q_max <= 1))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "bad simulation options: per-kernel rates need "
				     "0 < q_min <= q_max <= 1");
	if (o.job_latency < 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "bad simulation options: "
				     "job_latency is seconds >= 0");
	if (o.aon_share < 0 || o.aon_share > 1 || o.burst_share < 0 || o.burst_share > 1 ||
	    o.burst_infra > 1)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "bad simulation options: aon_share, burst_share and "
				     "burst_infra are shares in [0,1]");
	if (o.n < 2 || o.n > KB_MODEL_MAX_NODES || o.q > 1 || o.eps >= 1 ||
	    (o.shape != KB_SIM_LINEAR && o.shape != KB_SIM_MERGES))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "bad simulation options: need 2..%d commits, q in (0,1], "
				     "eps in [0,1), shape linear or merges", KB_MODEL_MAX_NODES);
	s = calloc(1, sizeof(*s));
	if (!s)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for a simulation");
	s->o = o;
	s->n = o.n;
	s->p0 = malloc(o.n * sizeof(size_t));
	s->p1 = malloc(o.n * sizeof(size_t));
	s->unbuild = calloc(o.n, 1);
	s->nonkernel = calloc(o.n, 1);
	s->buggy = calloc(o.n, 1);
	s->part = calloc(o.n, 1);
	s->ident = malloc(o.n * sizeof(size_t));
	s->state = calloc(o.n, 1);
	s->prebuilt = calloc(o.n, 1);
	mainline = malloc(o.n * sizeof(size_t));
	if (!s->p0 || !s->p1 || !s->unbuild || !s->nonkernel || !s->buggy || !s->part || !s->ident ||
	    !s->state || !s->prebuilt || !mainline) {
		free(mainline);
		kb_sim_free(s);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for a simulation");
	}
	r = o.seed * 0x2545F4914F6CDD1Dull + 1;
	while (count < o.n) {
		if (o.shape == KB_SIM_MERGES && count + 3 <= o.n && urand(&r) < 0.3) {
			size_t max_len = o.n - count - 1, len = 1 + irand(&r, max_len < 25 ? max_len : 25);
			size_t base = NOPAR;
			if (n_main && urand(&r) > 0.15)
				base = mainline[n_main - 1 - irand(&r, n_main < 150 ? n_main : 150)];
			for (size_t i = 0; i < len; i++, count++) {
				s->p0[count] = i ? count - 1 : base;
				s->p1[count] = NOPAR;
			}
			s->p0[count] = tip != NOPAR ? tip : count - 1;
			s->p1[count] = tip != NOPAR ? count - 1 : NOPAR;
		} else {
			s->p0[count] = tip;
			s->p1[count] = NOPAR;
		}
		tip = count;
		mainline[n_main++] = count;
		count++;
	}
	free(mainline);
	for (size_t i = 0; i < o.n; i++) {
		int merge = s->p1[i] != NOPAR;
		s->ident[i] = i;
		if (!merge && s->p0[i] != NOPAR && i != o.n - 1 && urand(&r) < o.nonkernel) {
			s->nonkernel[i] = 1;
			s->ident[i] = s->ident[s->p0[i]];
			s->unbuild[i] = s->unbuild[s->p0[i]];
		} else if (i != o.n - 1 && !(o.fix && i == 0) && urand(&r) < o.unbuildable) {
			s->unbuild[i] = 1;
			if (i + 1 < o.n - 1 && urand(&r) < 0.5)
				s->unbuild[i + 1] = 2; /* marked for the next node */
		}
		if (s->unbuild[i] == 2)
			s->unbuild[i] = 1;
	}
	/* the culprit changes the kernel, builds, and so do its parents (otherwise no
	 * bisection can tell it from them) */
	for (size_t i = o.fix ? 1 : 0; i < o.n; i++)
		n_cand += identifiable(s, i);
	{
		size_t pick = irand(&r, n_cand);
		s->n_cand = n_cand;
		for (size_t i = o.fix ? 1 : 0; i < o.n; i++)
			if (identifiable(s, i) && pick-- == 0) {
				s->culprit = i;
				break;
			}
	}
	for (size_t i = 0; i < o.n; i++)
		s->buggy[i] = i == s->culprit || (s->p0[i] != NOPAR && s->buggy[s->p0[i]]) ||
			      (s->p1[i] != NOPAR && s->buggy[s->p1[i]]);
	s->partial = NOPAR;
	if (o.fix && sim_fix_setup(s, &r) != 0) {
		kb_sim_free(s);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for a simulation");
	}
	*out = s;
	return 0;
}

size_t kb_sim_size(const kb_sim *s)
{
	return s ? s->n : 0;
}

size_t kb_sim_culprit(const kb_sim *s)
{
	return s ? s->culprit : KB_MODEL_NONE;
}

size_t kb_sim_partial(const kb_sim *s)
{
	return s && s->partial != NOPAR ? s->partial : KB_MODEL_NONE;
}

size_t kb_sim_candidates(const kb_sim *s)
{
	return s ? s->n_cand : 0;
}

/*
 * The bound is Shannon's: a strategy that always names the culprit answers a question
 * whose answer has log2(n_cand) bits of entropy (the culprit is drawn uniformly), and a
 * round of k tests has at most k + 1 outcomes on a chain (the tests above the culprit
 * are bad, the others good), at most 2^k on a DAG. So the mean number of rounds is at
 * least log2(n_cand) / log2(k + 1) (resp. / k), whatever the tests' noise, run counts
 * or speculation; the first round waits for a build, each round lasts a test round.
 * With workers that do not wait for each other the same holds per "generation" of
 * tests (those chosen before any of them reported), so asynchrony does not beat it.
 */
double kb_sim_bound_seconds(const kb_sim *s, unsigned k)
{
	double bits, per_round, rounds;

	if (!s || k == 0 || s->n_cand < 2)
		return 0;
	bits = log2((double)s->n_cand);
	per_round = s->o.shape == KB_SIM_LINEAR ? log2((double)k + 1) : (double)k;
	rounds = bits / per_round;
	if (rounds < 1)
		rounds = 1;
	return s->o.build_seconds + s->o.test_seconds * rounds;
}

int kb_sim_is_merge(const kb_sim *s, size_t node)
{
	return s && node < s->n && s->p1[node] != NOPAR;
}

int kb_sim_model(kb_model **out, const kb_sim *s, const kb_model_opts *opts)
{
	kb_model *m = NULL;
	kb_model_opts mo = { 0 };
	int rc;

	if (opts)
		mo = *opts;
	mo.fix = s->o.fix; /* the history's direction */
	rc = kb_model_new(&m, s->n, &mo);
	for (size_t i = 0; !rc && i < s->n; i++) {
		if (s->p0[i] != NOPAR)
			rc = kb_model_add_parent(m, i, s->p0[i]);
		if (!rc && s->p1[i] != NOPAR)
			rc = kb_model_add_parent(m, i, s->p1[i]);
	}
	if (!rc)
		rc = kb_model_finalize(m);
	if (rc) {
		kb_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* ---- the oracle ---- */

static int sim_cost(void *ctx, size_t node, int *kind)
{
	kb_sim *s = ctx;
	*kind = s->state[s->ident[node]] ? KB_COST_TEST : KB_COST_BUILD;
	return 0;
}

/* The target crash rate of node's kernel: q, or with per-kernel rates a draw from
 * [q_min, q_max] fixed by the kernel (its identity and the history's seed). */
static double kernel_rate(const kb_sim *s, size_t node)
{
	uint64_t h;

	if (!s->buggy[node])
		return s->o.eps;
	if (s->o.fix && s->part[node])
		return s->o.partial_q; /* after the partial fix, before the fix */
	if (!(s->o.q_max > 0))
		return s->o.q;
	h = s->o.seed * 0xD6E8FEB86659FD93ull ^ (s->ident[node] + 1) * 0x9E3779B97F4A7C15ull;
	return s->o.q_min + (s->o.q_max - s->o.q_min) * urand(&h);
}

static void sim_runs(kb_sim *s, size_t node, unsigned want, kb_engine_outcome *oc)
{
	double rate = kernel_rate(s, node), infra = s->o.infra_rate;
	int frozen = -1; /* all-or-nothing test: 1 every run crashes, 0 none does */

	if (s->o.aon_share > 0 && urand(&s->rng) < s->o.aon_share)
		frozen = urand(&s->rng) < rate;
	if (s->o.burst_share > 0 && urand(&s->rng) < s->o.burst_share)
		infra = s->o.burst_infra;
	oc->n_runs = 0;
	for (unsigned i = 0; i < want && i < KB_ENGINE_MAX_RUNS; i++) {
		kb_repro_run *run = &oc->runs[oc->n_runs];
		if (urand(&s->rng) < s->o.lost_rate)
			continue;
		memset(run, 0, sizeof(*run));
		if (urand(&s->rng) < infra) {
			run->klass = KB_RUN_INFRA;
			strcpy(run->title, "SYZFAIL: wrong response packet");
		} else if (frozen >= 0 ? frozen == 1 : urand(&s->rng) < rate) {
			run->klass = KB_RUN_CRASH;
			strcpy(run->title, urand(&s->rng) < 0.7 ? TITLE_A : TITLE_B);
		} else if (urand(&s->rng) < s->o.other_rate) {
			run->klass = KB_RUN_CRASH;
			snprintf(run->title, sizeof(run->title), "WARNING in unrelated_func%u",
				 (unsigned)irand(&s->rng, 5));
		} else {
			run->klass = KB_RUN_OK;
		}
		oc->n_runs++;
		s->runs++;
	}
}

static int sim_execute(void *ctx, const kb_engine_request *req, size_t n, kb_engine_outcome *out)
{
	kb_sim *s = ctx;
	double T = s->clock, end = T;

	s->rounds++;
	for (size_t i = 0; i < n; i++) {
		size_t node = req[i].node, id = s->ident[node];
		kb_engine_outcome *oc = &out[i];
		double t = T;
		uint64_t h = s->o.seed ^ (id * 0x9E3779B97F4A7C15ull);

		oc->build_start = oc->build_end = T;
		if (!s->state[id]) {
			s->builds++;
			oc->how = KB_COST_BUILD;
			t = oc->build_end = T + s->o.job_latency + s->o.build_seconds;
			s->state[id] = s->unbuild[node] ? -1 : 1;
		} else {
			oc->how = KB_COST_TEST;
			oc->prebuilt = s->prebuilt[id];
			s->prebuilt[id] = 0;
		}
		oc->test_start = oc->test_end = t;
		if (t > end)
			end = t;
		if (s->state[id] < 0) {
			oc->buildable = 0;
			continue;
		}
		oc->buildable = 1;
		oc->has_signature = 1;
		for (size_t k = 0; k < 4; k++) {
			uint64_t v = splitmix(&h);
			memcpy(oc->signature.b + 8 * k, &v, 8);
		}
		oc->same_as_parent = s->nonkernel[node];
		oc->test_end = t + s->o.job_latency + s->o.test_seconds;
		if (oc->test_end > end)
			end = oc->test_end;
		s->tests++;
		sim_runs(s, node, req[i].runs, oc);
	}
	/* speculative builds run on the build slots while the round's tests run: after the
	 * round's own builds, k at a time */
	if (s->n_pend) {
		int built = 0;
		for (size_t i = 0; i < n; i++)
			built |= out[i].how == KB_COST_BUILD;
		double b0 = T + (built ? s->o.job_latency + s->o.build_seconds : 0);
		unsigned k = s->workers ? s->workers : (unsigned)s->n_pend, slot = 0;
		for (size_t i = 0; i < s->n_pend; i++) {
			size_t id = s->ident[s->pend[i]];
			if (s->state[id])
				continue;
			s->builds++;
			s->state[id] = s->unbuild[s->pend[i]] ? -1 : 1;
			s->prebuilt[id] = 1;
			double e1 = b0 + (double)(slot / k + 1) *
				    (s->o.job_latency + s->o.build_seconds);
			if (e1 > end)
				end = e1;
			slot++;
		}
		s->n_pend = 0;
	}
	s->clock = end;
	return 0;
}

/* the engine's next candidates: those not built yet are built during the round's
 * tests (sim_execute); kernels at hand need nothing (pre-booting is free here) */
static int sim_prefetch(void *ctx, const size_t *nodes, size_t n, unsigned *n_built)
{
	kb_sim *s = ctx;

	s->n_pend = 0;
	*n_built = 0;
	for (size_t i = 0; i < n && s->n_pend < 64; i++) {
		int dup = 0;
		if (nodes[i] >= s->n || s->state[s->ident[nodes[i]]])
			continue;
		for (size_t j = 0; j < s->n_pend; j++)
			dup |= s->ident[s->pend[j]] == s->ident[nodes[i]];
		if (dup)
			continue;
		s->pend[s->n_pend++] = nodes[i];
		(*n_built)++;
	}
	return 0;
}

void kb_sim_oracle(kb_engine_oracle *out, kb_sim *s, uint64_t stream)
{
	s->rng = s->o.seed * 0x632BE59BD9B4E019ull + stream * 0x8CB92BA72F3D8DD7ull + 7;
	s->clock = 0;
	memset(s->state, 0, s->n);
	memset(s->prebuilt, 0, s->n);
	s->builds = s->tests = s->runs = s->rounds = 0;
	s->n_pend = 0;
	memset(out, 0, sizeof(*out));
	out->ctx = s;
	out->cost = sim_cost;
	out->execute = sim_execute;
	out->prefetch = sim_prefetch;
}

/* ---- baselines ---- */

enum { V_SKIP, V_GOOD, V_BAD };

static int verdict(int strategy, const kb_engine_outcome *oc, unsigned want, int *flaky)
{
	unsigned crash = 0, clean = 0, syzfail = 0;

	if (!oc->buildable)
		return V_SKIP;
	for (size_t i = 0; i < oc->n_runs; i++) {
		if (oc->runs[i].klass == KB_RUN_CRASH)
			crash++;
		else if (oc->runs[i].klass == KB_RUN_OK)
			clean++;
		else if (oc->runs[i].klass == KB_RUN_INFRA)
			syzfail++;
	}
	if (strategy == KB_SIM_GIT_ANY) {
		if (!oc->n_runs)
			return V_SKIP;
		return crash + syzfail ? V_BAD : V_GOOD;
	}
	unsigned need = want / 6 > 2 ? want / 6 : 2;
	if (crash >= need) {
		if (clean)
			*flaky = 1;
		return V_BAD;
	}
	if (crash == 0 && clean >= want / 2)
		return V_GOOD;
	if (crash)
		*flaky = 1;
	return V_SKIP;
}

static double fx(double x)
{
	return x > 0 ? -x * log(x) : 0;
}

/* k-way bisection: greedy partition entropy with uniform mass over the candidates */
static size_t base_choose(const kb_model *m, const uint64_t *cand, const uint8_t *skip,
			  unsigned k, size_t *pick)
{
	size_t W = m->words, np = 0, ncells = 1;
	uint64_t *cells = calloc(64 * W, sizeof(uint64_t));

	if (!cells)
		return 0;
	memcpy(cells, cand, W * sizeof(uint64_t));
	while (np < k) {
		double best = 1e-9;
		size_t bc = SIZE_MAX;
		for (size_t c = 0; c < m->n; c++) {
			if (!((cand[c / 64] >> (c % 64)) & 1) || skip[c])
				continue;
			int dup = 0;
			for (size_t i = 0; i < np; i++)
				dup |= pick[i] == c;
			if (dup)
				continue;
			const uint64_t *row = kb_model__row(m, c);
			double g = 0;
			for (size_t j = 0; j < ncells; j++) {
				const uint64_t *cl = cells + j * W;
				size_t in = 0, all = 0;
				for (size_t w = 0; w < W; w++) {
					all += (size_t)__builtin_popcountll(cl[w]);
					if (w <= c / 64)
						in += (size_t)__builtin_popcountll(cl[w] & row[w]);
				}
				g += fx((double)in) + fx((double)(all - in)) - fx((double)all);
			}
			if (g > best)
				best = g, bc = c;
		}
		if (bc == SIZE_MAX)
			break;
		pick[np++] = bc;
		{
			const uint64_t *row = kb_model__row(m, bc);
			size_t nc = ncells;
			for (size_t j = 0; j < nc && ncells < 64; j++) {
				uint64_t *cl = cells + j * W, *nw = cells + ncells * W;
				int any = 0;
				for (size_t w = 0; w < W; w++) {
					nw[w] = cl[w] & row[w];
					cl[w] &= ~row[w];
					any |= nw[w] != 0;
				}
				if (any)
					ncells++;
			}
		}
	}
	free(cells);
	return np;
}

static int run_baseline(kb_sim *s, int strategy, unsigned k, kb_sim_outcome *out)
{
	kb_model *m = NULL;
	kb_engine_oracle o;
	uint64_t *cand;
	uint8_t *skip;
	int rc = kb_sim_model(&m, s, NULL), flaky = 0;
	size_t W;

	if (rc)
		return rc;
	W = m->words;
	cand = calloc(W, sizeof(uint64_t));
	skip = calloc(s->n, 1);
	if (!cand || !skip) {
		free(cand), free(skip);
		kb_model_free(m);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory for a baseline");
	}
	memcpy(cand, kb_model__row(m, s->n - 1), W * sizeof(uint64_t));
	if (s->o.fix)
		cand[0] &= ~1ull; /* the crashing commit is not the fix */
	kb_sim_oracle(&o, s, (uint64_t)strategy * 1000 + k);
	out->culprit = KB_MODEL_NONE;
	if (strategy == KB_SIM_SYZKALLER) { /* syzkaller first checks the bad commit */
		kb_engine_request rq = { .node = s->o.fix ? 0 : s->n - 1, .runs = 20 };
		kb_engine_outcome oc;
		memset(&oc, 0, sizeof(oc));
		sim_execute(s, &rq, 1, &oc);
		if (verdict(strategy, &oc, 20, &flaky) != V_BAD)
			goto done;
	}
	for (int round = 0; round < 60; round++) {
		size_t pick[64], np, left = 0;
		kb_engine_request rq[64];
		kb_engine_outcome *oc;
		unsigned want = strategy == KB_SIM_SYZKALLER && flaky ? 20 : 10;

		for (size_t w = 0; w < W; w++)
			left += (size_t)__builtin_popcountll(cand[w]);
		if (left <= 1) {
			if (left == 1)
				for (size_t c = 0; c < s->n; c++)
					if ((cand[c / 64] >> (c % 64)) & 1)
						out->culprit = c;
			break;
		}
		np = base_choose(m, cand, skip, k, pick);
		if (!np)
			break; /* only skipped commits left */
		for (size_t i = 0; i < np; i++)
			rq[i].node = pick[i], rq[i].runs = want, rq[i].worker = (unsigned)i;
		oc = calloc(np, sizeof(*oc));
		if (!oc) {
			rc = kb_error_set(KB_ERRCLASS_OS, "out of memory for a baseline");
			break;
		}
		sim_execute(s, rq, np, oc);
		for (size_t i = 0; i < np; i++) {
			int v = verdict(strategy, &oc[i], want, &flaky);
			const uint64_t *row = kb_model__row(m, pick[i]);
			if (v == V_SKIP)
				skip[pick[i]] = 1;
			for (size_t w = 0; w < W && v != V_SKIP; w++)
				cand[w] = (v == V_BAD) != (s->o.fix != 0) ? cand[w] & row[w]
									  : cand[w] & ~row[w];
		}
		free(oc);
	}
done:
	out->found = out->culprit != KB_MODEL_NONE;
	out->correct = out->culprit == s->culprit;
	out->in_set = out->correct;
	free(cand), free(skip);
	kb_model_free(m);
	return rc;
}

/* one line of the engine's log on stderr (KB_SIM_DEBUG_LOG set: kb-accuracy --replay) */
static void log_stderr(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s\n", line);
}

int kb_sim_run(kb_sim *s, int strategy, unsigned k, const kb_engine_opts *eopts,
	       kb_sim_outcome *out)
{
	int rc;

	if (!s || !out || k == 0 || k > 64)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT,
				     "kb_sim_run needs a simulation and 1..64 workers");
	memset(out, 0, sizeof(*out));
	if (strategy == KB_SIM_GIT_ANY || strategy == KB_SIM_SYZKALLER) {
		rc = run_baseline(s, strategy, k, out);
	} else if (strategy == KB_SIM_ENGINE) {
		kb_model *m = NULL;
		kb_engine *e = NULL;
		kb_engine_oracle o;
		kb_engine_opts eo = { 0 };
		kb_bisect_result r;

		if (eopts)
			eo = *eopts;
		eo.workers = k;
		eo.bad = s->o.fix ? 0 : s->n - 1;
		eo.fix = s->o.fix;
		eo.build_seconds = s->o.build_seconds;
		eo.test_seconds = s->o.test_seconds;
		if (!eo.target_title)
			eo.target_title = TITLE_A;
		rc = kb_sim_model(&m, s, NULL);
		if (rc)
			return rc;
		kb_sim_oracle(&o, s, 17 + k);
		if (getenv("KB_SIM_DEBUG_LOG")) /* the engine's log of a bench trial */
			o.log = log_stderr;
		s->workers = k; /* build slots for the speculative builds */
		rc = kb_engine_new(&e, m, &o, &eo);
		if (!rc)
			rc = kb_engine_run(e);
		if (!rc) {
			kb_engine_result(&r, e);
			out->culprit = r.culprit;
			out->probability = r.probability;
			out->stop = r.stop;
			out->prefetch_used = r.prefetch_used;
			out->found = r.culprit != KB_MODEL_NONE;
			out->correct = r.culprit == s->culprit;
			for (size_t i = 0; i < r.n_set; i++)
				out->in_set |= r.set[i] == s->culprit;
			if (getenv("KB_SIM_DEBUG_TRIAL")) { /* one line per bench trial */
				double eh, rho, spread;
				kb_model_misfit(m, &eh, &rho, &spread);
				fprintf(stderr, "trial: seed=%llu n=%zu found=%d correct=%d p=%.5f "
					"rounds=%u rho=%.3f spread=%.3f eps_hi=%.4f q=%.3f\n",
					(unsigned long long)s->o.seed, s->n, out->found, out->correct,
					r.probability, r.rounds, rho, spread, eh, r.q);
				fprintf(stderr, "  kpost");
				for (size_t k = 0; k < m->nk; k++)
					fprintf(stderr, " %g:%.3f", m->kgrid[k], m->kpost[k]);
				fprintf(stderr, " rpost");
				for (size_t k = 0; k < m->nr; k++)
					fprintf(stderr, " %g:%.3f", m->rgrid[k], m->rpost[k]);
				fprintf(stderr, "\n");
			}
		}
		kb_engine_free(e);
		kb_model_free(m);
	} else {
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "unknown strategy %d", strategy);
	}
	out->builds = s->builds, out->tests = s->tests, out->runs = s->runs;
	out->rounds = s->rounds;
	out->seconds = s->clock;
	return rc;
}
