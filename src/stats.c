/*
 * stats.c - per-thread statistics slots.
 *
 * Counting must not cost the hit path an atomic read-modify-write or a
 * shared cache line. Each thread that uses a pool claims one slot (a cache
 * line in the pool's region) of its own and increments its counters with
 * plain relaxed stores; no two threads ever share a slot. ptbm_get_stats
 * sums every slot plus the counts of threads that have left (retired).
 *
 * The pool has max_threads slots (ptbm_config), claimed up to a high-water
 * mark, so scans cover only slots that were ever used. A thread that finds
 * every slot taken by a live thread gets no slot, and its call returns
 * PTBM_ETOOMANY. Slots of threads that exited are given back at thread exit;
 * those of threads or processes that died are reclaimed when no free slot is
 * left (their counts are folded into retired first), unless they died
 * holding latches: latch.c reports those.
 *
 * A thread's slot is cached in thread-local storage keyed by the pool's
 * serial number, so the hit path pays one compare. A thread that uses
 * several pools keeps the slots of the last few in a small array, so that
 * alternating between pools costs no new claim.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread __attribute__((tls_model("initial-exec"))) struct ptbm_tls_stat ptbm_tls_stat;

/* The slots this thread holds in the pools it used last (serial 0: none). */
#define RECENT_POOLS 8
static __thread struct ptbm_tls_stat recent[RECENT_POOLS];
static __thread unsigned recent_next;

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

extern ptbm_pool *ptbm_open_pools_find(uint64_t serial);

static int32_t my_tid(void)
{
	return (int32_t)syscall(SYS_gettid);
}

/* Fold the slot's counters into retired and free it; the caller owns it. */
static void retire(ptbm_pool *pool, struct ptbm_stat_slot *s)
{
	for (int c = 0; c < PTBM_N_COUNTERS; c++) {
		uint64_t v = atomic_exchange(&s->c[c], 0);
		atomic_fetch_add(&pool->sh->retired[c], v);
	}
	atomic_store(&s->owner_pid, 0);
	atomic_store(&s->owner, 0);
}

/* The calling thread no longer uses slot s of pool. */
static void leave(ptbm_pool *pool, struct ptbm_stat_slot *s)
{
	/* a thread that leaves holding latches keeps its slot: a dead owner */
	if (atomic_load(&s->owner) == my_tid() && atomic_load(&s->held) == 0)
		retire(pool, s);
}

/* The slot of serial's pool, if it is still open, is given up. */
static void leave_serial(struct ptbm_tls_stat *t)
{
	ptbm_pool *pool = ptbm_open_pools_find(t->serial);
	if (pool)
		leave(pool, t->slot);
	t->serial = 0;
	t->slot = NULL;
}

/* At thread exit: give back the slots of pools that are still open. */
static void on_thread_exit(void *arg)
{
	(void)arg;
	ptbm_tls_stat.serial = 0;
	ptbm_tls_stat.slot = NULL;
	for (int i = 0; i < RECENT_POOLS; i++)
		if (recent[i].serial)
			leave_serial(&recent[i]);
}

static void make_key(void)
{
	pthread_key_create(&exit_key, on_thread_exit);
}

bool ptbm_tid_alive(int32_t pid, int32_t tid)
{
	return !(syscall(SYS_tgkill, pid, tid, 0) < 0 && errno == ESRCH);
}

/* Slot s, just taken with a CAS of its owner from 0 to this thread. */
static struct ptbm_stat_slot *taken(struct ptbm_stat_slot *s)
{
	atomic_store(&s->held, 0);
	atomic_store(&s->owner_pid, (int32_t)getpid());
	return s;
}

/* A slot of pool for this thread, or NULL if every one is taken. */
static struct ptbm_stat_slot *claim(ptbm_pool *pool)
{
	int32_t me = my_tid(), pid = (int32_t)getpid();
	uint32_t hwm = ptbm_slots_used(pool);
	/* ours from before: a thread that left this pool's slot holding latches */
	for (uint32_t i = 0; i < hwm; i++) {
		struct ptbm_stat_slot *s = &pool->slots[i];
		if (atomic_load(&s->owner) == me && atomic_load(&s->owner_pid) == pid)
			return s;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < hwm; i++) {
			struct ptbm_stat_slot *s = &pool->slots[i];
			int32_t owner = atomic_load(&s->owner);
			if (owner == 0 && atomic_compare_exchange_strong(&s->owner, &owner, me))
				return taken(s);
			if (pass == 1 && owner > 0 &&
			    !ptbm_tid_alive(atomic_load(&s->owner_pid), owner) &&
			    atomic_load(&s->held) == 0 &&
			    atomic_compare_exchange_strong(&s->owner, &owner, -1)) {
				retire(pool, s);
				int32_t zero = 0;
				if (atomic_compare_exchange_strong(&s->owner, &zero, me))
					return taken(s);
			}
		}
		/* none free below the mark: raise it, while there is room */
		while (pass == 0 && hwm < pool->sh->max_slots) {
			if (!atomic_compare_exchange_weak(&pool->sh->slots_hwm, &hwm, hwm + 1))
				continue;
			struct ptbm_stat_slot *s = &pool->slots[hwm];
			int32_t zero = 0;
			if (atomic_compare_exchange_strong(&s->owner, &zero, me))
				return taken(s);
			hwm++;
		}
		hwm = ptbm_slots_used(pool);
	}
	return NULL;
}

struct ptbm_stat_slot *ptbm_stat_slot_slow(ptbm_pool *pool)
{
	pthread_once(&exit_once, make_key);
	struct ptbm_tls_stat *t = NULL;
	for (int i = 0; i < RECENT_POOLS && !t; i++)
		if (recent[i].serial == pool->serial)
			t = &recent[i];
	if (!t) {
		struct ptbm_stat_slot *s = claim(pool);
		if (!s)
			return NULL;
		/* the least recently claimed entry makes room */
		t = &recent[recent_next++ % RECENT_POOLS];
		if (t->serial)
			leave_serial(t);
		t->serial = pool->serial;
		t->slot = s;
		pthread_setspecific(exit_key, recent);
	}
	ptbm_tls_stat = *t;
	return t->slot;
}

void ptbm_stats_release_pool(ptbm_pool *pool)
{
	if (ptbm_tls_stat.serial == pool->serial) {
		ptbm_tls_stat.serial = 0;
		ptbm_tls_stat.slot = NULL;
	}
	for (int i = 0; i < RECENT_POOLS; i++)
		if (recent[i].serial == pool->serial) {
			leave(pool, recent[i].slot);
			recent[i].serial = 0;
			recent[i].slot = NULL;
		}
}

void ptbm_stats_after_fork(void)
{
	ptbm_tls_stat.serial = 0;
	ptbm_tls_stat.slot = NULL;
	for (int i = 0; i < RECENT_POOLS; i++)
		recent[i].serial = 0, recent[i].slot = NULL;
}

void ptbm_stats_sum(ptbm_pool *pool, uint64_t out[PTBM_N_COUNTERS])
{
	for (int c = 0; c < PTBM_N_COUNTERS; c++)
		out[c] = atomic_load(&pool->sh->retired[c]);
	uint32_t n = ptbm_slots_used(pool);
	for (uint32_t i = 0; i < n; i++)
		for (int c = 0; c < PTBM_N_COUNTERS; c++)
			out[c] += atomic_load_explicit(&pool->slots[i].c[c], memory_order_relaxed);
}
