/*
 * cli/cli.c - helpers shared by the kbisect subcommands: usage and error printing,
 * cache directory resolution, sizes and durations for humans.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/error.h"
#include "cmd.h"

void kb_cli_usage(FILE *out, const char *const *usage)
{
	for (int i = 0; usage[i]; i++) /* a line starting with a space continues the last */
		fprintf(out, "%s%s\n", i == 0 ? "usage: " : usage[i][0] == ' ' ? "       " : "   or: ",
			usage[i]);
}

int kb_cli_die_error(void)
{
	const kb_error *e = kb_error_last();
	fprintf(stderr, "kbisect: %s\n", e->message[0] ? e->message : kb_strerror(e->code));
	return KB_EXIT_ERROR;
}

/* Print "kbisect: <message>" and a newline to stderr. */
static void vsay(const char *fmt, va_list ap)
{
	fputs("kbisect: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int kb_cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return KB_EXIT_ERROR;
}

int kb_cli_usage_error(const char *const *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	if (usage)
		kb_cli_usage(stderr, usage);
	return KB_EXIT_USAGE;
}

const char *kb_cli_cache_dir(const char *opt)
{
	static char buf[4096];
	const char *env = getenv("KBISECT_CACHE");
	const char *home = getenv("HOME");

	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	snprintf(buf, sizeof(buf), "%s/.cache/kbisect", home && *home ? home : ".");
	return buf;
}

int kb_cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	}
	return 0;
}

int kb_cli_parse_size(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno == ERANGE)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1ull << 10; end++; break;
	case 'm': case 'M': mult = 1ull << 20; end++; break;
	case 'g': case 'G': mult = 1ull << 30; end++; break;
	case 't': case 'T': mult = 1ull << 40; end++; break;
	default: return -1;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -1;
	if (v > ULLONG_MAX / mult)
		return -1; /* 16777216T would wrap to 0 = "no limit" */
	*out = v * mult;
	return 0;
}

const char *kb_cli_human_size(char *buf, size_t len, unsigned long long bytes)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

const char *kb_cli_human_duration(char *buf, size_t len, double s)
{
	if (s < 60)
		snprintf(buf, len, "%.1fs", s);
	else if (s < 3600)
		snprintf(buf, len, "%dm%02ds", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, len, "%dh%02dm%02ds", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
	return buf;
}
