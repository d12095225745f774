/*
 * internal.h - what the layers of libptbm share: the pool handle, the
 * shared control block, the page state word, and each layer's entry points.
 * See src/README.md for the design these pieces implement.
 */
#ifndef PTBM_INTERNAL_H
#define PTBM_INTERNAL_H

#include "ptbm.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PTBM_LIKELY(x)	 __builtin_expect(!!(x), 1)
#define PTBM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PTBM_CACHELINE	 64

/* Layout of the shared control block and of the data file. Bump on change. */
#define PTBM_LAYOUT_VERSION 2u
#define PTBM_SHARED_MAGIC   0x4c4f4f504d425450ull /* "PTBMPOOL" */

/* ---------------------------------------------------------------------
 * The page state word (one per page, in the shared descriptor array)
 *
 *   63........56 55  54......48 47..........................0
 *   [   tag    ][D][   gen    ][          version           ]
 *
 * tag: 0 evicted, 1 unlocked, 2..253 shared (tag - 1 holders), 254
 *      exclusive, 255 marked (the clock's second chance). A marked page is
 *      unlocked for every purpose; any latch clears the mark. An all-zero
 *      word is an evicted page never loaded, so a fresh descriptor array
 *      needs no initialization (a 1 TiB pool touches none of it).
 * D:   dirty: set under the exclusive latch, cleared by write-back.
 * gen: residency generation 1..127, bumped each time the page is loaded; a
 *      process compares it with its private record to know whether its own
 *      page table maps the current frame (processes mode, engine_vm.c).
 * version: bumped by every exclusive unlock and every eviction; optimistic
 *      readers validate against it.
 * ------------------------------------------------------------------- */
#define PTBM_TAG_SHIFT	    56
#define PTBM_TAG_EVICTED    0ull
#define PTBM_TAG_UNLOCKED   1ull
#define PTBM_TAG_SHARED_MAX 253ull /* 252 shared holders */
#define PTBM_TAG_EXCLUSIVE  254ull
#define PTBM_TAG_MARKED	    255ull
#define PTBM_DIRTY_BIT	    (1ull << 55)
#define PTBM_GEN_SHIFT	    48
#define PTBM_GEN_MASK	    (0x7full << PTBM_GEN_SHIFT)
#define PTBM_VERSION_MASK   ((1ull << 48) - 1)
#define PTBM_LOW_MASK	    ((1ull << PTBM_TAG_SHIFT) - 1) /* D|gen|version */

static inline uint64_t ptbm_tag(uint64_t s)
{
	return s >> PTBM_TAG_SHIFT;
}
static inline uint64_t ptbm_version(uint64_t s)
{
	return s & PTBM_VERSION_MASK;
}
static inline unsigned ptbm_gen(uint64_t s)
{
	return (unsigned)((s & PTBM_GEN_MASK) >> PTBM_GEN_SHIFT);
}
static inline uint64_t ptbm_with_tag(uint64_t s, uint64_t tag)
{
	return (s & PTBM_LOW_MASK) | (tag << PTBM_TAG_SHIFT);
}
/* Same page, version + 1 (wraps inside its 48 bits). */
static inline uint64_t ptbm_bump_version(uint64_t s)
{
	return (s & ~PTBM_VERSION_MASK) | ((s + 1) & PTBM_VERSION_MASK);
}
/* Next residency generation: 1..127, never 0 (0 = "never mapped"). */
static inline uint64_t ptbm_bump_gen(uint64_t s)
{
	unsigned g = ptbm_gen(s) % 127 + 1;
	return (s & ~PTBM_GEN_MASK) | ((uint64_t)g << PTBM_GEN_SHIFT);
}

/* ---------------------------------------------------------------------
 * Statistics and latch counts: one cache-line slot per thread, written
 * without atomic read-modify-write (only its owner writes it), summed by
 * ptbm_get_stats (counters) and per process by the dead-owner check
 * (latch counts; stats.c).
 * ------------------------------------------------------------------- */
enum ptbm_counter {
	PTBM_C_HITS,
	PTBM_C_MISSES,
	PTBM_C_OPTIMISTIC,
	PTBM_C_RESTARTS,
	PTBM_C_READS,
	PTBM_C_WRITES,
	PTBM_C_EVICTIONS,
	PTBM_C_POPULATES,
	PTBM_C_COLLAPSES,
	PTBM_N_COUNTERS
};

