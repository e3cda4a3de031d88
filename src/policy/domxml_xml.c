/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading a libvirt domain XML (domxml_internal.h): libxml2, loaded on first
 * use, parses it without network, DTD or entity expansion; then its elements,
 * attributes, texts, numbers and sizes as libvirt reads them, and the path of
 * an element below <domain> that errors name ("devices/hostdev[2]/source").
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlib.h"
#include "domxml_internal.h"
#include "error.h"
#include "quote.h"
#include "util.h"

#define TEXT_MAX 4096

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

int vj_dx_oom(struct vj_error **err)
{
	return vj_err(err, VJ_EXIT_SETUP, ENOMEM, STEP, NULL, NULL, "out of memory");
}

void vj_xml_freep(xmlChar **p)
{
	if (*p)
		xml2_free(*p);
}
#define _cleanup_xfree_ _cleanup_(vj_xml_freep)

/* ------------------------------------------------------------------------- */
/* Elements and their names in messages                                      */

bool vj_xml_is_elem(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !n->ns &&
	       (!name || xml2.xmlStrcmp(n->name, (const xmlChar *)name) == 0);
}

/* The first child element @name (libvirt's own: no namespace), or NULL. */
xmlNodePtr vj_xml_child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (vj_xml_is_elem(c, name))
			return c;
	return NULL;
}

/* The next sibling element named as @n. */
xmlNodePtr vj_xml_next_same(xmlNodePtr n)
{
	for (xmlNodePtr c = n->next; c; c = c->next)
		if (vj_xml_is_elem(c, (const char *)n->name))
			return c;
	return NULL;
}

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
	if (pos > 1 || (n->next && vj_xml_next_same(n)))
		indexed = true;
	return indexed ? vj_strdupf("%s[%zu]", (const char *)n->name, pos)
		       : strdup((const char *)n->name);
}

/* The element's path below the root ("devices/disk[1]/source"); the root is "domain". */
char *vj_xml_path(xmlNodePtr n)
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

int vj_dx_err(struct derive *d, xmlNodePtr n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vj_dx_err(struct derive *d, xmlNodePtr n, const char *fmt, ...)
{
	_cleanup_free_ char *where = vj_xml_path(n), *msg = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0 || !where)
		return vj_dx_oom(d->err);
	return vj_err(d->err, VJ_EXIT_USAGE, 0, STEP, where, NULL, "%s", msg);
}

/* An attribute's value (xmlFree), or NULL when absent. */
xmlChar *vj_xml_attr(xmlNodePtr n, const char *name)
{
	return n ? xml2.xmlGetNoNsProp(n, (const xmlChar *)name) : NULL;
}

bool vj_xml_attr_is(xmlNodePtr n, const char *name, const char *value)
{
	_cleanup_xfree_ xmlChar *v = vj_xml_attr(n, name);

	return v && strcmp((const char *)v, value) == 0;
}

bool vj_xml_has_attr(xmlNodePtr n, const char *name)
{
	return n && xml2.xmlHasProp(n, (const xmlChar *)name) != NULL;
}

/* The element's text without the white space around it: 0, or -1 (with the
 * error) when it is longer than TEXT_MAX.  *out is NULL-free: "" when empty. */
int vj_dx_text(struct derive *d, xmlNodePtr n, char **out)
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
		return vj_dx_err(d, n, "the text is longer than %d bytes", TEXT_MAX);
	*out = strndup(s, len);
	return *out ? 0 : vj_dx_oom(d->err);
}

/* ------------------------------------------------------------------------- */
/* Numbers as libvirt reads them                                             */

/* An unsigned number in C's notation, as libvirt's base-0 attributes take it:
 * 0x.. hexadecimal, a leading 0 octal, else decimal; no sign, no space. */
