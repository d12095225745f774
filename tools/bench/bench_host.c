/*
 * bench_host.c - one process per engine and sharing mode, running phases on
 * command.
 *
 * Why a process per engine: every engine keeps its pool open for the whole
 * section so that engines can be interleaved round after round (A B A B)
 * without reloading a gigabyte each time, and a process of its own gives
 * each engine clean figures: its peak RSS, its faults, its I/O counters are
 * its own and not the sum of every pool open at once.
 *
 *   coordinator (bench.c)            host (one per engine x mode)
 *   ---------------------            ----------------------------
 *   host_start: fork ------------->  open the pool, fill or warm it,
 *                                    start the crew: N threads, or N
 *                                    processes forked from the host
 *                                    (each reads every page once first)
 *              <----- done_seq ----  ready (struct host_ready)
 *   host_run:  cmd_seq ----------->  stats, clear peak RSS; crew_seq
 *                                    wakes the crew; all ready: go = 1;
 *                                    sleep the phase; go = 2; wait for
 *                                    the crew; stats again, /proc figures
 *              <----- done_seq ----  the phase's figures (enum bench_fig)
 *
 * The control block is one MAP_SHARED page range made by the coordinator
 * before the fork; the sequence words are futexes (not process-private),
 * so idle hosts and crews sleep in the kernel and cost nothing while other
 * engines are measured.
 *
 * host_fork_warmup forks a new process into a warm processes-mode pool and
 * records its throughput every 5 ms: the cost PostgreSQL knows as "each new
 * backend faults in shared_buffers again".
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum host_kind { HK_NONE, HK_PHASE, HK_FORK, HK_DROP, HK_QUIT };

struct host_ctl {
	_Atomic uint32_t cmd_seq;  /* coordinator -> host: one per command */
	_Atomic uint32_t done_seq; /* host -> coordinator: setup, then one per command */
	_Atomic uint32_t crew_seq; /* host -> crew: one per phase */
	_Atomic uint32_t crew_up;  /* crew members started (and warmed up) */
	_Atomic uint32_t ready;	   /* crew members about to run the phase */
	_Atomic uint32_t finished; /* crew members done with it */
	_Atomic uint32_t go;	   /* 0 wait, 1 run, 2 stop */
	int kind;		   /* enum host_kind of the current command */
	struct bench_cmd cmd;
	int rc;
	double fig[F_N];
	struct host_ready info;
	struct bench_warmup warm;
	struct bench_worker_out out[]; /* the crew's, then a newcomer's */
};

struct bench_host {
	pid_t pid;
	struct host_ctl *ctl;
	size_t bytes;
	struct host_spec spec;
	char path[4200]; /* spec.path points here */
};

/* The host process's own state. */
struct host_state {
	const struct host_spec *spec;
	struct host_ctl *ctl;
	ptbm_pool *pool;
	char *base;	/* page 0 (vm, mmap) */
	int fd;		/* disk: O_DIRECT data file; mmap: for fadvise */
	bool procs;	/* crew members are processes */
	bool crew_lost; /* one of them died */
	pthread_t th[BENCH_MAX_WORKERS];
	pid_t kids[BENCH_MAX_WORKERS];
	unsigned n_crew;
	struct work_ctx proto;
	/* the phase's start, kept over its slices (bench_cmd.more) */
	struct ptbm_stats s0;
	uint64_t io_r0, io_w0;
	/*
	 * Rows that take turns on this host (vm's and raw's, the disk's),
	 * slice by slice: ctl->out and the phase's start above hold row
	 * `slot`'s figures so far; the others' wait here (host_switch).
	 */
	unsigned slot;
	struct bench_worker_out *saved_out;	     /* [BENCH_SLOTS][n_crew], on first use */
	struct ptbm_stats saved_counts[BENCH_SLOTS]; /* counted so far (counters_diff) */
	uint64_t saved_io[BENCH_SLOTS][2];
};

/* ---- small helpers ------------------------------------------------------- */

