/*
 * stats.c - per-thread statistics slots.
 *
 * Counting must not cost the hit path an atomic read-modify-write or a
 * shared cache line. Each thread that uses a pool claims one slot (a cache
 * line in the pool's region) and increments its counters with plain
 * relaxed stores; ptbm_get_stats sums every slot plus the counts of threads
 * that have left (retired). A thread's slot is cached in thread-local
 * storage keyed by the pool's serial number, so the hit path pays one
 * compare. Slots of threads or processes that died are reclaimed when the
 * table is full (their counts are folded into retired first), unless they
 * died holding latches: latch.c reports those.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread __attribute__((tls_model("initial-exec"))) struct ptbm_tls_stat ptbm_tls_stat;

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void retire(ptbm_pool *pool, struct ptbm_stat_slot *s)
{
	for (int c = 0; c < PTBM_N_COUNTERS; c++) {
		uint64_t v = atomic_exchange(&s->c[c], 0);
		atomic_fetch_add(&pool->sh->retired[c], v);
	}
	atomic_store(&s->owner, 0);
}

/* At thread exit: give the slot back if its pool is still open. */
static void on_thread_exit(void *arg)
{
	(void)arg;
	ptbm_stats_forget_thread();
}

static void make_key(void)
{
	pthread_key_create(&exit_key, on_thread_exit);
}

bool ptbm_tid_alive(int32_t tid)
{
	return !(kill(tid, 0) < 0 && errno == ESRCH);
}

struct ptbm_stat_slot *ptbm_stat_slot_slow(ptbm_pool *pool)
{
	int32_t me = (int32_t)syscall(SYS_gettid);
	pthread_once(&exit_once, make_key);
	/* a thread that used another pool before: let that slot go */
	if (ptbm_tls_stat.serial)
		ptbm_stats_forget_thread();
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < PTBM_STAT_SLOTS; i++) {
			struct ptbm_stat_slot *s = &pool->slots[i];
			int32_t owner = atomic_load(&s->owner);
			if (owner == me)
				goto got; /* ours from before (same thread, reopened) */
			if (owner == 0 && atomic_compare_exchange_strong(&s->owner, &owner, me))
				goto got;
			if (pass == 1 && owner > 0 && !ptbm_tid_alive(owner) &&
			    atomic_load(&s->held) == 0 &&
			    atomic_compare_exchange_strong(&s->owner, &owner, -1)) {
				retire(pool, s);
				int32_t zero = 0;
				if (atomic_compare_exchange_strong(&s->owner, &zero, me))
					goto got;
			}
			continue;
		got:
			atomic_store(&s->owner_pid, (int32_t)getpid());
			atomic_store(&s->held, 0);
			ptbm_tls_stat.serial = pool->serial;
			ptbm_tls_stat.slot = s;
			pthread_setspecific(exit_key, pool);
			return s;
		}
	}
	/* every slot is taken by a live thread: share the last one */
	ptbm_tls_stat.serial = pool->serial;
	ptbm_tls_stat.slot = &pool->slots[PTBM_STAT_SLOTS - 1];
	return ptbm_tls_stat.slot;
}

extern ptbm_pool *ptbm_open_pools_find(uint64_t serial);

void ptbm_stats_forget_thread(void)
{
	struct ptbm_tls_stat t = ptbm_tls_stat;
	ptbm_tls_stat.serial = 0;
	ptbm_tls_stat.slot = NULL;
	if (!t.serial)
		return;
	ptbm_pool *pool = ptbm_open_pools_find(t.serial);
	int32_t me = (int32_t)syscall(SYS_gettid);
	/* a thread that leaves holding latches keeps its slot: a dead owner */
	if (pool && atomic_load(&t.slot->owner) == me && atomic_load(&t.slot->held) == 0)
		retire(pool, t.slot);
}

void ptbm_stats_sum(ptbm_pool *pool, uint64_t out[PTBM_N_COUNTERS])
{
	for (int c = 0; c < PTBM_N_COUNTERS; c++)
		out[c] = atomic_load(&pool->sh->retired[c]);
	for (int i = 0; i < PTBM_STAT_SLOTS; i++)
		for (int c = 0; c < PTBM_N_COUNTERS; c++)
			out[c] += atomic_load_explicit(&pool->slots[i].c[c], memory_order_relaxed);
}

void ptbm_stats_release_pool(ptbm_pool *pool)
{
	if (ptbm_tls_stat.serial == pool->serial)
		ptbm_stats_forget_thread();
}
