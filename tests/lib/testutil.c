/*
 * testutil.c - the unit tests' shared set-up (see testutil.h).
 */
#include "testutil.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- scratch files and names -------------------------------------------- */

static char scratch[64];
static pid_t scratch_owner; /* only the process that made it removes it */
#define MAX_NAMES 32
static char shm_names[MAX_NAMES][64];
static int n_shm_names;

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	remove(path);
	return 0;
}

static void cleanup(void)
{
	if (getpid() != scratch_owner)
		return;
	if (scratch[0])
		nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	for (int i = 0; i < n_shm_names; i++)
		shm_unlink(shm_names[i]);
}

static void register_cleanup(void)
{
	static bool registered;
	if (!registered) {
		scratch_owner = getpid();
		atexit(cleanup);
		registered = true;
	}
}

const char *tu_dir(void)
{
	if (!scratch[0]) {
		register_cleanup();
		snprintf(scratch, sizeof scratch, "/var/tmp/ptbm-test-XXXXXX");
		if (!mkdtemp(scratch)) {
			fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
			exit(1);
		}
	}
	return scratch;
}

const char *tu_path(const char *name)
{
	static char bufs[16][PATH_MAX];
	static unsigned next;
	char *b = bufs[next++ % 16];
	snprintf(b, PATH_MAX, "%s/%s", tu_dir(), name);
	return b;
}

const char *tu_shm_name(const char *tag)
{
	register_cleanup();
	if (n_shm_names == MAX_NAMES) {
		fprintf(stderr, "tu_shm_name: more than %d names\n", MAX_NAMES);
		exit(1);
	}
	char *b = shm_names[n_shm_names++];
	snprintf(b, sizeof shm_names[0], "/ptbm-test-%d-%s", (int)getpid(), tag);
	shm_unlink(b); /* a leftover of a crashed run with the same pid */
	return b;
}

/* ---- pools ---------------------------------------------------------------- */

void tu_config(struct ptbm_config *cfg, const char *file)
{
	ptbm_config_init(cfg);
	cfg->data_path = tu_path(file);
	cfg->page_size = TU_PAGE_SIZE;
	cfg->max_pages = TU_MAX_PAGES;
	cfg->budget_bytes = (uint64_t)TU_BUDGET * TU_PAGE_SIZE;
	cfg->evict_batch = TU_BATCH;
	cfg->flags = PTBM_CREATE | PTBM_TRUNCATE;
}

ptbm_pool *tu_open(const struct ptbm_config *cfg)
{
	ptbm_pool *pool = NULL;
	assert_rc(ptbm_open(cfg, &pool), 0);
	assert_non_null(pool);
	return pool;
}

void tu_close(ptbm_pool *pool)
{
	assert_rc(ptbm_close(pool), 0);
}

uint64_t tu_alloc(ptbm_pool *pool, uint64_t n)
{
	uint64_t first = UINT64_MAX;
	assert_rc(ptbm_alloc(pool, n, &first), 0);
	return first;
}

struct ptbm_stats tu_stats(ptbm_pool *pool)
{
	struct ptbm_stats st;
	assert_rc(ptbm_get_stats(pool, &st), 0);
	return st;
}

/* ---- pages and state words ------------------------------------------------ */

static uint64_t pattern_word(uint64_t pid, uint64_t seed, size_t i)
{
	uint64_t x = (pid + 1) * 0x9e3779b97f4a7c15ull ^ (seed + 1) * 0xbf58476d1ce4e5b9ull ^ i;
	x ^= x >> 31;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 29);
}

void tu_fill(void *page, size_t n, uint64_t pid, uint64_t seed)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w = pattern_word(pid, seed, i);
		memcpy((char *)page + i, &w, 8);
	}
}

bool tu_check(const void *page, size_t n, uint64_t pid, uint64_t seed)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, (const char *)page + i, 8);
		if (w != pattern_word(pid, seed, i))
			return false;
	}
	return true;
}

bool tu_is_zero(const void *page, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((const unsigned char *)page)[i])
			return false;
	return true;
}

int tu_write(ptbm_pool *pool, uint64_t pid, uint64_t seed)
{
	void *p;
	int rc = ptbm_fix_exclusive(pool, pid, &p);
	if (rc < 0)
		return rc;
	tu_fill(p, ptbm_page_usable(pool), pid, seed);
	rc = ptbm_mark_dirty(pool, pid);
	int rc2 = ptbm_unfix_exclusive(pool, pid);
	return rc < 0 ? rc : rc2;
}

int tu_verify(ptbm_pool *pool, uint64_t pid, uint64_t seed)
{
	void *p;
	int rc = ptbm_fix_shared(pool, pid, &p);
	if (rc < 0)
		return rc;
	bool ok = tu_check(p, ptbm_page_usable(pool), pid, seed);
	rc = ptbm_unfix_shared(pool, pid);
	return rc < 0 ? rc : !ok;
}

