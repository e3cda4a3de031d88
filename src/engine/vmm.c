/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Starting a VMM in a jail: shared by run and enter (see vmm.h). */
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "child.h"
#include "iommufd.h"
#include "plan.h"
#include "privs.h"
#include "proc.h"
#include "util.h"

#define FD_FIRST VJ_VMM_FD_FIRST

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

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

int vj_vmm_collect_ids(struct vj_vmm *v, struct vj_error **err)
{
	const struct vj_plan *p = v->plan;
	size_t n = p->n_iommufd, k = 0;

	if (v->ids)
		return 0;
	for (size_t i = 0; i < p->n_hostdevs && !v->contexts_only; i++)
		n += vj_hostdev_fd_at_start(&p->hostdevs[i]);
	v->ids = calloc(n + 1, sizeof(*v->ids));
	if (!v->ids)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "fds", NULL, NULL, "out of memory");
	for (size_t i = 0; i < p->n_iommufd; i++)
		v->ids[k++] = p->iommufd[i].id;
	for (size_t i = 0; i < p->n_hostdevs && !v->contexts_only; i++)
		if (vj_hostdev_fd_at_start(&p->hostdevs[i]))
			v->ids[k++] = p->hostdevs[i].fd;
	v->n_fds = n;
	return 0;
}

/* Replace each "@fd:ID@" in @arg by the fd's number (@first + index in v->ids).
 * Most of a QEMU command line names no fd: those arguments are copied as they
 * are, without a memory stream (a zeroed buffer of its own for each). */
static int substitute_arg(const struct vj_vmm *v, int first, const char *arg, size_t index,
			  char **out, struct vj_error **err)
{
	_cleanup_free_ char *res = NULL;
	size_t len = 0;
	FILE *m;
	const char *c = arg, *at, *end;
	char field[32];
	int r = 0;

	if (!strstr(arg, "@fd:")) {
		*out = strdup(arg);
		return *out ? 0 : vj_err(err, VJ_EXIT_SETUP, ENOMEM, "argv", NULL, NULL, "out of memory");
	}
	m = open_memstream(&res, &len);
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
		for (i = 0; i < v->n_fds; i++)
			if (strlen(v->ids[i]) == idlen && !strncmp(v->ids[i], at + 4, idlen))
				break;
		if (i == v->n_fds) {
			r = vj_err(err, VJ_EXIT_USAGE, 0, "argv", field,
				   "declare the context in the spec's \"iommufd\" list, or hand the hostdev as "
				   "an fd (\"fd\": ID)",
				   "\"%.*s\" names no iommufd context of this VM, nor a hostdev handed as an fd",
				   (int)(end - at + 1), at);
			break;
		}
		fprintf(m, "%.*s%d", (int)(at - c), c, first + (int)i);
		c = end + 1;
	}
	fputs(c, m);
	if (fclose(m) != 0 && r == 0)
		r = vj_err(err, VJ_EXIT_SETUP, ENOMEM, "argv", field, NULL, "out of memory");
	if (r == 0)
		*out = TAKE_PTR(res);
	return r;
}

int vj_vmm_ctx_first(const struct vj_vmm *v)
{
	return FD_FIRST + (int)v->preserve;
}

/* Most fds a launcher may hand over: far above any real launcher's. */
#define PRESERVE_MAX 4096

int vj_vmm_check_preserved(unsigned n, struct vj_error **err)
{
	char obj[32];

	if (n > PRESERVE_MAX)
		return vj_err(err, VJ_EXIT_USAGE, 0, "fds", "--preserve-fds", NULL,
			      "%u fds is more than the %d a launcher may hand over", n, PRESERVE_MAX);
	for (unsigned i = 0; i < n; i++) {
		int fd = FD_FIRST + (int)i;
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		snprintf(obj, sizeof(obj), "fd %d", fd);
		return vj_err(err, VJ_EXIT_USAGE, EBADF, "fds", obj,
			      "the launcher must pass every fd it asks to keep, or ask for fewer",
			      "fd %d is not open, but %u preserved fds means fds %d to %d reach the VMM",
			      fd, n, FD_FIRST, FD_FIRST + (int)n - 1);
	}
	return 0;
}

/* QEMU's -daemonize forks and exits in the parent: a supervisor would see its
 * VMM exit at once and tear the jail down under the daemon it left behind. */
