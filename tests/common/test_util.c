/*
 * tests/common/test_util.c - the host helpers of kbisect/util.h: whole-file reads
 * (limit, missing file), $PATH search (hit, miss), kb_spawn (exit status, output,
 * kill at the timeout, cwd/environment/log fd, output discarded, a program that does not
 * exist).
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/error.h"
#include "kbisect/util.h"
#include "kb_test.h"

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_common_util__file_read_whole_file_and_limit(void **state)
{
	char *dir = kb_test_tmpdir("util"), path[4096], *buf;
	unsigned char data[200000];
	size_t len;

	(void)state;
	kb_test_fill_random(data, sizeof(data), 7);
	snprintf(path, sizeof(path), "%s/blob", dir);
	assert_int_equal(kb_test_write_file(path, data, sizeof(data)), 0);
	assert_int_equal(kb_file_read(&buf, &len, path, 0, "blob"), KB_OK);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(buf, data, sizeof(data));
	assert_int_equal(buf[len], '\0');
	free(buf);
	/* exactly at the limit is fine, one byte less is too small */
	assert_int_equal(kb_file_read(&buf, &len, path, sizeof(data), "blob"), KB_OK);
	free(buf);
	assert_int_equal(kb_file_read(&buf, &len, path, sizeof(data) - 1, "blob"), KB_EINVAL);
	assert_null(buf);
	assert_non_null(strstr(kb_error_last()->message, "blob '"));
	assert_non_null(strstr(kb_error_last()->message, "larger than"));
	kb_test_rmrf(dir);
	kb_test_tmpdir_free(dir);
}

static void test_common_util__file_read_missing_file_names_it(void **state)
{
	char *buf = (char *)1;
	size_t len;

	(void)state;
	assert_int_equal(kb_file_read(&buf, &len, "/nonexistent/kb-util-test", 0, "config file"),
			 KB_ENOTFOUND);
	assert_null(buf);
	assert_non_null(strstr(kb_error_last()->message,
			       "config file '/nonexistent/kb-util-test'"));
}

static void test_common_util__path_find_hit_and_miss(void **state)
{
	char buf[4096];

	(void)state;
	assert_int_equal(kb_path_find(buf, sizeof(buf), "sh"), KB_OK);
	assert_int_equal(access(buf, X_OK), 0);
	assert_non_null(strstr(buf, "/sh"));
	assert_int_equal(kb_path_find(buf, sizeof(buf), "kb-no-such-program-here"), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "'kb-no-such-program-here' is not on PATH"));
	/* an empty PATH finds nothing */
	{
		char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
		setenv("PATH", "/nonexistent", 1);
		assert_int_equal(kb_path_find(buf, sizeof(buf), "sh"), KB_ENOTFOUND);
		if (old)
			setenv("PATH", old, 1);
		free(old);
	}
}

static void test_common_util__spawn_exit_status_and_output(void **state)
{
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	kb_spawn_opts o = { .capture_max = 1024 };

	(void)state;
	assert_int_equal(kb_spawn(argv, &o), KB_OK);
	assert_int_equal(o.status, 3);
	assert_int_equal(o.timed_out, 0);
	assert_non_null(o.output);
	assert_non_null(strstr(o.output, "out\n"));
	assert_non_null(strstr(o.output, "err\n"));
	free(o.output);
}

static void test_common_util__spawn_output_is_capped(void **state)
{
	const char *argv[] = { "sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo 0123456789; "
				"i=$((i+1)); done", NULL };
	kb_spawn_opts o = { .capture_max = 100 };

	(void)state;
	assert_int_equal(kb_spawn(argv, &o), KB_OK);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.output_len, 100);
	assert_int_equal(strlen(o.output), 100);
	free(o.output);
}

