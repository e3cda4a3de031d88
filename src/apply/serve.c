/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The launch service (see serve.h and vfiojail.h): root's `vfiojail serve` and
 * the unprivileged `vfiojail launch`.
 *
 * The protocol is one SOCK_SEQPACKET exchange.  The client sends "VJ1\0NAME\0";
 * the service answers either with an error (the fields of vj_child_send_error)
 * or with "OK\0MEMLOCK\0ID\0ID..." and the contexts' fds in SCM_RIGHTS, in the
 * order of the ids.  MEMLOCK is "unchanged", "unlimited" or a byte count.  The
 * caller's identity is the socket's SO_PEERCRED, taken by the kernel at
 * connect(); nothing the client sends but NAME is read.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "error.h"
#include "name.h"
#include "pidfd.h"
#include "spec_internal.h"
#include "util.h"
#include "vmm.h"

#define PROTO "VJ1"
#define MSG_MAX 8192
#define FDS_MAX 64
#define CLIENT_TIMEOUT_S 5

void vj_handoff_clear(struct vj_handoff *h)
{
	for (size_t i = 0; i < h->n; i++) {
		if (h->fds && h->fds[i] >= 0)
			close(h->fds[i]);
		if (h->ids)
			free(h->ids[i]);
	}
	free(h->fds);
	free(h->ids);
	free(h->cgroup);
	memset(h, 0, sizeof(*h));
}

static void say(const struct vj_serve_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct vj_serve_opts *o, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->log(msg, o->run.userdata);
}

/* ------------------------------------------------------------------------- */
/* Trust: the specs are root's                                                */

/* Owned by root and writable by no one else: only root can change it. */
static int root_only(const struct stat *st, const char *what, const char *path, struct vj_error **err)
{
	if (st->st_uid != 0)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "spec", path,
			      "chown root and chmod go-w it: only root may grant a VM",
			      "%s is owned by uid %u, not root", what, (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "spec", path,
			      "chmod go-w it: only root may grant a VM",
			      "%s is writable by its group or others (mode %04o)", what,
			      (unsigned)(st->st_mode & 07777));
	return 0;
}

/* The spec directory and every directory above it. */
static int open_spec_dir(const char *dir, struct vj_error **err)
{
	_cleanup_free_ char *path = realpath(dir, NULL);
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (!path)
		return vj_err(err, VJ_EXIT_SETUP, errno, "spec", dir, "create it, owned by root, mode 0755",
			      "the spec directory cannot be opened");
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "spec", path, NULL, "the spec directory cannot be opened");
	/* The directory, then each one above it up to "/". */
	for (bool leaf = true;; leaf = false) {
		char *slash;

		if (stat(path, &st) < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "spec", path, NULL, "stat");
		/* Above the spec directory, a sticky directory of root's (/tmp) is
		 * fine: no one else can rename or remove root's entries in it. */
		if (!(!leaf && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) && st.st_uid == 0) &&
		    root_only(&st, leaf ? "the spec directory" : "a directory above the spec directory",
			      path, err) < 0) {
			if (err && *err)
				(*err)->status = VJ_EXIT_SETUP;
			return -1;
		}
		if (!strcmp(path, "/"))
			break;
		slash = strrchr(path, '/');
		slash[slash == path ? 1 : 0] = '\0';
	}
	return TAKE_FD(fd);
}

