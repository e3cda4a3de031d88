/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The cgroup v2 device filter: load, fill, attach, verify, pin, update. */
#include "devfilter.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "bpfsys.h"
#include "devfilter.insns.h"
#include "devfilter_key.h"
#include "error.h"
#include "name.h"
#include "util.h"

#define STEP "devfilter"
#define MIN_ENTRIES VJ_DEVFILTER_DEFAULT_ENTRIES
#define MAX_ENTRIES (1u << 16)
#define PIN_LINK "link"
#define PIN_RULES "rules"
#define PIN_RULES_TMP "rules-grow" /* a grown map before its rename; bpffs refuses dots (EPERM) */

#define HINT_PRIV "loading and attaching BPF programs needs CAP_BPF and CAP_SYS_ADMIN: run as root"
#define HINT_BPFFS "mount the BPF filesystem: mount -t bpf bpf /sys/fs/bpf"

_Static_assert(VJ_RULE_ANY == VJ_DEVFILTER_ANY, "wildcard values differ");
_Static_assert((int)VJ_ACC_MKNOD == (int)BPF_DEVCG_ACC_MKNOD &&
		       (int)VJ_ACC_READ == (int)BPF_DEVCG_ACC_READ &&
		       (int)VJ_ACC_WRITE == (int)BPF_DEVCG_ACC_WRITE,
	       "access bits differ from the kernel's");
_Static_assert(sizeof(struct vj_devfilter_key) == 12, "map key layout");
/* The compiled program's map is the one this file fills. */
_Static_assert(VJ_DEVFILTER_MAP_TYPE == BPF_MAP_TYPE_HASH &&
		       VJ_DEVFILTER_MAP_FLAGS == BPF_F_NO_PREALLOC &&
		       VJ_DEVFILTER_MAP_KEY_SIZE == sizeof(struct vj_devfilter_key) &&
		       VJ_DEVFILTER_MAP_VALUE_SIZE == sizeof(__u32),
	       "bpf/devfilter.bpf.c's map differs from struct vj_devfilter_key");

struct vj_devfilter {
	int map_fd;
	int prog_fd;
	int link_fd;
	uint32_t prog_id;
	char *pin_dir;
};

static const char *hint_for(int errnum)
{
	switch (errnum) {
	case EPERM:
	case EACCES:
		return HINT_PRIV;
	default:
		return NULL;
	}
}

static int err_oom(struct vj_error **err, const char *object)
{
	return vj_err_sys(err, STEP, object, ENOMEM, NULL, "out of memory");
}

/* ---------------------------------------------------------------------- */
/* Rules <-> map entries                                                    */


static int rule_to_key(const struct vj_rule *r, struct vj_devfilter_key *key, __u32 *access,
		       struct vj_error **err)
{
	char name[64];
	const char *why = NULL;

	memset(key, 0, sizeof(*key));
	if (r->type == 'c')
		key->type = BPF_DEVCG_DEV_CHAR;
	else if (r->type == 'b')
		key->type = BPF_DEVCG_DEV_BLOCK;
	else
		why = "the type must be 'c' or 'b'";
	if (r->major == VJ_RULE_ANY && r->minor != VJ_RULE_ANY)
		why = "a wildcard major needs a wildcard minor";
	else if (r->major != VJ_RULE_ANY && r->major >= (1u << 12))
		why = "the major is out of range (0..4095)";
	else if (r->minor != VJ_RULE_ANY && r->minor >= (1u << 20))
		why = "the minor is out of range (0..1048575)";
	if (r->access == 0 || (r->access & ~(unsigned)(VJ_ACC_READ | VJ_ACC_WRITE | VJ_ACC_MKNOD)))
		why = "the access must be a non-empty set of r, w, m";
	if (why) {
		vj_rule_format(r, name);
		return vj_err_sys(err, STEP, name, EINVAL, NULL, "invalid device rule %s: %s", name,
				  why);
	}
	key->major = r->major;
	key->minor = r->minor;
	*access = r->access;
	return 0;
}

int vj_devfilter_map_update(int map_fd, const struct vj_rule *r, struct vj_error **err)
{
	struct vj_devfilter_key key;
	__u32 access;
	char name[64];

	if (rule_to_key(r, &key, &access, err) < 0)
		return -1;
	if (vj_bpf_map_update(map_fd, &key, &access, BPF_ANY) == 0)
		return 0;
	vj_rule_format(r, name);
	return vj_err_sys(err, STEP, name, errno,
			  errno == E2BIG ? "the rule map is full: restart the VM with the device "
					   "in its spec"
					 : hint_for(errno),
			  "cannot add the device rule %s to the filter's map", name);
}

