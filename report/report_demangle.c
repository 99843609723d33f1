/*
 * report/report_demangle.c - readable names for mangled frames in kernel stack traces.
 * Owns: demangling the symbols Rust and C++ code put into stack traces, without
 * parameters (as syzkaller's titles show them): Rust v0 ("_RNv...": paths, inherent and
 * trait impls, generic arguments, back-references), Rust legacy ("_ZN...17h<hash>E": the
 * hash dropped) and plain Itanium C++ names ("_Z8fakeNameiii" -> "fakeName",
 * "_ZN3foo3barEv" -> "foo::bar"). A symbol this does not understand is left as it is.
 * Not: which frame is used (report_frames.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"

struct dm {
	const char *s; /* the symbol after "_R" */
	size_t n, pos;
	char *out;
	size_t cap, o;
	int depth, bad, steps;
};

static void put(struct dm *d, const char *s, size_t n)
{
	while (n-- && *s) {
		if (d->o + 1 < d->cap)
			d->out[d->o++] = *s;
		s++;
	}
	d->out[d->o] = '\0';
}

static void puts_(struct dm *d, const char *s)
{
	put(d, s, strlen(s));
}

static int peek(const struct dm *d)
{
	return d->pos < d->n ? (unsigned char)d->s[d->pos] : 0;
}

static int eat(struct dm *d, int c)
{
	if (peek(d) == c) {
		d->pos++;
		return 1;
	}
	return 0;
}

/* base-62 number: "_" is 0, "<digits>_" is value + 1 */
static size_t base62(struct dm *d)
{
	size_t v = 0;

	if (eat(d, '_'))
		return 0;
	while (d->pos < d->n && d->s[d->pos] != '_') {
		int c = d->s[d->pos++], k;
		if (isdigit(c))
			k = c - '0';
		else if (islower(c))
			k = c - 'a' + 10;
		else if (isupper(c))
			k = c - 'A' + 36;
		else {
			d->bad = 1;
			return 0;
		}
		if (v < ((size_t)1 << 40)) /* disambiguators are hashes: saturate */
			v = v * 62 + (size_t)k;
	}
	if (!eat(d, '_'))
		d->bad = 1;
	return v + 1;
}

static void disambiguator(struct dm *d)
{
	if (eat(d, 's'))
		(void)base62(d);
}

static void ident(struct dm *d, int print)
{
	size_t len = 0;

	disambiguator(d);
	if (eat(d, 'u')) { /* punycode: not handled */
		d->bad = 1;
		return;
	}
	if (!isdigit(peek(d))) {
		d->bad = 1;
		return;
	}
	while (isdigit(peek(d))) {
		len = len * 10 + (size_t)(d->s[d->pos++] - '0');
		if (len > d->n) {
			d->bad = 1;
			return;
		}
	}
	eat(d, '_');
	if (d->pos + len > d->n) {
		d->bad = 1;
		return;
	}
	if (print)
		put(d, d->s + d->pos, len);
	d->pos += len;
}

static void path(struct dm *d);
static void type(struct dm *d);

/* B<base62>: parse what is at that earlier position, then come back */
static void backref(struct dm *d, void (*fn)(struct dm *))
{
	size_t at = base62(d), save = d->pos;

	if (d->bad || at + 2 >= save || d->depth > 64) { /* must point before the 'B' */
		d->bad = 1;
		return;
	}
	d->depth++;
	d->pos = at;
	fn(d);
	d->pos = save;
	d->depth--;
}

static void generic_args(struct dm *d)
{
	int first = 1;

	puts_(d, "<");
	while (!d->bad && !eat(d, 'E')) {
		if (d->pos >= d->n) {
			d->bad = 1;
			return;
		}
		if (!first)
			puts_(d, ", ");
		first = 0;
		if (eat(d, 'L')) { /* lifetime */
			(void)base62(d);
			puts_(d, "'_");
		} else if (eat(d, 'K')) { /* const: skip it */
			d->bad = 1;
		} else {
			type(d);
		}
	}
	puts_(d, ">");
}

static void type(struct dm *d)
{
	static const char *const basic[26] = {
		['a' - 'a'] = "i8",  ['b' - 'a'] = "bool", ['c' - 'a'] = "char", ['d' - 'a'] = "f64",
		['e' - 'a'] = "str", ['f' - 'a'] = "f32",  ['h' - 'a'] = "u8",   ['i' - 'a'] = "isize",
		['j' - 'a'] = "usize", ['l' - 'a'] = "i32", ['m' - 'a'] = "u32", ['n' - 'a'] = "i128",
		['o' - 'a'] = "u128", ['p' - 'a'] = "_",  ['s' - 'a'] = "i16",  ['t' - 'a'] = "u16",
		['u' - 'a'] = "()",  ['v' - 'a'] = "...", ['x' - 'a'] = "i64",  ['y' - 'a'] = "u64",
		['z' - 'a'] = "!",
	};
	int c = peek(d);

	if (d->depth > 64 || ++d->steps > 2048) { /* back-references can nest: a budget */
		d->bad = 1;
		return;
	}
	if (c >= 'a' && c <= 'z' && basic[c - 'a']) {
		d->pos++;
		puts_(d, basic[c - 'a']);
		return;
	}
	d->depth++;
	switch (c) {
	case 'R':
	case 'Q':
		d->pos++;
		if (eat(d, 'L'))
			(void)base62(d);
		puts_(d, c == 'R' ? "&" : "&mut ");
		type(d);
		break;
	case 'P':
	case 'O':
		d->pos++;
		puts_(d, c == 'P' ? "*const " : "*mut ");
		type(d);
		break;
	case 'S':
		d->pos++;
		puts_(d, "[");
		type(d);
		puts_(d, "]");
		break;
	case 'T': {
		int first = 1;
		d->pos++;
		puts_(d, "(");
		while (!d->bad && !eat(d, 'E')) {
			if (d->pos >= d->n) {
				d->bad = 1;
				break;
			}
			if (!first)
				puts_(d, ", ");
			first = 0;
			type(d);
		}
		puts_(d, ")");
		break;
	}
	case 'B':
		d->pos++;
		backref(d, type);
		break;
	case 'C':
	case 'M':
	case 'X':
	case 'Y':
	case 'N':
	case 'I':
		path(d);
		break;
	default: /* arrays, fn pointers, dyn: not handled */
		d->bad = 1;
	}
	d->depth--;
}

