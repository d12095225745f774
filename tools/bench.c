/*
 * bench.c - `ptbm bench`: how fast is a hit, an optimistic read, a miss?
 *
 * The run, on embedded defaults sized for a 2-core, 24 GiB machine:
 *   1. in memory: a pool holding all of --data (default 1 GiB) of pages.
 *      Each round runs, for every mode and worker count, the physical limit
 *      (OP_RAW: a random 8-byte read of the same pages' memory with no
 *      buffer manager), a hit (fix shared + read + unfix) and an optimistic
 *      read, interleaved so that all see the same machine; the median of
 *      the rounds is reported with the ratios to OP_RAW.
 *   2. out of memory: data = 4 x budget on disk (O_DIRECT); random fixes
 *      (mostly misses): ns per miss, evictions per second, faults per op.
 *   3. mixed: random fixes with --writes of them exclusive + dirty.
 *
 * Workers are threads or forked processes (--mode); a forked worker first
 * touches every page once (warm-up: its page table starts empty) and that
 * cost is reported. Results go to stdout as tables.
 */
#include "bench.h"
#include "units.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct bench_opts {
	unsigned max_workers;
	int modes; /* bit 0 threads, bit 1 processes */
	uint64_t data_bytes;
	uint64_t budget_bytes; /* out-of-memory phase */
	uint32_t page_size;
	double seconds; /* per timed phase */
	unsigned rounds;
	double writes;
	const char *dir;
	bool skip_oom;
	bool independent; /* --access independent */
};

/* Shared between the coordinator and its workers (MAP_SHARED). */
struct shared_run {
	_Atomic int go; /* 0 wait, 1 run, 2 stop */
	_Atomic unsigned ready;
	struct worker_out {
		uint64_t ops;
		uint64_t sum;
		long minflt, majflt;
		double warm_s;
		long warm_minflt;
		int err;
	} out[64];
};

struct worker_arg {
	ptbm_pool *pool;
	struct shared_run *run;
	enum bench_op op;
	unsigned id;
	uint64_t n_pages;
	double writes;
	char *base;	/* address of page 0 (vm engine: page p at base + p * size) */
	bool warm;	/* touch every page once before the timed phase */
	bool dependent; /* next page chosen from the value read */
};

static bool dependent_access = true;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void thread_faults(long *minflt, long *majflt, int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	*minflt = ru.ru_minflt;
	*majflt = ru.ru_majflt;
}

static int do_op(struct worker_arg *a, uint64_t *rng, uint64_t *sum)
{
	/*
	 * Dependent access (the default): the next page depends on the value
	 * just read, as in an index descent, so the CPU cannot overlap the
	 * misses of consecutive operations; every op pays its full latency.
	 */
	uint64_t r = rng_next(rng) ^ (a->dependent ? (*sum & 1) : 0);
	uint64_t pid = (uint64_t)(((unsigned __int128)r * a->n_pages) >> 64);
	size_t off = (size_t)(pid & 63) * 8;
	void *p;
	int rc;
	switch (a->op) {
	case OP_RAW:
		*sum += *(volatile uint64_t *)(a->base + pid * ptbm_page_size(a->pool) + off);
		return 0;
	case OP_HIT:
		rc = ptbm_fix_shared(a->pool, pid, &p);
		if (rc < 0)
			return rc;
		*sum += *(volatile uint64_t *)((char *)p + off);
		return ptbm_unfix_shared(a->pool, pid);
	case OP_OPTIMISTIC:
		for (;;) {
			const void *q;
			uint64_t v;
			rc = ptbm_read_begin(a->pool, pid, &q, &v);
			if (rc < 0)
				return rc;
			uint64_t x = *(volatile const uint64_t *)((const char *)q + off);
			rc = ptbm_read_validate(a->pool, pid, v);
			if (rc == 0) {
				*sum += x;
				return 0;
			}
			if (rc != PTBM_ERESTART)
				return rc;
		}
	case OP_MIXED:
		if ((double)(rng_next(rng) >> 11) * 0x1.0p-53 < a->writes) {
			rc = ptbm_fix_exclusive(a->pool, pid, &p);
			if (rc < 0)
				return rc;
			*(volatile uint64_t *)((char *)p + off) += 1;
			ptbm_mark_dirty(a->pool, pid);
			return ptbm_unfix_exclusive(a->pool, pid);
		}
		rc = ptbm_fix_shared(a->pool, pid, &p);
		if (rc < 0)
			return rc;
		*sum += *(volatile uint64_t *)((char *)p + off);
		return ptbm_unfix_shared(a->pool, pid);
	}
	return -EINVAL;
}

