/*
 * probe_runner.c - run one experiment in a fresh child process, with a deadline.
 *
 * Why a child: an experiment maps, faults and frees memory and reads its own
 * page tables; a fresh process starts with a known address space and fault
 * counters, and whatever the experiment breaks dies with it.
 *
 *   1. Map a result box MAP_SHARED so the child's writes survive the child.
 *   2. fork(); the child leads its own process group (so its peers can be
 *      killed together), runs e->run(&box->result), sets box->done.
 *   3. The parent waits with probe_wait_pid(), which kills the whole group
 *      (on the deadline, or after the child exited: leftover peers) before
 *      it reaps the child.
 *   4. The parent copies the result out, turns a timeout, a signal or a
 *      missing verdict into "failed: ...", keeps the evidence gathered so far,
 *      and carries out the registered clean-ups.
 */
#include "probe.h"
#include "probe_peer.h"
#include "probe_sys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct result_box {
	struct probe_result result; /* filled by the child */
	int done;		    /* set by the child after run() returned */
};

int probe_run_isolated(const struct probe_experiment *e, double timeout_s, struct probe_result *out)
{
	struct result_box *box =
	    mmap(NULL, sizeof(*box), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (box == MAP_FAILED) {
		int err = errno;
		probe_result_init(out, e);
		probe_fail_errno(out, "mmap of the result area", err);
		return -err;
	}
	probe_result_init(&box->result, e);
	fflush(stdout);
	fflush(stderr);
	uint64_t t0 = probe_now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		int err = errno;
		probe_result_init(out, e);
		probe_fail_errno(out, "fork", err);
		munmap(box, sizeof(*box));
		return -err;
	}
	if (pid == 0) {
		setpgid(0, 0);
		e->run(&box->result);
		__atomic_store_n(&box->done, 1, __ATOMIC_RELEASE);
		_exit(0);
	}
	setpgid(pid, pid); /* also here: whichever runs first wins the race */

	int status = 0;
	/* Peers the experiment failed to reap die with its group. */
	int rc = probe_wait_pid(pid, timeout_s, true, &status);

	memcpy(out, &box->result, sizeof(*out));
	bool done = __atomic_load_n(&box->done, __ATOMIC_ACQUIRE);
	munmap(box, sizeof(*box));
	out->elapsed_s = (double)(probe_now_ns() - t0) / 1e9;

	if (rc == -ETIMEDOUT)
		probe_verdict(out, PROBE_FAILED, "timed out after %.0f s (killed)", timeout_s);
	else if (rc < 0)
		probe_fail_errno(out, "waitpid", -rc);
	else if (WIFSIGNALED(status))
		probe_verdict(out, PROBE_FAILED, "experiment process killed by signal %d (%s)",
			      WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (!done)
		probe_verdict(out, PROBE_FAILED,
			      "experiment process exited with status %d "
			      "before a verdict",
			      WEXITSTATUS(status));
	probe_cleanup_run(out);
	return 0;
}
