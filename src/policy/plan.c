/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan: everything `run` will do, resolved against a host snapshot read
 * under the roots in vj_plan_opts.  Building it changes nothing on the host.
 */
#include "plan.h"
#include "plan_json.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cgroup.h"
#include "error.h"
#include "hashset.h"
#include "memlock.h"
#include "name.h"
#include "pci.h"
#include "privs.h"
#include "size.h"
#include "sysfs.h"
#include "util.h"
#include "vfio.h"

#define VJ_CGROUP_PREFIX "vfiojail-"

/* Unix98 pty slaves: majors UNIX98_PTY_SLAVE_MAJOR (136) .. +UNIX98_PTY_MAJOR_COUNT (8),
 * fixed by the kernel ABI (include/uapi/linux/major.h, drivers/tty/Kconfig). */
#define PTS_MAJOR_FIRST 136u
#define PTS_MAJOR_COUNT 8u

struct default_node {
	const char *path;
	bool pseudo;   /* keeps the host's (wider) mode */
	bool optional; /* only when the host has it    */
	const char *reason;
};

static const struct default_node default_nodes[] = {
	{ "/dev/null", true, false, "default pseudo-device" },
	{ "/dev/zero", true, false, "default pseudo-device" },
	{ "/dev/full", true, false, "default pseudo-device" },
	{ "/dev/random", true, false, "default pseudo-device" },
	{ "/dev/urandom", true, false, "default pseudo-device" },
	{ "/dev/ptmx", true, false, "pseudo-terminal multiplexer for the kept /dev/pts" },
	{ "/dev/kvm", false, true, "KVM, present on this host" },
	{ "/dev/userfaultfd", false, true, "userfaultfd (post-copy migration), present on this host" },
};

const char *vj_host_arch(void)
{
	static struct utsname u;

	if (!u.machine[0] && uname(&u) < 0)
		return "unknown";
	return u.machine;
}

/*
 * vj_plan_build() allocates the plan inside this box (vj_plan_free frees either),
 * with what only the build needs beside it: the indexes that keep node and rule
 * de-duplication linear, and the open directories of the host's /dev.
 */
/* What only the build needs: lookups that keep a big plan linear. */
struct vj_plan_priv {
	struct vj_index node_ix; /* node path -> nodes[] */
	struct vj_index rule_ix; /* (type, major, minor) -> rules[] */
	struct vj_dev_lookup devs;
};

static struct vj_plan_priv *box_of(struct vj_plan *p)
{
	return p->priv; /* set while vj_plan_build makes the plan */
}

/* Free and copy walk the plan's field table (plan_json.c), as JSON does. */
void vj_node_clear(struct vj_node *n)
{
	vj_node_walk_free(n);
}

void vj_plan_free(struct vj_plan *p)
{
	if (!p)
		return;
	vj_plan_walk_free(p);
	free(p);
}

int vj_node_copy(struct vj_node *dst, const struct vj_node *src)
{
	return vj_node_walk_copy(dst, src);
}

/* A copy of @p for a change to apply: everything but the warnings and the
 * memlock terms (which only `plan` prints).  NULL without memory. */
struct vj_plan *vj_plan_dup(const struct vj_plan *p)
{
	return vj_plan_walk_copy(p);
}

static int oom(struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "plan", NULL, NULL, "out of memory");
}

