/*
 * Description: bad input to every public function of include/ptbm.h. Each
 * invalid call must return the documented error, and after each the pool
 * must still work: a write and a read of a page round-trip, no page is
 * left latched, and this thread's latch count (what the dead-owner check
 * reads, src/registry/threads.c) is what the test really holds. Page calls, in both
 * sharing modes: a NULL pool, NULL out pointers, ids beyond max_pages or
 * not allocated, unfix without fix, double unfix, the wrong unfix,
 * mark_dirty without the exclusive latch, offsets and lengths past the
 * page (and ones that overflow), stale and random versions to validate
 * and upgrade, prefetch lists with a bad id anywhere, allocation counts of
 * 0, one past max_pages and UINT64_MAX. Pool calls: ptbm_open with a NULL
 * out pointer or an unusable path, ptbm_attach and ptbm_unlink of names
 * that are not valid, too long or not there (unlinking a live pool's name
 * leaves it working), ptbm_close, ptbm_flush, ptbm_get_stats, the accessors
 * (page sizes, max_pages, engine, sharing mode, direct I/O) and
 * ptbm_config_init of NULL,
 * ptbm_strerror of every code and of a million other ints, the name
 * functions of every int. Data files that unit_file does not already try:
 * the magic followed by random bytes, random bytes of one byte and of one
 * page, headers with a valid checksum and a page size of 0, 1 or 2^31, a
 * layout version of 0 or UINT32_MAX, a page count that overflows the size
 * check, a FIFO, a symlink loop: each rejected with its code, and the file
 * left as it was. Prints the number of bad inputs tried.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define N 8 /* pages allocated in the pools these tests open */

static unsigned long n_bad;  /* bad inputs tried: calls and data files */
static unsigned long n_ints; /* other ints given to ptbm_strerror and the name functions */
static uint64_t round_seed = 100;
static unsigned n_held; /* latches the test holds on purpose */

/* The pool works: a page written and read back three ways, no page left
 * latched but those held on purpose, no latch counted that is not held. */
static void still_works(ptbm_pool *pool)
{
	uint64_t pid = N - 1, seed = round_seed++;
	char buf[64], want[64];
	assert_rc(tu_write(pool, pid, seed), 0);
	assert_rc(tu_verify(pool, pid, seed), 0);
	tu_fill(want, sizeof want, pid, seed);
	assert_rc(ptbm_read(pool, pid, 0, buf, sizeof buf), 0);
	assert_memory_equal(buf, want, sizeof buf);
	unsigned latched = 0;
	for (uint64_t p = 0; p < N; p++) {
		uint64_t tag = tu_tag(pool, p);
		latched += tag >= 2 && tag <= PTBM_TAG_EXCLUSIVE;
	}
	assert_int_equal(latched, n_held);
	assert_int_equal(atomic_load(&ptbm_slot(pool)->held), n_held);
}

/* One bad input: expr must return want, and the pool must still work. */
#define BAD(pool, expr, want)                                                                      \
	do {                                                                                       \
		n_bad++;                                                                           \
		assert_rc(expr, want);                                                             \
		if (pool)                                                                          \
			still_works(pool);                                                         \
	} while (0)

static ptbm_pool *open_mode(const char *file, enum ptbm_share share)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = share;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, N), 0);
	return pool;
}

/* ---- page calls -------------------------------------------------------- */

/* What every page call on one page id must return. */
struct wants {
	int load;     /* fix_shared, fix_exclusive, read_begin, ptbm_read, prefetch */
	int unfix;    /* unfix_shared, unfix_exclusive, mark_dirty */
	int validate; /* read_validate, upgrade */
	int listed;   /* prefetch of a list holding it, first or last */
};

