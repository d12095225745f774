/*
 * fault.h - the I/O fault-injection seam for tests (fault.c, only in a
 * library built with PTBM_FAULT_INJECTION, as the tests' one is).
 */
#ifndef PTBM_CORE_FAULT_H
#define PTBM_CORE_FAULT_H

#include "base.h"

enum ptbm_fault {
	PTBM_FAULT_NONE = 0,
	PTBM_FAULT_EIO,	   /* the call fails with EIO */
	PTBM_FAULT_ENOSPC, /* the call fails with ENOSPC */
	PTBM_FAULT_SHORT,  /* the call transfers half the bytes */
	PTBM_FAULT_DELAY,  /* the call sleeps 200 ms, then works (kill tests) */
	PTBM_FAULT_RING,   /* the io_uring submission the call is in fails */
};
/* After `after` more read (or write) calls succeed, the next one fails. */
void ptbm_fault_inject_read(enum ptbm_fault f, long after);
void ptbm_fault_inject_write(enum ptbm_fault f, long after);

/* The fault for this read (or write) call, disarming the plan once it fires. */
#ifdef PTBM_FAULT_INJECTION
enum ptbm_fault ptbm_fault_take(bool write);
#else
static inline enum ptbm_fault ptbm_fault_take(bool write)
{
	(void)write;
	return PTBM_FAULT_NONE;
}
#endif

#endif /* PTBM_CORE_FAULT_H */
