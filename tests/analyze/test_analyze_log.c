/*
 * tests/analyze/test_analyze_log.c - the bisection log parser (analyze/analyze_log.c):
 * steps, runs, verdicts, "Bisecting:" counts, results, times, bad input.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kbisect/analyze.h"
#include "kbisect/error.h"
#include "analyze_internal.h"
#include "kb_test.h"

static kb_analyze_log *load_data(const char *name)
{
	char path[4096];
	kb_analyze_log *log = NULL;

	snprintf(path, sizeof(path), "%s/tests/data/logs/%s", kb_test_source_dir(), name);
	assert_int_equal(kb_analyze_log_load(&log, path), KB_OK);
	assert_non_null(log);
	return log;
}

static kb_analyze_log *parse_str(const char *text)
{
	kb_analyze_log *log = NULL;
	assert_int_equal(kb_analyze_log_parse(&log, text, strlen(text), "t.log"), KB_OK);
	return log;
}

static void test_analyze_log__seed_has_all_steps_and_verdicts(void **state)
{
	kb_analyze_log *log = load_data("seed-vmx_vcpu_run.log");
	const kb_alog_step *st;
	(void)state;

	assert_int_equal(log->kind, KB_ALOG_CAUSE);
	assert_int_equal(log->nsteps, 17);
	assert_string_equal(log->start, "a99163e9e708d5d773b7de6da952fcddc341f977");
	assert_string_equal(log->bisect_bad, "a99163e9e708d5d773b7de6da952fcddc341f977");
	assert_string_equal(log->bisect_good, "f40ddce88593482919761f74910f42f4b84c004b");
	assert_int_equal(log->left_start, 4263);

	st = &log->steps[0];
	assert_int_equal(st->phase, KB_ALOG_PHASE_ORIGINAL);
	assert_int_equal(st->noutcomes, 1);
	assert_int_equal(st->outcomes[0].kind, KB_ALOG_RUN_CRASHED);
	assert_string_equal(st->outcomes[0].title, "general protection fault in vmx_vcpu_run");
	assert_true(st->runs_estimated);
	assert_string_equal(st->compiler, "gcc (GCC) 10.2.1 20210217");

	st = &log->steps[1];
	assert_int_equal(st->phase, KB_ALOG_PHASE_RELEASE);
	assert_string_equal(st->release, "v5.11");

	st = &log->steps[2]; /* 5bbb336: 1 SYZFAIL + 9 OK, bad */
	assert_int_equal(st->phase, KB_ALOG_PHASE_BISECT);
	assert_int_equal(st->nruns, 10);
	assert_false(st->runs_estimated);
	assert_int_equal(st->git_verdict, KB_ALOG_V_BAD);
	assert_int_equal(st->left_before, 4263);
	assert_int_equal(st->left_after, 2232);
	assert_string_equal(st->outcomes[0].title, "SYZFAIL: wrong response packet");
	assert_int_equal(st->outcomes[1].kind, KB_ALOG_RUN_OK);
	assert_int_equal(st->outcomes[1].count, 9);
	assert_non_null(st->subject);
	assert_true(strstr(st->subject, "io_uring") != NULL);

	st = &log->steps[4]; /* 780607b: 20 runs */
	assert_int_equal(st->nruns, 20);
	st = &log->steps[5]; /* 889231c6: "all runs: OK" after a 20-run step */
	assert_int_equal(st->nruns, 20);
	assert_int_equal(st->git_verdict, KB_ALOG_V_GOOD);

	st = &log->steps[16];
	assert_int_equal(st->phase, KB_ALOG_PHASE_PARENT);
	assert_string_equal(st->hash, "e71ba9452f0b5b2e8dc8aa5445198cd9214a6a62");
	assert_string_equal(st->sig, log->steps[5].sig);
	assert_int_equal(st->nruns, 0);

	assert_int_equal(log->result, KB_ALOG_RES_CULPRIT);
	assert_string_equal(log->culprit, "167dcfc08b0b1f964ea95d410aa496fd78adf475");
	assert_string_equal(log->culprit_subject,
			    "x86/mm: Increase pgt_buf size for 5-level page tables");
	assert_string_equal(log->parent, "e71ba9452f0b5b2e8dc8aa5445198cd9214a6a62");
	assert_string_equal(log->culprit_sig,
		"35e1b2488a54b2f195f354e1ee49592c078928fbbf7889f3ba0dd87154db1e87");
	assert_string_equal(log->parent_sig, log->steps[5].sig);
	assert_string_equal(log->final_crash, "SYZFAIL: wrong response packet");
	assert_true(log->flaky);
	assert_int_equal(log->revisions_tested, 16);
	assert_true(log->total_time > 15700 && log->total_time < 15701);
	assert_true(log->build_time > 7018 && log->build_time < 7019);
	assert_true(log->test_time > 8597 && log->test_time < 8598);
	kb_analyze_log_free(log);
}

