/*
 * ptbm_ext.c - the ptbm PostgreSQL extension: a PT-BM pool inside the server.
 *
 * Loaded with shared_preload_libraries = 'ptbm'. The postmaster creates one
 * ptbm pool in processes mode (anonymous shared memory) from its
 * shmem_startup_hook, before it forks any backend; every backend inherits
 * the pool through fork(), exactly as it inherits PostgreSQL's own shared
 * memory segment. SQL functions read, write, allocate and flush pool pages,
 * report statistics, and measure the pool against PostgreSQL's buffer
 * manager in the same server.
 *
 * Principal entry points:
 *   _PG_init              GUCs ptbm.pool_size, ptbm.max_pages, ptbm.data_file,
 *                         ptbm.populate;
 *                         shmem hooks (postmaster, preload only)
 *   ptbm_shmem_startup    opens the pool (startup) or keeps / recreates it
 *                         (after a crash, when the postmaster resets memory)
 *   ptbm_on_shmem_exit    the postmaster's side of shutdown and crash reset
 *   pg_ptbm_*             the SQL functions (ptbm--0.1.sql)
 *
 * Crash restart. After a backend dies abnormally the postmaster kills every
 * other child, runs shmem_exit(1) (our on_shmem_exit callback) and then
 * CreateSharedMemoryAndSemaphores() again, which calls shmem_startup_hook.
 * Backends count themselves in a shared counter (PtbmShared.inside) around
 * every call into the library, and no latch is ever held outside such a
 * call. At the reset:
 *   inside == 0  no process can have died holding a latch or in the middle
 *                of an eviction: the pool is consistent. It is flushed and
 *                kept; nothing is lost.
 *   inside > 0   some process died inside the library (possibly holding an
 *                exclusive latch on a half-written page): the pool is closed
 *                without writing anything and opened again from the data
 *                file. Pages not flushed before the crash are lost, flushed
 *                ones are not (the data file's checksums reject torn pages).
 * A clean shutdown (exit code 0) flushes the pool when inside == 0.
 */
#include "postgres.h"

#include <limits.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "ptbm.h"

PG_MODULE_MAGIC;

/* ---- configuration (GUCs) ---- */

static int pool_size_kb = 128 * 1024; /* ptbm.pool_size: resident budget */
static int max_pages_guc = 16 * 1024 * 1024; /* ptbm.max_pages: virtual size */
static char *data_file = NULL;		      /* ptbm.data_file */
static bool populate = true; /* ptbm.populate: map others' pages with MADV_POPULATE_WRITE */

/* ---- state ---- */

/* Benchmark kinds: one accumulator each in shared memory. */
enum bench_kind {
	BENCH_PG_PIN,	     /* ReadBufferExtended + ReleaseBuffer */
	BENCH_PG_TOUCH,	     /* ... + share content lock + read a word */
	BENCH_PTBM_FIX,	     /* ptbm_fix_shared + ptbm_unfix_shared */
	BENCH_PTBM_TOUCH,    /* ... + read a word under the latch */
	BENCH_PTBM_OPTIMISTIC, /* ptbm_read_begin + read a word + validate */
	BENCH_N_KINDS
};
static const char *const bench_kind_names[BENCH_N_KINDS] = {
    "pg/pin", "pg/touch", "ptbm/fix", "ptbm/touch", "ptbm/optimistic"};

/* In PostgreSQL's shared memory; recreated (zeroed) at every crash reset. */
typedef struct PtbmShared {
	pg_atomic_uint32 inside;      /* processes now inside a library call */
	pg_atomic_uint64 bench_pages; /* pages [0, n) prepared by ptbm_bench_setup */
	struct {
		pg_atomic_uint64 calls;	  /* timed calls */
		pg_atomic_uint64 lookups; /* lookups timed */
		pg_atomic_uint64 ns;	  /* their total time */
	} acc[BENCH_N_KINDS];
} PtbmShared;

static PtbmShared *shared = NULL;
/* Set in the postmaster, inherited by every backend through fork(). */
static ptbm_pool *pool = NULL;
static pid_t pool_owner = 0; /* the postmaster that opened the pool */
static int64 pool_opens = 0; /* times the postmaster opened a pool */
static int64 pool_kept = 0;  /* crash resets that kept the pool */

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void _PG_init(void);

/* ---- errors ---- */

