/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Jails that outlive one command: setup, enter, teardown (and the pieces run
 * shares with them).
 *
 * setup is one list of steps, like run's launch: state file (written first, so
 * that teardown can always find everything), cgroup, filter (attach, verify,
 * pin), the mount namespace (a short-lived child unshares and populates /dev;
 * its nsfs file is bound on <state_dir>/ns/NAME, a private mount, so the
 * namespace outlives the child).  Each step records what it made in struct
 * setup before the next starts; a failure removes it all, newest first.
 */
#include "jail.h"

#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpfsys.h"
#include "cgroup.h"
#include "apply.h"
#include "child.h"
#include "error.h"
#include "memlock.h"
#include "mountns.h"
#include "name.h"
#include "pidfd.h"
#include "plan.h"
#include "privs.h"
#include "rlimit.h"
#include "serve.h"
#include "spec_internal.h"
#include "sysfs.h"
#include "util.h"
#include "vmm.h"

/* ------------------------------------------------------------------------- */
/* Shared with run                                                            */

static bool bpffs_writable(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && (unsigned long)st.f_type == BPF_FS_MAGIC &&
	       !(st.f_flags & ST_RDONLY);
}

char *vj_jail_pin_dir(const struct vj_run_opts *o, const char *name)
{
	_cleanup_free_ char *bpffs = vj_jail_bpffs(o);

	return bpffs ? vj_devfilter_pin_dir(bpffs, name) : NULL;
}

/* STATE_DIR/ns/ESC, ESC the name's escape (name.h). */
static char *ns_binding(const struct vj_run_opts *o, const char *name)
{
	_cleanup_free_ char *esc = vj_name_escape(name);

	return esc ? vj_strdupf("%s/" VJ_NS_DIR "/%s", vj_state_dir(o->state_dir), esc) : NULL;
}

char *vj_jail_bpffs(const struct vj_run_opts *o)
{
	if (o->bpffs && *o->bpffs)
		return strdup(o->bpffs);
	if (bpffs_writable(VJ_BPFFS_DEFAULT))
		return strdup(VJ_BPFFS_DEFAULT);
	return vj_strdupf("%s/" VJ_OWN_BPFFS, vj_state_dir(o->state_dir));
}

static void own_bpffs_release(int dirfd, const char *root);

static int oom(struct vj_error **err, const char *object)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", object, NULL, "out of memory");
}

/* A directory of vfiojail's (its user's, writable by no one else), or absent:
 * one that someone else planted is never emptied or removed. */
static bool pin_dir_ours(const char *dir)
{
	struct stat st;

	if (!dir || lstat(dir, &st) < 0)
		return true;
	return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 022);
}

int vj_jail_unpin(int dirfd, const char *dir, struct vj_error **err)
{
	_cleanup_free_ char *parent = vj_path_parent(dir, 1);
	uint64_t id;
	bool populated = false;
	int r;

	if (!pin_dir_ours(dir))
		return 0; /* not vfiojail's: nothing of this jail can be in it */

	/* Never the filter of a VM that still runs: its cgroup is found by the link's
	 * cgroup id, whichever state dir, path or namespace the jail was made through. */
	if (vj_devfilter_pinned_cgroup_id(dir, &id) == 0 &&
	    vj_cgroup_populated_by_id(id, &populated) == 1 && populated)
		return vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", dir,
			      "this filter belongs to a VM that still runs (maybe made with another --state-dir, or in a container): stop that VM, or tear it down where it was made",
			      "the device filter pinned at %s guards cgroup id %" PRIu64 ", which still has processes: not removed",
			      dir, id);
	r = vj_devfilter_unpin_dir(dir, err);

	if (r == 0 && parent && pin_dir_ours(parent))
		(void)rmdir(parent); /* ENOTEMPTY while other jails are pinned */
	if (r == 0) {
		_cleanup_free_ char *root = vj_path_parent(dir, 2) /* ROOT of ROOT/vfiojail/NAME */;
		if (root)
			own_bpffs_release(dirfd, root);
	}
	return r;
}

/* The ns directory's own lock: setups and teardowns of any name take it while
 * they change the directory or its mount. */
static int ns_dir_lock(int dirfd, struct vj_error **err)
{
	while (flock(dirfd, LOCK_EX) < 0)
		if (errno != EINTR)
			return vj_err_sys(err, "namespace", VJ_NS_DIR, errno, NULL, "flock");
	return 0;
}

static void ns_dir_unlock(int dirfd)
{
	flock(dirfd, LOCK_UN);
}


static bool dir_is_empty(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			return false;
	return d != NULL;
}

int vj_jail_check_state_dir(const struct vj_run_opts *o, bool *exists, struct vj_error **err)
{
	const char *state = vj_state_dir(o->state_dir);
	_cleanup_free_ char *parent = NULL;
	_cleanup_close_ int dirfd = -1;
	int r = vj_state_dir_find(o->state_dir, &dirfd, err);

	if (exists)
		*exists = r == 1;
	if (r != 0)
		return r < 0 ? -1 : 0;
	parent = vj_path_parent(state, 1);
	if (!parent)
		return oom(err, state);
	if (access(parent, W_OK) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", state,
			      errno == EROFS ? "only the commands that make a jail (run, setup) need a writable state directory: choose one with --state-dir"
					     : "create its parent directory, or choose another with --state-dir",
			      "cannot create the state directory");
	return 0;
}

