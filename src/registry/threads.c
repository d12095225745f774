/*
 * threads.c - the thread registry: who uses a pool (a slot per thread, in
 * shared memory), how many latches each process holds, and the pools this
 * process has open.
 *
 * Each thread that uses a pool claims one slot (a cache line in the pool's
 * region) of its own: its identity (tid, process, the process's start
 * time), its latch count, and its statistics counters (stats.c), written by
 * it alone with plain stores; no two threads ever share a slot.
 *
 * The pool has max_threads slots (ptbm_config), claimed up to a high-water
 * mark, so scans cover only slots that were ever used. A thread that finds
 * every slot taken by a live thread gets no slot, and its call returns
 * PTBM_ETOOMANY.
 *
 * A thread's slot is cached in thread-local storage keyed by the pool's
 * serial number, so the hit path pays one compare. A thread that uses
 * several pools keeps the slots of the last few in a small array, so that
 * alternating between pools costs no new claim. At thread exit the slots of
 * pools still open (the list below, keyed by serial) are given back.
 *
 * Dead owners. Each slot also counts the latches its thread took minus
 * those it released (+1 before taking, -1 after releasing). A latch may be
 * released by another thread of the same process than the one that took
 * it, so one thread's count means nothing alone: the unit is the process,
 * which is also what kill -9 hits. The latches a process holds are at most
 * the sum of its slots' counts, at every instant. A thread that leaves (it
 * exits, or closes the pool) with a count of 0 gives its slot back; with
 * any other count it adds the count to a "departed" slot of its process
 * (owner PTBM_OWNER_DEPARTED), made from its own slot if there is none, so
 * that the sum stays whole. A process that is gone and whose sum is above
 * zero died holding latches: ptbm_dead_owner names it, and vm/latch_wait.c
 * breaks the pool.
 *
 * Reclaiming. Slots of threads that exited without leaving, and of
 * processes that are gone, are reclaimed when no free slot is left (their
 * counters are folded into retired first); a gone process's slots only if
 * their sum is zero, and all at once, under the slot lock, so that the
 * dead-owner check never sees half of them.
 */
#include "registry/threads.h"

#include "core/backoff.h"
#include "core/proc.h"

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

/* ---- the pools open in this process -------------------------------------- */

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static ptbm_pool *open_pools;

void ptbm_threads_add_pool(ptbm_pool *pool)
{
	pthread_mutex_lock(&open_lock);
	pool->next_open = open_pools;
	open_pools = pool;
	pthread_mutex_unlock(&open_lock);
}

void ptbm_threads_remove_pool(ptbm_pool *pool)
{
	pthread_mutex_lock(&open_lock);
	for (ptbm_pool **pp = &open_pools; *pp; pp = &(*pp)->next_open)
		if (*pp == pool) {
			*pp = pool->next_open;
			break;
		}
	pthread_mutex_unlock(&open_lock);
}

void ptbm_threads_each_pool(void (*fn)(ptbm_pool *))
{
	pthread_mutex_lock(&open_lock);
	for (ptbm_pool *p = open_pools; p; p = p->next_open)
		fn(p);
	pthread_mutex_unlock(&open_lock);
}

/* The pool of that serial, if it is still open in this process. */
static ptbm_pool *open_pool(uint64_t serial)
{
	ptbm_pool *found = NULL;
	pthread_mutex_lock(&open_lock);
	for (ptbm_pool *p = open_pools; p; p = p->next_open)
		if (p->serial == serial)
			found = p;
	pthread_mutex_unlock(&open_lock);
	return found;
}

/* ---- slots ---------------------------------------------------------------- */

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
	atomic_store(&s->held, 0);
	atomic_store(&s->owner_pid, 0);
	atomic_store(&s->owner_start, 0);
	atomic_store(&s->owner, PTBM_OWNER_FREE);
}

/* A process: its pid and start time (proc.c). */
struct proc_id {
	int32_t pid;
	uint64_t start;
};

static struct proc_id self_id(void)
{
	return (struct proc_id){(int32_t)getpid(), ptbm_proc_self_start()};
}

static struct proc_id slot_proc(struct ptbm_stat_slot *s)
{
	return (struct proc_id){atomic_load(&s->owner_pid), atomic_load(&s->owner_start)};
}

static bool is_proc(struct ptbm_stat_slot *s, struct proc_id p)
{
	return atomic_load(&s->owner_pid) == p.pid && atomic_load(&s->owner_start) == p.start;
}

