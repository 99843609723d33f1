/*
 * vmpool/pool.c - the VM pool: a queue of runs, P worker threads, templates per kernel,
 * classification of every run, results streamed back.
 * Owns: kb_pool (public API of kbisect/vmpool.h), the pool's temporary directory,
 * compiling C reproducers, the run protocol with the agent, deadlines and kill rules.
 * Not: QEMU argv (qemu.c), save/restore (snapshot.c), fresh randomness for clones
 * (entropy.c), its directory's lock and reaper (pooldir.c), crash titles (report.c, the
 * "report" module: kb_report_parse()).
 * DESIGN: one worker thread per VM slot; a worker takes a run, makes sure its kernel
 * has a template (booting it itself if nobody else is; others wait), starts a clone,
 * sends the reproducer, and watches three things until the run ends: the agent line
 * (START, ALIVE, EXIT), the console file (streamed through the report scanner, size
 * capped) and QEMU itself (exit, SHUTDOWN reason). QEMU is started by the worker
 * thread, which lives as long as the pool, so PR_SET_PDEATHSIG ties QEMU to us.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "kbisect/cache.h"
#include "kbisect/report.h"
#include "vmpool_internal.h"

#define CONSOLE_FLOOD_BYTES (32u << 20) /* more console output than this: stop the VM */
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

/* The kb_pool_kernel of job j (pointers into j). */
static kb_pool_kernel job_kernel(const job *j)
{
	kb_pool_kernel k = { .kernel = j->kernel, .initrd = j->initrd, .image = j->image,
			     .cmdline = j->cmdline, .signature = j->has_sig ? &j->sig : NULL };
	return k;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void free_job(job *j)
{
	if (!j)
		return;
	free(j->kernel);
	free(j->initrd);
	free(j->image);
	free(j->cmdline);
	free(j->repro);
	free(j);
}

void kb_pool_result_clear(kb_pool_result *r)
{
	if (!r)
		return;
	free(r->console_log);
	r->console_log = NULL;
	r->console_len = 0;
}

void kb_pool_results_free(kb_pool_result *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		kb_pool_result_clear(&r[i]);
	free(r);
}

static int rmrf(const char *path)
{
	return kb_vm__rmrf(path);
}

static void rmrf_sub(const char *dir, const char *name)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rmrf(path);
}


typedef struct {
	kb_pool *p;
	unsigned int slot;
} worker_arg;

static void *worker_main(void *arg);
static int slurp_file(const char *path, void **out, size_t *len);
static int prepare_repro(kb_pool *p, const char *src, char **bin, int *xz);
static int submit(kb_pool *p, const kb_pool_run *run, int warm_only);
static int get_template(kb_pool *p, tmpl **out, const kb_pool_kernel *k, const void *prog,
			size_t prog_len, int xz, uint64_t seq, tfail *f);

/* A new request's number (templates that failed for a host reason before it are made
 * again for it). */
static uint64_t next_seq(kb_pool *p)
{
	uint64_t s;
	pthread_mutex_lock(&p->mu);
	s = ++p->seq;
	pthread_mutex_unlock(&p->mu);
	return s;
}

int kb_pool_open(kb_pool **out, const kb_pool_opts *opts)
{
	kb_pool_opts def = { 0 };
	const char *base;
	kb_pool *p;
	long ncpu;
	int r;

	*out = NULL;
	if (!opts)
		opts = &def;
	if (opts->accel && strcmp(opts->accel, "auto") && strcmp(opts->accel, "tcg") &&
	    strcmp(opts->accel, "kvm"))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "unknown accelerator '%s'; use tcg, kvm or auto", opts->accel);
	if (opts->vms > 256)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "%u vms is too many; use at most 256", opts->vms);
	p = calloc(1, sizeof(*p));
	if (!p)
		return kb_error_os("out of memory");
	p->lock_fd = -1;
	p->o = *opts;
	if (!p->o.mem_mb)
		p->o.mem_mb = 512;
	if (!p->o.cpus)
		p->o.cpus = 1;
	if (p->o.boot_timeout_s <= 0)
		p->o.boot_timeout_s = 300;
	if (!p->o.console_limit)
		p->o.console_limit = CONSOLE_FLOOD_BYTES;
	if (p->o.silence_s <= 0)
		p->o.silence_s = AGENT_SILENCE_S;
	if (!p->o.max_templates)
		p->o.max_templates = 8;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	p->n_workers = p->o.vms ? p->o.vms : (unsigned int)(ncpu > 0 ? ncpu : 1);
	p->qemu = strdup(opts->qemu ? opts->qemu : "qemu-system-x86_64");
	p->agent = strdup(opts->agent ? opts->agent : kb_initramfs__agent_path());
	p->busybox = strdup(opts->busybox ? opts->busybox : "/bin/busybox");
	p->state_dir = xstrdup(opts->state_dir);
	p->o.accel = NULL;
	p->o.qemu = p->o.agent = p->o.busybox = p->o.state_dir = p->o.work_dir = NULL;
	base = opts->work_dir;
	if (!base) {
		/* RAM files of templates: tmpfs is fastest, but a container's /dev/shm is
		 * often 64 MiB; use it only with room for a few templates */
		struct statvfs vfs;
		base = getenv("TMPDIR");
		if (!base || !*base)
			base = statvfs("/dev/shm", &vfs) == 0 && access("/dev/shm", W_OK) == 0 &&
					       (uint64_t)vfs.f_bavail * vfs.f_frsize >=
						       (uint64_t)p->o.mem_mb * 4 << 20 ?
				       "/dev/shm" : "/tmp";
	}
	if (strchr(base, '\'')) {
		kb_pool_close(p);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL, "work dir '%s' contains a "
				     "quote, which qemu's exec: migration cannot take; use "
				     "another TMPDIR", base);
	}
	kb_pooldir__sweep(base);
	snprintf(p->dir, sizeof(p->dir), "%s/kbisect-pool-%d-XXXXXX", base, (int)getpid());
	if (!mkdtemp(p->dir)) {
		r = kb_error_os("cannot create the pool's directory under '%s'", base);
		p->dir[0] = '\0';
		kb_pool_close(p);
		return r;
	}
	if ((r = kb_pooldir__lock(p->dir, &p->lock_fd)) < 0) {
		kb_pool_close(p);
		return r;
	}
	if (!getenv("KBISECT_KEEP_VM"))
		p->reaper = kb_pooldir__reaper(p->dir);
	if (opts->accel && strcmp(opts->accel, "auto")) {
		snprintf(p->accel, sizeof(p->accel), "%s", opts->accel);
		snprintf(p->accel_reason, sizeof(p->accel_reason), "asked for with --accel");
		p->accel_done = !strcmp(opts->accel, "tcg");
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->cache_mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->workers = calloc(p->n_workers, sizeof(*p->workers));
	p->vm_pids = calloc(p->n_workers, sizeof(*p->vm_pids));
	if (!p->workers || !p->vm_pids) {
		kb_pool_close(p);
		return kb_error_os("out of memory");
	}
	for (unsigned int i = 0; i < p->n_workers; i++) {
		worker_arg *wa = malloc(sizeof(*wa));
		if (wa) {
			wa->p = p;
			wa->slot = i;
		}
		if (!wa || pthread_create(&p->workers[i], NULL, worker_main, wa)) {
			free(wa);
			p->n_workers = i;
			kb_pool_close(p);
			return kb_error_os("cannot start pool threads");
		}
	}
	*out = p;
	return 0;
}

