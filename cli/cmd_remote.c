/*
 * cli/cmd_remote.c - `kbisect remote`: talk to a shared cache server from the
 * command line (status, push local entries, read-through get of objects and build
 * records). The client is net/remote.c (include/kbisect/remote.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kbisect/cache.h"
#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/remote.h"
#include "cmd.h"
#include "options.h"

static const char *const remote_usage[] = {
	"kbisect remote status [--remote=<url>] [--json]",
	"kbisect remote push [--cache=<dir>] [--remote=<url>] (--all | <id>...)",
	"kbisect remote get [--cache=<dir>] [--remote=<url>] <id> -o <file>",
	"kbisect remote build [--cache=<dir>] [--remote=<url>] [--fetch] <build-key>",
	NULL,
};

static const struct kb_cmd_doc remote_doc = {
	remote_usage,
	"Use a shared cache server ('kbisect cache serve') as the second tier of the\n"
	"local cache. The server is --remote, else $KBISECT_REMOTE, else 'remote =' in\n"
	"$KBISECT_CONFIG or ~/.config/kbisect/config (see docs/shared-cache.md).\n"
	"\n"
	"    status   show the server's /status (exit 1 if it cannot be reached)\n"
	"    push     send objects (by id) to the server; --all sends every build\n"
	"             record of the local cache with its artifacts\n"
	"    get      write object <id> to <file>: local cache, else the server\n"
	"    build    print a build record (JSON): local cache, else the server;\n"
	"             --fetch also brings its artifacts into the local cache",
	"The remote's counters (requests, hits, errors, timeouts) go to stderr.",
};

struct ropts {
	const char *cache, *remote, *out;
	int json, all, fetch;
	int nargs;
	char **args;
};

/* Parse argv (argv[0]: the subcommand) into o; 0, or the exit code (help: 0 with
 * o->args NULL). */
static int parse(struct ropts *o, int argc, char **argv)
{
	const struct kb_option options[] = {
		KB_OPT_STR(0, "remote", &o->remote, "url",
			   "the server (default $KBISECT_REMOTE, then the config file)"),
		KB_OPT_STR(0, "cache", &o->cache, "dir",
			   "local cache directory (default $KBISECT_CACHE, ~/.cache/kbisect)"),
		KB_OPT_STR('o', NULL, &o->out, "file", "get: where to write the object"),
		KB_OPT_BOOL(0, "json", &o->json, "status: print the server's JSON as it is"),
		KB_OPT_BOOL(0, "all", &o->all, "push: every build record with its artifacts"),
		KB_OPT_BOOL(0, "fetch", &o->fetch, "build: also fetch its artifacts"),
		KB_OPT_TABLE_END,
	};
	int n;

	memset(o, 0, sizeof(*o));
	o->args = calloc((size_t)argc + 1, sizeof(char *));
	if (!o->args)
		return kb_cli_error("out of memory");
	memcpy(o->args, argv, (size_t)argc * sizeof(char *));
	if ((n = kb_options_parse(argc, o->args, options, &remote_doc, 0)) < 0) {
		free(o->args);
		o->args = NULL;
		return n == KB_OPTIONS_HELP ? -1 : kb_options_exit(n);
	}
	o->nargs = n;
	return 0;
}

/* Open the configured remote; a missing configuration is a usage error. */
static int open_remote(kb_remote **r, const struct ropts *o)
{
	if (kb_cli_remote_resolve(r, o->remote) != 0)
		return kb_cli_die_error();
	if (!*r)
		return kb_cli_usage_error(remote_usage,
					  "no remote configured; pass --remote <url> or set "
					  "KBISECT_REMOTE");
	return 0;
}

/* Open the configured remote and the local cache (open_flags as kb_cache_open), with the
 * remote attached to the cache; on failure both are closed and the exit code returned. */
static int open_remote_cache(kb_remote **r, kb_cache **c, const struct ropts *o,
			     unsigned open_flags)
{
	int rc;

	if ((rc = open_remote(r, o)))
		return rc;
	if (kb_cache_open(c, kb_cli_cache_dir(o->cache), open_flags) != 0) {
		kb_remote_free(*r);
		*r = NULL;
		return kb_cli_die_error();
	}
	kb_cache_set_remote(*c, *r);
	return 0;
}

