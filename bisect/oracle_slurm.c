/*
 * bisect/oracle_slurm.c - the real oracle's rounds as Slurm jobs (--executor slurm):
 * every build of a round is a job running `kbisect build --remote URL`, every test a
 * job running `kbisect pool run --remote URL --test-key K`, all of a round in flight at
 * once; kernels, the config, the reproducer and the test results travel through the
 * cache server (`kbisect cache serve`), never through files shared with the nodes.
 * Owns: the job scripts, the round's build and test jobs and what their end means
 * (the cache server is the truth: a build job's result is the build record it pushed,
 * a test job's result the runs it pushed), speculative builds kept across rounds and
 * cancelled when a round made them useless, runs lost with a job counted as infra.
 * Also: the builds outside the rounds (--find-good, --find-fixed: kb_oracle__build_rev,
 * a job under --executor slurm, a build on this host else).
 * Not: Slurm's commands (executor_slurm.c), builds and tests on this host (oracle.c,
 * oracle_test.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "executor_slurm.h"
#include "oracle_internal.h"

#define MAX_BUILD_ATTEMPTS 3 /* a build job ending without a result, then an error */
#define SCRIPT_MAX 16384

struct spec {                /* a speculative build in flight across rounds */
	size_t node;
	unsigned tree;
	kb_slurm_job job;
	char *script;
};

struct oracle_slurm {
	kb_slurm *s;
	char bin[4096];          /* the kbisect the jobs run */
	char node_dir[4096];     /* node-local cache and work trees of the jobs */
	char config_hex[KB_KEY_HEXLEN + 1], repro_hex[KB_KEY_HEXLEN + 1];
	char repro_name[256];    /* basename of --repro (the pool compiles *.c) */
	struct spec spec[ORACLE_MAX_PRE];
	size_t n_spec;
	unsigned build_jobs, test_jobs, infra_runs, cancelled, lost;
};

/* ---- job scripts ---- */

/* append s to buf (length *n of cap) single-quoted for sh */
static void sq(char *buf, size_t cap, size_t *n, const char *s)
{
	if (*n + 3 >= cap)
		return;
	buf[(*n)++] = '\'';
	for (; *s && *n + 6 < cap; s++) {
		if (*s == '\'') {
			memcpy(buf + *n, "'\\''", 4);
			*n += 4;
		} else {
			buf[(*n)++] = *s;
		}
	}
	buf[(*n)++] = '\'';
	buf[*n] = '\0';
}

