/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cgroup v2 through cgroupfs: find the hierarchy, create, enter, kill, remove. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <libmount.h>

#include "dlib.h"
#include "error.h"
#include "pidfd.h"
#include "util.h"

#define STEP "cgroup"

#define REMOVE_TIMEOUT_NS (1000LL * 1000 * 1000)
/* A SIGKILLed VMM exits only once the kernel has unpinned its memory and released its
 * devices: seconds for a large guest, and over a second for a 64 MiB one on the VM
 * suite's arm64 stack (teardown --kill found it still there after 1 s). */
#define KILL_WAIT_TIMEOUT_NS (30LL * 1000 * 1000 * 1000)
#define KILL_EACH_TIMEOUT_NS (5000LL * 1000 * 1000)
#define POLL_INTERVAL_NS (10L * 1000 * 1000)

static int err_oom(struct vj_error **err, const char *object)
{
	return vj_err_sys(err, STEP, object, ENOMEM, NULL, "out of memory");
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void short_sleep(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = POLL_INTERVAL_NS };

	nanosleep(&ts, NULL);
}

/* Sleep *step ns, then double it up to POLL_INTERVAL_NS: a cgroup is usually free a
 * few microseconds after its last process is reaped, so the first waits are short. */
static void backoff_sleep(long *step)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = *step };

	nanosleep(&ts, NULL);
	if (*step < POLL_INTERVAL_NS)
		*step = *step * 2 < POLL_INTERVAL_NS ? *step * 2 : POLL_INTERVAL_NS;
}

/* ---------------------------------------------------------------------- */
/* mountinfo                                                                */

/*
 * libmount reads the mount table; it is loaded when a table is read, not at every
 * start: with libblkid, libselinux and libpcre2 it costs each process about as much
 * as the rest of a launch, and a launch on a usual host reads no table (see
 * cg2_mount_known below).
 */
static struct {
	typeof(mnt_new_table) *new_table;
	typeof(mnt_unref_table) *unref_table;
	typeof(mnt_table_parse_file) *table_parse_file;
	typeof(mnt_table_next_fs) *table_next_fs;
	typeof(mnt_new_iter) *new_iter;
	typeof(mnt_free_iter) *free_iter;
	typeof(mnt_fs_get_fstype) *fs_get_fstype;
	typeof(mnt_fs_get_target) *fs_get_target;
	typeof(mnt_fs_get_root) *fs_get_root;
} mnt;

static const struct vj_dlib_sym mnt_syms[] = {
	VJ_DLIB_SYM(mnt, new_table, mnt_new_table),
	VJ_DLIB_SYM(mnt, unref_table, mnt_unref_table),
	VJ_DLIB_SYM(mnt, table_parse_file, mnt_table_parse_file),
	VJ_DLIB_SYM(mnt, table_next_fs, mnt_table_next_fs),
	VJ_DLIB_SYM(mnt, new_iter, mnt_new_iter),
	VJ_DLIB_SYM(mnt, free_iter, mnt_free_iter),
	VJ_DLIB_SYM(mnt, fs_get_fstype, mnt_fs_get_fstype),
	VJ_DLIB_SYM(mnt, fs_get_target, mnt_fs_get_target),
	VJ_DLIB_SYM(mnt, fs_get_root, mnt_fs_get_root),
};

/* The ABI of <libmount.h>: libmount has been libmount.so.1 since it began. */
#define LIBMOUNT_SONAME "libmount.so.1"

static struct vj_dlib libmount = VJ_DLIB(LIBMOUNT_SONAME, "libmount1", mnt_syms);

/*
 * Which cgroup2 mount, and where the caller's cgroup is in it.
 *
 * /proc/self/mountinfo is read with libmount.  A cgroup2 mount counts when it is
 * visible (no later mount sits on its mount point or on a directory above it, as
 * when a tmpfs hides /sys/fs/cgroup) and its root covers the caller's cgroup (a
 * bind of a subtree, as Podman and LXC make, covers only that subtree).  Its root
 * field says where it starts: "/" for the whole hierarchy (or the whole of the
 * caller's cgroup namespace), "/a" for a subtree, and "/.." once per level when
 * the mount was made outside the caller's cgroup namespace and shows more than
 * the namespace does.
 */
