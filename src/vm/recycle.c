/*
 * recycle.c - frames recycled instead of freed: threads mode, private
 * frames.
 *
 * A miss in a pool at its budget paid twice for memory the process already
 * had: the victim's page went back to the kernel (MADV_DONTNEED: its PTE
 * zapped, the TLB flushed, the page freed) and the new frame took a fresh
 * one (MADV_POPULATE_WRITE: a page allocated, zeroed, charged, mapped). In
 * private memory the kernel can move a page from one address to another
 * instead (core/region.c, ptbm_region_move): the PTE moves, the page stays.
 * On a nested-paging host one move of an 8 KiB page took 1.5-1.9 us, a
 * release and a populate of one 7.0-7.8 us (docs/bench.md, "Frames
 * recycled").
 *
 * So a victim's page is moved into a slot of this process's spare area
 * when it is evicted, and a miss's frame takes a page from there instead of
 * populating one. The page still holds the victim's bytes until the load
 * overwrites all of them: a load writes the whole frame, the page read or
 * zeros past the file's end, and a failed load releases its frame.
 *
 * Better still, a miss that needs a victim anyway has its victim's page
 * moved straight into its own frame (vm/load.c, ptbm_vm_hand_over_for;
 * vm/evict.c, ptbm_vm_evict_into): one move a miss instead of two, the
 * frame taking over the victim's count in the budget. Spares remain for
 * the victims no miss is waiting for: a whole batch evicted when the
 * budget is full, and a releaser's.
 *
 * The budget: a spare is a free frame of the budget that holds memory. It
 * comes only from an eviction, which gives its frame back to the budget
 * after the move, and goes only to a frame that was reserved, so pages in
 * memory = frames in use + spares <= the budget. There are at most `cap`
 * spares (an eviction batch, at most 8 MiB of them); a victim that finds
 * no empty slot is released as before, and so is one the kernel will not
 * move (shared with a forked child until one side writes it).
 *
 * Where not: shmem frames (a shmem page belongs to its offset in the
 * object: only private anonymous pages move), a kernel before Linux 6.8 or
 * a process without userfaultfd (seccomp, a sandbox), and a forked child
 * (the mover is bound to the parent's address space, so the pool's fork
 * handler drops the child's spares, as it resets its other per-process
 * state): those release and populate.
 */
#include "vm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define SPARE_AREA_MAX (8u << 20)

struct ptbm_vm_spares {
	int mover;  /* this process's userfaultfd (core/region.c) */
	char *area; /* cap slots of page_size bytes, private, registered */
	uint32_t cap;
	pthread_mutex_t mu;	/* guards the two stacks */
	uint32_t n_full;	/* slots holding a page: full[0, n_full) */
	uint32_t n_empty;	/* slots holding none: empty[0, n_empty) */
	uint32_t *full, *empty; /* a slot in flight is on neither */
	_Atomic uint64_t moves; /* move calls made, for tests */
};

static char *slot_addr(const ptbm_pool *pool, const struct ptbm_vm_spares *sp, uint32_t i)
{
	return sp->area + (uint64_t)i * pool->page_size;
}

static void spares_free(ptbm_pool *pool, struct ptbm_vm_spares *sp)
{
	if (sp->area)
		munmap(sp->area, (size_t)sp->cap * pool->page_size);
	if (sp->mover >= 0)
		close(sp->mover);
	pthread_mutex_destroy(&sp->mu);
	free(sp->full);
	free(sp);
}

int ptbm_vm_spares_init(ptbm_pool *pool)
{
	if (pool->share != PTBM_SHARE_THREADS || pool->shmem_frames)
		return 0;
	uint64_t cap = pool->sh->evict_batch;
	if (cap > SPARE_AREA_MAX / pool->page_size)
		cap = SPARE_AREA_MAX / pool->page_size;
	if (cap == 0)
		return 0;
	struct ptbm_vm_spares *sp = calloc(1, sizeof *sp);
	if (!sp)
		return -ENOMEM;
	sp->mover = -1;
	sp->cap = (uint32_t)cap;
	pthread_mutex_init(&sp->mu, NULL);
	sp->full = calloc(2 * cap, sizeof *sp->full);
	if (!sp->full) {
		spares_free(pool, sp);
		return -ENOMEM;
	}
	sp->empty = sp->full + cap;
	for (uint32_t i = 0; i < sp->cap; i++)
		sp->empty[sp->n_empty++] = sp->cap - 1 - i;
	size_t bytes = (size_t)cap * pool->page_size;
	void *area = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sp->area = area == MAP_FAILED ? NULL : area;
	sp->mover = ptbm_region_mover_open();
	/* moves go into both: the spare area and the frames */
	if (!sp->area || sp->mover < 0 ||
	    ptbm_region_mover_register(sp->mover, sp->area, bytes) < 0 ||
	    ptbm_region_mover_register(sp->mover, pool->data,
				       pool->max_pages * (uint64_t)pool->page_size) < 0) {
		spares_free(pool, sp); /* not here: release and populate */
		return 0;
	}
	pool->spares = sp;
	return 0;
}

