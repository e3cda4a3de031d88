/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting a VMM in a jail, shared by `run` and `enter`: its path and argv
 * (@fd:ID@ replaced), the iommufd contexts handed to it as fds 3.., the last
 * steps of the launch child (fds, environment, dropped privileges; its
 * RLIMIT_MEMLOCK is the apply engine's step before them, apply.h),
 * exec, and the supervisor that forwards signals and waits.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vfiojail/vfiojail.h"

#define VJ_VMM_FD_FIRST 3

struct vj_vmm {
	struct vj_plan *plan;  /* uid, gid, iommufd (accounting may be downgraded) */
	char *path;            /* argv[0] resolved in PATH          */
	char **argv;           /* with @fd:ID@ replaced             */
	char **env;            /* VFIOJAIL_FD_<ID>=N                */
	/* The VMM's whole environment, made before the child exists: ours, each
	 * VFIOJAIL_FD_<ID> of @env, and listen_env with listen_pid.  The launch
	 * child may share this process's memory (vj_child_run), so it changes no
	 * environ; it writes its pid into listen_env, which nothing else reads. */
	char **envp;
	char listen_env[32];   /* LISTEN_PID=<the VMM's pid> */
	/* The fds handed to the VMM after the launcher's: one per plan->iommufd,
	 * then one per hostdev handed as an fd (plan->hostdevs[].fd), spec order;
	 * -1 when not open.  ids[i] is fd i's @fd:ID@ (the plan's strings). */
	int *ctx_fds;
	const char **ids;
	size_t n_fds;
	bool contexts_only;    /* open the contexts, not the hostdevs' cdevs (contexts) */
	unsigned preserve;     /* launcher fds 3 .. 3+preserve-1, kept as they are */
	bool listen_pid;       /* set LISTEN_PID to the VMM's pid */
	bool keep_ids;         /* launch: already the VM's user, only no_new_privs */
	bool keep_privs;       /* contexts: the caller's own command, not even no_new_privs */
	/* The launch child: the signals ignored or caught, as /proc/self/status said
	 * when the dropped privileges were verified (sig_known), for the exec */
	bool sig_known;
	uint64_t sig_reset;
};

/* argv with @fd:ID@ replaced (contexts at
 * 3+preserve_fds..), VFIOJAIL_FD_<ID>, argv[0] found in PATH; a supervised VMM
 * may not -daemonize. */
int vj_vmm_prepare(struct vj_vmm *v, struct vj_plan *plan, const struct vj_run_opts *o,
		   struct vj_error **err);
/* Each of the launcher's fds 3 .. 3+@n-1 must be open, checked before vfiojail
 * opens anything: a closed one would be taken by vfiojail's next open() and
 * reach the VMM as something else. */
int vj_vmm_check_preserved(unsigned n, struct vj_error **err);
/* The ids of the fds @v hands over (contexts, then hostdev fds) from v->plan
 * into v->ids and v->n_fds; called by prepare and open_contexts. */
int vj_vmm_collect_ids(struct vj_vmm *v, struct vj_error **err);
/* The first fd number of the iommufd contexts. */
int vj_vmm_ctx_first(const struct vj_vmm *v);
/* The supervisor's copies of the launcher's fds: closed once the VMM has them. */
void vj_vmm_close_preserved(const struct vj_vmm *v);
/* Open each planned iommufd context under @dev_root (per-process accounting),
 * then, unless v->contexts_only, each hostdev handed as an fd: its cdev under
 * @dev_root, O_RDWR, checked by fstat to be the char device sysfs named for it
 * (125 naming the node otherwise). */
int vj_vmm_open_contexts(struct vj_vmm *v, const char *dev_root, bool best_effort,
			 void (*warn)(const char *msg, void *userdata), void *userdata,
			 struct vj_error **err);
void vj_vmm_close_contexts(struct vj_vmm *v);
void vj_vmm_free(struct vj_vmm *v);

/* In the launch child, once it is in the jail's namespace and cgroup and has its
 * RLIMIT_MEMLOCK (VJ_STEP_VMM_MEMLOCK): fds 3.. (and *errfd moved right after
 * them), LISTEN_PID, dropped privileges.  It writes nothing of @v that the
 * parent reads: v->ctx_fds keep the parent's numbers (the child may share the
 * parent's memory, vj_child_run). */
int vj_vmm_child_finish(struct vj_vmm *v, int *errfd, struct vj_error **err);
/* Reset signals to their defaults and @mask, execve with v->envp; returns only
 * on failure. */
int vj_vmm_exec(struct vj_vmm *v, const sigset_t *mask, struct vj_error **err);


/* Block SIGCHLD and the forwarded signals into @set (old mask in @old); without
 * @exec their dispositions are reset so that sigwaitinfo sees them. */
void vj_vmm_block_signals(bool exec, sigset_t *set, sigset_t *old);

/*
 * Start the launch child (vj_child_run, VJ_CHILD_EXEC: in a single-threaded
 * process it shares this one's memory until it execs): @join(@userdata) puts it
 * in the jail, then vj_vmm_child_finish and exec.  With @forked, the VMM's pid
 * is recorded first by @forked(pid, @userdata), in the child before it goes on
 * (or in the parent, the child waiting): on failure the child exits without
 * exec and the error is returned.  The parent then waits until the exec
 * happened (or returns the child's error), closes its copies of the contexts,
 * calls @started(pid, @userdata) and supervises: the VMM's status (128 + signal).
 */
int vj_vmm_start_supervised(struct vj_vmm *v, int (*join)(void *userdata, struct vj_error **err),
			    int (*forked)(pid_t pid, void *userdata, struct vj_error **err),
			    void (*started)(pid_t pid, void *userdata), void *userdata,
			    const sigset_t *old, const sigset_t *set, struct vj_error **err);
