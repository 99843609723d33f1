/*
 * tests/vmpool/test_pool_infra.c - a template boot that fails for the host (QEMU killed,
 * the boot deadline passed on an overloaded host: a QEMU stopped with SIGSTOP) is infra
 * for the runs that waited on it and is booted again for the next request, in the same
 * pool; a kernel that really fails to boot (panic, poweroff, a file QEMU cannot load)
 * stays a boot failure and is not booted again; the same split for cold boots; a QEMU
 * that cannot start (no memory) is infra and tried again.
 * Needs qemu-system-x86_64, busybox-static and scripts/fetch-kernels.sh (the tests that
 * boot the Debian kernel skip when none can be had).
 * kb-test-labels: vm
 * kb-test-timeout: 600
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kb_test.h"
#include "kbisect/vmpool.h"

static char kernel[1024];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int find_kernel(void)
{
	char vml[1024];
	return kb_test_kernel(kernel, vml, sizeof(kernel));
}

/* The pid of a QEMU whose command line mentions dir and that boots (no -incoming: not
 * a clone or a derive), or 0. */
static int booting_qemu(const char *dir)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int pid = 0;

	while (d && !pid && (e = readdir(d))) {
		char path[300], buf[16384];
		FILE *f;
		size_t len;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, "qemu-system") && strstr(buf, dir) && !strstr(buf, "-incoming"))
			pid = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return pid;
}

/* Wait (up to 120 s) for the template's boot to start, then send it sig. */
static void signal_boot(const char *work, int sig)
{
	double t0 = now_s();
	int pid;

	while (!(pid = booting_qemu(work)) && now_s() - t0 < 120)
		usleep(20000);
	assert_true(pid > 0);
	usleep(300000); /* it is booting the kernel now */
	assert_int_equal(kill(pid, sig), 0);
}

static double max_duration = 1e9; /* a limit expect_n() checks too */

static void expect_n(kb_pool *pool, unsigned int n, int klass, const char *in_title,
		     int cloned)
{
	for (unsigned int i = 0; i < n; i++) {
		kb_pool_result r;
		assert_int_equal(kb_pool_next(&r, pool, 600), 0);
		fprintf(stderr, "  run %u: %s \"%s\" %.2fs%s\n", (unsigned int)r.tag,
			kb_run_class_name(r.klass), r.title, r.duration_s,
			r.cloned ? " clone" : "");
		assert_int_equal(r.klass, klass);
		if (in_title)
			assert_non_null(strstr(r.title, in_title));
		if (klass == KB_RUN_OK)
			assert_int_equal(r.exit_code, 0);
		assert_int_equal(r.cloned, cloned);
		assert_true(r.duration_s <= max_duration);
		kb_pool_result_clear(&r);
	}
}

static void submit_n(kb_pool *pool, const kb_pool_kernel *k, const char *repro, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		kb_pool_run run = { .kernel = k, .repro = repro, .timeout_s = 30, .tag = i };
		assert_int_equal(kb_pool_submit(pool, &run), 0);
	}
}

static unsigned int boots(kb_pool *pool)
{
	kb_pool_counters c;
	kb_pool_counters_get(&c, pool);
	return c.boots;
}

typedef struct {
	char *dir, *work;
	char repro[600];
	kb_pool *pool;
	kb_pool_opts o;
	kb_pool_kernel k;
} fix;

static void fix_open(fix *f, double boot_timeout_s, int cold)
{
	memset(f, 0, sizeof(*f));
	f->dir = kb_test_tmpdir("infrasrc");
	f->work = kb_test_tmpdir("infrawork");
	snprintf(f->repro, sizeof(f->repro), "%s/true.sh", f->dir);
	assert_int_equal(kb_test_write_file(f->repro, "#!/bin/sh\nexit 0\n", 17), 0);
	f->o.vms = 2;
	f->o.accel = "tcg";
	f->o.work_dir = f->work;
	f->o.boot_timeout_s = boot_timeout_s;
	f->o.cold = cold;
	f->o.verbose = 1;
	f->k.kernel = kernel;
	assert_int_equal(kb_pool_open(&f->pool, &f->o), 0);
}

static void fix_close(fix *f)
{
	kb_pool_free(f->pool);
	/* no QEMU left (a stopped one was killed too), nothing left in the work dir */
	assert_int_equal(booting_qemu(f->work), 0);
	assert_int_equal(kb_test_sh("test -z \"$(ls -A '%s')\"", f->work), 0);
	kb_test_tmpdir_free(f->work);
	kb_test_tmpdir_free(f->dir);
}

