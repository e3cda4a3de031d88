/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Raw bpf(2) for the benchmark helpers: no libbpf, the least a launcher must do.
 *
 * Two BPF_PROG_TYPE_CGROUP_DEVICE programs, written instruction by instruction:
 *  - the map program: the logic of bpf/devfilter.bpf.c (a hash map keyed by
 *    struct vj_devfilter_key, looked up exact, then with a wildcard minor, then
 *    with wildcard major and minor), used by the floor;
 *  - the linear program: one compare block per rule, in rule order, the way
 *    runc and systemd generate theirs, used as the reference for per-open cost.
 */
#pragma once

#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "devfilter_key.h"

/* One device rule as the bench helpers know it (major/minor VJ_DEVFILTER_ANY = "*"). */
struct bench_rule {
	uint32_t type;   /* BPF_DEVCG_DEV_CHAR or BPF_DEVCG_DEV_BLOCK */
	uint32_t major;
	uint32_t minor;
	uint32_t access; /* BPF_DEVCG_ACC_* bits */
};

/* A growing instruction buffer. */
struct insns {
	struct bpf_insn *v;
	size_t n, cap;
	int oom;
};

static inline long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static inline void emit(struct insns *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
			int32_t imm)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 256;
		struct bpf_insn *v = realloc(p->v, cap * sizeof(*v));
		if (!v) {
			p->oom = 1;
			return;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (struct bpf_insn){ .code = code, .dst_reg = dst, .src_reg = src,
					  .off = off, .imm = imm };
}

#define I_MOV64_REG(p, d, s) emit(p, BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define I_MOV64_IMM(p, d, k) emit(p, BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, k)
#define I_ALU32_IMM(p, op, d, k) emit(p, BPF_ALU | (op) | BPF_K, d, 0, 0, k)
#define I_ALU64_IMM(p, op, d, k) emit(p, BPF_ALU64 | (op) | BPF_K, d, 0, 0, k)
#define I_ALU64_REG(p, op, d, s) emit(p, BPF_ALU64 | (op) | BPF_X, d, s, 0, 0)
#define I_LDX_W(p, d, s, o) emit(p, BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define I_STX_W(p, d, s, o) emit(p, BPF_STX | BPF_MEM | BPF_W, d, s, o, 0)
#define I_ST_W(p, d, o, k) emit(p, BPF_ST | BPF_MEM | BPF_W, d, 0, o, k)
#define I_JMP_IMM(p, op, d, k, o) emit(p, BPF_JMP | (op) | BPF_K, d, 0, o, k)
#define I_JMP_REG(p, op, d, s, o) emit(p, BPF_JMP | (op) | BPF_X, d, s, o, 0)
#define I_CALL(p, fn) emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, fn)
#define I_EXIT(p) emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
/* A 64-bit immediate load of a map fd: two instruction slots. */
#define I_LD_MAP_FD(p, d, fd)                                                      \
	do {                                                                       \
		emit(p, BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd);   \
		emit(p, 0, 0, 0, 0, 0);                                            \
	} while (0)

/* struct bpf_cgroup_dev_ctx: access_type at 0, major at 4, minor at 8. */
enum { CTX_ACCESS = 0, CTX_MAJOR = 4, CTX_MINOR = 8 };

/*
 * Map program, one lookup: the key is on the stack at fp-12 (type, major, minor);
 * r7 holds the requested access bits.  Allows (returns 1) when the entry grants
 * every requested bit; else falls through to the next lookup.
 */
static inline void emit_lookup(struct insns *p, int map_fd)
{
	I_LD_MAP_FD(p, BPF_REG_1, map_fd);
	I_MOV64_REG(p, BPF_REG_2, BPF_REG_10);
	I_ALU64_IMM(p, BPF_ADD, BPF_REG_2, -12);
	I_CALL(p, BPF_FUNC_map_lookup_elem);
	I_JMP_IMM(p, BPF_JEQ, BPF_REG_0, 0, 5);
	I_LDX_W(p, BPF_REG_1, BPF_REG_0, 0);
	I_ALU64_REG(p, BPF_AND, BPF_REG_1, BPF_REG_7);
	I_JMP_REG(p, BPF_JNE, BPF_REG_1, BPF_REG_7, 2);
	I_MOV64_IMM(p, BPF_REG_0, 1);
	I_EXIT(p);
}

static inline void build_map_prog(struct insns *p, int map_fd)
{
	I_MOV64_REG(p, BPF_REG_6, BPF_REG_1);
	I_LDX_W(p, BPF_REG_7, BPF_REG_6, CTX_ACCESS);
	I_MOV64_REG(p, BPF_REG_8, BPF_REG_7);
	I_ALU32_IMM(p, BPF_AND, BPF_REG_8, 0xffff);   /* type   */
	I_ALU64_IMM(p, BPF_RSH, BPF_REG_7, 16);       /* access */
	I_STX_W(p, BPF_REG_10, BPF_REG_8, -12);
	I_LDX_W(p, BPF_REG_1, BPF_REG_6, CTX_MAJOR);
	I_STX_W(p, BPF_REG_10, BPF_REG_1, -8);
	I_LDX_W(p, BPF_REG_1, BPF_REG_6, CTX_MINOR);
	I_STX_W(p, BPF_REG_10, BPF_REG_1, -4);
	emit_lookup(p, map_fd);
	I_ST_W(p, BPF_REG_10, -4, (int32_t)VJ_DEVFILTER_ANY);
	emit_lookup(p, map_fd);
	I_ST_W(p, BPF_REG_10, -8, (int32_t)VJ_DEVFILTER_ANY);
	emit_lookup(p, map_fd);
	I_MOV64_IMM(p, BPF_REG_0, 0);
	I_EXIT(p);
}

