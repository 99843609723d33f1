/*
 * kbisect/cache.h - content-addressed store of built kernels and bisection evidence.
 *
 * One LMDB environment per cache directory, shared by several processes on one host.
 * It holds:
 *  - objects: immutable byte strings (vmlinux, bzImage, .config, logs, VM state)
 *    addressed by the SHA-256 of their uncompressed bytes, stored in zstd-compressed
 *    chunks (deduplicated) or as a zstd delta against a similar object;
 *  - build records, keyed by a build key (kb_build_key_compute), indexed by kernel
 *    signature;
 *  - test results, keyed by a test key (kb_test_key_compute), each a list of runs;
 *  - references: named pointers from an arbitrary 32-byte key to an object
 *    (the HTTP server's /ac/ entries, VM snapshots by kernel signature + settings).
 * Ownership: anything returned through an `out` pointer is the caller's and is freed
 * with the matching _free function; const char * returns are borrowed from the handle.
 */
#ifndef KBISECT_CACHE_H
#define KBISECT_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kbisect/common.h"
#include "kbisect/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kb_cache kb_cache;               /* an open cache (one LMDB env) */
typedef struct kb_cache_reader kb_cache_reader; /* streaming read of one object */
typedef struct kb_cache_writer kb_cache_writer; /* streaming write of one object */

/** @defgroup kb_cache_open Flags for kb_cache_open() */
#define KB_CACHE_CREATE (1u << 0) /**< create the directory and the DB if missing */
#define KB_CACHE_RDONLY (1u << 1) /**< writes fail with KB_EREADONLY */

/** What an object is; used for stats per kind and for eviction policy. */
typedef enum {
	KB_OBJ_BLOB = 0,     /**< anything else (e.g. an HTTP /cas/ upload) */
	KB_OBJ_VMLINUX = 1,  /**< unstripped vmlinux ELF */
	KB_OBJ_BZIMAGE = 2,  /**< bootable kernel image */
	KB_OBJ_CONFIG = 3,   /**< final kernel .config */
	KB_OBJ_BUILDLOG = 4, /**< build output */
	KB_OBJ_CONSOLE = 5,  /**< console log of one test run */
	KB_OBJ_VMSTATE = 6,  /**< saved VM state of a pre-booted guest */
	KB_OBJ_REPRO = 7,    /**< reproducer program or source */
	KB_OBJ_KIND_MAX = 8,
} kb_object_kind;

/** Stable lowercase name of a kb_object_kind ("vmlinux", "bzimage", ...). */
const char *kb_object_kind_name(int kind);

/** Options of one put; zero-initialise and set what you need. */
typedef struct {
	int kind;               /**< a kb_object_kind */
	const kb_key *delta_base; /**< try a zstd delta against this object (NULL: let the
				    cache pick a base of the same kind, or none) */
	int no_delta;           /**< 1: never store as a delta */
	int pin;                /**< 1: never evict (until kb_cache_pin(.., 0)) */
} kb_put_opts;

/**
 * Open (or with KB_CACHE_CREATE create) the cache in dir. On success *out is yours:
 * kb_cache_free() it. Several processes may open the same dir at once.
 * @return 0, KB_ENOTFOUND (no cache there and no CREATE), KB_EVERSION (format newer
 *         than this binary), KB_ECORRUPT (not an LMDB file: see `kbisect cache verify`),
 *         KB_ERROR (kb_error_last())
 */
int kb_cache_open(kb_cache **out, const char *dir, unsigned int flags);

/** Close the cache; NULL ok. */
void kb_cache_free(kb_cache *c);

/** The directory of the cache (borrowed until close). */
const char *kb_cache_dir(const kb_cache *c);

/** Set the size limit in bytes of stored data (0: unlimited); persisted in the DB.
 * Past the limit, puts evict least-recently-used unpinned entries. */
int kb_cache_set_limit(kb_cache *c, uint64_t max_bytes);

/** Store the whole content of fd (read to EOF, streamed; fd need not be seekable).
 * *out_id gets the SHA-256 of the bytes. Storing an existing object is cheap and
 * returns 0. @return 0, KB_EFULL (over the limit, nothing evictable), KB_EREADONLY */
int kb_cache_put_fd(kb_key *out_id, kb_cache *c, int fd, const kb_put_opts *opts);

/** kb_cache_put_fd() on the file at path; errors name the file. */
int kb_cache_put_file(kb_key *out_id, kb_cache *c, const char *path, const kb_put_opts *opts);

