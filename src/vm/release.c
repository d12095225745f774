/*
 * release.c - the background releaser (PTBM_BACKGROUND): a thread per
 * process and pool that retires the victims a worker picked, so that the
 * page-table work of eviction (write-back of dirty victims, MADV_REMOVE or
 * MADV_DONTNEED of their frames, the TLB shootdown) runs beside the miss
 * instead of on its path.
 *
 * When: a worker that has just reserved a frame (vm/load.c) and sees fewer
 * than evict_batch frames of the budget left picks a batch of victims with
 * the clock (latched exclusive, vm/evict.c) and hands it to its process's
 * releaser, unless a batch of this process is already in flight. The
 * worker goes on with its miss; the releaser retires the batch while the
 * worker waits for its disk read. A worker whose miss finds the budget full
 * waits for the batch in flight instead of evicting, and evicts itself only
 * when none is (another process's releaser may be working: it does not
 * wait for that).
 *
 * A call that handed a batch over waits for it before it returns (the
 * release still runs beside the call's own disk read): between calls a
 * process holds no latch and has nothing in flight, as without a releaser.
 * In processes mode this matters: a process that exited, even normally,
 * with a batch latched would look like one that died holding latches, and
 * the pool would be broken for everyone.
 *
 * The budget: victims in flight are counted resident until their frames are
 * gone, so resident frames never exceed the budget (invariant 5 of
 * ../README.md) and there is no slack in memory. What it costs is hits: up
 * to evict_batch frames of the budget are victims on their way out rather
 * than pages a worker may fix, 64 of a 256 MiB budget's 32,768 by default.
 * A budget of fewer than 16 batches gets no releaser: a batch would be a
 * large share of it; such a pool evicts only when it is full, on the
 * worker's path.
 *
 * Latch counts (invariant 9): the worker counts the victims as one latch
 * in its slot when it picks them; once the releaser is done, the thread of
 * the process that sees it first (the worker waiting for it, or one handing
 * over the next batch) counts one released in its own slot. In between the
 * process is counted as holding one latch more than it does, which the
 * invariant allows. The releaser itself has no slot (it takes none of
 * max_threads' slots from the workers); it counts its evictions and writes
 * in the pool's retired counters.
 *
 * A forked child has no releaser (fork copies only the calling thread): it
 * starts its own at its first batch. A process whose releaser cannot start
 * evicts on the worker's path.
 */
#include "vm/vm.h"

#include "registry/threads.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

enum releaser_status {
	R_IDLE, /* no thread in this process yet */
	R_RUNNING,
	R_OFF, /* could not start: evict on the path */
};

struct ptbm_vm_releaser {
	pthread_mutex_t mu;
	pthread_cond_t wake; /* a batch was handed over, or stop */
	pthread_cond_t done; /* a batch was retired */
	pthread_t thread;
	_Atomic int status; /* enum releaser_status */
	bool stop;
	_Atomic size_t n;	     /* victims handed over and not yet retired */
	_Atomic unsigned unsettled;  /* batches retired whose latch is still counted */
	struct ptbm_evict_work work; /* the batch in flight */
	void *work_mem;
};

/* This process's releaser, or NULL: the pool has none. */
static struct ptbm_vm_releaser *releaser(ptbm_pool *pool)
{
	return pool->engine_private;
}

/* Whether the pool has a releaser: with PTBM_BACKGROUND and a budget of at
 * least PTBM_VM_MIN_BATCHES batches (a smaller one would be evicted well
 * before it is full). */
static bool releases_ahead(const ptbm_pool *pool)
{
	return (pool->sh->flags & PTBM_BACKGROUND) && ptbm_vm_evicts_ahead(pool);
}

static void releaser_reset(struct ptbm_vm_releaser *r)
{
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->wake, NULL);
	pthread_cond_init(&r->done, NULL);
	atomic_store(&r->status, R_IDLE);
	r->stop = false;
	atomic_store(&r->n, 0);
	atomic_store(&r->unsettled, 0);
}

int ptbm_vm_releaser_init(ptbm_pool *pool)
{
	if (!releases_ahead(pool))
		return 0;
	struct ptbm_vm_releaser *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->work_mem = ptbm_vm_evict_work_alloc(&r->work, pool->sh->evict_batch);
	if (!r->work_mem) {
		free(r);
		return -ENOMEM;
	}
	releaser_reset(r);
	pool->engine_private = r;
	return 0;
}

