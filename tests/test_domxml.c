/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The spec derived from a libvirt domain XML (src/policy/domxml.c): libvirt's
 * own test data (tests/fixtures/libvirt/README), vfiojail's edge cases, and
 * hostile XML.  The fixture host tests/fixtures/libvirt/host has a dev tree of
 * plain files and symlinks and a sysfs with USB and SCSI devices.
 */
#include <fcntl.h>
#include <json-c/json.h>

#include "config.h"
#include "domxml.h"
#include "testlib.h"
#include "util.h"
#include "vfiojail/vfiojail.h"

static char *fixture(const char *name)
{
	const char *root = getenv("VJ_FIXTURES");

	assert_non_null(root);
	return pathf("%s/libvirt/%s", root, name);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;

	if (!f)
		fail_msg("%s: %m", path);
	assert_true(getdelim(&buf, &cap, '\0', f) >= 0);
	*len = strlen(buf);
	fclose(f);
	return buf;
}

/* The fixture host's roots; uid and gid as numbers so that no passwd entry is needed. */
struct host {
	char *sys, *dev;
	struct vj_domxml_opts o;
};

static void host_init(struct host *h)
{
	h->sys = fixture("host/sys");
	h->dev = fixture("host/dev");
	h->o = (struct vj_domxml_opts){ .user = "64055", .group = "107",
					.roots = { .sysfs = h->sys, .dev = h->dev } };
}

static void host_clear(struct host *h)
{
	free(h->sys);
	free(h->dev);
}

static struct vj_spec *derive_file(const char *name, const struct vj_domxml_opts *o)
{
	_cleanup_free_ char *path = fixture(name);
	struct vj_spec *spec = NULL;
	struct vj_error *err = NULL;
	size_t len;
	char *xml = read_all(path, &len);

	if (vj_spec_from_libvirt(xml, len, o, &spec, NULL, &err) != 0)
		fail_msg("%s: %s: %s: %s", name, err->step, err->object, err->message);
	free(xml);
	assert_non_null(spec);
	return spec;
}

static void assert_hostdev(const struct vj_spec *s, size_t i, const char *pci,
			   enum vj_backend backend)
{
	assert_true(i < s->n_hostdevs);
	assert_string_equal(s->hostdevs[i].pci, pci);
	assert_int_equal(s->hostdevs[i].backend, backend);
}

static void assert_device(const struct vj_spec *s, size_t i, const char *path, unsigned access)
{
	assert_true(i < s->n_devices);
	assert_string_equal(s->devices[i].path, path);
	assert_int_equal(s->devices[i].access, access);
}

#define RW (VJ_ACC_READ | VJ_ACC_WRITE)
#define KiB UINT64_C(1024)

/* ---- libvirt's test data ------------------------------------------------------ */

static void test_libvirt_hostdev_vfio(void **state)
{
	struct host h;
	struct vj_spec *s;

	host_init(&h);
	s = derive_file("hostdev-vfio.xml", &h.o);
	assert_string_equal(s->name, "QEMUGuest2");
	assert_int_equal(s->uid, 64055);
	assert_int_equal(s->gid, 107);
	assert_int_equal(s->memory, 219100 * KiB);
	assert_string_equal(s->arch, "x86_64");
	/* No <driver iommufd>, no domain <iommufd>: libvirt's default, legacy VFIO. */
	assert_int_equal(s->n_hostdevs, 4);
	assert_hostdev(s, 0, "0000:06:12.1", VJ_BACKEND_LEGACY);
	assert_hostdev(s, 1, "0000:06:12.2", VJ_BACKEND_LEGACY);
	assert_hostdev(s, 2, "0000:06:12.3", VJ_BACKEND_LEGACY);
	assert_hostdev(s, 3, "0000:06:12.4", VJ_BACKEND_LEGACY);
	/* /dev/HostVG/QEMUGuest2 is a symlink to ../dm-1: the node is kept. */
	assert_int_equal(s->n_devices, 1);
	assert_device(s, 0, "/dev/dm-1", RW);
	vj_spec_free(s);
	host_clear(&h);
}

