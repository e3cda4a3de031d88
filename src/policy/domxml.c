/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VM spec derived from a libvirt domain XML.  The XML is read with libxml2
 * (libvirt's own parser) without network, DTD or entity expansion, and the
 * spec's JSON object is built from it element by element; the spec parser then
 * reads that object, so a derived spec passes the validators a written one does.
 * Errors in the XML name the element as a path below <domain>, e.g.
 * "devices/hostdev[2]/source/address".  The mapping is documented in
 * vfiojail-spec(5), "Derived from a libvirt domain".
 */
#include "domxml.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "config.h"
#include "dlib.h"
#include "error.h"
#include "hashset.h"
#include "spec_internal.h"
#include "sysfs.h"
#include "util.h"

#define STEP "libvirt"
#define LINK_HOPS_MAX 40
#define TEXT_MAX 4096
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

/*
 * libxml2 is loaded when a domain XML is first read, not at every start: with ICU
 * and libstdc++ it costs each process more than a whole launch, and only derive and
 * the derived specs read XML.
 */
static struct {
	typeof(xmlInitParser) *xmlInitParser;
	typeof(xmlNewParserCtxt) *xmlNewParserCtxt;
	typeof(xmlFreeParserCtxt) *xmlFreeParserCtxt;
	typeof(xmlCtxtReadMemory) *xmlCtxtReadMemory;
	typeof(xmlCtxtGetLastError) *xmlCtxtGetLastError;
	typeof(xmlFreeDoc) *xmlFreeDoc;
	typeof(xmlDocGetRootElement) *xmlDocGetRootElement;
	typeof(xmlGetNoNsProp) *xmlGetNoNsProp;
	typeof(xmlHasProp) *xmlHasProp;
	typeof(xmlNodeGetContent) *xmlNodeGetContent;
	typeof(xmlStrcmp) *xmlStrcmp;
	typeof(xmlGetExternalEntityLoader) *xmlGetExternalEntityLoader;
	typeof(xmlSetExternalEntityLoader) *xmlSetExternalEntityLoader;
	typeof(xmlMemGet) *xmlMemGet; /* for xmlFree, a variable or a macro by build */
} xml2;

static const struct vj_dlib_sym xml2_syms[] = {
	VJ_DLIB_SYM(xml2, xmlInitParser, xmlInitParser),
	VJ_DLIB_SYM(xml2, xmlNewParserCtxt, xmlNewParserCtxt),
	VJ_DLIB_SYM(xml2, xmlFreeParserCtxt, xmlFreeParserCtxt),
	VJ_DLIB_SYM(xml2, xmlCtxtReadMemory, xmlCtxtReadMemory),
	VJ_DLIB_SYM(xml2, xmlCtxtGetLastError, xmlCtxtGetLastError),
	VJ_DLIB_SYM(xml2, xmlFreeDoc, xmlFreeDoc),
	VJ_DLIB_SYM(xml2, xmlDocGetRootElement, xmlDocGetRootElement),
	VJ_DLIB_SYM(xml2, xmlGetNoNsProp, xmlGetNoNsProp),
	VJ_DLIB_SYM(xml2, xmlHasProp, xmlHasProp),
	VJ_DLIB_SYM(xml2, xmlNodeGetContent, xmlNodeGetContent),
	VJ_DLIB_SYM(xml2, xmlStrcmp, xmlStrcmp),
	VJ_DLIB_SYM(xml2, xmlGetExternalEntityLoader, xmlGetExternalEntityLoader),
	VJ_DLIB_SYM(xml2, xmlSetExternalEntityLoader, xmlSetExternalEntityLoader),
	VJ_DLIB_SYM(xml2, xmlMemGet, xmlMemGet),
};

/* The ABI of the libxml2 headers: libxml2.so.2 since libxml2 2.0. */
static struct vj_dlib libxml2 = VJ_DLIB("libxml2.so.2", "libxml2", xml2_syms);

/* What frees the strings libxml2 returns (xmlFree). */
static void xml2_free(void *p)
{
	xmlFreeFunc f = NULL;

	if (xml2.xmlMemGet(&f, NULL, NULL, NULL) == 0 && f)
		f(p);
}

static int oom(struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, STEP, NULL, NULL, "out of memory");
}

static void xfreep(xmlChar **p)
{
	if (*p)
		xml2_free(*p);
}
#define _cleanup_xfree_ _cleanup_(xfreep)

/* ------------------------------------------------------------------------- */
/* Elements and their names in messages                                      */

static bool is_elem(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !n->ns &&
	       (!name || xml2.xmlStrcmp(n->name, (const xmlChar *)name) == 0);
}

/* The first child element @name (libvirt's own: no namespace), or NULL. */
static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (is_elem(c, name))
			return c;
	return NULL;
}

/* The next sibling element named as @n. */
static xmlNodePtr next_same(xmlNodePtr n)
{
	for (xmlNodePtr c = n->next; c; c = c->next)
		if (is_elem(c, (const char *)n->name))
			return c;
	return NULL;
}

#define for_each_child(c, parent, name) \
	for (xmlNodePtr c = child((parent), (name)); c; c = next_same(c))

/* "name" or "name[i]": with its position (from 1) among its namesakes when
 * it has any, and always in <devices>. */
static char *segment(xmlNodePtr n)
{
	size_t pos = 1;
	bool indexed = n->parent && n->parent->type == XML_ELEMENT_NODE &&
		       xml2.xmlStrcmp(n->parent->name, (const xmlChar *)"devices") == 0;

	for (xmlNodePtr c = n->prev; c; c = c->prev)
		if (c->type == XML_ELEMENT_NODE && xml2.xmlStrcmp(c->name, n->name) == 0)
			pos++;
	if (pos > 1 || (n->next && next_same(n)))
		indexed = true;
	return indexed ? vj_strdupf("%s[%zu]", (const char *)n->name, pos)
		       : strdup((const char *)n->name);
}

