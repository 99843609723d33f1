/*
 * tests/cache/test_orphans.c - chunks of puts that never commit: a put killed with
 * SIGKILL after its early flushes, and an abandoned (aborted) put, must not hold space
 * nor count toward the size limit (no live object is evicted for them), and a put of
 * nearly the limit is not evicted by its own clean-up.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "kb_test.h"

#define LIVE 10
#define LIVE_LEN (1024u * 1024)
#define BIG (40u * 1024 * 1024) /* past the early flushes (3 batches of 8 MiB) */

static uint64_t chunk_bytes(kb_cache *c)
{
	kb_cache_stats st;
	assert_int_equal(kb_cache_stats_get(&st, c), 0);
	return st.chunk_bytes;
}

/* Fill a cache of limit 16 MiB with LIVE incompressible objects of 1 MiB. */
static kb_cache *live_cache(const char *dir, kb_key *ids)
{
	uint8_t *buf = malloc(LIVE_LEN);
	kb_cache *c;

	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_set_limit(c, 16u << 20), 0);
	for (int i = 0; i < LIVE; i++) {
		kb_test_fill_random(buf, LIVE_LEN, 500u + (unsigned)i);
		assert_int_equal(kb_cache_put_buf(&ids[i], c, buf, LIVE_LEN, NULL), 0);
	}
	free(buf);
	return c;
}

/* A put that writes most of BIG bytes, then: kill = 1 dies by SIGKILL, else aborts. */
static void abandoned_put(const char *dir, int kill)
{
	kb_cache *c;
	kb_cache_writer *w;
	uint8_t *buf = malloc(BIG);

	kb_test_fill_random(buf, BIG, 9);
	assert_int_equal(kb_cache_open(&c, dir, 0), 0);
	assert_int_equal(kb_cache_writer_open(&w, c, NULL), 0);
	assert_int_equal(kb_cache_writer_write(w, buf, BIG - 12345), 0);
	if (kill) {
		sleep(1); /* its early flushes (a background txn) commit meanwhile */
		raise(SIGKILL);
	}
	kb_cache_writer_abort(w);
	kb_cache_free(c);
	free(buf);
}

static void check_live(kb_cache *c, const kb_key *ids)
{
	for (int i = 0; i < LIVE; i++)
		assert_int_equal(kb_cache_has(c, &ids[i]), 1);
}

static void test_cache_orphans__a_killed_put_holds_no_space_and_evicts_nothing(void **state)
{
	char *dir = kb_test_tmpdir("orph");
	kb_key ids[LIVE], id;
	uint64_t before, ev = 99;
	kb_cache *c;
	pid_t pid;
	int st;
	uint8_t small[1000];

	(void)state;
	c = live_cache(dir, ids);
	before = chunk_bytes(c);
	kb_cache_free(c);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		abandoned_put(dir, 1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(kb_cache_open(&c, dir, 0), 0);
	/* the killed put wrote 24-32 MiB of chunks, more than the limit */
	print_message("killed put left %llu MiB\n",
		      (unsigned long long)((chunk_bytes(c) - before) >> 20));
	assert_true(chunk_bytes(c) > before + (16u << 20));
	/* a put under the limit: its clean-up must evict none of the live objects */
	memset(small, 7, sizeof(small));
	assert_int_equal(kb_cache_put_buf(&id, c, small, sizeof(small), NULL), 0);
	check_live(c, ids);
	/* and the orphans are gone now, not in an hour */
	assert_int_equal(kb_cache_gc(c, 0, &ev), 0);
	assert_int_equal(ev, 0);
	check_live(c, ids);
	assert_true(chunk_bytes(c) < before + 4096);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

static void test_cache_orphans__an_aborted_put_leaves_nothing(void **state)
{
	char *dir = kb_test_tmpdir("orph");
	kb_key ids[LIVE];
	uint64_t before;
	kb_cache *c;

	(void)state;
	c = live_cache(dir, ids);
	before = chunk_bytes(c);
	kb_cache_free(c);
	abandoned_put(dir, 0);
	assert_int_equal(kb_cache_open(&c, dir, 0), 0);
	assert_int_equal(chunk_bytes(c), before);
	check_live(c, ids);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
}

static void test_cache_orphans__a_put_of_nearly_the_limit_stays(void **state)
{
	char *dir = kb_test_tmpdir("orph");
	const size_t len = 15u * 1024 * 1024; /* 94% of the 16 MiB limit */
	uint8_t *buf = malloc(len);
	kb_key ids[LIVE], id;
	kb_cache *c;

	(void)state;
	c = live_cache(dir, ids);
	kb_test_fill_random(buf, len, 31);
	assert_int_equal(kb_cache_put_buf(&id, c, buf, len, NULL), 0);
	assert_int_equal(kb_cache_has(c, &id), 1);
	assert_true(chunk_bytes(c) <= (16u << 20));
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_orphans__a_killed_put_holds_no_space_and_evicts_nothing),
		cmocka_unit_test(test_cache_orphans__an_aborted_put_leaves_nothing),
		cmocka_unit_test(test_cache_orphans__a_put_of_nearly_the_limit_stays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
