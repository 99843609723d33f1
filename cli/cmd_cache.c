/*
 * cli/cmd_cache.c - `kbisect cache`: put, get, ls, show, stats, gc, verify, compact,
 * recover, pin and unpin on the content-addressed store (include/kbisect/cache.h);
 * serve (cmd_cache_serve.c) and forget (cmd_cache_forget.c) have files of their own.
 * Every subcommand takes --cache DIR (else $KBISECT_CACHE, else ~/.cache/kbisect) and
 * --help; ls, show, stats and verify take --json for scripts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kbisect/cache.h"
#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/remote.h"
#include "cmd.h"
#include "options.h"

static const char *const cache_usage[] = {
	"kbisect cache put [--cache=<dir>] [--remote=<url>] [--kind=<kind>] [--pin] [--no-delta] <file>...",
	"kbisect cache get [--cache=<dir>] [--remote=<url>] <id> -o <file>",
	"kbisect cache ls [--cache=<dir>] [--json]",
	"kbisect cache show [--cache=<dir>] [--json] <id>",
	"kbisect cache stats [--cache=<dir>] [--remote=<url>] [--json]",
	"kbisect cache gc [--cache=<dir>] [--max-size=<size>] [--limit=<size>]",
	"kbisect cache verify [--cache=<dir>] [--json]",
	"kbisect cache compact [--cache=<dir>]",
	"kbisect cache recover [--cache=<dir>] [--to=<new dir>]",
	"kbisect cache pin|unpin [--cache=<dir>] <id>",
	"kbisect cache forget [--cache=<dir>] [--remote=<url>] --build-key=<key> | --rev=<rev>",
	"kbisect cache serve --listen <host:port> (see 'kbisect cache serve --help')",
	NULL,
};

/* Options shared by the subcommands. */
struct copts {
	const char *cache;
	const char *out;
	const char *kind;
	const char *max_size;
	const char *limit;
	const char *remote; /* --remote URL: the second tier (put, get, stats) */
	const char *to;     /* recover --to DIR: write the recovered cache there */
	int json, pin, no_delta;
	int nargs;
	char **args;
};

/* What each subcommand does, for its --help. */
static const struct {
	const char *name, *what;
} cache_what[] = {
	{ "put", "Store each file ('-' is standard input) and print its object id, the SHA-256\n"
		 "of its bytes ('<id>  <file>' lines when several files are given)." },
	{ "get", "Write object <id> to <file>, whole or not at all, its bytes checked against "
		 "the id." },
	{ "ls", "List the objects: id, kind, size, stored size, flags (D delta, P pinned), "
		"last use." },
	{ "show", "Describe one object." },
	{ "stats", "Objects, bytes, hits and misses per kind, savings, build records, test "
		   "runs, evictions, the size limit and the LMDB file." },
	{ "gc", "Evict least-recently-used objects until the stored data is at most "
		"--max-size, and remove what killed processes left." },
	{ "verify", "Read every object back and check every record; one 'bad: <what>: <why>' "
		    "line per damaged entry (exit 1)." },
	{ "compact", "Rewrite the LMDB file without its free pages." },
	{ "recover", "Copy whatever can still be read out of a damaged cache." },
	{ "pin", "Protect an object from eviction." },
	{ "unpin", "Let an object be evicted again." },
};

/* Set by parse() when it printed a subcommand's --help (cmd_cache then exits 0). */
static int help_shown;

/* Parse argv (argv[0] is the subcommand). allowed: letters of the options accepted.
 * 0, or non-zero after printing the help or a usage error (o->args is then freed). */
