/*
 * cache/records.c - build records (by build key, indexed by kernel signature) and
 * test results (by test key, one entry per run).
 * Owns: the "build", "bysig" and "test" tables.
 * Not: the JSON form of a record (record_codec.c, shared with the wire).
 * DESIGN: records are small JSON documents (jansson) so fields can be added without a
 * format change; keys are binary. A test key's runs are separate LMDB entries keyed
 * test key + time (ns) + pid + sequence, so concurrent processes append without
 * read-modify-write and a cursor range lists them oldest first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdatomic.h>

#include <jansson.h>

#include "cache_internal.h"
#include "record_codec.h"

static int oom(kb_cache *c)
{
	return kb_cache__oom(c);
}

/* The stored form of records (record_codec.c); the names are those the functions
 * below have always called. */
static char *build_to_json(const kb_build_record *rec)
{
	return kb_cache__rec_build_encode(rec, KB_REC_STORED);
}

static int build_from_json(kb_build_record *out, const void *data, size_t len)
{
	return kb_cache__rec_build_decode(out, data, len, KB_REC_STORED);
}

static char *run_json(const kb_test_run *run)
{
	return kb_cache__rec_run_encode(run);
}

static int run_from_json(kb_test_run *out, const void *data, size_t len)
{
	return kb_cache__rec_run_decode(out, data, len);
}

/* ---- build records ---- */

int kb_cache__build_parse(kb_build_record *out, const void *data, size_t len)
{
	return build_from_json(out, data, len);
}

void kb_build_record_clear(kb_build_record *rec)
{
	if (!rec)
		return;
	free(rec->extra_json);
	rec->extra_json = NULL;
}

struct build_put_ctx {
	const kb_build_record *rec;
	const char *json;
};

static int build_put_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct build_put_ctx *b = arg;
	const kb_build_record *rec = b->rec;
	MDB_val k = { 32, (void *)rec->build_key.b }, v;
	uint8_t sk[64];
	MDB_val skv = { 64, sk }, e = { 0, "" };
	int rc;

	/* drop the old signature index entry */
	if (mdb_get(t, c->build, &k, &v) == 0) {
		kb_build_record old;
		if ((rc = kb_cache__stat_add_txn(c, t, KB_ST_RECORD_BYTES,
						 -(int64_t)(v.mv_size + 32))))
			return rc;
		if (build_from_json(&old, v.mv_data, v.mv_size) == 0) {
			if (old.has_signature) {
				memcpy(sk, old.signature.b, 32);
				memcpy(sk + 32, rec->build_key.b, 32);
				mdb_del(t, c->bysig, &skv, NULL);
			}
			kb_build_record_clear(&old);
		}
	}
	v.mv_size = strlen(b->json);
	v.mv_data = (void *)b->json;
	if ((rc = kb_cache__mdb(c, mdb_put(t, c->build, &k, &v, 0), "cannot store a build record")) ||
	    (rc = kb_cache__stat_add_txn(c, t, KB_ST_RECORD_BYTES, (int64_t)(v.mv_size + 32))))
		return rc;
	if (rec->has_signature) {
		memcpy(sk, rec->signature.b, 32);
		memcpy(sk + 32, rec->build_key.b, 32);
		if ((rc = kb_cache__mdb(c, mdb_put(t, c->bysig, &skv, &e, 0),
					"cannot index a build record")))
			return rc;
	}
	return 0;
}

int kb_cache_build_put(kb_cache *c, const kb_build_record *rec)
{
	struct build_put_ctx b = { rec, NULL };
	char *json;
	int rc;

	if (kb_cache__tier_on(c)) /* write-through (tier.c) */
		return kb_cache__tier_build_put(c, rec);
	if (rec->extra_json) {
		json_t *x = json_loads(rec->extra_json, 0, NULL);
		if (!json_is_object(x)) {
			json_decref(x);
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE,
					     "build record extra_json is not a JSON object; pass an "
					     "object such as {\"skip\": []}");
		}
		json_decref(x);
	}
	if (!(json = build_to_json(rec)))
		return oom(c);
	b.json = json;
	rc = kb_cache__write(c, build_put_fn, &b);
	free(json);
	if (!rc)
		rc = kb_cache__enforce_limit(c, NULL); /* records count toward it */
	return rc;
}

