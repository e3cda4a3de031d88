/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The node's half of the Kubernetes path (vfiojail.h, vj_handoff_serve): one
 * VM's iommufd contexts, opened here with per-process accounting, go to one
 * process of the VM's container, once, within a time limit.  The pod's half is
 * `vfiojail launch` (vj_launch), which speaks the launch service's protocol.
 *
 * A client is checked, in order: it asks for this VM by name; its SO_PEERCRED
 * uid and gid are the VM's; it is in the container's pid namespace (the
 * container's init, known by a pidfd, is the reference) and in the container's
 * cgroup2 subtree; the contexts were not handed out before.  Anything else is
 * refused with the reason, which is also logged with the peer.
 */
#include <errno.h>
#include <json-c/json.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cdi.h"
#include "child.h"
#include "cgroup.h"
#include "error.h"
#include "memlock.h"
#include "jread.h"
#include "name.h"
#include "rlimit.h"
#include "state.h"
#include "sysfs.h"
#include "serve.h"
#include "pidfd.h"
#include "util.h"
#include "vmm.h"

struct handoff {
	const struct vj_handoff_opts *o;
	const struct vj_spec *spec;
	struct vj_plan *plan;
	struct vj_vmm vmm;        /* the contexts (vmm.ctx_fds) */
	struct stat pidns;        /* the container's pid namespace */
	char *cgroup;             /* the container's cgroup2 path, NULL when not known */
	pid_t given;              /* the client that has the contexts, 0 before */
};

static void say(const struct handoff *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct handoff *h, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!h->o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->o->log(msg, h->o->run.userdata);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pidns_of(pid_t pid, struct stat *st)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	return stat(path, st);
}

/* @cg is @top or below it. */
static bool cgroup_within(const char *cg, const char *top)
{
	size_t n = strlen(top);

	if (!strcmp(top, "/"))
		return true;
	return !strncmp(cg, top, n) && (cg[n] == '\0' || cg[n] == '/');
}

/* The checks of one client; 0 when it may have the contexts. */
static int check_client(struct handoff *h, const struct ucred *cred, const char *name,
			struct vj_error **err)
{
	_cleanup_free_ char *cg = NULL;
	struct stat ns;

	if (strcmp(name, h->spec->name) != 0)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "handoff", name, NULL,
			      "this socket hands over VM %s only", h->spec->name);
	if (cred->uid != h->plan->uid || cred->gid != h->plan->gid)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "handoff", name,
			      "run the launcher as the VM's user and group",
			      "uid %u gid %u is not the VM's user (uid %u gid %u)", (unsigned)cred->uid,
			      (unsigned)cred->gid, (unsigned)h->plan->uid, (unsigned)h->plan->gid);
	if (pidns_of(cred->pid, &ns) < 0 || ns.st_dev != h->pidns.st_dev || ns.st_ino != h->pidns.st_ino)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "handoff", name, NULL,
			      "the client is not in the container's pid namespace");
	if (h->cgroup && (vj_cgroup_of_pid(cred->pid, &cg, NULL) < 0 || !cgroup_within(cg, h->cgroup)))
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "handoff", name, NULL,
			      "the client's cgroup %s is not the container's (%s)", cg ? cg : "(unknown)",
			      h->cgroup);
	if (h->given)
		return vj_err(err, VJ_EXIT_DENIED, EALREADY, "handoff", name, NULL,
			      "the contexts were handed to pid %d already: one client, once", (int)h->given);
	return 0;
}

static void serve_one(struct handoff *h, int fd)
{
	struct ucred cred = { 0 };
	struct vj_handoff out = { 0 };
	struct vj_error *e = NULL;
	const char *name = NULL;
	char buf[4096];
	int pidfd = -1;

	if (vj_serve_peer(fd, &cred, &pidfd, &e) < 0 ||
	    vj_serve_read_request(fd, buf, sizeof(buf), &name, &e) < 0 || check_client(h, &cred, name, &e) < 0)
		goto refuse;
	out.n = h->plan->n_iommufd;
	out.fds = h->vmm.ctx_fds;
	out.ids = calloc(out.n + 1, sizeof(char *));
	if (!out.ids) {
		vj_err(&e, VJ_EXIT_SETUP, ENOMEM, "handoff", name, NULL, "out of memory");
		goto refuse;
	}
	for (size_t i = 0; i < out.n; i++)
		out.ids[i] = h->plan->iommufd[i].id;
	out.memlock = h->plan->memlock;
	if (vj_serve_send_ok(fd, &out) < 0) {
		say(h, "VM %s: the answer to pid %d could not be sent: %s", h->spec->name, (int)cred.pid,
		    strerror(errno));
	} else {
		h->given = cred.pid;
		/* The client has them now; this process keeps none. */
		vj_vmm_close_contexts(&h->vmm);
		say(h, "VM %s: %zu iommufd context(s) handed to pid %d (uid %u gid %u)", h->spec->name,
		    out.n, (int)cred.pid, (unsigned)cred.uid, (unsigned)cred.gid);
	}
	free(out.ids);
	goto out;
refuse:
	say(h, "VM %s: refused pid %d (uid %u gid %u): %s", h->spec->name, (int)cred.pid, (unsigned)cred.uid,
	    (unsigned)cred.gid, e && e->message ? e->message : "refused");
	vj_serve_send_error(fd, e);
out:
	if (pidfd >= 0)
		close(pidfd);
	vj_error_free(e);
}

