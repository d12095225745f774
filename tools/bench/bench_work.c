/*
 * bench_work.c - what one benchmark worker does, operation by operation.
 *
 * Page choice: uniform (xorshift64*, scaled without division) or Zipf
 * (a table of page ids built once by keys_zipf and walked by each worker
 * from its own offset). By default access is dependent: the next page
 * depends on the value just read, as in an index descent, so the CPU cannot
 * overlap the cache and TLB misses of consecutive operations and every
 * operation pays its whole latency (with independent access a raw read
 * looks several times cheaper than any latched access, which is not how a
 * database reaches its pages).
 *
 * Latency: an operation is timed with the TSC when (index & time_mask) == 0;
 * in-memory phases time one operation in 8 so that the two TSC reads do not
 * weigh on the throughput, out-of-memory phases time every one.
 *
 * The disk ceiling (BE_DISK) reads pages of the same data file with
 * O_DIRECT and no buffer manager: W_READ is one pread at a time (queue
 * depth 1), W_BATCH submits qd reads at once and waits for all of them (what
 * a batch of ptbm_prefetch can at best do), W_READ_QD keeps qd reads in
 * flight on an io_uring, as fio does, and records each read's latency from
 * submission to completion: the ceiling at that depth. The io_uring reads
 * go into a registered buffer, as a vm pool's staged reads do.
 */
#include "bench.h"
#include "xorshift.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The calling thread's CPU time, user and system (io_uring's kernel
 * workers, which a read rarely needs, not included). */
static double thread_cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double tsc_calibrate(void)
{
	double t0 = now_s();
	uint64_t c0 = tsc_now();
	while (now_s() - t0 < 0.02)
		;
	double t1 = now_s();
	uint64_t c1 = tsc_now();
	return (t1 - t0) * 1e9 / (double)(c1 - c0);
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint64_t below(uint64_t r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)r * n) >> 64);
}

void work_init(struct work_ctx *c, unsigned id)
{
	c->id = id;
	c->rng = splitmix(((uint64_t)getpid() << 20) ^ id ^ tsc_now()) | 1;
	c->zidx = xorshift64s(&c->rng);
	c->scan = 0;
	c->sum = 0;
}

uint64_t work_random_page(struct work_ctx *c)
{
	return below(xorshift64s(&c->rng), c->keys->n_pages);
}

static inline uint64_t next_page(struct work_ctx *c)
{
	const struct bench_keys *k = c->keys;
	uint64_t dep = k->dependent ? (c->sum & 1) : 0;
	if (k->zipf) {
		c->zidx = (c->zidx + 1 + dep) & k->zipf_mask;
		return k->zipf[c->zidx];
	}
	return below(xorshift64s(&c->rng) ^ dep, k->n_pages);
}

static int op_read(struct work_ctx *c, uint64_t pid, bool raw)
{
	if (raw) {
		c->sum += *(volatile uint64_t *)(c->base + pid * c->page_size + word_of(pid));
		return 0;
	}
	void *p;
	int rc = ptbm_fix_shared(c->pool, pid, &p);
	if (rc < 0)
		return rc;
	c->sum += *(volatile uint64_t *)((char *)p + word_of(pid));
	return ptbm_unfix_shared(c->pool, pid);
}

static int op_optimistic(struct work_ctx *c, uint64_t pid)
{
	for (;;) {
		const void *q;
		uint64_t v;
		int rc = ptbm_read_begin(c->pool, pid, &q, &v);
		if (rc < 0)
			return rc;
		uint64_t x = *(volatile const uint64_t *)((const char *)q + word_of(pid));
		rc = ptbm_read_validate(c->pool, pid, v);
		if (rc == 0) {
			c->sum += x;
			return 0;
		}
		if (rc != PTBM_ERESTART)
			return rc;
	}
}

static int op_write(struct work_ctx *c, uint64_t pid)
{
	void *p;
	int rc = ptbm_fix_exclusive(c->pool, pid, &p);
	if (rc < 0)
		return rc;
	*(volatile uint64_t *)((char *)p + word_of(pid)) += 1;
	rc = ptbm_mark_dirty(c->pool, pid);
	int rc2 = ptbm_unfix_exclusive(c->pool, pid);
	return rc < 0 ? rc : rc2;
}