static void test_libvirt_disk_nvme(void **state)
{
	struct host h;
	struct vj_spec *s;

	host_init(&h);
	s = derive_file("disk-nvme.xml", &h.o);
	/* Four disks on three controllers: namespaces 1 and 2 of 0000:01:00.0 share it. */
	assert_int_equal(s->nvme, 4);
	assert_int_equal(s->n_hostdevs, 3);
	assert_hostdev(s, 0, "0000:01:00.0", VJ_BACKEND_LEGACY);
	assert_hostdev(s, 1, "0000:02:00.0", VJ_BACKEND_LEGACY);
	assert_hostdev(s, 2, "0001:02:00.0", VJ_BACKEND_LEGACY);
	assert_int_equal(s->memory, 219136 * KiB);
	vj_spec_free(s);
	host_clear(&h);
}

static void test_libvirt_memory_hotplug(void **state)
{
	struct host h;
	struct vj_spec *s;

	host_init(&h);
	s = derive_file("memory-hotplug-dimm.xml", &h.o);
	/* <maxMemory> (1 PiB), not <memory>: the spec's memory includes the hotplug maximum. */
	assert_int_equal(s->memory, UINT64_C(1099511627776) * KiB);
	assert_device(s, 0, "/dev/dm-0", RW);
	vj_spec_free(s);
	host_clear(&h);
}

static void test_libvirt_usb_scsi(void **state)
{
	struct host h;
	struct vj_spec *s;

	host_init(&h);
	s = derive_file("hostdev-usb-address-device.xml", &h.o);
	assert_string_equal(s->arch, "i686");
	assert_int_equal(s->n_devices, 2);
	assert_device(s, 1, "/dev/bus/usb/014/006", RW); /* bus='14' device='6' */
	vj_spec_free(s);

	s = derive_file("hostdev-scsi-lsi.xml", &h.o);
	/* scsi_host0 0:0:0 and 0:0:1 (read-only); the four iSCSI ones need no node. */
	assert_int_equal(s->n_devices, 3);
	assert_device(s, 1, "/dev/sg0", RW);
	assert_device(s, 2, "/dev/sg1", VJ_ACC_READ);
	assert_int_equal(s->n_hostdevs, 0);
	vj_spec_free(s);
	host_clear(&h);
}

static void test_libvirt_other_nodes(void **state)
{
	struct host h;
	struct vj_spec *s;

	host_init(&h);
	s = derive_file("tpm-passthrough.xml", &h.o);
	assert_int_equal(s->n_devices, 1);
	assert_device(s, 0, "/dev/tpm0", RW);
	assert_int_equal(s->memory, 2097152 * KiB); /* <memory>, not <currentMemory> */
	vj_spec_free(s);

	s = derive_file("input-linux.xml", &h.o);
	assert_device(s, 0, "/dev/input/event1234", RW);
	vj_spec_free(s);

	s = derive_file("intel-iommu-caching-mode.xml", &h.o);
	assert_int_equal(s->viommu, 1);
	assert_int_equal(s->n_devices, 0);
	vj_spec_free(s);

	/* Hugepages change nothing: no memlock, no node (hugetlbfs is no device). */
	s = derive_file("hugepages-default.xml", &h.o);
	assert_int_equal(s->memlock.mode, VJ_MEMLOCK_AUTO);
	assert_int_equal(s->n_devices, 0);
	vj_spec_free(s);
	host_clear(&h);
}

/* ---- the user ------------------------------------------------------------------ */

static json_object *derive_json(const char *xml, const struct vj_domxml_opts *o,
				struct vj_error **err)
{
	json_object *out = NULL;

	if (vj_domxml_to_spec_json(xml, strlen(xml), o, &out, err) != 0)
		return NULL;
	assert_non_null(out);
	return out;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
	return json_object_get_int64(v);
}

#define DOM(body) "<domain type='kvm'><name>vm</name><memory>1024</memory>" body "</domain>"

