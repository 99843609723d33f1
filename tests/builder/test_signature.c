/*
 * tests/builder/test_signature.c - kernel signatures (builder/signature.c) of small ELF
 * programs built here with gcc, checked against an independent computation
 * (tests/helpers/elf_signature.py, struct + hashlib), and malformed inputs.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/signature.h"
#include "kb_test.h"

static const char prog_fmt[] =
	"#include <stdio.h>\n"
	"int table[64] = { %d };\n"
	"int main(void)\n"
	"{\n"
	"%s"
	"\tprintf(\"%%d\\n\", table[0]);\n"
	"\treturn 0;\n"
	"}\n";

/* Build a program into dir/name with gcc -g; value changes the code, comment only
 * moves lines (debug info). Returns the malloc'd path of the binary. */
static char *build_prog(const char *dir, const char *name, int value, int comment)
{
	char src[1024], *path = NULL, *cpath = NULL;

	snprintf(src, sizeof(src), prog_fmt, value,
		 comment ? "\t/* a comment\n\t * that moves line numbers */\n" : "");
	assert_true(asprintf(&cpath, "%s/%s.c", dir, name) > 0);
	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	assert_int_equal(kb_test_write_file(cpath, src, strlen(src)), 0);
	assert_int_equal(kb_test_sh("gcc -g -O1 -o '%s' '%s'", path, cpath), 0);
	free(cpath);
	return path;
}

/* The signature computed by the independent Python implementation (flags: "" or
 * "--legacy"). */
static void python_signature_algo(char out[KB_KEY_HEXLEN + 1], const char *dir,
				  const char *bin, const char *flags)
{
	char outpath[4096];
	char *text;
	size_t len = 0;

	snprintf(outpath, sizeof(outpath), "%s/py.out", dir);
	assert_int_equal(kb_test_sh("python3 '%s/tests/helpers/elf_signature.py' %s '%s' > '%s'",
				    kb_test_source_dir(), flags, bin, outpath),
			 0);
	text = kb_test_read_file(outpath, &len);
	assert_non_null(text);
	assert_true(len > KB_KEY_HEXLEN);
	memcpy(out, text, KB_KEY_HEXLEN);
	out[KB_KEY_HEXLEN] = '\0';
	free(text);
}

static void python_signature(char out[KB_KEY_HEXLEN + 1], const char *dir, const char *bin)
{
	python_signature_algo(out, dir, bin, "");
}

/* Both algorithms against the independent implementation; and they differ. */
static void test_cache_signature__legacy_and_today_match_python_and_differ(void **state)
{
	char *dir = kb_test_tmpdir("sig"), *bin, hex[KB_KEY_HEXLEN + 1], py[KB_KEY_HEXLEN + 1];
	char hex_legacy[KB_KEY_HEXLEN + 1];
	kb_key sig, legacy, dflt;
	size_t len = 0, n = 0;
	void *data;
	(void)state;

	bin = build_prog(dir, "a", 5, 0);
	assert_int_equal(kb_signature_file_algo(&legacy, bin, KB_SIG_LEGACY), KB_OK);
	kb_key_to_hex(hex_legacy, &legacy);
	python_signature_algo(py, dir, bin, "--legacy");
	assert_string_equal(hex_legacy, py);
	assert_int_equal(kb_signature_file_algo(&sig, bin, KB_SIG_SYZKALLER), KB_OK);
	kb_key_to_hex(hex, &sig);
	python_signature_algo(py, dir, bin, "");
	assert_string_equal(hex, py);
	assert_string_not_equal(hex, hex_legacy);
	/* the default is today's algorithm, for files and buffers alike */
	assert_int_equal(kb_signature_file(&dflt, bin), KB_OK);
	assert_true(kb_key_equal(&dflt, &sig));
	data = kb_test_read_file(bin, &len);
	assert_non_null(data);
	assert_int_equal(kb_signature_buf_algo(&dflt, &n, data, len, bin, KB_SIG_LEGACY), KB_OK);
	assert_true(kb_key_equal(&dflt, &legacy));
	free(data);
	free(bin);
	kb_test_tmpdir_free(dir);
}

