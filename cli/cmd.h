/*
 * cli/cmd.h - the subcommands of the kbisect tool and the helpers they share.
 *
 * Recipe for a new command (git's builtin.h): write cmd_foo() in cli/cmd_foo.c with a
 * struct kb_option table and a struct kb_cmd_doc (cli/options.h; kb_options_parse()
 * parses argv and answers --help from them), declare it here, add a row to kb_cmds[] in
 * cli/main.c (cli/CMakeLists.txt picks the file up), add tests/cli/tN..-foo.sh and
 * docs/kbisect-foo.md.
 * The cmd_ files call only the public headers (include/kbisect) and these helpers.
 */
#ifndef KB_BISECT_CMD_H
#define KB_BISECT_CMD_H

#include <stdio.h>

/** Exit codes of the kbisect tool (documented in docs/exit-codes.md). */
#define KB_EXIT_OK 0     /**< success */
#define KB_EXIT_ERROR 1  /**< the command failed; the reason is on stderr */
#define KB_EXIT_USAGE 129 /**< bad command line; usage is on stderr */

/** Pre-check flags of a command table row. */
#define KB_NEED_QEMU (1u << 0) /**< qemu-system-x86_64 must be on PATH */
#define KB_NEED_REPO (1u << 1) /**< the command works on a git repository */

/** One row of the command table. */
struct kb_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	unsigned int flags;
	const char *desc;
};

/** Print usage lines (NULL-terminated array) to out, each prefixed "usage: " or "   or: "
 * (a line starting with a space continues the one before: indented only). */
void kb_cli_usage(FILE *out, const char *const *usage);

/** Print "kbisect: <message of kb_error_last()>" to stderr; returns KB_EXIT_ERROR. */
int kb_cli_die_error(void);

/** Print "kbisect: <fmt>" to stderr; returns KB_EXIT_ERROR. */
int kb_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Print the usage-error message and usage lines to stderr; returns KB_EXIT_USAGE. */
int kb_cli_usage_error(const char *const *usage, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** Resolve the cache directory: opt if non-NULL, else $KBISECT_CACHE, else
 * ~/.cache/kbisect. Returns a static buffer. */
const char *kb_cli_cache_dir(const char *opt);

/** 1 if argv[1] (the subcommand's first argument) asks for help (-h, --help). */
int kb_cli_wants_help(int argc, char **argv);

/** Parse a size such as "64G", "500M", "4096" (binary units); 0 or -1. */
int kb_cli_parse_size(const char *s, unsigned long long *out);

/** Format bytes as "1.5 GiB" into buf. */
const char *kb_cli_human_size(char *buf, size_t len, unsigned long long bytes);

/** Format seconds as "1h02m03s" / "4m05s" / "2.3s" into buf. */
const char *kb_cli_human_duration(char *buf, size_t len, double seconds);

/* --remote URL (cli/cmd_remote_wiring.c) */
typedef struct kb_remote kb_remote;
/** Open the remote of --remote url (NULL: $KBISECT_REMOTE, else "remote = URL" in
 * $KBISECT_CONFIG or ~/.config/kbisect/config, which may also set "remote-token-file"
 * and "remote-ca"); *out NULL if none. Returns KB_OK or a kb_error_code (bad URL, token
 * file: kb_error_last() says why); prints nothing. */
int kb_cli_remote_resolve(kb_remote **out, const char *url);
/** kb_cli_remote_resolve(); returns KB_EXIT_OK, or KB_EXIT_ERROR after printing why. */
int kb_cli_remote_open(kb_remote **out, const char *url);
/** ccache's remote storage on the server at url ("<url>/ccache|layout=bazel") in buf
 * (the builder drops it again for an https url: ccache has no HTTPS client). */
const char *kb_cli_remote_ccache(char *buf, size_t len, const char *url);
/** After a command: if the remote was given up, warn on stderr with its counters. */
void kb_cli_remote_done(kb_remote *r);

/* --commit-url of the HTML reports (cli/report_url.c) */
/** *out = opt, else "commit-url = <pattern>" of the user's config file, else NULL;
 * KB_EXIT_OK, or KB_EXIT_ERROR after printing why the pattern is not valid. */
int kb_cli_commit_url(const char **out, const char *opt);

/* One declaration per subcommand (cli/cmd_<name>.c). */
int cmd_signature(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_cache(int argc, char **argv);
int cmd_pool(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_bisect(int argc, char **argv);
/** `kbisect cache serve` (cli/cmd_cache_serve.c), dispatched by cmd_cache. */
int cache_serve(int argc, char **argv);
/** `kbisect cache forget` (cmd_cache_forget.c). */
int cache_forget(int argc, char **argv);
int cmd_remote(int argc, char **argv);
int cmd_report(int argc, char **argv);
/** `kbisect config minimize` (cli/cmd_config.c). */
int cmd_config(int argc, char **argv);

/* config minimization before a bisection (cli/cmd_config.c) */
typedef struct kb_cache kb_cache;
struct kb_minimize_cli_args {
	const char *rev;        /**< the revision to minimize on (--bad) */
	const char *baseline;   /**< SMALL */
	unsigned runs;          /**< runs on BIG (0: 10) */
	double confidence;      /**< of a clean verdict (0: 0.99) */
	const char *title;      /**< target title, or NULL */
	int any_crash;
};
/** Minimize the config of *oracle_opts (a kb_oracle_opts *, kbisect/oracle.h: BIG in
 * its .config) on a->rev, log the options that matter to its log and write the
 * minimized config to <cache>/minimize/minimized-<rev>.config, its path into path.
 * Returns KB_EXIT_OK, or KB_EXIT_ERROR after printing why. */
int kb_cli_minimize_config(char *path, size_t len, kb_cache *cache, kb_remote *remote,
			   const void *oracle_opts, const struct kb_minimize_cli_args *a);

#endif
