/*
 * builder/repo.c - the builder's view of a git repository, through libgit2: resolve
 * revisions, read tree ids, tree-to-tree diffs without a checkout; and work trees
 * for real builds (git worktree, so only changed files are rewritten), made one at a
 * time per repository (a lock file in its git dir: git's own worktree registry is not
 * safe against concurrent `git worktree add` / `prune`).
 * Not: what a change means for a build (depset.c), building (build.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "kbisect/error.h"
#include "kbisect/util.h"
#include "common/error_internal.h"
#include "build_internal.h"

/* Changed paths between two trees, kept: dependency-skip checks diff the same tree
 * pairs (a candidate against each cached build) round after round. Direct-mapped. */
#define DIFF_CACHE_SLOTS 8192
#define DIFF_CACHE_MAX_BYTES (1u << 20)   /* larger diffs are not kept */
#define DIFF_CACHE_TOTAL_BYTES (256u << 20) /* nor any once the cache holds this much */

struct diff_entry {
	char key[2 * 40 + 2]; /* "<tree_a> <tree_b>" */
	char *buf;            /* records: one byte 'a'dded or 'c'hanged, the path, NUL */
	size_t len, n_deltas;
};

struct kb_repo {
	git_repository *repo;
	char *gitdir;
	struct diff_entry *diffs; /* DIFF_CACHE_SLOTS, allocated on first use */
	size_t diff_bytes;        /* held by diffs[] */
};

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

