/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The record of a VM's hand-off daemon (the Kubernetes path, service/handoff.c):
 * STATE_DIR/handoff/NAME.pid holds its pid, start time and container, and is
 * its lock, held (flock) for the daemon's whole life.  Here, below the
 * commands and the services, because both end a hand-off: the CDI poststop
 * hook, and teardown (vj_handoff_remove).
 */
#include "handoff_record.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdi.h"
#include "error.h"
#include "jread.h"
#include "pidfd.h"
#include "state.h"
#include "util.h"

struct record {
	pid_t pid;
	uint64_t starttime;
	char *container; /* NULL: vfiojail handoff, not a container's */
};

/* @fd is still the file at @path (not one removed since). */
bool vj_handoff_record_still_at(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * Open @path (made, mode 0600, when missing) and try its lock without waiting:
 * 1 taken, 0 another process holds it (a daemon lives; *fd is open, to read its
 * record), -1 with errno.  *fd is the file at @path: a lock on one removed
 * meanwhile (by its last holder) would lock nothing, and is tried again.
 */
int vj_handoff_record_lock(const char *path, int *fd_out)
{
	for (int tries = 0; tries < 64; tries++) {
		_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		int held;

		if (fd < 0)
			return -1;
		held = flock(fd, LOCK_EX | LOCK_NB) < 0;
		if (held && errno != EWOULDBLOCK)
			return -1;
		if (!vj_handoff_record_still_at(fd, path))
			continue;
		*fd_out = TAKE_FD(fd);
		return held ? 0 : 1;
	}
	errno = EAGAIN;
	return -1;
}

/* This process is the daemon: its pid, start time and container, in @fd. */
int vj_handoff_record_write(int fd, const char *container)
{
	_cleanup_close_ int self = vj_pidfd_open(getpid());
	_cleanup_free_ char *text = NULL;
	uint64_t start;
	json_object *o;

	if (self < 0 || vj_pidfd_starttime(self, &start) < 0)
		return -1;
	o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int64(getpid()));
	json_object_object_add(o, "starttime", json_object_new_uint64(start));
	json_object_object_add(o, "container", container ? json_object_new_string(container) : NULL);
	text = vj_strdupf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (!text) {
		errno = ENOMEM;
		return -1;
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text))
		return -1;
	return 0;
}

static int record_read(int fd, struct record *r)
{
	char buf[CONTAINER_ID_MAX * 2 + 256];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	json_object *o;
	int64_t pid, start;
	int ok;

	memset(r, 0, sizeof(*r));
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	o = json_tokener_parse(buf);
	ok = o && vj_jr_int(o, "pid", 1, INT32_MAX, &pid) == 0 && vj_jr_int(o, "starttime", 0, INT64_MAX, &start) == 0 &&
	     vj_jr_str(o, "container", false, &r->container) == 0;
	json_object_put(o);
	if (!ok)
		return -1;
	r->pid = (pid_t)pid;
	r->starttime = (uint64_t)start;
	return 0;
}

/* The lock of @fd is another's: the error that names the hand-off that holds it. */
int vj_handoff_busy(const char *name, int fd, const char *container, struct vj_error **err)
{
	struct record rec;
	char who[CONTAINER_ID_MAX + 64];
	int r;

	if (record_read(fd, &rec) < 0)
		snprintf(who, sizeof(who), "another container (its hand-off is starting)");
	else if (rec.container)
		snprintf(who, sizeof(who), "container %s (hand-off pid %d)", rec.container, (int)rec.pid);
	else
		snprintf(who, sizeof(who), "vfiojail handoff (pid %d)", (int)rec.pid);
	free(rec.container);
	r = vj_err(err, VJ_EXIT_SETUP, EBUSY, "handoff", name,
		   "one hand-off per VM at a time: the other ends when its container stops or its time is up",
		   "VM %s is being handed over to %s%s%s%s", name, who,
		   container ? "; container " : "", container ? container : "", container ? " does not start" : "");
	return r;
}

