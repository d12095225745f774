/*
 * Description: stress. Several workers (threads or forked processes) do
 * random shared fixes, exclusive writes and optimistic reads over 4x more
 * pages than the budget holds, for a bounded time. Every page carries its
 * id, a version and a checksum of its bytes; every write bumps the version
 * and records it as committed (under the exclusive latch); every read
 * checks the page is whole (checksum) and is the latest committed version
 * (latched reads) or lies between the committed versions seen before and
 * after it (optimistic reads). At the end every page must hold its last
 * committed version, in memory and again after flush, close and reopen in
 * a fresh process. In processes mode the pool is named, and a monitor
 * samples the allocated size of its shm object: page memory must stay
 * within the budget plus one frame per worker, and at the end the pages
 * allocated must equal the pool's resident count (no leaked frames).
 *
 * usage: stress [--engine vm|hash|mmap] [--mode threads|processes]
 *               [--seconds S] [--workers N] [--budget-pages N] [--background]
 */
#include "internal.h"
#include "pagefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 16

struct shared_state {
	_Atomic int stop;
	_Atomic uint64_t ops, writes, reads, optimistic, torn, stale, errors;
	_Atomic uint64_t max_data_bytes; /* monitor: peak page memory in the shm object */
	_Atomic int err_code;
	_Atomic uint64_t committed[]; /* per page: last committed version */
};

static struct {
	enum ptbm_engine engine;
	enum ptbm_share share;
	double seconds;
	unsigned workers;
	uint64_t budget_pages;
	uint64_t n_pages;
	uint32_t page_size;
	bool background; /* vm: PTBM_BACKGROUND, batches of budget / 16 */
	char dir[256], path[300], name[64];
} opt = {PTBM_ENGINE_VM, PTBM_SHARE_THREADS, 3.0, 3, 256, 0, 8192, false, "", "", ""};

static ptbm_pool *pool;
static struct shared_state *st;

static void fill_page(void *p, uint64_t pid, uint64_t version)
{
	pagefmt_fill(p, ptbm_page_usable(pool), pid, version);
}

/* 0 whole, 1 torn. */
static int check_page(const void *p, uint64_t pid, uint64_t *version)
{
	return pagefmt_check(p, ptbm_page_usable(pool), pid, version);
}

static void fail_op(int rc)
{
	atomic_fetch_add(&st->errors, 1);
	int zero = 0;
	atomic_compare_exchange_strong(&st->err_code, &zero, rc);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
	return *s;
}

static void do_write(uint64_t pid)
{
	void *p;
	int rc = ptbm_fix_exclusive(pool, pid, &p);
	if (rc < 0)
		return fail_op(rc);
	uint64_t v;
	if (check_page(p, pid, &v))
		atomic_fetch_add(&st->torn, 1);
	else if (v != atomic_load(&st->committed[pid]))
		atomic_fetch_add(&st->stale, 1);
	fill_page(p, pid, v + 1);
	ptbm_mark_dirty(pool, pid);
	atomic_store(&st->committed[pid], v + 1);
	rc = ptbm_unfix_exclusive(pool, pid);
	if (rc < 0)
		fail_op(rc);
	atomic_fetch_add(&st->writes, 1);
}

static void do_read(uint64_t pid)
{
	void *p;
	int rc = ptbm_fix_shared(pool, pid, &p);
	if (rc < 0)
		return fail_op(rc);
	uint64_t v;
	if (check_page(p, pid, &v))
		atomic_fetch_add(&st->torn, 1);
	else if (v != atomic_load(&st->committed[pid]))
		atomic_fetch_add(&st->stale, 1);
	rc = ptbm_unfix_shared(pool, pid);
	if (rc < 0)
		fail_op(rc);
	atomic_fetch_add(&st->reads, 1);
}

static void do_optimistic(uint64_t pid, void *buf)
{
	uint64_t before = atomic_load(&st->committed[pid]);
	int rc = ptbm_read(pool, pid, 0, buf, ptbm_page_usable(pool));
	if (rc == PTBM_ENOSUPPORT)
		return do_read(pid);
	if (rc < 0)
		return fail_op(rc);
	uint64_t after = atomic_load(&st->committed[pid]);
	uint64_t v;
	if (check_page(buf, pid, &v))
		atomic_fetch_add(&st->torn, 1);
	else if (v < before || v > after)
		atomic_fetch_add(&st->stale, 1);
	atomic_fetch_add(&st->optimistic, 1);
}

