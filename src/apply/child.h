/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A forked helper and the pipe its error comes back on: one home for the pattern
 * the namespace holder (setup), the hotplug helper and the launch child share.
 * An error crosses as its NUL-separated fields; EOF with nothing means success
 * (or, for the launch child, that exec happened: the pipe is close-on-exec).
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

struct vj_child {
	pid_t pid;
	int gofd; /* hold: the parent's end of the release pipe, -1 otherwise */
};

/*
 * Fork a child that runs @fn(@arg, &e).  On failure the child sends e and exits
 * 125.  On success, with @hold it says so (closes its error pipe) and stays until
 * vj_child_finish releases it, then exits 0; without @hold it exits 0.  The parent
 * returns once the child has said how it went: 0, or -1 with the child's error
 * (or a pipe or fork error of step @what, object @object) and the child reaped.  Without @hold the child is reaped
 * on success too, and a child that died without a word is an error naming @what.
 */
int vj_child_run(struct vj_child *c, bool hold, int (*fn)(void *arg, struct vj_error **err), void *arg,
		 const char *what, const char *object, struct vj_error **err);
/* Release a held child and reap it. */
void vj_child_finish(struct vj_child *c);

/* The error pipe itself, for a child that execs (vmm.c) or a socket (serve.c). */
void vj_child_send_error(int fd, const struct vj_error *e);
/* Read @fd to EOF: 0 when nothing came, -1 with *err set. */
int vj_child_recv_error(int fd, struct vj_error **err);
/* The same from one message of @n bytes in @buf (which has room for one more). */
int vj_child_parse_error(char *buf, size_t n, struct vj_error **err);
