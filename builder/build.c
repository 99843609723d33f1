/*
 * builder/build.c - the kernel builder: build key -> cache hit, dependency skip, or a
 * real incremental build in a per-worker work tree, recorded in the cache.
 * Owns: the build manifest (what goes into the build key), the make invocation and
 * its reproducibility settings, the build record's extra_json, first-error
 * extraction, and the dependency-skip decision.
 * Not: libgit2 (repo.c), .cmd parsing (depset.c), storage (cache/).
 * DESIGN: a build record's extra_json holds "dep_class" (the build key of the same
 * inputs with an empty tree: same config, compiler and settings) and "depset" (the
 * object id of the input-path set). A dependency skip reuses a record of the same
 * dep_class whose input set no changed path touches, and stores a record for the new
 * tree that points at the same artifacts and the same input set, so the next lookup
 * is a plain cache hit. Timeouts, a full disk and killed builds are never recorded.
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

#include "kbisect/build.h"
#include "kbisect/cache.h"
#include "kbisect/error.h"
#include "kbisect/signature.h"
#include "common/error_internal.h"
#include "build_internal.h"

#define DEFAULT_TIMEOUT_S (3 * 3600.0)
#define MAX_SKIP_CANDIDATES 32
#define KBUILD_TIMESTAMP "Thu Jan  1 00:00:00 UTC 1970"

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
	int no_dep_skip, no_cache_failures;
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

static const char *const make_args_list[] = {
	"KERNELVERSION=kbisect", "KERNELRELEASE=kbisect", "LOCALVERSION=-kbisect", NULL,
};

static const char *const kbuild_env_list[] = {
	"KBUILD_BUILD_HOST=kbisect",
	"KBUILD_BUILD_TIMESTAMP=" KBUILD_TIMESTAMP,
	"KBUILD_BUILD_USER=kbisect",
	"KBUILD_BUILD_VERSION=0",
	NULL,
};

/* Variables that would change what make builds behind the key's back. */
static const char *const build_unset[] = {
	"ARCH", "CROSS_COMPILE", "KCFLAGS", "KCPPFLAGS", "KAFLAGS", "KRUSTFLAGS", "O", "W",
	"C", "M", "V", "KBUILD_OUTPUT", "KBUILD_EXTMOD", "KCONFIG_CONFIG", "LLVM",
	"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
	"SOURCE_DATE_EPOCH", NULL,
};

const char *kb_build_how_name(int how)
{
	switch (how) {
	case KB_BUILD_BUILT: return "built";
	case KB_BUILD_CACHE_HIT: return "cache_hit";
	case KB_BUILD_DEPENDENCY_SKIP: return "dependency_skip";
	case KB_BUILD_CACHED_FAILURE: return "cached_failure";
	case KB_BUILD_NEEDS_BUILD: return "needs_build";
	}
	return "unknown";
}

const kb_key *kb_build_result_artifact(const kb_build_result *r, const char *name)
{
	for (size_t i = 0; i < r->n_artifacts; i++)
		if (!strcmp(r->artifacts[i].name, name))
			return &r->artifacts[i].id;
	return NULL;
}

const char *kb_builder_work_tree(const kb_builder *b)
{
	return b->work_tree;
}

/* ---- helpers ---- */

/* snprintf that truncates silently (paths are checked against PATH_MAX on open). */
static int bprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

static int read_file(char **out, size_t *len, const char *path, const char *what)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return kb_error_os("cannot read %s '%s'", what, path);
	for (;;) {
		size_t got;
		if (n + 65536 + 1 > cap) {
			char *nb = realloc(buf, cap = (n + 65536 + 1) * 2);
			if (!nb) {
				free(buf);
				fclose(f);
				return kb_error_set(KB_ERRCLASS_OS, "out of memory reading '%s'", path);
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return kb_error_os("cannot read %s '%s'", what, path);
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return KB_OK;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return kb_error_set(KB_ERRCLASS_OS, "path too long: '%s'", path);
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return kb_error_os("cannot create directory '%s'", tmp);
		*p = '/';
	}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
		return kb_error_os("cannot create directory '%s'", tmp);
	return KB_OK;
}

/* Find prog on PATH (or take it as a path); realpath into out. */
static int find_program(char out[PATH_MAX], const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(prog, '/'))
		return realpath(prog, out) && access(out, X_OK) == 0 ? 0 : -1;
	while (path && *path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		bprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0 && realpath(buf, out))
			return 0;
		path += n + (colon ? 1 : 0);
	}
	return -1;
}