void kb_pool_cancel(kb_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	__atomic_store_n(&p->cancelled, 1, __ATOMIC_RELAXED);
	for (unsigned int i = 0; i < p->n_workers; i++)
		if (p->vm_pids[i] > 0)
			kill(-p->vm_pids[i], SIGKILL);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void kb_pool_close(kb_pool *p)
{
	if (!p)
		return;
	if (p->workers) {
		kb_pool_cancel(p);
		pthread_mutex_lock(&p->mu);
		p->stopping = 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		for (unsigned int i = 0; i < p->n_workers; i++)
			pthread_join(p->workers[i], NULL);
		pthread_mutex_destroy(&p->mu);
		pthread_mutex_destroy(&p->cache_mu);
		pthread_cond_destroy(&p->cv);
	}
	while (p->q_head) {
		job *j = p->q_head;
		p->q_head = j->next;
		free_job(j);
	}
	kb_pool_results_free(p->res, p->n_res);
	while (p->tmpls) {
		tmpl *t = p->tmpls;
		p->tmpls = t->next;
		kb_tokens__free(&t->tokens);
		free(t->console);
		free(t);
	}
	for (unsigned int i = 0; i < p->n_compiled; i++) {
		free(p->compiled[i].src);
		free(p->compiled[i].bin);
	}
	free(p->compiled);
	for (unsigned int i = 0; i < p->n_memo; i++)
		free(p->memo[i].path);
	if (p->dir[0] && !getenv("KBISECT_KEEP_VM"))
		rmrf(p->dir);
	if (p->reaper > 0) { /* not needed any more (KBISECT_KEEP_VM: keep the dir) */
		kill(p->reaper, SIGKILL);
		while (waitpid(p->reaper, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (p->lock_fd >= 0)
		close(p->lock_fd);
	free(p->workers);
	free(p->vm_pids);
	free(p->qemu);
	free(p->agent);
	free(p->busybox);
	free(p->state_dir);
	free(p);
}

/* ---- shared setup (under p->mu) ---- */

static int ensure_initrd(kb_pool *p)
{
	int r;
	if (p->initrd_ready)
		return 0;
	snprintf(p->initrd, sizeof(p->initrd), "%s/initramfs.cpio", p->dir);
	r = kb_initramfs__build(p->initrd, p->busybox, p->agent);
	if (r == 0)
		p->initrd_ready = 1;
	return r;
}

static void ensure_accel(kb_pool *p, const char *kernel)
{
	if (p->accel_done)
		return;
	if (ensure_initrd(p) < 0) {
		snprintf(p->accel, sizeof(p->accel), "tcg");
		snprintf(p->accel_reason, sizeof(p->accel_reason), "no initramfs to probe kvm with");
	} else {
		const char *want = p->accel[0] ? p->accel : "auto";
		char acc[8];
		kb_accel__choose(acc, p->accel_reason, sizeof(p->accel_reason), want, p->qemu,
				 p->state_dir, kernel, p->initrd, p->dir);
		snprintf(p->accel, sizeof(p->accel), "%s", acc);
	}
	p->accel_done = 1;
	if (p->o.verbose)
		fprintf(stderr, "kbisect: accelerator %s (%s)\n", p->accel, p->accel_reason);
}

void kb_pool_counters_get(kb_pool *p, kb_pool_counters *out)
{
	pthread_mutex_lock(&p->mu);
	*out = p->cnt;
	pthread_mutex_unlock(&p->mu);
}

int kb_pool_health(kb_pool *p)
{
	char why[400];
	unsigned int n;

	pthread_mutex_lock(&p->mu);
	n = p->cnt.entropy_failures;
	snprintf(why, sizeof(why), "%s", p->entropy_why);
	pthread_mutex_unlock(&p->mu);
	if (n < KB_POOL_ENTROPY_MAX_FAILURES)
		return 0;
	return kb_error_set(KB_ERRCLASS_VMPOOL, "%u runs were clones whose randomness was not "
			    "refreshed (%s); their results would repeat one random draw, so "
			    "stopping rather than testing on frozen randomness. Use --cold "
			    "(every run boots), or a guest kernel and agent that accept "
			    "RNDADDENTROPY and RNDRESEEDCRNG on /dev/urandom", n, why);
}

const char *kb_pool_accel(kb_pool *p)
{
	return p->accel_done ? p->accel : "";
}

const char *kb_pool_accel_reason(kb_pool *p)
{
	return p->accel_reason;
}

static void fill_cfg(kb_pool *p, kb_qemu_cfg *cfg, const char *kernel, const char *initrd,
		     const char *image, const char *cmdline, const char *dir)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->qemu = p->qemu;
	cfg->accel = p->accel;
	cfg->mem_mb = p->o.mem_mb;
	cfg->cpus = p->o.cpus;
	cfg->kernel = kernel;
	cfg->initrd = initrd ? initrd : p->initrd;
	cfg->image = image;
	cfg->cmdline_extra = cmdline;
	cfg->dir = dir;
	cfg->cancel = &p->cancelled;
}

/* kb_sha256_file() remembered by (device, inode, size, mtime); called with p->mu held. */
static int hash_file_memo(kb_pool *p, kb_key *out, const char *path)
{
	struct stat st;
	struct hashmemo *m;
	int r;

	if (stat(path, &st) < 0)
		return kb_error_os("cannot stat '%s'", path);
	for (unsigned int i = 0; i < p->n_memo; i++) {
		m = &p->memo[i];
		if (!strcmp(m->path, path) && m->dev == st.st_dev && m->ino == st.st_ino &&
		    m->size == st.st_size && m->mtime.tv_sec == st.st_mtim.tv_sec &&
		    m->mtime.tv_nsec == st.st_mtim.tv_nsec) {
			*out = m->key;
			return 0;
		}
	}
	if ((r = kb_sha256_file(out, path)) < 0)
		return r;
	m = &p->memo[p->n_memo < 8 ? p->n_memo++ : (st.st_ino % 8)];
	free(m->path);
	m->path = strdup(path);
	if (!m->path) {
		m->path = strdup("");
		return 0;
	}
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->size = st.st_size;
	m->mtime = st.st_mtim;
	m->key = *out;
	return 0;
}

/* The key of kernel k's template (kb_vmstate__key()): its signature or bzImage hash,
 * the initramfs or disk image, and the VM settings. Called with p->mu held. */
static int tmpl_key(kb_pool *p, kb_key *out, const kb_pool_kernel *k)
{
	kb_vmstate_key_in in = { 0 };
	kb_key kh, ih, dh;
	kb_qemu_cfg cfg;
	char cmdline[2048];
	int r;

	if (k->signature) {
		in.signature = k->signature;
	} else {
		if ((r = hash_file_memo(p, &kh, k->kernel)) < 0)
			return r;
		in.kernel_hash = &kh;
	}
	if (k->image) { /* the agent is in the image; no initramfs is used */
		if ((r = hash_file_memo(p, &dh, k->image)) < 0)
			return r;
		in.image_hash = &dh;
	} else {
		if ((r = hash_file_memo(p, &ih, k->initrd ? k->initrd : p->initrd)) < 0)
			return r;
		in.initrd_hash = &ih;
	}
	if (!p->qemu_version[0]) { /* a state saved by another QEMU may not restore */
		char path[700], *argv[] = { p->qemu, "--version", NULL };
		FILE *f;
		snprintf(path, sizeof(path), "%.600s/qemu-version", p->dir);
		snprintf(p->qemu_version, sizeof(p->qemu_version), "unknown");
		if (kb_vm__run(argv, path, NULL) == 0 && (f = fopen(path, "r"))) {
			if (fgets(p->qemu_version, sizeof(p->qemu_version), f))
				p->qemu_version[strcspn(p->qemu_version, "\n")] = '\0';
			fclose(f);
		}
		unlink(path);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.image = k->image;
	cfg.cmdline_extra = k->cmdline;
	kb_qemu__cmdline(cmdline, sizeof(cmdline), &cfg);
	in.mem_mb = p->o.mem_mb;
	in.cpus = p->o.cpus;
	in.accel = p->accel;
	in.cpu_model = kb_qemu__cpu_model(p->accel);
	in.machine = "pc+vmgenid"; /* the device is in the saved state */
	in.qemu_version = p->qemu_version;
	in.cmdline = cmdline;
	kb_vmstate__key(out, &in);
	return 0;
}

/* A holder of t (from get_template()) is done with it. */
static void put_template(kb_pool *p, tmpl *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&p->mu);
	if (t->users > 0)
		t->users--;
	pthread_mutex_unlock(&p->mu);
}

/* Keep at most max_templates snapshots in the pool's directory (each holds the pages
 * the guest touched, ~130 MB for a Debian kernel): remove the least recently used ones
 * nobody holds. Running clones keep their mapping; an evicted template is made again
 * (from the cache, or booted) when it is needed. Called with p->mu held. */
static void evict_templates(kb_pool *p)
{
	for (;;) {
		unsigned int n = 0;
		tmpl *victim = NULL;
		size_t plen = strlen(p->dir);
		for (tmpl *t = p->tmpls; t; t = t->next) {
			if (t->state != 1 || strncmp(t->snap.dir, p->dir, plen))
				continue; /* not ready, or kept in the state dir */
			n++;
			if (t->users == 0 && (!victim || t->last_used < victim->last_used))
				victim = t;
		}
		if (n <= p->o.max_templates || !victim)
			return;
		rmrf(victim->snap.dir);
		victim->state = 3;
		if (p->o.verbose)
			fprintf(stderr, "kbisect: dropped an unused template to save memory\n");
	}
}

/* A clone of t could not be restored. After a few failures in a row the snapshot is
 * presumed bad (e.g. saved by an incompatible QEMU into the cache): drop it and make it
 * again by booting, not from the cache. */
static void clone_failed(kb_pool *p, tmpl *t)
{
	pthread_mutex_lock(&p->mu);
	if (t->state == 1 && ++t->clone_failures >= 3 && t->users == 1) {
		kb_vm__rmrf(t->snap.dir);
		t->state = 3;
		t->no_cache = 1;
		t->clone_failures = 0;
		fprintf(stderr, "kbisect: warning: clones of a saved vm fail; booting it again\n");
	}
	pthread_mutex_unlock(&p->mu);
}

/* What a boot that never got the agent ready says (end: a kb_boot_end, con: its
 * console, why: the host-side reason). Only the kernel's own failures are boot failures:
 * a crash report on the console (panic, oops, "Unable to mount root fs": the title is
 * the crash's), the guest resetting or powering off, QEMU refusing the kernel file.
 * Anything else - the deadline passed on a loaded host, QEMU could not start, was
 * killed or lost its sockets - says nothing about the kernel: infra. */
static void boot_verdict(const kb_pool *p, int end, const char *con, size_t len,
			 const char *why, int *klass, char *title, size_t tlen)
{
	kb_report rep;
	kb_report_ctx ctx = { .end = KB_REPORT_END_NO_BOOT };

	if (end != KB_BOOT_END_CANCELLED && con &&
	    kb_report_parse(&rep, con, len, &ctx) == 0) {
		int crash = rep.klass == KB_RUN_CRASH;
		if (crash) {
			*klass = KB_RUN_BOOT_FAILURE;
			snprintf(title, tlen, "%s", rep.title);
		}
		kb_report_free(&rep);
		if (crash)
			return;
	}
	switch (end) {
	case KB_BOOT_END_GUEST:
		*klass = KB_RUN_BOOT_FAILURE;
		snprintf(title, tlen, "the kernel reset or powered off before the agent was ready");
		break;
	case KB_BOOT_END_BAD_KERNEL:
		*klass = KB_RUN_BOOT_FAILURE;
		snprintf(title, tlen, "%.250s", why);
		break;
	case KB_BOOT_END_TIMEOUT:
		*klass = KB_RUN_INFRA;
		snprintf(title, tlen, "kbisect: boot timed out after %g s (machine overloaded?)",
			 p->o.boot_timeout_s);
		break;
	case KB_BOOT_END_CANCELLED:
		*klass = KB_RUN_INFRA;
		snprintf(title, tlen, "kbisect: cancelled");
		break;
	default:
		*klass = KB_RUN_INFRA;
		snprintf(title, tlen, "kbisect: boot failed on the host: %.200s", why);
		break;
	}
}

/* Copy how t failed into f (p->mu held). */
static void tfail_set(tfail *f, const tmpl *t)
{
	if (!f)
		return;
	f->klass = t->state == 0 ? KB_RUN_INFRA : t->fail_klass; /* 0: cancelled waiting */
	snprintf(f->title, sizeof(f->title), "%s",
		 t->state == 0 || !t->fail_title[0] ? "kbisect: cancelled" : t->fail_title);
	free(f->console);
	f->console = NULL;
	f->console_len = 0;
	if (t->console && (f->console = malloc(t->console_len + 1))) {
		memcpy(f->console, t->console, t->console_len);
		f->console[t->console_len] = '\0';
		f->console_len = t->console_len;
	}
}

/* Find or make the template of a kernel (prog NULL: booted, agent ready) or of a kernel
 * with a program stored in the guest (derived from the former), for request seq.
 * Called by a worker (or kb_pool_warm) without p->mu held. *out stays valid until the
 * pool closes. On failure f (may be NULL; free f->console) says how the runs end: a
 * kernel that cannot boot stays failed; a failure of the host is given to the requests
 * queued before it (seq <= fail_seq) and the template is made again for later ones. */
static int get_template(kb_pool *p, tmpl **out, const kb_pool_kernel *k, const void *prog,
			size_t prog_len, int xz, uint64_t seq, tfail *f)
{
	const char *kernel = k->kernel, *initrd = k->initrd, *cmdline = k->cmdline;
	kb_key key;
	kb_qemu_cfg cfg;
	tmpl *t, *base = NULL;
	char hex[65], tmpdir[600], why[300] = "";
	kb_snapshot tmp = { 0 };
	tfail bf = { .klass = KB_RUN_INFRA };
	char *con = NULL;
	size_t con_len = 0;
	int r, from_cache = 0, derive_failed = 0, bend = KB_BOOT_END_HOST;

	*out = NULL;
	if (f) {
		f->klass = KB_RUN_INFRA;
		f->title[0] = '\0';
	}
	pthread_mutex_lock(&p->mu);
	ensure_accel(p, kernel);
	if (!initrd && (r = ensure_initrd(p)) < 0) {
		pthread_mutex_unlock(&p->mu);
		return r;
	}
	if ((r = tmpl_key(p, &key, k)) < 0) {
		pthread_mutex_unlock(&p->mu);
		return r;
	}
	if (prog) { /* the key of the template holding prog, derived from the kernel's */
		kb_key ph;
		char text[200], bh[65], phx[65];
		kb_sha256(&ph, prog, prog_len);
		kb_key_to_hex(bh, &key);
		kb_key_to_hex(phx, &ph);
		snprintf(text, sizeof(text), "kbisect-vmstate-repro-1 %s %s", bh, phx);
		kb_sha256(&key, text, strlen(text));
	}
	for (t = p->tmpls; t; t = t->next)
		if (kb_key_equal(&t->key, &key))
			break;
	if (t) {
		while (t->state == 0 && !p->cancelled)
			pthread_cond_wait(&p->cv, &p->mu);
		if (t->state == 1) {
			t->users++;
			t->last_used = kb_vm__now();
			pthread_mutex_unlock(&p->mu);
			*out = t;
			return 0;
		}
		if (t->state != 3 || (t->infra_failed && seq <= t->fail_seq)) {
			tfail_set(f, t);
			pthread_mutex_unlock(&p->mu);
			*out = t;
			return kb_error_setc(t->state != 0 && t->fail_rc < 0 ? t->fail_rc : KB_ERROR,
					     KB_ERRCLASS_VMPOOL, "%s", t->state != 0 && t->error[0] ?
					     t->error : "cancelled");
		}
		t->state = 0; /* evicted, or failed for the host before this request: again */
		t->infra_failed = 0;
	} else {
		t = calloc(1, sizeof(*t));
		if (!t) {
			pthread_mutex_unlock(&p->mu);
			return kb_error_os("out of memory");
		}
		t->key = key;
		t->derived = prog != NULL;
		t->next = p->tmpls;
		p->tmpls = t;
	}
	kb_key_to_hex(hex, &key);
	/* a snapshot kept in the state dir from an earlier pool */
	if (p->state_dir) {
		mkdir(p->state_dir, 0755);
		snprintf(t->snap.dir, sizeof(t->snap.dir), "%.400s/vmstate-%.16s", p->state_dir, hex);
		snprintf(t->snap.ram, sizeof(t->snap.ram), "%s/ram", t->snap.dir);
		snprintf(t->snap.state, sizeof(t->snap.state), "%s/state", t->snap.dir);
		t->snap.disk[0] = '\0';
		if (k->image)
			snprintf(t->snap.disk, sizeof(t->snap.disk), "%.500s/disk.qcow2",
				 t->snap.dir);
		if (access(t->snap.ram, R_OK) == 0 && access(t->snap.state, R_OK) == 0 &&
		    (!k->image || access(t->snap.disk, R_OK) == 0) &&
		    (!k->image || kb_snapshot__rebase(&t->snap, k->image) == 0)) {
			t->state = 1;
			t->users++;
			t->last_used = kb_vm__now();
			p->cnt.state_loads++;
			pthread_cond_broadcast(&p->cv);
			pthread_mutex_unlock(&p->mu);
			*out = t;
			return 0;
		}
	} else {
		snprintf(t->snap.dir, sizeof(t->snap.dir), "%.400s/tmpl-%.16s", p->dir, hex);
	}
	fill_cfg(p, &cfg, kernel, initrd, k->image, cmdline, NULL);
	pthread_mutex_unlock(&p->mu);

	snprintf(tmpdir, sizeof(tmpdir), "%.500s.tmp%d", t->snap.dir, (int)getpid());
	rmrf(tmpdir);
	if (mkdir(tmpdir, 0700) < 0) {
		r = kb_error_os("cannot create '%s'", tmpdir);
		goto done;
	}
	snprintf(tmp.dir, sizeof(tmp.dir), "%.500s", tmpdir);
	if (p->o.cache && !t->no_cache) { /* booted before, by this or another kbisect */
		pthread_mutex_lock(&p->cache_mu);
		r = kb_vmstate__load(p->o.cache, &key, &tmp);
		pthread_mutex_unlock(&p->cache_mu);
		if (r == 0 && !!tmp.disk[0] != !!k->image)
			r = KB_ECORRUPT; /* cannot happen: the image is in the key */
		if (r == 0 && k->image)
			r = kb_snapshot__rebase(&tmp, k->image);
		if (r == 0) {
			from_cache = 1;
			pthread_mutex_lock(&p->mu);
			p->cnt.cache_loads++;
			pthread_mutex_unlock(&p->mu);
			if (p->o.verbose)
				fprintf(stderr, "kbisect: %s of '%s' restored from the cache\n",
					prog ? "template with the reproducer" : "booted vm", kernel);
			goto ready;
		}
		rmrf_sub(tmpdir, "ram");
		rmrf_sub(tmpdir, "state");
	}
	if (p->o.verbose)
		fprintf(stderr, prog ? "kbisect: storing the reproducer in a template of '%s'\n" :
				       "kbisect: booting '%s' once\n", kernel);
	if (prog) {
		/* the kernel's own template first (boots it, or waits for who does) */
		r = get_template(p, &base, k, NULL, 0, 0, seq, &bf);
		t->base = base;
		if (r == 0) {
			pthread_mutex_lock(&p->mu);
			p->cnt.derived++;
			pthread_mutex_unlock(&p->mu);
			r = kb_snapshot__derive(&tmp, &base->snap, &cfg, prog, prog_len, xz, 300);
			if (r < 0 && !__atomic_load_n(&p->cancelled, __ATOMIC_RELAXED)) {
				/* the kernel's snapshot may be bad: make both again next time */
				derive_failed = 1;
				pthread_mutex_lock(&p->mu);
				if (base->state == 1 && base->users == 1) {
					kb_vm__rmrf(base->snap.dir);
					base->state = 3;
					base->no_cache = 1;
				}
				pthread_mutex_unlock(&p->mu);
			}
			put_template(p, base);
		}
	} else {
		pthread_mutex_lock(&p->mu);
		p->cnt.boots++;
		pthread_mutex_unlock(&p->mu);
		r = kb_snapshot__create(&tmp, &cfg, p->o.boot_timeout_s, &con, &con_len, &bend,
					why, sizeof(why));
	}
	if (r == 0 && p->o.cache) {
		double t1 = kb_vm__now();
		pthread_mutex_lock(&p->cache_mu);
		if (kb_vmstate__store(p->o.cache, &key, &tmp) < 0)
			fprintf(stderr, "kbisect: warning: vm state not cached: %s\n",
				kb_error_last()->message);
		else if (p->o.verbose)
			fprintf(stderr, "kbisect: vm state stored in the cache in %.1fs\n",
				kb_vm__now() - t1);
		pthread_mutex_unlock(&p->cache_mu);
	}
ready:
	if (r == 0) {
		rmrf(t->snap.dir);
		if (rename(tmpdir, t->snap.dir) < 0)
			r = kb_error_os("cannot rename '%s'", tmpdir);
		t->snap.boot_s = tmp.boot_s;
		snprintf(t->snap.ram, sizeof(t->snap.ram), "%.500s/ram", t->snap.dir);
		snprintf(t->snap.state, sizeof(t->snap.state), "%.500s/state", t->snap.dir);
		t->snap.disk[0] = '\0';
		if (tmp.disk[0])
			snprintf(t->snap.disk, sizeof(t->snap.disk), "%.500s/disk.qcow2",
				 t->snap.dir);
		rmrf_sub(t->snap.dir, "boot");
	}
	if (r < 0)
		rmrf(tmpdir);
done:
	if (r < 0) {
		int klass = KB_RUN_INFRA;
		char title[256];
		if (!why[0])
			snprintf(why, sizeof(why), "%s", kb_error_last()->message);
		if (prog && base && !derive_failed) { /* the kernel's template failed */
			klass = bf.klass;
			snprintf(title, sizeof(title), "%s", bf.title);
			free(con);
			con = bf.console;
			con_len = bf.console_len;
			bf.console = NULL;
		} else if (prog) {
			snprintf(title, sizeof(title), "kbisect: cannot store the reproducer in the "
				 "vm: %.200s", why);
		} else {
			boot_verdict(p, bend, con, con_len, why, &klass, title, sizeof(title));
		}
		pthread_mutex_lock(&p->mu);
		if (klass == KB_RUN_BOOT_FAILURE)
			snprintf(t->error, sizeof(t->error), "kernel '%.200s' does not boot: %.255s",
				 kernel, title);
		else
			snprintf(t->error, sizeof(t->error), "kernel '%.180s' could not be %s: "
				 "%.255s; it is tried again on the next request", kernel,
				 prog ? "prepared" : "booted", title);
		r = kb_error_setc(r, KB_ERRCLASS_VMPOOL, "%s", t->error);
		snprintf(t->fail_title, sizeof(t->fail_title), "%s", title);
		t->fail_klass = klass;
		t->fail_rc = r;
		free(t->console);
		t->console = con;
		t->console_len = con_len;
		con = NULL;
		/* only the kernel's own failure is final; a failed derive drops the kernel's
		 * snapshot too (derive_failed) and both are made again by the next run that
		 * needs them (a bad saved state recovers within one batch) */
		t->state = klass == KB_RUN_BOOT_FAILURE ? 2 : 3;
		t->infra_failed = t->state == 3 && !derive_failed;
		t->fail_seq = p->seq;
		t->no_cache = derive_failed;
		tfail_set(f, t);
		if (p->o.verbose)
			fprintf(stderr, "kbisect: %s '%s' failed (%s): %s\n",
				prog ? "storing the reproducer for" : "booting", kernel,
				t->state == 2 ? "boot failure of the kernel" :
						"infra, made again on the next request", title);
	} else {
		pthread_mutex_lock(&p->mu);
		t->infra_failed = 0;
		t->state = 1;
		t->users++;
		t->last_used = kb_vm__now();
		evict_templates(p);
		if (p->o.verbose && !from_cache)
			fprintf(stderr, "kbisect: %s '%s' in %.1fs, saved\n",
				prog ? "stored the reproducer for" : "booted", kernel, t->snap.boot_s);
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	free(con);
	free(bf.console);
	*out = t;
	return r;
}

int kb_pool_warm(kb_pool *p, const kb_pool_kernel *k, int wait)
{
	tmpl *t;
	int r;
	if (!k || !k->kernel)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL, "no kernel to warm");
	if (p->o.cold)
		return 0; /* nothing to pre-boot */
	if (!wait) {
		kb_pool_run run = { .kernel = k, .repro = NULL, .tag = KB_WARM_TAG };
		return submit(p, &run, 1);
	}
	r = get_template(p, &t, k, NULL, 0, 0, next_seq(p), NULL);
	if (r == 0)
		put_template(p, t);
	return r;
}

int kb_pool_prepare(kb_pool *p, const kb_pool_kernel *k, const char *repro, int wait)
{
	kb_pool_run run = { .kernel = k, .repro = repro, .tag = KB_WARM_TAG };
	char *bin = NULL;
	void *prog = NULL;
	size_t plen = 0;
	tmpl *t;
	int r, xz = 0;

	if (!k || !k->kernel || !repro)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL, "no kernel or reproducer to "
				     "prepare");
	if (p->o.cold)
		return 0;
	if (!wait)
		return submit(p, &run, 1);
	pthread_mutex_lock(&p->mu);
	r = prepare_repro(p, repro, &bin, &xz);
	pthread_mutex_unlock(&p->mu);
	if (r == 0)
		r = slurp_file(bin, &prog, &plen);
	if (r == 0) {
		r = get_template(p, &t, k, prog, plen, xz, next_seq(p), NULL);
		if (r == 0)
			put_template(p, t);
	}
	free(prog);
	free(bin);
	return r;
}

/* ---- reproducers ---- */

/* Make the bytes to send for reproducer src: compile a C file (gcc -static), then pack
 * with xz when available (the serial channel is slow; busybox unpacks in the guest).
 * Done once per source per pool. *bin gets the payload path, *xz 1 if packed. */
static int prepare_repro(kb_pool *p, const char *src, char **bin, int *xz)
{
	size_t n = strlen(src);
	char out[700], packed[720], log[720];
	const char *raw = src;
	int st;

	*bin = NULL;
	*xz = 0;
	if (access(src, R_OK) < 0)
		return kb_error_os("cannot read reproducer '%s'", src);
	for (unsigned int i = 0; i < p->n_compiled; i++)
		if (!strcmp(p->compiled[i].src, src)) {
			*bin = strdup(p->compiled[i].bin);
			*xz = p->compiled[i].xz;
			return 0;
		}
	snprintf(out, sizeof(out), "%.600s/repro%u", p->dir, p->n_compiled);
	snprintf(log, sizeof(log), "%s.log", out);
	if (n >= 2 && !strcmp(src + n - 2, ".c")) {
		char *cc[] = { "gcc", "-static", "-O1", "-s", "-pthread", "-o", out, (char *)src,
			       NULL };
		st = kb_vm__run(cc, NULL, log);
		if (st != 0) {
			FILE *f = fopen(log, "r");
			char first[300] = "", l[300];
			while (f && fgets(l, sizeof(l), f))
				if (strstr(l, "error")) {
					snprintf(first, sizeof(first), "%s", l);
					break;
				}
			if (f)
				fclose(f);
			first[strcspn(first, "\n")] = '\0';
			return kb_error_set(KB_ERRCLASS_VMPOOL,
					    "cannot compile reproducer '%s' with 'gcc -static': %s; "
					    "fix it or pass a static binary", src, first);
		}
		raw = out;
	}
	snprintf(packed, sizeof(packed), "%s.xz", out);
	char *xzv[] = { "xz", "-6", "--check=crc32", "-c", (char *)raw, NULL };
	if (kb_vm__run(xzv, packed, NULL) == 0) {
		snprintf(out, sizeof(out), "%.690s", packed);
		*xz = 1;
	} else {
		unlink(packed); /* no xz on this host: send it as it is */
		if (raw != out)
			snprintf(out, sizeof(out), "%.690s", raw);
	}
	if (p->n_compiled == p->n_compiled_cap) {
		unsigned int nc = p->n_compiled_cap ? p->n_compiled_cap * 2 : 8;
		void *nv = realloc(p->compiled, nc * sizeof(*p->compiled));
		if (!nv)
			return kb_error_os("out of memory");
		p->compiled = nv;
		p->n_compiled_cap = nc;
	}
	p->compiled[p->n_compiled].src = strdup(src);
	p->compiled[p->n_compiled].bin = strdup(out);
	p->compiled[p->n_compiled].xz = *xz;
	p->n_compiled++;
	*bin = strdup(out);
	return 0;
}

int kb_pool_submit(kb_pool *p, const kb_pool_run *run)
{
	return submit(p, run, 0);
}

static int submit(kb_pool *p, const kb_pool_run *run, int warm_only)
{
	job *j;
	int r;

	if (!run || !run->kernel || !run->kernel->kernel)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL, "run has no kernel; pass one");
	if (access(run->kernel->kernel, R_OK) < 0)
		return kb_error_os("cannot read kernel '%s'", run->kernel->kernel);
	j = calloc(1, sizeof(*j));
	if (!j)
		return kb_error_os("out of memory");
	j->tag = run->tag;
	j->kernel = xstrdup(run->kernel->kernel);
	j->initrd = xstrdup(run->kernel->initrd);
	j->image = xstrdup(run->kernel->image);
	j->cmdline = xstrdup(run->kernel->cmdline);
	if (run->kernel->signature) {
		j->sig = *run->kernel->signature;
		j->has_sig = 1;
	}
	j->timeout_s = run->timeout_s > 0 ? run->timeout_s : 60;
	pthread_mutex_lock(&p->mu);
	if (run->repro && (r = prepare_repro(p, run->repro, &j->repro, &j->xz)) < 0) {
		pthread_mutex_unlock(&p->mu);
		free_job(j);
		return r;
	}
	if (p->q_tail)
		p->q_tail->next = j;
	else
		p->q_head = j;
	p->q_tail = j;
	j->warm_only = warm_only || !run->repro;
	j->seq = ++p->seq;
	if (!j->warm_only)
		p->pending++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int kb_pool_next(kb_pool *p, kb_pool_result *out, double timeout_s)
{
	struct timespec ts;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (timeout_s >= 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)timeout_s;
		ts.tv_nsec += (long)((timeout_s - (double)(time_t)timeout_s) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&p->mu);
	while (p->n_res == 0 && p->pending > 0 && r == 0) {
		if (timeout_s < 0)
			pthread_cond_wait(&p->cv, &p->mu);
		else if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
			r = KB_ETIMEOUT;
	}
	if (p->n_res > 0) {
		*out = p->res[0];
		memmove(&p->res[0], &p->res[1], sizeof(p->res[0]) * (p->n_res - 1));
		p->n_res--;
		r = 0;
	} else if (r == 0) {
		r = KB_ENOTFOUND;
	}
	pthread_mutex_unlock(&p->mu);
	if (r == KB_ETIMEOUT)
		return kb_error_setc(KB_ETIMEOUT, KB_ERRCLASS_VMPOOL, "no run finished yet");
	if (r == KB_ENOTFOUND)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_VMPOOL, "no runs queued or running");
	return 0;
}

int kb_pool_run_n(kb_pool_result **out, kb_pool *p, const kb_pool_kernel *kernel,
		  const char *repro, unsigned int n, double timeout_s)
{
	kb_pool_result *res;
	unsigned int got = 0;
	int r;

	*out = NULL;
	res = calloc(n ? n : 1, sizeof(*res));
	if (!res)
		return kb_error_os("out of memory");
	for (unsigned int i = 0; i < n; i++) {
		kb_pool_run run = { .kernel = kernel, .repro = repro, .timeout_s = timeout_s,
				    .tag = i };
		if ((r = kb_pool_submit(p, &run)) < 0) {
			n = i;
			break;
		}
	}
	while (got < n) {
		kb_pool_result one;
		if ((r = kb_pool_next(p, &one, -1)) < 0)
			break;
		if (one.tag < n)
			res[one.tag] = one;
		else
			kb_pool_result_clear(&one);
		got++;
	}
	if (got < n) {
		kb_pool_results_free(res, n);
		return r < 0 ? r : KB_ERROR;
	}
	*out = res;
	return 0;
}

/* ---- one run ---- */

typedef struct {
	kb_pool *p;
	unsigned int slot;
	kb_vm vm;
	int have_vm;
	uint64_t con_off;
	kb_report_scanner *scan;
	int scan_state;
	double scan_started;
	int flooded;
} runctx;

static void set_vm_pid(runctx *c, pid_t pid)
{
	pthread_mutex_lock(&c->p->mu);
	c->p->vm_pids[c->slot] = pid;
	pthread_mutex_unlock(&c->p->mu);
}

/* Feed new console bytes to the scanner. */
static void scan_console(runctx *c)
{
	char path[700], buf[65536];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/console.log", c->vm.dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while ((n = pread(fd, buf, sizeof(buf), (off_t)c->con_off)) > 0) {
		c->con_off += (uint64_t)n;
		if (c->scan) {
			int s = kb_report_scan_chunk(c->scan, buf, (size_t)n);
			if (s > c->scan_state) {
				if (c->scan_state == KB_SCAN_QUIET)
					c->scan_started = kb_vm__now();
				c->scan_state = s;
			}
		}
		if (c->con_off > c->p->o.console_limit) {
			c->flooded = 1;
			break;
		}
	}
	close(fd);
}

