/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>

#include "spec_internal.h"
#include "testlib.h"
#include "vfiojail/vfiojail.h"

#define GiB (UINT64_C(1) << 30)
/* Debian 12: nobody is 65534 with primary group nogroup (65534); daemon is 1:1. */
#define NOBODY 65534
#define DAEMON 1
/* A uid with no passwd entry. */
#define NO_SUCH_UID "4000123"

static struct vj_spec *const NOT_SET = (struct vj_spec *)&NOT_SET;

static char *spec_path(const char *name)
{
	const char *root = getenv("VJ_SOURCE_ROOT");

	assert_non_null(root);
	return pathf("%s/tests/specs/%s", root, name);
}

static void assert_spec_error(const struct vj_error *err, const char *object, const char *needle)
{
	assert_non_null(err);
	assert_int_equal(err->status, VJ_EXIT_USAGE);
	assert_string_equal(err->step, "spec");
	if (strcmp(err->object, object) != 0)
		fail_msg("object \"%s\", want \"%s\" (message: %s)", err->object, object,
			 err->message);
	if (!strstr(err->message, needle))
		fail_msg("%s: message \"%s\" lacks %s", object, err->message, needle);
}

/* Parse @json, expect failure with @object and @needle, and *out left NULL. */
static void expect_json_error(const char *json, const char *object, const char *needle)
{
	struct vj_spec *spec = NOT_SET;
	struct vj_error *err = NULL;

	if (vj_spec_parse_string(json, &spec, &err) >= 0)
		fail_msg("accepted: %s", json);
	assert_null(spec);
	assert_spec_error(err, object, needle);
	vj_error_free(err);
}

static struct vj_spec *parse_ok(const char *json)
{
	struct vj_spec *spec = NULL;
	struct vj_error *err = NULL;

	if (vj_spec_parse_string(json, &spec, &err) != 0)
		fail_msg("%s: %s: %s", json, err->object, err->message);
	assert_non_null(spec);
	return spec;
}

#define BASE "\"name\": \"vm\", \"user\": \"nobody\""
#define WITH_HOSTDEV BASE ", \"memory\": \"4GiB\""

static void check_full_spec(const struct vj_spec *s)
{
	assert_string_equal(s->name, "gpu-vm-1");
	assert_string_equal(s->user, "nobody");
	assert_string_equal(s->group, "daemon");
	assert_int_equal(s->uid, NOBODY);
	assert_int_equal(s->gid, DAEMON);
	assert_true(s->memory == 32 * GiB);
	assert_string_equal(s->arch, "aarch64");
	assert_int_equal(s->n_iommufd, 2);
	assert_string_equal(s->iommufd[0].id, "iommufd0");
	assert_string_equal(s->iommufd[1].id, "ctx.b-1");
	assert_int_equal(s->n_hostdevs, 3);
	assert_string_equal(s->hostdevs[0].pci, "0009:06:00.0");
	assert_int_equal(s->hostdevs[0].addr.domain, 9);
	assert_int_equal(s->hostdevs[0].addr.bus, 6);
	assert_int_equal(s->hostdevs[0].backend, VJ_BACKEND_IOMMUFD);
	assert_string_equal(s->hostdevs[0].iommufd, "ctx.b-1");
	assert_string_equal(s->hostdevs[1].pci, "0000:07:00.1");
	assert_int_equal(s->hostdevs[1].addr.function, 1);
	assert_int_equal(s->hostdevs[1].backend, VJ_BACKEND_LEGACY);
	assert_null(s->hostdevs[1].iommufd);
	assert_string_equal(s->hostdevs[2].pci, "0000:0a:1f.7");
	assert_int_equal(s->hostdevs[2].addr.slot, 0x1f);
	assert_int_equal(s->hostdevs[2].backend, VJ_BACKEND_IOMMUFD);
	assert_string_equal(s->hostdevs[2].iommufd, "iommufd0");
	assert_int_equal(s->n_devices, 4);
	assert_string_equal(s->devices[0].path, "/dev/kvm");
	assert_int_equal(s->devices[0].access, VJ_ACC_READ | VJ_ACC_WRITE);
	assert_string_equal(s->devices[1].path, "/dev/net/tun");
	assert_int_equal(s->devices[1].access, VJ_ACC_READ | VJ_ACC_WRITE);
	assert_string_equal(s->devices[2].path, "/dev/vhost-net");
	assert_int_equal(s->devices[2].access, VJ_ACC_READ | VJ_ACC_WRITE | VJ_ACC_MKNOD);
	assert_string_equal(s->devices[3].path, "/dev/null");
	assert_int_equal(s->devices[3].access, VJ_ACC_READ);
	assert_int_equal(s->viommu, 1);
	assert_int_equal(s->nvme, 2);
	assert_int_equal(s->vdpa, 3);
	assert_int_equal(s->pci_host_bridges, 4);
	assert_true(s->migration);
	assert_int_equal(s->memlock.mode, VJ_MEMLOCK_HARD);
	assert_true(s->memlock.hard_limit == 64 * GiB);
	assert_true(s->memlock.extra == 0);
}

static void test_full_spec_file(void **state)
{
	char *path = spec_path("full.json");
	struct vj_spec *spec = NULL;
	struct vj_error *err = NULL;

	if (vj_spec_parse_file(path, &spec, &err) != 0)
		fail_msg("%s: %s", err->object, err->message);
	check_full_spec(spec);
	/* Finishing again changes nothing. */
	assert_int_equal(vj_spec_finish(spec, &err), 0);
	check_full_spec(spec);
	vj_spec_free(spec);
	free(path);
}

static void set_flag_ok(struct vj_spec *spec, const char *flag, const char *value)
{
	struct vj_error *err = NULL;

	if (vj_spec_set_flag(spec, flag, value, &err) != 0)
		fail_msg("--%s %s: %s: %s", flag, value ? value : "", err->object, err->message);
}