/*
 * Linear program: r2 = type, r3 = access, r4 = major, r5 = minor, then per rule
 * "if type, access, major and minor match, return 1", in order; 0 at the end.
 */
static inline void emit_rule_block(struct insns *p, const struct bench_rule *r)
{
	int has_major = r->major != VJ_DEVFILTER_ANY, has_minor = r->minor != VJ_DEVFILTER_ANY;
	int16_t len = (int16_t)(1 + 3 + has_major + has_minor + 2), at = 0;

	/* Each jump skips to the end of the block: len - (its index) - 1. */
	I_JMP_IMM(p, BPF_JNE, BPF_REG_2, (int32_t)r->type, (int16_t)(len - at - 1));
	at++;
	I_MOV64_REG(p, BPF_REG_1, BPF_REG_3);
	I_ALU32_IMM(p, BPF_AND, BPF_REG_1, (int32_t)r->access);
	at += 2;
	I_JMP_REG(p, BPF_JNE, BPF_REG_1, BPF_REG_3, (int16_t)(len - at - 1));
	at++;
	if (has_major) {
		I_JMP_IMM(p, BPF_JNE, BPF_REG_4, (int32_t)r->major, (int16_t)(len - at - 1));
		at++;
	}
	if (has_minor) {
		I_JMP_IMM(p, BPF_JNE, BPF_REG_5, (int32_t)r->minor, (int16_t)(len - at - 1));
		at++;
	}
	I_MOV64_IMM(p, BPF_REG_0, 1);
	I_EXIT(p);
}

static inline void build_linear_prog(struct insns *p, const struct bench_rule *rules, size_t n)
{
	size_t i;

	I_LDX_W(p, BPF_REG_2, BPF_REG_1, CTX_ACCESS);
	I_ALU32_IMM(p, BPF_AND, BPF_REG_2, 0xffff);
	I_LDX_W(p, BPF_REG_3, BPF_REG_1, CTX_ACCESS);
	I_ALU32_IMM(p, BPF_RSH, BPF_REG_3, 16);
	I_LDX_W(p, BPF_REG_4, BPF_REG_1, CTX_MAJOR);
	I_LDX_W(p, BPF_REG_5, BPF_REG_1, CTX_MINOR);
	for (i = 0; i < n; i++)
		emit_rule_block(p, &rules[i]);
	I_MOV64_IMM(p, BPF_REG_0, 0);
	I_EXIT(p);
}

/* The hash map of bpf/devfilter.bpf.c: not preallocated, key 12 bytes, value 4. */
static inline int map_create(uint32_t max_entries)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = sizeof(struct vj_devfilter_key);
	a.value_size = sizeof(uint32_t);
	a.max_entries = max_entries;
	a.map_flags = BPF_F_NO_PREALLOC;
	memcpy(a.map_name, "bench_rules", sizeof("bench_rules"));
	return (int)sys_bpf(BPF_MAP_CREATE, &a);
}

static inline int map_put(int map_fd, const struct bench_rule *r)
{
	struct vj_devfilter_key key = { .type = r->type, .major = r->major, .minor = r->minor };
	uint32_t value = r->access;
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)map_fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)&value;
	a.flags = BPF_ANY;
	return (int)sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static inline int map_del(int map_fd, const struct bench_rule *r)
{
	struct vj_devfilter_key key = { .type = r->type, .major = r->major, .minor = r->minor };
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)map_fd;
	a.key = (uint64_t)(uintptr_t)&key;
	return (int)sys_bpf(BPF_MAP_DELETE_ELEM, &a);
}

static inline int prog_load(const struct insns *p, const char *name)
{
	union bpf_attr a;

	if (p->oom) {
		errno = ENOMEM;
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.expected_attach_type = BPF_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)p->v;
	a.insn_cnt = (uint32_t)p->n;
	a.license = (uint64_t)(uintptr_t) "GPL";
	strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
	return (int)sys_bpf(BPF_PROG_LOAD, &a);
}

/* Multi-attach, as vfiojail does; stays attached until the cgroup goes. */
static inline int prog_attach(int prog_fd, int cgroup_fd)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)cgroup_fd;
	a.attach_bpf_fd = (uint32_t)prog_fd;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = BPF_F_ALLOW_MULTI;
	return (int)sys_bpf(BPF_PROG_ATTACH, &a);
}

static inline int obj_get(const char *path)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t)path;
	return (int)sys_bpf(BPF_OBJ_GET, &a);
}

/* vfiojail's sizing (src/kernel/devfilter.c map_entries): a power of two >= 2n, at least 64. */
static inline uint32_t map_entries_for(size_t n)
{
	uint32_t want = VJ_DEVFILTER_DEFAULT_ENTRIES;

	while (want < (1u << 16) && (size_t)want < 2 * n)
		want <<= 1;
	return want;
}