static int sqlstate_of(int rc)
{
	switch (rc) {
	case PTBM_ERANGE:
		return ERRCODE_INVALID_PARAMETER_VALUE;
	case PTBM_EINVAL_CONFIG:
		return ERRCODE_INVALID_PARAMETER_VALUE;
	case PTBM_ECHECKSUM:
	case PTBM_EBADFILE:
	case PTBM_ETRUNCATED:
	case PTBM_ELAYOUT:
		return ERRCODE_DATA_CORRUPTED;
	case PTBM_EFULL:
		return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
	case PTBM_EBUSY:
		return ERRCODE_INSUFFICIENT_RESOURCES;
	case PTBM_EOWNERDEAD:
		return ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
	case PTBM_EIO_SHORT:
	case -EIO:
		return ERRCODE_IO_ERROR;
	case -ENOSPC:
		return ERRCODE_DISK_FULL;
	case -ENOMEM:
		return ERRCODE_OUT_OF_MEMORY;
	default:
		return rc > -4096 ? ERRCODE_SYSTEM_ERROR : ERRCODE_INTERNAL_ERROR;
	}
}

/* Report a ptbm error as an ERROR; what says which call failed. */
static void pg_attribute_noreturn() report(int rc, const char *what, int64 page)
{
	if (page >= 0)
		ereport(ERROR, (errcode(sqlstate_of(rc)),
				errmsg("ptbm: %s of page %lld failed: %s", what, (long long)page,
				       ptbm_strerror(rc)),
				rc == PTBM_EOWNERDEAD
				    ? errhint("A process died holding a page latch; restart the server.")
				    : 0));
	ereport(ERROR, (errcode(sqlstate_of(rc)), errmsg("ptbm: %s failed: %s", what, ptbm_strerror(rc)),
			rc == PTBM_EOWNERDEAD
			    ? errhint("A process died holding a page latch; restart the server.")
			    : 0));
}

/* Every SQL function starts here: the pool exists only when preloaded. */
static void require_pool(void)
{
	if (!pool || !shared)
		ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("ptbm must be loaded via shared_preload_libraries"),
			 errhint("Add ptbm to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * Bracket every library call: the postmaster looks at this count when it
 * resets shared memory after a crash (see the file's header). Full barriers
 * (atomic read-modify-write) on both sides.
 */
static inline void enter(void)
{
	pg_atomic_fetch_add_u32(&shared->inside, 1);
}

static inline void leave(void)
{
	pg_atomic_fetch_sub_u32(&shared->inside, 1);
}

static void check_page_arg(int64 page)
{
	if (page < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: page id must not be negative (got %lld)", (long long)page)));
}

/* ---- GUCs ---- */

static bool check_data_file(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0') {
		GUC_check_errdetail("ptbm.data_file must name a file (relative paths are under the data directory).");
		return false;
	}
	if (strlen(*newval) >= MAXPGPATH) {
		GUC_check_errdetail("ptbm.data_file is longer than %d bytes.", MAXPGPATH - 1);
		return false;
	}
	return true;
}

/*
 * A placeholder value that a custom GUC rejects at definition time only
 * draws a WARNING and the default is used; for settings that size the pool
 * that would be a silent surprise. Validate the configured text again and
 * stop the server with PostgreSQL's own message if it is bad.
 */
static void revalidate(const char *name, const char *configured)
{
	if (configured != NULL)
		(void)set_config_option(name, configured, PGC_POSTMASTER, PGC_S_FILE, GUC_ACTION_SET, false,
					FATAL, false);
}

/* ---- the pool's life in the postmaster ---- */

static void ptbm_on_shmem_exit(int code, Datum arg)
{
	uint32 inside;

	if (pool == NULL || getpid() != pool_owner)
		return;
	inside = shared ? pg_atomic_read_u32(&shared->inside) : 1;
	if (inside == 0) {
		int rc = ptbm_flush(pool);
		if (rc < 0)
			elog(LOG, "ptbm: flush at %s failed: %s", code == 0 ? "shutdown" : "reset",
			     ptbm_strerror(rc));
	} else {
		elog(LOG,
		     "ptbm: %u process(es) died inside a ptbm call: the pool is discarded, unflushed pages are lost",
		     inside);
	}
	if (inside > 0 || code == 0) {
		(void)ptbm_close(pool);
		pool = NULL;
	}
	/* else: a crash reset with no one inside: the pool is kept as it is */
}

static void open_pool(void)
{
	struct ptbm_config cfg;
	int rc;

	ptbm_config_init(&cfg);
	cfg.engine = PTBM_ENGINE_VM;
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.data_path = data_file;
	cfg.page_size = BLCKSZ;
	cfg.max_pages = (uint64_t)max_pages_guc;
	cfg.budget_bytes = (uint64_t)pool_size_kb * 1024;
	cfg.flags = PTBM_CREATE | (populate ? 0 : PTBM_NO_POPULATE);
	rc = ptbm_open(&cfg, &pool);
	if (rc < 0) {
		pool = NULL;
		ereport(FATAL,
			(errcode(sqlstate_of(rc)),
			 errmsg("ptbm: could not open the pool over data file \"%s\": %s", data_file,
				ptbm_strerror(rc)),
			 errdetail("ptbm.pool_size = %d kB, ptbm.max_pages = %d, page size %d.", pool_size_kb,
				   max_pages_guc, BLCKSZ),
			 errhint("Check ptbm.data_file, ptbm.pool_size (at least %d pages) and ptbm.max_pages "
				 "(not below the pages in the file).",
				 64)));
	}
	pool_opens++;
}

static void ptbm_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(PtbmShared)));
}

