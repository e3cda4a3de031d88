/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VM spec: from JSON (vj_spec_parse_*) or from flags (vj_spec_set_flag),
 * then vj_spec_finish() for the checks that need every field.  Each field has
 * one validator (the set_* functions below) that both paths call.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "jbuf.h"
#include "hashset.h"
#include "plan.h"
#include "spec_internal.h"
#include "util.h"
#include "vfiojail/vfiojail.h"

#define COUNT_MAX 4096
#define PHB_MAX 64
#define IOMMUFD_ID_MAX 32
#define DEV_PATH_MAX 255
#define USER_MAX 256

/* Flags that may be given once. */
enum {
	ONCE_NAME = 1u << 0,
	ONCE_USER = 1u << 1,
	ONCE_GROUP = 1u << 2,
	ONCE_MEMORY = 1u << 3,
	ONCE_ARCH = 1u << 4,
	ONCE_VIOMMU = 1u << 5,
	ONCE_NVME = 1u << 6,
	ONCE_VDPA = 1u << 7,
	ONCE_PHB = 1u << 8,
	ONCE_MIGRATION = 1u << 9,
	ONCE_MEMLOCK = 1u << 10, /* the three memlock flags exclude each other */
	ONCE_GROUPS = 1u << 11,
};

/*
 * A hash index over one of the spec's lists (by path, PCI address or id), so
 * that duplicate checks stay linear.  It is brought up to date lazily, before
 * each lookup: entries appended since are added, and a list that shrank (hotplug
 * removes entries from a parsed spec) is indexed again from scratch.
 */
struct list_index {
	struct vj_index ix;
	size_t n; /* entries indexed */
};

/* What the library keeps for a spec while it is built: which once-only flags were
 * given, and the lookup indexes of its lists.  Made on first use, so a caller's own
 * zeroed struct vj_spec works as well as vj_spec_new's. */
struct vj_spec_priv {
	unsigned once_given;
	const char *memlock_flag;
	struct list_index devices, hostdevs, iommufd;
};

static const char *const known_arches[] = {
	"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x", "riscv64", "loongarch64",
};
#define ARCH_LIST "x86_64, i686, aarch64, armv7l, ppc64, ppc64le, s390x, riscv64, loongarch64"

static int oom(struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", NULL, NULL, "out of memory");
}

static bool has_control_char(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

bool vj_all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* ------------------------------------------------------------------------- */
/* Field validators: one per field, shared by JSON and flags.                */

int vj_spec_set_string(char **dst, const char *v, struct vj_error **err)
{
	char *copy = strdup(v);

	if (!copy)
		return oom(err);
	free(*dst);
	*dst = copy;
	return 0;
}

static int set_name(struct vj_spec *spec, const char *field, const char *v, struct vj_error **err)
{
	if (vj_validate_name(v, field, err) < 0)
		return -1;
	return vj_spec_set_string(&spec->name, v, err);
}

/* A user or group as written: a name, or a decimal id below (id_t)-1. */
static int check_principal(const char *field, const char *what, const char *v,
			   struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	uint64_t id;

	if (!*v)
		return vj_err_spec(err, field, "\"\" is not a %s: it is empty", what);
	if (strlen(v) > USER_MAX || has_control_char(v) || strchr(v, ':'))
		return vj_err_spec(err, field, "%s is not a %s name or number", vj_quote(v, q), what);
	if (vj_all_digits(v) && (vj_parse_u64(v, &id) < 0 || id >= UINT32_MAX))
		return vj_err_spec(err, field, "%s is not a %s: the number is too large",
				   vj_quote(v, q), what);
	return 0;
}

static int set_user(struct vj_spec *spec, const char *field, const char *v, struct vj_error **err)
{
	if (check_principal(field, "user", v, err) < 0)
		return -1;
	return vj_spec_set_string(&spec->user, v, err);
}

static int set_group(struct vj_spec *spec, const char *field, const char *v, struct vj_error **err)
{
	if (check_principal(field, "group", v, err) < 0)
		return -1;
	return vj_spec_set_string(&spec->group, v, err);
}

static void groups_clear(struct vj_spec *spec)
{
	for (size_t i = 0; i < spec->n_groups; i++)
		free(spec->groups[i]);
	free(spec->groups);
	free(spec->group_ids);
	spec->groups = NULL;
	spec->group_ids = NULL;
	spec->n_groups = 0;
	spec->groups_set = false;
}

/* One supplementary group as written; resolved by vj_spec_finish. */
static int add_group(struct vj_spec *spec, const char *field, const char *v, struct vj_error **err)
{
	char **slot;

	if (check_principal(field, "group", v, err) < 0)
		return -1;
	slot = VJ_PUSH(spec->groups, spec->n_groups);
	if (!slot || !(*slot = strdup(v))) {
		if (slot)
			spec->n_groups--;
		return oom(err);
	}
	return 0;
}

/* --groups G1,G2,...: the whole list at once; "" is no supplementary group. */
static int flag_groups(struct vj_spec *spec, const char *field, const char *v,
		       struct vj_error **err)
{
	_cleanup_free_ char *copy = strdup(v);
	char *save = NULL, *tok;

	if (!copy)
		return oom(err);
	groups_clear(spec);
	spec->groups_set = true;
	if (!*copy)
		return 0;
	if (copy[strlen(copy) - 1] == ',' || copy[0] == ',' || strstr(copy, ",,"))
		return vj_err_spec(err, field, "\"%s\" has an empty entry: write G1,G2,...", v);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (add_group(spec, field, tok, err) < 0)
			return -1;
	return 0;
}

static int set_arch(struct vj_spec *spec, const char *field, const char *v, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(known_arches); i++)
		if (strcmp(v, known_arches[i]) == 0)
			return vj_spec_set_string(&spec->arch, v, err);
	return vj_err_spec(err, field, "%s is not a known architecture (one of " ARCH_LIST ")",
			   vj_quote(v, q));
}

static int set_memory(struct vj_spec *spec, const char *field, uint64_t v, struct vj_error **err)
{
	spec->memory = v;
	return 0;
}