/* append formatted text */
static void ap(char *buf, size_t cap, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void ap(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list a;
	int r;

	if (*n >= cap)
		return;
	va_start(a, fmt);
	r = vsnprintf(buf + *n, cap - *n, fmt, a);
	va_end(a);
	if (r > 0)
		*n = *n + (size_t)r < cap ? *n + (size_t)r : cap - 1;
}

/* " --opt 'value'" when value is set */
static void opt(char *buf, size_t cap, size_t *n, const char *name, const char *value)
{
	if (!value)
		return;
	ap(buf, cap, n, " %s ", name);
	sq(buf, cap, n, value);
}

/* the start of every job: a private directory on the node, removed at the end, and
 * the job's output file (sbatch --output) removed when the job succeeded */
static void prologue(kb_oracle *o, char *buf, size_t cap, size_t *n)
{
	struct oracle_slurm *sl = o->slurm;

	ap(buf, cap, n, "set -e\nexport PATH=\"${PATH:-/usr/local/bin:/usr/bin:/bin}:/usr/sbin"
	   ":/sbin\"\nN=");
	sq(buf, cap, n, sl->node_dir);
	ap(buf, cap, n, "\nB=");
	sq(buf, cap, n, sl->bin);
	ap(buf, cap, n, "\nU=");
	sq(buf, cap, n, o->a.remote_url);
	/* the job's scratch directory: short (QEMU's sockets live under it) and local */
	ap(buf, cap, n, "\nmkdir -p \"$N\"\nd=$(mktemp -d /tmp/kbj.XXXXXX)\n"
	   "trap 'rc=$?; rm -rf \"$d\"; [ $rc -ne 0 ] || "
	   "rm -f \"/tmp/kbisect-slurm-$SLURM_JOB_ID.log\"' EXIT\n"
	   "trap 'exit 143' TERM INT\nexport TMPDIR=\"$d\"\n"); /* scancel: clean up too */
}

/* get object hex from the cache server into "$d/name" */
static void fetch(char *buf, size_t cap, size_t *n, const char *hex, const char *name)
{
	ap(buf, cap, n, "\"$B\" cache get --cache \"$N/cache\" --remote \"$U\" %s -o \"$d\"/", hex);
	sq(buf, cap, n, name);
	ap(buf, cap, n, "\n");
}

static char *build_script(kb_oracle *o, const char *rev, unsigned tree)
{
	char *buf = malloc(SCRIPT_MAX);
	size_t n = 0;

	if (!buf)
		return NULL;
	buf[0] = '\0';
	prologue(o, buf, SCRIPT_MAX, &n);
	fetch(buf, SCRIPT_MAX, &n, o->slurm->config_hex, "config");
	ap(buf, SCRIPT_MAX, &n, "\"$B\" build --json --cache \"$N/cache\" --work-dir "
	   "\"$N/work\" --remote \"$U\" --config \"$d/config\" --worker %u", tree);
	opt(buf, SCRIPT_MAX, &n, "--repo", o->a.repo);
	opt(buf, SCRIPT_MAX, &n, "--rev", rev);
	opt(buf, SCRIPT_MAX, &n, "--build-cmd", o->a.build_cmd);
	opt(buf, SCRIPT_MAX, &n, "--image", o->a.image);
	opt(buf, SCRIPT_MAX, &n, "--ccache", o->a.ccache);
	if (o->a.jobs)
		ap(buf, SCRIPT_MAX, &n, " --jobs %u", o->a.jobs);
	ap(buf, SCRIPT_MAX, &n, "\n");
	return buf;
}

static char *test_script(kb_oracle *o, const kb_build_result *b, const kb_key *tk,
			 unsigned runs)
{
	char *buf = malloc(SCRIPT_MAX), hex[KB_KEY_HEXLEN + 1];
	const kb_key *img = kb_build_result_artifact(b, "bzImage");
	size_t n = 0;

	if (!buf)
		return NULL;
	buf[0] = '\0';
	prologue(o, buf, SCRIPT_MAX, &n);
	kb_key_to_hex(hex, img);
	fetch(buf, SCRIPT_MAX, &n, hex, "bzImage");
	fetch(buf, SCRIPT_MAX, &n, o->slurm->repro_hex, o->slurm->repro_name);
	kb_key_to_hex(hex, tk);
	ap(buf, SCRIPT_MAX, &n, "\"$B\" pool run --json --cache \"$N/cache\" --remote \"$U\" "
	   "--test-key %s --kernel \"$d/bzImage\" --repro \"$d\"/", hex);
	sq(buf, SCRIPT_MAX, &n, o->slurm->repro_name);
	ap(buf, SCRIPT_MAX, &n, " --runs %u --timeout %g", runs, o->a.run_timeout);
	if (o->a.vms)
		ap(buf, SCRIPT_MAX, &n, " --vms %u", o->a.vms);
	if (o->a.boot_timeout > 0)
		ap(buf, SCRIPT_MAX, &n, " --boot-timeout %g", o->a.boot_timeout);
	if (o->a.cold)
		ap(buf, SCRIPT_MAX, &n, " --cold");
	if (b->has_signature) {
		kb_key_to_hex(hex, &b->signature);
		ap(buf, SCRIPT_MAX, &n, " --signature %s", hex);
	}
	opt(buf, SCRIPT_MAX, &n, "--accel", o->a.accel);
	opt(buf, SCRIPT_MAX, &n, "--cmdline", o->a.cmdline);
	ap(buf, SCRIPT_MAX, &n, " >/dev/null\n");
	return buf;
}

/* minutes a test job may take: the boot, then the runs in waves of --vms */
static unsigned test_minutes(const kb_oracle *o, unsigned runs)
{
	unsigned vms = o->a.vms ? o->a.vms : 1;
	double boot = o->a.boot_timeout > 0 ? o->a.boot_timeout : 300;
	double waves = ceil((double)runs / vms);
	return (unsigned)ceil((boot + waves * (o->a.run_timeout + 30 + (o->a.cold ? boot : 0))) /
			      60.0) + 5;
}

#define BUILD_MINUTES 185 /* kbisect build's own limit (3 h) and a margin */

/* ---- opening ---- */

/* put file on the cache server: its id into hex */
static int put_file(kb_oracle *o, const char *path, int kind, char *hex)
{
	kb_put_opts po = { .kind = kind };
	kb_key id;

	if (kb_cache_put_file(&id, o->cache, path, &po) != 0)
		return kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
	if (kb_cache_push(o->cache, &id) != 0)
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_BISECT, "--executor slurm: cannot put "
				     "%s on the cache server %s: %s; the jobs get it from there",
				     path, o->a.remote_url, kb_error_last()->message);
	kb_key_to_hex(hex, &id);
	return 0;
}

