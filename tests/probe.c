/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe: a stand-in VMM for the integration tests.  Run as the VM user inside
 * the jail, it prints one JSON object describing what it can see and do:
 * ids, groups, capabilities, no_new_privs, RLIMIT_MEMLOCK, its cgroup, its
 * open fds, every entry of /dev (with owner, mode and ACL), the result of
 * opening the paths it is given, chosen environment variables and its argv.
 *
 *   probe [--open PATH] [--open-ro PATH] [--env NAME] [--exit N]
 *         [--sleep SECONDS] [--out FILE] [ARG...]
 *
 * Plain libc only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_ARGS 64

struct opts {
	const char *open[MAX_ARGS];
	bool open_rw[MAX_ARGS];
	int n_open;
	const char *env[MAX_ARGS];
	int n_env;
	int exit_status;
	unsigned sleep_s;
	const char *out;
};

static void json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* The value of "Key:" in /proc/self/status, whitespace-trimmed, or NULL. */
static char *status_field(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	size_t klen = strlen(key);
	char line[4096];
	char *val = NULL;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			char *v = line + klen + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			val = strdup(v);
			break;
		}
	}
	fclose(f);
	return val;
}

static void print_ids(FILE *f)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	gid_t groups[NGROUPS_MAX > 65536 ? 65536 : NGROUPS_MAX];
	int n;

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	fprintf(f, "\"uid\":%u,\"euid\":%u,\"suid\":%u,\"gid\":%u,\"egid\":%u,\"sgid\":%u,",
		(unsigned)ru, (unsigned)eu, (unsigned)su, (unsigned)rg, (unsigned)eg, (unsigned)sg);
	n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	fputs("\"groups\":[", f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%u", i ? "," : "", (unsigned)groups[i]);
	fputs("],", f);
}

static void print_caps(FILE *f)
{
	static const char *const keys[][2] = {
		{ "eff", "CapEff" }, { "prm", "CapPrm" }, { "inh", "CapInh" },
		{ "bnd", "CapBnd" }, { "amb", "CapAmb" },
	};
	char *nnp;

	fputs("\"caps\":{", f);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *v = status_field(keys[i][1]);
		fprintf(f, "%s\"%s\":", i ? "," : "", keys[i][0]);
		json_str(f, v);
		free(v);
	}
	nnp = status_field("NoNewPrivs");
	fprintf(f, "},\"no_new_privs\":%s,", nnp ? nnp : "null");
	free(nnp);
}

static long long rlim_json(rlim_t v)
{
	return v == RLIM_INFINITY ? -1 : (long long)v;
}

static void print_memlock(FILE *f)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
		fputs("\"memlock\":null,", f);
		return;
	}
	fprintf(f, "\"memlock\":{\"soft\":%lld,\"hard\":%lld},", rlim_json(rl.rlim_cur),
		rlim_json(rl.rlim_max));
}

static void print_cgroup(FILE *f)
{
	FILE *cg = fopen("/proc/self/cgroup", "re");
	char line[4096];
	bool found = false;

	fputs("\"cgroup\":", f);
	while (cg && fgets(line, sizeof(line), cg)) {
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			json_str(f, line + 3);
			found = true;
			break;
		}
	}
	if (cg)
		fclose(cg);
	if (!found)
		fputs("null", f);
	fputc(',', f);
}

static void print_fds(FILE *f)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	bool first = true;

	fputs("\"fds\":[", f);
	while (d && (de = readdir(d))) {
		char *end;
		long fd;

		if (de->d_name[0] == '.')
			continue;
		fd = strtol(de->d_name, &end, 10);
		if (*end || fd == dirfd(d))
			continue;
		fprintf(f, "%s%ld", first ? "" : ",", fd);
		first = false;
	}
	if (d)
		closedir(d);
	fputs("],", f);
}

/* ---- /dev ------------------------------------------------------------------ */

static char tag_prefix(unsigned tag, const char **name)
{
	switch (tag) {
	case 0x01: *name = "user"; return 0;  /* ACL_USER_OBJ */
	case 0x02: *name = "user"; return 1;  /* ACL_USER */
	case 0x04: *name = "group"; return 0; /* ACL_GROUP_OBJ */
	case 0x08: *name = "group"; return 1; /* ACL_GROUP */
	case 0x10: *name = "mask"; return 0;  /* ACL_MASK */
	case 0x20: *name = "other"; return 0; /* ACL_OTHER */
	default: *name = "?"; return 0;
	}
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * The access ACL in short text form ("user::rw-,user:65534:rw-,group::---,
 * mask::rw-,other::---") from the system.posix_acl_access xattr: a 4-byte
 * version (2) then {u16 tag, u16 perm, u32 id} entries, little endian.
 * NULL when the file has no ACL beyond its mode.
 */
static void print_acl(FILE *f, const char *path)
{
	unsigned char buf[4 + 8 * 64];
	ssize_t len = lgetxattr(path, "system.posix_acl_access", buf, sizeof(buf));

	if (len < 4 || le32(buf) != 2 || (len - 4) % 8) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (ssize_t off = 4; off < len; off += 8) {
		unsigned tag = buf[off] | buf[off + 1] << 8, perm = buf[off + 2] | buf[off + 3] << 8;
		const char *name;
		bool qualified = tag_prefix(tag, &name);

		fprintf(f, "%s%s:", off > 4 ? "," : "", name);
		if (qualified)
			fprintf(f, "%u", le32(buf + off + 4));
		fprintf(f, ":%c%c%c", perm & 4 ? 'r' : '-', perm & 2 ? 'w' : '-',
			perm & 1 ? 'x' : '-');
	}
	fputc('"', f);
}

static char type_char(mode_t m)
{
	if (S_ISCHR(m))
		return 'c';
	if (S_ISBLK(m))
		return 'b';
	if (S_ISDIR(m))
		return 'd';
	if (S_ISREG(m))
		return 'f';
	if (S_ISFIFO(m))
		return 'p';
	if (S_ISSOCK(m))
		return 's';
	return '?';
}

static void print_entry(FILE *f, const char *path, const struct stat *st, bool *first)
{
	fprintf(f, "%s{\"path\":", *first ? "" : ",");
	*first = false;
	json_str(f, path);
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		fputs(",\"link\":", f);
		json_str(f, target);
		fputc('}', f);
		return;
	}
	fprintf(f, ",\"type\":\"%c\"", type_char(st->st_mode));
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		fprintf(f, ",\"major\":%u,\"minor\":%u", major(st->st_rdev), minor(st->st_rdev));
	fprintf(f, ",\"uid\":%u,\"gid\":%u,\"mode\":\"%04o\",\"acl\":", (unsigned)st->st_uid,
		(unsigned)st->st_gid, (unsigned)(st->st_mode & 07777));
	print_acl(f, path);
	fputc('}', f);
}

static bool is_kept_mount(const char *path)
{
	return !strcmp(path, "/dev/pts") || !strcmp(path, "/dev/shm") ||
	       !strcmp(path, "/dev/mqueue");
}

static void walk_dev(FILE *f, const char *dir, bool *first)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		print_entry(f, path, &st, first);
		if (S_ISDIR(st.st_mode) && !is_kept_mount(path))
			walk_dev(f, path, first);
	}
	if (d)
		closedir(d);
}

