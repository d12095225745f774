/*
 * latch_wait.h - waiting for a latch held by someone else (latch_wait.c):
 * back off, and now and then look for a process that died holding latches.
 * The vm engine, the mmap baseline and the flush lock wait this way.
 */
#ifndef PTBM_VM_LATCH_WAIT_H
#define PTBM_VM_LATCH_WAIT_H

#include "pool/pool.h"

/*
 * ptbm_backoff, and after a while of waiting a look for processes that died
 * holding latches: PTBM_EOWNERDEAD if one did (the pool is then broken for
 * every waiter), else 0.
 */
int ptbm_wait(ptbm_pool *pool, unsigned *spins);
/* PTBM_EOWNERDEAD if a process died holding latches (ptbm_health). */
int ptbm_check_owners(ptbm_pool *pool);

#endif /* PTBM_VM_LATCH_WAIT_H */
