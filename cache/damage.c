/*
 * cache/damage.c - a damaged data.mdb must give an error, not a crash.
 * Owns: the SIGSEGV/SIGBUS guard around store transactions, LMDB's assertion callback,
 * the "the store is damaged" message and exit, the child mode of verify and recover.
 * Not: checking objects (verify.c), copying what is readable (recover.c).
 * DESIGN: LMDB keeps no page checksums and trusts the pages it maps: a flipped bit in
 * a branch or leaf page can make it read out of its map (SIGSEGV, or SIGBUS past the
 * end of the file) or fail an internal assertion (abort). Neither can be recovered
 * from inside the process. So every thread records the cache whose transaction it is
 * in (kb_cache__guard_enter/leave, called by the txn helpers of cache.c); a fault
 * while one is open prints one line naming the cache and what to run ('kbisect cache
 * recover'), and exits 1. A fault on another thread while a txn is open (a reader's
 * second thread decodes chunks of its txn) counts only at an address in or past the
 * map. Any other fault goes to the handler that was there before (the default: a
 * core dump; ASan's report under ASan). verify and
 * recover run their reads in child processes (kb_cache__guard_child) and resume after
 * the entry that faulted.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_internal.h"

static _Thread_local kb_cache *cur_cache;
static _Thread_local int cur_depth;
/* txns open in the whole process, and the last cache entered: the second thread of
 * a reader decodes chunks of a txn the first one opened */
static _Atomic int open_txns;
static kb_cache *_Atomic last_cache;
static struct sigaction old_segv, old_bus;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static int child_fd = -1; /* verify/recover children: report faults here, exit 3 */

/* Append s to buf (async-signal-safe). */
static size_t put(char *buf, size_t at, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (at + n >= cap)
		n = cap - at - 1;
	memcpy(buf + at, s, n);
	return at + n;
}

/* Print the damage message and exit: 1, or KB_GUARD_EXIT in a verify/recover child. */
static void damaged_exit(const char *dir, const char *how)
{
	char msg[4600];
	size_t n = 0;

	if (child_fd >= 0) {
		n = put(msg, n, sizeof(msg), "FAULT\t");
		n = put(msg, n, sizeof(msg), how);
		n = put(msg, n, sizeof(msg), "\n");
		if (write(child_fd, msg, n) < 0) {
			/* nothing to do: the exit code says it */
		}
		_exit(KB_GUARD_EXIT);
	}
	n = put(msg, n, sizeof(msg), "kbisect: cache '");
	n = put(msg, n, sizeof(msg), dir ? dir : "?");
	n = put(msg, n, sizeof(msg), "' is damaged (");
	n = put(msg, n, sizeof(msg), how);
	n = put(msg, n, sizeof(msg), "); run 'kbisect cache recover --cache ");
	n = put(msg, n, sizeof(msg), dir ? dir : "DIR");
	n = put(msg, n, sizeof(msg), "' to keep what is readable\n");
	if (write(2, msg, n) < 0) {
		/* stderr gone: the exit code says it */
	}
	_exit(1);
}

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	const struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;
	(void)ctx;
	kb_cache *c = cur_depth > 0 && cur_cache ? cur_cache : NULL;
	if (!c && open_txns > 0 && last_cache) {
		/* another thread's txn (a reader's second thread decodes chunks of the
		 * first one's txn): blame the store only for an address in or past its
		 * map, not for any fault of a multi-threaded program */
		uintptr_t a = (uintptr_t)si->si_addr, m = (uintptr_t)last_cache->map_addr;
		if (m && a >= m && a - m < ((uintptr_t)1 << 42) + ((uintptr_t)1 << 30))
			c = last_cache;
	}
	if (c)
		damaged_exit(c->dir, sig == SIGBUS ? "a read of data.mdb faulted: SIGBUS"
						   : "a read of data.mdb faulted: SIGSEGV");
	/* not ours: the previous handler (default: core dump) gets the re-run fault */
	sigaction(sig, old, NULL);
}

static void on_assert(MDB_env *env, const char *msg)
{
	char how[512];
	size_t n = put(how, 0, sizeof(how), "LMDB found an inconsistency: ");
	(void)env;
	n = put(how, n, sizeof(how), msg);
	how[n] = '\0';
	damaged_exit(cur_cache ? cur_cache->dir : NULL, how);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
}

void kb_cache__guard_install(kb_cache *c)
{
	if (!getenv("KBISECT_CACHE_NO_GUARD")) /* debugging: let it crash */
		pthread_once(&guard_once, install);
	if (c->env)
		mdb_env_set_assert(c->env, on_assert);
}

void kb_cache__guard_enter(kb_cache *c)
{
	MDB_envinfo info;

	/* the map moves when it grows: note where it is now */
	if (c->env && mdb_env_info(c->env, &info) == 0)
		c->map_addr = info.me_mapaddr;
	if (cur_depth++ == 0)
		cur_cache = c;
	last_cache = c;
	open_txns++;
}

void kb_cache__guard_leave(void)
{
	if (cur_depth > 0 && --cur_depth == 0)
		cur_cache = NULL;
	open_txns--;
}

void kb_cache__guard_child(int fd)
{
	child_fd = fd;
}