static void print_dev(FILE *f)
{
	bool first = true;

	fputs("\"dev\":[", f);
	walk_dev(f, "/dev", &first);
	fputs("],", f);
}

/* ---- requested opens, env, argv ------------------------------------------ */

static void print_opens(FILE *f, const struct opts *o)
{
	fputs("\"opens\":[", f);
	for (int i = 0; i < o->n_open; i++) {
		int flags = (o->open_rw[i] ? O_RDWR : O_RDONLY) | O_NOCTTY | O_CLOEXEC;
		int fd = open(o->open[i], flags);
		int e = fd < 0 ? errno : 0;
		const char *name = e ? strerrorname_np(e) : NULL;

		if (fd >= 0)
			close(fd);
		fprintf(f, "%s{\"path\":", i ? "," : "");
		json_str(f, o->open[i]);
		fprintf(f, ",\"flags\":\"%s\",\"errno\":%d,\"error\":", o->open_rw[i] ? "rw" : "r",
			e);
		json_str(f, name);
		fputc('}', f);
	}
	fputs("],", f);
}

static void print_env(FILE *f, const struct opts *o)
{
	fputs("\"env\":{", f);
	for (int i = 0; i < o->n_env; i++) {
		fputs(i ? "," : "", f);
		json_str(f, o->env[i]);
		fputc(':', f);
		json_str(f, getenv(o->env[i]));
	}
	fputs("},", f);
}

static void print_argv(FILE *f, int argc, char **argv)
{
	fputs("\"argv\":[", f);
	for (int i = 0; i < argc; i++) {
		fputs(i ? "," : "", f);
		json_str(f, argv[i]);
	}
	fputc(']', f);
}

static int usage(const char *why)
{
	fprintf(stderr, "probe: %s\n", why);
	return 2;
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 255 * 1000000UL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned u;

		if (strncmp(a, "--", 2) != 0)
			continue; /* plain arguments are only echoed in argv */
		if (!v)
			return usage("option needs a value");
		if (!strcmp(a, "--open") || !strcmp(a, "--open-ro")) {
			if (o->n_open == MAX_ARGS)
				return usage("too many --open");
			o->open_rw[o->n_open] = !strcmp(a, "--open");
			o->open[o->n_open++] = v;
		} else if (!strcmp(a, "--env")) {
			if (o->n_env == MAX_ARGS)
				return usage("too many --env");
			o->env[o->n_env++] = v;
		} else if (!strcmp(a, "--exit")) {
			if (parse_uint(v, &u) < 0 || u > 255)
				return usage("--exit wants 0..255");
			o->exit_status = (int)u;
		} else if (!strcmp(a, "--sleep")) {
			if (parse_uint(v, &u) < 0)
				return usage("--sleep wants seconds");
			o->sleep_s = u;
		} else if (!strcmp(a, "--out")) {
			o->out = v;
		} else {
			return usage("unknown option");
		}
		i++;
	}
	return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static int emit(const char *json, size_t len, const char *out)
{
	int fd = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : STDOUT_FILENO;
	int r;

	if (fd < 0) {
		perror("probe: --out");
		return -1;
	}
	r = write_all(fd, json, len);
	if (out)
		r |= close(fd);
	return r;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	char *json = NULL;
	size_t len = 0;
	FILE *f;

	if (parse_args(argc, argv, &o))
		return 2;
	f = open_memstream(&json, &len);
	if (!f)
		return 1;
	fputc('{', f);
	print_fds(f); /* first: nothing of ours is open yet but the memstream */
	print_ids(f);
	print_caps(f);
	print_memlock(f);
	print_cgroup(f);
	print_dev(f);
	print_opens(f, &o);
	print_env(f, &o);
	print_argv(f, argc, argv);
	fputs("}\n", f);
	if (fclose(f) != 0 || emit(json, len, o.out) < 0)
		return 1;
	free(json);
	if (o.sleep_s)
		sleep(o.sleep_s);
	return o.exit_status;
}