static int set_count(const char *field, uint64_t v, unsigned min, unsigned max, unsigned *dst,
		     struct vj_error **err)
{
	if (v < min || v > max)
		return vj_err_spec(err, field, "%llu is out of range (%u-%u)", (unsigned long long)v,
				   min, max);
	*dst = (unsigned)v;
	return 0;
}

static int set_viommu(struct vj_spec *spec, const char *field, uint64_t v, struct vj_error **err)
{
	return set_count(field, v, 0, COUNT_MAX, &spec->viommu, err);
}

static int set_nvme(struct vj_spec *spec, const char *field, uint64_t v, struct vj_error **err)
{
	return set_count(field, v, 0, COUNT_MAX, &spec->nvme, err);
}

static int set_vdpa(struct vj_spec *spec, const char *field, uint64_t v, struct vj_error **err)
{
	return set_count(field, v, 0, COUNT_MAX, &spec->vdpa, err);
}

static int set_phb(struct vj_spec *spec, const char *field, uint64_t v, struct vj_error **err)
{
	return set_count(field, v, 1, PHB_MAX, &spec->pci_host_bridges, err);
}

static int set_migration(struct vj_spec *spec, const char *field, uint64_t v,
			 struct vj_error **err)
{
	spec->migration = v != 0;
	return 0;
}

static int set_memlock_hard(struct vj_spec *spec, const char *field, uint64_t v,
			    struct vj_error **err)
{
	spec->memlock.mode = VJ_MEMLOCK_HARD;
	spec->memlock.hard_limit = v;
	return 0;
}

static int set_memlock_extra(struct vj_spec *spec, const char *field, uint64_t v,
			     struct vj_error **err)
{
	spec->memlock.mode = VJ_MEMLOCK_AUTO;
	spec->memlock.extra = v;
	return 0;
}

static int set_memlock_unlimited(struct vj_spec *spec, const char *field, uint64_t v,
				 struct vj_error **err)
{
	if (!v)
		return vj_err_spec(err, field,
				   "false is not accepted: unlimited must be true "
				   "(leave memlock out for the automatic limit)");
	spec->memlock.mode = VJ_MEMLOCK_UNLIMITED;
	return 0;
}

/* QEMU object ids: [A-Za-z][A-Za-z0-9_.-]{0,31}; @what names the kind of id. */
static int check_object_id(const char *field, const char *id, const char *what,
			   struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	size_t len = strlen(id);
	bool ok = len >= 1 && len <= IOMMUFD_ID_MAX &&
		  ((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z'));

	for (size_t i = 1; ok && i < len; i++)
		ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		     (id[i] >= '0' && id[i] <= '9') || id[i] == '_' || id[i] == '.' || id[i] == '-';
	if (!ok)
		return vj_err_spec(err, field,
				   "%s is not %s: a letter, then up to 31 of "
				   "A-Z a-z 0-9 _ . -",
				   vj_quote(id, q), what);
	return 0;
}

static int check_iommufd_id(const char *field, const char *id, struct vj_error **err)
{
	return check_object_id(field, id, "an iommufd id", err);
}

static struct vj_spec_priv *priv_of(struct vj_spec *spec)
{
	if (!spec->priv)
		spec->priv = calloc(1, sizeof(*spec->priv));
	return spec->priv; /* NULL: out of memory */
}

/* The key of entry @i of one of the spec's lists. */
typedef const char *(*key_at_fn)(const struct vj_spec *spec, size_t i);

static const char *device_key(const struct vj_spec *spec, size_t i)
{
	return spec->devices[i].path;
}

static const char *hostdev_key(const struct vj_spec *spec, size_t i)
{
	return spec->hostdevs[i].pci;
}

static const char *iommufd_key(const struct vj_spec *spec, size_t i)
{
	return spec->iommufd[i].id;
}

struct key_lookup {
	const struct vj_spec *spec;
	key_at_fn key_at;
	const char *key;
};

static bool key_equal(const void *ctx, size_t pos)
{
	const struct key_lookup *l = ctx;

	return strcmp(l->key_at(l->spec, pos), l->key) == 0;
}

/* Index entries li->n..n-1 (all of them when the list shrank); false on ENOMEM. */
static bool list_index_sync(struct list_index *li, const struct vj_spec *spec, size_t n,
			    key_at_fn key_at)
{
	if (n < li->n) {
		vj_index_clear(&li->ix);
		li->n = 0;
	}
	for (; li->n < n; li->n++) {
		if (vj_index_add(&li->ix, vj_hash_str(key_at(spec, li->n)), li->n) < 0) {
			vj_index_clear(&li->ix);
			li->n = 0;
			return false;
		}
	}
	return true;
}

/* Position of the entry whose key is @key in a list of @n, or SIZE_MAX. */
static size_t list_find(struct list_index *li, const struct vj_spec *spec, size_t n,
			key_at_fn key_at, const char *key)
{
	struct key_lookup l = { spec, key_at, key };

	if (li && list_index_sync(li, spec, n, key_at))
		return vj_index_find(&li->ix, vj_hash_str(key), key_equal, &l);
	for (size_t i = 0; i < n; i++) /* out of memory for the index: search */
		if (key_equal(&l, i))
			return i;
	return SIZE_MAX;
}

const struct vj_iommufd_spec *vj_spec_find_iommufd(struct vj_spec *spec, const char *id)
{
	size_t i = list_find(priv_of(spec) ? &spec->priv->iommufd : NULL, spec, spec->n_iommufd, iommufd_key, id);

	return i == SIZE_MAX ? NULL : &spec->iommufd[i];
}

int vj_spec_add_iommufd_id(struct vj_spec *spec, const char *field, const char *id,
			  struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	_cleanup_free_ char *copy = NULL;
	struct vj_iommufd_spec *slot;

	if (check_iommufd_id(field, id, err) < 0)
		return -1;
	if (vj_spec_find_iommufd(spec, id))
		return vj_err_spec(err, field, "duplicate id %s", vj_quote(id, q));
	copy = strdup(id);
	if (!copy)
		return oom(err);
	slot = VJ_PUSH(spec->iommufd, spec->n_iommufd);
	if (!slot)
		return oom(err);
	slot->id = TAKE_PTR(copy);
	return 0;
}

static void hostdev_clear(struct vj_hostdev_spec *h)
{
	free(h->iommufd);
	h->iommufd = NULL;
	free(h->fd);
	h->fd = NULL;
}

static int hostdev_set_pci(struct vj_hostdev_spec *h, const char *field, const char *v,
			   struct vj_error **err)
{
	if (vj_parse_pci_addr(v, &h->addr, field, err) < 0)
		return -1;
	vj_pci_addr_format(&h->addr, h->pci);
	return 0;
}

static int hostdev_set_backend(struct vj_hostdev_spec *h, const char *field, const char *v,
			       struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];

	if (strcmp(v, "iommufd") == 0)
		h->backend = VJ_BACKEND_IOMMUFD;
	else if (strcmp(v, "legacy") == 0)
		h->backend = VJ_BACKEND_LEGACY;
	else
		return vj_err_spec(err, field, "%s is not a backend (iommufd or legacy)",
				   vj_quote(v, q));
	return 0;
}

static int hostdev_set_iommufd(struct vj_hostdev_spec *h, const char *field, const char *v,
			       struct vj_error **err)
{
	if (check_iommufd_id(field, v, err) < 0)
		return -1;
	return vj_spec_set_string(&h->iommufd, v, err);
}

/* "fd": the id the cdev is handed to the VMM as (checked against the backend
 * and the other ids once the spec is complete: check_hostdev_fds). */
static int hostdev_set_fd(struct vj_hostdev_spec *h, const char *field, const char *v,
			  struct vj_error **err)
{
	if (check_object_id(field, v, "an fd id (the form of an iommufd id)", err) < 0)
		return -1;
	if (strncmp(v, VJ_QMP_FD_PREFIX, strlen(VJ_QMP_FD_PREFIX)) == 0)
		return vj_err(err, VJ_EXIT_USAGE, 0, "spec", field, "choose another id",
			      "\"%s\": ids that start with \"" VJ_QMP_FD_PREFIX "\" are the names attach --qmp "
			      "gives the devices it hot-plugs", v);
	return vj_spec_set_string(&h->fd, v, err);
}

/* Move *h into spec->hostdevs.  @written: the PCI address as the user wrote it. */
static int hostdev_add(struct vj_spec *spec, struct vj_hostdev_spec *h, const char *written,
		       const char *pci_field, const char *iommufd_field, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX], q2[VJ_QUOTE_MAX];
	struct vj_hostdev_spec *slot;
	size_t i;

	if (h->backend == VJ_BACKEND_LEGACY && h->iommufd)
		return vj_err_spec(err, iommufd_field,
				   "%s is set, but backend \"legacy\" uses no iommufd context",
				   vj_quote(h->iommufd, q));
	i = list_find(priv_of(spec) ? &spec->priv->hostdevs : NULL, spec, spec->n_hostdevs, hostdev_key, h->pci);
	if (i != SIZE_MAX)
		return vj_err_spec(err, pci_field, "%s is assigned twice: hostdevs[%zu] is %s already",
				   vj_quote(written, q), i, vj_quote(h->pci, q2));
	slot = VJ_PUSH(spec->hostdevs, spec->n_hostdevs);
	if (!slot)
		return oom(err);
	*slot = *h;
	h->iommufd = NULL;
	h->fd = NULL;
	return 0;
}

