/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vfiojail run`: apply a plan and start the VMM in its jail.
 *
 * The launch is one list of steps.  Each step that creates something records it
 * in struct launch before the next step starts, and launch_undo() removes what
 * is recorded, newest first, so a failed launch leaves nothing behind.
 *
 *   parent: plan, resolve the VMM, lock, state, cgroup, filter (attach, verify,
 *           pin), iommufd contexts (per-process accounting), fork
 *   child:  new mount namespace with its own /dev, join the cgroup, memlock,
 *           fds 3.. and @fd:ID@, drop privileges, exec
 *   parent: forward signals, wait, remove cgroup, pins, state; exit as the VMM
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "devfilter.h"
#include "error.h"
#include "iommufd.h"
#include "mountns.h"
#include "privs.h"
#include "rlimit.h"
#include "state.h"
#include "sysfs.h"
#include "util.h"

#define FD_FIRST 3

struct launch {
	const struct vj_spec *spec;
	const struct vj_run_opts *o;
	struct vj_plan *plan;
	char *vmm_path;        /* argv[0] resolved in PATH          */
	char **argv;           /* with @fd:ID@ replaced             */
	char **env;            /* VFIOJAIL_FD_<ID>=N                */
	int dirfd, lock_fd;
	struct vj_state st;
	bool state_written;
	bool cgroup_created;
	struct vj_devfilter *filter;
	bool pinned;
	int *ctx_fds;          /* one per plan->iommufd, -1 when not open */
	char *orig_cgroup;     /* --exec: where to go back to on failure  */
};

static void warn(const struct vj_run_opts *o, const char *msg)
{
	if (o->warn)
		o->warn(msg, o->userdata);
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ------------------------------------------------------------------------- */
/* Before anything is created: the VMM's path and argv                        */

static int resolve_vmm(const char *arg0, char **out, struct vj_error **err)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = NULL;
	char *dir, *save = NULL;
	struct stat st;
	bool found_noexec = false;

	if (strchr(arg0, '/')) {
		if (stat(arg0, &st) < 0)
			return vj_err(err, VJ_EXIT_NOTFOUND, errno, "exec", arg0, NULL, "the VMM was not found");
		if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
			return vj_err(err, VJ_EXIT_NOEXEC, EACCES, "exec", arg0, NULL,
				      "the VMM is not an executable file");
		*out = strdup(arg0);
		return *out ? 0 : vj_err(err, VJ_EXIT_SETUP, ENOMEM, "exec", arg0, NULL, "out of memory");
	}
	copy = strdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (!copy)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "exec", arg0, NULL, "out of memory");
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *cand = vj_strdupf("%s/%s", *dir ? dir : ".", arg0);
		if (!cand)
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "exec", arg0, NULL, "out of memory");
		if (stat(cand, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (!(st.st_mode & 0111)) {
			found_noexec = true;
			continue;
		}
		*out = TAKE_PTR(cand);
		return 0;
	}
	if (found_noexec)
		return vj_err(err, VJ_EXIT_NOEXEC, EACCES, "exec", arg0, NULL,
			      "the VMM was found in PATH but is not executable");
	return vj_err(err, VJ_EXIT_NOTFOUND, ENOENT, "exec", arg0, "give its full path, or fix PATH",
		      "the VMM was not found in PATH");
}

/* VFIOJAIL_FD_<ID>: ID upper-cased, anything but [A-Z0-9] as '_'. */
static char *fd_env(const char *id, int fd)
{
	char *s = vj_strdupf("VFIOJAIL_FD_%s=%d", id, fd);
	for (char *c = s ? s + strlen("VFIOJAIL_FD_") : NULL; c && *c != '='; c++) {
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
		else if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
			*c = '_';
	}
	return s;
}

/* Replace each "@fd:ID@" in @arg by the context's fd number. */
static int substitute_arg(const struct vj_plan *p, const char *arg, size_t index, char **out,
			  struct vj_error **err)
{
	_cleanup_free_ char *res = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&res, &len);
	const char *c = arg, *at, *end;
	char field[32];
	int r = 0;

	snprintf(field, sizeof(field), "argv[%zu]", index);
	if (!m)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "argv", field, NULL, "out of memory");
	while (r == 0 && (at = strstr(c, "@fd:"))) {
		size_t i, idlen;

		end = strchr(at + 4, '@');
		if (!end) {
			r = vj_err(err, VJ_EXIT_USAGE, 0, "argv", field, "write @fd:ID@",
				   "\"%s\": @fd: without its closing @", arg);
			break;
		}
		idlen = (size_t)(end - at - 4);
		for (i = 0; i < p->n_iommufd; i++)
			if (strlen(p->iommufd[i].id) == idlen && !strncmp(p->iommufd[i].id, at + 4, idlen))
				break;
		if (i == p->n_iommufd) {
			r = vj_err(err, VJ_EXIT_USAGE, 0, "argv", field,
				   "declare the context in the spec's \"iommufd\" list",
				   "\"%.*s\" names no iommufd context of this VM", (int)(end - at + 1), at);
			break;
		}
		fprintf(m, "%.*s%d", (int)(at - c), c, FD_FIRST + (int)i);
		c = end + 1;
	}
	fputs(c, m);
	if (fclose(m) != 0 && r == 0)
		r = vj_err(err, VJ_EXIT_SETUP, ENOMEM, "argv", field, NULL, "out of memory");
	if (r == 0)
		*out = TAKE_PTR(res);
	return r;
}

static int prepare_argv(struct launch *l, struct vj_error **err)
{
	size_t n = 0, i;

	while (l->o->argv[n])
		n++;
	l->argv = calloc(n + 1, sizeof(char *));
	l->env = calloc(l->plan->n_iommufd + 1, sizeof(char *));
	if (!l->argv || !l->env)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "argv", NULL, NULL, "out of memory");
	for (i = 0; i < n; i++)
		if (substitute_arg(l->plan, l->o->argv[i], i, &l->argv[i], err) < 0)
			return -1;
	for (i = 0; i < l->plan->n_iommufd; i++)
		if (!(l->env[i] = fd_env(l->plan->iommufd[i].id, FD_FIRST + (int)i)))
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "argv", NULL, NULL, "out of memory");
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Undo                                                                       */

static const char *bpffs_root(const struct vj_run_opts *o)
{
	return o->bpffs && *o->bpffs ? o->bpffs : VJ_BPFFS_DEFAULT;
}

/* Unpin a jail's filter, and remove the shared vfiojail/ directory once it is empty. */
static int unpin(const char *dir, struct vj_error **err)
{
	_cleanup_free_ char *parent = strdup(dir);
	char *slash;
	int r = vj_devfilter_unpin_dir(dir, err);

	if (r == 0 && parent && (slash = strrchr(parent, '/')) && slash != parent) {
		*slash = '\0';
		(void)rmdir(parent); /* ENOTEMPTY while other jails are pinned */
	}
	return r;
}

/* Remove a jail's cgroup (killing what is left in it when @kill), filter pins and
 * state.  Shared by a failed launch, the end of a supervised VM and teardown. */
static int remove_jail(int dirfd, const struct vj_state *st, bool kill, struct vj_error **err)
{
	int r = 0;

	if (st->cgroup) {
		bool populated = false;
		if (vj_cgroup_populated(st->cgroup, &populated, NULL) == 0 && populated && kill)
			vj_cgroup_kill(st->cgroup, NULL);
		if (vj_cgroup_remove(st->cgroup, err) < 0)
			r = -1;
	}
	if (st->bpf_pin && unpin(st->bpf_pin, r < 0 ? NULL : err) < 0)
		r = -1;
	if (r == 0 && vj_state_remove(dirfd, st->name, err) < 0)
		r = -1;
	return r;
}

static void launch_undo(struct launch *l)
{
	size_t i;

	for (i = 0; l->ctx_fds && l->plan && i < l->plan->n_iommufd; i++)
		if (l->ctx_fds[i] >= 0)
			close(l->ctx_fds[i]);
	free(l->ctx_fds);
	l->ctx_fds = NULL;
	if (l->pinned)
		unpin(l->st.bpf_pin, NULL);
	vj_devfilter_free(l->filter); /* an unpinned link detaches here */
	l->filter = NULL;
	if (l->cgroup_created) {
		if (l->orig_cgroup) /* --exec: we joined it ourselves */
			vj_cgroup_enter(l->orig_cgroup, 0, NULL);
		vj_cgroup_remove(l->st.cgroup, NULL);
	}
	if (l->state_written)
		vj_state_remove(l->dirfd, l->spec->name, NULL);
	l->pinned = l->cgroup_created = l->state_written = false;
}

static void launch_free(struct launch *l)
{
	if (l->lock_fd >= 0)
		vj_state_unlock(l->dirfd, l->spec->name, l->lock_fd);
	if (l->dirfd >= 0)
		close(l->dirfd);
	vj_state_clear(&l->st);
	vj_plan_free(l->plan);
	strv_free(l->argv);
	strv_free(l->env);
	free(l->vmm_path);
	free(l->orig_cgroup);
}

/* ------------------------------------------------------------------------- */
/* Parent steps                                                               */

/* A previous launch of this name: refuse when it still runs, else clean up. */
static int clear_leftovers(struct launch *l, struct vj_error **err)
{
	struct vj_state old;
	bool populated = false;
	int r = vj_state_read(l->dirfd, l->spec->name, &old, err);
	char msg[256];

	if (r == 1)
		return 0;
	if (r < 0)
		return vj_err_wrap(err, "state", l->spec->name,
				   "cannot tell whether a previous launch still runs; run vfiojail teardown %s",
				   l->spec->name);
	if (old.cgroup && vj_cgroup_populated(old.cgroup, &populated, NULL) == 0 && populated) {
		vj_err(err, VJ_EXIT_USAGE, 0, "state", l->spec->name,
		       "stop it first, or vfiojail teardown --kill NAME",
		       "this VM is already running (VMM pid %d, cgroup %s)", (int)old.vmm, old.cgroup);
		vj_state_clear(&old);
		return -1;
	}
	r = remove_jail(l->dirfd, &old, false, err);
	if (r == 0) {
		snprintf(msg, sizeof(msg), "removed what a previous launch of %s left (VMM pid %d is gone)",
			 l->spec->name, (int)old.vmm);
		warn(l->o, msg);
	}
	vj_state_clear(&old);
	return r;
}

static int setup_state(struct launch *l, struct vj_error **err)
{
	l->dirfd = vj_state_dir_open(l->o->state_dir, err);
	if (l->dirfd < 0)
		return -1;
	l->lock_fd = vj_state_lock(l->dirfd, l->spec->name, err);
	if (l->lock_fd < 0 || clear_leftovers(l, err) < 0)
		return -1;
	l->st.name = strdup(l->spec->name);
	l->st.cgroup = strdup(l->plan->cgroup);
	l->st.bpf_pin = vj_devfilter_pin_dir(bpffs_root(l->o), l->spec->name);
	l->st.supervisor = l->o->exec ? 0 : getpid();
	if (!l->st.name || !l->st.cgroup || !l->st.bpf_pin)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", l->spec->name, NULL, "out of memory");
	/* Written before anything else exists, so teardown can always find it all. */
	if (vj_state_write(l->dirfd, &l->st, err) < 0)
		return -1;
	l->state_written = true;
	return 0;
}

static int setup_cgroup_and_filter(struct launch *l, struct vj_error **err)
{
	_cleanup_close_ int cgfd = -1;

	if (vj_cgroup_create(l->st.cgroup, err) < 0)
		return -1;
	l->cgroup_created = true;
	cgfd = vj_cgroup_open(l->st.cgroup, err);
	if (cgfd < 0)
		return -1;
	if (vj_devfilter_load(l->plan->rules, l->plan->n_rules, &l->filter, err) < 0 ||
	    vj_devfilter_attach(l->filter, cgfd, l->st.cgroup, err) < 0)
		return -1;
	if (vj_devfilter_pin(l->filter, l->st.bpf_pin, err) < 0)
		return -1;
	l->pinned = true;
	return 0;
}

static int setup_iommufd(struct launch *l, struct vj_error **err)
{
	_cleanup_free_ char *path = vj_path_join(vj_root_dev(&l->o->plan.roots), "iommu");
	size_t i;

	l->ctx_fds = malloc((l->plan->n_iommufd + 1) * sizeof(int));
	if (!path || !l->ctx_fds)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "iommufd", NULL, NULL, "out of memory");
	for (i = 0; i < l->plan->n_iommufd; i++)
		l->ctx_fds[i] = -1;
	for (i = 0; i < l->plan->n_iommufd; i++) {
		_cleanup_free_ char *w = NULL;
		if (vj_iommufd_open_context(path, l->plan->iommufd[i].id, l->o->iommufd_best_effort,
					    &l->ctx_fds[i], &w, err) < 0)
			return -1;
		if (w) {
			l->plan->iommufd[i].accounting = VJ_ACCOUNTING_PER_USER;
			warn(l->o, w);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Child steps: in the launch child (or in vfiojail itself with --exec)       */

/* fds 3.. are the contexts in spec order; @keep (the error pipe) goes right after
 * them, close-on-exec; every other fd above 2 is closed. */
static int arrange_fds(struct launch *l, int *keep, struct vj_error **err)
{
	size_t n = l->plan->n_iommufd, i;
	int base = FD_FIRST + (int)n + 1, high[64];

	if (n > ARRAY_SIZE(high) - 1)
		return vj_err(err, VJ_EXIT_SETUP, EMFILE, "fds", NULL, NULL, "too many iommufd contexts");
	/* Move everything above the target range first, so no dup2 clobbers a source. */
	for (i = 0; i < n; i++)
		if ((high[i] = fcntl(l->ctx_fds[i], F_DUPFD_CLOEXEC, base + 64)) < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "fds", l->plan->iommufd[i].id, NULL, "dup");
	if (*keep >= 0 && (high[n] = fcntl(*keep, F_DUPFD_CLOEXEC, base + 64)) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "fds", NULL, NULL, "dup");
	for (i = 0; i < n; i++)
		if (dup2(high[i], FD_FIRST + (int)i) < 0) /* dup2 clears close-on-exec */
			return vj_err(err, VJ_EXIT_SETUP, errno, "fds", l->plan->iommufd[i].id, NULL, "dup2");
	if (*keep >= 0) {
		if (dup3(high[n], FD_FIRST + (int)n, O_CLOEXEC) < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "fds", NULL, NULL, "dup3");
		*keep = FD_FIRST + (int)n;
	}
	if (close_range((unsigned)(FD_FIRST + (int)n + (*keep >= 0 ? 1 : 0)), ~0U, 0) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "fds", NULL, NULL, "close_range");
	for (i = 0; i < n; i++)
		l->ctx_fds[i] = FD_FIRST + (int)i;
	return 0;
}

static int child_setup(struct launch *l, int *errfd, struct vj_error **err)
{
	struct vj_mountns_opts mo = { .dev_root = vj_root_dev(&l->o->plan.roots), .target = "/dev" };
	size_t i;

	/* /dev is populated before joining the cgroup: the filter grants no mknod to
	 * anything in the VM's cgroup, this child included. */
	if (vj_mountns_enter(err) < 0 ||
	    vj_mountns_populate_dev(l->plan->nodes, l->plan->n_nodes, &mo, err) < 0 ||
	    vj_cgroup_enter(l->st.cgroup, 0, err) < 0 || vj_rlimit_memlock_set(&l->plan->memlock, err) < 0 || arrange_fds(l, errfd, err) < 0)
		return -1;
	for (i = 0; l->env[i]; i++)
		if (putenv(l->env[i]) < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "exec", l->env[i], NULL, "putenv");
	return vj_privs_drop(l->plan->uid, l->plan->gid, NULL, err);
}

/* The VMM starts with every signal at its default action and the launcher's mask. */
static void reset_signals(const sigset_t *mask)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };

	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
}

static int child_exec(struct launch *l, const sigset_t *mask, struct vj_error **err)
{
	reset_signals(mask);
	execv(l->vmm_path, l->argv);
	return vj_err(err, errno == ENOENT ? VJ_EXIT_NOTFOUND : VJ_EXIT_NOEXEC, errno, "exec",
		      l->vmm_path, "the VMM must be executable by the VM's user", "cannot execute the VMM");
}

/* The error crosses the pipe as NUL-separated fields. */
static void send_error(int fd, const struct vj_error *e)
{
	char buf[4096];
	int n;

	if (!e)
		return;
	n = snprintf(buf, sizeof(buf), "%d%c%d%c%s%c%s%c%s%c%s", e->status, 0, e->errnum, 0,
		     e->step ? e->step : "", 0, e->object ? e->object : "", 0,
		     e->message ? e->message : "", 0, e->hint ? e->hint : "");
	if (n > 0 && write(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n + 1 : sizeof(buf)) < 0)
		return;
}

static int recv_error(int fd, struct vj_error **err)
{
	char buf[4096], *f[6];
	ssize_t n = 0, r;
	int i;

	while ((r = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += r;
	}
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	f[0] = buf;
	for (i = 1; i < 6; i++)
		f[i] = f[i - 1] + strlen(f[i - 1]) + (f[i - 1] + strlen(f[i - 1]) < buf + n ? 1 : 0);
	return vj_err(err, atoi(f[0]), atoi(f[1]), *f[2] ? f[2] : NULL, *f[3] ? f[3] : NULL,
		      *f[5] ? f[5] : NULL, "%s", f[4]);
}

/* ------------------------------------------------------------------------- */
/* Supervisor                                                                 */

static int supervise(struct launch *l, pid_t pid, const sigset_t *set)
{
	int status = 0;

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(pid, sig);
			continue;
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	(void)l;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return VJ_EXIT_SETUP;
}

static int launch_supervised(struct launch *l, const sigset_t *old, const sigset_t *set,
			     struct vj_error **err)
{
	int pipefd[2], status;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "fork", NULL, NULL, "pipe");
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return vj_err(err, VJ_EXIT_SETUP, errno, "fork", NULL, NULL, "cannot fork the launch child");
	}
	if (pid == 0) {
		struct vj_error *e = NULL;
		int errfd = pipefd[1];

		close(pipefd[0]);
		if (child_setup(l, &errfd, &e) == 0)
			child_exec(l, old, &e);
		send_error(errfd, e);
		_exit(e ? e->status : VJ_EXIT_SETUP);
	}
	close(pipefd[1]);
	if (recv_error(pipefd[0], err) < 0) {
		close(pipefd[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return -1;
	}
	close(pipefd[0]);
	/* The VMM runs: its fds are its own now. */
	for (size_t i = 0; i < l->plan->n_iommufd; i++) {
		close(l->ctx_fds[i]);
		l->ctx_fds[i] = -1;
	}
	l->st.vmm = pid;
	vj_state_write(l->dirfd, &l->st, NULL);
	return supervise(l, pid, set);
}

static int launch_exec(struct launch *l, const sigset_t *old, struct vj_error **err)
{
	int nofd = -1;

	if (vj_cgroup_self(vj_root_proc(&l->o->plan.roots), &l->orig_cgroup, err) < 0)
		return -1;
	{
		_cleanup_free_ char *root = NULL;
		char *abs;
		if (vj_cgroup2_root(vj_root_proc(&l->o->plan.roots), &root, err) < 0)
			return -1;
		abs = vj_path_join(root, l->orig_cgroup);
		if (!abs)
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "cgroup", NULL, NULL, "out of memory");
		free(l->orig_cgroup);
		l->orig_cgroup = abs;
	}
	l->st.vmm = getpid();
	if (vj_state_write(l->dirfd, &l->st, err) < 0)
		return -1;
	/* The lock is close-on-exec: once the VMM runs, its cgroup says it is alive. */
	if (child_setup(l, &nofd, err) < 0)
		return -1;
	return child_exec(l, old, err);
}

int vj_run(const struct vj_spec *spec, const struct vj_run_opts *o, struct vj_error **err)
{
	struct launch l = { .spec = spec, .o = o, .dirfd = -1, .lock_fd = -1 };
	sigset_t set, old;
	int r = -1;
	size_t i;

	if (!o->argv || !o->argv[0])
		return vj_err(err, VJ_EXIT_USAGE, 0, "argv", NULL,
			      "vfiojail run SPEC -- VMM [ARGS...]", "no VMM to run");
	if (vj_plan_build(spec, &o->plan, &l.plan, err) < 0)
		goto out;
	for (i = 0; i < l.plan->n_warnings; i++)
		warn(o, l.plan->warnings[i]);
	if (!l.plan->cgroup) {
		vj_err(err, VJ_EXIT_SETUP, ENOENT, "cgroup", NULL,
		       "mount cgroup2 (vfiojail check tells where it looks)",
		       "no cgroup2 mount: the device filter cannot be installed, so the VM does not start");
		goto out;
	}
	if (prepare_argv(&l, err) < 0 || resolve_vmm(o->argv[0], &l.vmm_path, err) < 0)
		goto out;
	if (setup_state(&l, err) < 0 || setup_cgroup_and_filter(&l, err) < 0 ||
	    setup_iommufd(&l, err) < 0)
		goto undo;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &set, &old);
	if (!o->exec) {
		/* A launcher may have left these ignored (bash does for background jobs);
		 * an ignored signal never reaches sigwaitinfo, so none could be forwarded. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		for (int sig = 1; sig < _NSIG; sig++)
			if (sigismember(&set, sig) == 1)
				sigaction(sig, &dfl, NULL);
	}
	if (o->exec) {
		launch_exec(&l, &old, err); /* returns only on failure */
		sigprocmask(SIG_SETMASK, &old, NULL);
		goto undo;
	}
	r = launch_supervised(&l, &old, &set, err);
	if (r < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		goto undo;
	}
	/* The VMM has exited: whatever it left in its cgroup goes with it. */
	{
		struct vj_error *e = NULL;
		if (l.filter) {
			vj_devfilter_free(l.filter);
			l.filter = NULL;
		}
		if (remove_jail(l.dirfd, &l.st, true, &e) < 0) {
			char msg[512];
			snprintf(msg, sizeof(msg), "cleanup after the VMM exited: %s: %s%s%s",
				 e && e->object ? e->object : "", e && e->message ? e->message : "",
				 e && e->errnum ? ": " : "", e && e->errnum ? strerror(e->errnum) : "");
			warn(o, msg);
		}
		vj_error_free(e);
		l.state_written = l.cgroup_created = l.pinned = false;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	goto out;
undo:
	r = -1;
out:
	launch_undo(&l);
	launch_free(&l);
	if (r < 0)
		return err && *err ? (*err)->status : VJ_EXIT_SETUP;
	return r;
}

/* ------------------------------------------------------------------------- */
/* Teardown                                                                   */

int vj_teardown(const char *name, const struct vj_run_opts *o, bool kill, struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	struct vj_state st;
	bool populated = false;
	int lock_fd, r;

	if (vj_validate_name(name, "NAME", err) < 0)
		return VJ_EXIT_USAGE;
	dirfd = vj_state_dir_open(o->state_dir, err);
	if (dirfd < 0)
		return VJ_EXIT_SETUP;
	lock_fd = vj_state_lock(dirfd, name, err);
	if (lock_fd < 0)
		return (*err)->status;
	r = vj_state_read(dirfd, name, &st, err);
	if (r < 0) {
		/* A damaged state file: remove what can be derived from the name. */
		char *pin = vj_devfilter_pin_dir(bpffs_root(o), name);
		if (pin)
			unpin(pin, NULL);
		free(pin);
		vj_state_remove(dirfd, name, NULL);
		vj_state_unlock(dirfd, name, lock_fd);
		vj_err_wrap(err, "teardown", name,
			    "removed its pins and state file; its cgroup (vfiojail-%s) may remain", name);
		return VJ_EXIT_SETUP;
	}
	if (r == 1) {
		/* No state: still remove pins a crashed launch may have left. */
		char *pin = vj_devfilter_pin_dir(bpffs_root(o), name);
		r = pin ? unpin(pin, err) : -1;
		free(pin);
		vj_state_unlock(dirfd, name, lock_fd);
		return r < 0 ? VJ_EXIT_SETUP : 0;
	}
	if (st.cgroup && vj_cgroup_populated(st.cgroup, &populated, NULL) == 0 && populated && !kill) {
		vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", name,
		       "stop the VMM first, or add --kill to SIGKILL every process in its cgroup",
		       "the VM still runs (VMM pid %d, cgroup %s)", (int)st.vmm, st.cgroup);
		r = VJ_EXIT_FAIL;
	} else {
		r = remove_jail(dirfd, &st, kill, err) < 0 ? VJ_EXIT_SETUP : 0;
	}
	vj_state_clear(&st);
	vj_state_unlock(dirfd, name, lock_fd);
	return r;
}