static void ptbm_shmem_startup(void)
{
	bool found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("ptbm", sizeof(PtbmShared), &found);
	if (!found) {
		pg_atomic_init_u32(&shared->inside, 0);
		pg_atomic_init_u64(&shared->bench_pages, 0);
		for (int k = 0; k < BENCH_N_KINDS; k++) {
			pg_atomic_init_u64(&shared->acc[k].calls, 0);
			pg_atomic_init_u64(&shared->acc[k].lookups, 0);
			pg_atomic_init_u64(&shared->acc[k].ns, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
	if (IsUnderPostmaster)
		return; /* only the postmaster owns the pool */
	if (pool != NULL) {
		pool_kept++;
		elog(LOG, "ptbm: no process died inside a ptbm call: the pool is kept across the reset");
	} else {
		open_pool();
		if (pool_opens > 1)
			elog(LOG, "ptbm: pool opened again from \"%s\"", data_file);
	}
	pool_owner = getpid();
	on_shmem_exit(ptbm_on_shmem_exit, (Datum)0);
}

void _PG_init(void)
{
	const char *cfg_size, *cfg_max, *cfg_file, *cfg_pop;

	if (!process_shared_preload_libraries_in_progress)
		return; /* the SQL functions will say how to enable ptbm */

	cfg_size = GetConfigOption("ptbm.pool_size", true, false);
	cfg_max = GetConfigOption("ptbm.max_pages", true, false);
	cfg_file = GetConfigOption("ptbm.data_file", true, false);
	cfg_pop = GetConfigOption("ptbm.populate", true, false);
	/* copy: defining the variables frees the placeholders' strings */
	cfg_size = cfg_size ? pstrdup(cfg_size) : NULL;
	cfg_max = cfg_max ? pstrdup(cfg_max) : NULL;
	cfg_file = cfg_file ? pstrdup(cfg_file) : NULL;
	cfg_pop = cfg_pop ? pstrdup(cfg_pop) : NULL;

	DefineCustomIntVariable("ptbm.pool_size", "Memory budget of the ptbm pool (resident pages).",
				"At least 64 pages of BLCKSZ bytes.", &pool_size_kb, 128 * 1024,
				64 * BLCKSZ / 1024, INT_MAX, PGC_POSTMASTER, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("ptbm.max_pages", "Virtual size of the ptbm pool, in pages of BLCKSZ bytes.",
				"Address space only: memory is used for resident pages.", &max_pages_guc,
				16 * 1024 * 1024, 1, INT_MAX, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("ptbm.data_file", "The ptbm pool's data file.",
				   "A relative path is under the data directory.", &data_file, "ptbm.data",
				   PGC_POSTMASTER, 0, check_data_file, NULL, NULL);
	DefineCustomBoolVariable("ptbm.populate",
				 "Map pages loaded by other processes with MADV_POPULATE_WRITE instead of page faults.",
				 "Off only to measure what it saves.", &populate, true, PGC_POSTMASTER, 0, NULL, NULL,
				 NULL);
	MarkGUCPrefixReserved("ptbm");
	revalidate("ptbm.pool_size", cfg_size);
	revalidate("ptbm.max_pages", cfg_max);
	revalidate("ptbm.data_file", cfg_file);
	revalidate("ptbm.populate", cfg_pop);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ptbm_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ptbm_shmem_startup;
}

/* ---- page access ---- */

PG_FUNCTION_INFO_V1(pg_ptbm_read);
PG_FUNCTION_INFO_V1(pg_ptbm_write);
PG_FUNCTION_INFO_V1(pg_ptbm_alloc);
PG_FUNCTION_INFO_V1(pg_ptbm_flush);
PG_FUNCTION_INFO_V1(pg_ptbm_stats);

/* Check off/len against the usable bytes of a page; len < 0 = to the end. */
static void check_span(int32 off, int32 *len)
{
	int64 usable = (int64)ptbm_page_usable(pool);

	if (off < 0 || off > usable)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: offset %d is outside the page's %lld usable bytes", off,
				       (long long)usable)));
	if (*len < 0)
		*len = (int32)(usable - off);
	if ((int64)off + *len > usable)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: %d bytes at offset %d exceed the page's %lld usable bytes", *len,
				       off, (long long)usable)));
}