static int refuse_daemonize(char *const *argv, struct vj_error **err)
{
	for (size_t i = 1; argv[i]; i++)
		if (!strcmp(argv[i], "-daemonize") || !strcmp(argv[i], "--daemonize"))
			return vj_err(err, VJ_EXIT_USAGE, 0, "argv", argv[i],
				      "drop -daemonize (the supervisor already runs the VMM in the "
				      "background), or use --exec and tear the jail down when the VM ends",
				      "a supervised VMM may not daemonize: it would leave its supervisor, "
				      "which would then take the jail down under it");
	return 0;
}

/* Whether "NAME=..." @a and @b set the same variable. */
static bool same_name(const char *a, const char *b)
{
	size_t n = strcspn(a, "=");

	return strncmp(a, b, n) == 0 && b[n] == '=';
}

/* v->envp: environ less what the VMM gets anew, then v->env (a later entry of
 * the same name wins, as with putenv), then LISTEN_PID. */
static int make_envp(struct vj_vmm *v)
{
	size_t n = 0, k = 0, i, j;

	for (char **e = environ; e && *e; e++)
		n++;
	v->envp = calloc(n + v->n_fds + 2, sizeof(char *));
	if (!v->envp)
		return -1;
	if (v->listen_pid)
		memcpy(v->listen_env, "LISTEN_PID=", sizeof("LISTEN_PID="));
	for (char **e = environ; e && *e; e++) {
		bool anew = v->listen_pid && same_name(v->listen_env, *e);
		for (i = 0; !anew && i < v->n_fds; i++)
			anew = same_name(v->env[i], *e);
		if (!anew)
			v->envp[k++] = *e;
	}
	for (i = 0; i < v->n_fds; i++) {
		for (j = i + 1; j < v->n_fds && !same_name(v->env[j], v->env[i]); j++)
			;
		if (j == v->n_fds)
			v->envp[k++] = v->env[i];
	}
	if (v->listen_pid)
		v->envp[k++] = v->listen_env;
	return 0;
}

int vj_vmm_prepare(struct vj_vmm *v, struct vj_plan *plan, const struct vj_run_opts *o,
		   struct vj_error **err)
{
	char *const *argv = o->argv;
	size_t n = 0, i;

	v->plan = plan;
	v->preserve = o->preserve_fds;
	v->listen_pid = o->listen_pid;
	if (!o->exec && refuse_daemonize(argv, err) < 0)
		return -1;
	while (argv[n])
		n++;
	if (vj_vmm_collect_ids(v, err) < 0)
		return -1;
	v->argv = calloc(n + 1, sizeof(char *));
	v->env = calloc(v->n_fds + 1, sizeof(char *));
	if (!v->argv || !v->env)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "argv", NULL, NULL, "out of memory");
	for (i = 0; i < n; i++)
		if (substitute_arg(v, vj_vmm_ctx_first(v), argv[i], i, &v->argv[i], err) < 0)
			return -1;
	for (i = 0; i < v->n_fds; i++)
		if (!(v->env[i] = fd_env(v->ids[i], vj_vmm_ctx_first(v) + (int)i)))
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "argv", NULL, NULL, "out of memory");
	if (make_envp(v) < 0)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "argv", NULL, NULL, "out of memory");
	return resolve_vmm(argv[0], &v->path, err);
}

void vj_vmm_close_preserved(const struct vj_vmm *v)
{
	if (v->preserve)
		close_range(FD_FIRST, (unsigned)vj_vmm_ctx_first(v) - 1, 0);
}

/* The hostdevs handed as fds, after the contexts in v->ctx_fds: each cdev
 * opened under @dev_root and checked to be the device sysfs named for the BDF
 * (the plan's major:minor), not a stale or planted node at the path. */
static int open_hostdev_fds(struct vj_vmm *v, const char *dev_root, struct vj_error **err)
{
	const struct vj_plan *p = v->plan;
	size_t k = p->n_iommufd;

	for (size_t i = 0; i < p->n_hostdevs; i++) {
		const struct vj_hostdev_plan *h = &p->hostdevs[i];
		_cleanup_free_ char *path = NULL;
		struct stat st;
		int fd;

		if (!vj_hostdev_fd_at_start(h))
			continue;
		if (!h->node || strncmp(h->node, "/dev/", 5) != 0)
			return vj_err(err, VJ_EXIT_SETUP, EINVAL, "hostdev", h->pci, NULL,
				      "the plan names no /dev node for it");
		path = vj_path_join(dev_root, h->node + 5);
		if (!path)
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "hostdev", h->pci, NULL, "out of memory");
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "hostdev", path,
				      "udev makes it from sysfs's vfio-dev entry of the device; is it still bound to vfio-pci?",
				      "cannot open the VFIO device of %s (to hand it as fd %s)", h->pci, h->fd);
		v->ctx_fds[k++] = fd;
		if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != h->major ||
		    minor(st.st_rdev) != h->minor)
			return vj_err(err, VJ_EXIT_SETUP, 0, "hostdev", path,
				      "recreate the node from sysfs (/sys/bus/pci/devices/BDF/vfio-dev/vfioN/dev; udev normally does)",
				      "%s is not the VFIO device of %s: it is %s %u:%u, sysfs says char %u:%u", path,
				      h->pci, S_ISCHR(st.st_mode) ? "char" : "not a char device", major(st.st_rdev),
				      minor(st.st_rdev), h->major, h->minor);
	}
	return 0;
}

