/*
 * tests/cache/test_records.c - build keys, build records and their signature index,
 * test keys and accumulated test runs, hit/miss and time-saved counters.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "kb_test.h"


static kb_build_inputs inputs(kb_key *ch)
{
	kb_build_inputs in = {
		"4b825dc642cb6eb9a060e54bf8d69288fbee4904", "CONFIG_KASAN=y\n", 15, "x86_64",
		"gcc (Debian 12.2.0-14) 12.2.0", ch, "bzImage", "-j2", "KBUILD_BUILD_USER=kb\n",
	};
	memset(ch, 9, sizeof(*ch));
	return in;
}

static void test_cache_records__build_key_is_stable_and_depends_on_every_input(void **state)
{
	kb_key ch, a, b;
	kb_build_inputs in = inputs(&ch), x;
	(void)state;

	kb_build_key_compute(&a, &in);
	kb_build_key_compute(&b, &in);
	assert_true(kb_key_equal(&a, &b));
#define CHANGED(field, val)                     \
	x = in;                                 \
	x.field = val;                          \
	kb_build_key_compute(&b, &x);           \
	assert_false(kb_key_equal(&a, &b));
	CHANGED(git_tree, "4b825dc642cb6eb9a060e54bf8d69288fbee4905")
	CHANGED(config, "CONFIG_KASAN=n\n")
	CHANGED(arch, "arm64")
	CHANGED(compiler, "clang 14")
	CHANGED(compiler_hash, NULL)
	CHANGED(make_targets, "vmlinux")
	CHANGED(make_args, "-j4")
	CHANGED(kbuild_env, "")
	CHANGED(kbuild_env, NULL)
#undef CHANGED
	/* values cannot run into each other: "ab"+"c" differs from "a"+"bc" */
	x = in;
	x.make_targets = "ab";
	x.make_args = "c";
	kb_build_key_compute(&a, &x);
	x.make_targets = "a";
	x.make_args = "bc";
	kb_build_key_compute(&b, &x);
	assert_false(kb_key_equal(&a, &b));
}

static void test_cache_records__test_key_depends_on_every_input(void **state)
{
	kb_key sig, rep, guest, a, b;
	kb_test_inputs in = { &sig, &rep, &guest, "console=ttyS0", "mem=512M cpus=1" }, x;
	(void)state;

	memset(&sig, 1, 32);
	memset(&rep, 2, 32);
	memset(&guest, 3, 32);
	kb_test_key_compute(&a, &in);
	kb_test_key_compute(&b, &in);
	assert_true(kb_key_equal(&a, &b));
	x = in; x.signature = &rep; kb_test_key_compute(&b, &x); assert_false(kb_key_equal(&a, &b));
	x = in; x.repro = &sig; kb_test_key_compute(&b, &x); assert_false(kb_key_equal(&a, &b));
	x = in; x.guest = NULL; kb_test_key_compute(&b, &x); assert_false(kb_key_equal(&a, &b));
	x = in; x.cmdline = "console=ttyS1"; kb_test_key_compute(&b, &x); assert_false(kb_key_equal(&a, &b));
	x = in; x.vm_settings = "mem=1G cpus=1"; kb_test_key_compute(&b, &x); assert_false(kb_key_equal(&a, &b));
}

