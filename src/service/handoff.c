/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The node's half of the Kubernetes path (vfiojail.h, vj_handoff_serve): one
 * VM's iommufd contexts, opened here with per-process accounting, go to one
 * process of the VM's container, once, within a time limit.  The pod's half is
 * `vfiojail launch` (vj_launch), which speaks the launch service's protocol.
 *
 * A client is the process that connected, named by the pidfd the kernel took at
 * connect() (SO_PEERPIDFD), never by its pid: another process may hold that
 * number by the time it is read.  It is checked, in order: it asks for this VM
 * by name; its SO_PEERCRED uid and gid are the VM's; it is in the container's
 * pid namespace (the container's init, known by a pidfd, is the reference) and
 * in the container's cgroup2 subtree, both read through its own /proc directory
 * (vj_pidfd_procdir); the contexts were not handed out before; and when they are
 * sent, its real, effective, saved and filesystem ids are all the VM's and it
 * still lives.  Anything else is refused with the reason, which is also logged
 * with the peer.
 *
 * One hand-off per VM at a time: STATE_DIR/handoff/NAME.pid records its daemon
 * (pid, start time, container id) and is its lock, held (flock) for the
 * daemon's whole life.  A second container's createRuntime hook finds the lock
 * taken and is refused; poststop ends only its own container's daemon, and
 * poststop and teardown signal it only through a pidfd that matches the
 * record's start time, while the lock is held.
 */
#include <errno.h>
#include <json-c/json.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "cdi.h"
#include "child.h"
#include "daemon.h"
#include "cgroup.h"
#include "error.h"
#include "jbuf.h"
#include "memlock.h"
#include "jread.h"
#include "name.h"
#include "state.h"
#include "sysfs.h"
#include "handoff_record.h"
#include "wire.h"
#include "pidfd.h"
#include "util.h"
#include "vmm.h"

/* A client has this long for each message. */
#define CLIENT_TIMEOUT_S 5
/* The OCI state on a hook's stdin is read whole up to this (CRI-O passes the
 * pod's annotations through it); vfiojail(1) says so. */
#define OCI_STATE_MAX ((size_t)16 << 20)

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

/* @cg is @top or below it. */
static bool cgroup_within(const char *cg, const char *top)
{
	size_t n = strlen(top);

	if (!strcmp(top, "/"))
		return true;
	return !strncmp(cg, top, n) && (cg[n] == '\0' || cg[n] == '/');
}

static int client_exited(const char *name, struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_DENIED, ESRCH, "handoff", name,
		      "the process that connects must be the one that asks",
		      "the process that connected has exited: the contexts go to that process only");
}

/* The client of @fd: its SO_PEERCRED, and the pidfd of the process that
 * connected, taken by the kernel at connect().  Nothing is looked up by pid. */
static int client_of(int fd, struct ucred *cred, int *pidfd, struct vj_error **err)
{
	socklen_t len = sizeof(*cred);
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };

	*pidfd = -1;
	memset(cred, 0, sizeof(*cred));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "handoff", NULL, NULL, "cannot tell who the client is");
	*pidfd = vj_pidfd_of_peer(fd);
	if (*pidfd >= 0)
		return 0;
	if (errno == ENOPROTOOPT)
		return vj_err(err, VJ_EXIT_SETUP, errno, "handoff", "SO_PEERPIDFD",
			      "the hand-off needs Linux 6.5 or later",
			      "this kernel cannot name the client by a pidfd (SO_PEERPIDFD), and a pid "
			      "names no process for sure: the hand-off refuses every client");
	return client_exited(NULL, err);
}

/* The checks of one client, @pidfd the process that connected; 0 when it may
 * have the contexts. */
static int check_client(struct handoff *h, int pidfd, const struct ucred *cred, const char *name,
			struct vj_error **err)
{
	_cleanup_free_ char *cg = NULL;
	_cleanup_close_ int dfd = -1;
	struct stat ns;

