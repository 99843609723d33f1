/*
 * tests/builder/test_build_kernel.c - the builder on a real kernel: Debian's
 * linux-source-6.1 imported into git (scripts/kernel-repo.sh, cached), a tinyconfig-
 * based x86_64 config, and three synthetic commits: one touching Documentation/, one
 * touching another architecture, one touching a file the config compiles, one touching
 * a Kconfig file. Expected: skip, skip, rebuild with a new signature (without a config
 * step: no Kconfig input changed), rebuild with the config step and the same signature
 * - and each skip checked against a real build of the same commit (identical
 * signature: zero false skips).
 * Skipped when /usr/src/linux-source-6.1.tar.xz is not installed. A cold run makes
 * one full tinyconfig build (~2-6 min on 2 cores) and four incremental ones;
 * KB_TEST_KERNEL_WORK=DIR keeps the work trees between runs.
 * kb-test-labels: slow
 * kb-test-timeout: 3000
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kbisect/builder.h"
#include "kbisect/cache.h"
#include "kbisect/error.h"
#include "kb_test.h"

/* Run a shell command, keep the last line of its stdout in out. */
static int sh_line(char *out, size_t len, const char *cmd)
{
	FILE *p = popen(cmd, "r");
	char line[4096];

	if (!p)
		return -1;
	out[0] = '\0';
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(out, len, "%s", line);
	}
	return pclose(p) == 0 && out[0] ? 0 : -1;
}

static void new_commit(char out[64], const char *script, const char *base, const char *msg,
		       const char *file, const char *text)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "bash '%s' commit '%s' '%s' '%s' '%s'", script, base, msg, file,
		 text);
	assert_int_equal(sh_line(out, 64, cmd), 0);
	assert_int_equal(strlen(out), 40);
}

static void build_one(kb_build_result *r, const char *repo, const char *cache_dir,
		      const char *config, const char *work, int no_dep_skip, const char *rev)
{
	kb_build_opts o;
	kb_cache *c;
	kb_builder *b;

	memset(&o, 0, sizeof(o));
	o.config_path = config;
	o.work_dir = work;
	o.jobs = 2;
	o.no_dep_skip = no_dep_skip;
	o.timeout_s = 2400;
	assert_int_equal(kb_cache_open(&c, cache_dir, KB_CACHE_CREATE), KB_OK);
	assert_int_equal(kb_builder_open(&b, repo, c, &o), KB_OK);
	if (kb_builder_build(r, b, rev) != KB_OK)
		fail_msg("build of %s: %s", rev, kb_error_last()->message);
	print_message("%.12s: %s in %.1fs %s\n", rev, kb_build_how_name(r->how), r->seconds,
		      r->reason);
	if (!r->ok)
		fail_msg("build of %s failed: %s", rev, r->reason);
	kb_builder_free(b);
	kb_cache_free(c);
}

static void test_bisect_build_kernel__docs_arch_skip_code_rebuilds(void **state)
{
	char *dir, script[4096], repo[4096], config[8192], cache[8192], ref_cache[8192],
		work[8192], cmd[16384];
	char c_docs[64], c_arch[64], c_code[64], c_kcfg[64];
	kb_build_result base, r, ref;
	(void)state;

	if (access("/usr/src/linux-source-6.1.tar.xz", R_OK) != 0) {
		print_message("linux-source-6.1 not installed: skipped\n");
		skip();
	}
	snprintf(script, sizeof(script), "%s/scripts/kernel-repo.sh", kb_test_source_dir());
	snprintf(cmd, sizeof(cmd), "bash '%s'", script);
	assert_int_equal(sh_line(repo, sizeof(repo), cmd), 0);
	dir = kb_test_tmpdir("kbuild");
	snprintf(config, sizeof(config), "%s/tiny.config", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(ref_cache, sizeof(ref_cache), "%s/refcache", dir);
	/* KB_TEST_KERNEL_WORK keeps the work trees between runs (incremental builds). */
	if (getenv("KB_TEST_KERNEL_WORK"))
		snprintf(work, sizeof(work), "%s", getenv("KB_TEST_KERNEL_WORK"));
	else
		snprintf(work, sizeof(work), "%s/work", dir);
	assert_int_equal(kb_test_sh("bash '%s' tinyconfig '%s' 2>/dev/null", script, config), 0);

	new_commit(c_docs, script, "import", "docs: clarify", "Documentation/process/howto.rst",
		   "kbisect test line");
	new_commit(c_arch, script, c_docs, "arm64: comment", "arch/arm64/kernel/setup.c",
		   "/* kbisect test */");
	new_commit(c_code, script, c_arch, "init: marker", "init/main.c",
		   "int kbisect_test_marker = 42;");
	new_commit(c_kcfg, script, c_code, "init: Kconfig comment", "init/Kconfig",
		   "# kbisect test");

	build_one(&base, repo, cache, config, work, 0, "import");
	assert_int_equal(base.how, KB_BUILD_BUILT);
	assert_true(base.has_signature);

	build_one(&r, repo, cache, config, work, 0, c_docs);
	assert_int_equal(r.how, KB_BUILD_DEPENDENCY_SKIP);
	assert_true(kb_key_equal(&r.signature, &base.signature));
	build_one(&r, repo, cache, config, work, 0, c_arch);
	assert_int_equal(r.how, KB_BUILD_DEPENDENCY_SKIP);
	assert_true(kb_key_equal(&r.signature, &base.signature));
	build_one(&r, repo, cache, config, work, 0, c_code);
	assert_int_equal(r.how, KB_BUILD_BUILT);
	assert_false(kb_key_equal(&r.signature, &base.signature));
	/* no Kconfig input changed since the tree's last config step: none this time */
	assert_int_equal(kb_test_sh("grep -q 'olddefconfig skipped' '%s'/*/w0/build.log", work), 0);

	/* a Kconfig change: the config step runs again (the kernel stays the same) */
	build_one(&ref, repo, cache, config, work, 0, c_kcfg);
	assert_int_equal(ref.how, KB_BUILD_BUILT);
	assert_true(kb_key_equal(&ref.signature, &r.signature));
	assert_int_not_equal(kb_test_sh("grep -q 'olddefconfig skipped' '%s'/*/w0/build.log", work),
			     0);

	/* Zero false skips: real builds of the skipped commits (same work tree, so they
	 * are incremental) give the signature the skip claimed. */
	build_one(&ref, repo, ref_cache, config, work, 1, c_arch);
	assert_int_equal(ref.how, KB_BUILD_BUILT);
	assert_true(kb_key_equal(&ref.signature, &base.signature));
	build_one(&ref, repo, ref_cache, config, work, 1, c_docs);
	assert_int_equal(ref.how, KB_BUILD_BUILT);
	assert_true(kb_key_equal(&ref.signature, &base.signature));
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bisect_build_kernel__docs_arch_skip_code_rebuilds),
	};
	return cmocka_run_group_tests_name("builder/build_kernel", tests, NULL, NULL);
}