static void device_clear(struct vj_device_spec *d)
{
	free(d->path);
	d->path = NULL;
}

static int check_dev_path(const char *field, const char *p, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	const char *why = NULL;
	size_t len = strlen(p);

	if (len > DEV_PATH_MAX)
		why = "longer than 255 bytes";
	else if (has_control_char(p))
		why = "contains a control character";
	else if (strncmp(p, "/dev/", 5) != 0)
		why = "must be an absolute path under /dev/";
	else if (strstr(p, "//"))
		why = "contains \"//\"";
	else if (p[len - 1] == '/')
		why = "ends with \"/\"";
	for (const char *c = p + 1; !why && c && *c; c = strchr(c, '/'), c = c ? c + 1 : NULL) {
		size_t n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			why = "contains a \".\" or \"..\" component";
	}
	if (why)
		return vj_err_spec(err, field, "%s is not a device path: %s", vj_quote(p, q), why);
	return 0;
}

static int device_set_path(struct vj_device_spec *d, const char *field, const char *v,
			   struct vj_error **err)
{
	if (check_dev_path(field, v, err) < 0)
		return -1;
	return vj_spec_set_string(&d->path, v, err);
}

static int device_set_access(struct vj_device_spec *d, const char *field, const char *v,
			     struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];

	if (vj_access_parse(v, &d->access) < 0)
		return vj_err_spec(err, field,
				   "%s is not an access mode: distinct letters of r, w, m",
				   vj_quote(v, q));
	return 0;
}

static int device_add(struct vj_spec *spec, struct vj_device_spec *d, const char *field,
		      struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	struct vj_device_spec *slot;
	size_t i = list_find(priv_of(spec) ? &spec->priv->devices : NULL, spec, spec->n_devices, device_key, d->path);

	if (i != SIZE_MAX)
		return vj_err_spec(err, field, "%s is listed twice (devices[%zu])",
				   vj_quote(d->path, q), i);
	slot = VJ_PUSH(spec->devices, spec->n_devices);
	if (!slot)
		return oom(err);
	*slot = *d;
	d->path = NULL;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* JSON values                                                               */

static const char *json_kind(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "boolean";
	case json_type_int:
		return "integer";
	case json_type_double:
		return "number";
	case json_type_object:
		return "object";
	case json_type_array:
		return "array";
	case json_type_string:
		return "string";
	}
	return "value";
}

static int json_type_fail(const char *field, const char *expected, json_object *o,
			  struct vj_error **err)
{
	enum json_type t = json_object_get_type(o);
	_cleanup_free_ char *json = NULL;
	const char *text = "";

	if (t != json_type_object && t != json_type_array && t != json_type_null)
		json = vj_json_text(o, 0);
	if (json)
		text = json;
	return vj_err_spec(err, field, "expected %s, got %s%s%.64s%s", expected, json_kind(o),
			   *text ? " " : "", text, strlen(text) > 64 ? "..." : "");
}