int kb_repo__open(kb_repo **out, const char *path)
{
	kb_repo *r;
	int rc;

	git_libgit2_init();
	/* keep the kernel's large trees in libgit2's object cache (default: objects up to
	 * 4 KiB only), so that the many tree diffs of dependency-skip checks do not inflate
	 * the same top-level trees again and again */
	git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, (size_t)1 << 20);
	r = calloc(1, sizeof(*r));
	if (!r) {
		git_libgit2_shutdown();
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	rc = git_repository_open_ext(&r->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (rc < 0) {
		int code = rc == GIT_ENOTFOUND ? KB_ENOTFOUND : KB_ERROR;
		kb_error_setc(code, KB_ERRCLASS_GIT,
			      "'%s' is not a git repository (%s); pass the top directory of a "
			      "kernel checkout with --repo",
			      path, git_msg());
		free(r);
		git_libgit2_shutdown();
		return code;
	}
	r->gitdir = strdup(git_repository_path(r->repo));
	if (!r->gitdir) {
		kb_repo__free(r);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	*out = r;
	return KB_OK;
}

void kb_repo__free(kb_repo *r)
{
	if (!r)
		return;
	git_repository_free(r->repo);
	free(r->gitdir);
	if (r->diffs)
		for (size_t i = 0; i < DIFF_CACHE_SLOTS; i++)
			free(r->diffs[i].buf);
	free(r->diffs);
	free(r);
	git_libgit2_shutdown();
}

const char *kb_repo__gitdir(const kb_repo *r)
{
	return r->gitdir;
}

int kb_repo__resolve(kb_repo *r, const char *rev, char commit[41], char tree[41])
{
	git_object *obj = NULL, *peeled = NULL;
	int rc;

	if (!rev || !*rev)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_GIT, "empty revision; pass --rev");
	rc = git_revparse_single(&obj, r->repo, rev);
	if (rc < 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				     "unknown revision '%s' in '%s' (%s); check it with "
				     "'git rev-parse %s'",
				     rev, r->gitdir, git_msg(), rev);
	rc = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (rc < 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				     "revision '%s' in '%s' is not a commit (%s)", rev, r->gitdir,
				     git_msg());
	git_oid_tostr(commit, 41, git_object_id(peeled));
	git_oid_tostr(tree, 41, git_commit_tree_id((git_commit *)peeled));
	git_object_free(peeled);
	return KB_OK;
}

static int lookup_tree(git_tree **out, kb_repo *r, const char *hex)
{
	git_oid oid;

	if (git_oid_fromstr(&oid, hex) < 0 || git_tree_lookup(out, r->repo, &oid) < 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_GIT,
				     "tree %s is not in '%s' (%s); was the repository "
				     "rewritten?",
				     hex, r->gitdir, git_msg());
	return KB_OK;
}

struct collect_arg {
	char *buf;
	size_t len, cap;
	int too_big;
};

static int collect_fn(const char *path, int added, void *arg)
{
	struct collect_arg *c = arg;
	size_t pl = strlen(path) + 2;

	if (c->too_big)
		return 0;
	if (c->len + pl > DIFF_CACHE_MAX_BYTES) {
		c->too_big = 1;
		return 0;
	}
	if (c->len + pl > c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 4096;
		while (cap < c->len + pl)
			cap *= 2;
		char *nb = realloc(c->buf, cap);
		if (!nb) {
			c->too_big = 1;
			return 0;
		}
		c->buf = nb, c->cap = cap;
	}
	c->buf[c->len] = added ? 'a' : 'c';
	memcpy(c->buf + c->len + 1, path, pl - 1);
	c->len += pl;
	return 0;
}

static int replay_paths(const struct diff_entry *d, int (*fn)(const char *, int, void *),
			void *arg)
{
	int rc = 0;
	for (size_t off = 0; off < d->len && rc == 0;) {
		const char *path = d->buf + off + 1;
		rc = fn(path, d->buf[off] == 'a', arg);
		off += strlen(path) + 2;
	}
	return rc;
}

static int diff_paths_uncached(kb_repo *r, const char *tree_a, const char *tree_b,
			       int (*fn)(const char *path, int added, void *arg), void *arg,
			       size_t *n_deltas);

int kb_repo__diff_paths(kb_repo *r, const char *tree_a, const char *tree_b,
			int (*fn)(const char *path, int added, void *arg), void *arg,
			size_t *n_deltas)
{
	char key[sizeof(((struct diff_entry *)0)->key)];
	struct collect_arg c = { 0 };
	struct diff_entry *d;
	size_t n = 0;
	uint64_t h = 1469598103934665603ull;
	int rc;

	if (strlen(tree_a) != 40 || strlen(tree_b) != 40)
		return diff_paths_uncached(r, tree_a, tree_b, fn, arg, n_deltas);
	snprintf(key, sizeof(key), "%s %s", tree_a, tree_b);
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	if (!r->diffs && !(r->diffs = calloc(DIFF_CACHE_SLOTS, sizeof(*r->diffs))))
		return diff_paths_uncached(r, tree_a, tree_b, fn, arg, n_deltas);
	d = &r->diffs[h % DIFF_CACHE_SLOTS];
	if (d->buf && !strcmp(d->key, key)) {
		if (n_deltas)
			*n_deltas = d->n_deltas;
		return replay_paths(d, fn, arg);
	}
	rc = diff_paths_uncached(r, tree_a, tree_b, collect_fn, &c, &n);
	if (rc == 0 && !c.too_big && r->diff_bytes - (d->buf ? d->len : 0) + c.len >
					  DIFF_CACHE_TOTAL_BYTES)
		c.too_big = 1;
	if (rc != 0 || c.too_big) {
		free(c.buf);
		if (rc != 0)
			return rc;
		return diff_paths_uncached(r, tree_a, tree_b, fn, arg, n_deltas);
	}
	if (d->buf)
		r->diff_bytes -= d->len;
	free(d->buf);
	r->diff_bytes += c.len;
	memcpy(d->key, key, sizeof(key));
	d->buf = c.buf ? c.buf : strdup("");
	d->len = c.len;
	d->n_deltas = n;
	if (!d->buf) {
		r->diff_bytes -= d->len;
		d->len = 0;
		return diff_paths_uncached(r, tree_a, tree_b, fn, arg, n_deltas);
	}
	if (n_deltas)
		*n_deltas = n;
	return replay_paths(d, fn, arg);
}

/* The tree walk behind diff_paths_uncached(): both trees' entries merged in git's
 * order, identical subtrees (same id) skipped without reading them, so the cost is in
 * what changed, not in the size of the tree (a kernel tree has 70,000 files, two
 * commits of a bisection range differ in a few hundred). */
struct walk {
	kb_repo *r;
	int (*fn)(const char *path, int added, void *arg);
	void *arg;
	size_t n;
	char path[4096];
};

static int walk_pair(struct walk *w, const git_tree *a, const git_tree *b, size_t plen);

/* Append name to w->path at plen; the new length, or 0 when it does not fit. */
static size_t path_push(struct walk *w, size_t plen, const char *name)
{
	size_t nl = strlen(name), sep = plen ? 1 : 0;

	if (plen + sep + nl + 1 > sizeof(w->path))
		return 0;
	if (sep)
		w->path[plen] = '/';
	memcpy(w->path + plen + sep, name, nl + 1);
	return plen + sep + nl;
}

/* entry e exists on one side only (a file or a whole directory): every file in it is
 * reported as added (added or deleted: see kb_repo__diff_paths) */
static int walk_one_side(struct walk *w, const git_tree_entry *e, size_t plen, int in_b)
{
	size_t len = path_push(w, plen, git_tree_entry_name(e));
	git_tree *t = NULL;
	int rc;

	if (!len)
		return kb_error_set(KB_ERRCLASS_GIT, "path too long below '%.*s' in '%s'",
				    (int)plen, w->path, w->r->gitdir);
	if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
		w->n++;
		return w->fn(w->path, 1, w->arg);
	}
	if (git_tree_lookup(&t, w->r->repo, git_tree_entry_id(e)) < 0)
		return kb_error_set(KB_ERRCLASS_GIT, "cannot read tree '%s' in '%s': %s", w->path,
				    w->r->gitdir, git_msg());
	rc = in_b ? walk_pair(w, NULL, t, len) : walk_pair(w, t, NULL, len);
	git_tree_free(t);
	return rc;
}

