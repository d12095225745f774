/*
 * exp_fault_path.c - experiment 10: which kernel path serves a fault, and which
 * structure answers the lookup?
 *
 * Experiments 1, 2 and 8 show that a process without PTEs finds the pages
 * another process created through its own faults, 16 pages per read fault.
 * This one shows how, from the kernel's call chains: a software clock event
 * samples the faulting process every SAMPLE_PERIOD_NS of its CPU time with
 * PERF_SAMPLE_CALLCHAIN (probe_perf.c), and the addresses are named from
 * /proc/kallsyms.  The cases:
 *
 *   anon_read    a child reads the pages of a shared anonymous mapping its
 *                parent populated before the fork
 *   anon_write   the same, writing
 *   sysv_read    the read on a SysV segment
 *   memfd_read   the read on a memfd
 *   private_cow  a child writes the pages of a private anonymous mapping
 *                another process still maps (copy on write)
 *   first_touch  a process writes a fresh shared anonymous mapping
 *   remove_read  a process reads pages it populated, then released with
 *                MADV_REMOVE
 *
 * Every shared mapping is in base pages (MADV_NOHUGEPAGE), as a
 * processes-mode pool of 4 KiB pages keeps its frames whatever the
 * transparent_hugepage settings say.
 *
 * Each case runs passes over N_PAGES pages, the event enabled only while the
 * pages are touched, until it has TARGET_SAMPLES samples in the fault
 * handler or CASE_BUDGET_NS is spent.  Between passes, with the event off,
 * the pages are made to fault again: MADV_DONTNEED of the caller's own PTEs
 * (shared pages stay in the page cache), a new process sharing the private
 * pages, a fresh mapping, or populate + MADV_REMOVE.
 *
 * A fault sample is one whose outermost frame is asm_exc_page_fault; its
 * chain is cut at the first nested interrupt entry (asm_*).  A marker is an
 * ordered list of functions asking one question about the path; a sample
 * carries it when the functions appear in its chain in that caller order
 * (others may come between: the compiler inlines static functions such as
 * do_read_fault()).  A case shows a marker when at least PRESENT_MIN of its
 * fault samples carry it.  The verdict says which markers each case showed,
 * and from the second process's faults which structure answered the lookup.
 *
 * Without kernel samples (perf_event_paranoid, no CAP_PERFMON) or kernel
 * symbol addresses (kptr_restrict, no CAP_SYSLOG) the experiment is not
 * measurable, with the reason; it never guesses a path.
 */
#include "probe.h"
#include "probe_peer.h"
#include "probe_perf.h"
#include "probe_shm.h"
#include "probe_sys.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_PAGES		 4096	      /* 16 MiB per pass */
#define SAMPLE_PERIOD_NS 20000	      /* 50000 samples per CPU second */
#define TARGET_SAMPLES	 2000	      /* fault samples a case aims for */
#define MAX_PASSES	 32	      /* ... in at most this many passes */
#define CASE_BUDGET_NS	 400000000ull /* ... or this much time */
#define PRESENT_MIN	 3	      /* samples that make a marker seen */
#define ENOUGH_SAMPLES	 100	      /* fault samples a case needs to count */
#define N_CHAINS	 48	      /* distinct paths kept per case */

/* The functions the markers and the paths are made of (Linux 6.x names). */
enum fn {
	F_ASM_EXC_PAGE_FAULT,
	F_EXC_PAGE_FAULT,
	F_HANDLE_MM_FAULT,
	F___HANDLE_MM_FAULT,
	F_DO_FAULT,
	F_DO_READ_FAULT,
	F_DO_SHARED_FAULT,
	F_DO_COW_FAULT,
	F_DO_FAULT_AROUND,
	F_FILEMAP_MAP_PAGES,
	F_NEXT_UPTODATE_FOLIO,
	F_XAS_FIND,
	F___DO_FAULT,
	F_SHM_FAULT,
	F_SHMEM_FAULT,
	F_SHMEM_GET_FOLIO_GFP,
	F_FILEMAP_GET_ENTRY,
	F_XAS_LOAD,
	F_SHMEM_ALLOC_AND_ADD_FOLIO,
	F_SHMEM_ALLOC_FOLIO,
	F_SHMEM_ADD_TO_PAGE_CACHE,
	F_DO_WP_PAGE,
	F_WP_PAGE_COPY,
	F_DO_ANONYMOUS_PAGE,
	F_FINISH_FAULT,
	N_FN,
};

