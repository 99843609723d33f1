/*
 * cache/object_read.c - reading objects: the streaming reader, whole loads, and
 * get_file's pipeline that decodes, hashes and writes on two threads.
 * Owns: kb_cache_reader_open/read/free, kb_cache_get_buf, kb_cache_get_file,
 * kb_cache__load and kb_cache__load_base, hit/miss counts of objects.
 * Not: chunk values (chunk.c), base files (basefile.c), writing (object_write.c).
 * DESIGN: readers re-check each chunk's XXH3 and the object's SHA-256 at the end; a
 * mismatch is KB_ECORRUPT, never data. (A delta base is decoded with chunk checks
 * only: a wrong base cannot pass the SHA-256 of the object built from it.) A read that
 * fails after using a base file removes the file and reads again without it.
 * The streaming reader (kb_cache_reader_open) skips the SHA-256 of a plain object
 * that a reader of this process has already checked whole, as long as the object's
 * record (header with its creation time, and chunk list) is byte for byte the
 * same: its chunks' XXH3 are still checked and decoding them is deterministic, so
 * a flipped stored byte is still caught; a re-put or changed record is checked
 * again. Delta objects are always checked (their base file lives outside LMDB).
 * `cache verify` and recover never skip it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "object_internal.h"

#define GET_RING 8                     /* get_file: chunks in flight */

struct kb_cache_reader {
	kb_cache *c;
	kb_key id;
	uint64_t stamp;         /* XXH3 of the object's record (verified_*) */
	struct kb_obj_hdr h;
	kb_key *parts;
	uint32_t next;          /* next part to decode */
	ZSTD_DCtx *dctx[2];
	EVP_MD_CTX *sha;        /* NULL: no SHA-256 check (delta bases) */
	uint8_t *base;          /* delta base, whole */
	size_t base_len;
	int base_mapped;        /* base is the mapped base file (munmap, not free) */
	uint8_t *bbuf;          /* decoded batch */
	size_t slot_len[BATCH_CHUNKS];
	int slot_rc[BATCH_CHUNKS];
	uint8_t *slot_dst[BATCH_CHUNKS];
	size_t nslots, cur, cur_off;
	uint64_t done;
	int state;              /* 0 reading, 1 verified end, < 0 error code */
	struct crew crew;
};

/* Fetch and decode part number part into dst (room for KB_CHUNK_SIZE) with the
 * decompression context of thread slot; *len gets its length. 0 or an error code
 * (message set in the calling thread). */
static int decode_part(kb_cache_reader *r, uint32_t part, uint8_t *dst, int slot, size_t *len)
{
	MDB_txn *t;
	MDB_val k = { 32, r->parts[part].b }, v;
	int rc;

	*len = 0;
	if ((rc = kb_cache__rtxn(r->c, &t)))
		return rc;
	rc = mdb_get(t, r->c->chunk, &k, &v);
	if (rc == 0)
		rc = kb_cache__chunk_decode(r->c, &r->parts[part], &v, r->dctx[slot], r->base,
					    r->base_len, dst, KB_CHUNK_SIZE, len);
	else if (rc == MDB_NOTFOUND) {
		char s[16], o[16];
		MDB_val ok = { 32, r->id.b }, ov;
		if (mdb_get(t, r->c->obj, &ok, &ov) != 0)
			/* evicted by a concurrent gc while we read: not damage */
			rc = kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
					   "object %s was evicted from cache '%s' while being read; "
					   "put it again (or pin it, or raise the limit)",
					   kb_cache__short(o, &r->id), r->c->dir);
		else
			rc = kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
					   "object %s in cache '%s' lost its chunk %s; run 'kbisect "
					   "cache verify' and put the object again",
					   kb_cache__short(o, &r->id), r->c->dir,
					   kb_cache__short(s, &r->parts[part]));
	} else
		rc = kb_cache__mdb(r->c, rc, "cannot read a chunk");
	kb_cache__txn_end(r->c, t);
	return rc;
}

static void decode_slot(void *arg, size_t i, int slot)
{
	kb_cache_reader *r = arg;

	r->slot_rc[i] = decode_part(r, r->next + (uint32_t)i, r->slot_dst[i], slot,
				    &r->slot_len[i]);
}

