/*
 * testutil.h - what the test programs (tests/unit/, tests/engines/, ...) share.
 *
 *   scratch files   tu_path(): a file in a directory made on O_DIRECT-capable
 *                   storage (/var/tmp), removed when the test program exits;
 *                   tu_shm_name(): a POSIX shm name unlinked at exit.
 *   pools           tu_config() fills a small threads-mode configuration,
 *                   tu_open()/tu_close() assert that they worked.
 *   pages           tu_fill()/tu_check() a pattern that depends on the page id
 *                   and a seed; tu_write()/tu_verify() do it through a latch.
 *   state words     tu_word()/tu_tag(): the page's state word (internal.h).
 *   a latch holder  struct tu_holder: a thread that fixes and unfixes pages on
 *                   command, so a test can hold latches in another thread and
 *                   see whether a call blocks.
 *   processes       tu_fork_run(): run a function in a forked child;
 *                   tu_spawn_self(): run this program again (a process that
 *                   shares nothing with the test), dispatched by tu_main().
 *
 * Helpers that may run in a child process never use cmocka's assertions
 * (they longjmp into the parent's test runner): they return codes instead.
 */
#ifndef PTBM_TESTUTIL_H
#define PTBM_TESTUTIL_H

#include "internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* Fail the test unless expr returns want; prints both as ptbm_strerror(). */
#define assert_rc(expr, want)                                                                      \
	do {                                                                                       \
		int rc_ = (expr), want_ = (want);                                                  \
		if (rc_ != want_)                                                                  \
			fail_msg("%s = %d (%s), expected %d (%s)", #expr, rc_, ptbm_strerror(rc_), \
				 want_, ptbm_strerror(want_));                                     \
	} while (0)

/* ---- scratch files and names -------------------------------------------- */

/* The scratch directory (made on first use, removed with its files at exit). */
const char *tu_dir(void);
/* "<tu_dir()>/<name>"; the string lives until 16 more tu_path calls. */
const char *tu_path(const char *name);
/* A fresh shm name "/ptbm-test-<pid>-<tag>", unlinked at exit. */
const char *tu_shm_name(const char *tag);

/* ---- pools ---------------------------------------------------------------- */

#define TU_PAGE_SIZE 4096u
#define TU_BUDGET    128u /* pages */
#define TU_BATCH     64u
#define TU_MAX_PAGES 8192u

/* Threads mode, TU_PAGE_SIZE, TU_BUDGET pages, data file tu_path(file),
 * created and emptied (PTBM_CREATE | PTBM_TRUNCATE). */
void tu_config(struct ptbm_config *cfg, const char *file);
ptbm_pool *tu_open(const struct ptbm_config *cfg);
void tu_close(ptbm_pool *pool);
/* ptbm_alloc of n pages; returns the first id. */
uint64_t tu_alloc(ptbm_pool *pool, uint64_t n);
struct ptbm_stats tu_stats(ptbm_pool *pool);

/* ---- pages and state words ------------------------------------------------ */

void tu_fill(void *page, size_t n, uint64_t pid, uint64_t seed);
bool tu_check(const void *page, size_t n, uint64_t pid, uint64_t seed);
bool tu_is_zero(const void *page, size_t n);
/* Fix exclusive, fill the usable bytes, mark dirty, unfix: 0 or the error. */
int tu_write(ptbm_pool *pool, uint64_t pid, uint64_t seed);
/* Fix shared, check the pattern, unfix: 0, 1 if it differs, or the error. */
int tu_verify(ptbm_pool *pool, uint64_t pid, uint64_t seed);

static inline uint64_t tu_word(ptbm_pool *pool, uint64_t pid)
{
	return atomic_load(&pool->desc[pid]);
}
static inline uint64_t tu_tag(ptbm_pool *pool, uint64_t pid)
{
	return ptbm_tag(tu_word(pool, pid));
}
/* Pool pages of [0, n) whose first byte is in memory (mincore). */
uint64_t tu_pages_in_core(ptbm_pool *pool, uint64_t n);
/* Fails the test unless the resident count and the allocated pages really
 * in memory are both within the budget. */
void tu_check_within_budget(ptbm_pool *pool);
/* The value in kB of the line "KEY: N kB" of a /proc file, or -1. */
long tu_proc_kib(const char *file, const char *key);

/* ---- a thread that holds latches -------------------------------------------- */

enum tu_op {
	TU_FIX_SHARED,
	TU_FIX_EXCLUSIVE,
	TU_UNFIX_SHARED,
	TU_UNFIX_EXCLUSIVE,
	TU_READ_BEGIN,
	TU_STOP,
};

struct tu_holder {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ptbm_pool *pool;
	enum tu_op op; /* the command posted */
	uint64_t pid;
	bool posted;	  /* a command waits to be run */
	bool done;	  /* the last command returned */
	int rc;		  /* what it returned */
	uint64_t seen;	  /* fix / read_begin: first 8 bytes of the page then */
	uint64_t version; /* read_begin: the version */
};

void tu_holder_start(struct tu_holder *h, ptbm_pool *pool);
/* Post a command and return at once. */
void tu_holder_post(struct tu_holder *h, enum tu_op op, uint64_t pid);
/* Whether the posted command returned within ms milliseconds. */
bool tu_holder_wait(struct tu_holder *h, int ms);
/* Post and wait for the result. */
int tu_holder_call(struct tu_holder *h, enum tu_op op, uint64_t pid);
void tu_holder_stop(struct tu_holder *h);

/* ---- processes ---------------------------------------------------------------- */

/* Fork; the child runs fn(arg) and _exits with what it returns. Returns the
 * child's exit code, or 128 + signal number. */
int tu_fork_run(int (*fn)(void *), void *arg);
/* Run this program again as "prog --child ROLE ARG"; returns its exit code. */
int tu_spawn_self(const char *role, const char *arg);

/* A child role run by tu_spawn_self: returns its exit code. */
struct tu_role {
	const char *name;
	int (*fn)(const char *arg);
};
/* main() for a test program: runs a child role when called with --child,
 * else the cmocka group. */
int tu_main(int argc, char **argv, const struct tu_role *roles, const char *group,
	    const struct CMUnitTest *tests, size_t n_tests);
#define TU_MAIN(argc, argv, roles, tests)                                                          \
	tu_main(argc, argv, roles, __FILE__, tests, sizeof(tests) / sizeof((tests)[0]))

double tu_now_ms(void);

#endif /* PTBM_TESTUTIL_H */