/** kb_cache_put_fd() on a memory buffer. */
int kb_cache_put_buf(kb_key *out_id, kb_cache *c, const void *data, size_t len,
		     const kb_put_opts *opts);

/** Write object id to path (via a temporary file and rename, so a corrupt object never
 * leaves a file behind). @return 0, KB_ENOTFOUND, KB_ECORRUPT (checksum mismatch) */
int kb_cache_get_file(kb_cache *c, const kb_key *id, const char *path);

/** Read object id into a malloc'd buffer (*out, *len; free() it). For small objects
 * only (configs, logs). @return 0, KB_ENOTFOUND, KB_ECORRUPT */
int kb_cache_get_buf(void **out, size_t *len, kb_cache *c, const kb_key *id);

/** 1 if the object is stored (does not check its bytes), 0 if not. */
int kb_cache_has(kb_cache *c, const kb_key *id);

/** Open a streaming reader; *size gets the uncompressed size. Marks the object used. */
int kb_cache_reader_open(kb_cache_reader **out, uint64_t *size, kb_cache *c, const kb_key *id);

/** Read up to len bytes; returns the count (0 at the end), or a negative kb_error_code.
 * The SHA-256 is checked when the end is reached: a mismatch returns KB_ECORRUPT
 * instead of 0, so the bytes already read must be discarded. */
ssize_t kb_cache_reader_read(kb_cache_reader *r, void *buf, size_t len);

/** Close a reader; NULL ok. */
void kb_cache_reader_free(kb_cache_reader *r);

/** Start a streaming put. Nothing is visible until kb_cache_writer_commit(). */
int kb_cache_writer_open(kb_cache_writer **out, kb_cache *c, const kb_put_opts *opts);

/** Append bytes to a writer. */
int kb_cache_writer_write(kb_cache_writer *w, const void *data, size_t len);

/** Finish a put and free w. If expect is not NULL and the SHA-256 of the bytes differs,
 * nothing is stored and KB_ECORRUPT is returned. *out_id may be NULL. */
int kb_cache_writer_commit(kb_key *out_id, kb_cache_writer *w, const kb_key *expect);

/** Abandon a put and free w; nothing is stored. NULL ok. */
void kb_cache_writer_abort(kb_cache_writer *w);

/** Pin (1) or unpin (0) an object against eviction. */
int kb_cache_pin(kb_cache *c, const kb_key *id, int pinned);

/** Facts about one stored object. */
typedef struct {
	kb_key id;
	int kind;             /**< kb_object_kind */
	uint64_t size;        /**< uncompressed bytes */
	uint64_t stored;      /**< bytes it occupies after compression, dedup and delta */
	int is_delta;         /**< stored as a delta */
	kb_key delta_base;    /**< valid when is_delta */
	int pinned;
	int64_t created;      /**< unix time */
	int64_t last_used;    /**< unix time */
} kb_object_info;

/** Describe object id. @return 0, KB_ENOTFOUND */
int kb_cache_object_info(kb_object_info *out, kb_cache *c, const kb_key *id);

/** Call fn for each object (ordered by id); stop early when fn returns non-zero. */
int kb_cache_object_foreach(kb_cache *c, int (*fn)(const kb_object_info *info, void *arg),
			    void *arg);

/* ---- references: arbitrary 32-byte key -> object id, in a namespace ---- */

/** Namespaces of references. */
typedef enum {
	KB_REF_AC = 0,       /**< HTTP action cache (/ac/): ccache results and the like */
	KB_REF_VMSTATE = 1,  /**< VM state by kernel signature + VM settings */
	KB_REF_USER = 2,     /**< free for other components */
} kb_ref_ns;

/** Point key (in namespace ns) at object id; replaces an older reference. */
int kb_cache_ref_set(kb_cache *c, int ns, const kb_key *key, const kb_key *id);

/** Remove a reference (its object stays until evicted). @return 0, KB_ENOTFOUND */
int kb_cache_ref_del(kb_cache *c, int ns, const kb_key *key);

/** Look up a reference. @return 0, KB_ENOTFOUND */
int kb_cache_ref_get(kb_key *out_id, kb_cache *c, int ns, const kb_key *key);

/* ---- build records ---- */

#define KB_BUILD_MAX_ARTIFACTS 8

