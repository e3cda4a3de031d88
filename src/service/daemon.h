/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A root service's process without systemd (`vfiojail serve --daemon`): its
 * detachment, its pid file and its log lines.
 */
#pragma once

#include <stdbool.h>

#include "vfiojail/vfiojail.h"

/*
 * One log line on stderr: "2026-12-07T05:43:43Z vfiojail WHO: MSG", the time in
 * UTC to the second, as every daemon of vfiojail logs (serve, the hand-off).  The
 * time is left out when stderr is systemd's journal (JOURNAL_STREAM names it),
 * which stamps each line itself.
 */
void vj_log_line(const char *who, const char *msg);

/*
 * The pid file @path, opened (no symlink followed, created 0644) and locked
 * (flock, held by this open file and so by a forked daemon) before the service
 * listens: a second service given the same file is refused (VJ_EXIT_SETUP,
 * naming the pid the file holds).  The fd, or -1 with *err.
 */
int vj_pidfile_lock(const char *path, struct vj_error **err);
/* Write this process's pid into the locked file (once the service listens). */
int vj_pidfile_write(int fd, const char *path, struct vj_error **err);
/* Remove the file, if @path still is the file @fd locked; close @fd. */
void vj_pidfile_remove(int fd, const char *path);

/*
 * Detach from the caller: fork; the child starts a session of its own, with
 * stdin on /dev/null, stdout and stderr appended to @log (opened here, before
 * the fork: created 0640, no symlink followed) and "/" as its directory, and
 * returns 0 with *ready_fd, the pipe to its parent: it calls vj_daemon_ready
 * once it serves, or vj_daemon_failed.  The parent waits for that word and
 * returns 1 once the child is ready (it exits 0 then), or -1 with the child's
 * error (also when it died without a word).  -1 with *err when it cannot fork
 * or open @log.
 */
int vj_daemon_detach(const char *log, int *ready_fd, struct vj_error **err);
void vj_daemon_ready(int *ready_fd);
void vj_daemon_failed(int *ready_fd, const struct vj_error *e);
