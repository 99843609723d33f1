/*
 * tests/cache/test_corrupt.c - damaged stores: flipped bytes in data.mdb, a lost
 * chunk, a file that is not LMDB, a newer format. Each gives KB_ECORRUPT (or
 * KB_EVERSION) and a message naming what and what to do - never wrong data.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <lmdb.h>

#include "kbisect/cache.h"
#include "kb_test.h"

#define LEN (300u * 1024)

struct fx {
	char *dir;
	char db[4200];
	uint8_t *data;
	kb_key id;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	kb_cache *c;

	f->dir = kb_test_tmpdir("corrupt");
	snprintf(f->db, sizeof(f->db), "%s/data.mdb", f->dir);
	f->data = malloc(LEN);
	kb_test_fill_random(f->data, LEN, 31); /* incompressible: stored raw */
	assert_int_equal(kb_cache_open(&c, f->dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_put_buf(&f->id, c, f->data, LEN, NULL), 0);
	kb_cache_free(c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kb_test_tmpdir_free(f->dir);
	free(f->data);
	free(f);
	return 0;
}

/* Flip one byte of the stored copy of data[off..] inside data.mdb. */
static void flip_stored_byte(struct fx *f, size_t off)
{
	size_t n;
	uint8_t *file = kb_test_read_file(f->db, &n);
	uint8_t *hit;
	int fd;

	assert_non_null(file);
	hit = memmem(file, n, f->data + off, 64);
	assert_non_null(hit);
	fd = open(f->db, O_WRONLY);
	assert_true(fd >= 0);
	hit[10] ^= 0xff;
	assert_int_equal(pwrite(fd, hit + 10, 1, hit + 10 - file), 1);
	close(fd);
	free(file);
}

static void record(const char *what, const char *why, void *arg)
{
	(void)why;
	if (strstr(what, "object"))
		(*(int *)arg)++;
}

static void test_cache_corrupt__flipped_byte_in_chunk_is_ecorrupt_not_data(void **state)
{
	struct fx *f = *state;
	kb_cache *c;
	void *got = (void *)1;
	size_t n;
	char out[4300];
	uint64_t bad = 0;
	int objects = 0;

	flip_stored_byte(f, 100000);
	assert_int_equal(kb_cache_open(&c, f->dir, 0), 0);
	assert_int_equal(kb_cache_get_buf(&got, &n, c, &f->id), KB_ECORRUPT);
	assert_null(got);
	assert_non_null(strstr(kb_error_last()->message, "verify"));
	/* get_file leaves no file (and no temporary) behind */
	snprintf(out, sizeof(out), "%s/out", f->dir);
	assert_int_equal(kb_cache_get_file(c, &f->id, out), KB_ECORRUPT);
	assert_int_not_equal(access(out, F_OK), 0);
	assert_int_equal(kb_test_sh("ls '%s' | grep -q kbtmp", f->dir), 1);
	assert_int_equal(kb_cache_verify(c, &bad, record, &objects), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(objects, 1);
	kb_cache_free(c);
}

static void test_cache_corrupt__lost_chunk_is_ecorrupt(void **state)
{
	struct fx *f = *state;
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	MDB_cursor *cur;
	MDB_val k, v;
	kb_cache *c;
	void *got;
	size_t n;

	/* delete the chunk with LMDB directly, as a crash of a buggy tool might */
	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
	assert_int_equal(mdb_dbi_open(t, "chunk", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(t, dbi, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	assert_int_equal(mdb_cursor_del(cur, 0), 0);
	mdb_cursor_close(cur);
	assert_int_equal(mdb_txn_commit(t), 0);
	mdb_env_close(env);

	assert_int_equal(kb_cache_open(&c, f->dir, 0), 0);
	assert_int_equal(kb_cache_get_buf(&got, &n, c, &f->id), KB_ECORRUPT);
	assert_non_null(strstr(kb_error_last()->message, "chunk"));
	kb_cache_free(c);
}

static void test_cache_corrupt__non_lmdb_file_is_a_clear_error(void **state)
{
	struct fx *f = *state;
	char *junk = malloc(65536);
	kb_cache *c = (kb_cache *)1;

	memset(junk, 'x', 65536);
	kb_test_sh("rm -f '%s/lock.mdb'", f->dir);
	assert_int_equal(kb_test_write_file(f->db, junk, 65536), 0);
	assert_int_equal(kb_cache_open(&c, f->dir, 0), KB_ECORRUPT);
	assert_null(c);
	assert_non_null(strstr(kb_error_last()->message, "data.mdb"));
	assert_non_null(strstr(kb_error_last()->message, "not a valid LMDB file"));
	assert_int_equal(kb_cache_open(&c, f->dir, KB_CACHE_RDONLY), KB_ECORRUPT);
	free(junk);
}

static void test_cache_corrupt__newer_format_is_eversion(void **state)
{
	struct fx *f = *state;
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	MDB_val k = { 6, "format" }, v;
	uint32_t fmt = 99;
	kb_cache *c;

	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
	assert_int_equal(mdb_dbi_open(t, "meta", 0, &dbi), 0);
	v.mv_size = sizeof(fmt);
	v.mv_data = &fmt;
	assert_int_equal(mdb_put(t, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(t), 0);
	mdb_env_close(env);
	assert_int_equal(kb_cache_open(&c, f->dir, 0), KB_EVERSION);
	assert_non_null(strstr(kb_error_last()->message, "newer"));
}

static void test_cache_corrupt__foreign_lmdb_env_is_not_a_cache(void **state)
{
	struct fx *f = *state;
	char *dir = kb_test_tmpdir("foreign");
	MDB_env *env;
	MDB_txn *t;
	kb_cache *c;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
	assert_int_equal(mdb_txn_commit(t), 0);
	mdb_env_close(env);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_RDONLY), KB_ECORRUPT);
	assert_non_null(strstr(kb_error_last()->message, "not a kbisect cache"));
	(void)f;
	kb_test_tmpdir_free(dir);
}

static void test_cache_corrupt__truncated_data_mdb_is_ecorrupt(void **state)
{
	struct fx *f = *state;
	kb_cache *c = (kb_cache *)1;

	assert_int_equal(truncate(f->db, 65536), 0);
	assert_int_equal(kb_cache_open(&c, f->dir, 0), KB_ECORRUPT);
	assert_null(c);
	assert_non_null(strstr(kb_error_last()->message, "truncated"));
	assert_int_equal(kb_cache_open(&c, f->dir, KB_CACHE_RDONLY), KB_ECORRUPT);
}

#define BIG (20u * 1024 * 1024 + 12345) /* 21 chunks: more than get_file has in flight */

/* Put a big incompressible object into a fresh cache in f->dir/big; *data gets its bytes. */
static char *put_big(struct fx *f, uint8_t **data, kb_key *id)
{
	char *dir;
	kb_cache *c;

	assert_true(asprintf(&dir, "%s/big", f->dir) > 0);
	*data = malloc(BIG);
	kb_test_fill_random(*data, BIG, 77);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_put_buf(id, c, *data, BIG, NULL), 0);
	kb_cache_free(c);
	return dir;
}

/* get_file of an object of many chunks: a chunk in the middle fails its checksum while
 * the others are decoded, hashed and written on two threads. KB_ECORRUPT; an existing
 * file at the target keeps its old contents; no temporary is left behind. */
static void test_cache_corrupt__get_file_of_many_chunks_with_a_bad_middle_chunk(void **state)
{
	struct fx *f = *state;
	uint8_t *data, *file, *hit, *old;
	char db[4300], out[4300];
	size_t n;
	kb_cache *c;
	kb_key id;
	char *dir = put_big(f, &data, &id);
	int fd;

	snprintf(db, sizeof(db), "%s/data.mdb", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	assert_int_equal(kb_test_write_file(out, "old", 3), 0);
	file = kb_test_read_file(db, &n);
	assert_non_null(file);
	hit = memmem(file, n, data + 10 * 1024 * 1024 + 5000, 64); /* chunk 10 of 21 */
	assert_non_null(hit);
	fd = open(db, O_WRONLY);
	assert_true(fd >= 0);
	hit[3] ^= 0x5a;
	assert_int_equal(pwrite(fd, hit + 3, 1, hit + 3 - file), 1);
	close(fd);
	free(file);

	assert_int_equal(kb_cache_open(&c, dir, 0), 0);
	for (int i = 0; i < 3; i++) { /* the failing chunk races the others: repeat */
		assert_int_equal(kb_cache_get_file(c, &id, out), KB_ECORRUPT);
		assert_non_null(strstr(kb_error_last()->message, "verify"));
		old = kb_test_read_file(out, &n);
		assert_non_null(old);
		assert_int_equal(n, 3);
		assert_memory_equal(old, "old", 3);
		free(old);
		assert_int_equal(kb_test_sh("ls '%s' | grep -q kbtmp", dir), 1);
	}
	kb_cache_free(c);
	free(data);
	free(dir);
}

/* Every chunk is intact but two swap places in the object's list: each decodes fine,
 * only the SHA-256 of the whole can tell. get_file must say KB_ECORRUPT after writing
 * everything to its temporary, and remove the temporary. */
static void test_cache_corrupt__get_file_with_swapped_chunks_fails_the_sha256(void **state)
{
	struct fx *f = *state;
	uint8_t *data, *val, tmp[32];
	char out[4300];
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	MDB_val k, v;
	kb_cache *c;
	kb_key id;
	size_t n;
	char *dir = put_big(f, &data, &id);

	assert_int_equal(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 16);
	assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
	assert_int_equal(mdb_dbi_open(t, "obj", 0, &dbi), 0);
	k.mv_size = 32;
	k.mv_data = id.b;
	assert_int_equal(mdb_get(t, dbi, &k, &v), 0);
	assert_true(v.mv_size >= 21 * 32);
	val = malloc(v.mv_size);
	memcpy(val, v.mv_data, v.mv_size);
	n = v.mv_size - 21 * 32; /* the header; then 21 chunk ids */
	memcpy(tmp, val + n + 3 * 32, 32);
	memcpy(val + n + 3 * 32, val + n + 12 * 32, 32);
	memcpy(val + n + 12 * 32, tmp, 32);
	v.mv_data = val;
	assert_int_equal(mdb_put(t, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(t), 0);
	mdb_env_close(env);
	free(val);

	snprintf(out, sizeof(out), "%s/out", dir);
	assert_int_equal(kb_cache_open(&c, dir, 0), 0);
	assert_int_equal(kb_cache_get_file(c, &id, out), KB_ECORRUPT);
	assert_non_null(strstr(kb_error_last()->message, "SHA-256"));
	assert_int_not_equal(access(out, F_OK), 0);
	assert_int_equal(kb_test_sh("ls '%s' | grep -q kbtmp", dir), 1);
	kb_cache_free(c);
	free(data);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_cache_corrupt__flipped_byte_in_chunk_is_ecorrupt_not_data),
		T(test_cache_corrupt__lost_chunk_is_ecorrupt),
		T(test_cache_corrupt__non_lmdb_file_is_a_clear_error),
		T(test_cache_corrupt__newer_format_is_eversion),
		T(test_cache_corrupt__foreign_lmdb_env_is_not_a_cache),
		T(test_cache_corrupt__truncated_data_mdb_is_ecorrupt),
		T(test_cache_corrupt__get_file_of_many_chunks_with_a_bad_middle_chunk),
		T(test_cache_corrupt__get_file_with_swapped_chunks_fails_the_sha256),
#undef T
	};
	return cmocka_run_group_tests_name("cache/corrupt", tests, NULL, NULL);
}
