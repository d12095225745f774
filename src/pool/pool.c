/*
 * pool.c - creating, attaching and closing pools.
 *
 * A pool is one region of memory laid out as:
 *
 *   0          off_stats      off_desc         off_written   off_engine   off_data
 *   [ control | stats slots  | state words    | written set | engine area| pages ...
 *     block   | max_threads  | max_pages x 8 B| 1 bit per   | (resident  | max_pages x
 *             | x 128 B      |                | page        |  set, ...) | page_size
 *
 * reserved with MAP_NORESERVE, so only what is touched costs memory: a
 * 1 TiB pool of 8 KiB pages reserves 1 GiB of state words and touches the
 * 4 KiB of them that hold the pages in use.
 *
 *   threads mode:   MAP_SHARED | MAP_ANONYMOUS, so that huge extents can be
 *                   collapsed and evicted pages freed (vm/extent.c);
 *                   MAP_PRIVATE | MAP_ANONYMOUS with PTBM_NO_HUGE, and for
 *                   a pool that evicts from the start (evicts_from_the_start)
 *   processes mode: MAP_SHARED | MAP_ANONYMOUS (inherited by fork), or a
 *                   POSIX shm object when the pool has a name (attachable)
 * The mapping starts on a 2 MiB boundary and page 0 too (core/region.c).
 *
 * The creator fills the control block and sets its magic last; an attacher
 * checks the magic and the layout version before trusting anything else.
 *
 * fork(): the child inherits the shared mappings but none of their page
 * table entries (the kernel does not copy PTEs of shared memory), and it
 * inherits the parent's thread-local statistics slot and private mapgen
 * array. A pthread_atfork handler resets both for every open pool.
 */
#include "pool/pool.h"

#include "core/folios.h"
#include "core/pageset.h"
#include "core/region.h"
#include "registry/threads.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024ull * 1024)

static _Atomic uint64_t next_serial = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* In a forked child, for each pool open in it. */
static void pool_after_fork(ptbm_pool *p)
{
	p->creator = false; /* the child never releases the parent's pool */
	p->minflt0 = p->majflt0 = 0;
	if (p->mapgen) /* no PTEs came along: forget what the parent mapped */
		madvise(p->mapgen, p->max_pages, MADV_DONTNEED);
	atomic_fetch_add(&p->sh->n_procs, 1);
	if (p->ops->after_fork)
		p->ops->after_fork(p);
}

static void after_fork_child(void)
{
	ptbm_threads_after_fork();
	ptbm_io_after_fork();
	ptbm_threads_each_pool(pool_after_fork);
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, after_fork_child);
}

static void pool_register(ptbm_pool *pool)
{
	pthread_once(&atfork_once, register_atfork);
	ptbm_threads_add_pool(pool);
}

int ptbm_config_init(struct ptbm_config *cfg)
{
	if (!cfg)
		return -EINVAL;
	memset(cfg, 0, sizeof *cfg);
	cfg->struct_size = sizeof *cfg;
	cfg->engine = PTBM_ENGINE_VM;
	cfg->share = PTBM_SHARE_THREADS;
	cfg->page_size = 8192;
	cfg->max_pages = (1ull << 40) / 8192;
	cfg->budget_bytes = 1ull << 30;
	cfg->evict_batch = 64;
	cfg->direct = PTBM_DIRECT_AUTO;
	cfg->flags = PTBM_CREATE;
	cfg->max_threads = PTBM_DEFAULT_MAX_THREADS;
	return 0;
}

static const struct ptbm_engine_ops *engine_ops(enum ptbm_engine e)
{
	switch (e) {
	case PTBM_ENGINE_VM:
		return &ptbm_vm_ops;
	case PTBM_ENGINE_HASH:
		return &ptbm_hash_ops;
	case PTBM_ENGINE_MMAP:
		return &ptbm_mmap_ops;
	default:
		return NULL;
	}
}

