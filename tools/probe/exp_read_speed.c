/*
 * exp_read_speed.c - experiment 11: why do page-cache frames read faster
 * than a pool's own frames?
 *
 * `ptbm bench` reads 1 GiB of 8 KiB pages in memory, each read's page
 * chosen from the value the last one read (so every read pays its whole
 * TLB and cache miss).  There the OS-mmap engine, whose frames are the data
 * file's page cache, read faster than PT-BM and than a raw read of PT-BM's
 * own frames (anonymous memory in threads mode, shmem in processes mode).
 * The candidates: how the frames are placed in physical memory, the size of
 * their folios (ext4 caches a file in large folios, up to 2 MiB when
 * read-ahead is large), private against shared or file-backed memory, the
 * order the frames were first touched, and the page size the mapping uses:
 * a 2 MiB folio at a 2 MiB-aligned file offset can be mapped by one PMD
 * entry instead of 512 PTEs, whatever transparent_hugepage/enabled says.
 *
 * The experiment reads a region of the bench's size (1 GiB, less when
 * memory is short) exactly as the bench's raw read does, and compares each
 * variant with a baseline that stays mapped throughout: private anonymous
 * memory in 4 KiB pages (MADV_NOHUGEPAGE), populated in address order, like
 * a threads-mode pool.  Each variant changes one thing:
 *
 *   private_4k_shuffled  first touched in a random page order (placement)
 *   shared_4k            MAP_SHARED anonymous memory, shmem (the processes-mode pool)
 *   file_pte             a sparse file on a disk file system read by faults, so
 *                        read-ahead fills the cache in large folios; mapped with
 *                        MADV_NOHUGEPAGE: large folios, 4 KiB mappings
 *   file_pmd             the same page cache mapped a second time with default
 *                        advice: the same frames, PMD-mapped where the kernel can
 *                        (the mmap engine's case)
 *   private_thp_pmd      private anonymous memory with MADV_HUGEPAGE: 2 MiB
 *                        folios, PMD-mapped
 *   private_thp_pte      the same frames once every PMD is split into PTEs
 *                        (mprotect of one page and back): contiguity without
 *                        huge mappings, as any PTE-mapped large folio (mTHP) has
 *   shared_thp_pmd       shmem with MADV_HUGEPAGE, where shmem_enabled allows
 *   tmpfs_huge_pmd       an O_TMPFILE on a tmpfs mounted huge=always in a private
 *                        mount namespace (root): shmem in 2 MiB folios
 *   memfd_collapsed_pmd  a memfd (a pool's frames), populated, then collapsed
 *                        2 MiB at a time with MADV_COLLAPSE, as the library's
 *                        huge extents are: shmem in 2 MiB folios with no mount
 *                        and whatever shmem_enabled says.  The evidence also
 *                        says what MADV_COLLAPSE answers for 2 MiB of
 *                        MAP_SHARED|MAP_ANONYMOUS memory (shared_anon_collapse)
 *
 * Measuring on a shared, noisy machine: a pair (baseline, variant) runs in
 * alternation, ROUNDS rounds of SLICE_NS each, the order swapped every
 * round.  A slice is cut into chunks of CHUNK_READS dependent reads and
 * gives the median ns per read of its chunks (a chunk that the scheduler
 * preempts is an outlier the median ignores); a round gives the ratio
 * variant / baseline, and the variant's figure is the median of its rounds'
 * ratios with their quartiles.  Slow drifts of the machine (the other
 * vCPU's load, the host's) cancel in each round's ratio.  The file pair is
 * also measured with 4 KiB and 16 KiB strides.
 *
 * Per variant the evidence also says how the memory was mapped
 * (`_huge_pct`: AnonHugePages + ShmemPmdMapped + FilePmdMapped of its VMAs
 * over its size), how much of it sits in large folios (`_large_pct`,
 * /proc/kpageflags on a sample of pages, root; else what the same frames'
 * PMD mapping proves) and how contiguous it is (`_contig_pct`: pages whose
 * successor is the next physical frame, root).  The hardware has no say:
 * on the project's guests the PMU is not exposed (perf sees no cycles, no
 * TLB events), so the variants themselves are the instrument.
 *
 * Then eviction at page granularity inside a huge folio, what a pool
 * using huge frames would pay: MADV_DONTNEED of one 8 KiB page in each of
 * 4 PMD-mapped private THPs, and a punched 8 KiB hole in each of 4
 * PMD-mapped huge tmpfs folios: the cost per call, what stays huge-mapped,
 * what memory is freed (for the tmpfs file: its allocated blocks, which
 * every process shares) and the faults a later read of the rest takes.
 *
 * The cause (probe_read_speed_cause) follows from which variants read
 * faster than PROBE_READ_FASTER_MAX times the baseline: PMD-mapped ones
 * only (2 MiB mappings), also PTE-mapped large folios (physical
 * contiguity), or none.
 */
