/*
 * tests/cache/test_concurrency.c - 4 writer and 4 reader processes on one store at
 * once: every put is readable with the right bytes by every process, test runs and
 * build records from all writers accumulate, and the store verifies clean. Also four
 * threads sharing one handle while its map grows.
 * kb-test-labels: integration
 * kb-test-timeout: 300
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "kb_test.h"

#define WRITERS 4
#define READERS 4
#define PUTS 12

static uint8_t *gen(unsigned int seed, size_t *len, int *kind)
{
	uint8_t *buf;

	*len = 1000 + (seed * 2654435761u) % (1536u * 1024);
	*kind = seed % 3 == 0 ? KB_OBJ_VMLINUX : KB_OBJ_BLOB;
	buf = malloc(*len);
	/* every third object shares most bytes with a common one: dedup + deltas */
	kb_test_fill_random(buf, *len, seed % 3 == 0 ? 777 : seed);
	for (unsigned int i = 0; i < 64; i++)
		buf[(seed * 31u + i * 4099u) % *len] ^= (uint8_t)seed;
	return buf;
}

static void writer(const char *dir, const char *log, unsigned int w)
{
	kb_cache *c;
	int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
	kb_key tk;

	if (fd < 0 || kb_cache_open(&c, dir, KB_CACHE_CREATE))
		_exit(2);
	memset(&tk, 0x99, sizeof(tk));
	for (unsigned int i = 0; i < PUTS; i++) {
		unsigned int seed = w * 1000 + i;
		kb_put_opts o = { 0 };
		kb_test_run run = { KB_RUN_CRASH, "WARNING in x", 2.0, 0, { { 0 } }, 5 };
		kb_build_record rec;
		size_t len;
		uint8_t *buf = gen(seed, &len, &o.kind);
		kb_key id;
		char line[32];
		int n;

		if (kb_cache_put_buf(&id, c, buf, len, &o))
			_exit(4);
		free(buf);
		n = snprintf(line, sizeof(line), "%u\n", seed);
		if (write(fd, line, (size_t)n) != n)
			_exit(3);
		if (kb_cache_test_add(c, &tk, &run))
			_exit(5);
		memset(&rec, 0, sizeof(rec));
		memset(&rec.build_key, 0, 32);
		rec.build_key.b[0] = (uint8_t)w;
		rec.build_key.b[1] = (uint8_t)i;
		rec.ok = 1;
		if (kb_cache_build_put(c, &rec))
			_exit(6);
	}
	kb_cache_free(c);
	_exit(0);
}

/* Read random logged objects until the writers are done (the file done exists);
 * any wrong byte fails. */
static void reader(const char *dir, const char *const *logs, const char *done, unsigned int r)
{
	kb_cache *c = NULL;
	unsigned int x = r * 7 + 1, reads = 0;

	for (int i = 0; i < 200 && kb_cache_open(&c, dir, 0); i++)
		usleep(10000); /* the first writer creates the store */
	if (!c)
		_exit(2);
	/* until the writers are done (and a few reads made), at most ~2 minutes */
	for (int round = 0; round < 60000 && (access(done, F_OK) != 0 || reads < 8); round++) {
		const char *log = logs[round % WRITERS];
		size_t n = 0;
		char *text = kb_test_read_file(log, &n);
		unsigned int seeds[PUTS], ns = 0;
		kb_cache_stats s;
		if (text) {
			for (char *p = text; *p && ns < PUTS;) {
				char *nl = strchr(p, '\n');
				if (!nl)
					break;
				seeds[ns++] = (unsigned int)strtoul(p, NULL, 10);
				p = nl + 1;
			}
			free(text);
		}
		if (ns) {
			unsigned int seed;
			size_t len, got_len;
			int kind;
			uint8_t *want;
			void *got;
			kb_key id;
			x = x * 1103515245u + 12345u;
			seed = seeds[(x >> 8) % ns];
			want = gen(seed, &len, &kind);
			kb_sha256(&id, want, len);
			if (kb_cache_get_buf(&got, &got_len, c, &id))
				_exit(10);
			if (got_len != len || memcmp(got, want, len))
				_exit(11);
			free(got);
			free(want);
			reads++;
		}
		if (round % 50 == 0 && kb_cache_stats_get(&s, c))
			_exit(12);
		usleep(2000);
	}
	kb_cache_free(c);
	_exit(reads ? 0 : 13);
}