/** The inputs that determine a kernel build's output (hashed into the build key). */
typedef struct {
	const char *git_tree;       /**< tree id (hex) of the commit built */
	const char *config;         /**< bytes of the final .config */
	size_t config_len;
	const char *arch;           /**< "x86_64" */
	const char *compiler;       /**< version string, e.g. "gcc (Debian 12.2.0-14) 12.2.0" */
	const kb_key *compiler_hash; /**< SHA-256 of the compiler binary (may be NULL) */
	const char *make_targets;   /**< e.g. "bzImage" */
	const char *make_args;      /**< e.g. "KERNELVERSION=kbisect ..." */
	const char *kbuild_env;     /**< KBUILD_* settings, "K=V\n" sorted */
} kb_build_inputs;

/** Version of the build manifest format; part of every build key. Bumped when the
 * format changes or when earlier records cannot be trusted (2: with ccache, kbisect
 * <= b925f68 could store a bzImage that embedded an older build's kernel; 3: kernel
 * signatures are syzkaller's per-section-digest algorithm, records before hold the
 * legacy one). */
#define KB_BUILD_SCHEMA 3

/** Build key: SHA-256 of the canonical manifest of in (see docs/architecture.md). */
void kb_build_key_compute(kb_key *out, const kb_build_inputs *in);

/** One named artifact of a build. */
typedef struct {
	char name[32];              /**< "vmlinux", "bzImage", "config", "log" */
	kb_key id;                  /**< object id */
} kb_artifact;

/** What a build produced (or how it failed). */
typedef struct {
	kb_key build_key;
	int ok;                     /**< 1 built, 0 failed (failures are cached too) */
	int has_signature;
	kb_key signature;           /**< kernel signature of vmlinux (when ok) */
	size_t n_artifacts;
	kb_artifact artifacts[KB_BUILD_MAX_ARTIFACTS];
	double duration_s;          /**< wall time the build took */
	char host[64];
	int64_t time;               /**< unix time of the build */
	char git_tree[41];
	char error[512];            /**< first compiler error when !ok */
	char *extra_json;           /**< free-form JSON object (malloc'd, may be NULL),
				       e.g. the dependency-skip input set */
} kb_build_record;

/** Store (or replace) the record under rec->build_key; updates the signature index. */
int kb_cache_build_put(kb_cache *c, const kb_build_record *rec);

/** Load the record of build_key into *out (free with kb_build_record_clear()).
 * Counts a hit or a miss in the stats. The artifacts may have been evicted since the
 * record was written: check them with kb_cache_has(). @return 0, KB_ENOTFOUND */
int kb_cache_build_get(kb_build_record *out, kb_cache *c, const kb_key *build_key);

/** 1 if this cache holds a record of build_key (no remote tier asked, no hit or miss
 * counted: for a writer that only needs to know), 0 if not, or an error (< 0). */
int kb_cache_build_exists(kb_cache *c, const kb_key *build_key);

/** Drop the record of build_key (and its signature index entry) from this cache only,
 * never from a remote tier; its artifacts stay as objects until evicted. The next
 * build of those inputs builds again. @return 0, KB_ENOTFOUND, or an error */
int kb_cache_build_del(kb_cache *c, const kb_key *build_key);

/** The build keys of all records whose kernel has signature sig (*out malloc'd). */
int kb_cache_builds_by_signature(kb_key **out, size_t *n, kb_cache *c, const kb_key *sig);

/** Call fn for every build record; stop when fn returns non-zero. */
int kb_cache_build_foreach(kb_cache *c, int (*fn)(const kb_build_record *rec, void *arg),
			   void *arg);

/** Record that a build was avoided (cache hit or dependency skip) and saved seconds. */
int kb_cache_note_build_saved(kb_cache *c, double seconds);

/** Free what a kb_build_record owns (extra_json); NULL ok. */
void kb_build_record_clear(kb_build_record *rec);

/* ---- test results ---- */

/** The inputs that determine a test's conditions (hashed into the test key). */
typedef struct {
	const kb_key *signature;    /**< kernel signature */
	const kb_key *repro;        /**< SHA-256 of the reproducer */
	const kb_key *guest;        /**< SHA-256 of the initramfs / disk image */
	const char *cmdline;        /**< kernel command line */
	const char *vm_settings;    /**< canonical VM settings ("mem=512M cpus=1 accel=tcg") */
} kb_test_inputs;