#include "probe.h"
#include "probe_sys.h"
#include "thp.h"
#include "xorshift.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define HUGE	       (2ul << 20) /* a PMD's reach on x86-64 */
#define STRIDE	       8192	   /* the bench's default page size */
#define CHUNK_READS    2048	   /* reads per timed chunk */
#define SLICE_NS       20000000ull /* 20 ms per slice */
#define MAX_CHUNKS     1024
#define ROUNDS	       11
#define FLAG_SAMPLE    8    /* kpageflags: every 8th 4 KiB page */
#define RELEASE_BLOCKS 4    /* huge folios released into */
#define RELEASE_BYTES  8192 /* one bench page */

/* ---- the read ----------------------------------------------------------- */

/* The bench's raw read: the next page depends on the value just read. */
struct chain {
	uint64_t seed, sum;
};

static double slice_ns(const char *base, size_t bytes, size_t stride, struct chain *c)
{
	static double chunk[MAX_CHUNKS];
	uint64_t n = bytes / stride, t0 = probe_now_ns(), t = t0;
	size_t k = 0;
	while (t - t0 < SLICE_NS && k < MAX_CHUNKS) {
		uint64_t c0 = t;
		for (int i = 0; i < CHUNK_READS; i++) {
			uint64_t r = xorshift64s(&c->seed) ^ (c->sum & 1);
			uint64_t p = (uint64_t)(((unsigned __int128)r * n) >> 64);
			c->sum += *(volatile const uint64_t *)(base + p * stride + (p & 63) * 8);
		}
		t = probe_now_ns();
		chunk[k++] = (double)(t - c0) / CHUNK_READS;
	}
	return probe_median(chunk, k);
}

struct speed {
	double ns;	  /* the variant's median ns per read */
	double base_ns;	  /* the baseline's, in the same rounds */
	double ratio;	  /* median of the rounds' variant / baseline */
	double ratio_p25; /* quartiles of those ratios */
	double ratio_p75;
};

static struct speed compare(const char *base, const char *var, size_t bytes, size_t stride)
{
	struct chain cb = {0x9e3779b97f4a7c15ull, 0}, cv = {0xbf58476d1ce4e5b9ull, 0};
	double vb[ROUNDS], vv[ROUNDS], q[ROUNDS];
	slice_ns(base, bytes, stride, &cb); /* warm both: caches, page-table lines */
	slice_ns(var, bytes, stride, &cv);
	for (int i = 0; i < ROUNDS; i++) {
		if (i % 2) {
			vv[i] = slice_ns(var, bytes, stride, &cv);
			vb[i] = slice_ns(base, bytes, stride, &cb);
		} else {
			vb[i] = slice_ns(base, bytes, stride, &cb);
			vv[i] = slice_ns(var, bytes, stride, &cv);
		}
		q[i] = vb[i] > 0 ? vv[i] / vb[i] : 0;
	}
	struct speed s;
	s.ratio_p25 = probe_quantile(q, ROUNDS, 0.25);
	s.ratio_p75 = probe_quantile(q, ROUNDS, 0.75);
	s.ratio = probe_median(q, ROUNDS);
	s.ns = probe_median(vv, ROUNDS);
	s.base_ns = probe_median(vb, ROUNDS);
	return s;
}

/* ---- memory ------------------------------------------------------------- */

