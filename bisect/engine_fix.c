/*
 * bisect/engine_fix.c - what fix bisection (issue 22, kb_engine_opts.fix) changes in the
 * engine: the stop rule's direct evidence, the runs given to likely fixes, the
 * "nothing testable after it" flag.
 * Owns: kb_engine__evidence_gap_fix(), kb_engine__fix_top_up(),
 * kb_engine__fix_untestable_after(), the runs that rule out a lowered rate
 * (kb_engine__fix_lowered_rate(), kb_engine__fix_runs_needed()).
 * Not: the model's inverted direction (bisect/model_post.c, kb_model_opts.fix), the
 * check of the fixed commit after calibration (bisect/engine.c check_fixed()), the
 * cause rule (bisect/engine_stop.c kb_engine__evidence_gap()).
 * DESIGN: the evidence is asymmetric. One target crash shows that a kernel still has
 * the bug (up to the false-crash rate); clean runs only make it less likely, the less so
 * the lower q is. So the roles of the cause rule swap: the fix's own kernel must be
 * clean as a cause's parent must be (clean runs enough for the low end of a buggy
 * kernel's rate learned on the crashing commit, from two separately booted tests, no
 * more target crashes than false crashes explain, not explainable as frozen tests),
 * and each parent
 * of the fix that builds must show the target crash once (the crashing commit did at
 * calibration; a parent outside the range is an ancestor of the crashing commit and
 * taken to have the bug, as git bisect does). What makes a target crash on the fix
 * count is the model's false-crash rate, at most 1% in fix mode (KB_MODEL__FIX_EPS_MAX,
 * where cause mode allows 10%): a partial fix that only lowers q (to 0.15, say) must
 * not pass for a fixed kernel with false crashes.
 * A partial fix that lowers q further is the harder case (t3201 named one at p = 0.9911
 * after 46 clean runs of a kernel crashing at a tenth of q): so the fix's own kernel
 * must also have run long enough that a kernel whose rate was lowered to
 * r = KB_MODEL__FIX_LOWERED_TO (a 20th) of q_low, the 5% quantile of the crashing
 * commit's own rate (Beta(target + 1, clean + 1) of its runs), would have shown more
 * target crashes than it did with probability >= the confidence: with no crash,
 * (1 - r)^runs <= 1 - confidence. r is raised to the rate FIX_CLEAN_CAP clean runs rule
 * out (1.8% at 0.99) when it is lower, so a reproducer with q_low < 0.36 does not ask
 * for hundreds more runs: below that the guarantee is 1.8%, not q_low / 20. The
 * model's half of it is bisect/model_fix.c (a prior share of buggy kernels with a
 * lowered rate), without which the crashes of such a kernel read as false crashes.
 */
#include <math.h>
#include <stdlib.h>

#include "kbisect/engine.h"
#include "model_internal.h"
#include "engine_internal.h"

#define FIX_LIKELY 0.05 /* posterior from which a candidate fix gets its clean runs */
#define FIX_TOPUP_MARGIN 1.25 /* as TOPUP_MARGIN in engine_choose.c */
#define FIX_CLEAN_CAP 256 /* kb_engine__fix_runs_needed(): see there */
#define FIX_RUNS_MAX 4096 /* kb_engine__fix_runs_needed() counts no further */
#define FIX_Q_QUANTILE 0.05 /* of the crashing commit's own rate */

/* the q-quantile of Beta(a, b) (a, b >= 1), on a grid of 2,000 points */
static double beta_quantile(double a, double b, double q)
{
	enum { STEPS = 2000 };
	double mx = -INFINITY, x[STEPS], ld[STEPS];

	for (int i = 0; i < STEPS; i++) {
		x[i] = (i + 0.5) / STEPS;
		ld[i] = (a - 1) * log(x[i]) + (b - 1) * log1p(-x[i]);
		if (ld[i] > mx)
			mx = ld[i];
	}
	for (int i = 0; i < STEPS; i++)
		ld[i] = exp(ld[i] - mx);
	return kb_model__grid_quantile(x, ld, STEPS, q);
}

double kb_engine__fix_lowered_rate(const kb_engine *e)
{
	unsigned t, c;

	kb_model_evidence(e->m, e->opt.bad, &t, &c, NULL);
	return KB_MODEL__FIX_LOWERED_TO * beta_quantile(t + 1.0, c + 1.0, FIX_Q_QUANTILE);
}

