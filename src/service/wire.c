/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The wire protocol of the launch service and the hand-off (wire.h), both
 * ends: the socket, the peer's identity, the request, the answer.
 *
 * The protocol is one SOCK_SEQPACKET exchange.  The client sends "VJ1\0NAME\0"
 * (launch: the VM's jail for the client's process) or "VJC1\0NAME\0" (contexts:
 * the VM's iommufd contexts alone; a new magic, so that a service older than the
 * request refuses it instead of taking it for a launch); the service answers
 * either with an error (the fields of vj_child_send_error) or with
 * "OK\0MEMLOCK\0ID\0ID..." and the contexts' fds in SCM_RIGHTS, in the order of
 * the ids.  MEMLOCK is "unchanged", "unlimited" or a byte count ("unchanged"
 * for contexts).  The caller's identity is the socket's SO_PEERCRED and
 * SO_PEERPIDFD, taken by the kernel at connect(); nothing the client sends but
 * the request's kind and NAME is read.
 */
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "error.h"
#include "name.h"
#include "pidfd.h"
#include "util.h"

void vj_serve_send_error(int fd, const struct vj_error *e)
{
	vj_child_send_error(fd, e); /* one write: one message */
}

int vj_serve_send_ok(int fd, const struct vj_handoff *h)
{
	char buf[VJ_WIRE_MSG_MAX], cbuf[CMSG_SPACE(sizeof(int) * VJ_WIRE_FDS_MAX)] = { 0 };
	size_t len = 0;
	int n;

	if (h->n > VJ_WIRE_FDS_MAX)
		return -1;
	if (h->memlock.unchanged)
		n = snprintf(buf, sizeof(buf), "OK%cunchanged", 0);
	else if (h->memlock.unlimited)
		n = snprintf(buf, sizeof(buf), "OK%cunlimited", 0);
	else /* " exact": the limit as it is, even below the launcher's (an older
	      * client reads the number alone, and sets exactly that) */
		n = snprintf(buf, sizeof(buf), "OK%c%" PRIu64 "%s", 0, h->memlock.bytes,
			     h->memlock_exact ? " exact" : "");
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
	struct timeval tv = { .tv_sec = VJ_WIRE_TIMEOUT_S };

	*pidfd = -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return vj_serve_peer_identify(fd, cred, pidfd, err);
}

int vj_serve_peer_identify(int fd, struct ucred *cred, int *pidfd, struct vj_error **err)
{
	socklen_t clen = sizeof(*cred);

	*pidfd = -1;
	memset(cred, 0, sizeof(*cred));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &clen) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "launch", NULL, NULL, "cannot tell who the client is");
	/* The client is the process that connected, named by the pidfd the kernel
	 * took at connect(): never a pid looked up later, which another process
	 * may hold by then. */
	*pidfd = vj_pidfd_of_peer(fd);
	if (*pidfd >= 0)
		return 0;
	if (errno == ENOPROTOOPT || errno == EINVAL)
		return vj_err(err, VJ_EXIT_SETUP, errno, "launch", "SO_PEERPIDFD",
			      "the service needs Linux 6.5 or later",
			      "this kernel cannot name the client by a pidfd, and a pid alone is not trusted");
	return vj_err(err, VJ_EXIT_SETUP, errno, "launch", NULL, NULL, "the client is gone");
}

int vj_serve_read_request_kind(int fd, char *buf, size_t size, const char **name, enum vj_request *kind,
			       struct vj_error **err)
{
	/* No control buffer: fds a client sends are closed by the kernel, unread. */
	ssize_t n = recv(fd, buf, size - 1, 0);
	size_t magic;