/* Decode the next (up to max) parts into dst (room for max chunks), on two threads
 * when threads is set. Errors are set in the calling thread. */
static int fill_batch_n(kb_cache_reader *r, uint8_t *dst, size_t max, int threads)
{
	size_t n = r->h.nparts - r->next;

	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		r->slot_dst[i] = dst + i * KB_CHUNK_SIZE;
	if (threads)
		kb_cache__crew_run(&r->crew, n, decode_slot, r);
	else
		for (size_t i = 0; i < n; i++)
			decode_slot(r, i, 0);
	for (size_t i = 0; i < n; i++) {
		if (r->slot_rc[i]) {
			/* the message may be on the other thread: set one here */
			char s[16];
			if (r->slot_rc[i] == KB_ENOTFOUND && kb_error_last()->code != KB_ENOTFOUND)
				kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_CACHE,
					      "object %s was evicted from cache '%s' while being "
					      "read; put it again", kb_cache__short(s, &r->id),
					      r->c->dir);
			else if (kb_error_last()->code != r->slot_rc[i])
				kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
					      "object %s in cache '%s' has a damaged chunk; run "
					      "'kbisect cache verify' and put the object again",
					      kb_cache__short(s, &r->id), r->c->dir);
			return r->slot_rc[i] == KB__MAPFULL ? KB_ERROR : r->slot_rc[i];
		}
	}
	r->next += (uint32_t)n;
	r->nslots = n;
	r->cur = 0;
	r->cur_off = 0;
	return 0;
}

/* Plain objects whose SHA-256 a reader of this process checked whole: a direct-mapped
 * table of (cache, id, stamp of the record read). */
#define VERIFIED_SLOTS 4096
static struct verified_ent {
	const kb_cache *c;
	kb_key id;
	uint64_t stamp;
} verified[VERIFIED_SLOTS];
static pthread_mutex_t verified_lock = PTHREAD_MUTEX_INITIALIZER;

static struct verified_ent *verified_slot(const kb_key *id)
{
	uint32_t h;
	memcpy(&h, id->b, sizeof(h));
	return &verified[h % VERIFIED_SLOTS];
}

/* The stamp of r's object record: header (with its creation time) and chunk list. */
static uint64_t verified_stamp(const kb_cache_reader *r)
{
	return XXH3_64bits_withSeed(r->parts, (size_t)r->h.nparts * 32,
				    XXH3_64bits(&r->h, sizeof(r->h)));
}

/* r's object read whole with a matching SHA-256: remember it (plain objects only). */
static void verified_add(const kb_cache_reader *r)
{
	struct verified_ent *e = verified_slot(&r->id);
	if (r->h.flags & KB_OBJF_DELTA)
		return;
	pthread_mutex_lock(&verified_lock);
	e->c = r->c;
	e->id = r->id;
	e->stamp = r->stamp;
	pthread_mutex_unlock(&verified_lock);
}

/* A streaming reader of a plain object checked before with the same record: drop its
 * SHA-256 (chunk XXH3s are still checked). */
static void verified_trust(kb_cache_reader *r)
{
	struct verified_ent *e = verified_slot(&r->id);
	int hit;
	if (r->h.flags & KB_OBJF_DELTA)
		return;
	pthread_mutex_lock(&verified_lock);
	hit = e->c == r->c && kb_key_equal(&e->id, &r->id) && e->stamp == r->stamp;
	pthread_mutex_unlock(&verified_lock);
	if (hit) {
		EVP_MD_CTX_free(r->sha);
		r->sha = NULL;
	}
}

static int base_file_suspect(kb_cache_reader *r, int rc);

static int fill_batch(kb_cache_reader *r, uint8_t *dst)
{
	int rc = fill_batch_n(r, dst, BATCH_CHUNKS, 1);
	base_file_suspect(r, rc);
	return rc;
}

/* use_file: a delta may map the decoded copy of its base (dir/base/<id>); 2: and a
 * copy that is a link is checked first (~10 ms), for readers that cannot read again
 * after a failure (get_file and get_buf can: they do not check). */
