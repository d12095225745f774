/*
 * probe_shm.c - create each kind of shared memory, and the lookup trial on it.
 *
 * The trial (probe_shm_trial_run) is the heart of experiments 2 and 5.  Its
 * steps, with P the parent and C a child forked after P populated:
 *
 *   P  create, populate, tag every page; note Shmem before/after, PTEs, bit 61
 *   C  count its PTEs (fork copies none?) and mincore() residency (page
 *      cache, not PTEs?); read every page: faults, data, PTEs; send PFNs
 *   P  compare PFNs, read kpagecount while both map
 *   C  MADV_DONTNEED its range: its PTEs, Shmem change
 *   P  count its own PTEs (untouched?)
 *   C  read again (data still there?), then release with `how`, Shmem change
 *   P  count its own PTEs (zapped by the other process?), read (zeros?)
 */
#include "probe_shm.h"
#include "probe_peer.h"
#include "probe_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#define TRIAL_TAG 0x5348 /* "SH" */

const char *probe_shm_kind_key(enum probe_shm_kind kind)
{
	static const char *const keys[PROBE_SHM_N_KINDS] = {"anon", "sysv", "posix", "memfd"};
	return kind < PROBE_SHM_N_KINDS ? keys[kind] : "?";
}

const char *probe_release_name(enum probe_release how)
{
	switch (how) {
	case PROBE_REL_DONTNEED:
		return "MADV_DONTNEED";
	case PROBE_REL_REMOVE:
		return "MADV_REMOVE";
	case PROBE_REL_PUNCH:
		return "fallocate(PUNCH_HOLE)";
	}
	return "?";
}

/* mmap len bytes of fd shared read-write; -errno on failure. */
static int map_fd(struct probe_shm *s, size_t len)
{
	if (ftruncate(s->fd, (off_t)len) != 0)
		return -errno;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	s->addr = p;
	return 0;
}

static int create_sysv(struct probe_shm *s, size_t len, struct probe_result *r)
{
	int id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);
	if (id < 0)
		return -errno;
	probe_cleanup_add(r, PROBE_CLEAN_SYSV, NULL, id);
	void *p = shmat(id, NULL, 0);
	int err = p == (void *)-1 ? errno : 0;
	/* Marked for removal now: it lives until the last process detaches. */
	shmctl(id, IPC_RMID, NULL);
	if (err)
		return -err;
	s->addr = p;
	s->sysv_id = id;
	return 0;
}

static int create_posix(struct probe_shm *s, size_t len, struct probe_result *r)
{
	static unsigned counter;
	char name[64];
	snprintf(name, sizeof(name), "/ptbm-probe-%d-%u", (int)getpid(), counter++);
	probe_cleanup_add(r, PROBE_CLEAN_SHM, name, -1);
	s->fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->fd < 0)
		return -errno;
	shm_unlink(name); /* the mapping and fd keep the object */
	return map_fd(s, len);
}

static int create_memfd(struct probe_shm *s, size_t len)
{
	s->fd = memfd_create("ptbm-probe", MFD_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	return map_fd(s, len);
}

int probe_shm_create(struct probe_shm *s, enum probe_shm_kind kind, size_t len,
		     struct probe_result *r)
{
	*s = (struct probe_shm){.kind = kind, .addr = NULL, .len = len, .fd = -1, .sysv_id = -1};
	int rc;
	switch (kind) {
	case PROBE_SHM_ANON: {
		void *p =
		    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		rc = p == MAP_FAILED ? -errno : 0;
		if (rc == 0)
			s->addr = p;
		break;
	}
	case PROBE_SHM_SYSV:
		rc = create_sysv(s, len, r);
		break;
	case PROBE_SHM_POSIX:
		rc = create_posix(s, len, r);
		break;
	case PROBE_SHM_MEMFD:
		rc = create_memfd(s, len);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0)
		probe_shm_destroy(s);
	return rc;
}

void probe_shm_destroy(struct probe_shm *s)
{
	if (s->addr) {
		if (s->kind == PROBE_SHM_SYSV)
			shmdt(s->addr);
		else
			munmap(s->addr, s->len);
	}
	if (s->fd >= 0)
		close(s->fd);
	s->addr = NULL;
	s->fd = -1;
}

int probe_shm_release(const struct probe_shm *s, size_t first_page, size_t n_pages,
		      enum probe_release how)
{
	size_t ps = probe_page_size();
	char *addr = s->addr + first_page * ps;
	size_t len = n_pages * ps;
	int rc = 0;
	switch (how) {
	case PROBE_REL_DONTNEED:
		rc = madvise(addr, len, MADV_DONTNEED);
		break;
	case PROBE_REL_REMOVE:
		rc = madvise(addr, len, MADV_REMOVE);
		break;
	case PROBE_REL_PUNCH:
		if (s->fd < 0)
			return -EOPNOTSUPP;
		rc = fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       (off_t)(first_page * ps), (off_t)len);
		break;
	}
	return rc ? -errno : 0;
}

