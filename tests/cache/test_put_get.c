/*
 * tests/cache/test_put_get.c - objects in and out of the LMDB cache: ids, streaming,
 * dedup, empty objects, read-only handles, references, pins, bad arguments.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "kb_test.h"


static void test_cache_put_get__roundtrip_of_multi_chunk_object_keeps_bytes_and_id(void **state)
{
	struct kb_test_cache *f = *state;
	size_t len = 3 * 1024 * 1024 + 12345, got_len = 0;
	uint8_t *data = malloc(len);
	void *got = NULL;
	kb_key id, want;

	kb_test_fill_random(data, len, 1);
	memset(data + 100000, 0, 500000); /* some compressible bytes */
	kb_sha256(&want, data, len);
	assert_int_equal(kb_cache_put_buf(&id, f->c, data, len, NULL), 0);
	assert_true(kb_key_equal(&id, &want));
	assert_int_equal(kb_cache_has(f->c, &id), 1);
	assert_int_equal(kb_cache_get_buf(&got, &got_len, f->c, &id), 0);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
	free(data);
}

static void test_cache_put_get__missing_key_returns_enotfound(void **state)
{
	struct kb_test_cache *f = *state;
	kb_key id;
	void *got = NULL;
	size_t n;
	kb_object_info info;

	memset(&id, 0x5a, sizeof(id));
	assert_int_equal(kb_cache_get_buf(&got, &n, f->c, &id), KB_ENOTFOUND);
	assert_null(got);
	assert_non_null(strstr(kb_error_last()->message, "not in cache"));
	assert_int_equal(kb_cache_has(f->c, &id), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &id), KB_ENOTFOUND);
}

static void test_cache_put_get__empty_object_roundtrips(void **state)
{
	struct kb_test_cache *f = *state;
	kb_key id, want;
	void *got = NULL;
	size_t n = 99;

	kb_sha256(&want, "", 0);
	assert_int_equal(kb_cache_put_buf(&id, f->c, "", 0, NULL), 0);
	assert_true(kb_key_equal(&id, &want));
	assert_int_equal(kb_cache_get_buf(&got, &n, f->c, &id), 0);
	assert_int_equal(n, 0);
	free(got);
}

/* Put len bytes through a pipe written in pieces of 4000 bytes; get them back. */
static void put_via_pipe(struct kb_test_cache *f, size_t len, unsigned int seed)
{
	uint8_t *data = malloc(len);
	size_t got_len = 0;
	int fds[2];
	char *path;
	void *got;
	kb_key id, want;
	pid_t pid;

	kb_test_fill_random(data, len, seed);
	for (size_t i = 0; i + 512 <= len; i += 8192)
		memset(data + i, (int)(i >> 13), 512); /* partly compressible */
	kb_sha256(&want, data, len);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		size_t off = 0;
		close(fds[0]);
		while (off < len) {
			ssize_t m = write(fds[1], data + off, len - off > 4000 ? 4000 : len - off);
			if (m <= 0)
				_exit(1);
			off += (size_t)m;
		}
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(kb_cache_put_fd(&id, f->c, fds[0], NULL), 0);
	close(fds[0]);
	assert_true(kb_key_equal(&id, &want));
	assert_true(asprintf(&path, "%s/out.bin", f->dir) > 0);
	assert_int_equal(kb_cache_get_file(f->c, &id, path), 0);
	got = kb_test_read_file(path, &got_len);
	assert_non_null(got);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
	free(path);
	free(data);
}

/* Short reads from a pipe; one batch, exactly two batches (the read after them
 * finds the end) and more than two (read ahead of the batch being compressed). */
static void test_cache_put_get__put_fd_from_pipe_and_get_file(void **state)
{
	struct kb_test_cache *f = *state;

	put_via_pipe(f, 2 * 1024 * 1024 + 7, 2);
	put_via_pipe(f, 16 * 1024 * 1024, 3);
	put_via_pipe(f, 17 * 1024 * 1024 + 7, 4);
}

/* Objects of more than three batches: the chunks of the first batches are committed
 * in the background while the next ones are compressed. The object reads back
 * exactly; a writer aborted after such commits leaves no object, and the same bytes
 * put again are stored whole. */
