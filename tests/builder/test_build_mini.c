/*
 * tests/builder/test_build_mini.c - the builder on a real git repository made here with
 * libgit2, holding a small kernel-like C project (tests/builder/mini_kernel) whose
 * build command writes Kbuild-style .cmd dependency files: built / cache hit /
 * dependency skip / cached failure, include shadowing, zero false skips against real
 * builds, prediction, and bad input (no repository, unknown revision, missing config,
 * a hanging build, a full disk) that leaves the cache untouched, and the estimated
 * time of an incremental build in a worker's tree.
 * kb-test-labels: integration
 * kb-test-timeout: 300
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "kbisect/builder.h"
#include "kbisect/cache.h"
#include "kbisect/error.h"
#include "kbisect/signature.h"
#include "kb_test.h"

struct fx {
	char *dir;
	char repo[4096], cache_dir[4096], work[4096], config[4096];
	git_repository *git;
	kb_cache *cache;
	int n_commits;
};

static void write_text(struct fx *f, const char *rel, const char *text)
{
	char path[8192];
	snprintf(path, sizeof(path), "%s/%s", f->repo, rel);
	assert_int_equal(kb_test_sh("mkdir -p \"$(dirname '%s')\"", path), 0);
	assert_int_equal(kb_test_write_file(path, text, strlen(text)), 0);
}

/* Commit everything in the work directory; out gets the commit id. */
static void commit_all(struct fx *f, const char *msg, char out[41])
{
	kb_test_git_commit_all(f->git, f->n_commits++, msg, out);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char c0[41];

	git_libgit2_init();
	f->dir = kb_test_tmpdir("build");
	snprintf(f->repo, sizeof(f->repo), "%s/repo", f->dir);
	snprintf(f->cache_dir, sizeof(f->cache_dir), "%s/cache", f->dir);
	snprintf(f->work, sizeof(f->work), "%s/work", f->dir);
	snprintf(f->config, sizeof(f->config), "%s/tests/builder/mini_kernel.config",
		 kb_test_source_dir());
	assert_int_equal(kb_test_sh("mkdir -p '%s' && cp -r '%s/tests/builder/mini_kernel/.' '%s/'",
				    f->repo, kb_test_source_dir(), f->repo),
			 0);
	assert_int_equal(git_repository_init(&f->git, f->repo, 0), 0);
	commit_all(f, "initial", c0);
	assert_int_equal(kb_cache_open(&f->cache, f->cache_dir, KB_CACHE_CREATE), KB_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kb_cache_free(f->cache);
	git_repository_free(f->git);
	kb_test_tmpdir_free(f->dir);
	free(f);
	git_libgit2_shutdown();
	return 0;
}

static void opts_for(struct fx *f, kb_build_opts *o, int worker)
{
	memset(o, 0, sizeof(*o));
	o->config_path = f->config;
	o->work_dir = f->work;
	o->worker = worker;
	o->jobs = 1;
	o->build_cmd = "sh scripts/build.sh";
	o->image_path = "bzImage";
	o->timeout_s = 120;
}

static int n_builds(kb_cache *c)
{
	kb_cache_stats st;
	assert_int_equal(kb_cache_stats_get(&st, c), KB_OK);
	return (int)st.builds;
}

/* The signature of rev built from scratch: its own cache, no dependency skip. */
static void reference_signature(struct fx *f, const char *rev, kb_key *out, int *ok)
{
	char dir[8192];
	kb_cache *c;
	kb_builder *b;
	kb_build_opts o;
	kb_build_result r;

	snprintf(dir, sizeof(dir), "%s/refcache", f->dir);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), KB_OK);
	opts_for(f, &o, 9);
	o.no_dep_skip = 1;
	assert_int_equal(kb_builder_open(&b, f->repo, c, &o), KB_OK);
	assert_int_equal(kb_builder_build(&r, b, rev), KB_OK);
	*ok = r.ok;
	if (r.ok)
		*out = r.signature;
	kb_builder_free(b);
	kb_cache_free(c);
}

