/*
 * bench_goals_test.c - the bench's verdicts follow from the rounds.
 *
 * Round i of every row in a group runs in the same pass, so a goal is
 * judged on the median of the rounds' quotients, not on the quotient of
 * the rows' medians. Each case builds a report by hand whose two estimates
 * disagree, and checks that the verdict goes with the rounds: a round the
 * machine slowed for one row is outvoted, and two rows whose medians
 * happen to meet come from rounds that did not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "bench.h"

enum { G_HASH, G_LIMIT, G_OOM, G_PROCESSES };

struct fixture {
	struct bench_opts opts;
	struct bench_report rep;
	struct bench_row rows[16];
};

static struct bench_row *add(struct fixture *f, enum bench_engine e, enum ptbm_share s,
			     unsigned workers, enum bench_work w, bool oom, enum bench_fig fig,
			     const double *v, unsigned n)
{
	struct bench_row *r = &f->rows[f->rep.n_rows++];
	memset(r, 0, sizeof *r);
	r->engine = e, r->share = s, r->workers = workers, r->work = w, r->oom = oom;
	r->rounds = n;
	double q[BENCH_MAX_ROUNDS];
	for (unsigned i = 0; i < n; i++) {
		r->round[i][fig] = v[i];
		r->round[i][F_OPS_PER_S] = v[i];
		q[i] = v[i];
	}
	r->med[fig] = r->med[F_OPS_PER_S] = bench_median(q, n);
	return r;
}

static void setup(struct fixture *f, unsigned modes)
{
	memset(f, 0, sizeof *f);
	f->opts.modes = modes;
	f->opts.qd = 32;
	f->rep.opts = &f->opts;
	f->rep.rows = f->rows;
}

#define ROW(f, e, s, w, work, oom, fig, ...)                                                       \
	add(f, e, s, w, work, oom, fig, (const double[]){__VA_ARGS__},                             \
	    sizeof((const double[]){__VA_ARGS__}) / sizeof(double))

static const struct bench_goal *judge(struct fixture *f, int which)
{
	bench_goals(&f->rep);
	assert_true(f->rep.n_goals > (unsigned)which);
	const struct bench_goal *g = &f->rep.goals[which];
	assert_true(g->measured);
	return g;
}

/* vm slowed in one round of three: the medians say 0.67x raw, the rounds
 * 0.98x, 0.98x, 0.67x. */
static void limit_outvotes_one_round(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 1u << PTBM_SHARE_THREADS);
	ROW(&f, BE_RAW, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 4.0, 2.0, 3.0);
	ROW(&f, BE_VM, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 3.92, 1.96, 2.0);
	ROW(&f, BE_MMAP, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 1.0, 1.0, 1.0);
	ROW(&f, BE_HASH, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 0.9, 0.9, 0.9);
	const struct bench_goal *g = judge(&f, G_LIMIT);
	assert_true(g->met);
	assert_non_null(strstr(g->figure, "threads 1: 0.98x"));
	assert_non_null(strstr(g->figure, "of medians 0.67x"));
	assert_true(judge(&f, G_HASH)->met);
}

/* Equal medians from rounds that disagree: 0.75x, 0.87x, 2.0x. */
static void limit_equal_medians_not_enough(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 1u << PTBM_SHARE_THREADS);
	ROW(&f, BE_RAW, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 4.0, 3.0, 2.0);
	ROW(&f, BE_VM, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 3.0, 2.6, 4.0);
	ROW(&f, BE_MMAP, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 1.0, 1.0, 1.0);
	const struct bench_goal *g = judge(&f, G_LIMIT);
	assert_false(g->met);
	assert_non_null(strstr(g->figure, "of medians 1.00x"));
}

/* mmap beats vm in two rounds of three while its median is far lower:
 * medians 3.0 / 2.1, rounds 0.95x, 0.97x, 4.0x mmap. */
static void limit_needs_mmap_round_by_round(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 1u << PTBM_SHARE_THREADS);
	ROW(&f, BE_RAW, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 3.0, 3.0, 3.0);
	ROW(&f, BE_VM, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 2.0, 3.0, 4.0);
	struct bench_row *m =
	    ROW(&f, BE_MMAP, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 2.1, 3.1, 1.0);
	assert_false(judge(&f, G_LIMIT)->met);
	m->round[1][F_OPS_PER_S] = 2.9; /* 0.95x, 1.03x, 4.0x */
	assert_true(judge(&f, G_LIMIT)->met);
}

/* vm over hash: 2.5x in two rounds, whatever the third. */
static void hash_round_by_round(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 1u << PTBM_SHARE_THREADS);
	ROW(&f, BE_VM, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 5.0, 2.5, 1.0);
	ROW(&f, BE_HASH, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 2.0, 1.0, 1.0);
	/* medians: 2.5 / 1.0 = 2.5x; rounds 2.5x, 2.5x, 1.0x */
	assert_true(judge(&f, G_HASH)->met);
	f.rows[0].round[1][F_OPS_PER_S] = 1.9; /* now 2.5x, 1.9x, 1.0x: median 1.9x */
	assert_false(judge(&f, G_HASH)->met);
}