/** Version of the test manifest format; part of every test key. Bumped like
 * KB_BUILD_SCHEMA (2: runs recorded under a kernel's signature may have booted another
 * build's kernel, see there; 3: test keys hold today's kernel signatures). */
#define KB_TEST_SCHEMA 3

/** Test key: SHA-256 of the canonical manifest of in. */
void kb_test_key_compute(kb_key *out, const kb_test_inputs *in);

/** One run of a reproducer on one kernel. */
typedef struct {
	int klass;                  /**< kb_run_class */
	char title[256];            /**< crash or infra title, "" for ok */
	double duration_s;
	int has_console;
	kb_key console;             /**< console log object */
	int64_t time;               /**< unix time */
} kb_test_run;

/** Append one run to the results of test_key. */
int kb_cache_test_add(kb_cache *c, const kb_key *test_key, const kb_test_run *run);

/** Append n runs to the results of test_key in one transaction (one fsync: 32,000 runs
 * take well under a second, not one fsync each); all or nothing. */
int kb_cache_test_add_many(kb_cache *c, const kb_key *test_key, const kb_test_run *runs,
			   size_t n);

/** All runs of test_key, oldest first (*out malloc'd, free() it; *n may be 0).
 * Counts a hit (n > 0) or a miss in the stats. */
int kb_cache_test_list(kb_test_run **out, size_t *n, kb_cache *c, const kb_key *test_key);

/* ---- maintenance ---- */

/** Everything `kbisect cache stats` shows. */
typedef struct {
	uint64_t objects[KB_OBJ_KIND_MAX];       /**< count per kind */
	uint64_t object_bytes[KB_OBJ_KIND_MAX];  /**< uncompressed bytes per kind */
	uint64_t stored_bytes[KB_OBJ_KIND_MAX];  /**< bytes after compression/dedup/delta */
	uint64_t hits[KB_OBJ_KIND_MAX], misses[KB_OBJ_KIND_MAX];
	uint64_t builds, build_failures, build_hits, build_misses;
	uint64_t tests, test_runs, test_hits, test_misses;
	uint64_t refs;
	uint64_t chunks, chunk_bytes;            /**< unique chunks and their stored size */
	uint64_t saved_compression;              /**< bytes saved by zstd */
	uint64_t saved_dedup;                    /**< bytes saved by shared chunks */
	uint64_t saved_delta;                    /**< bytes saved by delta encoding */
	double build_seconds_saved;              /**< durations of builds not re-run */
	uint64_t evictions;
	uint64_t limit;                          /**< size limit, 0 = none */
	uint64_t limit_used;                     /**< what counts toward it: chunks of
						   committed objects + records */
	uint64_t record_bytes;                   /**< build records and test runs */
	uint64_t pending_bytes;                  /**< chunks of puts in flight (not counted) */
	uint64_t file_size;                      /**< data.mdb size on disk */
	uint64_t live_bytes;                     /**< pages in use */
	uint64_t free_bytes;                     /**< pages on LMDB's free list */
	uint64_t map_size;
	unsigned int readers, max_readers;
} kb_cache_stats;

/** Fill *out. */
int kb_cache_stats_get(kb_cache_stats *out, kb_cache *c);

/** Evict least-recently-used unpinned objects (never a delta base that a dependant
 * needs) until stored data is at most max_bytes (0: the configured limit).
 * *evicted (may be NULL) gets the number of objects removed. */
int kb_cache_gc(kb_cache *c, uint64_t max_bytes, uint64_t *evicted);

/** Check every object (SHA-256 of its bytes, chunk checksums) and every record.
 * *bad gets the number of damaged entries; fn (may be NULL) is told about each one.
 * @return 0 (even when *bad > 0), KB_ERROR on failure to read */
int kb_cache_verify(kb_cache *c, uint64_t *bad,
		    void (*fn)(const char *what, const char *why, void *arg), void *arg);

/** kb_cache_verify() on the cache in dir, with the reads in child processes, so that
 * it survives what it checks: a read that crashes (a damaged data.mdb page: LMDB keeps
 * no page checksums) is reported as damage of the entry being read, and verify goes on
 * after it. @return 0 (even when *bad > 0), KB_ERROR */
int kb_cache_verify_isolated(const char *dir, uint64_t *bad,
			     void (*fn)(const char *what, const char *why, void *arg), void *arg);

