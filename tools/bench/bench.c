/*
 * bench.c - `ptbm bench`: PT-BM against a PostgreSQL-style hash-table buffer
 * manager and OS-managed mmap, on the same workloads, in the same run.
 *
 * The run, on embedded defaults sized for a 2-core, 24 GiB machine:
 *   0. the data file: --data (1 GiB) of checksummed pages written once with
 *      O_DIRECT; the out-of-memory section and the mmap engine read it.
 *   1. in memory: every engine in every sharing mode keeps a pool holding
 *      all the data (vm and hash fill theirs in memory; mmap reads the file
 *      into the page cache), each in a host process of its own
 *      (bench_host.c). Workloads: random reads (uniform or Zipf) next to
 *      the physical limit, a raw read of the same memory; optimistic
 *      reads, next to the same raw reads; reads mixed with --writes of
 *      exclusive fixes; a sequential scan. 1..N workers, threads or
 *      forked processes.
 *   2. a new process joining each warm processes-mode pool: its throughput
 *      every 5 ms until it reaches 90% of a warm worker's.
 *   3. out of memory: pools of --budget (data/4) over the data file, one
 *      worker; next to them the disk's ceiling measured on the same file:
 *      random O_DIRECT reads at queue depth 1 (pread) and --qd (io_uring).
 *      Reads at depth 1 (a plain fix per miss), reads in batches of --qd
 *      (ptbm_prefetch, then fixes), mixed writes, a scan with read-ahead.
 * In each section the engines run interleaved (A B C, B C A, ...) over
 * --rounds rounds, each phase cut into --slice slices that take turns with
 * the other engines' (A B C A B C ...), and the median of each figure is
 * reported, because these machines and their disks are noisy. Then the
 * table, the ratios, the performance goals, and on request JSON (--json)
 * and charts (--plot, gnuplot).
 */
#include "bench.h"
#include "options.h"
#include "thp.h"
#include "units.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define ENGINE_BITS ((1u << BE_VM) | (1u << BE_HASH) | (1u << BE_MMAP))

/*
 * The data file and its copies, removed on exit and on SIGINT/SIGTERM. A
 * data file is open in one pool at a time (ptbm_open's PTBM_EINUSE), so
 * hosts that read the data at the same time each get a file of their own:
 * in memory the two mmap hosts, out of memory the three engines of a mode.
 */
#define DATA_FILES 3
static char data_path[DATA_FILES][4096];

static void remove_data(void)
{
	for (int i = 0; i < DATA_FILES; i++)
		if (data_path[i][0])
			unlink(data_path[i]);
}

