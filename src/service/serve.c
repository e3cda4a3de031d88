/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The launch service (vfiojail.h): root's `vfiojail serve`, and its
 * unprivileged clients `vfiojail launch` and `vfiojail contexts`; what they say
 * to each other is wire.c's.
 */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "cgroup.h"
#include "child.h"
#include "config.h"
#include "error.h"
#include "memlock.h"
#include "name.h"
#include "pidfd.h"
#include "remove.h"
#include "spec_bound.h"
#include "spec_internal.h"
#include "specdir.h"
#include "util.h"
#include "wire.h"
#include "vmm.h"

/* Connections that wait for their request: at most this many per uid (the
 * oldest of that uid makes room for a newer one) and in all. */
#define VJ_STR_(x) #x
#define VJ_STR(x) VJ_STR_(x)
#define VJ_SERVE_CONN_PER_UID 16
#define VJ_SERVE_CONN_MAX 512

static void say(const struct vj_serve_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct vj_serve_opts *o, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->log(msg, o->run.userdata);
}

/* ------------------------------------------------------------------------- */
/* The service                                                                */

struct running {
	int pidfd;
	char *name;
	pid_t pid;           /* the VMM, as the state records it */
	uint64_t start;
};

struct conn;

struct service {
	const struct vj_serve_opts *o;
	const char *spec_dir;
	const char *derived_dir;
	struct running *vms;
	size_t n_vms;
	struct conn *conns; /* connections waiting for their request */
	size_t n_conns;
};

/* A connection waiting for its request: who connected (the kernel's word, taken
 * at connect()), since when, until when. */
struct conn {
	int fd;
	int pidfd;
	struct ucred cred;
	int64_t deadline;
};

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->fd = c->pidfd = -1;
}

/* ------------------------------------------------------------------------- */
/* Which spec: the derived one bounded by root's, or root's                   */

/* <@dir>/ESC.json for @name through the trusted walk (specdir.h): 1 with *out
 * and *path; 0 when the file does not exist, or the directory (then *absent
 * says so, the caller's); -1 with *err (VJ_EXIT_DENIED unless the spec does
 * not parse). */
static int load_from(const char *dir, const char *what, const char *name, struct vj_spec **out, char **path,
		     struct vj_error **absent, struct vj_error **err)
{
	struct vj_error *e = NULL;
	_cleanup_close_ int fd = vj_specdir_open(dir, false, what, &e);
	int r;

	*out = NULL;
	if (fd < 0 && e && e->errnum == ENOENT) {
		e->status = VJ_EXIT_DENIED;
		*absent = e;
		return 0;
	}
	if (fd < 0) {
		e->status = VJ_EXIT_DENIED; /* no trusted spec grants it */
		return vj_err_pass(err, e);
	}
	r = vj_specdir_load(fd, dir, name, out, path, err);
	if (r < 0 && err && *err && (*err)->status == VJ_EXIT_SETUP)
		(*err)->status = VJ_EXIT_DENIED;
	return r;
}

/*
 * The spec VM @name is launched with: the derived one (<derived_dir>/ESC.json,
 * written by the libvirt hook from the domain's XML) when there is one, bounded
 * by root's (<spec_dir>/ESC.json) when there is one, checked again here as
 * root's may have changed since; else root's.  Neither, or a derived one
 * without root's under --require-spec: refused.  *source says which, for the
 * log.  A refusal is VJ_EXIT_DENIED.
 */
static int choose_spec(struct service *s, const char *name, struct vj_spec **out, char **source,
		       struct vj_error **err)
{
	_cleanup_free_ char *root_path = NULL, *derived_path = NULL;
	struct vj_spec *root = NULL, *derived = NULL;
	struct vj_plan *rplan = NULL, *dplan = NULL;
	struct vj_error *no_dir = NULL, *no_derived_dir = NULL;
	int r;

