/*
 * builder/build_internal.h - module-internal parts of the builder: the libgit2 wrapper
 * (repo.c), the dependency input sets (depset.c), and the builder handle shared by
 * build.c (key, lookup, entry points), build_reuse.c (recorded builds: dependency
 * skip, estimates) and build_make.c (real builds). Never in include/.
 */
#ifndef KB_BISECT_BUILD_INTERNAL_H
#define KB_BISECT_BUILD_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "kbisect/builder.h"
#include "kbisect/cache.h"
#include "kbisect/util.h"

/* ---- repo.c: a git repository read through libgit2 ---- */

typedef struct kb_repo kb_repo;

/** Open the repository at path (or a directory inside it).
 * @return 0, KB_ENOTFOUND (not a git repository), KB_ERROR */
int kb_repo__open(kb_repo **out, const char *path);

/** Free; NULL ok. */
void kb_repo__free(kb_repo *r);

/** The repository's .git directory (borrowed). */
const char *kb_repo__gitdir(const kb_repo *r);

/** Resolve rev to a commit id and its tree id (40 hex + NUL each).
 * @return 0, KB_ENOTFOUND (unknown revision or not a commit) */
int kb_repo__resolve(kb_repo *r, const char *rev, char commit[41], char tree[41]);

/** Tree-to-tree diff (no checkout): call fn once per changed path, for both sides of
 * each delta (added = 1 for a path that exists only in tree_b or only in tree_a: an
 * addition or a deletion). Stops and returns
 * fn's value when it is non-zero; 0 when all were visited; negative on error. */
int kb_repo__diff_paths(kb_repo *r, const char *tree_a, const char *tree_b,
			int (*fn)(const char *path, int added, void *arg), void *arg,
			size_t *n_deltas);

/** Make dir a work tree of the repository at commit (git worktree; only files that
 * differ from what is there are rewritten, so make rebuilds incrementally). */
int kb_repo__checkout(kb_repo *r, const char *dir, const char *commit, double timeout_s);

/* ---- run.c: child processes with a time limit ---- */

/** Run argv (argv[0] looked up in PATH) in cwd (NULL: current) with the environment
 * plus env_set ("K=V" strings, NULL-terminated, may be NULL) and without the variables
 * named in env_unset (NULL-terminated, may be NULL); stdout and stderr go to out_fd
 * (-1: /dev/null), stdin is /dev/null. The child leads its own process group, which
 * is killed when timeout_s (> 0) passes. *exit_status gets the exit code (128+signal
 * when killed by a signal). A thin wrapper over kb_spawn() (kbisect/util.h).
 * @return 0 (whatever the exit code), KB_ETIMEOUT, KB_ENOTFOUND (no such program),
 * KB_ERROR (could not start, or cwd cannot be entered) */
int kb_run__cmd(const char *const *argv, const char *cwd, const char *const *env_set,
		const char *const *env_unset, int out_fd, double timeout_s, int *exit_status);
/** What kb_spawn(o) returned (rc) as the builder says it: its exit status in
 * *exit_status, or the builder's time-limit error naming prog. */
int kb_run__result(int rc, const char *prog, const kb_spawn_opts *o, int *exit_status);

/* ---- depset.c: the set of source paths one build read ---- */

#define KB_DEPSET_VERSION 1 /* bump when the rules of kb_depset__affects change */

typedef struct kb_depset kb_depset;

/** An empty set. */
int kb_depset__new(kb_depset **out);

/** Free; NULL ok. */
void kb_depset__free(kb_depset *d);

/** Add one path (relative to the source tree; "./" and ".." are normalised). */
int kb_depset__add(kb_depset *d, const char *path);

/** Parse the text of one Kbuild .cmd file: source_ and deps_ entries, plus every
 * token of the cmd_ line that names a file under tree_dir (tree_dir NULL: none).
 * Absolute paths under tree_dir are made relative; other absolute paths ignored. */
int kb_depset__parse_cmd(kb_depset *d, const char *text, size_t len, const char *tree_dir);

