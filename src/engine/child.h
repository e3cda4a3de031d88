/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A child helper and the pipe its error comes back on: one home for the pattern
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

enum vj_child_mode {
	VJ_CHILD_EXIT, /* the child exits once @fn succeeded; reaped before the call returns */
	VJ_CHILD_HOLD, /* the child stays after @fn succeeded, until vj_child_finish      */
	VJ_CHILD_EXEC, /* @fn execs (it returns only on failure): EOF on the close-on-exec
			* error pipe says the exec happened; the caller waits for c->pid */
};

/*
 * Start a child that runs @fn(@arg, &errfd, &e) (@fn may move the error pipe's
 * fd, as the launch child does when it arranges fds 3..).  With @gate, @fn runs
 * only once @gate(pid, @arg) succeeded (the launch records the VMM's pid before
 * the VMM may exec).  On failure the child sends e and exits with its status.
 * The parent returns once the child has said how it went: 0, or -1 with the
 * child's error (or a pipe, fork or gate error of step @what, object @object)
 * and the child reaped.  A VJ_CHILD_EXIT child is reaped on success too, and
 * one that died without a word is an error naming @what.
 *
 * VJ_CHILD_EXIT and VJ_CHILD_HOLD fork, and @gate runs in the parent.  A
 * VJ_CHILD_EXEC child of a single-threaded process (not built with ASan) shares
 * the parent's memory until it execs, as posix_spawn's does, and the parent
 * sleeps until then: @gate runs in the child with its own pid, and @gate and
 * @fn must write only what the parent would write itself or never reads again,
 * and change no environ (vj_vmm's envp).  Where that memory turns out not to be
 * shared (valgrind makes a fork of it), the parent runs @gate again with the
 * same pid once the child exec'd: a gate must allow that.  Threaded callers
 * and ASan builds fork, with @gate in the parent.
 */
int vj_child_run(struct vj_child *c, enum vj_child_mode mode,
		 int (*gate)(pid_t pid, void *arg, struct vj_error **err),
		 int (*fn)(void *arg, int *errfd, struct vj_error **err), void *arg,
		 const char *what, const char *object, struct vj_error **err);
/* Release a held child and reap it. */
void vj_child_finish(struct vj_child *c);

/* The error encoding, also for a socket (serve.c). */
void vj_child_send_error(int fd, const struct vj_error *e);
/* Read @fd to EOF (or @size - 1 bytes, leaving room for a NUL): the count. */
size_t vj_child_recv(int fd, char *buf, size_t size);
/* Read @fd to EOF: 0 when nothing came, -1 with *err set. */
int vj_child_recv_error(int fd, struct vj_error **err);
/* The same from one message of @n bytes in @buf (which has room for one more). */
int vj_child_parse_error(char *buf, size_t n, struct vj_error **err);
