/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCI addresses: "DDDD:BB:SS.F" or the short "BB:SS.F" (domain 0000). */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "spec_internal.h"
#include "vfiojail/vfiojail.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly @n hex digits at @s; -1 when any is not one. */
static long hex_field(const char *s, size_t n)
{
	long v = 0;

	for (size_t i = 0; i < n; i++) {
		int d = hex_digit(s[i]);
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static int pci_fail(struct vj_error **err, const char *field, const char *s, const char *why)
{
	char q[VJ_QUOTE_MAX];

	return vj_err_spec(err, field ? field : "pci", "%s is not a PCI address: %s", vj_quote(s, q),
			   why);
}

int vj_parse_pci_addr(const char *s, struct vj_pci_addr *out, const char *field,
		      struct vj_error **err)
{
	const char *bdf;
	long domain = 0, bus, slot, function;
	size_t len;

	if (!s)
		return pci_fail(err, field, "", "empty");
	len = strlen(s);
	if (len == 12) {
		if (s[4] != ':')
			return pci_fail(err, field, s, "expected DDDD:BB:SS.F or BB:SS.F");
		domain = hex_field(s, 4);
		if (domain < 0)
			return pci_fail(err, field, s, "domain must be 4 hex digits");
		bdf = s + 5;
	} else if (len == 7) {
		bdf = s;
	} else {
		return pci_fail(err, field, s, "expected DDDD:BB:SS.F or BB:SS.F");
	}
	if (bdf[2] != ':' || bdf[5] != '.')
		return pci_fail(err, field, s, "expected DDDD:BB:SS.F or BB:SS.F");
	bus = hex_field(bdf, 2);
	if (bus < 0)
		return pci_fail(err, field, s, "bus must be 2 hex digits");
	slot = hex_field(bdf + 3, 2);
	if (slot < 0 || slot > 0x1f)
		return pci_fail(err, field, s, "slot must be 00-1f");
	function = hex_field(bdf + 6, 1);
	if (function < 0 || function > 7)
		return pci_fail(err, field, s, "function must be 0-7");
	*out = (struct vj_pci_addr){
		.domain = (uint16_t)domain,
		.bus = (uint8_t)bus,
		.slot = (uint8_t)slot,
		.function = (uint8_t)function,
	};
	return 0;
}

void vj_pci_addr_format(const struct vj_pci_addr *a, char buf[static 13])
{
	snprintf(buf, 13, "%04x:%02x:%02x.%x", a->domain, a->bus, (unsigned)(a->slot & 0x1f),
		 (unsigned)(a->function & 7));
}
