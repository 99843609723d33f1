/*
 * cli/main.c - entry point of the kbisect tool: global options and the table of
 * subcommands (dispatch is data, as in git.c and libgit2's src/cli/main.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/util.h"
#include "kbisect/vmpool.h"
#include "cmd.h"
#include "options.h"

static const struct kb_cmd kb_cmds[] = {
	{ "cache", cmd_cache, 0, "maintain the content-addressed image cache" },
	{ "signature", cmd_signature, 0, "print the kernel signature of a vmlinux" },
	{ "build", cmd_build, KB_NEED_REPO, "build the kernel of a revision, at most once" },
	{ "pool", cmd_pool, KB_NEED_QEMU, "run reproducers in pre-booted VMs" },
	{ "analyze", cmd_analyze, 0, "audit a syzbot bisection log" },
	{ "bisect", cmd_bisect, KB_NEED_QEMU | KB_NEED_REPO, "find the first bad commit" },
	{ "config", cmd_config, KB_NEED_QEMU | KB_NEED_REPO,
	  "minimize a config: the fewest options that still crash" },
	{ "remote", cmd_remote, 0, "use a shared cache server (status, push, get)" },
	{ "report", cmd_report, 0, "crash title and run class of a console log" },
	{ NULL, NULL, 0, NULL },
};

static void print_help(FILE *out)
{
	fprintf(out, "usage: kbisect [--version [--paths]] [--help] <command> [<args>]\n\n"
		     "kbisect makes Linux kernel crash bisection fast and right.\n\n"
		     "commands:\n");
	for (const struct kb_cmd *c = kb_cmds; c->name; c++)
		fprintf(out, "   %-10s %s\n", c->name, c->desc);
	fprintf(out, "\nSee 'kbisect <command> --help' for the options of one command.\n"
		     "Exit codes: 0 success, 1 error (reason on stderr), 129 usage error.\n");
}

static const char *const version_usage[] = { "kbisect version [--paths]",
					     "kbisect --version [--paths]", NULL };

/* `kbisect version` / `kbisect --version`: the version, --paths the files it uses. */
static int cmd_version(int argc, char **argv)
{
	static const struct kb_cmd_doc doc = {
		version_usage, "Print the version of kbisect.", NULL };
	int paths = 0, n;
	const struct kb_option options[] = {
		KB_OPT_BOOL(0, "paths", &paths, "also the guest agent it boots VMs with (and "
			    "whether it is there)"),
		KB_OPT_TABLE_END,
	};

	if ((n = kb_options_parse(argc, argv, options, &doc, 0)) < 0)
		return kb_options_exit(n);
	if (n > 0)
		return kb_cli_usage_error(version_usage, "unexpected argument '%.128s'", argv[0]);
	printf("kbisect %s\n", kb_version());
	if (paths) {
		const char *agent = kb_vmpool_agent_path();
		printf("agent: %s%s\n", agent,
		       access(agent, R_OK) == 0 ? "" : " (missing: set $KBISECT_AGENT)");
	}
	return KB_EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *name;
	char qemu[4096];

	if (argc < 2) {
		print_help(stderr);
		return KB_EXIT_USAGE;
	}
	name = argv[1];
	if (!strcmp(name, "--version") || !strcmp(name, "version"))
		return cmd_version(argc - 1, argv + 1);
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		if (argc > 2 && strcmp(name, "help") == 0) {
			char *hargv[] = { argv[2], "--help", NULL };
			for (const struct kb_cmd *c = kb_cmds; c->name; c++)
				if (!strcmp(c->name, argv[2]))
					return c->fn(2, hargv);
			return kb_cli_usage_error(NULL, "unknown command '%.128s'; see 'kbisect help'",
						  argv[2]);
		}
		print_help(stdout);
		return KB_EXIT_OK;
	}
	for (const struct kb_cmd *c = kb_cmds; c->name; c++) {
		if (strcmp(c->name, name))
			continue;
		if ((c->flags & KB_NEED_QEMU) && !kb_cli_wants_help(argc - 1, argv + 1) &&
		    kb_path_find(qemu, sizeof(qemu), "qemu-system-x86_64") != KB_OK)
			return kb_cli_error("'kbisect %s' needs qemu-system-x86_64 on PATH; "
					    "install it with 'apt-get install qemu-system-x86'",
					    c->name);
		return c->fn(argc - 1, argv + 1);
	}
	return kb_cli_usage_error(NULL, "unknown command '%.128s'; see 'kbisect help'", name);
}