int kb_oracle__slurm_open(kb_oracle *o)
{
	struct oracle_slurm *sl;
	kb_slurm_opts so = { .partition = o->a.slurm_partition, .args = o->a.slurm_args,
			     .log = o->a.log, .log_ctx = o->a.log_ctx };
	const char *env, *slash;
	ssize_t len;
	int rc;

	if (!o->a.remote_url || !o->remote)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "--executor slurm needs a cache "
				     "server (--remote URL, reachable from the compute nodes): "
				     "kernels and test results travel through it; see "
				     "docs/scale-out.md");
	sl = calloc(1, sizeof(*sl));
	if (!sl)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	o->slurm = sl;
	env = getenv("KBISECT_SLURM_BIN");
	if (env && *env) {
		snprintf(sl->bin, sizeof(sl->bin), "%s", env);
	} else if ((len = readlink("/proc/self/exe", sl->bin, sizeof(sl->bin) - 1)) > 0) {
		sl->bin[len] = '\0';
	} else {
		snprintf(sl->bin, sizeof(sl->bin), "kbisect");
	}
	env = getenv("KBISECT_SLURM_NODE_DIR");
	snprintf(sl->node_dir, sizeof(sl->node_dir), "%s",
		 env && *env ? env : "/var/tmp/kbisect-node");
	slash = strrchr(o->a.repro, '/');
	snprintf(sl->repro_name, sizeof(sl->repro_name), "%s", slash ? slash + 1 : o->a.repro);
	if ((rc = kb_slurm_open(&sl->s, &so)) != 0)
		return rc;
	if ((rc = put_file(o, o->a.config, KB_OBJ_CONFIG, sl->config_hex)) != 0 ||
	    (rc = put_file(o, o->a.repro, KB_OBJ_REPRO, sl->repro_hex)) != 0)
		return rc;
	kb_oracle__log(o, "executor slurm: jobs run %s on the cluster%s%s, data through %s, "
		       "node files under %s", sl->bin, o->a.slurm_partition ? ", partition " : "",
		       o->a.slurm_partition ? o->a.slurm_partition : "", o->a.remote_url,
		       sl->node_dir);
	return 0;
}

int kb_oracle_abort_jobs(void)
{
	return kb_slurm_abort_all();
}

void kb_oracle__slurm_free(kb_oracle *o)
{
	struct oracle_slurm *sl = o->slurm;

	if (!sl)
		return;
	for (size_t i = 0; i < sl->n_spec; i++) {
		kb_slurm_cancel(sl->s, &sl->spec[i].job);
		free(sl->spec[i].script);
	}
	if (sl->s)
		kb_oracle__log(o, "executor slurm: %u jobs submitted (%u builds, %u tests), %u "
			       "lost and resubmitted, %u speculative builds cancelled, %u runs "
			       "lost with their job (infra), %u squeue calls",
			       kb_slurm_submitted(sl->s), sl->build_jobs, sl->test_jobs, sl->lost,
			       sl->cancelled, sl->infra_runs, kb_slurm_squeue_calls(sl->s));
	kb_slurm_free(sl->s);
	free(sl);
	o->slurm = NULL;
}

