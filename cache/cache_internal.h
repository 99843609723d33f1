/*
 * cache/cache_internal.h - the body of struct kb_cache and the kb_cache__ internals
 * shared by the files of cache/ (never included from outside cache/ and tests/).
 *
 * On-disk layout: one LMDB environment (dir/data.mdb, dir/lock.mdb) plus
 * dir/kbisect.lock (flock: shared by every open handle, exclusive for compact), plus
 * dir/base/<id hex>: the raw bytes of the newest delta bases (derived data, basefile.c).
 * Named databases:
 *   meta   "format" -> u32, "limit" -> u64, "base:<kind>" -> id, "stat:<name>" -> u64
 *   obj    object id (32) -> struct kb_obj_hdr + nparts * 32-byte chunk ids
 *   atime  object id -> i64 last use (unix time, nanoseconds)
 *   chunk  chunk id = SHA-256 of the chunk's bytes (32) -> struct kb_chunk_hdr + payload
 *   cref   chunk id -> struct kb_chunk_ref (reference count, creation time)
 *   dep    base id (32) + dependant id (32) -> "" (delta bases in use)
 *   build  build key -> JSON build record
 *   bysig  signature (32) + build key (32) -> ""
 *   test   test key (32) + be64 time_ns + be32 pid + be32 seq -> JSON run
 *   ref    ns (1) + key (32) -> object id (32)
 *   pend   writer token (16) + chunk id (32) -> u64 stored size (chunks of puts not
 *          committed yet; pending.c)
 * All integers on disk are little-endian (x86_64 hosts share a cache; the format
 * version guards changes).
 */
#ifndef KB_CACHE_INTERNAL_H
#define KB_CACHE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#include "kbisect/cache.h"
#include "common/error_internal.h"

/** On-disk format version (meta "format"); a newer one gives KB_EVERSION. */
#define KB_CACHE_FORMAT 1

/** Uncompressed size of one chunk of a plain object. */
#define KB_CHUNK_SIZE (1u << 20)

/** Returned by write callbacks when LMDB says MDB_MAP_FULL: grow the map, retry. */
#define KB__MAPFULL (-1000)

/** Returned by the commit txn of a writer that skipped its last batch (the object was
 * stored) when the object is gone or damaged by then: chunk the batch, commit again. */
#define KB__NEEDTAIL (-1001)

/** Tests only: when set, called at named points of the store ("commit": a writer has
 * looked up its object and is about to commit) to inject a concurrent change. */
extern void (*kb_cache__test_hook)(const char *point, kb_cache *c);

#define KB_OBJ_MAGIC 0x314a424bu   /* "KBJ1" */
#define KB_CHUNK_MAGIC 0x31434b4bu /* "KKC1" */

/** Object flags. */
#define KB_OBJF_DELTA (1u << 0)  /**< parts are the pieces of one zstd delta frame */
#define KB_OBJF_PINNED (1u << 1) /**< never evicted */

/** Chunk codecs. */
#define KB_CODEC_RAW 0  /**< payload is the bytes themselves */
#define KB_CODEC_ZSTD 1 /**< payload is one zstd frame of raw_len bytes */
#define KB_CODEC_ZSTD_PREFIX 2 /**< payload: window of the delta base + zstd frame */

/** Header of a value in "obj"; followed by nparts 32-byte chunk ids. */
struct kb_obj_hdr {
	uint32_t magic;
	uint8_t kind;
	uint8_t flags;
	uint16_t pad;
	uint32_t nparts;
	uint32_t pad2;
	uint64_t size;       /* uncompressed bytes */
	uint64_t stored;     /* sum of the parts' stored sizes (before dedup) */
	int64_t created;
	uint8_t base[32];    /* delta base when KB_OBJF_DELTA */
};

/** Header of a value in "chunk"; followed by payload_len bytes. */
struct kb_chunk_hdr {
	uint32_t magic;
	uint8_t codec;
	uint8_t pad[3];
	uint32_t raw_len;
	uint32_t payload_len;
	uint64_t xxh3;       /* XXH3-64 of the payload */
};