static void test_analyze_log__commit_message_lines_are_not_steps(void **state)
{
	/* cause-supported.log has an indented "testing commit" in the commit message and
	 * one in the crash report after "crash:" */
	kb_analyze_log *log = load_data("cause-supported.log");
	(void)state;
	assert_int_equal(log->nsteps, 6);
	for (int i = 0; i < log->nsteps; i++) {
		assert_string_not_equal(log->steps[i].hash,
					"0000000000000000000000000000000000000000");
		assert_string_not_equal(log->steps[i].hash,
					"ffffffffffffffffffffffffffffffffffffffff");
	}
	assert_int_equal(log->result, KB_ALOG_RES_CULPRIT);
	kb_analyze_log_free(log);
}

static void test_analyze_log__fix_bisection_is_recognised(void **state)
{
	kb_analyze_log *log = load_data("fix.log");
	(void)state;
	assert_int_equal(log->kind, KB_ALOG_FIX);
	assert_int_equal(log->nsteps, 5);
	assert_int_equal(log->steps[1].phase, KB_ALOG_PHASE_HEAD);
	assert_int_equal(log->steps[3].git_verdict, KB_ALOG_V_BAD);
	assert_int_equal(log->result, KB_ALOG_RES_CULPRIT);
	assert_string_equal(log->culprit, log->steps[3].hash);
	kb_analyze_log_free(log);
}

static void test_analyze_log__skips_build_errors_crlf_and_inconclusive(void **state)
{
	kb_analyze_log *log = load_data("skips-builderrors.log");
	(void)state;
	assert_int_equal(log->nsteps, 7);
	assert_true(log->steps[2].build_failed);
	assert_non_null(strstr(log->steps[2].build_error, "implicit declaration"));
	assert_int_equal(log->steps[2].git_verdict, KB_ALOG_V_SKIP);
	assert_int_equal(log->steps[3].outcomes[0].kind, KB_ALOG_RUN_BOOT_FAILED);
	assert_int_equal(log->steps[3].outcomes[0].count, 7);
	assert_int_equal(log->steps[5].outcomes[0].kind, KB_ALOG_RUN_INFRA);
	assert_int_equal(log->steps[5].outcomes[1].kind, KB_ALOG_RUN_IGNORED);
	assert_int_equal(log->steps[6].outcomes[1].kind, KB_ALOG_RUN_TEST_FAILED);
	assert_int_equal(log->result, KB_ALOG_RES_INCONCLUSIVE);
	assert_int_equal(log->ncandidates, 2); /* listed twice in the log, kept once */
	assert_string_equal(log->culprit, "");
	/* CRLF line ends are stripped */
	assert_null(strchr(log->steps[0].compiler, '\r'));
	kb_analyze_log_free(log);
}