static bool gone(struct proc_id p)
{
	return ptbm_proc_gone(p.pid, p.start);
}

static bool thread_alive(int32_t pid, int32_t tid)
{
	return !(syscall(SYS_tgkill, pid, tid, 0) < 0 && errno == ESRCH);
}

/* Sum of the latch counts of process p's slots among the first n. */
static int64_t process_held(ptbm_pool *pool, struct proc_id p, uint32_t n)
{
	int64_t sum = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct ptbm_stat_slot *s = &pool->slots[i];
		if (atomic_load(&s->owner) != PTBM_OWNER_FREE && is_proc(s, p))
			sum += atomic_load(&s->held);
	}
	return sum;
}

/*
 * Thread slot s (owned by the caller, or by a thread of process p that is
 * gone, with owner holding the value seen) goes, with a non-zero count: the
 * count joins the departed slot of p, or s becomes that slot. The order keeps
 * the process's sum from ever dropping below its latches: a positive count
 * is added there before it is taken off here, a negative one after.
 */
static void depart(ptbm_pool *pool, struct ptbm_stat_slot *s, int32_t owner, struct proc_id p)
{
	uint32_t n = ptbm_slots_used(pool);
	for (uint32_t i = 0; i < n; i++) {
		struct ptbm_stat_slot *d = &pool->slots[i];
		if (d == s || atomic_load(&d->owner) != PTBM_OWNER_DEPARTED || !is_proc(d, p))
			continue;
		int64_t h = atomic_load(&s->held);
		if (h > 0)
			atomic_fetch_add(&d->held, h);
		atomic_store(&s->held, 0);
		if (h < 0)
			atomic_fetch_add(&d->held, h);
		retire(pool, s);
		return;
	}
	atomic_compare_exchange_strong(&s->owner, &owner, PTBM_OWNER_DEPARTED);
}

/* The calling thread no longer uses slot s of pool. */
static void leave(ptbm_pool *pool, struct ptbm_stat_slot *s)
{
	int32_t me = my_tid();
	if (atomic_load(&s->owner) != me)
		return;
	if (atomic_load(&s->held) == 0)
		retire(pool, s);
	else
		depart(pool, s, me, self_id());
}