static int walk_pair(struct walk *w, const git_tree *a, const git_tree *b, size_t plen)
{
	size_t na = a ? git_tree_entrycount(a) : 0, nb = b ? git_tree_entrycount(b) : 0;
	size_t i = 0, j = 0;
	int rc = 0;

	while (rc == 0 && (i < na || j < nb)) {
		const git_tree_entry *ea = i < na ? git_tree_entry_byindex(a, i) : NULL;
		const git_tree_entry *eb = j < nb ? git_tree_entry_byindex(b, j) : NULL;
		int c = !ea ? 1 : !eb ? -1 : git_tree_entry_cmp(ea, eb);

		if (c < 0) {
			rc = walk_one_side(w, ea, plen, 0), i++;
			continue;
		}
		if (c > 0) {
			rc = walk_one_side(w, eb, plen, 1), j++;
			continue;
		}
		i++, j++;
		if (git_oid_equal(git_tree_entry_id(ea), git_tree_entry_id(eb)) &&
		    git_tree_entry_filemode(ea) == git_tree_entry_filemode(eb))
			continue; /* identical file, or identical subtree: nothing inside changed */
		size_t len = path_push(w, plen, git_tree_entry_name(ea));
		if (!len)
			return kb_error_set(KB_ERRCLASS_GIT, "path too long below '%.*s' in '%s'",
					    (int)plen, w->path, w->r->gitdir);
		if (git_tree_entry_type(ea) == GIT_OBJECT_TREE) { /* both trees (git order) */
			git_tree *ta = NULL, *tb = NULL;
			if (git_tree_lookup(&ta, w->r->repo, git_tree_entry_id(ea)) < 0 ||
			    git_tree_lookup(&tb, w->r->repo, git_tree_entry_id(eb)) < 0)
				rc = kb_error_set(KB_ERRCLASS_GIT, "cannot read tree '%s' in '%s': %s",
						  w->path, w->r->gitdir, git_msg());
			else
				rc = walk_pair(w, ta, tb, len);
			git_tree_free(ta);
			git_tree_free(tb);
		} else { /* content, mode or type (file, symlink, submodule) changed */
			w->n++;
			rc = w->fn(w->path, 0, w->arg);
		}
		w->path[plen] = '\0';
	}
	w->path[plen] = '\0';
	return rc;
}

static int diff_paths_uncached(kb_repo *r, const char *tree_a, const char *tree_b,
			       int (*fn)(const char *path, int added, void *arg), void *arg,
			       size_t *n_deltas)
{
	struct walk *w;
	git_tree *a = NULL, *b = NULL;
	int rc;

	if ((rc = lookup_tree(&a, r, tree_a)) < 0)
		return rc;
	if ((rc = lookup_tree(&b, r, tree_b)) < 0) {
		git_tree_free(a);
		return rc;
	}
	w = malloc(sizeof(*w));
	if (!w) {
		git_tree_free(a);
		git_tree_free(b);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	}
	w->r = r, w->fn = fn, w->arg = arg, w->n = 0, w->path[0] = '\0';
	/* Paths only, no rename detection (a rename is a delete and an add, which is what
	 * the dependency check needs); a deleted file counts like an added one: its
	 * absence could matter to the same __has_include / wildcard as its presence. */
	rc = walk_pair(w, a, b, 0);
	if (n_deltas)
		*n_deltas = w->n;
	free(w);
	git_tree_free(a);
	git_tree_free(b);
	return rc;
}

