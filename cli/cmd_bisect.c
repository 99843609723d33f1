/*
 * cli/cmd_bisect.c - `kbisect bisect`: find the first bad commit with the engine
 * (kbisect/engine.h) and the real oracle (kbisect/oracle.h: builds through the builder,
 * tests through the VM pool, results in the cache, so an interrupted bisection re-run
 * with the same command resumes without repeating work). `--simulate` runs the engine
 * on a synthetic history instead (no repository, no VMs).
 * Owns: the command's options, git's forms of a range (`G..B`, `B ^G`, `B G...`, `--skip`,
 * `-- <pathspec>`, the repository of the current directory), Ctrl-C (the first stops
 * after the running builds and tests, the second aborts at once), the text/JSON output
 * and exit codes. Not: the oracle (bisect/oracle*.c), the engine's reports
 * (bisect/engine_*.c), the log's sink and progress line (cli/bisect_progress.c).
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
#include "bisect_progress.h"
#include "cmd.h"
#include "options.h"

/* exit code: no single culprit, only a credible set (or evidence of none in the range) */
#define BISECT_EXIT_SET 2
/* exit code: interrupted (Ctrl-C), as a shell reports SIGINT */
#define BISECT_EXIT_INTERRUPTED 130
/* most --good, --skip and pathspec entries */
#define MAX_GOODS 64
#define MAX_SKIPS 256

static const char *const bisect_usage[] = {
	"kbisect bisect [--repo <dir>] --bad <rev> (--good <rev>... | --find-good)",
	"               --config <file> --repro <file> [--skip <rev|range>]...",
	"               [--kernel-cmdline <str>] [--workers <k>]",
	"               [--runs-per-test <n>] [--confidence <p>] [--cache <dir>] [--remote <url>]",
	"               [--title <crash title>] [--any-crash] [--max-rounds <n>] [--json]",
	"               [--html <file> [--commit-url <pattern>]] [--log <file>]",
	"               [--build-cmd <cmd>] [--image <path>] [--retry-failed]",
	"               [--work-dir <dir>] [--jobs <n>] [--accel tcg|kvm|auto] [--vms <n>]",
	"               [--run-timeout <s>] [--boot-timeout <s>] [--prebuild <n>] [--cold]",
	"               [--ccache <prog> | --no-ccache] [--progress <s>]",
	"               [--minimize-config --baseline <file>] [-- <pathspec>...]",
	"               [--executor local|slurm] [--slurm-partition <p>] [--slurm-args <opts>]",
	"kbisect bisect [options] <good>..<bad> | <bad> ^<good>... | <bad> <good>...",
	"               [-- <pathspec>...]",
	"kbisect bisect --fix --repo <dir> --crashing <rev> (--fixed <rev> | --find-fixed)",
	"               --config <file> --repro <file> [the options above]",
	"kbisect bisect --simulate [--fix [--partial-q <rate>]] [--commits <n>]",
	"               [--shape linear|merges] [--q <rate>]",
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
	"(infra error such as SYZFAIL, other crash, boot failure).\n"
	"The range is given as git bisect takes it: --bad B --good G (repeatable), or\n"
	"G..B, B ^G or B G as arguments; --repo defaults to the repository of the\n"
	"current directory. After --, a pathspec: commits that touch none of its paths\n"
	"are left out, as git bisect does. --skip leaves out a commit or a range.",
	"Ctrl-C stops after the running builds and tests; a second Ctrl-C aborts at\n"
	"once (builds and VMs killed). Either way the same command resumes from the\n"
	"cached builds and test results.\n"
	"Exit codes: 0 a culprit was named; 2 no single culprit: only a credible set (or\n"
	"evidence of no culprit in the range); 1 error (including a reproducer that does\n"
	"not crash --bad); 129 usage error; 130 interrupted (Ctrl-C).\n"
	"With --fix: the first commit on the way from --crashing to --fixed whose\n"
	"kernel no longer crashes (the fix); a --crashing that does not crash or a\n"
	"--fixed that still does is an error (exit 1).",
};

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
/* outside the engine's rounds (--minimize-config, --find-good, --find-fixed, the range):
 * nothing checks `interrupted` there, so the first Ctrl-C aborts at once */
static volatile sig_atomic_t abort_at_once;

/* The first Ctrl-C: said at once, the bisection stops after the running round. The
 * second: the builds' process groups get SIGTERM (make removes what it was writing),
 * the VMs die with this process (their parent-death signal), the Slurm jobs in flight
 * (--executor slurm) are scancel'ed, exit at once. The cache
 * is LMDB (a write not committed is not there) and files enter it by rename, the
 * journal by whole lines: a resumed run finds nothing half written. */