	*out = NULL;
	r = load_from(s->spec_dir, "the spec directory", name, &root, &root_path, &no_dir, err);
	if (r >= 0)
		r = load_from(s->derived_dir, "the derived-spec directory", name, &derived, &derived_path,
			      &no_derived_dir, err);
	vj_error_free(no_derived_dir);
	if (r < 0) {
		vj_error_free(no_dir);
		goto fail;
	}
	if (!derived && !root && no_dir) {
		/* Root has not made the spec directory yet: say that. */
		vj_err_pass(err, TAKE_PTR(no_dir));
		goto fail;
	}
	vj_error_free(no_dir);
	if (!derived && !root) {
		_cleanup_free_ char *esc = vj_name_escape(name);
		vj_err(err, VJ_EXIT_DENIED, ENOENT, "spec", esc ? esc : name,
		       "root grants a VM by installing its spec in the spec directory, or the libvirt hook "
		       "derives it from the domain (vfiojail derive --install)",
		       "no spec grants VM %s (none in %s or %s)", name, s->spec_dir, s->derived_dir);
		goto fail;
	}
	if (!derived) {
		*source = TAKE_PTR(root_path);
		*out = root;
		return 0;
	}
	if (!root) {
		if (s->o->require_spec) {
			vj_err(err, VJ_EXIT_DENIED, ENOENT, "spec", derived_path,
			       "this service runs with --require-spec: root installs the VM's spec in the spec directory",
			       "no spec of root's in %s bounds the derived one", s->spec_dir);
			goto fail;
		}
		*source = TAKE_PTR(derived_path);
		*out = derived;
		return 0;
	}
	/* The derived principal is root's, whatever the derived file says; root's
	 * device paths compared as the nodes they lead to, as derived ones are. */
	r = vj_spec_resolve_devices(root, s->o->run.plan.roots.dev, err);
	if (r == 0)
		r = vj_spec_bound(derived, false, root, root_path, err);
	if (r == 0)
		r = vj_plan_build(root, &s->o->run.plan, &rplan, err);
	if (r == 0)
		r = vj_plan_build(derived, &s->o->run.plan, &dplan, err);
	if (r == 0 && (r = vj_plan_bound(dplan, rplan, root_path, err)) < 0 && err && *err)
		(*err)->status = VJ_EXIT_DENIED;
	vj_plan_free(rplan);
	vj_plan_free(dplan);
	if (r < 0) {
		if (err && *err && (*err)->status == VJ_EXIT_USAGE)
			(*err)->status = VJ_EXIT_DENIED;
		goto fail;
	}
	*source = vj_strdupf("%s bounded by %s", derived_path, root_path);
	vj_spec_free(root);
	*out = derived;
	return 0;
fail:
	vj_spec_free(root);
	vj_spec_free(derived);
	return -1;
}

/* One request: read NAME, check, set up, answer.  The VM is watched on success.
 * Nothing here waits on the client: the request is there (poll said so) and the
 * answer is one datagram into an empty socket buffer. */