int vj_vmm_open_contexts(struct vj_vmm *v, const char *dev_root, bool best_effort,
			 void (*warn)(const char *msg, void *userdata), void *userdata,
			 struct vj_error **err)
{
	_cleanup_free_ char *path = vj_path_join(dev_root, "iommu");
	struct vj_plan *p = v->plan;
	size_t i;

	if (vj_vmm_collect_ids(v, err) < 0)
		return -1;
	v->ctx_fds = malloc((v->n_fds + 1) * sizeof(int));
	if (!path || !v->ctx_fds)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "iommufd", NULL, NULL, "out of memory");
	for (i = 0; i < v->n_fds; i++)
		v->ctx_fds[i] = -1;
	for (i = 0; i < p->n_iommufd; i++) {
		_cleanup_free_ char *w = NULL;
		struct stat st;
		if (vj_iommufd_open_context(path, p->iommufd[i].id, best_effort, &v->ctx_fds[i], &w,
					    err) < 0)
			return -1;
		/* The fd handed over must be the iommufd the plan found in sysfs, not a
		 * stale or planted node that merely sits at the path. */
		if (fstat(v->ctx_fds[i], &st) < 0 || !S_ISCHR(st.st_mode) ||
		    major(st.st_rdev) != p->iommufd[i].major || minor(st.st_rdev) != p->iommufd[i].minor)
			return vj_err(err, VJ_EXIT_SETUP, 0, "iommufd", path,
				      "recreate the node from /sys/class/misc/iommu/dev (udev normally does)",
				      "%s is not the kernel's iommufd: it is %s %u:%u, sysfs says char %u:%u",
				      p->iommufd[i].id, S_ISCHR(st.st_mode) ? "char" : "not a char device",
				      major(st.st_rdev), minor(st.st_rdev), p->iommufd[i].major,
				      p->iommufd[i].minor);
		if (w) {
			p->iommufd[i].accounting = VJ_ACCOUNTING_PER_USER;
			if (warn)
				warn(w, userdata);
		}
	}
	return v->contexts_only ? 0 : open_hostdev_fds(v, dev_root, err);
}

void vj_vmm_close_contexts(struct vj_vmm *v)
{
	for (size_t i = 0; v->ctx_fds && i < v->n_fds; i++)
		if (v->ctx_fds[i] >= 0) {
			close(v->ctx_fds[i]);
			v->ctx_fds[i] = -1;
		}
}

void vj_vmm_free(struct vj_vmm *v)
{
	vj_vmm_close_contexts(v);
	free(v->ctx_fds);
	free(v->ids);
	strv_free(v->argv);
	strv_free(v->env);
	free(v->envp); /* its strings are environ's and v->env's */
	free(v->path);
	memset(v, 0, sizeof(*v));
}

/* ------------------------------------------------------------------------- */
/* The launch child                                                           */

/* fds 3 .. 3+preserve-1 are the launcher's, kept; the contexts follow in spec
 * order; @keep (the error pipe) goes right after them, close-on-exec; every other
 * fd above 2 is closed.  l->ctx_fds stay as they are: they are the parent's
 * numbers when the child shares its memory. */
