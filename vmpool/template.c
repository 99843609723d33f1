/*
 * vmpool/template.c - templates: one saved VM per kernel (booted once, agent ready) and
 * per kernel and reproducer (the program stored in the guest), cloned by every run.
 * Owns: template keys (kernel, initramfs or image, VM settings, QEMU version), finding a
 * template or making it (from the state dir, from the cache, by booting or by deriving
 * it from the kernel's), waiting for a template another worker makes, evicting unused
 * ones, how a failed boot is classified (the kernel's failure or the host's) and how
 * long a failure stands (kernel: for good; host: for the requests queued before it).
 * Not: save/restore/derive themselves (snapshot.c), the state's cache records
 * (vmstate.c), running clones (run.c), the pool's life cycle (pool.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "kbisect/cache.h"
#include "kbisect/report.h"
#include "pool_internal.h"

static void rmrf_sub(const char *dir, const char *name)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	kb_vm__rmrf(path);
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

void kb_pool__put_template(kb_pool *p, tmpl *t)
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
		kb_vm__rmrf(victim->snap.dir);
		victim->state = 3;
		if (p->o.verbose)
			fprintf(stderr, "kbisect: dropped an unused template to save memory\n");
	}
}

/* A clone of t could not be restored. After a few failures in a row the snapshot is
 * presumed bad (e.g. saved by an incompatible QEMU into the cache): drop it and make it
 * again by booting, not from the cache. */