/* Slots: max_threads of them (ptbm_config), used up to a high-water mark. */
#define PTBM_DEFAULT_MAX_THREADS 1024u
#define PTBM_MAX_THREADS_LIMIT	 65536u

/* slot owners besides a tid: */
#define PTBM_OWNER_FREE	    0
#define PTBM_OWNER_RECLAIM  (-1) /* being reclaimed */
#define PTBM_OWNER_DEPARTED (-2) /* latch counts of threads of owner_pid that left */

struct ptbm_stat_slot {
	_Atomic int32_t owner;		     /* tid using it, or PTBM_OWNER_* */
	_Atomic int32_t owner_pid;	     /* its process; 0 while free */
	_Atomic uint64_t owner_start;	     /* the process's start time (proc.c) */
	_Atomic int64_t held;		     /* latches it took minus latches it released */
	_Atomic uint64_t c[PTBM_N_COUNTERS]; /* owner writes, anyone reads */
} __attribute__((aligned(PTBM_CACHELINE)));

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
	uint64_t off_written;	  /* offset of the written set (io.c) */
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
 * The data file (io.c): a header page, then page p at (p + 1) * page_size.
 * ------------------------------------------------------------------- */
/*
 * The header block at offset 0: this struct, then n_written ranges of pages
 * written at least once (struct ptbm_range, sorted, disjoint), then zeros.
 * The checksum covers the bytes above it, and the ranges when there are any
 * (ptbm_file_header_sum).
 */
#define PTBM_FILE_MAGIC "PTBMDATA"
struct ptbm_file_header {
	char magic[8];
	uint32_t layout_version;
	uint32_t page_size;
	uint64_t n_pages;
	uint32_t n_written;    /* ranges that follow the header */
	uint32_t written_lost; /* 1: more ranges than fit; the shortest were left out */
	uint64_t checksum;     /* XXH3-64 */
};
struct ptbm_range {
	uint64_t first, end; /* pages [first, end) */
};
#define PTBM_HEADER_RANGES_AT 64 /* byte offset of the ranges in the block */
/* Ranges that fit in the header block of a file of that page size. */
static inline uint32_t ptbm_header_ranges(uint32_t page_size)
{
	return (page_size - PTBM_HEADER_RANGES_AT) / sizeof(struct ptbm_range);
}
uint64_t ptbm_file_header_sum(const struct ptbm_file_header *h, const struct ptbm_range *ranges);

struct ptbm_resident;
struct ptbm_file {
	_Atomic uint64_t *file_pages;  /* pages the file is known to hold (shared) */
	struct ptbm_resident *written; /* pages written at least once (shared) */
	struct ptbm_range *pending;    /* from the header, until bound to written */
	uint32_t n_pending;
	int fd;
	int direct; /* opened with O_DIRECT */
	uint32_t page_size;
};

/*
 * Open (or create, or empty: PTBM_CREATE, PTBM_TRUNCATE in flags) the data
 * file and lock it for this pool: PTBM_EINUSE if another pool has it open.
 * PTBM_FILE_ATTACH: an attacher of the pool that holds it.
 */
#define PTBM_FILE_ATTACH 0x80000000u
int ptbm_file_open(struct ptbm_file *f, const char *path, uint32_t page_size, uint32_t flags,
		   enum ptbm_direct direct, uint64_t *n_pages);
void ptbm_file_close(struct ptbm_file *f);
/* Read page pid into dst (page_size bytes, page aligned) and verify it. */
int ptbm_file_read_page(struct ptbm_file *f, uint64_t pid, void *dst);
/* Seal (checksum) and write n pages; returns 0 or the first error. */
int ptbm_file_write_pages(struct ptbm_file *f, const uint64_t *pids, void *const *pages, size_t n);
/*
 * Batches, in io_uring submissions where available: read and verify n
 * pages, or seal and write n pages. rcs[i] gets each page's result (0 or a
 * negative error), whatever becomes of the ring; returns 0 or the first
 * page's error (a summary of rcs, nothing more).
 */
