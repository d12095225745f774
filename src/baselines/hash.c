/*
 * engine_hash.c - the baseline: a buffer manager in PostgreSQL's design.
 *
 * Written from published descriptions of PostgreSQL's buffer manager, not
 * from PostgreSQL's code. A fixed pool of frames lives in the pool's engine area
 * (so in the shared region: threads, forked processes and attachers by name
 * all see it), and a shared hash table maps page ids to frames. The point of
 * this engine is to measure what PT-BM removes: the lookup on every access.
 *
 * Engine area (offsets from pool->engine_area, all relative so that every
 * process may map the region at its own address):
 *
 *   [ struct harea: sizes, offsets, 128 partition locks (one line each) ]
 *   [ buffer descriptors: n_frames x 64 B (state, tag, content latch)  ]
 *   [ table entries: n_frames x 16 B (entry b belongs to buffer b)      ]
 *   [ bucket heads: n_buckets x 4 B, 0 = empty, else buffer id + 1      ]
 *   [ frames: n_frames x page_size, 4096-aligned (O_DIRECT-ready)       ]
 *
 * n_frames = budget_pages. Nothing is released back to the OS: like
 * shared_buffers, a frame costs memory from its first use until the pool
 * closes, and each process takes its own page faults on the frames it
 * touches (the "each new backend faults in shared_buffers again" cost).
 *
 * The buffer state word (32 bits, atomic, one per descriptor):
 *
 *   31..28  27       26    25        24     23     22      21..18  17..0
 *   [ -- ][IO_ERR][IO_IN][TAG_VALID][VALID][DIRTY][LOCKED][ usage ][ refcount ]
 *
 * refcount counts pins (a pinned buffer is never replaced); usage is the
 * clock's counter, bumped by each pin up to 5 and decremented by the sweep;
 * LOCKED is the buffer-header spinlock. While LOCKED is set only its holder
 * changes the word, so every other update (pin, unpin, mark dirty) is a CAS
 * that waits for the bit to clear, and the holder unlocks with a plain store.
 *
 * The content latch is a second 64-bit word: [version:32][X:1][readers:31].
 * Pins and content latches are separate, as in PostgreSQL: fix = pin, then
 * latch; unfix = unlatch, then unpin. The version is this engine's addition
 * for optimistic reads (below): it is bumped by every exclusive unlatch and
 * every change of the buffer's tag.
 *
 * Hit path (hash_fix): hash the page id; the low 7 bits pick one of 128
 * partitions, each a process-shared pthread rwlock guarding its buckets;
 * take it shared, walk the bucket's chain, pin (CAS), unlock; latch.
 *
 * Miss path (buffer_alloc):
 *   1. clock sweep: an atomic hand over all descriptors; each step locks the
 *      header, and an unpinned buffer either loses one usage count or, at
 *      zero, is the victim (header locked); n_frames pinned buffers in a row
 *      mean none is free: PTBM_EBUSY;
 *   2. pin the victim, unlock its header;
 *   3. dirty victim: take its content latch shared if that succeeds at once
 *      (else drop it, back to 1), write it (flush_buffer), unlatch;
 *   4. take the new page's partition and the victim's old one exclusive, in
 *      partition order (one lock if they are the same);
 *   5. if the new page is in the table now (another loader won), pin that
 *      buffer instead, unpin the victim, done;
 *   6. lock the victim's header: if it was pinned or dirtied meanwhile, undo
 *      and go back to 1; else delete the old entry, insert the new one, set
 *      the tag, bump the version, state = TAG_VALID | IO_IN_PROGRESS, usage
 *      1, and unlock header and partitions;
 *   7. read the page into the frame (read_into), set VALID, clear IO; a
 *      failed read (checksum, I/O) removes the entry again if no one else
 *      waits on the buffer (forget_failed), so the page is not resident and
 *      the frame is free; waiters retry the read themselves.
 * Differences from PostgreSQL, none on the hit path: there is no free list
 * (a never-used buffer has usage 0 and the sweep takes it at once), the
 * installer sets IO_IN_PROGRESS in step 6 rather than in a separate
 * StartBufferIO, step 5 looks the tag up instead of inserting first (each
 * buffer owns one table entry, so it cannot be in the table twice), and a
 * 64-bit page id is hashed rather than a 20-byte tag. evict_batch is unused:
 * this design replaces one buffer per miss.
 *
 * I/O in progress: a reader sets IO_IN_PROGRESS before reading into a frame
 * and a writer before writing one back; anyone else wanting I/O on the
 * buffer waits until it clears (wait_io). So a page is written by one
 * flusher at a time, and a buffer being loaded is not VALID: a fixer that
 * pins it waits, then uses it (or retries the read if it failed).
 *
 * Write-back happens under a shared content latch (eviction step 3 and
 * flush): mark_dirty requires the exclusive latch, so no one dirties a page
 * while it is written and clearing DIRTY after a write loses nothing.
 *
 * Lock order: partition locks (ascending) -> header spinlock. Pins are taken
 * under a partition lock or a header lock; content latches and I/O waits
 * are never taken while holding a partition or header lock. The sweep only
 * takes unpinned buffers, and a content latch is held only with a pin, so
 * the victim's latch is free except for a racing pinner (step 3's try).
 *
 * Finding the buffer at unfix: the API names pages, not buffers, so each
 * thread keeps the buffers it has pinned in a small thread-local array (as
 * PostgreSQL's backends keep private pin counts); a page not found there is
 * looked up in the table again (it cannot move while pinned).
 *
 * Optimistic reads (read_begin/read_validate/upgrade): read_begin looks the
 * page up under its partition lock, without pinning, and returns the frame
 * and (buffer id << 32 | latch version) if the buffer is VALID and not
 * latched exclusive. The frames are never unmapped, so a racing read reads
 * some page's bytes, never a hole; validate rechecks the version, which any
 * exclusive unlatch and any replacement bump. The version is read under the
 * partition lock that the replacer holds exclusive while bumping, so a
 * version that validates means the buffer held the page all along. This is
 * not in PostgreSQL; it lets the benchmark compare optimistic reads on both
 * pools, with the hash engine still paying its lookup and lock per read.
 */
