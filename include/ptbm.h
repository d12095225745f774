/*
 * ptbm.h - PT-BM, a buffer manager whose buffer table is the page table.
 *
 * A pool reserves one virtual range for the whole database; page p lives at
 * base + p * page_size and the MMU does the translation that a hash table
 * does in a classic buffer manager. A 64-bit state word per page, kept in a
 * shared descriptor array, carries the latch, the clock mark, the dirty bit
 * and a version for optimistic reads.
 *
 * The same API serves two sharing modes:
 *   PTBM_SHARE_THREADS    one process, any number of threads;
 *   PTBM_SHARE_PROCESSES  the creator forks workers (or unrelated processes
 *                         attach by name) and all of them share the pool.
 * and, for measurement, three engines: the PT-BM pool itself (PTBM_ENGINE_VM),
 * a hash-table buffer manager in the style of PostgreSQL (PTBM_ENGINE_HASH),
 * and the data file mapped by the OS (PTBM_ENGINE_MMAP).
 *
 * Conventions:
 *   - Errors, one rule for every call: a function that returns int returns
 *     a negative error when it fails, and on success 0, or the count its
 *     contract names (ptbm_prefetch). An error is -errno, or one of ptbm's
 *     own codes below -4095 (PTBM_E*); ptbm_strerror() names both. The same
 *     mistake gets the same error from every call:
 *       -EINVAL             a NULL pool, a NULL pointer the call needs, or an
 *                           argument no call could take (a count of 0, a
 *                           name not of the form "/x"); checked first;
 *       PTBM_EINVAL_CONFIG  a field of struct ptbm_config (ptbm_open only);
 *       PTBM_ERANGE         a page id beyond max_pages or not allocated, or
 *                           bytes beyond the page's usable ones;
 *       PTBM_ENOTFIXED      a release or mark of a page not latched so;
 *       PTBM_ETOOMANY       max_threads other threads use the pool.
 *     Each contract below lists every error its call can return.
 *   - "I/O errors" below: -EIO, -ENOSPC, -EFBIG or another -errno of a read
 *     or write of the data file, PTBM_EIO_SHORT (a transfer cut short) or
 *     PTBM_ETRUNCATED (the file was cut short under the pool).
 *   - A page handed out by a fix call stays at the same address until it is
 *     unfixed. The caller owns the first ptbm_page_usable(pool) bytes of a
 *     page; the last PTBM_PAGE_TRAILER bytes hold the page's checksum, written
 *     by the pool when it writes the page back.
 *   - Every function is safe to call from any thread; in processes mode, from
 *     any process that created, inherited (fork) or attached the pool. A
 *     pool serves at most max_threads threads (of all its processes) at
 *     once: a thread's calls that latch, wait or count return PTBM_ETOOMANY
 *     while max_threads others use the pool, and change nothing.
 *
 * Minimal use:
 *
 *	struct ptbm_config cfg;
 *	ptbm_pool *pool;
 *	void *page;
 *	ptbm_config_init(&cfg);
 *	cfg.data_path = "/var/lib/db/data.ptbm";
 *	cfg.budget_bytes = 1ull << 30;
 *	if (ptbm_open(&cfg, &pool) < 0) ...;
 *	uint64_t pid;
 *	ptbm_alloc(pool, 1, &pid);
 *	ptbm_fix_exclusive(pool, pid, &page);
 *	memcpy(page, "hello", 6);
 *	ptbm_mark_dirty(pool, pid);
 *	ptbm_unfix_exclusive(pool, pid);
 *	ptbm_flush(pool);
 *	ptbm_close(pool);
 */
#ifndef PTBM_H
#define PTBM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What libptbm exports: the functions declared here, and nothing else. */
#if defined(__GNUC__) || defined(__clang__)
#define PTBM_API __attribute__((visibility("default")))
#else
#define PTBM_API
#endif

#define PTBM_VERSION_MAJOR  0
#define PTBM_VERSION_MINOR  1
#define PTBM_VERSION_PATCH  0
#define PTBM_VERSION_STRING "0.1.0"

/* Bytes at the end of every page that belong to the pool (checksum). */
#define PTBM_PAGE_TRAILER 16

