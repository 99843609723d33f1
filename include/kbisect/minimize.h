/*
 * kbisect/minimize.h - config minimization: from a large kernel config (BIG) that
 * reproduces a crash and a small one that builds (SMALL), the config between them with
 * as few of BIG's extra options as possible that still reproduces it
 * (`kbisect config minimize`, `kbisect bisect --minimize-config`).
 *
 * Four layers:
 *  - the flaky predicate (kb_judge): a subset "crashes" on one target crash; it "does
 *    not crash" only when its clean runs make P(it still crashes) < 1 - confidence,
 *    given the crash rate q learned on BIG as a Beta posterior; else run more;
 *  - the subset search (kb_minimize_search): a binary search over the option list for
 *    the shortest crashing prefix, whose last option is needed; repeated with the
 *    needed ones kept until they crash alone: ~log2(n) tests per needed option;
 *  - configs (kb_kconfig_*): the resolved option sets (after `make olddefconfig`),
 *    their difference, SMALL plus a subset of it as a config file;
 *  - the real run (kb_minimize_run): builds through the builder and its cache (a
 *    repeated subset is a cache hit), tests in the VM pool with the oracle's cached
 *    test runs (kbisect/oracle.h).
 * Errors follow kbisect/error.h (kb_error_last()).
 */
#ifndef KBISECT_MINIMIZE_H
#define KBISECT_MINIMIZE_H

#include <stddef.h>

#include "kbisect/oracle.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the flaky predicate ---- */

/** Most runs of one subset before the judge gives up (a clean verdict needs fewer for
 * any q learned from at least one crash at the usual confidences). */
#define KB_JUDGE_MAX_RUNS 400

/** The Bayesian judge of one subset's runs. */
typedef struct {
	double a, b;        /**< Beta(a, b) posterior of q: 1 + crashes, 1 + clean runs on BIG */
	double prior;       /**< prior P(a subset still crashes): 0.5 */
	double confidence;  /**< a clean verdict is wrong with probability < 1 - confidence */
} kb_judge;

/** Verdicts of kb_judge_verdict(). */
enum kb_judge_verdict {
	KB_JUDGE_MORE = 0,    /**< not decided: run more */
	KB_JUDGE_CRASHES = 1, /**< a target crash: the subset still has the bug */
	KB_JUDGE_CLEAN = 2,   /**< enough clean runs: it does not crash (at the confidence) */
};

/** A judge for q learned on BIG from crashes target crashes and clean clean runs. */
void kb_judge_init(kb_judge *j, unsigned crashes, unsigned clean, double confidence);

/** P(the subset still crashes | clean runs in a row, no target crash). */
double kb_judge_p_crashes(const kb_judge *j, unsigned clean);

/** The fewest clean runs for a clean verdict (KB_JUDGE_MAX_RUNS + 1 if more). */
unsigned kb_judge_clean_needed(const kb_judge *j);

/** The verdict after target_crashes target crashes and clean clean runs. */
int kb_judge_verdict(const kb_judge *j, unsigned target_crashes, unsigned clean);

/* ---- the subset search ---- */

/** Test SMALL plus the options set[0..n) (indices, ascending): *crashes = 1 or 0.
 * Returns 0, or an error code that stops the search. */
typedef int (*kb_minimize_test_fn)(void *ctx, const size_t *set, size_t n, int *crashes);

/** What the search found. */
typedef struct {
	size_t *needed;     /**< indices of the options that matter, ascending (malloc'd) */
	size_t n_needed;
	unsigned tests;     /**< calls of the test function */
	int confirmed;      /**< 1: SMALL + needed was seen crashing; 0: the answers were
				 inconsistent (a wrong clean verdict): needed is the best found */
} kb_minimize_found;

/** Find a small set of the options 0..n_options-1 that crashes, knowing all of them
 * together crash: first SMALL alone, then binary searches for the shortest crashing
 * prefix (the needed ones kept in). Returns 0 or the test function's error. */
int kb_minimize_search(kb_minimize_found *out, size_t n_options, kb_minimize_test_fn test,
		       void *ctx);

/** Free what out holds; NULL ok. */
void kb_minimize_found_free(kb_minimize_found *f);