/* The reference: the container's init, its pid namespace and cgroup. */
static int reference(struct handoff *h, struct vj_error **err)
{
	pid_t pid = h->o->container_pid;
	int pidfd;

	if (pid <= 0)
		return vj_err(err, VJ_EXIT_USAGE, EINVAL, "handoff", "--pid", NULL,
			      "the container's process is needed: clients must share its pid namespace");
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 || pidns_of(pid, &h->pidns) < 0) {
		int e = errno;
		if (pidfd >= 0)
			close(pidfd);
		return vj_err(err, VJ_EXIT_SETUP, e, "handoff", "--pid", NULL, "the container's process %d is gone",
			      (int)pid);
	}
	/* A cgroup2 path of the container narrows the clients further; a host
	 * without one leaves the pid namespace as the check. */
	if (vj_cgroup_of_pid(pid, &h->cgroup, NULL) < 0)
		h->cgroup = NULL;
	/* Read while the pidfd held the process: the pid named it. */
	if (vj_pidfd_alive(pidfd) <= 0) {
		close(pidfd);
		return vj_err(err, VJ_EXIT_SETUP, ESRCH, "handoff", "--pid", NULL,
			      "the container's process %d exited", (int)pid);
	}
	close(pidfd);
	return 0;
}

int vj_handoff_serve(const struct vj_spec *spec, const struct vj_handoff_opts *o, struct vj_error **err)
{
	struct handoff h = { .o = o, .spec = spec };
	unsigned timeout = o->timeout_s ? o->timeout_s : VJ_HANDOFF_TIMEOUT_S;
	_cleanup_close_ int lfd = -1, sfd = -1;
	int64_t deadline;
	sigset_t mask, old;
	bool stopped = false;
	int r = -1;

	_cleanup_free_ char *dir = NULL, *own_sock = NULL;
	const char *sock = o->socket_path;

	if (!sock) { /* the VM's hand-off directory, as the CDI spec mounts it */
		if (vj_handoff_prepare(spec->name, &o->run, err) < 0)
			return -1;
		dir = vj_handoff_dir(o->run.state_dir, spec->name);
		if (!dir || !(own_sock = vj_path_join(dir, VJ_HANDOFF_SOCKET_NAME)))
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "handoff", spec->name, NULL, "out of memory");
		sock = own_sock;
	}
	if (vj_plan_build(spec, &o->run.plan, &h.plan, err) < 0)
		return -1;
	for (size_t i = 0; i < h.plan->n_warnings; i++)
		say(&h, "warning: %s", h.plan->warnings[i]);
	h.vmm.plan = h.plan;
	/* The contexts first: one that cannot be per-process stops the container
	 * from starting (fail closed), unless best effort was asked for. */
	if (reference(&h, err) < 0 ||
	    vj_vmm_open_contexts(&h.vmm, vj_root_dev(&o->run.plan.roots), o->run.iommufd_best_effort,
				 o->run.warn, o->run.userdata, err) < 0)
		goto out;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	lfd = sfd < 0 ? -1 : vj_serve_listen(sock, 0600, h.plan->uid, h.plan->gid, err);
	if (sfd < 0 && err && !*err)
		vj_err(err, VJ_EXIT_SETUP, errno, "handoff", NULL, NULL, "signalfd");
	if (lfd < 0)
		goto unblock;
	say(&h, "VM %s: %zu iommufd context(s) wait on %s for %u s (uid %u gid %u, pid namespace of pid %d%s%s)",
	    spec->name, h.plan->n_iommufd, sock, timeout, (unsigned)h.plan->uid,
	    (unsigned)h.plan->gid, (int)o->container_pid, h.cgroup ? ", cgroup " : "", h.cgroup ? h.cgroup : "");
	if (o->ready_fd >= 0)
		close(o->ready_fd);
	deadline = now_ms() + (int64_t)timeout * 1000;
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = lfd, .events = POLLIN } };

		if (left <= 0)
			break;
		if (poll(p, 2, (int)(left > 1000000 ? 1000000 : left)) < 0) {
			if (errno == EINTR)
				continue;
			vj_err(err, VJ_EXIT_SETUP, errno, "handoff", NULL, NULL, "poll");
			goto unlink;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				say(&h, "VM %s: signal %u received, the hand-off ends", spec->name, si.ssi_signo);
			stopped = true;
			break;
		}
		if (p[1].revents & POLLIN) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0) {
				serve_one(&h, c);
				close(c);
			}
		}
	}
	if (h.given) {
		r = 0;
	} else if (stopped) {
		vj_err(err, VJ_EXIT_FAIL, EINTR, "handoff", spec->name, NULL,
		       "stopped before a client took the contexts");
	} else {
		say(&h, "VM %s: no client took the contexts within %u s", spec->name, timeout);
		vj_err(err, VJ_EXIT_FAIL, ETIMEDOUT, "handoff", spec->name, NULL,
		       "no client took the contexts within %u s", timeout);
	}
