/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Byte sizes: parsing lives in the public API (vj_parse_size). */
#pragma once

#include <stdint.h>

/* Shortest exact binary form: 34359738368 -> "32GiB", 1000 -> "1000B". */
void vj_size_format(uint64_t bytes, char buf[static 32]);