/** What kb_cache_recover() did. */
typedef struct {
	uint64_t objects, objects_lost;  /**< objects copied whole / not readable */
	uint64_t entries, entries_lost;  /**< records and references copied / lost */
	uint64_t bad_after;              /**< damaged entries in the new store (0) */
	char new_dir[4200];              /**< where the recovered cache is */
	char damaged_path[4200];         /**< the old data.mdb, kept ("" with to) */
} kb_recover_result;

/** Copy what is readable of the cache in dir into a new store (reads in child
 * processes, as kb_cache_verify_isolated), verify the copy, and: with to == NULL, swap
 * it in (the old file stays as dir/damaged-<time>.mdb; needs no other process using
 * the cache); else leave dir alone and create the new cache in to. fn is told about
 * each entry lost. @return 0, KB_ELOCKED, KB_EEXISTS (to holds a cache), KB_ERROR */
int kb_cache_recover(const char *dir, const char *to, kb_recover_result *res,
		     void (*fn)(const char *what, const char *why, void *arg), void *arg);

/** Rewrite the DB with LMDB's compacting copy (mdb_env_copy2 MDB_CP_COMPACT) and
 * swap it in; *before and *after get the file sizes. Needs no other writer. */
int kb_cache_compact(kb_cache *c, uint64_t *before, uint64_t *after);


/* ---- a second tier behind the store (a shared cache server) ---- */

/**
 * What a second tier (net/'s client of `kbisect cache serve`: kb_cache_set_remote() in
 * kbisect/remote.h) provides. The store calls these with c in local mode: whatever they
 * call on c touches the local store only. A tier never fails a caller: every function
 * returns 0, KB_ENOTFOUND, or another negative code when the tier could not answer
 * (a host failure, which the tier counts; the store then answers from the local store).
 */
typedef struct {
	void *ctx; /**< passed to every function (the remote handle) */
	/** Download object id into c (checked against id). */
	int (*object_fetch)(void *ctx, kb_cache *c, const kb_key *id);
	/** Send object id (stored in c) to the tier unless it has it. */
	int (*object_push)(void *ctx, kb_cache *c, const kb_key *id);
	/** Download the object of action-cache key into c; *out_id gets its id. */
	int (*ac_fetch)(void *ctx, kb_cache *c, const kb_key *key, kb_key *out_id);
	/** Send object id (stored in c) to the tier under action-cache key. */
	int (*ac_push)(void *ctx, kb_cache *c, const kb_key *key, const kb_key *id);
	/** The tier's build record of build_key into *out (kb_build_record_clear() it). */
	int (*build_fetch)(void *ctx, kb_build_record *out, const kb_key *build_key);
	/** Send a build record and its artifacts found in c. */
	int (*build_push)(void *ctx, kb_cache *c, const kb_build_record *rec);
	/** The tier's build keys of kernel signature sig (*out malloc'd). */
	int (*sig_fetch)(void *ctx, kb_key **out, size_t *n, const kb_key *sig);
	/** The tier's runs of test_key that are not among the n_have local ones (*out
	 * malloc'd). */
	int (*test_fetch)(void *ctx, kb_test_run **out, size_t *n, const kb_key *test_key,
			  const kb_test_run *have, size_t n_have);
	/** Send n runs of test_key and their console objects found in c. */
	int (*test_push)(void *ctx, kb_cache *c, const kb_key *test_key, const kb_test_run *runs,
			 size_t n);
} kb_cache_tier;

/**
 * Put tier t (copied; NULL detaches) behind c: from then on object reads
 * (kb_cache_get_file/_get_buf/_reader_open, kb_cache_fetch), kb_cache_ref_get/_set in
 * KB_REF_AC, kb_cache_build_get/_put, kb_cache_builds_by_signature and
 * kb_cache_test_add/_add_many/_list read through (a local miss asks the tier and stores
 * what it gets locally) and write through (local first, then the tier). Object puts
 * stay local (VM state never leaves the host): objects travel with the records and
 * references that name them, or with kb_cache_push(). t->ctx must outlive its use.
 */
void kb_cache_set_tier(kb_cache *c, const kb_cache_tier *t);

/** Make object id present locally, asking the tier on a miss. @return 0, KB_ENOTFOUND */
int kb_cache_fetch(kb_cache *c, const kb_key *id);

/** Write object id (stored locally) through to the tier, for an object no record
 * names; 0 also without a tier or when the tier failed. @return 0, KB_ENOTFOUND */
int kb_cache_push(kb_cache *c, const kb_key *id);

#ifdef __cplusplus
}
#endif
#endif