/* ptbm_read(page bigint, off int default 0, len int default NULL) returns bytea */
Datum pg_ptbm_read(PG_FUNCTION_ARGS)
{
	int64 page;
	int32 off, len;
	bytea *out;
	int rc;

	require_pool();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL(); /* not strict only so that len may be NULL */
	page = PG_GETARG_INT64(0);
	off = PG_GETARG_INT32(1);
	len = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT32(2);
	check_page_arg(page);
	if (!PG_ARGISNULL(2) && len < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: length must not be negative (got %d)", len)));
	check_span(off, &len);
	out = (bytea *)palloc(VARHDRSZ + len);
	SET_VARSIZE(out, VARHDRSZ + len);
	enter();
	rc = ptbm_read(pool, (uint64_t)page, (size_t)off, VARDATA(out), (size_t)len);
	leave();
	if (rc < 0)
		report(rc, "read", page);
	PG_RETURN_BYTEA_P(out);
}

/* ptbm_write(page bigint, off int, data bytea) */
Datum pg_ptbm_write(PG_FUNCTION_ARGS)
{
	int64 page = PG_GETARG_INT64(0);
	int32 off = PG_GETARG_INT32(1);
	bytea *data = PG_GETARG_BYTEA_PP(2);
	int32 len = (int32)VARSIZE_ANY_EXHDR(data);
	void *frame;
	int rc;

	require_pool();
	check_page_arg(page);
	check_span(off, &len);
	enter();
	rc = ptbm_fix_exclusive(pool, (uint64_t)page, &frame);
	if (rc == 0) {
		memcpy((char *)frame + off, VARDATA_ANY(data), (size_t)len);
		rc = ptbm_mark_dirty(pool, (uint64_t)page);
		(void)ptbm_unfix_exclusive(pool, (uint64_t)page);
	}
	leave();
	if (rc < 0)
		report(rc, "write", page);
	PG_RETURN_VOID();
}

/* ptbm_alloc(n bigint default 1) returns bigint: the first new page id */
Datum pg_ptbm_alloc(PG_FUNCTION_ARGS)
{
	int64 n = PG_GETARG_INT64(0);
	uint64_t first;
	int rc;

	require_pool();
	if (n < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: the number of pages to allocate must be at least 1 (got %lld)",
				       (long long)n)));
	enter();
	rc = ptbm_alloc(pool, (uint64_t)n, &first);
	leave();
	if (rc < 0)
		report(rc, "alloc", -1);
	PG_RETURN_INT64((int64)first);
}

/* ptbm_flush() */
Datum pg_ptbm_flush(PG_FUNCTION_ARGS)
{
	int rc;

	require_pool();
	enter();
	rc = ptbm_flush(pool);
	leave();
	if (rc < 0)
		report(rc, "flush", -1);
	PG_RETURN_VOID();
}

/* ptbm_stats() returns setof (name text, value bigint) */
Datum pg_ptbm_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	struct ptbm_stats st;
	struct {
		const char *name;
		int64 value;
	} rows[20];
	int n = 0;

	require_pool();
	InitMaterializedSRF(fcinfo, 0);
	enter();
	(void)ptbm_get_stats(pool, &st);
	leave();