/* First line of `cc --version`, and the SHA-256 of the compiler driver. */
static int compiler_identity(kb_builder *b)
{
	char exe[PATH_MAX], tmpl[] = "/tmp/kbisect-cc-XXXXXX";
	const char *argv[] = { b->cc, "--version", NULL };
	char *text = NULL, *nl;
	size_t len = 0;
	int fd, status = 0, rc;

	if (find_program(exe, b->cc) != 0)
		return kb_error_setc(KB_ENOTFOUND, KB_ERRCLASS_BUILD,
				     "compiler '%s' not found on PATH; install it or pass --cc "
				     "with its path",
				     b->cc);
	if ((rc = read_file(&text, &len, exe, "compiler")) < 0)
		return rc;
	kb_sha256(&b->cc_hash, text, len);
	free(text);
	fd = mkstemp(tmpl);
	if (fd < 0)
		return kb_error_os("cannot create a temporary file in /tmp");
	rc = kb_run__cmd(argv, NULL, NULL, NULL, fd, 60, &status);
	close(fd);
	if (rc == KB_OK)
		rc = read_file(&text, &len, tmpl, "compiler version output");
	unlink(tmpl);
	if (rc < 0)
		return rc;
	if (status != 0) {
		free(text);
		return kb_error_set(KB_ERRCLASS_BUILD, "'%s --version' failed (exit %d); is '%s' "
				    "a C compiler?", b->cc, status, b->cc);
	}
	if ((nl = strchr(text, '\n')))
		*nl = '\0';
	b->cc_version = text;
	return KB_OK;
}

static void fill_inputs(kb_build_inputs *in, const kb_builder *b, const char *tree)
{
	memset(in, 0, sizeof(*in));
	in->git_tree = tree;
	in->config = b->config;
	in->config_len = b->config_len;
	in->arch = "x86_64";
	in->compiler = b->cc_version;
	in->compiler_hash = &b->cc_hash;
	in->make_targets = b->targets;
	in->make_args = b->make_args;
	in->kbuild_env = b->kbuild_env;
}

static char *join(const char *const *list, const char *sep)
{
	size_t n = 1;
	char *s;

	for (size_t i = 0; list[i]; i++)
		n += strlen(list[i]) + strlen(sep);
	s = malloc(n);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; list[i]; i++) {
		strcat(s, list[i]);
		strcat(s, sep);
	}
	return s;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* kbisect-ccwrap: $KBISECT_CCWRAP, next to the running program, or where this build of
 * kbisect put it; NULL when none is executable (ccache then runs without depend mode) */
static char *find_ccwrap(void)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	const char *env = getenv("KBISECT_CCWRAP");
	ssize_t n;

	if (env && *env)
		return access(env, X_OK) == 0 ? strdup(env) : NULL;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			bprintf(path, sizeof(path), "%s/kbisect-ccwrap", self);
			if (access(path, X_OK) == 0)
				return strdup(path);
		}
	}
#ifdef KB_CCWRAP_BUILD_PATH
	if (access(KB_CCWRAP_BUILD_PATH, X_OK) == 0)
		return strdup(KB_CCWRAP_BUILD_PATH);
#endif
	return NULL;
}

/* ---- open / free ---- */

void kb_builder_free(kb_builder *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_memo; i++)
		kb_depset__free(b->memo[i].d);
	kb_depset__free(b->wt_deps);
	kb_repo__free(b->repo);
	free(b->config);
	free(b->config_path);
	free(b->cc);
	free(b->cc_version);
	free(b->ccache);
	free(b->ccache_remote);
	free(b->ccache_dir_env);
	free(b->ccwrap);
	free(b->build_cmd);
	free(b->image_path);
	free(b->targets);
	free(b->make_args);
	free(b->kbuild_env);
	free(b);
}