static int arrange_fds(struct vj_vmm *l, int *keep, struct vj_error **err)
{
	size_t n = l->n_fds, i;
	int first = vj_vmm_ctx_first(l), base = first + (int)n + 1, high[64];

	if (n > ARRAY_SIZE(high) - 1)
		return vj_err(err, VJ_EXIT_SETUP, EMFILE, "fds", NULL, NULL,
			      "too many iommufd contexts and hostdev fds (%zu, at most %zu)", n,
			      ARRAY_SIZE(high) - 1);
	/* The launcher's fds reach the VMM even if a library caller opened them
	 * close-on-exec. */
	for (i = 0; i < l->preserve; i++) {
		int fd = FD_FIRST + (int)i, fl = fcntl(fd, F_GETFD);
		if (fl < 0 || ((fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0))
			return vj_err(err, VJ_EXIT_USAGE, errno, "fds", NULL, NULL,
				      "preserved fd %d is not open", fd);
	}
	/* Move everything above the target range first, so no dup2 clobbers a source. */
	for (i = 0; i < n; i++)
		if ((high[i] = fcntl(l->ctx_fds[i], F_DUPFD_CLOEXEC, base)) < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "fds", l->ids[i], NULL, "dup");
	if (*keep >= 0 && (high[n] = fcntl(*keep, F_DUPFD_CLOEXEC, base)) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "fds", NULL, NULL, "dup");
	for (i = 0; i < n; i++)
		if (dup2(high[i], first + (int)i) < 0) /* dup2 clears close-on-exec */
			return vj_err(err, VJ_EXIT_SETUP, errno, "fds", l->ids[i], NULL, "dup2");
	if (*keep >= 0) {
		if (dup3(high[n], first + (int)n, O_CLOEXEC) < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "fds", NULL, NULL, "dup3");
		*keep = first + (int)n;
	}
	if (close_range((unsigned)(first + (int)n + (*keep >= 0 ? 1 : 0)), ~0U, 0) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "fds", NULL, NULL, "close_range");
	return 0;
}

int vj_vmm_child_finish(struct vj_vmm *v, int *errfd, struct vj_error **err)
{
	if (arrange_fds(v, errfd, err) < 0)
		return -1;
	/* Socket activation: the fds are the VMM's now, and so is LISTEN_PID (the
	 * launch child's pid is the VMM's: exec keeps it). */
	if (v->listen_pid) {
		char num[VJ_U64_STR_MAX];
		strcpy(v->listen_env + strlen("LISTEN_PID="), vj_u64_format((uint64_t)getpid(), num));
	}
	if (v->keep_privs) /* contexts: nothing was granted that a setuid program could keep */
		return 0;
	if (v->keep_ids) /* already the VM's user: nothing to drop, nothing to gain */
		return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
			       ? vj_err(err, VJ_EXIT_SETUP, errno, "privs", NULL, NULL, "no_new_privs")
			       : 0;
	if (v->plan->groups_known) { /* looked up by the plan, in the parent */
		struct vj_proc_status ps;

		if (vj_privs_drop_groups(v->plan->uid, v->plan->gid, v->plan->groups,
					 v->plan->n_groups, &ps, err) < 0)
			return -1;
		/* The dispositions as the verification read them: nothing changes
		 * them between here and the exec. */
		v->sig_known = ps.has_caps;
		v->sig_reset = ps.sig_ign | ps.sig_cgt;
		return 0;
	}
	return vj_privs_drop(v->plan->uid, v->plan->gid, NULL, err);
}

/* The VMM starts with every signal at its default action and the launcher's mask.
 * Only those ignored or caught need a reset (/proc/self/status's SigIgn and
 * SigCgt, one read instead of a sigaction per signal); without that file, all. */
static void reset_signals(const struct vj_vmm *v, const sigset_t *mask)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	struct vj_proc_status ps = { 0 };
	uint64_t set = UINT64_MAX;

	if (v->sig_known) /* read once the privileges were dropped (vj_vmm_child_finish) */
		set = v->sig_reset;
	else if (vj_proc_status_self(&ps) == 0 && ps.has_caps)
		set = ps.sig_ign | ps.sig_cgt;
	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && (sig > 64 || (set & (UINT64_C(1) << (sig - 1)))))
			(void)sigaction(sig, &sa, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
}

int vj_vmm_exec(struct vj_vmm *v, const sigset_t *mask, struct vj_error **err)
{
	reset_signals(v, mask);
	execve(v->path, v->argv, v->envp);
	return vj_err(err, errno == ENOENT ? VJ_EXIT_NOTFOUND : VJ_EXIT_NOEXEC, errno, "exec",
		      v->path, "the VMM must be executable by the VM's user", "cannot execute the VMM");
}


/* ------------------------------------------------------------------------- */
/* Supervisor                                                                 */

