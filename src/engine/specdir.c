/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Root's spec directories: the walk, loading, and the derived specs' install (specdir.h). */
#include "specdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "error.h"
#include "jbuf.h"
#include "name.h"
#include "spec_internal.h"
#include "util.h"

#define SPEC_MAX (1 << 20)

int vj_root_only(const struct stat *st, const char *what, const char *path, struct vj_error **err)
{
	if (st->st_uid != 0)
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "spec", path,
			      "chown root and chmod go-w it: only root may grant a VM",
			      "%s is owned by uid %u, not root", what, (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "spec", path,
			      "chmod go-w it: only root may grant a VM",
			      "%s is writable by its group or others (mode %04o)", what,
			      (unsigned)(st->st_mode & 07777));
	return 0;
}

/*
 * No symlink anywhere on the configured path (a symlink planted in a directory
 * someone else could write would redirect the service), and every directory on
 * it root's and writable by no one else.  A sticky directory (/tmp) is not
 * accepted either: anyone may create the next component in it before root
 * does.  A component made here is made by root in a directory only root may
 * write, then opened and checked as any other.
 */
int vj_specdir_open(const char *dir, bool create, const char *what, struct vj_error **err)
{
	_cleanup_free_ char *copy = strdup(dir), *walked = NULL;
	_cleanup_close_ int fd = -1;
	char *save = NULL, *comp, *next_comp;
	struct stat st;

	if (!copy)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", dir, NULL, "out of memory");
	if (dir[0] != '/')
		return vj_err(err, VJ_EXIT_SETUP, EINVAL, "spec", dir, "give an absolute path",
			      "%s is not an absolute path", what);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	walked = strdup("/");
	if (fd < 0 || !walked)
		return vj_err(err, VJ_EXIT_SETUP, fd < 0 ? errno : ENOMEM, "spec", "/", NULL, "cannot open /");
	comp = strtok_r(copy, "/", &save);
	for (;; comp = next_comp) {
		bool leaf = !comp;
		char *next;
		int nfd;

		if (fstat(fd, &st) < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "spec", walked, NULL, "fstat");
		if (vj_root_only(&st, leaf ? what : "a directory above it", walked, err) < 0) {
			if (err && *err)
				(*err)->status = VJ_EXIT_SETUP;
			return -1;
		}
		if (leaf)
			break;
		next_comp = strtok_r(NULL, "/", &save);
		if (!strcmp(comp, ".") || !strcmp(comp, ".."))
			return vj_err(err, VJ_EXIT_SETUP, EINVAL, "spec", dir, "give the path without . or ..",
				      "%s's path has a \"%s\" component", what, comp);
		next = vj_path_join(walked, comp);
		if (!next)
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", dir, NULL, "out of memory");
		free(walked);
		walked = next;
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, next_comp ? 0755 : 0700) < 0 && errno != EEXIST)
				return vj_err(err, VJ_EXIT_SETUP, errno, "spec", walked, NULL, "cannot make %s",
					      next_comp ? "a directory above it" : what);
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0 && (errno == ELOOP || errno == ENOTDIR) &&
		    fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return vj_err(err, VJ_EXIT_SETUP, ELOOP, "spec", walked,
				      "configure the real path: no symlink is followed on the way to the specs",
				      "a symlink is on %s's path", what);
		if (nfd < 0)
			return vj_err(err, VJ_EXIT_SETUP, errno, "spec", walked,
				      errno == ENOENT ? "create it, owned by root, mode 0755" : NULL,
				      "%s cannot be opened", what);
		close(fd);
		fd = nfd;
	}
	return TAKE_FD(fd);
}

static char *spec_file(const char *name)
{
	_cleanup_free_ char *esc = vj_name_escape(name);
	return esc ? vj_strdupf("%s.json", esc) : NULL;
}

int vj_specdir_load(int dirfd, const char *dir, const char *name, struct vj_spec **out, char **path,
		    struct vj_error **err)
{
	_cleanup_free_ char *file = spec_file(name), *full = NULL, *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t n;

	*out = NULL;
	if (!file || !(full = vj_path_join(dir, file)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", name, NULL, "out of memory");
	if (fstat(dirfd, &st) < 0 || vj_root_only(&st, "the spec directory", dir, err) < 0)
		return -1;
	fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) /* a symlink planted as the spec: ELOOP */
		return vj_err(err, VJ_EXIT_DENIED, errno, "spec", full, "root grants a VM by installing its spec there",
			      "no spec grants VM %s", name);
	if (fstat(fd, &st) < 0)
		return vj_err(err, VJ_EXIT_SETUP, errno, "spec", full, NULL, "fstat");
	if (!S_ISREG(st.st_mode))
		return vj_err(err, VJ_EXIT_DENIED, EPERM, "spec", full, NULL, "the spec is not a regular file");
	if (vj_root_only(&st, "the spec", full, err) < 0)
		return -1;
	if (st.st_size > SPEC_MAX)
		return vj_err(err, VJ_EXIT_DENIED, EFBIG, "spec", full, NULL, "the spec is over 1 MiB");
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf)
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", full, NULL, "out of memory");
	n = pread(fd, buf, (size_t)st.st_size, 0);
	if (n != st.st_size)
		return vj_err(err, VJ_EXIT_SETUP, n < 0 ? errno : EIO, "spec", full, NULL, "read");
	if (vj_spec_parse_string(buf, out, err) < 0)
		return vj_err_wrap(err, "spec", full, "the spec for %s does not parse", name);
	if (strcmp((*out)->name, name) != 0) {
		char q[VJ_QUOTE_MAX];
		vj_err(err, VJ_EXIT_DENIED, EPERM, "spec", full, "the file's name and the spec's name must agree",
		       "the spec grants VM %s, not the one asked for", vj_quote((*out)->name, q));
		vj_spec_free(*out);
		*out = NULL;
		return -1;
	}
	if (path)
		*path = TAKE_PTR(full);
	return 1;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * @spec as JSON, saying what it said: a group and supplementary groups only when
 * it named them (vj_spec_json writes the resolved group always, and the groups
 * of a plan).  A group written where none was named would hold the VMM to the
 * user's primary group, which a launcher (libvirt: qemu.conf's group) may not use.
 */