	if (strcmp(name, h->spec->name) != 0)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "handoff", name, NULL,
			      "this socket hands over VM %s only", h->spec->name);
	if (cred->uid != h->plan->uid || cred->gid != h->plan->gid)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "handoff", name,
			      "run the launcher as the VM's user and group",
			      "uid %u gid %u is not the VM's user (uid %u gid %u)", (unsigned)cred->uid,
			      (unsigned)cred->gid, (unsigned)h->plan->uid, (unsigned)h->plan->gid);
	/* Its own /proc directory: its namespace and cgroup, or ESRCH once it has
	 * exited, never those of a process that got its pid since. */
	dfd = vj_pidfd_procdir(pidfd);
	if (dfd < 0)
		return client_exited(name, err);
	if (fstatat(dfd, "ns/pid", &ns, 0) < 0 || ns.st_dev != h->pidns.st_dev || ns.st_ino != h->pidns.st_ino)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "handoff", name, NULL,
			      "the client is not in the container's pid namespace");
	if (h->cgroup && (vj_cgroup_of_pidfd(pidfd, &cg, NULL) < 0 || !cgroup_within(cg, h->cgroup)))
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "handoff", name, NULL,
			      "the client's cgroup %s is not the container's (%s)", cg ? cg : "(unknown)",
			      h->cgroup);
	if (h->given)
		return vj_err(err, VJ_EXIT_DENIED, EALREADY, "handoff", name, NULL,
			      "the contexts were handed to pid %d already: one client, once", (int)h->given);
	return 0;
}

/* At the moment of handing over: every id of the client is the VM's (none
 * changed since connect(): no setuid or setgid program exec'd), and it still
 * lives, so the ids read were its own. */
static int check_ids_now(struct handoff *h, int pidfd, const char *name, struct vj_error **err)
{
	struct vj_proc_ids ids;

	if (vj_pidfd_ids(pidfd, &ids) < 0)
		return client_exited(name, err);
	if (!vj_proc_ids_are(&ids, h->plan->uid, h->plan->gid))
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "handoff", name,
			      "run the launcher as the VM's user and group, and no setuid or setgid program",
			      "the client's ids are not all the VM's (uid %u gid %u): real, effective, saved, "
			      "filesystem uid %u %u %u %u, gid %u %u %u %u",
			      (unsigned)h->plan->uid, (unsigned)h->plan->gid, (unsigned)ids.ruid,
			      (unsigned)ids.euid, (unsigned)ids.suid, (unsigned)ids.fsuid, (unsigned)ids.rgid,
			      (unsigned)ids.egid, (unsigned)ids.sgid, (unsigned)ids.fsgid);
	if (vj_pidfd_alive(pidfd) <= 0)
		return client_exited(name, err);
	return 0;
}

static void serve_one(struct handoff *h, int fd)
{
	struct ucred cred = { 0 };
	struct vj_handoff out = { 0 };
	struct vj_error *e = NULL;
	const char *name = NULL;
	char buf[4096];
	_cleanup_close_ int pidfd = -1;

	if (client_of(fd, &cred, &pidfd, &e) < 0 ||
	    vj_serve_read_request(fd, buf, sizeof(buf), &name, &e) < 0 ||
	    check_client(h, pidfd, &cred, name, &e) < 0)
		goto refuse;
	out.n = h->vmm.n_fds; /* the contexts, then the hostdevs handed as fds */
	out.fds = h->vmm.ctx_fds;
	out.ids = calloc(out.n + 1, sizeof(char *));
	if (!out.ids) {
		vj_err(&e, VJ_EXIT_SETUP, ENOMEM, "handoff", name, NULL, "out of memory");
		goto refuse;
	}
	for (size_t i = 0; i < out.n; i++)
		out.ids[i] = (char *)h->vmm.ids[i];
	out.memlock = h->plan->memlock;
	out.memlock_exact = h->spec->memlock.mode == VJ_MEMLOCK_HARD; /* as launch's (serve.h) */
	if (check_ids_now(h, pidfd, name, &e) < 0) {
		free(out.ids);
		goto refuse;
	}
	if (vj_serve_send_ok(fd, &out) < 0) {
		say(h, "VM %s: the answer to pid %d could not be sent: %s", h->spec->name, (int)cred.pid,
		    strerror(errno));
	} else {
		h->given = cred.pid;
		/* The client has them now; this process keeps none. */
		vj_vmm_close_contexts(&h->vmm);
		say(h, "VM %s: %zu iommufd context(s) handed to pid %d (uid %u gid %u), and %zu hostdev fd(s)",
		    h->spec->name, h->plan->n_iommufd, (int)cred.pid, (unsigned)cred.uid, (unsigned)cred.gid,
		    out.n - h->plan->n_iommufd);
	}
	free(out.ids);
	goto out;
refuse:
	say(h, "VM %s: refused pid %d (uid %u gid %u): %s", h->spec->name, (int)cred.pid, (unsigned)cred.uid,
	    (unsigned)cred.gid, e && e->message ? e->message : "refused");
	vj_serve_send_error(fd, e);
out:
	vj_error_free(e);
}

