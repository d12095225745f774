/*
 * bench.h - `ptbm bench`: the same workloads run against PT-BM (vm), a
 * PostgreSQL-style hash-table buffer manager (hash) and the file mapped by
 * the OS (mmap), next to the physical limits (raw memory reads, the disk's
 * random-read ceiling), in the same run, interleaved over rounds.
 *
 * The pieces:
 *   bench.c        options, the plan (sections, configurations, rounds),
 *                  medians and the project's performance goals;
 *   bench_host.c   a host process per engine and sharing mode: opens the
 *                  pool, keeps a crew of worker threads or forked worker
 *                  processes, runs phases on command (shared memory and
 *                  futexes), measures faults, I/O and memory;
 *   bench_work.c   what a worker does: page choice (uniform, Zipf), the
 *                  operations, latency sampling, the disk ceiling's reads;
 *   bench_report.c the table, the ratios, the JSON, the machine;
 *   plot.c         the gnuplot charts; hist.c the latency histogram.
 */
#ifndef PTBM_TOOLS_BENCH_H
#define PTBM_TOOLS_BENCH_H

#include "hist.h"
#include "probe.h"

#include <ptbm.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define BENCH_MAX_WORKERS 64
#define BENCH_MAX_ROUNDS  16
#define BENCH_MAX_QD	  256
#define BENCH_SERIES	  600 /* fork warm-up: 5 ms intervals recorded (3 s) */
#define BENCH_SLOTS	  3   /* rows one host runs in turns: vm and raw; disk's three */

/* What a row measures: an engine, or a physical limit run beside them. */
enum bench_engine {
	BE_RAW,	 /* memory read of the vm pool's pages, no buffer manager */
	BE_VM,	 /* PT-BM */
	BE_HASH, /* PostgreSQL-style hash table + clock sweep */
	BE_MMAP, /* the data file mapped MAP_SHARED */
	BE_DISK, /* O_DIRECT reads of the data file, no buffer manager */
	BE_HUGE, /* memory read of a private copy in 2 MiB pages (MADV_HUGEPAGE), no
		    buffer manager: what the same reads cost through huge TLB entries */
	BE_N,
};

/* What one operation of a worker is. */
enum bench_work {
	W_READ,		/* fix shared, read 8 bytes, unfix (raw: the read; disk: pread) */
	W_OPTIMISTIC,	/* optimistic read of 8 bytes, validated (restarted if needed) */
	W_MIXED,	/* W_READ, or with probability `writes`: fix exclusive, add, dirty */
	W_SCAN,		/* the next page in order, one word per cache line */
	W_BATCH,	/* qd random pages: one ptbm_prefetch, then W_READ on each (disk:
			   qd reads submitted at once, all waited for) */
	W_READ_QD,	/* disk only: qd reads always in flight on an io_uring (the
			   ceiling at depth qd, as fio measures it) */
	W_BATCH_MISSES, /* disk only: W_BATCH's qd random pages through an ideal
			   cache of the budget's size (the budget's most popular
			   pages, keys.hot); the misses submitted at once, all
			   waited for: the depth the batches offer a buffer
			   manager that costs nothing */
	W_N,
};

/* The figures of one phase (and, after the rounds, their medians). */
enum bench_fig {
	F_SECONDS,
	F_OPS,
	F_OPS_PER_S,
	F_P50,
	F_P99,
	F_P999,
	F_MEAN,
	F_MINFLT,    /* minor faults per op */
	F_MAJFLT,    /* major faults per op */
	F_CPU,	     /* the workers' CPU time per op, ns */
	F_READ,	     /* bytes read from the data file */
	F_WRITTEN,   /* bytes written to it */
	F_READS_S,   /* pages read from the disk per second */
	F_EVICTIONS, /* pages released */
	F_RESTARTS,  /* optimistic reads restarted */
	F_RSS,	     /* peak resident set of a process of the engine */
	F_SHM,	     /* shared (shmem or file) pages mapped by that process */
	F_RESIDENT,  /* pages of the data set in memory (mmap: page cache) */
	F_HUGE,	     /* bytes that process maps by 2 MiB (PMD) entries */
	F_N,
};

