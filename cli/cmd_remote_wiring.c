/*
 * cli/cmd_remote_wiring.c - the `--remote URL` option shared by kbisect build, bisect,
 * cache and remote: which server to use (--remote, else $KBISECT_REMOTE, else
 * "remote = URL" in the config file), opening it, attaching it to a cache handle,
 * deriving ccache's remote storage from it, and saying at the end of a command when the
 * remote was given up.
 * The client itself is net/remote.c (include/kbisect/remote.h); config files are read by
 * common/conf.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/conf.h"
#include "kbisect/error.h"
#include "kbisect/remote.h"
#include "cmd.h"

int kb_cli_remote_resolve(kb_remote **out, const char *url_opt)
{
	kb_remote_opts o;
	char cfg[4096], *cfg_url = NULL, *tokfile = NULL, *ca = NULL;
	const char *url = url_opt, *env = getenv("KBISECT_REMOTE");
	const char *envtok = getenv("KBISECT_REMOTE_TOKEN_FILE");
	int rc;

	*out = NULL;
	memset(&o, 0, sizeof(o));
	kb_conf_user_path(cfg, sizeof(cfg));
	if (!url && env && *env)
		url = env;
	if (!url)
		url = cfg_url = kb_conf_get(cfg, "remote");
	if (!url || !*url) {
		free(cfg_url);
		return KB_OK;
	}
	tokfile = envtok ? strdup(envtok) : kb_conf_get(cfg, "remote-token-file");
	ca = kb_conf_get(cfg, "remote-ca");
	o.token_file = getenv("KBISECT_REMOTE_TOKEN") ? NULL : tokfile;
	o.ca_file = ca;
	rc = kb_remote_open(out, url, &o);
	free(cfg_url);
	free(tokfile);
	free(ca);
	return rc;
}

int kb_cli_remote_open(kb_remote **out, const char *url)
{
	if (kb_cli_remote_resolve(out, url) != KB_OK) {
		*out = NULL;
		return kb_cli_die_error();
	}
	return KB_EXIT_OK;
}

const char *kb_cli_remote_ccache(char *buf, size_t len, const char *url)
{
	size_t n = strlen(url);

	while (n && url[n - 1] == '/')
		n--;
	snprintf(buf, len, "%.*s/ccache|layout=bazel", (int)n, url);
	return buf;
}

void kb_cli_remote_done(kb_remote *r)
{
	kb_remote_stats s;

	if (!r)
		return;
	kb_remote_stats_get(&s, r);
	if (!s.failed)
		return;
	fprintf(stderr,
		"kbisect: warning: remote %s was given up after an error (%s); the local cache "
		"was used alone; check the server with 'kbisect remote status'\n",
		kb_remote_url(r), s.last_error);
	kb_remote_stats_print(stderr, r);
}
