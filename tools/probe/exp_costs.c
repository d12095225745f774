/*
 * exp_costs.c - experiment 9: what do faults, populate and release cost per page?
 *
 * PT-BM's hit path must avoid faults and its release path must batch; this
 * experiment puts numbers on both, as medians over REPS runs of ns per 4 KiB
 * page, each with two spreads that say how far the runs agree on this
 * machine at this load: `_spread`, the slowest run over the fastest, and
 * `_mid_spread`, the same once the slowest and the fastest are set aside (a
 * run preempted by other work on the machine moves the first, not the
 * second, nor the median).  Absolutes and even ratios depend on the
 * hypervisor (see "Host paging" below):
 *
 *   A. First touch, allocating: write one byte per page of a fresh private or
 *      shared anonymous mapping, or MADV_POPULATE_WRITE it.
 *   B. A second process on pages that exist (a child forked after the parent
 *      populated, so it has no PTEs; MADV_DONTNEED resets its PTEs between
 *      runs without freeing anything): read touch (fault-around helps), write
 *      touch, MADV_POPULATE_READ, MADV_POPULATE_WRITE.
 *   C. Release of populated shared pages (a memfd, so all three calls apply):
 *      MADV_DONTNEED, MADV_REMOVE, fallocate(PUNCH_HOLE), one call per 1 or per
 *      64 pages, with this process alone mapping, or with a second process
 *      that also maps every page and is spinning on the other CPU (so its TLB
 *      must be flushed; the two are pinned to two CPUs when they may use
 *      two).  The TLB row of /proc/interrupts is read around the two-process
 *      runs.
 *   D. Scattered pages, as a buffer pool's eviction and misses see them: in a
 *      256 MiB mapping with every 4th page present, SCATTER random present
 *      pages are released with one process_madvise(2) call (DONTNEED
 *      private, REMOVE shared), made present again with one
 *      MADV_POPULATE_WRITE call, then written once each. Beside it, the same
 *      for SCATTER contiguous present pages (a mapping with every page
 *      present). And scattered in shared memory again, in frames of 8 KiB
 *      (two base pages, aligned), as a processes-mode pool's misses with
 *      the default page size: each frame is one folio or two, as
 *      hugepages-8kB/shmem_enabled says (recorded as thp_shmem_8k).
 *
 * Host paging.  The project's machines run on two kinds of hypervisor whose
 * costs differ by up to 10x: shadow paging (the hypervisor keeps the guest's
 * page tables itself: every fault and page-table update traps, TLB flushes
 * are hypercalls) and nested paging (the MMU walks guest and host tables, a
 * fault stays in the guest, TLB flushes are inter-processor interrupts).
 * Three signals vote, each "shadow", "nested" or "neither" when its value
 * lies between the two ranges (thresholds in probe.h):
 *
 *   fault     first write touch of a private page, in CPU time of the
 *             touching thread (first_write_touch_private_cpu_ns: waiting
 *             for a CPU on a loaded machine does not inflate it, where it
 *             doubled the wall time on a nested host at load 6): shadow
 *             above 6 us, nested below 4 us;
 *   tlb       TLB-shootdown interrupts during the two-process release runs:
 *             shadow when the TLB row stays 0, nested when it counts any;
 *             no vote without a TLB row;
 *   populate  first touch over MADV_POPULATE_WRITE of shared pages: shadow
 *             above 4x (populate saves the traps), nested below 2.5x.
 *
 * host_paging is the kind every voting signal names when at least two vote,
 * and "unclassified" when two disagree or fewer than two vote
 * (probe_host_paging()).
 */
#include "probe.h"
#include "probe_peer.h"
#include "probe_shm.h"
#include "probe_sys.h"
#include "thp.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define TOUCH_PAGES   8192 /* 32 MiB for touch and populate costs */
#define RELEASE_PAGES 4096 /* 16 MiB for release costs */
#define REPS	      5

enum { OP_READ_TOUCH, OP_WRITE_TOUCH, OP_POP_READ, OP_POP_WRITE, N_OTHER_OPS };
static const char *const other_op_key[N_OTHER_OPS] = {
    "other_process_read_touch", "other_process_write_touch", "other_process_populate_read",
    "other_process_populate_write"};