static void test_flags_same_as_full_spec(void **state)
{
	struct vj_spec *spec = vj_spec_new();
	struct vj_error *err = NULL;

	assert_non_null(spec);
	set_flag_ok(spec, "name", "gpu-vm-1");
	set_flag_ok(spec, "user", "nobody");
	set_flag_ok(spec, "group", "daemon");
	set_flag_ok(spec, "memory", "32G");
	set_flag_ok(spec, "arch", "aarch64");
	/* A hostdev may name a context declared after it: finish checks. */
	set_flag_ok(spec, "hostdev", "0009:06:00.0,backend=iommufd,iommufd=ctx.b-1");
	set_flag_ok(spec, "iommufd", "iommufd0");
	set_flag_ok(spec, "iommufd", "ctx.b-1");
	set_flag_ok(spec, "hostdev", "07:00.1,backend=legacy");
	set_flag_ok(spec, "hostdev", "0000:0A:1f.7,iommufd=iommufd0");
	set_flag_ok(spec, "device", "/dev/kvm");
	set_flag_ok(spec, "device", "/dev/net/tun:rw");
	set_flag_ok(spec, "device", "/dev/vhost-net:mrw");
	set_flag_ok(spec, "device", "/dev/null:r");
	set_flag_ok(spec, "viommu", "1");
	set_flag_ok(spec, "nvme", "2");
	set_flag_ok(spec, "vdpa", "3");
	set_flag_ok(spec, "pci-host-bridges", "4");
	set_flag_ok(spec, "migration", NULL);
	set_flag_ok(spec, "memlock-hard-limit", "65536M");
	if (vj_spec_finish(spec, &err) != 0)
		fail_msg("%s: %s", err->object, err->message);
	check_full_spec(spec);
	vj_spec_free(spec);
}

static void test_defaults(void **state)
{
	char *path = spec_path("minimal.json");
	struct vj_spec *spec = NULL;
	struct vj_error *err = NULL;

	if (vj_spec_parse_file(path, &spec, &err) != 0)
		fail_msg("%s: %s", err->object, err->message);
	free(path);
	assert_string_equal(spec->name, "vm");
	assert_string_equal(spec->user, "nobody");

	assert_int_equal(spec->uid, NOBODY);
	assert_int_equal(spec->gid, NOBODY); /* nobody's primary group, nogroup */
	assert_null(spec->group);
	assert_null(spec->arch);
	assert_true(spec->memory == 0);
	assert_int_equal(spec->n_iommufd, 0);
	assert_int_equal(spec->n_hostdevs, 0);
	assert_int_equal(spec->n_devices, 0);
	assert_int_equal(spec->pci_host_bridges, 1);
	assert_int_equal(spec->viommu, 0);
	assert_false(spec->migration);
	assert_int_equal(spec->memlock.mode, VJ_MEMLOCK_AUTO);
	vj_spec_free(spec);
}

static void test_hostdev_contexts(void **state)
{
	struct vj_spec *spec;

	/* None declared: an implicit iommufd0 is declared and used. */
	spec = parse_ok("{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\"},"
			" {\"pci\": \"06:00.1\", \"backend\": \"legacy\"}]}");
	assert_int_equal(spec->n_iommufd, 1);
	assert_string_equal(spec->iommufd[0].id, "iommufd0");
	assert_string_equal(spec->hostdevs[0].pci, "0000:06:00.0");
	assert_string_equal(spec->hostdevs[0].iommufd, "iommufd0");
	assert_null(spec->hostdevs[1].iommufd);
	vj_spec_free(spec);

	/* Exactly one declared: it is used. */
	spec = parse_ok("{" WITH_HOSTDEV ", \"iommufd\": [{\"id\": \"ctx\"}],"
			" \"hostdevs\": [{\"pci\": \"06:00.0\"}]}");
	assert_int_equal(spec->n_iommufd, 1);
	assert_string_equal(spec->hostdevs[0].iommufd, "ctx");
	vj_spec_free(spec);

	/* Only legacy devices: no context is made up. */
	spec = parse_ok("{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\","
			" \"backend\": \"legacy\"}]}");
	assert_int_equal(spec->n_iommufd, 0);
	vj_spec_free(spec);
}

static void test_numeric_users_and_groups(void **state)
{
	struct vj_spec *spec;

	spec = parse_ok("{\"name\": \"vm\", \"user\": \"65534\"}");
	assert_int_equal(spec->uid, NOBODY);
	assert_int_equal(spec->gid, NOBODY);
	vj_spec_free(spec);

	spec = parse_ok("{\"name\": \"vm\", \"user\": " NO_SUCH_UID ", \"group\": \"daemon\"}");
	assert_string_equal(spec->user, NO_SUCH_UID);
	assert_int_equal(spec->uid, 4000123);
	assert_int_equal(spec->gid, DAEMON);
	vj_spec_free(spec);

	spec = parse_ok("{\"name\": \"vm\", \"user\": \"daemon\", \"group\": 4000}");
	assert_int_equal(spec->uid, DAEMON);
	assert_int_equal(spec->gid, 4000);
	vj_spec_free(spec);
}

/* "groups": exactly the VMM's supplementary groups, names or numbers, resolved. */
static void test_groups(void **state)
{
	struct vj_spec *spec;

	spec = parse_ok("{" BASE "}");
	assert_false(spec->groups_set); /* the group database decides */
	assert_int_equal(spec->n_groups, 0);
	vj_spec_free(spec);

	spec = parse_ok("{" BASE ", \"groups\": [\"daemon\", 4000, \"65534\"]}");
	assert_true(spec->groups_set);
	assert_int_equal(spec->n_groups, 3);
	assert_string_equal(spec->groups[0], "daemon");
	assert_string_equal(spec->groups[1], "4000");
	assert_int_equal(spec->group_ids[0], DAEMON);
	assert_int_equal(spec->group_ids[1], 4000);
	assert_int_equal(spec->group_ids[2], NOBODY);
	vj_spec_free(spec);

	spec = parse_ok("{" BASE ", \"groups\": []}");
	assert_true(spec->groups_set); /* none at all */
	assert_int_equal(spec->n_groups, 0);
	vj_spec_free(spec);

	expect_json_error("{" BASE ", \"groups\": \"daemon\"}", "groups", "an array");
	expect_json_error("{" BASE ", \"groups\": [\"daemon\", true]}", "groups[1]",
			  "a name or a number");
	expect_json_error("{" BASE ", \"groups\": [\"root\"]}", "groups[0]", "is gid 0");
	expect_json_error("{" BASE ", \"groups\": [1, \"no-such-group-x\"]}", "groups[1]",
			  "no such group \"no-such-group-x\"");
	expect_json_error("{" BASE ", \"groups\": [\"a:b\"]}", "groups[0]", "\"a:b\"");
	expect_json_error("{" BASE ", \"groups\": [4294967295]}", "groups[0]", "too large");
}