static void futex_wait(_Atomic uint32_t *w, uint32_t v, double timeout_s)
{
	struct timespec ts = {(time_t)timeout_s, (long)((timeout_s - floor(timeout_s)) * 1e9)};
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, v, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void faults(int who, long *minflt, long *majflt)
{
	struct rusage ru;
	getrusage(who, &ru);
	*minflt = ru.ru_minflt;
	*majflt = ru.ru_majflt;
}

/*
 * Values of "key: value" lines of a /proc file (each times its unit), summed
 * into out[i] for every key that starts with keys[i].
 */
static void proc_fields(const char *path, const char *const *keys, unsigned n, uint64_t *out,
			uint64_t unit)
{
	memset(out, 0, n * sizeof *out);
	FILE *f = fopen(path, "r");
	char line[128];
	while (f && fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		for (unsigned i = 0; i < n; i++)
			if (!strncmp(line, keys[i], strlen(keys[i])))
				out[i] += strtoull(colon + 1, NULL, 10) * unit;
	}
	if (f)
		fclose(f);
}

/* read_bytes and write_bytes of /proc/self/io. */
static void proc_io(uint64_t *rd, uint64_t *wr)
{
	static const char *const keys[] = {"read_bytes", "write_bytes"};
	uint64_t v[2];
	proc_fields("/proc/self/io", keys, 2, v, 1);
	*rd = v[0];
	*wr = v[1];
}

/* VmHWM and RssShmem + RssFile of this process, in bytes. */
static void proc_mem(uint64_t *hwm, uint64_t *shm)
{
	static const char *const keys[] = {"VmHWM", "RssShmem", "RssFile"};
	uint64_t v[3];
	proc_fields("/proc/self/status", keys, 3, v, 1024);
	*hwm = v[0];
	*shm = v[1] + v[2];
}

/* Bytes this process maps by PMD entries (anonymous THP, shmem, file). */
static uint64_t proc_huge(void)
{
	static const char *const keys[] = {"AnonHugePages", "ShmemPmdMapped", "FilePmdMapped"};
	uint64_t v[3];
	proc_fields("/proc/self/smaps_rollup", keys, 3, v, 1024);
	return v[0] + v[1] + v[2];
}

/* Reset this process's peak RSS to its current RSS. */
static void reset_peak_rss(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "5", 1) < 0) {
			/* older kernels: the peak stays the process's lifetime peak */
		}
		close(fd);
	}
}

static uint64_t data_bytes_of(const struct host_spec *s)
{
	return s->n_pages * s->page_size;
}

/* ---- the crew -------------------------------------------------------------- */

static void member_phase(struct host_state *hs, struct work_ctx *c, unsigned id)
{
	struct host_ctl *ctl = hs->ctl;
	struct bench_worker_out *o = &ctl->out[id];
	int who = hs->procs ? RUSAGE_SELF : RUSAGE_THREAD;
	long f0, m0, f1, m1;
	uint64_t r0 = 0, w0 = 0, r1, w1, hwm, shm;
	if (hs->procs) {
		if (!ctl->cmd.more)
			reset_peak_rss();
		proc_io(&r0, &w0);
	}
	faults(who, &f0, &m0);
	c->of = ctl->cmd.workers;
	atomic_fetch_add(&ctl->ready, 1);
	work_run(c, &ctl->cmd, &ctl->go, o);
	faults(who, &f1, &m1);
	/* a phase's later slices add to what its first left (host_phase) */
	o->minflt += f1 - f0;
	o->majflt += m1 - m0;
	if (hs->procs) {
		proc_io(&r1, &w1);
		o->io_read += r1 - r0;
		o->io_written += w1 - w0;
		proc_mem(&hwm, &shm);
		o->hwm = hwm > o->hwm ? hwm : o->hwm;
		o->shm = shm > o->shm ? shm : o->shm;
		/* a walk of the whole page table: once a phase, not once a slice */
		if (ctl->cmd.last)
			o->huge = proc_huge();
	}
}

/*
 * A new process's page table is empty out of memory too, and the shared
 * frames it will use are mapped only by its own first touches: a hash
 * pool's frames stay allocated, so a crew member that has not yet touched
 * one pays a fault there (two for an 8 KiB frame) on its next miss or hit,
 * which a backend that has run a while has long paid. A default run's
 * phases hold about a budget's worth of misses, so without this the
 * measured rounds are the warm-up. So, before the first phase, each member
 * of a processes-mode crew reads pages in the section's batches (each
 * prefetched and then fixed) until it has read twice the budget's pages
 * (the clock over the frames has then gone round) or WARM_OOM_S passed.
 */
#define WARM_OOM_S 5.0

static int warm_oom(struct host_state *hs, struct work_ctx *c)
{
	struct ptbm_stats st;
	int rc = ptbm_get_stats(hs->pool, &st);
	if (rc < 0)
		return rc;
	return work_warm_batches(c, hs->spec->qd, 2 * st.budget_pages, WARM_OOM_S);
}

