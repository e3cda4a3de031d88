/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spec's "devices" and "hostdevs" of a derived spec (domxml_internal.h):
 * a node the domain names, resolved in the dev root to the node itself and
 * merged with an earlier entry for it; a PCI address, assigned once.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domxml_internal.h"
#include "error.h"
#include "hashset.h"
#include "quote.h"
#include "sysfs.h"
#include "util.h"

#define LINK_HOPS_MAX 40

/*
 * @in ("/dev/...") with every symlink followed inside the dev root @root, as
 * the kernel would follow it in /dev: a relative target from the link's
 * directory, an absolute one only into /dev.  *out is "/dev/..." of the node.
 * 0, or -errno (-EXDEV: a link or ".." leads out of /dev; -ELOOP: more than 40
 * links; -ENAMETOOLONG).
 */
static int dev_resolve(const char *root, const char *in, char **out)
{
	char cur[PATH_MAX] = "", todo[PATH_MAX], target[PATH_MAX], next[PATH_MAX];
	unsigned hops = 0;
	bool dir = true; /* /dev itself */
	int n;

	if (strncmp(in, "/dev/", 5) != 0)
		return -EXDEV;
	if (snprintf(todo, sizeof(todo), "%s", in + 5) >= (int)sizeof(todo))
		return -ENAMETOOLONG;
	for (;;) {
		char *p = todo, comp[NAME_MAX + 1];
		_cleanup_free_ char *host = NULL;
		struct stat st;
		size_t len;
		ssize_t tl;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (!len)
			break;
		if (len > NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(comp, p, len);
		comp[len] = '\0';
		memmove(todo, p + len, strlen(p + len) + 1);
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *slash = strrchr(cur, '/');
			if (!*cur)
				return -EXDEV;
			if (slash)
				*slash = '\0';
			else
				cur[0] = '\0';
			continue;
		}
		n = snprintf(next, sizeof(next), "%s%s%s", cur, *cur ? "/" : "", comp);
		if (n < 0 || n >= (int)sizeof(next))
			return -ENAMETOOLONG;
		host = vj_strdupf("%s/%s", root, next);
		if (!host)
			return -ENOMEM;
		if (lstat(host, &st) < 0)
			return -errno;
		if (!S_ISLNK(st.st_mode)) {
			const char *rest = todo + strspn(todo, "/");
			if (*rest && !S_ISDIR(st.st_mode))
				return -ENOTDIR;
			dir = S_ISDIR(st.st_mode);
			memcpy(cur, next, (size_t)n + 1);
			continue;
		}
		if (++hops > LINK_HOPS_MAX)
			return -ELOOP;
		tl = readlink(host, target, sizeof(target) - 1);
		if (tl < 0)
			return -errno;
		target[tl] = '\0';
		if (target[0] == '/') {
			if (strcmp(target, "/dev") != 0 && strncmp(target, "/dev/", 5) != 0)
				return -EXDEV;
			cur[0] = '\0';
			n = snprintf(next, sizeof(next), "%s/%s", target + 4, todo);
		} else {
			n = snprintf(next, sizeof(next), "%s/%s", target, todo);
		}
		if (n < 0 || n >= (int)sizeof(todo))
			return -ENAMETOOLONG;
		memcpy(todo, next, (size_t)n + 1);
	}
	if (!*cur || dir)
		return -EISDIR;
	*out = vj_strdupf("/dev/%s", cur);
	return *out ? 0 : -ENOMEM;
}

struct key_ctx {
	const struct derive *d;
	const char *key;
};

static bool dev_eq(const void *ctx, size_t pos)
{
	const struct key_ctx *k = ctx;

	return strcmp(k->d->devs[pos].path, k->key) == 0;
}

static bool pci_eq(const void *ctx, size_t pos)
{
	const struct key_ctx *k = ctx;

	return strcmp(k->d->pcis[pos].pci, k->key) == 0;
}

/*
 * The node @path (as the XML names it, read in @n) with @access: resolved to the
 * node itself, and merged with an entry for the same node (the union of the
 * accesses).
 */
