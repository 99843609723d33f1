/*
 * cli/report_url.c - the commit links of the HTML reports: `--commit-url <pattern>` of
 * `kbisect bisect` and `kbisect analyze`, else `commit-url = <pattern>` in the user's
 * config file ($KBISECT_CONFIG or ~/.config/kbisect/config).
 * Owns: where the pattern comes from and its error message.
 * Not: what makes a pattern valid and how links are written (common/html.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "kbisect/conf.h"
#include "kbisect/html.h"

int kb_cli_commit_url(const char **out, const char *opt)
{
	static char *from_conf; /* kept for the life of the command */
	char cfg[4096], why[320];
	const char *url = opt;

	*out = NULL;
	if (!url) {
		kb_conf_user_path(cfg, sizeof(cfg));
		free(from_conf);
		url = from_conf = kb_conf_get(cfg, "commit-url");
	}
	if (!url)
		return KB_EXIT_OK;
	if (kb_html_commit_url_check(url, why, sizeof(why)) != 0)
		return opt ? kb_cli_error("--commit-url: %s", why)
			   : kb_cli_error("commit-url in %s: %s; fix it there or give --commit-url",
					  cfg, why);
	*out = url;
	return KB_EXIT_OK;
}
