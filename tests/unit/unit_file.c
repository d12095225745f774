/*
 * Description: the data file and its errors. Opening: a missing file
 * without PTBM_CREATE (-ENOENT, nothing created), a path under a missing
 * directory, a directory, a device, a file the process may not read
 * (-EACCES), random bytes or a damaged header (PTBM_EBADFILE), another page
 * size or layout version (PTBM_ELAYOUT), a file shorter than its header
 * says (PTBM_ETRUNCATED), a file emptied to 0 bytes (PTBM_ETRUNCATED, even
 * with PTBM_CREATE, and nothing written over it), more pages than max_pages,
 * a file that another pool has open (PTBM_EINUSE, nothing changed). Pages: every page
 * written carries in its trailer XXH3-64 of its bytes seeded by its id (the
 * on-disk format, whatever vector unit the library's sum uses). A page corrupted,
 * torn, or copied from another page on disk is PTBM_ECHECKSUM on every
 * access path and stays evicted, while the other pages read fine; so is a
 * page written once and zeroed on disk since (zeros or a hole punched over
 * it), after a reopen (by the header's written ranges; more ranges than the
 * header holds: the shortest are left out) and in the pool that wrote it. Reopen
 * keeps the data and the allocated count of the last flush; pages allocated
 * but never written read as zeros; PTBM_TRUNCATE empties the file; O_DIRECT
 * and buffered I/O both round-trip, and where the filesystem refuses
 * O_DIRECT (a ramfs in a private mount namespace) PTBM_DIRECT_ON fails with
 * PTBM_ENOSUPPORT while PTBM_DIRECT_AUTO falls back to buffered I/O. Injected I/O faults: a failed
 * read leaves the page evicted and a later fix succeeds; a failed write during flush, or a failed
 * header commit, is reported, leaves that page dirty (or the header old) and a later flush
 * succeeds, and the data survives reopen. Staged reads (a miss's read into
 * the thread's staging buffers) go through a buffer registered with the
 * thread's ring where the kernel takes it, and read the same pages where
 * it refuses (no CAP_IPC_LOCK, RLIMIT_MEMLOCK 0).
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xxhash.h>

#define N 8 /* pages in the files these tests make */

/* A config over file (not truncated: these tests reopen). */
static void config(struct ptbm_config *cfg, const char *file, uint32_t flags)
{
	tu_config(cfg, file);
	cfg->flags = flags;
}

static int try_open(const char *file, uint32_t flags)
{
	struct ptbm_config cfg;
	config(&cfg, file, flags);
	ptbm_pool *pool = NULL;
	int rc = ptbm_open(&cfg, &pool);
	if (rc == 0)
		ptbm_close(pool);
	return rc;
}

/* A data file of N pages, page p holding pattern (p, seed); flushed, closed. */
static void make_file(const char *file, uint64_t seed)
{
	struct ptbm_config cfg;
	config(&cfg, file, PTBM_CREATE | PTBM_TRUNCATE);
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, N), 0);
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(tu_write(pool, pid, seed), 0);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
}

static ptbm_pool *reopen(const char *file)
{
	struct ptbm_config cfg;
	config(&cfg, file, 0);
	return tu_open(&cfg);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void pwrite_at(const char *path, const void *buf, size_t n, off_t off)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void pread_at(const char *path, void *buf, size_t n, off_t off)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void flip_byte(const char *path, off_t off)
{
	unsigned char b;
	pread_at(path, &b, 1, off);
	b ^= 0x5a;
	pwrite_at(path, &b, 1, off);
}

static off_t page_off(uint64_t pid)
{
	return (off_t)((pid + 1) * TU_PAGE_SIZE);
}

static void test_missing_file(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	assert_rc(try_open(__func__, 0), -ENOENT);
	assert_false(exists(path));
	assert_rc(try_open("no-such-dir/data", PTBM_CREATE), -ENOENT);
	/* with PTBM_CREATE it is made, with a header */
	assert_rc(try_open(__func__, PTBM_CREATE), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, TU_PAGE_SIZE);
}

static void test_not_a_file(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	ptbm_pool *pool = NULL;
	tu_config(&cfg, "x");
	cfg.flags = 0;
	cfg.data_path = tu_dir();
	assert_rc(ptbm_open(&cfg, &pool), -EISDIR);
	cfg.data_path = "/dev/null";
	assert_rc(ptbm_open(&cfg, &pool), PTBM_EBADFILE);
	assert_null(pool);
}

static int open_as_nobody(void *arg)
{
	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 3;
	int rc = try_open(arg, 0);
	return rc == -EACCES ? 0 : 1;
}

/* A file this process may not read or write: -EACCES. Root reads anything,
 * so the open runs in a child that has dropped to nobody. */
static void test_unreadable(void **state)
{
	(void)state;
	make_file(__func__, 1);
	const char *path = tu_path(__func__);
	assert_int_equal(chmod(tu_dir(), 0755), 0);
	assert_int_equal(chmod(path, 0), 0);
	int rc;
	if (geteuid() == 0)
		rc = tu_fork_run(open_as_nobody, (void *)__func__);
	else
		rc = try_open(__func__, 0) == -EACCES ? 0 : 1;
	assert_int_equal(rc, 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(chmod(tu_dir(), 0700), 0);
}

static void test_garbage(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	unsigned char *buf = malloc(3 * TU_PAGE_SIZE);
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < 3 * TU_PAGE_SIZE; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, 3 * TU_PAGE_SIZE), 3 * TU_PAGE_SIZE);
	close(fd);
	assert_rc(try_open(__func__, 0), PTBM_EBADFILE);
	assert_rc(try_open(__func__, PTBM_CREATE), PTBM_EBADFILE);

	/* the magic and a few bytes: too short to be a header */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "PTBMDATA\1", 9), 9);
	close(fd);
	assert_rc(try_open(__func__, 0), PTBM_EBADFILE);
	free(buf);
}

