/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared libraries loaded on first use. */
#include "dlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define STEP "library"

static pthread_mutex_t dlib_lock = PTHREAD_MUTEX_INITIALIZER;

/* Under dlib_lock: 1 loaded, -1 failed (lib->why says why). */
static int dlib_open(struct vj_dlib *lib)
{
	/* RTLD_NOW: a missing symbol fails here, not at a later call; RTLD_LOCAL: its
	 * symbols serve this table only.  Never closed: the pointers stay valid. */
	void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	const char *e;

	if (!h)
		goto fail;
	for (size_t i = 0; i < lib->n_syms; i++) {
		dlerror();
		*lib->syms[i].addr = dlsym(h, lib->syms[i].name);
		if (!*lib->syms[i].addr)
			goto fail;
	}
	return 1;
fail:
	e = dlerror();
	lib->why = strdup(e ? e : "unknown error");
	return -1;
}

int vj_dlib_load(struct vj_dlib *lib, const char *needed_for, struct vj_error **err)
{
	int state = __atomic_load_n(&lib->state, __ATOMIC_ACQUIRE);
	char hint[128];

	if (state == 0) {
		pthread_mutex_lock(&dlib_lock);
		state = lib->state;
		if (state == 0) {
			state = dlib_open(lib);
			__atomic_store_n(&lib->state, state, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&dlib_lock);
	}
	if (state > 0)
		return 0;
	snprintf(hint, sizeof(hint), "install the package that ships it (%s)",
		 lib->package ? lib->package : lib->soname);
	return vj_err_sys(err, STEP, lib->soname, 0, hint, "cannot load %s%s%s: %s", lib->soname,
			  needed_for ? " " : "", needed_for ? needed_for : "",
			  lib->why ? lib->why : "out of memory");
}