/* The element's path below the root ("devices/disk[1]/source"); the root is "domain". */
static char *node_path(xmlNodePtr n)
{
	char *path = NULL;

	if (!n || !n->parent || n->parent->type != XML_ELEMENT_NODE)
		return strdup("domain");
	for (; n && n->parent && n->parent->type == XML_ELEMENT_NODE; n = n->parent) {
		_cleanup_free_ char *seg = segment(n);
		char *next;

		if (!seg) {
			free(path);
			return NULL;
		}
		next = path ? vj_strdupf("%s/%s", seg, path) : strdup(seg);
		free(path);
		path = next;
		if (!path)
			return NULL;
	}
	return path;
}

static int xml_err(struct derive *d, xmlNodePtr n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int xml_err(struct derive *d, xmlNodePtr n, const char *fmt, ...)
{
	_cleanup_free_ char *where = node_path(n), *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0 || !where)
		return oom(d->err);
	return vj_err(d->err, VJ_EXIT_USAGE, 0, STEP, where, NULL, "%s", msg);
}

/* An attribute's value (xmlFree), or NULL when absent. */
static xmlChar *attr(xmlNodePtr n, const char *name)
{
	return n ? xml2.xmlGetNoNsProp(n, (const xmlChar *)name) : NULL;
}

static bool attr_is(xmlNodePtr n, const char *name, const char *value)
{
	_cleanup_xfree_ xmlChar *v = attr(n, name);

	return v && strcmp((const char *)v, value) == 0;
}

/* The element's text without the white space around it: 0, or -1 (with the
 * error) when it is longer than TEXT_MAX.  *out is NULL-free: "" when empty. */
static int text_of(struct derive *d, xmlNodePtr n, char **out)
{
	_cleanup_xfree_ xmlChar *raw = xml2.xmlNodeGetContent(n);
	const char *s = raw ? (const char *)raw : "";
	size_t len;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
		       s[len - 1] == '\r'))
		len--;
	if (len > TEXT_MAX)
		return xml_err(d, n, "the text is longer than %d bytes", TEXT_MAX);
	*out = strndup(s, len);
	return *out ? 0 : oom(d->err);
}

/* ------------------------------------------------------------------------- */
/* Numbers as libvirt reads them                                             */

/* An unsigned number in C's notation, as libvirt's base-0 attributes take it:
 * 0x.. hexadecimal, a leading 0 octal, else decimal; no sign, no space. */
static bool parse_c_uint(const char *s, uint64_t max, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (!s || !*s)
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return false;
	} else if (s[0] == '0' && s[1]) {
		base = 8;
		s++;
	}
	for (; *s; s++) {
		unsigned digit;

		if (*s >= '0' && *s <= '9')
			digit = (unsigned)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			digit = (unsigned)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			digit = (unsigned)(*s - 'A' + 10);
		else
			return false;
		if (digit >= base || v > (max - digit) / base)
			return false;
		v = v * base + digit;
	}
	*out = v;
	return true;
}

/* Attribute @name of @n as a number up to @max; absent: @dflt when @optional. */
static int attr_uint(struct derive *d, xmlNodePtr n, const char *name, uint64_t max,
		     bool optional, uint64_t dflt, uint64_t *out)
{
	_cleanup_xfree_ xmlChar *v = attr(n, name);
	char q[VJ_QUOTE_MAX];

	if (!v) {
		if (optional) {
			*out = dflt;
			return 0;
		}
		return xml_err(d, n, "the %s attribute is missing", name);
	}
	if (!parse_c_uint((const char *)v, max, out))
		return xml_err(d, n, "%s=%s is not a number from 0 to %#llx (decimal, 0x hexadecimal "
			       "or 0 octal)",
			       name, vj_quote((const char *)v, q), (unsigned long long)max);
	return 0;
}

/* libvirt's scaled sizes: no unit is @dflt_scale; b or bytes; k, m, g, t, p, e
 * alone or with "iB" are powers of 1024, with "B" powers of 1000 (any case). */
static bool unit_scale(const char *unit, uint64_t dflt_scale, uint64_t *scale)
{
	static const char letters[] = "kmgtpe";
	const char *at;
	uint64_t base;

	if (!unit || !*unit) {
		*scale = dflt_scale;
		return true;
	}
	if (strcasecmp(unit, "b") == 0 || strcasecmp(unit, "bytes") == 0) {
		*scale = 1;
		return true;
	}
	at = strchr(letters, (char)(unit[0] | 0x20));
	if (!at || !unit[0])
		return false;
	if (!unit[1] || strcasecmp(unit + 1, "iB") == 0)
		base = 1024;
	else if (strcasecmp(unit + 1, "B") == 0)
		base = 1000;
	else
		return false;
	*scale = 1;
	for (const char *l = letters; l <= at; l++)
		*scale *= base;
	return true;
}

/*
 * A size element (<memory unit='GiB'>4</memory>): the number is decimal, the
 * unit libvirt's, the result in bytes rounded up to whole KiB as libvirt keeps
 * it.  Overflow is refused.
 */
