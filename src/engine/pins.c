/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A jail's objects beside the kernel modules' own, which the apply engine
 * makes and removes: the bpffs the filter is pinned in (vfiojail's own instance
 * under the state dir when /sys/fs/bpf cannot be written), the pin directory,
 * and the kept mount namespace of a jail made by setup (a short-lived child
 * unshares and populates /dev; its nsfs file is bound on <state_dir>/ns/NAME, a
 * private mount, so the namespace outlives the child).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "pins.h"
#include "cgroup.h"
#include "child.h"
#include "devfilter.h"
#include "error.h"
#include "mountns.h"
#include "name.h"
#include "state.h"
#include "util.h"

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
char *vj_jail_ns_path(const struct vj_run_opts *o, const char *name)
{
	_cleanup_free_ char *esc = vj_name_escape(name);

	return esc ? vj_strdupf("%s/" VJ_NS_DIR "/%s", vj_state_dir(o->state_dir), esc) : NULL;
}

char *vj_jail_bpffs_seen(const struct vj_run_opts *o, bool *seen)
{
	*seen = false;
	if (o->bpffs && *o->bpffs)
		return strdup(o->bpffs);
	if (bpffs_writable(VJ_BPFFS_DEFAULT)) {
		*seen = true;
		return strdup(VJ_BPFFS_DEFAULT);
	}
	return vj_strdupf("%s/" VJ_OWN_BPFFS, vj_state_dir(o->state_dir));
}

char *vj_jail_bpffs(const struct vj_run_opts *o)
{
	bool seen;

	return vj_jail_bpffs_seen(o, &seen);
}

static void own_bpffs_release(int dirfd, const char *root);

static int oom(struct vj_error **err, const char *object)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", object, NULL, "out of memory");
}

/* A directory of vfiojail's (its user's, writable by no one else), or absent:
 * one that someone else planted is never emptied or removed. */
static bool pin_dir_ours(const char *dir, uid_t euid)
{
	struct stat st;

	if (!dir || lstat(dir, &st) < 0)
		return true;
	return S_ISDIR(st.st_mode) && st.st_uid == euid && !(st.st_mode & 022);
}

int vj_jail_unpin(int dirfd, const char *dir, struct vj_error **err)
{
	_cleanup_free_ char *parent = vj_path_parent(dir, 1);
	uint64_t id;
	bool populated = false;
	uid_t euid = geteuid();
	int r;

	if (!pin_dir_ours(dir, euid))
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

	if (r == 0 && parent && pin_dir_ours(parent, euid))
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