static const char *const fn_name[N_FN] = {
    "asm_exc_page_fault",
    "exc_page_fault",
    "handle_mm_fault",
    "__handle_mm_fault",
    "do_fault",
    "do_read_fault",
    "do_shared_fault",
    "do_cow_fault",
    "do_fault_around",
    "filemap_map_pages",
    "next_uptodate_folio",
    "xas_find",
    "__do_fault",
    "shm_fault",
    "shmem_fault",
    "shmem_get_folio_gfp",
    "filemap_get_entry",
    "xas_load",
    "shmem_alloc_and_add_folio",
    "shmem_alloc_folio",
    "shmem_add_to_page_cache",
    "do_wp_page",
    "wp_page_copy",
    "do_anonymous_page",
    "finish_fault",
};

struct marker {
	const char *key; /* evidence key suffix */
	int n;		 /* functions in fn[] */
	enum fn fn[4];	 /* in caller order */
};

enum { M_AROUND, M_AROUND_XARRAY, M_LOOKUP, M_LOOKUP_XARRAY, M_SYSV, M_ALLOC, M_COW, N_MARKERS };
static const struct marker markers[N_MARKERS] = {
    /* fault-around: mm/memory.c do_read_fault() -> do_fault_around() ->
     * vm_ops->map_pages = filemap_map_pages() (mm/filemap.c) */
    {"around", 2, {F_DO_FAULT, F_FILEMAP_MAP_PAGES}},
    /* ... which walks the page cache's XArray from the window's start */
    {"around_xarray", 3, {F_FILEMAP_MAP_PAGES, F_NEXT_UPTODATE_FOLIO, F_XAS_FIND}},
    /* one page: __do_fault() -> vm_ops->fault = shmem_fault() (mm/shmem.c)
     * -> shmem_get_folio_gfp() -> filemap_get_entry(inode->i_mapping, index) */
    {"lookup", 4, {F___DO_FAULT, F_SHMEM_FAULT, F_SHMEM_GET_FOLIO_GFP, F_FILEMAP_GET_ENTRY}},
    /* ... which loads the entry at index from mapping->i_pages */
    {"lookup_xarray", 2, {F_FILEMAP_GET_ENTRY, F_XAS_LOAD}},
    /* SysV: ipc/shm.c shm_vm_ops.fault = shm_fault(), which ends in a tail
     * call of shmem's fault: its frame may be gone before a sample lands */
    {"sysv", 2, {F_SHM_FAULT, F_SHMEM_FAULT}},
    /* nothing cached at index: allocate a folio, add it to the page cache */
    {"alloc", 2, {F_SHMEM_GET_FOLIO_GFP, F_SHMEM_ALLOC_AND_ADD_FOLIO}},
    /* a write to a page mapped read-only because it is shared: copy it */
    {"cow", 2, {F_HANDLE_MM_FAULT, F_DO_WP_PAGE}},
};

enum kase {
	C_ANON_READ,
	C_ANON_WRITE,
	C_SYSV_READ,
	C_MEMFD_READ,
	C_PRIVATE_COW,
	C_FIRST_TOUCH,
	C_REMOVE_READ,
	N_CASES
};

enum object { O_ANON, O_SYSV, O_MEMFD, O_PRIVATE, O_FRESH, N_OBJECTS };

static const struct case_def {
	const char *key;
	enum object object; /* what it touches */
	bool in_child;	    /* a process forked after the object was populated */
	bool write;	    /* write touches (else reads) */
} cases[N_CASES] = {
    [C_ANON_READ] = {"anon_read", O_ANON, true, false},
    [C_ANON_WRITE] = {"anon_write", O_ANON, true, true},
    [C_SYSV_READ] = {"sysv_read", O_SYSV, true, false},
    [C_MEMFD_READ] = {"memfd_read", O_MEMFD, true, false},
    [C_PRIVATE_COW] = {"private_cow", O_PRIVATE, true, true},
    [C_FIRST_TOUCH] = {"first_touch", O_FRESH, false, true},
    [C_REMOVE_READ] = {"remove_read", O_ANON, false, false},
};

struct chain_slot {
	char text[PROBE_VALUE_LEN]; /* handle_mm_fault > ... > deepest named function */
	int depth;		    /* named functions in it */
	long count;		    /* samples */
};