void vj_vmm_block_signals(bool exec, sigset_t *set, sigset_t *old)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	sigprocmask(SIG_BLOCK, set, old);
	if (!exec) {
		/* A launcher may have left these ignored (bash does for background jobs);
		 * an ignored signal never reaches sigwaitinfo, so none could be forwarded. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		for (int sig = 1; sig < _NSIG; sig++)
			if (sigismember(set, sig) == 1)
				sigaction(sig, &dfl, NULL);
	}
}

/*
 * Once the VMM runs, the supervisor only waits and forwards signals.  Setting up
 * touched much of libc and vfiojail, and the kernel mapped those file pages
 * around each fault (fault-around): 2 MiB of RSS that the supervisor will not
 * use again.  Drop our page table entries for every file mapping that holds no
 * private page (smaps "Anonymous: 0 kB", so nothing of ours is lost: a later
 * access maps the same page-cache page again) and give freed heap back.
 * The pages stay in the page cache, shared with every other process.
 */
static void shed_memory(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/smaps", "re");
	_cleanup_free_ char *line = NULL;
	unsigned long start = 0, end = 0, inode = 0;
	size_t cap = 0;
	char perms[8] = "";

	malloc_trim(0);
	while (f && getline(&line, &cap, f) > 0) {
		unsigned long anon, s, e, ino;
		char p[8];

		/* A mapping's first line; sscanf may fill some fields of other lines. */
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &s, &e, p, &ino) == 4) {
			start = s, end = e, inode = ino;
			memcpy(perms, p, sizeof(perms));
			continue;
		}
		if (sscanf(line, "Anonymous: %lu kB", &anon) != 1)
			continue;
		if (anon == 0 && inode != 0 && !strchr(perms, 'w') && end > start)
			madvise((void *)start, end - start, MADV_DONTNEED);
		inode = 0; /* once per mapping */
	}
}

/* Shed memory after the VMM has run this long: a short-lived VMM never pays for it. */
#define SETTLE_NS (200L * 1000 * 1000)

static int supervise(pid_t pid, const sigset_t *set)
{
	const struct timespec settle = { .tv_sec = 0, .tv_nsec = SETTLE_NS };
	bool settled = false;
	int status = 0;

	for (;;) {
		siginfo_t si;
		int sig = settled ? sigwaitinfo(set, &si) : sigtimedwait(set, &si, &settle);
		if (sig < 0) {
			if (errno == EAGAIN && !settled) {
				settled = true;
				shed_memory();
			}
			continue;
		}
		if (sig != SIGCHLD) {
			/* A terminal's ^C or ^\ (sent by the line discipline to the whole
			 * foreground process group) has reached the VMM already, as it
			 * shares our group: forwarding it would deliver it twice.  A
			 * hangup is always forwarded: the kernel sends it to the session
			 * leader alone (drivers/tty/tty_jobctrl.c), which may be us. */
			bool from_tty = si.si_code == SI_KERNEL && (sig == SIGINT || sig == SIGQUIT) &&
					getpgid(pid) == getpgrp();
			if (!from_tty)
				kill(pid, sig);
			continue;
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return VJ_EXIT_SETUP;
}

/* The launch child: into the jail, the last steps, exec. */
struct launch_child {
	struct vj_vmm *v;
	int (*join)(void *userdata, struct vj_error **err);
	int (*forked)(pid_t pid, void *userdata, struct vj_error **err);
	void *userdata;
	const sigset_t *old;
};

static int launch_child(void *arg, int *errfd, struct vj_error **err)
{
	struct launch_child *lc = arg;

	if (lc->join(lc->userdata, err) < 0 || vj_vmm_child_finish(lc->v, errfd, err) < 0)
		return -1;
	return vj_vmm_exec(lc->v, lc->old, err); /* returns only on failure */
}

/* The VMM is not exec'd before the parent recorded its pid. */
static int launch_gate(pid_t pid, void *arg, struct vj_error **err)
{
	struct launch_child *lc = arg;

	return lc->forked(pid, lc->userdata, err);
}

int vj_vmm_start_supervised(struct vj_vmm *v, int (*join)(void *userdata, struct vj_error **err),
			    int (*forked)(pid_t pid, void *userdata, struct vj_error **err),
			    void (*started)(pid_t pid, void *userdata), void *userdata,
			    const sigset_t *old, const sigset_t *set, struct vj_error **err)
{
	struct launch_child lc = { v, join, forked, userdata, old };
	struct vj_child c;

	if (vj_child_run(&c, VJ_CHILD_EXEC, forked ? launch_gate : NULL, launch_child, &lc, "fork", NULL,
			 err) < 0)
		return -1;
	/* The VMM runs: its fds are its own now.  A supervisor holding the
	 * launcher's sockets would keep them open after the VMM exits. */
	vj_vmm_close_contexts(v);
	vj_vmm_close_preserved(v);
	if (started)
		started(c.pid, userdata);
	return supervise(c.pid, set);
}
