/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cgroup v2 through cgroupfs: find the hierarchy, create, enter, kill, remove. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

#define STEP "cgroup"

#define REMOVE_TIMEOUT_NS (1000LL * 1000 * 1000)
#define KILL_EACH_TIMEOUT_NS (5000LL * 1000 * 1000)
#define POLL_INTERVAL_NS (10L * 1000 * 1000)

static int err_oom(struct vj_error **err, const char *object)
{
	return vj_err_sys(err, STEP, object, ENOMEM, NULL, "out of memory");
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void short_sleep(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = POLL_INTERVAL_NS };

	nanosleep(&ts, NULL);
}

/* Sleep *step ns, then double it up to POLL_INTERVAL_NS: a cgroup is usually free a
 * few microseconds after its last process is reaped, so the first waits are short. */
static void backoff_sleep(long *step)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = *step };

	nanosleep(&ts, NULL);
	if (*step < POLL_INTERVAL_NS)
		*step = *step * 2 < POLL_INTERVAL_NS ? *step * 2 : POLL_INTERVAL_NS;
}

/* ---------------------------------------------------------------------- */
/* mountinfo                                                                */

static int octal_digit(char c)
{
	return c >= '0' && c <= '7' ? c - '0' : -1;
}

/* Undo the kernel's \ooo escapes (space, tab, newline, backslash) in place. */
static void unescape_octal(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && octal_digit(s[1]) >= 0 && octal_digit(s[2]) >= 0 &&
		    octal_digit(s[3]) >= 0) {
			int v = octal_digit(s[1]) * 64 + octal_digit(s[2]) * 8 + octal_digit(s[3]);
			if (v > 0 && v < 256) {
				*out++ = (char)v;
				s += 4;
				continue;
			}
		}
		*out++ = *s++;
	}
	*out = '\0';
}

/*
 * One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SRC SUPER".
 * On a cgroup2 line, returns 1 and points *mountpoint into @line (still escaped).
 */
static int mountinfo_cgroup2(char *line, char **mountpoint)
{
	char *save = NULL, *tok, *mp = NULL;
	int field = 0;
	bool after_sep = false;

	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		field++;
		if (field == 5)
			mp = tok;
		if (field <= 6)
			continue;
		if (!after_sep) {
			after_sep = strcmp(tok, "-") == 0;
			continue;
		}
		/* First field after the separator: the filesystem type. */
		if (strcmp(tok, "cgroup2") != 0 || !mp)
			return 0;
		*mountpoint = mp;
		return 1;
	}
	return 0;
}

/*
 * The last answer, per thread: a launch asks twice (plan, then --exec's way
 * back), and reading mountinfo costs tens of microseconds where a statfs of the
 * remembered mount point, which must still be a cgroup2, costs one syscall.
 */
static _Thread_local struct {
	char *proc_root;
	char *mount;
} cg2_cache;

static int cg2_cache_get(const char *proc_root, char **mount_out)
{
	struct statfs st;

	if (!cg2_cache.mount || strcmp(cg2_cache.proc_root, proc_root) != 0 ||
	    statfs(cg2_cache.mount, &st) < 0 || st.f_type != CGROUP2_SUPER_MAGIC)
		return 0;
	*mount_out = strdup(cg2_cache.mount);
	return *mount_out ? 1 : 0;
}

static void cg2_cache_put(const char *proc_root, const char *mount)
{
	free(cg2_cache.proc_root);
	free(cg2_cache.mount);
	cg2_cache.proc_root = strdup(proc_root);
	cg2_cache.mount = strdup(mount);
	if (!cg2_cache.proc_root || !cg2_cache.mount) {
		free(cg2_cache.proc_root);
		free(cg2_cache.mount);
		cg2_cache.proc_root = cg2_cache.mount = NULL;
	}
}

