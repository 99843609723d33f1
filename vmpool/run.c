/*
 * vmpool/run.c - one run of a reproducer, and the pool's worker threads that do them.
 * Owns: a worker's loop (take a job, run it, queue its result), one run from start to
 * result: a clone of the template (or a cold boot with --cold), fresh randomness for a
 * clone, sending the program to the agent, watching the agent line, the console and
 * QEMU until the run ends, the deadlines and kill rules, classifying the run.
 * Not: templates (template.c), the queue and the pool's life cycle (pool.c), crash
 * titles (report/, kb_report_parse() and the streaming scanner).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "kbisect/cache.h"
#include "kbisect/report.h"
#include "kbisect/util.h"
#include "pool_internal.h"

#define GRACE_S 30.0                    /* wall limit = repro timeout + this */
#define CRASH_TAIL_S 5.0                /* keep reading after a report starts */

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

/* Boot j's kernel for this run alone (--cold) in vmdir until the agent is ready (boot
 * deadline from t0). 0, or a negative error with res set: a boot failure of the kernel
 * (titled by the crash that stopped the boot, if any) or an infra failure. */
static int boot_cold(runctx *c, const job *j, kb_pool_result *res, const char *vmdir,
		     double t0)
{
	kb_pool *p = c->p;
	kb_qemu_cfg cfg;
	char disk[800], infra[300], title[256], *con;
	int r, launched = 0, bend = KB_BOOT_END_HOST, klass = KB_RUN_INFRA;
	size_t clen = 0;

	pthread_mutex_lock(&p->mu);
	kb_pool__ensure_accel(p, j->kernel);
	r = j->initrd || j->image ? 0 : kb_pool__ensure_initrd(p);
	kb_pool__fill_cfg(p, &cfg, j->kernel, j->initrd, j->image, j->cmdline, vmdir);
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
	if (r == 0)
		return 0;
	/* the agent never said ready */
	snprintf(infra, sizeof(infra), "%.290s", kb_error_last()->message);
	if (c->have_vm)
		bend = kb_vm__boot_end(&c->vm, launched, r, infra, sizeof(infra));
	con = c->have_vm ? kb_vm__console(&c->vm, &clen) : NULL;
	kb_pool__boot_verdict(p, bend, con, clen, infra, &klass, title, sizeof(title));
	free(con);
	classify(c, res, KB_REPORT_END_NO_BOOT, -1, NULL);
	res->klass = klass;
	snprintf(res->title, sizeof(res->title), "%s", title);
	return r;
}

/* Start a clone of the template of j's kernel and program (made first if needed) in
 * vmdir; *t0 becomes the time the clone is launched (the wait for the template, booted
 * by this run, another or a background warm, is not the run's). 0, or a negative error
 * with res set (the template failed: a kernel that does not boot, or an infra failure
 * of the attempt this run waited for; or the clone did not restore). */
static int start_clone(runctx *c, const job *j, kb_pool_result *res, const char *vmdir,
		       const void *prog, size_t prog_len, tmpl **tp, double *t0)
{
	kb_pool *p = c->p;
	tfail tf = { .klass = KB_RUN_INFRA };
	kb_pool_kernel k = kb_pool__job_kernel(j);
	kb_qemu_cfg cfg;
	char infra[300];
	tmpl *t;
	int r;

	r = kb_pool__get_template(p, tp, &k, prog, prog_len, j->xz, j->seq, &tf);
	t = *tp;
	*t0 = kb_vm__now();
	if (r < 0 && __atomic_load_n(&p->cancelled, __ATOMIC_RELAXED)) {
		free(tf.console);
		res->klass = KB_RUN_INFRA;
		snprintf(res->title, sizeof(res->title), "kbisect: cancelled");
		return r;
	}
	if (r < 0) {
		res->klass = tf.klass;
		if (tf.title[0])
			snprintf(res->title, sizeof(res->title), "%s", tf.title);
		else
			snprintf(res->title, sizeof(res->title), "kbisect: %.240s",
				 kb_error_last()->message);
		res->console_log = tf.console;
		res->console_len = tf.console_len;
		return r;
	}
	kb_pool__fill_cfg(p, &cfg, j->kernel, j->initrd, j->image, j->cmdline, vmdir);
	r = kb_snapshot__clone(&c->vm, &t->snap, &cfg, 60);
	if (r < 0 && !__atomic_load_n(&p->cancelled, __ATOMIC_RELAXED)) {
		kb_pool__clone_failed(p, t);
	} else if (r == 0) {
		pthread_mutex_lock(&p->mu);
		t->clone_failures = 0;
		pthread_mutex_unlock(&p->mu);
	}
	kb_pool__put_template(p, t);
	c->have_vm = c->vm.dir[0] != '\0';
	if (c->have_vm)
		set_vm_pid(c, c->vm.pid);
	res->cloned = 1;
	if (r < 0) {
		snprintf(infra, sizeof(infra), "qemu: cannot restore the vm: %.200s",
			 kb_error_last()->message);
		if (p->o.verbose)
			fprintf(stderr, "kbisect: vm%u: %s\n", c->slot, infra);
		classify(c, res, KB_REPORT_END_QEMU_DIED, -1, infra);
	}
	return r;
}