/* <spec_dir>/ESC.json: root's, for NAME. */
static int load_spec(int dirfd, const char *name, struct vj_spec **out, struct vj_error **err)
{
	_cleanup_free_ char *esc = vj_name_escape(name), *file = NULL, *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t n;

	if (!esc || !(file = vj_strdupf("%s.json", esc)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", name, NULL, "out of memory");
	if (fstat(dirfd, &st) < 0 || root_only(&st, "the spec directory", ".", err) < 0)
		return -1;
	fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return vj_err(err, VJ_EXIT_DENIED, errno, "spec", file,
			      "root grants a VM by installing its spec there",
			      "no spec grants VM %s", name);
	if (fstat(fd, &st) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "spec", file, NULL, "fstat");
	if (!S_ISREG(st.st_mode))
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "spec", file, NULL, "the spec is not a regular file");
	if (root_only(&st, "the spec", file, err) < 0)
		return -1;
	if (st.st_size > 1 << 20)
		return vj_err(err, VJ_EXIT_DENIED, EFBIG, "spec", file, NULL, "the spec is over 1 MiB");
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", file, NULL, "out of memory");
	n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size)
		return vj_err(err, VJ_EXIT_SETUP, n < 0 ? errno : EIO, "spec", file, NULL, "read");
	if (vj_spec_parse_string(buf, out, err) < 0)
		return vj_err_wrap(err, "spec", file, "root's spec for %s does not parse", name);
	if (strcmp((*out)->name, name) != 0) {
		char q[VJ_QUOTE_MAX];
		vj_err(err, VJ_EXIT_DENIED, EPERM, "spec", file, "the file's name and the spec's name must agree",
		       "the spec grants VM %s, not the one asked for", vj_quote((*out)->name, q));
		vj_spec_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------- */
/* The service                                                                */

struct running {
	int pidfd;
	char *name;
};

struct service {
	const struct vj_serve_opts *o;
	const char *spec_dir;
	struct running *vms;
	size_t n_vms;
};

static void send_error(int fd, const struct vj_error *e)
{
	vj_child_send_error(fd, e); /* one write: one message */
}

void vj_serve_send_error(int fd, const struct vj_error *e)
{
	send_error(fd, e);
}

int vj_serve_send_ok(int fd, const struct vj_handoff *h)
{
	char buf[MSG_MAX], cbuf[CMSG_SPACE(sizeof(int) * FDS_MAX)] = { 0 };
	size_t len = 0;
	int n;

	if (h->n > FDS_MAX)
		return -1;
	if (h->memlock.unchanged)
		n = snprintf(buf, sizeof(buf), "OK%cunchanged", 0);
	else if (h->memlock.unlimited)
		n = snprintf(buf, sizeof(buf), "OK%cunlimited", 0);
	else
		n = snprintf(buf, sizeof(buf), "OK%c%" PRIu64, 0, h->memlock.bytes);
	len = (size_t)n + 1;
	for (size_t i = 0; i < h->n; i++) {
		size_t l = strlen(h->ids[i]) + 1;
		if (len + l > sizeof(buf))
			return -1;
		memcpy(buf + len, h->ids[i], l);
		len += l;
	}
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (h->n) {
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * h->n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * h->n);
		memcpy(CMSG_DATA(c), h->fds, sizeof(int) * h->n);
	}
	return sendmsg(fd, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int vj_serve_peer(int fd, struct ucred *cred, int *pidfd, struct vj_error **err)
{
	socklen_t clen = sizeof(*cred);
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };

	*pidfd = -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(cred, 0, sizeof(*cred));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &clen) < 0 || cred->pid <= 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "launch", NULL, NULL, "cannot tell who the client is");
	/* Pin the client's identity: a pidfd names that process, never a reused pid. */
	*pidfd = (int)syscall(SYS_pidfd_open, cred->pid, 0);
	if (*pidfd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "launch", NULL, NULL, "pidfd_open of the client");
	return 0;
}

int vj_serve_read_request(int fd, char *buf, size_t size, const char **name, struct vj_error **err)
{
	/* No control buffer: fds a client sends are closed by the kernel, unread. */
	ssize_t n = recv(fd, buf, size - 1, 0);

	if (n < (ssize_t)sizeof(PROTO) + 1 || memcmp(buf, PROTO, sizeof(PROTO)) != 0 || buf[n - 1] != '\0')
		return vj_err(err, VJ_EXIT_USAGE, EPROTO, "launch", NULL, "use vfiojail launch of the same version",
			      "the request is not a vfiojail launch request");
	*name = buf + sizeof(PROTO);
	return vj_validate_name(*name, "NAME", err);
}

