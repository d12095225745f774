/*
 * Description: dead owners. A latch taken by one thread and released by
 * another thread of the same process is no crash, in threads mode and in a
 * forked worker process, whether the thread that took it is still there or
 * has exited: ptbm_health stays 0 and the page serves again. A worker
 * process that exits holding a latch is a dead owner (vm and mmap engines):
 * ptbm_health and the waiters of the page return PTBM_EOWNERDEAD, also while it is a zombie
 * that the waiting process itself would reap (the postmaster pattern), and
 * a process with its pid but another start time is not it. A process whose
 * main thread has exited while another thread holds a latch is alive.
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
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

static void exits_holding(const char *file, enum ptbm_engine engine)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.engine = engine;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, 8), 0);
	assert_rc(tu_write(pool, 4, 1), 0);
	assert_int_equal(tu_fork_run(worker_keeps, pool), 0);
	assert_rc(ptbm_health(pool), PTBM_EOWNERDEAD);
	void *p;
	const void *cp;
	uint64_t v;
	assert_rc(ptbm_fix_shared(pool, 4, &p), PTBM_EOWNERDEAD);
	assert_rc(ptbm_read_begin(pool, 4, &cp, &v), PTBM_EOWNERDEAD);
	tu_close(pool);
}

static void test_worker_exits_holding(void **state)
{
	(void)state;
	exits_holding(__func__, PTBM_ENGINE_VM);
}

/* The mmap engine counts and waits as vm does (the hash engine does not:
 * ptbm.h, dead owners). */
static void test_worker_exits_holding_mmap(void **state)
{
	(void)state;
	exits_holding(__func__, PTBM_ENGINE_MMAP);
}

/* ---- a zombie holder ------------------------------------------------------ */

static int worker_killed_holding(void *arg)
{
	ptbm_pool *pool = arg;
	void *p;
	if (ptbm_fix_exclusive(pool, 5, &p) != 0)
		return 1;
	kill(getpid(), SIGKILL);
	return 2;
}

/* Killed holding a latch and not reaped yet: the pool's owner, its parent,
 * must see it dead, or it would wait for it forever without reaping it. */
static void test_zombie_holder(void **state)
{
	(void)state;
	ptbm_pool *pool = open_owner(__func__, PTBM_SHARE_PROCESSES);
	assert_rc(tu_write(pool, 5, 1), 0);
	fflush(NULL);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(worker_killed_holding(pool));
	siginfo_t info;
	memset(&info, 0, sizeof info);
	assert_int_equal(waitid(P_PID, (id_t)child, &info, WEXITED | WNOWAIT), 0);
	assert_int_equal(info.si_code, CLD_KILLED); /* and still a zombie: not reaped */
	assert_rc(ptbm_health(pool), PTBM_EOWNERDEAD);
	struct tu_holder h;
	tu_holder_start(&h, pool);
	tu_holder_post(&h, TU_FIX_SHARED, 5);
	bool returned = tu_holder_wait(&h, 20000);
	int status;
	waitpid(child, &status, 0);
	if (!returned)
		fail_msg("a waiter for the zombie's latch did not return");
	assert_rc(h.rc, PTBM_EOWNERDEAD);
	tu_holder_stop(&h);
	tu_close(pool);
}

/* ---- a reused pid ------------------------------------------------------------ */

/* A slot that names this process's pid with another start time, counting a
 * latch: a process that held the pid before this one died holding it. */
static void test_reused_pid(void **state)
{
	(void)state;
	ptbm_pool *pool = open_owner(__func__, PTBM_SHARE_PROCESSES);
	assert_rc(tu_write(pool, 0, 1), 0); /* this thread has slot 0 */
	assert_rc(ptbm_health(pool), 0);
	uint32_t i = atomic_fetch_add(&pool->sh->slots_hwm, 1);
	struct ptbm_stat_slot *s = &pool->slots[i];
	atomic_store(&s->owner, PTBM_OWNER_DEPARTED);
	atomic_store(&s->owner_start, ptbm_proc_self_start() + 1);
	atomic_store(&s->owner_pid, (int32_t)getpid());
	atomic_store(&s->held, 1);
	assert_rc(ptbm_health(pool), PTBM_EOWNERDEAD);
	tu_close(pool);
}

/* ---- the main thread exits first ----------------------------------------------- */

struct late_main {
	ptbm_pool *pool;
	int go[2]; /* the parent writes a byte: release and exit */
};

static void *outliving_thread(void *arg)
{
	struct late_main *m = arg;
	char c;
	if (read(m->go[0], &c, 1) != 1)
		_exit(3);
	_exit(ptbm_unfix_exclusive(m->pool, 6) == 0 ? 0 : 4);
}

static int worker_main_exits(void *arg)
{
	struct late_main *m = arg;
	void *p;
	if (ptbm_fix_exclusive(m->pool, 6, &p) != 0)
		return 1;
	pthread_t t;
	if (pthread_create(&t, NULL, outliving_thread, m) != 0)
		return 2;
	pthread_exit(NULL); /* the group leader becomes a zombie; the thread runs */
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

static void test_main_thread_exits_first(void **state)
{
	(void)state;
	static struct late_main m;
	m.pool = open_owner(__func__, PTBM_SHARE_PROCESSES);
	assert_int_equal(pipe(m.go), 0);
	fflush(NULL);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(worker_main_exits(&m));
	double until = tu_now_ms() + 10000;
	while (proc_state(child) != 'Z' && tu_now_ms() < until)
		usleep(1000);
	if (proc_state(child) != 'Z') /* e.g. /proc hidden: nothing to check */
		fprintf(stderr, "the worker's leader did not show as a zombie\n");
	int health = ptbm_health(m.pool);
	assert_int_equal(write(m.go[1], "x", 1), 1);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_rc(health, 0);
	assert_rc(ptbm_health(m.pool), 0);
	assert_rc(tu_write(m.pool, 6, 2), 0);
	close(m.go[0]);
	close(m.go[1]);
	tu_close(m.pool);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_released_by_another_thread),
	    cmocka_unit_test(test_released_by_another_thread_processes),
	    cmocka_unit_test(test_worker_exits_holding),
	    cmocka_unit_test(test_worker_exits_holding_mmap),
	    cmocka_unit_test(test_zombie_holder),
	    cmocka_unit_test(test_reused_pid),
	    cmocka_unit_test(test_main_thread_exits_first),
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
