/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-floor: the least work that jails a VMM, with raw syscalls and nothing else.
 * The floor that tools/bench measures vfiojail against.
 *
 *   bench-floor [--exec] CGROUP JOB -- CMD [ARG...]
 *   bench-floor --cleanup CGROUP
 *   bench-floor --map-put|--map-del MAP_PIN MAJOR MINOR
 *   bench-floor --map-fill MAP_PIN COUNT
 *
 * JOB is a text file the bench derives from `vfiojail plan --json`, so the floor
 * makes exactly the nodes and rules vfiojail would:
 *   ids UID GID [GROUP...]
 *   memlock BYTES
 *   bind SRC DST                 (bind mount into the new /dev)
 *   link TARGET PATH             (symlink)
 *   node PATH c|b MAJOR MINOR MODE(octal)
 *   rule c|b MAJOR|* MINOR|* ACCESS(bits: 1 mknod, 2 read, 4 write)
 *
 * Steps: mkdir the cgroup; create the hash map (the layout of bpf/devfilter_key.h),
 * fill it, load the map program, attach it (multi); fork (not with --exec); in the
 * child: unshare the mount namespace, tmpfs on /dev, binds, mknod + chown of
 * every node, links, join the cgroup, setrlimit(RLIMIT_MEMLOCK), drop ids, exec
 * CMD; the parent waits and removes the cgroup.  With --exec the process becomes
 * CMD and the cgroup stays for `bench-floor --cleanup`.
 *
 * --map-put and --map-del: one entry (c MAJOR:MINOR rw) added to or removed from a
 * pinned rule map, the kernel's part of hotplug.  --map-fill: add COUNT new rules
 * (c 244:N) as hotplug would, print "added N of COUNT errno E (...)", then remove them.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_bpf.h"

#define MAX_GROUPS 64

struct node {
	char *path;
	char type;
	unsigned major, minor, mode;
};

struct pair {
	char *a, *b;
};

struct job {
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	size_t n_groups;
	unsigned long long memlock;
	int has_memlock;
	struct node *nodes;
	size_t n_nodes;
	struct bench_rule *rules;
	size_t n_rules;
	struct pair *binds, *links;
	size_t n_binds, n_links;
};

static void die(const char *what)
{
	perror(what);
	_exit(125);
}

static void *grow(void *v, size_t n, size_t size)
{
	void *r = realloc(v, (n + 1) * size);

	if (!r)
		die("realloc");
	return r;
}

static uint32_t parse_num_or_any(const char *s)
{
	return strcmp(s, "*") == 0 ? VJ_DEVFILTER_ANY : (uint32_t)strtoul(s, NULL, 10);
}

static uint32_t dev_type(char c)
{
	return c == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
}

static void parse_ids(struct job *j, char *rest)
{
	char *save = NULL, *tok = strtok_r(rest, " \n", &save);

	j->uid = (uid_t)strtoul(tok ? tok : "0", NULL, 10);
	tok = strtok_r(NULL, " \n", &save);
	j->gid = (gid_t)strtoul(tok ? tok : "0", NULL, 10);
	while ((tok = strtok_r(NULL, " \n", &save)) && j->n_groups < MAX_GROUPS)
		j->groups[j->n_groups++] = (gid_t)strtoul(tok, NULL, 10);
}

