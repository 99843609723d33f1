/*
 * cli/cmd_bisect.c - `kbisect bisect`: find the first bad commit with the engine
 * (kbisect/engine.h), builds through the builder (cache, dependency skip) and tests
 * through the VM pool; test results go into the cache, so an interrupted bisection
 * re-run with the same command resumes without repeating work. `--simulate` runs the
 * engine on a synthetic history instead (no repository, no VMs).
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kbisect/build.h"
#include "kbisect/cache.h"
#include "kbisect/engine.h"
#include "kbisect/error.h"
#include "kbisect/remote.h"
#include "kbisect/gitdag.h"
#include "kbisect/model.h"
#include "kbisect/simulate.h"
#include "kbisect/vmpool.h"
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

/* errors raised here (the cmd_ files use only public headers, so not kb_error_set) */
static char oracle_err[512];

static int oerr(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int oerr(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(oracle_err, sizeof(oracle_err), fmt, ap);
	va_end(ap);
	return code;
}

static int die(void)
{
	if (oracle_err[0])
		return kb_cli_error("%s", oracle_err);
	return kb_cli_die_error();
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

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the real oracle: builder + pool + cached test results ---- */

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


struct consumed {
	kb_key test_key;
	size_t used;
};

struct prediction {
	int valid;
	unsigned gen;        /* r->gen when made */
	kb_build_result res; /* what kb_builder_predict() said */
};

struct real {
	const kb_gitdag *dag;
	const kb_model *m;      /* the candidate DAG (parents) */
	kb_cache *cache;
	kb_remote *remote; /* second tier, or NULL */
	kb_builder **builders;
	unsigned n_builders;
	kb_pool *pool;
	kb_pool_opts popts;
	const char *repro;
	kb_key repro_key;
	const char *cmdline;
	double run_timeout;
	char kdir[4096];
	double t0;
	struct consumed *cons;
	size_t n_cons, cap_cons;
	struct logger *log;
	const struct real_args *args;
	unsigned prebuild;      /* most speculative builds per round (--prebuild) */
	size_t pre[64], n_pre;  /* speculative builds asked for the running round */
	pid_t pre_pid[64];      /* their `kbisect build` processes while they run */
	uint8_t *prebuilt;      /* per node: its kernel came from a speculative build */
	unsigned preboots;      /* kernels pre-booted ahead of their test */
	struct prediction *pred; /* per node: the builder's last prediction */
	unsigned gen;           /* builds landed so far (predictions of builds expire) */
	char journal[4300];     /* <cache>/journals/<key>.jsonl: this bisection's rounds */
	kb_key journal_key;     /* its key, also its /ac/ key on the shared cache server */
	json_t *replay;         /* rounds recorded by an identical earlier bisection */
};

struct build_job {
	struct real *r;
	kb_builder *b;
	const char *rev;
	kb_build_result res;
	int rc;
	double start, end;
};

/* One build in this process (the kb_cache handle is not shared across threads). */
static void build_here(struct build_job *j)
{
	j->start = now_s();
	j->rc = kb_builder_build(&j->res, j->b, j->rev);
	j->end = now_s();
}

/* Start `kbisect build --json` of rev in a child process (work tree of worker; the
 * cache is shared between processes), its JSON going to out. The pid, or -1. */
static pid_t spawn_build(struct real *r, const char *rev, unsigned worker_no, const char *out)
{
	const struct real_args *a = r->args;
	char worker[16], jobs_s[16];
	const char *argv[40];
	int k = 0;
	pid_t pid;

	snprintf(worker, sizeof(worker), "%u", worker_no);
	snprintf(jobs_s, sizeof(jobs_s), "%u", a->jobs);
	argv[k++] = "kbisect", argv[k++] = "build", argv[k++] = "--json";
	argv[k++] = "--repo", argv[k++] = a->repo, argv[k++] = "--rev", argv[k++] = rev;
	argv[k++] = "--config", argv[k++] = a->config;
	argv[k++] = "--cache", argv[k++] = kb_cli_cache_dir(a->cache_dir);
	argv[k++] = "--worker", argv[k++] = worker;
	if (a->jobs)
		argv[k++] = "--jobs", argv[k++] = jobs_s;
	if (a->build_cmd)
		argv[k++] = "--build-cmd", argv[k++] = a->build_cmd;
	if (a->image_set)
		argv[k++] = "--image", argv[k++] = a->image;
	if (a->work_dir)
		argv[k++] = "--work-dir", argv[k++] = a->work_dir;
	if (a->remote) /* records through the server, ccache too */
		argv[k++] = "--remote", argv[k++] = a->remote;
	if (a->ccache)
		argv[k++] = "--ccache", argv[k++] = a->ccache;
	argv[k] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		FILE *o = freopen(out, "w", stdout);
		if (!o)
			_exit(127);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Builds of different commits overlap: each runs in its own process. */
static int build_parallel(struct real *r, struct build_job *jobs, const kb_engine_request *rq,
			  size_t n)
{
	pid_t *pids = calloc(n, sizeof(*pids));
	char (*outs)[4300] = calloc(n, sizeof(*outs));
	size_t left = 0;

	if (!pids || !outs) {
		free(pids), free(outs);
		return oerr(KB_ERROR, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(outs[i], sizeof(outs[i]), "%s/build-%d-%zu.json", r->kdir, (int)getpid(), i);
		jobs[i].start = now_s();
		pids[i] = spawn_build(r, jobs[i].rev, rq[i].worker, outs[i]);
		if (pids[i] < 0) {
			jobs[i].rc = oerr(KB_ERROR, "cannot start a build of %s: %s", jobs[i].rev,
					  strerror(errno));
			continue;
		}
		left++;
	}
	while (left > 0) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (pids[i] == p) {
				jobs[i].end = now_s();
				pids[i] = 0;
				left--;
			}
	}
	for (size_t i = 0; i < n; i++) {
		struct build_job *j = &jobs[i];
		json_error_t jerr;
		json_t *o, *arts;
		const char *how, *sig, *why;
		if (j->rc)
			continue;
		o = json_load_file(outs[i], 0, &jerr);
		unlink(outs[i]);
		if (!o) {
			j->rc = oerr(KB_ERROR, "build of %s in a worker process failed without a "
				     "result; run 'kbisect build --rev %s' to see why", j->rev, j->rev);
			continue;
		}
		memset(&j->res, 0, sizeof(j->res));
		how = json_string_value(json_object_get(o, "how"));
		snprintf(j->res.reused_from, sizeof(j->res.reused_from), "%s",
			 json_string_value(json_object_get(o, "reused_from_tree")) ?
			 json_string_value(json_object_get(o, "reused_from_tree")) : "");
		j->res.how = !how ? KB_BUILD_BUILT : !strcmp(how, "cache_hit") ? KB_BUILD_CACHE_HIT :
			     !strcmp(how, "dependency_skip") ? KB_BUILD_DEPENDENCY_SKIP :
			     !strcmp(how, "cached_failure") ? KB_BUILD_CACHED_FAILURE : KB_BUILD_BUILT;
		j->res.ok = json_is_true(json_object_get(o, "ok"));
		snprintf(j->res.commit, sizeof(j->res.commit), "%s",
			 json_string_value(json_object_get(o, "commit")) ?
			 json_string_value(json_object_get(o, "commit")) : j->rev);
		sig = json_string_value(json_object_get(o, "signature"));
		if (sig && kb_key_from_hex(&j->res.signature, sig) == 0)
			j->res.has_signature = 1;
		why = json_string_value(json_object_get(o, j->res.ok ? "why" : "error"));
		snprintf(j->res.reason, sizeof(j->res.reason), "%s", why ? why : "");
		arts = json_object_get(o, "artifacts");
		const char *name;
		json_t *v;
		json_object_foreach(arts, name, v) {
			kb_artifact *ar = &j->res.artifacts[j->res.n_artifacts];
			if (j->res.n_artifacts == KB_BUILD_MAX_ARTIFACTS || !json_string_value(v) ||
			    kb_key_from_hex(&ar->id, json_string_value(v)) != 0)
				continue;
			snprintf(ar->name, sizeof(ar->name), "%s", name);
			j->res.n_artifacts++;
		}
		json_decref(o);
	}
	free(pids), free(outs);
	return 0;
}

/* The builder's prediction for node, remembered: a kernel at hand stays at hand, and
 * "needs a build" holds until the next build lands (r->gen). 0 or -1 (no prediction). */
static int predicted(struct real *r, size_t node, struct prediction **out)
{
	struct prediction *p = &r->pred[node];
	kb_build_result res;

	if (p->valid && (p->res.how != KB_BUILD_NEEDS_BUILD || p->gen == r->gen)) {
		*out = p;
		return 0;
	}
	if (kb_builder_predict(&res, r->builders[0], kb_gitdag_id(r->dag, node)) != 0) {
		kb_error_clear();
		return -1;
	}
	p->valid = 1;
	p->gen = r->gen;
	p->res = res;
	*out = p;
	return 0;
}

/* expected seconds of building node now: incremental builds differ a lot (a header
 * most files include against one driver file), and the engine weighs that */
static double real_build_seconds(void *ctx, size_t node)
{
	struct real *r = ctx;
	struct prediction *p;

	if (predicted(r, node, &p) != 0 || p->res.how != KB_BUILD_NEEDS_BUILD ||
	    p->res.est_seconds <= 0)
		return -1;
	return p->res.est_seconds;
}

static int real_cost(void *ctx, size_t node, int *kind)
{
	struct real *r = ctx;
	struct prediction *p;

	*kind = KB_COST_BUILD;
	if (predicted(r, node, &p) == 0 && p->res.how != KB_BUILD_NEEDS_BUILD)
		*kind = KB_COST_TEST;
	return 0;
}

/* the signature of a kernel at hand (cache hit, dependency skip) before testing it */
static int real_signature(void *ctx, size_t node, kb_key *out)
{
	struct real *r = ctx;
	struct prediction *p;

	if (predicted(r, node, &p) != 0 || p->res.how == KB_BUILD_NEEDS_BUILD || !p->res.ok ||
	    !p->res.has_signature)
		return 0;
	*out = p->res.signature;
	return 1;
}

static size_t *consumed_of(struct real *r, const kb_key *tk)
{
	for (size_t i = 0; i < r->n_cons; i++)
		if (kb_key_equal(&r->cons[i].test_key, tk))
			return &r->cons[i].used;
	if (r->n_cons == r->cap_cons) {
		size_t cap = r->cap_cons ? 2 * r->cap_cons : 16;
		struct consumed *p = realloc(r->cons, cap * sizeof(*p));
		if (!p)
			return NULL;
		r->cons = p, r->cap_cons = cap;
	}
	r->cons[r->n_cons].test_key = *tk;
	r->cons[r->n_cons].used = 0;
	return &r->cons[r->n_cons++].used;
}

/* the bzImage of a build as a file under <cache>/kernels (extracted once) */
static int kernel_file(struct real *r, const kb_build_result *b, char *path, size_t len)
{
	const kb_key *img = kb_build_result_artifact(b, "bzImage");
	char hex[KB_KEY_HEXLEN + 1];
	struct stat st;

	if (!img)
		return oerr(KB_ENOTFOUND, "build of %s has no bzImage artifact; check --image",
			    b->commit);
	kb_key_to_hex(hex, img);
	snprintf(path, len, "%s/%s.bzImage", r->kdir, hex);
	if (stat(path, &st) == 0)
		return 0;
	return kb_cache_get_file(r->cache, img, path); /* reads through the remote */
}

static int test_kernel(struct real *r, const kb_build_result *b, unsigned want,
		       kb_engine_outcome *oc)
{
	const kb_key *img = kb_build_result_artifact(b, "bzImage");
	char path[4200];
	kb_test_inputs ti = { 0 };
	kb_key tk;
	kb_test_run *cached = NULL;
	size_t n_cached = 0, *used;
	unsigned from_cache = 0;
	int rc;

	if (!img)
		return oerr(KB_ENOTFOUND, "build of %s has no bzImage artifact; check --image",
			    b->commit);
	ti.signature = &b->signature;
	ti.repro = &r->repro_key;
	ti.cmdline = r->cmdline ? r->cmdline : "";
	ti.vm_settings = "kbisect-bisect";
	kb_test_key_compute(&tk, &ti);
	if (kb_cache_test_list(&cached, &n_cached, r->cache, &tk) != 0) {
		kb_error_clear();
		n_cached = 0;
	}
	used = consumed_of(r, &tk);
	if (!used) {
		free(cached);
		return oerr(KB_ERROR, "out of memory");
	}
	while (*used < n_cached && oc->n_runs < want) {
		kb_repro_run *run = &oc->runs[oc->n_runs++];
		run->klass = cached[*used].klass;
		snprintf(run->title, sizeof(run->title), "%.159s", cached[*used].title);
		(*used)++, from_cache++;
	}
	free(cached);
	oc->how = from_cache == want && oc->how != KB_COST_BUILD ? KB_COST_FREE : oc->how;
	oc->test_start = oc->test_end = now_s() - r->t0;
	if (oc->n_runs >= want)
		return 0;
	if ((rc = kernel_file(r, b, path, sizeof(path))) != 0)
		return rc;
	{
		kb_pool_kernel k = { .kernel = path, .cmdline = r->cmdline,
				     .signature = b->has_signature ? &b->signature : NULL };
		kb_pool_result *res = NULL;
		unsigned n = want - (unsigned)oc->n_runs;
		rc = kb_pool_run_n(&res, r->pool, &k, r->repro, n, r->run_timeout);
		if (rc)
			return rc;
		for (unsigned i = 0; i < n; i++) {
			kb_test_run tr = { .klass = res[i].klass, .duration_s = res[i].duration_s,
					   .has_console = res[i].has_console, .console = res[i].console,
					   .time = (int64_t)time(NULL) };
			kb_repro_run *run = &oc->runs[oc->n_runs++];
			snprintf(tr.title, sizeof(tr.title), "%s", res[i].title);
			run->klass = res[i].klass;
			snprintf(run->title, sizeof(run->title), "%.159s", res[i].title);
			/* an infra failure of the pool (VM, host) is not stored: a resumed
			 * bisection should run it again. The reproducer's own failures
			 * (SYZFAIL/SYZFATAL) are outcomes like any other: stored, so that a
			 * repeated bisection replays them instead of running again. */
			int pool_failure = res[i].klass == KB_RUN_INFRA &&
					   strncmp(res[i].title, "SYZFAIL", 7) != 0 &&
					   strncmp(res[i].title, "SYZFATAL", 8) != 0;
			if (!pool_failure && kb_cache_test_add(r->cache, &tk, &tr) == 0)
				(*used)++;
			kb_error_clear();
		}
		kb_pool_results_free(res, n);
		/* clones on frozen randomness would make a flaky bug look always or never
		 * there: stop with the pool's reason rather than bisect on it */
		if (kb_pool_health(r->pool) != 0)
			return oerr(KB_ERROR, "%s", kb_error_last()->message);
	}
	oc->test_end = now_s() - r->t0;
	return 0;
}

/* The engine's guesses at the next round: remembered here, started by real_execute()
 * once the round's own builds are done, so that they build while its tests run. */
static int real_prefetch(void *ctx, const size_t *nodes, size_t n, unsigned *n_built)
{
	struct real *r = ctx;

	*n_built = 0;
	r->n_pre = 0;
	for (size_t i = 0; i < n; i++) {
		struct prediction *pp;
		char path[4200];
		if (predicted(r, nodes[i], &pp) != 0)
			continue;
		const kb_build_result *b = &pp->res;
		if (b->how == KB_BUILD_NEEDS_BUILD) { /* build it meanwhile, if allowed */
			if (r->n_pre < r->prebuild && r->n_pre < 64) {
				char line[128];
				snprintf(line, sizeof(line), "building %s meanwhile",
					 kb_gitdag_id(r->dag, nodes[i]));
				log_line(r->log, line);
				r->pre[r->n_pre++] = nodes[i];
				r->prebuilt[nodes[i]] = 1;
				(*n_built)++;
			}
			continue;
		}
		if (!b->ok || r->popts.cold || kernel_file(r, b, path, sizeof(path)) != 0) {
			kb_error_clear();
			continue;
		}
		/* kernel at hand: boot it and store the reproducer in its template now, so
		 * its runs start from clones at once if the next round tests it */
		kb_pool_kernel k = { .kernel = path, .cmdline = r->cmdline,
				     .signature = b->has_signature ? &b->signature : NULL };
		if (kb_pool_prepare(r->pool, &k, r->repro, 0) == 0) {
			char line[128];
			snprintf(line, sizeof(line), "pre-booting the kernel of %s",
				 kb_gitdag_id(r->dag, nodes[i]));
			log_line(r->log, line);
			r->preboots++;
		}
		kb_error_clear();
	}
	return 0;
}

/* start the speculative builds (on work trees of their own, after the round's) */
static void prefetch_start(struct real *r, unsigned first_worker)
{
	for (size_t i = 0; i < r->n_pre; i++) {
		const char *rev = kb_gitdag_id(r->dag, r->pre[i]);
		r->pre_pid[i] = spawn_build(r, rev, first_worker + (unsigned)i, "/dev/null");
		if (r->pre_pid[i] < 0)
			log_line(r->log, "cannot start a speculative build; going on without it");
	}
}

/* wait for the speculative builds: their results are in the cache for the next round */
static void prefetch_wait(struct real *r)
{
	for (size_t i = 0; i < r->n_pre; i++) {
		int st;
		if (r->pre_pid[i] <= 0)
			continue;
		while (waitpid(r->pre_pid[i], &st, 0) < 0 && errno == EINTR)
			;
		r->pre_pid[i] = 0;
	}
	if (r->n_pre)
		r->gen++;
	r->n_pre = 0;
}

/* 1 when the kernel of node was reused (dependency skip) from the build of one of its
 * parents' trees: the commit touches no input of the build, only files outside it */
static int outside_build_inputs(struct real *r, size_t node, const kb_build_result *b)
{
	if (b->how != KB_BUILD_DEPENDENCY_SKIP || !b->reused_from[0] || !r->m)
		return 0;
	for (size_t i = 0; i < kb_model_n_parents(r->m, node); i++) {
		struct prediction *pp;
		size_t p = kb_model_parent(r->m, node, i);
		if (predicted(r, p, &pp) != 0)
			continue;
		if (!strcmp(pp->res.tree, b->reused_from))
			return 1;
	}
	return 0;
}

/* ---- the journal: the choices of a bisection, replayed by an identical one ---- */

/* Key of a bisection: everything its choices depend on (range, config, reproducer,
 * command line, engine options). */
static void journal_path(struct real *r, const struct real_args *a, const kb_engine_opts *eo,
			 const char *cache_dir)
{
	char text[8192], hex[KB_KEY_HEXLEN + 1], cfg[KB_KEY_HEXLEN + 1] = "", rep[KB_KEY_HEXLEN + 1];
	kb_key k;
	size_t len = 0, n = kb_gitdag_size(r->dag);

	if (kb_sha256_file(&k, a->config) == 0)
		kb_key_to_hex(cfg, &k);
	else
		kb_error_clear();
	kb_key_to_hex(rep, &r->repro_key);
	len += (size_t)snprintf(text + len, sizeof(text) - len,
				"kbisect-journal-1\nbad %s\nnodes %zu\nconfig %s\nrepro %s\n"
				"cmdline %s\nbuild-cmd %s\nimage %s\nworkers %u runs %u calib %u "
				"confidence %.6f any %d title %s\n",
				kb_gitdag_id(r->dag, n - 1), n, cfg, rep, a->cmdline ? a->cmdline : "",
				a->build_cmd ? a->build_cmd : "", a->image_set ? a->image : "",
				eo->workers, eo->runs_per_test, eo->calib_runs, eo->confidence,
				eo->any_crash, eo->target_title ? eo->target_title : "");
	for (size_t i = 0; i < n && len < sizeof(text) - 64; i += n > 64 ? n / 64 : 1)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n",
					kb_gitdag_id(r->dag, i)); /* a sample of the range */
	kb_sha256(&k, text, len);
	r->journal_key = k;
	kb_key_to_hex(hex, &k);
	snprintf(r->journal, sizeof(r->journal), "%s/journals", cache_dir);
	mkdir(r->journal, 0755);
	snprintf(r->journal, sizeof(r->journal), "%s/journals/%.32s.jsonl", cache_dir, hex);
}

/* read the journal (one JSON object per round); a damaged line ends it there and is
 * cut off, with what follows, so that new rounds append to the good part */
static void journal_load(struct real *r)
{
	FILE *f = fopen(r->journal, "r");
	char line[16384];
	long good = 0;
	int damaged = 0;

	r->replay = json_array();
	if (!f && r->remote) {
		/* the same bisection on another build server: its journal, from the shared
		 * cache (/ac/<journal key>), so this one makes the same choices */
		kb_key id;
		if (kb_cache_ref_get(&id, r->cache, KB_REF_AC, &r->journal_key) == 0 &&
		    kb_cache_get_file(r->cache, &id, r->journal) == 0) {
			char msg[4400];
			snprintf(msg, sizeof(msg), "journal of this bisection from the shared cache "
				 "server: %s", r->journal);
			log_line(r->log, msg);
			f = fopen(r->journal, "r");
		}
		kb_error_clear();
	}
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);
		if (!o || !json_is_array(json_object_get(o, "tests")) ||
		    json_integer_value(json_object_get(o, "round")) !=
			    (json_int_t)json_array_size(r->replay) + 1) {
			json_decref(o);
			damaged = 1;
			break;
		}
		json_array_append_new(r->replay, o);
		good = ftell(f);
	}
	fclose(f);
	if (damaged) {
		char msg[4400];
		snprintf(msg, sizeof(msg), "journal %s is damaged after round %zu; replaying up "
			 "to there and cutting the rest", r->journal, json_array_size(r->replay));
		log_line(r->log, msg);
		if (truncate(r->journal, good) != 0)
			r->journal[0] = '\0'; /* cannot repair: record nothing more */
	}
}

