/*
 * bisect/engine_stop.c - the engine's stop rule (issue 19): when the top commit may be
 * named (the posterior's confidence and the direct evidence asked of it and its
 * parents), when to stop with a credible set instead, the round budget.
 * Owns: kb_engine__check_stop(), kb_engine__evidence_gap(), kb_engine__budget(),
 * kb_engine__clean_short(), kb_engine__frozen_rate().
 * Not: the posterior (bisect/model_post.c), fix mode's evidence (bisect/engine_fix.c),
 * the choice of the next tests (bisect/engine_choose.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/engine.h"
#include "model_internal.h"
#include "engine_internal.h"

#define PARENT_TESTS 2 /* separately booted clean tests asked of a culprit's parent */
#define FROZEN_MISS 0.003 /* see kb_engine__evidence_gap(); below the 1% of a 0.99 answer */
#define UNSETTLED_ROUNDS 8 /* rounds at >= confidence the stop rule may refuse before a set */
#define BUDGET_STRETCH 4.0 /* the budget is stretched at most this many times (240 rounds) */
#define MISFIT_EPS 0.01 /* see misfit_seen() */
#define MISFIT_BURST_Z 3.09 /* ... a one-sided P of 0.001 */
#define MISFIT_RHO 0.15 /* ... tests freeze: a share of all-or-nothing tests of at least */
#define MISFIT_RHO_P 0.9 /* ... this much at this posterior probability */
/* the miss (1 - confidence) asked of a culprit is divided by this when misfit_seen(): the
 * measured overconfidence of the posterior under such reproducers (3-5x, all at once in
 * bench/accuracy/issue19/pass7.md) */
#ifndef MISFIT_TEMPER /* settable with -D to measure another (bench/accuracy/issue19/pass7.md) */
#define MISFIT_TEMPER 4.0
#endif

double kb_engine__binom_tail(unsigned x, unsigned n, double p)
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
 * explains (P(>= its crashes | its runs, eps_hi) >= KB_ENGINE__EXPLAINED_TAIL). */
static unsigned clean_tests(const kb_engine *e, size_t node, double eps_hi)
{
	const kb_model__group *g = &e->m->groups[e->m->group[node]];
	unsigned n = 0;

	for (size_t i = 0; i < g->n_tests; i++) {
		const kb_model__test *t = &g->tests[i];
		n += 2 * t->clean >= e->opt.runs_per_test &&
		     (!t->target || kb_engine__binom_tail(t->target, t->target + t->clean, eps_hi) >=
					    KB_ENGINE__EXPLAINED_TAIL);
	}
	return n;
}

/* A high estimate of the false-crash rate from every kernel but node's own: the
 * Clopper-Pearson 95% upper bound of their target crashes (kb_model__others()). A kernel's
 * crashes cannot be explained by a rate learned from them: a buggy parent taken for
 * clean and tested again and again raises eps until its own crashes look like false
 * ones (bench/accuracy/issue19/pass7.md). 1 when nothing tells. */
static double eps_others_hi(const kb_engine *e, size_t node)
{
	unsigned x, runs;

	kb_model__others(e->m, &e->m->groups[e->m->group[node]], &x, &runs);
	return kb_model__binom_upper(x, runs, 0.05);
}

/* node's t target crashes in t + c runs are more than false crashes explain: at eps's
 * 95% quantile, or at the rate the other kernels allow (eps_others_hi()) */
static int crashes_unexplained(const kb_engine *e, size_t node, unsigned t, unsigned c,
			       double eps_hi)
{
	if (!t)
		return 0;
	if (kb_engine__binom_tail(t, t + c, eps_hi) < KB_ENGINE__EXPLAINED_TAIL)
		return 1;
	return kb_engine__binom_tail(t, t + c, eps_others_hi(e, node)) < KB_ENGINE__EXPLAINED_TAIL;
}

/* What the stop rule still asks before naming top (issue 19): a target crash on top;
 * of each parent that builds, clean runs enough for a buggy one to have crashed
 * (kb_engine__clean_needed()), clean evidence from PARENT_TESTS separately booted tests (a test
 * counts if the false-crash rate explains its target crashes, if any), and no target
 * crashes over all its runs that the false-crash rate does not explain (P(>= its
 * crashes | its runs, eps at its 95% quantile) >= KB_ENGINE__EXPLAINED_TAIL), and tests that a
 * buggy kernel at the low end of a kernel's own rate (no lower than kb_engine__clean_needed()'s
 * cap covers) would have shown with probability at most FROZEN_MISS more than with
 * independent runs, over the posterior share of all-or-nothing tests (each all-clean test
 * could be one frozen outcome: two suffice while tests look independent, a third or
 * fourth boot is asked once all-crash or clean-on-buggy tests say that tests freeze,
 * or while too few tests tell). The good end of the
 * range is a parent too; it is not tested here, so a top with no parent in the range
 * must show the crash in two tests (one test's crash could be a false or a frozen one).
 * Fills need[] with the nodes to test (at most MAX_GAPS), returns their number; *why
 * gets the first reason (may be NULL). 0: top can be named. */