	if (n >= (ssize_t)sizeof(VJ_WIRE_PROTO) + 1 && memcmp(buf, VJ_WIRE_PROTO, sizeof(VJ_WIRE_PROTO)) == 0) {
		*kind = VJ_REQUEST_LAUNCH;
		magic = sizeof(VJ_WIRE_PROTO);
	} else if (n >= (ssize_t)sizeof(VJ_WIRE_PROTO_CONTEXTS) + 1 && memcmp(buf, VJ_WIRE_PROTO_CONTEXTS, sizeof(VJ_WIRE_PROTO_CONTEXTS)) == 0) {
		*kind = VJ_REQUEST_CONTEXTS;
		magic = sizeof(VJ_WIRE_PROTO_CONTEXTS);
	} else {
		magic = 0;
	}
	if (!magic || buf[n - 1] != '\0')
		/* vj_contexts tells an older service's refusal by the message's start;
		 * the version says which vfiojail the client needs. */
		return vj_err(err, VJ_EXIT_USAGE, EPROTO, "launch", NULL,
			      "the client's vfiojail must speak this one's protocol: use vfiojail " VJ_VERSION
			      " in the pod's image or for the launcher, as on this node",
			      VJ_WIRE_NOT_A_REQUEST " of protocol " VJ_WIRE_PROTO " or " VJ_WIRE_PROTO_CONTEXTS
			      ", which vfiojail " VJ_VERSION " here speaks");
	*name = buf + magic;
	return vj_validate_name(*name, "NAME", err);
}

int vj_serve_read_request(int fd, char *buf, size_t size, const char **name, struct vj_error **err)
{
	enum vj_request kind;

	if (vj_serve_read_request_kind(fd, buf, size, name, &kind, err) < 0)
		return -1;
	if (kind != VJ_REQUEST_LAUNCH)
		return vj_err(err, VJ_EXIT_USAGE, EPROTO, "launch", NULL,
			      "ask root's launch service (vfiojail serve) for contexts alone",
			      "this socket serves vfiojail launch only, not vfiojail contexts");
	return 0;
}

int vj_serve_listen(const char *path, mode_t mode, uid_t uid, gid_t gid, struct vj_error **err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	_cleanup_free_ char *parent = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int pfd = -1, dfd = -1, fd = -1;
	const char *tmpname;
	struct stat st;
	int e;

	if (!parent || !(tmp = vj_strdupf("%s/.%s.XXXXXX", parent, base)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "socket", path, NULL, "out of memory");
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return vj_err(err, VJ_EXIT_USAGE, EINVAL, "socket", path, NULL, "the socket path names no file");
	if (strlen(path) >= sizeof(a.sun_path))
		return vj_err(err, VJ_EXIT_USAGE, ENAMETOOLONG, "socket", path, NULL, "the socket path is too long");
	/* Everything below goes through this directory's fd and the private one's. */
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "socket", parent, NULL, "cannot open the socket's directory");
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISSOCK(st.st_mode))
		return vj_err(err, VJ_EXIT_SETUP, EEXIST, "socket", path, "remove it, or give another --socket",
			      "something that is not a socket is in the way");
	/*
	 * Bound, given its mode and owner, and listening in a directory of root's
	 * own (mode 0700, an unpredictable name beside @path), then renamed into
	 * place: a client never finds a socket that refuses it, and no one else can
	 * put anything where the socket is made, so the chmod and chown act on it
	 * and on nothing else (never on what a symlink planted in a directory others
	 * may write points to).
	 */
	if (!mkdtemp(tmp))
		return vj_err(err, VJ_EXIT_SETUP, errno, "socket", path, NULL,
			      "cannot make a private directory beside the socket");
	tmpname = strrchr(tmp, '/') + 1;
	dfd = openat(pfd, tmpname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0077)) {
		e = dfd < 0 ? errno : EPERM;
		if (dfd >= 0)
			unlinkat(pfd, tmpname, AT_REMOVEDIR);
		return vj_err(err, VJ_EXIT_SETUP, e, "socket", tmp, NULL,
			      "the private directory beside the socket was changed under vfiojail");
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		goto fail;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/s", dfd);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || fchmodat(dfd, "s", mode, 0) < 0 ||
	    (uid != (uid_t)-1 && fchownat(dfd, "s", uid, gid, AT_SYMLINK_NOFOLLOW) < 0) || listen(fd, 64) < 0 ||
	    renameat(dfd, "s", pfd, base) < 0) {
		e = errno;
		unlinkat(dfd, "s", 0);
		goto fail;
	}
	/* Empty now; the name is the one made unless someone with write access to
	 * the directory renamed it, and rmdir removes only an empty directory. */
	unlinkat(pfd, tmpname, AT_REMOVEDIR);
	return TAKE_FD(fd);
