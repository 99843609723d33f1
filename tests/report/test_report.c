/*
 * tests/report/test_report.c - console -> crash report parsing (report/report.c): the real
 * and syzbot-style corpus in tests/data/oops, run classification, title normalisation,
 * garbage input and the streaming scanner.
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <cmocka.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/report.h"
#include "kb_test.h"

/* ---- corpus ------------------------------------------------------------------------ */

struct expect {
	char title[KB_REPORT_TITLE_MAX];
	int klass;
	int end;
	int corrupted; /* -1: not checked */
};

static int end_parse(const char *s)
{
	static const char *const names[] = { "exited", "timeout", "stopped", "no_boot",
					     "qemu_died", "no_output", "lost_conn", NULL };
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* "<key>: <value>" lines: title, class, end, corrupted, source */
static void read_expect(const char *path, struct expect *e)
{
	size_t len;
	char *txt = kb_test_read_file(path, &len);
	char *save = NULL;

	assert_non_null(txt);
	memset(e, 0, sizeof(*e));
	e->klass = -1;
	e->corrupted = -1;
	for (char *l = strtok_r(txt, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(l, ':');
		if (!v)
			continue;
		*v++ = '\0';
		while (*v == ' ')
			v++;
		if (!strcmp(l, "title"))
			snprintf(e->title, sizeof(e->title), "%s", v);
		else if (!strcmp(l, "class"))
			e->klass = kb_run_class_parse(v);
		else if (!strcmp(l, "end"))
			e->end = end_parse(v);
		else if (!strcmp(l, "corrupted"))
			e->corrupted = atoi(v);
	}
	free(txt);
	if (e->klass < 0 || e->end < 0)
		fail_msg("'%s': bad class or end line", path);
}

static void test_report_corpus__every_text_gives_its_title_and_class(void **state)
{
	char dir[4096];
	DIR *d;
	struct dirent *ent;
	int files = 0, bad = 0;
	(void)state;

	snprintf(dir, sizeof(dir), "%s/tests/data/oops", kb_test_source_dir());
	d = opendir(dir);
	assert_non_null(d);
	while ((ent = readdir(d))) {
		char tpath[4200], xpath[4200];
		size_t n = strlen(ent->d_name), len;
		struct expect e;
		kb_report r;
		kb_report_ctx ctx = { 0 };
		char *txt;

		if (n < 7 || strcmp(ent->d_name + n - 6, ".title"))
			continue;
		snprintf(tpath, sizeof(tpath), "%s/%s", dir, ent->d_name);
		snprintf(xpath, sizeof(xpath), "%s/%.*s.txt", dir, (int)(n - 6), ent->d_name);
		read_expect(tpath, &e);
		txt = kb_test_read_file(xpath, &len);
		assert_non_null(txt);
		ctx.end = e.end;
		assert_int_equal(kb_report_parse(&r, txt, len, &ctx), 0);
		if (strcmp(r.title, e.title) || r.klass != e.klass ||
		    (e.corrupted >= 0 && r.corrupted != e.corrupted)) {
			fprintf(stderr, "%s: got '%s' (%s, corrupted %d), want '%s' (%s)\n",
				ent->d_name, r.title, kb_run_class_name(r.klass), r.corrupted,
				e.title, kb_run_class_name(e.klass));
			bad++;
		}
		if (r.klass == KB_RUN_CRASH) {
			assert_non_null(r.report);
			assert_true(r.start < r.end && r.end <= len);
		}
		kb_report_free(&r);
		assert_null(r.report);
		free(txt);
		files++;
	}
	closedir(d);
	assert_true(files >= 20);
	assert_int_equal(bad, 0);
}

static char *corpus(const char *name, size_t *len)
{
	char p[4096];
	char *t;
	snprintf(p, sizeof(p), "%s/tests/data/oops/%s", kb_test_source_dir(), name);
	t = kb_test_read_file(p, len);
	assert_non_null(t);
	return t;
}

static void test_report_parse__report_offsets_point_at_the_oops_line(void **state)
{
	size_t len;
	char *txt = corpus("real-null-deref.txt", &len);
	kb_report r;
	(void)state;

	assert_int_equal(kb_report_parse(&r, txt, len, NULL), 0);
	assert_int_equal(r.klass, KB_RUN_CRASH);
	assert_non_null(strstr(txt + r.start, "BUG: kernel NULL pointer dereference"));
	assert_true(strstr(txt + r.start, "BUG: kernel NULL") - (txt + r.start) < 32);
	assert_non_null(strstr(r.report, "Call Trace:"));
	/* the report text is stripped of time stamps and "\r" */
	assert_null(strstr(r.report, "\r"));
	assert_int_equal(strncmp(r.report, "BUG: kernel NULL pointer dereference", 36), 0);
	kb_report_free(&r);
	free(txt);
}

static void test_report_parse__truncated_report_is_marked_corrupted(void **state)
{
	size_t len;
	char *txt = corpus("real-null-deref.txt", &len);
	char *cut = strstr(txt, "#PF: supervisor"); /* right after the header line */
	kb_report r;
	(void)state;

	assert_non_null(cut);
	assert_int_equal(kb_report_parse(&r, txt, (size_t)(cut - txt), NULL), 0);
	assert_int_equal(r.klass, KB_RUN_CRASH);
	assert_string_equal(r.title,
			    "BUG: unable to handle kernel NULL pointer dereference in corrupted");
	assert_int_equal(r.corrupted, 1);
	kb_report_free(&r);
	free(txt);
}

static void test_report_parse__nul_bytes_and_escapes_inside_a_report_are_ignored(void **state)
{
	size_t len;
	char *txt = corpus("real-warn.txt", &len);
	char *buf = malloc(len * 2 + 16);
	size_t o = 0;
	kb_report r;
	(void)state;

	/* a NUL and an ANSI colour after every 'k' */
	for (size_t i = 0; i < len; i++) {
		buf[o++] = txt[i];
		if (txt[i] == 'k') {
			buf[o++] = '\0';
			memcpy(buf + o, "\x1b[0m", 4);
			o += 4;
		}
	}
	assert_int_equal(kb_report_parse(&r, buf, o, NULL), 0);
	assert_string_equal(r.title, "WARNING in kbcrash_warn");
	kb_report_free(&r);
	free(buf);
	free(txt);
}

static void test_report_parse__interleaved_cpus_do_not_steal_frames(void **state)
{
	const char *con =
		"[   10.000001][ T100] WARNING: CPU: 0 PID: 100 at fs/foo.c:12 foo_bar+0x1/0x2\n"
		"[   10.000002][ T200] RIP: 0010:other_cpu_func+0x10/0x20\n"
		"[   10.000003][ T100] Modules linked in:\n"
		"[   10.000004][ T200] Call Trace:\n"
		"[   10.000005][ T200]  stolen_frame+0x1/0x2\n"
		"[   10.000006][ T100] RIP: 0010:foo_bar+0x1/0x2\r\n"
		"[   10.000007][ T100] Call Trace:\n"
		"[   10.000008][ T100]  <TASK>\n"
		"[   10.000009][ T200]  ? another_stolen+0x1/0x2\n"
		"[   10.000010][ T100]  foo_caller+0x1/0x2\n";
	kb_report r;
	(void)state;

	assert_int_equal(kb_report_parse(&r, con, strlen(con), NULL), 0);
	assert_string_equal(r.title, "WARNING in foo_bar");
	assert_null(strstr(r.report, "stolen"));
	kb_report_free(&r);
}

static void test_report_parse__skipped_frames_fall_through_to_the_caller(void **state)
{
	const char *con =
		"[    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
		"[    1.0] RIP: 0010:memcpy_orig+0x10/0x120\n"
		"[    1.0] Call Trace:\n"
		"[    1.0]  <TASK>\n"
		"[    1.0]  ? __die+0x1/0x2\n"
		"[    1.0]  _raw_spin_lock+0x1/0x2\n"
		"[    1.0]  my_driver_ioctl.isra.0+0x1/0x2\n"
		"[    1.0]  __x64_sys_ioctl+0x1/0x2\n";
	kb_report r;
	(void)state;

	assert_int_equal(kb_report_parse(&r, con, strlen(con), NULL), 0);
	assert_string_equal(r.title,
			    "BUG: unable to handle kernel NULL pointer dereference in my_driver_ioctl");
	kb_report_free(&r);
}

/* ---- classification ------------------------------------------------------------------ */

static void test_report_parse__crash_wins_over_infra_and_boot_failure(void **state)
{
	size_t len;
	char *txt = corpus("real-gpf.txt", &len);
	kb_report r;
	kb_report_ctx ctx = { 0 };
	const int ends[] = { KB_REPORT_END_LOST_CONN, KB_REPORT_END_QEMU_DIED,
			     KB_REPORT_END_NO_OUTPUT, KB_REPORT_END_NO_BOOT };
	(void)state;

	ctx.prog_output = "SYZFAIL: something\n";
	ctx.prog_output_len = strlen(ctx.prog_output);
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		ctx.end = ends[i];
		assert_int_equal(kb_report_parse(&r, txt, len, &ctx), 0);
		assert_int_equal(r.klass, KB_RUN_CRASH);
		assert_string_equal(r.title, "general protection fault in kbcrash_gpf");
		kb_report_free(&r);
	}
	free(txt);
}

static void test_report_parse__run_end_decides_when_there_is_no_crash(void **state)
{
	const char *con = "[    1.000000] Linux version 6.1.0\r\n[    2.0] Run /init as init process\n";
	kb_report r;
	kb_report_ctx ctx = { 0 };
	(void)state;

	ctx.end = KB_REPORT_END_EXITED;
	ctx.exit_status = 3;
	assert_int_equal(kb_report_parse(&r, con, strlen(con), &ctx), 0);
	assert_int_equal(r.klass, KB_RUN_OK);
	assert_string_equal(r.title, "");
	assert_null(r.report);

	ctx.end = KB_REPORT_END_TIMEOUT;
	assert_int_equal(kb_report_parse(&r, con, strlen(con), &ctx), 0);
	assert_int_equal(r.klass, KB_RUN_OK);

	ctx.end = KB_REPORT_END_LOST_CONN;
	assert_int_equal(kb_report_parse(&r, con, strlen(con), &ctx), 0);
	assert_int_equal(r.klass, KB_RUN_INFRA);
	assert_string_equal(r.title, "lost connection to test machine");

	ctx.end = KB_REPORT_END_NO_OUTPUT;
	assert_int_equal(kb_report_parse(&r, NULL, 0, &ctx), 0);
	assert_int_equal(r.klass, KB_RUN_INFRA);
	assert_string_equal(r.title, "no output from test machine");

	ctx.end = KB_REPORT_END_QEMU_DIED;
	assert_int_equal(kb_report_parse(&r, con, strlen(con), &ctx), 0);
	assert_int_equal(r.klass, KB_RUN_INFRA);
	assert_true(kb_report_title_is_infra(r.title));

	ctx.end = KB_REPORT_END_NO_BOOT;
	assert_int_equal(kb_report_parse(&r, con, strlen(con), &ctx), 0);
	assert_int_equal(r.klass, KB_RUN_BOOT_FAILURE);
	assert_non_null(r.report); /* the console tail, to see where it stopped */
	assert_non_null(strstr(r.report, "Run /init"));
	kb_report_free(&r);

	/* SYZFAIL in the program output beats a boot failure and a lost connection */
	ctx.end = KB_REPORT_END_LOST_CONN;
	ctx.prog_output = "2021/02/23 23:03:48 result: hanged=false\nSYZFAIL: wrong response "
			  "packet\n (errno 16: Device or resource busy)\n";
	ctx.prog_output_len = strlen(ctx.prog_output);
	assert_int_equal(kb_report_parse(&r, con, strlen(con), &ctx), 0);
	assert_int_equal(r.klass, KB_RUN_INFRA);
	assert_string_equal(r.title, "SYZFAIL: wrong response packet");
	kb_report_free(&r);
}

static void test_report_parse__bad_arguments_return_einval(void **state)
{
	kb_report r;
	(void)state;
	assert_int_equal(kb_report_parse(NULL, "x", 1, NULL), KB_EINVAL);
	assert_int_equal(kb_report_parse(&r, NULL, 5, NULL), KB_EINVAL);
	assert_non_null(strstr(kb_error_last()->message, "NULL console"));
	assert_int_equal(kb_report_parse(&r, NULL, 0, NULL), 0);
	assert_int_equal(r.klass, KB_RUN_OK);
	kb_report_free(NULL);
}

/* ---- garbage ---------------------------------------------------------------------- */

static void expect_ok(const char *buf, size_t len)
{
	kb_report r;
	assert_int_equal(kb_report_parse(&r, buf, len, NULL), 0);
	assert_int_equal(r.klass, KB_RUN_OK);
	assert_string_equal(r.title, "");
	kb_report_free(&r);
}

static void test_report_garbage__random_bytes_give_ok(void **state)
{
	size_t len = 1 << 20;
	char *buf = malloc(len);
	(void)state;

	for (unsigned seed = 1; seed <= 4; seed++) {
		kb_test_fill_random(buf, len, seed);
		expect_ok(buf, len);
		expect_ok(buf, seed * 7); /* tiny pieces too */
	}
	expect_ok("", 0);
	memset(buf, 0, len); /* all NUL */
	expect_ok(buf, len);
	memset(buf, 'A', len); /* one 1 MB line without a newline */
	expect_ok(buf, len);
	memset(buf, '\n', len); /* a million empty lines */
	expect_ok(buf, len);
	free(buf);
}

static void test_report_garbage__ten_mb_of_console_noise_gives_ok(void **state)
{
	size_t len = 10u << 20, o = 0;
	char *buf = malloc(len);
	unsigned x = 12345;
	(void)state;

	while (o + 200 < len) {
		x = x * 1103515245u + 12345u;
		o += (size_t)sprintf(buf + o, "[%5u.%06u][ T%u] random noise %08x BU G WARN ING: "
				     "%x\r\n", x % 10000, x % 1000000, x % 500, x, x >> 3);
	}
	expect_ok(buf, o);
	free(buf);
}

/* ---- titles ---------------------------------------------------------------------- */

static void check_norm(const char *in, const char *want)
{
	char out[KB_REPORT_TITLE_MAX];
	assert_int_equal(kb_report_normalize_title(out, sizeof(out), in), 0);
	if (strcmp(out, want))
		fail_msg("normalize('%s') = '%s', want '%s'", in, out, want);
}

static void test_report_title__normalisation_matches_syzkaller(void **state)
{
	(void)state;
	check_norm("general protection fault in vmx_vcpu_run",
		   "general protection fault in vmx_vcpu_run");
	check_norm("SYZFAIL: wrong response packet", "SYZFAIL: wrong response packet");
	check_norm("  WARNING\tin   foo  ", "WARNING in foo");
	check_norm("BUG: Dentry ffff88801e5c8e40{i=0,n=/}  still in use (1) [unmount of tmpfs tmpfs]",
		   "BUG: Dentry ADDR{i=NUM,n=/} still in use (NUM) [unmount of tmpfs tmpfs]");
	check_norm("kernel BUG at fs/ext4/inode.c:2724!", "kernel BUG at fs/ext4/inode.c:LINE!");
	check_norm("WARNING in ip6_fragment+0x1052/0x2d80", "WARNING in ip6_fragment");
	check_norm("KASAN: slab-out-of-bounds Read in foo.isra.0", "KASAN: slab-out-of-bounds Read in foo");
	check_norm("INFO: task hung in bar.constprop.12", "INFO: task hung in bar");
	check_norm("BUG: soft lockup - CPU#3 stuck for 22s!", "BUG: soft lockup - CPU stuck for 22s!");
	check_norm("possible deadlock in syz-executor.3/1234", "possible deadlock in syz-executor");
	check_norm("lost route to 10.128.0.2 via eth0", "lost route to IP via eth0");
	check_norm("SYZFAIL: a,1,2,3 failed", "SYZFAIL: a,NUM,NUM,NUM failed");
	check_norm("WARNING in cfg80211_connect", "WARNING in cfg80211_connect");
	check_norm("kernel panic: kbcrash: requested panic at 0xffffffffc04d0fe7",
		   "kernel panic: kbcrash: requested panic at ADDR");
	check_norm("BUG: bad \x01\x7f\xc3\xa9" "bytes", "BUG: bad bytes");
}

static void test_report_title__long_titles_are_cut_at_120(void **state)
{
	char in[600], out[KB_REPORT_TITLE_MAX];
	(void)state;
	memset(in, 'x', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(kb_report_normalize_title(out, sizeof(out), in), 0);
	assert_int_equal(strlen(out), 120);
	assert_int_equal(kb_report_normalize_title(out, 5, "WARNING in foo"), 0);
	assert_string_equal(out, "WARN");
	assert_int_equal(kb_report_normalize_title(NULL, 5, "x"), KB_EINVAL);
	assert_int_equal(kb_report_normalize_title(out, 0, "x"), KB_EINVAL);
	assert_int_equal(kb_report_normalize_title(out, 5, NULL), KB_EINVAL);
}

static void test_report_title__infra_titles_are_recognised(void **state)
{
	(void)state;
	assert_true(kb_report_title_is_infra("SYZFAIL: wrong response packet"));
	assert_true(kb_report_title_is_infra("SYZFATAL: executor NUM failed"));
	assert_true(kb_report_title_is_infra("lost connection to test machine"));
	assert_true(kb_report_title_is_infra("no output from test machine"));
	assert_false(kb_report_title_is_infra("general protection fault in vmx_vcpu_run"));
	assert_false(kb_report_title_is_infra("WARNING in SYZFAIL"));
	assert_false(kb_report_title_is_infra(""));
	assert_false(kb_report_title_is_infra(NULL));
}

/* ---- scanner ------------------------------------------------------------------------ */

static int scan_all(const char *buf, size_t len, size_t chunk)
{
	kb_report_scanner *s;
	int st = KB_SCAN_QUIET, prev = KB_SCAN_QUIET;
	assert_int_equal(kb_report_scanner_new(&s), 0);
	for (size_t i = 0; i < len; i += chunk) {
		size_t n = len - i < chunk ? len - i : chunk;
		st = kb_report_scan_chunk(s, buf + i, n);
		assert_true(st >= prev); /* never goes back */
		prev = st;
	}
	kb_report_scanner_free(s);
	return st;
}

static void test_report_scan__crash_is_seen_in_any_chunking(void **state)
{
	size_t len, clen;
	char *warn = corpus("real-warn.txt", &len);
	char *clean = corpus("real-clean-boot.txt", &clen);
	(void)state;

	for (size_t chunk = 1; chunk < 9; chunk++)
		assert_int_equal(scan_all(warn, len, chunk), KB_SCAN_DONE);
	assert_int_equal(scan_all(warn, len, 4096), KB_SCAN_DONE);
	assert_int_equal(scan_all(clean, clen, 3), KB_SCAN_QUIET);
	assert_int_equal(scan_all(clean, clen, 65536), KB_SCAN_QUIET);
	free(warn);
	free(clean);
}

static void test_report_scan__header_alone_is_started_then_done(void **state)
{
	kb_report_scanner *s;
	const char *hdr = "[  1.0] BUG: kernel NULL pointer dereference, address: 0\n";
	(void)state;

	assert_int_equal(kb_report_scanner_new(&s), 0);
	assert_int_equal(kb_report_scan_chunk(s, hdr, strlen(hdr)), KB_SCAN_STARTED);
	assert_int_equal(kb_report_scan_chunk(s, "[  1.1] RIP: 0010:f+0x1/0x2\n", 28),
			 KB_SCAN_STARTED);
	assert_int_equal(kb_report_scan_chunk(s, "[  1.2] ---[ end trace 0 ]---\n", 30),
			 KB_SCAN_DONE);
	assert_int_equal(kb_report_scan_chunk(s, "more\n", 5), KB_SCAN_DONE);
	kb_report_scanner_free(s);

	/* a KASAN report ends with its closing "=====" line, not with "end trace" */
	{
		size_t len;
		char *k = corpus("syz-kasan-uaf-read.txt", &len);
		char *last = k + len - 2;
		while (last > k && last[-1] != '\n')
			last--;
		assert_int_equal(scan_all(k, (size_t)(last - k), 5), KB_SCAN_STARTED);
		assert_int_equal(scan_all(k, len, 5), KB_SCAN_DONE);
		free(k);
	}

	assert_int_equal(kb_report_scanner_new(&s), 0);
	assert_int_equal(kb_report_scan_chunk(s, "SYZFAIL: wrong response packet\n", 31),
			 KB_SCAN_DONE);
	kb_report_scanner_free(s);
	kb_report_scanner_free(NULL);
}

static void test_report_scan__bad_arguments_return_einval(void **state)
{
	kb_report_scanner *s;
	(void)state;
	assert_int_equal(kb_report_scanner_new(NULL), KB_EINVAL);
	assert_int_equal(kb_report_scan_chunk(NULL, "x", 1), KB_EINVAL);
	assert_int_equal(kb_report_scanner_new(&s), 0);
	assert_int_equal(kb_report_scan_chunk(s, NULL, 1), KB_EINVAL);
	assert_int_equal(kb_report_scan_chunk(s, NULL, 0), KB_SCAN_QUIET);
	kb_report_scanner_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_corpus__every_text_gives_its_title_and_class),
		cmocka_unit_test(test_report_parse__report_offsets_point_at_the_oops_line),
		cmocka_unit_test(test_report_parse__truncated_report_is_marked_corrupted),
		cmocka_unit_test(test_report_parse__nul_bytes_and_escapes_inside_a_report_are_ignored),
		cmocka_unit_test(test_report_parse__interleaved_cpus_do_not_steal_frames),
		cmocka_unit_test(test_report_parse__skipped_frames_fall_through_to_the_caller),
		cmocka_unit_test(test_report_parse__crash_wins_over_infra_and_boot_failure),
		cmocka_unit_test(test_report_parse__run_end_decides_when_there_is_no_crash),
		cmocka_unit_test(test_report_parse__bad_arguments_return_einval),
		cmocka_unit_test(test_report_garbage__random_bytes_give_ok),
		cmocka_unit_test(test_report_garbage__ten_mb_of_console_noise_gives_ok),
		cmocka_unit_test(test_report_title__normalisation_matches_syzkaller),
		cmocka_unit_test(test_report_title__long_titles_are_cut_at_120),
		cmocka_unit_test(test_report_title__infra_titles_are_recognised),
		cmocka_unit_test(test_report_scan__crash_is_seen_in_any_chunking),
		cmocka_unit_test(test_report_scan__header_alone_is_started_then_done),
		cmocka_unit_test(test_report_scan__bad_arguments_return_einval),
	};
	return cmocka_run_group_tests_name("report/report", tests, NULL, NULL);
}
