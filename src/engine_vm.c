/*
 * engine_vm.c - PT-BM: the page table is the buffer table.
 *
 * Page p lives at data + p * page_size; its state word is desc[p]. There is
 * no lookup structure on the translation path: a hit is one CAS on the
 * state word to latch, the access, and one CAS to unlatch. Everything else
 * (loading, populating this process's page table, evicting) happens off
 * that path, on a miss.
 *
 * Transitions of a page (tags in internal.h; "-> X" is one atomic step):
 *
 *   evicted  --fix: CAS-> exclusive --load--> exclusive | shared(1)
 *   unlocked/marked --fix shared: CAS-> shared(n+1) --unfix--> ... unlocked
 *   unlocked/marked --fix exclusive: CAS-> exclusive --unfix--> unlocked, v+1
 *   unlocked --clock: CAS-> marked --clock: CAS-> exclusive (a victim)
 *   victim --write back if dirty, release frame--> evicted, v+1
 *
 * Loading (load_page, holding the exclusive latch of an evicted page):
 *   1. check the page is allocated;
 *   2. reserve a frame: resident + 1 <= budget, else evict a batch first;
 *   3. read the page into this thread's staging buffer (issued before step
 *      2, so the frame is made ready while the disk works; io.c, staged
 *      reads), verify its checksum there and copy it into the frame (a
 *      failure releases the frame, the page stays evicted, the caller gets
 *      the error);
 *   4. insert it into the resident set, bump its residency generation.
 *
 * Eviction (evict_batch, any worker, any process): a clock over the
 * resident set marks unlocked pages and takes marked ones exclusive, up to
 * evict_batch victims; dirty victims are written back; the victims are
 * sorted, merged into runs of adjacent pages and released with one batched
 * call (region.c); then each leaves the resident set and is published
 * evicted. A latched page is never a victim: the clock only takes pages
 * whose tag is unlocked or marked, with a CAS.
 *
 * Processes mode: every process has its own page table. A page loaded by
 * one process is faulted in by each other process on first access; a
 * hardware fault costs ~9 us on this machine against ~1.6 us for a
 * MADV_POPULATE_WRITE call, so a process populates the page itself when it
 * latches it and its private mapgen[p] differs from the page's residency
 * generation (a byte compare on the hit path). Populating happens only
 * under a latch, so it never maps (and so allocates) a hole: a read of an
 * evicted shmem page would allocate a zero page that nobody frees. The one
 * path that reads without a latch, the optimistic read, cleans up after
 * itself: a validation that finds the page evicted punches the page again.
 */
#include "engine_vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline struct ptbm_resident *resident_set(ptbm_pool *pool)
{
	return pool->engine_area;
}

/* ---- frames and eviction ---------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Victims a few pages apart are released as one run: the evicted pages
 * between them are latched (CAS from evicted, so no one loads them
 * meanwhile) and released along, which frees nothing of theirs but a stray
 * zero page an optimistic reader may have left. Fewer runs, fewer ranges
 * for the kernel to walk and flush: about a fifth cheaper here, in both
 * modes (src/README.md, "Who evicts").
 */
#define MAX_GAP 16

struct gap_latch {
	uint64_t pid, state;
};

/*
 * One eviction's arrays, sized by evict_batch (up to 4096) and so on the
 * heap, not on the caller's stack (a worker's stack may be small).
 */
struct evict_work {
	uint64_t *victims;
	uint64_t *dirty;
	void **dirty_addr;
	int *rcs;
	struct ptbm_run *runs;
	struct gap_latch *gaps; /* as many as victims: merging stops there */
	size_t cap;		/* evict_batch */
};

static void *work_carve(char **at, size_t bytes)
{
	void *p = *at;
	*at += (bytes + 15) & ~(size_t)15;
	return p;
}

static void *evict_work_alloc(struct evict_work *w, size_t cap)
{
	size_t bytes = cap * (2 * sizeof(uint64_t) + sizeof(void *) + sizeof(int) +
			      sizeof(struct ptbm_run) + sizeof(struct gap_latch)) +
		       6 * 16;
	char *base = malloc(bytes), *at = base;
	if (!base)
		return NULL;
	w->cap = cap;
	w->victims = work_carve(&at, cap * sizeof(uint64_t));
	w->dirty = work_carve(&at, cap * sizeof(uint64_t));
	w->dirty_addr = work_carve(&at, cap * sizeof(void *));
	w->rcs = work_carve(&at, cap * sizeof(int));
	w->runs = work_carve(&at, cap * sizeof(struct ptbm_run));
	w->gaps = work_carve(&at, cap * sizeof(struct gap_latch));
	return base;
}

