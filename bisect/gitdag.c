/*
 * bisect/gitdag.c - candidate commits of a bisection from a git repository (libgit2).
 * Owns: the revision walk good..bad, the id -> index map, the release-tag walk below
 * bad (--find-good) and above --crashing (--find-fixed, for gitdag_fix.c).
 * Not: building or testing (build.c, the pool), the model itself (model.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <git2.h>

#include "common/error_internal.h"
#include "kbisect/gitdag.h"
#include "gitdag_internal.h"

struct node {
	git_oid id;
	char hex[41];
	char *summary;
	char *author;     /* "Name <mail>" */
	char *date;       /* the author date as git log prints it */
	size_t np;        /* in-range parents */
	size_t par[8];
	int merge;
};

struct kb_gitdag {
	struct node *nodes;
	size_t n;
	size_t *by_id;    /* indices sorted by oid */
};

const char *kb_gitdag__gmsg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

static const struct kb_gitdag *sort_ctx;

static int cmp_idx(const void *a, const void *b)
{
	return git_oid_cmp(&sort_ctx->nodes[*(const size_t *)a].id,
			   &sort_ctx->nodes[*(const size_t *)b].id);
}

static size_t find(const kb_gitdag *d, const git_oid *id)
{
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = git_oid_cmp(&d->nodes[d->by_id[mid]].id, id);
		if (c == 0)
			return d->by_id[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

int kb_gitdag__resolve(git_oid *out, git_repository *r, const char *rev, const char *what)
{
	git_object *obj = NULL, *commit = NULL;
	const char *to = what ? " given to " : "";

	if (!what)
		what = "";
	if (git_revparse_single(&obj, r, rev) < 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				     "unknown revision '%s'%s%s (%s); give a commit id, tag or branch",
				     rev, to, what, kb_gitdag__gmsg());
	if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) < 0) {
		git_object_free(obj);
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				     "revision '%s'%s%s is not a commit; give a commit id, tag or "
				     "branch", rev, to, what);
	}
	git_oid_cpy(out, git_object_id(commit));
	git_object_free(commit);
	git_object_free(obj);
	return 0;
}

int kb_gitdag__open_repo(git_repository **r, const char *repo)
{
	git_libgit2_init();
	if (git_repository_open_ext(r, repo, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		int rc = kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				       "'%s' is not a git repository (%s); pass the top directory of "
				       "a kernel checkout with --repo", repo, kb_gitdag__gmsg());
		git_libgit2_shutdown();
		return rc;
	}
	return 0;
}

void kb_gitdag__close_repo(git_repository *r)
{
	git_repository_free(r);
	git_libgit2_shutdown();
}

/* nd->author ("Name <mail>") and nd->date ("Tue Dec 15 20:56:41 2020 +0000", git log's
 * default format, in the author's time zone); NULL on a lack of memory */
static void author_date(struct node *nd, const git_signature *a)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char buf[600];
	time_t t;
	struct tm tm;
	int off;

	if (!a) {
		nd->author = strdup("");
		nd->date = strdup("");
		return;
	}
	snprintf(buf, sizeof(buf), "%s <%s>", a->name ? a->name : "", a->email ? a->email : "");
	nd->author = strdup(buf);
	off = a->when.offset; /* minutes east of UTC */
	t = (time_t)a->when.time + (time_t)off * 60;
	if (!gmtime_r(&t, &tm)) {
		nd->date = strdup("");
		return;
	}
	snprintf(buf, sizeof(buf), "%s %s %d %02d:%02d:%02d %d %c%02d%02d", wd[tm.tm_wday % 7],
		 mo[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 tm.tm_year + 1900, off < 0 ? '-' : '+', abs(off) / 60, abs(off) % 60);
	nd->date = strdup(buf);
}

void kb_gitdag_free(kb_gitdag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->nodes[i].summary), free(d->nodes[i].author), free(d->nodes[i].date);
	free(d->nodes), free(d->by_id);
	free(d);
}