static void test_analyze_log__oldest_release_crashes_result(void **state)
{
	kb_analyze_log *log = load_data("oldest-release-crashes.log");
	(void)state;
	assert_int_equal(log->nsteps, 3);
	assert_int_equal(log->steps[1].phase, KB_ALOG_PHASE_RELEASE);
	assert_int_equal(log->steps[2].phase, KB_ALOG_PHASE_RELEASE);
	assert_string_equal(log->steps[2].release, "v5.7");
	assert_int_equal(log->result, KB_ALOG_RES_OLDEST_BAD);
	kb_analyze_log_free(log);
}

static void test_analyze_log__unknown_lines_are_skipped(void **state)
{
	kb_analyze_log *log = parse_str(
		"some banner\n"
		"testing commit 0123456789abcdef0123456789abcdef01234567 with gcc\n"
		"weird line: 42\n"
		"kernel signature: abcd\n"
		"run #0: OK\n"
		"run #x: broken\n"
		"run #1: spontaneous combustion\n"
		"# git bisect frobnicate 0123456\n");
	(void)state;
	assert_int_equal(log->nsteps, 1);
	assert_string_equal(log->steps[0].sig, "abcd");
	assert_int_equal(log->steps[0].nruns, 2); /* the unknown outcome counts, censored */
	assert_int_equal(log->steps[0].outcomes[1].kind, KB_ALOG_RUN_INFRA);
	assert_int_equal(log->nlines, 8);
	assert_int_equal(log->nknown, 4);
	kb_analyze_log_free(log);
}

static void test_analyze_log__not_a_log_returns_einval(void **state)
{
	kb_analyze_log *log = (kb_analyze_log *)1;
	const char bin[] = "\x7f" "ELF\0\0\0testing commit 0123456789abcdef\n";
	(void)state;

	assert_int_equal(kb_analyze_log_parse(&log, "hello\nworld\n", 12, "x.txt"), KB_EINVAL);
	assert_null(log);
	assert_non_null(strstr(kb_error_last()->message, "'x.txt' is not a syzkaller bisection log"));
	assert_int_equal(kb_analyze_log_parse(&log, "", 0, "empty"), KB_EINVAL);
	assert_int_equal(kb_analyze_log_parse(&log, bin, sizeof(bin) - 1, "vmlinux"), KB_EINVAL);
	assert_non_null(strstr(kb_error_last()->message, "binary"));
	assert_int_equal(kb_analyze_log_parse(NULL, "x", 1, NULL), KB_EINVAL);
	assert_int_equal(kb_analyze_log_load(&log, "/nonexistent/bisect.log"), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "/nonexistent/bisect.log"));
}

static void test_analyze_log__new_syzkaller_wording(void **state)
{
	kb_analyze_log *log = parse_str(
		"bisecting fixing commit since 0123456789abcdef0123456789abcdef01234567\n"
		"ensuring issue is reproducible on original commit "
		"0123456789abcdef0123456789abcdef01234567\n"
		"testing commit 0123456789abcdef0123456789abcdef01234567 gcc\n"
		"compiler: gcc (Debian 12.2.0-14) 12.2.0\n"
		"all runs: crashed: WARNING in foo\n"
		"representative crash: WARNING in foo, types: [WARNING]\n"
		"determining the merge base between 0123456 and 1111111\n"
		"2222222222222222222222222222222222222222/x is a merge base, check if it has the bug\n"
		"testing commit 2222222222222222222222222222222222222222 gcc\n"
		"all runs: OK\n"
		"testing current HEAD 3333333333333333333333333333333333333333\n"
		"testing commit 3333333333333333333333333333333333333333 gcc\n"
		"all runs: OK\n"
		"crash still not fixed or there were kernel test errors\n");
	(void)state;
	assert_int_equal(log->kind, KB_ALOG_FIX);
	assert_int_equal(log->nsteps, 3);
	assert_int_equal(log->steps[0].phase, KB_ALOG_PHASE_ORIGINAL);
	assert_string_equal(log->steps[0].compiler, "gcc (Debian 12.2.0-14) 12.2.0");
	assert_int_equal(log->steps[1].phase, KB_ALOG_PHASE_OTHER);
	assert_int_equal(log->steps[2].phase, KB_ALOG_PHASE_HEAD);
	assert_int_equal(log->result, KB_ALOG_RES_STILL_CRASHES);
	kb_analyze_log_free(log);
}