/* Header byte flips: magic, layout, page size, page count, written ranges
 * (their count, a range), checksum. */
static void test_header_corrupted(void **state)
{
	(void)state;
	const off_t offs[] = {0, 7, 8, 12, 16, 24, 28, 31, 32, 39, 64, 79};
	for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
		make_file(__func__, 1);
		flip_byte(tu_path(__func__), offs[i]);
		int rc = try_open(__func__, 0);
		if (rc != PTBM_EBADFILE)
			fail_msg("byte %d flipped: %s", (int)offs[i], ptbm_strerror(rc));
	}
}

static void test_layout(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	make_file(__func__, 1);
	struct ptbm_config cfg;
	ptbm_pool *pool = NULL;
	const uint32_t sizes[] = {2 * TU_PAGE_SIZE, 3 * TU_PAGE_SIZE};
	for (size_t i = 0; i < 2; i++) {
		config(&cfg, __func__, 0);
		cfg.page_size = sizes[i];
		cfg.budget_bytes = (uint64_t)TU_BATCH * sizes[i];
		assert_rc(ptbm_open(&cfg, &pool), PTBM_ELAYOUT);
	}
	/* a file made with 8192 opened with 4096 */
	config(&cfg, __func__, PTBM_CREATE | PTBM_TRUNCATE);
	cfg.page_size = 8192;
	pool = tu_open(&cfg);
	tu_alloc(pool, 2);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	assert_rc(try_open(__func__, 0), PTBM_ELAYOUT);

	/* a valid header of the next layout version */
	make_file(__func__, 1);
	static char block[TU_PAGE_SIZE];
	struct ptbm_file_header *h = (struct ptbm_file_header *)block;
	const struct ptbm_range *ranges = (const void *)(block + PTBM_HEADER_RANGES_AT);
	pread_at(path, block, sizeof block, 0);
	assert_memory_equal(h->magic, "PTBMDATA", 8);
	assert_int_equal(h->layout_version, PTBM_LAYOUT_VERSION);
	h->layout_version++;
	h->checksum = ptbm_file_header_sum(h, ranges);
	pwrite_at(path, block, sizeof block, 0);
	assert_rc(try_open(__func__, 0), PTBM_ELAYOUT);
	h->layout_version--;
	h->checksum = ptbm_file_header_sum(h, ranges);
	pwrite_at(path, block, sizeof block, 0);
	assert_rc(try_open(__func__, 0), 0); /* the forgery is faithful */
	/* a file of the previous layout: header without ranges, its checksum at 24 */
	memset(block, 0, sizeof block);
	memcpy(block, "PTBMDATA", 8);
	const uint32_t v1 = 1, size = TU_PAGE_SIZE;
	const uint64_t pages = N;
	memcpy(block + 8, &v1, 4);
	memcpy(block + 12, &size, 4);
	memcpy(block + 16, &pages, 8);
	const uint64_t sum = XXH3_64bits(block, 24);
	memcpy(block + 24, &sum, 8);
	pwrite_at(path, block, sizeof block, 0);
	assert_rc(try_open(__func__, 0), PTBM_ELAYOUT);
}