static void test_cache_put_get__large_object_with_background_commits(void **state)
{
	struct kb_test_cache *f = *state;
	const size_t len = 41u * 1024 * 1024 + 5;
	uint8_t *data = malloc(len), *got;
	kb_cache_writer *w;
	kb_object_info info;
	size_t got_len = 0;
	char *path;
	kb_key id, want;

	kb_test_fill_random(data, len, 9);
	for (size_t i = 0; i + 2048 <= len; i += 4096)
		memset(data + i, (int)(i >> 12), 2048); /* half compressible */
	kb_sha256(&want, data, len);

	assert_int_equal(kb_cache_writer_open(&w, f->c, NULL), 0);
	assert_int_equal(kb_cache_writer_write(w, data, 33u * 1024 * 1024), 0);
	kb_cache_writer_abort(w);
	assert_false(kb_cache_has(f->c, &want));

	assert_int_equal(kb_cache_put_buf(&id, f->c, data, len, NULL), 0);
	assert_true(kb_key_equal(&id, &want));
	assert_int_equal(kb_cache_object_info(&info, f->c, &id), 0);
	assert_int_equal(info.size, len);
	assert_true(asprintf(&path, "%s/big.bin", f->dir) > 0);
	assert_int_equal(kb_cache_get_file(f->c, &id, path), 0);
	got = kb_test_read_file(path, &got_len);
	assert_non_null(got);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, data, len);
	free(got);
	free(path);
	free(data);
}

static void test_cache_put_get__streaming_reader_with_small_reads(void **state)
{
	struct kb_test_cache *f = *state;
	size_t len = 1536 * 1024 + 3, off = 0;
	uint8_t *data = malloc(len), *back = malloc(len);
	kb_cache_reader *r;
	uint64_t size = 0;
	ssize_t n;
	kb_key id;

	kb_test_fill_random(data, len, 3);
	assert_int_equal(kb_cache_put_buf(&id, f->c, data, len, NULL), 0);
	assert_int_equal(kb_cache_reader_open(&r, &size, f->c, &id), 0);
	assert_int_equal(size, len);
	while ((n = kb_cache_reader_read(r, back + off, off + 777 <= len ? 777 : len - off)) > 0)
		off += (size_t)n;
	assert_int_equal(n, 0);
	assert_int_equal(off, len);
	assert_memory_equal(back, data, len);
	kb_cache_reader_free(r);
	free(data);
	free(back);
}

static void test_cache_put_get__same_bytes_twice_are_stored_once(void **state)
{
	struct kb_test_cache *f = *state;
	size_t len = 2 * 1024 * 1024;
	uint8_t *data = malloc(len + 1024 * 1024);
	kb_cache_stats s1, s2, s3;
	kb_key id1, id2, id3;

	kb_test_fill_random(data, len + 1024 * 1024, 4);
	assert_int_equal(kb_cache_put_buf(&id1, f->c, data, len, NULL), 0);
	assert_int_equal(kb_cache_stats_get(&s1, f->c), 0);
	assert_int_equal(kb_cache_put_buf(&id2, f->c, data, len, NULL), 0);
	assert_true(kb_key_equal(&id1, &id2));
	assert_int_equal(kb_cache_stats_get(&s2, f->c), 0);
	assert_int_equal(s1.chunks, s2.chunks);
	assert_int_equal(s1.chunk_bytes, s2.chunk_bytes);
	/* a longer object sharing the first two chunks adds only one chunk */
	assert_int_equal(kb_cache_put_buf(&id3, f->c, data, len + 1024 * 1024, NULL), 0);
	assert_int_equal(kb_cache_stats_get(&s3, f->c), 0);
	assert_int_equal(s3.chunks, s2.chunks + 1);
	assert_true(s3.saved_dedup >= 2 * 1024 * 1024);
	free(data);
}

static void test_cache_put_get__writer_with_wrong_expected_id_stores_nothing(void **state)
{
	struct kb_test_cache *f = *state;
	kb_cache_writer *w;
	kb_key expect, real;

	memset(&expect, 1, sizeof(expect));
	kb_sha256(&real, "hello", 5);
	assert_int_equal(kb_cache_writer_open(&w, f->c, NULL), 0);
	assert_int_equal(kb_cache_writer_write(w, "hello", 5), 0);
	assert_int_equal(kb_cache_writer_commit(NULL, w, &expect), KB_ECORRUPT);
	assert_int_equal(kb_cache_has(f->c, &real), 0);
	/* and with the right one it is stored */
	assert_int_equal(kb_cache_writer_open(&w, f->c, NULL), 0);
	assert_int_equal(kb_cache_writer_write(w, "hel", 3), 0);
	assert_int_equal(kb_cache_writer_write(w, "lo", 2), 0);
	assert_int_equal(kb_cache_writer_commit(NULL, w, &real), 0);
	assert_int_equal(kb_cache_has(f->c, &real), 1);
}