static void test_common_util__spawn_kills_at_the_timeout(void **state)
{
	/* the child and its own child (the background sleep) both go: the process group */
	char *dir = kb_test_tmpdir("spawn-kill"), cmd[4200], *pidtext;
	const char *argv[] = { "sh", "-c", cmd, NULL };
	kb_spawn_opts o = { .timeout_s = 0.5, .capture_max = 64 };
	double t0 = mono();
	size_t len;
	pid_t bg;
	int gone = 0;

	(void)state;
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! >%s/bg; sleep 30; echo never", dir);
	assert_int_equal(kb_spawn(argv, &o), KB_ETIMEOUT);
	assert_true(mono() - t0 < 10);
	assert_int_equal(o.timed_out, 1);
	assert_int_equal(o.status, 128 + 9);
	assert_null(strstr(o.output, "never"));
	assert_non_null(strstr(kb_error_last()->message, "time limit"));
	free(o.output);
	snprintf(cmd, sizeof(cmd), "%s/bg", dir);
	assert_int_equal(kb_file_read(&pidtext, &len, cmd, 0, "pid file"), KB_OK);
	bg = (pid_t)atoi(pidtext);
	free(pidtext);
	assert_true(bg > 0);
	for (int i = 0; i < 100 && !gone; i++) { /* killed, then reaped by init */
		struct timespec ts = { 0, 20000000 };
		gone = kill(bg, 0) != 0;
		nanosleep(&ts, NULL);
	}
	if (!gone)
		kill(bg, SIGKILL);
	assert_true(gone);
	kb_test_rmrf(dir);
	kb_test_tmpdir_free(dir);
}

static void test_common_util__spawn_cwd_environment_and_log_fd(void **state)
{
	char *dir = kb_test_tmpdir("spawn"), log[4096], *text;
	const char *argv[] = { "sh", "-c", "pwd; echo \"$KB_T_SET/${KB_T_GONE-unset}\"", NULL };
	const char *set[] = { "KB_T_SET=yes", NULL }, *unset[] = { "KB_T_GONE", NULL };
	kb_spawn_opts o = { .cwd = dir, .env_set = set, .env_unset = unset };
	size_t len;
	FILE *f;

	(void)state;
	setenv("KB_T_GONE", "still here", 1);
	snprintf(log, sizeof(log), "%s/log", dir);
	f = fopen(log, "w");
	assert_non_null(f);
	o.out_fd = fileno(f);
	assert_int_equal(kb_spawn(argv, &o), KB_OK);
	fclose(f);
	assert_int_equal(o.status, 0);
	assert_null(o.output);
	assert_int_equal(kb_file_read(&text, &len, log, 0, "log"), KB_OK);
	assert_non_null(strstr(text, "spawn"));
	assert_non_null(strstr(text, "yes/unset\n"));
	free(text);
	unsetenv("KB_T_GONE");
	o.cwd = "/nonexistent/kb-spawn-dir";
	o.out_fd = 0;
	assert_int_equal(kb_spawn(argv, &o), KB_ERROR);
	assert_non_null(strstr(kb_error_last()->message, "/nonexistent/kb-spawn-dir"));
	kb_test_rmrf(dir);
	kb_test_tmpdir_free(dir);
}

static void test_common_util__spawn_negative_out_fd_discards_output(void **state)
{
	/* the shell's own fd 1 and 2 are /dev/null, not the caller's */
	const char *argv[] = { "sh", "-c",
			       "echo lost; [ /proc/self/fd/1 -ef /dev/null ] && "
			       "[ /proc/self/fd/2 -ef /dev/null ] && [ /proc/self/fd/0 -ef /dev/null ]",
			       NULL };
	kb_spawn_opts o = { .out_fd = -1 };

	(void)state;
	assert_int_equal(kb_spawn(argv, &o), KB_OK);
	assert_int_equal(o.status, 0);
	assert_null(o.output);
}

static void test_common_util__spawn_missing_program(void **state)
{
	const char *argv[] = { "kb-no-such-program-here", NULL };
	kb_spawn_opts o = { 0 };

	(void)state;
	assert_int_equal(kb_spawn(argv, &o), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "cannot run 'kb-no-such-program-here'"));
	assert_null(o.output);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_common_util__file_read_whole_file_and_limit),
		cmocka_unit_test(test_common_util__file_read_missing_file_names_it),
		cmocka_unit_test(test_common_util__path_find_hit_and_miss),
		cmocka_unit_test(test_common_util__spawn_exit_status_and_output),
		cmocka_unit_test(test_common_util__spawn_output_is_capped),
		cmocka_unit_test(test_common_util__spawn_kills_at_the_timeout),
		cmocka_unit_test(test_common_util__spawn_cwd_environment_and_log_fd),
		cmocka_unit_test(test_common_util__spawn_negative_out_fd_discards_output),
		cmocka_unit_test(test_common_util__spawn_missing_program),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
