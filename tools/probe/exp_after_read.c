/*
 * exp_after_read.c - experiment 12: what does a miss's own work cost, done
 * while its read is in flight or after the read has come back?
 *
 * A buffer manager's miss at queue depth 1 issues one read and waits for it.
 * Work it does between the submission and the wait (preparing the frame,
 * evicting) can hide behind the disk's latency; work after the completion
 * (verifying the page, copying it into its frame) cannot. On a virtual
 * machine the work after may cost more than itself: the hypervisor's I/O
 * thread, which may poll its queue for a while after each request, sees the
 * next request later; and the page the device just wrote is not in this
 * CPU's cache. This experiment measures both sides on the machine's disk.
 *
 * One O_DIRECT file of FILE_MB, read at random in 8 KiB pages through one
 * io_uring at depth 1. Six variants of a read take turns in blocks of BLOCK
 * reads, so that the disk's drift, which is large on virtual disks, falls on
 * all of them alike; each variant's figure is its mean time per read:
 *
 *   read         submit, wait;
 *   before_spin  submit, SPIN_NS of CPU work, wait;
 *   after_spin   submit, wait, SPIN_NS of CPU work (touching no data);
 *   after_sum    submit, wait, XXH3 of the page just read (as a verify);
 *   after_copy   submit, wait, the page copied into a frame of a 32 MiB
 *                region (as a staged read's delivery);
 *   poll         submit, poll the completion queue instead of sleeping.
 *
 * The same sum over the page once it is in cache, timed alone, says how much
 * of after_sum is the data's coming in. The verdict compares each variant's
 * extra time per read with the work it added.
 *
 * A batch's reads give a longer shadow: a miss in a batch of 32 random pages
 * (three quarters of them misses) submits its reads, then populates frames
 * and evicts while they are in flight. Two more variants take turns with
 * the others, BATCH_BLOCK batches of BATCH reads a block:
 *
 *   batch        BATCH reads submitted at once, all waited for;
 *   batch_spin   the same with BATCH_SPIN_NS of CPU work between the
 *                submission and the wait (about what a buffer manager's
 *                page-table work for BATCH misses costs here);
 *   batch_groups the same reads submitted in groups of GROUP as they are
 *                built, as the library submits a batch (core/pageio.c):
 *                the device need not wait for the kernel to build the last
 *                request before it starts on the first;
 *   batch_pages_private, batch_pages_shared
 *                the batch with its misses' page-table work in its shadow,
 *                as a pool's batch does it: BATCH resident 8 KiB frames
 *                released (MADV_DONTNEED of private memory, MADV_REMOVE of
 *                a memfd's) and BATCH others populated (MADV_POPULATE_WRITE),
 *                each kind in one process_madvise call where the kernel
 *                takes it (probe_advise_vec), in a region of
 *                FRAMES_REGION_MB a quarter resident. The work's own time
 *                is recorded: it hides only while it ends before the
 *                reads come back;
 *   batch_registered
 *                batch_groups with the pages read into a buffer registered
 *                with the ring (IORING_OP_READ_FIXED), as a pool's staged
 *                reads go: the kernel pins the buffer's pages once instead
 *                of for every request. Its CPU time per batch (the thread's
 *                own, which includes the submissions' exits to the
 *                hypervisor) is recorded beside batch_groups'.
 *
 *   batch_pages_helper
 *                batch_pages_shared's work split over two threads, as a pool
 *                with a core to spare could split it: this thread zaps its
 *                own mappings of the victims (MADV_DONTNEED, which frees
 *                nothing in a shared mapping but needs no other CPU's TLB
 *                flushed), a helper thread punches their holes and
 *                allocates the new frames through the memfd's descriptor
 *                (fallocate: no page table of this thread's is touched,
 *                so none is flushed), and this thread then maps the new
 *                frames, their folios already there. The helper's own time
 *                is recorded beside the batch's work.
 *
 * Where the disk is a device, the work hides behind the reads; where it is
 * emulated by a host thread that needs the CPU this guest is running on,
 * it does not, and the batch's time grows by much of the work.
 */