static void test_sizes_and_memlock_forms(void **state)
{
	struct vj_spec *spec;

	spec = parse_ok("{" BASE ", \"memory\": 1073741824, \"memlock\": {\"extra\": \"1 GiB\"}}");
	assert_true(spec->memory == GiB);
	assert_int_equal(spec->memlock.mode, VJ_MEMLOCK_AUTO);
	assert_true(spec->memlock.extra == GiB);
	vj_spec_free(spec);

	spec = parse_ok("{" BASE ", \"memory\": \"512M\", \"memlock\": {\"unlimited\": true}}");
	assert_true(spec->memory == 512 << 20);
	assert_int_equal(spec->memlock.mode, VJ_MEMLOCK_UNLIMITED);
	vj_spec_free(spec);

	spec = parse_ok("{" BASE ", \"memlock\": {\"hard_limit\": 9223372036854775807}}");
	assert_true(spec->memlock.hard_limit == INT64_MAX);
	vj_spec_free(spec);
}

static void test_json_errors(void **state)
{
	static const struct {
		const char *json, *object, *needle;
	} cases[] = {
		/* Syntax and shape */
		{ "", "spec", "not valid JSON" },
		{ "{\"name\": \"vm\",\n \"user\": }", "spec", "line 2" },
		{ "{" BASE "} x", "spec", "not valid JSON" },
		{ "[]", "spec", "got array" },
		{ "\"vm\"", "spec", "got string \"vm\"" },
		{ "{" BASE ", \"nmae\": \"x\"}", "nmae", "unknown key \"nmae\"" },
		/* name */
		{ "{\"user\": \"nobody\"}", "name", "required" },
		{ "{\"name\": 5, \"user\": \"nobody\"}", "name", "expected a string, got integer 5" },
		{ "{\"name\": \"a/b\", \"user\": \"nobody\"}", "name", "\"a/b\"" },
		{ "{\"name\": \"\xc0\xaf\", \"user\": \"nobody\"}", "name", "\"\\xc0\\xaf\" is not a valid name: it is not valid UTF-8" },
		{ "{\"name\": \"a\\u0000b\", \"user\": \"nobody\"}", "name", "NUL" },
		/* user and group */
		{ "{\"name\": \"vm\"}", "user", "required" },
		{ "{\"name\": \"vm\", \"user\": \"nosuchuser-vj\"}", "user",
		  "no such user \"nosuchuser-vj\"" },
		{ "{\"name\": \"vm\", \"user\": \"root\"}", "user",
		  "\"root\" is uid 0: the VM user must not be root" },
		{ "{\"name\": \"vm\", \"user\": \"0\"}", "user", "\"0\" is uid 0" },
		{ "{\"name\": \"vm\", \"user\": 0}", "user", "must not be root" },
		{ "{\"name\": \"vm\", \"user\": -5}", "user", "-5 is negative" },
		{ "{\"name\": \"vm\", \"user\": \"\"}", "user", "empty" },
		{ "{\"name\": \"vm\", \"user\": \"4294967295\"}", "user", "\"4294967295\"" },
		{ "{\"name\": \"vm\", \"user\": true}", "user", "got boolean true" },
		{ "{\"name\": \"vm\", \"user\": \"" NO_SUCH_UID "\"}", "group",
		  "\"" NO_SUCH_UID "\" has no passwd entry" },
		{ "{" BASE ", \"group\": \"nosuchgroup-vj\"}", "group",
		  "no such group \"nosuchgroup-vj\"" },
		{ "{" BASE ", \"group\": \"root\"}", "group", "\"root\" is gid 0" },
		{ "{" BASE ", \"group\": 0}", "group", "must not be root's group" },
		/* memory */
		{ "{" BASE ", \"memory\": \"12XB\"}", "memory",
		  "\"12XB\" is not a size (bytes or KiB/MiB/GiB/TiB)" },
		{ "{" BASE ", \"memory\": \"32GB\"}", "memory", "binary units only" },
		{ "{" BASE ", \"memory\": \"16777216TiB\"}", "memory", "\"16777216TiB\" is too large" },
		{ "{" BASE ", \"memory\": 99999999999999999999}", "memory", "too large" },
		{ "{" BASE ", \"memory\": 9223372036854775808}", "memory",
		  "9223372036854775808 is too large" },
		{ "{" BASE ", \"memory\": -1}", "memory", "-1 is negative" },
		{ "{" BASE ", \"memory\": 1.5}", "memory", "got number 1.5" },
		{ "{" BASE ", \"memory\": \"1.5G\"}", "memory", "\"1.5G\"" },
		{ "{" BASE ", \"hostdevs\": [{\"pci\": \"06:00.0\"}]}", "memory",
		  "required when hostdevs are assigned" },
		{ "{" BASE ", \"memory\": 0, \"hostdevs\": [{\"pci\": \"06:00.0\"}]}", "memory",
		  "(got 0)" },
		/* arch */
		{ "{" BASE ", \"arch\": \"sparc\"}", "arch", "\"sparc\" is not a known architecture" },
		{ "{" BASE ", \"arch\": \"X86_64\"}", "arch", "x86_64, i686, aarch64" },
		/* iommufd */
		{ "{" BASE ", \"iommufd\": {}}", "iommufd", "expected an array, got object" },
		{ "{" BASE ", \"iommufd\": [\"iommufd0\"]}", "iommufd[0]", "got string \"iommufd0\"" },
		{ "{" BASE ", \"iommufd\": [{\"id\": \"0abc\"}]}", "iommufd[0].id", "\"0abc\"" },
		{ "{" BASE ", \"iommufd\": [{\"id\": \"a b\"}]}", "iommufd[0].id", "\"a b\"" },
		{ "{" BASE ", \"iommufd\": [{\"id\": \"a23456789012345678901234567890123\"}]}",
		  "iommufd[0].id", "\"a23456789012345678901234567890123\"" },
		{ "{" BASE ", \"iommufd\": [{\"id\": \"iommufd0\"}, {\"id\": \"iommufd0\"}]}",
		  "iommufd[1].id", "duplicate id \"iommufd0\"" },
		{ "{" BASE ", \"iommufd\": [{}]}", "iommufd[0].id", "required" },
		{ "{" BASE ", \"iommufd\": [{\"id\": \"a\", \"name\": \"b\"}]}", "iommufd[0].name",
		  "unknown key \"name\"" },
		/* hostdevs */
		{ "{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\"}, {\"pci\": \"0000:07:20.1\"}]}",
		  "hostdevs[1].pci", "\"0000:07:20.1\" is not a PCI address: slot must be 00-1f" },
		{ "{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"0000:06:00.0\"}, {\"pci\": \"06:00.0\"}]}",
		  "hostdevs[1].pci", "\"06:00.0\" is assigned twice" },
		{ "{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"bakend\": \"legacy\"}]}",
		  "hostdevs[0].bakend", "unknown key \"bakend\"" },
		{ "{" WITH_HOSTDEV ", \"hostdevs\": [{\"backend\": \"legacy\"}]}", "hostdevs[0].pci",
		  "required" },
		{ "{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": 6}]}", "hostdevs[0].pci",
		  "got integer 6" },
		{ "{" WITH_HOSTDEV ", \"hostdevs\": [\"06:00.0\"]}", "hostdevs[0]",
		  "got string \"06:00.0\"" },
		{ "{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"backend\": \"vfio\"}]}",
		  "hostdevs[0].backend", "\"vfio\" is not a backend" },
		{ "{" WITH_HOSTDEV ", \"iommufd\": [{\"id\": \"iommufd0\"}], \"hostdevs\": [{\"pci\":"
		  " \"06:00.0\", \"backend\": \"legacy\", \"iommufd\": \"iommufd0\"}]}",
		  "hostdevs[0].iommufd", "\"iommufd0\" is set, but backend \"legacy\"" },
		{ "{" WITH_HOSTDEV ", \"iommufd\": [{\"id\": \"iommufd0\"}], \"hostdevs\": [{\"pci\":"
		  " \"06:00.0\", \"iommufd\": \"ctx9\"}]}",
		  "hostdevs[0].iommufd", "\"ctx9\" is not declared in \"iommufd\"" },
		{ "{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"iommufd\": \"iommufd0\"}]}",
		  "hostdevs[0].iommufd", "\"iommufd0\" is not declared in \"iommufd\"" },
		{ "{" WITH_HOSTDEV ", \"iommufd\": [{\"id\": \"a\"}, {\"id\": \"b\"}],"
		  " \"hostdevs\": [{\"pci\": \"06:00.0\"}]}",
		  "hostdevs[0].iommufd", "choose one of \"a\", \"b\"" },
		/* devices */
		{ "{" BASE ", \"devices\": \"/dev/kvm\"}", "devices", "expected an array" },
		{ "{" BASE ", \"devices\": [\"dev/kvm\"]}", "devices[0]", "\"dev/kvm\"" },
		{ "{" BASE ", \"devices\": [\"/etc/shadow\"]}", "devices[0]", "under /dev/" },
		{ "{" BASE ", \"devices\": [\"/dev/../etc/shadow\"]}", "devices[0]", "\"..\" component" },
		{ "{" BASE ", \"devices\": [\"/dev/./kvm\"]}", "devices[0]", "\"/dev/./kvm\"" },
		{ "{" BASE ", \"devices\": [\"/dev/vfio/..\"]}", "devices[0]", "\"/dev/vfio/..\"" },
		{ "{" BASE ", \"devices\": [\"/dev//kvm\"]}", "devices[0]", "\"/dev//kvm\"" },
		{ "{" BASE ", \"devices\": [\"/dev/kvm/\"]}", "devices[0]", "\"/dev/kvm/\"" },
		{ "{" BASE ", \"devices\": [\"/dev/\"]}", "devices[0]", "\"/dev/\"" },
		{ "{" BASE ", \"devices\": [\"/dev/a\\u0001b\"]}", "devices[0]", "\"/dev/a\\x01b\"" },
		{ "{" BASE ", \"devices\": [3]}", "devices[0]", "got integer 3" },
		{ "{" BASE ", \"devices\": [{\"access\": \"r\"}]}", "devices[0].path", "required" },
		{ "{" BASE ", \"devices\": [{\"path\": \"/dev/kvm\", \"access\": \"rwx\"}]}",
		  "devices[0].access", "\"rwx\"" },
		{ "{" BASE ", \"devices\": [{\"path\": \"/dev/kvm\", \"access\": \"rr\"}]}",
		  "devices[0].access", "\"rr\"" },
		{ "{" BASE ", \"devices\": [{\"path\": \"/dev/kvm\", \"access\": \"\"}]}",
		  "devices[0].access", "\"\" is not an access mode" },
		{ "{" BASE ", \"devices\": [{\"path\": \"/dev/kvm\", \"mode\": \"rw\"}]}",
		  "devices[0].mode", "unknown key \"mode\"" },
		{ "{" BASE ", \"devices\": [\"/dev/kvm\", {\"path\": \"/dev/kvm\"}]}", "devices[1].path",
		  "\"/dev/kvm\" is listed twice" },
		/* counts and booleans */
		{ "{" BASE ", \"viommu\": 4097}", "viommu", "4097 is out of range (0-4096)" },
		{ "{" BASE ", \"nvme\": -1}", "nvme", "-1 is negative" },
		{ "{" BASE ", \"vdpa\": \"2\"}", "vdpa", "got string \"2\"" },
		{ "{" BASE ", \"vdpa\": 2.0}", "vdpa", "got number 2" },
		{ "{" BASE ", \"viommu\": 99999999999999999999}", "viommu", "too large" },
		{ "{" BASE ", \"pci_host_bridges\": 0}", "pci_host_bridges", "0 is out of range (1-64)" },
		{ "{" BASE ", \"pci_host_bridges\": 65}", "pci_host_bridges", "65 is out of range" },
		{ "{" BASE ", \"migration\": \"yes\"}", "migration", "got string \"yes\"" },
		{ "{" BASE ", \"migration\": 1}", "migration", "expected a boolean, got integer 1" },
		/* memlock */
		{ "{" BASE ", \"memlock\": {}}", "memlock", "exactly one of" },
		{ "{" BASE ", \"memlock\": {\"hard_limit\": \"1G\", \"extra\": \"1G\"}}", "memlock",
		  "\"hard_limit\":\"1G\"" },
		{ "{" BASE ", \"memlock\": {\"soft\": \"1G\"}}", "memlock.soft", "unknown key \"soft\"" },
		{ "{" BASE ", \"memlock\": {\"extra\": \"1G\", \"soft\": 1}}", "memlock.soft",
		  "unknown key" },
		{ "{" BASE ", \"memlock\": {\"unlimited\": false}}", "memlock.unlimited", "false" },
		{ "{" BASE ", \"memlock\": {\"hard_limit\": \"1GB\"}}", "memlock.hard_limit",
		  "\"1GB\"" },
		{ "{" BASE ", \"memlock\": \"64GiB\"}", "memlock", "got string \"64GiB\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_json_error(cases[i].json, cases[i].object, cases[i].needle);
}