/*
 * End the hand-off daemon of VM @name if it is @container's (NULL: whoever's),
 * then remove what a daemon that is gone left (its socket, its record).  The
 * daemon is signalled only through a pidfd whose process has the record's pid
 * and start time, while its lock is held: a process that got its pid since is
 * never signalled.  Another container's hand-off is left alone.
 */
int vj_handoff_end(const char *name, const char *state_dir, const char *container, struct vj_error **err)
{
	_cleanup_free_ char *dir = vj_handoff_dir(state_dir, name), *sock = NULL, *pidfile = NULL;
	_cleanup_close_ int fd = -1, pidfd = -1, sdfd = -1;
	struct record rec = { 0 };
	int r;

	if (!dir || !(sock = vj_path_join(dir, VJ_HANDOFF_SOCKET_NAME)) || !(pidfile = vj_strdupf("%s.pid", dir)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "handoff", name, NULL, "out of memory");
	/* Only in a state directory of root's (none: nothing was ever started). */
	r = vj_state_dir_find(state_dir, &sdfd, err);
	if (r <= 0)
		return r;
	r = vj_handoff_record_lock(pidfile, &fd);
	if (r < 0 && errno == ENOENT)
		return 0; /* no hand-off directory: nothing was ever started */
	if (r < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "handoff", pidfile, NULL, "cannot open the hand-off's record");
	if (r == 0) {
		/* A daemon lives. */
		if (record_read(fd, &rec) < 0) {
			if (container)
				return 0; /* another's, starting: ours has its record */
			return vj_err(err, VJ_EXIT_SETUP, EBUSY, "handoff", pidfile, "try again",
				      "the hand-off of VM %s is starting", name);
		}
		if (container && (!rec.container || strcmp(rec.container, container) != 0)) {
			free(rec.container);
			return 0; /* another container's: not ours to end */
		}
		free(rec.container);
		pidfd = vj_pidfd_open_checked(rec.pid, rec.starttime);
		/* The lock still held: that process is the live daemon. */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			goto gone;
		if (pidfd < 0)
			return vj_err(err, VJ_EXIT_SETUP, ESRCH, "handoff", pidfile, NULL,
				      "the hand-off of VM %s is held by a process that is not its record's (pid %d)",
				      name, (int)rec.pid);
		if (vj_pidfd_signal(pidfd, SIGTERM) < 0 && errno != ESRCH)
			return vj_err(err, VJ_EXIT_SETUP, errno, "handoff", name, NULL,
				      "cannot stop the hand-off (pid %d)", (int)rec.pid);
		if (vj_pidfd_wait_exit(pidfd, STOP_WAIT_MS) != 1 &&
		    (vj_pidfd_signal(pidfd, SIGKILL), vj_pidfd_wait_exit(pidfd, STOP_WAIT_MS) != 1))
			return vj_err(err, VJ_EXIT_SETUP, ETIMEDOUT, "handoff", name, NULL,
				      "the hand-off (pid %d) did not end", (int)rec.pid);
		/* Its lock went with it, unless another hand-off took it since. */
		if (flock(fd, LOCK_EX | LOCK_NB) < 0)
			return 0;
	}
gone:
	/* No daemon lives and the lock is ours: what one left goes. */
	if (vj_handoff_record_still_at(fd, pidfile)) {
		unlink(sock);
		unlink(pidfile);
	}
	return 0;
}

int vj_handoff_remove(const char *state_dir, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *dir = vj_handoff_dir(state_dir, name), *log = NULL, *top = NULL;

	if (!dir || !(log = vj_strdupf("%s.log", dir)) || !(top = vj_path_parent(dir, 1)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "handoff", name, NULL, "out of memory");
	if (vj_handoff_end(name, state_dir, NULL, err) < 0)
		return -1;
	unlink(log);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return vj_err(err, VJ_EXIT_SETUP, errno, "handoff", dir, "something else is in it: look at it",
			      "cannot remove the VM's hand-off directory");
	(void)rmdir(top); /* while other VMs have one, it stays */
	return 0;
}
