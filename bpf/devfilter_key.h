/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/* The map layout shared by bpf/devfilter.bpf.c and src/kernel/devfilter.c. */
#pragma once

#include <linux/types.h>

#define VJ_DEVFILTER_ANY 0xffffffffu
/* The map is not preallocated: a larger maximum costs the kernel 16 bytes a bucket,
 * so every filter has room for hundreds of hotplugged devices (8 KiB at 512). */
#define VJ_DEVFILTER_DEFAULT_ENTRIES 512

struct vj_devfilter_key {
	__u32 type;  /* BPF_DEVCG_DEV_BLOCK (1) or BPF_DEVCG_DEV_CHAR (2) */
	__u32 major; /* or VJ_DEVFILTER_ANY */
	__u32 minor; /* or VJ_DEVFILTER_ANY */
};