/* One word per cache line of the caller's bytes: a scan looks at every row. */
static uint64_t sum_lines(const char *p, size_t usable)
{
	uint64_t s = 0;
	for (size_t off = 0; off + 8 <= usable; off += 64)
		s += *(volatile const uint64_t *)(p + off);
	return s;
}

static int op_scan(struct work_ctx *c, bool raw, unsigned qd)
{
	uint64_t n = c->keys->n_pages, pid = c->scan;
	c->scan = pid + 1 == n ? 0 : pid + 1;
	size_t usable = c->page_size - PTBM_PAGE_TRAILER;
	if (raw) {
		c->sum += sum_lines(c->base + pid * c->page_size, usable);
		return 0;
	}
	if (qd > 1 && pid % qd == 0) {
		/* read ahead, as a database's sequential scan does */
		uint64_t ids[BENCH_MAX_QD];
		unsigned k = 0;
		for (; k < qd && pid + k < n; k++)
			ids[k] = pid + k;
		int rc = ptbm_prefetch(c->pool, ids, k);
		if (rc < 0)
			return rc;
	}
	void *p;
	int rc = ptbm_fix_shared(c->pool, pid, &p);
	if (rc < 0)
		return rc;
	c->sum += sum_lines(p, usable);
	return ptbm_unfix_shared(c->pool, pid);
}

static int op_batch(struct work_ctx *c, unsigned qd)
{
	uint64_t ids[BENCH_MAX_QD] = {0};
	for (unsigned i = 0; i < qd; i++)
		ids[i] = next_page(c);
	int rc = ptbm_prefetch(c->pool, ids, qd);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < qd; i++)
		if ((rc = op_read(c, ids[i], false)) < 0)
			return rc;
	return 0;
}

/* ---- the disk ceiling -------------------------------------------------- */

struct disk_io {
	struct io_uring ring;
	bool ring_ok;
	bool fixed; /* buf is the ring's registered buffer, as a pool's staging is */
	unsigned qd;
	char *buf;			 /* qd page buffers, aligned for O_DIRECT */
	uint64_t t_submit[BENCH_MAX_QD]; /* TSC at submission, per slot */
};

int disk_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int disk_worker_init(struct work_ctx *c, unsigned qd)
{
	struct disk_io *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->qd = qd;
	if (posix_memalign((void **)&d->buf, 4096, (size_t)qd * c->page_size)) {
		free(d);
		return -ENOMEM;
	}
	memset(d->buf, 0, (size_t)qd * c->page_size);
	int rc = io_uring_queue_init(qd, &d->ring, 0);
	d->ring_ok = rc == 0;
	struct iovec iov = {d->buf, (size_t)qd * c->page_size};
	d->fixed = d->ring_ok && io_uring_register_buffers(&d->ring, &iov, 1) == 0;
	c->io = d;
	return 0;
}

void disk_worker_fini(struct work_ctx *c)
{
	struct disk_io *d = c->io;
	if (!d)
		return;
	if (d->ring_ok)
		io_uring_queue_exit(&d->ring);
	free(d->buf);
	free(d);
	c->io = NULL;
}

static inline off_t page_off(const struct work_ctx *c, uint64_t pid)
{
	return (off_t)((pid + 1) * c->page_size); /* after the header block */
}

static int disk_pread(struct work_ctx *c)
{
	struct disk_io *d = c->io;
	uint64_t pid = next_page(c);
	ssize_t n = pread(c->fd, d->buf, c->page_size, page_off(c, pid));
	if (n < 0)
		return -errno;
	if ((size_t)n != c->page_size)
		return PTBM_EIO_SHORT;
	c->sum += *(uint64_t *)d->buf;
	return 0;
}

static void disk_submit_page(struct work_ctx *c, unsigned slot, uint64_t pid)
{
	struct disk_io *d = c->io;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
	char *buf = d->buf + (size_t)slot * c->page_size;
	if (d->fixed)
		io_uring_prep_read_fixed(sqe, c->fd, buf, c->page_size, (uint64_t)page_off(c, pid),
					 0);
	else
		io_uring_prep_read(sqe, c->fd, buf, c->page_size, (uint64_t)page_off(c, pid));
	io_uring_sqe_set_data64(sqe, slot);
	d->t_submit[slot] = tsc_now();
}

