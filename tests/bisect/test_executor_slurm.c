/*
 * tests/bisect/test_executor_slurm.c - the Slurm executor's job states against stand-in
 * sbatch/squeue/scancel scripts on $PATH (real processes, states the test sets): a job
 * Slurm rejects is an error at open with Slurm's message, submission parses the job id,
 * a job lost to NODE_FAIL or PREEMPTED is resubmitted (at most 3 times), a FAILED or
 * CANCELLED job is not, scancel ends a job, --slurm-args are split with quotes kept,
 * the abort (second Ctrl-C) scancels exactly the jobs still in flight, and jobs are
 * looked at less often as they get older.
 * The real cluster is tests/cli/t3110-bisect-slurm.sh.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "executor_slurm.h"
#include "kbisect/error.h"
#include "kb_test.h"

static char dir[256];

static void nolog(void *ctx, const char *line)
{
	(void)ctx;
	(void)line;
}

static void script(const char *name, const char *body)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\nD=%s\n%s", dir, body);
	fclose(f);
	chmod(path, 0755);
}

static void set_state(long id, const char *st)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/state.%ld", dir, id);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", st);
	fclose(f);
}

static int setup(void **state)
{
	char path[1024];
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kb-test-slurm.XXXXXX");
	assert_non_null(mkdtemp(dir));
	/* sbatch: --test-only rejects partition "bad"; else the next id, args logged */
	script("sbatch", "for a; do case $a in --partition=bad) echo 'sbatch: error: "
			 "Batch job submission failed: Invalid partition name specified' >&2; "
			 "exit 1;; esac; done\n"
			 "for a; do [ \"$a\" = --test-only ] && exit 0; done\n"
			 "n=$(cat $D/next 2>/dev/null || echo 100); echo $((n+1)) > $D/next\n"
			 "printf '%s\\n' \"$@\" > $D/args.$n; echo PENDING > $D/state.$n; echo $n\n");
	/* squeue -h --states=all -o FMT -j ids: "id|STATE|reason" from the state files */
	script("squeue", "for a; do ids=$a; done\n"
			 "for i in $(echo $ids | tr , ' '); do [ -f $D/state.$i ] && "
			 "echo \"$i|$(cat $D/state.$i)|None\"; done; exit 0\n");
	/* scancel [--quiet] id...: each id CANCELLED, and listed in $D/scancelled */
	script("scancel", "for a; do case $a in -*) ;; *) echo CANCELLED > $D/state.$a; "
			  "echo $a >> $D/scancelled;; esac; done\n");
	snprintf(path, sizeof(path), "%s:%s", dir, getenv("PATH"));
	setenv("PATH", path, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_bisect_slurm__rejected_at_open(void **state)
{
	kb_slurm *s = NULL;
	kb_slurm_opts o = { .partition = "bad", .log = nolog };
	(void)state;
	assert_int_equal(kb_slurm_open(&s, &o), KB_EINVAL);
	assert_null(s);
	assert_non_null(strstr(kb_error_last()->message, "Invalid partition name"));
	assert_non_null(strstr(kb_error_last()->message, "--slurm-partition"));
	kb_error_clear();
}

static void test_bisect_slurm__lost_jobs_resubmitted(void **state)
{
	kb_slurm *s = NULL;
	kb_slurm_opts o = { .partition = "debug", .args = "--qos=x --comment='a b'",
			    .log = nolog };
	kb_slurm_job a = { .name = "a", .script = "true", .time_min = 5 };
	kb_slurm_job b = { .name = "b", .script = "true", .time_min = 5 };
	kb_slurm_job *jobs[2] = { &a, &b };
	char path[512], args[4096] = "";
	(void)state;
	assert_int_equal(kb_slurm_open(&s, &o), 0);
	assert_int_equal(kb_slurm_submit(s, &a), 0);
	assert_int_equal(kb_slurm_submit(s, &b), 0);
	assert_int_equal(a.id, 100);
	assert_int_equal(b.id, 101);
	/* the options Slurm got: time limit, partition, the user's (quotes kept together) */
	snprintf(path, sizeof(path), "%s/args.100", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(args, 1, sizeof(args) - 1, f);
	args[n] = '\0';
	fclose(f);
	assert_non_null(strstr(args, "--time=5\n"));
	assert_non_null(strstr(args, "--partition=debug\n"));
	assert_non_null(strstr(args, "--comment=a b\n"));
	assert_non_null(strstr(args, "--wrap=true\n"));

	set_state(100, "RUNNING");
	set_state(101, "NODE_FAIL");
	assert_int_equal(kb_slurm_poll(s, jobs, 2), 0);
	assert_int_equal(a.phase, KB_SLURM_QUEUED);
	assert_int_equal(b.phase, KB_SLURM_QUEUED); /* lost: submitted again */
	assert_int_equal(b.id, 102);
	assert_int_equal(b.lost, 1);
	set_state(100, "FAILED");   /* the job's own failure: not resubmitted */
	set_state(102, "PREEMPTED");
	assert_int_equal(kb_slurm_poll(s, jobs, 2), 0);
	assert_int_equal(a.phase, KB_SLURM_DONE);
	assert_string_equal(a.state, "FAILED");
	assert_int_equal(a.resubmits, 0);
	assert_int_equal(b.id, 103);
	set_state(103, "NODE_FAIL");
	assert_int_equal(kb_slurm_poll(s, jobs, 2), 0);
	assert_int_equal(b.id, 104);
	set_state(104, "NODE_FAIL"); /* the fourth loss: given up, DONE with its state */
	assert_int_equal(kb_slurm_poll(s, jobs, 2), 0);
	assert_int_equal(b.phase, KB_SLURM_DONE);
	assert_string_equal(b.state, "NODE_FAIL");
	assert_int_equal(b.resubmits, 3);
	assert_int_equal(b.lost, 4);
	assert_int_equal(kb_slurm_submitted(s), 5);

	kb_slurm_job c = { .name = "c", .script = "sleep 1", .time_min = 1 };
	kb_slurm_job *one[1] = { &c };
	assert_int_equal(kb_slurm_submit(s, &c), 0);
	set_state(c.id, "RUNNING");
	kb_slurm_cancel(s, &c);
	assert_int_equal(c.phase, KB_SLURM_DONE);
	assert_int_equal(c.cancelled, 1);
	assert_int_equal(kb_slurm_wait(s, one, 1, NULL, NULL), 0);
	kb_slurm_free(s);
}

/* the second Ctrl-C: one scancel of every job submitted and not seen ended, by any
 * executor of the process (jobs resubmitted under a new id included), then none */
static void test_bisect_slurm__abort_cancels_jobs_in_flight(void **state)
{
	kb_slurm *s = NULL, *s2 = NULL;
	kb_slurm_opts o = { .log = nolog };
	kb_slurm_job a = { .name = "a", .script = "true", .time_min = 5 };
	kb_slurm_job b = { .name = "b", .script = "true", .time_min = 5 };
	kb_slurm_job c = { .name = "c", .script = "true", .time_min = 5 };
	kb_slurm_job d = { .name = "d", .script = "true", .time_min = 5 };
	kb_slurm_job *jobs[3] = { &a, &b, &c };
	char path[512], got[256] = "";
	(void)state;
	assert_int_equal(kb_slurm_abort_all(), 0); /* nothing in flight */
	assert_int_equal(kb_slurm_open(&s, &o), 0);
	assert_int_equal(kb_slurm_open(&s2, &o), 0);
	assert_int_equal(kb_slurm_submit(s, &a), 0);
	assert_int_equal(kb_slurm_submit(s, &b), 0);
	assert_int_equal(kb_slurm_submit(s, &c), 0);
	assert_int_equal(kb_slurm_submit(s2, &d), 0);
	set_state(a.id, "COMPLETED");  /* ended: not cancelled */
	set_state(b.id, "NODE_FAIL");  /* lost: resubmitted, the new id is in flight */
	set_state(c.id, "RUNNING");
	long b_old = b.id;
	assert_int_equal(kb_slurm_poll(s, jobs, 3), 0);
	assert_int_not_equal(b.id, b_old);
	snprintf(path, sizeof(path), "%s/scancelled", dir);
	unlink(path);
	assert_int_equal(kb_slurm_abort_all(), 3);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	char want[256];
	snprintf(want, sizeof(want), "%ld\n%ld\n%ld\n", b.id, c.id, d.id);
	assert_string_equal(got, want);
	assert_int_equal(kb_slurm_abort_all(), 0); /* given to scancel once */
	kb_slurm_free(s);
	kb_slurm_free(s2);
}

/* young jobs are looked at every 0.25 s, older ones every twentieth of their age, at
 * most every 2 s: a 90 s build costs ~90 squeue calls, not 360 */
static void test_bisect_slurm__poll_interval_backs_off(void **state)
{
	(void)state;
	assert_true(kb_slurm_poll_interval(0) == 0.25);
	assert_true(kb_slurm_poll_interval(5.0) == 0.25);
	assert_true(kb_slurm_poll_interval(10.0) == 0.5);
	assert_true(kb_slurm_poll_interval(30.0) == 1.5);
	assert_true(kb_slurm_poll_interval(40.0) == 2.0);
	assert_true(kb_slurm_poll_interval(3600.0) == 2.0);
	double t = 0;
	unsigned calls = 0;
	while (t < 90)
		t += kb_slurm_poll_interval(t), calls++;
	assert_true(calls < 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bisect_slurm__rejected_at_open),
		cmocka_unit_test(test_bisect_slurm__lost_jobs_resubmitted),
		cmocka_unit_test(test_bisect_slurm__abort_cancels_jobs_in_flight),
		cmocka_unit_test(test_bisect_slurm__poll_interval_backs_off),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