uint64_t tu_pages_in_core(ptbm_pool *pool, uint64_t n)
{
	size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
	size_t per = ptbm_page_size(pool) / os_page;
	unsigned char *vec = malloc(n * per);
	if (!vec || mincore(pool->data, n * ptbm_page_size(pool), vec) < 0) {
		free(vec);
		return UINT64_MAX;
	}
	uint64_t count = 0;
	for (uint64_t i = 0; i < n; i++)
		count += vec[i * per] & 1;
	free(vec);
	return count;
}

void tu_check_within_budget(ptbm_pool *pool)
{
	struct ptbm_stats st = tu_stats(pool);
	if (st.resident > st.budget_pages)
		fail_msg("resident %llu > budget %llu", (unsigned long long)st.resident,
			 (unsigned long long)st.budget_pages);
	uint64_t in_core = tu_pages_in_core(pool, st.allocated);
	if (in_core > st.budget_pages)
		fail_msg("%llu pages in memory > budget %llu", (unsigned long long)in_core,
			 (unsigned long long)st.budget_pages);
}

long tu_proc_kib(const char *file, const char *key)
{
	FILE *f = fopen(file, "r");
	char line[256];
	long kib = -1;
	size_t len = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, len) == 0 && line[len] == ':') {
			kib = strtol(line + len + 1, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return kib;
}

/* ---- a thread that holds latches -------------------------------------------- */

static void *holder_main(void *arg)
{
	struct tu_holder *h = arg;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->posted)
			pthread_cond_wait(&h->cv, &h->mu);
		h->posted = false;
		enum tu_op op = h->op;
		uint64_t pid = h->pid;
		pthread_mutex_unlock(&h->mu);
		if (op == TU_STOP)
			return NULL;

		int rc = 0;
		uint64_t seen = 0, version = 0;
		void *p = NULL;
		const void *cp = NULL;
		switch (op) {
		case TU_FIX_SHARED:
			rc = ptbm_fix_shared(h->pool, pid, &p);
			break;
		case TU_FIX_EXCLUSIVE:
			rc = ptbm_fix_exclusive(h->pool, pid, &p);
			break;
		case TU_UNFIX_SHARED:
			rc = ptbm_unfix_shared(h->pool, pid);
			break;
		case TU_UNFIX_EXCLUSIVE:
			rc = ptbm_unfix_exclusive(h->pool, pid);
			break;
		case TU_READ_BEGIN:
			rc = ptbm_read_begin(h->pool, pid, &cp, &version);
			p = (void *)cp;
			break;
		case TU_STOP:
			break;
		}
		if (rc == 0 && p)
			memcpy(&seen, p, sizeof seen);

		pthread_mutex_lock(&h->mu);
		h->rc = rc;
		h->seen = seen;
		h->version = version;
		h->done = true;
		pthread_cond_broadcast(&h->cv);
	}
}

void tu_holder_start(struct tu_holder *h, ptbm_pool *pool)
{
	memset(h, 0, sizeof *h);
	h->pool = pool;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	assert_int_equal(pthread_create(&h->thread, NULL, holder_main, h), 0);
}

void tu_holder_post(struct tu_holder *h, enum tu_op op, uint64_t pid)
{
	pthread_mutex_lock(&h->mu);
	h->op = op;
	h->pid = pid;
	h->done = false;
	h->posted = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

bool tu_holder_wait(struct tu_holder *h, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&h->mu);
	while (!h->done)
		if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT)
			break;
	bool done = h->done;
	pthread_mutex_unlock(&h->mu);
	return done;
}

int tu_holder_call(struct tu_holder *h, enum tu_op op, uint64_t pid)
{
	tu_holder_post(h, op, pid);
	if (!tu_holder_wait(h, 30000))
		fail_msg("holder: operation %d on page %llu did not return in 30 s", op,
			 (unsigned long long)pid);
	return h->rc;
}

void tu_holder_stop(struct tu_holder *h)
{
	tu_holder_post(h, TU_STOP, 0);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
}

/* ---- processes ---------------------------------------------------------------- */

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

int tu_fork_run(int (*fn)(void *), void *arg)
{
	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		return -1;
	if (child == 0)
		_exit(fn(arg));
	int status;
	if (waitpid(child, &status, 0) < 0)
		return -1;
	return exit_code(status);
}

int tu_spawn_self(const char *role, const char *arg)
{
	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		execl("/proc/self/exe", "unit-child", "--child", role, arg, (char *)NULL);
		_exit(126);
	}
	int status;
	if (waitpid(child, &status, 0) < 0)
		return -1;
	return exit_code(status);
}

int tu_main(int argc, char **argv, const struct tu_role *roles, const char *group,
	    const struct CMUnitTest *tests, size_t n_tests)
{
	if (argc == 4 && strcmp(argv[1], "--child") == 0) {
		for (const struct tu_role *r = roles; r && r->name; r++)
			if (strcmp(r->name, argv[2]) == 0)
				return r->fn(argv[3]);
		fprintf(stderr, "%s: no child role %s\n", argv[0], argv[2]);
		return 2;
	}
	return _cmocka_run_group_tests(group, tests, n_tests, NULL, NULL);
}

double tu_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