static void test_cache_put_get__aborted_writer_leaves_nothing(void **state)
{
	struct kb_test_cache *f = *state;
	kb_cache_writer *w;
	kb_key id;
	uint8_t big[100000];

	kb_test_fill_random(big, sizeof(big), 5);
	kb_sha256(&id, big, sizeof(big));
	assert_int_equal(kb_cache_writer_open(&w, f->c, NULL), 0);
	assert_int_equal(kb_cache_writer_write(w, big, sizeof(big)), 0);
	kb_cache_writer_abort(w);
	assert_int_equal(kb_cache_has(f->c, &id), 0);
	kb_cache_writer_abort(NULL);
}

static void test_cache_put_get__readonly_handle_refuses_put(void **state)
{
	struct kb_test_cache *f = *state;
	kb_cache *ro;
	kb_key id;

	assert_int_equal(kb_cache_put_buf(&id, f->c, "x", 1, NULL), 0);
	assert_int_equal(kb_cache_open(&ro, f->dir, KB_CACHE_RDONLY), 0);
	assert_int_equal(kb_cache_put_buf(&id, ro, "y", 1, NULL), KB_EREADONLY);
	assert_int_equal(kb_cache_has(ro, &id), 1);
	kb_cache_free(ro);
}

static void test_cache_put_get__open_without_create_on_missing_dir_returns_enotfound(void **state)
{
	struct kb_test_cache *f = *state;
	kb_cache *c = (kb_cache *)1;
	char *p;

	assert_true(asprintf(&p, "%s/nope", f->dir) > 0);
	assert_int_equal(kb_cache_open(&c, p, 0), KB_ENOTFOUND);
	assert_null(c);
	assert_non_null(strstr(kb_error_last()->message, p));
	/* a directory without data.mdb is not a cache either */
	assert_int_equal(kb_test_sh("mkdir -p '%s'", p), 0);
	assert_int_equal(kb_cache_open(&c, p, 0), KB_ENOTFOUND);
	free(p);
}

static void test_cache_put_get__put_file_of_missing_path_names_it(void **state)
{
	struct kb_test_cache *f = *state;
	kb_key id;

	assert_int_equal(kb_cache_put_file(&id, f->c, "/nonexistent/vmlinux", NULL), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "/nonexistent/vmlinux"));
	assert_int_equal(kb_cache_put_file(&id, f->c, f->dir, NULL), KB_EINVAL);
}

static void test_cache_put_get__bad_kind_is_einval(void **state)
{
	struct kb_test_cache *f = *state;
	kb_put_opts o = { .kind = 99 };
	kb_key id;

	assert_int_equal(kb_cache_put_buf(&id, f->c, "x", 1, &o), KB_EINVAL);
	assert_string_equal(kb_object_kind_name(KB_OBJ_VMLINUX), "vmlinux");
	assert_string_equal(kb_object_kind_name(99), "unknown");
}

static void test_cache_put_get__refs_point_at_objects_and_vanish_with_them(void **state)
{
	struct kb_test_cache *f = *state;
	kb_key key, id, got;
	uint64_t n = 0;

	memset(&key, 7, sizeof(key));
	assert_int_equal(kb_cache_ref_get(&got, f->c, KB_REF_AC, &key), KB_ENOTFOUND);
	assert_int_equal(kb_cache_put_buf(&id, f->c, "ccache result", 13, NULL), 0);
	assert_int_equal(kb_cache_ref_set(f->c, KB_REF_AC, &key, &id), 0);
	assert_int_equal(kb_cache_ref_get(&got, f->c, KB_REF_AC, &key), 0);
	assert_true(kb_key_equal(&got, &id));
	/* another namespace is separate */
	assert_int_equal(kb_cache_ref_get(&got, f->c, KB_REF_VMSTATE, &key), KB_ENOTFOUND);
	/* evict everything: the reference no longer resolves */
	assert_int_equal(kb_cache_gc(f->c, 1, &n), 0);
	assert_true(n >= 1);
	assert_int_equal(kb_cache_ref_get(&got, f->c, KB_REF_AC, &key), KB_ENOTFOUND);
}

static void test_cache_put_get__info_and_foreach_describe_objects(void **state)
{
	struct kb_test_cache *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_CONFIG, .pin = 1 };
	kb_object_info info;
	kb_key id;

	assert_int_equal(kb_cache_put_buf(&id, f->c, "CONFIG_X=y\n", 11, &o), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &id), 0);
	assert_int_equal(info.kind, KB_OBJ_CONFIG);
	assert_int_equal(info.size, 11);
	assert_int_equal(info.pinned, 1);
	assert_int_equal(info.is_delta, 0);
	assert_true(info.created > 0);
	assert_int_equal(kb_cache_pin(f->c, &id, 0), 0);
	assert_int_equal(kb_cache_object_info(&info, f->c, &id), 0);
	assert_int_equal(info.pinned, 0);
	assert_string_equal(kb_cache_dir(f->c), f->dir);
}

