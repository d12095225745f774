/*
 * Description: experiment 10 (fault-path).  The kernel call chains of faults,
 * sampled with perf_event_open(2) and named from /proc/kallsyms, against the
 * Linux 6.x source (mm/memory.c, mm/filemap.c, mm/shmem.c, ipc/shm.c):
 *
 *   - a process reading shared anonymous pages its parent populated maps
 *     them by fault-around, do_fault > filemap_map_pages (> next_uptodate_folio
 *     > xas_find: a walk of the page cache's XArray), far fewer faults than
 *     pages, and never allocates;
 *   - writing them, it looks each page up: __do_fault > shmem_fault >
 *     shmem_get_folio_gfp > filemap_get_entry (> xas_load), one fault per
 *     page, no fault-around, no allocation;
 *   - a SysV segment reads through the same single-page lookup, one fault
 *     per page, without fault-around (shm_vm_ops has no map_pages);
 *   - a memfd reads like the shared anonymous mapping;
 *   - a first touch and a read after MADV_REMOVE allocate
 *     (shmem_get_folio_gfp > shmem_alloc_and_add_folio);
 *   - a private page still mapped by another process is copied on write
 *     (do_wp_page), never through shmem;
 *   - /proc/self/maps names the shmem files; the kernel release is this one's;
 *   - run by an unprivileged user where perf_event_paranoid forbids kernel
 *     samples, the experiment is not measurable, says why, and names no path.
 *
 * Exits 77 when the experiment is not measurable here (no root, paranoid or
 * kptr_restrict settings): nothing is asserted then.
 */
#include "probe_test.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static long long ev(const struct probe_result *r, const char *c, const char *name)
{
	char key[PROBE_KEY_LEN];
	snprintf(key, sizeof(key), "%s.%s", c, name);
	return pt_int(r, key);
}

static const char *evs(const struct probe_result *r, const char *c, const char *name)
{
	char key[PROBE_KEY_LEN];
	snprintf(key, sizeof(key), "%s.%s", c, name);
	return pt_str(r, key);
}

/*
 * A marker counts as seen with the experiment's own threshold. It counts as
 * absent below that, or below 2% of the case's fault samples: a pass may
 * also take a few faults outside the pages it measures (its own code and
 * libraries are file pages, mapped by fault-around), a handful of samples
 * that say nothing of the shmem pages.
 */
static long long min_seen;
#define SEEN(c, m)   (ev(r, c, m) >= min_seen)
#define ABSENT(c, m) (ev(r, c, m) < min_seen || ev(r, c, m) * 50 < ev(r, c, "fault_samples"))

static void check_reads(const struct probe_result *r, const char *c, long long pages)
{
	PT_CHECK(SEEN(c, "around"), "%s: do_fault > filemap_map_pages (%lld samples)", c,
		 ev(r, c, "around"));
	PT_CHECK(SEEN(c, "around_xarray"), "%s: it walks the XArray (%lld)", c,
		 ev(r, c, "around_xarray"));
	PT_CHECK(ev(r, c, "faults_per_pass") < pages / 4,
		 "%s: fault-around: %lld faults for %lld pages", c, ev(r, c, "faults_per_pass"),
		 pages);
	PT_CHECK(ABSENT(c, "alloc") && ABSENT(c, "cow"), "%s: nothing allocated or copied", c);
	PT_CHECK(strstr(evs(r, c, "deepest_path"), "filemap_map_pages > next_uptodate_folio") !=
		     NULL,
		 "%s: path %s", c, evs(r, c, "deepest_path"));
}

static void check_lookup(const struct probe_result *r, const char *c, long long pages)
{
	PT_CHECK(SEEN(c, "lookup"),
		 "%s: __do_fault > shmem_fault > shmem_get_folio_gfp > filemap_get_entry (%lld)", c,
		 ev(r, c, "lookup"));
	PT_CHECK(SEEN(c, "lookup_xarray"), "%s: filemap_get_entry > xas_load (%lld)", c,
		 ev(r, c, "lookup_xarray"));
	PT_CHECK(ABSENT(c, "around"), "%s: no fault-around (%lld)", c, ev(r, c, "around"));
	PT_CHECK(ABSENT(c, "alloc") && ABSENT(c, "cow"), "%s: nothing allocated or copied", c);
	/* + a quarter: sanitizer builds fault on their shadow memory too */
	long long f = ev(r, c, "faults_per_pass");
	PT_CHECK(f >= pages && f <= pages + pages / 4, "%s: one fault per page (%lld for %lld)", c,
		 f, pages);
	PT_CHECK(strstr(evs(r, c, "deepest_path"),
			"shmem_fault > shmem_get_folio_gfp > filemap_get_entry") != NULL,
		 "%s: path %s", c, evs(r, c, "deepest_path"));
}

