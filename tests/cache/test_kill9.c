/*
 * tests/cache/test_kill9.c - durability: writer processes killed with SIGKILL at random
 * points (in the middle of puts of multi-chunk, multi-batch and delta objects, record
 * writes and pins), many times; afterwards the store verifies clean and every object whose put
 * returned is intact.
 * kb-test-labels: integration
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "kb_test.h"

#define ROUNDS 30
#define IMG (2u * 1024 * 1024 + 12345)

/* Content of object seed: odd seeds are "kernels" close to one base, even ones blobs. */
static uint8_t *gen(unsigned int seed, size_t *len, int *kind)
{
	uint8_t *buf;

	if (seed & 1) {
		*len = IMG;
		*kind = KB_OBJ_VMLINUX;
		buf = malloc(*len);
		kb_test_fill_random(buf, *len, 4242);
		for (unsigned int i = 0; i < 200; i++)
			buf[(seed * 7919u + i * 104729u) % *len] ^= (uint8_t)(seed | 1);
	} else if (seed % 8 == 4) {
		/* four batches: the first three are committed in the background */
		*len = 26u * 1024 * 1024 + seed;
		*kind = KB_OBJ_BLOB;
		buf = malloc(*len);
		kb_test_fill_random(buf, *len, seed);
	} else {
		*len = (seed * 2654435761u) % (3u * 1024 * 1024);
		*kind = KB_OBJ_BLOB;
		buf = malloc(*len + 1);
		kb_test_fill_random(buf, *len, seed);
		if (*len > 200000)
			memset(buf + 1000, 0, 150000);
	}
	return buf;
}

static size_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* A writer that never stops: puts, records, pins; logs each finished put. */
static void writer(const char *dir, const char *log, unsigned int base_seed)
{
	kb_cache *c;
	int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);

	if (fd < 0 || kb_cache_open(&c, dir, KB_CACHE_CREATE))
		_exit(2);
	for (unsigned int i = 0;; i++) {
		unsigned int seed = base_seed + i;
		kb_put_opts o = { 0 };
		size_t len;
		uint8_t *buf = gen(seed, &len, &o.kind);
		kb_key id;
		char line[32];
		int n;

		if (kb_cache_put_buf(&id, c, buf, len, &o) == 0) {
			n = snprintf(line, sizeof(line), "%u\n", seed);
			if (write(fd, line, (size_t)n) != n)
				_exit(3);
		}
		free(buf);
		if (i % 3 == 0) {
			kb_test_run run = { KB_RUN_OK, "", 1.0, 0, { { 0 } }, 1 };
			kb_build_record rec;
			memset(&rec, 0, sizeof(rec));
			memset(&rec.build_key, (int)(seed & 0xff), 32);
			rec.ok = 1;
			rec.has_signature = 1;
			memset(&rec.signature, 7, 32);
			kb_cache_test_add(c, &id, &run);
			kb_cache_build_put(c, &rec);
			kb_cache_pin(c, &id, (int)(i & 1));
		}
	}
}

static void test_cache_kill9__killed_writers_leave_a_consistent_store(void **state)
{
	char *dir = kb_test_tmpdir("kill9");
	char log[4200];
	kb_cache *c;
	uint64_t bad = 99;
	size_t loglen = 0, checked = 0;
	char *logged;
	unsigned int rnd = (unsigned int)time(NULL);
	const char *env = getenv("KB_KILL9_ROUNDS"); /* longer stress runs by hand */
	int rounds = env && atoi(env) > 0 ? atoi(env) : ROUNDS;

	(void)state;
	snprintf(log, sizeof(log), "%s/committed.log", dir);
	/* create the store first so that writers race only on puts */
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	kb_cache_free(c);
	for (int r = 0; r < rounds; r++) {
		pid_t pids[2];
		int nw = 1 + (r % 2); /* every other round two writers race */
		for (int k = 0; k < nw; k++) {
			pids[k] = fork();
			assert_true(pids[k] >= 0);
			if (pids[k] == 0)
				writer(dir, log, (unsigned int)(r * 1000 + k * 500));
		}
		if (r % 3 == 0) {
			/* every third round lets at least one more put finish first, so
			 * that slow (sanitizer, loaded) runs also check committed objects */
			size_t before = file_size(log);
			for (int w = 0; w < 2000 && file_size(log) == before; w++)
				usleep(5000);
		}
		rnd = rnd * 1103515245u + 12345u;
		usleep(20000 + (rnd >> 8) % 250000);
		for (int k = 0; k < nw; k++) {
			int st;
			kill(pids[k], SIGKILL);
			assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
			assert_true(WIFSIGNALED(st)); /* killed, not failed */
		}
	}
	/* after all that: the store opens, verifies clean, and has what was logged */
	assert_int_equal(kb_cache_open(&c, dir, 0), 0);
	assert_int_equal(kb_cache_verify(c, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
	logged = kb_test_read_file(log, &loglen);
	assert_non_null(logged);
	for (char *p = logged; *p;) {
		char *nl = strchr(p, '\n');
		unsigned int seed;
		size_t len, got_len;
		int kind;
		uint8_t *want;
		void *got;
		kb_key id;
		if (!nl)
			break; /* a line cut by the kill */
		seed = (unsigned int)strtoul(p, NULL, 10);
		want = gen(seed, &len, &kind);
		kb_sha256(&id, want, len);
		assert_int_equal(kb_cache_get_buf(&got, &got_len, c, &id), 0);
		assert_int_equal(got_len, len);
		assert_memory_equal(got, want, len);
		free(got);
		free(want);
		checked++;
		p = nl + 1;
	}
	print_message("%zu committed objects checked after %d rounds of kill -9\n", checked, rounds);
	assert_true(checked >= (size_t)rounds / 3);
	/* and it still takes new objects */
	{
		kb_key id;
		assert_int_equal(kb_cache_put_buf(&id, c, "after", 5, NULL), 0);
	}
	kb_cache_free(c);
	free(logged);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_kill9__killed_writers_leave_a_consistent_store),
	};
	return cmocka_run_group_tests_name("cache/kill9", tests, NULL, NULL);
}
