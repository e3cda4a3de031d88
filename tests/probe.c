/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * probe: a stand-in VMM for the integration tests.  Run as the VM user inside
 * the jail, it prints one JSON object describing what it can see and do:
 * ids, groups, capabilities, no_new_privs, RLIMIT_MEMLOCK, its cgroup, its
 * open fds, every entry of /dev (with owner, mode and ACL), the result of
 * opening the paths it is given, chosen environment variables and its argv.
 *
 *   probe [--open PATH] [--open-ro PATH] [--env NAME] [--exit N]
 *         [--sleep SECONDS] [--out FILE]
 *         [--attack [--attack-node PATH] [--attack-absent PATH]
 *          [--attack-suid PATH] [--attack-pin DIR]] [ARG...]
 *
 * --attack turns it into a hostile VMM: before anything else it tries to get
 * out of its jail in every way listed in run_attacks() and adds "attacks": one
 * {"attack", "target", "errno", "error"} object per attempt (errno 0: it
 * worked).  --attack-node: a node outside its plan to open read-write (another
 * VM's, the host's); --attack-absent: a host /dev path that must not be there;
 * --attack-suid: a setuid-root program to run ("-u" is passed; it prints the
 * euid it got); --attack-pin: the jail's bpffs pin directory.  The supervisor
 * attacked is the parent process.
 *
 * Plain libc and kernel headers only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
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
	bool attack;
	const char *attack_node[MAX_ARGS];
	int n_attack_node;
	const char *attack_absent[MAX_ARGS];
	int n_attack_absent;
	const char *attack_suid;
	const char *attack_pin;
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
	fprintf(f, "\"pid\":%d,", (int)getpid());
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

/* ---- --attack: a hostile VMM --------------------------------------------- */

struct attacks {
	FILE *f;
	bool first;
};

/* One attempt: @e is the errno it failed with, 0 when it succeeded.  @extra is
 * more JSON members (",\"k\":v") or "". */
static void report(struct attacks *a, const char *attack, const char *target, int e,
		   const char *extra)
{
	fprintf(a->f, "%s{\"attack\":", a->first ? "" : ",");
	a->first = false;
	json_str(a->f, attack);
	fputs(",\"target\":", a->f);
	json_str(a->f, target);
	fprintf(a->f, ",\"errno\":%d,\"error\":", e);
	json_str(a->f, e ? strerrorname_np(e) : NULL);
	fprintf(a->f, "%s}", extra);
}

static int err_of(int r)
{
	return r < 0 ? errno : 0;
}

static void attack_open_node(struct attacks *a, const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	int e = err_of(fd);

	if (fd >= 0)
		close(fd);
	report(a, "open_node", path, e, "");
}

static void attack_absent(struct attacks *a, const char *path)
{
	struct stat st;

	report(a, "host_dev_visible", path, err_of(lstat(path, &st)), "");
}

/* mknod of a char device (another VM's VFIO node numbers, 240:2) in @dir. */
static void attack_mknod(struct attacks *a, const char *dir)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/vj-attack-node.%d", dir, (int)getpid());
	r = mknod(path, S_IFCHR | 0666, makedev(240, 2));
	report(a, "mknod", path, err_of(r), "");
	if (r == 0)
		unlink(path);
}