static void check_alloc(const struct probe_result *r, const char *c)
{
	PT_CHECK(SEEN(c, "alloc"), "%s: shmem_get_folio_gfp > shmem_alloc_and_add_folio (%lld)", c,
		 ev(r, c, "alloc"));
	PT_CHECK(ABSENT(c, "cow"), "%s: no copy", c);
}

/* Case c on a kind of shmem object this machine may lack: its maps name
 * starts with tag, and its case passes check. */
static void check_kind(const struct probe_result *r, const char *c, const char *kind,
		       const char *tag,
		       void (*check)(const struct probe_result *, const char *, long long),
		       long long pages)
{
	char key[PROBE_KEY_LEN];
	snprintf(key, sizeof(key), "%s.passes", c);
	if (!probe_ev_find(r, key)) {
		printf("note: %s %s\n", c, pt_str(r, c));
		return;
	}
	snprintf(key, sizeof(key), "%s.maps_name", kind);
	PT_CHECK(strncmp(pt_str(r, key), tag, strlen(tag)) == 0, "%s maps: %s", kind,
		 pt_str(r, key));
	check(r, c, pages);
}

/* ---- the unprivileged run ---- */

static void exp_unprivileged(struct probe_result *r)
{
	if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
	    setresuid(65534, 65534, 65534) != 0) {
		probe_fail_errno(r, "dropping to nobody", errno);
		return;
	}
	probe_exp_fault_path(r);
}

static void check_unprivileged(void)
{
	char line[16];
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	int paranoid = f && fgets(line, sizeof(line), f) ? atoi(line) : -1;
	if (f)
		fclose(f);
	if (geteuid() != 0 || paranoid < 2) {
		printf("note: unprivileged run not checked (euid %d, perf_event_paranoid %d)\n",
		       (int)geteuid(), paranoid);
		return;
	}
	static struct probe_result r;
	struct probe_experiment e = *probe_find("fault-path");
	e.run = exp_unprivileged;
	probe_run_isolated(&e, 30, &r);
	printf("as nobody: %s (%s)\n", r.verdict, probe_status_name(r.status));
	PT_CHECK(r.status == PROBE_UNMEASURABLE, "unprivileged: not measurable (%s)",
		 probe_status_name(r.status));
	PT_CHECK(strstr(r.verdict, "perf_event_paranoid") || strstr(r.verdict, "kptr_restrict"),
		 "with the reason: %s", r.verdict);
	PT_CHECK(!probe_ev_find(&r, "anon_write.lookup") && !probe_ev_find(&r, "anon_read.around"),
		 "and no path evidence");
}

int main(void)
{
	check_unprivileged();
	const struct probe_result *r = pt_run("fault-path");
	struct utsname u;
	uname(&u);
	PT_CHECK(strcmp(pt_str(r, "kernel_release"), u.release) == 0, "kernel %s",
		 pt_str(r, "kernel_release"));
	min_seen = pt_int(r, "present_min_samples");
	long long pages = pt_int(r, "pages_per_pass");
	PT_CHECK(min_seen >= 1 && pages > 0, "thresholds recorded");
	PT_CHECK(strcmp(pt_str(r, "anon.maps_name"), "/dev/zero (deleted)") == 0,
		 "a shared anonymous mapping is the shmem file /dev/zero (deleted): %s",
		 pt_str(r, "anon.maps_name"));

	check_reads(r, "anon_read", pages);
	check_lookup(r, "anon_write", pages);
	check_kind(r, "sysv_read", "sysv", "/SYSV", check_lookup, pages);
	check_kind(r, "memfd_read", "memfd", "/memfd:", check_reads, pages);
	check_alloc(r, "first_touch");
	check_alloc(r, "remove_read");
	PT_CHECK(SEEN("private_cow", "cow"), "private: handle_mm_fault > do_wp_page (%lld)",
		 ev(r, "private_cow", "cow"));
	PT_CHECK(ABSENT("private_cow", "lookup") && ABSENT("private_cow", "around") &&
		     ABSENT("private_cow", "alloc"),
		 "private: never through shmem");
	PT_CHECK(ev(r, "private_cow", "faults_per_pass") >= pages, "private: a fault per page");

	PT_CHECK(r->status == PROBE_CONCLUSIVE, "verdict: %s", r->verdict);
	PT_CHECK(strstr(r->verdict, "page cache") != NULL, "the verdict names the structure");
	return pt_finish(r);
}