static void on_sigint(int sig)
{
	static const char first[] = "\nkbisect: stopping after the running builds and tests; "
				    "Ctrl-C again to abort now\n";
	static const char again[] = "\nkbisect: aborted; builds and VMs killed; run the same "
				    "command again to resume\n";
	static const char jobs[] = "kbisect: the Slurm jobs in flight cancelled (scancel)\n";
	(void)sig;
	if (!interrupted && !abort_at_once) {
		interrupted = 1;
		if (write(STDERR_FILENO, first, sizeof(first) - 1) < 0)
			return;
		return;
	}
	kb_spawn_signal_all(SIGTERM);
	if (write(STDERR_FILENO, again, sizeof(again) - 1) < 0)
		_exit(BISECT_EXIT_INTERRUPTED);
	if (kb_oracle_abort_jobs() > 0 && /* --executor slurm: the jobs in flight too */
	    write(STDERR_FILENO, jobs, sizeof(jobs) - 1) < 0)
		_exit(BISECT_EXIT_INTERRUPTED);
	_exit(BISECT_EXIT_INTERRUPTED);
}

struct logger {
	FILE *f;
	struct kb_progress *p;
};

static void log_line(void *ctx, const char *line)
{
	struct logger *l = ctx;
	if (l->p) {
		kb_progress_log(l->p, line);
		return;
	}
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
	const char **skips;    /* --skip: revisions and ranges */
	size_t n_skips;
	const char **paths;    /* the pathspec after -- */
	size_t n_paths;
	int find_good, image_set;
	unsigned jobs, vms;
	double run_timeout;
	unsigned prebuild; /* speculative builds per round */
	double boot_timeout; /* kernel boot to agent ready (0: the pool's default) */
	int cold;            /* boot a fresh VM for every run (no snapshot clones) */
	int retry_failed;    /* --retry-failed: build recorded build failures again */
	int minimize_config; /* --minimize-config: minimize --config on --bad first */
	const char *baseline; /* its SMALL (--baseline) */
	const char *executor; /* --executor local|slurm */
	const char *slurm_partition, *slurm_args;
};

/* ---- output ---- */

/* fix bisection (issue 22): the result is a fix; the release tag naming it, if any */
static int out_fix;
static char *out_release;