/* Latch the evicted pages in [from, to) into out (room for cap); false
 * (none kept) if one is not evicted or there is no room. */
static bool latch_gap(ptbm_pool *pool, uint64_t from, uint64_t to, struct gap_latch *out,
		      size_t *n_out, size_t cap)
{
	size_t n0 = *n_out;
	if (to - from > cap - n0)
		return false;
	for (uint64_t q = from; q < to; q++) {
		uint64_t s = atomic_load_explicit(&pool->desc[q], memory_order_relaxed);
		if (ptbm_tag(s) != PTBM_TAG_EVICTED ||
		    !atomic_compare_exchange_strong(&pool->desc[q], &s,
						    ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE))) {
			while (*n_out > n0) {
				(*n_out)--;
				atomic_store(&pool->desc[out[*n_out].pid], out[*n_out].state);
			}
			return false;
		}
		out[*n_out].pid = q;
		out[(*n_out)++].state = s;
	}
	return true;
}

/* Release the frames of n exclusively latched pages, sorted by id. */
static int release_frames(ptbm_pool *pool, struct evict_work *w, const uint64_t *pids, size_t n)
{
	struct ptbm_run *runs = w->runs;
	size_t k = 0, n_gaps = 0;
	for (size_t i = 0; i < n; i++) {
		char *a = ptbm_page_addr(pool, pids[i]);
		if (k) {
			struct ptbm_run *last = &runs[k - 1];
			uint64_t gap = pids[i] - pids[i - 1] - 1;
			if (gap == 0 || (gap <= MAX_GAP && latch_gap(pool, pids[i - 1] + 1, pids[i],
								     w->gaps, &n_gaps, w->cap))) {
				last->bytes = (uint64_t)(a - (char *)last->addr) + pool->page_size;
				continue;
			}
		}
		runs[k].addr = a;
		runs[k].bytes = pool->page_size;
		k++;
	}
	int rc = ptbm_region_release(runs, k, pool->shmem_frames);
	for (size_t i = 0; i < n_gaps; i++)
		atomic_store_explicit(&pool->desc[w->gaps[i].pid], w->gaps[i].state,
				      memory_order_release);
	return rc;
}

/* Publish a latched page as unlocked again, unchanged (an aborted victim). */
static void unlatch_unchanged(ptbm_pool *pool, uint64_t pid)
{
	uint64_t s = atomic_load_explicit(&pool->desc[pid], memory_order_relaxed);
	atomic_store_explicit(&pool->desc[pid], ptbm_with_tag(s, PTBM_TAG_UNLOCKED),
			      memory_order_release);
}

/*
 * Pick up to evict_batch victims with the clock, write back the dirty ones,
 * release them. Returns the number of pages evicted (0: everything was
 * latched or recently used twice round) or a negative error from write-back
 * when no page could be evicted.
 */