static void test_vmpool_pool_infra__qemu_killed_in_background_prepare_is_infra_then_retried(
	void **state)
{
	fix f;
	(void)state;

	if (find_kernel() < 0)
		skip();
	fix_open(&f, 240, 0);
	/* what the bisect engine does: prepare the next kernel in the background, its
	 * runs come while it boots; the host kills that QEMU (OOM killer) */
	assert_int_equal(kb_pool_prepare(f.pool, &f.k, f.repro, 0), 0);
	submit_n(f.pool, &f.k, f.repro, 2);
	signal_boot(f.work, SIGKILL);
	expect_n(f.pool, 2, KB_RUN_INFRA, "qemu was killed by signal 9", 0);
	assert_int_equal(boots(f.pool), 1);
	/* not remembered as a boot failure: the next runs boot it and run */
	submit_n(f.pool, &f.k, f.repro, 2);
	expect_n(f.pool, 2, KB_RUN_OK, NULL, 1);
	assert_int_equal(boots(f.pool), 2);
	fix_close(&f);
}

static void test_vmpool_pool_infra__boot_timeout_of_background_warm_is_infra_then_retried(
	void **state)
{
	fix f;
	kb_pool_result *res = NULL;
	(void)state;

	if (find_kernel() < 0)
		skip();
	/* long enough for a boot of the Debian kernel on a loaded 2-core host (2-10 s) */
	fix_open(&f, 25, 0);
	assert_int_equal(kb_pool_warm(f.pool, &f.k, 0), 0);
	submit_n(f.pool, &f.k, f.repro, 3);
	/* an overloaded host, at its worst: the boot makes no progress at all */
	signal_boot(f.work, SIGSTOP);
	/* the 25 s they waited for the background warm are not counted as theirs */
	max_duration = 5;
	expect_n(f.pool, 3, KB_RUN_INFRA, "boot timed out after 25 s (machine overloaded?)", 0);
	max_duration = 1e9;
	assert_int_equal(boots(f.pool), 1); /* the runs queued meanwhile did not boot again */
	/* the same kernel in the same pool: warmed again, then cloned */
	assert_int_equal(kb_pool_warm(f.pool, &f.k, 1), 0);
	assert_int_equal(boots(f.pool), 2);
	assert_int_equal(kb_pool_run_n(&res, f.pool, &f.k, f.repro, 2, 30), 0);
	for (unsigned int i = 0; i < 2; i++) {
		assert_int_equal(res[i].klass, KB_RUN_OK);
		assert_int_equal(res[i].cloned, 1);
	}
	kb_pool_results_free(res, 2);
	assert_int_equal(boots(f.pool), 2);
	fix_close(&f);
}

static void test_vmpool_pool_infra__panic_at_boot_stays_a_boot_failure_without_booting_again(
	void **state)
{
	fix f;
	kb_pool_result *res = NULL;
	double t0;
	(void)state;

	if (find_kernel() < 0)
		skip();
	fix_open(&f, 240, 0);
	f.k.cmdline = "rdinit=/nonexistent"; /* no init in the initramfs: root fs panic */
	assert_int_equal(kb_pool_warm(f.pool, &f.k, 0), 0);
	assert_int_equal(kb_pool_run_n(&res, f.pool, &f.k, f.repro, 2, 30), 0);
	for (unsigned int i = 0; i < 2; i++) {
		fprintf(stderr, "  run %u: %s \"%s\"\n", i, kb_run_class_name(res[i].klass),
			res[i].title);
		assert_int_equal(res[i].klass, KB_RUN_BOOT_FAILURE);
		assert_non_null(strstr(res[i].title, "Unable to mount root fs"));
		assert_non_null(res[i].console_log);
		assert_non_null(strstr(res[i].console_log, "Unable to mount root fs"));
	}
	kb_pool_results_free(res, 2);
	/* later requests get the failure at once: no boot */
	t0 = now_s();
	assert_int_equal(kb_pool_warm(f.pool, &f.k, 1), KB_ERROR);
	assert_non_null(strstr(kb_error_last()->message, "Unable to mount root fs"));
	assert_true(kb_pool_prepare(f.pool, &f.k, f.repro, 1) < 0);
	submit_n(f.pool, &f.k, f.repro, 2);
	expect_n(f.pool, 2, KB_RUN_BOOT_FAILURE, "Unable to mount root fs", 0);
	assert_true(now_s() - t0 < 2.0);
	assert_int_equal(boots(f.pool), 1);
	fix_close(&f);
}

