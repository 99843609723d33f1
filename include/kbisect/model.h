/*
 * kbisect/model.h - the Bayesian model of a bisection: which commit is the culprit,
 * and how sure we are.
 *
 * Hypotheses: each candidate node (a commit, or a block of commits with a prior weight)
 * is the culprit, plus one "no culprit in this range" entry (KB_MODEL_NONE).
 * Under "culprit is h", node c carries the bug iff h is an ancestor of c or c itself.
 * Evidence is per test (one boot, several runs): a run either shows the target crash or
 * runs clean; other outcomes (infra errors, other crashes, boot failures) are censored
 * and are passed only for bookkeeping. Each buggy kernel has its own per-run rate of
 * the target crash, drawn around a mean q; a clean kernel crashes at eps (another bug
 * with the same title; never 0); a share rho of tests are all-or-nothing (their runs
 * share one outcome). q, the spread, rho and eps are inferred on grids together with
 * the culprit (kb_model_opts.iid_runs: one q, independent runs, as before issue 19).
 * Nodes with the same kernel signature share one body of evidence (pooling); the pooled
 * kernel counts as buggy under h when h is an ancestor of any of them.
 *
 * Usage: kb_model_new(), kb_model_add_parent() for each edge (parents must have smaller
 * indices: nodes are given in topological order), kb_model_finalize(); then any number of
 * kb_model_add_runs() / kb_model_set_signature() followed by kb_model_update() and the
 * queries. The analyzer drives it on a synthetic DAG (tested commits of a log, each with
 * the weight of the revisions it stands for); the engine on the commits of a repository.
 * Not thread-safe; one handle per thread.
 */
#ifndef KBISECT_MODEL_H
#define KBISECT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kbisect/common.h"
#include "kbisect/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kb_model kb_model; /* body in bisect/model_internal.h */

/** Index standing for the "no culprit in this range" hypothesis. */
#define KB_MODEL_NONE ((size_t)-1)

/** Largest number of nodes of a model (the ancestor closure takes n*n/8 bytes). */
#define KB_MODEL_MAX_NODES 65536

/** Options of kb_model_new(); zero-initialise, 0 fields take the defaults. */
typedef struct {
	double none_prior; /**< prior probability of "no culprit" (default 0.05; <0 means 0) */
	double eps_min;    /**< smallest false-positive rate on the grid (default 0.0005) */
	double eps_max;    /**< largest false-positive rate on the grid (default 0.1) */
	int eps_steps;     /**< eps grid points, log-spaced (default 10) */
	int q_steps;       /**< q grid points in (0,1), uniform prior (default 40) */
	int iid_runs;      /**< 1: the model before issue 19: one q for every buggy kernel,
			    *  every run independent, eps up to 0.02 (default 0: each buggy
			    *  kernel has its own rate around a learned mean, tests may be
			    *  all-or-nothing, eps up to 0.1, all learned) */
	int fix;           /**< 1: fix bisection (issue 22): under "h is the fix" node c
			    *  carries the bug iff h is NOT an ancestor-or-self of c; under
			    *  KB_MODEL_NONE ("no fix in range") every kernel does, and outside
			    *  runs (kb_model_add_outside_runs()) are on kernels with the bug
			    *  (the crashing end), informing q instead of eps. kb_model_buggy()
			    *  and kb_model_buggy_all() answer in that sense; eps_max defaults
			    *  to 0.01 (a crash shows the bug unless rare false crashes explain
			    *  it) (default 0: cause) */
} kb_model_opts;

/** Create a model of n nodes (1..KB_MODEL_MAX_NODES), each of prior weight 1, no edges.
 * opts may be NULL. On success *out is yours: kb_model_free() it.
 * @return 0, KB_EINVAL (bad n or options) */
int kb_model_new(kb_model **out, size_t n, const kb_model_opts *opts);

/** Free a model; NULL ok. */
void kb_model_free(kb_model *m);

/** Number of nodes. */
size_t kb_model_size(const kb_model *m);

/** Set the prior weight (>= 0) of node; e.g. the number of commits a block stands for.
 * @return 0, KB_EINVAL */
int kb_model_set_weight(kb_model *m, size_t node, double weight);

/** Declare parent as a parent of node (parent < node). Before kb_model_finalize() only.
 * Parents outside the range (good commits) are simply not declared.
 * @return 0, KB_EINVAL (index out of range, parent >= node, model finalized) */
int kb_model_add_parent(kb_model *m, size_t node, size_t parent);

/** Compute the ancestor closure; call once, after the edges. @return 0, KB_ERROR (memory) */
int kb_model_finalize(kb_model *m);

/** 1 if a is an ancestor of c or a == c, else 0 (needs a finalized model). */
int kb_model_is_ancestor(const kb_model *m, size_t a, size_t c);

/** Number of parents of node declared with kb_model_add_parent(). */
size_t kb_model_n_parents(const kb_model *m, size_t node);

/** The i-th parent of node. */
size_t kb_model_parent(const kb_model *m, size_t node, size_t i);

/** Give node a kernel signature; nodes with equal signatures pool their evidence.
 * @return 0, KB_EINVAL */
int kb_model_set_signature(kb_model *m, size_t node, const kb_key *sig);

/** 1 and *out set if node has a signature, else 0. */
int kb_model_signature(kb_key *out, const kb_model *m, size_t node);

/** Add one test of node's kernel (one boot, its runs): `target` runs showed the target
 * crash, `clean` ran without crash, `censored` ended otherwise (infra error, other
 * crash, boot failure; they carry no evidence). Runs of one call are exchangeable, not
 * independent: call once per separately booted test. @return 0, KB_EINVAL */