static int evict_batch_held(ptbm_pool *pool, struct evict_work *work)
{
	struct ptbm_resident *rs = resident_set(pool);
	uint32_t want = (uint32_t)work->cap;
	uint64_t *victims = work->victims, *dirty = work->dirty;
	void **dirty_addr = work->dirty_addr;
	size_t n = 0, n_dirty = 0;
	/*
	 * The hand moves over allocated page ids 64 at a time; two turns
	 * (mark, then take) without a victim means everything is latched.
	 */
	uint64_t span = (atomic_load(&pool->sh->n_alloc) + 63) / 64 * 64;
	if (span == 0)
		return 0;
	const uint64_t step = 64, limit = 2 * span + step;

	for (uint64_t scanned = 0; n < want && scanned < limit; scanned += step) {
		uint64_t pos =
		    atomic_fetch_add_explicit(&pool->sh->clock_hand, step, memory_order_relaxed) %
		    span;
		for (uint64_t pid = ptbm_resident_next(rs, pos, pos + step);
		     pid != UINT64_MAX && n < want;
		     pid = ptbm_resident_next(rs, pid + 1, pos + step)) {
			_Atomic uint64_t *w = &pool->desc[pid];
			uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
			if (ptbm_tag(s) == PTBM_TAG_UNLOCKED)
				ptbm_vm_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_MARKED));
			else if (ptbm_tag(s) == PTBM_TAG_MARKED &&
				 ptbm_vm_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
				victims[n++] = pid;
		}
	}
	if (n == 0)
		return 0;

	/* write back the dirty victims, in one batch; any that fails stays */
	for (size_t i = 0; i < n; i++)
		if (atomic_load_explicit(&pool->desc[victims[i]], memory_order_relaxed) &
		    PTBM_DIRTY_BIT) {
			dirty[n_dirty] = victims[i];
			dirty_addr[n_dirty++] = ptbm_page_addr(pool, victims[i]);
		}
	int werr = 0;
	if (n_dirty) {
		int *rcs = work->rcs;
		werr = ptbm_file_write_batch(&pool->file, dirty, dirty_addr, n_dirty, rcs);
		size_t failed = 0;
		for (size_t j = 0; j < n_dirty; j++) {
			if (rcs[j] == 0)
				continue;
			/* resident, dirty and unlatched again: its last good copy */
			unlatch_unchanged(pool, dirty[j]);
			for (size_t i = 0; i < n; i++)
				if (victims[i] == dirty[j])
					victims[i] = UINT64_MAX;
			failed++;
		}
		ptbm_count(pool, PTBM_C_WRITES, n_dirty - failed);
		if (failed) {
			size_t k = 0;
			for (size_t i = 0; i < n; i++)
				if (victims[i] != UINT64_MAX)
					victims[k++] = victims[i];
			n = k;
			if (n == 0)
				return werr;
		}
	}

	qsort(victims, n, sizeof victims[0], cmp_u64);
	int rc = release_frames(pool, work, victims, n);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			unlatch_unchanged(pool, victims[i]);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t pid = victims[i];
		ptbm_resident_remove(resident_set(pool), pid);
		uint64_t s = atomic_load_explicit(&pool->desc[pid], memory_order_relaxed);
		s = ptbm_bump_version(ptbm_with_tag(s & ~PTBM_DIRTY_BIT, PTBM_TAG_EVICTED));
		atomic_store_explicit(&pool->desc[pid], s, memory_order_release);
	}
	atomic_fetch_sub(&pool->sh->resident, n);
	ptbm_count(pool, PTBM_C_EVICTIONS, n);
	return (int)n;
}

/* Victims are latched inside: count the work as one held latch. */
static int evict_batch(ptbm_pool *pool)
{
	struct evict_work w;
	void *mem = evict_work_alloc(&w, pool->sh->evict_batch);
	if (!mem)
		return -ENOMEM;
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	int rc = evict_batch_held(pool, &w);
	ptbm_slot_hold(slot, -1);
	free(mem);
	return rc;
}

/* Count one more resident frame, evicting first if the budget is full. */
static int reserve_frame(ptbm_pool *pool)
{
	_Atomic uint64_t *res = &pool->sh->resident;
	unsigned spins = 0, empty_rounds = 0;
	for (;;) {
		uint64_t r = atomic_load_explicit(res, memory_order_relaxed);
		if (r < pool->sh->budget_pages) {
			if (atomic_compare_exchange_weak(res, &r, r + 1))
				return 0;
			continue;
		}
		int got = evict_batch(pool);
		if (got < 0)
			return got;
		if (got == 0) {
			/* everything latched: others may unlatch soon */
			if (++empty_rounds > 1000)
				return PTBM_EBUSY;
			int rc = ptbm_wait(pool, &spins);
			if (rc < 0)
				return rc;
		}
	}
}

static void unreserve_frame(ptbm_pool *pool)
{
	atomic_fetch_sub(&pool->sh->resident, 1);
}

/*
 * Make n frames of exclusively latched pages ready for their contents:
 * mapped writable in this process (one system call for the lot, adjacent
 * frames merged) and touched once per 4 KiB, which on a paravirtualized
 * guest is when the hypervisor maps them. Called while their reads are in
 * flight. A failure is harmless: the copy would fault the frame in.
 */
static void prepare_frames(ptbm_pool *pool, void *const *addr, size_t n)
{
	struct ptbm_run runs[PTBM_STAGE_MAX]; /* n <= ptbm_file_stage_slots() */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k == PTBM_STAGE_MAX) {
			ptbm_region_populate_runs(runs, k);
			k = 0;
		}
		if (k && (char *)runs[k - 1].addr + runs[k - 1].bytes == (char *)addr[i]) {
			runs[k - 1].bytes += pool->page_size;
			continue;
		}
		runs[k].addr = addr[i];
		runs[k++].bytes = pool->page_size;
	}
	ptbm_region_populate_runs(runs, k);
	for (size_t i = 0; i < n; i++)
		for (uint32_t off = 0; off < pool->page_size; off += 4096)
			((volatile char *)addr[i])[off] = 0;
}

/*
 * Load page pid, whose exclusive latch the caller took from the evicted
 * state (s is the state word it replaced). On success the page is resident
 * and still latched exclusive; returns the new state word's low bits in
 * *state. On failure the page is published evicted again.
 */
