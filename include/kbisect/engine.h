/*
 * kbisect/engine.h - the bisection engine: rounds of tests chosen for what they tell
 * about the culprit per unit of time, calibration on the bad commit, the stopping rule,
 * the result (culprit or credible set, flags, evidence, time saved) and its JSON.
 *
 * The engine knows nothing about git, builds or VMs: it drives an "oracle" (callbacks)
 * that says what testing a node costs now and executes a batch of tests (build if
 * needed, then run the reproducer N times). The simulator (bisect/simulate.c) and the
 * real builder + VM pool (cli/cmd_bisect.c) are both oracles.
 * The engine borrows a finalized kb_model (kbisect/model.h) of the candidate DAG and
 * adds the evidence to it.
 */
#ifndef KBISECT_ENGINE_H
#define KBISECT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kb_engine kb_engine; /* body in bisect/engine.c */

/** What testing a node costs right now (predicted by the oracle). */
typedef enum {
	KB_COST_FREE = 0,  /**< build and test result cached: free */
	KB_COST_TEST = 1,  /**< kernel available (cache hit, dependency skip): test only */
	KB_COST_BUILD = 2, /**< build, then test */
} kb_engine_cost_kind;

/** Longest crash title kept. */
#define KB_ENGINE_TITLE_MAX 160
/** Most runs of one request. */
#define KB_ENGINE_MAX_RUNS 64

/** One run of the reproducer, as the oracle saw it. */
typedef struct {
	int klass;                        /**< a kb_run_class */
	char title[KB_ENGINE_TITLE_MAX];  /**< crash title (KB_RUN_CRASH), or infra reason */
	int has_console;                  /**< 1: console is the run's console log object
					       (the HTML report writes it next to itself
					       through the oracle's console()) */
	kb_key console;
} kb_repro_run;

/** One test the engine asks for. */
typedef struct {
	size_t node;     /**< model node */
	unsigned runs;   /**< runs of the reproducer wanted (1..KB_ENGINE_MAX_RUNS) */
	unsigned worker; /**< worker slot 0..workers-1 */
} kb_engine_request;

/** What the oracle did for one request. Times are seconds on the oracle's clock. */
typedef struct {
	int buildable;                  /**< 0: the commit failed to build (untestable) */
	int how;                        /**< kb_engine_cost_kind: how the kernel was had */
	int has_signature;
	kb_key signature;               /**< kernel signature, when has_signature */
	int same_as_parent;             /**< 1: the commit touches no build input */
	int prebuilt;                   /**< 1: kernel from a speculative build (prefetch) */
	double build_start, build_end;  /**< equal when no build happened */
	double test_start, test_end;
	size_t n_runs;                  /**< runs that came back (some may be lost) */
	kb_repro_run runs[KB_ENGINE_MAX_RUNS];
	/** 1: ev_* are the times at which this evidence was produced (for the report's
	 * timeline), on the clock of the bisection that produced it: a kernel and runs
	 * taken from the cache keep the times recorded when they were built and run
	 * (replayed journal), new work continues after them. 0: the times above. */
	int has_evidence_times;
	double ev_build_start, ev_build_end, ev_test_start, ev_test_end;
} kb_engine_outcome;

/** The callbacks the engine drives. */
typedef struct {
	void *ctx;
	/** Predict the cost of testing node now; 0 or a kb_error_code. */
	int (*cost)(void *ctx, size_t node, int *kind);
	/** Execute n requests (in parallel as the oracle can) and fill out[0..n-1]
	 * (zeroed by the engine). 0, or a kb_error_code that aborts the bisection. */
	int (*execute)(void *ctx, const kb_engine_request *req, size_t n,
		       kb_engine_outcome *out);
	/** Optional: the kernel signature node would have, known before testing it (its
	 * kernel is at hand: a cached build or a dependency skip). 1 and *out set, or 0.
	 * The engine then pools the node with the kernels it shares, instead of spending
	 * a round to find out that testing it tells nothing new. */
	int (*signature)(void *ctx, size_t node, kb_key *out);
	/** Optional: get nodes[0..n-1] (the engine's best guesses at the next round's
	 * candidates) ready in the background while the round about to run goes on: build
	 * those that need it (as the oracle's policy allows) and pre-boot their kernels;
	 * later cost() and execute() calls find them ready. *n_built gets the number of
	 * speculative builds started. NULL: nothing is prepared ahead. 0, or a
	 * kb_error_code that aborts the bisection. */
	int (*prefetch)(void *ctx, const size_t *nodes, size_t n, unsigned *n_built);
	/** Optional: the tests of round `round` (1 = calibration) as an earlier, identical
	 * bisection chose them (a journal): fill rq[0..*n-1] (at most 64) and return 1 to
	 * have the engine run them instead of choosing, 0 to let it choose. Replaying the
	 * same choices on the same cached evidence reproduces that bisection exactly,
	 * without the detours a changed cost picture (everything now cached) would take. */
	int (*replay)(void *ctx, unsigned round, kb_engine_request *rq, size_t *n);
	/** Optional: the tests of a finished round, for a later replay(). */
	void (*record)(void *ctx, unsigned round, const kb_engine_request *rq, size_t n);
	/** Optional: expected seconds of building node now, when cost() says it needs a
	 * build (an incremental build costs what the changed files make it cost); < 0 for
	 * unknown. NULL: every build costs the same (the mean of builds so far). With it,
	 * the engine also weighs each commit's information against its own round time. */
	double (*build_seconds)(void *ctx, size_t node);
	/** Optional: one line of the bisection log (no newline); gets log_ctx. */
	void (*log)(void *log_ctx, const char *line);
	void *log_ctx;  /**< context of log (NULL: ctx) */
	/** Optional: write the console log object id of a run (kb_repro_run.console) to
	 * the file path, for the HTML report. 0, or a kb_error_code (the report then
	 * links no console for that run). */
	int (*console)(void *ctx, const kb_key *id, const char *path);
} kb_engine_oracle;