static int journal_replay(void *ctx, unsigned round, kb_engine_request *rq, size_t *n)
{
	struct real *r = ctx;
	json_t *o = json_array_get(r->replay, round - 1), *t;
	size_t i, k = 0;

	if (!o)
		return 0;
	json_array_foreach(json_object_get(o, "tests"), i, t) {
		const char *id = json_string_value(json_object_get(t, "commit"));
		size_t node = SIZE_MAX;
		if (!id || k == 64)
			return 0;
		for (size_t c = 0; c < kb_gitdag_size(r->dag); c++)
			if (!strcmp(kb_gitdag_id(r->dag, c), id)) {
				node = c;
				break;
			}
		if (node == SIZE_MAX)
			return 0;
		rq[k].node = node;
		rq[k].runs = (unsigned)json_integer_value(json_object_get(t, "runs"));
		rq[k].worker = (unsigned)json_integer_value(json_object_get(t, "worker"));
		k++;
	}
	*n = k;
	return 1;
}

static void journal_record(void *ctx, unsigned round, const kb_engine_request *rq, size_t n)
{
	struct real *r = ctx;
	json_t *o, *tests;
	char *line;
	FILE *f;

	if (round <= json_array_size(r->replay))
		return; /* replayed: already in the journal */
	if (round != json_array_size(r->replay) + 1)
		return; /* a gap (an earlier round was not recorded): keep the journal as is */
	tests = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(tests, json_pack("{s:s, s:i, s:i}", "commit",
						       kb_gitdag_id(r->dag, rq[i].node), "runs",
						       (int)rq[i].runs, "worker", (int)rq[i].worker));
	o = json_pack("{s:i, s:o}", "round", (int)round, "tests", tests);
	line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	f = line && r->journal[0] ? fopen(r->journal, "a") : NULL;
	if (f) {
		int ok = fprintf(f, "%s\n", line) > 0;
		ok = fclose(f) == 0 && ok;
		json_array_append(r->replay, o);
		if (ok && r->remote) { /* for the same bisection on other build servers */
			kb_put_opts po = { .kind = KB_OBJ_BLOB };
			kb_key id;
			if (kb_cache_put_file(&id, r->cache, r->journal, &po) == 0)
				kb_cache_ref_set(r->cache, KB_REF_AC, &r->journal_key, &id);
			kb_error_clear();
		}
	}
	free(line);
	json_decref(o);
}

