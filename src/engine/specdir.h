/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The directories root's specs are read from: root's own (/etc/vfiojail/vm,
 * written by root) and the derived specs (/run/vfiojail/libvirt, written by
 * vfiojail derive --install from the libvirt hook).  Both are reached from "/"
 * one component at a time, no symlink followed, every directory root's and
 * writable by no one else; the files in them likewise.  The file of VM NAME is
 * ESC.json, ESC its escaped name (vfiojail-spec(5)).
 */
#pragma once

#include <stdbool.h>

#include "vfiojail/vfiojail.h"

/* Owned by root and writable by no one else (status VJ_EXIT_DENIED otherwise);
 * @what and @path name it in the message. */
struct stat;
int vj_root_only(const struct stat *st, const char *what, const char *path, struct vj_error **err);

/*
 * The fd of directory @dir (absolute), walked from "/" with openat and
 * O_NOFOLLOW; every directory on the way root's and writable by no one else.
 * With @create, missing components are made: mode 0755 on the way, @dir itself
 * 0700.  @what names @dir in messages ("the spec directory").  -1 with *err
 * (status 125; errnum ENOENT when a component is missing and not made).
 */
int vj_specdir_open(const char *dir, bool create, const char *what, struct vj_error **err);

/*
 * <@dirfd>/ESC.json for VM @name (@dir, the directory's path, for messages):
 * a regular file of root's, writable by no one else, at most 1 MiB, whose
 * "name" is @name.  1 with *out; 0 when there is no such file (*out NULL); -1
 * with *err (status VJ_EXIT_DENIED: not trusted or not @name's, 125: cannot be
 * read, 2: does not parse).  With @path, *path is the file's path (the caller's).
 */
int vj_specdir_load(int dirfd, const char *dir, const char *name, struct vj_spec **out, char **path,
		    struct vj_error **err);

/*
 * Write @spec as JSON to <dir>/ESC.json (its group and, from @plan, its
 * supplementary groups only when the spec named them),
 * atomically (a new file renamed over the old one), root's, mode 0600, the
 * directory made as vj_specdir_open(create) makes it.  0, or -1 with *err.
 */
int vj_specdir_install(const char *dir, const struct vj_spec *spec, const struct vj_plan *plan,
		       struct vj_error **err);

/* Remove <dir>/ESC.json: 0 when it is gone or was never there (a missing
 * directory too), -1 with *err. */
int vj_specdir_remove(const char *dir, const char *name, struct vj_error **err);

/* Each of @s's device paths that is a symlink under the dev root @dev_root
 * (NULL: /dev) becomes the node it leads to, as a derived spec names it (a
 * path that does not resolve to a node under the dev root is kept as written):
 * root may write /dev/mapper/vg-lv where the domain's XML resolves to
 * /dev/dm-3.  0, or -1 with *err (out of memory). */
int vj_spec_resolve_devices(struct vj_spec *s, const char *dev_root, struct vj_error **err);