/* Send the program to the agent (a clone has it stored already: its template got it,
 * so only EXEC) and wait for START. 0, or a negative error with res set (infra). */
static int send_program(runctx *c, const job *j, kb_pool_result *res, const void *prog,
			size_t prog_len)
{
	char line[256], infra[300];
	double deadline;
	int r;

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
		return r;
	}
	for (;;) {
		r = kb_vm__agent_line(&c->vm, line, sizeof(line), deadline);
		if (r < 0 || !strncmp(line, "START", 5) || !strncmp(line, "ERR", 3))
			break;
	}
	if (r == 0 && !strncmp(line, "START", 5))
		return 0;
	if (r == 0 && !strncmp(line, "ERR cannot run the reproducer: ", 31))
		snprintf(infra, sizeof(infra), "kbisect: the guest cannot run the "
			 "reproducer: %.200s", line + 31);
	else
		snprintf(infra, sizeof(infra), "kbisect: agent: %.200s",
			 r < 0 ? "lost connection to test machine" : line);
	classify(c, res, r < 0 ? KB_REPORT_END_LOST_CONN : KB_REPORT_END_EXITED, -1, infra);
	return KB_ERROR;
}

/* How a running program is going: what watch_run() has seen so far. */
typedef struct {
	int end;           /* a kb_report_end once the run is over, else -1 */
	int exit_code;     /* the program's (128 + signal when killed), or -1 */
	const char *infra; /* what only the pool knows about the end, or NULL */
} run_end;

/* One answer of the agent channel (r: kb_vm__agent_line()'s result, line: its text):
 * an EXIT line, or the channel closed (a panic reboot, a poweroff, or QEMU died). */
static void agent_event(runctx *c, kb_pool_result *res, int r, const char *line, run_end *e)
{
	if (r == 0) {
		unsigned long a, b;
		if (sscanf(line, "EXIT code %lu %lu", &a, &b) == 2) {
			e->end = KB_REPORT_END_EXITED;
			e->exit_code = (int)a;
		} else if (sscanf(line, "EXIT signal %lu %lu", &a, &b) == 2) {
			e->end = KB_REPORT_END_EXITED;
			e->exit_code = 128 + (int)a;
		} else if (!strncmp(line, "EXIT timeout", 12)) {
			e->end = KB_REPORT_END_TIMEOUT;
			res->timed_out = 1;
		}
	} else if (r != KB_ETIMEOUT) {
		const kb_qmp_msg *m = NULL;
		usleep(50000);
		if (c->vm.qmp)
			kb_qmp__pump(c->vm.qmp);
		if (c->vm.qmp && kb_qmp__has_event(c->vm.qmp, "SHUTDOWN", &m)) {
			const char *why = kb_qmp__shutdown_reason(m);
			e->end = KB_REPORT_END_LOST_CONN;
			if (!strcmp(why, "guest-shutdown"))
				e->infra = "kbisect: the guest powered off";
			else
				e->infra = "lost connection to test machine"; /* reset and others */
		} else {
			e->end = KB_REPORT_END_QEMU_DIED;
			e->infra = "qemu: exited unexpectedly";
		}
	}
}

/* Watch a started program until the run ends: its exit (plus time for a crash report
 * that started to finish), a finished crash report, a console flood, cancellation,
 * the agent's silence or the wall deadline (timeout + GRACE_S). */
static void watch_run(runctx *c, const job *j, kb_pool_result *res, run_end *e)
{
	kb_pool *p = c->p;
	double deadline = kb_vm__now() + j->timeout_s + GRACE_S, stop_at = 0;
	double last_alive = kb_vm__now(), last_con_growth = last_alive;
	uint64_t last_con = 0;
	char line[256];

	for (;;) {
		double now;
		int r, cancelled;

		r = kb_vm__agent_line(&c->vm, line, sizeof(line), kb_vm__now() + 0.2);
		now = kb_vm__now();
		if (r == 0)
			last_alive = now;
		agent_event(c, res, r, line, e);
		scan_console(c);
		if (c->con_off != last_con) {
			last_con = c->con_off;
			last_con_growth = now;
		}
		if (e->end >= 0) {
			/* after a crash report starts, give it time to finish */
			if (c->scan_state == KB_SCAN_STARTED && e->end == KB_REPORT_END_EXITED &&
			    now - c->scan_started < CRASH_TAIL_S && !c->vm.exited) {
				usleep(200000);
				continue;
			}
			return;
		}
		if (c->scan_state == KB_SCAN_DONE ||
		    (c->scan_state == KB_SCAN_STARTED && now - c->scan_started > CRASH_TAIL_S)) {
			/* a second for the agent to report the exit status (SYZFAIL is
			 * usually followed by an exit), then stop */
			if (stop_at == 0)
				stop_at = now + 1.0;
			if (now >= stop_at || c->vm.exited) {
				e->end = KB_REPORT_END_STOPPED;
				return;
			}
		}
		if (c->flooded) {
			e->end = KB_REPORT_END_STOPPED;
			e->infra = "kbisect: excessive console output";
			return;
		}
		pthread_mutex_lock(&p->mu);
		cancelled = p->cancelled;
		pthread_mutex_unlock(&p->mu);
		if (cancelled) {
			e->end = KB_REPORT_END_STOPPED;
			e->infra = "kbisect: cancelled";
			return;
		}
		if (now - last_alive > p->o.silence_s) {
			e->end = now - last_con_growth > p->o.silence_s ? KB_REPORT_END_NO_OUTPUT :
									   KB_REPORT_END_LOST_CONN;
			e->infra = e->end == KB_REPORT_END_NO_OUTPUT ? "no output from test machine" :
								      "lost connection to test machine";
			return;
		}
		if (now > deadline) {
			e->end = KB_REPORT_END_NO_OUTPUT;
			e->infra = "no output from test machine";
			return;
		}
	}
}