static void member(struct host_state *hs, unsigned id)
{
	struct host_ctl *ctl = hs->ctl;
	const struct host_spec *sp = hs->spec;
	struct work_ctx c = hs->proto;
	work_init(&c, id);
	if (sp->engine == BE_DISK) {
		int rc = disk_worker_init(&c, sp->qd);
		if (rc < 0)
			ctl->out[id].err = rc;
	} else if (hs->procs && hs->pool && (!sp->warm_budget || sp->engine != BE_MMAP)) {
		/*
		 * A new process's page table is empty. In memory: read a word
		 * of every page once, not only map it, since on a
		 * paravirtualized machine a new address space also pays a
		 * first-access cost per page that no guest fault counter
		 * shows. Out of memory: warm_oom (mmap's phases start cold on
		 * purpose).
		 */
		long f0, m0, f1, m1;
		int rc;
		double t0 = now_s();
		faults(RUSAGE_SELF, &f0, &m0);
		if (!sp->warm_budget)
			c.sum += work_touch_all(hs->pool, sp->n_pages);
		else if ((rc = warm_oom(hs, &c)) < 0)
			ctl->out[id].err = rc;
		faults(RUSAGE_SELF, &f1, &m1);
		ctl->out[id].warm_s = now_s() - t0;
		ctl->out[id].warm_minflt = f1 - f0;
	}
	uint32_t seen = atomic_load(&ctl->crew_seq);
	atomic_fetch_add(&ctl->crew_up, 1);
	for (;;) {
		uint32_t s;
		while ((s = atomic_load(&ctl->crew_seq)) == seen)
			futex_wait(&ctl->crew_seq, seen, 1.0);
		seen = s;
		int kind = ctl->kind;
		if (kind == HK_QUIT)
			break;
		if (kind == HK_DROP) {
			if (hs->procs && hs->base)
				madvise(hs->base, data_bytes_of(sp), MADV_DONTNEED);
			atomic_fetch_add(&ctl->finished, 1);
			continue;
		}
		if (id >= ctl->cmd.workers)
			continue;
		member_phase(hs, &c, id);
		atomic_fetch_add(&ctl->finished, 1);
	}
	disk_worker_fini(&c);
}

struct thread_arg {
	struct host_state *hs;
	unsigned id;
};

static void *member_thread(void *p)
{
	struct thread_arg *a = p;
	member(a->hs, a->id);
	return NULL;
}

static int crew_start(struct host_state *hs)
{
	static struct thread_arg args[BENCH_MAX_WORKERS];
	for (unsigned i = 0; i < hs->spec->workers; i++) {
		if (hs->procs) {
			pid_t pid = fork();
			if (pid < 0)
				return -errno;
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				member(hs, i);
				_exit(0);
			}
			hs->kids[i] = pid;
		} else {
			args[i] = (struct thread_arg){hs, i};
			int rc = pthread_create(&hs->th[i], NULL, member_thread, &args[i]);
			if (rc)
				return -rc;
		}
		hs->n_crew++;
	}
	return 0;
}

/* A crew member process that died: an error, not a hang, in this phase and
 * every later one (the crew is short of a member for good). */
static int crew_dead(struct host_state *hs)
{
	if (!hs->procs)
		return 0;
	int st;
	if (!hs->crew_lost && waitpid(-1, &st, WNOHANG) > 0)
		hs->crew_lost = true;
	return hs->crew_lost ? -ECHILD : 0;
}

static int crew_wait(struct host_state *hs, _Atomic uint32_t *count, unsigned want)
{
	while (atomic_load(count) < want) {
		int rc = crew_dead(hs);
		if (rc < 0)
			return rc;
		usleep(100);
	}
	return 0;
}

static void crew_signal(struct host_ctl *ctl, int kind)
{
	ctl->kind = kind;
	atomic_store(&ctl->ready, 0);
	atomic_store(&ctl->finished, 0);
	atomic_fetch_add(&ctl->crew_seq, 1);
	futex_wake(&ctl->crew_seq);
}

/* ---- setup ---------------------------------------------------------------- */

/*
 * Out of memory: load random pages until the budget is (nearly) full, from
 * WARM_THREADS threads at once (an engine whose prefetch reads one page at a
 * time still keeps several reads in flight).
 */
#define WARM_THREADS 8

struct warm_arg {
	struct host_state *hs;
	unsigned id;
	int rc;
};

