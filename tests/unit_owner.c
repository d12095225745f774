/*
 * Description: dead owners. A latch taken by one thread and released by
 * another thread of the same process is no crash, in threads mode and in a
 * forked worker process, whether the thread that took it is still there or
 * has exited: ptbm_health stays 0 and the page serves again. A worker
 * process that exits holding a latch is a dead owner: ptbm_health and the
 * waiters of the page return PTBM_EOWNERDEAD.
 */
#include "testutil.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static ptbm_pool *open_owner(const char *file, enum ptbm_share share)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = share;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, 8), 0);
	return pool;
}

/* ---- released by another thread -------------------------------------------- */

/* Pages 0 (shared) and 1 (exclusive) fixed by a thread that then exits;
 * the caller releases them. 0, or a step number that failed. */
static int fix_in_thread_release_here(ptbm_pool *pool)
{
	struct tu_holder h;
	tu_holder_start(&h, pool);
	int rc = tu_holder_call(&h, TU_FIX_SHARED, 0);
	int rc2 = tu_holder_call(&h, TU_FIX_EXCLUSIVE, 1);
	tu_holder_stop(&h); /* the thread exits still holding both */
	if (rc || rc2)
		return 1;
	if (ptbm_health(pool) != 0)
		return 2;
	if (ptbm_unfix_shared(pool, 0) != 0 || ptbm_unfix_exclusive(pool, 1) != 0)
		return 3;
	if (ptbm_health(pool) != 0)
		return 4;
	/* and the other way round: fixed here, released by a thread */
	void *p;
	if (ptbm_fix_exclusive(pool, 2, &p) != 0)
		return 5;
	tu_holder_start(&h, pool);
	rc = tu_holder_call(&h, TU_UNFIX_EXCLUSIVE, 2);
	tu_holder_stop(&h);
	if (rc != 0 || ptbm_health(pool) != 0)
		return 6;
	/* every page serves again */
	for (uint64_t pid = 0; pid < 3; pid++)
		if (tu_write(pool, pid, 7) != 0 || tu_verify(pool, pid, 7) != 0)
			return 7;
	return ptbm_health(pool) == 0 ? 0 : 8;
}

static void test_released_by_another_thread(void **state)
{
	(void)state;
	ptbm_pool *pool = open_owner(__func__, PTBM_SHARE_THREADS);
	assert_int_equal(fix_in_thread_release_here(pool), 0);
	tu_close(pool);
}

static int worker_releases(void *arg)
{
	int rc = fix_in_thread_release_here(arg);
	return rc ? 10 + rc : 0;
}

/* The same in a forked worker, which then exits: no dead owner either. */
static void test_released_by_another_thread_processes(void **state)
{
	(void)state;
	ptbm_pool *pool = open_owner(__func__, PTBM_SHARE_PROCESSES);
	assert_int_equal(tu_fork_run(worker_releases, pool), 0);
	assert_rc(ptbm_health(pool), 0);
	assert_rc(tu_write(pool, 0, 3), 0);
	assert_rc(tu_verify(pool, 0, 3), 0);
	assert_rc(ptbm_health(pool), 0);
	tu_close(pool);
}

/* ---- a worker that exits holding a latch ----------------------------------- */

static int worker_keeps(void *arg)
{
	ptbm_pool *pool = arg;
	void *p;
	return ptbm_fix_exclusive(pool, 4, &p) == 0 ? 0 : 1;
}

static void test_worker_exits_holding(void **state)
{
	(void)state;
	ptbm_pool *pool = open_owner(__func__, PTBM_SHARE_PROCESSES);
	assert_rc(tu_write(pool, 4, 1), 0);
	assert_int_equal(tu_fork_run(worker_keeps, pool), 0);
	assert_rc(ptbm_health(pool), PTBM_EOWNERDEAD);
	void *p;
	assert_rc(ptbm_fix_shared(pool, 4, &p), PTBM_EOWNERDEAD);
	tu_close(pool);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_released_by_another_thread),
	    cmocka_unit_test(test_released_by_another_thread_processes),
	    cmocka_unit_test(test_worker_exits_holding),
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
