/*
 * cli/options.c - the option parser of every kbisect command and the option list of
 * its --help, both from the command's table (cli/options.h).
 * Owns: matching argv against a table, value checks of the built-in kinds, the usage
 *       errors of a bad command line, the layout of a help page.
 * Not: the tables themselves (each cmd_<name>.c), what the values mean.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "options.h"

#define HELP_COL 30  /* column where the help text of an option starts */
#define HELP_WIDTH 79 /* help lines are wrapped to this many columns */

/* Rows that are options (not headings), up to the end of the table. */
static int is_option(const struct kb_option *o)
{
	return o->type != KB_OPT_END && o->type != KB_OPT_GROUP;
}

/* The row of --name (name is len bytes): an exact match, else the only option whose
 * long name starts with it (getopt_long's unique prefixes). NULL, *ambiguous set when
 * several match. */
static const struct kb_option *find_long(const struct kb_option *opts, const char *name,
					 size_t len, int *ambiguous)
{
	const struct kb_option *hit = NULL;
	int n = 0;

	*ambiguous = 0;
	for (const struct kb_option *o = opts; o->type != KB_OPT_END; o++)
		if (is_option(o) && o->long_name && strlen(o->long_name) == len &&
		    !strncmp(o->long_name, name, len))
			return o;
	for (const struct kb_option *o = opts; o->type != KB_OPT_END; o++)
		if (is_option(o) && o->long_name && !strncmp(o->long_name, name, len)) {
			hit = o;
			n++;
		}
	if (n > 1)
		*ambiguous = 1;
	return n == 1 ? hit : NULL;
}

static const struct kb_option *find_short(const struct kb_option *opts, int c)
{
	for (const struct kb_option *o = opts; o->type != KB_OPT_END; o++)
		if (is_option(o) && o->short_name == c)
			return o;
	return NULL;
}

/* "--name" or "-x" of a row, for messages. */
static const char *opt_name(char *buf, size_t len, const struct kb_option *o)
{
	if (o->long_name)
		snprintf(buf, len, "--%s", o->long_name);
	else
		snprintf(buf, len, "-%c", o->short_name);
	return buf;
}

/* Store arg (NULL for a row without a value) into the row's target. NULL, or a hint
 * for the usage error. */
static const char *store(const struct kb_option *o, const char *arg, char *hint, size_t hlen)
{
	char *end;

	switch (o->type) {
	case KB_OPT_FLAG:
		*(int *)o->value = o->defval;
		return NULL;
	case KB_OPT_STRING:
		*(const char **)o->value = arg;
		return NULL;
	case KB_OPT_LIST: {
		struct kb_opt_list *l = o->value;
		if (l->n >= l->max) {
			snprintf(hint, hlen, "at most %u of them", l->max);
			return hint;
		}
		l->v[l->n++] = arg;
		return NULL;
	}
	case KB_OPT_CALLBACK:
		return o->cb(o, arg);
	case KB_OPT_INT:
	case KB_OPT_UINT: {
		long long v;
		errno = 0;
		v = strtoll(arg, &end, 10);
		if (!*arg || *end || errno || (double)v < o->min || (double)v > o->max) {
			snprintf(hint, hlen, "give a whole number in %.0f..%.0f", o->min, o->max);
			return hint;
		}
		if (o->type == KB_OPT_INT)
			*(int *)o->value = (int)v;
		else
			*(unsigned int *)o->value = (unsigned int)v;
		return NULL;
	}
	case KB_OPT_DOUBLE: {
		double v;
		errno = 0;
		v = strtod(arg, &end);
		if (!*arg || *end || errno || isnan(v) || !(v > o->min && v <= o->max)) {
			snprintf(hint, hlen, "give a number in (%g, %g]", o->min, o->max);
			return hint;
		}
		*(double *)o->value = v;
		return NULL;
	}
	case KB_OPT_END:
	case KB_OPT_GROUP:
		break;
	}
	return "internal error: not an option";
}

/* Give arg to row o (the value of an option that takes one); 0 or KB_OPTIONS_USAGE. */
static int take(const struct kb_option *o, const char *arg, const struct kb_cmd_doc *doc)
{
	char hint[128], name[80];
	const char *why = store(o, arg, hint, sizeof(hint));

	if (!why)
		return 0;
	opt_name(name, sizeof(name), o);
	if (arg)
		kb_cli_usage_error(doc->usage, "bad %s '%.128s'; %s", name, arg, why);
	else
		kb_cli_usage_error(doc->usage, "%s: %s", name, why);
	return KB_OPTIONS_USAGE;
}