/* Stop the guest, read the rest of its console and classify the run that ended as e
 * says (a timeout or an ordinary exit is the console's to explain). */
static void finish_run(runctx *c, kb_pool_result *res, const run_end *e)
{
	char missing[300];
	const char *infra = e->infra;
	int needs_missing = 0;

	if (c->vm.pid > 0) {
		kb_qemu__kill(c->vm.pid);
		c->vm.pid = 0;
	}
	set_vm_pid(c, 0);
	scan_console(c);
	res->exit_code = e->exit_code;
	if (e->end == KB_REPORT_END_EXITED && (e->exit_code == 126 || e->exit_code == 127)) {
		/* the shell's "cannot execute" / "not found": what the reproducer needs is
		 * not in the guest, so it did not test the kernel */
		snprintf(missing, sizeof(missing), "kbisect: the reproducer exited with %d "
			 "(a command, interpreter or library it needs is missing in the guest)",
			 e->exit_code);
		infra = missing;
		needs_missing = 1;
	}
	classify(c, res, e->end, e->exit_code,
		 e->end == KB_REPORT_END_TIMEOUT || (e->end == KB_REPORT_END_EXITED && !needs_missing) ?
			 NULL : infra);
}

/* Run job j on this worker's VM slot: a clone of its template (or a cold boot), fresh
 * randomness, the program sent, watched and classified into res. */
static void do_run(runctx *c, job *j, kb_pool_result *res)
{
	kb_pool *p = c->p;
	double t0 = kb_vm__now();
	char vmdir[700], *prog = NULL;
	size_t prog_len = 0;
	run_end e = { .end = -1, .exit_code = -1, .infra = NULL };
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

	if (kb_file_read(&prog, &prog_len, j->repro, 0, "reproducer") < 0) {
		res->klass = KB_RUN_INFRA;
		snprintf(res->title, sizeof(res->title), "kbisect: %s", kb_error_last()->message);
		goto out;
	}
	snprintf(vmdir, sizeof(vmdir), "%s/vm%u", p->dir, c->slot);
	kb_vm__rmrf(vmdir);
	if (mkdir(vmdir, 0700) < 0) {
		res->klass = KB_RUN_INFRA;
		snprintf(res->title, sizeof(res->title), "kbisect: cannot create '%.200s'", vmdir);
		goto out;
	}
	if (p->o.cold ? boot_cold(c, j, res, vmdir, t0) < 0 :
			start_clone(c, j, res, vmdir, prog, prog_len, &t, &t0) < 0)
		goto out;
	/* fresh randomness and the host's clock for a clone (its RAM is the template's,
	 * RNG state included); a cold boot has its own: only its token is read */
	if (res->cloned && reseed_clone(c, t, j, res) < 0)
		goto out;
	if (!res->cloned)
		kb_vm__token(&c->vm, res->entropy_token, kb_vm__now() + 30);
	if (send_program(c, j, res, prog, prog_len) < 0)
		goto out;
	res->start_s = kb_vm__now() - t0;
	watch_run(c, j, res, &e);
	finish_run(c, res, &e);
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

/* ---- the workers ---- */

/* A worker thread: takes jobs until the pool stops, runs them, queues the results. */
void *kb_pool__worker_main(void *arg)
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
			char *prog = NULL;
			size_t plen = 0;
			kb_pool_kernel k = kb_pool__job_kernel(j);
			if (!cancelled && (!j->repro || kb_file_read(&prog, &plen, j->repro, 0, "reproducer") == 0) &&
			    kb_pool__get_template(p, &t, &k, prog, plen, j->xz, j->seq, NULL) == 0)
				kb_pool__put_template(p, t);
			free(prog);
			kb_pool__free_job(j);
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
		kb_pool__free_job(j);
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