static int load_page(ptbm_pool *pool, uint64_t pid, uint64_t s, uint64_t *state)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	void *addr = ptbm_page_addr(pool, pid);
	struct ptbm_staged st;
	int rc, rcs[1];
	if (pid >= atomic_load_explicit(&pool->sh->n_alloc, memory_order_acquire)) {
		rc = PTBM_ERANGE;
		goto fail;
	}
	/* the read goes first; the frame is made ready while the disk works */
	ptbm_file_read_start(&pool->file, &pid, 1, &st);
	rc = reserve_frame(pool);
	if (rc < 0) {
		void *none[1] = {NULL};
		ptbm_file_read_finish(&pool->file, &st, none, rcs);
		goto fail;
	}
	prepare_frames(pool, &addr, 1);
	rc = ptbm_file_read_finish(&pool->file, &st, &addr, rcs);
	if (rc < 0)
		goto fail_frame;
	ptbm_resident_insert(resident_set(pool), pid);
	s = ptbm_bump_gen(s);
	if (pool->populate)
		pool->mapgen[pid] = (uint8_t)ptbm_gen(s);
	ptbm_count(pool, PTBM_C_MISSES, 1);
	ptbm_count(pool, PTBM_C_READS, 1);
	*state = ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE);
	atomic_store_explicit(w, *state, memory_order_relaxed);
	ptbm_extent_loaded(pool, pid);
	return 0;

fail_frame : {
	struct ptbm_run run = {addr, pool->page_size};
	ptbm_region_release(&run, 1, pool->shmem_frames);
	unreserve_frame(pool);
}
fail:
	atomic_store_explicit(w, ptbm_with_tag(s, PTBM_TAG_EVICTED), memory_order_release);
	return rc;
}

/*
 * Processes mode: this process has not mapped page pid (latched by the
 * caller) since it was last loaded. Map it, and with it every resident
 * neighbour in its aligned group of MAP_GROUP pages that this process has
 * not mapped either, in one system call: the neighbours are latched shared
 * for the call (a try, never a wait), so no hole is populated. A new worker
 * process thus fills its page table a group at a time.
 */
#define MAP_GROUP 64

static int map_group(ptbm_pool *pool, uint64_t pid, uint8_t g)
{
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	uint64_t lo = pid & ~(uint64_t)(MAP_GROUP - 1), hi = lo + MAP_GROUP;
	uint64_t n_alloc = atomic_load_explicit(&pool->sh->n_alloc, memory_order_relaxed);
	if (hi > n_alloc)
		hi = n_alloc > pid ? n_alloc : pid + 1;
	uint8_t gen[MAP_GROUP];
	bool mine[MAP_GROUP] = {false}, take[MAP_GROUP] = {false};
	struct ptbm_run runs[MAP_GROUP];
	size_t k = 0, n = 0;
	for (uint64_t q = lo; q < hi; q++) {
		size_t i = q - lo;
		if (q == pid) {
			gen[i] = g;
		} else {
			_Atomic uint64_t *w = &pool->desc[q];
			uint64_t s = atomic_load_explicit(w, memory_order_relaxed),
				 tag = ptbm_tag(s);
			if (tag == PTBM_TAG_EVICTED || tag == PTBM_TAG_EXCLUSIVE ||
			    tag == PTBM_TAG_SHARED_MAX || pool->mapgen[q] == ptbm_gen(s))
				continue;
			ptbm_slot_hold(slot, 1);
			uint64_t ns = tag == PTBM_TAG_MARKED ? ptbm_with_tag(s, 2)
							     : s + (1ull << PTBM_TAG_SHIFT);
			if (!ptbm_vm_cas(w, &s, ns)) {
				ptbm_slot_hold(slot, -1);
				continue;
			}
			mine[i] = true;
			gen[i] = (uint8_t)ptbm_gen(s);
		}
		take[i] = true;
		n++;
		char *a = ptbm_page_addr(pool, q);
		if (k && (char *)runs[k - 1].addr + runs[k - 1].bytes == a) {
			runs[k - 1].bytes += pool->page_size;
		} else {
			runs[k].addr = a;
			runs[k++].bytes = pool->page_size;
		}
	}
	int rc = ptbm_region_populate_runs(runs, k);
	for (uint64_t q = lo; q < hi; q++) {
		size_t i = q - lo;
		if (rc == 0 && take[i])
			pool->mapgen[q] = gen[i];
		if (mine[i])
			ptbm_vm_unfix_shared(pool, q);
	}
	if (rc == 0)
		ptbm_slot_add(slot, PTBM_C_POPULATES, n);
	return rc;
}