static void test_truncated(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	make_file(__func__, 1);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (N + 1) * TU_PAGE_SIZE);
	assert_int_equal(truncate(path, (N + 1) * TU_PAGE_SIZE - 1), 0);
	assert_rc(try_open(__func__, 0), PTBM_ETRUNCATED);
	assert_int_equal(truncate(path, 3 * TU_PAGE_SIZE), 0);
	assert_rc(try_open(__func__, 0), PTBM_ETRUNCATED);
	assert_int_equal(truncate(path, 100), 0); /* the header alone */
	assert_rc(try_open(__func__, 0), PTBM_ETRUNCATED);
	assert_int_equal(truncate(path, 20), 0); /* not even a header */
	assert_rc(try_open(__func__, 0), PTBM_EBADFILE);
	/* PTBM_TRUNCATE starts over whatever was there */
	assert_rc(try_open(__func__, PTBM_TRUNCATE), 0);
}

/* A data file emptied (truncated to 0 bytes) is not a new pool: opening it
 * fails, with or without PTBM_CREATE, and writes nothing over it; only
 * PTBM_TRUNCATE starts it over. */
static void test_emptied(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	make_file(__func__, 1);
	assert_int_equal(truncate(path, 0), 0);
	struct stat st;
	assert_rc(try_open(__func__, 0), PTBM_ETRUNCATED);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_rc(try_open(__func__, PTBM_CREATE), PTBM_ETRUNCATED);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_rc(try_open(__func__, PTBM_CREATE | PTBM_TRUNCATE), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, TU_PAGE_SIZE);
	assert_rc(try_open(__func__, 0), 0);
}

/* A data file is open in one pool at a time: a second ptbm_open of it, even
 * with PTBM_TRUNCATE, fails with PTBM_EINUSE and changes nothing, and the
 * first pool carries on; once it is closed the file opens again. */
static int open_again_in_child(void *arg)
{
	(void)arg;
	return try_open("test_one_pool_per_file", 0) == PTBM_EINUSE ? 0 : 1;
}

static void test_one_pool_per_file(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	struct ptbm_config cfg;
	config(&cfg, __func__, PTBM_CREATE | PTBM_TRUNCATE);
	cfg.share = PTBM_SHARE_PROCESSES;
	ptbm_pool *a = tu_open(&cfg);
	assert_int_equal(tu_alloc(a, N), 0);
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(tu_write(a, pid, 1), 0);
	assert_rc(ptbm_flush(a), 0);
	assert_int_equal(tu_alloc(a, N), N); /* pages past the header's count */
	for (uint64_t pid = N; pid < 2 * N; pid++)
		assert_rc(tu_write(a, pid, 1), 0);
	assert_rc(ptbm_flush(a), 0);
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);
	assert_rc(try_open(__func__, 0), PTBM_EINUSE);
	assert_rc(try_open(__func__, PTBM_CREATE), PTBM_EINUSE);
	assert_rc(try_open(__func__, PTBM_TRUNCATE), PTBM_EINUSE);
	assert_int_equal(tu_fork_run(open_again_in_child, NULL), 0);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	for (uint64_t pid = 0; pid < 2 * N; pid++)
		assert_rc(tu_write(a, pid, 2), 0);
	assert_rc(ptbm_flush(a), 0);
	tu_close(a);
	ptbm_pool *b = reopen(__func__);
	assert_int_equal(tu_stats(b).allocated, 2 * N);
	for (uint64_t pid = 0; pid < 2 * N; pid++)
		assert_rc(tu_verify(b, pid, 2), 0);
	tu_close(b);
}

/* A file holding more pages than max_pages cannot be opened with it. */
static void test_more_than_max_pages(void **state)
{
	(void)state;
	make_file(__func__, 1);
	struct ptbm_config cfg;
	ptbm_pool *pool = NULL;
	config(&cfg, __func__, 0);
	cfg.max_pages = N - 1;
	assert_rc(ptbm_open(&cfg, &pool), PTBM_EINVAL_CONFIG);
	cfg.max_pages = N;
	assert_rc(ptbm_open(&cfg, &pool), 0);
	tu_close(pool);
}

/* Every way in to a bad page reports PTBM_ECHECKSUM and leaves it evicted. */
static void expect_bad_page(ptbm_pool *pool, uint64_t bad)
{
	void *p;
	const void *cp;
	uint64_t v;
	char buf[8];
	uint64_t s = tu_word(pool, bad);
	uint64_t resident = tu_stats(pool).resident;
	for (int i = 0; i < 2; i++) {
		assert_rc(ptbm_fix_shared(pool, bad, &p), PTBM_ECHECKSUM);
		assert_rc(ptbm_fix_exclusive(pool, bad, &p), PTBM_ECHECKSUM);
		assert_rc(ptbm_read_begin(pool, bad, &cp, &v), PTBM_ECHECKSUM);
		assert_rc(ptbm_read(pool, bad, 0, buf, sizeof buf), PTBM_ECHECKSUM);
		assert_rc(ptbm_prefetch(pool, &bad, 1), PTBM_ECHECKSUM);
	}
	assert_int_equal(tu_word(pool, bad), s);
	assert_int_equal(ptbm_tag(s), PTBM_TAG_EVICTED);
	assert_int_equal(tu_stats(pool).resident, resident);
	assert_int_equal(tu_pages_in_core(pool, N), resident);
}