static int size_elem(struct derive *d, xmlNodePtr n, uint64_t *out)
{
	_cleanup_xfree_ xmlChar *unit = attr(n, "unit");
	_cleanup_free_ char *text = NULL;
	char q[VJ_QUOTE_MAX];
	uint64_t v = 0, scale, bytes;

	if (text_of(d, n, &text) < 0)
		return -1;
	if (!unit_scale((const char *)unit, 1024, &scale))
		return xml_err(d, n, "unit=%s is not a unit libvirt knows (b, bytes, KiB, k, KB, MiB, "
			       "M, MB, GiB, G, GB, TiB, T, TB, PiB, P, PB, EiB, E, EB)",
			       vj_quote((const char *)unit, q));
	if (!*text)
		return xml_err(d, n, "no size: the element is empty");
	for (const char *c = text; *c; c++) {
		if (*c < '0' || *c > '9')
			return xml_err(d, n, "%s is not a decimal number", vj_quote(text, q));
		if (v > (UINT64_MAX - (uint64_t)(*c - '0')) / 10)
			return xml_err(d, n, "%s is too large", vj_quote(text, q));
		v = v * 10 + (uint64_t)(*c - '0');
	}
	if (scale && v > UINT64_MAX / scale)
		return xml_err(d, n, "%s %s is too large", text, unit ? (const char *)unit : "KiB");
	bytes = v * scale;
	if (bytes % 1024) {
		if (bytes > UINT64_MAX - 1023)
			return xml_err(d, n, "%s %s is too large", text, unit ? (const char *)unit : "KiB");
		bytes += 1024 - bytes % 1024;
	}
	if (bytes > (uint64_t)INT64_MAX)
		return xml_err(d, n, "%s %s is too large (at most %lld bytes)", text,
			       unit ? (const char *)unit : "KiB", (long long)INT64_MAX);
	*out = bytes;
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Device nodes                                                               */

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
static int add_device(struct derive *d, xmlNodePtr n, const char *path, unsigned access)
{
	char q[VJ_QUOTE_MAX], acc[4];
	_cleanup_free_ char *node = NULL;
	struct dev_entry *e;
	json_object *o;
	size_t i;
	int r;

	if (!path || strncmp(path, "/dev/", 5) != 0)
		return xml_err(d, n, "%s is not under /dev: vfiojail gives the VM device nodes "
			       "under /dev only", vj_quote(path ? path : "", q));
	r = dev_resolve(vj_root_dev(&d->o->roots), path, &node);
	if (r == -ENOMEM)
		return oom(d->err);
	if (r == -EXDEV)
		return xml_err(d, n, "%s: a symlink or \"..\" on the way leads out of /dev",
			       vj_quote(path, q));
	if (r < 0)
		return xml_err(d, n, "%s: cannot resolve it under %s: %s", vj_quote(path, q),
			       vj_root_dev(&d->o->roots), strerror(-r));
	i = vj_index_find(&d->dev_ix, vj_hash_str(node), dev_eq, &(struct key_ctx){ d, node });
	if (i != SIZE_MAX) {
		d->devs[i].access |= access;
		vj_access_format(d->devs[i].access, acc);
		if (json_object_object_add(d->devs[i].obj, "access", json_object_new_string(acc)) < 0)
			return oom(d->err);
		return 0;
	}
	o = json_object_new_object();
	vj_access_format(access, acc);
	if (!o || json_object_object_add(o, "path", json_object_new_string(node)) < 0 ||
	    json_object_object_add(o, "access", json_object_new_string(acc)) < 0) {
		json_object_put(o);
		return oom(d->err);
	}
	if (json_object_array_add(d->devices, o) < 0) {
		json_object_put(o);
		return oom(d->err);
	}
	e = VJ_PUSH(d->devs, d->n_devs);
	if (!e)
		return oom(d->err);
	if (vj_index_add(&d->dev_ix, vj_hash_str(node), d->n_devs - 1) < 0) {
		d->n_devs--;
		return oom(d->err);
	}
	e->path = TAKE_PTR(node);
	e->access = access;
	e->obj = o;
	return 0;
}

/* The text of @n as a device node (<block>/dev/sdb</block>). */
static int add_device_text(struct derive *d, xmlNodePtr n, unsigned access)
{
	_cleanup_free_ char *text = NULL;

	if (text_of(d, n, &text) < 0)
		return -1;
	if (!*text)
		return xml_err(d, n, "no path: the element is empty");
	return add_device(d, n, text, access);
}

/* Attribute @name of @n as a device node; absent: @dflt, or nothing when NULL. */
static int add_device_attr(struct derive *d, xmlNodePtr n, const char *name, const char *dflt,
			   unsigned access)
{
	_cleanup_xfree_ xmlChar *v = attr(n, name);

	if (!v && !dflt)
		return 0;
	return add_device(d, n, v ? (const char *)v : dflt, access);
}

#define RW (VJ_ACC_READ | VJ_ACC_WRITE)

/* ------------------------------------------------------------------------- */
/* PCI host devices                                                           */

/* <address domain bus slot function/>: libvirt's base-0 numbers; absent is 0. */
static int pci_addr(struct derive *d, xmlNodePtr a, struct vj_pci_addr *out)
{
	uint64_t dom, bus, slot, fn;
	_cleanup_xfree_ xmlChar *type = attr(a, "type");

	if (type && strcmp((const char *)type, "pci") != 0)
		return xml_err(d, a, "type='%s' is not a PCI address", (const char *)type);
	if (attr_uint(d, a, "domain", 0xffff, true, 0, &dom) < 0 ||
	    attr_uint(d, a, "bus", 0xff, true, 0, &bus) < 0 ||
	    attr_uint(d, a, "slot", 0x1f, true, 0, &slot) < 0 ||
	    attr_uint(d, a, "function", 7, true, 0, &fn) < 0)
		return -1;
	*out = (struct vj_pci_addr){ (uint16_t)dom, (uint8_t)bus, (uint8_t)slot, (uint8_t)fn };
	return 0;
}

/* A PCI device for VFIO; @nvme: an nvme disk's controller, which the disks on
 * its other namespaces share. */
static int add_hostdev(struct derive *d, xmlNodePtr where, const struct vj_pci_addr *a,
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
		return xml_err(d, where, "%s is assigned twice (by an earlier hostdev, "
			       "interface or nvme disk)", pci);
	}
	o = json_object_new_object();
	if (!o || json_object_object_add(o, "pci", json_object_new_string(pci)) < 0 ||
	    json_object_object_add(o, "backend", json_object_new_string(
		    backend == VJ_BACKEND_IOMMUFD ? "iommufd" : "legacy")) < 0 ||
	    json_object_array_add(d->hostdevs, o) < 0) {
		json_object_put(o);
		return oom(d->err);
	}
	e = VJ_PUSH(d->pcis, d->n_pcis);
	if (!e)
		return oom(d->err);
	memcpy(e->pci, pci, sizeof(pci));
	if (vj_index_add(&d->pci_ix, vj_hash_str(e->pci), d->n_pcis - 1) < 0) {
		d->n_pcis--;
		return oom(d->err);
	}
	e->nvme = nvme;
	return 0;
}