/* ---- builds ---- */

/* one build of a round: at hand, or a job (its own, or a speculative one adopted) */
struct bjob {
	size_t node;
	const char *rev;
	kb_build_result res;
	int at_hand;          /* res is the answer */
	kb_slurm_job job, *run; /* run: &job, or the adopted speculative job */
	char *script;
	unsigned attempts, tree;
	int adopted;
};

static int submit_build(kb_oracle *o, kb_slurm_job *j, char **script, const char *rev,
			unsigned tree, const char *what)
{
	struct oracle_slurm *sl = o->slurm;

	memset(j, 0, sizeof(*j));
	if (!*script && !(*script = build_script(o, rev, tree)))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	snprintf(j->name, sizeof(j->name), "kbisect-build-%.12s", rev);
	j->script = *script;
	j->time_min = BUILD_MINUTES;
	if (kb_slurm_submit(sl->s, j) != 0)
		return kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
	sl->build_jobs++;
	kb_oracle__log(o, "slurm: %s %.12s as job %ld", what, rev, j->id);
	return 0;
}

/* speculative builds asked for by the engine (o->pre) that are not running yet */
static void spec_start(kb_oracle *o)
{
	struct oracle_slurm *sl = o->slurm;

	for (size_t i = 0; i < o->n_pre; i++) {
		int running = 0;
		unsigned tree = o->k;
		for (size_t s = 0; s < sl->n_spec; s++)
			running |= sl->spec[s].node == o->pre[i];
		if (running || sl->n_spec == ORACLE_MAX_PRE)
			continue;
		for (int taken = 1; taken;) { /* a tree no running speculative build uses */
			taken = 0;
			for (size_t s = 0; s < sl->n_spec; s++)
				if (sl->spec[s].tree == tree)
					taken = 1, tree++;
		}
		struct spec *sp = &sl->spec[sl->n_spec];
		memset(sp, 0, sizeof(*sp));
		sp->node = o->pre[i];
		sp->tree = tree;
		if (submit_build(o, &sp->job, &sp->script, kb_gitdag_id(o->dag, sp->node), tree,
				 "building meanwhile") != 0) {
			kb_oracle__log(o, "cannot start a speculative build; going on without it: %s",
				       kb_error_last()->message);
			kb_error_clear();
			free(sp->script);
			continue;
		}
		sl->n_spec++;
	}
	o->n_pre = 0;
}

/* speculative builds this round neither tests nor guesses at: cancelled (useless) */
static void spec_prune(kb_oracle *o, const kb_engine_request *rq, size_t n)
{
	struct oracle_slurm *sl = o->slurm;
	kb_slurm_job *jobs[ORACLE_MAX_PRE];
	size_t keep = 0;

	for (size_t s = 0; s < sl->n_spec; s++)
		jobs[s] = &sl->spec[s].job;
	if (sl->n_spec && kb_slurm_poll(sl->s, jobs, sl->n_spec) != 0)
		kb_error_clear(); /* a job that ended meanwhile is just not cancelled */
	for (size_t s = 0; s < sl->n_spec; s++) {
		struct spec *sp = &sl->spec[s];
		int wanted = 0;
		for (size_t i = 0; i < n; i++)
			wanted |= rq[i].node == sp->node;
		for (size_t i = 0; i < o->n_pre; i++)
			wanted |= o->pre[i] == sp->node;
		if (!wanted && sp->job.phase == KB_SLURM_QUEUED) {
			kb_slurm_cancel(sl->s, &sp->job);
			sl->cancelled++;
			kb_oracle__log(o, "slurm: cancelled speculative build %.12s (job %ld): this "
				       "round made it useless", kb_gitdag_id(o->dag, sp->node),
				       sp->job.id);
		}
		if (!wanted) {
			free(sp->script);
			continue;
		}
		sl->spec[keep++] = *sp;
	}
	sl->n_spec = keep;
}