#include "pool/pool.h"

#include "core/backoff.h"
#include "core/pageio.h"
#include "registry/stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define N_PARTITIONS 128 /* a power of two, at most the bucket count */

/* ---- the buffer state word ------------------------------------------- */
#define BUF_REFCOUNT_ONE  1u
#define BUF_REFCOUNT_MASK ((1u << 18) - 1)
#define BUF_USAGE_SHIFT	  18
#define BUF_USAGE_ONE	  (1u << BUF_USAGE_SHIFT)
#define BUF_USAGE_MASK	  (0xfu << BUF_USAGE_SHIFT)
#define BUF_USAGE_MAX	  5u
#define BM_LOCKED	  (1u << 22) /* header spinlock */
#define BM_DIRTY	  (1u << 23) /* frame newer than the disk */
#define BM_VALID	  (1u << 24) /* frame holds the page's bytes */
#define BM_TAG_VALID	  (1u << 25) /* tag names a page; entry in table */
#define BM_IO_IN_PROGRESS (1u << 26) /* someone reads or writes the frame */
#define BM_IO_ERROR	  (1u << 27) /* the last I/O on it failed */

/* ---- the content latch word ------------------------------------------ */
#define LATCH_X		  (1ull << 31)
#define LATCH_READERS	  ((1ull << 31) - 1)
#define LATCH_VERSION_ONE (1ull << 32)

struct hbuf {
	_Atomic uint32_t state; /* see above */
	uint32_t pad_;		/* */
	uint64_t tag;		/* page held, when BM_TAG_VALID */
	_Atomic uint64_t latch; /* content latch and version */
} __attribute__((aligned(PTBM_CACHELINE)));

struct hent {
	uint64_t pid;  /* page this buffer holds (when in the table) */
	uint32_t next; /* next entry in the bucket: buffer id + 1, 0 = end */
	uint32_t pad_;
};

struct hpart {
	pthread_rwlock_t lock; /* guards the buckets of this partition */
} __attribute__((aligned(PTBM_CACHELINE)));

struct hsizes {
	uint64_t n_frames;   /* buffers, = budget_pages */
	uint64_t n_buckets;  /* a power of two >= max(n_frames, 128) */
	uint64_t off_desc;   /* offsets from the area's start */
	uint64_t off_ent;    /* */
	uint64_t off_bucket; /* */
	uint64_t off_frames; /* */
	uint64_t total;	     /* bytes of the whole area */
};

struct harea {
	struct hsizes sz; /* as the creator laid it out */
	struct hpart part[N_PARTITIONS];
};

/* Per process: the area's pieces at this process's addresses. */
struct hview {
	struct hbuf *buf;
	struct hent *ent;
	uint32_t *bucket;
	char *frames;
	struct harea *area;
	uint64_t n_frames;
	uint64_t bucket_mask;
	uint32_t page_size;
};

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* Sizes and offsets for a pool: the one source for area_bytes and init. */
static void layout(const struct ptbm_shared *sh, struct hsizes *l)
{
	l->n_frames = sh->budget_pages;
	l->n_buckets = N_PARTITIONS;
	while (l->n_buckets < l->n_frames)
		l->n_buckets <<= 1;
	l->off_desc = align_up(sizeof(struct harea), PTBM_CACHELINE);
	l->off_ent = l->off_desc + l->n_frames * sizeof(struct hbuf);
	l->off_bucket = l->off_ent + l->n_frames * sizeof(struct hent);
	l->off_frames = align_up(l->off_bucket + l->n_buckets * sizeof(uint32_t), 4096);
	l->total = l->off_frames + l->n_frames * (uint64_t)sh->page_size;
}