int vj_devfilter_map_delete(int map_fd, const struct vj_rule *r, struct vj_error **err)
{
	struct vj_devfilter_key key;
	__u32 access;
	char name[64];

	if (rule_to_key(r, &key, &access, err) < 0)
		return -1;
	if (vj_bpf_map_delete(map_fd, &key) == 0)
		return 0;
	vj_rule_format(r, name);
	return vj_err_sys(err, STEP, name, errno, hint_for(errno),
			  errno == ENOENT ? "the filter's map holds no rule %s"
					  : "cannot remove the device rule %s from the filter's map",
			  name);
}

static int key_to_rule(const struct vj_devfilter_key *key, __u32 access, struct vj_rule *r)
{
	if (key->type == BPF_DEVCG_DEV_CHAR)
		r->type = 'c';
	else if (key->type == BPF_DEVCG_DEV_BLOCK)
		r->type = 'b';
	else
		return -EINVAL;
	r->major = key->major;
	r->minor = key->minor;
	r->access = access;
	r->reason = NULL;
	return 0;
}

static int rule_cmp(const void *a, const void *b)
{
	const struct vj_rule *x = a, *y = b;

	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->major != y->major)
		return x->major < y->major ? -1 : 1;
	if (x->minor != y->minor)
		return x->minor < y->minor ? -1 : 1;
	return 0;
}

void vj_devfilter_rules_free(struct vj_rule *rules, size_t n)
{
	size_t i;

	for (i = 0; rules && i < n; i++)
		free(rules[i].reason);
	free(rules);
}

int vj_devfilter_map_dump(int map_fd, struct vj_rule **rules, size_t *n, struct vj_error **err)
{
	struct vj_rule *out = NULL;
	size_t count = 0;
	struct vj_devfilter_key key, next;
	const void *prev = NULL;

	while (vj_bpf_map_next_key(map_fd, prev, &next) == 0) {
		__u32 access;
		struct vj_rule *r;

		key = next;
		prev = &key;
		if (vj_bpf_map_lookup(map_fd, &key, &access) < 0) {
			if (errno == ENOENT)
				continue; /* removed while we walked */
			break;
		}
		r = vj_array_push(&out, &count, sizeof(*out));
		if (!r) {
			vj_devfilter_rules_free(out, count);
			return err_oom(err, "rules");
		}
		if (key_to_rule(&key, access, r) < 0) {
			vj_devfilter_rules_free(out, count);
			return vj_err_sys(err, STEP, "rules", EINVAL, NULL,
					  "the filter's map holds an entry of unknown type %u",
					  key.type);
		}
	}
	if (errno != ENOENT) {
		vj_devfilter_rules_free(out, count);
		return vj_err_sys(err, STEP, "rules", errno, hint_for(errno),
				  "cannot read the filter's map");
	}
	if (count > 1)
		qsort(out, count, sizeof(*out), rule_cmp);
	*rules = out;
	*n = count;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Load and attach                                                          */

static uint32_t map_entries(size_t n_rules)
{
	uint32_t want = MIN_ENTRIES;

	while (want < MAX_ENTRIES && (size_t)want < 2 * n_rules)
		want <<= 1;
	return want;
}

static int prog_id_of(int prog_fd, uint32_t *id)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (vj_bpf_obj_info(prog_fd, &info, &len) < 0)
		return -errno;
	*id = info.id;
	return 0;
}

/* Every rule in one BPF_MAP_UPDATE_BATCH (Linux 5.6); one update per rule where
 * the kernel has no batch operations for hash maps. */
static int fill_map(struct vj_devfilter *f, const struct vj_rule *rules, size_t n,
		    struct vj_error **err)
{
	int map_fd = f->map_fd;
	_cleanup_free_ struct vj_devfilter_key *keys = calloc(n ? n : 1, sizeof(*keys));
	_cleanup_free_ __u32 *values = calloc(n ? n : 1, sizeof(*values));
	__u32 count = (__u32)n;
	size_t i;

	if (!keys || !values)
		return err_oom(err, "rules");
	for (i = 0; i < n; i++)
		if (rule_to_key(&rules[i], &keys[i], &values[i], err) < 0)
			return -1;
	if (n == 0 || vj_bpf_map_update_batch(map_fd, keys, values, &count) == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (vj_devfilter_map_update(map_fd, &rules[i], err) < 0)
			return -1;
	return 0;
}

static struct vj_devfilter *devfilter_new(void)
{
	struct vj_devfilter *f = calloc(1, sizeof(*f));

