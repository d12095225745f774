/*
 * proc.c - whether a process is gone, for the dead-owner check (registry/threads.c).
 *
 * kill(pid, 0) is not the answer: it succeeds on a zombie, a process that
 * has died but whose parent has not reaped it yet. A waiter that is that
 * parent (PostgreSQL's postmaster reaps its backends in the same loop that
 * would wait) would then wait forever for a latch of a process that will
 * never release it. And a pid is reused once the zombie is reaped, so a
 * new process could pass for the dead one.
 *
 * A process is named here by its pid and its start time (field 22 of
 * /proc/<pid>/stat, in clock ticks since boot), and it is gone if
 * /proc/<pid>/stat does not exist, names another start time (the pid was
 * reused), or shows state Z or X (dead) with no thread of the group still
 * running (a leader that called pthread_exit is a zombie while its other
 * threads run). Where /proc is not mounted, kill(pid, 0) is the fallback.
 */
#include "core/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* State and start time from a /proc/.../stat file; false if unreadable. */
static bool read_stat(const char *path, char *state, uint64_t *start)
{
	char buf[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return false;
	*state = p[2];
	p += 2;
	for (int field = 3; field < 22; field++) { /* to field 22, starttime */
		p = strchr(p, ' ');
		if (!p)
			return false;
		p++;
	}
	*start = strtoull(p, NULL, 10);
	return true;
}

static bool dead_state(char state)
{
	return state == 'Z' || state == 'X' || state == 'x';
}

static int proc_mounted(void)
{
	static _Atomic int mounted = -1;
	int m = atomic_load_explicit(&mounted, memory_order_relaxed);
	if (m < 0) {
		char state;
		uint64_t start;
		m = read_stat("/proc/self/stat", &state, &start);
		atomic_store_explicit(&mounted, m, memory_order_relaxed);
	}
	return m;
}

uint64_t ptbm_proc_self_start(void)
{
	static _Atomic int32_t cached_pid;
	static _Atomic uint64_t cached_start;
	int32_t pid = (int32_t)getpid();
	if (atomic_load(&cached_pid) != pid) { /* first call, or a forked child */
		char state;
		uint64_t start = 0;
		if (!proc_mounted() || !read_stat("/proc/self/stat", &state, &start))
			start = 0;
		atomic_store(&cached_start, start);
		atomic_store(&cached_pid, pid);
	}
	return atomic_load(&cached_start);
}

/* A zombie leader: does any thread of the group still run? */
static bool group_runs(int32_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return false;
	bool runs = false;
	struct dirent *e;
	while (!runs && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char tpath[320], state;
		uint64_t start;
		snprintf(tpath, sizeof tpath, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
		runs = read_stat(tpath, &state, &start) && !dead_state(state);
	}
	closedir(d);
	return runs;
}

bool ptbm_proc_gone(int32_t pid, uint64_t start)
{
	if (pid <= 0)
		return false;
	if (!proc_mounted())
		return kill(pid, 0) < 0 && errno == ESRCH;
	char path[64], state;
	uint64_t now;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (!read_stat(path, &state, &now))
		return kill(pid, 0) < 0 && errno == ESRCH; /* gone, or /proc hides it */
	if (start && now != start)
		return true; /* the pid was reused: the process we knew is gone */
	return dead_state(state) && !group_runs(pid);
}
