/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VM spec derived from a libvirt domain XML.  The XML is read with libxml2
 * (libvirt's own parser) without network, DTD or entity expansion, and the
 * spec's JSON object is built from it element by element; the spec parser then
 * reads that object, so a derived spec passes the validators a written one does.
 * Errors in the XML name the element as a path below <domain>, e.g.
 * "devices/hostdev[2]/source/address".  The mapping is documented in
 * vfiojail-spec(5), "Derived from a libvirt domain".
 *
 * This file: the domain's own elements (name, user, memory, memlock, arch,
 * iommufd, launch security) and the entry points; domxml_xml.c reads the XML,
 * domxml_devices.c maps <devices>, domxml_nodes.c keeps the spec's lists.
 */
#include "domxml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "domxml_internal.h"
#include "error.h"
#include "jbuf.h"
#include "spec_internal.h"
#include "util.h"

#define UNLIMITED_KIB UINT64_C(9007199254740991)

#ifndef VJ_LIBVIRT_QEMU_USER
#define VJ_LIBVIRT_QEMU_USER "libvirt-qemu"
#endif

/* libvirt's architecture names that have a vfiojail arch (the same name: both
 * follow uname -m).  Anything else libvirt knows is refused. */
static const char *const arches[] = {
	"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x", "riscv64", "loongarch64",
};
#define ARCH_LIST "x86_64, i686, aarch64, armv7l, ppc64, ppc64le, s390x, riscv64, loongarch64"

static void derive_clear(struct derive *d)
{
	for (size_t i = 0; i < d->n_devs; i++)
		free(d->devs[i].path);
	free(d->devs);
	free(d->pcis);
	vj_index_clear(&d->dev_ix);
	vj_index_clear(&d->pci_ix);
	free(d->user_from);
	if (d->spec)
		json_object_put(d->spec);
}

/* ------------------------------------------------------------------------- */
/* The domain                                                                 */

static int put_string(struct derive *d, const char *key, const char *v)
{
	json_object *s = json_object_new_string(v);

	if (!s || json_object_object_add(d->spec, key, s) < 0) {
		json_object_put(s);
		return vj_dx_oom(d->err);
	}
	return 0;
}

static int put_int(json_object *o, const char *key, int64_t v, struct vj_error **err)
{
	json_object *i = json_object_new_int64(v);

	if (!i || json_object_object_add(o, key, i) < 0) {
		json_object_put(i);
		return vj_dx_oom(err);
	}
	return 0;
}

static int put_name(struct derive *d)
{
	xmlNodePtr n = vj_xml_child(d->root, "name");
	_cleanup_free_ char *text = NULL;

	if (!n)
		return vj_dx_err(d, d->root, "no <name>: the VM's name is required");
	if (vj_dx_text(d, n, &text) < 0)
		return -1;
	return put_string(d, "name", text);
}

/* "+107" is uid 107; a name stays a name. */
static const char *dac_id(const char *s)
{
	return s[0] == '+' ? s + 1 : s;
}

static int put_user(struct derive *d)
{
	const struct vj_domxml_opts *o = d->o;
	_cleanup_free_ char *label = NULL;
	const char *user = o->user, *group = o->group;
	char q[VJ_QUOTE_MAX];

	if (!user) {
		for_each_child(sl, d->root, "seclabel")
		{
			xmlNodePtr l = vj_xml_child(sl, "label");
			char *colon;
			if (!vj_xml_attr_is(sl, "model", "dac") || !l || vj_xml_attr_is(sl, "type", "none"))
				continue;
			if (vj_dx_text(d, l, &label) < 0)
				return -1;
			colon = strchr(label, ':');
			if (!colon || colon == label || !colon[1] || strchr(colon + 1, ':'))
				return vj_dx_err(d, l, "%s is not USER:GROUP (names, or +uid:+gid)",
					       vj_quote(label, q));
			*colon = '\0';
			user = dac_id(label);
			d->user_from = vj_xml_path(l);
			if (!d->user_from)
				return vj_dx_oom(d->err);
			if (!group)
				group = dac_id(colon + 1);
			break;
		}
	}
	if (!user)
		user = o->default_user ? o->default_user : VJ_LIBVIRT_QEMU_USER;
	if (put_string(d, "user", user) < 0)
		return -1;
	return group ? put_string(d, "group", group) : 0;
}

