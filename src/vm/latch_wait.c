/*
 * latch_wait.c - waiting for a latch.
 *
 * Latches are CAS loops on a page's state word (vm/state.h); they work
 * across processes because the word is in shared memory. A waiter backs off
 * (core/backoff.c: spin, yield, nap).
 *
 * Dead owners. A process killed while it holds a latch never releases it.
 * Every thread counts, in its slot in shared memory, the latches it took
 * minus those it released (+1 before taking one, -1 after releasing one),
 * and the sum over a process's slots is never below the latches the
 * process holds (registry/threads.c). A waiter that has waited a while, and
 * again every few milliseconds after, asks the registry for a process that
 * is gone with a sum above zero: it died holding latches. The pool is then
 * marked broken and every wait in every process returns PTBM_EOWNERDEAD
 * instead of hanging; what does not wait carries on. As PostgreSQL's
 * postmaster does after a backend crash, the application then starts over
 * from the data file: close the pool, open it again (unflushed changes are
 * lost, flushed ones are not). A process that died holding nothing is
 * harmless; its slots are reclaimed.
 */
#include "vm/latch_wait.h"

#include "core/backoff.h"
#include "registry/threads.h"

int ptbm_check_owners(ptbm_pool *pool)
{
	if (atomic_load_explicit(&pool->sh->broken, memory_order_relaxed))
		return PTBM_EOWNERDEAD;
	int32_t pid = ptbm_dead_owner(pool);
	if (!pid)
		return 0;
	int32_t zero = 0;
	atomic_compare_exchange_strong(&pool->sh->broken, &zero, pid);
	return PTBM_EOWNERDEAD;
}

int ptbm_wait(ptbm_pool *pool, unsigned *spins)
{
	if (PTBM_UNLIKELY(atomic_load_explicit(&pool->sh->broken, memory_order_relaxed)))
		return PTBM_EOWNERDEAD;
	/* past the spinning, naps are ~20-80 us: look every 256 of them */
	if (*spins >= 64 && (*spins & 255) == 0) {
		int rc = ptbm_check_owners(pool);
		if (rc < 0)
			return rc;
	}
	ptbm_backoff(spins);
	return 0;
}