static int slurp_file(const char *path, void **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *b;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return kb_error_os("cannot read reproducer '%s'", path);
	}
	b = malloc((size_t)st.st_size + 1);
	while (b && got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!b || got != (size_t)st.st_size) {
		free(b);
		return kb_error_os("cannot read reproducer '%s'", path);
	}
	*out = b;
	*len = got;
	return 0;
}

static void classify(runctx *c, kb_pool_result *res, int end, int exit_code,
		     const char *infra_title)
{
	kb_report rep;
	kb_report_ctx ctx = { .end = end, .exit_status = exit_code };
	char *con = NULL;
	size_t len = 0;

	if (c->have_vm)
		con = kb_vm__console(&c->vm, &len);
	if (kb_report_parse(&rep, con ? con : "", con ? len : 0, &ctx) == 0) {
		res->klass = rep.klass;
		snprintf(res->title, sizeof(res->title), "%s", rep.title);
		kb_report_free(&rep);
	} else {
		res->klass = KB_RUN_INFRA;
		snprintf(res->title, sizeof(res->title), "kbisect: cannot parse the console");
	}
	/* what only the pool knows about, when the console explains nothing */
	if (res->klass == KB_RUN_OK && infra_title) {
		res->klass = KB_RUN_INFRA;
		snprintf(res->title, sizeof(res->title), "%s", infra_title);
	}
	if (res->klass == KB_RUN_INFRA && !res->title[0] && infra_title)
		snprintf(res->title, sizeof(res->title), "%s", infra_title);
	res->console_log = con;
	res->console_len = len;
	if (c->p->o.cache && con) {
		kb_put_opts po = { .kind = KB_OBJ_CONSOLE };
		pthread_mutex_lock(&c->p->cache_mu);
		if (kb_cache_put_buf(&res->console, (kb_cache *)c->p->o.cache, con, len, &po) == 0)
			res->has_console = 1;
		pthread_mutex_unlock(&c->p->cache_mu);
	}
}