/* ptbm's own error codes, in a band below -errno's. */
enum {
	PTBM_EINVAL_CONFIG = -5000, /* the configuration is not valid */
	PTBM_ERANGE = -5001,	    /* page id beyond the allocated pages */
	PTBM_ENOTFIXED = -5002,	    /* unfix/dirty of a page not latched that way */
	PTBM_ECHECKSUM = -5003,	    /* a page read from disk failed its checksum */
	PTBM_EBADFILE = -5004,	    /* data file is not a ptbm file, or damaged */
	PTBM_ETRUNCATED = -5005,    /* data file shorter than its header says, or empty */
	PTBM_ELAYOUT = -5006,	    /* page size, layout version or engine differ */
	PTBM_ERESTART = -5007,	    /* optimistic read invalid: restart it */
	PTBM_ENOSUPPORT = -5008,    /* the engine or mode cannot do this */
	PTBM_EBUSY = -5009,	    /* every frame is latched: nothing to evict */
	PTBM_EFULL = -5010,	    /* max_pages already allocated */
	PTBM_EOWNERDEAD = -5011,    /* a process died holding a latch */
	PTBM_EIO_SHORT = -5012,	    /* short read or write on the data file */
	PTBM_ETOOMANY = -5013,	    /* more threads than max_threads use the pool */
	PTBM_EINUSE = -5014,	    /* the data file is open in another pool */
	PTBM_EFOLIO = -5015,	    /* shmem folios larger than a page: see ptbm_open */
};

enum ptbm_share {
	PTBM_SHARE_THREADS = 0,	  /* the threads of one process (not its forked children) */
	PTBM_SHARE_PROCESSES = 1, /* forked or attached processes; shared mapping */
};

enum ptbm_engine {
	PTBM_ENGINE_VM = 0,   /* PT-BM: the page table is the buffer table */
	PTBM_ENGINE_HASH = 1, /* PostgreSQL-style hash table + clock sweep */
	PTBM_ENGINE_MMAP = 2, /* the data file mapped MAP_SHARED; the OS decides */
};

enum ptbm_direct {
	PTBM_DIRECT_AUTO = 0, /* O_DIRECT where the filesystem takes it */
	PTBM_DIRECT_ON = 1,   /* O_DIRECT or fail to open */
	PTBM_DIRECT_OFF = 2,  /* buffered I/O */
};

/* Flags for ptbm_config.flags. */
#define PTBM_CREATE	 0x1u /* create the data file if it is missing (only then) */
#define PTBM_TRUNCATE	 0x2u /* start over: empty the data file, lose its pages */
#define PTBM_NO_POPULATE 0x4u /* processes mode: let workers fault PTEs in */
/* vm: never collapse a resident 2 MiB extent into a huge page (threads mode
 * then keeps its frames in private memory, where misses and evictions cost
 * less). A threads-mode pool whose data file holds more pages than its
 * budget at open opens so without it: it evicts from the start, and a pool
 * at its budget never collapses. */
#define PTBM_NO_HUGE 0x8u
/* vm: a releaser thread per process retires eviction's victims (write-back,
 * freeing their frames) beside the miss that picked them, instead of on its
 * path (src/vm/release.c); a call that handed a batch over still waits for
 * it before it returns */
#define PTBM_BACKGROUND 0x10u

typedef struct ptbm_pool ptbm_pool;

struct ptbm_config {
	uint32_t struct_size; /* set by ptbm_config_init; lets the struct grow */
	enum ptbm_engine engine;
	enum ptbm_share share;
	const char *data_path; /* the data file; required */
	const char *name;      /* processes mode: POSIX shm name ("/x") so that
				  unrelated processes can ptbm_attach(); NULL =
				  anonymous, shared with forked children only */
	uint32_t page_size;    /* multiple of 4096; default 8192 */
	uint64_t max_pages;    /* virtual size in pages; default 1 TiB worth */
	uint64_t budget_bytes; /* resident page memory; default 1 GiB */
	uint32_t evict_batch;  /* pages released per eviction round; default 64 */
	enum ptbm_direct direct;
	uint32_t flags;	      /* PTBM_CREATE | PTBM_TRUNCATE | ... */
	uint32_t max_threads; /* threads of all processes that use the pool at
				 once; default 1024, at most 65536 */
};

/*
 * Per-pool statistics, summed over every thread and process of the pool
 * (faults: this process only, since it opened or attached the pool).
 */