/* the speculative build of node, taken out of the list (its job moves to bj) */
static int spec_adopt(kb_oracle *o, struct bjob *bj)
{
	struct oracle_slurm *sl = o->slurm;

	for (size_t s = 0; s < sl->n_spec; s++)
		if (sl->spec[s].node == bj->node) {
			bj->job = sl->spec[s].job;
			bj->script = sl->spec[s].script;
			bj->job.script = bj->script;
			bj->tree = sl->spec[s].tree;
			bj->adopted = 1;
			sl->spec[s] = sl->spec[--sl->n_spec];
			return 1;
		}
	return 0;
}

/* what the cache server says of the build of rev now: 1 answered, 0 not yet, <0 error */
static int build_known(kb_oracle *o, const char *rev, kb_build_result *res)
{
	if (kb_builder_predict(res, o->builders[0], rev) != 0)
		return -1;
	return res->how != KB_BUILD_NEEDS_BUILD;
}

/* wait for the build jobs and read their results from the cache server; a job that ended
 * without one (lost, cancelled, failed before building) is infra: submitted again */
static int builds_wait(kb_oracle *o, struct bjob *bj, size_t n)
{
	struct oracle_slurm *sl = o->slurm;
	kb_slurm_job **jobs = calloc(n ? n : 1, sizeof(*jobs));
	int rc = 0;

	if (!jobs)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	for (;;) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (!bj[i].at_hand)
				jobs[m++] = &bj[i].job;
		if (!m)
			break;
		if ((rc = kb_slurm_wait(sl->s, jobs, m, NULL, NULL)) != 0)
			break;
		for (size_t i = 0; i < n && !rc; i++) {
			if (bj[i].at_hand)
				continue;
			int k = build_known(o, bj[i].rev, &bj[i].res);
			sl->lost += bj[i].job.lost;
			bj[i].job.lost = 0;
			if (k < 0) {
				rc = kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
				break;
			}
			if (k > 0) {
				bj[i].at_hand = 1;
				continue;
			}
			if (++bj[i].attempts >= MAX_BUILD_ATTEMPTS) {
				rc = kb_error_setc(KB_ERROR, KB_ERRCLASS_BISECT, "slurm: build job %ld of "
						   "%.12s ended %s (exit %d) %u times without a result on "
						   "the cache server; see /tmp/kbisect-slurm-%ld.log on its "
						   "node ('sacct -j %ld -o NodeList')", bj[i].job.id,
						   bj[i].rev, bj[i].job.state, bj[i].job.exit_code,
						   bj[i].attempts, bj[i].job.id, bj[i].job.id);
				break;
			}
			kb_oracle__log(o, "slurm: build job %ld of %.12s ended %s without a result: "
				       "infra, not evidence; submitting it again", bj[i].job.id,
				       bj[i].rev, bj[i].job.state);
			if ((rc = submit_build(o, &bj[i].job, &bj[i].script, bj[i].rev, bj[i].tree,
					       "building again")) != 0)
				break;
		}
		if (rc)
			break;
	}
	free(jobs);
	return rc;
}

/* ---- builds outside the rounds ---- */

int kb_oracle__build_rev(kb_oracle *o, kb_build_job *j)
{
	struct bjob bj;
	int rc, k;

	if (!o->slurm) { /* --executor local: on this host */
		if ((rc = kb_build_jobs_run(j, 1)) != 0)
			return rc;
		return kb_build_job_raise(j);
	}
	/* --executor slurm (--find-good, --find-fixed): a build job like a round's, work
	 * tree 0 of the node; a record already on the cache server is the answer */
	memset(&bj, 0, sizeof(bj));
	bj.rev = j->rev;
	k = build_known(o, j->rev, &bj.res);
	if (k < 0)
		return kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
	if (k > 0)
		bj.at_hand = 1;
	else if ((rc = submit_build(o, &bj.job, &bj.script, j->rev, 0, "building")) != 0)
		return rc;
	rc = builds_wait(o, &bj, 1);
	if (rc)
		kb_slurm_cancel(o->slurm->s, &bj.job);
	free(bj.script);
	if (rc)
		return rc;
	o->gen++;
	j->res = bj.res;
	j->rc = 0;
	return 0;
}

