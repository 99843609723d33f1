/*
 * bisect/minimize.c - config minimization on real kernels (kbisect/minimize.h): SMALL
 * and BIG built at one revision, q and the target title learned on BIG, subsets of the
 * resolved difference built and tested until the search (minimize_search.c) is done.
 * Owns: the subset configs (<cache>/minimize/<sha256>.config, written whole and then
 * renamed), a builder per config on worker tree 0 (incremental: Kbuild rebuilds the
 * files that use a changed option; a config built before is a cache hit), the runs of
 * one subset until the judge decides, the counters and the result.
 * Not: the judge and search (minimize_search.c), configs as option sets
 * (minimize_config.c), test runs and their cache records (oracle_test.c).
 * DESIGN: the oracle (oracle.c) is opened for its pool and its cached test runs; a run
 * is evidence only when the pool says so (a host failure is never counted, and never
 * stored: oracle_test.c). Runs of one subset go in batches of --vms and stop at the
 * first target crash or at the judge's clean verdict.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error_internal.h"
#include "kbisect/minimize.h"
#include "kbisect/report.h"
#include "oracle_internal.h"

struct mz {
	const kb_minimize_opts *a;
	kb_oracle *o;
	kb_cache *cache;
	kb_minimize_result *r;
	kb_judge judge;
	kb_kconfig diff;
	char *small_text;        /* resolved SMALL */
	size_t small_len;
	char dir[4200];          /* <cache>/minimize */
	kb_build_result small_res; /* the build of SMALL: the empty subset's kernel */
	kb_engine_outcome *oc;   /* scratch */
};

#define LOG(m, ...) kb_oracle__log((m)->o, __VA_ARGS__)

/* a builder for the config file at path (worker tree 0) */
static int open_builder(struct mz *m, kb_builder **b, const char *path)
{
	const kb_oracle_opts *oo = &m->a->oracle;
	kb_build_opts bo = { .config_path = path, .work_dir = oo->work_dir, .worker = 0,
			     .jobs = (int)oo->jobs, .ccache = oo->ccache,
			     .ccache_remote = oo->ccache_remote, .build_cmd = oo->build_cmd,
			     .image_path = oo->image, .quiet = 1 };
	return kb_builder_open(b, oo->repo, m->cache, &bo);
}

/* build rev with the config at path into *res (counted); 0 or the failure */
static int build(struct mz *m, const char *path, const char *what, kb_build_result *res)
{
	kb_builder *b = NULL;
	int rc = open_builder(m, &b, path);

	if (rc == 0)
		rc = kb_builder_build(res, b, m->a->rev);
	kb_builder_free(b);
	if (rc) {
		kb_error_prefix("building %s at %s", what, m->a->rev);
		return rc;
	}
	if (res->how == KB_BUILD_BUILT) {
		m->r->builds++;
		LOG(m, "built %s in %.1fs%s", what, res->seconds, res->ok ? "" : " (failed)");
	} else {
		m->r->build_hits++;
		LOG(m, "kernel of %s from the cache (%s; its build took %.1fs)", what,
		    kb_build_how_name(res->how), res->saved_seconds);
	}
	return 0;
}

/* seconds the build of res took when it ran */
static double build_seconds(const kb_build_result *res)
{
	return res->how == KB_BUILD_BUILT ? res->seconds : res->saved_seconds;
}

/* the resolved config of a build (its "config" artifact) */
static int resolved(struct mz *m, const kb_build_result *res, const char *what, char **text,
		    size_t *len)
{
	const kb_key *id = kb_build_result_artifact(res, "config");
	void *buf = NULL;
	char *t;

	if (!id)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BISECT, "the build of %s at %s "
				     "kept no .config: config minimization needs the resolved "
				     "config (make olddefconfig) in .config; a --build-cmd must "
				     "leave it there", what, m->a->rev);
	if (kb_cache_get_buf(&buf, len, m->cache, id) != 0)
		return kb_error_last()->code ? kb_error_last()->code : KB_ERROR;
	t = realloc(buf, *len + 1);
	if (!t) {
		free(buf);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	t[*len] = '\0';
	*text = t;
	return 0;
}

/* write text as <cache>/minimize/<sha256>.config (whole, then renamed) into path */
static int write_config(struct mz *m, const char *text, size_t len, char *path, size_t plen)
{
	char hex[KB_KEY_HEXLEN + 1], tmp[4400];
	kb_key k;
	FILE *f;

	kb_sha256(&k, text, len);
	kb_key_to_hex(hex, &k);
	snprintf(path, plen, "%s/%s.config", m->dir, hex);
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	f = fopen(tmp, "wb");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		int e = errno;
		if (f)
			fclose(f);
		unlink(tmp);
		errno = e;
		return kb_error_os("cannot write the subset config '%s'", tmp);
	}
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return kb_error_os("cannot rename '%s' to '%s'", tmp, path);
	}
	return 0;
}