static void test_cache_put_get__hits_and_misses_are_counted_per_kind(void **state)
{
	struct kb_test_cache *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_BUILDLOG };
	kb_cache_stats s;
	kb_key id, none;
	void *p;
	size_t n;

	memset(&none, 3, sizeof(none));
	assert_int_equal(kb_cache_put_buf(&id, f->c, "log", 3, &o), 0);
	assert_int_equal(kb_cache_get_buf(&p, &n, f->c, &id), 0);
	free(p);
	assert_int_equal(kb_cache_get_buf(&p, &n, f->c, &none), KB_ENOTFOUND);
	assert_int_equal(kb_cache_stats_get(&s, f->c), 0);
	assert_int_equal(s.hits[KB_OBJ_BUILDLOG], 1);
	assert_int_equal(s.misses[KB_OBJ_BLOB], 1);
	assert_int_equal(s.objects[KB_OBJ_BUILDLOG], 1);
	/* counters survive close and reopen */
	kb_cache_free(f->c);
	assert_int_equal(kb_cache_open(&f->c, f->dir, 0), 0);
	assert_int_equal(kb_cache_stats_get(&s, f->c), 0);
	assert_int_equal(s.hits[KB_OBJ_BUILDLOG], 1);
}

static void test_cache_put_get__map_grows_when_full(void **state)
{
	struct kb_test_cache *f = *state;
	char *dir = kb_test_tmpdir("mapgrow");
	size_t len = 2 * 1024 * 1024;
	uint8_t *data = malloc(len);
	kb_cache_stats s;
	kb_cache *c, *other;
	kb_key ids[4];
	void *got;
	size_t n;

	(void)f;
	setenv("KBISECT_CACHE_MAPSIZE", "1048576", 1);
	assert_int_equal(kb_cache_open(&c, dir, KB_CACHE_CREATE), 0);
	assert_int_equal(kb_cache_open(&other, dir, 0), 0); /* sees the growth later */
	unsetenv("KBISECT_CACHE_MAPSIZE");
	for (unsigned i = 0; i < 4; i++) {
		kb_test_fill_random(data, len, 50 + i); /* incompressible: 8 MiB > 1 MiB map */
		assert_int_equal(kb_cache_put_buf(&ids[i], c, data, len, NULL), 0);
	}
	assert_int_equal(kb_cache_stats_get(&s, c), 0);
	assert_true(s.map_size >= 8 * 1024 * 1024);
	/* another handle with the old, smaller map reads and writes on */
	assert_int_equal(kb_cache_get_buf(&got, &n, other, &ids[3]), 0);
	assert_memory_equal(got, data, len);
	free(got);
	kb_test_fill_random(data, len, 99);
	assert_int_equal(kb_cache_put_buf(&ids[0], other, data, len, NULL), 0);
	kb_cache_free(other);
	kb_cache_free(c);
	free(data);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, kb_test_cache_setup, kb_test_cache_teardown)
		T(test_cache_put_get__roundtrip_of_multi_chunk_object_keeps_bytes_and_id),
		T(test_cache_put_get__missing_key_returns_enotfound),
		T(test_cache_put_get__empty_object_roundtrips),
		T(test_cache_put_get__put_fd_from_pipe_and_get_file),
		T(test_cache_put_get__large_object_with_background_commits),
		T(test_cache_put_get__streaming_reader_with_small_reads),
		T(test_cache_put_get__same_bytes_twice_are_stored_once),
		T(test_cache_put_get__writer_with_wrong_expected_id_stores_nothing),
		T(test_cache_put_get__aborted_writer_leaves_nothing),
		T(test_cache_put_get__readonly_handle_refuses_put),
		T(test_cache_put_get__open_without_create_on_missing_dir_returns_enotfound),
		T(test_cache_put_get__put_file_of_missing_path_names_it),
		T(test_cache_put_get__bad_kind_is_einval),
		T(test_cache_put_get__refs_point_at_objects_and_vanish_with_them),
		T(test_cache_put_get__info_and_foreach_describe_objects),
		T(test_cache_put_get__hits_and_misses_are_counted_per_kind),
		T(test_cache_put_get__map_grows_when_full),
#undef T
	};
	return cmocka_run_group_tests_name("cache/put_get", tests, NULL, NULL);
}