static void *releaser_main(void *arg)
{
	ptbm_pool *pool = arg;
	struct ptbm_vm_releaser *r = releaser(pool);
	pthread_setname_np(pthread_self(), PTBM_RELEASER_NAME);
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!atomic_load(&r->n) && !r->stop)
			pthread_cond_wait(&r->wake, &r->mu);
		size_t n = atomic_load(&r->n);
		if (!n)
			break; /* stopping, nothing in hand */
		pthread_mutex_unlock(&r->mu);
		/* a failure leaves the failed victims resident and unlatched:
		 * the next miss that needs their frames evicts again */
		ptbm_vm_retire_victims(pool, &r->work, n, NULL);
		pthread_mutex_lock(&r->mu);
		atomic_fetch_add(&r->unsettled, 1);
		atomic_store(&r->n, 0);
		pthread_cond_broadcast(&r->done);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* Start the thread (r->mu held): true if it runs. It takes no signal: the
 * process's handlers stay on the threads that expect them. */
static bool releaser_start(ptbm_pool *pool, struct ptbm_vm_releaser *r)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&r->thread, NULL, releaser_main, pool);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	atomic_store(&r->status, rc == 0 ? R_RUNNING : R_OFF);
	return rc == 0;
}

/* Count the latches of retired batches released, in the caller's slot
 * (r->mu held). */
static void settle(ptbm_pool *pool, struct ptbm_vm_releaser *r)
{
	unsigned n = atomic_load(&r->unsettled);
	struct ptbm_stat_slot *slot = n ? ptbm_slot(pool) : NULL;
	if (slot) { /* with no slot to count in, a later caller settles */
		ptbm_slot_hold(slot, -(int64_t)n);
		atomic_store(&r->unsettled, 0);
	}
}

void ptbm_vm_release_ahead(ptbm_pool *pool)
{
	struct ptbm_vm_releaser *r = releaser(pool);
	uint64_t resident = atomic_load_explicit(&pool->sh->resident, memory_order_relaxed);
	uint64_t budget = pool->sh->budget_pages, batch = pool->sh->evict_batch;
	if (!r || resident + batch <= budget || atomic_load(&r->n) ||
	    atomic_load_explicit(&r->status, memory_order_relaxed) == R_OFF)
		return;
	if (pthread_mutex_trylock(&r->mu) != 0)
		return; /* another worker is handing a batch over */
	settle(pool, r);
	if (atomic_load(&r->n) || atomic_load(&r->status) == R_OFF ||
	    (atomic_load(&r->status) == R_IDLE && !releaser_start(pool, r))) {
		pthread_mutex_unlock(&r->mu);
		return;
	}
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	size_t n = ptbm_vm_pick_victims(pool, &r->work);
	if (n) {
		atomic_store(&r->n, n);
		pthread_cond_signal(&r->wake);
	} else {
		ptbm_slot_hold(slot, -1);
	}
	pthread_mutex_unlock(&r->mu);
}

bool ptbm_vm_release_wait(ptbm_pool *pool)
{
	struct ptbm_vm_releaser *r = releaser(pool);
	if (!r ||
	    (!atomic_load(&r->n) && !atomic_load_explicit(&r->unsettled, memory_order_relaxed)))
		return false;
	pthread_mutex_lock(&r->mu);
	bool waited = atomic_load(&r->n) != 0;
	while (atomic_load(&r->n))
		pthread_cond_wait(&r->done, &r->mu);
	settle(pool, r);
	pthread_mutex_unlock(&r->mu);
	return waited;
}

void ptbm_vm_releaser_drain(ptbm_pool *pool)
{
	struct ptbm_vm_releaser *r = releaser(pool);
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	bool running = atomic_load(&r->status) == R_RUNNING;
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->mu);
	if (running) /* it retires the batch in hand first */
		pthread_join(r->thread, NULL);
	atomic_store(&r->status, R_OFF);
	settle(pool, r);
}

void ptbm_vm_releaser_fini(ptbm_pool *pool)
{
	struct ptbm_vm_releaser *r = releaser(pool);
	if (!r)
		return;
	free(r->work_mem);
	free(r);
	pool->engine_private = NULL;
}

void ptbm_vm_releaser_after_fork(ptbm_pool *pool)
{
	struct ptbm_vm_releaser *r = releaser(pool);
	/* the parent's thread and its batch stay the parent's */
	if (r)
		releaser_reset(r);
}