static int parse(struct copts *o, int argc, char **argv, const char *allowed)
{
	const struct {
		char letter;
		struct kb_option opt;
	} all[] = {
		{ 'c', KB_OPT_STR(0, "cache", &o->cache, "dir", "cache directory (default "
				  "$KBISECT_CACHE, else ~/.cache/kbisect)") },
		{ 'r', KB_OPT_STR(0, "remote", &o->remote, "url", "shared cache server as a "
				  "second tier (default $KBISECT_REMOTE, config; see 'kbisect "
				  "remote --help')") },
		{ 'k', KB_OPT_STR(0, "kind", &o->kind, "kind", "blob, vmlinux, bzimage, config, "
				  "buildlog, console, vmstate or repro (default: guessed from the "
				  "file name)") },
		{ 'p', KB_OPT_BOOL(0, "pin", &o->pin, "protect the objects from eviction") },
		{ 'd', KB_OPT_BOOL(0, "no-delta", &o->no_delta, "store plain, never as a delta") },
		{ 'o', KB_OPT_STR('o', "output", &o->out, "file", "where to write the object ('-': "
				  "standard output)") },
		{ 'j', KB_OPT_BOOL(0, "json", &o->json, "print JSON for scripts") },
		{ 'm', KB_OPT_STR(0, "max-size", &o->max_size, "size", "evict down to this size "
				  "(e.g. 500M, 20G; default: the configured limit)") },
		{ 'l', KB_OPT_STR(0, "limit", &o->limit, "size", "set the limit persistently: past "
				  "it, every put evicts down to 90 % of it") },
		{ 't', KB_OPT_STR(0, "to", &o->to, "new dir", "write the recovered cache there") },
	};
	struct kb_option opts[sizeof(all) / sizeof(all[0]) + 1];
	const char *usage[2] = { NULL, NULL }, *name = argv[0];
	char line[64];
	struct kb_cmd_doc doc = { usage, NULL, NULL };
	size_t k = 0;
	int n;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strchr(allowed, all[i].letter))
			opts[k++] = all[i].opt;
	opts[k] = (struct kb_option)KB_OPT_TABLE_END;
	/* the usage line of this subcommand, its sentence */
	snprintf(line, sizeof(line), "kbisect cache %s ", name);
	for (int i = 0; cache_usage[i] && !usage[0]; i++)
		if (!strncmp(cache_usage[i], line, strlen(line)) ||
		    (!strncmp(cache_usage[i], "kbisect cache pin|unpin ", 24) &&
		     (!strcmp(name, "pin") || !strcmp(name, "unpin"))))
			usage[0] = cache_usage[i];
	if (!usage[0])
		doc.usage = cache_usage;
	for (size_t i = 0; i < sizeof(cache_what) / sizeof(cache_what[0]); i++)
		if (!strcmp(cache_what[i].name, name))
			doc.intro = cache_what[i].what;
	o->args = calloc((size_t)argc + 1, sizeof(char *));
	if (!o->args)
		return kb_cli_error("out of memory");
	memcpy(o->args, argv, (size_t)argc * sizeof(char *));
	n = kb_options_parse(argc, o->args, opts, &doc, 0);
	if (n < 0) {
		help_shown = n == KB_OPTIONS_HELP;
		free(o->args);
		o->args = NULL;
		return KB_EXIT_USAGE; /* after the help too: the subcommand stops */
	}
	o->nargs = n;
	return 0;
}

/* parse() for a subcommand that takes options only; argv[0] names it. 0, or an exit code. */
static int parse_noargs(struct copts *o, int argc, char **argv, const char *allowed)
{
	if (parse(o, argc, argv, allowed))
		return KB_EXIT_USAGE;
	free(o->args);
	o->args = NULL;
	if (o->nargs)
		return kb_cli_usage_error(cache_usage, "'kbisect cache %s' takes no arguments",
					  argv[0]);
	return KB_EXIT_OK;
}

static int open_cache(kb_cache **c, const struct copts *o, unsigned int flags)
{
	if (kb_cache_open(c, kb_cli_cache_dir(o->cache), flags))
		return kb_cli_die_error();
	return 0;
}

static int parse_id(kb_key *id, const char *s)
{
	if (kb_key_from_hex(id, s))
		return kb_cli_usage_error(cache_usage, "'%s' is not an object id (64 hex digits); "
					  "see 'kbisect cache ls'", s);
	return 0;
}

static int parse_kind(const char *s)
{
	if (!s)
		return KB_OBJ_BLOB;
	for (int k = 0; k < KB_OBJ_KIND_MAX; k++)
		if (!strcmp(s, kb_object_kind_name(k)))
			return k;
	return -1;
}

static int guess_kind(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!strncmp(base, "vmlinux", 7))
		return KB_OBJ_VMLINUX;
	if (!strncmp(base, "bzImage", 7) || !strncmp(base, "vmlinuz", 7))
		return KB_OBJ_BZIMAGE;
	if (!strcmp(base, ".config") || !strncmp(base, "config", 6))
		return KB_OBJ_CONFIG;
	return KB_OBJ_BLOB;
}

