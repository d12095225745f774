/*
 * Description: ENOSPC on a real filesystem. A tmpfs of 1 MiB is mounted
 * (in a private mount namespace, so that it goes away with the test even
 * if the test dies) and the data file put on it; the pool, with a budget
 * of 32 pages, is given 400 pages to write, more than the filesystem
 * holds. Once it is full: a miss whose eviction can write back no victim
 * returns -ENOSPC and leaves its page evicted, ptbm_flush returns
 * -ENOSPC, every page that could not be written stays in memory, dirty and
 * intact (read back through the pool), and a page whose copy is on disk
 * reads back intact or is refused with -ENOSPC, never wrong. Then the
 * filesystem is remounted with 64 MiB: ptbm_flush succeeds, the pages that
 * were refused are written, and after close and reopen every page holds
 * its version. Both sharing modes. Root only: exits 77 (skip) otherwise,
 * or if the mount is refused.
 */
#include "internal.h"
#include "pagefmt.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE_SIZE    4096u
#define BUDGET_PAGES 32u
#define N_PAGES	     400u /* 1.6 MiB of pages for a 1 MiB filesystem */

static char dir[64], path[96];
static int failures;

static void check(bool ok, const char *fmt, ...)
{
	if (ok)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "enospc: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failures++;
}

static int mount_tmpfs(unsigned long flags, const char *size)
{
	char opts[32];
	snprintf(opts, sizeof opts, "size=%s", size);
	if (mount("ptbm-enospc", dir, "tmpfs", flags, opts) < 0) {
		fprintf(stderr, "enospc: mount tmpfs %s on %s: %s\n", opts, dir, strerror(errno));
		return -1;
	}
	return 0;
}

static ptbm_pool *open_pool(enum ptbm_share share, uint32_t flags)
{
	struct ptbm_config cfg;
	ptbm_config_init(&cfg);
	cfg.share = share;
	cfg.data_path = path;
	cfg.page_size = PAGE_SIZE;
	cfg.max_pages = 2 * N_PAGES;
	cfg.budget_bytes = BUDGET_PAGES * PAGE_SIZE;
	cfg.evict_batch = 8;
	cfg.flags = flags;
	ptbm_pool *pool = NULL;
	int rc = ptbm_open(&cfg, &pool);
	check(rc == 0, "ptbm_open: %s", ptbm_strerror(rc));
	return rc == 0 ? pool : NULL;
}

static int write_page(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	void *p;
	int rc = ptbm_fix_exclusive(pool, pid, &p);
	if (rc < 0)
		return rc;
	pagefmt_fill(p, ptbm_page_usable(pool), pid, version);
	ptbm_mark_dirty(pool, pid);
	return ptbm_unfix_exclusive(pool, pid);
}

/* 0 if page pid holds version, 1 if it holds another, or the error. */
static int read_page(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	void *p;
	uint64_t v;
	int rc = ptbm_fix_shared(pool, pid, &p);
	if (rc < 0)
		return rc;
	bool ok = pagefmt_check(p, ptbm_page_usable(pool), pid, &v) == 0 && v == version;
	ptbm_unfix_shared(pool, pid);
	return ok ? 0 : 1;
}

static bool is_dirty(ptbm_pool *pool, uint64_t pid)
{
	return atomic_load(&pool->desc[pid]) & PTBM_DIRTY_BIT;
}

static bool is_evicted(ptbm_pool *pool, uint64_t pid)
{
	return ptbm_tag(atomic_load(&pool->desc[pid])) == PTBM_TAG_EVICTED;
}

