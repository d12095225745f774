/*
 * slot.h - what a thread's slot in the pool's region holds: its identity,
 * its latch count (threads.c) and its counters (stats.c). One cache line
 * per thread, written by its owner alone.
 */
#ifndef PTBM_REGISTRY_SLOT_H
#define PTBM_REGISTRY_SLOT_H

#include "base.h"

enum ptbm_counter {
	PTBM_C_HITS,
	PTBM_C_MISSES,
	PTBM_C_OPTIMISTIC,
	PTBM_C_RESTARTS,
	PTBM_C_READS,
	PTBM_C_WRITES,
	PTBM_C_EVICTIONS,
	PTBM_C_POPULATES,
	PTBM_C_COLLAPSES,
	PTBM_N_COUNTERS
};

/* Slots: max_threads of them (ptbm_config), used up to a high-water mark. */
#define PTBM_DEFAULT_MAX_THREADS 1024u
#define PTBM_MAX_THREADS_LIMIT	 65536u

/* slot owners besides a tid: */
#define PTBM_OWNER_FREE	    0
#define PTBM_OWNER_RECLAIM  (-1) /* being reclaimed */
#define PTBM_OWNER_DEPARTED (-2) /* latch counts of threads of owner_pid that left */

struct ptbm_stat_slot {
	_Atomic int32_t owner;		     /* tid using it, or PTBM_OWNER_* */
	_Atomic int32_t owner_pid;	     /* its process; 0 while free */
	_Atomic uint64_t owner_start;	     /* the process's start time (core/proc.c) */
	_Atomic int64_t held;		     /* latches it took minus latches it released */
	_Atomic uint64_t c[PTBM_N_COUNTERS]; /* owner writes, anyone reads */
} __attribute__((aligned(PTBM_CACHELINE)));

#endif /* PTBM_REGISTRY_SLOT_H */
