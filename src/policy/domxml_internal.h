/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the files that derive a spec from a libvirt domain XML: domxml.c
 * (the domain's own elements and the entry points of domxml.h), domxml_xml.c
 * (reading the XML), domxml_nodes.c (the spec's device and hostdev lists) and
 * domxml_devices.c (the elements of <devices>).  Private to them.
 */
#pragma once

#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hashset.h"
#include "vfiojail/vfiojail.h"

#define STEP "libvirt"
#define RW (VJ_ACC_READ | VJ_ACC_WRITE)

/* The derivation under way: the spec's object and what it has so far. */
struct dev_entry {
	char *path;          /* the node, symlinks resolved */
	unsigned access;
	json_object *obj;    /* its entry in "devices" (borrowed) */
};

struct derive {
	const struct vj_domxml_opts *o;
	xmlNodePtr root;
	json_object *spec;
	json_object *hostdevs;  /* borrowed: owned by spec */
	json_object *devices;   /* borrowed: owned by spec */
	struct dev_entry *devs;
	size_t n_devs;
	struct vj_index dev_ix;  /* devs by path */
	struct pci_entry {
		char pci[13];
		bool nvme;      /* an nvme disk's controller: its namespaces share it */
	} *pcis;
	size_t n_pcis;
	struct vj_index pci_ix;  /* pcis by address */
	unsigned viommu, nvme, vdpa;
	bool iommufd_default;   /* <iommufd enabled='yes'/> */
	char *user_from;        /* the seclabel's label the user came from, or NULL */
	struct vj_error **err;
};


/* ---- reading the XML (domxml_xml.c) ---- */

/* @xml (@len bytes) parsed as a domain XML: no DOCTYPE, the root <domain>.
 * 0 with *doc (vj_xml_doc_freep) and *root, or -1 with *err (status 2; 125
 * without memory or libxml2). */
int vj_xml_read_domain(const char *xml, size_t len, xmlDocPtr *doc, xmlNodePtr *root, struct vj_error **err);
void vj_xml_doc_freep(xmlDocPtr *doc);

/* An element without namespace (libvirt's own) named @name (any when NULL). */
bool vj_xml_is_elem(xmlNodePtr n, const char *name);
/* The first child element @name, or NULL (NULL @n too). */
xmlNodePtr vj_xml_child(xmlNodePtr n, const char *name);
/* The next sibling element named as @n. */
xmlNodePtr vj_xml_next_same(xmlNodePtr n);
#define for_each_child(c, parent, name) \
	for (xmlNodePtr c = vj_xml_child((parent), (name)); c; c = vj_xml_next_same(c))
/* The element's path below the root ("devices/disk[1]/source"; the root is
 * "domain"), or NULL without memory. */
char *vj_xml_path(xmlNodePtr n);

/* An attribute's value (free with vj_xml_freep), or NULL when absent. */
xmlChar *vj_xml_attr(xmlNodePtr n, const char *name);
void vj_xml_freep(xmlChar **p);
#define _cleanup_xfree_ _cleanup_(vj_xml_freep)
bool vj_xml_attr_is(xmlNodePtr n, const char *name, const char *value);
bool vj_xml_has_attr(xmlNodePtr n, const char *name);
/* An unsigned number in C's notation (0x hexadecimal, 0 octal, else decimal),
 * as libvirt's base-0 attributes take it, up to @max. */
bool vj_xml_c_uint(const char *s, uint64_t max, uint64_t *out);

/* -1, with the error (status 2) naming the element @n. */
int vj_dx_err(struct derive *d, xmlNodePtr n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* -1, out of memory (status 125). */
int vj_dx_oom(struct vj_error **err);
/* The element's text, trimmed ("" when empty; at most 4096 bytes). */
int vj_dx_text(struct derive *d, xmlNodePtr n, char **out);
/* Attribute @name of @n as a number up to @max; absent: @dflt when @optional. */
int vj_dx_attr_uint(struct derive *d, xmlNodePtr n, const char *name, uint64_t max, bool optional,
		    uint64_t dflt, uint64_t *out);
/* A size element (<memory unit='GiB'>4</memory>) in bytes, rounded up to KiB. */
int vj_dx_size(struct derive *d, xmlNodePtr n, uint64_t *out);

/* ---- the spec's "devices" and "hostdevs" (domxml_nodes.c) ---- */

/* The node @path (as the XML names it, read in @n) with @access. */
int vj_dx_add_device(struct derive *d, xmlNodePtr n, const char *path, unsigned access);
/* The text of @n as a device node (<block>/dev/sdb</block>). */
int vj_dx_add_device_text(struct derive *d, xmlNodePtr n, unsigned access);
/* Attribute @name of @n as a device node; absent: @dflt, or nothing when NULL. */
int vj_dx_add_device_attr(struct derive *d, xmlNodePtr n, const char *name, const char *dflt,
			  unsigned access);
/* <address domain bus slot function/>: libvirt's base-0 numbers; absent is 0. */
int vj_dx_pci_addr(struct derive *d, xmlNodePtr a, struct vj_pci_addr *out);
/* A PCI device for VFIO; @nvme: an nvme disk's controller, shared by its namespaces. */
int vj_dx_add_hostdev(struct derive *d, xmlNodePtr where, const struct vj_pci_addr *a,
		      enum vj_backend backend, bool nvme);

/* ---- <devices> (domxml_devices.c) ---- */

int vj_dx_devices(struct derive *d, xmlNodePtr devs);