static inline struct hview *view(ptbm_pool *pool)
{
	return pool->engine_private;
}

static inline void *frame(const struct hview *v, uint64_t b)
{
	return v->frames + b * v->page_size;
}

/* A 64-bit mix of the page id; low 7 bits pick the partition. */
static inline uint64_t page_hash(uint64_t pid)
{
	pid ^= pid >> 33;
	pid *= 0xff51afd7ed558ccdull;
	pid ^= pid >> 33;
	pid *= 0xc4ceb9fe1a85ec53ull;
	pid ^= pid >> 33;
	return pid;
}

static inline pthread_rwlock_t *part_lock(const struct hview *v, uint64_t h)
{
	return &v->area->part[h & (N_PARTITIONS - 1)].lock;
}

/* ---- the buffer table (caller holds the partition lock) --------------- */

static inline int64_t table_lookup(const struct hview *v, uint64_t h, uint64_t pid)
{
	for (uint32_t e = v->bucket[h & v->bucket_mask]; e; e = v->ent[e - 1].next)
		if (v->ent[e - 1].pid == pid)
			return (int64_t)e - 1;
	return -1;
}

static void table_insert(struct hview *v, uint64_t h, uint64_t pid, uint64_t b)
{
	uint32_t *head = &v->bucket[h & v->bucket_mask];
	v->ent[b].pid = pid;
	v->ent[b].next = *head;
	*head = (uint32_t)b + 1;
}

static void table_delete(struct hview *v, uint64_t h, uint64_t b)
{
	uint32_t *link = &v->bucket[h & v->bucket_mask];
	while (*link && *link != b + 1)
		link = &v->ent[*link - 1].next;
	if (*link) /* always found: the caller saw BM_TAG_VALID */
		*link = v->ent[b].next;
}

/* ---- header spinlock, pins ------------------------------------------- */

static uint32_t lock_header(struct hbuf *d)
{
	unsigned spins = 0;
	for (;;) {
		uint32_t s = atomic_fetch_or_explicit(&d->state, BM_LOCKED, memory_order_acquire);
		if (!(s & BM_LOCKED))
			return s | BM_LOCKED;
		while (atomic_load_explicit(&d->state, memory_order_relaxed) & BM_LOCKED)
			ptbm_backoff(&spins);
	}
}

static inline void unlock_header(struct hbuf *d, uint32_t s)
{
	atomic_store_explicit(&d->state, s & ~BM_LOCKED, memory_order_release);
}

/*
 * The state word once no one holds the header lock. An update outside the
 * lock is a CAS from this value: the holder's unlocking store would
 * overwrite anything else.
 */
static inline uint32_t state_unlocked(struct hbuf *d, unsigned *spins)
{
	uint32_t s;
	while (
	    PTBM_UNLIKELY((s = atomic_load_explicit(&d->state, memory_order_relaxed)) & BM_LOCKED))
		ptbm_backoff(spins);
	return s;
}

/* Pin: refcount + 1, usage + 1 up to 5. Returns the new state. */
static inline uint32_t pin(struct hbuf *d)
{
	unsigned spins = 0;
	for (;;) {
		uint32_t s = state_unlocked(d, &spins), n = s + BUF_REFCOUNT_ONE;
		if ((s & BUF_USAGE_MASK) < BUF_USAGE_MAX * BUF_USAGE_ONE)
			n += BUF_USAGE_ONE;
		if (atomic_compare_exchange_weak_explicit(&d->state, &s, n, memory_order_acquire,
							  memory_order_relaxed))
			return n;
	}
}

static inline void unpin(struct hbuf *d)
{
	unsigned spins = 0;
	for (;;) {
		uint32_t s = state_unlocked(d, &spins);
		if (atomic_compare_exchange_weak_explicit(&d->state, &s, s - BUF_REFCOUNT_ONE,
							  memory_order_release,
							  memory_order_relaxed))
			return;
	}
}

/* ---- content latch ------------------------------------------------------ */

