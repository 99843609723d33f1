/*
 * cli/cmd_pool.c - `kbisect pool`: run a reproducer N times in pre-booted VMs.
 * Owns: option parsing, live lines and the summary (text or --json), Ctrl-C handling.
 * Not: the pool itself (vmpool/, kbisect/vmpool.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kbisect/cache.h"
#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/remote.h"
#include "kbisect/signature.h"
#include "kbisect/vmpool.h"
#include "cmd.h"
#include "options.h"

static const char *const pool_usage[] = {
	"kbisect pool run --kernel <bzImage> [--initrd <file> | --image <disk>] --repro <file>\n"
	"                 [--runs <n>] [--vms <p>] [--timeout <s>] [--accel tcg|kvm|auto]\n"
	"                 [--mem <MiB>] [--cmdline <args>] [--cold] [--state-dir <dir>]\n"
	"                 [--boot-timeout <s>]\n"
	"                 [--vmlinux <file> | --signature <hex>]\n"
	"                 [--cache <dir> | --no-cache] [--json] [-v]\n"
	"                 [--remote <url>] [--test-key <hex>]",
	NULL,
};

static const struct kb_cmd_doc pool_doc = {
	pool_usage,
	"Boot the kernel in pre-booted VMs (snapshots restored for each run) and run the\n"
	"reproducer --runs times, --vms at once; print a live line per run, then the\n"
	"runs per class (crash, infra, boot_failure, ok) and crash title.\n"
	"See docs/kbisect-pool.md.",
	"Exit 0 when the runs were made (whatever they found), 1 on error, 129 on usage\n"
	"errors.",
};

/* --signature <hex>: checked, then kept in the const char * at opt->value. */
static const char *set_signature(const struct kb_option *opt, const char *arg)
{
	kb_key k;
	if (kb_key_from_hex(&k, arg) < 0)
		return "give the 64 hex digits of 'kbisect signature'";
	*(const char **)opt->value = arg;
	return NULL;
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct summary_row {
	int klass;
	char title[256];
	unsigned int count;
};

static void count_title(struct summary_row **rows, size_t *n, int klass, const char *title)
{
	for (size_t i = 0; i < *n; i++)
		if ((*rows)[i].klass == klass && !strcmp((*rows)[i].title, title)) {
			(*rows)[i].count++;
			return;
		}
	struct summary_row *nr = realloc(*rows, (*n + 1) * sizeof(**rows));
	if (!nr)
		return;
	*rows = nr;
	nr[*n].klass = klass;
	snprintf(nr[*n].title, sizeof(nr[*n].title), "%s", title);
	nr[*n].count = 1;
	(*n)++;
}

/* What `pool run` was asked to do: its options, then what follows from them. */
struct pool_args {
	kb_pool_opts o;
	kb_pool_kernel k;
	const char *repro, *cache_opt, *vmlinux, *sig_hex;
	const char *remote_url, *test_key_hex; /* --remote, --test-key */
	kb_key test_key;
	kb_cache *store; /* --test-key: where the runs are stored (with --remote behind) */
	kb_key sig;
	char sig_text[KB_KEY_HEXLEN + 1]; /* "" unless keyed by a signature */
	double timeout;
	int json, no_cache;
	unsigned int runs_opt, vms_opt, mem_opt;
};

/* What the runs found so far. */
struct pool_tally {
	unsigned int n_class[4];
	struct summary_row *rows;
	size_t n_rows, done;
	json_t *jruns;
	int collected; /* 1 once every run was submitted */
};

/* The checks and conclusions after parsing: 0 to go on, else the exit code. */
static int pool_check(struct pool_args *a)
{
	if (a->sig_hex)
		kb_key_from_hex(&a->sig, a->sig_hex); /* checked by set_signature */
	if (a->test_key_hex && kb_key_from_hex(&a->test_key, a->test_key_hex) < 0)
		return kb_cli_usage_error(pool_usage, "--test-key: give 64 hex digits");
	if (a->test_key_hex && a->no_cache)
		return kb_cli_usage_error(pool_usage, "--test-key stores runs in the cache: drop "
					  "--no-cache");
	if (!a->k.kernel || !a->repro)
		return kb_cli_usage_error(pool_usage, "'pool run' needs --kernel and --repro");
	if (a->k.initrd && a->k.image)
		return kb_cli_usage_error(pool_usage, "give --initrd or --image, not both");
	if (a->vmlinux && a->sig_hex)
		return kb_cli_usage_error(pool_usage, "give --vmlinux or --signature, not both");
	if (a->vmlinux && kb_signature_file(&a->sig, a->vmlinux) < 0)
		return kb_cli_die_error();
	if (a->vmlinux || a->sig_hex) { /* saved vm states are keyed by it, not by the bzImage */
		a->k.signature = &a->sig;
		kb_key_to_hex(a->sig_text, &a->sig);
	}
	if (a->o.accel && strcmp(a->o.accel, "tcg") && strcmp(a->o.accel, "kvm") &&
	    strcmp(a->o.accel, "auto"))
		return kb_cli_usage_error(pool_usage, "unknown --accel '%s'; use tcg, kvm or auto",
					  a->o.accel);
	a->o.vms = a->vms_opt;
	a->o.mem_mb = a->mem_opt;
	return 0;
}

/* Count one result, print its live line and add it to the runs of --json. */
static void tally_result(struct pool_tally *t, const struct pool_args *a,
			 const kb_pool_result *r)
{
	char hex[KB_KEY_HEXLEN + 1] = "";
	FILE *live = a->json ? stderr : stdout;
	unsigned long runs = a->runs_opt;
	json_t *jr;

	t->done++;
	if (r->klass >= 0 && r->klass < 4)
		t->n_class[r->klass]++;
	if (r->klass == KB_RUN_CRASH || r->klass == KB_RUN_INFRA ||
	    r->klass == KB_RUN_BOOT_FAILURE)
		count_title(&t->rows, &t->n_rows, r->klass, r->title);
	if (r->has_console)
		kb_key_to_hex(hex, &r->console);
	if (!a->json || a->o.verbose)
		fprintf(live, "run %zu/%lu vm%u: %s%s%s%s %.1fs%s%s\n", t->done, runs, r->vm,
			kb_run_class_name(r->klass), r->title[0] ? " \"" : "", r->title,
			r->title[0] ? "\"" : "", r->duration_s, r->cloned ? " (clone)" : " (boot)",
			r->timed_out ? " (timed out)" : "");
	fflush(live);
	jr = json_pack("{s:I, s:i, s:s, s:s, s:f, s:f, s:i, s:b, s:b}",
		       "run", (json_int_t)r->tag, "vm", (int)r->vm,
		       "class", kb_run_class_name(r->klass), "title", r->title,
		       "duration_s", r->duration_s, "start_s", r->start_s,
		       "exit_code", r->exit_code, "timed_out", r->timed_out,
		       "cloned", r->cloned);
	if (jr && r->has_console)
		json_object_set_new(jr, "console", json_string(hex));
	if (jr)
		json_object_set_new(jr, "entropy_token", json_string(r->entropy_token));
	if (jr)
		json_array_append_new(t->jruns, jr);
}

/* --test-key: store the run as a test result (pushed to --remote), as `kbisect bisect`
 * does; a failure of the pool (VM, host) is not evidence and is not stored, the
 * reproducer's own SYZFAIL/SYZFATAL are */
static void store_run(const struct pool_args *a, const kb_pool_result *r)
{
	kb_test_run tr = { .klass = r->klass, .duration_s = r->duration_s,
			   .has_console = r->has_console, .console = r->console,
			   .time = (int64_t)time(NULL) };

	if (!a->test_key_hex || !a->store)
		return;
	if (r->klass == KB_RUN_INFRA && strncmp(r->title, "SYZFAIL", 7) != 0 &&
	    strncmp(r->title, "SYZFATAL", 8) != 0)
		return;
	snprintf(tr.title, sizeof(tr.title), "%s", r->title);
	if (r->has_console && kb_cache_push(a->store, &r->console) != 0)
		kb_error_clear(); /* the console stays on this host; the run still counts */
	if (kb_cache_test_add(a->store, &a->test_key, &tr) != 0) {
		fprintf(stderr, "kbisect: warning: run not stored: %s\n", kb_error_last()->message);
		kb_error_clear();
	}
}

/* Submit the runs and collect their results until all came back (or the pool stopped:
 * Ctrl-C, an unhealthy pool). KB_EXIT_OK, 130 or an exit code of an error. */
static int pool_collect(kb_pool *pool, const struct pool_args *a, struct pool_tally *t)
{
	unsigned long runs = a->runs_opt;
	int rc = KB_EXIT_OK, unhealthy = 0;

	for (unsigned long i = 0; i < runs; i++) {
		kb_pool_run run = { .kernel = &a->k, .repro = a->repro, .timeout_s = a->timeout,
				    .tag = i };
		if (kb_pool_submit(pool, &run) < 0)
			return kb_cli_die_error();
	}
	t->collected = 1;
	t->jruns = json_array();
	while (t->done < runs) {
		kb_pool_result r;
		int e;

		if (interrupted) {
			kb_pool_cancel(pool);
			interrupted = 0;
			fprintf(stderr, "kbisect: interrupted; stopping the vms\n");
			rc = 130;
		}
		e = kb_pool_next(&r, pool, 0.2);
		if (e == KB_ETIMEOUT)
			continue;
		if (e < 0)
			break;
		tally_result(t, a, &r);
		store_run(a, &r);
		kb_pool_result_clear(&r);
		if (!unhealthy && kb_pool_health(pool) < 0) {
			/* clones on frozen randomness: stop, the rest would say nothing */
			unhealthy = 1;
			fprintf(stderr, "kbisect: %s\n", kb_error_last()->message);
			kb_pool_cancel(pool);
			rc = KB_EXIT_ERROR;
		}
	}
	return rc;
}

/* The --json summary: one object on stdout (takes t->jruns). */
static void summary_json(kb_pool *pool, const struct pool_args *a, struct pool_tally *t)
{
	const unsigned int *n_class = t->n_class;
	const char *sig_text = a->sig_text;
	kb_pool_counters cnt;
	json_t *sum = json_pack("{s:i, s:i, s:i, s:i}", "crash", n_class[KB_RUN_CRASH],
				"infra", n_class[KB_RUN_INFRA], "boot_failure",
				n_class[KB_RUN_BOOT_FAILURE], "ok", n_class[KB_RUN_OK]);
	json_t *titles = json_array();
	for (size_t i = 0; i < t->n_rows; i++)
		json_array_append_new(titles, json_pack("{s:s, s:s, s:i}", "class",
							kb_run_class_name(t->rows[i].klass),
							"title", t->rows[i].title, "count",
							(int)t->rows[i].count));
	json_t *top = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "kernel", a->k.kernel,
				"accel", kb_pool_accel(pool), "accel_reason",
				kb_pool_accel_reason(pool), "runs", t->jruns, "summary", sum,
				"titles", titles);
	t->jruns = NULL;
	kb_pool_counters_get(&cnt, pool);
	if (top) {
		json_object_set_new(top, "signature", sig_text[0] ? json_string(sig_text) :
							      json_null());
		json_object_set_new(top, "vm_state_key", json_string(sig_text[0] ?
							"signature" : "bzimage"));
		json_object_set_new(top, "vms", json_pack("{s:i, s:i, s:i, s:i, s:i}",
				"boots", (int)cnt.boots, "cold_boots", (int)cnt.cold_boots,
				"cache_loads", (int)cnt.cache_loads, "state_dir_loads",
				(int)cnt.state_loads, "derived", (int)cnt.derived));
	}
	if (top) {
		json_dumpf(top, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	}
	json_decref(top);
}

/* The text summary: accelerator, vm states, runs per class, titles per class. */
static void summary_text(kb_pool *pool, const struct pool_args *a, const struct pool_tally *t)
{
	const unsigned int *n_class = t->n_class;
	kb_pool_counters cnt;

	printf("accelerator: %s (%s)\n", kb_pool_accel(pool), kb_pool_accel_reason(pool));
	kb_pool_counters_get(&cnt, pool);
	printf("vm states: %u booted, %u from the cache, %u from the state dir (keyed by "
	       "%s)\n", cnt.boots, cnt.cache_loads, cnt.state_loads,
	       a->sig_text[0] ? "kernel signature" : "bzImage hash");
	printf("runs: %zu  crash: %u  infra: %u  boot_failure: %u  ok: %u\n", t->done,
	       n_class[KB_RUN_CRASH], n_class[KB_RUN_INFRA], n_class[KB_RUN_BOOT_FAILURE],
	       n_class[KB_RUN_OK]);
	for (int kl = KB_RUN_CRASH; kl <= KB_RUN_BOOT_FAILURE; kl++) {
		int hdr = 0;
		for (size_t i = 0; i < t->n_rows; i++) {
			if (t->rows[i].klass != kl)
				continue;
			if (!hdr++)
				printf("%s:\n", kl == KB_RUN_CRASH ? "crashes by title" :
						kl == KB_RUN_INFRA ? "infra errors" :
								     "boot failures");
			printf("  %4u  %s\n", t->rows[i].count, t->rows[i].title);
		}
	}
}

/* Open the cache (consoles) and the pool, make the runs with Ctrl-C caught, print the
 * summary; the exit code. */
static int pool_go(struct pool_args *a)
{
	struct pool_tally t = { { 0 }, NULL, 0, 0, NULL, 0 };
	struct sigaction sa, old_int, old_term;
	kb_cache *cache = NULL;
	kb_remote *remote = NULL;
	kb_pool *pool = NULL;
	int rc;

	if (!a->no_cache) {
		const char *dir = kb_cli_cache_dir(a->cache_opt);
		if (kb_cache_open(&cache, dir, KB_CACHE_CREATE) < 0) {
			fprintf(stderr, "kbisect: warning: consoles not stored: %s\n",
				kb_error_last()->message);
			cache = NULL;
		}
	}
	if (a->remote_url) { /* the second tier: consoles and --test-key runs go there too */
		if (kb_cli_remote_open(&remote, a->remote_url) != KB_EXIT_OK) {
			rc = KB_EXIT_ERROR;
			goto out;
		}
		if (cache)
			kb_cache_set_remote(cache, remote);
	}
	if (a->test_key_hex && !cache) {
		rc = kb_cli_error("--test-key: no cache to store the runs in");
		goto out;
	}
	a->store = cache;
	a->o.cache = cache;
	if (kb_pool_open(&pool, &a->o) < 0) {
		rc = kb_cli_die_error();
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	rc = pool_collect(pool, a, &t);
	if (t.collected && a->json) /* else a submit failed: nothing to sum up */
		summary_json(pool, a, &t);
	else if (t.collected)
		summary_text(pool, a, &t);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
out:
	json_decref(t.jruns);
	free(t.rows);
	kb_pool_free(pool);
	kb_cli_remote_done(remote);
	kb_cache_free(cache);
	kb_remote_free(remote);
	return rc;
}

/* `kbisect pool run`: parse, check, run. */
static int pool_run(int argc, char **argv)
{
	struct pool_args a = { .timeout = 60, .runs_opt = 1 };
	kb_pool_opts *o = &a.o;
	kb_pool_kernel *k = &a.k;
	int n;
	const struct kb_option options[] = {
		KB_OPT_STR(0, "kernel", &k->kernel, "bzImage", "the bzImage to boot (required)"),
		KB_OPT_STR(0, "initrd", &k->initrd, "file", "your own initramfs whose /init starts "
			   "kbisect-agent on /dev/ttyS1 (default: one generated from busybox and "
			   "the agent)"),
		KB_OPT_STR(0, "image", &k->image, "disk", "a disk image (qcow2 or raw, never "
			   "written) booted with root=/dev/sda, whose init starts the agent"),
		KB_OPT_STR(0, "repro", &a.repro, "file", "the reproducer: a static binary, a "
			   "script or a .c file (compiled with gcc -static) (required)"),
		KB_OPT_UNSIGNED(0, "runs", &a.runs_opt, 1, 100000, "n",
				"how many runs (default 1)"),
		KB_OPT_UNSIGNED(0, "vms", &a.vms_opt, 1, 100000, "p",
				"VMs at once (default: number of cores)"),
		KB_OPT_NUMBER(0, "timeout", &a.timeout, 0, 86400, "s", "seconds the reproducer may "
			      "run (default 60); the wall limit of a run is this plus 30 s"),
		KB_OPT_STR(0, "accel", &o->accel, "tcg|kvm|auto", "auto (default) probes KVM with "
			   "a real boot, tcg or kvm force one"),
		KB_OPT_UNSIGNED(0, "mem", &a.mem_opt, 1, 100000, "MiB",
				"guest RAM in MiB (default 512)"),
		KB_OPT_STR(0, "cmdline", &k->cmdline, "args", "extra kernel command line"),
		KB_OPT_BOOL(0, "cold", &o->cold, "boot a fresh VM for every run (no snapshot)"),
		KB_OPT_STR(0, "state-dir", &o->state_dir, "dir", "keep booted snapshots there, so "
			   "the next run on the same kernel does not boot"),
		KB_OPT_NUMBER(0, "boot-timeout", &o->boot_timeout_s, 0, 86400, "s", "seconds a "
			      "boot may take to get the guest agent ready (default 300); running "
			      "into it is infra, not a boot failure"),
		KB_OPT_STR(0, "vmlinux", &a.vmlinux, "file", "key saved states by the kernel "
			   "signature of this vmlinux instead of the bzImage's hash"),
		KB_OPT_CALL(0, "signature", &a.sig_hex, "hex", "the same, given as the 64 hex "
			    "digits of 'kbisect signature' (trusted, not checked)", set_signature),
		KB_OPT_STR(0, "cache", &a.cache_opt, "dir", "where consoles are stored (default "
			   "$KBISECT_CACHE or ~/.cache/kbisect)"),
		KB_OPT_BOOL(0, "no-cache", &a.no_cache, "do not store consoles"),
		KB_OPT_STR(0, "remote", &a.remote_url, "url", "shared cache server: consoles and "
			   "--test-key runs are pushed there (Slurm jobs of 'kbisect bisect')"),
		KB_OPT_STR(0, "test-key", &a.test_key_hex, "hex", "store each run (but a failure "
			   "of the pool) as a test result under this key, as 'kbisect bisect' "
			   "does"),
		KB_OPT_BOOL(0, "json", &a.json, "one JSON object on stdout (live lines then go to "
			    "stderr only with -v)"),
		KB_OPT_BOOL('v', "verbose", &o->verbose, "progress lines on stderr"),
		KB_OPT_TABLE_END,
	};

	if ((n = kb_options_parse(argc, argv, options, &pool_doc, 0)) < 0)
		return kb_options_exit(n);
	if (n > 0)
		return kb_cli_usage_error(pool_usage, "unexpected argument '%s'", argv[0]);
	if ((n = pool_check(&a)) != 0)
		return n;
	return pool_go(&a);
}

int cmd_pool(int argc, char **argv)
{
	if (argc < 2)
		return kb_cli_usage_error(pool_usage, "'kbisect pool' needs a subcommand");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return pool_run(2, (char *[]){ "run", "--help", NULL });
	if (!strcmp(argv[1], "run"))
		return pool_run(argc - 1, argv + 1);
	return kb_cli_usage_error(pool_usage, "unknown subcommand 'pool %.128s'; see "
				  "'kbisect pool --help'", argv[1]);
}
