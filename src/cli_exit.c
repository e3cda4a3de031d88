/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An error into an exit status: the CLI's one place for it (cli.h). */
#include "cli.h"

#include <stdio.h>

#include "error.h"

/* The CLI's one place where an error becomes an exit status: print and free @e
 * when there is one; a library call's -1 becomes its error's status (125 when it
 * has none: out of memory), any other @r (a VMM's status, a command's verdict)
 * is returned as it is. */
int exit_status(int r, struct vj_error *e)
{
	if (r >= 0 && !e)
		return r;
	if (r < 0)
		r = e && e->status ? e->status : VJ_EXIT_SETUP;
	vj_error_print(e, stderr); /* NULL: "out of memory" */
	vj_error_free(e);
	return r;
}
