/*
 * cli/cmd_bisect.c - `kbisect bisect`: find the first bad commit with the engine
 * (kbisect/engine.h) and the real oracle (kbisect/oracle.h: builds through the builder,
 * tests through the VM pool, results in the cache, so an interrupted bisection re-run
 * with the same command resumes without repeating work). `--simulate` runs the engine
 * on a synthetic history instead (no repository, no VMs).
 * Owns: the command's options, the log file, Ctrl-C, the text/JSON output and exit
 * codes. Not: the oracle (bisect/oracle*.c), the engine's reports (bisect/engine_*.c).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kbisect/cache.h"
#include "kbisect/engine.h"
#include "kbisect/error.h"
#include "kbisect/remote.h"
#include "kbisect/gitdag.h"
#include "kbisect/model.h"
#include "kbisect/oracle.h"
#include "kbisect/simulate.h"
#include "kbisect/util.h"
#include "cmd.h"
#include "options.h"

static const char *const bisect_usage[] = {
	"kbisect bisect --repo <dir> --bad <rev> (--good <rev>... | --find-good) --config <file>",
	"               --repro <file> [--kernel-cmdline <str>] [--workers <k>]",
	"               [--runs-per-test <n>] [--confidence <p>] [--cache <dir>] [--remote <url>]",
	"               [--title <crash title>] [--any-crash] [--max-rounds <n>] [--json]",
	"               [--html <file>] [--log <file>] [--build-cmd <cmd>] [--image <path>]",
	"               [--work-dir <dir>] [--jobs <n>] [--accel tcg|kvm|auto] [--vms <n>]",
	"               [--run-timeout <s>] [--boot-timeout <s>] [--prebuild <n>] [--cold]",
	"               [--ccache <prog> | --no-ccache]",
	"               [--executor local|slurm] [--slurm-partition <p>] [--slurm-args <opts>]",
	"kbisect bisect --simulate [--commits <n>] [--shape linear|merges] [--q <rate>]",
	"               [--seed <n>] [--workers <k>] [--runs-per-test <n>] [--confidence <p>]",
	"               [--json] [--html <file>] [--log <file>]",
	NULL,
};

static const struct kb_cmd_doc bisect_doc = {
	bisect_usage,
	"Find the commit that introduced a crash, say how sure that is, and spend as\n"
	"little build and test time as possible. Each round tests up to <k> commits\n"
	"chosen for what they tell about the culprit per unit of time; one run of the\n"
	"reproducer is a target crash, a clean run, or something that says nothing\n"
	"(infra error such as SYZFAIL, other crash, boot failure).",
	"Ctrl-C stops after the current round; the same command resumes from the\n"
	"cached builds and test results. Exit 0 when a culprit or a credible set was\n"
	"found, 1 on error (including a reproducer that does not crash --bad), 129 on\n"
	"usage errors.",
};

/* --ccache <prog> and --no-ccache (arg NULL): the last one wins. */
struct ccache_choice {
	const char *prog;
	int set;
};

static const char *set_ccache(const struct kb_option *opt, const char *arg)
{
	struct ccache_choice *c = opt->value;
	c->prog = arg;
	c->set = 1;
	return NULL;
}

static const char *set_confidence(const struct kb_option *opt, const char *arg)
{
	char *end;
	double p = strtod(arg, &end);
	if (*end || !*arg || !(p > 0 && p < 1))
		return "give a probability such as 0.99";
	*(double *)opt->value = p;
	return NULL;
}

static const char *set_shape(const struct kb_option *opt, const char *arg)
{
	if (!strcmp(arg, "linear"))
		*(int *)opt->value = KB_SIM_LINEAR;
	else if (!strcmp(arg, "merges"))
		*(int *)opt->value = KB_SIM_MERGES;
	else
		return "give linear or merges";
	return NULL;
}

static const char *set_seed(const struct kb_option *opt, const char *arg)
{
	char *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*end || !*arg || *arg == '-' || errno)
		return "give a whole number";
	*(unsigned long long *)opt->value = v;
	return NULL;
}

static const char *set_executor(const struct kb_option *opt, const char *arg)
{
	if (strcmp(arg, "local") && strcmp(arg, "slurm"))
		return "give local or slurm";
	*(const char **)opt->value = arg;
	return NULL;
}