static void *worker(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg * 0x2545f4914f6cdd1dull + (uint64_t)getpid();
	void *buf = malloc(ptbm_page_size(pool));
	while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
		uint64_t r = rnd(&seed);
		uint64_t pid = (r >> 8) % opt.n_pages;
		switch (r % 10) {
		case 0:
		case 1:
		case 2:
			do_write(pid);
			break;
		case 3:
		case 4:
		case 5:
			do_read(pid);
			break;
		default:
			do_optimistic(pid, buf);
		}
		atomic_fetch_add_explicit(&st->ops, 1, memory_order_relaxed);
	}
	free(buf);
	return NULL;
}

/* Bytes of page memory allocated in the named shm object (beyond off_data). */
static uint64_t shm_data_bytes(void)
{
	int fd = shm_open(opt.name, O_RDONLY, 0);
	if (fd < 0)
		return 0;
	off_t end = (off_t)pool->sh->region_bytes, at = (off_t)pool->sh->off_data, total = 0;
	while (at < end) {
		off_t d = lseek(fd, at, SEEK_DATA);
		if (d < 0)
			break;
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			h = end;
		total += h - d;
		at = h;
	}
	close(fd);
	return (uint64_t)total;
}

static void *monitor(void *arg)
{
	(void)arg;
	while (!atomic_load(&st->stop)) {
		/*
		 * The scan is not atomic: a page evicted behind it and another
		 * loaded ahead of it are both counted. Each such double count
		 * needs a load during the scan, so what was surely allocated
		 * at one instant is the scan less the loads it overlapped.
		 */
		struct ptbm_stats s0, s1;
		ptbm_get_stats(pool, &s0);
		uint64_t b = shm_data_bytes();
		ptbm_get_stats(pool, &s1);
		uint64_t skew = (s1.reads - s0.reads) * opt.page_size;
		b = b > skew ? b - skew : 0;
		uint64_t m = atomic_load(&st->max_data_bytes);
		while (b > m && !atomic_compare_exchange_weak(&st->max_data_bytes, &m, b))
			;
		usleep(2000);
	}
	return NULL;
}

static int open_pool(uint32_t flags)
{
	struct ptbm_config cfg;
	ptbm_config_init(&cfg);
	cfg.engine = opt.engine;
	cfg.share = opt.share;
	cfg.data_path = opt.path;
	cfg.page_size = opt.page_size;
	cfg.max_pages = opt.n_pages * 2;
	cfg.budget_bytes = opt.budget_pages * opt.page_size;
	cfg.flags = flags;
	if (opt.background) {
		cfg.flags |= PTBM_BACKGROUND;
		cfg.evict_batch = (uint32_t)(opt.budget_pages / 16);
	}
	if (opt.share == PTBM_SHARE_PROCESSES && opt.engine == PTBM_ENGINE_VM)
		cfg.name = opt.name;
	int rc = ptbm_open(&cfg, &pool);
	if (rc < 0)
		fprintf(stderr, "stress: open %s: %s\n", opt.path, ptbm_strerror(rc));
	return rc;
}

/* Every page must hold exactly its committed version. Returns mismatches. */
static uint64_t verify_all(const char *when)
{
	uint64_t bad = 0;
	for (uint64_t pid = 0; pid < opt.n_pages; pid++) {
		void *p;
		int rc = ptbm_fix_shared(pool, pid, &p);
		if (rc < 0) {
			fprintf(stderr, "stress: %s: page %llu: %s\n", when,
				(unsigned long long)pid, ptbm_strerror(rc));
			bad++;
			continue;
		}
		uint64_t v;
		if (check_page(p, pid, &v) || v != atomic_load(&st->committed[pid])) {
			if (bad < 5)
				fprintf(stderr,
					"stress: %s: page %llu has version %llu, committed %llu\n",
					when, (unsigned long long)pid, (unsigned long long)v,
					(unsigned long long)atomic_load(&st->committed[pid]));
			bad++;
		}
		ptbm_unfix_shared(pool, pid);
	}
	return bad;
}