/* A command to a host, and what its workers need to run it. */
struct bench_cmd {
	enum bench_work work;
	bool raw;	    /* vm host: read page memory without the pool */
	unsigned workers;   /* active workers: 1..crew size */
	double seconds;	    /* timed phase */
	bool more;	    /* the next slice of the phase before: add to its figures */
	unsigned slot;	    /* which of the host's rows: each adds up its own slices */
	bool last;	    /* the phase's last slice: its figures are the phase's */
	double writes;	    /* W_MIXED: share of exclusive fixes */
	unsigned qd;	    /* W_BATCH size, W_READ_QD depth, W_SCAN read-ahead */
	uint32_t time_mask; /* an op is timed when (op index & mask) == 0 */
	bool series;	    /* record throughput per interval (fork warm-up) */
	double steady;	    /* series: stop once 100 ms in a row reach 90% of this ops/s */
};

/* The page choice every worker shares (built once, read-only). */
struct bench_keys {
	uint64_t n_pages;
	const uint32_t *zipf; /* NULL: uniform; else page ids drawn from Zipf */
	uint64_t zipf_mask;   /* entries - 1 (a power of two) */
	bool dependent;	      /* the next page depends on the value just read */
	const uint8_t *hot;   /* bitmap of the out-of-memory budget's most popular
				 pages (the ideal cache of W_BATCH_MISSES), or NULL */
};

/* One worker's figures for one phase (in the host's shared block). */
struct bench_worker_out {
	uint64_t ops;
	uint64_t sum; /* values read: keeps the reads alive */
	double seconds;
	long minflt, majflt;
	double cpu_s;		      /* the worker thread's CPU time in its timed phase */
	uint64_t io_read, io_written; /* /proc/.../io of this task */
	uint64_t hwm, shm;	      /* processes mode: this worker's VmHWM, RssShmem+File */
	uint64_t huge;		      /* ... and its PMD-mapped bytes */
	double warm_s;		      /* processes mode: first pass over every page */
	long warm_minflt;	      /* ... and its minor faults */
	int err;
	struct hist hist; /* latencies, TSC cycles */
	/* series (fork warm-up): ops and minor faults at the end of interval i */
	unsigned n_series;
	uint64_t series_ops[BENCH_SERIES];
	long series_flt[BENCH_SERIES];
};

/* How a host is set up. */
struct host_spec {
	enum bench_engine engine; /* BE_VM, BE_HASH, BE_MMAP or BE_DISK */
	enum ptbm_share share;
	unsigned workers;      /* crew size */
	const char *path;      /* data file */
	bool fresh;	       /* create path and fill it in memory (in-memory pools) */
	bool warm_budget;      /* out of memory: load pages until the budget is full */
	uint64_t n_pages;      /* pages of data */
	uint64_t budget_bytes; /* pool budget */
	uint32_t page_size;
	unsigned qd; /* disk host: the deepest queue it will be asked for */
	const struct bench_keys *keys;
	double tsc_ns;	 /* ns per TSC cycle */
	bool background; /* vm: PTBM_BACKGROUND */
};

/* What a host says once it is ready. */
struct host_ready {
	int err;	    /* 0, or why the host could not start */
	char msg[200];	    /* the error, readable */
	double setup_s;	    /* opening and filling (or warming) the pool */
	double warm_s;	    /* processes mode: a worker's first pass over every page */
	double warm_minflt; /* ... its minor faults */
	bool direct;	    /* O_DIRECT data file */
	bool optimistic;    /* the engine supports optimistic reads */
};

/* The fork warm-up experiment: a new process joins a warm pool. */
struct bench_warmup {
	double steady_ops_per_s; /* reference: a warm worker of the same kind */
	double interval_s;	 /* length of one interval */
	unsigned n;		 /* intervals recorded */
	double ops_per_s[BENCH_SERIES];
	double t90_s;	    /* time until 5 intervals in a row reach 90% of steady; <0 never */
	double minflt_t90;  /* minor faults until then */
	double first_ops_s; /* throughput of the first interval */
	double seconds;	    /* how long the new process ran */
	double minflt;	    /* its minor faults in that time */
};

struct bench_host;

/* Fork a host and wait for it to be set up (NULL and r->err < 0 if it
 * failed); or fork it now (NULL if that failed) and wait later, so that
 * several hosts set up at once. */