int kb_gitdag_open(kb_gitdag **out, const char *repo, const char *bad,
		   const char *const *goods, size_t n_goods)
{
	git_repository *r = NULL;
	git_revwalk *w = NULL;
	git_oid id, bad_id;
	kb_gitdag *d = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	if ((rc = kb_gitdag__open_repo(&r, repo)))
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory reading '%s'", repo);
		goto out;
	}
	if ((rc = kb_gitdag__resolve(&bad_id, r, bad, NULL)))
		goto out;
	if (git_revwalk_new(&w, r) < 0 || git_revwalk_push(w, &bad_id) < 0) {
		rc = kb_error_set(KB_ERRCLASS_GIT, "cannot walk '%s' in '%s': %s", bad, repo, kb_gitdag__gmsg());
		goto out;
	}
	for (size_t i = 0; i < n_goods; i++) {
		git_oid g;
		if ((rc = kb_gitdag__resolve(&g, r, goods[i], NULL)))
			goto out;
		if (git_revwalk_hide(w, &g) < 0) {
			rc = kb_error_set(KB_ERRCLASS_GIT, "cannot hide '%s': %s", goods[i], kb_gitdag__gmsg());
			goto out;
		}
	}
	git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	while (git_revwalk_next(&id, w) == 0) {
		if (d->n == cap) {
			cap = cap ? cap * 2 : 256;
			struct node *p = realloc(d->nodes, cap * sizeof(*p));
			if (!p) {
				rc = kb_error_set(KB_ERRCLASS_OS, "out of memory reading '%s'", repo);
				goto out;
			}
			d->nodes = p;
		}
		if (d->n >= KB_MODEL_MAX_NODES) {
			rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_GIT,
					   "more than %d commits between the good and bad commits; "
					   "give a closer good commit", KB_MODEL_MAX_NODES);
			goto out;
		}
		memset(&d->nodes[d->n], 0, sizeof(d->nodes[0]));
		git_oid_cpy(&d->nodes[d->n].id, &id);
		git_oid_tostr(d->nodes[d->n].hex, sizeof(d->nodes[d->n].hex), &id);
		d->n++;
	}
	if (d->n == 0) {
		rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_GIT,
				   "no commit between the good and the bad commit: '%s' is an "
				   "ancestor of a good commit; check --good and --bad", bad);
		goto out;
	}
	d->by_id = malloc(d->n * sizeof(size_t));
	if (!d->by_id) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory reading '%s'", repo);
		goto out;
	}
	for (size_t i = 0; i < d->n; i++)
		d->by_id[i] = i;
	sort_ctx = d;
	qsort(d->by_id, d->n, sizeof(size_t), cmp_idx);
	for (size_t i = 0; i < d->n; i++) {
		git_commit *c = NULL;
		struct node *nd = &d->nodes[i];
		if (git_commit_lookup(&c, r, &nd->id) < 0) {
			rc = kb_error_set(KB_ERRCLASS_GIT, "cannot read commit %s: %s", nd->hex, kb_gitdag__gmsg());
			goto out;
		}
		const char *sum = git_commit_summary(c);
		nd->summary = strdup(sum ? sum : "");
		author_date(nd, git_commit_author(c));
		unsigned pc = git_commit_parentcount(c);
		nd->merge = pc > 1;
		for (unsigned p = 0; p < pc && nd->np < 8; p++) {
			size_t j = find(d, git_commit_parent_id(c, p));
			if (j != SIZE_MAX)
				nd->par[nd->np++] = j;
		}
		git_commit_free(c);
		if (!nd->summary || !nd->author || !nd->date) {
			rc = kb_error_set(KB_ERRCLASS_OS, "out of memory reading '%s'", repo);
			goto out;
		}
	}
	/* the walk ends with bad only if nothing else is unrelated; make sure */
	if (git_oid_cmp(&d->nodes[d->n - 1].id, &bad_id) != 0) {
		rc = kb_error_set(KB_ERRCLASS_GIT, "revision walk of '%s' did not end at it", bad);
		goto out;
	}
	*out = d;
	d = NULL;
	rc = 0;
out:
	kb_gitdag_free(d);
	git_revwalk_free(w);
	git_repository_free(r);
	git_libgit2_shutdown();
	return rc;
}

size_t kb_gitdag_size(const kb_gitdag *d)
{
	return d ? d->n : 0;
}

const char *kb_gitdag_id(const kb_gitdag *d, size_t i)
{
	return d && i < d->n ? d->nodes[i].hex : "";
}

