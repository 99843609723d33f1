/*
 * cli/cmd_remote_wiring.c - the `--remote URL` option shared by kbisect build, bisect
 * and cache: open the second tier (a shared cache server), derive ccache's remote
 * storage from it, and say at the end of a command when the remote was given up.
 * The client itself is net/remote.c (include/kbisect/remote.h).
 */
#include <stdio.h>
#include <string.h>

#include "kbisect/error.h"
#include "kbisect/remote.h"
#include "cmd.h"

int kb_cli_remote_open(kb_remote **out, const char *url)
{
	*out = NULL;
	if (kb_remote_open_default(out, url) != 0) {
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