static void test_user_sources(void **state)
{
	struct host h;
	struct vj_domxml_opts o = { 0 };
	struct vj_error *err = NULL;
	json_object *j;
	_cleanup_free_ char *path = fixture("seclabel-static.xml");
	size_t len;
	char *xml;

	host_init(&h);
	o.roots = h.o.roots;

	/* No DAC seclabel (seclabel-static.xml has an SELinux one): the build's default. */
	xml = read_all(path, &len);
	assert_int_equal(vj_domxml_to_spec_json(xml, len, &o, &j, NULL), 0);
	assert_string_equal(jstr(j, "user"), VJ_LIBVIRT_QEMU_USER);
	assert_null(jstr(j, "group"));
	json_object_put(j);
	free(xml);

	o.default_user = "qemu";
	j = derive_json(DOM(""), &o, NULL);
	assert_string_equal(jstr(j, "user"), "qemu");
	json_object_put(j);

	/* The DAC label: +uid:+gid as numbers, names as names. */
	j = derive_json(DOM("<seclabel type='static' model='dac' relabel='yes'>"
			    "<label>+107:+108</label><imagelabel>+1:+1</imagelabel></seclabel>"),
			&o, NULL);
	assert_string_equal(jstr(j, "user"), "107");
	assert_string_equal(jstr(j, "group"), "108");
	json_object_put(j);
	j = derive_json(DOM("<seclabel type='static' model='selinux'><label>a:b:c</label></seclabel>"
			    "<seclabel type='static' model='dac'><label>qemu:kvm</label></seclabel>"),
			&o, NULL);
	assert_string_equal(jstr(j, "user"), "qemu");
	assert_string_equal(jstr(j, "group"), "kvm");
	json_object_put(j);

	/* --user and --group win. */
	o.user = "alice";
	o.group = "vms";
	j = derive_json(DOM("<seclabel type='static' model='dac'><label>qemu:kvm</label></seclabel>"),
			&o, NULL);
	assert_string_equal(jstr(j, "user"), "alice");
	assert_string_equal(jstr(j, "group"), "vms");
	json_object_put(j);
	o.user = NULL;
	j = derive_json(DOM("<seclabel type='static' model='dac'><label>qemu:kvm</label></seclabel>"),
			&o, NULL);
	assert_string_equal(jstr(j, "user"), "qemu");
	assert_string_equal(jstr(j, "group"), "vms");
	json_object_put(j);

	/* A label that is not USER:GROUP names the element. */
	assert_null(derive_json(DOM("<seclabel type='static' model='dac'><label>qemu</label>"
				    "</seclabel>"),
				&o, &err));
	assert_error_of(err, VJ_EXIT_USAGE, "libvirt", "seclabel/label");
	assert_contains(err->message, "USER:GROUP");
	vj_error_free(err);
	err = NULL;

	/* A label the spec refuses (root) names the label, with the spec's reason. */
	{
		const char *root = DOM("<seclabel type='static' model='dac'><label>+0:+0</label>"
				       "</seclabel>");
		struct vj_spec *s = NULL;
		assert_int_equal(vj_spec_from_libvirt(root, strlen(root), &o, &s, NULL, &err), -1);
		assert_null(s);
		assert_error_of(err, VJ_EXIT_USAGE, "libvirt", "seclabel/label");
		assert_non_null(err->cause);
		assert_string_equal(err->cause->object, "user");
		assert_contains(err->cause->message, "root");
		vj_error_free(err);
	}
	host_clear(&h);
}

/* ---- memory ------------------------------------------------------------------- */

