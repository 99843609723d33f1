/*
 * tests/cache/test_races.c - races between a put and an eviction, made deterministic
 * with the store's test hook (kb_cache__test_hook: runs an eviction at the moment a
 * writer has looked its object up and is about to commit), and the repair of an object
 * stored with parts missing by an earlier kbisect. A large re-put whose reused chunks
 * vanish is done again (put_buf, put_file); the streaming writer (the server's) gets
 * an error saying to put again, never a corrupt object.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "cache_internal.h"
#include "kb_test.h"

/* 3 chunks and a bit: the last, partial batch is what an already-stored put skips */
#define OBJ (3u * 1024 * 1024 + 4321)

static int evictions_left;

/* The hook: evict everything (unpinned) once, from inside the put. */
static const char *evict_at = "commit";

static void evict_all(const char *point, kb_cache *c)
{
	uint64_t n = 0;

	if (strcmp(point, evict_at) != 0 || evictions_left <= 0)
		return;
	evictions_left--;
	assert_int_equal(kb_cache_gc(c, 1, &n), 0);
}

static void check_bytes(kb_cache *c, const kb_key *id, const uint8_t *want, size_t len)
{
	void *p = NULL;
	size_t n = 0;
	uint64_t bad = 99;

	assert_int_equal(kb_cache_get_buf(&p, &n, c, id), 0);
	assert_int_equal(n, len);
	assert_memory_equal(p, want, len);
	free(p);
	assert_int_equal(kb_cache_verify(c, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
}

static void test_cache_races__reput_racing_eviction_stores_the_whole_object(void **state)
{
	char *dir = kb_test_tmpdir("race");
	uint8_t *buf = malloc(OBJ);
	kb_cache *c;
	kb_key id, id2;
	kb_object_info info;

	(void)state;
	kb_test_fill_random(buf, OBJ, 77);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_put_buf(&id, c, buf, OBJ, NULL), 0);

	/* put it again; the eviction lands between the writer's look-up and its commit */
	evictions_left = 1;
	kb_cache__test_hook = evict_all;
	assert_int_equal(kb_cache_put_buf(&id2, c, buf, OBJ, NULL), 0);
	kb_cache__test_hook = NULL;
	assert_int_equal(evictions_left, 0); /* the hook ran */
	assert_true(kb_key_equal(&id, &id2));
	assert_int_equal(kb_cache_object_info(&info, c, &id), 0);
	assert_int_equal(info.size, OBJ);
	check_bytes(c, &id, buf, OBJ);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
	free(buf);
}

static void test_cache_races__streaming_reput_racing_eviction(void **state)
{
	char *dir = kb_test_tmpdir("race");
	uint8_t *buf = malloc(OBJ);
	kb_cache *c;
	kb_cache_writer *w;
	kb_key id, id2;

	(void)state;
	kb_test_fill_random(buf, OBJ, 78);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_put_buf(&id, c, buf, OBJ, NULL), 0);
	/* the server's path: a writer fed in pieces, committed against an expected id */
	assert_int_equal(kb_cache_writer_open(&w, c, NULL), 0);
	for (size_t off = 0; off < OBJ; off += 100000)
		assert_int_equal(kb_cache_writer_write(w, buf + off,
						       OBJ - off < 100000 ? OBJ - off : 100000), 0);
	evictions_left = 1;
	kb_cache__test_hook = evict_all;
	assert_int_equal(kb_cache_writer_commit(&id2, w, &id), 0);
	kb_cache__test_hook = NULL;
	assert_int_equal(evictions_left, 0);
	check_bytes(c, &id, buf, OBJ);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
	free(buf);
}

static void test_cache_races__large_reput_racing_eviction_is_done_again(void **state)
{
	const size_t len = 20u * 1024 * 1024 + 777; /* batches before the last one reuse chunks */
	char *dir = kb_test_tmpdir("race");
	char path[4200];
	uint8_t *buf = malloc(len);
	kb_cache *c;
	kb_key id, id2;

	(void)state;
	kb_test_fill_random(buf, len, 81);
	snprintf(path, sizeof(path), "%s/input", dir);
	assert_int_equal(kb_test_write_file(path, buf, len), 0);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_put_buf(&id, c, buf, len, NULL), 0);
	/* every chunk the re-put found stored is gone by its commit: it puts again */
	evictions_left = 1;
	kb_cache__test_hook = evict_all;
	assert_int_equal(kb_cache_put_buf(&id2, c, buf, len, NULL), 0);
	assert_int_equal(evictions_left, 0);
	check_bytes(c, &id, buf, len);
	/* the same from a file (read again from its start) */
	evictions_left = 1;
	assert_int_equal(kb_cache_put_file(&id2, c, path, NULL), 0);
	kb_cache__test_hook = NULL;
	assert_int_equal(evictions_left, 0);
	assert_true(kb_key_equal(&id, &id2));
	check_bytes(c, &id, buf, len);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
	free(buf);
}