/* 1 when run is the target crash (learning it from the first crash when unknown) */
static int is_target(struct mz *m, const kb_repro_run *run)
{
	if (run->klass != KB_RUN_CRASH)
		return 0;
	if (m->a->any_crash)
		return 1;
	if (!m->r->title[0])
		snprintf(m->r->title, sizeof(m->r->title), "%s", run->title);
	return kb_report_title_matches(m->r->title, run->title);
}

static const char *run_word(int klass)
{
	switch (klass) {
	case KB_RUN_OK: return "clean";
	case KB_RUN_CRASH: return "crashed";
	case KB_RUN_BOOT_FAILURE: return "boot failure";
	default: return "infra";
	}
}

/* runs of the reproducer on the kernel of res in batches of the pool's VMs, until
 * done(): counts into *crashes, *clean, *boot_fail, *total */
struct tally {
	unsigned crashes, clean, boot_fail, other, total;
};

static int run_batch(struct mz *m, const kb_build_result *res, unsigned want, struct tally *t)
{
	int rc;

	memset(m->oc, 0, sizeof(*m->oc));
	if (want > KB_ENGINE_MAX_RUNS)
		want = KB_ENGINE_MAX_RUNS;
	if ((rc = kb_oracle__test_kernel(m->o, res, want, m->oc)) != 0)
		return rc;
	for (size_t i = 0; i < m->oc->n_runs; i++) {
		const kb_repro_run *run = &m->oc->runs[i];
		t->total++;
		m->r->runs++;
		if (is_target(m, run))
			t->crashes++;
		else if (run->klass == KB_RUN_OK)
			t->clean++;
		else if (run->klass == KB_RUN_BOOT_FAILURE)
			t->boot_fail++;
		else
			t->other++;
		LOG(m, "  run #%u: %s%s%s", t->total, run_word(run->klass), run->title[0] ? ": " : "",
		    run->title);
	}
	return 0;
}

static unsigned batch_size(const struct mz *m)
{
	return m->a->oracle.vms ? m->a->oracle.vms : 2;
}

/* ---- the test of one subset (kb_minimize_test_fn) ---- */

static int test_subset(void *ctx, const size_t *set, size_t n, int *crashes)
{
	struct mz *m = ctx;
	char *text = NULL, path[4400], what[160], line[4200];
	size_t len = 0;
	kb_build_result res;
	struct tally t = { 0 };
	int rc;

	*crashes = 0;
	m->r->tests++;
	if (n == 0)
		snprintf(what, sizeof(what), "SMALL alone");
	else if (n == 1)
		snprintf(what, sizeof(what), "SMALL + %s",
			 kb_kconfig_line(line, sizeof(line), &m->diff.v[set[0]]));
	else
		snprintf(what, sizeof(what), "SMALL + %zu options", n);
	LOG(m, "test %u: %s", m->r->tests, what);
	if (n == 0) { /* SMALL itself: its resolved text would only be a second build of it */
		res = m->small_res;
		goto test;
	}
	if ((rc = kb_kconfig_apply(&text, &len, m->small_text, m->small_len, &m->diff, set, n)) ||
	    (rc = write_config(m, text, len, path, sizeof(path))) ||
	    (rc = build(m, path, what, &res))) {
		free(text);
		return rc;
	}
	free(text);
	if (!res.ok) {
		LOG(m, "  %s does not build (%s): taken as not crashing", what,
		    res.reason[0] ? res.reason : "build failed");
		return 0;
	}
test:
	for (;;) {
		int v = kb_judge_verdict(&m->judge, t.crashes, t.clean);
		if (v == KB_JUDGE_CRASHES) {
			*crashes = 1;
			LOG(m, "  verdict: crashes (%s)", m->r->title);
			return 0;
		}
		if (v == KB_JUDGE_CLEAN) {
			LOG(m, "  verdict: does not crash (P(still crashes) = %.3f after %u clean runs)",
			    kb_judge_p_crashes(&m->judge, t.clean), t.clean);
			return 0;
		}
		if (t.boot_fail && !t.clean) {
			LOG(m, "  the kernel of %s does not boot: taken as not crashing", what);
			return 0;
		}
		if (t.total >= KB_JUDGE_MAX_RUNS)
			return kb_error_setc(KB_ERROR, KB_ERRCLASS_BISECT, "%u runs on %s gave no "
					     "verdict (%u clean, %u other outcomes: infra, other "
					     "crashes); check the pool and the reproducer", t.total,
					     what, t.clean, t.other);
		if ((rc = run_batch(m, &res, batch_size(m), &t)) != 0)
			return rc;
	}
}