int vj_dx_add_device(struct derive *d, xmlNodePtr n, const char *path, unsigned access)
{
	char q[VJ_QUOTE_MAX], acc[4];
	_cleanup_free_ char *node = NULL;
	struct dev_entry *e;
	json_object *o;
	size_t i;
	int r;

	if (!path || strncmp(path, "/dev/", 5) != 0)
		return vj_dx_err(d, n, "%s is not under /dev: vfiojail gives the VM device nodes "
			       "under /dev only", vj_quote(path ? path : "", q));
	r = dev_resolve(vj_root_dev(&d->o->roots), path, &node);
	if (r == -ENOMEM)
		return vj_dx_oom(d->err);
	if (r == -EXDEV)
		return vj_dx_err(d, n, "%s: a symlink or \"..\" on the way leads out of /dev",
			       vj_quote(path, q));
	if (r < 0)
		return vj_dx_err(d, n, "%s: cannot resolve it under %s: %s", vj_quote(path, q),
			       vj_root_dev(&d->o->roots), strerror(-r));
	i = vj_index_find(&d->dev_ix, vj_hash_str(node), dev_eq, &(struct key_ctx){ d, node });
	if (i != SIZE_MAX) {
		d->devs[i].access |= access;
		vj_access_format(d->devs[i].access, acc);
		if (json_object_object_add(d->devs[i].obj, "access", json_object_new_string(acc)) < 0)
			return vj_dx_oom(d->err);
		return 0;
	}
	o = json_object_new_object();
	vj_access_format(access, acc);
	if (!o || json_object_object_add(o, "path", json_object_new_string(node)) < 0 ||
	    json_object_object_add(o, "access", json_object_new_string(acc)) < 0) {
		json_object_put(o);
		return vj_dx_oom(d->err);
	}
	if (json_object_array_add(d->devices, o) < 0) {
		json_object_put(o);
		return vj_dx_oom(d->err);
	}
	e = VJ_PUSH(d->devs, d->n_devs);
	if (!e)
		return vj_dx_oom(d->err);
	if (vj_index_add(&d->dev_ix, vj_hash_str(node), d->n_devs - 1) < 0) {
		d->n_devs--;
		return vj_dx_oom(d->err);
	}
	e->path = TAKE_PTR(node);
	e->access = access;
	e->obj = o;
	return 0;
}

/* The text of @n as a device node (<block>/dev/sdb</block>). */
int vj_dx_add_device_text(struct derive *d, xmlNodePtr n, unsigned access)
{
	_cleanup_free_ char *text = NULL;

	if (vj_dx_text(d, n, &text) < 0)
		return -1;
	if (!*text)
		return vj_dx_err(d, n, "no path: the element is empty");
	return vj_dx_add_device(d, n, text, access);
}

/* Attribute @name of @n as a device node; absent: @dflt, or nothing when NULL. */
int vj_dx_add_device_attr(struct derive *d, xmlNodePtr n, const char *name, const char *dflt,
			   unsigned access)
{
	_cleanup_xfree_ xmlChar *v = vj_xml_attr(n, name);

	if (!v && !dflt)
		return 0;
	return vj_dx_add_device(d, n, v ? (const char *)v : dflt, access);
}

/* <address domain bus slot function/>: libvirt's base-0 numbers; absent is 0. */
int vj_dx_pci_addr(struct derive *d, xmlNodePtr a, struct vj_pci_addr *out)
{
	uint64_t dom, bus, slot, fn;
	_cleanup_xfree_ xmlChar *type = vj_xml_attr(a, "type");

	if (type && strcmp((const char *)type, "pci") != 0)
		return vj_dx_err(d, a, "type='%s' is not a PCI address", (const char *)type);
	if (vj_dx_attr_uint(d, a, "domain", 0xffff, true, 0, &dom) < 0 ||
	    vj_dx_attr_uint(d, a, "bus", 0xff, true, 0, &bus) < 0 ||
	    vj_dx_attr_uint(d, a, "slot", 0x1f, true, 0, &slot) < 0 ||
	    vj_dx_attr_uint(d, a, "function", 7, true, 0, &fn) < 0)
		return -1;
	*out = (struct vj_pci_addr){ (uint16_t)dom, (uint8_t)bus, (uint8_t)slot, (uint8_t)fn };
	return 0;
}

/* A PCI device for VFIO; @nvme: an nvme disk's controller, which the disks on
 * its other namespaces share. */
int vj_dx_add_hostdev(struct derive *d, xmlNodePtr where, const struct vj_pci_addr *a,
		       enum vj_backend backend, bool nvme)
{
	struct pci_entry *e;
	char pci[13];
	json_object *o;
	size_t i;

	vj_pci_addr_format(a, pci);
	i = vj_index_find(&d->pci_ix, vj_hash_str(pci), pci_eq, &(struct key_ctx){ d, pci });
	if (i != SIZE_MAX) {
		if (nvme && d->pcis[i].nvme)
			return 0;
		return vj_dx_err(d, where, "%s is assigned twice (by an earlier hostdev, "
			       "interface or nvme disk)", pci);
	}
	o = json_object_new_object();
	if (!o || json_object_object_add(o, "pci", json_object_new_string(pci)) < 0 ||
	    json_object_object_add(o, "backend", json_object_new_string(
		    backend == VJ_BACKEND_IOMMUFD ? "iommufd" : "legacy")) < 0 ||
	    json_object_array_add(d->hostdevs, o) < 0) {
		json_object_put(o);
		return vj_dx_oom(d->err);
	}
	e = VJ_PUSH(d->pcis, d->n_pcis);
	if (!e)
		return vj_dx_oom(d->err);
	memcpy(e->pci, pci, sizeof(pci));
	if (vj_index_add(&d->pci_ix, vj_hash_str(e->pci), d->n_pcis - 1) < 0) {
		d->n_pcis--;
		return vj_dx_oom(d->err);
	}
	e->nvme = nvme;
	return 0;
}
