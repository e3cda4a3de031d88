/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iommufd accounting.  IOMMU_OPTION / RLIMIT_MODE on a fresh /dev/iommu fd
 * (drivers/iommu/iommufd/ioas.c): object_id must be 0 (else EOPNOTSUPP), SET
 * needs CAP_SYS_RESOURCE (else EPERM), fails with EBUSY once the context holds
 * an object, takes 0 = per-user or 1 = per-process (else EINVAL); GET answers
 * 1 when the context charges the process's own mm.
 */
#include "iommufd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>

#include "error.h"
#include "util.h"

int (*vj_iommufd_ioctl_hook)(int fd, unsigned long req, void *arg);

#define SHARED_BUDGET_HINT                                                               \
	"in per-user accounting (the kernel's default) the pinned memory of every VM of " \
	"the same uid is charged to one RLIMIT_MEMLOCK budget, so a second VM may fail "  \
	"with ENOMEM; --iommufd-accounting=best-effort starts the VM anyway in per-user " \
	"accounting"

static int do_ioctl(int fd, unsigned long req, void *arg)
{
	if (vj_iommufd_ioctl_hook)
		return vj_iommufd_ioctl_hook(fd, req, arg);
	return ioctl(fd, req, arg);
}

/* One IOMMU_OPTION RLIMIT_MODE call; 0 or -errno.  *val is in and out. */
static int rlimit_mode_ioctl(int fd, unsigned op, uint64_t *val)
{
	struct iommu_option opt = {
		.size = sizeof(opt),
		.option_id = IOMMU_OPTION_RLIMIT_MODE,
		.op = (__u16)op,
		.object_id = 0,
		.val64 = *val,
	};

	if (do_ioctl(fd, IOMMU_OPTION, &opt) < 0)
		return -errno;
	*val = opt.val64;
	return 0;
}

static const char *mode_name(uint64_t mode)
{
	switch (mode) {
	case VJ_ACCOUNTING_PER_USER:
		return "per-user";
	case VJ_ACCOUNTING_PER_PROCESS:
		return "per-process";
	default:
		return "unknown";
	}
}

/* What an IOMMU_OPTION errno means, in one sentence. */
static char *option_message(int errnum, const char *what, uint64_t mode)
{
	switch (errnum) {
	case ENOTTY:
		return vj_strdupf("%s: this kernel's iommufd has no IOMMU_OPTION (it came with"
				  " iommufd itself in Linux 6.2), or the node is not an iommufd",
				  what);
	case EOPNOTSUPP:
		return vj_strdupf("%s: the kernel does not support option RLIMIT_MODE (0) with"
				  " object_id 0", what);
	case EPERM:
		return vj_strdupf("setting %s accounting needs CAP_SYS_RESOURCE", mode_name(mode));
	case EBUSY:
		return vj_strdupf("%s: the iommufd context already holds objects; the mode must"
				  " be set right after open", what);
	case EINVAL:
		return vj_strdupf("%s: the kernel rejected mode value %" PRIu64
				  " (0 per-user, 1 per-process)", what, mode);
	default:
		return vj_strdupf("%s: IOMMU_OPTION RLIMIT_MODE failed", what);
	}
}

static char *option_hint(int errnum)
{
	switch (errnum) {
	case ENOTTY:
	case EOPNOTSUPP:
		return vj_strdupf("use a kernel with iommufd (Linux 6.2 or later); "
				  SHARED_BUDGET_HINT);
	case EPERM:
		return vj_strdupf("run vfiojail with CAP_SYS_RESOURCE; " SHARED_BUDGET_HINT);
	case EBUSY:
		return vj_strdupf("open a fresh context and set the mode before any other "
				  "ioctl; " SHARED_BUDGET_HINT);
	default:
		return vj_strdupf("%s", SHARED_BUDGET_HINT);
	}
}

static int option_error(struct vj_error **err, const char *object, int errnum,
			const char *what, uint64_t mode)
{
	_cleanup_free_ char *msg = option_message(errnum, what, mode);
	_cleanup_free_ char *hint = option_hint(errnum);

	return vj_err(err, VJ_EXIT_SETUP, errnum, "iommufd", object, hint, "%s",
		      msg ? msg : what);
}

static int get_mode(int fd, const char *object, int *mode_out, struct vj_error **err)
{
	uint64_t val = 0;
	int r = rlimit_mode_ioctl(fd, IOMMU_OPTION_OP_GET, &val);

	if (r < 0)
		return option_error(err, object, -r, "reading the accounting mode", 0);
	if (val != VJ_ACCOUNTING_PER_USER && val != VJ_ACCOUNTING_PER_PROCESS)
		return vj_err(err, VJ_EXIT_SETUP, 0, "iommufd", object, NULL,
			      "the kernel reported accounting mode %" PRIu64
			      ", neither 0 (per-user) nor 1 (per-process)", val);
	*mode_out = (int)val;
	return 0;
}

