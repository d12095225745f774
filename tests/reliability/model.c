/*
 * Description: model-based randomized test. A reference model and the pool
 * are driven by the same random sequence of operations, and after every
 * operation the pool's answer is compared with the model's.
 *
 * The model keeps, for every page id, three versions of the page (a page's
 * bytes are a function of its id and version, tests/lib/pagefmt.c):
 *   latest   what every read must return now;
 *   disk     what the data file holds: it becomes latest when the page's
 *            dirty bit is seen to clear (a write-back reached the file,
 *            src/README.md invariant 6), so the model knows it exactly;
 *   durable  latest as of the last ptbm_flush that returned 0.
 * and the page count the file's header holds. After a close and reopen
 * every page must be whole and hold exactly its disk version; one older
 * than its durable version is a lost write.
 *
 * Operations: allocations (some past max_pages), exclusive writes, shared
 * fixes, ptbm_read of random ranges, optimistic reads, upgrades (current
 * and stale), prefetches, latches held across other operations, flushes,
 * close + reopen (with another budget, eviction batch, I/O mode and, half
 * the time, a background releaser), and
 * invalid calls (ids beyond max_pages or not allocated, unfix without fix,
 * double unfix, mark_dirty without the exclusive latch, bad offsets and
 * lengths, stale versions, NULL pointers: the documented error and nothing
 * changed). A budget far smaller than the pages forces evictions.
 *
 * Faults: before random operations a fault (EIO, ENOSPC or a short
 * transfer, on reads or writes) is armed in the I/O seam (src/core/fault.c) and
 * disarmed after, and the test learns whether it fired. The model says
 * what the caller must see: a read fault fires exactly when the operation
 * loads an evicted page and the call returns its error; a write fault in
 * an eviction fails the call only if no victim could be freed; a write
 * fault in a flush fires exactly when it falls within the flush's writes
 * (one per dirty page, then the header) and the flush returns its error.
 * Every page's last good copy must survive: later reads check it.
 *
 * Sharing: threads mode, and processes mode (a named pool; a forked helper
 * process runs a quarter of the operations on the same pool). Every few
 * hundred operations the pool's frames are counted with mincore against
 * its resident count (a leaked frame fails), and after every close the
 * processes-mode pool's name must be gone from /dev/shm.
 *
 * Bounded by time: --seconds S (default 5; PTBM_MODEL_SECONDS, else
 * PTBM_STRESS_SECONDS, overrides it) or by --ops N. The seed is printed at
 * the start; --seed S replays the same sequence exactly, and a failure
 * prints the command that replays it.
 *
 * usage: model [--mode threads|processes] [--seconds S] [--seed S] [--ops N]
 *
 * fuzz_ops.c includes this file with MODEL_NO_MAIN defined and feeds
 * the same operations from libFuzzer's bytes instead of a seed.
 */
#include "internal.h"
#include "pagefmt.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_HELD     4 /* latches the driver keeps across operations */
#define MAX_PREFETCH 8
#define LEAK_EVERY   256 /* operations between frame counts */
#define FAULT_ONE_IN 10	 /* operations with a fault armed: one in ... */

struct mpage {
	uint64_t latest;  /* version every read must return */
	uint64_t disk;	  /* version the data file holds */
	uint64_t durable; /* version the last good flush covered */
	bool dirty;	  /* its dirty bit after the last operation */
	bool maybe_torn;  /* a short write fired while it was dirty */
	bool bad;	  /* failed its checksum after a reopen: never loads */
};

struct fault {
	enum ptbm_fault kind; /* PTBM_FAULT_NONE: none armed */
	bool write;	      /* the write plan, else the read plan */
	long after;	      /* successful calls before it fires */
};

enum act_kind {
	A_FIX_SHARED,	 /* fix shared, copy the page, unfix */
	A_WRITE,	 /* fix exclusive, copy, write version, mark dirty, unfix */
	A_PREAD,	 /* ptbm_read of [off, off + len) */
	A_OPTIMISTIC,	 /* read_begin, copy, validate */
	A_UPGRADE_WRITE, /* read_begin, copy, upgrade, write, mark dirty, unfix */
	A_STALE_UPGRADE, /* read_begin, copy, a write comes between, upgrade */
	A_PREFETCH,
	A_FLUSH,
	A_ALLOC,
	A_EXIT, /* the helper returns */
};

/* One action, run by the driver or by the helper (the same code). */
struct act {
	enum act_kind kind;
	struct fault fault;
	uint64_t pid, version, count;
	size_t off, len;
	uint64_t pids[MAX_PREFETCH];
	unsigned n_pids;
};

struct act_res {
	int rc[5];	/* the calls' results, in order */
	int fired;	/* the fault fired during the action: 1, 0, or -1 unknown */
	uint64_t first; /* A_ALLOC */
};

struct held {
	uint64_t pid;
	bool excl;
	bool written; /* excl: modified, to be marked dirty at release */
};

struct model {
	/* set up */
	enum ptbm_share share;
	bool fuzz;	 /* choices come from bytes; a failure aborts */
	bool use_helper; /* a helper thread or process runs some actions */
	bool seam;	 /* the library has the fault-injection seam compiled in */
	uint32_t page_size;
	uint64_t max_pages;
	char path[PATH_MAX];
	char shm_name[64];
	ptbm_pool *pool;
	size_t usable;
	struct ptbm_file probe; /* a scratch file that tells whether a fault fired */
	void *probe_page;
	unsigned char *obs;    /* what an action saw (shared with the helper) */
	unsigned char *expect; /* what it should have seen */
	uint64_t expect_pid, expect_version;

	/* the choices */
	uint64_t rng;
	const uint8_t *bytes;
	size_t n_bytes, at;
	bool exhausted;

	/* the model */
	struct mpage *pg;
	uint64_t n_alloc;      /* pages allocated */
	uint64_t header_alloc; /* what the file's header says */
	uint64_t short_writes; /* short write faults since the last good flush */
	struct held held[MAX_HELD];
	unsigned n_held;
	uint64_t budget_pages;

	/* the helper */
	bool helper_on;
	int cmd[2], res[2];
	pthread_t thread;
	pid_t child;

	/* counts */
	uint64_t op_no, verified, faults, read_faults, write_faults, reopens, flushes,
	    failed_flushes, bad_inputs, helper_acts, lost, torn, stale, leaked, torn_on_disk,
	    dropped_allocs;
	bool failed;
};

/* ---- choices ------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A choice in [0, bound): from the seed, or from the fuzzer's bytes (as
 * many as the bound needs; 0 once they run out). */
static uint64_t pick(struct model *m, uint64_t bound)
{
	if (bound <= 1)
		return 0;
	if (!m->fuzz)
		return splitmix(&m->rng) % bound;
	uint64_t x = 0;
	for (uint64_t b = bound - 1; b; b >>= 8) {
		if (m->at == m->n_bytes) {
			m->exhausted = true;
			return 0;
		}
		x = x << 8 | m->bytes[m->at++];
	}
	return x % bound;
}