/* One long option argv[*i] ("--name" or "--name=value"); 0, KB_OPTIONS_HELP or
 * KB_OPTIONS_USAGE; *last set for a KB_OPTF_LAST row. */
static int parse_long(int argc, char **argv, int *i, const struct kb_option *opts,
		      const struct kb_cmd_doc *doc, int *last)
{
	const char *a = argv[*i] + 2, *eq = strchr(a, '=');
	size_t len = eq ? (size_t)(eq - a) : strlen(a);
	const struct kb_option *o;
	int ambiguous, rc;

	o = find_long(opts, a, len, &ambiguous);
	if (!o && len == 4 && !strncmp(a, "help", 4)) {
		kb_options_help(stdout, opts, doc);
		return KB_OPTIONS_HELP;
	}
	if (!o) {
		kb_cli_usage_error(doc->usage, "%s option '%.128s'",
				   ambiguous ? "ambiguous" : "unknown", argv[*i]);
		return KB_OPTIONS_USAGE;
	}
	if (!o->argh) {
		if (eq) {
			kb_cli_usage_error(doc->usage, "option '--%s' takes no value", o->long_name);
			return KB_OPTIONS_USAGE;
		}
		rc = take(o, NULL, doc);
	} else if (eq) {
		rc = take(o, eq + 1, doc);
	} else if (*i + 1 < argc) {
		rc = take(o, argv[++*i], doc);
	} else {
		kb_cli_usage_error(doc->usage, "option '--%s' needs a value", o->long_name);
		return KB_OPTIONS_USAGE;
	}
	*last = (o->flags & KB_OPTF_LAST) != 0;
	return rc;
}

/* Short options argv[*i] ("-x", "-xVALUE", "-vq"); like parse_long. */
static int parse_short(int argc, char **argv, int *i, const struct kb_option *opts,
		       const struct kb_cmd_doc *doc, int *last)
{
	for (const char *p = argv[*i] + 1; *p; p++) {
		const struct kb_option *o = find_short(opts, *p);
		int rc;
		if (!o && *p == 'h') {
			kb_options_help(stdout, opts, doc);
			return KB_OPTIONS_HELP;
		}
		if (!o) {
			kb_cli_usage_error(doc->usage, "unknown option '-%c'%s%.128s%s", *p,
					   p == argv[*i] + 1 ? "" : " in '",
					   p == argv[*i] + 1 ? "" : argv[*i],
					   p == argv[*i] + 1 ? "" : "'");
			return KB_OPTIONS_USAGE;
		}
		*last = (o->flags & KB_OPTF_LAST) != 0;
		if (!o->argh) {
			if ((rc = take(o, NULL, doc)) != 0)
				return rc;
			continue;
		}
		if (p[1])
			return take(o, p + 1, doc);
		if (*i + 1 < argc)
			return take(o, argv[++*i], doc);
		kb_cli_usage_error(doc->usage, "option '-%c' needs a value", *p);
		return KB_OPTIONS_USAGE;
	}
	return 0;
}

int kb_options_parse(int argc, char **argv, const struct kb_option *opts,
		     const struct kb_cmd_doc *doc, unsigned int flags)
{
	int n = 0, stop = 0;

	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		int rc, last = 0;
		if (stop || a[0] != '-' || !a[1]) { /* an argument ("-" is one: stdin) */
			argv[n++] = a;
			if (flags & KB_OPTIONS_STOP_AT_ARG)
				stop = 1;
			continue;
		}
		if (!strcmp(a, "--")) {
			stop = 1;
			continue;
		}
		rc = a[1] == '-' ? parse_long(argc, argv, &i, opts, doc, &last)
				 : parse_short(argc, argv, &i, opts, doc, &last);
		if (rc != 0)
			return rc;
		if (last)
			stop = 1;
	}
	if (n < argc)
		argv[n] = NULL;
	return n;
}

int kb_options_exit(int parse_result)
{
	return parse_result == KB_OPTIONS_HELP ? KB_EXIT_OK : KB_EXIT_USAGE;
}