unsigned kb_engine__fix_runs_needed(const kb_engine *e, unsigned target)
{
	double miss = 1 - e->opt.confidence, r = kb_engine__fix_lowered_rate(e);
	double r_cap = 1 - pow(miss, 1.0 / FIX_CLEAN_CAP);
	unsigned n;

	if (!(r > r_cap))
		r = r_cap;
	if (r >= 1)
		return target + 1;
	if (target > FIX_RUNS_MAX / 64)
		return FIX_RUNS_MAX; /* crashes too often to pass for fixed */
	n = target + (unsigned)ceil(log(miss) / log1p(-r)); /* enough for target == 0 */
	while (n < FIX_RUNS_MAX && kb_model__binom_cdf(target, n, r) > miss)
		n++;
	return n;
}

/* 1 if a kernel at the lowered rate would show node's target crashes or fewer in node's
 * runs with probability above 1 - confidence (kb_engine__fix_runs_needed()) */
static int lowered_short(const kb_engine *e, size_t node)
{
	unsigned t, c;

	kb_model_evidence(e->m, node, &t, &c, NULL);
	return t + c < kb_engine__fix_runs_needed(e, t);
}

size_t kb_engine__evidence_gap_fix(const kb_engine *e, size_t top, size_t *need,
				   const char **why)
{
	size_t n = 0, np = kb_model_n_parents(e->m, top);
	double eps_hi, q_frz = kb_engine__frozen_rate(e);
	const char *w = NULL;
	static const char *const short_why[] = {
		NULL,
		"the fix has too few clean runs for the rate learned on the crashing commit",
		"the fix's clean evidence does not come from two separately booted tests with "
		"N/2 clean runs each",
		"the fix's target crashes are more than false crashes explain",
		"the fix's clean tests could each be one frozen outcome of a buggy kernel "
		"(all-or-nothing tests): one more boot is asked",
	};
	int sh;

	kb_model_misfit(e->m, &eps_hi, NULL, NULL);
	if (e->rec[top].built < 0)
		w = "the fix's own kernel cannot be tested (build or boot failed)", need[n++] = top;
	else if (lowered_short(e, top))
		w = "the fix's clean runs do not yet rule out a rate that a partial fix lowered "
		    "(to a 20th of the crashing commit's, or 1.8%)", need[n++] = top;
	else if ((sh = kb_engine__clean_short(e, top, eps_hi, q_frz)) != 0)
		w = short_why[sh], need[n++] = top;
	for (size_t i = 0; i < np && n < MAX_GAPS; i++) {
		size_t par = kb_model_parent(e->m, top, i);
		unsigned t;
		if (e->rec[par].built < 0)
			continue;
		kb_model_evidence(e->m, par, &t, NULL, NULL);
		if (t == 0) {
			need[n++] = par;
			if (!w)
				w = "no target crash on a parent of the fix yet";
		}
	}
	if (why)
		*why = w;
	return n;
}

void kb_engine__fix_top_up(kb_engine *e, kb_engine_request *rq, size_t n)
{
	unsigned cap = KB_ENGINE_MAX_RUNS, need_clean = kb_engine__clean_needed(e);
	double useful = e->runs_asked ? (double)e->runs_told / e->runs_asked : 0.9;

	if (cap > KB_ENGINE_MAX_RUNS)
		cap = KB_ENGINE_MAX_RUNS;
	if (e->opt.fixed_runs)
		return;
	if (useful < 0.5)
		useful = 0.5;
	for (size_t j = 0; j < n; j++) {
		size_t h = rq[j].node;
		unsigned clean, target, need;
		if (e->m->post[h] < FIX_LIKELY)
			continue;
		kb_model_evidence(e->m, h, &target, &clean, NULL);
		need = kb_engine__fix_runs_needed(e, target) - target;
		if (need < need_clean)
			need = need_clean;
		if (clean >= need)
			continue;
		double left = FIX_TOPUP_MARGIN * need - clean;
		unsigned want = (unsigned)ceil(left / useful);
		if (want > cap)
			want = cap;
		if (rq[j].runs < want)
			rq[j].runs = want;
	}
}

int kb_engine__fix_untestable_after(const kb_engine *e, size_t top)
{
	int any = 0;

	if (!e->opt.fix || top >= e->n)
		return 0;
	if (e->rec[top].built < 0)
		return 1;
	for (size_t c = top; c < e->n; c++) {
		if (!kb_model_is_ancestor(e->m, top, c) || !e->rec[c].tests)
			continue;
		any = 1;
		if (e->rec[c].built >= 0 && e->rec[c].target + e->rec[c].clean > 0)
			return 0;
	}
	return any;
}
