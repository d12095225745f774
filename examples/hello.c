/*
 * hello.c - a first ptbm program.
 *
 * Creates a pool over a data file (processes mode), writes "hello" into a
 * new page, lets a forked worker read it through the same pool, flushes,
 * closes, and reads the page back from the data file in a new pool. Stops
 * at the first error with ptbm_strerror()'s message and exit status 1.
 *
 * usage: hello [DATA_FILE]
 *   Without an argument the data file goes into a new directory under
 *   $TMPDIR (or /tmp), removed at the end. With one, the file is created if
 *   it is missing and kept; its directory must exist.
 *
 * Build against an installed ptbm (README.md, "Building a program"):
 *   cc hello.c $(pkg-config --cflags --libs ptbm) -o hello
 */
#include <ptbm.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Stop on an error: rc is 0 or a negative ptbm error. */
static void check(int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "hello: %s: %s\n", what, ptbm_strerror(rc));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	char dir[4000] = "", file[4096];
	const char *path = argv[1];
	if (argc > 2) {
		fprintf(stderr, "usage: hello [DATA_FILE]\n");
		return 2;
	}
	if (argc < 2) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/ptbm-hello-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			perror(dir);
			return 1;
		}
		snprintf(file, sizeof file, "%s/data.ptbm", dir);
		path = file;
	}

	struct ptbm_config cfg;
	ptbm_pool *pool;
	ptbm_config_init(&cfg); /* 8 KiB pages, 1 GiB budget, create the file */
	cfg.data_path = path;
	cfg.share = PTBM_SHARE_PROCESSES; /* or PTBM_SHARE_THREADS */
	check(ptbm_open(&cfg, &pool), path);

	uint64_t id;
	void *page;
	check(ptbm_alloc(pool, 1, &id), "alloc");
	check(ptbm_fix_exclusive(pool, id, &page), "fix"); /* latched: no one sees it change */
	strcpy(page, "hello");
	check(ptbm_mark_dirty(pool, id), "mark dirty");
	check(ptbm_unfix_exclusive(pool, id), "unfix");

	pid_t worker = fork(); /* a worker shares the pool it inherits */
	if (worker == 0) {
		char buf[6];
		/* optimistic read, restarted if a writer intervened */
		check(ptbm_read(pool, id, 0, buf, sizeof buf), "worker: read");
		printf("worker %d read page %" PRIu64 ": \"%s\"\n", (int)getpid(), id, buf);
		fflush(stdout); /* _exit() does not flush */
		check(ptbm_close(pool), "worker: close");
		_exit(strcmp(buf, "hello") == 0 ? 0 : 1);
	}
	int status;
	if (worker < 0 || waitpid(worker, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "hello: the worker failed\n");
		return 1;
	}
	check(ptbm_flush(pool), "flush"); /* every dirty page on disk, fdatasync'd */
	check(ptbm_close(pool), "close");

	/* A new pool over the same file: the flushed page is there. */
	char buf[6];
	check(ptbm_open(&cfg, &pool), path);
	check(ptbm_read(pool, id, 0, buf, sizeof buf), "read");
	check(ptbm_close(pool), "close");
	if (strcmp(buf, "hello") != 0) {
		fprintf(stderr, "hello: %s: page %" PRIu64 " lost its contents\n", path, id);
		return 1;
	}
	printf("reopened %s: page %" PRIu64 " reads \"%s\"\n", path, id, buf);

	if (dir[0]) {
		unlink(path);
		rmdir(dir);
	}
	return 0;
}