static void test_vmpool_pool_infra__guest_poweroff_before_ready_is_a_boot_failure(void **state)
{
	fix f;
	(void)state;

	if (find_kernel() < 0)
		skip();
	/* init powers the guest off (a clean QEMU exit, no panic on the console) */
	fix_open(&f, 240, 0);
	f.k.cmdline = "rdinit=/bin/busybox -- poweroff -f";
	submit_n(f.pool, &f.k, f.repro, 1);
	expect_n(f.pool, 1, KB_RUN_BOOT_FAILURE, "reset or powered off", 0);
	submit_n(f.pool, &f.k, f.repro, 1);
	expect_n(f.pool, 1, KB_RUN_BOOT_FAILURE, "reset or powered off", 0);
	assert_int_equal(boots(f.pool), 1);
	fix_close(&f);
	/* the same for a cold boot, with a reset */
	fix_open(&f, 240, 1);
	f.k.cmdline = "rdinit=/bin/busybox -- reboot -f";
	submit_n(f.pool, &f.k, f.repro, 1);
	expect_n(f.pool, 1, KB_RUN_BOOT_FAILURE, "reset or powered off", 0);
	fix_close(&f);
}

static void test_vmpool_pool_infra__cold_boot_timeout_is_infra(void **state)
{
	fix f;
	(void)state;

	if (find_kernel() < 0)
		skip();
	fix_open(&f, 0.5, 1); /* no kernel boots under TCG in half a second */
	submit_n(f.pool, &f.k, f.repro, 2);
	expect_n(f.pool, 2, KB_RUN_INFRA, "boot timed out after 0.5 s", 0);
	fix_close(&f);
}

static void test_vmpool_pool_infra__file_qemu_cannot_load_stays_a_boot_failure(void **state)
{
	fix f;
	char bad[700];
	(void)state;

	/* needs no real kernel */
	fix_open(&f, 20, 0);
	snprintf(bad, sizeof(bad), "%s/bzImage", f.dir);
	assert_int_equal(kb_test_write_file(bad, "not a kernel", 12), 0);
	f.k.kernel = bad;
	submit_n(f.pool, &f.k, f.repro, 2);
	expect_n(f.pool, 2, KB_RUN_BOOT_FAILURE, "qemu", 0);
	submit_n(f.pool, &f.k, f.repro, 1);
	expect_n(f.pool, 1, KB_RUN_BOOT_FAILURE, "qemu", 0);
	assert_int_equal(boots(f.pool), 1);
	fix_close(&f);
}

static void test_vmpool_pool_infra__qemu_that_cannot_start_is_infra_then_retried(void **state)
{
	fix f;
	char bad[700], qemu[700];
	static const char fake[] = "#!/bin/sh\necho \"qemu-system-x86_64: cannot set up guest "
				   "memory 'pc.ram': Cannot allocate memory\" >&2\nexit 1\n";
	(void)state;

	/* a QEMU that fails at start for the host (no memory): needs no real kernel */
	fix_open(&f, 20, 0);
	kb_pool_free(f.pool);
	snprintf(qemu, sizeof(qemu), "%s/qemu", f.dir);
	assert_int_equal(kb_test_write_file(qemu, fake, strlen(fake)), 0);
	assert_int_equal(kb_test_sh("chmod +x '%s'", qemu), 0);
	f.o.qemu = qemu;
	assert_int_equal(kb_pool_open(&f.pool, &f.o), 0);
	snprintf(bad, sizeof(bad), "%s/bzImage", f.dir);
	assert_int_equal(kb_test_write_file(bad, "never loaded", 12), 0);
	f.k.kernel = bad;
	submit_n(f.pool, &f.k, f.repro, 2);
	expect_n(f.pool, 2, KB_RUN_INFRA, "Cannot allocate memory", 0);
	assert_int_equal(boots(f.pool), 1);
	/* not remembered: the next request tries again (and fails the same way) */
	submit_n(f.pool, &f.k, f.repro, 1);
	expect_n(f.pool, 1, KB_RUN_INFRA, "boot failed on the host", 0);
	assert_int_equal(boots(f.pool), 2);
	assert_int_equal(kb_pool_warm(f.pool, &f.k, 1), KB_ERROR);
	assert_non_null(strstr(kb_error_last()->message, "tried again"));
	assert_int_equal(boots(f.pool), 3);
	fix_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmpool_pool_infra__file_qemu_cannot_load_stays_a_boot_failure),
		cmocka_unit_test(test_vmpool_pool_infra__qemu_that_cannot_start_is_infra_then_retried),
		cmocka_unit_test(test_vmpool_pool_infra__cold_boot_timeout_is_infra),
		cmocka_unit_test(
			test_vmpool_pool_infra__panic_at_boot_stays_a_boot_failure_without_booting_again),
		cmocka_unit_test(test_vmpool_pool_infra__guest_poweroff_before_ready_is_a_boot_failure),
		cmocka_unit_test(
			test_vmpool_pool_infra__qemu_killed_in_background_prepare_is_infra_then_retried),
		cmocka_unit_test(
			test_vmpool_pool_infra__boot_timeout_of_background_warm_is_infra_then_retried),
	};
	return cmocka_run_group_tests_name("vmpool/pool_infra", tests, NULL, NULL);
}