unlink:
	unlink(sock);
unblock:
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	h.vmm.plan = NULL;
	vj_vmm_free(&h.vmm);
	vj_plan_free(h.plan);
	free(h.cgroup);
	return r;
}

/* ------------------------------------------------------------------------- */
/* The CDI hooks                                                              */

int vj_handoff_prepare(const char *name, const struct vj_run_opts *o, struct vj_error **err)
{
	_cleanup_free_ char *dir = NULL, *top = NULL;
	int dirfd;

	if (vj_validate_name(name, "name", err) < 0)
		return -1;
	dir = vj_handoff_dir(o->state_dir, name);
	top = dir ? vj_path_parent(dir, 1) : NULL;
	if (!dir || !top)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "handoff", name, NULL, "out of memory");
	/* The state dir, checked as every command checks it (root's, 0700). */
	dirfd = vj_state_dir_open(o->state_dir, err);
	if (dirfd < 0)
		return -1;
	close(dirfd);
	if ((mkdir(top, 0755) < 0 && errno != EEXIST) || (mkdir(dir, 0755) < 0 && errno != EEXIST))
		return vj_err(err, VJ_EXIT_SETUP, errno, "handoff", dir, NULL,
			      "cannot create the VM's hand-off directory");
	return 0;
}

/* The container's process from the OCI state: {"pid": N, ...}. */
static int oci_state_pid(FILE *f, pid_t *pid, char **id, struct vj_error **err)
{
	char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	json_object *o, *v;
	int64_t p;

	buf[n] = '\0';
	o = json_tokener_parse(buf);
	if (!o || vj_jr_int(o, "pid", 1, INT32_MAX, &p) < 0) {
		json_object_put(o);
		return vj_err(err, VJ_EXIT_USAGE, EINVAL, "hook", "stdin",
			      "the container runtime writes the OCI state there for each hook",
			      "no OCI state with the container's pid on standard input");
	}
	*pid = (pid_t)p;
	*id = json_object_object_get_ex(o, "id", &v) && json_object_is_type(v, json_type_string)
		      ? strdup(json_object_get_string(v))
		      : NULL;
	json_object_put(o);
	return 0;
}

/* The daemon's log: one line each, with the time. */
static void log_line(const char *msg, void *userdata)
{
	time_t t = time(NULL);
	struct tm tm;
	char when[32];

	(void)userdata;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	fprintf(stderr, "%s vfiojail handoff: %s\n", when, msg);
	fflush(stderr);
}

static void log_warning(const char *msg, void *userdata)
{
	char line[1100];

	snprintf(line, sizeof(line), "warning: %s", msg);
	log_line(line, userdata);
}

/* The forked daemon: its own session, stdio on the log, then the hand-off. */
static _Noreturn void daemon_main(const struct vj_spec *spec, struct vj_handoff_opts *ho, const char *log)
{
	struct vj_error *e = NULL;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC), lfd;

	setsid();
	lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	/* The runtime waits for the hook's stdout and stderr to close. */
	if (fd < 0 || lfd < 0 || dup2(fd, 0) < 0 || dup2(lfd, 1) < 0 || dup2(lfd, 2) < 0) {
		vj_err(&e, VJ_EXIT_SETUP, errno, "handoff", log, NULL, "cannot open the hand-off log");
		vj_child_send_error(ho->ready_fd, e);
		_exit(VJ_EXIT_SETUP);
	}
	ho->log = log_line;
	ho->run.warn = log_warning;
	if (vj_handoff_serve(spec, ho, &e) < 0) {
		/* Before the socket listened, the hook hears why; later, the log does. */
		vj_child_send_error(ho->ready_fd, e);
		log_line(e && e->message ? e->message : "the hand-off failed", NULL);
		_exit(e ? e->status : VJ_EXIT_SETUP);
	}
	_exit(0);
}