/* below this many CPUs, builds and TCG VMs share the cores: a speculative build only
 * slows the tests down, so --prebuild is off unless asked for */
#define PREBUILD_MIN_CPUS 8

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

struct logger {
	FILE *f;
};

static void log_line(void *ctx, const char *line)
{
	struct logger *l = ctx;
	fprintf(l->f, "%s\n", line);
	fflush(l->f);
}

/* ---- the real bisection: options of the oracle (kbisect/oracle.h) ---- */

struct real_args {
	const char *repo, *bad, *config, *repro, *cmdline, *cache_dir, *remote;
	const char *build_cmd, *image, *work_dir, *accel;
	const char *ccache; /* program wrapping the compiler, or NULL */
	const char **goods;
	size_t n_goods;
	int find_good, image_set;
	unsigned jobs, vms;
	double run_timeout;
	unsigned prebuild; /* speculative builds per round */
	double boot_timeout; /* kernel boot to agent ready (0: the pool's default) */
	int cold;            /* boot a fresh VM for every run (no snapshot clones) */
	const char *executor; /* --executor local|slurm */
	const char *slurm_partition, *slurm_args;
};

/* ---- output ---- */

static void print_text(const kb_engine *e, const kb_model *m, const kb_gitdag *dag, FILE *f)
{
	kb_bisect_result r;
	char t1[32], t2[32], pt[16];

	kb_engine_result(&r, e);
	if (r.culprit != KB_MODEL_NONE) {
		fprintf(f, "culprit: %s (probability %s)\n", kb_engine_node_name(e, r.culprit),
			kb_engine_prob_text(r.probability, pt, sizeof(pt)));
		if (dag)
			fprintf(f, "    %s\n", kb_gitdag_summary(dag, r.culprit));
	} else if (r.stop == KB_STOP_NO_REPRO) {
		fprintf(f, "the reproducer did not crash the bad commit\n");
	} else {
		fprintf(f, "no single culprit (%s); these %zu commits hold %.4f:\n",
			kb_engine_stop_name(r.stop), r.n_set, r.probability);
		for (size_t i = 0; i < r.n_set && i < 50; i++)
			fprintf(f, "    %s %.4f\n",
				r.set[i] == KB_MODEL_NONE ? "(no culprit in range)"
				: kb_engine_node_name(e, r.set[i]),
				kb_model_posterior(m, r.set[i]));
	}
	if (r.flags) {
		fprintf(f, "flags:");
		if (r.flags & KB_FLAG_SAME_KERNEL_AS_PARENT)
			fprintf(f, " same_kernel_as_parent");
		if (r.flags & KB_FLAG_MERGE)
			fprintf(f, " merge");
		if (r.flags & KB_FLAG_OUTSIDE_BUILD)
			fprintf(f, " outside_build_inputs");
		if (r.flags & KB_FLAG_FLAKY)
			fprintf(f, " flaky (q = %.2f [%.2f, %.2f])", r.q, r.q_lo, r.q_hi);
		fputc('\n', f);
	}
	kb_cli_human_duration(t1, sizeof(t1), r.seconds);
	kb_cli_human_duration(t2, sizeof(t2), r.seconds_saved);
	fprintf(f, "%u rounds, %u builds (%u avoided, %s saved), %u tests, %u runs, %s\n",
		r.rounds, r.builds, r.builds_avoided, t2, r.tests, r.runs, t1);
	if (r.prefetched)
		fprintf(f, "%u speculative builds while tests ran, %u of them tested later\n",
			r.prefetched, r.prefetch_used);
}

/* Print the result (text or JSON) and write the HTML report; preboots >= 0 (real
 * bisections: kernels pre-booted ahead of their test) is added to both. */
/* What the "did not crash" error adds about how the runs were made (set for real
 * bisections: snapshot clones, or --cold boots). */
static const char *no_repro_hint = "";

