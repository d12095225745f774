/*
 * fault.c - the I/O fault-injection seam, compiled only into the library the
 * tests link (PTBM_FAULT_INJECTION; src/CMakeLists.txt): the installed
 * library has neither these functions nor the checks (core/fault.h makes
 * ptbm_fault_take a constant there).
 *
 * A test arms a plan for reads or for writes: after `after` more calls
 * succeed, the next one gets the fault. Every transfer of the data file
 * asks for its fault first: the synchronous ones (ptbm_io_xfer), each page
 * of an io_uring batch and each staged read (pageio.c).
 */
#include "core/fault.h"

struct fault_plan {
	_Atomic int kind;
	_Atomic long after;
};
static struct fault_plan read_plan, write_plan;

void ptbm_fault_inject_read(enum ptbm_fault f, long after)
{
	atomic_store(&read_plan.after, after);
	atomic_store(&read_plan.kind, f);
}

void ptbm_fault_inject_write(enum ptbm_fault f, long after)
{
	atomic_store(&write_plan.after, after);
	atomic_store(&write_plan.kind, f);
}

enum ptbm_fault ptbm_fault_take(bool write)
{
	struct fault_plan *p = write ? &write_plan : &read_plan;
	if (PTBM_LIKELY(atomic_load_explicit(&p->kind, memory_order_relaxed) == PTBM_FAULT_NONE))
		return PTBM_FAULT_NONE;
	if (atomic_fetch_sub(&p->after, 1) > 0)
		return PTBM_FAULT_NONE;
	return (enum ptbm_fault)atomic_exchange(&p->kind, PTBM_FAULT_NONE);
}
