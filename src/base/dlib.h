/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A shared library loaded on first use (dlopen), for the ones only some commands
 * need: loading a library costs every process that links it, whether it calls it
 * or not (libmount brings libblkid, libselinux and libpcre2, libxml2 brings ICU
 * and libstdc++), and a launch calls neither.
 *
 * A user lists the library's symbols once, each with the function pointer it
 * fills:
 *
 *	static struct { typeof(mnt_new_table) *new_table; ... } mnt;
 *	static const struct vj_dlib_sym mnt_syms[] = {
 *		VJ_DLIB_SYM(mnt, new_table, mnt_new_table), ...
 *	};
 *	static struct vj_dlib libmount = VJ_DLIB("libmount.so.1", "libmount1", mnt_syms);
 *
 * and calls vj_dlib_load(&libmount, err) before the first call through mnt.
 */
#pragma once

#include <stddef.h>

#include "vfiojail/vfiojail.h"

struct vj_dlib_sym {
	const char *name;
	void **addr; /* the function pointer to fill, as a void * (POSIX's dlsym idiom) */
};

struct vj_dlib {
	const char *soname;  /* e.g. "libmount.so.1": the ABI the headers describe */
	const char *package; /* the package that ships it, for the hint */
	const struct vj_dlib_sym *syms;
	size_t n_syms;
	int state; /* 0 not tried, 1 loaded (every symbol found), -1 failed */
	char *why; /* the first failure's dlerror() text */
};

#define VJ_DLIB_SYM(table, field, sym) { #sym, (void **)&(table).field }
#define VJ_DLIB(so, pkg, syms_) \
	{ .soname = (so), .package = (pkg), .syms = (syms_), .n_syms = sizeof(syms_) / sizeof((syms_)[0]) }

/*
 * Load @lib and resolve all its symbols, once per process (thread-safe; later calls
 * return the first answer).  On failure: -1 and an error with status VJ_EXIT_SETUP,
 * step "library", the soname as object, dlerror's text and a hint naming the package;
 * @needed_for says what needed it (e.g. "to read the mount table").
 */
int vj_dlib_load(struct vj_dlib *lib, const char *needed_for, struct vj_error **err);