/* One client: read NAME, check, set up, answer.  The VM is watched on success. */
static void serve_client(struct service *s, int fd)
{
	const struct vj_serve_opts *o = s->o;
	struct ucred cred = { 0 };
	char buf[MSG_MAX];
	struct vj_error *e = NULL;
	struct vj_spec *spec = NULL;
	struct vj_handoff h = { 0 };
	const char *name;
	int pidfd = -1, dirfd = -1;

	if (vj_serve_peer(fd, &cred, &pidfd, &e) < 0)
		goto answer;
	if (vj_serve_read_request(fd, buf, sizeof(buf), &name, &e) < 0)
		goto answer;
	/* The directory is checked again for each request: root may create or fix
	 * it while the service runs, and a changed one is never trusted on old
	 * evidence. */
	if ((dirfd = open_spec_dir(s->spec_dir, &e)) < 0) {
		if (e)
			e->status = VJ_EXIT_DENIED; /* no trusted spec grants it */
		goto answer;
	}
	if (load_spec(dirfd, name, &spec, &e) < 0 ||
	    vj_run_handoff(spec, &o->run, cred.pid, pidfd, cred.uid, &h, &e) < 0)
		goto answer;
	if (vj_serve_send_ok(fd, &h) < 0) {
		/* The client is gone or cannot take the fds: the jail goes. */
		struct vj_error *t = NULL;
		vj_teardown(name, &o->run, true, &t);
		say(o, "VM %s for pid %d: the answer could not be sent, jail removed", name, (int)cred.pid);
		vj_error_free(t);
		goto out;
	}
	say(o, "VM %s launched for pid %d (uid %u), cgroup %s", name, (int)cred.pid, (unsigned)cred.uid,
	    h.cgroup);
	{
		struct running *r = VJ_PUSH(s->vms, s->n_vms);
		if (r) {
			r->pidfd = TAKE_FD(pidfd);
			r->name = strdup(name);
		}
	}
	goto out;
answer:
	say(o, "refused pid %d (uid %u): %s%s%s", (int)cred.pid, (unsigned)cred.uid,
	    e && e->object ? e->object : "", e && e->object ? ": " : "", e && e->message ? e->message : "");
	send_error(fd, e);
out:
	if (pidfd >= 0)
		close(pidfd);
	if (dirfd >= 0)
		close(dirfd);
	vj_handoff_clear(&h);
	vj_spec_free(spec);
	vj_error_free(e);
}

/* A launched VMM exited: its jail goes, with whatever it left in the cgroup. */
static void vm_exited(struct service *s, size_t i)
{
	struct vj_error *e = NULL;
	struct running r = s->vms[i];

	if (vj_teardown(r.name, &s->o->run, true, &e) != 0)
		say(s->o, "VM %s ended; teardown: %s", r.name, e && e->message ? e->message : "failed");
	else
		say(s->o, "VM %s ended; jail removed", r.name);
	vj_error_free(e);
	close(r.pidfd);
	free(r.name);
	s->vms[i] = s->vms[--s->n_vms];
}

int vj_serve_listen(const char *path, mode_t mode, uid_t uid, gid_t gid, struct vj_error **err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	_cleanup_free_ char *tmp = vj_strdupf("%s.%d.tmp", path, (int)getpid());
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (!tmp)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "socket", path, NULL, "out of memory");
	if (strlen(tmp) >= sizeof(a.sun_path))
		return vj_err(err, VJ_EXIT_USAGE, ENAMETOOLONG, "socket", path, NULL, "the socket path is too long");
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return vj_err(err, VJ_EXIT_SETUP, EEXIST, "socket", path, "remove it, or give another --socket",
			      "something that is not a socket is in the way");
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "socket", path, NULL, "socket");
	strcpy(a.sun_path, tmp);
	unlink(tmp);
	/* Bound and listening under a temporary name, then renamed: a client never
	 * finds a socket that refuses it. */
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "socket", path, NULL, "bind");
	if (chmod(tmp, mode) < 0 || (uid != (uid_t)-1 && chown(tmp, uid, gid) < 0) || listen(fd, 64) < 0 ||
	    rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return vj_err(err, VJ_EXIT_SETUP, e, "socket", path, NULL, "cannot listen");
	}
	return TAKE_FD(fd);
}