static void test_cache_concurrency__four_writers_and_four_readers_lose_nothing(void **state)
{
	char *dir = kb_test_tmpdir("conc");
	char logs[WRITERS][4200], done[4200];
	const char *logp[WRITERS];
	pid_t pids[WRITERS + READERS];
	kb_cache *c;
	kb_test_run *runs;
	size_t nruns;
	uint64_t bad = 99;
	kb_key tk;
	int builds = 0;

	(void)state;
	for (int w = 0; w < WRITERS; w++) {
		snprintf(logs[w], sizeof(logs[w]), "%s/w%d.log", dir, w);
		logp[w] = logs[w];
	}
	snprintf(done, sizeof(done), "%s/writers.done", dir);
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0)
			writer(dir, logs[w], (unsigned int)w + 1);
	}
	for (int r = 0; r < READERS; r++) {
		pids[WRITERS + r] = fork();
		assert_true(pids[WRITERS + r] >= 0);
		if (pids[WRITERS + r] == 0)
			reader(dir, logp, done, (unsigned int)r);
	}
	for (int i = 0; i < WRITERS + READERS; i++) {
		int st;
		if (i == WRITERS) /* writers finished: tell the readers */
			assert_int_equal(kb_test_write_file(done, "", 0), 0);
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		if (WEXITSTATUS(st))
			fail_msg("%s %d exited with %d", i < WRITERS ? "writer" : "reader",
				 i < WRITERS ? i : i - WRITERS, WEXITSTATUS(st));
	}
	assert_int_equal(kb_cache_open(&c, dir, 0), 0);
	assert_int_equal(kb_cache_verify(c, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
	for (int w = 0; w < WRITERS; w++) {
		for (unsigned int i = 0; i < PUTS; i++) {
			size_t len;
			int kind;
			uint8_t *want = gen((unsigned int)(w + 1) * 1000 + i, &len, &kind);
			kb_key id;
			kb_sha256(&id, want, len);
			assert_int_equal(kb_cache_has(c, &id), 1);
			free(want);
		}
	}
	memset(&tk, 0x99, sizeof(tk));
	assert_int_equal(kb_cache_test_list(&runs, &nruns, c, &tk), 0);
	assert_int_equal(nruns, WRITERS * PUTS);
	free(runs);
	{
		kb_cache_stats s;
		assert_int_equal(kb_cache_stats_get(&s, c), 0);
		builds = (int)s.builds;
	}
	assert_int_equal(builds, WRITERS * PUTS);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

struct thr {
	kb_cache *c;
	unsigned int t;
	int failed;
};

/* One thread of four sharing a handle: put, read back, count, pin, record. */
static void *thread_main(void *arg)
{
	struct thr *a = arg;
	for (unsigned int i = 0; i < 10 && !a->failed; i++) {
		unsigned int seed = 50000 + a->t * 100 + i;
		kb_put_opts o = { 0 };
		kb_test_run run = { KB_RUN_OK, "", 1.0, 0, { { 0 } }, 3 };
		size_t len, got_len;
		uint8_t *want = gen(seed, &len, &o.kind);
		void *got;
		kb_key id;
		if (kb_cache_put_buf(&id, a->c, want, len, &o) ||
		    kb_cache_get_buf(&got, &got_len, a->c, &id)) {
			a->failed = 1;
		} else {
			if (got_len != len || memcmp(got, want, len))
				a->failed = 2;
			free(got);
		}
		if (kb_cache_test_add(a->c, &id, &run) || kb_cache_pin(a->c, &id, (int)(i & 1)))
			a->failed = 3;
		free(want);
	}
	return NULL;
}

static void test_cache_concurrency__threads_share_one_handle(void **state)
{
	char *dir = kb_test_tmpdir("threads");
	struct thr a[4];
	pthread_t th[4];
	kb_cache *c;
	kb_cache_stats s;
	uint64_t bad = 9, hits = 0;

	(void)state;
	setenv("KBISECT_CACHE_MAPSIZE", "1048576", 1); /* the map grows under the threads */
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	unsetenv("KBISECT_CACHE_MAPSIZE");
	for (unsigned int t = 0; t < 4; t++) {
		a[t].c = c;
		a[t].t = t;
		a[t].failed = 0;
		assert_int_equal(pthread_create(&th[t], NULL, thread_main, &a[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(a[t].failed, 0);
	}
	assert_int_equal(kb_cache_verify(c, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(kb_cache_stats_get(&s, c), 0);
	for (int k = 0; k < KB_OBJ_KIND_MAX; k++)
		hits += s.hits[k];
	assert_int_equal(hits, 40); /* every get counted once */
	assert_int_equal(s.test_runs, 40);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_concurrency__four_writers_and_four_readers_lose_nothing),
		cmocka_unit_test(test_cache_concurrency__threads_share_one_handle),
	};
	return cmocka_run_group_tests_name("cache/concurrency", tests, NULL, NULL);
}
