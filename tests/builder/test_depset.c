/*
 * tests/builder/test_depset.c - dependency input sets (builder/depset.c): Kbuild .cmd
 * parsing, the rules deciding whether a changed path can change a build, the stored
 * form and its corruption.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/error.h"
#include "build_internal.h"
#include "kb_test.h"

/* What fixdep writes for init/main.o (shortened). */
static const char cmd_text[] =
	"savedcmd_init/main.o := gcc -Wp,-MMD,init/.main.o.d -nostdinc -I./arch/x86/include "
	"-include ./include/linux/kconfig.h -c -o init/main.o init/main.c\n"
	"\n"
	"source_init/main.o := init/main.c\n"
	"\n"
	"deps_init/main.o := \\\n"
	"  include/linux/compiler-version.h \\\n"
	"    $(wildcard include/config/CC_VERSION_TEXT) \\\n"
	"  include/linux/kconfig.h \\\n"
	"    $(wildcard include/config/CPU_BIG_ENDIAN) \\\n"
	"  ./include/linux/init.h \\\n"
	"  arch/x86/include/asm/../../../../include/asm-generic/bug.h \\\n"
	"  /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h \\\n"
	"\n"
	"init/main.o: $(deps_init/main.o)\n"
	"\n"
	"$(deps_init/main.o):\n";

static kb_depset *parsed(void)
{
	kb_depset *d;
	assert_int_equal(kb_depset__new(&d), KB_OK);
	assert_int_equal(kb_depset__parse_cmd(d, cmd_text, strlen(cmd_text), NULL), KB_OK);
	return d;
}

static void test_bisect_depset__cmd_deps_are_inputs(void **state)
{
	kb_depset *d = parsed();
	(void)state;
	assert_true(kb_depset__affects(d, "init/main.c", 0));
	assert_true(kb_depset__affects(d, "include/linux/compiler-version.h", 0));
	assert_true(kb_depset__affects(d, "include/linux/init.h", 0));    /* "./" dropped */
	assert_true(kb_depset__affects(d, "include/asm-generic/bug.h", 0)); /* ".." resolved */
	/* a directory (or a symlink) above an input */
	assert_true(kb_depset__affects(d, "include/linux", 0));
	/* not inputs: make functions, compiler headers, other files */
	assert_false(kb_depset__affects(d, "include/config/CC_VERSION_TEXT", 0));
	assert_false(kb_depset__affects(d, "Documentation/process/howto.rst", 0));
	assert_false(kb_depset__affects(d, "arch/arm64/kernel/setup.c", 0));
	assert_false(kb_depset__affects(d, "include/linu", 0));
	assert_int_equal(kb_depset__count(d), 5);
	kb_depset__free(d);
}

static void test_bisect_depset__build_files_always_affect(void **state)
{
	kb_depset *d = parsed();
	(void)state;
	assert_true(kb_depset__affects(d, "Makefile", 0));
	assert_true(kb_depset__affects(d, "drivers/net/Makefile", 0));
	assert_true(kb_depset__affects(d, "arch/arm64/Kconfig", 0));
	assert_true(kb_depset__affects(d, "arch/x86/Kconfig.debug", 0));
	assert_true(kb_depset__affects(d, "fs/Kbuild", 0));
	assert_true(kb_depset__affects(d, "scripts/link-vmlinux.sh", 0));
	assert_true(kb_depset__affects(d, "localversion-next", 0));
	/* tools/ only when the build used tools */
	assert_false(kb_depset__affects(d, "tools/objtool/check.c", 0));
	assert_int_equal(kb_depset__add(d, "tools/objtool/elf.c"), KB_OK);
	assert_true(kb_depset__affects(d, "tools/objtool/check.c", 0));
	assert_true(kb_depset__affects(d, "tools/lib/subcmd/exec-cmd.c", 0));
	assert_false(kb_depset__affects(d, "tools/perf/builtin-top.c", 0));
	kb_depset__free(d);
}

static void test_bisect_depset__added_file_named_like_an_input_affects(void **state)
{
	kb_depset *d = parsed();
	(void)state;
	/* a new init.h could shadow include/linux/init.h on an include path */
	assert_true(kb_depset__affects(d, "arch/x86/include/asm/init.h", 1));
	assert_false(kb_depset__affects(d, "arch/x86/include/asm/init.h", 0));
	assert_false(kb_depset__affects(d, "drivers/new/brand-new.h", 1));
	/* a new file next to inputs (__has_include("errata/abi-5.h"), wildcards) */
	assert_true(kb_depset__affects(d, "include/linux/brand-new.h", 1));
	assert_true(kb_depset__affects(d, "include/brand-new.h", 1));
	assert_false(kb_depset__affects(d, "include/linux/brand-new.h", 0));
	assert_false(kb_depset__affects(d, "arch/arm64/brand-new.h", 1));
	kb_depset__free(d);
}