static int json_string(json_object *o, const char *field, const char **out, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	const char *s;

	if (!json_object_is_type(o, json_type_string))
		return json_type_fail(field, "a string", o, err);
	s = json_object_get_string(o);
	if (strlen(s) != (size_t)json_object_get_string_len(o))
		return vj_err_spec(err, field, "%s contains a NUL character", vj_quote(s, q));
	*out = s;
	return 0;
}

/*
 * A non-negative JSON integer.  json-c saturates literals beyond 64 bits (to
 * INT64_MIN or UINT64_MAX), so anything above INT64_MAX is refused: the
 * saturated value cannot be told from a real one.
 */
static int json_uint(json_object *o, const char *field, uint64_t *out, struct vj_error **err)
{
	_cleanup_free_ char *text = NULL;
	int64_t i;
	uint64_t u;

	if (!json_object_is_type(o, json_type_int))
		return json_type_fail(field, "a non-negative integer", o, err);
	errno = 0;
	i = json_object_get_int64(o);
	u = json_object_get_uint64(o);
	if ((i < 0 || u > (uint64_t)INT64_MAX || errno == ERANGE) && !(text = vj_json_text(o, 0)))
		return oom(err);
	if (i < 0)
		return vj_err_spec(err, field, "%s is negative", text);
	if (u > (uint64_t)INT64_MAX || errno == ERANGE)
		return vj_err_spec(err, field,
				   "%s is too large for a JSON integer (at most %lld); "
				   "write sizes as strings with a unit",
				   text, (long long)INT64_MAX);
	*out = (uint64_t)i;
	return 0;
}

static int json_size(json_object *o, const char *field, uint64_t *out, struct vj_error **err)
{
	const char *s;

	if (json_object_is_type(o, json_type_int))
		return json_uint(o, field, out, err);
	if (!json_object_is_type(o, json_type_string))
		return json_type_fail(field, "a size (a string such as \"32GiB\" or an integer)", o,
				      err);
	if (json_string(o, field, &s, err) < 0)
		return -1;
	return vj_parse_size(s, out, field, err);
}

static int json_get_bool(json_object *o, const char *field, uint64_t *out, struct vj_error **err)
{
	if (!json_object_is_type(o, json_type_boolean))
		return json_type_fail(field, "a boolean", o, err);
	*out = json_object_get_boolean(o) ? 1 : 0;
	return 0;
}

/* A user or group: a string, or a non-negative integer taken as its decimal text. */
static int json_principal(json_object *o, const char *field, char buf[static 24],
			  const char **out, struct vj_error **err)
{
	uint64_t id;

	if (json_object_is_type(o, json_type_string))
		return json_string(o, field, out, err);
	if (!json_object_is_type(o, json_type_int))
		return json_type_fail(field, "a name or a number", o, err);
	if (json_uint(o, field, &id, err) < 0)
		return -1;
	snprintf(buf, 24, "%llu", (unsigned long long)id);
	*out = buf;
	return 0;
}

static int json_unknown_key(const char *field, const char *key, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];

	return vj_err_spec(err, field, "unknown key %s", vj_quote(key, q));
}

/* ------------------------------------------------------------------------- */
/* The field table: JSON keys and flags that map to the same validator.     */

enum field_kind { FK_STRING, FK_PRINCIPAL, FK_SIZE, FK_COUNT, FK_BOOL, FK_LIST };

typedef int (*str_setter)(struct vj_spec *, const char *, const char *, struct vj_error **);
typedef int (*num_setter)(struct vj_spec *, const char *, uint64_t, struct vj_error **);
typedef int (*json_handler)(struct vj_spec *, const char *, json_object *, struct vj_error **);

struct field_def {
	const char *key;  /* JSON key (at its level), or NULL */
	const char *flag; /* flag name without "--", or NULL */
	enum field_kind kind;
	unsigned once;    /* ONCE_* bit for a flag given at most once */
	str_setter str;   /* FK_STRING, FK_PRINCIPAL; FK_LIST: one flag value */
	num_setter num;   /* FK_SIZE, FK_COUNT, FK_BOOL */
	json_handler json; /* FK_LIST */
	/* The field as vj_spec_json writes it (NULL: left out); @p gives the
	 * groups a plan resolved, when known. */
	json_object *(*put)(const struct vj_spec *s, const struct vj_plan *p);
};

static int json_iommufd_list(struct vj_spec *spec, const char *field, json_object *o,
			     struct vj_error **err);
static int json_hostdevs(struct vj_spec *spec, const char *field, json_object *o,
			 struct vj_error **err);
static int json_devices(struct vj_spec *spec, const char *field, json_object *o,
			struct vj_error **err);
static int json_memlock(struct vj_spec *spec, const char *field, json_object *o,
			struct vj_error **err);
static int json_groups(struct vj_spec *spec, const char *field, json_object *o,
		       struct vj_error **err);
static int flag_iommufd(struct vj_spec *spec, const char *field, const char *v,
			struct vj_error **err);
static int flag_hostdev(struct vj_spec *spec, const char *field, const char *v,
			struct vj_error **err);
static int flag_device(struct vj_spec *spec, const char *field, const char *v,
		       struct vj_error **err);

/* ------------------------------------------------------------------------- */
/* The spec as JSON, field by field in the table's order                      */

static json_object *put_name(const struct vj_spec *s, const struct vj_plan *p)
{
	return json_object_new_string(s->name);
}

/* The user and group as the ids they were resolved to. */
static json_object *put_user(const struct vj_spec *s, const struct vj_plan *p)
{
	return json_object_new_int64(s->uid);
}

static json_object *put_group(const struct vj_spec *s, const struct vj_plan *p)
{
	return json_object_new_int64(s->gid);
}

/* The groups the VMM was given, so that a re-plan gives the same. */
static json_object *put_groups(const struct vj_spec *s, const struct vj_plan *p)
{
	json_object *a;

	if (!p || !p->groups_known)
		return NULL;
	a = json_object_new_array();
	for (size_t i = 0; a && i < p->n_groups; i++)
		json_object_array_add(a, json_object_new_int64(p->groups[i]));
	return a;
}

static json_object *put_memory(const struct vj_spec *s, const struct vj_plan *p)
{
	return json_object_new_int64((int64_t)s->memory);
}

