/*
 * builder/build_make.c - the builder's real builds: check out, configure, run make (or
 * the custom build command) in the worker's tree under a lock and a time limit, and
 * record what it produced (artifacts, input set) or how it failed (first error).
 * Owns: the make invocation's environment and reproducibility settings, the config
 * step, the first error of a log, recording failures of the tree; host failures
 * (kb_build__host_failure(), build_fail.c: a missing tool, out of memory, killed, a
 * full disk, ccache, timeouts) are returned as infra and never recorded.
 * Not: the build key (build.c), reuse of recorded builds (build_reuse.c).
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
#include <sys/statvfs.h>
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


/* Variables that would change what make builds behind the key's back. */
static const char *const build_unset[] = {
	"ARCH", "CROSS_COMPILE", "KCFLAGS", "KCPPFLAGS", "KAFLAGS", "KRUSTFLAGS", "O", "W",
	"C", "M", "V", "KBUILD_OUTPUT", "KBUILD_EXTMOD", "KCONFIG_CONFIG", "LLVM",
	"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
	"SOURCE_DATE_EPOCH", NULL,
};

/* ---- first error of a failed build ---- */

static const char *const strong_patterns[] = {
	": error: ", ": fatal error: ", "undefined reference to", "multiple definition of",
	"No rule to make target", "ERROR: ", ": Permission denied", "FAILED unresolved symbol",
	": not found", NULL,
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
				kb_build__bprintf(out, outlen, "%s", line);
				return;
			}
		}
		if (!weak && (strstr(line, "] Error ") || strstr(line, "*** ")))
			weak = p, weak_end = eol;
		p = nl ? nl + 1 : end;
	}
	if (weak)
		kb_build__bprintf(out, outlen, "%.*s", (int)(weak_end - weak), weak);
	else
		kb_build__bprintf(out, outlen, "build failed without an error message; see the build log");
}

/* ---- real builds ---- */

static int lock_worker(kb_builder *b, int *fd_out)
{
	char path[PATH_MAX];
	int fd, rc;

	if ((rc = kb_build__mkdir_p(b->worker_dir)) < 0)
		return rc;
	kb_build__bprintf(path, sizeof(path), "%s/lock", b->worker_dir);
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

	kb_build__bprintf(path, sizeof(path), "%s/.config", b->work_tree);
	f = fopen(path, "wb");
	if (!f)
		return kb_error_os("cannot write '%s'", path);
	n = fwrite(b->config, 1, b->config_len, f);
	if (fclose(f) != 0 || n != b->config_len)
		return kb_error_os("cannot write '%s'", path);
	return KB_OK;
}