/** Walk tree_dir for .*.cmd files (skipping .git) and parse each one; then add the
 * resolved form of paths that go through symlinks. *n_cmd gets the number of files. */
int kb_depset__scan(kb_depset *d, const char *tree_dir, size_t *n_cmd);

/** Number of paths in the set. */
size_t kb_depset__count(kb_depset *d);

/** How many times path was added: for a set made by kb_depset__scan(), the number of
 * .cmd files (roughly, objects) that read it; 0 when it is not in the set; 1 for every
 * path of a set read back with kb_depset__parse(). */
unsigned kb_depset__uses(kb_depset *d, const char *path);

/** 1 if a change to path (added: it did not exist before) may change the output of the
 * build that read d: path is an input, a directory or symlink above one, a Kconfig,
 * Makefile or Kbuild file, under scripts/, under a tools/ directory the build used,
 * or (added) has the name of an input (include shadowing) or lies in a directory that
 * holds inputs (__has_include, wildcards). 0 if it cannot. */
int kb_depset__affects(kb_depset *d, const char *path, int added);

/** Serialise ("kbisect-depset <version>\n" + sorted paths, one per line); malloc'd. */
int kb_depset__serialize(char **out, size_t *len, kb_depset *d);

/** Parse what kb_depset__serialize() wrote. @return 0, KB_ECORRUPT, KB_EVERSION */
int kb_depset__parse(kb_depset **out, const char *text, size_t len);

/* ---- build_ccache.c: ccache's remote storage ---- */

/** The URLs of a ccache remote_storage list (space-separated) that ccache can use:
 * https:// ones are dropped (ccache has no HTTPS client), with a note on stderr once
 * per process. malloc'd; NULL when none is left (or urls is NULL, or out of memory). */
char *kb_build__ccache_remote(const char *urls);

/* ---- build_fail.c: whose fault a failed build is ---- */

/** 1 when a failed build failed because of the host, not the tree: a host message in
 * the log (disk full, out of memory, a killed step, a missing tool, ccache or
 * kbisect-ccwrap errors), or status 127 or > 128 (128 + signal); why gets
 * "<what>: <log line>". 0 when it is the tree's (compiler or linker errors, a script
 * of the tree missing, anything without a host cause). status: the command's exit
 * status, or -1 (it succeeded but left no kernel). Rules: docs/kbisect-build.md. */
int kb_build__host_failure(int status, const char *log, size_t len, char *why, size_t whylen);

/* ---- the builder handle (build.c, build_reuse.c, build_make.c) ---- */

#define DEPSET_MEMO 32

struct kb_builder {
	kb_repo *repo;
	kb_cache *cache;
	char *config;
	size_t config_len;
	char *config_path;   /* absolute */
	char *cc;            /* as given: "gcc", "clang", a path */
	char *cc_version;    /* first line of cc --version */
	kb_key cc_hash;
	char *ccache, *ccache_remote, *build_cmd, *image_path;
	char *ccwrap;         /* kbisect-ccwrap, for ccache's depend mode (NULL: not found) */
	char *ccache_dir_env; /* CCACHE_DIR given to ccache: <cache dir>/ccache, unless the
			       * environment sets it */
	char *targets;       /* make targets or the custom command, for the key */
	char *make_args;     /* reproducibility arguments, for the key and for make */
	char *kbuild_env;    /* "K=V\n" sorted, for the key */
	int jobs;
	double timeout_s;
	int no_dep_skip, no_cache_failures, retry_failed;
	char worker_dir[PATH_MAX];
	char work_tree[PATH_MAX];
	kb_key dep_class;
	char dep_class_hex[KB_KEY_HEXLEN + 1];
	/* parsed depsets of cached builds, by object id: every prediction checks the same
	 * few builds' depsets (reused round robin) */
	struct { kb_key id; kb_depset *d; } memo[DEPSET_MEMO];
	size_t n_memo, next_memo;
	/* the work tree's state, for estimates of incremental builds: the tree id it was
	 * last built at (<worker_dir>/built-tree, also written by builds in other
	 * processes) and the inputs read then, with how many objects read each path */
	char wt_tree[41];
	kb_depset *wt_deps;
	size_t wt_cmds;
	struct timespec wt_mtime; /* of built-tree when wt_deps was scanned */
};