/* <driver iommufd='yes|no'/> of a PCI hostdev; absent: the domain's <iommufd>. */
static int hostdev_backend(struct derive *d, xmlNodePtr hd, enum vj_backend *out)
{
	xmlNodePtr drv = child(hd, "driver");
	_cleanup_xfree_ xmlChar *name = attr(drv, "name");
	_cleanup_xfree_ xmlChar *fd = attr(drv, "iommufd");
	char q[VJ_QUOTE_MAX];

	if (name && strcmp((const char *)name, "vfio") != 0)
		return xml_err(d, drv, "name=%s: vfiojail assigns PCI devices through VFIO only",
			       vj_quote((const char *)name, q));
	if (!fd)
		*out = d->iommufd_default ? VJ_BACKEND_IOMMUFD : VJ_BACKEND_LEGACY;
	else if (strcmp((const char *)fd, "yes") == 0)
		*out = VJ_BACKEND_IOMMUFD;
	else if (strcmp((const char *)fd, "no") == 0)
		*out = VJ_BACKEND_LEGACY;
	else
		return xml_err(d, drv, "iommufd=%s is not yes or no", vj_quote((const char *)fd, q));
	return 0;
}

static int hostdev_pci(struct derive *d, xmlNodePtr hd)
{
	xmlNodePtr src = child(hd, "source"), a = child(src, "address");
	struct vj_pci_addr addr;
	enum vj_backend backend = VJ_BACKEND_LEGACY;

	if (!a)
		return xml_err(d, src ? src : hd, "a PCI host device needs <source><address .../>");
	if (pci_addr(d, a, &addr) < 0 || hostdev_backend(d, hd, &backend) < 0)
		return -1;
	return add_hostdev(d, a, &addr, backend, false);
}

/* ------------------------------------------------------------------------- */
/* USB and SCSI host devices, found in sysfs                                  */

/* A sysfs attribute of a USB device as a number in @base; false when unreadable. */
static bool usb_attr(const char *dir, const char *name, int base, uint64_t *out)
{
	_cleanup_free_ char *path = vj_strdupf("%s/%s", dir, name), *text = NULL;
	char *end = NULL;
	unsigned long long v;

	if (!path || vj_read_file(path, 64, &text) < 0 || !*text)
		return false;
	errno = 0;
	v = strtoull(text, &end, base);
	if (errno || *end || text[0] == '-' || text[0] == '+' || text[0] == ' ')
		return false;
	*out = v;
	return true;
}

static int usb_by_id(struct derive *d, xmlNodePtr src, uint64_t vendor, uint64_t product,
		     uint64_t *bus, uint64_t *dev)
{
	_cleanup_free_ char *dir = vj_path_join(vj_root_sysfs(&d->o->roots), "bus/usb/devices");
	_cleanup_closedir_ DIR *dh = NULL;
	struct dirent *de;
	unsigned found = 0;

	if (!dir)
		return oom(d->err);
	dh = opendir(dir);
	if (!dh)
		return xml_err(d, src, "USB device %04llx:%04llx: cannot read %s: %s",
			       (unsigned long long)vendor, (unsigned long long)product, dir,
			       strerror(errno));
	while ((de = readdir(dh))) {
		_cleanup_free_ char *sub = NULL;
		uint64_t v, p, b, n;

		if (de->d_name[0] == '.')
			continue;
		sub = vj_strdupf("%s/%s", dir, de->d_name);
		if (!sub)
			return oom(d->err);
		if (!usb_attr(sub, "idVendor", 16, &v) || !usb_attr(sub, "idProduct", 16, &p) ||
		    v != vendor || p != product)
			continue;
		if (!usb_attr(sub, "busnum", 10, &b) || !usb_attr(sub, "devnum", 10, &n))
			continue;
		if (found++ == 0) {
			*bus = b;
			*dev = n;
		}
	}
	if (!found)
		return xml_err(d, src, "no USB device %04llx:%04llx on this host (%s)",
			       (unsigned long long)vendor, (unsigned long long)product, dir);
	if (found > 1)
		return xml_err(d, src, "%u USB devices are %04llx:%04llx: name one by "
			       "<address bus='...' device='...'/>",
			       found, (unsigned long long)vendor, (unsigned long long)product);
	return 0;
}