static void test_invalid_spec_files(void **state)
{
	static const struct {
		const char *file, *object, *needle;
	} cases[] = {
		{ "invalid-slot.json", "hostdevs[1].pci",
		  "\"0000:07:20.1\" is not a PCI address: slot must be 00-1f" },
		{ "invalid-unknown-key.json", "hostdevs[0].bakend", "unknown key \"bakend\"" },
		{ "invalid-syntax.json", NULL, "line 4" },
		{ "invalid-memory.json", "memory", "\"12XB\" is not a size" },
		{ "invalid-undeclared.json", "hostdevs[0].iommufd", "\"ctx9\" is not declared" },
		{ "invalid-root.json", "user", "must not be root" },
		{ "invalid-toplevel.json", NULL, "got array" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = spec_path(cases[i].file);
		struct vj_spec *spec = NOT_SET;
		struct vj_error *err = NULL;

		assert_int_equal(vj_spec_parse_file(path, &spec, &err), -1);
		assert_null(spec);
		/* NULL: the error is about the file as a whole, so it names the path. */
		assert_spec_error(err, cases[i].object ? cases[i].object : path, cases[i].needle);
		vj_error_free(err);
		free(path);
	}
}

static void test_file_errors(void **state)
{
	char *dir = temp_dir("vj-test-spec");
	char *missing = pathf("%s/missing.json", dir);
	char *big = pathf("%s/big.json", dir);
	struct vj_spec *spec = NOT_SET;
	struct vj_error *err = NULL;
	FILE *f;

	assert_int_equal(vj_spec_parse_file(missing, &spec, &err), -1);
	assert_null(spec);
	assert_int_equal(err->status, VJ_EXIT_USAGE);
	assert_string_equal(err->step, "spec");
	assert_string_equal(err->object, missing);
	assert_int_equal(err->errnum, ENOENT);
	vj_error_free(err);
	err = NULL;

	/* A valid spec padded with whitespace past 1 MiB is refused for its size. */
	f = fopen(big, "w");
	assert_non_null(f);
	fputs("{" BASE, f);
	for (int i = 0; i < 1024 * 1024; i++)
		fputc(' ', f);
	fputs("}", f);
	assert_int_equal(fclose(f), 0);
	spec = NOT_SET;
	assert_int_equal(vj_spec_parse_file(big, &spec, &err), -1);
	assert_null(spec);
	assert_int_equal(err->status, VJ_EXIT_USAGE);
	assert_string_equal(err->object, big);
	assert_int_equal(err->errnum, EFBIG);
	vj_error_free(err);
	err = NULL;

	/* A directory cannot be read as a spec. */
	spec = NOT_SET;
	assert_int_equal(vj_spec_parse_file(dir, &spec, &err), -1);
	assert_null(spec);
	assert_string_equal(err->object, dir);
	assert_int_equal(err->errnum, EISDIR);
	vj_error_free(err);

	assert_int_equal(unlink(big), 0);
	assert_int_equal(rmdir(dir), 0);
	free(big);
	free(missing);
	free(dir);
}

static void test_stdin(void **state)
{
	char *path = spec_path("full.json");
	struct vj_spec *spec = NULL;
	struct vj_error *err = NULL;
	int saved = dup(STDIN_FILENO), fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	r = vj_spec_parse_file("-", &spec, &err);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	if (r != 0)
		fail_msg("%s: %s", err->object, err->message);
	check_full_spec(spec);
	vj_spec_free(spec);
	free(path);
}

/* Set flags on a fresh spec; the last one must fail with @object and @needle. */
static void expect_flag_error(const char *const *flags, const char *object, const char *needle)
{
	struct vj_spec *spec = vj_spec_new();
	struct vj_error *err = NULL;
	size_t i;

	assert_non_null(spec);
	/* (flag, value) pairs up to a NULL flag; the last pair is the bad one. */
	for (i = 0; flags[i + 2]; i += 2)
		set_flag_ok(spec, flags[i], flags[i + 1]);
	if (vj_spec_set_flag(spec, flags[i], flags[i + 1], &err) >= 0)
		fail_msg("--%s %s: accepted", flags[i], flags[i + 1] ? flags[i + 1] : "");
	assert_spec_error(err, object, needle);
	vj_error_free(err);
	vj_spec_free(spec);
}

#define FLAGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_flag_errors(void **state)
{
	expect_flag_error(FLAGS("bogus", "1"), "--bogus", "unknown flag \"--bogus\"");
	expect_flag_error(FLAGS("name", NULL), "--name", "needs a value");
	expect_flag_error(FLAGS("name", "a/b"), "--name", "\"a/b\"");
	expect_flag_error(FLAGS("name", "vm", "name", "vm2"), "--name",
			  "given twice (again as \"vm2\")");
	expect_flag_error(FLAGS("memory", "1G", "memory", "2G"), "--memory",
			  "given twice");
	expect_flag_error(FLAGS("memory", "12XB"), "--memory",
			  "\"12XB\" is not a size (bytes or KiB/MiB/GiB/TiB)");
	expect_flag_error(FLAGS("arch", "sparc"), "--arch", "\"sparc\"");
	expect_flag_error(FLAGS("user", "a:b"), "--user", "\"a:b\"");
	expect_flag_error(FLAGS("groups", "1,,2"), "--groups", "empty entry");
	expect_flag_error(FLAGS("groups", "1,"), "--groups", "empty entry");
	expect_flag_error(FLAGS("groups", "1", "groups", "2"), "--groups", "given twice");
	expect_flag_error(FLAGS("iommufd", "x", "iommufd", "x"), "--iommufd",
			  "duplicate id \"x\"");
	expect_flag_error(FLAGS("iommufd", "-x"), "--iommufd", "\"-x\"");
	expect_flag_error(FLAGS("hostdev", "0000:07:20.1"), "--hostdev",
			  "\"0000:07:20.1\" is not a PCI address: slot must be 00-1f");
	expect_flag_error(FLAGS("hostdev", "06:00.0,backend=vfio"), "--hostdev",
			  "\"vfio\" is not a backend");
	expect_flag_error(FLAGS("hostdev", "06:00.0,foo=1"), "--hostdev",
			  "\"foo=1\" is not an option");
	expect_flag_error(FLAGS("hostdev", "06:00.0,"), "--hostdev", "\"\" is not an option");
	expect_flag_error(FLAGS("hostdev", "06:00.0,backend=legacy,backend=iommufd"),
			  "--hostdev", "\"backend=iommufd\": option given twice");
	expect_flag_error(FLAGS("hostdev", "06:00.0,backend=legacy,iommufd=a"), "--hostdev",
			  "\"a\" is set, but backend \"legacy\"");
	expect_flag_error(FLAGS("hostdev", "06:00.0,iommufd=9"), "--hostdev", "\"9\"");
	expect_flag_error(FLAGS("hostdev", "06:00.0", "hostdev", "0000:06:00.0"),
			  "--hostdev", "\"0000:06:00.0\" is assigned twice");
	expect_flag_error(FLAGS("device", "/dev/x:q"), "--device",
			  "\"q\" is not an access mode");
	expect_flag_error(FLAGS("device", "/dev/x:"), "--device", "\"\" is not an access");
	expect_flag_error(FLAGS("device", "/tmp/x"), "--device", "\"/tmp/x\"");
	expect_flag_error(FLAGS("device", "/dev/kvm", "device", "/dev/kvm:r"),
			  "--device", "\"/dev/kvm\" is listed twice");
	expect_flag_error(FLAGS("viommu", "abc"), "--viommu", "\"abc\" is not a");
	expect_flag_error(FLAGS("viommu", "-1"), "--viommu", "\"-1\"");
	expect_flag_error(FLAGS("nvme", "4097"), "--nvme", "4097 is out of range");
	expect_flag_error(FLAGS("pci-host-bridges", "0"), "--pci-host-bridges",
			  "0 is out of range (1-64)");
	expect_flag_error(FLAGS("migration", "maybe"), "--migration",
			  "\"maybe\" is not true or false");
	expect_flag_error(FLAGS("migration", NULL, "migration", "false"),
			  "--migration", "given twice");
	expect_flag_error(FLAGS("memlock-unlimited", "false"), "--memlock-unlimited",
			  "false");
	expect_flag_error(FLAGS("memlock-hard-limit", "1GB"), "--memlock-hard-limit",
			  "\"1GB\"");
	expect_flag_error(FLAGS("memlock-hard-limit", "1G", "memlock-extra", "1G"),
			  "--memlock-extra", "cannot be combined with --memlock-hard-limit");
	expect_flag_error(FLAGS("memlock-extra", "1G", "memlock-extra", "2G"),
			  "--memlock-extra", "given twice (again as \"2G\")");
}

/* Flag sets that parse but fail in vj_spec_finish. */
static void expect_finish_error(const char *const *flags, const char *object, const char *needle)
{
	struct vj_spec *spec = vj_spec_new();
	struct vj_error *err = NULL;

	assert_non_null(spec);
	for (size_t i = 0; flags[i]; i += 2)
		set_flag_ok(spec, flags[i], flags[i + 1]);
	assert_int_equal(vj_spec_finish(spec, &err), -1);
	assert_spec_error(err, object, needle);
	vj_error_free(err);
	vj_spec_free(spec);
}

static void test_flag_finish_errors(void **state)
{
	expect_finish_error(FLAGS("user", "nobody"), "name", "required");
	expect_finish_error(FLAGS("name", "vm"), "user", "required");
	expect_finish_error(FLAGS("name", "vm", "user", "root"), "user", "must not be root");
	expect_finish_error(FLAGS("name", "vm", "user", "nobody", "group", "0"), "group",
			    "\"0\" is gid 0");
	expect_finish_error(FLAGS("name", "vm", "user", NO_SUCH_UID), "group", "required");
	expect_finish_error(FLAGS("name", "vm", "user", "nobody", "hostdev", "06:00.0"), "memory",
			    "required when hostdevs are assigned");
	expect_finish_error(FLAGS("name", "vm", "user", "nobody", "memory", "1G", "hostdev",
				  "06:00.0,iommufd=ctx9"),
			    "hostdevs[0].iommufd", "\"ctx9\" is not declared in \"iommufd\"");
	expect_finish_error(FLAGS("name", "vm", "user", "nobody", "memory", "1G", "iommufd", "a",
				  "iommufd", "b", "hostdev", "06:00.0"),
			    "hostdevs[0].iommufd", "choose one of \"a\", \"b\"");
}

/* "fd": a hostdev handed to the VMM as an open fd (iommufd backend only), its id
 * one of a kind among the contexts' and the other hostdevs' fd ids. */
static void test_hostdev_fd(void **state)
{
	struct vj_spec *spec, *back = NULL;
	struct vj_error *err = NULL;
	char *text;

	(void)state;
	spec = parse_ok("{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"fd\": \"gpu0\"},"
			" {\"pci\": \"06:00.1\"}, {\"pci\": \"07:00.0\", \"fd\": \"nic.1\"}]}");
	assert_string_equal(spec->hostdevs[0].fd, "gpu0");
	assert_null(spec->hostdevs[1].fd);
	assert_string_equal(spec->hostdevs[2].fd, "nic.1");
	assert_string_equal(spec->hostdevs[0].iommufd, "iommufd0"); /* still in a context */
	/* The spec as JSON (the state's, the hook's) keeps it, and only where set. */
	text = vj_spec_json(spec, NULL);
	assert_non_null(text);
	if (vj_spec_parse_string(text, &back, &err) != 0)
		fail_msg("%s: %s: %s", text, err->object, err->message);
	assert_string_equal(back->hostdevs[0].fd, "gpu0");
	assert_null(back->hostdevs[1].fd);
	assert_string_equal(back->hostdevs[2].fd, "nic.1");
	free(text);
	vj_spec_free(back);
	vj_spec_free(spec);

	/* The flag form, with the other options in any order. */
	spec = vj_spec_new();
	assert_non_null(spec);
	set_flag_ok(spec, "name", "vm");
	set_flag_ok(spec, "user", "nobody");
	set_flag_ok(spec, "memory", "1G");
	set_flag_ok(spec, "iommufd", "ctx");
	set_flag_ok(spec, "hostdev", "06:00.0,fd=gpu0,iommufd=ctx");
	set_flag_ok(spec, "hostdev", "06:00.1,backend=iommufd,fd=gpu1");
	assert_int_equal(vj_spec_finish(spec, &err), 0);
	assert_string_equal(spec->hostdevs[0].fd, "gpu0");
	assert_string_equal(spec->hostdevs[1].fd, "gpu1");
	vj_spec_free(spec);

	/* Legacy: no fd (named as the field, with the reason). */
	expect_json_error("{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"fd\": \"g\","
			  " \"backend\": \"legacy\"}]}",
			  "hostdevs[0].fd", "backend \"legacy\": a VFIO device is handed as an fd only with iommufd");
	expect_finish_error(FLAGS("name", "vm", "user", "nobody", "memory", "1G", "hostdev", "06:00.1",
				  "hostdev", "06:00.0,backend=legacy,fd=g"),
			    "hostdevs[1].fd", "only with iommufd");
	/* Duplicate fd ids, and an fd id that is a context's (declared, or the default). */
	expect_json_error("{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"fd\": \"g\"},"
			  " {\"pci\": \"06:00.1\", \"fd\": \"g\"}]}",
			  "hostdevs[1].fd", "duplicate id \"g\": hostdevs[0] (0000:06:00.0) has it");
	expect_json_error("{" WITH_HOSTDEV ", \"iommufd\": [{\"id\": \"a\"}, {\"id\": \"b\"}],"
			  " \"hostdevs\": [{\"pci\": \"06:00.0\", \"iommufd\": \"a\", \"fd\": \"b\"}]}",
			  "hostdevs[0].fd", "\"b\" is an iommufd context's id already");
	expect_finish_error(FLAGS("name", "vm", "user", "nobody", "memory", "1G", "hostdev",
				  "06:00.0,fd=iommufd0"),
			    "hostdevs[0].fd", "\"iommufd0\" is an iommufd context's id already");
	/* Not an object id, not a string. */
	expect_json_error("{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"fd\": \"0g\"}]}",
			  "hostdevs[0].fd", "\"0g\" is not an fd id");
	expect_json_error("{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"fd\": \"\"}]}",
			  "hostdevs[0].fd", "is not an fd id");
	expect_json_error("{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"fd\": 3}]}",
			  "hostdevs[0].fd", "");
	/* The names attach --qmp gives are its own. */
	expect_json_error("{" WITH_HOSTDEV ", \"hostdevs\": [{\"pci\": \"06:00.0\", \"fd\": \"vfiojail-gpu\"}]}",
			  "hostdevs[0].fd", "are the names attach --qmp gives");
	expect_flag_error(FLAGS("hostdev", "06:00.0,fd=a:b"), "--hostdev", "\"a:b\" is not an fd id");
	expect_flag_error(FLAGS("hostdev", "06:00.0,fd=a,fd=b"), "--hostdev", "\"fd=b\": option given twice");
	expect_flag_error(FLAGS("hostdev", "06:00.0,fd"), "--hostdev", "or fd=ID)");
}

static void test_flag_forms(void **state)
{
	struct vj_spec *spec = vj_spec_new();
	struct vj_error *err = NULL;

	assert_non_null(spec);
	set_flag_ok(spec, "name", "vm");
	set_flag_ok(spec, "user", "65534");
	set_flag_ok(spec, "memory", "4 GiB");
	set_flag_ok(spec, "hostdev", "06:00.0");
	set_flag_ok(spec, "device", "/dev/vfio/vfio:m");
	set_flag_ok(spec, "migration", "false");
	set_flag_ok(spec, "memlock-unlimited", NULL);
	set_flag_ok(spec, "groups", "daemon,4000");
	assert_int_equal(vj_spec_finish(spec, &err), 0);
	assert_int_equal(spec->n_groups, 2);
	assert_int_equal(spec->group_ids[0], DAEMON);
	assert_int_equal(spec->group_ids[1], 4000);
	assert_int_equal(spec->uid, NOBODY);
	assert_int_equal(spec->gid, NOBODY);
	assert_true(spec->memory == 4 * GiB);
	assert_string_equal(spec->hostdevs[0].pci, "0000:06:00.0");
	assert_string_equal(spec->hostdevs[0].iommufd, "iommufd0");
	assert_int_equal(spec->n_iommufd, 1);
	assert_string_equal(spec->devices[0].path, "/dev/vfio/vfio");
	assert_int_equal(spec->devices[0].access, VJ_ACC_MKNOD);
	assert_false(spec->migration);
	assert_int_equal(spec->memlock.mode, VJ_MEMLOCK_UNLIMITED);
	/* A second finish must not declare a second implicit context. */
	assert_int_equal(vj_spec_finish(spec, &err), 0);
	assert_int_equal(spec->n_iommufd, 1);
	vj_spec_free(spec);
}

/* Duplicates among many entries are found wherever they are, and name the first
 * entry; after entries leave the list (as detach removes them), a path can come
 * back once and only once. */
static void test_duplicates_in_long_lists(void **state)
{
	enum { N = 3000 };
	struct vj_spec *spec = vj_spec_new();
	struct vj_error *err = NULL;
	char path[64], field[32];
	size_t len = 0, cap = 64 * N + 256;
	char *json = malloc(cap);

	assert_non_null(spec);
	assert_non_null(json);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/dev/bench/d%d", i);
		assert_int_equal(vj_spec_set_flag(spec, "device", path, &err), 0);
	}
	assert_int_equal(spec->n_devices, N);
	assert_int_equal(vj_spec_set_flag(spec, "device", "/dev/bench/d2718", &err), -1);
	assert_spec_error(err, "--device", "\"/dev/bench/d2718\" is listed twice (devices[2718])");
	vj_error_free(err);
	err = NULL;

	/* Remove devices[5] and the last one the way hotplug detach does. */
	free(spec->devices[5].path);
	memmove(&spec->devices[5], &spec->devices[6], (N - 6) * sizeof(*spec->devices));
	free(spec->devices[N - 2].path);
	spec->n_devices = N - 2;
	assert_int_equal(vj_spec_set_flag(spec, "device", "/dev/bench/d5", &err), 0);
	assert_int_equal(vj_spec_set_flag(spec, "device", "/dev/bench/d5", &err), -1);
	assert_spec_error(err, "--device", "(devices[2998])");
	vj_error_free(err);
	err = NULL;
	assert_int_equal(vj_spec_set_flag(spec, "device", "/dev/bench/d7", &err), -1);
	assert_spec_error(err, "--device", "(devices[6])"); /* moved down by one */
	vj_error_free(err);
	err = NULL;
	assert_int_equal(vj_spec_set_flag(spec, "device", "/dev/bench/d2999", &err), 0);
	vj_spec_free(spec);

	/* The same in a spec file: the duplicate is the last entry. */
	len += (size_t)snprintf(json + len, cap - len, "{\"name\": \"x\", \"user\": \"nobody\", \"devices\": [");
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(json + len, cap - len, "\"/dev/bench/d%d\", ", i);
	snprintf(json + len, cap - len, "\"/dev/bench/d1\"]}");
	snprintf(field, sizeof(field), "devices[%d]", N);
	expect_json_error(json, field, "\"/dev/bench/d1\" is listed twice (devices[1])");
	free(json);
}

