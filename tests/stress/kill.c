/*
 * Description: kill -9. Rounds of: open the pool (processes mode) from its
 * data file, check every page is whole and no older than its last flushed
 * version, fork workers that write, read and flush at random, then kill one
 * of them at a chosen moment:
 *   shared     it holds a shared latch
 *   exclusive  it holds an exclusive latch and has half-rewritten the page
 *   loading    it is inside the read of a page it is loading
 *   writeback  it is inside the write-back of evicted pages
 *   random     any time
 * and every few rounds all of them at once ("all"). Survivors keep working
 * for a while: each must finish on its own (a hang fails the test, bounded
 * by a deadline), either carrying on or getting PTBM_EOWNERDEAD from a wait.
 * Then the pool is closed without a flush and the next round reopens it:
 * flushed data must have survived and no page may fail its checksum.
 *
 * usage: kill [--rounds N] [--seed S]
 */
#include "internal.h"
#include "pagefmt.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKERS	     3
#define BUDGET_PAGES 128
#define N_PAGES	     (4 * BUDGET_PAGES)

enum scenario { S_SHARED, S_EXCLUSIVE, S_LOADING, S_WRITEBACK, S_RANDOM, S_ALL, N_SCENARIOS };
static const char *const scenario_name[] = {"shared",	 "exclusive", "loading",
					    "writeback", "random",    "all"};

struct shared_state {
	_Atomic int stop;
	_Atomic int victim_ready;
	_Atomic uint64_t ops, torn, errors, owner_dead, flushes;
	_Atomic int first_err;
	_Atomic uint64_t committed[N_PAGES]; /* last version written (in memory) */
	_Atomic uint64_t durable[N_PAGES];   /* last version a flush covered */
};

static struct shared_state *st;
static ptbm_pool *pool;
static char dir[64], path[96];

static int open_pool(void)
{
	struct ptbm_config cfg;
	ptbm_config_init(&cfg);
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.data_path = path;
	cfg.max_pages = N_PAGES;
	cfg.budget_bytes = BUDGET_PAGES * (uint64_t)cfg.page_size;
	cfg.flags = PTBM_CREATE;
	return ptbm_open(&cfg, &pool);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
	return *s;
}

static void note_error(int rc)
{
	if (rc == PTBM_EOWNERDEAD) {
		atomic_fetch_add(&st->owner_dead, 1);
		return;
	}
	atomic_fetch_add(&st->errors, 1);
	int zero = 0;
	atomic_compare_exchange_strong(&st->first_err, &zero, rc);
}

/* One random operation; returns the error that stops this worker, or 0. */
static int one_op(uint64_t *seed, void *buf)
{
	uint64_t r = rnd(seed), pid = (r >> 8) % N_PAGES, v;
	size_t usable = ptbm_page_usable(pool);
	void *p;
	int rc = 0;
	switch (r % 16) {
	case 0: { /* flush: what was committed before it is durable after it */
		uint64_t snap[N_PAGES];
		for (int i = 0; i < N_PAGES; i++)
			snap[i] = atomic_load(&st->committed[i]);
		if ((rc = ptbm_flush(pool)) < 0)
			return rc;
		for (int i = 0; i < N_PAGES; i++) {
			uint64_t d = atomic_load(&st->durable[i]);
			while (snap[i] > d &&
			       !atomic_compare_exchange_weak(&st->durable[i], &d, snap[i]))
				;
		}
		atomic_fetch_add(&st->flushes, 1);
		return 0;
	}
	case 1 ... 6:
		if ((rc = ptbm_fix_exclusive(pool, pid, &p)) < 0)
			return rc;
		if (pagefmt_check(p, usable, pid, &v))
			atomic_fetch_add(&st->torn, 1);
		pagefmt_fill(p, usable, pid, v + 1);
		ptbm_mark_dirty(pool, pid);
		atomic_store(&st->committed[pid], v + 1);
		return ptbm_unfix_exclusive(pool, pid);
	case 7 ... 11:
		if ((rc = ptbm_fix_shared(pool, pid, &p)) < 0)
			return rc;
		if (pagefmt_check(p, usable, pid, &v))
			atomic_fetch_add(&st->torn, 1);
		return ptbm_unfix_shared(pool, pid);
	default:
		if ((rc = ptbm_read(pool, pid, 0, buf, usable)) < 0)
			return rc;
		if (pagefmt_check(buf, usable, pid, &v))
			atomic_fetch_add(&st->torn, 1);
		return 0;
	}
}

