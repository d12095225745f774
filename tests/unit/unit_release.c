/*
 * Description: the background releaser (PTBM_BACKGROUND). A pool that
 * evicts gets one releaser thread in the process (counted by its name), and
 * loses it at close;
 * pages written, evicted by the releaser (written back by it) and read again
 * are intact, in both sharing modes and with two workers; resident frames
 * and the pages really in memory never exceed the budget; between calls no
 * page is latched and the process's latch count is zero (the call that
 * handed a batch over waited for it). A forked child evicts with its own
 * releaser and exits without closing, and the pool is not broken. A
 * write-back that fails on the releaser keeps its victims in memory, dirty
 * and intact. A budget of fewer than 16 batches gets no releaser and evicts
 * only when it is full; a pool without the flag has none either, and its
 * misses evict a slice of a batch each while their reads are in flight once
 * fewer than a batch of frames is free, so that its budget is never full
 * (and its pages stay intact).
 */
#include "testutil.h"
#include "vm/vm.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH	8u
#define BUDGET	(32u * BATCH) /* pages: room for a releaser */
#define N_PAGES (4u * BUDGET)

/* Whether task tid of this process is one of io_uring's workers, which the
 * kernel starts with the name of the thread they serve (PF_IO_WORKER). */
static bool io_worker(const char *tid)
{
	char path[300], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long flags = 0;
	/* after the name: state ppid pgrp session tty_nr tpgid flags */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & 0x10;
}

/* Threads of this process named as the releaser (io_uring's workers aside). */
static long threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long n = 0;
	while (d && (e = readdir(d))) {
		char path[300], comm[64] = "";
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof comm, f) && strcmp(comm, PTBM_RELEASER_NAME "\n") == 0 &&
		    !io_worker(e->d_name))
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/*
 * The count once it reaches want, or after 5 s what it is then. A joined
 * thread can linger in /proc/self/task for a moment: the kernel wakes the
 * joiner when the thread clears its id, before it takes the task away.
 */
static long threads_settle(long want)
{
	long n = threads_now();
	for (int i = 0; i < 5000 && n != want; i++) {
		usleep(1000);
		n = threads_now();
	}
	return n;
}

static ptbm_pool *open_bg(const char *file, enum ptbm_share share, uint32_t flags, uint64_t budget,
			  uint64_t n)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = share;
	cfg.name = share == PTBM_SHARE_PROCESSES ? tu_shm_name(file) : NULL;
	cfg.budget_bytes = budget * TU_PAGE_SIZE;
	cfg.evict_batch = BATCH;
	cfg.flags |= flags;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, n), 0);
	return pool;
}

/* Between calls: nothing latched, and this process's latch count is 0. */
static void check_at_rest(ptbm_pool *pool, uint64_t n)
{
	for (uint64_t pid = 0; pid < n; pid++) {
		uint64_t t = tu_tag(pool, pid);
		if (t != PTBM_TAG_EVICTED && t != PTBM_TAG_UNLOCKED && t != PTBM_TAG_MARKED)
			fail_msg("page %llu latched between calls (tag %llu)",
				 (unsigned long long)pid, (unsigned long long)t);
	}
	int64_t held = 0;
	int32_t me = (int32_t)getpid();
	uint32_t used = ptbm_slots_used(pool);
	for (uint32_t i = 0; i < used; i++)
		if (atomic_load(&pool->slots[i].owner_pid) == me)
			held += atomic_load(&pool->slots[i].held);
	if (held != 0)
		fail_msg("the process counts %lld latches between calls", (long long)held);
}

/* Write every page, read every page back, checking as it goes. */
static void round_trip(ptbm_pool *pool, uint64_t seed)
{
	for (uint64_t pid = 0; pid < N_PAGES; pid++) {
		assert_rc(tu_write(pool, pid, seed), 0);
		if (pid % 64 == 0) {
			tu_check_within_budget(pool);
			check_at_rest(pool, N_PAGES);
		}
	}
	for (uint64_t pid = 0; pid < N_PAGES; pid++)
		assert_rc(tu_verify(pool, pid, seed), 0);
	tu_check_within_budget(pool);
	check_at_rest(pool, N_PAGES);
}

