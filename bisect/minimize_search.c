/*
 * bisect/minimize_search.c - the logic of config minimization (kbisect/minimize.h):
 * the Bayesian judge of a flaky predicate and the subset search over an option list.
 * Owns: P(a subset still crashes | clean runs) for q ~ Beta(a, b), the verdict, the
 * binary search for the shortest crashing prefix.
 * Not: configs (minimize_config.c), builds and runs (minimize.c).
 * DESIGN: one target crash proves a subset still has the bug (the title matched);
 * clean runs only make it less likely, by E[(1-q)^m] under the posterior of q learned
 * on BIG: the judge stops when that makes P(crashes) < 1 - confidence. The search
 * keeps the invariant "SMALL + needed + cand[0..hi) crashes" and moves hi down by
 * halving [lo, hi); the option at hi-1 of the shortest crashing prefix is needed
 * (without it the prefix before it did not crash). Options needed together (A
 * depends on B, or the bug needs both) come out one search each.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "kbisect/minimize.h"

void kb_judge_init(kb_judge *j, unsigned crashes, unsigned clean, double confidence)
{
	j->a = 1.0 + crashes;
	j->b = 1.0 + clean;
	j->prior = 0.5;
	j->confidence = confidence > 0 && confidence < 1 ? confidence : 0.99;
}

/* E[(1-q)^m] for q ~ Beta(a, b): prod_{i<m} (b+i)/(a+b+i) */
static double clean_likelihood(const kb_judge *j, unsigned m)
{
	double l = 0;

	for (unsigned i = 0; i < m; i++)
		l += log((j->b + i) / (j->a + j->b + i));
	return exp(l);
}

double kb_judge_p_crashes(const kb_judge *j, unsigned clean)
{
	double e = clean_likelihood(j, clean);
	double num = j->prior * e;

	return num / (num + (1 - j->prior));
}

unsigned kb_judge_clean_needed(const kb_judge *j)
{
	for (unsigned m = 0; m <= KB_JUDGE_MAX_RUNS; m++)
		if (kb_judge_p_crashes(j, m) < 1 - j->confidence)
			return m;
	return KB_JUDGE_MAX_RUNS + 1;
}

int kb_judge_verdict(const kb_judge *j, unsigned target_crashes, unsigned clean)
{
	if (target_crashes)
		return KB_JUDGE_CRASHES;
	if (kb_judge_p_crashes(j, clean) < 1 - j->confidence)
		return KB_JUDGE_CLEAN;
	return KB_JUDGE_MORE;
}

/* ---- the search ---- */

/* test needed[0..nn) + cand[0..k) (sorted into buf) */
static int test_union(kb_minimize_test_fn test, void *ctx, const size_t *needed, size_t nn,
		      const size_t *cand, size_t k, size_t *buf, int *crashes)
{
	size_t n = 0;

	for (size_t i = 0; i < nn; i++)
		buf[n++] = needed[i];
	for (size_t i = 0; i < k; i++)
		buf[n++] = cand[i];
	for (size_t i = 1; i < n; i++) /* insertion sort: n is small, the order is mostly set */
		for (size_t p = i; p > 0 && buf[p - 1] > buf[p]; p--) {
			size_t t = buf[p];
			buf[p] = buf[p - 1];
			buf[p - 1] = t;
		}
	return test(ctx, buf, n, crashes);
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

int kb_minimize_search(kb_minimize_found *out, size_t n_options, kb_minimize_test_fn test,
		       void *ctx)
{
	size_t *needed = malloc((n_options + 1) * sizeof(size_t));
	size_t *cand = malloc((n_options + 1) * sizeof(size_t));
	size_t *buf = malloc((n_options + 1) * sizeof(size_t));
	size_t nn = 0, nc = n_options;
	int rc = 0, crashes = 0;

	memset(out, 0, sizeof(*out));
	if (!needed || !cand || !buf) {
		free(needed), free(cand), free(buf);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory (%zu options)", n_options);
	}
	for (size_t i = 0; i < n_options; i++)
		cand[i] = i;
	for (;;) {
		/* SMALL + needed alone: done when it crashes */
		out->tests++;
		if ((rc = test_union(test, ctx, needed, nn, cand, 0, buf, &crashes)) != 0)
			break;
		if (crashes) {
			out->confirmed = 1;
			break;
		}
		if (nc == 0) /* a clean verdict was wrong somewhere: keep what was found */
			break;
		/* needed + cand[0..lo) does not crash, needed + cand[0..hi) does */
		size_t lo = 0, hi = nc;
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			out->tests++;
			if ((rc = test_union(test, ctx, needed, nn, cand, mid, buf, &crashes)) != 0)
				goto done;
			if (crashes)
				hi = mid;
			else
				lo = mid;
		}
		needed[nn++] = cand[hi - 1];
		nc = hi - 1;
	}
done:
	free(cand);
	free(buf);
	if (rc) {
		free(needed);
		out->confirmed = 0;
		return rc;
	}
	qsort(needed, nn, sizeof(size_t), cmp_size);
	out->needed = needed;
	out->n_needed = nn;
	return 0;
}

void kb_minimize_found_free(kb_minimize_found *f)
{
	if (!f)
		return;
	free(f->needed);
	f->needed = NULL;
	f->n_needed = 0;
}