static int hostdev_usb(struct derive *d, xmlNodePtr hd)
{
	xmlNodePtr src = child(hd, "source"), a = child(src, "address");
	xmlNodePtr ven = child(src, "vendor"), prod = child(src, "product");
	uint64_t bus, dev, v, p;
	char path[32];

	if (!src)
		return xml_err(d, hd, "a USB host device needs <source>");
	if (a) {
		if (attr_uint(d, a, "bus", 999, false, 0, &bus) < 0 ||
		    attr_uint(d, a, "device", 999, false, 0, &dev) < 0)
			return -1;
	} else {
		if (!ven || !prod)
			return xml_err(d, src, "a USB host device needs <address bus device/> or "
				       "<vendor id/> and <product id/>");
		if (attr_uint(d, ven, "id", 0xffff, false, 0, &v) < 0 ||
		    attr_uint(d, prod, "id", 0xffff, false, 0, &p) < 0 ||
		    usb_by_id(d, src, v, p, &bus, &dev) < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "/dev/bus/usb/%03u/%03u", (unsigned)bus, (unsigned)dev);
	return add_device(d, a ? a : src, path, RW);
}

/* <source><adapter name='scsi_hostN'/><address bus target unit/></source>: the
 * sg node of SCSI device N:bus:target:unit, from sysfs. */
static int hostdev_scsi(struct derive *d, xmlNodePtr hd, bool readonly)
{
	xmlNodePtr src = child(hd, "source"), ad = child(src, "adapter"), a = child(src, "address");
	_cleanup_xfree_ xmlChar *proto = attr(src, "protocol"), *name = attr(ad, "name");
	_cleanup_free_ char *dir = NULL;
	_cleanup_closedir_ DIR *dh = NULL;
	uint64_t host, bus, target, unit;
	char q[VJ_QUOTE_MAX], sg[NAME_MAX + 16] = "";
	struct dirent *de;

	if (proto && strcmp((const char *)proto, "iscsi") == 0)
		return 0; /* QEMU reaches it over the network: no node */
	if (!ad || !a)
		return xml_err(d, src ? src : hd, "a SCSI host device needs <adapter name='scsi_hostN'/> "
			       "and <address bus target unit/>");
	if (!name || strncmp((const char *)name, "scsi_host", 9) != 0 ||
	    !parse_c_uint((const char *)name + 9, UINT32_MAX, &host) || (name[9] == '0' && name[10]))
		return xml_err(d, ad, "name=%s is not scsi_hostN", vj_quote((const char *)name, q));
	if (attr_uint(d, a, "bus", UINT32_MAX, false, 0, &bus) < 0 ||
	    attr_uint(d, a, "target", UINT32_MAX, false, 0, &target) < 0 ||
	    attr_uint(d, a, "unit", UINT64_MAX, false, 0, &unit) < 0)
		return -1;
	dir = vj_strdupf("%s/bus/scsi/devices/%llu:%llu:%llu:%llu/scsi_generic",
			 vj_root_sysfs(&d->o->roots), (unsigned long long)host,
			 (unsigned long long)bus, (unsigned long long)target,
			 (unsigned long long)unit);
	if (!dir)
		return oom(d->err);
	dh = opendir(dir);
	if (!dh)
		return xml_err(d, a, "SCSI device %llu:%llu:%llu:%llu has no sg node on this host (%s: %s)",
			       (unsigned long long)host, (unsigned long long)bus,
			       (unsigned long long)target, (unsigned long long)unit, dir,
			       strerror(errno));
	while ((de = readdir(dh)))
		if (strncmp(de->d_name, "sg", 2) == 0 && !strchr(de->d_name, '/')) {
			snprintf(sg, sizeof(sg), "/dev/%s", de->d_name);
			break;
		}
	if (!sg[0])
		return xml_err(d, a, "SCSI device %llu:%llu:%llu:%llu has no sg node on this host (%s)",
			       (unsigned long long)host, (unsigned long long)bus,
			       (unsigned long long)target, (unsigned long long)unit, dir);
	return add_device(d, a, sg, readonly ? VJ_ACC_READ : RW);
}

static int hostdev(struct derive *d, xmlNodePtr hd)
{
	_cleanup_xfree_ xmlChar *mode = attr(hd, "mode"), *type = attr(hd, "type");
	const char *m = mode ? (const char *)mode : "subsystem", *t = type ? (const char *)type : "";
	bool readonly = child(hd, "readonly") != NULL;
	char q[VJ_QUOTE_MAX];

	if (strcmp(m, "capabilities") == 0) {
		xmlNodePtr src = child(hd, "source");
		if (strcmp(t, "storage") == 0 && child(src, "block"))
			return add_device_text(d, child(src, "block"), RW);
		if (strcmp(t, "misc") == 0 && child(src, "char"))
			return add_device_text(d, child(src, "char"), RW);
		if (strcmp(t, "net") == 0)
			return 0; /* a host interface: no node */
		return xml_err(d, hd, "a capabilities host device of type=%s is not mapped "
			       "(storage with <block> and misc with <char> are)", vj_quote(t, q));
	}
	if (strcmp(m, "subsystem") != 0)
		return xml_err(d, hd, "mode=%s is not subsystem or capabilities", vj_quote(m, q));
	if (strcmp(t, "pci") == 0)
		return hostdev_pci(d, hd);
	if (strcmp(t, "usb") == 0)
		return hostdev_usb(d, hd);
	if (strcmp(t, "scsi") == 0)
		return hostdev_scsi(d, hd, readonly);
	if (strcmp(t, "scsi_host") == 0)
		return 0; /* vhost-scsi: libvirt opens /dev/vhost-scsi and passes the fd */
	if (strcmp(t, "mdev") == 0)
		return xml_err(d, hd, "mediated devices (type='mdev') are not supported: a vfiojail "
			       "spec has no field for them");
	return xml_err(d, hd, "type=%s is not a host device type vfiojail maps (pci, usb, scsi, "
		       "scsi_host)", vj_quote(t, q));
}

/* ------------------------------------------------------------------------- */
/* Disks                                                                      */

/* A block source (the disk's or a backing store's) and its chain below. */
static int disk_chain(struct derive *d, xmlNodePtr n, bool readonly, unsigned depth)
{
	xmlNodePtr bs = child(n, "backingStore");
	_cleanup_xfree_ xmlChar *type = attr(n, "type");

	if (depth > 64)
		return xml_err(d, n, "the backing chain is deeper than 64");
	if (type && strcmp((const char *)type, "block") == 0) {
		xmlNodePtr src = child(n, "source");
		_cleanup_xfree_ xmlChar *dev = attr(src, "dev");
		if (dev && add_device(d, src, (const char *)dev,
				      readonly ? VJ_ACC_READ : RW) < 0)
			return -1;
	}
	/* A backing image is only read. */
	return bs ? disk_chain(d, bs, true, depth + 1) : 0;
}

static int disk(struct derive *d, xmlNodePtr n)
{
	_cleanup_xfree_ xmlChar *type = attr(n, "type"), *device = attr(n, "device");
	const char *t = type ? (const char *)type : "file";
	/* libvirt makes every cdrom read-only. */
	bool readonly = child(n, "readonly") || (device && strcmp((const char *)device, "cdrom") == 0);

	if (strcmp(t, "nvme") == 0) {
		xmlNodePtr src = child(n, "source"), a = child(src, "address");
		struct vj_pci_addr addr;
		if (!a)
			return xml_err(d, src ? src : n, "an nvme disk needs <source><address .../>");
		if (pci_addr(d, a, &addr) < 0)
			return -1;
		d->nvme++;
		/* QEMU's userspace NVMe driver uses the VFIO group and container. */
		return add_hostdev(d, a, &addr, VJ_BACKEND_LEGACY, true);
	}
	if (strcmp(t, "vhostvdpa") == 0) {
		d->vdpa++; /* libvirt opens the vhost-vdpa node and passes its fd */
		return 0;
	}
	return disk_chain(d, n, readonly, 0);
}

/* ------------------------------------------------------------------------- */
/* Other devices QEMU opens                                                   */

/* A character device source: type='dev' with <source path='/dev/...'/>. */
static int chardev(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr src;

	if (!attr_is(n, "type", "dev"))
		return 0;
	src = child(n, "source");
	if (!src)
		return xml_err(d, n, "type='dev' needs <source path='/dev/...'/>");
	if (!xml2.xmlHasProp(src, (const xmlChar *)"path"))
		return xml_err(d, src, "type='dev' needs a path attribute");
	return add_device_attr(d, src, "path", NULL, RW);
}

static int input(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr src = child(n, "source");

	if (attr_is(n, "type", "evdev"))
		return src ? add_device_attr(d, src, "dev", NULL, RW) : 0;
	if (attr_is(n, "type", "passthrough"))
		return src ? add_device_attr(d, src, "evdev", NULL, RW) : 0;
	return 0;
}

static int tpm(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr be = child(n, "backend");

	if (!attr_is(be, "type", "passthrough"))
		return 0;
	/* libvirt's default device is /dev/tpm0. */
	if (!child(be, "device"))
		return add_device(d, be, "/dev/tpm0", RW);
	return add_device_attr(d, child(be, "device"), "path", "/dev/tpm0", RW);
}

static int rng(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr be = child(n, "backend");
	_cleanup_free_ char *text = NULL;

	if (!be)
		return 0;
	if (attr_is(be, "model", "egd"))
		return chardev(d, be);
	if (!attr_is(be, "model", "random"))
		return 0;
	if (text_of(d, be, &text) < 0)
		return -1;
	/* Empty: QEMU's default, /dev/urandom, which every jail has. */
	return *text ? add_device(d, be, text, VJ_ACC_READ) : 0;
}

/* <gl rendernode='/dev/dri/renderD128'/> of a graphics element, or a video
 * model's <acceleration rendernode=.../>. */
static int rendernode(struct derive *d, xmlNodePtr n)
{
	return n ? add_device_attr(d, n, "rendernode", NULL, RW) : 0;
}

/* nvdimm and virtio-pmem memory devices backed by a node (devdax). */
static int memory_device(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr src = child(n, "source"), path = child(src, "path");
	_cleanup_free_ char *text = NULL;

	if (!path)
		return 0;
	if (text_of(d, path, &text) < 0)
		return -1;
	if (strncmp(text, "/dev/", 5) != 0)
		return 0; /* a file: not a node */
	return add_device(d, path, text, RW);
}

static int interface(struct derive *d, xmlNodePtr n)
{
	xmlNodePtr src = child(n, "source");

	if (attr_is(n, "type", "vdpa")) {
		d->vdpa++; /* libvirt opens the vhost-vdpa node and passes its fd */
		return 0;
	}
	if (attr_is(n, "type", "hostdev")) {
		xmlNodePtr a = child(src, "address");
		struct vj_pci_addr addr;
		if (!a)
			return xml_err(d, src ? src : n, "a hostdev interface needs <source><address .../>");
		if (pci_addr(d, a, &addr) < 0)
			return -1;
		return add_hostdev(d, a, &addr,
				   d->iommufd_default ? VJ_BACKEND_IOMMUFD : VJ_BACKEND_LEGACY, false);
	}
	return 0;
}

static int devices(struct derive *d, xmlNodePtr devs)
{
	int r = 0;

	for (xmlNodePtr n = devs ? devs->children : NULL; n && r == 0; n = n->next) {
		const char *name;

		if (!is_elem(n, NULL))
			continue;
		name = (const char *)n->name;
		if (strcmp(name, "hostdev") == 0)
			r = hostdev(d, n);
		else if (strcmp(name, "disk") == 0)
			r = disk(d, n);
		else if (strcmp(name, "interface") == 0)
			r = interface(d, n);
		else if (strcmp(name, "iommu") == 0)
			d->viommu++;
		else if (strcmp(name, "serial") == 0 || strcmp(name, "parallel") == 0 ||
			 strcmp(name, "console") == 0 || strcmp(name, "channel") == 0 ||
			 strcmp(name, "smartcard") == 0 || strcmp(name, "redirdev") == 0)
			r = chardev(d, n);
		else if (strcmp(name, "input") == 0)
			r = input(d, n);
		else if (strcmp(name, "tpm") == 0)
			r = tpm(d, n);
		else if (strcmp(name, "rng") == 0)
			r = rng(d, n);
		else if (strcmp(name, "graphics") == 0)
			r = rendernode(d, child(n, "gl"));
		else if (strcmp(name, "video") == 0)
			r = rendernode(d, child(child(n, "model"), "acceleration"));
		else if (strcmp(name, "memory") == 0)
			r = memory_device(d, n);
	}
	return r;
}

/* ------------------------------------------------------------------------- */
/* The domain                                                                 */

static int put_string(struct derive *d, const char *key, const char *v)
{
	json_object *s = json_object_new_string(v);

	if (!s || json_object_object_add(d->spec, key, s) < 0) {
		json_object_put(s);
		return oom(d->err);
	}
	return 0;
}

static int put_int(json_object *o, const char *key, int64_t v, struct vj_error **err)
{
	json_object *i = json_object_new_int64(v);

	if (!i || json_object_object_add(o, key, i) < 0) {
		json_object_put(i);
		return oom(err);
	}
	return 0;
}

static int put_name(struct derive *d)
{
	xmlNodePtr n = child(d->root, "name");
	_cleanup_free_ char *text = NULL;

	if (!n)
		return xml_err(d, d->root, "no <name>: the VM's name is required");
	if (text_of(d, n, &text) < 0)
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
			xmlNodePtr l = child(sl, "label");
			char *colon;
			if (!attr_is(sl, "model", "dac") || !l || attr_is(sl, "type", "none"))
				continue;
			if (text_of(d, l, &label) < 0)
				return -1;
			colon = strchr(label, ':');
			if (!colon || colon == label || !colon[1] || strchr(colon + 1, ':'))
				return xml_err(d, l, "%s is not USER:GROUP (names, or +uid:+gid)",
					       vj_quote(label, q));
			*colon = '\0';
			user = dac_id(label);
			d->user_from = node_path(l);
			if (!d->user_from)
				return oom(d->err);
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
	xmlNodePtr mem = child(d->root, "memory"), max = child(d->root, "maxMemory");
	uint64_t bytes = 0, max_bytes = 0;

	if (!mem)
		return xml_err(d, d->root, "no <memory>: the guest's RAM is required");
	if (size_elem(d, mem, &bytes) < 0 || (max && size_elem(d, max, &max_bytes) < 0))
		return -1;
	return put_int(d->spec, "memory", (int64_t)(max_bytes > bytes ? max_bytes : bytes), d->err);
}

/*
 * As libvirt sets QEMU's RLIMIT_MEMLOCK: <memtune><hard_limit> when given,
 * else unlimited for <memoryBacking><locked/>; else the policy decides.
 */
static int put_memlock(struct derive *d)
{
	xmlNodePtr hard = child(child(d->root, "memtune"), "hard_limit");
	json_object *m;
	uint64_t bytes;

	if (hard && size_elem(d, hard, &bytes) < 0)
		return -1;
	/* libvirt's "unlimited" (VIR_DOMAIN_MEMORY_PARAM_UNLIMITED, 2^53-1 KiB) is no limit. */
	if (hard && bytes >= UNLIMITED_KIB * 1024)
		hard = NULL;
	if (hard) {
		m = json_object_new_object();
		if (!m || put_int(m, "hard_limit", (int64_t)bytes, d->err) < 0) {
			json_object_put(m);
			return m ? -1 : oom(d->err);
		}
	} else if (child(child(d->root, "memoryBacking"), "locked")) {
		m = json_object_new_object();
		if (!m || json_object_object_add(m, "unlimited", json_object_new_boolean(1)) < 0) {
			json_object_put(m);
			return oom(d->err);
		}
	} else {
		return 0;
	}
	if (json_object_object_add(d->spec, "memlock", m) < 0) {
		json_object_put(m);
		return oom(d->err);
	}
	return 0;
}

static int put_arch(struct derive *d)
{
	xmlNodePtr type = child(child(d->root, "os"), "type");
	_cleanup_xfree_ xmlChar *arch = attr(type, "arch");
	char q[VJ_QUOTE_MAX];

	if (!arch)
		return 0; /* the host's */
	for (size_t i = 0; i < ARRAY_SIZE(arches); i++)
		if (strcmp((const char *)arch, arches[i]) == 0)
			return put_string(d, "arch", arches[i]);
	return xml_err(d, type, "arch=%s: vfiojail has no such architecture (it knows " ARCH_LIST ")",
		       vj_quote((const char *)arch, q));
}

static int iommufd_default(struct derive *d)
{
	xmlNodePtr n = child(d->root, "iommufd");
	_cleanup_xfree_ xmlChar *en = attr(n, "enabled");
	char q[VJ_QUOTE_MAX];

	if (!n)
		return 0;
	if (en && strcmp((const char *)en, "yes") == 0)
		d->iommufd_default = true;
	else if (!en || strcmp((const char *)en, "no") != 0)
		return xml_err(d, n, "enabled=%s is not yes or no", vj_quote((const char *)en, q));
	return 0;
}

/* <launchSecurity type='sev'|'sev-snp'>: QEMU opens /dev/sev. */
static int launch_security(struct derive *d)
{
	xmlNodePtr n = child(d->root, "launchSecurity");

	if (n && (attr_is(n, "type", "sev") || attr_is(n, "type", "sev-snp")))
		return add_device(d, n, "/dev/sev", RW);
	return 0;
}

static int put_list(struct derive *d, const char *key, json_object **list)
{
	*list = json_object_new_array();
	if (!*list || json_object_object_add(d->spec, key, *list) < 0) {
		json_object_put(*list);
		*list = NULL;
		return oom(d->err);
	}
	return 0;
}

/* No DOCTYPE (libvirt writes none): no entity can be declared, so none is
 * expanded, and a reference to one is a parse error. */
static int check_no_dtd(struct derive *d, xmlDocPtr doc)
{
	if (doc->intSubset || doc->extSubset)
		return vj_err(d->err, VJ_EXIT_USAGE, 0, STEP, "domain XML", NULL,
			      "a DOCTYPE is not accepted: libvirt writes none, and entities are "
			      "not expanded");
	return 0;
}

/* libxml2 loads nothing from outside for us: no external entity, no DTD. */
static xmlParserInputPtr no_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	return NULL;
}