/* drop one build record and its signature index entry; MDB_NOTFOUND when none */
static int build_del_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	const kb_key *key = arg;
	MDB_val k = { 32, (void *)key->b }, v;
	kb_build_record old;
	uint8_t sk[64];
	MDB_val skv = { 64, sk };
	int rc;

	if ((rc = mdb_get(t, c->build, &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? MDB_NOTFOUND
					  : kb_cache__mdb(c, rc, "cannot read a build record");
	if (build_from_json(&old, v.mv_data, v.mv_size) == 0) {
		if (old.has_signature) {
			memcpy(sk, old.signature.b, 32);
			memcpy(sk + 32, key->b, 32);
			mdb_del(t, c->bysig, &skv, NULL);
		}
		kb_build_record_clear(&old);
	}
	if ((rc = kb_cache__stat_add_txn(c, t, KB_ST_RECORD_BYTES, -(int64_t)(v.mv_size + 32))))
		return rc;
	return kb_cache__mdb(c, mdb_del(t, c->build, &k, NULL), "cannot drop a build record");
}

int kb_cache_build_del(kb_cache *c, const kb_key *build_key)
{
	char s[16];
	int rc = kb_cache__write(c, build_del_fn, (void *)build_key);

	if (rc == MDB_NOTFOUND)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
				     "no build record %s in cache '%s'", kb_cache__short(s, build_key),
				     c->dir);
	return rc;
}

int kb_cache_build_get(kb_build_record *out, kb_cache *c, const kb_key *build_key)
{
	MDB_val k = { 32, (void *)build_key->b }, v;
	MDB_txn *t;
	char s[16];
	int rc;

	if (kb_cache__tier_on(c)) /* read-through (tier.c) */
		return kb_cache__tier_build_get(out, c, build_key);
	memset(out, 0, sizeof(*out));
	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	rc = mdb_get(t, c->build, &k, &v);
	if (rc == 0)
		rc = build_from_json(out, v.mv_data, v.mv_size) == 0 ? 0 : -12345;
	kb_cache__txn_end(c, t);
	if (rc == MDB_NOTFOUND) {
		kb_cache__stat_add(c, KB_ST_BUILD_MISSES, 1);
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
				     "no build record %s in cache '%s'", kb_cache__short(s, build_key),
				     c->dir);
	}
	if (rc == -12345)
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				     "build record %s in cache '%s' is malformed; run 'kbisect "
				     "cache verify'", kb_cache__short(s, build_key), c->dir);
	if (rc)
		return kb_cache__mdb(c, rc, "cannot read a build record");
	kb_cache__stat_add(c, KB_ST_BUILD_HITS, 1);
	return 0;
}

int kb_cache_build_exists(kb_cache *c, const kb_key *build_key)
{
	MDB_val k = { 32, (void *)build_key->b }, v;
	MDB_txn *t;
	int rc;

	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	rc = mdb_get(t, c->build, &k, &v);
	kb_cache__txn_end(c, t);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return kb_cache__mdb(c, rc, "cannot look up a build record");
	return 1;
}

int kb_cache_builds_by_signature(kb_key **out, size_t *n, kb_cache *c, const kb_key *sig)
{
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val k = { 32, (void *)sig->b }, v;
	kb_key *keys = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	if (kb_cache__tier_on(c)) /* read-through (tier.c) */
		return kb_cache__tier_by_sig(out, n, c, sig);
	*out = NULL;
	*n = 0;
	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	if ((rc = mdb_cursor_open(t, c->bysig, &cur))) {
		kb_cache__txn_end(c, t);
		return kb_cache__mdb(c, rc, "cannot read the signature index");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 64 || memcmp(k.mv_data, sig->b, 32) != 0)
			break;
		if (cnt == cap) {
			void *p = realloc(keys, (cap = cap ? cap * 2 : 8) * sizeof(*keys));
			if (!p) {
				mdb_cursor_close(cur);
				kb_cache__txn_end(c, t);
				free(keys);
				return oom(c);
			}
			keys = p;
		}
		memcpy(keys[cnt++].b, (uint8_t *)k.mv_data + 32, 32);
	}
	mdb_cursor_close(cur);
	kb_cache__txn_end(c, t);
	*out = keys;
	*n = cnt;
	return 0;
}

int kb_cache_build_foreach(kb_cache *c, int (*fn)(const kb_build_record *rec, void *arg),
			   void *arg)
{
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val k, v;
	kb_build_record *all = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	if ((rc = mdb_cursor_open(t, c->build, &cur))) {
		kb_cache__txn_end(c, t);
		return kb_cache__mdb(c, rc, "cannot list build records");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (n == cap) {
			void *p = realloc(all, (cap = cap ? cap * 2 : 16) * sizeof(*all));
			if (!p)
				break;
			all = p;
		}
		if (build_from_json(&all[n], v.mv_data, v.mv_size) == 0)
			n++;
	}
	mdb_cursor_close(cur);
	kb_cache__txn_end(c, t);
	rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (!rc)
			rc = fn(&all[i], arg);
		kb_build_record_clear(&all[i]);
	}
	free(all);
	return rc > 0 ? 0 : rc;
}

int kb_cache_note_build_saved(kb_cache *c, double seconds)
{
	if (seconds > 0)
		kb_cache__stat_add(c, KB_ST_SAVED_MS, (int64_t)(seconds * 1000.0 + 0.5));
	return 0;
}

/* ---- test results ---- */

static void put_be64(uint8_t *p, uint64_t x)
{
	for (int i = 7; i >= 0; i--, x >>= 8)
		p[i] = (uint8_t)x;
}