/* The run of clone c did not get fresh randomness (why: the agent's answer, or a
 * repeated token): res becomes infra KB_POOL_ENTROPY_TITLE, counted, said once. */
static void entropy_failed(runctx *c, const job *j, kb_pool_result *res, const char *why)
{
	kb_pool *p = c->p;
	int first;

	classify(c, res, KB_REPORT_END_STOPPED, -1, KB_POOL_ENTROPY_TITLE);
	res->klass = KB_RUN_INFRA;
	snprintf(res->title, sizeof(res->title), "%s", KB_POOL_ENTROPY_TITLE);
	pthread_mutex_lock(&p->mu);
	first = p->cnt.entropy_failures++ == 0;
	if (first)
		snprintf(p->entropy_why, sizeof(p->entropy_why), "kernel '%.150s': %.200s",
			 j->kernel, why);
	pthread_mutex_unlock(&p->mu);
	if (first)
		fprintf(stderr, "kbisect: warning: a VM cloned from the saved boot of '%s' did "
			"not get fresh randomness (%s). Every clone would then draw the same "
			"random numbers, and a bug that shows up by chance would look like it "
			"always or never happens. Such runs count as infra (\"%s\"); use --cold "
			"to boot every run instead.\n", j->kernel, why, KB_POOL_ENTROPY_TITLE);
}