static void test_bisect_build_mini__outcomes_and_zero_false_skips(void **state)
{
	struct fx *f = *state;
	kb_build_opts o;
	kb_builder *b;
	kb_build_result r, p;
	kb_key sig0, ref;
	char c[16][41];
	int ok, n;
	struct {
		const char *what;
		const char *path, *text;
		int expect;
	} steps[] = {
		{ "docs", "Documentation/readme.txt", "The mini kernel, documented.\n",
		  KB_BUILD_DEPENDENCY_SKIP },
		{ "other arch", "arch/arm/setup.c", "int arm_setup(void) { return 1; }\n",
		  KB_BUILD_DEPENDENCY_SKIP },
		{ "unbuilt driver", "drivers/unused.c", "int unused_driver(void) { return 8; }\n",
		  KB_BUILD_DEPENDENCY_SKIP },
		{ "new unrelated file", "drivers/new.c", "int new_driver(void) { return 9; }\n",
		  KB_BUILD_DEPENDENCY_SKIP },
		{ "code", "lib/lib.c", "#include \"lib.h\"\nint lib_value(void) { return 2; }\n",
		  KB_BUILD_BUILT },
		/* init/lib.h shadows include/lib.h for init/main.c's #include "lib.h" */
		{ "shadowing header", "init/lib.h",
		  "#define LIB_H\nstatic inline int lib_value(void) { return 3; }\n",
		  KB_BUILD_BUILT },
		{ "build script", "scripts/build.sh", NULL, KB_BUILD_BUILT },
		{ "docs again", "Documentation/readme.txt", "Once more.\n",
		  KB_BUILD_DEPENDENCY_SKIP },
	};

	opts_for(f, &o, 0);
	assert_int_equal(kb_builder_open(&b, f->repo, f->cache, &o), KB_OK);

	/* First build of HEAD: a real build with artifacts and a signature. */
	assert_int_equal(kb_builder_build(&r, b, "HEAD"), KB_OK);
	assert_int_equal(r.how, KB_BUILD_BUILT);
	assert_true(r.ok);
	assert_true(r.has_signature);
	assert_non_null(kb_build_result_artifact(&r, "vmlinux"));
	assert_non_null(kb_build_result_artifact(&r, "bzImage"));
	assert_non_null(kb_build_result_artifact(&r, "config"));
	assert_non_null(kb_build_result_artifact(&r, "log"));
	sig0 = r.signature;
	{
		/* The stored vmlinux has the recorded signature. */
		char path[8192];
		kb_key s;
		snprintf(path, sizeof(path), "%s/vmlinux.out", f->dir);
		assert_int_equal(kb_cache_get_file(f->cache, kb_build_result_artifact(&r, "vmlinux"),
						   path),
				 KB_OK);
		assert_int_equal(kb_signature_file(&s, path), KB_OK);
		assert_true(kb_key_equal(&s, &sig0));
	}

	/* Same commit again: a cache hit that runs nothing; each lookup is counted once
	 * (the first one as a miss, this one as a hit). */
	{
		kb_cache_stats st0, st1;
		assert_int_equal(kb_cache_stats_get(&st0, f->cache), KB_OK);
		assert_int_equal(st0.build_misses, 1);
		assert_int_equal(kb_builder_build(&r, b, "HEAD"), KB_OK);
		assert_int_equal(kb_cache_stats_get(&st1, f->cache), KB_OK);
		assert_int_equal(st1.build_hits, st0.build_hits + 1);
		assert_int_equal(st1.build_misses, st0.build_misses);
	}
	assert_int_equal(r.how, KB_BUILD_CACHE_HIT);
	assert_true(kb_key_equal(&r.signature, &sig0));
	assert_true(r.saved_seconds > 0);

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].text) {
			write_text(f, steps[i].path, steps[i].text);
		} else {
			char path[8192];
			snprintf(path, sizeof(path), "%s/%s", f->repo, steps[i].path);
			assert_int_equal(kb_test_sh("echo '# touched' >> '%s'", path), 0);
		}
		commit_all(f, steps[i].what, c[i]);
		n = n_builds(f->cache);
		/* The cheap prediction agrees with what the build then does, writes nothing. */
		assert_int_equal(kb_builder_predict(&p, b, c[i]), KB_OK);
		assert_int_equal(n_builds(f->cache), n);
		assert_int_equal(kb_builder_build(&r, b, c[i]), KB_OK);
		print_message("step %zu (%s): %s %s\n", i, steps[i].what, kb_build_how_name(r.how),
			      r.reason);
		assert_int_equal(r.how, steps[i].expect);
		assert_int_equal(p.how, steps[i].expect == KB_BUILD_BUILT ? KB_BUILD_NEEDS_BUILD
									  : steps[i].expect);
		assert_true(r.ok);
		if (r.how == KB_BUILD_DEPENDENCY_SKIP) {
			assert_true(r.reused_from[0] != '\0');
			/* Zero false skips: the real build gives the same signature. */
			reference_signature(f, c[i], &ref, &ok);
			assert_true(ok);
			assert_true(kb_key_equal(&ref, &r.signature));
			/* A second time, the skip is a plain cache hit. */
			assert_int_equal(kb_builder_build(&p, b, c[i]), KB_OK);
			assert_int_equal(p.how, KB_BUILD_CACHE_HIT);
			assert_true(kb_key_equal(&p.signature, &r.signature));
		}
		if (!strcmp(steps[i].what, "code") || !strcmp(steps[i].what, "shadowing header"))
			assert_false(kb_key_equal(&r.signature, &sig0));
		sig0 = r.signature;
	}
	kb_builder_free(b);
}