static void parse_line(struct job *j, char *line)
{
	char a[4096], b[4096], t[8], c[16], d[16];
	unsigned maj, min, mode;
	unsigned long long v;

	if (strncmp(line, "ids ", 4) == 0) {
		parse_ids(j, line + 4);
	} else if (sscanf(line, "memlock %llu", &v) == 1) {
		j->memlock = v;
		j->has_memlock = 1;
	} else if (sscanf(line, "node %4095s %7s %u %u %o", a, t, &maj, &min, &mode) == 5) {
		j->nodes = grow(j->nodes, j->n_nodes, sizeof(*j->nodes));
		j->nodes[j->n_nodes++] = (struct node){ strdup(a), t[0], maj, min, mode };
	} else if (sscanf(line, "rule %7s %15s %15s %u", t, c, d, &mode) == 4) {
		j->rules = grow(j->rules, j->n_rules, sizeof(*j->rules));
		j->rules[j->n_rules++] = (struct bench_rule){ dev_type(t[0]), parse_num_or_any(c),
							      parse_num_or_any(d), mode };
	} else if (sscanf(line, "bind %4095s %4095s", a, b) == 2) {
		j->binds = grow(j->binds, j->n_binds, sizeof(*j->binds));
		j->binds[j->n_binds++] = (struct pair){ strdup(a), strdup(b) };
	} else if (sscanf(line, "link %4095s %4095s", a, b) == 2) {
		j->links = grow(j->links, j->n_links, sizeof(*j->links));
		j->links[j->n_links++] = (struct pair){ strdup(a), strdup(b) };
	}
}

static void read_job(const char *path, struct job *j)
{
	FILE *f = fopen(path, "re");
	char line[8192];

	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f))
		parse_line(j, line);
	fclose(f);
}

/* The filter: map, rules, program, attached to the cgroup. */
static void install_filter(const struct job *j, int cgroup_fd)
{
	struct insns p = { 0 };
	int map_fd = map_create(map_entries_for(j->n_rules)), prog_fd;
	size_t i;

	if (map_fd < 0)
		die("BPF_MAP_CREATE");
	for (i = 0; i < j->n_rules; i++)
		if (map_put(map_fd, &j->rules[i]) < 0)
			die("BPF_MAP_UPDATE_ELEM");
	build_map_prog(&p, map_fd);
	prog_fd = prog_load(&p, "bench_floor");
	if (prog_fd < 0)
		die("BPF_PROG_LOAD");
	if (prog_attach(prog_fd, cgroup_fd) < 0)
		die("BPF_PROG_ATTACH");
	free(p.v);
	close(prog_fd);
	close(map_fd);
}