static int real_execute(void *ctx, const kb_engine_request *rq, size_t n, kb_engine_outcome *out)
{
	struct real *r = ctx;
	struct build_job *jobs = calloc(n, sizeof(*jobs));
	int rc = 0;

	if (!jobs)
		return oerr(KB_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++) {
		jobs[i].r = r;
		jobs[i].b = r->builders[rq[i].worker % r->n_builders];
		jobs[i].rev = kb_gitdag_id(r->dag, rq[i].node);
	}
	if (n == 1)
		build_here(&jobs[0]);
	else if ((rc = build_parallel(r, jobs, rq, n)) != 0) {
		free(jobs);
		return rc;
	}
	r->gen++; /* this round's builds landed: "needs a build" predictions expire */
	prefetch_start(r, r->n_builders);
	for (size_t i = 0; i < n && !rc; i++) {
		struct build_job *j = &jobs[i];
		kb_engine_outcome *oc = &out[i];
		if (j->rc) {
			rc = j->rc;
			break;
		}
		oc->build_start = j->start - r->t0;
		oc->build_end = j->end - r->t0;
		oc->how = j->res.how == KB_BUILD_BUILT ? KB_COST_BUILD : KB_COST_TEST;
		if (j->res.how != KB_BUILD_BUILT)
			oc->build_end = oc->build_start;
		if (!j->res.ok) {
			oc->buildable = 0;
			oc->test_start = oc->test_end = oc->build_end;
			log_line(r->log, j->res.reason[0] ? j->res.reason : "build failed");
			continue;
		}
		if (j->res.how == KB_BUILD_CACHE_HIT && r->prebuilt[rq[i].node]) {
			oc->prebuilt = 1; /* the speculative build of an earlier round */
			r->prebuilt[rq[i].node] = 0;
		}
		oc->buildable = 1;
		oc->same_as_parent = outside_build_inputs(r, rq[i].node, &j->res);
		oc->has_signature = j->res.has_signature;
		oc->signature = j->res.signature;
		rc = test_kernel(r, &j->res, rq[i].runs, oc);
	}
	prefetch_wait(r);
	free(jobs);
	return rc;
}

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
		return die();
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