struct cg2_mount {
	char *target; /* the mount point, unescaped */
	char *root;   /* its root field */
	bool v1;      /* cgroup v1 hierarchies are mounted too (hybrid) */
	bool table;   /* found in the mount table (v1 is known) */
};

static void cg2_mount_clear(struct cg2_mount *m)
{
	free(m->target);
	free(m->root);
	*m = (struct cg2_mount){ 0 };
}

/* Whether @path is @dir or below it, component-wise. */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The number of leading "/.." components of a root field, or -1 when it has others
 * after them or in between. */
static int root_ups(const char *root)
{
	int n = 0;

	while (strncmp(root, "/..", 3) == 0 && (root[3] == '\0' || root[3] == '/')) {
		n++;
		root += 3;
	}
	return *root == '\0' ? n : (n ? -1 : 0);
}

/* Whether a mount with this root shows the cgroup @self (a path in the caller's
 * namespace). */
static bool root_covers(const char *root, const char *self)
{
	return root_ups(root) > 0 || path_under(self, root);
}

/* Hidden by a mount listed after it, on its mount point or above it. */
static bool fs_hidden(struct libmnt_table *tb, struct libmnt_fs *fs)
{
	struct libmnt_iter *it = mnt.new_iter(MNT_ITER_FORWARD);
	struct libmnt_fs *other;
	const char *target = mnt.fs_get_target(fs);
	bool after = false, hidden = false;

	if (!it || !target)
		return true;
	while (!hidden && mnt.table_next_fs(tb, it, &other) == 0) {
		const char *t = mnt.fs_get_target(other);
		if (other == fs) {
			after = true;
			continue;
		}
		hidden = after && t && path_under(target, t);
	}
	mnt.free_iter(it);
	return hidden;
}

static int cg2_mount_find(const char *mountinfo, const char *self, struct cg2_mount *m,
			  struct vj_error **err)
{
	struct libmnt_table *tb;
	struct libmnt_iter *it;
	struct libmnt_fs *fs;
	size_t n_cg2 = 0;
	int r = 0;

	*m = (struct cg2_mount){ 0 };
	if (vj_dlib_load(&libmount, "to read the mount table", err) < 0)
		return -1;
	tb = mnt.new_table();
	it = mnt.new_iter(MNT_ITER_FORWARD);
	if (!tb || !it) {
		r = err_oom(err, mountinfo);
		goto out;
	}
	if (mnt.table_parse_file(tb, mountinfo) != 0) {
		r = vj_err_sys(err, STEP, mountinfo, errno, "is procfs mounted?",
			       "cannot read %s to find the cgroup2 mount", mountinfo);
		goto out;
	}
	while (mnt.table_next_fs(tb, it, &fs) == 0) {
		const char *type = mnt.fs_get_fstype(fs);
		if (type && strcmp(type, "cgroup") == 0 && !fs_hidden(tb, fs))
			m->v1 = true; /* a v1 hierarchy this process can see */
		if (!type || strcmp(type, "cgroup2") != 0)
			continue;
		n_cg2++;
		if (m->target || fs_hidden(tb, fs) || !mnt.fs_get_target(fs) ||
		    !root_covers(mnt.fs_get_root(fs) ? mnt.fs_get_root(fs) : "/", self))
			continue;
		m->target = strdup(mnt.fs_get_target(fs));
		m->root = strdup(mnt.fs_get_root(fs) ? mnt.fs_get_root(fs) : "/");
		if (!m->target || !m->root) {
			r = err_oom(err, mountinfo);
			goto out;
		}
	}
	m->table = true;
	if (!m->target)
		r = n_cg2 == 0
			    ? vj_err_sys(err, STEP, mountinfo, 0,
					 "mount it: mount -t cgroup2 none /sys/fs/cgroup (unified) or "
					 "/sys/fs/cgroup/unified (hybrid)",
					 "no cgroup2 filesystem is mounted (no line of type cgroup2 in %s)",
					 mountinfo)
			    : vj_err_sys(err, STEP, mountinfo, 0,
					 "mount the cgroup2 hierarchy where it is not hidden, with a root at or above this process's cgroup",
					 "none of the %zu cgroup2 mounts in %s is visible and shows this process's cgroup %s",
					 n_cg2, mountinfo, self);
out:
	mnt.free_iter(it);
	mnt.unref_table(tb);
	if (r < 0)
		cg2_mount_clear(m);
	return r;
}