static void serve_request(struct service *s, struct conn *c)
{
	const struct vj_serve_opts *o = s->o;
	char buf[VJ_WIRE_MSG_MAX];
	struct vj_error *e = NULL;
	struct vj_spec *spec = NULL;
	struct vj_handoff h = { 0 };
	enum vj_request kind = VJ_REQUEST_LAUNCH;
	_cleanup_free_ char *source = NULL;
	const char *name;

	vj_cgroup_forget(); /* a new command: the cgroup2 mount checked, our cgroup read again */
	if (vj_serve_read_request_kind(c->fd, buf, sizeof(buf), &name, &kind, &e) < 0)
		goto answer;
	/* The directories are checked again for each request: root may create or
	 * fix them while the service runs, and a changed one is never trusted on old
	 * evidence; root's spec may have changed since the derived one was made. */
	if (choose_spec(s, name, &spec, &source, &e) < 0)
		goto answer;
	if (kind == VJ_REQUEST_CONTEXTS) {
		/* The contexts alone: nothing to watch or undo; a client that cannot
		 * take them leaves nothing (the kernel closes fds in flight). */
		if (vj_launch_contexts(spec, &o->run, c->pidfd, &c->cred, &h, &e) < 0)
			goto answer;
		if (vj_serve_send_ok(c->fd, &h) < 0)
			say(o, "VM %s: contexts for pid %d (uid %u) could not be sent", name, (int)c->cred.pid,
			    (unsigned)c->cred.uid);
		else
			say(o, "VM %s: %zu iommufd context(s) (%s accounting) given to pid %d (uid %u), no jail", name,
			    h.n, h.per_user ? "per-user, best effort" : "per-process", (int)c->cred.pid,
			    (unsigned)c->cred.uid);
		goto out;
	}
	if (vj_launch_handoff(spec, &o->run, c->pidfd, &c->cred, &h, &e) < 0)
		goto answer;
	if (vj_serve_send_ok(c->fd, &h) < 0) {
		/* The client is gone or cannot take the fds: it goes back where it
		 * was and the jail goes; nothing is killed. */
		struct vj_error *t = NULL;
		if (vj_launch_cancel(name, &o->run, c->pidfd, &h, &t) == 0) {
			say(o, "VM %s for pid %d: the answer could not be sent, jail removed", name,
			    (int)c->cred.pid);
			vj_error_free(t);
			goto out;
		}
		/* The client died in the jail (a zombie keeps the cgroup busy until
		 * it is reaped): the jail goes when it is, as for any VMM's end. */
		say(o, "VM %s for pid %d: the answer could not be sent; the jail goes when the client ends (%s)",
		    name, (int)c->cred.pid, t && t->message ? t->message : "busy");
		vj_error_free(t);
		goto watch;
	}
	say(o, "VM %s launched for pid %d (uid %u), cgroup %s, spec %s", name, (int)c->cred.pid,
	    (unsigned)c->cred.uid, h.cgroup, source);
watch:
	{
		struct running *r = VJ_PUSH(s->vms, s->n_vms);
		if (r) {
			r->pid = h.vmm;
			r->start = h.vmm_start;
			r->pidfd = TAKE_FD(c->pidfd);
			r->name = strdup(name);
		}
	}
	goto out;
answer:
	say(o, "refused pid %d (uid %u)%s: %s%s%s", (int)c->cred.pid, (unsigned)c->cred.uid,
	    kind == VJ_REQUEST_CONTEXTS ? " contexts" : "", e && e->object ? e->object : "",
	    e && e->object ? ": " : "", e && e->message ? e->message : "");
	vj_serve_send_error(c->fd, e);
out:
	vj_handoff_clear(&h);
	vj_spec_free(spec);
	vj_error_free(e);
}

/* A launched VMM exited: its jail goes, with whatever it left in the cgroup. */
static void vm_exited(struct service *s, size_t i)
{
	struct vj_error *e = NULL;
	struct running r = s->vms[i];

	/* Only the jail made for this process: if root removed it and another was
	 * made under the name meanwhile, that one is not killed. */
	if (vj_teardown_ended_vmm(r.name, &s->o->run, r.pid, r.start, &e) != 0)
		say(s->o, "VM %s ended; teardown: %s", r.name, e && e->message ? e->message : "failed");
	else
		say(s->o, "VM %s ended; jail removed", r.name);
	vj_error_free(e);
	close(r.pidfd);
	free(r.name);
	s->vms[i] = s->vms[--s->n_vms];
}

static void refuse_conn(struct service *s, struct conn *c, const char *why)
{
	struct vj_error *e = NULL;

	vj_err(&e, VJ_EXIT_SETUP, EBUSY, "launch", NULL, NULL, "%s", why);
	say(s->o, "refused pid %d (uid %u): %s", (int)c->cred.pid, (unsigned)c->cred.uid, why);
	vj_serve_send_error(c->fd, e);
	vj_error_free(e);
	conn_close(c);
}