	if (f)
		f->map_fd = f->prog_fd = f->link_fd = -1;
	return f;
}

/* The verifier's last words, for the error message. */
static const char *log_tail(char *log)
{
	size_t len = strlen(log);
	char *nl;

	while (len > 0 && log[len - 1] == '\n')
		log[--len] = '\0';
	nl = strrchr(log, '\n');
	return nl ? nl + 1 : log;
}

/* The compiled program (bpf/devfilter.bpf.c via bpf/gen-insns) with the map's fd
 * in each instruction that loads the map: BPF_PSEUDO_MAP_FD, as libbpf does. */
static int load_prog(int map_fd, struct vj_error **err)
{
	struct bpf_insn insns[ARRAY_SIZE(vj_devfilter_insns)];
	_cleanup_free_ char *log = NULL;
	int fd, r;

	memcpy(insns, vj_devfilter_insns, sizeof(insns));
	for (size_t i = 0; i < ARRAY_SIZE(vj_devfilter_map_refs); i++) {
		insns[vj_devfilter_map_refs[i]].src_reg = BPF_PSEUDO_MAP_FD;
		insns[vj_devfilter_map_refs[i]].imm = map_fd;
	}
	fd = vj_bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, insns,
			      ARRAY_SIZE(insns), VJ_DEVFILTER_LICENSE, VJ_DEVFILTER_PROG_NAME,
			      NULL, 0);
	if (fd >= 0)
		return fd;
	r = errno;
	if (r == EINVAL || r == EACCES) /* again, for the verifier's reason */
		log = calloc(1, 1u << 16);
	if (log && vj_bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, insns,
				    ARRAY_SIZE(insns), VJ_DEVFILTER_LICENSE,
				    VJ_DEVFILTER_PROG_NAME, log, 1u << 16) < 0 &&
	    log[0])
		return vj_err_sys(err, STEP, VJ_DEVFILTER_PROG_NAME, r, hint_for(r),
				  "the kernel refused the device filter program (verifier: %s)",
				  log_tail(log));
	return vj_err_sys(err, STEP, VJ_DEVFILTER_PROG_NAME, r, hint_for(r),
			  "cannot load the device filter program");
}

int vj_devfilter_load(const struct vj_rule *rules, size_t n, struct vj_devfilter **out,
		      struct vj_error **err)
{
	struct vj_devfilter *f;
	uint32_t entries = map_entries(n);
	int r;

