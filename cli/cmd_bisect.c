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
#include <getopt.h>
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
#include "cmd.h"

static const char *const bisect_usage[] = {
	"kbisect bisect --repo <dir> --bad <rev> (--good <rev>... | --find-good) --config <file>",
	"               --repro <file> [--kernel-cmdline <str>] [--workers <k>]",
	"               [--runs-per-test <n>] [--confidence <p>] [--cache <dir>] [--remote <url>]",
	"               [--title <crash title>] [--any-crash] [--max-rounds <n>] [--json]",
	"               [--html <file>] [--log <file>] [--build-cmd <cmd>] [--image <path>]",
	"               [--work-dir <dir>] [--jobs <n>] [--accel tcg|kvm|auto] [--vms <n>]",
	"               [--run-timeout <s>] [--boot-timeout <s>] [--prebuild <n>] [--cold]",
	"               [--ccache <prog> | --no-ccache]",
	"kbisect bisect --simulate [--commits <n>] [--shape linear|merges] [--q <rate>]",
	"               [--seed <n>] [--workers <k>] [--runs-per-test <n>] [--confidence <p>]",
	"               [--json] [--html <file>] [--log <file>]",
	NULL,
};

static void bisect_help(void)
{
	kb_cli_usage(stdout, bisect_usage);
	printf("\nFind the commit that introduced a crash, say how sure that is, and spend as\n"
	       "little build and test time as possible. Each round tests up to <k> commits\n"
	       "chosen for what they tell about the culprit per unit of time; one run of the\n"
	       "reproducer is a target crash, a clean run, or something that says nothing\n"
	       "(infra error such as SYZFAIL, other crash, boot failure).\n\n"
	       "    --repo <dir>          git repository of the kernel\n"
	       "    --bad <rev>           a commit that crashes\n"
	       "    --good <rev>          a commit without the crash (repeatable)\n"
	       "    --find-good           walk back release tags below --bad to find a good one\n"
	       "    --config <file>       base kernel config\n"
	       "    --repro <file>        reproducer (static binary or C file)\n"
	       "    --kernel-cmdline <s>  extra kernel command line\n"
	       "    --workers <k>         commits built and tested per round (default 1)\n"
	       "    --runs-per-test <n>   runs of the reproducer per test (default 10; more\n"
	       "                          when the reproducer is flaky)\n"
	       "    --confidence <p>      stop when one commit holds p (default 0.99)\n"
	       "    --cache <dir>         cache directory (default $KBISECT_CACHE, ~/.cache/kbisect)\n"
	       "    --remote <url>        shared cache server (default $KBISECT_REMOTE, config):\n"
	       "                          builds and test results of every host; ccache too\n"
	       "    --title <title>       title of the original crash (else learned on --bad)\n"
	       "    --any-crash           any crash counts as the target (syzkaller's old rule)\n"
	       "    --max-rounds <n>      budget in rounds (default 60)\n"
	       "    --json                print the result as JSON (culprit, probability,\n"
	       "                          candidates, flags, tested, seconds, ...)\n"
	       "    --html <file>         write a report with the timeline per worker and the\n"
	       "                          probability mass per round\n"
	       "    --log <file>          write the bisection log there (default: stderr)\n"
	       "    --build-cmd, --image, --work-dir, --jobs   as in 'kbisect build'\n"
	       "    --ccache <prog>       wrap the compiler with ccache (default: ccache when it\n"
	       "                          is installed and no --build-cmd is given; its files go\n"
	       "                          to <cache>/ccache unless $CCACHE_DIR is set)\n"
	       "    --no-ccache           build without ccache\n"
	       "    --accel, --vms, --run-timeout, --boot-timeout, --cold   as in 'kbisect pool "
	       "run'\n"
	       "    --prebuild <n>        build up to n of the likeliest next candidates while\n"
	       "                          a round's tests run (default: <k> on machines with 8\n"
	       "                          or more CPUs and in --simulate, else 0: on a few\n"
	       "                          cores the builds only slow the VMs down); next\n"
	       "                          candidates whose kernel is at hand are pre-booted\n"
	       "                          in any case\n"
	       "    --simulate            bisect a synthetic history (--commits, default 1000;\n"
	       "                          --shape; --q, default 0.5; --seed) with simulated\n"
	       "                          builds (7 min) and test rounds (9 min)\n\n"
	       "Ctrl-C stops after the current round; the same command resumes from the\n"
	       "cached builds and test results. Exit 0 when a culprit or a credible set was\n"
	       "found, 1 on error (including a reproducer that does not crash --bad), 129 on\n"
	       "usage errors.\n");
}