/* Whether @dir's cgroup.procs lists this process. */
static bool procs_has_self(const char *dir)
{
	_cleanup_free_ char *path = vj_path_join(dir, "cgroup.procs");
	_cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
	long pid;

	while (f && fscanf(f, "%ld", &pid) == 1)
		if (pid == (long)getpid())
			return true;
	return false;
}

/*
 * The cgroup2 mount without reading the mount table, where no decision needs it: on
 * the real /proc (a fixture's mountinfo is read as given), when the mount a path
 * lookup reaches at /sys/fs/cgroup (unified host) or, below a tmpfs there, at
 * /sys/fs/cgroup/unified (systemd's hybrid layout) is a cgroup2 that shows the
 * caller's cgroup at <mount><self>:
 *  - in the host's cgroup namespace: the mount's root is the hierarchy's root (it has
 *    no cgroup.type, which "exists on non-root cgroups", cgroup-v2.rst);
 *  - in another one: <mount><self>/cgroup.procs lists this process, so <mount> is the
 *    directory of the namespace's root.
 * Either way its root field reads "/" and it is visible (statfs resolved the path to
 * it), the answer the table would give unless another visible cgroup2 mount covering
 * the caller came earlier in it.  1 found, 0 not (read the table).
 */
#define PROC_CGROUP_INIT_INO 0xEFFFFFFBU /* the host's cgroup namespace (include/linux/proc_ns.h) */

static int cg2_mount_known(const char *proc_root, const char *self, struct cg2_mount *m)
{
	static const char *const where[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	struct statfs sf;
	struct stat st;
	const char *dir = NULL;
	bool host_ns;

	*m = (struct cg2_mount){ 0 };
	if (strcmp(proc_root, "/proc") != 0)
		return 0;
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]) && !dir; i++) {
		if (statfs(where[i], &sf) < 0)
			return 0;
		if (sf.f_type == CGROUP2_SUPER_MAGIC)
			dir = where[i];
		else if (sf.f_type != TMPFS_MAGIC)
			return 0;
	}
	if (!dir)
		return 0;
	host_ns = stat("/proc/self/ns/cgroup", &st) == 0 && st.st_ino == PROC_CGROUP_INIT_INO;
	if (host_ns) {
		_cleanup_free_ char *type = vj_path_join(dir, "cgroup.type");
		if (!type || access(type, F_OK) == 0 || errno != ENOENT)
			return 0;
	} else {
		_cleanup_free_ char *mine = vj_path_join(dir, self);
		if (!mine || !procs_has_self(mine))
			return 0;
	}
	m->target = strdup(dir);
	m->root = strdup("/");
	if (!m->target || !m->root) {
		cg2_mount_clear(m);
		return 0;
	}
	return 1;
}

/*
 * The last answer, per thread: a command asks more than once (plan: the root, then
 * the caller's directory; a launch: then --exec's way back), and reading mountinfo
 * costs tens of microseconds.  Within one command the answer found (or checked) is
 * taken as it is on the real /proc: the mount and the caller's cgroup (read from
 * /proc/self/cgroup once).  vj_cgroup_forget() starts a new command (the service, per request): then
 * the remembered mount point is checked with one statfs (it must still be a
 * cgroup2) and the caller's cgroup read again.  Moving the caller (vj_cgroup_enter
 * of pid 0 or its own) forgets its cgroup at once.
 */
