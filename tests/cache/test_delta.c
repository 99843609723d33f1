/*
 * tests/cache/test_delta.c - delta objects: a close successor of a stored vmlinux is
 * stored as a delta, reads back exactly, and its base outlives it.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "cache_internal.h"
#include "kb_test.h"

#define LEN (3u * 1024 * 1024 + 4321)

struct fx {
	char *dir;
	kb_cache *c;
	uint8_t *base, *next;
	size_t next_len;
};

/* next = base with an insertion, a deletion and scattered byte changes */
static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = kb_test_tmpdir("delta");
	assert_int_equal(kb_cache_open(&f->c, f->dir, KB_CACHE_CREATE), 0);
	f->base = malloc(LEN);
	kb_test_fill_random(f->base, LEN, 11);
	f->next = malloc(LEN + 4096);
	memcpy(f->next, f->base, 1500000);
	memset(f->next + 1500000, 0xcc, 1000);            /* inserted */
	memcpy(f->next + 1501000, f->base + 1500000 + 500, LEN - 1500000 - 500); /* deleted 500 */
	f->next_len = LEN + 500;
	for (size_t i = 0; i < 60; i++)
		f->next[(i * 52361) % f->next_len] ^= 0x5a;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kb_cache_free(f->c);
	kb_test_tmpdir_free(f->dir);
	free(f->base);
	free(f->next);
	free(f);
	return 0;
}

static void test_cache_delta__close_successor_is_stored_as_small_delta(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	kb_object_info ib, in;
	kb_key b, n;
	void *got;
	size_t len;
	uint64_t bad = 1;

	assert_int_equal(kb_cache_put_buf(&b, f->c, f->base, LEN, &o), 0);
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &o), 0);
	assert_int_equal(kb_cache_object_info(&ib, f->c, &b), 0);
	assert_int_equal(kb_cache_object_info(&in, f->c, &n), 0);
	assert_int_equal(ib.is_delta, 0);
	assert_int_equal(in.is_delta, 1);
	assert_true(kb_key_equal(&in.delta_base, &b));
	/* random data does not compress: only the delta makes it small */
	assert_true(ib.stored > LEN);
	assert_true(in.stored < f->next_len / 10);
	assert_int_equal(kb_cache_get_buf(&got, &len, f->c, &n), 0);
	assert_int_equal(len, f->next_len);
	assert_memory_equal(got, f->next, len);
	free(got);
	/* get_file decodes, hashes and writes the delta's chunks on two threads */
	{
		char path[4200];
		snprintf(path, sizeof(path), "%s/next.out", f->dir);
		assert_int_equal(kb_cache_get_file(f->c, &n, path), 0);
		got = kb_test_read_file(path, &len);
		assert_non_null(got);
		assert_int_equal(len, f->next_len);
		assert_memory_equal(got, f->next, len);
		free(got);
	}
	assert_int_equal(kb_cache_verify(f->c, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
}

static void test_cache_delta__unrelated_object_is_stored_plain(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	kb_object_info info;
	uint8_t *other = malloc(LEN);
	kb_key b, x;

	kb_test_fill_random(other, LEN, 99);
	assert_int_equal(kb_cache_put_buf(&b, f->c, f->base, LEN, &o), 0);
	assert_int_equal(kb_cache_put_buf(&x, f->c, other, LEN, &o), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &x), 0);
	assert_int_equal(info.is_delta, 0);
	free(other);
}

static void test_cache_delta__no_delta_option_and_other_kinds_store_plain(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX }, nd = { .kind = KB_OBJ_VMLINUX, .no_delta = 1 };
	kb_put_opts blob = { .kind = KB_OBJ_BLOB };
	kb_object_info info;
	kb_key b, n;

	assert_int_equal(kb_cache_put_buf(&b, f->c, f->base, LEN, &o), 0);
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &nd), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &n), 0);
	assert_int_equal(info.is_delta, 0);
	f->next[10] ^= 1;
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &blob), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &n), 0);
	assert_int_equal(info.is_delta, 0);
}

