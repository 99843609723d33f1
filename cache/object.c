/*
 * cache/object.c - content-addressed objects: streaming writer, streaming reader,
 * chunking, zstd compression, deltas, pins, references.
 * Owns: the "obj", "chunk", "cref", "dep", "atime", "ref" tables and meta "base:<kind>".
 * Not: eviction (gc.c), checking the whole store (verify.c).
 * DESIGN:
 *  - An object is a list of chunks of <= 1 MiB of its bytes. A plain chunk is keyed by
 *    the SHA-256 of its bytes (identical chunks are stored once) and stored as one zstd
 *    frame (or raw when zstd does not help) with an XXH3-64 of the stored payload.
 *  - A delta object (vmlinux, VM state: the next build is close to the last one) has
 *    chunks compressed with a window of its base object around the same offset as
 *    zstd prefix (ZSTD_CCtx_refPrefix; +-256 KiB). For consecutive kernels this stores
 *    ~5x less than plain zstd at the same speed, stays streamable (each chunk decodes
 *    alone given the base) and parallel. The first batch is compressed both ways to
 *    decide whether the delta pays; afterwards a chunk whose delta is poor is also
 *    compressed plain and the smaller kept. Bases are plain objects, never deltas.
 *    A delta chunk is keyed by SHA-256(chunk SHA-256, base id, window).
 *  - Chunks are hashed and compressed on two threads (the caller and one long-lived
 *    thread per writer), outside any write txn; put_fd reads the next batch beside
 *    them; readers decode batches of chunks on two threads.
 *  - Nothing is visible before the final write txn, which adds the object header,
 *    bumps the reference counts of its chunks and writes the last chunks. Chunks
 *    written by earlier (intermediate) txns have 0 references until then; gc drops
 *    such orphans only when they are older than an hour, so a writer killed at any
 *    point leaves the store consistent. Large objects commit their earlier batches
 *    in the background (one txn at a time), so that the fsync of the final txn is
 *    short.
 *  - Readers re-check each chunk's XXH3 and the object's SHA-256 at the end; a
 *    mismatch is KB_ECORRUPT, never data. (A delta base is decoded with chunk checks
 *    only: a wrong base cannot pass the SHA-256 of the object built from it.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache_internal.h"

#define BATCH_CHUNKS 8                 /* chunks hashed/compressed/decoded together */
#define FLUSH_BYTES (64u << 20)        /* write pending chunks past this */
#define FLUSH_EARLY (1u << 20)         /* from the third batch on, write chunks of this
					* much in the background (one txn at a time) */
#define PLAIN_LEVEL 3
#define DELTA_LEVEL 3
#define DELTA_WINDOW (256u << 10)      /* base bytes either side of the chunk's offset */
#define DELTA_MIN_BASE (256u << 10)    /* smaller bases are not worth a delta */
#define DELTA_KEEP_RATIO 0.6           /* first batch: keep deltas when <= 0.6 x plain */
#define DELTA_POOR_RATIO 4             /* delta chunk > raw/4: try plain as well */
#define PROBE_EVERY 4                  /* first batch: chunks compressed both ways */
#define GET_RING 8                     /* get_file: chunks in flight */

/* ---------------------------------------------------------------------------- */
/* Two-thread helper                                                             */

struct par {
	void (*fn)(void *arg, size_t i, int slot);
	void *arg;
	size_t n;
	_Atomic size_t next;
};

static void par_loop(struct par *par, int slot)
{
	size_t i;
	while ((i = par->next++) < par->n)
		par->fn(par->arg, i, slot);
}

/* A second thread that lives as long as its writer or reader and takes jobs of each
 * crew_run(). Not one thread per batch: creating threads costs, and on a loaded
 * machine a new thread waits behind every runnable task (the scheduler's start
 * debit), while a sleeping one is woken early. */
struct crew {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int state;          /* 0 not started, 1 running, -1 no thread (run inline) */
	int stop, busy;
	unsigned int gen, done;
	struct par *par;
};

static void *crew_main(void *arg)
{
	struct crew *cr = arg;

	pthread_mutex_lock(&cr->mu);
	for (;;) {
		unsigned int gen;
		struct par *p;
		while (!cr->stop && cr->gen == cr->done)
			pthread_cond_wait(&cr->cv, &cr->mu);
		if (cr->stop)
			break;
		gen = cr->gen;
		p = cr->par;
		cr->busy = 1;
		pthread_mutex_unlock(&cr->mu);
		par_loop(p, 1);
		pthread_mutex_lock(&cr->mu);
		cr->busy = 0;
		cr->done = gen;
		pthread_cond_broadcast(&cr->cv);
	}
	pthread_mutex_unlock(&cr->mu);
	return NULL;
}

/* Run fn(arg, i, slot) for every i < n on the calling thread (slot 0) and the crew's
 * thread (slot 1), taking jobs in order; slot names the thread, for per-thread state.
 * The caller never waits for a thread that has not started on the jobs yet. */
static void crew_run(struct crew *cr, size_t n, void (*fn)(void *arg, size_t i, int slot),
		     void *arg)
{
	struct par par = { fn, arg, n, 0 };

	if (n >= 2 && cr->state == 0) {
		pthread_mutex_init(&cr->mu, NULL);
		pthread_cond_init(&cr->cv, NULL);
		cr->state = pthread_create(&cr->th, NULL, crew_main, cr) == 0 ? 1 : -1;
		if (cr->state < 0) {
			pthread_mutex_destroy(&cr->mu);
			pthread_cond_destroy(&cr->cv);
		}
	}
	if (n < 2 || cr->state < 0) {
		par_loop(&par, 0);
		return;
	}
	pthread_mutex_lock(&cr->mu);
	cr->par = &par;
	cr->gen++;
	pthread_cond_signal(&cr->cv);
	pthread_mutex_unlock(&cr->mu);
	par_loop(&par, 0);
	pthread_mutex_lock(&cr->mu);
	if (!cr->busy && cr->done != cr->gen)
		cr->done = cr->gen; /* the thread did not take them: withdraw */
	while (cr->done != cr->gen)
		pthread_cond_wait(&cr->cv, &cr->mu);
	pthread_mutex_unlock(&cr->mu);
}

static void crew_stop(struct crew *cr)
{
	if (cr->state != 1)
		return;
	pthread_mutex_lock(&cr->mu);
	cr->stop = 1;
	pthread_cond_broadcast(&cr->cv);
	pthread_mutex_unlock(&cr->mu);
	pthread_join(cr->th, NULL);
	pthread_mutex_destroy(&cr->mu);
	pthread_cond_destroy(&cr->cv);
	cr->state = 0;
	cr->stop = 0;
}

/* ---------------------------------------------------------------------------- */
/* Chunk encoding                                                                */

/* Payload prefix of a KB_CODEC_ZSTD_PREFIX chunk: the window of the base it needs. */
struct kb_chunk_ext {
	uint64_t prefix_off;
	uint32_t prefix_len;
	uint32_t pad;
};