static _Thread_local struct {
	char *proc_root;
	struct cg2_mount m;
	char *ns_base; /* for a "/.." root: the directory, below the mount, of the namespace's root */
	bool checked;  /* the mount was found or checked since vj_cgroup_forget() */
	char *self_proc_root, *self; /* the caller's cgroup as <self_proc_root>/self/cgroup said */
} cg2_cache;

static bool cg2_cache_valid(const char *proc_root)
{
	struct statfs st;

	if (!cg2_cache.m.target || strcmp(cg2_cache.proc_root, proc_root) != 0)
		return false;
	if (cg2_cache.checked && strcmp(proc_root, "/proc") == 0)
		return true; /* a fixture's mount point is no cgroup2: always looked at */
	cg2_cache.checked = statfs(cg2_cache.m.target, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
	return cg2_cache.checked;
}

static void cg2_cache_reset(void)
{
	free(cg2_cache.proc_root);
	free(cg2_cache.ns_base);
	cg2_mount_clear(&cg2_cache.m);
	cg2_cache.proc_root = cg2_cache.ns_base = NULL;
	cg2_cache.checked = false;
}

static void self_forget(void)
{
	free(cg2_cache.self_proc_root);
	free(cg2_cache.self);
	cg2_cache.self_proc_root = cg2_cache.self = NULL;
}

void vj_cgroup_forget(void)
{
	self_forget();
	cg2_cache.checked = false;
}

/* The caller's cgroup, read once per command on the real /proc (a fixture's file is
 * read each time: a test may rewrite it); not to be freed. */
static int self_cgroup(const char *proc_root, const char **self, struct vj_error **err)
{
	char *path = NULL;

	if (!cg2_cache.self || strcmp(cg2_cache.self_proc_root, proc_root) != 0 ||
	    strcmp(proc_root, "/proc") != 0) {
		self_forget();
		if (vj_cgroup_self(proc_root, &path, err) < 0)
			return -1;
		cg2_cache.self = path;
		if (!(cg2_cache.self_proc_root = strdup(proc_root))) {
			self_forget();
			return err_oom(err, "cgroup");
		}
	}
	*self = cg2_cache.self;
	return 0;
}

/* The mount for @self, found again or remembered; from the mount table when
 * @table (to know whether v1 hierarchies are mounted too). */
static int cg2_lookup(const char *proc_root, const char *self, bool table, struct vj_error **err)
{
	_cleanup_free_ char *path = NULL;
	struct cg2_mount m;

	if (cg2_cache_valid(proc_root) && root_covers(cg2_cache.m.root, self) &&
	    (cg2_cache.m.table || !table))
		return 0;
	if (table || cg2_mount_known(proc_root, self, &m) == 0) {
		path = vj_path_join(proc_root, "self/mountinfo");
		if (!path)
			return err_oom(err, "mountinfo");
		if (cg2_mount_find(path, self, &m, err) < 0)
			return -1;
	}
	cg2_cache_reset();
	cg2_cache.proc_root = strdup(proc_root);
	if (!cg2_cache.proc_root) {
		cg2_mount_clear(&m);
		return err_oom(err, "cgroup2");
	}
	cg2_cache.m = m;
	cg2_cache.checked = true;
	return 0;
}

/*
 * A mount made outside the caller's cgroup namespace: its root is @ups levels above
 * the namespace's root, so the caller's cgroup @self is <mount>/X<self> for one
 * directory X @ups levels deep.  Found as the one whose cgroup.procs lists us.
 */
static int find_ns_base(const char *dir, int ups, const char *self, char **base)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (ups == 0) {
		_cleanup_free_ char *mine = vj_path_join(dir, self);
		if (!mine || !procs_has_self(mine))
			return 0;
		*base = strdup(dir);
		return *base ? 1 : -ENOMEM;
	}
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *sub = NULL;
		int r;
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = vj_path_join(dir, de->d_name);
		if (!sub)
			return -ENOMEM;
		r = find_ns_base(sub, ups - 1, self, base);
		if (r != 0)
			return r;
	}
	return 0;
}

