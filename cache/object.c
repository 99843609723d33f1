/*
 * cache/object.c - content-addressed objects: streaming writer, streaming reader,
 * chunking, zstd compression, deltas, pins, references.
 * Owns: the "obj", "chunk", "cref", "dep", "atime", "ref" tables and meta "base:<kind>".
 * Not: eviction (gc.c), checking the whole store (verify.c).
 * DESIGN:
 *  - A plain object is a list of chunks of <= 1 MiB. A chunk is keyed by the SHA-256 of
 *    its uncompressed bytes (identical chunks are stored once), stored as one zstd
 *    frame (or raw when zstd does not help) with an XXH3-64 of the stored payload.
 *    Chunks are hashed and compressed on two threads, outside any write txn.
 *  - A delta object is one zstd frame compressed with the whole base object as prefix
 *    (ZSTD_CCtx_refPrefix, long distance matching, a window covering base + object),
 *    cut into raw pieces stored like chunks. Bases are never deltas themselves.
 *    The writer keeps the object in memory while it tries the delta, and keeps the
 *    delta only when it is clearly smaller than the estimated plain size.
 *  - Nothing is visible before the final write txn, which adds the object header,
 *    bumps the reference counts of its chunks and writes the last chunks. Chunks
 *    written by earlier (intermediate) txns have 0 references until then; gc drops
 *    such orphans only when they are older than an hour, so a writer killed at any
 *    point leaves the store consistent.
 *  - Readers re-check each chunk's XXH3 and the object's SHA-256 at the end; a
 *    mismatch is KB_ECORRUPT, never data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache_internal.h"

#define BATCH_CHUNKS 8                 /* chunks hashed/compressed together */
#define FLUSH_BYTES (32u << 20)        /* write pending chunks past this */
#define PLAIN_LEVEL 3
#define DELTA_LEVEL 3
#define DELTA_MIN_BASE (256u << 10)    /* smaller bases are not worth a delta */
#define DELTA_KEEP_RATIO 0.7           /* keep a delta when <= 0.7 x plain estimate */
#define ORPHAN_GRACE 3600

/* ---------------------------------------------------------------------------- */
/* Two-thread helper                                                             */

struct par {
	void (*fn)(void *arg, size_t i);
	void *arg;
	size_t n;
};

static void *par_worker(void *p)
{
	struct par *par = p;
	for (size_t i = 1; i < par->n; i += 2)
		par->fn(par->arg, i);
	return NULL;
}

/* Run fn(arg, i) for i < n; odd i on a second thread. fn must use per-(i & 1) state. */
static void run2(size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
	struct par par = { fn, arg, n };
	pthread_t th;

	if (n < 2 || pthread_create(&th, NULL, par_worker, &par) != 0) {
		for (size_t i = 0; i < n; i++)
			fn(arg, i);
		return;
	}
	for (size_t i = 0; i < n; i += 2)
		fn(arg, i);
	pthread_join(th, NULL);
}

/* ---------------------------------------------------------------------------- */
/* Chunk encoding                                                                */

/* Build a chunk value (header + payload) from raw bytes; codec zstd or raw. */
static void *chunk_encode(size_t *out_len, ZSTD_CCtx *cctx, void *scratch, size_t scratch_cap,
			  const void *raw, size_t raw_len, int allow_zstd)
{
	struct kb_chunk_hdr h = { KB_CHUNK_MAGIC, KB_CODEC_RAW, { 0 }, (uint32_t)raw_len, 0, 0 };
	const void *payload = raw;
	size_t plen = raw_len;
	uint8_t *val;

	if (allow_zstd) {
		size_t z = ZSTD_compressCCtx(cctx, scratch, scratch_cap, raw, raw_len, PLAIN_LEVEL);
		if (!ZSTD_isError(z) && z < raw_len) {
			h.codec = KB_CODEC_ZSTD;
			payload = scratch;
			plen = z;
		}
	}
	h.payload_len = (uint32_t)plen;
	h.xxh3 = XXH3_64bits(payload, plen);
	val = malloc(sizeof(h) + plen);
	if (!val)
		return NULL;
	memcpy(val, &h, sizeof(h));
	memcpy(val + sizeof(h), payload, plen);
	*out_len = sizeof(h) + plen;
	return val;
}

/* Check a stored chunk value and decode it into out (capacity cap). *n gets the raw
 * length. Returns 0 or KB_ECORRUPT with a message naming the chunk. */
static int chunk_decode(kb_cache *c, const kb_key *cid, const MDB_val *v, ZSTD_DCtx *dctx,
			void *out, size_t cap, size_t *n)
{
	struct kb_chunk_hdr h;
	const uint8_t *payload;
	char s[16];

	if (v->mv_size < sizeof(h))
		goto bad;
	memcpy(&h, v->mv_data, sizeof(h));
	payload = (const uint8_t *)v->mv_data + sizeof(h);
	if (h.magic != KB_CHUNK_MAGIC || h.payload_len != v->mv_size - sizeof(h) ||
	    h.raw_len > cap)
		goto bad;
	if (XXH3_64bits(payload, h.payload_len) != h.xxh3)
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				     "chunk %s in cache '%s' fails its checksum; run 'kbisect "
				     "cache verify' and put the object again",
				     kb_cache__short(s, cid), c->dir);
	if (h.codec == KB_CODEC_RAW) {
		if (h.payload_len != h.raw_len)
			goto bad;
		memcpy(out, payload, h.raw_len);
	} else if (h.codec == KB_CODEC_ZSTD) {
		size_t z = ZSTD_decompressDCtx(dctx, out, cap, payload, h.payload_len);
		if (ZSTD_isError(z) || z != h.raw_len)
			goto bad;
	} else {
		goto bad;
	}
	*n = h.raw_len;
	return 0;
