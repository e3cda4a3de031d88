/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The plan: a pure function of (spec, host snapshot).  `plan` prints it, `run` applies it. */
#pragma once

#include "vfiojail/vfiojail.h"

/* The host's uname -m, as spec "arch" values are written. */
const char *vj_host_arch(void);
