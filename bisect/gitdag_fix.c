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
#include "gitdag_internal.h"

int kb_gitdag_fix_ends(char ***parents, size_t *n_par, char crash_hex[41], const char *repo,
		       const char *crashing, const char *fixed)
{
	git_repository *r = NULL;
	git_commit *c = NULL;
	git_oid cid, fid;
	int rc;

	*parents = NULL, *n_par = 0;
	if ((rc = kb_gitdag__open_repo(&r, repo)) != 0)
		return rc;
	if ((rc = kb_gitdag__resolve(&cid, r, crashing, "--crashing")) != 0)
		goto out;
	git_oid_tostr(crash_hex, 41, &cid);
	if (fixed) {
		if ((rc = kb_gitdag__resolve(&fid, r, fixed, "--fixed")) != 0)
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
		rc = kb_error_set(KB_ERRCLASS_GIT, "cannot read commit %s: %s", crash_hex, kb_gitdag__gmsg());
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
	kb_gitdag__close_repo(r);
	return rc;
}

int kb_gitdag_release_tags_after(char ***out, size_t *n, const char *repo,
				 const char *crashing)
{
	return kb_gitdag__release_walk(out, n, repo, crashing, "--crashing", 1);
}

int kb_gitdag_release_at(char **tag_out, const char *repo, const char *hex)
{
	git_repository *r = NULL;
	git_strarray names = { 0 };
	git_oid id;
	int rc;

	*tag_out = NULL;
	if ((rc = kb_gitdag__open_repo(&r, repo)) != 0)
		return rc;
	if ((rc = kb_gitdag__resolve(&id, r, hex, "the result")) != 0)
		goto out;
	if (git_tag_list(&names, r) < 0) {
		rc = kb_error_set(KB_ERRCLASS_GIT, "cannot list tags of '%s': %s", repo, kb_gitdag__gmsg());
		goto out;
	}
	for (size_t i = 0; i < names.count && !*tag_out; i++) {
		git_oid t;
		if (kb_gitdag__release_name(names.strings[i]) &&
		    kb_gitdag__resolve(&t, r, names.strings[i], "a tag") == 0 && git_oid_equal(&t, &id))
			*tag_out = strdup(names.strings[i]);
	}
	kb_error_clear();
	rc = 0;
out:
	git_strarray_dispose(&names);
	kb_gitdag__close_repo(r);
	return rc;
}
