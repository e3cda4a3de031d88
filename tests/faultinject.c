/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * faultinject: an LD_PRELOAD shim that makes the Nth call of one libc entry point
 * fail with a chosen errno, for the fault-injection integration test.
 *
 *   VJ_FAULT=NAME:N:ERRNO   e.g. "mkdir:2:ENOSPC", "bpf:1:EPERM", "write:1:EBUSY"
 *   VJ_FAULT=NAME:N:CRASH   the Nth call kills the process instead (SIGKILL): a
 *                           crash at that point, for the tests of what the next
 *                           command does with what is left
 *   VJ_FAULT_HIT=FILE       appended with "NAME N ERRNO pid" when the fault fires
 *
 * NAME is one of the wrapped entry points below ("fork" counts clone too); "write" counts only writes to
 * cgroupfs and "bpf" is syscall(__NR_bpf, ...) as src/kernel/bpfsys.c makes it.  Each process
 * counts its own calls (a child continues from its parent's count at fork, or
 * at clone when it shares its parent's memory, as vfiojail's launch child does).
 * Only calls the program makes through the dynamic linker are seen; calls libc
 * makes internally are not.
 */
/* Both the plain and the 64-bit names are wrapped, so take the headers as they are. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

/* The project builds with -fvisibility=hidden; the wrappers must interpose. */
#pragma GCC visibility push(default)

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define FAULT_CRASH (-1)

static char fault_name[32];
static long fault_nth;
static int fault_errno;
/* The count of each process, by pid: a child that shares this memory (clone
 * with CLONE_VM) must not advance its parent's. */
static struct {
	pid_t pid;
	long count;
} fault_counts[8];

static long *fault_count_of_self(void)
{
	pid_t self = getpid(), parent = getppid();
	size_t n = sizeof(fault_counts) / sizeof(fault_counts[0]), i, slot = n - 1;
	long from = 0;

	for (i = 0; i < n; i++)
		if (fault_counts[i].pid == self)
			return &fault_counts[i].count;
	for (i = n; i-- > 0;) {
		if (fault_counts[i].pid == parent)
			from = fault_counts[i].count;
		if (fault_counts[i].pid == 0)
			slot = i;
	}
	fault_counts[slot].pid = self;
	fault_counts[slot].count = from;
	return &fault_counts[slot].count;
}

static const struct {
	const char *name;
	int value;
} errnos[] = {
	{ "EPERM", EPERM }, { "ENOMEM", ENOMEM }, { "ENOSPC", ENOSPC }, { "EBUSY", EBUSY },
	{ "EINTR", EINTR }, { "EACCES", EACCES }, { "EIO", EIO },	{ "EAGAIN", EAGAIN },
	{ "CRASH", FAULT_CRASH },
};

__attribute__((constructor)) static void fault_init(void)
{
	const char *spec = getenv("VJ_FAULT");
	char name[32], err[16];
	long nth;

	if (!spec || sscanf(spec, "%31[^:]:%ld:%15s", name, &nth, err) != 3 || nth < 1)
		return;
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (!strcmp(errnos[i].name, err)) {
			fault_errno = errnos[i].value;
			fault_nth = nth;
			memcpy(fault_name, name, sizeof(fault_name));
		}
	/* The fault is this process's (and its forks'); a program it executes starts clean. */
	unsetenv("VJ_FAULT");
	unsetenv("LD_PRELOAD");
}

/* Whether this call of @name is the one to fail; sets errno when it is. */
static bool fault_fires_at(const char *name, const char *detail)
{
	const char *hit;
	int saved;

	if (!fault_nth || strcmp(name, fault_name) != 0 || ++*fault_count_of_self() != fault_nth)
		return false;
	saved = fault_errno;
	hit = getenv("VJ_FAULT_HIT");
	if (hit) {
		FILE *f = fopen(hit, "ae");
		if (f) {
			fprintf(f, "%s %ld %d %d %s\n", name, fault_nth, saved, (int)getpid(),
				detail ? detail : "");
			fclose(f);
		}
	}
	if (saved == FAULT_CRASH)
		raise(SIGKILL);
	errno = saved;
	return true;
}

