/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bpf(2) system call: see bpfsys.h. */
#include "bpfsys.h"

#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint64_t ptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int vj_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size,
		      uint32_t max_entries, uint32_t flags, const char *name)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key_size;
	a.value_size = value_size;
	a.max_entries = max_entries;
	a.map_flags = flags;
	strncpy(a.map_name, name, sizeof(a.map_name) - 1);
	return sys_bpf(BPF_MAP_CREATE, &a);
}

int vj_bpf_prog_load(uint32_t type, uint32_t expected_attach_type, const struct bpf_insn *insns,
		     size_t n_insns, const char *license, const char *name, char *log,
		     size_t log_size)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.expected_attach_type = expected_attach_type;
	a.insns = ptr(insns);
	a.insn_cnt = (uint32_t)n_insns;
	a.license = ptr(license);
	strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
	if (log && log_size) {
		log[0] = '\0';
		a.log_buf = ptr(log);
		a.log_size = (uint32_t)log_size;
		a.log_level = 1;
	}
	return sys_bpf(BPF_PROG_LOAD, &a);
}

static int map_elem(int cmd, int map_fd, const void *key, const void *value, uint64_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)map_fd;
	a.key = ptr(key);
	a.value = ptr(value); /* next_key shares this field */
	a.flags = flags;
	return sys_bpf(cmd, &a);
}

int vj_bpf_map_lookup(int map_fd, const void *key, void *value)
{
	return map_elem(BPF_MAP_LOOKUP_ELEM, map_fd, key, value, 0);
}

int vj_bpf_map_update(int map_fd, const void *key, const void *value, uint64_t flags)
{
	return map_elem(BPF_MAP_UPDATE_ELEM, map_fd, key, value, flags);
}

int vj_bpf_map_delete(int map_fd, const void *key)
{
	return map_elem(BPF_MAP_DELETE_ELEM, map_fd, key, NULL, 0);
}

int vj_bpf_map_next_key(int map_fd, const void *key, void *next)
{
	return map_elem(BPF_MAP_GET_NEXT_KEY, map_fd, key, next, 0);
}

int vj_bpf_map_update_batch(int map_fd, const void *keys, const void *values, uint32_t *count)
{
	union bpf_attr a;
	int r;

	memset(&a, 0, sizeof(a));
	a.batch.map_fd = (uint32_t)map_fd;
	a.batch.keys = ptr(keys);
	a.batch.values = ptr(values);
	a.batch.count = *count;
	r = sys_bpf(BPF_MAP_UPDATE_BATCH, &a);
	*count = a.batch.count;
	return r;
}

int vj_bpf_obj_pin(int fd, const char *path)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.bpf_fd = (uint32_t)fd;
	a.pathname = ptr(path);
	return sys_bpf(BPF_OBJ_PIN, &a);
}

int vj_bpf_obj_get(const char *path)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.pathname = ptr(path);
	return sys_bpf(BPF_OBJ_GET, &a);
}

int vj_bpf_obj_info(int fd, void *info, uint32_t *info_len)
{
	union bpf_attr a;
	int r;

	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = *info_len;
	a.info.info = ptr(info);
	r = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
	if (r == 0)
		*info_len = a.info.info_len;
	return r;
}

int vj_bpf_prog_query(int target_fd, uint32_t attach_type, uint32_t *ids, uint32_t *count)
{
	union bpf_attr a;
	int r;

	memset(&a, 0, sizeof(a));
	a.query.target_fd = (uint32_t)target_fd;
	a.query.attach_type = attach_type;
	a.query.prog_ids = ptr(ids);
	a.query.prog_cnt = *count;
	r = sys_bpf(BPF_PROG_QUERY, &a);
	*count = a.query.prog_cnt;
	return r;
}

int vj_bpf_prog_attach_flags(int target_fd, uint32_t attach_type, uint32_t *count,
			     uint32_t *flags)
{
	union bpf_attr a;
	int r;

	memset(&a, 0, sizeof(a));
	a.query.target_fd = (uint32_t)target_fd;
	a.query.attach_type = attach_type;
	r = sys_bpf(BPF_PROG_QUERY, &a);
	*count = a.query.prog_cnt;
	*flags = a.query.attach_flags;
	return r;
}

int vj_bpf_prog_fd_by_id(uint32_t id)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_id = id;
	return sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
}

int vj_bpf_link_create(int prog_fd, int target_fd, uint32_t attach_type)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)prog_fd;
	a.link_create.target_fd = (uint32_t)target_fd;
	a.link_create.attach_type = attach_type;
	return sys_bpf(BPF_LINK_CREATE, &a);
}

int vj_bpf_link_update(int link_fd, int prog_fd, int old_prog_fd)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.link_update.link_fd = (uint32_t)link_fd;
	a.link_update.new_prog_fd = (uint32_t)prog_fd;
	a.link_update.flags = BPF_F_REPLACE;
	a.link_update.old_prog_fd = (uint32_t)old_prog_fd;
	return sys_bpf(BPF_LINK_UPDATE, &a);
}
