/*
 * api.c - the public entry points: argument checks, then the engine.
 *
 * Every call checks what a caller can get wrong and returns an error instead
 * of crashing, by one rule (include/ptbm.h): a NULL pool or pointer is
 * -EINVAL, checked first; then a page id beyond max_pages, or bytes beyond
 * the page, PTBM_ERANGE. The engine checks the rest (latch misuse,
 * unallocated pages). The vm engine
 * is called directly rather than through its method table so that the hit
 * path has no indirect call.
 */
#include "vm/hit.h"

#include "core/datafile.h"
#include "vm/latch_wait.h"

#include <errno.h>
#include <string.h>

#define CHECK_PAGE(pool, pid)                                                                      \
	do {                                                                                       \
		if (PTBM_UNLIKELY(!(pool)))                                                        \
			return -EINVAL;                                                            \
		if (PTBM_UNLIKELY((pid) >= (pool)->max_pages))                                     \
			return PTBM_ERANGE;                                                        \
	} while (0)

/* Calls that latch, wait or count need the thread's slot (stats.c); the vm
 * engine's latch calls check it themselves. */
#define NEED_SLOT(pool)                                                                            \
	do {                                                                                       \
		if (PTBM_UNLIKELY(!ptbm_slot(pool)))                                               \
			return PTBM_ETOOMANY;                                                      \
	} while (0)

/* The baseline engines, out of line: the vm hit path saves no register
 * for them. */
static __attribute__((noinline)) int engine_fix(ptbm_pool *pool, uint64_t pid, void **page,
						bool exclusive)
{
	NEED_SLOT(pool);
	return pool->ops->fix(pool, pid, page, exclusive);
}

static __attribute__((noinline)) int engine_unfix(ptbm_pool *pool, uint64_t pid, bool exclusive)
{
	return pool->ops->unfix(pool, pid, exclusive);
}

/* The checks, then the vm engine's hit path, inlined (exclusive is a
 * constant in each entry point below), or the engine. */
static inline __attribute__((always_inline)) int fix(ptbm_pool *pool, uint64_t pid, void **page,
						     bool exclusive)
{
	if (PTBM_UNLIKELY(!page))
		return -EINVAL;
	CHECK_PAGE(pool, pid);
	if (PTBM_LIKELY(pool->engine == PTBM_ENGINE_VM))
		return ptbm_vm_fix(pool, pid, page, exclusive);
	return engine_fix(pool, pid, page, exclusive);
}

static inline __attribute__((always_inline)) int unfix(ptbm_pool *pool, uint64_t pid,
						       bool exclusive)
{
	CHECK_PAGE(pool, pid);
	if (PTBM_LIKELY(pool->engine == PTBM_ENGINE_VM))
		return exclusive ? ptbm_vm_unfix_exclusive(pool, pid)
				 : ptbm_vm_unfix_shared(pool, pid);
	return engine_unfix(pool, pid, exclusive);
}

int ptbm_fix_shared(ptbm_pool *pool, uint64_t pid, void **page)
{
	return fix(pool, pid, page, false);
}

int ptbm_fix_exclusive(ptbm_pool *pool, uint64_t pid, void **page)
{
	return fix(pool, pid, page, true);
}

int ptbm_unfix_shared(ptbm_pool *pool, uint64_t pid)
{
	return unfix(pool, pid, false);
}

int ptbm_unfix_exclusive(ptbm_pool *pool, uint64_t pid)
{
	return unfix(pool, pid, true);
}

int ptbm_mark_dirty(ptbm_pool *pool, uint64_t pid)
{
	CHECK_PAGE(pool, pid);
	return pool->ops->mark_dirty(pool, pid);
}

int ptbm_read_begin(ptbm_pool *pool, uint64_t pid, const void **page, uint64_t *version)
{
	if (PTBM_UNLIKELY(!page || !version))
		return -EINVAL;
	CHECK_PAGE(pool, pid);
	if (PTBM_LIKELY(pool->engine == PTBM_ENGINE_VM))
		return ptbm_vm_read_begin(pool, pid, page, version);
	NEED_SLOT(pool);
	return pool->ops->read_begin(pool, pid, page, version);
}

int ptbm_read_validate(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	CHECK_PAGE(pool, pid);
	if (PTBM_LIKELY(pool->engine == PTBM_ENGINE_VM))
		return ptbm_vm_read_validate(pool, pid, version);
	NEED_SLOT(pool);
	return pool->ops->read_validate(pool, pid, version);
}

#if defined(__SANITIZE_THREAD__)
/* An optimistic copy races with writers by design; validation discards it. */
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define RACY_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define RACY_END()   AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define RACY_BEGIN() ((void)0)
#define RACY_END()   ((void)0)
#endif

int ptbm_read(ptbm_pool *pool, uint64_t pid, size_t offset, void *buf, size_t len)
{
	if (!buf)
		return -EINVAL;
	CHECK_PAGE(pool, pid);
	if (offset > ptbm_page_usable(pool) || len > ptbm_page_usable(pool) - offset)
		return PTBM_ERANGE;
	NEED_SLOT(pool);
	for (;;) {
		const void *p;
		uint64_t v;
		int rc = pool->ops->read_begin(pool, pid, &p, &v);
		if (rc < 0)
			return rc;
		RACY_BEGIN();
		memcpy(buf, (const char *)p + offset, len);
		RACY_END();
		rc = pool->ops->read_validate(pool, pid, v);
		if (rc != PTBM_ERESTART)
			return rc;
	}
}

