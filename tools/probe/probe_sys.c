/*
 * probe_sys.c - the kernel's observation points, wrapped for the experiments.
 *
 * Everything here reads state and changes none (except probe_clear_refs and the
 * page fill/touch helpers, which exist to provoke the state being observed).
 * /proc files are opened per call: the experiments fork often, and a file
 * descriptor opened on /proc/self before a fork would describe the parent.
 */
#include "probe_sys.h"
#include "probe.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

size_t probe_page_size(void)
{
	static size_t page_size;
	if (!page_size)
		page_size = (size_t)sysconf(_SC_PAGESIZE);
	return page_size;
}

uint64_t probe_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t probe_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* pread() all of len bytes at off from path; -errno, or -EIO on a short read. */
static int pread_file(const char *path, void *buf, size_t len, off_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	int rc = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			rc = -errno;
			if (rc == -EINTR)
				continue;
			break;
		}
		if (n == 0) {
			rc = -EIO;
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	return rc;
}

int probe_pagemap_read(const void *addr, size_t n_pages, uint64_t *entries)
{
	off_t off = (off_t)((uintptr_t)addr / probe_page_size() * sizeof(uint64_t));
	return pread_file("/proc/self/pagemap", entries, n_pages * sizeof(uint64_t), off);
}

size_t probe_pagemap_count(const uint64_t *entries, size_t n, uint64_t mask)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += (entries[i] & mask) == mask;
	return c;
}

long probe_present_count(const void *addr, size_t n_pages)
{
	uint64_t *e = malloc(n_pages * sizeof(*e));
	if (!e)
		return -ENOMEM;
	int rc = probe_pagemap_read(addr, n_pages, e);
	long c = rc < 0 ? rc : (long)probe_pagemap_count(e, n_pages, PM_PRESENT);
	free(e);
	return c;
}

int probe_pfns(const void *addr, size_t n_pages, uint64_t *pfns)
{
	int rc = probe_pagemap_read(addr, n_pages, pfns);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n_pages; i++)
		pfns[i] = (pfns[i] & PM_PRESENT) ? (pfns[i] & PM_PFN_MASK) : 0;
	return 0;
}

bool probe_pfns_visible(void)
{
	static int visible = -1;
	if (visible >= 0)
		return visible;
	size_t ps = probe_page_size();
	void *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	*(volatile char *)p = 1;
	uint64_t pfn = 0;
	visible = probe_pfns(p, 1, &pfn) == 0 && pfn != 0;
	munmap(p, ps);
	return visible;
}

int probe_kpagecount(uint64_t pfn, uint64_t *count)
{
	return pread_file("/proc/kpagecount", count, sizeof(*count), (off_t)(pfn * sizeof(*count)));
}

long probe_compare_pfns(const void *addr, const uint64_t *other, size_t n_pages, long *mapped_twice)
{
	*mapped_twice = -1;
	if (!probe_pfns_visible())
		return -1;
	uint64_t *mine = malloc(n_pages * sizeof(*mine));
	if (!mine || probe_pfns(addr, n_pages, mine) < 0) {
		free(mine);
		return -1;
	}
	long same = 0, twice = 0;
	for (size_t i = 0; i < n_pages; i++) {
		if (!mine[i])
			continue;
		same += mine[i] == other[i];
		uint64_t cnt;
		if (twice < 0)
			continue;
		if (probe_kpagecount(mine[i], &cnt) < 0)
			twice = -1;
		else
			twice += cnt == 2;
	}
	free(mine);
	*mapped_twice = twice;
	return same;
}

long probe_mincore_count(const void *addr, size_t n_pages)
{
	unsigned char *vec = malloc(n_pages);
	if (!vec)
		return -ENOMEM;
	long c;
	if (mincore((void *)addr, n_pages * probe_page_size(), vec) != 0) {
		c = -errno;
	} else {
		c = 0;
		for (size_t i = 0; i < n_pages; i++)
			c += vec[i] & 1;
	}
	free(vec);
	return c;
}

long probe_mincore_count_fd(int fd, size_t n_pages)
{
	size_t len = n_pages * probe_page_size();
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	long c = probe_mincore_count(p, n_pages);
	munmap(p, len);
	return c;
}