/* Environment of build commands: kbuild settings, ccache, and for custom commands
 * KBISECT_KCONFIG (and KBISECT_CONFIG, its old name) / KBISECT_JOBS / CC. */
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

	if (kb_build__kconfig_or_script(path) || !strcmp(path, "Makefile"))
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

	kb_build__bprintf(path, sizeof(path), "%s/.config", b->work_tree);
	if (kb_build__read_file(&text, &len, path, ".config") < 0) {
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

	if (!kb_build__read_worker_line(b, "config-state", line, sizeof(line)) ||
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

	kb_build__bprintf(path, sizeof(path), "%s/config-state", b->worker_dir);
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
	double deadline = kb_now_s() + b->timeout_s;
	int rc;

	for (size_t i = 0; kb_build__kbuild_env[i]; i++)
		env_add(&e, "%s", kb_build__kbuild_env[i]);
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
	kb_build__bprintf(jobs, sizeof(jobs), "%d", b->jobs);
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
			kb_build__bprintf(cc_arg, sizeof(cc_arg), "kbisect-ccwrap %s %s", b->ccache, b->cc);
		} else {
			kb_build__bprintf(cc_arg, sizeof(cc_arg), "%s %s %s", b->ccwrap, b->ccache, b->cc);
		}
	} else if (b->ccache)
		kb_build__bprintf(cc_arg, sizeof(cc_arg), "%s %s", b->ccache, b->cc);
	else
		kb_build__bprintf(cc_arg, sizeof(cc_arg), "%s", b->cc);

	if (b->build_cmd) {
		const char *argv[] = { "/bin/sh", "-c", b->build_cmd, NULL };
		/* the kernel config; KBISECT_CONFIG is also kbisect's own config file
		 * (common/conf.c), so the build command's name for it is KBISECT_KCONFIG,
		 * and KBISECT_CONFIG keeps its old meaning here for existing scripts */
		env_add(&e, "KBISECT_KCONFIG=%s", b->config_path);
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
		kb_build__bprintf(ccv, sizeof(ccv), "CC=%s", cc_arg);
		kb_build__bprintf(jobs_arg, sizeof(jobs_arg), "-j%d", b->jobs);
		const char *cfg[] = { "make", ccv, kb_build__make_args[0], kb_build__make_args[1],
				      kb_build__make_args[2], "olddefconfig", NULL };
		const char *img[] = { "make", jobs_arg, ccv, kb_build__make_args[0], kb_build__make_args[1],
				      kb_build__make_args[2], "bzImage", NULL };
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
			double left = deadline - kb_now_s();
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
	kb_build__bprintf(a->name, sizeof(a->name), "%s", name);
	rec->n_artifacts++;
	return KB_OK;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Store the work tree's .config (when there is one) as the record's "config". */
static int put_config(kb_build_record *rec, kb_builder *b)
{
	char path[PATH_MAX];

	kb_build__bprintf(path, sizeof(path), "%s/.config", b->work_tree);
	return file_exists(path) ? put_artifact(rec, b->cache, "config", path, KB_OBJ_CONFIG)
				 : KB_OK;
}

/* A failed build: keep its log (and config) so it is never rebuilt, unless
 * no_cache_failures. status: the command's exit status, or -1 (no vmlinux/image). */
static int record_failure(kb_builder *b, kb_build_result *out, kb_build_record *rec,
			  const char *commit, const char *log_path, const char *log,
			  size_t log_len, int status)
{
	json_t *j;
	int rc;

	if (!rec->error[0])
		first_error(rec->error, sizeof(rec->error), log, log_len);
	out->ok = 0;
	out->how = KB_BUILD_BUILT;
	out->build_key = rec->build_key;
	kb_build__bprintf(out->reason, sizeof(out->reason), "%s", rec->error);
	if (b->no_cache_failures)
		return KB_OK;
	rec->ok = 0;
	if ((rc = put_artifact(rec, b->cache, "log", log_path, KB_OBJ_BUILDLOG)) < 0)
		return rc;
	if ((rc = put_config(rec, b)) < 0)
		return rc;
	j = json_pack("{s:s, s:s, s:s, s:i}", "how", "built", "dep_class",
		      b->dep_class_hex, "commit", commit, "exit", status);
	kb_build__set_extra(rec, j);
	rc = kb_cache_build_put(b->cache, rec);
	free(rec->extra_json);
	rec->extra_json = NULL;
	out->n_artifacts = rec->n_artifacts;
	memcpy(out->artifacts, rec->artifacts, sizeof(rec->artifacts));
	return rc;
}

/* A successful build: signature, artifacts and the input set, recorded; the work tree's
 * state for estimates. t0: when the build started. */
static int record_success(kb_builder *b, kb_build_result *out, kb_build_record *rec,
			  const char *commit, const char *tree, const char *log_path,
			  double t0)
{
	char path[PATH_MAX], ds_hex[KB_KEY_HEXLEN + 1];
	char *ds_text = NULL;
	size_t ds_len = 0, n_cmd = 0;
	kb_depset *ds = NULL;
	kb_put_opts po = { 0 };
	kb_key ds_id;
	json_t *j;
	int rc;

	kb_build__bprintf(path, sizeof(path), "%s/vmlinux", b->work_tree);
	if ((rc = kb_signature_file(&rec->signature, path)) < 0)
		return rc;
	rec->has_signature = 1;
	rec->ok = 1;
	if ((rc = put_artifact(rec, b->cache, "vmlinux", path, KB_OBJ_VMLINUX)) < 0)
		return rc;
	if (b->image_path[0]) {
		kb_build__bprintf(path, sizeof(path), "%s/%s", b->work_tree, b->image_path);
		if ((rc = put_artifact(rec, b->cache, "bzImage", path, KB_OBJ_BZIMAGE)) < 0)
			return rc;
	}
	if ((rc = put_config(rec, b)) < 0)
		return rc;
	if ((rc = put_artifact(rec, b->cache, "log", log_path, KB_OBJ_BUILDLOG)) < 0)
		return rc;
	po.kind = KB_OBJ_BLOB;
	if ((rc = kb_depset__new(&ds)) < 0 || (rc = kb_depset__scan(ds, b->work_tree, &n_cmd)) < 0 ||
	    (rc = kb_depset__serialize(&ds_text, &ds_len, ds)) < 0 ||
	    (rc = kb_cache_put_buf(&ds_id, b->cache, ds_text, ds_len, &po)) < 0)
		goto out;
	kb_cache_push(b->cache, &ds_id); /* to the remote: for dependency skip elsewhere */
	kb_key_to_hex(ds_hex, &ds_id);
	rec->duration_s = kb_now_s() - t0;
	j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:I}", "how", "built", "dep_class",
		      b->dep_class_hex, "depset", ds_hex, "depset_version", KB_DEPSET_VERSION,
		      "commit", commit, "depset_paths", (json_int_t)kb_depset__count(ds),
		      "cmd_files", (json_int_t)n_cmd);
	kb_build__set_extra(rec, j);
	rc = kb_cache_build_put(b->cache, rec);
	free(rec->extra_json);
	rec->extra_json = NULL;
	if (rc < 0)
		goto out;
	kb_build__result_from_record(out, rec);
	out->how = KB_BUILD_BUILT;
	if (n_cmd) {
		kb_build__set_work_state(b, tree, ds, n_cmd);
		ds = NULL;
	} else {
		kb_build__bprintf(out->reason, sizeof(out->reason),
				  "built; no .cmd files found, so this build can never be reused "
				  "by dependency skip");
	}