/* A cached build that may be reused by dependency skip. */
struct candidate {
	kb_build_record rec;  /* extra_json not kept */
	kb_key depset;
	int64_t time;
};

struct collect {
	const kb_builder *b;
	struct candidate *c;
	size_t n, cap;
	double built_sum, built_min, built_max;
	size_t built_n;
	const kb_key *want;   /* predict: look for this build key */
	int found;
	kb_build_record found_rec;
};

/* ---- build.c: helpers shared by the builder's files ---- */

/** snprintf that truncates silently (paths are checked against PATH_MAX on open);
 * returns what vsnprintf() returns. */
int kb_build__bprintf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Read the whole file at path (what names it in errors) into *out (malloc'd, NUL
 * terminated): kb_file_read() without a practical size limit. @return 0, or a
 * kb_error_code */
int kb_build__read_file(char **out, size_t *len, const char *path, const char *what);

/** mkdir -p. @return 0, or a kb_error_code */
int kb_build__mkdir_p(const char *path);

/** make's reproducibility arguments and the KBUILD_* settings (NULL-terminated): in
 * the build key and given to every make. */
extern const char *const kb_build__make_args[];
extern const char *const kb_build__kbuild_env[];

/* ---- build_reuse.c: recorded builds ---- */

/** Read the first line of <worker_dir>/name into buf: 1, or 0 (none). */
int kb_build__read_worker_line(const kb_builder *b, const char *name, char *buf, size_t len);

/** 1 if path is a Kconfig file or under scripts/ (changes there may change any object). */
int kb_build__kconfig_or_script(const char *path);

/** Fill out from a build record (artifacts, signature, reason of a failure). */
void kb_build__result_from_record(kb_build_result *out, const kb_build_record *rec);

/** kb_cache_build_foreach() callback: collect the dependency-skip candidates, the
 * durations of real builds and (s->want) the record of one build key into s. */
int kb_build__collect_fn(const kb_build_record *rec, void *arg);

/** The newest candidate in s whose input set no path changed between its tree and tree
 * touches: 1 (*hit its index, *n_changed the changed paths), 0 none, or an error. */
int kb_build__find_dep_skip(kb_builder *b, struct collect *s, const char *tree, size_t *hit,
			    size_t *n_changed);

/** Record a dependency skip of src for key (commit, tree) and fill out. */
int kb_build__record_dep_skip(kb_builder *b, kb_build_result *out, const struct candidate *src,
			      const kb_key *key, const char *commit, const char *tree,
			      size_t n_changed);

/** Set rec->extra_json to the JSON text of j (taken over; NULL ok). */
void kb_build__set_extra(kb_build_record *rec, json_t *j);

/** rec->host and rec->time of this host, now. */
void kb_build__fill_host(kb_build_record *rec);

/** Record the work tree's state: built at tree with inputs deps (taken over), or
 * unknown (tree NULL). */
void kb_build__set_work_state(kb_builder *b, const char *tree, kb_depset *deps, size_t n_cmd);

/** Load the work tree's state written by the last build (in any process). */
int kb_build__load_work_state(kb_builder *b);

/** Expected seconds of a build of tree now (see kb_build_result.est_seconds). */
double kb_build__estimate(kb_builder *b, const char *tree, const struct collect *s);

/* ---- build_make.c: real builds ---- */

/** Check out commit in the worker's tree, build it, and record the result under key
 * (failures of the tree too, unless no_cache_failures; never host failures: those
 * return an error with out->infra = 1, see kb_build__host_failure()). */
int kb_build__real_build(kb_builder *b, kb_build_result *out, const kb_key *key,
			 const char *commit, const char *tree);

#endif