struct probe_faults probe_faults_now(void)
{
	struct rusage ru;
	struct probe_faults f = {0, 0};
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		f.minor = ru.ru_minflt;
		f.major = ru.ru_majflt;
	}
	return f;
}

struct probe_faults probe_faults_since(struct probe_faults a)
{
	struct probe_faults b = probe_faults_now();
	b.minor -= a.minor;
	b.major -= a.major;
	return b;
}

/* The number after "<field><sep>" on a line of path, or -errno. */
static long long proc_value(const char *path, const char *field, char sep)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char line[256];
	size_t flen = strlen(field);
	long long v = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, flen) == 0 && line[flen] == sep) {
			v = strtoll(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

long probe_meminfo_kb(const char *field)
{
	return (long)proc_value("/proc/meminfo", field, ':');
}

/* Parse "start-end ..." of a maps/smaps VMA header line; false for field lines. */
static bool vma_header(const char *line, uintptr_t *start, uintptr_t *end)
{
	const char *p = line;
	while (isxdigit((unsigned char)*p))
		p++;
	if (p == line || *p != '-')
		return false;
	unsigned long s, e;
	if (sscanf(line, "%lx-%lx", &s, &e) != 2)
		return false;
	*start = s;
	*end = e;
	return true;
}

long probe_smaps_kb(const void *addr, const char *field)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	char line[512];
	size_t flen = strlen(field);
	bool inside = false;
	long kb = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t s, e;
		if (vma_header(line, &s, &e)) {
			if (inside)
				break; /* past our VMA without the field */
			inside = (uintptr_t)addr >= s && (uintptr_t)addr < e;
			continue;
		}
		if (inside && strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kb = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

long probe_smaps_range_kb(const void *addr, size_t bytes, const char *field)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f)
		return -errno;
	char line[512];
	size_t flen = strlen(field);
	uintptr_t lo = (uintptr_t)addr, hi = lo + bytes;
	bool inside = false, seen = false;
	long kb = 0;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t s, e;
		if (vma_header(line, &s, &e)) {
			inside = s < hi && e > lo;
			continue;
		}
		if (inside && strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kb += strtol(line + flen + 1, NULL, 10);
			seen = true;
		}
	}
	fclose(f);
	return seen ? kb : -ENOENT;
}

long long probe_vmstat(const char *field)
{
	return proc_value("/proc/vmstat", field, ' ');
}

int probe_kpageflags(uint64_t pfn, uint64_t *flags)
{
	return pread_file("/proc/kpageflags", flags, sizeof(*flags), (off_t)(pfn * sizeof(*flags)));
}

int probe_maps_name(const void *addr, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	char line[1024];
	int rc = -ENOENT;
	buf[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		uintptr_t s, e;
		if (!vma_header(line, &s, &e) || (uintptr_t)addr < s || (uintptr_t)addr >= e)
			continue;
		/* Skip five columns: range, perms, offset, device, inode. */
		char *p = line;
		for (int col = 0; col < 5 && p; col++) {
			p = strchr(p, ' ');
			while (p && *p == ' ')
				p++;
		}
		if (p) {
			p[strcspn(p, "\n")] = '\0';
			snprintf(buf, len, "%s", p);
		}
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

int probe_clear_refs(const char *what)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, what, strlen(what));
	int rc = n < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int probe_disk_dir(char *buf, size_t len)
{
	const char *env = getenv("TMPDIR");
	const char *candidates[] = {env, "/var/tmp", "/tmp", "."};
	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		struct statfs st;
		if (!candidates[i] || statfs(candidates[i], &st) != 0)
			continue;
		if (st.f_type == TMPFS_MAGIC || st.f_type == RAMFS_MAGIC)
			continue;
		if (access(candidates[i], W_OK) != 0)
			continue;
		snprintf(buf, len, "%s", candidates[i]);
		return 0;
	}
	return -ENOENT;
}

int probe_temp_file(struct probe_result *r, const char *dir, const char *stem, char *path,
		    size_t path_len)
{
	char auto_dir[200];
	if (!dir) {
		if (probe_disk_dir(auto_dir, sizeof(auto_dir)) < 0)
			snprintf(auto_dir, sizeof(auto_dir), "/tmp");
		dir = auto_dir;
	}
	snprintf(path, path_len, "%s/ptbm-probe-%s-XXXXXX", dir, stem);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	probe_cleanup_add(r, PROBE_CLEAN_PATH, path, -1);
	return fd;
}

