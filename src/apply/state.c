/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "state.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "config.h"
#include "error.h"
#include "name.h"
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

/*
 * The state file is written by hand, compact, in one buffer: the plan of a jail
 * with a thousand devices would otherwise cost a json-c object per value and a
 * pretty printer (milliseconds per write).  vj_state_read parses it with json-c.
 */
struct jbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void jb_mem(struct jbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void jb_raw(struct jbuf *b, const char *s)
{
	jb_mem(b, s, strlen(s));
}

/* A JSON string: '"', '\\' and control characters escaped, other bytes as they are. */
static void jb_str(struct jbuf *b, const char *s)
{
	const char *run = s;

	if (!s) {
		jb_raw(b, "null");
		return;
	}
	jb_raw(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jb_mem(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		jb_raw(b, esc);
		run = s + 1;
	}
	jb_mem(b, run, (size_t)(s - run));
	jb_raw(b, "\"");
}

static void jb_i64(struct jbuf *b, int64_t v)
{
	char num[24], *p = num + sizeof(num);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10));
	if (v < 0)
		*--p = '-';
	jb_mem(b, p, (size_t)(num + sizeof(num) - p));
}

static void jb_bool(struct jbuf *b, bool v)
{
	jb_raw(b, v ? "true" : "false");
}

/* ,"key": (the comma unless @first); keys are plain ASCII names. */
static void jb_key(struct jbuf *b, const char *key, bool first)
{
	if (!first)
		jb_mem(b, ",", 1);
	jb_mem(b, "\"", 1);
	jb_raw(b, key);
	jb_mem(b, "\":", 2);
}

static void jb_devtype(struct jbuf *b, char t)
{
	char s[2] = { t, 0 };

	jb_str(b, s);
}

static void state_nodes(struct jbuf *b, const struct vj_plan *p)
{
	jb_raw(b, "[");
	for (size_t i = 0; i < p->n_nodes && !b->oom; i++) {
		const struct vj_node *n = &p->nodes[i];

		jb_raw(b, i ? ",{" : "{");
		jb_key(b, "path", true);
		jb_str(b, n->path);
		jb_key(b, "host_path", false);
		jb_str(b, n->host_path);
		jb_key(b, "type", false);
		jb_devtype(b, n->type);
		jb_key(b, "major", false);
		jb_i64(b, n->major);
		jb_key(b, "minor", false);
		jb_i64(b, n->minor);
		jb_key(b, "access", false);
		jb_i64(b, n->access);
		jb_key(b, "uid", false);
		jb_i64(b, n->uid);
		jb_key(b, "gid", false);
		jb_i64(b, n->gid);
		jb_key(b, "mode", false);
		jb_i64(b, n->mode);
		jb_key(b, "copy_acl", false);
		jb_bool(b, n->copy_acl);
		jb_raw(b, "}");
	}
	jb_raw(b, "]");
}

static void state_rules(struct jbuf *b, const struct vj_plan *p)
{
	jb_raw(b, "[");
	for (size_t i = 0; i < p->n_rules && !b->oom; i++) {
		const struct vj_rule *r = &p->rules[i];

		jb_raw(b, i ? ",{" : "{");
		jb_key(b, "type", true);
		jb_devtype(b, r->type);
		jb_key(b, "major", false);
		jb_i64(b, r->major);
		jb_key(b, "minor", false);
		jb_i64(b, r->minor);
		jb_key(b, "access", false);
		jb_i64(b, r->access);
		jb_raw(b, "}");
	}
	jb_raw(b, "]");
}

static void state_contexts(struct jbuf *b, const struct vj_plan *p)
{
	jb_raw(b, "[");
	for (size_t i = 0; i < p->n_iommufd; i++) {
		const struct vj_iommufd_plan *c = &p->iommufd[i];

		jb_raw(b, i ? ",{" : "{");
		jb_key(b, "id", true);
		jb_str(b, c->id);
		jb_key(b, "path", false);
		jb_str(b, c->path);
		jb_key(b, "major", false);
		jb_i64(b, c->major);
		jb_key(b, "minor", false);
		jb_i64(b, c->minor);
		jb_raw(b, "}");
	}
	jb_raw(b, "]");
}