static void *warm_thread(void *p)
{
	struct warm_arg *a = p;
	struct work_ctx c = a->hs->proto;
	struct ptbm_stats st;
	work_init(&c, 1000 + a->id);
	double t0 = now_s();
	for (;;) {
		ptbm_get_stats(a->hs->pool, &st);
		if (st.resident * 100 >= st.budget_pages * 97 || now_s() - t0 > 30)
			return NULL;
		uint64_t ids[64];
		for (int i = 0; i < 64; i++)
			ids[i] = work_random_page(&c);
		int rc = ptbm_prefetch(a->hs->pool, ids, 64);
		if (rc < 0 && rc != PTBM_EBUSY) {
			a->rc = rc;
			return NULL;
		}
	}
}

static int warm_budget(struct host_state *hs)
{
	pthread_t th[WARM_THREADS];
	struct warm_arg args[WARM_THREADS];
	unsigned n = 0;
	int rc = 0;
	for (; n < WARM_THREADS; n++) {
		args[n] = (struct warm_arg){hs, n, 0};
		if (pthread_create(&th[n], NULL, warm_thread, &args[n]) != 0)
			break;
	}
	if (n == 0) /* no thread at all: warm from here */
		warm_thread(&(struct warm_arg){hs, 0, 0});
	for (unsigned i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		if (args[i].rc < 0)
			rc = args[i].rc;
	}
	return rc;
}

static int pool_open(const struct host_spec *sp, ptbm_pool **pool)
{
	struct ptbm_config cfg;
	ptbm_config_init(&cfg);
	cfg.engine = sp->engine == BE_HASH   ? PTBM_ENGINE_HASH
		     : sp->engine == BE_MMAP ? PTBM_ENGINE_MMAP
					     : PTBM_ENGINE_VM;
	cfg.share = sp->share;
	cfg.data_path = sp->path;
	cfg.page_size = sp->page_size;
	cfg.budget_bytes = sp->budget_bytes;
	cfg.max_pages = sp->n_pages + 64;
	cfg.flags = sp->fresh ? PTBM_CREATE | PTBM_TRUNCATE : 0;
	if (sp->background && sp->engine == BE_VM)
		cfg.flags |= PTBM_BACKGROUND;
	return ptbm_open(&cfg, pool);
}

int bench_make_data_file(const char *path, uint64_t n_pages, uint32_t page_size)
{
	struct host_spec sp = {
	    .engine = BE_VM,
	    .path = path,
	    .fresh = true,
	    .n_pages = n_pages,
	    .budget_bytes = 256ull << 20,
	    .page_size = page_size,
	};
	ptbm_pool *pool;
	int rc = pool_open(&sp, &pool);
	if (rc < 0)
		return rc;
	rc = work_fill(pool, n_pages);
	if (rc == 0)
		rc = ptbm_flush(pool);
	ptbm_close(pool);
	return rc;
}

static int open_pool(struct host_state *hs)
{
	const struct host_spec *sp = hs->spec;
	int rc = pool_open(sp, &hs->pool);
	if (rc < 0)
		return rc;
	if (sp->fresh) {
		unlink(sp->path); /* the pool keeps it open; nothing to clean up */
		if ((rc = work_fill(hs->pool, sp->n_pages)) < 0)
			return rc;
	}
	struct ptbm_stats st;
	ptbm_get_stats(hs->pool, &st);
	if (st.allocated < sp->n_pages)
		return PTBM_ERANGE;
	void *p;
	if ((rc = ptbm_fix_shared(hs->pool, 0, &p)) < 0)
		return rc;
	hs->base = p;
	ptbm_unfix_shared(hs->pool, 0);
	const void *q;
	uint64_t v;
	rc = ptbm_read_begin(hs->pool, 0, &q, &v);
	hs->ctl->info.optimistic = rc == 0;
	if (rc == 0)
		ptbm_read_validate(hs->pool, 0, v);
	hs->ctl->info.direct = ptbm_direct_io(hs->pool);
	if (sp->engine == BE_MMAP) {
		hs->fd = open(sp->path, O_RDONLY | O_CLOEXEC);
		if (!sp->warm_budget) /* in memory: read the file into the cache */
			hs->proto.sum += work_touch_all(hs->pool, sp->n_pages);
	} else if (sp->warm_budget) {
		return warm_budget(hs);
	}
	return 0;
}

/*
 * BE_HUGE: a private anonymous copy of the data's size, 2 MiB aligned, with
 * MADV_HUGEPAGE, populated and given one word per page as the pools hold.
 * Where transparent_hugepage/enabled is "never" it stays in 4 KiB pages,
 * which the row's 2M-mapped figure shows.  Forked crew members inherit it
 * (fork copies the PMD entries of private anonymous memory), and they only
 * read, so nothing is copied.
 */
