/*
 * tests/vmpool/test_initramfs.c - the cpio "newc" writer: headers, padding, trailer,
 * device nodes; the guest initramfs layout; missing inputs fail cleanly.
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
#include "vmpool/vmpool_internal.h"

/* Walk a newc archive; returns the number of entries, -1 on a format error. Fills
 * the mode/size/rdev of the entry called want (if found). */
static int walk(const unsigned char *a, size_t len, const char *want, unsigned int *mode,
		unsigned int *size, unsigned int *rmaj, unsigned int *rmin)
{
	size_t off = 0;
	int n = 0;

	while (off + 110 <= len) {
		char f[14][9];
		unsigned int v[14];
		if (memcmp(a + off, "070701", 6))
			return -1;
		for (int i = 0; i < 13; i++) {
			memcpy(f[i], a + off + 6 + 8 * i, 8);
			f[i][8] = '\0';
			v[i] = (unsigned int)strtoul(f[i], NULL, 16);
		}
		const char *name = (const char *)a + off + 110;
		size_t nlen = v[11];
		if (off + 110 + nlen > len || name[nlen - 1] != '\0')
			return -1;
		size_t data = (off + 110 + nlen + 3) & ~(size_t)3;
		if (!strcmp(name, "TRAILER!!!"))
			return (len % 512) == 0 ? n : -1;
		if (want && !strcmp(name, want)) {
			*mode = v[1];
			*size = v[6];
			*rmaj = v[9];
			*rmin = v[10];
		}
		off = (data + v[6] + 3) & ~(size_t)3;
		n++;
	}
	return -1;
}

static void test_vmpool_initramfs__cpio_entries_are_newc_and_padded(void **state)
{
	char *dir = kb_test_tmpdir("cpio");
	char path[512];
	kb_cpio *c;
	unsigned char *a;
	size_t len;
	unsigned int mode = 0, size = 0, ma = 0, mi = 0;
	int fd;
	(void)state;

	snprintf(path, sizeof(path), "%s/a.cpio", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(kb_cpio__open(&c, fd), 0);
	assert_int_equal(kb_cpio__dir(c, "bin", 0755), 0);
	assert_int_equal(kb_cpio__file(c, "bin/x", 0755, "abcde", 5), 0);
	assert_int_equal(kb_cpio__symlink(c, "bin/sh", "busybox"), 0);
	assert_int_equal(kb_cpio__chardev(c, "dev/console", 0600, 5, 1), 0);
	assert_int_equal(kb_cpio__finish(c), 0);
	close(fd);
	a = kb_test_read_file(path, &len);
	assert_non_null(a);
	assert_int_equal(walk(a, len, "bin/x", &mode, &size, &ma, &mi), 4);
	assert_int_equal(mode, S_IFREG | 0755);
	assert_int_equal(size, 5);
	assert_int_equal(walk(a, len, "dev/console", &mode, &size, &ma, &mi), 4);
	assert_int_equal(mode, S_IFCHR | 0600);
	assert_int_equal(ma, 5);
	assert_int_equal(mi, 1);
	assert_int_equal(walk(a, len, "bin/sh", &mode, &size, &ma, &mi), 4);
	assert_int_equal(mode, S_IFLNK | 0777);
	assert_int_equal(size, 7);
	/* damage the magic of the second entry: the walker must notice */
	a[120] ^= 0xff;
	assert_int_equal(walk(a, len, NULL, &mode, &size, &ma, &mi), -1);
	free(a);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_initramfs__guest_archive_has_init_agent_busybox(void **state)
{
	char *dir = kb_test_tmpdir("initramfs");
	char path[512], fake_bb[512], fake_agent[512];
	unsigned char *a;
	size_t len;
	unsigned int mode = 0, size = 0, ma = 0, mi = 0;
	(void)state;

	snprintf(fake_bb, sizeof(fake_bb), "%s/busybox", dir);
	snprintf(fake_agent, sizeof(fake_agent), "%s/agent", dir);
	snprintf(path, sizeof(path), "%s/initramfs.cpio", dir);
	assert_int_equal(kb_test_write_file(fake_bb, "BUSYBOX", 7), 0);
	assert_int_equal(kb_test_write_file(fake_agent, "AGENT!", 6), 0);
	assert_int_equal(kb_initramfs__build(path, fake_bb, fake_agent), 0);
	a = kb_test_read_file(path, &len);
	assert_non_null(a);
	assert_true(walk(a, len, "init", &mode, &size, &ma, &mi) > 5);
	assert_int_equal(mode, S_IFREG | 0755);
	assert_true(walk(a, len, "sbin/kbisect-agent", &mode, &size, &ma, &mi) > 5);
	assert_int_equal(size, 6);
	assert_true(walk(a, len, "bin/busybox", &mode, &size, &ma, &mi) > 5);
	assert_int_equal(size, 7);
	assert_true(walk(a, len, "dev/console", &mode, &size, &ma, &mi) > 5);
	assert_int_equal(ma, 5);
	free(a);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_initramfs__missing_busybox_fails_and_leaves_nothing(void **state)
{
	char *dir = kb_test_tmpdir("initramfs");
	char path[512], agent[512];
	(void)state;

	snprintf(agent, sizeof(agent), "%s/agent", dir);
	snprintf(path, sizeof(path), "%s/initramfs.cpio", dir);
	assert_int_equal(kb_test_write_file(agent, "AGENT!", 6), 0);
	assert_true(kb_initramfs__build(path, "/nonexistent/busybox", agent) < 0);
	assert_non_null(strstr(kb_error_last()->message, "busybox"));
	assert_int_equal(access(path, F_OK), -1);
	assert_true(kb_initramfs__build(path, agent, "/nonexistent/agent") < 0);
	assert_non_null(strstr(kb_error_last()->message, "agent"));
	assert_int_equal(access(path, F_OK), -1);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_initramfs__fnv32_matches_reference_values(void **state)
{
	(void)state;
	/* FNV-1a 32 reference values */
	assert_int_equal(kb_vm__fnv32("", 0), 0x811c9dc5u);
	assert_int_equal(kb_vm__fnv32("a", 1), 0xe40c292cu);
	assert_int_equal(kb_vm__fnv32("foobar", 6), 0xbf9cf968u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmpool_initramfs__cpio_entries_are_newc_and_padded),
		cmocka_unit_test(test_vmpool_initramfs__guest_archive_has_init_agent_busybox),
		cmocka_unit_test(test_vmpool_initramfs__missing_busybox_fails_and_leaves_nothing),
		cmocka_unit_test(test_vmpool_initramfs__fnv32_matches_reference_values),
	};
	return cmocka_run_group_tests_name("vmpool/initramfs", tests, NULL, NULL);
}