const char *kb_gitdag_summary(const kb_gitdag *d, size_t i)
{
	return d && i < d->n ? d->nodes[i].summary : "";
}

const char *kb_gitdag_author(const kb_gitdag *d, size_t i)
{
	return d && i < d->n ? d->nodes[i].author : "";
}

const char *kb_gitdag_date(const kb_gitdag *d, size_t i)
{
	return d && i < d->n ? d->nodes[i].date : "";
}

size_t kb_gitdag_index(const kb_gitdag *d, const char *hex)
{
	git_oid id;

	if (!d || !hex || git_oid_fromstr(&id, hex) < 0)
		return SIZE_MAX;
	return find(d, &id);
}

int kb_gitdag_discover(char *out, size_t len, const char *dir)
{
	git_buf gd = { 0 };
	git_repository *r = NULL;
	const char *wd;
	int rc = 0;

	git_libgit2_init();
	if (git_repository_discover(&gd, dir, 0, NULL) < 0 ||
	    git_repository_open(&r, gd.ptr) < 0) {
		rc = kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				   "'%s' is not inside a git repository (%s); run kbisect bisect "
				   "in a kernel checkout or give --repo <dir>", dir, kb_gitdag__gmsg());
	} else if (!(wd = git_repository_workdir(r))) {
		rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_GIT, "the repository of '%s' is bare; "
				   "give a kernel checkout with --repo <dir>", dir);
	} else if ((size_t)snprintf(out, len, "%s", wd) >= len) {
		rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_GIT, "repository path too long: %s", wd);
	} else {
		size_t n = strlen(out);
		if (n > 1 && out[n - 1] == '/')
			out[n - 1] = '\0';
	}
	git_repository_free(r);
	git_buf_dispose(&gd);
	git_libgit2_shutdown();
	return rc;
}

int kb_gitdag_resolve(const char *repo, const char *rev, char hex[41])
{
	git_repository *r = NULL;
	git_oid id;
	int rc;

	if ((rc = kb_gitdag__open_repo(&r, repo)))
		return rc;
	if ((rc = kb_gitdag__resolve(&id, r, rev, NULL)) == 0)
		git_oid_tostr(hex, 41, &id);
	git_repository_free(r);
	git_libgit2_shutdown();
	return rc;
}

/* 1 when commit c changes a path of the pathspec against parent tree pt (NULL: the
 * empty tree), 0 when not, -1 on a libgit2 error */
static int changes_paths(git_repository *r, git_tree *pt, git_tree *t, git_diff_options *o)
{
	git_diff *diff = NULL;
	int n;

	if (git_diff_tree_to_tree(&diff, r, pt, t, o) < 0)
		return -1;
	n = git_diff_num_deltas(diff) > 0;
	git_diff_free(diff);
	return n;
}

int kb_gitdag_touches(uint8_t *out, const kb_gitdag *d, const char *repo,
		      const char *const *paths, size_t n_paths)
{
	git_repository *r = NULL;
	git_diff_options o;
	int rc = 0;

	if ((rc = kb_gitdag__open_repo(&r, repo)))
		return rc;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.pathspec.strings = (char **)paths;
	o.pathspec.count = n_paths;
	for (size_t i = 0; i < d->n && !rc; i++) {
		git_commit *c = NULL;
		git_tree *t = NULL;
		unsigned pc;
		int touch = 1; /* git's rule: a commit TREESAME to a parent does not touch */
		if (git_commit_lookup(&c, r, &d->nodes[i].id) < 0 || git_commit_tree(&t, c) < 0) {
			rc = kb_error_set(KB_ERRCLASS_GIT, "cannot read commit %s: %s",
					  d->nodes[i].hex, kb_gitdag__gmsg());
			git_commit_free(c);
			break;
		}
		pc = git_commit_parentcount(c);
		if (pc == 0)
			touch = changes_paths(r, NULL, t, &o);
		for (unsigned p = 0; p < pc && touch == 1; p++) {
			git_commit *pcm = NULL;
			git_tree *ptr = NULL;
			if (git_commit_parent(&pcm, c, p) < 0 || git_commit_tree(&ptr, pcm) < 0)
				touch = -1;
			else
				touch = changes_paths(r, ptr, t, &o);
			git_tree_free(ptr);
			git_commit_free(pcm);
		}
		if (touch < 0)
			rc = kb_error_set(KB_ERRCLASS_GIT, "cannot diff commit %s against its "
					  "parents: %s", d->nodes[i].hex, kb_gitdag__gmsg());
		out[i] = touch == 1;
		git_tree_free(t);
		git_commit_free(c);
	}
	git_repository_free(r);
	git_libgit2_shutdown();
	return rc;
}