static int remote_status(const struct ropts *o)
{
	kb_remote *r = NULL;
	char *buf = NULL;
	int rc;

	if ((rc = open_remote(&r, o)))
		return rc;
	if (kb_remote_status_json(&buf, r) != 0) {
		rc = kb_cli_die_error();
		kb_remote_free(r);
		return rc;
	}
	if (o->json) {
		fputs(buf, stdout);
		fputc('\n', stdout);
	} else {
		json_t *j = json_loads(buf, 0, NULL), *st = json_object_get(j, "store");
		char a[32], b[32];
		printf("server:   %s (kbisect %s, up %llds%s%s)\n", kb_remote_url(r),
		       json_string_value(json_object_get(j, "version")),
		       (long long)json_integer_value(json_object_get(j, "uptime_s")),
		       json_is_true(json_object_get(j, "tls")) ? ", tls" : "",
		       json_is_true(json_object_get(j, "auth")) ? ", tokens" : "");
		printf("store:    %lld objects, %s stored, limit %s\n",
		       (long long)json_integer_value(json_object_get(st, "objects")),
		       kb_cli_human_size(a, sizeof(a), (unsigned long long)json_integer_value(
							       json_object_get(st, "stored_bytes"))),
		       json_integer_value(json_object_get(st, "limit"))
			       ? kb_cli_human_size(b, sizeof(b),
						   (unsigned long long)json_integer_value(
							   json_object_get(st, "limit")))
			       : "none");
		printf("records:  %lld builds, %lld tests, %lld refs\n",
		       (long long)json_integer_value(json_object_get(st, "builds")),
		       (long long)json_integer_value(json_object_get(st, "tests")),
		       (long long)json_integer_value(json_object_get(st, "refs")));
		printf("traffic:  %lld hits, %lld misses, %s in, %s out\n",
		       (long long)json_integer_value(json_object_get(j, "hits")),
		       (long long)json_integer_value(json_object_get(j, "misses")),
		       kb_cli_human_size(a, sizeof(a), (unsigned long long)json_integer_value(
							       json_object_get(j, "bytes_in"))),
		       kb_cli_human_size(b, sizeof(b), (unsigned long long)json_integer_value(
							       json_object_get(j, "bytes_out"))));
		json_decref(j);
	}
	free(buf);
	kb_remote_free(r);
	return KB_EXIT_OK;
}

/* Finish a command that used the remote: print its counters, fail if it failed. */
static int finish(kb_remote *r, int rc)
{
	kb_remote_stats st;

	kb_remote_stats_get(&st, r);
	kb_remote_stats_print(stderr, r);
	kb_remote_free(r);
	if (rc == KB_EXIT_OK && st.failed)
		return kb_cli_error("the remote failed: %s", st.last_error);
	return rc;
}

struct push_ctx {
	kb_remote *r;
	kb_cache *c;
	unsigned long pushed;
};

static int push_build(const kb_build_record *rec, void *arg)
{
	struct push_ctx *p = arg;
	if (kb_remote_build_push(p->r, p->c, rec) == 0)
		p->pushed++;
	return 0;
}

static int remote_push(const struct ropts *o)
{
	kb_remote *r = NULL;
	kb_cache *c = NULL;
	int rc = KB_EXIT_OK;

	if (!o->all && o->nargs == 0)
		return kb_cli_usage_error(remote_usage, "push needs --all or object ids");
	if ((rc = open_remote_cache(&r, &c, o, 0)))
		return rc;
	for (int i = 0; i < o->nargs; i++) {
		kb_key id;
		if (kb_key_from_hex(&id, o->args[i]) != 0) {
			rc = kb_cli_error("'%.100s' is not a 64-digit hex object id", o->args[i]);
			continue;
		}
		if (kb_cache_push(c, &id) != 0)
			rc = kb_cli_die_error();
	}
	if (o->all) {
		struct push_ctx p = { r, c, 0 };
		if (kb_cache_build_foreach(c, push_build, &p) != 0)
			rc = kb_cli_die_error();
		printf("pushed %lu build records\n", p.pushed);
	}
	kb_cache_free(c);
	return finish(r, rc);
}