struct ptbm_stats {
	uint64_t hits;	       /* fixes that found the page resident */
	uint64_t misses;       /* fixes that loaded the page */
	uint64_t optimistic;   /* optimistic reads begun */
	uint64_t restarts;     /* optimistic reads that failed validation */
	uint64_t reads;	       /* pages read from the data file */
	uint64_t writes;       /* pages written to the data file */
	uint64_t evictions;    /* pages released from memory */
	uint64_t populates;    /* pages this pool mapped with MADV_POPULATE */
	uint64_t resident;     /* pages resident now */
	uint64_t budget_pages; /* the budget in pages */
	uint64_t allocated;    /* pages allocated (ptbm_alloc) */
	uint64_t minor_faults; /* this process, since open/attach */
	uint64_t major_faults; /* this process, since open/attach */
	uint64_t collapses;    /* 2 MiB extents collapsed into huge pages */
};

/* Fill *cfg with defaults. Always call it before setting fields.
 * Errors: -EINVAL (cfg NULL). */
PTBM_API int ptbm_config_init(struct ptbm_config *cfg);

/*
 * Create a pool over cfg->data_path (opening the file, or creating it with
 * PTBM_CREATE if it is missing) and store it in *out. A pool starts empty
 * only from a file that PTBM_CREATE created or PTBM_TRUNCATE emptied: an
 * existing file of 0 bytes is PTBM_ETRUNCATED (its pages are gone), never a
 * new pool. A data file is open in one pool at a time: PTBM_EINUSE (after a
 * second of waiting) while another pool (of this or any process) has it
 * open, until that pool is closed or its processes (those that opened,
 * forked from or attached it) are all gone. In processes mode the pool may
 * be shared with children forked after this call returns, and, if
 * cfg->name is set, attached by name.
 * Errors: -EINVAL (cfg or out NULL); PTBM_EINVAL_CONFIG (a field: not
 * filled by ptbm_config_init, page size, sizes, budget, evict_batch,
 * max_threads, name, flags; or a file holding more pages than max_pages);
 * PTBM_ENOSUPPORT (an engine this build lacks, or O_DIRECT refused by the
 * filesystem with PTBM_DIRECT_ON); -ENOENT (no file and no PTBM_CREATE, or
 * no such directory); -EEXIST (the name is in use); PTBM_EBADFILE (not a
 * ptbm data file, or its header is damaged); PTBM_ETRUNCATED (shorter than
 * its header says, or emptied); PTBM_ELAYOUT (another page size or layout
 * version); PTBM_EINUSE; PTBM_EFOLIO (a vm pool in processes mode where the
 * kernel's transparent_hugepage settings give shmem folios larger than a
 * page and the kernel refuses MADV_NOHUGEPAGE, which keeps the frames in
 * base pages otherwise, without huge extents: a page released out of a
 * larger folio would not be freed, so the budget could not hold; in
 * threads mode such a pool keeps its frames in private memory instead, as
 * with PTBM_NO_HUGE); -ENOMEM; -EACCES, -EISDIR, -ENAMETOOLONG, -ELOOP
 * and the other -errno of open(2), shm_open(3) and mmap(2); I/O errors
 * (writing the header of a new or emptied file).
 */
PTBM_API int ptbm_open(const struct ptbm_config *cfg, ptbm_pool **out);

/*
 * Attach to a pool created by another process with cfg->name = name and
 * store it in *out.
 * Errors: -EINVAL (name or out NULL, name not of the form "/x", or a name
 * the system refuses); -ENOENT (no such pool, or its data file is gone);
 * PTBM_ELAYOUT (a pool of another layout version of ptbm, or not
 * attachable); PTBM_EBADFILE, PTBM_ETRUNCATED (its data file, as for
 * ptbm_open); PTBM_EINUSE; PTBM_EFOLIO (as for ptbm_open, or a pool made
 * with huge extents where this process's faults would now get such
 * folios); -ENOMEM; other
 * -errno of shm_open(3), open(2) and mmap(2).
 */
PTBM_API int ptbm_attach(const char *name, ptbm_pool **out);

/*
 * Detach from the pool; the creator also releases it (and unlinks its
 * name). Dirty pages are NOT written: call ptbm_flush() first to keep them.
 * No page may be fixed by this process. Errors: -EINVAL (pool NULL).
 */