static void every_page_call(ptbm_pool *pool, uint64_t pid, const struct wants *w)
{
	void *p;
	const void *cp;
	uint64_t v = ptbm_version(pid < ptbm_max_pages(pool) ? tu_word(pool, pid) : 0), got;
	char buf[64];
	BAD(pool, ptbm_fix_shared(pool, pid, &p), w->load);
	BAD(pool, ptbm_fix_exclusive(pool, pid, &p), w->load);
	BAD(pool, ptbm_read_begin(pool, pid, &cp, &got), w->load);
	BAD(pool, ptbm_read(pool, pid, 0, buf, sizeof buf), w->load);
	BAD(pool, ptbm_unfix_shared(pool, pid), w->unfix);
	BAD(pool, ptbm_unfix_exclusive(pool, pid), w->unfix);
	BAD(pool, ptbm_mark_dirty(pool, pid), w->unfix);
	BAD(pool, ptbm_read_validate(pool, pid, v), w->validate);
	BAD(pool, ptbm_upgrade(pool, pid, v), w->validate);
	uint64_t list[3] = {0, 1, pid};
	BAD(pool, ptbm_prefetch(pool, list, 3), w->listed);
	list[0] = pid, list[2] = 2;
	BAD(pool, ptbm_prefetch(pool, list, 3), w->listed);
}

