/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vj_state_read on a state directory whose vm.json is the input: a state, or
 * "damaged" (VJ_STATE_DAMAGED) with an error, never a crash, a leak or a
 * half-filled struct.  The file is always readable, so -1 ("could not be read")
 * would be a wrong answer.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "state.h"

static char dir[PATH_MAX];
static int dirfd_ = -1;

static void remove_dir(void)
{
	unlinkat(dirfd_, "vm.json", 0);
	close(dirfd_);
	rmdir(dir);
}

static int state_dir(void)
{
	if (dirfd_ < 0) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/vj-fuzz-state.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir))
			abort();
		dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd_ < 0)
			abort();
		atexit(remove_dir);
	}
	return dirfd_;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int dfd = state_dir(), fd, r;
	struct vj_state st;
	struct vj_error *err = NULL;

	fd = openat(dfd, "vm.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);

	r = vj_state_read(dfd, "vm", &st, &err);
	FUZZ_ASSERT(r == 0 || r == VJ_STATE_DAMAGED);
	FUZZ_ASSERT((r == 0) == (err == NULL));
	if (r == 0) {
		FUZZ_ASSERT(st.name && !strcmp(st.name, "vm"));
		FUZZ_ASSERT(!st.cgroup || st.cgroup[0] == '/');
		FUZZ_ASSERT(!st.bpf_pin || st.bpf_pin[0] == '/');
		FUZZ_ASSERT(st.supervisor >= 0 && st.vmm >= 0);
		vj_state_clear(&st);
	} else {
		FUZZ_ASSERT(err->status == VJ_EXIT_SETUP);
		FUZZ_ASSERT(!st.name && !st.cgroup && !st.bpf_pin);
	}
	fuzz_consume_error(err);
	unlinkat(dfd, "vm.json", 0);
	return 0;
}