static int cache_put(int argc, char **argv)
{
	struct copts o;
	kb_cache *c;
	kb_remote *rem = NULL;
	int rc = KB_EXIT_OK, kind;

	if (parse(&o, argc, argv, "ckpdr"))
		return KB_EXIT_USAGE;
	if (o.nargs == 0) {
		free(o.args);
		return kb_cli_usage_error(cache_usage, "'kbisect cache put' needs a file ('-' for "
					  "standard input)");
	}
	kind = parse_kind(o.kind);
	if (kind < 0) {
		free(o.args);
		return kb_cli_usage_error(cache_usage, "unknown kind '%s'; use blob, vmlinux, "
					  "bzimage, config, buildlog, console, vmstate or repro",
					  o.kind);
	}
	if (kb_cli_remote_open(&rem, o.remote) != KB_EXIT_OK || open_cache(&c, &o, KB_CACHE_CREATE)) {
		kb_remote_free(rem);
		free(o.args);
		return KB_EXIT_ERROR;
	}
	kb_cache_set_remote(c, rem); /* NULL: local only */
	for (int i = 0; i < o.nargs; i++) {
		kb_put_opts po = { o.kind ? kind : guess_kind(o.args[i]), NULL, o.no_delta, o.pin };
		char hex[KB_KEY_HEXLEN + 1];
		kb_key id;
		int e = !strcmp(o.args[i], "-") ? kb_cache_put_fd(&id, c, 0, &po)
						: kb_cache_put_file(&id, c, o.args[i], &po);
		if (!e && rem) { /* write-through; never fails the put */
			kb_cache_push(c, &id);
			kb_error_clear();
		}
		if (e) {
			rc = kb_cli_die_error();
			continue;
		}
		kb_key_to_hex(hex, &id);
		if (o.nargs > 1)
			printf("%s  %s\n", hex, o.args[i]);
		else
			printf("%s\n", hex);
	}
	kb_cli_remote_done(rem);
	kb_cache_free(c);
	kb_remote_free(rem);
	free(o.args);
	return rc;
}

static int cache_get(int argc, char **argv)
{
	struct copts o;
	kb_cache *c = NULL;
	kb_remote *rem = NULL;
	kb_key id;
	int rc = KB_EXIT_OK;

	if (parse(&o, argc, argv, "cor"))
		return KB_EXIT_USAGE;
	if (o.nargs != 1 || !o.out) {
		free(o.args);
		return kb_cli_usage_error(cache_usage, "'kbisect cache get' needs one id and "
					  "-o <file> ('-o -' for standard output)");
	}
	if (parse_id(&id, o.args[0])) {
		free(o.args);
		return KB_EXIT_USAGE;
	}
	if (kb_cli_remote_open(&rem, o.remote) != KB_EXIT_OK) {
		free(o.args);
		return KB_EXIT_ERROR;
	}
	/* read-write, so that hits and last-use times are recorded; read-only when
	 * that is all we may do (a shared cache of another user) */
	if (kb_cache_open(&c, kb_cli_cache_dir(o.cache), rem ? KB_CACHE_CREATE : 0) ==
		    KB_EREADONLY &&
	    kb_cache_open(&c, kb_cli_cache_dir(o.cache), KB_CACHE_RDONLY) == 0)
		;
	else if (!c) {
		kb_remote_free(rem);
		free(o.args);
		return kb_cli_die_error();
	}
	kb_cache_set_remote(c, rem); /* read-through: a local miss is fetched first */
	if (!strcmp(o.out, "-")) {
		kb_cache_reader *r;
		static char buf[1 << 20];
		ssize_t n;
		if (kb_cache_reader_open(&r, NULL, c, &id)) {
			rc = kb_cli_die_error();
		} else {
			/* stdout gets the bytes as they come; a bad SHA-256 at the end is an error */
			while ((n = kb_cache_reader_read(r, buf, sizeof(buf))) > 0)
				if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
					break;
			if (n < 0)
				rc = kb_cli_die_error();
			kb_cache_reader_free(r);
		}
	} else if (kb_cache_get_file(c, &id, o.out)) {
		rc = kb_cli_die_error();
	}
	kb_cli_remote_done(rem);
	kb_cache_free(c);
	kb_remote_free(rem);
	free(o.args);
	return rc;
}

static void fmt_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A JSON string of s; bytes that are not UTF-8 become '?' (jansson takes UTF-8 only). */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j || !s || !(copy = strdup(s)))
		return j;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* Print one JSON value compactly (keys in insertion order), after a comma if asked;
 * takes the reference. -1 when it cannot be encoded. */
static int print_json_value(json_t *j, int comma)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(j);
	if (!s)
		return -1;
	printf("%s%s", comma ? "," : "", s);
	free(s);
	return 0;
}