static void drop_conn(struct service *s, size_t i)
{
	conn_close(&s->conns[i]);
	s->conns[i] = s->conns[--s->n_conns];
}

/* Whether a request waits on @c (without reading it). */
static bool has_request(const struct conn *c)
{
	char b;
	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Room for one more waiting connection of @uid: the oldest waiting one of that
 * uid (or of anyone, when the service is full) makes room, unless its request
 * came meanwhile, in which case it is served first.  A user can only ever
 * push out its own idle connections, and a launch that sends its request with
 * its connect (as vfiojail launch does) is never idle. */
static void make_room(struct service *s, uid_t uid)
{
	for (;;) {
		size_t mine = 0, oldest = SIZE_MAX, oldest_any = SIZE_MAX, victim;

		for (size_t i = 0; i < s->n_conns; i++) {
			if (oldest_any == SIZE_MAX || s->conns[i].deadline < s->conns[oldest_any].deadline)
				oldest_any = i;
			if (s->conns[i].cred.uid != uid)
				continue;
			mine++;
			if (oldest == SIZE_MAX || s->conns[i].deadline < s->conns[oldest].deadline)
				oldest = i;
		}
		if (mine >= VJ_SERVE_CONN_PER_UID)
			victim = oldest;
		else if (s->n_conns >= VJ_SERVE_CONN_MAX)
			victim = oldest_any;
		else
			return;
		if (has_request(&s->conns[victim])) {
			serve_request(s, &s->conns[victim]);
		} else {
			refuse_conn(s, &s->conns[victim], "no request came before newer connections of the same user: dropped");
		}
		drop_conn(s, victim);
	}
}

/* Take every connection the kernel has queued: who it is, then its request now
 * if it came with the connect, else it waits (bounded) among the others. */
static void accept_all(struct service *s, int lfd)
{
	for (;;) {
		struct conn c = { .fd = -1, .pidfd = -1 };
		struct vj_error *e = NULL;

		c.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c.fd < 0)
			return; /* EAGAIN: none left; anything else: the next poll says */
		if (vj_serve_peer_identify(c.fd, &c.cred, &c.pidfd, &e) < 0) {
			say(s->o, "refused pid %d (uid %u): %s", (int)c.cred.pid, (unsigned)c.cred.uid,
			    e && e->message ? e->message : "unknown client");
			vj_serve_send_error(c.fd, e);
			vj_error_free(e);
			conn_close(&c);
			continue;
		}
		c.deadline = vj_now_ms() + VJ_WIRE_TIMEOUT_S * 1000;
		if (has_request(&c)) {
			serve_request(s, &c);
			conn_close(&c);
			continue;
		}
		make_room(s, c.cred.uid);
		struct conn *slot = VJ_PUSH(s->conns, s->n_conns);
		if (!slot) {
			refuse_conn(s, &c, "out of memory");
			continue;
		}
		*slot = c;
	}
}