/* ---- tests ---- */

struct tjob {
	kb_key tk;
	unsigned want;   /* runs still wanted when the job was submitted */
	kb_slurm_job job;
	char *script;
	int submitted;
};

static int submit_test(kb_oracle *o, struct tjob *t, const kb_build_result *b)
{
	struct oracle_slurm *sl = o->slurm;

	memset(&t->job, 0, sizeof(t->job));
	if (!(t->script = test_script(o, b, &t->tk, t->want)))
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	snprintf(t->job.name, sizeof(t->job.name), "kbisect-test-%.12s", b->commit);
	t->job.script = t->script;
	t->job.time_min = test_minutes(o, t->want);
	if (kb_slurm_submit(sl->s, &t->job) != 0)
		return kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
	t->submitted = 1;
	sl->test_jobs++;
	kb_oracle__log(o, "slurm: testing %.12s (%u runs) as job %ld", b->commit, t->want,
		       t->job.id);
	return 0;
}

/* after the job: the runs it pushed; runs it did not bring back are infra */
static int test_collect(kb_oracle *o, struct tjob *t, unsigned want, kb_engine_outcome *oc)
{
	struct oracle_slurm *sl = o->slurm;
	int rc = kb_oracle__runs_cached(o, &t->tk, want, oc);

	if (rc)
		return rc;
	sl->lost += t->job.lost;
	if (oc->n_runs < want) {
		unsigned missing = want - (unsigned)oc->n_runs;
		kb_oracle__log(o, "slurm: test job %ld ended %s with %u of its runs missing: infra, "
			       "not evidence", t->job.id, t->job.state[0] ? t->job.state : "?",
			       missing);
		while (oc->n_runs < want && oc->n_runs < KB_ENGINE_MAX_RUNS) {
			kb_repro_run *r = &oc->runs[oc->n_runs++];
			r->klass = KB_RUN_INFRA;
			snprintf(r->title, sizeof(r->title), "slurm job %ld %s", t->job.id,
				 t->job.state[0] ? t->job.state : "ended without the run");
			sl->infra_runs++;
		}
	}
	return 0;
}

