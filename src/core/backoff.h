/*
 * backoff.h - how every waiter in the library waits (backoff.c): spin
 * briefly, then yield, then sleep a little.
 */
#ifndef PTBM_CORE_BACKOFF_H
#define PTBM_CORE_BACKOFF_H

/* One more round of waiting; *spins counts the rounds (start at 0). */
void ptbm_backoff(unsigned *spins);

#endif /* PTBM_CORE_BACKOFF_H */