int vj_serve(const struct vj_serve_opts *o, struct vj_error **err)
{
	const char *path = o->socket_path ? o->socket_path : VJ_DEFAULT_SOCKET;
	struct service s = { .o = o, .spec_dir = o->spec_dir ? o->spec_dir : VJ_DEFAULT_SPEC_DIR,
			     .derived_dir = o->derived_dir ? o->derived_dir : VJ_DEFAULT_DERIVED_DIR };
	_cleanup_close_ int lfd = -1, sfd = -1;
	_cleanup_free_ struct pollfd *p = NULL;
	size_t p_cap = 0;
	sigset_t mask, old_mask;
	int r = -1;

	/* A spec directory that others may change stops the service at once; one
	 * that does not exist yet only means no VM is granted from it until it is
	 * made (root, or the libvirt hook for the derived specs). */
	for (int k = 0; k < 2; k++) {
		const char *dir = k ? s.derived_dir : s.spec_dir;
		const char *what = k ? "the derived-spec directory" : "the spec directory";
		struct vj_error *e = NULL;
		int fd = vj_specdir_open(dir, false, what, &e);
		if (fd < 0 && e && e->errnum == ENOENT) {
			say(o, "%s does not exist yet: no VM is granted from it until %s", dir,
			    k ? "the libvirt hook makes it" : "root creates it");
			vj_error_free(e);
		} else if (fd < 0) {
			if (err)
				*err = e;
			else
				vj_error_free(e);
			return -1;
		} else {
			close(fd);
		}
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, &old_mask);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	lfd = o->listen_fd >= 0 ? o->listen_fd : vj_serve_listen(path, 0666, (uid_t)-1, (gid_t)-1, err);
	if (sfd < 0 || lfd < 0) {
		if (sfd < 0)
			vj_err(err, VJ_EXIT_SETUP, errno, "socket", NULL, NULL, "signalfd");
		goto out;
	}
	/* Accepting never blocks: a client that connected and went away before
	 * accept() leaves nothing to wait for. */
	{
		int fl = fcntl(lfd, F_GETFL);
		if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) < 0) {
			vj_err(err, VJ_EXIT_SETUP, errno, "socket", path, NULL, "cannot make the socket non-blocking");
			goto out;
		}
	}
	say(o, "serving on %s, specs from %s, derived specs from %s%s",
	    o->listen_fd >= 0 ? "the socket handed over" : path, s.spec_dir, s.derived_dir,
	    o->require_spec ? " (each bounded by root's: --require-spec)" : " (bounded by root's when there is one)");
	if (o->ready && o->ready(o->run.userdata, err) < 0)
		goto out;
	for (;;) {
		size_t n = 2 + s.n_vms + s.n_conns, first_conn = 2 + s.n_vms;
		int64_t now = vj_now_ms(), wait = -1;

		if (n > p_cap) {
			struct pollfd *np = realloc(p, (n + 16) * sizeof(*p));
			if (!np) {
				vj_err(err, VJ_EXIT_SETUP, ENOMEM, "serve", NULL, NULL, "out of memory");
				goto out;
			}
			p = np;
			p_cap = n + 16;
		}
		p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (size_t i = 0; i < s.n_vms; i++)
			p[i + 2] = (struct pollfd){ .fd = s.vms[i].pidfd, .events = POLLIN };
		for (size_t i = 0; i < s.n_conns; i++) {
			int64_t left = s.conns[i].deadline - now;
			p[first_conn + i] = (struct pollfd){ .fd = s.conns[i].fd, .events = POLLIN };
			if (wait < 0 || left < wait)
				wait = left < 0 ? 0 : left;
		}
		if (poll(p, n, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			vj_err(err, VJ_EXIT_SETUP, errno, "serve", NULL, NULL, "poll");
			goto out;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;
			/* Consumed here: left pending, it would kill us when unblocked. */
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				say(o, "signal %u received", si.ssi_signo);
			break;
		}
		/* VMs that ended, before serving adds any to the array. */
		for (size_t i = s.n_vms; i > 0; i--)
			if (p[i + 1].revents)
				vm_exited(&s, i - 1);
		/* Then requests: serving one takes a few milliseconds of this
		 * process, never a client's time. */
		now = vj_now_ms();
		for (size_t i = s.n_conns; i > 0; i--) {
			struct conn *c = &s.conns[i - 1];
			if (p[first_conn + i - 1].revents) {
				serve_request(&s, c);
				drop_conn(&s, i - 1);
			} else if (c->deadline <= now) {
				refuse_conn(&s, c, "no request within " VJ_STR(VJ_WIRE_TIMEOUT_S) " s");
				drop_conn(&s, i - 1);
			}
		}
		if (p[1].revents & POLLIN)
			accept_all(&s, lfd);
	}
	say(o, "stopping; %zu running VM(s) keep their jails (vfiojail gc removes them once they end)",
	    s.n_vms);
	r = 0;
out:
	if (o->listen_fd < 0 && lfd >= 0)
		unlink(path);
	if (o->listen_fd >= 0)
		lfd = -1; /* the caller's */
	for (size_t i = 0; i < s.n_vms; i++) {
		close(s.vms[i].pidfd);
		free(s.vms[i].name);
	}
	free(s.vms);
	for (size_t i = 0; i < s.n_conns; i++)
		conn_close(&s.conns[i]);
	free(s.conns);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return r;
}

