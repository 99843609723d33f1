/*
 * kbisect/oracle.h - the real oracle of a bisection: the engine's callbacks
 * (kbisect/engine.h) answered with kernels from the builder (kbisect/builder.h, cache
 * hits, dependency skips, real builds in parallel worker trees) and runs of the
 * reproducer in the VM pool (kbisect/vmpool.h), test results stored in the cache so
 * that an interrupted bisection resumes without repeating work; the journal that lets
 * an identical bisection replay its choices; the release walk of --find-good.
 *
 * Use: kb_oracle_open() (builders, pool), optionally kb_oracle_find_good(),
 * kb_oracle_range() (the commits between good and bad), kb_oracle_engine() (an engine
 * wired to the oracle, replaying the journal), then kb_engine_step() until done.
 * Errors follow kbisect/error.h (kb_error_last()).
 */
#ifndef KBISECT_ORACLE_H
#define KBISECT_ORACLE_H

#include <stddef.h>

#include "kbisect/builder.h"
#include "kbisect/cache.h"
#include "kbisect/engine.h"
#include "kbisect/gitdag.h"
#include "kbisect/model.h"
#include "kbisect/remote.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- parallel builds: one code path for one build and for many ---- */

/** One build of a round: in, a builder (its own worker tree, used by this job only
 * while it runs) and a revision; out, what kb_builder_build() did. */
typedef struct {
	kb_builder *builder;      /**< in: borrowed; no other job may use it meanwhile */
	const char *rev;          /**< in: revision to build */
	kb_build_result res;      /**< out: the result (when rc == 0) */
	int rc;                   /**< out: kb_builder_build()'s return code */
	int err_class;            /**< out: kb_error_class of the failure (rc != 0) */
	char err[1024];           /**< out: kb_error_last()->message of the failure */
	double start, end;        /**< out: CLOCK_MONOTONIC seconds around the build */
	/** in, optional: the bisection log, told from the build's thread as it starts
	 * ("build of X started (work tree W)") and ends ("build of X done in T: built"). */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
	const char *what;         /**< in, optional: "" or " (speculative)" for those lines */
} kb_build_job;

typedef struct kb_build_batch kb_build_batch; /* builds running on their own threads */

/** Start every job of jobs[0..n) on a thread of its own in this process (jobs must
 * stay valid until kb_build_batch_wait()); a job whose thread cannot start gets rc set.
 * Returns 0 or KB_ERROR (out of memory: nothing started). */
int kb_build_batch_start(kb_build_batch **out, kb_build_job *jobs, size_t n);

/** Wait for every build of batch (NULL ok) and free it; the jobs hold their results. */
void kb_build_batch_wait(kb_build_batch *batch);

/** Run jobs[0..n) in parallel (start + wait): 0, or KB_ERROR when none could start. */
int kb_build_jobs_run(kb_build_job *jobs, size_t n);

/** Raise job's failure as the calling thread's error (kb_error_last()); returns its rc. */
int kb_build_job_raise(const kb_build_job *job);

/* ---- the oracle ---- */

typedef struct kb_oracle kb_oracle; /* builders + pool + cached test results */

/** Settings of a real bisection; strings are borrowed until kb_oracle_free(). */
typedef struct {
	const char *repo;         /**< git repository of the kernel (required) */
	const char *bad;          /**< a commit that crashes (required) */
	const char *config;       /**< base kernel config (required) */
	const char *repro;        /**< reproducer file (required) */
	const char *cmdline;      /**< extra kernel command line, or NULL */
	const char *cache_dir;    /**< the cache's directory: kernels/ and journals/ go there */
	const char *build_cmd;    /**< as kb_build_opts.build_cmd, or NULL */
	const char *image;        /**< as kb_build_opts.image_path, or NULL (default) */
	const char *work_dir;     /**< as kb_build_opts.work_dir, or NULL */
	const char *ccache;       /**< program wrapping the compiler, or NULL */
	const char *ccache_remote; /**< CCACHE_REMOTE_STORAGE URL, or NULL */
	const char *accel;        /**< as kb_pool_opts.accel, or NULL */
	unsigned workers;         /**< builders of a round (worker trees 0..workers-1; 0: 1) */
	unsigned jobs;            /**< make -jN (0: number of CPUs) */
	unsigned vms;             /**< as kb_pool_opts.vms */
	unsigned prebuild;        /**< most speculative builds per round (--prebuild) */
	double run_timeout;       /**< seconds a run of the reproducer may take */
	double boot_timeout;      /**< kernel boot to agent ready (0: the pool's default) */
	int cold;                 /**< 1: boot a fresh VM for every run */
	int retry_failed;         /**< 1: build again a commit whose build failure is
				       recorded (as kb_build_opts.retry_failed) */
	const char *journal_extra; /**< more that changes the engine's choices (--skip, a
				       pathspec) as text for the journal's key, or NULL */
	const char *executor;     /**< "local" (NULL: the same) or "slurm" (jobs on a cluster) */
	const char *remote_url;   /**< the cache server's URL (--remote): slurm jobs use it */
	const char *slurm_partition; /**< --slurm-partition, or NULL */
	const char *slurm_args;   /**< --slurm-args: more sbatch options, or NULL */
	void (*log)(void *ctx, const char *line); /**< the bisection log (required) */
	void *log_ctx;            /**< its context */
} kb_oracle_opts;