/* ---- latches ----------------------------------------------------------- */

int ptbm_vm_fix_shared_slow(ptbm_pool *pool, uint64_t pid, void **page, struct ptbm_stat_slot *slot,
			    uint64_t s)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	unsigned spins = 0;
	int rc;
	for (;;) {
		uint64_t tag = ptbm_tag(s);
		if (PTBM_LIKELY(tag - 1 < PTBM_TAG_SHARED_MAX - 1)) { /* unlocked or shared */
			if (ptbm_vm_cas(w, &s, s + PTBM_VM_READER))
				break;
			continue;
		}
		if (tag == PTBM_TAG_MARKED) {
			if (ptbm_vm_cas(w, &s, ptbm_with_tag(s, 2)))
				break;
			continue;
		}
		if (tag == PTBM_TAG_EVICTED) {
			if (!ptbm_vm_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
				continue;
			rc = load_page(pool, pid, s, &s);
			if (rc < 0)
				goto fail;
			/* downgrade: we are the only holder */
			atomic_store_explicit(w, ptbm_with_tag(s, 2), memory_order_release);
			*page = ptbm_page_addr(pool, pid);
			return 0;
		}
		/* exclusive, or too many readers */
		if ((rc = ptbm_wait(pool, &spins)) < 0)
			goto fail;
		s = atomic_load_explicit(w, memory_order_relaxed);
	}
	if (ptbm_vm_unmapped(pool, pid, s))
		return ptbm_vm_fix_mapped(pool, pid, page, slot, s, false);
	ptbm_slot_add(slot, PTBM_C_HITS, 1);
	*page = ptbm_page_addr(pool, pid);
	return 0;
fail:
	ptbm_slot_hold(slot, -1);
	return rc;
}

int ptbm_vm_fix_exclusive_slow(ptbm_pool *pool, uint64_t pid, void **page,
			       struct ptbm_stat_slot *slot, uint64_t s)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	unsigned spins = 0;
	int rc;
	for (;;) {
		uint64_t tag = ptbm_tag(s);
		if (PTBM_LIKELY(tag == PTBM_TAG_UNLOCKED || tag == PTBM_TAG_MARKED)) {
			if (ptbm_vm_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
				break;
			continue;
		}
		if (tag == PTBM_TAG_EVICTED) {
			if (!ptbm_vm_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
				continue;
			rc = load_page(pool, pid, s, &s);
			if (rc < 0)
				goto fail;
			*page = ptbm_page_addr(pool, pid);
			return 0;
		}
		if ((rc = ptbm_wait(pool, &spins)) < 0)
			goto fail;
		s = atomic_load_explicit(w, memory_order_relaxed);
	}
	if (ptbm_vm_unmapped(pool, pid, s))
		return ptbm_vm_fix_mapped(pool, pid, page, slot, s, true);
	ptbm_slot_add(slot, PTBM_C_HITS, 1);
	*page = ptbm_page_addr(pool, pid);
	return 0;
fail:
	ptbm_slot_hold(slot, -1);
	return rc;
}

int ptbm_vm_fix_mapped(ptbm_pool *pool, uint64_t pid, void **page, struct ptbm_stat_slot *slot,
		       uint64_t s, bool exclusive)
{
	int rc = map_group(pool, pid, (uint8_t)ptbm_gen(s));
	if (PTBM_UNLIKELY(rc < 0)) {
		if (exclusive) {
			unlatch_unchanged(pool, pid);
			ptbm_slot_hold(slot, -1);
		} else {
			ptbm_vm_unfix_shared(pool, pid);
		}
		return rc;
	}
	ptbm_slot_add(slot, PTBM_C_HITS, 1);
	*page = ptbm_page_addr(pool, pid);
	return 0;
}

int ptbm_vm_fix_first(ptbm_pool *pool, uint64_t pid, void **page, bool exclusive)
{
	struct ptbm_stat_slot *slot = ptbm_stat_slot_slow(pool);
	if (!slot)
		return PTBM_ETOOMANY;
	ptbm_slot_hold(slot, 1);
	uint64_t s = atomic_load_explicit(&pool->desc[pid], memory_order_relaxed);
	return exclusive ? ptbm_vm_fix_exclusive_slow(pool, pid, page, slot, s)
			 : ptbm_vm_fix_shared_slow(pool, pid, page, slot, s);
}

int ptbm_vm_unfix_first(ptbm_pool *pool, uint64_t pid, bool exclusive)
{
	if (!ptbm_stat_slot_slow(pool))
		return PTBM_ETOOMANY;
	return exclusive ? ptbm_vm_unfix_exclusive(pool, pid) : ptbm_vm_unfix_shared(pool, pid);
}

int ptbm_vm_unfix_shared_slow(ptbm_pool *pool, uint64_t pid, struct ptbm_stat_slot *slot)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	for (;;) {
		uint64_t tag = ptbm_tag(s);
		if (PTBM_UNLIKELY(tag < 2 || tag > PTBM_TAG_SHARED_MAX))
			return PTBM_ENOTFIXED;
		if (atomic_compare_exchange_weak_explicit(
			w, &s, s - PTBM_VM_READER, memory_order_release, memory_order_relaxed)) {
			ptbm_slot_hold(slot, -1);
			return 0;
		}
	}
}