struct bench_host *host_start(const struct host_spec *spec, struct host_ready *r);
struct bench_host *host_spawn(const struct host_spec *spec);
struct bench_host *host_wait_ready(struct bench_host *h, struct host_ready *r);
/* Run one phase; fig gets its figures. Returns 0 or the error. */
int host_run(struct bench_host *h, const struct bench_cmd *cmd, double fig[F_N]);
/* Fork a new worker into a warm processes-mode pool and record its start. */
int host_fork_warmup(struct bench_host *h, const struct bench_cmd *cmd, struct bench_warmup *w);
/* mmap: drop the data file's page cache (flushing first). */
int host_drop_cache(struct bench_host *h);
/* Tell the host to close its pool and exit; wait for it. */
void host_stop(struct bench_host *h);
/* Write the data file: n_pages checksummed pages, through a vm pool. */
int bench_make_data_file(const char *path, uint64_t n_pages, uint32_t page_size);

/* ---- bench_work.c ---------------------------------------------------- */

/* What a worker works on (its own copy). */
struct work_ctx {
	ptbm_pool *pool; /* NULL for the disk host */
	char *base;	 /* address of page 0 (vm, mmap: page p at base + p * size) */
	int fd;		 /* disk host: the data file, O_DIRECT */
	void *io;	 /* disk host: this worker's io_uring and buffers */
	uint32_t page_size;
	const struct bench_keys *keys;
	unsigned id, of; /* worker id, active workers */
	uint64_t rng;
	uint64_t zidx; /* position in the Zipf table */
	uint64_t scan; /* next page of a scan */
	uint64_t sum;
	uint64_t series_tick; /* TSC cycles per series interval */
	double tsc_ns;	      /* ns per TSC cycle */
};

/* The word an operation reads of page pid: one of the first 64, by page. */
static inline size_t word_of(uint64_t pid)
{
	return (size_t)(pid & 63) * 8;
}

void work_init(struct work_ctx *c, unsigned id);
/* Run cmd until *go leaves 1; fills out (not the /proc figures). */
void work_run(struct work_ctx *c, const struct bench_cmd *cmd, _Atomic uint32_t *go,
	      struct bench_worker_out *out);
/* A uniformly random page id (not dependent on anything read). */
uint64_t work_random_page(struct work_ctx *c);
/* Build a table of 2^bits page ids drawn from Zipf(theta) over n pages
 * (hot pages scattered); NULL if out of memory. */
uint32_t *keys_zipf(uint64_t n_pages, double theta, unsigned bits);
/* The bitmap of the n_hot most popular pages of keys (uniform: pages
 * [0, n_hot), all equally popular), or NULL. */
uint8_t *keys_hot(const struct bench_keys *keys, uint64_t n_hot);
/* Allocate n_pages and write each (in memory; dirty). */
int work_fill(ptbm_pool *pool, uint64_t n_pages);
/* Read one word of every page once (a new process's first pass). */
uint64_t work_touch_all(ptbm_pool *pool, uint64_t n_pages);
/* Batches of qd random pages (prefetched, then each fixed and read) until
 * n_pages were read or max_s passed; 0 or the first error. */
int work_warm_batches(struct work_ctx *c, unsigned qd, uint64_t n_pages, double max_s);
/* Disk host helpers: open the data file O_DIRECT; set up a worker's ring. */
int disk_open(const char *path);
int disk_worker_init(struct work_ctx *c, unsigned qd);
void disk_worker_fini(struct work_ctx *c);

/* TSC cycles now, and ns per cycle (calibrated once against the clock). */
static inline uint64_t tsc_now(void)
{
	return __builtin_ia32_rdtsc();
}
/* The same, after every earlier instruction (loads too) has completed:
 * what latency samples use, so that an op's interval does not start
 * while the previous op's miss is still in flight. */
static inline uint64_t tsc_fenced(void)
{
	__builtin_ia32_lfence();
	uint64_t t = __builtin_ia32_rdtsc();
	__builtin_ia32_lfence();
	return t;
}
double tsc_calibrate(void);
double now_s(void);

/* ---- bench_report.c -------------------------------------------------- */

/* One row of the table: an engine in one configuration, over the rounds. */
struct bench_row {
	enum bench_engine engine;
	enum ptbm_share share;
	unsigned workers;
	enum bench_work work;
	bool oom; /* the out-of-memory section */
	unsigned qd;
	unsigned rounds;		     /* rounds measured */
	unsigned slices;		     /* slices each round's phase was cut into */
	double round[BENCH_MAX_ROUNDS][F_N]; /* each round's figures */
	double med[F_N];		     /* medians */
	const char *note;		     /* why it is missing, if it is */
};

