/*
 * analyze/analyze_walk.c - false negatives: how likely each "good" verdict of a log is a
 * kernel with the bug whose runs happened to stay clean, and how the release walk's good
 * verdict reaches the reported culprit's probability.
 * Owns: kb_astep.p_fn, kb_analysis.walk_step/walk_fn/model_prob.
 * Not: the model (bisect/model.c) or the per-step likelihood ratios (analyze/analyze.c).
 * DESIGN: a verdict "good" from n clean runs (t target crashes) is a false negative with
 * probability pi*Lb / (pi*Lb + (1-pi)*Lc), where Lb = E[q^t (1-q)^n] over the Beta fitted
 * to the posterior of the reproduction rate q (so a flaky reproducer, or one whose rate
 * the log leaves uncertain, makes a clean verdict weak) and Lc = eps^t (1-eps)^n; pi =
 * 1/2 (the verdict alone says nothing of which side the kernel is on). The release walk
 * bounds git's range: if its good release has the bug, the culprit is older than the
 * whole range and the reported one is wrong whatever git then found. The model's chain
 * cannot say this (it places every git pick above the release, while in the kernel's
 * DAG most picks sit on branches that do not descend from it), so the release's p_fn
 * multiplies the culprit's probability: p = p_model * (1 - p_fn(release)).
 */
#include <math.h>
#include <string.h>

#include "analyze_internal.h"

/* Prior probability that a kernel given a "good" verdict has the bug, before its runs. */
#define FN_PRIOR 0.5

/* log B(x, y); shared with analyze.c's step likelihood ratio. */
double kb_analyze__lbeta(double x, double y)
{
	return lgamma(x) + lgamma(y) - lgamma(x + y);
}

/* P(the kernel has the bug | t target crashes, c clean runs, "good" verdict). */
static double false_negative(const kb_analysis *a, unsigned t, unsigned c)
{
	double qa = a->q_alpha, qb = a->q_beta, e = a->eps_judge, lb, lc, x;

	if (!(qa > 0 && qb > 0 && e > 0 && e < 1))
		return -1;
	lb = kb_analyze__lbeta(qa + t, qb + c) - kb_analyze__lbeta(qa, qb);
	lc = t * log(e) + c * log1p(-e);
	/* FN_PRIOR = 1/2: the odds are the likelihood ratio */
	x = lb - lc + log(FN_PRIOR / (1 - FN_PRIOR));
	return x > 40 ? 1 : 1 / (1 + exp(-x));
}

void kb_analyze__release_walk(kb_analysis *a)
{
	const kb_analyze_log *log = a->log;
	int g = -1;

	a->model_prob = a->culprit_prob;
	a->walk_step = -1;
	a->walk_fn = 0;
	for (int i = 0; i < log->nsteps; i++) {
		kb_astep *s = &a->st[i];
		s->p_fn = -1;
		if (s->log_v == KB_AV_NOCRASH && s->pclean > 0)
			s->p_fn = false_negative(a, s->ptarget, s->pclean);
	}
	if (log->kind != KB_ALOG_CAUSE || a->culprit_step < 0)
		return;
	/* the good end of git's range when it is a release, else the last good release */
	if (log->bisect_good[0]) {
		int j = kb_analyze__find_step(log, log->bisect_good);
		if (j >= 0 && log->steps[j].phase == KB_ALOG_PHASE_RELEASE)
			g = j;
	}
	for (int i = 0; i < log->nsteps && g < 0; i++)
		if (log->steps[i].phase == KB_ALOG_PHASE_RELEASE && a->st[i].log_v == KB_AV_NOCRASH)
			g = i; /* the first good release ends the walk */
	if (g < 0 || a->st[g].p_fn < 0)
		return;
	a->walk_step = g;
	a->walk_fn = a->st[g].p_fn;
	a->culprit_prob = a->model_prob * (1 - a->walk_fn);
	a->supported = a->culprit_prob >= KB_ANALYZE_SUPPORT &&
		       !kb_analyze__culprit_inert_reason(a) && !a->no_original_crash;
}