static int vm_mark_dirty(ptbm_pool *pool, uint64_t pid)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	if (ptbm_tag(s) != PTBM_TAG_EXCLUSIVE)
		return PTBM_ENOTFIXED;
	if (!(s & PTBM_DIRTY_BIT))
		atomic_store_explicit(w, s | PTBM_DIRTY_BIT, memory_order_relaxed);
	return 0;
}

/* ---- optimistic reads ---------------------------------------------------- */

int ptbm_vm_read_begin(ptbm_pool *pool, uint64_t pid, const void **page, uint64_t *version)
{
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	if (PTBM_UNLIKELY(!slot))
		return PTBM_ETOOMANY;
	_Atomic uint64_t *w = &pool->desc[pid];
	unsigned spins = 0;
	for (;;) {
		uint64_t s = atomic_load_explicit(w, memory_order_acquire);
		uint64_t tag = ptbm_tag(s);
		if (PTBM_UNLIKELY(tag == PTBM_TAG_EXCLUSIVE)) {
			int rc = ptbm_wait(pool, &spins);
			if (rc < 0)
				return rc;
			continue;
		}
		if (PTBM_UNLIKELY(tag == PTBM_TAG_EVICTED ||
				  (pool->populate && pool->mapgen[pid] != ptbm_gen(s)))) {
			/* load or map it under a latch, never blindly */
			void *p;
			int rc = ptbm_vm_fix_shared(pool, pid, &p);
			if (rc < 0)
				return rc;
			ptbm_vm_unfix_shared(pool, pid);
			continue;
		}
		ptbm_slot_add(slot, PTBM_C_OPTIMISTIC, 1);
		*version = ptbm_version(s);
		*page = ptbm_page_addr(pool, pid);
		return 0;
	}
}

/*
 * The caller read the page without a latch. If it was evicted meanwhile, a
 * read of its hole made shmem allocate a zero page that no one accounts
 * for: punch it again, under the latch, unless someone reloaded it first.
 */
void ptbm_vm_drop_stray(ptbm_pool *pool, uint64_t pid, uint64_t s)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	if (ptbm_vm_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE))) {
		struct ptbm_run run = {ptbm_page_addr(pool, pid), pool->page_size};
		ptbm_region_release(&run, 1, pool->shmem_frames);
		atomic_store_explicit(w, s, memory_order_release);
	}
	ptbm_slot_hold(slot, -1);
}

int ptbm_vm_read_validate(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	atomic_thread_fence(memory_order_acquire);
	uint64_t s = atomic_load_explicit(&pool->desc[pid], memory_order_relaxed);
	uint64_t tag = ptbm_tag(s);
	if (PTBM_LIKELY(tag != PTBM_TAG_EXCLUSIVE && tag != PTBM_TAG_EVICTED &&
			ptbm_version(s) == version))
		return 0;
	if (PTBM_UNLIKELY(!ptbm_slot(pool)))
		return PTBM_ERESTART; /* no read_begin can have succeeded here */
	if (tag == PTBM_TAG_EVICTED && pool->shmem_frames)
		ptbm_vm_drop_stray(pool, pid, s);
	ptbm_count(pool, PTBM_C_RESTARTS, 1);
	return PTBM_ERESTART;
}