int vj_cgroup2_root(const char *proc_root, char **mount_out, struct vj_error **err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	proc_root = proc_root ? proc_root : "/proc";
	if (cg2_cache_get(proc_root, mount_out))
		return 0;
	path = vj_path_join(proc_root, "self/mountinfo");
	if (!path)
		return err_oom(err, "mountinfo");
	f = fopen(path, "re");
	if (!f)
		return vj_err_sys(err, STEP, path, errno, "is procfs mounted?",
				  "cannot open %s to find the cgroup2 mount", path);
	while (getline(&line, &cap, f) > 0) {
		char *mp;
		if (mountinfo_cgroup2(line, &mp) != 1)
			continue;
		unescape_octal(mp);
		*mount_out = strdup(mp);
		if (!*mount_out)
			return err_oom(err, path);
		cg2_cache_put(proc_root, mp);
		return 0;
	}
	return vj_err_sys(err, STEP, path, 0,
			  "mount it: mount -t cgroup2 none /sys/fs/cgroup (unified) or "
			  "/sys/fs/cgroup/unified (hybrid)",
			  "no cgroup2 filesystem is mounted (no line of type cgroup2 in %s)", path);
}

int vj_cgroup_self(const char *proc_root, char **path_out, struct vj_error **err)
{
	_cleanup_free_ char *path = vj_path_join(proc_root ? proc_root : "/proc", "self/cgroup");
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!path)
		return err_oom(err, "cgroup");
	f = fopen(path, "re");
	if (!f)
		return vj_err_sys(err, STEP, path, errno, "is procfs mounted?",
				  "cannot open %s", path);
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (strncmp(line, "0::", 3) != 0)
			continue;
		if (line[3] != '/')
			return vj_err_sys(err, STEP, path, 0, NULL,
					  "the cgroup2 line \"%s\" does not hold an absolute path",
					  line);
		*path_out = strdup(line + 3);
		return *path_out ? 0 : err_oom(err, path);
	}
	return vj_err_sys(err, STEP, path, 0,
			  "the host must mount cgroup2 (unified or hybrid hierarchy)",
			  "no cgroup2 line (\"0::/...\") in %s", path);
}

/* ---------------------------------------------------------------------- */
/* Files of one cgroup                                                      */

static int write_cgroup_file(const char *abs_path, const char *name, const char *value,
			     int *errnum)
{
	_cleanup_free_ char *p = vj_path_join(abs_path, name);
	_cleanup_close_ int fd = -1;
	size_t len = strlen(value);
	ssize_t w;

	if (!p) {
		*errnum = ENOMEM;
		return -1;
	}
	fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*errnum = errno;
		return -1;
	}
	w = write(fd, value, len);
	if (w < 0 || (size_t)w != len) {
		*errnum = w < 0 ? errno : EIO;
		return -1;
	}
	return 0;
}

int vj_cgroup_create(const char *abs_path, struct vj_error **err)
{
	if (mkdir(abs_path, 0755) == 0)
		return 0;
	if (errno == EEXIST)
		return vj_err_sys(err, STEP, abs_path, EEXIST,
				  "a cgroup of this name is left from an earlier run: stop what "
				  "runs in it, then rmdir it",
				  "the cgroup %s exists already", abs_path);
	return vj_err_sys(err, STEP, abs_path, errno,
			  errno == ENOENT ? "the parent cgroup does not exist" : NULL,
			  "cannot create the cgroup %s", abs_path);
}

