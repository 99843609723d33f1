/*
 * kbisect/vmpool.h - run reproducers in pre-booted QEMU VMs.
 *
 * A pool boots each kernel once (the "template"), saves the booted guest (guest agent
 * ready) and starts every run as a clone restored from that state, so runs are
 * independent yet skip the boot. Up to `vms` clones run at once; runs are queued with
 * kb_pool_submit() and results streamed back with kb_pool_next(). Every run has a
 * wall-clock limit and ends classified as a kb_run_class (kbisect/common.h).
 * Ownership: the pool owns its QEMU processes, sockets and temporary files; all are
 * gone after kb_pool_free() (and QEMU dies with the process that started it).
 */
#ifndef KBISECT_VMPOOL_H
#define KBISECT_VMPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "kbisect/common.h"
#include "kbisect/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kb_pool kb_pool; /* a pool of VMs; body in vmpool/vmpool_internal.h */

/** The infra title of a run whose clone did not get fresh randomness: the agent could
 * not reseed the guest kernel's RNG, or its token repeated an earlier clone's. */
#define KB_POOL_ENTROPY_TITLE "kbisect: clone entropy not refreshed"

/** After this many such runs kb_pool_health() fails: stop, do not bisect on frozen
 * randomness. */
#define KB_POOL_ENTROPY_MAX_FAILURES 3

/** Options of kb_pool_open(); zero-initialise and set what you need. */
typedef struct {
	unsigned int vms;        /**< VMs at once; 0: number of online CPUs */
	unsigned int mem_mb;     /**< guest RAM in MiB; 0: 512 */
	unsigned int cpus;       /**< guest CPUs; 0: 1 */
	const char *accel;       /**< "tcg", "kvm" or NULL/"auto" (probe KVM, fall back) */
	const char *qemu;        /**< QEMU binary; NULL: qemu-system-x86_64 */
	const char *work_dir;    /**< parent of the pool's temporary dir; NULL: $TMPDIR or
				      /dev/shm when present */
	const char *state_dir;   /**< where snapshots of booted kernels persist across
				      pools; NULL: not kept (the cache, when set, is used) */
	const char *agent;       /**< guest agent binary; NULL: $KBISECT_AGENT or the
				      one built with kbisect */
	const char *busybox;     /**< static busybox; NULL: /bin/busybox */
	double boot_timeout_s;   /**< boot to agent ready; 0: 300 (TCG). Running into it
				      is infra, not a boot failure (a loaded host) */
	int cold;                /**< 1: boot a fresh VM for every run (no snapshot) */
	void *cache;             /**< a kb_cache * (kbisect/cache.h) for consoles and
				      snapshots, or NULL; borrowed, must outlive the pool */
	int verbose;             /**< 1: progress lines on stderr */
	uint64_t console_limit;  /**< console bytes after which a run is stopped as
				      flooding; 0: 32 MiB */
	double silence_s;        /**< a guest whose agent says nothing (no ALIVE) for this
				      long is stopped as hung; 0: 60 */
	unsigned int max_templates; /**< booted snapshots kept in the work dir (each ~130 MB
				      of RAM pages); least recently used ones beyond are
				      dropped and made again when needed; 0: 8 */
} kb_pool_opts;

/** A kernel to test and how to boot it. */
typedef struct {
	const char *kernel;      /**< bzImage (required) */
	const char *initrd;      /**< initramfs that starts the agent; NULL: generated */
	const char *image;       /**< disk image (qcow2/raw, never written) whose init
				      starts the agent; NULL: none. Pre-booted like a kernel:
				      the template's disk writes go to a qcow2 overlay. */
	const char *cmdline;     /**< extra kernel command line, or NULL */
	const kb_key *signature; /**< kernel signature (kbisect/signature.h) of kernel, or
				      NULL: saved VM states are then keyed by the bzImage's
				      SHA-256 (a rebuilt, identical kernel boots again) */
} kb_pool_kernel;

/** One run to do. */
typedef struct {
	const kb_pool_kernel *kernel; /**< copied at submit */
	const char *repro;       /**< static binary or C file (compiled with gcc -static) */
	double timeout_s;        /**< time the reproducer may run; 0: 60 */
	uint64_t tag;            /**< caller's id, returned in the result */
} kb_pool_run;

/** The result of one run. */
typedef struct {
	uint64_t tag;            /**< kb_pool_run.tag */
	unsigned int vm;         /**< which VM slot ran it */
	int klass;               /**< kb_run_class */
	char title[256];         /**< crash or infra title; "" for ok */
	double duration_s;       /**< start of the run to its end */
	double start_s;          /**< start of the run to "reproducer running" */
	int exit_code;           /**< reproducer exit code, -1 if none */
	int timed_out;           /**< 1: the reproducer ran into its time limit */
	int cloned;              /**< 1: started from a snapshot, 0: cold boot */
	int has_console;         /**< 1: console stored in the cache as object `console` */
	kb_key console;          /**< KB_OBJ_CONSOLE object id */
	char *console_log;       /**< the console text (malloc'd; kb_pool_result_clear()) */
	size_t console_len;
	char entropy_token[33];  /**< 16 bytes of the guest's getrandom() read before the
				      reproducer started (after the reseed of a clone), in
				      hex; "" when the agent gave none. Two clones of one
				      template never share it (else the run is infra,
				      KB_POOL_ENTROPY_TITLE) */
} kb_pool_result;

