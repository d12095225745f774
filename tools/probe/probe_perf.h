/*
 * probe_perf.h - kernel call chains of this process, sampled with perf_event_open(2)
 * and named from /proc/kallsyms, without the perf tool.
 *
 * A software clock event (PERF_COUNT_SW_CPU_CLOCK) attached to the calling
 * thread interrupts it every period_ns of its CPU time while enabled; each
 * interruption that lands in the kernel records the kernel call chain
 * (PERF_SAMPLE_CALLCHAIN) into a ring buffer mapped from the event's file
 * descriptor.  probe_sampler_drain() hands each recorded chain to a callback.
 * The addresses are named with the text symbols of /proc/kallsyms.
 *
 * What it needs: kernel samples are allowed to CAP_PERFMON / CAP_SYS_ADMIN
 * or when /proc/sys/kernel/perf_event_paranoid is 1 or less; kallsyms shows
 * addresses to CAP_SYSLOG when kptr_restrict is 0 or 1 (to everyone when it
 * is 0 and perf_event_paranoid is 1 or less), and zeros otherwise.  Both
 * calls return -errno, so the caller can say which one is missing.
 */
#ifndef PTBM_PROBE_PERF_H
#define PTBM_PROBE_PERF_H

#include <stddef.h>
#include <stdint.h>

/* One text symbol. */
struct probe_ksym {
	uint64_t addr;	   /* start address */
	uint32_t name_off; /* its name: names + name_off */
};

/* The kernel's text symbols, sorted by address. */
struct probe_ksyms {
	struct probe_ksym *sym; /* ascending addresses */
	size_t n;		/* symbols */
	char *names;		/* NUL-separated names */
	size_t names_len;	/* bytes used in names */
};

/* Load the text symbols (t, T, w, W) of /proc/kallsyms.  Returns 0, -EPERM
 * when the file shows no addresses (all zero: kptr_restrict or no
 * CAP_SYSLOG), -ENOENT when it has no text symbols, or another -errno. */
int probe_ksyms_load(struct probe_ksyms *k);
void probe_ksyms_free(struct probe_ksyms *k);
/* Index of the symbol containing ip (the last one starting at or below it), or -1. */
long probe_ksyms_find(const struct probe_ksyms *k, uint64_t ip);
static inline const char *probe_ksyms_name(const struct probe_ksyms *k, long i)
{
	return k->names + k->sym[i].name_off;
}
/* True when symbol i is named fn, or fn plus a compiler suffix (".isra.0"). */
int probe_ksyms_is(const struct probe_ksyms *k, long i, const char *fn);

/* A sampling event on the calling thread and its ring buffer. */
struct probe_sampler {
	int fd;		    /* the perf event; -1 when closed */
	void *ring;	    /* 1 control page + data pages */
	size_t ring_len;    /* bytes mapped */
	uint64_t lost;	    /* samples the kernel dropped (PERF_RECORD_LOST) */
	uint64_t period_ns; /* CPU time between samples */
};

/* Open a disabled event sampling kernel call chains of this thread every
 * period_ns.  Returns 0 or -errno (-EACCES / -EPERM: not allowed). */
int probe_sampler_open(struct probe_sampler *s, uint64_t period_ns);
/* Start or stop sampling.  0 or -errno. */
int probe_sampler_enable(struct probe_sampler *s);
int probe_sampler_disable(struct probe_sampler *s);
/*
 * Hand every sample recorded since the last drain to fn: ips[0..n) is its
 * kernel call chain, the interrupted address first and the outermost caller
 * last (context markers removed).  Returns the number of samples.  Drain
 * often enough (a pass of a few milliseconds) that the ring does not fill;
 * what did not fit is counted in s->lost.
 */
long probe_sampler_drain(struct probe_sampler *s,
			 void (*fn)(const uint64_t *ips, size_t n, void *arg), void *arg);
void probe_sampler_close(struct probe_sampler *s);

#endif /* PTBM_PROBE_PERF_H */