static void page_calls(ptbm_pool *pool)
{
	const uint64_t max = ptbm_max_pages(pool);
	const uint64_t beyond[] = {max,	      max + 1, max * 2, UINT64_MAX / 2, UINT64_MAX - 1,
				   UINT64_MAX};
	const uint64_t unalloc[] = {N, N + 1, max - 1};
	const size_t usable = ptbm_page_usable(pool);
	void *p;
	const void *cp;
	uint64_t v, first;
	char buf[64];
	ptbm_pool *other = NULL;

	/* a NULL pool */
	BAD(pool, ptbm_fix_shared(NULL, 0, &p), -EINVAL);
	BAD(pool, ptbm_fix_exclusive(NULL, 0, &p), -EINVAL);
	BAD(pool, ptbm_unfix_shared(NULL, 0), -EINVAL);
	BAD(pool, ptbm_unfix_exclusive(NULL, 0), -EINVAL);
	BAD(pool, ptbm_mark_dirty(NULL, 0), -EINVAL);
	BAD(pool, ptbm_read_begin(NULL, 0, &cp, &v), -EINVAL);
	BAD(pool, ptbm_read_validate(NULL, 0, 0), -EINVAL);
	BAD(pool, ptbm_read(NULL, 0, 0, buf, sizeof buf), -EINVAL);
	BAD(pool, ptbm_upgrade(NULL, 0, 0), -EINVAL);
	BAD(pool, ptbm_alloc(NULL, 1, &first), -EINVAL);
	BAD(pool, ptbm_prefetch(NULL, &first, 1), -EINVAL);
	BAD(pool, ptbm_flush(NULL), -EINVAL);

	/* NULL out pointers and buffers */
	BAD(pool, ptbm_fix_shared(pool, 0, NULL), -EINVAL);
	BAD(pool, ptbm_fix_exclusive(pool, 0, NULL), -EINVAL);
	BAD(pool, ptbm_read_begin(pool, 0, NULL, &v), -EINVAL);
	BAD(pool, ptbm_read_begin(pool, 0, &cp, NULL), -EINVAL);
	BAD(pool, ptbm_read(pool, 0, 0, NULL, 8), -EINVAL);
	BAD(pool, ptbm_read(pool, 0, 0, NULL, 0), -EINVAL);
	BAD(pool, ptbm_read(pool, UINT64_MAX, 0, NULL, 8), -EINVAL); /* pointers first */
	BAD(pool, ptbm_fix_shared(pool, UINT64_MAX, NULL), -EINVAL);
	BAD(pool, ptbm_fix_shared(NULL, UINT64_MAX, NULL), -EINVAL);
	BAD(pool, ptbm_open(NULL, &other), -EINVAL);
	BAD(pool, ptbm_prefetch(pool, &first, (size_t)INT_MAX + 1), -EINVAL);
	BAD(pool, ptbm_alloc(pool, 1, NULL), -EINVAL);
	BAD(pool, ptbm_prefetch(pool, NULL, 1), -EINVAL);
	BAD(pool, ptbm_prefetch(pool, NULL, SIZE_MAX), -EINVAL);

	/* ids beyond max_pages, and ids not allocated (no load, no frame) */
	const struct wants range = {PTBM_ERANGE, PTBM_ERANGE, PTBM_ERANGE, PTBM_ERANGE};
	const struct wants unallocated = {PTBM_ERANGE, PTBM_ENOTFIXED, PTBM_ERESTART, PTBM_ERANGE};
	for (size_t i = 0; i < sizeof beyond / sizeof beyond[0]; i++)
		every_page_call(pool, beyond[i], &range);
	for (size_t i = 0; i < sizeof unalloc / sizeof unalloc[0]; i++) {
		uint64_t s = tu_word(pool, unalloc[i]);
		every_page_call(pool, unalloc[i], &unallocated);
		assert_int_equal(tu_word(pool, unalloc[i]), s);
	}

	/* unfix without fix, of a page resident and of one evicted */
	assert_rc(ptbm_fix_shared(pool, 1, &p), 0); /* page 1 resident, page 2 evicted */
	assert_rc(ptbm_unfix_shared(pool, 1), 0);
	for (uint64_t pid = 1; pid <= 2; pid++) {
		uint64_t s = tu_word(pool, pid);
		BAD(pool, ptbm_unfix_shared(pool, pid), PTBM_ENOTFIXED);
		BAD(pool, ptbm_unfix_exclusive(pool, pid), PTBM_ENOTFIXED);
		BAD(pool, ptbm_mark_dirty(pool, pid), PTBM_ENOTFIXED);
		assert_int_equal(tu_word(pool, pid), s);
	}

	/* double unfix; the wrong unfix; mark_dirty under a shared latch */
	assert_rc(ptbm_fix_shared(pool, 3, &p), 0);
	n_held = 1;
	BAD(pool, ptbm_unfix_exclusive(pool, 3), PTBM_ENOTFIXED);
	BAD(pool, ptbm_mark_dirty(pool, 3), PTBM_ENOTFIXED);
	BAD(pool, ptbm_upgrade(pool, 3, ptbm_version(tu_word(pool, 3))), PTBM_ERESTART);
	assert_rc(ptbm_unfix_shared(pool, 3), 0);
	n_held = 0;
	BAD(pool, ptbm_unfix_shared(pool, 3), PTBM_ENOTFIXED);
	assert_rc(ptbm_fix_exclusive(pool, 3, &p), 0);
	n_held = 1;
	BAD(pool, ptbm_unfix_shared(pool, 3), PTBM_ENOTFIXED);
	BAD(pool, ptbm_upgrade(pool, 3, ptbm_version(tu_word(pool, 3))), PTBM_ERESTART);
	assert_rc(ptbm_unfix_exclusive(pool, 3), 0);
	n_held = 0;
	BAD(pool, ptbm_unfix_exclusive(pool, 3), PTBM_ENOTFIXED);
	BAD(pool, ptbm_mark_dirty(pool, 3), PTBM_ENOTFIXED);

	/* offsets and lengths past the usable bytes, and ones that overflow */
	const size_t offs[] = {usable, usable + 1, usable + PTBM_PAGE_TRAILER, SIZE_MAX};
	for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++)
		BAD(pool, ptbm_read(pool, 0, offs[i], buf, 1), PTBM_ERANGE);
	const size_t lens[][2] = {{0, usable + 1},
				  {1, usable},
				  {usable - 1, 2},
				  {1, SIZE_MAX},
				  {usable, SIZE_MAX},
				  {SIZE_MAX, SIZE_MAX},
				  {SIZE_MAX / 2, SIZE_MAX / 2 + 2}};
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
		BAD(pool, ptbm_read(pool, 0, lens[i][0], buf, lens[i][1]), PTBM_ERANGE);
	assert_rc(ptbm_read(pool, 0, usable, buf, 0), 0); /* empty, at the end: fine */

	/* versions: stale, random, of an evicted page */
	assert_rc(ptbm_read_begin(pool, 4, &cp, &v), 0);
	assert_rc(tu_write(pool, 4, 7), 0);
	BAD(pool, ptbm_read_validate(pool, 4, v), PTBM_ERESTART);
	BAD(pool, ptbm_upgrade(pool, 4, v), PTBM_ERESTART);
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 64; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t cur = ptbm_version(tu_word(pool, 4));
		if (x == cur)
			continue;
		BAD(pool, ptbm_read_validate(pool, 4, x), PTBM_ERESTART);
		BAD(pool, ptbm_upgrade(pool, 4, x), PTBM_ERESTART);
	}

	/* allocations that cannot be */
	uint64_t allocated = tu_stats(pool).allocated;
	BAD(pool, ptbm_alloc(pool, 0, &first), -EINVAL);
	BAD(pool, ptbm_alloc(pool, max - allocated + 1, &first), PTBM_EFULL);
	BAD(pool, ptbm_alloc(pool, max, &first), PTBM_EFULL);
	BAD(pool, ptbm_alloc(pool, UINT64_MAX, &first), PTBM_EFULL);
	BAD(pool, ptbm_alloc(pool, UINT64_MAX - allocated + 1, &first), PTBM_EFULL);
	assert_int_equal(tu_stats(pool).allocated, allocated);

	BAD(pool, ptbm_get_stats(NULL, &(struct ptbm_stats){0}), -EINVAL);
	BAD(pool, ptbm_get_stats(pool, NULL), -EINVAL);
	assert_int_equal(tu_stats(pool).resident <= tu_stats(pool).budget_pages, 1);
}

