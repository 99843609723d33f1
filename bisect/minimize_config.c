/*
 * bisect/minimize_config.c - kernel config files as option sets for config
 * minimization (kbisect/minimize.h): parsing the CONFIG_ lines, the difference of two
 * resolved configs, SMALL plus a subset of that difference as a config text.
 * Owns: the meaning of "CONFIG_X=v" and "# CONFIG_X is not set" (value "n"; an option
 * a config lacks is "n" too: that is what Kconfig makes of it).
 * Not: resolving dependencies (`make olddefconfig`, run by the builder), the search.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_internal.h"
#include "kbisect/minimize.h"

static int add_opt(kb_kconfig *c, size_t *cap, const char *name, size_t nlen, const char *val,
		   size_t vlen)
{
	if (c->n == *cap) {
		size_t nc = *cap ? 2 * *cap : 256;
		kb_kconfig_opt *p = realloc(c->v, nc * sizeof(*p));
		if (!p)
			return -1;
		c->v = p, *cap = nc;
	}
	c->v[c->n].name = strndup(name, nlen);
	c->v[c->n].value = strndup(val, vlen);
	if (!c->v[c->n].name || !c->v[c->n].value) {
		free(c->v[c->n].name), free(c->v[c->n].value);
		return -1;
	}
	c->n++;
	return 0;
}

/* the option of one line: name [*name, +*nlen), value; 1 if the line is one */
static int parse_line(const char *s, size_t len, const char **name, size_t *nlen,
		      const char **val, size_t *vlen)
{
	static const char unset[] = " is not set";
	const size_t ul = sizeof(unset) - 1;

	if (len > 9 && !strncmp(s, "CONFIG_", 7)) {
		const char *eq = memchr(s, '=', len);
		if (!eq || eq == s + 7)
			return 0;
		*name = s + 7, *nlen = (size_t)(eq - s - 7);
		*val = eq + 1, *vlen = len - (size_t)(eq + 1 - s);
		return 1;
	}
	if (len > 9 + ul && !strncmp(s, "# CONFIG_", 9) && !strncmp(s + len - ul, unset, ul)) {
		*name = s + 9, *nlen = len - 9 - ul;
		*val = "n", *vlen = 1;
		return *nlen > 0 && !memchr(*name, ' ', *nlen);
	}
	return 0;
}

int kb_kconfig_parse(kb_kconfig *out, const char *text, size_t len)
{
	size_t cap = 0, at = 0;

	memset(out, 0, sizeof(*out));
	while (at < len) {
		const char *s = text + at, *nl = memchr(s, '\n', len - at);
		size_t l = nl ? (size_t)(nl - s) : len - at;
		const char *name, *val;
		size_t nlen, vlen;
		at += l + (nl ? 1 : 0);
		if (l && s[l - 1] == '\r')
			l--;
		if (parse_line(s, l, &name, &nlen, &val, &vlen) &&
		    add_opt(out, &cap, name, nlen, val, vlen) != 0) {
			kb_kconfig_free(out);
			return kb_error_set(KB_ERRCLASS_OS, "out of memory parsing a config");
		}
	}
	return 0;
}

const char *kb_kconfig_value(const kb_kconfig *c, const char *name)
{
	for (size_t i = c->n; i-- > 0;) /* the last line of an option wins, as in Kconfig */
		if (!strcmp(c->v[i].name, name))
			return c->v[i].value;
	return "n";
}

void kb_kconfig_free(kb_kconfig *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].name), free(c->v[i].value);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

int kb_kconfig_diff(kb_kconfig *out, const kb_kconfig *big, const kb_kconfig *small)
{
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < big->n; i++) {
		const kb_kconfig_opt *o = &big->v[i];
		int last = 1;
		for (size_t k = i + 1; k < big->n && last; k++) /* a later line overrides it */
			last = strcmp(big->v[k].name, o->name) != 0;
		if (!last || !strcmp(kb_kconfig_value(small, o->name), o->value))
			continue;
		if (add_opt(out, &cap, o->name, strlen(o->name), o->value, strlen(o->value)))
			goto oom;
	}
	for (size_t i = 0; i < small->n; i++) { /* set in SMALL, absent from BIG: "n" there */
		const kb_kconfig_opt *o = &small->v[i];
		int in_big = 0;
		for (size_t k = 0; k < big->n && !in_big; k++)
			in_big = !strcmp(big->v[k].name, o->name);
		if (in_big || !strcmp(o->value, "n") || strcmp(kb_kconfig_value(out, o->name), "n"))
			continue;
		if (add_opt(out, &cap, o->name, strlen(o->name), "n", 1))
			goto oom;
	}
	return 0;
oom:
	kb_kconfig_free(out);
	return kb_error_set(KB_ERRCLASS_OS, "out of memory comparing configs");
}

const char *kb_kconfig_line(char *buf, size_t len, const kb_kconfig_opt *o)
{
	if (!strcmp(o->value, "n"))
		snprintf(buf, len, "# CONFIG_%s is not set", o->name);
	else
		snprintf(buf, len, "CONFIG_%s=%s", o->name, o->value);
	return buf;
}

/* index in set[0..n) of diff's option called name[0..nlen), or -1 */
static long in_set(const kb_kconfig *diff, const size_t *set, size_t n, const char *name,
		   size_t nlen)
{
	for (size_t i = 0; i < n; i++) {
		const char *d = diff->v[set[i]].name;
		if (strlen(d) == nlen && !strncmp(d, name, nlen))
			return (long)i;
	}
	return -1;
}

int kb_kconfig_apply(char **out, size_t *out_len, const char *small_text, size_t small_len,
		     const kb_kconfig *diff, const size_t *set, size_t n)
{
	char *seen = calloc(n ? n : 1, 1), line[4200];
	char *buf = NULL;
	size_t blen = 0, at = 0;
	FILE *f = open_memstream(&buf, &blen);

	*out = NULL;
	if (!seen || !f) {
		free(seen);
		if (f)
			fclose(f);
		free(buf);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory writing a config");
	}
	while (at < small_len) {
		const char *s = small_text + at, *nl = memchr(s, '\n', small_len - at);
		size_t l = nl ? (size_t)(nl - s) : small_len - at;
		const char *name, *val;
		size_t nlen, vlen;
		long k;
		at += l + (nl ? 1 : 0);
		if (parse_line(s, l, &name, &nlen, &val, &vlen) &&
		    (k = in_set(diff, set, n, name, nlen)) >= 0) {
			if (!seen[k])
				fprintf(f, "%s\n", kb_kconfig_line(line, sizeof(line),
								   &diff->v[set[k]]));
			seen[k] = 1;
			continue;
		}
		fprintf(f, "%.*s\n", (int)l, s);
	}
	for (size_t i = 0; i < n; i++)
		if (!seen[i])
			fprintf(f, "%s\n", kb_kconfig_line(line, sizeof(line), &diff->v[set[i]]));
	free(seen);
	if (fclose(f) != 0) {
		free(buf);
		return kb_error_set(KB_ERRCLASS_OS, "out of memory writing a config");
	}
	*out = buf;
	*out_len = blen;
	return 0;
}