bad:
	return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
			     "chunk %s in cache '%s' is malformed; run 'kbisect cache verify' "
			     "and put the object again", kb_cache__short(s, cid), c->dir);
}

/* ---------------------------------------------------------------------------- */
/* Object headers                                                                */

/* Read and check the header of object id in t; *parts points into the txn's memory. */
static int obj_lookup(kb_cache *c, MDB_txn *t, const kb_key *id, struct kb_obj_hdr *h,
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
	out->last_used = last_used ? last_used : h->created;
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
	rc = obj_lookup(c, t, id, &h, NULL);
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

/* ---------------------------------------------------------------------------- */
/* Writer                                                                        */

struct pending_chunk {
	kb_key id;
	void *val;      /* NULL once written (or when the chunk existed) */
	size_t len;
};

struct item {
	const uint8_t *raw;
	size_t raw_len;
	kb_key id;
	int exists;
	void *val;
	size_t val_len;
	int allow_zstd;
};

struct kb_cache_writer {
	kb_cache *c;
	kb_put_opts opts;
	EVP_MD_CTX *sha;
	uint64_t size;
	int failed;
	/* plain path */
	uint8_t *batch;
	size_t batch_len;
	ZSTD_CCtx *cctx[2];
	uint8_t *scratch[2];
	size_t scratch_cap;
	struct pending_chunk *pend;  /* every part, in order */
	size_t n_pend, cap_pend;
	size_t pend_bytes;           /* bytes of unwritten values */
	uint64_t stored;
	/* delta path (active while delta_on) */
	int delta_on;
	kb_key base;
	void *base_buf;
	size_t base_len;
	ZSTD_CCtx *dcctx;
	uint8_t *raw;                /* the whole object while trying a delta */
	size_t raw_len, raw_cap;
	uint8_t *dout;               /* the delta frame */
	size_t dout_len, dout_cap;
};

static int oom(kb_cache *c)
{
	return kb_error_setc(KB_ERROR, KB_ERRCLASS_OS, "out of memory writing to cache '%s'",
			     c->dir);
}

static int pend_add(kb_cache_writer *w, const kb_key *id, void *val, size_t len)
{
	if (w->n_pend == w->cap_pend) {
		size_t cap = w->cap_pend ? w->cap_pend * 2 : 64;
		void *p = realloc(w->pend, cap * sizeof(*w->pend));
		if (!p)
			return oom(w->c);
		w->pend = p;
		w->cap_pend = cap;
	}
	w->pend[w->n_pend].id = *id;
	w->pend[w->n_pend].val = val;
	w->pend[w->n_pend].len = len;
	w->n_pend++;
	w->pend_bytes += val ? len : 0;
	return 0;
}

/* Store the chunk values still in memory (inside t). New chunks get a "cref" with 0
 * references; the final txn adds the references. */
static int write_chunks_txn(kb_cache *c, MDB_txn *t, kb_cache_writer *w)
{
	for (size_t i = 0; i < w->n_pend; i++) {
		struct pending_chunk *p = &w->pend[i];
		MDB_val k = { 32, p->id.b }, v = { p->len, p->val };
		int rc;

		if (!p->val)
			continue;
		rc = mdb_put(t, c->chunk, &k, &v, MDB_NOOVERWRITE);
		if (rc == MDB_KEYEXIST)
			continue;
		if (rc)
			return kb_cache__mdb(c, rc, "cannot store a chunk");
		{
			struct kb_chunk_ref r = { 0, kb_cache__now() };
			MDB_val rv = { sizeof(r), &r };
			if ((rc = kb_cache__mdb(c, mdb_put(t, c->cref, &k, &rv, 0),
						"cannot store a chunk reference")))
				return rc;
		}
		if ((rc = kb_cache__stat_add_txn(c, t, KB_ST_CHUNKS, 1)) ||
		    (rc = kb_cache__stat_add_txn(c, t, KB_ST_CHUNK_BYTES, (int64_t)p->len)))
			return rc;
	}
	return 0;
}

static void pend_release(kb_cache_writer *w)
{
	for (size_t i = 0; i < w->n_pend; i++) {
		free(w->pend[i].val);
		w->pend[i].val = NULL;
	}
	w->pend_bytes = 0;
}

static int flush_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	return write_chunks_txn(c, t, arg);
}

static int flush_pending_chunks(kb_cache_writer *w)
{
	int rc = kb_cache__write(w->c, flush_fn, w);
	if (!rc)
		pend_release(w);
	return rc;
}

struct batch_ctx {
	kb_cache_writer *w;
	struct item *items;
};

