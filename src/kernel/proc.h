/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * /proc/PID readers: the one parser of /proc/PID/status (ids and VmLck), and
 * RLIMIT_MEMLOCK from /proc/PID/limits.  By pid: what is read may be another
 * process's once the pid is reused; pidfd.h reads through a checked /proc
 * directory where that matters.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The ids of a process, as /proc/PID/status gives them. */
struct vj_proc_ids {
	uid_t ruid, euid, suid, fsuid;
	gid_t rgid, egid, sgid, fsgid;
};

/* What vfiojail reads of /proc/PID/status. */
struct vj_proc_status {
	struct vj_proc_ids ids;
	pid_t ppid;      /* PPid: 0 when the parent is outside this pid namespace */
	uint64_t locked; /* VmLck in bytes; 0 where the line is absent (a kernel thread) */
	/* The capability sets (CapInh, CapPrm, CapEff, CapBnd, CapAmb), the ignored
	 * and caught signals (SigIgn, SigCgt) and NoNewPrivs: valid when has_caps
	 * (every one of these lines was there: CapAmb since Linux 4.3). */
	bool has_caps;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint64_t sig_ign, sig_cgt;
	bool no_new_privs;
};

/* Parse the text of a /proc/PID/status file: 0, or -1 with errno EPROTO when
 * its Uid:, Gid: or PPid: line is missing or short. */
int vj_proc_status_parse(const char *text, struct vj_proc_status *out);

/* /proc/PID/status of @pid: 0, or -1 with errno. */
int vj_proc_status(pid_t pid, struct vj_proc_status *out);
/* /proc/self/status, the file checked to be procfs's (the kernel's word on this
 * process, not a file someone put there).  0, or -1 with errno. */
int vj_proc_status_self(struct vj_proc_status *out);

/* VmLck of /proc/PID/status in bytes (0 when gone). */
uint64_t vj_proc_locked(pid_t pid);

/* RLIMIT_MEMLOCK of any process, from /proc/PID/limits (UINT64_MAX =
 * unlimited): prlimit(2) on another user's process needs CAP_SYS_RESOURCE,
 * reading this file does not.  0, or -1 when the process is gone. */
int vj_proc_memlock(pid_t pid, uint64_t *soft, uint64_t *hard);