static void on_signal(int sig)
{
	remove_data();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- the plan ------------------------------------------------------------- */

/* A section's hosts: [engine][share]. */
struct section {
	bool oom;
	struct bench_host *host[BE_N][2];
	struct host_ready *ready; /* [BE_N][2], in the report */
};

struct plan {
	const struct bench_opts *o;
	struct bench_report *rep;
	unsigned cap;
	unsigned *group; /* rows[i] belongs to config group group[i] */
	unsigned n_groups;
	unsigned done, total; /* phases, for the progress line */
	double t_start;
};

static void note(struct bench_report *rep, const char *fmt, const char *a, const char *b)
{
	if (rep->n_notes >= sizeof rep->notes / sizeof rep->notes[0])
		return;
	for (unsigned i = 0; i < rep->n_notes; i++) {
		char tmp[200];
		if (snprintf(tmp, sizeof tmp, fmt, a, b) >= 0 && !strcmp(tmp, rep->notes[i]))
			return;
	}
	/* a note longer than its slot is cut short */
	char *dst = rep->notes[rep->n_notes++];
	if (snprintf(dst, sizeof rep->notes[0], fmt, a, b) < 0)
		dst[0] = '\0';
}

static struct bench_host *host_of(struct section *s, enum bench_engine e, enum ptbm_share m)
{
	if (e == BE_RAW)
		return s->host[BE_VM][m];
	if (e == BE_HUGE)
		return s->host[BE_HUGE][m];
	if (e == BE_DISK)
		return s->host[BE_DISK][PTBM_SHARE_THREADS];
	return s->host[e][m];
}

/*
 * Add one row per engine of `engines` that this section can run, as a new
 * group of rows that take turns slice by slice, or into group `join`
 * (a group id add_config returned, or NEW_GROUP). Returns the group's id.
 */
#define NEW_GROUP (-1)

static int add_config_to(struct plan *p, struct section *s, enum ptbm_share m, unsigned w,
			 enum bench_work work, unsigned qd, unsigned engines, int join)
{
	unsigned id = join >= 0 ? (unsigned)join : p->n_groups;
	struct bench_report *rep = p->rep;
	bool any = false;
	for (int e = 0; e < BE_N; e++) {
		if (!(engines & (1u << e)) || !host_of(s, (enum bench_engine)e, m))
			continue;
		/* raw reads run in the optimistic phase as plain reads */
		if (work == W_OPTIMISTIC && e != BE_RAW && e != BE_HUGE &&
		    !s->ready[e * 2 + m].optimistic) {
			note(rep, "%s: no optimistic reads (the engine returns %s)",
			     engine_name((enum bench_engine)e), ptbm_strerror(PTBM_ENOSUPPORT));
			continue;
		}
		if (rep->n_rows == p->cap) {
			p->cap = p->cap ? p->cap * 2 : 64;
			rep->rows = realloc(rep->rows, p->cap * sizeof *rep->rows);
			p->group = realloc(p->group, p->cap * sizeof *p->group);
			if (!rep->rows || !p->group) {
				fprintf(stderr, "ptbm bench: out of memory\n");
				exit(1);
			}
		}
		struct bench_row *r = &rep->rows[rep->n_rows];
		memset(r, 0, sizeof *r);
		r->engine = (enum bench_engine)e;
		r->share = m; /* the disk's rows too: run beside this mode's pools */
		r->workers = w;
		r->work = work;
		r->oom = s->oom;
		r->qd = qd;
		p->group[rep->n_rows++] = id;
		any = true;
	}
	if (any && join < 0)
		p->n_groups++;
	return any ? (int)id : join;
}

static void add_config(struct plan *p, struct section *s, enum ptbm_share m, unsigned w,
		       enum bench_work work, unsigned qd, unsigned engines)
{
	add_config_to(p, s, m, w, work, qd, engines, NEW_GROUP);
}

static void progress(struct plan *p, const struct bench_row *r, unsigned round)
{
	if (!p->o->progress)
		return;
	double el = now_s() - p->t_start;
	double eta = p->done ? el / p->done * (p->total - p->done) : 0;
	fprintf(stderr,
		"\r\033[K[%u/%u] %s, round %u/%u: %s %s %ux %s (%.0f s; section ~%.0f s left)",
		p->done + 1, p->total, r->oom ? "out of memory" : "in memory", round + 1,
		p->o->rounds, engine_name(r->engine), ptbm_share_name(r->share), r->workers,
		work_name(r->work), el, eta);
}

static void progress_msg(const struct bench_opts *o, const char *msg, const char *arg)
{
	if (o->progress)
		fprintf(stderr, "\r\033[K%s %s", msg, arg ? arg : "");
}

static void progress_end(const struct bench_opts *o)
{
	if (o->progress)
		fprintf(stderr, "\r\033[K");
}

static void row_medians(struct bench_row *r)
{
	for (int f = 0; f < F_N; f++) {
		double v[BENCH_MAX_ROUNDS];
		for (unsigned i = 0; i < r->rounds; i++)
			v[i] = r->round[i][f];
		r->med[f] = bench_median(v, r->rounds);
	}
}

/*
 * Which of its host's rows r is: rows that share a host (raw reads run on
 * vm's, the disk's workloads on one) and take turns in slices add up
 * their own slices each.
 */
static unsigned row_slot(const struct bench_row *r)
{
	if (r->engine == BE_RAW)
		return 1;
	if (r->engine == BE_DISK)
		return r->work == W_BATCH_MISSES ? 1 : r->work == W_READ_QD ? 2 : 0;
	return 0;
}

static struct bench_cmd row_cmd(const struct bench_opts *o, const struct bench_row *r)
{
	struct bench_cmd c = {
	    .slot = row_slot(r),
	    .work = r->work,
	    .raw = r->engine == BE_RAW || r->engine == BE_HUGE,
	    .workers = r->workers,
	    .seconds = o->seconds,
	    .writes = o->writes,
	    .qd = r->qd,
	    .time_mask = r->oom ? 0 : 7,
	};
	return c;
}

/* How many slices a phase is cut into: each at most --slice long. */
static unsigned phase_slices(const struct bench_opts *o)
{
	if (o->slice <= 0 || o->seconds <= o->slice)
		return 1;
	double n = ceil(o->seconds / o->slice - 1e-9);
	return n > 1000 ? 1000 : (unsigned)n;
}

/* Slice k of n of row r's phase in this round; 0, or the row gets a note. */
static int run_slice(struct plan *p, struct section *s, struct bench_row *r, unsigned k, unsigned n)
{
	struct bench_host *h = host_of(s, r->engine, r->share);
	int rc = 0;
	if (k == 0 && r->engine == BE_MMAP && r->oom)
		rc = host_drop_cache(h); /* each phase starts cold: see docs/bench.md */
	struct bench_cmd cmd = row_cmd(p->o, r);
	cmd.seconds /= n;
	cmd.more = k > 0;
	cmd.last = k + 1 == n;
	if (rc == 0)
		rc = host_run(h, &cmd, r->round[r->rounds]);
	if (rc < 0) {
		static char msgs[64][160];
		static unsigned n_msgs;
		char *m = msgs[n_msgs++ % 64];
		snprintf(m, 160, "failed: %s", ptbm_strerror(rc));
		r->note = m;
		progress_end(p->o);
		fprintf(stderr, "ptbm bench: %s %s %s: %s\n", engine_name(r->engine),
			ptbm_share_name(r->share), work_name(r->work), ptbm_strerror(rc));
	}
	return rc;
}

/*
 * The order of slice k: the group's rows rotated by the round, and on odd
 * slices each run of rows that share a host reversed. A row whose slice
 * follows another's on the same host finds that host's threads awake and
 * the same memory's cache lines and TLB entries warm, while the first of
 * the run follows another host's slice: without the reversal raw's slice
 * always came first and vm's always second, and vm read up to a quarter
 * faster than raw reading the same pages (2026-12-07, nested paging).
 */
static void slice_order(struct section *s, const struct bench_report *rep, const unsigned *idx,
			unsigned n, unsigned round, unsigned k, unsigned *out)
{
	for (unsigned j = 0; j < n; j++)
		out[j] = idx[(j + round) % n];
	if (!(k & 1))
		return;
	for (unsigned a = 0; a < n;) {
		const struct bench_row *r = &rep->rows[out[a]];
		struct bench_host *h = host_of(s, r->engine, r->share);
		unsigned b = a + 1;
		while (b < n && host_of(s, rep->rows[out[b]].engine, rep->rows[out[b]].share) == h)
			b++;
		for (unsigned i = a, j = b - 1; i < j; i++, j--) {
			unsigned t = out[i];
			out[i] = out[j];
			out[j] = t;
		}
		a = b;
	}
}

/*
 * The n rows idx[] of one group in round `round`, engines rotated. Each
 * row's phase is cut into slices that take turns with the other rows'
 * (A B C A B C ...), so that drift of the machine or the disk during the
 * phase reaches every row alike; a row's figures add up its slices.
 * order: room for n, each slice's order (slice_order).
 */
static void run_group(struct plan *p, struct section *s, const unsigned *idx, unsigned n,
		      unsigned round, unsigned *order)
{
	struct bench_report *rep = p->rep;
	unsigned slices = phase_slices(p->o);
	for (unsigned k = 0; k < slices; k++) {
		slice_order(s, rep, idx, n, round, k, order);
		for (unsigned j = 0; j < n; j++) {
			struct bench_row *r = &rep->rows[order[j]];
			if (k == 0) {
				progress(p, r, round);
				p->done++;
			}
			if (r->note)
				continue;
			if (run_slice(p, s, r, k, slices) == 0 && k == slices - 1) {
				r->slices = slices;
				r->rounds++;
			}
		}
	}
}

/* The rows from first_row on, group by group (a group's rows need not be
 * adjacent: add_config_to; ids grow as rows are added). */
static void run_rounds(struct plan *p, struct section *s, unsigned first_row)
{
	struct bench_report *rep = p->rep;
	unsigned *idx = malloc(2 * (rep->n_rows - first_row + 1) * sizeof *idx);
	if (!idx) {
		fprintf(stderr, "ptbm bench: out of memory\n");
		exit(1);
	}
	unsigned *order = idx + (rep->n_rows - first_row + 1);
	unsigned g0 = first_row < rep->n_rows ? p->group[first_row] : p->n_groups;
	for (unsigned round = 0; round < p->o->rounds; round++)
		for (unsigned g = g0; g < p->n_groups; g++) {
			unsigned n = 0;
			for (unsigned j = first_row; j < rep->n_rows; j++)
				if (p->group[j] == g)
					idx[n++] = j;
			if (n)
				run_group(p, s, idx, n, round, order);
		}
	free(idx);
	for (unsigned i = first_row; i < rep->n_rows; i++)
		row_medians(&rep->rows[i]);
}

/* ---- hosts ----------------------------------------------------------------- */

/* Wait until host [e][m] is set up; a note if it could not be. */
static void wait_host(struct plan *p, struct section *s, int e, int m)
{
	char what[64];
	snprintf(what, sizeof what, "%s %s", engine_name((enum bench_engine)e),
		 ptbm_share_name((enum ptbm_share)m));
	progress_msg(p->o, "setting up", what);
	struct host_ready *rd = &s->ready[e * 2 + m];
	s->host[e][m] = host_wait_ready(s->host[e][m], rd);
	if (s->host[e][m])
		return;
	if (rd->err == PTBM_ENOSUPPORT)
		note(p->rep, "%s: skipped, this engine is not built (%s)",
		     engine_name((enum bench_engine)e), rd->msg);
	else
		note(p->rep, "%s: could not start: %s", what, rd->msg);
}

/* The data file: --data of checksummed pages, written once, O_DIRECT. */
static int ensure_data_file(struct plan *p)
{
	struct bench_report *rep = p->rep;
	if (rep->data_file_ready)
		return 0;
	char sz[32];
	progress_msg(p->o, "writing the data file:", format_size(p->o->data_bytes, sz, sizeof sz));
	double t0 = now_s();
	int rc =
	    bench_make_data_file(data_path[0], p->o->data_bytes / p->o->page_size, p->o->page_size);
	progress_end(p->o);
	if (rc < 0) {
		fprintf(stderr, "ptbm bench: cannot write the data file %s: %s\n", data_path[0],
			ptbm_strerror(rc));
		note(rep, "the data file could not be written: %s%s", ptbm_strerror(rc), "");
		return rc;
	}
	rep->data_file_s = now_s() - t0;
	rep->data_file_ready = true;
	return 0;
}

/* Copy i of the data file (1 or 2), made once: its path, or NULL. */
static const char *data_copy(struct plan *p, int i)
{
	struct bench_report *rep = p->rep;
	if (rep->copies > i - 1)
		return data_path[i];
	if (ensure_data_file(p) < 0)
		return NULL;
	progress_msg(p->o, "copying the data file:", "one pool per file");
	double t0 = now_s();
	int rc = 0, in = open(data_path[0], O_RDONLY | O_CLOEXEC);
	int out = open(data_path[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct stat st;
	if (in < 0 || out < 0 || fstat(in, &st) < 0)
		rc = -errno;
	for (off_t done = 0; rc == 0 && done < st.st_size;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)(st.st_size - done), 0);
		if (n <= 0)
			rc = n < 0 ? -errno : -EIO;
		done += n > 0 ? n : 0;
	}
	if (rc == 0 && fsync(out) < 0)
		rc = -errno;
	if (rc == 0) { /* a copy read from the disk, as the data file is */
		posix_fadvise(out, 0, 0, POSIX_FADV_DONTNEED);
		posix_fadvise(in, 0, 0, POSIX_FADV_DONTNEED);
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	progress_end(p->o);
	if (rc < 0) {
		note(rep, "the data file could not be copied: %s%s", ptbm_strerror(rc), "");
		return NULL;
	}
	rep->copies = i;
	rep->copy_s += now_s() - t0;
	return data_path[i];
}

/* The n-th file of the data (0: the data file itself), or NULL. */
static const char *data_file(struct plan *p, int n)
{
	if (n == 0)
		return ensure_data_file(p) < 0 ? NULL : data_path[0];
	for (int i = 1; i < n; i++)
		if (!data_copy(p, i))
			return NULL;
	return n < DATA_FILES ? data_copy(p, n) : NULL;
}

/*
 * Start the section's hosts of the modes in `modes`, setting them up at
 * once (filling a gigabyte costs seconds of page faults, and the machine
 * has more than one core): first those that fill a pool of their own, then
 * those that read the data, each from a file of its own.
 */
static void start_hosts(struct plan *p, struct section *s, const struct host_spec *base,
			unsigned modes)
{
	const struct bench_opts *o = p->o;
	bool reads_file[BE_N][2] = {{false}};
	int files = 0, readers = 0;
	for (int m = 0; m < 2; m++)
		for (int e = BE_VM; e <= BE_MMAP; e++)
			readers += (o->engines & (1u << e)) && (modes & (1u << m)) &&
				   (!base->fresh || e == BE_MMAP);
	for (int pass = 0; pass < 2; pass++) {
		for (int m = 0; m < 2; m++) {
			for (int e = BE_VM; e <= BE_MMAP; e++) {
				if (!(o->engines & (1u << e)) || !(modes & (1u << m)))
					continue;
				struct host_spec sp = *base;
				sp.engine = (enum bench_engine)e;
				sp.share = (enum ptbm_share)m;
				char scratch[4200];
				reads_file[e][m] = !sp.fresh || e == BE_MMAP;
				if (reads_file[e][m] != (pass == 1))
					continue;
				if (!reads_file[e][m]) {
					snprintf(scratch, sizeof scratch, "%s.%s-%s", data_path[0],
						 engine_name(sp.engine), ptbm_share_name(sp.share));
					sp.path = scratch;
				} else {
					sp.fresh = false;
					if (!(sp.path = data_file(p, files++)))
						continue;
				}
				s->host[e][m] = host_spawn(&sp);
			}
		}
		/* the files the readers need, written while the others fill */
		for (int i = 0; pass == 0 && i < readers && data_file(p, i); i++)
			;
		for (int m = 0; m < 2; m++)
			for (int e = BE_VM; e <= BE_MMAP; e++)
				if (reads_file[e][m] == (pass == 1) && s->host[e][m] &&
				    !s->ready[e * 2 + m].setup_s)
					wait_host(p, s, e, m);
	}
	progress_end(o);
}

/* Stop the section's hosts, the disk's too unless keep_disk. */
static void stop_hosts(struct section *s, bool keep_disk)
{
	for (int e = 0; e < BE_N; e++)
		for (int m = 0; m < 2; m++) {
			if (keep_disk && e == BE_DISK)
				continue;
			host_stop(s->host[e][m]);
			s->host[e][m] = NULL;
		}
}

static unsigned count_phases(const struct plan *p, unsigned first)
{
	return (p->rep->n_rows - first) * p->o->rounds;
}

/* Worker counts of the in-memory section: 1, 2, 4, ... and N. */
static unsigned worker_counts(unsigned max, unsigned *out)
{
	unsigned n = 0;
	for (unsigned w = 1; w < max; w *= 2)
		out[n++] = w;
	out[n++] = max;
	return n;
}

/* raw-huge is a limit only where it got its 2 MiB pages: say so when not. */
static void huge_note(struct bench_report *rep, unsigned first)
{
	for (unsigned i = first; i < rep->n_rows; i++) {
		const struct bench_row *r = &rep->rows[i];
		double data =
		    (double)(rep->opts->data_bytes / rep->opts->page_size) * rep->opts->page_size;
		if (r->engine != BE_HUGE || !r->rounds || r->med[F_HUGE] >= data / 2)
			continue;
		char pct[32];
		snprintf(pct, sizeof pct, "%.0f%%", 100 * r->med[F_HUGE] / data);
		note(rep,
		     "raw-huge: only %s of its memory was mapped by 2 MiB pages (see "
		     "/sys/kernel/mm/transparent_hugepage/enabled)%s",
		     pct, "");
		return;
	}
}

/*
 * Out of memory, processes mode: each miss adds a shmem folio to the pool's
 * object and each eviction takes one out. Where folios of the page size are
 * off, a page is two folios or more; say what turning them on does.
 */
static void folio_note(struct bench_report *rep, const struct bench_opts *o)
{
	char v[32], kib[16];
	if (!(o->modes & (1u << PTBM_SHARE_PROCESSES)) || !(o->engines & (1u << BE_VM)) ||
	    o->page_size <= 4096)
		return;
	thp_shmem_of_size(o->page_size, v, sizeof v);
	/* at advise a vm pool asks for them (MADV_HUGEPAGE on its frames) */
	if (!v[0] || !strcmp(v, "always") || !strcmp(v, "within_size") || !strcmp(v, "advise"))
		return;
	snprintf(kib, sizeof kib, "%u", o->page_size >> 10);
	note(rep,
	     "processes mode: shmem folios of the page size are off (transparent_hugepage/"
	     "hugepages-%skB/shmem_enabled; vm pools ask at advise), which would make misses "
	     "cheaper (docs/bench.md)%s",
	     kib, "");
}

static void in_memory(struct plan *p, const struct host_spec *base)
{
	const struct bench_opts *o = p->o;
	struct bench_report *rep = p->rep;
	struct section s = {.oom = false, .ready = &rep->ready[0][0]};
	struct host_spec sp = *base;
	sp.fresh = true;
	sp.workers = o->max_workers;
	sp.budget_bytes = in_memory_budget(sp.n_pages * sp.page_size);
	/* the limit in 2 MiB pages: one per mode, set up while the pools fill */
	for (int m = 0; m < 2; m++) {
		if (!(o->modes & (1u << m)))
			continue;
		struct host_spec hp = sp;
		hp.engine = BE_HUGE;
		hp.share = (enum ptbm_share)m;
		hp.fresh = false;
		hp.path = NULL;
		s.host[BE_HUGE][m] = host_spawn(&hp);
	}
	start_hosts(p, &s, &sp, o->modes);
	for (int m = 0; m < 2; m++)
		if (o->modes & (1u << m))
			wait_host(p, &s, BE_HUGE, m);
	progress_end(o);

	unsigned first = rep->n_rows, ws[16], nw = worker_counts(o->max_workers, ws);
	unsigned all = (1u << BE_RAW) | (1u << BE_HUGE) | ENGINE_BITS, pools = ENGINE_BITS;
	/* each worker count's reads in both modes take turns in one group: the
	 * goal that holds processes to threads compares slices side by side */
	int reads[16];
	for (unsigned i = 0; i < nw; i++)
		reads[i] = NEW_GROUP;
	for (int m = 0; m < 2; m++) {
		if (!(o->modes & (1u << m)))
			continue;
		enum ptbm_share sh = (enum ptbm_share)m;
		for (unsigned i = 0; i < nw; i++)
			reads[i] = add_config_to(p, &s, sh, ws[i], W_READ, 1, all, reads[i]);
		/* the raw reads again beside the optimistic ones: the limit
		 * from the same slices, not from another phase */
		add_config(p, &s, sh, o->max_workers, W_OPTIMISTIC, 1, all);
		add_config(p, &s, sh, o->max_workers, W_MIXED, 1, pools);
		add_config(p, &s, sh, o->max_workers, W_SCAN, 1, all);
	}
	p->total = p->done + count_phases(p, first);
	run_rounds(p, &s, first);
	huge_note(rep, first);

	/* a new process joining each warm processes-mode pool */
	if (o->modes & (1u << PTBM_SHARE_PROCESSES)) {
		for (int e = BE_VM; e <= BE_MMAP; e++) {
			struct bench_host *h = s.host[e][PTBM_SHARE_PROCESSES];
			const struct bench_row *r = report_find(
			    rep, (enum bench_engine)e, PTBM_SHARE_PROCESSES, 1, W_READ, false);
			if (!h || !r || !r->rounds)
				continue;
			progress_msg(o, "a new process joins the pool:", engine_name(e));
			struct bench_cmd cmd = row_cmd(o, r);
			cmd.seconds = o->fork_seconds;
			struct bench_warmup *w = &rep->warmup[e];
			w->steady_ops_per_s = r->med[F_OPS_PER_S];
			if (host_fork_warmup(h, &cmd, w) == 0)
				rep->has_warmup[e] = true;
		}
		progress_end(o);
	}
	stop_hosts(&s, false);
}

static void drop_file_cache(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/*
 * Out of memory, one mode at a time: the three engines of a mode read the
 * data at once, each from its own file (one pool per data file), and the
 * next mode's pools reuse those files; the disk's host reads the data file
 * with no pool and stays for both.
 */
static void out_of_memory(struct plan *p, const struct host_spec *base)
{
	const struct bench_opts *o = p->o;
	struct bench_report *rep = p->rep;
	struct section s = {.oom = true, .ready = &rep->oom_ready[0][0]};
	if (ensure_data_file(p) < 0)
		return;
	struct host_spec sp = *base;
	sp.fresh = false;
	sp.warm_budget = true;
	sp.workers = 1;
	sp.budget_bytes = o->budget_bytes;

	drop_file_cache(data_path[0]);
	struct host_spec disk = sp;
	disk.engine = BE_DISK;
	disk.share = PTBM_SHARE_THREADS;
	disk.path = data_path[0];
	progress_msg(o, "setting up", "disk");
	s.host[BE_DISK][0] = host_start(&disk, &s.ready[BE_DISK * 2]);
	if (!s.host[BE_DISK][0])
		note(rep, "disk ceiling: %s%s", s.ready[BE_DISK * 2].msg, "");

	unsigned pools = ENGINE_BITS, with_disk = ENGINE_BITS | (1u << BE_DISK);
	bool disk_done = false;
	for (int m = 0; m < 2; m++) {
		if (!(o->modes & (1u << m)))
			continue;
		for (int i = 0; i < DATA_FILES; i++)
			if (data_path[i][0])
				drop_file_cache(data_path[i]);
		start_hosts(p, &s, &sp, 1u << m);
		unsigned first = rep->n_rows;
		enum ptbm_share sh = (enum ptbm_share)m;
		/* the disk's rows in every mode: each mode's ratios pair rounds
		   (and slices) run side by side, not minutes apart */
		add_config(p, &s, sh, 1, W_READ, 1, with_disk);
		/* the batches' limits, the disk reading their misses and at a
		 * steady depth, in turns with them, not after them */
		int batches = add_config_to(p, &s, sh, 1, W_BATCH, o->qd, with_disk, NEW_GROUP);
		add_config_to(p, &s, sh, 1, W_BATCH_MISSES, o->qd, 1u << BE_DISK, batches);
		add_config_to(p, &s, sh, 1, W_READ_QD, o->qd, 1u << BE_DISK, batches);
		if (!disk_done || o->modes != 3) {
			/* writes and scans: in the first mode only, unless asked for one */
			add_config(p, &s, sh, 1, W_MIXED, 1, pools);
			add_config(p, &s, sh, 1, W_SCAN, o->qd, pools);
		}
		disk_done = true;
		p->total = p->done + count_phases(p, first);
		run_rounds(p, &s, first);
		stop_hosts(&s, true);
	}
	stop_hosts(&s, false);
	folio_note(rep, o);
}

/* ---- options ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: ptbm bench [options]\n"
		   "Compares PT-BM (vm) with a PostgreSQL-style hash-table buffer manager (hash)\n"
		   "and the file mapped by the OS (mmap), in memory and out of memory.\n"
		   "  --engines LIST      engines to run, of vm,hash,mmap (default all)\n"
		   "  --mode MODE         threads, processes or both (default both)\n"
		   "  --workers N         in memory: 1, 2, 4, ... N workers (default 2)\n"
		   "  --data SIZE         data set (default 1GiB)\n"
		   "  --budget SIZE       pool budget of the out-of-memory section (default "
		   "data/4)\n"
		   "  --page-size SIZE    page size, a multiple of 4 KiB (default 8KiB)\n"
		   "  --dist DIST         uniform, zipf or zipf:THETA, 0 < THETA < 1 (default "
		   "uniform;\n"
		   "                      zipf alone means theta 0.99)\n"
		   "  --writes FRACTION   share of writes in the mixed workload (default 0.2)\n"
		   "  --seconds S         length of each timed phase (default 0.2)\n"
		   "  --rounds N          interleaved rounds; medians are reported (default 3)\n"
		   "  --slice S           cut each phase into slices of at most S that take turns\n"
		   "                      with the other engines' (default 20ms; 0: whole phases)\n"
		   "  --qd N              queue depth of batched reads and of the disk ceiling "
		   "(default 32)\n"
		   "  --fork-seconds S    the longest a newly forked process is followed (default "
		   "3)\n"
		   "  --access A          dependent (the next page depends on the value read, "
		   "as in\n"
		   "                      an index descent; default) or independent\n"
		   "  --no-oom            skip the out-of-memory section\n"
		   "  --oom-only          only the out-of-memory section\n"
		   "  --background        vm pools retire eviction's victims on a releaser thread\n"
		   "                      (PTBM_BACKGROUND)\n"
		   "  --dir DIR           where the data file goes (default $TMPDIR or /var/tmp)\n"
		   "  --json FILE         write every figure as JSON\n"
		   "  --plot DIR          draw charts with gnuplot (PNG and SVG) into DIR\n"
		   "Sizes take units (8k, 1GiB, 1.5g); seconds take s, ms or m.\n"
		   "Exit status: 0 ok, 1 the run failed, 2 bad arguments or no room.\n");
}

static int bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "ptbm bench: bad value '%s' for --%s%s%s\n", val, opt, why ? ": " : "",
		why ? why : "");
	fprintf(stderr, "Try 'ptbm bench --help'.\n");
	return 2;
}

static int parse_engines(const char *text, unsigned *out)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", text);
	*out = 0;
	static const char *const names[] = {"all", "vm", "hash", "mmap", NULL};
	const unsigned bits[] = {ENGINE_BITS, 1u << BE_VM, 1u << BE_HASH, 1u << BE_MMAP};
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int i = opt_choice(t, names);
		if (i < 0)
			return -1;
		*out |= bits[i];
	}
	return *out ? 0 : -1;
}

static int parse_dist(const char *text, double *theta)
{
	if (!strcmp(text, "uniform")) {
		*theta = 0;
		return 0;
	}
	if (!strcmp(text, "zipf")) {
		*theta = 0.99;
		return 0;
	}
	char *end;
	if (strncmp(text, "zipf:", 5))
		return -1;
	double t = strtod(text + 5, &end);
	if (end == text + 5 || *end || !(t > 0 && t < 1))
		return -1;
	*theta = t;
	return 0;
}

static int parse_count(const char *text, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (end == text || *end || errno || v < lo || v > hi || *text == '-')
		return -1;
	*out = (unsigned)v;
	return 0;
}

enum {
	O_ENGINES = 1,
	O_MODE,
	O_WORKERS,
	O_DATA,
	O_BUDGET,
	O_PAGE_SIZE,
	O_DIST,
	O_WRITES,
	O_SECONDS,
	O_ROUNDS,
	O_QD,
	O_FORK,
	O_SLICE,
	O_ACCESS,
	O_NO_OOM,
	O_OOM_ONLY,
	O_BACKGROUND,
	O_DIR,
	O_JSON,
	O_PLOT,
};

static const struct opt options[] = {
    {"engines", true, O_ENGINES},
    {"mode", true, O_MODE},
    {"workers", true, O_WORKERS},
    {"data", true, O_DATA},
    {"budget", true, O_BUDGET},
    {"page-size", true, O_PAGE_SIZE},
    {"dist", true, O_DIST},
    {"writes", true, O_WRITES},
    {"seconds", true, O_SECONDS},
    {"rounds", true, O_ROUNDS},
    {"qd", true, O_QD},
    {"fork-seconds", true, O_FORK},
    {"slice", true, O_SLICE},
    {"access", true, O_ACCESS},
    {"no-oom", false, O_NO_OOM},
    {"oom-only", false, O_OOM_ONLY},
    {"background", false, O_BACKGROUND},
    {"dir", true, O_DIR},
    {"json", true, O_JSON},
    {"plot", true, O_PLOT},
    {NULL, false, 0},
};

/* 0 after --help, 2 for a bad argument, -1: parsed, run. */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	struct opt_parser p;
	opt_init(&p, argc, argv, options);
	int c;
	while ((c = opt_next(&p)) != OPT_END) {
		const char *name = opt_name(options, c), *val = p.value;
		uint64_t v;
		switch (c) {
		case O_ENGINES:
			if (parse_engines(val, &o->engines) < 0)
				return bad(name, val, "a list of vm, hash, mmap");
			break;
		case O_MODE: {
			static const char *const modes[] = {"threads", "processes", "both", NULL};
			const unsigned bits[] = {1u << PTBM_SHARE_THREADS,
						 1u << PTBM_SHARE_PROCESSES, 3};
			int i = opt_choice(val, modes);
			if (i < 0)
				return bad(name, val, "threads, processes or both");
			o->modes = bits[i];
			break;
		}
		case O_WORKERS:
			if (parse_count(val, 1, BENCH_MAX_WORKERS, &o->max_workers) < 0)
				return bad(name, val, "1 to 64");
			break;
		case O_DATA:
			if (parse_size(val, &o->data_bytes) < 0 || o->data_bytes == 0)
				return bad(name, val, "a size such as 1GiB");
			break;
		case O_BUDGET:
			if (parse_size(val, &o->budget_bytes) < 0 || o->budget_bytes == 0)
				return bad(name, val, "a size such as 256MiB");
			break;
		case O_PAGE_SIZE:
			if (parse_size(val, &v) < 0 || v < 4096 || v % 4096 || v > (1u << 24))
				return bad(name, val, "a multiple of 4 KiB up to 16 MiB");
			o->page_size = (uint32_t)v;
			break;
		case O_DIST:
			if (parse_dist(val, &o->zipf_theta) < 0)
				return bad(name, val, "uniform, zipf or zipf:THETA with 0<THETA<1");
			break;
		case O_WRITES:
			if (parse_fraction(val, &o->writes) < 0)
				return bad(name, val, "a fraction from 0 to 1, or a percentage");
			break;
		case O_SECONDS:
			if (parse_seconds(val, &o->seconds) < 0 || o->seconds > 3600)
				return bad(name, val, "a duration such as 0.5, 200ms or 2s");
			break;
		case O_ROUNDS:
			if (parse_count(val, 1, BENCH_MAX_ROUNDS, &o->rounds) < 0)
				return bad(name, val, "1 to 16");
			break;
		case O_QD:
			if (parse_count(val, 1, BENCH_MAX_QD, &o->qd) < 0)
				return bad(name, val, "1 to 256");
			break;
		case O_SLICE:
			if (strcmp(val, "0") == 0 || strcmp(val, "off") == 0)
				o->slice = 0;
			else if (parse_seconds(val, &o->slice) < 0 || o->slice < 0.001 ||
				 o->slice > 3600)
				return bad(name, val, "0, or a duration from 1ms, such as 20ms");
			break;
		case O_FORK:
			if (parse_seconds(val, &o->fork_seconds) < 0 || o->fork_seconds > 60)
				return bad(name, val, "a duration up to 60 s");
			break;
		case O_ACCESS: {
			static const char *const kinds[] = {"dependent", "independent", NULL};
			int i = opt_choice(val, kinds);
			if (i < 0)
				return bad(name, val, "dependent or independent");
			o->independent = i == 1;
			break;
		}
		case O_NO_OOM:
			o->out_of_memory = false;
			break;
		case O_OOM_ONLY:
			o->in_memory = false;
			break;
		case O_BACKGROUND:
			o->background = true;
			break;
		case O_DIR:
			o->dir = val;
			break;
		case O_JSON:
			o->json_path = val;
			break;
		case O_PLOT:
			o->plot_dir = val;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_NEEDS_VALUE:
			fprintf(stderr, "ptbm bench: option '%s' needs a value\n", p.arg);
			return 2;
		case OPT_POSITIONAL:
			fprintf(stderr, "ptbm bench: unexpected argument '%s'\n", p.arg);
			return 2;
		default: /* unknown, or a value for an option that takes none */
			fprintf(stderr, "ptbm bench: unknown option '%s'\n", p.arg);
			fprintf(stderr, "Try 'ptbm bench --help'.\n");
			return 2;
		}
	}
	return -1; /* parsed: run */
}

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	unsigned long long kb = 0;
	char line[128];
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

static int popcount(unsigned x)
{
	return __builtin_popcount(x);
}

/* Everything that can be checked before the run; 2 and a message if not. */
static int check_setup(struct bench_opts *o)
{
	char a[32], b[32], c[32];
	uint64_t n_pages = o->data_bytes / o->page_size;
	if (!o->in_memory && !o->out_of_memory) {
		fprintf(stderr, "ptbm bench: --no-oom and --oom-only leave nothing to run\n");
		return 2;
	}
	if (n_pages < 256) {
		fprintf(stderr,
			"ptbm bench: --data %s holds %llu pages of %s; at least 256 needed\n",
			format_size(o->data_bytes, a, sizeof a), (unsigned long long)n_pages,
			format_size(o->page_size, b, sizeof b));
		return 2;
	}
	if (o->zipf_theta > 0 && n_pages >= (1ull << 32)) {
		fprintf(stderr, "ptbm bench: --dist zipf takes at most 2^32 pages\n");
		return 2;
	}
	if (!o->budget_bytes)
		o->budget_bytes = o->data_bytes / 4;
	if (o->out_of_memory && o->budget_bytes < 128ull * o->page_size) {
		fprintf(stderr, "ptbm bench: --budget %s is below 128 pages\n",
			format_size(o->budget_bytes, a, sizeof a));
		return 2;
	}
	if (o->out_of_memory && o->budget_bytes >= o->data_bytes) {
		fprintf(stderr,
			"ptbm bench: --budget %s is not below --data %s: the out-of-memory "
			"section needs data larger than the budget\n",
			format_size(o->budget_bytes, a, sizeof a),
			format_size(o->data_bytes, b, sizeof b));
		return 2;
	}
	struct stat st;
	if (stat(o->dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(o->dir, W_OK) < 0) {
		fprintf(stderr, "ptbm bench: data directory %s: %s\n", o->dir,
			errno ? strerror(errno) : "not a writable directory");
		return 2;
	}
	/* the data file, and a copy for each pool that reads the data beside
	 * another one (one pool per data file): in memory mmap in both modes,
	 * out of memory every engine of a mode */
	int copies = o->in_memory && (o->engines & (1u << BE_MMAP)) && o->modes == 3 ? 1 : 0;
	int readers = popcount(o->engines & ENGINE_BITS);
	if (o->out_of_memory && readers - 1 > copies)
		copies = readers - 1;
	struct statvfs vfs;
	uint64_t need =
	    (o->data_bytes + 2ull * o->page_size) * (uint64_t)(1 + copies) + (16ull << 20);
	if (statvfs(o->dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
		fprintf(stderr,
			"ptbm bench: %s has %s free; the data file and its copies need %s\n",
			o->dir, format_size((uint64_t)vfs.f_bavail * vfs.f_frsize, a, sizeof a),
			format_size(need, b, sizeof b));
		return 2;
	}
	/* in memory: vm, hash and raw-huge hold the data once per mode, mmap's
	 * page cache once */
	int pools = popcount(o->engines & ((1u << BE_VM) | (1u << BE_HASH))) + 1;
	uint64_t mem = o->data_bytes * ((uint64_t)pools * (uint64_t)popcount(o->modes) +
					(o->engines & (1u << BE_MMAP) ? 1 : 0));
	uint64_t avail = mem_available();
	if (o->in_memory && avail && mem > avail / 10 * 8) {
		fprintf(stderr,
			"ptbm bench: the in-memory section needs about %s of memory (--data %s "
			"for each pool open at once), %s is available: lower --data or run "
			"fewer --engines or one --mode\n",
			format_size(mem, a, sizeof a), format_size(o->data_bytes, b, sizeof b),
			format_size(avail, c, sizeof c));
		return 2;
	}
	if (o->json_path) {
		FILE *f = fopen(o->json_path, "a");
		if (!f) {
			fprintf(stderr, "ptbm bench: cannot write --json %s: %s\n", o->json_path,
				strerror(errno));
			return 2;
		}
		fclose(f);
	}
	if (o->plot_dir) {
		if (mkdir(o->plot_dir, 0777) < 0 && errno != EEXIST) {
			fprintf(stderr, "ptbm bench: --plot %s: %s\n", o->plot_dir,
				strerror(errno));
			return 2;
		}
		if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
			fprintf(stderr, "ptbm bench: --plot needs gnuplot (Debian: apt-get install "
					"gnuplot-nox)\n");
			return 2;
		}
	}
	return 0;
}

int bench_main(int argc, char **argv)
{
	static struct bench_opts o;
	o = (struct bench_opts){
	    .engines = ENGINE_BITS,
	    .modes = 3,
	    .max_workers = 2,
	    .data_bytes = 1ull << 30,
	    .page_size = 8192,
	    .writes = 0.2,
	    .seconds = 0.2,
	    .slice = 0.02,
	    .rounds = 3,
	    .qd = 32,
	    .fork_seconds = 3,
	    .in_memory = true,
	    .out_of_memory = true,
	    .dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp",
	};
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if ((rc = check_setup(&o)) != 0)
		return rc;
	o.progress = isatty(STDERR_FILENO);

	static struct bench_report rep;
	rep.opts = &o;
	int len = snprintf(rep.command, sizeof rep.command, "ptbm bench");
	for (int i = 1; i < argc && len > 0 && (size_t)len < sizeof rep.command; i++)
		len +=
		    snprintf(rep.command + len, sizeof rep.command - (size_t)len, " %s", argv[i]);
	double t0 = now_s();
	rep.tsc_ns = tsc_calibrate();
	/* before any pool exists: which kind of host the figures come from */
	rep.paging_rc = probe_paging_quick(&rep.paging);
	uint64_t n_pages = o.data_bytes / o.page_size;
	struct bench_keys keys = {.n_pages = n_pages, .dependent = !o.independent};
	if (o.zipf_theta > 0) {
		unsigned bits = 22;
		keys.zipf = keys_zipf(n_pages, o.zipf_theta, bits);
		keys.zipf_mask = (1ull << bits) - 1;
		if (!keys.zipf) {
			fprintf(stderr, "ptbm bench: out of memory for the Zipf table\n");
			return 1;
		}
	}
	uint8_t *hot = NULL;
	if (o.out_of_memory && !(hot = keys_hot(&keys, o.budget_bytes / o.page_size))) {
		fprintf(stderr, "ptbm bench: out of memory for the ideal cache's bitmap\n");
		return 1;
	}
	keys.hot = hot;
	for (int i = 0; i < DATA_FILES; i++)
		snprintf(data_path[i], sizeof data_path[i], "%s/ptbm-bench-%d.data%s", o.dir,
			 (int)getpid(),
			 i == 0	  ? ""
			 : i == 1 ? ".copy1"
				  : ".copy2");
	snprintf(rep.data_path, sizeof rep.data_path, "%s", data_path[0]);
	atexit(remove_data);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	struct host_spec base = {
	    .n_pages = n_pages,
	    .page_size = o.page_size,
	    .qd = o.qd,
	    .keys = &keys,
	    .tsc_ns = rep.tsc_ns,
	    .background = o.background,
	};
	static struct plan plan;
	plan.o = &o;
	plan.rep = &rep;
	plan.t_start = now_s();
	if (o.in_memory)
		in_memory(&plan, &base);
	if (o.out_of_memory)
		out_of_memory(&plan, &base);
	progress_end(&o);
	remove_data();

	bench_goals(&rep);
	rep.seconds = now_s() - t0;
	report_table(stdout, &rep);
	fflush(stdout);
	int status = 0;
	if (o.json_path && report_json(o.json_path, &rep) < 0) {
		fprintf(stderr, "ptbm bench: cannot write %s: %s\n", o.json_path, strerror(errno));
		status = 1;
	}
	if (o.plot_dir && report_plot(o.plot_dir, &rep) < 0)
		status = 1;
	unsigned measured = 0;
	for (unsigned i = 0; i < rep.n_rows; i++)
		measured += rep.rows[i].rounds > 0;
	if (!measured) {
		fprintf(stderr, "ptbm bench: nothing could be measured\n");
		status = 1;
	}
	return status;
}
