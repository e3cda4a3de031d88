/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The launch service's wire protocol (wire.c has its description), spoken by
 * the service (serve.c), the hand-off (handoff.c) and their clients (vj_launch,
 * vj_contexts).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "launch.h" /* struct vj_handoff: the answer */
#include "vfiojail/vfiojail.h"

#define VJ_WIRE_PROTO "VJ1"
#define VJ_WIRE_PROTO_CONTEXTS "VJC1"
/* How a refusal of a request of another protocol starts, in every version. */
#define VJ_WIRE_NOT_A_REQUEST "the request is not a vfiojail launch request"
#define VJ_WIRE_MSG_MAX 8192
#define VJ_WIRE_FDS_MAX 64
/* A client has this long for each message. */
#define VJ_WIRE_TIMEOUT_S 5

struct ucred;

/* Listen on @path (bound under a temporary name, then renamed): mode @mode, and
 * owner @uid:@gid unless @uid is -1.  The fd, or -1 with *err. */
int vj_serve_listen(const char *path, mode_t mode, uid_t uid, gid_t gid, struct vj_error **err);
/* The client of @fd: SO_PEERCRED into *cred and the pidfd the kernel took
 * when it connected (5 s socket timeouts set).  0, or -1 with *err. */
int vj_serve_peer(int fd, struct ucred *cred, int *pidfd, struct vj_error **err);
/* The same without the timeouts: SO_PEERCRED and the pidfd of SO_PEERPIDFD
 * (Linux 6.5; an older kernel is refused, never served by pid). */
int vj_serve_peer_identify(int fd, struct ucred *cred, int *pidfd, struct vj_error **err);
/* What a client asks for: "VJ1\0NAME\0" the VM's jail (launch), "VJC1\0NAME\0"
 * its iommufd contexts alone (contexts).  An older service refuses "VJC1" as
 * it refuses any unknown request. */
enum vj_request { VJ_REQUEST_LAUNCH, VJ_REQUEST_CONTEXTS };
/* "VJ1\0NAME\0" into @buf: *name, a valid VM name; 0, or -1 with *err.  A
 * contexts request is refused (the hand-off serves launch only). */
int vj_serve_read_request(int fd, char *buf, size_t size, const char **name, struct vj_error **err);
/* Either request into @buf: *name and *kind; 0, or -1 with *err. */
int vj_serve_read_request_kind(int fd, char *buf, size_t size, const char **name, enum vj_request *kind,
			       struct vj_error **err);
/* "OK\0MEMLOCK\0ID..." with the fds; 0, or -1. */
int vj_serve_send_ok(int fd, const struct vj_handoff *h);
void vj_serve_send_error(int fd, const struct vj_error *e);

/* One request to the service or hand-off at @path (@what names it in
 * messages): @magic and NAME out, the answer parsed into @plan (memlock, ids;
 * *exact: the memlock limit is the spec's exact one) and its fds into @fds
 * (*nfds of them, at most VJ_WIRE_FDS_MAX, close-on-exec; the caller's, also on
 * failure); @step names the command in errors.  0, or -1 with *err. */
int vj_wire_ask(const char *step, const char *path, const char *what, bool from_env, unsigned timeout,
		const char *magic, const char *name, struct vj_plan *plan, bool *exact, int *fds, size_t *nfds,
		struct vj_error **err);
