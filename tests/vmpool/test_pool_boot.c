/*
 * tests/vmpool/test_pool_boot.c - the pool on a real Debian cloud kernel under TCG:
 * reproducers that crash the kernel, exit cleanly, print SYZFAIL and hang are each
 * classified right, two VMs run at once, and nothing (QEMU, sockets, files) is left;
 * a guest that floods the console, powers off or stops talking is stopped as infra.
 * Needs qemu-system-x86_64, busybox-static, gcc and scripts/fetch-kernels.sh (skips
 * when no kernel can be had).
 * kb-test-labels: vm
 * kb-test-timeout: 600
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kb_test.h"
#include "kbisect/vmpool.h"

static char kernel[1024];

static double kb_test_now(void)
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

/* Number of live processes whose command line mentions s. */
static int procs_mentioning(const char *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char path[300], buf[8192];
		FILE *f;
		size_t len;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, s))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

static void write_repro(const char *dir, const char *name, const char *body)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(kb_test_write_file(path, body, strlen(body)), 0);
}

enum { RP_CRASH, RP_OK, RP_SYZFAIL, RP_HANG, RP_N };

static void test_vmpool_pool_boot__four_reproducers_classified_in_parallel(void **state)
{
	static const char *names[RP_N] = { "crash.c", "ok.c", "syzfail.c", "hang.c" };
	char *dir, *work;
	char path[RP_N][600];
	kb_pool *pool = NULL;
	kb_pool_opts o = { 0 };
	kb_pool_kernel k = { 0 };
	int seen[RP_N] = { 0 }, max_vm = 0;
	(void)state;

	if (find_kernel() < 0) {
		fprintf(stderr, "no kernel (scripts/fetch-kernels.sh failed): skipping\n");
		skip();
	}
	dir = kb_test_tmpdir("poolsrc");
	work = kb_test_tmpdir("poolwork");
	write_repro(dir, names[RP_CRASH],
		    "#include <fcntl.h>\n#include <unistd.h>\nint main(void) {\n"
		    "  int fd = open(\"/proc/sysrq-trigger\", O_WRONLY);\n"
		    "  return write(fd, \"c\", 1) == 1 ? 0 : 1;\n}\n");
	write_repro(dir, names[RP_OK],
		    "#include <stdio.h>\nint main(void) { puts(\"all fine\"); return 0; }\n");
	write_repro(dir, names[RP_SYZFAIL],
		    "#include <stdio.h>\nint main(void) {\n"
		    "  fprintf(stderr, \"SYZFAIL: wrong response packet\\n\");\n  return 67;\n}\n");
	write_repro(dir, names[RP_HANG],
		    "#include <unistd.h>\nint main(void) { for (;;) pause(); }\n");

	o.vms = 2;
	o.accel = "tcg";
	o.work_dir = work;
	o.boot_timeout_s = 240;
	k.kernel = kernel;
	assert_int_equal(kb_pool_open(&pool, &o), 0);
	for (int i = 0; i < RP_N; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]);
		for (int n = 0; n < 2; n++) {
			kb_pool_run run = { .kernel = &k, .repro = path[i],
					    .timeout_s = i == RP_HANG ? 3 : 60,
					    .tag = (uint64_t)(i * 10 + n) };
			assert_int_equal(kb_pool_submit(pool, &run), 0);
		}
	}
	/* while it runs, QEMU processes exist and live in the work dir */
	for (int got = 0; got < 2 * RP_N; got++) {
		kb_pool_result r;
		int which;
		assert_int_equal(kb_pool_next(&r, pool, 300), 0);
		which = (int)(r.tag / 10);
		fprintf(stderr, "run %d: %s \"%s\" %.2fs start %.2fs vm%u%s\n", (int)r.tag,
			kb_run_class_name(r.klass), r.title, r.duration_s, r.start_s, r.vm,
			r.cloned ? " clone" : "");
		seen[which]++;
		if ((int)r.vm > max_vm)
			max_vm = (int)r.vm;
		switch (which) {
		case RP_CRASH:
			assert_int_equal(r.klass, KB_RUN_CRASH);
			assert_non_null(strstr(r.title, "sysrq"));
			assert_non_null(r.console_log);
			assert_non_null(strstr(r.console_log, "sysrq"));
			break;
		case RP_OK:
			assert_int_equal(r.klass, KB_RUN_OK);
			assert_int_equal(r.exit_code, 0);
			assert_string_equal(r.title, "");
			break;
		case RP_SYZFAIL:
			assert_int_equal(r.klass, KB_RUN_INFRA);
			assert_string_equal(r.title, "SYZFAIL: wrong response packet");
			/* the VM may be stopped on the SYZFAIL line before the exit status
			 * comes back (a loaded host); the class and title are what count */
			assert_true(r.exit_code == 67 || r.exit_code == -1);
			break;
		case RP_HANG:
			assert_int_equal(r.klass, KB_RUN_OK);
			assert_int_equal(r.timed_out, 1);
			assert_true(r.duration_s >= 3.0);
			break;
		}
		assert_int_equal(r.cloned, 1);
		kb_pool_result_clear(&r);
	}
	for (int i = 0; i < RP_N; i++)
		assert_int_equal(seen[i], 2);
	assert_int_equal(max_vm, 1); /* both VM slots were used */
	{
		kb_pool_result r;
		assert_int_equal(kb_pool_next(&r, pool, 0), KB_ENOTFOUND);
	}
	kb_pool_free(pool);
	/* nothing survives: no QEMU mentioning the work dir, the work dir is empty */
	assert_int_equal(procs_mentioning(work), 0);
	assert_int_equal(kb_test_sh("test -z \"$(ls -A '%s')\"", work), 0);
	kb_test_tmpdir_free(work);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_pool_boot__bad_kernel_is_a_boot_failure(void **state)
{
	char *dir = kb_test_tmpdir("poolbad");
	char bad[600], repro[600];
	kb_pool *pool = NULL;
	kb_pool_opts o = { 0 };
	kb_pool_kernel k = { 0 };
	kb_pool_result r;
	(void)state;

	snprintf(bad, sizeof(bad), "%s/bzImage", dir);
	snprintf(repro, sizeof(repro), "%s/true.sh", dir);
	assert_int_equal(kb_test_write_file(bad, "not a kernel", 12), 0);
	assert_int_equal(kb_test_write_file(repro, "#!/bin/sh\ntrue\n", 15), 0);
	o.vms = 1;
	o.accel = "tcg";
	o.work_dir = dir;
	o.boot_timeout_s = 20;
	k.kernel = bad;
	assert_int_equal(kb_pool_open(&pool, &o), 0);
	kb_pool_run run = { .kernel = &k, .repro = repro, .timeout_s = 5, .tag = 7 };
	assert_int_equal(kb_pool_submit(pool, &run), 0);
	assert_int_equal(kb_pool_next(&r, pool, 120), 0);
	fprintf(stderr, "bad kernel: %s \"%s\"\n", kb_run_class_name(r.klass), r.title);
	assert_int_equal(r.tag, 7);
	assert_int_equal(r.klass, KB_RUN_BOOT_FAILURE);
	assert_true(strlen(r.title) > 0);
	kb_pool_result_clear(&r);
	kb_pool_free(pool);
	assert_int_equal(procs_mentioning(dir), 0);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_pool_boot__bad_arguments_fail_cleanly(void **state)
{
	kb_pool *pool = NULL;
	kb_pool_opts o = { 0 };
	kb_pool_kernel k = { .kernel = "/nonexistent/bzImage" };
	kb_pool_run run = { .kernel = &k, .repro = "/nonexistent/repro.c" };
	(void)state;

	o.accel = "xen";
	assert_int_equal(kb_pool_open(&pool, &o), KB_EINVAL);
	assert_null(pool);
	o.accel = "tcg";
	o.vms = 1;
	assert_int_equal(kb_pool_open(&pool, &o), 0);
	assert_true(kb_pool_submit(pool, &run) < 0);
	assert_non_null(strstr(kb_error_last()->message, "/nonexistent/bzImage"));
	assert_int_equal(kb_pool_submit(pool, NULL), KB_EINVAL);
	kb_pool_free(pool);
}

static void test_vmpool_pool_boot__flood_poweroff_freeze_are_stopped_as_infra(void **state)
{
	static const char *names[3] = { "flood.sh", "poweroff.sh", "freeze.sh" };
	static const char *bodies[3] = {
		"#!/bin/sh\nwhile :; do echo floodfloodfloodfloodfloodfloodfloodflood; done\n",
		"#!/bin/sh\nsync\npoweroff -f\n",
		"#!/bin/sh\necho freeze > /sys/power/state\nsleep 1000\n",
	};
	char *dir, *work;
	char path[3][600];
	kb_pool *pool = NULL;
	kb_pool_opts o = { 0 };
	kb_pool_kernel k = { 0 };
	(void)state;

	if (find_kernel() < 0) {
		fprintf(stderr, "no kernel (scripts/fetch-kernels.sh failed): skipping\n");
		skip();
	}
	dir = kb_test_tmpdir("poolsrc");
	work = kb_test_tmpdir("poolwork");
	o.vms = 2;
	o.accel = "tcg";
	o.work_dir = work;
	o.boot_timeout_s = 240;
	o.console_limit = 256 << 10;
	o.silence_s = 8;
	k.kernel = kernel;
	assert_int_equal(kb_pool_open(&pool, &o), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]);
		assert_int_equal(kb_test_write_file(path[i], bodies[i], strlen(bodies[i])), 0);
		assert_int_equal(kb_test_sh("chmod +x '%s'", path[i]), 0);
		kb_pool_run run = { .kernel = &k, .repro = path[i], .timeout_s = 60,
				    .tag = (uint64_t)i };
		assert_int_equal(kb_pool_submit(pool, &run), 0);
	}
	for (int got = 0; got < 3; got++) {
		kb_pool_result r;
		assert_int_equal(kb_pool_next(&r, pool, 300), 0);
		fprintf(stderr, "%s: %s \"%s\" %.2fs\n", names[r.tag], kb_run_class_name(r.klass),
			r.title, r.duration_s);
		assert_int_equal(r.klass, KB_RUN_INFRA);
		assert_true(strlen(r.title) > 0);
		if (r.tag == 0)
			assert_non_null(strstr(r.title, "console output"));
		assert_true(r.duration_s < 50); /* stopped, not run into the wall limit */
		kb_pool_result_clear(&r);
	}
	kb_pool_free(pool);
	assert_int_equal(procs_mentioning(work), 0);
	assert_int_equal(kb_test_sh("test -z \"$(ls -A '%s')\"", work), 0);
	kb_test_tmpdir_free(work);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_pool_boot__warm_in_background_then_run_n_with_eviction(void **state)
{
	char *dir, *work;
	char repro[600], repro2[600];
	kb_pool *pool = NULL;
	kb_pool_opts o = { 0 };
	kb_pool_kernel k = { 0 };
	kb_pool_result *res = NULL;
	(void)state;

	if (find_kernel() < 0)
		skip();
	dir = kb_test_tmpdir("poolsrc");
	work = kb_test_tmpdir("poolwork");
	snprintf(repro, sizeof(repro), "%s/exit3.sh", dir);
	assert_int_equal(kb_test_write_file(repro, "#!/bin/sh\nexit 3\n", 17), 0);
	o.vms = 2;
	o.accel = "tcg";
	o.work_dir = work;
	o.max_templates = 1;
	o.verbose = 1;
	k.kernel = kernel;
	assert_int_equal(kb_pool_open(&pool, &o), 0);
	assert_string_equal(kb_pool_accel(pool), "tcg");
	assert_int_equal(kb_pool_warm(pool, &k, 0), 0); /* returns at once */
	assert_int_equal(kb_pool_run_n(&res, pool, &k, repro, 3, 30), 0);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(res[i].tag, i);
		assert_int_equal(res[i].klass, KB_RUN_OK);
		assert_int_equal(res[i].exit_code, 3);
		assert_int_equal(res[i].cloned, 1);
		assert_true(res[i].start_s < 5.0);
	}
	kb_pool_results_free(res, 3);
	/* with one template kept, the kernel's was dropped for the reproducer's: warming
	 * boots it again, which drops the other, which the next runs make again */
	assert_int_equal(kb_pool_warm(pool, &k, 1), 0);
	assert_int_equal(kb_pool_run_n(&res, pool, &k, repro, 2, 30), 0);
	for (unsigned int i = 0; i < 2; i++) {
		assert_int_equal(res[i].klass, KB_RUN_OK);
		assert_int_equal(res[i].exit_code, 3);
		assert_int_equal(res[i].cloned, 1);
	}
	kb_pool_results_free(res, 2);
	/* a second reproducer prepared in the background, then run */
	snprintf(repro2, sizeof(repro2), "%s/exit5.sh", dir);
	assert_int_equal(kb_test_write_file(repro2, "#!/bin/sh\nexit 5\n", 17), 0);
	assert_int_equal(kb_pool_prepare(pool, &k, repro2, 0), 0);
	assert_int_equal(kb_pool_prepare(pool, &k, NULL, 0), KB_EINVAL);
	assert_int_equal(kb_pool_run_n(&res, pool, &k, repro2, 2, 30), 0);
	for (unsigned int i = 0; i < 2; i++) {
		assert_int_equal(res[i].klass, KB_RUN_OK);
		assert_int_equal(res[i].exit_code, 5);
	}
	kb_pool_results_free(res, 2);
	assert_int_equal(kb_pool_prepare(pool, &k, repro2, 1), 0);
	kb_pool_free(pool);
	assert_int_equal(procs_mentioning(work), 0);
	kb_test_tmpdir_free(work);
	kb_test_tmpdir_free(dir);
}

