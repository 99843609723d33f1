/*
 * cache/object.c - objects as the store lists them: headers, info, listing, eviction
 * of one object, pins and references.
 * Owns: the "obj", "atime", "dep" and "ref" tables and meta "base:<kind>" (what is
 * stored, not how its bytes are written or read).
 * Not: writing objects (object_write.c, object_put.c), reading them (object_read.c),
 * chunk values (chunk.c), choosing what to evict (gc.c).
 * DESIGN: the storage layout of objects is in cache_internal.h and the DESIGN of
 * object_write.c. Eviction of one object (kb_cache__evict_txn) is here, below gc.c,
 * which only chooses: a put that repairs a damaged copy uses it as well.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object_internal.h"

/* Read and check the header of object id in t; *parts points into the txn's memory. */
int kb_cache__obj_lookup(kb_cache *c, MDB_txn *t, const kb_key *id, struct kb_obj_hdr *h,
			 const uint8_t **parts)
{
	MDB_val k = { 32, (void *)id->b }, v;
	char s[16];
	int rc = mdb_get(t, c->obj, &k, &v);

	if (rc == MDB_NOTFOUND) {
		char hex[KB_KEY_HEXLEN + 1];
		kb_key_to_hex(hex, id);
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
				     "object '%s' is not in cache '%s'; list objects with "
				     "'kbisect cache ls'", hex, c->dir);
	}
	if (rc)
		return kb_cache__mdb(c, rc, "cannot read an object header");
	if (v.mv_size < sizeof(*h))
		goto bad;
	memcpy(h, v.mv_data, sizeof(*h));
	if (h->magic != KB_OBJ_MAGIC || v.mv_size != sizeof(*h) + (size_t)h->nparts * 32 ||
	    h->kind >= KB_OBJ_KIND_MAX)
		goto bad;
	if (parts)
		*parts = (const uint8_t *)v.mv_data + sizeof(*h);
	return 0;
bad:
	return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
			     "object %s in cache '%s' has a malformed header; run 'kbisect "
			     "cache verify'", kb_cache__short(s, id), c->dir);
}

static void fill_info(kb_object_info *out, const kb_key *id, const struct kb_obj_hdr *h,
		      int64_t last_used)
{
	memset(out, 0, sizeof(*out));
	out->id = *id;
	out->kind = h->kind;
	out->size = h->size;
	out->stored = h->stored;
	out->is_delta = !!(h->flags & KB_OBJF_DELTA);
	if (out->is_delta)
		memcpy(out->delta_base.b, h->base, 32);
	out->pinned = !!(h->flags & KB_OBJF_PINNED);
	out->created = h->created;
	out->last_used = last_used ? last_used / 1000000000 : h->created;
}

static int64_t obj_atime(kb_cache *c, MDB_txn *t, const kb_key *id)
{
	MDB_val k = { 32, (void *)id->b }, v;
	int64_t x = 0;
	if (mdb_get(t, c->atime, &k, &v) == 0 && v.mv_size == sizeof(x))
		memcpy(&x, v.mv_data, sizeof(x));
	return x;
}

int kb_cache_object_info(kb_object_info *out, kb_cache *c, const kb_key *id)
{
	struct kb_obj_hdr h;
	MDB_txn *t;
	int rc;

	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	rc = kb_cache__obj_lookup(c, t, id, &h, NULL);
	if (!rc)
		fill_info(out, id, &h, obj_atime(c, t, id));
	kb_cache__txn_end(c, t);
	return rc;
}

int kb_cache_has(kb_cache *c, const kb_key *id)
{
	MDB_txn *t;
	MDB_val k = { 32, (void *)id->b }, v;
	int found;

	if (kb_cache__rtxn(c, &t))
		return 0;
	found = mdb_get(t, c->obj, &k, &v) == 0;
	kb_cache__txn_end(c, t);
	return found;
}