static bool chance(struct model *m, unsigned one_in)
{
	return pick(m, one_in) == 0;
}

/* ---- failures ----------------------------------------------------------- */

static void mfail(struct model *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "model: operation %llu: ", (unsigned long long)m->op_no);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	m->failed = true;
	if (m->fuzz)
		abort();
}

/* Fail (and leave the operation) unless cond holds. */
#define CHECK(m, cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			mfail(m, __VA_ARGS__);                                                     \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* Fail unless call returned want. */
#define CHECK_RC(m, what, got, want)                                                               \
	CHECK(m, (got) == (want), "%s = %d (%s), expected %d (%s)", what, got, ptbm_strerror(got), \
	      want, ptbm_strerror(want))

/* ---- pages -------------------------------------------------------------- */

static uint64_t word(struct model *m, uint64_t pid)
{
	return pid < m->max_pages ? tu_word(m->pool, pid) : 0;
}

static bool is_evicted(struct model *m, uint64_t pid)
{
	return pid < m->n_alloc && ptbm_tag(word(m, pid)) == PTBM_TAG_EVICTED;
}

static bool is_held(struct model *m, uint64_t pid)
{
	for (unsigned i = 0; i < m->n_held; i++)
		if (m->held[i].pid == pid)
			return true;
	return false;
}

/* A page id: mostly allocated ones, sometimes one not allocated, beyond
 * max_pages, or near UINT64_MAX. Never one the driver holds latched. */
static bool pick_pid(struct model *m, uint64_t *pid)
{
	uint64_t r = pick(m, 40);
	if (r == 0)
		*pid = m->max_pages + pick(m, 3);
	else if (r == 1)
		*pid = UINT64_MAX - pick(m, 2);
	else if (r == 2 || m->n_alloc == 0)
		*pid = m->n_alloc + pick(m, m->max_pages - m->n_alloc);
	else
		*pid = pick(m, m->n_alloc);
	return !is_held(m, *pid);
}

/* An allocated page id, not held. */
static bool pick_valid(struct model *m, uint64_t *pid)
{
	if (m->n_alloc == 0)
		return false;
	*pid = pick(m, m->n_alloc);
	return !is_held(m, *pid);
}

static const unsigned char *expected_page(struct model *m, uint64_t pid)
{
	uint64_t v = m->pg[pid].latest;
	if (m->expect_pid != pid || m->expect_version != v) {
		if (v)
			pagefmt_fill(m->expect, m->usable, pid, v);
		else
			memset(m->expect, 0, m->usable);
		m->expect_pid = pid;
		m->expect_version = v;
	}
	return m->expect;
}

/* Bytes [off, off + len) of page pid as seen by what: must be latest's. */
static void check_bytes(struct model *m, uint64_t pid, const unsigned char *got, size_t off,
			size_t len, const char *what)
{
	if (memcmp(got, expected_page(m, pid) + off, len) == 0)
		return;
	uint64_t v = 0;
	if (off == 0 && len == m->usable && pagefmt_check(got, m->usable, pid, &v) != 0) {
		m->torn++;
		mfail(m, "%s of page %llu returned a torn page (expected version %llu)", what,
		      (unsigned long long)pid, (unsigned long long)m->pg[pid].latest);
		return;
	}
	m->stale++;
	if (off == 0 && len == m->usable)
		mfail(m, "%s of page %llu returned version %llu, expected %llu", what,
		      (unsigned long long)pid, (unsigned long long)v,
		      (unsigned long long)m->pg[pid].latest);
	else
		mfail(m, "%s of page %llu [%zu, +%zu) differs from version %llu", what,
		      (unsigned long long)pid, off, len, (unsigned long long)m->pg[pid].latest);
}

/*
 * Watch the dirty bits: a page seen dirty and now clean was written whole
 * (invariant 6), so the file holds its latest version. Call after every action,
 * before the model takes in the action's own writes. A short write that
 * fired may have torn the file's copy of a page still dirty.
 */
static void track(struct model *m, bool short_write)
{
	for (uint64_t p = 0; p < m->n_alloc; p++) {
		struct mpage *g = &m->pg[p];
		bool dirty = word(m, p) & PTBM_DIRTY_BIT;
		if (g->dirty && !dirty) {
			g->disk = g->latest;
			g->maybe_torn = false;
		}
		if (dirty && short_write)
			g->maybe_torn = true;
		g->dirty = dirty;
	}
	if (short_write)
		m->short_writes++;
}

/* ---- faults ------------------------------------------------------------- */

static int fault_code(enum ptbm_fault f)
{
	switch (f) {
	case PTBM_FAULT_EIO:
		return -EIO;
	case PTBM_FAULT_ENOSPC:
		return -ENOSPC;
	case PTBM_FAULT_SHORT:
		return PTBM_EIO_SHORT;
	default:
		return 0;
	}
}

static const char *fault_name(const struct fault *f)
{
	static const char *const names[] = {"none", "EIO", "ENOSPC", "short", "delay"};
	return names[f->kind];
}

/* One time in one_in, a fault that fires at the action's first I/O of its
 * kind. */
static void maybe_fault(struct model *m, struct fault *f, unsigned one_in)
{
	f->kind = PTBM_FAULT_NONE;
	if (!chance(m, one_in) || !m->seam)
		return;
	f->kind = (enum ptbm_fault)(PTBM_FAULT_EIO + pick(m, 3));
	f->write = pick(m, 2);
	f->after = 0;
}

static void arm(const struct fault *f)
{
	if (f->kind == PTBM_FAULT_NONE)
		return;
	if (f->write)
		ptbm_fault_inject_write(f->kind, f->after);
	else
		ptbm_fault_inject_read(f->kind, f->after);
}

/*
 * Disarm the fault and say whether it fired. A plan that fires at the next
 * call is still armed if a call on the probe file fails; a plan with calls
 * to go is just disarmed (the caller knows from the calls it made).
 */
static int disarm(struct model *m, const struct fault *f)
{
	if (f->kind == PTBM_FAULT_NONE)
		return 0;
	int fired = -1;
	if (f->after == 0) {
		uint64_t zero = 0;
		int rc = f->write ? ptbm_file_write_pages(&m->probe, &zero, &m->probe_page, 1)
				  : ptbm_file_read_page(&m->probe, 0, m->probe_page);
		fired = rc == 0;
	}
	ptbm_fault_inject_read(PTBM_FAULT_NONE, 0);
	ptbm_fault_inject_write(PTBM_FAULT_NONE, 0);
	return fired;
}

/* Whether a read of page pid starts at or past the end of the data file. */
static bool beyond_eof(struct model *m, uint64_t pid)
{
	struct stat st;
	return stat(m->path, &st) == 0 && (uint64_t)st.st_size <= (pid + 1) * m->page_size;
}

/* ---- actions ------------------------------------------------------------ */

