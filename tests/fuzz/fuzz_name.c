/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vj_validate_name against the rule written out independently (glibc's UTF-8
 * decoder, not vfiojail's): valid UTF-8, 1 to 200 bytes, no "/", an escape of at
 * most 240 bytes; and for every valid name, the escape is a plain file name that
 * unescapes back to the name. */
#include <locale.h>
#include <stdbool.h>
#include <wchar.h>

#include "fuzz.h"
#include "name.h"

static bool keeps(const char *s, size_t i)
{
	unsigned char c = (unsigned char)s[i];

	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || (c == '.' && i > 0) || c >= 0x80;
}

static bool oracle(const char *s)
{
	size_t len = strlen(s), esc = 0;
	mbstate_t st = { 0 };

	if (len < 1 || len > 200 || strchr(s, '/'))
		return false;
	for (size_t i = 0; i < len;) {
		wchar_t wc = 0;
		size_t n = mbrtowc(&wc, s + i, len - i, &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0)
			return false;
		/* glibc decodes the old 5- and 6-byte forms; Unicode ends at U+10FFFF
		 * and has no surrogates in UTF-8 (RFC 3629). */
		if ((uint32_t)wc > 0x10FFFF || ((uint32_t)wc >= 0xD800 && (uint32_t)wc <= 0xDFFF))
			return false;
		i += n;
	}
	for (size_t i = 0; i < len; i++)
		esc += keeps(s, i) ? 1 : 4;
	return esc <= 240;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool locale;
	char *s = fuzz_cstr(data, size);
	struct vj_error *err = NULL;
	int r;

	if (!locale) {
		FUZZ_ASSERT(setlocale(LC_CTYPE, "C.UTF-8"));
		locale = true;
	}
	r = vj_validate_name(s, "name", &err);
	FUZZ_ASSERT((r == 0) == oracle(s));
	FUZZ_ASSERT((r == 0) == (err == NULL));
	if (err)
		FUZZ_ASSERT(err->status == VJ_EXIT_USAGE && err->object &&
			    !strcmp(err->object, "name"));
	if (r == 0) {
		char *esc = vj_name_escape(s), *back = NULL;
		FUZZ_ASSERT(esc && strlen(esc) <= 240 && !strchr(esc, '/') && esc[0] != '.');
		for (const char *c = esc; *c; c++)
			FUZZ_ASSERT((unsigned char)*c >= 0x20 && *c != 0x7f);
		FUZZ_ASSERT(vj_name_unescape(esc, &back) == 0 && !strcmp(back, s));
		free(back);
		free(esc);
	}
	fuzz_consume_error(err);
	free(s);
	return 0;
}