static void *worker(void *arg)
{
	struct worker_arg *a = arg;
	struct worker_out *o = &a->run->out[a->id];
	int who = a->id == UINT32_MAX ? RUSAGE_SELF : RUSAGE_THREAD;
	uint64_t rng = 0x9e3779b97f4a7c15ull * (a->id + 1) ^ (uint64_t)getpid();
	uint64_t sum = 0, ops = 0;
	long f0, m0, f1, m1;
	if (a->warm) {
		/* a forked worker's page table starts empty: map every page once */
		double t0 = now_s();
		thread_faults(&f0, &m0, RUSAGE_SELF);
		/*
		 * Read a word of each page, not only map it: on a paravirtualized
		 * machine a new address space also pays a hidden first-access
		 * cost per page (the hypervisor's own page-table fill), which
		 * no guest fault counter shows.
		 */
		for (uint64_t pid = 0; pid < a->n_pages; pid++) {
			void *p;
			if (ptbm_fix_shared(a->pool, pid, &p) == 0) {
				sum += *(volatile uint64_t *)p;
				ptbm_unfix_shared(a->pool, pid);
			}
		}
		thread_faults(&f1, &m1, RUSAGE_SELF);
		o->warm_s = now_s() - t0;
		o->warm_minflt = f1 - f0;
	}
	atomic_fetch_add(&a->run->ready, 1);
	while (atomic_load(&a->run->go) == 0)
		;
	thread_faults(&f0, &m0, who);
	while (atomic_load_explicit(&a->run->go, memory_order_relaxed) == 1) {
		for (int i = 0; i < 256; i++) {
			int rc = do_op(a, &rng, &sum);
			if (rc < 0) {
				o->err = rc;
				atomic_store(&a->run->go, 2);
				break;
			}
		}
		ops += 256;
	}
	thread_faults(&f1, &m1, who);
	o->ops = ops;
	o->sum = sum;
	o->minflt = f1 - f0;
	o->majflt = m1 - m0;
	return NULL;
}

static void stats_delta(const struct ptbm_stats *a, const struct ptbm_stats *b,
			struct ptbm_stats *d)
{
	d->hits = b->hits - a->hits;
	d->misses = b->misses - a->misses;
	d->optimistic = b->optimistic - a->optimistic;
	d->restarts = b->restarts - a->restarts;
	d->reads = b->reads - a->reads;
	d->writes = b->writes - a->writes;
	d->evictions = b->evictions - a->evictions;
	d->populates = b->populates - a->populates;
	d->resident = b->resident;
	d->budget_pages = b->budget_pages;
	d->allocated = b->allocated;
}

/*
 * Run op with `workers` workers as threads or processes for `seconds`.
 * Processes are forked from this one (they inherit the pool) and warm up
 * first; *warm_s / *warm_faults get the mean warm-up of one.
 */