static void test_bisect_depset__cmd_line_files_are_inputs(void **state)
{
	char *dir = kb_test_tmpdir("depset"), path[4096];
	const char *cmd = "savedcmd_arch/x86/include/generated/uapi/asm/unistd_64.h := sh "
			  "./scripts/syscallhdr.sh --emit-nr --abis common,64 "
			  "'arch/x86/entry/syscalls/syscall_64.tbl' out.h\n";
	kb_depset *d;
	(void)state;

	snprintf(path, sizeof(path), "%s/arch/x86/entry/syscalls", dir);
	assert_int_equal(kb_test_sh("mkdir -p '%s' && touch '%s/syscall_64.tbl'", path, path), 0);
	assert_int_equal(kb_depset__new(&d), KB_OK);
	assert_int_equal(kb_depset__parse_cmd(d, cmd, strlen(cmd), dir), KB_OK);
	assert_true(kb_depset__affects(d, "arch/x86/entry/syscalls/syscall_64.tbl", 0));
	assert_false(kb_depset__affects(d, "out.h", 0)); /* does not exist: not a file */
	kb_depset__free(d);
	kb_test_tmpdir_free(dir);
}

/* Write one more .cmd file (rel, text) into the tree dir and scan the tree. */
static kb_depset *scan_with(const char *dir, const char *rel, const char *text)
{
	char path[8192];
	kb_depset *d;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(kb_test_write_file(path, text, strlen(text)), 0);
	assert_int_equal(kb_depset__new(&d), KB_OK);
	assert_int_equal(kb_depset__scan(d, dir, &n), KB_OK);
	return d;
}

static void test_bisect_depset__scan_finds_cmd_files_and_absolute_paths(void **state)
{
	char *dir = kb_test_tmpdir("depset"), text[8192], path[8192];
	kb_depset *d;
	size_t n = 0;
	(void)state;

	assert_int_equal(kb_test_sh("mkdir -p '%s/lib' '%s/.git' '%s/include'", dir, dir, dir), 0);
	snprintf(text, sizeof(text), "source_lib/a.o := %s/lib/a.c\ndeps_lib/a.o := \\\n"
		 "  %s/include/a.h \\\n\n", dir, dir);
	snprintf(path, sizeof(path), "%s/lib/.a.o.cmd", dir);
	assert_int_equal(kb_test_write_file(path, text, strlen(text)), 0);
	/* .cmd files under .git are not the build's */
	snprintf(path, sizeof(path), "%s/.git/.x.o.cmd", dir);
	assert_int_equal(kb_test_write_file(path, "source_x.o := x.c\n", 18), 0);
	assert_int_equal(kb_test_sh("ln -s ../include '%s/lib/inc' && touch '%s/include/a.h'", dir,
				    dir),
			 0);
	snprintf(path, sizeof(path), "%s/lib/.b.o.cmd", dir);
	assert_int_equal(kb_test_write_file(path, "source_lib/b.o := lib/inc/a.h\n", 30), 0);

	assert_int_equal(kb_depset__new(&d), KB_OK);
	assert_int_equal(kb_depset__scan(d, dir, &n), KB_OK);
	assert_int_equal(n, 2);
	assert_true(kb_depset__affects(d, "lib/a.c", 0));
	assert_true(kb_depset__affects(d, "include/a.h", 0));
	assert_true(kb_depset__affects(d, "lib/inc", 0)); /* the symlink itself */
	assert_false(kb_depset__affects(d, "x.c", 0));
	kb_depset__free(d);

	/* a symlinked file: its target is an input too */
	assert_int_equal(kb_test_sh("ln -s ../include/b.h '%s/lib/alias.h' && touch '%s/include/b.h'",
				    dir, dir),
			 0);
	d = scan_with(dir, "lib/.c.o.cmd", "source_lib/c.o := lib/alias.h\n");
	assert_true(kb_depset__affects(d, "include/b.h", 0));
	assert_false(kb_depset__affects(d, "x.c", 0));
	kb_depset__free(d);

	/* an input reached through a symlink out of the tree: every change counts */
	assert_int_equal(kb_test_sh("mkdir -p '%s/../depset-out' && touch '%s/../depset-out/o.h' && "
				    "ln -s ../../depset-out '%s/lib/out'", dir, dir, dir),
			 0);
	d = scan_with(dir, "lib/.d.o.cmd", "source_lib/d.o := lib/out/o.h\n");
	assert_true(kb_depset__affects(d, "x.c", 0));
	kb_depset__free(d);
	assert_int_equal(kb_test_sh("rm -rf '%s/../depset-out'", dir), 0);
	kb_test_tmpdir_free(dir);
}

/* kb_depset__uses(): how many .cmd files (objects) read a path, a file naming it twice
 * counting once; every path once after a round trip through the stored form. */