/* The reference: the container's init, its pid namespace and cgroup, read
 * through its pidfd. */
static int reference(struct handoff *h, struct vj_error **err)
{
	pid_t pid = h->o->container_pid;
	_cleanup_close_ int pidfd = -1, dfd = -1;

	if (pid <= 0)
		return vj_err(err, VJ_EXIT_USAGE, EINVAL, "handoff", "--pid", NULL,
			      "the container's process is needed: clients must share its pid namespace");
	pidfd = vj_pidfd_open(pid);
	dfd = pidfd < 0 ? -1 : vj_pidfd_procdir(pidfd);
	if (dfd < 0 || fstatat(dfd, "ns/pid", &h->pidns, 0) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "handoff", "--pid", NULL, "the container's process %d is gone",
			      (int)pid);
	/* A cgroup2 path of the container narrows the clients further; a host
	 * without one leaves the pid namespace as the check. */
	if (vj_cgroup_of_pidfd(pidfd, &h->cgroup, NULL) < 0)
		h->cgroup = NULL;
	if (vj_pidfd_alive(pidfd) <= 0)
		return vj_err(err, VJ_EXIT_SETUP, ESRCH, "handoff", "--pid", NULL,
			      "the container's process %d exited", (int)pid);
	return 0;
}

/* Serve on @sock; @lockfd >= 0: this process's record @record, removed at the end. */
static int handoff_serve(const struct vj_spec *spec, const struct vj_handoff_opts *o, const char *sock,
			 int lockfd, const char *record, struct vj_error **err)
{
	struct handoff h = { .o = o, .spec = spec };
	unsigned timeout = o->timeout_s ? o->timeout_s : VJ_HANDOFF_TIMEOUT_S;
	_cleanup_close_ int lfd = -1, sfd = -1;
	int64_t deadline;
	sigset_t mask, old;
	bool stopped = false;
	int r = -1;

	if (vj_plan_build(spec, &o->run.plan, &h.plan, err) < 0)
		goto out;
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
	deadline = vj_now_ms() + (int64_t)timeout * 1000;
	for (;;) {
		int64_t left = deadline - vj_now_ms();
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
	/* The lock is still this process's: no newer record can be at the path. */
	if (lockfd >= 0 && record && vj_handoff_record_still_at(lockfd, record))
		unlink(record);
	h.vmm.plan = NULL;
	vj_vmm_free(&h.vmm);
	vj_plan_free(h.plan);
	free(h.cgroup);
	return r;
}

int vj_handoff_serve(const struct vj_spec *spec, const struct vj_handoff_opts *o, struct vj_error **err)
{
	_cleanup_free_ char *dir = NULL, *sock = NULL, *pidfile = NULL;
	_cleanup_close_ int lockfd = -1;
	int r;

	if (o->socket_path)
		return handoff_serve(spec, o, o->socket_path, -1, NULL, err);
	/* The VM's hand-off directory, as the CDI spec mounts it: one hand-off at a time. */
	if (vj_handoff_prepare(spec->name, &o->run, err) < 0)
		return -1;
	dir = vj_handoff_dir(o->run.state_dir, spec->name);
	if (!dir || !(sock = vj_path_join(dir, VJ_HANDOFF_SOCKET_NAME)) || !(pidfile = vj_strdupf("%s.pid", dir)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "handoff", spec->name, NULL, "out of memory");
	r = vj_handoff_record_lock(pidfile, &lockfd);
	if (r < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "handoff", pidfile, NULL, "cannot open the hand-off's record");
	if (r == 0)
		return vj_handoff_busy(spec->name, lockfd, NULL, err);
	if (vj_handoff_record_write(lockfd, NULL) < 0) {
		r = vj_err(err, VJ_EXIT_SETUP, errno, "handoff", pidfile, NULL, "cannot write the hand-off's record");
		unlink(pidfile);
		return r;
	}
	return handoff_serve(spec, o, sock, lockfd, pidfile, err);
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

/* Standard input, read whole: at most OCI_STATE_MAX bytes. */
static int read_stdin_whole(FILE *f, char **out, struct vj_error **err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		size_t n;

		if (cap - len < 2) {
			size_t ncap = cap ? cap * 2 : 1 << 16;
			char *nbuf;

			if (ncap > OCI_STATE_MAX + 2)
				ncap = OCI_STATE_MAX + 2;
			if (ncap <= cap)
				return vj_err(err, VJ_EXIT_USAGE, EFBIG, "hook", "stdin",
					      "a container runtime's OCI state is far smaller",
					      "the OCI state on standard input is over %zu MiB", OCI_STATE_MAX >> 20);
			nbuf = realloc(buf, ncap);
			if (!nbuf)
				return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "hook", "stdin", NULL, "out of memory");
			buf = nbuf;
			cap = ncap;
		}
		n = fread(buf + len, 1, cap - 1 - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				return vj_err(err, VJ_EXIT_USAGE, errno, "hook", "stdin", NULL,
					      "cannot read the OCI state on standard input");
			break;
		}
	}
	if (len > OCI_STATE_MAX)
		return vj_err(err, VJ_EXIT_USAGE, EFBIG, "hook", "stdin", "a container runtime's OCI state is far smaller",
			      "the OCI state on standard input is over %zu MiB", OCI_STATE_MAX >> 20);
	buf[len] = '\0';
	*out = TAKE_PTR(buf);
	return 0;
}

/* The OCI state a runtime writes on each hook's stdin: the container's id and,
 * when @pid is not NULL, its process ("pid", in the host's pid namespace). */
static int oci_state(FILE *f, pid_t *pid, char **id, struct vj_error **err)
{
	_cleanup_free_ char *buf = NULL;
	json_object *o;
	int64_t p = 0;
	bool ok;

	*id = NULL;
	if (read_stdin_whole(f, &buf, err) < 0)
		return -1;
	o = json_tokener_parse(buf);
	ok = o && (!pid || vj_jr_int(o, "pid", 1, INT32_MAX, &p) == 0) && vj_jr_str(o, "id", false, id) == 0 &&
	     *id && **id && strlen(*id) <= CONTAINER_ID_MAX;
	for (const char *c = ok ? *id : ""; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			ok = false;
	json_object_put(o);
	if (!ok) {
		free(*id);
		*id = NULL;
		return vj_err(err, VJ_EXIT_USAGE, EINVAL, "hook", "stdin",
			      "the container runtime writes the OCI state there for each hook",
			      pid ? "no OCI state with the container's id and pid on standard input"
				  : "no OCI state with the container's id on standard input");
	}
	if (pid)
		*pid = (pid_t)p;
	return 0;
}

/* The daemon's log: one line each, with the time (vj_log_line). */
static void log_line(const char *msg, void *userdata)
{
	(void)userdata;
	vj_log_line("handoff", msg);
}

static void log_warning(const char *msg, void *userdata)
{
	char line[1100];

	snprintf(line, sizeof(line), "warning: %s", msg);
	log_line(line, userdata);
}

struct daemon_args {
	const struct vj_spec *spec;
	struct vj_handoff_opts *ho;
	const char *log, *sock, *pidfile, *container;
	int lockfd; /* the record's lock, taken by the hook and inherited */
};

/* The forked daemon: its own session, stdio on the log, its record, then the
 * hand-off. */
static _Noreturn void daemon_main(const struct daemon_args *a)
{
	struct vj_error *e = NULL;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC), lfd;

	setsid();
	lfd = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	/* The runtime waits for the hook's stdout and stderr to close. */
	if (fd < 0 || lfd < 0 || dup2(fd, 0) < 0 || dup2(lfd, 1) < 0 || dup2(lfd, 2) < 0) {
		vj_err(&e, VJ_EXIT_SETUP, errno, "handoff", a->log, NULL, "cannot open the hand-off log");
		vj_child_send_error(a->ho->ready_fd, e);
		_exit(VJ_EXIT_SETUP);
	}
	if (vj_handoff_record_write(a->lockfd, a->container) < 0) {
		vj_err(&e, VJ_EXIT_SETUP, errno, "handoff", a->pidfile, NULL, "cannot write the hand-off's record");
		vj_child_send_error(a->ho->ready_fd, e);
		_exit(VJ_EXIT_SETUP);
	}
	a->ho->log = log_line;
	a->ho->run.warn = log_warning;
	if (handoff_serve(a->spec, a->ho, a->sock, a->lockfd, a->pidfile, &e) < 0) {
		/* Before the socket listened, the hook hears why; later, the log does. */
		vj_child_send_error(a->ho->ready_fd, e);
		log_line(e && e->message ? e->message : "the hand-off failed", NULL);
		_exit(e ? e->status : VJ_EXIT_SETUP);
	}
	_exit(0);
}

/* The hook's own daemon (its child, not reaped: the pid is its own), ended
 * before it served anyone: SIGTERM, which it answers by removing its socket and
 * record, then SIGKILL when it does not end in time. */
static void stop_daemon(pid_t child)
{
	_cleanup_close_ int pidfd = vj_pidfd_open(child);
	int status;

	kill(child, SIGTERM);
	if (pidfd < 0 || vj_pidfd_wait_exit(pidfd, STOP_WAIT_MS) != 1)
		kill(child, SIGKILL);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
}

/*
 * The OCI state's pid is acted on only when the runtime that runs this hook
 * started that process: the process's parent, or an ancestor at most
 * RUNTIME_DEPTH_MAX steps up, is this hook's parent (runc and crun run the hook
 * from the process that created the container's, which is its child).  So a pid
 * that is some other process's, because the container's process died and its
 * pid was reused before the hook opened its pidfd, or because whoever wrote the
 * state named another, is refused before anything is done to it.  The first step
 * is read through @cpidfd (the process it names); the runtime waits for this
 * hook, so its own pid stays its.  A hook whose parent is outside this pid
 * namespace is refused, and so is one whose parent is the host's init (its
 * runtime died and it was reparented): every process descends from init.  A
 * container's init may be a runtime (`unshare --pid --fork runc ...`); there the
 * namespace bounds what it started.
 */
#define RUNTIME_DEPTH_MAX 16
#define PID_NS_INITIAL_INO 0xEFFFFFFCu /* the host's pid namespace, as nsfs numbers it */
static bool host_pid_ns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) < 0 || st.st_ino == PID_NS_INITIAL_INO;
}