/* Guest RAM: <maxMemory> (the hotplug maximum) when larger than <memory>. */
static int put_memory(struct derive *d)
{
	xmlNodePtr mem = vj_xml_child(d->root, "memory"), max = vj_xml_child(d->root, "maxMemory");
	uint64_t bytes = 0, max_bytes = 0;

	if (!mem)
		return vj_dx_err(d, d->root, "no <memory>: the guest's RAM is required");
	if (vj_dx_size(d, mem, &bytes) < 0 || (max && vj_dx_size(d, max, &max_bytes) < 0))
		return -1;
	return put_int(d->spec, "memory", (int64_t)(max_bytes > bytes ? max_bytes : bytes), d->err);
}

/*
 * As libvirt sets QEMU's RLIMIT_MEMLOCK: <memtune><hard_limit> when given,
 * else unlimited for <memoryBacking><locked/>; else the policy decides.
 */
static int put_memlock(struct derive *d)
{
	xmlNodePtr hard = vj_xml_child(vj_xml_child(d->root, "memtune"), "hard_limit");
	json_object *m;
	uint64_t bytes;

	if (hard && vj_dx_size(d, hard, &bytes) < 0)
		return -1;
	/* libvirt's "unlimited" (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED, 2^53-1 KiB) is no limit. */
	if (hard && bytes >= UNLIMITED_KIB * 1024)
		hard = NULL;
	if (hard) {
		m = json_object_new_object();
		if (!m || put_int(m, "hard_limit", (int64_t)bytes, d->err) < 0) {
			json_object_put(m);
			return m ? -1 : vj_dx_oom(d->err);
		}
	} else if (vj_xml_child(vj_xml_child(d->root, "memoryBacking"), "locked")) {
		m = json_object_new_object();
		if (!m || json_object_object_add(m, "unlimited", json_object_new_boolean(1)) < 0) {
			json_object_put(m);
			return vj_dx_oom(d->err);
		}
	} else {
		return 0;
	}
	if (json_object_object_add(d->spec, "memlock", m) < 0) {
		json_object_put(m);
		return vj_dx_oom(d->err);
	}
	return 0;
}

static int put_arch(struct derive *d)
{
	xmlNodePtr type = vj_xml_child(vj_xml_child(d->root, "os"), "type");
	_cleanup_xfree_ xmlChar *arch = vj_xml_attr(type, "arch");
	char q[VJ_QUOTE_MAX];

	if (!arch)
		return 0; /* the host's */
	for (size_t i = 0; i < ARRAY_SIZE(arches); i++)
		if (strcmp((const char *)arch, arches[i]) == 0)
			return put_string(d, "arch", arches[i]);
	return vj_dx_err(d, type, "arch=%s: vfiojail has no such architecture (it knows " ARCH_LIST ")",
		       vj_quote((const char *)arch, q));
}

static int iommufd_default(struct derive *d)
{
	xmlNodePtr n = vj_xml_child(d->root, "iommufd");
	_cleanup_xfree_ xmlChar *en = vj_xml_attr(n, "enabled");
	char q[VJ_QUOTE_MAX];

	if (!n)
		return 0;
	if (en && strcmp((const char *)en, "yes") == 0)
		d->iommufd_default = true;
	else if (!en || strcmp((const char *)en, "no") != 0)
		return vj_dx_err(d, n, "enabled=%s is not yes or no", vj_quote((const char *)en, q));
	return 0;
}

/* <launchSecurity type='sev'|'sev-snp'>: QEMU opens /dev/sev. */
static int launch_security(struct derive *d)
{
	xmlNodePtr n = vj_xml_child(d->root, "launchSecurity");

	if (n && (vj_xml_attr_is(n, "type", "sev") || vj_xml_attr_is(n, "type", "sev-snp")))
		return vj_dx_add_device(d, n, "/dev/sev", RW);
	return 0;
}