/* the tests of the kernels in res[0..n) (NULL: not buildable), all jobs at once */
static int tests_run(kb_oracle *o, const kb_build_result *const *res, const unsigned *want,
		     size_t n, kb_engine_outcome *out)
{
	struct tjob *t = calloc(n ? n : 1, sizeof(*t));
	kb_slurm_job **jobs = calloc(n ? n : 1, sizeof(*jobs));
	size_t m = 0;
	int rc = 0;

	if (!t || !jobs) {
		free(t), free(jobs);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	for (size_t i = 0; i < n && !rc; i++) {
		if (!res[i])
			continue;
		kb_oracle__test_key(o, res[i], &t[i].tk);
		if ((rc = kb_oracle__runs_cached(o, &t[i].tk, want[i], &out[i])) != 0)
			break;
		out[i].test_start = out[i].test_end = kb_now_s() - o->t0;
		if (out[i].n_runs >= want[i])
			continue;
		t[i].want = want[i] - (unsigned)out[i].n_runs;
		if ((rc = submit_test(o, &t[i], res[i])) == 0)
			jobs[m++] = &t[i].job;
	}
	if (!rc && m)
		rc = kb_slurm_wait(o->slurm->s, jobs, m, NULL, NULL);
	for (size_t i = 0; i < n && !rc; i++) {
		if (!t[i].submitted)
			continue;
		if ((rc = test_collect(o, &t[i], want[i], &out[i])) != 0)
			break;
		out[i].test_end = t[i].job.ended_at - o->t0;
	}
	for (size_t i = 0; i < n; i++) {
		if (rc && t[i].submitted)
			kb_slurm_cancel(o->slurm->s, &t[i].job);
		free(t[i].script);
	}
	free(t), free(jobs);
	return rc;
}

int kb_oracle__slurm_test(kb_oracle *o, const kb_build_result *b, unsigned want,
			  kb_engine_outcome *oc)
{
	const kb_build_result *res[1] = { b };

	return tests_run(o, res, &want, 1, oc);
}

/* ---- a round ---- */

/* what a build tells the engine (as oracle.c's build_outcome); 1 when testable */
static int outcome_of(kb_oracle *o, struct bjob *bj, kb_engine_outcome *oc)
{
	int built = bj->job.id != 0 && bj->res.how == KB_BUILD_CACHE_HIT;

	oc->build_start = oc->build_end = bj->job.submitted_at ? bj->job.submitted_at - o->t0 :
								 kb_now_s() - o->t0;
	if (built)
		oc->build_end = bj->job.ended_at - o->t0;
	oc->how = built ? KB_COST_BUILD : KB_COST_TEST;
	if (!bj->res.ok) {
		oc->buildable = 0;
		oc->test_start = oc->test_end = oc->build_end;
		o->a.log(o->a.log_ctx, bj->res.reason[0] ? bj->res.reason : "build failed");
		return 0;
	}
	if (bj->adopted) {
		oc->prebuilt = 1;
		oc->how = KB_COST_TEST;
	}
	oc->buildable = 1;
	oc->same_as_parent = kb_oracle__outside_build(o, bj->node, &bj->res);
	oc->has_signature = bj->res.has_signature;
	oc->signature = bj->res.signature;
	return 1;
}

int kb_oracle__slurm_execute(kb_oracle *o, const kb_engine_request *rq, size_t n,
			     kb_engine_outcome *out)
{
	struct bjob *bj = calloc(n ? n : 1, sizeof(*bj));
	const kb_build_result **res = calloc(n ? n : 1, sizeof(*res));
	unsigned *want = calloc(n ? n : 1, sizeof(*want));
	int rc = 0;

	if (!bj || !res || !want) {
		free(bj), free(res), free(want);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	spec_prune(o, rq, n);
	for (size_t i = 0; i < n && !rc; i++) {
		bj[i].node = rq[i].node;
		bj[i].rev = kb_gitdag_id(o->dag, rq[i].node);
		bj[i].tree = rq[i].worker;
		for (size_t p = 0; p < i; p++) /* a tree asked twice in one round: another */
			if (bj[p].tree == bj[i].tree)
				bj[i].tree = o->k + ORACLE_MAX_PRE + (unsigned)i;
		if (spec_adopt(o, &bj[i]))
			continue;
		int k = build_known(o, bj[i].rev, &bj[i].res);
		if (k < 0)
			rc = kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
		else if (k > 0)
			bj[i].at_hand = 1;
		else
			rc = submit_build(o, &bj[i].job, &bj[i].script, bj[i].rev, bj[i].tree,
					  "building");
	}
	if (!rc)
		spec_start(o); /* the guesses at the next round build meanwhile */
	if (!rc)
		rc = builds_wait(o, bj, n);
	if (!rc) {
		o->gen++; /* builds landed: predictions of "needs a build" expire */
		for (size_t i = 0; i < n; i++) {
			want[i] = rq[i].runs;
			res[i] = outcome_of(o, &bj[i], &out[i]) ? &bj[i].res : NULL;
		}
		rc = tests_run(o, res, want, n, out);
	}
	for (size_t i = 0; i < n; i++) {
		if (rc)
			kb_slurm_cancel(o->slurm->s, &bj[i].job);
		free(bj[i].script);
	}
	free(bj), free(res), free(want);
	return rc;
}
