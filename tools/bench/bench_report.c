/*
 * bench_report.c - what `ptbm bench` prints and writes: the Markdown tables
 * (one row per engine x configuration, medians over the rounds), the ratios
 * of vm to the other engines and to the physical limits, the warm-up of a
 * new process, the project's performance goals, and the same figures as JSON.
 */
#include "bench.h"
#include "json.h"
#include "thp.h"
#include "units.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

const char *const fig_json_name[F_N] = {
    [F_SECONDS] = "seconds",
    [F_OPS] = "ops",
    [F_OPS_PER_S] = "ops_per_s",
    [F_P50] = "p50_ns",
    [F_P99] = "p99_ns",
    [F_P999] = "p999_ns",
    [F_MEAN] = "mean_ns",
    [F_MINFLT] = "minor_faults_per_op",
    [F_MAJFLT] = "major_faults_per_op",
    [F_CPU] = "cpu_ns_per_op",
    [F_READ] = "read_bytes",
    [F_WRITTEN] = "written_bytes",
    [F_READS_S] = "disk_reads_per_s",
    [F_EVICTIONS] = "evictions",
    [F_RESTARTS] = "restarts",
    [F_RSS] = "peak_rss_bytes",
    [F_SHM] = "shared_bytes",
    [F_RESIDENT] = "resident_bytes",
    [F_HUGE] = "huge_mapped_bytes",
};

const char *engine_name(enum bench_engine e)
{
	static const char *const n[BE_N] = {"raw", "vm", "hash", "mmap", "disk", "raw-huge"};
	return (unsigned)e < BE_N ? n[e] : "?";
}

