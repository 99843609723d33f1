/*
 * tests/cache/test_gc.c - eviction: least recently used first, pins respected, the
 * size limit enforced on put, objects larger than the limit refused.
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

#define OBJ (600u * 1024)
#define N 6

struct fx {
	char *dir;
	kb_cache *c;
	kb_key id[N];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t *buf = malloc(OBJ);

	f->dir = kb_test_tmpdir("gc");
	assert_int_equal(kb_cache_open(&f->c, f->dir, KB_CACHE_CREATE), 0);
	for (int i = 0; i < N; i++) {
		kb_test_fill_random(buf, OBJ, 100 + (unsigned)i); /* incompressible */
		assert_int_equal(kb_cache_put_buf(&f->id[i], f->c, buf, OBJ, NULL), 0);
	}
	free(buf);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	kb_cache_free(f->c);
	kb_test_tmpdir_free(f->dir);
	free(f);
	return 0;
}

static void touch(struct fx *f, int i)
{
	void *p;
	size_t n;
	assert_int_equal(kb_cache_get_buf(&p, &n, f->c, &f->id[i]), 0);
	free(p);
}

static void test_cache_gc__evicts_least_recently_used_first(void **state)
{
	struct fx *f = *state;
	kb_cache_stats s;
	uint64_t ev = 0;

	touch(f, 0); /* 0 becomes the most recently used */
	assert_int_equal(kb_cache_gc(f->c, 3 * OBJ + OBJ / 2, &ev), 0);
	assert_int_equal(ev, 3);
	assert_int_equal(kb_cache_has(f->c, &f->id[0]), 1);
	assert_int_equal(kb_cache_has(f->c, &f->id[1]), 0);
	assert_int_equal(kb_cache_has(f->c, &f->id[2]), 0);
	assert_int_equal(kb_cache_has(f->c, &f->id[3]), 0);
	assert_int_equal(kb_cache_has(f->c, &f->id[4]), 1);
	assert_int_equal(kb_cache_has(f->c, &f->id[5]), 1);
	assert_int_equal(kb_cache_stats_get(&s, f->c), 0);
	assert_int_equal(s.evictions, 3);
	assert_true(s.chunk_bytes <= 3 * OBJ + OBJ / 2);
}

static void test_cache_gc__pinned_objects_are_never_evicted(void **state)
{
	struct fx *f = *state;
	uint64_t ev = 0;

	assert_int_equal(kb_cache_pin(f->c, &f->id[1], 1), 0);
	assert_int_equal(kb_cache_gc(f->c, 1, &ev), 0);
	assert_int_equal(ev, N - 1);
	assert_int_equal(kb_cache_has(f->c, &f->id[1]), 1);
	for (int i = 0; i < N; i++)
		if (i != 1)
			assert_int_equal(kb_cache_has(f->c, &f->id[i]), 0);
}

static void test_cache_gc__limit_is_enforced_on_put(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = malloc(OBJ);
	kb_cache_stats s;
	kb_key id;

	assert_int_equal(kb_cache_set_limit(f->c, 2 * OBJ + OBJ / 2), 0);
	assert_int_equal(kb_cache_stats_get(&s, f->c), 0);
	assert_int_equal(s.limit, 2 * OBJ + OBJ / 2);
	assert_true(s.chunk_bytes <= 2 * OBJ + OBJ / 2);
	kb_test_fill_random(buf, OBJ, 7777);
	assert_int_equal(kb_cache_put_buf(&id, f->c, buf, OBJ, NULL), 0);
	assert_int_equal(kb_cache_has(f->c, &id), 1);
	assert_int_equal(kb_cache_stats_get(&s, f->c), 0);
	assert_true(s.chunk_bytes <= 2 * OBJ + OBJ / 2);
	/* the newest puts survive, the oldest went */
	assert_int_equal(kb_cache_has(f->c, &f->id[0]), 0);
	assert_int_equal(kb_cache_has(f->c, &f->id[N - 1]), 1);
	free(buf);
}