int probe_write_all(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		const char *at = (const char *)buf + done;
		ssize_t n = off < 0 ? send(fd, at, len - done, MSG_NOSIGNAL)
				    : pwrite(fd, at, len - done, off + (off_t)done);
		if (n < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			return -err;
		}
		done += (size_t)n;
	}
	return 0;
}

long long probe_tlb_interrupts(void)
{
	FILE *f = fopen("/proc/interrupts", "re");
	if (!f)
		return -errno;
	char line[4096];
	long long sum = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;
		while (*p == ' ')
			p++;
		if (strncmp(p, "TLB:", 4) != 0)
			continue;
		p += 4;
		sum = 0;
		/* Per-CPU counts, then the description text. */
		for (;;) {
			char *end;
			long long v = strtoll(p, &end, 10);
			if (end == p)
				break;
			sum += v;
			p = end;
		}
		break;
	}
	fclose(f);
	return sum;
}

int probe_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int rc = fgets(buf, (int)len, f) ? 0 : -EIO;
	fclose(f);
	if (rc == 0)
		buf[strcspn(buf, "\n")] = '\0';
	return rc;
}

void probe_fill(void *addr, size_t n_pages, uint32_t tag)
{
	size_t ps = probe_page_size();
	for (size_t i = 0; i < n_pages; i++)
		*(volatile uint64_t *)((char *)addr + i * ps) = PROBE_TAG(tag, i);
}

size_t probe_count_tag(const void *addr, size_t n_pages, uint32_t tag)
{
	size_t ps = probe_page_size(), c = 0;
	for (size_t i = 0; i < n_pages; i++)
		c += *(const volatile uint64_t *)((const char *)addr + i * ps) == PROBE_TAG(tag, i);
	return c;
}

size_t probe_count_zero(const void *addr, size_t n_pages)
{
	size_t ps = probe_page_size(), c = 0;
	for (size_t i = 0; i < n_pages; i++)
		c += *(const volatile uint64_t *)((const char *)addr + i * ps) == 0;
	return c;
}

void probe_touch_read(const void *addr, size_t n_pages)
{
	size_t ps = probe_page_size();
	for (size_t i = 0; i < n_pages; i++)
		(void)*(const volatile char *)((const char *)addr + i * ps);
}

void probe_touch_write(void *addr, size_t n_pages)
{
	size_t ps = probe_page_size();
	for (size_t i = 0; i < n_pages; i++)
		*(volatile char *)((char *)addr + i * ps + 8) = 1; /* past the tag word */
}

void probe_base_pages(void *addr, size_t n_pages)
{
	(void)madvise(addr, n_pages * probe_page_size(), MADV_NOHUGEPAGE);
}

int probe_populate_write(void *addr, size_t n_pages)
{
	if (madvise(addr, n_pages * probe_page_size(), MADV_POPULATE_WRITE) == 0)
		return 0;
	int err = errno;
	if (err != EINVAL)
		return -err;
	probe_touch_write(addr, n_pages); /* kernels before 5.14 */
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double probe_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double probe_quantile(double *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

double probe_spread(const double *v, size_t n, size_t trim)
{
	double sorted[64];
	if (n > sizeof(sorted) / sizeof(sorted[0]) || n <= 2 * trim)
		return NAN;
	memcpy(sorted, v, n * sizeof(*v));
	qsort(sorted, n, sizeof(*sorted), cmp_double);
	double lo = sorted[trim], hi = sorted[n - 1 - trim];
	return lo > 0 ? hi / lo : NAN;
}

#ifndef PIDFD_SELF
#define PIDFD_SELF -10000
#endif

int probe_advise_vec(struct iovec *iov, size_t n, int advice)
{
	long r = syscall(SYS_process_madvise, PIDFD_SELF, iov, n, advice, 0u);
	if (r >= 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (madvise(iov[i].iov_base, iov[i].iov_len, advice) < 0)
			return -errno;
	return 0;
}
