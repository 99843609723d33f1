/*
 * builder/build_ccache.c - which of the builder's ccache remote storage URLs ccache can
 * use. Owns: dropping the URLs ccache has no client for (https://) and saying so.
 * Not: the URL derived from --remote (cli/cmd_remote_wiring.c), the environment of
 * the build (builder/build.c).
 * DESIGN: ccache 4.7.5 (Debian 12) has no HTTPS client in its HTTP storage backend: an
 * https:// remote_storage makes every compile fail, and the build would be recorded as
 * the kernel's failure. Such a URL is never handed to ccache; ccache stays local for
 * it (the kernels themselves still go through the https remote), and stderr says so
 * once per process, without the URL's user:password.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build_internal.h"

static atomic_int noted;

/* Print url to f without a "user:password@" part. */
static void print_redacted(FILE *f, const char *url, size_t len)
{
	const char *scheme = memchr(url, ':', len);
	const char *at = NULL;
	size_t auth_end = len;

	if (scheme && (size_t)(scheme - url) + 3 <= len && !strncmp(scheme, "://", 3)) {
		const char *h = scheme + 3;
		for (const char *p = h; p < url + len && *p != '/' && *p != '|'; p++)
			if (*p == '@')
				at = p;
		if (at) {
			fprintf(f, "%.*s", (int)(h - url), url);
			auth_end = (size_t)(at + 1 - url);
			fprintf(f, "%.*s", (int)(len - auth_end), at + 1);
			return;
		}
	}
	fprintf(f, "%.*s", (int)len, url);
}

char *kb_build__ccache_remote(const char *urls)
{
	size_t n = urls ? strlen(urls) : 0, o = 0;
	char *out;

	if (!n)
		return NULL;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	/* remote_storage is a space-separated list of URLs, each with |attributes */
	for (const char *p = urls; *p;) {
		size_t len;
		while (*p == ' ' || *p == '\t')
			p++;
		len = strcspn(p, " \t");
		if (!len)
			break;
		if (len >= 8 && !strncasecmp(p, "https://", 8)) {
			if (!atomic_exchange(&noted, 1)) {
				fprintf(stderr, "kbisect: note: ccache stays local for remote storage '");
				print_redacted(stderr, p, len);
				fprintf(stderr, "': ccache has no HTTPS client (4.7.5), so every "
						"compile would fail; give ccache an http:// URL with "
						"--ccache-remote (e.g. the server on a private network) "
						"to share its results\n");
			}
		} else {
			if (o)
				out[o++] = ' ';
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
	}
	out[o] = '\0';
	if (!o) {
		free(out);
		return NULL;
	}
	return out;
}