/* Run the setuid-root program and read the euid it prints. */
static void attack_suid(struct attacks *a, const char *path)
{
	char buf[64] = "", extra[96];
	int pfd[2], status = 0, e = 0;
	ssize_t n = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		report(a, "setuid_exec", path, errno, "");
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execl(path, path, "-u", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if (pid < 0)
		e = errno;
	while (pid > 0 && n < (ssize_t)sizeof(buf) - 1) {
		ssize_t r = read(pfd[0], buf + n, sizeof(buf) - 1 - (size_t)n);
		if (r <= 0)
			break;
		n += r;
	}
	buf[n] = '\0';
	close(pfd[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	snprintf(extra, sizeof(extra), ",\"euid\":%ld,\"exit\":%d",
		 n > 0 ? strtol(buf, NULL, 10) : -1L, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	report(a, "setuid_exec", path, e, extra);
}

static void attack_memlock(struct attacks *a)
{
	struct rlimit rl;
	char extra[96];

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
		report(a, "raise_memlock", "RLIMIT_MEMLOCK", errno, "");
		return;
	}
	snprintf(extra, sizeof(extra), ",\"hard\":%lld", rlim_json(rl.rlim_max));
	if (rl.rlim_max != RLIM_INFINITY)
		rl.rlim_max += 1 << 20;
	rl.rlim_cur = rl.rlim_max;
	report(a, "raise_memlock", "RLIMIT_MEMLOCK", err_of(setrlimit(RLIMIT_MEMLOCK, &rl)), extra);
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* The cgroup2 mount point and the caller's cgroup in it, or -1. */
static int own_cgroup(char mnt[PATH_MAX], char cg[PATH_MAX])
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], rel[PATH_MAX] = "";
	bool found = false;

	while (f && fgets(line, sizeof(line), f)) {
		char point[PATH_MAX], type[64];
		const char *dash = strstr(line, " - ");
		if (dash && sscanf(dash, " - %63s", type) == 1 && !strcmp(type, "cgroup2") &&
		    sscanf(line, "%*s %*s %*s %*s %4095s", point) == 1) {
			snprintf(mnt, PATH_MAX, "%s", point);
			found = true;
			break;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(rel, sizeof(rel), "%s", line + 3);
		}
	if (f)
		fclose(f);
	if (!found || !rel[0])
		return -1;
	snprintf(cg, PATH_MAX, "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	return 0;
}

static void attack_bpf(struct attacks *a, const char *pin)
{
	/* r0 = 1 (allow every device); exit */
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char mnt[PATH_MAX], cg[PATH_MAX], path[PATH_MAX];
	union bpf_attr attr;
	int fd, cgfd = -1;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)prog;
	attr.insn_cnt = 2;
	attr.license = (uint64_t)(uintptr_t)"GPL";
	fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
	report(a, "bpf_prog_load", "cgroup device program allowing everything", err_of(fd), "");

	if (own_cgroup(mnt, cg) == 0)
		cgfd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && cgfd >= 0) {
		memset(&attr, 0, sizeof(attr));
		attr.target_fd = (uint32_t)cgfd;
		attr.attach_bpf_fd = (uint32_t)fd;
		attr.attach_type = BPF_CGROUP_DEVICE;
		attr.attach_flags = BPF_F_ALLOW_MULTI;
		report(a, "bpf_prog_attach", cg, err_of((int)sys_bpf(BPF_PROG_ATTACH, &attr)), "");
	}
	if (fd >= 0)
		close(fd);

	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)cgfd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	report(a, "bpf_prog_detach", cg,
	       cgfd < 0 ? errno : err_of((int)sys_bpf(BPF_PROG_DETACH, &attr)), "");
	if (cgfd >= 0)
		close(cgfd);

	memset(&attr, 0, sizeof(attr));
	report(a, "bpf_link_get_next_id", "any link",
	       err_of((int)sys_bpf(BPF_LINK_GET_NEXT_ID, &attr)), "");

	if (!pin)
		return;
	snprintf(path, sizeof(path), "%s/link", pin);
	memset(&attr, 0, sizeof(attr));
	attr.pathname = (uint64_t)(uintptr_t)path;
	fd = (int)sys_bpf(BPF_OBJ_GET, &attr);
	report(a, "bpf_obj_get_link", path, err_of(fd), "");
	if (fd >= 0) {
		memset(&attr, 0, sizeof(attr));
		attr.link_detach.link_fd = (uint32_t)fd;
		report(a, "bpf_link_detach", path, err_of((int)sys_bpf(BPF_LINK_DETACH, &attr)),
		       "");
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/rules", pin);
	memset(&attr, 0, sizeof(attr));
	attr.pathname = (uint64_t)(uintptr_t)path;
	fd = (int)sys_bpf(BPF_OBJ_GET, &attr);
	report(a, "bpf_obj_get_rules", path, err_of(fd), "");
	if (fd >= 0)
		close(fd);
}

/* Write our pid into @dir/cgroup.procs: the step that failed decides errno. */
static void attack_cgroup_move(struct attacks *a, const char *what, const char *dir)
{
	char path[PATH_MAX], pid[32];
	int fd, e;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	fd = open(path, O_WRONLY | O_CLOEXEC);
	e = err_of(fd);
	if (fd >= 0) {
		e = err_of((int)write(fd, pid, strlen(pid)));
		close(fd);
	}
	report(a, what, path, e, fd >= 0 ? ",\"step\":\"write\"" : ",\"step\":\"open\"");
}

static void attack_cgroup(struct attacks *a)
{
	char mnt[PATH_MAX], cg[PATH_MAX], parent[PATH_MAX], child[PATH_MAX + 16];
	char *slash;
	int r;

	if (own_cgroup(mnt, cg) < 0) {
		report(a, "cgroup_escape_parent", NULL, ENOENT, "");
		return;
	}
	snprintf(parent, sizeof(parent), "%s", cg);
	slash = strrchr(parent, '/');
	if (slash && slash > parent + strlen(mnt))
		*slash = '\0';
	attack_cgroup_move(a, "cgroup_escape_parent", parent);
	attack_cgroup_move(a, "cgroup_escape_root", mnt);
	snprintf(child, sizeof(child), "%s/vj-attack", cg);
	r = mkdir(child, 0755);
	report(a, "cgroup_mkdir", child, err_of(r), "");
	if (r == 0)
		rmdir(child);
}

/* fds 4..20 were not handed over: each must be closed. */
static void attack_fds(struct attacks *a)
{
	char target[32] = "4-20";
	int e = EBADF;

	for (int fd = 4; fd <= 20; fd++) {
		if (fcntl(fd, F_GETFD) >= 0) {
			snprintf(target, sizeof(target), "%d", fd);
			e = 0;
			break;
		}
	}
	report(a, "use_fd_not_given", target, e, "");
}

static void attack_supervisor(struct attacks *a)
{
	pid_t sup = getppid();
	char target[64], path[PATH_MAX], comm[64] = "", extra[128];
	FILE *f;
	int pidfd, fd, e, r;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)sup);
	f = fopen(path, "re");
	if (f && fgets(comm, sizeof(comm), f))
		comm[strcspn(comm, "\n")] = '\0';
	if (f)
		fclose(f);
	snprintf(target, sizeof(target), "%d", (int)sup);
	snprintf(extra, sizeof(extra), ",\"comm\":\"%.32s\"", comm);

	r = (int)ptrace(PTRACE_ATTACH, sup, NULL, NULL);
	e = err_of(r);
	if (r == 0)
		ptrace(PTRACE_DETACH, sup, NULL, NULL);
	report(a, "ptrace_supervisor", target, e, extra);

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)sup);
	fd = open(path, O_RDWR | O_CLOEXEC);
	report(a, "supervisor_mem", path, err_of(fd), "");
	if (fd >= 0)
		close(fd);

	pidfd = (int)syscall(SYS_pidfd_open, sup, 0);
	if (pidfd < 0) {
		report(a, "steal_supervisor_fd", target, errno, "");
	} else {
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, 0, 0);
		report(a, "steal_supervisor_fd", target, err_of(fd), "");
		if (fd >= 0)
			close(fd);
		close(pidfd);
	}
	report(a, "kill_supervisor", target, err_of(kill(sup, SIGKILL)), extra);
}

