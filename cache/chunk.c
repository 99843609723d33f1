/*
 * cache/chunk.c - chunk values: encoding (zstd, zstd with a window of a delta base as
 * prefix, or raw), checking and decoding, and the release of a chunk's reference.
 * Owns: the "chunk" and "cref" tables' values (struct kb_chunk_hdr, kb_chunk_ext,
 * kb_chunk_ref), the stats "chunks" and "chunk_bytes" when a chunk goes.
 * Not: which chunks an object has (object.c), writing new chunks (object_write.c).
 * DESIGN: a chunk value is a header (codec, raw length, payload length, XXH3-64 of
 * the payload) and the payload; any mismatch on read is KB_ECORRUPT, never data.
 */
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#include "object_internal.h"

#define PLAIN_LEVEL 3
#define DELTA_LEVEL 3

/* Build a chunk value (header + payload) from raw bytes: zstd, or zstd with a prefix
 * of the base when prefix is not NULL, or raw when compression does not help. The
 * value's memory comes from alloc(actx, len). */
void *kb_cache__chunk_encode(size_t *out_len, ZSTD_CCtx *cctx, uint8_t *scratch,
			     size_t scratch_cap, const void *raw, size_t raw_len,
			     const uint8_t *base, uint64_t poff, uint32_t plen,
			     void *(*alloc)(void *actx, size_t len), void *actx)
{
	struct kb_chunk_hdr h = { KB_CHUNK_MAGIC, KB_CODEC_RAW, { 0 }, (uint32_t)raw_len, 0, 0 };
	const void *payload = raw;
	size_t plen_out = raw_len, z;
	uint8_t *val;

	if (base) {
		struct kb_chunk_ext ext = { poff, plen, 0 };
		int wlog = 10;
		while (((size_t)1 << wlog) < (size_t)plen + raw_len)
			wlog++;
		ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, DELTA_LEVEL);
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, wlog);
		ZSTD_CCtx_refPrefix(cctx, base + poff, plen);
		memcpy(scratch, &ext, sizeof(ext));
		z = ZSTD_compress2(cctx, scratch + sizeof(ext), scratch_cap - sizeof(ext), raw, raw_len);
		if (ZSTD_isError(z))
			return NULL;
		h.codec = KB_CODEC_ZSTD_PREFIX;
		payload = scratch;
		plen_out = sizeof(ext) + z;
	} else {
		z = ZSTD_compressCCtx(cctx, scratch, scratch_cap, raw, raw_len, PLAIN_LEVEL);
		if (!ZSTD_isError(z) && z < raw_len) {
			h.codec = KB_CODEC_ZSTD;
			payload = scratch;
			plen_out = z;
		}
	}
	h.payload_len = (uint32_t)plen_out;
	h.xxh3 = XXH3_64bits(payload, plen_out);
	val = alloc(actx, sizeof(h) + plen_out);
	if (!val)
		return NULL;
	memcpy(val, &h, sizeof(h));
	memcpy(val + sizeof(h), payload, plen_out);
	*out_len = sizeof(h) + plen_out;
	return val;
}

/* Check a stored chunk value and decode it into out (capacity cap). *n gets the raw
 * length. base (base_len bytes) is needed for KB_CODEC_ZSTD_PREFIX chunks.
 * Returns 0 or KB_ECORRUPT with a message naming the chunk. */
int kb_cache__chunk_decode(kb_cache *c, const kb_key *cid, const MDB_val *v, ZSTD_DCtx *dctx,
			   const uint8_t *base, size_t base_len, void *out, size_t cap,
			   size_t *n)
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
	} else if (h.codec == KB_CODEC_ZSTD_PREFIX) {
		struct kb_chunk_ext ext;
		size_t z;
		if (h.payload_len < sizeof(ext))
			goto bad;
		memcpy(&ext, payload, sizeof(ext));
		if (!base || ext.prefix_off > base_len || ext.prefix_len > base_len - ext.prefix_off)
			goto bad;
		ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
		ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 27);
		if (ZSTD_isError(ZSTD_DCtx_refPrefix(dctx, base + ext.prefix_off, ext.prefix_len)))
			goto bad;
		z = ZSTD_decompressDCtx(dctx, out, cap, payload + sizeof(ext),
					h.payload_len - sizeof(ext));
		ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
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

int kb_cache__chunk_check(const void *val, size_t len, const uint8_t *base, size_t base_len,
			  void *out, size_t cap, size_t *n)
{
	static kb_cache fake = { .dir = "(fuzz)" };
	ZSTD_DCtx *d = ZSTD_createDCtx();
	MDB_val v = { len, (void *)val };
	kb_key id;
	int rc;

	if (!d)
		return KB_ERROR;
	memset(&id, 0, sizeof(id));
	rc = kb_cache__chunk_decode(&fake, &id, &v, d, base, base_len, out, cap, n);
	ZSTD_freeDCtx(d);
	return rc;
}

/* Does chunk id exist? Its stored size goes to *stored. */
int kb_cache__chunk_lookup(kb_cache *c, const kb_key *id, uint64_t *stored)
{
	MDB_txn *t;
	MDB_val k = { 32, (void *)id->b }, v;
	int found = 0;

	if (kb_cache__rtxn(c, &t) == 0) {
		if (mdb_get(t, c->chunk, &k, &v) == 0) {
			found = 1;
			*stored = v.mv_size;
		}
		kb_cache__txn_end(c, t);
	}
	return found;
}

int kb_cache__release_chunk(kb_cache *c, MDB_txn *t, const uint8_t *cid, int force_delete)
{
	MDB_val k = { 32, (void *)cid }, v;
	struct kb_chunk_ref r = { 0, 0 };
	int rc;

	if (mdb_get(t, c->cref, &k, &v) == 0 && v.mv_size == sizeof(r))
		memcpy(&r, v.mv_data, sizeof(r));
	if (!force_delete && r.refs > 1) {
		r.refs--;
		v.mv_size = sizeof(r);
		v.mv_data = &r;
		return kb_cache__mdb(c, mdb_put(t, c->cref, &k, &v, 0), "cannot release a chunk");
	}
	if (mdb_get(t, c->chunk, &k, &v) == 0) {
		size_t len = v.mv_size;
		rc = mdb_del(t, c->chunk, &k, NULL);
		if (rc)
			return kb_cache__mdb(c, rc, "cannot delete a chunk");
		if ((rc = kb_cache__stat_add_txn(c, t, KB_ST_CHUNKS, -1)) ||
		    (rc = kb_cache__stat_add_txn(c, t, KB_ST_CHUNK_BYTES, -(int64_t)len)))
			return rc;
	}
	rc = mdb_del(t, c->cref, &k, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return kb_cache__mdb(c, rc, "cannot delete a chunk reference");
	return 0;
}