/** Value in "cref". */
struct kb_chunk_ref {
	uint64_t refs;
	int64_t created;
};

/** Persistent counters (meta "stat:<name>"), see kb_cache_stats. */
enum kb_stat {
	KB_ST_HIT0 = 0,                         /* hits per kind: +kind */
	KB_ST_MISS0 = KB_ST_HIT0 + KB_OBJ_KIND_MAX, /* misses per kind: +kind */
	KB_ST_BUILD_HITS = KB_ST_MISS0 + KB_OBJ_KIND_MAX,
	KB_ST_BUILD_MISSES,
	KB_ST_TEST_HITS,
	KB_ST_TEST_MISSES,
	KB_ST_EVICTIONS,
	KB_ST_SAVED_MS,                         /* build time saved, milliseconds */
	KB_ST_CHUNKS,                           /* unique chunks stored */
	KB_ST_CHUNK_BYTES,                      /* their stored bytes (header + payload) */
	KB_ST_PEND_BYTES,                       /* of which: chunks of puts in flight */
	KB_ST_RECORD_BYTES,                     /* build records and test runs (key+value) */
	KB_ST_MAX
};

struct kb_cache {
	char *dir;
	MDB_env *env;
	unsigned int flags;
	int lockfd;
	MDB_dbi meta, obj, atime, chunk, cref, dep, build, bysig, test, ref, pend;
	int have_pend;                  /* "pend" exists (a read-only open of an old cache) */
	void *_Atomic map_addr;         /* where LMDB maps data.mdb (damage.c) */
	/* Map resizes need every txn of this process closed: txns hold it shared. */
	pthread_rwlock_t txn_lock;
	/* Counters and last-use times gathered by readers, flushed by the next write. */
	pthread_mutex_t pend_lock;
	int64_t pend_stat[KB_ST_MAX];
	struct kb_atime_pend { kb_key id; int64_t t; } *pend_atime;
	size_t n_pend_atime, cap_pend_atime;
	int64_t last_flush;             /* unix time of the last flush of the above */
	kb_cache_tier tier;             /* second tier (tier.c); all NULL: none */
};

/* ---- tier.c: read-through and write-through to a second tier ---- */

/** 1 if c has a tier and this thread is not inside a tier call (local mode). */
int kb_cache__tier_on(const kb_cache *c);

/** Make object id present locally (asks the tier on a miss); errors are left to the
 * local read that follows. */
void kb_cache__tier_object(kb_cache *c, const kb_key *id);

/** kb_cache_ref_get / _ref_set in KB_REF_AC through the tier. */
int kb_cache__tier_ac_get(kb_key *out_id, kb_cache *c, const kb_key *key);
int kb_cache__tier_ac_set(kb_cache *c, const kb_key *key, const kb_key *id);

/** kb_cache_build_get / _build_put / _builds_by_signature through the tier. */
int kb_cache__tier_build_get(kb_build_record *out, kb_cache *c, const kb_key *build_key);
int kb_cache__tier_build_put(kb_cache *c, const kb_build_record *rec);
int kb_cache__tier_by_sig(kb_key **out, size_t *n, kb_cache *c, const kb_key *sig);

/** kb_cache_test_add_many / _test_list through the tier. */
int kb_cache__tier_test_add(kb_cache *c, const kb_key *test_key, const kb_test_run *runs,
			    size_t n);
int kb_cache__tier_test_list(kb_test_run **out, size_t *n, kb_cache *c,
			     const kb_key *test_key);

/** Exit code of a verify/recover child whose read of the store faulted (damage.c). */
#define KB_GUARD_EXIT 86

/** Install (once per process) the guard that turns a fault inside a store txn into
 * "cache '<dir>' is damaged" and exit 1; set LMDB's assertion callback on c->env. */
void kb_cache__guard_install(kb_cache *c);