static void run_act(struct model *m, const struct act *a, struct act_res *r)
{
	ptbm_pool *pool = m->pool;
	size_t usable = m->usable;
	void *p;
	const void *cp;
	uint64_t v;
	int *rc = r->rc;
	memset(r, 0, sizeof *r);
	arm(&a->fault);
	switch (a->kind) {
	case A_FIX_SHARED:
		if ((rc[0] = ptbm_fix_shared(pool, a->pid, &p)) == 0) {
			memcpy(m->obs, p, usable);
			rc[1] = ptbm_unfix_shared(pool, a->pid);
		}
		break;
	case A_WRITE:
		if ((rc[0] = ptbm_fix_exclusive(pool, a->pid, &p)) == 0) {
			memcpy(m->obs, p, usable);
			pagefmt_fill(p, usable, a->pid, a->version);
			rc[1] = ptbm_mark_dirty(pool, a->pid);
			rc[2] = ptbm_unfix_exclusive(pool, a->pid);
		}
		break;
	case A_PREAD:
		rc[0] = ptbm_read(pool, a->pid, a->off, m->obs, a->len);
		break;
	case A_OPTIMISTIC:
		if ((rc[0] = ptbm_read_begin(pool, a->pid, &cp, &v)) == 0) {
			memcpy(m->obs, cp, usable);
			rc[1] = ptbm_read_validate(pool, a->pid, v);
		}
		break;
	case A_UPGRADE_WRITE:
		if ((rc[0] = ptbm_read_begin(pool, a->pid, &cp, &v)) == 0) {
			memcpy(m->obs, cp, usable);
			if ((rc[1] = ptbm_upgrade(pool, a->pid, v)) == 0) {
				pagefmt_fill((void *)cp, usable, a->pid, a->version);
				rc[2] = ptbm_mark_dirty(pool, a->pid);
				rc[3] = ptbm_unfix_exclusive(pool, a->pid);
			}
		}
		break;
	case A_STALE_UPGRADE:
		if ((rc[0] = ptbm_read_begin(pool, a->pid, &cp, &v)) == 0) {
			memcpy(m->obs, cp, usable);
			if ((rc[1] = ptbm_fix_exclusive(pool, a->pid, &p)) == 0) {
				pagefmt_fill(p, usable, a->pid, a->version);
				rc[1] = ptbm_mark_dirty(pool, a->pid);
				rc[2] = ptbm_unfix_exclusive(pool, a->pid);
			}
			rc[3] = ptbm_upgrade(pool, a->pid, v);
			if (rc[3] == 0) /* wrongly granted: give it back */
				ptbm_unfix_exclusive(pool, a->pid);
			rc[4] = ptbm_read_validate(pool, a->pid, v);
		}
		break;
	case A_PREFETCH:
		rc[0] = ptbm_prefetch(pool, a->pids, a->n_pids);
		break;
	case A_FLUSH:
		rc[0] = ptbm_flush(pool);
		break;
	case A_ALLOC:
		r->first = UINT64_MAX;
		rc[0] = ptbm_alloc(pool, a->count, &r->first);
		break;
	case A_EXIT:
		break;
	}
	r->fired = disarm(m, &a->fault);
}

static bool recv_all(int fd, void *buf, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = read(fd, (char *)buf + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		done += (size_t)k;
	}
	return true;
}

static bool send_all(int fd, const void *buf, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = write(fd, (const char *)buf + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		done += (size_t)k;
	}
	return true;
}

static void helper_loop(struct model *m)
{
	struct act a;
	struct act_res r;
	while (recv_all(m->cmd[0], &a, sizeof a) && a.kind != A_EXIT) {
		run_act(m, &a, &r);
		if (!send_all(m->res[1], &r, sizeof r))
			break;
	}
}

static void *helper_thread(void *arg)
{
	helper_loop(arg);
	return NULL;
}

static void start_helper(struct model *m)
{
	if (!m->use_helper)
		return;
	if (pipe(m->cmd) < 0 || pipe(m->res) < 0) {
		mfail(m, "pipe: %s", strerror(errno));
		return;
	}
	if (m->share == PTBM_SHARE_THREADS) {
		if (pthread_create(&m->thread, NULL, helper_thread, m) != 0) {
			mfail(m, "pthread_create failed");
			return;
		}
	} else {
		fflush(NULL);
		m->child = fork();
		if (m->child < 0) {
			mfail(m, "fork: %s", strerror(errno));
			return;
		}
		if (m->child == 0) {
			close(m->cmd[1]);
			close(m->res[0]);
			helper_loop(m);
			_exit(0);
		}
	}
	m->helper_on = true;
}