static char *spec_text(const struct vj_spec *spec, const struct vj_plan *plan)
{
	_cleanup_free_ char *text = vj_spec_json(spec, spec->groups_set ? plan : NULL);
	json_object *o;
	char *out;

	if (!text || spec->group)
		return TAKE_PTR(text);
	if (!(o = json_tokener_parse(text)))
		return NULL;
	json_object_object_del(o, "group");
	out = vj_json_text(o, 0);
	json_object_put(o);
	return out;
}

int vj_specdir_install(const char *dir, const struct vj_spec *spec, const struct vj_plan *plan,
		       struct vj_error **err)
{
	_cleanup_free_ char *file = spec_file(spec->name), *json = spec_text(spec, plan), *full = NULL;
	_cleanup_close_ int dfd = -1, fd = -1;
	char tmp[32];
	uint64_t rnd = 0;
	int e;

	if (!file || !json || !(full = vj_path_join(dir, file)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "derive", spec->name, NULL, "out of memory");
	dfd = vj_specdir_open(dir, true, "the derived-spec directory", err);
	if (dfd < 0)
		return -1;
	/* A name no one else can have taken: the directory is root's alone.  Not
	 * the spec's own name with a suffix: an escape of 240 bytes and more would
	 * pass NAME_MAX. */
	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			return vj_err(err, VJ_EXIT_SETUP, errno, "derive", full, NULL, "getrandom");
		snprintf(tmp, sizeof(tmp), ".new.%016llx", (unsigned long long)rnd);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return vj_err(err, VJ_EXIT_SETUP, errno, "derive", full, NULL, "cannot create the spec");
	}
	if (fd < 0)
		return vj_err(err, VJ_EXIT_SETUP, EEXIST, "derive", full, NULL, "cannot create the spec");
	if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0600) < 0 || write_all(fd, json, strlen(json)) < 0 ||
	    write_all(fd, "\n", 1) < 0 || fsync(fd) < 0 || renameat(dfd, tmp, dfd, file) < 0) {
		e = errno ? errno : EIO;
		unlinkat(dfd, tmp, 0);
		return vj_err(err, VJ_EXIT_SETUP, e, "derive", full, NULL, "cannot write the spec");
	}
	fsync(dfd);
	return 0;
}

int vj_specdir_remove(const char *dir, const char *name, struct vj_error **err)
{
	_cleanup_free_ char *file = spec_file(name), *full = NULL;
	_cleanup_close_ int dfd = -1;
	struct vj_error *e = NULL;

	if (!file || !(full = vj_path_join(dir, file)))
		return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "derive", name, NULL, "out of memory");
	dfd = vj_specdir_open(dir, false, "the derived-spec directory", &e);
	if (dfd < 0 && e && e->errnum == ENOENT) {
		vj_error_free(e);
		return 0;
	}
	if (dfd < 0) {
		return vj_err_pass(err, e);
	}
	if (unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
		return vj_err(err, VJ_EXIT_SETUP, errno, "derive", full, NULL, "cannot remove the derived spec");
	return 0;
}

int vj_spec_resolve_devices(struct vj_spec *s, const char *dev_root, struct vj_error **err)
{
	_cleanup_free_ char *root = realpath(dev_root ? dev_root : "/dev", NULL);
	size_t rl = root ? strlen(root) : 0;

	for (size_t i = 0; root && i < s->n_devices; i++) {
		const char *p = s->devices[i].path;
		_cleanup_free_ char *host = NULL, *real = NULL;
		char *node;

		if (strncmp(p, "/dev/", 5) != 0)
			continue;
		if (!(host = vj_path_join(root, p + 4)))
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", p, NULL, "out of memory");
		real = realpath(host, NULL);
		if (!real || strncmp(real, root, rl) != 0 || real[rl] != '/' || !strcmp(real, host))
			continue;
		if (!(node = vj_strdupf("/dev%s", real + rl)))
			return vj_err(err, VJ_EXIT_SETUP, ENOMEM, "spec", p, NULL, "out of memory");
		free(s->devices[i].path);
		s->devices[i].path = node;
	}
	return 0;
}