static int vm_upgrade(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	for (;;) {
		uint64_t tag = ptbm_tag(s);
		if ((tag != PTBM_TAG_UNLOCKED && tag != PTBM_TAG_MARKED) ||
		    ptbm_version(s) != version) {
			ptbm_slot_hold(slot, -1);
			ptbm_slot_add(slot, PTBM_C_RESTARTS, 1);
			return PTBM_ERESTART;
		}
		if (ptbm_vm_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
			return 0;
	}
}

/* ---- batches: prefetch and flush -------------------------------------------- */

/*
 * Load up to PREFETCH_BATCH evicted pages with one batch of reads: latch
 * them exclusive (skipping any that are resident or latched), reserve their
 * frames, read, verify, publish them unlocked. Returns pages loaded or the
 * first error if none was.
 */
#define PREFETCH_BATCH PTBM_PREFETCH_BATCH

static int prefetch_batch_held(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	uint64_t got[PREFETCH_BATCH] = {0}, state[PREFETCH_BATCH];
	void *addr[PREFETCH_BATCH] = {0};
	int rcs[PREFETCH_BATCH];
	size_t k = 0;
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		_Atomic uint64_t *w = &pool->desc[pids[i]];
		uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
		if (ptbm_tag(s) != PTBM_TAG_EVICTED ||
		    !atomic_compare_exchange_strong(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
			continue; /* resident, or someone else is on it */
		got[k] = pids[i];
		state[k] = s;
		addr[k] = ptbm_page_addr(pool, pids[i]);
		k++;
	}
	struct ptbm_staged st;
	ptbm_file_read_start(&pool->file, got, k, &st);
	size_t framed = 0;
	for (; framed < k; framed++)
		if ((err = reserve_frame(pool)) < 0)
			break;
	prepare_frames(pool, addr, framed);
	void *dst[PREFETCH_BATCH];
	for (size_t i = 0; i < k; i++)
		dst[i] = i < framed ? addr[i] : NULL;
	if (k)
		ptbm_file_read_finish(&pool->file, &st, dst, rcs);
	for (size_t i = framed; i < k; i++) /* no frame: leave them evicted */
		atomic_store_explicit(&pool->desc[got[i]], state[i], memory_order_release);
	k = framed;
	int loaded = 0;
	struct ptbm_run bad[PREFETCH_BATCH];
	size_t n_bad = 0;
	for (size_t i = 0; i < k; i++) {
		uint64_t s = state[i];
		if (rcs[i] < 0) {
			if (!err)
				err = rcs[i];
			bad[n_bad].addr = addr[i];
			bad[n_bad++].bytes = pool->page_size;
			continue;
		}
		ptbm_resident_insert(resident_set(pool), got[i]);
		s = ptbm_bump_gen(s);
		if (pool->populate)
			pool->mapgen[got[i]] = (uint8_t)ptbm_gen(s);
		atomic_store_explicit(&pool->desc[got[i]], ptbm_with_tag(s, PTBM_TAG_UNLOCKED),
				      memory_order_release);
		loaded++;
	}
	for (size_t i = 0; i < k; i++) /* consecutive ids of one extent: once */
		if (rcs[i] >= 0 &&
		    (i + 1 == k || rcs[i + 1] < 0 ||
		     ptbm_extent_of(pool, got[i + 1]) != ptbm_extent_of(pool, got[i])))
			ptbm_extent_loaded(pool, got[i]);
	if (n_bad) {
		/* free the frames first, then let the pages be tried again */
		ptbm_region_release(bad, n_bad, pool->shmem_frames);
		for (size_t i = 0; i < k; i++)
			if (rcs[i] < 0) {
				unreserve_frame(pool);
				atomic_store_explicit(&pool->desc[got[i]], state[i],
						      memory_order_release);
			}
	}
	ptbm_count(pool, PTBM_C_READS, (uint64_t)loaded);
	return loaded ? loaded : err;
}

static int prefetch_batch(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	int rc = prefetch_batch_held(pool, pids, n);
	ptbm_slot_hold(slot, -1);
	return rc;
}

static int vm_prefetch(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	/* 8 KiB pages: one batch; larger ones: as many as the staging holds */
	size_t slots = ptbm_file_stage_slots(&pool->file);
	int loaded = 0, rc = 0;
	for (size_t at = 0; at < n && rc >= 0; at += slots) {
		rc = prefetch_batch(pool, pids + at, n - at < slots ? n - at : slots);
		loaded += rc > 0 ? rc : 0;
	}
	return loaded || rc >= 0 ? loaded : rc;
}

enum latch_try { LATCHED, GONE, BUSY, DEAD };

/* Take a shared latch of a resident page; GONE if it is (or became) evicted,
 * BUSY if it is latched exclusive and the caller may not wait. */
static enum latch_try latch_shared_resident(ptbm_pool *pool, uint64_t pid, bool wait)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	unsigned spins = 0;
	enum latch_try got;
	ptbm_slot_hold(slot, 1);
	for (;;) {
		uint64_t tag = ptbm_tag(s);
		if (tag == PTBM_TAG_EVICTED) {
			got = GONE;
			break;
		}
		if (tag - 1 < PTBM_TAG_SHARED_MAX - 1) {
			if (ptbm_vm_cas(w, &s, s + (1ull << PTBM_TAG_SHIFT)))
				return LATCHED;
			continue;
		}
		if (tag == PTBM_TAG_MARKED) {
			if (ptbm_vm_cas(w, &s, ptbm_with_tag(s, 2)))
				return LATCHED;
			continue;
		}
		if (!wait) {
			got = BUSY;
			break;
		}
		if (ptbm_wait(pool, &spins) < 0) {
			got = DEAD;
			break;
		}
		s = atomic_load_explicit(w, memory_order_relaxed);
	}
	ptbm_slot_hold(slot, -1);
	return got;
}

#define FLUSH_BATCH 64

/* Write a batch of shared-latched dirty pages, clear their bits, unlatch. */
static int flush_batch(ptbm_pool *pool, uint64_t *pids, size_t n)
{
	void *addr[FLUSH_BATCH] = {0};
	int rcs[FLUSH_BATCH] = {0};
	for (size_t i = 0; i < n; i++)
		addr[i] = ptbm_page_addr(pool, pids[i]);
	int rc = n ? ptbm_file_write_batch(&pool->file, pids, addr, n, rcs) : 0;
	uint64_t written = 0;
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] == 0) { /* on disk: clean (rule 6); a failed one stays dirty */
			atomic_fetch_and(&pool->desc[pids[i]], ~PTBM_DIRTY_BIT);
			written++;
		}
		ptbm_vm_unfix_shared(pool, pids[i]);
	}
	ptbm_count(pool, PTBM_C_WRITES, written);
	return rc;
}