#include "probe.h"
#include "probe_sys.h"
#include "xorshift.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

#define FILE_MB		 64
#define PAGE		 8192
#define BLOCK		 32	/* reads per block of one variant */
#define ROUNDS		 150	/* blocks of each variant */
#define SPIN_NS		 4000	/* the CPU work of before_spin and after_spin */
#define FRAMES_MB	 32	/* after_copy's destination region */
#define HIDDEN_MAX	 0.25	/* extra time below this share of SPIN_NS: hidden */
#define AMPLIFY_MIN	 1.25	/* extra time above this many times the work: amplified */
#define BATCH		 24	/* reads of a batch: the misses of a batch of 32 */
#define BATCH_BLOCK	 2	/* batches per block */
#define BATCH_SPIN_NS	 200000 /* the CPU work of batch_spin */
#define GROUP		 4	/* reads per submission of batch_groups */
#define FRAMES_REGION_MB 256	/* the page variants' frames, each kind */

enum variant {
	V_READ,
	V_BEFORE_SPIN,
	V_AFTER_SPIN,
	V_AFTER_SUM,
	V_AFTER_COPY,
	V_POLL,
	V_BATCH,
	V_BATCH_SPIN,
	V_BATCH_GROUPS,
	V_BATCH_PRIVATE,
	V_BATCH_SHARED,
	V_BATCH_REGISTERED,
	V_BATCH_HELPER,
	V_N
};
#define V_SINGLE V_BATCH /* the variants of one read at a time */
static const char *const variant_key[V_N] = {"read",
					     "before_spin",
					     "after_spin",
					     "after_sum",
					     "after_copy",
					     "poll",
					     "batch",
					     "batch_spin",
					     "batch_groups",
					     "batch_pages_private",
					     "batch_pages_shared",
					     "batch_registered",
					     "batch_pages_helper"};

/* The page variants' frames: one region of each kind, and which frames of
 * it are resident; the memfd's descriptor for the helper. */
struct frames {
	char *base;
	unsigned char *resident;
	bool shmem;
	int fd;
};
#define REGION_FRAMES ((uint64_t)FRAMES_REGION_MB * 1024 * 1024 / PAGE)

/*
 * batch_pages_helper's second thread. The probing thread posts a batch's
 * victims and new frames (offsets in the memfd) and waits; the helper
 * punches the victims' holes, allocates the new frames, counts its time
 * and says it is done.
 */
struct helper {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started, stop, posted;
	int fd, err;
	off_t victim[BATCH], fresh[BATCH];
	uint64_t ns;
};

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->posted && !h->stop)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->stop)
			break;
		pthread_mutex_unlock(&h->mu);
		uint64_t t0 = probe_now_ns();
		int err = 0;
		for (int i = 0; i < BATCH && !err; i++)
			if (fallocate(h->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      h->victim[i], PAGE) != 0)
				err = -errno;
		for (int i = 0; i < BATCH && !err; i++)
			if (fallocate(h->fd, 0, h->fresh[i], PAGE) != 0)
				err = -errno;
		uint64_t t = probe_now_ns() - t0;
		pthread_mutex_lock(&h->mu);
		h->ns += t;
		if (err && !h->err)
			h->err = err;
		h->posted = false;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* Hand the helper a batch and wait until it is done; 0 or -errno. */
static int helper_run(struct helper *h)
{
	pthread_mutex_lock(&h->mu);
	h->posted = true;
	pthread_cond_broadcast(&h->cv);
	while (h->posted)
		pthread_cond_wait(&h->cv, &h->mu);
	int err = h->err;
	pthread_mutex_unlock(&h->mu);
	return err;
}