static int plan_warn(struct vj_plan *p, struct vj_error **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int plan_warn(struct vj_plan *p, struct vj_error **err, const char *fmt, ...)
{
	va_list ap;
	char *msg, **slot;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return oom(err);
	slot = VJ_PUSH(p->warnings, p->n_warnings);
	if (!slot) {
		free(msg);
		return oom(err);
	}
	*slot = msg;
	return 0;
}

/* Append "; more" to *reason. */
static int reason_append(char **reason, const char *more)
{
	char *joined;

	if (strstr(*reason, more))
		return 0;
	joined = vj_strdupf("%s; %s", *reason, more);
	if (!joined)
		return -ENOMEM;
	free(*reason);
	*reason = joined;
	return 0;
}

struct node_req {
	const char *path;      /* inside the jail */
	const char *host_path; /* read for it; NULL: derived from sysfs, looked up here */
	const struct vj_roots *roots;
	char type;
	uint32_t major, minor;
	unsigned access;
	mode_t mode;
	const char *reason;
};

struct node_key {
	const struct vj_plan *p;
	const char *path;
};

static bool node_key_equal(const void *ctx, size_t pos)
{
	const struct node_key *k = ctx;

	return strcmp(k->p->nodes[pos].path, k->path) == 0;
}

/* Whether the host's node at @path is the device planned for it. */
static bool host_has_node(struct vj_plan *p, const struct node_req *rq)
{
	struct vj_devnode_stat st;

	return vj_dev_lookup_stat(&box_of(p)->devs, rq->path, &st) == 0 && st.type == rq->type &&
	       st.major == rq->major && st.minor == rq->minor;
}

/* Add a node, or merge into the node already planned at that path. */
static int plan_add_node(struct vj_plan *p, const struct node_req *rq, struct vj_error **err)
{
	struct node_key key = { p, rq->path };
	uint64_t hash = vj_hash_str(rq->path);
	size_t i = vj_index_find(&box_of(p)->node_ix, hash, node_key_equal, &key);
	struct vj_node *n;

	if (i != SIZE_MAX) {
		n = &p->nodes[i];
		if (n->type != rq->type || n->major != rq->major || n->minor != rq->minor)
			return vj_err(err, VJ_EXIT_SETUP, 0, "plan", rq->path, NULL,
				      "planned twice with different devices: %c %u:%u (%s) and %c %u:%u (%s)",
				      n->type, n->major, n->minor, n->reason, rq->type, rq->major,
				      rq->minor, rq->reason);
		n->access |= rq->access;
		if (reason_append(&n->reason, rq->reason) < 0)
			return oom(err);
		return 0;
	}
	n = VJ_PUSH(p->nodes, p->n_nodes);
	if (!n)
		return oom(err);
	if (vj_index_add(&box_of(p)->node_ix, hash, p->n_nodes - 1) < 0) {
		p->n_nodes--;
		return oom(err);
	}
	n->type = rq->type;
	n->major = rq->major;
	n->minor = rq->minor;
	n->access = rq->access;
	n->uid = p->uid;
	n->gid = p->gid;
	n->mode = rq->mode;
	n->path = strdup(rq->path);
	n->reason = strdup(rq->reason);
	if (!n->path || !n->reason)
		return oom(err);
	/* A node known from sysfs has a host node only when the host has that very
	 * node (a container without udev may not).  Its ACL is copied when it has
	 * one: the launch child reads and checks it again then; a node without one
	 * costs the child nothing. */
	if (!rq->host_path && !host_has_node(p, rq))
		return 0;
	n->host_path = rq->host_path ? strdup(rq->host_path)
				     : vj_path_join(vj_root_dev(rq->roots), rq->path + strlen("/dev"));
	if (!n->host_path)
		return oom(err);
	n->copy_acl = vj_dev_lookup_has_acl(&box_of(p)->devs, rq->path);
	return 0;
}

struct rule_key {
	const struct vj_plan *p;
	char type;
	uint32_t major, minor;
};

static bool rule_key_equal(const void *ctx, size_t pos)
{
	const struct rule_key *k = ctx;
	const struct vj_rule *r = &k->p->rules[pos];

	const struct vj_rule key = { .type = k->type, .major = k->major, .minor = k->minor };

	return vj_rule_same_device(r, &key);
}

static int plan_add_rule(struct vj_plan *p, char type, uint32_t major, uint32_t minor,
			 unsigned access, const char *reason, struct vj_error **err)
{
	struct rule_key key = { p, type, major, minor };
	uint64_t hash = vj_hash_u64(((uint64_t)major << 32 | minor) ^ vj_hash_u64((unsigned char)type));
	size_t i = vj_index_find(&box_of(p)->rule_ix, hash, rule_key_equal, &key);
	struct vj_rule *r;

	if (i != SIZE_MAX) {
		r = &p->rules[i];
		r->access |= access;
		if (reason_append(&r->reason, reason) < 0)
			return oom(err);
		return 0;
	}
	r = VJ_PUSH(p->rules, p->n_rules);
	if (!r)
		return oom(err);
	if (vj_index_add(&box_of(p)->rule_ix, hash, p->n_rules - 1) < 0) {
		p->n_rules--;
		return oom(err);
	}
	r->type = type;
	r->major = major;
	r->minor = minor;
	r->access = access;
	r->reason = strdup(reason);
	return r->reason ? 0 : oom(err);
}

/* A node that exists under the dev root, as the host has it. */
static int plan_host_node(struct vj_plan *p, const struct vj_plan_opts *o, const char *path,
			  unsigned access, bool keep_mode, const char *reason, bool optional,
			  const char *field, struct vj_error **err)
{
	_cleanup_free_ char *host_path = vj_path_join(vj_root_dev(&o->roots), path + strlen("/dev"));
	struct vj_devnode_stat st;
	struct node_req rq;
	int r;

	if (!host_path)
		return oom(err);
	r = vj_dev_lookup_stat(&box_of(p)->devs, path, &st);
	if (r == -ENOENT && optional)
		return 0;
	if (r == -ENODEV)
		return vj_err(err, VJ_EXIT_SETUP, 0, "discover", field ? field : path,
			      "name the device node itself, not a symlink or directory",
			      "%s (%s) is not a device node", path, host_path);
	if (r < 0)
		return vj_err(err, VJ_EXIT_SETUP, -r, "discover", field ? field : path,
			      r == -ENOENT ? "check the path, or load the driver that provides it" : NULL,
			      "cannot use %s (%s)", path, host_path);
	rq = (struct node_req){
		.path = path,
		.host_path = host_path,
		.type = st.type,
		.major = st.major,
		.minor = st.minor,
		.access = access,
		.mode = keep_mode && (st.mode & 0666) > 0600 ? (st.mode & 0666) : 0600,
		.reason = reason,
	};
	return plan_add_node(p, &rq, err);
}

/*
 * Containers (Docker, Podman, LXC, Kubernetes) make /dev/ptmx a symlink to pts/ptmx,
 * the multiplexer of their own devpts instance.  The jail then does the same: no
 * node, the link into its kept /dev/pts (made by mountns), and a rule for the
 * multiplexer's number, which every devpts instance shares (5:2).  1 when the
 * host's /dev/ptmx is such a link, 0 when it is not, -1 on error.
 */
static int plan_ptmx_link(struct vj_plan *p, const struct vj_plan_opts *o, struct vj_error **err)
{
	_cleanup_free_ char *host_path = vj_path_join(vj_root_dev(&o->roots), "/ptmx");
	char target[64];
	ssize_t n;

	if (!host_path)
		return oom(err);
	n = readlink(host_path, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	if (strcmp(target, "pts/ptmx") != 0 && strcmp(target, "/dev/pts/ptmx") != 0)
		return 0;
	return plan_add_rule(p, 'c', 5, 2, VJ_ACC_READ | VJ_ACC_WRITE,
			     "pseudo-terminal multiplexer: /dev/ptmx -> pts/ptmx, as on the host", err) < 0
		       ? -1
		       : 1;
}

static int plan_defaults(struct vj_plan *p, const struct vj_plan_opts *o, struct vj_error **err)
{
	uint32_t i;
	int r;

	for (i = 0; i < ARRAY_SIZE(default_nodes); i++) {
		const struct default_node *d = &default_nodes[i];
		if (strcmp(d->path, "/dev/ptmx") == 0 && (r = plan_ptmx_link(p, o, err)) != 0) {
			if (r < 0)
				return r;
			continue;
		}
		r = plan_host_node(p, o, d->path, VJ_ACC_READ | VJ_ACC_WRITE, d->pseudo, d->reason,
				   d->optional, NULL, err);
		if (r < 0)
			return r;
	}
	for (i = 0; i < PTS_MAJOR_COUNT; i++) {
		r = plan_add_rule(p, 'c', PTS_MAJOR_FIRST + i, VJ_RULE_ANY, VJ_ACC_READ | VJ_ACC_WRITE,
				  "pseudo-terminal slaves in the kept /dev/pts", err);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct vj_iommufd_plan *plan_find_ctx(struct vj_plan *p, const char *id)
{
	size_t i;

	for (i = 0; i < p->n_iommufd; i++)
		if (strcmp(p->iommufd[i].id, id) == 0)
			return &p->iommufd[i];
	return NULL;
}

static int plan_iommufd(struct vj_plan *p, const struct vj_spec *s, const struct vj_plan_opts *o,
			struct vj_error **err)
{
	uint32_t major, minor;
	struct node_req rq;
	size_t i;
	int r;

	if (s->n_iommufd == 0)
		return 0;
	r = vj_sysfs_misc_devnum(&o->roots, "iommu", &major, &minor);
	if (r < 0)
		return vj_err(err, VJ_EXIT_SETUP, -r, "discover", "/dev/iommu",
			      "use a kernel built with CONFIG_IOMMUFD, or backend \"legacy\" for every hostdev and no \"iommufd\" contexts",
			      "this kernel has no /dev/iommu (%s/class/misc/iommu/dev)",
			      vj_root_sysfs(&o->roots));
	for (i = 0; i < s->n_iommufd; i++) {
		struct vj_iommufd_plan *c = VJ_PUSH(p->iommufd, p->n_iommufd);
		if (!c)
			return oom(err);
		c->id = strdup(s->iommufd[i].id);
		c->path = strdup("/dev/iommu");
		if (!c->id || !c->path)
			return oom(err);
		c->major = major;
		c->minor = minor;
		c->accounting = VJ_ACCOUNTING_PER_PROCESS;
	}
	rq = (struct node_req){
		.path = "/dev/iommu",
		.roots = &o->roots,
		.type = 'c',
		.major = major,
		.minor = minor,
		.access = VJ_ACC_READ | VJ_ACC_WRITE,
		.mode = 0600,
		.reason = "iommufd (the VMM is handed opened contexts)",
	};
	return plan_add_node(p, &rq, err);
}

/* Devices of one IOMMU group must share a backend and an iommufd context: the kernel
 * blocks legacy group use once a device is opened through its cdev, and iommufd
 * attaches a group's devices to one domain. */
static int plan_check_group_peers(const struct vj_plan *p, const struct vj_hostdev_plan *h,
				  struct vj_error **err)
{
	size_t i;

	for (i = 0; i < p->n_hostdevs; i++) {
		const struct vj_hostdev_plan *o = &p->hostdevs[i];
		if (o == h || o->iommu_group != h->iommu_group)
			continue;
		if (o->backend != h->backend)
			return vj_err(err, VJ_EXIT_USAGE, 0, "plan", h->pci,
				      "give every hostdev of one IOMMU group the same backend",
				      "%s and %s are in IOMMU group %d but use different backends",
				      o->pci, h->pci, h->iommu_group);
		if (h->iommufd && o->iommufd && strcmp(h->iommufd, o->iommufd) != 0)
			return vj_err(err, VJ_EXIT_USAGE, 0, "plan", h->pci,
				      "put every hostdev of one IOMMU group in the same iommufd context",
				      "%s and %s are in IOMMU group %d but in iommufd contexts %s and %s",
				      o->pci, h->pci, h->iommu_group, o->iommufd, h->iommufd);
	}
	return 0;
}

static int plan_hostdev_node(struct vj_plan *p, const struct vj_plan_opts *o,
			     struct vj_hostdev_plan *h, struct vj_error **err)
{
	_cleanup_free_ char *name = NULL, *reason = NULL;
	uint32_t major, minor;
	struct node_req rq;
	int r;

	if (h->backend == VJ_BACKEND_IOMMUFD) {
		r = vj_vfio_cdev(&o->roots, h->pci, &name, &major, &minor, err);
		if (r < 0)
			return r;
		h->node = vj_strdupf("/dev/vfio/devices/%s", name);
		reason = vj_strdupf("hostdev %s (iommufd backend, context %s)", h->pci, h->iommufd);
	} else {
		r = vj_vfio_group_devnum(&o->roots, h->iommu_group, &major, &minor, err);
		if (r < 0)
			return r;
		h->node = vj_strdupf("/dev/vfio/%d", h->iommu_group);
		reason = vj_strdupf("hostdev %s (legacy backend, IOMMU group %d)", h->pci,
				    h->iommu_group);
	}
	if (!h->node || !reason)
		return oom(err);
	h->major = major;
	h->minor = minor;
	/* Handed as an fd: vfiojail opens the cdev (checked against this device
	 * number) and the VMM gets the fd; the jail has no node for it, so the
	 * filter has no rule for it. */
	if (h->fd)
		return 0;
	rq = (struct node_req){
		.path = h->node,
		.roots = &o->roots,
		.type = 'c',
		.major = major,
		.minor = minor,
		.access = VJ_ACC_READ | VJ_ACC_WRITE,
		.mode = 0600,
		.reason = reason,
	};
	r = plan_add_node(p, &rq, err);
	if (r < 0 || h->backend != VJ_BACKEND_LEGACY)
		return r;

	r = vj_sysfs_misc_devnum(&o->roots, "vfio", &major, &minor);
	if (r < 0)
		return vj_err(err, VJ_EXIT_SETUP, -r, "discover", "/dev/vfio/vfio",
			      "load the vfio module, or use backend \"iommufd\"",
			      "this kernel has no VFIO container device (%s/class/misc/vfio/dev)",
			      vj_root_sysfs(&o->roots));
	rq = (struct node_req){
		.path = "/dev/vfio/vfio",
		.roots = &o->roots,
		.type = 'c',
		.major = major,
		.minor = minor,
		.access = VJ_ACC_READ | VJ_ACC_WRITE,
		.mode = 0600,
		.reason = "legacy VFIO container",
	};
	return plan_add_node(p, &rq, err);
}

static int plan_hostdev(struct vj_plan *p, const struct vj_hostdev_spec *hs,
			const struct vj_plan_opts *o, struct vj_error **err)
{
	struct vj_pci_device dev = { 0 };
	struct vj_hostdev_plan *h;
	int r = -1;

	if (vj_pci_device_read(&o->roots, hs->pci, &dev, err) < 0)
		return -1;
	if (!dev.driver || !vj_vfio_driver_is_vfio(dev.driver)) {
		_cleanup_free_ char *hint =
			vj_strdupf("bind it to vfio-pci first, e.g. driverctl set-override %s vfio-pci",
				   hs->pci);
		if (dev.driver)
			vj_err(err, VJ_EXIT_SETUP, 0, "discover", hs->pci, hint,
			       "bound to driver %s, not to vfio-pci or a vfio variant driver",
			       dev.driver);
		else
			vj_err(err, VJ_EXIT_SETUP, 0, "discover", hs->pci, hint,
			       "not bound to any driver (vfio-pci is needed)");
		goto out;
	}
	if (dev.iommu_group < 0) {
		vj_err(err, VJ_EXIT_SETUP, 0, "discover", hs->pci,
		       "enable the IOMMU (intel_iommu=on or amd_iommu=on, and VT-d/AMD-Vi in firmware)",
		       "has no IOMMU group");
		goto out;
	}
	if (vj_vfio_group_check_viable(&o->roots, dev.iommu_group, hs->pci, err) < 0)
		goto out;

	h = VJ_PUSH(p->hostdevs, p->n_hostdevs);
	if (!h) {
		oom(err);
		goto out;
	}
	memcpy(h->pci, hs->pci, sizeof(h->pci));
	h->backend = hs->backend;
	h->driver = TAKE_PTR(dev.driver);
	h->iommu_group = dev.iommu_group;
	h->bars = TAKE_PTR(dev.bars);
	h->n_bars = dev.n_bars;
	dev.n_bars = 0;
	if (hs->iommufd) {
		struct vj_iommufd_plan *c = plan_find_ctx(p, hs->iommufd);
		h->iommufd = strdup(hs->iommufd);
		if (!h->iommufd) {
			oom(err);
			goto out;
		}
		if (c)
			c->n_devices++;
	}
	if (hs->fd && !(h->fd = strdup(hs->fd))) {
		oom(err);
		goto out;
	}
	if (plan_check_group_peers(p, h, err) < 0)
		goto out;
	r = plan_hostdev_node(p, o, h, err);
out:
	vj_pci_device_clear(&dev);
	return r;
}

static int plan_devices(struct vj_plan *p, const struct vj_spec *s, const struct vj_plan_opts *o,
			struct vj_error **err)
{
	size_t i;

	for (i = 0; i < s->n_devices; i++) {
		char field[32];
		snprintf(field, sizeof(field), "devices[%zu]", i);
		if (plan_host_node(p, o, s->devices[i].path, s->devices[i].access, false,
				   "listed in the spec's devices", false, field, err) < 0)
			return -1;
	}
	return 0;
}

static int plan_rules_from_nodes(struct vj_plan *p, struct vj_error **err)
{
	size_t i;

	for (i = 0; i < p->n_nodes; i++) {
		const struct vj_node *n = &p->nodes[i];
		if (plan_add_rule(p, n->type, n->major, n->minor, n->access, n->path, err) < 0)
			return -1;
	}
	return 0;
}

/* One label per DMA address space: each iommufd context with devices, plus the
 * legacy container when any hostdev uses it. */
static int plan_memlock(struct vj_plan *p, const struct vj_spec *s, struct vj_error **err)
{
	struct vj_memlock_input in = {
		.arch = p->arch,
		.memory = s->memory,
		.spec = s->memlock,
		.n_vfio = (unsigned)s->n_hostdevs,
		.viommu = s->viommu,
		.nvme = s->nvme,
		.vdpa = s->vdpa,
		.pci_host_bridges = s->pci_host_bridges,
		.migration = s->migration,
		.page_size = (uint64_t)sysconf(_SC_PAGESIZE),
	};
	char **labels = calloc(p->n_iommufd + 1, sizeof(*labels));
	size_t n = 0, i, j;
	int r = -1;

	if (!labels)
		return oom(err);
	for (i = 0; i <= p->n_iommufd; i++) {
		bool legacy = i == p->n_iommufd;
		const char *id = legacy ? NULL : p->iommufd[i].id;
		char *label = NULL;

		for (j = 0; j < p->n_hostdevs; j++) {
			const struct vj_hostdev_plan *h = &p->hostdevs[j];
			char *next;
			if (legacy ? h->backend != VJ_BACKEND_LEGACY
				   : (!h->iommufd || strcmp(h->iommufd, id) != 0))
				continue;
			if (legacy)
				in.legacy = true;
			if (!label)
				next = legacy ? vj_strdupf("legacy VFIO container (%s", h->pci)
					      : vj_strdupf("iommufd context %s (%s", id, h->pci);
			else
				next = vj_strdupf("%s, %s", label, h->pci);
			free(label);
			label = next;
			if (!label)
				goto out;
		}
		if (label) {
			labels[n] = vj_strdupf("%s)", label);
			free(label);
			if (!labels[n++])
				goto out;
		}
	}
	in.spaces = (const char *const *)labels;
	in.n_spaces = n;
	r = vj_memlock_compute(&in, &p->memlock, err);
out:
	if (r < 0 && !(err && *err))
		oom(err);
	for (i = 0; i < n; i++)
		free(labels[i]);
	free(labels);
	return r;
}

/* "machine.slice/x" or "/machine.slice/x": relative to the cgroup2 root, no ".." */
static int cgroup_parent_check(const char *parent, struct vj_error **err)
{
	const char *c = parent;

	if (strlen(parent) > 1024)
		return vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--cgroup-parent", NULL,
			      "longer than 1024 bytes");
	while (*c) {
		size_t len;
		while (*c == '/')
			c++;
		len = strcspn(c, "/");
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--cgroup-parent", NULL,
				      "\"%s\" has a \".\" or \"..\" component", parent);
		for (size_t k = 0; k < len; k++)
			if ((unsigned char)c[k] < 0x20 || c[k] == 0x7f)
				return vj_err(err, VJ_EXIT_USAGE, 0, "spec", "--cgroup-parent", NULL,
					      "has a control character");
		c += len;
	}
	return 0;
}

static int plan_cgroup(struct vj_plan *p, const struct vj_plan_opts *o, struct vj_error **err)
{
	_cleanup_free_ char *root = NULL, *parent = NULL;
	struct vj_error *e = NULL;

	if (o->cgroup_parent && cgroup_parent_check(o->cgroup_parent, err) < 0)
		return -1;
	if (vj_cgroup2_root(vj_root_proc(&o->roots), &root, &e) < 0) {
		int r = plan_warn(p, err, "no cgroup2 mount found (%s): run cannot install the device filter and will refuse to start",
				  e && e->message ? e->message : "unknown");
		vj_error_free(e);
		return r;
	}
	if (o->cgroup_parent) {
		parent = vj_path_join(root, o->cgroup_parent);
		if (!parent)
			return oom(err);
	} else if (vj_cgroup_self_dir(vj_root_proc(&o->roots), &parent, err) < 0) {
		return -1;
	}
	if (vj_cgroup_check_ancestors(parent, root, err) < 0)
		return -1;
	p->cgroup = vj_path_join(parent, VJ_CGROUP_PREFIX);
	if (!p->cgroup)
		return oom(err);
	{
		/* vfiojail-ESC: the name's escape (name.h), a file name of its own. */
		_cleanup_free_ char *esc = vj_name_escape(p->name);
		char *full = esc ? vj_strdupf("%s%s", p->cgroup, esc) : NULL;
		if (!full)
			return oom(err);
		free(p->cgroup);
		p->cgroup = full;
	}
	return 0;
}

static bool plan_has_hostdev(const struct vj_plan *p, const char *pci)
{
	for (size_t i = 0; i < p->n_hostdevs; i++)
		if (strcmp(p->hostdevs[i].pci, pci) == 0)
			return true;
	return false;
}

/* The kernel gives a group's DMA to one owner (iommu_device_claim_dma_owner): a
 * vfio-bound device that shares a group with this VM's but is not assigned to it
 * cannot go to another VM while this one runs. */
static int plan_warn_group_peers(struct vj_plan *p, const struct vj_plan_opts *o,
				 struct vj_error **err)
{
	for (size_t i = 0; i < p->n_hostdevs; i++) {
		int group = p->hostdevs[i].iommu_group;
		char **members = NULL;
		size_t n = 0, j, k;
		int r = 0;

		for (k = 0; k < i; k++)
			if (p->hostdevs[k].iommu_group == group)
				break;
		if (k < i || vj_vfio_group_members(&o->roots, group, &members, &n, NULL) < 0)
			continue;
		for (j = 0; j < n && r == 0; j++) {
			struct vj_pci_device d = { 0 };
			if (plan_has_hostdev(p, members[j]) ||
			    vj_pci_device_read(&o->roots, members[j], &d, NULL) < 0)
				continue;
			if (d.driver && vj_vfio_driver_is_vfio(d.driver))
				r = plan_warn(p, err, "IOMMU group %d also holds %s (bound to %s), not assigned to this VM: a group has one DMA owner, so %s cannot be given to another VM while this one runs",
					      group, members[j], d.driver, members[j]);
			vj_pci_device_clear(&d);
		}
		for (j = 0; j < n; j++)
			free(members[j]);
		free(members);
		if (r < 0)
			return r;
	}
	return 0;
}

static int plan_warnings(struct vj_plan *p, const struct vj_spec *s, struct vj_error **err)
{
	struct rlimit rl;
	size_t i;

	for (i = 0; i < p->n_iommufd; i++)
		if (p->iommufd[i].n_devices == 0 &&
		    plan_warn(p, err, "iommufd context %s has no hostdev: it is opened and handed over, but no RAM budget is planned for it",
			      p->iommufd[i].id) < 0)
			return -1;
	/* With CAP_SYS_RESOURCE run raises the hard limit itself: nothing to warn about. */
	if (!p->memlock.unchanged && !vj_privs_have_cap(CAP_SYS_RESOURCE) &&
	    getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    (p->memlock.unlimited || p->memlock.bytes > (uint64_t)rl.rlim_max)) {
		char want[32], have[32];
		if (p->memlock.unlimited)
			snprintf(want, sizeof(want), "unlimited");
		else
			vj_size_format(p->memlock.bytes, want);
		vj_size_format((uint64_t)rl.rlim_max, have);
		if (plan_warn(p, err, "RLIMIT_MEMLOCK %s is above this process's hard limit %s: run needs CAP_SYS_RESOURCE to raise it",
			      want, have) < 0)
			return -1;
	}
	for (i = 0; i < p->n_hostdevs; i++)
		if (p->hostdevs[i].backend == VJ_BACKEND_LEGACY && s->migration &&
		    plan_warn(p, err, "hostdev %s: migration with the legacy backend relies on VFIO type1 dirty tracking; iommufd is preferred",
			      p->hostdevs[i].pci) < 0)
			return -1;
	return 0;
}

/* Release what only the build needed; the plan itself stays. */
static void plan_build_done(struct vj_plan *p)
{
	vj_index_clear(&p->priv->node_ix);
	vj_index_clear(&p->priv->rule_ix);
	vj_dev_lookup_done(&p->priv->devs);
	p->priv = NULL;
}

/* The VMM's supplementary groups: the spec's "groups" exactly, or the user's
 * groups in the group database (once here, in the parent: the launch child
 * then makes no database lookup). */
static int plan_groups(struct vj_plan *p, const struct vj_spec *s, struct vj_error **err)
{
	if (!s->groups_set) {
		const char *name = s->user && strspn(s->user, "0123456789") != strlen(s->user)
					   ? s->user
					   : NULL;
		if (vj_privs_user_groups(p->uid, p->gid, name, &p->groups, &p->n_groups, err) < 0)
			return -1;
		p->groups_known = true;
		return 0;
	}
	p->groups = calloc(s->n_groups ? s->n_groups : 1, sizeof(*p->groups));
	if (!p->groups)
		return oom(err);
	if (s->n_groups)
		memcpy(p->groups, s->group_ids, s->n_groups * sizeof(*p->groups));
	p->n_groups = vj_gids_normalize(p->groups, s->n_groups);
	p->groups_known = true;
	return 0;
}

int vj_plan_build(const struct vj_spec *s, const struct vj_plan_opts *opts, struct vj_plan **out,
		  struct vj_error **err)
{
	static const struct vj_plan_opts no_opts;
	struct vj_plan_priv box = { 0 };
	struct vj_plan *p;
	size_t i;

	*out = NULL;
	if (!opts)
		opts = &no_opts;
	p = calloc(1, sizeof(*p));
	if (!p)
		return oom(err);
	vj_dev_lookup_init(&box.devs, &opts->roots);
	p->priv = &box;
	p->name = strdup(s->name);
	p->arch = strdup(s->arch ? s->arch : vj_host_arch());
	p->uid = s->uid;
	p->gid = s->gid;
	if (!p->name || !p->arch) {
		oom(err);
		goto fail;
	}
	if (plan_groups(p, s, err) < 0 || plan_defaults(p, opts, err) < 0 || plan_iommufd(p, s, opts, err) < 0)
		goto fail;
	for (i = 0; i < s->n_hostdevs; i++)
		if (plan_hostdev(p, &s->hostdevs[i], opts, err) < 0)
			goto fail;
	if (plan_devices(p, s, opts, err) < 0 || plan_rules_from_nodes(p, err) < 0 ||
	    plan_memlock(p, s, err) < 0 || plan_cgroup(p, opts, err) < 0 ||
	    plan_warnings(p, s, err) < 0 || plan_warn_group_peers(p, opts, err) < 0)
		goto fail;
	plan_build_done(p);
	*out = p;
	return 0;
fail:
	plan_build_done(p);
	vj_plan_free(p);
	return -1;
}

/* ------------------------------------------------------------------------- */
/* Output                                                                     */

int vj_json_print_put(json_object *o, FILE *f)
{
	_cleanup_free_ char *text = vj_json_text(o, VJ_JSON_PRETTY);
	int r = text ? fprintf(f, "%s\n", text) : -1;

	json_object_put(o);
	return !text ? -ENOMEM : r < 0 ? -EIO : 0;
}

int vj_plan_print_json(const struct vj_plan *p, FILE *f)
{
	struct vj_jbuf b = { 0 };
	json_object *o;

	vj_plan_json_write(&b, p, 0);
	o = b.oom ? NULL : json_tokener_parse(b.p);
	free(b.p);
	if (!o)
		return -ENOMEM;
	return vj_json_print_put(o, f);
}

int vj_plan_print_table(const struct vj_plan *p, FILE *f)
{
	char acc[4], sz[32], maj[12], min[12], shown[VJ_NAME_SHOWN_MAX];
	size_t i;

	fprintf(f, "VM %s: uid %u, gid %u, groups ", vj_name_shown(p->name, shown),
		(unsigned)p->uid, (unsigned)p->gid);
	for (i = 0; i < p->n_groups; i++)
		fprintf(f, "%s%u", i ? "," : "", (unsigned)p->groups[i]);
	fprintf(f, "%s, arch %s\n", p->n_groups ? "" : "(none)", p->arch);
	fprintf(f, "cgroup: %s\n\n", p->cgroup ? p->cgroup : "(none: no cgroup2 mount)");

	fprintf(f, "%-28s %-4s %-11s %-6s %-13s %-4s %s\n", "NODE", "TYPE", "MAJ:MIN", "ACCESS",
		"OWNER", "MODE", "REASON");
	for (i = 0; i < p->n_nodes; i++) {
		const struct vj_node *n = &p->nodes[i];
		char devnum[24], owner[24];
		vj_access_format(n->access, acc);
		snprintf(devnum, sizeof(devnum), "%u:%u", n->major, n->minor);
		snprintf(owner, sizeof(owner), "%u:%u", (unsigned)n->uid, (unsigned)n->gid);
		fprintf(f, "%-28s %-4c %-11s %-6s %-13s %04o %s\n", n->path, n->type, devnum, acc,
			owner, (unsigned)n->mode, n->reason);
	}

	fprintf(f, "\nDEVICE FILTER (BPF, cgroup2): %zu allow rules, everything else denied\n",
		p->n_rules);
	for (i = 0; i < p->n_rules; i++) {
		const struct vj_rule *r = &p->rules[i];
		vj_access_format(r->access, acc);
		char devnum[24];
		vj_devnum_format(r->major, maj);
		vj_devnum_format(r->minor, min);
		snprintf(devnum, sizeof(devnum), "%s:%s", maj, min);
		fprintf(f, "  allow %c %-11s %-3s  %s\n", r->type, devnum, acc, r->reason);
	}

	if (p->n_hostdevs)
		fprintf(f, "\nHOSTDEVS\n");
	for (i = 0; i < p->n_hostdevs; i++) {
		const struct vj_hostdev_plan *h = &p->hostdevs[i];
		fprintf(f, "  %s  driver %s, IOMMU group %d, %s backend%s%s, ", h->pci,
			h->driver, h->iommu_group,
			h->backend == VJ_BACKEND_LEGACY ? "legacy" : "iommufd",
			h->iommufd ? ", context " : "", h->iommufd ? h->iommufd : "");
		if (h->fd)
			fprintf(f, "fd %s (%s %u:%u opened by vfiojail, no node in the jail)", h->fd,
				h->node, h->major, h->minor);
		else
			fprintf(f, "node %s", h->node);
		for (size_t j = 0; j < h->n_bars; j++) {
			vj_size_format(h->bars[j].size, sz);
			fprintf(f, "%s BAR%u %s", j ? "," : ";", h->bars[j].index, sz);
		}
		fputc('\n', f);
	}

	if (p->n_iommufd)
		fprintf(f, "\nIOMMUFD CONTEXTS (opened by vfiojail, handed to the VMM)\n");
	for (i = 0; i < p->n_iommufd; i++) {
		const struct vj_iommufd_plan *c = &p->iommufd[i];
		fprintf(f, "  %-12s %s (%u:%u)  accounting %s, %zu hostdev(s)\n", c->id, c->path,
			c->major, c->minor, c->accounting == VJ_ACCOUNTING_PER_PROCESS ? "per-process" : "per-user", c->n_devices);
	}

	fprintf(f, "\nRLIMIT_MEMLOCK: ");
	if (p->memlock.unchanged) {
		fprintf(f, "left unchanged\n");
	} else if (p->memlock.unlimited) {
		fprintf(f, "unlimited\n");
	} else {
		vj_size_format(p->memlock.bytes, sz);
		fprintf(f, "%s (%llu bytes)\n", sz, (unsigned long long)p->memlock.bytes);
	}
	for (i = 0; i < p->memlock.n_terms; i++) {
		vj_size_format(p->memlock.terms[i].bytes, sz);
		fprintf(f, "  + %-10s %s\n", sz, p->memlock.terms[i].reason);
	}

	if (p->n_warnings)
		fprintf(f, "\nWARNINGS\n");
	for (i = 0; i < p->n_warnings; i++)
		fprintf(f, "  %s\n", p->warnings[i]);
	return ferror(f) ? -EIO : 0;
}
