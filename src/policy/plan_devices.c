/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan's devices (plan_build.h): the default nodes, the iommufd contexts, each
 * hostdev (its driver, IOMMU group and VFIO node), the spec's device nodes, and
 * the filter's rules from the nodes, each node and rule once (indexed), with its
 * reasons.  vj_plan_build (plan.c) calls them in that order.
 */
#include "plan_build.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hashset.h"
#include "pci.h"
#include "sysfs.h"
#include "util.h"
#include "vfio.h"

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

static struct vj_plan_priv *box_of(struct vj_plan *p)
{
	return p->priv; /* set while vj_plan_build makes the plan */
}

static int oom(struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "plan", NULL, NULL, "out of memory");
}

int vj_plan_warn(struct vj_plan *p, struct vj_error **err, const char *fmt, ...)
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

/* A VFIO or iommufd node the kernel numbers (/dev/iommu, a cdev, a group, the
 * container): char, read-write, the VM user's alone. */
static int plan_add_vfio_node(struct vj_plan *p, const struct vj_plan_opts *o, const char *path,
			      uint32_t major, uint32_t minor, const char *reason, struct vj_error **err)
{
	const struct node_req rq = {
		.path = path,
		.roots = &o->roots,
		.type = 'c',
		.major = major,
		.minor = minor,
		.access = VJ_ACC_READ | VJ_ACC_WRITE,
		.mode = 0600,
		.reason = reason,
	};

	return plan_add_node(p, &rq, err);
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

	return r->type == k->type && r->major == k->major && r->minor == k->minor;
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

int vj_plan_defaults(struct vj_plan *p, const struct vj_plan_opts *o, struct vj_error **err)
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

int vj_plan_iommufd(struct vj_plan *p, const struct vj_spec *s, const struct vj_plan_opts *o,
		    struct vj_error **err)
{
	uint32_t major, minor;
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
	return plan_add_vfio_node(p, o, "/dev/iommu", major, minor,
				  "iommufd (the VMM is handed opened contexts)", err);
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
	r = plan_add_vfio_node(p, o, h->node, major, minor, reason, err);
	if (r < 0 || h->backend != VJ_BACKEND_LEGACY)
		return r;

	r = vj_sysfs_misc_devnum(&o->roots, "vfio", &major, &minor);
	if (r < 0)
		return vj_err(err, VJ_EXIT_SETUP, -r, "discover", "/dev/vfio/vfio",
			      "load the vfio module, or use backend \"iommufd\"",
			      "this kernel has no VFIO container device (%s/class/misc/vfio/dev)",
			      vj_root_sysfs(&o->roots));
	return plan_add_vfio_node(p, o, "/dev/vfio/vfio", major, minor, "legacy VFIO container", err);
}

int vj_plan_hostdev(struct vj_plan *p, const struct vj_hostdev_spec *hs,
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

int vj_plan_devices(struct vj_plan *p, const struct vj_spec *s, const struct vj_plan_opts *o,
		    struct vj_error **err)
{
	size_t i;

	for (i = 0; i < s->n_devices; i++) {
		char field[32] = "devices[", num[VJ_U64_STR_MAX];

		strcat(strcat(field, vj_u64_format(i, num)), "]");
		if (plan_host_node(p, o, s->devices[i].path, s->devices[i].access, false,
				   "listed in the spec's devices", false, field, err) < 0)
			return -1;
	}
	return 0;
}

int vj_plan_rules_from_nodes(struct vj_plan *p, struct vj_error **err)
{
	size_t i;

	for (i = 0; i < p->n_nodes; i++) {
		const struct vj_node *n = &p->nodes[i];
		if (plan_add_rule(p, n->type, n->major, n->minor, n->access, n->path, err) < 0)
			return -1;
	}
	return 0;
}
