/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iommufd accounting: the ABI we send, each errno the kernel can answer
 * (through the ioctl seam), and a real ENOTTY from a real driver (/dev/null
 * stands in for /dev/iommu on a machine without iommufd).
 */
#include <dirent.h>
#include <fcntl.h>

#include "error.h"
#include "iommufd.h"
#include "testlib.h"

/* The uapi layout, field by field (include/uapi/linux/iommufd.h). */
_Static_assert(offsetof(struct iommu_option, size) == 0, "size at 0");
_Static_assert(offsetof(struct iommu_option, option_id) == 4, "option_id at 4");
_Static_assert(offsetof(struct iommu_option, __reserved) == 10, "__reserved at 10");
_Static_assert(_IOC_TYPE(IOMMU_OPTION) == ';' && _IOC_NR(IOMMU_OPTION) == 0x87 &&
		       _IOC_DIR(IOMMU_OPTION) == _IOC_NONE && _IOC_SIZE(IOMMU_OPTION) == 0,
	       "IOMMU_OPTION is _IO(';', 0x87)");

#define STAND_IN "/dev/null"
#define CTX_ID "iommufd0"
#define CTX_OBJECT CTX_ID " (" STAND_IN ")"

/* A fake kernel: remembers the mode, fails as told, records what it got. */
static struct fake {
	int set_errno;
	int get_errno;
	int get_override; /* -1: answer the mode that was set */
	uint64_t mode;
	unsigned calls;
	unsigned long req[4];
	struct iommu_option seen[4];
} fake;

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	struct iommu_option *o = arg;

	if (fake.calls < 4) {
		fake.req[fake.calls] = req;
		fake.seen[fake.calls] = *o;
	}
	fake.calls++;
	if (o->op == IOMMU_OPTION_OP_SET) {
		if (fake.set_errno) {
			errno = fake.set_errno;
			return -1;
		}
		fake.mode = o->val64;
		return 0;
	}
	if (fake.get_errno) {
		errno = fake.get_errno;
		return -1;
	}
	o->val64 = fake.get_override >= 0 ? (uint64_t)fake.get_override : fake.mode;
	return 0;
}

static int setup_fake(void **state)
{
	memset(&fake, 0, sizeof(fake));
	fake.get_override = -1;
	vj_iommufd_ioctl_hook = fake_ioctl;
	return 0;
}

static int teardown_fake(void **state)
{
	vj_iommufd_ioctl_hook = NULL;
	return 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void assert_fd_open_rdwr_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	int fdfl = fcntl(fd, F_GETFD);

	assert_true(fl >= 0 && fdfl >= 0);
	assert_int_equal(fl & O_ACCMODE, O_RDWR);
	assert_true(fdfl & FD_CLOEXEC);
}

static void test_success_sends_set_then_get(void **state)
{
	struct vj_error *err = NULL;
	char *warning = NULL;
	int fd = -1;

	assert_int_equal(vj_iommufd_open_context(STAND_IN, CTX_ID, false, &fd, &warning, &err), 0);
	assert_null(err);
	assert_null(warning);
	assert_true(fd >= 0);
	assert_fd_open_rdwr_cloexec(fd);

	assert_int_equal(fake.calls, 2);
	assert_int_equal(fake.req[0], IOMMU_OPTION);
	assert_int_equal(fake.seen[0].size, 24);
	assert_int_equal(fake.seen[0].option_id, IOMMU_OPTION_RLIMIT_MODE);
	assert_int_equal(fake.seen[0].op, IOMMU_OPTION_OP_SET);
	assert_int_equal(fake.seen[0].__reserved, 0);
	assert_int_equal(fake.seen[0].object_id, 0);
	assert_int_equal(fake.seen[0].val64, VJ_ACCOUNTING_PER_PROCESS);
	assert_int_equal(fake.req[1], IOMMU_OPTION);
	assert_int_equal(fake.seen[1].op, IOMMU_OPTION_OP_GET);
	assert_int_equal(fake.seen[1].object_id, 0);
	close(fd);
}

struct errno_case {
	int errnum;
	const char *phrase;
	bool downgradable;
};

static const struct errno_case errno_cases[] = {
	{ ENOTTY, "has no IOMMU_OPTION (it came with iommufd itself in Linux 6.2)", true },
	{ EOPNOTSUPP, "does not support option RLIMIT_MODE (0) with object_id 0", true },
	{ EPERM, "setting per-process accounting needs CAP_SYS_RESOURCE", true },
	{ EBUSY, "already holds objects; the mode must be set right after open", false },
	{ EINVAL, "rejected mode value 1", false },
};