int vj_preflight(const struct vj_run_opts *o, const struct vj_plan *p, struct vj_error **err)
{
	_cleanup_free_ char *parent = NULL, *bpffs = NULL;
	struct statvfs sv;

	if (!p->cgroup)
		return vj_err(err, VJ_EXIT_SETUP, ENOENT, "cgroup", NULL,
			      "mount cgroup2 (vfiojail check tells where it looks)",
			      "no cgroup2 mount: the device filter cannot be installed, so the VM does not start");
	parent = vj_path_parent(p->cgroup, 1);
	if (!parent)
		return oom(err, p->cgroup);
	if (statvfs(parent, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		return vj_err(err, VJ_EXIT_SETUP, EROFS, "cgroup", parent,
			      "give vfiojail a writable cgroup2 mount (containers often get /sys/fs/cgroup read-only)",
			      "the cgroup2 file system holding %s is read-only: the VM's cgroup cannot be created",
			      parent);
	if (vj_jail_check_state_dir(o, NULL, err) < 0)
		return -1;
	bpffs = vj_jail_bpffs(o);
	if (!bpffs)
		return oom(err, "bpffs");
	return vj_devfilter_check_root(bpffs, o->bpffs && *o->bpffs, err);
}

/* Whether @root is STATE_DIR/bpffs of the state dir open as @dirfd. */
static bool is_own_bpffs(int dirfd, const char *root)
{
	const char *leaf = root ? strrchr(root, '/') : NULL;
	_cleanup_free_ char *parent = NULL;
	struct stat a, b;

	if (dirfd < 0 || !leaf || strcmp(leaf + 1, VJ_OWN_BPFFS) != 0 ||
	    !(parent = vj_path_parent(root, 1)))
		return false;
	return stat(parent, &a) == 0 && fstat(dirfd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int vj_jail_bpffs_prepare(int dirfd, const char *root, struct vj_error **err)
{
	struct statfs st;
	int r = 0;

	if (!is_own_bpffs(dirfd, root))
		return 0;
	if (ns_dir_lock(dirfd, err) < 0)
		return -1;
	if (mkdirat(dirfd, VJ_OWN_BPFFS, 0700) < 0 && errno != EEXIST)
		r = vj_err_sys(err, "devfilter", root, errno, NULL,
			       "cannot create the directory for vfiojail's own bpffs");
	else if ((statfs(root, &st) < 0 || (unsigned long)st.f_type != BPF_FS_MAGIC) &&
		 mount("bpf", root, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		r = vj_err_sys(err, "devfilter", root, errno,
			       "mount a bpffs at " VJ_BPFFS_DEFAULT " (mount -t bpf -o mode=0700 bpf " VJ_BPFFS_DEFAULT ")",
			       "no writable bpffs at " VJ_BPFFS_DEFAULT ", and vfiojail's own instance cannot be mounted at %s",
			       root);
	ns_dir_unlock(dirfd);
	return r;
}

/* Nothing pinned: a new bpffs instance holds only what the kernel's BPF preload puts
 * in every one (maps.debug, progs.debug). */
static bool bpffs_is_empty(const char *path)
{
	_cleanup_closedir_ DIR *d = opendir(path);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "maps.debug") != 0 && strcmp(de->d_name, "progs.debug") != 0)
			return false;
	return d != NULL;
}

/* vfiojail's own bpffs instance @root goes when nothing is pinned in it any more. */
static void own_bpffs_release(int dirfd, const char *root)
{
	_cleanup_free_ char *top = NULL;

	if (!is_own_bpffs(dirfd, root) || ns_dir_lock(dirfd, NULL) < 0)
		return;
	top = vj_path_join(root, "vfiojail");
	if (top)
		(void)rmdir(top);
	if (bpffs_is_empty(root) && umount2(root, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		(void)unlinkat(dirfd, VJ_OWN_BPFFS, AT_REMOVEDIR);
	ns_dir_unlock(dirfd);
}


int vj_jail_ns_remove(int dirfd, const char *ns_path, struct vj_error **err)
{
	_cleanup_free_ char *dir = vj_path_parent(ns_path, 1);
	int r = 0;

	if (!dir)
		return vj_err_sys(err, "namespace", ns_path, ENOMEM, NULL, "out of memory");
	if (ns_dir_lock(dirfd, err) < 0)
		return -1;
	/* EINVAL: not a mount point (never bound, or unbound already). */
	while (umount2(ns_path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		;
	if (errno != EINVAL && errno != ENOENT)
		r = vj_err_sys(err, "namespace", ns_path, errno, NULL,
			       "cannot unmount the namespace binding");
	if (r == 0 && unlink(ns_path) < 0 && errno != ENOENT)
		r = vj_err_sys(err, "namespace", ns_path, errno, NULL,
			       "cannot remove the namespace binding");
	if (r == 0 && dir_is_empty(dir)) {
		while (umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			;
		(void)rmdir(dir);
	}
	ns_dir_unlock(dirfd);
	return r;
}

/* ------------------------------------------------------------------------- */
/* The spec, kept in the state for re-planning                                */


static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The state a later command needs: where the host was read, the spec, the plan. */
static int state_fill(struct vj_state *st, const struct vj_spec *spec, struct vj_plan *plan,
		      const struct vj_run_opts *o)
{
	const struct vj_roots *roots = &o->plan.roots;

	st->spec = vj_spec_json(spec, plan);
	st->plan = plan;
	st->iommufd_best_effort = o->iommufd_best_effort;
	st->sysfs_root = dup_or_null(roots->sysfs);
	st->proc_root = dup_or_null(roots->proc);
	st->dev_root = dup_or_null(roots->dev);
	st->cgroup_parent = dup_or_null(o->plan.cgroup_parent);
	if (!st->spec || (roots->sysfs && !st->sysfs_root) || (roots->proc && !st->proc_root) ||
	    (roots->dev && !st->dev_root) || (o->plan.cgroup_parent && !st->cgroup_parent))
		return -1;
	return 0;
}

int vj_jail_keep_spec(struct vj_jail *j, const struct vj_spec *spec, const struct vj_run_opts *o)
{
	return state_fill(&j->st, spec, j->st.plan, o);
}

/* ------------------------------------------------------------------------- */
/* Locks                                                                      */

/* The name's lock, waiting up to about 5 s for a short command (enter, attach)
 * that holds it; a supervising run holds it for good: still "in use". */
static int lock_name(int dirfd, const char *name, bool wait, struct vj_error **err)
{
	for (int tries = 0;; tries++) {
		struct vj_error *e = NULL;
		int fd = vj_state_lock(dirfd, name, &e);
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (fd >= 0)
			return fd;
		if (!wait || e->status != VJ_EXIT_USAGE || tries >= 250) {
			if (err && !*err)
				*err = e;
			else
				vj_error_free(e);
			return -1;
		}
		vj_error_free(e);
		nanosleep(&ts, NULL);
	}
}

static uint64_t proc_start_time(pid_t pid);

/* ------------------------------------------------------------------------- */
/* Claiming a name for a new jail (run, setup, launch)                        */

/* A previous jail of the name when @replace_dead: refused while it runs or when
 * setup made it, removed when its VMM is gone.  Otherwise any jail is refused. */
static int claim_old(struct vj_jail *j, const char *name, bool replace_dead, const struct vj_run_opts *o,
		     struct vj_error **err)
{
	struct vj_state old;
	bool populated = false;
	char msg[256], shown[VJ_NAME_SHOWN_MAX];
	int r = vj_state_read(j->dirfd, name, &old, err);

	if (r == 1)
		return 0;
	if (r == -1) /* could not be read: says nothing about whether the name is taken */
		return vj_err_wrap(err, "state", name,
				   replace_dead ? "cannot tell whether a previous launch still runs; run vfiojail teardown %s"
						: "cannot tell whether a jail of this name exists",
				   name);
	if (r < 0 && replace_dead) /* damaged */
		return vj_err_wrap(err, "state", name,
				   "cannot tell whether a previous launch still runs; run vfiojail teardown %s", name);
	if (r < 0 || !replace_dead) {
		if (err && *err) { /* damaged: the name is taken all the same */
			vj_error_free(*err);
			*err = NULL;
		}
		vj_state_clear(&old);
		return vj_err(err, VJ_EXIT_USAGE, EEXIST, "state", name,
			      "pick another name, or remove it first: vfiojail teardown NAME",
			      "a jail of this name exists already");
	}
	if (old.kind == VJ_STATE_SETUP) {
		vj_err(err, VJ_EXIT_USAGE, EEXIST, "state", name,
		       "run a command in it with vfiojail enter NAME, or remove it with teardown",
		       "a jail made by vfiojail setup has this name");
		vj_state_clear(&old);
		return -1;
	}
	if (old.cgroup && vj_cgroup_populated(old.cgroup, &populated, NULL) == 0 && populated) {
		vj_err(err, VJ_EXIT_USAGE, 0, "state", name, "stop it first, or vfiojail teardown --kill NAME",
		       "this VM is already running (VMM pid %d, cgroup %s)", (int)old.vmm, old.cgroup);
		vj_state_clear(&old);
		return -1;
	}
	r = vj_apply_destroy(j->dirfd, &old, false, err);
	if (r == 0 && o->warn) {
		snprintf(msg, sizeof(msg), "removed what a previous launch of %s left (VMM pid %d is gone)",
			 vj_name_shown(name, shown), (int)old.vmm);
		o->warn(msg, o->userdata);
	}
	vj_state_clear(&old);
	return r;
}

int vj_jail_claim(struct vj_jail *j, struct vj_plan *plan, const struct vj_run_opts *o, bool replace_dead,
		  struct vj_error **err)
{
	*j = (struct vj_jail){ .dirfd = -1, .lock_fd = -1, .name = plan->name };
	j->st.plan = plan;
	j->dirfd = vj_state_dir_open(o->state_dir, err);
	if (j->dirfd < 0)
		return -1;
	j->lock_fd = vj_state_lock(j->dirfd, plan->name, err);
	if (j->lock_fd < 0 || claim_old(j, plan->name, replace_dead, o, err) < 0)
		return -1;
	j->st.name = strdup(plan->name);
	j->st.cgroup = strdup(plan->cgroup);
	j->st.bpf_pin = vj_jail_pin_dir(o, plan->name);
	if (!j->st.name || !j->st.cgroup || !j->st.bpf_pin)
		return oom(err, plan->name);
	j->name = j->st.name;
	return 0;
}

void vj_jail_origin(struct vj_jail *j, enum vj_state_origin origin)
{
	j->st.origin = origin;
	j->st.vmm_start = 0;
	if (j->st.vmm > 0 && vj_pid_starttime(j->st.vmm, &j->st.vmm_start) < 0)
		j->st.vmm_start = 0; /* not recorded: a live pid then counts as the VMM */
}

/* ------------------------------------------------------------------------- */
/* The kept mount namespace                                                   */

/* <state_dir>/ns as a private mount of itself, so that the nsfs bindings in it
 * propagate nowhere (a binding that reached the jail's own namespace would keep
 * it alive for ever).  Called with the ns directory lock held. */
static int ns_dir_private(const char *dir, struct vj_error **err)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return vj_err_sys(err, "namespace", dir, errno, NULL, "cannot create the directory");
	if (mount(NULL, dir, NULL, MS_PRIVATE, NULL) == 0)
		return 0;
	if (errno != EINVAL) /* EINVAL: not a mount point yet */
		return vj_err_sys(err, "namespace", dir, errno, NULL, "cannot make it a private mount");
	if (mount(dir, dir, NULL, MS_BIND, NULL) < 0 || mount(NULL, dir, NULL, MS_PRIVATE, NULL) < 0)
		return vj_err_sys(err, "namespace", dir, errno, "vfiojail needs CAP_SYS_ADMIN",
				  "cannot make it a private bind mount of itself");
	return 0;
}

/* The namespace holder: a new mount namespace with the jail's /dev, made on
 * @cpu (-1: anywhere); vj_child_run then keeps it until the parent has bound its
 * nsfs file (or has died). */
struct ns_holder {
	const struct vj_plan *plan;
	const char *dev_root;
	int cpu;
};

static int ns_child(void *arg, int *errfd, struct vj_error **err)
{
	struct ns_holder *h = arg;
	struct vj_mountns_opts mo = { .dev_root = h->dev_root, .target = "/dev" };
	cpu_set_t one;

	CPU_ZERO(&one);
	if (h->cpu >= 0) {
		CPU_SET(h->cpu, &one);
		(void)sched_setaffinity(0, sizeof(one), &one);
	}
	if (vj_mountns_enter(err) < 0)
		return -1;
	return vj_mountns_populate_dev(h->plan->nodes, h->plan->n_nodes, &mo, err);
}

static int create_ns_file(const char *ns_path, struct vj_error **err)
{
	int fd = open(ns_path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);

	if (fd < 0)
		return vj_err_sys(err, "namespace", ns_path, errno,
				  errno == EEXIST ? "vfiojail teardown NAME removes a leftover" : NULL,
				  "cannot create the namespace binding");
	close(fd);
	return 0;
}

/*
 * One namespace holder on @h->cpu; bind its namespace.  1 when the kernel refused
 * the binding as a possible loop (EINVAL): since Linux 6.18 namespace ids come
 * from per-CPU batches, so a newer namespace made on another CPU can have a
 * lower id than ours; one made on the CPU that made ours never does.
 */
static int ns_attempt(const char *ns_path, struct ns_holder *h, struct vj_error **err)
{
	struct vj_child c;
	char src[64];
	int r = -1;

	if (vj_child_run(&c, VJ_CHILD_HOLD, NULL, ns_child, h, "namespace", NULL, err) < 0)
		return -1;
	snprintf(src, sizeof(src), "/proc/%d/ns/mnt", (int)c.pid);
	if (mount(src, ns_path, NULL, MS_BIND, NULL) == 0)
		r = 0;
	else if (errno == EINVAL && h->cpu >= 0)
		r = 1;
	else
		vj_err_sys(err, "namespace", ns_path, errno, NULL,
			   "cannot bind the jail's mount namespace (%s)", src);
	vj_child_finish(&c); /* the holder exits */
	return r;
}

static int ns_bind_any_cpu(const char *ns_path, struct ns_holder *h, struct vj_error **err)
{
	cpu_set_t allowed;
	int r = 1;

	h->cpu = -1;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return ns_attempt(ns_path, h, err);
	for (int cpu = 0; r == 1 && cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &allowed)) {
			h->cpu = cpu;
			r = ns_attempt(ns_path, h, err);
		}
	if (r == 1)
		return vj_err_sys(err, "namespace", ns_path, EINVAL, NULL,
				  "the kernel refused to bind the jail's mount namespace on every CPU");
	return r;
}

int vj_jail_ns_make(int dirfd, const char *ns_path, const struct vj_plan *plan, const char *dev_root,
		    struct vj_error **err)
{
	_cleanup_free_ char *dir = vj_path_parent(ns_path, 1);
	struct ns_holder h = { plan, dev_root, -1 };
	bool made = false;
	int r;

	if (!dir)
		return oom(err, ns_path);
	if (ns_dir_lock(dirfd, err) < 0)
		return -1;
	r = ns_dir_private(dir, err);
	if (r == 0 && (r = create_ns_file(ns_path, err)) == 0)
		made = true;
	if (r == 0)
		r = ns_bind_any_cpu(ns_path, &h, err);
	if (r < 0 && !made && dir_is_empty(dir)) {
		umount2(dir, MNT_DETACH);
		rmdir(dir);
	}
	ns_dir_unlock(dirfd);
	return r; /* on failure the step's undo removes the binding */
}

/* ------------------------------------------------------------------------- */
/* setup                                                                      */

int vj_setup(const struct vj_spec *spec, const struct vj_run_opts *o, struct vj_error **err)
{
	static const enum vj_step steps[] = { VJ_STEP_CGROUP, VJ_STEP_FILTER, VJ_STEP_NAMESPACE };
	struct vj_plan *plan = NULL;
	struct vj_jail j = { .dirfd = -1, .lock_fd = -1 };
	struct vj_apply a = { .o = o };
	int r = -1;

	if (vj_plan_build(spec, &o->plan, &plan, err) < 0)
		return -1;
	for (size_t i = 0; o->warn && i < plan->n_warnings; i++)
		o->warn(plan->warnings[i], o->userdata);
	if (vj_preflight(o, plan, err) < 0) {
		vj_plan_free(plan);
		return -1;
	}
	if (vj_jail_claim(&j, plan, o, false, err) < 0)
		goto out;
	j.st.kind = VJ_STATE_SETUP;
	j.st.origin = VJ_ORIGIN_SETUP;
	j.st.owner = getppid(); /* the launcher: when it is gone and no process runs, gc may remove the jail */
	j.st.owner_start = proc_start_time(j.st.owner);
	j.st.ns_path = ns_binding(o, spec->name);
	if (!j.st.ns_path || state_fill(&j.st, spec, plan, o) < 0) {
		oom(err, spec->name);
		goto out;
	}
	a.dirfd = j.dirfd;
	a.st = &j.st;
	r = vj_apply_create(&a, steps, ARRAY_SIZE(steps), err);
	vj_apply_release(&a);
out:
	vj_jail_close(&j);
	return r;
}

/* ------------------------------------------------------------------------- */
/* Opening a jail made by setup                                               */

void vj_jail_close(struct vj_jail *j)
{
	if (j->lock_fd >= 0)
		vj_state_unlock(j->dirfd, j->name, j->lock_fd);
	j->lock_fd = -1;
	if (j->dirfd >= 0)
		close(j->dirfd);
	j->dirfd = -1;
	vj_state_clear(&j->st);
}

/*
 * A jail whose VMM vfiojail started (run) or the launch service jailed
 * (launch): the process the state names must still be that VMM, known by its
 * pid AND start time, or nothing is done (a pid alone may be another process's
 * by now).
 */
static int hotplug_kind_ok(const struct vj_state *st, struct vj_error **err)
{
	_cleanup_close_ int pidfd = -1;

	if (st->origin != VJ_ORIGIN_RUN && st->origin != VJ_ORIGIN_LAUNCH)
		return vj_err(err, VJ_EXIT_USAGE, 0, "state", st->name,
			      "stop the VM and start it again with this vfiojail",
			      "an older vfiojail made this jail and did not record which command did: it cannot be changed");
	if (!st->plan || !st->spec || !st->cgroup || !st->bpf_pin)
		return vj_err(err, VJ_EXIT_USAGE, 0, "state", st->name,
			      "stop the VM and start it again with this vfiojail",
			      "the state keeps no plan, spec, cgroup or filter (an older vfiojail's): it cannot be changed");
	if (st->vmm <= 0 || !st->vmm_start)
		return vj_err(err, VJ_EXIT_USAGE, ESRCH, "state", st->name,
			      "it cannot be told from a process that took its pid: nothing was changed",
			      "the state records no VMM with its start time");
	pidfd = vj_pidfd_open_checked(st->vmm, st->vmm_start);
	if (pidfd < 0 || vj_pidfd_running(pidfd) != 1)
		return vj_err(err, VJ_EXIT_USAGE, ESRCH, "state", st->name,
			      "vfiojail gc removes the jail of a VM that ended",
			      "its VMM (pid %d, started at %" PRIu64 ") is gone; pid %d is not that process: nothing was changed",
			      (int)st->vmm, st->vmm_start, (int)st->vmm);
	return 0;
}

/* Lock NAME and read its state; it must be a jail made by setup, or with
 * @hotplug one whose VMM vfiojail started or jailed and still runs. */
int vj_jail_open(struct vj_jail *j, const char *name, const struct vj_run_opts *o, bool hotplug,
		 struct vj_error **err)
{
	int r;

	*j = (struct vj_jail){ .dirfd = -1, .lock_fd = -1, .name = name };
	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	j->dirfd = vj_state_dir_open(o->state_dir, err);
	if (j->dirfd < 0)
		return -1;
	j->lock_fd = lock_name(j->dirfd, name, true, err);
	if (j->lock_fd < 0)
		return -1;
	r = vj_state_read(j->dirfd, name, &j->st, err);
	if (r == 1)
		return vj_err(err, VJ_EXIT_USAGE, ENOENT, "state", name,
			      "create it with vfiojail setup", "no jail of this name");
	if (r < 0)
		return -1;
	if (j->st.kind != VJ_STATE_SETUP && !hotplug)
		return vj_err(err, VJ_EXIT_USAGE, 0, "state", name,
			      "only jails made by vfiojail setup can be entered",
			      "this VM was started by %s",
			      j->st.origin == VJ_ORIGIN_LAUNCH ? "the launch service" : "vfiojail run");
	if (j->st.kind != VJ_STATE_SETUP && hotplug_kind_ok(&j->st, err) < 0)
		return -1;
	/* An attach or detach that did not finish (a crash) is undone first. */
	return vj_apply_recover(j->dirfd, &j->st, o, err);
}

/* An fd of the kept namespace, checked to be a mount namespace. */
int vj_jail_open_ns(const char *path, struct vj_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return vj_err_sys(err, "namespace", path, errno, "vfiojail teardown NAME, then setup again",
				  "cannot open the jail's namespace binding");
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNS)
		return vj_err_sys(err, "namespace", path, errno ? errno : EINVAL,
				  "vfiojail teardown NAME, then setup again",
				  "not a mount namespace: the binding is gone");
	return TAKE_FD(fd);
}

/* ------------------------------------------------------------------------- */
/* enter                                                                      */

struct enter {
	struct vj_jail j;
	struct vj_vmm vmm;
	int ns_fd;
};

static int enter_join(void *userdata, struct vj_error **err)
{
	struct enter *e = userdata;

	if (setns(e->ns_fd, CLONE_NEWNS) < 0)
		return vj_err_sys(err, "namespace", e->j.st.ns_path, errno, NULL,
				  "cannot enter the jail's mount namespace");
	if (chdir("/") < 0)
		return vj_err_sys(err, "namespace", "/", errno, NULL, "chdir");
	return vj_cgroup_enter(e->j.st.cgroup, 0, err);
}

/* Fail closed: nothing enters a jail whose filter is not pinned and attached to the
 * jail's own cgroup (it may have been removed from outside, or never made). */
static int filter_guards(const struct vj_state *st, struct vj_error **err)
{
	struct stat sb;
	uint64_t id = 0;

	if (st->bpf_pin && st->cgroup && vj_devfilter_pinned_cgroup_id(st->bpf_pin, &id) == 0 &&
	    stat(st->cgroup, &sb) == 0 && (uint64_t)sb.st_ino == id)
		return 0;
	return vj_err(err, VJ_EXIT_SETUP, 0, "devfilter", st->bpf_pin ? st->bpf_pin : st->name,
		      "tear the jail down and set it up again (vfiojail status NAME shows what is missing)",
		      "no device filter of this jail is pinned and attached to its cgroup %s: nothing enters it unfiltered",
		      st->cgroup ? st->cgroup : "(none)");
}

/* The VMM runs: the name's lock is free for attach, detach and other enters. */
static void enter_started(pid_t pid, void *userdata)
{
	struct enter *e = userdata;

	(void)pid;
	vj_state_unlock(e->j.dirfd, e->j.name, e->j.lock_fd);
	e->j.lock_fd = -1;
	close(e->ns_fd); /* an open fd would keep the binding busy */
	e->ns_fd = -1;
}

int vj_enter(const char *name, const struct vj_run_opts *o, struct vj_error **err)
{
	struct enter e = { .ns_fd = -1 };
	sigset_t set, old;
	int r = -1;

	if (!o->argv || !o->argv[0])
		return vj_err(err, VJ_EXIT_USAGE, 0, "argv", NULL,
			      "vfiojail enter NAME -- CMD [ARGS...]", "no command to run");
	if (vj_vmm_check_preserved(o->preserve_fds, err) < 0 || vj_jail_open(&e.j, name, o, false, err) < 0 ||
	    filter_guards(&e.j.st, err) < 0)
		goto out;
	if (vj_vmm_prepare(&e.vmm, e.j.st.plan, o, err) < 0)
		goto out;
	/* Without CAP_SYS_RESOURCE no later attach could raise a lowered hard limit. */
	e.vmm.memlock_keep_hard = !vj_privs_have_cap(CAP_SYS_RESOURCE);
	e.ns_fd = vj_jail_open_ns(e.j.st.ns_path, err);
	if (e.ns_fd < 0 ||
	    vj_vmm_open_contexts(&e.vmm, e.j.st.dev_root ? e.j.st.dev_root : "/dev",
				 o->iommufd_best_effort || e.j.st.iommufd_best_effort, o->warn,
				 o->userdata, err) < 0)
		goto out;
	vj_vmm_block_signals(o->exec, &set, &old);
	if (o->exec) {
		int nofd = -1;
		if (enter_join(&e, err) == 0 && vj_vmm_child_finish(&e.vmm, &nofd, err) == 0)
			vj_vmm_exec(&e.vmm, &old, err); /* returns only on failure */
	} else {
		r = vj_vmm_start_supervised(&e.vmm, enter_join, NULL, enter_started, &e, &old, &set, err);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	if (e.ns_fd >= 0)
		close(e.ns_fd);
	vj_vmm_free(&e.vmm);
	vj_jail_close(&e.j);
	return r;
}

/* ------------------------------------------------------------------------- */
/* teardown                                                                   */

/* Without a usable state file: the jail as far as its name leads (pins and
 * namespace binding; the cgroup when @cgroup, taken), every object counted as begun. */
static int state_by_name(struct vj_state *st, const char *name, const struct vj_run_opts *o,
			 char *cgroup, struct vj_error **err)
{
	*st = (struct vj_state){ .cgroup = cgroup };
	st->name = strdup(name);
	st->bpf_pin = vj_jail_pin_dir(o, name);
	st->ns_path = ns_binding(o, name);
	st->ledger = VJ_STEP_BIT(VJ_STEP_FILTER) | VJ_STEP_BIT(VJ_STEP_NAMESPACE) |
		     (cgroup ? VJ_STEP_BIT(VJ_STEP_CGROUP) : 0);
	if (!st->name || !st->bpf_pin || !st->ns_path) {
		vj_state_clear(st);
		return oom(err, name);
	}
	return 0;
}

/* Search the cgroup2 tree (a few levels deep, as launchers nest) for directories
 * named @want (vfiojail-ESC): 1 and *path when exactly one, 0 none, 2 several, -1 error. */
static int find_cgroup_in(const char *dir, const char *want, int depth, char **path)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && found < 2) {
		_cleanup_free_ char *sub = NULL;
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = vj_strdupf("%s/%s", dir, de->d_name);
		if (!sub)
			return -1;
		if (strcmp(de->d_name, want) == 0) {
			if (found++ == 0)
				*path = TAKE_PTR(sub);
			continue;
		}
		if (depth > 0) {
			char *deeper = NULL;
			int r = find_cgroup_in(sub, want, depth - 1, &deeper);
			if (r < 0)
				return -1;
			if (r > 0 && found == 0)
				*path = deeper;
			else
				free(deeper);
			found += r;
		}
	}
	return found > 2 ? 2 : found;
}

static int find_cgroup_by_name(const struct vj_run_opts *o, const char *name, char **path)
{
	_cleanup_free_ char *root = NULL, *own = NULL;
	_cleanup_free_ char *esc = vj_name_escape(name);
	_cleanup_free_ char *want = esc ? vj_strdupf("vfiojail-%s", esc) : NULL;
	int r;

	*path = NULL;
	if (!want || vj_cgroup2_root(vj_root_proc(&o->plan.roots), &root, NULL) < 0)
		return -1;
	/* First where a jail is made by default, below the caller's own cgroup, so that
	 * jails of other launchers (other containers, other state dirs) do not count. */
	if (vj_cgroup_self_dir(vj_root_proc(&o->plan.roots), &own, NULL) == 0 &&
	    strcmp(own, root) != 0) {
		r = find_cgroup_in(own, want, 6, path);
		if (r != 0)
			goto out;
		free(*path);
		*path = NULL;
	}
	r = find_cgroup_in(root, want, 6, path);
out:
	if (r != 1) {
		free(*path);
		*path = NULL;
	}
	return r;
}

/* No state directory, or a read-only one without this name: there is no state to
 * remove, only pins a crashed launch may have left (never those of a VM that runs). */
static int teardown_without_state_dir(const char *name, const struct vj_run_opts *o,
				      struct vj_error **err)
{
	_cleanup_free_ char *pin = vj_jail_pin_dir(o, name);
	struct stat st;

	if (err && *err) {
		vj_error_free(*err);
		*err = NULL;
	}
	if (!pin)
		return oom(err, name);
	if (lstat(pin, &st) < 0)
		return 0;
	return vj_jail_unpin(-1, pin, err);
}

static bool state_absent(int dirfd, const char *name)
{
	_cleanup_free_ char *esc = vj_name_escape(name);
	_cleanup_free_ char *f = esc ? vj_strdupf("%s.json", esc) : NULL;
	struct stat st;

	return f && fstatat(dirfd, f, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

static bool lock_unwritable(struct vj_error **err)
{
	return err && *err && ((*err)->errnum == EROFS || (*err)->errnum == EACCES);
}

/* A damaged state file: remove what can be derived from the name, and the cgroup
 * when exactly one vfiojail-ESC can be found. */
static int teardown_damaged(int dirfd, const char *name, const struct vj_run_opts *o, bool kill,
			    struct vj_error **err)
{
	char *cg = NULL;
	_cleanup_free_ char *esc = NULL;
	struct vj_error *e = NULL;
	struct vj_state st;
	int found = find_cgroup_by_name(o, name, &cg);
	bool busy = false;

	/* A VM that still runs keeps its filter: nothing is removed without --kill. */
	if (found == 1 && vj_cgroup_populated(cg, &busy, NULL) == 0 && busy && !kill) {
		vj_error_free(*err);
		*err = NULL;
		vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", name,
		       "stop the VMM first, or add --kill to SIGKILL every process in its cgroup",
		       "the state file is damaged and the VM still runs (cgroup %s)", cg);
		free(cg);
		return -1;
	}
	if (state_by_name(&st, name, o, cg, &e) < 0 || vj_apply_destroy(dirfd, &st, busy, &e) < 0) {
		vj_state_clear(&st);
		vj_error_free(*err);
		*err = e;
		return -1;
	}
	vj_state_clear(&st);
	if (found == 1) {
		/* Everything was found by name and removed; say what happened. */
		if (o->warn && *err && (*err)->message)
			o->warn((*err)->message, o->userdata);
		vj_error_free(*err);
		*err = NULL;
		return 0;
	}
	esc = vj_name_escape(name);
	return vj_err_wrap(err, "teardown", name,
			   found == 0 ? "removed its pins, namespace binding and state file; no cgroup vfiojail-%s was found"
			   : found < 0 ? "removed its pins, namespace binding and state file; the cgroup2 tree could not be searched for vfiojail-%s"
				       : "removed its pins, namespace binding and state file; several cgroups are named vfiojail-%s: remove the right one by hand",
			   esc ? esc : name);
}

/* The body of vj_teardown, with an error value always at hand. */
static int teardown(const char *name, const struct vj_run_opts *o, bool kill, struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	struct vj_state st;
	bool populated = false;
	int lock_fd, r;

	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	r = vj_state_dir_find(o->state_dir, &dirfd, err);
	if (r < 0)
		return -1;
	if (r == 0)
		return teardown_without_state_dir(name, o, err);
	lock_fd = lock_name(dirfd, name, true, err);
	if (lock_fd < 0 && state_absent(dirfd, name) && lock_unwritable(err))
		return teardown_without_state_dir(name, o, err); /* a read-only state dir */
	if (lock_fd < 0)
		return -1;
	r = vj_state_read(dirfd, name, &st, err);
	if (r == VJ_STATE_DAMAGED)
		r = teardown_damaged(dirfd, name, o, kill, err);
	else if (r < 0)
		r = -1; /* could not read it: touch nothing */
	else if (r == 1) /* no state: still remove what a crashed launch may have left */
		r = state_by_name(&st, name, o, NULL, err) < 0 ? -1 : vj_apply_destroy(dirfd, &st, false, err);
	else if (st.cgroup && vj_cgroup_populated(st.cgroup, &populated, NULL) == 0 && populated && !kill)
		r = vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", name,
			   "stop the VMM first, or add --kill to SIGKILL every process in its cgroup",
			   "the VM still runs (cgroup %s)", st.cgroup);
	else
		r = vj_apply_destroy(dirfd, &st, kill, err);
	vj_state_clear(&st);
	/* A VM of the Kubernetes path: its hand-off directory (vfiojail cdi). */
	if (r >= 0 && vj_handoff_remove(o->state_dir, name, err) < 0)
		r = -1;
	vj_state_unlock(dirfd, name, lock_fd);
	return r < 0 ? -1 : 0;
}

/* err may be NULL (gc passes NULL after a first failure): the body always has one. */
int vj_teardown(const char *name, const struct vj_run_opts *o, bool kill, struct vj_error **err)
{
	struct vj_error *local = NULL, **e = err ? err : &local;
	int r = teardown(name, o, kill, e);

	if (r < 0 && !*e)
		vj_err(e, VJ_EXIT_SETUP, 0, "teardown", name, NULL, "teardown failed");
	vj_error_free(local);
	return r;
}

/*
 * Whether the VMM the state names still runs: the process with its pid is still
 * the one that started at vmm_start, and has not exited (a zombie has).  Without
 * a recorded start time any live process with the pid counts, and so does one
 * that cannot be checked: a jail is kept rather than removed under its VMM.
 */
static bool vmm_runs(const struct vj_state *st)
{
	_cleanup_close_ int pidfd = -1;

	if (st->vmm <= 0)
		return false;
	if (!st->vmm_start)
		return kill(st->vmm, 0) == 0 || errno != ESRCH;
	pidfd = vj_pidfd_open_checked(st->vmm, st->vmm_start);
	if (pidfd < 0)
		return errno != ESRCH;
	return vj_pidfd_running(pidfd) != 0;
}

/* A jail of the launch service whose VMM is gone: removed, without killing. */
static int teardown_launched(int dirfd, struct vj_state *st, const struct vj_run_opts *o,
			     struct vj_error **err)
{
	char msg[VJ_NAME_SHOWN_MAX + 256], shown[VJ_NAME_SHOWN_MAX];
	bool populated = false;

	if (st->origin != VJ_ORIGIN_LAUNCH) {
		vj_name_shown(st->name, shown);
		if (st->origin == VJ_ORIGIN_UNKNOWN)
			snprintf(msg, sizeof(msg),
				 "%s: left alone: an older vfiojail made this jail and did not record which command did (vfiojail teardown NAME removes it)",
				 shown);
		else
			snprintf(msg, sizeof(msg), "%s: left alone: made by vfiojail %s, not by the launch service",
				 shown, vj_state_origin_name(st->origin));
		if (o->warn)
			o->warn(msg, o->userdata);
		return 1;
	}
	if (vmm_runs(st))
		return vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", st->name,
			      "the launch service removes the jail when its VMM exits; vfiojail teardown --kill NAME stops it",
			      "left alone: its VMM (pid %d) still runs", (int)st->vmm);
	if (st->cgroup && vj_cgroup_populated(st->cgroup, &populated, NULL) == 0 && populated)
		return vj_err(err, VJ_EXIT_FAIL, EBUSY, "teardown", st->name,
			      "vfiojail teardown --kill NAME kills them and removes the jail",
			      "left alone: its VMM (pid %d) is gone, but its cgroup %s still has processes",
			      (int)st->vmm, st->cgroup);
	return vj_apply_destroy(dirfd, st, false, err);
}

int vj_teardown_if_launched(const char *name, const struct vj_run_opts *o, struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	struct vj_state st;
	int lock_fd, r;

	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	r = vj_state_dir_find(o->state_dir, &dirfd, err);
	if (r <= 0)
		return r; /* no state directory: no jail */
	if (state_absent(dirfd, name))
		return 0; /* no jail of this name: a domain vfiojail does not jail */
	lock_fd = lock_name(dirfd, name, true, err);
	if (lock_fd < 0)
		return -1;
	r = vj_state_read(dirfd, name, &st, err);
	if (r == 1)
		r = 0; /* removed meanwhile */
	else if (r == VJ_STATE_DAMAGED)
		r = vj_err_wrap(err, "teardown", name,
				"left alone: the state file is damaged, so nothing tells whether the launch service made this jail (vfiojail teardown NAME removes it)");
	else if (r == 0)
		r = teardown_launched(dirfd, &st, o, err);
	vj_state_clear(&st);
	vj_state_unlock(dirfd, name, lock_fd);
	if (r < 0 && err && !*err)
		vj_err(err, VJ_EXIT_SETUP, 0, "teardown", name, NULL, "teardown failed");
	return r;
}

int vj_teardown_ended_vmm(const char *name, const struct vj_run_opts *o, pid_t vmm, uint64_t vmm_start,
			  struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	struct vj_state st;
	int lock_fd, r;

	r = vj_state_dir_find(o->state_dir, &dirfd, err);
	if (r <= 0 || state_absent(dirfd, name))
		return r < 0 ? -1 : 0;
	lock_fd = lock_name(dirfd, name, true, err);
	if (lock_fd < 0)
		return -1;
	r = vj_state_read(dirfd, name, &st, err);
	if (r == 1) {
		r = 0; /* removed meanwhile */
	} else if (r == 0 && ((st.origin != VJ_ORIGIN_LAUNCH && st.origin != VJ_ORIGIN_RUN) || st.vmm != vmm ||
			      st.vmm_start != vmm_start)) {
		/* Someone removed this VM's jail and another was made under its name:
		 * not ours to kill. */
		r = vj_err(err, VJ_EXIT_FAIL, EEXIST, "teardown", name, NULL,
			   "left alone: the jail of that name now is not the one made for pid %d", (int)vmm);
	} else if (r == 0) {
		r = vj_apply_destroy(dirfd, &st, true, err);
	} else {
		r = -1;
	}
	vj_state_clear(&st);
	vj_state_unlock(dirfd, name, lock_fd);
	return r;
}

/* ------------------------------------------------------------------------- */
/* status                                                                     */

/* The start time of the process with pid @pid (pidfd.h), 0 when gone. */
static uint64_t proc_start_time(pid_t pid)
{
	uint64_t t;

	return vj_pid_starttime(pid, &t) == 0 ? t : 0;
}

static bool owner_alive(const struct vj_state *st)
{
	if (st->origin == VJ_ORIGIN_LAUNCH)
		return vmm_runs(st); /* the VMM is its own launcher */
	if (st->kind == VJ_STATE_RUN)
		return st->supervisor > 0 && kill(st->supervisor, 0) == 0;
	return st->owner > 0 && proc_start_time(st->owner) == st->owner_start;
}

/* VmLck of /proc/PID/status in bytes. */
uint64_t vj_proc_locked(pid_t pid)
{
	_cleanup_free_ char *path = vj_strdupf("/proc/%d/status", (int)pid), *buf = NULL;
	unsigned long long kb = 0;
	char *p;

	if (!path || vj_read_file(path, 65536, &buf) < 0 || !(p = strstr(buf, "\nVmLck:")))
		return 0;
	if (sscanf(p + 7, " %llu", &kb) != 1)
		return 0;
	return (uint64_t)kb * 1024;
}

static int add_item(struct vj_status *s, const char *name, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int add_item(struct vj_status *s, const char *name, bool ok, const char *fmt, ...)
{
	struct vj_status_item *it = VJ_PUSH(s->items, s->n_items);
	va_list ap;
	int r;

	if (!it)
		return -1;
	it->ok = ok;
	it->name = strdup(name);
	va_start(ap, fmt);
	r = vasprintf(&it->detail, fmt, ap);
	va_end(ap);
	if (r < 0)
		it->detail = NULL;
	if (!ok)
		s->drift = true;
	return it->name && it->detail ? 0 : -1;
}


/* The map against the planned rules: what is missing, extra or different. */
static int check_rules(struct vj_status *s, int map_fd, const struct vj_plan *p)
{
	struct vj_rule *have = NULL;
	size_t n = 0, bad = 0;
	_cleanup_free_ char *msg = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&msg, &len);
	char buf[64];
	int r;

	if (!m)
		return -1;
	if (vj_devfilter_map_dump(map_fd, &have, &n, NULL) < 0) {
		fclose(m);
		return add_item(s, "rules", false, "cannot read the filter's map");
	}
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct vj_rule *h = vj_rule_find(have, n, &p->rules[i]);
		vj_rule_format(&p->rules[i], buf);
		if (!h)
			fprintf(m, "%smissing %s", bad++ ? ", " : "", buf);
		else if (h->access != p->rules[i].access)
			fprintf(m, "%s%s has access %u", bad++ ? ", " : "", buf, h->access);
	}
	for (size_t i = 0; i < n; i++)
		if (!vj_rule_find(p->rules, p->n_rules, &have[i])) {
			vj_rule_format(&have[i], buf);
			fprintf(m, "%sextra %s", bad++ ? ", " : "", buf);
		}
	fclose(m);
	if (bad)
		r = add_item(s, "rules", false, "the filter's map differs from the plan: %s", msg);
	else
		r = add_item(s, "rules", true, "the filter's map holds exactly the %zu planned rules", n);
	vj_devfilter_rules_free(have, n);
	return r;
}

/* The pinned link is a live cgroup device link whose program is on the cgroup. */
static int check_filter(struct vj_status *s, const struct vj_state *st)
{
	_cleanup_close_ int map_fd = -1, link_fd = -1, cgfd = -1;
	struct bpf_link_info info;
	__u32 len = sizeof(info), ids[64], cnt = ARRAY_SIZE(ids);
	bool found = false;

	if (!st->bpf_pin || vj_devfilter_open_pinned(st->bpf_pin, &map_fd, &link_fd, NULL) < 0)
		return add_item(s, "filter", false, "no pinned filter at %s",
				st->bpf_pin ? st->bpf_pin : "(none)");
	memset(&info, 0, sizeof(info));
	cgfd = st->cgroup ? vj_cgroup_open(st->cgroup, NULL) : -1;
	if (cgfd < 0 || vj_bpf_obj_info(link_fd, &info, &len) < 0 ||
	    vj_bpf_prog_query(cgfd, BPF_CGROUP_DEVICE, ids, &cnt) < 0)
		return add_item(s, "filter", false, "cannot query the cgroup's device programs");
	for (__u32 i = 0; i < cnt; i++)
		found = found || ids[i] == info.prog_id;
	if (add_item(s, "filter", found, found ? "program %u attached to the cgroup"
					      : "program %u is not attached to the cgroup",
		     info.prog_id) < 0)
		return -1;
	return st->plan ? check_rules(s, map_fd, st->plan) : 0;
}

static int check_procs(struct vj_status *s, const struct vj_state *st)
{
	const struct vj_memlock_plan *m = st->plan ? &st->plan->memlock : NULL;
	uint64_t plan = m ? vj_memlock_plan_limit(m) : 0, want = plan;
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0, bad = 0;

	/* launch kept a launcher's limit above the plan: that is what they have. */
	if (st->vmm_memlock_from == VJ_MEMLOCK_FROM_LAUNCHER && st->vmm_memlock_soft > want)
		want = st->vmm_memlock_soft;
	if (m && !m->unchanged && st->vmm_memlock_from != VJ_MEMLOCK_FROM_NONE) {
		char s_soft[24] = "unlimited", s_hard[24] = "unlimited", s_plan[24] = "unlimited";

		if (st->vmm_memlock_soft != UINT64_MAX)
			snprintf(s_soft, sizeof(s_soft), "%" PRIu64, st->vmm_memlock_soft);
		if (st->vmm_memlock_hard != UINT64_MAX)
			snprintf(s_hard, sizeof(s_hard), "%" PRIu64, st->vmm_memlock_hard);
		if (plan != UINT64_MAX)
			snprintf(s_plan, sizeof(s_plan), "%" PRIu64, plan);
		if (add_item(s, "vmm-memlock", true,
			     "the VMM got RLIMIT_MEMLOCK soft %s, hard %s at launch (the plan: %s): from the %s",
			     s_soft, s_hard, s_plan, vj_memlock_from_said(st->vmm_memlock_from)) < 0)
			return -1;
	}

	if (vj_cgroup_pids(st->cgroup, &pids, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct vj_status_proc *p = VJ_PUSH(s->procs, s->n_procs);
		if (!p)
			return -1;
		p->pid = pids[i];
		p->locked = vj_proc_locked(pids[i]);
		if (vj_proc_memlock(pids[i], &p->memlock_soft, &p->memlock_hard) < 0)
			continue; /* gone meanwhile */
		if (m && !m->unchanged && p->memlock_soft != want) {
			bad++;
			if (add_item(s, "memlock", false, "pid %d has RLIMIT_MEMLOCK %" PRIu64 ", the %s says %" PRIu64,
				     (int)p->pid, p->memlock_soft, want == plan ? "plan" : "launcher's kept limit", want) < 0)
				return -1;
		}
	}
	if (!bad && m && !m->unchanged)
		return add_item(s, "memlock", true, "%zu process(es), each with RLIMIT_MEMLOCK %" PRIu64, n, want);
	return 0;
}

/* The VMM that run started must still be in its cgroup: one found elsewhere has
 * left its device filter (moved by someone who could write cgroup.procs). */
static int check_vmm_placement(struct vj_status *s, const struct vj_state *st)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;

	if (!vmm_runs(st) || vj_cgroup_pids(st->cgroup, &pids, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pids[i] == st->vmm)
			return add_item(s, "vmm", true, "pid %d is in the VM's cgroup", (int)st->vmm);
	return add_item(s, "vmm", false, "pid %d runs outside the VM's cgroup %s, without its device filter",
			(int)st->vmm, st->cgroup);
}

static int status_check(struct vj_status *s, const struct vj_state *st)
{
	bool populated = false;
	struct stat sb;

	if (!st->cgroup || stat(st->cgroup, &sb) < 0) {
		if (add_item(s, "cgroup", false, "%s is missing", st->cgroup ? st->cgroup : "the cgroup") < 0)
			return -1;
	} else if (add_item(s, "cgroup", true, "%s", st->cgroup) < 0 || check_filter(s, st) < 0 ||
		   check_procs(s, st) < 0 || check_vmm_placement(s, st) < 0) {
		return -1;
	} else {
		(void)vj_cgroup_populated(st->cgroup, &populated, NULL);
	}
	if (st->change) {
		char steps[64] = "";
		for (int i = 0; i < VJ_STEP_COUNT; i++)
			if (st->change->steps & VJ_STEP_BIT(i))
				snprintf(steps + strlen(steps), sizeof(steps) - strlen(steps), "%s%s",
					 *steps ? ", " : "", vj_step_name(i));
		if (add_item(s, "change", false,
			     "an attach or detach did not finish (%s may have begun): the next attach, detach or enter undoes it",
			     steps) < 0)
			return -1;
	}
	if (st->kind == VJ_STATE_SETUP) {
		_cleanup_close_ int fd = vj_jail_open_ns(st->ns_path, NULL);
		if (add_item(s, "namespace", fd >= 0, fd >= 0 ? "kept at %s" : "no namespace bound at %s",
			     st->ns_path) < 0)
			return -1;
	}
	s->abandoned = !populated && !owner_alive(st);
	if (s->abandoned && add_item(s, "owner", true, "no process left and its %s is gone: vfiojail gc removes it",
				     st->origin == VJ_ORIGIN_LAUNCH ? "VMM"
				     : st->kind == VJ_STATE_RUN	    ? "supervisor"
								    : "launcher") < 0)
		return -1;
	return 0;
}

/* The plan's hostdevs and how the VMM reaches each (a state without a plan: none). */
static int status_hostdevs(struct vj_status *s, const struct vj_plan *p)
{
	size_t n = p ? p->n_hostdevs : 0;

	s->hostdevs = calloc(n + 1, sizeof(*s->hostdevs));
	if (!s->hostdevs)
		return -1;
	for (size_t i = 0; i < n; i++, s->n_hostdevs++) {
		struct vj_status_hostdev *h = &s->hostdevs[i];
		memcpy(h->pci, p->hostdevs[i].pci, sizeof(h->pci));
		if ((p->hostdevs[i].node && !(h->node = strdup(p->hostdevs[i].node))) ||
		    (p->hostdevs[i].fd && !(h->fd = strdup(p->hostdevs[i].fd))))
			return -1;
	}
	return 0;
}

void vj_status_free(struct vj_status *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_items; i++) {
		free(s->items[i].name);
		free(s->items[i].detail);
	}
	free(s->items);
	free(s->procs);
	for (size_t i = 0; i < s->n_hostdevs; i++) {
		free(s->hostdevs[i].node);
		free(s->hostdevs[i].fd);
	}
	free(s->hostdevs);
	free(s->name);
	free(s->kind);
	free(s->cgroup);
	free(s);
}

int vj_status_get(const char *name, const struct vj_run_opts *o, struct vj_status **out,
		  struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	struct vj_status *s = NULL;
	struct vj_state st;
	int r;

	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	r = vj_state_dir_find(o->state_dir, &dirfd, err);
	if (r < 0)
		return -1;
	r = r == 0 ? 1 : vj_state_read(dirfd, name, &st, err);
	if (r == 1)
		return vj_err(err, VJ_EXIT_USAGE, ENOENT, "state", name, NULL, "no jail of this name");
	if (r < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->name = strdup(name)) ||
	    !(s->kind = strdup(vj_state_origin_name(st.origin))) ||
	    (st.cgroup && !(s->cgroup = strdup(st.cgroup))) || status_check(s, &st) < 0 ||
	    status_hostdevs(s, st.plan) < 0) {
		vj_status_free(s);
		vj_state_clear(&st);
		return oom(err, name);
	}
	vj_state_clear(&st);
	*out = s;
	return 0;
}

static void limit_str(char *buf, size_t size, uint64_t v)
{
	if (v == UINT64_MAX)
		snprintf(buf, size, "unlimited");
	else
		snprintf(buf, size, "%" PRIu64, v);
}

/* The processes' table: each column as wide as its widest cell or its header,
 * two spaces between columns, every cell left-aligned under its header. */
enum { STATUS_COLS = 4, STATUS_CELL = 24 };

static void proc_cells(const struct vj_status_proc *p, char cell[STATUS_COLS][STATUS_CELL])
{
	snprintf(cell[0], STATUS_CELL, "%d", (int)p->pid);
	limit_str(cell[1], STATUS_CELL, p->memlock_soft);
	limit_str(cell[2], STATUS_CELL, p->memlock_hard);
	snprintf(cell[3], STATUS_CELL, "%" PRIu64, p->locked);
}

static void print_row(FILE *f, const int w[STATUS_COLS], const char *const cell[STATUS_COLS])
{
	fprintf(f, "%-*s  %-*s  %-*s  %s\n", w[0], cell[0], w[1], cell[1], w[2], cell[2], cell[3]);
}

static void print_procs(const struct vj_status *s, FILE *f)
{
	static const char *const head[STATUS_COLS] = { "PID", "MEMLOCK-SOFT", "MEMLOCK-HARD", "LOCKED" };
	char cell[STATUS_COLS][STATUS_CELL];
	const char *row[STATUS_COLS] = { cell[0], cell[1], cell[2], cell[3] };
	int w[STATUS_COLS];

	for (int c = 0; c < STATUS_COLS; c++)
		w[c] = (int)strlen(head[c]);
	for (size_t i = 0; i < s->n_procs; i++) {
		proc_cells(&s->procs[i], cell);
		for (int c = 0; c < STATUS_COLS; c++)
			if ((int)strlen(cell[c]) > w[c])
				w[c] = (int)strlen(cell[c]);
	}
	print_row(f, w, head);
	for (size_t i = 0; i < s->n_procs; i++) {
		proc_cells(&s->procs[i], cell);
		print_row(f, w, row);
	}
}

int vj_status_print_table(const struct vj_status *s, FILE *f)
{
	char shown[VJ_NAME_SHOWN_MAX];

	fprintf(f, "%s (%s)%s%s\n", vj_name_shown(s->name, shown), s->kind, s->drift ? ": DRIFT" : "",
		s->abandoned ? ", abandoned" : "");
	for (size_t i = 0; i < s->n_items; i++)
		fprintf(f, "%-5s %s: %s\n", s->items[i].ok ? "OK" : "DRIFT", s->items[i].name,
			s->items[i].detail);
	if (s->n_procs)
		print_procs(s, f);
	if (s->n_hostdevs)
		fputs("HOSTDEV       REACHED BY\n", f);
	for (size_t i = 0; i < s->n_hostdevs; i++) {
		const struct vj_status_hostdev *h = &s->hostdevs[i];
		if (h->fd)
			fprintf(f, "%-13s fd %s (opened by vfiojail from %s; no node in the jail)\n", h->pci,
				h->fd, h->node ? h->node : "?");
		else
			fprintf(f, "%-13s node %s\n", h->pci, h->node ? h->node : "?");
	}
	return ferror(f) ? -1 : 0;
}

static json_object *limit_json(uint64_t v)
{
	return json_object_new_int64(v == UINT64_MAX ? -1 : (int64_t)v);
}

static json_object *status_json(const struct vj_status *s)
{
	json_object *o = json_object_new_object(), *items = json_object_new_array();
	json_object *procs = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "kind", json_object_new_string(s->kind));
	json_object_object_add(o, "cgroup", s->cgroup ? json_object_new_string(s->cgroup) : NULL);
	json_object_object_add(o, "drift", json_object_new_boolean(s->drift));
	json_object_object_add(o, "abandoned", json_object_new_boolean(s->abandoned));
	for (size_t i = 0; i < s->n_items; i++) {
		json_object *it = json_object_new_object();
		json_object_object_add(it, "name", json_object_new_string(s->items[i].name));
		json_object_object_add(it, "ok", json_object_new_boolean(s->items[i].ok));
		json_object_object_add(it, "detail", json_object_new_string(s->items[i].detail));
		json_object_array_add(items, it);
	}
	json_object_object_add(o, "items", items);
	for (size_t i = 0; i < s->n_procs; i++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "pid", json_object_new_int(s->procs[i].pid));
		json_object_object_add(p, "memlock_soft", limit_json(s->procs[i].memlock_soft));
		json_object_object_add(p, "memlock_hard", limit_json(s->procs[i].memlock_hard));
		json_object_object_add(p, "locked", json_object_new_int64((int64_t)s->procs[i].locked));
		json_object_array_add(procs, p);
	}
	json_object_object_add(o, "processes", procs);
	json_object *hostdevs = json_object_new_array();
	for (size_t i = 0; i < s->n_hostdevs; i++) {
		json_object *h = json_object_new_object();
		json_object_object_add(h, "pci", json_object_new_string(s->hostdevs[i].pci));
		json_object_object_add(h, "node", s->hostdevs[i].node ? json_object_new_string(s->hostdevs[i].node) : NULL);
		json_object_object_add(h, "fd", s->hostdevs[i].fd ? json_object_new_string(s->hostdevs[i].fd) : NULL);
		json_object_array_add(hostdevs, h);
	}
	json_object_object_add(o, "hostdevs", hostdevs);
	return o;
}

