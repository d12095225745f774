/*
 * exp_fault_around.c - experiment 8: how many PTEs does one fault install?
 *
 * On a read fault in a file-backed (or shmem) mapping the kernel may map
 * neighbouring pages that are already in the page cache ("fault-around"),
 * so one fault can install many PTEs.  PT-BM cares: a stray read maps a whole
 * window, and a process that wants one page mapped gets sixteen.
 *
 * For each kind of mapping, 64 pages whose data already exists:
 *   - shared anonymous: populated, then MADV_DONTNEED drops this process's
 *     PTEs (the pages stay in the shmem cache);
 *   - private file: a temporary file written with pwrite and fsync'ed (pages
 *     cached, clean and unlocked);
 *   - private anonymous: nothing to find (a read maps the zero page).
 * Read one byte of page 24, count present PTEs (and their alignment); then
 * write one byte of page 50, count again.
 */
#include "probe.h"
#include "probe_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define N_PAGES	   64
#define READ_PAGE  24 /* in the middle, so an aligned window fits in the VMA */
#define WRITE_PAGE 50 /* outside any window around READ_PAGE */

struct fa {
	long read_ptes;	     /* PTEs after one read fault */
	long read_faults;    /* minor faults it took */
	long window_first;   /* first present page index, -1 if none */
	bool window_aligned; /* the window starts at a multiple of its size */
	long write_ptes;     /* additional PTEs after one write fault */
	long write_faults;
};

static void measure(char *p, struct fa *f)
{
	size_t ps = probe_page_size();
	struct probe_faults f0 = probe_faults_now();
	(void)*(volatile char *)(p + READ_PAGE * ps);
	f->read_faults = probe_faults_since(f0).minor;
	uint64_t pm[N_PAGES];
	f->read_ptes = -1;
	f->window_first = -1;
	if (probe_pagemap_read(p, N_PAGES, pm) == 0) {
		f->read_ptes = (long)probe_pagemap_count(pm, N_PAGES, PM_PRESENT);
		for (size_t i = 0; i < N_PAGES && f->window_first < 0; i++)
			if (pm[i] & PM_PRESENT)
				f->window_first = (long)i;
	}
	if (f->window_first >= 0 && f->read_ptes > 0) {
		uintptr_t start = (uintptr_t)p + (uintptr_t)f->window_first * ps;
		f->window_aligned = start % ((uintptr_t)f->read_ptes * ps) == 0;
	}
	f0 = probe_faults_now();
	*(volatile char *)(p + WRITE_PAGE * ps) = 1;
	f->write_faults = probe_faults_since(f0).minor;
	long after = probe_present_count(p, N_PAGES);
	f->write_ptes = after < 0 || f->read_ptes < 0 ? -1 : after - f->read_ptes;
}

static int shared_anon(struct fa *f)
{
	size_t len = N_PAGES * probe_page_size();
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	int rc = probe_populate_write(p, N_PAGES);
	if (rc == 0 && madvise(p, len, MADV_DONTNEED) != 0)
		rc = -errno;
	if (rc == 0)
		measure(p, f);
	munmap(p, len);
	return rc;
}

static int private_file(struct probe_result *r, struct fa *f)
{
	size_t ps = probe_page_size(), len = N_PAGES * ps;
	char path[300];
	int fd = probe_temp_file(r, NULL, "fa", path, sizeof(path));
	if (fd < 0)
		return fd;
	int rc = 0;
	char *buf = malloc(len);
	if (!buf)
		rc = -ENOMEM;
	else {
		memset(buf, 0x33, len);
		rc = probe_write_all(fd, buf, len, 0);
		free(buf);
		/* Fault-around skips locked folios: let writeback finish first, or a
		 * flusher thread racing with the fault makes the count vary. */
		if (rc == 0 && fsync(fd) != 0)
			rc = -errno;
	}
	char *p = MAP_FAILED;
	if (rc == 0) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			rc = -errno;
	}
	if (rc == 0) {
		measure(p, f);
		munmap(p, len);
	}
	close(fd);
	unlink(path);
	return rc;
}