static void check_corruption(const char *file, uint64_t bad)
{
	ptbm_pool *pool = reopen(file);
	expect_bad_page(pool, bad);
	for (uint64_t pid = 0; pid < N; pid++)
		if (pid != bad)
			assert_rc(tu_verify(pool, pid, 1), 0);
	tu_close(pool);
}

/* The trailer on disk is XXH3-64 of the caller's bytes seeded with the page
 * id, whatever vector unit the library's sum picked: computed here by
 * libxxhash's plain (SSE2) entry point, it matches every page written. */
static void test_trailer_format(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	make_file(__func__, 1);
	unsigned char *page = malloc(TU_PAGE_SIZE);
	assert_non_null(page);
	for (uint64_t pid = 0; pid < N; pid++) {
		pread_at(path, page, TU_PAGE_SIZE, page_off(pid));
		uint64_t sum;
		memcpy(&sum, page + TU_PAGE_SIZE - PTBM_PAGE_TRAILER, sizeof sum);
		assert_int_equal(sum, XXH3_64bits_withSeed(page, TU_PAGE_SIZE - PTBM_PAGE_TRAILER,
							   pid ^ 0x9e3779b97f4a7c15ull));
	}
	free(page);
}

static void test_page_corrupted(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	/* one byte of the caller's data */
	make_file(__func__, 1);
	flip_byte(path, page_off(2) + 100);
	check_corruption(__func__, 2);
	/* the checksum in the trailer */
	make_file(__func__, 1);
	flip_byte(path, page_off(3) + TU_PAGE_SIZE - PTBM_PAGE_TRAILER);
	check_corruption(__func__, 3);
	/* torn: the first half of a newer write, the second half of the old */
	make_file(__func__, 1);
	char *half = malloc(TU_PAGE_SIZE);
	tu_fill(half, TU_PAGE_SIZE, 4, 2);
	pwrite_at(path, half, TU_PAGE_SIZE / 2, page_off(4));
	check_corruption(__func__, 4);
	/* a whole valid page written at the wrong place */
	make_file(__func__, 1);
	pread_at(path, half, TU_PAGE_SIZE, page_off(5));
	pwrite_at(path, half, TU_PAGE_SIZE, page_off(6));
	check_corruption(__func__, 6);
	/* the last page, zeroed except one byte */
	make_file(__func__, 1);
	memset(half, 0, TU_PAGE_SIZE);
	half[17] = 1;
	pwrite_at(path, half, TU_PAGE_SIZE, page_off(N - 1));
	check_corruption(__func__, N - 1);
	free(half);
}

static void test_reopen_keeps_data(void **state)
{
	(void)state;
	make_file(__func__, 4);
	ptbm_pool *pool = reopen(__func__);
	assert_int_equal(tu_stats(pool).allocated, N);
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(tu_verify(pool, pid, 4), 0);
	/* modified and allocated after the last flush: not kept by close */
	assert_rc(tu_write(pool, 0, 5), 0);
	assert_int_equal(tu_alloc(pool, 3), N);
	tu_close(pool);
	pool = reopen(__func__);
	assert_int_equal(tu_stats(pool).allocated, N);
	assert_rc(tu_verify(pool, 0, 4), 0);
	void *p;
	assert_rc(ptbm_fix_shared(pool, N, &p), PTBM_ERANGE);
	/* now kept */
	assert_rc(tu_write(pool, 0, 5), 0);
	assert_int_equal(tu_alloc(pool, 3), N);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	pool = reopen(__func__);
	assert_int_equal(tu_stats(pool).allocated, N + 3);
	assert_rc(tu_verify(pool, 0, 5), 0);
	for (uint64_t pid = 1; pid < N; pid++)
		assert_rc(tu_verify(pool, pid, 4), 0);
	tu_close(pool);
}

/*
 * Buffers registered with this process's io_uring instances, as their
 * fdinfo lists them; those at least min_len long counted in *big.
 */