static int reader_open_ex(kb_cache_reader **out, uint64_t *size, kb_cache *c, const kb_key *id,
			  int count, int use_file)
{
	kb_cache_reader *r;
	const uint8_t *parts;
	MDB_txn *t;
	int rc;

	*out = NULL;
	if (!(r = calloc(1, sizeof(*r))))
		return kb_cache__oom(c);
	r->c = c;
	r->id = *id;
	if ((rc = kb_cache__rtxn(c, &t))) {
		free(r);
		return rc;
	}
	rc = kb_cache__obj_lookup(c, t, id, &r->h, &parts);
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
	r->dctx[0] = ZSTD_createDCtx();
	r->dctx[1] = ZSTD_createDCtx();
	r->sha = EVP_MD_CTX_new();
	r->bbuf = malloc((size_t)BATCH_CHUNKS * KB_CHUNK_SIZE);
	if (!r->parts || !r->dctx[0] || !r->dctx[1] || !r->sha || !r->bbuf ||
	    EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL) != 1) {
		kb_cache_reader_free(r);
		return kb_cache__oom(c);
	}
	r->stamp = verified_stamp(r);
	if (r->h.flags & KB_OBJF_DELTA) {
		kb_key base;
		char s[16];
		memcpy(base.b, r->h.base, 32);
		if (use_file) {
			kb_object_info bi;
			int linked = 0;
			if (kb_cache_object_info(&bi, c, &base) == 0 && !bi.is_delta &&
			    bi.size <= SIZE_MAX / 2 &&
			    (r->base = kb_cache__base_file_map(c, &base, bi.size, &linked))) {
				r->base_len = (size_t)bi.size;
				r->base_mapped = 1;
				/* a link shares its bytes with a file outside the cache, which
				 * may have changed since: check it (a few ms) before use */
				if (linked && use_file == 2 &&
				    kb_cache__base_file_sum_ok(c, &base, r->base, bi.size) != 1) {
					munmap(r->base, r->base_len);
					r->base = NULL;
					r->base_len = 0;
					r->base_mapped = 0;
					kb_cache__base_file_remove(c, &base);
				}
			}
			kb_error_clear();
		}
		if (!r->base && (rc = kb_cache__load_base(&r->base, &r->base_len, c, &base))) {
			kb_error_prefix("delta base of object %s", kb_cache__short(s, id));
			kb_cache_reader_free(r);
			return rc == KB_ENOTFOUND ? KB_ECORRUPT : rc;
		}
	}
	if (count) {
		kb_cache__stat_add(c, KB_ST_HIT0 + r->h.kind, 1);
		kb_cache__touch(c, id);
		kb_cache__maybe_flush(c);
	}
	if (size)
		*size = r->h.size;
	*out = r;
	return 0;
}

int kb_cache__reader_open(kb_cache_reader **out, uint64_t *size, kb_cache *c, const kb_key *id,
			  int count)
{
	return reader_open_ex(out, size, c, id, count, 0);
}

/* After a failure of a read that used the base file: was the file to blame? Then it
 * is removed and the caller reads again with the base decoded from the store. */
static int base_file_suspect(kb_cache_reader *r, int rc)
{
	kb_key base;

	if (rc != KB_ECORRUPT || !r->base_mapped)
		return 0;
	memcpy(base.b, r->h.base, 32);
	kb_cache__base_file_remove(r->c, &base);
	return 1;
}

int kb_cache_reader_open(kb_cache_reader **out, uint64_t *size, kb_cache *c, const kb_key *id)
{
	int rc;

	if (kb_cache__tier_on(c)) /* read-through (tier.c) */
		kb_cache__tier_object(c, id);
	rc = reader_open_ex(out, size, c, id, 1, 2);
	if (rc == 0)
		verified_trust(*out);
	return rc;
}

static ssize_t reader_finish(kb_cache_reader *r)
{
	kb_key got;
	unsigned int n = 0;
	char s[16];

	if (r->done != r->h.size)
		goto bad;
	if (r->sha) {
		EVP_DigestFinal_ex(r->sha, got.b, &n);
		if (!kb_key_equal(&got, &r->id))
			goto bad;
		verified_add(r);
	}
	r->state = 1;
	return 0;
bad:
	r->state = kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
				 "object %s in cache '%s' does not match its SHA-256; run "
				 "'kbisect cache verify' and put it again",
				 kb_cache__short(s, &r->id), r->c->dir);
	base_file_suspect(r, r->state); /* a streaming reader cannot read again */
	return r->state;
}

