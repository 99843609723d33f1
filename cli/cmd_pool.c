/*
 * cli/cmd_pool.c - `kbisect pool`: run a reproducer N times in pre-booted VMs.
 * Owns: option parsing, live lines and the summary (text or --json), Ctrl-C handling.
 * Not: the pool itself (vmpool/, kbisect/vmpool.h).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kbisect/cache.h"
#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/signature.h"
#include "kbisect/vmpool.h"
#include "cmd.h"

static const char *const pool_usage[] = {
	"kbisect pool run --kernel <bzImage> [--initrd <file> | --image <disk>] --repro <file>\n"
	"                 [--runs <n>] [--vms <p>] [--timeout <s>] [--accel tcg|kvm|auto]\n"
	"                 [--mem <MiB>] [--cmdline <args>] [--cold] [--state-dir <dir>]\n"
	"                 [--boot-timeout <s>]\n"
	"                 [--vmlinux <file> | --signature <hex>]\n"
	"                 [--cache <dir> | --no-cache] [--json] [-v]",
	NULL,
};

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

static int pool_run(int argc, char **argv)
{
	enum { O_KERNEL = 256, O_INITRD, O_IMAGE, O_REPRO, O_RUNS, O_VMS, O_TIMEOUT, O_ACCEL,
	       O_MEM, O_CMDLINE, O_COLD, O_STATE, O_CACHE, O_NOCACHE, O_JSON, O_VMLINUX,
	       O_SIGNATURE, O_BOOT_TIMEOUT };
	static const struct option lo[] = {
		{ "kernel", required_argument, NULL, O_KERNEL },
		{ "initrd", required_argument, NULL, O_INITRD },
		{ "image", required_argument, NULL, O_IMAGE },
		{ "repro", required_argument, NULL, O_REPRO },
		{ "runs", required_argument, NULL, O_RUNS },
		{ "vms", required_argument, NULL, O_VMS },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "accel", required_argument, NULL, O_ACCEL },
		{ "mem", required_argument, NULL, O_MEM },
		{ "cmdline", required_argument, NULL, O_CMDLINE },
		{ "cold", no_argument, NULL, O_COLD },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "cache", required_argument, NULL, O_CACHE },
		{ "no-cache", no_argument, NULL, O_NOCACHE },
		{ "json", no_argument, NULL, O_JSON },
		{ "vmlinux", required_argument, NULL, O_VMLINUX },
		{ "signature", required_argument, NULL, O_SIGNATURE },
		{ "boot-timeout", required_argument, NULL, O_BOOT_TIMEOUT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	kb_pool_opts o = { 0 };
	kb_pool_kernel k = { 0 };
	const char *repro = NULL, *cache_opt = NULL, *vmlinux = NULL, *sig_hex = NULL;
	kb_key sig;
	char sig_text[KB_KEY_HEXLEN + 1] = "";
	kb_pool_counters cnt;
	unsigned long runs = 1, vms = 0, mem = 0;
	double timeout = 60;
	int json = 0, no_cache = 0, c, rc = KB_EXIT_OK;
	kb_cache *cache = NULL;
	kb_pool *pool = NULL;
	json_t *jruns = NULL;
	unsigned int n_class[4] = { 0 };
	struct summary_row *rows = NULL;
	size_t n_rows = 0, done = 0;
	char *end;
	struct sigaction sa, old_int, old_term;
	int unhealthy = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case O_KERNEL: k.kernel = optarg; break;
		case O_INITRD: k.initrd = optarg; break;
		case O_IMAGE: k.image = optarg; break;
		case O_REPRO: repro = optarg; break;
		case O_RUNS:
		case O_VMS:
		case O_MEM: {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*optarg == '-' || *end || !*optarg || v == 0 || v > 100000)
				return kb_cli_usage_error(pool_usage, "bad number '%s' for --%s",
							  optarg, c == O_RUNS ? "runs" :
							  c == O_VMS ? "vms" : "mem");
			if (c == O_RUNS) runs = v;
			else if (c == O_VMS) vms = v;
			else mem = v;
			break;
		}
		case O_TIMEOUT:
			timeout = strtod(optarg, &end);
			if (*end || !*optarg || timeout <= 0 || timeout > 86400)
				return kb_cli_usage_error(pool_usage, "bad --timeout '%s'; give "
							  "seconds, e.g. 60", optarg);
			break;
		case O_BOOT_TIMEOUT:
			o.boot_timeout_s = strtod(optarg, &end);
			if (*end || !*optarg || !(o.boot_timeout_s > 0) ||
			    o.boot_timeout_s > 86400)
				return kb_cli_usage_error(pool_usage, "bad --boot-timeout '%s'; "
							  "give seconds, e.g. 300", optarg);
			break;
		case O_ACCEL: o.accel = optarg; break;
		case O_CMDLINE: k.cmdline = optarg; break;
		case O_COLD: o.cold = 1; break;
		case O_STATE: o.state_dir = optarg; break;
		case O_CACHE: cache_opt = optarg; break;
		case O_NOCACHE: no_cache = 1; break;
		case O_JSON: json = 1; break;
		case O_VMLINUX: vmlinux = optarg; break;
		case O_SIGNATURE:
			sig_hex = optarg;
			if (kb_key_from_hex(&sig, optarg) < 0)
				return kb_cli_usage_error(pool_usage, "bad --signature '%s'; give "
							  "the 64 hex digits of 'kbisect "
							  "signature'", optarg);
			break;
		case 'v': o.verbose = 1; break;
		case 'h':
			kb_cli_usage(stdout, pool_usage);
			return KB_EXIT_OK;
		default:
			return kb_cli_usage_error(pool_usage, "unknown option or missing value in "
						  "'%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return kb_cli_usage_error(pool_usage, "unexpected argument '%s'", argv[optind]);
	if (!k.kernel || !repro)
		return kb_cli_usage_error(pool_usage, "'pool run' needs --kernel and --repro");
	if (k.initrd && k.image)
		return kb_cli_usage_error(pool_usage, "give --initrd or --image, not both");
	if (vmlinux && sig_hex)
		return kb_cli_usage_error(pool_usage, "give --vmlinux or --signature, not both");
	if (vmlinux && kb_signature_file(&sig, vmlinux) < 0)
		return kb_cli_die_error();
	if (vmlinux || sig_hex) { /* saved vm states are keyed by it, not by the bzImage */
		k.signature = &sig;
		kb_key_to_hex(sig_text, &sig);
	}
	if (o.accel && strcmp(o.accel, "tcg") && strcmp(o.accel, "kvm") &&
	    strcmp(o.accel, "auto"))
		return kb_cli_usage_error(pool_usage, "unknown --accel '%s'; use tcg, kvm or auto",
					  o.accel);
	o.vms = (unsigned int)vms;
	o.mem_mb = (unsigned int)mem;
	if (!no_cache) {
		const char *dir = kb_cli_cache_dir(cache_opt);
		if (kb_cache_open(&cache, dir, KB_CACHE_CREATE) < 0) {
			fprintf(stderr, "kbisect: warning: consoles not stored: %s\n",
				kb_error_last()->message);
			cache = NULL;
		}
	}
	o.cache = cache;
	if (kb_pool_open(&pool, &o) < 0) {
		rc = kb_cli_die_error();
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	for (unsigned long i = 0; i < runs; i++) {
		kb_pool_run run = { .kernel = &k, .repro = repro, .timeout_s = timeout, .tag = i };
		if (kb_pool_submit(pool, &run) < 0) {
			rc = kb_cli_die_error();
			goto restore;
		}
	}
	jruns = json_array();
	while (done < runs) {
		kb_pool_result r;
		char hex[KB_KEY_HEXLEN + 1] = "";
		FILE *live = json ? stderr : stdout;
		int e;

		if (interrupted) {
			kb_pool_cancel(pool);
			interrupted = 0;
			fprintf(stderr, "kbisect: interrupted; stopping the vms\n");
			rc = 130;
		}
		e = kb_pool_next(pool, &r, 0.2);
		if (e == KB_ETIMEOUT)
			continue;
		if (e < 0)
			break;
		done++;
		if (r.klass >= 0 && r.klass < 4)
			n_class[r.klass]++;
		if (r.klass == KB_RUN_CRASH || r.klass == KB_RUN_INFRA ||
		    r.klass == KB_RUN_BOOT_FAILURE)
			count_title(&rows, &n_rows, r.klass, r.title);
		if (r.has_console)
			kb_key_to_hex(hex, &r.console);
		if (!json || o.verbose)
			fprintf(live, "run %zu/%lu vm%u: %s%s%s%s %.1fs%s%s\n", done, runs, r.vm,
				kb_run_class_name(r.klass), r.title[0] ? " \"" : "", r.title,
				r.title[0] ? "\"" : "", r.duration_s, r.cloned ? " (clone)" : " (boot)",
				r.timed_out ? " (timed out)" : "");
		fflush(live);
		json_t *jr = json_pack("{s:I, s:i, s:s, s:s, s:f, s:f, s:i, s:b, s:b}",
				       "run", (json_int_t)r.tag, "vm", (int)r.vm,
				       "class", kb_run_class_name(r.klass), "title", r.title,
				       "duration_s", r.duration_s, "start_s", r.start_s,
				       "exit_code", r.exit_code, "timed_out", r.timed_out,
				       "cloned", r.cloned);
		if (jr && r.has_console)
			json_object_set_new(jr, "console", json_string(hex));
		if (jr)
			json_object_set_new(jr, "entropy_token", json_string(r.entropy_token));
		if (jr)
			json_array_append_new(jruns, jr);
		kb_pool_result_clear(&r);
		if (!unhealthy && kb_pool_health(pool) < 0) {
			/* clones on frozen randomness: stop, the rest would say nothing */
			unhealthy = 1;
			fprintf(stderr, "kbisect: %s\n", kb_error_last()->message);
			kb_pool_cancel(pool);
			rc = KB_EXIT_ERROR;
		}
	}
	if (json) {
		json_t *sum = json_pack("{s:i, s:i, s:i, s:i}", "crash", n_class[KB_RUN_CRASH],
					"infra", n_class[KB_RUN_INFRA], "boot_failure",
					n_class[KB_RUN_BOOT_FAILURE], "ok", n_class[KB_RUN_OK]);
		json_t *titles = json_array();
		for (size_t i = 0; i < n_rows; i++)
			json_array_append_new(titles, json_pack("{s:s, s:s, s:i}", "class",
								kb_run_class_name(rows[i].klass),
								"title", rows[i].title, "count",
								(int)rows[i].count));
		json_t *top = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "kernel", k.kernel,
					"accel", kb_pool_accel(pool), "accel_reason",
					kb_pool_accel_reason(pool), "runs", jruns, "summary", sum,
					"titles", titles);
		jruns = NULL;
		kb_pool_counters_get(pool, &cnt);
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
	} else {
		printf("accelerator: %s (%s)\n", kb_pool_accel(pool), kb_pool_accel_reason(pool));
		kb_pool_counters_get(pool, &cnt);
		printf("vm states: %u booted, %u from the cache, %u from the state dir (keyed by "
		       "%s)\n", cnt.boots, cnt.cache_loads, cnt.state_loads,
		       sig_text[0] ? "kernel signature" : "bzImage hash");
		printf("runs: %zu  crash: %u  infra: %u  boot_failure: %u  ok: %u\n", done,
		       n_class[KB_RUN_CRASH], n_class[KB_RUN_INFRA], n_class[KB_RUN_BOOT_FAILURE],
		       n_class[KB_RUN_OK]);
		for (int kl = KB_RUN_CRASH; kl <= KB_RUN_BOOT_FAILURE; kl++) {
			int hdr = 0;
			for (size_t i = 0; i < n_rows; i++) {
				if (rows[i].klass != kl)
					continue;
				if (!hdr++)
					printf("%s:\n", kl == KB_RUN_CRASH ? "crashes by title" :
							kl == KB_RUN_INFRA ? "infra errors" :
									     "boot failures");
				printf("  %4u  %s\n", rows[i].count, rows[i].title);
			}
		}
	}
restore:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
out:
	json_decref(jruns);
	free(rows);
	kb_pool_close(pool);
	kb_cache_close(cache);
	return rc;
}

int cmd_pool(int argc, char **argv)
{
	if (argc < 2)
		return kb_cli_usage_error(pool_usage, "'kbisect pool' needs a subcommand");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		kb_cli_usage(stdout, pool_usage);
		return KB_EXIT_OK;
	}
	if (!strcmp(argv[1], "run"))
		return pool_run(argc - 1, argv + 1);
	return kb_cli_usage_error(pool_usage, "unknown subcommand 'pool %.128s'; see "
				  "'kbisect pool --help'", argv[1]);
}