/* What one case measured; sent whole from a child to the parent. */
struct tally {
	int err;		 /* 0, or -errno of the case */
	long samples;		 /* kernel samples while the pages were touched */
	long fault_samples;	 /* of those, in the page-fault handler */
	long faults;		 /* minor faults of the touches */
	long passes;		 /* passes run */
	unsigned long long lost; /* samples the ring buffer dropped */
	long marker[N_MARKERS];	 /* fault samples carrying each marker */
	int n_chains;
	struct chain_slot chain[N_CHAINS];
};

/* What the cases share; built before any fork, so children inherit it. */
struct ctx {
	struct probe_ksyms ksyms;
	signed char *fn_of_sym; /* enum fn of each symbol, or -1 */
	struct probe_shm shm[N_OBJECTS];
	bool have[N_OBJECTS];
	struct tally *tally; /* the case being sampled */
};

/* ---- turning a sample into markers and a path ---- */

static bool carries(const int *fns, size_t len, const struct marker *m)
{
	int j = 0;
	for (size_t i = 0; i < len && j < m->n; i++)
		if (fns[i] == (int)m->fn[j])
			j++;
	return j == m->n;
}

/* Keep the path from handle_mm_fault to the deepest named function. */
static void add_path(struct ctx *c, const long *sym, const int *fns, size_t len)
{
	size_t first = len, last = 0;
	int depth = 0;
	for (size_t i = 0; i < len; i++) {
		if (fns[i] == F_HANDLE_MM_FAULT && first == len)
			first = i;
		if (fns[i] >= 0 && first < len) {
			last = i;
			depth++;
		}
	}
	if (first == len)
		return;
	char text[PROBE_VALUE_LEN];
	size_t used = 0;
	for (size_t i = first; i <= last && used < sizeof(text); i++)
		used +=
		    (size_t)snprintf(text + used, sizeof(text) - used, "%s%s",
				     i > first ? " > " : "", probe_ksyms_name(&c->ksyms, sym[i]));
	struct tally *t = c->tally;
	for (int i = 0; i < t->n_chains; i++)
		if (strcmp(t->chain[i].text, text) == 0) {
			t->chain[i].count++;
			return;
		}
	if (t->n_chains == N_CHAINS)
		return;
	struct chain_slot *s = &t->chain[t->n_chains++];
	snprintf(s->text, sizeof(s->text), "%s", text);
	s->depth = depth;
	s->count = 1;
}

static void on_sample(const uint64_t *ips, size_t n, void *arg)
{
	struct ctx *c = arg;
	struct tally *t = c->tally;
	t->samples++;
	long sym[PERF_MAX_STACK_DEPTH];
	int fns[PERF_MAX_STACK_DEPTH];
	size_t len = 0;
	for (size_t i = n; i-- > 0 && len < PERF_MAX_STACK_DEPTH;) { /* outermost first */
		long s = probe_ksyms_find(&c->ksyms, ips[i]);
		if (s < 0)
			continue;
		/* below the fault entry, stop at the first interrupt taken inside it */
		if (len > 0 && strncmp(probe_ksyms_name(&c->ksyms, s), "asm_", 4) == 0)
			break;
		sym[len] = s;
		fns[len++] = c->fn_of_sym[s];
	}
	if (len == 0 || fns[0] != F_ASM_EXC_PAGE_FAULT)
		return;
	t->fault_samples++;
	for (int m = 0; m < N_MARKERS; m++)
		t->marker[m] += carries(fns, len, &markers[m]);
	add_path(c, sym, fns, len);
}

/* ---- the cases ---- */

/* A process that shares the private pages while the caller writes them. */
static pid_t hold_pages(int *release_fd)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -errno;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[1]);
		char b;
		(void)!read(fds[0], &b, 1); /* until the writer closes its end */
		_exit(0);
	}
	close(fds[0]);
	if (pid < 0) {
		close(fds[1]);
		return -errno;
	}
	*release_fd = fds[1];
	return pid;
}

/* Make the pages of case k fault again (the event is off).  0 or -errno. */
static int rearm(struct ctx *c, enum kase k, char **addr, pid_t *holder, int *holder_fd)
{
	size_t len = N_PAGES * probe_page_size();
	switch (cases[k].object) {
	case O_FRESH:
		*addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (*addr == MAP_FAILED)
			return -errno;
		probe_base_pages(*addr, N_PAGES);
		return 0;
	case O_PRIVATE:
		*addr = c->shm[O_PRIVATE].addr;
		*holder = hold_pages(holder_fd);
		return *holder < 0 ? *holder : 0;
	default:
		*addr = c->shm[cases[k].object].addr;
		if (k == C_REMOVE_READ) { /* pages in the cache, then a hole */
			int rc = probe_populate_write(*addr, N_PAGES);
			if (rc == 0 && madvise(*addr, len, MADV_REMOVE) != 0)
				rc = -errno;
			return rc;
		}
		/* the caller's PTEs only: the pages stay in the page cache */
		return madvise(*addr, len, MADV_DONTNEED) == 0 ? 0 : -errno;
	}
}