/* Build a chunk value (header + payload) from raw bytes: zstd, or zstd with a prefix
 * of the base when prefix is not NULL, or raw when compression does not help. The
 * value's memory comes from alloc(actx, len). */
static void *chunk_encode(size_t *out_len, ZSTD_CCtx *cctx, uint8_t *scratch, size_t scratch_cap,
			  const void *raw, size_t raw_len, const uint8_t *base, uint64_t poff,
			  uint32_t plen, void *(*alloc)(void *actx, size_t len), void *actx)
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
static int chunk_decode(kb_cache *c, const kb_key *cid, const MDB_val *v, ZSTD_DCtx *dctx,
			const uint8_t *base, size_t base_len, void *out, size_t cap, size_t *n)
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
	rc = chunk_decode(&fake, &id, &v, d, base, base_len, out, cap, n);
	ZSTD_freeDCtx(d);
	return rc;
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

/* ---------------------------------------------------------------------------- */
/* Decoded delta bases                                                           */

/* dir/base/<id hex> holds the raw bytes of a plain object that is the current delta
 * base of its kind, written by the put that stored it. Readers of a delta map it
 * instead of decoding the base (which costs as much as decoding the delta itself).
 * Derived data, outside LMDB: a damaged or stale file can only make the SHA-256 of
 * a dependant fail; the reader then removes it and decodes the base from the store.
 * Writers use it only after checking each 1 MiB piece against the SHA-256 chunk ids
 * of the base (a wrong base would make them store wrong deltas); verify never does. At most BASE_FILES are kept; gc removes the file of an evicted object. */
#define BASE_FILES 2

static void base_file_path(char *buf, size_t n, kb_cache *c, const kb_key *id)
{
	char hex[KB_KEY_HEXLEN + 1];

	if (id) {
		kb_key_to_hex(hex, id);
		snprintf(buf, n, "%s/base/%s", c->dir, hex);
	} else {
		snprintf(buf, n, "%s/base", c->dir);
	}
}

/* Meta key of the XXH3-128 and size of the base file of id, recorded by the put
 * that wrote the file: writers check the file against it (a few ms) before using it. */
static void base_file_sum_key(char *buf, size_t n, const kb_key *id)
{
	char hex[KB_KEY_HEXLEN + 1];

	kb_key_to_hex(hex, id);
	snprintf(buf, n, "basefile:%s", hex);
}

void kb_cache__base_file_forget(kb_cache *c, MDB_txn *t, const kb_key *id)
{
	char name[80];
	MDB_val k;

	base_file_sum_key(name, sizeof(name), id);
	k.mv_size = strlen(name);
	k.mv_data = name;
	mdb_del(t, c->meta, &k, NULL);
}

void kb_cache__base_file_remove(kb_cache *c, const kb_key *id)
{
	char path[4200];

	base_file_path(path, sizeof(path), c, id);
	unlink(path);
}

/* Map the base file of id when it has the expected size; NULL otherwise. */
static uint8_t *base_file_map(kb_cache *c, const kb_key *id, uint64_t size, int *linked)
{
	char path[4200];
	struct stat st;
	void *p;
	int fd;

	base_file_path(path, sizeof(path), c, id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size ||
	    size == 0) {
		close(fd);
		return NULL;
	}
	if (linked)
		*linked = st.st_nlink > 1; /* a link to the input of its put (or a copy of it) */
	p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* Does the mapped base file of id match the XXH3-128 recorded by the put that wrote
 * it? 1 yes, 0 no, -1 nothing recorded (a cache of an older kbisect). */
static int base_file_sum_ok(kb_cache *c, const kb_key *id, const uint8_t *map, uint64_t size)
{
	uint8_t want[24], got[24];
	char name[80];
	MDB_val mk, mv;
	XXH128_hash_t x;
	MDB_txn *t;
	int have = 0;

	base_file_sum_key(name, sizeof(name), id);
	mk.mv_size = strlen(name);
	mk.mv_data = name;
	if (kb_cache__rtxn(c, &t) != 0) {
		kb_error_clear();
		return -1;
	}
	if (mdb_get(t, c->meta, &mk, &mv) == 0 && mv.mv_size == 24) {
		memcpy(want, mv.mv_data, 24);
		have = 1;
	}
	kb_cache__txn_end(c, t);
	if (!have)
		return -1;
	x = XXH3_128bits(map, (size_t)size);
	memcpy(got, &x.low64, 8);
	memcpy(got + 8, &x.high64, 8);
	memcpy(got + 16, &size, 8);
	return memcmp(got, want, 24) == 0;
}

/* Keep the BASE_FILES newest base files, newest being the one of id (just written);
 * drop temporaries of killed writers. */
static void base_files_prune(kb_cache *c, const kb_key *id)
{
	char hex[KB_KEY_HEXLEN + 1];
	char dir[4200], path[4600];
	struct { char name[80]; int64_t t; } keep[BASE_FILES + 1];
	size_t nkeep = 0;
	struct dirent *e;
	DIR *d;

	kb_key_to_hex(hex, id);
	base_file_path(dir, sizeof(dir), c, NULL);
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		struct stat st;
		int64_t t;
		if (e->d_name[0] == '.' && (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0)
			continue;
		/* ctime: a link to an input keeps the input's mtime, its ctime is the link */
		t = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
		if (!strcmp(e->d_name, hex))
			t = INT64_MAX; /* times are coarse: never drop the one just written */
		if (e->d_name[0] == '.' || strlen(e->d_name) != KB_KEY_HEXLEN) {
			if (st.st_ctime < time(NULL) - 3600)
				unlink(path); /* a temporary of a writer killed long ago */
			continue;
		}
		/* insert into keep, newest first; what falls off the end is removed */
		size_t i = nkeep < BASE_FILES + 1 ? nkeep++ : BASE_FILES;
		while (i > 0 && keep[i - 1].t < t) {
			keep[i] = keep[i - 1];
			i--;
		}
		snprintf(keep[i].name, sizeof(keep[i].name), "%s", e->d_name);
		keep[i].t = t;
		if (nkeep == BASE_FILES + 1) {
			snprintf(path, sizeof(path), "%s/%s", dir, keep[BASE_FILES].name);
			unlink(path);
			nkeep = BASE_FILES;
		}
	}
	closedir(d);
}

/* ---------------------------------------------------------------------------- */
/* Writer                                                                        */

struct pending_chunk {
	kb_key id;
	void *val;      /* NULL once written (or when the chunk existed) */
	size_t len;
};

/* One way to store a chunk. */
struct cand {
	int have;
	kb_key id;
	int exists;
	uint64_t stored; /* value size (existing or new) */
	void *val;       /* new value, NULL when it exists */
	size_t len;
};

struct item {
	const uint8_t *raw;
	size_t raw_len;
	uint64_t off;
	kb_key raw_id;    /* SHA-256 of raw: the id of its plain chunk */
	struct cand d, p; /* delta and plain */
	int err;
};

/* A job that runs beside the next batch (put_fd reads the batch after it). */
struct side_job {
	void (*fn)(struct side_job *j);
	int done;
};

struct kb_cache_writer {
	kb_cache *c;
	kb_put_opts opts;
	EVP_MD_CTX *sha;
	uint64_t size;
	int failed;
	uint8_t *batch;
	size_t batch_len;
	uint64_t off;                /* object offset of the next chunk */
	ZSTD_CCtx *cctx[2];
	uint8_t *scratch[2];
	size_t scratch_cap;
	struct pending_chunk *pend;  /* every part, in order */
	size_t n_pend, cap_pend;
	size_t pend_bytes;           /* bytes of unwritten values */
	uint64_t stored;
	/* delta */
	int delta_on, probe, used_delta;
	kb_key base;
	uint8_t *base_buf;
	size_t base_len;
	int base_mapped;             /* base_buf is the mapped, checked base file */
	/* the raw bytes, to dir/base/<id> when this object will be a delta base */
	int raw_fd;
	char *raw_tmp;
	uint64_t raw_written;
	int raw_err;
	XXH3_state_t *raw_xxh;       /* XXH3-128 of the base file, recorded at commit */
	int raw_linked;              /* raw_tmp is a hard link to the input file */
	const char *src_path;        /* the input file (put_file), to link instead */
	struct stat src_st;
	struct crew crew;
	/* chunk values live here until written (then it is reused): fresh memory costs
	 * a page fault per page, mallocs of ~1 MiB would each be fresh */
	uint8_t *arena;
	size_t arena_cap;
	_Atomic size_t arena_used;
	struct side_job *side;
	struct bg_flush {
		pthread_t th;
		int running;
		_Atomic int done;
		kb_cache_writer *w;
		struct pending_chunk *items; /* copies of pend[from, to) with values */
		size_t n, from, to;
		int rc, klass;
		char msg[512];
	} bg;
	size_t flushed_upto;         /* pend[0, flushed_upto) went to a flush */
	struct kb_pend_owner owner;  /* registered before the first early flush */
	int tail_skipped;            /* the last batch (still in batch) was not chunked:
				      * the object was stored when commit looked */
};

static void *big_alloc(size_t len);

/* Memory for a chunk value: from the arena while it has room, else malloc. */
static void *val_alloc(void *arg, size_t len)
{
	kb_cache_writer *w = arg;

	if (w->arena) {
		size_t a = (len + 63) & ~(size_t)63;
		size_t off = atomic_fetch_add(&w->arena_used, a);
		if (off + a <= w->arena_cap)
			return w->arena + off;
	}
	return malloc(len);
}

static void val_free(kb_cache_writer *w, void *p)
{
	if (p && !(w->arena && (uint8_t *)p >= w->arena && (uint8_t *)p < w->arena + w->arena_cap))
		free(p);
}

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

/* Store the chunk values of list (inside t). New chunks get a "cref" with 0
 * references; the final txn adds the references. */
static int write_list_txn(kb_cache *c, MDB_txn *t, const struct pending_chunk *list, size_t n,
			  const struct kb_pend_owner *owner)
{
	for (size_t i = 0; i < n; i++) {
		const struct pending_chunk *p = &list[i];
		MDB_val k = { 32, (void *)p->id.b }, v = { p->len, p->val };
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
		    (rc = kb_cache__stat_add_txn(c, t, KB_ST_CHUNK_BYTES, (int64_t)p->len)) ||
		    (rc = kb_cache__pend_add_txn(c, t, owner, &p->id, p->len)))
			return rc;
	}
	return 0;
}