static void attack_host_root(struct attacks *a)
{
	struct stat st;

	report(a, "host_root_via_proc", "/proc/1/root/dev", err_of(lstat("/proc/1/root/dev", &st)),
	       "");
}

/* Every attempt, as a JSON array (NULL when out of memory). */
static char *run_attacks(const struct opts *o)
{
	struct attacks a = { .first = true };
	char *json = NULL;
	size_t len = 0;

	a.f = open_memstream(&json, &len);
	if (!a.f)
		return NULL;
	fputc('[', a.f);
	attack_fds(&a); /* first, while nothing of ours is open */
	for (int i = 0; i < o->n_attack_node; i++)
		attack_open_node(&a, o->attack_node[i]);
	attack_mknod(&a, "/dev");
	attack_mknod(&a, "/tmp");
	for (int i = 0; i < o->n_attack_absent; i++)
		attack_absent(&a, o->attack_absent[i]);
	attack_host_root(&a);
	if (o->attack_suid)
		attack_suid(&a, o->attack_suid);
	attack_memlock(&a);
	attack_bpf(&a, o->attack_pin);
	attack_cgroup(&a);
	attack_supervisor(&a);
	fputc(']', a.f);
	if (fclose(a.f) != 0) {
		free(json);
		return NULL;
	}
	return json;
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
		if (!strcmp(a, "--attack")) {
			o->attack = true;
			continue;
		}
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
		} else if (!strcmp(a, "--attack-node")) {
			if (o->n_attack_node == MAX_ARGS)
				return usage("too many --attack-node");
			o->attack_node[o->n_attack_node++] = v;
		} else if (!strcmp(a, "--attack-absent")) {
			if (o->n_attack_absent == MAX_ARGS)
				return usage("too many --attack-absent");
			o->attack_absent[o->n_attack_absent++] = v;
		} else if (!strcmp(a, "--attack-suid")) {
			o->attack_suid = v;
		} else if (!strcmp(a, "--attack-pin")) {
			o->attack_pin = v;
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
	char *json = NULL, *attacks = NULL;
	size_t len = 0;
	FILE *f;

	if (parse_args(argc, argv, &o))
		return 2;
	f = open_memstream(&json, &len);
	if (!f)
		return 1;
	fputc('{', f);
	print_fds(f); /* first: nothing of ours is open yet but the memstream */
	if (o.attack && !(attacks = run_attacks(&o)))
		return 1;
	print_ids(f);
	print_caps(f);
	print_memlock(f);
	print_cgroup(f);
	print_dev(f);
	print_opens(f, &o);
	print_env(f, &o);
	if (attacks) {
		fprintf(f, "\"attacks\":%s,", attacks);
		free(attacks);
	}
	print_argv(f, argc, argv);
	fputs("}\n", f);
	if (fclose(f) != 0 || emit(json, len, o.out) < 0)
		return 1;
	free(json);
	if (o.sleep_s)
		sleep(o.sleep_s);
	return o.exit_status;
}
