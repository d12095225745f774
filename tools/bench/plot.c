/*
 * plot.c - `ptbm bench --plot DIR`: charts drawn by gnuplot.
 *
 * For each chart a data file (NAME.dat) and a script (NAME.gp) are written
 * into DIR, and `gnuplot NAME.gp` draws NAME.png and NAME.svg, so a chart
 * can be restyled and redrawn by hand from what the run left behind:
 *   in_memory.{png,svg}       ops/s per engine for each in-memory
 *                             configuration, next to the raw memory read;
 *   out_of_memory.{png,svg}   ops/s per engine out of memory, next to the
 *                             disk's random-read ceiling at the same depth;
 *   latency.{png,svg}         p50/p99/p99.9 of random reads per engine, in
 *                             memory and out of memory (log scale);
 *   warmup.{png,svg}          throughput of a newly forked process every
 *                             5 ms, against a warm worker's.
 * Each engine has the same colour in every chart.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const colour[BE_N] = {
    [BE_RAW] = "#9e9e9e",  [BE_VM] = "#1f77b4",	  [BE_HASH] = "#ff7f0e",
    [BE_MMAP] = "#2ca02c", [BE_DISK] = "#424242", [BE_HUGE] = "#616161",
};

static FILE *open_in(const char *dir, const char *name, const char *ext)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
	FILE *f = fopen(path, "w");
	if (!f)
		fprintf(stderr, "ptbm bench: --plot: %s: %s\n", path, strerror(errno));
	return f;
}

/* The script NAME.gp, with what every chart shares; the PNG comes first. */
static FILE *script_open(const char *dir, const char *name, const char *title, int width,
			 int height)
{
	FILE *g = open_in(dir, name, "gp");
	if (!g)
		return NULL;
	fprintf(g,
		"# %s: drawn by `gnuplot %s.gp` (ptbm bench --plot)\n"
		"set terminal pngcairo size %d,%d font 'sans,10' noenhanced\n"
		"set output '%s.png'\n"
		"set title '%s' font 'sans,12'\n"
		"set datafile missing '?'\n"
		"set key top right\n"
		"set grid ytics lc rgb '#dddddd'\n"
		"set border 3\nset tics nomirror\n",
		name, name, width, height, name, title);
	return g;
}

/* Bars clustered by the first column, one bar per further column. */
static const char bar_style[] = "set style data histogram\nset style histogram clustered gap 1\n"
				"set style fill solid 0.9 border -1\nset boxwidth 0.9\n"
				"set xtics rotate by -30 left\nset bmargin 7\n"
				"set key autotitle columnhead\n";

/* The SVG after the PNG, then run gnuplot in dir. */
static int script_finish(const char *dir, const char *name, FILE *g, int width, int height)
{
	fprintf(g,
		"set terminal svg size %d,%d font 'sans,10' noenhanced background '#ffffff'\n"
		"set output '%s.svg'\nreplot\n",
		width, height, name);
	if (fclose(g) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char script[256];
		snprintf(script, sizeof script, "%s.gp", name);
		if (chdir(dir) < 0)
			_exit(127);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "ptbm bench: --plot: gnuplot failed on %s/%s.gp\n", dir, name);
		return -1;
	}
	return 0;
}

static void label(const struct bench_report *r, const struct bench_row *x, char *b, size_t n)
{
	const char *w = work_name(x->work);
	if (x->work == W_MIXED)
		w = "mixed";
	else if (x->work == W_READ_QD)
		w = "disk ceiling,";
	char extra[32] = "";
	if (x->work == W_READ_QD || (x->work == W_READ && x->oom))
		snprintf(extra, sizeof extra, " QD%u", x->work == W_READ_QD ? x->qd : 1);
	else if (x->work == W_BATCH)
		snprintf(extra, sizeof extra, " of %u", x->qd);
	else if (x->work == W_BATCH_MISSES)
		snprintf(extra, sizeof extra, " of %u, misses", x->qd);
	if (x->oom)
		snprintf(b, n, "%s%s, %s", w, extra, ptbm_share_name(x->share));
	else
		snprintf(b, n, "%s, %s, %u w", w, ptbm_share_name(x->share), x->workers);
	(void)r;
}