/** Options of kb_engine_new(); zero-initialise, 0 fields take the defaults. */
typedef struct {
	size_t bad;               /**< node of the bad commit (default: the last node) */
	unsigned workers;         /**< k, tests per round (default 1) */
	unsigned runs_per_test;   /**< N (default 10) */
	unsigned calib_runs;      /**< runs of the first test on bad (default 2N) */
	double confidence;        /**< stop when the top commit holds this (default 0.99) */
	unsigned max_rounds;      /**< budget in rounds (0: 60, stretched up to 4x while a test tells little) */
	double max_seconds;       /**< budget in oracle seconds (0: none) */
	double build_seconds;     /**< expected build time for planning (default 420) */
	double test_seconds;      /**< expected test round time for planning (default 540) */
	int any_crash;            /**< 1: any crash counts as the target (syzkaller's old rule) */
	int fixed_runs;           /**< 1: always N runs (else more when q looks small) */
	const char *target_title; /**< title of the original crash (may be NULL) */
	int prefetch;             /**< next candidates handed to oracle prefetch() per round
				       (built and pre-booted ahead): 0 default (= workers),
				       < 0 none */
	int fix;                  /**< 1: fix bisection (issue 22; needs a model made with
				       kb_model_opts.fix): bad is then the crashing commit (calibrated
				       on, never the answer; 0 is a valid node), the last node the
				       fixed one (checked after calibration: target crashes there
				       beyond false ones are an error), and the result is the first commit whose
				       kernel no longer crashes. Stop rule: the fix's own kernel clean
				       as a cause's parent must be, a target crash on its parents */
} kb_engine_opts;

/** Why the engine stopped. */
typedef enum {
	KB_STOP_RUNNING = 0,    /**< not stopped yet */
	KB_STOP_CONFIDENT = 1,  /**< top commit >= confidence with direct evidence */
	KB_STOP_BUDGET = 2,     /**< rounds or time spent: a credible set is reported */
	KB_STOP_UNTESTABLE = 3, /**< nothing left worth testing (e.g. untestable commits) */
	KB_STOP_NO_REPRO = 4,   /**< the reproducer did not crash the bad commit */
	KB_STOP_NONE = 5,       /**< evidence says no culprit in this range */
	KB_STOP_UNSETTLED = 6,  /**< the top commit held the confidence, but its direct
				     evidence stayed short of the stop rule (a crash on a parent,
				     clean evidence from one boot only): a set is reported and
				     kb_engine_why() says why */
} kb_engine_stop;

/** Stable lowercase name of a kb_engine_stop ("confident", "budget", ...). */
const char *kb_engine_stop_name(int stop);

/** @defgroup kb_engine_flags Flags of a result */
#define KB_FLAG_SAME_KERNEL_AS_PARENT (1u << 0) /**< culprit's kernel equals its parent's */
#define KB_FLAG_MERGE (1u << 1)                 /**< culprit is a merge commit */
#define KB_FLAG_OUTSIDE_BUILD (1u << 2)         /**< culprit touches no build input */
#define KB_FLAG_FLAKY (1u << 3)                 /**< reproducer is flaky (q < 0.9) */
#define KB_FLAG_UNTESTABLE_AFTER (1u << 8)      /**< fix mode: the fix's kernel, or every
						     tested kernel from it on, cannot be tested
						     (failed build or boot): the crash may only
						     have stopped showing */

/** The result of a bisection (kb_engine_result()). */
typedef struct {
	int stop;                /**< kb_engine_stop */
	size_t culprit;          /**< node, or KB_MODEL_NONE when only a set is known */
	double probability;      /**< posterior of the culprit (or of the set) */
	size_t *set;             /**< credible set >= confidence, topological order */
	size_t n_set;
	unsigned flags;          /**< KB_FLAG_* */
	double q, q_lo, q_hi, eps; /**< rate estimates */
	unsigned rounds, builds, tests, runs; /**< work done */
	unsigned prefetched;     /**< speculative builds started (not in builds) */
	unsigned prefetch_used;  /**< tests of a kernel from a speculative build */
	unsigned builds_avoided; /**< cache hits and dependency skips */
	double seconds;          /**< oracle time from start to end */
	double seconds_saved;    /**< build time avoided */
} kb_bisect_result;