static void test_page_calls_threads(void **state)
{
	(void)state;
	ptbm_pool *pool = open_mode(__func__, PTBM_SHARE_THREADS);
	page_calls(pool);
	tu_close(pool);
}

static void test_page_calls_processes(void **state)
{
	(void)state;
	ptbm_pool *pool = open_mode(__func__, PTBM_SHARE_PROCESSES);
	page_calls(pool);
	tu_close(pool);
}

/* ---- pool calls ---------------------------------------------------------- */

static bool shm_exists(const char *name)
{
	int fd = shm_open(name, O_RDONLY, 0);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void test_pool_calls(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	ptbm_pool *other = NULL;
	const char *name = tu_shm_name("bad");
	tu_config(&cfg, __func__);
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.name = name;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, N), 0);
	still_works(pool);

	/* ptbm_open: no out pointer; paths that are not files */
	struct ptbm_config c2;
	tu_config(&c2, "open");
	BAD(pool, ptbm_open(&c2, NULL), -EINVAL);
	BAD(pool, ptbm_open(NULL, NULL), -EINVAL);
	char *longpath = malloc(PATH_MAX + 16);
	memset(longpath, 'a', PATH_MAX + 15);
	longpath[0] = '/';
	longpath[PATH_MAX + 15] = 0;
	c2.data_path = longpath;
	BAD(pool, ptbm_open(&c2, &other), -ENAMETOOLONG);
	free(longpath);
	const char *loop = tu_path("loop");
	assert_int_equal(symlink(loop, loop), 0);
	c2.data_path = loop;
	BAD(pool, ptbm_open(&c2, &other), -ELOOP);
	c2.data_path = tu_path("no-such-dir/x");
	BAD(pool, ptbm_open(&c2, &other), -ENOENT);
	assert_null(other);

	/* ptbm_attach: names not valid, too long, not there */
	BAD(pool, ptbm_attach(NULL, &other), -EINVAL);
	BAD(pool, ptbm_attach("", &other), -EINVAL);
	BAD(pool, ptbm_attach("ptbm", &other), -EINVAL);
	BAD(pool, ptbm_attach(name, NULL), -EINVAL);
	BAD(pool, ptbm_attach("/", &other), -EINVAL);
	BAD(pool, ptbm_attach("/a/b", &other), -EINVAL);
	char longname[NAME_MAX + 8];
	memset(longname, 'n', sizeof longname - 1);
	longname[0] = '/';
	longname[sizeof longname - 1] = 0;
	BAD(pool, ptbm_attach(longname, &other), -EINVAL); /* glibc: past NAME_MAX */
	BAD(pool, ptbm_attach(tu_shm_name("absent"), &other), -ENOENT);
	assert_null(other);

	/* ptbm_unlink: the same names */
	BAD(pool, ptbm_unlink(NULL), -EINVAL);
	BAD(pool, ptbm_unlink(""), -EINVAL);
	BAD(pool, ptbm_unlink("ptbm"), -EINVAL);
	/* glibc's shm_unlink says a name no object can have is not there */
	BAD(pool, ptbm_unlink("/"), -ENOENT);
	BAD(pool, ptbm_unlink("/a/b"), -ENOENT);
	BAD(pool, ptbm_unlink(longname), -ENOENT);
	BAD(pool, ptbm_unlink(tu_shm_name("absent2")), -ENOENT);

	/* ptbm_close of NULL */
	BAD(pool, ptbm_close(NULL), -EINVAL);

	/* the accessors and ptbm_config_init of NULL */
	n_bad += 7;
	assert_int_equal(ptbm_page_usable(NULL), 0);
	assert_int_equal(ptbm_page_size(NULL), 0);
	assert_int_equal(ptbm_max_pages(NULL), 0);
	assert_rc(ptbm_engine_of(NULL), -EINVAL);
	assert_rc(ptbm_share_of(NULL), -EINVAL);
	assert_rc(ptbm_direct_io(NULL), -EINVAL);
	assert_rc(ptbm_config_init(NULL), -EINVAL);
	assert_rc(ptbm_engine_of(pool), PTBM_ENGINE_VM);
	assert_rc(ptbm_share_of(pool), PTBM_SHARE_PROCESSES);
	assert_true(ptbm_direct_io(pool) == 0 || ptbm_direct_io(pool) == 1);
	still_works(pool);

	/* the live pool's name unlinked: the pool works on, cannot be
	 * attached, and its close is clean */
	assert_true(shm_exists(name));
	BAD(pool, ptbm_unlink(name), 0);
	assert_false(shm_exists(name));
	BAD(pool, ptbm_attach(name, &other), -ENOENT);
	BAD(pool, ptbm_unlink(name), -ENOENT);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	assert_false(shm_exists(name));
}