int kb_builder_open(kb_builder **out, const char *repo_path, kb_cache *c,
		    const kb_build_opts *opts)
{
	kb_build_opts zero = { 0 };
	char real[PATH_MAX], home_work[PATH_MAX];
	const char *work, *env;
	kb_build_inputs in;
	kb_builder *b;
	kb_key repo_id;
	char repo_hex[KB_KEY_HEXLEN + 1];
	int rc;

	*out = NULL;
	if (!opts)
		opts = &zero;
	if (!repo_path || !c)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BUILD,
				     "a repository and a cache are needed to build");
	if (!opts->config_path)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BUILD,
				     "no kernel config given; pass --config FILE");
	if (opts->worker < 0 || opts->jobs < 0 || opts->timeout_s < 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_BUILD,
				     "worker, jobs and timeout must not be negative");
	b = calloc(1, sizeof(*b));
	if (!b)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	b->cache = c;
	if (!realpath(opts->config_path, real)) {
		rc = kb_error_os("kernel config '%s' not found; pass an existing file with --config",
				 opts->config_path);
		goto fail;
	}
	b->config_path = strdup(real);
	if ((rc = read_file(&b->config, &b->config_len, real, "kernel config")) < 0)
		goto fail;
	if ((rc = kb_repo__open(&b->repo, repo_path)) < 0)
		goto fail;
	b->cc = strdup(opts->cc && *opts->cc ? opts->cc : "gcc");
	b->ccache = dup_or_null(opts->ccache);
	b->ccache_remote = kb_build__ccache_remote(opts->ccache_remote); /* never https */
	if (b->ccache && !getenv("CCACHE_DIR") &&
	    asprintf(&b->ccache_dir_env, "%s/ccache", kb_cache_dir(c)) < 0)
		b->ccache_dir_env = NULL; /* then ccache's own default */
	if (b->ccache)
		b->ccwrap = find_ccwrap();
	b->build_cmd = dup_or_null(opts->build_cmd);
	b->image_path = strdup(opts->image_path ? opts->image_path : "arch/x86/boot/bzImage");
	b->jobs = opts->jobs > 0 ? opts->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (b->jobs <= 0)
		b->jobs = 1;
	b->timeout_s = opts->timeout_s > 0 ? opts->timeout_s : DEFAULT_TIMEOUT_S;
	b->no_dep_skip = opts->no_dep_skip;
	b->no_cache_failures = opts->no_cache_failures;
	b->make_args = join(make_args_list, " ");
	b->kbuild_env = join(kbuild_env_list, "\n");
	if (b->build_cmd) {
		size_t n = strlen(b->build_cmd) + strlen(b->image_path) + 32;
		b->targets = malloc(n);
		if (b->targets)
			bprintf(b->targets, n, "custom:%s\nimage:%s", b->build_cmd, b->image_path);
	} else {
		b->targets = strdup("olddefconfig bzImage");
	}
	if (!b->cc || !b->image_path || !b->make_args || !b->kbuild_env || !b->targets ||
	    !b->config_path) {
		rc = kb_error_set(KB_ERRCLASS_OS, "out of memory");
		goto fail;
	}
	if ((rc = compiler_identity(b)) < 0)
		goto fail;

	/* Work tree: <work>/<repo id>/w<worker>/src, one per worker. */
	work = opts->work_dir;
	if (!work || !*work) {
		env = getenv("KBISECT_WORK");
		if (env && *env) {
			work = env;
		} else {
			const char *home = getenv("HOME");
			bprintf(home_work, sizeof(home_work), "%s/.cache/kbisect/work",
				 home && *home ? home : "/tmp");
			work = home_work;
		}
	}
	char abs_work[PATH_MAX];
	if (work[0] != '/') { /* absolute: make runs in the tree, ccache wants it so */
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) &&
		    (size_t)bprintf(abs_work, sizeof(abs_work), "%s/%s", cwd, work) <
			    sizeof(abs_work))
			work = abs_work;
	}
	if (!realpath(kb_repo__gitdir(b->repo), real))
		bprintf(real, sizeof(real), "%s", kb_repo__gitdir(b->repo));
	kb_sha256(&repo_id, real, strlen(real));
	kb_key_to_hex(repo_hex, &repo_id);
	if ((size_t)bprintf(b->worker_dir, sizeof(b->worker_dir), "%s/%.12s/w%d", work, repo_hex,
			     opts->worker) >= sizeof(b->worker_dir) - 16) {
		rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_BUILD, "work directory path too long: '%s'",
				   work);
		goto fail;
	}
	bprintf(b->work_tree, sizeof(b->work_tree), "%s/src", b->worker_dir);

	fill_inputs(&in, b, "");
	kb_build_key_compute(&b->dep_class, &in);
	kb_key_to_hex(b->dep_class_hex, &b->dep_class);
	*out = b;
	return KB_OK;
fail:
	kb_builder_free(b);
	return rc;
}

/* ---- records ---- */

static void result_from_record(kb_build_result *out, const kb_build_record *rec)
{
	out->ok = rec->ok;
	out->build_key = rec->build_key;
	out->has_signature = rec->has_signature;
	out->signature = rec->signature;
	out->n_artifacts = rec->n_artifacts > KB_BUILD_MAX_ARTIFACTS ? KB_BUILD_MAX_ARTIFACTS
								     : rec->n_artifacts;
	memcpy(out->artifacts, rec->artifacts, out->n_artifacts * sizeof(out->artifacts[0]));
	if (!rec->ok)
		bprintf(out->reason, sizeof(out->reason), "%s", rec->error);
}

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

static int collect_fn(const kb_build_record *rec, void *arg)
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
	bprintf(a->path, sizeof(a->path), "%s", path);
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
static int find_dep_skip(kb_builder *b, struct collect *s, const char *tree, size_t *hit,
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

static void set_extra(kb_build_record *rec, json_t *j)
{
	rec->extra_json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
}

static void fill_host(kb_build_record *rec)
{
	if (gethostname(rec->host, sizeof(rec->host)) != 0)
		bprintf(rec->host, sizeof(rec->host), "unknown");
	rec->host[sizeof(rec->host) - 1] = '\0';
	rec->time = (int64_t)time(NULL);
}

static int record_dep_skip(kb_builder *b, kb_build_result *out, const struct candidate *src,
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
	bprintf(rec.git_tree, sizeof(rec.git_tree), "%s", tree);
	fill_host(&rec);
	j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:I}", "how", "dependency_skip",
		      "dep_class", b->dep_class_hex, "depset", ds, "depset_version",
		      KB_DEPSET_VERSION, "commit", commit, "from_build", src_key, "from_tree",
		      src->rec.git_tree, "changed_paths", (json_int_t)n_changed);
	if (!j)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory");
	set_extra(&rec, j);
	rc = kb_cache_build_put(b->cache, &rec);
	free(rec.extra_json);
	if (rc < 0)
		return rc;
	result_from_record(out, &src->rec);
	out->build_key = *key;
	out->how = KB_BUILD_DEPENDENCY_SKIP;
	out->saved_seconds = src->rec.duration_s;
	bprintf(out->reused_from, sizeof(out->reused_from), "%s", src->rec.git_tree);
	bprintf(out->reason, sizeof(out->reason),
		 "none of the %zu paths changed since tree %.12s is an input of its build",
		 n_changed, src->rec.git_tree);
	kb_cache_note_build_saved(b->cache, src->rec.duration_s);
	return KB_OK;
}