static void disk_submit(struct work_ctx *c, unsigned slot)
{
	disk_submit_page(c, slot, next_page(c));
}

/* Reap n completions of a batch. */
static int disk_reap(struct work_ctx *c, unsigned n)
{
	struct disk_io *d = c->io;
	int rc, err = 0;
	for (unsigned done = 0; done < n; done++) {
		struct io_uring_cqe *cqe;
		if ((rc = io_uring_wait_cqe(&d->ring, &cqe)) < 0)
			return rc;
		if (cqe->res < 0)
			err = cqe->res;
		else if ((unsigned)cqe->res != c->page_size)
			err = PTBM_EIO_SHORT;
		c->sum += *(uint64_t *)(d->buf + (size_t)cqe->user_data * c->page_size);
		io_uring_cqe_seen(&d->ring, cqe);
	}
	return err;
}

/*
 * Reads per submission of a batch: the groups a pool's staged reads go in
 * (src/core/pageio.c), so that the disk's batches are read the same way,
 * the first reads under way while the rest are built.
 */
#define DISK_SUBMIT_GROUP 4

/*
 * qd random pages read together, all waited for: one op per page. With an
 * ideal cache (hot: a bitmap of the pages it holds) only the pages outside
 * it are read; a hit costs nothing.
 */
static int disk_batch(struct work_ctx *c, unsigned qd, const uint8_t *hot)
{
	struct disk_io *d = c->io;
	if (!d->ring_ok)
		return -ENOSYS;
	unsigned n = 0;
	int rc;
	for (unsigned s = 0; s < qd; s++) {
		uint64_t pid = next_page(c);
		if (hot && (hot[pid / 8] & (1u << (pid % 8)))) {
			c->sum += pid;
			continue;
		}
		disk_submit_page(c, n++, pid);
		if (n % DISK_SUBMIT_GROUP == 0 && (rc = io_uring_submit(&d->ring)) < 0)
			return rc;
	}
	if (n == 0)
		return 0;
	if ((rc = io_uring_submit_and_wait(&d->ring, n)) < 0)
		return rc;
	return disk_reap(c, n);
}

/* qd reads in flight until *go leaves 1; each completion is an op. */
static int disk_qd_loop(struct work_ctx *c, _Atomic uint32_t *go, struct bench_worker_out *out)
{
	struct disk_io *d = c->io;
	if (!d->ring_ok)
		return -ENOSYS;
	for (unsigned s = 0; s < d->qd; s++)
		disk_submit(c, s);
	unsigned inflight = d->qd;
	int err = 0;
	io_uring_submit(&d->ring);
	while (inflight) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_submit_and_wait(&d->ring, 1);
		if (rc < 0 && rc != -EINTR)
			return rc;
		bool running = atomic_load_explicit(go, memory_order_relaxed) == 1 && !err;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&d->ring, head, cqe)
		{
			unsigned slot = (unsigned)cqe->user_data;
			seen++;
			if (cqe->res < 0)
				err = cqe->res;
			else if ((unsigned)cqe->res != c->page_size)
				err = PTBM_EIO_SHORT;
			hist_add(&out->hist, tsc_now() - d->t_submit[slot]);
			c->sum += *(uint64_t *)(d->buf + (size_t)slot * c->page_size);
			out->ops++;
			if (running)
				disk_submit(c, slot);
			else
				inflight--;
		}
		io_uring_cq_advance(&d->ring, seen);
	}
	return err;
}

/* ---- the loop ------------------------------------------------------------ */

static long my_minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * Fork warm-up: record every interval that ended by TSC t (an op may span
 * several). True when the series is full, or when the last 20 intervals
 * (100 ms) each closed a 5-interval window at 90% of the steady rate.
 */
