/*
 * builder/build_forget.c - which build records belong to a revision, for `kbisect cache
 * forget --rev`: the revision resolved in its repository (libgit2, no checkout), then
 * every record of its tree (whatever config, compiler or build command made it).
 * Owns: the match of records to a revision (by git tree id).
 * Not: dropping them (kb_cache_build_del, kb_remote_build_forget), the command.
 */
#include <stdlib.h>
#include <string.h>

#include "kbisect/builder.h"
#include "kbisect/cache.h"
#include "kbisect/error.h"
#include "common/error_internal.h"
#include "build_internal.h"

int kb_build_resolve(const char *repo_path, const char *rev, char commit[41], char tree[41])
{
	kb_repo *r = NULL;
	int rc = kb_repo__open(&r, repo_path);

	if (rc == 0)
		rc = kb_repo__resolve(r, rev, commit, tree);
	kb_repo__free(r);
	return rc;
}

struct tree_match {
	const char *tree;
	kb_build_record *v;
	size_t n, cap;
	int oom;
};

static int match_fn(const kb_build_record *rec, void *arg)
{
	struct tree_match *m = arg;

	if (strcmp(rec->git_tree, m->tree))
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		kb_build_record *v = realloc(m->v, cap * sizeof(*v));
		if (!v) {
			m->oom = 1;
			return 1;
		}
		m->v = v, m->cap = cap;
	}
	m->v[m->n] = *rec;
	m->v[m->n++].extra_json = NULL;
	return 0;
}

int kb_build_records_of_tree(kb_build_record **out, size_t *n, kb_cache *c, const char *tree)
{
	struct tree_match m = { tree, NULL, 0, 0, 0 };
	int rc = kb_cache_build_foreach(c, match_fn, &m);

	if (!rc && m.oom)
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory listing the builds of tree %.12s",
				  tree);
	if (rc) {
		free(m.v);
		return rc;
	}
	*out = m.v;
	*n = m.n;
	return 0;
}