static void test_cache_signature__gcc_binary_matches_independent_python(void **state)
{
	char *dir = kb_test_tmpdir("sig"), *bin, hex[KB_KEY_HEXLEN + 1], py[KB_KEY_HEXLEN + 1];
	kb_key sig;
	(void)state;

	bin = build_prog(dir, "a", 1, 0);
	assert_int_equal(kb_signature_file(&sig, bin), KB_OK);
	kb_key_to_hex(hex, &sig);
	python_signature(py, dir, bin);
	assert_string_equal(hex, py);
	free(bin);
	kb_test_tmpdir_free(dir);
}

static void test_cache_signature__buf_equals_file(void **state)
{
	char *dir = kb_test_tmpdir("sig"), *bin;
	kb_key a, b;
	size_t len = 0, n = 0;
	void *data;
	(void)state;

	bin = build_prog(dir, "a", 7, 0);
	data = kb_test_read_file(bin, &len);
	assert_non_null(data);
	assert_int_equal(kb_signature_file(&a, bin), KB_OK);
	assert_int_equal(kb_signature_buf(&b, &n, data, len, bin), KB_OK);
	assert_true(kb_key_equal(&a, &b));
	assert_true(n >= 3); /* at least .text, .rodata, .data */
	free(data);
	free(bin);
	kb_test_tmpdir_free(dir);
}

static void test_cache_signature__comment_change_same_code_change_differs(void **state)
{
	char *dir = kb_test_tmpdir("sig"), *a, *b, *c;
	kb_key sa, sb, sc;
	(void)state;

	a = build_prog(dir, "a", 1, 0);
	b = build_prog(dir, "b", 1, 1); /* only debug info (line numbers) differs */
	c = build_prog(dir, "c", 2, 0); /* .data differs */
	assert_int_equal(kb_test_sh("! cmp -s '%s' '%s'", a, b), 0); /* files differ... */
	assert_int_equal(kb_signature_file(&sa, a), KB_OK);
	assert_int_equal(kb_signature_file(&sb, b), KB_OK);
	assert_int_equal(kb_signature_file(&sc, c), KB_OK);
	assert_true(kb_key_equal(&sa, &sb)); /* ...signatures do not */
	assert_false(kb_key_equal(&sa, &sc));
	free(a);
	free(b);
	free(c);
	kb_test_tmpdir_free(dir);
}

static void assert_einval_naming(int rc, const char *path, const char *what)
{
	assert_int_equal(rc, KB_EINVAL);
	assert_int_equal(kb_error_last()->klass, KB_ERRCLASS_ELF);
	assert_non_null(strstr(kb_error_last()->message, path));
	if (what)
		assert_non_null(strstr(kb_error_last()->message, what));
}

static void test_cache_signature__non_elf_returns_einval_naming_file(void **state)
{
	char *dir = kb_test_tmpdir("sig"), path[4096];
	kb_key sig;
	(void)state;

	snprintf(path, sizeof(path), "%s/not-elf", dir);
	assert_int_equal(kb_test_write_file(path, "hello, world\n", 13), 0);
	assert_einval_naming(kb_signature_file(&sig, path), path, "not an ELF file");
	assert_einval_naming(kb_signature_buf(&sig, NULL, "hello", 5, "mem"), "mem", NULL);

	snprintf(path, sizeof(path), "%s/empty", dir);
	assert_int_equal(kb_test_write_file(path, "", 0), 0);
	assert_einval_naming(kb_signature_file(&sig, path), path, "empty");
	assert_einval_naming(kb_signature_buf(&sig, NULL, "", 0, "zero"), "zero", NULL);

	assert_einval_naming(kb_signature_file(&sig, dir), dir, "not a regular file");
	kb_test_tmpdir_free(dir);
}

static void test_cache_signature__missing_file_returns_enotfound(void **state)
{
	kb_key sig;
	(void)state;
	assert_int_equal(kb_signature_file(&sig, "/nonexistent/vmlinux"), KB_ENOTFOUND);
	assert_non_null(strstr(kb_error_last()->message, "/nonexistent/vmlinux"));
}

