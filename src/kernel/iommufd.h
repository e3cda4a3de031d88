/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iommufd contexts opened by vfiojail and handed to the VMM: open /dev/iommu,
 * switch its RLIMIT_MEMLOCK accounting to per-process, read it back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#include "config.h"
#include "vfiojail/vfiojail.h"

#if HAVE_LINUX_IOMMUFD_H
#include <linux/iommufd.h>
#else
/* Fallback for headers older than iommufd, from include/uapi/linux/iommufd.h. */
#define IOMMUFD_TYPE (';')
#define IOMMUFD_CMD_OPTION 0x87
struct iommu_option {
	__u32 size;
	__u32 option_id;
	__u16 op;
	__u16 __reserved;
	__u32 object_id;
	__aligned_u64 val64;
};
#define IOMMU_OPTION _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION)
#define IOMMU_OPTION_RLIMIT_MODE 0
#define IOMMU_OPTION_OP_SET 0
#define IOMMU_OPTION_OP_GET 1
#endif

/* The ABI this file relies on, whichever header defined it. */
_Static_assert(sizeof(struct iommu_option) == 24, "struct iommu_option is 24 bytes");
_Static_assert(offsetof(struct iommu_option, op) == 8, "iommu_option.op at 8");
_Static_assert(offsetof(struct iommu_option, object_id) == 12, "iommu_option.object_id at 12");
_Static_assert(offsetof(struct iommu_option, val64) == 16, "iommu_option.val64 at 16");
_Static_assert(IOMMU_OPTION == 0x3b87, "IOMMU_OPTION is _IO(';', 0x87)");
_Static_assert(IOMMU_OPTION_RLIMIT_MODE == 0 && IOMMU_OPTION_OP_SET == 0 &&
		       IOMMU_OPTION_OP_GET == 1,
	       "RLIMIT_MODE option 0, SET 0, GET 1");

/* Test seam: when set, called instead of ioctl(2); return -1 with errno set
 * to fail.  NULL (the default) means the real ioctl. */
extern int (*vj_iommufd_ioctl_hook)(int fd, unsigned long req, void *arg);

/* open(@path, O_RDWR | O_CLOEXEC); errors name the path and what the errno
 * means for /dev/iommu (status 125, step "iommufd"). */
int vj_iommufd_open(const char *path, int *fd_out, struct vj_error **err);

/* IOMMU_OPTION RLIMIT_MODE GET: *mode_out is enum vj_accounting. */
int vj_iommufd_get_accounting(int fd, int *mode_out, struct vj_error **err);
/* IOMMU_OPTION RLIMIT_MODE SET @mode (enum vj_accounting), then GET it back;
 * a different answer is an error. */
int vj_iommufd_set_accounting(int fd, int mode, struct vj_error **err);

/*
 * Open the context @id at @path, set per-process accounting and verify it.
 * On success *fd_out is the open fd and *warning is NULL.  With @best_effort,
 * a kernel that lacks the option (ENOTTY, EOPNOTSUPP) or a caller without
 * CAP_SYS_RESOURCE (EPERM) gives a warning in *warning (caller frees), a 0
 * return and the fd still open, in per-user accounting.  Other failures
 * (open, EBUSY, EINVAL, a read-back mismatch) are errors in both modes; on
 * error no fd is left open.
 */
int vj_iommufd_open_context(const char *path, const char *id, bool best_effort, int *fd_out,
			    char **warning, struct vj_error **err);