static void stop_helper(struct model *m)
{
	if (!m->helper_on)
		return;
	struct act a = {.kind = A_EXIT};
	send_all(m->cmd[1], &a, sizeof a);
	m->helper_on = false;
	if (m->share == PTBM_SHARE_THREADS) {
		pthread_join(m->thread, NULL);
	} else {
		int status = 0;
		waitpid(m->child, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			mfail(m, "helper process ended with status %#x", status);
	}
	close(m->cmd[0]), close(m->cmd[1]), close(m->res[0]), close(m->res[1]);
}

/* Run a, by the driver or (a quarter of the time) by the helper. */
static void exec(struct model *m, const struct act *a, struct act_res *r)
{
	if (m->helper_on && chance(m, 4)) {
		m->helper_acts++;
		if (!send_all(m->cmd[1], a, sizeof *a) || !recv_all(m->res[0], r, sizeof *r)) {
			m->helper_on = false;
			mfail(m, "the helper is gone");
			memset(r, 0, sizeof *r);
		}
		return;
	}
	run_act(m, a, r);
}

static bool short_write_fired(const struct act *a, const struct act_res *r)
{
	return a->fault.kind == PTBM_FAULT_SHORT && a->fault.write && r->fired == 1;
}

static void count_fault(struct model *m, const struct fault *f)
{
	m->faults++;
	if (f->write)
		m->write_faults++;
	else
		m->read_faults++;
}

/* What a call that loads pid must return without faults. */
static int load_rc(struct model *m, uint64_t pid)
{
	if (pid >= m->n_alloc)
		return PTBM_ERANGE;
	return m->pg[pid].bad ? PTBM_ECHECKSUM : 0;
}

/*
 * Check the first call of an action on pid, the one that loads the page if
 * it was evicted. Returns true if it succeeded (the data is then checked).
 */
static bool check_load(struct model *m, const struct act *a, const struct act_res *r,
		       bool was_evicted, const char *what)
{
	const struct fault *f = &a->fault;
	int want = load_rc(m, a->pid), got = r->rc[0];
	if (f->kind != PTBM_FAULT_NONE && !f->write) {
		/* a read fault fires exactly when the call reads the page */
		if (r->fired != (int)was_evicted) {
			mfail(m, "%s of page %llu: %s read fault fired %d, page evicted %d", what,
			      (unsigned long long)a->pid, fault_name(f), r->fired, was_evicted);
			return false;
		}
		if (r->fired) {
			count_fault(m, f);
			want = fault_code(f->kind);
			/* a short read of nothing is the end of the file: zeros */
			if (f->kind == PTBM_FAULT_SHORT && got == 0 && beyond_eof(m, a->pid))
				want = 0;
		}
	} else if (f->kind != PTBM_FAULT_NONE && r->fired) {
		/* a victim's write-back failed: the call fails only if no victim
		 * could be freed, and then its page stays evicted */
		count_fault(m, f);
		if (got == fault_code(f->kind) && was_evicted) {
			if (!is_evicted(m, a->pid)) {
				mfail(m, "%s of page %llu failed (%s) but left it resident", what,
				      (unsigned long long)a->pid, ptbm_strerror(got));
				return false;
			}
			want = got;
		}
	}
	if (got != want) {
		mfail(m, "%s of page %llu = %d (%s), expected %d (%s)%s%s", what,
		      (unsigned long long)a->pid, got, ptbm_strerror(got), want,
		      ptbm_strerror(want), f->kind ? ", fault " : "", f->kind ? fault_name(f) : "");
		return false;
	}
	if (got < 0 && was_evicted && !is_evicted(m, a->pid)) {
		mfail(m, "%s of page %llu failed (%s) but left it resident", what,
		      (unsigned long long)a->pid, ptbm_strerror(got));
		return false;
	}
	if (got < 0)
		m->verified++; /* the right error */
	return got == 0;
}

/* ---- operations ----------------------------------------------------------- */

/*
 * Run action a on a page picked at random (its next version ready to be
 * written, a fault armed one time in FAULT_ONE_IN), take in what it wrote
 * back, and check the call that loads the page. True if that call
 * succeeded: the caller checks the rest.
 */
static bool page_act(struct model *m, struct act *a, struct act_res *r, const char *what)
{
	if (!pick_pid(m, &a->pid))
		return false;
	a->version = a->pid < m->max_pages ? m->pg[a->pid].latest + 1 : 1;
	maybe_fault(m, &a->fault, FAULT_ONE_IN);
	bool ev = is_evicted(m, a->pid);
	exec(m, a, r);
	track(m, short_write_fired(a, r));
	if (!check_load(m, a, r, ev, what))
		return false;
	m->verified++;
	return true;
}

static void op_fix_shared(struct model *m)
{
	struct act a = {.kind = A_FIX_SHARED};
	struct act_res r;
	if (!page_act(m, &a, &r, "fix_shared"))
		return;
	check_bytes(m, a.pid, m->obs, 0, m->usable, "fix_shared");
	CHECK_RC(m, "unfix_shared", r.rc[1], 0);
}

static void op_write(struct model *m)
{
	struct act a = {.kind = A_WRITE};
	struct act_res r;
	if (!page_act(m, &a, &r, "fix_exclusive"))
		return;
	check_bytes(m, a.pid, m->obs, 0, m->usable, "fix_exclusive");
	CHECK_RC(m, "mark_dirty", r.rc[1], 0);
	CHECK_RC(m, "unfix_exclusive", r.rc[2], 0);
	m->pg[a.pid].latest = a.version;
}

static void op_pread(struct model *m)
{
	struct act a = {.kind = A_PREAD};
	struct act_res r;
	a.off = pick(m, m->usable + 1);
	a.len = pick(m, m->usable - a.off + 1);
	if (chance(m, 3)) /* the whole page */
		a.off = 0, a.len = m->usable;
	if (page_act(m, &a, &r, "ptbm_read"))
		check_bytes(m, a.pid, m->obs, a.off, a.len, "ptbm_read");
}

static void op_optimistic(struct model *m)
{
	struct act a = {.kind = A_OPTIMISTIC};
	struct act_res r;
	if (!page_act(m, &a, &r, "read_begin"))
		return;
	/* nothing runs between begin and validate: the read must stand */
	CHECK_RC(m, "read_validate", r.rc[1], 0);
	check_bytes(m, a.pid, m->obs, 0, m->usable, "optimistic read");
}

static void op_upgrade(struct model *m, bool stale)
{
	struct act a = {.kind = stale ? A_STALE_UPGRADE : A_UPGRADE_WRITE};
	struct act_res r;
	if (!page_act(m, &a, &r, "read_begin"))
		return;
	check_bytes(m, a.pid, m->obs, 0, m->usable, "optimistic read");
	if (stale) {
		CHECK_RC(m, "fix_exclusive + mark_dirty", r.rc[1], 0);
		CHECK_RC(m, "unfix_exclusive", r.rc[2], 0);
		CHECK_RC(m, "upgrade with a stale version", r.rc[3], PTBM_ERESTART);
		CHECK_RC(m, "read_validate with a stale version", r.rc[4], PTBM_ERESTART);
		m->bad_inputs += 2;
	} else {
		CHECK_RC(m, "upgrade", r.rc[1], 0);
		CHECK_RC(m, "mark_dirty", r.rc[2], 0);
		CHECK_RC(m, "unfix_exclusive", r.rc[3], 0);
	}
	uint64_t s = word(m, a.pid);
	CHECK(m, ptbm_tag(s) == PTBM_TAG_UNLOCKED || ptbm_tag(s) == PTBM_TAG_MARKED,
	      "page %llu left latched (tag %llu)", (unsigned long long)a.pid,
	      (unsigned long long)ptbm_tag(s));
	m->pg[a.pid].latest = a.version;
}

static void op_prefetch(struct model *m)
{
	struct act a = {.kind = A_PREFETCH};
	a.n_pids = (unsigned)pick(m, MAX_PREFETCH + 1);
	bool in_range = true;
	for (unsigned i = 0; i < a.n_pids; i++) {
		pick_pid(m, &a.pids[i]); /* held pages are skipped by prefetch */
		in_range &= a.pids[i] < m->n_alloc;
	}
	maybe_fault(m, &a.fault, FAULT_ONE_IN);
	/* the pages it must load: evicted, each once, in order */
	uint64_t todo[MAX_PREFETCH];
	unsigned n_todo = 0;
	for (unsigned i = 0; i < a.n_pids && in_range; i++) {
		bool dup = false;
		for (unsigned j = 0; j < n_todo; j++)
			dup |= todo[j] == a.pids[i];
		if (!dup && is_evicted(m, a.pids[i]))
			todo[n_todo++] = a.pids[i];
	}
	struct act_res r;
	exec(m, &a, &r);
	track(m, short_write_fired(&a, &r));
	const struct fault *f = &a.fault;
	if (!in_range) {
		CHECK_RC(m, "prefetch of a page not allocated", r.rc[0], PTBM_ERANGE);
		CHECK(m, r.fired != 1, "prefetch of a page not allocated did I/O");
		m->bad_inputs++;
		m->verified++;
		return;
	}
	/* the first read fails if a read fault is armed; bad pages fail */
	bool read_fault = f->kind && !f->write;
	if (read_fault)
		CHECK(m, r.fired == (n_todo > 0), "prefetch: read fault fired %d, %u to load",
		      r.fired, n_todo);
	int loaded = 0, err = 0;
	for (unsigned i = 0; i < n_todo; i++) {
		int rc = i == 0 && read_fault ? fault_code(f->kind) : load_rc(m, todo[i]);
		if (rc == 0)
			loaded++;
		else if (!err)
			err = rc;
	}
	int want = loaded ? loaded : err;
	if (f->kind && r.fired == 1)
		count_fault(m, f);
	if (f->kind && f->write && r.fired == 1 && r.rc[0] != want) {
		/* a victim's write-back failed: fewer frames, fewer pages loaded */
		CHECK(m, r.rc[0] == fault_code(f->kind) || (r.rc[0] >= 0 && r.rc[0] < want),
		      "prefetch with a failed write-back = %d (%s), expected up to %d", r.rc[0],
		      ptbm_strerror(r.rc[0]), want);
	} else {
		CHECK_RC(m, "prefetch", r.rc[0], want);
	}
	/* what it says it loaded is resident, and nothing else of the list is */
	int now_resident = 0;
	for (unsigned i = 0; i < n_todo; i++)
		now_resident += !is_evicted(m, todo[i]);
	CHECK(m, now_resident == (r.rc[0] > 0 ? r.rc[0] : 0),
	      "prefetch returned %d but %d of its pages are resident", r.rc[0], now_resident);
	m->verified++;
}

/* Allocate count pages: EFULL past max_pages, else the next ids, zeros. */
static void op_alloc_n(struct model *m, uint64_t count)
{
	struct act a = {.kind = A_ALLOC, .count = count};
	struct act_res r;
	exec(m, &a, &r);
	if (count == 0) {
		CHECK_RC(m, "alloc of 0 pages", r.rc[0], -EINVAL);
		m->bad_inputs++;
	} else if (count > m->max_pages - m->n_alloc) {
		CHECK_RC(m, "alloc past max_pages", r.rc[0], PTBM_EFULL);
		m->bad_inputs++;
	} else {
		CHECK_RC(m, "alloc", r.rc[0], 0);
		CHECK(m, r.first == m->n_alloc, "alloc gave %llu, expected %llu",
		      (unsigned long long)r.first, (unsigned long long)m->n_alloc);
		for (uint64_t p = m->n_alloc; p < m->n_alloc + count; p++)
			m->pg[p] = (struct mpage){0};
		m->n_alloc += count;
	}
	struct ptbm_stats st;
	ptbm_get_stats(m->pool, &st);
	CHECK(m, st.allocated == m->n_alloc, "pool says %llu pages allocated, model %llu",
	      (unsigned long long)st.allocated, (unsigned long long)m->n_alloc);
	m->verified++;
}

/* ---- latches held across operations -------------------------------------------- */

static void op_hold(struct model *m)
{
	uint64_t pid;
	if (m->n_held == MAX_HELD || !pick_valid(m, &pid))
		return;
	bool excl = pick(m, 2);
	void *p;
	bool ev = is_evicted(m, pid);
	int rc = excl ? ptbm_fix_exclusive(m->pool, pid, &p) : ptbm_fix_shared(m->pool, pid, &p);
	track(m, false);
	CHECK_RC(m, excl ? "fix_exclusive (held)" : "fix_shared (held)", rc, load_rc(m, pid));
	if (rc < 0) {
		CHECK(m, !ev || is_evicted(m, pid), "a failed fix left page %llu resident",
		      (unsigned long long)pid);
		m->verified++;
		return;
	}
	check_bytes(m, pid, p, 0, m->usable, "fix (held)");
	uint64_t tag = ptbm_tag(word(m, pid));
	CHECK(m, excl ? tag == PTBM_TAG_EXCLUSIVE : tag == 2, "held page %llu has tag %llu",
	      (unsigned long long)pid, (unsigned long long)tag);
	m->held[m->n_held++] = (struct held){pid, excl, false};
	m->verified++;
}

/* Write into a page held exclusive (marked dirty when released). */
static void op_hold_write(struct model *m)
{
	for (unsigned i = 0; i < m->n_held; i++) {
		struct held *h = &m->held[i];
		if (!h->excl)
			continue;
		struct mpage *g = &m->pg[h->pid];
		pagefmt_fill(ptbm_page_addr(m->pool, h->pid), m->usable, h->pid, g->latest + 1);
		g->latest++;
		h->written = true;
		return;
	}
}

/* Misuse of held latches: the wrong unfix, mark_dirty under a shared latch. */
static void op_hold_misuse(struct model *m)
{
	if (m->n_held == 0)
		return;
	struct held *h = &m->held[pick(m, m->n_held)];
	uint64_t s = word(m, h->pid);
	int rc =
	    h->excl ? ptbm_unfix_shared(m->pool, h->pid) : ptbm_unfix_exclusive(m->pool, h->pid);
	CHECK_RC(m, "unfix of the other kind", rc, PTBM_ENOTFIXED);
	if (!h->excl) {
		rc = ptbm_mark_dirty(m->pool, h->pid);
		CHECK_RC(m, "mark_dirty under a shared latch", rc, PTBM_ENOTFIXED);
		m->bad_inputs++;
	}
	m->bad_inputs++;
	CHECK(m, word(m, h->pid) == s, "misuse changed the state word of page %llu",
	      (unsigned long long)h->pid);
	m->verified++;
}

static void release(struct model *m, unsigned i)
{
	struct held h = m->held[i];
	m->held[i] = m->held[--m->n_held];
	int rc;
	if (h.excl) {
		if (h.written)
			CHECK_RC(m, "mark_dirty (held)", ptbm_mark_dirty(m->pool, h.pid), 0);
		rc = ptbm_unfix_exclusive(m->pool, h.pid);
		CHECK_RC(m, "unfix_exclusive (held)", rc, 0);
	} else {
		rc = ptbm_unfix_shared(m->pool, h.pid);
		CHECK_RC(m, "unfix_shared (held)", rc, 0);
	}
	track(m, false);
	m->verified++;
}

static void release_all(struct model *m, bool only_exclusive)
{
	for (unsigned i = m->n_held; i-- > 0 && !m->failed;)
		if (m->held[i].excl || !only_exclusive)
			release(m, i);
}

/* ---- invalid calls ------------------------------------------------------------ */

/* Calls that must fail and change nothing. */
static void op_bad(struct model *m)
{
	ptbm_pool *pool = m->pool;
	uint64_t pid, v;
	void *p;
	const void *cp;
	char buf[64];
	unsigned kind = (unsigned)pick(m, 8);
	if (!pick_pid(m, &pid))
		return;
	bool in_range = pid < m->max_pages, allocated = pid < m->n_alloc;
	uint64_t s = word(m, pid);
	int rc, want;
	switch (kind) {
	case 0: /* unfix without fix; mark_dirty without a latch */
		rc = ptbm_unfix_shared(pool, pid);
		CHECK_RC(m, "unfix_shared without fix", rc,
			 in_range ? PTBM_ENOTFIXED : PTBM_ERANGE);
		rc = ptbm_unfix_exclusive(pool, pid);
		CHECK_RC(m, "unfix_exclusive without fix", rc,
			 in_range ? PTBM_ENOTFIXED : PTBM_ERANGE);
		rc = ptbm_mark_dirty(pool, pid);
		CHECK_RC(m, "mark_dirty without fix", rc, in_range ? PTBM_ENOTFIXED : PTBM_ERANGE);
		m->bad_inputs += 3;
		break;
	case 1: /* double unfix, shared and exclusive */
		if (!allocated || m->pg[pid].bad)
			return;
		rc = ptbm_fix_shared(pool, pid, &p);
		track(m, false);
		CHECK_RC(m, "fix_shared", rc, 0);
		check_bytes(m, pid, p, 0, m->usable, "fix_shared");
		CHECK_RC(m, "unfix_shared", ptbm_unfix_shared(pool, pid), 0);
		CHECK_RC(m, "second unfix_shared", ptbm_unfix_shared(pool, pid), PTBM_ENOTFIXED);
		rc = ptbm_fix_exclusive(pool, pid, &p);
		CHECK_RC(m, "fix_exclusive", rc, 0);
		CHECK_RC(m, "unfix_exclusive", ptbm_unfix_exclusive(pool, pid), 0);
		s = word(m, pid);
		CHECK_RC(m, "second unfix_exclusive", ptbm_unfix_exclusive(pool, pid),
			 PTBM_ENOTFIXED);
		m->bad_inputs += 2;
		break;
	case 2: /* ptbm_read out of the page's usable bytes (PTBM_ERANGE), or
		 * into NULL (-EINVAL) */
		want = PTBM_ERANGE;
		switch (pick(m, 4)) {
		case 0:
			rc = ptbm_read(pool, pid, m->usable + 1 + pick(m, 9000), buf, 1);
			break;
		case 1:
			v = pick(m, m->usable + 1);
			rc = ptbm_read(pool, pid, v, buf, m->usable - v + 1 + pick(m, 3));
			break;
		case 2:
			rc = ptbm_read(pool, pid, SIZE_MAX - pick(m, 2), buf, 2 + pick(m, 8));
			break;
		default:
			rc = ptbm_read(pool, pid, 0, NULL, 1 + pick(m, sizeof buf));
			want = -EINVAL;
			break;
		}
		CHECK_RC(m, "ptbm_read out of the page", rc, want);
		m->bad_inputs++;
		break;
	case 3: /* validate and upgrade with a version the page does not have */
		v = ptbm_version(s) + 1 + pick(m, 5);
		rc = ptbm_read_validate(pool, pid, v);
		CHECK_RC(m, "read_validate with a wrong version", rc,
			 in_range ? PTBM_ERESTART : PTBM_ERANGE);
		rc = ptbm_upgrade(pool, pid, v);
		CHECK_RC(m, "upgrade with a wrong version", rc,
			 in_range ? PTBM_ERESTART : PTBM_ERANGE);
		m->bad_inputs += 2;
		break;
	case 4: /* NULL out pointers: -EINVAL whatever the id (pointers first) */
		CHECK_RC(m, "fix_shared(NULL)", ptbm_fix_shared(pool, pid, NULL), -EINVAL);
		CHECK_RC(m, "fix_exclusive(NULL)", ptbm_fix_exclusive(pool, pid, NULL), -EINVAL);
		CHECK_RC(m, "read_begin(NULL page)", ptbm_read_begin(pool, pid, NULL, &v), -EINVAL);
		CHECK_RC(m, "read_begin(NULL version)", ptbm_read_begin(pool, pid, &cp, NULL),
			 -EINVAL);
		CHECK_RC(m, "alloc(NULL first)", ptbm_alloc(pool, 1, NULL), -EINVAL);
		CHECK_RC(m, "prefetch(NULL, 1)", ptbm_prefetch(pool, NULL, 1), -EINVAL);
		CHECK_RC(m, "prefetch(NULL, 0)", ptbm_prefetch(pool, NULL, 0), 0);
		m->bad_inputs += 6;
		break;
	case 5: /* allocations that cannot be */
		op_alloc_n(m, 0);
		op_alloc_n(m, m->max_pages - m->n_alloc + 1 + pick(m, 5));
		op_alloc_n(m, UINT64_MAX - pick(m, 3));
		break;
	default: /* page ids beyond max_pages or not allocated */
		if (allocated)
			pid = m->n_alloc + pick(m, m->max_pages - m->n_alloc + 2);
		in_range = pid < m->max_pages;
		s = word(m, pid);
		want = PTBM_ERANGE;
		CHECK_RC(m, "fix_shared of a page not allocated", ptbm_fix_shared(pool, pid, &p),
			 want);
		CHECK_RC(m, "fix_exclusive of a page not allocated",
			 ptbm_fix_exclusive(pool, pid, &p), want);
		CHECK_RC(m, "read_begin of a page not allocated",
			 ptbm_read_begin(pool, pid, &cp, &v), want);
		CHECK_RC(m, "ptbm_read of a page not allocated",
			 ptbm_read(pool, pid, 0, buf, sizeof buf), want);
		CHECK_RC(m, "prefetch of a page not allocated", ptbm_prefetch(pool, &pid, 1), want);
		CHECK_RC(m, "upgrade of a page not allocated", ptbm_upgrade(pool, pid, 0),
			 in_range ? PTBM_ERESTART : PTBM_ERANGE);
		m->bad_inputs += 6;
		break;
	}
	CHECK(m, word(m, pid) == s, "invalid calls changed the state word of page %llu",
	      (unsigned long long)pid);
	track(m, false);
	m->verified++;
}

/* ---- flush, reopen, frames ---------------------------------------------------- */

static void op_flush(struct model *m)
{
	release_all(m, true); /* never flush holding an exclusive latch (invariant 7) */
	uint64_t n_dirty = 0;
	for (uint64_t p = 0; p < m->n_alloc; p++)
		n_dirty += m->pg[p].dirty;
	struct act a = {.kind = A_FLUSH};
	maybe_fault(m, &a.fault, 3);
	if (a.fault.kind && a.fault.write) /* anywhere in its writes, or just after */
		a.fault.after = (long)pick(m, n_dirty + 2);
	struct act_res r;
	exec(m, &a, &r);
	const struct fault *f = &a.fault;
	/* one write per dirty page, then the header: after <= n_dirty fires */
	bool fires = f->kind && f->write && (uint64_t)f->after <= n_dirty;
	if (f->kind && !f->write)
		CHECK(m, r.fired == 0, "flush read a page (a read fault fired)");
	track(m, fires && f->kind == PTBM_FAULT_SHORT);
	CHECK_RC(m, "flush", r.rc[0], fires ? fault_code(f->kind) : 0);
	if (fires) {
		count_fault(m, f);
		m->failed_flushes++;
		/* a short header write wrote its first half, which holds it all */
		if ((uint64_t)f->after == n_dirty && f->kind == PTBM_FAULT_SHORT)
			m->header_alloc = m->n_alloc;
		uint64_t still = 0;
		for (uint64_t p = 0; p < m->n_alloc; p++)
			still += m->pg[p].dirty;
		CHECK(m, (uint64_t)f->after == n_dirty || still > 0,
		      "flush failed at a page write but no page is dirty");
		m->verified++;
		return;
	}
	for (uint64_t p = 0; p < m->n_alloc; p++) {
		struct mpage *g = &m->pg[p];
		CHECK(m, !g->dirty, "page %llu dirty after a flush", (unsigned long long)p);
		g->durable = g->latest;
	}
	m->header_alloc = m->n_alloc;
	m->short_writes = 0;
	m->flushes++;
	m->verified++;
}

/* Pages in memory against the pool's resident count and budget. */
static void check_frames(struct model *m)
{
	struct ptbm_stats st;
	ptbm_get_stats(m->pool, &st);
	uint64_t in_core = tu_pages_in_core(m->pool, m->max_pages);
	CHECK(m, st.resident <= st.budget_pages, "resident %llu > budget %llu",
	      (unsigned long long)st.resident, (unsigned long long)st.budget_pages);
	if (in_core != st.resident) {
		if (in_core > st.resident)
			m->leaked += in_core - st.resident;
		mfail(m, "%llu pages in memory, the pool counts %llu resident",
		      (unsigned long long)in_core, (unsigned long long)st.resident);
		return;
	}
	uint64_t resident = 0;
	for (uint64_t p = 0; p < m->max_pages; p++)
		resident += ptbm_tag(word(m, p)) != PTBM_TAG_EVICTED;
	CHECK(m, resident == st.resident, "%llu pages not evicted, the pool counts %llu resident",
	      (unsigned long long)resident, (unsigned long long)st.resident);
}

static const uint32_t batches[] = {1, 2, 4, 8, 16};

static int model_open(struct model *m, bool create)
{
	struct ptbm_config cfg;
	ptbm_config_init(&cfg);
	cfg.data_path = m->path;
	cfg.share = m->share;
	cfg.name = m->share == PTBM_SHARE_PROCESSES ? m->shm_name : NULL;
	cfg.page_size = m->page_size;
	cfg.max_pages = m->max_pages;
	m->budget_pages = 16 + pick(m, 49);
	cfg.budget_bytes = m->budget_pages * m->page_size;
	cfg.evict_batch = batches[pick(m, sizeof batches / sizeof batches[0])];
	cfg.direct = chance(m, 4) ? PTBM_DIRECT_AUTO : PTBM_DIRECT_OFF; /* O_DIRECT: slow here */
	cfg.flags = create ? PTBM_CREATE | PTBM_TRUNCATE : 0;
	if (chance(m, 2)) /* victims retired on a releaser thread (small batches) */
		cfg.flags |= PTBM_BACKGROUND;
	int rc = ptbm_open(&cfg, &m->pool);
	if (rc < 0) {
		mfail(m, "ptbm_open: %s", ptbm_strerror(rc));
		return rc;
	}
	m->usable = ptbm_page_usable(m->pool);
	m->expect_pid = UINT64_MAX;
	start_helper(m);
	return 0;
}

static void model_close(struct model *m)
{
	release_all(m, false);
	stop_helper(m);
	int rc = ptbm_close(m->pool);
	m->pool = NULL;
	CHECK_RC(m, "close", rc, 0);
	if (m->share == PTBM_SHARE_PROCESSES) {
		int fd = shm_open(m->shm_name, O_RDONLY, 0);
		if (fd >= 0)
			close(fd);
		CHECK(m, fd < 0 && errno == ENOENT, "%s is still in /dev/shm after close",
		      m->shm_name);
	}
}

/*
 * Close without a flush and open again: the file's header decides the
 * pages allocated, and every page must hold its disk version, whole.
 */
static void op_reopen(struct model *m)
{
	model_close(m);
	if (m->failed || model_open(m, false) < 0)
		return;
	m->reopens++;
	struct ptbm_stats st;
	ptbm_get_stats(m->pool, &st);
	CHECK(m, st.allocated == m->header_alloc, "reopened with %llu pages, the header had %llu",
	      (unsigned long long)st.allocated, (unsigned long long)m->header_alloc);
	if (m->n_alloc > m->header_alloc)
		m->dropped_allocs += m->n_alloc - m->header_alloc;
	for (uint64_t p = m->header_alloc; p < m->max_pages; p++)
		m->pg[p] = (struct mpage){0}; /* not allocated: new again if allocated */
	m->n_alloc = m->header_alloc;
	for (uint64_t p = 0; p < m->n_alloc; p++) {
		struct mpage *g = &m->pg[p];
		void *page;
		int rc = ptbm_fix_shared(m->pool, p, &page);
		if (rc == PTBM_ECHECKSUM && (g->bad || (g->maybe_torn && m->short_writes > 0))) {
			/* reported, never returned: from now on it never loads */
			if (!g->bad)
				m->short_writes--, m->torn_on_disk++;
			g->bad = true;
			continue;
		}
		CHECK(m, rc == 0 && !g->bad, "after reopen, fix_shared of page %llu = %s%s",
		      (unsigned long long)p, ptbm_strerror(rc),
		      g->bad ? " (a bad page loaded)" : "");
		uint64_t v = 0;
		bool whole = pagefmt_check(page, m->usable, p, &v) == 0;
		ptbm_unfix_shared(m->pool, p);
		if (!whole) {
			m->torn++;
			mfail(m, "after reopen, page %llu is torn", (unsigned long long)p);
			return;
		}
		if (v < g->durable)
			m->lost++;
		CHECK(m, v == g->disk,
		      "after reopen, page %llu holds version %llu; the file had %llu, "
		      "flushed %llu, latest %llu",
		      (unsigned long long)p, (unsigned long long)v, (unsigned long long)g->disk,
		      (unsigned long long)g->durable, (unsigned long long)g->latest);
		*g = (struct mpage){.latest = v, .disk = v, .durable = v};
	}
	m->short_writes = 0;
	track(m, false);
	m->verified++;
}

/* ---- the driver ------------------------------------------------------------------ */

/* One random operation. */
static void model_step(struct model *m)
{
	m->op_no++;
	unsigned r = (unsigned)pick(m, 1000);
	if (r < 220)
		op_write(m);
	else if (r < 340)
		op_fix_shared(m);
	else if (r < 460)
		op_pread(m);
	else if (r < 560)
		op_optimistic(m);
	else if (r < 610)
		op_upgrade(m, false);
	else if (r < 640)
		op_upgrade(m, true);
	else if (r < 680)
		op_prefetch(m);
	else if (r < 720)
		op_alloc_n(m, 1 + pick(m, 8));
	else if (r < 760)
		op_hold(m);
	else if (r < 790)
		op_hold_write(m);
	else if (r < 830 && m->n_held)
		release(m, (unsigned)pick(m, m->n_held));
	else if (r < 850)
		op_hold_misuse(m);
	else if (r < 950)
		op_bad(m);
	else if (r < 980)
		op_flush(m);
	else if (r < 984 || (m->fuzz && r < 995))
		op_reopen(m);
	if (!m->failed && m->pool && m->op_no % (m->fuzz ? 32 : LEAK_EVERY) == 0)
		check_frames(m);
}

/* Allocate what the model needs; the pool is opened by model_start. */
static int model_init(struct model *m, enum ptbm_share share, uint32_t page_size,
		      uint64_t max_pages, const char *dir)
{
	memset(m, 0, sizeof *m);
	m->share = share;
	m->page_size = page_size;
	m->max_pages = max_pages;
	snprintf(m->path, sizeof m->path, "%s/model.data", dir);
	snprintf(m->shm_name, sizeof m->shm_name, "/ptbm-model-%d", (int)getpid());
	shm_unlink(m->shm_name); /* a leftover of a crashed run with this pid */
	m->pg = calloc(max_pages, sizeof *m->pg);
	m->expect = malloc(page_size);
	m->obs = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!m->pg || !m->expect || m->obs == MAP_FAILED ||
	    posix_memalign(&m->probe_page, 4096, page_size))
		return -ENOMEM;
	memset(m->probe_page, 0, page_size);
	char probe_path[PATH_MAX];
	snprintf(probe_path, sizeof probe_path, "%s/model.probe", dir);
	uint64_t n;
	int rc = ptbm_file_open(&m->probe, probe_path, page_size, PTBM_CREATE | PTBM_TRUNCATE,
				PTBM_DIRECT_OFF, &n);
	if (rc < 0)
		return rc;
	m->probe.file_pages = NULL;
	uint64_t zero = 0; /* page 0 exists: a short read of it is short */
	rc = ptbm_file_write_pages(&m->probe, &zero, &m->probe_page, 1);
	if (rc < 0)
		return rc;
	/* without PTBM_FAULT_INJECTION the seam does nothing: no faults then */
	ptbm_fault_inject_read(PTBM_FAULT_EIO, 0);
	m->seam = ptbm_file_read_page(&m->probe, 0, m->probe_page) == -EIO;
	ptbm_fault_inject_read(PTBM_FAULT_NONE, 0);
	return 0;
}

