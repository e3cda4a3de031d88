/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM names, and quoting values safely into messages. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "spec_internal.h"
#include "vfiojail/vfiojail.h"

#define NAME_MAX_LEN 64
#define QUOTE_MAX_INPUT 64

const char *vj_quote(const char *s, char buf[static VJ_QUOTE_MAX])
{
	static const char hex[] = "0123456789abcdef";
	char *p = buf;
	size_t i;

	if (!s) {
		snprintf(buf, VJ_QUOTE_MAX, "(null)");
		return buf;
	}
	*p++ = '"';
	for (i = 0; s[i] && i < QUOTE_MAX_INPUT; i++) {
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

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

int vj_validate_name(const char *name, const char *field, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX], bad[2] = { 0 }, qbad[VJ_QUOTE_MAX];
	size_t len;

	if (!field)
		field = "name";
	if (!name || !*name)
		return vj_err_spec(err, field, "\"\" is not a valid name: it is empty");
	len = strlen(name);
	if (len > NAME_MAX_LEN)
		return vj_err_spec(err, field,
				   "%s is not a valid name: it is %zu bytes long, at most %d allowed",
				   vj_quote(name, q), len, NAME_MAX_LEN);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return vj_err_spec(err, field, "%s is not a valid name: \".\" and \"..\" are reserved",
				   vj_quote(name, q));
	if (name[0] == '-')
		return vj_err_spec(err, field,
				   "%s is not a valid name: it starts with \"-\", which the command "
				   "line would read as an option",
				   vj_quote(name, q));
	for (size_t i = 0; i < len; i++) {
		if (name_char_ok(name[i]))
			continue;
		bad[0] = name[i];
		return vj_err_spec(err, field,
				   "%s is not a valid name: character %s is not allowed "
				   "(use A-Z a-z 0-9 _ . -)",
				   vj_quote(name, q), vj_quote(bad, qbad));
	}
	return 0;
}
