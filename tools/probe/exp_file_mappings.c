/*
 * exp_file_mappings.c - experiment 4: the same file, MAP_SHARED in one process
 * and MAP_PRIVATE in another.
 *
 *   1. A temporary file of N pages, each tagged F.
 *   2. The parent maps it MAP_SHARED, the child MAP_PRIVATE; both read every
 *      page; the child sends its PFNs (same page-cache pages?).
 *   3. The child writes tag P into page 0 of its private mapping: does the
 *      parent see it?  does the file (pread) change?  does the child's PFN
 *      for page 0 change?
 *   4. The parent writes tag S into pages 0 and 1 of its shared mapping: does
 *      the file change?  does the child see page 1 (never written privately)?
 *      page 0 (privately copied)?
 */
#include "probe.h"
#include "probe_peer.h"
#include "probe_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define N_PAGES 8
#define TAG_F	0xF11E
#define TAG_P	0x9A1
#define TAG_S	0x5A1

struct ctx {
	int fd;
};

struct child_first {
	int err;	       /* mmap errno, 0 ok */
	long read_ok;	       /* pages read as TAG_F */
	uint64_t pfn[N_PAGES]; /* before its write */
	uint64_t pfn0_after;   /* page 0 after the private write */
};

struct child_second {
	int page1_sees_shared;	 /* page 1: the parent's write visible */
	int page0_sees_shared;	 /* page 0: the parent's write visible (after own copy) */
	int page0_keeps_private; /* page 0 still holds its own private write */
};

static uint64_t word_at(const char *p, size_t page)
{
	return *(const volatile uint64_t *)(p + page * probe_page_size());
}

static int child(struct probe_peer *self, void *arg)
{
	const struct ctx *c = arg;
	size_t ps = probe_page_size();
	struct child_first f1;
	memset(&f1, 0, sizeof(f1));
	char *p = mmap(NULL, N_PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE, c->fd, 0);
	if (p == MAP_FAILED) {
		f1.err = errno;
		probe_peer_send(self, &f1, sizeof(f1));
		return 1;
	}
	f1.read_ok = (long)probe_count_tag(p, N_PAGES, TAG_F);
	probe_pfns(p, N_PAGES, f1.pfn);
	*(volatile uint64_t *)p = PROBE_TAG(TAG_P, 0);
	probe_pfns(p, 1, &f1.pfn0_after);
	if (probe_peer_send(self, &f1, sizeof(f1)) || probe_peer_await(self))
		return 1;
	struct child_second f2 = {
	    .page1_sees_shared = word_at(p, 1) == PROBE_TAG(TAG_S, 1),
	    .page0_sees_shared = word_at(p, 0) == PROBE_TAG(TAG_S, 0),
	    .page0_keeps_private = word_at(p, 0) == PROBE_TAG(TAG_P, 0),
	};
	munmap(p, N_PAGES * ps);
	return probe_peer_send(self, &f2, sizeof(f2)) ? 1 : 0;
}

/* The file's first word of page i, read with pread (not through a mapping). */
static uint64_t file_word(int fd, size_t page)
{
	uint64_t w = 0;
	if (pread(fd, &w, sizeof(w), (off_t)(page * probe_page_size())) != (ssize_t)sizeof(w))
		return 0;
	return w;
}