static void state_plan(struct jbuf *b, const struct vj_plan *p)
{
	jb_raw(b, "{");
	jb_key(b, "uid", true);
	jb_i64(b, p->uid);
	jb_key(b, "gid", false);
	jb_i64(b, p->gid);
	if (p->groups_known) {
		jb_key(b, "groups", false);
		jb_raw(b, "[");
		for (size_t i = 0; i < p->n_groups; i++) {
			if (i)
				jb_raw(b, ",");
			jb_i64(b, p->groups[i]);
		}
		jb_raw(b, "]");
	}
	jb_key(b, "memlock", false);
	jb_raw(b, "{");
	jb_key(b, "unchanged", true);
	jb_bool(b, p->memlock.unchanged);
	jb_key(b, "unlimited", false);
	jb_bool(b, p->memlock.unlimited);
	jb_key(b, "bytes", false);
	jb_i64(b, (int64_t)p->memlock.bytes);
	jb_raw(b, "}");
	jb_key(b, "nodes", false);
	state_nodes(b, p);
	jb_key(b, "rules", false);
	state_rules(b, p);
	jb_key(b, "iommufd", false);
	state_contexts(b, p);
	jb_raw(b, "}");
}

/* The spec text, checked to be a JSON object and written compact; null when it
 * is not one. */