PTBM_API int ptbm_close(ptbm_pool *pool);

/*
 * Remove a named pool left behind by a process that died.
 * Errors: -EINVAL (name NULL or not of the form "/x"); -ENOENT (no such
 * pool); other -errno of shm_unlink(3).
 */
PTBM_API int ptbm_unlink(const char *name);

/*
 * Latch page pid shared (many readers) or exclusive (one writer), loading it
 * from the data file if it is not resident, and return its address in *page.
 * Blocks while another holder has it exclusive. A thread must not fix the
 * same page twice, and must not wait on a latch while holding latches in a
 * cycle (latch pages in ascending page id order when holding several).
 * A latch belongs to the process that took it: any thread of that process
 * may release it (the one that took it may have exited), no other process
 * may.
 * Errors: -EINVAL (pool or page NULL); PTBM_ERANGE (pid not allocated or
 * beyond max_pages); PTBM_ECHECKSUM (the page on disk is torn or corrupt,
 * or was written once and is zeros now; nothing returned); PTBM_EBUSY (no
 * frame can be freed: every resident page is latched); PTBM_EOWNERDEAD (a
 * process died holding a latch this call waited for, or any latch since:
 * see ptbm_health); PTBM_ETOOMANY; -ENOMEM; I/O errors (of the read, or of
 * the write-back of the pages evicted to make room).
 */
PTBM_API int ptbm_fix_shared(ptbm_pool *pool, uint64_t pid, void **page);
PTBM_API int ptbm_fix_exclusive(ptbm_pool *pool, uint64_t pid, void **page);

/*
 * Release a latch.
 * Errors: -EINVAL (pool NULL); PTBM_ERANGE (pid beyond max_pages);
 * PTBM_ENOTFIXED (the page is not latched that way); PTBM_ETOOMANY.
 */
PTBM_API int ptbm_unfix_shared(ptbm_pool *pool, uint64_t pid);
PTBM_API int ptbm_unfix_exclusive(ptbm_pool *pool, uint64_t pid);

/*
 * Record that the exclusively latched page was modified, so that eviction
 * and ptbm_flush() write it back.
 * Errors: -EINVAL (pool NULL); PTBM_ERANGE (pid beyond max_pages);
 * PTBM_ENOTFIXED (not latched exclusive).
 */
PTBM_API int ptbm_mark_dirty(ptbm_pool *pool, uint64_t pid);

/*
 * Optimistic read: ptbm_read_begin() makes the page resident if needed and
 * returns its address in *page and its version in *version, without writing
 * to shared memory. The caller reads, then calls ptbm_read_validate(); if
 * that returns PTBM_ERESTART a writer or an eviction intervened and what was
 * read must be discarded. Data read before validation may be inconsistent:
 * never follow pointers or trust lengths from it unchecked. All three
 * engines support it.
 * Errors (begin): -EINVAL (pool, page or version NULL), and those of
 * ptbm_fix_shared. Errors (validate): -EINVAL (pool NULL); PTBM_ERANGE (pid
 * beyond max_pages); PTBM_ERESTART; PTBM_ETOOMANY.
 */
PTBM_API int ptbm_read_begin(ptbm_pool *pool, uint64_t pid, const void **page, uint64_t *version);
PTBM_API int ptbm_read_validate(ptbm_pool *pool, uint64_t pid, uint64_t version);

/*
 * Convenience: copy len bytes at offset of page pid into buf, consistently
 * (optimistic read with restarts).
 * Errors: -EINVAL (pool or buf NULL); PTBM_ERANGE (also offset + len beyond
 * the usable bytes); the others of ptbm_read_begin.
 */
PTBM_API int ptbm_read(ptbm_pool *pool, uint64_t pid, size_t offset, void *buf, size_t len);

/*
 * Turn an optimistic read into an exclusive latch if nothing changed since
 * ptbm_read_begin returned version.
 * Errors: -EINVAL (pool NULL); PTBM_ERANGE (pid beyond max_pages);
 * PTBM_ERESTART (something changed; no latch is held); PTBM_ETOOMANY.
 */
PTBM_API int ptbm_upgrade(ptbm_pool *pool, uint64_t pid, uint64_t version);