static void batch_item(void *arg, size_t i)
{
	struct batch_ctx *b = arg;
	kb_cache_writer *w = b->w;
	struct item *it = &b->items[i];
	MDB_txn *t;

	kb_sha256(&it->id, it->raw, it->raw_len);
	it->exists = 0;
	if (kb_cache__rtxn(w->c, &t) == 0) {
		MDB_val k = { 32, it->id.b }, v;
		it->exists = mdb_get(t, w->c->chunk, &k, &v) == 0;
		kb_cache__txn_end(w->c, t);
	}
	it->val = NULL;
	if (!it->exists)
		it->val = chunk_encode(&it->val_len, w->cctx[i & 1], w->scratch[i & 1],
				       w->scratch_cap, it->raw, it->raw_len, it->allow_zstd);
}

/* Hash, dedup and compress n pieces of data (each <= KB_CHUNK_SIZE) into parts. */
static int add_parts(kb_cache_writer *w, const uint8_t *data, size_t len, int allow_zstd)
{
	struct item items[BATCH_CHUNKS];
	struct batch_ctx b = { w, items };

	while (len) {
		size_t n = 0;
		int rc = 0;
		for (; n < BATCH_CHUNKS && len; n++) {
			size_t m = len < KB_CHUNK_SIZE ? len : KB_CHUNK_SIZE;
			items[n].raw = data;
			items[n].raw_len = m;
			items[n].allow_zstd = allow_zstd;
			data += m;
			len -= m;
		}
		run2(n, batch_item, &b);
		for (size_t i = 0; i < n; i++) {
			struct item *it = &items[i];
			if (!it->exists && !it->val) {
				rc = oom(w->c);
				continue;
			}
			if (rc) {
				free(it->val);
				continue;
			}
			if (it->exists) {
				MDB_txn *t;
				/* its stored size counts for this object too */
				if (kb_cache__rtxn(w->c, &t) == 0) {
					MDB_val k = { 32, it->id.b }, v;
					if (mdb_get(t, w->c->chunk, &k, &v) == 0)
						w->stored += v.mv_size;
					kb_cache__txn_end(w->c, t);
				}
			} else {
				w->stored += it->val_len;
			}
			rc = pend_add(w, &it->id, it->val, it->val_len);
			if (rc)
				free(it->val);
		}
		if (rc)
			return rc;
		if (w->pend_bytes >= FLUSH_BYTES && (rc = flush_pending_chunks(w)))
			return rc;
	}
	return 0;
}

