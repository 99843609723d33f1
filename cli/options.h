/*
 * cli/options.h - the one option parser of the kbisect commands (git's parse-options
 * is the model): a command describes its options in a table, and the same table parses
 * argv and prints the option list of `--help`.
 * Owns: long (--name, --name=value, --name value, unique prefixes) and short (-x,
 *       -xVALUE, -x VALUE, bundled -vq) options, "--", the usage errors of a bad
 *       command line, the --help page layout.
 * Not: what a command does with its values (its cmd_<name>.c), exit codes (cmd.h).
 *
 * Conventions (docs/architecture.md, "Command-line options"): every option has a long
 * name; a value is given as --opt=value or --opt value (a value may start with '-');
 * -h/--help is built in; options and arguments may be mixed; "--" ends the options;
 * "-" is an argument (standard input).
 */
#ifndef KB_CLI_OPTIONS_H
#define KB_CLI_OPTIONS_H

#include <stdio.h>

/** Kinds of option table rows. */
enum kb_opt_type {
	KB_OPT_END = 0,  /**< ends the table */
	KB_OPT_FLAG,     /**< no value: stores defval in an int */
	KB_OPT_INT,      /**< an int in [min, max] */
	KB_OPT_UINT,     /**< an unsigned int in [min, max] */
	KB_OPT_DOUBLE,   /**< a double in (min, max] */
	KB_OPT_STRING,   /**< a const char * (the argv string itself) */
	KB_OPT_LIST,     /**< repeatable: each value appended to a struct kb_opt_list */
	KB_OPT_CALLBACK, /**< cb(opt, value) checks and stores the value (NULL for a flag) */
	KB_OPT_GROUP,    /**< not an option: a heading in --help (help is the text) */
};

/** Row flags. */
#define KB_OPTF_HIDDEN (1u << 0) /**< an alias or internal option: parsed, not in --help */
#define KB_OPTF_LAST (1u << 1)   /**< the arguments after this option are all positional */

struct kb_option;

/** The values of a repeatable (KB_OPT_LIST) option, in order; v has room for max. */
struct kb_opt_list {
	const char **v;
	unsigned int n, max;
};

/** Check and store arg (NULL for a callback without argh). NULL when fine, else a hint
 * for the usage error "bad --<name> '<arg>'; <hint>". */
typedef const char *(*kb_opt_cb)(const struct kb_option *opt, const char *arg);

/** One row of an option table. */
struct kb_option {
	enum kb_opt_type type;
	int short_name;        /**< 'x' for -x, 0 for none */
	const char *long_name; /**< "name" for --name (without the dashes) */
	void *value;           /**< where the value goes (type decides the C type) */
	const char *argh;      /**< name of the value in --help ("file"); NULL: no value */
	const char *help;      /**< help text; may hold '\n' (wrapped otherwise) */
	double min, max;       /**< INT, UINT: [min, max]; DOUBLE: (min, max] */
	kb_opt_cb cb;          /**< KB_OPT_CALLBACK */
	int defval;            /**< KB_OPT_FLAG: the value stored */
	unsigned int flags;    /**< KB_OPTF_* */
};

/* Table rows (s: short letter or 0, l: long name, v: target, a: value name, h: help). */
#define KB_OPT_BOOL(s, l, v, h) \
	{ .type = KB_OPT_FLAG, .short_name = (s), .long_name = (l), .value = (v), .help = (h), \
	  .defval = 1 }
#define KB_OPT_SET(s, l, v, val, h) \
	{ .type = KB_OPT_FLAG, .short_name = (s), .long_name = (l), .value = (v), .help = (h), \
	  .defval = (val) }
#define KB_OPT_INTEGER(s, l, v, lo, hi, a, h) \
	{ .type = KB_OPT_INT, .short_name = (s), .long_name = (l), .value = (v), .argh = (a), \
	  .help = (h), .min = (lo), .max = (hi) }