/* One round on a fresh 1 MiB tmpfs; leaves it mounted at 64 MiB. */
static void round_trip(enum ptbm_share share)
{
	const char *mode = ptbm_share_name(share);
	ptbm_pool *pool = open_pool(share, PTBM_CREATE | PTBM_TRUNCATE);
	if (!pool)
		return;
	uint64_t first;
	check(ptbm_alloc(pool, N_PAGES, &first) == 0 && first == 0, "alloc");

	/* write until the filesystem is full; every refusal is -ENOSPC */
	static bool written[N_PAGES];
	unsigned n_written = 0, n_refused = 0;
	for (uint64_t pid = 0; pid < N_PAGES; pid++) {
		int rc = write_page(pool, pid, 1);
		written[pid] = rc == 0;
		n_written += rc == 0;
		if (rc == 0)
			continue;
		n_refused++;
		check(rc == -ENOSPC, "%s: write of page %llu: %s, expected -ENOSPC", mode,
		      (unsigned long long)pid, ptbm_strerror(rc));
		check(is_evicted(pool, pid), "%s: page %llu refused but resident", mode,
		      (unsigned long long)pid);
	}
	check(n_refused > 0, "%s: all %u pages written on a 1 MiB filesystem", mode, N_PAGES);
	int rc = ptbm_flush(pool);
	check(rc == -ENOSPC, "%s: flush on a full filesystem: %s, expected -ENOSPC", mode,
	      ptbm_strerror(rc));

	/* the last good copies: the pages that could not be written are in
	 * memory, dirty and intact; the others are on disk */
	struct ptbm_stats st;
	ptbm_get_stats(pool, &st);
	unsigned dirty = 0, in_memory = 0, on_disk_read = 0, on_disk_refused = 0;
	for (uint64_t pid = 0; pid < N_PAGES; pid++) {
		if (!written[pid]) {
			check(is_evicted(pool, pid), "%s: page %llu never written is resident",
			      mode, (unsigned long long)pid);
			continue;
		}
		if (!is_evicted(pool, pid)) {
			dirty += is_dirty(pool, pid);
			in_memory++;
			rc = read_page(pool, pid, 1);
			check(rc == 0, "%s: page %llu in memory: %s", mode, (unsigned long long)pid,
			      rc == 1 ? "wrong data" : ptbm_strerror(rc));
			continue;
		}
		rc = read_page(pool, pid, 1); /* needs a frame: may be refused */
		if (rc == -ENOSPC) {
			on_disk_refused++;
			continue;
		}
		on_disk_read++;
		check(rc == 0, "%s: page %llu from disk: %s", mode, (unsigned long long)pid,
		      rc == 1 ? "wrong data" : ptbm_strerror(rc));
	}
	check(dirty > 0 && dirty == in_memory,
	      "%s: %u of the %u pages in memory dirty after a "
	      "failed flush",
	      mode, dirty, in_memory);
	check(st.resident <= BUDGET_PAGES, "%s: resident %llu > budget", mode,
	      (unsigned long long)st.resident);
	printf("enospc: %s: %u pages written, %u refused with -ENOSPC, flush -ENOSPC; %u pages "
	       "in memory (%u dirty) intact, %u read back from disk, %u refused a frame\n",
	       mode, n_written, n_refused, in_memory, dirty, on_disk_read, on_disk_refused);

	/* room again: the flush succeeds and the refused pages can be written */
	if (mount_tmpfs(MS_REMOUNT, "64m") < 0) {
		failures++;
		ptbm_close(pool);
		return;
	}
	rc = ptbm_flush(pool);
	check(rc == 0, "%s: flush after remount: %s", mode, ptbm_strerror(rc));
	for (uint64_t pid = 0; pid < N_PAGES; pid++) {
		check(!is_dirty(pool, pid), "%s: page %llu dirty after a good flush", mode,
		      (unsigned long long)pid);
		if (!written[pid]) {
			rc = write_page(pool, pid, 1);
			check(rc == 0, "%s: write of page %llu after remount: %s", mode,
			      (unsigned long long)pid, ptbm_strerror(rc));
		}
	}
	rc = ptbm_flush(pool);
	check(rc == 0, "%s: second flush after remount: %s", mode, ptbm_strerror(rc));
	ptbm_close(pool);

	pool = open_pool(share, 0);
	if (!pool)
		return;
	ptbm_get_stats(pool, &st);
	check(st.allocated == N_PAGES, "%s: reopened with %llu pages", mode,
	      (unsigned long long)st.allocated);
	unsigned ok = 0;
	for (uint64_t pid = 0; pid < N_PAGES; pid++) {
		rc = read_page(pool, pid, 1);
		ok += rc == 0;
		check(rc == 0, "%s: page %llu after reopen: %s", mode, (unsigned long long)pid,
		      rc == 1 ? "wrong data" : ptbm_strerror(rc));
	}
	ptbm_close(pool);
	printf("enospc: %s: after remounting 64 MiB, flush ok, %u of %u pages verified after "
	       "reopen\n",
	       mode, ok, N_PAGES);
}

/* In a private mount namespace: mount, run both modes, unmount. */
static int in_namespace(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		printf("enospc: skipped: no private mount namespace (%s)\n", strerror(errno));
		return 77;
	}
	const enum ptbm_share modes[] = {PTBM_SHARE_THREADS, PTBM_SHARE_PROCESSES};
	for (int i = 0; i < 2; i++) {
		if (mount_tmpfs(0, "1m") < 0) {
			printf("enospc: skipped: tmpfs refused\n");
			return i == 0 ? 77 : 1;
		}
		round_trip(modes[i]);
		unlink(path);
		if (umount2(dir, 0) < 0) {
			fprintf(stderr, "enospc: umount %s: %s\n", dir, strerror(errno));
			failures++;
			umount2(dir, MNT_DETACH);
		}
	}
	return failures ? 1 : 0;
}

int main(void)
{
	if (geteuid() != 0) {
		printf("enospc: skipped: mounting a tmpfs needs root\n");
		return 77;
	}
	snprintf(dir, sizeof dir, "/var/tmp/ptbm-enospc-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("enospc: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof path, "%s/data", dir);
	/* the child owns the namespace: whatever happens to it, the mount goes */
	fflush(NULL);
	pid_t child = fork();
	if (child == 0) {
		int rc = in_namespace();
		fflush(NULL);
		_exit(rc);
	}
	int status = 0;
	waitpid(child, &status, 0);
	unlink(path); /* if the mount was gone early, the file is here */
	if (rmdir(dir) < 0)
		fprintf(stderr, "enospc: rmdir %s: %s\n", dir, strerror(errno));
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	if (rc != 77)
		printf("%s\n", rc == 0 ? "PASS" : "FAIL");
	return rc;
}
