/*
 * cache/gc.c - eviction: least-recently-used objects go first, until the stored
 * chunk bytes fit under a target.
 * Owns: kb_cache_gc(), kb_cache_set_limit(), kb_cache__gc_to(),
 * kb_cache__enforce_limit(), the choice of victims, orphan chunk cleanup.
 * Not: deleting one object (kb_cache__evict_txn, object.c) or one chunk
 * (kb_cache__release_chunk, chunk.c): gc is a client of the object store, which never
 * calls back into it; only the puts above it (object_put.c, records.c) call gc.
 * DESIGN: never evicts a pinned object, nor a delta base while a dependant exists (the
 * "dep" table); the dependant goes first, then its base becomes a candidate in the next
 * round. Each eviction is its own small write txn so readers and writers interleave.
 * Chunks with no reference left by a killed writer go at once (pending.c tells a
 * killed writer from a live one); those of a writer that never registered, only when
 * older than an hour. Chunks of puts in flight do not count toward the target. The
 * object a put has just stored is never evicted by that put's own clean-up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_internal.h"

#define ORPHAN_GRACE_S 3600

static int has_dependants(kb_cache *c, MDB_txn *t, const kb_key *id)
{
	MDB_cursor *cur;
	MDB_val k = { 32, (void *)id->b }, v;
	int found = 0;

	if (mdb_cursor_open(t, c->dep, &cur))
		return 1;
	if (mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size == 64 &&
	    memcmp(k.mv_data, id->b, 32) == 0)
		found = 1;
	mdb_cursor_close(cur);
	return found;
}

struct cand {
	kb_key id;
	int64_t used;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->used != y->used)
		return x->used < y->used ? -1 : 1;
	return memcmp(x->id.b, y->id.b, 32);
}

struct evict_ctx {
	kb_key id;
	int done;
};

static int evict_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct evict_ctx *e = arg;
	MDB_val k = { 32, e->id.b }, v;
	struct kb_obj_hdr h;

	e->done = 0;
	/* re-check under the write lock: pinned or a base by now? */
	if (mdb_get(t, c->obj, &k, &v) != 0 || v.mv_size < sizeof(h))
		return 0;
	memcpy(&h, v.mv_data, sizeof(h));
	if ((h.flags & KB_OBJF_PINNED) || has_dependants(c, t, &e->id))
		return 0;
	e->done = 1;
	return kb_cache__evict_txn(c, t, &e->id);
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* The chunk ids of live writers (sorted, *n of them): not orphans, however old. */
static kb_key *live_pending(kb_cache *c, MDB_txn *t, size_t *n)
{
	MDB_cursor *cur;
	MDB_val k, v;
	kb_key *ids = NULL;
	size_t cap = 0;

	*n = 0;
	if (!c->have_pend || mdb_cursor_open(t, c->pend, &cur))
		return NULL;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != KB_TOKEN_LEN + 32)
			continue;
		if (*n == cap) {
			void *p = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof(*ids));
			if (!p)
				break;
			ids = p;
		}
		memcpy(ids[(*n)++].b, (uint8_t *)k.mv_data + KB_TOKEN_LEN, 32);
	}
	mdb_cursor_close(cur);
	if (*n)
		qsort(ids, *n, sizeof(*ids), cmp_key);
	return ids;
}

static int orphans_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int64_t cutoff = kb_cache__now() - ORPHAN_GRACE_S;
	kb_key *dead = NULL, *live;
	size_t n = 0, cap = 0, nlive;
	int rc;

	(void)arg;
	/* chunks of killed puts go at once (their writer's lock is gone) */
	if ((rc = kb_cache__pend_reap_txn(c, t)))
		return rc;
	live = live_pending(c, t, &nlive);
	if ((rc = mdb_cursor_open(t, c->cref, &cur))) {
		free(live);
		return kb_cache__mdb(c, rc, "cannot scan chunks");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct kb_chunk_ref r;
		if (k.mv_size != 32 || v.mv_size != sizeof(r))
			continue;
		memcpy(&r, v.mv_data, sizeof(r));
		if (r.refs || r.created > cutoff ||
		    (nlive && bsearch(k.mv_data, live, nlive, sizeof(*live), cmp_key)))
			continue;
		if (n == cap) {
			void *p = realloc(dead, (cap = cap ? cap * 2 : 64) * sizeof(*dead));
			if (!p)
				break;
			dead = p;
		}
		memcpy(dead[n++].b, k.mv_data, 32);
	}
	mdb_cursor_close(cur);
	free(live);
	rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = kb_cache__release_chunk(c, t, dead[i].b, 1);
	free(dead);
	return rc;
}

/* Stored bytes that count toward the limit: chunks of committed objects (and old
 * orphans), not those of puts in flight; and build records and test runs (written
 * since kbisect counts them), which gc does not evict: objects make room for them. */