static void test_analyze_log__too_many_steps_returns_einval(void **state)
{
	size_t cap = 3000 * 60, n = 0;
	char *text = malloc(cap);
	kb_analyze_log *log = NULL;
	(void)state;
	assert_non_null(text);
	for (int i = 0; i < 2500; i++)
		n += (size_t)snprintf(text + n, cap - n, "testing commit %040x\nall runs: OK\n", i);
	assert_int_equal(kb_analyze_log_parse(&log, text, n, "big.log"), KB_EINVAL);
	assert_null(log);
	assert_non_null(strstr(kb_error_last()->message, "'big.log' has more than"));
	free(text);
}

static void test_analyze_log__hash_prefix_lookup(void **state)
{
	kb_analyze_log *log = parse_str(
		"testing commit 0123456789abcdef0123456789abcdef01234567\n"
		"all runs: OK\n"
		"testing commit fedcba9876543210fedcba9876543210fedcba98\n"
		"all runs: OK\n");
	(void)state;
	assert_int_equal(kb_analyze__find_step(log, "fedcba98"), 1);
	assert_int_equal(kb_analyze__find_step(log, "0123456789abcdef0123456789abcdef01234567"), 0);
	assert_int_equal(kb_analyze__find_step(log, "012345"), -1); /* < 7 digits */
	assert_int_equal(kb_analyze__find_step(log, "aaaaaaaa"), -1);
	assert_int_equal(log->steps[0].nruns, 10); /* no hint anywhere: the default */
	kb_analyze_log_free(log);
}

static void test_analyze_log__go_durations(void **state)
{
	double d;
	(void)state;
	assert_int_equal(kb_analyze__parse_duration("4h21m40.5s", &d), 0);
	assert_true(d > 15700.49 && d < 15700.51);
	assert_int_equal(kb_analyze__parse_duration("1m0s", &d), 0);
	assert_true(d == 60);
	assert_int_equal(kb_analyze__parse_duration("500ms", &d), 0);
	assert_true(d > 0.499 && d < 0.501);
	assert_int_equal(kb_analyze__parse_duration("3\xc2\xb5s", &d), 0);
	assert_int_equal(kb_analyze__parse_duration("", &d), -1);
	assert_int_equal(kb_analyze__parse_duration("5 parsecs", &d), -1);
	assert_int_equal(kb_analyze__parse_duration("-1s", &d), -1);
	assert_int_equal(kb_analyze__parse_duration("12", &d), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_analyze_log__seed_has_all_steps_and_verdicts),
		cmocka_unit_test(test_analyze_log__commit_message_lines_are_not_steps),
		cmocka_unit_test(test_analyze_log__fix_bisection_is_recognised),
		cmocka_unit_test(test_analyze_log__skips_build_errors_crlf_and_inconclusive),
		cmocka_unit_test(test_analyze_log__oldest_release_crashes_result),
		cmocka_unit_test(test_analyze_log__unknown_lines_are_skipped),
		cmocka_unit_test(test_analyze_log__not_a_log_returns_einval),
		cmocka_unit_test(test_analyze_log__new_syzkaller_wording),
		cmocka_unit_test(test_analyze_log__too_many_steps_returns_einval),
		cmocka_unit_test(test_analyze_log__hash_prefix_lookup),
		cmocka_unit_test(test_analyze_log__go_durations),
	};
	return cmocka_run_group_tests_name("analyze/analyze_log", tests, NULL, NULL);
}