static int remote_get(const struct ropts *o)
{
	kb_remote *r = NULL;
	kb_cache *c = NULL;
	kb_key id;
	int rc = KB_EXIT_OK;

	if (o->nargs != 1 || !o->out)
		return kb_cli_usage_error(remote_usage, "get needs one <id> and -o <file>");
	if (kb_key_from_hex(&id, o->args[0]) != 0)
		return kb_cli_usage_error(remote_usage, "'%.100s' is not a 64-digit hex object id",
					  o->args[0]);
	if ((rc = open_remote_cache(&r, &c, o, KB_CACHE_CREATE)))
		return rc;
	if (kb_cache_fetch(c, &id) != 0 || kb_cache_get_file(c, &id, o->out) != 0)
		rc = kb_cli_die_error();
	kb_cache_free(c);
	return finish(r, rc);
}

static int remote_build(const struct ropts *o)
{
	kb_remote *r = NULL;
	kb_cache *c = NULL;
	kb_build_record rec;
	kb_key key;
	int rc = KB_EXIT_OK;

	if (o->nargs != 1)
		return kb_cli_usage_error(remote_usage, "build needs one <build-key>");
	if (kb_key_from_hex(&key, o->args[0]) != 0)
		return kb_cli_usage_error(remote_usage, "'%.100s' is not a 64-digit hex build key",
					  o->args[0]);
	if ((rc = open_remote_cache(&r, &c, o, KB_CACHE_CREATE)))
		return rc;
	if (kb_cache_build_get(&rec, c, &key) != 0) {
		rc = kb_error_last()->code == KB_ENOTFOUND
			     ? kb_cli_error("no build record '%s' in the local cache or on the "
					    "remote", o->args[0])
			     : kb_cli_die_error();
	} else {
		json_t *j = json_object(), *arts = json_array();
		char hex[KB_KEY_HEXLEN + 1], *s;
		kb_key_to_hex(hex, &rec.build_key);
		json_object_set_new(j, "build_key", json_string(hex));
		json_object_set_new(j, "ok", json_boolean(rec.ok));
		if (rec.has_signature) {
			kb_key_to_hex(hex, &rec.signature);
			json_object_set_new(j, "signature", json_string(hex));
		}
		for (size_t i = 0; i < rec.n_artifacts; i++) {
			json_t *a = json_object();
			kb_key_to_hex(hex, &rec.artifacts[i].id);
			json_object_set_new(a, "name", json_string(rec.artifacts[i].name));
			json_object_set_new(a, "id", json_string(hex));
			json_array_append_new(arts, a);
			if (o->fetch && kb_cache_fetch(c, &rec.artifacts[i].id) != 0)
				rc = kb_cli_die_error();
		}
		json_object_set_new(j, "artifacts", arts);
		json_object_set_new(j, "host", json_string(rec.host));
		json_object_set_new(j, "duration_s", json_real(rec.duration_s));
		s = json_dumps(j, JSON_INDENT(2));
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(j);
		kb_build_record_clear(&rec);
	}
	kb_cache_free(c);
	return finish(r, rc);
}

int cmd_remote(int argc, char **argv)
{
	static char *help_argv[] = { "remote", "remote", "--help", NULL };
	struct ropts o;
	const char *sub;
	int rc;

	if (argc < 2)
		return kb_cli_usage_error(remote_usage, "which subcommand?");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		argc = 3, argv = help_argv;
	sub = argv[1];
	if ((rc = parse(&o, argc - 1, argv + 1)) != 0)
		return rc < 0 ? KB_EXIT_OK : rc;
	if (!strcmp(sub, "status"))
		rc = remote_status(&o);
	else if (!strcmp(sub, "push"))
		rc = remote_push(&o);
	else if (!strcmp(sub, "get"))
		rc = remote_get(&o);
	else if (!strcmp(sub, "build"))
		rc = remote_build(&o);
	else
		rc = kb_cli_usage_error(remote_usage, "unknown subcommand '%.64s'", sub);
	free(o.args);
	return rc;
}