static bool helper_start(struct helper *h, int fd)
{
	h->fd = fd;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->started = fd >= 0 && pthread_create(&h->thread, NULL, helper_main, h) == 0;
	return h->started;
}

static void helper_stop(struct helper *h)
{
	if (h->started) {
		pthread_mutex_lock(&h->mu);
		h->stop = true;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->thread, NULL);
	}
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
}

/* A random frame of f whose residency is want; it flips. */
static char *pick_frame(struct frames *f, uint64_t *rng, bool want)
{
	for (;;) {
		uint64_t i = xorshift64s(rng) % REGION_FRAMES;
		if ((bool)f->resident[i] == want) {
			f->resident[i] = !want;
			return f->base + i * PAGE;
		}
	}
}

/* Make a frame resident: populate it, or write it where that advice is
 * missing (before Linux 5.14). */
static void populate_frame(char *frame)
{
	if (madvise(frame, PAGE, MADV_POPULATE_WRITE) != 0)
		for (int off = 0; off < PAGE; off += 4096)
			((volatile char *)frame)[off] = 1;
}

/* BATCH misses' page-table work, batched as a pool batches it: BATCH
 * victims released with one call, BATCH frames populated with another. */
static void page_work(struct frames *f, uint64_t *rng)
{
	struct iovec iov[BATCH];
	for (int i = 0; i < BATCH; i++)
		iov[i] = (struct iovec){pick_frame(f, rng, true), PAGE};
	probe_advise_vec(iov, BATCH, f->shmem ? MADV_REMOVE : MADV_DONTNEED);
	for (int i = 0; i < BATCH; i++)
		iov[i] = (struct iovec){pick_frame(f, rng, false), PAGE};
	if (probe_advise_vec(iov, BATCH, MADV_POPULATE_WRITE) != 0)
		for (int i = 0; i < BATCH; i++)
			populate_frame(iov[i].iov_base);
}

/* The same work for shared frames, split with the helper; 0 or -errno. */
static int page_work_helped(struct frames *f, struct helper *h, uint64_t *rng)
{
	struct iovec iov[BATCH];
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){pick_frame(f, rng, true), PAGE};
		h->victim[i] = (char *)iov[i].iov_base - f->base;
	}
	probe_advise_vec(iov, BATCH, MADV_DONTNEED); /* this thread's mappings only */
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){pick_frame(f, rng, false), PAGE};
		h->fresh[i] = (char *)iov[i].iov_base - f->base;
	}
	int rc = helper_run(h);
	if (rc < 0)
		return rc;
	if (probe_advise_vec(iov, BATCH, MADV_POPULATE_WRITE) != 0)
		for (int i = 0; i < BATCH; i++)
			populate_frame(iov[i].iov_base);
	return 0;
}

static volatile uint64_t sink;

static void spin(uint64_t ns)
{
	uint64_t end = probe_now_ns() + ns;
	while (probe_now_ns() < end)
		;
}

/* One read of variant v at a random page; 0 or -errno. */
static int one_read(struct io_uring *ring, int fd, char *buf, char *frames, uint64_t *rng,
		    enum variant v)
{
	uint64_t pages = (uint64_t)FILE_MB * 1024 * 1024 / PAGE;
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, fd, buf, PAGE, (off_t)(xorshift64s(rng) % pages) * PAGE);
	int rc = io_uring_submit(ring);
	if (rc < 0)
		return rc;
	if (v == V_BEFORE_SPIN)
		spin(SPIN_NS);
	struct io_uring_cqe *cqe;
	if (v == V_POLL)
		while ((rc = io_uring_peek_cqe(ring, &cqe)) == -EAGAIN)
			;
	else
		rc = io_uring_wait_cqe(ring, &cqe);
	if (rc < 0)
		return rc;
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	if (res != PAGE)
		return res < 0 ? res : -EIO;
	if (v == V_AFTER_SPIN)
		spin(SPIN_NS);
	else if (v == V_AFTER_SUM)
		sink += XXH3_64bits_withSeed(buf, PAGE, 1);
	else if (v == V_AFTER_COPY)
		memcpy(frames +
			   (xorshift64s(rng) % ((uint64_t)FRAMES_MB * 1024 * 1024 / PAGE)) * PAGE,
		       buf, PAGE);
	return 0;
}