const char *work_name(enum bench_work w)
{
	static const char *const n[W_N] = {"read",  "optimistic", "mixed",	 "scan",
					   "batch", "read_qd",	  "batch_misses"};
	return (unsigned)w < W_N ? n[w] : "?";
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double bench_median(double *v, unsigned n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct bench_spread report_spread(const struct bench_row *a, const struct bench_row *b,
				  enum bench_fig fa, enum bench_fig fb)
{
	struct bench_spread s = {NAN, NAN, NAN};
	double q[BENCH_MAX_ROUNDS];
	unsigned n = 0;
	for (unsigned i = 0; a && b && i < a->rounds && i < b->rounds; i++)
		if (b->round[i][fb] > 0)
			q[n++] = a->round[i][fa] / b->round[i][fb];
	if (!n)
		return s;
	s.med = bench_median(q, n); /* sorted now */
	s.lo = q[0];
	s.hi = q[n - 1];
	return s;
}

const struct bench_row *report_limit(const struct bench_report *r, const struct bench_row *v,
				     enum bench_fig *fig)
{
	if (v->oom) {
		*fig = F_READS_S;
		/* batches: the disk at the depth the same batches offer */
		enum bench_work w = v->work == W_BATCH ? W_BATCH_MISSES : v->work;
		/* the disk's rows beside the pools of v's mode */
		const struct bench_row *d = report_find(r, BE_DISK, v->share, 1, w, true);
		return d && d->rounds ? d : NULL;
	}
	*fig = F_OPS_PER_S;
	/* where the raw reads ran (reads, optimistic reads, scans), in the same
	 * slices: the fastest of them and mmap */
	static const enum bench_engine cand[] = {BE_RAW, BE_HUGE, BE_MMAP};
	const struct bench_row *best = NULL;
	bool raw = false;
	for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
		const struct bench_row *x =
		    report_find(r, cand[i], v->share, v->workers, v->work, false);
		if (!x || !x->rounds)
			continue;
		raw |= cand[i] != BE_MMAP;
		if (!best || x->med[F_OPS_PER_S] > best->med[F_OPS_PER_S])
			best = x;
	}
	return raw ? best : NULL;
}

const struct bench_row *report_find(const struct bench_report *r, enum bench_engine e,
				    enum ptbm_share s, unsigned workers, enum bench_work w,
				    bool oom)
{
	for (unsigned i = 0; i < r->n_rows; i++) {
		const struct bench_row *x = &r->rows[i];
		if (x->engine == e && x->share == s && x->workers == workers && x->work == w &&
		    x->oom == oom)
			return x;
	}
	return NULL;
}

/* ---- the machine -------------------------------------------------------------- */

static void cpu_model(char *buf, size_t len)
{
	snprintf(buf, len, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	while (f && fgets(line, sizeof line, f)) {
		char *c = strchr(line, ':');
		if (!strncmp(line, "model name", 10) && c) {
			c += 2;
			c[strcspn(c, "\n")] = 0;
			snprintf(buf, len, "%s", c);
			break;
		}
	}
	if (f)
		fclose(f);
}

static uint64_t mem_total(void)
{
	return (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* "Linux 6.18.0 #1 SMP ... x86_64" */
static const char *kernel(void)
{
	static char buf[sizeof(struct utsname) + 8];
	struct utsname u;
	if (uname(&u) < 0)
		return "unknown";
	snprintf(buf, sizeof buf, "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
	return buf;
}

/* "shmem_enabled never, hugepages-8kB never": the settings that decide the
 * folio a fault in the pools' shmem frames gets (the top level, and the
 * pool's page size, where the kernel has per-size settings). */
static const char *shmem_folios(uint32_t page_size)
{
	static char buf[160];
	char top[40], size[40];
	thp_choice("shmem_enabled", top, sizeof top);
	thp_shmem_of_size(page_size, size, sizeof size);
	snprintf(buf, sizeof buf, "shmem_enabled %s, hugepages-%ukB %s", top[0] ? top : "absent",
		 page_size >> 10, size[0] ? size : "absent");
	return buf;
}

/* ---- human units ----------------------------------------------------------------- */

static const char *fmt_rate(double v, char *b, size_t n)
{
	if (v >= 1e6)
		snprintf(b, n, "%.2f M", v / 1e6);
	else if (v >= 1e3)
		snprintf(b, n, "%.1f k", v / 1e3);
	else
		snprintf(b, n, "%.0f", v);
	return b;
}

static const char *fmt_ns(double v, char *b, size_t n)
{
	if (v < 1e3)
		snprintf(b, n, "%.0f ns", v);
	else if (v < 1e6)
		snprintf(b, n, "%.1f us", v / 1e3);
	else if (v < 1e9)
		snprintf(b, n, "%.2f ms", v / 1e6);
	else
		snprintf(b, n, "%.2f s", v / 1e9);
	return b;
}

static const char *fmt_bytes(double v, char *b, size_t n)
{
	if (v < 1)
		return "0";
	return format_size((uint64_t)v, b, (int)n);
}

static const char *fmt_per_op(double v, char *b, size_t n)
{
	if (v == 0)
		return "0";
	snprintf(b, n, v >= 0.01 ? "%.3f" : "%.2g", v);
	return b;
}

static const char *fmt_count(double v, char *b, size_t n)
{
	if (v >= 1e6)
		snprintf(b, n, "%.2f M", v / 1e6);
	else
		snprintf(b, n, "%.0f", v);
	return b;
}

/* "read", "read QD32", "mixed 20% writes", "scan, read-ahead 32". */
static const char *workload_label(const struct bench_report *r, const struct bench_row *x, char *b,
				  size_t n)
{
	switch (x->work) {
	case W_MIXED:
		snprintf(b, n, "mixed, %.0f%% writes", r->opts->writes * 100);
		break;
	case W_BATCH:
		snprintf(b, n, "batches of %u", x->qd);
		break;
	case W_READ_QD:
		snprintf(b, n, "read QD%u", x->qd);
		break;
	case W_BATCH_MISSES:
		snprintf(b, n, "batches of %u, misses only", x->qd);
		break;
	case W_SCAN:
		if (x->qd > 1)
			snprintf(b, n, "scan, read-ahead %u", x->qd);
		else
			snprintf(b, n, "scan");
		break;
	default:
		snprintf(b, n, "%s", work_name(x->work));
	}
	return b;
}

/* ---- tables ---------------------------------------------------------------------------- */

enum col_kind { C_RATE, C_NS, C_PER_OP, C_BYTES, C_COUNT };

struct column {
	const char *title;
	enum bench_fig fig;
	enum col_kind kind;
	bool oom_only;
};

static const struct column columns[] = {
    {"ops/s", F_OPS_PER_S, C_RATE, false},
    {"disk reads/s", F_READS_S, C_RATE, true},
    {"p50", F_P50, C_NS, false},
    {"p99", F_P99, C_NS, false},
    {"p99.9", F_P999, C_NS, false},
    {"minor faults/op", F_MINFLT, C_PER_OP, false},
    {"major faults/op", F_MAJFLT, C_PER_OP, false},
    {"CPU/op", F_CPU, C_NS, true},
    {"read", F_READ, C_BYTES, false},
    {"written", F_WRITTEN, C_BYTES, false},
    {"evictions", F_EVICTIONS, C_COUNT, false},
    {"peak RSS", F_RSS, C_BYTES, false},
    {"shared", F_SHM, C_BYTES, false},
    {"resident", F_RESIDENT, C_BYTES, true},
    {"2M-mapped", F_HUGE, C_BYTES, false},
};
#define N_COLUMNS (sizeof columns / sizeof columns[0])

static const char *fmt_col(const struct column *c, double v, char *b, size_t n)
{
	switch (c->kind) {
	case C_RATE:
		return fmt_rate(v, b, n);
	case C_NS:
		return fmt_ns(v, b, n);
	case C_PER_OP:
		return fmt_per_op(v, b, n);
	case C_BYTES:
		return fmt_bytes(v, b, n);
	case C_COUNT:
		return fmt_count(v, b, n);
	}
	return "?";
}

static void table(FILE *f, const struct bench_report *r, bool oom)
{
	fprintf(f, "| engine | mode | workers | workload |");
	for (unsigned c = 0; c < N_COLUMNS; c++)
		if (oom || !columns[c].oom_only)
			fprintf(f, " %s |", columns[c].title);
	fprintf(f, "\n|---|---|---|---|");
	for (unsigned c = 0; c < N_COLUMNS; c++)
		if (oom || !columns[c].oom_only)
			fprintf(f, "---|");
	fprintf(f, "\n");
	for (unsigned i = 0; i < r->n_rows; i++) {
		const struct bench_row *x = &r->rows[i];
		if (x->oom != oom)
			continue;
		char b[64];
		fprintf(f, "| %s | %s | %u | %s |", engine_name(x->engine),
			ptbm_share_name(x->share), x->workers, workload_label(r, x, b, sizeof b));
		if (!x->rounds) {
			fprintf(f, " %s |\n", x->note ? x->note : "not measured");
			continue;
		}
		for (unsigned c = 0; c < N_COLUMNS; c++)
			if (oom || !columns[c].oom_only)
				fprintf(f, " %s |",
					fmt_col(&columns[c], x->med[columns[c].fig], b, sizeof b));
		fprintf(f, "\n");
	}
	fprintf(f, "\n");
}

/* Ratio of vm to another row on fig, as "2.31x", or "-". */
/* vm's row and those it is compared with: hash, mmap, and the limit. */
struct ratio_set {
	const struct bench_row *v, *h, *m, *l;
	enum bench_fig lf;	 /* the limit's figure: ops/s, or disk reads/s */
	double vh, vm, vl;	 /* the ratios, NAN where one side is missing */
	struct bench_spread vls; /* vm/limit round by round */
	double vhs, vms;	 /* vm/hash, vm/mmap: the median of the rounds' ratios */
};

static double quotient(const struct bench_row *a, const struct bench_row *b, enum bench_fig fa,
		       enum bench_fig fb)
{
	if (!a || !b || !a->rounds || !b->rounds || b->med[fb] <= 0)
		return NAN;
	return a->med[fa] / b->med[fb];
}

static void ratio_set(const struct bench_report *r, const struct bench_row *v, struct ratio_set *x)
{
	x->v = v;
	x->h = report_find(r, BE_HASH, v->share, v->workers, v->work, v->oom);
	x->m = report_find(r, BE_MMAP, v->share, v->workers, v->work, v->oom);
	x->l = report_limit(r, v, &x->lf);
	x->vh = quotient(v, x->h, F_OPS_PER_S, F_OPS_PER_S);
	x->vm = quotient(v, x->m, F_OPS_PER_S, F_OPS_PER_S);
	x->vl = quotient(v, x->l, x->lf, x->lf);
	x->vls = report_spread(v, x->l, x->lf, x->lf);
	x->vhs = report_spread(v, x->h, F_OPS_PER_S, F_OPS_PER_S).med;
	x->vms = report_spread(v, x->m, F_OPS_PER_S, F_OPS_PER_S).med;
}

static const char *fmt_ratio(double q, char *b, size_t n)
{
	if (isnan(q))
		return "-";
	snprintf(b, n, "%.2fx", q);
	return b;
}

static void ratios(FILE *f, const struct bench_report *r)
{
	fprintf(f, "| section | mode | workers | workload | vm/hash | vm/mmap | vm/limit | "
		   "limit | vm/limit by round: median (least-greatest) |\n"
		   "|---|---|---|---|---|---|---|---|---|\n");
	for (unsigned i = 0; i < r->n_rows; i++) {
		if (r->rows[i].engine != BE_VM)
			continue;
		struct ratio_set x;
		ratio_set(r, &r->rows[i], &x);
		char b1[16], b2[16], b3[16], w[64], lim[48] = "", by[64] = "-";
		if (x.l)
			snprintf(lim, sizeof lim, "%s %s", engine_name(x.l->engine),
				 x.v->oom ? "reads/s" : "ops/s");
		if (!isnan(x.vls.med))
			snprintf(by, sizeof by, "%.2fx (%.2f-%.2f)", x.vls.med, x.vls.lo, x.vls.hi);
		fprintf(f, "| %s | %s | %u | %s | %s | %s | %s | %s | %s |\n",
			x.v->oom ? "out of memory" : "in memory", ptbm_share_name(x.v->share),
			x.v->workers, workload_label(r, x.v, w, sizeof w),
			fmt_ratio(x.vh, b1, sizeof b1), fmt_ratio(x.vm, b2, sizeof b2),
			fmt_ratio(x.vl, b3, sizeof b3), lim, by);
	}
	fprintf(f, "\n");
}

static void warmups(FILE *f, const struct bench_report *r)
{
	bool any = false;
	for (int e = 0; e < BE_N; e++)
		any = any || r->has_warmup[e] || r->ready[e][PTBM_SHARE_PROCESSES].warm_s > 0;
	if (!any)
		return;
	double pages = (double)(r->opts->data_bytes / r->opts->page_size);
	fprintf(f, "## A new process joining a warm pool (processes mode, in memory)\n\n"
		   "| engine | crew worker's first pass over every page | faults/page | new "
		   "process: first 5 ms | reaches 90%% of steady after | minor faults until then "
		   "| steady (warm worker) |\n|---|---|---|---|---|---|---|\n");
	for (int e = BE_VM; e <= BE_MMAP; e++) {
		const struct host_ready *rd = &r->ready[e][PTBM_SHARE_PROCESSES];
		const struct bench_warmup *w = &r->warmup[e];
		if (!r->has_warmup[e] && rd->warm_s <= 0)
			continue;
		char a[32], b[32], c[32], d[32], e2[32];
		if (w->t90_s >= 0)
			snprintf(c, sizeof c, "%.0f ms", w->t90_s * 1e3);
		else
			snprintf(c, sizeof c, "not within %.1f s", w->seconds);
		fprintf(f, "| %s | %s | %.2f | %s ops/s | %s | %s | %s ops/s |\n",
			engine_name((enum bench_engine)e), fmt_ns(rd->warm_s * 1e9, a, sizeof a),
			rd->warm_minflt / pages,
			r->has_warmup[e] ? fmt_rate(w->first_ops_s, b, sizeof b) : "-",
			r->has_warmup[e] ? c : "-",
			r->has_warmup[e] ? fmt_count(w->minflt_t90, d, sizeof d) : "-",
			fmt_rate(w->steady_ops_per_s, e2, sizeof e2));
	}
	fprintf(f, "\n");
}

/* How long each host took to open its pool and fill or warm it. */
static void setup_line(FILE *f, const struct bench_report *r, bool oom)
{
	const struct host_ready(*rd)[2] = oom ? r->oom_ready : r->ready;
	bool any = false;
	for (int e = BE_VM; e < BE_N; e++)
		for (int m = 0; m < 2; m++) {
			const struct host_ready *x = &rd[e][m];
			if (x->setup_s <= 0)
				continue;
			fprintf(f, "%s%s %s %.1f s",
				any   ? ", "
				: oom ? "- setup, out of memory (warming "
					"the budget): "
				      : "- setup, in memory: ",
				engine_name((enum bench_engine)e),
				ptbm_share_name((enum ptbm_share)m), x->setup_s);
			if (x->warm_s > 0)
				fprintf(f, " + %.1f s first pass of each worker", x->warm_s);
			any = true;
		}
	if (any)
		fprintf(f, "\n");
}

void report_table(FILE *f, const struct bench_report *r)
{
	const struct bench_opts *o = r->opts;
	char cpu[128], a[32], b[32], c[32];
	const char *k = kernel();
	cpu_model(cpu, sizeof cpu);
	fprintf(f, "# ptbm bench\n\n");
	fprintf(f, "- command: `%s` (%.0f s)\n", r->command, r->seconds);
	fprintf(f, "- machine: %s, %ld cores, %s memory; %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
		format_size(mem_total(), a, sizeof a), k);
	if (r->paging_rc == 0)
		fprintf(f,
			"- host: %s (a fault %.1f us of CPU; first touches of shared pages %.1fx "
			"the cost of populating them; `ptbm probe --only costs` adds a third "
			"signal)\n",
			r->paging.kind, r->paging.fault_ns / 1e3, r->paging.touch_vs_populate);
	else
		fprintf(f, "- host: kind not measured (%s)\n", strerror(-r->paging_rc));
	fprintf(f, "- transparent_hugepage, shmem: %s\n", shmem_folios(o->page_size));
	fprintf(f, "- data: %s of %s pages (%llu pages), %s, %s access",
		format_size(o->data_bytes, a, sizeof a), format_size(o->page_size, b, sizeof b),
		(unsigned long long)(o->data_bytes / o->page_size),
		o->zipf_theta > 0 ? "Zipf" : "uniform random",
		o->independent ? "independent" : "dependent");
	if (o->zipf_theta > 0)
		fprintf(f, " (theta %.2f)", o->zipf_theta);
	fprintf(f, "\n- each phase %.2f s, %u rounds with the engines interleaved; medians\n",
		o->seconds, o->rounds);
	unsigned slices = 0;
	for (unsigned i = 0; i < r->n_rows; i++)
		slices = r->rows[i].slices > slices ? r->rows[i].slices : slices;
	if (slices > 1)
		fprintf(f,
			"- each phase cut into %u slices of %.0f ms that take turns with the other "
			"engines' of the same configuration\n",
			slices, o->seconds / slices * 1e3);
	if (o->out_of_memory)
		fprintf(f,
			"- out of memory: budget %s (data = %.1fx budget), one worker, batches "
			"and disk queue depth %u; the data file was written in %.1f s\n",
			format_size(o->budget_bytes, c, sizeof c),
			(double)o->data_bytes / (double)o->budget_bytes, o->qd, r->data_file_s);
	if (r->copies)
		fprintf(f,
			"- %d cop%s of the data file (a data file is open in one pool at a time, "
			"so pools that read the data side by side read a file each): %.1f s\n",
			r->copies, r->copies > 1 ? "ies" : "y", r->copy_s);
	setup_line(f, r, false);
	setup_line(f, r, true);
	fprintf(f, "\n");
	if (o->in_memory) {
		fprintf(f, "## In memory\n\n");
		table(f, r, false);
	}
	if (o->out_of_memory) {
		fprintf(f, "## Out of memory\n\n");
		table(f, r, true);
	}
	fprintf(f, "## Ratios (ops/s; vm/limit: in memory the fastest of raw, raw-huge and mmap "
		   "in the same configuration, out of memory disk reads/s at the same queue "
		   "depth)\n\n");
	ratios(f, r);
	warmups(f, r);
	fprintf(f, "## Goals\n\n");
	for (unsigned i = 0; i < r->n_goals; i++) {
		const struct bench_goal *g = &r->goals[i];
		fprintf(f, "- **%s** %s: %s\n",
			!g->measured ? "not measured"
			: g->met     ? "met"
				     : "NOT MET",
			g->name, g->measured ? g->figure : "not run in this configuration");
	}
	fprintf(f, "\n");
	if (r->n_notes) {
		fprintf(f, "## Notes\n\n");
		for (unsigned i = 0; i < r->n_notes; i++)
			fprintf(f, "- %s\n", r->notes[i]);
		fprintf(f, "\n");
	}
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void json_num(FILE *f, double v)
{
	if (!isfinite(v))
		fprintf(f, "null");
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.6g", v);
}

static void json_key(FILE *f, const char *k, bool *first)
{
	fprintf(f, "%s", *first ? "" : ", ");
	*first = false;
	json_string(f, k);
	fprintf(f, ": ");
}

static void json_kv_s(FILE *f, const char *k, const char *v, bool *first)
{
	json_key(f, k, first);
	json_string(f, v);
}

static void json_kv_n(FILE *f, const char *k, double v, bool *first)
{
	json_key(f, k, first);
	json_num(f, v);
}

static void json_row(FILE *f, const struct bench_report *r, const struct bench_row *x)
{
	const struct bench_opts *o = r->opts;
	bool first = true;
	char dist[32];
	if (o->zipf_theta > 0)
		snprintf(dist, sizeof dist, "zipf:%.2f", o->zipf_theta);
	else
		snprintf(dist, sizeof dist, "uniform");
	uint64_t data = o->data_bytes / o->page_size * o->page_size;
	fprintf(f, "    {");
	json_kv_s(f, "engine", engine_name(x->engine), &first);
	json_kv_s(f, "mode", ptbm_share_name(x->share), &first);
	json_kv_n(f, "workers", x->workers, &first);
	json_kv_s(f, "workload", work_name(x->work), &first);
	json_kv_s(f, "memory", x->oom ? "out_of_memory" : "in_memory", &first);
	json_kv_s(f, "dist", dist, &first);
	json_kv_n(f, "qd", x->qd, &first);
	json_kv_n(f, "writes", x->work == W_MIXED ? o->writes : 0, &first);
	json_kv_n(f, "data_bytes", (double)data, &first);
	json_kv_n(f, "budget_bytes",
		  x->engine == BE_DISK ? 0
		  : x->oom	       ? (double)o->budget_bytes
				       : (double)in_memory_budget(data),
		  &first);
	json_kv_n(f, "rounds", x->rounds, &first);
	json_kv_n(f, "slices", x->slices, &first);
	for (int k = 0; k < F_N; k++)
		json_kv_n(f, fig_json_name[k], x->rounds ? x->med[k] : NAN, &first);
	/* every round, for the figures the goals are judged on */
	static const enum bench_fig by_round[] = {F_OPS_PER_S, F_READS_S};
	for (size_t k = 0; k < sizeof by_round / sizeof by_round[0]; k++) {
		char key[64];
		snprintf(key, sizeof key, "%s_rounds", fig_json_name[by_round[k]]);
		json_key(f, key, &first);
		fprintf(f, "[");
		for (unsigned i = 0; i < x->rounds; i++) {
			fprintf(f, "%s", i ? ", " : "");
			json_num(f, x->round[i][by_round[k]]);
		}
		fprintf(f, "]");
	}
	if (x->note)
		json_kv_s(f, "note", x->note, &first);
	fprintf(f, "}");
}

static void json_config(FILE *f, const struct bench_report *r)
{
	const struct bench_opts *o = r->opts;
	bool first = true;
	char eng[32] = "";
	for (int e = BE_VM; e <= BE_MMAP; e++)
		if (o->engines & (1u << e))
			snprintf(eng + strlen(eng), sizeof eng - strlen(eng), "%s%s",
				 *eng ? "," : "", engine_name((enum bench_engine)e));
	fprintf(f, "  \"config\": {");
	json_kv_s(f, "engines", eng, &first);
	json_kv_s(f, "mode", o->modes == 3 ? "both" : ptbm_share_name(o->modes == 1 ? 0 : 1),
		  &first);
	json_kv_n(f, "workers", o->max_workers, &first);
	json_kv_n(f, "data_bytes", (double)o->data_bytes, &first);
	json_kv_n(f, "budget_bytes", (double)o->budget_bytes, &first);
	json_kv_n(f, "page_size", o->page_size, &first);
	json_kv_n(f, "zipf_theta", o->zipf_theta, &first);
	json_kv_n(f, "writes", o->writes, &first);
	json_kv_n(f, "seconds", o->seconds, &first);
	json_kv_n(f, "rounds", o->rounds, &first);
	json_kv_n(f, "slice_seconds", o->slice, &first);
	json_kv_n(f, "qd", o->qd, &first);
	json_kv_s(f, "access", o->independent ? "independent" : "dependent", &first);
	json_kv_s(f, "data_path", r->data_path, &first);
	json_kv_n(f, "data_file_seconds", r->data_file_s, &first);
	json_kv_n(f, "data_file_copies", r->copies, &first);
	json_kv_n(f, "data_file_copy_seconds", r->copy_s, &first);
	fprintf(f, "},\n");
}

static void json_ratios(FILE *f, const struct bench_report *r)
{
	fprintf(f, "  \"ratios\": [");
	bool any = false;
	for (unsigned i = 0; i < r->n_rows; i++) {
		if (r->rows[i].engine != BE_VM)
			continue;
		struct ratio_set x;
		ratio_set(r, &r->rows[i], &x);
		bool first = true;
		fprintf(f, "%s\n    {", any ? "," : "");
		any = true;
		json_kv_s(f, "memory", x.v->oom ? "out_of_memory" : "in_memory", &first);
		json_kv_s(f, "mode", ptbm_share_name(x.v->share), &first);
		json_kv_n(f, "workers", x.v->workers, &first);
		json_kv_s(f, "workload", work_name(x.v->work), &first);
		json_kv_n(f, "vm_over_hash", x.vh, &first);
		json_kv_n(f, "vm_over_mmap", x.vm, &first);
		json_kv_n(f, "vm_over_hash_rounds_median", x.vhs, &first);
		json_kv_n(f, "vm_over_mmap_rounds_median", x.vms, &first);
		json_kv_n(f, "vm_over_limit", x.vl, &first);
		json_kv_s(f, "limit", x.l ? engine_name(x.l->engine) : "", &first);
		json_kv_s(f, "limit_figure", x.l ? fig_json_name[x.lf] : "", &first);
		json_kv_n(f, "limit_value", x.l ? x.l->med[x.lf] : NAN, &first);
		json_kv_n(f, "vm_over_limit_rounds_median", x.vls.med, &first);
		json_kv_n(f, "vm_over_limit_rounds_least", x.vls.lo, &first);
		json_kv_n(f, "vm_over_limit_rounds_greatest", x.vls.hi, &first);
		fprintf(f, "}");
	}
	fprintf(f, "%s],\n", any ? "\n  " : "");
}

static void json_warmups(FILE *f, const struct bench_report *r)
{
	fprintf(f, "  \"warmup\": [");
	bool any = false;
	for (int e = BE_VM; e <= BE_MMAP; e++) {
		if (!r->has_warmup[e])
			continue;
		const struct bench_warmup *w = &r->warmup[e];
		const struct host_ready *rd = &r->ready[e][PTBM_SHARE_PROCESSES];
		bool first = true;
		fprintf(f, "%s\n    {", any ? "," : "");
		any = true;
		json_kv_s(f, "engine", engine_name((enum bench_engine)e), &first);
		json_kv_n(f, "crew_first_pass_seconds", rd->warm_s, &first);
		json_kv_n(f, "crew_first_pass_minor_faults", rd->warm_minflt, &first);
		json_kv_n(f, "steady_ops_per_s", w->steady_ops_per_s, &first);
		json_kv_n(f, "first_interval_ops_per_s", w->first_ops_s, &first);
		json_kv_n(f, "seconds_to_90pct", w->t90_s >= 0 ? w->t90_s : NAN, &first);
		json_kv_n(f, "minor_faults_to_90pct", w->minflt_t90, &first);
		json_kv_n(f, "interval_seconds", w->interval_s, &first);
		json_key(f, "ops_per_s", &first);
		fprintf(f, "[");
		for (unsigned i = 0; i < w->n; i++) {
			fprintf(f, "%s", i ? ", " : "");
			json_num(f, round(w->ops_per_s[i]));
		}
		fprintf(f, "]}");
	}
	fprintf(f, "%s],\n", any ? "\n  " : "");
}

int report_json(const char *path, const struct bench_report *r)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	char cpu[128];
	const char *k = kernel();
	cpu_model(cpu, sizeof cpu);
	bool first = true;
	fprintf(f, "{\n  ");
	json_kv_s(f, "ptbm_version", PTBM_VERSION_STRING, &first);
	fprintf(f, ",\n  ");
	first = true;
	json_kv_s(f, "command", r->command, &first);
	fprintf(f, ",\n  \"machine\": {");
	first = true;
	json_kv_s(f, "cpu_model", cpu, &first);
	json_kv_n(f, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN), &first);
	json_kv_n(f, "memory_bytes", (double)mem_total(), &first);
	json_kv_n(f, "ns_per_tsc_cycle", r->tsc_ns, &first);
	json_kv_s(f, "thp_shmem", shmem_folios(r->opts->page_size), &first);
	json_kv_s(f, "host_paging", r->paging_rc == 0 ? r->paging.kind : "not measured", &first);
	if (r->paging_rc == 0) {
		json_kv_n(f, "host_paging_fault_ns", r->paging.fault_ns, &first);
		json_kv_n(f, "host_paging_touch_vs_populate", r->paging.touch_vs_populate, &first);
	}
	fprintf(f, "},\n  ");
	first = true;
	json_kv_s(f, "kernel", k, &first);
	fprintf(f, ",\n");
	json_config(f, r);
	fprintf(f, "  \"results\": [\n");
	for (unsigned i = 0; i < r->n_rows; i++) {
		json_row(f, r, &r->rows[i]);
		fprintf(f, "%s\n", i + 1 < r->n_rows ? "," : "");
	}
	fprintf(f, "  ],\n");
	json_ratios(f, r);
	json_warmups(f, r);
	fprintf(f, "  \"goals\": [");
	for (unsigned i = 0; i < r->n_goals; i++) {
		const struct bench_goal *g = &r->goals[i];
		first = true;
		fprintf(f, "%s\n    {", i ? "," : "");
		json_kv_s(f, "goal", g->name, &first);
		json_kv_s(f, "status",
			  !g->measured ? "not measured"
			  : g->met     ? "met"
				       : "not met",
			  &first);
		json_kv_s(f, "figure", g->figure, &first);
		fprintf(f, "}");
	}
	fprintf(f, "\n  ],\n  \"notes\": [");
	for (unsigned i = 0; i < r->n_notes; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_string(f, r->notes[i]);
	}
	fprintf(f, "],\n  \"seconds\": ");
	json_num(f, r->seconds);
	fprintf(f, "\n}\n");
	return fclose(f) == 0 ? 0 : -errno;
}
