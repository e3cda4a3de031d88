/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmtool: the VM suite's probe of a real /dev/iommu (tests/vm).
 *
 *   vmtool mode FD      print FD's iommufd accounting as the kernel answers
 *                       IOMMU_OPTION GET ("per-user" or "per-process"); run as the
 *                       VMM, FD is the context vfiojail handed over
 *   vmtool fresh PATH   open PATH (a /dev/iommu) and print its mode the same way
 *   vmtool busy PATH    open PATH, allocate an IOAS (an object), then ask vfiojail's
 *                       library to set per-process accounting: prints the error it
 *                       reports for the kernel's EBUSY (exit 0 when it is EBUSY)
 *   vmtool held PID     every iommufd context process PID holds, taken with
 *                       pidfd_getfd (root): "FD MODE" a line, by its fd number in
 *                       PID (a VMM a launcher such as libvirt started); exit 1 if none
 *   vmtool ask SOCKET NAME
 *                       ask the launch service on SOCKET for VM NAME as `vfiojail
 *                       launch` does, then print "OK ..." or "REFUSED ..." (the
 *                       answer's fields) and this process's RLIMIT_MEMLOCK after the
 *                       answer, "memlock SOFT HARD"; the answer's fds are not taken
 *
 * The ioctls are written here from the kernel's uapi, not taken from src/: a second
 * reading of the same interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "error.h"
#include "iommufd.h"

struct vmtool_option {
	uint32_t size;
	uint32_t option_id;
	uint16_t op;
	uint16_t reserved;
	uint32_t object_id;
	uint64_t val64;
};
struct vmtool_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};
#define VMTOOL_IOMMU_OPTION _IO(';', 0x87)
#define VMTOOL_IOAS_ALLOC _IO(';', 0x81)

static int print_mode(int fd)
{
	struct vmtool_option o = { .size = sizeof(o), .option_id = 0, .op = 1 };

	if (ioctl(fd, VMTOOL_IOMMU_OPTION, &o) < 0) {
		printf("error %s\n", strerrorname_np(errno));
		return 1;
	}
	printf("%s\n", o.val64 == 1 ? "per-process" : o.val64 == 0 ? "per-user" : "unknown");
	return 0;
}

/* The contexts @pid holds: each fd that is the misc device sysfs names iommu. */
static int print_held(pid_t pid)
{
	unsigned maj, min;
	char path[64];
	struct dirent *d;
	DIR *dir;
	FILE *f = fopen("/sys/class/misc/iommu/dev", "re");
	int pidfd, n = 0;

	if (!f || fscanf(f, "%u:%u", &maj, &min) != 2) {
		printf("error no /sys/class/misc/iommu/dev\n");
		return 1;
	}
	fclose(f);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (pidfd < 0 || !dir) {
		printf("error pid %d %s\n", (int)pid, strerrorname_np(errno));
		return 1;
	}
	while ((d = readdir(dir))) {
		struct stat st;
		int target = atoi(d->d_name), fd;
		if (d->d_name[0] == '.' || (fd = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0)) < 0)
			continue;
		if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == maj &&
		    minor(st.st_rdev) == min) {
			printf("%d ", target);
			print_mode(fd);
			n++;
		}
		close(fd);
	}
	closedir(dir);
	close(pidfd);
	return n ? 0 : 1;
}

static int ask(const char *path, const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char req[300], buf[8192];
	size_t len = 4 + strlen(name) + 1;
	struct rlimit rl;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path) || len > sizeof(req))
		return 2;
	strcpy(a.sun_path, path);
	memcpy(req, "VJ1", 4);
	memcpy(req + 4, name, strlen(name) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || send(fd, req, len, 0) != (ssize_t)len ||
	    (n = recv(fd, buf, sizeof(buf) - 1, 0)) < 0) {
		printf("error %s\n", strerrorname_np(errno));
		return 1;
	}
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	printf("%s %s\n", n >= 3 && !memcmp(buf, "OK ", 3) ? "OK" : "REFUSED", buf);
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return 1;
	printf("memlock %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "ask"))
		return ask(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "held"))
		return print_held((pid_t)atoi(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "mode"))
		return print_mode(atoi(argv[2]));
	if (argc == 3 && (!strcmp(argv[1], "fresh") || !strcmp(argv[1], "busy"))) {
		int fd = open(argv[2], O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			printf("error open %s\n", strerrorname_np(errno));
			return 1;
		}
		if (!strcmp(argv[1], "fresh"))
			return print_mode(fd);
		struct vmtool_ioas_alloc a = { .size = sizeof(a) };
		if (ioctl(fd, VMTOOL_IOAS_ALLOC, &a) < 0) {
			printf("error IOAS_ALLOC %s\n", strerrorname_np(errno));
			return 1;
		}
		struct vj_error *err = NULL;
		if (vj_iommufd_set_accounting(fd, VJ_ACCOUNTING_PER_PROCESS, &err) == 0) {
			printf("set per-process after IOAS %u: no error\n", a.out_ioas_id);
			return 1;
		}
		printf("errno %s\nmessage %s\nhint %s\nstatus %d\n", strerrorname_np(err->errnum),
		       err->message, err->hint ? err->hint : "", err->status);
		return err->errnum == EBUSY ? 0 : 1;
	}
	fprintf(stderr, "usage: vmtool mode FD | fresh PATH | busy PATH | held PID | ask SOCKET NAME\n");
	return 2;
}