int vj_status_print_json(const struct vj_status *s, FILE *f)
{
	return vj_json_print_put(status_json(s), f);
}

int vj_list(const struct vj_run_opts *o, char ***names, size_t *n, struct vj_error **err)
{
	_cleanup_close_ int dirfd = -1;
	int r = vj_state_dir_find(o->state_dir, &dirfd, err);

	if (r <= 0) {
		*names = NULL;
		*n = 0;
		return r;
	}
	return vj_state_list(dirfd, names, n, err);
}

/* ------------------------------------------------------------------------- */
/* gc                                                                         */

int vj_gc(const struct vj_run_opts *o, char ***removed, size_t *n_removed, struct vj_error **err)
{
	char **names = NULL, **out = NULL;
	size_t n = 0, count = 0;
	int r = 0;

	if (vj_list(o, &names, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct vj_status *st = NULL;
		bool abandoned = vj_status_get(names[i], o, &st, NULL) == 0 && st->abandoned;
		char **slot;

		vj_status_free(st);
		if (!abandoned || vj_teardown(names[i], o, false, r < 0 ? NULL : err) != 0) {
			if (abandoned)
				r = -1;
			free(names[i]);
			continue;
		}
		slot = VJ_PUSH(out, count);
		if (!slot) {
			free(names[i]);
			continue;
		}
		*slot = names[i];
	}
	free(names);
	*removed = out;
	*n_removed = count;
	return r;
}