/* The fields of one object for ls --json and show --json (docs/kbisect-cache.md). */
static json_t *info_json(const kb_object_info *i)
{
	char hex[KB_KEY_HEXLEN + 1], base[KB_KEY_HEXLEN + 1];

	kb_key_to_hex(hex, &i->id);
	if (i->is_delta)
		kb_key_to_hex(base, &i->delta_base);
	return json_pack("{s:s, s:s, s:I, s:I, s:b, s:o, s:b, s:I, s:I}", "id", hex, "kind",
			 kb_object_kind_name(i->kind), "size", (json_int_t)i->size, "stored",
			 (json_int_t)i->stored, "delta", i->is_delta, "delta_base",
			 i->is_delta ? json_string(base) : json_null(), "pinned", i->pinned,
			 "created", (json_int_t)i->created, "last_used", (json_int_t)i->last_used);
}

struct ls_ctx {
	int json, n;
};

static int ls_one(const kb_object_info *i, void *arg)
{
	struct ls_ctx *l = arg;
	char hex[KB_KEY_HEXLEN + 1], sz[32], st[32], tm[32];

	if (l->json) /* streamed: one object at a time, whatever the size of the cache */
		return print_json_value(info_json(i), l->n++ > 0) ? kb_cli_error("cannot encode "
			"object %s as JSON", kb_object_kind_name(i->kind)) : 0;
	kb_key_to_hex(hex, &i->id);
	fmt_time(tm, sizeof(tm), i->last_used);
	printf("%s  %-8s  %10s  %10s  %s%s  %s\n", hex, kb_object_kind_name(i->kind),
	       kb_cli_human_size(sz, sizeof(sz), i->size),
	       kb_cli_human_size(st, sizeof(st), i->stored), i->is_delta ? "D" : "-",
	       i->pinned ? "P" : "-", tm);
	return 0;
}

static int cache_ls(int argc, char **argv)
{
	struct copts o;
	struct ls_ctx l = { 0, 0 };
	kb_cache *c;
	int rc = KB_EXIT_OK;

	if ((rc = parse_noargs(&o, argc, argv, "cj")) != KB_EXIT_OK)
		return rc;
	if (open_cache(&c, &o, KB_CACHE_RDONLY))
		return KB_EXIT_ERROR;
	l.json = o.json;
	if (o.json)
		printf("[");
	else
		printf("%-64s  %-8s  %10s  %10s  %s  %s\n", "id", "kind", "size", "stored", "DP",
		       "last used");
	if (kb_cache_object_foreach(c, ls_one, &l))
		rc = kb_cli_die_error();
	if (o.json)
		printf("]\n");
	kb_cache_free(c);
	return rc;
}

static int cache_show(int argc, char **argv)
{
	struct copts o;
	kb_object_info i;
	kb_cache *c;
	kb_key id;
	int rc = KB_EXIT_OK;

	if (parse(&o, argc, argv, "cj"))
		return KB_EXIT_USAGE;
	if (o.nargs != 1) {
		free(o.args);
		return kb_cli_usage_error(cache_usage, "'kbisect cache show' needs one id");
	}
	if (parse_id(&id, o.args[0])) {
		free(o.args);
		return KB_EXIT_USAGE;
	}
	free(o.args);
	if (open_cache(&c, &o, KB_CACHE_RDONLY))
		return KB_EXIT_ERROR;
	if (kb_cache_object_info(&i, c, &id)) {
		rc = kb_cli_die_error();
	} else if (o.json) {
		if (print_json_value(info_json(&i), 0))
			rc = kb_cli_error("cannot encode the object as JSON");
		printf("\n");
	} else {
		char hex[KB_KEY_HEXLEN + 1], sz[32], tm[32];
		kb_key_to_hex(hex, &i.id);
		printf("id:        %s\nkind:      %s\n", hex, kb_object_kind_name(i.kind));
		printf("size:      %" PRIu64 " (%s)\n", i.size, kb_cli_human_size(sz, sizeof(sz), i.size));
		printf("stored:    %" PRIu64 " (%.1f%%)\n", i.stored,
		       i.size ? 100.0 * (double)i.stored / (double)i.size : 0.0);
		if (i.is_delta) {
			kb_key_to_hex(hex, &i.delta_base);
			printf("delta of:  %s\n", hex);
		}
		printf("pinned:    %s\n", i.pinned ? "yes" : "no");
		fmt_time(tm, sizeof(tm), i.created);
		printf("created:   %s\n", tm);
		fmt_time(tm, sizeof(tm), i.last_used);
		printf("last used: %s\n", tm);
	}
	kb_cache_free(c);
	return rc;
}