/* bytes mapped at a HUGE-aligned address: (prot, flags, fd) as mmap takes them. */
static char *map_aligned(size_t bytes, int prot, int flags, int fd)
{
	char *resv =
	    mmap(NULL, bytes + HUGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (resv == MAP_FAILED)
		return NULL;
	char *at = (char *)(((uintptr_t)resv + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
	if (at > resv)
		munmap(resv, (size_t)(at - resv));
	size_t tail = (size_t)(resv + bytes + HUGE - (at + bytes));
	if (tail)
		munmap(at + bytes, tail);
	char *p = mmap(at, bytes, prot, flags | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;
		munmap(at, bytes);
		errno = err;
		return NULL;
	}
	return p;
}

/* Per cent of [p, p + bytes) mapped by PMD entries, whatever the memory. */
static double huge_pct(const char *p, size_t bytes)
{
	static const char *const fields[] = {"AnonHugePages", "ShmemPmdMapped", "FilePmdMapped"};
	long kb = 0;
	for (size_t i = 0; i < 3; i++) {
		long v = probe_smaps_range_kb(p, bytes, fields[i]);
		kb += v > 0 ? v : 0;
	}
	return 100.0 * (double)kb * 1024 / (double)bytes;
}

struct frames {
	double large_pct;  /* sampled pages in large folios; -1 without PFNs */
	double contig_pct; /* pages whose successor is the next frame; -1 without PFNs */
};

static struct frames frames_of(const char *p, size_t bytes)
{
	struct frames f = {-1, -1};
	size_t n = bytes / 4096;
	if (probe_page_size() != 4096 || !probe_pfns_visible())
		return f;
	uint64_t *pfn = malloc(n * sizeof(*pfn));
	if (!pfn || probe_pfns(p, n, pfn) < 0) {
		free(pfn);
		return f;
	}
	size_t next = 0, large = 0, sampled = 0;
	bool flags_ok = true;
	for (size_t i = 0; i < n; i++) {
		next += i + 1 < n && pfn[i] && pfn[i + 1] == pfn[i] + 1;
		if (i % FLAG_SAMPLE || !flags_ok || !pfn[i])
			continue;
		uint64_t fl;
		if (probe_kpageflags(pfn[i], &fl) < 0) {
			flags_ok = false;
			continue;
		}
		sampled++;
		large += (fl & (PROBE_KPF_COMPOUND_HEAD | PROBE_KPF_COMPOUND_TAIL)) != 0;
	}
	free(pfn);
	f.contig_pct = n > 1 ? 100.0 * (double)next / (double)(n - 1) : -1;
	if (flags_ok && sampled)
		f.large_pct = 100.0 * (double)large / (double)sampled;
	return f;
}

/* Anonymous mTHP sizes below the PMD's that are not "never" ("64kB:madvise ..."). */
static void mthp_sizes(char *out, size_t len)
{
	static const char *const sizes[] = {"16kB",  "32kB",  "64kB",  "128kB",
					    "256kB", "512kB", "1024kB"};
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char file[64], v[32];
		snprintf(file, sizeof(file), "hugepages-%s/enabled", sizes[i]);
		thp_choice(file, v, sizeof(v));
		if (v[0] && strcmp(v, "never") != 0 && at < len)
			at += (size_t)snprintf(out + at, len - at, "%s%s:%s", at ? " " : "",
					       sizes[i], v);
	}
	if (!out[0])
		snprintf(out, len, "none");
}

/* ---- the variants ------------------------------------------------------- */

struct variant {
	const char *key;
	bool measured;
	char why[PROBE_VALUE_LEN]; /* why not, when not */
	struct speed s;
	double huge_pct, large_pct, contig_pct;
	double setup_ms;
};

/* Measure v on p (mapped and populated), then record how p is mapped. */
static void measure(struct variant *v, const char *baseline, const char *p, size_t bytes,
		    double large_floor)
{
	v->huge_pct = huge_pct(p, bytes);
	struct frames f = frames_of(p, bytes);
	v->s = compare(baseline, p, bytes, STRIDE);
	/* after the rounds too: khugepaged may have changed the mapping meanwhile */
	v->huge_pct = fmin(v->huge_pct, huge_pct(p, bytes));
	v->large_pct = fmax(f.large_pct, large_floor);
	v->contig_pct = f.contig_pct;
	v->measured = true;
}

static void skip(struct variant *v, const char *fmt, const char *a)
{
	snprintf(v->why, sizeof(v->why), fmt, a);
}

/* Write one byte of each 4 KiB page in a random order. */
static int touch_shuffled(char *p, size_t bytes)
{
	size_t n = bytes / 4096;
	uint32_t *perm = malloc(n * sizeof(*perm));
	if (!perm)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	uint64_t s = 0x2545f4914f6cdd1dull;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(xorshift64s(&s) % (i + 1));
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < n; i++)
		p[(size_t)perm[i] * 4096] = 1;
	free(perm);
	return 0;
}

/* Anonymous memory: flags MAP_PRIVATE or MAP_SHARED, advice, then populated. */
static char *anon(size_t bytes, int flags, int advice, bool shuffled)
{
	char *p = map_aligned(bytes, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1);
	if (!p)
		return NULL;
	int rc = madvise(p, bytes, advice) == 0 ? 0 : -errno;
	if (rc == 0)
		rc = shuffled ? touch_shuffled(p, bytes)
			      : probe_populate_write(p, bytes / probe_page_size());
	if (rc < 0) {
		munmap(p, bytes);
		errno = -rc;
		return NULL;
	}
	return p;
}

static double ms_since(uint64_t t0)
{
	return (double)(probe_now_ns() - t0) / 1e6;
}

static void run_anon(struct variant *v, const char *baseline, size_t bytes, int flags, int advice,
		     bool shuffled)
{
	uint64_t t0 = probe_now_ns();
	char *p = anon(bytes, flags, advice, shuffled);
	if (!p) {
		skip(v, "failed: %s", strerror(errno));
		return;
	}
	v->setup_ms = ms_since(t0);
	measure(v, baseline, p, bytes, -1);
	munmap(p, bytes);
}

/*
 * Private THP, PMD-mapped, then the same frames with every PMD split into
 * PTEs: mprotect of one page changes the protection of part of the huge
 * page, so the kernel splits the PMD (not the folio); the second mprotect
 * restores it, and the VMAs merge back.
 */
static void run_thp(struct variant *pmd, struct variant *pte, const char *baseline, size_t bytes)
{
	uint64_t t0 = probe_now_ns();
	char *p = anon(bytes, MAP_PRIVATE, MADV_HUGEPAGE, false);
	if (!p) {
		skip(pmd, "failed: %s", strerror(errno));
		skip(pte, "failed: %s", strerror(errno));
		return;
	}
	pmd->setup_ms = ms_since(t0);
	measure(pmd, baseline, p, bytes, -1);
	t0 = probe_now_ns();
	int rc = 0;
	for (size_t off = 0; off < bytes && rc == 0; off += HUGE)
		if (mprotect(p + off, 4096, PROT_READ) != 0 ||
		    mprotect(p + off, 4096, PROT_READ | PROT_WRITE) != 0)
			rc = -errno;
	if (rc < 0)
		skip(pte, "failed: mprotect: %s", strerror(-rc));
	else if (pmd->huge_pct < 50)
		skip(pte, "not measurable: %s", "the THP region was not PMD-mapped");
	else {
		pte->setup_ms = ms_since(t0);
		measure(pte, baseline, p, bytes, pmd->huge_pct); /* the same frames */
	}
	munmap(p, bytes);
}

/*
 * A sparse file on a disk file system, read by faults through a first
 * mapping (read-ahead allocates large folios, zero-filled: no I/O), the
 * same cache mapped again with MADV_NOHUGEPAGE.  Returns the fd; *pmd_map
 * and *pte_map get the two mappings.
 */
static int file_maps(struct probe_result *r, size_t bytes, char **pmd_map, char **pte_map,
		     double *setup_ms)
{
	char path[300];
	uint64_t t0 = probe_now_ns();
	int fd = probe_temp_file(r, NULL, "rs", path, sizeof(path));
	if (fd < 0)
		return fd;
	unlink(path);
	int rc = ftruncate(fd, (off_t)bytes) == 0 ? 0 : -errno;
	*pmd_map = *pte_map = NULL;
	if (rc == 0 && !(*pmd_map = map_aligned(bytes, PROT_READ, MAP_SHARED, fd)))
		rc = -errno;
	if (rc == 0 && !(*pte_map = map_aligned(bytes, PROT_READ, MAP_SHARED, fd)))
		rc = -errno;
	if (rc == 0 && madvise(*pte_map, bytes, MADV_NOHUGEPAGE) != 0)
		rc = -errno;
	if (rc == 0) {
		probe_touch_read(*pmd_map, bytes / probe_page_size());
		if (madvise(*pte_map, bytes, MADV_POPULATE_READ) != 0)
			probe_touch_read(*pte_map, bytes / probe_page_size());
	}
	*setup_ms = ms_since(t0);
	if (rc < 0) {
		if (*pmd_map)
			munmap(*pmd_map, bytes);
		if (*pte_map)
			munmap(*pte_map, bytes);
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * An O_TMPFILE on a tmpfs mounted huge=always over an existing directory,
 * in a mount namespace of this process's own, detached at once (the open
 * file keeps the file system alive).  Returns the fd or -errno; *why says
 * what failed.
 */
static int huge_tmpfs_file(size_t bytes, char *why, size_t len)
{
	static const char *const dirs[] = {"/tmp", "/mnt", "/var/tmp"};
	const char *dir = NULL;
	struct stat st;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !dir; i++)
		if (stat(dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
			dir = dirs[i];
	if (!dir) {
		snprintf(why, len, "no directory to mount on");
		return -ENOENT;
	}
	if (unshare(CLONE_NEWNS) != 0) {
		int err = errno;
		snprintf(why, len, "unshare(CLONE_NEWNS): %s (needs CAP_SYS_ADMIN)", strerror(err));
		return -err;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		int err = errno;
		snprintf(why, len, "making mounts private: %s", strerror(err));
		return -err;
	}
	char opts[64];
	snprintf(opts, sizeof(opts), "huge=always,size=%zuk", bytes / 1024 + 4096);
	if (mount("ptbm-probe", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
		int err = errno;
		snprintf(why, len, "mount -t tmpfs -o %s: %s", opts, strerror(err));
		return -err;
	}
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int err = errno;
	umount2(dir, MNT_DETACH);
	if (fd < 0) {
		snprintf(why, len, "O_TMPFILE on the tmpfs: %s", strerror(err));
		return -err;
	}
	if (ftruncate(fd, (off_t)bytes) != 0) {
		err = errno;
		close(fd);
		snprintf(why, len, "ftruncate: %s", strerror(err));
		return -err;
	}
	return fd;
}

static void run_tmpfs(struct variant *v, const char *baseline, size_t bytes)
{
	uint64_t t0 = probe_now_ns();
	char why[160];
	int fd = huge_tmpfs_file(bytes, why, sizeof(why));
	if (fd < 0) {
		skip(v, "not measurable: %s", why);
		return;
	}
	char *p = map_aligned(bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	if (!p || probe_populate_write(p, bytes / probe_page_size()) < 0) {
		skip(v, "failed: %s", strerror(errno));
		if (p)
			munmap(p, bytes);
		close(fd);
		return;
	}
	v->setup_ms = ms_since(t0);
	measure(v, baseline, p, bytes, -1);
	munmap(p, bytes);
	close(fd);
}

/* Populated, then collapsed one 2 MiB extent at a time: 0 or -errno. */
static int populate_collapse(char *p, size_t bytes)
{
	if (probe_populate_write(p, bytes / probe_page_size()) < 0)
		return -errno;
	for (size_t off = 0; off < bytes; off += HUGE)
		if (madvise(p + off, HUGE, MADV_COLLAPSE) != 0)
			return -errno;
	return 0;
}

static void run_memfd_collapse(struct variant *v, const char *baseline, size_t bytes)
{
	uint64_t t0 = probe_now_ns();
	int fd = memfd_create("probe-read-speed", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0) {
		skip(v, "failed: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	char *p = map_aligned(bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	int rc = p ? populate_collapse(p, bytes) : -errno;
	if (rc < 0)
		skip(v, "failed: MADV_COLLAPSE: %s", strerror(-rc));
	else {
		v->setup_ms = ms_since(t0);
		measure(v, baseline, p, bytes, -1);
	}
	if (p)
		munmap(p, bytes);
	close(fd);
}

/* What MADV_COLLAPSE answers for 2 MiB of MAP_SHARED|MAP_ANONYMOUS memory. */
static void shared_anon_collapse(struct probe_result *r)
{
	char *p = map_aligned(HUGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
	int rc = p ? populate_collapse(p, HUGE) : -errno;
	probe_ev_str(r, "shared_anon_collapse", "%s", rc == 0 ? "ok" : strerror(-rc));
	if (p)
		munmap(p, HUGE);
}

/* ---- eviction inside a huge folio ---------------------------------------- */

struct release {
	bool measured;
	bool file; /* a tmpfs file (punched holes), else private THP */
	char why[160];
	double us_per_call;    /* one 8 KiB release */
	double huge_kb_before; /* PMD-mapped kB of the region */
	double huge_kb_after;
	double rss_kb_dropped;	   /* of this process */
	double freed_kb;	   /* tmpfs: the file's allocated blocks given back */
	long long splits;	   /* thp_split_page during the releases */
	long long deferred;	   /* thp_deferred_split_page */
	double still_large_pct;	   /* remaining pages still in large folios (root), -1 */
	double refaults_per_block; /* a read of the rest: faults per 2 MiB */
};

static void release_in(char *p, size_t bytes, int fd, struct release *rl)
{
	size_t n = bytes / HUGE;
	rl->huge_kb_before = huge_pct(p, bytes) * (double)bytes / 1024 / 100;
	long rss0 = probe_smaps_range_kb(p, bytes, "Rss");
	struct stat st0, st1;
	if (fd >= 0)
		fstat(fd, &st0);
	long long s0 = probe_vmstat("thp_split_page"), d0 = probe_vmstat("thp_deferred_split_page");
	uint64_t t0 = probe_now_ns();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t off = i * HUGE + 64 * 1024; /* a page inside, not at an edge */
		if (fd >= 0)
			rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				       RELEASE_BYTES);
		else
			rc = madvise(p + off, RELEASE_BYTES, MADV_DONTNEED);
		if (rc != 0)
			rc = -errno;
	}
	double us = (double)(probe_now_ns() - t0) / 1e3 / (double)n;
	if (rc < 0) {
		snprintf(rl->why, sizeof(rl->why), "failed: %s: %s",
			 fd >= 0 ? "fallocate(PUNCH_HOLE)" : "madvise(MADV_DONTNEED)",
			 strerror(-rc));
		return;
	}
	rl->us_per_call = us;
	rl->file = fd >= 0;
	rl->splits = probe_vmstat("thp_split_page") - s0;
	rl->deferred = probe_vmstat("thp_deferred_split_page") - d0;
	rl->huge_kb_after = huge_pct(p, bytes) * (double)bytes / 1024 / 100;
	rl->rss_kb_dropped = (double)(rss0 - probe_smaps_range_kb(p, bytes, "Rss"));
	if (fd >= 0 && fstat(fd, &st1) == 0)
		rl->freed_kb = (double)(st0.st_blocks - st1.st_blocks) * 512 / 1024;
	struct frames f = frames_of(p + HUGE - 4096 * 64, 4096 * 64); /* the rest of block 0 */
	rl->still_large_pct = f.large_pct;
	struct probe_faults f0 = probe_faults_now();
	for (size_t off = 0; off < bytes; off += 4096)
		if (off % HUGE < 64 * 1024 || off % HUGE >= 64 * 1024 + RELEASE_BYTES)
			(void)*(volatile char *)(p + off);
	rl->refaults_per_block = (double)probe_faults_since(f0).minor / (double)n;
	rl->measured = true;
}

static void run_release(struct release *priv, struct release *shm)
{
	size_t bytes = RELEASE_BLOCKS * HUGE;
	char *p = anon(bytes, MAP_PRIVATE, MADV_HUGEPAGE, false);
	if (!p)
		snprintf(priv->why, sizeof(priv->why), "failed: %s", strerror(errno));
	else if (huge_pct(p, bytes) < 50)
		snprintf(priv->why, sizeof(priv->why), "not measurable: no PMD-mapped THP");
	else
		release_in(p, bytes, -1, priv);
	if (p)
		munmap(p, bytes);

	char why[120];
	int fd = huge_tmpfs_file(bytes, why, sizeof(why));
	if (fd < 0) {
		snprintf(shm->why, sizeof(shm->why), "not measurable: %s", why);
		return;
	}
	p = map_aligned(bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	if (!p || probe_populate_write(p, bytes / probe_page_size()) < 0)
		snprintf(shm->why, sizeof(shm->why), "failed: %s", strerror(errno));
	else if (huge_pct(p, bytes) < 50)
		snprintf(shm->why, sizeof(shm->why),
			 "not measurable: the tmpfs was not PMD-mapped");
	else
		release_in(p, bytes, fd, shm);
	if (p)
		munmap(p, bytes);
	close(fd);
}

/* ---- the rule ------------------------------------------------------------ */

const char *probe_read_speed_cause(const struct probe_read_point *v, size_t n)
{
	bool huge = false, huge_fast = false, large = false, large_fast = false;
	for (size_t i = 0; i < n; i++) {
		if (!(v[i].ratio > 0))
			continue; /* not measured */
		bool fast = v[i].ratio < PROBE_READ_FASTER_MAX;
		if (v[i].huge_pct >= PROBE_READ_MAPPED_MIN_PCT) {
			huge = true;
			huge_fast |= fast;
		} else if (v[i].large_pct >= PROBE_READ_MAPPED_MIN_PCT) {
			large = true;
			large_fast |= fast;
		}
	}
	if (large_fast)
		return "physical contiguity";
	if (huge_fast)
		return "2 MiB mappings";
	if (huge || large)
		return "nothing";
	return "unmeasured";
}

/* ---- the experiment ------------------------------------------------------- */

/* Evidence "<stem>_<suffix>", rounded to 3 decimals. */
static void ev3(struct probe_result *r, const char *stem, const char *suffix, double val)
{
	char key[PROBE_KEY_LEN];
	snprintf(key, sizeof(key), "%s_%s", stem, suffix);
	probe_ev_num(r, key, round(val * 1000) / 1000);
}

static void ev_variant(struct probe_result *r, const struct variant *v)
{
	if (!v->measured) {
		probe_ev_str(r, v->key, "%s", v->why);
		return;
	}
	ev3(r, v->key, "ns", v->s.ns);
	ev3(r, v->key, "ratio", v->s.ratio);
	ev3(r, v->key, "ratio_p25", v->s.ratio_p25);
	ev3(r, v->key, "ratio_p75", v->s.ratio_p75);
	ev3(r, v->key, "huge_pct", v->huge_pct);
	if (v->large_pct >= 0)
		ev3(r, v->key, "large_pct", v->large_pct);
	if (v->contig_pct >= 0)
		ev3(r, v->key, "contig_pct", v->contig_pct);
	ev3(r, v->key, "setup_ms", v->setup_ms);
}

static void ev_release(struct probe_result *r, const char *stem, const struct release *rl)
{
	if (!rl->measured) {
		probe_ev_str(r, stem, "%s", rl->why);
		return;
	}
	ev3(r, stem, "us_per_call", rl->us_per_call);
	ev3(r, stem, "huge_kb_before", rl->huge_kb_before);
	ev3(r, stem, "huge_kb_after", rl->huge_kb_after);
	ev3(r, stem, "rss_kb_dropped", rl->rss_kb_dropped);
	if (rl->file)
		ev3(r, stem, "freed_kb", rl->freed_kb);
	ev3(r, stem, "folio_splits", (double)rl->splits);
	ev3(r, stem, "deferred_splits", (double)rl->deferred);
	if (rl->still_large_pct >= 0)
		ev3(r, stem, "rest_large_pct", rl->still_large_pct);
	ev3(r, stem, "refaults_per_block", rl->refaults_per_block);
}

/* "name 0.62x" for the verdict, or nothing when not measured. */
static size_t say(char *buf, size_t at, size_t len, const char *name, const struct variant *v)
{
	if (!v->measured || at >= len)
		return at;
	at += (size_t)snprintf(buf + at, len - at, "%s%s %.2fx", at ? ", " : "", name, v->s.ratio);
	if (v->huge_pct >= 0.5 && at < len)
		at += (size_t)snprintf(buf + at, len - at, " (%.0f%% 2M)", v->huge_pct);
	return at;
}

enum {
	V_SHUFFLED,
	V_SHARED,
	V_FILE_PTE,
	V_FILE_PMD,
	V_THP_PMD,
	V_THP_PTE,
	V_SHARED_THP,
	V_TMPFS,
	V_MEMFD,
	V_N
};

void probe_exp_read_speed(struct probe_result *r)
{
	long avail_kb = probe_meminfo_kb("MemAvailable");
	size_t bytes = 0;
	for (size_t mib = 1024; mib >= 256 && !bytes; mib /= 2)
		if (avail_kb > 0 && (size_t)avail_kb * 1024 >= 4 * (mib << 20))
			bytes = mib << 20;
	char thp[32], shm[32], none[32], mthp[160];
	thp_choice("enabled", thp, sizeof(thp));
	thp_choice("shmem_enabled", shm, sizeof(shm));
	thp_choice("khugepaged/max_ptes_none", none, sizeof(none));
	mthp_sizes(mthp, sizeof(mthp));
	probe_ev_str(r, "thp_enabled", "%s", thp[0] ? thp : "not present");
	probe_ev_str(r, "thp_shmem_enabled", "%s", shm[0] ? shm : "not present");
	probe_ev_str(r, "mthp_anon_sizes_enabled", "%s", mthp);
	probe_ev_str(r, "khugepaged_max_ptes_none", "%s", none[0] ? none : "not present");
	if (!bytes) {
		probe_verdict(r, PROBE_UNMEASURABLE, "less than 1 GiB of memory available (%ld kB)",
			      avail_kb);
		return;
	}
	probe_ev_int(r, "region_mib", (long long)(bytes >> 20));
	probe_ev_int(r, "stride_bytes", STRIDE);

	struct variant v[V_N] = {
	    [V_SHUFFLED] = {.key = "private_4k_shuffled"},
	    [V_SHARED] = {.key = "shared_4k"},
	    [V_FILE_PTE] = {.key = "file_pte"},
	    [V_FILE_PMD] = {.key = "file_pmd"},
	    [V_THP_PMD] = {.key = "private_thp_pmd"},
	    [V_THP_PTE] = {.key = "private_thp_pte"},
	    [V_SHARED_THP] = {.key = "shared_thp_pmd"},
	    [V_TMPFS] = {.key = "tmpfs_huge_pmd"},
	    [V_MEMFD] = {.key = "memfd_collapsed_pmd"},
	};
	uint64_t t0 = probe_now_ns();
	char *base = anon(bytes, MAP_PRIVATE, MADV_NOHUGEPAGE, false);
	if (!base) {
		probe_fail_errno(r, "the baseline region", errno);
		return;
	}
	probe_ev_num(r, "private_4k_setup_ms", round(ms_since(t0)));
	probe_ev_num(r, "private_4k_huge_pct", huge_pct(base, bytes));
	struct frames bf = frames_of(base, bytes);
	if (bf.contig_pct >= 0)
		probe_ev_num(r, "private_4k_contig_pct", round(bf.contig_pct * 1000) / 1000);

	run_anon(&v[V_SHUFFLED], base, bytes, MAP_PRIVATE, MADV_NOHUGEPAGE, true);
	run_anon(&v[V_SHARED], base, bytes, MAP_SHARED, MADV_NOHUGEPAGE, false);

	/* the file pair, then its strides */
	double stride_ratio[2][2] = {{0, 0}, {0, 0}}; /* [4k, 16k][pte, pmd] */
	char dir[256];
	if (probe_disk_dir(dir, sizeof(dir)) < 0) {
		skip(&v[V_FILE_PTE], "not measurable: %s", "no disk-backed directory");
		skip(&v[V_FILE_PMD], "not measurable: %s", "no disk-backed directory");
	} else {
		char *pmd, *pte;
		double ms;
		int fd = file_maps(r, bytes, &pmd, &pte, &ms);
		if (fd < 0) {
			skip(&v[V_FILE_PTE], "failed: %s", strerror(-fd));
			skip(&v[V_FILE_PMD], "failed: %s", strerror(-fd));
		} else {
			v[V_FILE_PMD].setup_ms = v[V_FILE_PTE].setup_ms = ms;
			measure(&v[V_FILE_PMD], base, pmd, bytes, -1);
			measure(&v[V_FILE_PTE], base, pte, bytes, v[V_FILE_PMD].huge_pct);
			static const size_t strides[2] = {4096, 16384};
			for (int s = 0; s < 2; s++) {
				stride_ratio[s][0] = compare(base, pte, bytes, strides[s]).ratio;
				stride_ratio[s][1] = compare(base, pmd, bytes, strides[s]).ratio;
			}
			munmap(pmd, bytes);
			munmap(pte, bytes);
			close(fd);
		}
	}

	if (!thp[0] || !strcmp(thp, "never")) {
		skip(&v[V_THP_PMD], "not measurable: transparent_hugepage/enabled = %s",
		     thp[0] ? thp : "absent");
		skip(&v[V_THP_PTE], "not measurable: transparent_hugepage/enabled = %s",
		     thp[0] ? thp : "absent");
	} else {
		run_thp(&v[V_THP_PMD], &v[V_THP_PTE], base, bytes);
	}
	if (!shm[0] || !strcmp(shm, "never") || !strcmp(shm, "deny"))
		skip(&v[V_SHARED_THP], "not measurable: transparent_hugepage/shmem_enabled = %s",
		     shm[0] ? shm : "absent");
	else
		run_anon(&v[V_SHARED_THP], base, bytes, MAP_SHARED, MADV_HUGEPAGE, false);
	run_tmpfs(&v[V_TMPFS], base, bytes);
	if (!thp[0] || !strcmp(thp, "never"))
		skip(&v[V_MEMFD], "not measurable: transparent_hugepage/enabled = %s",
		     thp[0] ? thp : "absent");
	else
		run_memfd_collapse(&v[V_MEMFD], base, bytes);
	shared_anon_collapse(r);

	struct release rel_priv = {0}, rel_shm = {0};
	run_release(&rel_priv, &rel_shm);
	munmap(base, bytes);

	/* the baseline's own figure: the median over every pair it was in */
	double bns[V_N];
	size_t nb = 0;
	for (int i = 0; i < V_N; i++)
		if (v[i].measured)
			bns[nb++] = v[i].s.base_ns;
	probe_ev_num(r, "private_4k_ns", round(probe_median(bns, nb) * 1000) / 1000);
	for (int i = 0; i < V_N; i++)
		ev_variant(r, &v[i]);
	if (v[V_FILE_PMD].measured) {
		probe_ev_num(r, "file_pte_ratio_stride_4k",
			     round(stride_ratio[0][0] * 1000) / 1000);
		probe_ev_num(r, "file_pmd_ratio_stride_4k",
			     round(stride_ratio[0][1] * 1000) / 1000);
		probe_ev_num(r, "file_pte_ratio_stride_16k",
			     round(stride_ratio[1][0] * 1000) / 1000);
		probe_ev_num(r, "file_pmd_ratio_stride_16k",
			     round(stride_ratio[1][1] * 1000) / 1000);
	}
	ev_release(r, "release_private_thp", &rel_priv);
	ev_release(r, "release_tmpfs_huge", &rel_shm);

	struct probe_read_point pts[V_N];
	for (int i = 0; i < V_N; i++)
		pts[i] = (struct probe_read_point){v[i].measured ? v[i].s.ratio : 0, v[i].huge_pct,
						   v[i].large_pct};
	const char *cause = probe_read_speed_cause(pts, V_N);
	probe_ev_str(r, "cause", "%s", cause);

	char figs[PROBE_VERDICT_LEN];
	size_t at = 0;
	figs[0] = '\0';
	at = say(figs, at, sizeof(figs), "file", &v[V_FILE_PMD]);
	at = say(figs, at, sizeof(figs), "same frames by PTE", &v[V_FILE_PTE]);
	at = say(figs, at, sizeof(figs), "THP", &v[V_THP_PMD]);
	at = say(figs, at, sizeof(figs), "split", &v[V_THP_PTE]);
	at = say(figs, at, sizeof(figs), "huge tmpfs", &v[V_TMPFS]);
	at = say(figs, at, sizeof(figs), "collapsed memfd", &v[V_MEMFD]);
	at = say(figs, at, sizeof(figs), "shared 4K", &v[V_SHARED]);
	say(figs, at, sizeof(figs), "shuffled", &v[V_SHUFFLED]);
	if (!strcmp(cause, "unmeasured"))
		probe_verdict(r, PROBE_UNMEASURABLE, "no large-folio variant could be set up");
	else
		probe_verdict(r, PROBE_CONCLUSIVE, "%s: time per read vs private 4K: %s", cause,
			      figs);
}
