/*
 * exp_demand_paging.c - experiment 6: are file pages loaded only when touched?
 *
 * A buffer manager that maps its files needs to know what mmap() costs up
 * front and what a first touch costs.  Two measurements, both starting from a
 * file whose page cache was dropped (fsync + posix_fadvise(DONTNEED)):
 *
 *   A. A 16 MiB data file: mincore() residency after the drop and after
 *      mmap(), then read K pages far apart with MADV_RANDOM (no read-around):
 *      residency, PTEs and major faults after.  Then one more read with the
 *      default advice shows the read-around window.
 *   B. A copy of this very executable, run with execve(): a constructor in
 *      this file makes the copy exit at once when PTBM_PROBE_EXEC_EXIT is set,
 *      so it touches only what the loader and C runtime need.  wait4() gives
 *      its major faults and mincore() how much of the binary got loaded.
 *
 * Needs a disk-backed directory: tmpfs pages cannot be dropped from the cache.
 */
#include "probe.h"
#include "probe_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_PAGES 4096 /* 16 MiB data file */
#define TOUCHED	   8	/* pages read in part A, FILE_PAGES / TOUCHED apart */
#define EXEC_ENV   "PTBM_PROBE_EXEC_EXIT"

/* Part B's copy of the executable stops here, before main(). */
__attribute__((constructor)) static void exec_probe_exit_early(void)
{
	if (getenv(EXEC_ENV))
		_exit(0);
}

/* Write len bytes to fd, fsync, and drop its page cache.  0 or -errno. */
static int write_and_drop(int fd, const void *src, size_t len)
{
	int rc = probe_write_all(fd, src, len, 0);
	if (rc < 0)
		return rc;
	if (fsync(fd) != 0)
		return -errno;
	return -posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* returns the error */
}

struct part_a {
	long resident_after_drop, resident_after_mmap, ptes_after_mmap;
	long resident_after_touch, ptes_after_touch, major_faults;
	long readaround_pages, readaround_major_faults;
};

static int measure_file(struct probe_result *r, const char *dir, struct part_a *a)
{
	size_t ps = probe_page_size(), len = FILE_PAGES * ps;
	char path[300];
	int fd = probe_temp_file(r, dir, "data", path, sizeof(path));
	if (fd < 0)
		return fd;
	char *buf = malloc(len);
	int rc = buf ? 0 : -ENOMEM;
	if (buf) {
		memset(buf, 0x5a, len);
		rc = write_and_drop(fd, buf, len);
		free(buf);
	}
	char *p = MAP_FAILED;
	if (rc == 0) {
		a->resident_after_drop = probe_mincore_count_fd(fd, FILE_PAGES);
		p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			rc = -errno;
	}
	if (rc == 0) {
		a->resident_after_mmap = probe_mincore_count(p, FILE_PAGES);
		a->ptes_after_mmap = probe_present_count(p, FILE_PAGES);
		madvise(p, len, MADV_RANDOM);
		struct probe_faults f0 = probe_faults_now();
		for (size_t i = 0; i < TOUCHED; i++)
			probe_touch_read(p + i * (FILE_PAGES / TOUCHED) * ps, 1);
		a->major_faults = probe_faults_since(f0).major;
		a->resident_after_touch = probe_mincore_count(p, FILE_PAGES);
		a->ptes_after_touch = probe_present_count(p, FILE_PAGES);

		madvise(p, len, MADV_NORMAL);
		f0 = probe_faults_now();
		probe_touch_read(p + (FILE_PAGES / TOUCHED / 2) * ps, 1);
		a->readaround_major_faults = probe_faults_since(f0).major;
		a->readaround_pages = probe_mincore_count(p, FILE_PAGES) - a->resident_after_touch;
		munmap(p, len);
	}
	close(fd);
	unlink(path);
	return rc;
}

struct part_b {
	long pages, resident_before, resident_after, major_faults, minor_faults;
};

/* Copy /proc/self/exe into dir, drop its cache, run it; fill b. */
static int measure_exec(struct probe_result *r, const char *dir, struct part_b *b)
{
	char path[300];
	int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return -errno;
	struct stat st;
	if (fstat(src, &st) != 0 || st.st_size <= 0) {
		close(src);
		return -EIO;
	}
	size_t size = (size_t)st.st_size, ps = probe_page_size();
	char *img = mmap(NULL, size, PROT_READ, MAP_PRIVATE, src, 0);
	close(src);
	if (img == MAP_FAILED)
		return -errno;
	int fd = probe_temp_file(r, dir, "exe", path, sizeof(path));
	int rc = fd < 0 ? fd : 0;
	if (rc == 0 && fchmod(fd, 0700) != 0)
		rc = -errno;
	if (rc == 0)
		rc = write_and_drop(fd, img, size);
	munmap(img, size);
	if (fd >= 0)
		close(fd); /* no writer may remain, or execve fails with ETXTBSY */
	if (rc < 0)
		goto out;

	int ro = open(path, O_RDONLY | O_CLOEXEC);
	if (ro < 0) {
		rc = -errno;
		goto out;
	}
	b->pages = (long)((size + ps - 1) / ps);
	b->resident_before = probe_mincore_count_fd(ro, (size_t)b->pages);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = {path, NULL};
		char *envp[] = {EXEC_ENV "=1", NULL};
		execve(path, argv, envp);
		_exit(127);
	}
	struct rusage ru;
	int status = 0;
	if (pid < 0) {
		rc = -errno;
	} else if (wait4(pid, &status, 0, &ru) < 0) {
		rc = -errno;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		rc = -ENOEXEC; /* execve failed (noexec mount?) or the copy crashed */
	} else {
		b->major_faults = ru.ru_majflt;
		b->minor_faults = ru.ru_minflt;
		b->resident_after = probe_mincore_count_fd(ro, (size_t)b->pages);
	}
	close(ro);