static void test_cache_delta__explicit_base_is_used_for_any_kind(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_BLOB };
	kb_object_info info;
	kb_key b, n;
	void *got;
	size_t len;

	assert_int_equal(kb_cache_put_buf(&b, f->c, f->base, LEN, &o), 0);
	o.delta_base = &b;
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &o), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &n), 0);
	assert_int_equal(info.is_delta, 1);
	assert_int_equal(kb_cache_get_buf(&got, &len, f->c, &n), 0);
	assert_memory_equal(got, f->next, f->next_len);
	free(got);
}

static void test_cache_delta__base_is_not_evicted_from_under_its_dependant(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	kb_key b, n;
	void *got;
	size_t len;
	uint64_t ev = 0;

	assert_int_equal(kb_cache_put_buf(&b, f->c, f->base, LEN, &o), 0);
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &o), 0);
	assert_int_equal(kb_cache_pin(f->c, &n, 1), 0);
	/* the base is the least recently used and unpinned, yet must stay */
	assert_int_equal(kb_cache_gc(f->c, 1, &ev), 0);
	assert_int_equal(ev, 0);
	assert_int_equal(kb_cache_has(f->c, &b), 1);
	assert_int_equal(kb_cache_get_buf(&got, &len, f->c, &n), 0);
	assert_memory_equal(got, f->next, f->next_len);
	free(got);
	/* unpinned, the dependant goes first, then the base */
	assert_int_equal(kb_cache_pin(f->c, &n, 0), 0);
	assert_int_equal(kb_cache_gc(f->c, 1, &ev), 0);
	assert_int_equal(ev, 2);
	assert_int_equal(kb_cache_has(f->c, &b), 0);
	assert_int_equal(kb_cache_has(f->c, &n), 0);
}

static void test_cache_delta__stats_count_bytes_saved_by_delta(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	kb_cache_stats s;
	kb_key b, n;

	assert_int_equal(kb_cache_put_buf(&b, f->c, f->base, LEN, &o), 0);
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &o), 0);
	assert_int_equal(kb_cache_stats_get(&s, f->c), 0);
	assert_true(s.saved_delta > f->next_len / 2);
	assert_int_equal(s.objects[KB_OBJ_VMLINUX], 2);
}

/* Write the base's bytes to its decoded copy dir/base/<id> with one byte flipped. */
static void damage_base_file(struct fx *f, const kb_key *b, char *path, size_t n)
{
	char hex[KB_KEY_HEXLEN + 1];

	kb_key_to_hex(hex, b);
	snprintf(path, n, "%s/base/%s", f->dir, hex);
	f->base[LEN / 2] ^= 1;
	assert_int_equal(kb_test_write_file(path, f->base, LEN), 0);
	f->base[LEN / 2] ^= 1;
}

/* The plain put of a vmlinux leaves a decoded copy of it for readers of its deltas.
 * A damaged copy never gives wrong data: get_file and get_buf remove it and decode
 * the base from the store; a streaming reader says KB_ECORRUPT once and removes it. */
static void test_cache_delta__damaged_decoded_base_is_dropped_not_used(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	char path[4300], out[4300];
	kb_cache_reader *r;
	uint8_t *got, buf[65536];
	size_t len;
	ssize_t m;
	kb_key b, n;

	assert_int_equal(kb_cache_put_buf(&b, f->c, f->base, LEN, &o), 0);
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &o), 0);
	damage_base_file(f, &b, path, sizeof(path));
	got = kb_test_read_file(path, &len);
	assert_int_equal(len, LEN); /* the put wrote it (now damaged by us) */
	free(got);

	snprintf(out, sizeof(out), "%s/next.out", f->dir);
	assert_int_equal(kb_cache_get_file(f->c, &n, out), 0);
	got = kb_test_read_file(out, &len);
	assert_int_equal(len, f->next_len);
	assert_memory_equal(got, f->next, len);
	free(got);
	assert_int_not_equal(access(path, F_OK), 0);

	damage_base_file(f, &b, path, sizeof(path));
	assert_int_equal(kb_cache_get_buf((void **)&got, &len, f->c, &n), 0);
	assert_int_equal(len, f->next_len);
	assert_memory_equal(got, f->next, len);
	free(got);
	assert_int_not_equal(access(path, F_OK), 0);

	damage_base_file(f, &b, path, sizeof(path));
	assert_int_equal(kb_cache_reader_open(&r, NULL, f->c, &n), 0);
	while ((m = kb_cache_reader_read(r, buf, sizeof(buf))) > 0)
		;
	assert_int_equal(m, KB_ECORRUPT);
	kb_cache_reader_free(r);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(kb_cache_get_buf((void **)&got, &len, f->c, &n), 0);
	assert_memory_equal(got, f->next, len);
	free(got);
}