static void test_bisect_build_mini__failure_is_cached_with_first_error(void **state)
{
	struct fx *f = *state;
	kb_build_opts o;
	kb_builder *b;
	kb_build_result r;
	char c1[41];
	int n;

	write_text(f, "lib/lib.c", "#include \"lib.h\"\nint lib_value(void) { return oops; }\n");
	commit_all(f, "broken", c1);
	opts_for(f, &o, 0);
	assert_int_equal(kb_builder_open(&b, f->repo, f->cache, &o), KB_OK);
	assert_int_equal(kb_builder_build(&r, b, c1), KB_OK);
	assert_int_equal(r.how, KB_BUILD_BUILT);
	assert_false(r.ok);
	assert_non_null(strstr(r.reason, "lib/lib.c"));
	assert_non_null(strstr(r.reason, "error"));
	assert_non_null(strstr(r.reason, "oops"));
	assert_non_null(kb_build_result_artifact(&r, "log"));
	n = n_builds(f->cache);
	assert_int_equal(kb_builder_build(&r, b, c1), KB_OK);
	assert_int_equal(r.how, KB_BUILD_CACHED_FAILURE);
	assert_false(r.ok);
	assert_non_null(strstr(r.reason, "oops"));
	assert_int_equal(n_builds(f->cache), n);
	kb_builder_free(b);
}

static void test_bisect_build_mini__bad_input_leaves_cache_untouched(void **state)
{
	struct fx *f = *state;
	kb_build_opts o;
	kb_builder *b;
	kb_build_result r;
	char missing[8192];

	opts_for(f, &o, 0);
	/* Not a repository. */
	assert_int_equal(kb_builder_open(&b, f->work, f->cache, &o), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "not a git repository"));
	assert_int_equal(kb_builder_open(&b, "/nonexistent/repo", f->cache, &o), KB_ENOTFOUND);
	/* Missing config. */
	snprintf(missing, sizeof(missing), "%s/no-such.config", f->dir);
	o.config_path = missing;
	assert_int_equal(kb_builder_open(&b, f->repo, f->cache, &o), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "no-such.config"));
	opts_for(f, &o, 0);
	/* Unknown compiler. */
	o.cc = "no-such-compiler-kbisect";
	assert_int_equal(kb_builder_open(&b, f->repo, f->cache, &o), KB_ENOTFOUND);
	opts_for(f, &o, 0);

	/* Unknown revision. */
	assert_int_equal(kb_builder_open(&b, f->repo, f->cache, &o), KB_OK);
	assert_int_equal(kb_builder_build(&r, b, "no-such-branch"), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "no-such-branch"));
	assert_int_equal(kb_builder_predict(&r, b, "0123456789abcdef0123456789abcdef01234567"),
			 KB_ENOTFOUND);
	kb_builder_free(b);
	assert_int_equal(n_builds(f->cache), 0);

	/* A build that hangs: killed at the time limit, nothing recorded. */
	o.build_cmd = "sleep 60";
	o.timeout_s = 1;
	assert_int_equal(kb_builder_open(&b, f->repo, f->cache, &o), KB_OK);
	assert_int_equal(kb_builder_build(&r, b, "HEAD"), KB_ETIMEOUT);
	assert_non_null(strstr(kb_error_last()->message, "time limit"));
	assert_int_equal(r.infra, 1);
	kb_builder_free(b);
	assert_int_equal(n_builds(f->cache), 0);

	/* A full disk (as the build reports it): the host's fault, nothing recorded. */
	opts_for(f, &o, 0);
	o.build_cmd = "echo 'cc1: error: No space left on device' >&2; exit 1";
	assert_int_equal(kb_builder_open(&b, f->repo, f->cache, &o), KB_OK);
	assert_int_equal(kb_builder_build(&r, b, "HEAD"), KB_EFULL);
	assert_non_null(strstr(kb_error_last()->message, "disk full"));
	assert_non_null(strstr(kb_error_last()->message, "because of the host"));
	assert_int_equal(r.infra, 1);
	kb_builder_free(b);
	assert_int_equal(n_builds(f->cache), 0);
}