/* ---- first error of a failed build ---- */

static const char *const strong_patterns[] = {
	": error: ", ": fatal error: ", "undefined reference to", "multiple definition of",
	"No rule to make target", "ERROR: ", ": Permission denied", "FAILED unresolved symbol",
	NULL,
};

/* Copy the first compiler error line of log into out (or the last make error line). */
static void first_error(char *out, size_t outlen, const char *log, size_t len)
{
	const char *p = log, *end = log + len, *weak = NULL, *weak_end = NULL;

	out[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		size_t n = (size_t)(eol - p);
		char line[1024];

		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		for (int i = 0; strong_patterns[i]; i++) {
			if (strstr(line, strong_patterns[i])) {
				bprintf(out, outlen, "%s", line);
				return;
			}
		}
		if (!weak && (strstr(line, "] Error ") || strstr(line, "*** ")))
			weak = p, weak_end = eol;
		p = nl ? nl + 1 : end;
	}
	if (weak)
		bprintf(out, outlen, "%.*s", (int)(weak_end - weak), weak);
	else
		bprintf(out, outlen, "build failed without an error message; see the build log");
}

/* ---- estimates of incremental builds ---- */

/* Record the work tree's state: built at tree with inputs deps (taken over), or
 * unknown (tree NULL: the tree is changing, or a build failed). */
static void set_work_state(kb_builder *b, const char *tree, kb_depset *deps, size_t n_cmd)
{
	char path[PATH_MAX];
	struct stat st;

	kb_depset__free(b->wt_deps);
	b->wt_deps = NULL;
	b->wt_tree[0] = '\0';
	b->wt_cmds = 0;
	bprintf(path, sizeof(path), "%s/built-tree", b->worker_dir);
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
	bprintf(b->wt_tree, sizeof(b->wt_tree), "%s", tree);
	b->wt_deps = deps;
	b->wt_cmds = n_cmd;
	b->wt_mtime = st.st_mtim;
}

/* The first line of <worker_dir>/<name> (newline stripped) into buf; 1, or 0 when the
 * file is missing or empty. */
static int read_worker_line(const kb_builder *b, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	bprintf(path, sizeof(path), "%s/%s", b->worker_dir, name);
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
static int load_work_state(kb_builder *b)
{
	char path[PATH_MAX], tree[64] = "";
	struct stat st;
	kb_depset *d = NULL;
	size_t n_cmd = 0;

	bprintf(path, sizeof(path), "%s/built-tree", b->worker_dir);
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
	if (!read_worker_line(b, "built-tree", tree, sizeof(tree)) || strlen(tree) != 40 ||
	    kb_depset__new(&d) < 0 ||
	    kb_depset__scan(d, b->work_tree, &n_cmd) < 0 || n_cmd == 0) {
		kb_depset__free(d);
		kb_error_clear();
		return 0;
	}
	bprintf(b->wt_tree, sizeof(b->wt_tree), "%s", tree);
	b->wt_deps = d;
	b->wt_cmds = n_cmd;
	b->wt_mtime = st.st_mtim;
	return 1;
}

/* 1 if path is a Kconfig file or under scripts/ (kconfig itself and the build tools) */
static int kconfig_or_script(const char *path)
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
	if (kconfig_or_script(path))
		a->objects += (double)a->n_cmd; /* the config or the tools: assume everything */
	else
		a->objects += uses ? uses : 1;
	return 0;
}

/* Expected seconds of building tree now in this builder's work tree: the time of a
 * build with nothing to compile (the quickest recorded) plus the share of a full build
 * (the slowest recorded) that the objects reading a changed path make up. The mean of
 * recorded builds when the work tree's state is unknown; 0 when nothing was built. */
static double estimate_build(kb_builder *b, const char *tree, const struct collect *s)
{
	double mean, full, link, frac;
	struct weigh_arg a;
	size_t n = 0;

	if (!s->built_n)
		return 0;
	mean = s->built_sum / (double)s->built_n;
	full = s->built_max;
	link = s->built_n > 1 ? s->built_min : 0.1 * full;
	if (!load_work_state(b))
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

/* ---- real builds ---- */

static int lock_worker(kb_builder *b, int *fd_out)
{
	char path[PATH_MAX];
	int fd, rc;

	if ((rc = mkdir_p(b->worker_dir)) < 0)
		return rc;
	bprintf(path, sizeof(path), "%s/lock", b->worker_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return kb_error_os("cannot open worker lock '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return kb_error_setc(KB_ELOCKED, KB_ERRCLASS_BUILD,
				     "work tree '%s' is in use by another kbisect; wait for it or "
				     "pass another --worker",
				     b->work_tree);
	}
	*fd_out = fd;
	return KB_OK;
}

static int copy_config(kb_builder *b)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	bprintf(path, sizeof(path), "%s/.config", b->work_tree);
	f = fopen(path, "wb");
	if (!f)
		return kb_error_os("cannot write '%s'", path);
	n = fwrite(b->config, 1, b->config_len, f);
	if (fclose(f) != 0 || n != b->config_len)
		return kb_error_os("cannot write '%s'", path);
	return KB_OK;
}