static int check_config(const struct ptbm_config *cfg)
{
	if (cfg->struct_size != sizeof *cfg)
		return PTBM_EINVAL_CONFIG; /* not filled by ptbm_config_init */
	if (!cfg->data_path || !cfg->data_path[0])
		return PTBM_EINVAL_CONFIG;
	if (cfg->page_size < 4096 || cfg->page_size % 4096 || cfg->page_size > (1u << 24))
		return PTBM_EINVAL_CONFIG;
	if (cfg->max_pages == 0 || cfg->max_pages > (1ull << 47) / cfg->page_size)
		return PTBM_EINVAL_CONFIG; /* the range must fit the 128 TiB address space */
	if (cfg->evict_batch == 0 || cfg->evict_batch > 4096)
		return PTBM_EINVAL_CONFIG;
	if (cfg->budget_bytes / cfg->page_size < cfg->evict_batch)
		return PTBM_EINVAL_CONFIG; /* the budget must hold at least one batch */
	if (cfg->share != PTBM_SHARE_THREADS && cfg->share != PTBM_SHARE_PROCESSES)
		return PTBM_EINVAL_CONFIG;
	if (cfg->name && (cfg->share != PTBM_SHARE_PROCESSES || cfg->name[0] != '/' ||
			  strchr(cfg->name + 1, '/') || strlen(cfg->name) > 200))
		return PTBM_EINVAL_CONFIG;
	if ((unsigned)cfg->direct > PTBM_DIRECT_OFF)
		return PTBM_EINVAL_CONFIG;
	if (cfg->flags &
	    ~(PTBM_CREATE | PTBM_TRUNCATE | PTBM_NO_POPULATE | PTBM_NO_HUGE | PTBM_BACKGROUND))
		return PTBM_EINVAL_CONFIG;
	if (cfg->max_threads == 0 || cfg->max_threads > PTBM_MAX_THREADS_LIMIT)
		return PTBM_EINVAL_CONFIG;
	if (!engine_ops(cfg->engine))
		return PTBM_ENOSUPPORT;
	return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

static void fault_baseline(ptbm_pool *pool)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	pool->minflt0 = ru.ru_minflt;
	pool->majflt0 = ru.ru_majflt;
}

static struct ptbm_pageset *written_set(ptbm_pool *pool)
{
	return (struct ptbm_pageset *)(pool->region + pool->sh->off_written);
}

/* Map the pool's region (from its shm object, if it has one). */
static int map_region(ptbm_pool *pool, uint64_t bytes, bool shared)
{
	pool->region_bytes = bytes;
	pool->region = ptbm_region_reserve(bytes, shared, pool->shm_fd, 0);
	if (!pool->region)
		return -errno;
	pool->sh = (struct ptbm_shared *)pool->region;
	return 0;
}

/*
 * Whether the region is shmem (shared anonymous memory or a shm object):
 * always in processes mode; in threads mode when its extents may be
 * collapsed, because a page released out of a private huge page is not
 * freed until memory pressure splits it, while a hole punched in shmem is
 * freed at once. With PTBM_NO_HUGE threads mode keeps private memory, whose
 * release costs less on a nested-paging host (docs/bench.md).
 */
static bool frames_are_shmem(enum ptbm_share share, enum ptbm_engine engine, uint32_t flags)
{
	return share == PTBM_SHARE_PROCESSES ||
	       (engine == PTBM_ENGINE_VM && !(flags & PTBM_NO_HUGE));
}

/*
 * A threads-mode vm pool whose data file already holds more pages than its
 * budget will evict, and a pool at its budget never collapses an extent
 * (vm/extent.c): it opens as with PTBM_NO_HUGE, in private memory, where a
 * miss's new frame and an eviction's release cost less than in shmem (on a
 * nested-paging host a batch of misses took 0.7x the time: docs/bench.md,
 * "Private or shared frames").
 */
static bool evicts_from_the_start(const struct ptbm_config *cfg, uint64_t n_pages)
{
	return cfg->share == PTBM_SHARE_THREADS && cfg->engine == PTBM_ENGINE_VM &&
	       n_pages > cfg->budget_bytes / cfg->page_size;
}

/*
 * The advice a vm pool's shmem frames need from the transparent_hugepage
 * settings (core/folios.h). A named pool's object is a file in /dev/shm,
 * shm_open's folder; the others are anonymous shmem. The other engines
 * never release a frame: no advice.
 *   FRAMES_BASE  folios larger than a page: a release would not free
 *                them, so the budget would not hold; base pages instead;
 *   FRAMES_PAGE  folios of up to the page's size, larger than now, in a
 *                mapping that asks (a size at advise): one folio a page
 *                costs the kernel less per miss and eviction.
 */
enum frame_advice { FRAMES_AS_THEY_ARE, FRAMES_BASE, FRAMES_PAGE };