int kb_cache_object_foreach(kb_cache *c, int (*fn)(const kb_object_info *info, void *arg),
			    void *arg)
{
	MDB_txn *t;
	MDB_cursor *cur;
	MDB_val k, v;
	kb_object_info *all = NULL;
	size_t n = 0, cap = 0;
	int rc;

	/* Collect first, so that fn may use the cache (no nested txn). */
	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	if ((rc = mdb_cursor_open(t, c->obj, &cur))) {
		kb_cache__txn_end(c, t);
		return kb_cache__mdb(c, rc, "cannot list objects");
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct kb_obj_hdr h;
		kb_key id;
		if (k.mv_size != 32 || v.mv_size < sizeof(h))
			continue;
		if (n && memcmp(k.mv_data, all[n - 1].id.b, 32) <= 0) {
			rc = MDB_CORRUPTED; /* out of order: a damaged branch page (a loop) */
			break;
		}
		memcpy(id.b, k.mv_data, 32);
		memcpy(&h, v.mv_data, sizeof(h));
		if (n == cap) {
			void *p = realloc(all, (cap = cap ? cap * 2 : 64) * sizeof(*all));
			if (!p) {
				rc = ENOMEM;
				break;
			}
			all = p;
		}
		fill_info(&all[n++], &id, &h, obj_atime(c, t, &id));
	}
	mdb_cursor_close(cur);
	kb_cache__txn_end(c, t);
	if (rc != MDB_NOTFOUND) {
		free(all);
		return kb_cache__mdb(c, rc, "cannot list objects");
	}
	rc = 0;
	for (size_t i = 0; i < n && !rc; i++)
		rc = fn(&all[i], arg);
	free(all);
	return rc > 0 ? 0 : rc;
}

int kb_cache__evict_txn(kb_cache *c, MDB_txn *t, const kb_key *id)
{
	MDB_val k = { 32, (void *)id->b }, v;
	struct kb_obj_hdr h;
	uint8_t *parts;
	int rc;

	rc = mdb_get(t, c->obj, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return kb_cache__mdb(c, rc, "cannot read an object to evict");
	if (v.mv_size < sizeof(h))
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				     "malformed object header in cache '%s'; run 'kbisect cache "
				     "verify'", c->dir);
	memcpy(&h, v.mv_data, sizeof(h));
	if (v.mv_size != sizeof(h) + (size_t)h.nparts * 32)
		h.nparts = 0;
	parts = malloc((size_t)h.nparts * 32 + 1);
	if (!parts)
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "out of memory during gc");
	memcpy(parts, (uint8_t *)v.mv_data + sizeof(h), (size_t)h.nparts * 32);
	for (uint32_t i = 0; i < h.nparts; i++) {
		if ((rc = kb_cache__release_chunk(c, t, parts + 32 * i, 0))) {
			free(parts);
			return rc;
		}
	}
	free(parts);
	if ((rc = mdb_del(t, c->obj, &k, NULL)))
		return kb_cache__mdb(c, rc, "cannot delete an object");
	mdb_del(t, c->atime, &k, NULL);
	if (h.flags & KB_OBJF_DELTA) {
		uint8_t dk[64];
		MDB_val dkv = { 64, dk };
		memcpy(dk, h.base, 32);
		memcpy(dk + 32, id->b, 32);
		mdb_del(t, c->dep, &dkv, NULL);
	}
	if (h.kind < KB_OBJ_KIND_MAX) {
		char name[32];
		MDB_val mk, mv;
		snprintf(name, sizeof(name), "base:%s", kb_object_kind_name(h.kind));
		mk.mv_size = strlen(name);
		mk.mv_data = name;
		if (mdb_get(t, c->meta, &mk, &mv) == 0 && mv.mv_size == 32 &&
		    memcmp(mv.mv_data, id->b, 32) == 0)
			mdb_del(t, c->meta, &mk, NULL);
	}
	kb_cache__base_file_forget(c, t, id);
	kb_cache__base_file_remove(c, id); /* derived data: harmless if t aborts */
	return kb_cache__stat_add_txn(c, t, KB_ST_EVICTIONS, 1);
}

struct pin_ctx {
	const kb_key *id;
	int pinned;
};