out:
	kb_depset__free(ds);
	free(ds_text);
	return rc;
}

/* Run the build of commit in the worker's tree (locked); its log in *log. 0, or an
 * error (*timed_out: the time limit passed, an infra failure). */
static int run_locked(kb_builder *b, const char *commit, const char *tree,
		      const char *log_path, char **log, size_t *log_len, int *status,
		      int *timed_out)
{
	int log_fd, rc;

	kb_build__set_work_state(b, NULL, NULL, 0); /* the tree is about to change */
	if ((rc = kb_repo__checkout(b->repo, b->work_tree, commit, b->timeout_s)) < 0)
		return rc;
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log_fd < 0)
		return kb_error_os("cannot create build log '%s'", log_path);
	rc = run_build(b, tree, log_fd, status);
	close(log_fd);
	if (rc == KB_ETIMEOUT) {
		*timed_out = 1;
		kb_error_prefix("build of %.12s in '%s' (log '%s'; infra: nothing was recorded)",
				commit, b->work_tree, log_path);
		return rc;
	}
	if (rc < 0)
		return rc;
	return kb_build__read_file(log, log_len, log_path, "build log");
}

/* 1 (why filled) when the file system of dir is full: a build that ran out of space
 * may not even be able to say so in its log, which lives there too */
static int disk_full(const char *dir, char *why, size_t whylen)
{
	struct statvfs st;
	unsigned long long avail, size;

	if (statvfs(dir, &st) != 0)
		return 0;
	avail = (unsigned long long)st.f_bavail * st.f_frsize;
	size = (unsigned long long)st.f_blocks * st.f_frsize;
	if (avail >= (1ull << 20) && avail * 200 >= size)
		return 0;
	kb_build__bprintf(why, whylen, "disk full: %llu KiB left on the file system of '%s'",
			  avail >> 10, dir);
	return 1;
}