static int finish(kb_engine *e, kb_model *m, const kb_gitdag *dag, int json, const char *html,
		  long preboots)
{
	kb_bisect_result r;

	if (html && kb_engine_html(e, html) != 0)
		return kb_cli_die_error();
	if (json) {
		char *s = NULL;
		if (kb_engine_json(&s, e) != 0)
			return kb_cli_die_error();
		json_t *o = preboots >= 0 ? json_loads(s, 0, NULL) : NULL;
		if (o && json_object_set_new(o, "preboots", json_integer(preboots)) == 0) {
			char *t = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
			if (t) {
				free(s);
				s = t;
			}
		}
		json_decref(o);
		printf("%s\n", s);
		free(s);
	} else {
		print_text(e, m, dag, stdout);
		if (preboots > 0)
			printf("%ld kernels pre-booted ahead of their tests\n", preboots);
	}
	kb_engine_result(&r, e);
	if (r.stop == KB_STOP_NO_REPRO)
		return kb_cli_error("the reproducer did not crash bad commit %s in %u rounds of "
				    "runs (see the calibration lines above); check the reproducer, "
				    "--kernel-cmdline and --config%s",
				    dag ? kb_gitdag_id(dag, kb_gitdag_size(dag) - 1) : "(simulated)",
				    r.rounds, no_repro_hint);
	return KB_EXIT_OK;
}

static int drive(kb_engine *e)
{
	struct sigaction sa = { 0 }, old;
	int done = 0, rc = 0;

	sa.sa_handler = on_sigint;
	sa.sa_flags = SA_RESTART; /* builds and runs of the current round go on */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	while (!done && !interrupted) {
		rc = kb_engine_step(e, &done);
		if (rc)
			break;
	}
	sigaction(SIGINT, &old, NULL);
	if (rc)
		return kb_cli_die_error();
	if (interrupted)
		return kb_cli_error("interrupted; run the same command again to resume from the "
				    "cached builds and test results");
	return KB_EXIT_OK;
}

/* ---- modes ---- */

static int run_simulated(const kb_engine_opts *eo, size_t commits, int shape, double q,
			 unsigned long long seed, int json, const char *html, struct logger *lg)
{
	kb_sim *s = NULL;
	kb_sim_opts so = { .n = commits, .shape = shape, .q = q, .seed = seed };
	kb_model *m = NULL;
	kb_engine *e = NULL;
	kb_engine_oracle o;
	kb_engine_opts opt = *eo;
	int rc;

	if (kb_sim_new(&s, &so) || kb_sim_model(&m, s, NULL)) {
		kb_sim_free(s);
		return kb_cli_die_error();
	}
	kb_sim_oracle(&o, s, 1);
	o.log = log_line;
	o.log_ctx = lg;
	opt.bad = kb_sim_size(s) - 1;
	opt.build_seconds = 420, opt.test_seconds = 540;
	if (!opt.target_title)
		opt.target_title = "general protection fault in vmx_vcpu_run";
	if (kb_engine_new(&e, m, &o, &opt)) {
		kb_model_free(m);
		kb_sim_free(s);
		return kb_cli_die_error();
	}
	for (size_t i = 0; i < kb_sim_size(s); i++) {
		char name[32];
		snprintf(name, sizeof(name), "c%05zu", i);
		kb_engine_set_node(e, i, name, kb_sim_is_merge(s, i));
	}
	rc = drive(e);
	if (rc == KB_EXIT_OK) {
		fprintf(lg->f, "simulated culprit: c%05zu\n", kb_sim_culprit(s));
		rc = finish(e, m, NULL, json, html, -1);
		if (!json) {
			kb_bisect_result r;
			kb_engine_result(&r, e);
			printf("simulated culprit: c%05zu (%s)\n", kb_sim_culprit(s),
			       r.culprit == kb_sim_culprit(s) ? "found" : "not found");
		}
	}
	kb_engine_free(e);
	kb_model_free(m);
	kb_sim_free(s);
	return rc;
}