int vj_serve(const struct vj_serve_opts *o, struct vj_error **err)
{
	const char *path = o->socket_path ? o->socket_path : VJ_DEFAULT_SOCKET;
	struct service s = { .o = o, .spec_dir = o->spec_dir ? o->spec_dir : VJ_DEFAULT_SPEC_DIR };
	_cleanup_close_ int lfd = -1, sfd = -1;
	sigset_t mask, old_mask;
	int r = -1;

	/* A spec directory that others may change stops the service at once; one
	 * that does not exist yet only means no VM is granted until root makes it. */
	{
		struct vj_error *e = NULL;
		int fd = open_spec_dir(s.spec_dir, &e);
		if (fd < 0 && e && e->errnum == ENOENT) {
			say(o, "%s does not exist yet: every launch is refused until root creates it", s.spec_dir);
			vj_error_free(e);
		} else if (fd < 0) {
			if (err)
				*err = e;
			else
				vj_error_free(e);
			return -1;
		} else {
			close(fd);
		}
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, &old_mask);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	lfd = o->listen_fd >= 0 ? o->listen_fd : vj_serve_listen(path, 0666, (uid_t)-1, (gid_t)-1, err);
	if (sfd < 0 || lfd < 0) {
		if (sfd < 0)
			vj_err(err, VJ_EXIT_SETUP, errno, "socket", NULL, NULL, "signalfd");
		goto out;
	}
	say(o, "serving on %s, specs from %s", o->listen_fd >= 0 ? "the socket handed over" : path,
	    s.spec_dir);
	for (;;) {
		size_t n = s.n_vms + 2;
		_cleanup_free_ struct pollfd *p = calloc(n, sizeof(*p));

		if (!p) {
			vj_err(err, VJ_EXIT_SETUP, ENOMEM, "serve", NULL, NULL, "out of memory");
			goto out;
		}
		p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (size_t i = 0; i < s.n_vms; i++)
			p[i + 2] = (struct pollfd){ .fd = s.vms[i].pidfd, .events = POLLIN };
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			vj_err(err, VJ_EXIT_SETUP, errno, "serve", NULL, NULL, "poll");
			goto out;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;
			/* Consumed here: left pending, it would kill us when unblocked. */
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				say(o, "signal %u received", si.ssi_signo);
			break;
		}
		for (size_t i = s.n_vms; i > 0; i--)
			if (p[i + 1].revents)
				vm_exited(&s, i - 1);
		if (p[1].revents & POLLIN) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0) {
				serve_client(&s, c);
				close(c);
			}
		}
	}
	say(o, "stopping; %zu running VM(s) keep their jails (vfiojail gc removes them once they end)",
	    s.n_vms);
	r = 0;
out:
	if (o->listen_fd < 0 && lfd >= 0)
		unlink(path);
	if (o->listen_fd >= 0)
		lfd = -1; /* the caller's */
	for (size_t i = 0; i < s.n_vms; i++) {
		close(s.vms[i].pidfd);
		free(s.vms[i].name);
	}
	free(s.vms);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return r;
}

/* ------------------------------------------------------------------------- */
/* The client                                                                 */

static int parse_ok(char *buf, size_t n, struct vj_plan *plan, struct vj_error **err)
{
	char *p = buf + 3, *end = buf + n;

	if (p >= end)
		goto bad;
	if (!strcmp(p, "unchanged"))
		plan->memlock.unchanged = true;
	else if (!strcmp(p, "unlimited"))
		plan->memlock.unlimited = true;
	else
		plan->memlock.bytes = strtoull(p, NULL, 10);
	for (p += strlen(p) + 1; p < end; p += strlen(p) + 1) {
		struct vj_iommufd_plan *c = VJ_PUSH(plan->iommufd, plan->n_iommufd);
		if (!c || !(c->id = strdup(p)))
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", NULL, NULL, "out of memory");
	}
	return 0;
bad:
	return vj_err(err, VJ_EXIT_SETUP, EPROTO, "launch", NULL, NULL, "the service's answer is malformed");
}