#define JU(v) json_integer((json_int_t)(v))

/* The local cache's counters as one JSON object (the fields of docs/kbisect-cache.md). */
static json_t *stats_json(const kb_cache_stats *s, const char *dir)
{
	json_t *o = json_object(), *kinds = json_object();
	uint64_t hits = 0, misses = 0;

	json_object_set_new(o, "dir", json_string(dir));
	for (int k = 0; k < KB_OBJ_KIND_MAX; k++) {
		json_object_set_new(kinds, kb_object_kind_name(k),
				    json_pack("{s:o,s:o,s:o,s:o,s:o}", "objects", JU(s->objects[k]),
					      "bytes", JU(s->object_bytes[k]), "stored",
					      JU(s->stored_bytes[k]), "hits", JU(s->hits[k]),
					      "misses", JU(s->misses[k])));
		hits += s->hits[k];
		misses += s->misses[k];
	}
	json_object_set_new(o, "kinds", kinds);
	json_object_set_new(o, "hits", JU(hits));
	json_object_set_new(o, "misses", JU(misses));
	json_object_set_new(o, "builds",
			    json_pack("{s:o,s:o,s:o,s:o,s:f}", "records", JU(s->builds), "failures",
				      JU(s->build_failures), "hits", JU(s->build_hits), "misses",
				      JU(s->build_misses), "seconds_saved", s->build_seconds_saved));
	json_object_set_new(o, "tests",
			    json_pack("{s:o,s:o,s:o,s:o}", "keys", JU(s->tests), "runs",
				      JU(s->test_runs), "hits", JU(s->test_hits), "misses",
				      JU(s->test_misses)));
	json_object_set_new(o, "refs", JU(s->refs));
	json_object_set_new(o, "chunks", JU(s->chunks));
	json_object_set_new(o, "chunk_bytes", JU(s->chunk_bytes));
	json_object_set_new(o, "saved",
			    json_pack("{s:o,s:o,s:o}", "compression", JU(s->saved_compression),
				      "dedup", JU(s->saved_dedup), "delta", JU(s->saved_delta)));
	json_object_set_new(o, "evictions", JU(s->evictions));
	json_object_set_new(o, "limit", JU(s->limit));
	json_object_set_new(o, "limit_used", JU(s->limit_used));
	json_object_set_new(o, "record_bytes", JU(s->record_bytes));
	json_object_set_new(o, "pending_bytes", JU(s->pending_bytes));
	json_object_set_new(o, "lmdb",
			    json_pack("{s:o,s:o,s:o,s:o,s:i,s:i}", "file_size", JU(s->file_size),
				      "live_bytes", JU(s->live_bytes), "free_bytes",
				      JU(s->free_bytes), "map_size", JU(s->map_size), "readers",
				      (int)s->readers, "max_readers", (int)s->max_readers));
	return o;
}

/* The second tier as one JSON object: the server's /status document ("server", null
 * when it could not be asked: "error" says why) and this client's counters. */
static json_t *remote_json(kb_remote *rem, json_t *server, const char *error)
{
	kb_remote_stats rs;
	json_t *o = json_object();

	kb_remote_stats_get(&rs, rem);
	json_object_set_new(o, "url", json_string(kb_remote_url(rem)));
	json_object_set_new(o, "reachable", json_boolean(server != NULL));
	json_object_set_new(o, "error", error ? json_string(error) : json_null());
	json_object_set(o, "server", server ? server : json_null());
	json_object_set_new(o, "client",
			    json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "requests",
				      JU(rs.requests), "hits", JU(rs.hits), "misses",
				      JU(rs.misses), "uploads", JU(rs.uploads), "errors",
				      JU(rs.errors), "timeouts", JU(rs.timeouts), "corrupt",
				      JU(rs.corrupt), "bytes_in", JU(rs.bytes_in), "bytes_out",
				      JU(rs.bytes_out), "failed", rs.failed));
	return o;
}

/* a counter of a /status document (0 if absent) */
static uint64_t status_count(const json_t *obj, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(obj, key));
}