static void cleanup(void)
{
	if (opt.path[0])
		unlink(opt.path);
	if (opt.dir[0])
		rmdir(opt.dir);
}

static int parse(int argc, char **argv)
{
	static const struct option lo[] = {{"engine", 1, 0, 'e'},
					   {"mode", 1, 0, 'm'},
					   {"seconds", 1, 0, 's'},
					   {"workers", 1, 0, 'w'},
					   {"budget-pages", 1, 0, 'b'},
					   {"background", 0, 0, 'g'},
					   {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (!strcmp(optarg, "vm"))
				opt.engine = PTBM_ENGINE_VM;
			else if (!strcmp(optarg, "hash"))
				opt.engine = PTBM_ENGINE_HASH;
			else if (!strcmp(optarg, "mmap"))
				opt.engine = PTBM_ENGINE_MMAP;
			else
				return -1;
			break;
		case 'm':
			if (!strcmp(optarg, "threads"))
				opt.share = PTBM_SHARE_THREADS;
			else if (!strcmp(optarg, "processes"))
				opt.share = PTBM_SHARE_PROCESSES;
			else
				return -1;
			break;
		case 's':
			opt.seconds = atof(optarg);
			break;
		case 'w':
			opt.workers = (unsigned)atoi(optarg);
			break;
		case 'b':
			opt.budget_pages = (uint64_t)atoll(optarg);
			break;
		case 'g':
			opt.background = true;
			break;
		default:
			return -1;
		}
	}
	if (opt.workers < 1 || opt.workers > MAX_WORKERS || opt.seconds <= 0 ||
	    opt.budget_pages < 64)
		return -1;
	if (getenv("PTBM_STRESS_SECONDS"))
		opt.seconds = atof(getenv("PTBM_STRESS_SECONDS"));
	opt.n_pages = opt.budget_pages * 4;
	return 0;
}