int vj_cgroup2_root(const char *proc_root, char **mount_out, struct vj_error **err)
{
	const char *self = NULL;

	proc_root = proc_root ? proc_root : "/proc";
	/* A remembered mount that shows the whole tree covers any cgroup: no need to
	 * read the caller's again (a launch asks several times). */
	if (!(cg2_cache_valid(proc_root) &&
	      (strcmp(cg2_cache.m.root, "/") == 0 || root_ups(cg2_cache.m.root) > 0)) &&
	    (self_cgroup(proc_root, &self, err) < 0 || cg2_lookup(proc_root, self, false, err) < 0))
		return -1;
	*mount_out = strdup(cg2_cache.m.target);
	return *mount_out ? 0 : err_oom(err, "cgroup2");
}

bool vj_cgroup2_hybrid(const char *proc_root)
{
	const char *self = NULL;

	/* Only the mount table says which v1 hierarchies are mounted. */
	proc_root = proc_root ? proc_root : "/proc";
	return self_cgroup(proc_root, &self, NULL) == 0 &&
	       cg2_lookup(proc_root, self, true, NULL) == 0 && cg2_cache.m.v1;
}

int vj_cgroup_self_dir(const char *proc_root, char **dir_out, struct vj_error **err)
{
	const char *self = NULL;
	const struct cg2_mount *m;
	int ups;

	proc_root = proc_root ? proc_root : "/proc";
	if (self_cgroup(proc_root, &self, err) < 0 || cg2_lookup(proc_root, self, false, err) < 0)
		return -1;
	m = &cg2_cache.m;
	ups = root_ups(m->root);
	if (ups <= 0) {
		/* The mount shows the subtree at its root: the caller is below it. */
		const char *rel = strcmp(m->root, "/") == 0 ? self : self + strlen(m->root);
		*dir_out = *rel && strcmp(rel, "/") != 0 ? vj_path_join(m->target, rel)
							 : strdup(m->target);
		return *dir_out ? 0 : err_oom(err, m->target);
	}
	if (!cg2_cache.ns_base) {
		int r = find_ns_base(m->target, ups, self, &cg2_cache.ns_base);
		if (r <= 0)
			return r < 0 ? err_oom(err, m->target)
				     : vj_err_sys(err, STEP, m->target, 0,
						  "mount cgroup2 inside the cgroup namespace (mount -t cgroup2 none DIR), so that its root is the namespace's",
						  "the cgroup2 mount at %s (root %s) was made outside this process's cgroup namespace, and its cgroup %s cannot be found below it",
						  m->target, m->root, self);
	}
	*dir_out = vj_path_join(cg2_cache.ns_base, self);
	return *dir_out ? 0 : err_oom(err, m->target);
}
static int read_proc_cgroup(const char *path, char **path_out, struct vj_error **err);

int vj_cgroup_self(const char *proc_root, char **path_out, struct vj_error **err)
{
	_cleanup_free_ char *path = vj_path_join(proc_root ? proc_root : "/proc", "self/cgroup");

	return read_proc_cgroup(path, path_out, err);
}

int vj_cgroup_of_pid(pid_t pid, char **path_out, struct vj_error **err)
{
	_cleanup_free_ char *path = vj_strdupf("/proc/%d/cgroup", (int)pid);

	return read_proc_cgroup(path, path_out, err);
}

int vj_cgroup_of_pidfd(int pidfd, char **path_out, struct vj_error **err)
{
	_cleanup_close_ int dfd = vj_pidfd_procdir(pidfd);
	_cleanup_free_ char *path = NULL;

	if (dfd < 0)
		return vj_err_sys(err, STEP, "pidfd", errno, NULL, "the process has exited");
	/* Through the directory fd: that process's file, or ESRCH, never another's. */
	path = vj_strdupf("/proc/self/fd/%d/cgroup", dfd);
	return read_proc_cgroup(path, path_out, err);
}

