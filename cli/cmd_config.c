/*
 * cli/cmd_config.c - `kbisect config minimize`: the smallest config between BIG and
 * SMALL that still reproduces a crash (kbisect/minimize.h), and the same minimization
 * run first by `kbisect bisect --minimize-config` (kb_cli_minimize_config()).
 * Owns: the command's options, the log, the text/JSON output, --out, exit codes.
 * Not: the minimization itself (bisect/minimize*.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kbisect/cache.h"
#include "kbisect/error.h"
#include "kbisect/minimize.h"
#include "kbisect/remote.h"
#include "kbisect/util.h"
#include "cmd.h"
#include "options.h"

static const char *const config_usage[] = {
	"kbisect config minimize --repo <dir> --rev <rev> --config <BIG> --baseline <SMALL>",
	"                        --repro <file> [--json] [--out <file>] [--log <file>]",
	"                        [--cache <dir>] [--remote <url>] [--runs-per-test <n>]",
	"                        [--confidence <p>] [--title <t>] [--any-crash]",
	"                        [--kernel-cmdline <str>] [--work-dir <dir>] [--jobs <n>]",
	"                        [--accel tcg|kvm|auto] [--vms <n>] [--run-timeout <s>]",
	"                        [--boot-timeout <s>] [--cold] [--ccache <prog> | --no-ccache]",
	"                        [--build-cmd <cmd>] [--image <path>]",
	NULL,
};

static const struct kb_cmd_doc config_doc = {
	config_usage,
	"Find a config between BIG (that reproduces the crash) and SMALL (that builds,\n"
	"e.g. make tinyconfig or defconfig output) with as few of BIG's extra options as\n"
	"possible that still reproduces it. Both are resolved with make olddefconfig at\n"
	"<rev>; subsets of their difference are built (a subset built before is a cache\n"
	"hit) and tested, each test halving what is left. A subset crashes on one run\n"
	"with the target crash; it does not crash only when its clean runs make\n"
	"P(still crashes) < 1 - confidence for the crash rate q learned on BIG.",
	"Prints the options that matter, the minimized config's size, builds, tests,\n"
	"runs, wall time and one build's time of BIG and of the minimized config.\n"
	"Exit 0 when done, 1 on error (BIG does not crash, SMALL does not build: nothing\n"
	"is written to --out), 129 on usage errors.",
};

struct logger {
	FILE *f;
};

static void log_line(void *ctx, const char *line)
{
	struct logger *l = ctx;
	fprintf(l->f, "%s\n", line);
	fflush(l->f);
}

/* write text to path whole (a temporary file renamed) */
static int write_out(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX + 32];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(tmp, "wb");
	if (!f)
		return kb_cli_error("cannot write '%s': %s", tmp, strerror(errno));
	if (fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		int e = errno;
		unlink(tmp);
		return kb_cli_error("cannot write '%s': %s", tmp, strerror(e));
	}
	if (rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return kb_cli_error("cannot write '%s': %s", path, strerror(e));
	}
	return KB_EXIT_OK;
}

static double ratio(const kb_minimize_result *r)
{
	return r->min_build_s > 0 ? r->big_build_s / r->min_build_s : 0;
}

static void print_text(const kb_minimize_result *r, const char *out, FILE *f)
{
	char line[4200], t[32];

	fprintf(f, "options that matter (%zu of the %zu BIG adds to SMALL)%s:\n", r->needed.n,
		r->n_diff, r->confirmed ? "" : " [NOT CONFIRMED: never seen crashing together]");
	for (size_t i = 0; i < r->needed.n; i++)
		fprintf(f, "    %s\n", kb_kconfig_line(line, sizeof(line), &r->needed.v[i]));
	fprintf(f, "crash: %s (on BIG in %u of %u runs; q = %.2f [%.2f, %.2f])\n", r->title,
		r->big_crashes, r->big_crashes + r->big_clean, r->q, r->q_lo, r->q_hi);
	fprintf(f, "minimized config: %zu option%s from SMALL after olddefconfig%s%s\n",
		r->n_config_diff, r->n_config_diff == 1 ? " differs" : "s differ",
		out ? "; written to " : "", out ? out : "");
	kb_cli_human_duration(t, sizeof(t), r->seconds);
	fprintf(f, "%u tests, %u builds (%u kernels from the cache), %u runs, %s\n", r->tests,
		r->builds, r->build_hits, r->runs, t);
	fprintf(f, "one build (recorded, incremental in the work tree): BIG %.1fs, SMALL %.1fs, "
		"minimized %.1fs", r->big_build_s, r->small_build_s, r->min_build_s);
	if (ratio(r) > 0)
		fprintf(f, " (BIG / minimized = %.2f)", ratio(r));
	fputc('\n', f);
}