int main(int argc, char **argv)
{
	if (parse(argc, argv) < 0) {
		fprintf(stderr, "usage: stress [--engine vm|hash|mmap] [--mode threads|processes] "
				"[--seconds S] [--workers N] [--budget-pages N>=64] "
				"[--background]\n");
		return 2;
	}
	snprintf(opt.dir, sizeof opt.dir, "/var/tmp/ptbm-stress-XXXXXX");
	if (!mkdtemp(opt.dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(opt.path, sizeof opt.path, "%s/data", opt.dir);
	snprintf(opt.name, sizeof opt.name, "/ptbm-stress-%d", (int)getpid());
	atexit(cleanup);

	size_t st_bytes = sizeof *st + opt.n_pages * sizeof(uint64_t);
	st = mmap(NULL, st_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		return 1;
	int rc = open_pool(PTBM_CREATE | PTBM_TRUNCATE);
	if (rc == PTBM_ENOSUPPORT) {
		printf("stress: engine not built here: skip\n");
		return 77;
	}
	if (rc < 0)
		return 1;
	uint64_t first;
	rc = ptbm_alloc(pool, opt.n_pages, &first);
	if (rc < 0 || first != 0) {
		fprintf(stderr, "stress: alloc: %s\n", ptbm_strerror(rc));
		return 1;
	}
	for (uint64_t pid = 0; pid < opt.n_pages; pid++) {
		void *p;
		if ((rc = ptbm_fix_exclusive(pool, pid, &p)) < 0) {
			fprintf(stderr, "stress: setup fix %llu: %s\n", (unsigned long long)pid,
				ptbm_strerror(rc));
			return 1;
		}
		fill_page(p, pid, 1);
		ptbm_mark_dirty(pool, pid);
		atomic_store(&st->committed[pid], 1);
		ptbm_unfix_exclusive(pool, pid);
	}

	bool named = opt.share == PTBM_SHARE_PROCESSES && opt.engine == PTBM_ENGINE_VM;
	pthread_t mon, th[MAX_WORKERS];
	pid_t kids[MAX_WORKERS];
	for (unsigned i = 0; i < opt.workers; i++) {
		if (opt.share == PTBM_SHARE_THREADS) {
			pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
		} else if ((kids[i] = fork()) == 0) {
			worker((void *)(uintptr_t)(i + 1));
			_exit(0);
		}
	}
	/* after the forks: a thread starting while the process forks may hold
	 * an allocator lock (ASan's) that a child's own threads then wait for */
	if (named)
		pthread_create(&mon, NULL, monitor, NULL);
	struct timespec ts = {(time_t)opt.seconds,
			      (long)((opt.seconds - (double)(time_t)opt.seconds) * 1e9)};
	nanosleep(&ts, NULL);
	atomic_store(&st->stop, 1);
	int child_failed = 0;
	for (unsigned i = 0; i < opt.workers; i++) {
		if (opt.share == PTBM_SHARE_THREADS) {
			pthread_join(th[i], NULL);
		} else {
			int status;
			waitpid(kids[i], &status, 0);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				child_failed++;
		}
	}
	if (named)
		pthread_join(mon, NULL);

	struct ptbm_stats s;
	ptbm_get_stats(pool, &s);
	uint64_t lost = verify_all("in memory");
	uint64_t leaked = 0, peak = 0, bound = 0, data_now = 0;
	if (named) {
		data_now = shm_data_bytes();
		ptbm_get_stats(pool, &s);
		peak = atomic_load(&st->max_data_bytes);
		bound = (s.budget_pages + opt.workers) * opt.page_size;
		leaked = data_now / opt.page_size > s.resident
			     ? data_now / opt.page_size - s.resident
			     : 0;
	}
	rc = ptbm_flush(pool);
	if (rc < 0)
		fprintf(stderr, "stress: flush: %s\n", ptbm_strerror(rc));
	ptbm_close(pool);

	/* reopen in a fresh process and check every page again */
	uint64_t lost_reopen = 0;
	pid_t k = fork();
	if (k == 0) {
		if (open_pool(0) < 0)
			_exit(3);
		uint64_t bad = verify_all("after reopen");
		ptbm_close(pool);
		_exit(bad ? 4 : 0);
	}
	int status;
	waitpid(k, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		lost_reopen = 1;

	printf("stress %s/%s: %u workers, %.1f s, %llu pages, budget %llu pages\n",
	       ptbm_engine_name(opt.engine), ptbm_share_name(opt.share), opt.workers, opt.seconds,
	       (unsigned long long)opt.n_pages, (unsigned long long)opt.budget_pages);
	printf("  ops %llu: writes %llu, latched reads %llu, optimistic reads %llu\n",
	       (unsigned long long)st->ops, (unsigned long long)st->writes,
	       (unsigned long long)st->reads, (unsigned long long)st->optimistic);
	printf("  pool: hits %llu, misses %llu, evictions %llu, writes %llu, restarts %llu\n",
	       (unsigned long long)s.hits, (unsigned long long)s.misses,
	       (unsigned long long)s.evictions, (unsigned long long)s.writes,
	       (unsigned long long)s.restarts);
	printf("  torn reads %llu, stale reads %llu, errors %llu, lost writes %llu, lost after "
	       "reopen %s, failed workers %d\n",
	       (unsigned long long)st->torn, (unsigned long long)st->stale,
	       (unsigned long long)st->errors, (unsigned long long)lost,
	       lost_reopen ? "yes" : "none", child_failed);
	if (named)
		printf(
		    "  shm page memory: peak %llu KiB (bound %llu KiB), at end %llu KiB for %llu "
		    "resident pages, leaked frames %llu\n",
		    (unsigned long long)peak / 1024, (unsigned long long)bound / 1024,
		    (unsigned long long)data_now / 1024, (unsigned long long)s.resident,
		    (unsigned long long)leaked);
	bool ok = st->torn == 0 && st->stale == 0 && st->errors == 0 && lost == 0 && !lost_reopen &&
		  !child_failed && leaked == 0 && peak <= bound && st->writes > 0 &&
		  (st->reads + st->optimistic) > 0 &&
		  (opt.engine == PTBM_ENGINE_MMAP || s.evictions > 0);
	if (st->err_code)
		printf("  first error: %s\n", ptbm_strerror(st->err_code));
	printf("%s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
