/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A whole spec: JSON text, a file or a JSON object read field by field (spec.c),
 * then vj_spec_finish: what the fields mean together once they are all read,
 * JSON or flags alike: the user and groups resolved through NSS (getpwnam_r,
 * getgrnam_r), each hostdev given its iommufd context, hostdevs handed as fds
 * checked, and the defaults that depend on other fields.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "hashset.h"
#include "spec_internal.h"
#include "util.h"
#include "vfiojail/vfiojail.h"

static void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}

static void spec_freep(struct vj_spec **s)
{
	vj_spec_free(*s);
}

static int oom(struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", NULL, NULL, "out of memory");
}

struct principal {
	bool found;
	uid_t uid;
	gid_t gid; /* the user's primary group, or the group's gid */
};

static long db_bufsize(int name)
{
	long sz = sysconf(name);
	return sz > 0 ? sz : 4096;
}

/* getpwnam_r (by_name) or getpwuid_r; 0 (found or not) or -errno. */
static int passwd_lookup(const char *name, uid_t uid, struct principal *out)
{
	for (long sz = db_bufsize(_SC_GETPW_R_SIZE_MAX);; sz *= 2) {
		_cleanup_free_ char *buf = malloc((size_t)sz);
		struct passwd pw, *res = NULL;
		int r;

		if (!buf)
			return -ENOMEM;
		r = name ? getpwnam_r(name, &pw, buf, (size_t)sz, &res)
			 : getpwuid_r(uid, &pw, buf, (size_t)sz, &res);
		if (r == ERANGE && sz < (1L << 20))
			continue;
		if (r != 0 && r != ENOENT && r != ESRCH)
			return -r;
		out->found = res != NULL;
		if (res) {
			out->uid = pw.pw_uid;
			out->gid = pw.pw_gid;
		}
		return 0;
	}
}

static int group_lookup(const char *name, struct principal *out)
{
	for (long sz = db_bufsize(_SC_GETGR_R_SIZE_MAX);; sz *= 2) {
		_cleanup_free_ char *buf = malloc((size_t)sz);
		struct group gr, *res = NULL;
		int r;

		if (!buf)
			return -ENOMEM;
		r = getgrnam_r(name, &gr, buf, (size_t)sz, &res);
		if (r == ERANGE && sz < (1L << 20))
			continue;
		if (r != 0 && r != ENOENT && r != ESRCH)
			return -r;
		out->found = res != NULL;
		if (res)
			out->gid = gr.gr_gid;
		return 0;
	}
}

static int resolve_user(struct vj_spec *spec, struct principal *pw, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	uint64_t id;
	int r;

	if (!spec->user)
		return vj_err_spec(err, "user", "required: the user the VM runs as");
	if (vj_all_digits(spec->user)) {
		if (vj_parse_u64(spec->user, &id) < 0 || id >= UINT32_MAX)
			return vj_err_spec(err, "user", "%s is too large for a uid",
					   vj_quote(spec->user, q));
		/* Numbers all round: the passwd entry would only give the primary group. */
		r = spec->group && vj_all_digits(spec->group) ? 0 : passwd_lookup(NULL, (uid_t)id, pw);
		pw->uid = (uid_t)id;
	} else {
		r = passwd_lookup(spec->user, 0, pw);
		if (r == 0 && !pw->found)
			return vj_err_spec(err, "user", "no such user %s", vj_quote(spec->user, q));
	}
	if (r < 0)
		return vj_err(err, VJ_EXIT_USAGE, -r, "spec", "user", NULL,
			      "cannot look up user %s", vj_quote(spec->user, q));
	if (pw->uid == 0)
		return vj_err_spec(err, "user", "%s is uid 0: the VM user must not be root",
				   vj_quote(spec->user, q));
	return 0;
}