/* What the server's /status says it holds and served, in the human table's terms. */
static void print_remote_human(kb_remote *rem, const json_t *server, const char *error)
{
	const json_t *st = json_object_get(server, "store");
	char a[32], b[32];

	printf("\nremote cache:      %s\n", kb_remote_url(rem));
	if (!st) {
		printf("status:            unreachable (%s)\n",
		       error ? error : "its /status has no store");
	} else {
		printf("server objects:    %" PRIu64 " (%s, %s stored)\n", status_count(st, "objects"),
		       kb_cli_human_size(a, sizeof(a), status_count(st, "object_bytes")),
		       kb_cli_human_size(b, sizeof(b), status_count(st, "stored_bytes")));
		printf("server records:    %" PRIu64 " builds, %" PRIu64 " test keys (%" PRIu64
		       " runs)\n", status_count(st, "builds"), status_count(st, "tests"),
		       status_count(st, "test_runs"));
		printf("server served:     hits %" PRIu64 ", misses %" PRIu64 "\n",
		       status_count(server, "hits"), status_count(server, "misses"));
	}
	kb_remote_stats_print(stdout, rem);
}

static void print_stats_human(const kb_cache_stats *s, const char *dir)
{
	char a[32], b[32], d[32], e[32];
	uint64_t tot_o = 0, tot_b = 0, tot_s = 0, hits = 0, misses = 0;

	printf("cache directory:   %s\n\n", dir);
	printf("%-9s %8s %11s %11s %8s %8s\n", "kind", "objects", "size", "stored", "hits", "misses");
	for (int k = 0; k < KB_OBJ_KIND_MAX; k++) {
		tot_o += s->objects[k];
		tot_b += s->object_bytes[k];
		tot_s += s->stored_bytes[k];
		hits += s->hits[k];
		misses += s->misses[k];
		if (!s->objects[k] && !s->hits[k] && !s->misses[k])
			continue;
		printf("%-9s %8" PRIu64 " %11s %11s %8" PRIu64 " %8" PRIu64 "\n",
		       kb_object_kind_name(k), s->objects[k],
		       kb_cli_human_size(a, sizeof(a), s->object_bytes[k]),
		       kb_cli_human_size(b, sizeof(b), s->stored_bytes[k]), s->hits[k], s->misses[k]);
	}
	printf("%-9s %8" PRIu64 " %11s %11s %8" PRIu64 " %8" PRIu64 "\n\n", "total", tot_o,
	       kb_cli_human_size(a, sizeof(a), tot_b), kb_cli_human_size(b, sizeof(b), tot_s), hits,
	       misses);
	printf("unique chunks:     %" PRIu64 " (%s)\n", s->chunks,
	       kb_cli_human_size(a, sizeof(a), s->chunk_bytes));
	printf("saved by zstd:     %s\n", kb_cli_human_size(a, sizeof(a), s->saved_compression));
	printf("saved by dedup:    %s\n", kb_cli_human_size(a, sizeof(a), s->saved_dedup));
	printf("saved by deltas:   %s\n", kb_cli_human_size(a, sizeof(a), s->saved_delta));
	printf("build records:     %" PRIu64 " (%" PRIu64 " failed), hits %" PRIu64 ", misses %" PRIu64
	       "\n", s->builds, s->build_failures, s->build_hits, s->build_misses);
	printf("build time saved:  %s\n", kb_cli_human_duration(a, sizeof(a), s->build_seconds_saved));
	printf("test keys:         %" PRIu64 " (%" PRIu64 " runs), hits %" PRIu64 ", misses %" PRIu64
	       "\n", s->tests, s->test_runs, s->test_hits, s->test_misses);
	printf("references:        %" PRIu64 "\n", s->refs);
	printf("evictions:         %" PRIu64 "\n", s->evictions);
	printf("size limit:        %s", s->limit ? kb_cli_human_size(a, sizeof(a), s->limit) : "none");
	printf(" (counted: %s, of which records %s;", kb_cli_human_size(a, sizeof(a), s->limit_used),
	       kb_cli_human_size(b, sizeof(b), s->record_bytes));
	printf(" puts in flight %s, not counted)\n",
	       kb_cli_human_size(a, sizeof(a), s->pending_bytes));
	printf("data.mdb:          %s on disk, %s live, %s free pages, map %s\n",
	       kb_cli_human_size(a, sizeof(a), s->file_size),
	       kb_cli_human_size(b, sizeof(b), s->live_bytes),
	       kb_cli_human_size(d, sizeof(d), s->free_bytes),
	       kb_cli_human_size(e, sizeof(e), s->map_size));
	printf("readers:           %u of %u\n", s->readers, s->max_readers);
}