size_t kb_engine__evidence_gap(const kb_engine *e, size_t top, size_t *need, const char **why)
{
	static const char *const short_why[] = {
		NULL,
		"a parent has too few clean runs",
		"a parent's clean evidence does not come from two separately booted tests with N/2 "
		"clean runs each",
		"a parent's target crashes are more than false crashes explain",
		"a parent's clean tests could each be one frozen outcome of a buggy kernel "
		"(all-or-nothing tests): one more boot is asked",
	};
	unsigned t, tt;
	size_t n = 0, np = kb_model_n_parents(e->m, top);
	double eps_hi, q_frz;
	const char *w = NULL;

	if (e->opt.fix)
		return kb_engine__evidence_gap_fix(e, top, need, why);
	kb_model_misfit(e->m, &eps_hi, NULL, NULL);
	q_frz = kb_engine__frozen_rate(e);
	kb_model_evidence(e->m, top, &t, NULL, NULL);
	kb_model_tests(e->m, top, NULL, NULL, &tt);
	if (t == 0)
		w = "no target crash on it yet", need[n++] = top;
	else if (np == 0 && tt < PARENT_TESTS)
		w = "its parent is the good end, which is not tested: its own crash is asked "
		    "of two tests", need[n++] = top;
	for (size_t i = 0; i < np && n < MAX_GAPS; i++) {
		size_t par = kb_model_parent(e->m, top, i);
		int sh;
		if (e->rec[par].built < 0 || !(sh = kb_engine__clean_short(e, par, eps_hi, q_frz)))
			continue;
		need[n++] = par;
		if (!w)
			w = short_why[sh];
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
	kb_engine__log(e, "unsettled: the top commit holds the confidence but %s", e->why);
}

/* The round budget (issue 19). Given (--max-rounds): that. By default BUDGET_ROUNDS,
 * stretched (at most BUDGET_STRETCH times) by how much less than a clear verdict one test
 * now tells: the bits a test of this round's runs carries on "buggy or clean" (crash
 * seen or not, at the posterior mean rate, false-crash rate and share of all-or-nothing
 * tests, a kernel buggy or clean at even odds) against the same test without false
 * crashes or frozen outcomes. Under 3% false crashes at q = 0.2 a test tells ~0.3 bit
 * instead of ~1: a bisection needs about 3 times the rounds, and 60 rounds ended a fifth
 * of them with a set (bench/accuracy/issue19/pass5.md). Recomputed each round from
 * the posterior; where nothing is misspecified a test tells ~0.9 bit (60-70 rounds, and
 * such bisections end in 15-20). Fix mode keeps BUDGET_ROUNDS. */
unsigned kb_engine__budget(const kb_engine *e)
{
	double q, eps, rho;
	unsigned runs;

	if (!e->auto_budget || e->opt.fix)
		return e->opt.max_rounds;
	kb_model_rates(e->m, &q, NULL, NULL, &eps);
	kb_model_misfit(e->m, NULL, &rho, NULL);
	if (!(q > 0 && q < 1))
		return e->opt.max_rounds;
	runs = kb_engine__runs_now(e);
	double pb0 = 1 - pow(1 - q, runs);
	double pb = 1 - kb_model__clean_test_p(q, rho, runs);
	double pc = 1 - kb_model__clean_test_p(eps, rho, runs);
	double ideal = kb_model__even_info(pb0, 0), now = kb_model__even_info(pb, pc);
	double stretch = now > 0 && ideal > now ? ideal / now : 1;
	if (stretch > BUDGET_STRETCH || !(now > 0))
		stretch = BUDGET_STRETCH;
	return (unsigned)ceil(e->opt.max_rounds * stretch);
}

/* The z score of the dispersion of infra errors (and lost runs) over the tests: Pearson's
 * chi-square of "every test has the infra rate of all", df = tests - 1, as a normal
 * deviate by Wilson and Hilferty's cube root; 0 with fewer than 3 tests or no error. */
double kb_engine__infra_dispersion(const kb_engine *e)
{
	unsigned long inf = 0, asked = 0;
	unsigned n = 0;
	double x2 = 0;

	for (size_t i = 0; i < e->n_spans; i++)
		if (e->spans[i].asked)
			inf += e->spans[i].infra, asked += e->spans[i].asked, n++;
	if (n < 3 || !inf || inf >= asked)
		return 0;
	double p = (double)inf / asked, df = n - 1.0;
	for (size_t i = 0; i < e->n_spans; i++) {
		const struct span *s = &e->spans[i];
		if (!s->asked)
			continue;
		double ex = s->asked * p;
		x2 += (s->infra - ex) * (s->infra - ex) / (ex * (1 - p));
	}
	double v = 2 / (9 * df);
	return (cbrt(x2 / df) - (1 - v)) / sqrt(v);
}

double kb_engine__tests_freeze(const kb_engine *e)
{
	double p = 0;

	for (size_t r = 0; r < e->m->nr; r++)
		p += e->m->rgrid[r] >= MISFIT_RHO ? e->m->rpost[r] : 0;
	return p;
}

/* Why the data say that the reproducer or its host misbehaves in ways the model learns
 * only late (NULL when they do not): false target crashes at MISFIT_EPS of runs or more
 * not excluded (eps's 95% quantile), infra errors that come in bursts, some boots
 * hit far more than the rest (kb_engine__infra_dispersion() above MISFIT_BURST_Z), or
 * tests that freeze (all-or-nothing tests, a share of MISFIT_RHO or more at posterior
 * MISFIT_RHO_P: an all-crash test at a low rate, a clean test of a crashing kernel;
 * never while tests look independent, which keeps it at its prior of ~0.4). Each says a
 * test's outcome depends on more than the kernel, and with it the frozen tests and
 * low own rates the model learns only from many kernels become likely. */
static const char *misfit_seen(const kb_engine *e, char *buf, size_t len)
{
	double eps_hi, z = kb_engine__infra_dispersion(e), frz = kb_engine__tests_freeze(e);
	int n = 0;
	size_t told = 0; /* tests that ran (unbuildable commits run none) */

	for (size_t i = 0; i < e->n_spans; i++)
		told += e->spans[i].asked > 0;
	kb_model_misfit(e->m, &eps_hi, NULL, NULL);
	buf[0] = 0;
	if (eps_hi >= MISFIT_EPS)
		n = snprintf(buf, len, "false target crashes up to %.4f of runs are not excluded",
			     eps_hi);
	if (z > MISFIT_BURST_Z && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "%sinfra errors come in bursts "
			      "(dispersion z = %.1f over %zu tests)", n ? "; " : "", z, told);
	if (frz >= MISFIT_RHO_P && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%stests freeze (a share of all-or-nothing "
			 "tests of %.2f or more at P = %.3f)", n ? "; " : "", MISFIT_RHO, frz);
	return buf[0] ? buf : NULL;
}

double kb_engine__confidence(kb_engine *e)
{
	char why[320];

	if (e->opt.fix || !misfit_seen(e, why, sizeof(why)))
		return e->conf_asked = e->opt.confidence;
	double c = e->conf_asked = 1 - (1 - e->opt.confidence) / MISFIT_TEMPER;
	if (!e->tempered++)
		kb_engine__log(e, "the reproducer misbehaves (%s): a culprit is named at p >= %.4f, "
			       "not %.4f", why, c, e->opt.confidence);
	return c;
}

void kb_engine__check_stop(kb_engine *e)
{
	double p;
	size_t top = kb_model_top(e->m, &p), need[MAX_GAPS], n_need = 0;
	const char *why = NULL;
	/* asked only of a top past the confidence: early on, eps's quantile is its prior's */
	double conf = top != KB_MODEL_NONE && p >= e->opt.confidence ? kb_engine__confidence(e)
								       : e->opt.confidence;

	if (top != KB_MODEL_NONE && p >= conf)
		n_need = kb_engine__evidence_gap(e, top, need, &why);
	if (top == KB_MODEL_NONE && p >= e->opt.confidence)
		e->stop = KB_STOP_NONE;
	else if (top != KB_MODEL_NONE && p >= conf && !n_need)
		e->stop = KB_STOP_CONFIDENT;
	else if (n_need && ++e->unsettled > UNSETTLED_ROUNDS)
		stop_unsettled(e, need, n_need, why);
	else if (e->round >= kb_engine__budget(e) ||
		 (e->opt.max_seconds > 0 && e->tmax - e->t0 >= e->opt.max_seconds)) {
		e->stop = KB_STOP_BUDGET;
		if (n_need)
			stop_unsettled(e, need, n_need, why), e->stop = KB_STOP_BUDGET;
	}
	if (n_need && e->stop == KB_STOP_RUNNING) /* say why a confident top is not named yet */
		kb_engine__log(e, "%s holds the confidence (%.4f) but %s: testing %zu more",
			       kb_engine_node_name(e, top), p, why, n_need);
}

double kb_engine__frozen_rate(const kb_engine *e)
{
	double q_lo = kb_model_kernel_rate_quantile(e->m, 0.05);
	/* no lower than the rate kb_engine__clean_needed()'s cap still covers: a buggy kernel
	 * rarer than that passes its clean runs too */
	double q_cap = 1 - pow(PARENT_MISS, 1.0 / (6 * e->opt.runs_per_test));

	return q_lo > q_cap ? q_lo : q_cap;
}

int kb_engine__clean_short(const kb_engine *e, size_t node, double eps_hi, double q_frz)
{
	unsigned t, c;

	kb_model_evidence(e->m, node, &t, &c, NULL);
	if (c < kb_engine__clean_needed(e))
		return 1;
	if (clean_tests(e, node, eps_hi) < PARENT_TESTS)
		return 2;
	if (crashes_unexplained(e, node, t, c, eps_hi))
		return 3;
	if (kb_model_buggy_miss(e->m, node, q_frz, (e->opt.runs_per_test + 1) / 2) > FROZEN_MISS)
		return 4;
	return 0;
}
