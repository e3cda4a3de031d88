/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM names and their escape into file and cgroup names. */
#include "name.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "quote.h"
#include "vfiojail/vfiojail.h"

static const char hex[] = "0123456789abcdef";

/* The length of the well-formed UTF-8 sequence at @s (1 to 4), or 0: a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut short. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0; /* 0x80-0xc1: continuation or overlong lead; 0xf5-0xff */
	if (c == 0xe0)
		lo = 0xa0; /* overlong below U+0800 */
	else if (c == 0xed)
		hi = 0x9f; /* U+D800-U+DFFF, surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong below U+10000 */
	else if (c == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* A byte the escape keeps as it is (at offset @i); bytes >= 0x80 are kept too. */
static bool kept(unsigned char c, size_t i)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || (c == '.' && i > 0) || c >= 0x80;
}

/* The escape's length (without the NUL); @name must be valid UTF-8. */
static size_t escaped_len(const char *name)
{
	size_t n = 0;

	for (size_t i = 0; name[i]; i++)
		n += kept((unsigned char)name[i], i) ? 1 : 4;
	return n;
}

int vj_validate_name(const char *name, const char *field, struct vj_error **err)
{
	const unsigned char *s = (const unsigned char *)name;
	char q[VJ_QUOTE_MAX];
	size_t len, n;

	if (!field)
		field = "name";
	if (!name || !*name)
		return vj_err_spec(err, field, "\"\" is not a valid name: it is empty");
	len = strlen(name);
	if (len > VJ_NAME_MAX_BYTES)
		return vj_err_spec(err, field,
				   "%s is not a valid name: it is %zu bytes long, at most %d allowed",
				   vj_quote(name, q), len, VJ_NAME_MAX_BYTES);
	for (size_t i = 0; i < len; i += n) {
		n = utf8_len(s + i);
		if (n == 0)
			return vj_err_spec(err, field,
					   "%s is not a valid name: it is not valid UTF-8 (at byte %zu)",
					   vj_quote(name, q), i);
		if (s[i] == '/')
			return vj_err_spec(err, field, "%s is not a valid name: \"/\" is not allowed",
					   vj_quote(name, q));
	}
	n = escaped_len(name);
	if (n > VJ_NAME_ESCAPED_MAX)
		return vj_err_spec(err, field,
				   "%s is not a valid name: its escaped form (for file, cgroup and pin "
				   "names) is %zu bytes long, at most %d allowed",
				   vj_quote(name, q), n, VJ_NAME_ESCAPED_MAX);
	return 0;
}

char *vj_name_escape(const char *name)
{
	char *out, *p;

	if (vj_validate_name(name, NULL, NULL) < 0) {
		errno = EINVAL;
		return NULL;
	}
	out = malloc(escaped_len(name) + 1);
	if (!out)
		return NULL;
	p = out;
	for (size_t i = 0; name[i]; i++) {
		unsigned char c = (unsigned char)name[i];
		if (kept(c, i)) {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		*p++ = 'x';
		*p++ = hex[c >> 4];
		*p++ = hex[c & 0xf];
	}
	*p = '\0';
	return out;
}

static int hex_digit(char c)
{
	const char *p = c ? strchr(hex, c) : NULL;

	return p ? (int)(p - hex) : -1; /* lowercase only: \xAB is not canonical */
}

int vj_name_unescape(const char *escaped, char **name)
{
	size_t len = escaped ? strlen(escaped) : 0;
	char *out, *p, *again;
	bool ok = len > 0 && len <= VJ_NAME_ESCAPED_MAX;

	*name = NULL;
	if (!ok) {
		errno = EINVAL;
		return -1;
	}
	out = malloc(len + 1);
	if (!out)
		return -1;
	p = out;
	for (size_t i = 0; ok && escaped[i];) {
		int h, l;
		if (escaped[i] != '\\') {
			*p++ = escaped[i++];
			continue;
		}
		h = escaped[i + 1] == 'x' ? hex_digit(escaped[i + 2]) : -1;
		l = h >= 0 ? hex_digit(escaped[i + 3]) : -1;
		ok = l >= 0 && (h || l); /* \x00 would end the name */
		*p++ = (char)(h << 4 | l);
		i += 4;
	}
	*p = '\0';
	/* Canonical: exactly what escaping the result gives (which also validates it). */
	again = ok ? vj_name_escape(out) : NULL;
	if (!again || strcmp(again, escaped) != 0) {
		int e = ok && !again && errno == ENOMEM ? ENOMEM : EINVAL;
		free(again);
		free(out);
		errno = e;
		return -1;
	}
	free(again);
	*name = out;
	return 0;
}