/* Are x and y the same configuration (engines aside)? */
static bool same_config(const struct bench_row *x, const struct bench_row *y)
{
	return x->oom == y->oom && x->work == y->work && x->workers == y->workers &&
	       x->qd == y->qd && x->share == y->share;
}

/*
 * A clustered bar chart of one figure: a cluster per configuration of the
 * section, a bar per engine in `engines` (value / scale).
 */
static int bars(const char *dir, const struct bench_report *r, bool oom, const char *name,
		const char *title, const char *ylabel, unsigned engines, double scale)
{
	FILE *d = open_in(dir, name, "dat");
	if (!d)
		return -1;
	fprintf(d, "config");
	for (int e = 0; e < BE_N; e++)
		if (engines & (1u << e))
			fprintf(d, "\t%s", engine_name((enum bench_engine)e));
	fprintf(d, "\n");
	unsigned clusters = 0;
	for (unsigned i = 0; i < r->n_rows; i++) {
		const struct bench_row *x = &r->rows[i];
		if (x->oom != oom)
			continue;
		bool seen = false; /* a cluster per configuration and mode, at its first row */
		for (unsigned j = 0; j < i && !seen; j++)
			seen = same_config(&r->rows[j], x);
		if (seen)
			continue;
		char l[80];
		label(r, x, l, sizeof l);
		fprintf(d, "\"%s\"", l);
		for (int e = 0; e < BE_N; e++) {
			if (!(engines & (1u << e)))
				continue;
			const struct bench_row *y = NULL;
			for (unsigned j = 0; j < r->n_rows && !y; j++)
				if ((int)r->rows[j].engine == e && same_config(&r->rows[j], x))
					y = &r->rows[j];
			if (y && y->rounds)
				fprintf(d, "\t%.6g", y->med[F_OPS_PER_S] / scale);
			else
				fprintf(d, "\t?");
		}
		fprintf(d, "\n");
		clusters++;
	}
	fclose(d);
	if (!clusters)
		return 0;
	int width = 260 + 90 * (int)clusters, height = 520;
	if (width < 800)
		width = 800;
	FILE *g = script_open(dir, name, title, width, height);
	if (!g)
		return -1;
	fprintf(g, "set ylabel '%s'\nset yrange [0:*]\nset key outside right top\n%splot", ylabel,
		bar_style);
	int col = 2;
	for (int e = 0; e < BE_N; e++) {
		if (!(engines & (1u << e)))
			continue;
		fprintf(g, "%s '%s.dat' using %d%s lc rgb '%s'", col > 2 ? "," : "", name, col,
			col == 2 ? ":xtic(1)" : "", colour[e]);
		col++;
	}
	fprintf(g, "\n");
	return script_finish(dir, name, g, width, height);
}

