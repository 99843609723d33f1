/*
 * cache/object_write.c - the streaming writer of objects: chunking, hashing, zstd
 * compression, deltas against a base, early writes of the chunks of large objects.
 * Owns: kb_cache_writer_open/write/abort, the choice of a delta base for a put, the
 * raw copy that becomes the next base file.
 * Not: the commit that makes an object visible and the whole-input puts
 * (object_put.c), reading (object_read.c), chunk values (chunk.c), base files
 * (basefile.c).
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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "object_internal.h"

#define FLUSH_BYTES (64u << 20)        /* write pending chunks past this */
#define FLUSH_EARLY (1u << 20)         /* from the third batch on, write chunks of this
					* much in the background (one txn at a time) */
#define DELTA_WINDOW (256u << 10)      /* base bytes either side of the chunk's offset */
#define DELTA_KEEP_RATIO 0.6           /* first batch: keep deltas when <= 0.6 x plain */
#define DELTA_POOR_RATIO 4             /* delta chunk > raw/4: try plain as well */
#define PROBE_EVERY 4                  /* first batch: chunks compressed both ways */

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

static int pend_add(kb_cache_writer *w, const kb_key *id, void *val, size_t len)
{
	if (w->n_pend == w->cap_pend) {
		size_t cap = w->cap_pend ? w->cap_pend * 2 : 64;
		void *p = realloc(w->pend, cap * sizeof(*w->pend));
		if (!p)
			return kb_cache__oom(w->c);
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
int kb_cache__write_chunks_txn(kb_cache *c, MDB_txn *t, kb_cache_writer *w, int final)
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

int kb_cache__bg_join(kb_cache_writer *w)
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
	return kb_cache__write_chunks_txn(c, t, arg, 0);
}

static int flush_pending_chunks(kb_cache_writer *w)
{
	int rc = kb_cache__bg_join(w);

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

static void cand_make(kb_cache_writer *w, struct cand *cd, const kb_key *id, struct item *it,
		      int slot, const uint8_t *base, uint64_t poff, uint32_t plen)
{
	cd->have = 1;
	cd->id = *id;
	cd->val = NULL;
	cd->exists = kb_cache__chunk_lookup(w->c, id, &cd->stored);
	if (cd->exists)
		return;
	cd->val = kb_cache__chunk_encode(&cd->len, w->cctx[slot], w->scratch[slot],
					 w->scratch_cap, it->raw, it->raw_len, base, poff, plen,
					 val_alloc, w);
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

int kb_cache__is_delta_kind(int kind)
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

	if (size > SIZE_MAX / 2 || !(map = kb_cache__base_file_map(c, id, size, NULL)))
		return -1;
	ok = kb_cache__base_file_sum_ok(c, id, map, size); /* recorded by the put that wrote it */
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
		if (kb_cache__obj_lookup(c, t, id, &h, &parts) == 0 && !(h.flags & KB_OBJF_DELTA) &&
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
	kb_cache__crew_run(&w->crew, h.nparts, piece_check, &pc);
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
	} else if (kb_cache__is_delta_kind(w->opts.kind)) {
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

	if (!kb_cache__is_delta_kind(w->opts.kind) || w->opts.no_delta || w->raw_fd >= 0 || w->raw_tmp)
		return;
	kb_cache__base_file_path(dir, sizeof(dir), w->c, NULL);
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

/* Hash, dedup and compress data (whole chunks but maybe the last) into parts. */
int kb_cache__add_parts(kb_cache_writer *w, const uint8_t *data, size_t len, int hash)
{
	struct item items[BATCH_CHUNKS];
	struct batch_ctx b = { w, items, NULL, NULL, 0, NULL };

	if (!w->arena && len >= (size_t)BATCH_CHUNKS * KB_CHUNK_SIZE) {
		/* a large object: room for the values of FLUSH_BYTES and two more batches
		 * (address space only; pages are touched as values are stored) */
		w->arena_cap = FLUSH_BYTES + (size_t)2 * BATCH_CHUNKS * (w->scratch_cap + 64);
		w->arena = kb_cache__big_alloc(w->arena_cap);
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
		kb_cache__crew_run(&w->crew, n + 1 + (b.side != NULL), batch_item, &b);
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
				kb_cache__crew_run(&w->crew, n, plain_item, &b);
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
				rc = kb_cache__oom(w->c);
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
		if (w->bg.running && w->bg.done && (rc = kb_cache__bg_join(w)))
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

/* src: the input file (put_file, st its fstat), which the base file may link to. */
int kb_cache__writer_open_ex(kb_cache_writer **out, kb_cache *c, const kb_put_opts *opts,
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
		return kb_cache__oom(c);
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
		return kb_cache__oom(c);
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
	return kb_cache__writer_open_ex(out, c, opts, NULL, NULL);
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
			if ((rc = kb_cache__add_parts(w, data, cap, 1)))
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
			if ((rc = kb_cache__add_parts(w, w->batch, cap, 1)))
				goto fail;
			w->batch_len = 0;
		}
	}
	return 0;
fail:
	w->failed = 1;
	return rc;
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
	kb_cache__crew_stop(&w->crew);
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