int ptbm_file_read_batch(struct ptbm_file *f, const uint64_t *pids, void *const *dst, size_t n,
			 int *rcs);
int ptbm_file_write_batch(struct ptbm_file *f, const uint64_t *pids, void *const *pages, size_t n,
			  int *rcs);
/*
 * Staged reads: up to ptbm_file_stage_slots() pages read into the calling
 * thread's staging buffers (memory that stays mapped), so that the caller
 * can prepare the pages' frames while the disk works. _start submits the
 * reads and returns at once; _finish waits for them, verifies each page in
 * its staging buffer and copies it into dst[i] (dst[i] NULL: discard it).
 * rcs[i] gets each page's result; _finish returns 0 or the first error.
 * Every _start is followed by a _finish on the same thread.
 */
#define PTBM_STAGE_MAX	    64
#define PTBM_PREFETCH_BATCH 64 /* pages per engine prefetch call */
struct ptbm_staged {
	const uint64_t *pids;
	size_t n;
	char *buf;		 /* n slots of page_size bytes */
	int how[PTBM_STAGE_MAX]; /* 0 in flight, 1 read at finish, 2 delivered,
				    < 0 injected error */
	size_t queued;
	uint64_t known; /* pages the file was known to hold before the reads */
};
size_t ptbm_file_stage_slots(const struct ptbm_file *f);
void ptbm_file_read_start(struct ptbm_file *f, const uint64_t *pids, size_t n,
			  struct ptbm_staged *st);
int ptbm_file_read_finish(struct ptbm_file *f, struct ptbm_staged *st, void *const *dst, int *rcs);
/* In a forked child: forget the parent's per-thread io_uring. */
void ptbm_io_after_fork(void);
/* Extend the file to n_pages, record n_pages in the header, fdatasync. */
int ptbm_file_commit(struct ptbm_file *f, uint64_t n_pages);
/*
 * Cut the file to n_pages, its header's count: pages past it were written
 * back by a pool that closed or died before a flush committed them, and a
 * page allocated again must read as zeros. The creator calls it at open.
 */
int ptbm_file_trim(struct ptbm_file *f, uint64_t n_pages);
/* Checksum trailer (checksum.c). */
void ptbm_page_seal(void *page, uint32_t page_size, uint64_t pid);
/* 0 if the page is whole; an all-zero page is whole if it was never written. */
int ptbm_page_verify(const void *page, uint32_t page_size, uint64_t pid, bool written);
/* ptbm_page_verify, with what f knows of the page's writes. */
int ptbm_file_verify(struct ptbm_file *f, const void *page, uint64_t pid);
/* The written set lives in the pool's region: bind it (the creator also fills
 * it from the header's ranges), once the region is there. */
void ptbm_file_bind_written(struct ptbm_file *f, struct ptbm_resident *set, bool creator);
/* The file holds a written copy of page pid (the mmap engine's own writes). */
void ptbm_file_note_written(struct ptbm_file *f, uint64_t pid);

/* Fault injection for tests (io.c; only in a library built with
 * PTBM_FAULT_INJECTION, as the tests' one is). */
enum ptbm_fault {
	PTBM_FAULT_NONE = 0,
	PTBM_FAULT_EIO,	   /* the call fails with EIO */
	PTBM_FAULT_ENOSPC, /* the call fails with ENOSPC */
	PTBM_FAULT_SHORT,  /* the call transfers half the bytes */
	PTBM_FAULT_DELAY,  /* the call sleeps 200 ms, then works (kill tests) */
	PTBM_FAULT_RING,   /* the io_uring submission the call is in fails */
};
/* After `after` more read (or write) calls succeed, the next one fails. */
void ptbm_fault_inject_read(enum ptbm_fault f, long after);
void ptbm_fault_inject_write(enum ptbm_fault f, long after);

/* ---------------------------------------------------------------------
 * The engines. Each implements the page-access calls; api.c dispatches.
 * ------------------------------------------------------------------- */
struct ptbm_engine_ops {
	int (*fix_shared)(ptbm_pool *, uint64_t, void **);
	int (*fix_exclusive)(ptbm_pool *, uint64_t, void **);
	int (*unfix_shared)(ptbm_pool *, uint64_t);
	int (*unfix_exclusive)(ptbm_pool *, uint64_t);
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
};