static void test_bisect_build_mini__busy_worker_returns_elocked(void **state)
{
	struct fx *f = *state;
	kb_build_opts o;
	kb_builder *b;
	kb_build_result r;
	char lock[8192];

	opts_for(f, &o, 3);
	assert_int_equal(kb_builder_open(&b, f->repo, f->cache, &o), KB_OK);
	/* Another process holds worker 3's lock. */
	snprintf(lock, sizeof(lock), "%s/../lock", kb_builder_work_tree(b));
	assert_int_equal(kb_test_sh("mkdir -p \"$(dirname '%s')\" && (flock -n '%s' sleep 5 &) && sleep 0.5",
				    lock, lock),
			 0);
	assert_int_equal(kb_builder_build(&r, b, "HEAD"), KB_ELOCKED);
	kb_builder_free(b);
	assert_int_equal(n_builds(f->cache), 0);
}

/* kb_builder_predict()'s est_seconds: a change read by more objects costs more, the
 * work tree's state survives the builder (<worker_dir>/built-tree), and a worker whose
 * tree state is unknown gets the mean of recorded builds. */
static void test_bisect_build_mini__estimate_follows_the_work_tree(void **state)
{
	struct fx *f = *state;
	kb_build_opts o;
	kb_builder *b, *b2, *other;
	kb_build_result r0, r, p1, p2, p;
	char c0[41], c1[41], c2[41];
	double full;

	snprintf(c0, sizeof(c0), "HEAD");
	opts_for(f, &o, 0);
	assert_int_equal(kb_builder_open(&b, f->repo, f->cache, &o), KB_OK);
	/* nothing recorded yet: no estimate */
	assert_int_equal(kb_builder_predict(&p, b, "HEAD"), KB_OK);
	assert_int_equal(p.how, KB_BUILD_NEEDS_BUILD);
	assert_true(p.est_seconds == 0);
	assert_int_equal(kb_builder_build(&r0, b, "HEAD"), KB_OK);
	assert_int_equal(r0.how, KB_BUILD_BUILT);
	snprintf(c0, sizeof(c0), "%s", r0.commit);
	/* c1 changes lib/lib.c (read by lib.o), c2 also include/lib.h (main.o and lib.o) */
	write_text(f, "lib/lib.c", "#include \"lib.h\"\nint lib_value(void) { return 2; }\n");
	commit_all(f, "lib.c", c1);
	write_text(f, "include/lib.h", "#ifndef LIB_H\n#define LIB_H\nint lib_value(void);\n"
				      "#define LIB_TWO 2\n#endif\n");
	commit_all(f, "lib.h", c2);

	assert_int_equal(kb_builder_predict(&p1, b, c1), KB_OK);
	assert_int_equal(kb_builder_predict(&p2, b, c2), KB_OK);
	assert_int_equal(p1.how, KB_BUILD_NEEDS_BUILD);
	assert_int_equal(p2.how, KB_BUILD_NEEDS_BUILD);
	assert_true(p1.est_seconds > 0);
	assert_true(p1.est_seconds < p2.est_seconds);
	assert_true(p2.est_seconds <= p2.saved_seconds * 1.0001); /* at most a full build */
	assert_int_equal(kb_builder_predict(&p, b, c0), KB_OK);
	assert_int_equal(p.how, KB_BUILD_CACHE_HIT);
	assert_true(p.est_seconds == 0);

	/* another builder on the same worker (a later run) knows the tree's state */
	assert_int_equal(kb_builder_open(&b2, f->repo, f->cache, &o), KB_OK);
	assert_int_equal(kb_builder_predict(&p, b2, c1), KB_OK);
	assert_true(p.est_seconds == p1.est_seconds);
	/* a worker that never built: the mean of recorded builds */
	opts_for(f, &o, 1);
	assert_int_equal(kb_builder_open(&other, f->repo, f->cache, &o), KB_OK);
	assert_int_equal(kb_builder_predict(&p, other, c1), KB_OK);
	assert_true(p.est_seconds == p.saved_seconds);

	/* once c2 is built there, c1 is one lib.c away... and one lib.h: both objects */
	assert_int_equal(kb_builder_build(&r, b2, c2), KB_OK);
	assert_int_equal(r.how, KB_BUILD_BUILT);
	assert_int_equal(kb_builder_predict(&p, b, c1), KB_OK); /* b sees b2's build */
	full = p.saved_seconds > 0 ? p.saved_seconds : 1;
	assert_true(p.est_seconds > 0 && p.est_seconds <= 2 * full);
	kb_builder_free(other);
	kb_builder_free(b2);
	kb_builder_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bisect_build_mini__outcomes_and_zero_false_skips,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bisect_build_mini__failure_is_cached_with_first_error,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bisect_build_mini__bad_input_leaves_cache_untouched,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bisect_build_mini__busy_worker_returns_elocked,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bisect_build_mini__estimate_follows_the_work_tree,
						setup, teardown),
	};
	return cmocka_run_group_tests_name("builder/build_mini", tests, NULL, NULL);
}