/* ---- BIG and SMALL ---- */

/* P(q <= x) for q ~ Beta(a, b), on a grid: the 5% and 95% points */
static void beta_interval(double a, double b, double *lo, double *hi)
{
	enum { N = 4000 };
	double sum = 0, acc = 0;

	*lo = 0, *hi = 1;
	for (int i = 0; i < N; i++) {
		double x = (i + 0.5) / N;
		sum += exp((a - 1) * log(x) + (b - 1) * log(1 - x));
	}
	for (int i = 0; i < N; i++) {
		double x = (i + 0.5) / N, p = exp((a - 1) * log(x) + (b - 1) * log(1 - x)) / sum;
		if (acc < 0.05 && acc + p >= 0.05)
			*lo = x;
		if (acc < 0.95 && acc + p >= 0.95)
			*hi = x;
		acc += p;
	}
}

/* runs on BIG: the title, q; KB_EINVAL when it does not crash */
static int learn_on_big(struct mz *m, const kb_build_result *res)
{
	unsigned want = m->a->big_runs ? m->a->big_runs : 10;
	struct tally t = { 0 };
	int rc;

	m->r->tests++;
	LOG(m, "test %u: BIG (%u runs to learn the crash rate q)", m->r->tests, want);
	if (m->a->target_title)
		snprintf(m->r->title, sizeof(m->r->title), "%s", m->a->target_title);
	while (t.total < want) {
		unsigned n = want - t.total;
		if ((rc = run_batch(m, res, n > batch_size(m) ? batch_size(m) : n, &t)) != 0)
			return rc;
	}
	m->r->big_crashes = t.crashes;
	m->r->big_clean = t.clean;
	if (!t.crashes)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "BIG (--config %s) does not "
				     "crash at %s: no %s in %u runs of %s (%u clean, %u boot "
				     "failures, %u other); give a config and revision the "
				     "reproducer crashes, or more --runs-per-test for a rare crash",
				     m->a->oracle.config, m->a->rev,
				     m->a->target_title ? "target crash" : "crash", t.total,
				     m->a->oracle.repro, t.clean, t.boot_fail, t.other);
	kb_judge_init(&m->judge, t.crashes, t.clean, m->a->confidence);
	m->r->q = m->judge.a / (m->judge.a + m->judge.b);
	beta_interval(m->judge.a, m->judge.b, &m->r->q_lo, &m->r->q_hi);
	LOG(m, "BIG crashes: %s in %u of %u runs (q = %.2f [%.2f, %.2f]); a subset is clean "
	    "after %u clean runs at confidence %.3f", m->r->title, t.crashes, t.total, m->r->q,
	    m->r->q_lo, m->r->q_hi, kb_judge_clean_needed(&m->judge), m->judge.confidence);
	return 0;
}

/* SMALL and BIG built, q learned, the difference of their resolved configs */
static int prepare(struct mz *m, double *small_s, double *big_s)
{
	kb_build_result res;
	kb_kconfig big = { 0 }, small = { 0 };
	char *big_text = NULL;
	size_t big_len = 0;
	int rc;

	if ((rc = build(m, m->a->baseline, "SMALL", &res)) != 0)
		return rc;
	if (!res.ok)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "SMALL (--baseline %s) does "
				     "not build at %s: %s; give a small config that builds there "
				     "(e.g. the output of make tinyconfig or defconfig)",
				     m->a->baseline, m->a->rev,
				     res.reason[0] ? res.reason : "build failed");
	*small_s = build_seconds(&res);
	m->small_res = res;
	if ((rc = resolved(m, &res, "SMALL", &m->small_text, &m->small_len)) != 0)
		return rc;
	if ((rc = build(m, m->a->oracle.config, "BIG", &res)) != 0)
		return rc;
	if (!res.ok)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "BIG (--config %s) does not "
				     "build at %s: %s; give the config the crash was seen with",
				     m->a->oracle.config, m->a->rev,
				     res.reason[0] ? res.reason : "build failed");
	*big_s = build_seconds(&res);
	if ((rc = learn_on_big(m, &res)) != 0 ||
	    (rc = resolved(m, &res, "BIG", &big_text, &big_len)) != 0)
		return rc;
	if ((rc = kb_kconfig_parse(&big, big_text, big_len)) == 0 &&
	    (rc = kb_kconfig_parse(&small, m->small_text, m->small_len)) == 0)
		rc = kb_kconfig_diff(&m->diff, &big, &small);
	kb_kconfig_free(&big);
	kb_kconfig_free(&small);
	free(big_text);
	if (rc == 0)
		LOG(m, "%zu options differ between BIG and SMALL after make olddefconfig",
		    m->diff.n);
	return rc;
}

