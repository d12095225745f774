/*
 * probe_peer.c - fork a peer process and exchange messages with it over pipes.
 *
 * Protocol: messages are raw fixed-size structs; both sides know the order.
 * A stream socket pair carries them whatever their size (a send larger than
 * the socket buffer blocks until the other side reads), so the only rule is
 * that a side never sends a large message while the other side is also
 * sending.  A socket rather than pipes: send(MSG_NOSIGNAL) turns a vanished
 * peer into -EPIPE instead of a SIGPIPE that would kill the experiment.
 */
#include "probe_peer.h"
#include "probe_sys.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int probe_peer_start(struct probe_peer *p, int (*fn)(struct probe_peer *self, void *arg), void *arg)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -errno;
	pid_t parent = getpid();
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		int err = errno;
		close(sv[0]);
		close(sv[1]);
		return -err;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* the parent died before prctl */
		close(sv[0]);
		struct probe_peer self = {.pid = 0, .fd = sv[1]};
		int rc = fn(&self, arg);
		_exit(rc & 0xff);
	}
	close(sv[1]);
	p->pid = pid;
	p->fd = sv[0];
	return 0;
}

int probe_peer_send(struct probe_peer *p, const void *buf, size_t len)
{
	return probe_write_all(p->fd, buf, len, -1);
}

int probe_peer_recv(struct probe_peer *p, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
		int r = poll(&pfd, 1, PROBE_PEER_TIMEOUT_S * 1000);
		if (r < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			return -err;
		}
		if (r == 0)
			return -ETIMEDOUT;
		ssize_t n = recv(p->fd, (char *)buf + done, len - done, 0);
		if (n < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			return -err;
		}
		if (n == 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

int probe_peer_signal(struct probe_peer *p)
{
	char c = 'g';
	return probe_peer_send(p, &c, 1);
}

int probe_peer_await(struct probe_peer *p)
{
	char c;
	return probe_peer_recv(p, &c, 1);
}

int probe_wait_pid(pid_t pid, double timeout_s, bool kill_group, int *status)
{
	uint64_t deadline = probe_now_ns() + (uint64_t)(timeout_s * 1e9);
	long sleep_us = 100;
	int rc = -ETIMEDOUT;
	/* WNOWAIT leaves the exited child a zombie, so its pid (and so its
	 * process group id) cannot be reused before the group is killed. */
	while (probe_now_ns() < deadline) {
		siginfo_t info = {0};
		if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			return -err;
		}
		if (info.si_pid == pid) {
			rc = 0;
			break;
		}
		struct timespec ts = {0, sleep_us * 1000};
		nanosleep(&ts, NULL);
		if (sleep_us < 20000)
			sleep_us *= 2;
	}
	if (kill_group)
		kill(-pid, SIGKILL); /* what it left behind, or all of it on timeout */
	if (rc < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0) {
		int err = errno;
		if (err != EINTR)
			return -err;
	}
	return rc;
}

int probe_peer_finish(struct probe_peer *p, double timeout_s)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	if (p->pid <= 0)
		return -ECHILD;
	int status = 0;
	int rc = probe_wait_pid(p->pid, timeout_s, false, &status);
	p->pid = 0;
	if (rc < 0 && rc != -ETIMEDOUT)
		return rc;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