static void test_vmpool_pool_boot__cancel_during_boot_ends_runs_quickly(void **state)
{
	char *dir, *work;
	char repro[600];
	kb_pool *pool = NULL;
	kb_pool_opts o = { 0 };
	kb_pool_kernel k = { 0 };
	double t0;
	(void)state;

	if (find_kernel() < 0)
		skip();
	dir = kb_test_tmpdir("poolsrc");
	work = kb_test_tmpdir("poolwork");
	snprintf(repro, sizeof(repro), "%s/true.sh", dir);
	assert_int_equal(kb_test_write_file(repro, "#!/bin/sh\ntrue\n", 15), 0);
	o.vms = 2;
	o.accel = "tcg";
	o.work_dir = work;
	k.kernel = kernel;
	assert_int_equal(kb_pool_open(&pool, &o), 0);
	for (int i = 0; i < 3; i++) {
		kb_pool_run run = { .kernel = &k, .repro = repro, .timeout_s = 30, .tag = 1 };
		assert_int_equal(kb_pool_submit(pool, &run), 0);
	}
	while (procs_mentioning(work) == 0) /* the template's QEMU is up */
		usleep(20000);
	t0 = kb_test_now();
	kb_pool_cancel(pool);
	for (int i = 0; i < 3; i++) {
		kb_pool_result r;
		assert_int_equal(kb_pool_next(&r, pool, 30), 0);
		assert_int_equal(r.klass, KB_RUN_INFRA);
		assert_string_equal(r.title, "kbisect: cancelled");
		kb_pool_result_clear(&r);
	}
	assert_true(kb_test_now() - t0 < 5.0);
	kb_pool_free(pool);
	assert_int_equal(procs_mentioning(work), 0);
	assert_int_equal(kb_test_sh("test -z \"$(ls -A '%s')\"", work), 0);
	kb_test_tmpdir_free(work);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vmpool_pool_boot__bad_arguments_fail_cleanly),
		cmocka_unit_test(test_vmpool_pool_boot__bad_kernel_is_a_boot_failure),
		cmocka_unit_test(test_vmpool_pool_boot__four_reproducers_classified_in_parallel),
		cmocka_unit_test(test_vmpool_pool_boot__flood_poweroff_freeze_are_stopped_as_infra),
		cmocka_unit_test(test_vmpool_pool_boot__warm_in_background_then_run_n_with_eviction),
		cmocka_unit_test(test_vmpool_pool_boot__cancel_during_boot_ends_runs_quickly),
	};
	return cmocka_run_group_tests_name("vmpool/pool_boot", tests, NULL, NULL);
}