/* Give clone c (of template t) the host's clock and fresh random bytes before its
 * program starts, and check its token against t's earlier clones. 0: go on;
 * KB_ERROR: res is set (infra). */
static int reseed_clone(runctx *c, tmpl *t, const job *j, kb_pool_result *res)
{
	char why[300] = "";
	int r = kb_vm__seed(&c->vm, res->entropy_token, why, sizeof(why), kb_vm__now() + 30);

	if (r == KB_EINVAL) {
		entropy_failed(c, j, res, why);
		return KB_ERROR;
	}
	if (r < 0) {
		classify(c, res, KB_REPORT_END_LOST_CONN, -1, "lost connection to test machine");
		return KB_ERROR;
	}
	pthread_mutex_lock(&c->p->mu);
	r = kb_tokens__add(&t->tokens, res->entropy_token);
	pthread_mutex_unlock(&c->p->mu);
	if (r == 1) {
		snprintf(why, sizeof(why), "its random token %s repeats an earlier clone's: the "
			 "guest kernel did not reseed", res->entropy_token);
		entropy_failed(c, j, res, why);
		return KB_ERROR;
	}
	return 0;
}

static void do_run(runctx *c, job *j, kb_pool_result *res)
{
	kb_pool *p = c->p;
	double t0 = kb_vm__now(), deadline, last_alive, last_con_growth, stop_at = 0;
	uint64_t last_con = 0;
	kb_qemu_cfg cfg;
	char vmdir[700], line[256];
	void *prog = NULL;
	size_t prog_len = 0;
	int r, end = -1, exit_code = -1, launched = 0;
	const char *infra = NULL;
	char infra_buf[300];
	tmpl *t = NULL;

	memset(res, 0, sizeof(*res));
	res->tag = j->tag;
	res->vm = c->slot;
	res->exit_code = -1;
	c->have_vm = 0;
	c->con_off = 0;
	c->scan_state = KB_SCAN_QUIET;
	c->flooded = 0;
	kb_report_scanner_new(&c->scan);

	if ((r = slurp_file(j->repro, &prog, &prog_len)) < 0) {
		res->klass = KB_RUN_INFRA;
		snprintf(res->title, sizeof(res->title), "kbisect: %s", kb_error_last()->message);
		goto out;
	}
	snprintf(vmdir, sizeof(vmdir), "%s/vm%u", p->dir, c->slot);
	rmrf(vmdir);
	if (mkdir(vmdir, 0700) < 0) {
		res->klass = KB_RUN_INFRA;
		snprintf(res->title, sizeof(res->title), "kbisect: cannot create '%.200s'", vmdir);
		goto out;
	}
	if (p->o.cold) {
		char disk[800];
		pthread_mutex_lock(&p->mu);
		ensure_accel(p, j->kernel);
		r = j->initrd || j->image ? 0 : ensure_initrd(p);
		fill_cfg(p, &cfg, j->kernel, j->initrd, j->image, j->cmdline, vmdir);
		p->cnt.cold_boots++;
		pthread_mutex_unlock(&p->mu);
		if (r == 0 && j->image) { /* its writes go to an overlay in the vm dir */
			snprintf(disk, sizeof(disk), "%s/disk.qcow2", vmdir);
			r = kb_vm__overlay(j->image, disk);
			cfg.disk = disk;
		}
		if (r == 0)
			launched = (r = kb_vm__launch(&c->vm, &cfg, 30)) == 0;
		c->have_vm = c->vm.dir[0] != '\0';
		if (c->have_vm)
			set_vm_pid(c, c->vm.pid);
		if (r == 0)
			r = kb_vm__wait_ready(&c->vm, t0 + p->o.boot_timeout_s);
		if (r < 0) {
			/* the agent never said ready: a boot failure of the kernel (titled by
			 * the crash that stopped the boot, if any) or an infra failure */
			int bend = KB_BOOT_END_HOST, klass = KB_RUN_INFRA;
			char title[256];
			size_t clen = 0;
			char *con;
			snprintf(infra_buf, sizeof(infra_buf), "%.290s", kb_error_last()->message);
			if (c->have_vm)
				bend = kb_vm__boot_end(&c->vm, launched, r, infra_buf,
						       sizeof(infra_buf));
			con = c->have_vm ? kb_vm__console(&c->vm, &clen) : NULL;
			boot_verdict(p, bend, con, clen, infra_buf, &klass, title, sizeof(title));
			free(con);
			classify(c, res, KB_REPORT_END_NO_BOOT, -1, NULL);
			res->klass = klass;
			snprintf(res->title, sizeof(res->title), "%s", title);
			goto out;
		}
	} else {
		tfail tf = { .klass = KB_RUN_INFRA };
		kb_pool_kernel k = job_kernel(j);
		r = get_template(p, &t, &k, prog, prog_len, j->xz, j->seq, &tf);
		/* a run starts when its clone is launched: the time it waited for the
		 * template (booted by it, another run or a background warm) is not its own */
		t0 = kb_vm__now();
		if (r < 0 && __atomic_load_n(&p->cancelled, __ATOMIC_RELAXED)) {
			free(tf.console);
			res->klass = KB_RUN_INFRA;
			snprintf(res->title, sizeof(res->title), "kbisect: cancelled");
			goto out;
		}
		if (r < 0) {
			/* a kernel that does not boot, or an infra failure of the attempt this
			 * run waited for (the next request makes the template again) */
			res->klass = tf.klass;
			if (tf.title[0])
				snprintf(res->title, sizeof(res->title), "%s", tf.title);
			else
				snprintf(res->title, sizeof(res->title), "kbisect: %.240s",
					 kb_error_last()->message);
			res->console_log = tf.console;
			res->console_len = tf.console_len;
			goto out;
		}
		fill_cfg(p, &cfg, j->kernel, j->initrd, j->image, j->cmdline, vmdir);
		r = kb_snapshot__clone(&c->vm, &t->snap, &cfg, 60);
		if (r < 0 && !__atomic_load_n(&p->cancelled, __ATOMIC_RELAXED)) {
			clone_failed(p, t);
		} else if (r == 0) {
			pthread_mutex_lock(&p->mu);
			t->clone_failures = 0;
			pthread_mutex_unlock(&p->mu);
		}
		put_template(p, t);
		c->have_vm = c->vm.dir[0] != '\0';
		if (c->have_vm)
			set_vm_pid(c, c->vm.pid);
		res->cloned = 1;
		if (r < 0) {
			snprintf(infra_buf, sizeof(infra_buf), "qemu: cannot restore the vm: %.200s",
				 kb_error_last()->message);
			if (p->o.verbose)
				fprintf(stderr, "kbisect: vm%u: %s\n", c->slot, infra_buf);
			classify(c, res, KB_REPORT_END_QEMU_DIED, -1, infra_buf);
			goto out;
		}
	}

	/* fresh randomness and the host's clock for a clone (its RAM is the template's,
	 * RNG state included); a cold boot has its own: only its token is read */
	if (res->cloned && reseed_clone(c, t, j, res) < 0)
		goto out;
	if (!res->cloned)
		kb_vm__token(&c->vm, res->entropy_token, kb_vm__now() + 30);

	/* send the program (a clone has it stored already: its template got it) */
	if (res->cloned)
		snprintf(line, sizeof(line), "EXEC %lu %08x\n", (unsigned long)(j->timeout_s * 1000),
			 kb_vm__fnv32(prog, prog_len));
	else
		snprintf(line, sizeof(line), "RUN %zu %lu %08x%s\n", prog_len,
			 (unsigned long)(j->timeout_s * 1000), kb_vm__fnv32(prog, prog_len),
			 j->xz ? " xz" : "");
	deadline = kb_vm__now() + 120;
	if ((r = kb_vm__agent_send(&c->vm, line, strlen(line), deadline)) < 0 ||
	    (!res->cloned && (r = kb_vm__agent_send(&c->vm, prog, prog_len, deadline)) < 0)) {
		classify(c, res, KB_REPORT_END_LOST_CONN, -1, "lost connection to test machine");
		goto out;
	}
	for (;;) {
		r = kb_vm__agent_line(&c->vm, line, sizeof(line), deadline);
		if (r < 0 || !strncmp(line, "START", 5) || !strncmp(line, "ERR", 3))
			break;
	}
	if (r < 0 || strncmp(line, "START", 5)) {
		if (r == 0 && !strncmp(line, "ERR cannot run the reproducer: ", 31))
			snprintf(infra_buf, sizeof(infra_buf), "kbisect: the guest cannot run the "
				 "reproducer: %.200s", line + 31);
		else
			snprintf(infra_buf, sizeof(infra_buf), "kbisect: agent: %.200s",
				 r < 0 ? "lost connection to test machine" : line);
		classify(c, res, r < 0 ? KB_REPORT_END_LOST_CONN : KB_REPORT_END_EXITED, -1,
			 infra_buf);
		goto out;
	}
	res->start_s = kb_vm__now() - t0;

	/* watch the run */
	deadline = kb_vm__now() + j->timeout_s + GRACE_S;
	last_alive = last_con_growth = kb_vm__now();
	for (;;) {
		double now;
		int cancelled;

		r = kb_vm__agent_line(&c->vm, line, sizeof(line), kb_vm__now() + 0.2);
		now = kb_vm__now();
		if (r == 0) {
			unsigned long a, b;
			last_alive = now;
			if (sscanf(line, "EXIT code %lu %lu", &a, &b) == 2) {
				end = KB_REPORT_END_EXITED;
				exit_code = (int)a;
			} else if (sscanf(line, "EXIT signal %lu %lu", &a, &b) == 2) {
				end = KB_REPORT_END_EXITED;
				exit_code = 128 + (int)a;
			} else if (!strncmp(line, "EXIT timeout", 12)) {
				end = KB_REPORT_END_TIMEOUT;
				res->timed_out = 1;
			}
		} else if (r != KB_ETIMEOUT) {
			/* QEMU went away or closed the channel: a panic reboot, a poweroff,
			 * or QEMU itself died */
			const kb_qmp_msg *m = NULL;
			usleep(50000);
			if (c->vm.qmp)
				kb_qmp__pump(c->vm.qmp);
			if (c->vm.qmp && kb_qmp__has_event(c->vm.qmp, "SHUTDOWN", &m)) {
				const char *why = kb_qmp__shutdown_reason(m);
				end = KB_REPORT_END_LOST_CONN;
				if (!strcmp(why, "guest-shutdown"))
					infra = "kbisect: the guest powered off";
				else if (!strcmp(why, "guest-reset"))
					infra = "lost connection to test machine";
				else
					infra = "lost connection to test machine";
			} else {
				end = KB_REPORT_END_QEMU_DIED;
				infra = "qemu: exited unexpectedly";
			}
		}
		scan_console(c);
		if (c->con_off != last_con) {
			last_con = c->con_off;
			last_con_growth = now;
		}
		if (end >= 0) {
			/* after a crash report starts, give it time to finish */
			if (c->scan_state == KB_SCAN_STARTED && end == KB_REPORT_END_EXITED &&
			    now - c->scan_started < CRASH_TAIL_S && !c->vm.exited) {
				usleep(200000);
				continue;
			}
			break;
		}
		if (c->scan_state == KB_SCAN_DONE ||
		    (c->scan_state == KB_SCAN_STARTED && now - c->scan_started > CRASH_TAIL_S)) {
			/* a second for the agent to report the exit status (SYZFAIL is
			 * usually followed by an exit), then stop */
			if (stop_at == 0)
				stop_at = now + 1.0;
			if (now >= stop_at || c->vm.exited) {
				end = KB_REPORT_END_STOPPED;
				break;
			}
		}
		if (c->flooded) {
			end = KB_REPORT_END_STOPPED;
			infra = "kbisect: excessive console output";
			break;
		}
		pthread_mutex_lock(&p->mu);
		cancelled = p->cancelled;
		pthread_mutex_unlock(&p->mu);
		if (cancelled) {
			end = KB_REPORT_END_STOPPED;
			infra = "kbisect: cancelled";
			break;
		}
		if (now - last_alive > p->o.silence_s) {
			end = now - last_con_growth > p->o.silence_s ? KB_REPORT_END_NO_OUTPUT :
									KB_REPORT_END_LOST_CONN;
			infra = end == KB_REPORT_END_NO_OUTPUT ? "no output from test machine" :
								 "lost connection to test machine";
			break;
		}
		if (now > deadline) {
			end = KB_REPORT_END_NO_OUTPUT;
			infra = "no output from test machine";
			break;
		}
	}
	/* stop the guest before reading the console for good */
	if (c->vm.pid > 0) {
		kb_qemu__kill(c->vm.pid);
		c->vm.pid = 0;
	}
	set_vm_pid(c, 0);
	scan_console(c);
	res->exit_code = exit_code;
	if (end == KB_REPORT_END_EXITED && (exit_code == 126 || exit_code == 127)) {
		/* the shell's "cannot execute" / "not found": what the reproducer needs is
		 * not in the guest, so it did not test the kernel */
		snprintf(infra_buf, sizeof(infra_buf), "kbisect: the reproducer exited with %d "
			 "(a command, interpreter or library it needs is missing in the guest)",
			 exit_code);
		infra = infra_buf;
	}
	classify(c, res, end, exit_code,
		 end == KB_REPORT_END_TIMEOUT || (end == KB_REPORT_END_EXITED && infra != infra_buf) ?
			 NULL : infra);
out:
	res->duration_s = kb_vm__now() - t0;
	set_vm_pid(c, 0);
	if (c->have_vm)
		kb_vm__destroy(&c->vm);
	c->have_vm = 0;
	kb_report_scanner_free(c->scan);
	c->scan = NULL;
	free(prog);
}