/* the minimized config: SMALL + needed, built (a cache hit by now), resolved */
static int finish(struct mz *m, const kb_minimize_found *f)
{
	kb_kconfig small = { 0 }, got = { 0 }, d = { 0 };
	kb_build_result res;
	char *text = NULL, path[4400] = "(SMALL)";
	size_t len = 0;
	int rc;

	m->r->needed.v = calloc(f->n_needed ? f->n_needed : 1, sizeof(kb_kconfig_opt));
	if (!m->r->needed.v)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	for (size_t i = 0; i < f->n_needed; i++) {
		const kb_kconfig_opt *o = &m->diff.v[f->needed[i]];
		kb_kconfig_opt *p = &m->r->needed.v[m->r->needed.n];
		p->name = strdup(o->name);
		p->value = strdup(o->value);
		m->r->needed.n++;
		if (!p->name || !p->value)
			return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	if (f->n_needed == 0) { /* SMALL crashes by itself */
		res = m->small_res;
	} else if ((rc = kb_kconfig_apply(&text, &len, m->small_text, m->small_len, &m->diff,
					  f->needed, f->n_needed)) ||
		   (rc = write_config(m, text, len, path, sizeof(path))) ||
		   (rc = build(m, path, "the minimized config", &res))) {
		free(text);
		return rc;
	}
	free(text);
	if (!res.ok)
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_BISECT, "the minimized config "
				     "(%s) does not build: %s", path, res.reason);
	m->r->min_build_s = build_seconds(&res);
	if ((rc = resolved(m, &res, "the minimized config", &m->r->config,
			   &m->r->config_len)) != 0)
		return rc;
	if ((rc = kb_kconfig_parse(&small, m->small_text, m->small_len)) == 0 &&
	    (rc = kb_kconfig_parse(&got, m->r->config, m->r->config_len)) == 0 &&
	    (rc = kb_kconfig_diff(&d, &got, &small)) == 0)
		m->r->n_config_diff = d.n;
	kb_kconfig_free(&small);
	kb_kconfig_free(&got);
	kb_kconfig_free(&d);
	return rc;
}

int kb_minimize_run(kb_minimize_result *out, kb_cache *cache, kb_remote *remote,
		    const kb_minimize_opts *opts)
{
	struct mz m = { .a = opts, .cache = cache, .r = out };
	kb_minimize_found f = { 0 };
	kb_oracle_opts oo = opts->oracle;
	double t0 = kb_now_s();
	int rc;

	memset(out, 0, sizeof(*out));
	if (!opts->rev || !opts->baseline || !oo.config || !oo.repro || !oo.repo ||
	    !oo.cache_dir || !oo.log)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BISECT, "config minimize needs a "
				     "repository, a revision, BIG, SMALL, a reproducer, a cache "
				     "and a log");
	if (access(opts->baseline, R_OK) != 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BISECT, "cannot read SMALL "
				     "'%s': %s; give an existing config with --baseline",
				     opts->baseline, strerror(errno));
	if (access(oo.config, R_OK) != 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BISECT, "cannot read BIG '%s': "
				     "%s; give an existing config with --config", oo.config,
				     strerror(errno));
	oo.workers = 1;
	oo.prebuild = 0;
	snprintf(m.dir, sizeof(m.dir), "%s/minimize", oo.cache_dir);
	if (mkdir(m.dir, 0755) != 0 && errno != EEXIST)
		return kb_error_os("cannot create '%s'", m.dir);
	m.oc = calloc(1, sizeof(*m.oc));
	if (!m.oc)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	if ((rc = kb_oracle_open(&m.o, cache, remote, &oo)) != 0)
		goto out;
	if ((rc = prepare(&m, &out->small_build_s, &out->big_build_s)) != 0)
		goto out;
	out->n_diff = m.diff.n;
	if ((rc = kb_minimize_search(&f, m.diff.n, test_subset, &m)) != 0)
		goto out;
	out->confirmed = f.confirmed;
	if (!f.confirmed)
		LOG(&m, "warning: SMALL + the options found was never seen crashing (a clean "
		    "verdict was wrong, or the crash needs an option in a way the search does "
		    "not see); raise --confidence");
	rc = finish(&m, &f);
out:
	out->seconds = kb_now_s() - t0;
	kb_minimize_found_free(&f);
	kb_kconfig_free(&m.diff);
	free(m.small_text);
	free(m.oc);
	kb_oracle_free(m.o);
	return rc;
}

void kb_minimize_result_free(kb_minimize_result *r)
{
	if (!r)
		return;
	kb_kconfig_free(&r->needed);
	free(r->config);
	r->config = NULL;
}