static void assert_accounting_error(const struct vj_error *err, int errnum, const char *object,
				    const char *phrase)
{
	assert_non_null(err);
	assert_int_equal(err->status, VJ_EXIT_SETUP);
	assert_int_equal(err->errnum, errnum);
	assert_string_equal(err->step, "iommufd");
	assert_string_equal(err->object, object);
	assert_contains(err->message, phrase);
	assert_non_null(err->hint);
	assert_contains(err->hint, "every VM of the same uid");
	assert_contains(err->hint, "ENOMEM");
	assert_contains(err->hint, "--iommufd-accounting=best-effort");
}

static void test_strict_errors(void **state)
{
	for (size_t i = 0; i < sizeof(errno_cases) / sizeof(errno_cases[0]); i++) {
		const struct errno_case *c = &errno_cases[i];
		struct vj_error *err = NULL;
		char *warning = NULL;
		int fd = 42, before = count_fds();

		print_message("errno %d\n", c->errnum);
		setup_fake(state);
		fake.set_errno = c->errnum;
		assert_int_equal(vj_iommufd_open_context(STAND_IN, CTX_ID, false, &fd, &warning,
							 &err), -1);
		assert_int_equal(fd, -1);
		assert_null(warning);
		assert_int_equal(count_fds(), before); /* the context fd was closed */
		assert_accounting_error(err, c->errnum, CTX_OBJECT, c->phrase);
		vj_error_free(err);
	}
}

static void test_best_effort(void **state)
{
	for (size_t i = 0; i < sizeof(errno_cases) / sizeof(errno_cases[0]); i++) {
		const struct errno_case *c = &errno_cases[i];
		struct vj_error *err = NULL;
		char *warning = NULL;
		int fd = -1, before = count_fds();
		int r;

		print_message("errno %d\n", c->errnum);
		setup_fake(state);
		fake.set_errno = c->errnum;
		r = vj_iommufd_open_context(STAND_IN, CTX_ID, true, &fd, &warning, &err);
		if (!c->downgradable) {
			/* a misuse, not a missing feature: an error even in best-effort */
			assert_int_equal(r, -1);
			assert_int_equal(fd, -1);
			assert_int_equal(count_fds(), before);
			assert_accounting_error(err, c->errnum, CTX_OBJECT, c->phrase);
			vj_error_free(err);
			continue;
		}
		assert_int_equal(r, 0);
		assert_null(err);
		assert_true(fd >= 0);
		assert_fd_open_rdwr_cloexec(fd);
		assert_int_equal(count_fds(), before + 1);
		assert_non_null(warning);
		assert_contains(warning, CTX_OBJECT);
		assert_contains(warning, c->phrase);
		assert_contains(warning, "stays in per-user accounting");
		assert_contains(warning, "same uid");
		free(warning);
		close(fd);
	}
}

static void test_readback_mismatch(void **state)
{
	struct vj_error *err = NULL;
	char *warning = NULL;
	int fd = 42, before = count_fds();

	fake.get_override = VJ_ACCOUNTING_PER_USER;
	/* a kernel that says "per-user" after accepting per-process is not trusted,
	 * in either mode */
	assert_int_equal(vj_iommufd_open_context(STAND_IN, CTX_ID, true, &fd, &warning, &err), -1);
	assert_int_equal(fd, -1);
	assert_null(warning);
	assert_int_equal(count_fds(), before);
	assert_non_null(err);
	assert_int_equal(err->status, VJ_EXIT_SETUP);
	assert_string_equal(err->object, CTX_OBJECT);
	assert_contains(err->message, "reads back as 0 (per-user) after setting 1 (per-process)");
	vj_error_free(err);
}

static void test_readback_garbage(void **state)
{
	struct vj_error *err = NULL;
	int mode = -7;

	fake.get_override = 5;
	assert_int_equal(vj_iommufd_get_accounting(0, &mode, &err), -1);
	assert_int_equal(mode, -7);
	assert_non_null(err);
	assert_contains(err->message, "reported accounting mode 5");
	assert_string_equal(err->object, "iommufd fd 0");
	vj_error_free(err);
}