static int file_key(kb_key *out, const char *path)
{
	if (kb_sha256_file(out, path) != 0)
		return kb_cli_error("cannot read reproducer: %s; give an existing file with --repro",
				    kb_error_last()->message);
	return 0;
}


/* syzbot's way: test release tags below bad, newest first, until one does not crash */
static int find_good(struct real *r, const struct real_args *a, kb_engine_opts *eo,
		     char **good_out)
{
	char **tags = NULL;
	size_t n = 0;
	int rc;
	kb_build_result b;
	kb_engine_outcome *oc = calloc(1, sizeof(*oc));

	if (!oc)
		return oerr(KB_ERROR, "out of memory");
	rc = kb_gitdag_release_tags(&tags, &n, a->repo, a->bad);
	if (rc) {
		free(oc);
		return rc;
	}
	*good_out = NULL;
	for (size_t i = 0; i < n && i < 8 && !*good_out; i++) {
		unsigned crashes = 0;
		fprintf(r->log->f, "testing release %s\n", tags[i]);
		rc = kb_builder_build(&b, r->builders[0], tags[i]);
		if (rc)
			break;
		if (!b.ok) {
			fprintf(r->log->f, "release %s does not build; trying an older one\n", tags[i]);
			continue;
		}
		memset(oc, 0, sizeof(*oc));
		rc = test_kernel(r, &b, eo->runs_per_test ? eo->runs_per_test : 10, oc);
		if (rc)
			break;
		for (size_t k = 0; k < oc->n_runs; k++) {
			const char *t = oc->runs[k].title;
			if (oc->runs[k].klass == KB_RUN_CRASH &&
			    (eo->any_crash || !eo->target_title || !strcmp(t, eo->target_title)))
				crashes++;
			fprintf(r->log->f, "run #%zu: %s%s\n", k,
				oc->runs[k].klass == KB_RUN_CRASH ? "crashed: " :
				oc->runs[k].klass == KB_RUN_OK ? "OK" : "infra: ", t);
		}
		if (crashes == 0)
			*good_out = strdup(tags[i]);
	}
	kb_gitdag_tags_free(tags, n);
	free(oc);
	if (rc)
		return rc;
	if (!*good_out)
		return oerr(KB_ENOTFOUND, "no release tag below '%s' ran clean; give --good "
			    "explicitly", a->bad);
	return 0;
}