/* ---- the trial ---- */

struct trial_ctx {
	const struct probe_shm *shm;
	size_t n_pages;
	enum probe_release how;
};

/* Child -> parent after the first read pass; PFNs follow as an array. */
struct msg_read {
	size_t present_at_start, mincore_resident, present_after_read, data_ok;
	long read_faults;
};

/* Child -> parent after MADV_DONTNEED. */
struct msg_dontneed {
	size_t present_after;
	long shmem_kb;
};

/* Child -> parent after the release. */
struct msg_release {
	size_t data_ok_after_dontneed;
	int err;
	long shmem_kb;
};

static long shmem_now(void)
{
	return probe_meminfo_kb("Shmem");
}

static int trial_child(struct probe_peer *self, void *arg)
{
	const struct trial_ctx *c = arg;
	char *p = c->shm->addr;
	size_t n = c->n_pages;
	struct msg_read mr = {0};
	long present = probe_present_count(p, n);
	long resident = probe_mincore_count(p, n);
	mr.present_at_start = present < 0 ? 0 : (size_t)present;
	mr.mincore_resident = resident < 0 ? 0 : (size_t)resident;
	struct probe_faults f0 = probe_faults_now();
	mr.data_ok = probe_count_tag(p, n, TRIAL_TAG);
	mr.read_faults = probe_faults_since(f0).minor;
	present = probe_present_count(p, n);
	mr.present_after_read = present < 0 ? 0 : (size_t)present;
	uint64_t *pfns = calloc(n, sizeof(*pfns));
	if (!pfns)
		return 1;
	probe_pfns(p, n, pfns);
	if (probe_peer_send(self, &mr, sizeof(mr)) ||
	    probe_peer_send(self, pfns, n * sizeof(*pfns)))
		return 1;
	free(pfns);

	if (probe_peer_await(self))
		return 1;
	struct msg_dontneed md = {0};
	long before = shmem_now();
	probe_shm_release(c->shm, 0, n, PROBE_REL_DONTNEED);
	md.shmem_kb = shmem_now() - before;
	present = probe_present_count(p, n);
	md.present_after = present < 0 ? 0 : (size_t)present;
	if (probe_peer_send(self, &md, sizeof(md)))
		return 1;

	if (probe_peer_await(self))
		return 1;
	struct msg_release mrel = {0};
	mrel.data_ok_after_dontneed = probe_count_tag(p, n, TRIAL_TAG);
	before = shmem_now();
	mrel.err = probe_shm_release(c->shm, 0, n, c->how);
	mrel.shmem_kb = shmem_now() - before;
	if (probe_peer_send(self, &mrel, sizeof(mrel)))
		return 1;
	return probe_peer_await(self) ? 1 : 0;
}

/* |got - want| within a quarter of the object's size (other processes allocate too). */
static bool kb_near(long got, long want, long size_kb)
{
	long d = got - want;
	return (d < 0 ? -d : d) <= size_kb / 4;
}

/* Shmem moved by about the object's size where it should, and not where not. */
static bool shmem_plausible(const struct probe_shm_trial *t)
{
	long size_kb = (long)(t->n_pages * probe_page_size() / 1024);
	return kb_near(t->shmem_kb_populate, size_kb, size_kb) &&
	       kb_near(t->shmem_kb_dontneed, 0, size_kb) &&
	       kb_near(t->shmem_kb_release, -size_kb, size_kb);
}