/* Variables of the caller's git that would redirect our git commands. */
static const char *const git_unset[] = { "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
					 "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR", NULL };

static int is_worktree(const char *dir)
{
	char p[4096];
	struct stat st;

	snprintf(p, sizeof(p), "%s/.git", dir);
	return stat(p, &st) == 0;
}

static int dir_is_empty_or_missing(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0)
		return 1;
	return rmdir(dir) == 0;
}

/* Lock the repository's worker-tree registry (<common git dir>/kbisect-worktree.lock,
 * flock, so it holds between the threads of a process too: each opens the file); the
 * fd, or -1 when the file cannot be had (git then fails or not on its own). `git
 * worktree prune` deletes a .git/worktrees/<name> entry another `git worktree add` has
 * made but not yet locked, and two adds of the same base name ("src": every worker
 * tree) read each other's half-written entry: git dies (exit 128). */
static int registry_lock(kb_repo *r)
{
	const char *common = git_repository_commondir(r->repo);
	size_t n = strlen(common);
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s%skbisect-worktree.lock", common,
		 n && common[n - 1] == '/' ? "" : "/");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

/* Run git argv (git_unset removed from its environment); its exit status in *status and
 * the last line it printed (stdout and stderr) in last. */
static int run_git(const char *const *argv, const char *cwd, double timeout_s, int *status,
		   char *last, size_t last_len)
{
	kb_spawn_opts o = { .timeout_s = timeout_s, .capture_max = 16384, .cwd = cwd,
			    .env_unset = git_unset };
	int rc = kb_spawn(argv, &o);

	last[0] = '\0';
	if (o.output) {
		char *end = o.output + o.output_len, *line;
		while (end > o.output && (end[-1] == '\n' || end[-1] == '\r'))
			*--end = '\0';
		line = end;
		while (line > o.output && line[-1] != '\n')
			line--;
		snprintf(last, last_len, "%s", line);
		free(o.output);
	}
	return kb_run__result(rc, argv[0], &o, status);
}

int kb_repo__checkout(kb_repo *r, const char *dir, const char *commit, double timeout_s)
{
	char said[512];
	int status = 0, rc;

	if (!is_worktree(dir)) {
		const char *prune[] = { "git", "--git-dir", r->gitdir, "worktree", "prune", NULL };
		const char *add[] = { "git", "--git-dir", r->gitdir, "worktree", "add", "--detach",
				      "--no-checkout", "--force", "--quiet", dir, commit, NULL };
		int lock;
		if (!dir_is_empty_or_missing(dir))
			return kb_error_set(KB_ERRCLASS_GIT,
					    "work tree '%s' exists but is not a git work tree; "
					    "remove it or choose another --work-dir",
					    dir);
		/* prune + add (registering the tree, no files yet): one at a time; the
		 * checkout below, the long part on a kernel, runs in parallel */
		lock = registry_lock(r);
		run_git(prune, NULL, timeout_s, &status, said, sizeof(said));
		rc = run_git(add, NULL, timeout_s, &status, said, sizeof(said));
		if (lock >= 0)
			close(lock);
		if (rc < 0)
			return rc;
		if (status != 0)
			return kb_error_set(KB_ERRCLASS_GIT,
					    "'git worktree add %s %s' failed (exit %d) in '%s': %s; "
					    "check the disk space and 'git worktree list'",
					    dir, commit, status, r->gitdir, said[0] ? said : "(no output)");
	}
	{
		const char *co[] = { "git", "checkout", "--detach", "--force", "--quiet", commit,
				     NULL };
		rc = run_git(co, dir, timeout_s, &status, said, sizeof(said));
		if (rc < 0)
			return rc;
		if (status != 0)
			return kb_error_set(KB_ERRCLASS_GIT,
					    "'git checkout %s' failed (exit %d) in work tree '%s': %s; "
					    "remove that directory to start it afresh",
					    commit, status, dir, said[0] ? said : "(no output)");
	}
	return KB_OK;
}