static int run_real(const struct real_args *a, kb_engine_opts *eo, int json, const char *html,
		    struct logger *lg)
{
	struct real r = { 0 };
	kb_gitdag *dag = NULL;
	kb_model *m = NULL;
	kb_engine *e = NULL;
	kb_engine_oracle o = { 0 };
	char *found_good = NULL;
	const char *cache_dir = kb_cli_cache_dir(a->cache_dir);
	int rc = KB_EXIT_ERROR;
	unsigned k = eo->workers ? eo->workers : 1;
	char ccache_url[4200];

	if (file_key(&r.repro_key, a->repro))
		return KB_EXIT_ERROR;
	r.repro = a->repro;
	r.cmdline = a->cmdline;
	r.run_timeout = a->run_timeout;
	r.log = lg;
	r.args = a;
	r.t0 = now_s();
	if (kb_cache_open(&r.cache, cache_dir, KB_CACHE_CREATE) != 0)
		return kb_cli_die_error();
	if (kb_cli_remote_open(&r.remote, a->remote) != KB_EXIT_OK)
		goto out;
	kb_cache_set_remote(r.cache, r.remote); /* the second tier (NULL: local only) */
	snprintf(r.kdir, sizeof(r.kdir), "%s/kernels", cache_dir);
	mkdir(r.kdir, 0755);
	r.builders = calloc(k, sizeof(*r.builders));
	if (!r.builders)
		goto out;
	for (unsigned i = 0; i < k; i++) {
		kb_build_opts bo = { .config_path = a->config, .work_dir = a->work_dir,
				     .worker = (int)i, .jobs = (int)a->jobs, .ccache = a->ccache,
				     .ccache_remote = a->remote ? kb_cli_remote_ccache(ccache_url,
						sizeof(ccache_url), a->remote) : NULL,
				     .build_cmd = a->build_cmd,
				     .image_path = a->image_set ? a->image : NULL, .quiet = 1 };
		if (kb_builder_open(&r.builders[i], a->repo, r.cache, &bo) != 0) {
			rc = kb_cli_die_error();
			goto out;
		}
		r.n_builders++;
	}
	r.popts.vms = a->vms;
	r.popts.boot_timeout_s = a->boot_timeout;
	r.popts.cold = a->cold;
	no_repro_hint = a->cold ? "" : "; the runs were clones of one saved boot per kernel "
				       "(each with fresh randomness): if the bug needs a fresh "
				       "boot, try --cold (each run boots, slower)";
	r.popts.accel = a->accel;
	r.popts.cache = r.cache;
	if (kb_pool_open(&r.pool, &r.popts) != 0) {
		rc = kb_cli_die_error();
		goto out;
	}
	if (a->find_good) {
		r.dag = NULL;
		if (find_good(&r, a, eo, &found_good) != 0) {
			rc = die();
			goto out;
		}
		fprintf(lg->f, "good release: %s\n", found_good ? found_good : "?");
	}
	{
		const char *goods1[1] = { found_good };
		const char *const *goods = found_good ? goods1 : a->goods;
		size_t n_goods = found_good ? 1 : a->n_goods;
		if (kb_gitdag_open(&dag, a->repo, a->bad, goods, n_goods) != 0 ||
		    kb_gitdag_model(dag, &m, NULL) != 0) {
			rc = kb_cli_die_error();
			goto out;
		}
	}
	fprintf(lg->f, "bisecting %zu commits between good and %s\n", kb_gitdag_size(dag),
		kb_gitdag_id(dag, kb_gitdag_size(dag) - 1));
	r.dag = dag;
	r.m = m;
	r.prebuild = a->prebuild;
	r.prebuilt = calloc(kb_gitdag_size(dag), 1);
	r.pred = calloc(kb_gitdag_size(dag), sizeof(*r.pred));
	if (!r.prebuilt || !r.pred) {
		rc = kb_cli_error("out of memory");
		goto out;
	}
	o.ctx = &r;
	o.cost = real_cost;
	o.build_seconds = real_build_seconds;
	o.execute = real_execute;
	o.prefetch = real_prefetch;
	o.signature = real_signature;
	o.replay = journal_replay;
	o.record = journal_record;
	journal_path(&r, a, eo, cache_dir);
	journal_load(&r);
	if (json_array_size(r.replay))
		fprintf(lg->f, "replaying %zu rounds of an identical earlier bisection (%s)\n",
			json_array_size(r.replay), r.journal);
	o.log = log_line;
	o.log_ctx = lg;
	eo->bad = kb_gitdag_size(dag) - 1;
	if (kb_engine_new(&e, m, &o, eo) != 0) {
		rc = kb_cli_die_error();
		goto out;
	}
	for (size_t i = 0; i < kb_gitdag_size(dag); i++)
		kb_engine_set_node(e, i, kb_gitdag_id(dag, i), kb_gitdag_is_merge(dag, i));
	rc = drive(e);
	if (rc == KB_EXIT_OK)
		rc = finish(e, m, dag, json, html, (long)r.preboots);
out:
	kb_engine_free(e);
	kb_model_free(m);
	kb_gitdag_free(dag);
	kb_pool_close(r.pool);
	for (unsigned i = 0; i < r.n_builders; i++)
		kb_builder_free(r.builders[i]);
	free(r.builders);
	free(r.cons);
	free(r.prebuilt);
	free(r.pred);
	json_decref(r.replay);
	free(found_good);
	kb_cli_remote_done(r.remote);
	kb_cache_close(r.cache);
	kb_remote_close(r.remote);
	return rc;
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
	/* speculative builds: on by default where builds and VMs do not share a few cores
	 * (and always in the simulation, whose builds run on build servers) */
	if (simulate) { /* the simulator builds what the engine hands it */
		eo.prefetch = prebuild == -2 ? 0 : prebuild == 0 ? -1 : prebuild;
	} else {
		unsigned k = eo.workers ? eo.workers : 1;
		ra.prebuild = prebuild != -2 ? (unsigned)prebuild :
			      sysconf(_SC_NPROCESSORS_ONLN) >= PREBUILD_MIN_CPUS ? k : 0;
		/* next candidates handed over each round: pre-booted when their kernel is at
		 * hand, built (up to --prebuild) when not */
		eo.prefetch = (int)(ra.prebuild > k ? ra.prebuild : k);
	}
	/* ccache on kernel builds when it is installed: going back across a header that
	 * most files include then costs cache hits, not a full rebuild */
	if (!ccache_set && !ra.build_cmd && on_path("ccache"))
		ra.ccache = "ccache";
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