/*
 * Allocate count consecutive new page ids; the first is stored in *first.
 * New pages read as zeros until written.
 * Errors: -EINVAL (pool or first NULL, count 0); PTBM_EFULL (past
 * max_pages); and in the mmap engine, which extends the file:
 * PTBM_EOWNERDEAD, PTBM_ETOOMANY, I/O errors.
 */
PTBM_API int ptbm_alloc(ptbm_pool *pool, uint64_t count, uint64_t *first);

/*
 * Load pages into memory ahead of use, in batches of I/O; pages already
 * resident or latched are skipped. Returns the number of pages loaded (0 or
 * more), or a negative error: -EINVAL (pool NULL, pids NULL with n > 0, or
 * n > INT_MAX); PTBM_ERANGE (a pid not allocated; nothing is loaded then);
 * PTBM_ETOOMANY; and, when no page could be loaded, the error of the first
 * that failed: PTBM_ECHECKSUM, PTBM_EBUSY, PTBM_EOWNERDEAD, -ENOMEM, I/O
 * errors.
 */
PTBM_API int ptbm_prefetch(ptbm_pool *pool, const uint64_t *pids, size_t n);

/*
 * Write every dirty page to the data file, then fdatasync it and its header:
 * when this returns 0, every modification unfixed before the call survives
 * the death of every process. Safe while other workers run (they block only
 * on the page being written). Pages that could not be written stay dirty in
 * memory.
 * Errors: -EINVAL (pool NULL); PTBM_EOWNERDEAD; PTBM_ETOOMANY; -ENOMEM; I/O
 * errors.
 */
PTBM_API int ptbm_flush(ptbm_pool *pool);

/*
 * Dead owners. The vm and mmap engines count every latch a process holds
 * and find a process that died holding one; the hash engine (the baseline
 * in PostgreSQL's design, whose partition locks are process-shared pthread
 * rwlocks and whose buffer latches and I/O flags are not counted) does not:
 * a process that dies holding one of its latches leaves the waiters for it
 * waiting, and ptbm_health does not report it. As PostgreSQL does, restart
 * the pool (close, open) whenever a process using it dies abnormally.
 *
 * Whether the pool can be trusted: 0, or PTBM_EOWNERDEAD if a process that
 * used it died (or exited) holding latches (its pages may be half-written
 * and its latches are never released); a killed process counts as dead
 * from the moment it dies, before its parent reaps it. The remedy is the
 * one PostgreSQL applies after a backend crash: stop using the pool,
 * ptbm_close() it and ptbm_open() it again from the data file, which holds
 * every flushed page. Waits inside ptbm return PTBM_EOWNERDEAD by
 * themselves; this call lets a supervisor ask without waiting (one look per
 * process that holds latches).
 * Errors: -EINVAL (pool NULL); PTBM_EOWNERDEAD.
 */
PTBM_API int ptbm_health(ptbm_pool *pool);

/* Fill *st. Errors: -EINVAL (pool or st NULL). */
PTBM_API int ptbm_get_stats(ptbm_pool *pool, struct ptbm_stats *st);

/*
 * What the pool is. The sizes are 0 if pool is NULL; the others return
 * -EINVAL then.
 */
/* Bytes of each page the caller owns: page_size - PTBM_PAGE_TRAILER. */
PTBM_API size_t ptbm_page_usable(const ptbm_pool *pool);
PTBM_API uint32_t ptbm_page_size(const ptbm_pool *pool);
PTBM_API uint64_t ptbm_max_pages(const ptbm_pool *pool);
/* enum ptbm_engine, enum ptbm_share */
PTBM_API int ptbm_engine_of(const ptbm_pool *pool);
PTBM_API int ptbm_share_of(const ptbm_pool *pool);
/* 1 if data file I/O bypasses the page cache (O_DIRECT), else 0. */
PTBM_API int ptbm_direct_io(const ptbm_pool *pool);

/* A message for a ptbm error or a negative errno. Never NULL. */
PTBM_API const char *ptbm_strerror(int err);

/* Names used on command lines and in reports; NULL if out of range. */
PTBM_API const char *ptbm_engine_name(enum ptbm_engine engine);
PTBM_API const char *ptbm_share_name(enum ptbm_share share);

#ifdef __cplusplus
}
#endif
#endif /* PTBM_H */