static int registered_buffers(size_t min_len, int *big)
{
	int n = 0;
	*big = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));) {
		char path[300], link[64] = "";
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		if (readlink(path, link, sizeof link - 1) < 0 || strstr(link, "io_uring") == NULL)
			continue;
		snprintf(path, sizeof path, "/proc/self/fdinfo/%s", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		char line[256];
		int bufs = 0;
		while (fgets(line, sizeof line, f)) {
			unsigned long addr, len;
			if (sscanf(line, "UserBufs: %d", &bufs) == 1)
				n += bufs;
			else if (bufs > 0 && sscanf(line, " %*u: 0x%lx/%lu", &addr, &len) == 2 &&
				 len >= min_len)
				(*big)++;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Read every page of the file made by make_file(file, 6); 0 if all match. */
static int read_all(const char *file)
{
	ptbm_pool *pool = reopen(file);
	int bad = 0;
	for (uint64_t pid = 0; pid < N; pid++)
		bad += tu_verify(pool, pid, 6) != 0;
	tu_close(pool);
	return bad;
}

static void test_staged_reads_registered(void **state)
{
	(void)state;
	make_file(__func__, 6);
	int big;
	assert_int_equal(read_all(__func__), 0); /* each page a miss: a staged read */
	/* this thread's staging buffers, whole (registered by this test's
	 * reads, or by an earlier test's in the same thread) */
	assert_true(registered_buffers(TU_PAGE_SIZE, &big) >= 1);
	assert_true(big >= 1);

	/* pages larger than the staging buffers: they grow, and the grown ones
	 * are registered in place of the old */
	const uint32_t large = 2u << 20;
	char file[64];
	snprintf(file, sizeof file, "%s_large", __func__);
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.page_size = large;
	cfg.max_pages = 4;
	cfg.budget_bytes = 4ull * large;
	cfg.evict_batch = 1;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, 2), 0);
	for (uint64_t pid = 0; pid < 2; pid++)
		assert_rc(tu_write(pool, pid, 7), 0);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	cfg.flags = 0;
	pool = tu_open(&cfg);
	for (uint64_t pid = 0; pid < 2; pid++)
		assert_rc(tu_verify(pool, pid, 7), 0);
	tu_close(pool);
	registered_buffers(large, &big);
	assert_int_equal(big, 1);
}

/* In a child: without CAP_IPC_LOCK and with no locked memory allowed, the
 * kernel refuses to register the staging buffers; the reads still work. */
static int refused_child(void *arg)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct c[2];
	if (syscall(SYS_capget, &h, c) != 0)
		return 10;
	c[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	c[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
	struct rlimit none = {0, 0};
	if (syscall(SYS_capset, &h, c) != 0 || setrlimit(RLIMIT_MEMLOCK, &none) != 0)
		return 11;
	int big, before = registered_buffers(TU_PAGE_SIZE, &big);
	if (read_all(arg) != 0)
		return 12;
	if (registered_buffers(TU_PAGE_SIZE, &big) != before)
		return 13; /* registered after all: the refusal was not tested */
	return 0;
}

static void test_staged_reads_refused(void **state)
{
	(void)state;
	make_file(__func__, 6);
	assert_int_equal(tu_fork_run(refused_child, (void *)__func__), 0);
}

static void expect_zero_page(ptbm_pool *pool, uint64_t pid)
{
	void *p;
	assert_rc(ptbm_fix_shared(pool, pid, &p), 0);
	assert_true(tu_is_zero(p, ptbm_page_size(pool)));
	assert_rc(ptbm_unfix_shared(pool, pid), 0);
}

/* Allocated, never written: zeros, before and after a reopen, whether
 * beyond the end of the file or in a hole between written pages. */
static void test_unwritten_pages_are_zero(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	config(&cfg, __func__, PTBM_CREATE | PTBM_TRUNCATE);
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, 10), 0);
	expect_zero_page(pool, 9);
	assert_rc(tu_write(pool, 5, 1), 0);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	pool = reopen(__func__);
	assert_int_equal(tu_stats(pool).allocated, 10);
	for (uint64_t pid = 0; pid < 10; pid++)
		if (pid != 5)
			expect_zero_page(pool, pid);
	assert_rc(tu_verify(pool, 5, 1), 0);
	tu_close(pool);
}

/* Written and flushed, then zeroed on disk (zeros written over it, a hole
 * punched over it): PTBM_ECHECKSUM after a reopen, and in the pool that
 * wrote it once the page was evicted; never-written pages still read as
 * zeros. */
static void zero_on_disk(const char *path, uint64_t pid, bool punch)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	if (punch) {
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page_off(pid),
			      TU_PAGE_SIZE) < 0)
			fail_msg("punching a hole: %s", strerror(errno));
	} else {
		static char zeros[TU_PAGE_SIZE];
		assert_int_equal(pwrite(fd, zeros, sizeof zeros, page_off(pid)), TU_PAGE_SIZE);
	}
	close(fd);
}