/* Environment of build commands: kbuild settings, ccache, and for custom commands
 * KBISECT_CONFIG / KBISECT_JOBS / CC. */
struct env {
	char *v[16];
	size_t n;
};

static void env_add(struct env *e, const char *fmt, const char *a)
{
	if (e->n + 1 < sizeof(e->v) / sizeof(e->v[0]) && asprintf(&e->v[e->n], fmt, a) >= 0)
		e->v[++e->n] = NULL;
}

static void env_free(struct env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
}

/* ---- the config step ---- */

/* 1 if a change of path can change what `make olddefconfig` makes of a config: the
 * Kconfig files, the scripts (kconfig itself, the compiler probes), the Makefiles that
 * hand variables to Kconfig */
static int config_input(const char *path)
{
	const char *base = strrchr(path, '/');

	if (kconfig_or_script(path) || !strcmp(path, "Makefile"))
		return 1;
	return base && !strncmp(path, "arch/", 5) && !strcmp(base + 1, "Makefile") &&
	       strchr(path + 5, '/') == base; /* arch/<arch>/Makefile */
}

static int config_input_fn(const char *path, int added, void *arg)
{
	(void)added;
	if (config_input(path))
		*(int *)arg = 1;
	return 0;
}

/* SHA-256 (hex) of the work tree's .config; 0, or -1 when it cannot be read */
static int config_hash(kb_builder *b, char hex[KB_KEY_HEXLEN + 1])
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	kb_key k;

	bprintf(path, sizeof(path), "%s/.config", b->work_tree);
	if (read_file(&text, &len, path, ".config") < 0) {
		kb_error_clear();
		return -1;
	}
	kb_sha256(&k, text, len);
	kb_key_to_hex(hex, &k);
	free(text);
	return 0;
}

/* 1 when the work tree's .config is what `make olddefconfig` would make of this
 * builder's config at tree: <worker_dir>/config-state says it was made at an earlier
 * tree from the same config and compiler (the dependency class), the file is
 * unchanged since (now gets its hash), and no config input changed between the two
 * trees. */
static int config_current(kb_builder *b, const char *tree, char now[KB_KEY_HEXLEN + 1])
{
	char line[256], at[64], cls[80], cfg[80];
	int changed = 0;
	size_t n = 0;

	if (!read_worker_line(b, "config-state", line, sizeof(line)) ||
	    sscanf(line, "%63s %79s %79s", at, cls, cfg) != 3 || strcmp(cls, b->dep_class_hex) ||
	    config_hash(b, now) < 0 || strcmp(cfg, now))
		return 0;
	if (!strcmp(at, tree))
		return 1;
	if (kb_repo__diff_paths(b->repo, at, tree, config_input_fn, &changed, &n) < 0) {
		kb_error_clear();
		return 0;
	}
	return !changed;
}

/* Remember that the work tree's .config (hash hex, NULL: hash it now) is current at
 * tree, or forget it (tree NULL). */
static void config_record(kb_builder *b, const char *tree, const char *hex)
{
	char path[PATH_MAX], own[KB_KEY_HEXLEN + 1];
	FILE *f;

	bprintf(path, sizeof(path), "%s/config-state", b->worker_dir);
	if (!hex && tree && config_hash(b, own) == 0)
		hex = own;
	if (!tree || !hex) {
		unlink(path);
		return;
	}
	f = fopen(path, "w");
	if (!f || fprintf(f, "%s %s %s\n", tree, b->dep_class_hex, hex) < 0 || fclose(f) != 0)
		unlink(path); /* only a skipped step is lost */
}

/* Run the build of tree; *status gets make's (or the command's) exit code. The config
 * step (`make olddefconfig`) is skipped when the .config is current (config_current). */