	if (n > MAX_ENTRIES / 2)
		return vj_err_sys(err, STEP, "rules", E2BIG, NULL,
				  "%zu device rules are more than the filter holds (%u)", n,
				  MAX_ENTRIES / 2);
	f = devfilter_new();
	if (!f)
		return err_oom(err, "rules");
	f->map_fd = vj_bpf_map_create(BPF_MAP_TYPE_HASH, sizeof(struct vj_devfilter_key),
				      sizeof(__u32), entries, BPF_F_NO_PREALLOC,
				      VJ_DEVFILTER_MAP_NAME);
	if (f->map_fd < 0) {
		r = errno;
		vj_devfilter_free(f);
		return vj_err_sys(err, STEP, VJ_DEVFILTER_MAP_NAME, r, hint_for(r),
				  "cannot create the device filter's map (%u entries)", entries);
	}
	f->prog_fd = load_prog(f->map_fd, err);
	if (f->prog_fd < 0) {
		vj_devfilter_free(f);
		return -1;
	}
	r = prog_id_of(f->prog_fd, &f->prog_id);
	if (r < 0) {
		vj_devfilter_free(f);
		return vj_err_sys(err, STEP, VJ_DEVFILTER_PROG_NAME, -r, NULL,
				  "cannot read the device filter program's id");
	}
	if (fill_map(f, rules, n, err) < 0) {
		vj_devfilter_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

uint32_t vj_devfilter_prog_id(const struct vj_devfilter *f)
{
	return f ? f->prog_id : 0;
}

/* Whether @id is among the BPF_CGROUP_DEVICE programs attached to the cgroup itself. */
static int cgroup_has_prog(int cgroup_fd, uint32_t id, bool *found)
{
	__u32 cap = 16;

	for (;;) {
		_cleanup_free_ __u32 *ids = calloc(cap, sizeof(*ids));
		__u32 cnt = cap, i;

		if (!ids)
			return -ENOMEM;
		if (vj_bpf_prog_query(cgroup_fd, BPF_CGROUP_DEVICE, ids, &cnt) < 0) {
			if (errno == ENOSPC && cap < (1u << 20)) {
				cap = cnt > cap ? cnt : cap * 2;
				continue;
			}
			return -errno;
		}
		*found = false;
		for (i = 0; i < cnt && i < cap; i++)
			if (ids[i] == id)
				*found = true;
		return 0;
	}
}

/* The nearest ancestor of @cgroup_path (a cgroup directory) with a device program
 * attached exclusively or with BPF_F_ALLOW_OVERRIDE: below it the kernel refuses
 * another program (EPERM).  NULL when there is none. */
static char *exclusive_ancestor(const char *cgroup_path)
{
	_cleanup_free_ char *dir = strdup(cgroup_path);
	char *slash;

	while (dir && (slash = strrchr(dir, '/')) && slash != dir) {
		_cleanup_close_ int fd = -1;
		uint32_t count = 0, flags = 0;

		*slash = '\0';
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			break;
		if (vj_bpf_prog_attach_flags(fd, BPF_CGROUP_DEVICE, &count, &flags) == 0 &&
		    count > 0 && !(flags & BPF_F_ALLOW_MULTI))
			return TAKE_PTR(dir);
	}
	return NULL;
}

int vj_devfilter_attach(struct vj_devfilter *f, int cgroup_fd, const char *cgroup_path,
			struct vj_error **err)
{
	const char *obj = cgroup_path ? cgroup_path : "cgroup";
	bool found = false;
	int r;

	if (f->link_fd >= 0)
		return vj_err_sys(err, STEP, obj, EALREADY, NULL,
				  "the device filter is attached already");
	/* A link, not BPF_PROG_ATTACH: it goes with its last reference (our fd, or
	 * the pin), never outlives a crash unpinned, and cannot be replaced by others. */
	f->link_fd = vj_bpf_link_create(f->prog_fd, cgroup_fd, BPF_CGROUP_DEVICE);
	if (f->link_fd < 0) {
		int e = errno;
		_cleanup_free_ char *blocker = e == EPERM && cgroup_path ? exclusive_ancestor(cgroup_path) : NULL;
		if (blocker)
			return vj_err_sys(err, STEP, obj, e,
					  "a launcher that attaches its own device program (libvirt does) must use BPF_F_ALLOW_MULTI, or leave device control to vfiojail (libvirt: cgroup_controllers without \"devices\")",
					  "cannot attach the device filter: the cgroup %s has a device program attached without BPF_F_ALLOW_MULTI, which lets no cgroup below it add one",
					  blocker);
		return vj_err_sys(err, STEP, obj, e, hint_for(e),
				  "cannot attach the device filter to the cgroup");
	}
	r = cgroup_has_prog(cgroup_fd, f->prog_id, &found);
	if (r == 0 && found)
		return 0;
	close(f->link_fd);
	f->link_fd = -1;
	if (r < 0)
		return vj_err_sys(err, STEP, obj, -r, hint_for(-r),
				  "cannot query the device programs of the cgroup to verify the "
				  "filter");
	return vj_err_sys(err, STEP, obj, 0, NULL,
			  "the device filter (program id %u) is not listed on the cgroup after "
			  "attaching it",
			  f->prog_id);
}

void vj_devfilter_free(struct vj_devfilter *f)
{
	if (!f)
		return;
	if (f->link_fd >= 0)
		close(f->link_fd); /* detaches unless pinned */
	if (f->prog_fd >= 0)
		close(f->prog_fd);
	if (f->map_fd >= 0)
		close(f->map_fd);
	free(f->pin_dir);
	free(f);
}

/* ---------------------------------------------------------------------- */
/* Pins                                                                     */

/* The name's escape (name.h); bpffs refuses every name with a dot in it (EPERM,
 * kernel/bpf/inode.c bpf_lookup), and escaped names may have dots: each is written
 * ':', which no escape contains (a ':' in a name is escaped as \x3a). */
char *vj_devfilter_pin_dir(const char *bpffs_root, const char *name)
{
	_cleanup_free_ char *base = vj_path_join(bpffs_root ? bpffs_root : VJ_BPFFS_DEFAULT,
						 "vfiojail");
	_cleanup_free_ char *leaf = vj_name_escape(name);

	if (!base || !leaf)
		return NULL;
	for (char *p = leaf; *p; p++)
		if (*p == '.')
			*p = ':';
	return vj_path_join(base, leaf);
}

static bool on_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/*
 * A directory inside a bpffs (not its mount root) must be a real directory of
 * ours that no one else can write.  A fresh bpffs root is mode 1777, so anyone
 * could have made it first, and could then unlink the pins in it: unlinking the
 * last reference to a pinned link detaches the filter (--exec leaves no other).
 * @st is its lstat, @euid ours (read once by the caller).
 */
static int check_pin_stat(const char *p, const struct stat *st, uid_t euid, struct vj_error **err)
{
	if (!S_ISDIR(st->st_mode) || st->st_uid != euid || (st->st_mode & 022))
		return vj_err_sys(err, STEP, p, EPERM,
				  "remove it; vfiojail makes it itself, mode 0700",
				  "refusing the pin directory %s (uid %u, mode %04o): it must be a "
				  "directory of uid %u that no one else can write, or others could "
				  "remove the pins and so detach the device filter",
				  p, (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777), (unsigned)euid);
	return 0;
}

int vj_devfilter_check_root_known(const char *bpffs_root, bool explicit_root, bool known_bpffs,
				  struct vj_error **err)
{
	_cleanup_free_ char *top = vj_path_join(bpffs_root, "vfiojail");
	struct stat st;

	if (!top)
		return err_oom(err, bpffs_root);
	/* One statfs of the root at most (none when the caller has just seen it on
	 * a bpffs): whether it is one decides both the refusal of an explicit root
	 * and whether vfiojail/ lies inside a bpffs, where it must be ours. */
	if (!known_bpffs && !on_bpffs(bpffs_root)) {
		if (explicit_root)
			return vj_err_sys(err, STEP, bpffs_root, ENOTSUP, HINT_BPFFS,
					  "%s is not on a BPF filesystem", bpffs_root);
		return 0; /* vfiojail/ would not be inside a bpffs: pinning refuses that */
	}
	if (lstat(top, &st) < 0)
		return 0; /* made by the first launch */
	return check_pin_stat(top, &st, geteuid(), err);
}

int vj_devfilter_check_root(const char *bpffs_root, bool explicit_root, struct vj_error **err)
{
	return vj_devfilter_check_root_known(bpffs_root, explicit_root, false, err);
}

/*
 * Where the walk of mkdir_bpffs may start: for ROOT/vfiojail/NAME (the only pin
 * directories vj_devfilter_pin_dir makes) with ROOT on a bpffs and ROOT's parent
 * not, ROOT is that bpffs's mount root, and nothing from "/" to ROOT lies inside
 * a bpffs: the walk from "/" would check none of those components, only find
 * them.  Two statfs instead of a stat and a statfs per component above.  The
 * offset of "vfiojail" in @p, or 0: walk from "/".
 */
static size_t walk_start(char *p)
{
	char *name = strrchr(p, '/'), *top, *root_end;
	size_t off = 0;

	if (!name || name == p)
		return 0;
	*name = '\0';
	top = strrchr(p, '/');
	if (top && top != p) {
		*top = '\0'; /* p is ROOT */
		root_end = strrchr(p, '/');
		if (root_end && on_bpffs(p)) {
			char saved = root_end[root_end == p ? 1 : 0];

			root_end[root_end == p ? 1 : 0] = '\0'; /* ROOT's parent */
			if (!on_bpffs(p))
				off = (size_t)(top - p) + 1;
			root_end[root_end == p ? 1 : 0] = saved;
		}
		*top = '/';
	}
	*name = '/';
	return off;
}

/*
 * Create the missing components of @dir (0700); each new one must be made on a
 * bpffs, and each inside a bpffs must be ours (check_pin_stat).  One lstat (a
 * stat above the bpffs, where symlinks are followed) and one statfs per
 * component: the statfs says whether the next lies inside a bpffs, and, for the
 * last, that @dir is on one.
 */
static int mkdir_bpffs(const char *dir, struct vj_error **err)
{
	_cleanup_free_ char *p = strdup(dir);
	uid_t euid = geteuid();
	bool parent_on;
	size_t off;
	char *c;

	if (!p)
		return err_oom(err, dir);
	off = walk_start(p);
	parent_on = off ? true : on_bpffs("/");
	for (c = p + (off ? off : 1);;) {
		char *slash = strchr(c, '/');
		struct stat st;
		bool exists;

		if (slash)
			*slash = '\0';
		exists = (parent_on ? lstat(p, &st) : stat(p, &st)) == 0;
		if (exists && parent_on && S_ISLNK(st.st_mode)) {
			struct stat target; /* what a stat would have said: a non-directory is that */

			if (stat(p, &target) == 0 && !S_ISDIR(target.st_mode))
				return vj_err_sys(err, STEP, p, ENOTDIR, NULL, "%s is not a directory", p);
		} else if (exists && !S_ISDIR(st.st_mode)) {
			return vj_err_sys(err, STEP, p, ENOTDIR, NULL, "%s is not a directory", p);
		}
		if (!exists) {
			char saved = *c;

			*c = '\0'; /* the parent, which exists, with its slash */
			if (!parent_on)
				return vj_err_sys(err, STEP, dir, ENOTSUP, HINT_BPFFS,
						  "%s is not on a BPF filesystem", p);
			*c = saved;
			if (mkdir(p, 0700) < 0 && errno != EEXIST)
				return vj_err_sys(err, STEP, p, errno, NULL,
						  "cannot create the pin directory %s", p);
			if (lstat(p, &st) < 0)
				return vj_err_sys(err, STEP, p, errno, NULL,
						  "cannot stat the pin directory %s", p);
		}
		if (parent_on && check_pin_stat(p, &st, euid, err) < 0)
			return -1;
		parent_on = on_bpffs(p);
		if (!slash)
			break;
		*slash = '/';
		c = slash + 1;
	}
	if (!parent_on)
		return vj_err_sys(err, STEP, dir, ENOTSUP, HINT_BPFFS,
				  "%s is not on a BPF filesystem", dir);
	return 0;
}

static int pin_fd(int fd, const char *dir, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *p = vj_path_join(dir, name);

	if (!p)
		return err_oom(err, dir);
	if (vj_bpf_obj_pin(fd, p) == 0)
		return 0;
	return vj_err_sys(err, STEP, p, errno,
			  errno == EEXIST ? "a pin is left from an earlier run: remove it"
					  : hint_for(errno),
			  "cannot pin the device filter's %s at %s", name, p);
}

static void unlink_in(const char *dir, const char *name)
{
	_cleanup_free_ char *p = vj_path_join(dir, name);

	if (p)
		unlink(p);
}

int vj_devfilter_pin(struct vj_devfilter *f, const char *dir, struct vj_error **err)
{
	if (f->link_fd < 0)
		return vj_err_sys(err, STEP, dir, EINVAL, NULL,
				  "the device filter must be attached before it is pinned");
	if (f->pin_dir)
		return vj_err_sys(err, STEP, dir, EALREADY, NULL,
				  "the device filter is pinned already at %s", f->pin_dir);
	if (dir[0] != '/')
		return vj_err_sys(err, STEP, dir, EINVAL, NULL,
				  "the pin directory %s is not absolute", dir);
	if (mkdir_bpffs(dir, err) < 0)
		return -1;
	if (pin_fd(f->link_fd, dir, PIN_LINK, err) < 0) {
		rmdir(dir); /* only when empty: never someone else's pins */
		return -1;
	}
	if (pin_fd(f->map_fd, dir, PIN_RULES, err) < 0) {
		unlink_in(dir, PIN_LINK);
		rmdir(dir);
		return -1;
	}
	f->pin_dir = strdup(dir);
	if (!f->pin_dir) {
		unlink_in(dir, PIN_RULES);
		unlink_in(dir, PIN_LINK);
		rmdir(dir);
		return err_oom(err, dir);
	}
	return 0;
}

static int unlink_pin(const char *dir, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *p = vj_path_join(dir, name);

	if (!p)
		return err_oom(err, dir);
	if (unlink(p) == 0 || errno == ENOENT)
		return 0;
	return vj_err_sys(err, STEP, p, errno, NULL, "cannot remove the pin %s", p);
}

int vj_devfilter_unpin_dir(const char *dir, struct vj_error **err)
{
	if (unlink_pin(dir, PIN_LINK, err) < 0 || unlink_pin(dir, PIN_RULES, err) < 0 ||
	    unlink_pin(dir, PIN_RULES_TMP, err) < 0)
		return -1;
	if (rmdir(dir) == 0 || errno == ENOENT)
		return 0;
	return vj_err_sys(err, STEP, dir, errno,
			  errno == ENOTEMPTY ? "something else is pinned there: look at it" : NULL,
			  "cannot remove the pin directory %s", dir);
}

static int open_pin(const char *dir, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *p = vj_path_join(dir, name);
	int fd;

	if (!p)
		return err_oom(err, dir);
	fd = vj_bpf_obj_get(p);
	if (fd < 0)
		return vj_err_sys(err, STEP, p, errno,
				  errno == ENOENT ? "is the VM running? (is bpffs mounted?)"
						  : hint_for(errno),
				  "cannot open the pinned device filter %s %s", name, p);
	return fd;
}

/* The map behind @fd is a device filter's: 0 (its max_entries in *@max when
 * @max), or -1 with the error. */
static int check_map(int fd, const char *dir, uint32_t *max, struct vj_error **err)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (vj_bpf_obj_info(fd, &info, &len) < 0)
		return vj_err_sys(err, STEP, dir, errno, NULL, "cannot inspect the pinned map");
	if (info.type != BPF_MAP_TYPE_HASH || info.key_size != sizeof(struct vj_devfilter_key) ||
	    info.value_size != sizeof(__u32))
		return vj_err_sys(err, STEP, dir, EINVAL, NULL,
				  "the pinned %s is not a device filter map (type %u, key %u, "
				  "value %u bytes)",
				  PIN_RULES, info.type, info.key_size, info.value_size);
	if (max)
		*max = info.max_entries;
	return 0;
}

static int check_link(int fd, const char *dir, struct vj_error **err)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (vj_bpf_obj_info(fd, &info, &len) < 0)
		return vj_err_sys(err, STEP, dir, errno, NULL, "cannot inspect the pinned link");
	if (info.type != BPF_LINK_TYPE_CGROUP ||
	    info.cgroup.attach_type != BPF_CGROUP_DEVICE)
		return vj_err_sys(err, STEP, dir, EINVAL, NULL,
				  "the pinned %s is not a cgroup device link (link type %u)",
				  PIN_LINK, info.type);
	return 0;
}

