/*
 * builder/build_reuse.c - the builder's cache side: what a recorded build tells about
 * another (a cache hit's result, dependency skip, estimates of incremental builds).
 * Owns: the build record's extra_json (dep_class, depset), the candidates of a
 * dependency skip and the decision, the record of a dependency skip, the work tree's
 * state (<worker>/built-tree) and the estimate of a build from it.
 * Not: the build key and the lookup (build.c), running make (build_make.c), storage
 * (cache/).
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kbisect/builder.h"
#include "kbisect/cache.h"
#include "kbisect/error.h"
#include "kbisect/signature.h"
#include "common/error_internal.h"
#include "build_internal.h"

#define MAX_SKIP_CANDIDATES 32 /* newest dependency-skip candidates checked */


/* ---- records ---- */

void kb_build__result_from_record(kb_build_result *out, const kb_build_record *rec)
{
	out->ok = rec->ok;
	out->build_key = rec->build_key;
	out->has_signature = rec->has_signature;
	out->signature = rec->signature;
	out->n_artifacts = rec->n_artifacts > KB_BUILD_MAX_ARTIFACTS ? KB_BUILD_MAX_ARTIFACTS
								     : rec->n_artifacts;
	memcpy(out->artifacts, rec->artifacts, out->n_artifacts * sizeof(out->artifacts[0]));
	if (!rec->ok)
		kb_build__bprintf(out->reason, sizeof(out->reason), "%s", rec->error);
}


int kb_build__collect_fn(const kb_build_record *rec, void *arg)
{
	struct collect *s = arg;
	json_t *j, *v;
	const char *how, *dc, *ds;
	kb_key depset;

	if (s->want && !s->found && kb_key_equal(&rec->build_key, s->want)) {
		s->found = 1;
		s->found_rec = *rec;
		s->found_rec.extra_json = NULL;
	}
	if (!rec->extra_json || !(j = json_loads(rec->extra_json, 0, NULL)))
		return 0;
	how = json_string_value(json_object_get(j, "how"));
	dc = json_string_value(json_object_get(j, "dep_class"));
	ds = json_string_value(json_object_get(j, "depset"));
	v = json_object_get(j, "depset_version");
	if (how && !strcmp(how, "built") && rec->ok && dc && !strcmp(dc, s->b->dep_class_hex)) {
		s->built_sum += rec->duration_s;
		if (!s->built_n || rec->duration_s < s->built_min)
			s->built_min = rec->duration_s;
		if (rec->duration_s > s->built_max)
			s->built_max = rec->duration_s;
		s->built_n++;
	}
	if (rec->ok && dc && ds && !strcmp(dc, s->b->dep_class_hex) && json_is_integer(v) &&
	    json_integer_value(v) == KB_DEPSET_VERSION && kb_key_from_hex(&depset, ds) == KB_OK &&
	    strlen(rec->git_tree) == 40) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 16;
			struct candidate *nc = realloc(s->c, cap * sizeof(*nc));
			if (!nc) {
				json_decref(j);
				return 1;
			}
			s->c = nc;
			s->cap = cap;
		}
		s->c[s->n].rec = *rec;
		s->c[s->n].rec.extra_json = NULL;
		s->c[s->n].depset = depset;
		s->c[s->n].time = rec->time;
		s->n++;
	}
	json_decref(j);
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	return x->time < y->time ? 1 : x->time > y->time ? -1 : 0;
}

struct affects_arg {
	kb_depset *d;
	char path[256];
};

static int affects_fn(const char *path, int added, void *arg)
{
	struct affects_arg *a = arg;
	if (!kb_depset__affects(a->d, path, added))
		return 0;
	kb_build__bprintf(a->path, sizeof(a->path), "%s", path);
	return 1;
}

/* the parsed depset object id of a cached build (memoised; borrowed: do not free), or
 * NULL when it cannot be had (evicted, damaged) */
static kb_depset *depset_of(kb_builder *b, const kb_key *id)
{
	void *text = NULL;
	size_t len = 0, slot;
	kb_depset *d = NULL;

	for (size_t i = 0; i < b->n_memo; i++)
		if (kb_key_equal(&b->memo[i].id, id))
			return b->memo[i].d;
	/* reads through the cache's remote: a build made on another host */
	if (kb_cache_get_buf(&text, &len, b->cache, id) != KB_OK) {
		kb_error_clear();
		return NULL;
	}
	if (kb_depset__parse(&d, text, len) < 0) {
		kb_error_clear();
		d = NULL;
	}
	free(text);
	if (!d)
		return NULL;
	if (b->n_memo < DEPSET_MEMO) {
		slot = b->n_memo++;
	} else {
		slot = b->next_memo;
		b->next_memo = (b->next_memo + 1) % DEPSET_MEMO;
		kb_depset__free(b->memo[slot].d);
	}
	b->memo[slot].id = *id;
	b->memo[slot].d = d;
	return d;
}