static void test_cache_records__build_record_roundtrips_and_is_indexed_by_signature(void **state)
{
	struct kb_test_cache *f = *state;
	kb_key ch, *keys = NULL;
	kb_build_inputs in = inputs(&ch);
	kb_build_record rec, got;
	kb_cache_stats s;
	size_t n = 0;

	memset(&rec, 0, sizeof(rec));
	kb_build_key_compute(&rec.build_key, &in);
	rec.ok = 1;
	rec.has_signature = 1;
	memset(&rec.signature, 0xab, 32);
	rec.n_artifacts = 2;
	strcpy(rec.artifacts[0].name, "vmlinux");
	memset(&rec.artifacts[0].id, 1, 32);
	strcpy(rec.artifacts[1].name, "bzImage");
	memset(&rec.artifacts[1].id, 2, 32);
	rec.duration_s = 321.5;
	strcpy(rec.host, "builder1");
	rec.time = 1700000000;
	strcpy(rec.git_tree, in.git_tree);
	rec.extra_json = strdup("{\"skipped\":[\"drivers/gpu\"]}");
	assert_int_equal(kb_cache_build_put(f->c, &rec), 0);

	assert_int_equal(kb_cache_build_get(&got, f->c, &rec.build_key), 0);
	assert_true(kb_key_equal(&got.build_key, &rec.build_key));
	assert_int_equal(got.ok, 1);
	assert_int_equal(got.has_signature, 1);
	assert_true(kb_key_equal(&got.signature, &rec.signature));
	assert_int_equal(got.n_artifacts, 2);
	assert_string_equal(got.artifacts[1].name, "bzImage");
	assert_true(kb_key_equal(&got.artifacts[1].id, &rec.artifacts[1].id));
	assert_true(got.duration_s > 321.4 && got.duration_s < 321.6);
	assert_string_equal(got.host, "builder1");
	assert_int_equal(got.time, 1700000000);
	assert_string_equal(got.git_tree, in.git_tree);
	assert_non_null(got.extra_json);
	assert_non_null(strstr(got.extra_json, "drivers/gpu"));
	kb_build_record_clear(&got);

	assert_int_equal(kb_cache_builds_by_signature(&keys, &n, f->c, &rec.signature), 0);
	assert_int_equal(n, 1);
	assert_true(kb_key_equal(&keys[0], &rec.build_key));
	free(keys);

	/* replacing the record with another signature moves the index entry */
	memset(&rec.signature, 0xcd, 32);
	assert_int_equal(kb_cache_build_put(f->c, &rec), 0);
	memset(&ch, 0xab, 32);
	assert_int_equal(kb_cache_builds_by_signature(&keys, &n, f->c, &ch), 0);
	assert_int_equal(n, 0);
	free(keys);
	assert_int_equal(kb_cache_builds_by_signature(&keys, &n, f->c, &rec.signature), 0);
	assert_int_equal(n, 1);
	free(keys);
	kb_build_record_clear(&rec);

	/* a miss, and the counters */
	memset(&ch, 0x77, 32);
	assert_int_equal(kb_cache_build_get(&got, f->c, &ch), KB_ENOTFOUND);
	assert_int_equal(kb_cache_note_build_saved(f->c, 321.5), 0);
	/* the existence query answers both ways and counts neither */
	assert_int_equal(kb_cache_build_exists(f->c, &ch), 0);
	assert_int_equal(kb_cache_build_exists(f->c, &rec.build_key), 1);
	assert_int_equal(kb_cache_stats_get(&s, f->c), 0);
	assert_int_equal(s.builds, 1);
	assert_int_equal(s.build_hits, 1);
	assert_int_equal(s.build_misses, 1);
	assert_true(s.build_seconds_saved > 321.4 && s.build_seconds_saved < 321.6);
}

