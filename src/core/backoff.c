/*
 * backoff.c - how every waiter in the library waits: latches (vm/, the
 * baselines), the slot lock (registry/threads.c), the flush lock (api.c).
 *
 * A waiter spins a little (a holder usually lets go within a page access),
 * then yields the CPU (on 2 cores a spinning waiter can starve the holder),
 * then sleeps in short naps so that a long holder (a page being read from
 * disk) costs the waiter no CPU.
 */
#include "core/backoff.h"

#include <sched.h>
#include <time.h>

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

void ptbm_backoff(unsigned *spins)
{
	unsigned n = (*spins)++;
	if (n < 16) {
		for (unsigned i = 0; i < (1u << (n < 6 ? n : 6)); i++)
			cpu_relax();
	} else if (n < 64) {
		sched_yield();
	} else {
		struct timespec ts = {0, 20000}; /* 20 us */
		nanosleep(&ts, NULL);
	}
}