ssize_t kb_cache_reader_read(kb_cache_reader *r, void *buf_, size_t len)
{
	uint8_t *buf = buf_;
	size_t got = 0;
	int rc;

	if (r->state < 0)
		return r->state;
	if (r->state == 1)
		return 0;
	while (got < len) {
		if (r->cur == r->nslots) {
			if (r->next >= r->h.nparts)
				break;
			if (len - got >= KB_CHUNK_SIZE) {
				/* decode straight into the caller's buffer (as many whole
				 * chunks as fit, up to a batch: a caller reading 2 MiB at a
				 * time saves a copy); every chunk but the object's last is
				 * full, so the slots are contiguous */
				size_t n, max = (len - got) / KB_CHUNK_SIZE;
				if (max > BATCH_CHUNKS)
					max = BATCH_CHUNKS;
				rc = fill_batch_n(r, buf + got, max, max > 1);
				base_file_suspect(r, rc);
				if (rc)
					return r->state = rc;
				n = 0;
				for (size_t i = 0; i < r->nslots; i++)
					n += r->slot_len[i];
				if (r->sha)
					EVP_DigestUpdate(r->sha, buf + got, n);
				r->done += n;
				got += n;
				r->cur = r->nslots;
				continue;
			}
			if ((rc = fill_batch(r, r->bbuf)))
				return r->state = rc;
			continue;
		}
		{
			size_t m = r->slot_len[r->cur] - r->cur_off;
			const uint8_t *src = r->slot_dst[r->cur] + r->cur_off;
			if (m > len - got)
				m = len - got;
			memcpy(buf + got, src, m);
			if (r->sha)
				EVP_DigestUpdate(r->sha, src, m);
			r->cur_off += m;
			r->done += m;
			got += m;
			if (r->cur_off == r->slot_len[r->cur]) {
				r->cur++;
				r->cur_off = 0;
			}
		}
	}
	if (got)
		return (ssize_t)got;
	return reader_finish(r);
}

void kb_cache_reader_free(kb_cache_reader *r)
{
	if (!r)
		return;
	kb_cache__crew_stop(&r->crew);
	ZSTD_freeDCtx(r->dctx[0]);
	ZSTD_freeDCtx(r->dctx[1]);
	EVP_MD_CTX_free(r->sha);
	free(r->parts);
	if (r->base_mapped)
		munmap(r->base, r->base_len);
	else
		free(r->base);
	free(r->bbuf);
	free(r);
}