static int resolve_group(struct vj_spec *spec, const struct principal *pw, gid_t *gid,
			 struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	struct principal gr = { 0 };
	uint64_t id;
	int r;

	if (!spec->group) {
		if (!pw->found)
			return vj_err_spec(err, "group",
					   "required: user %s has no passwd entry, so it has no "
					   "primary group",
					   vj_quote(spec->user, q));
		if (pw->gid == 0)
			return vj_err_spec(err, "group",
					   "user %s has gid 0 as its primary group: the VM group "
					   "must not be root's group; set group",
					   vj_quote(spec->user, q));
		*gid = pw->gid;
		return 0;
	}
	if (vj_all_digits(spec->group)) {
		if (vj_parse_u64(spec->group, &id) < 0 || id >= UINT32_MAX)
			return vj_err_spec(err, "group", "%s is too large for a gid",
					   vj_quote(spec->group, q));
		gr.gid = (gid_t)id;
	} else {
		r = group_lookup(spec->group, &gr);
		if (r < 0)
			return vj_err(err, VJ_EXIT_USAGE, -r, "spec", "group", NULL,
				      "cannot look up group %s", vj_quote(spec->group, q));
		if (!gr.found)
			return vj_err_spec(err, "group", "no such group %s",
					   vj_quote(spec->group, q));
	}
	if (gr.gid == 0)
		return vj_err_spec(err, "group", "%s is gid 0: the VM group must not be root's group",
				   vj_quote(spec->group, q));
	*gid = gr.gid;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Cross-field checks                                                        */

/* "\"a\", \"b\"" for a message. */
static char *iommufd_ids_list(const struct vj_spec *spec)
{
	char *list = strdup("");

	for (size_t i = 0; list && i < spec->n_iommufd; i++) {
		char q[VJ_QUOTE_MAX];
		char *next = vj_strdupf("%s%s%s", list, i ? ", " : "",
					vj_quote(spec->iommufd[i].id, q));
		free(list);
		list = next;
	}
	return list;
}

static int hostdev_pick_iommufd(struct vj_spec *spec, size_t i, struct vj_error **err)
{
	struct vj_hostdev_spec *h = &spec->hostdevs[i];
	char field[48], q[VJ_QUOTE_MAX];
	_cleanup_free_ char *list = NULL;

	snprintf(field, sizeof(field), "hostdevs[%zu].iommufd", i);
	if (h->iommufd) {
		if (!vj_spec_find_iommufd(spec, h->iommufd))
			return vj_err_spec(err, field, "%s is not declared in \"iommufd\"",
					   vj_quote(h->iommufd, q));
		return 0;
	}
	if (spec->n_iommufd == 0 && vj_spec_add_iommufd_id(spec, "iommufd", "iommufd0", err) < 0)
		return -1;
	if (spec->n_iommufd == 1)
		return vj_spec_set_string(&h->iommufd, spec->iommufd[0].id, err);
	list = iommufd_ids_list(spec);
	if (!list)
		return oom(err);
	return vj_err_spec(err, field,
			   "not set for %s, and several iommufd contexts are declared: "
			   "choose one of %s",
			   h->pci, list);
}

/* A hostdev handed as an fd: iommufd backend only (QEMU's vfio-pci takes a
 * cdev fd only with an iommufd object; the legacy path opens the group and the
 * container itself), and its id is one of a kind among the contexts' ids and
 * the other hostdevs' fd ids (both are @fd:ID@ and VFIOJAIL_FD_<ID>).  Run once
 * the contexts are complete (the default one included). */
struct fd_lookup {
	const struct vj_spec *spec;
	const char *key;
};

static bool fd_equal(const void *ctx, size_t pos)
{
	const struct fd_lookup *l = ctx;

	return strcmp(l->spec->hostdevs[pos].fd, l->key) == 0;
}

static int check_hostdev_fds(struct vj_spec *spec, struct vj_error **err)
{
	char field[48], q[VJ_QUOTE_MAX];
	struct vj_index ix = { 0 };
	size_t k;

	for (size_t i = 0; i < spec->n_hostdevs; i++) {
		const struct vj_hostdev_spec *h = &spec->hostdevs[i];
		struct fd_lookup l = { spec, h->fd };

		if (!h->fd)
			continue;
		snprintf(field, sizeof(field), "hostdevs[%zu].fd", i);
		if (h->backend != VJ_BACKEND_IOMMUFD) {
			vj_index_clear(&ix);
			return vj_err_spec(err, field,
					   "%s is set, but %s uses backend \"legacy\": a VFIO device is handed "
					   "as an fd only with iommufd (QEMU takes vfio-pci's fd= only with "
					   "an iommufd object; the legacy group and container have no such option)",
					   vj_quote(h->fd, q), h->pci);
		}
		if (vj_spec_find_iommufd(spec, h->fd)) {
			vj_index_clear(&ix);
			return vj_err_spec(err, field,
					   "%s is an iommufd context's id already: fd ids and context ids "
					   "share @fd:ID@ and must differ",
					   vj_quote(h->fd, q));
		}
		k = vj_index_find(&ix, vj_hash_str(h->fd), fd_equal, &l);
		if (k != SIZE_MAX) {
			vj_index_clear(&ix);
			return vj_err_spec(err, field, "duplicate id %s: hostdevs[%zu] (%s) has it",
					   vj_quote(h->fd, q), k, spec->hostdevs[k].pci);
		}
		if (vj_index_add(&ix, vj_hash_str(h->fd), i) < 0) {
			vj_index_clear(&ix);
			return oom(err);
		}
	}
	vj_index_clear(&ix);
	return 0;
}

static int check_hostdevs(struct vj_spec *spec, struct vj_error **err)
{
	if (spec->n_hostdevs == 0)
		return 0;
	if (spec->memory == 0)
		return vj_err_spec(err, "memory",
				   "required when hostdevs are assigned (got 0): the guest RAM "
				   "including hotpluggable memory");
	for (size_t i = 0; i < spec->n_hostdevs; i++) {
		if (spec->hostdevs[i].backend != VJ_BACKEND_IOMMUFD)
			continue;
		if (hostdev_pick_iommufd(spec, i, err) < 0)
			return -1;
	}
	return check_hostdev_fds(spec, err);
}

/* Each of "groups" to its gid; gid 0 (root's group) is refused as for "group". */
static int resolve_groups_list(struct vj_spec *spec, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];

	free(spec->group_ids);
	spec->group_ids = calloc(spec->n_groups ? spec->n_groups : 1, sizeof(gid_t));
	if (!spec->group_ids)
		return oom(err);
	for (size_t i = 0; i < spec->n_groups; i++) {
		_cleanup_free_ char *field = vj_strdupf("groups[%zu]", i);
		const char *g = spec->groups[i];
		struct principal gr = { 0 };
		uint64_t id;
		int r;

		if (!field)
			return oom(err);
		if (vj_all_digits(g) && vj_parse_u64(g, &id) == 0 && id < UINT32_MAX) {
			gr.gid = (gid_t)id;
		} else {
			r = group_lookup(g, &gr);
			if (r < 0)
				return vj_err(err, VJ_EXIT_USAGE, -r, "spec", field, NULL,
					      "cannot look up group %s", vj_quote(g, q));
			if (!gr.found)
				return vj_err_spec(err, field, "no such group %s", vj_quote(g, q));
		}
		if (gr.gid == 0)
			return vj_err_spec(err, field,
					   "%s is gid 0: the VM's groups must not include root's group",
					   vj_quote(g, q));
		spec->group_ids[i] = gr.gid;
	}
	return 0;
}

