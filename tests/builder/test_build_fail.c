/*
 * tests/builder/test_build_fail.c - whose fault a failed build is
 * (kb_build__host_failure, builder/build_fail.c), on log excerpts in the shapes that
 * kbuild, make, dash, bash, gcc, ld, ccache and kbisect-ccwrap print them.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "build_internal.h"

static int host(int status, const char *log, char *why, size_t len)
{
	return kb_build__host_failure(status, log, strlen(log), why, len);
}

static void test_build_fail__tree_errors_are_the_trees(void **state)
{
	char why[256];
	(void)state;
	/* a syntax error in a file of the tree */
	assert_int_equal(host(2,
		"  CC      kernel/fork.o\n"
		"kernel/fork.c:123:9: error: expected ';' before 'return'\n"
		"  123 |         return 0\n"
		"make[3]: *** [scripts/Makefile.build:250: kernel/fork.o] Error 1\n"
		"make[2]: *** [scripts/Makefile.build:500: kernel] Error 2\n"
		"make: *** [Makefile:2010: .] Error 2\n", why, sizeof(why)), 0);
	/* a header of the tree missing: not a missing tool */
	assert_int_equal(host(2,
		"drivers/net/foo.c:3:10: fatal error: linux/nosuch.h: No such file or directory\n"
		"compilation terminated.\n"
		"make[4]: *** [scripts/Makefile.build:250: drivers/net/foo.o] Error 1\n",
		why, sizeof(why)), 0);
	/* the linker */
	assert_int_equal(host(2,
		"  LD      vmlinux.o\n"
		"ld: kernel/sched/core.o: in function `schedule':\n"
		"core.c:(.text+0x1a): undefined reference to `nosuch_fn'\n"
		"make[2]: *** [scripts/Makefile.vmlinux_o:61: vmlinux.o] Error 1\n",
		why, sizeof(why)), 0);
	/* a script the tree should have: the tree's, even with exit 127 */
	assert_int_equal(host(127, "/bin/sh: 1: scripts/nonexistent.sh: not found\n", why,
			      sizeof(why)), 0);
	assert_int_equal(host(2,
		"/bin/sh: 1: ./scripts/gen.sh: not found\n"
		"make[1]: *** [Makefile:12: include/generated/x.h] Error 127\n", why, sizeof(why)), 0);
	/* a probe that found no tool, harmlessly, then an error of the tree */
	assert_int_equal(host(2,
		"/bin/sh: 1: pahole: not found\n"
		"  CC      kernel/fork.o\n"
		"kernel/fork.c:12:1: error: unknown type name 'nope'\n"
		"make[3]: *** [scripts/Makefile.build:250: kernel/fork.o] Error 1\n", why,
			      sizeof(why)), 0);
	/* no message at all, a plain failure */
	assert_int_equal(host(1, "", why, sizeof(why)), 0);
	assert_int_equal(host(-1, "built\n", why, sizeof(why)), 0);
}

static void test_build_fail__missing_tools_are_the_hosts(void **state)
{
	char why[256];
	(void)state;
	assert_int_equal(host(2,
		"  LEX     scripts/kconfig/lexer.lex.c\n"
		"/bin/sh: 1: flex: not found\n"
		"make[2]: *** [scripts/Makefile.host:9: scripts/kconfig/lexer.lex.c] Error 127\n",
		why, sizeof(why)), 1);
	assert_non_null(strstr(why, "a tool is missing"));
	assert_non_null(strstr(why, "flex: not found"));
	assert_int_equal(host(2, "bash: line 1: bison: command not found\n", why, sizeof(why)), 1);
	assert_int_equal(host(2,
		"make: bc: No such file or directory\n"
		"make: *** [Makefile:2: all] Error 127\n", why, sizeof(why)), 1);
	assert_non_null(strstr(why, "bc: No such file"));
	assert_int_equal(host(2, "make[1]: *** [Kbuild:24: include/generated/timeconst.h] Error 127\n",
			      why, sizeof(why)), 1);
	assert_int_equal(host(127, "", why, sizeof(why)), 1);
	/* a missing tool that make ran (Error 127) wins over a tree error next to it */
	assert_int_equal(host(2,
		"kernel/fork.c:12:1: error: unknown type name 'nope'\n"
		"/bin/sh: 1: flex: not found\n"
		"make[2]: *** [scripts/Makefile.host:9: scripts/kconfig/lexer.lex.c] Error 127\n",
		why, sizeof(why)), 1);
	assert_non_null(strstr(why, "flex: not found"));
}

static void test_build_fail__resources_and_wrappers_are_the_hosts(void **state)
{
	char why[256];
	(void)state;
	assert_int_equal(host(2,
		"  CC      fs/ext4/super.o\n"
		"gcc: fatal error: Killed signal terminated program cc1\n"
		"compilation terminated.\n", why, sizeof(why)), 1);
	assert_int_equal(host(2, "cc1: out of memory allocating 65536 bytes after a total of 0 bytes\n",
			      why, sizeof(why)), 1);
	assert_int_equal(host(2, "make[2]: *** [scripts/Makefile.build:250: mm/slub.o] Killed\n",
			      why, sizeof(why)), 1);
	assert_int_equal(host(2,
		"fs/ext4/super.c:1:1: error: expected identifier\n"
		"/usr/bin/ld: final link failed: No space left on device\n", why, sizeof(why)), 1);
	assert_non_null(strstr(why, "disk full"));
	assert_int_equal(host(2, "ccache: error: Failed to create directory /c/tmp: Permission denied\n",
			      why, sizeof(why)), 1);
	assert_non_null(strstr(why, "ccache"));
	assert_int_equal(host(2, "kbisect-ccwrap: cannot run 'ccache': No such file or directory\n",
			      why, sizeof(why)), 1);
	/* killed by a signal, whatever the log says */
	assert_int_equal(host(137, "kernel/fork.c:1:1: error: x\n", why, sizeof(why)), 1);
	assert_non_null(strstr(why, "signal 9"));
	assert_int_equal(host(128 + 15, "", why, sizeof(why)), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_fail__tree_errors_are_the_trees),
		cmocka_unit_test(test_build_fail__missing_tools_are_the_hosts),
		cmocka_unit_test(test_build_fail__resources_and_wrappers_are_the_hosts),
	};
	return cmocka_run_group_tests_name("builder/build_fail", tests, NULL, NULL);
}
