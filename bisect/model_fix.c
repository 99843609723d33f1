/*
 * bisect/model_fix.c - fix mode's prior on a buggy kernel's own rate (issue 22): a
 * share of buggy kernels have a rate that a partial fix only lowered.
 * Owns: kb_model__fix_lowered() (the mixture into a kernel's buggy likelihood).
 * Not: the likelihood of a kernel's tests (bisect/model_post.c group_lik(), which calls
 * this in fix mode), the stop rule's clean runs for a lowered rate
 * (bisect/engine_fix.c).
 * DESIGN: in cause mode a buggy kernel's rate is drawn around the mean mu (a Beta with
 * its first shape at least 2: little mass below mu / 4). In fix mode that prior lets a
 * partial fix pass for the fix: a kernel crashing at a tenth of the crashing commit's
 * rate shows 46 clean runs one time in ten, and the Beta finds "clean" far likelier than
 * "buggy at mu / 10" (t3201 named the partial fix so, at p = 0.9911). So in fix mode a
 * buggy kernel's rate is, with prior probability KB_MODEL__FIX_LOWERED_SHARE, mu s with
 * s log-uniform on [KB_MODEL__FIX_LOWERED_TO, 1] (a rate lowered to between a 20th of
 * mu and mu), else drawn as in cause mode. The lowered part is integrated by the
 * midpoint rule in log s (LOWERED_POINTS points), at the rates themselves, not on the
 * q grid (whose lowest point, 0.0125, is above a 20th of most rates).
 */
#include <math.h>

#include "model_internal.h"

#define LOWERED_POINTS 24

void kb_model__fix_lowered(const kb_model *m, const kb_model__group *g, size_t r, double *lb)
{
	double rho = m->rgrid[r], lf = log(KB_MODEL__FIX_LOWERED_TO);
	double l_share = log(KB_MODEL__FIX_LOWERED_SHARE);
	double l_rest = log1p(-KB_MODEL__FIX_LOWERED_SHARE);

	for (size_t mu = 0; mu < m->nq; mu++) {
		double v[LOWERED_POINTS], mx = -INFINITY, s = 0, low;
		for (size_t j = 0; j < LOWERED_POINTS; j++) {
			double rate = m->qgrid[mu] * exp(lf * (j + 0.5) / LOWERED_POINTS);
			v[j] = kb_model__tests_ll(g, rate, rho);
			if (v[j] > mx)
				mx = v[j];
		}
		for (size_t j = 0; j < LOWERED_POINTS && mx > -INFINITY; j++)
			s += exp(v[j] - mx);
		low = mx > -INFINITY ? mx + log(s / LOWERED_POINTS) : -INFINITY;
		for (size_t k = 0; k < m->nk; k++) {
			double *out = &lb[(r * m->nq + mu) * m->nk + k], a = l_rest + *out,
			       b = l_share + low, hi = a > b ? a : b;
			if (hi > -INFINITY)
				*out = hi + log(exp(a - hi) + exp(b - hi));
		}
	}
}