static int huge_region(struct host_state *hs)
{
	const size_t huge = 2ul << 20;
	size_t bytes = data_bytes_of(hs->spec);
	char *p = mmap(NULL, bytes + huge, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	char *base = (char *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
	madvise(base, bytes, MADV_HUGEPAGE);
	if (madvise(base, bytes, 23 /* MADV_POPULATE_WRITE */) < 0)
		memset(base, 0, bytes); /* before Linux 5.14 */
	uint32_t ps = hs->spec->page_size;
	for (uint64_t pid = 0; pid < hs->spec->n_pages; pid++)
		*(uint64_t *)(base + pid * ps + word_of(pid)) = pid;
	hs->base = base;
	return 0;
}

static int host_setup(struct host_state *hs)
{
	const struct host_spec *sp = hs->spec;
	struct host_ctl *ctl = hs->ctl;
	hs->proto.page_size = sp->page_size;
	hs->proto.keys = sp->keys;
	hs->proto.series_tick = (uint64_t)(5e6 / sp->tsc_ns);
	hs->proto.tsc_ns = sp->tsc_ns;
	hs->fd = -1;
	double t0 = now_s();
	int rc;
	if (sp->engine == BE_DISK) {
		rc = hs->fd = disk_open(sp->path);
		hs->proto.fd = hs->fd;
		ctl->info.direct = true;
	} else if (sp->engine == BE_HUGE) {
		rc = huge_region(hs);
		hs->proto.base = hs->base;
	} else {
		rc = open_pool(hs);
		hs->proto.pool = hs->pool;
		hs->proto.base = hs->base;
	}
	if (rc < 0)
		return rc;
	ctl->info.setup_s = now_s() - t0;
	hs->procs = sp->share == PTBM_SHARE_PROCESSES && sp->engine != BE_DISK;
	if ((rc = crew_start(hs)) < 0)
		return rc;
	if ((rc = crew_wait(hs, &ctl->crew_up, sp->workers)) < 0)
		return rc;
	for (unsigned i = 0; i < sp->workers; i++) {
		ctl->info.warm_s += ctl->out[i].warm_s / sp->workers;
		ctl->info.warm_minflt += (double)ctl->out[i].warm_minflt / sp->workers;
		if (ctl->out[i].err)
			return ctl->out[i].err;
	}
	return 0;
}

/* ---- commands -------------------------------------------------------------- */

static uint64_t mmap_resident(struct host_state *hs)
{
	uint64_t bytes = data_bytes_of(hs->spec), pages = bytes / 4096, n = 0;
	unsigned char *vec = malloc(pages);
	if (vec && mincore(hs->base, bytes, vec) == 0)
		for (uint64_t i = 0; i < pages; i++)
			n += vec[i] & 1;
	free(vec);
	return n * 4096;
}

static void phase_figures(struct host_state *hs, const struct ptbm_stats *s0,
			  const struct ptbm_stats *s1, uint64_t io_r, uint64_t io_w)
{
	struct host_ctl *ctl = hs->ctl;
	const struct host_spec *sp = hs->spec;
	double *f = ctl->fig;
	unsigned k = ctl->cmd.workers;
	struct hist h;
	hist_clear(&h);
	double ops = 0, rate = 0, secs = 0, minflt = 0, majflt = 0, rss = 0, shm = 0, huge = 0;
	double cpu = 0;
	for (unsigned i = 0; i < k; i++) {
		const struct bench_worker_out *o = &ctl->out[i];
		ops += (double)o->ops;
		rate += o->seconds > 0 ? (double)o->ops / o->seconds : 0;
		secs += o->seconds / k;
		minflt += (double)o->minflt;
		majflt += (double)o->majflt;
		cpu += o->cpu_s;
		if (hs->procs) {
			io_r += o->io_read;
			io_w += o->io_written;
			rss = fmax(rss, (double)o->hwm);
			shm = fmax(shm, (double)o->shm);
			huge = i ? fmin(huge, (double)o->huge) : (double)o->huge;
		}
		hist_merge(&h, &o->hist);
	}
	if (!hs->procs) {
		uint64_t hwm, sh;
		proc_mem(&hwm, &sh);
		rss = (double)hwm;
		shm = (double)sh;
		huge = ctl->cmd.last ? (double)proc_huge() : 0;
	}
	memset(f, 0, sizeof ctl->fig);
	f[F_SECONDS] = secs;
	f[F_OPS] = ops;
	f[F_OPS_PER_S] = rate;
	f[F_P50] = hist_quantile(&h, 0.5) * sp->tsc_ns;
	f[F_P99] = hist_quantile(&h, 0.99) * sp->tsc_ns;
	f[F_P999] = hist_quantile(&h, 0.999) * sp->tsc_ns;
	f[F_MEAN] = hist_mean(&h) * sp->tsc_ns;
	f[F_MINFLT] = ops ? minflt / ops : 0;
	f[F_MAJFLT] = ops ? majflt / ops : 0;
	f[F_CPU] = ops ? cpu * 1e9 / ops : 0;
	double ps = sp->page_size;
	if (sp->engine == BE_VM || sp->engine == BE_HASH) {
		/* the engine's own counts: exact, and io_uring workers included */
		f[F_READ] = (double)(s1->reads - s0->reads) * ps;
		f[F_WRITTEN] = (double)(s1->writes - s0->writes) * ps;
		f[F_RESIDENT] = (double)s1->resident * ps;
	} else {
		f[F_READ] = (double)io_r;
		f[F_WRITTEN] = (double)io_w;
		if (sp->engine == BE_MMAP)
			f[F_RESIDENT] = (double)mmap_resident(hs);
	}
	f[F_READS_S] = secs > 0 ? f[F_READ] / ps / secs : 0;
	f[F_EVICTIONS] = (double)(s1->evictions - s0->evictions);
	f[F_RESTARTS] = (double)(s1->restarts - s0->restarts);
	f[F_RSS] = rss;
	f[F_SHM] = shm;
	f[F_HUGE] = huge;
}

/* The counters a phase's figures are differences of: a - b, field by field. */
static void counters_diff(struct ptbm_stats *out, const struct ptbm_stats *a,
			  const struct ptbm_stats *b)
{
	out->reads = a->reads - b->reads;
	out->writes = a->writes - b->writes;
	out->evictions = a->evictions - b->evictions;
	out->restarts = a->restarts - b->restarts;
}

/*
 * Make ctl->out and the phase's start those of row `slot`, keeping the
 * current row's for its next slice. Without it, two rows in turns on one
 * host would add up each other's slices: each would report the blend of
 * both. The pool's and the process's counters run on through the other
 * rows' slices, so a row put aside keeps what it has counted so far, and
 * one taken up again gets a start that far before the counters of now.
 */
static int host_switch(struct host_state *hs, unsigned slot)
{
	if (slot >= BENCH_SLOTS)
		return -EINVAL;
	if (slot == hs->slot)
		return 0;
	struct host_ctl *ctl = hs->ctl;
	size_t n = hs->n_crew, bytes = n * sizeof *ctl->out;
	if (!hs->saved_out && !(hs->saved_out = calloc(BENCH_SLOTS * n, sizeof *ctl->out)))
		return -ENOMEM;
	struct ptbm_stats now = {0};
	uint64_t r = 0, w = 0;
	if (hs->pool)
		ptbm_get_stats(hs->pool, &now);
	if (!hs->procs)
		proc_io(&r, &w);
	memcpy(&hs->saved_out[hs->slot * n], ctl->out, bytes);
	counters_diff(&hs->saved_counts[hs->slot], &now, &hs->s0);
	hs->saved_io[hs->slot][0] = r - hs->io_r0;
	hs->saved_io[hs->slot][1] = w - hs->io_w0;
	memcpy(ctl->out, &hs->saved_out[slot * n], bytes);
	counters_diff(&hs->s0, &now, &hs->saved_counts[slot]);
	hs->io_r0 = r - hs->saved_io[slot][0];
	hs->io_w0 = w - hs->saved_io[slot][1];
	hs->slot = slot;
	return 0;
}

static int host_phase(struct host_state *hs)
{
	struct host_ctl *ctl = hs->ctl;
	unsigned k = ctl->cmd.workers;
	if (k < 1 || k > hs->n_crew)
		return -EINVAL;
	int rc = host_switch(hs, ctl->cmd.slot);
	if (rc < 0)
		return rc;
	if (!ctl->cmd.more) {
		/* a new phase; a slice of the same phase goes on counting */
		for (unsigned i = 0; i < k; i++)
			memset(&ctl->out[i], 0, sizeof ctl->out[i]);
		memset(&hs->s0, 0, sizeof hs->s0);
		hs->io_r0 = hs->io_w0 = 0;
		if (hs->pool)
			ptbm_get_stats(hs->pool, &hs->s0);
		if (!hs->procs) {
			reset_peak_rss();
			proc_io(&hs->io_r0, &hs->io_w0);
		}
	}
	struct ptbm_stats s1 = {0};
	uint64_t r1 = 0, w1 = 0;
	atomic_store(&ctl->go, 0);
	crew_signal(ctl, HK_PHASE);
	rc = crew_wait(hs, &ctl->ready, k);
	if (rc < 0)
		return rc;
	atomic_store(&ctl->go, 1);
	sleep_s(ctl->cmd.seconds);
	uint32_t one = 1;
	atomic_compare_exchange_strong(&ctl->go, &one, 2);
	if ((rc = crew_wait(hs, &ctl->finished, k)) < 0)
		return rc;
	if (hs->pool)
		ptbm_get_stats(hs->pool, &s1);
	if (!hs->procs)
		proc_io(&r1, &w1);
	phase_figures(hs, &hs->s0, &s1, r1 - hs->io_r0, w1 - hs->io_w0);
	for (unsigned i = 0; i < k; i++)
		if (ctl->out[i].err)
			return ctl->out[i].err;
	return 0;
}

static void warmup_figures(struct bench_warmup *w, const struct bench_worker_out *o, double tick_s)
{
	w->interval_s = tick_s;
	w->n = o->n_series;
	w->seconds = o->seconds;
	w->minflt = (double)o->minflt;
	w->t90_s = -1;
	w->minflt_t90 = 0;
	uint64_t prev = 0;
	for (unsigned i = 0; i < w->n; i++) {
		w->ops_per_s[i] = (double)(o->series_ops[i] - prev) / tick_s;
		prev = o->series_ops[i];
	}
	w->first_ops_s = w->n ? w->ops_per_s[0] : 0;
	for (unsigned i = 0; i + 5 <= w->n && w->t90_s < 0; i++) {
		double m = 0;
		for (unsigned j = i; j < i + 5; j++)
			m += w->ops_per_s[j] / 5;
		if (m >= 0.9 * w->steady_ops_per_s) {
			w->t90_s = i * tick_s;
			w->minflt_t90 = i ? (double)o->series_flt[i - 1] : 0;
		}
	}
}

static int host_fork(struct host_state *hs)
{
	struct host_ctl *ctl = hs->ctl;
	unsigned id = hs->spec->workers; /* the newcomer's slot */
	struct bench_worker_out *o = &ctl->out[id];
	memset(o, 0, sizeof *o);
	struct bench_cmd cmd = ctl->cmd;
	cmd.series = true;
	cmd.steady = ctl->warm.steady_ops_per_s;
	cmd.workers = 1;
	atomic_store(&ctl->go, 1);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct work_ctx c = hs->proto;
		work_init(&c, id);
		c.of = 1;
		work_run(&c, &cmd, &ctl->go, o);
		long f, m;
		faults(RUSAGE_SELF, &f, &m);
		o->minflt = f;
		_exit(0);
	}
	/* until it has been steady for 100 ms (it then exits), or time is up */
	int st;
	double end = now_s() + cmd.seconds;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_s() >= end) {
			atomic_store(&ctl->go, 2);
			waitpid(pid, &st, 0);
			break;
		}
		usleep(2000);
	}
	atomic_store(&ctl->go, 2);
	warmup_figures(&ctl->warm, o, (double)hs->proto.series_tick * hs->spec->tsc_ns * 1e-9);
	return o->err;
}

