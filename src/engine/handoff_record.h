/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The record of a VM's hand-off daemon: STATE_DIR/handoff/NAME.pid (handoff_record.c). */
#pragma once

#include <stdbool.h>

#include "vfiojail/vfiojail.h"

/* The longest container id kept in the record. */
#define CONTAINER_ID_MAX 1024
/* How long poststop and teardown wait for a daemon to end, after SIGTERM and
 * again after SIGKILL. */
#define STOP_WAIT_MS 5000

/* @fd is still the file at @path (not one removed since). */
bool vj_handoff_record_still_at(int fd, const char *path);

/*
 * Open @path (made, mode 0600, when missing) and try its lock without waiting:
 * 1 taken, 0 another process holds it (a daemon lives; *fd is open, to read its
 * record), -1 with errno.  *fd is the file at @path: a lock on one removed
 * meanwhile (by its last holder) would lock nothing, and is tried again.
 */
int vj_handoff_record_lock(const char *path, int *fd_out);

/* This process is the daemon: its pid, start time and container (NULL: vfiojail
 * handoff's own), in @fd.  0, or -1 with errno. */
int vj_handoff_record_write(int fd, const char *container);

/* The lock of @fd is another's: the error that names the hand-off that holds it
 * (@container: the one refused, or NULL).  Always -1. */
int vj_handoff_busy(const char *name, int fd, const char *container, struct vj_error **err);

/*
 * End the hand-off daemon of VM @name if it is @container's (NULL: whoever's),
 * then remove what a daemon that is gone left (its socket, its record).  The
 * daemon is signalled only through a pidfd whose process has the record's pid
 * and start time, while its lock is held: a process that got its pid since is
 * never signalled.  Another container's hand-off is left alone.
 */
int vj_handoff_end(const char *name, const char *state_dir, const char *container, struct vj_error **err);

/* Teardown's part: end the VM's hand-off, then remove its directory and log
 * (absent is fine). */
int vj_handoff_remove(const char *state_dir, const char *name, struct vj_error **err);