static void test_cache_gc__object_larger_than_limit_is_efull(void **state)
{
	struct fx *f = *state;
	uint8_t *buf = malloc(3 * OBJ);
	kb_key id;

	assert_int_equal(kb_cache_set_limit(f->c, 2 * OBJ), 0);
	kb_test_fill_random(buf, 3 * OBJ, 4242);
	assert_int_equal(kb_cache_put_buf(&id, f->c, buf, 3 * OBJ, NULL), KB_EFULL);
	assert_non_null(strstr(kb_error_last()->message, "limit"));
	kb_sha256(&id, buf, 3 * OBJ);
	assert_int_equal(kb_cache_has(f->c, &id), 0);
	free(buf);
}

static void test_cache_gc__no_limit_gc_evicts_nothing(void **state)
{
	struct fx *f = *state;
	uint64_t ev = 99;

	assert_int_equal(kb_cache_gc(f->c, 0, &ev), 0);
	assert_int_equal(ev, 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(kb_cache_has(f->c, &f->id[i]), 1);
}

static void test_cache_gc__compact_keeps_objects_and_shrinks_after_eviction(void **state)
{
	struct fx *f = *state;
	uint64_t before = 0, after = 0, ev, bad = 1;
	void *p;
	size_t n;

	assert_int_equal(kb_cache_gc(f->c, 2 * OBJ, &ev), 0);
	assert_int_equal(kb_cache_compact(f->c, &before, &after), 0);
	assert_true(after < before);
	assert_int_equal(kb_cache_get_buf(&p, &n, f->c, &f->id[N - 1]), 0);
	assert_int_equal(n, OBJ);
	free(p);
	assert_int_equal(kb_cache_verify(f->c, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
}

static void test_cache_gc__compact_refuses_while_another_handle_is_open(void **state)
{
	struct fx *f = *state;
	kb_cache *other;

	assert_int_equal(kb_cache_open(&other, f->dir, 0), 0);
	assert_int_equal(kb_cache_compact(f->c, NULL, NULL), KB_ELOCKED);
	assert_non_null(strstr(kb_error_last()->message, "in use"));
	kb_cache_free(other);
	assert_int_equal(kb_cache_compact(f->c, NULL, NULL), 0);
}

/* The plain put of a vmlinux leaves a decoded copy in dir/base/<id> for readers of
 * its deltas; at most two are kept, and gc removes the copy with its object. */
static void test_cache_gc__eviction_removes_the_decoded_base_copy(void **state)
{
	struct fx *f = *state;
	kb_put_opts o = { .kind = KB_OBJ_VMLINUX };
	uint8_t *buf = malloc(OBJ);
	char hex[KB_KEY_HEXLEN + 1], path[4300];
	kb_key v[3];
	uint64_t ev = 0;

	for (int i = 0; i < 3; i++) {
		kb_test_fill_random(buf, OBJ, 900 + (unsigned)i); /* unrelated: each plain */
		assert_int_equal(kb_cache_put_buf(&v[i], f->c, buf, OBJ, &o), 0);
	}
	free(buf);
	/* two copies are kept (mtimes are coarse: which older one goes may vary), and
	 * always the newest */
	snprintf(path, sizeof(path), "ls '%s/base' | grep -c . | grep -qx 2", f->dir);
	assert_int_equal(kb_test_sh("%s", path), 0);
	kb_key_to_hex(hex, &v[2]);
	snprintf(path, sizeof(path), "%s/base/%s", f->dir, hex);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(kb_cache_gc(f->c, 1, &ev), 0);
	assert_true(ev >= 3);
	for (int i = 0; i < 3; i++) {
		kb_key_to_hex(hex, &v[i]);
		snprintf(path, sizeof(path), "%s/base/%s", f->dir, hex);
		assert_int_not_equal(access(path, F_OK), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_cache_gc__evicts_least_recently_used_first),
		T(test_cache_gc__pinned_objects_are_never_evicted),
		T(test_cache_gc__limit_is_enforced_on_put),
		T(test_cache_gc__object_larger_than_limit_is_efull),
		T(test_cache_gc__no_limit_gc_evicts_nothing),
		T(test_cache_gc__eviction_removes_the_decoded_base_copy),
		T(test_cache_gc__compact_keeps_objects_and_shrinks_after_eviction),
		T(test_cache_gc__compact_refuses_while_another_handle_is_open),
#undef T
	};
	return cmocka_run_group_tests_name("cache/gc", tests, NULL, NULL);
}