static int run_build(kb_builder *b, const char *tree, int log_fd, int *status)
{
	struct env e = { { NULL }, 0 };
	char cc_arg[PATH_MAX + 64], jobs[32], jobs_arg[40];
	double deadline = kb_run__now() + b->timeout_s;
	int rc;

	for (size_t i = 0; kbuild_env_list[i]; i++)
		env_add(&e, "%s", kbuild_env_list[i]);
	env_add(&e, "LC_ALL=%s", "C");
	if (b->ccache_remote)
		env_add(&e, "CCACHE_REMOTE_STORAGE=%s", b->ccache_remote);
	if (b->ccache) {
		/* ccache's files live with the cache (an empty cache is a cold ccache too),
		 * unless the user points ccache elsewhere; paths below the work tree are
		 * hashed relative to it, so workers' trees share entries */
		if (b->ccache_dir_env)
			env_add(&e, "CCACHE_DIR=%s", b->ccache_dir_env);
		if (!getenv("CCACHE_BASEDIR") && b->work_tree[0] == '/')
			env_add(&e, "CCACHE_BASEDIR=%s", b->work_tree);
		/* depend mode: a miss does not run the preprocessor first (kbuild passes
		 * -Wp,-MMD); on a tinyconfig kernel a cold ccache then costs +11% instead
		 * of +47% over plain gcc (kernel/ and mm/, 2 cores). Only through
		 * kbisect-ccwrap, which keeps `.incbin` users (the bzImage's piggy.S) out
		 * of it: depend mode would hand back a stale embedded kernel. */
		if (b->ccwrap && !getenv("CCACHE_DEPEND") && !getenv("CCACHE_NODEPEND"))
			env_add(&e, "CCACHE_DEPEND=%s", "1");
	}
	bprintf(jobs, sizeof(jobs), "%d", b->jobs);
	if (b->ccache && b->ccwrap) {
		/* by name, its directory first in PATH: kbuild keeps $(CC) in every .cmd
		 * file, and a wrapper moved elsewhere must not rebuild the whole tree */
		const char *slash = strrchr(b->ccwrap, '/'), *path = getenv("PATH");
		if (slash && !strcmp(slash + 1, "kbisect-ccwrap")) {
			char *p = NULL;
			if (asprintf(&p, "%.*s:%s", (int)(slash - b->ccwrap), b->ccwrap,
				     path && *path ? path : "/usr/local/bin:/usr/bin:/bin") >= 0) {
				env_add(&e, "PATH=%s", p);
				free(p);
			}
			bprintf(cc_arg, sizeof(cc_arg), "kbisect-ccwrap %s %s", b->ccache, b->cc);
		} else {
			bprintf(cc_arg, sizeof(cc_arg), "%s %s %s", b->ccwrap, b->ccache, b->cc);
		}
	} else if (b->ccache)
		bprintf(cc_arg, sizeof(cc_arg), "%s %s", b->ccache, b->cc);
	else
		bprintf(cc_arg, sizeof(cc_arg), "%s", b->cc);

	if (b->build_cmd) {
		const char *argv[] = { "/bin/sh", "-c", b->build_cmd, NULL };
		env_add(&e, "KBISECT_CONFIG=%s", b->config_path);
		env_add(&e, "KBISECT_JOBS=%s", jobs);
		env_add(&e, "CC=%s", cc_arg);
		rc = kb_run__cmd(argv, b->work_tree, (const char *const *)e.v, build_unset, log_fd,
				 b->timeout_s, status);
		env_free(&e);
		return rc;
	}
	{
		char ccv[PATH_MAX + 70];
		char cfg_hex[KB_KEY_HEXLEN + 1];
		int current = config_current(b, tree, cfg_hex);
		bprintf(ccv, sizeof(ccv), "CC=%s", cc_arg);
		bprintf(jobs_arg, sizeof(jobs_arg), "-j%d", b->jobs);
		const char *cfg[] = { "make", ccv, make_args_list[0], make_args_list[1],
				      make_args_list[2], "olddefconfig", NULL };
		const char *img[] = { "make", jobs_arg, ccv, make_args_list[0], make_args_list[1],
				      make_args_list[2], "bzImage", NULL };
		config_record(b, NULL, NULL);
		if (current) {
			/* the same .config again: leave it (and its time stamp) alone */
			static const char note[] = "kbisect: .config is current (same config, no "
						   "Kconfig input changed): make olddefconfig skipped\n";
			ssize_t w = write(log_fd, note, sizeof(note) - 1);
			(void)w; /* the note is only for the reader */
			rc = KB_OK, *status = 0;
		} else if ((rc = copy_config(b)) < 0) {
			env_free(&e);
			return rc;
		} else {
			rc = kb_run__cmd(cfg, b->work_tree, (const char *const *)e.v, build_unset,
					 log_fd, b->timeout_s, status);
		}
		if (rc == KB_OK && *status == 0)
			config_record(b, tree, current ? cfg_hex : NULL);
		if (rc == KB_OK && *status == 0) {
			double left = deadline - kb_run__now();
			rc = kb_run__cmd(img, b->work_tree, (const char *const *)e.v, build_unset,
					 log_fd, left > 1 ? left : 1, status);
		}
	}
	env_free(&e);
	return rc;
}