extern const struct ptbm_engine_ops ptbm_vm_ops;
/* The vm engine's latch calls are inlined from engine_vm.h; these two are
 * called directly by api.c (no indirect call). */
int ptbm_vm_read_begin(ptbm_pool *pool, uint64_t pid, const void **page, uint64_t *version);
int ptbm_vm_read_validate(ptbm_pool *pool, uint64_t pid, uint64_t version);
/* Page pid, evicted in state word s, may have a frame nobody accounts for
 * (an unlatched read of its hole): punch it under the latch, unless someone
 * latched it first. */
void ptbm_vm_drop_stray(ptbm_pool *pool, uint64_t pid, uint64_t s);

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
	bool huge;	       /* vm: collapse fully resident extents (extent.c) */
	bool shmem_frames;     /* vm: frames are shmem (processes mode, or huge) */
	uint32_t extent_pages; /* pages per PTBM_EXTENT_BYTES extent (vm) */
	uint64_t serial;       /* unique per open, for TLS caches */
	const struct ptbm_engine_ops *ops;

	/* cold fields */
	char *region; /* the whole mapped region */
	uint64_t region_bytes;
	void *engine_area;    /* sh + off_engine */
	void *engine_private; /* per-process engine state */
	struct ptbm_file file;
	bool creator;
	int shm_fd;		     /* named pools: the shm object */
	char *name;		     /* named pools: "/name" */
	long minflt0, majflt0;	     /* rusage at open */
	struct ptbm_pool *next_open; /* list of open pools (atfork) */
};

/* stats.c */
struct ptbm_stat_slot *ptbm_stat_slot_slow(ptbm_pool *pool);
/* initial-exec: no __tls_get_addr call on the hit path of libptbm.so */
extern __thread __attribute__((tls_model("initial-exec"))) struct ptbm_tls_stat {
	uint64_t serial;
	struct ptbm_stat_slot *slot;
} ptbm_tls_stat;

/*
 * This thread's slot in pool, claimed on first use; NULL if every slot is
 * taken by a live thread (the caller returns PTBM_ETOOMANY). api.c makes
 * sure a thread has its slot before it enters an engine, so engine code
 * past an entry point may take ptbm_slot() as non-NULL.
 */
static inline struct ptbm_stat_slot *ptbm_slot(ptbm_pool *pool)
{
	if (PTBM_UNLIKELY(ptbm_tls_stat.serial != pool->serial))
		return ptbm_stat_slot_slow(pool);
	return ptbm_tls_stat.slot;
}