/* One batch of BATCH reads at random pages into buf (BATCH pages); 0 or
 * -errno. */
static int one_batch(struct io_uring *ring, int fd, char *buf, uint64_t *rng, enum variant v,
		     struct frames *kinds, struct helper *h, uint64_t *work_ns)
{
	uint64_t pages = (uint64_t)FILE_MB * 1024 * 1024 / PAGE;
	for (int i = 0; i < BATCH; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		if (!sqe)
			return -EBUSY;
		off_t off = (off_t)(xorshift64s(rng) % pages) * PAGE;
		if (v == V_BATCH_REGISTERED)
			io_uring_prep_read_fixed(sqe, fd, buf + (size_t)i * PAGE, PAGE, off, 0);
		else
			io_uring_prep_read(sqe, fd, buf + (size_t)i * PAGE, PAGE, off);
		if ((v == V_BATCH_GROUPS || v == V_BATCH_REGISTERED) && (i + 1) % GROUP == 0) {
			int rc = io_uring_submit(ring);
			if (rc < 0)
				return rc;
		}
	}
	int rc = io_uring_submit(ring);
	if (rc < 0)
		return rc;
	if (v == V_BATCH_SPIN)
		spin(BATCH_SPIN_NS);
	if (v == V_BATCH_PRIVATE || v == V_BATCH_SHARED) {
		uint64_t t0 = probe_now_ns();
		page_work(&kinds[v == V_BATCH_SHARED], rng);
		*work_ns += probe_now_ns() - t0;
	}
	if (v == V_BATCH_HELPER) {
		uint64_t t0 = probe_now_ns();
		if ((rc = page_work_helped(&kinds[1], h, rng)) < 0)
			return rc;
		*work_ns += probe_now_ns() - t0;
	}
	int err = 0;
	for (int done = 0; done < BATCH;) {
		struct io_uring_cqe *cqe;
		rc = io_uring_wait_cqe_nr(ring, &cqe, (unsigned)(BATCH - done));
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return rc;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(ring, head, cqe)
		{
			seen++;
			if (cqe->res != PAGE && !err)
				err = cqe->res < 0 ? cqe->res : -EIO;
		}
		io_uring_cq_advance(ring, seen);
		done += (int)seen;
	}
	return err;
}