/* A writer deltas against the decoded copy of the base only when every 1 MiB piece
 * of it matches the base's chunk ids: a damaged copy is removed and the base decoded
 * from the store, and the delta still reads back exactly. */
static void test_cache_delta__writer_drops_damaged_decoded_base(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	kb_object_info info;
	char path[4300];
	uint8_t *got;
	size_t len;
	kb_key b, n;

	assert_int_equal(kb_cache_put_buf(&b, f->c, f->base, LEN, &o), 0);
	damage_base_file(f, &b, path, sizeof(path));
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &o), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &n), 0);
	assert_true(info.is_delta);
	assert_true(info.stored < f->next_len / 4);
	assert_int_equal(kb_cache_get_buf((void **)&got, &len, f->c, &n), 0);
	assert_int_equal(len, f->next_len);
	assert_memory_equal(got, f->next, len);
	free(got);
}

static int forget_sum(kb_cache *c, MDB_txn *t, void *arg)
{
	kb_cache__base_file_forget(c, t, arg);
	return 0;
}

/* A base file without a recorded checksum (a cache of an older kbisect) is checked
 * piece by piece against the base's chunk ids: kept when right, removed when not. */
static void test_cache_delta__writer_checks_base_file_without_recorded_sum(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	char path[4300], hex[KB_KEY_HEXLEN + 1];
	uint8_t *got;
	size_t len;
	kb_key b, n, n2;

	assert_int_equal(kb_cache_put_buf(&b, f->c, f->base, LEN, &o), 0);
	assert_int_equal(kb_cache__write(f->c, forget_sum, &b), 0);
	kb_key_to_hex(hex, &b);
	snprintf(path, sizeof(path), "%s/base/%s", f->dir, hex);
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &o), 0);
	assert_int_equal(access(path, F_OK), 0); /* right: kept */
	assert_int_equal(kb_cache_get_buf((void **)&got, &len, f->c, &n), 0);
	assert_int_equal(len, f->next_len);
	assert_memory_equal(got, f->next, len);
	free(got);

	damage_base_file(f, &b, path, sizeof(path));
	f->next[7] ^= 1; /* another object, so that it is stored again */
	assert_int_equal(kb_cache_put_buf(&n2, f->c, f->next, f->next_len, &o), 0);
	assert_int_not_equal(access(path, F_OK), 0); /* wrong: removed */
	assert_int_equal(kb_cache_get_buf((void **)&got, &len, f->c, &n2), 0);
	assert_int_equal(len, f->next_len);
	assert_memory_equal(got, f->next, len);
	free(got);
	f->next[7] ^= 1;
}

/* put_file of a vmlinux links its base file to the input (no copy to write). When
 * the input is later changed in place, readers (even streaming ones) and writers
 * notice before use and decode the base from the store instead; the file is removed. */