int vj_spec_finish(struct vj_spec *spec, struct vj_error **err)
{
	struct principal pw = { 0 };
	gid_t gid;

	if (!spec)
		return vj_err_spec(err, "spec", "no spec");
	if (!spec->name)
		return vj_err_spec(err, "name", "required: the VM's name");
	if (resolve_user(spec, &pw, err) < 0 || resolve_group(spec, &pw, &gid, err) < 0)
		return -1;
	if (spec->groups_set && resolve_groups_list(spec, err) < 0)
		return -1;
	if (check_hostdevs(spec, err) < 0)
		return -1;
	if (spec->pci_host_bridges == 0)
		spec->pci_host_bridges = 1;
	spec->uid = pw.uid;
	spec->gid = gid;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* A whole spec: its fields read (spec.c), then finished                      */

int vj_spec_from_json(json_object *root, const char *source, struct vj_spec **out,
		      struct vj_error **err)
{
	_cleanup_(spec_freep) struct vj_spec *spec = vj_spec_new();

	if (!spec)
		return oom(err);
	if (vj_spec_read_fields(root, source, spec, err) < 0 || vj_spec_finish(spec, err) < 0)
		return -1;
	*out = TAKE_PTR(spec);
	return 0;
}

static int spec_from_text(const char *text, const char *source, struct vj_spec **out,
			  struct vj_error **err)
{
	_cleanup_(json_putp) json_object *root = NULL;

	if (vj_json_parse_text(text, source, &root, err) < 0)
		return -1;
	return vj_spec_from_json(root, source, out, err);
}

int vj_spec_parse_string(const char *json, struct vj_spec **out, struct vj_error **err)
{
	if (!out)
		return vj_err_spec(err, "spec", "no place for the result");
	*out = NULL;
	if (!json)
		return vj_err_spec(err, "spec", "no JSON text");
	if (strlen(json) > SPEC_FILE_MAX)
		return vj_err(err, VJ_EXIT_USAGE, EFBIG, "spec", "spec", NULL,
			      "the spec is larger than 1 MiB");
	return spec_from_text(json, "spec", out, err);
}

/*
 * A regular file is read into a buffer of its size (fstat), one byte more to
 * see it end: a spec is a few hundred bytes, and a buffer of SPEC_FILE_MAX would
 * be mapped and unmapped for it.  A file that grows meanwhile, a pipe or stdin
 * goes through vj_read_fd, which stops past SPEC_FILE_MAX.
 */
static int read_sized(int fd, char **out, size_t *out_len)
{
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0 || st.st_size > SPEC_FILE_MAX)
		return vj_read_fd(fd, SPEC_FILE_MAX, out, out_len);
	buf = malloc((size_t)st.st_size + 2);
	if (!buf)
		return -ENOMEM;
	n = vj_read_fd_small(fd, buf, (size_t)st.st_size + 2);
	if (n >= 0) {
		*out = TAKE_PTR(buf);
		*out_len = (size_t)n;
		return 0;
	}
	if (n != -EFBIG)
		return (int)n;
	/* Longer than fstat said: read it again from the start, bounded. */
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	return vj_read_fd(fd, SPEC_FILE_MAX, out, out_len);
}