/** What a pool did so far (kb_pool_counters_get()). */
typedef struct {
	unsigned int boots;       /**< kernels booted to make a template */
	unsigned int cold_boots;  /**< runs that booted a fresh VM (opts.cold) */
	unsigned int cache_loads; /**< templates restored from the cache */
	unsigned int state_loads; /**< templates found in opts.state_dir */
	unsigned int derived;     /**< templates made by storing a reproducer */
	unsigned int entropy_failures; /**< runs ended as KB_POOL_ENTROPY_TITLE */
} kb_pool_counters;

/** The guest agent the pool packs by default: $KBISECT_AGENT, else
 * <dir of kbisect>/../libexec/kbisect/kbisect-agent when installed, else the build's. */
const char *kb_vmpool_agent_path(void);

/** Open a pool (no VM starts yet). On success *out is yours: kb_pool_free() it.
 * @return 0, KB_EINVAL (bad options), KB_ERROR (kb_error_last()) */
int kb_pool_open(kb_pool **out, const kb_pool_opts *opts);

/** Kill every VM, remove every temporary file and free the pool; NULL ok. */
void kb_pool_free(kb_pool *pool);

/** The accelerator the pool uses ("tcg" or "kvm"); the probe runs on the first call. */
const char *kb_pool_accel(kb_pool *pool);

/** Why that accelerator was chosen (one line, e.g. "kvm probe failed: ..."). */
const char *kb_pool_accel_reason(kb_pool *pool);

/** Boot kernel and save its snapshot unless one exists (in the pool, the state dir or
 * the cache). With wait=0 the boot happens in the background. A kernel that does not
 * boot (a crash on its console, a reset or poweroff, a file QEMU cannot load) is
 * remembered: its runs end as KB_RUN_BOOT_FAILURE. A boot that fails for the host
 * (boot_timeout_s passed, QEMU could not start or was killed) is KB_RUN_INFRA for the
 * runs queued before it failed and is tried again for later requests.
 * @return 0, KB_ETIMEOUT (boot timeout) / KB_ERROR (other failure), when wait=1 */
int kb_pool_warm(kb_pool *pool, const kb_pool_kernel *kernel, int wait);

/** kb_pool_warm() and more: also store repro in a template of kernel, so the runs of
 * repro on kernel start at once (what the bisect engine does for the next likely
 * candidates while others are tested). wait=0: in the background. */
int kb_pool_prepare(kb_pool *pool, const kb_pool_kernel *kernel, const char *repro,
		    int wait);

/** Queue a run; returns at once. @return 0, KB_EINVAL */
int kb_pool_submit(kb_pool *pool, const kb_pool_run *run);

/** Take the next finished run into *out (kb_pool_result_clear() it), waiting up to
 * timeout_s (< 0: forever). @return 0, KB_ETIMEOUT (none yet), KB_ENOTFOUND (nothing
 * queued or running) */
int kb_pool_next(kb_pool_result *out, kb_pool *pool, double timeout_s);

/** Cancel queued runs and kill running ones and boots (their results say infra
 * "kbisect: cancelled"). Final: later runs are cancelled too. Safe from any thread. */
void kb_pool_cancel(kb_pool *pool);

/** Run repro n times on kernel (at most the pool's VMs at once) and wait for all;
 * *out gets n results (free with kb_pool_results_free()). For the bisect engine. */
int kb_pool_run_n(kb_pool_result **out, kb_pool *pool, const kb_pool_kernel *kernel,
		  const char *repro, unsigned int n, double timeout_s);

/** 0 while the pool's runs can be trusted; KB_ERROR once KB_POOL_ENTROPY_MAX_FAILURES
 * runs had a clone whose randomness was not refreshed (kb_error_last() says which
 * kernel, why, and what to do). Callers stop on it rather than bisect on frozen
 * randomness. Safe while runs go on. */
int kb_pool_health(kb_pool *pool);

/** Copy the pool's counters into *out (safe while runs go on). */
void kb_pool_counters_get(kb_pool_counters *out, kb_pool *pool);

/** Free what a result owns (console_log); NULL ok. */
void kb_pool_result_clear(kb_pool_result *r);

/** Clear and free an array of n results; NULL ok. */
void kb_pool_results_free(kb_pool_result *r, size_t n);

#ifdef __cplusplus
}
#endif
#endif