static void disarm(enum kase k, char *addr, pid_t holder, int holder_fd)
{
	if (cases[k].object == O_FRESH)
		munmap(addr, N_PAGES * probe_page_size());
	if (holder > 0) {
		close(holder_fd);
		waitpid(holder, NULL, 0);
	}
}

/* Sample case k in this process. */
static void run_case(struct ctx *c, enum kase k, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	c->tally = t;
	struct probe_sampler s;
	t->err = probe_sampler_open(&s, SAMPLE_PERIOD_NS);
	if (t->err)
		return;
	uint64_t deadline = probe_now_ns() + CASE_BUDGET_NS;
	while (t->passes < MAX_PASSES && t->fault_samples < TARGET_SAMPLES &&
	       probe_now_ns() < deadline) {
		char *addr = NULL;
		pid_t holder = 0;
		int holder_fd = -1;
		if ((t->err = rearm(c, k, &addr, &holder, &holder_fd)) != 0)
			break;
		struct probe_faults f0 = probe_faults_now();
		t->err = probe_sampler_enable(&s);
		if (cases[k].write)
			probe_touch_write(addr, N_PAGES);
		else
			probe_touch_read(addr, N_PAGES);
		if (!t->err)
			t->err = probe_sampler_disable(&s);
		t->faults += probe_faults_since(f0).minor;
		disarm(k, addr, holder, holder_fd);
		probe_sampler_drain(&s, on_sample, c);
		t->passes++;
		if (t->err)
			break;
	}
	t->lost = s.lost;
	probe_sampler_close(&s);
}

struct child_arg {
	struct ctx *c;
	enum kase k;
};

static int case_child(struct probe_peer *self, void *arg)
{
	struct child_arg *a = arg;
	static struct tally t;
	run_case(a->c, a->k, &t);
	return probe_peer_send(self, &t, sizeof(t)) ? 1 : 0;
}

static void sample_case(struct ctx *c, enum kase k, struct tally *t)
{
	if (!cases[k].in_child) {
		run_case(c, k, t);
		return;
	}
	struct child_arg a = {c, k};
	struct probe_peer peer;
	int rc = probe_peer_start(&peer, case_child, &a);
	if (rc == 0) {
		rc = probe_peer_recv(&peer, t, sizeof(*t));
		probe_peer_finish(&peer, 5);
	}
	if (rc < 0) {
		memset(t, 0, sizeof(*t));
		t->err = rc;
	}
}

/* ---- evidence and verdict ---- */

static long faults_per_pass(const struct tally *t)
{
	return t->passes ? t->faults / t->passes : 0;
}

static bool seen(const struct tally *t, int m)
{
	return t->err == 0 && t->marker[m] >= PRESENT_MIN;
}

static void case_evidence(struct probe_result *r, enum kase k, const struct tally *t)
{
	char key[PROBE_KEY_LEN];
	const char *p = cases[k].key;
#define K(name) (snprintf(key, sizeof(key), "%s.%s", p, name), key)
	if (t->err) {
		probe_ev_str(r, p, "not measurable: %s", strerror(-t->err));
		return;
	}
	probe_ev_int(r, K("passes"), t->passes);
	probe_ev_int(r, K("faults"), t->faults);
	probe_ev_int(r, K("faults_per_pass"), faults_per_pass(t));
	probe_ev_int(r, K("samples"), t->samples);
	probe_ev_int(r, K("fault_samples"), t->fault_samples);
	for (int m = 0; m < N_MARKERS; m++)
		probe_ev_int(r, K(markers[m].key), t->marker[m]);
	char list[PROBE_VALUE_LEN] = "";
	size_t used = 0;
	for (int m = 0; m < N_MARKERS; m++)
		if (seen(t, m))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 used ? ", " : "", markers[m].key);
	probe_ev_str(r, K("seen"), "%s", used ? list : "none");
	const struct chain_slot *best = NULL;
	for (int i = 0; i < t->n_chains; i++) {
		const struct chain_slot *s = &t->chain[i];
		if (!best || s->depth > best->depth ||
		    (s->depth == best->depth && s->count > best->count))
			best = s;
	}
	probe_ev_str(r, K("deepest_path"), "%s", best ? best->text : "none");
	probe_ev_int(r, K("deepest_path_samples"), best ? best->count : 0);
