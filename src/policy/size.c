/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Byte sizes: "32GiB", "512M", "4 KiB", "1073741824"; binary units only. */
#include "size.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "spec_internal.h"
#include "util.h"
#include "vfiojail/vfiojail.h"

#define SIZE_UNITS "bytes or KiB/MiB/GiB/TiB"

struct size_unit {
	const char *name;
	unsigned shift;
};

/* Case-insensitive: "k", "KiB", "kib" and "KIB" are all 2^10. */
static const struct size_unit size_units[] = {
	{ "", 0 },   { "B", 0 },    { "K", 10 },   { "KiB", 10 }, { "M", 20 },
	{ "MiB", 20 }, { "G", 30 }, { "GiB", 30 }, { "T", 40 },   { "TiB", 40 },
};

static int size_unit_shift(const char *unit, unsigned *shift)
{
	for (size_t i = 0; i < ARRAY_SIZE(size_units); i++) {
		if (strcasecmp(unit, size_units[i].name) == 0) {
			*shift = size_units[i].shift;
			return 0;
		}
	}
	return -1;
}

/* "KB", "mb", "GB", "TB", "PB", "EB": decimal units, refused with their own message. */
static bool size_unit_is_decimal(const char *unit)
{
	return strlen(unit) == 2 && strchr("KkMmGgTtPpEe", unit[0]) && (unit[1] == 'B' || unit[1] == 'b');
}

static int size_fail(struct vj_error **err, const char *field, const char *s, const char *why)
{
	char q[VJ_QUOTE_MAX];

	return vj_err_spec(err, field ? field : "size", "%s is not a size (" SIZE_UNITS ")%s%s",
			   vj_quote(s, q), why ? ": " : "", why ? why : "");
}

int vj_parse_size(const char *s, uint64_t *out, const char *field, struct vj_error **err)
{
	const char *p = s;
	uint64_t v = 0;
	unsigned shift;
	char q[VJ_QUOTE_MAX];

	if (!s || !*s)
		return size_fail(err, field, s ? s : "", "empty");
	if (*p == '-')
		return size_fail(err, field, s, "negative");
	if (*p < '0' || *p > '9')
		return size_fail(err, field, s, "must start with a digit");
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return vj_err_spec(err, field ? field : "size",
					   "%s is too large: more than 2^64-1 bytes", vj_quote(s, q));
		v = v * 10 + d;
	}
	if (*p == '.' || *p == ',')
		return size_fail(err, field, s, "fractions are not accepted");
	if (*p == ' ' && p[1] != '\0' && p[1] != ' ')
		p++;
	if (size_unit_is_decimal(p))
		return size_fail(err, field, s,
				 "decimal units are not accepted, binary units only (KiB = 1024 bytes)");
	if (size_unit_shift(p, &shift) < 0)
		return size_fail(err, field, s, NULL);
	if (shift && v > (UINT64_MAX >> shift))
		return vj_err_spec(err, field ? field : "size",
				   "%s is too large: more than 2^64-1 bytes", vj_quote(s, q));
	*out = v << shift;
	return 0;
}

void vj_size_format(uint64_t bytes, char buf[static 32])
{
	static const char *const names[] = { "TiB", "GiB", "MiB", "KiB" };
	static const unsigned shifts[] = { 40, 30, 20, 10 };

	for (size_t i = 0; bytes && i < ARRAY_SIZE(shifts); i++) {
		uint64_t mask = (UINT64_C(1) << shifts[i]) - 1;
		if ((bytes & mask) == 0) {
			snprintf(buf, 32, "%llu%s", (unsigned long long)(bytes >> shifts[i]), names[i]);
			return;
		}
	}
	snprintf(buf, 32, "%lluB", (unsigned long long)bytes);
}
