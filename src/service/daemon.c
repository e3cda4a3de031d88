/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A root service's process without systemd (see daemon.h). */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "error.h"
#include "util.h"

#define READY "READY"

/* Whether stderr is the journal's stream: JOURNAL_STREAM is "DEV:INODE" of it. */
static bool stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return v && sscanf(v, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void vj_log_line(const char *who, const char *msg)
{
	time_t t = time(NULL);
	struct tm tm;
	char when[32];

	if (stderr_is_journal()) {
		fprintf(stderr, "vfiojail %s: %s\n", who, msg);
	} else {
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		fprintf(stderr, "%s vfiojail %s: %s\n", when, who, msg);
	}
	fflush(stderr);
}

int vj_pidfile_lock(const char *path, struct vj_error **err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
	char buf[32] = "";
	ssize_t n;

	if (fd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "pidfile", path, NULL, "cannot open the pid file");
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		close(fd);
		if (e == EWOULDBLOCK)
			return vj_err(err, VJ_EXIT_SETUP, EBUSY, "pidfile", path,
				      "stop it first, or give this one its own --pidfile and --socket",
				      "a vfiojail serve already runs with this pid file (pid %s)", *buf ? buf : "?");
		return vj_err(err, VJ_EXIT_SETUP, e, "pidfile", path, NULL, "cannot lock the pid file");
	}
	return fd;
}

int vj_pidfile_write(int fd, const char *path, struct vj_error **err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		return vj_err(err, VJ_EXIT_SETUP, errno ? errno : EIO, "pidfile", path, NULL,
			      "cannot write the pid file");
	return 0;
}

void vj_pidfile_remove(int fd, const char *path)
{
	struct stat a, b;

	if (fd < 0)
		return;
	/* Still the file this process locked: nobody replaced it meanwhile. */
	if (fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		unlink(path);
	close(fd);
}

void vj_daemon_ready(int *ready_fd)
{
	if (*ready_fd < 0)
		return;
	if (write(*ready_fd, READY, sizeof(READY)) < 0) {
		/* The parent is gone: nobody waits for the word. */
	}
	close(*ready_fd);
	*ready_fd = -1;
}

void vj_daemon_failed(int *ready_fd, const struct vj_error *e)
{
	if (*ready_fd < 0)
		return;
	vj_child_send_error(*ready_fd, e);
	close(*ready_fd);
	*ready_fd = -1;
}

/* The parent's side: the child's word, READY or an error. */
static int wait_ready(pid_t child, int fd, struct vj_error **err)
{
	char buf[4096];
	size_t n = vj_child_recv(fd, buf, sizeof(buf));
	int status;

	if (n == sizeof(READY) && memcmp(buf, READY, sizeof(READY)) == 0)
		return 1;
	waitpid(child, &status, 0);
	if (n > 0) {
		vj_child_parse_error(buf, n, err);
		return -1;
	}
	return vj_err(err, VJ_EXIT_SETUP, ECHILD, "daemon", NULL, "look at the service's log",
		      "the service exited before it listened (%s %d)",
		      WIFSIGNALED(status) ? "signal" : "status",
		      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

int vj_daemon_detach(const char *log, int *ready_fd, struct vj_error **err)
{
	_cleanup_close_ int lfd = -1, nfd = -1;
	int p[2];
	pid_t child;

	lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
	if (lfd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "daemon", log, NULL, "cannot open the log");
	nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nfd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "daemon", "/dev/null", NULL, "cannot open");
	if (pipe2(p, O_CLOEXEC) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "daemon", NULL, NULL, "pipe");
	fflush(NULL);
	child = fork();
	if (child < 0) {
		close(p[0]);
		close(p[1]);
		return vj_err(err, VJ_EXIT_SETUP, errno, "daemon", NULL, NULL, "cannot fork the service");
	}
	if (child > 0) {
		int r;
		close(p[1]);
		r = wait_ready(child, p[0], err);
		close(p[0]);
		return r;
	}
	close(p[0]);
	*ready_fd = p[1];
	if (setsid() < 0 || dup2(nfd, STDIN_FILENO) < 0 || dup2(lfd, STDOUT_FILENO) < 0 ||
	    dup2(lfd, STDERR_FILENO) < 0 || chdir("/") < 0) {
		struct vj_error *e = NULL;
		vj_err(&e, VJ_EXIT_SETUP, errno, "daemon", log, NULL, "cannot detach the service");
		vj_daemon_failed(ready_fd, e);
		_exit(VJ_EXIT_SETUP);
	}
	return 0;
}