static int plain_write(kb_cache_writer *w, const uint8_t *data, size_t len)
{
	const size_t cap = (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE;
	int rc;

	while (len) {
		size_t m = cap - w->batch_len;
		if (m > len)
			m = len;
		if (w->batch_len == 0 && len >= cap) {
			/* whole batch straight from the caller's buffer */
			if ((rc = add_parts(w, data, cap, 1)))
				return rc;
			data += cap;
			len -= cap;
			continue;
		}
		memcpy(w->batch + w->batch_len, data, m);
		w->batch_len += m;
		data += m;
		len -= m;
		if (w->batch_len == cap) {
			if ((rc = add_parts(w, w->batch, cap, 1)))
				return rc;
			w->batch_len = 0;
		}
	}
	return 0;
}

static int is_delta_kind(int kind)
{
	return kind == KB_OBJ_VMLINUX || kind == KB_OBJ_VMSTATE;
}

/* Pick and load the base of a delta; 0 with delta_on = 0 when there is none. */
static int delta_setup(kb_cache_writer *w)
{
	kb_cache *c = w->c;
	kb_key base;
	int have = 0, rc;

	if (w->opts.no_delta)
		return 0;
	if (w->opts.delta_base) {
		base = *w->opts.delta_base;
		have = 1;
	} else if (is_delta_kind(w->opts.kind)) {
		char name[32];
		MDB_txn *t;
		MDB_val k, v;
		snprintf(name, sizeof(name), "base:%s", kb_object_kind_name(w->opts.kind));
		k.mv_size = strlen(name);
		k.mv_data = name;
		if ((rc = kb_cache__rtxn(c, &t)))
			return rc;
		if (mdb_get(t, c->meta, &k, &v) == 0 && v.mv_size == 32) {
			memcpy(base.b, v.mv_data, 32);
			have = 1;
		}
		kb_cache__txn_end(c, t);
	}
	if (!have)
		return 0;
	{
		kb_object_info info;
		if (kb_cache_object_info(&info, c, &base) != 0)
			return 0; /* base gone: store plain */
		if (info.is_delta)
			base = info.delta_base;
		if (info.size < DELTA_MIN_BASE || info.size > ((size_t)1 << 31))
			return 0;
	}
	if (kb_cache__load(&w->base_buf, &w->base_len, c, &base) != 0) {
		kb_error_clear();
		return 0; /* unreadable base: store plain */
	}
	w->base = base;
	w->dcctx = ZSTD_createCCtx();
	if (!w->dcctx)
		return oom(c);
	w->delta_on = 1;
	return 0;
}

/* Compress the buffered object against the base; 0 on success (frame in dout). */
static int delta_compress(kb_cache_writer *w)
{
	unsigned wlog = 27;
	size_t need = w->base_len + w->raw_len, r;

	while (wlog < 31 && ((size_t)1 << wlog) < need)
		wlog++;
	ZSTD_CCtx_reset(w->dcctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(w->dcctx, ZSTD_c_compressionLevel, DELTA_LEVEL);
	ZSTD_CCtx_setParameter(w->dcctx, ZSTD_c_windowLog, (int)wlog);
	ZSTD_CCtx_setParameter(w->dcctx, ZSTD_c_enableLongDistanceMatching, 1);
	ZSTD_CCtx_setParameter(w->dcctx, ZSTD_c_checksumFlag, 0);
	ZSTD_CCtx_setParameter(w->dcctx, ZSTD_c_nbWorkers, 2);
	ZSTD_CCtx_setPledgedSrcSize(w->dcctx, w->raw_len);
	if (ZSTD_isError(ZSTD_CCtx_refPrefix(w->dcctx, w->base_buf, w->base_len)))
		return -1;
	w->dout_cap = ZSTD_compressBound(w->raw_len);
	w->dout = malloc(w->dout_cap);
	if (!w->dout)
		return -1;
	r = ZSTD_compress2(w->dcctx, w->dout, w->dout_cap, w->raw, w->raw_len);
	if (ZSTD_isError(r))
		return -1;
	w->dout_len = r;
	return 0;
}

/* Estimated stored size of the buffered object as plain chunks (every 8th chunk). */
static uint64_t plain_estimate(kb_cache_writer *w)
{
	uint64_t sample_raw = 0, sample_z = 0;
	size_t nchunks = (w->raw_len + KB_CHUNK_SIZE - 1) / KB_CHUNK_SIZE;

	for (size_t i = 0; i < nchunks; i += 8) {
		size_t off = i * KB_CHUNK_SIZE, m = w->raw_len - off;
		size_t z;
		if (m > KB_CHUNK_SIZE)
			m = KB_CHUNK_SIZE;
		z = ZSTD_compressCCtx(w->cctx[0], w->scratch[0], w->scratch_cap, w->raw + off, m,
				      PLAIN_LEVEL);
		sample_raw += m;
		sample_z += ZSTD_isError(z) ? m : z;
	}
	if (!sample_raw)
		return 0;
	return (uint64_t)((double)w->raw_len * (double)sample_z / (double)sample_raw);
}

int kb_cache_writer_open(kb_cache_writer **out, kb_cache *c, const kb_put_opts *opts)
{
	kb_cache_writer *w;
	int rc;

	*out = NULL;
	if (c->flags & KB_CACHE_RDONLY)
		return kb_error_setc(KB_EREADONLY, KB_ERRCLASS_CACHE,
				     "cannot put into cache '%s': opened read-only", c->dir);
	if (opts && (opts->kind < 0 || opts->kind >= KB_OBJ_KIND_MAX))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE,
				     "bad object kind %d; use a kb_object_kind", opts->kind);
	w = calloc(1, sizeof(*w));
	if (!w)
		return oom(c);
	w->c = c;
	if (opts)
		w->opts = *opts;
	w->opts.delta_base = NULL;
	w->scratch_cap = ZSTD_compressBound(KB_CHUNK_SIZE);
	w->sha = EVP_MD_CTX_new();
	w->batch = malloc((size_t)BATCH_CHUNKS * KB_CHUNK_SIZE);
	for (int i = 0; i < 2; i++) {
		w->cctx[i] = ZSTD_createCCtx();
		w->scratch[i] = malloc(w->scratch_cap);
	}
	if (!w->sha || !w->batch || !w->cctx[0] || !w->cctx[1] || !w->scratch[0] ||
	    !w->scratch[1] || EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL) != 1) {
		kb_cache_writer_abort(w);
		return oom(c);
	}
	if (opts && opts->delta_base) {
		w->opts.delta_base = &w->base;
		w->base = *opts->delta_base;
	}
	if ((rc = delta_setup(w))) {
		kb_cache_writer_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

/* Stop trying a delta: push the buffered bytes through the plain path. */
static int delta_give_up(kb_cache_writer *w)
{
	uint8_t *raw = w->raw;
	size_t len = w->raw_len;
	int rc;

	w->delta_on = 0;
	w->raw = NULL;
	w->raw_len = w->raw_cap = 0;
	rc = plain_write(w, raw, len);
	free(raw);
	return rc;
}

int kb_cache_writer_write(kb_cache_writer *w, const void *data, size_t len)
{
	int rc;

	if (w->failed)
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE,
				     "write to a failed cache writer; abort it and start again");
	if (!len)
		return 0;
	EVP_DigestUpdate(w->sha, data, len);
	w->size += len;
	if (w->delta_on) {
		size_t limit = 2 * w->base_len + (64u << 20);
		if (w->raw_len + len > limit) {
			if ((rc = delta_give_up(w)) || (rc = plain_write(w, data, len)))
				w->failed = 1;
			return rc;
		}
		if (w->raw_len + len > w->raw_cap) {
			size_t cap = w->raw_cap ? w->raw_cap : w->base_len + (1u << 20);
			void *p;
			while (cap < w->raw_len + len)
				cap *= 2;
			if (!(p = realloc(w->raw, cap))) {
				w->failed = 1;
				return oom(w->c);
			}
			w->raw = p;
			w->raw_cap = cap;
		}
		memcpy(w->raw + w->raw_len, data, len);
		w->raw_len += len;
		return 0;
	}
	if ((rc = plain_write(w, data, len)))
		w->failed = 1;
	return rc;
}

struct commit_ctx {
	kb_cache_writer *w;
	kb_key id;
	int existed;
};

static int commit_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct commit_ctx *cc = arg;
	kb_cache_writer *w = cc->w;
	MDB_val k = { 32, cc->id.b }, v;
	struct kb_obj_hdr h;
	uint8_t *val;
	size_t vlen;
	int64_t now = kb_cache__now();
	int rc;

	cc->existed = 0;
	if (mdb_get(t, c->obj, &k, &v) == 0) {
		cc->existed = 1;
		/* already stored: only its last use changes */
		v.mv_size = sizeof(now);
		v.mv_data = &now;
		return kb_cache__mdb(c, mdb_put(t, c->atime, &k, &v, 0), "cannot record use");
	}
	if ((rc = write_chunks_txn(c, t, w)))
		return rc;
	for (size_t i = 0; i < w->n_pend; i++) {
		MDB_val ck = { 32, w->pend[i].id.b }, cv;
		struct kb_chunk_ref r;
		if (mdb_get(t, c->cref, &ck, &cv) != 0 || cv.mv_size != sizeof(r)) {
			char s[16];
			return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE,
					     "chunk %s vanished from cache '%s' during the put "
					     "(a concurrent gc?); put the object again",
					     kb_cache__short(s, &w->pend[i].id), c->dir);
		}
		memcpy(&r, cv.mv_data, sizeof(r));
		r.refs++;
		cv.mv_size = sizeof(r);
		cv.mv_data = &r;
		if ((rc = kb_cache__mdb(c, mdb_put(t, c->cref, &ck, &cv, 0),
					"cannot update a chunk reference")))
			return rc;
	}
	memset(&h, 0, sizeof(h));
	h.magic = KB_OBJ_MAGIC;
	h.kind = (uint8_t)w->opts.kind;
	h.flags = (w->opts.pin ? KB_OBJF_PINNED : 0) | (w->delta_on ? KB_OBJF_DELTA : 0);
	h.nparts = (uint32_t)w->n_pend;
	h.size = w->size;
	h.stored = w->stored;
	h.created = now;
	if (w->delta_on)
		memcpy(h.base, w->base.b, 32);
	vlen = sizeof(h) + w->n_pend * 32;
	if (!(val = malloc(vlen)))
		return oom(c);
	memcpy(val, &h, sizeof(h));
	for (size_t i = 0; i < w->n_pend; i++)
		memcpy(val + sizeof(h) + i * 32, w->pend[i].id.b, 32);
	v.mv_size = vlen;
	v.mv_data = val;
	rc = mdb_put(t, c->obj, &k, &v, 0);
	free(val);
	if ((rc = kb_cache__mdb(c, rc, "cannot store the object header")))
		return rc;
	v.mv_size = sizeof(now);
	v.mv_data = &now;
	if ((rc = kb_cache__mdb(c, mdb_put(t, c->atime, &k, &v, 0), "cannot record use")))
		return rc;
	if (w->delta_on) {
		uint8_t dk[64];
		MDB_val dkv = { 64, dk }, e = { 0, "" };
		memcpy(dk, w->base.b, 32);
		memcpy(dk + 32, cc->id.b, 32);
		if ((rc = kb_cache__mdb(c, mdb_put(t, c->dep, &dkv, &e, 0),
					"cannot record a delta base")))
			return rc;
	} else if (is_delta_kind(w->opts.kind) && w->size >= DELTA_MIN_BASE) {
		char name[32];
		MDB_val mk, mv = { 32, cc->id.b };
		snprintf(name, sizeof(name), "base:%s", kb_object_kind_name(w->opts.kind));
		mk.mv_size = strlen(name);
		mk.mv_data = name;
		if ((rc = kb_cache__mdb(c, mdb_put(t, c->meta, &mk, &mv, 0),
					"cannot record a delta base")))
			return rc;
	}
	return 0;
}