void ptbm_vm_spares_fini(ptbm_pool *pool)
{
	struct ptbm_vm_spares *sp = pool->spares;
	if (!sp)
		return;
	pool->spares = NULL;
	spares_free(pool, sp);
}

void ptbm_vm_spares_after_fork(ptbm_pool *pool)
{
	/* the child's copies of the spares are its memory: given back; the
	 * mover moves the parent's pages, so the child closes it */
	ptbm_vm_spares_fini(pool);
}

static bool pop(struct ptbm_vm_spares *sp, uint32_t *from, uint32_t *n, uint32_t *slot)
{
	pthread_mutex_lock(&sp->mu);
	bool got = *n > 0;
	if (got)
		*slot = from[--*n];
	pthread_mutex_unlock(&sp->mu);
	return got;
}

static void push(struct ptbm_vm_spares *sp, uint32_t *to, uint32_t *n, uint32_t slot)
{
	pthread_mutex_lock(&sp->mu);
	to[(*n)++] = slot;
	pthread_mutex_unlock(&sp->mu);
}

static int move(ptbm_pool *pool, void *dst, void *src)
{
	struct ptbm_vm_spares *sp = pool->spares;
	atomic_fetch_add_explicit(&sp->moves, 1, memory_order_relaxed);
	return ptbm_region_move(sp->mover, dst, src, pool->page_size);
}

/* Move the page of the frame at addr into an empty slot; false: release it. */
static bool keep(ptbm_pool *pool, struct ptbm_vm_spares *sp, void *addr)
{
	uint32_t slot;
	if (!pop(sp, sp->empty, &sp->n_empty, &slot))
		return false;
	char *to = slot_addr(pool, sp, slot);
	if (move(pool, to, addr) < 0) {
		/* whatever moved goes back to the kernel; the frame is released */
		madvise(to, pool->page_size, MADV_DONTNEED);
		push(sp, sp->empty, &sp->n_empty, slot);
		return false;
	}
	push(sp, sp->full, &sp->n_full, slot);
	return true;
}

size_t ptbm_vm_spares_keep(ptbm_pool *pool, uint64_t *pids, size_t n, uint64_t *rest,
			   size_t *n_rest)
{
	struct ptbm_vm_spares *sp = pool->spares;
	size_t kept = 0;
	*n_rest = 0;
	for (size_t i = 0; i < n; i++) {
		if (sp && keep(pool, sp, ptbm_page_addr(pool, pids[i])))
			pids[kept++] = pids[i];
		else
			rest[(*n_rest)++] = pids[i];
	}
	return kept;
}

/* Move one page into the frame at dst, which holds none but perhaps a
 * stray zero page an optimistic reader left there. */
static int move_into(ptbm_pool *pool, void *dst, void *src)
{
	int rc = move(pool, dst, src);
	if (rc == -EEXIST) {
		madvise(dst, pool->page_size, MADV_DONTNEED);
		rc = move(pool, dst, src);
	}
	return rc;
}

bool ptbm_vm_spares_take(ptbm_pool *pool, void *addr)
{
	struct ptbm_vm_spares *sp = pool->spares;
	uint32_t slot;
	if (!sp || !pop(sp, sp->full, &sp->n_full, &slot))
		return false;
	char *from = slot_addr(pool, sp, slot);
	int rc = move_into(pool, addr, from);
	if (rc < 0)
		/* a page the kernel will not move (shared with a fork): freed;
		 * what did move stays in the frame, which the caller populates */
		madvise(from, pool->page_size, MADV_DONTNEED);
	push(sp, sp->empty, &sp->n_empty, slot);
	return rc == 0;
}

bool ptbm_vm_hands_over(const ptbm_pool *pool)
{
	return pool->spares != NULL;
}

bool ptbm_vm_hand_over(ptbm_pool *pool, void *dst, void *victim)
{
	/* a page that will not move stays in the victim's frame, released
	 * there; what did move stays in dst, which the caller populates */
	return pool->spares && move_into(pool, dst, victim) == 0;
}

uint64_t ptbm_vm_spares_held(ptbm_pool *pool)
{
	struct ptbm_vm_spares *sp = pool->spares;
	if (!sp)
		return 0;
	pthread_mutex_lock(&sp->mu);
	uint64_t n = sp->n_full;
	pthread_mutex_unlock(&sp->mu);
	return n;
}

uint64_t ptbm_vm_moves(ptbm_pool *pool)
{
	struct ptbm_vm_spares *sp = pool->spares;
	return sp ? atomic_load_explicit(&sp->moves, memory_order_relaxed) : 0;
}