static void test_cache_delta__base_file_links_the_input_and_survives_its_change(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	char src[4300], path[4300], hex[KB_KEY_HEXLEN + 1];
	struct stat sa, sb;
	kb_object_info info;
	kb_cache_reader *r;
	uint8_t *got;
	size_t len;
	ssize_t m;
	kb_key b, n, n2;
	int fd;

	snprintf(src, sizeof(src), "%s/vmlinux-1", f->dir);
	assert_int_equal(kb_test_write_file(src, f->base, LEN), 0);
	assert_int_equal(kb_cache_put_file(&b, f->c, src, &o), 0);
	kb_key_to_hex(hex, &b);
	snprintf(path, sizeof(path), "%s/base/%s", f->dir, hex);
	assert_int_equal(stat(src, &sa), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev);
	assert_int_equal(kb_cache_put_buf(&n, f->c, f->next, f->next_len, &o), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &n), 0);
	assert_true(info.is_delta);

	fd = open(src, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "x", 1, LEN / 3), 1);
	close(fd);
	/* a streaming reader checks a linked base before use: no KB_ECORRUPT */
	assert_int_equal(kb_cache_reader_open(&r, NULL, f->c, &n), 0);
	len = 0;
	got = malloc(f->next_len + 1);
	while ((m = kb_cache_reader_read(r, got + len, f->next_len + 1 - len)) > 0)
		len += (size_t)m;
	assert_int_equal(m, 0);
	kb_cache_reader_free(r);
	assert_int_equal(len, f->next_len);
	assert_memory_equal(got, f->next, len);
	free(got);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(kb_cache_get_buf((void **)&got, &len, f->c, &n), 0);
	assert_int_equal(len, f->next_len);
	assert_memory_equal(got, f->next, len);
	free(got);

	f->next[11] ^= 1;
	assert_int_equal(kb_test_write_file(path, f->base, LEN), 0); /* a stale copy again */
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "y", 1, LEN / 2), 1);
	close(fd);
	assert_int_equal(kb_cache_put_buf(&n2, f->c, f->next, f->next_len, &o), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(kb_cache_get_buf((void **)&got, &len, f->c, &n2), 0);
	assert_memory_equal(got, f->next, len);
	free(got);
	f->next[11] ^= 1;

	/* VM state files are copied, never linked: a running VM may write them */
	o.kind = KB_OBJ_VMSTATE;
	snprintf(src, sizeof(src), "%s/ram-1", f->dir);
	f->next[13] ^= 1; /* bytes not stored yet */
	assert_int_equal(kb_test_write_file(src, f->next, f->next_len), 0);
	f->next[13] ^= 1;
	assert_int_equal(kb_cache_put_file(&b, f->c, src, &o), 0);
	kb_key_to_hex(hex, &b);
	snprintf(path, sizeof(path), "%s/base/%s", f->dir, hex);
	assert_int_equal(stat(src, &sa), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sa.st_ino != sb.st_ino && sb.st_nlink == 1);
}

/* Objects of many batches (values held across batches, deltas of every batch) read
 * back exactly, through get_file and get_buf. */
static void test_cache_delta__large_successor_reads_back_exactly(void **state)
{
	struct fx *f = *state;
	const size_t big = 21u * 1024 * 1024 + 777;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	uint8_t *a = malloc(big), *bnext = malloc(big), *got;
	kb_object_info info;
	char out[4300];
	size_t len;
	kb_key ia, ib;

	kb_test_fill_random(a, big, 77);
	for (size_t i = 0; i + 1024 <= big; i += 4096)
		memset(a + i, (int)(i >> 12), 1024); /* compressible stretches */
	memcpy(bnext, a, big);
	for (size_t i = 0; i < 400; i++)
		bnext[(i * 7919 * 13) % big] ^= 0x33;
	assert_int_equal(kb_cache_put_buf(&ia, f->c, a, big, &o), 0);
	assert_int_equal(kb_cache_put_buf(&ib, f->c, bnext, big, &o), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &ib), 0);
	assert_true(info.is_delta);
	assert_true(info.stored < big / 10);
	snprintf(out, sizeof(out), "%s/big.out", f->dir);
	assert_int_equal(kb_cache_get_file(f->c, &ib, out), 0);
	got = kb_test_read_file(out, &len);
	assert_int_equal(len, big);
	assert_memory_equal(got, bnext, big);
	free(got);
	assert_int_equal(kb_cache_get_buf((void **)&got, &len, f->c, &ia), 0);
	assert_int_equal(len, big);
	assert_memory_equal(got, a, big);
	free(got);
	free(a);
	free(bnext);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_cache_delta__close_successor_is_stored_as_small_delta),
		T(test_cache_delta__unrelated_object_is_stored_plain),
		T(test_cache_delta__no_delta_option_and_other_kinds_store_plain),
		T(test_cache_delta__explicit_base_is_used_for_any_kind),
		T(test_cache_delta__base_is_not_evicted_from_under_its_dependant),
		T(test_cache_delta__stats_count_bytes_saved_by_delta),
		T(test_cache_delta__damaged_decoded_base_is_dropped_not_used),
		T(test_cache_delta__writer_drops_damaged_decoded_base),
		T(test_cache_delta__writer_checks_base_file_without_recorded_sum),
		T(test_cache_delta__base_file_links_the_input_and_survives_its_change),
		T(test_cache_delta__large_successor_reads_back_exactly),
#undef T
	};
	return cmocka_run_group_tests_name("cache/delta", tests, NULL, NULL);
}