static void test_zeroed_on_disk(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	make_file(__func__, 1);
	zero_on_disk(path, 3, false);
	zero_on_disk(path, 5, true);
	ptbm_pool *pool = reopen(__func__);
	expect_bad_page(pool, 3);
	expect_bad_page(pool, 5);
	for (uint64_t pid = 0; pid < N; pid++)
		if (pid != 3 && pid != 5)
			assert_rc(tu_verify(pool, pid, 1), 0);
	assert_int_equal(tu_alloc(pool, 1), N); /* never written: zeros */
	expect_zero_page(pool, N);
	tu_close(pool);

	/* in the pool that wrote it: evicted, zeroed, loaded again */
	struct ptbm_config cfg;
	config(&cfg, __func__, PTBM_CREATE | PTBM_TRUNCATE);
	cfg.budget_bytes = (uint64_t)TU_BATCH * TU_PAGE_SIZE;
	pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, 3 * TU_BATCH), 0);
	for (uint64_t pid = 0; pid < 3 * TU_BATCH; pid++)
		assert_rc(tu_write(pool, pid, 2), 0);
	assert_rc(ptbm_flush(pool), 0);
	assert_int_equal(tu_tag(pool, 0), PTBM_TAG_EVICTED);
	zero_on_disk(path, 0, false);
	zero_on_disk(path, 1, true);
	for (uint64_t pid = 0; pid < 2; pid++) {
		void *p;
		char buf[8];
		assert_rc(ptbm_fix_shared(pool, pid, &p), PTBM_ECHECKSUM);
		assert_rc(ptbm_fix_exclusive(pool, pid, &p), PTBM_ECHECKSUM);
		assert_rc(ptbm_read(pool, pid, 0, buf, sizeof buf), PTBM_ECHECKSUM);
		assert_int_equal(tu_tag(pool, pid), PTBM_TAG_EVICTED);
	}
	assert_rc(tu_verify(pool, 2, 2), 0);
	tu_close(pool);
}

/* More written ranges than the header holds: the shortest are left out and
 * the header says so; every page still reads back, and a zeroed page of a
 * range the header kept is found. */
static void test_many_written_ranges(void **state)
{
	(void)state;
	const char *path = tu_path(__func__);
	const uint32_t cap = ptbm_header_ranges(TU_PAGE_SIZE);
	const uint64_t n = 2 * (cap + 20);
	struct ptbm_config cfg;
	config(&cfg, __func__, PTBM_CREATE | PTBM_TRUNCATE);
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, n), 0);
	for (uint64_t pid = 0; pid < n; pid += 2)
		assert_rc(tu_write(pool, pid, 3), 0);
	assert_rc(tu_write(pool, n - 1, 3), 0); /* the last range: two pages long */
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	struct ptbm_file_header h;
	pread_at(path, &h, sizeof h, 0);
	assert_int_equal(h.n_written, cap);
	assert_int_equal(h.written_lost, 1);
	struct ptbm_range last;
	pread_at(path, &last, sizeof last,
		 PTBM_HEADER_RANGES_AT + (off_t)(cap - 1) * (off_t)sizeof last);
	assert_int_equal(last.first, n - 2); /* the longest was kept */
	assert_int_equal(last.end, n);
	zero_on_disk(path, 2, false); /* [0, 1) made room for the last range */
	pool = reopen(__func__);
	for (uint64_t pid = 0; pid < n; pid++) {
		bool written = pid % 2 == 0 || pid == n - 1;
		if (pid != 2)
			assert_rc(tu_verify(pool, pid, written ? 3 : UINT64_MAX), written ? 0 : 1);
	}
	void *p;
	assert_rc(ptbm_fix_shared(pool, 2, &p), PTBM_ECHECKSUM);
	tu_close(pool);
}

static void test_truncate_flag(void **state)
{
	(void)state;
	make_file(__func__, 1);
	struct ptbm_config cfg;
	config(&cfg, __func__, PTBM_TRUNCATE);
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_stats(pool).allocated, 0);
	void *p;
	assert_rc(ptbm_fix_shared(pool, 0, &p), PTBM_ERANGE);
	assert_int_equal(tu_alloc(pool, 1), 0);
	expect_zero_page(pool, 0);
	tu_close(pool);
	struct stat st;
	assert_int_equal(stat(tu_path(__func__), &st), 0);
	assert_int_equal(st.st_size, TU_PAGE_SIZE);
}

/* O_DIRECT (this filesystem takes it) and buffered I/O both round-trip. */
static void test_direct_modes(void **state)
{
	(void)state;
	const enum ptbm_direct modes[] = {PTBM_DIRECT_ON, PTBM_DIRECT_OFF, PTBM_DIRECT_AUTO};
	const int want[] = {1, 0, 1};
	for (int i = 0; i < 3; i++) {
		struct ptbm_config cfg;
		config(&cfg, __func__, PTBM_CREATE | PTBM_TRUNCATE);
		cfg.direct = modes[i];
		ptbm_pool *pool = tu_open(&cfg);
		assert_int_equal(ptbm_direct_io(pool), want[i]);
		tu_alloc(pool, 2);
		assert_rc(tu_write(pool, 1, 10 + i), 0);
		assert_rc(ptbm_flush(pool), 0);
		tu_close(pool);
		config(&cfg, __func__, 0);
		cfg.direct = modes[(i + 1) % 3];
		pool = tu_open(&cfg);
		assert_rc(tu_verify(pool, 1, 10 + i), 0);
		tu_close(pool);
	}
}