static int private_anon(struct fa *f)
{
	size_t len = N_PAGES * probe_page_size();
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, len, MADV_NOHUGEPAGE);
	measure(p, f);
	munmap(p, len);
	return 0;
}

static void evidence(struct probe_result *r, const char *prefix, const struct fa *f)
{
	char k[PROBE_KEY_LEN];
#define KEY(name) (snprintf(k, sizeof(k), "%s.%s", prefix, name), k)
	probe_ev_int(r, KEY("read_fault_ptes"), f->read_ptes);
	probe_ev_int(r, KEY("read_faults"), f->read_faults);
	probe_ev_int(r, KEY("window_first_page"), f->window_first);
	probe_ev_bool(r, KEY("window_aligned"), f->window_aligned);
	probe_ev_int(r, KEY("write_fault_ptes"), f->write_ptes);
	probe_ev_int(r, KEY("write_faults"), f->write_faults);
#undef KEY
}

void probe_exp_fault_around(struct probe_result *r)
{
	struct fa sh = {0}, pf = {0}, pa = {0};
	int rc = shared_anon(&sh);
	if (rc < 0) {
		probe_fail_errno(r, "shared anonymous mapping", -rc);
		return;
	}
	int rc_file = private_file(r, &pf);
	rc = private_anon(&pa);
	if (rc < 0) {
		probe_fail_errno(r, "private anonymous mapping", -rc);
		return;
	}
	char knob[64];
	if (probe_read_line("/sys/kernel/debug/fault_around_bytes", knob, sizeof(knob)) == 0)
		probe_ev_str(r, "fault_around_bytes", "%s", knob);
	else
		probe_ev_str(r, "fault_around_bytes", "not readable (debugfs)");
	probe_ev_int(r, "pages", N_PAGES);
	probe_ev_int(r, "read_page", READ_PAGE);
	probe_ev_int(r, "write_page", WRITE_PAGE);
	evidence(r, "shared_anon", &sh);
	if (rc_file == 0)
		evidence(r, "private_file", &pf);
	else
		probe_ev_str(r, "private_file", "not measurable: %s", strerror(-rc_file));
	evidence(r, "private_anon", &pa);

	if (sh.read_ptes < 0 || pa.read_ptes < 0) {
		probe_verdict(r, PROBE_UNMEASURABLE, "/proc/self/pagemap unreadable");
		return;
	}
	bool writes_one =
	    sh.write_ptes == 1 && pa.write_ptes == 1 && (rc_file != 0 || pf.write_ptes == 1);
	if (sh.read_ptes < 1 || pa.read_ptes < 1 || (rc_file == 0 && pf.read_ptes < 1)) {
		probe_verdict(r, PROBE_INCONCLUSIVE, "a read fault mapped no page");
		return;
	}
	char file_part[64] = "";
	if (rc_file == 0)
		snprintf(file_part, sizeof(file_part), ", %ld private file", pf.read_ptes);
	if (!writes_one)
		probe_verdict(r, PROBE_INCONCLUSIVE,
			      "read fault maps %ld shared%s, %ld private anon; but a write fault "
			      "mapped %ld/%ld",
			      sh.read_ptes, file_part, pa.read_ptes, sh.write_ptes, pa.write_ptes);
	else if (sh.read_ptes > 1)
		probe_verdict(
		    r, PROBE_CONCLUSIVE,
		    "one read fault maps %ld PTEs on shared (%ld KiB%s)%s, %ld private anon; "
		    "a write fault maps 1",
		    sh.read_ptes, sh.read_ptes * (long)probe_page_size() / 1024,
		    sh.window_aligned ? ", aligned" : "", file_part, pa.read_ptes);
	else
		probe_verdict(
		    r, PROBE_CONCLUSIVE,
		    "no fault-around: one read fault maps 1 PTE on shared%s; a write fault "
		    "maps 1",
		    file_part);
}