static void worker(int id, uint64_t seed)
{
	void *buf = malloc(ptbm_page_size(pool));
	seed = seed * 0x9e3779b97f4a7c15ull + (uint64_t)id + 1;
	while (!atomic_load(&st->stop)) {
		int rc = one_op(&seed, buf);
		atomic_fetch_add(&st->ops, 1);
		if (rc < 0) {
			note_error(rc);
			break; /* a survivor that was told stops cleanly */
		}
	}
	free(buf);
}

/* The victim gets into the chosen state, says so, and waits to be killed. */
static void victim(enum scenario sc, uint64_t seed)
{
	uint64_t pid = seed % N_PAGES;
	void *p;
	switch (sc) {
	case S_SHARED:
		if (ptbm_fix_shared(pool, pid, &p) == 0)
			break;
		return;
	case S_EXCLUSIVE:
		if (ptbm_fix_exclusive(pool, pid, &p) == 0) {
			memset(p, 0xee, ptbm_page_usable(pool) / 2); /* half rewritten */
			break;
		}
		return;
	case S_LOADING: {
		/* find an evicted page and load it with a slow read */
		for (uint64_t i = 0; i < N_PAGES; i++) {
			uint64_t q = (pid + i) % N_PAGES;
			if (ptbm_tag(atomic_load(&pool->desc[q])) == PTBM_TAG_EVICTED) {
				ptbm_fault_inject_read(PTBM_FAULT_DELAY, 0);
				atomic_store(&st->victim_ready, 1);
				ptbm_fix_shared(pool, q, &p);
				break;
			}
		}
		break;
	}
	case S_WRITEBACK:
		/* dirty every resident page, then force evictions with a slow write */
		for (uint64_t i = 0; i < N_PAGES; i++) {
			uint64_t q = (pid + i) % N_PAGES;
			if (ptbm_fix_exclusive(pool, q, &p) < 0)
				return;
			uint64_t v;
			pagefmt_check(p, ptbm_page_usable(pool), q, &v);
			pagefmt_fill(p, ptbm_page_usable(pool), q, v + 1);
			ptbm_mark_dirty(pool, q);
			atomic_store(&st->committed[q], v + 1);
			ptbm_unfix_exclusive(pool, q);
			if (i == BUDGET_PAGES / 2) {
				ptbm_fault_inject_write(PTBM_FAULT_DELAY, 0);
				atomic_store(&st->victim_ready, 1);
			}
		}
		break;
	default:
		worker(99, seed);
		return;
	}
	atomic_store(&st->victim_ready, 1);
	for (;;)
		pause();
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Reopen and check: whole pages, none older than durable. Returns problems. */
static uint64_t check_file(uint64_t *lost, uint64_t *torn)
{
	int rc = open_pool();
	if (rc < 0) {
		fprintf(stderr, "kill: reopen: %s\n", ptbm_strerror(rc));
		return 1;
	}
	struct ptbm_stats ps;
	uint64_t first;
	ptbm_get_stats(pool, &ps);
	if (ps.allocated < N_PAGES && ptbm_alloc(pool, N_PAGES - ps.allocated, &first) < 0)
		return 1;
	for (uint64_t pid = 0; pid < N_PAGES; pid++) {
		void *p;
		uint64_t v;
		rc = ptbm_fix_shared(pool, pid, &p);
		if (rc < 0 || pagefmt_check(p, ptbm_page_usable(pool), pid, &v)) {
			fprintf(stderr, "kill: page %llu: %s\n", (unsigned long long)pid,
				rc < 0 ? ptbm_strerror(rc) : "torn");
			(*torn)++;
			if (rc == 0)
				ptbm_unfix_shared(pool, pid);
			continue;
		}
		if (v < atomic_load(&st->durable[pid])) {
			fprintf(stderr, "kill: page %llu: version %llu, flushed %llu\n",
				(unsigned long long)pid, (unsigned long long)v,
				(unsigned long long)atomic_load(&st->durable[pid]));
			(*lost)++;
		}
		atomic_store(&st->committed[pid], v);
		ptbm_unfix_shared(pool, pid);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = 12;
	uint64_t seed = (uint64_t)time(NULL);
	int c;
	static const struct option lo[] = {
	    {"rounds", 1, 0, 'r'}, {"seed", 1, 0, 's'}, {0, 0, 0, 0}};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'r')
			rounds = atoi(optarg);
		else if (c == 's')
			seed = strtoull(optarg, NULL, 0);
		else
			return 2;
	}
	if (getenv("PTBM_KILL_ROUNDS"))
		rounds = atoi(getenv("PTBM_KILL_ROUNDS"));
	printf("kill: seed %llu (replay with --seed %llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	snprintf(dir, sizeof dir, "/var/tmp/ptbm-kill-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/data", dir);
	st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		return 1;

	uint64_t lost = 0, torn_disk = 0, hangs = 0, kills = 0, detected = 0, problems = 0;
	for (int round = 0; round < rounds && !problems; round++) {
		enum scenario sc = (enum scenario)(round % N_SCENARIOS);
		problems += check_file(&lost, &torn_disk);
		if (problems || lost || torn_disk)
			break;
		atomic_store(&st->stop, 0);
		atomic_store(&st->victim_ready, 0);
		uint64_t dead_before = atomic_load(&st->owner_dead);
		pid_t kids[WORKERS + 1];
		for (int i = 0; i < WORKERS; i++)
			if ((kids[i] = fork()) == 0) {
				worker(i, seed + (uint64_t)round);
				_exit(0);
			}
		usleep(50000 + (unsigned)(rnd(&seed) % 100000));
		if (sc == S_ALL) {
			/* everyone at once, mid-work: only flushed data must survive */
			for (int i = 0; i < WORKERS; i++)
				kill(kids[i], SIGKILL);
			kills += WORKERS;
		} else {
			pid_t v = fork();
			if (v == 0) {
				victim(sc, rnd(&seed));
				_exit(0);
			}
			double t0 = now();
			while (!atomic_load(&st->victim_ready) && now() - t0 < 5)
				usleep(1000);
			if (sc == S_LOADING || sc == S_WRITEBACK || sc == S_RANDOM)
				usleep(20000 + (unsigned)(rnd(&seed) % 50000));
			kill(v, SIGKILL);
			waitpid(v, NULL, 0);
			kills++;
			usleep(300000); /* survivors run into what it left */
		}
		atomic_store(&st->stop, 1);
		double deadline = now() + 20;
		for (int i = 0; i < WORKERS; i++) {
			int status;
			while (waitpid(kids[i], &status, WNOHANG) == 0) {
				if (now() > deadline) {
					fprintf(stderr, "kill: round %d (%s): worker %d hangs\n",
						round, scenario_name[sc], i);
					kill(kids[i], SIGKILL);
					waitpid(kids[i], &status, 0);
					hangs++;
					break;
				}
				usleep(1000);
			}
		}
		int health = ptbm_health(pool);
		detected += atomic_load(&st->owner_dead) > dead_before || health == PTBM_EOWNERDEAD;
		printf("kill: round %2d %-9s: ops %llu, pool %s\n", round, scenario_name[sc],
		       (unsigned long long)atomic_load(&st->ops),
		       health == PTBM_EOWNERDEAD ? "broken (dead owner): reopened" : "healthy");
		ptbm_close(pool); /* no flush: only flushed data is promised */
	}
	if (!problems)
		problems += check_file(&lost, &torn_disk);
	if (pool)
		ptbm_close(pool);
	printf("kill: %llu kills, %llu rounds with a dead owner detected, ops %llu, flushes %llu, "
	       "torn reads %llu, errors %llu, hangs %llu, lost flushed writes %llu, torn pages "
	       "on disk %llu\n",
	       (unsigned long long)kills, (unsigned long long)detected, (unsigned long long)st->ops,
	       (unsigned long long)st->flushes, (unsigned long long)st->torn,
	       (unsigned long long)st->errors, (unsigned long long)hangs, (unsigned long long)lost,
	       (unsigned long long)torn_disk);
	if (st->first_err)
		printf("kill: first error: %s\n", ptbm_strerror(st->first_err));
	unlink(path);
	rmdir(dir);
	bool ok = !problems && !hangs && !lost && !torn_disk && !st->torn && !st->errors &&
		  st->flushes > 0 && detected > 0;
	printf("%s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