static int put_artifact(kb_build_record *rec, kb_cache *c, const char *name, const char *path,
			int kind)
{
	kb_put_opts po = { 0 };
	kb_artifact *a;
	int rc;

	if (rec->n_artifacts >= KB_BUILD_MAX_ARTIFACTS)
		return KB_OK;
	po.kind = kind;
	a = &rec->artifacts[rec->n_artifacts];
	if ((rc = kb_cache_put_file(&a->id, c, path, &po)) < 0) {
		kb_error_prefix("cannot store the %s of the build", name);
		return rc;
	}
	bprintf(a->name, sizeof(a->name), "%s", name);
	rec->n_artifacts++;
	return KB_OK;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int real_build(kb_builder *b, kb_build_result *out, const kb_key *key, const char *commit,
		      const char *tree)
{
	char log_path[PATH_MAX], path[PATH_MAX], ds_hex[KB_KEY_HEXLEN + 1];
	kb_build_record rec;
	char *log = NULL, *ds_text = NULL;
	size_t log_len = 0, ds_len = 0, n_cmd = 0;
	kb_depset *ds = NULL;
	kb_key ds_id;
	int lock_fd = -1, log_fd, status = 0, rc;
	double t0 = kb_run__now();
	json_t *j;

	if ((rc = lock_worker(b, &lock_fd)) < 0)
		return rc;
	set_work_state(b, NULL, NULL, 0); /* the tree is about to change */
	if ((rc = kb_repo__checkout(b->repo, b->work_tree, commit, b->timeout_s)) < 0)
		goto out;
	bprintf(log_path, sizeof(log_path), "%s/build.log", b->worker_dir);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		rc = kb_error_os("cannot create build log '%s'", log_path);
		goto out;
	}
	rc = run_build(b, tree, log_fd, &status);
	close(log_fd);
	if (rc == KB_ETIMEOUT) {
		kb_error_prefix("build of %.12s in '%s' (log '%s')", commit, b->work_tree, log_path);
		goto out;
	}
	if (rc < 0)
		goto out;
	if ((rc = read_file(&log, &log_len, log_path, "build log")) < 0)
		goto out;
	if (strstr(log, "No space left on device")) {
		rc = kb_error_setc(KB_EFULL, KB_ERRCLASS_BUILD,
				   "build of %.12s ran out of disk space in '%s'; free space and "
				   "retry (nothing was recorded)",
				   commit, b->work_tree);
		goto out;
	}
	if (status > 128) {
		rc = kb_error_set(KB_ERRCLASS_BUILD,
				  "build of %.12s was killed by signal %d (out of memory?); see "
				  "'%s' (nothing was recorded)",
				  commit, status - 128, log_path);
		goto out;
	}

	memset(&rec, 0, sizeof(rec));
	rec.build_key = *key;
	bprintf(rec.git_tree, sizeof(rec.git_tree), "%s", tree);
	fill_host(&rec);
	bprintf(path, sizeof(path), "%s/vmlinux", b->work_tree);
	if (status == 0 && !file_exists(path)) {
		status = -1;
		bprintf(rec.error, sizeof(rec.error),
			 "the build command succeeded but left no vmlinux in the work tree");
	}
	if (status == 0 && b->image_path[0]) {
		char img[PATH_MAX];
		bprintf(img, sizeof(img), "%s/%s", b->work_tree, b->image_path);
		if (!file_exists(img)) {
			status = -1;
			bprintf(rec.error, sizeof(rec.error),
				 "the build command succeeded but left no '%s'", b->image_path);
		}
	}
	rec.duration_s = kb_run__now() - t0;
	if (status != 0) {
		/* A failure: keep the log (and the config) so it is never rebuilt. */
		if (!rec.error[0])
			first_error(rec.error, sizeof(rec.error), log, log_len);
		out->ok = 0;
		out->how = KB_BUILD_BUILT;
		out->build_key = *key;
		bprintf(out->reason, sizeof(out->reason), "%s", rec.error);
		if (b->no_cache_failures) {
			rc = KB_OK;
			goto out;
		}
		rec.ok = 0;
		if ((rc = put_artifact(&rec, b->cache, "log", log_path, KB_OBJ_BUILDLOG)) < 0)
			goto out;
		bprintf(path, sizeof(path), "%s/.config", b->work_tree);
		if (file_exists(path) &&
		    (rc = put_artifact(&rec, b->cache, "config", path, KB_OBJ_CONFIG)) < 0)
			goto out;
		j = json_pack("{s:s, s:s, s:s, s:i}", "how", "built", "dep_class",
			      b->dep_class_hex, "commit", commit, "exit", status);
		set_extra(&rec, j);
		rc = kb_cache_build_put(b->cache, &rec);
		free(rec.extra_json);
		out->n_artifacts = rec.n_artifacts;
		memcpy(out->artifacts, rec.artifacts, sizeof(rec.artifacts));
		goto out;
	}

	/* Success: signature, artifacts, the input set. */
	if ((rc = kb_signature_file(&rec.signature, path)) < 0)
		goto out;
	rec.has_signature = 1;
	rec.ok = 1;
	if ((rc = put_artifact(&rec, b->cache, "vmlinux", path, KB_OBJ_VMLINUX)) < 0)
		goto out;
	if (b->image_path[0]) {
		char img[PATH_MAX];
		bprintf(img, sizeof(img), "%s/%s", b->work_tree, b->image_path);
		if ((rc = put_artifact(&rec, b->cache, "bzImage", img, KB_OBJ_BZIMAGE)) < 0)
			goto out;
	}
	bprintf(path, sizeof(path), "%s/.config", b->work_tree);
	if (file_exists(path) &&
	    (rc = put_artifact(&rec, b->cache, "config", path, KB_OBJ_CONFIG)) < 0)
		goto out;
	if ((rc = put_artifact(&rec, b->cache, "log", log_path, KB_OBJ_BUILDLOG)) < 0)
		goto out;
	if ((rc = kb_depset__new(&ds)) < 0 || (rc = kb_depset__scan(ds, b->work_tree, &n_cmd)) < 0 ||
	    (rc = kb_depset__serialize(&ds_text, &ds_len, ds)) < 0)
		goto out;
	{
		kb_put_opts po = { 0 };
		po.kind = KB_OBJ_BLOB;
		if ((rc = kb_cache_put_buf(&ds_id, b->cache, ds_text, ds_len, &po)) < 0)
			goto out;
	}
	kb_cache_push(b->cache, &ds_id); /* to the remote: for dependency skip elsewhere */
	kb_key_to_hex(ds_hex, &ds_id);
	rec.duration_s = kb_run__now() - t0;
	j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:I}", "how", "built", "dep_class",
		      b->dep_class_hex, "depset", ds_hex, "depset_version", KB_DEPSET_VERSION,
		      "commit", commit, "depset_paths", (json_int_t)kb_depset__count(ds),
		      "cmd_files", (json_int_t)n_cmd);
	set_extra(&rec, j);
	rc = kb_cache_build_put(b->cache, &rec);
	free(rec.extra_json);
	if (rc < 0)
		goto out;
	result_from_record(out, &rec);
	out->how = KB_BUILD_BUILT;
	if (n_cmd) {
		set_work_state(b, tree, ds, n_cmd);
		ds = NULL;
	}
	if (n_cmd == 0)
		bprintf(out->reason, sizeof(out->reason),
			 "built; no .cmd files found, so this build can never be reused by "
			 "dependency skip");
