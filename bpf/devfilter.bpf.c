// SPDX-License-Identifier: (LGPL-2.1-or-later OR BSD-2-Clause)
/*
 * The device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program that allows an
 * access when a hash map holds a rule for the device.  Rules are looked up
 * exact first, then with a wildcard minor, then with a wildcard major and minor,
 * so one program serves every VM and hotplug is one map update.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "devfilter_key.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, VJ_DEVFILTER_DEFAULT_ENTRIES);
	__type(key, struct vj_devfilter_key);
	__type(value, __u32);
} rules SEC(".maps");

static __always_inline int allowed(__u32 type, __u32 major, __u32 minor, __u32 access)
{
	struct vj_devfilter_key key = { .type = type, .major = major, .minor = minor };
	__u32 *granted = bpf_map_lookup_elem(&rules, &key);

	return granted && (access & ~*granted) == 0;
}

SEC("cgroup/dev")
int vj_devfilter(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 type = ctx->access_type & 0xffff;
	__u32 access = ctx->access_type >> 16;

	if (allowed(type, ctx->major, ctx->minor, access))
		return 1;
	if (allowed(type, ctx->major, VJ_DEVFILTER_ANY, access))
		return 1;
	if (allowed(type, VJ_DEVFILTER_ANY, VJ_DEVFILTER_ANY, access))
		return 1;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