/*
 * Look for a cached build of the same dep_class that tree cannot differ from.
 * Returns 1 with *hit (index into s->c) and *n_changed set, 0 if none, or < 0.
 */
int kb_build__find_dep_skip(kb_builder *b, struct collect *s, const char *tree, size_t *hit,
			 size_t *n_changed)
{
	if (s->n > 1)
		qsort(s->c, s->n, sizeof(*s->c), newest_first);
	for (size_t i = 0; i < s->n && i < MAX_SKIP_CANDIDATES; i++) {
		struct affects_arg a = { NULL, "" };
		size_t n = 0;
		int rc;

		if (!strcmp(s->c[i].rec.git_tree, tree))
			continue; /* same tree, other key: cannot happen with one dep_class */
		a.d = depset_of(b, &s->c[i].depset);
		if (!a.d)
			continue; /* evicted or damaged: that build cannot vouch for anything */
		rc = kb_repo__diff_paths(b->repo, s->c[i].rec.git_tree, tree, affects_fn, &a, &n);
		if (rc == KB_ENOTFOUND)
			continue; /* tree gone from this repository */
		if (rc < 0)
			return rc;
		if (rc == 0) {
			*hit = i;
			*n_changed = n;
			return 1;
		}
	}
	return 0;
}

void kb_build__set_extra(kb_build_record *rec, json_t *j)
{
	rec->extra_json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
}

void kb_build__fill_host(kb_build_record *rec)
{
	if (gethostname(rec->host, sizeof(rec->host)) != 0)
		kb_build__bprintf(rec->host, sizeof(rec->host), "unknown");
	rec->host[sizeof(rec->host) - 1] = '\0';
	rec->time = (int64_t)time(NULL);
}

int kb_build__record_dep_skip(kb_builder *b, kb_build_result *out, const struct candidate *src,
			   const kb_key *key, const char *commit, const char *tree,
			   size_t n_changed)
{
	kb_build_record rec = src->rec;
	char src_key[KB_KEY_HEXLEN + 1], ds[KB_KEY_HEXLEN + 1];
	json_t *j;
	int rc;

	kb_key_to_hex(src_key, &src->rec.build_key);
	kb_key_to_hex(ds, &src->depset);
	rec.build_key = *key;
	kb_build__bprintf(rec.git_tree, sizeof(rec.git_tree), "%s", tree);
	kb_build__fill_host(&rec);
	j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:I}", "how", "dependency_skip",
		      "dep_class", b->dep_class_hex, "depset", ds, "depset_version",
		      KB_DEPSET_VERSION, "commit", commit, "from_build", src_key, "from_tree",
		      src->rec.git_tree, "changed_paths", (json_int_t)n_changed);
	if (!j)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	kb_build__set_extra(&rec, j);
	rc = kb_cache_build_put(b->cache, &rec);
	free(rec.extra_json);
	if (rc < 0)
		return rc;
	kb_build__result_from_record(out, &src->rec);
	out->build_key = *key;
	out->how = KB_BUILD_DEPENDENCY_SKIP;
	out->saved_seconds = src->rec.duration_s;
	kb_build__bprintf(out->reused_from, sizeof(out->reused_from), "%s", src->rec.git_tree);
	kb_build__bprintf(out->reason, sizeof(out->reason),
		 "none of the %zu paths changed since tree %.12s is an input of its build",
		 n_changed, src->rec.git_tree);
	kb_cache_note_build_saved(b->cache, src->rec.duration_s);
	return KB_OK;
}

/* ---- estimates of incremental builds ---- */

/* Record the work tree's state: built at tree with inputs deps (taken over), or
 * unknown (tree NULL: the tree is changing, or a build failed). */
