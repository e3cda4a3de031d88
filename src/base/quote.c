/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Values and names quoted safely into messages (quote.h, vj_name_shown). */
#include "quote.h"

#include <stdio.h>
#include <string.h>

#include "vfiojail/vfiojail.h"

#define QUOTE_MAX_INPUT 64

static const char hex[] = "0123456789abcdef";

/* @s double-quoted into @buf, at most @max_in bytes of it ("..." marks the rest):
 * room for 4 * max_in + 6 bytes. */
static const char *quote(const char *s, size_t max_in, char *buf)
{
	char *p = buf;
	size_t i;

	*p++ = '"';
	for (i = 0; s[i] && i < max_in; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			*p++ = '\\';
			*p++ = 'x';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
		} else {
			*p++ = (char)c;
		}
	}
	*p++ = '"';
	if (s[i]) {
		memcpy(p, "...", 3);
		p += 3;
	}
	*p = '\0';
	return buf;
}

const char *vj_quote(const char *s, char buf[static VJ_QUOTE_MAX])
{
	if (!s) {
		snprintf(buf, VJ_QUOTE_MAX, "(null)");
		return buf;
	}
	return quote(s, QUOTE_MAX_INPUT, buf);
}

_Static_assert(VJ_NAME_SHOWN_MAX >= 4 * VJ_NAME_MAX_BYTES + 6, "room for a quoted name");

const char *vj_name_shown(const char *name, char buf[static VJ_NAME_SHOWN_MAX])
{
	const unsigned char *s = (const unsigned char *)name;

	if (!name)
		return "(null)";
	for (size_t i = 0; s[i]; i++)
		if (s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f))
			return quote(name, VJ_NAME_MAX_BYTES, buf);
	return name;
}