static int cache_stats(int argc, char **argv)
{
	struct copts o;
	kb_cache_stats s;
	kb_cache *c;
	kb_remote *rem = NULL;
	int rc = KB_EXIT_OK;

	if ((rc = parse_noargs(&o, argc, argv, "cjr")) != KB_EXIT_OK)
		return rc;
	if (kb_cli_remote_open(&rem, o.remote) != KB_EXIT_OK)
		return KB_EXIT_ERROR;
	if (open_cache(&c, &o, KB_CACHE_RDONLY)) {
		kb_remote_free(rem);
		return KB_EXIT_ERROR;
	}
	if (kb_cache_stats_get(&s, c)) {
		rc = kb_cli_die_error();
	} else {
		/* the second tier: ask the server how it is (an unreachable one is reported,
		 * and counted as a remote error, not a failure of the command) */
		char *st = NULL, why[300] = "";
		json_t *server = NULL;
		if (rem && kb_remote_status_json(&st, rem) != 0) {
			snprintf(why, sizeof(why), "%s", kb_error_last()->message);
			kb_error_clear();
		}
		if (st && !(server = json_loads(st, 0, NULL)))
			snprintf(why, sizeof(why), "%s/status is not a kbisect status document",
				 kb_remote_url(rem));
		free(st);
		if (o.json) {
			json_t *j = stats_json(&s, kb_cache_dir(c));
			if (rem)
				json_object_set_new(j, "remote",
						    remote_json(rem, server, *why ? why : NULL));
			json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
			printf("\n");
			json_decref(j);
		} else {
			print_stats_human(&s, kb_cache_dir(c));
			if (rem)
				print_remote_human(rem, server, *why ? why : NULL);
		}
		json_decref(server);
	}
	kb_remote_free(rem);
	kb_cache_free(c);
	return rc;
}

static int cache_gc(int argc, char **argv)
{
	struct copts o;
	unsigned long long max = 0, limit = 0;
	uint64_t n = 0;
	kb_cache *c;
	int rc = KB_EXIT_OK;

	if ((rc = parse_noargs(&o, argc, argv, "cml")) != KB_EXIT_OK)
		return rc;
	if (o.max_size && kb_cli_parse_size(o.max_size, &max))
		return kb_cli_usage_error(cache_usage, "bad size '%s'; use e.g. 500M or 20G",
					  o.max_size);
	if (o.limit && kb_cli_parse_size(o.limit, &limit))
		return kb_cli_usage_error(cache_usage, "bad size '%s'; use e.g. 500M or 20G", o.limit);
	if (open_cache(&c, &o, 0))
		return KB_EXIT_ERROR;
	if (o.limit && kb_cache_set_limit(c, limit))
		rc = kb_cli_die_error();
	else if (kb_cache_gc(c, max, &n))
		rc = kb_cli_die_error();
	else
		printf("evicted %" PRIu64 " object%s\n", n, n == 1 ? "" : "s");
	kb_cache_free(c);
	return rc;
}

struct vreport {
	int json;
	json_t *problems; /* --json: [{"what", "why"}], printed at the end */
};

static void verify_one(const char *what, const char *why, void *arg)
{
	struct vreport *v = arg;
	if (v->json) {
		json_t *p = json_object();
		json_object_set_new(p, "what", jstr(what));
		json_object_set_new(p, "why", jstr(why));
		json_array_append_new(v->problems, p);
	} else {
		printf("bad: %s: %s\n", what, why);
	}
}

static int cache_verify(int argc, char **argv)
{
	struct copts o;
	struct vreport v = { 0, NULL };
	uint64_t bad = 0;
	const char *dir;
	int rc = KB_EXIT_OK;

	if ((rc = parse_noargs(&o, argc, argv, "cj")) != KB_EXIT_OK)
		return rc;
	dir = kb_cli_cache_dir(o.cache);
	v.json = o.json;
	if (o.json && !(v.problems = json_array()))
		return kb_cli_error("out of memory");
	fflush(stdout);
	/* the reads run in child processes: a damaged page that crashes them is one
	 * more finding, not the end of verify */
	if (kb_cache_verify_isolated(dir, &bad, verify_one, &v)) {
		rc = kb_cli_die_error();
	} else {
		if (o.json) {
			if (print_json_value(json_pack("{s:O, s:I}", "problems", v.problems, "bad",
						       (json_int_t)bad), 0))
				rc = kb_cli_error("cannot encode the verify report as JSON");
			printf("\n");
		} else
			printf("%s: %" PRIu64 " damaged entr%s\n", bad ? "damaged" : "ok", bad,
			       bad == 1 ? "y" : "ies");
		if (bad) {
			fprintf(stderr, "kbisect: cache '%s' has %" PRIu64 " damaged entries; put the "
				"affected objects again, or run 'kbisect cache recover'\n", dir, bad);
			rc = KB_EXIT_ERROR;
		}
	}
	json_decref(v.problems);
	return rc;
}