#undef K
}

static int read_int_file(const char *path)
{
	char line[64];
	return probe_read_line(path, line, sizeof(line)) == 0 ? atoi(line) : -1;
}

/* Unmeasurable unless this process may sample kernel call chains and name them. */
static bool can_sample(struct probe_result *r, struct ctx *c)
{
	int paranoid = read_int_file("/proc/sys/kernel/perf_event_paranoid");
	int kptr = read_int_file("/proc/sys/kernel/kptr_restrict");
	probe_ev_int(r, "perf_event_paranoid", paranoid);
	probe_ev_int(r, "kptr_restrict", kptr);
	struct probe_sampler s;
	int rc = probe_sampler_open(&s, SAMPLE_PERIOD_NS);
	if (rc == -EACCES || rc == -EPERM) {
		probe_verdict(r, PROBE_UNMEASURABLE,
			      "perf_event_open: %s (kernel samples need CAP_PERFMON or "
			      "perf_event_paranoid <= 1; it is %d)",
			      strerror(-rc), paranoid);
		return false;
	}
	if (rc < 0) {
		probe_verdict(r, PROBE_UNMEASURABLE,
			      "no software clock event with kernel call chains (perf_event_open: "
			      "%s)",
			      strerror(-rc));
		return false;
	}
	probe_sampler_close(&s);
	rc = probe_ksyms_load(&c->ksyms);
	if (rc == -EPERM) {
		probe_verdict(r, PROBE_UNMEASURABLE,
			      "kernel symbol addresses hidden (/proc/kallsyms shows 0: "
			      "kptr_restrict=%d, needs CAP_SYSLOG)",
			      kptr);
		return false;
	}
	if (rc < 0) {
		probe_verdict(r, PROBE_UNMEASURABLE, "no kernel symbols (/proc/kallsyms: %s)",
			      strerror(-rc));
		return false;
	}
	probe_ev_int(r, "kallsyms_text_symbols", (long long)c->ksyms.n);
	return true;
}

/* fn_of_sym, and which functions this kernel has no symbol for. */
static int name_functions(struct probe_result *r, struct ctx *c)
{
	c->fn_of_sym = malloc(c->ksyms.n);
	if (!c->fn_of_sym)
		return -ENOMEM;
	memset(c->fn_of_sym, -1, c->ksyms.n);
	bool found[N_FN] = {false};
	for (size_t i = 0; i < c->ksyms.n; i++)
		for (int f = 0; f < N_FN; f++)
			if (probe_ksyms_is(&c->ksyms, (long)i, fn_name[f])) {
				c->fn_of_sym[i] = (signed char)f;
				found[f] = true;
				break;
			}
	char list[PROBE_VALUE_LEN] = "";
	size_t used = 0;
	for (int f = 0; f < N_FN; f++)
		if (!found[f])
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 used ? " " : "", fn_name[f]);
	probe_ev_str(r, "functions_without_symbol", "%s", used ? list : "none");
	return 0;
}

/* The objects the children touch, populated before they are forked. */
static int make_objects(struct probe_result *r, struct ctx *c)
{
	static const struct {
		enum object o;
		enum probe_shm_kind kind;
	} shmem[] = {
	    {O_ANON, PROBE_SHM_ANON}, {O_SYSV, PROBE_SHM_SYSV}, {O_MEMFD, PROBE_SHM_MEMFD}};
	size_t len = N_PAGES * probe_page_size();
	for (size_t i = 0; i < sizeof(shmem) / sizeof(shmem[0]); i++) {
		struct probe_shm *s = &c->shm[shmem[i].o];
		const char *key = probe_shm_kind_key(shmem[i].kind);
		char k[PROBE_KEY_LEN];
		snprintf(k, sizeof(k), "%s.maps_name", key);
		int rc = probe_shm_create(s, shmem[i].kind, len, r);
		if (rc == 0) {
			probe_base_pages(s->addr, N_PAGES);
			rc = probe_populate_write(s->addr, N_PAGES);
		}
		if (rc < 0) {
			if (shmem[i].o == O_ANON)
				return rc;
			probe_ev_str(r, k, "not measurable: %s", strerror(-rc));
			continue;
		}
		c->have[shmem[i].o] = true;
		char name[128];
		probe_maps_name(s->addr, name, sizeof(name));
		probe_ev_str(r, k, "%s", name);
	}
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, len, MADV_NOHUGEPAGE); /* 4 KiB copies, not 2 MiB ones */
	c->shm[O_PRIVATE] = (struct probe_shm){.addr = p, .len = len, .fd = -1, .sysv_id = -1};
	c->have[O_PRIVATE] = true;
	c->have[O_FRESH] = true;
	return probe_populate_write(p, N_PAGES);
}