/* ---- messages and names ------------------------------------------------------ */

static void check_message(int err)
{
	const char *m = ptbm_strerror(err);
	if (!m || !m[0])
		fail_msg("ptbm_strerror(%d) is %s", err, m ? "empty" : "NULL");
}

static void test_strerror_and_names(void **state)
{
	(void)state;
	const int codes[] = {
	    0,
	    PTBM_EINVAL_CONFIG,
	    PTBM_ERANGE,
	    PTBM_ENOTFIXED,
	    PTBM_ECHECKSUM,
	    PTBM_EBADFILE,
	    PTBM_ETRUNCATED,
	    PTBM_ELAYOUT,
	    PTBM_ERESTART,
	    PTBM_ENOSUPPORT,
	    PTBM_EBUSY,
	    PTBM_EFULL,
	    PTBM_EOWNERDEAD,
	    PTBM_EIO_SHORT,
	    PTBM_ETOOMANY,
	    PTBM_EINUSE,
	    PTBM_EFOLIO,
	};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		check_message(codes[i]);
	/* every -errno and the whole band around ptbm's own codes */
	for (int e = -6000; e <= 4200; e++)
		check_message(e);
	n_ints += 6000 + 4200 + 1;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 1000000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		check_message((int)(uint32_t)x);
	}
	n_ints += 1000000;
	const int extremes[] = {INT_MIN, INT_MIN + 1, INT_MAX, -4095, -4096, -4097};
	for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++)
		check_message(extremes[i]);
	n_ints += sizeof extremes / sizeof extremes[0];

	for (int i = -1000; i <= 1000; i++) {
		const char *e = ptbm_engine_name((enum ptbm_engine)i);
		const char *s = ptbm_share_name((enum ptbm_share)i);
		assert_true(i >= 0 && i <= 2 ? e != NULL && e[0] : e == NULL);
		assert_true(i >= 0 && i <= 1 ? s != NULL && s[0] : s == NULL);
	}
	n_ints += 2 * 2001;
}

/* ---- data files ---------------------------------------------------------------- */

static void write_file(const char *path, const void *bytes, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, n), (ssize_t)n);
	close(fd);
}

static uint64_t file_hash(const char *path)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	char *buf = malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	uint64_t h = XXH3_64bits(buf, (size_t)st.st_size) ^ (uint64_t)st.st_size;
	free(buf);
	return h;
}

/* Opening file must fail with want (with and without PTBM_CREATE) and leave
 * the file as it was. */