/* A performance goal: what was measured against what was wanted. */
struct bench_goal {
	const char *name;
	bool measured, met;
	char figure[1024];
};

/* Everything the report needs. */
struct bench_report {
	const struct bench_opts *opts;
	struct bench_row *rows;
	unsigned n_rows;
	struct bench_warmup warmup[BE_N]; /* processes mode, per engine */
	bool has_warmup[BE_N];
	struct host_ready ready[BE_N][2]; /* [engine][share] in memory */
	struct host_ready oom_ready[BE_N][2];
	struct bench_goal goals[8];
	unsigned n_goals;
	char notes[16][200];
	unsigned n_notes;
	double seconds;	    /* the whole run */
	double data_file_s; /* writing the data file */
	bool data_file_ready;
	int copies;    /* copies made of it (one pool per data file) */
	double copy_s; /* making them */
	double tsc_ns;
	struct probe_paging paging; /* the host's kind, measured at the start */
	int paging_rc;		    /* 0, or why it could not be measured */
	char command[1024];	    /* the command line */
	char data_path[4096];
};

/* The options, as parsed (bench.c). */
struct bench_opts {
	unsigned engines; /* 1 << BE_VM | 1 << BE_HASH | 1 << BE_MMAP */
	unsigned modes;	  /* 1 << PTBM_SHARE_THREADS | 1 << PTBM_SHARE_PROCESSES */
	unsigned max_workers;
	uint64_t data_bytes;
	uint64_t budget_bytes; /* out-of-memory budget */
	uint32_t page_size;
	double zipf_theta; /* 0: uniform */
	double writes;
	double seconds;
	double slice; /* the longest slice of a phase; 0: phases are not cut */
	unsigned rounds;
	unsigned qd;
	double fork_seconds;
	bool in_memory, out_of_memory;
	bool independent;
	bool background; /* vm pools opened with PTBM_BACKGROUND */
	bool progress;	 /* stderr is a terminal */
	const char *dir, *json_path, *plot_dir;
};

/* The in-memory pools' budget: all the data, plus a little. */
static inline uint64_t in_memory_budget(uint64_t data_bytes)
{
	uint64_t slack = data_bytes / 16 > (64ull << 20) ? data_bytes / 16 : (64ull << 20);
	return data_bytes + slack;
}

/* Judge the performance goals (bench_goals.c). */
void bench_goals(struct bench_report *rep);

const char *engine_name(enum bench_engine e);
const char *work_name(enum bench_work w);
extern const char *const fig_json_name[F_N];
void report_table(FILE *f, const struct bench_report *r);
int report_json(const char *path, const struct bench_report *r);
int report_plot(const char *dir, const struct bench_report *r);
/*
 * The limit vm's row is measured against, NULL if none ran: out of memory
 * the disk at the same depth (for batches, its continuous QD ceiling); in
 * memory, for the workloads the raw reads run (reads, scans), the fastest
 * of raw, raw-huge and mmap in the same configuration, since a raw read of
 * 4 KiB pages is not the fastest the memory can be read (docs/bench.md,
 * "What the limit is"); optimistic reads have the limit of reads.  *fig
 * gets the figure compared.
 */
const struct bench_row *report_limit(const struct bench_report *r, const struct bench_row *v,
				     enum bench_fig *fig);
/* The median of n values (sorts v; 0 if n is 0). */
double bench_median(double *v, unsigned n);
/*
 * a's figure fa over b's fb round by round (round i of every row ran in the
 * same pass over the configurations): the median of those ratios and the
 * least and greatest, so a reader sees how far one run's ratio can be
 * trusted. All NAN where no round pairs.
 */
struct bench_spread {
	double med, lo, hi;
};
struct bench_spread report_spread(const struct bench_row *a, const struct bench_row *b,
				  enum bench_fig fa, enum bench_fig fb);
/* The row of a configuration, NULL if not run. */
const struct bench_row *report_find(const struct bench_report *r, enum bench_engine e,
				    enum ptbm_share s, unsigned workers, enum bench_work w,
				    bool oom);

int bench_main(int argc, char **argv);

#endif
