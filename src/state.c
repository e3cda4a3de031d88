/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "state.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "config.h"
#include "error.h"
#include "util.h"

#define STATE_MAX (64 * 1024)

const char *vj_state_dir(const char *state_dir)
{
	return state_dir && *state_dir ? state_dir : VJ_DEFAULT_STATE_DIR;
}

int vj_state_dir_open(const char *state_dir, struct vj_error **err)
{
	const char *dir = vj_state_dir(state_dir);
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", dir,
			      "create its parent directory, or choose another with --state-dir",
			      "cannot create the state directory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", dir,
			      errno == ELOOP || errno == ENOTDIR ? "the state directory must be a real directory, not a symlink" : NULL,
			      "cannot open the state directory");
	if (fstat(fd, &st) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", dir, NULL, "fstat");
	if (st.st_uid != geteuid() || (st.st_mode & 0022))
		return vj_err(err, VJ_EXIT_SETUP, 0, "state", dir,
			      "chown it to root and chmod 0700",
			      "refusing a state directory owned by uid %u with mode %04o: others could plant entries",
			      (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return TAKE_FD(fd);
}

static char *entry(const char *name, const char *suffix)
{
	return vj_strdupf("%s.%s", name, suffix);
}

int vj_state_lock(int dirfd, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *lock = entry(name, "lock");

	if (!lock)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", name, NULL, "out of memory");
	for (int tries = 0; tries < 100; tries++) {
		_cleanup_close_ int fd = -1;
		struct stat a, b;

		fd = openat(dirfd, lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "state", lock,
				      errno == ELOOP ? "a symlink was planted in the state directory; remove it" : NULL,
				      "cannot open the lock");
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				return vj_err(err, VJ_EXIT_USAGE, 0, "state", name,
					      "wait for the other launch to finish, or pick another name",
					      "another vfiojail holds this VM's lock (launching or supervising it)");
			return vj_err(err, VJ_EXIT_SETUP, errno, "state", lock, NULL, "flock");
		}
		/* The holder before us may have unlinked the file: retry on a fresh one. */
		if (fstat(fd, &a) == 0 && fstatat(dirfd, lock, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return TAKE_FD(fd);
	}
	return vj_err(err, VJ_EXIT_SETUP, EAGAIN, "state", lock, NULL, "the lock keeps changing");
}

void vj_state_unlock(int dirfd, const char *name, int lock_fd)
{
	_cleanup_free_ char *lock = entry(name, "lock");

	if (lock_fd < 0)
		return;
	if (lock)
		unlinkat(dirfd, lock, 0);
	close(lock_fd);
}

int vj_state_write(int dirfd, const struct vj_state *st, struct vj_error **err)
{
	_cleanup_free_ char *file = entry(st->name, "json"), *tmp = entry(st->name, "json.tmp");
	_cleanup_close_ int fd = -1;
	json_object *o = json_object_new_object();
	const char *text;
	size_t len;
	ssize_t w;

	if (!file || !tmp || !o)
		goto oom;
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "name", json_object_new_string(st->name));
	json_object_object_add(o, "cgroup", st->cgroup ? json_object_new_string(st->cgroup) : NULL);
	json_object_object_add(o, "bpf_pin", st->bpf_pin ? json_object_new_string(st->bpf_pin) : NULL);
	json_object_object_add(o, "supervisor", json_object_new_int64(st->supervisor));
	json_object_object_add(o, "vmm", json_object_new_int64(st->vmm));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);

	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		vj_err(err, VJ_EXIT_SETUP, errno, "state", tmp, NULL, "cannot create the state file");
		goto fail;
	}
	w = write(fd, text, len);
	if (w != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		vj_err(err, VJ_EXIT_SETUP, w < 0 ? errno : EIO, "state", tmp, NULL, "cannot write the state file");
		unlinkat(dirfd, tmp, 0);
		goto fail;
	}
	if (renameat(dirfd, tmp, dirfd, file) < 0) {
		vj_err(err, VJ_EXIT_SETUP, errno, "state", file, NULL, "cannot rename the state file into place");
		unlinkat(dirfd, tmp, 0);
		goto fail;
	}
	json_object_put(o);
	return 0;
oom:
	vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", st->name, NULL, "out of memory");
fail:
	json_object_put(o);
	return -1;
}

static int state_damaged(struct vj_error **err, const char *file, const char *what)
{
	return vj_err(err, VJ_EXIT_SETUP, 0, "state", file,
		      "vfiojail teardown NAME removes what can still be found", "damaged state file: %s",
		      what);
}

static int json_str(json_object *o, const char *key, bool absolute, char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	if (absolute && json_object_get_string(v)[0] != '/')
		return -1;
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : -1;
}

static int json_pid(json_object *o, const char *key, pid_t *out)
{
	json_object *v;
	int64_t n;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	if (n < 0 || n > INT32_MAX)
		return -1;
	*out = (pid_t)n;
	return 0;
}

int vj_state_read(int dirfd, const char *name, struct vj_state *st, struct vj_error **err)
{
	_cleanup_free_ char *file = entry(name, "json"), *buf = NULL;
	_cleanup_close_ int fd = -1;
	json_object *o;
	struct stat s;
	ssize_t n;
	int r = 0;

	memset(st, 0, sizeof(*st));
	if (!file)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", name, NULL, "out of memory");
	fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", file,
			      errno == ELOOP ? "a symlink was planted in the state directory; remove it" : NULL,
			      "cannot open the state file");
	if (fstat(fd, &s) < 0 || !S_ISREG(s.st_mode) || s.st_uid != geteuid())
		return state_damaged(err, file, "not a regular file owned by vfiojail's user");
	if (s.st_size > STATE_MAX)
		return state_damaged(err, file, "too large");
	buf = calloc(1, (size_t)s.st_size + 1);
	if (!buf)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", file, NULL, "out of memory");
	n = read(fd, buf, (size_t)s.st_size);
	if (n != s.st_size)
		return state_damaged(err, file, "short read");
	o = json_tokener_parse(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return state_damaged(err, file, "not a JSON object");
	}
	if (json_str(o, "name", false, &st->name) < 0 || !st->name || strcmp(st->name, name) != 0 ||
	    json_str(o, "cgroup", true, &st->cgroup) < 0 ||
	    json_str(o, "bpf_pin", true, &st->bpf_pin) < 0 ||
	    json_pid(o, "supervisor", &st->supervisor) < 0 || json_pid(o, "vmm", &st->vmm) < 0) {
		vj_state_clear(st);
		r = state_damaged(err, file, "a field is missing or has the wrong type");
	}
	json_object_put(o);
	return r;
}

int vj_state_remove(int dirfd, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *file = entry(name, "json"), *tmp = entry(name, "json.tmp");

	if (!file || !tmp)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "state", name, NULL, "out of memory");
	unlinkat(dirfd, tmp, 0);
	if (unlinkat(dirfd, file, 0) < 0 && errno != ENOENT)
		return vj_err(err, VJ_EXIT_SETUP, errno, "state", file, NULL, "cannot remove the state file");
	return 0;
}

void vj_state_clear(struct vj_state *st)
{
	free(st->name);
	free(st->cgroup);
	free(st->bpf_pin);
	memset(st, 0, sizeof(*st));
}
