/*
 * cache/verify.c - `kbisect cache verify`: read back every object and check every
 * chunk, reference count and record.
 * DESIGN: objects are read with the normal reader (chunk XXH3 + object SHA-256), so
 * verify checks exactly what a get would return. Reference counts are recomputed from
 * the object table and compared with "cref"; unreferenced chunks are reported only in
 * the count of orphans (a killed writer leaves them; gc removes them), not as damage.
 * While the cache is in use: the reference counts and records are checked in one read
 * snapshot (consistent by construction: every put and eviction is one txn); an object
 * that fails to read is reported only if it still exists and fails again when read
 * from the start, so an eviction (or eviction and re-put) under the read is no damage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cache_internal.h"

struct vctx {
	kb_cache *c;
	uint64_t bad;
	void (*fn)(const char *what, const char *why, void *arg);
	void *arg;
	uint8_t *buf;
};

static void report(struct vctx *v, const char *what, const char *why)
{
	v->bad++;
	if (v->fn)
		v->fn(what, why, v->arg);
}

/* Read object id back in full; 0, or the kb_error_code of the first failure. */
static int read_object(struct vctx *v, const kb_key *id)
{
	kb_cache_reader *r;
	ssize_t n;
	int rc;

	if ((rc = kb_cache__reader_open(&r, NULL, v->c, id, 0)))
		return rc;
	if (kb_cache__test_hook)
		kb_cache__test_hook("verify", v->c); /* tests: evict under the read */
	while ((n = kb_cache_reader_read(r, v->buf, 4u << 20)) > 0)
		;
	kb_cache_reader_free(r);
	return n < 0 ? (int)n : 0;
}

static int check_object(const kb_object_info *info, void *arg)
{
	struct vctx *v = arg;
	char what[96], hex[KB_KEY_HEXLEN + 1], why[1024];

	if (!kb_cache__verify_object(v->c, &info->id, v->buf, why, sizeof(why)))
		return 0;
	kb_key_to_hex(hex, &info->id);
	snprintf(what, sizeof(what), "object %s", hex);
	report(v, what, why);
	return 0;
}

struct refcount {
	kb_key id;
	uint64_t n;
};

static int cmp_rc(const void *a, const void *b)
{
	return memcmp(((const struct refcount *)a)->id.b, ((const struct refcount *)b)->id.b, 32);
}

/* Recount chunk references from the object table and compare with "cref". */
static int check_refs(struct vctx *v, uint64_t *orphans)
{
	kb_cache *c = v->c;
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val k, val;
	struct refcount *all = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*orphans = 0;
	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	if (mdb_cursor_open(t, c->obj, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
			struct kb_obj_hdr h;
			if (val.mv_size < sizeof(h))
				continue;
			memcpy(&h, val.mv_data, sizeof(h));
			if (val.mv_size != sizeof(h) + (size_t)h.nparts * 32)
				continue;
			for (uint32_t i = 0; i < h.nparts; i++) {
				if (n == cap) {
					void *p = realloc(all, (cap = cap ? cap * 2 : 1024) * sizeof(*all));
					if (!p)
						break;
					all = p;
				}
				memcpy(all[n].id.b, (uint8_t *)val.mv_data + sizeof(h) + 32 * i, 32);
				all[n++].n = 1;
			}
		}
		mdb_cursor_close(cur);
	}
	if (n)
		qsort(all, n, sizeof(*all), cmp_rc);
	/* merge equal ids */
	{
		size_t m = 0;
		for (size_t i = 0; i < n; i++) {
			if (m && kb_key_equal(&all[m - 1].id, &all[i].id))
				all[m - 1].n++;
			else
				all[m++] = all[i];
		}
		n = m;
	}
	if (mdb_cursor_open(t, c->cref, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
			struct kb_chunk_ref r;
			struct refcount key, *hit;
			MDB_val cv;
			char what[96], why[128], hex[KB_KEY_HEXLEN + 1];
			if (k.mv_size != 32 || val.mv_size != sizeof(r))
				continue;
			memcpy(&r, val.mv_data, sizeof(r));
			memcpy(key.id.b, k.mv_data, 32);
			hit = n ? bsearch(&key, all, n, sizeof(*all), cmp_rc) : NULL;
			kb_key_to_hex(hex, &key.id);
			snprintf(what, sizeof(what), "chunk %s", hex);
			if (!hit && r.refs == 0) {
				(*orphans)++;
				continue;
			}
			if (mdb_get(t, c->chunk, &k, &cv) != 0) {
				report(v, what, "referenced but missing");
				continue;
			}
			if ((hit ? hit->n : 0) != r.refs) {
				snprintf(why, sizeof(why), "reference count %llu, but %llu objects use it",
					 (unsigned long long)r.refs,
					 (unsigned long long)(hit ? hit->n : 0));
				report(v, what, why);
			}
		}
		mdb_cursor_close(cur);
	}
	kb_cache__txn_end(c, t);
	free(all);
	return 0;
}

static int check_build(const kb_build_record *rec, void *arg)
{
	(void)rec;
	(void)arg;
	return 0; /* parse errors are counted below */
}

/* 1 if object id is damaged (why says how), else 0. While the cache is in use, a
 * concurrent gc may evict the object (or evict and store it again) under the read:
 * that is no damage. Damage is what still fails when read again from the start. */
int kb_cache__verify_object(kb_cache *c, const kb_key *id, void *buf, char *why, size_t cap)
{
	struct vctx v = { c, 0, NULL, NULL, buf };

	if (read_object(&v, id) == 0)
		return 0;
	snprintf(why, cap, "%s", kb_error_last()->message ? kb_error_last()->message : "unreadable");
	if (!kb_cache_has(c, id) || read_object(&v, id) == 0 || !kb_cache_has(c, id)) {
		kb_error_clear();
		return 0;
	}
	return 1;
}

int kb_cache__verify_tables(kb_cache *c, uint64_t *bad,
			    void (*fn)(const char *what, const char *why, void *arg), void *arg)
{
	struct vctx v = { c, 0, fn, arg, NULL };
	uint64_t orphans = 0;
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val k, val;
	int rc;

	*bad = 0;
	if ((rc = check_refs(&v, &orphans)))
		return rc;
	if ((rc = kb_cache_build_foreach(c, check_build, NULL)))
		return rc;
	/* records: every build record and test run must parse */
	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	if (mdb_cursor_open(t, c->build, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
			if (k.mv_size != 32 || val.mv_size < 2 || ((char *)val.mv_data)[0] != '{')
				report(&v, "build record", "malformed");
		}
		mdb_cursor_close(cur);
	}
	if (mdb_cursor_open(t, c->test, &cur) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
			if (k.mv_size != 48 || val.mv_size < 2 || ((char *)val.mv_data)[0] != '{')
				report(&v, "test run", "malformed");
		}
		mdb_cursor_close(cur);
	}
	kb_cache__txn_end(c, t);
	*bad = v.bad;
	return 0;
}

int kb_cache_verify(kb_cache *c, uint64_t *bad,
		    void (*fn)(const char *what, const char *why, void *arg), void *arg)
{
	struct vctx v = { c, 0, fn, arg, NULL };
	uint64_t more = 0;
	int rc;

	*bad = 0;
	if (!(v.buf = malloc(4u << 20)))
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "out of memory verifying '%s'", c->dir);
	rc = kb_cache_object_foreach(c, check_object, &v);
	free(v.buf);
	if (rc)
		return rc;
	if ((rc = kb_cache__verify_tables(c, &more, fn, arg)))
		return rc;
	*bad = v.bad + more;
	return 0;
}