/* ---- configs ---- */

/** One option of a resolved config: its name (without CONFIG_) and value ("n" for
 * "# CONFIG_X is not set"). */
typedef struct {
	char *name;
	char *value;
} kb_kconfig_opt;

/** The options of a config text, in file order. */
typedef struct {
	kb_kconfig_opt *v;
	size_t n;
} kb_kconfig;

/** Parse the CONFIG_ lines of a config text (other lines are ignored). 0 or KB_ERROR. */
int kb_kconfig_parse(kb_kconfig *out, const char *text, size_t len);

/** The value of option name in c (its last line; "n" when it is not there). */
const char *kb_kconfig_value(const kb_kconfig *c, const char *name);

/** Free c's contents; NULL ok. */
void kb_kconfig_free(kb_kconfig *c);

/** The options whose value in big differs from small, in big's order (then small's):
 * *diff gets indices into a new kb_kconfig *out of big's values ("n" for an option
 * big lacks). 0 or KB_ERROR. */
int kb_kconfig_diff(kb_kconfig *out, const kb_kconfig *big, const kb_kconfig *small);

/** The config text of small_text with the options set[0..n) of diff given diff's
 * values (replaced where small has a line, appended otherwise). *out malloc'd, NUL
 * terminated. 0 or KB_ERROR. */
int kb_kconfig_apply(char **out, size_t *out_len, const char *small_text, size_t small_len,
		     const kb_kconfig *diff, const size_t *set, size_t n);

/** The config line of o ("CONFIG_X=y", "# CONFIG_X is not set") into buf. */
const char *kb_kconfig_line(char *buf, size_t len, const kb_kconfig_opt *o);

/* ---- the real run ---- */

/** Settings of a minimization; strings are borrowed. */
typedef struct {
	kb_oracle_opts oracle;   /**< repo, config (BIG), repro, cache_dir, work_dir,
				      ccache, accel, vms, jobs, run_timeout, log, ... */
	const char *rev;         /**< the revision to build (required) */
	const char *baseline;    /**< SMALL (required) */
	unsigned big_runs;       /**< runs on BIG to learn q and the title (0: 10) */
	double confidence;       /**< of a clean verdict (0: 0.99) */
	const char *target_title; /**< the crash to keep (NULL: the first crash on BIG) */
	int any_crash;           /**< 1: any crash counts */
} kb_minimize_opts;

/** What a minimization found and spent. */
typedef struct {
	size_t n_diff;           /**< options where resolved BIG and SMALL differ */
	kb_kconfig needed;       /**< the options that matter, with BIG's values */
	int confirmed;           /**< as kb_minimize_found.confirmed */
	char *config;            /**< the minimized config as built (resolved), malloc'd */
	size_t config_len;
	size_t n_config_diff;    /**< options where it differs from resolved SMALL */
	char title[256];         /**< the target crash */
	unsigned big_crashes, big_clean; /**< the runs on BIG that gave q */
	double q, q_lo, q_hi;    /**< posterior mean and 90% interval of q */
	unsigned builds;         /**< real builds (cache hits not counted) */
	unsigned build_hits;     /**< kernels from the cache */
	unsigned tests;          /**< subsets tested (BIG, SMALL included) */
	unsigned runs;           /**< runs of the reproducer (cached ones included) */
	double seconds;          /**< wall time */
	double big_build_s;      /**< recorded time of the build of BIG */
	double small_build_s;    /**< of SMALL */
	double min_build_s;      /**< of the minimized config */
} kb_minimize_result;

/** Minimize: build SMALL (it must build) and BIG at rev, learn q and the title on BIG
 * (it must crash), search the resolved difference, build the minimized config.
 * Returns 0; KB_EINVAL (SMALL does not build, BIG does not crash: the message says
 * which and what to do; nothing half-written is left in the cache), or the failure. */
int kb_minimize_run(kb_minimize_result *out, kb_cache *cache, kb_remote *remote,
		    const kb_minimize_opts *opts);

/** Free what r holds; NULL ok. */
void kb_minimize_result_free(kb_minimize_result *r);

#ifdef __cplusplus
}
#endif
#endif