/* below this many CPUs, builds and TCG VMs share the cores: a speculative build only
 * slows the tests down, so --prebuild is off unless asked for */
#define PREBUILD_MIN_CPUS 8

static volatile sig_atomic_t interrupted;

/* 1 when prog is an executable in $PATH */
static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	while (path && *path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (n && access(buf, X_OK) == 0)
			return 1;
		path += n + (colon ? 1 : 0);
	}
	return 0;
}

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
};

/* ---- output ---- */

static void print_text(const kb_engine *e, const kb_model *m, const kb_gitdag *dag, FILE *f)
{
	kb_bisect_result r;
	char t1[32], t2[32], pt[16];

	kb_engine_result(e, &r);
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
		if (kb_engine_json(e, &s) != 0)
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
	kb_engine_result(e, &r);
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

	if (kb_sim_new(&s, &so) || kb_sim_model(s, &m, NULL)) {
		kb_sim_free(s);
		return kb_cli_die_error();
	}
	kb_sim_oracle(s, 1, &o);
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
			kb_engine_result(e, &r);
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
			      .log = log_line, .log_ctx = lg };

	if (access(a->repro, R_OK) != 0) /* before the cache is made: bad input, no trace */
		return kb_cli_error("cannot read reproducer: cannot open '%s': %s; give an existing "
				    "file with --repro", a->repro, strerror(errno));
	if (kb_cache_open(&cache, cache_dir, KB_CACHE_CREATE) != 0)
		return kb_cli_die_error();
	if (kb_cli_remote_open(&remote, a->remote) != KB_EXIT_OK)
		goto out;
	if (a->remote)
		oo.ccache_remote = kb_cli_remote_ccache(ccache_url, sizeof(ccache_url), a->remote);
	no_repro_hint = a->cold ? "" : "; the runs were clones of one saved boot per kernel "
				       "(each with fresh randomness): if the bug needs a fresh "
				       "boot, try --cold (each run boots, slower)";
	if (kb_oracle_open(&o, cache, remote, &oo) != 0 ||
	    (a->find_good && kb_oracle_find_good(o, eo, &found_good) != 0)) {
		rc = kb_cli_die_error();
		goto out;
	}
	{
		const char *goods1[1] = { found_good };
		if (kb_oracle_range(o, found_good ? goods1 : a->goods,
				    found_good ? 1 : a->n_goods) != 0 ||
		    kb_oracle_engine(o, eo, &e) != 0) {
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
	kb_remote_close(remote);
	kb_cache_close(cache);
	return rc;
}

/* the defaults that depend on the host: speculative builds and ccache (prebuild -2:
 * --prebuild not given) */
static void set_defaults(struct real_args *ra, kb_engine_opts *eo, int simulate, int prebuild,
			 int ccache_set)
{
	/* speculative builds: on by default where builds and VMs do not share a few cores
	 * (and always in the simulation, whose builds run on build servers) */
	if (simulate) { /* the simulator builds what the engine hands it */
		eo->prefetch = prebuild == -2 ? 0 : prebuild == 0 ? -1 : prebuild;
	} else {
		unsigned k = eo->workers ? eo->workers : 1;
		ra->prebuild = prebuild != -2 ? (unsigned)prebuild :
			      sysconf(_SC_NPROCESSORS_ONLN) >= PREBUILD_MIN_CPUS ? k : 0;
		/* next candidates handed over each round: pre-booted when their kernel is at
		 * hand, built (up to --prebuild) when not */
		eo->prefetch = (int)(ra->prebuild > k ? ra->prebuild : k);
	}
	/* ccache on kernel builds when it is installed: going back across a header that
	 * most files include then costs cache hits, not a full rebuild */
	if (!ccache_set && !ra->build_cmd && on_path("ccache"))
		ra->ccache = "ccache";
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;
	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int cmd_bisect(int argc, char **argv)
{
	enum { O_REPO = 256, O_GOOD, O_BAD, O_CONFIG, O_REPRO, O_CMDLINE, O_WORKERS, O_RUNS,
	       O_CONF, O_CACHE, O_REMOTE, O_JSON, O_HTML, O_SIM, O_COMMITS, O_SHAPE, O_Q,
	       O_SEED, O_TITLE, O_ANY, O_ROUNDS, O_LOG, O_BUILDCMD, O_IMAGE, O_WORKDIR,
	       O_JOBS, O_ACCEL, O_VMS, O_RTIMEOUT, O_FINDGOOD, O_PREBUILD, O_BTIMEOUT,
	       O_CCACHE, O_NOCCACHE, O_COLD };
	static const struct option lo[] = {
		{ "repo", required_argument, NULL, O_REPO },
		{ "good", required_argument, NULL, O_GOOD },
		{ "bad", required_argument, NULL, O_BAD },
		{ "find-good", no_argument, NULL, O_FINDGOOD },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "repro", required_argument, NULL, O_REPRO },
		{ "kernel-cmdline", required_argument, NULL, O_CMDLINE },
		{ "workers", required_argument, NULL, O_WORKERS },
		{ "runs-per-test", required_argument, NULL, O_RUNS },
		{ "confidence", required_argument, NULL, O_CONF },
		{ "cache", required_argument, NULL, O_CACHE },
		{ "remote", required_argument, NULL, O_REMOTE },
		{ "json", no_argument, NULL, O_JSON },
		{ "html", required_argument, NULL, O_HTML },
		{ "simulate", no_argument, NULL, O_SIM },
		{ "commits", required_argument, NULL, O_COMMITS },
		{ "shape", required_argument, NULL, O_SHAPE },
		{ "q", required_argument, NULL, O_Q },
		{ "seed", required_argument, NULL, O_SEED },
		{ "title", required_argument, NULL, O_TITLE },
		{ "any-crash", no_argument, NULL, O_ANY },
		{ "max-rounds", required_argument, NULL, O_ROUNDS },
		{ "log", required_argument, NULL, O_LOG },
		{ "build-cmd", required_argument, NULL, O_BUILDCMD },
		{ "image", required_argument, NULL, O_IMAGE },
		{ "work-dir", required_argument, NULL, O_WORKDIR },
		{ "jobs", required_argument, NULL, O_JOBS },
		{ "accel", required_argument, NULL, O_ACCEL },
		{ "vms", required_argument, NULL, O_VMS },
		{ "run-timeout", required_argument, NULL, O_RTIMEOUT },
		{ "prebuild", required_argument, NULL, O_PREBUILD },
		{ "boot-timeout", required_argument, NULL, O_BTIMEOUT },
		{ "ccache", required_argument, NULL, O_CCACHE },
		{ "no-ccache", no_argument, NULL, O_NOCCACHE },
		{ "cold", no_argument, NULL, O_COLD },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct real_args ra = { .run_timeout = 60 };
	int prebuild = -2; /* -2: not given */
	int ccache_set = 0;
	kb_engine_opts eo = { 0 };
	const char *html = NULL, *logpath = NULL;
	const char *goods[16];
	int json = 0, simulate = 0, shape = KB_SIM_LINEAR, c, rc;
	unsigned commits = 1000;
	double q = 0.5;
	unsigned long long seed = 1;
	struct logger lg = { stderr };
	char *end;

	ra.goods = goods;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_REPO: ra.repo = optarg; break;
		case O_GOOD:
			if (ra.n_goods == 16)
				return kb_cli_usage_error(bisect_usage, "at most 16 --good commits");
			goods[ra.n_goods++] = optarg;
			break;
		case O_BAD: ra.bad = optarg; break;
		case O_FINDGOOD: ra.find_good = 1; break;
		case O_CONFIG: ra.config = optarg; break;
		case O_REPRO: ra.repro = optarg; break;
		case O_CMDLINE: ra.cmdline = optarg; break;
		case O_WORKERS:
			if (parse_uint(optarg, 1, 64, &eo.workers))
				return kb_cli_usage_error(bisect_usage, "bad --workers '%s'; give 1..64", optarg);
			break;
		case O_RUNS:
			if (parse_uint(optarg, 1, KB_ENGINE_MAX_RUNS / 2, &eo.runs_per_test))
				return kb_cli_usage_error(bisect_usage, "bad --runs-per-test '%s'; give 1..%d",
							  optarg, KB_ENGINE_MAX_RUNS / 2);
			break;
		case O_CONF:
			eo.confidence = strtod(optarg, &end);
			if (*end || !*optarg || !(eo.confidence > 0 && eo.confidence < 1))
				return kb_cli_usage_error(bisect_usage, "bad --confidence '%s'; give a "
							  "probability such as 0.99", optarg);
			break;
		case O_CACHE: ra.cache_dir = optarg; break;
		case O_REMOTE: ra.remote = optarg; break;
		case O_JSON: json = 1; break;
		case O_HTML: html = optarg; break;
		case O_SIM: simulate = 1; break;
		case O_COMMITS:
			if (parse_uint(optarg, 2, KB_MODEL_MAX_NODES, &commits))
				return kb_cli_usage_error(bisect_usage, "bad --commits '%s'; give 2..%d",
							  optarg, KB_MODEL_MAX_NODES);
			break;
		case O_SHAPE:
			if (!strcmp(optarg, "linear"))
				shape = KB_SIM_LINEAR;
			else if (!strcmp(optarg, "merges"))
				shape = KB_SIM_MERGES;
			else
				return kb_cli_usage_error(bisect_usage, "bad --shape '%s'; give linear "
							  "or merges", optarg);
			break;
		case O_Q:
			q = strtod(optarg, &end);
			if (*end || !*optarg || !(q > 0 && q <= 1))
				return kb_cli_usage_error(bisect_usage, "bad --q '%s'; give a rate in "
							  "(0,1]", optarg);
			break;
		case O_SEED:
			seed = strtoull(optarg, &end, 10);
			if (*end || !*optarg)
				return kb_cli_usage_error(bisect_usage, "bad --seed '%s'", optarg);
			break;
		case O_TITLE: eo.target_title = optarg; break;
		case O_ANY: eo.any_crash = 1; break;
		case O_ROUNDS:
			if (parse_uint(optarg, 1, 10000, &eo.max_rounds))
				return kb_cli_usage_error(bisect_usage, "bad --max-rounds '%s'", optarg);
			break;
		case O_LOG: logpath = optarg; break;
		case O_BUILDCMD: ra.build_cmd = optarg; break;
		case O_IMAGE: ra.image = optarg, ra.image_set = 1; break;
		case O_WORKDIR: ra.work_dir = optarg; break;
		case O_JOBS:
			if (parse_uint(optarg, 1, 1024, &ra.jobs))
				return kb_cli_usage_error(bisect_usage, "bad --jobs '%s'", optarg);
			break;
		case O_ACCEL: ra.accel = optarg; break;
		case O_COLD: ra.cold = 1; break;
		case O_VMS:
			if (parse_uint(optarg, 1, 256, &ra.vms))
				return kb_cli_usage_error(bisect_usage, "bad --vms '%s'", optarg);
			break;
		case O_RTIMEOUT:
			ra.run_timeout = strtod(optarg, &end);
			if (*end || !*optarg || !(ra.run_timeout > 0))
				return kb_cli_usage_error(bisect_usage, "bad --run-timeout '%s'", optarg);
			break;
		case O_BTIMEOUT:
			ra.boot_timeout = strtod(optarg, &end);
			if (*end || !*optarg || !(ra.boot_timeout > 0) || ra.boot_timeout > 86400)
				return kb_cli_usage_error(bisect_usage, "bad --boot-timeout '%s'; give "
							  "seconds in (0, 86400]", optarg);
			break;
		case O_PREBUILD: {
			unsigned v;
			if (parse_uint(optarg, 0, 64, &v))
				return kb_cli_usage_error(bisect_usage, "bad --prebuild '%s'; give 0..64",
							  optarg);
			prebuild = (int)v;
			break;
		}
		case O_CCACHE: ra.ccache = optarg, ccache_set = 1; break;
		case O_NOCCACHE: ra.ccache = NULL, ccache_set = 1; break;
		case 'h':
			bisect_help();
			return KB_EXIT_OK;
		default:
			return kb_cli_usage_error(bisect_usage, "unknown option '%s'; see 'kbisect "
						  "bisect --help'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return kb_cli_usage_error(bisect_usage, "unexpected argument '%s'", argv[optind]);
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