int kb_model_add_runs(kb_model *m, size_t node, unsigned target, unsigned clean,
		      unsigned censored);

/** Add one test on kernels known to be outside the range and without the bug (e.g.
 * the good commits); they only inform eps. In fix mode (kb_model_opts.fix) the
 * kernels outside are the crashing end, with the bug: they inform q. @return 0 */
int kb_model_add_outside_runs(kb_model *m, unsigned target, unsigned clean);

/** Pooled evidence of node's kernel (same signature): counts of target crashes, clean
 * and censored runs; any pointer may be NULL. */
void kb_model_evidence(const kb_model *m, size_t node, unsigned *target, unsigned *clean,
		       unsigned *censored);

/** Tests of node's kernel (pooled by signature) with a target crash or clean run:
 * *tests all of them, *clean_tests those without a target crash, *target_tests those
 * with one; any pointer may be NULL. */
void kb_model_tests(const kb_model *m, size_t node, unsigned *tests, unsigned *clean_tests,
		    unsigned *target_tests);

/** Mark node untestable (failed to build) or testable again; informational only: an
 * untestable node is neither good nor bad and keeps its prior. */
int kb_model_set_untestable(kb_model *m, size_t node, int untestable);

/** Declare that node's kernel is its parent's (it touches no build input), known
 * without the parent's signature: node then holds only the small prior of a culprit
 * that identical kernels would disagree on (as when it shares a signature with its
 * parent). @return 0, KB_EINVAL */
int kb_model_set_inert(kb_model *m, size_t node);

/** 1 if node was marked untestable. */
int kb_model_untestable(const kb_model *m, size_t node);

/** Recompute the posterior from all evidence so far. @return 0, KB_ERROR (memory) */
int kb_model_update(kb_model *m);

/** Posterior probability that node is the culprit (after kb_model_update()). */
double kb_model_posterior(const kb_model *m, size_t node);

/** Posterior probability of "no culprit in this range". */
double kb_model_posterior_none(const kb_model *m);

/** The node of highest posterior (ties: lowest index); *p gets its probability (may be
 * NULL). Returns KB_MODEL_NONE when "no culprit" is the most likely. */
size_t kb_model_top(const kb_model *m, double *p);

/** Posterior probability that node's kernel carries the bug, i.e. that the culprit is an
 * ancestor of node or node itself (fix mode: that the fix is not, or that there is
 * no fix in range). */
double kb_model_buggy(const kb_model *m, size_t node);

/** kb_model_buggy() for every node at once into out[0..n-1] (fast: four-Russians tables
 * over the closure). @return 0, KB_ERROR (memory) */
int kb_model_buggy_all(double *out, const kb_model *m);

/** The smallest set of hypotheses whose posterior sums to >= conf (0 < conf <= 1),
 * most likely first chosen, returned in topological order (KB_MODEL_NONE last if in it).
 * *out is malloc'd (free() it), *n its length; *mass gets the set's total (may be NULL).
 * @return 0, KB_EINVAL, KB_ERROR (memory) */
int kb_model_credible_set(size_t **out, size_t *n, double *mass, const kb_model *m,
			  double conf);

/** Posterior summary of the rates: mean of q, its 5% and 95% quantiles, mean of eps;
 * any pointer may be NULL. */
void kb_model_rates(const kb_model *m, double *q_mean, double *q_lo, double *q_hi,
		    double *eps_mean);

/** How far the data strain the simple model (after kb_model_update()): *eps_hi the 95%
 * quantile of the false-crash rate, *rho the posterior mean share of all-or-nothing
 * tests, *spread the posterior probability that buggy kernels' rates differ; any
 * pointer may be NULL. */
void kb_model_misfit(const kb_model *m, double *eps_hi, double *rho, double *spread);

/** What one more test of node's kernel with `runs` runs would tell, in bits (0..1): the
 * information its outcome (target crash or not) carries about "buggy or clean" at even
 * odds, under the current estimates and the kernel's own tests so far. Near 1 for an
 * untested kernel and a clear reproducer; falls as all-clean tests make "buggy with a
 * rate of its own near 0" the only buggy case left, or as crashes at the false-crash
 * rate do. 1 before kb_model_update(). */
double kb_model_test_clarity(const kb_model *m, size_t node, unsigned runs);

/** The given quantile (0..1) of one buggy kernel's own rate of the target crash, over
 * the posterior of the mean rate and of the spread between kernels (after
 * kb_model_update(); 0 before). With one rate for all it is kb_model_rates()' quantile. */
double kb_model_kernel_rate_quantile(const kb_model *m, double quantile);

/** What frozen tests add to the chance that a buggy kernel with rate q shows what
 * node's kernel showed in its tests with at least min_runs clean runs (after
 * kb_model_update()): test by test, each all-clean test is one frozen clean outcome
 * (the posterior share rho of all-or-nothing tests, times 1 - q) or independent clean
 * runs; a test with some target crashes is no more than that many crashes of its runs;
 * averaged over the posterior of rho, minus the same with independent runs only (rho =
 * 0: the clean-run count rules that part). 1 before kb_model_update() or without such
 * tests. */
double kb_model_buggy_miss(const kb_model *m, size_t node, double q, unsigned min_runs);

/** Replace the grids of q and eps by explicit values (prior over the pairs with
 * q >= 5 eps, decaying by 0.6 per eps value in the given order), with one rate for
 * every buggy kernel and independent runs; for tests and for analyses with known
 * rates. Values must be in (0,1).
 * @return 0, KB_EINVAL */
int kb_model_set_grid(kb_model *m, const double *q, size_t nq, const double *eps,
		      size_t neps);

#ifdef __cplusplus
}
#endif
#endif
