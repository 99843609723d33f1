/*
 * common/conf.c - kbisect's config files: `key = value` lines, '#' comments.
 * Owns: reading and trimming the lines, where the user's config file is.
 * Not: what the keys mean (the CLI: cli/cmd_remote_wiring.c for the remote settings,
 * cli/cmd_cache_serve.c for the server's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/conf.h"
#include "common/error_internal.h"

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

int kb_conf_foreach(const char *path,
		    int (*fn)(const char *key, const char *value, unsigned int line, void *arg),
		    void *arg)
{
	char line[4096];
	unsigned int ln = 0;
	int r = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return kb_error_os("cannot read config file '%s'", path);
	while (!r && fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq;
		ln++;
		if (!*s || *s == '#')
			continue;
		if (!(eq = strchr(s, '='))) {
			r = fn(NULL, s, ln, arg);
			continue;
		}
		*eq = '\0';
		r = fn(trim(s), trim(eq + 1), ln, arg);
	}
	fclose(f);
	return r;
}

struct get_ctx {
	const char *key;
	char *val;
};

static int get_fn(const char *key, const char *value, unsigned int line, void *arg)
{
	struct get_ctx *g = arg;

	(void)line;
	if (!key || strcmp(key, g->key) || !*value)
		return 0;
	g->val = strdup(value);
	return 1;
}

char *kb_conf_get(const char *path, const char *key)
{
	struct get_ctx g = { key, NULL };
	int saved = errno;

	if (kb_conf_foreach(path, get_fn, &g) < 0)
		kb_error_clear(); /* no config file: no setting */
	errno = saved;
	return g.val;
}

const char *kb_conf_user_path(char *buf, size_t len)
{
	const char *cfg = getenv("KBISECT_CONFIG"), *home = getenv("HOME");

	if (cfg && *cfg)
		snprintf(buf, len, "%s", cfg);
	else
		snprintf(buf, len, "%s/.config/kbisect/config", home ? home : ".");
	return buf;
}