static void docfreep(xmlDocPtr *doc)
{
	if (*doc)
		xml2.xmlFreeDoc(*doc);
}

static void ctxtfreep(xmlParserCtxtPtr *c)
{
	if (*c)
		xml2.xmlFreeParserCtxt(*c);
}

static int parse_xml(const char *xml, size_t len, xmlDocPtr *out, struct vj_error **err)
{
	_cleanup_(ctxtfreep) xmlParserCtxtPtr ctxt = NULL;
	xmlExternalEntityLoader saved;
	const xmlError *e;
	xmlDocPtr doc;
	char msg[256] = "";

	if (!xml)
		return vj_err(err, VJ_EXIT_USAGE, 0, STEP, "domain XML", NULL, "no XML text");
	if (len > VJ_DOMXML_MAX)
		return vj_err(err, VJ_EXIT_USAGE, EFBIG, STEP, "domain XML", NULL,
			      "the domain XML is larger than %u MiB", VJ_DOMXML_MAX >> 20);
	if (memchr(xml, '\0', len))
		return vj_err(err, VJ_EXIT_USAGE, 0, STEP, "domain XML", NULL,
			      "the domain XML contains a NUL byte");
	if (vj_dlib_load(&libxml2, "to read a libvirt domain XML", err) < 0)
		return -1;
	xml2.xmlInitParser();
	ctxt = xml2.xmlNewParserCtxt();
	if (!ctxt)
		return oom(err);
	saved = xml2.xmlGetExternalEntityLoader();
	xml2.xmlSetExternalEntityLoader(no_loader);
	/* No XML_PARSE_NOENT (entities stay unexpanded), no DTD loading or
	 * validation, no network, and libxml2's limits (no XML_PARSE_HUGE). */
	doc = xml2.xmlCtxtReadMemory(ctxt, xml, (int)len, "domain.xml", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
					XML_PARSE_NOCDATA);
	xml2.xmlSetExternalEntityLoader(saved);
	if (!doc || !ctxt->wellFormed) {
		e = xml2.xmlCtxtGetLastError(ctxt);
		if (e && e->message) {
			snprintf(msg, sizeof(msg), "%s", e->message);
			msg[strcspn(msg, "\n")] = '\0';
		}
		if (doc)
			xml2.xmlFreeDoc(doc);
		return vj_err(err, VJ_EXIT_USAGE, 0, STEP, "domain XML", NULL,
			      "line %d: not well-formed XML: %s", e ? e->line : 0,
			      *msg ? msg : "cannot parse");
	}
	*out = doc;
	return 0;
}

