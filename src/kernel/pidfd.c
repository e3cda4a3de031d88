/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pidfds (see pidfd.h). */
#include "pidfd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

int vj_pidfd_open(pid_t pid)
{
	if (pid <= 0) {
		errno = ESRCH;
		return -1;
	}
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int vj_pidfd_of_peer(int sockfd)
{
	int pidfd = -1;
	socklen_t len = sizeof(pidfd);

	if (getsockopt(sockfd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		return -1;
	if (pidfd < 0) {
		errno = ESRCH;
		return -1;
	}
	return pidfd;
}

pid_t vj_pidfd_pid(int pidfd)
{
	char path[64];
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		long pid;
		if (sscanf(line, "Pid: %ld", &pid) == 1)
			return pid > 0 ? (pid_t)pid : 0;
	}
	errno = EBADF; /* not a pidfd */
	return -1;
}

int vj_pidfd_alive(int pidfd)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0)
		return 1;
	/* EPERM: alive, but ours to signal it is not (the check itself is allowed
	 * for a process of any user when we are root; keep the case exact). */
	if (errno == EPERM)
		return 1;
	return errno == ESRCH ? 0 : -1;
}

int vj_pidfd_procdir(int pidfd)
{
	char path[64];
	pid_t pid = vj_pidfd_pid(pidfd);
	_cleanup_close_ int dfd = -1;
	int alive;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		errno = ESRCH;
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? (errno = ESRCH, -1) : -1;
	/* Opened while the pidfd's process held the pid: the directory is its. */
	alive = vj_pidfd_alive(pidfd);
	if (alive <= 0) {
		if (alive == 0)
			errno = ESRCH;
		return -1;
	}
	return TAKE_FD(dfd);
}

static int read_at(int dfd, const char *file, char **out)
{
	_cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
	size_t len;
	int r;

	if (fd < 0)
		return -1;
	r = vj_read_fd(fd, 1 << 16, out, &len);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

int vj_pidfd_status(int pidfd, struct vj_proc_status *st)
{
	_cleanup_close_ int dfd = vj_pidfd_procdir(pidfd);
	_cleanup_free_ char *buf = NULL;

	if (dfd < 0 || read_at(dfd, "status", &buf) < 0)
		return -1;
	return vj_proc_status_parse(buf, st);
}

int vj_pidfd_ids(int pidfd, struct vj_proc_ids *ids)
{
	struct vj_proc_status st;

	if (vj_pidfd_status(pidfd, &st) < 0)
		return -1;
	*ids = st.ids;
	return 0;
}

bool vj_proc_ids_are(const struct vj_proc_ids *ids, uid_t uid, gid_t gid)
{
	return ids->ruid == uid && ids->euid == uid && ids->suid == uid && ids->fsuid == uid &&
	       ids->rgid == gid && ids->egid == gid && ids->sgid == gid && ids->fsgid == gid;
}

/* Field 22 of a stat line; the command (field 2) may hold spaces and ")". */
static int stat_starttime(const char *buf, uint64_t *ticks)
{
	const char *p = strrchr(buf, ')');
	unsigned long long v;

	if (!p)
		goto bad;
	p++;
	/* Fields 3 .. 21, then 22. */
	for (int field = 3; field <= 21; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			goto bad;
	}
	if (sscanf(p, " %llu", &v) != 1)
		goto bad;
	*ticks = v;
	return 0;
bad:
	errno = EPROTO;
	return -1;
}

int vj_pidfd_starttime(int pidfd, uint64_t *ticks)
{
	_cleanup_close_ int dfd = vj_pidfd_procdir(pidfd);
	_cleanup_free_ char *buf = NULL;

	if (dfd < 0 || read_at(dfd, "stat", &buf) < 0)
		return -1;
	return stat_starttime(buf, ticks);
}

int vj_pidfd_running(int pidfd)
{
	_cleanup_close_ int dfd = vj_pidfd_procdir(pidfd);
	_cleanup_free_ char *buf = NULL;
	const char *p;

	if (dfd < 0 || read_at(dfd, "stat", &buf) < 0)
		return errno == ESRCH ? 0 : -1;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2]) {
		errno = EPROTO;
		return -1;
	}
	/* Z: exited, its parent has not reaped it yet; X: being reaped. */
	return p[2] == 'Z' || p[2] == 'X' ? 0 : 1;
}

int vj_pid_starttime(pid_t pid, uint64_t *ticks)
{
	char path[32], buf[4096];
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	r = vj_read_small(path, buf, sizeof(buf));
	if (r < 0) {
		errno = r == -ENOENT ? ESRCH : (int)-r;
		return -1;
	}
	return stat_starttime(buf, ticks);
}

int vj_pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int vj_pidfd_wait_exit(int pidfd, int timeout_ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int r;

	while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return -1;
	return r > 0 ? 1 : 0;
}

int vj_pidfd_open_checked(pid_t pid, uint64_t starttime)
{
	_cleanup_close_ int pidfd = vj_pidfd_open(pid);
	uint64_t t;

	if (pidfd < 0)
		return -1;
	if (vj_pidfd_starttime(pidfd, &t) < 0)
		return -1;
	if (t != starttime) {
		errno = ESRCH; /* the pid is another process's now */
		return -1;
	}
	return TAKE_FD(pidfd);
}