int kb_gitdag_is_merge(const kb_gitdag *d, size_t i)
{
	return d && i < d->n ? d->nodes[i].merge : 0;
}

int kb_gitdag_model(kb_model **out, const kb_gitdag *d, const kb_model_opts *opts)
{
	kb_model *m = NULL;
	int rc = kb_model_new(&m, d->n, opts);

	for (size_t i = 0; !rc && i < d->n; i++)
		for (size_t p = 0; !rc && p < d->nodes[i].np; p++)
			rc = kb_model_add_parent(m, i, d->nodes[i].par[p]);
	if (!rc)
		rc = kb_model_finalize(m);
	if (rc) {
		kb_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void kb_gitdag_tags_free(char **tags, size_t n)
{
	for (size_t i = 0; tags && i < n; i++)
		free(tags[i]);
	free(tags);
}

struct tagc {
	char *name;
	git_time_t when;
};

static int by_time_desc(const void *a, const void *b)
{
	const struct tagc *x = a, *y = b;
	return x->when < y->when ? 1 : x->when > y->when ? -1 : strcmp(x->name, y->name);
}

static int by_time_asc(const void *a, const void *b)
{
	const struct tagc *x = a, *y = b;
	return x->when < y->when ? -1 : x->when > y->when ? 1 : strcmp(x->name, y->name);
}

int kb_gitdag__release_name(const char *s)
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

int kb_gitdag__release_walk(char ***out, size_t *n, const char *repo, const char *rev,
			    const char *what, int after)
{
	git_repository *r = NULL;
	git_strarray names = { 0 };
	git_oid base;
	struct tagc *v = NULL;
	size_t nv = 0;
	int rc;

	*out = NULL, *n = 0;
	if ((rc = kb_gitdag__open_repo(&r, repo)))
		return rc;
	if ((rc = kb_gitdag__resolve(&base, r, rev, what)))
		goto out;
	if (git_tag_list(&names, r) < 0) {
		rc = kb_error_set(KB_ERRCLASS_GIT, "cannot list tags of '%s': %s", repo,
				  kb_gitdag__gmsg());
		goto out;
	}
	v = calloc(names.count ? names.count : 1, sizeof(*v));
	if (!v) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory listing tags");
		goto out;
	}
	for (size_t i = 0; i < names.count; i++) {
		git_oid id;
		git_commit *c = NULL;
		if (!kb_gitdag__release_name(names.strings[i]) ||
		    kb_gitdag__resolve(&id, r, names.strings[i], NULL))
			continue;
		if (git_oid_equal(&id, &base) ||
		    (after ? git_graph_descendant_of(r, &id, &base)
			   : git_graph_descendant_of(r, &base, &id)) != 1)
			continue;
		if (git_commit_lookup(&c, r, &id) < 0)
			continue;
		v[nv].when = git_commit_time(c);
		v[nv].name = strdup(names.strings[i]);
		git_commit_free(c);
		if (v[nv].name)
			nv++;
	}
	kb_error_clear();
	qsort(v, nv, sizeof(*v), after ? by_time_asc : by_time_desc);
	*out = calloc(nv ? nv : 1, sizeof(char *));
	if (!*out) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory listing tags");
		for (size_t i = 0; i < nv; i++)
			free(v[i].name);
		goto out;
	}
	for (size_t i = 0; i < nv; i++)
		(*out)[i] = v[i].name;
	*n = nv;
	rc = 0;
out:
	free(v);
	git_strarray_dispose(&names);
	kb_gitdag__close_repo(r);
	return rc;
}

int kb_gitdag_release_tags(char ***out, size_t *n, const char *repo, const char *bad)
{
	return kb_gitdag__release_walk(out, n, repo, bad, NULL, 0);
}