int ptbm_upgrade(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	CHECK_PAGE(pool, pid);
	NEED_SLOT(pool);
	return pool->ops->upgrade(pool, pid, version);
}

int ptbm_alloc(ptbm_pool *pool, uint64_t count, uint64_t *first)
{
	if (!pool || !first || count == 0)
		return -EINVAL;
	if (pool->ops->on_alloc)
		NEED_SLOT(pool); /* the engine may wait (mmap: to extend the file) */
	_Atomic uint64_t *n = &pool->sh->n_alloc;
	uint64_t cur = atomic_load(n);
	do {
		if (count > pool->max_pages - cur)
			return PTBM_EFULL;
		/* e.g. mmap: the file must cover the pages before anyone can touch them */
		int rc = pool->ops->on_alloc ? pool->ops->on_alloc(pool, cur, count) : 0;
		if (rc < 0)
			return rc;
	} while (!atomic_compare_exchange_weak(n, &cur, cur + count));
	*first = cur;
	return 0;
}

int ptbm_prefetch(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	if (!pool || (!pids && n) || n > INT_MAX) /* the count returned is an int */
		return -EINVAL;
	uint64_t n_alloc = atomic_load_explicit(&pool->sh->n_alloc, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (pids[i] >= n_alloc)
			return PTBM_ERANGE;
	NEED_SLOT(pool);
	/* engines take PTBM_PREFETCH_BATCH pages at a time */
	int loaded = 0;
	for (size_t at = 0; at < n; at += PTBM_PREFETCH_BATCH) {
		size_t k = n - at < PTBM_PREFETCH_BATCH ? n - at : PTBM_PREFETCH_BATCH;
		int rc = pool->ops->prefetch(pool, pids + at, k);
		if (rc < 0)
			return loaded ? loaded : rc;
		loaded += rc;
	}
	return loaded;
}

int ptbm_flush(ptbm_pool *pool)
{
	if (!pool)
		return -EINVAL;
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	if (PTBM_UNLIKELY(!slot))
		return PTBM_ETOOMANY;
	int rc = pool->ops->flush(pool);
	if (rc < 0)
		return rc;
	/* one committer at a time: the header must not go backwards */
	unsigned spins = 0;
	uint32_t zero = 0;
	ptbm_slot_hold(slot, 1); /* the flush lock counts as a latch */
	while (!atomic_compare_exchange_weak(&pool->sh->flush_lock, &zero, 1)) {
		zero = 0;
		if ((rc = ptbm_wait(pool, &spins)) < 0)
			goto out;
	}
	rc = ptbm_file_commit(&pool->file, atomic_load(&pool->sh->n_alloc));
	atomic_store(&pool->sh->flush_lock, 0);
out:
	ptbm_slot_hold(slot, -1);
	return rc;
}

int ptbm_health(ptbm_pool *pool)
{
	if (!pool)
		return -EINVAL;
	return ptbm_check_owners(pool);
}

size_t ptbm_page_usable(const ptbm_pool *pool)
{
	return pool ? pool->page_size - PTBM_PAGE_TRAILER : 0;
}

uint32_t ptbm_page_size(const ptbm_pool *pool)
{
	return pool ? pool->page_size : 0;
}

uint64_t ptbm_max_pages(const ptbm_pool *pool)
{
	return pool ? pool->max_pages : 0;
}

int ptbm_engine_of(const ptbm_pool *pool)
{
	return pool ? (int)pool->engine : -EINVAL;
}

int ptbm_share_of(const ptbm_pool *pool)
{
	return pool ? (int)pool->share : -EINVAL;
}

int ptbm_direct_io(const ptbm_pool *pool)
{
	return pool ? pool->file.direct : -EINVAL;
}

const char *ptbm_engine_name(enum ptbm_engine e)
{
	static const char *const names[] = {"vm", "hash", "mmap"};
	return (unsigned)e < 3 ? names[e] : NULL;
}

const char *ptbm_share_name(enum ptbm_share s)
{
	static const char *const names[] = {"threads", "processes"};
	return (unsigned)s < 2 ? names[s] : NULL;
}

const char *ptbm_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case PTBM_EINVAL_CONFIG:
		return "invalid configuration (page size, sizes, budget or name)";
	case PTBM_ERANGE:
		return "page id out of range (beyond the allocated pages or max_pages)";
	case PTBM_ENOTFIXED:
		return "page is not latched that way";
	case PTBM_ECHECKSUM:
		return "page failed its checksum: torn or corrupted on disk";
	case PTBM_EBADFILE:
		return "data file is not a ptbm data file, or its header is damaged";
	case PTBM_ETRUNCATED:
		return "data file is truncated: shorter than its header says, or emptied";
	case PTBM_ELAYOUT:
		return "page size, layout version or kind of pool differs";
	case PTBM_ERESTART:
		return "optimistic read invalidated: restart it";
	case PTBM_ENOSUPPORT:
		return "not supported by this engine or mode";
	case PTBM_EBUSY:
		return "no frame can be freed: every resident page is latched";
	case PTBM_EFULL:
		return "pool is full: max_pages already allocated";
	case PTBM_EOWNERDEAD:
		return "a process died holding a latch";
	case PTBM_EIO_SHORT:
		return "short read or write on the data file";
	case PTBM_ETOOMANY:
		return "too many threads use the pool at once (max_threads)";
	case PTBM_EINUSE:
		return "the data file is open in another pool";
	case PTBM_EFOLIO:
		return "shmem folios larger than a page (transparent_hugepage settings): "
		       "released pages would not be freed";
	default:
		if (err < 0 && err > -4096)
			return strerror(-err);
		return "unknown error";
	}
}
