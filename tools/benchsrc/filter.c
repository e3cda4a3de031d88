/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-filter: the device filter's cost, per open() and in kernel memory.
 *
 *   bench-filter open CGPARENT KIND NRULES ITERS PATH
 *      Makes the cgroup CGPARENT/bench-filter.PID, installs a filter of NRULES
 *      rules of which one allows PATH (in the middle of the list: the average
 *      case for a linear program) and the others stand-in char devices
 *      240..243:N, forks a child into the cgroup that times ITERS open()+close()
 *      of PATH, removes everything and prints
 *      "ns_per_open N prog_memlock B map_memlock B insns N".
 *      KIND: vfiojail  the real filter of src/kernel/devfilter.c (bpf/devfilter.bpf.o,
 *                      its hash map sized as vfiojail sizes it), linked in;
 *            linear    one compare block per rule, as runc and systemd generate;
 *            none      no program on the cgroup.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_bpf.h"
#include "devfilter.h"
#include "error.h"

#define WARMUP_OPENS 2000

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int fail(const char *what)
{
	perror(what);
	return 1;
}

/* Rule i: the allowed node at n/2, stand-ins elsewhere. */
static void make_rules(struct bench_rule *r, size_t n, dev_t allowed)
{
	size_t i, mid = n / 2;

	for (i = 0; i < n; i++) {
		r[i].type = BPF_DEVCG_DEV_CHAR;
		r[i].access = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
		r[i].major = 240 + (uint32_t)(i / 1024);
		r[i].minor = (uint32_t)(i % 1024);
		if (i == mid) {
			r[i].major = major(allowed);
			r[i].minor = minor(allowed);
		}
	}
}

static int install_vfiojail(const struct bench_rule *br, size_t n, int cgfd,
			    struct vj_devfilter **out)
{
	struct vj_rule *rules = calloc(n, sizeof(*rules));
	struct vj_error *e = NULL;
	size_t i;
	int r = 0;

	if (!rules)
		return -1;
	for (i = 0; i < n; i++)
		rules[i] = (struct vj_rule){ .type = 'c', .major = br[i].major, .minor = br[i].minor,
					     .access = VJ_ACC_READ | VJ_ACC_WRITE };
	if (vj_devfilter_load(rules, n, out, &e) < 0 || vj_devfilter_attach(*out, cgfd, NULL, &e) < 0) {
		fprintf(stderr, "bench-filter: %s\n", e && e->message ? e->message : "devfilter failed");
		vj_error_free(e);
		r = -1;
	}
	free(rules);
	return r;
}

static int install_linear(const struct bench_rule *rules, size_t n, int cgfd, int *prog_fd,
			  size_t *insns)
{
	struct insns p = { 0 };

	build_linear_prog(&p, rules, n);
	*insns = p.n;
	*prog_fd = prog_load(&p, "bench_linear");
	free(p.v);
	if (*prog_fd < 0)
		return fail("BPF_PROG_LOAD (linear)");
	if (prog_attach(*prog_fd, cgfd) < 0)
		return fail("BPF_PROG_ATTACH (linear)");
	return 0;
}

/* Sum of the "memlock:" lines of this process's BPF program and map fds. */
static void bpf_memlock(long *prog, long *map)
{
	DIR *d = opendir("/proc/self/fdinfo");
	struct dirent *de;

	*prog = *map = 0;
	while (d && (de = readdir(d))) {
		char path[300], line[256];
		long mem = -1;
		int is_prog = 0, is_map = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", de->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			is_prog |= strncmp(line, "prog_type:", 10) == 0;
			is_map |= strncmp(line, "map_type:", 9) == 0;
			if (strncmp(line, "memlock:", 8) == 0)
				mem = strtol(line + 8, NULL, 10);
		}
		fclose(f);
		if (mem > 0 && is_prog)
			*prog += mem;
		else if (mem > 0 && is_map)
			*map += mem;
	}
	if (d)
		closedir(d);
}

/* In the child: join the cgroup, then time the loop; the result goes up @out. */
static void child_loop(const char *cg, const char *path, long iters, int out)
{
	char procs[4200];
	double t0 = 0, ns;
	long i;
	int fd = -1;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	fd = open(procs, O_WRONLY);
	if (fd < 0 || write(fd, "0", 1) != 1)
		_exit(fail(procs));
	close(fd);
	for (i = 0; i < WARMUP_OPENS + iters; i++) {
		if (i == WARMUP_OPENS)
			t0 = now_ns();
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			_exit(fail(path));
		close(fd);
	}
	ns = (now_ns() - t0) / (double)iters;
	if (write(out, &ns, sizeof(ns)) != sizeof(ns))
		_exit(1);
	_exit(0);
}

static int time_opens(const char *cg, const char *path, long iters, double *ns)
{
	int pipefd[2], st;
	pid_t pid;

	if (pipe(pipefd) < 0)
		return fail("pipe");
	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		close(pipefd[0]);
		child_loop(cg, path, iters, pipefd[1]);
	}
	close(pipefd[1]);
	if (read(pipefd[0], ns, sizeof(*ns)) != sizeof(*ns))
		*ns = -1;
	close(pipefd[0]);
	waitpid(pid, &st, 0);
	return *ns < 0 || !WIFEXITED(st) || WEXITSTATUS(st) ? 1 : 0;
}

static void remove_cgroup(const char *cg)
{
	struct timespec ts = { 0, 200 * 1000 };
	int i;

	for (i = 0; i < 10000 && rmdir(cg) < 0 && errno == EBUSY; i++)
		nanosleep(&ts, NULL);
}

static int cmd_open(const char *parent, const char *kind, size_t n, long iters, const char *path)
{
	struct bench_rule *rules = calloc(n ? n : 1, sizeof(*rules));
	struct vj_devfilter *vf = NULL;
	char cg[4096];
	struct stat st;
	int cgfd, prog_fd = -1, r = 1;
	size_t insns = 0;
	long prog_mem = 0, map_mem = 0;
	double ns = -1;

	if (!rules || stat(path, &st) < 0)
		return fail(path);
	make_rules(rules, n, st.st_rdev);
	snprintf(cg, sizeof(cg), "%s/bench-filter.%d", parent, (int)getpid());
	if (mkdir(cg, 0755) < 0 || (cgfd = open(cg, O_DIRECTORY | O_RDONLY | O_CLOEXEC)) < 0)
		return fail(cg);
	if (strcmp(kind, "vfiojail") == 0)
		r = install_vfiojail(rules, n, cgfd, &vf) < 0;
	else if (strcmp(kind, "linear") == 0)
		r = install_linear(rules, n, cgfd, &prog_fd, &insns) < 0;
	else
		r = strcmp(kind, "none") != 0;
	if (r == 0) {
		bpf_memlock(&prog_mem, &map_mem);
		r = time_opens(cg, path, iters, &ns);
	}
	vj_devfilter_free(vf);
	if (prog_fd >= 0)
		close(prog_fd);
	close(cgfd);
	remove_cgroup(cg);
	free(rules);
	if (r == 0)
		printf("ns_per_open %.1f prog_memlock %ld map_memlock %ld insns %zu\n", ns, prog_mem,
		       map_mem, insns);
	return r;
}

int main(int argc, char **argv)
{
	if (argc == 7 && strcmp(argv[1], "open") == 0)
		return cmd_open(argv[2], argv[3], strtoul(argv[4], NULL, 10), atol(argv[5]), argv[6]);
	fprintf(stderr, "usage: bench-filter open CGPARENT vfiojail|linear|none NRULES ITERS PATH\n");
	return 2;
}
