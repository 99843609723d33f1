/*
 * builder/build_fail.c - whose fault a failed build is: the tree's (compiler or linker
 * errors in its files: remembered and shared, the same inputs fail again) or the
 * host's (a tool missing, out of memory, killed by a signal, disk full, ccache or
 * kbisect-ccwrap errors: infra, never recorded, tried again next time).
 * Owns: the rules of that decision (docs/kbisect-build.md, "Failed builds") and the
 * one-line reason given for a host failure.
 * Not: running the build or recording it (build_make.c), the first error of a tree
 * failure (build_make.c).
 * DESIGN: a host cause anywhere in the log wins over tree errors: with make -j a tree
 * error and, say, a full disk can both appear, and a failure wrongly remembered poisons
 * every host sharing the cache, while one wrongly retried costs one more failed build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_internal.h"

/* Messages of the host: the substring, and what it means. */
static const struct {
	const char *pat, *what;
} host_patterns[] = {
	{ "No space left on device", "disk full" },
	{ "Disk quota exceeded", "disk quota exceeded" },
	{ "Killed signal terminated program", "compiler killed (out of memory?)" },
	{ "virtual memory exhausted", "out of memory" },
	{ "Cannot allocate memory", "out of memory" },
	{ "out of memory allocating", "out of memory" },
	{ "] Killed", "a build step was killed (out of memory?)" },
	{ "] Error 137", "a build step was killed (out of memory?)" },
	{ "ccache: error:", "ccache error" },
	{ "kbisect-ccwrap: ", "kbisect-ccwrap error" },
	{ NULL, NULL },
};

/* 1 if the program named before ": not found" / ": No such file or directory" at
 * line[0..end) is a path inside the tree (relative, with a '/': a script the tree
 * should have), 0 for a program looked up in PATH or an absolute path. */
static int tree_program(const char *line, const char *end)
{
	const char *start = end;

	while (start > line && start[-1] != ' ' && start[-1] != ':' && start[-1] != '\t')
		start--;
	if (start == end || *start == '/')
		return 0;
	return memchr(start, '/', (size_t)(end - start)) != NULL;
}

/* A host cause in one log line that decides alone (resources, ccache, the wrapper):
 * its meaning, or NULL. *tool is set to 1 when the line says a program looked up in
 * PATH is missing (that decides only with make's "Error 127", exit 127, or no error of
 * the tree: a configure-style probe may print it harmlessly), *tree_missing when it
 * says a program of the tree itself is missing (then "Error 127" is the tree's). */
static const char *host_line(const char *line, int *tool, int *tree_missing)
{
	const char *p;

	for (int i = 0; host_patterns[i].pat; i++)
		if (strstr(line, host_patterns[i].pat))
			return host_patterns[i].what;
	/* bash: "bash: line 1: bison: command not found" */
	if (strstr(line, "command not found"))
		*tool = 1;
	/* dash: "/bin/sh: 1: flex: not found"; the tree's own scripts are the tree's */
	if ((p = strstr(line, ": not found")) && !p[11]) {
		if (!tree_program(line, p))
			*tool = 1;
		else
			*tree_missing = 1;
	}
	/* make running a program itself: "make[2]: flex: No such file or directory"
	 * (not the compiler's "fatal error: x.h: No such file or directory") */
	if (!strncmp(line, "make", 4) && !strstr(line, "error") &&
	    (p = strstr(line, ": No such file or directory")) && strchr(line, ':') < p) {
		if (!tree_program(line, p))
			*tool = 1;
		else
			*tree_missing = 1;
	}
	return NULL;
}

/* 1 if line is an error of the compiler or the linker about the tree's files */
static int tree_error_line(const char *line)
{
	return strstr(line, ": error: ") || strstr(line, "fatal error: ") ||
	       strstr(line, "undefined reference to") || strstr(line, "multiple definition of");
}

int kb_build__host_failure(int status, const char *log, size_t len, char *why, size_t whylen)
{
	const char *p = log, *end = log + (log ? len : 0);
	char tool_line[512] = "", e127_line[512] = "";
	int tree_missing = 0, tree_error = 0;

	why[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end, *what;
		size_t n = (size_t)(eol - p);
		char line[1024];
		int tool = 0;

		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (n && line[n - 1] == '\r')
			line[n - 1] = '\0';
		if ((what = host_line(line, &tool, &tree_missing))) {
			kb_build__bprintf(why, whylen, "%s: %s", what, line);
			return 1;
		}
		if (tool && !tool_line[0])
			kb_build__bprintf(tool_line, sizeof(tool_line), "%s", line);
		if (!e127_line[0] && strstr(line, "] Error 127"))
			kb_build__bprintf(e127_line, sizeof(e127_line), "%s", line);
		tree_error |= tree_error_line(line);
		p = nl ? nl + 1 : end;
	}
	if (status > 128) {
		kb_build__bprintf(why, whylen, "the build was killed by signal %d (out of "
				  "memory? stopped by hand?)", status - 128);
		return 1;
	}
	if (tool_line[0] && (e127_line[0] || status == 127 || !tree_error)) {
		kb_build__bprintf(why, whylen, "a tool is missing: %s", tool_line);
		return 1;
	}
	if (tree_missing) /* "scripts/x.sh: not found": the tree lacks its own script */
		return 0;
	if (e127_line[0]) {
		kb_build__bprintf(why, whylen, "a tool is missing (exit 127): %s", e127_line);
		return 1;
	}
	if (status == 127) {
		kb_build__bprintf(why, whylen, "a tool is missing: the build command exited 127 "
				  "(command not found)");
		return 1;
	}
	return 0;
}