fail:
	unlinkat(pfd, tmpname, AT_REMOVEDIR);
	return vj_err(err, VJ_EXIT_SETUP, e, "socket", path, NULL, "cannot listen");
}

static int parse_ok(char *buf, size_t n, struct vj_plan *plan, bool *exact, struct vj_error **err)
{
	char *p = buf + 3, *end = buf + n, *rest = NULL;

	*exact = false;
	if (p >= end)
		goto bad;
	if (!strcmp(p, "unchanged"))
		plan->memlock.unchanged = true;
	else if (!strcmp(p, "unlimited"))
		plan->memlock.unlimited = true;
	else {
		plan->memlock.bytes = strtoull(p, &rest, 10);
		*exact = rest && !strcmp(rest, " exact");
	}
	for (p += strlen(p) + 1; p < end; p += strlen(p) + 1) {
		struct vj_iommufd_plan *c = VJ_PUSH(plan->iommufd, plan->n_iommufd);
		if (!c || !(c->id = strdup(p)))
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", NULL, NULL, "out of memory");
	}
	return 0;
bad:
	return vj_err(err, VJ_EXIT_SETUP, EPROTO, "launch", NULL,
		      "is the service's or the node's vfiojail another version than this one (" VJ_VERSION ")?",
		      "the service's answer is malformed");
}

int vj_wire_ask(const char *step, const char *path, const char *what, bool from_env, unsigned timeout,
		const char *magic, const char *name, struct vj_plan *plan, bool *exact, int *fds, size_t *nfds,
		struct vj_error **err)
{
	struct timeval tv = { .tv_sec = timeout };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char buf[VJ_WIRE_MSG_MAX], cbuf[CMSG_SPACE(sizeof(int) * VJ_WIRE_FDS_MAX)];
	size_t magic_len = strlen(magic) + 1, req_len = magic_len + strlen(name) + 1;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	*nfds = 0;
	if (strlen(path) >= sizeof(a.sun_path) || req_len > sizeof(buf))
		return vj_err(err, VJ_EXIT_USAGE, ENAMETOOLONG, step, path, NULL, "too long");
	strcpy(a.sun_path, path);
	memcpy(buf, magic, magic_len);
	memcpy(buf + magic_len, name, strlen(name) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, step, path, NULL, "socket");
	/* Bounded: a launcher (libvirt) gives up a start that takes too long, so
	 * this says why first.  connect() of a unix socket honours SO_SNDTIMEO. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return vj_err(err, VJ_EXIT_SETUP, ETIMEDOUT, step, path, "look at the service's log",
				      "%s took no connection within %u s", what, timeout);
		if (from_env)
			return vj_err(err, VJ_EXIT_SETUP, errno, step, path,
				      "VFIOJAIL_SOCKET names the VM's hand-off: was the container started with the "
				      "vfiojail CDI device, and has its hand-off not ended (vfiojail cdi --timeout)?",
				      "cannot reach the VM's hand-off socket");
		return vj_err(err, VJ_EXIT_SETUP, errno, step, path,
			      "is vfiojail serve running, as root, on this socket?",
			      "cannot reach the launch service");
	}
	if (send(fd, buf, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
		return vj_err(err, VJ_EXIT_SETUP, errno, step, path, NULL, "cannot send the request");
	}
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	while ((n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds + *nfds, CMSG_DATA(c), k * sizeof(int));
			*nfds += k;
		}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return vj_err(err, VJ_EXIT_SETUP, ETIMEDOUT, step, path, "look at the service's log",
			      "%s did not answer within %u s", what, timeout);
	if (n <= 0)
		return vj_err(err, VJ_EXIT_SETUP, n < 0 ? errno : ECONNRESET, step, path, NULL,
			      "%s did not answer", what);
	if (n < 3 || memcmp(buf, "OK", 3) != 0) {
		vj_child_parse_error(buf, (size_t)n, err);
		return -1;
	}
	if (parse_ok(buf, (size_t)n, plan, exact, err) < 0)
		return -1;
	if (*nfds != plan->n_iommufd || (m.msg_flags & MSG_CTRUNC))
		return vj_err(err, VJ_EXIT_SETUP, EPROTO, step, path, NULL,
			      "the service sent %zu fds for %zu contexts", *nfds, plan->n_iommufd);
	return 0;
}