static int host_drop(struct host_state *hs)
{
	struct host_ctl *ctl = hs->ctl;
	if (hs->pool) {
		int rc = ptbm_flush(hs->pool);
		if (rc < 0)
			return rc;
	}
	crew_signal(ctl, HK_DROP);
	int rc = crew_wait(hs, &ctl->finished, hs->n_crew);
	if (hs->base)
		madvise(hs->base, data_bytes_of(hs->spec), MADV_DONTNEED);
	if (hs->fd >= 0)
		posix_fadvise(hs->fd, 0, 0, POSIX_FADV_DONTNEED);
	return rc;
}

static void host_quit(struct host_state *hs)
{
	crew_signal(hs->ctl, HK_QUIT);
	for (unsigned i = 0; i < hs->n_crew; i++) {
		if (hs->procs)
			waitpid(hs->kids[i], NULL, 0);
		else
			pthread_join(hs->th[i], NULL);
	}
	if (hs->pool) {
		if (hs->spec->engine == BE_MMAP)
			ptbm_flush(hs->pool); /* no write-back left for later phases */
		ptbm_close(hs->pool);
	}
}

static void host_done(struct host_ctl *ctl)
{
	atomic_fetch_add(&ctl->done_seq, 1);
	futex_wake(&ctl->done_seq);
}