static json_object *put_arch(const struct vj_spec *s, const struct vj_plan *p)
{
	return s->arch ? json_object_new_string(s->arch) : NULL;
}

static json_object *put_iommufd(const struct vj_spec *s, const struct vj_plan *p)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < s->n_iommufd; i++) {
		json_object *c = json_object_new_object();
		json_object_object_add(c, "id", json_object_new_string(s->iommufd[i].id));
		json_object_array_add(a, c);
	}
	return a;
}

static json_object *put_hostdevs(const struct vj_spec *s, const struct vj_plan *p)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < s->n_hostdevs; i++) {
		const struct vj_hostdev_spec *h = &s->hostdevs[i];
		json_object *c = json_object_new_object();
		json_object_object_add(c, "pci", json_object_new_string(h->pci));
		json_object_object_add(c, "backend", json_object_new_string(
				h->backend == VJ_BACKEND_LEGACY ? "legacy" : "iommufd"));
		if (h->iommufd)
			json_object_object_add(c, "iommufd", json_object_new_string(h->iommufd));
		if (h->fd)
			json_object_object_add(c, "fd", json_object_new_string(h->fd));
		json_object_array_add(a, c);
	}
	return a;
}

static json_object *put_devices(const struct vj_spec *s, const struct vj_plan *p)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < s->n_devices; i++) {
		json_object *c = json_object_new_object();
		char acc[4];
		vj_access_format(s->devices[i].access, acc);
		json_object_object_add(c, "path", json_object_new_string(s->devices[i].path));
		json_object_object_add(c, "access", json_object_new_string(acc));
		json_object_array_add(a, c);
	}
	return a;
}

static json_object *put_viommu(const struct vj_spec *s, const struct vj_plan *p)
{
	return json_object_new_int64(s->viommu);
}

static json_object *put_nvme(const struct vj_spec *s, const struct vj_plan *p)
{
	return json_object_new_int64(s->nvme);
}

static json_object *put_vdpa(const struct vj_spec *s, const struct vj_plan *p)
{
	return json_object_new_int64(s->vdpa);
}

static json_object *put_phb(const struct vj_spec *s, const struct vj_plan *p)
{
	return json_object_new_int64(s->pci_host_bridges);
}

static json_object *put_migration(const struct vj_spec *s, const struct vj_plan *p)
{
	return json_object_new_boolean(s->migration);
}

static json_object *put_memlock(const struct vj_spec *s, const struct vj_plan *p)
{
	const struct vj_memlock_spec *m = &s->memlock;
	json_object *o;

	if (m->mode == VJ_MEMLOCK_AUTO && m->extra == 0)
		return NULL;
	o = json_object_new_object();
	if (m->mode == VJ_MEMLOCK_HARD)
		json_object_object_add(o, "hard_limit", json_object_new_int64((int64_t)m->hard_limit));
	else if (m->mode == VJ_MEMLOCK_UNLIMITED)
		json_object_object_add(o, "unlimited", json_object_new_boolean(1));
	else
		json_object_object_add(o, "extra", json_object_new_int64((int64_t)m->extra));
	return o;
}

static const struct field_def top_fields[] = {
	{ "name", "name", FK_STRING, ONCE_NAME, .str = set_name, .put = put_name },
	{ "user", "user", FK_PRINCIPAL, ONCE_USER, .str = set_user, .put = put_user },
	{ "group", "group", FK_PRINCIPAL, ONCE_GROUP, .str = set_group, .put = put_group },
	{ "groups", "groups", FK_LIST, ONCE_GROUPS, .str = flag_groups, .json = json_groups,
	  .put = put_groups },
	{ "memory", "memory", FK_SIZE, ONCE_MEMORY, .num = set_memory, .put = put_memory },
	{ "arch", "arch", FK_STRING, ONCE_ARCH, .str = set_arch, .put = put_arch },
	{ "iommufd", "iommufd", FK_LIST, 0, .str = flag_iommufd, .json = json_iommufd_list,
	  .put = put_iommufd },
	{ "hostdevs", "hostdev", FK_LIST, 0, .str = flag_hostdev, .json = json_hostdevs,
	  .put = put_hostdevs },
	{ "devices", "device", FK_LIST, 0, .str = flag_device, .json = json_devices,
	  .put = put_devices },
	{ "viommu", "viommu", FK_COUNT, ONCE_VIOMMU, .num = set_viommu, .put = put_viommu },
	{ "nvme", "nvme", FK_COUNT, ONCE_NVME, .num = set_nvme, .put = put_nvme },
	{ "vdpa", "vdpa", FK_COUNT, ONCE_VDPA, .num = set_vdpa, .put = put_vdpa },
	{ "pci_host_bridges", "pci-host-bridges", FK_COUNT, ONCE_PHB, .num = set_phb,
	  .put = put_phb },
	{ "migration", "migration", FK_BOOL, ONCE_MIGRATION, .num = set_migration,
	  .put = put_migration },
	{ "memlock", NULL, FK_LIST, 0, .json = json_memlock, .put = put_memlock },
};

static const struct field_def memlock_fields[] = {
	{ "hard_limit", "memlock-hard-limit", FK_SIZE, ONCE_MEMLOCK, .num = set_memlock_hard },
	{ "extra", "memlock-extra", FK_SIZE, ONCE_MEMLOCK, .num = set_memlock_extra },
	{ "unlimited", "memlock-unlimited", FK_BOOL, ONCE_MEMLOCK, .num = set_memlock_unlimited },
};

char *vj_spec_json(const struct vj_spec *s, const struct vj_plan *p)
{
	json_object *o = json_object_new_object();
	char *text;

	if (!o)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(top_fields); i++) {
		json_object *v = top_fields[i].put(s, p);
		if (v)
			json_object_object_add(o, top_fields[i].key, v);
	}
	text = vj_json_text(o, 0);
	json_object_put(o);
	return text;
}