/** Create an engine over the finalized model m (borrowed: keep it alive and do not
 * change it meanwhile). *out is yours: kb_engine_free() it.
 * @return 0, KB_EINVAL (bad options, model not finalized) */
int kb_engine_new(kb_engine **out, kb_model *m, const kb_engine_oracle *oracle,
		  const kb_engine_opts *opts);

/** Free an engine; NULL ok. */
void kb_engine_free(kb_engine *e);

/** Name node (e.g. its commit id) for the log and the JSON; copies name.
 * is_merge: the commit has more than one parent. @return 0, KB_EINVAL */
int kb_engine_set_node(kb_engine *e, size_t node, const char *name, int is_merge);

/** What the repository says of node, for the log ("X is the first bad commit" and its
 * commit header), the text result, the JSON (`commit_info`) and the HTML report:
 * subject (first line of the message), author ("Name <mail>") and date (as git log
 * prints it); any may be NULL. Copies them. @return 0, KB_EINVAL, KB_ERROR (memory) */
int kb_engine_set_node_info(kb_engine *e, size_t node, const char *subject,
			    const char *author, const char *date);

/** The details given with kb_engine_set_node_info() (each NULL when unknown; borrowed). */
void kb_engine_node_info(const kb_engine *e, size_t node, const char **subject,
			 const char **author, const char **date);

/** Never test node (`git bisect skip`, or a commit outside the pathspec): it is neither
 * good nor bad, as a commit that fails to build. Before the first step.
 * @return 0, KB_EINVAL (out of range, or the bad commit) */
int kb_engine_skip_node(kb_engine *e, size_t node);

/** 1 if node was given to kb_engine_skip_node(). */
int kb_engine_is_skipped(const kb_engine *e, size_t node);

/** Link commits of the HTML report through url: a pattern with one %s for the commit
 * id (e.g. "https://git.kernel.org/torvalds/c/%s"); NULL: no links.
 * @return 0, KB_EINVAL (not such a pattern: the message says why) */
int kb_engine_set_commit_url(kb_engine *e, const char *url);

/** Fix mode: the release tag the fix is (the HTML report flags it, as the text and JSON
 * results do); NULL: none. @return 0, KB_EINVAL (no engine), KB_ERROR (memory) */
int kb_engine_set_release(kb_engine *e, const char *tag);

/** The name given to node with kb_engine_set_node() ("#<index>" if none; borrowed). */
const char *kb_engine_node_name(const kb_engine *e, size_t node);

/** Probability p as text for people: four decimals, but never rounded up to 1
 *  ("> 0.9999" instead of "1.0000"); buf needs 16 bytes. Returns buf. */
const char *kb_engine_prob_text(double p, char *buf, size_t n);

/** Run one round (the first one calibrates on bad). *done gets 1 once stopped.
 * @return 0, or the oracle's error */
int kb_engine_step(kb_engine *e, int *done);

/** Run rounds until the engine stops. @return 0, or the oracle's error */
int kb_engine_run(kb_engine *e);

/** Why the engine stopped without a single culprit ("" when it named one or runs). */
const char *kb_engine_why(const kb_engine *e);

/** Fill *out (borrowed pointers valid until the next step or free). */
void kb_engine_result(kb_bisect_result *out, const kb_engine *e);

/** A one-line progress summary (round, candidates left, top commit and probability,
 * elapsed, estimate left) into buf. */
void kb_engine_progress(const kb_engine *e, char *buf, size_t len);

/** Version of kb_engine_json()'s layout (its "schema" field); raised when a field
 * changes meaning or goes away (new fields do not raise it). */
#define KB_ENGINE_JSON_SCHEMA 1

/** The result, the evidence per tested commit, the per-round mass and the timeline as
 * a JSON object (fields culprit, probability, candidates, flags, tested, seconds, ...).
 * *out is malloc'd: free() it. @return 0, KB_ERROR (memory) */
int kb_engine_json(char **out, const kb_engine *e);

/** Write the HTML report to path (replaced atomically; the shared template of
 * kbisect/html.h): the crash title, the result (culprit with subject, author, date
 * and link, q, flags), the candidates, the evidence per tested commit (subject,
 * signature, per-run classes and titles, links to the consoles written to
 * <path>.consoles/ through the oracle's console()), the timeline per worker with the
 * times the evidence was produced, the probability mass per round.
 * @return 0, KB_ERROR (file) */
int kb_engine_html(const kb_engine *e, const char *path);

#ifdef __cplusplus
}
#endif
#endif
