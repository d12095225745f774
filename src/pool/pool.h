/*
 * pool.h - the pool: its handle (private to each process), the shared
 * control block at the start of its region, and the engines' interface
 * (pool.c lays the region out and opens, attaches and closes pools; api.c
 * checks arguments and dispatches).
 */
#ifndef PTBM_POOL_POOL_H
#define PTBM_POOL_POOL_H

#include "base.h"
#include "core/datafile.h"
#include "registry/slot.h"

#include <limits.h>
#include <sys/types.h>

#define PTBM_SHARED_MAGIC 0x4c4f4f504d425450ull /* "PTBMPOOL" */

/* Pages per engine prefetch call (api.c cuts larger requests). */
#define PTBM_PREFETCH_BATCH 64

/* ---------------------------------------------------------------------
 * The shared control block: the first bytes of the pool's shared region
 * (processes mode) or of its private region (threads mode).
 * ------------------------------------------------------------------- */
struct ptbm_shared {
	uint64_t magic;		  /* PTBM_SHARED_MAGIC once fully built */
	uint32_t layout_version;  /* PTBM_LAYOUT_VERSION */
	uint32_t engine;	  /* enum ptbm_engine */
	uint32_t share;		  /* enum ptbm_share */
	uint32_t page_size;	  /* bytes */
	uint64_t max_pages;	  /* virtual size */
	uint64_t budget_pages;	  /* resident limit */
	uint32_t evict_batch;	  /* pages per eviction round */
	uint32_t direct;	  /* enum ptbm_direct as configured */
	uint32_t flags;		  /* config flags */
	uint32_t max_slots;	  /* statistics slots: max_threads */
	int32_t creator_pid;	  /* process that created the pool */
	uint64_t region_bytes;	  /* size of the whole shared object */
	uint64_t off_stats;	  /* offset of the stats slots */
	uint64_t off_desc;	  /* offset of the descriptor array */
	uint64_t off_engine;	  /* offset of the engine's own area */
	uint64_t engine_bytes;	  /* its size */
	uint64_t off_written;	  /* offset of the written set (core/pageio.c) */
	uint64_t off_data;	  /* offset of page 0 (vm engine) */
	char data_path[PATH_MAX]; /* absolute path of the data file */

	_Atomic uint64_t n_alloc __attribute__((aligned(PTBM_CACHELINE)));
	_Atomic uint32_t n_procs;	  /* processes attached (informational) */
	_Atomic uint32_t slots_hwm;	  /* slots [0, slots_hwm) were ever claimed */
	_Atomic int32_t broken;		  /* pid of a process that died holding latches */
	_Atomic int32_t slot_lock;	  /* pid reclaiming dead processes' slots */
	_Atomic int32_t reclaim_pid;	  /* the dead process it reclaims */
	_Atomic uint64_t slot_lock_start; /* start time of the lock's holder */
	_Atomic uint64_t reclaim_start;	  /* start time of reclaim_pid */
	_Atomic uint64_t file_pages;	  /* pages the data file is known to hold */
	_Atomic uint32_t flush_lock;	  /* serializes header writes */
	_Atomic uint64_t resident __attribute__((aligned(PTBM_CACHELINE)));
	_Atomic uint64_t clock_hand __attribute__((aligned(PTBM_CACHELINE)));
	_Atomic uint64_t retired[PTBM_N_COUNTERS] __attribute__((aligned(PTBM_CACHELINE)));
};

/* ---------------------------------------------------------------------
 * The engines. Each implements the page-access calls; api.c dispatches
 * (the vm engine's hit path directly, vm/hit.h).
 * ------------------------------------------------------------------- */
struct ptbm_engine_ops {
	/* latch page pid exclusive or shared, and let go of it */
	int (*fix)(ptbm_pool *, uint64_t, void **, bool exclusive);
	int (*unfix)(ptbm_pool *, uint64_t, bool exclusive);
	int (*mark_dirty)(ptbm_pool *, uint64_t);
	int (*read_begin)(ptbm_pool *, uint64_t, const void **, uint64_t *);
	int (*read_validate)(ptbm_pool *, uint64_t, uint64_t);
	int (*upgrade)(ptbm_pool *, uint64_t, uint64_t);
	/* at most PTBM_PREFETCH_BATCH allocated pages: loaded count, or the
	 * error if none was loaded */
	int (*prefetch)(ptbm_pool *, const uint64_t *, size_t);
	int (*flush)(ptbm_pool *);
	/* sizes the engine's area of the shared region */
	uint64_t (*area_bytes)(const struct ptbm_shared *);
	/* the creator fills the area; attachers/children only map it */
	int (*init)(ptbm_pool *, bool creator);
	void (*fini)(ptbm_pool *, bool creator);
	/* optional: pages [first, first + count) are about to be published */
	int (*on_alloc)(ptbm_pool *, uint64_t first, uint64_t count);
	/* optional: ptbm_close, before the closing thread leaves: finish and
	 * stop the engine's background work in this process */
	void (*drain)(ptbm_pool *);
	/* optional: in a forked child, for each pool open in it */
	void (*after_fork)(ptbm_pool *);
};

/* vm/engine.c, baselines/hash.c, baselines/mmap.c */
extern const struct ptbm_engine_ops ptbm_vm_ops;
extern const struct ptbm_engine_ops ptbm_hash_ops;
extern const struct ptbm_engine_ops ptbm_mmap_ops;

/* The pool handle: private to each process (copied by fork). */
struct ptbm_pool {
	/* hot fields first */
	_Atomic uint64_t *desc;	      /* state word per page */
	char *data;		      /* page 0 (vm engine) */
	uint8_t *mapgen;	      /* processes mode: gen this process mapped */
	struct ptbm_shared *sh;	      /* shared control block */
	struct ptbm_stat_slot *slots; /* sh->max_slots of them */
	uint64_t max_pages;
	uint32_t page_size;
	uint32_t page_shift; /* log2(page_size) if a power of 2, else 0 */
	enum ptbm_engine engine;
	enum ptbm_share share;
	bool populate;	       /* processes mode and !PTBM_NO_POPULATE */
	bool huge;	       /* vm: collapse fully resident extents (vm/extent.c) */
	bool shmem_frames;     /* vm: frames are shmem (processes mode, or huge) */
	uint32_t extent_pages; /* pages per PTBM_EXTENT_BYTES extent (vm) */
	uint64_t serial;       /* unique per open, for TLS caches */
	const struct ptbm_engine_ops *ops;

	/* cold fields */
	char *region; /* the whole mapped region */
	uint64_t region_bytes;
	void *engine_area;	       /* sh + off_engine */
	void *engine_private;	       /* per-process engine state */
	struct ptbm_vm_spares *spares; /* private frames' spares (vm/recycle.c) */
	struct ptbm_file file;
	bool creator;
	int shm_fd;		     /* named pools: the shm object */
	char *name;		     /* named pools: "/name" */
	long minflt0, majflt0;	     /* rusage at open */
	struct ptbm_pool *next_open; /* list of open pools (atfork) */
};

static inline void *ptbm_page_addr(const ptbm_pool *pool, uint64_t pid)
{
	if (PTBM_LIKELY(pool->page_shift))
		return pool->data + (pid << pool->page_shift);
	return pool->data + pid * (uint64_t)pool->page_size;
}

/* Which PTBM_EXTENT_BYTES extent page pid is in (vm). */
static inline uint64_t ptbm_extent_of(const ptbm_pool *pool, uint64_t pid)
{
	return pool->extent_pages ? pid / pool->extent_pages : pid;
}

#endif /* PTBM_POOL_POOL_H */