static int started_by_runtime(int cpidfd, pid_t pid, struct vj_error **err)
{
	pid_t runtime = getppid(), cur;
	struct vj_proc_status st;

	if (runtime == 1 && host_pid_ns())
		runtime = 0;

	if (vj_pidfd_status(cpidfd, &st) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "hook", "pid", NULL, "the container's process %d is gone",
			      (int)pid);
	cur = st.ppid;
	for (int i = 0; runtime > 0 && cur > 0 && i < RUNTIME_DEPTH_MAX; i++) {
		if (cur == runtime)
			return 0;
		if (cur == 1)
			break;
		if (vj_proc_status(cur, &st) < 0)
			break;
		cur = st.ppid;
	}
	return vj_err(err, VJ_EXIT_SETUP, EPERM, "hook", "pid",
		      "the OCI state's pid must be the container's process, which the runtime running the hook started",
		      "process %d was not started by this hook's runtime (pid %d): it is not the container's, "
		      "and is left alone", (int)pid, (int)runtime);
}

int vj_cdi_hook_create_runtime(const struct vj_spec *spec, const struct vj_run_opts *o,
			       unsigned timeout_s, FILE *oci_state_in, struct vj_error **err)
{
	_cleanup_free_ char *dir = vj_handoff_dir(o->state_dir, spec->name), *id = NULL;
	_cleanup_free_ char *sock = NULL, *log = NULL, *pidfile = NULL;
	_cleanup_close_ int lockfd = -1, cpidfd = -1;
	struct vj_handoff_opts ho = { .run = *o, .timeout_s = timeout_s };
	struct daemon_args da = { .spec = spec, .ho = &ho };
	struct vj_apply a = { .dirfd = -1 }; /* no jail: the container's RLIMIT_MEMLOCK */
	struct vj_plan *plan = NULL;
	char gone[64];
	int pipefd[2];
	pid_t pid, child;
	int r;

	if (!dir || !(sock = vj_path_join(dir, VJ_HANDOFF_SOCKET_NAME)) ||
	    !(log = vj_strdupf("%s.log", dir)) || !(pidfile = vj_strdupf("%s.pid", dir)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "hook", spec->name, NULL, "out of memory");
	if (oci_state(oci_state_in, &pid, &id, err) < 0 || vj_handoff_prepare(spec->name, o, err) < 0)
		return -1;
	/* One hand-off per VM at a time: the lock taken here goes to the daemon,
	 * which holds it for its life (fork shares it). */
	r = vj_handoff_record_lock(pidfile, &lockfd);
	if (r < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "hook", pidfile, NULL, "cannot open the hand-off's record");
	if (r == 0)
		return vj_handoff_busy(spec->name, lockfd, id, err);
	cpidfd = vj_pidfd_open(pid);
	if (cpidfd < 0) {
		r = vj_err(err, VJ_EXIT_SETUP, errno, "memlock", "pid", NULL, "the container's process %d is gone",
			   (int)pid);
		goto fail;
	}
	if (started_by_runtime(cpidfd, pid, err) < 0)
		goto fail;
	if (vj_plan_build(spec, &o->plan, &plan, err) < 0)
		goto fail;
	/* The container's process, and so the VMM it will exec, gets the plan's
	 * limit (soft and hard); a hard limit above the current one needs
	 * CAP_SYS_RESOURCE.  Set by pid, then checked: the pidfd's process still
	 * lives, so the pid was its.  The last step (below): a hard limit lowered
	 * comes back only with CAP_SYS_RESOURCE, so nothing may fail after it. */
	snprintf(gone, sizeof(gone), "the container's process %d exited", (int)pid);
	vj_apply_vmm_memlock(&a, VJ_VMM_MEMLOCK_EXACT, &plan->memlock);
	a.vmm_memlock.pid = pid;
	a.vmm_memlock.pidfd = cpidfd;
	a.vmm_memlock.step = "memlock";
	a.vmm_memlock.who = "pid";
	a.vmm_memlock.gone = gone;
	vj_plan_free(plan);
	ho.socket_path = sock;
	ho.container_pid = pid;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		vj_err(err, VJ_EXIT_SETUP, errno, "hook", NULL, NULL, "pipe");
		goto fail;
	}
	child = fork();
	if (child < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		vj_err(err, VJ_EXIT_SETUP, errno, "hook", NULL, NULL, "cannot fork the hand-off");
		goto fail;
	}
	if (child == 0) {
		close(pipefd[0]);
		ho.ready_fd = pipefd[1];
		da.log = log;
		da.sock = sock;
		da.pidfile = pidfile;
		da.container = id;
		da.lockfd = lockfd;
		daemon_main(&da);
	}
	close(pipefd[1]);
	r = vj_child_recv_error(pipefd[0], err);
	close(pipefd[0]);
	if (r < 0) {
		int status;
		waitpid(child, &status, 0);
		vj_err_wrap(err, "hook", spec->name, "the container does not start: its hand-off cannot be served");
		goto fail;
	}
	if (vj_apply_step(&a, VJ_STEP_VMM_MEMLOCK, err) < 0) {
		/* The container does not start: its hand-off goes with it. */
		stop_daemon(child);
		unlink(sock);
		goto fail;
	}
	/* The daemon holds the lock now; this copy goes. */
	return 0;
fail:
	/* The lock is this process's alone again: the record it made goes. */
	if (vj_handoff_record_still_at(lockfd, pidfile))
		unlink(pidfile);
	return -1;
}

int vj_cdi_hook_poststop(const char *name, const struct vj_run_opts *o, FILE *oci_state_in,
			 struct vj_error **err)
{
	_cleanup_free_ char *id = NULL;

	if (vj_validate_name(name, "NAME", err) < 0 || oci_state(oci_state_in, NULL, &id, err) < 0)
		return -1;
	return vj_handoff_end(name, o->state_dir, id, err);
}

/* teardown's part: the hand-off (its daemon, whoever's), directory, socket,
 * record and log of @name. */