void kb_build__set_work_state(kb_builder *b, const char *tree, kb_depset *deps, size_t n_cmd)
{
	char path[PATH_MAX];
	struct stat st;

	kb_depset__free(b->wt_deps);
	b->wt_deps = NULL;
	b->wt_tree[0] = '\0';
	b->wt_cmds = 0;
	kb_build__bprintf(path, sizeof(path), "%s/built-tree", b->worker_dir);
	if (!tree) {
		unlink(path);
		return;
	}
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", tree) < 0 || fclose(f) != 0 || stat(path, &st) != 0) {
		unlink(path); /* only an estimate is lost */
		kb_depset__free(deps);
		return;
	}
	kb_build__bprintf(b->wt_tree, sizeof(b->wt_tree), "%s", tree);
	b->wt_deps = deps;
	b->wt_cmds = n_cmd;
	b->wt_mtime = st.st_mtim;
}

/* The first line of <worker_dir>/<name> (newline stripped) into buf; 1, or 0 when the
 * file is missing or empty. */
int kb_build__read_worker_line(const kb_builder *b, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	kb_build__bprintf(path, sizeof(path), "%s/%s", b->worker_dir, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf[0] != '\0';
}

/* Bring the remembered work tree state up to date with <worker_dir>/built-tree (a
 * build in another process, or an earlier run, may have changed it): rescan the
 * tree's .cmd files when it did. 1 when the state is known. */
int kb_build__load_work_state(kb_builder *b)
{
	char path[PATH_MAX], tree[64] = "";
	struct stat st;
	kb_depset *d = NULL;
	size_t n_cmd = 0;

	kb_build__bprintf(path, sizeof(path), "%s/built-tree", b->worker_dir);
	if (stat(path, &st) != 0) {
		kb_depset__free(b->wt_deps);
		b->wt_deps = NULL;
		return 0;
	}
	if (b->wt_deps && st.st_mtim.tv_sec == b->wt_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == b->wt_mtime.tv_nsec)
		return 1;
	kb_depset__free(b->wt_deps);
	b->wt_deps = NULL;
	if (!kb_build__read_worker_line(b, "built-tree", tree, sizeof(tree)) || strlen(tree) != 40 ||
	    kb_depset__new(&d) < 0 ||
	    kb_depset__scan(d, b->work_tree, &n_cmd) < 0 || n_cmd == 0) {
		kb_depset__free(d);
		kb_error_clear();
		return 0;
	}
	kb_build__bprintf(b->wt_tree, sizeof(b->wt_tree), "%s", tree);
	b->wt_deps = d;
	b->wt_cmds = n_cmd;
	b->wt_mtime = st.st_mtim;
	return 1;
}

/* 1 if path is a Kconfig file or under scripts/ (kconfig itself and the build tools) */
int kb_build__kconfig_or_script(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "Kconfig", 7) || !strncmp(path, "scripts/", 8);
}

struct weigh_arg {
	kb_depset *d;
	double objects; /* objects that read a changed path (summed per path) */
	size_t n_cmd;
};

static int weigh_fn(const char *path, int added, void *arg)
{
	struct weigh_arg *a = arg;
	unsigned uses;

	if (!kb_depset__affects(a->d, path, added))
		return 0;
	uses = kb_depset__uses(a->d, path);
	if (kb_build__kconfig_or_script(path))
		a->objects += (double)a->n_cmd; /* the config or the tools: assume everything */
	else
		a->objects += uses ? uses : 1;
	return 0;
}

/* Expected seconds of building tree now in this builder's work tree: the time of a
 * build with nothing to compile (the quickest recorded) plus the share of a full build
 * (the slowest recorded) that the objects reading a changed path make up. The mean of
 * recorded builds when the work tree's state is unknown; 0 when nothing was built. */
double kb_build__estimate(kb_builder *b, const char *tree, const struct collect *s)
{
	double mean, full, link, frac;
	struct weigh_arg a;
	size_t n = 0;

	if (!s->built_n)
		return 0;
	mean = s->built_sum / (double)s->built_n;
	full = s->built_max;
	link = s->built_n > 1 ? s->built_min : 0.1 * full;
	if (!kb_build__load_work_state(b))
		return mean;
	if (!strcmp(tree, b->wt_tree))
		return link;
	a.d = b->wt_deps, a.objects = 0, a.n_cmd = b->wt_cmds;
	if (kb_repo__diff_paths(b->repo, b->wt_tree, tree, weigh_fn, &a, &n) < 0) {
		kb_error_clear();
		return mean;
	}
	frac = a.objects / (double)b->wt_cmds;
	return link + (full - link) * (frac < 1 ? frac : 1);
}

