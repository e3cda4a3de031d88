/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bpf(2) system call, one thin function a command, for the device filter.
 *
 * Each returns what the kernel returns (an fd, or 0) or -1 with errno set, and
 * goes through syscall(SYS_bpf, ...) so tests/faultinject.c can fail it.  The
 * attribute union is zeroed past the fields each command uses, as the kernel
 * requires of every byte it does not know.
 */
#pragma once

#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>

int vj_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size,
		      uint32_t max_entries, uint32_t flags, const char *name);
/* On failure with @log set, the verifier's log (NUL-terminated) is in @log. */
int vj_bpf_prog_load(uint32_t type, uint32_t expected_attach_type, const struct bpf_insn *insns,
		     size_t n_insns, const char *license, const char *name, char *log,
		     size_t log_size);

int vj_bpf_map_lookup(int map_fd, const void *key, void *value);
int vj_bpf_map_update(int map_fd, const void *key, const void *value, uint64_t flags);
int vj_bpf_map_delete(int map_fd, const void *key);
/* @key NULL: the first key. */
int vj_bpf_map_next_key(int map_fd, const void *key, void *next);
/* *@count in: entries to add; out: entries the kernel added. */
int vj_bpf_map_update_batch(int map_fd, const void *keys, const void *values, uint32_t *count);

int vj_bpf_obj_pin(int fd, const char *path);
int vj_bpf_obj_get(const char *path);
int vj_bpf_obj_info(int fd, void *info, uint32_t *info_len);

/* *@count in: room in @ids; out: programs attached (may exceed the room: ENOSPC). */
int vj_bpf_prog_query(int target_fd, uint32_t attach_type, uint32_t *ids, uint32_t *count);
/* How many programs are attached to the cgroup itself, and the flags they were
 * attached with (BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE, or 0: exclusive). */
int vj_bpf_prog_attach_flags(int target_fd, uint32_t attach_type, uint32_t *count,
			     uint32_t *flags);
int vj_bpf_prog_fd_by_id(uint32_t id);

int vj_bpf_link_create(int prog_fd, int target_fd, uint32_t attach_type);
/* Swap the link's program for @prog_fd only while it runs @old_prog_fd (BPF_F_REPLACE). */
int vj_bpf_link_update(int link_fd, int prog_fd, int old_prog_fd);
