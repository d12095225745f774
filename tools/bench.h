/*
 * bench.h - `ptbm bench`: workloads run against a pool by N workers
 * (threads or forked processes), measured side by side.
 */
#ifndef PTBM_TOOLS_BENCH_H
#define PTBM_TOOLS_BENCH_H

#include <ptbm.h>
#include <stdint.h>

/* What one operation of a worker does. */
enum bench_op {
	OP_RAW,	       /* read 8 bytes of a page's memory: no buffer manager */
	OP_HIT,	       /* fix shared, read 8 bytes, unfix */
	OP_OPTIMISTIC, /* optimistic read of 8 bytes, validate (restart on failure) */
	OP_MIXED,      /* OP_HIT, or with probability `writes` fix exclusive + write + dirty */
};

/* One timed phase: the figures of all its workers together. */
struct bench_result {
	enum bench_op op;
	enum ptbm_engine engine;
	enum ptbm_share share;
	unsigned workers;
	uint64_t data_bytes, budget_bytes;
	double seconds;
	uint64_t ops;
	double ops_per_s;
	double ns_per_op; /* wall time x workers / ops */
	double minor_faults_per_op, major_faults_per_op;
	struct ptbm_stats delta; /* pool counters over the phase */
	uint64_t checksum;	 /* sum of values read (keeps reads alive) */
};

int bench_main(int argc, char **argv);

#endif