static double ns_per_page(uint64_t t0, size_t n_pages)
{
	return (double)(probe_now_ns() - t0) / (double)n_pages;
}

/* One measured cost: the median and the spreads of REPS runs, in ns/page.
 * A median below 0 is -errno of the call that failed. */
struct cost {
	double ns;	   /* median */
	double spread;	   /* slowest run / fastest run */
	double mid_spread; /* the same without the slowest and the fastest */
};

static struct cost summarize(double v[REPS])
{
	struct cost c = {.spread = probe_spread(v, REPS, 0),
			 .mid_spread = probe_spread(v, REPS, 1)};
	c.ns = probe_median(v, REPS);
	return c;
}

static struct cost failed_cost(double neg_errno)
{
	return (struct cost){neg_errno, NAN, NAN};
}

/* A. ns/page to make n fresh pages present: touch or populate.  *cpu (may
 * be NULL) gets the same in CPU time of this thread, which time spent
 * waiting for a CPU on a loaded machine does not inflate. */
static struct cost first_touch(bool shared, bool populate, int *err, struct cost *cpu)
{
	size_t len = TOUCH_PAGES * probe_page_size();
	double v[REPS], v_cpu[REPS];
	for (int rep = 0; rep < REPS; rep++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			*err = -errno;
			return failed_cost(-1);
		}
		if (!shared)
			madvise(p, len, MADV_NOHUGEPAGE); /* 4 KiB pages, not THP */
		uint64_t c0 = probe_cpu_ns(), t0 = probe_now_ns();
		if (populate) {
			if (madvise(p, len, MADV_POPULATE_WRITE) != 0)
				*err = -errno;
		} else {
			probe_touch_write(p, TOUCH_PAGES);
		}
		v[rep] = ns_per_page(t0, TOUCH_PAGES);
		v_cpu[rep] = (double)(probe_cpu_ns() - c0) / TOUCH_PAGES;
		munmap(p, len);
		if (*err)
			return failed_cost(-1);
	}
	if (cpu)
		*cpu = summarize(v_cpu);
	return summarize(v);
}

/* B. In the child: each op REPS times from zero PTEs; send the costs. */
static int other_child(struct probe_peer *self, void *arg)
{
	char *p = arg;
	size_t len = TOUCH_PAGES * probe_page_size();
	struct cost c[N_OTHER_OPS];
	for (int op = 0; op < N_OTHER_OPS; op++) {
		double v[REPS];
		for (int rep = 0; rep < REPS; rep++) {
			madvise(p, len, MADV_DONTNEED); /* own PTEs only; pages stay */
			uint64_t t0 = probe_now_ns();
			int rc = 0;
			switch (op) {
			case OP_READ_TOUCH:
				probe_touch_read(p, TOUCH_PAGES);
				break;
			case OP_WRITE_TOUCH:
				probe_touch_write(p, TOUCH_PAGES);
				break;
			case OP_POP_READ:
				rc = madvise(p, len, MADV_POPULATE_READ);
				break;
			case OP_POP_WRITE:
				rc = madvise(p, len, MADV_POPULATE_WRITE);
				break;
			}
			v[rep] = rc == 0 ? ns_per_page(t0, TOUCH_PAGES) : -1;
		}
		c[op] = summarize(v);
	}
	return probe_peer_send(self, c, sizeof(c)) ? 1 : 0;
}

static int other_process(struct cost c[N_OTHER_OPS])
{
	size_t len = TOUCH_PAGES * probe_page_size();
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	int rc = probe_populate_write(p, TOUCH_PAGES);
	struct probe_peer peer;
	if (rc == 0)
		rc = probe_peer_start(&peer, other_child, p);
	if (rc == 0) {
		rc = probe_peer_recv(&peer, c, N_OTHER_OPS * sizeof(*c));
		probe_peer_finish(&peer, 5);
	}
	munmap(p, len);
	return rc;
}

/* C. The second mapper: on each command, map every page, then spin. */
struct spin_ctl {
	int ready; /* child: the seq it has populated for */
	int spin;  /* parent: spin while this equals your seq */
};

