/*
 * cli/cmd_build.c - `kbisect build`: obtain the kernel of one or more revisions
 * (cache hit, dependency skip, cached failure or a real build) and say how.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kbisect/builder.h"
#include "kbisect/cache.h"
#include "kbisect/error.h"
#include "kbisect/remote.h"
#include "cmd.h"
#include "options.h"

static const char *const build_usage[] = {
	"kbisect build --repo <dir> --rev <rev>... --config <file> [--jobs <n>] [--json]",
	"              [--cache <dir>] [--cc <compiler>] [--ccache <prog>] [--ccache-remote <url>]",
	"              [--remote <url>]",
	"              [--build-cmd <shell command>] [--image <path>] [--worker <n>]",
	"              [--work-dir <dir>] [--timeout <seconds>] [--no-dep-skip] [--predict]",
	"              [--retry-failed]",
	NULL,
};

static const struct kb_cmd_doc build_doc = {
	build_usage,
	"Build the kernel of each --rev (at most once across all bisects sharing the\n"
	"cache) and print its kernel signature, its artifacts and how it was obtained:\n"
	"built, cache_hit, dependency_skip (no input of a cached build changed) or\n"
	"cached_failure (the same inputs failed before).\n"
	"A build that fails because of the tree (compiler or linker errors in its files)\n"
	"is recorded and shared; one that fails because of the host (a tool missing, out\n"
	"of memory, killed, disk full, ccache, timeout) is infra: nothing is recorded and\n"
	"the next build tries again (docs/kbisect-build.md, \"Failed builds\").",
	"Exit 0 when every kernel exists, 1 when a build failed (or is a cached\n"
	"failure, or failed because of the host) or on error, 129 on usage errors.",
};

static void print_text(const kb_build_result *r, const char *rev, int predict)
{
	char sig[KB_KEY_HEXLEN + 1] = "-", t1[32], t2[32];

	if (r->has_signature)
		kb_key_to_hex(sig, &r->signature);
	kb_cli_human_duration(t1, sizeof(t1), r->seconds);
	kb_cli_human_duration(t2, sizeof(t2), r->saved_seconds);
	printf("%s %s (commit %.12s, tree %.12s)\n", rev, kb_build_how_name(r->how), r->commit,
	       r->tree);
	if (r->ok || r->how == KB_BUILD_DEPENDENCY_SKIP)
		printf("  signature  %s\n", sig);
	if (predict)
		printf("  expected build time avoided  %s\n", t2);
	else if (r->how == KB_BUILD_BUILT)
		printf("  took %s\n", t1);
	else
		printf("  took %s, saved %s\n", t1, t2);
	if (r->reused_from[0])
		printf("  reused build of tree %.12s\n", r->reused_from);
	if (r->reason[0])
		printf("  %s  %s\n", r->ok ? "why" : "error", r->reason);
	for (size_t i = 0; i < r->n_artifacts; i++) {
		char hex[KB_KEY_HEXLEN + 1];
		kb_key_to_hex(hex, &r->artifacts[i].id);
		printf("  %-9s  %s\n", r->artifacts[i].name, hex);
	}
}

static int print_json(const kb_build_result *r, const char *rev)
{
	char hex[KB_KEY_HEXLEN + 1];
	json_t *o = json_object(), *arts = json_object();
	char *s;

	if (!o || !arts) {
		json_decref(o);
		json_decref(arts);
		return -1;
	}
	json_object_set_new(o, "rev", json_string(rev));
	json_object_set_new(o, "commit", json_string(r->commit));
	json_object_set_new(o, "tree", json_string(r->tree));
	json_object_set_new(o, "how", json_string(kb_build_how_name(r->how)));
	json_object_set_new(o, "ok", json_boolean(r->ok));
	if (r->has_signature) {
		kb_key_to_hex(hex, &r->signature);
		json_object_set_new(o, "signature", json_string(hex));
	} else {
		json_object_set_new(o, "signature", json_null());
	}
	kb_key_to_hex(hex, &r->build_key);
	json_object_set_new(o, "build_key", json_string(hex));
	json_object_set_new(o, "seconds", json_real(r->seconds));
	json_object_set_new(o, "saved_seconds", json_real(r->saved_seconds));
	if (r->reused_from[0])
		json_object_set_new(o, "reused_from_tree", json_string(r->reused_from));
	if (r->reason[0])
		json_object_set_new(o, r->ok ? "why" : "error", json_string(r->reason));
	if (!r->ok && r->how != KB_BUILD_NEEDS_BUILD)
		json_object_set_new(o, "infra", json_boolean(r->infra));
	for (size_t i = 0; i < r->n_artifacts; i++) {
		kb_key_to_hex(hex, &r->artifacts[i].id);
		json_object_set_new(arts, r->artifacts[i].name, json_string(hex));
	}
	json_object_set_new(o, "artifacts", arts);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return -1;
	printf("%s\n", s);
	free(s);
	fflush(stdout);
	return 0;
}

int cmd_build(int argc, char **argv)
{
	kb_build_opts o = { 0 };
	const char *repo = NULL, *cache_dir = NULL, *remote_url = NULL;
	const char **revs;
	char ccache_url[4200];
	kb_remote *remote = NULL;
	int n_revs = 0, json = 0, predict = 0, rc = KB_EXIT_OK;
	kb_cache *c = NULL;
	kb_builder *b = NULL;

	struct kb_opt_list rl = { NULL, 0, 0 };
	const struct kb_option options[] = {
		KB_OPT_STR(0, "repo", &repo, "dir", "git repository of the kernel"),
		KB_OPT_STRS(0, "rev", &rl, "rev", "revision to build (repeat for several, built "
			    "in order)"),
		KB_OPT_STR(0, "config", &o.config_path, "file",
			   "base kernel config (make olddefconfig completes it)"),
		KB_OPT_INTEGER(0, "jobs", &o.jobs, 1, 1000000, "n",
			       "make -j (default: number of CPUs)"),
		KB_OPT_BOOL(0, "json", &json, "one JSON object per revision"),
		KB_OPT_STR(0, "cache", &cache_dir, "dir",
			   "cache directory (default $KBISECT_CACHE, ~/.cache/kbisect)"),
		KB_OPT_STR(0, "cc", &o.cc, "compiler", "gcc (default), clang, or a path"),
		KB_OPT_STR(0, "ccache", &o.ccache, "prog", "wrap the compiler with ccache"),
		KB_OPT_STR(0, "ccache-remote", &o.ccache_remote, "url",
			   "ccache remote storage (e.g. the kbisect cache server)"),
		KB_OPT_STR(0, "remote", &remote_url, "url",
			   "shared cache server (default $KBISECT_REMOTE, config): build records "
			   "read/written through, ccache on it too"),
		KB_OPT_STR(0, "build-cmd", &o.build_cmd, "cmd",
			   "custom build command run with sh in the work tree ($KBISECT_KCONFIG: "
			   "the kernel config, $KBISECT_JOBS, $CC); must leave vmlinux"),
		KB_OPT_STR(0, "image", &o.image_path, "path",
			   "boot image in the tree (default arch/x86/boot/bzImage; \"\" for none)"),
		KB_OPT_INTEGER(0, "worker", &o.worker, 0, 1000000, "n",
			       "worker index: its own work tree (parallel builds)"),
		KB_OPT_STR(0, "work-dir", &o.work_dir, "dir",
			   "root of work trees (default $KBISECT_WORK, ~/.cache/kbisect/work)"),
		KB_OPT_NUMBER(0, "timeout", &o.timeout_s, 0, 1e9, "seconds",
			      "time limit of one build (default 10800)"),
		KB_OPT_BOOL(0, "no-dep-skip", &o.no_dep_skip, "never reuse a build by dependency skip"),
		KB_OPT_BOOL(0, "predict", &predict, "only say what building would cost; build nothing"),
		KB_OPT_BOOL(0, "retry-failed", &o.retry_failed,
			    "build again even if a failure of the same inputs is recorded (the "
			    "new result replaces it, on the --remote too)"),
		KB_OPT_TABLE_END,
	};
	int n;

	revs = calloc((size_t)argc + 1, sizeof(*revs));
	if (!revs)
		return kb_cli_error("out of memory");
	rl.v = revs, rl.max = (unsigned int)argc;
	n = kb_options_parse(argc, argv, options, &build_doc, 0);
	n_revs = (int)rl.n;
	if (n != 0) {
		free(revs);
		return n < 0 ? kb_options_exit(n)
			     : kb_cli_usage_error(build_usage, "unexpected argument '%.128s'",
						  argv[0]);
	}
	if (!repo || !n_revs || !o.config_path) {
		free(revs);
		return kb_cli_usage_error(build_usage, "--repo, --rev and --config are required");
	}
	if (remote_url) {
		if ((rc = kb_cli_remote_open(&remote, remote_url)) != KB_EXIT_OK)
			goto out;
		if (!o.ccache_remote)
			o.ccache_remote = kb_cli_remote_ccache(ccache_url, sizeof(ccache_url),
							       remote_url);
	} else if (kb_cli_remote_resolve(&remote, NULL) != KB_OK) {
		/* $KBISECT_REMOTE or the config file: a bad one is not fatal here */
		fprintf(stderr, "kbisect: warning: remote not used: %s\n",
			kb_error_last()->message);
		remote = NULL;
	}
	if (kb_cache_open(&c, kb_cli_cache_dir(cache_dir), KB_CACHE_CREATE) != KB_OK) {
		rc = kb_cli_die_error();
		goto out;
	}
	kb_cache_set_remote(c, remote); /* the second tier (NULL: local only) */
	if (kb_builder_open(&b, repo, c, &o) != KB_OK) {
		rc = kb_cli_die_error();
		goto out;
	}
	for (int i = 0; i < n_revs; i++) {
		kb_build_result r;
		int e = predict ? kb_builder_predict(&r, b, revs[i]) : kb_builder_build(&r, b, revs[i]);
		if (e != KB_OK && r.infra) {
			/* the host's fault: say so, go on with the next revision */
			if (json)
				print_json(&r, revs[i]);
			rc = kb_cli_die_error();
			continue;
		}
		if (e != KB_OK) {
			rc = kb_cli_die_error();
			break;
		}
		if (json ? print_json(&r, revs[i]) : (print_text(&r, revs[i], predict), 0)) {
			rc = kb_cli_error("cannot encode JSON for '%s'", revs[i]);
			break;
		}
		if (!r.ok && !(predict && r.how == KB_BUILD_NEEDS_BUILD)) {
			if (!json)
				fprintf(stderr, "kbisect: the kernel of '%s' does not build: %s\n",
					revs[i], r.reason);
			rc = KB_EXIT_ERROR;
		}
	}
out:
	kb_cli_remote_done(remote);
	kb_builder_free(b);
	kb_cache_free(c);
	kb_remote_free(remote);
	free(revs);
	if (fflush(stdout) != 0)
		return kb_cli_error("cannot write to stdout");
	return rc;
}