/* Store the chunk values still in memory (inside t). */
static int write_chunks_txn(kb_cache *c, MDB_txn *t, kb_cache_writer *w, int final)
{
	return write_list_txn(c, t, w->pend, w->n_pend, final ? NULL : &w->owner);
}

/* Background flushes: while the next batches are compressed, a thread commits the
 * values of the last ones (with its fsync), so that the final commit has little
 * left to write and sync. Same states as the FLUSH_BYTES flush: chunks with 0
 * references until the final txn. */
static int bg_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct bg_flush *f = arg;
	return write_list_txn(c, t, f->items, f->n, &f->w->owner);
}

static void *bg_main(void *arg)
{
	struct bg_flush *f = arg;
	int rc = kb_cache__write(f->w->c, bg_fn, f);

	if (rc) {
		f->klass = kb_error_last()->klass;
		snprintf(f->msg, sizeof(f->msg), "%s",
			 kb_error_last()->message ? kb_error_last()->message : "cannot store a chunk");
	}
	f->rc = rc;
	f->done = 1;
	return NULL;
}

/* Wait for the background flush; its rc (message in f->msg). On success the values
 * it wrote are freed. */
static int bg_wait(kb_cache_writer *w)
{
	struct bg_flush *f = &w->bg;

	if (!f->running)
		return 0;
	pthread_join(f->th, NULL);
	f->running = 0;
	free(f->items);
	f->items = NULL;
	if (f->rc)
		return f->rc;
	for (size_t i = f->from; i < f->to; i++) {
		if (w->pend[i].val) {
			w->pend_bytes -= w->pend[i].len;
			val_free(w, w->pend[i].val);
			w->pend[i].val = NULL;
		}
	}
	if (f->to == w->n_pend)
		w->arena_used = 0; /* no value lives there any more */
	return 0;
}

static int bg_join(kb_cache_writer *w)
{
	int rc = bg_wait(w);

	if (rc)
		kb_error_setc(rc == KB__MAPFULL ? KB_ERROR : rc, w->bg.klass, "%s", w->bg.msg);
	return rc == KB__MAPFULL ? KB_ERROR : rc;
}

/* Hand the values not yet flushed to a background flush, when they are worth it. */
static void bg_start(kb_cache_writer *w)
{
	struct bg_flush *f = &w->bg;
	size_t n = 0, bytes = 0;

	for (size_t i = w->flushed_upto; i < w->n_pend; i++) {
		if (w->pend[i].val) {
			n++;
			bytes += w->pend[i].len;
		}
	}
	if (bytes < FLUSH_EARLY || !(f->items = malloc(n * sizeof(*f->items))))
		return;
	n = 0;
	for (size_t i = w->flushed_upto; i < w->n_pend; i++)
		if (w->pend[i].val)
			f->items[n++] = w->pend[i];
	f->n = n;
	f->from = w->flushed_upto;
	f->to = w->n_pend;
	f->w = w;
	f->rc = 0;
	f->done = 0;
	kb_cache__pend_register(w->c, &w->owner);
	if (pthread_create(&f->th, NULL, bg_main, f) != 0) {
		free(f->items);
		f->items = NULL;
		return;
	}
	f->running = 1;
	w->flushed_upto = w->n_pend;
}

static void pend_release(kb_cache_writer *w)
{
	for (size_t i = 0; i < w->n_pend; i++) {
		val_free(w, w->pend[i].val);
		w->pend[i].val = NULL;
	}
	w->pend_bytes = 0;
	w->arena_used = 0; /* no value lives there any more */
}

static int flush_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	return write_chunks_txn(c, t, arg, 0);
}