static void *worker_main(void *arg)
{
	worker_arg *wa = arg;
	kb_pool *p = wa->p;
	runctx c;

	memset(&c, 0, sizeof(c));
	c.p = p;
	c.slot = wa->slot;
	free(wa);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		job *j;
		kb_pool_result res;
		int cancelled;

		while (!p->q_head && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping)
			break;
		j = p->q_head;
		p->q_head = j->next;
		if (!p->q_head)
			p->q_tail = NULL;
		cancelled = p->cancelled;
		pthread_mutex_unlock(&p->mu);
		if (j->warm_only) { /* a background warm-up */
			tmpl *t;
			void *prog = NULL;
			size_t plen = 0;
			kb_pool_kernel k = job_kernel(j);
			if (!cancelled && (!j->repro || slurp_file(j->repro, &prog, &plen) == 0) &&
			    get_template(p, &t, &k, prog, plen, j->xz, j->seq, NULL) == 0)
				put_template(p, t);
			free(prog);
			free_job(j);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		if (cancelled) {
			memset(&res, 0, sizeof(res));
			res.tag = j->tag;
			res.klass = KB_RUN_INFRA;
			res.exit_code = -1;
			snprintf(res.title, sizeof(res.title), "kbisect: cancelled");
		} else {
			do_run(&c, j, &res);
		}
		free_job(j);
		pthread_mutex_lock(&p->mu);
		if (p->n_res == p->cap_res) {
			size_t nc = p->cap_res ? p->cap_res * 2 : 16;
			kb_pool_result *nr = realloc(p->res, nc * sizeof(*nr));
			if (nr) {
				p->res = nr;
				p->cap_res = nc;
			}
		}
		if (p->n_res < p->cap_res)
			p->res[p->n_res++] = res;
		else
			kb_pool_result_clear(&res);
		p->pending--;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}