/* Cut the last part off the stored header of id, as the race above did before the fix. */
static void damage_header(kb_cache *c, const kb_key *id)
{
	MDB_txn *t;
	MDB_val k = { 32, (void *)id->b }, v;
	struct kb_obj_hdr h;
	uint8_t *copy;

	assert_int_equal(mdb_txn_begin(c->env, NULL, 0, &t), 0);
	assert_int_equal(mdb_get(t, c->obj, &k, &v), 0);
	copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	memcpy(&h, copy, sizeof(h));
	h.nparts--;
	memcpy(copy, &h, sizeof(h));
	v.mv_data = copy;
	v.mv_size -= 32;
	assert_int_equal(mdb_put(t, c->obj, &k, &v, 0), 0);
	{
		/* the dropped part was never referenced by that object */
		MDB_val ck = { 32, copy + v.mv_size }, cv;
		struct kb_chunk_ref r;
		assert_int_equal(mdb_get(t, c->cref, &ck, &cv), 0);
		memcpy(&r, cv.mv_data, sizeof(r));
		r.refs--;
		cv.mv_data = &r;
		cv.mv_size = sizeof(r);
		assert_int_equal(mdb_put(t, c->cref, &ck, &cv, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(t), 0);
	free(copy);
}

static void test_cache_races__putting_again_repairs_an_object_with_missing_parts(void **state)
{
	char *dir = kb_test_tmpdir("race");
	uint8_t *buf = malloc(OBJ);
	kb_cache *c;
	kb_key id;
	uint64_t bad = 0;
	void *p = NULL;
	size_t n = 0;

	(void)state;
	kb_test_fill_random(buf, OBJ, 79);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_put_buf(&id, c, buf, OBJ, NULL), 0);
	damage_header(c, &id);
	assert_int_equal(kb_cache_get_buf(&p, &n, c, &id), KB_ECORRUPT);
	assert_int_equal(kb_cache_verify(c, &bad, NULL, NULL), 0);
	assert_true(bad > 0);
	/* what the error message says to do */
	assert_int_equal(kb_cache_put_buf(&id, c, buf, OBJ, NULL), 0);
	check_bytes(c, &id, buf, OBJ);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
	free(buf);
}

static void report_bad(const char *what, const char *why, void *arg)
{
	(void)arg;
	print_message("verify: %s: %s\n", what, why);
}

static void test_cache_races__verify_reports_no_damage_for_an_object_evicted_under_it(void **state)
{
	char *dir = kb_test_tmpdir("race");
	uint8_t *buf = malloc(OBJ);
	kb_cache *c;
	kb_key id;
	uint64_t bad = 99;

	(void)state;
	kb_test_fill_random(buf, OBJ, 80);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_put_buf(&id, c, buf, OBJ, NULL), 0);
	evictions_left = 1;
	evict_at = "verify";
	kb_cache__test_hook = evict_all;
	assert_int_equal(kb_cache_verify(c, &bad, report_bad, NULL), 0);
	kb_cache__test_hook = NULL;
	evict_at = "commit";
	assert_int_equal(evictions_left, 0);
	assert_int_equal(kb_cache_has(c, &id), 0);
	assert_int_equal(bad, 0);
	kb_cache_free(c);
	kb_test_tmpdir_free(dir);
	free(buf);
}

struct putter {
	kb_cache *c;
	unsigned int seed;
	int rc;
};

#define PUTTERS 8
#define PUT_LEN (2u * 1024 * 1024)

static void *putter_main(void *arg)
{
	struct putter *p = arg;
	uint8_t *buf = malloc(PUT_LEN);
	kb_key id;

	kb_test_fill_random(buf, PUT_LEN, p->seed);
	p->rc = kb_cache_put_buf(&id, p->c, buf, PUT_LEN, NULL);
	free(buf);
	return NULL;
}

static void test_cache_races__concurrent_puts_grow_the_map_once_per_need(void **state)
{
	pthread_t th[PUTTERS];
	struct putter p[PUTTERS];

	(void)state;
	for (int round = 0; round < 4; round++) {
		char *dir = kb_test_tmpdir("race");
		kb_cache_stats st;
		kb_cache *c;
		/* a small first map: every putter runs out of room at about the same time */
		setenv("KBISECT_CACHE_MAPSIZE", "1048576", 1);
		assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
		unsetenv("KBISECT_CACHE_MAPSIZE");
		for (int i = 0; i < PUTTERS; i++) {
			p[i].c = c;
			p[i].seed = 1000u + (unsigned)(round * PUTTERS + i);
			p[i].rc = -1;
			assert_int_equal(pthread_create(&th[i], NULL, putter_main, &p[i]), 0);
		}
		for (int i = 0; i < PUTTERS; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(p[i].rc, 0);
		}
		assert_int_equal(kb_cache_stats_get(&st, c), 0);
		/* 16 MiB of incompressible data: doubling from 1 MiB as needed ends at 16
		 * or 32 MiB (LMDB's free pages); one doubling per waiting thread went to
		 * hundreds of MiB (and, with 20 uploads of 80 MiB, to the 4 TiB cap) */
		print_message("round %d: map %llu MiB for %llu MiB of data\n", round,
			      (unsigned long long)(st.map_size >> 20),
			      (unsigned long long)(st.file_size >> 20));
		assert_true(st.map_size <= 4 * st.file_size + (8u << 20));
		kb_cache_free(c);
		kb_test_tmpdir_free(dir);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_races__reput_racing_eviction_stores_the_whole_object),
		cmocka_unit_test(test_cache_races__streaming_reput_racing_eviction),
		cmocka_unit_test(test_cache_races__large_reput_racing_eviction_is_done_again),
		cmocka_unit_test(test_cache_races__putting_again_repairs_an_object_with_missing_parts),
		cmocka_unit_test(test_cache_races__concurrent_puts_grow_the_map_once_per_need),
		cmocka_unit_test(test_cache_races__verify_reports_no_damage_for_an_object_evicted_under_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
