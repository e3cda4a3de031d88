/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VM spec derived from a libvirt domain XML (vfiojail-spec(5), "Derived from a
 * libvirt domain"): the spec's JSON object is built from the XML and read by the
 * spec parser, so the derived spec passes the same validators a written one does.
 */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

#include "vfiojail/vfiojail.h"

/*
 * The spec's JSON object for the domain XML @xml (@len bytes, at most
 * VJ_DOMXML_MAX; no NUL inside).  User and group are as written (names or
 * numbers), not yet resolved.  0 and *out (json_object_put), or -1 with *err:
 * status 2 for a domain the spec cannot describe, naming the XML element
 * ("devices/hostdev[2]/source/address"); 125 out of memory.  Reads sysfs (USB
 * and SCSI host devices) and /dev (symlinks of block devices) under o->roots.
 */
int vj_domxml_to_spec_json(const char *xml, size_t len, const struct vj_domxml_opts *o,
			   json_object **out, struct vj_error **err);