static bool series_add(struct work_ctx *c, const struct bench_cmd *cmd,
		       struct bench_worker_out *out, uint64_t ops, uint64_t t, uint64_t *next_tick)
{
	long flt = my_minflt();
	unsigned streak = 0;
	for (; t >= *next_tick && out->n_series < BENCH_SERIES; *next_tick += c->series_tick) {
		out->series_ops[out->n_series] = ops;
		out->series_flt[out->n_series] = flt;
		out->n_series++;
	}
	unsigned n = out->n_series;
	if (n == BENCH_SERIES)
		return true;
	if (cmd->steady <= 0 || n < 25)
		return false;
	double want = 0.9 * cmd->steady * 5 * (double)c->series_tick;
	for (unsigned i = n - 20; i < n; i++)
		if ((double)(out->series_ops[i] - out->series_ops[i - 5]) >=
		    want * c->tsc_ns * 1e-9)
			streak++;
	return streak == 20;
}

static inline int one_op(struct work_ctx *c, const struct bench_cmd *cmd, uint64_t *ops)
{
	switch (cmd->work) {
	case W_READ:
		*ops += 1;
		if (!c->pool && !cmd->raw)
			return disk_pread(c);
		return op_read(c, next_page(c), cmd->raw);
	case W_OPTIMISTIC:
		*ops += 1;
		if (cmd->raw) /* the limit beside them: the same raw read as W_READ's */
			return op_read(c, next_page(c), true);
		return op_optimistic(c, next_page(c));
	case W_MIXED: {
		*ops += 1;
		uint64_t pid = next_page(c);
		if ((double)(xorshift64s(&c->rng) >> 11) * 0x1.0p-53 < cmd->writes)
			return op_write(c, pid);
		return op_read(c, pid, false);
	}
	case W_SCAN:
		*ops += 1;
		return op_scan(c, cmd->raw, cmd->qd);
	case W_BATCH:
		*ops += cmd->qd;
		return c->pool ? op_batch(c, cmd->qd) : disk_batch(c, cmd->qd, NULL);
	case W_BATCH_MISSES:
		*ops += cmd->qd;
		if (c->pool || !c->keys->hot)
			return -EINVAL;
		return disk_batch(c, cmd->qd, c->keys->hot);
	default:
		return -EINVAL;
	}
}

void work_run(struct work_ctx *c, const struct bench_cmd *cmd, _Atomic uint32_t *go,
	      struct bench_worker_out *out)
{
	while (atomic_load(go) == 0)
		;
	uint64_t t_start = tsc_now();
	double t0 = now_s(), cpu0 = thread_cpu_s();
	uint64_t ops = 0, i = 0, next_tick = t_start + c->series_tick, before = out->ops;
	int rc = 0;
	if (c->scan == 0 && cmd->work == W_SCAN)
		c->scan = c->keys->n_pages * c->id / (cmd->workers ? cmd->workers : 1);
	if (!c->pool && cmd->work == W_READ_QD) {
		rc = disk_qd_loop(c, go, out); /* counts in out->ops */
		ops = out->ops - before;
	} else {
		while (atomic_load_explicit(go, memory_order_relaxed) == 1) {
			if ((i++ & cmd->time_mask) == 0) {
				uint64_t t = tsc_fenced();
				rc = one_op(c, cmd, &ops);
				uint64_t t1 = tsc_fenced();
				hist_add(&out->hist, t1 - t);
				if (cmd->series && t1 >= next_tick &&
				    series_add(c, cmd, out, ops, t1, &next_tick))
					break;
			} else {
				rc = one_op(c, cmd, &ops);
			}
			if (__builtin_expect(rc < 0, 0))
				break;
		}
	}
	/* a slice of a phase adds to the slices before it (bench_cmd.more) */
	out->seconds += now_s() - t0;
	out->cpu_s += thread_cpu_s() - cpu0;
	out->ops = before + ops;
	out->sum = c->sum;
	if (rc < 0) {
		out->err = rc;
		atomic_store(go, 2); /* stop the others too */
	}
}

int work_fill(ptbm_pool *pool, uint64_t n_pages)
{
	uint64_t first;
	int rc = ptbm_alloc(pool, n_pages, &first);
	for (uint64_t pid = 0; rc == 0 && pid < n_pages; pid++) {
		void *p;
		if ((rc = ptbm_fix_exclusive(pool, pid, &p)) < 0)
			break;
		for (unsigned i = 0; i < 64; i++) /* word i of page p: p * 64 + i */
			((uint64_t *)p)[i] = pid * 64 + i;
		ptbm_mark_dirty(pool, pid);
		rc = ptbm_unfix_exclusive(pool, pid);
	}
	return rc;
}

