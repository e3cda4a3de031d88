/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Specs derived from a launcher's own VM description, for the launch service:
 * the libvirt hook derives one from the domain's XML at "prepare", bounds it by
 * root's spec and installs it; at "release" it goes (vfiojail.h,
 * vj_derived_install).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "name.h"
#include "spec_bound.h"
#include "spec_internal.h"
#include "specdir.h"
#include "sysfs.h"
#include "util.h"

static const char *derived_dir(const struct vj_derived_opts *o)
{
	return o->derived_dir && *o->derived_dir ? o->derived_dir : VJ_DEFAULT_DERIVED_DIR;
}

/* Root's spec for @name: 1 with *out and *path, 0 when there is none (no file,
 * or no spec directory), -1 with *err (an untrusted directory or file: 2). */
static int root_spec(const char *dir, const char *name, struct vj_spec **out, char **path, struct vj_error **err)
{
	struct vj_error *e = NULL;
	_cleanup_close_ int fd = vj_specdir_open(dir, false, "the spec directory", &e);
	int r;

	*out = NULL;
	if (fd < 0 && e && e->errnum == ENOENT) {
		vj_error_free(e);
		return 0;
	}
	if (fd < 0) {
		e->status = VJ_EXIT_USAGE;
		return vj_err_pass(err, e);
	}
	r = vj_specdir_load(fd, dir, name, out, path, err);
	if (r < 0 && err && *err && (*err)->status == VJ_EXIT_DENIED)
		(*err)->status = VJ_EXIT_USAGE;
	return r;
}

/* The checks and the derived spec's plan: 0 with *spec and *plan, or -1. */
static int derive_bounded(const char *name, const char *xml, size_t len, const struct vj_derived_opts *o,
			  struct vj_spec **spec, struct vj_plan **plan, struct vj_error **err)
{
	const char *spec_dir = o->spec_dir && *o->spec_dir ? o->spec_dir : VJ_DEFAULT_SPEC_DIR;
	_cleanup_free_ char *root_path = NULL;
	struct vj_spec *root = NULL;
	struct vj_plan *rplan = NULL;
	struct vj_domxml_opts xo = { .user = o->user, .group = o->group, .roots = o->plan.roots };
	char q1[VJ_QUOTE_MAX], q2[VJ_QUOTE_MAX];
	int r;

	*spec = NULL;
	*plan = NULL;
	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	r = root_spec(spec_dir, name, &root, &root_path, err);
	if (r < 0)
		return -1;
	if (!root && o->require_spec) {
		_cleanup_free_ char *esc = vj_name_escape(name);
		return vj_err(err, VJ_EXIT_USAGE, 0, "derive", spec_dir,
			      "--require-spec: root installs the VM's spec there first",
			      "no spec of root's for %s (%s.json) bounds the domain's", vj_quote(name, q1),
			      esc ? esc : name);
	}
	/* With root's spec, a domain that names no user of its own (no DAC seclabel,
	 * no --user) runs as root's user; one that names one must name root's. */
	if (root && !xo.user)
		xo.default_user = root->user;
	r = vj_spec_from_libvirt(xml, len, &xo, spec, NULL, err);
	if (r == 0 && strcmp((*spec)->name, name) != 0)
		r = vj_err(err, VJ_EXIT_USAGE, 0, "derive", "name",
			   "libvirt runs the hook with the domain's name: is this the domain's XML?",
			   "the domain XML's <name> is %s, not %s", vj_quote((*spec)->name, q1), vj_quote(name, q2));
	if (r == 0 && root) {
		r = vj_spec_resolve_devices(root, o->plan.roots.dev, err);
		if (r == 0)
			r = vj_spec_bound(*spec, true, root, root_path, err);
		if (r == 0)
			r = vj_plan_build(root, &o->plan, &rplan, err);
	}
	if (r == 0)
		r = vj_plan_build(*spec, &o->plan, plan, err);
	if (r == 0 && root)
		r = vj_plan_bound(*plan, rplan, root_path, err);
	vj_plan_free(rplan);
	vj_spec_free(root);
	if (r < 0) {
		vj_plan_free(*plan);
		vj_spec_free(*spec);
		*plan = NULL;
		*spec = NULL;
	}
	return r;
}

int vj_derived_install(const char *name, const char *xml, size_t len, const struct vj_derived_opts *o,
		       struct vj_error **err)
{
	struct vj_spec *spec = NULL;
	struct vj_plan *plan = NULL;
	int r;

	r = derive_bounded(name, xml, len, o, &spec, &plan, err);
	if (r == 0)
		r = vj_specdir_install(derived_dir(o), spec, plan, err);
	if (r < 0 && vj_validate_name(name, NULL, NULL) == 0)
		/* Refused: no spec of an earlier start may stand in for this one. */
		vj_specdir_remove(derived_dir(o), name, NULL);
	vj_plan_free(plan);
	vj_spec_free(spec);
	return r;
}

int vj_derived_remove(const char *name, const struct vj_derived_opts *o, struct vj_error **err)
{
	if (vj_validate_name(name, "NAME", err) < 0)
		return -1;
	return vj_specdir_remove(derived_dir(o), name, err);
}
