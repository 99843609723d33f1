/*
 * kbisect/gitdag.h - the candidate commits of a bisection, read from a git repository
 * with libgit2: the ancestors of `bad` that are not ancestors of any `good` (merges
 * included), in topological order (parents first), with their in-range parents; and
 * release tags below a bad commit (to find a good one, as syzbot does).
 */
#ifndef KBISECT_GITDAG_H
#define KBISECT_GITDAG_H

#include <stddef.h>
#include <stdint.h>

#include "kbisect/error.h"
#include "kbisect/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kb_gitdag kb_gitdag; /* body in bisect/gitdag.c */

/** Read the range good..bad of the repository at repo (revisions as git understands
 * them). *out is yours: kb_gitdag_free() it.
 * @return 0, KB_ENOTFOUND (no repository, unknown revision), KB_EINVAL (empty range:
 *         bad is an ancestor of a good commit; or more than KB_MODEL_MAX_NODES commits),
 *         KB_ERROR */
int kb_gitdag_open(kb_gitdag **out, const char *repo, const char *bad,
		   const char *const *goods, size_t n_goods);

/** Free; NULL ok. */
void kb_gitdag_free(kb_gitdag *d);

/** Number of candidate commits; the last one is bad. */
size_t kb_gitdag_size(const kb_gitdag *d);

/** Hex id (40 digits) of candidate i (borrowed). */
const char *kb_gitdag_id(const kb_gitdag *d, size_t i);

/** First line of the commit message of candidate i (borrowed). */
const char *kb_gitdag_summary(const kb_gitdag *d, size_t i);

/** Author of candidate i as "Name <mail>" (borrowed). */
const char *kb_gitdag_author(const kb_gitdag *d, size_t i);

/** Author date of candidate i as git log prints it ("Tue Dec 15 20:56:41 2020 +0000",
 * in the author's time zone; borrowed). */
const char *kb_gitdag_date(const kb_gitdag *d, size_t i);

/** Index of the candidate with 40-digit id hex, or SIZE_MAX when not in the range. */
size_t kb_gitdag_index(const kb_gitdag *d, const char *hex);

/** The top directory of the work tree of the git repository that dir is in (git's
 * discovery, as `git rev-parse --show-toplevel`) into out.
 * @return 0, KB_ENOTFOUND (not in a repository), KB_EINVAL (bare, or too long) */
int kb_gitdag_discover(char *out, size_t len, const char *dir);

/** Resolve rev (anything git understands) in repo to its commit's 40-digit id.
 * @return 0, KB_ENOTFOUND (no repository, unknown revision) */
int kb_gitdag_resolve(const char *repo, const char *rev, char hex[41]);

/** out[i] = 1 when candidate i changes a path of the pathspec paths[0..n_paths-1]
 * (git's pathspec syntax), 0 when it is TREESAME to one of its parents there (as git
 * log and git bisect have it: such commits are left out). @return 0, KB_ERROR */
int kb_gitdag_touches(uint8_t *out, const kb_gitdag *d, const char *repo,
		      const char *const *paths, size_t n_paths);

/** 1 if candidate i has more than one parent (in range or not). */
int kb_gitdag_is_merge(const kb_gitdag *d, size_t i);

/** Make a finalized model of the candidates and their in-range edges (*out is yours). */
int kb_gitdag_model(kb_model **out, const kb_gitdag *d, const kb_model_opts *opts);

/** Release tags (vN.M or vN.M.P, no -rc) that are ancestors of bad, newest first, as a
 * malloc'd array of malloc'd strings (*n entries); free with kb_gitdag_tags_free().
 * @return 0, KB_ENOTFOUND, KB_ERROR */
int kb_gitdag_release_tags(char ***out, size_t *n, const char *repo, const char *bad);

/** Free what kb_gitdag_release_tags() returned. */
void kb_gitdag_tags_free(char **tags, size_t n);

/** Fix bisection's ends (bisect/gitdag_fix.c): check that fixed (may be NULL) descends
 * from crashing, put crashing's full id into crash_hex and its parents' ids into
 * *parents (free with kb_gitdag_tags_free()): hidden in the walk, they leave the
 * crashing commit in the range. @return 0, KB_ENOTFOUND, KB_EINVAL (not a descendant,
 * crashing is a root), KB_ERROR */
int kb_gitdag_fix_ends(char ***parents, size_t *n_par, char crash_hex[41], const char *repo,
		       const char *crashing, const char *fixed);

/** Release tags (as kb_gitdag_release_tags()) that descend from crashing, oldest first
 * (--find-fixed). Free with kb_gitdag_tags_free(). @return 0, or an error */
int kb_gitdag_release_tags_after(char ***out, size_t *n, const char *repo,
				 const char *crashing);

/** The release tag naming commit hex (malloc'd into *tag_out), or NULL if none.
 * @return 0, or an error */
int kb_gitdag_release_at(char **tag_out, const char *repo, const char *hex);

#ifdef __cplusplus
}
#endif
#endif
