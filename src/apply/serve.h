/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The launch service: root runs `vfiojail serve`; a launcher's unprivileged
 * process runs `vfiojail launch NAME -- VMM ...`, which asks the service over a
 * unix socket for the jail of VM NAME and then becomes the VMM itself.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

/* What the service hands the client: the iommufd contexts (spec order), their
 * ids, the memlock plan (the client sets its soft limit) and its cgroup. */
struct vj_handoff {
	int *fds;
	char **ids;
	size_t n;
	struct vj_memlock_plan memlock; /* no terms */
	char *cgroup;
};

void vj_handoff_clear(struct vj_handoff *h);

/*
 * run's steps for a process that already runs (@pid, known by @pidfd, the
 * client of the service, of uid @caller): refused (VJ_EXIT_DENIED) unless the
 * spec's user is @caller; then state (the VMM's pid is @pid), cgroup, filter,
 * contexts, @pid's hard RLIMIT_MEMLOCK raised when below the plan, @pid moved
 * into the cgroup.  0 with *out filled, or -1 with nothing left behind.
 */
int vj_run_handoff(const struct vj_spec *spec, const struct vj_run_opts *o, pid_t pid, int pidfd,
		   uid_t caller, struct vj_handoff *out, struct vj_error **err);

/* The service's socket machinery, shared with the hand-off (handoff.c). */
struct ucred;
/* Listen on @path (bound under a temporary name, then renamed): mode @mode, and
 * owner @uid:@gid unless @uid is -1.  The fd, or -1 with *err. */
int vj_serve_listen(const char *path, mode_t mode, uid_t uid, gid_t gid, struct vj_error **err);
/* The client of @fd: SO_PEERCRED into *cred and a pidfd (5 s socket timeouts
 * set).  0, or -1 with *err. */
int vj_serve_peer(int fd, struct ucred *cred, int *pidfd, struct vj_error **err);
/* "VJ1\0NAME\0" into @buf: *name, a valid VM name; 0, or -1 with *err. */
int vj_serve_read_request(int fd, char *buf, size_t size, const char **name, struct vj_error **err);
/* "OK\0MEMLOCK\0ID..." with the fds; 0, or -1. */
int vj_serve_send_ok(int fd, const struct vj_handoff *h);
void vj_serve_send_error(int fd, const struct vj_error *e);

/* teardown's part of the Kubernetes path (handoff.c): @name's hand-off
 * directory, socket, pid file and log go; a hand-off daemon still running is
 * stopped. */
int vj_handoff_remove(const char *state_dir, const char *name, struct vj_error **err);