struct spinner_ctx {
	const struct probe_shm *shm;
	struct spin_ctl *ctl;
	int cpu; /* the CPU to spin on; -1: any */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/*
 * Two CPUs for the two-process runs: the releasing process on one, the
 * spinner on another, so the spinner's address space is live on a CPU that
 * a release must flush.  Left to the scheduler on a loaded machine, both can
 * share a CPU, and then no flush needs an interrupt.  False (nothing
 * pinned) when this process may run on fewer than two CPUs.
 */
static bool two_cpus(int cpu[2])
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return false;
	int n = 0;
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpu[n++] = i;
	return n == 2;
}

static void pin_to(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set); /* best effort */
}

static int spinner(struct probe_peer *self, void *arg)
{
	const struct spinner_ctx *c = arg;
	if (c->cpu >= 0)
		pin_to(c->cpu);
	int seq;
	while (probe_peer_recv(self, &seq, sizeof(seq)) == 0 && seq > 0) {
		madvise(c->shm->addr, c->shm->len, MADV_POPULATE_READ);
		__atomic_store_n(&c->ctl->ready, seq, __ATOMIC_RELEASE);
		while (__atomic_load_n(&c->ctl->spin, __ATOMIC_ACQUIRE) == seq)
			cpu_relax();
	}
	return 0;
}

#define N_METHODS 3
static const enum probe_release methods[N_METHODS] = {PROBE_REL_DONTNEED, PROBE_REL_REMOVE,
						      PROBE_REL_PUNCH};
static const char *const method_key[N_METHODS] = {"dontneed", "remove", "punch"};
static const size_t batches[2] = {1, 64};

struct release_out {
	struct cost c[N_METHODS][2][2]; /* [method][batch 1/64][mappers 1/2]; ns -errno: failed */
	long long tlb_irqs;		/* TLB interrupts across the two-mapper runs; <0 unknown */
	enum probe_shm_kind kind;	/* memfd, or shared anonymous without memfd */
	bool pinned;			/* releaser and spinner each on its own CPU */
};

/* One timed release of the whole object in batches; -errno on failure. */
static double release_once(const struct probe_shm *shm, enum probe_release how, size_t batch)
{
	uint64_t t0 = probe_now_ns();
	for (size_t first = 0; first < RELEASE_PAGES; first += batch) {
		int rc = probe_shm_release(shm, first, batch, how);
		if (rc < 0)
			return rc;
	}
	return ns_per_page(t0, RELEASE_PAGES);
}

/* One (method, batch, mappers) cell over REPS runs. */
static struct cost release_cell(const struct probe_shm *shm, struct probe_peer *peer,
				struct spin_ctl *ctl, int *seq, enum probe_release how,
				size_t batch)
{
	double v[REPS];
	for (int rep = 0; rep < REPS; rep++) {
		int rc = probe_populate_write(shm->addr, RELEASE_PAGES);
		if (rc < 0)
			return failed_cost(rc);
		if (peer) {
			int s = ++*seq;
			__atomic_store_n(&ctl->spin, s, __ATOMIC_RELEASE);
			if ((rc = probe_peer_send(peer, &s, sizeof(s))) < 0)
				return failed_cost(rc);
			uint64_t deadline = probe_now_ns() + PROBE_PEER_TIMEOUT_S * 1000000000ull;
			while (__atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) != s) {
				if (probe_now_ns() > deadline) /* the spinner is gone */
					return failed_cost(-ETIMEDOUT);
				sched_yield();
			}
		}
		v[rep] = release_once(shm, how, batch);
		if (peer)
			__atomic_store_n(&ctl->spin, 0, __ATOMIC_RELEASE);
		if (v[rep] < 0)
			return failed_cost(v[rep]);
	}
	return summarize(v);
}