static void test_get_fails_after_set(void **state)
{
	struct vj_error *err = NULL;
	char *warning = NULL;
	int fd = 42;

	fake.get_errno = EFAULT;
	assert_int_equal(vj_iommufd_open_context(STAND_IN, CTX_ID, true, &fd, &warning, &err), -1);
	assert_int_equal(fd, -1);
	assert_int_equal(err->errnum, EFAULT);
	assert_contains(err->message, "reading the accounting mode");
	vj_error_free(err);
}

static void test_set_and_get_accounting(void **state)
{
	struct vj_error *err = NULL;
	int mode = -1, fd = open(STAND_IN, O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(vj_iommufd_set_accounting(fd, VJ_ACCOUNTING_PER_USER, &err), 0);
	assert_int_equal(fake.seen[0].val64, 0);
	assert_int_equal(vj_iommufd_get_accounting(fd, &mode, &err), 0);
	assert_int_equal(mode, VJ_ACCOUNTING_PER_USER);
	assert_int_equal(vj_iommufd_set_accounting(fd, VJ_ACCOUNTING_PER_PROCESS, &err), 0);
	assert_int_equal(vj_iommufd_get_accounting(fd, &mode, &err), 0);
	assert_int_equal(mode, VJ_ACCOUNTING_PER_PROCESS);
	assert_null(err);

	/* the kernel answers EINVAL for a value other than 0 or 1 */
	fake.set_errno = EINVAL;
	assert_int_equal(vj_iommufd_set_accounting(fd, 2, &err), -1);
	assert_contains(err->message, "rejected mode value 2");
	assert_int_equal(err->errnum, EINVAL);
	vj_error_free(err);
	err = NULL;

	/* SET accepted but GET disagrees: an error */
	fake.set_errno = 0;
	fake.get_override = VJ_ACCOUNTING_PER_USER;
	assert_int_equal(vj_iommufd_set_accounting(fd, VJ_ACCOUNTING_PER_PROCESS, &err), -1);
	assert_non_null(err);
	assert_contains(err->message, "reads back as 0 (per-user) after setting 1");
	vj_error_free(err);
	close(fd);
}

/* No hook: /dev/null's driver has no ioctl and the kernel answers ENOTTY. */
static void test_real_enotty(void **state)
{
	struct vj_error *err = NULL;
	char *warning = NULL;
	int fd = 42, mode;

	assert_null(vj_iommufd_ioctl_hook);
	assert_int_equal(vj_iommufd_open_context(STAND_IN, CTX_ID, false, &fd, &warning, &err), -1);
	assert_int_equal(fd, -1);
	assert_accounting_error(err, ENOTTY, CTX_OBJECT, "has no IOMMU_OPTION");
	vj_error_free(err);
	err = NULL;

	assert_int_equal(vj_iommufd_open_context(STAND_IN, CTX_ID, true, &fd, &warning, &err), 0);
	assert_null(err);
	assert_true(fd >= 0);
	assert_non_null(warning);
	assert_contains(warning, "has no IOMMU_OPTION");
	free(warning);

	assert_int_equal(vj_iommufd_get_accounting(fd, &mode, &err), -1);
	assert_int_equal(err->errnum, ENOTTY);
	vj_error_free(err);
	close(fd);
}

static void test_open_errors(void **state)
{
	struct vj_error *err = NULL;
	char *warning = NULL;
	int fd = 42;

	assert_int_equal(vj_iommufd_open_context("/nonexistent-vfiojail-test/iommu", "ctx1", true,
						 &fd, &warning, &err), -1);
	assert_int_equal(fd, -1);
	assert_null(warning);
	assert_non_null(err);
	assert_int_equal(err->status, VJ_EXIT_SETUP);
	assert_int_equal(err->errnum, ENOENT);
	assert_string_equal(err->step, "iommufd");
	assert_string_equal(err->object, "ctx1 (/nonexistent-vfiojail-test/iommu)");
	assert_contains(err->message, "kernel without CONFIG_IOMMUFD");
	vj_error_free(err);
	err = NULL;

	/* a directory cannot be opened read-write */
	assert_int_equal(vj_iommufd_open("/", &fd, &err), -1);
	assert_int_equal(err->errnum, EISDIR);
	assert_string_equal(err->object, "/");
	vj_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success_sends_set_then_get, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_strict_errors, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_best_effort, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_readback_mismatch, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_readback_garbage, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_get_fails_after_set, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_set_and_get_accounting, setup_fake, teardown_fake),
		cmocka_unit_test(test_real_enotty),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