/* Print text from column col (the cursor is there), wrapping words at HELP_WIDTH onto
 * lines indented to indent; a '\n' in text starts a new indented line. */
static void print_wrapped(FILE *out, const char *text, int col, int indent)
{
	const char *p = text;

	while (*p) {
		size_t w;
		if (*p == '\n') {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
			p++;
			continue;
		}
		if (*p == ' ') {
			p++;
			continue;
		}
		w = strcspn(p, " \n");
		if (col > indent && col + 1 + (int)w > HELP_WIDTH) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", (int)w, p);
		col += (int)w;
		p += w;
	}
	fputc('\n', out);
}

void kb_options_print(FILE *out, const struct kb_option *opts)
{
	for (const struct kb_option *o = opts; o->type != KB_OPT_END; o++) {
		char left[160];
		int n = 0;
		if (o->type == KB_OPT_GROUP) {
			fprintf(out, "%s%s\n", o == opts ? "" : "\n", o->help);
			continue;
		}
		if (!o->help || (o->flags & KB_OPTF_HIDDEN))
			continue;
		n += snprintf(left + n, sizeof(left) - (size_t)n, "    ");
		if (o->short_name)
			n += snprintf(left + n, sizeof(left) - (size_t)n, "-%c%s", o->short_name,
				      o->long_name ? ", " : "");
		if (o->long_name)
			n += snprintf(left + n, sizeof(left) - (size_t)n, "--%s", o->long_name);
		if (o->argh && n < (int)sizeof(left))
			n += snprintf(left + n, sizeof(left) - (size_t)n,
				      o->argh[0] == '<' || strchr(o->argh, '|') ? " %s" : " <%s>",
				      o->argh);
		if (n >= (int)sizeof(left))
			n = (int)sizeof(left) - 1;
		if (n > HELP_COL - 2) {
			fprintf(out, "%s\n%*s", left, HELP_COL, "");
		} else {
			fprintf(out, "%-*s", HELP_COL, left);
		}
		print_wrapped(out, o->help, HELP_COL, HELP_COL);
	}
}

/* Print paragraphs with a blank line before them: lines that fit in HELP_WIDTH as they
 * are (indented tables stay), longer ones wrapped. */
static void print_block(FILE *out, const char *text)
{
	fputc('\n', out);
	while (*text) {
		size_t n = strcspn(text, "\n");
		char line[1024];
		if (n <= HELP_WIDTH || n >= sizeof(line)) {
			fprintf(out, "%.*s\n", (int)n, text);
		} else {
			memcpy(line, text, n);
			line[n] = '\0';
			print_wrapped(out, line, 0, 0);
		}
		text += n + (text[n] == '\n');
	}
}

/* The help page into out. */
static void write_help(FILE *out, const struct kb_option *opts, const struct kb_cmd_doc *doc)
{
	kb_cli_usage(out, doc->usage);
	if (doc->intro)
		print_block(out, doc->intro);
	if (opts && opts->type != KB_OPT_END) {
		fputc('\n', out);
		kb_options_print(out, opts);
	}
	if (doc->outro)
		print_block(out, doc->outro);
}

void kb_options_help(FILE *out, const struct kb_option *opts, const struct kb_cmd_doc *doc)
{
	char *page = NULL;
	size_t len = 0, off = 0;
	FILE *m = open_memstream(&page, &len);
	int fd = fileno(out);

	if (!m) {
		write_help(out, opts, doc);
		return;
	}
	write_help(m, opts, doc);
	fclose(m);
	/* one write(2): `kbisect cmd --help | grep -q x` must not die of SIGPIPE when grep
	 * leaves after the first pipe-buffer-sized piece (pipes buffer 4 KiB in stdio) */
	fflush(out);
	while (fd >= 0 && off < len) {
		ssize_t w = write(fd, page + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off < len)
		fwrite(page + off, 1, len - off, out);
	free(page);
}

const char *kb_opt_ccache(const struct kb_option *opt, const char *arg)
{
	struct kb_ccache_choice *c = opt->value;
	c->prog = arg;
	c->set = 1;
	return NULL;
}

const char *kb_opt_probability(const struct kb_option *opt, const char *arg)
{
	char *end;
	double p = strtod(arg, &end);
	if (*end || !*arg || !(p > 0 && p < 1))
		return "give a probability such as 0.99";
	*(double *)opt->value = p;
	return NULL;
}
