/*
 * kbisect/builder.h - the kernel builder: commit -> kernel, built at most once.
 *
 * A kb_builder works on one git repository (read with libgit2, never checked out for
 * lookups), one cache, one base config and one compiler. Building a revision:
 *  1. build key (kb_build_key_compute) of tree + config + compiler + make settings;
 *     a record in the cache is a cache hit (or a cached failure);
 *  2. dependency skip: for each cached build with the same config, compiler and
 *     settings, diff its tree against this one (tree-to-tree, no checkout); when no
 *     changed path is in the set of inputs that build read, the output would be the
 *     same: reuse it, recording why;
 *  3. otherwise a real build in the worker's own work tree (incremental: only the
 *     files that differ are rewritten), then vmlinux, bzImage, the final .config and
 *     the log go into the cache with the kernel signature and the input set.
 * Several builders (workers) may run at once on one host, each with its own worker
 * index and work tree.
 */
#ifndef KBISECT_BUILDER_H
#define KBISECT_BUILDER_H

#include <stddef.h>

#include "kbisect/cache.h"
#include "kbisect/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kb_builder kb_builder; /* an open builder (repository + settings) */

/** How the kernel of a revision was (or would be) obtained. */
typedef enum {
	KB_BUILD_BUILT = 0,           /**< a real build ran */
	KB_BUILD_CACHE_HIT = 1,       /**< a record with the same build key existed */
	KB_BUILD_DEPENDENCY_SKIP = 2, /**< no input of a cached build changed: reused */
	KB_BUILD_CACHED_FAILURE = 3,  /**< the same inputs failed to build before */
	KB_BUILD_NEEDS_BUILD = 4,     /**< (prediction only) a real build is needed */
} kb_build_how;

/** Stable name of a kb_build_how: "built", "cache_hit", "dependency_skip",
 * "cached_failure", "needs_build". */
const char *kb_build_how_name(int how);

/** Settings of a builder; zero-initialise and set what you need. */
typedef struct {
	const char *config_path;  /**< base kernel config (required) */
	const char *work_dir;     /**< root of the per-worker trees (default
				       $KBISECT_WORK or ~/.cache/kbisect/work) */
	int worker;               /**< worker index: its tree is <work_dir>/<repo-id>/w<worker> */
	int jobs;                 /**< make -jN (0: number of CPUs) */
	const char *cc;           /**< compiler: "gcc" (default), "clang" or a path */
	const char *ccache;       /**< ccache program to wrap cc with, or NULL */
	const char *ccache_remote; /**< CCACHE_REMOTE_STORAGE URL (the cache server), or NULL */
	const char *build_cmd;    /**< custom shell command run in the work tree instead of
				       make olddefconfig + make bzImage (other trees, tests);
				       gets $KBISECT_KCONFIG (the kernel config; also as
				       $KBISECT_CONFIG, deprecated), $KBISECT_JOBS, $CC */
	const char *image_path;   /**< boot image relative to the tree (default
				       arch/x86/boot/bzImage; "" for none) */
	double timeout_s;         /**< time limit of one build (0: 3 hours) */
	int no_dep_skip;          /**< 1: never reuse a build by dependency skip */
	int no_cache_failures;    /**< 1: do not record (nor reuse) failed builds */
	int retry_failed;         /**< 1: build again even when a failure of the same
				       inputs is recorded (the new result replaces it) */
	int quiet;                /**< 1: do not echo build output to stderr */
} kb_build_opts;