static inline void latch_shared(struct hbuf *d)
{
	uint64_t w = atomic_load_explicit(&d->latch, memory_order_relaxed);
	unsigned spins = 0;
	for (;;) {
		if (PTBM_UNLIKELY((w & LATCH_X) || (w & LATCH_READERS) == LATCH_READERS)) {
			ptbm_backoff(&spins);
			w = atomic_load_explicit(&d->latch, memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(
			&d->latch, &w, w + 1, memory_order_acquire, memory_order_relaxed))
			return;
	}
}

static bool latch_try_shared(struct hbuf *d)
{
	uint64_t w = atomic_load_explicit(&d->latch, memory_order_relaxed);
	while (!(w & LATCH_X) && (w & LATCH_READERS) != LATCH_READERS)
		if (atomic_compare_exchange_weak_explicit(
			&d->latch, &w, w + 1, memory_order_acquire, memory_order_relaxed))
			return true;
	return false;
}

static inline void latch_exclusive(struct hbuf *d)
{
	uint64_t w = atomic_load_explicit(&d->latch, memory_order_relaxed);
	unsigned spins = 0;
	for (;;) {
		if (PTBM_UNLIKELY(w & (LATCH_X | LATCH_READERS))) {
			ptbm_backoff(&spins);
			w = atomic_load_explicit(&d->latch, memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(
			&d->latch, &w, w | LATCH_X, memory_order_acquire, memory_order_relaxed))
			return;
	}
}

static inline void unlatch_shared(struct hbuf *d)
{
	atomic_fetch_sub_explicit(&d->latch, 1, memory_order_release);
}

/* ---- the thread's pinned buffers ------------------------------------------ */

#define PIN_SLOTS 16

static __thread struct pin_slot {
	uint64_t serial; /* pool->serial; 0 = free slot */
	uint64_t pid;
	uint64_t buf;
} pin_map[PIN_SLOTS];

static inline void pin_remember(ptbm_pool *pool, uint64_t pid, uint64_t b)
{
	for (int i = 0; i < PIN_SLOTS; i++)
		if (pin_map[i].serial == 0) {
			pin_map[i] = (struct pin_slot){pool->serial, pid, b};
			return;
		}
	/* full: unfix finds the buffer through the table */
}

/* The buffer this thread pinned for pid, or -1 if it holds no pin on it. */
static int64_t pinned_buffer(ptbm_pool *pool, uint64_t pid, bool forget)
{
	for (int i = 0; i < PIN_SLOTS; i++)
		if (pin_map[i].serial == pool->serial && pin_map[i].pid == pid) {
			if (forget)
				pin_map[i].serial = 0;
			return (int64_t)pin_map[i].buf;
		}
	struct hview *v = view(pool);
	uint64_t h = page_hash(pid);
	pthread_rwlock_rdlock(part_lock(v, h));
	int64_t b = table_lookup(v, h, pid);
	pthread_rwlock_unlock(part_lock(v, h));
	return b;
}

/* ---- I/O ------------------------------------------------------------------ */

static void wait_io(struct hbuf *d)
{
	unsigned spins = 0;
	while (atomic_load_explicit(&d->state, memory_order_acquire) & BM_IO_IN_PROGRESS)
		ptbm_backoff(&spins);
}

/*
 * Write back pinned buffer b, whose content latch the caller holds shared.
 * Waits for I/O already in progress; does nothing if the buffer is clean by
 * then. On failure the buffer stays dirty.
 */
static int flush_buffer(ptbm_pool *pool, uint64_t b)
{
	struct hview *v = view(pool);
	struct hbuf *d = &v->buf[b];
	for (;;) {
		uint32_t s = lock_header(d);
		if (!(s & BM_IO_IN_PROGRESS)) {
			if (!(s & BM_DIRTY)) {
				unlock_header(d, s);
				return 0;
			}
			unlock_header(d, s | BM_IO_IN_PROGRESS);
			break;
		}
		unlock_header(d, s);
		wait_io(d);
	}
	uint64_t pid = d->tag;
	void *addr = frame(v, b);
	int rc = ptbm_file_write_pages(&pool->file, &pid, &addr, 1);
	uint32_t s = lock_header(d) & ~BM_IO_IN_PROGRESS;
	if (rc == 0)
		s &= ~(BM_DIRTY | BM_IO_ERROR);
	else
		s |= BM_IO_ERROR;
	unlock_header(d, s);
	if (rc == 0)
		ptbm_count(pool, PTBM_C_WRITES, 1);
	return rc;
}

/*
 * A read into pinned buffer b failed. If no one else has it pinned, take
 * its entry out of the table (the page is not resident, the frame free);
 * else leave it !VALID for a waiter to retry. Either way, drop our pin.
 */
static void forget_failed(ptbm_pool *pool, uint64_t b, uint64_t pid)
{
	struct hview *v = view(pool);
	struct hbuf *d = &v->buf[b];
	uint64_t h = page_hash(pid);
	pthread_rwlock_wrlock(part_lock(v, h));
	uint32_t s = lock_header(d);
	s = (s & ~BM_IO_IN_PROGRESS) | BM_IO_ERROR;
	if ((s & BUF_REFCOUNT_MASK) == 1) {
		table_delete(v, h, b);
		s &= ~(BM_TAG_VALID | BM_IO_ERROR | BUF_USAGE_MASK);
		atomic_fetch_add_explicit(&d->latch, LATCH_VERSION_ONE, memory_order_relaxed);
		atomic_fetch_sub(&pool->sh->resident, 1);
	}
	unlock_header(d, s - BUF_REFCOUNT_ONE);
	pthread_rwlock_unlock(part_lock(v, h));
}

/* The read of page pid into pinned buffer b ended with rc: publish the
 * page valid, or forget it (which drops the caller's pin). */
static int read_done(ptbm_pool *pool, uint64_t b, uint64_t pid, int rc)
{
	struct hbuf *d = &view(pool)->buf[b];
	if (rc < 0) {
		forget_failed(pool, b, pid);
		return rc;
	}
	uint32_t s = lock_header(d);
	unlock_header(d, (s & ~(BM_IO_IN_PROGRESS | BM_IO_ERROR)) | BM_VALID);
	ptbm_count(pool, PTBM_C_READS, 1);
	return 0;
}

/* Read page pid into pinned buffer b, whose I/O the caller started. */
static int read_into(ptbm_pool *pool, uint64_t b, uint64_t pid)
{
	int rc = ptbm_file_read_page(&pool->file, pid, frame(view(pool), b));
	if (rc == 0)
		ptbm_count(pool, PTBM_C_MISSES, 1);
	return read_done(pool, b, pid, rc);
}

/*
 * Pinned buffer b is not VALID: someone is reading it, or a read failed.
 * Wait for the reader, or read it ourselves. Sets *loaded if we did.
 */
static int wait_valid(ptbm_pool *pool, uint64_t b, uint64_t pid, bool *loaded)
{
	struct hbuf *d = &view(pool)->buf[b];
	for (;;) {
		uint32_t s = lock_header(d);
		if (s & BM_VALID) {
			unlock_header(d, s);
			return 0;
		}
		if (!(s & BM_IO_IN_PROGRESS)) {
			unlock_header(d, s | BM_IO_IN_PROGRESS);
			*loaded = true;
			return read_into(pool, b, pid);
		}
		unlock_header(d, s);
		wait_io(d);
	}
}

/* ---- replacement ------------------------------------------------------------ */

/*
 * The clock sweep: returns an unpinned buffer of usage 0 with its header
 * locked (its state in *state), or PTBM_EBUSY after n_frames pinned buffers
 * in a row.
 */
static int64_t clock_sweep(ptbm_pool *pool, uint32_t *state)
{
	struct hview *v = view(pool);
	uint64_t tries = v->n_frames;
	for (;;) {
		uint64_t b =
		    atomic_fetch_add_explicit(&pool->sh->clock_hand, 1, memory_order_relaxed) %
		    v->n_frames;
		struct hbuf *d = &v->buf[b];
		uint32_t s = lock_header(d);
		if ((s & BUF_REFCOUNT_MASK) == 0) {
			if (!(s & BUF_USAGE_MASK)) {
				*state = s;
				return (int64_t)b;
			}
			unlock_header(d, s - BUF_USAGE_ONE);
			tries = v->n_frames;
			continue;
		}
		unlock_header(d, s);
		if (--tries == 0)
			return PTBM_EBUSY;
	}
}

static void lock_pair(const struct hview *v, uint64_t h1, uint64_t h2)
{
	unsigned a = h1 & (N_PARTITIONS - 1), b = h2 & (N_PARTITIONS - 1);
	if (a > b) {
		unsigned t = a;
		a = b;
		b = t;
	}
	pthread_rwlock_wrlock(&v->area->part[a].lock);
	if (b != a)
		pthread_rwlock_wrlock(&v->area->part[b].lock);
}

static void unlock_pair(const struct hview *v, uint64_t h1, uint64_t h2)
{
	unsigned a = h1 & (N_PARTITIONS - 1), b = h2 & (N_PARTITIONS - 1);
	pthread_rwlock_unlock(&v->area->part[a].lock);
	if (b != a)
		pthread_rwlock_unlock(&v->area->part[b].lock);
}

/*
 * Give page pid (hash h), found missing from the table, a buffer: steps
 * 1-6 of the miss path. Returns the pinned buffer; *io_owned says whether
 * the caller must read the page into it (else another loader installed it
 * first and *state is that buffer's state after our pin).
 */
static int64_t buffer_alloc(ptbm_pool *pool, uint64_t pid, uint64_t h, uint32_t *state,
			    bool *io_owned)
{
	struct hview *v = view(pool);
	if (pid >= atomic_load_explicit(&pool->sh->n_alloc, memory_order_acquire))
		return PTBM_ERANGE;
	for (;;) {
		uint32_t s;
		int64_t b = clock_sweep(pool, &s);
		if (b < 0)
			return b;
		struct hbuf *d = &v->buf[b];
		unlock_header(d, s + BUF_REFCOUNT_ONE); /* pin the victim */
		if (s & BM_DIRTY) {
			if (!latch_try_shared(d)) {
				unpin(d);
				continue;
			}
			int rc = flush_buffer(pool, (uint64_t)b);
			unlatch_shared(d);
			if (rc < 0) {
				unpin(d);
				return rc;
			}
		}
		/* our pin keeps the tag from changing under us */
		bool old_valid = s & BM_TAG_VALID;
		uint64_t oh = old_valid ? page_hash(d->tag) : h;
		lock_pair(v, h, oh);
		int64_t e = table_lookup(v, h, pid);
		if (e >= 0) {
			*state = pin(&v->buf[e]);
			unlock_pair(v, h, oh);
			unpin(d);
			*io_owned = false;
			return e;
		}
		s = lock_header(d);
		if ((s & BUF_REFCOUNT_MASK) != 1 || (s & BM_DIRTY)) {
			unlock_header(d, s); /* pinned or dirtied meanwhile */
			unlock_pair(v, h, oh);
			unpin(d);
			continue;
		}
		if (old_valid)
			table_delete(v, oh, (uint64_t)b);
		table_insert(v, h, pid, (uint64_t)b);
		d->tag = pid;
		atomic_fetch_add_explicit(&d->latch, LATCH_VERSION_ONE, memory_order_relaxed);
		s &= ~(BM_VALID | BM_DIRTY | BM_IO_ERROR | BUF_USAGE_MASK);
		s |= BM_TAG_VALID | BM_IO_IN_PROGRESS | BUF_USAGE_ONE;
		unlock_header(d, s);
		unlock_pair(v, h, oh);
		if (old_valid)
			ptbm_count(pool, PTBM_C_EVICTIONS, 1);
		else
			atomic_fetch_add(&pool->sh->resident, 1);
		*state = s & ~BM_LOCKED;
		*io_owned = true;
		return b;
	}
}

/* ---- fix / unfix --------------------------------------------------------------- */

/* Pin page pid's buffer, loading the page if needed. Returns the buffer. */
static int64_t pin_page(ptbm_pool *pool, uint64_t pid, bool *loaded)
{
	struct hview *v = view(pool);
	uint64_t h = page_hash(pid);
	pthread_rwlock_t *pl = part_lock(v, h);
	uint32_t s;
	pthread_rwlock_rdlock(pl);
	int64_t b = table_lookup(v, h, pid);
	if (PTBM_LIKELY(b >= 0)) {
		s = pin(&v->buf[b]);
		pthread_rwlock_unlock(pl);
	} else {
		pthread_rwlock_unlock(pl);
		bool io_owned;
		b = buffer_alloc(pool, pid, h, &s, &io_owned);
		if (b < 0)
			return b;
		if (io_owned) {
			*loaded = true;
			int rc = read_into(pool, (uint64_t)b, pid);
			return rc < 0 ? rc : b;
		}
	}
	if (PTBM_UNLIKELY(!(s & BM_VALID))) {
		int rc = wait_valid(pool, (uint64_t)b, pid, loaded);
		if (rc < 0)
			return rc;
	}
	return b;
}

static int hash_fix(ptbm_pool *pool, uint64_t pid, void **page, bool exclusive)
{
	bool loaded = false;
	int64_t b = pin_page(pool, pid, &loaded);
	if (PTBM_UNLIKELY(b < 0))
		return (int)b;
	struct hview *v = view(pool);
	if (exclusive)
		latch_exclusive(&v->buf[b]);
	else
		latch_shared(&v->buf[b]);
	pin_remember(pool, pid, (uint64_t)b);
	if (!loaded)
		ptbm_count(pool, PTBM_C_HITS, 1);
	*page = frame(v, (uint64_t)b);
	return 0;
}

/* The descriptor of the buffer this thread fixed for pid, or NULL. */
static inline struct hbuf *fixed_desc(ptbm_pool *pool, uint64_t pid, bool forget)
{
	int64_t b = pinned_buffer(pool, pid, forget);
	return b < 0 ? NULL : &view(pool)->buf[b];
}

static int hash_unfix_shared(ptbm_pool *pool, uint64_t pid)
{
	struct hbuf *d = fixed_desc(pool, pid, true);
	if (!d)
		return PTBM_ENOTFIXED;
	uint64_t w = atomic_load_explicit(&d->latch, memory_order_relaxed);
	do {
		if (PTBM_UNLIKELY((w & LATCH_X) || !(w & LATCH_READERS)))
			return PTBM_ENOTFIXED;
	} while (!atomic_compare_exchange_weak_explicit(&d->latch, &w, w - 1, memory_order_release,
							memory_order_relaxed));
	unpin(d);
	return 0;
}

static int hash_unfix_exclusive(ptbm_pool *pool, uint64_t pid)
{
	struct hbuf *d = fixed_desc(pool, pid, true);
	if (PTBM_UNLIKELY(!d || !(atomic_load_explicit(&d->latch, memory_order_relaxed) & LATCH_X)))
		return PTBM_ENOTFIXED;
	/* clear X and bump the version in one step */
	atomic_fetch_add_explicit(&d->latch, LATCH_VERSION_ONE - LATCH_X, memory_order_release);
	unpin(d);
	return 0;
}

static int hash_unfix(ptbm_pool *pool, uint64_t pid, bool exclusive)
{
	return exclusive ? hash_unfix_exclusive(pool, pid) : hash_unfix_shared(pool, pid);
}

static int hash_mark_dirty(ptbm_pool *pool, uint64_t pid)
{
	struct hbuf *d = fixed_desc(pool, pid, false);
	if (!d || !(atomic_load_explicit(&d->latch, memory_order_relaxed) & LATCH_X))
		return PTBM_ENOTFIXED;
	unsigned spins = 0;
	for (;;) {
		uint32_t s = state_unlocked(d, &spins);
		if ((s & BM_DIRTY) ||
		    atomic_compare_exchange_weak_explicit(
			&d->state, &s, s | BM_DIRTY, memory_order_relaxed, memory_order_relaxed))
			return 0;
	}
}

/* ---- optimistic reads ---------------------------------------------------------- */

static int hash_read_begin(ptbm_pool *pool, uint64_t pid, const void **page, uint64_t *version)
{
	struct hview *v = view(pool);
	uint64_t h = page_hash(pid);
	pthread_rwlock_t *pl = part_lock(v, h);
	unsigned spins = 0;
	for (;;) {
		uint32_t s = 0;
		uint64_t w = 0;
		pthread_rwlock_rdlock(pl);
		int64_t b = table_lookup(v, h, pid);
		if (b >= 0) {
			s = atomic_load_explicit(&v->buf[b].state, memory_order_acquire);
			w = atomic_load_explicit(&v->buf[b].latch, memory_order_acquire);
		}
		pthread_rwlock_unlock(pl);
		if (PTBM_UNLIKELY(b < 0 || !(s & BM_VALID))) {
			/* load it (or wait for its loader) under a pin, never blindly */
			void *p;
			int rc = hash_fix(pool, pid, &p, false);
			if (rc < 0)
				return rc;
			hash_unfix_shared(pool, pid);
			continue;
		}
		if (PTBM_UNLIKELY(w & LATCH_X)) {
			ptbm_backoff(&spins);
			continue;
		}
		ptbm_count(pool, PTBM_C_OPTIMISTIC, 1);
		*version = ((uint64_t)b << 32) | (w >> 32);
		*page = frame(v, (uint64_t)b);
		return 0;
	}
}

static int hash_read_validate(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	struct hview *v = view(pool);
	uint64_t b = version >> 32;
	atomic_thread_fence(memory_order_acquire);
	if (PTBM_LIKELY(b < v->n_frames)) {
		uint64_t w = atomic_load_explicit(&v->buf[b].latch, memory_order_relaxed);
		if (PTBM_LIKELY(!(w & LATCH_X) && (w >> 32) == (uint32_t)version))
			return 0;
	}
	ptbm_count(pool, PTBM_C_RESTARTS, 1);
	return PTBM_ERESTART;
}

static int hash_upgrade(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	struct hview *v = view(pool);
	uint64_t b = version >> 32;
	if (b < v->n_frames) {
		struct hbuf *d = &v->buf[b];
		pin(d); /* now it cannot be replaced; a replacement before it bumped the version */
		uint64_t w = atomic_load_explicit(&d->latch, memory_order_relaxed);
		while (!(w & (LATCH_X | LATCH_READERS)) && (w >> 32) == (uint32_t)version) {
			if (atomic_compare_exchange_weak_explicit(&d->latch, &w, w | LATCH_X,
								  memory_order_acquire,
								  memory_order_relaxed)) {
				pin_remember(pool, pid, b);
				return 0;
			}
		}
		unpin(d);
	}
	ptbm_count(pool, PTBM_C_RESTARTS, 1);
	return PTBM_ERESTART;
}

/* ---- batches: prefetch and flush --------------------------------------------- */

/*
 * Up to PREFETCH_BATCH pages at a time: buffers are allocated (and dirty
 * victims written back) for every page not in the table, then all their
 * reads go to the disk in one batch, as the vm engine's do.
 */
#define PREFETCH_BATCH PTBM_PREFETCH_BATCH

static int prefetch_batch(ptbm_pool *pool, const uint64_t *pids, size_t n, int *err)
{
	struct hview *v = view(pool);
	uint64_t got[PREFETCH_BATCH], bufs[PREFETCH_BATCH];
	void *dst[PREFETCH_BATCH];
	int rcs[PREFETCH_BATCH];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t h = page_hash(pids[i]);
		pthread_rwlock_rdlock(part_lock(v, h));
		int64_t b = table_lookup(v, h, pids[i]);
		pthread_rwlock_unlock(part_lock(v, h));
		if (b >= 0)
			continue; /* resident, or being loaded */
		uint32_t s;
		bool io_owned;
		b = buffer_alloc(pool, pids[i], h, &s, &io_owned);
		if (b < 0) {
			*err = (int)b;
			break; /* read what we have */
		}
		if (!io_owned) {
			unpin(&v->buf[b]);
			continue;
		}
		got[k] = pids[i];
		bufs[k] = (uint64_t)b;
		dst[k++] = frame(v, (uint64_t)b);
	}
	if (k)
		ptbm_file_read_batch(&pool->file, got, dst, k, rcs);
	int loaded = 0;
	for (size_t i = 0; i < k; i++) {
		if (read_done(pool, bufs[i], got[i], rcs[i]) < 0) {
			if (!*err)
				*err = rcs[i];
			continue; /* read_done dropped the pin */
		}
		unpin(&v->buf[bufs[i]]);
		loaded++;
	}
	return loaded;
}

static int hash_prefetch(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	int err = 0, loaded = prefetch_batch(pool, pids, n, &err);
	return loaded || err >= 0 ? loaded : err;
}

static int hash_flush(ptbm_pool *pool)
{
	struct hview *v = view(pool);
	for (uint64_t b = 0; b < v->n_frames; b++) {
		struct hbuf *d = &v->buf[b];
		const uint32_t want = BM_VALID | BM_DIRTY;
		if ((atomic_load_explicit(&d->state, memory_order_relaxed) & want) != want)
			continue;
		uint32_t s = lock_header(d);
		if ((s & want) != want) {
			unlock_header(d, s);
			continue;
		}
		unlock_header(d, s + BUF_REFCOUNT_ONE); /* pin it */
		latch_shared(d);
		int rc = flush_buffer(pool, b);
		unlatch_shared(d);
		unpin(d);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- set-up ------------------------------------------------------------------ */

static uint64_t hash_area_bytes(const struct ptbm_shared *sh)
{
	struct hsizes l;
	layout(sh, &l);
	return l.total;
}

static int hash_init(ptbm_pool *pool, bool creator)
{
	struct hsizes l;
	layout(pool->sh, &l);
	if (l.n_frames == 0 || l.n_frames >= UINT32_MAX)
		return PTBM_EINVAL_CONFIG; /* buffer ids are 32-bit */
	struct harea *a = pool->engine_area;
	if (creator) {
		a->sz = l; /* the zero-filled region is an empty table of free buffers */
		pthread_rwlockattr_t attr;
		int rc = pthread_rwlockattr_init(&attr);
		if (rc == 0)
			rc = pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
		for (int i = 0; i < N_PARTITIONS && rc == 0; i++)
			rc = pthread_rwlock_init(&a->part[i].lock, &attr);
		pthread_rwlockattr_destroy(&attr);
		if (rc)
			return -rc;
	} else if (memcmp(&a->sz, &l, sizeof l) != 0) {
		return PTBM_ELAYOUT;
	}
	struct hview *v = calloc(1, sizeof *v);
	if (!v)
		return -ENOMEM;
	char *base = pool->engine_area;
	v->area = a;
	v->buf = (struct hbuf *)(base + l.off_desc);
	v->ent = (struct hent *)(base + l.off_ent);
	v->bucket = (uint32_t *)(base + l.off_bucket);
	v->frames = base + l.off_frames;
	v->n_frames = l.n_frames;
	v->bucket_mask = l.n_buckets - 1;
	v->page_size = pool->page_size;
	pool->engine_private = v;
	return 0;
}

static void hash_fini(ptbm_pool *pool, bool creator)
{
	/*
	 * The partition locks are not destroyed: attached processes may still
	 * use them after the creator leaves, and a process-shared rwlock owns
	 * no resource outside the region.
	 */
	(void)creator;
	free(pool->engine_private);
	pool->engine_private = NULL;
}

const struct ptbm_engine_ops ptbm_hash_ops = {
    .fix = hash_fix,
    .unfix = hash_unfix,
    .mark_dirty = hash_mark_dirty,
    .read_begin = hash_read_begin,
    .read_validate = hash_read_validate,
    .upgrade = hash_upgrade,
    .prefetch = hash_prefetch,
    .flush = hash_flush,
    .area_bytes = hash_area_bytes,
    .init = hash_init,
    .fini = hash_fini,
};
