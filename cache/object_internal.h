/*
 * cache/object_internal.h - what the files of the object store share, and nothing
 * outside them includes (cache_internal.h has what the rest of cache/ needs):
 * the two-thread crew (crew.c), the chunk codec (chunk.c), object headers
 * (object.c), base files (basefile.c) and the body of a writer (object_write.c,
 * object_put.c).
 * The files of cache/ in layers, bottom first; a file calls only files of earlier
 * layers (and, in layer 5, object_put.c -> object_write.c -> object_read.c):
 *   1. cache.c (LMDB environment, txns, counters), damage.c
 *   2. crew.c, chunk.c, basefile.c
 *   3. pending.c, object.c (object tables; evicting one object)
 *   4. gc.c (which objects to evict; the limit)
 *   5. object_read.c, object_write.c, object_put.c, records.c (+ record_codec.c)
 *   6. verify.c, recover.c, stats.c
 */
#ifndef KB_CACHE_OBJECT_INTERNAL_H
#define KB_CACHE_OBJECT_INTERNAL_H

#include <stdatomic.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache_internal.h"

#define BATCH_CHUNKS 8                 /* chunks hashed/compressed/decoded together */
#define DELTA_MIN_BASE (256u << 10)    /* smaller bases are not worth a delta */

/* ---- the two-thread crew (crew.c) ---- */

/** Jobs 0..n-1 of one kb_cache__crew_run(), taken in order by either thread. */
struct par {
	void (*fn)(void *arg, size_t i, int slot);
	void *arg;
	size_t n;
	_Atomic size_t next;
};

/** A second thread that lives as long as its writer or reader and takes jobs of each
 * kb_cache__crew_run(). Not one thread per batch: creating threads costs, and on a
 * loaded machine a new thread waits behind every runnable task (the scheduler's start
 * debit), while a sleeping one is woken early. Zeroed memory is a crew not started. */
struct crew {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int state;          /* 0 not started, 1 running, -1 no thread (run inline) */
	int stop, busy;
	unsigned int gen, done;
	struct par *par;
};

/** Run fn(arg, i, slot) for every i < n on the calling thread (slot 0) and the crew's
 * thread (slot 1), taking jobs in order; slot names the thread, for per-thread state. */
void kb_cache__crew_run(struct crew *cr, size_t n, void (*fn)(void *arg, size_t i, int slot),
			void *arg);

/** Stop and join the crew's thread (none started ok); the crew can run again. */
void kb_cache__crew_stop(struct crew *cr);

/** malloc for tens of MB, on huge pages where the kernel allows; free() frees it. */
void *kb_cache__big_alloc(size_t len);

/* ---- chunks (chunk.c) ---- */

/** Payload prefix of a KB_CODEC_ZSTD_PREFIX chunk: the window of the base it needs. */
struct kb_chunk_ext {
	uint64_t prefix_off;
	uint32_t prefix_len;
	uint32_t pad;
};

/** Build a chunk value (header + payload) from raw bytes: zstd, or zstd with the prefix
 * base[poff, poff + plen) when base is not NULL, or raw when compression does not help.
 * The value's memory comes from alloc(actx, len); NULL on failure. */
void *kb_cache__chunk_encode(size_t *out_len, ZSTD_CCtx *cctx, uint8_t *scratch,
			     size_t scratch_cap, const void *raw, size_t raw_len,
			     const uint8_t *base, uint64_t poff, uint32_t plen,
			     void *(*alloc)(void *actx, size_t len), void *actx);

/** Check stored chunk value v of chunk cid and decode it into out (capacity cap); *n
 * gets the raw length; base is needed for KB_CODEC_ZSTD_PREFIX chunks. 0 or
 * KB_ECORRUPT with a message naming the chunk. */
int kb_cache__chunk_decode(kb_cache *c, const kb_key *cid, const MDB_val *v, ZSTD_DCtx *dctx,
			   const uint8_t *base, size_t base_len, void *out, size_t cap,
			   size_t *n);

/** Does chunk id exist (in a read txn of its own)? Its stored size goes to *stored. */
int kb_cache__chunk_lookup(kb_cache *c, const kb_key *id, uint64_t *stored);

/* ---- object headers (object.c) ---- */

/** Read and check the header of object id in t; *parts (may be NULL) points into the
 * txn's memory. 0, KB_ENOTFOUND or KB_ECORRUPT, with a message. */
int kb_cache__obj_lookup(kb_cache *c, MDB_txn *t, const kb_key *id, struct kb_obj_hdr *h,
			 const uint8_t **parts);

/* ---- decoded delta bases: dir/base/<id hex> (basefile.c) ---- */

/** Path of the base file of id into buf (n bytes); id NULL: the directory. */
void kb_cache__base_file_path(char *buf, size_t n, kb_cache *c, const kb_key *id);

/** Map the base file of id when it has size bytes (*linked, may be NULL: it is a hard
 * link to the input of its put); NULL otherwise. munmap() it. */
uint8_t *kb_cache__base_file_map(kb_cache *c, const kb_key *id, uint64_t size, int *linked);

/** Does a mapped base file match the XXH3-128 its put recorded? 1 yes, 0 no, -1 nothing
 * recorded (a cache of an older kbisect). */
int kb_cache__base_file_sum_ok(kb_cache *c, const kb_key *id, const uint8_t *map,
			       uint64_t size);

/** Record sum (XXH3-128 and size) of the base file of id, in write txn t. */
int kb_cache__base_file_sum_put(kb_cache *c, MDB_txn *t, const kb_key *id,
				const uint8_t sum[24]);

/** Keep the newest base files, the one of id (just written) first; drop temporaries of
 * killed writers. Best effort. */
void kb_cache__base_files_prune(kb_cache *c, const kb_key *id);

/* ---- the writer (object_write.c; committed by object_put.c) ---- */

/** A chunk of a writer's object, in order; its value until written. */
struct pending_chunk {
	kb_key id;
	void *val;      /* NULL once written (or when the chunk existed) */
	size_t len;
};

/** A job that runs beside the next batch (put_fd reads the batch after it). */
struct side_job {
	void (*fn)(struct side_job *j);
	int done;
};

/** A put in progress (object_write.c fills it, object_put.c commits it). */
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

/** Open a writer; src (may be NULL): the input file (put_file, st its fstat), which the
 * base file may link to. */
int kb_cache__writer_open_ex(kb_cache_writer **out, kb_cache *c, const kb_put_opts *opts,
			     const char *src, const struct stat *st);

/** Hash (when hash is set), dedup and compress data (whole chunks but maybe the last)
 * into the writer's parts, writing values to the store past FLUSH_BYTES. */
int kb_cache__add_parts(kb_cache_writer *w, const uint8_t *data, size_t len, int hash);

/** Wait for the writer's background flush; 0 or its error (message set here). */
int kb_cache__bg_join(kb_cache_writer *w);

/** Store the chunk values still in memory, inside write txn t (final: the commit's
 * txn, whose chunks need no owner). */
int kb_cache__write_chunks_txn(kb_cache *c, MDB_txn *t, kb_cache_writer *w, int final);

/** 1 for the kinds stored as deltas of the previous object of their kind. */
int kb_cache__is_delta_kind(int kind);

#endif