/* the real bisection: the oracle on the builder and the pool, the engine driven here */
static int run_real(const struct real_args *a, kb_engine_opts *eo, int json, const char *html,
		    struct logger *lg)
{
	kb_cache *cache = NULL;
	kb_remote *remote = NULL;
	kb_oracle *o = NULL;
	kb_engine *e = NULL;
	char *found_good = NULL;
	const char *cache_dir = kb_cli_cache_dir(a->cache_dir);
	char ccache_url[4200];
	int rc = KB_EXIT_ERROR;
	kb_oracle_opts oo = { .repo = a->repo, .bad = a->bad, .config = a->config,
			      .repro = a->repro, .cmdline = a->cmdline, .cache_dir = cache_dir,
			      .build_cmd = a->build_cmd, .image = a->image_set ? a->image : NULL,
			      .work_dir = a->work_dir, .ccache = a->ccache, .accel = a->accel,
			      .workers = eo->workers, .jobs = a->jobs, .vms = a->vms,
			      .prebuild = a->prebuild, .run_timeout = a->run_timeout,
			      .boot_timeout = a->boot_timeout, .cold = a->cold,
			      .executor = a->executor, .slurm_partition = a->slurm_partition,
			      .slurm_args = a->slurm_args,
			      .log = log_line, .log_ctx = lg };

	if (access(a->repro, R_OK) != 0) /* before the cache is made: bad input, no trace */
		return kb_cli_error("cannot read reproducer: cannot open '%s': %s; give an existing "
				    "file with --repro", a->repro, strerror(errno));
	if (kb_cache_open(&cache, cache_dir, KB_CACHE_CREATE) != 0)
		return kb_cli_die_error();
	if (kb_cli_remote_open(&remote, a->remote) != KB_EXIT_OK)
		goto out;
	kb_cache_set_remote(cache, remote); /* the second tier (NULL: local only) */
	oo.remote_url = remote ? kb_remote_url(remote) : NULL; /* --executor slurm's data plane */
	if (a->remote)
		oo.ccache_remote = kb_cli_remote_ccache(ccache_url, sizeof(ccache_url), a->remote);
	no_repro_hint = a->cold ? "" : "; the runs were clones of one saved boot per kernel "
				       "(each with fresh randomness): if the bug needs a fresh "
				       "boot, try --cold (each run boots, slower)";
	if (kb_oracle_open(&o, cache, remote, &oo) != 0 ||
	    (a->find_good && kb_oracle_find_good(&found_good, o, eo) != 0)) {
		rc = kb_cli_die_error();
		goto out;
	}
	{
		const char *goods1[1] = { found_good };
		if (kb_oracle_range(o, found_good ? goods1 : a->goods,
				    found_good ? 1 : a->n_goods) != 0 ||
		    kb_oracle_engine(&e, o, eo) != 0) {
			rc = kb_cli_die_error();
			goto out;
		}
	}
	rc = drive(e);
	if (rc == KB_EXIT_OK)
		rc = finish(e, kb_oracle_model(o), kb_oracle_dag(o), json, html,
			    (long)kb_oracle_preboots(o));
out:
	kb_engine_free(e);
	kb_oracle_free(o);
	free(found_good);
	kb_cli_remote_done(remote);
	kb_cache_free(cache);
	kb_remote_free(remote);
	return rc;
}

/* the defaults that depend on the host: speculative builds and ccache (prebuild -2:
 * --prebuild not given) */
static void set_defaults(struct real_args *ra, kb_engine_opts *eo, int simulate, int prebuild,
			 int ccache_set)
{
	char ccache[PATH_MAX];
	/* speculative builds: on by default where builds and VMs do not share a few cores
	 * (and always in the simulation, whose builds run on build servers) */
	if (simulate) { /* the simulator builds what the engine hands it */
		eo->prefetch = prebuild == -2 ? 0 : prebuild == 0 ? -1 : prebuild;
	} else {
		unsigned k = eo->workers ? eo->workers : 1;
		int cluster = ra->executor && !strcmp(ra->executor, "slurm"); /* not our cores */
		ra->prebuild = prebuild != -2 ? (unsigned)prebuild :
			      cluster || sysconf(_SC_NPROCESSORS_ONLN) >= PREBUILD_MIN_CPUS ? k : 0;
		/* next candidates handed over each round: pre-booted when their kernel is at
		 * hand, built (up to --prebuild) when not */
		eo->prefetch = (int)(ra->prebuild > k ? ra->prebuild : k);
	}
	/* ccache on kernel builds when it is installed: going back across a header that
	 * most files include then costs cache hits, not a full rebuild */
	if (!ccache_set && !ra->build_cmd &&
	    kb_path_find(ccache, sizeof(ccache), "ccache") == KB_OK)
		ra->ccache = "ccache";
	kb_error_clear(); /* no ccache is no error */
}

