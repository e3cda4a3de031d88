/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "state.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "config.h"
#include "error.h"
#include "jbuf.h"
#include "jread.h"
#include "name.h"
#include "plan_json.h"
#include "util.h"

#define STATE_MAX (16 * 1024 * 1024) /* a plan of 65536 nodes and rules fits */

const char *vj_state_dir(const char *state_dir)
{
	return state_dir && *state_dir ? state_dir : VJ_DEFAULT_STATE_DIR;
}

/* Open an existing state directory and check it: 1, 0 when it does not exist, -1. */
static int state_dir_check(const char *dir, int *fd_out, struct vj_error **err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", dir,
			      errno == ELOOP || errno == ENOTDIR ? "the state directory must be a real directory, not a symlink" : NULL,
			      "cannot open the state directory");
	if (fstat(fd, &st) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", dir, NULL, "fstat");
	if (st.st_uid != geteuid() || (st.st_mode & 0022))
		return vj_err(err, VJ_EXIT_SETUP, 0, "state", dir,
			      "chown it to root and chmod 0700",
			      "refusing a state directory owned by uid %u with mode %04o: others could plant entries",
			      (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	*fd_out = TAKE_FD(fd);
	return 1;
}

int vj_state_dir_open(const char *state_dir, struct vj_error **err)
{
	const char *dir = vj_state_dir(state_dir);
	int fd = -1, r;

	/* Open it first: made only when missing (the check is the same either way). */
	r = state_dir_check(dir, &fd, err);
	if (r != 0)
		return r < 0 ? -1 : fd;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", dir,
			      errno == EROFS ? "only the commands that make a jail (run, setup) need a writable state directory: choose one with --state-dir"
					     : "create its parent directory, or choose another with --state-dir",
			      "cannot create the state directory");
	r = state_dir_check(dir, &fd, err);
	if (r == 0)
		return vj_err(err, VJ_EXIT_SETUP, ENOENT, "state", dir, NULL,
			      "the state directory went away");
	return r < 0 ? -1 : fd;
}

int vj_state_dir_find(const char *state_dir, int *fd_out, struct vj_error **err)
{
	return state_dir_check(vj_state_dir(state_dir), fd_out, err);
}

/* ESC.suffix, ESC the name's escape (name.h); NULL for a name that has none. */
static char *entry(const char *name, const char *suffix)
{
	_cleanup_free_ char *esc = vj_name_escape(name);

	return esc ? vj_strdupf("%s.%s", esc, suffix) : NULL;
}

int vj_state_lock(int dirfd, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *lock = entry(name, "lock");

	if (!lock)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", name, NULL, "out of memory");
	for (int tries = 0; tries < 100; tries++) {
		_cleanup_close_ int fd = -1;
		struct stat a, b;

		fd = openat(dirfd, lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "state", lock,
				      errno == ELOOP ? "a symlink was planted in the state directory; remove it" : NULL,
				      "cannot open the lock");
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				return vj_err(err, VJ_EXIT_USAGE, 0, "state", name,
					      "wait for the other launch to finish, or pick another name",
					      "another vfiojail holds this VM's lock (launching or supervising it)");
			return vj_err(err, VJ_EXIT_SETUP, errno, "state", lock, NULL, "flock");
		}
		/* The holder before us may have unlinked the file: retry on a fresh one. */
		if (fstat(fd, &a) == 0 && fstatat(dirfd, lock, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return TAKE_FD(fd);
	}
	return vj_err(err, VJ_EXIT_SETUP, EAGAIN, "state", lock, NULL, "the lock keeps changing");
}

void vj_state_unlock(int dirfd, const char *name, int lock_fd)
{
	_cleanup_free_ char *lock = entry(name, "lock");

	if (lock_fd < 0)
		return;
	if (lock)
		unlinkat(dirfd, lock, 0);
	close(lock_fd);
}

static const char *const step_names[VJ_STEP_COUNT] = {
	[VJ_STEP_CGROUP] = "cgroup",   [VJ_STEP_FILTER] = "filter", [VJ_STEP_NAMESPACE] = "namespace",
	[VJ_STEP_MEMLOCK] = "memlock", [VJ_STEP_NODES] = "nodes",   [VJ_STEP_RULES] = "rules",
	[VJ_STEP_CONTEXTS] = "contexts", [VJ_STEP_VMM_MEMLOCK] = "vmm-memlock",
};

const char *vj_step_name(enum vj_step s)
{
	return (unsigned)s < VJ_STEP_COUNT ? step_names[s] : "?";
}

/*
 * The state file: written compact in one buffer (jbuf.h), the plan in the
 * schema `plan --json` prints (plan_json.h, brief: without reasons, memlock
 * terms and warnings, the lists of single-value records as columns and rows),
 * read back with json-c.  Version 5; the reader takes versions 1 to 4 too (a
 * version 4 plan keeps its lists as objects), so a jail of the previous
 * vfiojail is still status-able, changed and removed.
 */
static void write_steps(struct vj_jbuf *b, unsigned steps)
{
	vj_jb_open(b, '[');
	for (int i = 0; i < VJ_STEP_COUNT; i++)
		if (steps & VJ_STEP_BIT(i))
			vj_jb_str(b, step_names[i]);
	vj_jb_close(b, ']');
}

/* The spec text: JSON from vj_spec_json or a state read back (json-c's compact
 * form), so it is written as it is; anything but an object is written as null. */
static void write_spec(struct vj_jbuf *b, const char *spec)
{
	const char *p = spec;

	while (p && (*p == ' ' || *p == '\n' || *p == '\t'))
		p++;
	if (p && *p == '{')
		vj_jb_json(b, spec);
	else
		vj_jb_null(b);
}

static const char *const origin_names[] = {
	[VJ_ORIGIN_UNKNOWN] = "unknown", [VJ_ORIGIN_RUN] = "run",
	[VJ_ORIGIN_SETUP] = "setup",     [VJ_ORIGIN_LAUNCH] = "launch",
};

const char *vj_state_origin_name(enum vj_state_origin o)
{
	return (unsigned)o < ARRAY_SIZE(origin_names) ? origin_names[o] : "unknown";
}

static const char *const memlock_from_names[] = {
	[VJ_MEMLOCK_FROM_NONE] = NULL, [VJ_MEMLOCK_FROM_PLAN] = "plan",
	[VJ_MEMLOCK_FROM_LAUNCHER] = "launcher", [VJ_MEMLOCK_FROM_EXACT] = "exact",
};

const char *vj_memlock_from_name(enum vj_memlock_from f)
{
	return (unsigned)f < ARRAY_SIZE(memlock_from_names) ? memlock_from_names[f] : NULL;
}

const char *vj_memlock_from_said(enum vj_memlock_from f)
{
	switch (f) {
	case VJ_MEMLOCK_FROM_PLAN:
		return "plan";
	case VJ_MEMLOCK_FROM_LAUNCHER:
		return "launcher, kept: above the plan";
	case VJ_MEMLOCK_FROM_EXACT:
		return "plan: the spec's memlock.hard_limit is exact";
	default:
		return "not recorded";
	}
}

static void limit_write(struct vj_jbuf *b, const char *key, uint64_t v)
{
	vj_jb_key(b, key);
	vj_jb_i64(b, v == UINT64_MAX ? -1 : (int64_t)v);
}

static void key_str(struct vj_jbuf *b, const char *key, const char *v)
{
	vj_jb_key(b, key);
	vj_jb_str(b, v);
}

static void key_i64(struct vj_jbuf *b, const char *key, int64_t v)
{
	vj_jb_key(b, key);
	vj_jb_i64(b, v);
}

char *vj_state_plan_json(const struct vj_plan *plan)
{
	struct vj_jbuf b = { 0 };

	vj_plan_json_write(&b, plan, VJ_PLAN_JSON_BRIEF);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* The plan in the state's form: @text when the caller serialised it already. */
static void plan_write(struct vj_jbuf *b, const struct vj_plan *plan, const char *text)
{
	if (text)
		vj_jb_json(b, text);
	else
		vj_plan_json_write(b, plan, VJ_PLAN_JSON_BRIEF);
}

static void state_json(struct vj_jbuf *b, const struct vj_state *st)
{
	vj_jb_open(b, '{');
	key_i64(b, "version", 5);
	key_str(b, "name", st->name);
	key_str(b, "kind", st->kind == VJ_STATE_SETUP ? "setup" : "run");
	key_str(b, "origin", st->origin != VJ_ORIGIN_UNKNOWN ? vj_state_origin_name(st->origin) : NULL);
	key_str(b, "cgroup", st->cgroup);
	key_str(b, "bpf_pin", st->bpf_pin);
	key_str(b, "ns", st->ns_path);
	vj_jb_key(b, "ledger");
	write_steps(b, st->ledger);
	key_i64(b, "supervisor", st->supervisor);
	key_i64(b, "vmm", st->vmm);
	key_i64(b, "vmm_start", (int64_t)st->vmm_start);
	if (st->vmm_memlock_from != VJ_MEMLOCK_FROM_NONE) {
		vj_jb_key(b, "vmm_memlock");
		vj_jb_open(b, '{');
		limit_write(b, "soft", st->vmm_memlock_soft);
		limit_write(b, "hard", st->vmm_memlock_hard);
		key_str(b, "from", vj_memlock_from_name(st->vmm_memlock_from));
		vj_jb_close(b, '}');
	}
	if (st->vmm_memlock_before.set) {
		vj_jb_key(b, "vmm_memlock_before");
		vj_jb_open(b, '{');
		limit_write(b, "soft", st->vmm_memlock_before.soft);
		limit_write(b, "hard", st->vmm_memlock_before.hard);
		vj_jb_close(b, '}');
	}
	key_i64(b, "owner", st->owner);
	key_i64(b, "owner_start", (int64_t)st->owner_start);
	if (st->plan) {
		vj_jb_key(b, "plan");
		plan_write(b, st->plan, st->plan_json);
	}
	if (st->spec) {
		vj_jb_key(b, "spec");
		write_spec(b, st->spec);
	}
	if (st->change) {
		vj_jb_key(b, "change");
		vj_jb_open(b, '{');
		vj_jb_key(b, "steps");
		write_steps(b, st->change->steps);
		vj_jb_key(b, "plan");
		plan_write(b, st->change->plan, st->change->plan_json);
		vj_jb_key(b, "spec");
		write_spec(b, st->change->spec);
		vj_jb_close(b, '}');
	}
	vj_jb_key(b, "roots");
	vj_jb_open(b, '{');
	key_str(b, "sysfs", st->sysfs_root);
	key_str(b, "proc", st->proc_root);
	key_str(b, "dev", st->dev_root);
	vj_jb_close(b, '}');
	key_str(b, "cgroup_parent", st->cgroup_parent);
	vj_jb_key(b, "iommufd_best_effort");
	vj_jb_bool(b, st->iommufd_best_effort);
	vj_jb_close(b, '}');
	vj_jb_raw(b, "\n");
}

/* All of @len bytes, retrying short writes. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void stamp_of(const struct stat *s, struct vj_state_stamp *out)
{
	*out = (struct vj_state_stamp){ .dev = s->st_dev, .ino = s->st_ino, .size = s->st_size,
					.mtime = s->st_mtim, .ctime = s->st_ctim };
}

int vj_state_unchanged(int dirfd, const char *name, const struct vj_state_stamp *stamp)
{
	_cleanup_free_ char *file = entry(name, "json");
	struct vj_state_stamp now;
	struct stat s;

	if (!file) {
		errno = ENOMEM;
		return -1;
	}
	if (fstatat(dirfd, file, &s, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISREG(s.st_mode) || s.st_uid != geteuid())
		return 0;
	stamp_of(&s, &now);
	return now.dev == stamp->dev && now.ino == stamp->ino && now.size == stamp->size &&
	       now.mtime.tv_sec == stamp->mtime.tv_sec && now.mtime.tv_nsec == stamp->mtime.tv_nsec &&
	       now.ctime.tv_sec == stamp->ctime.tv_sec && now.ctime.tv_nsec == stamp->ctime.tv_nsec;
}

int vj_state_write(int dirfd, const struct vj_state *st, struct vj_error **err)
{
	return vj_state_write_stamped(dirfd, st, NULL, err);
}

int vj_state_write_stamped(int dirfd, const struct vj_state *st, struct vj_state_stamp *stamp,
			   struct vj_error **err)
{
	struct stat s;
	_cleanup_free_ char *file = entry(st->name, "json"), *tmp = entry(st->name, "json.tmp");
	_cleanup_close_ int fd = -1;
	struct vj_jbuf b = { 0 };
	int r = -1, w;

	if (!file || !tmp)
		goto oom;
	state_json(&b, st);
	if (b.oom)
		goto oom;

	/* A temporary file already there is a crashed writer's (the name's lock is
	 * ours), or planted: removed, and made anew. */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		unlinkat(dirfd, tmp, 0);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		vj_err(err, VJ_EXIT_SETUP, errno, "state", tmp, NULL, "cannot create the state file");
		goto out;
	}
	/*
	 * Whole before it replaces the old file: written, then renamed, so a crash of
	 * vfiojail leaves the old state or the new one.  No fsync: what the state
	 * describes (cgroups, pinned BPF links, mount namespaces, processes) does not
	 * outlive a reboot, so the file need not either, and an fsync to a disk-backed
	 * /run costs more than the rest of an attach.
	 */
	w = write_all(fd, b.p, b.len);
	if (w < 0) {
		vj_err(err, VJ_EXIT_SETUP, w < 0 ? -w : EIO, "state", tmp, NULL,
		       "cannot write the state file");
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	if (renameat(dirfd, tmp, dirfd, file) < 0) {
		vj_err(err, VJ_EXIT_SETUP, errno, "state", file, NULL, "cannot rename the state file into place");
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	/* After the rename, which may change the file's ctime. */
	if (stamp && fstat(fd, &s) < 0) {
		vj_err(err, VJ_EXIT_SETUP, errno, "state", file, NULL, "fstat");
		goto out;
	}
	if (stamp)
		stamp_of(&s, stamp);
	r = 0;
	goto out;
oom:
	vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", st->name, NULL, "out of memory");
out:
	free(b.p);
	return r;
}

static int state_damaged(struct vj_error **err, const char *file, const char *what)
{
	vj_err(err, VJ_EXIT_SETUP, 0, "state", file,
	       "vfiojail teardown NAME removes what can still be found", "damaged state file: %s",
	       what);
	return VJ_STATE_DAMAGED;
}

/* A pid, 0 when absent. */
static int json_pid(json_object *o, const char *key, pid_t *out)
{
	int64_t n = 0;

	*out = 0;
	if (vj_jr_member(o, key) && vj_jr_int(o, key, 0, INT32_MAX, &n) < 0)
		return -1;
	*out = (pid_t)n;
	return 0;
}

/* A list of step names (absent: *present false). */
static int read_steps(json_object *o, const char *key, unsigned *out, bool *present)
{
	json_object *a;

	*out = 0;
	*present = json_object_object_get_ex(o, key, &a);
	if (!*present)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -1;
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);
		int k = 0;

		if (!json_object_is_type(e, json_type_string))
			return -1;
		while (k < VJ_STEP_COUNT && strcmp(step_names[k], json_object_get_string(e)) != 0)
			k++;
		if (k == VJ_STEP_COUNT || k == VJ_STEP_CONTEXTS)
			return -1;
		*out |= VJ_STEP_BIT(k);
	}
	return 0;
}

/* A member holding a JSON object, kept as compact text (absent or null: NULL),
 * and, when @tree is given, the object itself (a reference). */
static int read_object_text(json_object *o, const char *key, char **out, struct json_object **tree)
{
	json_object *v;

	*out = NULL;
	if (tree)
		*tree = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return -1;
	*out = vj_json_text(v, 0);
	if (*out && tree)
		*tree = json_object_get(v);
	return *out ? 0 : -1;
}

static int read_plan(json_object *o, struct vj_plan **out)
{
	*out = NULL;
	if (!json_object_object_get_ex(o, "plan", &o) || json_object_is_type(o, json_type_null))
		return 0;
	return vj_plan_json_read(o, out);
}

static int read_change(json_object *o, struct vj_state *st)
{
	struct vj_state_change *c;
	bool present;

	if (!json_object_object_get_ex(o, "change", &o) || json_object_is_type(o, json_type_null))
		return 0;
	if (!json_object_is_type(o, json_type_object) || !(c = calloc(1, sizeof(*c))))
		return -1;
	st->change = c;
	if (read_steps(o, "steps", &c->steps, &present) < 0 || !present ||
	    read_plan(o, &c->plan) < 0 || !c->plan || read_object_text(o, "spec", &c->spec, NULL) < 0 ||
	    !c->spec)
		return -1;
	return 0;
}

/* A process's start time, 0 when absent. */
static int json_start(json_object *o, const char *key, uint64_t *out)
{
	json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return -1;
	*out = (uint64_t)json_object_get_int64(v);
	return 0;
}

/* "vmm_memlock": {"soft", "hard" (-1: unlimited), "from"}, absent when not recorded. */
static int read_vmm_memlock(json_object *o, struct vj_state *st)
{
	_cleanup_free_ char *from = NULL;
	int64_t soft, hard;

	if (!json_object_object_get_ex(o, "vmm_memlock", &o) || json_object_is_type(o, json_type_null))
		return 0;
	if (!json_object_is_type(o, json_type_object) || vj_jr_int(o, "soft", -1, INT64_MAX, &soft) < 0 ||
	    vj_jr_int(o, "hard", -1, INT64_MAX, &hard) < 0 || vj_jr_str(o, "from", false, &from) < 0 || !from)
		return -1;
	for (size_t i = 1; i < ARRAY_SIZE(memlock_from_names); i++)
		if (!strcmp(from, memlock_from_names[i]))
			st->vmm_memlock_from = (enum vj_memlock_from)i;
	if (st->vmm_memlock_from == VJ_MEMLOCK_FROM_NONE)
		return -1;
	st->vmm_memlock_soft = soft < 0 ? UINT64_MAX : (uint64_t)soft;
	st->vmm_memlock_hard = hard < 0 ? UINT64_MAX : (uint64_t)hard;
	return 0;
}

/* "vmm_memlock_before": {"soft", "hard" (-1: unlimited)}, absent when nothing is
 * recorded (and in an older vfiojail's state). */
static int read_vmm_memlock_before(json_object *o, struct vj_state *st)
{
	int64_t soft, hard;

	if (!json_object_object_get_ex(o, "vmm_memlock_before", &o) || json_object_is_type(o, json_type_null))
		return 0;
	if (!json_object_is_type(o, json_type_object) || vj_jr_int(o, "soft", -1, INT64_MAX, &soft) < 0 ||
	    vj_jr_int(o, "hard", -1, INT64_MAX, &hard) < 0)
		return -1;
	st->vmm_memlock_before = (struct vj_memlock_before){
		.set = true,
		.soft = soft < 0 ? UINT64_MAX : (uint64_t)soft,
		.hard = hard < 0 ? UINT64_MAX : (uint64_t)hard,
	};
	return 0;
}

/* "origin": one of the names, or absent or null (an older vfiojail's state:
 * unknown, but a jail of kind "setup" was made by setup).  It must agree with
 * "kind". */
static int read_origin(json_object *o, struct vj_state *st)
{
	_cleanup_free_ char *origin = NULL;

	if (vj_jr_str(o, "origin", false, &origin) < 0)
		return -1;
	st->origin = VJ_ORIGIN_UNKNOWN;
	for (size_t i = 1; origin && i < ARRAY_SIZE(origin_names); i++)
		if (!strcmp(origin, origin_names[i]))
			st->origin = (enum vj_state_origin)i;
	if (origin && st->origin == VJ_ORIGIN_UNKNOWN)
		return -1;
	if (!origin && st->kind == VJ_STATE_SETUP)
		st->origin = VJ_ORIGIN_SETUP;
	return (st->kind == VJ_STATE_SETUP) == (st->origin == VJ_ORIGIN_SETUP) ? 0 : -1;
}

static int read_extra(json_object *o, struct vj_state *st)
{
	json_object *roots;
	_cleanup_free_ char *kind = NULL;
	bool ledger;

	if (vj_jr_str(o, "kind", false, &kind) < 0)
		return -1;
	if (!kind || !strcmp(kind, "run"))
		st->kind = VJ_STATE_RUN;
	else if (!strcmp(kind, "setup"))
		st->kind = VJ_STATE_SETUP;
	else
		return -1;
	if (read_origin(o, st) < 0 || json_start(o, "owner_start", &st->owner_start) < 0 ||
	    json_start(o, "vmm_start", &st->vmm_start) < 0 || read_vmm_memlock(o, st) < 0 ||
	    read_vmm_memlock_before(o, st) < 0 ||
	    json_pid(o, "owner", &st->owner) < 0 ||
	    vj_jr_str(o, "ns", true, &st->ns_path) < 0 || read_plan(o, &st->plan) < 0 ||
	    vj_jr_str(o, "cgroup_parent", false, &st->cgroup_parent) < 0 ||
	    vj_jr_flag(o, "iommufd_best_effort", &st->iommufd_best_effort) < 0 ||
	    read_object_text(o, "spec", &st->spec, &st->spec_tree) < 0 ||
	    read_steps(o, "ledger", &st->ledger, &ledger) < 0 ||
	    read_change(o, st) < 0)
		return -1;
	if (!ledger) /* an older vfiojail's state: whatever it names may exist */
		st->ledger = (st->cgroup ? VJ_STEP_BIT(VJ_STEP_CGROUP) : 0) |
			     (st->bpf_pin ? VJ_STEP_BIT(VJ_STEP_FILTER) : 0) |
			     (st->ns_path ? VJ_STEP_BIT(VJ_STEP_NAMESPACE) : 0);
	if (json_object_object_get_ex(o, "roots", &roots)) {
		if (!json_object_is_type(roots, json_type_object) ||
		    vj_jr_str(roots, "sysfs", false, &st->sysfs_root) < 0 ||
		    vj_jr_str(roots, "proc", false, &st->proc_root) < 0 ||
		    vj_jr_str(roots, "dev", false, &st->dev_root) < 0)
			return -1;
	}
	if (st->kind == VJ_STATE_SETUP && (!st->ns_path || !st->plan || !st->spec))
		return -1;
	return 0;
}

int vj_state_read(int dirfd, const char *name, struct vj_state *st, struct vj_error **err)
{
	_cleanup_free_ char *file = entry(name, "json"), *buf = NULL;
	_cleanup_close_ int fd = -1;
	json_object *o;
	struct stat s;
	ssize_t n;
	int r = 0;

	memset(st, 0, sizeof(*st));
	if (!file)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", name, NULL, "out of memory");
	fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", file,
			      errno == ELOOP ? "a symlink was planted in the state directory; remove it" : NULL,
			      "cannot open the state file");
	if (fstat(fd, &s) < 0 || !S_ISREG(s.st_mode) || s.st_uid != geteuid())
		return state_damaged(err, file, "not a regular file owned by vfiojail's user");
	if (s.st_size > STATE_MAX)
		return state_damaged(err, file, "too large");
	buf = calloc(1, (size_t)s.st_size + 1);
	if (!buf)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", file, NULL, "out of memory");
	n = read(fd, buf, (size_t)s.st_size);
	if (n < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", file, NULL, "cannot read the state file");
	if (n != s.st_size)
		return state_damaged(err, file, "short read");
	o = json_tokener_parse(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return state_damaged(err, file, "not a JSON object");
	}
	if (vj_jr_str(o, "name", false, &st->name) < 0 || !st->name || strcmp(st->name, name) != 0 ||
	    vj_jr_str(o, "cgroup", true, &st->cgroup) < 0 ||
	    vj_jr_str(o, "bpf_pin", true, &st->bpf_pin) < 0 ||
	    json_pid(o, "supervisor", &st->supervisor) < 0 || json_pid(o, "vmm", &st->vmm) < 0 ||
	    read_extra(o, st) < 0) {
		vj_state_clear(st);
		r = state_damaged(err, file, "a field is missing or has the wrong type");
	}
	json_object_put(o);
	return r;
}

int vj_state_remove(int dirfd, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *file = entry(name, "json"), *tmp = entry(name, "json.tmp");

	if (!file || !tmp)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", name, NULL, "out of memory");
	unlinkat(dirfd, tmp, 0);
	if (unlinkat(dirfd, file, 0) < 0 && errno != ENOENT)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", file, NULL, "cannot remove the state file");
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int vj_state_list(int dirfd, char ***names, size_t *n, struct vj_error **err)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	char **v = NULL;
	size_t count = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", ".", NULL, "cannot list the state directory");
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		_cleanup_free_ char *esc = NULL;
		char *name = NULL, **slot;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		/* ESC.json: ESC must be exactly the escape of a name; others are not ours. */
		esc = strndup(de->d_name, len - 5);
		if (esc && vj_name_unescape(esc, &name) < 0 && errno != ENOMEM)
			continue;
		slot = name ? VJ_PUSH(v, count) : NULL;
		if (!slot) {
			free(name);
			for (size_t i = 0; i < count; i++)
				free(v[i]);
			free(v);
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", NULL, NULL, "out of memory");
		}
		*slot = name;
	}
	if (count)
		qsort(v, count, sizeof(*v), name_cmp);
	*names = v;
	*n = count;
	return 0;
}

void vj_state_spec_tree_drop(struct vj_state *st)
{
	json_object_put(st->spec_tree);
	st->spec_tree = NULL;
}

void vj_state_clear(struct vj_state *st)
{
	free(st->name);
	free(st->cgroup);
	free(st->bpf_pin);
	free(st->ns_path);
	vj_plan_free(st->plan);
	free(st->spec);
	json_object_put(st->spec_tree);
	free(st->sysfs_root);
	free(st->proc_root);
	free(st->dev_root);
	free(st->cgroup_parent);
	vj_state_change_free(st->change);
	memset(st, 0, sizeof(*st));
}

void vj_state_change_free(struct vj_state_change *c)
{
	if (!c)
		return;
	vj_plan_free(c->plan);
	free(c->spec);
	free(c->plan_json);
	free(c);
}
