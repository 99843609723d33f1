/*
 * tests/vmpool/test_pool_key.c - templates of a pool are keyed by the kernel signature
 * when the caller gives one (kb_pool_kernel.signature): a second bzImage of the same
 * kernel (other bytes, same signature) uses the first one's template without a boot,
 * in the pool and through the cache in a new pool; another command line or no
 * signature (the bzImage hash decides) boots again. Counted with kb_pool_counters_get().
 * Needs qemu-system-x86_64, busybox-static and scripts/fetch-kernels.sh (skips when
 * no kernel can be had).
 * kb-test-labels: vm
 * kb-test-timeout: 300
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kb_test.h"
#include "kbisect/cache.h"
#include "kbisect/signature.h"
#include "kbisect/vmpool.h"

static char bz[1024], vmlinux[1024];

static int find_kernel(void)
{
	return kb_test_kernel(bz, vmlinux, sizeof(bz));
}

static void expect(kb_pool *pool, unsigned int boots, unsigned int cache_loads)
{
	kb_pool_counters c;
	kb_pool_counters_get(&c, pool);
	assert_int_equal(c.boots, boots);
	assert_int_equal(c.cache_loads, cache_loads);
}

static void test_vmpool_pool_key__same_signature_shares_a_template_other_settings_boot(void **state)
{
	char *dir;
	char a[600], b[600], repro[600], cdir[600];
	kb_pool *pool = NULL;
	kb_pool_opts o = { 0 };
	kb_pool_kernel ka = { 0 }, kb = { 0 };
	kb_pool_result *res = NULL;
	kb_cache *cache = NULL;
	kb_key sig;
	(void)state;

	if (find_kernel() < 0)
		skip();
	dir = kb_test_tmpdir("poolkey");
	snprintf(a, sizeof(a), "%s/a.bzImage", dir);
	snprintf(b, sizeof(b), "%s/b.bzImage", dir);
	snprintf(repro, sizeof(repro), "%s/exit3.sh", dir);
	snprintf(cdir, sizeof(cdir), "%s/cache", dir);
	assert_int_equal(kb_test_sh("cp '%s' '%s' && cp '%s' '%s' && printf x >> '%s'", bz, a,
				    bz, b, b), 0);
	assert_int_equal(kb_test_write_file(repro, "#!/bin/sh\nexit 3\n", 17), 0);
	assert_int_equal(kb_signature_file(&sig, vmlinux), 0);
	assert_int_equal(kb_cache_open(&cache, cdir, KB_CACHE_CREATE), 0);
	o.vms = 1;
	o.accel = "tcg";
	o.work_dir = dir;
	o.cache = cache;
	ka.kernel = a;
	ka.signature = &sig;
	kb = ka;
	kb.kernel = b;

	assert_int_equal(kb_pool_open(&pool, &o), 0);
	expect(pool, 0, 0);
	assert_int_equal(kb_pool_warm(pool, &ka, 1), 0);
	expect(pool, 1, 0);
	assert_int_equal(kb_pool_warm(pool, &kb, 1), 0); /* the same kernel: no boot */
	expect(pool, 1, 0);
	assert_int_equal(kb_pool_run_n(&res, pool, &kb, repro, 1, 30), 0);
	assert_int_equal(res[0].klass, KB_RUN_OK);
	assert_int_equal(res[0].exit_code, 3);
	assert_int_equal(res[0].cloned, 1);
	kb_pool_results_free(res, 1);
	expect(pool, 1, 0);
	kb.cmdline = "nokaslr"; /* another VM setting: another saved state */
	assert_int_equal(kb_pool_warm(pool, &kb, 1), 0);
	expect(pool, 2, 0);
	kb.cmdline = NULL;
	kb.signature = NULL; /* no signature: b's bzImage hash is not a's */
	assert_int_equal(kb_pool_warm(pool, &kb, 1), 0);
	expect(pool, 3, 0);
	kb_pool_free(pool);

	/* a new pool (a repeated bisection): b with the signature comes from the cache */
	kb.signature = &sig;
	assert_int_equal(kb_pool_open(&pool, &o), 0);
	assert_int_equal(kb_pool_warm(pool, &kb, 1), 0);
	expect(pool, 0, 1);
	kb_pool_free(pool);
	kb_cache_free(cache);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmpool_pool_key__same_signature_shares_a_template_other_settings_boot),
	};
	return cmocka_run_group_tests_name("vmpool/pool_key", tests, NULL, NULL);
}