static enum frame_advice frame_advice(enum ptbm_engine engine, bool named, uint32_t page_size)
{
	if (engine != PTBM_ENGINE_VM)
		return FRAMES_AS_THEY_ARE;
	struct ptbm_thp_source src = ptbm_thp_system();
	uint64_t plain = ptbm_shmem_folio_max(src, !named, false, "/dev/shm", NULL, 0);
	uint64_t asked = ptbm_shmem_folio_max(src, !named, true, "/dev/shm", NULL, 0);
	if (plain > page_size)
		return FRAMES_BASE;
	return asked > plain && asked <= page_size ? FRAMES_PAGE : FRAMES_AS_THEY_ARE;
}

/*
 * Advise this process's mapping of the frames; a fork inherits the advice.
 * FRAMES_BASE: MADV_NOHUGEPAGE, after which its faults allocate base pages
 * whatever the settings say (mm/shmem.c asks the mapping first); a kernel
 * that refuses it cannot keep the frames in base pages: PTBM_EFOLIO.
 * FRAMES_PAGE: MADV_HUGEPAGE, which only adds folios no larger than a page
 * (a kernel that refuses it leaves base pages: fine).
 */
static int advise_frames(ptbm_pool *pool, enum frame_advice advice)
{
	uint64_t bytes = pool->sh->max_pages * pool->sh->page_size;
	char *frames = pool->region + pool->sh->off_data;
	if (advice == FRAMES_BASE && madvise(frames, bytes, MADV_NOHUGEPAGE) < 0)
		return PTBM_EFOLIO;
	if (advice == FRAMES_PAGE)
		(void)madvise(frames, bytes, MADV_HUGEPAGE);
	return 0;
}

/* Point the handle's fields at the region described by pool->sh. */
static int bind_region(ptbm_pool *pool)
{
	struct ptbm_shared *sh = pool->sh;
	pool->slots = (struct ptbm_stat_slot *)(pool->region + sh->off_stats);
	pool->desc = (_Atomic uint64_t *)(pool->region + sh->off_desc);
	pool->engine_area = pool->region + sh->off_engine;
	pool->data = pool->region + sh->off_data;
	pool->max_pages = sh->max_pages;
	pool->page_size = sh->page_size;
	pool->page_shift = (sh->page_size & (sh->page_size - 1)) ? 0 : __builtin_ctz(sh->page_size);
	pool->engine = (enum ptbm_engine)sh->engine;
	pool->share = (enum ptbm_share)sh->share;
	pool->ops = engine_ops(pool->engine);
	pool->serial = atomic_fetch_add(&next_serial, 1);
	pool->populate = pool->share == PTBM_SHARE_PROCESSES && pool->engine == PTBM_ENGINE_VM &&
			 !(sh->flags & PTBM_NO_POPULATE);
	/* huge extents: whole pages per extent, at least two of them */
	pool->huge = pool->engine == PTBM_ENGINE_VM && !(sh->flags & PTBM_NO_HUGE) &&
		     pool->page_shift && sh->page_size < PTBM_EXTENT_BYTES;
	pool->extent_pages = pool->huge ? PTBM_EXTENT_BYTES / sh->page_size : 0;
	pool->shmem_frames = frames_are_shmem(pool->share, pool->engine, sh->flags);
	if (!pool->ops)
		return PTBM_ENOSUPPORT;
	if (pool->populate) {
		pool->mapgen = ptbm_region_reserve(pool->max_pages, false, -1, 0);
		if (!pool->mapgen)
			return -ENOMEM;
		/* a hit reads its page's byte: 2 MiB entries for them too (the
		 * bytes of 256 Ki pages each, allocated where first touched) */
		if (pool->huge)
			madvise(pool->mapgen, pool->max_pages, MADV_HUGEPAGE);
	}
	fault_baseline(pool);
	return 0;
}

static void pool_free(ptbm_pool *pool)
{
	if (pool->mapgen)
		ptbm_region_unmap(pool->mapgen, pool->max_pages);
	if (pool->region)
		ptbm_region_unmap(pool->region, pool->region_bytes);
	ptbm_file_close(&pool->file);
	if (pool->shm_fd >= 0)
		close(pool->shm_fd);
	free(pool->name);
	free(pool);
}

static ptbm_pool *pool_alloc(void)
{
	ptbm_pool *pool = calloc(1, sizeof *pool);
	if (pool) {
		pool->shm_fd = -1;
		pool->file.fd = -1;
	}
	return pool;
}