static int pin_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct pin_ctx *p = arg;
	MDB_val k = { 32, (void *)p->id->b }, v;
	struct kb_obj_hdr h;
	uint8_t *copy;
	int rc;

	if ((rc = kb_cache__obj_lookup(c, t, p->id, &h, NULL)))
		return rc;
	if ((rc = mdb_get(t, c->obj, &k, &v)))
		return kb_cache__mdb(c, rc, "cannot read an object header");
	if (!(copy = malloc(v.mv_size)))
		return kb_cache__oom(c);
	memcpy(copy, v.mv_data, v.mv_size);
	h.flags = (uint8_t)(p->pinned ? (h.flags | KB_OBJF_PINNED) : (h.flags & ~KB_OBJF_PINNED));
	memcpy(copy, &h, sizeof(h));
	v.mv_data = copy;
	rc = kb_cache__mdb(c, mdb_put(t, c->obj, &k, &v, 0), "cannot pin an object");
	free(copy);
	return rc;
}

int kb_cache_pin(kb_cache *c, const kb_key *id, int pinned)
{
	struct pin_ctx p = { id, pinned };
	return kb_cache__write(c, pin_fn, &p);
}

struct ref_ctx {
	int ns;
	const kb_key *key, *id;
};

static int ref_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct ref_ctx *r = arg;
	uint8_t kb[33];
	MDB_val k = { 33, kb }, v = { 32, (void *)r->id->b };

	kb[0] = (uint8_t)r->ns;
	memcpy(kb + 1, r->key->b, 32);
	return kb_cache__mdb(c, mdb_put(t, c->ref, &k, &v, 0), "cannot store a reference");
}

int kb_cache_ref_set(kb_cache *c, int ns, const kb_key *key, const kb_key *id)
{
	struct ref_ctx r = { ns, key, id };
	if (ns == KB_REF_AC && kb_cache__tier_on(c)) /* write-through (tier.c) */
		return kb_cache__tier_ac_set(c, key, id);
	if (ns < 0 || ns > 255)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE, "bad reference namespace %d", ns);
	return kb_cache__write(c, ref_fn, &r);
}

static int ref_del_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct ref_ctx *r = arg;
	uint8_t kb[33];
	MDB_val k = { 33, kb };
	int rc;

	kb[0] = (uint8_t)r->ns;
	memcpy(kb + 1, r->key->b, 32);
	rc = mdb_del(t, c->ref, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return KB_ENOTFOUND; /* nothing written: the transaction is aborted */
	return kb_cache__mdb(c, rc, "cannot delete a reference");
}

int kb_cache_ref_del(kb_cache *c, int ns, const kb_key *key)
{
	struct ref_ctx r = { ns, key, NULL };
	char s[16];
	int rc;

	if (ns < 0 || ns > 255)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE, "bad reference namespace %d", ns);
	rc = kb_cache__write(c, ref_del_fn, &r);
	if (rc == KB_ENOTFOUND)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
				     "no reference %s in namespace %d of cache '%s'",
				     kb_cache__short(s, key), ns, c->dir);
	return rc;
}

int kb_cache_ref_get(kb_key *out_id, kb_cache *c, int ns, const kb_key *key)
{
	uint8_t kb[33];
	MDB_val k = { 33, kb }, v, ok, ov;
	MDB_txn *t;
	char s[16];
	int rc;

	if (ns == KB_REF_AC && kb_cache__tier_on(c)) /* read-through (tier.c) */
		return kb_cache__tier_ac_get(out_id, c, key);
	if (ns < 0 || ns > 255)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE, "bad reference namespace %d", ns);
	kb[0] = (uint8_t)ns;
	memcpy(kb + 1, key->b, 32);
	if ((rc = kb_cache__rtxn(c, &t)))
		return rc;
	rc = mdb_get(t, c->ref, &k, &v);
	if (rc == 0 && v.mv_size == 32) {
		memcpy(out_id->b, v.mv_data, 32);
		ok.mv_size = 32;
		ok.mv_data = out_id->b;
		if (mdb_get(t, c->obj, &ok, &ov) != 0)
			rc = MDB_NOTFOUND; /* its object was evicted */
	} else if (rc == 0) {
		rc = MDB_NOTFOUND;
	}
	kb_cache__txn_end(c, t);
	if (rc == MDB_NOTFOUND)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
				     "no reference %s in namespace %d of cache '%s'",
				     kb_cache__short(s, key), ns, c->dir);
	return kb_cache__mdb(c, rc, "cannot read a reference");
}