/* Out of memory: vm's reads over the disk's beside it, and not below hash. */
static void oom_round_by_round(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 1u << PTBM_SHARE_THREADS);
	/* the disk drifted: medians 9.5 / 15 = 0.63x, rounds 0.95x, 0.95x, 0.33x */
	ROW(&f, BE_DISK, PTBM_SHARE_THREADS, 1, W_READ, true, F_READS_S, 20.0, 10.0, 15.0);
	ROW(&f, BE_VM, PTBM_SHARE_THREADS, 1, W_READ, true, F_READS_S, 19.0, 9.5, 5.0);
	/* vm/hash by round 1.06x, 1.06x, 0.83x */
	struct bench_row *h =
	    ROW(&f, BE_HASH, PTBM_SHARE_THREADS, 1, W_READ, true, F_READS_S, 18.0, 9.0, 6.0);
	const struct bench_goal *g = judge(&f, G_OOM);
	assert_true(g->met);
	assert_non_null(strstr(g->figure, "threads QD1: 0.95x the disk"));
	assert_non_null(strstr(g->figure, "of medians 0.63x"));
	h->round[0][F_OPS_PER_S] = 19.5; /* 0.97x, 1.06x, 0.83x: below hash */
	assert_false(judge(&f, G_OOM)->met);
	h->round[0][F_OPS_PER_S] = 18.0;
	f.rows[1].round[1][F_READS_S] = 8.0; /* 0.95x, 0.80x, 0.33x the disk */
	assert_false(judge(&f, G_OOM)->met);
}

/* Processes against threads, round by round. */
static void processes_round_by_round(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 1u << PTBM_SHARE_THREADS | 1u << PTBM_SHARE_PROCESSES);
	/* medians 4.0 and 4.8 (20% apart); rounds 1.02x, 1.0x, 1.6x */
	ROW(&f, BE_VM, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 5.0, 4.0, 3.0);
	struct bench_row *p =
	    ROW(&f, BE_VM, PTBM_SHARE_PROCESSES, 1, W_READ, false, F_OPS_PER_S, 5.1, 4.0, 4.8);
	const struct bench_goal *g = judge(&f, G_PROCESSES);
	assert_true(g->met);
	assert_non_null(strstr(g->figure, "largest difference 2.0%"));
	/* 1.6x is out */
	assert_non_null(strstr(g->figure, "1 of 1 comparisons straddle their bound, 0 fall short"));
	p->round[1][F_OPS_PER_S] = 3.5; /* 1.02x, 0.88x, 1.6x: median 1.02x */
	assert_true(judge(&f, G_PROCESSES)->met);
	p->round[0][F_OPS_PER_S] = 4.4; /* 0.88x, 0.88x, 1.6x: 12% */
	assert_false(judge(&f, G_PROCESSES)->met);
}

/* A goal says whether its rounds settle it: every round on one side of
 * each bound, or how many comparisons straddle it. */
static void says_whether_rounds_settle_it(void **state)
{
	(void)state;
	struct fixture f;
	setup(&f, 1u << PTBM_SHARE_THREADS);
	struct bench_row *r =
	    ROW(&f, BE_RAW, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 3.1, 3.0, 3.05);
	ROW(&f, BE_VM, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 3.0, 3.0, 3.0);
	ROW(&f, BE_MMAP, PTBM_SHARE_THREADS, 1, W_READ, false, F_OPS_PER_S, 2.0, 2.0, 2.0);
	const struct bench_goal *g = judge(&f, G_LIMIT);
	assert_true(g->met);
	assert_non_null(strstr(g->figure, "every round on the same side of its bound"));
	r->round[0][F_OPS_PER_S] = 3.3; /* 0.91x, 1.00x, 0.98x the limit */
	g = judge(&f, G_LIMIT);
	assert_true(g->met);
	assert_non_null(strstr(g->figure, "1 of 2 comparisons straddle their bound, 0 fall short"));
	assert_non_null(strstr(g->figure, "may turn the verdict"));
	r->round[1][F_OPS_PER_S] = 3.3; /* 0.91x, 0.91x, 0.98x: not met, not settled */
	g = judge(&f, G_LIMIT);
	assert_false(g->met);
	assert_non_null(strstr(g->figure, "may turn the verdict"));
	r->round[2][F_OPS_PER_S] = 3.3; /* 0.91x in every round: settled */
	g = judge(&f, G_LIMIT);
	assert_false(g->met);
	assert_non_null(strstr(g->figure, "0 of 2 comparisons straddle their bound, 1 fall short"));
	assert_non_null(strstr(g->figure, "(the verdict stands)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(limit_outvotes_one_round),
	    cmocka_unit_test(limit_equal_medians_not_enough),
	    cmocka_unit_test(limit_needs_mmap_round_by_round),
	    cmocka_unit_test(hash_round_by_round),
	    cmocka_unit_test(oom_round_by_round),
	    cmocka_unit_test(processes_round_by_round),
	    cmocka_unit_test(says_whether_rounds_settle_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