static void test_cache_signature__truncated_elf_returns_einval(void **state)
{
	char *dir = kb_test_tmpdir("sig"), *bin, path[4096];
	size_t len = 0;
	unsigned char *data;
	kb_key sig;
	(void)state;

	bin = build_prog(dir, "a", 1, 0);
	data = kb_test_read_file(bin, &len);
	assert_non_null(data);
	/* Cut in the middle (section headers gone), and just before the last byte. */
	size_t cuts[] = { len / 2, len - 1, 40, 4 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		snprintf(path, sizeof(path), "%s/trunc%zu", dir, i);
		assert_int_equal(kb_test_write_file(path, data, cuts[i]), 0);
		assert_einval_naming(kb_signature_file(&sig, path), path, NULL);
		assert_int_equal(kb_signature_buf(&sig, NULL, data, cuts[i], "t"), KB_EINVAL);
	}
	free(data);
	free(bin);
	kb_test_tmpdir_free(dir);
}

/* Point the first hashed section's sh_offset past the end of the file. */
static void test_cache_signature__section_past_end_returns_einval(void **state)
{
	char *dir = kb_test_tmpdir("sig"), *bin, path[4096];
	size_t len = 0;
	unsigned char *data;
	Elf64_Ehdr eh;
	kb_key sig;
	int patched = 0;
	(void)state;

	bin = build_prog(dir, "a", 1, 0);
	data = kb_test_read_file(bin, &len);
	assert_non_null(data);
	memcpy(&eh, data, sizeof(eh));
	assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
	for (unsigned i = 0; i < eh.e_shnum && !patched; i++) {
		Elf64_Shdr sh;
		size_t at = eh.e_shoff + (size_t)i * eh.e_shentsize;
		memcpy(&sh, data + at, sizeof(sh));
		if ((sh.sh_flags & SHF_ALLOC) && sh.sh_type == SHT_PROGBITS && sh.sh_size) {
			sh.sh_offset = (Elf64_Off)len - sh.sh_size / 2;
			memcpy(data + at, &sh, sizeof(sh));
			patched = 1;
		}
	}
	assert_true(patched);
	snprintf(path, sizeof(path), "%s/badoff", dir);
	assert_int_equal(kb_test_write_file(path, data, len), 0);
	assert_einval_naming(kb_signature_file(&sig, path), path, "past the end");

	/* Overflowing offset + size must not wrap around. */
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		size_t at = eh.e_shoff + (size_t)i * eh.e_shentsize;
		memcpy(&sh, data + at, sizeof(sh));
		if ((sh.sh_flags & SHF_ALLOC) && sh.sh_type == SHT_PROGBITS && sh.sh_size) {
			sh.sh_offset = 16;
			sh.sh_size = UINT64_MAX - 8;
			memcpy(data + at, &sh, sizeof(sh));
			break;
		}
	}
	assert_int_equal(kb_signature_buf(&sig, NULL, data, len, "wrap"), KB_EINVAL);

	/* No section headers at all. */
	eh.e_shoff = 0;
	eh.e_shnum = 0;
	eh.e_shstrndx = 0;
	memcpy(data, &eh, sizeof(eh));
	assert_einval_naming(kb_signature_buf(&sig, NULL, data, len, "noshdr"), "noshdr",
			     "no section headers");
	free(data);
	free(bin);
	kb_test_tmpdir_free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_signature__gcc_binary_matches_independent_python),
		cmocka_unit_test(test_cache_signature__buf_equals_file),
		cmocka_unit_test(test_cache_signature__legacy_and_today_match_python_and_differ),
		cmocka_unit_test(test_cache_signature__comment_change_same_code_change_differs),
		cmocka_unit_test(test_cache_signature__non_elf_returns_einval_naming_file),
		cmocka_unit_test(test_cache_signature__missing_file_returns_enotfound),
		cmocka_unit_test(test_cache_signature__truncated_elf_returns_einval),
		cmocka_unit_test(test_cache_signature__section_past_end_returns_einval),
	};
	return cmocka_run_group_tests_name("builder/signature", tests, NULL, NULL);
}
