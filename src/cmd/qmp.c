/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP client (qmp.h).  The protocol, as QEMU's docs/interop/qmp-spec describe
 * it: the server sends one greeting {"QMP": {"version", "capabilities"}};
 * the client must send qmp_capabilities before any other command; each
 * command {"execute", "arguments", "id"} is answered by {"return", "id"} or
 * {"error": {"class", "desc"}, "id"}; events {"event", "data", "timestamp"}
 * may come at any time, between replies.  Every message is one line.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "qmp.h"
#include "util.h"

struct vj_qmp {
	int fd;
	int timeout_ms;
	char *path;
	pid_t peer;
	uint64_t next_id;
	char *buf; /* bytes read and not yet used: [0, len) */
	size_t len;
	char *deleted[VJ_QMP_EVENTS_MAX]; /* ids of DEVICE_DELETED events kept */
	size_t n_deleted;
};

/* QEMU's text, cut at 200 bytes, control characters as '?'. */
static void shown(const char *s, char out[static 204])
{
	size_t n = 0;

	for (; s && *s && n < 200; s++)
		out[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	if (s && *s) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static int fail(struct vj_qmp *q, struct vj_error **err, int errnum, const char *hint,
		const char *what, const char *cmd)
{
	return vj_err(err, VJ_EXIT_SETUP, errnum, "qmp", q->path, hint, "%s%s%s", what,
		      cmd ? " during " : "", cmd ? cmd : "");
}

/* Send @len bytes of @data by the deadline, @fd with the first of them. */
static int send_all(struct vj_qmp *q, const char *data, size_t len, int fd, int64_t deadline,
		    const char *cmd, struct vj_error **err)
{
	while (len > 0) {
		struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct pollfd p = { .fd = q->fd, .events = POLLOUT };
		int64_t left = deadline - vj_now_ms();
		ssize_t n;

		if (fd >= 0) {
			struct cmsghdr *c;
			memset(&u, 0, sizeof(u));
			m.msg_control = u.buf;
			m.msg_controllen = sizeof(u.buf);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		if (left <= 0)
			return fail(q, err, ETIMEDOUT, "is QEMU stopped or hung? see --timeout",
				    "QEMU took no more input in time", cmd);
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return fail(q, err, errno, NULL, "cannot wait for the socket", cmd);
		}
		n = sendmsg(q->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return fail(q, err, errno, NULL, "cannot send to QEMU", cmd);
		}
		fd = -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The next line QEMU sends, parsed: a JSON object (new reference in *out). */
static int read_msg(struct vj_qmp *q, int64_t deadline, const char *cmd, json_object **out,
		    struct vj_error **err)
{
	for (;;) {
		char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		int64_t left;
		ssize_t n;

		if (nl) {
			size_t line = (size_t)(nl - q->buf);
			json_tokener *tok;
			json_object *o;
			enum json_tokener_error je;
			bool blank = true;

			*nl = '\0';
			for (size_t i = 0; i < line; i++)
				blank = blank && (q->buf[i] == '\r' || q->buf[i] == ' ' || q->buf[i] == '\t');
			if (memchr(q->buf, '\0', line))
				return fail(q, err, 0, NULL, "QEMU sent a NUL byte", cmd);
			if (!(tok = json_tokener_new()))
				return vj_err_sys(err, "qmp", q->path, ENOMEM, NULL, "out of memory");
			o = json_tokener_parse_ex(tok, q->buf, (int)line);
			je = json_tokener_get_error(tok);
			/* One whole object, nothing after it but blanks (the '\r'). */
			if (o && je == json_tokener_success) {
				for (size_t i = json_tokener_get_parse_end(tok); i < line; i++)
					if (q->buf[i] != '\r' && q->buf[i] != ' ' && q->buf[i] != '\t')
						je = json_tokener_error_parse_unexpected;
			}
			json_tokener_free(tok);
			memmove(q->buf, nl + 1, q->len - line - 1);
			q->len -= line + 1;
			if (!o || je != json_tokener_success || !json_object_is_type(o, json_type_object)) {
				json_object_put(o);
				if (blank)
					continue;
				return fail(q, err, EPROTO, "is SOCKET QEMU's QMP socket (-qmp unix:SOCKET,server)?",
					    "QEMU sent a line that is not a JSON object", cmd);
			}
			*out = o;
			return 0;
		}
		if (q->len >= VJ_QMP_LINE_MAX)
			return fail(q, err, EMSGSIZE, NULL, "QEMU sent a line longer than 1 MiB", cmd);
		left = deadline - vj_now_ms();
		if (left <= 0)
			return fail(q, err, ETIMEDOUT, "is QEMU stopped or hung? see --timeout",
				    "QEMU did not answer in time", cmd);
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return fail(q, err, errno, NULL, "cannot wait for the socket", cmd);
		if (n <= 0)
			continue;
		n = recv(q->fd, q->buf + q->len, VJ_QMP_LINE_MAX - q->len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return fail(q, err, errno, NULL, "cannot read from QEMU", cmd);
		if (n == 0)
			return fail(q, err, ECONNRESET, "did QEMU exit?", "QEMU closed the socket", cmd);
		q->len += (size_t)n;
	}
}

static const char *str_member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* An event: DEVICE_DELETED with a device id is kept; others are dropped. */
static int keep_event(struct vj_qmp *q, json_object *o, const char *cmd, struct vj_error **err)
{
	json_object *data;
	const char *ev = str_member(o, "event"), *dev;
	char *copy;

	if (!ev || strcmp(ev, "DEVICE_DELETED") != 0)
		return 0;
	if (!json_object_object_get_ex(o, "data", &data) || !(dev = str_member(data, "device")))
		return 0; /* a device without an id (QEMU names its path only) */
	if (q->n_deleted == VJ_QMP_EVENTS_MAX)
		return fail(q, err, EOVERFLOW, NULL, "QEMU sent more than 64 DEVICE_DELETED events", cmd);
	if (!(copy = strdup(dev)))
		return vj_err_sys(err, "qmp", q->path, ENOMEM, NULL, "out of memory");
	q->deleted[q->n_deleted++] = copy;
	return 0;
}

int vj_qmp_cmd(struct vj_qmp *q, const char *cmd, json_object *args, int fd, json_object **ret,
	       char **qemu_error, struct vj_error **err)
{
	json_object *m = json_object_new_object(), *reply = NULL, *v;
	uint64_t id = q->next_id++;
	int64_t deadline = vj_now_ms() + q->timeout_ms;
	const char *text;
	int r = -1;

	if (qemu_error)
		*qemu_error = NULL;
	if (!m) {
		json_object_put(args);
		return vj_err_sys(err, "qmp", q->path, ENOMEM, NULL, "out of memory");
	}
	json_object_object_add(m, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(m, "arguments", args);
	json_object_object_add(m, "id", json_object_new_uint64(id));
	text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN);
	if (!text || send_all(q, text, strlen(text), fd, deadline, cmd, err) < 0 ||
	    send_all(q, "\n", 1, -1, deadline, cmd, err) < 0)
		goto out;
	for (;;) {
		json_object_put(reply);
		reply = NULL;
		if (read_msg(q, deadline, cmd, &reply, err) < 0)
			goto out;
		if (json_object_object_get_ex(reply, "event", NULL)) {
			if (keep_event(q, reply, cmd, err) < 0)
				goto out;
			continue;
		}
		break;
	}
	if (json_object_object_get_ex(reply, "id", &v) &&
	    (!json_object_is_type(v, json_type_int) || json_object_get_uint64(v) != id)) {
		fail(q, err, EPROTO, NULL, "QEMU answered another command's id", cmd);
		goto out;
	}
	if (json_object_object_get_ex(reply, "error", &v)) {
		char c[204], d[204];
		const char *cls = json_object_is_type(v, json_type_object) ? str_member(v, "class") : NULL;

		shown(cls ? cls : "(no class)", c);
		shown(json_object_is_type(v, json_type_object) ? str_member(v, "desc") : NULL, d);
		if (qemu_error)
			*qemu_error = vj_strdupf("%s: %s", c, d);
		vj_err(err, VJ_EXIT_SETUP, 0, "qmp", q->path, NULL, "QEMU refused %s: %s: %s", cmd, c, d);
		goto out;
	}
	if (!json_object_object_get_ex(reply, "id", NULL) || !json_object_object_get_ex(reply, "return", &v)) {
		fail(q, err, EPROTO, NULL, "QEMU sent a reply with neither a return nor an error, or without the id", cmd);
		goto out;
	}
	if (ret)
		*ret = json_object_get(v);
	r = 0;
out:
	json_object_put(reply);
	json_object_put(m);
	return r;
}

int vj_qmp_wait_deleted(struct vj_qmp *q, const char *id, int timeout_ms, struct vj_error **err)
{
	int64_t deadline = vj_now_ms() + timeout_ms;

	for (;;) {
		json_object *o = NULL;

		for (size_t i = 0; i < q->n_deleted; i++)
			if (strcmp(q->deleted[i], id) == 0)
				return 0;
		if (read_msg(q, deadline, "the wait for DEVICE_DELETED", &o, err) < 0)
			return -1;
		if (json_object_object_get_ex(o, "event", NULL) &&
		    keep_event(q, o, "the wait for DEVICE_DELETED", err) < 0) {
			json_object_put(o);
			return -1;
		}
		json_object_put(o); /* a stray reply is no event: dropped */
	}
}

pid_t vj_qmp_peer(const struct vj_qmp *q)
{
	return q->peer;
}

static int connect_by(struct vj_qmp *q, const char *path, int64_t deadline, struct vj_error **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct pollfd p;
	int e = 0;
	socklen_t el = sizeof(e);

	if (strlen(path) >= sizeof(sa.sun_path))
		return vj_err(err, VJ_EXIT_USAGE, ENAMETOOLONG, "qmp", path, NULL,
			      "the socket path is longer than %zu bytes", sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path));
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (q->fd < 0)
		return vj_err_sys(err, "qmp", path, errno, NULL, "cannot make a socket");
	if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			return vj_err(err, errno == ENOENT || errno == ECONNREFUSED || errno == ENOTSOCK
						   ? VJ_EXIT_USAGE : VJ_EXIT_SETUP,
				      errno, "qmp", path,
				      "give the VM's QMP socket (QEMU's -qmp unix:SOCKET,server,wait=off)",
				      "cannot connect to QEMU's QMP socket");
		/* A unix socket whose backlog is full: wait for it, within the limit. */
		p = (struct pollfd){ .fd = q->fd, .events = POLLOUT };
		if (poll(&p, 1, (int)(deadline > vj_now_ms() ? deadline - vj_now_ms() : 0)) <= 0 ||
		    getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e)
			return vj_err_sys(err, "qmp", path, e ? e : ETIMEDOUT, "is QEMU hung? see --timeout",
					  "cannot connect to QEMU's QMP socket");
	}
	if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		q->peer = cred.pid;
	return 0;
}

int vj_qmp_open(const char *path, int timeout_ms, struct vj_qmp **out, struct vj_error **err)
{
	struct vj_qmp *q = calloc(1, sizeof(*q));
	int64_t deadline = vj_now_ms() + timeout_ms;
	json_object *greet = NULL, *v;

	if (q)
		q->fd = -1;
	if (!q || !(q->path = strdup(path)) || !(q->buf = malloc(VJ_QMP_LINE_MAX))) {
		vj_qmp_close(q);
		return vj_err_sys(err, "qmp", path, ENOMEM, NULL, "out of memory");
	}
	q->timeout_ms = timeout_ms;
	q->next_id = 1;
	if (connect_by(q, path, deadline, err) < 0 || read_msg(q, deadline, "the greeting", &greet, err) < 0)
		goto fail;
	if (!json_object_object_get_ex(greet, "QMP", &v) || !json_object_is_type(v, json_type_object)) {
		fail(q, err, EPROTO, "is SOCKET QEMU's QMP socket (not its HMP monitor)?",
		     "QEMU's greeting is not a QMP greeting ({\"QMP\": {...}})", NULL);
		goto fail;
	}
	json_object_put(greet);
	greet = NULL;
	if (vj_qmp_cmd(q, "qmp_capabilities", NULL, -1, NULL, NULL, err) < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	json_object_put(greet);
	vj_qmp_close(q);
	return -1;
}

void vj_qmp_close(struct vj_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	for (size_t i = 0; i < q->n_deleted; i++)
		free(q->deleted[i]);
	free(q->buf);
	free(q->path);
	free(q);
}
