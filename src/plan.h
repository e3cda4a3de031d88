/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plan: a pure function of (spec, host snapshot).  `plan` prints it, `run` applies it. */
#pragma once

#include <stdio.h>

#include "vfiojail/vfiojail.h"

/* The host's uname -m, as spec "arch" values are written. */
const char *vj_host_arch(void);

struct json_object;
/* Print @o pretty, as every --json output of vfiojail is, then release it. */
int vj_json_print_put(struct json_object *o, FILE *f);