static int flush_pending_chunks(kb_cache_writer *w)
{
	int rc = bg_join(w);

	if (!rc) {
		kb_cache__pend_register(w->c, &w->owner);
		rc = kb_cache__write(w->c, flush_fn, w);
	}
	if (!rc) {
		pend_release(w);
		w->flushed_upto = w->n_pend;
	}
	return rc;
}

/* Does chunk id exist? Its stored size goes to *stored. */
static int chunk_lookup(kb_cache *c, const kb_key *id, uint64_t *stored)
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

static void cand_make(kb_cache_writer *w, struct cand *cd, const kb_key *id, struct item *it,
		      int slot, const uint8_t *base, uint64_t poff, uint32_t plen)
{
	cd->have = 1;
	cd->id = *id;
	cd->val = NULL;
	cd->exists = chunk_lookup(w->c, id, &cd->stored);
	if (cd->exists)
		return;
	cd->val = chunk_encode(&cd->len, w->cctx[slot], w->scratch[slot], w->scratch_cap, it->raw,
			       it->raw_len, base, poff, plen, val_alloc, w);
	if (!cd->val)
		it->err = 1;
	cd->stored = cd->len;
}

struct batch_ctx {
	kb_cache_writer *w;
	struct item *items;
	const uint8_t *data;  /* the whole batch, for the object's SHA-256 */
	const uint8_t *raw;   /* the whole batch, for the base file */
	size_t len;
	struct side_job *side; /* job 1 when set, the items after it */
};

static void batch_item(void *arg, size_t job, int slot)
{
	struct batch_ctx *b = arg;
	kb_cache_writer *w = b->w;
	struct item *it;
	int need_plain = 1;
	size_t i;

	if (job == 1 && b->side) {
		b->side->fn(b->side);
		b->side->done = 1;
		return;
	}
	if (job == 0) {
		/* the object's SHA-256 and the base file run beside the chunks */
		if (b->data)
			EVP_DigestUpdate(w->sha, b->data, b->len);
		if ((w->raw_fd >= 0 || w->raw_linked) && !w->raw_err) {
			size_t done = w->raw_linked ? b->len : 0;
			while (done < b->len) {
				ssize_t m = write(w->raw_fd, b->raw + done, b->len - done);
				if (m < 0 && errno == EINTR)
					continue;
				if (m <= 0) {
					w->raw_err = 1;
					break;
				}
				done += (size_t)m;
			}
			if (w->raw_xxh)
				XXH3_128bits_update(w->raw_xxh, b->raw, done);
			w->raw_written += done;
		}
		return;
	}
	i = job - 1 - (b->side != NULL);
	it = &b->items[i];

	memset(&it->d, 0, sizeof(it->d));
	memset(&it->p, 0, sizeof(it->p));
	it->err = 0;
	kb_sha256(&it->raw_id, it->raw, it->raw_len);
	if (w->delta_on && it->off < w->base_len) {
		uint64_t ps = it->off > DELTA_WINDOW ? it->off - DELTA_WINDOW : 0;
		uint64_t pe = it->off + it->raw_len + DELTA_WINDOW;
		uint8_t m[32 + 32 + 8 + 4];
		uint32_t plen;
		kb_key did;
		if (pe > w->base_len)
			pe = w->base_len;
		plen = (uint32_t)(pe - ps);
		memcpy(m, it->raw_id.b, 32);
		memcpy(m + 32, w->base.b, 32);
		memcpy(m + 64, &ps, 8);
		memcpy(m + 72, &plen, 4);
		kb_sha256(&did, m, sizeof(m));
		cand_make(w, &it->d, &did, it, slot, w->base_buf, ps, plen);
		/* the probe compares both ways on every PROBE_EVERY-th chunk */
		need_plain = (w->probe && i % PROBE_EVERY == 0) ||
			     (!it->d.exists && it->d.len > it->raw_len / DELTA_POOR_RATIO);
	}
	if (need_plain)
		cand_make(w, &it->p, &it->raw_id, it, slot, NULL, 0, 0);
}

/* The plain chunk of item i when it has none yet (the probe dropped deltas). */
static void plain_item(void *arg, size_t i, int slot)
{
	struct batch_ctx *b = arg;
	struct item *it = &b->items[i];

	if (!it->p.have)
		cand_make(b->w, &it->p, &it->raw_id, it, slot, NULL, 0, 0);
}

static void cand_free(kb_cache_writer *w, struct cand *cd)
{
	val_free(w, cd->val);
	cd->val = NULL;
	cd->have = 0;
}

static void raw_open(kb_cache_writer *w);