static void test_bisect_depset__uses_count_objects_reading_a_path(void **state)
{
	char *dir = kb_test_tmpdir("depset-uses"), path[8192], *text = NULL;
	kb_depset *d, *back;
	size_t n = 0, len = 0;
	(void)state;

	assert_int_equal(kb_test_sh("mkdir -p '%s/lib' '%s/include' && touch '%s/lib/x.c' "
				    "'%s/lib/y.c' '%s/lib/z.c' '%s/include/common.h'",
				    dir, dir, dir, dir, dir, dir),
			 0);
	static const char *cmds[][2] = {
		{ "lib/.x.o.cmd", "savedcmd_lib/x.o := gcc -c -o lib/x.o lib/x.c\n"
				  "source_lib/x.o := lib/x.c\n"
				  "deps_lib/x.o := \\\n  include/common.h \\\n  lib/x.c \\\n\n" },
		{ "lib/.y.o.cmd", "source_lib/y.o := lib/y.c\n"
				  "deps_lib/y.o := \\\n  include/common.h \\\n\n" },
		{ "lib/.z.o.cmd", "source_lib/z.o := lib/z.c\n" },
	};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cmds[i][0]);
		assert_int_equal(kb_test_write_file(path, cmds[i][1], strlen(cmds[i][1])), 0);
	}
	assert_int_equal(kb_depset__new(&d), KB_OK);
	assert_int_equal(kb_depset__scan(d, dir, &n), KB_OK);
	assert_int_equal(n, 3);
	assert_int_equal(kb_depset__uses(d, "include/common.h"), 2);
	assert_int_equal(kb_depset__uses(d, "./include/common.h"), 2);
	assert_int_equal(kb_depset__uses(d, "lib/x.c"), 1); /* named three times, one file */
	assert_int_equal(kb_depset__uses(d, "lib/z.c"), 1);
	assert_int_equal(kb_depset__uses(d, "lib/w.c"), 0);
	assert_int_equal(kb_depset__uses(d, "lib"), 0);
	assert_int_equal(kb_depset__serialize(&text, &len, d), KB_OK);
	assert_int_equal(kb_depset__parse(&back, text, len), KB_OK);
	assert_int_equal(kb_depset__uses(back, "include/common.h"), 1);
	assert_int_equal(kb_depset__uses(back, "lib/w.c"), 0);
	free(text);
	kb_depset__free(back);
	kb_depset__free(d);
	kb_test_tmpdir_free(dir);
}

static void test_bisect_depset__serialize_roundtrip_and_corruption(void **state)
{
	kb_depset *d = parsed(), *back;
	char *text;
	size_t len;
	(void)state;

	assert_int_equal(kb_depset__serialize(&text, &len, d), KB_OK);
	assert_true(len > 20);
	assert_int_equal(memcmp(text, "kbisect-depset 1\n", 17), 0);
	assert_int_equal(kb_depset__parse(&back, text, len), KB_OK);
	assert_int_equal(kb_depset__count(back), kb_depset__count(d));
	assert_true(kb_depset__affects(back, "include/linux/init.h", 0));
	assert_false(kb_depset__affects(back, "Documentation/x.rst", 0));
	kb_depset__free(back);
	free(text);

	assert_int_equal(kb_depset__parse(&back, "garbage\n", 8), KB_ECORRUPT);
	assert_int_equal(kb_depset__parse(&back, "", 0), KB_ECORRUPT);
	assert_int_equal(kb_depset__parse(&back, "kbisect-depset 99\na\n", 20), KB_EVERSION);
	kb_depset__free(d);
}

static void test_bisect_depset__paths_leaving_the_tree_are_ignored(void **state)
{
	kb_depset *d;
	(void)state;
	assert_int_equal(kb_depset__new(&d), KB_OK);
	assert_int_equal(kb_depset__add(d, "../outside.h"), KB_OK);
	assert_int_equal(kb_depset__add(d, "a/../../outside.h"), KB_OK);
	assert_int_equal(kb_depset__add(d, "/usr/include/stdio.h"), KB_OK);
	assert_int_equal(kb_depset__add(d, "./a//b/./c.h"), KB_OK);
	assert_int_equal(kb_depset__count(d), 1);
	assert_true(kb_depset__affects(d, "a/b/c.h", 0));
	kb_depset__free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bisect_depset__cmd_deps_are_inputs),
		cmocka_unit_test(test_bisect_depset__build_files_always_affect),
		cmocka_unit_test(test_bisect_depset__added_file_named_like_an_input_affects),
		cmocka_unit_test(test_bisect_depset__cmd_line_files_are_inputs),
		cmocka_unit_test(test_bisect_depset__scan_finds_cmd_files_and_absolute_paths),
		cmocka_unit_test(test_bisect_depset__uses_count_objects_reading_a_path),
		cmocka_unit_test(test_bisect_depset__serialize_roundtrip_and_corruption),
		cmocka_unit_test(test_bisect_depset__paths_leaving_the_tree_are_ignored),
	};
	return cmocka_run_group_tests_name("builder/depset", tests, NULL, NULL);
}