static int put_list(struct derive *d, const char *key, json_object **list)
{
	*list = json_object_new_array();
	if (!*list || json_object_object_add(d->spec, key, *list) < 0) {
		json_object_put(*list);
		*list = NULL;
		return vj_dx_oom(d->err);
	}
	return 0;
}

/* The spec's object, and in *@user_from where its user came from (a seclabel's
 * label, or NULL). */
static int derive(const char *xml, size_t len, const struct vj_domxml_opts *o, json_object **out,
		  char **user_from, struct vj_error **err)
{
	static const struct vj_domxml_opts none = { 0 };
	_cleanup_(vj_xml_doc_freep) xmlDocPtr doc = NULL;
	_cleanup_(derive_clear) struct derive d = { .o = o ? o : &none, .err = err };

	*out = NULL;
	if (vj_xml_read_domain(xml, len, &doc, &d.root, err) < 0)
		return -1;
	d.spec = json_object_new_object();
	if (!d.spec)
		return vj_dx_oom(err);
	if (put_name(&d) < 0 || put_user(&d) < 0 || put_memory(&d) < 0 || put_arch(&d) < 0 ||
	    iommufd_default(&d) < 0 || put_list(&d, "hostdevs", &d.hostdevs) < 0 ||
	    put_list(&d, "devices", &d.devices) < 0 ||
	    vj_dx_devices(&d, vj_xml_child(d.root, "devices")) < 0 || launch_security(&d) < 0 ||
	    put_memlock(&d) < 0)
		return -1;
	/* Only what the domain has: no empty list, no zero count. */
	if (json_object_array_length(d.hostdevs) == 0)
		json_object_object_del(d.spec, "hostdevs");
	if (json_object_array_length(d.devices) == 0)
		json_object_object_del(d.spec, "devices");
	if ((d.viommu && put_int(d.spec, "viommu", d.viommu, err) < 0) ||
	    (d.nvme && put_int(d.spec, "nvme", d.nvme, err) < 0) ||
	    (d.vdpa && put_int(d.spec, "vdpa", d.vdpa, err) < 0))
		return -1;
	*out = TAKE_PTR(d.spec);
	if (user_from)
		*user_from = TAKE_PTR(d.user_from);
	return 0;
}

int vj_domxml_to_spec_json(const char *xml, size_t len, const struct vj_domxml_opts *o,
			   json_object **out, struct vj_error **err)
{
	if (!out)
		return vj_err(err, VJ_EXIT_USAGE, 0, STEP, "domain XML", NULL, "no place for the result");
	return derive(xml, len, o, out, NULL, err);
}

int vj_spec_from_libvirt(const char *xml, size_t len, const struct vj_domxml_opts *o,
			 struct vj_spec **out, char **json, struct vj_error **err)
{
	_cleanup_free_ char *user_from = NULL;
	json_object *obj = NULL;
	struct vj_spec *spec = NULL;
	int r;

	if (!out)
		return vj_err(err, VJ_EXIT_USAGE, 0, STEP, "domain XML", NULL, "no place for the result");
	*out = NULL;
	if (json)
		*json = NULL;
	if (derive(xml, len, o, &obj, &user_from, err) < 0)
		return -1;
	r = vj_spec_from_json(obj, "derived spec", &spec, err);
	/* A user or group the spec refuses, read from the seclabel: say where. */
	if (r < 0 && user_from && err && *err && (*err)->object &&
	    (strcmp((*err)->object, "user") == 0 || strcmp((*err)->object, "group") == 0))
		vj_err_wrap(err, STEP, user_from, "the VM's %s comes from this DAC label",
			    (*err)->object);
	if (r == 0 && json) {
		*json = vj_json_text(obj, VJ_JSON_PRETTY);
		if (!*json) {
			vj_spec_free(spec);
			spec = NULL;
			r = vj_dx_oom(err);
		}
	}
	json_object_put(obj);
	if (r == 0)
		*out = spec;
	return r;
}