/* The file: FILE_MB of pages with something in them, on the disk. */
static int make_file(struct probe_result *r, char *path, size_t len)
{
	int fd = probe_temp_file(r, NULL, "after-read", path, len);
	if (fd < 0)
		return fd;
	char *chunk = malloc(1 << 20);
	if (!chunk) {
		close(fd);
		return -ENOMEM;
	}
	for (size_t i = 0; i < (1 << 20); i++)
		chunk[i] = (char)(i * 31 + 7);
	int rc = 0;
	for (int mb = 0; mb < FILE_MB && rc == 0; mb++)
		rc = probe_write_all(fd, chunk, 1 << 20, (off_t)mb << 20);
	free(chunk);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* The sum over a page in cache, ns: the median of many. */
static double sum_in_cache_ns(const char *buf)
{
	double t[64];
	for (int i = 0; i < 64; i++) {
		uint64_t t0 = probe_now_ns();
		for (int k = 0; k < 16; k++)
			sink += XXH3_64bits_withSeed(buf, PAGE, (uint64_t)k);
		t[i] = (double)(probe_now_ns() - t0) / 16;
	}
	return probe_median(t, 64);
}

static void verdict(struct probe_result *r, const double *us, const double *work_us,
		    const double *cpu_us, bool registered, double helper_us)
{
	double base = us[V_READ], spin_us = SPIN_NS / 1000.0;
	double before = us[V_BEFORE_SPIN] - base, after = us[V_AFTER_SPIN] - base;
	double sum = us[V_AFTER_SUM] - base, copy = us[V_AFTER_COPY] - base;
	double poll = base - us[V_POLL];
	double batch_spin_us = BATCH_SPIN_NS / 1000.0, batch = us[V_BATCH_SPIN] - us[V_BATCH];
	double groups = us[V_BATCH] - us[V_BATCH_GROUPS];
	double priv = us[V_BATCH_PRIVATE] - us[V_BATCH], shared = us[V_BATCH_SHARED] - us[V_BATCH];
	probe_ev_num(r, "before_spin_extra_us", before);
	probe_ev_num(r, "after_spin_extra_us", after);
	probe_ev_num(r, "after_sum_extra_us", sum);
	probe_ev_num(r, "after_copy_extra_us", copy);
	probe_ev_num(r, "poll_saves_us", poll);
	probe_ev_num(r, "after_spin_vs_work", after / spin_us);
	probe_ev_num(r, "batch_spin_extra_us", batch);
	probe_ev_num(r, "batch_spin_vs_work", batch / batch_spin_us);
	probe_ev_num(r, "groups_save_us", groups);
	probe_ev_num(r, "batch_pages_private_extra_us", priv);
	probe_ev_num(r, "batch_pages_shared_extra_us", shared);
	double reg = 0, reg_cpu = 0;
	char reg_words[64] = "registered buffer refused";
	if (registered) {
		reg = us[V_BATCH_GROUPS] - us[V_BATCH_REGISTERED];
		reg_cpu = cpu_us[V_BATCH_GROUPS] - cpu_us[V_BATCH_REGISTERED];
		probe_ev_num(r, "registered_saves_us", reg);
		probe_ev_num(r, "registered_saves_cpu_us", reg_cpu);
		snprintf(reg_words, sizeof reg_words, "registered %+.0f (CPU %+.0f)", -reg,
			 -reg_cpu);
	}
	/* the shared frames' work split with a helper (helper_us < 0: none) */
	char help_words[96] = "no helper";
	if (helper_us >= 0) {
		double helped = us[V_BATCH_HELPER] - us[V_BATCH];
		bool pays = us[V_BATCH_HELPER] < us[V_BATCH_SHARED];
		probe_ev_num(r, "batch_pages_helper_extra_us", helped);
		probe_ev_num(r, "batch_pages_helper_helper_us", helper_us);
		probe_ev_bool(r, "helper_beats_one_thread", pays);
		snprintf(help_words, sizeof help_words, "helped %.0f (helper %.0f) %+.0f (%s)",
			 work_us[V_BATCH_HELPER], helper_us, helped,
			 pays ? "faster" : "not faster");
	}
	bool hidden = before < HIDDEN_MAX * spin_us;
	bool amplified = after > AMPLIFY_MIN * spin_us;
	bool batch_hidden = batch < HIDDEN_MAX * batch_spin_us;
	/* the shared frames' work ends before a plain batch's reads are back */
	bool shared_fits = work_us[V_BATCH_SHARED] < us[V_BATCH];
	probe_ev_bool(r, "work_before_wait_hidden", hidden);
	probe_ev_bool(r, "work_after_read_amplified", amplified);
	probe_ev_bool(r, "work_during_batch_hidden", batch_hidden);
	probe_ev_bool(r, "shared_page_work_fits_batch", shared_fits);
	probe_verdict(r, PROBE_CONCLUSIVE,
		      "%.0f us before the wait %+.1f (%s), after it %+.1f (%s); sum %+.1f, copy "
		      "%+.1f; poll %+.1f; a batch of %d, %.0f us: spin %.0f %+.0f (%s), page work "
		      "%.0f private %+.0f, %.0f shared %+.0f, %s; groups of %d %+.0f, %s",
		      spin_us, before, hidden ? "hidden" : "not hidden", after,
		      amplified ? "more than itself" : "about itself", sum, copy, -poll, BATCH,
		      us[V_BATCH], batch_spin_us, batch, batch_hidden ? "hidden" : "not hidden",
		      work_us[V_BATCH_PRIVATE], priv, work_us[V_BATCH_SHARED], shared, help_words,
		      GROUP, -groups, reg_words);
}

/* The page variants' regions, a quarter of each resident; 0 or -errno. */
static int frames_setup(struct frames *kinds, uint64_t *rng)
{
	size_t len = (size_t)FRAMES_REGION_MB << 20;
	for (int k = 0; k < 2; k++) {
		struct frames *f = &kinds[k];
		f->shmem = k == 1;
		f->resident = calloc(REGION_FRAMES, 1);
		if (!f->resident)
			return -ENOMEM;
		int fd = -1;
		if (f->shmem && ((fd = memfd_create("ptbm-probe-frames", MFD_CLOEXEC)) < 0 ||
				 ftruncate(fd, (off_t)len) != 0)) {
			int err = errno;
			if (fd >= 0)
				close(fd);
			return -err;
		}
		f->base = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       f->shmem ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       fd, 0);
		f->fd = fd; /* the helper's; the mapping holds the object too */
		if (f->base == MAP_FAILED) {
			f->base = NULL;
			return -errno;
		}
		if (!f->shmem)
			madvise(f->base, len, MADV_NOHUGEPAGE); /* 8 KiB frames, as a pool's */
		for (uint64_t i = 0; i < REGION_FRAMES / 4; i++)
			populate_frame(pick_frame(f, rng, false));
	}
	return 0;
}