int vj_devfilter_pinned_cgroup_id(const char *dir, uint64_t *id)
{
	_cleanup_free_ char *p = vj_path_join(dir, PIN_LINK);
	_cleanup_close_ int fd = -1;
	struct bpf_link_info info;
	uint32_t len = sizeof(info);

	if (!p)
		return -ENOMEM;
	fd = vj_bpf_obj_get(p);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	if (vj_bpf_obj_info(fd, &info, &len) < 0)
		return -errno;
	if (info.type != BPF_LINK_TYPE_CGROUP)
		return -EINVAL;
	*id = info.cgroup.cgroup_id;
	return 0;
}

int vj_devfilter_open_pinned_map(const char *dir, int *map_fd, uint32_t *max_entries, struct vj_error **err)
{
	_cleanup_close_ int mfd = open_pin(dir, PIN_RULES, err);

	if (mfd < 0 || check_map(mfd, dir, max_entries, err) < 0)
		return -1;
	*map_fd = TAKE_FD(mfd);
	return 0;
}

int vj_devfilter_open_pinned(const char *dir, int *map_fd, int *link_fd, struct vj_error **err)
{
	_cleanup_close_ int mfd = -1;
	_cleanup_close_ int lfd = -1;

	if (map_fd && vj_devfilter_open_pinned_map(dir, &mfd, NULL, err) < 0)
		return -1;
	if (link_fd) {
		lfd = open_pin(dir, PIN_LINK, err);
		if (lfd < 0 || check_link(lfd, dir, err) < 0)
			return -1;
	}
	if (map_fd)
		*map_fd = TAKE_FD(mfd);
	if (link_fd)
		*link_fd = TAKE_FD(lfd);
	return 0;
}