/* In a private mount namespace, on a ramfs (which refuses O_DIRECT). */
static int direct_refused(void *arg)
{
	const char *dir = arg;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", dir, "ramfs", 0, NULL) < 0)
		return 77; /* no privilege for a mount namespace here */
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/data", dir);
	struct ptbm_config cfg;
	tu_config(&cfg, "unused");
	cfg.data_path = path;
	cfg.direct = PTBM_DIRECT_ON;
	ptbm_pool *pool;
	int rc = ptbm_open(&cfg, &pool);
	if (rc != PTBM_ENOSUPPORT) {
		fprintf(stderr, "child: PTBM_DIRECT_ON on ramfs: %s\n", ptbm_strerror(rc));
		return 1;
	}
	cfg.direct = PTBM_DIRECT_AUTO;
	uint64_t first;
	if (ptbm_open(&cfg, &pool) < 0 || ptbm_direct_io(pool) != 0 ||
	    ptbm_alloc(pool, 2, &first) < 0 || tu_write(pool, 1, 8) != 0 || ptbm_flush(pool) < 0 ||
	    ptbm_close(pool) < 0)
		return 2;
	cfg.flags = 0;
	if (ptbm_open(&cfg, &pool) < 0 || ptbm_direct_io(pool) != 0 || tu_verify(pool, 1, 8) != 0)
		return 3;
	return ptbm_close(pool) < 0 ? 4 : 0;
}

/* Where the filesystem refuses O_DIRECT: PTBM_DIRECT_ON fails with
 * PTBM_ENOSUPPORT, PTBM_DIRECT_AUTO falls back to buffered I/O and works. */
static void test_direct_refused(void **state)
{
	(void)state;
	const char *dir = tu_path(__func__);
	assert_int_equal(mkdir(dir, 0700), 0);
	int rc = tu_fork_run(direct_refused, (void *)dir);
	if (rc == 77)
		skip();
	assert_int_equal(rc, 0);
}

/* ---- injected faults -------------------------------------------------- */

static void read_fault(enum ptbm_fault fault, int want)
{
#ifndef PTBM_FAULT_INJECTION
	skip();
#endif
	make_file("read_fault", 1);
	ptbm_pool *pool = reopen("read_fault");
	void *p;
	ptbm_fault_inject_read(fault, 0);
	assert_rc(ptbm_fix_shared(pool, 3, &p), want);
	assert_int_equal(tu_tag(pool, 3), PTBM_TAG_EVICTED);
	assert_int_equal(tu_stats(pool).resident, 0);
	assert_int_equal(tu_pages_in_core(pool, N), 0);
	/* the fault is spent: the page loads now */
	assert_rc(tu_verify(pool, 3, 1), 0);
	/* a later read fails, the earlier ones stand */
	ptbm_fault_inject_read(fault, 2);
	assert_rc(tu_verify(pool, 4, 1), 0);
	assert_rc(tu_verify(pool, 5, 1), 0);
	assert_rc(ptbm_fix_exclusive(pool, 6, &p), want);
	ptbm_fault_inject_read(PTBM_FAULT_NONE, 0);
	assert_int_equal(tu_stats(pool).resident, 3);
	assert_rc(tu_verify(pool, 6, 1), 0);
	tu_close(pool);
}

static void test_read_eio(void **state)
{
	(void)state;
	read_fault(PTBM_FAULT_EIO, -EIO);
}

static void test_read_short(void **state)
{
	(void)state;
	read_fault(PTBM_FAULT_SHORT, PTBM_EIO_SHORT);
}

static void test_open_read_fault(void **state)
{
	(void)state;
#ifndef PTBM_FAULT_INJECTION
	skip();
#endif
	make_file(__func__, 1);
	ptbm_fault_inject_read(PTBM_FAULT_EIO, 0);
	assert_rc(try_open(__func__, 0), -EIO);
	ptbm_fault_inject_read(PTBM_FAULT_NONE, 0);
	assert_rc(try_open(__func__, 0), 0);
}

/* A write fault in flush: the error is returned, the page whose write
 * failed stays dirty (the others are clean), a later flush writes it, the
 * data survives reopen. */
