/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An allocation: what a DRA driver's NodePrepareResources or a device plugin's
 * Allocate knows about one VM, turned into the VM's spec for `vfiojail cdi
 * --allocation` (docs/KUBERNETES.md, "From a DRA driver or device plugin").
 *
 * It is a spec (vfiojail-spec(5)) in which "claim" may stand for "name": the
 * ResourceClaim as the kubelet names it in NodePrepareResourcesRequest.claims[]
 * (namespace, name, uid).  The VM is then named "claim-UID" (UID in lower
 * case): a claim's uid is unique in the cluster and never changes, so the same
 * claim gives the same VM, and NodeUnprepareResources, which gets the same
 * claim, finds it again.  The name is a valid vfiojail name and CDI device
 * name (letters, digits and "-", a letter first).  Every other field is the
 * spec's, checked by the spec's parser, so errors name them as written.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdi.h"
#include "error.h"
#include "jbuf.h"
#include "spec_internal.h"
#include "util.h"

/* The allocation is read whole, up to this. */
#define ALLOCATION_MAX ((size_t)1 << 20)
/* Kubernetes' limits: a namespace is a DNS label, a claim's name a DNS subdomain. */
#define DNS_LABEL_MAX 63
#define DNS_SUBDOMAIN_MAX 253
/* A UUID's text: 8-4-4-4-12 hex digits. */
#define UUID_LEN 36

static void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}

/* Lower-case letters, digits and "-" (and "." in a subdomain), a letter or
 * digit at each end, at most @max bytes: Kubernetes' DNS-1123 names. */
static int check_dns(const char *field, const char *v, size_t max, bool dots, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	size_t n = strlen(v);

	if (n == 0)
		return vj_err_spec(err, field, "\"\" is empty");
	if (n > max)
		return vj_err_spec(err, field, "%s is %zu bytes, longer than Kubernetes allows (%zu)",
				   vj_quote(v, q), n, max);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || i == n - 1 || !(c == '-' || (dots && c == '.'))))
			return vj_err_spec(err, field,
					   "%s is not a Kubernetes %s: lower-case letters, digits and \"-\"%s, "
					   "a letter or digit at each end",
					   vj_quote(v, q), dots ? "object name" : "namespace", dots ? " and \".\"" : "");
	}
	return 0;
}

static int check_uuid(const char *field, const char *v, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];
	bool ok = strlen(v) == UUID_LEN;

	for (size_t i = 0; ok && i < UUID_LEN; i++)
		ok = (i == 8 || i == 13 || i == 18 || i == 23) ? v[i] == '-' : isxdigit((unsigned char)v[i]) != 0;
	if (!ok)
		return vj_err_spec(err, field, "%s is not a Kubernetes uid (a UUID: 8-4-4-4-12 hex digits)",
				   vj_quote(v, q));
	return 0;
}

static int get_string(json_object *o, const char *field, const char **out, struct vj_error **err)
{
	char q[VJ_QUOTE_MAX];

	if (!json_object_is_type(o, json_type_string))
		return vj_err_spec(err, field, "expected a string");
	*out = json_object_get_string(o);
	if (strlen(*out) != (size_t)json_object_get_string_len(o))
		return vj_err_spec(err, field, "%s contains a NUL character", vj_quote(*out, q));
	return 0;
}

/* The claim's fields, checked; the VM's name into *name. */
static int parse_claim(json_object *claim, struct vj_allocation *a, char **name, struct vj_error **err)
{
	const char *ns = NULL, *cname = NULL, *uid = NULL;
	char q[VJ_QUOTE_MAX];

	if (!json_object_is_type(claim, json_type_object))
		return vj_err_spec(err, "claim", "expected an object: { \"namespace\", \"name\", \"uid\" }");
	json_object_object_foreach(claim, key, v) {
		if (!strcmp(key, "namespace")) {
			if (get_string(v, "claim.namespace", &ns, err) < 0 ||
			    check_dns("claim.namespace", ns, DNS_LABEL_MAX, false, err) < 0)
				return -1;
		} else if (!strcmp(key, "name")) {
			if (get_string(v, "claim.name", &cname, err) < 0 ||
			    check_dns("claim.name", cname, DNS_SUBDOMAIN_MAX, true, err) < 0)
				return -1;
		} else if (!strcmp(key, "uid")) {
			if (get_string(v, "claim.uid", &uid, err) < 0 || check_uuid("claim.uid", uid, err) < 0)
				return -1;
		} else {
			return vj_err_spec(err, "claim", "unknown key %s", vj_quote(key, q));
		}
	}
	if (!ns || !cname || !uid)
		return vj_err_spec(err, !ns ? "claim.namespace" : !cname ? "claim.name" : "claim.uid",
				   "required: the claim as NodePrepareResources names it (namespace, name, uid)");
	*name = vj_strdupf(VJ_ALLOCATION_NAME_PREFIX "%s", uid);
	a->claim = vj_strdupf("%s/%s", ns, cname);
	if (!*name || !a->claim)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "allocation", NULL, NULL, "out of memory");
	for (char *p = *name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

static int from_text(const char *text, const char *source, struct vj_allocation *out, struct vj_error **err)
{
	_cleanup_(json_putp) json_object *root = NULL;
	_cleanup_free_ char *name = NULL;
	json_object *claim = NULL, *given = NULL;
	struct vj_allocation a = { 0 };
	_cleanup_free_ char *spec_text = NULL;

	if (vj_json_parse_text(text, source, &root, err) < 0)
		return -1;
	if (!json_object_is_type(root, json_type_object))
		return vj_err_spec(err, source, "expected a JSON object at the top level");
	json_object_object_get_ex(root, "claim", &claim);
	json_object_object_get_ex(root, "name", &given);
	if (claim && given)
		return vj_err_spec(err, "claim", "give claim (a DRA driver's) or name (a device plugin's), not both");
	if (!claim && !given)
		return vj_err_spec(err, "claim",
				   "required: the DRA claim { \"namespace\", \"name\", \"uid\" }, or the VM's name");
	if (!json_object_object_get_ex(root, "hostdevs", NULL))
		return vj_err_spec(err, "hostdevs", "required: the allocated PCI devices");
	if (claim) {
		if (parse_claim(claim, &a, &name, err) < 0)
			goto fail;
		json_object_object_del(root, "claim");
		json_object_object_add(root, "name", json_object_new_string(name));
	}
	spec_text = vj_json_text(root, 0);
	if (!spec_text) {
		vj_err(err, VJ_EXIT_SETUP, ENOMEM, "allocation", NULL, NULL, "out of memory");
		goto fail;
	}
	if (vj_spec_parse_string(spec_text, &a.spec, err) < 0)
		goto fail;
	if (a.spec->n_hostdevs == 0) {
		vj_err_spec(err, "hostdevs", "an allocation names at least one PCI device");
		goto fail;
	}
	a.cdi_device = vj_strdupf(VJ_CDI_KIND "=%s", a.spec->name);
	if (!a.cdi_device) {
		vj_err(err, VJ_EXIT_SETUP, ENOMEM, "allocation", NULL, NULL, "out of memory");
		goto fail;
	}
	*out = a;
	return 0;
fail:
	vj_allocation_clear(&a);
	return -1;
}

int vj_allocation_parse_string(const char *json, struct vj_allocation *out, struct vj_error **err)
{
	if (!out || !json)
		return vj_err_spec(err, "allocation", "no allocation given");
	*out = (struct vj_allocation){ 0 };
	if (strlen(json) > ALLOCATION_MAX)
		return vj_err(err, VJ_EXIT_USAGE, EFBIG, "spec", "allocation", NULL,
			      "the allocation is larger than 1 MiB");
	return from_text(json, "allocation", out, err);
}

int vj_allocation_parse_file(const char *path, struct vj_allocation *out, struct vj_error **err)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0;
	int r;

	if (!out || !path)
		return vj_err_spec(err, "allocation", "no allocation given");
	*out = (struct vj_allocation){ 0 };
	if (!strcmp(path, "-")) {
		r = vj_read_fd(STDIN_FILENO, ALLOCATION_MAX, &text, &len);
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		r = fd < 0 ? -errno : vj_read_fd(fd, ALLOCATION_MAX, &text, &len);
	}
	if (r == -EFBIG)
		return vj_err(err, VJ_EXIT_USAGE, EFBIG, "spec", path, NULL, "the allocation is larger than 1 MiB");
	if (r < 0)
		return vj_err(err, VJ_EXIT_USAGE, -r, "spec", path, NULL, "cannot read the allocation");
	if (strlen(text) != len)
		return vj_err_spec(err, path, "the allocation contains a NUL byte: not JSON text");
	return from_text(text, path, out, err);
}

void vj_allocation_clear(struct vj_allocation *a)
{
	vj_spec_free(a->spec);
	free(a->claim);
	free(a->cdi_device);
	*a = (struct vj_allocation){ 0 };
}

int vj_allocation_plan(const struct vj_spec *spec, const struct vj_plan_opts *opts, struct vj_plan **out,
		       struct vj_error **err)
{
	char field[40];

	if (vj_plan_build(spec, opts, out, err) == 0)
		return 0;
	/* A device the driver allocated that this node cannot give: its field too. */
	for (size_t i = 0; err && *err && (*err)->object && i < spec->n_hostdevs; i++)
		if (!strcmp((*err)->object, spec->hostdevs[i].pci)) {
			snprintf(field, sizeof(field), "hostdevs[%zu].pci", i);
			return vj_err_wrap(err, "allocation", field, "the allocated device %s cannot be given on this node",
					   spec->hostdevs[i].pci);
		}
	return -1;
}