int kb_cache_writer_commit(kb_key *out_id, kb_cache_writer *w, const kb_key *expect)
{
	kb_cache *c = w->c;
	struct commit_ctx cc = { w, { { 0 } }, 0 };
	unsigned int n = 0;
	uint64_t limit;
	int rc = 0;

	if (w->failed) {
		kb_cache_writer_abort(w);
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE,
				     "commit of a failed cache writer; put the object again");
	}
	EVP_DigestFinal_ex(w->sha, cc.id.b, &n);
	if (expect && !kb_key_equal(expect, &cc.id)) {
		char a[KB_KEY_HEXLEN + 1], b[KB_KEY_HEXLEN + 1];
		kb_key_to_hex(a, expect);
		kb_key_to_hex(b, &cc.id);
		kb_cache_writer_abort(w);
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				     "upload should have SHA-256 %s but has %s; nothing stored, "
				     "send it again", a, b);
	}
	if (kb_cache_has(c, &cc.id)) {
		/* dedup of a whole object: nothing to compress */
		w->delta_on = 0;
		pend_release(w);
		w->n_pend = 0;
	} else if (w->delta_on) {
		uint64_t est = plain_estimate(w);
		if (delta_compress(w) == 0 && (double)w->dout_len <= DELTA_KEEP_RATIO * (double)est) {
			for (size_t off = 0; off < w->dout_len && !rc; off += KB_CHUNK_SIZE) {
				size_t m = w->dout_len - off;
				rc = add_parts(w, w->dout + off, m < KB_CHUNK_SIZE ? m : KB_CHUNK_SIZE, 0);
			}
		} else {
			rc = delta_give_up(w);
		}
	}
	if (!rc && !w->delta_on && w->batch_len) {
		rc = add_parts(w, w->batch, w->batch_len, 1);
		w->batch_len = 0;
	}
	limit = 0;
	if (!rc) {
		MDB_txn *t;
		if (kb_cache__rtxn(c, &t) == 0) {
			limit = kb_cache__meta_u64(c, t, "limit");
			kb_cache__txn_end(c, t);
		}
		if (limit && w->stored > limit)
			rc = kb_error_setc(KB_EFULL, KB_ERRCLASS_CACHE,
					   "object of %llu stored bytes is larger than the limit of "
					   "cache '%s' (%llu); raise it with 'kbisect cache gc "
					   "--max-size'", (unsigned long long)w->stored, c->dir,
					   (unsigned long long)limit);
	}
	if (!rc)
		rc = kb_cache__write(c, commit_fn, &cc);
	if (!rc && out_id)
		*out_id = cc.id;
	kb_cache_writer_abort(w);
	if (!rc && limit) {
		MDB_txn *t;
		uint64_t used = 0;
		if (kb_cache__rtxn(c, &t) == 0) {
			used = kb_cache__stat_get(c, t, KB_ST_CHUNK_BYTES);
			kb_cache__txn_end(c, t);
		}
		if (used > limit)
			rc = kb_cache__gc_to(c, limit - limit / 10, NULL);
	}
	return rc;
}