static void test_memory_units(void **state)
{
	static const struct {
		const char *xml;
		uint64_t bytes;
	} cases[] = {
		{ "<memory>4</memory>", 4 * KiB }, /* no unit: KiB */
		{ "<memory unit='b'>1</memory>", KiB }, /* rounded up to whole KiB */
		{ "<memory unit='bytes'>4096</memory>", 4 * KiB },
		{ "<memory unit='KB'>1</memory>", KiB },
		{ "<memory unit='MB'>1</memory>", 977 * KiB }, /* 10^6 bytes, up to KiB */
		{ "<memory unit='k'>3</memory>", 3 * KiB },
		{ "<memory unit='M'>1</memory>", 1024 * KiB },
		{ "<memory unit='MiB'>3</memory>", 3 * 1024 * KiB },
		{ "<memory unit='g'>2</memory>", UINT64_C(2) << 30 },
		{ "<memory unit='GB'>2</memory>", UINT64_C(2000000000) },
		{ "<memory unit='TiB'>1</memory>", UINT64_C(1) << 40 },
		{ "<memory unit='t'>1</memory>", UINT64_C(1) << 40 },
		{ "<memory unit='TB'>1</memory>", UINT64_C(1000000000000) },
		{ "<memory unit='PiB'>1</memory>", UINT64_C(1) << 50 },
		{ "<memory unit='EiB'>7</memory>", UINT64_C(7) << 60 },
		{ "<memory unit='GiB'> 4\n</memory>", UINT64_C(4) << 30 },
		/* <maxMemory> when larger; a smaller one changes nothing. */
		{ "<memory unit='GiB'>4</memory><maxMemory slots='2' unit='GiB'>16</maxMemory>",
		  UINT64_C(16) << 30 },
		{ "<maxMemory slots='2' unit='MiB'>16</maxMemory><memory unit='GiB'>1</memory>",
		  UINT64_C(1) << 30 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *xml = pathf("<domain><name>vm</name>%s</domain>", cases[i].xml);
		struct vj_error *err = NULL;
		json_object *j = derive_json(xml, NULL, &err);

		if (!j)
			fail_msg("%s: %s: %s", cases[i].xml, err->object, err->message);
		if ((uint64_t)jint(j, "memory") != cases[i].bytes)
			fail_msg("%s: %lld bytes, want %llu", cases[i].xml, (long long)jint(j, "memory"),
				 (unsigned long long)cases[i].bytes);
		json_object_put(j);
	}
}

static void test_memlock(void **state)
{
	json_object *j, *m = NULL, *v = NULL;

	/* <locked/>: libvirt lifts QEMU's limit. */
	j = derive_json(DOM("<memoryBacking><locked/></memoryBacking>"), NULL, NULL);
	assert_true(json_object_object_get_ex(j, "memlock", &m));
	assert_true(json_object_object_get_ex(m, "unlimited", &v));
	assert_true(json_object_get_boolean(v));
	json_object_put(j);
	/* <memtune><hard_limit> wins over <locked/>, as in libvirt. */
	j = derive_json(DOM("<memtune><hard_limit unit='GiB'>3</hard_limit></memtune>"
			    "<memoryBacking><locked/><hugepages/></memoryBacking>"),
			NULL, NULL);
	assert_true(json_object_object_get_ex(j, "memlock", &m));
	assert_int_equal(jint(m, "hard_limit"), INT64_C(3) << 30);
	json_object_put(j);
	/* libvirt's "unlimited" hard_limit is none: <locked/> decides. */
	j = derive_json(DOM("<memtune><hard_limit unit='KiB'>9007199254740991</hard_limit></memtune>"
			    "<memoryBacking><locked/></memoryBacking>"),
			NULL, NULL);
	assert_true(json_object_object_get_ex(j, "memlock", &m));
	assert_true(json_object_object_get_ex(m, "unlimited", &v));
	json_object_put(j);
	/* Hugepages alone: nothing. */
	j = derive_json(DOM("<memoryBacking><hugepages><page size='1' unit='G'/></hugepages>"
			    "</memoryBacking>"),
			NULL, NULL);
	assert_false(json_object_object_get_ex(j, "memlock", &m));
	json_object_put(j);
}

/* ---- backends ----------------------------------------------------------------- */

#define PCI(b, f) "<source><address domain='0x0009' bus='" b "' slot='0' function='" f "'/></source>"

static void test_backends(void **state)
{
	struct host h;
	struct vj_spec *s = NULL;
	struct vj_error *err = NULL;
	const char *xml;

	host_init(&h);
	/* Domain default iommufd; one hostdev opts out; an SR-IOV interface follows the default. */
	xml = DOM("<iommufd enabled='yes' fdgroup='iommu'/><devices>"
		  "<hostdev mode='subsystem' type='pci'>" PCI("6", "0") "</hostdev>"
		  "<hostdev mode='subsystem' type='pci'><driver iommufd='no'/>" PCI("7", "0") "</hostdev>"
		  "<interface type='hostdev'><source><address type='pci' domain='9' bus='6' "
		  "slot='0' function='1'/></source></interface></devices>");
	assert_int_equal(vj_spec_from_libvirt(xml, strlen(xml), &h.o, &s, NULL, &err), 0);
	assert_hostdev(s, 0, "0009:06:00.0", VJ_BACKEND_IOMMUFD);
	assert_hostdev(s, 1, "0009:07:00.0", VJ_BACKEND_LEGACY);
	assert_hostdev(s, 2, "0009:06:00.1", VJ_BACKEND_IOMMUFD);
	assert_string_equal(s->hostdevs[0].iommufd, "iommufd0");
	vj_spec_free(s);

	/* Per device <driver name='vfio' iommufd='yes'/>; numbers in octal and decimal
	 * as libvirt reads them (base 0). */
	xml = DOM("<devices><hostdev mode='subsystem' type='pci' managed='yes'>"
		  "<driver name='vfio' iommufd='yes'/>"
		  "<source><address domain='011' bus='6' slot='0x00' function='00'/></source>"
		  "</hostdev></devices>");
	assert_int_equal(vj_spec_from_libvirt(xml, strlen(xml), &h.o, &s, NULL, &err), 0);
	assert_hostdev(s, 0, "0009:06:00.0", VJ_BACKEND_IOMMUFD);
	vj_spec_free(s);
	host_clear(&h);
}

/* ---- every node the derivation maps ------------------------------------------- */

static void test_devices_fixture(void **state)
{
	struct host h;
	struct vj_spec *s;

	host_init(&h);
	h.o.user = NULL;
	h.o.group = NULL;
	s = derive_file("derive-devices.xml", &h.o);
	assert_int_equal(s->uid, 64055); /* the DAC label +64055:+107 */
	assert_int_equal(s->gid, 107);
	assert_string_equal(s->arch, "aarch64");
	assert_int_equal(s->memory, UINT64_C(2) << 30);
	assert_int_equal(s->memlock.mode, VJ_MEMLOCK_HARD);
	assert_int_equal(s->memlock.hard_limit, UINT64_C(3) << 30);
	assert_int_equal(s->viommu, 2);
	assert_int_equal(s->vdpa, 1);
	assert_int_equal(s->n_hostdevs, 3);
	assert_int_equal(s->n_devices, 11);
	assert_device(s, 0, "/dev/sda", RW);            /* by-id symlink */
	assert_device(s, 1, "/dev/sr0", VJ_ACC_READ);   /* a cdrom is read-only */
	assert_device(s, 2, "/dev/dm-2", RW);           /* multipath /dev/mapper link */
	assert_device(s, 3, "/dev/dm-3", VJ_ACC_READ);  /* backing store, absolute link */
	assert_device(s, 4, "/dev/bus/usb/003/007", RW); /* vendor 046d product c52b */
	assert_device(s, 5, "/dev/ttyS0", RW);          /* serial and console: once */
	assert_device(s, 6, "/dev/input/event1234", RW);
	assert_device(s, 7, "/dev/tpm0", RW);           /* passthrough's default */
	assert_device(s, 8, "/dev/hwrng", VJ_ACC_READ);
	assert_device(s, 9, "/dev/dri/renderD128", RW);
	assert_device(s, 10, "/dev/dax0.0", RW);
	vj_spec_free(s);
	host_clear(&h);
}

/* ---- errors name the element ---------------------------------------------------- */

struct bad {
	const char *xml;
	const char *object;
	const char *needle;
};

static void expect_errors(const struct bad *cases, size_t n, const struct vj_domxml_opts *o)
{
	for (size_t i = 0; i < n; i++) {
		struct vj_spec *s = NULL;
		struct vj_error *err = NULL;
		char *json = (char *)"unset";

		if (vj_spec_from_libvirt(cases[i].xml, strlen(cases[i].xml), o, &s, &json, &err) == 0)
			fail_msg("accepted: %s", cases[i].xml);
		assert_null(s);
		assert_null(json);
		assert_non_null(err);
		assert_int_equal(err->status, VJ_EXIT_USAGE);
		if (strcmp(err->object, cases[i].object) != 0 || !strstr(err->message, cases[i].needle))
			fail_msg("%s\n  got %s: %s: %s\n  want %s: ...%s...", cases[i].xml, err->step,
				 err->object, err->message, cases[i].object, cases[i].needle);
		vj_error_free(err);
	}
}

static void test_errors_name_elements(void **state)
{
	static const struct bad cases[] = {
		{ DOM("<devices><disk type='file'/><hostdev mode='subsystem' type='pci'>" PCI("6", "0")
		      "</hostdev><hostdev mode='subsystem' type='pci'><source><address bus='0x100'/>"
		      "</source></hostdev></devices>"),
		  "devices/hostdev[2]/source/address", "bus=\"0x100\"" },
		{ DOM("<devices><hostdev mode='subsystem' type='pci'><source><address slot='0x20'/>"
		      "</source></hostdev></devices>"),
		  "devices/hostdev[1]/source/address", "slot=\"0x20\"" },
		{ DOM("<devices><hostdev mode='subsystem' type='pci'><source><address function='-1'/>"
		      "</source></hostdev></devices>"),
		  "devices/hostdev[1]/source/address", "function" },
		{ DOM("<devices><hostdev mode='subsystem' type='pci'><source><address bus='08'/>"
		      "</source></hostdev></devices>"),
		  "devices/hostdev[1]/source/address", "bus=\"08\"" }, /* not octal */
		{ DOM("<devices><hostdev mode='subsystem' type='pci'><source/></hostdev></devices>"),
		  "devices/hostdev[1]/source", "<source><address" },
		{ DOM("<devices><hostdev mode='subsystem' type='pci'><driver name='kvm'/>" PCI("6", "0")
		      "</hostdev></devices>"),
		  "devices/hostdev[1]/driver", "VFIO only" },
		{ DOM("<devices><hostdev mode='subsystem' type='pci'><driver iommufd='on'/>" PCI("6", "0")
		      "</hostdev></devices>"),
		  "devices/hostdev[1]/driver", "not yes or no" },
		{ DOM("<iommufd enabled='1'/>"), "iommufd", "not yes or no" },
		{ DOM("<devices><hostdev mode='subsystem' type='pci'>" PCI("6", "0") "</hostdev>"
		      "<disk type='nvme'>" PCI("0x06", "0x0") "</disk></devices>"),
		  "devices/disk[1]/source/address", "assigned twice" },
		{ DOM("<devices><hostdev mode='subsystem' type='mdev' model='vfio-pci'/></devices>"),
		  "devices/hostdev[1]", "mediated" },
		{ DOM("<devices><hostdev mode='subsystem' type='frob'/></devices>"),
		  "devices/hostdev[1]", "type=\"frob\"" },
		{ DOM("<devices><disk type='block'><source dev='/srv/disk.img'/></disk></devices>"),
		  "devices/disk[1]/source", "not under /dev" },
		{ DOM("<devices><disk type='block'><source dev='/dev/HostVG/nosuch'/></disk></devices>"),
		  "devices/disk[1]/source", "No such file" },
		{ DOM("<devices><disk type='block'><source dev='/dev/../etc/passwd'/></disk></devices>"),
		  "devices/disk[1]/source", "leads out of /dev" },
		{ DOM("<devices><hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/>"
		      "<product id='0xbeef'/></source></hostdev></devices>"),
		  "devices/hostdev[1]/source", "no USB device 1234:beef" },
		{ DOM("<devices><hostdev mode='subsystem' type='usb'><source><vendor id='0x0781'/>"
		      "<product id='0x5567'/></source></hostdev></devices>"),
		  "devices/hostdev[1]/source", "2 USB devices" },
		{ DOM("<devices><hostdev mode='subsystem' type='usb'><source><vendor id='0x10000'/>"
		      "<product id='1'/></source></hostdev></devices>"),
		  "devices/hostdev[1]/source/vendor", "id=\"0x10000\"" },
		{ DOM("<devices><hostdev mode='subsystem' type='scsi'><source>"
		      "<adapter name='scsi_host3'/><address bus='0' target='0' unit='0'/></source>"
		      "</hostdev></devices>"),
		  "devices/hostdev[1]/source/address", "no sg node" },
		{ DOM("<devices><hostdev mode='subsystem' type='scsi'><source>"
		      "<adapter name='host0'/><address bus='0' target='0' unit='0'/></source>"
		      "</hostdev></devices>"),
		  "devices/hostdev[1]/source/adapter", "scsi_hostN" },
		{ DOM("<devices><serial type='dev'><source mode='bind'/></serial></devices>"),
		  "devices/serial[1]/source", "path attribute" },
		{ DOM("<os><type arch='sparc64'>hvm</type></os>"), "os/type", "sparc64" },
		{ DOM("<memtune><hard_limit unit='X'>1</hard_limit></memtune>"), "memtune/hard_limit",
		  "unit=\"X\"" },
		{ "<domain><name>vm</name><memory unit='ZiB'>1</memory></domain>", "memory", "unit" },
		{ "<domain><name>vm</name><memory unit='EiB'>8</memory></domain>", "memory",
		  "too large" },
		{ "<domain><name>vm</name><memory>18446744073709551616</memory></domain>", "memory",
		  "too large" },
		{ "<domain><name>vm</name><memory>-1</memory></domain>", "memory", "not a decimal" },
		{ "<domain><name>vm</name><memory>1.5</memory></domain>", "memory", "not a decimal" },
		{ "<domain><name>vm</name><memory unit='GiB'></memory></domain>", "memory", "empty" },
		{ "<domain><name>vm</name><memory>1</memory><maxMemory>x</maxMemory></domain>",
		  "maxMemory", "not a decimal" },
		{ "<domain><memory>1</memory></domain>", "domain", "<name>" },
		{ "<domain><name>vm</name></domain>", "domain", "<memory>" },
		{ "<vm><name>x</name></vm>", "domain XML", "<vm>" },
		{ "<domain><name>vm</name>", "domain XML", "not well-formed" },
		{ "", "domain XML", "not well-formed" },
		/* What the spec refuses names the spec's field. */
		{ "<domain><name>a/b</name><memory>1</memory></domain>", "name", "/" },
	};
	struct host h;

	host_init(&h);
	expect_errors(cases, ARRAY_SIZE(cases), &h.o);
	host_clear(&h);
}

/* Symlinks are followed inside the dev root only. */
static void test_symlinks(void **state)
{
	_cleanup_free_ char *dir = temp_dir("vj-domxml");
	_cleanup_free_ char *dev = pathf("%s/dev", dir);
	struct vj_domxml_opts o = { .user = "64055", .group = "107", .roots = { .dev = dev } };
	static const struct {
		const char *src;
		const char *node; /* NULL: refused with @needle */
		const char *needle;
	} cases[] = {
		{ "/dev/vg/lv", "/dev/dm-7", NULL },          /* relative, through a dir link */
		{ "/dev/abs", "/dev/dm-7", NULL },            /* absolute into /dev */
		{ "/dev/chain", "/dev/dm-7", NULL },          /* link to a link */
		{ "/dev/vg/./lv", "/dev/dm-7", NULL },
		{ "/dev/dm-7", "/dev/dm-7", NULL },
		{ "/dev/out", NULL, "leads out of /dev" },    /* ../../etc/passwd */
		{ "/dev/outabs", NULL, "leads out of /dev" }, /* /etc/passwd */
		{ "/dev/loop", NULL, "Too many levels" },
		{ "/dev/dm-7/x", NULL, "Not a directory" },
		{ "/dev/vg", NULL, "Is a directory" },
	};

	assert_int_equal(mkdir(dev, 0755), 0);
	{
		_cleanup_free_ char *node = pathf("%s/dm-7", dev), *real = pathf("%s/realvg", dev),
				    *vg = pathf("%s/vg", dev), *lv = pathf("%s/realvg/lv", dev),
				    *abs = pathf("%s/abs", dev), *chain = pathf("%s/chain", dev),
				    *out = pathf("%s/out", dev), *outabs = pathf("%s/outabs", dev),
				    *loop = pathf("%s/loop", dev);
		write_file(node, "");
		assert_int_equal(mkdir(real, 0755), 0);
		assert_int_equal(symlink("realvg", vg), 0);
		assert_int_equal(symlink("../dm-7", lv), 0);
		assert_int_equal(symlink("/dev/dm-7", abs), 0);
		assert_int_equal(symlink("vg/lv", chain), 0);
		assert_int_equal(symlink("../../etc/passwd", out), 0);
		assert_int_equal(symlink("/etc/passwd", outabs), 0);
		assert_int_equal(symlink("loop", loop), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *xml = pathf(DOM("<devices><disk type='block'><source dev='%s'/>"
						     "</disk></devices>"),
						 cases[i].src);
		struct vj_spec *s = NULL;
		struct vj_error *err = NULL;
		int r = vj_spec_from_libvirt(xml, strlen(xml), &o, &s, NULL, &err);

		if (cases[i].node) {
			if (r != 0)
				fail_msg("%s: %s: %s", cases[i].src, err->object, err->message);
			assert_device(s, 0, cases[i].node, RW);
			vj_spec_free(s);
		} else {
			if (r == 0)
				fail_msg("%s: accepted as %s", cases[i].src, s->devices[0].path);
			assert_string_equal(err->object, "devices/disk[1]/source");
			assert_contains(err->message, cases[i].needle);
			vj_error_free(err);
		}
	}
	assert_int_equal(rm_tree(dir), 0);
}

/* ---- hostile XML ------------------------------------------------------------------ */

static void test_hostile(void **state)
{
	static const struct bad cases[] = {
		/* Billion laughs: refused, in no time and little memory. */
		{ "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'>"
		  "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>"
		  "<!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'><!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'>"
		  "<!ENTITY f '&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;'><!ENTITY g '&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;'>"
		  "<!ENTITY h '&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;'><!ENTITY i '&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;'>"
		  "]><domain><name>&i;</name><memory>1</memory></domain>",
		  "domain XML", "" },
		/* External entities and DTDs: refused, never read. */
		{ "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
		  "<domain><name>&x;</name><memory>1</memory></domain>",
		  "domain XML", "" },
		{ "<?xml version='1.0'?><!DOCTYPE domain SYSTEM 'file:///etc/passwd'>"
		  "<domain><name>vm</name><memory>1</memory></domain>",
		  "domain XML", "DOCTYPE" },
		{ "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY n 'vm'>]>"
		  "<domain><name>&n;</name><memory>1</memory></domain>",
		  "domain XML", "DOCTYPE" },
		/* An undeclared entity is no entity. */
		{ "<domain><name>&x;</name><memory>1</memory></domain>", "domain XML",
		  "not well-formed" },
		{ "<?xml version='1.0'?><?xml-stylesheet href='http://example.org/x.xsl'?>"
		  "<domain><name>vm</name><memory>1</memory><xi:include "
		  "xmlns:xi='http://www.w3.org/2001/XInclude' href='/etc/passwd'/></domain>",
		  "domain XML", "" },
	};
	struct host h;

	host_init(&h);
	/* The XInclude is not processed: it is only an unknown element.  Accepted, harmless. */
	{
		const char *xml = cases[5].xml;
		struct vj_spec *s = NULL;
		assert_int_equal(vj_spec_from_libvirt(xml, strlen(xml), &h.o, &s, NULL, NULL), 0);
		assert_string_equal(s->name, "vm");
		assert_int_equal(s->n_devices, 0);
		vj_spec_free(s);
	}
	expect_errors(cases, 5, &h.o);
	host_clear(&h);
}

static void test_size_limits(void **state)
{
	size_t len = VJ_DOMXML_MAX + 1;
	char *xml = malloc(len + 1);
	struct vj_spec *s = NULL;
	struct vj_error *err = NULL;
	const char *nul = "<domain><name>vm</name>\0<memory>1</memory></domain>";

	assert_non_null(xml);
	memset(xml, ' ', len);
	xml[len] = '\0';
	assert_int_equal(vj_spec_from_libvirt(xml, len, NULL, &s, NULL, &err), -1);
	assert_error_of(err, VJ_EXIT_USAGE, "libvirt", "domain XML");
	assert_contains(err->message, "larger than 4 MiB");
	vj_error_free(err);
	err = NULL;
	free(xml);
	assert_int_equal(vj_spec_from_libvirt(nul, 52, NULL, &s, NULL, &err), -1);
	assert_contains(err->message, "NUL");
	vj_error_free(err);
}

/* Namespaced elements (qemu:commandline) and unknown ones are not libvirt's devices. */
static void test_foreign_elements(void **state)
{
	const char *xml = "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
			  "<name>vm</name><memory>1024</memory><devices>"
			  "<qemu:hostdev type='pci'><source><address bus='0x100'/></source></qemu:hostdev>"
			  "</devices><qemu:commandline><qemu:arg value='-device'/></qemu:commandline>"
			  "</domain>";
	json_object *j = derive_json(xml, NULL, NULL);

	assert_non_null(j);
	assert_false(json_object_object_get_ex(j, "hostdevs", NULL));
	json_object_put(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libvirt_hostdev_vfio),
		cmocka_unit_test(test_libvirt_disk_nvme),
		cmocka_unit_test(test_libvirt_memory_hotplug),
		cmocka_unit_test(test_libvirt_usb_scsi),
		cmocka_unit_test(test_libvirt_other_nodes),
		cmocka_unit_test(test_user_sources),
		cmocka_unit_test(test_memory_units),
		cmocka_unit_test(test_memlock),
		cmocka_unit_test(test_backends),
		cmocka_unit_test(test_devices_fixture),
		cmocka_unit_test(test_errors_name_elements),
		cmocka_unit_test(test_symlinks),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_foreign_elements),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