/* ------------------------------------------------------------------------- */
/* The client                                                                 */

/* What ask() gave, when it is not used. */
static void answer_free(struct vj_plan *plan, int *fds, size_t nfds)
{
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	for (size_t i = 0; i < plan->n_iommufd; i++)
		free(plan->iommufd[i].id);
	free(plan->iommufd);
}

/* The client's last steps: the contexts after the launcher's fds, the
 * RLIMIT_MEMLOCK of @a's step (undone when a later step fails), @v's
 * privileges, exec opts->argv.  Returns only on failure, with the fds closed
 * and @plan's ids freed. */
static int become(struct vj_vmm *v, struct vj_apply *a, struct vj_plan *plan, const struct vj_run_opts *o,
		  int *fds, size_t nfds, struct vj_error **err)
{
	sigset_t cur;
	int nofd = -1;

	if (vj_vmm_prepare(v, plan, o, err) < 0)
		goto fail;
	v->ctx_fds = calloc(nfds + 1, sizeof(int));
	if (!v->ctx_fds) {
		vj_err(err, VJ_EXIT_SETUP, ENOMEM, "launch", NULL, NULL, "out of memory");
		goto fail;
	}
	memcpy(v->ctx_fds, fds, nfds * sizeof(int));
	nfds = 0;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	if (vj_apply_step(a, VJ_STEP_VMM_MEMLOCK, err) == 0 && vj_vmm_child_finish(v, &nofd, err) == 0)
		vj_vmm_exec(v, &cur, err);
	vj_apply_undo(a);
fail:
	v->plan = plan;
	vj_vmm_free(v);
	answer_free(plan, fds, nfds);
	return -1;
}

/* What launch and contexts check before this process opens anything (see
 * vj_vmm_check_preserved): a command, the fds to keep, the name. */
static int client_checks(const struct vj_run_opts *o, const char *name, const char *usage, const char *missing,
			 struct vj_error **err)
{
	if (!o->argv || !o->argv[0])
		return vj_err(err, VJ_EXIT_USAGE, 0, "argv", NULL, usage, "%s", missing);
	if (vj_vmm_check_preserved(o->preserve_fds, err) < 0 || vj_validate_name(name, "NAME", err) < 0)
		return -1;
	return 0;
}

/* This process's RLIMIT_MEMLOCK by vj_launch_memlock's rule, as @a's step
 * will set it: soft = hard = the plan where it comes to that or the spec's
 * limit is exact (as run's child), else the limits that rule gives.  Raising
 * the soft limit up to the hard one needs no privilege; nothing is lowered. */
static int launch_memlock(struct vj_apply *a, const struct vj_memlock_plan *m, bool exact, struct vj_error **err)
{
	struct rlimit rl;
	uint64_t cur_soft, cur_hard, soft, hard;

	vj_apply_vmm_memlock(a, VJ_VMM_MEMLOCK_PLAN, m);
	if (m->unchanged)
		return 0;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "memlock", "RLIMIT_MEMLOCK", NULL, "getrlimit");
	cur_soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	cur_hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_max;
	if (vj_launch_memlock(m, exact, cur_soft, cur_hard, &soft, &hard) == VJ_MEMLOCK_FROM_EXACT ||
	    (soft == vj_memlock_plan_limit(m) && hard == soft))
		return 0;
	a->vmm_memlock.how = VJ_VMM_MEMLOCK_LIMITS;
	a->vmm_memlock.soft = soft;
	a->vmm_memlock.hard = hard;
	a->vmm_memlock.hint = "the launch service raises a hard limit below the plan: is it older than this vfiojail?";
	return 0;
}