static void frames_free(struct frames *kinds)
{
	for (int k = 0; k < 2; k++) {
		if (kinds[k].base)
			munmap(kinds[k].base, (size_t)FRAMES_REGION_MB << 20);
		if (kinds[k].fd >= 0)
			close(kinds[k].fd);
		free(kinds[k].resident);
	}
}

void probe_exp_after_read(struct probe_result *r)
{
	char path[PROBE_NAME_LEN];
	int rc = make_file(r, path, sizeof path);
	if (rc < 0) {
		probe_fail_errno(r, "writing the file", -rc);
		return;
	}
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		probe_verdict(r, PROBE_UNMEASURABLE, "O_DIRECT refused here: %s", strerror(errno));
		return;
	}
	struct io_uring ring;
	if ((rc = io_uring_queue_init(2 * BATCH, &ring, 0)) < 0) {
		close(fd);
		probe_verdict(r, PROBE_UNMEASURABLE, "no io_uring: %s", strerror(-rc));
		return;
	}
	char *buf = NULL;
	struct frames kinds[2] = {{.fd = -1}, {.fd = -1}};
	struct helper helper = {0};
	bool helped = false;
	char *frames = mmap(NULL, (size_t)FRAMES_MB << 20, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (frames == MAP_FAILED ||
	    posix_memalign((void **)&buf, 4096, (size_t)BATCH * PAGE) != 0) {
		probe_fail_errno(r, "memory", ENOMEM);
		goto out;
	}
	memset(frames, 1, (size_t)FRAMES_MB << 20); /* resident: the copy does not fault */
	struct iovec whole = {buf, (size_t)BATCH * PAGE};
	bool registered = io_uring_register_buffers(&ring, &whole, 1) == 0;
	probe_ev_bool(r, "buffer_registered", registered);
	probe_ev_str(r, "file", "%s", path);
	probe_ev_int(r, "file_mb", FILE_MB);
	probe_ev_int(r, "page_bytes", PAGE);
	probe_ev_int(r, "reads_per_variant", (long long)BLOCK * ROUNDS);
	probe_ev_int(r, "spin_ns", SPIN_NS);
	probe_ev_int(r, "batch_reads", BATCH);
	probe_ev_int(r, "batches_per_variant", (long long)BATCH_BLOCK * ROUNDS);
	probe_ev_int(r, "batch_spin_ns", BATCH_SPIN_NS);
	probe_ev_int(r, "group_reads", GROUP);

	uint64_t rng = 0x9e3779b97f4a7c15ull, ns[V_N] = {0}, work_ns[V_N] = {0}, cpu_ns[V_N] = {0};
	if ((rc = frames_setup(kinds, &rng)) < 0) {
		probe_fail_errno(r, "the frames' regions", -rc);
		goto out;
	}
	probe_ev_int(r, "frames_region_mb", FRAMES_REGION_MB);
	helped = helper_start(&helper, kinds[1].fd);
	probe_ev_bool(r, "helper_started", helped);
	for (int i = 0; i < 2 * BLOCK && rc == 0; i++) /* warm the ring and the path */
		rc = one_read(&ring, fd, buf, frames, &rng, V_READ);
	for (int round = 0; round < ROUNDS && rc == 0; round++)
		for (int v = 0; v < V_N && rc == 0; v++) {
			if ((v == V_BATCH_REGISTERED && !registered) ||
			    (v == V_BATCH_HELPER && !helped))
				continue;
			uint64_t t0 = probe_now_ns(), c0 = probe_cpu_ns();
			if (v < V_SINGLE)
				for (int i = 0; i < BLOCK && rc == 0; i++)
					rc =
					    one_read(&ring, fd, buf, frames, &rng, (enum variant)v);
			else
				for (int i = 0; i < BATCH_BLOCK && rc == 0; i++)
					rc = one_batch(&ring, fd, buf, &rng, (enum variant)v, kinds,
						       &helper, &work_ns[v]);
			ns[v] += probe_now_ns() - t0;
			cpu_ns[v] += probe_cpu_ns() - c0;
		}
	if (rc < 0) {
		probe_fail_errno(r, "reading", -rc);
		goto out;
	}
	double us[V_N], work_us[V_N], cpu_us[V_N];
	for (int v = 0; v < V_N; v++) {
		char key[PROBE_KEY_LEN];
		if ((v == V_BATCH_REGISTERED && !registered) || (v == V_BATCH_HELPER && !helped))
			continue;
		/* per read; per batch for the batches */
		us[v] = (double)ns[v] / 1000.0 /
			((double)(v < V_SINGLE ? BLOCK : BATCH_BLOCK) * ROUNDS);
		snprintf(key, sizeof key, "%s_us", variant_key[v]);
		probe_ev_num(r, key, us[v]);
		work_us[v] = (double)work_ns[v] / 1000.0 / ((double)BATCH_BLOCK * ROUNDS);
		cpu_us[v] = (double)cpu_ns[v] / 1000.0 / ((double)BATCH_BLOCK * ROUNDS);
		if (v == V_BATCH_GROUPS || v == V_BATCH_REGISTERED) {
			snprintf(key, sizeof key, "%s_cpu_us", variant_key[v]);
			probe_ev_num(r, key, cpu_us[v]);
		}
		if (v == V_BATCH_PRIVATE || v == V_BATCH_SHARED || v == V_BATCH_HELPER) {
			snprintf(key, sizeof key, "%s_work_us", variant_key[v]);
			probe_ev_num(r, key, work_us[v]);
		}
	}
	double cached = sum_in_cache_ns(buf);
	probe_ev_num(r, "sum_in_cache_ns", cached);
	double helper_us = (double)helper.ns / 1000.0 / ((double)BATCH_BLOCK * ROUNDS);
	verdict(r, us, work_us, cpu_us, registered, helped ? helper_us : -1);
out:
	helper_stop(&helper);
	frames_free(kinds);
	if (frames != MAP_FAILED)
		munmap(frames, (size_t)FRAMES_MB << 20);
	free(buf);
	io_uring_queue_exit(&ring);
	close(fd);
}
