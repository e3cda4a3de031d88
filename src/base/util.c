/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "util.h"

#include <time.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "vfiojail/vfiojail.h"

void *vj_array_push(void *arr_ptr, size_t *n, size_t elsz)
{
	void **arr = arr_ptr;
	char *grown;

	if (*n >= SIZE_MAX / elsz - 1)
		return NULL;
	grown = realloc(*arr, (*n + 1) * elsz);
	if (!grown)
		return NULL;
	*arr = grown;
	memset(grown + *n * elsz, 0, elsz);
	return grown + (*n)++ * elsz;
}

char *vj_strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

char *vj_concat(const char *a, ...)
{
	size_t len = 0, at = 0;
	const char *part;
	va_list ap;
	char *s;

	va_start(ap, a);
	for (part = a; part; part = va_arg(ap, const char *))
		len += strlen(part);
	va_end(ap);
	if (!(s = malloc(len + 1)))
		return NULL;
	va_start(ap, a);
	for (part = a; part; part = va_arg(ap, const char *)) {
		size_t l = strlen(part);

		memcpy(s + at, part, l);
		at += l;
	}
	va_end(ap);
	s[at] = '\0';
	return s;
}

char *vj_u64_format(uint64_t v, char buf[static VJ_U64_STR_MAX])
{
	char *p = buf + VJ_U64_STR_MAX - 1;

	*p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10));
	return p;
}

char *vj_path_join(const char *root, const char *rel)
{
	size_t rl, ll;
	char *s;

	while (*rel == '/')
		rel++;
	if (!root || !*root)
		root = "/";
	rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	if (rl == 1 && root[0] == '/')
		rl = 0;
	ll = strlen(rel);
	if (!(s = malloc(rl + 1 + ll + 1)))
		return NULL;
	memcpy(s, root, rl);
	s[rl] = '/';
	memcpy(s + rl + 1, rel, ll + 1);
	return s;
}

ssize_t vj_read_fd_small(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		len += (size_t)n;
		/* the end, or a read that left room: procfs and sysfs make a file whole at
		 * its first read, and a regular file reads short only at its end */
		if (n == 0 || len + 1 < size)
			break;
	}
	if (len + 1 >= size)
		return -EFBIG;
	buf[len] = '\0';
	return (ssize_t)len;
}

ssize_t vj_read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = vj_read_fd_small(fd, buf, size);
	close(fd);
	return r;
}

char *vj_path_parent(const char *path, int levels)
{
	char *d = strdup(path), *slash;

	for (int i = 0; d && i < levels && (slash = strrchr(d, '/')); i++)
		slash[slash == d ? 1 : 0] = '\0';
	return d;
}

int vj_read_fd(int fd, size_t max, char **out, size_t *out_len)
{
	_cleanup_free_ char *buf = malloc(max + 2);
	size_t len = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max)
			return -EFBIG;
	}
	buf[len] = '\0';
	*out = TAKE_PTR(buf);
	*out_len = len;
	return 0;
}

int vj_read_file(const char *path, size_t max, char **out)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int r;

	/* Non-blocking, and regular files only: a FIFO or device planted under a
	 * --sysfs-root must not hang or drive vfiojail. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r = vj_read_fd(fd, max ? max : 4096, &buf, &len);
	if (r < 0)
		return r;
	if (memchr(buf, '\0', len))
		return -EINVAL;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	*out = TAKE_PTR(buf);
	return 0;
}

static int parse_u32_dec(const char *s, const char *end, uint32_t *out)
{
	uint64_t v = 0;

	if (s == end)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

int vj_parse_devnum(const char *s, uint32_t *major, uint32_t *minor)
{
	const char *colon = strchr(s, ':');
	size_t len = strlen(s);

	while (len > 0 && s[len - 1] == '\n')
		len--;
	if (!colon || colon > s + len)
		return -EINVAL;
	if (parse_u32_dec(s, colon, major) < 0 || parse_u32_dec(colon + 1, s + len, minor) < 0)
		return -EINVAL;
	/* The kernel's dev_t has 12 bits of major and 20 of minor. */
	if (*major >= (1u << 12) || *minor >= (1u << 20))
		return -ERANGE;
	return 0;
}

int vj_readlink_base(const char *path, char **out)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	const char *base;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	if (!*base)
		return -EINVAL;
	*out = strdup(base);
	return *out ? 0 : -ENOMEM;
}

int vj_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int vj_access_parse(const char *s, unsigned *out)
{
	unsigned acc = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned bit;
		switch (*s) {
		case 'r':
			bit = VJ_ACC_READ;
			break;
		case 'w':
			bit = VJ_ACC_WRITE;
			break;
		case 'm':
			bit = VJ_ACC_MKNOD;
			break;
		default:
			return -EINVAL;
		}
		if (acc & bit)
			return -EINVAL;
		acc |= bit;
	}
	*out = acc;
	return 0;
}

void vj_access_format(unsigned access, char buf[static 4])
{
	char *p = buf;
	if (access & VJ_ACC_READ)
		*p++ = 'r';
	if (access & VJ_ACC_WRITE)
		*p++ = 'w';
	if (access & VJ_ACC_MKNOD)
		*p++ = 'm';
	*p = '\0';
}

void vj_devnum_format(uint32_t v, char buf[static 12])
{
	char num[VJ_U64_STR_MAX];

	if (v == VJ_RULE_ANY)
		strcpy(buf, "*");
	else
		strcpy(buf, vj_u64_format(v, num));
}

void vj_rule_format(const struct vj_rule *r, char buf[static VJ_RULE_STR_MAX])
{
	char *p = buf;

	/* "%c %s:%s %s": at most 1 + 1 + 10 + 1 + 10 + 1 + 3 + 1 bytes, within 32 */
	*p++ = r->type >= 0x20 && r->type < 0x7f ? r->type : '?';
	*p++ = ' ';
	vj_devnum_format(r->major, p);
	p += strlen(p);
	*p++ = ':';
	vj_devnum_format(r->minor, p);
	p += strlen(p);
	*p++ = ' ';
	vj_access_format(r->access & (VJ_ACC_READ | VJ_ACC_WRITE | VJ_ACC_MKNOD), p);
}

int64_t vj_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