out:
	kb_depset__free(ds);
	free(ds_text);
	free(log);
	if (lock_fd >= 0)
		close(lock_fd);
	return rc;
}

/* ---- public entry points ---- */

/* The record of the build of rev, or the candidates for a dependency skip. Building
 * (predict 0): one kb_cache_build_get() (counts the hit or the miss; reads through the
 * cache's remote), and only on a miss the scan of all records. Predicting: the scan
 * (which counts nothing) and, when it did not find the key, kb_cache_build_get() for
 * the remote. 1 found (out filled), 0 not found, or a kb_error_code. */
static int lookup(kb_builder *b, kb_build_result *out, const char *rev, struct collect *s,
		  int predict)
{
	kb_build_inputs in;
	kb_key key;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(s, 0, sizeof(*s));
	if ((rc = kb_repo__resolve(b->repo, rev, out->commit, out->tree)) < 0)
		return rc;
	fill_inputs(&in, b, out->tree);
	kb_build_key_compute(&key, &in);
	out->build_key = key;
	s->b = b;
	s->want = predict ? &key : NULL;
	if (predict && (rc = kb_cache_build_foreach(b->cache, collect_fn, s)) < 0)
		return rc;
	if (!s->found) {
		kb_build_record rec;
		if (kb_cache_build_get(&rec, b->cache, &key) == KB_OK) {
			s->found = 1;
			s->found_rec = rec;
			s->found_rec.extra_json = NULL;
			kb_build_record_clear(&rec);
		}
		kb_error_clear();
	}
	if (s->found && !(b->no_cache_failures && !s->found_rec.ok)) {
		result_from_record(out, &s->found_rec);
		out->how = s->found_rec.ok ? KB_BUILD_CACHE_HIT : KB_BUILD_CACHED_FAILURE;
		out->saved_seconds = s->found_rec.duration_s;
		if (!predict)
			kb_cache_note_build_saved(b->cache, out->saved_seconds);
		return 1;
	}
	if (!predict && (rc = kb_cache_build_foreach(b->cache, collect_fn, s)) < 0)
		return rc; /* candidates for a dependency skip */
	return 0;
}

int kb_builder_predict(kb_build_result *out, kb_builder *b, const char *rev)
{
	struct collect s;
	size_t hit = 0, n_changed = 0;
	int rc;

	rc = lookup(b, out, rev, &s, 1);
	if (rc != 0) {
		free(s.c);
		return rc < 0 ? rc : KB_OK;
	}
	out->how = KB_BUILD_NEEDS_BUILD;
	out->saved_seconds = s.built_n ? s.built_sum / (double)s.built_n : 0;
	if (!b->no_dep_skip && (rc = find_dep_skip(b, &s, out->tree, &hit, &n_changed)) > 0) {
		result_from_record(out, &s.c[hit].rec);
		out->how = KB_BUILD_DEPENDENCY_SKIP;
		out->saved_seconds = s.c[hit].rec.duration_s;
		bprintf(out->reused_from, sizeof(out->reused_from), "%s", s.c[hit].rec.git_tree);
	}
	if (rc == 0) /* needs a build */
		out->est_seconds = estimate_build(b, out->tree, &s);
	free(s.c);
	return rc < 0 ? rc : KB_OK;
}

int kb_builder_build(kb_build_result *out, kb_builder *b, const char *rev)
{
	double t0 = kb_run__now();
	struct collect s;
	size_t hit = 0, n_changed = 0;
	kb_key key;
	int rc;

	rc = lookup(b, out, rev, &s, 0);
	if (rc != 0) {
		free(s.c);
		out->seconds = kb_run__now() - t0;
		return rc < 0 ? rc : KB_OK;
	}
	key = out->build_key;
	if (!b->no_dep_skip) {
		rc = find_dep_skip(b, &s, out->tree, &hit, &n_changed);
		if (rc > 0)
			rc = record_dep_skip(b, out, &s.c[hit], &key, out->commit, out->tree,
					     n_changed);
		if (rc != 0 || out->how == KB_BUILD_DEPENDENCY_SKIP) {
			free(s.c);
			out->seconds = kb_run__now() - t0;
			return rc < 0 ? rc : KB_OK;
		}
	}
	free(s.c);
	rc = real_build(b, out, &key, out->commit, out->tree);
	out->seconds = kb_run__now() - t0;
	return rc;
}
