/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pidfds: a process named by a file descriptor, never by a number that may be
 * reused.  Every root action on another process goes through one of these.
 *
 * A pid names a process only while that process has not been reaped; a pidfd
 * names it for as long as the fd is open.  The rule this module follows: read
 * or act through the pid, then check the pidfd still names a live process.  A
 * live process kept its pid, so what was read (or done) was that process's.
 *
 * /proc/PID is read through a directory fd opened that way (vj_pidfd_procdir):
 * once the check passed, every file read through the fd is that process's, or
 * fails with ESRCH when it has exited since; it never becomes another's.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proc.h" /* struct vj_proc_ids */
#include "vfiojail/vfiojail.h"

/* pidfd_open(@pid): the fd, or -1 with errno. */
int vj_pidfd_open(pid_t pid);

/* The pidfd of a unix socket's peer, taken by the kernel when the peer called
 * connect() (SO_PEERPIDFD, Linux 6.5): the fd, or -1 with errno (ENOPROTOOPT on
 * an older kernel, ESRCH when the peer has been reaped). */
int vj_pidfd_of_peer(int sockfd);

/* The pid of @pidfd's process in this process's pid namespace: > 0, 0 when it
 * has exited (or is not visible here), -1 with errno. */
pid_t vj_pidfd_pid(int pidfd);

/* 1: the process of @pidfd has not been reaped, 0: it has, -1: error. */
int vj_pidfd_alive(int pidfd);

/* An O_DIRECTORY fd of /proc/PID for @pidfd's process (checked as the header
 * says), or -1 with errno (ESRCH: it has exited). */
int vj_pidfd_procdir(int pidfd);

/* Its /proc/PID/status (ids, parent, VmLck), or only its ids, read through
 * vj_pidfd_procdir: 0, or -1 with errno. */
int vj_pidfd_status(int pidfd, struct vj_proc_status *st);
int vj_pidfd_ids(int pidfd, struct vj_proc_ids *ids);

/* Its start time (clock ticks after boot, /proc/PID/stat field 22): together
 * with a pid, what names a process in a file that outlives it. */
int vj_pidfd_starttime(int pidfd, uint64_t *ticks);

/* 1: @pidfd's process runs; 0: it has exited (a zombie not reaped yet, or
 * reaped); -1 with errno: cannot tell. */
int vj_pidfd_running(int pidfd);

/* The start time of the process that has pid @pid now: 0, or -1 with errno. */
int vj_pid_starttime(pid_t pid, uint64_t *ticks);

/* Whether every uid of @ids is @uid and every gid is @gid: a process that has
 * exec'd a setuid or setgid program since, or changed its ids, fails. */
bool vj_proc_ids_are(const struct vj_proc_ids *ids, uid_t uid, gid_t gid);

/* pidfd_send_signal: 0, or -1 with errno. */
int vj_pidfd_signal(int pidfd, int sig);

/* Wait until @pidfd's process exits, at most @timeout_ms: 1 exited, 0 not yet,
 * -1 with errno. */
int vj_pidfd_wait_exit(int pidfd, int timeout_ms);

/* The process of pid @pid if it is still the one that started at @starttime:
 * its pidfd, or -1 (ESRCH: gone, or the pid is another process's now). */
int vj_pidfd_open_checked(pid_t pid, uint64_t starttime);