/* Only the owner writes its slot: plain adds, atomic for readers. */
static inline void ptbm_slot_add(struct ptbm_stat_slot *s, enum ptbm_counter c, uint64_t n)
{
	atomic_store_explicit(&s->c[c], atomic_load_explicit(&s->c[c], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/*
 * Latches this thread took minus those it released: +1 before a latch is
 * taken, -1 after one is released, so that a process killed at any instant
 * is never seen holding fewer latches than it does (its threads' counts
 * summed: a latch may be released by another thread of the process than
 * the one that took it; stats.c, dead owners).
 */
static inline void ptbm_slot_hold(struct ptbm_stat_slot *s, int64_t n)
{
	atomic_store_explicit(&s->held, atomic_load_explicit(&s->held, memory_order_relaxed) + n,
			      memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* kept in program order by the compiler */
}

static inline void ptbm_count(ptbm_pool *pool, enum ptbm_counter c, uint64_t n)
{
	ptbm_slot_add(ptbm_slot(pool), c, n);
}
void ptbm_stats_sum(ptbm_pool *pool, uint64_t out[PTBM_N_COUNTERS]);
/* proc.c: a process is (pid, start time); is it gone (dead, zombie too)? */
uint64_t ptbm_proc_self_start(void);
bool ptbm_proc_gone(int32_t pid, uint64_t start);
/* A process that died (or exited) holding latches, or 0 (stats.c). */
int32_t ptbm_dead_owner(ptbm_pool *pool);
/* Slots in use: [0, ptbm_slots_used(pool)) is what a scan must cover. */
static inline uint32_t ptbm_slots_used(ptbm_pool *pool)
{
	return atomic_load_explicit(&pool->sh->slots_hwm, memory_order_acquire);
}
/* The calling thread leaves pool (ptbm_close): its slot is given back. */
void ptbm_stats_release_pool(ptbm_pool *pool);
/* In a forked child: the parent's threads' slots are not this process's. */
void ptbm_stats_after_fork(void);

/* region.c: the address space layer. A reservation starts on a
 * PTBM_EXTENT_BYTES boundary, so extents at extent-aligned offsets of it can
 * be mapped by huge page-table entries. */
#define PTBM_EXTENT_BYTES (2u << 20)
void *ptbm_region_reserve(uint64_t bytes, bool shared, int fd, uint64_t offset);
int ptbm_region_unmap(void *addr, uint64_t bytes);
/* Release n page runs: frees the frames in every process that maps them. */
struct ptbm_run {
	void *addr;
	uint64_t bytes;
};
/* shmem: the frames are shmem (MADV_REMOVE); else private (MADV_DONTNEED). */
int ptbm_region_release(struct ptbm_run *runs, size_t n, bool shmem);
/* Map (and allocate if needed) n runs writable in this process, in one system
 * call where the kernel allows. */
int ptbm_region_populate_runs(struct ptbm_run *runs, size_t n);
/* Collapse the extent at addr (extent-aligned, its pages present) into one
 * huge page: 0, or -errno (-EINVAL: this kernel or its settings never will). */
int ptbm_region_collapse(void *addr);

/* extent.c: page pid was just loaded; if that made its extent fully
 * resident, collapse the extent into a huge page when the budget has room. */
void ptbm_extent_loaded(ptbm_pool *pool, uint64_t pid);
static inline uint64_t ptbm_extent_of(const ptbm_pool *pool, uint64_t pid)
{
	return pool->extent_pages ? pid / pool->extent_pages : pid;
}

/* resident.c: the set of resident pages, walked in page id order. */
struct ptbm_resident {
	uint64_t n_words;	 /* words of the bitmap */
	_Atomic uint64_t bits[]; /* n_words of bitmap, then its summary */
};
uint64_t ptbm_resident_bytes(uint64_t max_pages);
void ptbm_resident_init(struct ptbm_resident *r, uint64_t max_pages);
void ptbm_resident_insert(struct ptbm_resident *r, uint64_t pid);
void ptbm_resident_remove(struct ptbm_resident *r, uint64_t pid);
/* The first resident page in [from, limit), or UINT64_MAX. */
uint64_t ptbm_resident_next(struct ptbm_resident *r, uint64_t from, uint64_t limit);
bool ptbm_resident_has(struct ptbm_resident *r, uint64_t pid);
/* Are all of pages [first, end) resident? */
bool ptbm_resident_all(struct ptbm_resident *r, uint64_t first, uint64_t end);
void ptbm_resident_insert_range(struct ptbm_resident *r, uint64_t first, uint64_t end);
/* The first page in [from, limit) not in the set, or limit. */
uint64_t ptbm_resident_next_clear(struct ptbm_resident *r, uint64_t from, uint64_t limit);

/* Waiting for a latch: spin briefly, then yield, then sleep a little. */
void ptbm_backoff(unsigned *spins);
/*
 * ptbm_backoff, and after a while of waiting a look for processes that died
 * holding latches: PTBM_EOWNERDEAD if one did (the pool is then broken for
 * every waiter), else 0.
 */
int ptbm_wait(ptbm_pool *pool, unsigned *spins);
/* PTBM_EOWNERDEAD if a process died holding latches. */
int ptbm_check_owners(ptbm_pool *pool);

/* pool.c */
void ptbm_pool_register(ptbm_pool *pool);
void ptbm_pool_unregister(ptbm_pool *pool);

static inline void *ptbm_page_addr(const ptbm_pool *pool, uint64_t pid)
{
	if (PTBM_LIKELY(pool->page_shift))
		return pool->data + (pid << pool->page_shift);
	return pool->data + pid * (uint64_t)pool->page_size;
}

#endif /* PTBM_INTERNAL_H */
