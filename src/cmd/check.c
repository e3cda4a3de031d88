/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vfiojail check`: can this host give a VM its devices?  Each check is one line,
 * PASS, WARN or FAIL, with a hint for what is not PASS.  Nothing is changed: the
 * BPF probe program is loaded and dropped, the namespace probe is a child that
 * exits, /dev/iommu is only asked (IOMMU_OPTION GET).
 */
#include <json-c/json.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "devfilter.h"
#include "error.h"
#include "jail.h"
#include "pins.h"
#include "iommufd.h"
#include "plan.h"
#include "privs.h"
#include "size.h"
#include "state.h"
#include "sysfs.h"
#include "util.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static int add(struct vj_check_report *r, const char *name, enum vj_check_status st,
	       const char *hint, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int add(struct vj_check_report *r, const char *name, enum vj_check_status st,
	       const char *hint, const char *fmt, ...)
{
	struct vj_check *c = VJ_PUSH(r->checks, r->n_checks);
	va_list ap;
	int n;

	if (!c)
		return -ENOMEM;
	c->status = st;
	c->name = strdup(name);
	c->hint = st != VJ_CHECK_PASS && hint ? strdup(hint) : NULL;
	va_start(ap, fmt);
	n = vasprintf(&c->detail, fmt, ap);
	va_end(ap);
	if (n < 0)
		c->detail = NULL;
	return c->name && c->detail ? 0 : -ENOMEM;
}

static const char *err_text(const struct vj_error *e, char *buf, size_t len)
{
	if (!e)
		return "unknown error";
	snprintf(buf, len, "%s%s%s", e->message ? e->message : "error", e->errnum ? ": " : "",
		 e->errnum ? strerror(e->errnum) : "");
	return buf;
}

static int check_cgroup2(struct vj_check_report *r, const struct vj_roots *roots)
{
	_cleanup_free_ char *root = NULL;
	struct vj_error *e = NULL;
	char buf[512];
	int ret;

	if (vj_cgroup2_root(vj_root_proc(roots), &root, &e) < 0) {
		ret = add(r, "cgroup2", VJ_CHECK_FAIL,
			  "mount it: mount -t cgroup2 none /sys/fs/cgroup/unified (or boot with systemd.unified_cgroup_hierarchy=1)",
			  "%s", err_text(e, buf, sizeof(buf)));
		vj_error_free(e);
		return ret;
	}
	{
		struct statvfs sv;
		if (statvfs(root, &sv) == 0 && (sv.f_flag & ST_RDONLY))
			return add(r, "cgroup2", VJ_CHECK_FAIL,
				   "give vfiojail a writable cgroup2 mount (containers often get /sys/fs/cgroup read-only)",
				   "mounted at %s, read-only: the VM's cgroup cannot be created", root);
	}
	return add(r, "cgroup2", VJ_CHECK_PASS, NULL, "mounted at %s (%s)", root,
		   vj_cgroup2_hybrid(vj_root_proc(roots)) ? "hybrid: cgroup v1 controllers beside it"
							  : "unified");
}

static int check_bpf(struct vj_check_report *r)
{
	struct vj_devfilter *f = NULL;
	struct vj_error *e = NULL;
	char buf[512];
	int ret;

	if (vj_devfilter_load(NULL, 0, &f, &e) < 0) {
		ret = add(r, "device filter", VJ_CHECK_FAIL,
			  "the kernel needs CONFIG_CGROUP_BPF and CONFIG_BPF_SYSCALL, and vfiojail CAP_BPF or CAP_SYS_ADMIN",
			  "a BPF_PROG_TYPE_CGROUP_DEVICE program does not load: %s",
			  err_text(e, buf, sizeof(buf)));
		vj_error_free(e);
		return ret;
	}
	vj_devfilter_free(f);
	return add(r, "device filter", VJ_CHECK_PASS, NULL,
		   "a BPF_PROG_TYPE_CGROUP_DEVICE program loads");
}

static int check_bpffs(struct vj_check_report *r)
{
	struct vj_run_opts o = { 0 };
	_cleanup_free_ char *root = vj_jail_bpffs(&o);
	struct vj_error *e = NULL;
	char buf[512];
	int ret;

	if (root && vj_devfilter_check_root(root, false, &e) < 0) {
		ret = add(r, "bpffs", VJ_CHECK_FAIL, e && e->hint ? e->hint : NULL, "%s",
			  err_text(e, buf, sizeof(buf)));
		vj_error_free(e);
		return ret;
	}
	if (root && strcmp(root, VJ_BPFFS_DEFAULT) == 0)
		return add(r, "bpffs", VJ_CHECK_PASS, NULL, "mounted at %s", VJ_BPFFS_DEFAULT);
	return add(r, "bpffs", VJ_CHECK_PASS, NULL,
		   "%s is not a writable bpf filesystem: vfiojail pins its filters in an instance of its own, mounted at STATE_DIR/" VJ_OWN_BPFFS " while a jail needs it",
		   VJ_BPFFS_DEFAULT);
}

/* The default state directory: run and setup must be able to make it, or use it. */
static int check_state_dir(struct vj_check_report *r)
{
	struct vj_run_opts o = { 0 };
	const char *dir = vj_state_dir(NULL);
	struct vj_error *e = NULL;
	bool exists = false;
	char buf[512];
	int ret;

	if (vj_jail_check_state_dir(&o, &exists, &e) < 0) {
		ret = add(r, "state dir", VJ_CHECK_FAIL, e && e->hint ? e->hint : NULL, "%s",
			  err_text(e, buf, sizeof(buf)));
		vj_error_free(e);
		return ret;
	}
	return exists ? add(r, "state dir", VJ_CHECK_PASS, NULL, "%s", dir)
		      : add(r, "state dir", VJ_CHECK_PASS, NULL,
			    "%s does not exist yet; run and setup make it (0700)", dir);
}

static int check_mountns(struct vj_check_report *r)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0)
		_exit(unshare(CLONE_NEWNS) == 0 ? 0 : (errno & 0x7f));
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return add(r, "mount namespace", VJ_CHECK_FAIL, NULL, "cannot fork a probe: %s",
			   strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return add(r, "mount namespace", VJ_CHECK_FAIL,
			   "run vfiojail as root with CAP_SYS_ADMIN, outside a seccomp profile that blocks unshare",
			   "unshare(CLONE_NEWNS) fails: %s",
			   WIFEXITED(status) ? strerror(WEXITSTATUS(status)) : "probe killed");
	return add(r, "mount namespace", VJ_CHECK_PASS, NULL, "unshare(CLONE_NEWNS) works");
}

static bool has_cap(uint64_t eff, int cap)
{
	return vj_cap_in(eff, (unsigned)cap);
}

static int check_caps(struct vj_check_report *r, uint64_t eff, bool have_caps)
{
	int ret;

	if (!have_caps)
		return add(r, "capabilities", VJ_CHECK_FAIL, NULL, "cannot read this process's capabilities");
	ret = add(r, "CAP_MKNOD", has_cap(eff, CAP_MKNOD) ? VJ_CHECK_PASS : VJ_CHECK_FAIL,
		  "run vfiojail as root with CAP_MKNOD: it creates the jail's device nodes",
		  has_cap(eff, CAP_MKNOD) ? "present" : "missing: device nodes cannot be created");
	if (ret < 0)
		return ret;
	ret = add(r, "CAP_SYS_ADMIN", has_cap(eff, CAP_SYS_ADMIN) ? VJ_CHECK_PASS : VJ_CHECK_FAIL,
		  "run vfiojail as root: mounts, namespaces and BPF need CAP_SYS_ADMIN",
		  has_cap(eff, CAP_SYS_ADMIN) ? "present" : "missing");
	if (ret < 0)
		return ret;
	return add(r, "CAP_SYS_RESOURCE", has_cap(eff, CAP_SYS_RESOURCE) ? VJ_CHECK_PASS : VJ_CHECK_WARN,
		   "run vfiojail with CAP_SYS_RESOURCE (root on a normal host has it); containers often drop it",
		   has_cap(eff, CAP_SYS_RESOURCE)
			   ? "present: iommufd per-process accounting and RLIMIT_MEMLOCK can be set"
			   : "missing: iommufd per-process accounting cannot be set (run refuses iommufd VMs unless --iommufd-accounting=best-effort) and RLIMIT_MEMLOCK cannot be raised above its hard limit");
}

static void rlim_format(rlim_t v, char buf[static 32])
{
	if (v == RLIM_INFINITY)
		snprintf(buf, 32, "unlimited");
	else
		vj_size_format((uint64_t)v, buf);
}

static int check_memlock(struct vj_check_report *r, bool can_raise)
{
	struct rlimit rl;
	char soft[32], hard[32];
	bool small;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return add(r, "RLIMIT_MEMLOCK", VJ_CHECK_FAIL, NULL, "getrlimit: %s", strerror(errno));
	rlim_format(rl.rlim_cur, soft);
	rlim_format(rl.rlim_max, hard);
	small = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (UINT64_C(1) << 30) && !can_raise;
	return add(r, "RLIMIT_MEMLOCK", small ? VJ_CHECK_WARN : VJ_CHECK_PASS,
		   "a VM with assigned devices needs its guest RAM and more locked; raise the hard limit or give vfiojail CAP_SYS_RESOURCE",
		   "soft %s, hard %s%s", soft, hard,
		   small ? ": too small for a VM with assigned devices, and it cannot be raised" : "");
}

static int check_iommufd(struct vj_check_report *r, const struct vj_roots *roots)
{
	_cleanup_free_ char *path = vj_path_join(vj_root_dev(roots), "iommu");
	_cleanup_close_ int fd = -1;
	struct vj_error *e = NULL;
	uint32_t major, minor;
	char buf[512];
	int mode, ret;

	if (!path)
		return -ENOMEM;
	if (vj_sysfs_misc_devnum(roots, "iommu", &major, &minor) < 0)
		return add(r, "/dev/iommu", VJ_CHECK_WARN,
			   "build the kernel with CONFIG_IOMMUFD (Linux 6.2 or later) to use backend iommufd",
			   "this kernel has no iommufd: only backend legacy can be used");
	if (vj_iommufd_open(path, &fd, &e) < 0) {
		ret = add(r, "/dev/iommu", VJ_CHECK_WARN,
			  "load the iommufd module (modprobe iommufd) and check the node's owner",
			  "misc device %u:%u, but %s", major, minor, err_text(e, buf, sizeof(buf)));
		vj_error_free(e);
		return ret;
	}
	if (vj_iommufd_get_accounting(fd, &mode, &e) < 0) {
		ret = add(r, "/dev/iommu", VJ_CHECK_WARN,
			  "per-process accounting needs a kernel with IOMMU_OPTION; otherwise run needs --iommufd-accounting=best-effort",
			  "misc device %u:%u opens, but IOMMU_OPTION does not answer: %s", major,
			  minor, err_text(e, buf, sizeof(buf)));
		vj_error_free(e);
		return ret;
	}
	return add(r, "/dev/iommu", VJ_CHECK_PASS, NULL,
		   "misc device %u:%u, IOMMU_OPTION answers (accounting now %s)", major, minor,
		   mode == VJ_ACCOUNTING_PER_PROCESS ? "per-process" : "per-user, the default");
}

static int count_entries(const char *dir, size_t *n)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *de;

	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			(*n)++;
	return 0;
}

static int check_vfio(struct vj_check_report *r, const struct vj_roots *roots)
{
	_cleanup_free_ char *cdev = vj_path_join(vj_root_sysfs(roots), "class/vfio-dev");
	_cleanup_free_ char *groups = vj_path_join(vj_root_sysfs(roots), "kernel/iommu_groups");
	uint32_t major, minor;
	size_t n = 0;
	int ret;

	if (!cdev || !groups)
		return -ENOMEM;
	ret = access(cdev, F_OK) == 0
		      ? add(r, "VFIO cdev", VJ_CHECK_PASS, NULL,
			    "%s exists: devices bound to vfio-pci get /dev/vfio/devices/vfioN", cdev)
		      : add(r, "VFIO cdev", VJ_CHECK_WARN,
			    "build the kernel with CONFIG_VFIO_DEVICE_CDEV (Linux 6.6 or later) and load vfio-pci",
			    "no %s: backend iommufd cannot reach devices; use backend legacy", cdev);
	if (ret < 0)
		return ret;
	ret = vj_sysfs_misc_devnum(roots, "vfio", &major, &minor) == 0
		      ? add(r, "VFIO container", VJ_CHECK_PASS, NULL,
			    "/dev/vfio/vfio is misc device %u:%u (backend legacy)", major, minor)
		      : add(r, "VFIO container", VJ_CHECK_WARN,
			    "load vfio and vfio-pci (modprobe vfio-pci) for backend legacy",
			    "no VFIO container device: backend legacy cannot be used");
	if (ret < 0)
		return ret;
	if (count_entries(groups, &n) < 0 || n == 0)
		return add(r, "IOMMU groups", VJ_CHECK_FAIL,
			   "enable the IOMMU: VT-d or AMD-Vi in firmware, intel_iommu=on or amd_iommu=on on the kernel command line",
			   "no IOMMU groups in %s: no PCI device can be assigned", groups);
	return add(r, "IOMMU groups", VJ_CHECK_PASS, NULL, "%zu IOMMU groups", n);
}

void vj_check_report_free(struct vj_check_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n_checks; i++) {
		free(r->checks[i].name);
		free(r->checks[i].detail);
		free(r->checks[i].hint);
	}
	free(r->checks);
	free(r);
}

int vj_check_host(const struct vj_roots *roots, struct vj_check_report **out,
		  struct vj_error **err)
{
	static const struct vj_roots no_roots;
	struct vj_check_report *r = calloc(1, sizeof(*r));
	uint64_t eff = 0;
	bool have_caps;

	*out = NULL;
	if (!roots)
		roots = &no_roots;
	if (!r)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "check", NULL, NULL, "out of memory");
	have_caps = vj_privs_caps_effective(&eff) == 0;
	if (check_cgroup2(r, roots) < 0 || check_bpf(r) < 0 || check_bpffs(r) < 0 || check_state_dir(r) < 0 ||
	    check_mountns(r) < 0 || check_caps(r, eff, have_caps) < 0 ||
	    check_memlock(r, have_caps && has_cap(eff, CAP_SYS_RESOURCE)) < 0 ||
	    check_iommufd(r, roots) < 0 || check_vfio(r, roots) < 0) {
		vj_check_report_free(r);
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "check", NULL, NULL, "out of memory");
	}
	*out = r;
	return 0;
}

enum vj_check_status vj_check_worst(const struct vj_check_report *r)
{
	enum vj_check_status w = VJ_CHECK_PASS;
	size_t i;

	for (i = 0; i < r->n_checks; i++)
		if (r->checks[i].status > w)
			w = r->checks[i].status;
	return w;
}

static const char *status_name(enum vj_check_status s)
{
	return s == VJ_CHECK_PASS ? "PASS" : s == VJ_CHECK_WARN ? "WARN" : "FAIL";
}

int vj_check_print_table(const struct vj_check_report *r, FILE *f)
{
	size_t i;

	for (i = 0; i < r->n_checks; i++) {
		const struct vj_check *c = &r->checks[i];
		fprintf(f, "%s  %s: %s\n", status_name(c->status), c->name, c->detail);
		if (c->hint)
			fprintf(f, "      hint: %s\n", c->hint);
	}
	return ferror(f) ? -EIO : 0;
}

int vj_check_print_json(const struct vj_check_report *r, FILE *f)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	size_t i;

	for (i = 0; i < r->n_checks; i++) {
		const struct vj_check *c = &r->checks[i];
		json_object *j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(c->name));
		json_object_object_add(j, "status", json_object_new_string(status_name(c->status)));
		json_object_object_add(j, "detail", json_object_new_string(c->detail));
		json_object_object_add(j, "hint", c->hint ? json_object_new_string(c->hint) : NULL);
		json_object_array_add(a, j);
	}
	json_object_object_add(o, "checks", a);
	return vj_json_print_put(o, f);
}
