/*
 * tests/vmpool/test_vmstate.c - VM snapshots in the cache: a sparse RAM file and a
 * state file go in under a key and come back byte-identical (and sparse); a missing
 * key is KB_ENOTFOUND; a damaged manifest is KB_ECORRUPT, not a crash.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "kb_test.h"
#include "kbisect/cache.h"
#include "vmpool/vmpool_internal.h"

static void make_ram(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char page[4096];
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 64 << 20), 0); /* 64 MiB, mostly holes */
	kb_test_fill_random(page, sizeof(page), 1);
	assert_int_equal(pwrite(fd, page, sizeof(page), 0), (ssize_t)sizeof(page));
	assert_int_equal(pwrite(fd, page, sizeof(page), 40 << 20), (ssize_t)sizeof(page));
	close(fd);
}

static void test_vmpool_vmstate__store_then_load_gives_same_files(void **state)
{
	char *dir = kb_test_tmpdir("vmstate");
	char cdir[600];
	kb_cache *c = NULL;
	kb_snapshot a = { 0 }, b = { 0 };
	kb_key key;
	struct stat st;
	(void)state;

	snprintf(cdir, sizeof(cdir), "%s/cache", dir);
	assert_int_equal(kb_cache_open(&c, cdir, KB_CACHE_CREATE), 0);
	snprintf(a.dir, sizeof(a.dir), "%s/a", dir);
	snprintf(b.dir, sizeof(b.dir), "%s/b", dir);
	assert_int_equal(mkdir(a.dir, 0700), 0);
	assert_int_equal(mkdir(b.dir, 0700), 0);
	snprintf(a.ram, sizeof(a.ram), "%s/ram", a.dir);
	snprintf(a.state, sizeof(a.state), "%s/state", a.dir);
	make_ram(a.ram);
	assert_int_equal(kb_test_write_file(a.state, "QEVM device state", 17), 0);
	a.boot_s = 2.5;
	kb_sha256(&key, "template", 8);

	assert_int_equal(kb_vmstate__load(c, &key, &b), KB_ENOTFOUND);
	assert_int_equal(kb_vmstate__store(c, &key, &a), 0);
	assert_int_equal(kb_vmstate__load(c, &key, &b), 0);
	assert_true(b.boot_s > 2.4 && b.boot_s < 2.6);
	assert_int_equal(kb_test_sh("cmp -s '%s' '%s'", a.ram, b.ram), 0);
	assert_int_equal(kb_test_sh("cmp -s '%s' '%s'", a.state, b.state), 0);
	assert_int_equal(stat(b.ram, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_true((long long)st.st_blocks * 512 < (8 << 20)); /* restored sparse */
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_vmstate__bad_manifest_is_ecorrupt(void **state)
{
	char *dir = kb_test_tmpdir("vmstate");
	char cdir[600];
	kb_cache *c = NULL;
	kb_snapshot b = { 0 };
	kb_key key, id;
	kb_put_opts po = { .kind = KB_OBJ_VMSTATE };
	(void)state;

	snprintf(cdir, sizeof(cdir), "%s/cache", dir);
	assert_int_equal(kb_cache_open(&c, cdir, KB_CACHE_CREATE), 0);
	snprintf(b.dir, sizeof(b.dir), "%s", dir);
	kb_sha256(&key, "bad", 3);
	assert_int_equal(kb_cache_put_buf(&id, c, "garbage\n", 8, &po), 0);
	assert_int_equal(kb_cache_ref_set(c, KB_REF_VMSTATE, &key, &id), 0);
	assert_int_equal(kb_vmstate__load(c, &key, &b), KB_ECORRUPT);
	assert_non_null(strstr(kb_error_last()->message, "manifest"));
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmpool_vmstate__store_then_load_gives_same_files),
		cmocka_unit_test(test_vmpool_vmstate__bad_manifest_is_ecorrupt),
	};
	return cmocka_run_group_tests_name("vmpool/vmstate", tests, NULL, NULL);
}