/** This thread enters a store txn of c (the guard blames c for a fault). */
void kb_cache__guard_enter(kb_cache *c);

/** This thread leaves the store txn it entered last. */
void kb_cache__guard_leave(void);

/** In a verify/recover child: a fault writes "FAULT\t<how>\n" to fd and exits
 * KB_GUARD_EXIT, silently. */
void kb_cache__guard_child(int fd);

/** Set "out of memory in cache '<dir>'" and return KB_ERROR. */
int kb_cache__oom(kb_cache *c);

/** Translate an LMDB return code into a kb_error_code with a message about what;
 * MDB_MAP_FULL becomes KB__MAPFULL (no message). */
int kb_cache__mdb(kb_cache *c, int rc, const char *what);

/** Begin a read txn (holds txn_lock shared until kb_cache__txn_end). */
int kb_cache__rtxn(kb_cache *c, MDB_txn **out);

/** End (abort) a read txn; NULL ok. */
void kb_cache__txn_end(kb_cache *c, MDB_txn *t);

/** Run fn in a write txn and commit; on KB__MAPFULL from fn or commit, grow the map
 * and run fn again. Pending counters and last-use times are flushed in the same txn.
 * fn returns 0 or a kb_error_code (or KB__MAPFULL). */
int kb_cache__write(kb_cache *c, int (*fn)(kb_cache *c, MDB_txn *t, void *arg), void *arg);

/** Flush pending counters and last-use times if the last flush is 30 s old or many are
 * waiting (long-running readers such as the server). Best effort. */
void kb_cache__maybe_flush(kb_cache *c);

/** Add delta to a pending persistent counter (thread-safe; flushed by the next write). */
void kb_cache__stat_add(kb_cache *c, int stat, int64_t delta);

/** Add delta to a counter inside write txn t. */
int kb_cache__stat_add_txn(kb_cache *c, MDB_txn *t, int stat, int64_t delta);

/** Read a counter (committed value + pending). */
uint64_t kb_cache__stat_get(kb_cache *c, MDB_txn *t, int stat);

/** Remember that object id was used now (flushed by the next write). */
void kb_cache__touch(kb_cache *c, const kb_key *id);

/** Read a u64 from meta key name; 0 when missing. */
uint64_t kb_cache__meta_u64(kb_cache *c, MDB_txn *t, const char *name);

/** Write a u64 to meta key name in write txn t. */
int kb_cache__meta_put_u64(kb_cache *c, MDB_txn *t, const char *name, uint64_t v);

/** Bytes of a writer token (pending.c). */
#define KB_TOKEN_LEN 16

/** A writer's registration as the owner of chunks written before its commit. */
struct kb_pend_owner {
	int registered;
	int fd;                         /* holds the flock on dir/writers/<token> */
	uint8_t token[KB_TOKEN_LEN];
};

/** Register o (once): 1 when registered, 0 when not possible (then its chunks are
 * orphans only after an hour, as before). */
int kb_cache__pend_register(kb_cache *c, struct kb_pend_owner *o);

/** Drop the registration of o (after its entries are gone); not registered ok. */
void kb_cache__pend_unregister(kb_cache *c, struct kb_pend_owner *o);

/** Record in t that chunk (len stored bytes) was created by owner o (NULL: none). */
int kb_cache__pend_add_txn(kb_cache *c, MDB_txn *t, const struct kb_pend_owner *o,
			   const kb_key *chunk, uint64_t len);

/** Remove the entries of token in t; drop = 1: and delete its chunks that no object
 * references (an abort, or a dead writer). */
int kb_cache__pend_done_txn(kb_cache *c, MDB_txn *t, const uint8_t token[KB_TOKEN_LEN],
			    int drop);

/** Drop the chunks of writers that died (their lock file is not locked), in t. */
int kb_cache__pend_reap_txn(kb_cache *c, MDB_txn *t);

/** Remove temporary files of dead processes (base files, writer files). Best effort. */
void kb_cache__clean_stale_files(kb_cache *c);