static int run_phase(ptbm_pool *pool, enum bench_op op, enum ptbm_share share, unsigned workers,
		     uint64_t n_pages, double seconds, double writes, char *base,
		     struct bench_result *r, double *warm_s, double *warm_faults)
{
	struct shared_run *run =
	    mmap(NULL, sizeof *run, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (run == MAP_FAILED)
		return -errno;
	memset(run, 0, sizeof *run);
	struct worker_arg args[64];
	pthread_t th[64];
	pid_t kids[64];
	for (unsigned i = 0; i < workers; i++) {
		struct worker_arg a = {.pool = pool,
				       .run = run,
				       .op = op,
				       .id = i,
				       .n_pages = n_pages,
				       .writes = writes,
				       .base = base,
				       .warm = share == PTBM_SHARE_PROCESSES,
				       .dependent = dependent_access};
		args[i] = a;
	}
	for (unsigned i = 0; i < workers; i++) {
		if (share == PTBM_SHARE_THREADS) {
			pthread_create(&th[i], NULL, worker, &args[i]);
		} else {
			kids[i] = fork();
			if (kids[i] == 0) {
				args[i].id = i;
				worker(&args[i]);
				_exit(0);
			}
		}
	}
	while (atomic_load(&run->ready) < workers)
		usleep(1000);
	struct ptbm_stats s0, s1;
	ptbm_get_stats(pool, &s0);
	double t0 = now_s();
	atomic_store(&run->go, 1);
	struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
	nanosleep(&ts, NULL);
	atomic_store(&run->go, 2);
	for (unsigned i = 0; i < workers; i++) {
		if (share == PTBM_SHARE_THREADS)
			pthread_join(th[i], NULL);
		else
			waitpid(kids[i], NULL, 0);
	}
	double el = now_s() - t0;
	ptbm_get_stats(pool, &s1);

	memset(r, 0, sizeof *r);
	r->op = op;
	r->share = share;
	r->engine = ptbm_engine_of(pool);
	r->workers = workers;
	r->seconds = el;
	long minflt = 0, majflt = 0;
	double ws = 0, wf = 0;
	int err = 0;
	for (unsigned i = 0; i < workers; i++) {
		r->ops += run->out[i].ops;
		r->checksum += run->out[i].sum;
		minflt += run->out[i].minflt;
		majflt += run->out[i].majflt;
		ws += run->out[i].warm_s;
		wf += (double)run->out[i].warm_minflt;
		if (run->out[i].err)
			err = run->out[i].err;
	}
	r->ops_per_s = (double)r->ops / el;
	r->ns_per_op = r->ops ? el * 1e9 * workers / (double)r->ops : 0;
	r->minor_faults_per_op = r->ops ? (double)minflt / (double)r->ops : 0;
	r->major_faults_per_op = r->ops ? (double)majflt / (double)r->ops : 0;
	stats_delta(&s0, &s1, &r->delta);
	if (warm_s)
		*warm_s = ws / workers;
	if (warm_faults)
		*warm_faults = wf / workers;
	munmap(run, sizeof *run);
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int open_pool(const struct bench_opts *o, enum ptbm_share share, uint64_t budget,
		     const char *path, ptbm_pool **pool)
{
	struct ptbm_config cfg;
	ptbm_config_init(&cfg);
	cfg.data_path = path;
	cfg.share = share;
	cfg.page_size = o->page_size;
	cfg.budget_bytes = budget;
	cfg.max_pages = o->data_bytes / o->page_size * 2;
	cfg.flags = PTBM_CREATE | PTBM_TRUNCATE;
	int rc = ptbm_open(&cfg, pool);
	if (rc < 0)
		fprintf(stderr, "ptbm bench: cannot open a pool on %s: %s\n", path,
			ptbm_strerror(rc));
	return rc;
}

/* Allocate n pages and write each once (an id in its first bytes). */
static int fill(ptbm_pool *pool, uint64_t n, char **base)
{
	uint64_t first;
	int rc = ptbm_alloc(pool, n, &first);
	if (rc < 0)
		return rc;
	for (uint64_t pid = 0; pid < n; pid++) {
		void *p;
		rc = ptbm_fix_exclusive(pool, pid, &p);
		if (rc < 0)
			return rc;
		if (pid == 0)
			*base = p;
		for (unsigned i = 0; i < 64; i++)
			((uint64_t *)p)[i] = pid * 64 + i;
		ptbm_mark_dirty(pool, pid);
		ptbm_unfix_exclusive(pool, pid);
	}
	return ptbm_flush(pool);
}

static const char *op_name(enum bench_op op)
{
	static const char *const n[] = {"raw read", "fix+unfix", "optimistic", "mixed"};
	return n[op];
}

static void print_stats_line(const struct bench_result *r)
{
	printf("    pool: hits %llu, misses %llu, reads %llu, writes %llu, evictions %llu, "
	       "populates %llu, restarts %llu, resident %llu/%llu pages\n",
	       (unsigned long long)r->delta.hits, (unsigned long long)r->delta.misses,
	       (unsigned long long)r->delta.reads, (unsigned long long)r->delta.writes,
	       (unsigned long long)r->delta.evictions, (unsigned long long)r->delta.populates,
	       (unsigned long long)r->delta.restarts, (unsigned long long)r->delta.resident,
	       (unsigned long long)r->delta.budget_pages);
}

static int in_memory(const struct bench_opts *o, const char *path)
{
	uint64_t n_pages = o->data_bytes / o->page_size;
	char sz[32];
	printf("## In memory: %s of %u-byte pages, uniform random, %u rounds of %.1f s "
	       "(median)\n\n",
	       format_size(n_pages * o->page_size, sz, sizeof sz), o->page_size, o->rounds,
	       o->seconds);
	printf("| mode | workers | op | ns/op | Mops/s | x raw | minor faults/op |\n");
	printf("|---|---|---|---|---|---|---|\n");
	for (int m = 0; m < 2; m++) {
		if (!(o->modes & (1 << m)))
			continue;
		enum ptbm_share share = m ? PTBM_SHARE_PROCESSES : PTBM_SHARE_THREADS;
		ptbm_pool *pool;
		char *base = NULL;
		int rc = open_pool(o, share, n_pages * o->page_size + (64ull << 20), path, &pool);
		if (rc < 0)
			return rc;
		rc = fill(pool, n_pages, &base);
		if (rc < 0) {
			fprintf(stderr, "ptbm bench: fill: %s\n", ptbm_strerror(rc));
			ptbm_close(pool);
			return rc;
		}
		double warm_s = 0, warm_f = 0;
		for (unsigned w = 1; w <= o->max_workers; w++) {
			double ns[3][16], mops[3][16], flt[3][16];
			for (unsigned round = 0; round < o->rounds; round++) {
				for (int op = OP_RAW; op <= OP_OPTIMISTIC; op++) {
					struct bench_result r;
					double ws, wf;
					rc = run_phase(pool, (enum bench_op)op, share, w, n_pages,
						       o->seconds, 0, base, &r, &ws, &wf);
					if (rc < 0) {
						fprintf(stderr, "ptbm bench: %s: %s\n",
							op_name((enum bench_op)op),
							ptbm_strerror(rc));
						ptbm_close(pool);
						return rc;
					}
					if (share == PTBM_SHARE_PROCESSES && op == OP_RAW &&
					    round == 0 && w == 1) {
						warm_s = ws;
						warm_f = wf;
					}
					ns[op][round] = r.ns_per_op;
					mops[op][round] = r.ops_per_s / 1e6;
					flt[op][round] = r.minor_faults_per_op;
				}
			}
			double raw = median(ns[OP_RAW], o->rounds);
			for (int op = OP_RAW; op <= OP_OPTIMISTIC; op++) {
				double v = median(ns[op], o->rounds);
				printf("| %s | %u | %s | %.1f | %.2f | %.2f | %.5f |\n",
				       ptbm_share_name(share), w, op_name((enum bench_op)op), v,
				       median(mops[op], o->rounds), v / raw,
				       median(flt[op], o->rounds));
			}
		}
		if (share == PTBM_SHARE_PROCESSES)
			printf("| processes | | warm-up of a forked worker: %.3f s, %.0f minor "
			       "faults for %llu pages | | | | |\n",
			       warm_s, warm_f, (unsigned long long)n_pages);
		ptbm_close(pool);
	}
	printf("\n");
	return 0;
}

static int out_of_memory(const struct bench_opts *o, const char *path)
{
	uint64_t n_pages = o->data_bytes / o->page_size;
	uint64_t budget = o->budget_bytes ? o->budget_bytes : o->data_bytes / 4;
	char sz[32], bz[32];
	printf("## Out of memory: %s of data, budget %s, uniform random fixes, %s\n\n",
	       format_size(o->data_bytes, sz, sizeof sz), format_size(budget, bz, sizeof bz),
	       "data file on disk");
	printf("| mode | workers | op | ops/s | ns/miss | misses/op | evictions/s | minor "
	       "faults/op | O_DIRECT |\n");
	printf("|---|---|---|---|---|---|---|---|---|\n");
	for (int m = 0; m < 2; m++) {
		if (!(o->modes & (1 << m)))
			continue;
		enum ptbm_share share = m ? PTBM_SHARE_PROCESSES : PTBM_SHARE_THREADS;
		ptbm_pool *pool;
		char *base = NULL;
		int rc = open_pool(o, share, budget, path, &pool);
		if (rc < 0)
			return rc;
		rc = fill(pool, n_pages, &base);
		for (unsigned w = 1; rc == 0 && w <= o->max_workers; w++) {
			for (int op = OP_HIT; op <= OP_MIXED; op += OP_MIXED - OP_HIT) {
				struct bench_result r;
				rc = run_phase(pool, (enum bench_op)op, share, w, n_pages,
					       o->seconds, op == OP_MIXED ? o->writes : 0, base, &r,
					       NULL, NULL);
				if (rc < 0)
					break;
				double miss = (double)r.delta.misses;
				printf(
				    "| %s | %u | %s%s | %.0f | %.0f | %.3f | %.0f | %.3f | %s |\n",
				    ptbm_share_name(share), w, op_name((enum bench_op)op),
				    op == OP_MIXED ? " (writes)" : "", r.ops_per_s,
				    miss ? r.seconds * 1e9 * w / miss : 0,
				    r.ops ? miss / (double)r.ops : 0,
				    (double)r.delta.evictions / r.seconds, r.minor_faults_per_op,
				    ptbm_direct_io(pool) ? "yes" : "no");
				print_stats_line(&r);
			}
		}
		if (rc < 0)
			fprintf(stderr, "ptbm bench: out of memory phase: %s\n", ptbm_strerror(rc));
		ptbm_close(pool);
		if (rc < 0)
			return rc;
	}
	printf("\n");
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ptbm bench [options]\n"
		   "  --mode threads|processes|both   sharing mode (default both)\n"
		   "  --workers N       up to N workers, 1..N (default 2)\n"
		   "  --data SIZE       data set (default 1GiB)\n"
		   "  --budget SIZE     memory budget of the out-of-memory phase "
		   "(default data/4)\n"
		   "  --page-size SIZE  page size, a multiple of 4096 (default 8KiB)\n"
		   "  --seconds S       length of each timed phase (default 1)\n"
		   "  --rounds N        interleaved rounds, median reported (default 3)\n"
		   "  --writes FRACTION share of writes in the mixed workload (default 0.2)\n"
		   "  --dir DIR         where the temporary data file goes (default "
		   "$TMPDIR or /var/tmp)\n"
		   "  --access dependent|independent  whether each op's page depends on "
		   "the value\n"
		   "                    the previous op read (default dependent)\n"
		   "  --no-oom          skip the out-of-memory phase\n");
}

int bench_main(int argc, char **argv)
{
	struct bench_opts o = {
	    .max_workers = 2,
	    .modes = 3,
	    .data_bytes = 1ull << 30,
	    .page_size = 8192,
	    .seconds = 1,
	    .rounds = 3,
	    .writes = 0.2,
	    .dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp",
	};
	static const struct option longopts[] = {
	    {"mode", required_argument, 0, 'm'},
	    {"workers", required_argument, 0, 'w'},
	    {"data", required_argument, 0, 'd'},
	    {"budget", required_argument, 0, 'b'},
	    {"page-size", required_argument, 0, 'p'},
	    {"seconds", required_argument, 0, 's'},
	    {"rounds", required_argument, 0, 'r'},
	    {"writes", required_argument, 0, 'W'},
	    {"dir", required_argument, 0, 'D'},
	    {"no-oom", no_argument, 0, 'n'},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	optind = 1;
	int c, li = 0;
	while ((c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		uint64_t v;
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "threads"))
				o.modes = 1;
			else if (!strcmp(optarg, "processes"))
				o.modes = 2;
			else if (!strcmp(optarg, "both"))
				o.modes = 3;
			else
				goto bad;
			break;
		case 'w':
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 64)
				goto bad;
			o.max_workers = (unsigned)v;
			break;
		case 'd':
			if (parse_size(optarg, &o.data_bytes) < 0)
				goto bad;
			break;
		case 'b':
			if (parse_size(optarg, &o.budget_bytes) < 0)
				goto bad;
			break;
		case 'p':
			if (parse_size(optarg, &v) < 0 || v < 4096 || v % 4096 || v > (1u << 24))
				goto bad;
			o.page_size = (uint32_t)v;
			break;
		case 's':
			if (parse_seconds(optarg, &o.seconds) < 0)
				goto bad;
			break;
		case 'r':
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 16)
				goto bad;
			o.rounds = (unsigned)v;
			break;
		case 'W':
			if (parse_fraction(optarg, &o.writes) < 0)
				goto bad;
			break;
		case 'D':
			o.dir = optarg;
			break;
		case 'n':
			o.skip_oom = true;
			break;
		case 'a':
			if (!strcmp(optarg, "dependent"))
				o.independent = false;
			else if (!strcmp(optarg, "independent"))
				o.independent = true;
			else
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		continue;
	bad:
		fprintf(stderr, "ptbm bench: bad value '%s' for --%s\n", optarg, longopts[li].name);
		usage(stderr);
		return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "ptbm bench: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (o.data_bytes < 64ull * o.page_size) {
		fprintf(stderr, "ptbm bench: --data must hold at least 64 pages\n");
		return 2;
	}
	struct statvfs vfs;
	if (statvfs(o.dir, &vfs) < 0) {
		fprintf(stderr, "ptbm bench: data directory %s: %s\n", o.dir, strerror(errno));
		return 2;
	}
	if ((uint64_t)vfs.f_bavail * vfs.f_frsize < o.data_bytes + (64ull << 20)) {
		char a[32], b[32];
		fprintf(stderr, "ptbm bench: %s has %s free, the data set needs %s\n", o.dir,
			format_size((uint64_t)vfs.f_bavail * vfs.f_frsize, a, sizeof a),
			format_size(o.data_bytes, b, sizeof b));
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/ptbm-bench-%d.data", o.dir, (int)getpid());

	dependent_access = !o.independent;
	printf("# ptbm bench (ptbm %s)\n\naccess: %s\n\n", PTBM_VERSION_STRING,
	       dependent_access ? "dependent (each op's page depends on the value the last op "
				  "read)"
				: "independent (ops may overlap their misses)");
	int rc = in_memory(&o, path);
	if (rc == 0 && !o.skip_oom)
		rc = out_of_memory(&o, path);
	unlink(path);
	return rc < 0 ? 1 : 0;
}