int vj_launch(const char *name, const char *socket_path, const struct vj_run_opts *opts,
	      struct vj_error **err)
{
	const char *env = getenv("VFIOJAIL_SOCKET");
	const char *path = socket_path ? socket_path : env && *env ? env : VJ_DEFAULT_SOCKET;
	bool from_env = !socket_path && env && *env;
	const char *what = from_env ? "the VM's hand-off" : "the launch service";
	unsigned timeout = opts->timeout_s ? opts->timeout_s : VJ_LAUNCH_TIMEOUT_S;
	struct vj_plan plan = { .uid = getuid(), .gid = getgid() };
	struct vj_run_opts o = *opts;
	struct vj_vmm v = { 0 };
	struct vj_apply a = { .dirfd = -1 }; /* no jail here: the VMM's RLIMIT_MEMLOCK alone */
	size_t nfds = 0;
	bool exact = false;
	int fds[VJ_WIRE_FDS_MAX];

	if (client_checks(&o, name, "vfiojail launch NAME -- VMM [ARGS...]", "no VMM to run", err) < 0)
		return -1;
	if (vj_wire_ask("launch", path, what, from_env, timeout, VJ_WIRE_PROTO, name, &plan, &exact, fds, &nfds, err) < 0) {
		answer_free(&plan, fds, nfds);
		return -1;
	}
	/* The service watches this process: a VMM that daemonized would leave it. */
	o.exec = false;
	/* RLIMIT_MEMLOCK by the rule the service recorded in the state
	 * (vj_launch_memlock): the plan's where the launcher's is lower (the
	 * service raised the hard limit to it), the launcher's where it is higher,
	 * unless the spec's limit is exact: then soft and hard both the plan's. */
	if (launch_memlock(&a, &plan.memlock, exact, err) < 0) {
		answer_free(&plan, fds, nfds);
		return -1;
	}
	v.keep_ids = true;
	return become(&v, &a, &plan, &o, fds, nfds, err);
}

int vj_contexts(const char *name, const char *socket_path, const struct vj_run_opts *opts,
		struct vj_error **err)
{
	bool exact = false;
	const char *path = socket_path ? socket_path : VJ_DEFAULT_SOCKET;
	unsigned timeout = opts->timeout_s ? opts->timeout_s : VJ_LAUNCH_TIMEOUT_S;
	struct vj_plan plan = { .uid = getuid(), .gid = getgid() };
	struct vj_run_opts o = *opts;
	struct vj_vmm v = { 0 };
	struct vj_apply a = { .dirfd = -1 };
	size_t nfds = 0;
	int fds[VJ_WIRE_FDS_MAX];

	if (client_checks(&o, name, "vfiojail contexts NAME -- COMMAND [ARGS...]", "no command to run", err) < 0)
		return -1;
	if (vj_wire_ask("contexts", path, "the launch service", false, timeout, VJ_WIRE_PROTO_CONTEXTS, name, &plan, &exact, fds, &nfds,
		err) < 0) {
		/* A service older than this request refuses it as malformed. */
		if (err && *err && (*err)->errnum == EPROTO && !(*err)->cause && (*err)->message &&
		    !strncmp((*err)->message, VJ_WIRE_NOT_A_REQUEST, strlen(VJ_WIRE_NOT_A_REQUEST)))
			vj_err_wrap(err, "contexts", path,
				    "the launch service does not know contexts requests: is it older than this vfiojail?");
		answer_free(&plan, fds, nfds);
		return -1;
	}
	/* Nothing is set up for this process and nobody watches it: the command
	 * runs as it would without vfiojail, its limits and privileges its own. */
	plan.memlock = (struct vj_memlock_plan){ .unchanged = true };
	vj_apply_vmm_memlock(&a, VJ_VMM_MEMLOCK_PLAN, &plan.memlock); /* nothing to set */
	o.exec = true;
	v.keep_ids = true;
	v.keep_privs = true;
	return become(&v, &a, &plan, &o, fds, nfds, err);
}
