/*
 * bisect/gitdag_fix.c - what fix bisection (issue 22) asks of the repository: the ends
 * of the range (the crashing commit's parents hide what lies before it, so that the
 * crashing commit itself is a node, calibrated on), the release tags above the crashing
 * commit (--find-fixed) and the release tag naming a commit (the result's flag).
 * Owns: kb_gitdag_fix_ends(), kb_gitdag_release_tags_after(), kb_gitdag_release_at().
 * Not: the revision walk and the model (bisect/gitdag.c), builds and tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "common/error_internal.h"
#include "kbisect/gitdag.h"

static const char *gmsg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

static int open_repo(git_repository **r, const char *repo)
{
	git_libgit2_init();
	if (git_repository_open_ext(r, repo, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		int rc = kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				       "'%s' is not a git repository (%s); pass the top directory of "
				       "a kernel checkout with --repo", repo, gmsg());
		git_libgit2_shutdown();
		return rc;
	}
	return 0;
}

static void close_repo(git_repository *r)
{
	git_repository_free(r);
	git_libgit2_shutdown();
}

/* rev as a commit id into out; what names it (opt) goes into the error */
static int resolve(git_oid *out, git_repository *r, const char *rev, const char *opt)
{
	git_object *obj = NULL, *commit = NULL;

	if (git_revparse_single(&obj, r, rev) < 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				     "unknown revision '%s' given to %s (%s); give a commit id, tag "
				     "or branch", rev, opt, gmsg());
	if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0) {
		git_object_free(obj);
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				     "revision '%s' given to %s is not a commit; give a commit id, "
				     "tag or branch", rev, opt);
	}
	git_oid_cpy(out, git_object_id(commit));
	git_object_free(commit);
	git_object_free(obj);
	return 0;
}

int kb_gitdag_fix_ends(char ***parents, size_t *n_par, char crash_hex[41], const char *repo,
		       const char *crashing, const char *fixed)
{
	git_repository *r = NULL;
	git_commit *c = NULL;
	git_oid cid, fid;
	int rc;

	*parents = NULL, *n_par = 0;
	if ((rc = open_repo(&r, repo)) != 0)
		return rc;
	if ((rc = resolve(&cid, r, crashing, "--crashing")) != 0)
		goto out;
	git_oid_tostr(crash_hex, 41, &cid);
	if (fixed) {
		if ((rc = resolve(&fid, r, fixed, "--fixed")) != 0)
			goto out;
		if (git_oid_equal(&cid, &fid) || git_graph_descendant_of(r, &fid, &cid) != 1) {
			rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_GIT,
					   "--fixed '%s' is not a later commit than --crashing '%s' "
					   "(not a descendant of it); give --crashing an older commit "
					   "that crashes and --fixed a newer one that does not",
					   fixed, crashing);
			goto out;
		}
	}
	if (git_commit_lookup(&c, r, &cid) < 0) {
		rc = kb_error_set(KB_ERRCLASS_GIT, "cannot read commit %s: %s", crash_hex, gmsg());
		goto out;
	}
	unsigned pc = git_commit_parentcount(c);
	if (pc == 0 || pc > 16) {
		rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_GIT,
				   "--crashing '%s' has %u parents; fix bisection needs a crashing "
				   "commit with 1 to 16 parents (not the root commit)", crashing, pc);
		goto out;
	}
	*parents = calloc(pc, sizeof(char *));
	if (!*parents) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < pc; i++) {
		char hex[41];
		git_oid_tostr(hex, sizeof(hex), git_commit_parent_id(c, i));
		if (!((*parents)[i] = strdup(hex))) {
			rc = kb_error_set(KB_ERRCLASS_OS, "out of memory");
			goto out;
		}
		(*n_par)++;
	}
	rc = 0;
out:
	if (rc) {
		kb_gitdag_tags_free(*parents, *n_par);
		*parents = NULL, *n_par = 0;
	}
	git_commit_free(c);
	close_repo(r);
	return rc;
}

/* vN.M or vN.M.P (no -rc), as kb_gitdag_release_tags() takes them */
static int release_name(const char *s)
{
	int dots = 0;

	if (s[0] != 'v' || !(s[1] >= '0' && s[1] <= '9'))
		return 0;
	for (s++; *s; s++) {
		if (*s == '.')
			dots++;
		else if (!(*s >= '0' && *s <= '9'))
			return 0;
	}
	return dots >= 1 && dots <= 2;
}

struct tagt {
	char *name;
	git_time_t when;
};

static int by_time_asc(const void *a, const void *b)
{
	const struct tagt *x = a, *y = b;
	return x->when < y->when ? -1 : x->when > y->when ? 1 : strcmp(x->name, y->name);
}

int kb_gitdag_release_tags_after(char ***out, size_t *n, const char *repo,
				 const char *crashing)
{
	git_repository *r = NULL;
	git_strarray names = { 0 };
	git_oid cid;
	struct tagt *v = NULL;
	size_t nv = 0;
	int rc;

	*out = NULL, *n = 0;
	if ((rc = open_repo(&r, repo)) != 0)
		return rc;
	if ((rc = resolve(&cid, r, crashing, "--crashing")) != 0)
		goto out;
	if (git_tag_list(&names, r) < 0) {
		rc = kb_error_set(KB_ERRCLASS_GIT, "cannot list tags of '%s': %s", repo, gmsg());
		goto out;
	}
	v = calloc(names.count ? names.count : 1, sizeof(*v));
	*out = calloc(names.count ? names.count : 1, sizeof(char *));
	if (!v || !*out) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory listing tags");
		goto out;
	}
	for (size_t i = 0; i < names.count; i++) {
		git_oid id;
		git_commit *c = NULL;
		if (!release_name(names.strings[i]) ||
		    resolve(&id, r, names.strings[i], "a tag") != 0)
			continue;
		if (git_oid_equal(&id, &cid) || git_graph_descendant_of(r, &id, &cid) != 1 ||
		    git_commit_lookup(&c, r, &id) < 0)
			continue;
		v[nv].when = git_commit_time(c);
		v[nv].name = strdup(names.strings[i]);
		git_commit_free(c);
		if (v[nv].name)
			nv++;
	}
	kb_error_clear();
	qsort(v, nv, sizeof(*v), by_time_asc);
	for (size_t i = 0; i < nv; i++)
		(*out)[i] = v[i].name;
	*n = nv;
	rc = 0;
out:
	if (rc) {
		for (size_t i = 0; v && i < nv; i++)
			free(v[i].name);
		free(*out);
		*out = NULL;
	}
	free(v);
	git_strarray_dispose(&names);
	close_repo(r);
	return rc;
}

int kb_gitdag_release_at(char **tag_out, const char *repo, const char *hex)
{
	git_repository *r = NULL;
	git_strarray names = { 0 };
	git_oid id;
	int rc;

	*tag_out = NULL;
	if ((rc = open_repo(&r, repo)) != 0)
		return rc;
	if ((rc = resolve(&id, r, hex, "the result")) != 0)
		goto out;
	if (git_tag_list(&names, r) < 0) {
		rc = kb_error_set(KB_ERRCLASS_GIT, "cannot list tags of '%s': %s", repo, gmsg());
		goto out;
	}
	for (size_t i = 0; i < names.count && !*tag_out; i++) {
		git_oid t;
		if (release_name(names.strings[i]) &&
		    resolve(&t, r, names.strings[i], "a tag") == 0 && git_oid_equal(&t, &id))
			*tag_out = strdup(names.strings[i]);
	}
	kb_error_clear();
	rc = 0;
out:
	git_strarray_dispose(&names);
	close_repo(r);
	return rc;
}