static void test_long_value_is_cut(void **state)
{
	char json[2048];
	char name[1001];
	struct vj_spec *spec = NOT_SET;
	struct vj_error *err = NULL;

	memset(name, 'a', 1000);
	name[1000] = '\0';
	snprintf(json, sizeof(json), "{\"name\": \"%s\", \"user\": \"nobody\"}", name);
	assert_int_equal(vj_spec_parse_string(json, &spec, &err), -1);
	assert_null(spec);
	assert_spec_error(err, "name", "1000 bytes long");
	assert_true(strlen(err->message) < 300);
	assert_contains(err->message, "...");
	vj_error_free(err);
}

/* A spec on the caller's stack: nothing is hidden behind the struct, so the flags,
 * their once-only checks and the duplicate lookups work on it as on vj_spec_new's,
 * and vj_spec_clear releases it (ASan and valgrind see no leak). */
static void test_caller_owned_spec(void **state)
{
	struct vj_spec spec;
	struct vj_error *err = NULL;

	(void)state;
	vj_spec_init(&spec);
	assert_null(spec.priv);
	assert_int_equal(spec.pci_host_bridges, 1);
	assert_int_equal(vj_spec_set_flag(&spec, "name", "stack-vm", &err), 0);
	assert_int_equal(vj_spec_set_flag(&spec, "user", "nobody", &err), 0);
	assert_int_equal(vj_spec_set_flag(&spec, "memory", "1GiB", &err), 0);
	assert_int_equal(vj_spec_set_flag(&spec, "device", "/dev/net/tun", &err), 0);
	assert_int_equal(vj_spec_set_flag(&spec, "memlock-extra", "1MiB", &err), 0);
	assert_non_null(spec.priv);
	/* once-only and duplicate checks need what the library keeps for the spec */
	assert_int_equal(vj_spec_set_flag(&spec, "memory", "2GiB", &err), -1);
	assert_non_null(strstr(err->message, "given twice"));
	vj_error_free(err);
	err = NULL;
	assert_int_equal(vj_spec_set_flag(&spec, "memlock-unlimited", NULL, &err), -1);
	assert_non_null(strstr(err->message, "cannot be combined with --memlock-extra"));
	vj_error_free(err);
	err = NULL;
	assert_int_equal(vj_spec_set_flag(&spec, "device", "/dev/net/tun", &err), -1);
	assert_non_null(strstr(err->message, "listed twice"));
	vj_error_free(err);
	err = NULL;
	assert_int_equal(vj_spec_finish(&spec, &err), 0);
	assert_string_equal(spec.name, "stack-vm");
	assert_int_equal(spec.n_devices, 1);
	vj_spec_clear(&spec);
	assert_null(spec.priv);
	assert_null(spec.name);
	/* cleared is initialised: it can be filled again */
	assert_int_equal(vj_spec_set_flag(&spec, "name", "again", &err), 0);
	vj_spec_clear(&spec);
}

