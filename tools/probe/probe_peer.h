/*
 * probe_peer.h - a second process for an experiment, and the pipes to talk to it.
 *
 * Most questions are about two processes mapping the same memory, so most
 * experiments fork a peer.  The peer runs a function with its own end of a
 * socket pair; both sides exchange small fixed-size messages (a byte to say "your
 * turn", a struct of counts, an array of PFNs).  Every receive has a deadline,
 * so a peer that died or lost its way turns into an error, not a hang.  The
 * peer asks for SIGKILL when its parent dies, so a crashed experiment does not
 * leave it behind.
 */
#ifndef PTBM_PROBE_PEER_H
#define PTBM_PROBE_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct probe_peer {
	pid_t pid; /* the peer's pid (parent side); 0 in the peer itself */
	int fd;	   /* this side's end of the socket pair */
};

/* Seconds a receive waits for the other side before giving up. */
#define PROBE_PEER_TIMEOUT_S 30

/*
 * Fork a peer running fn(self, arg); its return value is its exit status.
 * On success p is the parent's side and the return is 0; -errno otherwise.
 * stdout/stderr are flushed first so nothing is printed twice.
 */
int probe_peer_start(struct probe_peer *p, int (*fn)(struct probe_peer *self, void *arg),
		     void *arg);

/* Send or receive exactly len bytes.  0, -EPIPE when the other side is gone,
 * -ETIMEDOUT after PROBE_PEER_TIMEOUT_S, or another -errno.  Never SIGPIPE. */
int probe_peer_send(struct probe_peer *p, const void *buf, size_t len);
int probe_peer_recv(struct probe_peer *p, void *buf, size_t len);

/* One byte each way: "go on" and "wait for go on". */
int probe_peer_signal(struct probe_peer *p);
int probe_peer_await(struct probe_peer *p);

/* Close the parent's end and reap the peer (killing it after timeout_s).
 * Returns its exit status (0..255), 128+signal when killed, or -errno. */
int probe_peer_finish(struct probe_peer *p, double timeout_s);

/*
 * Wait for the child pid at most timeout_s, then reap it.  On the deadline it
 * is killed with SIGKILL.  With kill_group (pid leads its own process group),
 * the whole group is killed before pid is reaped, whether pid exited or not,
 * so no member outlives it and the group id cannot have been reused.
 * *status is waitpid's status.  Returns 0, -ETIMEDOUT when it had to kill,
 * or -errno.
 */
int probe_wait_pid(pid_t pid, double timeout_s, bool kill_group, int *status);

#endif /* PTBM_PROBE_PEER_H */
