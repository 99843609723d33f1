/*
 * tests/fault/test_storm.c - an operator's bad day, through the real CLI: >= 200
 * `kbisect cache put` (two at a time) killed with SIGKILL at random moments, `cache gc`
 * and `cache compact` killed as well, and a reader process getting finished objects
 * all along. At the end every put that exited 0 has its object stored byte for byte,
 * `cache verify` is clean, no reader ever got wrong bytes, and no leftover of the
 * killed processes remains after a gc (compact.tmp, writer files, orphan chunks).
 * KB_STORM_PUTS=N runs a longer storm by hand.
 * kb-test-labels: fault
 * kb-test-timeout: 600
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "kbisect/cache.h"
#include "cache/cache_internal.h"
#include "kb_test.h"

#define NFILES 24
#define PUTS 200

static char *dir, *files[NFILES];
static unsigned int rnd_state;
/* children to kill if the test fails half-way (cmocka jumps out of it) */
static pid_t kids[4];

static int kill_kids(void **state)
{
	(void)state;
	for (int i = 0; i < 4; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
		}
		kids[i] = 0;
	}
	return 0;
}

static unsigned int rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* Input files like a bisection's: kernels close to each other (delta kind), logs,
 * blobs of 0-12 MiB, some sharing chunks. */
static void make_files(const char *tmp)
{
	uint8_t *kernel = malloc(4u << 20);

	kb_test_fill_random(kernel, 4u << 20, 4242);
	for (int i = 0; i < NFILES; i++) {
		size_t len;
		uint8_t *buf;
		if (asprintf(&files[i], "%s/in%02d", tmp, i) < 0)
			fail();
		if (i % 4 == 0) {
			/* a "vmlinux": the kernel with a few changed bytes */
			len = 4u << 20;
			buf = malloc(len);
			memcpy(buf, kernel, len);
			for (int k = 0; k < 100; k++)
				buf[(size_t)(i * 7919 + k * 104729) % len] ^= (uint8_t)(i | 1);
		} else {
			len = (size_t)(i * 2654435761u) % (6u << 20);
			buf = malloc(len + 1);
			kb_test_fill_random(buf, len, 100u + (unsigned)i);
			if (i % 3 == 0 && len > (3u << 20))
				memcpy(buf + (1u << 20), kernel, 2u << 20); /* shared chunks */
		}
		assert_int_equal(kb_test_write_file(files[i], buf, len), 0);
		free(buf);
	}
	free(kernel);
}