int vj_cdi_hook_create_runtime(const struct vj_spec *spec, const struct vj_run_opts *o,
			       unsigned timeout_s, FILE *oci_state, struct vj_error **err)
{
	_cleanup_free_ char *dir = vj_handoff_dir(o->state_dir, spec->name), *id = NULL;
	_cleanup_free_ char *sock = NULL, *log = NULL, *pidfile = NULL;
	struct vj_handoff_opts ho = { .run = *o, .timeout_s = timeout_s };
	struct vj_plan *plan = NULL;
	uint64_t soft, hard, want;
	int pipefd[2];
	pid_t pid, child;
	FILE *pf;
	int r;

	if (!dir || !(sock = vj_path_join(dir, VJ_HANDOFF_SOCKET_NAME)) ||
	    !(log = vj_strdupf("%s.log", dir)) || !(pidfile = vj_strdupf("%s.pid", dir)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "hook", spec->name, NULL, "out of memory");
	if (oci_state_pid(oci_state, &pid, &id, err) < 0 || vj_handoff_prepare(spec->name, o, err) < 0 ||
	    vj_plan_build(spec, &o->plan, &plan, err) < 0)
		return -1;
	/* The container's process, and so the VMM it will exec, gets the plan's
	 * limit; a hard limit above the current one needs CAP_SYS_RESOURCE. */
	want = vj_memlock_plan_limit(&plan->memlock);
	r = 0;
	if (!plan->memlock.unchanged) {
		if (vj_proc_memlock(pid, &soft, &hard) < 0)
			r = vj_err(err, VJ_EXIT_SETUP, ESRCH, "memlock", "pid", NULL,
				   "the container's process %d is gone", (int)pid);
		else
			r = vj_rlimit_memlock_set_pid(pid, want, want, hard, err);
	}
	vj_plan_free(plan);
	if (r < 0)
		return -1;
	ho.socket_path = sock;
	ho.container_pid = pid;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "hook", NULL, NULL, "pipe");
	child = fork();
	if (child < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return vj_err(err, VJ_EXIT_SETUP, errno, "hook", NULL, NULL, "cannot fork the hand-off");
	}
	if (child == 0) {
		close(pipefd[0]);
		ho.ready_fd = pipefd[1];
		daemon_main(spec, &ho, log);
	}
	close(pipefd[1]);
	r = vj_child_recv_error(pipefd[0], err);
	close(pipefd[0]);
	if (r < 0) {
		int status;
		waitpid(child, &status, 0);
		return vj_err_wrap(err, "hook", spec->name, "the container does not start: its hand-off cannot be served");
	}
	pf = fopen(pidfile, "we");
	if (pf) {
		fprintf(pf, "%d\n", (int)child);
		fclose(pf);
	}
	return 0;
}

/* The daemon of @pidfile, when it still is one of ours. */
static pid_t daemon_pid(const char *pidfile)
{
	_cleanup_free_ char *buf = NULL, *comm = NULL, *path = NULL;
	long pid;

	if (vj_read_file(pidfile, 64, &buf) < 0 || (pid = strtol(buf, NULL, 10)) <= 1)
		return 0;
	path = vj_strdupf("/proc/%ld/comm", pid);
	if (!path || vj_read_file(path, 64, &comm) < 0 || strncmp(comm, "vfiojail", 8) != 0)
		return 0;
	return (pid_t)pid;
}

int vj_cdi_hook_poststop(const char *name, const struct vj_run_opts *o, struct vj_error **err)
{
	_cleanup_free_ char *dir = vj_handoff_dir(o->state_dir, name), *sock = NULL, *pidfile = NULL;
	pid_t pid;

	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	if (!dir || !(sock = vj_path_join(dir, VJ_HANDOFF_SOCKET_NAME)) ||
	    !(pidfile = vj_strdupf("%s.pid", dir)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "hook", name, NULL, "out of memory");
	pid = daemon_pid(pidfile);
	if (pid > 0)
		kill(pid, SIGTERM); /* it removes its socket */
	for (int i = 0; pid > 0 && i < 100 && kill(pid, 0) == 0; i++)
		usleep(10000);
	unlink(sock);
	unlink(pidfile);
	return 0;
}

/* teardown's part: the hand-off directory, socket, pid file and log of @name. */
int vj_handoff_remove(const char *state_dir, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *dir = vj_handoff_dir(state_dir, name), *log = NULL, *top = NULL;
	struct vj_run_opts o = { .state_dir = state_dir };

	if (!dir || !(log = vj_strdupf("%s.log", dir)) || !(top = vj_path_parent(dir, 1)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "handoff", name, NULL, "out of memory");
	vj_cdi_hook_poststop(name, &o, NULL);
	unlink(log);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return vj_err(err, VJ_EXIT_SETUP, errno, "handoff", dir, "something else is in it: look at it",
			      "cannot remove the VM's hand-off directory");
	(void)rmdir(top); /* while other VMs have one, it stays */
	return 0;
}