/* Hash, dedup and compress data (whole chunks but maybe the last) into parts. */
static int add_parts(kb_cache_writer *w, const uint8_t *data, size_t len, int hash)
{
	struct item items[BATCH_CHUNKS];
	struct batch_ctx b = { w, items, NULL, NULL, 0, NULL };

	if (!w->arena && len >= (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE) {
		/* a large object: room for the values of FLUSH_BYTES and two more batches
		 * (address space only; pages are touched as values are stored) */
		w->arena_cap = FLUSH_BYTES + (size_t)2 * BATCH_CHUNKS * (w->scratch_cap + 64);
		w->arena = big_alloc(w->arena_cap);
	}
	while (len) {
		size_t n = 0;
		int rc = 0;
		b.data = hash ? data : NULL;
		b.raw = data;
		b.len = len < (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE ? len
								 : (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE;
		for (; n < BATCH_CHUNKS && len; n++) {
			size_t m = len < KB_CHUNK_SIZE ? len : KB_CHUNK_SIZE;
			items[n].raw = data;
			items[n].raw_len = m;
			items[n].off = w->off;
			w->off += m;
			data += m;
			len -= m;
		}
		b.side = w->side; /* the caller's job, beside the first batch only */
		w->side = NULL;
		crew_run(&w->crew, n + 1 + (b.side != NULL), batch_item, &b);
		b.side = NULL;
		if (w->probe && w->delta_on) {
			/* first batch: is the delta worth it for this object? (on the
			 * chunks compressed both ways) */
			uint64_t ds = 0, ps = 0;
			for (size_t i = 0; i < n; i++) {
				if (!items[i].p.have)
					continue;
				ds += items[i].d.have ? items[i].d.stored : items[i].p.stored;
				ps += items[i].p.stored;
			}
			if ((double)ds > DELTA_KEEP_RATIO * (double)ps) {
				w->delta_on = 0;
				for (size_t i = 0; i < n; i++)
					cand_free(w, &items[i].d);
				crew_run(&w->crew, n, plain_item, &b);
				/* stored plain after all: the next base, from this first batch */
				raw_open(w);
				if (w->raw_fd >= 0 || w->raw_linked) {
					b.len = 0;
					b.data = NULL;
					for (size_t i = 0; i < n; i++)
						b.len += items[i].raw_len;
					batch_item(&b, 0, 0); /* writes b.raw, hashes nothing */
				}
			}
		}
		w->probe = 0;
		for (size_t i = 0; i < n; i++) {
			struct item *it = &items[i];
			struct cand *keep;
			if (it->err)
				rc = oom(w->c);
			if (it->d.have && (!it->p.have || it->d.stored <= it->p.stored)) {
				keep = &it->d;
				cand_free(w, &it->p);
				w->used_delta = 1;
			} else {
				keep = &it->p;
				cand_free(w, &it->d);
			}
			if (rc) {
				cand_free(w, keep);
				continue;
			}
			w->stored += keep->stored;
			rc = pend_add(w, &keep->id, keep->val, keep->len);
			if (rc)
				cand_free(w, keep);
			keep->val = NULL;
		}
		if (rc)
			return rc;
		if (w->bg.running && w->bg.done && (rc = bg_join(w)))
			return rc;
		if (w->pend_bytes >= FLUSH_BYTES) {
			if ((rc = flush_pending_chunks(w)))
				return rc;
		} else if (!w->bg.running && n == BATCH_CHUNKS &&
			   w->off >= (uint64_t)3 * BATCH_CHUNKS * KB_CHUNK_SIZE) {
			bg_start(w);
		}
	}
	return 0;
}

static int is_delta_kind(int kind)
{
	return kind == KB_OBJ_VMLINUX || kind == KB_OBJ_VMSTATE;
}

struct piece_check {
	const uint8_t *buf;
	size_t len;
	const uint8_t *parts;
	_Atomic int bad;
};

static void piece_check(void *arg, size_t i, int slot)
{
	struct piece_check *pc = arg;
	size_t off = i * KB_CHUNK_SIZE;
	size_t n = pc->len - off < KB_CHUNK_SIZE ? pc->len - off : KB_CHUNK_SIZE;
	kb_key got;

	(void)slot;
	if (pc->bad)
		return;
	kb_sha256(&got, pc->buf + off, n);
	if (memcmp(got.b, pc->parts + i * 32, 32) != 0)
		pc->bad = 1;
}

/* Map the base file of plain object id (size bytes) into w->base_buf, checked piece
 * by piece against the SHA-256 chunk ids of the object's header: the parts of a plain
 * object are its 1 MiB pieces keyed by their SHA-256, so this proves every byte, on
 * two threads and without decoding anything. A file that fails is removed. 0 or -1
 * (no usable file: decode the base from the store). */
static int base_file_checked(kb_cache_writer *w, const kb_key *id, uint64_t size)
{
	kb_cache *c = w->c;
	struct kb_obj_hdr h;
	struct piece_check pc = { NULL, 0, NULL, 0 };
	const uint8_t *parts;
	uint8_t *copy = NULL, *map;
	MDB_txn *t;

	int ok;

	if (size > SIZE_MAX / 2 || !(map = base_file_map(c, id, size, NULL)))
		return -1;
	ok = base_file_sum_ok(c, id, map, size); /* recorded by the put that wrote it */
	if (ok == 0) {
		munmap(map, (size_t)size);
		kb_cache__base_file_remove(c, id);
		return -1;
	}
	if (ok == 1) {
		w->base_buf = map;
		w->base_len = (size_t)size;
		return 0;
	}
	if (kb_cache__rtxn(c, &t) == 0) {
		if (obj_lookup(c, t, id, &h, &parts) == 0 && !(h.flags & KB_OBJF_DELTA) &&
		    h.size == size && h.nparts == (size + KB_CHUNK_SIZE - 1) / KB_CHUNK_SIZE &&
		    (copy = malloc((size_t)h.nparts * 32)))
			memcpy(copy, parts, (size_t)h.nparts * 32);
		kb_cache__txn_end(c, t);
	}
	kb_error_clear();
	if (!copy) {
		munmap(map, (size_t)size);
		return -1;
	}
	pc.buf = map;
	pc.len = (size_t)size;
	pc.parts = copy;
	crew_run(&w->crew, h.nparts, piece_check, &pc);
	free(copy);
	if (pc.bad) {
		munmap(map, (size_t)size);
		kb_cache__base_file_remove(c, id);
		return -1;
	}
	w->base_buf = map;
	w->base_len = (size_t)size;
	return 0;
}

/* Pick and load the base of a delta; 0 with delta_on = 0 when there is none. */
static int delta_setup(kb_cache_writer *w, const kb_key *given)
{
	kb_cache *c = w->c;
	kb_object_info info;
	kb_key base;
	int have = 0, rc;

	if (w->opts.no_delta)
		return 0;
	if (given) {
		base = *given;
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
	if (!have || kb_cache_object_info(&info, c, &base) != 0) {
		kb_error_clear();
		return 0; /* no base, or gone: store plain */
	}
	if (info.is_delta) {
		base = info.delta_base; /* bases are plain: use the delta's own base */
		if (kb_cache_object_info(&info, c, &base) != 0 || info.is_delta) {
			kb_error_clear();
			return 0;
		}
	}
	if (info.size < DELTA_MIN_BASE || info.size > ((uint64_t)1 << 32))
		return 0;
	if (base_file_checked(w, &base, info.size) == 0) {
		w->base_mapped = 1;
	} else if (kb_cache__load_base(&w->base_buf, &w->base_len, c, &base) != 0) {
		kb_error_clear();
		return 0; /* unreadable base: store plain */
	}
	w->base = base;
	w->delta_on = 1;
	w->probe = 1;
	return 0;
}

/* An object of a delta kind stored plain becomes the next delta base: keep its raw
 * bytes in a temporary of dir/base too (best effort; renamed by the commit). */
static void raw_open(kb_cache_writer *w)
{
	char dir[4200];

	if (!is_delta_kind(w->opts.kind) || w->opts.no_delta || w->raw_fd >= 0 || w->raw_tmp)
		return;
	base_file_path(dir, sizeof(dir), w->c, NULL);
	mkdir(dir, 0777);
	if (w->src_path && w->opts.kind == KB_OBJ_VMLINUX) {
		/* the input file itself, when the cache is on its file system: no copy
		 * to write. Its XXH3-128 is that of the bytes read, so a later change
		 * of the file only makes it fail its check (then it is not used). Only
		 * a vmlinux: a build replaces it (ld unlinks its output), while VM state
		 * files may be mapped by a running VM and keep changing. */
		struct stat st;
		char *tmp;
		if (asprintf(&tmp, "%s/.lnk.%ld.%llx", dir, (long)getpid(),
			     (unsigned long long)kb_cache__now_ns()) >= 0) {
			if (link(w->src_path, tmp) == 0 && lstat(tmp, &st) == 0 &&
			    st.st_dev == w->src_st.st_dev && st.st_ino == w->src_st.st_ino &&
			    (w->raw_xxh = XXH3_createState()) != NULL) {
				XXH3_128bits_reset(w->raw_xxh);
				w->raw_tmp = tmp;
				w->raw_linked = 1;
				return;
			}
			unlink(tmp);
			free(tmp);
		}
	}
	if (asprintf(&w->raw_tmp, "%s/.tmp.%ld.XXXXXX", dir, (long)getpid()) < 0) {
		w->raw_tmp = NULL;
	} else if ((w->raw_fd = mkstemp(w->raw_tmp)) < 0) {
		free(w->raw_tmp);
		w->raw_tmp = NULL;
	} else if ((w->raw_xxh = XXH3_createState()) != NULL) {
		XXH3_128bits_reset(w->raw_xxh);
	}
}

/* src: the input file (put_file, st its fstat), which the base file may link to. */
static int writer_open_ex(kb_cache_writer **out, kb_cache *c, const kb_put_opts *opts,
			  const char *src, const struct stat *st)
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
	w->raw_fd = -1;
	if (src && st) {
		w->src_path = src;
		w->src_st = *st;
	}
	if (opts)
		w->opts = *opts;
	w->opts.delta_base = NULL;
	w->scratch_cap = ZSTD_compressBound(KB_CHUNK_SIZE) + sizeof(struct kb_chunk_ext);
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
	if ((rc = delta_setup(w, opts ? opts->delta_base : NULL))) {
		kb_cache_writer_abort(w);
		return rc;
	}
	if (!w->delta_on)
		raw_open(w);
	*out = w;
	return 0;
}

int kb_cache_writer_open(kb_cache_writer **out, kb_cache *c, const kb_put_opts *opts)
{
	return writer_open_ex(out, c, opts, NULL, NULL);
}

int kb_cache_writer_write(kb_cache_writer *w, const void *data_, size_t len)
{
	const size_t cap = (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE;
	const uint8_t *data = data_;
	int rc;

	if (w->failed)
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE,
				     "write to a failed cache writer; abort it and start again");
	w->size += len;
	while (len) {
		size_t m = cap - w->batch_len;
		if (w->batch_len == 0 && len >= cap) {
			/* a whole batch straight from the caller's buffer */
			if ((rc = add_parts(w, data, cap, 1)))
				goto fail;
			data += cap;
			len -= cap;
			continue;
		}
		if (m > len)
			m = len;
		memcpy(w->batch + w->batch_len, data, m);
		w->batch_len += m;
		data += m;
		len -= m;
		if (w->batch_len == cap) {
			if ((rc = add_parts(w, w->batch, cap, 1)))
				goto fail;
			w->batch_len = 0;
		}
	}
	return 0;
fail:
	w->failed = 1;
	return rc;
}

struct commit_ctx {
	kb_cache_writer *w;
	kb_key id;
	int existed;
	int repaired;             /* a damaged copy of the object was replaced */
	int vanished;             /* failed: a chunk or base it reused was evicted meanwhile */
	int keep_raw;             /* the base file will be renamed into place */
	uint8_t raw_sum[24];      /* its XXH3-128 and size */
};

/* Is the stored header v of an object of size bytes whole: its parts cover size and
 * every chunk it names is stored? (A put that finds such an object only touches it.) */
static int obj_intact(kb_cache *c, MDB_txn *t, const MDB_val *v, uint64_t size)
{
	struct kb_obj_hdr h;
	const uint8_t *parts;

	if (v->mv_size < sizeof(h))
		return 0;
	memcpy(&h, v->mv_data, sizeof(h));
	if (h.magic != KB_OBJ_MAGIC || v->mv_size != sizeof(h) + (size_t)h.nparts * 32 ||
	    h.size != size || h.nparts != (size + KB_CHUNK_SIZE - 1) / KB_CHUNK_SIZE)
		return 0;
	parts = (const uint8_t *)v->mv_data + sizeof(h);
	for (uint32_t i = 0; i < h.nparts; i++) {
		MDB_val ck = { 32, (void *)(parts + 32 * (size_t)i) }, cv;
		if (mdb_get(t, c->chunk, &ck, &cv) != 0 || mdb_get(t, c->cref, &ck, &cv) != 0)
			return 0;
	}
	return 1;
}

/* Record the checksum of the base file the commit will rename into place. */
static int base_sum_put(kb_cache *c, MDB_txn *t, struct commit_ctx *cc)
{
	char name[80];
	MDB_val mk, mv = { sizeof(cc->raw_sum), cc->raw_sum };

	if (!cc->keep_raw)
		return 0;
	base_file_sum_key(name, sizeof(name), &cc->id);
	mk.mv_size = strlen(name);
	mk.mv_data = name;
	return kb_cache__mdb(c, mdb_put(t, c->meta, &mk, &mv, 0), "cannot record a delta base");
}

static int commit_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	struct commit_ctx *cc = arg;
	kb_cache_writer *w = cc->w;
	MDB_val k = { 32, cc->id.b }, v;
	struct kb_obj_hdr h;
	uint8_t *val;
	size_t vlen;
	int64_t now = kb_cache__now(), now_ns = kb_cache__now_ns();
	int rc;

	cc->existed = 0;
	cc->repaired = 0;
	if ((rc = base_sum_put(c, t, cc)))
		return rc;
	if (mdb_get(t, c->obj, &k, &v) == 0) {
		if (obj_intact(c, t, &v, w->size)) {
			cc->existed = 1;
			/* the chunks this put wrote early are not needed */
			if (w->owner.registered &&
			    (rc = kb_cache__pend_done_txn(c, t, w->owner.token, 1)))
				return rc;
			/* already stored: only its last use changes */
			v.mv_size = sizeof(now_ns);
			v.mv_data = &now_ns;
			return kb_cache__mdb(c, mdb_put(t, c->atime, &k, &v, 0),
					     "cannot record use");
		}
		/* stored with parts missing (e.g. by kbisect <= 440f7c9, whose re-put
		 * raced an eviction): this put replaces it */
		if (w->tail_skipped)
			return KB__NEEDTAIL;
		cc->repaired = 1; /* evicted below, once our chunks hold references */
	} else if (w->tail_skipped) {
		/* evicted since commit looked: the last batch must be stored after all */
		return KB__NEEDTAIL;
	}
	if (w->used_delta) {
		/* the base must still be there (a concurrent gc may have taken it) */
		MDB_val bk = { 32, w->base.b }, bv;
		char s[16];
		if (mdb_get(t, c->obj, &bk, &bv) != 0 && (cc->vanished = 1))
			return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE,
					     "delta base %s vanished from cache '%s' during the put; "
					     "put the object again", kb_cache__short(s, &w->base), c->dir);
	}
	if ((rc = write_chunks_txn(c, t, w, 1)))
		return rc;
	if (w->owner.registered &&
	    (rc = kb_cache__pend_done_txn(c, t, w->owner.token, 0)))
		return rc;
	for (size_t i = 0; i < w->n_pend; i++) {
		MDB_val ck = { 32, w->pend[i].id.b }, cv;
		struct kb_chunk_ref r;
		if (mdb_get(t, c->cref, &ck, &cv) != 0 || cv.mv_size != sizeof(r)) {
			char s[16];
			cc->vanished = 1;
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
	if (cc->repaired && ((rc = kb_cache__evict_txn(c, t, &cc->id)) ||
			     (rc = base_sum_put(c, t, cc))))
		return rc;
	memset(&h, 0, sizeof(h));
	h.magic = KB_OBJ_MAGIC;
	h.kind = (uint8_t)w->opts.kind;
	h.flags = (w->opts.pin ? KB_OBJF_PINNED : 0) | (w->used_delta ? KB_OBJF_DELTA : 0);
	h.nparts = (uint32_t)w->n_pend;
	h.size = w->size;
	h.stored = w->stored;
	h.created = now;
	if (w->used_delta)
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
	v.mv_size = sizeof(now_ns);
	v.mv_data = &now_ns;
	if ((rc = kb_cache__mdb(c, mdb_put(t, c->atime, &k, &v, 0), "cannot record use")))
		return rc;
	if (w->used_delta) {
		uint8_t dk[64];
		MDB_val dkv = { 64, dk }, e = { 0, "" };
		memcpy(dk, w->base.b, 32);
		memcpy(dk + 32, cc->id.b, 32);
		if ((rc = kb_cache__mdb(c, mdb_put(t, c->dep, &dkv, &e, 0),
					"cannot record a delta base")))
			return rc;
	} else if (is_delta_kind(w->opts.kind) && w->size >= DELTA_MIN_BASE && !w->opts.no_delta) {
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

/* kb_cache_writer_commit; *vanished (may be NULL) tells a failure because a chunk or
 * delta base the put reused was evicted meanwhile: putting the bytes again works. */
static int writer_commit_ex(kb_key *out_id, kb_cache_writer *w, const kb_key *expect,
			    int *vanished)
{
	kb_cache *c = w->c;
	struct commit_ctx cc = { w, { { 0 } }, 0, 0, 0, 0, { 0 } };
	unsigned int n = 0;
	uint64_t limit = 0;
	int rc = 0;

	if (w->failed) {
		kb_cache_writer_abort(w);
		return kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE,
				     "commit of a failed cache writer; put the object again");
	}
	/* the last, partial batch: hash it first (already-stored objects skip the work) */
	if (w->batch_len)
		EVP_DigestUpdate(w->sha, w->batch, w->batch_len);
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
	if (w->batch_len) {
		if (kb_cache_has(c, &cc.id)) {
			/* stored already: the commit only touches it, unless it is gone
			 * by then (KB__NEEDTAIL below); the batch is kept for that */
			w->tail_skipped = 1;
		} else {
			rc = add_parts(w, w->batch, w->batch_len, 0);
			w->batch_len = 0;
		}
	}
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
					   "--limit'", (unsigned long long)w->stored, c->dir,
					   (unsigned long long)limit);
	}
	if (w->raw_linked) {
		struct stat st;
		if (lstat(w->raw_tmp, &st) != 0 || (uint64_t)st.st_size != w->size)
			w->raw_err = 1; /* the input changed size meanwhile */
	}
	cc.keep_raw = (w->raw_fd >= 0 || w->raw_linked) && !w->raw_err &&
		      w->raw_written == w->size &&
		      !w->used_delta && w->size >= DELTA_MIN_BASE && w->raw_xxh;
	if (cc.keep_raw) {
		XXH128_hash_t x = XXH3_128bits_digest(w->raw_xxh);
		memcpy(cc.raw_sum, &x.low64, 8);
		memcpy(cc.raw_sum + 8, &x.high64, 8);
		memcpy(cc.raw_sum + 16, &w->size, 8);
	}
	if (!rc)
		rc = bg_join(w);
	if (!rc && kb_cache__test_hook)
		kb_cache__test_hook("commit", c); /* tests: evict between check and commit */
	if (!rc)
		rc = kb_cache__write(c, commit_fn, &cc);
	if (rc == KB__NEEDTAIL) {
		/* the object vanished (or was damaged) since it was looked up: store the
		 * last batch too and commit again */
		w->tail_skipped = 0;
		rc = add_parts(w, w->batch, w->batch_len, 0);
		w->batch_len = 0;
		if (!rc)
			rc = bg_join(w);
		if (!rc)
			rc = kb_cache__write(c, commit_fn, &cc);
		if (rc == KB__NEEDTAIL)
			rc = kb_error_setc(KB_ERROR, KB_ERRCLASS_CACHE, "internal: the last "
					   "batch of a put into '%s' was dropped twice", c->dir);
	}
	if (!rc && out_id)
		*out_id = cc.id;
	if (!rc)
		kb_cache__pend_unregister(c, &w->owner); /* its entries went with the commit */
	if (!rc && cc.keep_raw) {
		char path[4200];
		base_file_path(path, sizeof(path), c, &cc.id);
		if (w->raw_fd >= 0)
			fchmod(w->raw_fd, kb_cache__file_mode());
		if ((w->raw_fd < 0 || close(w->raw_fd) == 0) && rename(w->raw_tmp, path) == 0) {
			free(w->raw_tmp);
			w->raw_tmp = NULL;
		}
		w->raw_fd = -1;
		base_files_prune(c, &cc.id);
	}
	kb_cache_writer_abort(w);
	if (!rc && limit)
		rc = kb_cache__enforce_limit(c, &cc.id);
	if (vanished)
		*vanished = rc && cc.vanished;
	return rc;
}

int kb_cache_writer_commit(kb_key *out_id, kb_cache_writer *w, const kb_key *expect)
{
	return writer_commit_ex(out_id, w, expect, NULL);
}

/* An abandoned put: delete the chunks it wrote early that nothing else uses. */
static int drop_fn(kb_cache *c, MDB_txn *t, void *arg)
{
	return kb_cache__pend_done_txn(c, t, arg, 1);
}

void kb_cache_writer_abort(kb_cache_writer *w)
{
	if (!w)
		return;
	crew_stop(&w->crew);
	bg_wait(w);
	if (w->owner.registered) {
		/* keep the error that made the caller abort */
		const kb_error *e = kb_error_last();
		int code = e->code, klass = e->klass;
		char *msg = e->message ? strdup(e->message) : NULL;
		if (kb_cache__write(w->c, drop_fn, w->owner.token) == 0)
			kb_cache__pend_unregister(w->c, &w->owner);
		else
			close(w->owner.fd); /* the next gc drops them (the lock is gone) */
		if (msg)
			kb_error_setc(code, klass, "%s", msg);
		else
			kb_error_clear();
		free(msg);
	}
	pend_release(w);
	free(w->arena);
	free(w->pend);
	EVP_MD_CTX_free(w->sha);
	free(w->batch);
	for (int i = 0; i < 2; i++) {
		ZSTD_freeCCtx(w->cctx[i]);
		free(w->scratch[i]);
	}
	if (w->base_mapped)
		munmap(w->base_buf, w->base_len);
	else
		free(w->base_buf);
	if (w->raw_fd >= 0)
		close(w->raw_fd);
	if (w->raw_xxh)
		XXH3_freeState(w->raw_xxh);
	if (w->raw_tmp) {
		unlink(w->raw_tmp);
		free(w->raw_tmp);
	}
	free(w);
}

/* put_fd reads the next batch while the writer hashes and compresses this one. */
struct readahead {
	struct side_job job; /* first: the writer calls job.fn(&job) */
	int fd;
	uint8_t *buf;
	size_t cap, have;
	int eof, err;
};

/* Fill ra->buf up to its capacity, or to the end of the input. */
static void readahead_fill(struct side_job *j)
{
	struct readahead *ra = (struct readahead *)j;

	ra->have = 0;
	ra->eof = 0;
	ra->err = 0;
	while (ra->have < ra->cap) {
		ssize_t r = read(ra->fd, ra->buf + ra->have, ra->cap - ra->have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ra->err = errno;
			break;
		}
		if (r == 0) {
			ra->eof = 1;
			break;
		}
		ra->have += (size_t)r;
	}
}

static int put_fd_once(kb_key *out_id, kb_cache *c, int fd, const kb_put_opts *opts,
		       const char *src, const struct stat *st, int *vanished)
{
	kb_cache_writer *w;
	const size_t cap = (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE;
	struct readahead ra[2];
	int rc = 0, cur = 0;

	if ((rc = writer_open_ex(&w, c, opts, src, st)))
		return rc;
	memset(ra, 0, sizeof(ra));
	for (int i = 0; i < 2; i++) {
		ra[i].job.fn = readahead_fill;
		ra[i].fd = fd;
		ra[i].cap = cap;
		/* whole batches, so that each goes to the writer without a copy */
		if (!(ra[i].buf = big_alloc(cap))) {
			free(ra[0].buf);
			kb_cache_writer_abort(w);
			return oom(c);
		}
	}
	readahead_fill(&ra[0].job);
	for (;;) {
		struct readahead *a = &ra[cur], *next = &ra[1 - cur];
		if (a->err) {
			errno = a->err;
			rc = kb_error_os("cannot read the data to put into cache '%s'", c->dir);
			break;
		}
		if (!a->have)
			break;
		if (!a->eof) {
			next->job.done = 0;
			w->side = &next->job;
		}
		rc = kb_cache_writer_write(w, a->buf, a->have);
		w->side = NULL;
		if (!a->eof && !next->job.done)
			readahead_fill(&next->job); /* the writer had no batch to run it with */
		if (rc || a->eof)
			break;
		cur = 1 - cur;
	}
	free(ra[0].buf);
	free(ra[1].buf);
	if (rc) {
		kb_cache_writer_abort(w);
		return rc;
	}
	return writer_commit_ex(out_id, w, NULL, vanished);
}

/* A put whose reused chunks were evicted under it (a busy cache at its limit) is
 * done again, when the input can be read again. */
#define PUT_TRIES 3

static int put_fd_ex(kb_key *out_id, kb_cache *c, int fd, const kb_put_opts *opts,
		     const char *src, const struct stat *st)
{
	int rc = 0, vanished = 0;

	for (int i = 0; i < PUT_TRIES; i++) {
		rc = put_fd_once(out_id, c, fd, opts, src, st, &vanished);
		if (!rc || !vanished || !st || lseek(fd, 0, SEEK_SET) != 0)
			break;
	}
	return rc;
}

int kb_cache_put_fd(kb_key *out_id, kb_cache *c, int fd, const kb_put_opts *opts)
{
	return put_fd_ex(out_id, c, fd, opts, NULL, NULL);
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
	rc = put_fd_ex(out_id, c, fd, opts, path, S_ISREG(st.st_mode) ? &st : NULL);
	close(fd);
	if (rc && kb_error_last()->klass == KB_ERRCLASS_OS)
		kb_error_prefix("while putting '%s'", path);
	return rc;
}

int kb_cache_put_buf(kb_key *out_id, kb_cache *c, const void *data, size_t len,
		     const kb_put_opts *opts)
{
	int rc = 0, vanished = 0;

	for (int i = 0; i < PUT_TRIES; i++) {
		kb_cache_writer *w;
		if ((rc = kb_cache_writer_open(&w, c, opts)))
			return rc;
		if ((rc = kb_cache_writer_write(w, data, len))) {
			kb_cache_writer_abort(w);
			return rc;
		}
		rc = writer_commit_ex(out_id, w, NULL, &vanished);
		if (!rc || !vanished)
			break;
	}
	return rc;
}

/* ---------------------------------------------------------------------------- */
/* Reader                                                                        */

struct kb_cache_reader {
	kb_cache *c;
	kb_key id;
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
		rc = chunk_decode(r->c, &r->parts[part], &v, r->dctx[slot], r->base, r->base_len,
				  dst, KB_CHUNK_SIZE, len);
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
		crew_run(&r->crew, n, decode_slot, r);
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
	r->dctx[0] = ZSTD_createDCtx();
	r->dctx[1] = ZSTD_createDCtx();
	r->sha = EVP_MD_CTX_new();
	r->bbuf = malloc((size_t)BATCH_CHUNKS * KB_CHUNK_SIZE);
	if (!r->parts || !r->dctx[0] || !r->dctx[1] || !r->sha || !r->bbuf ||
	    EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL) != 1) {
		kb_cache_reader_free(r);
		return oom(c);
	}
	if (r->h.flags & KB_OBJF_DELTA) {
		kb_key base;
		char s[16];
		memcpy(base.b, r->h.base, 32);
		if (use_file) {
			kb_object_info bi;
			int linked = 0;
			if (kb_cache_object_info(&bi, c, &base) == 0 && !bi.is_delta &&
			    bi.size <= SIZE_MAX / 2 &&
			    (r->base = base_file_map(c, &base, bi.size, &linked))) {
				r->base_len = (size_t)bi.size;
				r->base_mapped = 1;
				/* a link shares its bytes with a file outside the cache, which
				 * may have changed since: check it (a few ms) before use */
				if (linked && use_file == 2 &&
				    base_file_sum_ok(c, &base, r->base, bi.size) != 1) {
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
	if (kb_cache__tier_on(c)) /* read-through (tier.c) */
		kb_cache__tier_object(c, id);
	return reader_open_ex(out, size, c, id, 1, 2);
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
			if (len - got >= (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE) {
				/* decode straight into the caller's buffer; every chunk but
				 * the object's last is full, so the slots are contiguous */
				size_t n;
				if ((rc = fill_batch(r, buf + got)))
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
	crew_stop(&r->crew);
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

/* malloc for tens of MB (delta bases, whole objects): aligned to 2 MiB and backed by
 * transparent huge pages where the kernel allows, which makes the page faults of
 * filling it and the unmapping of freeing it several times cheaper. free() frees it. */
static void *big_alloc(size_t len)
{
	const size_t huge = (size_t)2 << 20;
	void *p;

	if (len < 4 * huge)
		return malloc(len);
	if (posix_memalign(&p, huge, len) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, len & ~(huge - 1), MADV_HUGEPAGE);
#endif
	return p;
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
	    !(buf = big_alloc((size_t)size + (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE + 1))) {
		kb_cache_reader_free(r);
		return oom(c);
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
		return oom(r->c);
	p->r = r;
	p->fd = fd;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	/* one region for the ring: a few huge pages instead of a fault per 4 KiB */
	if (!(p->ring = big_alloc((size_t)GET_RING * KB_CHUNK_SIZE))) {
		rc = oom(r->c);
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
		return oom(c);
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