static void free_objects(struct ctx *c)
{
	for (int o = O_ANON; o <= O_MEMFD; o++)
		if (c->have[o])
			probe_shm_destroy(&c->shm[o]);
	if (c->have[O_PRIVATE])
		munmap(c->shm[O_PRIVATE].addr, c->shm[O_PRIVATE].len);
}

/* True when a and b showed the same markers. */
static bool same_markers(const struct tally *a, const struct tally *b)
{
	for (int m = 0; m < N_MARKERS; m++)
		if (seen(a, m) != seen(b, m))
			return false;
	return true;
}

/* Append "; text" (or text) to buf. */
static void clause(char *buf, size_t len, const char *fmt, const char *arg)
{
	size_t used = strlen(buf);
	if (used)
		used += (size_t)snprintf(buf + used, len - used, "; ");
	snprintf(buf + used, len - used, fmt, arg);
}

static void judge(struct probe_result *r, const struct tally t[N_CASES])
{
	const struct tally *w = &t[C_ANON_WRITE], *rd = &t[C_ANON_READ];
	for (int k = 0; k < N_CASES; k++)
		if (t[k].err == 0 && t[k].fault_samples < ENOUGH_SAMPLES) {
			probe_verdict(r, PROBE_INCONCLUSIVE,
				      "%s: only %ld samples in the fault handler (%ld passes)",
				      cases[k].key, t[k].fault_samples, t[k].passes);
			return;
		}
	if (w->err || rd->err) {
		probe_verdict(r, PROBE_FAILED, "the second process could not be sampled: %s",
			      strerror(-(w->err ? w->err : rd->err)));
		return;
	}
	if (!seen(w, M_LOOKUP) || seen(w, M_ALLOC)) {
		probe_verdict(r, PROBE_INCONCLUSIVE,
			      "a second process's write faults showed %s: no lookup of an existing "
			      "page in the page cache",
			      seen(w, M_ALLOC) ? "allocation"
					       : "no shmem_fault > filemap_get_entry");
		return;
	}
	char v[PROBE_VERDICT_LEN] = "";
	clause(v, sizeof(v), "%s",
	       seen(w, M_LOOKUP_XARRAY) ? "found in the shmem inode's page cache (shmem_fault > "
					  "filemap_get_entry > xas_load)"
					: "found in the shmem inode's page cache (shmem_fault > "
					  "filemap_get_entry)");
	clause(v, sizeof(v), "reads: %s", seen(rd, M_AROUND) ? "fault-around" : "no fault-around");
	const struct tally *sv = &t[C_SYSV_READ], *mf = &t[C_MEMFD_READ];
	if (sv->err == 0 && seen(sv, M_LOOKUP) && !seen(sv, M_AROUND) && seen(rd, M_AROUND)) {
		char what[80];
		snprintf(what, sizeof(what), "no fault-around (%ld faults vs %ld)",
			 faults_per_pass(sv), faults_per_pass(rd));
		clause(v, sizeof(v), "SysV: %s", what);
	}
	if (mf->err == 0 && same_markers(mf, rd))
		clause(v, sizeof(v), "%s", "memfd: as anon");
	if (seen(&t[C_FIRST_TOUCH], M_ALLOC) && seen(&t[C_REMOVE_READ], M_ALLOC))
		clause(v, sizeof(v), "%s", "first touch, read after REMOVE: allocate");
	if (seen(&t[C_PRIVATE_COW], M_COW) && !seen(&t[C_PRIVATE_COW], M_LOOKUP))
		clause(v, sizeof(v), "%s", "private: do_wp_page");
	probe_verdict(r, PROBE_CONCLUSIVE, "%s", v);
}

