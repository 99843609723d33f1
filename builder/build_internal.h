/*
 * builder/build_internal.h - module-internal parts of the builder: the libgit2 wrapper
 * (repo.c) and the dependency input sets (depset.c). Never in include/.
 */
#ifndef KB_BISECT_BUILD_INTERNAL_H
#define KB_BISECT_BUILD_INTERNAL_H

#include <stddef.h>

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
 * when killed by a signal).
 * @return 0 (whatever the exit code), KB_ETIMEOUT, KB_ERROR (could not start) */
int kb_run__cmd(const char *const *argv, const char *cwd, const char *const *env_set,
		const char *const *env_unset, int out_fd, double timeout_s, int *exit_status);

/** Monotonic clock in seconds. */
double kb_run__now(void);

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

#endif
