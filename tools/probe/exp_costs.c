/*
 * exp_costs.c - experiment 9: what do faults, populate and release cost per page?
 *
 * PT-BM's hit path must avoid faults and its release path must batch; this
 * experiment puts numbers on both, as medians over REPS runs of ns per 4 KiB
 * page (ratios matter more than absolutes, which depend on the hypervisor):
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
 *      must be flushed).  The TLB row of /proc/interrupts is read around the
 *      two-process runs.
 *   D. Scattered pages, as a buffer pool's eviction and misses see them: in a
 *      256 MiB mapping with every 4th page present, SCATTER random present
 *      pages are released with one process_madvise(2) call (DONTNEED
 *      private, REMOVE shared), made present again with one
 *      MADV_POPULATE_WRITE call, then written once each. Beside it, the same
 *      for SCATTER contiguous present pages (a mapping with every page
 *      present).
 */
#include "probe.h"
#include "probe_peer.h"
#include "probe_shm.h"
#include "probe_sys.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define TOUCH_PAGES   8192 /* 32 MiB for touch and populate costs */
#define RELEASE_PAGES 4096 /* 16 MiB for release costs */
#define REPS	      5

enum { OP_READ_TOUCH, OP_WRITE_TOUCH, OP_POP_READ, OP_POP_WRITE, N_OTHER_OPS };
static const char *const other_op_key[N_OTHER_OPS] = {
    "other_process_read_touch_ns", "other_process_write_touch_ns", "other_process_populate_read_ns",
    "other_process_populate_write_ns"};

static double ns_per_page(uint64_t t0, size_t n_pages)
{
	return (double)(probe_now_ns() - t0) / (double)n_pages;
}

/* A. Median ns/page to make n fresh pages present: touch or populate. */
static double first_touch(bool shared, bool populate, int *err)
{
	size_t len = TOUCH_PAGES * probe_page_size();
	double v[REPS];
	for (int rep = 0; rep < REPS; rep++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			*err = -errno;
			return -1;
		}
		if (!shared)
			madvise(p, len, MADV_NOHUGEPAGE); /* 4 KiB pages, not THP */
		uint64_t t0 = probe_now_ns();
		if (populate) {
			if (madvise(p, len, MADV_POPULATE_WRITE) != 0)
				*err = -errno;
		} else {
			probe_touch_write(p, TOUCH_PAGES);
		}
		v[rep] = ns_per_page(t0, TOUCH_PAGES);
		munmap(p, len);
		if (*err)
			return -1;
	}
	return probe_median(v, REPS);
}

/* B. In the child: each op REPS times from zero PTEs; send the medians. */
static int other_child(struct probe_peer *self, void *arg)
{
	char *p = arg;
	size_t len = TOUCH_PAGES * probe_page_size();
	double med[N_OTHER_OPS];
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
		med[op] = probe_median(v, REPS);
	}
	return probe_peer_send(self, med, sizeof(med)) ? 1 : 0;
}

static int other_process(double med[N_OTHER_OPS])
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
		rc = probe_peer_recv(&peer, med, N_OTHER_OPS * sizeof(double));
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
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static int spinner(struct probe_peer *self, void *arg)
{
	const struct spinner_ctx *c = arg;
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
	double ns[N_METHODS][2][2]; /* [method][batch 1/64][mappers 1/2]; -errno on failure */
	long long tlb_irqs;	    /* TLB interrupts across the two-mapper runs; <0 unknown */
	enum probe_shm_kind kind;   /* memfd, or shared anonymous without memfd */
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

/* Median over REPS of one (method, batch, mappers) cell. */
static double release_cell(const struct probe_shm *shm, struct probe_peer *peer,
			   struct spin_ctl *ctl, int *seq, enum probe_release how, size_t batch)
{
	double v[REPS];
	for (int rep = 0; rep < REPS; rep++) {
		int rc = probe_populate_write(shm->addr, RELEASE_PAGES);
		if (rc < 0)
			return rc;
		if (peer) {
			int s = ++*seq;
			__atomic_store_n(&ctl->spin, s, __ATOMIC_RELEASE);
			if ((rc = probe_peer_send(peer, &s, sizeof(s))) < 0)
				return rc;
			uint64_t deadline = probe_now_ns() + PROBE_PEER_TIMEOUT_S * 1000000000ull;
			while (__atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) != s) {
				if (probe_now_ns() > deadline)
					return -ETIMEDOUT; /* the spinner is gone */
				sched_yield();
			}
		}
		v[rep] = release_once(shm, how, batch);
		if (peer)
			__atomic_store_n(&ctl->spin, 0, __ATOMIC_RELEASE);
		if (v[rep] < 0)
			return v[rep];
	}
	return probe_median(v, REPS);
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
	struct spinner_ctx sc = {.shm = &shm, .ctl = ctl};
	struct probe_peer peer;
	rc = probe_peer_start(&peer, spinner, &sc);
	bool peer_running = rc == 0;
	int seq = 0;
	long long tlb0 = probe_tlb_interrupts(), tlb_sum = 0;
	for (int m = 0; m < N_METHODS && rc == 0; m++) {
		for (int b = 0; b < 2 && rc == 0; b++) {
			o->ns[m][b][0] =
			    release_cell(&shm, NULL, ctl, &seq, methods[m], batches[b]);
			long long t0 = probe_tlb_interrupts();
			double v = release_cell(&shm, &peer, ctl, &seq, methods[m], batches[b]);
			tlb_sum += probe_tlb_interrupts() - t0;
			o->ns[m][b][1] = v;
			if (v == -ETIMEDOUT || v == -EPIPE)
				rc = (int)v; /* the second mapper is gone: stop here */
		}
	}
	o->tlb_irqs = tlb0 < 0 ? tlb0 : tlb_sum;
	if (peer_running) {
		int stop = 0;
		probe_peer_send(&peer, &stop, sizeof(stop));
		probe_peer_finish(&peer, 5);
	}
	munmap(ctl, sizeof(*ctl));
	probe_shm_destroy(&shm);
	return rc;
}