const char *vj_spec_flag(size_t i, bool *has_value)
{
	const struct field_def *d = NULL;

	/* The fields with a flag, in table order: top level, then memlock. */
	for (size_t k = 0; k < ARRAY_SIZE(top_fields) && !d; k++)
		if (top_fields[k].flag && i-- == 0)
			d = &top_fields[k];
	for (size_t k = 0; k < ARRAY_SIZE(memlock_fields) && !d; k++)
		if (memlock_fields[k].flag && i-- == 0)
			d = &memlock_fields[k];
	if (!d)
		return NULL;
	if (has_value)
		*has_value = d->kind != FK_BOOL;
	return d->flag;
}

static const struct field_def *find_key(const struct field_def *defs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (defs[i].key && strcmp(defs[i].key, key) == 0)
			return &defs[i];
	return NULL;
}

static int json_apply(const struct field_def *d, struct vj_spec *spec, const char *field,
		      json_object *o, struct vj_error **err)
{
	char idbuf[24];
	const char *s;
	uint64_t v;

	switch (d->kind) {
	case FK_STRING:
		if (json_string(o, field, &s, err) < 0)
			return -1;
		return d->str(spec, field, s, err);
	case FK_PRINCIPAL:
		if (json_principal(o, field, idbuf, &s, err) < 0)
			return -1;
		return d->str(spec, field, s, err);
	case FK_SIZE:
		if (json_size(o, field, &v, err) < 0)
			return -1;
		return d->num(spec, field, v, err);
	case FK_COUNT:
		if (json_uint(o, field, &v, err) < 0)
			return -1;
		return d->num(spec, field, v, err);
	case FK_BOOL:
		if (json_get_bool(o, field, &v, err) < 0)
			return -1;
		return d->num(spec, field, v, err);
	case FK_LIST:
		return d->json(spec, field, o, err);
	}
	return -1;
}

/* "prefix.key" for a nested key. */
static char *key_path(const char *prefix, const char *key)
{
	return prefix ? vj_concat(prefix, ".", key, NULL) : strdup(key);
}

static int json_object_fields(const struct field_def *defs, size_t n, struct vj_spec *spec,
			      const char *prefix, json_object *o, struct vj_error **err)
{
	json_object_object_foreach(o, key, val)
	{
		_cleanup_free_ char *field = key_path(prefix, key);
		const struct field_def *d;

		if (!field)
			return oom(err);
		d = find_key(defs, n, key);
		if (!d)
			return json_unknown_key(field, key, err);
		if (json_apply(d, spec, field, val, err) < 0)
			return -1;
	}
	return 0;
}

static int json_memlock(struct vj_spec *spec, const char *field, json_object *o,
			struct vj_error **err)
{
	if (!json_object_is_type(o, json_type_object))
		return json_type_fail(field, "an object", o, err);
	if (json_object_object_length(o) != 1) {
		json_object_object_foreach(o, key, val)
		{
			(void)val;
			if (!find_key(memlock_fields, ARRAY_SIZE(memlock_fields), key)) {
				_cleanup_free_ char *sub = key_path(field, key);
				return sub ? json_unknown_key(sub, key, err) : oom(err);
			}
		}
		_cleanup_free_ char *text = vj_json_text(o, VJ_JSON_SLASH);
		return vj_err_spec(err, field,
				   "%s: needs exactly one of hard_limit, extra, unlimited",
				   text ? text : "{...}");
	}
	return json_object_fields(memlock_fields, ARRAY_SIZE(memlock_fields), spec, field, o, err);
}

/* Call @each for every element of the array @o, with the field "name[i]". */
static int json_each(struct vj_spec *spec, const char *field, json_object *o,
		     int (*each)(struct vj_spec *, const char *, json_object *, struct vj_error **),
		     struct vj_error **err)
{
	if (!json_object_is_type(o, json_type_array))
		return json_type_fail(field, "an array", o, err);
	for (size_t i = 0; i < json_object_array_length(o); i++) {
		char num[VJ_U64_STR_MAX];
		_cleanup_free_ char *item = vj_concat(field, "[", vj_u64_format(i, num), "]", NULL);
		if (!item)
			return oom(err);
		if (each(spec, item, json_object_array_get_idx(o, i), err) < 0)
			return -1;
	}
	return 0;
}

static int json_group_one(struct vj_spec *spec, const char *field, json_object *o,
			  struct vj_error **err)
{
	char idbuf[24];
	const char *s;

	if (json_principal(o, field, idbuf, &s, err) < 0)
		return -1;
	return add_group(spec, field, s, err);
}

static int json_groups(struct vj_spec *spec, const char *field, json_object *o,
		       struct vj_error **err)
{
	groups_clear(spec);
	spec->groups_set = true;
	return json_each(spec, field, o, json_group_one, err);
}

static int json_iommufd_one(struct vj_spec *spec, const char *field, json_object *o,
			    struct vj_error **err)
{
	_cleanup_free_ char *id_field = key_path(field, "id");
	const char *id = NULL;

	if (!id_field)
		return oom(err);
	if (!json_object_is_type(o, json_type_object))
		return json_type_fail(field, "an object such as {\"id\": \"iommufd0\"}", o, err);
	json_object_object_foreach(o, key, val)
	{
		_cleanup_free_ char *sub = key_path(field, key);
		if (!sub)
			return oom(err);
		if (strcmp(key, "id") != 0)
			return json_unknown_key(sub, key, err);
		if (json_string(val, sub, &id, err) < 0)
			return -1;
	}
	if (!id)
		return vj_err_spec(err, id_field, "required: an iommufd context id");
	return vj_spec_add_iommufd_id(spec, id_field, id, err);
}

static int json_iommufd_list(struct vj_spec *spec, const char *field, json_object *o,
			     struct vj_error **err)
{
	return json_each(spec, field, o, json_iommufd_one, err);
}

static int json_hostdev_one(struct vj_spec *spec, const char *field, json_object *o,
			    struct vj_error **err)
{
	_cleanup_(hostdev_clear) struct vj_hostdev_spec h = { .backend = VJ_BACKEND_IOMMUFD };
	_cleanup_free_ char *pci_field = key_path(field, "pci");
	_cleanup_free_ char *iommufd_field = key_path(field, "iommufd");
	const char *pci = NULL;