static void print_text(const kb_engine *e, const kb_model *m, const kb_gitdag *dag, FILE *f)
{
	kb_bisect_result r;
	char t1[32], t2[32], pt[16];

	kb_engine_result(&r, e);
	(void)dag;
	if (r.culprit != KB_MODEL_NONE) {
		const char *subject, *author, *date;
		kb_engine_node_info(e, r.culprit, &subject, &author, &date);
		fprintf(f, "%s: %s (probability %s)\n", out_fix ? "fix" : "culprit",
			kb_engine_node_name(e, r.culprit),
			kb_engine_prob_text(r.probability, pt, sizeof(pt)));
		if (subject)
			fprintf(f, "    %s\n", subject);
		if (author)
			fprintf(f, "    Author: %s\n", author);
		if (date)
			fprintf(f, "    Date:   %s\n", date);
	} else if (r.stop == KB_STOP_NO_REPRO) {
		fprintf(f, "the reproducer did not crash the %s commit\n",
			out_fix ? "crashing" : "bad");
	} else {
		fprintf(f, "no single %s (%s); these %zu commits hold %.4f:\n",
			out_fix ? "fix" : "culprit", kb_engine_stop_name(r.stop), r.n_set,
			r.probability);
		for (size_t i = 0; i < r.n_set && i < 50; i++) {
			const char *subject = NULL;
			if (r.set[i] != KB_MODEL_NONE)
				kb_engine_node_info(e, r.set[i], &subject, NULL, NULL);
			fprintf(f, "    %s %.4f%s%.60s\n",
				r.set[i] == KB_MODEL_NONE ? (out_fix ? "(no fix in range)" :
							     "(no culprit in range)")
				: kb_engine_node_name(e, r.set[i]),
				kb_model_posterior(m, r.set[i]), subject ? "  " : "",
				subject ? subject : "");
		}
	}
	if (r.flags || out_release) {
		fprintf(f, "flags:");
		if (out_release)
			fprintf(f, " release (%s)", out_release);
		if (r.flags & KB_FLAG_UNTESTABLE_AFTER)
			fprintf(f, " untestable_after");
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
/* --commit-url (or commit-url in the config file): commit links of the HTML report */
static const char *commit_url;

static int finish(kb_engine *e, kb_model *m, const kb_gitdag *dag, int json, const char *html,
		  long preboots)
{
	kb_bisect_result r;

	if (html && (kb_engine_set_commit_url(e, commit_url) != 0 ||
		     kb_engine_set_release(e, out_release) != 0 || kb_engine_html(e, html) != 0))
		return kb_cli_die_error();
	if (json) {
		char *s = NULL;
		if (kb_engine_json(&s, e) != 0)
			return kb_cli_die_error();
		json_t *o = preboots >= 0 ? json_loads(s, 0, NULL) : NULL;
		if (o && out_release) { /* fix mode: the fix is a release */
			json_array_append_new(json_object_get(o, "flags"), json_string("release"));
			json_object_set_new(o, "release", json_string(out_release));
		}
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
	return r.culprit != KB_MODEL_NONE ? KB_EXIT_OK : BISECT_EXIT_SET;
}

static int drive(kb_engine *e, struct logger *lg)
{
	struct sigaction sa = { 0 }, old;
	int done = 0, rc = 0;

	sa.sa_handler = on_sigint;
	sa.sa_flags = SA_RESTART; /* builds and runs of the current round go on */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	abort_at_once = 0;
	while (!done && !interrupted) {
		rc = kb_engine_step(e, &done);
		if (rc)
			break;
	}
	abort_at_once = 1;
	sigaction(SIGINT, &old, NULL);
	kb_progress_finish(lg->p); /* the result comes next, on a clean line */
	if (rc)
		return kb_cli_die_error();
	if (interrupted && !done) {
		log_line(lg, "interrupted (Ctrl-C): stopped after the running builds and tests");
		kb_cli_error("interrupted; run the same command again to resume from the "
			     "cached builds and test results");
		return BISECT_EXIT_INTERRUPTED;
	}
	return KB_EXIT_OK;
}

/* ---- modes ---- */

/* --simulate --fix (issue 22): fix mode of the simulator; --partial-q its partial fix */
static double sim_partial_q;

static int run_simulated(const kb_engine_opts *eo, size_t commits, int shape, double q,
			 unsigned long long seed, int json, const char *html, struct logger *lg)
{
	kb_sim *s = NULL;
	kb_sim_opts so = { .n = commits, .shape = shape, .q = q, .seed = seed, .fix = eo->fix,
			   .partial_q = eo->fix ? sim_partial_q : 0 };
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
	opt.bad = eo->fix ? 0 : kb_sim_size(s) - 1;
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
	rc = drive(e, lg);
	if (rc == KB_EXIT_OK) {
		char line[64];
		snprintf(line, sizeof(line), "simulated %s: c%05zu", eo->fix ? "fix" : "culprit",
			 kb_sim_culprit(s));
		log_line(lg, line);
		if (kb_sim_partial(s) != KB_MODEL_NONE) {
			snprintf(line, sizeof(line), "simulated partial fix: c%05zu",
				 kb_sim_partial(s));
			log_line(lg, line);
		}
		rc = finish(e, m, NULL, json, html, -1);
		if (!json && rc != KB_EXIT_ERROR) {
			kb_bisect_result r;
			kb_engine_result(&r, e);
			printf("simulated %s: c%05zu (%s)\n", eo->fix ? "fix" : "culprit",
			       kb_sim_culprit(s),
			       r.culprit == kb_sim_culprit(s) ? "found" : "not found");
		}
	}
	kb_engine_free(e);
	kb_model_free(m);
	kb_sim_free(s);
	return rc;
}


/* --skip and the pathspec, as text for the journal's key ("" when neither) */
static void journal_extra(char *buf, size_t len, const struct real_args *a)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < a->n_skips && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "skip %s\n", a->skips[i]);
	for (size_t i = 0; i < a->n_paths && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "path %s\n", a->paths[i]);
	if (a->retry_failed && off < len) /* a journal would replay the recorded failures */
		snprintf(buf + off, len - off, "retry-failed\n");
}

/* one --skip: a revision or a range G..B of the repository; its commits in the range
 * are never tested, but for the ends the bisection must test (bad: --bad or --crashing;
 * with --fix the fixed commit too), which a range leaves in. Returns how many were, or
 * -1 with the error set. */
static long skip_spec(kb_engine *e, const kb_gitdag *dag, const char *repo, const char *spec,
		      size_t bad)
{
	const char *dots = strstr(spec, "..");
	long n = 0;

	if (dots) {
		char good[512];
		const char *goods[1] = { good };
		kb_gitdag *sd = NULL;
		snprintf(good, sizeof(good), "%.*s", (int)(dots - spec), spec);
		if (kb_gitdag_open(&sd, repo, dots[2] ? dots + 2 : "HEAD", goods, 1) != 0)
			return -1;
		for (size_t i = 0; i < kb_gitdag_size(sd); i++) {
			size_t k = kb_gitdag_index(dag, kb_gitdag_id(sd, i));
			if (k == bad || (out_fix && k + 1 == kb_gitdag_size(dag)))
				continue;
			if (k != SIZE_MAX && !kb_engine_is_skipped(e, k)) {
				if (kb_engine_skip_node(e, k) != 0)
					break;
				n++;
			}
		}
		kb_gitdag_free(sd);
		return kb_error_last()->code ? -1 : n;
	} else {
		char hex[41];
		size_t k;
		if (kb_gitdag_resolve(repo, spec, hex) != 0)
			return -1;
		k = kb_gitdag_index(dag, hex);
		if (k == SIZE_MAX || kb_engine_is_skipped(e, k))
			return 0;
		return kb_engine_skip_node(e, k) == 0 ? 1 : -1;
	}
}

/* the repository's words for each commit, --skip and the pathspec, into the engine;
 * bad (the commit calibrated on: --bad, or --crashing with --fix) and the last node
 * stay in whatever paths they touch */
static int prepare_engine(kb_engine *e, kb_oracle *o, const struct real_args *a,
			  struct logger *lg, size_t bad)
{
	const kb_gitdag *dag = kb_oracle_dag(o);
	size_t n = kb_gitdag_size(dag);
	char line[600];

	for (size_t i = 0; i < n; i++)
		if (kb_engine_set_node_info(e, i, kb_gitdag_summary(dag, i), kb_gitdag_author(dag, i),
					    kb_gitdag_date(dag, i)) != 0)
			return -1;
	kb_error_clear();
	for (size_t i = 0; i < a->n_skips; i++) {
		long k = skip_spec(e, dag, a->repo, a->skips[i], bad);
		if (k < 0)
			return -1;
		snprintf(line, sizeof(line), "--skip %.200s: %ld commit%s of the range left out", a->skips[i],
			 k, k == 1 ? "" : "s");
		log_line(lg, line);
	}
	if (a->n_paths) {
		uint8_t *touch = calloc(n, 1);
		size_t out = 0;
		if (!touch)
			return -1;
		if (kb_gitdag_touches(touch, dag, a->repo, a->paths, a->n_paths) != 0) {
			free(touch);
			return -1;
		}
		/* as git bisect -- <paths>: the others are not candidates, and not tested */
		for (size_t i = 0; i + 1 < n; i++)
			if (!touch[i] && i != bad && !kb_engine_is_skipped(e, i)) {
				if (kb_model_set_weight(kb_oracle_model(o), i, 0) != 0 ||
				    kb_engine_skip_node(e, i) != 0) {
					free(touch);
					return -1;
				}
				out++;
			}
		free(touch);
		snprintf(line, sizeof(line), "pathspec: %zu of %zu commits left out: they touch "
			 "none of its paths", out, n);
		log_line(lg, line);
	}
	return 0;
}

/* what a real bisection and a real fix bisection open before the oracle: the cache and
 * its remote tier, the oracle's options from the arguments (bad: the oracle's end of
 * the walk), and with --minimize-config the minimized config (on min_rev) */
struct real_setup {
	kb_cache *cache;
	kb_remote *remote;
	kb_oracle_opts oo;
	char ccache_url[4200], extra[8192], minimized[4400];
};

/* fill *s (zeroed by the caller); KB_EXIT_OK, or an exit code with the error printed
 * (real_teardown() still frees what was opened) */
static int real_setup(struct real_setup *s, const struct real_args *a, const kb_engine_opts *eo,
		      const char *bad, const char *min_rev, struct logger *lg)
{
	const char *cache_dir = kb_cli_cache_dir(a->cache_dir);
	kb_oracle_opts oo = { .repo = a->repo, .bad = bad, .config = a->config,
			      .repro = a->repro, .cmdline = a->cmdline, .cache_dir = cache_dir,
			      .build_cmd = a->build_cmd, .image = a->image_set ? a->image : NULL,
			      .work_dir = a->work_dir, .ccache = a->ccache, .accel = a->accel,
			      .workers = eo->workers, .jobs = a->jobs, .vms = a->vms,
			      .prebuild = a->prebuild, .run_timeout = a->run_timeout,
			      .boot_timeout = a->boot_timeout, .cold = a->cold,
			      .retry_failed = a->retry_failed,
			      .journal_extra = s->extra,
			      .executor = a->executor, .slurm_partition = a->slurm_partition,
			      .slurm_args = a->slurm_args,
			      .log = log_line, .log_ctx = lg };

	s->oo = oo;
	journal_extra(s->extra, sizeof(s->extra), a);
	if (access(a->repro, R_OK) != 0) /* before the cache is made: bad input, no trace */
		return kb_cli_error("cannot read reproducer: cannot open '%s': %s; give an existing "
				    "file with --repro", a->repro, strerror(errno));
	if (kb_cache_open(&s->cache, cache_dir, KB_CACHE_CREATE) != 0)
		return kb_cli_die_error();
	if (kb_cli_remote_open(&s->remote, a->remote) != KB_EXIT_OK)
		return KB_EXIT_ERROR;
	kb_cache_set_remote(s->cache, s->remote); /* the second tier (NULL: local only) */
	s->oo.remote_url = s->remote ? kb_remote_url(s->remote) : NULL; /* slurm's data plane */
	if (a->remote)
		s->oo.ccache_remote = kb_cli_remote_ccache(s->ccache_url, sizeof(s->ccache_url),
							   a->remote);
	if (a->minimize_config && a->executor && !strcmp(a->executor, "slurm"))
		log_line(lg, "--minimize-config with --executor slurm: the minimization's builds "
			     "and tests run on this host (its cores, QEMU here), not as Slurm jobs; "
			     "the bisection after it, --find-good and --find-fixed do (see "
			     "docs/scale-out.md, \"Limits\")");
	if (a->minimize_config) { /* then bisect with the minimized config */
		struct kb_minimize_cli_args ma = { .rev = min_rev, .baseline = a->baseline,
						   .title = eo->target_title,
						   .any_crash = eo->any_crash };
		if (kb_cli_minimize_config(s->minimized, sizeof(s->minimized), s->cache, s->remote,
					   &s->oo, &ma) != KB_EXIT_OK)
			return KB_EXIT_ERROR;
		s->oo.config = s->minimized;
	}
	return KB_EXIT_OK;
}

/* close what real_setup() opened */
static void real_teardown(struct real_setup *s)
{
	kb_cli_remote_done(s->remote);
	kb_cache_free(s->cache);
	kb_remote_free(s->remote);
}

/* the real bisection: the oracle on the builder and the pool, the engine driven here */
static int run_real(const struct real_args *a, kb_engine_opts *eo, int json, const char *html,
		    struct logger *lg)
{
	struct real_setup st = { 0 };
	kb_oracle *o = NULL;
	kb_engine *e = NULL;
	char *found_good = NULL;
	int rc = real_setup(&st, a, eo, a->bad, a->bad, lg);

	if (rc != KB_EXIT_OK)
		goto out;
	rc = KB_EXIT_ERROR;
	no_repro_hint = a->cold ? "" : "; the runs were clones of one saved boot per kernel "
				       "(each with fresh randomness): if the bug needs a fresh "
				       "boot, try --cold (each run boots, slower)";
	if (kb_oracle_open(&o, st.cache, st.remote, &st.oo) != 0 ||
	    (a->find_good && kb_oracle_find_good(&found_good, o, eo) != 0)) {
		rc = kb_cli_die_error();
		goto out;
	}
	{
		const char *goods1[1] = { found_good };
		if (kb_oracle_range(o, found_good ? goods1 : a->goods,
				    found_good ? 1 : a->n_goods) != 0 ||
		    kb_oracle_engine(&e, o, eo) != 0 || prepare_engine(e, o, a, lg, eo->bad) != 0) {
			rc = kb_cli_die_error();
			goto out;
		}
	}
	rc = drive(e, lg);
	if (rc == KB_EXIT_OK)
		rc = finish(e, kb_oracle_model(o), kb_oracle_dag(o), json, html,
			    (long)kb_oracle_preboots(o));
out:
	kb_engine_free(e);
	kb_oracle_free(o);
	free(found_good);
	real_teardown(&st);
	return rc;
}

/* ---- fix bisection (issue 22) ---- */

struct fix_args {
	const char *crashing, *fixed;
	int find_fixed;
};

/* the real fix bisection: range from --crashing (a node, calibrated on) to --fixed
 * (checked clean by the engine), the same oracle and engine in fix mode; bad input
 * (a --crashing that does not crash, a --fixed that still does) exits 1 and drops the
 * stopped bisection's journal */
static int run_real_fix(const struct real_args *a, const struct fix_args *fx,
			kb_engine_opts *eo, int json, const char *html, struct logger *lg)
{
	struct real_setup st = { 0 };
	kb_oracle *o = NULL;
	kb_engine *e = NULL;
	char *found = NULL;
	size_t crash_node = 0;
	kb_bisect_result r;
	int rc = real_setup(&st, a, eo, fx->fixed ? fx->fixed : fx->crashing, fx->crashing, lg);

	if (rc != KB_EXIT_OK)
		goto out;
	rc = KB_EXIT_ERROR;
	if (kb_oracle_open(&o, st.cache, st.remote, &st.oo) != 0 ||
	    (fx->find_fixed && kb_oracle_find_fixed(&found, o, eo, fx->crashing) != 0) ||
	    kb_oracle_fix_range(o, fx->crashing, &crash_node) != 0) {
		rc = kb_cli_die_error();
		goto out;
	}
	eo->fix = 1;
	eo->bad = crash_node;
	if (kb_oracle_engine(&e, o, eo) != 0) {
		rc = kb_cli_die_error();
		goto out;
	}
	if (prepare_engine(e, o, a, lg, crash_node) != 0) {
		rc = kb_cli_die_error();
		goto out;
	}
	rc = drive(e, lg);
	kb_engine_result(&r, e);
	if (rc != KB_EXIT_OK) { /* a --fixed that still crashes or does not build */
		if (r.stop == KB_STOP_NONE || r.stop == KB_STOP_NO_REPRO)
			kb_oracle_forget_journal(o);
		goto out;
	}
	if (r.stop == KB_STOP_NO_REPRO) {
		kb_oracle_forget_journal(o);
		rc = kb_cli_error("the crashing commit %s did not crash: the reproducer showed no "
				  "target crash in %u rounds of runs (see the calibration lines of the "
				  "log); give a --crashing that crashes, or check the reproducer, "
				  "--kernel-cmdline, --config and --title",
				  kb_gitdag_id(kb_oracle_dag(o), crash_node), r.rounds);
		goto out;
	}
	if (r.culprit != KB_MODEL_NONE &&
	    kb_gitdag_release_at(&out_release, a->repo,
				 kb_gitdag_id(kb_oracle_dag(o), r.culprit)) != 0)
		kb_error_clear(); /* no tag is no error */
	if (r.culprit != KB_MODEL_NONE) { /* what a user asks next, in the log too */
		char what[512] = "";
		if (r.flags & KB_FLAG_MERGE)
			strcat(what, " a merge;");
		if (out_release)
			snprintf(what + strlen(what), sizeof(what) - strlen(what), " release %.64s;",
				 out_release);
		if (r.flags & KB_FLAG_OUTSIDE_BUILD)
			strcat(what, " touches no build input (its kernel is its parent's: suspect "
				     "flaky evidence);");
		if (r.flags & KB_FLAG_UNTESTABLE_AFTER)
			strcat(what, " nothing from it on could be tested;");
		fprintf(lg->f, "fix %s:%s\n", kb_gitdag_id(kb_oracle_dag(o), r.culprit),
			what[0] ? what : " an ordinary commit (no merge, no release, changes the "
					 "kernel)");
	}
	out_fix = 1;
	rc = finish(e, kb_oracle_model(o), kb_oracle_dag(o), json, html,
		    (long)kb_oracle_preboots(o));
out:
	kb_engine_free(e);
	kb_oracle_free(o);
	free(found);
	free(out_release);
	out_release = NULL;
	real_teardown(&st);
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

/* git's forms of a range among the arguments args[0..n-1]: "G..B" (B empty: HEAD),
 * "^G", and plain revisions (the first is bad unless --bad was given, the others good).
 * KB_EXIT_OK or a usage error. */
static int range_args(struct real_args *ra, struct kb_opt_list *gl, char **args, int n)
{
	for (int i = 0; i < n; i++) {
		const char *a = args[i], *dots = strstr(a, "..");
		const char *good = NULL;
		if (dots && dots[2] == '.')
			return kb_cli_usage_error(bisect_usage, "'%s': a symmetric difference (A...B) "
						  "is no range to bisect; give G..B", a);
		if (dots) {
			static char goodbuf[MAX_GOODS][256];
			if (ra->bad)
				return kb_cli_usage_error(bisect_usage, "'%s': the bad commit was already "
							  "given (%s)", a, ra->bad);
			ra->bad = dots[2] ? dots + 2 : "HEAD";
			if (gl->n < MAX_GOODS)
				snprintf(goodbuf[gl->n], sizeof(goodbuf[0]), "%.*s", (int)(dots - a), a);
			good = goodbuf[gl->n < MAX_GOODS ? gl->n : 0];
			if (!*good)
				return kb_cli_usage_error(bisect_usage, "'%s': give the good commit "
							  "before '..'", a);
		} else if (a[0] == '^' && a[1]) {
			good = a + 1;
		} else if (!ra->bad) {
			ra->bad = a;
		} else {
			good = a;
		}
		if (good) {
			if (gl->n >= gl->max)
				return kb_cli_usage_error(bisect_usage, "at most %u good commits", gl->max);
			gl->v[gl->n++] = good;
		}
	}
	return KB_EXIT_OK;
}

int cmd_bisect(int argc, char **argv)
{
	struct real_args ra = { .run_timeout = 60 };
	int prebuild = -2; /* -2: not given */
	int ccache_set = 0;
	kb_engine_opts eo = { 0 };
	const char *html = NULL, *logpath = NULL;
	const char *goods[MAX_GOODS], *skips[MAX_SKIPS];
	char repo_buf[4096];
	unsigned progress_every = 60;
	int dashdash;
	int json = 0, simulate = 0, shape = KB_SIM_LINEAR, rc, n;
	unsigned commits = 1000;
	double q = 0.5;
	unsigned long long seed = 1;
	struct logger lg = { stderr, NULL };
	struct kb_opt_list gl = { goods, 0, MAX_GOODS }, sl = { skips, 0, MAX_SKIPS };
	struct kb_ccache_choice cc = { NULL, 0 };
	struct fix_args fx = { 0 };
	const char *image = NULL;
	const struct kb_option options[] = {
		KB_OPT_STR(0, "repo", &ra.repo, "dir", "git repository of the kernel (default: the "
			   "one of the current directory)"),
		KB_OPT_STR(0, "bad", &ra.bad, "rev", "a commit that crashes"),
		KB_OPT_STRS(0, "good", &gl, "rev", "a commit without the crash (repeatable, up to "
			    "64)"),
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
			    "stop when one commit holds p (default 0.99)", kb_opt_probability),
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
				"budget in rounds (default 60, stretched up to 240 while "
				"false crashes or frozen tests make a test tell little)"),
		KB_OPT_BOOL(0, "json", &json, "print the result as JSON (culprit, probability, "
			    "candidates, flags, tested, seconds, ...)"),
		KB_OPT_STR(0, "html", &html, "file", "write a report with the timeline per worker "
			   "and the probability mass per round"),
		KB_OPT_STR(0, "commit-url", &commit_url, "pattern",
			   "--html: link commits to pattern with %s for the commit id (e.g. "
			   "https://git.kernel.org/torvalds/c/%s; default: commit-url in the "
			   "config file)"),
		KB_OPT_STR(0, "log", &logpath, "file",
			   "write the bisection log there (default: stderr)"),
		KB_OPT_STR(0, "build-cmd", &ra.build_cmd, "cmd", "as in 'kbisect build'"),
		KB_OPT_STR(0, "image", &image, "path", "as in 'kbisect build'"),
		KB_OPT_STR(0, "work-dir", &ra.work_dir, "dir", "as in 'kbisect build'"),
		KB_OPT_UNSIGNED(0, "jobs", &ra.jobs, 1, 1024, "n", "as in 'kbisect build'"),
		KB_OPT_BOOL(0, "retry-failed", &ra.retry_failed, "build again a commit whose build "
			    "failure is recorded in the cache (the new result replaces it), as in "
			    "'kbisect build'"),
		KB_OPT_CALL(0, "ccache", &cc, "prog", "wrap the compiler with ccache (default: "
			    "ccache when it is installed and no --build-cmd is given; its files go "
			    "to <cache>/ccache unless $CCACHE_DIR is set)", kb_opt_ccache),
		KB_OPT_CALL(0, "no-ccache", &cc, NULL, "build without ccache", kb_opt_ccache),
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
		KB_OPT_STRS(0, "skip", &sl, "rev|range", "never test this commit, or the commits of "
			    "range G..B, as git bisect skip (repeatable)"),
		KB_OPT_UNSIGNED(0, "progress", &progress_every, 0, 86400, "s", "seconds between "
				"plain progress lines when stderr is not a terminal (default 60; 0: "
				"none); on a terminal the progress line is redrawn in place"),
		KB_OPT_BOOL(0, "minimize-config", &ra.minimize_config, "first minimize --config "
			    "on --bad as 'kbisect config minimize' does (with --baseline), then "
			    "bisect with the minimized config"),
		KB_OPT_STR(0, "baseline", &ra.baseline, "file", "--minimize-config: SMALL, a "
			   "config that builds (make tinyconfig or defconfig output)"),
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
		KB_OPT_BOOL(0, "fix", &eo.fix, "fix bisection: find the first commit from "
			    "--crashing to --fixed whose kernel no longer crashes"),
		KB_OPT_STR(0, "crashing", &fx.crashing, "rev", "--fix: a commit that crashes"),
		KB_OPT_STR(0, "fixed", &fx.fixed, "rev", "--fix: a later commit that does not"),
		KB_OPT_BOOL(0, "find-fixed", &fx.find_fixed, "--fix: walk forward over release "
			    "tags above --crashing to find a fixed one"),
		KB_OPT_NUMBER(0, "partial-q", &sim_partial_q, 0, 1, "rate", "--simulate --fix: a "
			      "partial fix before the fix lowers the rate to this (default: none)"),
		KB_OPT_TABLE_END,
	};

	ra.goods = goods;
	ra.skips = skips;
	/* "-- <pathspec>": the rest are paths, as in git */
	for (dashdash = 1; dashdash < argc && strcmp(argv[dashdash], "--"); dashdash++)
		;
	if (dashdash < argc) {
		ra.paths = (const char **)argv + dashdash + 1;
		ra.n_paths = (size_t)(argc - dashdash - 1);
	}
	if ((n = kb_options_parse(dashdash, argv, options, &bisect_doc, 0)) < 0)
		return kb_options_exit(n);
	if ((rc = range_args(&ra, &gl, argv, n)) != KB_EXIT_OK)
		return rc;
	ra.n_goods = gl.n;
	ra.n_skips = sl.n;
	if (image)
		ra.image = image, ra.image_set = 1;
	if (cc.set)
		ra.ccache = cc.prog, ccache_set = 1;
	if ((ra.slurm_partition || ra.slurm_args) &&
	    !(ra.executor && !strcmp(ra.executor, "slurm")))
		return kb_cli_usage_error(bisect_usage, "--slurm-partition and --slurm-args need "
					  "--executor slurm");
	if (ra.retry_failed && (simulate || (ra.executor && !strcmp(ra.executor, "slurm"))))
		return kb_cli_usage_error(bisect_usage, "--retry-failed retries this host's builds: "
					  "not with --simulate nor --executor slurm (there, run "
					  "'kbisect build --retry-failed --remote <url> --rev <rev>' "
					  "for the commit first)");
	if (html && (rc = kb_cli_commit_url(&commit_url, commit_url)) != KB_EXIT_OK)
		return rc;
	if (!eo.fix && (fx.crashing || fx.fixed || fx.find_fixed))
		return kb_cli_usage_error(bisect_usage, "--crashing, --fixed and --find-fixed "
					  "need --fix");
	if (eo.fix && !simulate && (ra.bad || ra.n_goods || ra.find_good))
		return kb_cli_usage_error(bisect_usage, "--fix takes --crashing and --fixed (or "
					  "--find-fixed), not --bad, --good or --find-good");
	if (eo.fix && !simulate &&
	    (!fx.crashing || !ra.config || !ra.repro || !fx.fixed == !fx.find_fixed))
		return kb_cli_usage_error(bisect_usage, "--fix needs --crashing, --fixed or "
					  "--find-fixed (one of them), --config and --repro");
	if (!simulate && !eo.fix &&
	    (!ra.bad || !ra.config || !ra.repro || (!ra.n_goods && !ra.find_good)))
		return kb_cli_usage_error(bisect_usage, "need --bad, --good (or --find-good; or a "
					  "range G..B), --config and --repro (or --simulate)");
	if (simulate && (ra.n_paths || sl.n || ra.executor || ra.minimize_config || fx.crashing ||
			 fx.fixed || fx.find_fixed))
		return kb_cli_usage_error(bisect_usage, "--simulate bisects a synthetic history: it "
					  "takes no --skip, pathspec, --executor, "
					  "--minimize-config, --crashing, --fixed or --find-fixed");
	if (sim_partial_q > 0 && !(simulate && eo.fix))
		return kb_cli_usage_error(bisect_usage, "--partial-q needs --simulate --fix");
	if (ra.minimize_config && !ra.baseline)
		return kb_cli_usage_error(bisect_usage, "--minimize-config needs --baseline <file>");
	if (!simulate && (ra.n_paths || ra.n_skips) && ra.find_good)
		return kb_cli_usage_error(bisect_usage, "--skip and a pathspec need --good (not "
					  "--find-good)");
	if (!simulate && !ra.repo) { /* git's habit: the repository we are in */
		if (kb_gitdag_discover(repo_buf, sizeof(repo_buf), ".") != 0)
			return kb_cli_die_error();
		ra.repo = repo_buf;
	}
	if (logpath) {
		lg.f = fopen(logpath, "a");
		if (!lg.f)
			return kb_cli_error("cannot open log '%s': %s", logpath, strerror(errno));
	}
	lg.p = kb_progress_start(lg.f, simulate ? 0 : progress_every);
	set_defaults(&ra, &eo, simulate, prebuild, ccache_set);
	out_fix = eo.fix;
	struct sigaction sa = { 0 }, old;
	if (!simulate) { /* a Ctrl-C before the rounds kills the builds it leaves behind */
		sa.sa_handler = on_sigint;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		abort_at_once = 1;
		sigaction(SIGINT, &sa, &old);
	}
	if (eo.fix && !simulate)
		rc = run_real_fix(&ra, &fx, &eo, json, html, &lg);
	else if (simulate)
		rc = run_simulated(&eo, commits, shape, q, seed, json, html, &lg);
	else
		rc = run_real(&ra, &eo, json, html, &lg);
	if (!simulate)
		sigaction(SIGINT, &old, NULL);
	kb_progress_stop(lg.p);
	if (logpath)
		fclose(lg.f);
	return rc;
}