/* Read a whole object; sha = 0 skips the SHA-256 (chunk checksums only). */
static int load_whole_ex(void **out, size_t *len, kb_cache *c, const kb_key *id, int count,
			 int sha, int use_file)
{
	kb_cache_reader *r;
	uint64_t size;
	uint8_t *buf;
	size_t off = 0;
	ssize_t n = 0;
	int rc;

	*out = NULL;
	*len = 0;
	if ((rc = reader_open_ex(&r, &size, c, id, count, use_file)))
		return rc;
	if (!sha) {
		EVP_MD_CTX_free(r->sha);
		r->sha = NULL;
	}
	/* room for a whole last batch, so that every batch decodes in place */
	if (size > SIZE_MAX / 2 ||
	    !(buf = kb_cache__big_alloc((size_t)size + (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE + 1))) {
		kb_cache_reader_free(r);
		return kb_cache__oom(c);
	}
	while (off < size &&
	       (n = kb_cache_reader_read(r, buf + off,
					 (size_t)size - off + (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE)) > 0)
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
	use_file = base_file_suspect(r, rc);
	kb_cache_reader_free(r);
	if (rc) {
		free(buf);
		if (use_file) /* the base file was bad: read again without it */
			return load_whole_ex(out, len, c, id, count, sha, 0);
		return rc;
	}
	buf[size] = '\0';
	*out = buf;
	*len = (size_t)size;
	return 0;
}

int kb_cache__load_base(uint8_t **out, size_t *len, kb_cache *c, const kb_key *id)
{
	void *p;
	int rc = load_whole_ex(&p, len, c, id, 0, 0, 0);
	*out = p;
	return rc;
}

int kb_cache__load(void **out, size_t *len, kb_cache *c, const kb_key *id)
{
	return load_whole_ex(out, len, c, id, 0, 1, 0);
}

int kb_cache_get_buf(void **out, size_t *len, kb_cache *c, const kb_key *id)
{
	if (kb_cache__tier_on(c)) /* read-through (tier.c) */
		kb_cache__tier_object(c, id);
	return load_whole_ex(out, len, c, id, 1, 1, 1);
}

/* get_file: a small scheduler shared by the calling thread and one worker. Three kinds
 * of work per chunk: decode it (any order, either thread), write it at its offset
 * (pwrite, any order) and hash it (strictly in order, one thread at a time: the
 * serial part, so it goes first). Chunks live in a ring of GET_RING buffers; a buffer
 * is reused once its chunk is hashed and written. Nothing is renamed into place
 * before the whole SHA-256 matched (kb_cache_get_file). */
struct gslot {
	uint8_t *buf;
	size_t len;
	uint32_t part;
	int state;            /* GS_FREE, GS_BUSY (being decoded), GS_READY */
	int writing, written;
};

enum { GS_FREE, GS_BUSY, GS_READY };

struct gpipe {
	kb_cache_reader *r;
	int fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t next_decode;  /* next part to decode */
	uint32_t next_hash;    /* next part to hash */
	uint32_t n_written;
	int hashing;
	int rc;                /* first error */
	int err_klass;
	char err[512];         /* its message, to set again in the calling thread */
	struct gslot s[GET_RING];
	uint8_t *ring;
};

static void gp_fail(struct gpipe *p, int rc)
{
	if (p->rc)
		return;
	p->rc = rc;
	p->err_klass = kb_error_last()->klass;
	snprintf(p->err, sizeof(p->err), "%s", kb_error_last()->message ? kb_error_last()->message
									 : "");
}

static int gp_write(int fd, const uint8_t *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t m = pwrite(fd, buf + done, len - done, off + (off_t)done);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			return m < 0 ? errno : EIO;
		done += (size_t)m;
	}
	return 0;
}

/* Free a slot whose chunk is hashed and written (with p->mu held). */
static void gp_release(struct gpipe *p, struct gslot *sl)
{
	if (sl->state == GS_READY && sl->written && sl->part < p->next_hash) {
		sl->state = GS_FREE;
		pthread_cond_broadcast(&p->cv);
	}
}

static void gp_run(struct gpipe *p, int slot)
{
	kb_cache_reader *r = p->r;
	const uint32_t n = r->h.nparts;

	pthread_mutex_lock(&p->mu);
	while (!p->rc && (p->next_hash < n || p->n_written < n)) {
		struct gslot *sl = &p->s[p->next_hash % GET_RING];
		int i;

		if (!p->hashing && p->next_hash < n && sl->state == GS_READY &&
		    sl->part == p->next_hash) {
			/* the serial work: hash the next chunk in order */
			p->hashing = 1;
			pthread_mutex_unlock(&p->mu);
			EVP_DigestUpdate(r->sha, sl->buf, sl->len);
			pthread_mutex_lock(&p->mu);
			r->done += sl->len;
			p->hashing = 0;
			p->next_hash++;
			gp_release(p, sl);
			pthread_cond_broadcast(&p->cv);
			continue;
		}
		for (i = 0; i < GET_RING; i++) {
			sl = &p->s[i];
			if (sl->state == GS_READY && !sl->writing && !sl->written)
				break;
		}
		if (i < GET_RING) {
			int e;
			sl->writing = 1;
			pthread_mutex_unlock(&p->mu);
			e = gp_write(p->fd, sl->buf, sl->len, (off_t)sl->part * KB_CHUNK_SIZE);
			pthread_mutex_lock(&p->mu);
			sl->writing = 0;
			if (e) {
				if (!p->rc) {
					p->rc = KB_ERROR;
					p->err_klass = KB_ERRCLASS_OS;
					snprintf(p->err, sizeof(p->err), "%s", strerror(e));
				}
				break;
			}
			sl->written = 1;
			p->n_written++;
			gp_release(p, sl);
			pthread_cond_broadcast(&p->cv);
			continue;
		}
		sl = &p->s[p->next_decode % GET_RING];
		if (p->next_decode < n && sl->state == GS_FREE) {
			uint32_t part = p->next_decode++;
			size_t len;
			int rc;
			sl->state = GS_BUSY;
			sl->part = part;
			sl->written = 0;
			pthread_mutex_unlock(&p->mu);
			rc = decode_part(r, part, sl->buf, slot, &len);
			if (!rc && len != KB_CHUNK_SIZE && part + 1 < n) {
				/* offsets are part * KB_CHUNK_SIZE: only the last may be short */
				char s[16];
				rc = kb_error_setc(KB_ECORRUPT, KB_ERRCLASS_CACHE,
						   "object %s in cache '%s' has a short chunk; run "
						   "'kbisect cache verify' and put the object again",
						   kb_cache__short(s, &r->id), r->c->dir);
			}
			pthread_mutex_lock(&p->mu);
			if (rc) {
				gp_fail(p, rc == KB__MAPFULL ? KB_ERROR : rc);
				break;
			}
			sl->len = len;
			sl->state = GS_READY;
			pthread_cond_broadcast(&p->cv);
			continue;
		}
		pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void *gp_worker(void *arg)
{
	gp_run(arg, 1);
	return NULL;
}

/* Decode, hash and write every part of r to fd, on two threads. */
static int get_pipeline(kb_cache_reader *r, int fd, const char *path)
{
	struct gpipe *p = calloc(1, sizeof(*p));
	pthread_t th;
	int rc, threaded = 0;

	if (!p)
		return kb_cache__oom(r->c);
	p->r = r;
	p->fd = fd;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	/* one region for the ring: a few huge pages instead of a fault per 4 KiB */
	if (!(p->ring = kb_cache__big_alloc((size_t)GET_RING * KB_CHUNK_SIZE))) {
		rc = kb_cache__oom(r->c);
		goto out;
	}
	for (int i = 0; i < GET_RING; i++)
		p->s[i].buf = p->ring + (size_t)i * KB_CHUNK_SIZE;
	threaded = r->h.nparts > 1 && pthread_create(&th, NULL, gp_worker, p) == 0;
	gp_run(p, 0);
	if (threaded)
		pthread_join(th, NULL);
	if ((rc = p->rc)) {
		/* the message may have been set on the worker: set it here */
		if (p->err_klass == KB_ERRCLASS_OS)
			kb_error_setc(rc, KB_ERRCLASS_OS, "cannot write '%s': %s", path, p->err);
		else
			kb_error_setc(rc, p->err_klass, "%s", p->err);
		goto out;
	}
	rc = (int)reader_finish(r);
out:
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->ring);
	free(p);
	return rc;
}

/* *again is set when the base file was used and may be to blame for a failure. */
static int get_file_ex(kb_cache *c, const kb_key *id, const char *path, int use_file,
		       int *again)
{
	kb_cache_reader *r;
	char *tmp;
	int fd, rc = 0;

	*again = 0;
	if ((rc = reader_open_ex(&r, NULL, c, id, use_file, use_file)))
		return rc;
	kb_cache__clean_stale_tmp(path);
	if (asprintf(&tmp, "%s.kbtmp.%ld.XXXXXX", path, (long)getpid()) < 0) {
		kb_cache_reader_free(r);
		return kb_cache__oom(c);
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = kb_error_os("cannot create '%s'", path);
		goto out;
	}
	if ((rc = get_pipeline(r, fd, path)))
		goto out;
	if (fchmod(fd, kb_cache__file_mode()) != 0 || close(fd) != 0) {
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
	*again = base_file_suspect(r, rc);
	kb_cache_reader_free(r);
	return rc;
}

int kb_cache_get_file(kb_cache *c, const kb_key *id, const char *path)
{
	int again, rc;

	if (kb_cache__tier_on(c)) /* read-through (tier.c) */
		kb_cache__tier_object(c, id);
	rc = get_file_ex(c, id, path, 1, &again);

	if (rc && again) /* the base file was bad (now removed): decode the base */
		rc = get_file_ex(c, id, path, 0, &again);
	return rc;
}