/* The spec's object, and in *@user_from where its user came from (a seclabel's
 * label, or NULL). */
static int derive(const char *xml, size_t len, const struct vj_domxml_opts *o, json_object **out,
		  char **user_from, struct vj_error **err)
{
	static const struct vj_domxml_opts none = { 0 };
	_cleanup_(docfreep) xmlDocPtr doc = NULL;
	_cleanup_(derive_clear) struct derive d = { .o = o ? o : &none, .err = err };

	*out = NULL;
	if (parse_xml(xml, len, &doc, err) < 0 || check_no_dtd(&d, doc) < 0)
		return -1;
	d.root = xml2.xmlDocGetRootElement(doc);
	if (!is_elem(d.root, "domain"))
		return vj_err(err, VJ_EXIT_USAGE, 0, STEP, "domain XML", NULL,
			      "the root element is <%s>, not <domain>",
			      d.root ? (const char *)d.root->name : "");
	d.spec = json_object_new_object();
	if (!d.spec)
		return oom(err);
	if (put_name(&d) < 0 || put_user(&d) < 0 || put_memory(&d) < 0 || put_arch(&d) < 0 ||
	    iommufd_default(&d) < 0 || put_list(&d, "hostdevs", &d.hostdevs) < 0 ||
	    put_list(&d, "devices", &d.devices) < 0 ||
	    devices(&d, child(d.root, "devices")) < 0 || launch_security(&d) < 0 ||
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
		*json = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_SPACED |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		if (!*json) {
			vj_spec_free(spec);
			spec = NULL;
			r = oom(err);
		}
	}
	json_object_put(obj);
	if (r == 0)
		*out = spec;
	return r;
}