/* ---------------------------------------------------------------------- */
/* Growing a pinned filter: a bigger one swapped in on the same link        */


struct vj_devfilter_swap {
	char *dir;
	int link_fd;
	int cgroup_fd;
	int old_prog_fd;
	int old_map_fd;
	uint32_t old_prog_id;
	struct vj_devfilter *next; /* the new program and map */
};

int vj_devfilter_map_max_entries(int map_fd, uint32_t *max_entries, struct vj_error **err)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (vj_bpf_obj_info(map_fd, &info, &len) < 0)
		return vj_err_sys(err, STEP, PIN_RULES, errno, hint_for(errno),
				  "cannot read the size of the filter's map");
	*max_entries = info.max_entries;
	return 0;
}

void vj_devfilter_swap_free(struct vj_devfilter_swap *s)
{
	if (!s)
		return;
	if (s->link_fd >= 0)
		close(s->link_fd);
	if (s->cgroup_fd >= 0)
		close(s->cgroup_fd);
	if (s->old_prog_fd >= 0)
		close(s->old_prog_fd);
	if (s->old_map_fd >= 0)
		close(s->old_map_fd);
	vj_devfilter_free(s->next); /* never attached through it: the link keeps its program */
	free(s->dir);
	free(s);
}

/* The pinned link's program now: its id and an fd of it. */
static int open_link_prog(struct vj_devfilter_swap *s, struct vj_error **err)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (vj_bpf_obj_info(s->link_fd, &info, &len) < 0)
		return vj_err_sys(err, STEP, s->dir, errno, hint_for(errno),
				  "cannot inspect the pinned link");
	s->old_prog_id = info.prog_id;
	s->old_prog_fd = vj_bpf_prog_fd_by_id(info.prog_id);
	if (s->old_prog_fd < 0)
		return vj_err_sys(err, STEP, s->dir, errno, hint_for(errno),
				  "cannot open program %u of the pinned link", info.prog_id);
	return 0;
}