/* A build that failed because of the host: out says so (infra), nothing is recorded,
 * the error says what to fix. */
static int host_failure(kb_build_result *out, const kb_key *key, const char *commit,
			const char *log_path, const char *why)
{
	out->ok = 0;
	out->infra = 1;
	out->how = KB_BUILD_BUILT;
	out->build_key = *key;
	kb_build__bprintf(out->reason, sizeof(out->reason), "%s", why);
	return kb_error_setc(strstr(why, "disk full") || strstr(why, "disk quota") ? KB_EFULL
										      : KB_ERROR,
			     KB_ERRCLASS_BUILD,
			     "build of %.12s failed because of the host, not the tree: %s; fix "
			     "the host and build again (nothing was recorded; log '%s')",
			     commit, why, log_path);
}

int kb_build__real_build(kb_builder *b, kb_build_result *out, const kb_key *key,
			 const char *commit, const char *tree)
{
	char log_path[PATH_MAX], path[PATH_MAX];
	kb_build_record rec;
	char *log = NULL;
	size_t log_len = 0;
	char why[sizeof(out->reason)];
	int lock_fd = -1, status = 0, timed_out = 0, rc;
	double t0 = kb_now_s();

	if ((rc = lock_worker(b, &lock_fd)) < 0)
		return rc;
	kb_build__bprintf(log_path, sizeof(log_path), "%s/build.log", b->worker_dir);
	if ((rc = run_locked(b, commit, tree, log_path, &log, &log_len, &status, &timed_out)) < 0) {
		if (timed_out) { /* infra: the error is set */
			out->ok = 0, out->infra = 1, out->how = KB_BUILD_BUILT;
			out->build_key = *key;
			kb_build__bprintf(out->reason, sizeof(out->reason),
					  "timeout: the build ran past %.0f s", b->timeout_s);
		}
		goto out;
	}
	/* a full disk may not even fail the command (a truncated file); any other host
	 * cause only matters when it did fail */
	if ((status != 0 || memmem(log, log_len, "No space left on device", 23)) &&
	    (kb_build__host_failure(status ? status : 1, log, log_len, why, sizeof(why)) ||
	     disk_full(b->work_tree, why, sizeof(why)))) {
		rc = host_failure(out, key, commit, log_path, why);
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	rec.build_key = *key;
	kb_build__bprintf(rec.git_tree, sizeof(rec.git_tree), "%s", tree);
	kb_build__fill_host(&rec);
	kb_build__bprintf(path, sizeof(path), "%s/vmlinux", b->work_tree);
	if (status == 0 && !file_exists(path)) {
		status = -1;
		kb_build__bprintf(rec.error, sizeof(rec.error),
				  "the build command succeeded but left no vmlinux in the work tree");
	}
	if (status == 0 && b->image_path[0]) {
		kb_build__bprintf(path, sizeof(path), "%s/%s", b->work_tree, b->image_path);
		if (!file_exists(path)) {
			status = -1;
			kb_build__bprintf(rec.error, sizeof(rec.error),
					  "the build command succeeded but left no '%s'",
					  b->image_path);
		}
	}
	rec.duration_s = kb_now_s() - t0;
	if (status != 0)
		rc = record_failure(b, out, &rec, commit, log_path, log, log_len, status);
	else
		rc = record_success(b, out, &rec, commit, tree, log_path, t0);
out:
	free(log);
	if (lock_fd >= 0)
		close(lock_fd);
	return rc;
}
