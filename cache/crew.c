/*
 * cache/crew.c - the second thread of an object writer or reader, and allocations of
 * tens of MB.
 * Owns: struct crew (kb_cache__crew_run/stop), kb_cache__big_alloc().
 * Not: what the jobs do (object_write.c hashes and compresses, object_read.c decodes).
 * DESIGN: a writer or reader works on batches of chunks; each batch is shared by the
 * calling thread and one long-lived thread, taking jobs in order. The caller never
 * waits for a thread that has not started on the jobs yet (it withdraws them).
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "object_internal.h"

static void par_loop(struct par *par, int slot)
{
	size_t i;
	while ((i = par->next++) < par->n)
		par->fn(par->arg, i, slot);
}

static void *crew_main(void *arg)
{
	struct crew *cr = arg;

	pthread_mutex_lock(&cr->mu);
	for (;;) {
		unsigned int gen;
		struct par *p;
		while (!cr->stop && cr->gen == cr->done)
			pthread_cond_wait(&cr->cv, &cr->mu);
		if (cr->stop)
			break;
		gen = cr->gen;
		p = cr->par;
		cr->busy = 1;
		pthread_mutex_unlock(&cr->mu);
		par_loop(p, 1);
		pthread_mutex_lock(&cr->mu);
		cr->busy = 0;
		cr->done = gen;
		pthread_cond_broadcast(&cr->cv);
	}
	pthread_mutex_unlock(&cr->mu);
	return NULL;
}

/* Run fn(arg, i, slot) for every i < n on the calling thread (slot 0) and the crew's
 * thread (slot 1), taking jobs in order; slot names the thread, for per-thread state.
 * The caller never waits for a thread that has not started on the jobs yet. */
void kb_cache__crew_run(struct crew *cr, size_t n, void (*fn)(void *arg, size_t i, int slot),
			void *arg)
{
	struct par par = { fn, arg, n, 0 };

	if (n >= 2 && cr->state == 0) {
		pthread_mutex_init(&cr->mu, NULL);
		pthread_cond_init(&cr->cv, NULL);
		cr->state = pthread_create(&cr->th, NULL, crew_main, cr) == 0 ? 1 : -1;
		if (cr->state < 0) {
			pthread_mutex_destroy(&cr->mu);
			pthread_cond_destroy(&cr->cv);
		}
	}
	if (n < 2 || cr->state < 0) {
		par_loop(&par, 0);
		return;
	}
	pthread_mutex_lock(&cr->mu);
	cr->par = &par;
	cr->gen++;
	pthread_cond_signal(&cr->cv);
	pthread_mutex_unlock(&cr->mu);
	par_loop(&par, 0);
	pthread_mutex_lock(&cr->mu);
	if (!cr->busy && cr->done != cr->gen)
		cr->done = cr->gen; /* the thread did not take them: withdraw */
	while (cr->done != cr->gen)
		pthread_cond_wait(&cr->cv, &cr->mu);
	pthread_mutex_unlock(&cr->mu);
}

void kb_cache__crew_stop(struct crew *cr)
{
	if (cr->state != 1)
		return;
	pthread_mutex_lock(&cr->mu);
	cr->stop = 1;
	pthread_cond_broadcast(&cr->cv);
	pthread_mutex_unlock(&cr->mu);
	pthread_join(cr->th, NULL);
	pthread_mutex_destroy(&cr->mu);
	pthread_cond_destroy(&cr->cv);
	cr->state = 0;
	cr->stop = 0;
}

/* malloc for tens of MB (delta bases, whole objects): aligned to 2 MiB and backed by
 * transparent huge pages where the kernel allows, which makes the page faults of
 * filling it and the unmapping of freeing it several times cheaper. free() frees it. */
void *kb_cache__big_alloc(size_t len)
{
	const size_t huge = (size_t)2 << 20;
	void *p;

	if (len < 4 * huge)
		return malloc(len);
	if (posix_memalign(&p, huge, len) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, len & ~(huge - 1), MADV_HUGEPAGE);
#endif
	return p;
}