void kb_pool__clone_failed(kb_pool *p, tmpl *t)
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
void kb_pool__boot_verdict(const kb_pool *p, int end, const char *con, size_t len,
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

/* ---- finding or making a template ---------------------------------------------------- */

/* One request for a template (kb_pool__get_template()) and, when it has to be made, the
 * attempt: its inputs, the snapshot being written and how it went. */
typedef struct {
	kb_pool *p;
	const kb_pool_kernel *k;
	const void *prog;  /* NULL: the kernel's own template */
	size_t prog_len;
	int xz;
	uint64_t seq;      /* the request's number */
	tfail *f;          /* how the runs end on failure (may be NULL) */
	kb_key key;
	tmpl *t;
	kb_qemu_cfg cfg;
	char tmpdir[600];  /* the snapshot is written here, then renamed to t->snap.dir */
	kb_snapshot tmp;
	char why[300];     /* the host-side reason of a failed boot */
	tmpl *base;        /* derived: the kernel's template */
	tfail bf;          /* derived: how the kernel's template failed */
	char *con;         /* the failed boot's console (malloc'd) */
	size_t con_len;
	int from_cache, derive_failed, bend;
} make_req;

/* The key of m's template (p->mu held): the kernel's, or for a template holding a
 * program, one derived from the kernel's and the program's hash. */
static int request_key(make_req *m)
{
	int r;

	if ((r = tmpl_key(m->p, &m->key, m->k)) < 0)
		return r;
	if (m->prog) { /* the key of the template holding prog, derived from the kernel's */
		kb_key ph;
		char text[200], bh[65], phx[65];
		kb_sha256(&ph, m->prog, m->prog_len);
		kb_key_to_hex(bh, &m->key);
		kb_key_to_hex(phx, &ph);
		snprintf(text, sizeof(text), "kbisect-vmstate-repro-1 %s %s", bh, phx);
		kb_sha256(&m->key, text, strlen(text));
	}
	return 0;
}

/* Look m's template up among the pool's (p->mu held, kept held), waiting while another
 * worker makes it. 0: m->t is ready and now held by us; 1: m->t is to be made (a new
 * entry, or one evicted or failed for the host before this request); a negative error:
 * it failed for this request (m->f filled; m->t set) or no memory (m->t NULL). */
static int find_template(make_req *m)
{
	kb_pool *p = m->p;
	tmpl *t;

	for (t = p->tmpls; t; t = t->next)
		if (kb_key_equal(&t->key, &m->key))
			break;
	m->t = t;
	if (t) {
		while (t->state == 0 && !p->cancelled)
			pthread_cond_wait(&p->cv, &p->mu);
		if (t->state == 1) {
			t->users++;
			t->last_used = kb_vm__now();
			return 0;
		}
		if (t->state != 3 || (t->infra_failed && m->seq <= t->fail_seq)) {
			tfail_set(m->f, t);
			return kb_error_setc(t->state != 0 && t->fail_rc < 0 ? t->fail_rc : KB_ERROR,
					     KB_ERRCLASS_VMPOOL, "%s", t->state != 0 && t->error[0] ?
					     t->error : "cancelled");
		}
		t->state = 0; /* evicted, or failed for the host before this request: again */
		t->infra_failed = 0;
		return 1;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return kb_error_os("out of memory");
	t->key = m->key;
	t->derived = m->prog != NULL;
	t->next = p->tmpls;
	p->tmpls = t;
	m->t = t;
	return 1;
}

/* Where m's template lives (p->mu held): in the state dir, where an earlier pool may
 * have kept it (then 1: it is ready and held by us), or in the pool's directory. */
static int place_template(make_req *m)
{
	kb_pool *p = m->p;
	tmpl *t = m->t;
	const kb_pool_kernel *k = m->k;
	char hex[65];

	kb_key_to_hex(hex, &m->key);
	if (!p->state_dir) {
		snprintf(t->snap.dir, sizeof(t->snap.dir), "%.400s/tmpl-%.16s", p->dir, hex);
		return 0;
	}
	mkdir(p->state_dir, 0755);
	snprintf(t->snap.dir, sizeof(t->snap.dir), "%.400s/vmstate-%.16s", p->state_dir, hex);
	snprintf(t->snap.ram, sizeof(t->snap.ram), "%s/ram", t->snap.dir);
	snprintf(t->snap.state, sizeof(t->snap.state), "%s/state", t->snap.dir);
	t->snap.disk[0] = '\0';
	if (k->image)
		snprintf(t->snap.disk, sizeof(t->snap.disk), "%.500s/disk.qcow2", t->snap.dir);
	if (access(t->snap.ram, R_OK) == 0 && access(t->snap.state, R_OK) == 0 &&
	    (!k->image || access(t->snap.disk, R_OK) == 0) &&
	    (!k->image || kb_snapshot__rebase(&t->snap, k->image) == 0)) {
		t->state = 1;
		t->users++;
		t->last_used = kb_vm__now();
		p->cnt.state_loads++;
		return 1;
	}
	return 0;
}

/* Load m's snapshot from the cache into m->tmpdir (booted before, by this or another
 * kbisect); 0, or not there (nothing left behind). */
static int load_cached(make_req *m)
{
	kb_pool *p = m->p;
	int r;

	pthread_mutex_lock(&p->cache_mu);
	r = kb_vmstate__load(p->o.cache, &m->key, &m->tmp);
	pthread_mutex_unlock(&p->cache_mu);
	if (r == 0 && !!m->tmp.disk[0] != !!m->k->image)
		r = KB_ECORRUPT; /* cannot happen: the image is in the key */
	if (r == 0 && m->k->image)
		r = kb_snapshot__rebase(&m->tmp, m->k->image);
	if (r == 0) {
		m->from_cache = 1;
		pthread_mutex_lock(&p->mu);
		p->cnt.cache_loads++;
		pthread_mutex_unlock(&p->mu);
		if (p->o.verbose)
			fprintf(stderr, "kbisect: %s of '%s' restored from the cache\n",
				m->prog ? "template with the reproducer" : "booted vm", m->k->kernel);
		return 0;
	}
	rmrf_sub(m->tmpdir, "ram");
	rmrf_sub(m->tmpdir, "state");
	return r;
}

/* Store m's program in a clone of the kernel's template (made first, or waited for) and
 * save that into m->tmpdir. When storing fails, the kernel's snapshot may be bad: both
 * are made again next time. */
static int derive_template(make_req *m)
{
	kb_pool *p = m->p;
	tmpl *base;
	int r;

	r = kb_pool__get_template(p, &m->base, m->k, NULL, 0, 0, m->seq, &m->bf);
	base = m->base;
	m->t->base = base;
	if (r < 0)
		return r;
	pthread_mutex_lock(&p->mu);
	p->cnt.derived++;
	pthread_mutex_unlock(&p->mu);
	r = kb_snapshot__derive(&m->tmp, &base->snap, &m->cfg, m->prog, m->prog_len, m->xz, 300);
	if (r < 0 && !__atomic_load_n(&p->cancelled, __ATOMIC_RELAXED)) {
		m->derive_failed = 1;
		pthread_mutex_lock(&p->mu);
		if (base->state == 1 && base->users == 1) {
			kb_vm__rmrf(base->snap.dir);
			base->state = 3;
			base->no_cache = 1;
		}
		pthread_mutex_unlock(&p->mu);
	}
	kb_pool__put_template(p, base);
	return r;
}

/* Keep the new snapshot in the cache for later pools (a failure only warns). */
static void store_cached(make_req *m)
{
	kb_pool *p = m->p;
	double t1 = kb_vm__now();

	pthread_mutex_lock(&p->cache_mu);
	if (kb_vmstate__store(p->o.cache, &m->key, &m->tmp) < 0)
		fprintf(stderr, "kbisect: warning: vm state not cached: %s\n",
			kb_error_last()->message);
	else if (p->o.verbose)
		fprintf(stderr, "kbisect: vm state stored in the cache in %.1fs\n",
			kb_vm__now() - t1);
	pthread_mutex_unlock(&p->cache_mu);
}

/* Make m's snapshot (without p->mu): from the cache, else by deriving it or booting the
 * kernel (then stored in the cache), written in m->tmpdir and renamed to m->t->snap.dir. */
static int make_snapshot(make_req *m)
{
	kb_pool *p = m->p;
	tmpl *t = m->t;
	int r;

	snprintf(m->tmpdir, sizeof(m->tmpdir), "%.500s.tmp%d", t->snap.dir, (int)getpid());
	kb_vm__rmrf(m->tmpdir);
	if (mkdir(m->tmpdir, 0700) < 0)
		return kb_error_os("cannot create '%s'", m->tmpdir);
	snprintf(m->tmp.dir, sizeof(m->tmp.dir), "%.500s", m->tmpdir);
	r = p->o.cache && !t->no_cache ? load_cached(m) : -1;
	if (r != 0) {
		if (p->o.verbose)
			fprintf(stderr, m->prog ? "kbisect: storing the reproducer in a template "
				"of '%s'\n" : "kbisect: booting '%s' once\n", m->k->kernel);
		if (m->prog) {
			r = derive_template(m);
		} else {
			pthread_mutex_lock(&p->mu);
			p->cnt.boots++;
			pthread_mutex_unlock(&p->mu);
			r = kb_snapshot__create(&m->tmp, &m->cfg, p->o.boot_timeout_s, &m->con,
						&m->con_len, &m->bend, m->why, sizeof(m->why));
		}
		if (r == 0 && p->o.cache)
			store_cached(m);
	}
	if (r == 0) {
		kb_vm__rmrf(t->snap.dir);
		if (rename(m->tmpdir, t->snap.dir) < 0)
			r = kb_error_os("cannot rename '%s'", m->tmpdir);
		t->snap.boot_s = m->tmp.boot_s;
		snprintf(t->snap.ram, sizeof(t->snap.ram), "%.500s/ram", t->snap.dir);
		snprintf(t->snap.state, sizeof(t->snap.state), "%.500s/state", t->snap.dir);
		t->snap.disk[0] = '\0';
		if (m->tmp.disk[0])
			snprintf(t->snap.disk, sizeof(t->snap.disk), "%.500s/disk.qcow2",
				 t->snap.dir);
		rmrf_sub(t->snap.dir, "boot");
	}
	if (r < 0)
		kb_vm__rmrf(m->tmpdir);
	return r;
}

/* Record in m->t why making it failed (r: the error; takes p->mu and keeps it held):
 * its title and class (the kernel's own boot failure is final; anything else is infra,
 * given to the requests queued so far and tried again after), its console, m->f.
 * Returns r with the template's error message. */
static int template_failed(make_req *m, int r)
{
	kb_pool *p = m->p;
	tmpl *t = m->t;
	const char *kernel = m->k->kernel;
	int klass = KB_RUN_INFRA;
	char title[256];

	if (!m->why[0])
		snprintf(m->why, sizeof(m->why), "%s", kb_error_last()->message);
	if (m->prog && m->base && !m->derive_failed) { /* the kernel's template failed */
		klass = m->bf.klass;
		snprintf(title, sizeof(title), "%s", m->bf.title);
		free(m->con);
		m->con = m->bf.console;
		m->con_len = m->bf.console_len;
		m->bf.console = NULL;
	} else if (m->prog) {
		snprintf(title, sizeof(title), "kbisect: cannot store the reproducer in the "
			 "vm: %.200s", m->why);
	} else {
		kb_pool__boot_verdict(p, m->bend, m->con, m->con_len, m->why, &klass, title,
				      sizeof(title));
	}
	pthread_mutex_lock(&p->mu);
	if (klass == KB_RUN_BOOT_FAILURE)
		snprintf(t->error, sizeof(t->error), "kernel '%.200s' does not boot: %.255s",
			 kernel, title);
	else
		snprintf(t->error, sizeof(t->error), "kernel '%.180s' could not be %s: "
			 "%.255s; it is tried again on the next request", kernel,
			 m->prog ? "prepared" : "booted", title);
	r = kb_error_setc(r, KB_ERRCLASS_VMPOOL, "%s", t->error);
	snprintf(t->fail_title, sizeof(t->fail_title), "%s", title);
	t->fail_klass = klass;
	t->fail_rc = r;
	free(t->console);
	t->console = m->con;
	t->console_len = m->con_len;
	m->con = NULL;
	/* only the kernel's own failure is final; a failed derive drops the kernel's
	 * snapshot too (derive_failed) and both are made again by the next run that
	 * needs them (a bad saved state recovers within one batch) */
	t->state = klass == KB_RUN_BOOT_FAILURE ? 2 : 3;
	t->infra_failed = t->state == 3 && !m->derive_failed;
	t->fail_seq = p->seq;
	t->no_cache = m->derive_failed;
	tfail_set(m->f, t);
	if (p->o.verbose)
		fprintf(stderr, "kbisect: %s '%s' failed (%s): %s\n",
			m->prog ? "storing the reproducer for" : "booting", kernel,
			t->state == 2 ? "boot failure of the kernel" :
					"infra, made again on the next request", title);
	return r;
}

/* Find or make the template of a kernel (prog NULL: booted, agent ready) or of a kernel
 * with a program stored in the guest (derived from the former), for request seq.
 * Called by a worker (or kb_pool_warm) without p->mu held. *out stays valid until the
 * pool closes. On failure f (may be NULL; free f->console) says how the runs end: a
 * kernel that cannot boot stays failed; a failure of the host is given to the requests
 * queued before it (seq <= fail_seq) and the template is made again for later ones. */
int kb_pool__get_template(kb_pool *p, tmpl **out, const kb_pool_kernel *k, const void *prog,
			  size_t prog_len, int xz, uint64_t seq, tfail *f)
{
	make_req m = { .p = p, .k = k, .prog = prog, .prog_len = prog_len, .xz = xz,
		       .seq = seq, .f = f, .bf = { .klass = KB_RUN_INFRA },
		       .bend = KB_BOOT_END_HOST };
	int r;

	*out = NULL;
	if (f) {
		f->klass = KB_RUN_INFRA;
		f->title[0] = '\0';
	}
	pthread_mutex_lock(&p->mu);
	kb_pool__ensure_accel(p, k->kernel);
	if ((!k->initrd && (r = kb_pool__ensure_initrd(p)) < 0) || (r = request_key(&m)) < 0 ||
	    (r = find_template(&m)) <= 0) {
		pthread_mutex_unlock(&p->mu);
		*out = m.t; /* found (0), failed for this request, or NULL */
		return r;
	}
	if (place_template(&m) == 1) { /* kept in the state dir by an earlier pool */
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		*out = m.t;
		return 0;
	}
	kb_pool__fill_cfg(p, &m.cfg, k->kernel, k->initrd, k->image, k->cmdline, NULL);
	pthread_mutex_unlock(&p->mu);

	r = make_snapshot(&m);
	if (r < 0) {
		r = template_failed(&m, r);
	} else {
		pthread_mutex_lock(&p->mu);
		m.t->infra_failed = 0;
		m.t->state = 1;
		m.t->users++;
		m.t->last_used = kb_vm__now();
		evict_templates(p);
		if (p->o.verbose && !m.from_cache)
			fprintf(stderr, "kbisect: %s '%s' in %.1fs, saved\n",
				prog ? "stored the reproducer for" : "booted", k->kernel,
				m.t->snap.boot_s);
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	free(m.con);
	free(m.bf.console);
	*out = m.t;
	return r;
}