	if (!pci_field || !iommufd_field)
		return oom(err);
	if (!json_object_is_type(o, json_type_object))
		return json_type_fail(field, "an object such as {\"pci\": \"0000:06:00.0\"}", o,
				      err);
	json_object_object_foreach(o, key, val)
	{
		_cleanup_free_ char *sub = key_path(field, key);
		const char *s;
		int r;

		if (!sub)
			return oom(err);
		if (strcmp(key, "pci") != 0 && strcmp(key, "backend") != 0 &&
		    strcmp(key, "iommufd") != 0 && strcmp(key, "fd") != 0)
			return json_unknown_key(sub, key, err);
		if (json_string(val, sub, &s, err) < 0)
			return -1;
		if (strcmp(key, "pci") == 0) {
			r = hostdev_set_pci(&h, sub, s, err);
			pci = s;
		} else if (strcmp(key, "backend") == 0) {
			r = hostdev_set_backend(&h, sub, s, err);
		} else if (strcmp(key, "fd") == 0) {
			r = hostdev_set_fd(&h, sub, s, err);
		} else {
			r = hostdev_set_iommufd(&h, sub, s, err);
		}
		if (r < 0)
			return -1;
	}
	if (!pci)
		return vj_err_spec(err, pci_field, "required: a PCI address such as \"0000:06:00.0\"");
	return hostdev_add(spec, &h, pci, pci_field, iommufd_field, err);
}

static int json_hostdevs(struct vj_spec *spec, const char *field, json_object *o,
			 struct vj_error **err)
{
	return json_each(spec, field, o, json_hostdev_one, err);
}

static int json_device_one(struct vj_spec *spec, const char *field, json_object *o,
			   struct vj_error **err)
{
	_cleanup_(device_clear) struct vj_device_spec d = { .access = VJ_ACC_READ | VJ_ACC_WRITE };
	_cleanup_free_ char *path_field = key_path(field, "path");
	const char *s;

	if (!path_field)
		return oom(err);
	if (json_object_is_type(o, json_type_string)) {
		if (json_string(o, field, &s, err) < 0 || device_set_path(&d, field, s, err) < 0)
			return -1;
		return device_add(spec, &d, field, err);
	}
	if (!json_object_is_type(o, json_type_object))
		return json_type_fail(field, "a path or an object such as {\"path\": \"/dev/kvm\"}",
				      o, err);
	json_object_object_foreach(o, key, val)
	{
		_cleanup_free_ char *sub = key_path(field, key);
		int r;

		if (!sub)
			return oom(err);
		if (strcmp(key, "path") != 0 && strcmp(key, "access") != 0)
			return json_unknown_key(sub, key, err);
		if (json_string(val, sub, &s, err) < 0)
			return -1;
		if (strcmp(key, "path") == 0)
			r = device_set_path(&d, sub, s, err);
		else
			r = device_set_access(&d, sub, s, err);
		if (r < 0)
			return -1;
	}
	if (!d.path)
		return vj_err_spec(err, path_field, "required: a device path such as \"/dev/kvm\"");
	return device_add(spec, &d, path_field, err);
}

static int json_devices(struct vj_spec *spec, const char *field, json_object *o,
			struct vj_error **err)
{
	return json_each(spec, field, o, json_device_one, err);
}

/* ------------------------------------------------------------------------- */
/* Flags                                                                     */

static int flag_iommufd(struct vj_spec *spec, const char *field, const char *v,
			struct vj_error **err)
{
	return vj_spec_add_iommufd_id(spec, field, v, err);
}

/* One ",key=value" option of --hostdev. */
static int hostdev_option(struct vj_hostdev_spec *h, const char *field, char *opt,
			  unsigned *seen, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	char *eq = strchr(opt, '=');
	unsigned bit;

	if (eq)
		*eq = '\0';
	bit = !eq ? 0 : strcmp(opt, "backend") == 0 ? 1 : strcmp(opt, "iommufd") == 0 ? 2
			: strcmp(opt, "fd") == 0 ? 4 : 0;
	if (eq)
		*eq = '=';
	if (!bit)
		return vj_err_spec(err, field,
				   "%s is not an option (backend=iommufd|legacy, iommufd=ID or fd=ID)",
				   vj_quote(opt, q));
	if (*seen & bit)
		return vj_err_spec(err, field, "%s: option given twice", vj_quote(opt, q));
	*seen |= bit;
	if (bit == 1)
		return hostdev_set_backend(h, field, eq + 1, err);
	if (bit == 4)
		return hostdev_set_fd(h, field, eq + 1, err);
	return hostdev_set_iommufd(h, field, eq + 1, err);
}

/* "BDF[,backend=iommufd|legacy][,iommufd=ID][,fd=ID]" */
static int flag_hostdev(struct vj_spec *spec, const char *field, const char *v,
			struct vj_error **err)
{
	_cleanup_(hostdev_clear) struct vj_hostdev_spec h = { .backend = VJ_BACKEND_IOMMUFD };
	_cleanup_free_ char *copy = strdup(v);
	char *opts, *opt;
	unsigned seen = 0;

	if (!copy)
		return oom(err);
	opts = strchr(copy, ',');
	if (opts)
		*opts++ = '\0';
	if (hostdev_set_pci(&h, field, copy, err) < 0)
		return -1;
	while (opts) {
		opt = opts;
		opts = strchr(opts, ',');
		if (opts)
			*opts++ = '\0';
		if (hostdev_option(&h, field, opt, &seen, err) < 0)
			return -1;
	}
	return hostdev_add(spec, &h, copy, field, field, err);
}

/* "PATH[:ACCESS]": the access mode follows the last ':'. */
static int flag_device(struct vj_spec *spec, const char *field, const char *v,
		       struct vj_error **err)
{
	_cleanup_(device_clear) struct vj_device_spec d = { .access = VJ_ACC_READ | VJ_ACC_WRITE };
	_cleanup_free_ char *copy = strdup(v);
	char *colon;

	if (!copy)
		return oom(err);
	colon = strrchr(copy, ':');
	if (colon)
		*colon = '\0';
	if (device_set_path(&d, field, copy, err) < 0)
		return -1;
	if (colon && device_set_access(&d, field, colon + 1, err) < 0)
		return -1;
	return device_add(spec, &d, field, err);
}