static int releases(struct probe_result *r, struct release_out *o)
{
	size_t len = RELEASE_PAGES * probe_page_size();
	struct probe_shm shm;
	o->kind = PROBE_SHM_MEMFD;
	int rc = probe_shm_create(&shm, o->kind, len, r);
	if (rc == -ENOSYS) {
		o->kind = PROBE_SHM_ANON;
		rc = probe_shm_create(&shm, o->kind, len, r);
	}
	if (rc < 0)
		return rc;
	struct spin_ctl *ctl =
	    mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED) {
		rc = -errno;
		probe_shm_destroy(&shm);
		return rc;
	}
	memset(ctl, 0, sizeof(*ctl));
	int cpu[2];
	cpu_set_t saved;
	o->pinned = two_cpus(cpu) && sched_getaffinity(0, sizeof(saved), &saved) == 0;
	struct spinner_ctx sc = {.shm = &shm, .ctl = ctl, .cpu = o->pinned ? cpu[1] : -1};
	if (o->pinned)
		pin_to(cpu[0]);
	struct probe_peer peer;
	rc = probe_peer_start(&peer, spinner, &sc);
	bool peer_running = rc == 0;
	int seq = 0;
	long long tlb0 = probe_tlb_interrupts(), tlb_sum = 0;
	for (int m = 0; m < N_METHODS && rc == 0; m++) {
		for (int b = 0; b < 2 && rc == 0; b++) {
			o->c[m][b][0] = release_cell(&shm, NULL, ctl, &seq, methods[m], batches[b]);
			long long t0 = probe_tlb_interrupts();
			struct cost v =
			    release_cell(&shm, &peer, ctl, &seq, methods[m], batches[b]);
			tlb_sum += probe_tlb_interrupts() - t0;
			o->c[m][b][1] = v;
			if (v.ns == -ETIMEDOUT || v.ns == -EPIPE)
				rc = (int)v.ns; /* the second mapper is gone: stop here */
		}
	}
	o->tlb_irqs = tlb0 < 0 ? tlb0 : tlb_sum;
	if (peer_running) {
		int stop = 0;
		probe_peer_send(&peer, &stop, sizeof(stop));
		probe_peer_finish(&peer, 5);
	}
	if (o->pinned)
		(void)sched_setaffinity(0, sizeof(saved), &saved);
	munmap(ctl, sizeof(*ctl));
	probe_shm_destroy(&shm);
	return rc;
}

/* D. Scattered pages. */
#define SCATTER_REGION_PAGES 65536 /* 256 MiB of 4 KiB pages */
#define SCATTER		     64
#define SCATTER_ROUNDS	     16
enum { SC_RELEASE, SC_POPULATE, SC_TOUCH, SC_STEPS };
static const char *const sc_step_key[SC_STEPS] = {"release", "populate", "touch"};

/*
 * An anonymous mapping of len bytes on a 2 MiB boundary (so that a frame
 * of several base pages may be one folio: the kernel wants the address and
 * the offset aligned alike).
 */
static char *aligned_anon(size_t len, bool shared)
{
	const size_t align = 2u << 20;
	char *r =
	    mmap(NULL, len + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1));
	char *p = mmap(
	    a, len, PROT_READ | PROT_WRITE,
	    (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		munmap(r, len + align);
		return NULL;
	}
	if (a > r)
		munmap(r, (size_t)(a - r));
	munmap(a + len, (size_t)(r + align - a));
	return p;
}

/*
 * ns per frame of each step over REPS runs, scattered or contiguous; a
 * frame is `pages` base pages (1, or 2 for a buffer pool's 8 KiB pages).
 */