int work_warm_batches(struct work_ctx *c, unsigned qd, uint64_t n_pages, double max_s)
{
	double t0 = now_s();
	for (uint64_t done = 0; done < n_pages && now_s() - t0 < max_s; done += qd) {
		int rc = op_batch(c, qd);
		if (rc < 0)
			return rc;
	}
	return 0;
}

uint64_t work_touch_all(ptbm_pool *pool, uint64_t n_pages)
{
	uint64_t sum = 0;
	for (uint64_t pid = 0; pid < n_pages; pid++) {
		void *p;
		if (ptbm_fix_shared(pool, pid, &p) == 0) {
			sum += *(volatile uint64_t *)p;
			ptbm_unfix_shared(pool, pid);
		}
	}
	return sum;
}

/* ---- the ideal cache ---------------------------------------------------- */

static int by_count_desc(const void *a, const void *b, void *counts)
{
	const uint32_t *count = counts;
	uint32_t ca = count[*(const uint32_t *)a], cb = count[*(const uint32_t *)b];
	return ca < cb ? 1 : ca > cb ? -1 : 0;
}

uint8_t *keys_hot(const struct bench_keys *keys, uint64_t n_hot)
{
	uint64_t n = keys->n_pages;
	uint8_t *hot = calloc((n + 7) / 8, 1);
	if (!hot)
		return NULL;
	if (n_hot > n)
		n_hot = n;
	if (!keys->zipf) {
		for (uint64_t p = 0; p < n_hot; p++)
			hot[p / 8] |= (uint8_t)(1u << (p % 8));
		return hot;
	}
	/* Zipf: the pages the table draws most often */
	uint32_t *count = calloc(n, sizeof *count), *order = malloc(n * sizeof *order);
	if (!count || !order) {
		free(count);
		free(order);
		free(hot);
		return NULL;
	}
	for (uint64_t i = 0; i <= keys->zipf_mask; i++)
		count[keys->zipf[i]]++;
	for (uint64_t p = 0; p < n; p++)
		order[p] = (uint32_t)p;
	qsort_r(order, n, sizeof *order, by_count_desc, count);
	for (uint64_t i = 0; i < n_hot; i++)
		hot[order[i] / 8] |= (uint8_t)(1u << (order[i] % 8));
	free(count);
	free(order);
	return hot;
}

/* ---- Zipf ---------------------------------------------------------------- */

/*
 * Gray et al., "Quickly generating billion-record synthetic databases"
 * (SIGMOD 1994): rank r in [0, n) with P(r) proportional to 1/(r+1)^theta,
 * 0 < theta < 1, by inverting an approximation of the CDF. Ranks are then
 * scattered over the page ids by a random permutation, so that the hot
 * pages are not neighbours.
 */
uint32_t *keys_zipf(uint64_t n_pages, double theta, unsigned bits)
{
	uint64_t entries = 1ull << bits;
	uint32_t *perm = malloc(n_pages * sizeof *perm);
	uint32_t *tab = malloc(entries * sizeof *tab);
	if (!perm || !tab) {
		free(perm);
		free(tab);
		return NULL;
	}
	uint64_t rng = 0x5eed5eed5eedull;
	for (uint64_t i = 0; i < n_pages; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t i = n_pages - 1; i > 0; i--) {
		uint64_t j = below(xorshift64s(&rng), i + 1);
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	double zetan = 0;
	for (uint64_t i = 1; i <= n_pages; i++)
		zetan += pow((double)i, -theta);
	double zeta2 = 1 + pow(2, -theta);
	double alpha = 1 / (1 - theta);
	double eta = (1 - pow(2.0 / (double)n_pages, 1 - theta)) / (1 - zeta2 / zetan);
	for (uint64_t i = 0; i < entries; i++) {
		double u = (double)(xorshift64s(&rng) >> 11) * 0x1.0p-53;
		double uz = u * zetan;
		uint64_t r;
		if (uz < 1)
			r = 0;
		else if (uz < zeta2)
			r = 1;
		else
			r = (uint64_t)((double)n_pages * pow(eta * u - eta + 1, alpha));
		if (r >= n_pages)
			r = n_pages - 1;
		tab[i] = perm[r];
	}
	free(perm);
	return tab;
}