void kb_cache_writer_abort(kb_cache_writer *w)
{
	if (!w)
		return;
	pend_release(w);
	free(w->pend);
	EVP_MD_CTX_free(w->sha);
	free(w->batch);
	for (int i = 0; i < 2; i++) {
		ZSTD_freeCCtx(w->cctx[i]);
		free(w->scratch[i]);
	}
	ZSTD_freeCCtx(w->dcctx);
	free(w->base_buf);
	free(w->raw);
	free(w->dout);
	free(w);
}

int kb_cache_put_fd(kb_key *out_id, kb_cache *c, int fd, const kb_put_opts *opts)
{
	kb_cache_writer *w;
	size_t cap = (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE;
	uint8_t *buf;
	int rc;

	if ((rc = kb_cache_writer_open(&w, c, opts)))
		return rc;
	if (!(buf = malloc(cap))) {
		kb_cache_writer_abort(w);
		return oom(c);
	}
	for (;;) {
		size_t have = 0;
		ssize_t r = 0;
		/* fill a whole batch so that it goes to the writer without a copy */
		while (have < cap && (r = read(fd, buf + have, cap - have)) > 0)
			have += (size_t)r;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = kb_error_os("cannot read the data to put into cache '%s'", c->dir);
			break;
		}
		if (have && (rc = kb_cache_writer_write(w, buf, have)))
			break;
		if (r == 0)
			break;
	}
	free(buf);
	if (rc) {
		kb_cache_writer_abort(w);
		return rc;
	}
	return kb_cache_writer_commit(out_id, w, NULL);
}

int kb_cache_put_file(kb_key *out_id, kb_cache *c, const char *path, const kb_put_opts *opts)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc;

	if (fd < 0)
		return kb_error_os("cannot open '%s' to put it into the cache", path);
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE,
				     "'%s' is a directory; put files one by one", path);
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = kb_cache_put_fd(out_id, c, fd, opts);
	close(fd);
	if (rc && kb_error_last()->klass == KB_ERRCLASS_OS)
		kb_error_prefix("while putting '%s'", path);
	return rc;
}

int kb_cache_put_buf(kb_key *out_id, kb_cache *c, const void *data, size_t len,
		     const kb_put_opts *opts)
{
	kb_cache_writer *w;
	int rc;

	if ((rc = kb_cache_writer_open(&w, c, opts)))
		return rc;
	if ((rc = kb_cache_writer_write(w, data, len))) {
		kb_cache_writer_abort(w);
		return rc;
	}
	return kb_cache_writer_commit(out_id, w, NULL);
}

/* ---------------------------------------------------------------------------- */
/* Reader                                                                        */

struct kb_cache_reader {
	kb_cache *c;
	kb_key id;
	struct kb_obj_hdr h;
	kb_key *parts;
	uint32_t next;
	ZSTD_DCtx *dctx;
	EVP_MD_CTX *sha;
	uint8_t *buf;         /* current chunk, or the whole delta object */
	size_t buf_len, buf_off;
	uint64_t done;
	int state;            /* 0 reading, 1 verified end, < 0 error code */
};

/* Fetch part i into dst (capacity cap). */
static int read_part(kb_cache_reader *r, uint32_t i, void *dst, size_t cap, size_t *n)
{
	MDB_txn *t;
	MDB_val k = { 32, r->parts[i].b }, v;
	int rc;

	if ((rc = kb_cache__rtxn(r->c, &t)))
		return rc;
	rc = mdb_get(t, r->c->chunk, &k, &v);
	if (rc == 0)
		rc = chunk_decode(r->c, &r->parts[i], &v, r->dctx, dst, cap, n);
	else if (rc == MDB_NOTFOUND) {
		char s[16], o[16];
		rc = kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				   "object %s in cache '%s' lost its chunk %s; run 'kbisect cache "
				   "verify' and put the object again", kb_cache__short(o, &r->id),
				   r->c->dir, kb_cache__short(s, &r->parts[i]));
	} else
		rc = kb_cache__mdb(r->c, rc, "cannot read a chunk");
	kb_cache__txn_end(r->c, t);
	return rc;
}