static int count_builds(const kb_build_record *rec, void *arg)
{
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

static void test_cache_records__failed_builds_are_cached_with_their_error(void **state)
{
	struct kb_test_cache *f = *state;
	kb_build_record rec, got;
	kb_cache_stats s;
	int n = 0;

	memset(&rec, 0, sizeof(rec));
	memset(&rec.build_key, 5, 32);
	rec.ok = 0;
	strcpy(rec.error, "drivers/x.c:12: error: 'y' undeclared");
	assert_int_equal(kb_cache_build_put(f->c, &rec), 0);
	assert_int_equal(kb_cache_build_get(&got, f->c, &rec.build_key), 0);
	assert_int_equal(got.ok, 0);
	assert_int_equal(got.has_signature, 0);
	assert_string_equal(got.error, rec.error);
	kb_build_record_clear(&got);
	assert_int_equal(kb_cache_build_foreach(f->c, count_builds, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kb_cache_stats_get(&s, f->c), 0);
	assert_int_equal(s.build_failures, 1);
}

static void test_cache_records__bad_extra_json_is_einval(void **state)
{
	struct kb_test_cache *f = *state;
	kb_build_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.extra_json = "[not an object";
	assert_int_equal(kb_cache_build_put(f->c, &rec), KB_EINVAL);
	rec.extra_json = NULL;
}

static void test_cache_records__test_runs_accumulate_in_order(void **state)
{
	struct kb_test_cache *f = *state;
	kb_key key, other;
	kb_test_run run, *runs = NULL;
	kb_cache_stats s;
	size_t n = 9;

	memset(&key, 0x42, 32);
	memset(&other, 0x43, 32);
	assert_int_equal(kb_cache_test_list(&runs, &n, f->c, &key), 0);
	assert_int_equal(n, 0);
	free(runs);
	for (int i = 0; i < 5; i++) {
		memset(&run, 0, sizeof(run));
		run.klass = i == 2 ? KB_RUN_CRASH : KB_RUN_OK;
		if (i == 2)
			strcpy(run.title, "KASAN: use-after-free Read in vmx_vcpu_run");
		run.duration_s = i;
		run.has_console = i == 2;
		memset(&run.console, 0x11, 32);
		run.time = 1000 + i;
		assert_int_equal(kb_cache_test_add(f->c, &key, &run), 0);
	}
	run.klass = KB_RUN_INFRA;
	assert_int_equal(kb_cache_test_add(f->c, &other, &run), 0);
	assert_int_equal(kb_cache_test_list(&runs, &n, f->c, &key), 0);
	assert_int_equal(n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(runs[i].time, 1000 + i);
		assert_int_equal(runs[i].klass, i == 2 ? KB_RUN_CRASH : KB_RUN_OK);
	}
	assert_string_equal(runs[2].title, "KASAN: use-after-free Read in vmx_vcpu_run");
	assert_int_equal(runs[2].has_console, 1);
	assert_int_equal(runs[1].has_console, 0);
	free(runs);
	run.klass = 17;
	assert_int_equal(kb_cache_test_add(f->c, &key, &run), KB_EINVAL);
	assert_int_equal(kb_cache_stats_get(&s, f->c), 0);
	assert_int_equal(s.tests, 2);
	assert_int_equal(s.test_runs, 6);
	assert_int_equal(s.test_hits, 1);
	assert_int_equal(s.test_misses, 1);
}

static void test_cache_records__many_runs_in_one_call_keep_their_order(void **state)
{
	struct kb_test_cache *f = *state;
	const size_t n = 32000;
	kb_test_run *in = calloc(n, sizeof(*in)), *out = NULL;
	kb_key key;
	size_t got = 0;

	memset(&key, 0x51, 32);
	for (size_t i = 0; i < n; i++) {
		in[i].klass = i % 7 == 3 ? KB_RUN_CRASH : KB_RUN_OK;
		if (in[i].klass == KB_RUN_CRASH)
			snprintf(in[i].title, sizeof(in[i].title), "WARNING in run %zu", i);
		in[i].duration_s = 1.5;
		in[i].time = 1700000000 + (int64_t)i;
	}
	assert_int_equal(kb_cache_test_add_many(f->c, &key, in, n), 0);
	assert_int_equal(kb_cache_test_list(&out, &got, f->c, &key), 0);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(out[i].time, in[i].time);
		assert_int_equal(out[i].klass, in[i].klass);
	}
	assert_string_equal(out[3].title, "WARNING in run 3");
	free(out);
	/* one bad run: nothing stored */
	in[100].klass = 99;
	assert_int_equal(kb_cache_test_add_many(f->c, &key, in, n), KB_EINVAL);
	assert_int_equal(kb_cache_test_list(&out, &got, f->c, &key), 0);
	assert_int_equal(got, n);
	free(out);
	free(in);
}

static void test_cache_records__records_count_toward_the_size_limit(void **state)
{
	struct kb_test_cache *f = *state;
	const size_t n = 32000; /* ~4 MB of runs */
	kb_test_run *in = calloc(n, sizeof(*in));
	uint8_t *buf = malloc(1u << 20);
	kb_key ids[3], key;
	int left = 0;

	assert_int_equal(kb_cache_set_limit(f->c, 6u << 20), 0);
	for (int i = 0; i < 3; i++) {
		kb_test_fill_random(buf, 1u << 20, 60u + (unsigned)i);
		assert_int_equal(kb_cache_put_buf(&ids[i], f->c, buf, 1u << 20, NULL), 0);
	}
	memset(&key, 0x52, 32);
	for (size_t i = 0; i < n; i++) {
		in[i].klass = KB_RUN_OK;
		in[i].time = 1700000000 + (int64_t)i;
	}
	assert_int_equal(kb_cache_test_add_many(f->c, &key, in, n), 0);
	/* 3 MiB of objects + ~4 MB of runs > 6 MiB: the oldest objects made room */
	for (int i = 0; i < 3; i++)
		left += kb_cache_has(f->c, &ids[i]);
	assert_true(left < 3);
	assert_int_equal(kb_cache_has(f->c, &ids[2]), 1); /* the newest stays */
	free(in);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, kb_test_cache_setup, kb_test_cache_teardown)
		T(test_cache_records__build_key_is_stable_and_depends_on_every_input),
		T(test_cache_records__test_key_depends_on_every_input),
		T(test_cache_records__build_record_roundtrips_and_is_indexed_by_signature),
		T(test_cache_records__failed_builds_are_cached_with_their_error),
		T(test_cache_records__bad_extra_json_is_einval),
		T(test_cache_records__test_runs_accumulate_in_order),
		T(test_cache_records__many_runs_in_one_call_keep_their_order),
		T(test_cache_records__records_count_toward_the_size_limit),
#undef T
	};
	return cmocka_run_group_tests_name("cache/records", tests, NULL, NULL);
}
