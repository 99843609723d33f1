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
 * is a plain cache hit. Failures of the host (build_fail.c) are never recorded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
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
#include "kbisect/util.h"
#include "common/error_internal.h"
#include "build_internal.h"

#define DEFAULT_TIMEOUT_S (3 * 3600.0)
#define KBUILD_TIMESTAMP "Thu Jan  1 00:00:00 UTC 1970"


const char *const kb_build__make_args[] = {
	"KERNELVERSION=kbisect", "KERNELRELEASE=kbisect", "LOCALVERSION=-kbisect", NULL,
};

const char *const kb_build__kbuild_env[] = {
	"KBUILD_BUILD_HOST=kbisect",
	"KBUILD_BUILD_TIMESTAMP=" KBUILD_TIMESTAMP,
	"KBUILD_BUILD_USER=kbisect",
	"KBUILD_BUILD_VERSION=0",
	NULL,
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
int kb_build__bprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

int kb_build__read_file(char **out, size_t *len, const char *path, const char *what)
{
	/* no practical limit: a compiler driver or a build log may be large */
	return kb_file_read(out, len, path, SIZE_MAX / 4, what);
}

int kb_build__mkdir_p(const char *path)
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
	char buf[PATH_MAX];

	if (kb_path_find(buf, sizeof(buf), prog) != KB_OK)
		return -1;
	return realpath(buf, out) ? 0 : -1;
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
	if ((rc = kb_build__read_file(&text, &len, exe, "compiler")) < 0)
		return rc;
	kb_sha256(&b->cc_hash, text, len);
	free(text);
	fd = mkstemp(tmpl);
	if (fd < 0)
		return kb_error_os("cannot create a temporary file in /tmp");
	rc = kb_run__cmd(argv, NULL, NULL, NULL, fd, 60, &status);
	close(fd);
	if (rc == KB_OK)
		rc = kb_build__read_file(&text, &len, tmpl, "compiler version output");
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
			kb_build__bprintf(path, sizeof(path), "%s/kbisect-ccwrap", self);
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
	if ((rc = kb_build__read_file(&b->config, &b->config_len, real, "kernel config")) < 0)
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
	b->retry_failed = opts->retry_failed;
	b->make_args = join(kb_build__make_args, " ");
	b->kbuild_env = join(kb_build__kbuild_env, "\n");
	if (b->build_cmd) {
		size_t n = strlen(b->build_cmd) + strlen(b->image_path) + 32;
		b->targets = malloc(n);
		if (b->targets)
			kb_build__bprintf(b->targets, n, "custom:%s\nimage:%s", b->build_cmd, b->image_path);
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
			kb_build__bprintf(home_work, sizeof(home_work), "%s/.cache/kbisect/work",
				 home && *home ? home : "/tmp");
			work = home_work;
		}
	}
	char abs_work[PATH_MAX];
	if (work[0] != '/') { /* absolute: make runs in the tree, ccache wants it so */
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) &&
		    (size_t)kb_build__bprintf(abs_work, sizeof(abs_work), "%s/%s", cwd, work) <
			    sizeof(abs_work))
			work = abs_work;
	}
	if (!realpath(kb_repo__gitdir(b->repo), real))
		kb_build__bprintf(real, sizeof(real), "%s", kb_repo__gitdir(b->repo));
	kb_sha256(&repo_id, real, strlen(real));
	kb_key_to_hex(repo_hex, &repo_id);
	if ((size_t)kb_build__bprintf(b->worker_dir, sizeof(b->worker_dir), "%s/%.12s/w%d", work, repo_hex,
			     opts->worker) >= sizeof(b->worker_dir) - 16) {
		rc = kb_error_setc(KB_EINVAL, KB_ERRCLASS_BUILD, "work directory path too long: '%s'",
				   work);
		goto fail;
	}
	kb_build__bprintf(b->work_tree, sizeof(b->work_tree), "%s/src", b->worker_dir);

	fill_inputs(&in, b, "");
	kb_build_key_compute(&b->dep_class, &in);
	kb_key_to_hex(b->dep_class_hex, &b->dep_class);
	*out = b;
	return KB_OK;
fail:
	kb_builder_free(b);
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
	if (predict && (rc = kb_cache_build_foreach(b->cache, kb_build__collect_fn, s)) < 0)
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
	if (s->found && !((b->no_cache_failures || b->retry_failed) && !s->found_rec.ok)) {
		kb_build__result_from_record(out, &s->found_rec);
		out->how = s->found_rec.ok ? KB_BUILD_CACHE_HIT : KB_BUILD_CACHED_FAILURE;
		out->saved_seconds = s->found_rec.duration_s;
		if (!predict)
			kb_cache_note_build_saved(b->cache, out->saved_seconds);
		return 1;
	}
	if (!predict && (rc = kb_cache_build_foreach(b->cache, kb_build__collect_fn, s)) < 0)
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
	if (!b->no_dep_skip && (rc = kb_build__find_dep_skip(b, &s, out->tree, &hit, &n_changed)) > 0) {
		kb_build__result_from_record(out, &s.c[hit].rec);
		out->how = KB_BUILD_DEPENDENCY_SKIP;
		out->saved_seconds = s.c[hit].rec.duration_s;
		kb_build__bprintf(out->reused_from, sizeof(out->reused_from), "%s", s.c[hit].rec.git_tree);
	}
	if (rc == 0) /* needs a build */
		out->est_seconds = kb_build__estimate(b, out->tree, &s);
	free(s.c);
	return rc < 0 ? rc : KB_OK;
}

int kb_builder_build(kb_build_result *out, kb_builder *b, const char *rev)
{
	double t0 = kb_now_s();
	struct collect s;
	size_t hit = 0, n_changed = 0;
	kb_key key;
	int rc;

	rc = lookup(b, out, rev, &s, 0);
	if (rc != 0) {
		free(s.c);
		out->seconds = kb_now_s() - t0;
		return rc < 0 ? rc : KB_OK;
	}
	key = out->build_key;
	if (!b->no_dep_skip) {
		rc = kb_build__find_dep_skip(b, &s, out->tree, &hit, &n_changed);
		if (rc > 0)
			rc = kb_build__record_dep_skip(b, out, &s.c[hit], &key, out->commit, out->tree,
					     n_changed);
		if (rc != 0 || out->how == KB_BUILD_DEPENDENCY_SKIP) {
			free(s.c);
			out->seconds = kb_now_s() - t0;
			return rc < 0 ? rc : KB_OK;
		}
	}
	free(s.c);
	rc = kb_build__real_build(b, out, &key, out->commit, out->tree);
	out->seconds = kb_now_s() - t0;
	return rc;
}