static int vm_flush(ptbm_pool *pool)
{
	struct ptbm_resident *rs = resident_set(pool);
	uint64_t batch[FLUSH_BATCH];
	size_t n = 0;
	int rc = 0;
	uint64_t end = atomic_load(&pool->sh->n_alloc);
	for (uint64_t pid = ptbm_resident_next(rs, 0, end); pid != UINT64_MAX && rc == 0;
	     pid = ptbm_resident_next(rs, pid + 1, end)) {
		if (!(atomic_load_explicit(&pool->desc[pid], memory_order_relaxed) &
		      PTBM_DIRTY_BIT))
			continue;
		enum latch_try got = latch_shared_resident(pool, pid, n == 0);
		if (got == BUSY) {
			/* never wait while holding latches: write what we hold first */
			rc = flush_batch(pool, batch, n);
			n = 0;
			if (rc < 0)
				break;
			got = latch_shared_resident(pool, pid, true);
		}
		if (got == DEAD) {
			rc = PTBM_EOWNERDEAD;
			break;
		}
		if (got == GONE)
			continue; /* evicted meanwhile: its evictor wrote it */
		if (!(atomic_load(&pool->desc[pid]) & PTBM_DIRTY_BIT)) {
			ptbm_vm_unfix_shared(pool, pid);
			continue;
		}
		batch[n++] = pid;
		if (n == FLUSH_BATCH) {
			rc = flush_batch(pool, batch, n);
			n = 0;
		}
	}
	if (n && rc == 0)
		rc = flush_batch(pool, batch, n);
	else
		for (size_t i = 0; i < n; i++)
			ptbm_vm_unfix_shared(pool, batch[i]);
	return rc;
}

/* ---- set-up -------------------------------------------------------------- */

static uint64_t vm_area_bytes(const struct ptbm_shared *sh)
{
	return ptbm_resident_bytes(sh->max_pages);
}

static int vm_init(ptbm_pool *pool, bool creator)
{
	if (creator)
		ptbm_resident_init(resident_set(pool), pool->sh->max_pages);
	return 0;
}

static void vm_fini(ptbm_pool *pool, bool creator)
{
	(void)pool;
	(void)creator;
}

const struct ptbm_engine_ops ptbm_vm_ops = {
    .fix_shared = ptbm_vm_fix_shared,
    .fix_exclusive = ptbm_vm_fix_exclusive,
    .unfix_shared = ptbm_vm_unfix_shared,
    .unfix_exclusive = ptbm_vm_unfix_exclusive,
    .mark_dirty = vm_mark_dirty,
    .read_begin = ptbm_vm_read_begin,
    .read_validate = ptbm_vm_read_validate,
    .upgrade = vm_upgrade,
    .prefetch = vm_prefetch,
    .flush = vm_flush,
    .area_bytes = vm_area_bytes,
    .init = vm_init,
    .fini = vm_fini,
};