static void flush_fault(enum ptbm_fault fault, long after, int want)
{
#ifndef PTBM_FAULT_INJECTION
	skip();
#endif
	make_file("flush_fault", 1);
	ptbm_pool *pool = reopen("flush_fault");
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(tu_write(pool, pid, 2), 0);
	ptbm_fault_inject_write(fault, after);
	assert_rc(ptbm_flush(pool), want);
	ptbm_fault_inject_write(PTBM_FAULT_NONE, 0);
	assert_int_equal(tu_stats(pool).writes, N - 1);
	int dirty = 0;
	for (uint64_t pid = 0; pid < N; pid++) {
		uint64_t s = tu_word(pool, pid);
		assert_int_equal(ptbm_tag(s), PTBM_TAG_UNLOCKED); /* no latch left */
		dirty += !!(s & PTBM_DIRTY_BIT);
	}
	assert_int_equal(dirty, 1);
	assert_rc(ptbm_flush(pool), 0);
	assert_int_equal(tu_stats(pool).writes, N);
	for (uint64_t pid = 0; pid < N; pid++)
		assert_false(tu_word(pool, pid) & PTBM_DIRTY_BIT);
	tu_close(pool);
	pool = reopen("flush_fault");
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(tu_verify(pool, pid, 2), 0);
	tu_close(pool);
}

static void test_flush_eio(void **state)
{
	(void)state;
	flush_fault(PTBM_FAULT_EIO, 0, -EIO);
}

static void test_flush_enospc_midway(void **state)
{
	(void)state;
	flush_fault(PTBM_FAULT_ENOSPC, N / 2, -ENOSPC);
}

static void test_flush_short(void **state)
{
	(void)state;
	flush_fault(PTBM_FAULT_SHORT, 1, PTBM_EIO_SHORT);
}

/* The pages are written but the header is not: flush fails, the header
 * still says the old page count; the next flush commits. */
static void test_flush_header_fault(void **state)
{
	(void)state;
#ifndef PTBM_FAULT_INJECTION
	skip();
#endif
	make_file(__func__, 1);
	ptbm_pool *pool = reopen(__func__);
	assert_int_equal(tu_alloc(pool, 2), N);
	assert_rc(tu_write(pool, N, 3), 0);
	assert_rc(tu_write(pool, N + 1, 3), 0);
	ptbm_fault_inject_write(PTBM_FAULT_EIO, 2); /* two pages, then the header */
	assert_rc(ptbm_flush(pool), -EIO);
	ptbm_fault_inject_write(PTBM_FAULT_NONE, 0);
	assert_int_equal(tu_stats(pool).writes, 2);
	tu_close(pool);
	pool = reopen(__func__);
	assert_int_equal(tu_stats(pool).allocated, N); /* the old header */
	tu_close(pool);

	pool = reopen(__func__);
	assert_int_equal(tu_alloc(pool, 2), N);
	assert_rc(tu_write(pool, N, 3), 0);
	assert_rc(tu_write(pool, N + 1, 3), 0);
	ptbm_fault_inject_write(PTBM_FAULT_EIO, 2);
	assert_rc(ptbm_flush(pool), -EIO);
	ptbm_fault_inject_write(PTBM_FAULT_NONE, 0);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	pool = reopen(__func__);
	assert_int_equal(tu_stats(pool).allocated, N + 2);
	assert_rc(tu_verify(pool, N, 3), 0);
	assert_rc(tu_verify(pool, N + 1, 3), 0);
	tu_close(pool);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_not_a_file),
	    cmocka_unit_test(test_unreadable),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_header_corrupted),
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_emptied),
	    cmocka_unit_test(test_one_pool_per_file),
	    cmocka_unit_test(test_zeroed_on_disk),
	    cmocka_unit_test(test_many_written_ranges),
	    cmocka_unit_test(test_more_than_max_pages),
	    cmocka_unit_test(test_trailer_format),
	    cmocka_unit_test(test_page_corrupted),
	    cmocka_unit_test(test_reopen_keeps_data),
	    cmocka_unit_test(test_staged_reads_registered),
	    cmocka_unit_test(test_staged_reads_refused),
	    cmocka_unit_test(test_unwritten_pages_are_zero),
	    cmocka_unit_test(test_truncate_flag),
	    cmocka_unit_test(test_direct_modes),
	    cmocka_unit_test(test_direct_refused),
	    cmocka_unit_test(test_read_eio),
	    cmocka_unit_test(test_read_short),
	    cmocka_unit_test(test_open_read_fault),
	    cmocka_unit_test(test_flush_eio),
	    cmocka_unit_test(test_flush_enospc_midway),
	    cmocka_unit_test(test_flush_short),
	    cmocka_unit_test(test_flush_header_fault),
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