int cmd_bisect(int argc, char **argv)
{
	struct real_args ra = { .run_timeout = 60 };
	int prebuild = -2; /* -2: not given */
	int ccache_set = 0;
	kb_engine_opts eo = { 0 };
	const char *html = NULL, *logpath = NULL;
	const char *goods[16];
	int json = 0, simulate = 0, shape = KB_SIM_LINEAR, rc, n;
	unsigned commits = 1000;
	double q = 0.5;
	unsigned long long seed = 1;
	struct logger lg = { stderr };
	struct kb_opt_list gl = { goods, 0, 16 };
	struct ccache_choice cc = { NULL, 0 };
	const char *image = NULL;
	const struct kb_option options[] = {
		KB_OPT_STR(0, "repo", &ra.repo, "dir", "git repository of the kernel"),
		KB_OPT_STR(0, "bad", &ra.bad, "rev", "a commit that crashes"),
		KB_OPT_STRS(0, "good", &gl, "rev", "a commit without the crash (repeatable, up to "
			    "16)"),
		KB_OPT_BOOL(0, "find-good", &ra.find_good,
			    "walk back release tags below --bad to find a good one"),
		KB_OPT_STR(0, "config", &ra.config, "file", "base kernel config"),
		KB_OPT_STR(0, "repro", &ra.repro, "file", "reproducer (static binary or C file)"),
		KB_OPT_STR(0, "kernel-cmdline", &ra.cmdline, "str", "extra kernel command line"),
		KB_OPT_UNSIGNED(0, "workers", &eo.workers, 1, 64, "k",
				"commits built and tested per round (default 1)"),
		KB_OPT_UNSIGNED(0, "runs-per-test", &eo.runs_per_test, 1, KB_ENGINE_MAX_RUNS / 2,
				"n", "runs of the reproducer per test (default 10; more when the "
				"reproducer is flaky)"),
		KB_OPT_CALL(0, "confidence", &eo.confidence, "p",
			    "stop when one commit holds p (default 0.99)", set_confidence),
		KB_OPT_STR(0, "cache", &ra.cache_dir, "dir",
			   "cache directory (default $KBISECT_CACHE, ~/.cache/kbisect)"),
		KB_OPT_STR(0, "remote", &ra.remote, "url", "shared cache server (default "
			   "$KBISECT_REMOTE, config): builds and test results of every host; "
			   "ccache too"),
		KB_OPT_STR(0, "title", &eo.target_title, "title",
			   "title of the original crash (else learned on --bad)"),
		KB_OPT_BOOL(0, "any-crash", &eo.any_crash,
			    "any crash counts as the target (syzkaller's old rule)"),
		KB_OPT_UNSIGNED(0, "max-rounds", &eo.max_rounds, 1, 10000, "n",
				"budget in rounds (default 60)"),
		KB_OPT_BOOL(0, "json", &json, "print the result as JSON (culprit, probability, "
			    "candidates, flags, tested, seconds, ...)"),
		KB_OPT_STR(0, "html", &html, "file", "write a report with the timeline per worker "
			   "and the probability mass per round"),
		KB_OPT_STR(0, "log", &logpath, "file",
			   "write the bisection log there (default: stderr)"),
		KB_OPT_STR(0, "build-cmd", &ra.build_cmd, "cmd", "as in 'kbisect build'"),
		KB_OPT_STR(0, "image", &image, "path", "as in 'kbisect build'"),
		KB_OPT_STR(0, "work-dir", &ra.work_dir, "dir", "as in 'kbisect build'"),
		KB_OPT_UNSIGNED(0, "jobs", &ra.jobs, 1, 1024, "n", "as in 'kbisect build'"),
		KB_OPT_CALL(0, "ccache", &cc, "prog", "wrap the compiler with ccache (default: "
			    "ccache when it is installed and no --build-cmd is given; its files go "
			    "to <cache>/ccache unless $CCACHE_DIR is set)", set_ccache),
		KB_OPT_CALL(0, "no-ccache", &cc, NULL, "build without ccache", set_ccache),
		KB_OPT_STR(0, "accel", &ra.accel, "tcg|kvm|auto", "as in 'kbisect pool run'"),
		KB_OPT_UNSIGNED(0, "vms", &ra.vms, 1, 256, "n", "as in 'kbisect pool run'"),
		KB_OPT_NUMBER(0, "run-timeout", &ra.run_timeout, 0, 1e9, "s",
			      "as --timeout in 'kbisect pool run'"),
		KB_OPT_NUMBER(0, "boot-timeout", &ra.boot_timeout, 0, 86400, "s",
			      "as in 'kbisect pool run'"),
		KB_OPT_BOOL(0, "cold", &ra.cold, "as in 'kbisect pool run'"),
		KB_OPT_INTEGER(0, "prebuild", &prebuild, 0, 64, "n", "build up to n of the "
			       "likeliest next candidates while a round's tests run (default: <k> "
			       "on machines with 8 or more CPUs, in --simulate and with --executor "
			       "slurm, else 0: on a few "
			       "cores the builds only slow the VMs down); next candidates whose "
			       "kernel is at hand are pre-booted in any case"),
		KB_OPT_CALL(0, "executor", &ra.executor, "local|slurm", "where builds and tests "
			    "run: local (default: this host) or slurm (each build and test a Slurm "
			    "job; needs --remote; see docs/scale-out.md)", set_executor),
		KB_OPT_STR(0, "slurm-partition", &ra.slurm_partition, "p",
			   "--executor slurm: the partition of the jobs (default: the cluster's)"),
		KB_OPT_STR(0, "slurm-args", &ra.slurm_args, "opts", "--executor slurm: more sbatch "
			   "options for every job, e.g. \"--cpus-per-task=8 --mem=8G\""),
		KB_OPT_BOOL(0, "simulate", &simulate, "bisect a synthetic history with simulated "
			    "builds (7 min) and test rounds (9 min)"),
		KB_OPT_UNSIGNED(0, "commits", &commits, 2, KB_MODEL_MAX_NODES, "n",
				"--simulate: commits in the history (default 1000)"),
		KB_OPT_CALL(0, "shape", &shape, "linear|merges",
			    "--simulate: the shape of the history (default linear)", set_shape),
		KB_OPT_NUMBER(0, "q", &q, 0, 1, "rate",
			      "--simulate: rate of the crash on bad commits (default 0.5)"),
		KB_OPT_CALL(0, "seed", &seed, "n", "--simulate: random seed (default 1)", set_seed),
		KB_OPT_TABLE_END,
	};

	ra.goods = goods;
	if ((n = kb_options_parse(argc, argv, options, &bisect_doc, 0)) < 0)
		return kb_options_exit(n);
	if (n > 0)
		return kb_cli_usage_error(bisect_usage, "unexpected argument '%s'", argv[0]);
	ra.n_goods = gl.n;
	if (image)
		ra.image = image, ra.image_set = 1;
	if (cc.set)
		ra.ccache = cc.prog, ccache_set = 1;
	if ((ra.slurm_partition || ra.slurm_args) &&
	    !(ra.executor && !strcmp(ra.executor, "slurm")))
		return kb_cli_usage_error(bisect_usage, "--slurm-partition and --slurm-args need "
					  "--executor slurm");
	if (logpath) {
		lg.f = fopen(logpath, "a");
		if (!lg.f)
			return kb_cli_error("cannot open log '%s': %s", logpath, strerror(errno));
	}
	set_defaults(&ra, &eo, simulate, prebuild, ccache_set);
	if (simulate)
		rc = run_simulated(&eo, commits, shape, q, seed, json, html, &lg);
	else if (!ra.repo || !ra.bad || !ra.config || !ra.repro || (!ra.n_goods && !ra.find_good))
		rc = kb_cli_usage_error(bisect_usage, "need --repo, --bad, --good (or --find-good), "
					"--config and --repro (or --simulate)");
	else
		rc = run_real(&ra, &eo, json, html, &lg);
	if (logpath)
		fclose(lg.f);
	return rc;
}