/* BPF_PROG_QUERY: @want is attached to the cgroup, @gone is not. */
static int check_swapped(const struct vj_devfilter_swap *s, uint32_t want, uint32_t gone,
			 struct vj_error **err)
{
	bool found = false, left = true;
	int r = cgroup_has_prog(s->cgroup_fd, want, &found);

	if (r == 0)
		r = cgroup_has_prog(s->cgroup_fd, gone, &left);
	if (r < 0)
		return vj_err_sys(err, STEP, s->dir, -r, hint_for(-r),
				  "cannot query the device programs of the cgroup to verify the "
				  "swapped filter");
	if (!found || left)
		return vj_err_sys(err, STEP, s->dir, 0, NULL,
				  "after the swap the cgroup lists program %u %s and program %u %s",
				  want, found ? "(right)" : "not (wrong)", gone,
				  left ? "still (wrong)" : "no more");
	return 0;
}

/* One BPF_LINK_UPDATE with BPF_F_REPLACE: the kernel swaps only when the link
 * runs @from_fd (EPERM otherwise), so nothing else's change is overwritten. */
static int link_update(const struct vj_devfilter_swap *s, int to_fd, uint32_t to_id, int from_fd,
		       uint32_t from_id, struct vj_error **err)
{
	if (vj_bpf_link_update(s->link_fd, to_fd, from_fd) == 0)
		return 0;
	return vj_err_sys(err, STEP, s->dir, errno,
			  errno == EPERM ? "the link runs another program now: look at it with "
					   "bpftool link show"
					 : hint_for(errno),
			  "cannot swap program %u for program %u on the pinned link", from_id,
			  to_id);
}