out:
	unlink(path);
	return rc;
}

void probe_exp_demand_paging(struct probe_result *r)
{
	char dir[256];
	if (probe_disk_dir(dir, sizeof(dir)) < 0) {
		probe_verdict(r, PROBE_UNMEASURABLE,
			      "no disk-backed writable directory (tmpfs pages cannot be dropped)");
		return;
	}
	probe_ev_str(r, "directory", "%s", dir);
	struct part_a a = {0};
	int rc = measure_file(r, dir, &a);
	if (rc < 0) {
		probe_fail_errno(r, "data file", -rc);
		return;
	}
	probe_ev_int(r, "file_pages", FILE_PAGES);
	probe_ev_int(r, "resident_after_fadvise_dontneed", a.resident_after_drop);
	probe_ev_int(r, "resident_after_mmap", a.resident_after_mmap);
	probe_ev_int(r, "ptes_after_mmap", a.ptes_after_mmap);
	probe_ev_int(r, "pages_touched_madv_random", TOUCHED);
	probe_ev_int(r, "major_faults_for_touches", a.major_faults);
	probe_ev_int(r, "resident_after_touches", a.resident_after_touch);
	probe_ev_int(r, "ptes_after_touches", a.ptes_after_touch);
	probe_ev_int(r, "readaround_pages_one_default_fault", a.readaround_pages);
	probe_ev_int(r, "readaround_major_faults", a.readaround_major_faults);

	struct part_b b = {0};
	int rc_exec = measure_exec(r, dir, &b);
	char exec_note[120] = "";
	if (rc_exec < 0) {
		probe_ev_str(r, "exec", "not measurable: %s", strerror(-rc_exec));
	} else {
		probe_ev_int(r, "exec_binary_pages", b.pages);
		probe_ev_int(r, "exec_resident_before", b.resident_before);
		probe_ev_int(r, "exec_resident_after", b.resident_after);
		probe_ev_int(r, "exec_major_faults", b.major_faults);
		probe_ev_int(r, "exec_minor_faults", b.minor_faults);
		long loaded = b.resident_after - b.resident_before;
		if (b.resident_before != 0 || b.major_faults <= 0)
			snprintf(exec_note, sizeof(exec_note),
				 "; exec: %ld of %ld binary pages loaded, %ld major faults", loaded,
				 b.pages, b.major_faults);
		else if (b.resident_after < b.pages)
			snprintf(exec_note, sizeof(exec_note),
				 "; exec loaded %ld of %ld binary pages by %ld major faults",
				 loaded, b.pages, b.major_faults);
		else /* small binary: the read-around of the first faults covered it */
			snprintf(
			    exec_note, sizeof(exec_note),
			    "; exec: %ld major fault%s read all %ld binary pages (read-around)",
			    b.major_faults, b.major_faults == 1 ? "" : "s", b.pages);
	}

	if (a.resident_after_drop < 0 || a.resident_after_touch < 0 || a.ptes_after_touch < 0) {
		probe_verdict(r, PROBE_UNMEASURABLE, "mincore() or pagemap unreadable");
	} else if (a.resident_after_drop > FILE_PAGES / 100) {
		probe_verdict(r, PROBE_UNMEASURABLE,
			      "the file's cache could not be dropped (%ld pages stayed resident)",
			      a.resident_after_drop);
	} else if (a.resident_after_mmap > a.resident_after_drop + TOUCHED) {
		probe_verdict(r, PROBE_CONCLUSIVE, "mmap() itself loaded %ld pages",
			      a.resident_after_mmap - a.resident_after_drop);
	} else if (a.resident_after_touch - a.resident_after_mmap == TOUCHED &&
		   a.major_faults == TOUCHED && a.ptes_after_mmap == 0) {
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "loaded on touch only: %d touches, %d pages, %ld major faults%s",
			      TOUCHED, TOUCHED, a.major_faults, exec_note);
	} else {
		probe_verdict(r, PROBE_INCONCLUSIVE,
			      "%d touches gave %ld new resident pages and %ld major faults%s",
			      TOUCHED, a.resident_after_touch - a.resident_after_mmap,
			      a.major_faults, exec_note);
	}
}