/* Create the tagged file; returns the fd or -errno. */
static int make_file(struct probe_result *r, char *path, size_t path_len)
{
	int fd = probe_temp_file(r, NULL, "file", path, path_len);
	if (fd < 0)
		return fd;
	size_t ps = probe_page_size();
	int rc = 0;
	for (size_t i = 0; i < N_PAGES && rc == 0; i++) {
		uint64_t tag = PROBE_TAG(TAG_F, i);
		rc = probe_write_all(fd, &tag, sizeof(tag), (off_t)(i * ps));
	}
	if (rc == 0 && ftruncate(fd, (off_t)(N_PAGES * ps)) != 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

void probe_exp_file_mappings(struct probe_result *r)
{
	size_t ps = probe_page_size(), len = N_PAGES * ps;
	char path[300];
	int fd = make_file(r, path, sizeof(path));
	if (fd < 0) {
		probe_fail_errno(r, "creating the temporary file", -fd);
		return;
	}
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		probe_fail_errno(r, "mmap MAP_SHARED", errno);
		goto out_close;
	}
	long parent_read_ok = (long)probe_count_tag(p, N_PAGES, TAG_F);
	struct ctx c = {.fd = fd};
	struct probe_peer peer;
	int rc = probe_peer_start(&peer, child, &c);
	if (rc < 0) {
		probe_fail_errno(r, "fork", -rc);
		goto out_unmap;
	}
	struct child_first f1;
	struct child_second f2;
	rc = probe_peer_recv(&peer, &f1, sizeof(f1));
	if (!rc && f1.err)
		rc = -f1.err;
	bool shared_sees_private = false, file_got_private = false;
	bool file_got_shared = false;
	long same_pfn = -1, twice = -1;
	if (!rc) {
		shared_sees_private = word_at(p, 0) == PROBE_TAG(TAG_P, 0);
		file_got_private = file_word(fd, 0) == PROBE_TAG(TAG_P, 0);
		same_pfn = probe_compare_pfns(p, f1.pfn, N_PAGES, &twice);
		*(volatile uint64_t *)(p + 0 * ps) = PROBE_TAG(TAG_S, 0);
		*(volatile uint64_t *)(p + 1 * ps) = PROBE_TAG(TAG_S, 1);
		file_got_shared = file_word(fd, 1) == PROBE_TAG(TAG_S, 1) &&
				  file_word(fd, 0) == PROBE_TAG(TAG_S, 0);
		rc = probe_peer_signal(&peer);
	}
	if (!rc)
		rc = probe_peer_recv(&peer, &f2, sizeof(f2));
	probe_peer_finish(&peer, 5);
	if (rc < 0) {
		probe_fail_errno(r, "the MAP_PRIVATE child", -rc);
		goto out_unmap;
	}

	probe_ev_int(r, "pages", N_PAGES);
	probe_ev_int(r, "shared_mapper_read_file_data", parent_read_ok);
	probe_ev_int(r, "private_mapper_read_file_data", f1.read_ok);
	long pfn_moved = -1;
	if (same_pfn >= 0) {
		pfn_moved = f1.pfn0_after != f1.pfn[0];
		probe_ev_int(r, "same_page_cache_page_before_private_write", same_pfn);
		if (twice >= 0) /* counted after the private write: page 0 is mapped once */
			probe_ev_int(r, "kpagecount_2_pages", twice);
		probe_ev_bool(r, "private_write_moved_page_0_to_new_pfn", pfn_moved);
	} else {
		probe_ev_str(r, "pfns", PROBE_NO_PFNS);
	}
	probe_ev_bool(r, "shared_mapper_sees_private_write", shared_sees_private);
	probe_ev_bool(r, "file_changed_by_private_write", file_got_private);
	probe_ev_bool(r, "file_changed_by_shared_write", file_got_shared);
	probe_ev_bool(r, "private_mapper_sees_shared_write_unwritten_page", f2.page1_sees_shared);
	probe_ev_bool(r, "private_mapper_sees_shared_write_own_copy", f2.page0_sees_shared);
	probe_ev_bool(r, "private_copy_keeps_own_write", f2.page0_keeps_private);

	bool expected = parent_read_ok == N_PAGES && f1.read_ok == N_PAGES &&
			!shared_sees_private && !file_got_private && file_got_shared &&
			f2.page1_sees_shared && !f2.page0_sees_shared && f2.page0_keeps_private;
	if (!expected)
		probe_verdict(r, PROBE_INCONCLUSIVE,
			      "unexpected visibility: private write seen by shared %d, in file %d; "
			      "shared write in file %d, seen by private %d/%d",
			      shared_sees_private, file_got_private, file_got_shared,
			      f2.page1_sees_shared, f2.page0_sees_shared);
	else if (same_pfn < 0)
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "MAP_SHARED writes reach the file and other mappers; MAP_PRIVATE "
			      "copies a page on its first write (PFNs not visible)");
	else if (same_pfn == N_PAGES && pfn_moved == 1)
		probe_verdict(r, PROBE_CONCLUSIVE,
			      "both map the same page-cache page until a MAP_PRIVATE write copies "
			      "it; MAP_SHARED writes reach the file and unwritten private pages");
	else
		probe_verdict(
		    r, PROBE_INCONCLUSIVE,
		    "visibility as expected, but %ld/%d pages shared a PFN, copy moved %ld",
		    same_pfn, N_PAGES, pfn_moved);
out_unmap:
	munmap(p, len);
out_close:
	close(fd);
	unlink(path);
}