/* mkdir -p of the parent directories of @path (below /dev, which exists). */
static void make_parents(const char *path)
{
	char buf[4096];
	char *s;

	snprintf(buf, sizeof(buf), "%s", path);
	for (s = strchr(buf + 5, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			die(buf);
		*s = '/';
	}
}

static void populate_dev(const struct job *j)
{
	size_t i;

	if (unshare(CLONE_NEWNS) < 0)
		die("unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		die("mount --make-rslave /");
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=512k") < 0)
		die("mount tmpfs /dev");
	for (i = 0; i < j->n_binds; i++) {
		if (mkdir(j->binds[i].b, 0755) < 0 && errno != EEXIST)
			die(j->binds[i].b);
		if (mount(j->binds[i].a, j->binds[i].b, NULL, MS_BIND | MS_REC, NULL) < 0)
			die(j->binds[i].a);
	}
	for (i = 0; i < j->n_nodes; i++) {
		const struct node *n = &j->nodes[i];
		mode_t kind = n->type == 'b' ? S_IFBLK : S_IFCHR;

		if (mknod(n->path, kind | n->mode, makedev(n->major, n->minor)) < 0) {
			if (errno != ENOENT)
				die(n->path);
			make_parents(n->path);
			if (mknod(n->path, kind | n->mode, makedev(n->major, n->minor)) < 0)
				die(n->path);
		}
		if (chown(n->path, j->uid, j->gid) < 0)
			die(n->path);
	}
	for (i = 0; i < j->n_links; i++)
		if (symlink(j->links[i].a, j->links[i].b) < 0)
			die(j->links[i].b);
}

static void join_cgroup(const char *cgroup)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		die(path);
	close(fd);
}

static void child(const struct job *j, const char *cgroup, char **argv)
{
	populate_dev(j);
	join_cgroup(cgroup);
	if (j->has_memlock) {
		struct rlimit rl = { j->memlock, j->memlock };
		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			die("setrlimit");
	}
	if (setgroups(j->n_groups, j->groups) < 0 || setresgid(j->gid, j->gid, j->gid) < 0 ||
	    setresuid(j->uid, j->uid, j->uid) < 0)
		die("drop ids");
	execv(argv[0], argv);
	die(argv[0]);
}

/* rmdir, retrying while the kernel still counts the reaped child (EBUSY). */
static int remove_cgroup(const char *cgroup)
{
	struct timespec ts = { 0, 100 * 1000 };
	int i;

	for (i = 0; i < 20000; i++) {
		if (rmdir(cgroup) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		nanosleep(&ts, NULL);
	}
	perror(cgroup);
	return 1;
}

static int map_put_del(const char *pin, int put, uint32_t maj, uint32_t min)
{
	struct bench_rule r = { BPF_DEVCG_DEV_CHAR, maj, min,
				BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE };
	int fd = obj_get(pin), rc;

	if (fd < 0)
		die(pin);
	rc = put ? map_put(fd, &r) : map_del(fd, &r);
	if (rc < 0)
		die(put ? "BPF_MAP_UPDATE_ELEM" : "BPF_MAP_DELETE_ELEM");
	close(fd);
	return 0;
}

static int map_fill(const char *pin, long count)
{
	int fd = obj_get(pin), first_err = 0;
	long added = 0, i;

	if (fd < 0)
		die(pin);
	for (i = 0; i < count; i++) {
		struct bench_rule r = { BPF_DEVCG_DEV_CHAR, 244, (uint32_t)i, BPF_DEVCG_ACC_READ };
		if (map_put(fd, &r) < 0) {
			first_err = errno;
			break;
		}
		added++;
	}
	for (i = 0; i < added; i++) {
		struct bench_rule r = { BPF_DEVCG_DEV_CHAR, 244, (uint32_t)i, BPF_DEVCG_ACC_READ };
		map_del(fd, &r);
	}
	close(fd);
	printf("added %ld of %ld errno %d (%s)\n", added, count, first_err,
	       first_err ? strerror(first_err) : "none");
	return 0;
}

/* Static: reachable until exit, so a leak checker has nothing to report. */
static struct job the_job;

int main(int argc, char **argv)
{
	int exec_mode = 0, cgroup_fd, status;
	const char *cgroup, *jobfile;
	pid_t pid;

	if (argc == 3 && strcmp(argv[1], "--cleanup") == 0)
		return remove_cgroup(argv[2]);
	if (argc == 5 && (strcmp(argv[1], "--map-put") == 0 || strcmp(argv[1], "--map-del") == 0))
		return map_put_del(argv[2], argv[1][6] == 'p', (uint32_t)strtoul(argv[3], NULL, 10),
				   (uint32_t)strtoul(argv[4], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "--map-fill") == 0)
		return map_fill(argv[2], atol(argv[3]));
	if (argc > 1 && strcmp(argv[1], "--exec") == 0) {
		exec_mode = 1;
		argv++;
		argc--;
	}
	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: bench-floor [--exec] CGROUP JOB -- CMD [ARG...]\n"
				"       bench-floor --cleanup CGROUP\n"
				"       bench-floor --map-put|--map-del MAP_PIN MAJOR MINOR\n"
				"       bench-floor --map-fill MAP_PIN COUNT\n");
		return 2;
	}
	cgroup = argv[1];
	jobfile = argv[2];
	umask(0);
	read_job(jobfile, &the_job);
	if (mkdir(cgroup, 0755) < 0)
		die(cgroup);
	cgroup_fd = open(cgroup, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (cgroup_fd < 0)
		die(cgroup);
	install_filter(&the_job, cgroup_fd);
	close(cgroup_fd);
	if (exec_mode)
		child(&the_job, cgroup, argv + 4);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		child(&the_job, cgroup, argv + 4);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (remove_cgroup(cgroup) != 0)
		return 125;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