static void put_be32(uint8_t *p, uint32_t x)
{
	for (int i = 3; i >= 0; i--, x >>= 8)
		p[i] = (uint8_t)x;
}

struct test_add_ctx {
	const kb_key *test_key;
	char **json;              /* n runs, as JSON */
	size_t n;
	uint64_t time_ns;
	uint32_t seq0;
};

static int test_add_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct test_add_ctx *a = arg;
	int rc = 0;

	for (size_t r = 0; r < a->n && !rc; r++) {
		uint8_t key[48];
		MDB_val k = { 48, key }, v = { strlen(a->json[r]), a->json[r] };
		memcpy(key, a->test_key->b, 32);
		/* runs of one call keep their order: same time, consecutive sequence */
		put_be64(key + 32, a->time_ns);
		put_be32(key + 40, (uint32_t)getpid());
		put_be32(key + 44, (a->seq0 + (uint32_t)r) << 8);
		/* same ns, pid and counter from another handle: bump the sequence */
		for (int i = 0; i < 1000; i++) {
			rc = mdb_put(t, c->test, &k, &v, MDB_NOOVERWRITE);
			if (rc != MDB_KEYEXIST)
				break;
			key[47]++;
		}
		if ((rc = kb_cache__mdb(c, rc, "cannot store a test run")))
			break;
		rc = kb_cache__stat_add_txn(c, t, KB_ST_RECORD_BYTES, (int64_t)(v.mv_size + 48));
	}
	return rc;
}

int kb_cache_test_add_many(kb_cache *c, const kb_key *test_key, const kb_test_run *runs,
			   size_t n)
{
	static _Atomic unsigned int seq;
	struct test_add_ctx a;
	struct timespec ts;
	int rc = 0;

	if (kb_cache__tier_on(c)) /* write-through (tier.c) */
		return kb_cache__tier_test_add(c, test_key, runs, n);
	for (size_t i = 0; i < n; i++)
		if (runs[i].klass < KB_RUN_OK || runs[i].klass > KB_RUN_BOOT_FAILURE)
			return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE,
					     "bad run class %d (run %zu of %zu); use a "
					     "kb_run_class; nothing stored", runs[i].klass, i + 1, n);
	if (!n)
		return 0;
	if (n > (1u << 23))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE,
				     "%zu runs in one call; add at most 8388608 at a time", n);
	if (!(a.json = calloc(n, sizeof(*a.json))))
		return oom(c);
	for (size_t i = 0; i < n && !rc; i++)
		if (!(a.json[i] = run_json(&runs[i])))
			rc = oom(c);
	if (!rc) {
		clock_gettime(CLOCK_REALTIME, &ts);
		a.test_key = test_key;
		a.n = n;
		a.time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		a.seq0 = atomic_fetch_add(&seq, (unsigned int)n);
		/* one txn, one fsync, for all of them */
		rc = kb_cache__write(c, test_add_fn, &a);
	}
	if (!rc)
		rc = kb_cache__enforce_limit(c, NULL); /* records count toward it */
	for (size_t i = 0; i < n; i++)
		free(a.json[i]);
	free(a.json);
	return rc;
}

int kb_cache_test_add(kb_cache *c, const kb_key *test_key, const kb_test_run *run)
{
	return kb_cache_test_add_many(c, test_key, run, 1);
}

int kb_cache__run_parse(kb_test_run *out, const void *data, size_t len)
{
	return run_from_json(out, data, len) ? KB_ECORRUPT : 0;
}

int kb_cache_test_list(kb_test_run **out, size_t *n, kb_cache *c, const kb_key *test_key)
{
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val k = { 32, (void *)test_key->b }, v;
	kb_test_run *runs = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	if (kb_cache__tier_on(c)) /* read-through (tier.c) */
		return kb_cache__tier_test_list(out, n, c, test_key);
	*out = NULL;
	*n = 0;
	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	if ((rc = mdb_cursor_open(t, c->test, &cur))) {
		kb_cache__txn_end(c, t);
		return kb_cache__mdb(c, rc, "cannot read test results");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 48 || memcmp(k.mv_data, test_key->b, 32) != 0)
			break;
		if (cnt == cap) {
			void *p = realloc(runs, (cap = cap ? cap * 2 : 8) * sizeof(*runs));
			if (!p) {
				mdb_cursor_close(cur);
				kb_cache__txn_end(c, t);
				free(runs);
				return oom(c);
			}
			runs = p;
		}
		if (run_from_json(&runs[cnt], v.mv_data, v.mv_size) == 0)
			cnt++;
	}
	mdb_cursor_close(cur);
	kb_cache__txn_end(c, t);
	kb_cache__stat_add(c, cnt ? KB_ST_TEST_HITS : KB_ST_TEST_MISSES, 1);
	*out = runs;
	*n = cnt;
	return 0;
}
