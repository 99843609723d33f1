/*
 * bisect/gitdag_internal.h - what bisect/gitdag.c shares with bisect/gitdag_fix.c: the
 * repository open/close pair, revision resolution with errors that name the option,
 * and the release-tag walk in either direction. Module-internal; never in include/.
 */
#ifndef KBISECT_GITDAG_INTERNAL_H
#define KBISECT_GITDAG_INTERNAL_H

#include <stddef.h>

#include <git2.h>

/* libgit2's last error message (never NULL) */
const char *kb_gitdag__gmsg(void);

/* open repo (no search upwards) with libgit2 initialised; 0 or KB_ENOTFOUND */
int kb_gitdag__open_repo(git_repository **r, const char *repo);

/* free r and shut libgit2 down (the pair of kb_gitdag__open_repo) */
void kb_gitdag__close_repo(git_repository *r);

/* rev as a commit id into out; what (e.g. "--crashing", or NULL) names where rev came
 * from in the error. 0 or KB_ENOTFOUND */
int kb_gitdag__resolve(git_oid *out, git_repository *r, const char *rev, const char *what);

/* 1 for a release tag name: vN.M or vN.M.P (no -rc) */
int kb_gitdag__release_name(const char *s);

/* the release tags below rev (after = 0: ancestors of it, newest first) or above it
 * (after = 1: descendants, oldest first), never rev itself, into *out (malloc'd
 * names; kb_gitdag_tags_free()). what names rev in errors. 0 or an error */
int kb_gitdag__release_walk(char ***out, size_t *n, const char *repo, const char *rev,
			    const char *what, int after);

#endif