void probe_exp_fault_path(struct probe_result *r)
{
	struct utsname u;
	probe_ev_str(r, "kernel_release", "%s", uname(&u) == 0 ? u.release : "unknown");
	static struct ctx c;
	memset(&c, 0, sizeof(c));
	if (!can_sample(r, &c))
		return;
	char thp[64] = "";
	probe_read_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", thp, sizeof(thp));
	probe_ev_str(r, "shmem_thp", "%s", thp[0] ? thp : "unknown");
	probe_ev_int(r, "sample_period_ns", SAMPLE_PERIOD_NS);
	probe_ev_int(r, "pages_per_pass", N_PAGES);
	probe_ev_int(r, "present_min_samples", PRESENT_MIN);
	int rc = name_functions(r, &c);
	if (rc == 0)
		rc = make_objects(r, &c);
	if (rc < 0) {
		probe_fail_errno(r, "setting up", -rc);
	} else {
		static struct tally t[N_CASES];
		unsigned long long lost = 0;
		for (int k = 0; k < N_CASES; k++) {
			if (!c.have[cases[k].object]) {
				memset(&t[k], 0, sizeof(t[k]));
				t[k].err = -ENOSYS;
			} else {
				sample_case(&c, k, &t[k]);
			}
			case_evidence(r, k, &t[k]);
			lost += t[k].lost;
		}
		probe_ev_int(r, "lost_samples", (long long)lost);
		judge(r, t);
	}
	free_objects(&c);
	free(c.fn_of_sym);
	probe_ksyms_free(&c.ksyms);
}

/* ---- the report's prose ---- */

/* The value of evidence "prefix.name" (or "name"), or "not measured". */
static const char *val(const struct probe_result *r, const char *prefix, const char *name)
{
	char key[PROBE_KEY_LEN];
	snprintf(key, sizeof(key), "%s%s%s", prefix ? prefix : "", prefix ? "." : "", name);
	const struct probe_evidence *e = probe_ev_find(r, key);
	return e ? e->value : "not measured";
}

