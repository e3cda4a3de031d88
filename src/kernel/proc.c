/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "proc.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util.h"

/* The lines read, by the key that starts them. */
enum status_key { K_UID, K_GID, K_PPID, K_VMLCK, K_CAPINH, K_CAPPRM, K_CAPEFF, K_CAPBND, K_CAPAMB,
		  K_SIGIGN, K_SIGCGT, K_NNP, K_COUNT };

static const struct {
	const char *key; /* with its colon */
	size_t len;
} status_keys[K_COUNT] = {
#define KEY(k, s) [k] = { s, sizeof(s) - 1 }
	KEY(K_UID, "Uid:"),	    KEY(K_GID, "Gid:"),	      KEY(K_PPID, "PPid:"),
	KEY(K_VMLCK, "VmLck:"),	    KEY(K_CAPINH, "CapInh:"), KEY(K_CAPPRM, "CapPrm:"),
	KEY(K_CAPEFF, "CapEff:"),   KEY(K_CAPBND, "CapBnd:"), KEY(K_CAPAMB, "CapAmb:"),
	KEY(K_SIGIGN, "SigIgn:"),   KEY(K_SIGCGT, "SigCgt:"), KEY(K_NNP, "NoNewPrivs:"),
#undef KEY
};

/*
 * One pass over the text: where the value of each key's first line starts
 * (NULL when no line has it).  A key counts at the start of a line after the
 * first (the Name: line, whose value the kernel escapes), as "\nKEY:" would.
 */
static void find_lines(const char *text, const char *val[K_COUNT])
{
	for (size_t k = 0; k < K_COUNT; k++)
		val[k] = NULL;
	for (const char *l = strchr(text, '\n'); l; l = strchr(l, '\n')) {
		l++;
		if (!strchr("UGPVCSN", l[0]) || !l[0])
			continue; /* no key starts so: most lines */
		for (size_t k = 0; k < K_COUNT; k++)
			if (!val[k] && l[0] == status_keys[k].key[0] &&
			    strncmp(l, status_keys[k].key, status_keys[k].len) == 0) {
				val[k] = l + status_keys[k].len;
				break;
			}
	}
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A mask: 16 characters of a hex number after blanks (as strtoull reads one:
 * a 0x prefix counts), then the end of the line. */
static bool hex_value(const char *p, uint64_t *out)
{
	const char *start, *q;
	uint64_t v = 0;

	if (!p)
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	if (hex_digit(*p) < 0)
		return false;
	start = p;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && hex_digit(p[2]) >= 0)
		p += 2;
	for (q = p; hex_digit(*q) >= 0; q++) {
		if (q - p >= 16)
			return false; /* past 64 bits, or past 16 characters */
		v = v << 4 | (uint64_t)hex_digit(*q);
	}
	*out = v;
	return q - start == 16 && (*q == '\n' || *q == '\0');
}

/* @n unsigned numbers, each after white space, as sscanf's " %lu" (strtoul)
 * reads them: a sign allowed, ULONG_MAX past it. */
static bool dec_values(const char *p, unsigned long *v, size_t n)
{
	if (!p)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned long x = 0;
		bool neg = false, over = false;
		const char *d;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '+' || *p == '-')
			neg = *p++ == '-';
		for (d = p; *p >= '0' && *p <= '9'; p++) {
			unsigned digit = (unsigned)(*p - '0');

			if (x > (ULONG_MAX - digit) / 10)
				over = true;
			x = x * 10 + digit;
		}
		if (p == d)
			return false;
		v[i] = over ? ULONG_MAX : neg ? -x : x;
	}
	return true;
}

int vj_proc_status_parse(const char *text, struct vj_proc_status *out)
{
	const char *val[K_COUNT];
	unsigned long u[4], g[4], kb = 0, nnp = 0;
	char *end;
	long ppid = -1;

	find_lines(text, val);
	if (val[K_PPID]) {
		ppid = strtol(val[K_PPID], &end, 10); /* once: as sscanf's " %ld" */
		if (end == val[K_PPID])
			ppid = -1;
	}
	if (!dec_values(val[K_UID], u, 4) || !dec_values(val[K_GID], g, 4) || ppid < 0) {
		errno = EPROTO;
		return -1;
	}
	if (val[K_VMLCK] && !dec_values(val[K_VMLCK], &kb, 1))
		kb = 0;
	*out = (struct vj_proc_status){
		.ids = { .ruid = (uid_t)u[0], .euid = (uid_t)u[1], .suid = (uid_t)u[2], .fsuid = (uid_t)u[3],
			 .rgid = (gid_t)g[0], .egid = (gid_t)g[1], .sgid = (gid_t)g[2], .fsgid = (gid_t)g[3] },
		.ppid = (pid_t)ppid,
		.locked = (uint64_t)kb * 1024,
	};
	out->has_caps = hex_value(val[K_CAPINH], &out->cap_inh) && hex_value(val[K_CAPPRM], &out->cap_prm) &&
			hex_value(val[K_CAPEFF], &out->cap_eff) && hex_value(val[K_CAPBND], &out->cap_bnd) &&
			hex_value(val[K_CAPAMB], &out->cap_amb) && hex_value(val[K_SIGIGN], &out->sig_ign) &&
			hex_value(val[K_SIGCGT], &out->sig_cgt) && dec_values(val[K_NNP], &nnp, 1) && nnp <= 1;
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

/* /proc/self/status is at most this long (its Groups: line grows with the groups). */
#define STATUS_MAX 65536

int vj_proc_status_self(struct vj_proc_status *out)
{
	_cleanup_close_ int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = malloc(STATUS_MAX + 2);
	struct statfs sfs;
	ssize_t len;

	if (!buf || fd < 0 || fstatfs(fd, &sfs) < 0)
		return -1;
	if (sfs.f_type != PROC_SUPER_MAGIC) {
		errno = EXDEV;
		return -1;
	}
	/* procfs makes the file whole at its first read: one read when it fits */
	if ((len = vj_read_fd_small(fd, buf, STATUS_MAX + 2)) < 0 || memchr(buf, '\0', (size_t)len)) {
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
	char path[32], buf[8192], a[32], b[32], *p;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	if (vj_read_small(path, buf, sizeof(buf)) < 0 || !(p = strstr(buf, "Max locked memory")))
		return -1;
	if (sscanf(p + strlen("Max locked memory"), " %31s %31s", a, b) != 2)
		return -1;
	*soft = limit_value(a);
	*hard = limit_value(b);
	return 0;
}