static int print_json(const kb_minimize_result *r, const char *out)
{
	json_t *o = json_object(), *opts = json_array(), *bs = json_object();
	char line[4200];
	char *s;

	for (size_t i = 0; i < r->needed.n; i++) {
		json_t *e = json_object();
		snprintf(line, sizeof(line), "CONFIG_%s", r->needed.v[i].name);
		json_object_set_new(e, "name", json_string(line));
		json_object_set_new(e, "value", json_string(r->needed.v[i].value));
		json_array_append_new(opts, e);
	}
	json_object_set_new(o, "options", opts);
	json_object_set_new(o, "confirmed", json_boolean(r->confirmed));
	json_object_set_new(o, "n_diff", json_integer((json_int_t)r->n_diff));
	json_object_set_new(o, "n_config_diff", json_integer((json_int_t)r->n_config_diff));
	json_object_set_new(o, "title", json_string(r->title));
	json_object_set_new(o, "q", json_real(r->q));
	json_object_set_new(o, "q_lo", json_real(r->q_lo));
	json_object_set_new(o, "q_hi", json_real(r->q_hi));
	json_object_set_new(o, "big_crashes", json_integer(r->big_crashes));
	json_object_set_new(o, "big_clean", json_integer(r->big_clean));
	json_object_set_new(o, "tests", json_integer(r->tests));
	json_object_set_new(o, "builds", json_integer(r->builds));
	json_object_set_new(o, "build_hits", json_integer(r->build_hits));
	json_object_set_new(o, "runs", json_integer(r->runs));
	json_object_set_new(o, "seconds", json_real(r->seconds));
	json_object_set_new(bs, "big", json_real(r->big_build_s));
	json_object_set_new(bs, "small", json_real(r->small_build_s));
	json_object_set_new(bs, "minimized", json_real(r->min_build_s));
	json_object_set_new(o, "build_seconds", bs);
	json_object_set_new(o, "build_ratio", json_real(ratio(r)));
	json_object_set_new(o, "out", out ? json_string(out) : json_null());
	s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	json_decref(o);
	if (!s)
		return kb_cli_error("out of memory");
	printf("%s\n", s);
	free(s);
	return KB_EXIT_OK;
}

int kb_cli_minimize_config(char *path, size_t len, kb_cache *cache, kb_remote *remote,
			   const void *oracle_opts, const struct kb_minimize_cli_args *a)
{
	const kb_oracle_opts *oo = oracle_opts;
	const char *rev = a->rev;
	kb_minimize_opts mo = { .oracle = *oo, .rev = a->rev, .baseline = a->baseline,
				.big_runs = a->runs, .confidence = a->confidence,
				.target_title = a->title, .any_crash = a->any_crash };
	kb_minimize_result r;
	char line[4200];
	int rc;

	oo->log(oo->log_ctx, "minimizing the config on the bad commit first (--minimize-config)");
	if (kb_minimize_run(&r, cache, remote, &mo) != 0) {
		kb_minimize_result_free(&r);
		return kb_cli_die_error();
	}
	snprintf(path, len, "%s/minimize/minimized-%.40s.config", oo->cache_dir, rev);
	rc = write_out(path, r.config, r.config_len);
	for (size_t i = 0; i < r.needed.n; i++) {
		char msg[4400];
		snprintf(msg, sizeof(msg), "option that matters: %s",
			 kb_kconfig_line(line, sizeof(line), &r.needed.v[i]));
		oo->log(oo->log_ctx, msg);
	}
	snprintf(line, sizeof(line), "minimized config: %zu of %zu options kept, %u tests, %u "
		 "builds, %u runs, %.0fs; bisecting with %s", r.needed.n, r.n_diff, r.tests,
		 r.builds, r.runs, r.seconds, path);
	oo->log(oo->log_ctx, line);
	kb_minimize_result_free(&r);
	return rc;
}