/** Remove path.kbtmp.<pid>.* files that a killed get left (their process is gone and
 * they are older than a minute). Best effort (pending.c). */
void kb_cache__clean_stale_tmp(const char *path);

/** Release one reference of chunk cid (force_delete: delete it whatever its count),
 * in write txn t (chunk.c). */
int kb_cache__release_chunk(kb_cache *c, MDB_txn *t, const uint8_t *cid, int force_delete);

/** Evict object id and release its chunks, inside write txn t (object.c). */
int kb_cache__evict_txn(kb_cache *c, MDB_txn *t, const kb_key *id);

/** Evict until stored chunk bytes of committed objects <= target; never keep (may
 * be NULL: the object just put). *n gets the count (gc.c). */
int kb_cache__gc_to(kb_cache *c, uint64_t target, uint64_t *n, const kb_key *keep);

/** Bytes that count toward the limit: chunks of committed objects, records (gc.c). */
uint64_t kb_cache__used_bytes(kb_cache *c);

/** The same, in read or write txn t (gc.c). */
uint64_t kb_cache__used_bytes_txn(kb_cache *c, MDB_txn *t);

/** Past the limit (if any): evict down to 90% of it, never keep (may be NULL; gc.c). */
int kb_cache__enforce_limit(kb_cache *c, const kb_key *keep);

/** Load a whole object into memory, verifying it; not counted as a hit (object_read.c). */
int kb_cache__load(void **out, size_t *len, kb_cache *c, const kb_key *id);

/** Drop the recorded checksum of the base file of id, inside write txn t (basefile.c). */
void kb_cache__base_file_forget(kb_cache *c, MDB_txn *t, const kb_key *id);

/** Remove the decoded copy dir/base/<id hex> of a delta base, if any (basefile.c). */
void kb_cache__base_file_remove(kb_cache *c, const kb_key *id);

/** Load a delta base (checks chunk checksums, not the SHA-256; object_read.c). */
int kb_cache__load_base(uint8_t **out, size_t *len, kb_cache *c, const kb_key *id);

/** Open a reader; count = 0 for internal reads (no hit/miss, no last-use update). */
int kb_cache__reader_open(kb_cache_reader **out, uint64_t *size, kb_cache *c, const kb_key *id,
			  int count);

/** Parse a stored build record (JSON); 0 or KB_ECORRUPT (records.c; for fuzzing; the
 * codec is record_codec.h). */
int kb_cache__build_parse(kb_build_record *out, const void *data, size_t len);

/** Parse a stored test run (JSON); 0 or KB_ECORRUPT (records.c; for fuzzing). */
int kb_cache__run_parse(kb_test_run *out, const void *data, size_t len);

/** Check and decode a stored chunk value (header + payload) into out; *n gets its
 * length. 0 or KB_ECORRUPT (chunk.c; for fuzzing). */
int kb_cache__chunk_check(const void *val, size_t len, const uint8_t *base, size_t base_len,
			  void *out, size_t cap, size_t *n);

/** Read object id back in full (buf: 4 MiB); 1 and why (cap bytes) when damaged, 0
 * when whole or gone meanwhile (verify.c). */
int kb_cache__verify_object(kb_cache *c, const kb_key *id, void *buf, char *why, size_t cap);

/** The part of verify after the objects: reference counts and records (verify.c). */
int kb_cache__verify_tables(kb_cache *c, uint64_t *bad,
			    void (*fn)(const char *what, const char *why, void *arg), void *arg);

/** Mode of a file the cache creates: 0666 less the umask (as open(2) would). */
mode_t kb_cache__file_mode(void);

/** Current unix time. */
int64_t kb_cache__now(void);

/** Current unix time in nanoseconds (last-use times in "atime"). */
int64_t kb_cache__now_ns(void);

/** Short hex prefix of a key for messages ("3fa1b2c3d4e5"). */
const char *kb_cache__short(char buf[16], const kb_key *k);

#endif