static int kb_cache__load_internal(void **out, size_t *len, kb_cache *c, const kb_key *id,
				   int count);

/* Rebuild a delta object whole into r->buf. */
static int read_delta(kb_cache_reader *r)
{
	kb_key base;
	void *bbuf = NULL, *frame = NULL;
	size_t blen = 0, flen = 0, fcap = (size_t)r->h.nparts * KB_CHUNK_SIZE;
	char s[16];
	int rc;

	memcpy(base.b, r->h.base, 32);
	if ((rc = kb_cache__load_internal(&bbuf, &blen, r->c, &base, 0))) {
		kb_error_prefix("delta base of object %s", kb_cache__short(s, &r->id));
		return rc == KB_ENOTFOUND ? KB_ECORRUPT : rc;
	}
	if (!(frame = malloc(fcap ? fcap : 1)) || !(r->buf = malloc(r->h.size ? r->h.size : 1))) {
		free(bbuf);
		free(frame);
		return oom(r->c);
	}
	for (uint32_t i = 0; i < r->h.nparts; i++) {
		size_t n;
		if ((rc = read_part(r, i, (uint8_t *)frame + flen, fcap - flen, &n))) {
			free(bbuf);
			free(frame);
			return rc;
		}
		flen += n;
	}
	ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_and_parameters);
	ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, 31);
	rc = 0;
	if (ZSTD_isError(ZSTD_DCtx_refPrefix(r->dctx, bbuf, blen))) {
		rc = -1;
	} else {
		ZSTD_inBuffer in = { frame, flen, 0 };
		ZSTD_outBuffer out = { r->buf, r->h.size, 0 };
		size_t z = ZSTD_decompressStream(r->dctx, &out, &in);
		if (ZSTD_isError(z) || z != 0 || out.pos != r->h.size)
			rc = -1;
	}
	free(bbuf);
	free(frame);
	ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_and_parameters);
	if (rc)
		return kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				     "delta object %s in cache '%s' does not decode; run 'kbisect "
				     "cache verify' and put the object again",
				     kb_cache__short(s, &r->id), r->c->dir);
	r->buf_len = r->h.size;
	r->buf_off = 0;
	r->next = r->h.nparts;
	return 0;
}

/* count: 1 for users' reads (hit/miss, last use), 0 for internal ones (delta bases). */
int kb_cache__reader_open(kb_cache_reader **out, uint64_t *size, kb_cache *c, const kb_key *id,
		       int count)
{
	kb_cache_reader *r;
	const uint8_t *parts;
	MDB_txn *t;
	int rc;

	*out = NULL;
	if (!(r = calloc(1, sizeof(*r))))
		return oom(c);
	r->c = c;
	r->id = *id;
	if ((rc = kb_cache__rtxn(c, &t))) {
		free(r);
		return rc;
	}
	rc = obj_lookup(c, t, id, &r->h, &parts);
	if (!rc) {
		r->parts = malloc((size_t)r->h.nparts * 32 + 1);
		if (r->parts)
			memcpy(r->parts, parts, (size_t)r->h.nparts * 32);
	}
	kb_cache__txn_end(c, t);
	if (rc) {
		if (rc == KB_ENOTFOUND && count)
			kb_cache__stat_add(c, KB_ST_MISS0 + KB_OBJ_BLOB, 1);
		free(r);
		return rc;
	}
	r->dctx = ZSTD_createDCtx();
	r->sha = EVP_MD_CTX_new();
	if (!r->parts || !r->dctx || !r->sha ||
	    EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL) != 1) {
		kb_cache_reader_free(r);
		return oom(c);
	}
	if (r->h.flags & KB_OBJF_DELTA) {
		if ((rc = read_delta(r))) {
			kb_cache_reader_free(r);
			return rc;
		}
	} else if (!(r->buf = malloc(KB_CHUNK_SIZE))) {
		kb_cache_reader_free(r);
		return oom(c);
	}
	if (count) {
		kb_cache__stat_add(c, KB_ST_HIT0 + r->h.kind, 1);
		kb_cache__touch(c, id);
	}
	if (size)
		*size = r->h.size;
	*out = r;
	return 0;
}

int kb_cache_reader_open(kb_cache_reader **out, uint64_t *size, kb_cache *c, const kb_key *id)
{
	return kb_cache__reader_open(out, size, c, id, 1);
}

static ssize_t reader_finish(kb_cache_reader *r)
{
	kb_key got;
	unsigned int n = 0;
	char s[16];

	EVP_DigestFinal_ex(r->sha, got.b, &n);
	if (r->done != r->h.size || !kb_key_equal(&got, &r->id)) {
		r->state = kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
					 "object %s in cache '%s' does not match its SHA-256; "
					 "run 'kbisect cache verify' and put it again",
					 kb_cache__short(s, &r->id), r->c->dir);
		return r->state;
	}
	r->state = 1;
	return 0;
}