/* Ratio a / b for the verdict, 0 when either is unmeasured. */
/* D. Scattered pages. */
#define SCATTER_REGION_PAGES 65536 /* 256 MiB of 4 KiB pages */
#define SCATTER		     64
#define SCATTER_ROUNDS	     16
#ifndef PIDFD_SELF
#define PIDFD_SELF -10000
#endif
enum { SC_RELEASE, SC_POPULATE, SC_TOUCH, SC_STEPS };
static const char *const sc_step_key[SC_STEPS] = {"release", "populate", "touch"};

/* One vectored advice on this process; falls back to one madvise per run. */
static int advise_vec(struct iovec *iov, size_t n, int advice)
{
	long r = syscall(SYS_process_madvise, PIDFD_SELF, iov, n, advice, 0u);
	if (r >= 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (madvise(iov[i].iov_base, iov[i].iov_len, advice) < 0)
			return -errno;
	return 0;
}

/* Median ns/page of each step over REPS, for scattered or contiguous runs. */
static int scatter_costs(bool shared, bool contiguous, double out[SC_STEPS])
{
	size_t ps = probe_page_size(), len = SCATTER_REGION_PAGES * ps;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (!shared)
		madvise(p, len, MADV_NOHUGEPAGE);
	/* scattered: every 4th page present; contiguous: all, so that both
	 * release and refill SCATTER present pages a round */
	for (size_t q = 0; q < SCATTER_REGION_PAGES; q += contiguous ? 1 : 4)
		p[q * ps] = 1;
	int release = shared ? MADV_REMOVE : MADV_DONTNEED, rc = 0;
	double v[SC_STEPS][REPS];
	unsigned seed = 12345;
	for (int rep = 0; rep < REPS && !rc; rep++) {
		uint64_t t[SC_STEPS] = {0};
		for (int round = 0; round < SCATTER_ROUNDS && !rc; round++) {
			struct iovec iov[SCATTER];
			size_t n = contiguous ? 1 : SCATTER;
			if (contiguous) {
				size_t first =
				    (size_t)rand_r(&seed) % (SCATTER_REGION_PAGES - SCATTER);
				iov[0].iov_base = p + first * ps;
				iov[0].iov_len = SCATTER * ps;
			} else {
				/* distinct present pages: every 4th, from 64 disjoint slices */
				size_t slice = SCATTER_REGION_PAGES / 4 / SCATTER;
				for (size_t i = 0; i < SCATTER; i++) {
					size_t q = (i * slice + (size_t)rand_r(&seed) % slice) * 4;
					iov[i].iov_base = p + q * ps;
					iov[i].iov_len = ps;
				}
			}
			uint64_t t0 = probe_now_ns();
			rc = advise_vec(iov, n, release);
			uint64_t t1 = probe_now_ns();
			if (!rc)
				rc = advise_vec(iov, n, MADV_POPULATE_WRITE);
			uint64_t t2 = probe_now_ns();
			for (size_t i = 0; i < SCATTER; i++) {
				char *a = contiguous ? (char *)iov[0].iov_base + i * ps
						     : (char *)iov[i].iov_base;
				*(volatile char *)a = 1;
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
		out[k] = probe_median(v[k], REPS);
	return 0;
}

static double ratio(double a, double b)
{
	return a > 0 && b > 0 ? a / b : 0;
}

void probe_exp_costs(struct probe_result *r)
{
	int err = 0;
	double touch_priv = first_touch(false, false, &err);
	double touch_shared = err ? -1 : first_touch(true, false, &err);
	double pop_priv = err ? -1 : first_touch(false, true, &err);
	double pop_shared = err ? -1 : first_touch(true, true, &err);
	if (err) {
		probe_fail_errno(r, "first touch", -err);
		return;
	}
	double other[N_OTHER_OPS];
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
	double sc[2][2][SC_STEPS];
	for (int sh = 0; sh < 2; sh++)
		for (int ct = 0; ct < 2; ct++) {
			rc = scatter_costs(sh, ct, sc[sh][ct]);
			if (rc < 0) {
				probe_fail_errno(r, "scattered pages", -rc);
				return;
			}
		}

	probe_ev_int(r, "touch_region_mib", (long long)(TOUCH_PAGES * probe_page_size() >> 20));
	probe_ev_int(r, "release_region_mib", (long long)(RELEASE_PAGES * probe_page_size() >> 20));
	probe_ev_int(r, "reps", REPS);
	probe_ev_num(r, "first_write_touch_private_ns", touch_priv);
	probe_ev_num(r, "first_write_touch_shared_ns", touch_shared);
	probe_ev_num(r, "populate_write_private_alloc_ns", pop_priv);
	probe_ev_num(r, "populate_write_shared_alloc_ns", pop_shared);
	for (int op = 0; op < N_OTHER_OPS; op++)
		probe_ev_num(r, other_op_key[op], other[op]);
	probe_ev_str(r, "release_object", "%s", probe_shm_kind_key(rel.kind));
	bool all_release = true;
	for (int m = 0; m < N_METHODS; m++)
		for (int b = 0; b < 2; b++)
			for (int k = 0; k < 2; k++) {
				char key[PROBE_KEY_LEN];
				snprintf(key, sizeof(key), "%s_batch%zu_%dproc_ns", method_key[m],
					 batches[b], k + 1);
				double v = rel.ns[m][b][k];
				if (v >= 0) {
					probe_ev_num(r, key, v);
				} else {
					probe_ev_str(r, key, "not measurable: %s",
						     strerror((int)-v));
					all_release = m == 2 ? all_release : false;
				}
			}
	if (rel.tlb_irqs >= 0)
		probe_ev_int(r, "tlb_shootdown_irqs_2proc_runs", rel.tlb_irqs);
	else
		probe_ev_str(r, "tlb_shootdown_irqs_2proc_runs", "not counted (no TLB row)");

	for (int sh = 0; sh < 2; sh++)
		for (int ct = 0; ct < 2; ct++)
			for (int k = 0; k < SC_STEPS; k++) {
				char key[PROBE_KEY_LEN];
				snprintf(key, sizeof(key), "%s_%d_%s_%s_ns",
					 ct ? "contiguous" : "scattered", SCATTER, sc_step_key[k],
					 sh ? "shared" : "private");
				probe_ev_num(r, key, sc[sh][ct][k]);
			}
	double scatter_cost[2];
	for (int sh = 0; sh < 2; sh++) {
		double a = 0, b = 0;
		for (int k = 0; k < SC_STEPS; k++) {
			a += sc[sh][0][k];
			b += sc[sh][1][k];
		}
		scatter_cost[sh] = ratio(a, b);
	}
	probe_ev_num(r, "ratio_scattered_vs_contiguous_cycle_private", scatter_cost[0]);
	probe_ev_num(r, "ratio_scattered_vs_contiguous_cycle_shared", scatter_cost[1]);

	double populate_gain = ratio(touch_shared, pop_shared);
	double read_vs_write = ratio(other[OP_WRITE_TOUCH], other[OP_READ_TOUCH]);
	double batch_gain = ratio(rel.ns[1][0][0], rel.ns[1][1][0]);
	double second_mapper = ratio(rel.ns[1][1][1], rel.ns[1][1][0]);
	probe_ev_num(r, "ratio_touch_vs_populate_shared", populate_gain);
	probe_ev_num(r, "ratio_other_write_vs_read_touch", read_vs_write);
	probe_ev_num(r, "ratio_remove_batch1_vs_batch64", batch_gain);
	probe_ev_num(r, "ratio_remove_batch64_2proc_vs_1proc", second_mapper);

	bool measured = touch_priv > 0 && touch_shared > 0 && pop_shared > 0 && all_release &&
			other[OP_READ_TOUCH] > 0 && other[OP_WRITE_TOUCH] > 0 &&
			other[OP_POP_READ] > 0 && other[OP_POP_WRITE] > 0;
	if (!measured)
		probe_verdict(r, PROBE_INCONCLUSIVE, "some costs could not be measured");
	else
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "fault %.1f us/page; POPULATE_WRITE %.0fx cheaper; other process "
			      "read touch %.1fx cheaper than write; REMOVE batch 64 %.0fx cheaper "
			      "than batch 1, %.1fx with a 2nd mapper; scattered pages %.1fx dearer "
			      "to release and refill than contiguous (shared)",
			      touch_shared / 1000, populate_gain, read_vs_write, batch_gain,
			      second_mapper, scatter_cost[1]);
}