static void state_spec(struct jbuf *b, const char *spec)
{
	json_object *o = json_tokener_parse(spec);

	if (o && json_object_is_type(o, json_type_object))
		jb_raw(b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		jb_raw(b, "null");
	json_object_put(o);
}

static void state_json(struct jbuf *b, const struct vj_state *st)
{
	jb_raw(b, "{");
	jb_key(b, "version", true);
	jb_i64(b, 2);
	jb_key(b, "name", false);
	jb_str(b, st->name);
	jb_key(b, "cgroup", false);
	jb_str(b, st->cgroup);
	jb_key(b, "bpf_pin", false);
	jb_str(b, st->bpf_pin);
	jb_key(b, "supervisor", false);
	jb_i64(b, st->supervisor);
	jb_key(b, "vmm", false);
	jb_i64(b, st->vmm);
	jb_key(b, "kind", false);
	jb_str(b, st->kind == VJ_STATE_SETUP ? "setup" : "run");
	jb_key(b, "ns", false);
	jb_str(b, st->ns_path);
	jb_key(b, "owner", false);
	jb_i64(b, st->owner);
	jb_key(b, "owner_start", false);
	jb_i64(b, (int64_t)st->owner_start);
	if (st->plan) {
		jb_key(b, "plan", false);
		state_plan(b, st->plan);
	}
	if (st->spec) {
		jb_key(b, "spec", false);
		state_spec(b, st->spec);
	}
	jb_key(b, "roots", false);
	jb_raw(b, "{");
	jb_key(b, "sysfs", true);
	jb_str(b, st->sysfs_root);
	jb_key(b, "proc", false);
	jb_str(b, st->proc_root);
	jb_key(b, "dev", false);
	jb_str(b, st->dev_root);
	jb_raw(b, "}");
	jb_key(b, "cgroup_parent", false);
	jb_str(b, st->cgroup_parent);
	jb_key(b, "iommufd_best_effort", false);
	jb_bool(b, st->iommufd_best_effort);
	jb_raw(b, "}\n");
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

int vj_state_write(int dirfd, const struct vj_state *st, struct vj_error **err)
{
	_cleanup_free_ char *file = entry(st->name, "json"), *tmp = entry(st->name, "json.tmp");
	_cleanup_close_ int fd = -1;
	struct jbuf b = { 0 };
	int r = -1, w;

	if (!file || !tmp)
		goto oom;
	state_json(&b, st);
	if (b.oom)
		goto oom;

	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		vj_err(err, VJ_EXIT_SETUP, errno, "state", tmp, NULL, "cannot create the state file");
		goto out;
	}
	/* Durable before it replaces the old file: fsync, then rename. */
	w = write_all(fd, b.p, b.len);
	if (w < 0 || fsync(fd) < 0) {
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

static int json_str(json_object *o, const char *key, bool absolute, char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	if (absolute && json_object_get_string(v)[0] != '/')
		return -1;
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : -1;
}

static int json_pid(json_object *o, const char *key, pid_t *out)
{
	json_object *v;
	int64_t n;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	if (n < 0 || n > INT32_MAX)
		return -1;
	*out = (pid_t)n;
	return 0;
}

static int json_u32(json_object *o, const char *key, uint32_t *out)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	if (n < 0 || n > UINT32_MAX)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

static int json_flag(json_object *o, const char *key, bool *out)
{
	json_object *v;

	*out = false;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -1;
	*out = json_object_get_boolean(v);
	return 0;
}

static int json_devtype(json_object *o, char *out)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, "type", &v) || !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if ((strcmp(s, "c") != 0 && strcmp(s, "b") != 0))
		return -1;
	*out = s[0];
	return 0;
}

/* An array member @key of @o, each element an object; NULL when absent or wrong. */
static json_object *json_objects(json_object *o, const char *key)
{
	json_object *a;

	if (!json_object_object_get_ex(o, key, &a) || !json_object_is_type(a, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_object))
			return NULL;
	return a;
}

static int read_nodes(json_object *o, struct vj_plan *p)
{
	json_object *a = json_objects(o, "nodes");
	size_t n = a ? json_object_array_length(a) : 0;

	if (!a || !(p->nodes = calloc(n ? n : 1, sizeof(*p->nodes))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct vj_node *nd = &p->nodes[p->n_nodes++]; /* freed with the plan */
		uint32_t v[6];

		if (json_str(e, "path", true, &nd->path) < 0 || !nd->path ||
		    json_str(e, "host_path", false, &nd->host_path) < 0 || json_devtype(e, &nd->type) < 0 ||
		    json_u32(e, "major", &v[0]) < 0 || json_u32(e, "minor", &v[1]) < 0 ||
		    json_u32(e, "access", &v[2]) < 0 || json_u32(e, "uid", &v[3]) < 0 ||
		    json_u32(e, "gid", &v[4]) < 0 || json_u32(e, "mode", &v[5]) < 0 ||
		    json_flag(e, "copy_acl", &nd->copy_acl) < 0)
			return -1;
		nd->mode = (mode_t)(v[5] & 0777);
		nd->major = v[0];
		nd->minor = v[1];
		nd->access = v[2];
		nd->uid = v[3];
		nd->gid = v[4];
	}
	return 0;
}

static int read_rules(json_object *o, struct vj_plan *p)
{
	json_object *a = json_objects(o, "rules");
	size_t n = a ? json_object_array_length(a) : 0;

	if (!a || !(p->rules = calloc(n ? n : 1, sizeof(*p->rules))))
		return -1;
	for (size_t i = 0; i < n; i++, p->n_rules++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct vj_rule *r = &p->rules[i];

		if (json_devtype(e, &r->type) < 0 || json_u32(e, "major", &r->major) < 0 ||
		    json_u32(e, "minor", &r->minor) < 0 || json_u32(e, "access", &r->access) < 0)
			return -1;
	}
	return 0;
}

static int read_contexts(json_object *o, struct vj_plan *p)
{
	json_object *a = json_objects(o, "iommufd");
	size_t n = a ? json_object_array_length(a) : 0;

	if (!a || !(p->iommufd = calloc(n ? n : 1, sizeof(*p->iommufd))))
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		struct vj_iommufd_plan *c = &p->iommufd[p->n_iommufd++]; /* freed with the plan */

		c->accounting = VJ_ACCOUNTING_PER_PROCESS;
		if (json_str(e, "id", false, &c->id) < 0 || !c->id ||
		    json_str(e, "path", true, &c->path) < 0 || !c->path ||
		    json_u32(e, "major", &c->major) < 0 || json_u32(e, "minor", &c->minor) < 0)
			return -1;
	}
	return 0;
}

/* "groups": absent in a plan of an older vfiojail (looked up again at launch). */
static int read_groups(json_object *o, struct vj_plan *p)
{
	size_t n;

	if (!json_object_object_get_ex(o, "groups", &o))
		return 0;
	if (!json_object_is_type(o, json_type_array))
		return -1;
	n = json_object_array_length(o);
	p->groups = calloc(n ? n : 1, sizeof(*p->groups));
	if (!p->groups)
		return -1;
	for (size_t i = 0; i < n; i++) {
		json_object *g = json_object_array_get_idx(o, i);
		int64_t v = json_object_is_type(g, json_type_int) ? json_object_get_int64(g) : -1;

		if (v <= 0 || v >= (int64_t)UINT32_MAX)
			return -1;
		p->groups[i] = (gid_t)v;
	}
	p->n_groups = n;
	p->groups_known = true;
	return 0;
}

static int read_plan(json_object *o, struct vj_plan **out)
{
	struct vj_plan *p;
	json_object *m;
	uint32_t uid, gid;
	int64_t bytes;
	int r = -1;

	*out = NULL;
	if (!json_object_object_get_ex(o, "plan", &o) || json_object_is_type(o, json_type_null))
		return 0;
	if (!json_object_is_type(o, json_type_object) || !(p = calloc(1, sizeof(*p))))
		return -1;
	if (json_u32(o, "uid", &uid) < 0 || json_u32(o, "gid", &gid) < 0 ||
	    !json_object_object_get_ex(o, "memlock", &m) || !json_object_is_type(m, json_type_object) ||
	    json_flag(m, "unchanged", &p->memlock.unchanged) < 0 ||
	    json_flag(m, "unlimited", &p->memlock.unlimited) < 0 ||
	    !json_object_object_get_ex(m, "bytes", &m) || !json_object_is_type(m, json_type_int) ||
	    (bytes = json_object_get_int64(m)) < 0 ||
	    read_groups(o, p) < 0 || read_nodes(o, p) < 0 || read_rules(o, p) < 0 ||
	    read_contexts(o, p) < 0)
		goto out;
	p->uid = uid;
	p->gid = gid;
	p->memlock.bytes = (uint64_t)bytes;
	*out = p;
	p = NULL;
	r = 0;
out:
	vj_plan_free(p);
	return r;
}

static int read_extra(json_object *o, struct vj_state *st)
{
	json_object *v, *roots;
	_cleanup_free_ char *kind = NULL;

	if (json_str(o, "kind", false, &kind) < 0)
		return -1;
	if (!kind || !strcmp(kind, "run"))
		st->kind = VJ_STATE_RUN;
	else if (!strcmp(kind, "setup"))
		st->kind = VJ_STATE_SETUP;
	else
		return -1;
	if (json_object_object_get_ex(o, "owner_start", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
			return -1;
		st->owner_start = (uint64_t)json_object_get_int64(v);
	}
	if (json_pid(o, "owner", &st->owner) < 0 ||
	    json_str(o, "ns", true, &st->ns_path) < 0 || read_plan(o, &st->plan) < 0 ||
	    json_str(o, "cgroup_parent", false, &st->cgroup_parent) < 0 ||
	    json_flag(o, "iommufd_best_effort", &st->iommufd_best_effort) < 0)
		return -1;
	if (json_object_object_get_ex(o, "spec", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_object))
			return -1;
		if (!(st->spec = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN))))
			return -1;
	}
	if (json_object_object_get_ex(o, "roots", &roots)) {
		if (!json_object_is_type(roots, json_type_object) ||
		    json_str(roots, "sysfs", false, &st->sysfs_root) < 0 ||
		    json_str(roots, "proc", false, &st->proc_root) < 0 ||
		    json_str(roots, "dev", false, &st->dev_root) < 0)
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
	if (json_str(o, "name", false, &st->name) < 0 || !st->name || strcmp(st->name, name) != 0 ||
	    json_str(o, "cgroup", true, &st->cgroup) < 0 ||
	    json_str(o, "bpf_pin", true, &st->bpf_pin) < 0 ||
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

void vj_state_clear(struct vj_state *st)
{
	free(st->name);
	free(st->cgroup);
	free(st->bpf_pin);
	free(st->ns_path);
	vj_plan_free(st->plan);
	free(st->spec);
	free(st->sysfs_root);
	free(st->proc_root);
	free(st->dev_root);
	free(st->cgroup_parent);
	memset(st, 0, sizeof(*st));
}
