/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Values quoted safely into messages; a VM name shown safely is vj_name_shown
 * (vfiojail.h), also here (quote.c). */
#pragma once

#include <stddef.h>

/* Room for a quoted value: 64 input bytes, each at most 4 output bytes, plus
 * the quotes, an ellipsis and the NUL. */
#define VJ_QUOTE_MAX 300

/*
 * Write @s into @buf as a double-quoted string safe to print: '"' and '\\' are
 * escaped, control characters and bytes >= 0x80 become \xNN, and input past 64
 * bytes is cut and marked with "...".  NULL prints as (null).  Returns @buf.
 */
const char *vj_quote(const char *s, char buf[static VJ_QUOTE_MAX]);
