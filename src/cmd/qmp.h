/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A QMP client (QEMU's machine protocol, JSON lines over a unix socket), as
 * attach --qmp and detach --qmp need it: connect, the greeting, capabilities
 * negotiation, commands with ids (an fd passed with one by SCM_RIGHTS), and
 * DEVICE_DELETED events kept while a reply is awaited.
 *
 * Nothing QEMU sends is trusted: every wait is bounded by a deadline, a line
 * longer than VJ_QMP_LINE_MAX, a line that is not a JSON object, a reply with
 * another id, or more than VJ_QMP_EVENTS_MAX queued events end the session
 * with an error; QEMU's strings are shown cut and with control characters
 * replaced.  Errors: status 125, step "qmp", object the socket, naming the
 * command and, for a QMP error reply, QEMU's class and description.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

#define VJ_QMP_LINE_MAX (1024 * 1024)
#define VJ_QMP_EVENTS_MAX 64

struct vj_qmp;

/* Connect to @path (within @timeout_ms), read the greeting and negotiate
 * capabilities; every later reply is awaited at most @timeout_ms. */
int vj_qmp_open(const char *path, int timeout_ms, struct vj_qmp **out, struct vj_error **err);
void vj_qmp_close(struct vj_qmp *q);

/* The process at the other end of the socket (SO_PEERCRED), 0 when unknown. */
pid_t vj_qmp_peer(const struct vj_qmp *q);

/*
 * Execute @cmd with @args (taken; NULL: none), passing @fd along when it is
 * not -1.  *ret (when given) gets the "return" value (a new reference; put
 * it).  -1 with *err when QEMU answers an error, says nothing in time, or says
 * something malformed; for an error answer, *qemu_error (when given) gets
 * "CLASS: DESC" as shown in the message (newly allocated), NULL otherwise.
 */
int vj_qmp_cmd(struct vj_qmp *q, const char *cmd, json_object *args, int fd, json_object **ret,
	       char **qemu_error, struct vj_error **err);

/* Wait until QEMU sends DEVICE_DELETED for the device @id (an event already
 * queued counts), at most @timeout_ms: 0, or -1 with *err (status 125; a
 * timeout has errnum ETIMEDOUT). */
int vj_qmp_wait_deleted(struct vj_qmp *q, const char *id, int timeout_ms, struct vj_error **err);
