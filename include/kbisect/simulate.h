/*
 * kbisect/simulate.h - synthetic bisections: a random history (linear or merge-heavy),
 * a hidden culprit, a flaky reproducer with infra errors, lost runs, other crashes and
 * commits that do not build; an oracle for the engine, and the baselines (plain git
 * bisect with "any crash = bad", syzkaller's current rule) on the same history.
 * Used by bench/accuracy, `kbisect bisect --simulate` and the engine's tests.
 */
#ifndef KBISECT_SIMULATE_H
#define KBISECT_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "kbisect/engine.h"
#include "kbisect/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kb_sim kb_sim; /* body in bisect/simulate.c */

/** Shapes of synthetic histories. */
typedef enum {
	KB_SIM_LINEAR = 0, /**< a chain of commits */
	KB_SIM_MERGES = 1, /**< a mainline with topic branches merged into it */
} kb_sim_shape;

/** Options of kb_sim_new(); zero fields take the defaults (given in brackets). */
typedef struct {
	size_t n;              /**< commits in the range [1000] */
	int shape;             /**< kb_sim_shape [linear] */
	double q;              /**< per-run rate of the target crash on buggy kernels [0.5] */
	double eps;            /**< per-run rate of the target crash on clean kernels (another
				    *  bug with the same title) [0] */
	double q_min, q_max;   /**< when q_max > 0: each buggy kernel has its own rate, drawn
				    *  uniformly from [q_min, q_max] (a later commit changes the
				    *  timing); the bad commit's too [0: q for every buggy kernel] */
	double aon_share;      /**< share of tests whose runs share one outcome (one boot's
				    *  state, a snapshot's frozen randomness): the target crash
				    *  is drawn once per test and every run of it shows it or
				    *  none does; infra errors and lost runs stay per run [0] */
	double burst_share;    /**< share of tests hit by a burst of infra errors [0] */
	double burst_infra;    /**< per-run infra error rate inside a burst [0.6] */
	double infra_rate;     /**< per-run SYZFAIL-like infra errors [0.05]; <0 means 0 */
	double lost_rate;      /**< per-run probability that the result is lost [0.02]; <0: 0 */
	double other_rate;     /**< per-run rate of an unrelated crash [0.01]; <0: 0 */
	double unbuildable;    /**< fraction of commits that fail to build [0.01]; <0: 0 */
	double nonkernel;      /**< fraction of commits touching no build input [0.1]; <0: 0 */
	double build_seconds;  /**< simulated build time [420] */
	double test_seconds;   /**< simulated test round time [540] */
	double job_latency;    /**< seconds from submitting a build or a test as a job to its
				    *  start (a batch scheduler such as Slurm), paid by every
				    *  build and every test [0] */
	uint64_t seed;         /**< history, culprit and runs derive from it */
	int fix;               /**< 1: fix bisection (issue 22): the culprit is a fix, node 0
				    *  the crashing commit (builds, never the fix), the last node
				    *  the fixed one; a kernel has the bug iff the fix is not an
				    *  ancestor-or-self of it [0: cause] */
	double partial_q;      /**< fix mode, > 0: a partial fix, drawn among the fix's
				    *  ancestors, after which kernels without the fix crash at
				    *  this rate instead of q [0: none] */
} kb_sim_opts;

/** Make a synthetic history. *out is yours: kb_sim_free() it. @return 0, KB_EINVAL */
int kb_sim_new(kb_sim **out, const kb_sim_opts *opts);

/** Free a simulation; NULL ok. */
void kb_sim_free(kb_sim *s);

/** Number of commits (nodes) of the history; the bad commit is the last one. */
size_t kb_sim_size(const kb_sim *s);

/** The hidden culprit (fix mode: the hidden fix). */
size_t kb_sim_culprit(const kb_sim *s);

/** Fix mode with kb_sim_opts.partial_q: the hidden partial fix, else KB_MODEL_NONE. */
size_t kb_sim_partial(const kb_sim *s);

/** Number of commits the hidden culprit was drawn from, uniformly (the identifiable
 * ones: they build, change the kernel and have buildable parents). */
size_t kb_sim_candidates(const kb_sim *s);

/** A lower bound on the mean simulated wall time, over the culprits of this history, of
 * any strategy with k workers that always names the culprit, even with noiseless tests:
 * one build + log2(candidates) / log2(k + 1) test rounds on a linear history
 * (/ k on a merge-heavy one, where a round of k tests can have 2^k outcomes). */
double kb_sim_bound_seconds(const kb_sim *s, unsigned k);

/** 1 if node is a merge commit. */
int kb_sim_is_merge(const kb_sim *s, size_t node);

/** A finalized model of the history (nodes and edges only). *out is yours. */
int kb_sim_model(kb_model **out, const kb_sim *s, const kb_model_opts *opts);

/** Reset the simulated clock, build cache and run randomness (stream `stream`), and
 * fill *out with an oracle over s (valid while s lives). */
void kb_sim_oracle(kb_engine_oracle *out, kb_sim *s, uint64_t stream);

/** Work done by one strategy on one history. */
typedef struct {
	int correct;          /**< 1: the single culprit reported is the real one */
	int found;            /**< 1: a single culprit was reported */
	int in_set;           /**< 1: the real culprit is in the reported set */
	size_t culprit;       /**< reported culprit (KB_MODEL_NONE if none) */
	unsigned builds, tests, runs, rounds;
	unsigned prefetch_used; /**< speculative builds a later round tested (engine only) */
	double seconds;       /**< simulated wall time */
	double probability;   /**< engine only: posterior of the culprit named (or of the set) */
	int stop;             /**< engine only: kb_engine_stop */
} kb_sim_outcome;

/** Strategies compared by the benchmark. */
typedef enum {
	KB_SIM_ENGINE = 0,    /**< kbisect's engine */
	KB_SIM_GIT_ANY = 1,   /**< git bisect, any crash (SYZFAIL too) = bad, N = 10 */
	KB_SIM_SYZKALLER = 2, /**< syzkaller's rule (10/20 runs, >= max(2,N/6) crashes) */
} kb_sim_strategy;

/** Stable name of a strategy ("kbisect", "git-any-crash", "syzkaller"). */
const char *kb_sim_strategy_name(int strategy);

/** Bisect s with strategy and k workers (engine options from eopts, may be NULL).
 * @return 0, or an error of the engine */
int kb_sim_run(kb_sim *s, int strategy, unsigned k, const kb_engine_opts *eopts,
	       kb_sim_outcome *out);

#ifdef __cplusplus
}
#endif
#endif