/* The slot of serial's pool, if it is still open, is given up. */
static void leave_serial(struct ptbm_tls_stat *t)
{
	ptbm_pool *pool = open_pool(t->serial);
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

/* ---- the slot lock: reclaiming the slots of gone processes -------------- */

/* Free every slot of gone process p (the caller holds the slot lock). */
static void reclaim_process(ptbm_pool *pool, struct proc_id p)
{
	uint32_t n = ptbm_slots_used(pool);
	atomic_store(&pool->sh->reclaim_start, p.start);
	atomic_store(&pool->sh->reclaim_pid, p.pid);
	for (uint32_t i = 0; i < n; i++) {
		struct ptbm_stat_slot *s = &pool->slots[i];
		int32_t owner = atomic_load(&s->owner);
		if (is_proc(s, p) && owner != PTBM_OWNER_FREE &&
		    (owner == PTBM_OWNER_RECLAIM ||
		     atomic_compare_exchange_strong(&s->owner, &owner, PTBM_OWNER_RECLAIM)))
			retire(pool, s);
	}
	atomic_store(&pool->sh->reclaim_pid, 0);
}

/*
 * Take the slot lock; one that a gone process held is taken over, and the
 * reclaim it left half done is finished first (the process it reclaimed had
 * a sum of zero: it was checked under the lock).
 */
static void slot_lock(ptbm_pool *pool)
{
	struct proc_id me = self_id();
	unsigned spins = 0;
	for (;;) {
		int32_t holder = 0;
		if (atomic_compare_exchange_strong(&pool->sh->slot_lock, &holder, me.pid))
			break;
		struct proc_id h = {holder, atomic_load(&pool->sh->slot_lock_start)};
		if (spins >= 64 && gone(h) &&
		    atomic_compare_exchange_strong(&pool->sh->slot_lock, &holder, me.pid)) {
			struct proc_id half = {atomic_load(&pool->sh->reclaim_pid),
					       atomic_load(&pool->sh->reclaim_start)};
			if (half.pid)
				reclaim_process(pool, half);
			break;
		}
		ptbm_backoff(&spins);
	}
	atomic_store(&pool->sh->slot_lock_start, me.start);
}

static void slot_unlock(ptbm_pool *pool)
{
	atomic_store(&pool->sh->slot_lock_start, 0);
	atomic_store(&pool->sh->slot_lock, 0);
}

/*
 * Make room: reclaim the slots of gone processes that held nothing and of
 * threads that exited without leaving. Returns whether a slot was freed.
 */
static bool reclaim(ptbm_pool *pool)
{
	uint32_t n = ptbm_slots_used(pool);
	bool freed = false;
	for (uint32_t i = 0; i < n; i++) {
		struct ptbm_stat_slot *s = &pool->slots[i];
		int32_t owner = atomic_load(&s->owner);
		struct proc_id p = slot_proc(s);
		if (p.pid == 0 || (owner <= 0 && owner != PTBM_OWNER_DEPARTED))
			continue;
		if (gone(p)) {
			slot_lock(pool);
			if (process_held(pool, p, n) <= 0) {
				reclaim_process(pool, p);
				freed = true;
			}
			slot_unlock(pool);
		} else if (owner > 0 && !thread_alive(p.pid, owner)) {
			/* a thread that exited without leaving: it leaves now */
			if (atomic_load(&s->held) != 0) {
				depart(pool, s, owner, p);
			} else if (atomic_compare_exchange_strong(&s->owner, &owner,
								  PTBM_OWNER_RECLAIM)) {
				retire(pool, s);
				freed = true;
			}
		}
	}
	return freed;
}

/* Slot s, just taken with a CAS of its owner from 0 to this thread. */
static struct ptbm_stat_slot *taken(struct ptbm_stat_slot *s)
{
	struct proc_id me = self_id();
	atomic_store(&s->owner_start, me.start); /* before the pid: readers see both */
	atomic_store(&s->owner_pid, me.pid);
	return s;
}

/* A slot of pool for this thread, or NULL if every one is taken. */
static struct ptbm_stat_slot *claim(ptbm_pool *pool)
{
	int32_t me = my_tid();
	struct proc_id self = self_id();
	uint32_t hwm = ptbm_slots_used(pool);
	/* ours from before: a thread that left this pool's slot holding latches */
	for (uint32_t i = 0; i < hwm; i++) {
		struct ptbm_stat_slot *s = &pool->slots[i];
		if (atomic_load(&s->owner) == me && is_proc(s, self))
			return s;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < hwm; i++) {
			struct ptbm_stat_slot *s = &pool->slots[i];
			int32_t owner = PTBM_OWNER_FREE;
			if (atomic_compare_exchange_strong(&s->owner, &owner, me))
				return taken(s);
		}
		/* none free below the mark: raise it, while there is room */
		while (hwm < pool->sh->max_slots) {
			if (!atomic_compare_exchange_weak(&pool->sh->slots_hwm, &hwm, hwm + 1))
				continue;
			struct ptbm_stat_slot *s = &pool->slots[hwm];
			int32_t owner = PTBM_OWNER_FREE;
			if (atomic_compare_exchange_strong(&s->owner, &owner, me))
				return taken(s);
			hwm++;
		}
		if (pass == 0 && !reclaim(pool))
			break;
		hwm = ptbm_slots_used(pool);
	}
	return NULL;
}

int32_t ptbm_dead_owner(ptbm_pool *pool)
{
	uint32_t n = ptbm_slots_used(pool);
	for (uint32_t i = 0; i < n; i++) {
		struct ptbm_stat_slot *s = &pool->slots[i];
		struct proc_id p = slot_proc(s);
		/* a process holds latches only if one of its slots counts some */
		if (atomic_load(&s->held) <= 0 || p.pid == 0 || !gone(p))
			continue;
		/* the exact sum, with no reclaim under way */
		slot_lock(pool);
		bool dead = process_held(pool, p, n) > 0;
		slot_unlock(pool);
		if (dead)
			return p.pid;
	}
	return 0;
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

void ptbm_threads_release_pool(ptbm_pool *pool)
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

void ptbm_threads_after_fork(void)
{
	/* the lock may have been held by a thread that does not exist here */
	pthread_mutex_init(&open_lock, NULL);
	ptbm_tls_stat.serial = 0;
	ptbm_tls_stat.slot = NULL;
	for (int i = 0; i < RECENT_POOLS; i++)
		recent[i].serial = 0, recent[i].slot = NULL;
}
