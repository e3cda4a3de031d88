/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers every module uses: cleanup attributes, file reads under a root. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Hand ownership out of a cleanup variable. */
#define TAKE_PTR(p)                          \
	({                                   \
		__typeof__(p) _tp = (p);     \
		(p) = NULL;                  \
		_tp;                         \
	})
#define TAKE_FD(fd)                          \
	({                                   \
		int _tf = (fd);              \
		(fd) = -1;                   \
		_tf;                         \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Grow *arr (of *n elements of size elsz) by one zeroed element; returns it or NULL. */
void *vj_array_push(void *arr_ptr, size_t *n, size_t elsz);
#define VJ_PUSH(arr, n) ((__typeof__(arr))vj_array_push(&(arr), &(n), sizeof(*(arr))))

/* root + "/" + rel (rel may start with '/'); NULL root means "/" itself. */
char *vj_path_join(const char *root, const char *rel);
/* The directory of @path, @levels up ("/a/b/c", 2 -> "/a"); never above "/". */
char *vj_path_parent(const char *path, int levels);
/* CLOCK_MONOTONIC in milliseconds: deadlines. */
int64_t vj_now_ms(void);
/* printf-style asprintf that returns NULL on failure. */
char *vj_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The strings up to a NULL, joined into one malloc'ed string (no printf: the
 * paths and field names made once per device); NULL when out of memory. */
char *vj_concat(const char *a, ...) __attribute__((sentinel));
/* @v in decimal, written at the end of @buf: returns where it starts. */
#define VJ_U64_STR_MAX 21
char *vj_u64_format(uint64_t v, char buf[static VJ_U64_STR_MAX]);

/*
 * Read a small text file (at most @max bytes, 4096 when 0) into a NUL-terminated
 * string with the trailing newline removed.  Returns 0 or -errno (-EFBIG when
 * longer than @max, -EINVAL when it is not a regular file or holds a NUL byte).
 */
int vj_read_file(const char *path, size_t max, char **out);
/* A small file (a /proc or sysfs one) into @buf, NUL-terminated, with one read when it
 * fits: its length, -EFBIG when it does not fit in @size - 1 bytes, or -errno. */
ssize_t vj_read_small(const char *path, char *buf, size_t size);
/* The same from @fd, as it stands. */
ssize_t vj_read_fd_small(int fd, char *buf, size_t size);
/* Read all of @fd, at most @max bytes, NUL-terminated; 0 or -errno (-EFBIG past @max). */
int vj_read_fd(int fd, size_t max, char **out, size_t *out_len);
/* Parse "MAJ:MIN\n" as the kernel writes it in sysfs dev files. */
int vj_parse_devnum(const char *s, uint32_t *major, uint32_t *minor);
/* Basename of a symlink's target, or -errno. */
int vj_readlink_base(const char *path, char **out);
/* Strict decimal u64 / unsigned parse of a whole string. */
int vj_parse_u64(const char *s, uint64_t *out);

/* "c 10:200 rw", "c 136:* rw": a device rule as messages and tables show it. */
struct vj_rule;
#define VJ_RULE_STR_MAX 32
void vj_rule_format(const struct vj_rule *r, char buf[static VJ_RULE_STR_MAX]);
/* "*" for VJ_RULE_ANY, else the number. */
void vj_devnum_format(uint32_t v, char buf[static 12]);

/* Access bits <-> "rwm" strings. */
int vj_access_parse(const char *s, unsigned *out);
void vj_access_format(unsigned access, char buf[static 4]);