int ptbm_open(const struct ptbm_config *cfg, ptbm_pool **out)
{
	if (!cfg || !out)
		return -EINVAL;
	int rc = check_config(cfg);
	if (rc < 0)
		return rc;
	*out = NULL;
	ptbm_pool *pool = pool_alloc();
	if (!pool)
		return -ENOMEM;

	char path[PATH_MAX];
	uint64_t n_pages = 0;
	rc = ptbm_file_open(&pool->file, cfg->data_path, cfg->page_size, cfg->flags, cfg->direct,
			    &n_pages);
	if (rc < 0)
		goto fail;
	if (!realpath(cfg->data_path, path)) {
		rc = -errno;
		goto fail;
	}
	if (n_pages > cfg->max_pages) {
		rc = PTBM_EINVAL_CONFIG; /* the file holds more than max_pages */
		goto fail;
	}
	rc = ptbm_file_trim(&pool->file, n_pages); /* uncommitted pages: new ones read as zeros */
	if (rc < 0)
		goto fail;

	uint32_t flags = cfg->flags;
	if (evicts_from_the_start(cfg, n_pages))
		flags |= PTBM_NO_HUGE;
	/* shmem frames that faults could give folios larger than a page:
	 * threads mode keeps its frames in private memory instead, processes
	 * mode (nothing else to share) keeps them in base pages below; either
	 * way without huge extents, which MADV_NOHUGEPAGE forbids. Frames that
	 * get folios of the page's size only by asking ask below. */
	enum frame_advice advice = FRAMES_AS_THEY_ARE;
	if (frames_are_shmem(cfg->share, cfg->engine, flags))
		advice = frame_advice(cfg->engine, cfg->name != NULL, cfg->page_size);
	if (advice == FRAMES_BASE) {
		flags |= PTBM_NO_HUGE;
		if (cfg->share == PTBM_SHARE_THREADS)
			advice = FRAMES_AS_THEY_ARE;
	}

	/* lay the region out */
	struct ptbm_shared proto = {
	    .layout_version = PTBM_LAYOUT_VERSION,
	    .engine = cfg->engine,
	    .share = cfg->share,
	    .page_size = cfg->page_size,
	    .max_pages = cfg->max_pages,
	    .budget_pages = cfg->budget_bytes / cfg->page_size,
	    .evict_batch = cfg->evict_batch,
	    .direct = cfg->direct,
	    .flags = flags,
	    .max_slots = cfg->max_threads,
	    .creator_pid = getpid(),
	};
	if (proto.budget_pages > proto.max_pages)
		proto.budget_pages = proto.max_pages;
	const struct ptbm_engine_ops *ops = engine_ops(cfg->engine);
	proto.off_stats = align_up(sizeof(struct ptbm_shared), 4096);
	proto.off_desc =
	    align_up(proto.off_stats + proto.max_slots * sizeof(struct ptbm_stat_slot), 4096);
	proto.off_written = align_up(proto.off_desc + proto.max_pages * sizeof(uint64_t), 4096);
	proto.off_engine = align_up(proto.off_written + ptbm_pageset_bytes(proto.max_pages), 4096);
	proto.engine_bytes = ops->area_bytes(&proto);
	/* page 0 on an extent boundary of the region (and of the shm object) */
	proto.off_data = align_up(
	    align_up(proto.off_engine + proto.engine_bytes, PTBM_EXTENT_BYTES), cfg->page_size);
	proto.region_bytes = proto.off_data;
	if (cfg->engine == PTBM_ENGINE_VM)
		proto.region_bytes += proto.max_pages * cfg->page_size;

	bool shared = frames_are_shmem(cfg->share, cfg->engine, flags);
	if (cfg->name) {
		pool->name = strdup(cfg->name);
		if (!pool->name) {
			rc = -ENOMEM;
			goto fail;
		}
		pool->shm_fd = shm_open(cfg->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (pool->shm_fd < 0) {
			rc = -errno;
			free(pool->name);
			pool->name = NULL; /* not ours: never unlink it */
			goto fail;
		}
		if (ftruncate(pool->shm_fd, (off_t)proto.region_bytes) < 0) {
			rc = -errno;
			goto fail_unlink;
		}
	}
	rc = map_region(pool, proto.region_bytes, shared);
	if (rc < 0)
		goto fail_unlink;
	memcpy(pool->sh, &proto, sizeof proto);
	/* private frames in base pages only: a page released out of a larger
	 * folio would stay allocated (a kernel without THP refuses: the same) */
	if (!shared && cfg->engine == PTBM_ENGINE_VM)
		(void)advise_frames(pool, FRAMES_BASE);
	rc = advise_frames(pool, advice);
	if (rc < 0)
		goto fail_unlink;
	snprintf(pool->sh->data_path, sizeof pool->sh->data_path, "%s", path);
	atomic_store(&pool->sh->n_alloc, n_pages);
	atomic_store(&pool->sh->file_pages, n_pages);
	pool->file.file_pages = &pool->sh->file_pages;
	atomic_store(&pool->sh->n_procs, 1);
	pool->creator = true;
	rc = bind_region(pool);
	if (rc < 0)
		goto fail_unlink;
	ptbm_pageset_init(written_set(pool), pool->max_pages);
	ptbm_file_bind_written(&pool->file, written_set(pool), true);
	rc = pool->ops->init(pool, true);
	if (rc < 0)
		goto fail_unlink;
	atomic_thread_fence(memory_order_release);
	pool->sh->magic = PTBM_SHARED_MAGIC;
	pool_register(pool);
	*out = pool;
	return 0;

fail_unlink:
	if (pool->name)
		shm_unlink(pool->name);
fail:
	pool_free(pool);
	return rc;
}

int ptbm_attach(const char *name, ptbm_pool **out)
{
	if (!name || name[0] != '/' || !out)
		return -EINVAL;
	*out = NULL;
	ptbm_pool *pool = pool_alloc();
	if (!pool)
		return -ENOMEM;
	int rc;
	pool->shm_fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	if (pool->shm_fd < 0) {
		rc = -errno;
		goto fail;
	}
	struct stat st;
	if (fstat(pool->shm_fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	struct ptbm_shared head;
	if ((uint64_t)st.st_size < sizeof head ||
	    pread(pool->shm_fd, &head, sizeof head, 0) != (ssize_t)sizeof head) {
		rc = PTBM_ELAYOUT;
		goto fail;
	}
	if (head.magic != PTBM_SHARED_MAGIC || head.layout_version != PTBM_LAYOUT_VERSION ||
	    head.region_bytes != (uint64_t)st.st_size || head.share != PTBM_SHARE_PROCESSES ||
	    head.max_slots == 0 || head.max_slots > PTBM_MAX_THREADS_LIMIT) {
		rc = PTBM_ELAYOUT;
		goto fail;
	}
	/* this process's faults could give the frames folios larger than a
	 * page: base pages, as the creator would have chosen; a pool made with
	 * huge extents, under settings that have changed since, is refused */
	enum frame_advice advice =
	    frame_advice((enum ptbm_engine)head.engine, true, head.page_size);
	if (advice == FRAMES_BASE && !(head.flags & PTBM_NO_HUGE)) {
		rc = PTBM_EFOLIO;
		goto fail;
	}
	rc = map_region(pool, head.region_bytes, true);
	if (rc < 0)
		goto fail;
	rc = advise_frames(pool, advice);
	if (rc < 0)
		goto fail;
	rc = bind_region(pool);
	if (rc < 0)
		goto fail;
	uint64_t n_pages;
	rc = ptbm_file_open(&pool->file, pool->sh->data_path, pool->page_size, PTBM_FILE_ATTACH,
			    (enum ptbm_direct)pool->sh->direct, &n_pages);
	if (rc < 0)
		goto fail;
	pool->file.file_pages = &pool->sh->file_pages;
	ptbm_file_bind_written(&pool->file, written_set(pool), false);
	rc = pool->ops->init(pool, false);
	if (rc < 0)
		goto fail;
	atomic_fetch_add(&pool->sh->n_procs, 1);
	pool_register(pool);
	*out = pool;
	return 0;
fail:
	pool_free(pool);
	return rc;
}

int ptbm_close(ptbm_pool *pool)
{
	if (!pool)
		return -EINVAL;
	if (pool->ops->drain)
		pool->ops->drain(pool);
	ptbm_threads_release_pool(pool);
	ptbm_threads_remove_pool(pool);
	pool->ops->fini(pool, pool->creator);
	atomic_fetch_sub(&pool->sh->n_procs, 1);
	if (pool->creator && pool->name)
		shm_unlink(pool->name);
	pool_free(pool);
	return 0;
}

int ptbm_unlink(const char *name)
{
	if (!name || name[0] != '/')
		return -EINVAL;
	return shm_unlink(name) < 0 ? -errno : 0;
}