/* The spec as the state keeps it (spec.c's table, field by field) parses back to
 * the same spec, and writes the same text again. */
static void test_spec_json_round_trip(void **state)
{
	char *path = spec_path("full.json"), *text, *again;
	static const char *const keys[] = { "name", "user", "group", "memory", "arch", "iommufd",
					    "hostdevs", "devices", "viommu", "nvme", "vdpa",
					    "pci_host_bridges", "migration", "memlock" };
	struct vj_spec *spec = NULL, *back = NULL;
	struct vj_error *err = NULL;

	(void)state;
	assert_int_equal(vj_spec_parse_file(path, &spec, &err), 0);
	text = vj_spec_json(spec, NULL);
	assert_non_null(text);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *quoted = pathf("\"%s\":", keys[i]);
		if (!strstr(text, quoted))
			fail_msg("%s lacks %s", text, quoted);
		free(quoted);
	}
	if (vj_spec_parse_string(text, &back, &err) != 0)
		fail_msg("%s: %s: %s", text, err->object, err->message);
	assert_int_equal(back->uid, NOBODY);
	assert_int_equal(back->gid, DAEMON);
	assert_true(back->memory == 32 * GiB);
	assert_int_equal(back->n_hostdevs, 3);
	assert_int_equal(back->hostdevs[1].backend, VJ_BACKEND_LEGACY);
	assert_int_equal(back->n_devices, 4);
	assert_int_equal(back->memlock.mode, VJ_MEMLOCK_HARD);
	assert_true(back->migration);
	again = vj_spec_json(back, NULL);
	assert_string_equal(again, text);
	free(again);
	free(text);
	free(path);
	vj_spec_free(back);
	vj_spec_free(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_spec_file),
		cmocka_unit_test(test_spec_json_round_trip),
		cmocka_unit_test(test_caller_owned_spec),
		cmocka_unit_test(test_flags_same_as_full_spec),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_hostdev_contexts),
		cmocka_unit_test(test_hostdev_fd),
		cmocka_unit_test(test_numeric_users_and_groups),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_sizes_and_memlock_forms),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_invalid_spec_files),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_flag_errors),
		cmocka_unit_test(test_flag_finish_errors),
		cmocka_unit_test(test_flag_forms),
		cmocka_unit_test(test_long_value_is_cut),
		cmocka_unit_test(test_duplicates_in_long_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
