/*
 * bench_goals.c - the project's performance goals, judged round by round:
 *   in memory, uniform random reads: vm >= 2x hash; vm's reads and
 *   optimistic reads at least 0.95x the limit (the fastest of a raw read of
 *   4 KiB pages, of 2 MiB pages and mmap, in the same configuration:
 *   report_limit) and at least mmap's, at every mode and worker count
 *   measured;
 *   out of memory: vm's disk reads/s at least 0.9x the disk's at the same
 *   queue depth (depth 1: one pread at a time; batches: the same batches'
 *   misses through an ideal cache of the budget's size, submitted at once),
 *   and vm's ops/s not below hash's;
 *   processes within 10% of threads (vm), with the warm-up of a new process.
 * Round i of every row in a group ran in the same pass, its slices taking
 * turns with the others', so a ratio is taken round by round and the goal
 * judged on the median of those quotients: a round that the machine slowed
 * for every row alike cancels out, and one that it slowed for one row only
 * is outvoted instead of dragging that row's median. The ratio of the two
 * rows' medians is printed beside it.
 * Each goal gets its figures as text, for the table and the JSON.
 */
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct bench_goal *goal(struct bench_report *rep, const char *name)
{
	struct bench_goal *g = &rep->goals[rep->n_goals++];
	memset(g, 0, sizeof *g);
	g->name = name;
	return g;
}

static double ops(const struct bench_row *r)
{
	return r && r->rounds ? r->med[F_OPS_PER_S] : 0;
}

/* How many of a goal's comparisons its rounds settle: a comparison whose
 * rounds fall on both sides of its bound turns on the host's noise. */
struct tally {
	unsigned cells, straddle, short_all; /* short_all: short in every round */
};

/* Whether a by-round ratio s meets bound; counted in t. */
static bool at_least(struct tally *t, struct bench_spread s, double bound)
{
	t->cells++;
	if (s.lo < bound && s.hi >= bound)
		t->straddle++;
	if (s.hi < bound)
		t->short_all++;
	return s.med >= bound;
}

/* a over b on fig, round by round */
static struct bench_spread paired(const struct bench_row *a, const struct bench_row *b,
				  enum bench_fig fig)
{
	return report_spread(a, b, fig, fig);
}

/* Append to a goal's figure. */
static void appendf(struct bench_goal *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void appendf(struct bench_goal *g, const char *fmt, ...)
{
	size_t len = strlen(g->figure);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->figure + len, sizeof g->figure - len, fmt, ap);
	va_end(ap);
}

static void tally_note(struct bench_goal *g, const struct tally *t)
{
	if (!t->cells)
		return;
	if (!t->straddle && !t->short_all) {
		appendf(g, "; every round on the same side of its bound");
		return;
	}
	appendf(g,
		"; rounds: %u of %u comparisons straddle their bound, %u fall short in every "
		"round",
		t->straddle, t->cells, t->short_all);
	if (t->short_all)
		appendf(g, " (the verdict stands)");
	else
		appendf(g, " (a longer run, --seconds or --rounds, may turn the verdict)");
}

static void goal_in_memory(struct bench_report *rep)
{
	const struct bench_opts *o = rep->opts;
	struct bench_goal *gh = goal(rep, "in memory, uniform random reads: vm >= 2x hash");
	struct bench_goal *gr =
	    goal(rep, "in memory, uniform random reads and optimistic reads: vm >= 0.95x the "
		      "limit (the fastest of raw, raw-huge and mmap) and >= 1.0x mmap");
	bool hash_ok = o->zipf_theta == 0, raw_ok = o->zipf_theta == 0;
	struct tally th = {0, 0, 0}, tr = {0, 0, 0};
	for (unsigned i = 0; i < rep->n_rows; i++) {
		const struct bench_row *v = &rep->rows[i];
		if (v->engine != BE_VM || v->oom || !v->rounds ||
		    (v->work != W_READ && v->work != W_OPTIMISTIC))
			continue;
		const struct bench_row *h =
		    report_find(rep, BE_HASH, v->share, v->workers, v->work, false);
		const struct bench_row *m =
		    report_find(rep, BE_MMAP, v->share, v->workers, v->work, false);
		enum bench_fig lf;
		const struct bench_row *r = report_limit(rep, v, &lf);
		const char *what = v->work == W_READ ? "" : " optimistic";
		if (v->work == W_READ && ops(h) > 0) {
			struct bench_spread q = paired(v, h, F_OPS_PER_S);
			appendf(gh, "%s%s %u: %.2fx (of medians %.2fx)",
				gh->measured ? ", " : "vm/hash ", ptbm_share_name(v->share),
				v->workers, q.med, ops(v) / ops(h));
			hash_ok = at_least(&th, q, 2) && hash_ok;
			gh->measured = true;
		}
		if (ops(r) > 0) {
			struct bench_spread s = paired(v, r, F_OPS_PER_S);
			appendf(gr, "%s%s %u%s: %.2fx (%s; rounds %.2f-%.2f; of medians %.2fx)",
				gr->measured ? ", " : "vm/limit ", ptbm_share_name(v->share),
				v->workers, what, s.med, engine_name(r->engine), s.lo, s.hi,
				ops(v) / ops(r));
			bool ok = at_least(&tr, s, 0.95);
			if (ops(m) > 0) {
				struct bench_spread qm = paired(v, m, F_OPS_PER_S);
				appendf(gr, " %.2fx mmap", qm.med);
				ok = at_least(&tr, qm, 1.0) && ok;
			}
			raw_ok = raw_ok && ok;
			gr->measured = true;
		}
	}
	const char *dist = o->zipf_theta > 0 ? " (measured with Zipf, not uniform)" : "";
	gh->met = gh->measured && hash_ok;
	gr->met = gr->measured && raw_ok;
	appendf(gh, " (mode workers: median of the rounds' ratios)%s", dist);
	appendf(gr, " (mode workers: median of the rounds' ratios)%s", dist);
	tally_note(gh, &th);
	tally_note(gr, &tr);
}