static int read_proc_cgroup(const char *path, char **path_out, struct vj_error **err)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!path)
		return err_oom(err, "cgroup");
	f = fopen(path, "re");
	if (!f)
		return vj_err_sys(err, STEP, path, errno, "is procfs mounted?",
				  "cannot open %s", path);
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (strncmp(line, "0::", 3) != 0)
			continue;
		if (line[3] != '/')
			return vj_err_sys(err, STEP, path, 0, NULL,
					  "the cgroup2 line \"%s\" does not hold an absolute path",
					  line);
		*path_out = strdup(line + 3);
		return *path_out ? 0 : err_oom(err, path);
	}
	return vj_err_sys(err, STEP, path, 0,
			  "the host must mount cgroup2 (unified or hybrid hierarchy)",
			  "no cgroup2 line (\"0::/...\") in %s", path);
}

/*
 * In cgroup v2 a process may move any process between two cgroups when it can
 * write cgroup.procs of the destination and of their common ancestor: there is no
 * check of the moved process's owner.  A user who can write cgroup.procs of any
 * ancestor of the VM's cgroup (a unit with Delegate=yes and User=, a user's session)
 * could therefore move the VMM out of its filtered cgroup into another cgroup of
 * that subtree.  Refuse such a placement: every ancestor from @parent up to the
 * mount's top must have a cgroup.procs that only root can write.
 */
int vj_cgroup_check_ancestors(const char *parent, const char *top, struct vj_error **err)
{
	_cleanup_free_ char *dir = strdup(parent);
	size_t top_len = strlen(top);

	if (!dir)
		return err_oom(err, parent);
	for (;;) {
		_cleanup_free_ char *procs = vj_path_join(dir, "cgroup.procs");
		struct stat st;
		char *slash;

		if (!procs)
			return err_oom(err, dir);
		if (stat(procs, &st) == 0) {
			uid_t who = (uid_t)-1;
			const char *how = NULL;
			if (st.st_uid != 0 && (st.st_mode & S_IWUSR))
				who = st.st_uid, how = "its owner";
			else if (st.st_gid != 0 && (st.st_mode & S_IWGRP))
				who = st.st_gid, how = "group";
			else if (st.st_mode & S_IWOTH)
				how = "everyone";
			if (how) {
				char id[64];
				if (who == (uid_t)-1)
					snprintf(id, sizeof(id), "every user (mode %04o)",
						 (unsigned)(st.st_mode & 07777));
				else if (strcmp(how, "group") == 0)
					snprintf(id, sizeof(id), "group %u", (unsigned)who);
				else
					snprintf(id, sizeof(id), "uid %u", (unsigned)who);
				return vj_err_sys(err, STEP, dir, 0,
						  "place the VM under a cgroup only root can write (--cgroup-parent, e.g. machine.slice), not inside a delegated subtree",
						  "the VM's cgroup would be below %s, whose cgroup.procs %s can write: that user could move the VMM out of its filtered cgroup",
						  dir, id);
			}
		} else if (errno != ENOENT) {
			return vj_err_sys(err, STEP, procs, errno, NULL,
					  "cannot check who may move processes in %s", dir);
		}
		if (strlen(dir) <= top_len || !(slash = strrchr(dir, '/')) || slash == dir)
			return 0;
		*slash = '\0';
		if (strlen(dir) < top_len)
			return 0;
	}
}

/*
 * A cgroup by its id (its inode number in cgroupfs, as a BPF link reports it): a
 * kernfs file handle opened relative to the cgroup2 mount, whatever path or
 * namespace the cgroup was made through.  1 and *populated when found, 0 when no
 * such cgroup exists (any more), -errno when it cannot be looked up.
 */