int vj_cgroup_open(const char *abs_path, struct vj_error **err)
{
	int fd = open(abs_path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return vj_err_sys(err, STEP, abs_path, errno, NULL, "cannot open the cgroup %s",
				  abs_path);
	return fd;
}

int vj_cgroup_enter(const char *abs_path, pid_t pid, struct vj_error **err)
{
	char buf[32];
	int errnum = 0;

	snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	if (write_cgroup_file(abs_path, "cgroup.procs", buf, &errnum) == 0)
		return 0;
	return vj_err_sys(err, STEP, abs_path, errnum,
			  errnum == EBUSY ? "the cgroup has controllers enabled for its "
					    "children and cannot hold processes itself"
					  : NULL,
			  "cannot move process %ld into the cgroup %s", (long)pid, abs_path);
}

int vj_cgroup_populated(const char *abs_path, bool *populated, struct vj_error **err)
{
	_cleanup_free_ char *p = vj_path_join(abs_path, "cgroup.events");
	_cleanup_free_ char *text = NULL;
	const char *line, *nl;
	int r;

	if (!p)
		return err_oom(err, abs_path);
	r = vj_read_file(p, 0, &text);
	if (r < 0)
		return vj_err_sys(err, STEP, p, -r, NULL, "cannot read %s", p);
	for (line = text; line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (strncmp(line, "populated ", 10) != 0)
			continue;
		if ((line[10] != '0' && line[10] != '1') || (line[11] != '\n' && line[11] != '\0'))
			break;
		*populated = line[10] == '1';
		return 0;
	}
	return vj_err_sys(err, STEP, p, 0, NULL, "no \"populated 0|1\" line in %s", p);
}

static int parse_pid(const char *s, pid_t *out)
{
	uint64_t v;

	if (vj_parse_u64(s, &v) < 0 || v == 0 || v > INT_MAX)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

int vj_cgroup_pids(const char *abs_path, pid_t **pids, size_t *n, struct vj_error **err)
{
	_cleanup_free_ char *p = vj_path_join(abs_path, "cgroup.procs");
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	_cleanup_free_ pid_t *out = NULL;
	size_t cap = 0, count = 0;
	ssize_t len;

	if (!p)
		return err_oom(err, abs_path);
	f = fopen(p, "re");
	if (!f)
		return vj_err_sys(err, STEP, p, errno, NULL, "cannot open %s", p);
	while ((len = getline(&line, &cap, f)) > 0) {
		pid_t *slot;
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		slot = vj_array_push(&out, &count, sizeof(*out));
		if (!slot)
			return err_oom(err, p);
		if (parse_pid(line, slot) < 0)
			return vj_err_sys(err, STEP, p, EINVAL, NULL, "bad pid \"%s\" in %s", line, p);
	}
	if (ferror(f))
		return vj_err_sys(err, STEP, p, errno, NULL, "cannot read %s", p);
	*pids = TAKE_PTR(out);
	*n = count;
	return 0;
}

int vj_cgroup_kill_each(const char *abs_path, struct vj_error **err)
{
	int64_t deadline = now_ns() + KILL_EACH_TIMEOUT_NS;

	for (;;) {
		_cleanup_free_ pid_t *pids = NULL;
		size_t n = 0, i;

		if (vj_cgroup_pids(abs_path, &pids, &n, err) < 0)
			return -1;
		if (n == 0)
			return 0;
		for (i = 0; i < n; i++)
			if (kill(pids[i], SIGKILL) < 0 && errno != ESRCH)
				return vj_err_sys(err, STEP, abs_path, errno, NULL,
						  "cannot kill process %ld of the cgroup %s",
						  (long)pids[i], abs_path);
		if (now_ns() > deadline)
			return vj_err_sys(err, STEP, abs_path, EBUSY,
					  "a process may be stuck in the kernel (state D)",
					  "%zu processes of the cgroup %s survived SIGKILL", n,
					  abs_path);
		short_sleep();
	}
}

int vj_cgroup_kill(const char *abs_path, struct vj_error **err)
{
	int errnum = 0;

	if (write_cgroup_file(abs_path, "cgroup.kill", "1", &errnum) == 0)
		return 0;
	if (errnum == ENOENT && access(abs_path, F_OK) == 0)
		return vj_cgroup_kill_each(abs_path, err); /* kernel < 5.14 */
	return vj_err_sys(err, STEP, abs_path, errnum, NULL,
			  "cannot kill the processes of the cgroup %s", abs_path);
}

/* Wait (at most until @deadline) for cgroup.events to say "populated 0". */
static void wait_unpopulated(const char *abs_path, int64_t deadline)
{
	long step = 20 * 1000;

	while (now_ns() < deadline) {
		bool populated = true;
		struct vj_error *e = NULL;

		if (vj_cgroup_populated(abs_path, &populated, &e) < 0) {
			vj_error_free(e);
			return;
		}
		if (!populated)
			return;
		backoff_sleep(&step);
	}
}

int vj_cgroup_remove(const char *abs_path, struct vj_error **err)
{
	int64_t deadline = now_ns() + REMOVE_TIMEOUT_NS;
	bool populated = false;
	struct vj_error *e = NULL;
	long step = 20 * 1000;

	for (;;) {
		if (rmdir(abs_path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return vj_err_sys(err, STEP, abs_path, errno, NULL,
					  "cannot remove the cgroup %s", abs_path);
		if (now_ns() >= deadline)
			break;
		wait_unpopulated(abs_path, deadline);
		backoff_sleep(&step);
	}
	if (vj_cgroup_populated(abs_path, &populated, &e) < 0)
		vj_error_free(e);
	return vj_err_sys(err, STEP, abs_path, EBUSY,
			  populated ? "processes still run in it: kill them first"
				    : "it still has child cgroups: remove them first",
			  "cannot remove the cgroup %s: it is busy", abs_path);
}
