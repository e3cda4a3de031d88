/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A CDI (Container Device Interface) spec for a VM, from its plan: what a
 * container runtime (podman, CRI-O, containerd with CDI) needs to give a pod the
 * VM's devices, its RLIMIT_MEMLOCK and the hand-off of its iommufd contexts.
 * Pure: it reads the plan and writes JSON.
 *
 * cdiVersion is the lowest that carries what is used: 0.3.0 has deviceNodes
 * (path, type, major, minor, fileMode, permissions, uid, gid), env, mounts and
 * hooks; a device name that starts with a digit needs 0.5.0.  Nothing newer is
 * used (podman 4.3 reads up to 0.5.0 and refuses unknown fields).
 */
#include "cdi.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "error.h"
#include "name.h"
#include "plan.h"
#include "spec_internal.h"
#include "util.h"

/* Nodes every OCI runtime makes in a container's /dev itself (runtime-spec,
 * "Default Devices"), and the pts/ptmx pair: a second entry for them would
 * collide with the runtime's own. */
static bool runtime_default(const char *path)
{
	static const char *const defaults[] = { "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
						"/dev/urandom", "/dev/tty", "/dev/ptmx" };

	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
		if (!strcmp(path, defaults[i]))
			return true;
	return !strncmp(path, "/dev/pts/", 9);
}

/* CDI's device names: a letter or digit first and last, letters, digits, "_",
 * "-", "." and ":" between. */
static bool cdi_name_ok(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || i == n - 1 || !strchr("_-.:", c)))
			return false;
	}
	return n > 0;
}