/** Open the oracle: hash the reproducer, open a builder per worker on cache (and the
 * remote tier, NULL for none; both borrowed) and the VM pool. *out is yours:
 * kb_oracle_free() it. Returns 0, KB_ENOTFOUND (reproducer, repository), KB_ERROR. */
int kb_oracle_open(kb_oracle **out, kb_cache *cache, kb_remote *remote,
		   const kb_oracle_opts *opts);

/** syzbot's way to a good commit: test release tags below bad, newest first (at most
 * 8), until one does not crash (eo: runs per test, target title). *good_out is a
 * malloc'd tag name. Returns 0, KB_ENOTFOUND (none ran clean), or the failure. */
int kb_oracle_find_good(char **good_out, kb_oracle *o, const kb_engine_opts *eo);

/** Load the commits between goods[0..n_goods) and bad: the DAG and its model. */
int kb_oracle_range(kb_oracle *o, const char *const *goods, size_t n_goods);

/** Create an engine (eo->bad is set here) on the range's model, wired to the oracle,
 * with the journal of an identical earlier bisection to replay. *out is yours:
 * kb_engine_free() it before kb_oracle_free(). */
int kb_oracle_engine(kb_engine **out, kb_oracle *o, kb_engine_opts *eo);

/** The commit DAG of the range (after kb_oracle_range()), or NULL. */
const kb_gitdag *kb_oracle_dag(const kb_oracle *o);

/** The model of the range (after kb_oracle_range()), or NULL. */
kb_model *kb_oracle_model(const kb_oracle *o);

/** Kernels pre-booted ahead of their test so far. */
unsigned kb_oracle_preboots(const kb_oracle *o);

/** Fix bisection (bisect/oracle_fix.c): load the commits from crashing (a node itself,
 * its parents hidden) to the oracle's bad (the fixed commit) on a model in fix mode;
 * *crash_node gets crashing's node (set it as kb_engine_opts.bad with .fix = 1).
 * @return 0, or an error (unknown revision, fixed not a descendant of crashing) */
int kb_oracle_fix_range(kb_oracle *o, const char *crashing, size_t *crash_node);

/** --find-fixed: test release tags above crashing, oldest first (at most 8); the first
 * that builds and shows no target crash in the calibration's runs becomes the oracle's
 * fixed end (*fixed_out, malloc'd; keep it until kb_oracle_free()).
 * @return 0, KB_ENOTFOUND (none ran clean), or an error */
int kb_oracle_find_fixed(char **fixed_out, kb_oracle *o, const kb_engine_opts *eo,
			 const char *crashing);

/** Remove this bisection's journal (local file and shared-cache ref): after bad input,
 * nothing of the stopped bisection is replayed. */
void kb_oracle_forget_journal(kb_oracle *o);

/** The second Ctrl-C (abort now): scancel every Slurm job of --executor slurm that this
 * process submitted and has not seen end. Async-signal-safe: call it from the handler.
 * @return the number of jobs given to scancel (0: none, or no Slurm in use) */
int kb_oracle_abort_jobs(void);

/** Wait for speculative builds, close the pool and builders and free o; NULL ok. */
void kb_oracle_free(kb_oracle *o);

#ifdef __cplusplus
}
#endif
#endif