/** What kb_builder_build() did. */
typedef struct {
	int how;                  /**< kb_build_how */
	int ok;                   /**< 1 a kernel exists, 0 the build failed */
	char commit[41];          /**< commit id built */
	char tree[41];            /**< its tree id */
	kb_key build_key;
	int has_signature;
	kb_key signature;         /**< kernel signature (when ok) */
	size_t n_artifacts;
	kb_artifact artifacts[KB_BUILD_MAX_ARTIFACTS]; /**< "vmlinux", "bzImage", "config", "log" */
	double seconds;           /**< wall time spent now */
	double saved_seconds;     /**< build time avoided (hit, skip, cached failure) */
	char reused_from[41];     /**< dependency skip: tree id of the build reused */
	char reason[256];         /**< why it was reused / the first compiler error / the
				       host's fault (infra) */
	int infra;                /**< 1: the build failed because of the host (tool
				       missing, out of memory, killed, disk full, ccache,
				       timeout): kb_builder_build() returned an error and
				       recorded nothing; not evidence about the commit */
	double est_seconds;       /**< (prediction, needs_build) expected time of the build
				       now: incremental in the worker's tree when the state
				       it was last built at is known (objects that read a
				       changed path, scaled between the quickest and the
				       slowest recorded build), else the mean of recorded
				       builds; 0 when none was recorded */
} kb_build_result;

/**
 * Open a builder on the git repository at repo_path (or a directory inside it), storing
 * into cache c (borrowed; must outlive the builder). On success *out is yours:
 * kb_builder_free() it.
 * @return 0, KB_ENOTFOUND (no repository there, config missing, compiler not found),
 *         KB_EINVAL (bad options), KB_ERROR
 */
int kb_builder_open(kb_builder **out, const char *repo_path, kb_cache *c,
		    const kb_build_opts *opts);

/** Free a builder; NULL ok. */
void kb_builder_free(kb_builder *b);

/**
 * Obtain the kernel of rev (any revision git understands: id, branch, tag, HEAD~3).
 * A build that failed because of the tree returns 0 with out->ok = 0 and out->reason
 * = the first compiler error (recorded, so the same inputs are not rebuilt unless
 * retry_failed). One that failed because of the host returns an error with
 * out->infra = 1 and out->reason = the host's message; nothing is recorded.
 * @return 0, KB_ENOTFOUND (unknown revision), KB_ETIMEOUT (build ran past the time
 *         limit; infra), KB_EFULL (disk full; infra), KB_ERROR (another host failure
 *         when out->infra, e.g. a missing tool, a killed build, ccache; else an error),
 *         KB_ELOCKED (the worker's tree is in use by another process)
 */
int kb_builder_build(kb_build_result *out, kb_builder *b, const char *rev);

/**
 * Cheap answer to "what would building rev cost": fills out->how with
 * KB_BUILD_CACHE_HIT, KB_BUILD_CACHED_FAILURE, KB_BUILD_DEPENDENCY_SKIP or
 * KB_BUILD_NEEDS_BUILD, out->saved_seconds with the mean time of recorded real builds
 * (0 when none) and, for KB_BUILD_NEEDS_BUILD, out->est_seconds with the expected time
 * of building it now in this builder's work tree. Builds nothing, writes nothing.
 * @return 0, KB_ENOTFOUND (unknown revision), KB_ERROR
 */
int kb_builder_predict(kb_build_result *out, kb_builder *b, const char *rev);

/** The artifact id called name ("vmlinux", "bzImage", "config", "log") of r, or NULL. */
const kb_key *kb_build_result_artifact(const kb_build_result *r, const char *name);

/** Resolve rev in the git repository at repo_path (or a directory inside it) to its
 * commit and tree ids, without a builder. @return 0, KB_ENOTFOUND, KB_ERROR */
int kb_build_resolve(const char *repo_path, const char *rev, char commit[41], char tree[41]);

/** The build records of c (this cache only) built from git tree `tree` (40 hex), with
 * any config, compiler or build command: *out malloc'd (extra_json not kept), *n of
 * them. For `kbisect cache forget --rev`. @return 0, or an error */
int kb_build_records_of_tree(kb_build_record **out, size_t *n, kb_cache *c, const char *tree);

/** The directory of this builder's work tree (borrowed until free). */
const char *kb_builder_work_tree(const kb_builder *b);

#ifdef __cplusplus
}
#endif
#endif