static void recover_one(const char *what, const char *why, void *arg)
{
	(void)arg;
	printf("lost: %s: %s\n", what, why);
	fflush(stdout);
}

static int cache_recover(int argc, char **argv)
{
	struct copts o;
	kb_recover_result res;
	const char *dir;
	int rc = KB_EXIT_OK;

	if ((rc = parse_noargs(&o, argc, argv, "ct")) != KB_EXIT_OK)
		return rc;
	dir = kb_cli_cache_dir(o.cache);
	fflush(stdout);
	rc = kb_cache_recover(dir, o.to, &res, recover_one, NULL);
	if (!rc || res.objects || res.objects_lost || res.entries || res.entries_lost)
		printf("recovered %" PRIu64 " objects and %" PRIu64 " records/references; lost %"
		       PRIu64 " objects and %" PRIu64 " records/references\n", res.objects,
		       res.entries, res.objects_lost, res.entries_lost);
	if (rc)
		return kb_cli_die_error();
	if (o.to)
		printf("the recovered cache is in '%s' (verified: %" PRIu64 " damaged); '%s' was "
		       "left as it is\n", res.new_dir, res.bad_after, dir);
	else
		printf("'%s' now holds the recovered cache (verified: %" PRIu64 " damaged); the "
		       "damaged file is kept as '%s': delete it when done\n", dir, res.bad_after,
		       res.damaged_path);
	return KB_EXIT_OK;
}

static int cache_compact(int argc, char **argv)
{
	struct copts o;
	uint64_t before = 0, after = 0;
	kb_cache *c;
	char a[32], b[32];
	int rc = KB_EXIT_OK;

	if ((rc = parse_noargs(&o, argc, argv, "c")) != KB_EXIT_OK)
		return rc;
	if (open_cache(&c, &o, 0))
		return KB_EXIT_ERROR;
	if (kb_cache_compact(c, &before, &after))
		rc = kb_cli_die_error();
	else
		printf("data.mdb: %s -> %s\n", kb_cli_human_size(a, sizeof(a), before),
		       kb_cli_human_size(b, sizeof(b), after));
	kb_cache_free(c);
	return rc;
}

static int cache_pin_common(int argc, char **argv, int pinned)
{
	struct copts o;
	kb_cache *c;
	kb_key id;
	int rc = KB_EXIT_OK;

	if (parse(&o, argc, argv, "c"))
		return KB_EXIT_USAGE;
	if (o.nargs != 1) {
		free(o.args);
		return kb_cli_usage_error(cache_usage, "'kbisect cache %s' needs one id", argv[0]);
	}
	if (parse_id(&id, o.args[0])) {
		free(o.args);
		return KB_EXIT_USAGE;
	}
	free(o.args);
	if (open_cache(&c, &o, 0))
		return KB_EXIT_ERROR;
	if (kb_cache_pin(c, &id, pinned))
		rc = kb_cli_die_error();
	kb_cache_free(c);
	return rc;
}

static int cache_pin(int argc, char **argv)
{
	return cache_pin_common(argc, argv, 1);
}

static int cache_unpin(int argc, char **argv)
{
	return cache_pin_common(argc, argv, 0);
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} cache_cmds[] = {
	{ "put", cache_put },       { "get", cache_get },         { "ls", cache_ls },
	{ "show", cache_show },     { "stats", cache_stats },     { "gc", cache_gc },
	{ "verify", cache_verify }, { "compact", cache_compact }, { "pin", cache_pin },
	{ "unpin", cache_unpin },     { "serve", cache_serve },     { "recover", cache_recover },
	{ "forget", cache_forget },
};

int cmd_cache(int argc, char **argv)
{
	if (argc < 2)
		return kb_cli_usage_error(cache_usage, "'kbisect cache' needs a subcommand");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		kb_cli_usage(stdout, cache_usage);
		printf("\nSee 'kbisect cache <subcommand> --help' for the options of one.\n");
		return KB_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cache_cmds) / sizeof(cache_cmds[0]); i++) {
		int rc;
		if (strcmp(argv[1], cache_cmds[i].name))
			continue;
		/* a subcommand's parse() answers its --help */
		rc = cache_cmds[i].fn(argc - 1, argv + 1);
		return help_shown ? KB_EXIT_OK : rc;
	}
	return kb_cli_usage_error(cache_usage, "unknown subcommand '%.64s' of 'kbisect cache'",
				  argv[1]);
}