static int trial_once(enum probe_shm_kind kind, enum probe_release how, size_t n_pages,
		      struct probe_result *r, struct probe_shm_trial *t)
{
	memset(t, 0, sizeof(*t));
	t->n_pages = n_pages;
	t->release = how;
	size_t ps = probe_page_size();
	struct probe_shm shm;
	int rc = probe_shm_create(&shm, kind, n_pages * ps, r);
	if (rc < 0)
		return rc;

	long before = shmem_now();
	rc = probe_populate_write(shm.addr, n_pages);
	t->shmem_kb_populate = shmem_now() - before;
	if (rc < 0)
		goto out;
	probe_fill(shm.addr, n_pages, TRIAL_TAG);
	probe_maps_name(shm.addr, t->maps_name, sizeof(t->maps_name));
	uint64_t *pm = calloc(n_pages, sizeof(*pm));
	if (!pm) {
		rc = -ENOMEM;
		goto out;
	}
	rc = probe_pagemap_read(shm.addr, n_pages, pm);
	t->parent_present = probe_pagemap_count(pm, n_pages, PM_PRESENT);
	t->file_bit_pages = probe_pagemap_count(pm, n_pages, PM_PRESENT | PM_FILE);
	if (rc < 0) {
		free(pm);
		goto out;
	}

	struct trial_ctx ctx = {.shm = &shm, .n_pages = n_pages, .how = how};
	struct probe_peer peer;
	rc = probe_peer_start(&peer, trial_child, &ctx);
	if (rc < 0) {
		free(pm);
		goto out;
	}
	struct msg_read mr;
	struct msg_dontneed md;
	struct msg_release mrel;
	/* pm is reused for the child's PFNs. */
	rc = probe_peer_recv(&peer, &mr, sizeof(mr));
	if (!rc)
		rc = probe_peer_recv(&peer, pm, n_pages * sizeof(*pm));
	if (!rc) {
		t->child_present_at_start = mr.present_at_start;
		t->child_mincore_resident = mr.mincore_resident;
		t->child_read_faults = mr.read_faults;
		t->child_present_after_read = mr.present_after_read;
		t->child_data_ok = mr.data_ok;
		t->same_pfn = probe_compare_pfns(shm.addr, pm, n_pages, &t->kpagecount_two);
		rc = probe_peer_signal(&peer);
	}
	if (!rc)
		rc = probe_peer_recv(&peer, &md, sizeof(md));
	if (!rc) {
		t->child_present_after_dontneed = md.present_after;
		t->shmem_kb_dontneed = md.shmem_kb;
		long present = probe_present_count(shm.addr, n_pages);
		t->parent_present_after_dontneed = present < 0 ? 0 : (size_t)present;
		rc = probe_peer_signal(&peer);
	}
	if (!rc)
		rc = probe_peer_recv(&peer, &mrel, sizeof(mrel));
	if (!rc) {
		t->child_data_ok_after_dontneed = mrel.data_ok_after_dontneed;
		t->release_err = mrel.err;
		t->shmem_kb_release = mrel.shmem_kb;
		long present = probe_present_count(shm.addr, n_pages);
		t->parent_present_after_release = present < 0 ? 0 : (size_t)present;
		t->parent_zero_after_release = probe_count_zero(shm.addr, n_pages);
		rc = probe_peer_signal(&peer);
	}
	int status = probe_peer_finish(&peer, 10);
	if (!rc && status != 0)
		rc = -ECHILD;
	free(pm);
out:
	probe_shm_destroy(&shm);
	return rc;
}

/*
 * Shmem in /proc/meminfo is machine-wide: another process allocating or
 * freeing shared memory during the few milliseconds of a step shows up in
 * its delta.  So a trial whose Shmem figures are off is run again, up to
 * three times; a kernel that really accounts differently fails all three.
 */
int probe_shm_trial_run(enum probe_shm_kind kind, enum probe_release how, size_t n_pages,
			struct probe_result *r, struct probe_shm_trial *t)
{
	int rc = 0;
	for (int attempt = 1; attempt <= 3; attempt++) {
		rc = trial_once(kind, how, n_pages, r, t);
		t->attempts = attempt;
		if (rc < 0 || shmem_plausible(t))
			break;
	}
	return rc;
}