static void releaser_round_trip(const char *file, enum ptbm_share share)
{
	long before = threads_settle(0);
	ptbm_pool *pool = open_bg(file, share, PTBM_BACKGROUND, BUDGET, N_PAGES);
	assert_rc(ptbm_flush(pool), 0);		 /* the header names every page */
	assert_int_equal(threads_now(), before); /* started at the first batch */
	round_trip(pool, 5);
	assert_int_equal(threads_now(), before + 1);
	struct ptbm_stats st = tu_stats(pool);
	assert_true(st.evictions >= N_PAGES - BUDGET);
	assert_true(st.writes >= N_PAGES - BUDGET); /* dirty victims, written back */
	assert_int_equal(st.resident, tu_pages_in_core(pool, N_PAGES));
	/* the pages evicted now were written back by the releaser */
	static bool evicted[N_PAGES];
	uint64_t n_evicted = 0;
	for (uint64_t pid = 0; pid < N_PAGES; pid++)
		n_evicted += evicted[pid] = tu_tag(pool, pid) == PTBM_TAG_EVICTED;
	assert_true(n_evicted >= N_PAGES - BUDGET);
	tu_close(pool); /* no flush */
	assert_int_equal(threads_settle(before), before);

	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.flags = 0;
	cfg.share = share;
	cfg.name = share == PTBM_SHARE_PROCESSES ? tu_shm_name(file) : NULL;
	cfg.budget_bytes = (uint64_t)N_PAGES * TU_PAGE_SIZE;
	pool = tu_open(&cfg);
	assert_int_equal(tu_stats(pool).allocated, N_PAGES);
	for (uint64_t pid = 0; pid < N_PAGES; pid++)
		if (evicted[pid])
			assert_rc(tu_verify(pool, pid, 5), 0);
	tu_close(pool);
}

static void test_threads(void **state)
{
	(void)state;
	releaser_round_trip(__func__, PTBM_SHARE_THREADS);
}

static void test_processes(void **state)
{
	(void)state;
	releaser_round_trip(__func__, PTBM_SHARE_PROCESSES);
}

/* ---- two workers ------------------------------------------------------------ */

struct worker {
	ptbm_pool *pool;
	uint64_t first, n;
	int err;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int round = 0; round < 3 && !w->err; round++)
		for (uint64_t pid = w->first; pid < w->first + w->n && !w->err; pid++) {
			int rc =
			    round == 0 ? tu_write(w->pool, pid, 9) : tu_verify(w->pool, pid, 9);
			if (rc != 0)
				w->err = rc;
		}
	return NULL;
}

static void test_two_workers(void **state)
{
	(void)state;
	ptbm_pool *pool = open_bg(__func__, PTBM_SHARE_THREADS, PTBM_BACKGROUND, BUDGET, N_PAGES);
	struct worker w[2] = {{pool, 0, N_PAGES / 2, 0}, {pool, N_PAGES / 2, N_PAGES / 2, 0}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].err, 0);
	}
	tu_check_within_budget(pool);
	check_at_rest(pool, N_PAGES);
	assert_true(tu_stats(pool).evictions >= N_PAGES - BUDGET);
	tu_close(pool);
}

/* ---- a forked child ------------------------------------------------------- */

static ptbm_pool *child_pool;

static int child_evicts(void *arg)
{
	(void)arg;
	long before = threads_now();
	for (uint64_t pid = BUDGET; pid < N_PAGES; pid++) {
		int rc = tu_write(child_pool, pid, 7);
		if (rc != 0) {
			fprintf(stderr, "child: write of page %llu: %s\n", (unsigned long long)pid,
				ptbm_strerror(rc));
			return 1;
		}
	}
	if (threads_now() != before + 1)
		return 2; /* the child runs a releaser of its own */
	return 0;	  /* _exit with no ptbm_close */
}

static void test_child(void **state)
{
	(void)state;
#if defined(__SANITIZE_THREAD__)
	skip(); /* TSan does not support threads started after a fork of a
		   process with threads (the parent's releaser) */
#endif
	ptbm_pool *pool = open_bg(__func__, PTBM_SHARE_PROCESSES, PTBM_BACKGROUND, BUDGET, N_PAGES);
	for (uint64_t pid = 0; pid < BUDGET; pid++)
		assert_rc(tu_write(pool, pid, 6), 0);
	long mine = threads_now();
	child_pool = pool;
	assert_int_equal(tu_fork_run(child_evicts, NULL), 0);
	assert_int_equal(threads_settle(mine), mine);
	assert_rc(ptbm_health(pool), 0); /* the child left nothing latched */
	check_at_rest(pool, N_PAGES);
	for (uint64_t pid = 0; pid < BUDGET; pid++)
		assert_rc(tu_verify(pool, pid, 6), 0);
	for (uint64_t pid = BUDGET; pid < N_PAGES; pid++)
		assert_rc(tu_verify(pool, pid, 7), 0);
	tu_check_within_budget(pool);
	tu_close(pool);
}