/* p50/p99/p99.9 of random reads at depth 1, per engine, in and out of memory. */
static int latency(const char *dir, const struct bench_report *r)
{
	const char *name = "latency";
	FILE *d = open_in(dir, name, "dat");
	if (!d)
		return -1;
	fprintf(d, "engine\tp50\tp99\tp99.9\n");
	unsigned n = 0;
	for (int oom = 0; oom < 2; oom++) {
		for (int e = 0; e < BE_N; e++) {
			enum ptbm_share s =
			    r->opts->modes & 1 ? PTBM_SHARE_THREADS : PTBM_SHARE_PROCESSES;
			const struct bench_row *x =
			    report_find(r, (enum bench_engine)e, s, 1, W_READ, oom);
			if (!x || !x->rounds)
				continue;
			fprintf(d, "\"%s, %s\"\t%.6g\t%.6g\t%.6g\n", engine_name(x->engine),
				oom ? "out of memory" : "in memory", x->med[F_P50] / 1e3,
				x->med[F_P99] / 1e3, x->med[F_P999] / 1e3);
			n++;
		}
	}
	fclose(d);
	if (!n)
		return 0;
	int width = 300 + 110 * (int)n, height = 520;
	FILE *g = script_open(dir, name, "Latency of a random read, one worker (log scale)", width,
			      height);
	if (!g)
		return -1;
	fprintf(g,
		"set ylabel 'microseconds'\nset logscale y\nset yrange [0.005:*]\n%s"
		"set key top left\n"
		"plot 'latency.dat' using 2:xtic(1) lc rgb '#8fbbd9', '' using 3 lc rgb "
		"'#1f77b4', '' using 4 lc rgb '#0b3a5e'\n",
		bar_style);
	return script_finish(dir, name, g, width, height);
}

/* Throughput of a newly forked process over time, per engine. */
static int warmup(const char *dir, const struct bench_report *r)
{
	const char *name = "warmup";
	FILE *d = open_in(dir, name, "dat");
	if (!d)
		return -1;
	unsigned n = 0;
	for (int e = 0; e < BE_N; e++) {
		const struct bench_warmup *w = &r->warmup[e];
		if (!r->has_warmup[e])
			continue;
		fprintf(d, "# %s: ms after fork, M ops/s over the last 25 ms, steady\n",
			engine_name((enum bench_engine)e));
		double sum = 0;
		for (unsigned i = 0; i < w->n; i++) {
			sum += w->ops_per_s[i] - (i >= 5 ? w->ops_per_s[i - 5] : 0);
			fprintf(d, "%.1f\t%.6g\t%.6g\n", (i + 1) * w->interval_s * 1e3,
				sum / (i < 5 ? i + 1 : 5) / 1e6, w->steady_ops_per_s / 1e6);
		}
		fprintf(d, "\n\n");
		n++;
	}
	fclose(d);
	if (!n)
		return 0;
	FILE *g = script_open(dir, name,
			      "A new process joins a warm pool: its random reads, 25 ms moving "
			      "average (dashed: a warm worker)",
			      1000, 520);
	if (!g)
		return -1;
	fprintf(g, "set xlabel 'ms after fork'\nset ylabel 'M ops/s'\nset yrange [0:*]\nplot");
	unsigned idx = 0;
	for (int e = 0; e < BE_N; e++) {
		if (!r->has_warmup[e])
			continue;
		const char *name_e = engine_name((enum bench_engine)e);
		fprintf(g,
			"%s 'warmup.dat' index %u using 1:2 with lines lw 2 lc rgb '%s' title '%s',"
			" '' index %u using 1:3 with lines dt 2 lc rgb '%s' notitle",
			idx ? "," : "", idx, colour[e], name_e, idx, colour[e]);
		idx++;
	}
	fprintf(g, "\n");
	return script_finish(dir, name, g, 1000, 520);
}

int report_plot(const char *dir, const struct bench_report *r)
{
	int rc = 0;
	unsigned pools = (1u << BE_VM) | (1u << BE_HASH) | (1u << BE_MMAP);
	if (r->opts->in_memory) {
		if (bars(dir, r, false, "in_memory", "In memory: operations per second (median)",
			 "M ops/s", pools | (1u << BE_RAW) | (1u << BE_HUGE), 1e6) < 0)
			rc = -1;
		if (warmup(dir, r) < 0)
			rc = -1;
	}
	if (r->opts->out_of_memory &&
	    bars(dir, r, true, "out_of_memory",
		 "Out of memory: operations per second (median; disk = its random-read ceiling)",
		 "k ops/s", pools | (1u << BE_DISK), 1e3) < 0)
		rc = -1;
	if (latency(dir, r) < 0)
		rc = -1;
	return rc;
}