static int minimize(int argc, char **argv)
{
	kb_oracle_opts oo = { .run_timeout = 60 };
	const char *rev = NULL, *baseline = NULL, *out = NULL, *logpath = NULL, *remote_url = NULL;
	const char *title = NULL, *cache_opt = NULL;
	unsigned runs = 0;
	double confidence = 0;
	int json = 0, any_crash = 0, n, rc;
	struct kb_ccache_choice cc = { NULL, 0 };
	struct logger lg = { stderr };
	const struct kb_option options[] = {
		KB_OPT_STR(0, "repo", &oo.repo, "dir", "git repository of the kernel"),
		KB_OPT_STR(0, "rev", &rev, "rev", "the revision to build (one that crashes)"),
		KB_OPT_STR(0, "config", &oo.config, "file", "BIG: the config the crash was seen "
			   "with"),
		KB_OPT_STR(0, "baseline", &baseline, "file", "SMALL: a config that builds at "
			   "<rev> (make tinyconfig or defconfig output)"),
		KB_OPT_STR(0, "repro", &oo.repro, "file", "reproducer (static binary or C file)"),
		KB_OPT_BOOL(0, "json", &json, "print the result as JSON (options, title, q, "
			    "tests, builds, runs, seconds, build_seconds, ...)"),
		KB_OPT_STR(0, "out", &out, "file", "write the minimized config there (resolved "
			   "by make olddefconfig)"),
		KB_OPT_STR(0, "log", &logpath, "file", "write the log there (default: stderr)"),
		KB_OPT_STR(0, "cache", &cache_opt, "dir",
			   "cache directory (default $KBISECT_CACHE, ~/.cache/kbisect)"),
		KB_OPT_STR(0, "remote", &remote_url, "url", "shared cache server (as in 'kbisect "
			   "bisect')"),
		KB_OPT_UNSIGNED(0, "runs-per-test", &runs, 1, KB_ENGINE_MAX_RUNS, "n",
				"runs on BIG to learn the crash rate q (default 10)"),
		KB_OPT_CALL(0, "confidence", &confidence, "p", "a subset does not crash when "
			    "P(still crashes) < 1 - p (default 0.99)", kb_opt_probability),
		KB_OPT_STR(0, "title", &title, "title",
			   "title of the crash to keep (else the first crash on BIG)"),
		KB_OPT_BOOL(0, "any-crash", &any_crash, "any crash counts as the target"),
		KB_OPT_STR(0, "kernel-cmdline", &oo.cmdline, "str", "extra kernel command line"),
		KB_OPT_STR(0, "build-cmd", &oo.build_cmd, "cmd", "as in 'kbisect build'; it must "
			   "leave the resolved config in .config ($KBISECT_CONFIG is the one to "
			   "build)"),
		KB_OPT_STR(0, "image", &oo.image, "path", "as in 'kbisect build'"),
		KB_OPT_STR(0, "work-dir", &oo.work_dir, "dir", "as in 'kbisect build'"),
		KB_OPT_UNSIGNED(0, "jobs", &oo.jobs, 1, 1024, "n", "as in 'kbisect build'"),
		KB_OPT_CALL(0, "ccache", &cc, "prog", "wrap the compiler with ccache (default: "
			    "ccache when it is installed)", kb_opt_ccache),
		KB_OPT_CALL(0, "no-ccache", &cc, NULL, "build without ccache", kb_opt_ccache),
		KB_OPT_STR(0, "accel", &oo.accel, "tcg|kvm|auto", "as in 'kbisect pool run'"),
		KB_OPT_UNSIGNED(0, "vms", &oo.vms, 1, 256, "n", "as in 'kbisect pool run'; runs "
				"of a subset go in batches of n"),
		KB_OPT_NUMBER(0, "run-timeout", &oo.run_timeout, 0, 1e9, "s",
			      "as --timeout in 'kbisect pool run'"),
		KB_OPT_NUMBER(0, "boot-timeout", &oo.boot_timeout, 0, 86400, "s",
			      "as in 'kbisect pool run'"),
		KB_OPT_BOOL(0, "cold", &oo.cold, "as in 'kbisect pool run'"),
		KB_OPT_TABLE_END,
	};
	kb_cache *cache = NULL;
	kb_remote *remote = NULL;
	kb_minimize_result r = { 0 };
	char ccache[PATH_MAX], ccache_url[4200];

	if ((n = kb_options_parse(argc, argv, options, &config_doc, 0)) < 0)
		return kb_options_exit(n);
	if (n > 0)
		return kb_cli_usage_error(config_usage, "unexpected argument '%s'", argv[0]);
	if (!oo.repo || !rev || !oo.config || !baseline || !oo.repro)
		return kb_cli_usage_error(config_usage, "need --repo, --rev, --config, --baseline "
					  "and --repro");
	/* bad input before the cache is made: no trace */
	if (access(oo.repro, R_OK) != 0)
		return kb_cli_error("cannot read reproducer '%s': %s; give an existing file with "
				    "--repro", oo.repro, strerror(errno));
	if (access(oo.config, R_OK) != 0)
		return kb_cli_error("cannot read BIG '%s': %s; give an existing config with "
				    "--config", oo.config, strerror(errno));
	if (access(baseline, R_OK) != 0)
		return kb_cli_error("cannot read SMALL '%s': %s; give an existing config with "
				    "--baseline", baseline, strerror(errno));
	if (cc.set)
		oo.ccache = cc.prog;
	else if (!oo.build_cmd && kb_path_find(ccache, sizeof(ccache), "ccache") == KB_OK)
		oo.ccache = "ccache";
	kb_error_clear();
	if (logpath) {
		lg.f = fopen(logpath, "a");
		if (!lg.f)
			return kb_cli_error("cannot open log '%s': %s", logpath, strerror(errno));
	}
	oo.log = log_line;
	oo.log_ctx = &lg;
	oo.cache_dir = kb_cli_cache_dir(cache_opt);
	rc = KB_EXIT_ERROR;
	if (kb_cache_open(&cache, oo.cache_dir, KB_CACHE_CREATE) != 0) {
		rc = kb_cli_die_error();
		goto done;
	}
	if (kb_cli_remote_open(&remote, remote_url) != KB_EXIT_OK)
		goto done;
	kb_cache_set_remote(cache, remote);
	if (remote_url)
		oo.ccache_remote = kb_cli_remote_ccache(ccache_url, sizeof(ccache_url), remote_url);
	{
		kb_minimize_opts mo = { .oracle = oo, .rev = rev, .baseline = baseline,
					.big_runs = runs, .confidence = confidence,
					.target_title = title, .any_crash = any_crash };
		if (kb_minimize_run(&r, cache, remote, &mo) != 0) {
			rc = kb_cli_die_error();
			goto done;
		}
	}
	if (out && (rc = write_out(out, r.config, r.config_len)) != KB_EXIT_OK)
		goto done;
	rc = json ? print_json(&r, out) : (print_text(&r, out, stdout), KB_EXIT_OK);
done:
	kb_minimize_result_free(&r);
	kb_cli_remote_done(remote);
	kb_cache_free(cache);
	kb_remote_free(remote);
	if (logpath)
		fclose(lg.f);
	return rc;
}

int cmd_config(int argc, char **argv)
{
	if (argc < 2)
		return kb_cli_usage_error(config_usage, "'kbisect config' needs a subcommand "
					  "(minimize)");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		kb_cli_usage(stdout, config_usage);
		printf("\nSee 'kbisect config minimize --help' for its options.\n");
		return KB_EXIT_OK;
	}
	if (!strcmp(argv[1], "minimize"))
		return minimize(argc - 1, argv + 1);
	return kb_cli_usage_error(config_usage, "unknown subcommand '%.64s' of 'kbisect config'",
				  argv[1]);
}