#define KB_OPT_UNSIGNED(s, l, v, lo, hi, a, h) \
	{ .type = KB_OPT_UINT, .short_name = (s), .long_name = (l), .value = (v), .argh = (a), \
	  .help = (h), .min = (lo), .max = (hi) }
#define KB_OPT_NUMBER(s, l, v, lo, hi, a, h) \
	{ .type = KB_OPT_DOUBLE, .short_name = (s), .long_name = (l), .value = (v), .argh = (a), \
	  .help = (h), .min = (lo), .max = (hi) }
#define KB_OPT_STR(s, l, v, a, h) \
	{ .type = KB_OPT_STRING, .short_name = (s), .long_name = (l), .value = (v), .argh = (a), \
	  .help = (h) }
#define KB_OPT_STRS(s, l, v, a, h) \
	{ .type = KB_OPT_LIST, .short_name = (s), .long_name = (l), .value = (v), .argh = (a), \
	  .help = (h) }
#define KB_OPT_CALL(s, l, v, a, h, f) \
	{ .type = KB_OPT_CALLBACK, .short_name = (s), .long_name = (l), .value = (v), \
	  .argh = (a), .help = (h), .cb = (f) }
#define KB_OPT_HEADING(h) { .type = KB_OPT_GROUP, .help = (h) }
#define KB_OPT_TABLE_END { .type = KB_OPT_END }

/** What `--help` says around the option list of a command. */
struct kb_cmd_doc {
	const char *const *usage; /**< usage lines, NULL-terminated (kb_cli_usage) */
	const char *intro;        /**< paragraphs between usage and options, or NULL */
	const char *outro;        /**< paragraphs after the options (exit codes...), or NULL */
};

/** kb_options_parse() printed the help page (exit 0). */
#define KB_OPTIONS_HELP (-1)
/** kb_options_parse() printed a usage error (exit KB_EXIT_USAGE). */
#define KB_OPTIONS_USAGE (-2)

/** Parse flag: stop at the first argument that is not an option (it and the rest are
 * left as arguments), for a command whose first argument picks a subcommand. */
#define KB_OPTIONS_STOP_AT_ARG (1u << 0)

/** Parse argv[1..argc) (argv[0] names the command) against opts. Values go to the rows'
 * targets (the last one wins), the arguments that are not options are moved to
 * argv[0..n) in order and n is returned (argv is reordered and argv[n] set to NULL:
 * pass a copy of an array whose strings you free). -h/--help prints kb_options_help() to stdout
 * and returns KB_OPTIONS_HELP; an unknown option, a missing, extra or bad value prints
 * "kbisect: <why>" and the usage lines to stderr and returns KB_OPTIONS_USAGE. */
int kb_options_parse(int argc, char **argv, const struct kb_option *opts,
		     const struct kb_cmd_doc *doc, unsigned int flags);

/** The exit code of a negative kb_options_parse() result (0 for help, 129 otherwise). */
int kb_options_exit(int parse_result);

/** Print the option list of opts to out (one option per line; help column 30, wrapped
 * at 79 columns; hidden rows skipped). */
void kb_options_print(FILE *out, const struct kb_option *opts);

/** Print the whole help page: usage lines, intro, option list, outro. */
void kb_options_help(FILE *out, const struct kb_option *opts, const struct kb_cmd_doc *doc);

/* --ccache <prog> and --no-ccache (no argument): the last one wins; opt->value is one */
struct kb_ccache_choice {
	const char *prog; /**< the program, NULL for --no-ccache */
	int set;          /**< 1 once either option was given */
};

/** KB_OPT_CALL callback of --ccache/--no-ccache into a struct kb_ccache_choice. */
const char *kb_opt_ccache(const struct kb_option *opt, const char *arg);

/** KB_OPT_CALL callback of a probability in (0, 1) (e.g. --confidence) into a double. */
const char *kb_opt_probability(const struct kb_option *opt, const char *arg);

#endif