bool vj_xml_c_uint(const char *s, uint64_t max, uint64_t *out)
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
int vj_dx_attr_uint(struct derive *d, xmlNodePtr n, const char *name, uint64_t max,
		     bool optional, uint64_t dflt, uint64_t *out)
{
	_cleanup_xfree_ xmlChar *v = vj_xml_attr(n, name);
	char q[VJ_QUOTE_MAX];

	if (!v) {
		if (optional) {
			*out = dflt;
			return 0;
		}
		return vj_dx_err(d, n, "the %s attribute is missing", name);
	}
	if (!vj_xml_c_uint((const char *)v, max, out))
		return vj_dx_err(d, n, "%s=%s is not a number from 0 to %#llx (decimal, 0x hexadecimal "
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
int vj_dx_size(struct derive *d, xmlNodePtr n, uint64_t *out)
{
	_cleanup_xfree_ xmlChar *unit = vj_xml_attr(n, "unit");
	_cleanup_free_ char *text = NULL;
	char q[VJ_QUOTE_MAX];
	uint64_t v = 0, scale, bytes;

	if (vj_dx_text(d, n, &text) < 0)
		return -1;
	if (!unit_scale((const char *)unit, 1024, &scale))
		return vj_dx_err(d, n, "unit=%s is not a unit libvirt knows (b, bytes, KiB, k, KB, MiB, "
			       "M, MB, GiB, G, GB, TiB, T, TB, PiB, P, PB, EiB, E, EB)",
			       vj_quote((const char *)unit, q));
	if (!*text)
		return vj_dx_err(d, n, "no size: the element is empty");
	for (const char *c = text; *c; c++) {
		if (*c < '0' || *c > '9')
			return vj_dx_err(d, n, "%s is not a decimal number", vj_quote(text, q));
		if (v > (UINT64_MAX - (uint64_t)(*c - '0')) / 10)
			return vj_dx_err(d, n, "%s is too large", vj_quote(text, q));
		v = v * 10 + (uint64_t)(*c - '0');
	}
	if (scale && v > UINT64_MAX / scale)
		return vj_dx_err(d, n, "%s %s is too large", text, unit ? (const char *)unit : "KiB");
	bytes = v * scale;
	if (bytes % 1024) {
		if (bytes > UINT64_MAX - 1023)
			return vj_dx_err(d, n, "%s %s is too large", text, unit ? (const char *)unit : "KiB");
		bytes += 1024 - bytes % 1024;
	}
	if (bytes > (uint64_t)INT64_MAX)
		return vj_dx_err(d, n, "%s %s is too large (at most %lld bytes)", text,
			       unit ? (const char *)unit : "KiB", (long long)INT64_MAX);
	*out = bytes;
	return 0;
}

/* No DOCTYPE (libvirt writes none): no entity can be declared, so none is
 * expanded, and a reference to one is a parse error. */
static int check_no_dtd(xmlDocPtr doc, struct vj_error **err)
{
	if (doc->intSubset || doc->extSubset)
		return vj_err(err, VJ_EXIT_USAGE, 0, STEP, "domain XML", NULL,
			      "a DOCTYPE is not accepted: libvirt writes none, and entities are "
			      "not expanded");
	return 0;
}

/* libxml2 loads nothing from outside for us: no external entity, no DTD. */
static xmlParserInputPtr no_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	return NULL;
}

void vj_xml_doc_freep(xmlDocPtr *doc)
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
		return vj_dx_oom(err);
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

int vj_xml_read_domain(const char *xml, size_t len, xmlDocPtr *doc, xmlNodePtr *root, struct vj_error **err)
{
	if (parse_xml(xml, len, doc, err) < 0 || check_no_dtd(*doc, err) < 0)
		return -1;
	*root = xml2.xmlDocGetRootElement(*doc);
	if (!vj_xml_is_elem(*root, "domain"))
		return vj_err(err, VJ_EXIT_USAGE, 0, STEP, "domain XML", NULL,
			      "the root element is <%s>, not <domain>",
			      *root ? (const char *)(*root)->name : "");
	return 0;
}