ssize_t kb_cache_reader_read(kb_cache_reader *r, void *buf, size_t len)
{
	size_t got = 0;
	int rc;

	if (r->state < 0)
		return r->state;
	if (r->state == 1)
		return 0;
	while (got < len) {
		size_t m;
		if (r->buf_off == r->buf_len) {
			size_t n;
			if (r->next >= r->h.nparts)
				break;
			/* decode straight into the caller's buffer when a chunk fits */
			if (len - got >= KB_CHUNK_SIZE) {
				if ((rc = read_part(r, r->next, (uint8_t *)buf + got, KB_CHUNK_SIZE, &n)))
					return r->state = rc;
				r->next++;
				EVP_DigestUpdate(r->sha, (uint8_t *)buf + got, n);
				r->done += n;
				got += n;
				continue;
			}
			if ((rc = read_part(r, r->next, r->buf, KB_CHUNK_SIZE, &n)))
				return r->state = rc;
			r->next++;
			r->buf_len = n;
			r->buf_off = 0;
			continue;
		}
		m = r->buf_len - r->buf_off;
		if (m > len - got)
			m = len - got;
		memcpy((uint8_t *)buf + got, r->buf + r->buf_off, m);
		EVP_DigestUpdate(r->sha, r->buf + r->buf_off, m);
		r->buf_off += m;
		r->done += m;
		got += m;
	}
	if (got)
		return (ssize_t)got;
	return reader_finish(r);
}

void kb_cache_reader_free(kb_cache_reader *r)
{
	if (!r)
		return;
	ZSTD_freeDCtx(r->dctx);
	EVP_MD_CTX_free(r->sha);
	free(r->parts);
	free(r->buf);
	free(r);
}

static int kb_cache__load_internal(void **out, size_t *len, kb_cache *c, const kb_key *id,
				   int count)
{
	kb_cache_reader *r;
	uint64_t size;
	uint8_t *buf;
	size_t off = 0;
	ssize_t n;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = kb_cache__reader_open(&r, &size, c, id, count)))
		return rc;
	if (size > SIZE_MAX - 1 || !(buf = malloc((size_t)size + 1))) {
		kb_cache_reader_free(r);
		return oom(c);
	}
	n = 0;
	while (off < size && (n = kb_cache_reader_read(r, buf + off, (size_t)size - off)) > 0)
		off += (size_t)n;
	rc = n < 0 ? (int)n : 0;
	if (!rc) {
		/* at the end, a read returns 0 only after the SHA-256 matched */
		char one;
		n = kb_cache_reader_read(r, &one, 1);
		if (n > 0 || off != size)
			rc = kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
					   "object has another length than recorded in cache '%s'; "
					   "run 'kbisect cache verify'", c->dir);
		else
			rc = (int)n;
	}
	kb_cache_reader_free(r);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[size] = '\0';
	*out = buf;
	*len = (size_t)size;
	return 0;
}

int kb_cache__load(void **out, size_t *len, kb_cache *c, const kb_key *id)
{
	return kb_cache__load_internal(out, len, c, id, 0);
}

int kb_cache_get_buf(void **out, size_t *len, kb_cache *c, const kb_key *id)
{
	return kb_cache__load_internal(out, len, c, id, 1);
}

int kb_cache_get_file(kb_cache *c, const kb_key *id, const char *path)
{
	kb_cache_reader *r;
	char *tmp;
	uint8_t *buf;
	size_t cap = 4u * KB_CHUNK_SIZE;
	ssize_t n;
	int fd, rc = 0;

	if ((rc = kb_cache_reader_open(&r, NULL, c, id)))
		return rc;
	if (asprintf(&tmp, "%s.kbtmp.XXXXXX", path) < 0 || !(buf = malloc(cap))) {
		kb_cache_reader_free(r);
		return oom(c);
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = kb_error_os("cannot create '%s'", path);
		goto out;
	}
	while ((n = kb_cache_reader_read(r, buf, cap)) > 0) {
		size_t off = 0;
		while (off < (size_t)n) {
			ssize_t m = write(fd, buf + off, (size_t)n - off);
			if (m < 0 && errno == EINTR)
				continue;
			if (m < 0) {
				rc = kb_error_os("cannot write '%s'", path);
				goto out;
			}
			off += (size_t)m;
		}
	}
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	if (fchmod(fd, 0644) != 0 || close(fd) != 0) {
		fd = -1;
		rc = kb_error_os("cannot write '%s'", path);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		rc = kb_error_os("cannot rename '%s' to '%s'", tmp, path);
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(buf);
	kb_cache_reader_free(r);
	return rc;
}

/* ---------------------------------------------------------------------------- */
/* Pins and references                                                           */

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

	if ((rc = obj_lookup(c, t, p->id, &h, NULL)))
		return rc;
	if ((rc = mdb_get(t, c->obj, &k, &v)))
		return kb_cache__mdb(c, rc, "cannot read an object header");
	if (!(copy = malloc(v.mv_size)))
		return oom(c);
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
	if (ns < 0 || ns > 255)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_CACHE, "bad reference namespace %d", ns);
	return kb_cache__write(c, ref_fn, &r);
}

int kb_cache_ref_get(kb_key *out_id, kb_cache *c, int ns, const kb_key *key)
{
	uint8_t kb[33];
	MDB_val k = { 33, kb }, v, ok, ov;
	MDB_txn *t;
	char s[16];
	int rc;

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
