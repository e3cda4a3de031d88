/* SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause) */
/* The map layout shared by bpf/devfilter.bpf.c and src/devfilter.c. */
#pragma once

#include <linux/types.h>

#define VJ_DEVFILTER_ANY 0xffffffffu
#define VJ_DEVFILTER_DEFAULT_ENTRIES 64

struct vj_devfilter_key {
	__u32 type;  /* BPF_DEVCG_DEV_BLOCK (1) or BPF_DEVCG_DEV_CHAR (2) */
	__u32 major; /* or VJ_DEVFILTER_ANY */
	__u32 minor; /* or VJ_DEVFILTER_ANY */
};