uint64_t kb_cache__used_bytes_txn(kb_cache *c, MDB_txn *t)
{
	uint64_t used = kb_cache__stat_get(c, t, KB_ST_CHUNK_BYTES);
	uint64_t pend = kb_cache__stat_get(c, t, KB_ST_PEND_BYTES);

	return (used > pend ? used - pend : 0) + kb_cache__stat_get(c, t, KB_ST_RECORD_BYTES);
}

uint64_t kb_cache__used_bytes(kb_cache *c)
{
	MDB_txn *t;
	uint64_t used = 0;
	if (kb_cache__rtxn(c, &t) == 0) {
		used = kb_cache__used_bytes_txn(c, t);
		kb_cache__txn_end(c, t);
	}
	return used;
}

int kb_cache__gc_to(kb_cache *c, uint64_t target, uint64_t *evicted, const kb_key *keep)
{
	uint64_t n = 0;
	int rc, progress = 1;

	if (evicted)
		*evicted = 0;
	kb_cache__clean_stale_files(c);
	if ((rc = kb_cache__write(c, orphans_fn, NULL)))
		return rc;
	while (progress && kb_cache__used_bytes(c) > target) {
		struct cand *cands = NULL;
		size_t nc = 0, cap = 0;
		MDB_txn *t;
		MDB_cursor *cur;
		MDB_val k, v;

		progress = 0;
		if ((rc = kb_cache__rtxn(c, &t)))
			return rc;
		if ((rc = mdb_cursor_open(t, c->obj, &cur))) {
			kb_cache__txn_end(c, t);
			return kb_cache__mdb(c, rc, "cannot scan objects");
		}
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct kb_obj_hdr h;
			MDB_val av;
			int64_t used;
			if (k.mv_size != 32 || v.mv_size < sizeof(h))
				continue;
			memcpy(&h, v.mv_data, sizeof(h));
			if ((h.flags & KB_OBJF_PINNED) || (keep && !memcmp(k.mv_data, keep->b, 32)))
				continue;
			used = h.created * 1000000000;
			if (mdb_get(t, c->atime, &k, &av) == 0 && av.mv_size == sizeof(used))
				memcpy(&used, av.mv_data, sizeof(used));
			if (nc == cap) {
				void *p = realloc(cands, (cap = cap ? cap * 2 : 64) * sizeof(*cands));
				if (!p)
					break;
				cands = p;
			}
			memcpy(cands[nc].id.b, k.mv_data, 32);
			cands[nc].used = used;
			nc++;
		}
		mdb_cursor_close(cur);
		kb_cache__txn_end(c, t);
		if (nc)
			qsort(cands, nc, sizeof(*cands), cmp_cand);
		for (size_t i = 0; i < nc && kb_cache__used_bytes(c) > target; i++) {
			struct evict_ctx e = { cands[i].id, 0 };
			if ((rc = kb_cache__write(c, evict_fn, &e))) {
				free(cands);
				return rc;
			}
			if (e.done) {
				n++;
				progress = 1;
			}
		}
		free(cands);
	}
	if (evicted)
		*evicted = n;
	return 0;
}

int kb_cache__enforce_limit(kb_cache *c, const kb_key *keep)
{
	MDB_txn *t;
	uint64_t limit = 0, used = 0;

	/* every put and record add comes here: one read txn for both */
	if (kb_cache__rtxn(c, &t) == 0) {
		limit = kb_cache__meta_u64(c, t, "limit");
		if (limit)
			used = kb_cache__used_bytes_txn(c, t);
		kb_cache__txn_end(c, t);
	}
	if (!limit || used <= limit)
		return 0;
	return kb_cache__gc_to(c, limit - limit / 10, NULL, keep);
}

int kb_cache_gc(kb_cache *c, uint64_t max_bytes, uint64_t *evicted)
{
	uint64_t target = max_bytes;

	if (c->flags & KB_CACHE_RDONLY)
		return kb_error_setc(KB_EREADONLY, KB_ERRCLASS_CACHE,
				     "cannot gc cache '%s' opened read-only", c->dir);
	if (!target) {
		MDB_txn *t;
		int rc;
		if ((rc = kb_cache__rtxn(c, &t)))
			return rc;
		target = kb_cache__meta_u64(c, t, "limit");
		kb_cache__txn_end(c, t);
	}
	if (!target)
		target = UINT64_MAX; /* no limit: only orphans go */
	return kb_cache__gc_to(c, target, evicted, NULL);
}

static int set_limit(kb_cache *c, MDB_txn *t, void *arg)
{
	return kb_cache__meta_put_u64(c, t, "limit", *(uint64_t *)arg);
}

int kb_cache_set_limit(kb_cache *c, uint64_t max_bytes)
{
	int rc = kb_cache__write(c, set_limit, &max_bytes);
	if (rc)
		return rc;
	if (max_bytes)
		return kb_cache__gc_to(c, max_bytes, NULL, NULL);
	return 0;
}