static bool fault_fires(const char *name)
{
	return fault_fires_at(name, NULL);
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int mkdir(const char *path, mode_t mode)
{
	return fault_fires("mkdir") ? -1 : REAL(mkdir)(path, mode);
}

int mkdirat(int dirfd, const char *path, mode_t mode)
{
	return fault_fires("mkdir") ? -1 : REAL(mkdirat)(dirfd, path, mode);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	struct statfs s;

	if (fault_nth && !strcmp(fault_name, "write") && fstatfs(fd, &s) == 0 &&
	    s.f_type == CGROUP2_SUPER_MAGIC && fault_fires("write"))
		return -1;
	return REAL(write)(fd, buf, n);
}

long syscall(long nr, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_bpf && fault_fires("bpf"))
		return -1;
	return REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int mount(const char *src, const char *target, const char *type, unsigned long flags,
	  const void *data)
{
	return fault_fires("mount") ? -1 : REAL(mount)(src, target, type, flags, data);
}

int umount2(const char *target, int flags)
{
	return fault_fires("umount2") ? -1 : REAL(umount2)(target, flags);
}

int mknod(const char *path, mode_t mode, dev_t dev)
{
	return fault_fires("mknod") ? -1 : REAL(mknod)(path, mode, dev);
}

int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	return fault_fires("mknod") ? -1 : REAL(mknodat)(dirfd, path, mode, dev);
}

int chown(const char *path, uid_t uid, gid_t gid)
{
	return fault_fires("chown") ? -1 : REAL(chown)(path, uid, gid);
}

int fchown(int fd, uid_t uid, gid_t gid)
{
	return fault_fires("chown") ? -1 : REAL(fchown)(fd, uid, gid);
}

int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	return fault_fires("chown") ? -1 : REAL(fchownat)(dirfd, path, uid, gid, flags);
}

int setns(int fd, int type)
{
	return fault_fires("setns") ? -1 : REAL(setns)(fd, type);
}

int unshare(int flags)
{
	return fault_fires("unshare") ? -1 : REAL(unshare)(flags);
}

int prlimit(pid_t pid, enum __rlimit_resource res, const struct rlimit *n, struct rlimit *o)
{
	return fault_fires("prlimit") ? -1 : REAL(prlimit)(pid, res, n, o);
}

int prlimit64(pid_t pid, enum __rlimit_resource res, const struct rlimit64 *n,
	      struct rlimit64 *o)
{
	return fault_fires("prlimit") ? -1 : REAL(prlimit64)(pid, res, n, o);
}

int setrlimit(__rlimit_resource_t res, const struct rlimit *r)
{
	return fault_fires("setrlimit") ? -1 : REAL(setrlimit)(res, r);
}

int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *r)
{
	return fault_fires("setrlimit") ? -1 : REAL(setrlimit64)(res, r);
}

#define WRAP_OPEN(fn, ...)                                                         \
	{                                                                          \
		va_list ap;                                                        \
		mode_t mode;                                                       \
		va_start(ap, flags);                                               \
		mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;   \
		va_end(ap);                                                        \
		return fault_fires_at("open", path) ? -1 : REAL(fn)(__VA_ARGS__, flags, mode); \
	}

int open(const char *path, int flags, ...) WRAP_OPEN(open, path)
int open64(const char *path, int flags, ...) WRAP_OPEN(open64, path)
int openat(int dirfd, const char *path, int flags, ...) WRAP_OPEN(openat, dirfd, path)
int openat64(int dirfd, const char *path, int flags, ...) WRAP_OPEN(openat64, dirfd, path)

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fault_fires("ioctl") ? -1 : REAL(ioctl)(fd, req, arg);
}

pid_t fork(void)
{
	return fault_fires("fork") ? -1 : REAL(fork)();
}

/* glibc's clone (vfiojail's launch child, CLONE_VM | CLONE_VFORK): a new process
 * as fork is, counted under the same name. */
int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	pid_t *ptid;
	void *tls;
	pid_t *ctid;

	if (fault_fires("fork"))
		return -1;
	va_start(ap, arg);
	ptid = va_arg(ap, pid_t *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, pid_t *);
	va_end(ap);
	return REAL(clone)(fn, stack, flags, arg, ptid, tls, ctid);
}

int execv(const char *path, char *const argv[])
{
	return fault_fires("execve") ? -1 : REAL(execv)(path, argv);
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	return fault_fires("execve") ? -1 : REAL(execve)(path, argv, envp);
}