static void host_main(const struct host_spec *spec, struct host_ctl *ctl)
{
	static struct host_state hs;
	hs.spec = spec;
	hs.ctl = ctl;
	int rc = host_setup(&hs);
	ctl->info.err = rc;
	if (rc < 0) {
		snprintf(ctl->info.msg, sizeof ctl->info.msg, "%s", ptbm_strerror(rc));
		host_done(ctl);
		if (hs.n_crew)
			host_quit(&hs);
		_exit(1);
	}
	host_done(ctl);
	uint32_t seen = 0;
	for (;;) {
		uint32_t s;
		while ((s = atomic_load(&ctl->cmd_seq)) == seen)
			futex_wait(&ctl->cmd_seq, seen, 1.0);
		seen = s;
		switch (ctl->kind) {
		case HK_PHASE:
			ctl->rc = host_phase(&hs);
			break;
		case HK_FORK:
			ctl->rc = host_fork(&hs);
			break;
		case HK_DROP:
			ctl->rc = host_drop(&hs);
			break;
		case HK_QUIT:
			host_quit(&hs);
			host_done(ctl);
			_exit(0);
		}
		host_done(ctl);
	}
}

/* ---- the coordinator's side ------------------------------------------------ */

/* Wait until done_seq reaches want; -ECHILD if the host died. */
static int wait_done(struct bench_host *h, uint32_t want)
{
	for (;;) {
		uint32_t d = atomic_load(&h->ctl->done_seq);
		if (d >= want)
			return 0;
		futex_wait(&h->ctl->done_seq, d, 0.5);
		int st;
		if (atomic_load(&h->ctl->done_seq) < want &&
		    waitpid(h->pid, &st, WNOHANG) == h->pid) {
			h->pid = 0;
			return -ECHILD;
		}
	}
}

