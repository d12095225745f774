/*
 * engine_mmap.c - the baseline: the data file mapped MAP_SHARED (LMDB's way).
 *
 * Page p is at map + p * page_size, where the mapping starts at file offset
 * page_size (after the header page). The kernel's page cache decides what
 * is resident and when dirty pages reach the disk; this engine only latches.
 * The point is to measure the approach the CIDR 2022 paper ("Are You Sure
 * You Want to Use MMAP in Your Database Management System?", Crotty, Leis
 * and Pavlo) argues against.
 *
 * The mapping: each process maps the file itself in init (the creator and
 * every attacher); forked children inherit the parent's mapping. The range
 * for max_pages is reserved up front (MAP_NORESERVE), so a page's address
 * never moves while the file grows; pool->data points at it, so
 * ptbm_page_addr() serves this engine as it serves vm.
 *
 * The file must cover every page that can be touched, or the touch raises
 * SIGBUS. ptbm_alloc calls mmap_on_alloc before it publishes new page ids,
 * which extends the file (ftruncate, a hole that reads as zeros) under a
 * lock in the engine area, never shrinking it; every fix checks the page id
 * against n_alloc. As a consequence ptbm_file_commit always finds the file
 * long enough and never truncates it itself.
 *
 * Latches: the pool's descriptor array, with the vm engine's tags and latch
 * primitives (vm/state.h) minus eviction, counted in the thread's slot and
 * waited for with ptbm_wait as in vm, so a process that dies holding one is
 * a dead owner: 0 or 1 unlocked (0 is a page never latched), 2..253 shared,
 * 254 exclusive. Exclusive unlock bumps the version, so optimistic reads
 * work as in vm: the mapping is never unmapped, a racing read sees some
 * bytes of the page (possibly after a major fault the kernel serves) and
 * validation discards them.
 *
 *   unlocked --fix shared: CAS-> shared(n+1) --unfix: CAS-> ... unlocked
 *   unlocked --fix exclusive: CAS-> exclusive --unfix: store-> unlocked, v+1
 *
 * Checksums: mark_dirty sets D under the exclusive latch; unfix_exclusive
 * of a D page seals its trailer (ptbm_page_seal) and clears D, so the copy
 * the kernel writes after the unfix carries a valid checksum. A page is
 * verified the first time it is latched in the life of the pool (the gen
 * bits of its state word, unused here, record "checked" for every process);
 * a page that fails is reported PTBM_ECHECKSUM on every fix. Re-reads the
 * kernel does after it drops a page from its cache are not verified: the
 * engine never sees them.
 *
 * What the OS decides and this engine cannot:
 *   - write-back: the kernel may write a page at any moment, including in
 *     the middle of an exclusive latch. A crash can therefore leave any page
 *     in any state: torn, or newer than the last flush, or with a trailer
 *     that does not match (reported as PTBM_ECHECKSUM at the next open).
 *     ptbm_flush = msync(MS_SYNC) over the allocated pages, then the generic
 *     header commit; a page latched exclusive during msync may be written
 *     half-modified, and is only correct on disk after the next flush.
 *   - residency: the budget is not enforced; the page cache takes what the
 *     kernel gives it. ptbm_get_stats reports resident = 0 and counts every
 *     fix as a hit (misses are the process's major faults, in the same
 *     stats); the benchmark measures the pool's memory from RSS instead.
 */
#include "pool/pool.h"

#include "core/checksum.h"
#include "core/pageio.h"
#include "registry/stats.h"
#include "vm/latch_wait.h"
#include "vm/state.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The page passed its checksum since the pool was created (gen bits). */
#define MMAP_CHECKED (1ull << PTBM_GEN_SHIFT)

struct marea {
	_Atomic uint32_t extend_lock; /* serializes file extension */
	uint32_t pad_;
	_Atomic uint64_t file_pages; /* pages the file holds after its header */
};

static inline struct marea *area(ptbm_pool *pool)
{
	return pool->engine_area;
}

static inline bool allocated(ptbm_pool *pool, uint64_t pid)
{
	return pid < atomic_load_explicit(&pool->sh->n_alloc, memory_order_acquire);
}

/* ---- latches ---------------------------------------------------------- */

/* First latch of the page in this pool: verify it (caller holds a latch). */
static int check_page(ptbm_pool *pool, uint64_t pid)
{
	int rc = ptbm_file_verify(&pool->file, ptbm_page_addr(pool, pid), pid);
	if (rc == 0)
		atomic_fetch_or_explicit(&pool->desc[pid], MMAP_CHECKED, memory_order_relaxed);
	return rc;
}