static void goal_out_of_memory(struct bench_report *rep)
{
	const struct bench_opts *o = rep->opts;
	struct bench_goal *g =
	    goal(rep, "out of memory, random reads: vm's disk reads/s >= 0.9x the disk's at "
		      "the same queue depth, and vm's ops/s not below hash's");
	bool met = true;
	struct tally t = {0, 0, 0};
	for (int m = 0; m < 2; m++) {
		if (!(o->modes & (1u << m)))
			continue;
		/* the disk beside this mode's pools, in the same rounds */
		enum ptbm_share sh = (enum ptbm_share)m;
		const struct bench_row *d1 = report_find(rep, BE_DISK, sh, 1, W_READ, true);
		const struct bench_row *dm = report_find(rep, BE_DISK, sh, 1, W_BATCH_MISSES, true);
		const struct bench_row *dq = report_find(rep, BE_DISK, sh, 1, W_READ_QD, true);
		for (int q = 0; q < 2; q++) {
			enum bench_work w = q ? W_BATCH : W_READ;
			const struct bench_row *v = report_find(rep, BE_VM, sh, 1, w, true);
			const struct bench_row *h = report_find(rep, BE_HASH, sh, 1, w, true);
			const struct bench_row *d = q ? dm : d1;
			if (!v || !v->rounds || !d || !d->rounds || d->med[F_READS_S] <= 0)
				continue;
			struct bench_spread s = paired(v, d, F_READS_S);
			struct bench_spread qh = {NAN, NAN, NAN};
			bool ok = at_least(&t, s, 0.9);
			if (ops(h)) {
				qh = paired(v, h, F_OPS_PER_S);
				ok = at_least(&t, qh, 1.0) && ok;
			}
			met = met && ok;
			appendf(g, "%s%s %s: %.2fx the disk (rounds %.2f-%.2f; of medians %.2fx)",
				g->measured ? "; " : "", ptbm_share_name(sh), q ? "batches" : "QD1",
				s.med, s.lo, s.hi, v->med[F_READS_S] / d->med[F_READS_S]);
			if (q && dq && dq->rounds && dq->med[F_READS_S] > 0)
				appendf(g, " (%.2fx its QD%u ceiling)",
					paired(v, dq, F_READS_S).med, o->qd);
			if (ops(h))
				appendf(g, ", vm/hash %.2fx", qh.med);
			g->measured = true;
		}
	}
	g->met = g->measured && met;
	tally_note(g, &t);
}

static void goal_processes(struct bench_report *rep)
{
	struct bench_goal *g = goal(rep, "vm: processes within 10% of threads after warm-up");
	double worst = 0;
	unsigned at = 0;
	struct tally tl = {0, 0, 0};
	for (unsigned i = 0; i < rep->n_rows; i++) {
		const struct bench_row *t = &rep->rows[i];
		if (t->engine != BE_VM || t->oom || t->work != W_READ ||
		    t->share != PTBM_SHARE_THREADS || !t->rounds)
			continue;
		const struct bench_row *p =
		    report_find(rep, BE_VM, PTBM_SHARE_PROCESSES, t->workers, W_READ, false);
		if (!p || !p->rounds)
			continue;
		double d = fabs(paired(p, t, F_OPS_PER_S).med - 1);
		unsigned in = 0, n = 0;
		for (unsigned k = 0; k < p->rounds && k < t->rounds; k++)
			if (t->round[k][F_OPS_PER_S] > 0) {
				n++;
				in += fabs(p->round[k][F_OPS_PER_S] / t->round[k][F_OPS_PER_S] -
					   1) <= 0.10;
			}
		tl.cells++;
		tl.straddle += in > 0 && in < n;
		tl.short_all += n > 0 && in == 0;
		if (!g->measured || d > worst)
			worst = d, at = t->workers;
		g->measured = true;
	}
	if (!g->measured)
		return;
	g->met = worst <= 0.10;
	appendf(g,
		"largest difference %.1f%% (%u worker%s, in-memory random reads, median of the "
		"rounds' ratios)",
		worst * 100, at, at > 1 ? "s" : "");
	tally_note(g, &tl);
	const struct bench_warmup *w = &rep->warmup[BE_VM];
	if (!rep->has_warmup[BE_VM])
		return;
	if (w->t90_s >= 0)
		appendf(g,
			"; a new process reaches 90%% of steady throughput after %.0f ms and "
			"%.0f minor faults",
			w->t90_s * 1e3, w->minflt_t90);
	else
		appendf(g, "; a new process did not reach 90%% of steady throughput in %.1f s",
			w->seconds);
}

void bench_goals(struct bench_report *rep)
{
	rep->n_goals = 0;
	goal_in_memory(rep);
	goal_out_of_memory(rep);
	goal_processes(rep);
}