/* Start `kbisect cache <args...>` with stdout to out (may be NULL). */
static pid_t spawn(const char *out, const char *a1, const char *a2, const char *a3,
		   const char *a4)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nul = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(nul, 2);
		execl(kb_test_kbisect(), "kbisect", "cache", a1, "--cache", dir, a2, a3, a4,
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The reader: gets finished objects (listed in done) over and over until killed;
 * writes a line to bad for every get that exits 0 with wrong bytes. */
static void reader(const char *done, const char *bad, const char *tmp)
{
	char out[4200];
	unsigned int r = 77;

	snprintf(out, sizeof(out), "%s/reader.out", tmp);
	for (;;) {
		size_t len = 0;
		char *list = kb_test_read_file(done, &len);
		int n = 0;
		if (!list || !len) {
			free(list);
			usleep(50000);
			continue;
		}
		for (char *p = list; *p; p++)
			n += *p == '\n';
		if (n) {
			int pick = (int)((r = r * 1103515245u + 12345u) >> 8) % n;
			char *line = list, id[65], path[4200];
			int st;
			pid_t pid;
			for (int i = 0; i < pick; i++)
				line = strchr(line, '\n') + 1;
			if (sscanf(line, "%64s %4199s", id, path) == 2) {
				unlink(out);
				pid = fork();
				if (pid == 0) {
					int nul = open("/dev/null", O_WRONLY);
					dup2(nul, 1);
					dup2(nul, 2);
					execl(kb_test_kbisect(), "kbisect", "cache", "get", "--cache", dir,
					      id, "-o", out, (char *)NULL);
					_exit(127);
				}
				waitpid(pid, &st, 0);
				if (WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
				    kb_test_sh("cmp -s '%s' '%s'", path, out) != 0) {
					int fd = open(bad, O_WRONLY | O_APPEND | O_CREAT, 0644);
					dprintf(fd, "%s\n", id);
					close(fd);
				}
			}
		}
		free(list);
	}
}

static void test_fault_storm__killed_puts_gc_and_compact_lose_nothing(void **state)
{
	char *tmp = kb_test_tmpdir("storm");
	char done[4200], bad[4200], out[2][4200];
	const char *env = getenv("KB_STORM_PUTS");
	int puts = env && atoi(env) > 0 ? atoi(env) : PUTS;
	int finished = 0, killed = 0, maint_killed = 0, started = 0;
	long total_ms = 0; /* time the finished puts took */
	pid_t rd, slot[2] = { 0, 0 }, maint = 0;
	int slot_file[2] = { 0, 0 };
	struct timespec slot_t0[2], maint_t0 = { 0, 0 };
	int slot_kill_ms[2] = { 0, 0 }, maint_kill_ms = 0;
	kb_cache *c;
	uint64_t nbad = 99;
	struct stat st;
	size_t len = 0;
	char *list;

	(void)state;
	assert_non_null(kb_test_kbisect());
	rnd_state = (unsigned int)time(NULL);
	print_message("seed %u\n", rnd_state);
	if (asprintf(&dir, "%s/cache", tmp) < 0)
		fail();
	make_files(tmp);
	snprintf(done, sizeof(done), "%s/done", tmp);
	snprintf(bad, sizeof(bad), "%s/bad", tmp);
	assert_int_equal(kb_test_write_file(done, "", 0), 0);
	assert_int_equal(kb_test_sh("'%s' cache put --cache '%s' '%s' >/dev/null",
				    kb_test_kbisect(), dir, files[1]), 0);
	rd = fork();
	assert_true(rd >= 0);
	if (rd == 0) {
		reader(done, bad, tmp);
		_exit(0);
	}
	kids[0] = rd;
	for (int s = 0; s < 2; s++)
		snprintf(out[s], sizeof(out[s]), "%s/put%d.out", tmp, s);
	while (started < puts || slot[0] || slot[1]) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (int s = 0; s < 2; s++) {
			int wst;
			long ms;
			if (!slot[s] && started < puts) {
				static const char *const kinds[] = { "vmlinux", "blob", "buildlog" };
				slot_file[s] = (int)(rnd() % NFILES);
				/* a quarter run to the end; the others are killed at a random
				 * moment of a typical put (the finished ones' mean time) */
				slot_kill_ms[s] = (rnd() % 4 == 0) ? -1
					: (int)(rnd() % (unsigned int)(finished ? 1 + total_ms / finished
										   : 400));
				slot[s] = spawn(out[s], "put", "--kind",
						kinds[slot_file[s] % 4 == 0 ? 0 : 1 + slot_file[s] % 2],
						files[slot_file[s]]);
				kids[1 + s] = slot[s];
				slot_t0[s] = now;
				started++;
				continue;
			}
			if (!slot[s])
				continue;
			ms = (now.tv_sec - slot_t0[s].tv_sec) * 1000 +
			     (now.tv_nsec - slot_t0[s].tv_nsec) / 1000000;
			if (slot_kill_ms[s] >= 0 && ms >= slot_kill_ms[s])
				kill(slot[s], SIGKILL);
			if (waitpid(slot[s], &wst, WNOHANG) != slot[s])
				continue;
			kids[1 + s] = 0;
			if (WIFEXITED(wst)) {
				char *id = kb_test_read_file(out[s], &len);
				total_ms += ms;
				int fd;
				/* a put that was not killed must succeed */
				assert_int_equal(WEXITSTATUS(wst), 0);
				assert_non_null(id);
				assert_true(len >= 64);
				fd = open(done, O_WRONLY | O_APPEND);
				dprintf(fd, "%.64s %s\n", id, files[slot_file[s]]);
				close(fd);
				free(id);
				finished++;
			} else {
				assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
				killed++;
			}
			slot[s] = 0;
		}
		/* gc and compact now and then, killed at random too */
		if (!maint && rnd() % 40 == 0) {
			maint = spawn(NULL, rnd() % 2 ? "gc" : "compact", NULL, NULL, NULL);
			kids[3] = maint;
			maint_t0 = now;
			maint_kill_ms = (int)(rnd() % 300);
		} else if (maint) {
			int wst;
			long ms = (now.tv_sec - maint_t0.tv_sec) * 1000 +
				  (now.tv_nsec - maint_t0.tv_nsec) / 1000000;
			if (ms >= maint_kill_ms)
				kill(maint, SIGKILL);
			if (waitpid(maint, &wst, WNOHANG) == maint) {
				maint_killed += WIFSIGNALED(wst);
				maint = 0;
				kids[3] = 0;
			}
		}
		usleep(5000);
	}
	kill_kids(NULL);
	print_message("%d puts: %d finished, %d killed; %d gc/compact killed\n", started,
		      finished, killed, maint_killed);
	assert_true(finished >= puts / 5);
	assert_true(killed >= puts / 5);
	assert_int_equal(stat(bad, &st) != 0 && errno == ENOENT, 1); /* no wrong bytes read */

	/* every finished put is there, byte for byte */
	list = kb_test_read_file(done, &len);
	assert_non_null(list);
	for (char *p = list; *p;) {
		char id[65], path[4200];
		assert_int_equal(sscanf(p, "%64s %4199s", id, path), 2);
		if (kb_test_sh("'%s' cache get --cache '%s' %s -o '%s/back' && "
			       "cmp -s '%s/back' '%s'", kb_test_kbisect(), dir, id, tmp, tmp,
			       path) != 0) {
			kb_test_sh("'%s' cache show --cache '%s' %s; sha256sum '%s'",
				   kb_test_kbisect(), dir, id, path);
			fail_msg("finished put of '%s' (%s) is not stored whole", path, id);
		}
		p = strchr(p, '\n') + 1;
	}
	free(list);
	/* verify clean, and a gc clears what the killed processes left */
	assert_int_equal(kb_test_sh("'%s' cache verify --cache '%s' >/dev/null", kb_test_kbisect(),
				    dir), 0);
	assert_int_equal(kb_test_sh("'%s' cache gc --cache '%s' >/dev/null", kb_test_kbisect(), dir),
			 0);
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(kb_test_sh("test ! -e '%s/compact.tmp'", dir), 0);
	assert_int_equal(kb_test_sh("test -z \"$(ls '%s/writers' 2>/dev/null)\"", dir), 0);
	assert_int_equal(kb_cache_open(&c, dir, 0), 0);
	{
		kb_cache_stats s;
		assert_int_equal(kb_cache_stats_get(&s, c), 0);
		assert_int_equal(kb_cache_verify(c, &nbad, NULL, NULL), 0);
		assert_int_equal(nbad, 0);
		print_message("after gc: %llu objects, %llu chunks\n",
			      (unsigned long long)(s.objects[0] + s.objects[1] + s.objects[4]),
			      (unsigned long long)s.chunks);
	}
	{
		/* no chunk without a reference is left, none counted as in flight */
		MDB_txn *t;
		MDB_cursor *cur;
		MDB_val k, v;
		size_t orphans = 0, pending = 0;
		assert_int_equal(kb_cache__rtxn(c, &t), 0);
		assert_int_equal(mdb_cursor_open(t, c->cref, &cur), 0);
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct kb_chunk_ref r;
			memcpy(&r, v.mv_data, sizeof(r));
			if (r.refs == 0) {
				MDB_val cv;
				print_message("orphan chunk: created %llds ago, %s\n",
					      (long long)(time(NULL) - r.created),
					      mdb_get(t, c->chunk, &k, &cv) == 0 ? "stored" : "missing");
			}
			orphans += r.refs == 0;
		}
		mdb_cursor_close(cur);
		assert_int_equal(mdb_cursor_open(t, c->pend, &cur), 0);
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
			pending++;
		mdb_cursor_close(cur);
		assert_int_equal(kb_cache__stat_get(c, t, KB_ST_PEND_BYTES), 0);
		kb_cache__txn_end(c, t);
		assert_int_equal(orphans, 0);
		assert_int_equal(pending, 0);
	}
	kb_cache_free(c);
	for (int i = 0; i < NFILES; i++)
		free(files[i]);
	free(dir);
	kb_test_tmpdir_free(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fault_storm__killed_puts_gc_and_compact_lose_nothing,
					  kill_kids),
	};
	return cmocka_run_group_tests_name("fault/storm", tests, NULL, NULL);
}