int vj_cgroup_populated_by_id(uint64_t id, bool *populated)
{
	_cleanup_free_ char *mount = NULL;
	_cleanup_close_ int mfd = -1, cgfd = -1, efd = -1;
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = 0xfe /* FILEID_KERNFS */ } };
	char buf[256];
	ssize_t n;

	if (vj_cgroup2_root(NULL, &mount, NULL) < 0)
		return -ENOENT;
	mfd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	cgfd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return errno == ESTALE || errno == ENOENT ? 0 : -errno;
	efd = openat(cgfd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	if (efd < 0)
		return -errno;
	n = read(efd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*populated = strstr(buf, "populated 1") != NULL;
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Files of one cgroup                                                      */

static int write_cgroup_file(const char *abs_path, const char *name, const char *value,
			     int *errnum)
{
	_cleanup_free_ char *p = vj_path_join(abs_path, name);
	_cleanup_close_ int fd = -1;
	size_t len = strlen(value);
	ssize_t w;

	if (!p) {
		*errnum = ENOMEM;
		return -1;
	}
	fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*errnum = errno;
		return -1;
	}
	w = write(fd, value, len);
	if (w < 0 || (size_t)w != len) {
		*errnum = w < 0 ? errno : EIO;
		return -1;
	}
	return 0;
}

int vj_cgroup_create(const char *abs_path, struct vj_error **err)
{
	if (mkdir(abs_path, 0755) == 0)
		return 0;
	if (errno == EEXIST)
		return vj_err_sys(err, STEP, abs_path, EEXIST,
				  "a cgroup of this name is left from an earlier run: stop what "
				  "runs in it, then rmdir it",
				  "the cgroup %s exists already", abs_path);
	return vj_err_sys(err, STEP, abs_path, errno,
			  errno == ENOENT ? "the parent cgroup does not exist"
			  : errno == EAGAIN ? "an ancestor's cgroup.max.descendants (or cgroup.max.depth) is reached: raise it, or remove cgroups left below it"
					    : NULL,
			  "cannot create the cgroup %s", abs_path);
}

int vj_cgroup_open(const char *abs_path, struct vj_error **err)
{
	int fd = open(abs_path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return vj_err_sys(err, STEP, abs_path, errno, NULL, "cannot open the cgroup %s",
				  abs_path);
	return fd;
}

int vj_cgroup_enter(const char *abs_path, pid_t pid, struct vj_error **err)
{
	char buf[32];
	int errnum = 0;

	if (pid == 0 || pid == getpid())
		self_forget(); /* the caller moves (or may have, on a failure) */
	snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	if (write_cgroup_file(abs_path, "cgroup.procs", buf, &errnum) == 0)
		return 0;
	return vj_err_sys(err, STEP, abs_path, errnum,
			  errnum == EBUSY ? "the cgroup has controllers enabled for its "
					    "children and cannot hold processes itself"
					  : NULL,
			  "cannot move process %ld into the cgroup %s", (long)pid, abs_path);
}

int vj_cgroup_populated(const char *abs_path, bool *populated, struct vj_error **err)
{
	_cleanup_free_ char *p = vj_path_join(abs_path, "cgroup.events");
	char text[4096];
	const char *line, *nl;
	ssize_t r;

	if (!p)
		return err_oom(err, abs_path);
	r = vj_read_small(p, text, sizeof(text));
	if (r < 0)
		return vj_err_sys(err, STEP, p, (int)-r, NULL, "cannot read %s", p);
	for (line = text; line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (strncmp(line, "populated ", 10) != 0)
			continue;
		if ((line[10] != '0' && line[10] != '1') || (line[11] != '\n' && line[11] != '\0'))
			break;
		*populated = line[10] == '1';
		return 0;
	}
	return vj_err_sys(err, STEP, p, 0, NULL, "no \"populated 0|1\" line in %s", p);
}

static int parse_pid(const char *s, pid_t *out)
{
	uint64_t v;

	if (vj_parse_u64(s, &v) < 0 || v == 0 || v > INT_MAX)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

/* One line of cgroup.procs: a pid onto @out. */
static int pids_push(const char *p, const char *line, pid_t **out, size_t *count, struct vj_error **err)
{
	pid_t *slot = vj_array_push(out, count, sizeof(**out));

	if (!slot)
		return err_oom(err, p);
	if (parse_pid(line, slot) < 0)
		return vj_err_sys(err, STEP, p, EINVAL, NULL, "bad pid \"%s\" in %s", line, p);
	return 0;
}

int vj_cgroup_pids(const char *abs_path, pid_t **pids, size_t *n, struct vj_error **err)
{
	_cleanup_free_ char *p = vj_path_join(abs_path, "cgroup.procs");
	_cleanup_close_ int fd = -1;
	_cleanup_free_ pid_t *out = NULL;
	char buf[4096], line[64]; /* a pid is at most 7 digits: a longer line is bad anyway */
	size_t count = 0, ll = 0;

	if (!p)
		return err_oom(err, abs_path);
	/* read(2) straight into a buffer on the stack: no stdio buffer, no fstat. */
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vj_err_sys(err, STEP, p, errno, NULL, "cannot open %s", p);
	for (;;) {
		ssize_t got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return vj_err_sys(err, STEP, p, errno, NULL, "cannot read %s", p);
		if (got == 0)
			break;
		for (ssize_t i = 0; i < got; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line) - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			if (pids_push(p, line, &out, &count, err) < 0)
				return -1;
		}
	}
	if (ll > 0) { /* a last line without its newline */
		line[ll] = '\0';
		if (pids_push(p, line, &out, &count, err) < 0)
			return -1;
	}
	*pids = TAKE_PTR(out);
	*n = count;
	return 0;
}

int vj_cgroup_kill_each(const char *abs_path, struct vj_error **err)
{
	int64_t deadline = now_ns() + KILL_EACH_TIMEOUT_NS;

	for (;;) {
		_cleanup_free_ pid_t *pids = NULL;
		size_t n = 0, i;

		if (vj_cgroup_pids(abs_path, &pids, &n, err) < 0)
			return -1;
		if (n == 0)
			return 0;
		for (i = 0; i < n; i++)
			if (kill(pids[i], SIGKILL) < 0 && errno != ESRCH)
				return vj_err_sys(err, STEP, abs_path, errno, NULL,
						  "cannot kill process %ld of the cgroup %s",
						  (long)pids[i], abs_path);
		if (now_ns() > deadline)
			return vj_err_sys(err, STEP, abs_path, EBUSY,
					  "a process may be stuck in the kernel (state D)",
					  "%zu processes of the cgroup %s survived SIGKILL", n,
					  abs_path);
		short_sleep();
	}
}

int vj_cgroup_kill(const char *abs_path, struct vj_error **err)
{
	int errnum = 0;

	if (write_cgroup_file(abs_path, "cgroup.kill", "1", &errnum) == 0)
		return 0;
	if (errnum == ENOENT && access(abs_path, F_OK) == 0)
		return vj_cgroup_kill_each(abs_path, err); /* kernel < 5.14 */
	return vj_err_sys(err, STEP, abs_path, errnum, NULL,
			  "cannot kill the processes of the cgroup %s", abs_path);
}

/* Wait (at most until @deadline) for cgroup.events to say "populated 0". */
static void wait_unpopulated(const char *abs_path, int64_t deadline)
{
	long step = 20 * 1000;

	while (now_ns() < deadline) {
		bool populated = true;
		struct vj_error *e = NULL;

		if (vj_cgroup_populated(abs_path, &populated, &e) < 0) {
			vj_error_free(e);
			return;
		}
		if (!populated)
			return;
		backoff_sleep(&step);
	}
}

void vj_cgroup_wait_empty(const char *abs_path)
{
	wait_unpopulated(abs_path, now_ns() + KILL_WAIT_TIMEOUT_NS);
}

int vj_cgroup_remove(const char *abs_path, struct vj_error **err)
{
	int64_t deadline = now_ns() + REMOVE_TIMEOUT_NS;
	bool populated = false;
	struct vj_error *e = NULL;
	long step = 20 * 1000;

	for (;;) {
		if (rmdir(abs_path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return vj_err_sys(err, STEP, abs_path, errno, NULL,
					  "cannot remove the cgroup %s", abs_path);
		if (now_ns() >= deadline)
			break;
		wait_unpopulated(abs_path, deadline);
		backoff_sleep(&step);
	}
	if (vj_cgroup_populated(abs_path, &populated, &e) < 0)
		vj_error_free(e);
	return vj_err_sys(err, STEP, abs_path, EBUSY,
			  populated ? "processes still run in it: kill them first"
				    : "it still has child cgroups: remove them first",
			  "cannot remove the cgroup %s: it is busy", abs_path);
}