bool probe_shm_trial_matches(const struct probe_shm_trial *t, const char **why)
{
	size_t n = t->n_pages;
	long size_kb = (long)(n * probe_page_size() / 1024);
	const char *w = NULL;
	if (t->parent_present != n || t->file_bit_pages != n)
		w = "pages are not file/shmem pages in pagemap";
	else if (!kb_near(t->shmem_kb_populate, size_kb, size_kb))
		w = "population not accounted as Shmem";
	else if (t->child_present_at_start != 0)
		w = "a process forked after population started with PTEs";
	else if (t->child_mincore_resident != n)
		w = "mincore() did not report the pages resident without PTEs";
	else if (t->child_data_ok != n || t->child_present_after_read != n ||
		 t->child_read_faults <= 0)
		w = "the second process did not fault the shared pages in";
	else if (t->same_pfn >= 0 && (size_t)t->same_pfn != n)
		w = "the two processes map different physical pages";
	else if (t->child_present_after_dontneed != 0 || t->parent_present_after_dontneed != n)
		w = "MADV_DONTNEED reached the other process's PTEs";
	else if (!kb_near(t->shmem_kb_dontneed, 0, size_kb) || t->child_data_ok_after_dontneed != n)
		w = "MADV_DONTNEED freed shared pages";
	else if (t->release_err != 0)
		w = "the release call failed";
	else if (t->parent_present_after_release != 0)
		w = "the release left the other process's PTEs";
	else if (!kb_near(t->shmem_kb_release, -size_kb, size_kb) ||
		 t->parent_zero_after_release != n)
		w = "the release did not free the pages";
	if (why)
		*why = w;
	return w == NULL;
}

void probe_shm_trial_evidence(struct probe_result *r, const char *prefix,
			      const struct probe_shm_trial *t)
{
	char k[PROBE_KEY_LEN];
#define KEY(name) (snprintf(k, sizeof(k), "%s.%s", prefix, name), k)
	probe_ev_str(r, KEY("maps_name"), "%s", t->maps_name);
	probe_ev_int(r, KEY("attempts"), t->attempts);
	probe_ev_int(r, KEY("pages"), (long long)t->n_pages);
	probe_ev_int(r, KEY("shmem_kb_populate"), t->shmem_kb_populate);
	probe_ev_int(r, KEY("pagemap_file_bit_pages"), (long long)t->file_bit_pages);
	probe_ev_int(r, KEY("child_ptes_at_start"), (long long)t->child_present_at_start);
	probe_ev_int(r, KEY("child_mincore_resident"), (long long)t->child_mincore_resident);
	probe_ev_int(r, KEY("child_read_faults"), t->child_read_faults);
	probe_ev_int(r, KEY("child_ptes_after_read"), (long long)t->child_present_after_read);
	probe_ev_int(r, KEY("child_read_parent_data"), (long long)t->child_data_ok);
	if (t->same_pfn >= 0)
		probe_ev_int(r, KEY("same_pfn_pages"), t->same_pfn);
	else
		probe_ev_str(r, KEY("same_pfn_pages"), PROBE_NO_PFNS);
	if (t->kpagecount_two >= 0)
		probe_ev_int(r, KEY("kpagecount_2_pages"), t->kpagecount_two);
	probe_ev_int(r, KEY("dontneed.child_ptes"), (long long)t->child_present_after_dontneed);
	probe_ev_int(r, KEY("dontneed.parent_ptes"), (long long)t->parent_present_after_dontneed);
	probe_ev_int(r, KEY("dontneed.shmem_kb"), t->shmem_kb_dontneed);
	probe_ev_int(r, KEY("dontneed.child_rereads_data"),
		     (long long)t->child_data_ok_after_dontneed);
	probe_ev_str(r, KEY("release"), "%s in the child%s%s", probe_release_name(t->release),
		     t->release_err ? ": " : "", t->release_err ? strerror(-t->release_err) : "");
	probe_ev_int(r, KEY("release.parent_ptes"), (long long)t->parent_present_after_release);
	probe_ev_int(r, KEY("release.shmem_kb"), t->shmem_kb_release);
	probe_ev_int(r, KEY("release.parent_reads_zero"), (long long)t->parent_zero_after_release);
#undef KEY
}