#define ROW(nm, v) (rows[n].name = (nm), rows[n].value = (int64)(v), n++)
	ROW("hits", st.hits);
	ROW("misses", st.misses);
	ROW("evictions", st.evictions);
	ROW("reads", st.reads);
	ROW("writes", st.writes);
	ROW("resident", st.resident);
	ROW("allocated", st.allocated);
	ROW("budget_pages", st.budget_pages);
	ROW("optimistic", st.optimistic);
	ROW("restarts", st.restarts);
	ROW("populates", st.populates);
	ROW("minor_faults", st.minor_faults);
	ROW("major_faults", st.major_faults);
	ROW("page_size", ptbm_page_size(pool));
	ROW("page_usable", ptbm_page_usable(pool));
	ROW("max_pages", ptbm_max_pages(pool));
	ROW("pool_opens", pool_opens);
	ROW("crash_resets_kept", pool_kept);
#undef ROW
	for (int i = 0; i < n; i++) {
		Datum values[2];
		bool nulls[2] = {false, false};
		values[0] = CStringGetTextDatum(rows[i].name);
		values[1] = Int64GetDatum(rows[i].value);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum)0;
}

/* ---- benchmarks ---- */

PG_FUNCTION_INFO_V1(pg_ptbm_bench_setup);
PG_FUNCTION_INFO_V1(pg_ptbm_bench_pg);
PG_FUNCTION_INFO_V1(pg_ptbm_bench_ptbm);
PG_FUNCTION_INFO_V1(pg_ptbm_bench_results);
PG_FUNCTION_INFO_V1(pg_ptbm_bench_fill_pg);
PG_FUNCTION_INFO_V1(pg_ptbm_bench_fill_ptbm);

/* Lookups between two interrupt checks (and between enter/leave). */
#define BENCH_CHUNK 4096

static inline uint64 now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64)ts.tv_sec * 1000000000u + (uint64)ts.tv_nsec;
}

/* xorshift64*: one multiply per number, no division for the range. */
static inline uint64 rng_next(uint64 *s)
{
	uint64 x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64CONST(0x2545F4914F6CDD1D);
}

static inline uint64 rng_below(uint64 *s, uint64 n)
{
	return (uint64)(((unsigned __int128)rng_next(s) * n) >> 64);
}

static uint64 rng_seed(void)
{
	uint64 s = now_ns() ^ ((uint64)MyProcPid << 32) ^ UINT64CONST(0x9E3779B97F4A7C15);
	return s ? s : 1;
}

static void bench_account(enum bench_kind kind, uint64 lookups, uint64 ns)
{
	pg_atomic_fetch_add_u64(&shared->acc[kind].calls, 1);
	pg_atomic_fetch_add_u64(&shared->acc[kind].lookups, lookups);
	pg_atomic_fetch_add_u64(&shared->acc[kind].ns, ns);
}

static void check_n(int64 n)
{
	if (n < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: the number of lookups must be at least 1 (got %lld)", (long long)n)));
}

/* Sink for values read from pages, so that the reads are not optimized out. */
static volatile uint64 bench_sink;

/*
 * ptbm_bench_setup(pages bigint) returns bigint: make pool pages [0, pages)
 * exist (allocating what is missing) and write each once, so that they are
 * resident (if the budget holds them) and dirty. Returns pages.
 */
Datum pg_ptbm_bench_setup(PG_FUNCTION_ARGS)
{
	int64 pages = PG_GETARG_INT64(0);
	struct ptbm_stats st;
	int rc = 0;
	int64 failed_page = -1;

	require_pool();
	if (pages < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: the number of pages must be at least 1 (got %lld)", (long long)pages)));
	if ((uint64)pages > ptbm_max_pages(pool))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: %lld pages exceed ptbm.max_pages (%llu)", (long long)pages,
				       (unsigned long long)ptbm_max_pages(pool))));
	enter();
	(void)ptbm_get_stats(pool, &st);
	if (st.allocated < (uint64)pages) {
		uint64_t first;
		rc = ptbm_alloc(pool, (uint64)pages - st.allocated, &first);
	}
	leave();
	if (rc < 0)
		report(rc, "alloc", -1);
	for (int64 p = 0; p < pages;) {
		int64 end = Min(pages, p + BENCH_CHUNK);
		enter();
		for (; p < end; p++) {
			void *frame;
			rc = ptbm_fix_exclusive(pool, (uint64)p, &frame);
			if (rc < 0) {
				failed_page = p;
				break;
			}
			*(uint64 *)frame = (uint64)p;
			rc = ptbm_mark_dirty(pool, (uint64)p);
			(void)ptbm_unfix_exclusive(pool, (uint64)p);
			if (rc < 0) {
				failed_page = p;
				break;
			}
		}
		leave();
		if (rc < 0)
			report(rc, "bench setup write", failed_page);
		CHECK_FOR_INTERRUPTS();
	}
	pg_atomic_write_u64(&shared->bench_pages, (uint64)pages);
	PG_RETURN_INT64(pages);
}

