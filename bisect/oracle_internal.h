/*
 * bisect/oracle_internal.h - the state of the real oracle, shared by its files
 * (oracle.c: builds, predictions, rounds; oracle_test.c: tests in the VM pool;
 * journal.c; releases.c). Module-internal; never in include/.
 */
#ifndef KB_BISECT_ORACLE_INTERNAL_H
#define KB_BISECT_ORACLE_INTERNAL_H

#include <stdint.h>

#include <jansson.h>

#include "kbisect/oracle.h"
#include "kbisect/util.h"
#include "kbisect/vmpool.h"

#define ORACLE_MAX_PRE 64 /* speculative builds of a round at most */
#define ORACLE_MAX_BUILDERS 256 /* worker trees */

/* test results of one test key already handed to the engine in this bisection */
struct consumed {
	kb_key test_key;
	size_t used;
};

struct prediction {
	int valid;
	unsigned gen;        /* o->gen when made */
	kb_build_result res; /* what kb_builder_predict() said */
};

struct kb_oracle {
	kb_oracle_opts a;
	kb_gitdag *dag;
	kb_model *m;            /* the candidate DAG (parents) */
	kb_cache *cache;
	kb_remote *remote;      /* second tier, or NULL */
	kb_builder *builders[ORACLE_MAX_BUILDERS]; /* per worker tree, opened when first used */
	unsigned n_builders;    /* opened: 0..n_builders-1 */
	unsigned k;             /* workers of a round: trees 0..k-1 (speculative: after) */
	kb_pool *pool;
	kb_pool_opts popts;
	kb_key repro_key;
	char kdir[4096];
	double t0;
	struct consumed *cons;
	size_t n_cons, cap_cons;
	size_t pre[ORACLE_MAX_PRE], n_pre; /* speculative builds asked for the running round */
	kb_build_job pre_jobs[ORACLE_MAX_PRE]; /* and their builds while they run */
	kb_build_batch *pre_batch;
	uint8_t *prebuilt;      /* per node: its kernel came from a speculative build */
	unsigned preboots;      /* kernels pre-booted ahead of their test */
	struct prediction *pred; /* per node: the builder's last prediction */
	unsigned gen;           /* builds landed so far (predictions of builds expire) */
	char journal[4300];     /* <cache>/journals/<key>.jsonl: this bisection's rounds */
	kb_key journal_key;     /* its key, also its /ac/ key on the shared cache server */
	json_t *replay;         /* rounds recorded by an identical earlier bisection */
	unsigned host_fails;    /* builds in a row that failed because of the host (infra);
				 * the bisection stops at ORACLE_MAX_HOST_FAILS */
	/* the times the evidence was produced at (journal.c, for the report's timeline) */
	unsigned cur_round;     /* the engine's round (its last replay() call) */
	double ev_shift;        /* added to this process's times: new work follows the
				   recorded times of replayed rounds */
	double ev_seen;         /* latest evidence time handed to the engine */
	double (*rec_times)[4]; /* the last round's evidence times, for its journal line */
	size_t rec_n;
	struct oracle_slurm *slurm; /* --executor slurm: jobs on the cluster (oracle_slurm.c) */
};

/* host build failures in a row that stop a bisection (the host needs fixing) */
#define ORACLE_MAX_HOST_FAILS 3

/* one line to the bisection log (printf-style) */
/* releases.c: target crashes among oc's runs (any crash when no title is set or with
 * --any-crash), each run logged ("run #k: ...") */
unsigned kb_oracle__target_crashes(kb_oracle *o, const kb_engine_opts *eo,
				   const kb_engine_outcome *oc);
void kb_oracle__log(kb_oracle *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The bzImage of a build as a file under <cache>/kernels (extracted once). */
int kb_oracle__kernel_file(kb_oracle *o, const kb_build_result *b, char *path, size_t len);

/* Test the kernel of b with want runs of the reproducer: cached runs of its test key
 * first, the rest in the pool (stored in the cache); into oc. */
int kb_oracle__test_kernel(kb_oracle *o, const kb_build_result *b, unsigned want,
			   kb_engine_outcome *oc);

/* 1 when the kernel of node was reused (dependency skip) from the build of one of its
 * parents' trees: the commit touches no input of the build (oracle.c) */
int kb_oracle__outside_build(kb_oracle *o, size_t node, const kb_build_result *b);

/* The test key of the kernel of b with this bisection's reproducer and command line. */
void kb_oracle__test_key(kb_oracle *o, const kb_build_result *b, kb_key *tk);

/* The cached runs of test key tk not used yet in this bisection, into oc (up to want). */
int kb_oracle__runs_cached(kb_oracle *o, const kb_key *tk, unsigned want,
			   kb_engine_outcome *oc);

/* --executor slurm (oracle_slurm.c): open (check the cluster, put the config and the
 * reproducer on the cache server), a round as Slurm jobs, one test as a job, close
 * (cancel speculative builds still queued). */
int kb_oracle__slurm_open(kb_oracle *o);
int kb_oracle__slurm_execute(kb_oracle *o, const kb_engine_request *rq, size_t n,
			     kb_engine_outcome *out);
int kb_oracle__slurm_test(kb_oracle *o, const kb_build_result *b, unsigned want,
			  kb_engine_outcome *oc);
void kb_oracle__slurm_free(kb_oracle *o);
/* A build outside the engine's rounds (--find-good, --find-fixed) of j->rev into j->res:
 * a Slurm job under --executor slurm, else on this host (kb_build_jobs_run()); 0, or
 * the error raised (a failed build is j->res.ok == 0, not an error). */
int kb_oracle__build_rev(kb_oracle *o, kb_build_job *j);

/* the journal (journal.c): its path and key for this bisection, loading it, and the
 * engine's replay/record callbacks */
void kb_oracle__journal_path(kb_oracle *o, const kb_engine_opts *eo);
void kb_oracle__journal_load(kb_oracle *o);
int kb_oracle__journal_replay(void *ctx, unsigned round, kb_engine_request *rq, size_t *n);
void kb_oracle__journal_record(void *ctx, unsigned round, const kb_engine_request *rq,
			       size_t n);
/* journal.c: before a round's work, keep the evidence clock after the times handed out */
void kb_oracle__evidence_clock(kb_oracle *o);
/* journal.c: after a round's work, the times its evidence was produced at into out[]
 * (ev_*): as recorded in the journal for work taken whole from the cache, else now */
void kb_oracle__evidence_times(kb_oracle *o, const kb_engine_request *rq, size_t n,
			       kb_engine_outcome *out);
/* oracle_test.c: the console log object id written to path (engine's console()) */
int kb_oracle__console(void *ctx, const kb_key *id, const char *path);

#endif