static int flag_number(const char *field, const char *v, uint64_t *out, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];

	if (vj_parse_u64(v, out) < 0)
		return vj_err_spec(err, field, "%s is not a non-negative decimal number",
				   vj_quote(v, q));
	return 0;
}

static int flag_bool(const char *field, const char *v, uint64_t *out, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];

	if (!v || strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "false") == 0)
		*out = 0;
	else
		return vj_err_spec(err, field, "%s is not true or false", vj_quote(v, q));
	return 0;
}

static int flag_apply(const struct field_def *d, struct vj_spec *spec, const char *field,
		      const char *v, struct vj_error **err)
{
	uint64_t n;

	if (d->kind != FK_BOOL && !v)
		return vj_err_spec(err, field, "needs a value");
	switch (d->kind) {
	case FK_STRING:
	case FK_PRINCIPAL:
	case FK_LIST:
		return d->str(spec, field, v, err);
	case FK_SIZE:
		if (vj_parse_size(v, &n, field, err) < 0)
			return -1;
		return d->num(spec, field, n, err);
	case FK_COUNT:
		if (flag_number(field, v, &n, err) < 0)
			return -1;
		return d->num(spec, field, n, err);
	case FK_BOOL:
		if (flag_bool(field, v, &n, err) < 0)
			return -1;
		return d->num(spec, field, n, err);
	}
	return -1;
}

static const struct field_def *find_flag(const char *flag)
{
	for (size_t i = 0; i < ARRAY_SIZE(top_fields); i++)
		if (top_fields[i].flag && strcmp(top_fields[i].flag, flag) == 0)
			return &top_fields[i];
	for (size_t i = 0; i < ARRAY_SIZE(memlock_fields); i++)
		if (strcmp(memlock_fields[i].flag, flag) == 0)
			return &memlock_fields[i];
	return NULL;
}

static int flag_once(struct vj_spec_priv *box, const struct field_def *d, const char *field,
		     const char *v, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];

	if (!(box->once_given & d->once))
		return 0;
	if (d->once == ONCE_MEMLOCK && strcmp(box->memlock_flag, d->flag) != 0)
		return vj_err_spec(err, field, "cannot be combined with --%s", box->memlock_flag);
	return vj_err_spec(err, field, "given twice (again as %s)", vj_quote(v ? v : "", q));
}

int vj_spec_set_flag(struct vj_spec *spec, const char *flag, const char *value,
		     struct vj_error **err)
{
	struct vj_spec_priv *box;
	_cleanup_free_ char *field = NULL;
	const struct field_def *d;
	char q[VJ_QUOTE_MAX];

	if (!spec || !flag)
		return vj_err_spec(err, "flag", "no spec or no flag name");
	field = vj_strdupf("--%s", flag);
	box = priv_of(spec);
	if (!field || !box)
		return oom(err);
	d = find_flag(flag);
	if (!d)
		return vj_err_spec(err, field, "unknown flag %s", vj_quote(field, q));
	if (flag_once(box, d, field, value, err) < 0)
		return -1;
	if (flag_apply(d, spec, field, value, err) < 0)
		return -1;
	box->once_given |= d->once;
	if (d->once == ONCE_MEMLOCK)
		box->memlock_flag = d->flag;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Parsing                                                                   */

void vj_spec_init(struct vj_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->uid = (uid_t)-1;
	spec->gid = (gid_t)-1;
	spec->pci_host_bridges = 1;
}

struct vj_spec *vj_spec_new(void)
{
	struct vj_spec *spec = malloc(sizeof(*spec));

	if (spec)
		vj_spec_init(spec);
	return spec;
}

void vj_spec_clear(struct vj_spec *spec)
{
	if (!spec)
		return;
	free(spec->name);
	free(spec->user);
	free(spec->group);
	groups_clear(spec);
	free(spec->arch);
	for (size_t i = 0; i < spec->n_iommufd; i++)
		free(spec->iommufd[i].id);
	free(spec->iommufd);
	for (size_t i = 0; i < spec->n_hostdevs; i++) {
		free(spec->hostdevs[i].iommufd);
		free(spec->hostdevs[i].fd);
	}
	free(spec->hostdevs);
	for (size_t i = 0; i < spec->n_devices; i++)
		free(spec->devices[i].path);
	free(spec->devices);
	if (spec->priv) {
		vj_index_clear(&spec->priv->devices.ix);
		vj_index_clear(&spec->priv->hostdevs.ix);
		vj_index_clear(&spec->priv->iommufd.ix);
		free(spec->priv);
	}
	vj_spec_init(spec);
}

void vj_spec_free(struct vj_spec *spec)
{
	vj_spec_clear(spec);
	free(spec);
}

static unsigned line_of(const char *text, size_t offset)
{
	unsigned line = 1;

	for (size_t i = 0; i < offset && text[i]; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

/* @source names the text in syntax errors: a path or "spec". */
static int json_parse_text(const char *text, const char *source, json_object **out,
			   struct vj_error **err)
{
	json_tokener *tok = json_tokener_new();
	size_t len = strlen(text), end;
	enum json_tokener_error e;
	json_object *o;

	if (!tok)
		return oom(err);
	if (len > SPEC_FILE_MAX)
		len = SPEC_FILE_MAX; /* the file reader refuses more; keep int-sized */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	/* Including the NUL lets json-c finish a number and see trailing text. */
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o) {
		if (e == json_tokener_success || e == json_tokener_continue)
			return vj_err_spec(err, source, "line %u: not valid JSON: unexpected end",
					   line_of(text, end));
		return vj_err_spec(err, source, "line %u: not valid JSON: %s", line_of(text, end),
				   json_tokener_error_desc(e));
	}
	*out = o;
	return 0;
}

int vj_json_parse_text(const char *text, const char *source, struct json_object **out,
		       struct vj_error **err)
{
	return json_parse_text(text, source, out, err);
}

int vj_spec_read_fields(json_object *root, const char *source, struct vj_spec *spec,
			struct vj_error **err)
{
	if (!json_object_is_type(root, json_type_object))
		return json_type_fail(source, "a JSON object at the top level", root, err);
	return json_object_fields(top_fields, ARRAY_SIZE(top_fields), spec, NULL, root, err);
}