/* ---- a write-back that fails on the releaser -------------------------------- */

static void test_write_fault(void **state)
{
	(void)state;
#ifndef PTBM_FAULT_INJECTION
	skip();
#endif
	ptbm_pool *pool = open_bg(__func__, PTBM_SHARE_THREADS, PTBM_BACKGROUND, BUDGET, N_PAGES);
	for (uint64_t pid = 0; pid < BUDGET; pid++)
		assert_rc(tu_write(pool, pid, 4), 0);
	/* misses now evict dirty pages on the releaser: one write-back fails */
	ptbm_fault_inject_write(PTBM_FAULT_EIO, 3);
	for (uint64_t pid = BUDGET; pid < BUDGET + 8 * BATCH; pid++)
		assert_rc(tu_verify(pool, pid, 0) < 0 ? -1 : 0, 0); /* never written: zeros */
	ptbm_fault_inject_write(PTBM_FAULT_NONE, 0);
	check_at_rest(pool, N_PAGES);
	tu_check_within_budget(pool);
	/* the failed victim stayed resident and dirty, the rest went to disk */
	for (uint64_t pid = 0; pid < BUDGET; pid++)
		assert_rc(tu_verify(pool, pid, 4), 0);
	assert_true(tu_stats(pool).writes > 0);
	for (uint64_t pid = 0; pid < N_PAGES; pid++)
		assert_rc(tu_write(pool, pid, 8), 0);
	for (uint64_t pid = 0; pid < N_PAGES; pid++)
		assert_rc(tu_verify(pool, pid, 8), 0);
	check_at_rest(pool, N_PAGES);
	tu_close(pool);
}

/* ---- no releaser ------------------------------------------------------------ */

/*
 * Without a releaser, a budget of 16 batches or more is evicted by the
 * misses themselves, a slice while each read is in flight, from when fewer
 * than a batch of frames is free: it is never full. A smaller one evicts
 * only when it is full.
 */
static void no_releaser(const char *file, uint32_t flags, uint64_t budget)
{
	long before = threads_settle(0);
	ptbm_pool *pool = open_bg(file, PTBM_SHARE_THREADS, flags, budget, 4 * budget);
	bool ahead = budget >= PTBM_VM_MIN_BATCHES * BATCH;
	uint64_t quiet = ahead ? budget - BATCH : budget;
	for (uint64_t pid = 0; pid < quiet; pid++)
		assert_rc(tu_write(pool, pid, 3), 0);
	assert_int_equal(tu_stats(pool).evictions, 0);
	assert_int_equal(tu_stats(pool).resident, quiet);
	uint64_t most = 0;
	for (uint64_t pid = quiet; pid < 4 * budget; pid++) {
		assert_rc(tu_write(pool, pid, 3), 0);
		uint64_t r = tu_stats(pool).resident;
		most = r > most ? r : most;
	}
	assert_true(tu_stats(pool).evictions >= 3 * budget);
	if (ahead)
		assert_true(most < budget);
	else
		assert_int_equal(most, budget);
	tu_check_within_budget(pool);
	for (uint64_t pid = 0; pid < 4 * budget; pid++)
		assert_rc(tu_verify(pool, pid, 3), 0);
	assert_int_equal(threads_settle(before), before);
	tu_close(pool);
}

static void test_small_budget(void **state)
{
	(void)state;
	no_releaser(__func__, PTBM_BACKGROUND, 16 * BATCH - 1);
}

static void test_without_flag(void **state)
{
	(void)state;
	no_releaser(__func__, 0, BUDGET);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threads),	 cmocka_unit_test(test_processes),
	    cmocka_unit_test(test_two_workers),	 cmocka_unit_test(test_child),
	    cmocka_unit_test(test_write_fault),	 cmocka_unit_test(test_small_budget),
	    cmocka_unit_test(test_without_flag),
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