static int scatter_costs(bool shared, bool contiguous, size_t pages, struct cost out[SC_STEPS])
{
	size_t bp = probe_page_size(), ps = pages * bp, len = SCATTER_REGION_PAGES * bp;
	size_t frames = SCATTER_REGION_PAGES / pages;
	char *p = aligned_anon(len, shared);
	if (!p)
		return -errno;
	if (!shared)
		madvise(p, len, MADV_NOHUGEPAGE);
	/* scattered: every 4th frame present; contiguous: all, so that both
	 * release and refill SCATTER present frames a round */
	for (size_t q = 0; q < frames; q += contiguous ? 1 : 4)
		for (size_t b = 0; b < pages; b++)
			p[q * ps + b * bp] = 1;
	int release = shared ? MADV_REMOVE : MADV_DONTNEED, rc = 0;
	double v[SC_STEPS][REPS];
	unsigned seed = 12345;
	for (int rep = 0; rep < REPS && !rc; rep++) {
		uint64_t t[SC_STEPS] = {0};
		for (int round = 0; round < SCATTER_ROUNDS && !rc; round++) {
			struct iovec iov[SCATTER];
			size_t n = contiguous ? 1 : SCATTER;
			if (contiguous) {
				size_t first = (size_t)rand_r(&seed) % (frames - SCATTER);
				iov[0].iov_base = p + first * ps;
				iov[0].iov_len = SCATTER * ps;
			} else {
				/* distinct present frames: every 4th, from 64 disjoint slices */
				size_t slice = frames / 4 / SCATTER;
				for (size_t i = 0; i < SCATTER; i++) {
					size_t q = (i * slice + (size_t)rand_r(&seed) % slice) * 4;
					iov[i].iov_base = p + q * ps;
					iov[i].iov_len = ps;
				}
			}
			uint64_t t0 = probe_now_ns();
			rc = probe_advise_vec(iov, n, release);
			uint64_t t1 = probe_now_ns();
			if (!rc)
				rc = probe_advise_vec(iov, n, MADV_POPULATE_WRITE);
			uint64_t t2 = probe_now_ns();
			for (size_t i = 0; i < SCATTER; i++) {
				char *a = contiguous ? (char *)iov[0].iov_base + i * ps
						     : (char *)iov[i].iov_base;
				for (size_t b = 0; b < pages; b++)
					*(volatile char *)(a + b * bp) = 1;
			}
			uint64_t t3 = probe_now_ns();
			t[SC_RELEASE] += t1 - t0;
			t[SC_POPULATE] += t2 - t1;
			t[SC_TOUCH] += t3 - t2;
		}
		for (int k = 0; k < SC_STEPS; k++)
			v[k][rep] = (double)t[k] / (SCATTER_ROUNDS * SCATTER);
	}
	munmap(p, len);
	if (rc)
		return rc;
	for (int k = 0; k < SC_STEPS; k++)
		out[k] = summarize(v[k]);
	return 0;
}

static double ratio(double a, double b)
{
	return a > 0 && b > 0 ? a / b : 0;
}

/* +1 (shadow) above shadow_above, -1 (nested) below nested_below, else 0;
 * an unmeasured value (0 or less) does not vote. */
static int range_vote(double v, double shadow_above, double nested_below)
{
	return v > shadow_above ? 1 : v > 0 && v < nested_below ? -1 : 0;
}

static const char *vote_name(int v)
{
	return v > 0 ? "shadow" : v < 0 ? "nested" : "neither";
}

const char *probe_host_paging(double fault_ns, long long tlb_irqs, double touch_vs_populate,
			      const char *votes[PROBE_PAGING_SIGNALS])
{
	/* +1 shadow, -1 nested, 0 no vote */
	int v[PROBE_PAGING_SIGNALS] = {
	    range_vote(fault_ns, PROBE_SHADOW_FAULT_NS_MIN, PROBE_NESTED_FAULT_NS_MAX),
	    tlb_irqs < 0    ? 0
	    : tlb_irqs == 0 ? 1
			    : -1,
	    range_vote(touch_vs_populate, PROBE_SHADOW_POPULATE_GAIN_MIN,
		       PROBE_NESTED_POPULATE_GAIN_MAX),
	};
	int shadow = 0, nested = 0;
	for (int i = 0; i < PROBE_PAGING_SIGNALS; i++) {
		shadow += v[i] > 0;
		nested += v[i] < 0;
		if (votes)
			votes[i] = vote_name(v[i]);
	}
	if (shadow >= 2 && nested == 0)
		return "shadow paging";
	if (nested >= 2 && shadow == 0)
		return "nested paging";
	return "unclassified";
}

/* Evidence "<stem>_ns", "<stem>_spread" and "<stem>_mid_spread" for c, or
 * "<stem>_ns" saying why it is missing. */