static int mm_fix(ptbm_pool *pool, uint64_t pid, void **page, bool exclusive)
{
	if (PTBM_UNLIKELY(!allocated(pool, pid)))
		return PTBM_ERANGE;
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	unsigned spins = 0;
	ptbm_slot_hold(slot, 1); /* a latch counts before it is taken (dead owners) */
	for (;;) {
		uint64_t ns, u = s;
		if (ptbm_tag(u) == PTBM_TAG_EVICTED) /* never latched: this engine evicts nothing */
			u = ptbm_with_tag(u, PTBM_TAG_UNLOCKED);
		if (PTBM_LIKELY(exclusive ? ptbm_state_to_exclusive(u, &ns)
					  : ptbm_state_add_reader(u, &ns))) {
			if (ptbm_state_cas(w, &s, ns))
				break;
			continue;
		}
		int rc = ptbm_wait(pool, &spins); /* exclusive, or too many readers */
		if (rc < 0) {
			ptbm_slot_hold(slot, -1);
			return rc;
		}
		s = atomic_load_explicit(w, memory_order_relaxed);
	}
	if (PTBM_UNLIKELY(!(s & MMAP_CHECKED))) {
		int rc = check_page(pool, pid);
		if (rc < 0) {
			ptbm_state_unlatch_undo(w, exclusive); /* no version bump */
			ptbm_slot_hold(slot, -1);
			return rc;
		}
	}
	ptbm_count(pool, PTBM_C_HITS, 1);
	*page = ptbm_page_addr(pool, pid);
	return 0;
}

static int mm_unfix_shared(ptbm_pool *pool, uint64_t pid)
{
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	if (PTBM_UNLIKELY(!slot))
		return PTBM_ETOOMANY;
	int rc = ptbm_state_unlatch_shared(&pool->desc[pid]);
	if (rc == 0)
		ptbm_slot_hold(slot, -1);
	return rc;
}

static int mm_unfix_exclusive(ptbm_pool *pool, uint64_t pid)
{
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	if (PTBM_UNLIKELY(!slot))
		return PTBM_ETOOMANY;
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	if (PTBM_UNLIKELY(ptbm_tag(s) != PTBM_TAG_EXCLUSIVE))
		return PTBM_ENOTFIXED;
	if (s & PTBM_DIRTY_BIT) {
		/* the kernel may write the page any time from now on */
		ptbm_page_seal(ptbm_page_addr(pool, pid), pool->page_size, pid);
		ptbm_file_note_written(&pool->file, pid);
		s &= ~PTBM_DIRTY_BIT;
	}
	ptbm_state_unlatch_exclusive(w, s);
	ptbm_slot_hold(slot, -1);
	return 0;
}

static int mm_unfix(ptbm_pool *pool, uint64_t pid, bool exclusive)
{
	return exclusive ? mm_unfix_exclusive(pool, pid) : mm_unfix_shared(pool, pid);
}

static int mm_mark_dirty(ptbm_pool *pool, uint64_t pid)
{
	return ptbm_state_mark_dirty(&pool->desc[pid]);
}

/* ---- optimistic reads ----------------------------------------------------- */

static int mm_read_begin(ptbm_pool *pool, uint64_t pid, const void **page, uint64_t *version)
{
	if (PTBM_UNLIKELY(!allocated(pool, pid)))
		return PTBM_ERANGE;
	_Atomic uint64_t *w = &pool->desc[pid];
	unsigned spins = 0;
	for (;;) {
		uint64_t s = atomic_load_explicit(w, memory_order_acquire);
		if (PTBM_UNLIKELY(ptbm_tag(s) == PTBM_TAG_EXCLUSIVE)) {
			int rc = ptbm_wait(pool, &spins);
			if (rc < 0)
				return rc;
			continue;
		}
		if (PTBM_UNLIKELY(!(s & MMAP_CHECKED))) {
			/* verify it under a latch first */
			void *p;
			int rc = mm_fix(pool, pid, &p, false);
			if (rc < 0)
				return rc;
			mm_unfix_shared(pool, pid);
			continue;
		}
		ptbm_count(pool, PTBM_C_OPTIMISTIC, 1);
		*version = ptbm_version(s);
		*page = ptbm_page_addr(pool, pid);
		return 0;
	}
}