/* Start over: a new, empty data file and a fresh model. */
static int model_start(struct model *m)
{
	memset(m->pg, 0, m->max_pages * sizeof *m->pg);
	m->n_alloc = m->header_alloc = m->short_writes = 0;
	m->n_held = 0;
	m->failed = false;
	return model_open(m, true);
}

static void model_fini(struct model *m)
{
	ptbm_file_close(&m->probe);
	free(m->pg);
	free(m->expect);
	free(m->probe_page);
	munmap(m->obs, m->page_size);
}

#ifndef MODEL_NO_MAIN

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	enum ptbm_share share = PTBM_SHARE_THREADS;
	double seconds = 5;
	uint64_t seed = 0, max_ops = 0;
	bool have_seed = false;
	static const struct option lo[] = {{"mode", 1, 0, 'm'},
					   {"seconds", 1, 0, 't'},
					   {"seed", 1, 0, 's'},
					   {"ops", 1, 0, 'n'},
					   {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'm' && strcmp(optarg, "threads") == 0)
			share = PTBM_SHARE_THREADS;
		else if (c == 'm' && strcmp(optarg, "processes") == 0)
			share = PTBM_SHARE_PROCESSES;
		else if (c == 't')
			seconds = atof(optarg);
		else if (c == 's')
			seed = strtoull(optarg, NULL, 0), have_seed = true;
		else if (c == 'n')
			max_ops = strtoull(optarg, NULL, 0);
		else {
			fprintf(stderr, "usage: model [--mode threads|processes] [--seconds S] "
					"[--seed S] [--ops N]\n");
			return 2;
		}
	}
	if (getenv("PTBM_MODEL_SECONDS"))
		seconds = atof(getenv("PTBM_MODEL_SECONDS"));
	else if (getenv("PTBM_STRESS_SECONDS"))
		seconds = atof(getenv("PTBM_STRESS_SECONDS"));
	if (!have_seed) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		seed = (uint64_t)t.tv_sec * 1000003u ^ (uint64_t)t.tv_nsec ^ (uint64_t)getpid();
	}
	const char *mode = ptbm_share_name(share);
	printf("model: %s mode, seed %llu (replay with --mode %s --seed %llu)\n", mode,
	       (unsigned long long)seed, mode, (unsigned long long)seed);
	fflush(stdout);

	static struct model m;
	uint64_t rng = seed;
	uint32_t page_size = splitmix(&rng) % 2 ? 8192 : 4096;
	int rc = model_init(&m, share, page_size, 512, tu_dir());
	if (rc < 0) {
		fprintf(stderr, "model: set-up: %s\n", ptbm_strerror(rc));
		return 1;
	}
	m.rng = rng;
	m.use_helper = true;
	double deadline = now_s() + seconds;
	if (model_start(&m) == 0)
		op_alloc_n(&m, 32);
	while (!m.failed && (max_ops ? m.op_no < max_ops : now_s() < deadline))
		model_step(&m);
	if (!m.failed) { /* the end: every page in memory, then flushed and reopened */
		check_frames(&m);
		op_flush(&m);
	}
	if (!m.failed)
		op_reopen(&m);
	if (m.pool)
		model_close(&m);
	printf("model: %s: %llu operations, %llu verified (%llu by the helper), %llu faults "
	       "injected (%llu read, %llu write), %llu flushes (%llu failed), %llu reopens, %llu "
	       "unflushed allocations dropped, %llu bad inputs, %llu lost writes, %llu torn "
	       "reads, %llu stale reads, %llu torn pages on disk reported, %llu leaked frames\n",
	       mode, (unsigned long long)m.op_no, (unsigned long long)m.verified,
	       (unsigned long long)m.helper_acts, (unsigned long long)m.faults,
	       (unsigned long long)m.read_faults, (unsigned long long)m.write_faults,
	       (unsigned long long)m.flushes, (unsigned long long)m.failed_flushes,
	       (unsigned long long)m.reopens, (unsigned long long)m.dropped_allocs,
	       (unsigned long long)m.bad_inputs, (unsigned long long)m.lost,
	       (unsigned long long)m.torn, (unsigned long long)m.stale,
	       (unsigned long long)m.torn_on_disk, (unsigned long long)m.leaked);
	if (!m.seam)
		printf("model: the library has no fault-injection seam (PTBM_FAULT_INJECTION "
		       "off): no faults injected\n");
	bool ok = !m.failed && (m.faults > 0 || !m.seam) && m.reopens > 0 && m.flushes > 0;
	if (m.failed)
		printf("model: FAIL at operation %llu; replay: model --mode %s --seed %llu --ops "
		       "%llu\n",
		       (unsigned long long)m.op_no, mode, (unsigned long long)seed,
		       (unsigned long long)m.op_no);
	else if (!ok)
		printf("model: FAIL: too short a run to inject faults, flush and reopen\n");
	printf("%s\n", ok ? "PASS" : "FAIL");
	model_fini(&m);
	return ok ? 0 : 1;
}

#endif /* MODEL_NO_MAIN */
