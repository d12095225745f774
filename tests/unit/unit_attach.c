/*
 * Description: processes mode, named and anonymous pools. ptbm_attach of a
 * name that does not exist is -ENOENT, of a bad name -EINVAL; of
 * a shm object that is not a ptbm pool, or a pool of another layout
 * version, share mode or size, PTBM_ELAYOUT. A process that shares nothing
 * with the creator (this program run again) attaches by name, reads the
 * creator's pages, allocates and writes its own, and the creator sees them.
 * Creating a pool under a name in use is -EEXIST and leaves the other pool
 * attachable. An attacher's close keeps the name; the creator's close
 * removes it; ptbm_unlink removes the name of a creator that died. A child
 * forked from the creator (anonymous pool, no attach) shares its pages both
 * ways, and a latch held in one process blocks the other until released.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define K 16 /* pages each side writes */

static ptbm_pool *open_processes(const char *file, const char *name)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.name = name;
	return tu_open(&cfg);
}

static bool shm_exists(const char *name)
{
	int fd = shm_open(name, O_RDONLY, 0);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

/* Write seed into pages [from, from + K); 0 or an error. */
static int write_range(ptbm_pool *pool, uint64_t from, uint64_t seed)
{
	for (uint64_t pid = from; pid < from + K; pid++) {
		int rc = tu_write(pool, pid, seed);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* 0 if pages [from, from + K) hold seed; else 1 or an error. */
static int verify_range(ptbm_pool *pool, uint64_t from, uint64_t seed)
{
	for (uint64_t pid = from; pid < from + K; pid++) {
		int rc = tu_verify(pool, pid, seed);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- the process that attaches (run by tu_spawn_self) ------------------- */

static int role_attach_rw(const char *name)
{
	ptbm_pool *pool;
	int rc = ptbm_attach(name, &pool);
	if (rc < 0) {
		fprintf(stderr, "child: attach %s: %s\n", name, ptbm_strerror(rc));
		return 10;
	}
	if (ptbm_share_of(pool) != PTBM_SHARE_PROCESSES || ptbm_page_size(pool) != TU_PAGE_SIZE ||
	    ptbm_max_pages(pool) != TU_MAX_PAGES)
		return 11;
	if ((rc = verify_range(pool, 0, 1)) != 0) {
		fprintf(stderr, "child: creator's pages: %s\n", ptbm_strerror(rc));
		return 12;
	}
	uint64_t first;
	if (ptbm_alloc(pool, K, &first) < 0 || first != K)
		return 13;
	if ((rc = write_range(pool, K, 2)) != 0) {
		fprintf(stderr, "child: writing: %s\n", ptbm_strerror(rc));
		return 14;
	}
	return ptbm_close(pool) == 0 ? 0 : 15;
}

static const struct tu_role roles[] = {
    {"attach-rw", role_attach_rw},
    {NULL, NULL},
};

/* ---- tests ---------------------------------------------------------------- */

static void test_attach_missing(void **state)
{
	(void)state;
	ptbm_pool *pool = NULL;
	assert_rc(ptbm_attach(tu_shm_name("missing"), &pool), -ENOENT);
	assert_null(pool);
	assert_rc(ptbm_attach(NULL, &pool), -EINVAL);
	assert_rc(ptbm_attach("", &pool), -EINVAL);
	assert_rc(ptbm_attach("no-slash", &pool), -EINVAL);
	assert_rc(ptbm_attach("/x", NULL), -EINVAL);
}

static void test_attach_unrelated_process(void **state)
{
	(void)state;
	const char *name = tu_shm_name("rw");
	ptbm_pool *pool = open_processes(__func__, name);
	assert_int_equal(tu_alloc(pool, K), 0);
	assert_rc(write_range(pool, 0, 1), 0);

	assert_int_equal(tu_spawn_self("attach-rw", name), 0);
	struct ptbm_stats st = tu_stats(pool);
	assert_int_equal(st.allocated, 2 * K);
	assert_rc(verify_range(pool, K, 2), 0);
	assert_rc(verify_range(pool, 0, 1), 0);
	/* each side mapped the other's K pages itself, once */
	assert_int_equal(tu_stats(pool).populates, 2 * K);
	assert_int_equal(st.misses, 2 * K);

	/* the attacher's close kept the name; the creator's removes it */
	assert_true(shm_exists(name));
	assert_int_equal(tu_spawn_self("attach-rw", name), 13); /* attaches; K is taken */
	tu_close(pool);
	assert_false(shm_exists(name));
	ptbm_pool *again = NULL;
	assert_rc(ptbm_attach(name, &again), -ENOENT);
}

/* Write bytes as a shm object called name. */
static void make_shm(const char *name, const void *bytes, size_t n, size_t size)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (n)
		assert_int_equal(pwrite(fd, bytes, n, 0), (ssize_t)n);
	close(fd);
}

static void test_attach_not_a_pool(void **state)
{
	(void)state;
	const char *name = tu_shm_name("garbage");
	ptbm_pool *pool = NULL;
	size_t size = 64 * 1024;
	unsigned char *junk = malloc(size);
	for (size_t i = 0; i < size; i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	make_shm(name, junk, size, size);
	assert_rc(ptbm_attach(name, &pool), PTBM_ELAYOUT);
	make_shm(name, junk, 10, 10);
	assert_rc(ptbm_attach(name, &pool), PTBM_ELAYOUT);
	make_shm(name, NULL, 0, 0);
	assert_rc(ptbm_attach(name, &pool), PTBM_ELAYOUT);

	/* a control block that is right but for one field at a time */
	struct ptbm_shared good = {
	    .magic = PTBM_SHARED_MAGIC,
	    .layout_version = PTBM_LAYOUT_VERSION,
	    .share = PTBM_SHARE_PROCESSES,
	    .page_size = TU_PAGE_SIZE,
	    .region_bytes = size,
	};
	struct ptbm_shared h = good;
	h.layout_version = PTBM_LAYOUT_VERSION + 1;
	make_shm(name, &h, sizeof h, size);
	assert_rc(ptbm_attach(name, &pool), PTBM_ELAYOUT);
	h = good;
	h.magic = 0; /* a creator that did not finish */
	make_shm(name, &h, sizeof h, size);
	assert_rc(ptbm_attach(name, &pool), PTBM_ELAYOUT);
	h = good;
	h.share = PTBM_SHARE_THREADS;
	make_shm(name, &h, sizeof h, size);
	assert_rc(ptbm_attach(name, &pool), PTBM_ELAYOUT);
	h = good;
	h.region_bytes = 2 * size;
	make_shm(name, &h, sizeof h, size);
	assert_rc(ptbm_attach(name, &pool), PTBM_ELAYOUT);
	assert_null(pool);
	shm_unlink(name);
	free(junk);
}

/* A real pool whose control block says another layout version. */
static void test_attach_other_version(void **state)
{
	(void)state;
	const char *name = tu_shm_name("version");
	ptbm_pool *pool = open_processes(__func__, name), *other = NULL;
	pool->sh->layout_version = PTBM_LAYOUT_VERSION + 1;
	assert_rc(ptbm_attach(name, &other), PTBM_ELAYOUT);
	pool->sh->layout_version = PTBM_LAYOUT_VERSION - 1;
	assert_rc(ptbm_attach(name, &other), PTBM_ELAYOUT);
	assert_null(other);
	pool->sh->layout_version = PTBM_LAYOUT_VERSION;
	assert_rc(ptbm_attach(name, &other), 0);
	tu_close(other);
	tu_close(pool);
}

static void test_name_in_use(void **state)
{
	(void)state;
	const char *name = tu_shm_name("busy");
	ptbm_pool *pool = open_processes(__func__, name), *second = NULL;
	struct ptbm_config cfg;
	tu_config(&cfg, "test_name_in_use.2");
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.name = name;
	assert_rc(ptbm_open(&cfg, &second), -EEXIST);
	assert_null(second);
	/* the failed open left the first pool's name alone */
	assert_rc(ptbm_attach(name, &second), 0);
	assert_int_equal(tu_alloc(second, 1), 0);
	assert_int_equal(tu_stats(pool).allocated, 1);
	tu_close(second);
	tu_close(pool);

	/* a name taken by something that is not a pool */
	make_shm(name, "x", 1, 1);
	assert_rc(ptbm_open(&cfg, &second), -EEXIST);
	assert_true(shm_exists(name));
	shm_unlink(name);
}

static int create_and_die(void *arg)
{
	struct ptbm_config cfg;
	tu_config(&cfg, "test_unlink");
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.name = arg;
	ptbm_pool *pool;
	if (ptbm_open(&cfg, &pool) < 0)
		return 1;
	uint64_t first;
	if (ptbm_alloc(pool, 1, &first) < 0 || tu_write(pool, first, 4) < 0)
		return 2;
	_exit(0); /* no close: the name stays behind */
}

/* A creator that died leaves its name; ptbm_unlink removes it. */
static void test_unlink(void **state)
{
	(void)state;
	const char *name = tu_shm_name("dead");
	tu_dir(); /* made here, so that the child does not make its own */
	assert_int_equal(tu_fork_run(create_and_die, (void *)name), 0);
	assert_true(shm_exists(name));
	ptbm_pool *pool = NULL;
	assert_rc(ptbm_attach(name, &pool), 0); /* what it left is still a pool */
	assert_rc(tu_verify(pool, 0, 4), 0);
	tu_close(pool);
	assert_true(shm_exists(name));
	assert_rc(ptbm_unlink(name), 0);
	assert_false(shm_exists(name));
	assert_rc(ptbm_unlink(name), -ENOENT);
	assert_rc(ptbm_unlink("no-slash"), -EINVAL);
	assert_rc(ptbm_unlink(NULL), -EINVAL);
}

static ptbm_pool *child_pool;

static int child_shares(void *arg)
{
	(void)arg;
	if (verify_range(child_pool, 0, 1) != 0)
		return 1;
	uint64_t first;
	if (ptbm_alloc(child_pool, K, &first) < 0 || first != K)
		return 2;
	if (write_range(child_pool, K, 2) != 0 || tu_write(child_pool, 0, 3) != 0)
		return 3;
	return ptbm_close(child_pool) == 0 ? 0 : 4;
}

/* fork() without attach: the child uses the pool it inherited. */
static void fork_shares(const char *file, const char *name)
{
	ptbm_pool *pool = open_processes(file, name);
	assert_int_equal(tu_alloc(pool, K), 0);
	assert_rc(write_range(pool, 0, 1), 0);
	child_pool = pool;
	assert_int_equal(tu_fork_run(child_shares, NULL), 0);
	/* the child's close released nothing */
	assert_int_equal(tu_stats(pool).allocated, 2 * K);
	assert_rc(tu_verify(pool, 0, 3), 0);
	for (uint64_t pid = 1; pid < K; pid++)
		assert_rc(tu_verify(pool, pid, 1), 0);
	assert_rc(verify_range(pool, K, 2), 0);
	if (name)
		assert_true(shm_exists(name));
	tu_close(pool);
}

static void test_fork_anonymous(void **state)
{
	(void)state;
	fork_shares(__func__, NULL);
}

static void test_fork_named(void **state)
{
	(void)state;
	fork_shares(__func__, tu_shm_name("fork"));
}

static int child_reads_page0(void *arg)
{
	(void)arg;
	void *p;
	if (ptbm_fix_shared(child_pool, 0, &p) < 0)
		return 2;
	uint64_t v;
	memcpy(&v, p, sizeof v);
	ptbm_unfix_shared(child_pool, 0);
	return v == 2 ? 0 : 1;
}

/* A latch held in the parent blocks the child until the parent unfixes. */
static void test_latch_across_processes(void **state)
{
	(void)state;
	ptbm_pool *pool = open_processes(__func__, NULL);
	tu_alloc(pool, 1);
	void *p;
	uint64_t v = 1;
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	memcpy(p, &v, sizeof v);
	child_pool = pool;
	fflush(NULL);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(child_reads_page0(NULL));
	usleep(100 * 1000);
	int status;
	pid_t r = waitpid(child, &status, WNOHANG);
	if (r != 0)
		kill(child, SIGKILL);
	assert_int_equal(r, 0); /* still waiting for the latch */
	v = 2;
	memcpy(p, &v, sizeof v);
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	tu_close(pool);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_attach_missing),
	    cmocka_unit_test(test_attach_unrelated_process),
	    cmocka_unit_test(test_attach_not_a_pool),
	    cmocka_unit_test(test_attach_other_version),
	    cmocka_unit_test(test_name_in_use),
	    cmocka_unit_test(test_unlink),
	    cmocka_unit_test(test_fork_anonymous),
	    cmocka_unit_test(test_fork_named),
	    cmocka_unit_test(test_latch_across_processes),
	};
	return TU_MAIN(argc, argv, roles, tests);
}