static void rejected(const char *file, int want)
{
	const char *path = tu_path(file);
	uint64_t before = file_hash(path);
	const uint32_t flags[] = {0, PTBM_CREATE};
	for (int i = 0; i < 2; i++) {
		struct ptbm_config cfg;
		tu_config(&cfg, file);
		cfg.flags = flags[i];
		ptbm_pool *pool = NULL;
		n_bad++;
		assert_rc(ptbm_open(&cfg, &pool), want);
		assert_null(pool);
		assert_int_equal(file_hash(path), before);
	}
}

static void random_bytes(void *buf, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		((unsigned char *)buf)[i] = (unsigned char)seed;
	}
}

static void forge(const char *file, uint32_t layout, uint32_t page_size, uint64_t n_pages,
		  size_t file_bytes)
{
	unsigned char *buf = calloc(1, file_bytes);
	struct ptbm_file_header h = {
	    .layout_version = layout, .page_size = page_size, .n_pages = n_pages};
	memcpy(h.magic, "PTBMDATA", 8);
	h.checksum = XXH3_64bits(&h, offsetof(struct ptbm_file_header, checksum));
	memcpy(buf, &h, sizeof h);
	write_file(tu_path(file), buf, file_bytes);
	free(buf);
}

static void test_data_files(void **state)
{
	(void)state;
	const char *f = "datafile";
	unsigned char *buf = malloc(4 * TU_PAGE_SIZE);

	/* the magic, then random bytes */
	random_bytes(buf, 4 * TU_PAGE_SIZE, 11);
	memcpy(buf, "PTBMDATA", 8);
	write_file(tu_path(f), buf, 4 * TU_PAGE_SIZE);
	rejected(f, PTBM_EBADFILE);
	/* random bytes: one byte, one page */
	random_bytes(buf, TU_PAGE_SIZE, 12);
	write_file(tu_path(f), buf, 1);
	rejected(f, PTBM_EBADFILE);
	write_file(tu_path(f), buf, TU_PAGE_SIZE);
	rejected(f, PTBM_EBADFILE);
	free(buf);

	/* valid checksums, impossible page sizes */
	const uint32_t sizes[] = {0, 1, 512, 1u << 31, UINT32_MAX};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		forge(f, PTBM_LAYOUT_VERSION, sizes[i], 0, 2 * TU_PAGE_SIZE);
		rejected(f, PTBM_ELAYOUT);
	}
	/* other layout versions */
	const uint32_t layouts[] = {0, PTBM_LAYOUT_VERSION + 100, UINT32_MAX};
	for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
		forge(f, layouts[i], TU_PAGE_SIZE, 1, 2 * TU_PAGE_SIZE);
		rejected(f, PTBM_ELAYOUT);
	}
	/* page counts whose size in bytes overflows: shorter than they say */
	const uint64_t counts[] = {UINT64_MAX, UINT64_MAX / TU_PAGE_SIZE,
				   (UINT64_MAX / TU_PAGE_SIZE) + 1, 1ull << 52};
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		forge(f, PTBM_LAYOUT_VERSION, TU_PAGE_SIZE, counts[i], 2 * TU_PAGE_SIZE);
		rejected(f, PTBM_ETRUNCATED);
	}
	/* the forgery is faithful */
	forge(f, PTBM_LAYOUT_VERSION, TU_PAGE_SIZE, 1, 2 * TU_PAGE_SIZE);
	struct ptbm_config cfg;
	tu_config(&cfg, f);
	cfg.flags = 0;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_stats(pool).allocated, 1);
	tu_alloc(pool, N - 1);
	still_works(pool);
	tu_close(pool);

	/* a FIFO */
	const char *fifo = tu_path("fifo");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	tu_config(&cfg, "fifo");
	cfg.flags = 0;
	pool = NULL;
	n_bad++;
	assert_rc(ptbm_open(&cfg, &pool), PTBM_EBADFILE);
	assert_null(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_page_calls_threads), cmocka_unit_test(test_page_calls_processes),
	    cmocka_unit_test(test_pool_calls),	       cmocka_unit_test(test_strerror_and_names),
	    cmocka_unit_test(test_data_files),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	printf("badinput: %lu bad inputs tried (calls and data files), %lu other ints to "
	       "ptbm_strerror and the name functions, %d test%s failed\n",
	       n_bad, n_ints, failed, failed == 1 ? "" : "s");
	return failed ? 1 : 0;
}