static void ev_cost(struct probe_result *r, const char *stem, struct cost c)
{
	char key[PROBE_KEY_LEN];
	snprintf(key, sizeof(key), "%s_ns", stem);
	if (c.ns < 0) {
		probe_ev_str(r, key, "not measurable: %s", strerror((int)-c.ns));
		return;
	}
	probe_ev_num(r, key, c.ns);
	snprintf(key, sizeof(key), "%s_spread", stem);
	probe_ev_num(r, key, c.spread);
	snprintf(key, sizeof(key), "%s_mid_spread", stem);
	probe_ev_num(r, key, c.mid_spread);
}

int probe_paging_quick(struct probe_paging *out)
{
	int err = 0;
	struct cost cpu = {0};
	first_touch(false, false, &err, &cpu);
	struct cost touch = err ? cpu : first_touch(true, false, &err, NULL);
	struct cost pop = err ? cpu : first_touch(true, true, &err, NULL);
	*out = (struct probe_paging){0};
	if (err)
		return err;
	out->fault_ns = cpu.ns;
	out->touch_vs_populate = ratio(touch.ns, pop.ns);
	out->kind = probe_host_paging(out->fault_ns, -1, out->touch_vs_populate, out->votes);
	return 0;
}

void probe_exp_costs(struct probe_result *r)
{
	int err = 0;
	struct cost touch_priv_cpu;
	struct cost touch_priv = first_touch(false, false, &err, &touch_priv_cpu);
	struct cost touch_shared = err ? touch_priv : first_touch(true, false, &err, NULL);
	struct cost pop_priv = err ? touch_priv : first_touch(false, true, &err, NULL);
	struct cost pop_shared = err ? touch_priv : first_touch(true, true, &err, NULL);
	if (err) {
		probe_fail_errno(r, "first touch", -err);
		return;
	}
	struct cost other[N_OTHER_OPS];
	int rc = other_process(other);
	if (rc < 0) {
		probe_fail_errno(r, "second process", -rc);
		return;
	}
	struct release_out rel;
	memset(&rel, 0, sizeof(rel));
	rc = releases(r, &rel);
	if (rc < 0) {
		probe_fail_errno(r, "release runs", -rc);
		return;
	}

	/* D: [shared][contiguous][step] */
	struct cost sc[2][2][SC_STEPS], sc8k[SC_STEPS];
	for (int sh = 0; sh < 2; sh++)
		for (int ct = 0; ct < 2; ct++) {
			rc = scatter_costs(sh, ct, 1, sc[sh][ct]);
			if (rc < 0) {
				probe_fail_errno(r, "scattered pages", -rc);
				return;
			}
		}
	/* and in 8 KiB frames of shared memory, a processes-mode pool's misses */
	rc = scatter_costs(true, false, 8192 / probe_page_size(), sc8k);
	if (rc < 0) {
		probe_fail_errno(r, "scattered 8 KiB frames", -rc);
		return;
	}

	probe_ev_int(r, "touch_region_mib", (long long)(TOUCH_PAGES * probe_page_size() >> 20));
	probe_ev_int(r, "release_region_mib", (long long)(RELEASE_PAGES * probe_page_size() >> 20));
	probe_ev_int(r, "reps", REPS);
	ev_cost(r, "first_write_touch_private", touch_priv);
	ev_cost(r, "first_write_touch_private_cpu", touch_priv_cpu);
	ev_cost(r, "first_write_touch_shared", touch_shared);
	ev_cost(r, "populate_write_private_alloc", pop_priv);
	ev_cost(r, "populate_write_shared_alloc", pop_shared);
	for (int op = 0; op < N_OTHER_OPS; op++)
		ev_cost(r, other_op_key[op], other[op]);
	probe_ev_str(r, "release_object", "%s", probe_shm_kind_key(rel.kind));
	bool all_release = true;
	for (int m = 0; m < N_METHODS; m++)
		for (int b = 0; b < 2; b++)
			for (int k = 0; k < 2; k++) {
				char stem[PROBE_KEY_LEN];
				snprintf(stem, sizeof(stem), "%s_batch%zu_%dproc", method_key[m],
					 batches[b], k + 1);
				ev_cost(r, stem, rel.c[m][b][k]);
				/* punch-hole needs a memfd; the others must work */
				if (rel.c[m][b][k].ns < 0 && methods[m] != PROBE_REL_PUNCH)
					all_release = false;
			}
	probe_ev_bool(r, "two_proc_runs_on_two_cpus", rel.pinned);
	if (rel.tlb_irqs >= 0)
		probe_ev_int(r, "tlb_shootdown_irqs_2proc_runs", rel.tlb_irqs);
	else
		probe_ev_str(r, "tlb_shootdown_irqs_2proc_runs", "not counted (no TLB row)");

	for (int sh = 0; sh < 2; sh++)
		for (int ct = 0; ct < 2; ct++)
			for (int k = 0; k < SC_STEPS; k++) {
				char stem[PROBE_KEY_LEN];
				snprintf(stem, sizeof(stem), "%s_%d_%s_%s",
					 ct ? "contiguous" : "scattered", SCATTER, sc_step_key[k],
					 sh ? "shared" : "private");
				ev_cost(r, stem, sc[sh][ct][k]);
			}
	for (int k = 0; k < SC_STEPS; k++) {
		char stem[PROBE_KEY_LEN];
		snprintf(stem, sizeof(stem), "scattered_%d_%s_shared_8k", SCATTER, sc_step_key[k]);
		ev_cost(r, stem, sc8k[k]);
	}
	char folios[40];
	thp_shmem_of_size(8192, folios, sizeof folios);
	probe_ev_str(r, "thp_shmem_8k", "%s", folios[0] ? folios : "absent");
	double scatter_cost[2];
	for (int sh = 0; sh < 2; sh++) {
		double a = 0, b = 0;
		for (int k = 0; k < SC_STEPS; k++) {
			a += sc[sh][0][k].ns;
			b += sc[sh][1][k].ns;
		}
		scatter_cost[sh] = ratio(a, b);
	}
	probe_ev_num(r, "ratio_scattered_vs_contiguous_cycle_private", scatter_cost[0]);
	probe_ev_num(r, "ratio_scattered_vs_contiguous_cycle_shared", scatter_cost[1]);

	double populate_gain = ratio(touch_shared.ns, pop_shared.ns);
	double read_vs_write = ratio(other[OP_WRITE_TOUCH].ns, other[OP_READ_TOUCH].ns);
	double batch_gain = ratio(rel.c[1][0][0].ns, rel.c[1][1][0].ns);
	double second_mapper = ratio(rel.c[1][1][1].ns, rel.c[1][1][0].ns);
	probe_ev_num(r, "ratio_touch_vs_populate_shared", populate_gain);
	probe_ev_num(r, "ratio_other_write_vs_read_touch", read_vs_write);
	probe_ev_num(r, "ratio_remove_batch1_vs_batch64", batch_gain);
	probe_ev_num(r, "ratio_remove_batch64_2proc_vs_1proc", second_mapper);

	const char *votes[PROBE_PAGING_SIGNALS];
	const char *paging =
	    probe_host_paging(touch_priv_cpu.ns, rel.tlb_irqs, populate_gain, votes);
	probe_ev_str(r, "host_paging", "%s", paging);
	probe_ev_str(r, "host_paging_vote_fault", "%s", votes[0]);
	probe_ev_str(r, "host_paging_vote_tlb", "%s", votes[1]);
	probe_ev_str(r, "host_paging_vote_populate", "%s", votes[2]);

	bool measured = touch_priv.ns > 0 && touch_shared.ns > 0 && pop_priv.ns > 0 &&
			pop_shared.ns > 0 && all_release;
	for (int op = 0; op < N_OTHER_OPS; op++)
		measured = measured && other[op].ns > 0;
	if (!measured)
		probe_verdict(r, PROBE_INCONCLUSIVE, "%s; some costs could not be measured",
			      paging);
	else
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "%s: fault %.1f us/page; touch/POPULATE_WRITE %.1fx; other process "
			      "write/read touch %.1fx; REMOVE batch 1/64 %.1fx, 2nd mapper %.1fx; "
			      "scattered/contiguous %.1fx (shared)",
			      paging, touch_priv.ns / 1000, populate_gain, read_vs_write,
			      batch_gain, second_mapper, scatter_cost[1]);
}