void probe_explain_fault_path(FILE *out, const struct probe_result *r)
{
	fprintf(out,
		"How a process finds a page another process created (kernel %s; the source "
		"files and functions named are Linux 6.x's):\n\n",
		val(r, NULL, "kernel_release"));
	fprintf(out,
		"1. **The mapping is a file.**  `mmap(MAP_SHARED | MAP_ANONYMOUS)` calls "
		"`shmem_zero_setup()` (mm/shmem.c), which creates an unlinked shmem (tmpfs) file "
		"and makes it the VMA's `vm_file`: /proc/self/maps shows `%s`.  A SysV segment "
		"(`%s`) and a memfd (`%s`) are shmem files as well.  fork() copies the VMA, "
		"and with it the file, but no PTEs: a shared VMA has no `anon_vma`, so "
		"`vma_needs_copy()` (mm/memory.c) says there is nothing to copy.\n",
		val(r, "anon", "maps_name"), val(r, "sysv", "maps_name"),
		val(r, "memfd", "maps_name"));
	fprintf(out,
		"2. **The key is the page's offset in the file.**  A process touching a page it "
		"has no PTE for enters `asm_exc_page_fault` -> `exc_page_fault` -> "
		"`handle_mm_fault` -> `__handle_mm_fault`, which computes the index "
		"`vm_pgoff + (addr - vm_start) / PAGE_SIZE` (`linear_page_index()`, "
		"include/linux/pagemap.h; `vm_pgoff` is 0 for a shared anonymous mapping, so the "
		"index is the page's number in the mapping) and, finding no PTE in a VMA with "
		"`vm_ops`, calls `do_fault()` (mm/memory.c).\n");
	fprintf(out,
		"3. **The lookup: the inode's page cache.**  A write by a process forked after "
		"the pages existed (`anon_write`) showed, deepest: `%s` (%s samples).  "
		"`__do_fault()` calls `vm_ops->fault` = `shmem_fault()`, which calls "
		"`shmem_get_folio_gfp(inode, index)`, which calls "
		"`filemap_get_entry(inode->i_mapping, index)` (mm/filemap.c): `i_mapping` "
		"(the file's `f_mapping`) is the shmem inode's `address_space`, and its "
		"`i_pages` is an XArray from page index to folio, which `xas_load()` walks.  The "
		"page the parent created is there, so nothing is allocated (`alloc` in %s "
		"samples), and `finish_fault()` writes a PTE for it into this process's own page "
		"table.  That is why a second process never copies PTEs: every process builds "
		"its own, one fault at a time, from the one index all of them share.\n",
		val(r, "anon_write", "deepest_path"), val(r, "anon_write", "deepest_path_samples"),
		val(r, "anon_write", "alloc"));
	fprintf(out,
		"4. **Reads map 16 pages a fault; writes one.**  `do_fault()` sends a read to "
		"`do_read_fault()`, which first calls `do_fault_around()`: `vm_ops->map_pages` = "
		"`filemap_map_pages()` walks `i_pages` over the 64 KiB window (16 pages, "
		"`fault_around_bytes`) around the address, aligned and clipped to the VMA and to "
		"its page table, and maps every cached page it finds; the faulting page is among "
		"them, so `shmem_fault()` is not called at all (`anon_read.lookup`: %s "
		"samples).  A read (`anon_read`) showed, deepest: `%s` (%s samples), and took "
		"%s faults per %s pages; experiment 8 counts 16 PTEs per read fault.  A write goes "
		"to `do_shared_fault()` (or "
		"`do_cow_fault()` in a private mapping), which handles its one page: a write "
		"must dirty that page (`fault_dirty_shared_page()`) or copy it, so the kernel "
		"does not map neighbours writable on speculation; `anon_write` took %s faults "
		"per %s pages.  A SysV segment's `vm_ops` are ipc/shm.c's `shm_vm_ops`, whose "
		"`fault` (`shm_fault()`) forwards to shmem's and which has no `map_pages`: no "
		"fault-around, %s faults per %s pages (`sysv_read`: `%s`), which is why "
		"experiment 5 counts a read fault per page for SysV only.  A memfd reads like a "
		"shared anonymous mapping (`memfd_read`: "
		"`%s`).\n",
		val(r, "anon_read", "lookup"), val(r, "anon_read", "deepest_path"),
		val(r, "anon_read", "deepest_path_samples"), val(r, "anon_read", "faults_per_pass"),
		val(r, NULL, "pages_per_pass"), val(r, "anon_write", "faults_per_pass"),
		val(r, NULL, "pages_per_pass"), val(r, "sysv_read", "faults_per_pass"),
		val(r, NULL, "pages_per_pass"), val(r, "sysv_read", "seen"),
		val(r, "memfd_read", "seen"));
	fprintf(out,
		"5. **Nothing at the index: allocate.**  A first touch (`first_touch`: %s) and a "
		"read after `MADV_REMOVE` (`remove_read`: %s) find no folio at the index: "
		"`shmem_get_folio_gfp()` -> `shmem_alloc_and_add_folio()` -> "
		"`shmem_add_to_page_cache()` stores a new folio in `i_pages`, zeroed "
		"(`clear_highpage()`), so even a read of a hole costs a page of memory.  "
		"Deepest: `%s`.\n",
		val(r, "first_touch", "seen"), val(r, "remove_read", "seen"),
		val(r, "remove_read", "deepest_path"));
	fprintf(out,
		"6. **What the two releases do to the index** (experiment 2).  `MADV_DONTNEED` "
		"zaps the caller's PTEs only (`zap_page_range_single_batched()`, "
		"mm/madvise.c and mm/memory.c): the folio stays in `i_pages`, and the next fault "
		"finds it again, which is how each pass of this experiment faults anew.  "
		"`MADV_REMOVE` punches a hole: `vfs_fallocate(PUNCH_HOLE)` -> `shmem_fallocate()` "
		"calls `unmap_mapping_range()`, which finds every process's VMA through the "
		"file's `i_mmap` tree and zaps its PTEs, and `shmem_truncate_range()`, which "
		"removes the folios from `i_pages` and frees them: the next fault allocates "
		"a new zero page (5).\n");
	fprintf(out,
		"7. **A private mapping is not shared this way.**  After fork a private "
		"anonymous page is mapped read-only in both processes; a write (`private_cow`: "
		"%s) goes `handle_mm_fault` -> `do_wp_page()`, which copies the page "
		"(`wp_page_copy()`) and maps the copy; no shmem function is on the path.\n",
		val(r, "private_cow", "seen"));
	fprintf(out,
		"\nWhat this run cannot show: functions without a symbol in this build (inlined "
		"into their callers, so never a frame): %s; `shm_fault()` ends in "
		"`return sfd->vm_ops->fault(vmf)`, a call the compiler can turn into a jump, "
		"after which its frame is gone (`sysv_read.sysv`: %s samples); arguments (the "
		"index, the `address_space`) are not in call chains: they "
		"are read from the source; and a sample shows where time is spent, so a fast "
		"function on the path may carry fewer than %s samples and not count as seen.  "
		"One sample every %s ns of CPU time.\n\n",
		val(r, NULL, "functions_without_symbol"), val(r, "sysv_read", "sysv"),
		val(r, NULL, "present_min_samples"), val(r, NULL, "sample_period_ns"));
}