static int read_spec_file(const char *path, char **text, struct vj_error **err)
{
	_cleanup_close_ int fd = -1;
	size_t len = 0;
	int r;

	if (strcmp(path, "-") == 0) {
		r = vj_read_fd(STDIN_FILENO, SPEC_FILE_MAX, text, &len);
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		r = fd < 0 ? -errno : read_sized(fd, text, &len);
	}
	if (r == -EFBIG)
		return vj_err(err, VJ_EXIT_USAGE, EFBIG, "spec", path, NULL,
			      "the spec file is larger than 1 MiB");
	if (r < 0)
		return vj_err(err, VJ_EXIT_USAGE, -r, "spec", path, NULL,
			      "cannot read the spec file");
	if (strlen(*text) != len) {
		free(*text);
		*text = NULL;
		return vj_err_spec(err, path, "the spec file contains a NUL byte: not JSON text");
	}
	return 0;
}

int vj_spec_parse_file(const char *path, struct vj_spec **out, struct vj_error **err)
{
	_cleanup_free_ char *text = NULL;

	if (!out)
		return vj_err_spec(err, "spec", "no place for the result");
	*out = NULL;
	if (!path)
		return vj_err_spec(err, "spec", "no spec file given");
	if (read_spec_file(path, &text, err) < 0)
		return -1;
	return spec_from_text(text, path, out, err);
}
