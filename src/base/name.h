/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VM names as file, directory, cgroup and pin names.
 *
 * A name is any valid UTF-8 string of 1 to VJ_NAME_MAX_BYTES bytes without "/"
 * (vj_validate_name).  Where a name becomes a file name (NAME.json, NAME.lock,
 * NAME.json.tmp in the state directory, the namespace binding ns/NAME), a cgroup
 * (vfiojail-NAME) or a bpffs pin directory, its escaped form is used:
 * A-Z a-z 0-9 "_" "-", "." except as the first byte, and every byte of a non-ASCII
 * character are kept; every other byte (ASCII controls, space, punctuation, "\\",
 * a leading ".") is written \xHH, lowercase hex.  The names that were valid before
 * ([A-Za-z0-9_.-], not starting with ".") are their own escape.
 */
#pragma once

#include <stdbool.h>

#include "vfiojail/vfiojail.h" /* VJ_NAME_MAX_BYTES, vj_validate_name, vj_name_shown */

#define VJ_NAME_ESCAPED_MAX 240 /* "vfiojail-" + 240 and 240 + ".json.tmp" stay below NAME_MAX */

/* The escape of a valid name (malloc'd), or NULL: errno EINVAL for a name
 * vj_validate_name refuses, ENOMEM. */
char *vj_name_escape(const char *name);

/* The name whose escape @escaped is: 0 and *name (malloc'd), or -1 with errno:
 * EINVAL when @escaped is not exactly the escape of a valid name (so that
 * vj_name_escape(*name) equals @escaped), ENOMEM. */
int vj_name_unescape(const char *escaped, char **name);
