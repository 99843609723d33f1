/*
 * vmpool/pool.c - the VM pool's life cycle and its queue: open and close, the queue of
 * runs and the results streamed back, warming templates, compiling reproducers.
 * Owns: kb_pool (public API of kbisect/vmpool.h but the runs themselves), the pool's
 * temporary directory, worker threads' start and stop, shared setup (initramfs,
 * accelerator, QEMU settings), compiling C reproducers.
 * Not: templates per kernel (template.c), one run and the workers' loop (run.c), QEMU
 * argv (qemu.c), save/restore (snapshot.c), fresh randomness for clones (entropy.c), its
 * directory's lock and reaper (pooldir.c), crash titles (report/, kb_report_parse()).
 * DESIGN: one worker thread per VM slot; a worker takes a run, makes sure its kernel
 * has a template (booting it itself if nobody else is; others wait), starts a clone,
 * sends the reproducer, and watches three things until the run ends: the agent line
 * (START, ALIVE, EXIT), the console file (streamed through the report scanner, size
 * capped) and QEMU itself (exit, SHUTDOWN reason). QEMU is started by the worker
 * thread, which lives as long as the pool, so PR_SET_PDEATHSIG ties QEMU to us.
 */
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
#include "kbisect/util.h"
#include "pool_internal.h"

#define CONSOLE_FLOOD_BYTES (32u << 20) /* more console output than this: stop the VM */
#define AGENT_SILENCE_S 60.0            /* no ALIVE for this long: the guest hangs */

/* The kb_pool_kernel of job j (pointers into j). */
kb_pool_kernel kb_pool__job_kernel(const job *j)
{
	kb_pool_kernel k = { .kernel = j->kernel, .initrd = j->initrd, .image = j->image,
			     .cmdline = j->cmdline, .signature = j->has_sig ? &j->sig : NULL };
	return k;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Free a job and what it owns. */
void kb_pool__free_job(job *j)
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

static int prepare_repro(kb_pool *p, const char *src, char **bin, int *xz);
static int submit(kb_pool *p, const kb_pool_run *run, int warm_only);

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
		kb_pool_free(p);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL, "work dir '%s' contains a "
				     "quote, which qemu's exec: migration cannot take; use "
				     "another TMPDIR", base);
	}
	kb_pooldir__sweep(base);
	snprintf(p->dir, sizeof(p->dir), "%s/kbisect-pool-%d-XXXXXX", base, (int)getpid());
	if (!mkdtemp(p->dir)) {
		r = kb_error_os("cannot create the pool's directory under '%s'", base);
		p->dir[0] = '\0';
		kb_pool_free(p);
		return r;
	}
	if ((r = kb_pooldir__lock(p->dir, &p->lock_fd)) < 0) {
		kb_pool_free(p);
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
		kb_pool_free(p);
		return kb_error_os("out of memory");
	}
	for (unsigned int i = 0; i < p->n_workers; i++) {
		worker_arg *wa = malloc(sizeof(*wa));
		if (wa) {
			wa->p = p;
			wa->slot = i;
		}
		if (!wa || pthread_create(&p->workers[i], NULL, kb_pool__worker_main, wa)) {
			free(wa);
			p->n_workers = i;
			kb_pool_free(p);
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

void kb_pool_free(kb_pool *p)
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
		kb_pool__free_job(j);
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
		kb_vm__rmrf(p->dir);
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

/* Build the initramfs once (p->mu held). */
int kb_pool__ensure_initrd(kb_pool *p)
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

/* Choose the accelerator once (p->mu held). */
void kb_pool__ensure_accel(kb_pool *p, const char *kernel)
{
	if (p->accel_done)
		return;
	if (kb_pool__ensure_initrd(p) < 0) {
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

void kb_pool_counters_get(kb_pool_counters *out, kb_pool *p)
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

/* The QEMU settings of a VM of the pool. */
void kb_pool__fill_cfg(kb_pool *p, kb_qemu_cfg *cfg, const char *kernel, const char *initrd,
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

/* ---- templates ahead of runs (made by template.c) ---- */

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
	r = kb_pool__get_template(p, &t, k, NULL, 0, 0, next_seq(p), NULL);
	if (r == 0)
		kb_pool__put_template(p, t);
	return r;
}

int kb_pool_prepare(kb_pool *p, const kb_pool_kernel *k, const char *repro, int wait)
{
	kb_pool_run run = { .kernel = k, .repro = repro, .tag = KB_WARM_TAG };
	char *bin = NULL, *prog = NULL;
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
		r = kb_file_read(&prog, &plen, bin, 0, "reproducer");
	if (r == 0) {
		r = kb_pool__get_template(p, &t, k, prog, plen, xz, next_seq(p), NULL);
		if (r == 0)
			kb_pool__put_template(p, t);
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

/* ---- the queue ---- */

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
		kb_pool__free_job(j);
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

int kb_pool_next(kb_pool_result *out, kb_pool *p, double timeout_s)
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
		if ((r = kb_pool_next(&one, p, -1)) < 0)
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