static int mm_read_validate(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	atomic_thread_fence(memory_order_acquire);
	uint64_t s = atomic_load_explicit(&pool->desc[pid], memory_order_relaxed);
	if (PTBM_LIKELY(ptbm_tag(s) != PTBM_TAG_EXCLUSIVE && ptbm_version(s) == version))
		return 0;
	ptbm_count(pool, PTBM_C_RESTARTS, 1);
	return PTBM_ERESTART;
}

static int mm_upgrade(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	while (ptbm_tag(s) <= PTBM_TAG_UNLOCKED && ptbm_version(s) == version)
		if (ptbm_state_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
			return 0;
	ptbm_slot_hold(slot, -1);
	ptbm_slot_add(slot, PTBM_C_RESTARTS, 1);
	return PTBM_ERESTART;
}

/* ---- batches: prefetch and flush ------------------------------------------- */

/* Ask the kernel to read ahead the pages it does not hold; counts those. */
static int mm_prefetch(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	unsigned char vec[(1u << 24) / 4096]; /* one byte per 4 KiB: the largest page */
	size_t per_page = pool->page_size / 4096;
	int loaded = 0;
	for (size_t i = 0; i < n; i++) {
		void *addr = ptbm_page_addr(pool, pids[i]);
		if (mincore(addr, pool->page_size, vec) < 0)
			return loaded ? loaded : -errno;
		bool all = true;
		for (size_t k = 0; k < per_page && all; k++)
			all = vec[k] & 1;
		if (all)
			continue;
		if (madvise(addr, pool->page_size, MADV_WILLNEED) < 0)
			return loaded ? loaded : -errno;
		loaded++;
	}
	return loaded;
}

static int mm_flush(ptbm_pool *pool)
{
	uint64_t n = atomic_load(&pool->sh->n_alloc);
	if (n && msync(pool->data, n * pool->page_size, MS_SYNC) < 0)
		return -errno;
	return 0;
}

/* ---- the file's length ---------------------------------------------------- */

static int mm_on_alloc(ptbm_pool *pool, uint64_t first, uint64_t count)
{
	struct marea *a = area(pool);
	uint64_t need = first + count;
	if (atomic_load(&a->file_pages) >= need)
		return 0;
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	unsigned spins = 0;
	uint32_t zero = 0;
	int rc = 0;
	ptbm_slot_hold(slot, 1); /* the lock counts as a latch */
	while (!atomic_compare_exchange_weak(&a->extend_lock, &zero, 1)) {
		zero = 0;
		if ((rc = ptbm_wait(pool, &spins)) < 0)
			goto out;
	}
	if (atomic_load(&a->file_pages) < need) {
		if (ftruncate(pool->file.fd, (off_t)((need + 1) * pool->page_size)) < 0)
			rc = -errno;
		else
			atomic_store(&a->file_pages, need);
	}
	atomic_store(&a->extend_lock, 0);
out:
	ptbm_slot_hold(slot, -1);
	return rc;
}

/* ---- set-up -------------------------------------------------------------- */

static uint64_t mm_area_bytes(const struct ptbm_shared *sh)
{
	(void)sh;
	return sizeof(struct marea);
}

static int mm_init(ptbm_pool *pool, bool creator)
{
	uint64_t bytes = pool->max_pages * pool->page_size;
	void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			 pool->file.fd, (off_t)pool->page_size);
	if (map == MAP_FAILED)
		return -errno;
	if (creator) {
		struct stat st;
		if (fstat(pool->file.fd, &st) < 0) {
			int err = -errno;
			munmap(map, bytes);
			return err;
		}
		uint64_t pages = (uint64_t)st.st_size / pool->page_size;
		atomic_store(&area(pool)->file_pages, pages ? pages - 1 : 0);
	}
	pool->data = map;
	return 0;
}

static void mm_fini(ptbm_pool *pool, bool creator)
{
	(void)creator;
	if (pool->data)
		munmap(pool->data, pool->max_pages * pool->page_size);
	pool->data = NULL;
}

const struct ptbm_engine_ops ptbm_mmap_ops = {
    .fix = mm_fix,
    .unfix = mm_unfix,
    .mark_dirty = mm_mark_dirty,
    .read_begin = mm_read_begin,
    .read_validate = mm_read_validate,
    .upgrade = mm_upgrade,
    .prefetch = mm_prefetch,
    .flush = mm_flush,
    .area_bytes = mm_area_bytes,
    .init = mm_init,
    .fini = mm_fini,
    .on_alloc = mm_on_alloc,
};