static void path(struct dm *d)
{
	int c = peek(d);

	if (d->bad || d->depth > 64 || ++d->steps > 2048) {
		d->bad = 1;
		return;
	}
	d->depth++;
	d->pos++;
	switch (c) {
	case 'C':
		ident(d, 1);
		break;
	case 'M': /* inherent impl: <Type> */
		disambiguator(d);
		{
			size_t o = d->o;
			path(d); /* the impl's own path: not printed */
			d->o = o;
			d->out[o] = '\0';
		}
		puts_(d, "<");
		type(d);
		puts_(d, ">");
		break;
	case 'X': /* trait impl: <Type as Trait> */
		disambiguator(d);
		{
			size_t o = d->o;
			path(d);
			d->o = o;
			d->out[o] = '\0';
		}
		/* fall through */
	case 'Y':
		puts_(d, "<");
		type(d);
		puts_(d, " as ");
		path(d);
		puts_(d, ">");
		break;
	case 'N': {
		int ns = d->pos < d->n ? d->s[d->pos++] : 0;
		path(d);
		if (isupper(ns)) { /* closures, shims: {closure#N} */
			size_t save = d->o;
			puts_(d, "::{");
			puts_(d, ns == 'C' ? "closure" : ns == 'S' ? "shim" : "?");
			puts_(d, "#");
			disambiguator(d);
			(void)save;
			{
				size_t o = d->o;
				ident(d, 1);
				if (d->o == o) /* no name: a number would follow; keep "#" */
					puts_(d, "0");
			}
			puts_(d, "}");
		} else {
			puts_(d, "::");
			ident(d, 1);
		}
		break;
	}
	case 'I':
		path(d);
		generic_args(d);
		break;
	case 'B':
		backref(d, path);
		break;
	default:
		d->bad = 1;
	}
	d->depth--;
}

/* Rust legacy / C++ Itanium: "_ZN" {<len><name>} "E" or "_Z" <len><name> */
static int itanium(const char *sym, char *out, size_t outsz)
{
	const char *p = sym + 2;
	size_t o = 0;
	int nested = 0, parts = 0;

	if (*p == 'L') /* internal linkage */
		p++;
	if (*p == 'N') {
		nested = 1;
		p++;
		while (*p == 'K' || *p == 'V' || *p == 'r') /* cv-qualifiers of methods */
			p++;
	}
	while (isdigit((unsigned char)*p)) {
		size_t len = 0;
		while (isdigit((unsigned char)*p))
			len = len * 10 + (size_t)(*p++ - '0');
		if (len == 0 || len > strlen(p))
			return 0;
		/* Rust legacy symbols end with a "h<16 hex>" hash component: drop it */
		if (nested && len == 17 && p[0] == 'h' && p[len] == 'E') {
			int hex = 1;
			for (size_t i = 1; i < len; i++)
				hex &= isxdigit((unsigned char)p[i]) != 0;
			if (hex) {
				p += len;
				break;
			}
		}
		if (parts++ && o + 2 < outsz) {
			out[o++] = ':';
			out[o++] = ':';
		}
		for (size_t i = 0; i < len && o + 1 < outsz; i++)
			out[o++] = p[i];
		p += len;
		if (!nested)
			break;
	}
	out[o] = '\0';
	if (!parts)
		return 0;
	if (nested && *p != 'E') /* templates, operators, ctors: not handled */
		return 0;
	return 1;
}

/** Demangle sym into out (at most outsz bytes); 1 if it was a mangled name we
 * understood, else 0 and out is sym unchanged. */
int rpt_demangle(const char *sym, char *out, size_t outsz)
{
	if (!strncmp(sym, "_R", 2)) {
		struct dm d = { .s = sym + 2, .n = strlen(sym + 2), .out = out, .cap = outsz };
		out[0] = '\0';
		if (isdigit((unsigned char)d.s[0])) /* version */
			d.bad = 1;
		path(&d);
		if (!d.bad)
			return 1;
	} else if (!strncmp(sym, "_Z", 2) && itanium(sym, out, outsz)) {
		return 1;
	}
	snprintf(out, outsz, "%s", sym);
	return 0;
}
