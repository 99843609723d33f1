/*
 * vmpool/pool_internal.h - what the pool's three files share (never in include/).
 * Owns: the pool's private types (kb_pool's body, a queued job, a template, how a
 * template failed) and the calls between pool.c (life cycle, queue, reproducers),
 * template.c (templates per kernel) and run.c (the workers and one run).
 * Not: VM, QEMU, snapshot and agent helpers (vmpool_internal.h).
 */
#ifndef KB_POOL_INTERNAL_H
#define KB_POOL_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kbisect/cache.h"
#include "vmpool_internal.h"

#define KB_WARM_TAG UINT64_MAX          /* tag of template-only jobs */

#define AGENT_SILENCE_S 60.0            /* no ALIVE for this long: the guest hangs */
#define GRACE_S 30.0                    /* wall limit = repro timeout + this */
#define CRASH_TAIL_S 5.0                /* keep reading after a report starts */
#define KB_WARM_TAG UINT64_MAX          /* tag of template-only jobs */

typedef struct tmpl {
	struct tmpl *next;
	kb_key key;
	int state; /* 0 booting, 1 ready, 2 the kernel failed to boot (final), 3 not made
		      (evicted, or the last attempt failed for a host reason: made again
		      for requests submitted after that failure) */
	int derived; /* 1: holds a stored reproducer (a failure is infra, not boot) */
	int infra_failed;  /* state 3: the last attempt failed (fail_* say how) */
	uint64_t fail_seq; /* requests up to this seq were queued when it failed: they
			      get the failure instead of another attempt */
	int fail_klass;    /* KB_RUN_BOOT_FAILURE (state 2) or KB_RUN_INFRA */
	int fail_rc;       /* what get_template() returned: KB_ETIMEOUT, KB_ERROR */
	char fail_title[256];
	struct tmpl *base; /* derived: the kernel's template */
	int users;         /* get_template() holders; not evicted while > 0 */
	int clone_failures; /* restores that failed in a row */
	int no_cache;      /* do not load this one from the cache (it failed) */
	double last_used;
	kb_tokens tokens;  /* entropy tokens of its clones so far (under mu) */
	kb_snapshot snap;
	char *console; /* boot failure console */
	size_t console_len;
	char error[512];
} tmpl;

typedef struct job {
	struct job *next;
	uint64_t tag;
	char *kernel, *initrd, *image, *cmdline;
	kb_key sig;  /* kernel signature, when has_sig */
	int has_sig;
	char *repro; /* payload to send */
	int xz;      /* payload is xz-packed */
	int warm_only; /* only make the template (kb_pool_prepare) */
	uint64_t seq;  /* submit order (tmpl.fail_seq) */
	double timeout_s;
} job;

/* Why a template could not be made, as its runs report it (copied under p->mu). */
typedef struct {
	int klass;         /* KB_RUN_BOOT_FAILURE or KB_RUN_INFRA */
	char title[256];
	char *console;     /* the failed boot's console (malloc'd), or NULL */
	size_t console_len;
} tfail;

struct kb_pool {
	kb_pool_opts o;
	char *qemu, *agent, *busybox, *state_dir;
	char dir[512];
	char initrd[600];
	int initrd_ready;
	char accel[8], accel_reason[512];
	char qemu_version[160];  /* first line of qemu --version (in template keys) */
	int accel_done;
	unsigned int n_workers;
	pthread_t *workers;
	pid_t *vm_pids; /* per worker, for cancel */
	pthread_mutex_t mu;
	pthread_mutex_t cache_mu; /* serialises our use of o.cache */
	pthread_cond_t cv;
	job *q_head, *q_tail;
	kb_pool_result *res;
	size_t n_res, cap_res;
	unsigned int pending; /* queued + running */
	int stopping, cancelled;
	tmpl *tmpls;
	unsigned int n_compiled;
	struct compiled { char *src, *bin; int xz; } *compiled;
	struct hashmemo { char *path; dev_t dev; ino_t ino; off_t size; struct timespec mtime;
			  kb_key key; } memo[8];   /* file hashes (under mu) */
	unsigned int n_memo;
	unsigned int n_compiled_cap;
	kb_pool_counters cnt;    /* under mu */
	uint64_t seq;            /* requests so far (under mu): job.seq, tmpl.fail_seq */
	int lock_fd;             /* dir/owner.lock, flock()ed while the pool lives */
	pid_t reaper;            /* removes dir if this process dies without closing */
	char entropy_why[400];   /* the first clone without fresh randomness (under mu) */
};


/* What a worker thread is started with (it frees it). */
typedef struct {
	kb_pool *p;
	unsigned int slot;
} worker_arg;

/* ---- pool.c ---- */

/** The kb_pool_kernel of job j (pointers into j). */
kb_pool_kernel kb_pool__job_kernel(const job *j);

/** Free a job and what it owns (NULL ok). */
void kb_pool__free_job(job *j);

/** Build the pool's initramfs once (p->mu held); 0 or a negative error. */
int kb_pool__ensure_initrd(kb_pool *p);

/** Choose the accelerator once, probing with kernel if "auto" (p->mu held). */
void kb_pool__ensure_accel(kb_pool *p, const char *kernel);

/** The QEMU settings of a VM of the pool (initrd NULL: the pool's; dir: the VM's dir). */
void kb_pool__fill_cfg(kb_pool *p, kb_qemu_cfg *cfg, const char *kernel, const char *initrd,
		       const char *image, const char *cmdline, const char *dir);

/* ---- template.c ---- */

/** Find or make the template of kernel k (prog NULL) or of k with program prog stored
 * in the guest, for request seq, without p->mu held. 0: *out is ready and held (give it
 * back with kb_pool__put_template()); otherwise a negative error, and f (may be NULL;
 * free f->console) says how the runs end. */
int kb_pool__get_template(kb_pool *p, tmpl **out, const kb_pool_kernel *k, const void *prog,
			  size_t prog_len, int xz, uint64_t seq, tfail *f);

/** A holder of t (from kb_pool__get_template()) is done with it (NULL ok). */
void kb_pool__put_template(kb_pool *p, tmpl *t);

/** A clone of t could not be restored: after a few in a row, t is booted again. */
void kb_pool__clone_failed(kb_pool *p, tmpl *t);

/** What a boot that never got the agent ready says: *klass (boot failure or infra) and
 * title (end: a kb_boot_end, con/len: its console, why: the host-side reason). */
void kb_pool__boot_verdict(const kb_pool *p, int end, const char *con, size_t len,
			   const char *why, int *klass, char *title, size_t tlen);

/* ---- run.c ---- */

/** A worker thread of the pool (arg: a malloc'd worker_arg): takes jobs until the pool
 * stops, runs them and queues their results. */
void *kb_pool__worker_main(void *arg);

#endif
