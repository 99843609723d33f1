/*
 * cli/cmd_cache_forget.c - `kbisect cache forget`: drop recorded builds (a failure, or
 * any build) so that the next build of those inputs builds again; with --remote on the
 * shared cache server too, saying for each record whether it was dropped there.
 * Owns: the command's options, its output and exit code.
 * Not: the cache (kb_cache_build_del), the server route (DELETE /kb/v1/build/<key>,
 * net/), which records a revision has (kb_build_records_of_tree, builder/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/builder.h"
#include "kbisect/cache.h"
#include "kbisect/error.h"
#include "kbisect/remote.h"
#include "cmd.h"
#include "options.h"

static const char *const forget_usage[] = {
	"kbisect cache forget [--cache=<dir>] [--remote=<url>] --build-key=<key>...",
	"kbisect cache forget [--cache=<dir>] [--remote=<url>] [--repo=<dir>] --rev=<rev>...",
	NULL,
};

static const struct kb_cmd_doc forget_doc = {
	forget_usage,
	"Drop recorded builds, so that the next build of the same inputs builds again\n"
	"(e.g. a failure recorded because of a broken host by an older kbisect). The\n"
	"artifacts stay as objects until evicted. --build-key drops one record (the\n"
	"build_key of 'kbisect build --json'); --rev drops every record of that\n"
	"revision's tree in this cache (any config, compiler or build command). With\n"
	"--remote the same keys are dropped on the server, and each line says whether\n"
	"they were ('remote: dropped', 'remote: not there', 'remote: NOT dropped: why').",
	"Exit 0 when something was dropped, 1 when nothing matched or on error, 129 on\n"
	"usage errors.",
};

/* drop key here and (rem) on the server; one line; 1 when dropped anywhere, 0 if not,
 * -1 on error */
static int forget_key(kb_cache *c, kb_remote *rem, const kb_key *key, const char *what)
{
	char hex[KB_KEY_HEXLEN + 1];
	int local, remote = KB_ENOTFOUND, dropped = 0, err = 0;

	kb_key_to_hex(hex, key);
	local = kb_cache_build_del(c, key);
	if (local == KB_OK)
		dropped = 1;
	else if (local != KB_ENOTFOUND) {
		fprintf(stderr, "kbisect: %s\n", kb_error_last()->message);
		err = 1;
	}
	printf("%s %s: %s", hex, what,
	       local == KB_OK ? "dropped" : local == KB_ENOTFOUND ? "not in the local cache"
								 : "NOT dropped locally");
	if (rem) {
		remote = kb_remote_build_forget(rem, key);
		if (remote == KB_OK)
			dropped = 1, printf("; remote: dropped");
		else if (remote == KB_ENOTFOUND)
			printf("; remote: not there");
		else
			err = 1, printf("; remote: NOT dropped: %s", kb_error_last()->message);
	}
	printf("\n");
	kb_error_clear();
	return err ? -1 : dropped;
}

int cache_forget(int argc, char **argv)
{
	const char *cache_dir = NULL, *remote_url = NULL, *repo = ".";
	struct kb_opt_list keys = { NULL, 0, 0 }, revs = { NULL, 0, 0 };
	kb_remote *rem = NULL;
	kb_cache *c = NULL;
	int n, rc = KB_EXIT_OK, dropped = 0, failed = 0;
	const struct kb_option options[] = {
		KB_OPT_STR(0, "cache", &cache_dir, "dir",
			   "cache directory (default $KBISECT_CACHE, else ~/.cache/kbisect)"),
		KB_OPT_STR(0, "remote", &remote_url, "url",
			   "also drop the records on this shared cache server (needs a read-write "
			   "token); without it the server is not asked"),
		KB_OPT_STRS(0, "build-key", &keys, "key",
			    "build key to drop (64 hex digits; repeat for several)"),
		KB_OPT_STRS(0, "rev", &revs, "rev",
			    "revision whose recorded builds to drop (any git revision; repeat "
			    "for several)"),
		KB_OPT_STR(0, "repo", &repo, "dir",
			   "git repository of --rev (default: the current directory's)"),
		KB_OPT_TABLE_END,
	};
	const char **kv = calloc((size_t)argc + 1, sizeof(*kv));
	const char **rv = calloc((size_t)argc + 1, sizeof(*rv));

	if (!kv || !rv) {
		free(kv), free(rv);
		return kb_cli_error("out of memory");
	}
	keys.v = kv, keys.max = (unsigned)argc;
	revs.v = rv, revs.max = (unsigned)argc;
	n = kb_options_parse(argc, argv, options, &forget_doc, 0);
	if (n != 0 || (!keys.n && !revs.n)) {
		free(kv), free(rv);
		if (n < 0)
			return kb_options_exit(n);
		return n ? kb_cli_usage_error(forget_usage, "unexpected argument '%.128s'", argv[0])
			 : kb_cli_usage_error(forget_usage, "say what to forget: --build-key or "
							    "--rev");
	}
	for (unsigned i = 0; i < keys.n; i++) {
		kb_key k;
		if (kb_key_from_hex(&k, keys.v[i])) {
			rc = kb_cli_usage_error(forget_usage, "'%.80s' is not a build key (64 hex "
						"digits); see 'kbisect build --json'", keys.v[i]);
			free(kv), free(rv);
			return rc;
		}
	}
	if (remote_url && kb_cli_remote_open(&rem, remote_url) != KB_EXIT_OK) {
		free(kv), free(rv);
		return KB_EXIT_ERROR;
	}
	if (kb_cache_open(&c, kb_cli_cache_dir(cache_dir), KB_CACHE_CREATE)) {
		rc = kb_cli_die_error();
		goto out;
	}
	for (unsigned i = 0; i < keys.n; i++) {
		kb_key k;
		kb_key_from_hex(&k, keys.v[i]);
		int r = forget_key(c, rem, &k, "build record");
		dropped += r > 0, failed += r < 0;
	}
	for (unsigned i = 0; i < revs.n; i++) {
		char commit[41], tree[41], what[160];
		kb_build_record *recs = NULL;
		size_t nr = 0;
		if (kb_build_resolve(repo, revs.v[i], commit, tree) ||
		    kb_build_records_of_tree(&recs, &nr, c, tree)) {
			kb_cli_die_error();
			failed++;
			continue;
		}
		if (!nr)
			printf("%s (commit %.12s, tree %.12s): no build recorded in the local cache\n",
			       revs.v[i], commit, tree);
		for (size_t j = 0; j < nr; j++) {
			snprintf(what, sizeof(what), "(%s of %s, tree %.12s)",
				 recs[j].ok ? "build" : "failed build", revs.v[i], tree);
			int r = forget_key(c, rem, &recs[j].build_key, what);
			dropped += r > 0, failed += r < 0;
		}
		free(recs);
	}
	if (failed || !dropped)
		rc = KB_EXIT_ERROR;
	if (!failed && !dropped)
		fprintf(stderr, "kbisect: nothing was dropped: no such build recorded\n");
out:
	kb_cli_remote_done(rem);
	kb_cache_free(c);
	kb_remote_free(rem);
	free(kv), free(rv);
	return rc;
}