/* "pin" or "touch": whether a lookup also reads a word of the page. */
static bool parse_touch(text *mode_t, const char *plain, const char *touch)
{
	char *mode = text_to_cstring(mode_t);
	if (strcmp(mode, plain) == 0)
		return false;
	if (strcmp(mode, touch) == 0)
		return true;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			errmsg("ptbm: unknown benchmark mode \"%s\" (expected \"%s\" or \"%s\")", mode, plain,
			       touch)));
}

static Relation bench_open_rel(Oid relid, BlockNumber *nblocks)
{
	Relation rel;
	AclResult acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, get_relkind_objtype(get_rel_relkind(relid)), get_rel_name(relid));
	rel = relation_open(relid, AccessShareLock);
	if (!RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
				errmsg("ptbm: relation \"%s\" has no storage", RelationGetRelationName(rel))));
	*nblocks = RelationGetNumberOfBlocks(rel);
	if (*nblocks == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: relation \"%s\" is empty", RelationGetRelationName(rel))));
	return rel;
}

/* Read every block once, touching each 4 KiB of it; ns for the pass. */
static uint64 pg_fill_pass(Relation rel, BlockNumber nblocks)
{
	uint64 t0 = now_ns(), sum = 0;

	for (BlockNumber b = 0; b < nblocks; b++) {
		Buffer buf = ReadBufferExtended(rel, MAIN_FORKNUM, b, RBM_NORMAL, NULL);
		const char *pg = BufferGetPage(buf);
		for (int o = 0; o < BLCKSZ; o += 4096)
			sum += (unsigned char)pg[o + 8];
		ReleaseBuffer(buf);
		if ((b & (BENCH_CHUNK - 1)) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	bench_sink = sum;
	return now_ns() - t0;
}

static bool pg_warm = false;	 /* this backend has read the bench relation once */
static Oid pg_warm_rel = InvalidOid;
static bool ptbm_warm = false; /* this backend has fixed the bench pages once */

/*
 * ptbm_bench_pg(rel regclass, n bigint, mode text default 'pin') returns
 * float8: ns per lookup for n random ReadBufferExtended(MAIN_FORKNUM,
 * RBM_NORMAL) + ReleaseBuffer over the relation's blocks ('touch': also
 * LockBuffer(SHARE), read a word, UnlockReleaseBuffer). The first call in a
 * backend first reads every block once, untimed.
 */
Datum pg_ptbm_bench_pg(PG_FUNCTION_ARGS)
{
	Oid relid = PG_GETARG_OID(0);
	int64 n = PG_GETARG_INT64(1);
	bool touch = parse_touch(PG_GETARG_TEXT_PP(2), "pin", "touch");
	BlockNumber nblocks;
	Relation rel;
	uint64 seed = rng_seed(), sum = 0, t0, ns;

	require_pool(); /* the accumulators live in the extension's shared memory */
	check_n(n);
	rel = bench_open_rel(relid, &nblocks);
	if (!pg_warm || pg_warm_rel != relid) {
		(void)pg_fill_pass(rel, nblocks);
		pg_warm = true;
		pg_warm_rel = relid;
	}
	t0 = now_ns();
	for (int64 i = 0; i < n;) {
		int64 end = Min(n, i + BENCH_CHUNK);
		for (; i < end; i++) {
			Buffer buf = ReadBufferExtended(rel, MAIN_FORKNUM, (BlockNumber)rng_below(&seed, nblocks),
							RBM_NORMAL, NULL);
			if (touch) { /* the same every time: predicted */
				LockBuffer(buf, BUFFER_LOCK_SHARE);
				sum += *(const uint64 *)(BufferGetPage(buf) + 64);
				UnlockReleaseBuffer(buf);
			} else {
				ReleaseBuffer(buf);
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	ns = now_ns() - t0;
	bench_sink = sum;
	relation_close(rel, AccessShareLock);
	bench_account(touch ? BENCH_PG_TOUCH : BENCH_PG_PIN, (uint64)n, ns);
	PG_RETURN_FLOAT8((double)ns / (double)n);
}

static uint64 bench_pages_or_error(void)
{
	uint64 pages = pg_atomic_read_u64(&shared->bench_pages);
	if (pages == 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				errmsg("ptbm: no benchmark pages"),
				errhint("Call ptbm_bench_setup(pages) first.")));
	return pages;
}

/* Fix every bench page once, touching each 4 KiB of it; ns for the pass. */
static uint64 ptbm_fill_pass(uint64 pages)
{
	uint64 t0 = now_ns(), sum = 0;
	int rc = 0;
	uint64 p = 0;

	while (p < pages) {
		uint64 end = Min(pages, p + BENCH_CHUNK);
		enter();
		for (; p < end; p++) {
			void *frame;
			rc = ptbm_fix_shared(pool, p, &frame);
			if (rc < 0)
				break;
			for (int o = 0; o < BLCKSZ; o += 4096)
				sum += ((const unsigned char *)frame)[o + 8];
			(void)ptbm_unfix_shared(pool, p);
		}
		leave();
		if (rc < 0)
			report(rc, "fix", (int64)p);
		CHECK_FOR_INTERRUPTS();
	}
	bench_sink = sum;
	return now_ns() - t0;
}

/*
 * ptbm_bench_ptbm(n bigint, mode text default 'fix') returns float8: ns per
 * lookup for n random lookups over the pages of ptbm_bench_setup: 'fix'
 * (fix_shared + unfix_shared), 'touch' (the same, reading a word under the
 * latch) or 'optimistic' (read_begin, read a word, read_validate). The first
 * call in a backend first fixes every page once, untimed.
 */
Datum pg_ptbm_bench_ptbm(PG_FUNCTION_ARGS)
{
	int64 n = PG_GETARG_INT64(0);
	char *mode = text_to_cstring(PG_GETARG_TEXT_PP(1));
	enum bench_kind kind;
	uint64 pages, seed = rng_seed(), sum = 0, t0, ns, pid = 0;
	int rc = 0;

	require_pool();
	check_n(n);
	if (strcmp(mode, "fix") == 0)
		kind = BENCH_PTBM_FIX;
	else if (strcmp(mode, "touch") == 0)
		kind = BENCH_PTBM_TOUCH;
	else if (strcmp(mode, "optimistic") == 0)
		kind = BENCH_PTBM_OPTIMISTIC;
	else
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("ptbm: unknown benchmark mode \"%s\" (expected \"fix\", \"touch\" or \"optimistic\")",
				       mode)));
	pages = bench_pages_or_error();
	if (!ptbm_warm) {
		(void)ptbm_fill_pass(pages);
		ptbm_warm = true;
	}
	t0 = now_ns();
	for (int64 i = 0; i < n && rc == 0;) {
		int64 end = Min(n, i + BENCH_CHUNK);
		void *frame;
		enter();
		switch (kind) {
		case BENCH_PTBM_FIX:
			for (; i < end; i++) {
				pid = rng_below(&seed, pages);
				if ((rc = ptbm_fix_shared(pool, pid, &frame)) < 0)
					break;
				(void)ptbm_unfix_shared(pool, pid);
			}
			break;
		case BENCH_PTBM_TOUCH:
			for (; i < end; i++) {
				pid = rng_below(&seed, pages);
				if ((rc = ptbm_fix_shared(pool, pid, &frame)) < 0)
					break;
				sum += *(const uint64 *)((const char *)frame + 64);
				(void)ptbm_unfix_shared(pool, pid);
			}
			break;
		default:
			for (; i < end; i++) {
				const void *cframe;
				uint64_t version;
				uint64 v;
				pid = rng_below(&seed, pages);
				if ((rc = ptbm_read_begin(pool, pid, &cframe, &version)) < 0)
					break;
				v = *(const volatile uint64 *)((const char *)cframe + 64);
				rc = ptbm_read_validate(pool, pid, version);
				if (rc == PTBM_ERESTART) {
					rc = 0; /* counted as a lookup: retried by the next one */
					continue;
				}
				if (rc < 0)
					break;
				sum += v;
			}
			break;
		}
		leave();
		CHECK_FOR_INTERRUPTS();
	}
	ns = now_ns() - t0;
	if (rc < 0)
		report(rc, "benchmark lookup", (int64)pid);
	bench_sink = sum;
	bench_account(kind, (uint64)n, ns);
	PG_RETURN_FLOAT8((double)ns / (double)n);
}

/*
 * ptbm_bench_results(reset boolean default true) returns setof (kind text,
 * calls bigint, lookups bigint, ns_per_lookup float8): what the benchmark
 * functions timed, summed over every backend since the last reset.
 */
Datum pg_ptbm_bench_results(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	bool reset = PG_GETARG_BOOL(0);

	require_pool();
	InitMaterializedSRF(fcinfo, 0);
	for (int k = 0; k < BENCH_N_KINDS; k++) {
		uint64 calls = pg_atomic_read_u64(&shared->acc[k].calls);
		uint64 lookups = pg_atomic_read_u64(&shared->acc[k].lookups);
		uint64 ns = pg_atomic_read_u64(&shared->acc[k].ns);
		Datum values[4];
		bool nulls[4] = {false, false, false, lookups == 0};

		if (reset) {
			pg_atomic_fetch_sub_u64(&shared->acc[k].calls, calls);
			pg_atomic_fetch_sub_u64(&shared->acc[k].lookups, lookups);
			pg_atomic_fetch_sub_u64(&shared->acc[k].ns, ns);
		}
		values[0] = CStringGetTextDatum(bench_kind_names[k]);
		values[1] = Int64GetDatum((int64)calls);
		values[2] = Int64GetDatum((int64)lookups);
		values[3] = Float8GetDatum(lookups ? (double)ns / (double)lookups : 0.0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum)0;
}

/* One row of a page-table fill measurement. */
static Datum fill_row(FunctionCallInfo fcinfo, uint64 pages, struct rusage *r0, struct rusage *r1,
		      uint64 cold_ns, uint64 warm_ns)
{
	TupleDesc desc;
	Datum values[5];
	bool nulls[5] = {false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "ptbm: the fill benchmark must return a record");
	desc = BlessTupleDesc(desc);
	values[0] = Int64GetDatum((int64)pages);
	values[1] = Int64GetDatum((int64)(r1->ru_minflt - r0->ru_minflt));
	values[2] = Int64GetDatum((int64)(r1->ru_majflt - r0->ru_majflt));
	values[3] = Float8GetDatum((double)cold_ns / (double)pages);
	values[4] = Float8GetDatum((double)warm_ns / (double)pages);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * ptbm_bench_fill_pg(rel regclass) returns (pages, minor_faults,
 * major_faults, cold_ns_per_page, warm_ns_per_page): read every block of rel
 * through shared_buffers twice, touching each 4 KiB; faults are this
 * process's during the first (cold) pass. Meant as the first thing a fresh
 * backend does, with the relation already in shared_buffers.
 */
Datum pg_ptbm_bench_fill_pg(PG_FUNCTION_ARGS)
{
	Oid relid = PG_GETARG_OID(0);
	BlockNumber nblocks;
	Relation rel = bench_open_rel(relid, &nblocks);
	struct rusage r0, r1;
	uint64 cold, warm;

	getrusage(RUSAGE_SELF, &r0);
	cold = pg_fill_pass(rel, nblocks);
	getrusage(RUSAGE_SELF, &r1);
	warm = pg_fill_pass(rel, nblocks);
	relation_close(rel, AccessShareLock);
	pg_warm = true;
	pg_warm_rel = relid;
	PG_RETURN_DATUM(fill_row(fcinfo, nblocks, &r0, &r1, cold, warm));
}

/* ptbm_bench_fill_ptbm(): the same over the pages of ptbm_bench_setup. */
Datum pg_ptbm_bench_fill_ptbm(PG_FUNCTION_ARGS)
{
	uint64 pages, cold, warm;
	struct rusage r0, r1;

	require_pool();
	pages = bench_pages_or_error();
	getrusage(RUSAGE_SELF, &r0);
	cold = ptbm_fill_pass(pages);
	getrusage(RUSAGE_SELF, &r1);
	warm = ptbm_fill_pass(pages);
	ptbm_warm = true;
	PG_RETURN_DATUM(fill_row(fcinfo, pages, &r0, &r1, cold, warm));
}