struct bench_host *host_spawn(const struct host_spec *spec)
{
	struct bench_host *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->spec = *spec;
	snprintf(h->path, sizeof h->path, "%s", spec->path ? spec->path : "");
	h->spec.path = h->path;
	h->bytes = sizeof *h->ctl + (spec->workers + 1) * sizeof h->ctl->out[0];
	h->ctl = mmap(NULL, h->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h->ctl == MAP_FAILED) {
		free(h);
		return NULL;
	}
	fflush(NULL);
	h->pid = fork();
	if (h->pid < 0) {
		munmap(h->ctl, h->bytes);
		free(h);
		return NULL;
	}
	if (h->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		host_main(&h->spec, h->ctl);
		_exit(0);
	}
	return h;
}

struct bench_host *host_wait_ready(struct bench_host *h, struct host_ready *r)
{
	memset(r, 0, sizeof *r);
	if (!h) {
		r->err = -ENOMEM;
		snprintf(r->msg, sizeof r->msg, "cannot start a host process");
		return NULL;
	}
	int rc = wait_done(h, 1);
	*r = h->ctl->info;
	if (rc < 0 && r->err == 0) {
		r->err = rc;
		snprintf(r->msg, sizeof r->msg, "the host process died while setting up");
	}
	if (r->err < 0) {
		if (h->pid)
			waitpid(h->pid, NULL, 0);
		munmap(h->ctl, h->bytes);
		free(h);
		return NULL;
	}
	return h;
}

struct bench_host *host_start(const struct host_spec *spec, struct host_ready *r)
{
	return host_wait_ready(host_spawn(spec), r);
}

static int command(struct bench_host *h, int kind)
{
	uint32_t want = atomic_load(&h->ctl->done_seq) + 1;
	h->ctl->kind = kind;
	atomic_fetch_add(&h->ctl->cmd_seq, 1);
	futex_wake(&h->ctl->cmd_seq);
	int rc = wait_done(h, want);
	return rc < 0 ? rc : h->ctl->rc;
}

int host_run(struct bench_host *h, const struct bench_cmd *cmd, double fig[F_N])
{
	h->ctl->cmd = *cmd;
	int rc = command(h, HK_PHASE);
	memcpy(fig, h->ctl->fig, sizeof h->ctl->fig);
	return rc;
}

int host_fork_warmup(struct bench_host *h, const struct bench_cmd *cmd, struct bench_warmup *w)
{
	h->ctl->cmd = *cmd;
	h->ctl->warm.steady_ops_per_s = w->steady_ops_per_s;
	int rc = command(h, HK_FORK);
	*w = h->ctl->warm;
	return rc;
}

int host_drop_cache(struct bench_host *h)
{
	return command(h, HK_DROP);
}

void host_stop(struct bench_host *h)
{
	if (!h)
		return;
	if (h->pid) {
		command(h, HK_QUIT);
		waitpid(h->pid, NULL, 0);
	}
	munmap(h->ctl, h->bytes);
	free(h);
}