static json_object *strv(const char *const *v)
{
	json_object *a = json_object_new_array();

	for (; *v; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

static json_object *device_nodes(const struct vj_plan *p)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < p->n_nodes; i++) {
		const struct vj_node *n = &p->nodes[i];
		json_object *o;
		char perm[4];

		if (runtime_default(n->path))
			continue;
		o = json_object_new_object();
		vj_access_format(n->access & ~(unsigned)VJ_ACC_MKNOD, perm);
		json_object_object_add(o, "path", json_object_new_string(n->path));
		json_object_object_add(o, "type", json_object_new_string(n->type == 'b' ? "b" : "c"));
		json_object_object_add(o, "major", json_object_new_int64(n->major));
		json_object_object_add(o, "minor", json_object_new_int64(n->minor));
		json_object_object_add(o, "fileMode", json_object_new_int(n->mode & 0777));
		json_object_object_add(o, "permissions", json_object_new_string(perm));
		json_object_object_add(o, "uid", json_object_new_int64(n->uid));
		json_object_object_add(o, "gid", json_object_new_int64(n->gid));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *hook(const char *name, const char *path, const char *const *args)
{
	static const char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	json_object *o = json_object_new_object();

	json_object_object_add(o, "hookName", json_object_new_string(name));
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "args", strv(args));
	json_object_object_add(o, "env", strv(env));
	return o;
}

int vj_cdi_print(const struct vj_plan *p, const struct vj_spec *spec, const struct vj_cdi_opts *o, FILE *f,
		 struct vj_error **err)
{
	const char *vfiojail = o->vfiojail ? o->vfiojail : VJ_SBINDIR "/vfiojail";
	const char *state = o->state_dir && *o->state_dir ? o->state_dir : VJ_DEFAULT_STATE_DIR;
	_cleanup_free_ char *host_dir = NULL, *sock = NULL, *env_vm = NULL, *env_sock = NULL,
			    *env_mem = NULL, *timeout = NULL, *spec_json = NULL;
	json_object *root, *dev, *edits, *mount, *mounts, *hooks, *devs, *env;
	const char *create[32], *stop[8];
	size_t k = 0;
	int r;

	if (!cdi_name_ok(p->name))
		return vj_err(err, VJ_EXIT_USAGE, EINVAL, "cdi", "name",
			      "CDI device names are letters, digits and \"_-.:\" between a letter or digit at each end",
			      "the VM name cannot name a CDI device");
	if (vfiojail[0] != '/')
		return vj_err(err, VJ_EXIT_USAGE, EINVAL, "cdi", vfiojail, NULL,
			      "a hook's path must be absolute");
	host_dir = vj_handoff_dir(state, p->name);
	sock = vj_path_join(VJ_CDI_HANDOFF_MOUNT, VJ_HANDOFF_SOCKET_NAME);
	env_vm = vj_strdupf("VFIOJAIL_VM=%s", p->name);
	env_sock = sock ? vj_strdupf("VFIOJAIL_SOCKET=%s", sock) : NULL;
	env_mem = p->memlock.unchanged ? vj_strdupf("VFIOJAIL_MEMLOCK=unchanged")
		  : p->memlock.unlimited ? vj_strdupf("VFIOJAIL_MEMLOCK=unlimited")
					 : vj_strdupf("VFIOJAIL_MEMLOCK=%llu", (unsigned long long)p->memlock.bytes);
	timeout = vj_strdupf("%u", o->timeout_s ? o->timeout_s : VJ_HANDOFF_TIMEOUT_S);
	spec_json = vj_spec_json(spec, p);
	if (!host_dir || !env_vm || !env_sock || !env_mem || !timeout || !spec_json)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "cdi", p->name, NULL, "out of memory");

	/* createRuntime: as root on the host, with the container's host pid in the
	 * OCI state on stdin: memlock, then the hand-off of the contexts. */
	create[k++] = "vfiojail";
	create[k++] = "hook";
	create[k++] = "create-runtime";
	create[k++] = "--state-dir";
	create[k++] = state;
	create[k++] = "--timeout";
	create[k++] = timeout;
	if (o->best_effort)
		create[k++] = "--iommufd-accounting=best-effort";
	if (o->roots && o->roots->sysfs) {
		create[k++] = "--sysfs-root";
		create[k++] = o->roots->sysfs;
	}
	if (o->roots && o->roots->dev) {
		create[k++] = "--dev-root";
		create[k++] = o->roots->dev;
	}
	if (o->roots && o->roots->proc) {
		create[k++] = "--proc-root";
		create[k++] = o->roots->proc;
	}
	create[k++] = "--spec-json";
	create[k++] = spec_json;
	create[k] = NULL;
	stop[0] = "vfiojail";
	stop[1] = "hook";
	stop[2] = "poststop";
	stop[3] = "--state-dir";
	stop[4] = state;
	stop[5] = "--";
	stop[6] = p->name;
	stop[7] = NULL;

	root = json_object_new_object();
	json_object_object_add(root, "cdiVersion",
			       json_object_new_string(p->name[0] >= '0' && p->name[0] <= '9' ? "0.5.0" : "0.3.0"));
	json_object_object_add(root, "kind", json_object_new_string(VJ_CDI_KIND));
	devs = json_object_new_array();
	dev = json_object_new_object();
	edits = json_object_new_object();
	json_object_object_add(dev, "name", json_object_new_string(p->name));
	env = json_object_new_array();
	json_object_array_add(env, json_object_new_string(env_vm));
	json_object_array_add(env, json_object_new_string(env_sock));
	json_object_array_add(env, json_object_new_string(env_mem));
	json_object_object_add(edits, "env", env);
	json_object_object_add(edits, "deviceNodes", device_nodes(p));
	mount = json_object_new_object();
	json_object_object_add(mount, "hostPath", json_object_new_string(host_dir));
	json_object_object_add(mount, "containerPath", json_object_new_string(VJ_CDI_HANDOFF_MOUNT));
	{
		/* Read-only: the pod connects to the socket (connect works through a
		 * read-only mount) and can change nothing in the directory root's
		 * daemon makes the socket in. */
		static const char *const opts[] = { "bind", "ro", "nosuid", "nodev", "noexec", NULL };
		json_object_object_add(mount, "options", strv(opts));
	}
	mounts = json_object_new_array();
	json_object_array_add(mounts, mount);
	json_object_object_add(edits, "mounts", mounts);
	hooks = json_object_new_array();
	json_object_array_add(hooks, hook("createRuntime", vfiojail, create));
	json_object_array_add(hooks, hook("poststop", vfiojail, stop));
	json_object_object_add(edits, "hooks", hooks);
	json_object_object_add(dev, "containerEdits", edits);
	json_object_array_add(devs, dev);
	json_object_object_add(root, "devices", devs);
	r = vj_json_print_put(root, f);
	if (r < 0)
		return vj_err(err, VJ_EXIT_SETUP, -r, "cdi", NULL, NULL, "cannot write the CDI spec");
	return 0;
}

char *vj_handoff_dir(const char *state_dir, const char *name)
{
	_cleanup_free_ char *esc = vj_name_escape(name);

	return esc ? vj_strdupf("%s/" VJ_HANDOFF_DIR "/%s",
				state_dir && *state_dir ? state_dir : VJ_DEFAULT_STATE_DIR, esc)
		   : NULL;
}
