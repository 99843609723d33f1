/*
 * tests/fault/test_evict_load.c - eviction under concurrent puts, as a loaded
 * `--max-size` server sees it: three writer processes put objects (new ones, and
 * again and again the same few, so that re-puts race evictions) into a cache whose
 * limit holds a fraction of them, while a fourth runs `verify` in a loop and a fifth
 * reads. No verify run may report damage (it did in 518 of 571 runs before: evictions
 * under its reads), no get may return wrong bytes, and at the end the store verifies
 * clean and every object still stored reads back as what was put.
 * kb-test-labels: fault
 * kb-test-timeout: 300
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "kb_test.h"

#define SECONDS 20
#define SEEDS 40 /* distinct contents: seed -> bytes */

static pid_t pids[5]; /* killed by the teardown too, if the test fails half-way */

static int kill_all(void **state)
{
	(void)state;
	for (int i = 0; i < 5; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
		}
		pids[i] = 0;
	}
	return 0;
}

static size_t seed_len(unsigned int seed)
{
	return 100000 + (size_t)(seed * 2654435761u) % (3u << 20);
}

static uint8_t *seed_bytes(unsigned int seed, size_t *len)
{
	uint8_t *b;
	*len = seed_len(seed);
	b = malloc(*len);
	kb_test_fill_random(b, *len, 7000u + seed);
	return b;
}

static void log_line(const char *path, const char *fmt, unsigned long long a,
		     unsigned long long b)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	dprintf(fd, fmt, a, b);
	close(fd);
}

static void writer(const char *dir, unsigned int who, const char *errs)
{
	kb_cache *c;
	unsigned int r = who * 7919u + 1;

	if (kb_cache_open(&c, dir, 0))
		_exit(2);
	for (;;) {
		unsigned int seed;
		size_t len;
		uint8_t *b;
		kb_key id;
		r = r * 1103515245u + 12345u;
		/* half of the puts are of the same 6 objects: re-puts racing evictions */
		seed = (r >> 8) % 2 ? (r >> 12) % 6 : 6 + (r >> 12) % (SEEDS - 6);
		b = seed_bytes(seed, &len);
		if (kb_cache_put_buf(&id, c, b, len, NULL) != 0)
			log_line(errs, "put of seed %llu failed (%llu)\n", seed,
				 (unsigned long long)(unsigned int)kb_error_last()->code);
		free(b);
	}
}

/* Gets of random seeds: when a get succeeds, the bytes must be right. */
static void reader(const char *dir, const char *errs)
{
	kb_cache *c;
	unsigned int r = 99;

	if (kb_cache_open(&c, dir, 0))
		_exit(2);
	for (;;) {
		unsigned int seed;
		size_t len, got_len = 0;
		uint8_t *want;
		void *got = NULL;
		kb_key id;
		r = r * 1103515245u + 12345u;
		seed = (r >> 8) % SEEDS;
		want = seed_bytes(seed, &len);
		kb_sha256(&id, want, len);
		if (kb_cache_get_buf(&got, &got_len, c, &id) == 0 &&
		    (got_len != len || memcmp(got, want, len) != 0))
			log_line(errs, "get of seed %llu returned wrong bytes (%llu)\n", seed, got_len);
		free(got);
		free(want);
	}
}

static void report_bad(const char *what, const char *why, void *arg)
{
	int fd = open(arg, O_WRONLY | O_APPEND | O_CREAT, 0644);
	dprintf(fd, "verify: %s: %s\n", what, why);
	close(fd);
}

static int count_one(const kb_object_info *info, void *arg)
{
	(void)info;
	(*(unsigned long long *)arg)++;
	return 0;
}

static void verifier(const char *dir, const char *errs, const char *runs)
{
	kb_cache *c;

	if (kb_cache_open(&c, dir, KB_CACHE_RDONLY))
		_exit(2);
	for (;;) {
		uint64_t bad = 0;
		unsigned long long objects = 0;
		kb_cache_object_foreach(c, count_one, &objects);
		if (kb_cache_verify(c, &bad, report_bad, (void *)errs) != 0)
			log_line(errs, "verify failed to run (%llu %llu)\n", 0, 0);
		log_line(runs, "%llu %llu\n", bad, objects);
	}
}

static void test_fault_evict_load__verify_and_gets_stay_right_under_eviction(void **state)
{
	char *dir = kb_test_tmpdir("evload");
	char errs[4200], runs[4200], *log;
	kb_cache *c;
	uint64_t bad = 99;
	size_t len = 0, nruns = 0;
	kb_cache_stats st;

	(void)state;
	snprintf(errs, sizeof(errs), "%s/errors", dir);
	snprintf(runs, sizeof(runs), "%s/runs", dir);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_set_limit(c, 12u << 20), 0); /* ~8 of the 40 objects */
	kb_cache_free(c);
	for (int i = 0; i < 5; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			if (i < 3)
				writer(dir, (unsigned int)i, errs);
			else if (i == 3)
				verifier(dir, errs, runs);
			else
				reader(dir, errs);
			_exit(0);
		}
	}
	sleep(SECONDS);
	kill_all(NULL);
	log = kb_test_read_file(errs, &len);
	if (log)
		print_message("%s", log);
	assert_null(log); /* no damage reported, no put failed, no wrong bytes */
	log = kb_test_read_file(runs, &len);
	assert_non_null(log);
	for (char *p = log; *p; p++)
		nruns += *p == '\n';
	{
		/* the verify runs saw objects (the cache was not empty under them) */
		unsigned long long b, n, seen = 0, full = 0;
		for (char *p = log; sscanf(p, "%llu %llu", &b, &n) == 2; p = strchr(p, '\n') + 1) {
			seen += n;
			full += n > 0;
		}
		print_message("%llu verify runs over a non-empty cache checked %llu objects\n",
			      full, seen);
		assert_true(full >= 2);
	}
	free(log);
	assert_int_equal(kb_cache_open(&c, dir, 0), 0);
	assert_int_equal(kb_cache_stats_get(&st, c), 0);
	print_message("%zu verify runs, %llu evictions, all clean\n", nruns,
		      (unsigned long long)st.evictions);
	assert_true(st.evictions >= 20);
	assert_int_equal(kb_cache_verify(c, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
	for (unsigned int seed = 0; seed < SEEDS; seed++) {
		size_t l, gl = 0;
		uint8_t *want = seed_bytes(seed, &l);
		void *got = NULL;
		kb_key id;
		kb_sha256(&id, want, l);
		if (kb_cache_has(c, &id)) {
			assert_int_equal(kb_cache_get_buf(&got, &gl, c, &id), 0);
			assert_int_equal(gl, l);
			assert_memory_equal(got, want, l);
			free(got);
		}
		free(want);
	}
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fault_evict_load__verify_and_gets_stay_right_under_eviction,
					  kill_all),
	};
	return cmocka_run_group_tests_name("fault/evict_load", tests, NULL, NULL);
}