static int verify_mode(int fd, const char *object, int mode, struct vj_error **err)
{
	int got;

	if (get_mode(fd, object, &got, err) < 0)
		return -1;
	if (got != mode)
		return vj_err(err, VJ_EXIT_SETUP, 0, "iommufd", object, SHARED_BUDGET_HINT,
			      "accounting mode reads back as %d (%s) after setting %d (%s)", got,
			      mode_name((uint64_t)got), mode, mode_name((uint64_t)mode));
	return 0;
}

/* SET only; 0 or -errno, no error value (the caller decides). */
static int set_mode_raw(int fd, int mode)
{
	uint64_t val = (uint64_t)mode;

	return rlimit_mode_ioctl(fd, IOMMU_OPTION_OP_SET, &val);
}

static int set_mode(int fd, const char *object, int mode, struct vj_error **err)
{
	int r = set_mode_raw(fd, mode);

	if (r < 0)
		return option_error(err, object, -r, "setting the accounting mode",
				    (uint64_t)mode);
	return verify_mode(fd, object, mode, err);
}

static int open_node(const char *path, const char *object, int *fd_out, struct vj_error **err)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		*fd_out = fd;
		return 0;
	}
	switch (errno) {
	case ENOENT:
		return vj_err(err, VJ_EXIT_SETUP, errno, "iommufd", object,
			      "load the iommufd module (modprobe iommufd), or use backend legacy",
			      "no %s: kernel without CONFIG_IOMMUFD, or the iommufd module is"
			      " not loaded", path);
	case ENXIO:
	case ENODEV:
		return vj_err(err, VJ_EXIT_SETUP, errno, "iommufd", object,
			      "load the iommufd module, or recreate the node from"
			      " /sys/class/misc/iommu/dev",
			      "%s exists but no driver answers it: iommufd is not loaded or the"
			      " node's device number is stale", path);
	case EACCES:
	case EPERM:
		return vj_err(err, VJ_EXIT_SETUP, errno, "iommufd", object,
			      "run vfiojail as root, outside a device cgroup that denies it",
			      "opening %s read-write was refused by its mode, its ACL or the"
			      " device cgroup", path);
	default:
		return vj_err(err, VJ_EXIT_SETUP, errno, "iommufd", object, NULL,
			      "cannot open %s read-write", path);
	}
}

static char *fd_object(int fd)
{
	return vj_strdupf("iommufd fd %d", fd);
}

int vj_iommufd_open(const char *path, int *fd_out, struct vj_error **err)
{
	return open_node(path, path, fd_out, err);
}

int vj_iommufd_get_accounting(int fd, int *mode_out, struct vj_error **err)
{
	_cleanup_free_ char *object = fd_object(fd);

	return get_mode(fd, object, mode_out, err);
}

int vj_iommufd_set_accounting(int fd, int mode, struct vj_error **err)
{
	_cleanup_free_ char *object = fd_object(fd);

	return set_mode(fd, object, mode, err);
}

/* "kernel lacks it / not permitted": the context still works, per-user. */
static bool downgradable(int errnum)
{
	return errnum == ENOTTY || errnum == EOPNOTSUPP || errnum == EPERM;
}

static char *best_effort_warning(const char *object, int errnum)
{
	_cleanup_free_ char *msg = option_message(errnum, "setting per-process accounting",
						  VJ_ACCOUNTING_PER_PROCESS);

	return vj_strdupf("%s: %s (%s); the context stays in per-user accounting: every VM of"
			  " the same uid shares one RLIMIT_MEMLOCK budget, so a second VM may"
			  " fail with ENOMEM",
			  object, msg ? msg : "setting per-process accounting failed",
			  strerror(errnum));
}

int vj_iommufd_open_context(const char *path, const char *id, bool best_effort, int *fd_out,
			    char **warning, struct vj_error **err)
{
	_cleanup_free_ char *object = vj_strdupf("%s (%s)", id, path);
	_cleanup_close_ int fd = -1;
	int r;

	*fd_out = -1;
	*warning = NULL;
	if (!object)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "iommufd", id, NULL, "out of memory");
	if (open_node(path, object, &fd, err) < 0)
		return -1;

	r = set_mode_raw(fd, VJ_ACCOUNTING_PER_PROCESS);
	if (r < 0 && best_effort && downgradable(-r)) {
		*warning = best_effort_warning(object, -r);
		if (!*warning)
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "iommufd", object, NULL,
				      "out of memory");
		*fd_out = TAKE_FD(fd);
		return 0;
	}
	if (r < 0)
		return option_error(err, object, -r, "setting per-process accounting",
				    VJ_ACCOUNTING_PER_PROCESS);
	if (verify_mode(fd, object, VJ_ACCOUNTING_PER_PROCESS, err) < 0)
		return -1;
	*fd_out = TAKE_FD(fd);
	return 0;
}
