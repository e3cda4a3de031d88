/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "proc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util.h"

/* "KEY: 16 hex digits" (a mask) */
static bool hex_line(const char *text, const char *key, uint64_t *out)
{
	const char *p = strstr(text, key);
	char *end;

	if (!p)
		return false;
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	if (!isxdigit((unsigned char)*p))
		return false;
	errno = 0;
	*out = strtoull(p, &end, 16);
	return errno == 0 && end - p == 16 && (*end == '\n' || *end == '\0');
}

static bool dec_line(const char *text, const char *key, unsigned long long *out)
{
	const char *p = strstr(text, key);

	return p && sscanf(p + strlen(key), " %llu", out) == 1;
}

int vj_proc_status_parse(const char *text, struct vj_proc_status *out)
{
	unsigned long u[4], g[4];
	long ppid;
	unsigned long long kb = 0, nnp = 0;
	const char *p;

	if (!(p = strstr(text, "\nUid:")) || sscanf(p + 5, "%lu %lu %lu %lu", &u[0], &u[1], &u[2], &u[3]) != 4 ||
	    !(p = strstr(text, "\nGid:")) || sscanf(p + 5, "%lu %lu %lu %lu", &g[0], &g[1], &g[2], &g[3]) != 4 ||
	    !(p = strstr(text, "\nPPid:")) || sscanf(p + 6, " %ld", &ppid) != 1 || ppid < 0) {
		errno = EPROTO;
		return -1;
	}
	if ((p = strstr(text, "\nVmLck:")) && sscanf(p + 7, " %llu", &kb) != 1)
		kb = 0;
	*out = (struct vj_proc_status){
		.ids = { .ruid = (uid_t)u[0], .euid = (uid_t)u[1], .suid = (uid_t)u[2], .fsuid = (uid_t)u[3],
			 .rgid = (gid_t)g[0], .egid = (gid_t)g[1], .sgid = (gid_t)g[2], .fsgid = (gid_t)g[3] },
		.ppid = (pid_t)ppid,
		.locked = (uint64_t)kb * 1024,
	};
	out->has_caps = hex_line(text, "\nCapInh:", &out->cap_inh) && hex_line(text, "\nCapPrm:", &out->cap_prm) &&
			hex_line(text, "\nCapEff:", &out->cap_eff) && hex_line(text, "\nCapBnd:", &out->cap_bnd) &&
			hex_line(text, "\nCapAmb:", &out->cap_amb) && hex_line(text, "\nSigIgn:", &out->sig_ign) &&
			hex_line(text, "\nSigCgt:", &out->sig_cgt) && dec_line(text, "\nNoNewPrivs:", &nnp) && nnp <= 1;
	out->no_new_privs = nnp == 1;
	return 0;
}

int vj_proc_status(pid_t pid, struct vj_proc_status *out)
{
	_cleanup_free_ char *path = vj_strdupf("/proc/%d/status", (int)pid), *buf = NULL;

	if (!path)
		return -1;
	if (vj_read_file(path, 65536, &buf) < 0)
		return -1;
	return vj_proc_status_parse(buf, out);
}

int vj_proc_status_self(struct vj_proc_status *out)
{
	_cleanup_close_ int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	struct statfs sfs;
	size_t len = 0;

	if (fd < 0 || fstatfs(fd, &sfs) < 0)
		return -1;
	if (sfs.f_type != PROC_SUPER_MAGIC) {
		errno = EXDEV;
		return -1;
	}
	if (vj_read_fd(fd, 65536, &buf, &len) < 0 || memchr(buf, '\0', len)) {
		errno = EPROTO;
		return -1;
	}
	return vj_proc_status_parse(buf, out);
}

uint64_t vj_proc_locked(pid_t pid)
{
	struct vj_proc_status st;

	return vj_proc_status(pid, &st) == 0 ? st.locked : 0;
}

static uint64_t limit_value(const char *s)
{
	return strncmp(s, "unlimited", 9) == 0 ? UINT64_MAX : strtoull(s, NULL, 10);
}

int vj_proc_memlock(pid_t pid, uint64_t *soft, uint64_t *hard)
{
	_cleanup_free_ char *path = vj_strdupf("/proc/%d/limits", (int)pid), *buf = NULL;
	char a[32], b[32], *p;

	if (!path || vj_read_file(path, 8192, &buf) < 0 || !(p = strstr(buf, "Max locked memory")))
		return -1;
	if (sscanf(p + strlen("Max locked memory"), " %31s %31s", a, b) != 2)
		return -1;
	*soft = limit_value(a);
	*hard = limit_value(b);
	return 0;
}