/* Swap, then verify; a swap that does not show is swapped back. */
static int swap_verified(const struct vj_devfilter_swap *s, int to_fd, uint32_t to_id, int from_fd,
			 uint32_t from_id, struct vj_error **err)
{
	if (link_update(s, to_fd, to_id, from_fd, from_id, err) < 0)
		return -1;
	if (check_swapped(s, to_id, from_id, err) == 0)
		return 0;
	link_update(s, from_fd, from_id, to_fd, to_id, NULL);
	return -1;
}

/* Pin @map_fd under a temporary name in @dir, then rename it over @dir/rules
 * (bpffs renames like any simple filesystem): the pin is never missing. */
static int repin_map(const char *dir, int map_fd, struct vj_error **err)
{
	_cleanup_free_ char *tmp = vj_path_join(dir, PIN_RULES_TMP);
	_cleanup_free_ char *dst = vj_path_join(dir, PIN_RULES);
	int r;

	if (!tmp || !dst)
		return err_oom(err, dir);
	unlink(tmp); /* left by an attach that died between pin and rename */
	if (vj_bpf_obj_pin(map_fd, tmp) < 0)
		return vj_err_sys(err, STEP, tmp, errno, hint_for(errno),
				  "cannot pin the device filter's map at %s", tmp);
	if (rename(tmp, dst) == 0)
		return 0;
	r = errno;
	unlink(tmp);
	return vj_err_sys(err, STEP, dst, r, NULL, "cannot rename the pin %s over %s", tmp, dst);
}

static struct vj_devfilter_swap *swap_new(const char *dir, int cgroup_fd)
{
	struct vj_devfilter_swap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->link_fd = s->old_prog_fd = s->old_map_fd = -1;
	s->dir = strdup(dir);
	s->cgroup_fd = fcntl(cgroup_fd, F_DUPFD_CLOEXEC, 3);
	if (!s->dir || s->cgroup_fd < 0) {
		vj_devfilter_swap_free(s);
		return NULL;
	}
	return s;
}

int vj_devfilter_replace(const char *dir, int cgroup_fd, const struct vj_rule *rules, size_t n,
			 struct vj_devfilter_swap **out, struct vj_error **err)
{
	struct vj_devfilter_swap *s = swap_new(dir, cgroup_fd);
	int new_fd;

	if (!s)
		return vj_err_sys(err, STEP, dir, errno ? errno : ENOMEM, NULL,
				  "cannot keep the filter's state for a swap");
	if (vj_devfilter_open_pinned(dir, &s->old_map_fd, &s->link_fd, err) < 0 ||
	    open_link_prog(s, err) < 0 || vj_devfilter_load(rules, n, &s->next, err) < 0)
		goto fail;
	new_fd = s->next->prog_fd;
	if (swap_verified(s, new_fd, s->next->prog_id, s->old_prog_fd, s->old_prog_id, err) < 0)
		goto fail;
	if (repin_map(dir, s->next->map_fd, err) < 0) {
		swap_verified(s, s->old_prog_fd, s->old_prog_id, new_fd, s->next->prog_id, NULL);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	vj_devfilter_swap_free(s);
	return -1;
}

int vj_devfilter_swap_rollback(struct vj_devfilter_swap *s, struct vj_error **err)
{
	int new_fd = s->next->prog_fd;

	if (swap_verified(s, s->old_prog_fd, s->old_prog_id, new_fd, s->next->prog_id, err) < 0)
		return -1;
	return repin_map(s->dir, s->old_map_fd, err);
}