int vj_launch(const char *name, const char *socket_path, const struct vj_run_opts *opts,
	      struct vj_error **err)
{
	const char *env = getenv("VFIOJAIL_SOCKET");
	const char *path = socket_path ? socket_path : env && *env ? env : VJ_DEFAULT_SOCKET;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char buf[MSG_MAX], cbuf[CMSG_SPACE(sizeof(int) * FDS_MAX)];
	struct vj_plan plan = { .uid = getuid(), .gid = getgid() };
	struct vj_run_opts o = *opts;
	struct vj_vmm v = { 0 };
	_cleanup_close_ int fd = -1;
	size_t req_len, nfds = 0;
	int fds[FDS_MAX], nofd = -1;
	sigset_t cur;
	ssize_t n;

	if (!o.argv || !o.argv[0])
		return vj_err(err, VJ_EXIT_USAGE, 0, "argv", NULL, "vfiojail launch NAME -- VMM [ARGS...]",
			      "no VMM to run");
	/* Checked before this process opens anything (see vj_vmm_check_preserved). */
	if (vj_vmm_check_preserved(o.preserve_fds, err) < 0 || vj_validate_name(name, "NAME", err) < 0)
		return -1;
	req_len = sizeof(PROTO) + strlen(name) + 1;
	if (strlen(path) >= sizeof(a.sun_path) || req_len > sizeof(buf))
		return vj_err(err, VJ_EXIT_USAGE, ENAMETOOLONG, "launch", path, NULL, "too long");
	strcpy(a.sun_path, path);
	memcpy(buf, PROTO, sizeof(PROTO));
	memcpy(buf + sizeof(PROTO), name, strlen(name) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		return vj_err(err, VJ_EXIT_SETUP, errno, "launch", path,
			      "is vfiojail serve running, as root, on this socket?",
			      "cannot reach the launch service");
	}
	if (send(fd, buf, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
		return vj_err(err, VJ_EXIT_SETUP, errno, "launch", path, NULL, "cannot send the request");
	}
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	while ((n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds + nfds, CMSG_DATA(c), k * sizeof(int));
			nfds += k;
		}
	if (n <= 0) {
		vj_err(err, VJ_EXIT_SETUP, n < 0 ? errno : ECONNRESET, "launch", path, NULL,
		       "the launch service did not answer");
		goto fail;
	}
	if (n < 3 || memcmp(buf, "OK", 3) != 0) {
		vj_child_parse_error(buf, (size_t)n, err);
		goto fail;
	}
	if (parse_ok(buf, (size_t)n, &plan, err) < 0)
		goto fail;
	if (nfds != plan.n_iommufd || (m.msg_flags & MSG_CTRUNC)) {
		vj_err(err, VJ_EXIT_SETUP, EPROTO, "launch", path, NULL,
		       "the service sent %zu fds for %zu contexts", nfds, plan.n_iommufd);
		goto fail;
	}
	close(TAKE_FD(fd));
	/* The service watches this process: a VMM that daemonized would leave it. */
	o.exec = false;
	v.memlock_keep_hard = true;
	v.keep_ids = true;
	if (vj_vmm_prepare(&v, &plan, &o, err) < 0)
		goto fail;
	v.ctx_fds = calloc(nfds + 1, sizeof(int));
	if (!v.ctx_fds) {
		vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", NULL, NULL, "out of memory");
		goto fail;
	}
	memcpy(v.ctx_fds, fds, nfds * sizeof(int));
	nfds = 0;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	if (vj_vmm_child_finish(&v, &nofd, err) == 0)
		vj_vmm_exec(&v, &cur, err);
fail:
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	v.plan = &plan;
	vj_vmm_free(&v);
	for (size_t i = 0; i < plan.n_iommufd; i++)
		free(plan.iommufd[i].id);
	free(plan.iommufd);
	return -1;
}
