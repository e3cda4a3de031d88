/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The memlock policy (a table of VM shapes) and the RLIMIT_MEMLOCK helpers. */
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>

#include "apply.h"
#include "cgroup.h"
#include "memlock.h"
#include "pidfd.h"
#include "rlimit.h"
#include "testlib.h"
#include "util.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)

/* ------------------------------------------------------------------------ */
/* Policy table                                                              */

enum outcome { OK_BYTES, OK_UNCHANGED, OK_UNLIMITED, FAILS };

struct policy_case {
	const char *name;
	struct vj_memlock_input in;
	enum outcome outcome;
	uint64_t bytes;       /* OK_BYTES */
	size_t n_terms;       /* 0: not checked */
	const char *last_reason; /* substring of the last term's reason, or NULL */
};

static const char *const one_space[] = { "iommufd context iommufd0 (0000:06:00.0, 0000:07:00.0)" };
static const char *const two_spaces[] = {
	"iommufd context iommufd0 (0009:06:00.0)",
	"iommufd context iommufd1 (0009:07:00.0)",
};

static const struct policy_case cases[] = {
	{ "hard limit wins over devices",
	  { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 2, .spaces = two_spaces, .n_spaces = 2,
	    .spec = { .mode = VJ_MEMLOCK_HARD, .hard_limit = 123456789, .extra = GIB } },
	  OK_BYTES, 123456789, 1, "explicit memlock.hard_limit" },
	{ "hard limit wins on ppc64 too",
	  { .arch = "ppc64le", .memory = 4 * GIB, .n_vfio = 1,
	    .spec = { .mode = VJ_MEMLOCK_HARD, .hard_limit = 2 * GIB } },
	  OK_BYTES, 2 * GIB, 1, "explicit memlock.hard_limit" },
	{ "unlimited",
	  { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 1, .spec = { .mode = VJ_MEMLOCK_UNLIMITED } },
	  OK_UNLIMITED, 0, 1, "memlock.unlimited: guest memory is locked" },
	{ "no device: left as it is",
	  { .arch = "x86_64", .memory = 4 * GIB },
	  OK_UNCHANGED, 0, 1, "no VFIO, NVMe or vDPA device: RLIMIT_MEMLOCK left as it is" },
	{ "no device: extra is ignored",
	  { .arch = "aarch64", .memory = 4 * GIB, .spec = { .extra = GIB } },
	  OK_UNCHANGED, 0, 2, "ignored" },
	/* libvirt: factor 1 -> 4 GiB + 1 GiB */
	{ "1 VFIO device, 4 GiB",
	  { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 1, .spaces = one_space, .n_spaces = 1 },
	  OK_BYTES, 5 * GIB, 2, "1 GiB I/O allowance (once)" },
	/* libvirt: factor 1 -> 5 GiB; both devices share one space, so do we */
	{ "2 VFIO devices in one address space",
	  { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 2, .spaces = one_space, .n_spaces = 1 },
	  OK_BYTES, 5 * GIB, 2, "1 GiB I/O allowance (once)" },
	/* libvirt says 5 GiB; two contexts pin guest RAM twice: 2 * 4 + 1 = 9 GiB */
	{ "2 VFIO devices in two address spaces",
	  { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 2, .spaces = two_spaces, .n_spaces = 2 },
	  OK_BYTES, 9 * GIB, 3, "1 GiB I/O allowance (once)" },
	/* no address space labels from the caller: libvirt's flat 1 */
	{ "VFIO without space labels",
	  { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 3 },
	  OK_BYTES, 5 * GIB, 2, "1 GiB I/O allowance (once)" },
	/* libvirt with a vIOMMU: factor nvfio = 3 -> 3 * 4 + 1 = 13 GiB */
	{ "vIOMMU with 3 VFIO devices",
	  { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 3, .viommu = 1, .spaces = one_space,
	    .n_spaces = 1 },
	  OK_BYTES, 13 * GIB, 4, "1 GiB I/O allowance (once)" },
	/* libvirt: factor 1 (vdpa) + 1 (nvme) + 1 (vfio) -> 3 * 4 + 1 = 13 GiB */
	{ "NVMe 1 + vDPA 1 + VFIO 1",
	  { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 1, .nvme = 1, .vdpa = 1,
	    .spaces = one_space, .n_spaces = 1 },
	  OK_BYTES, 13 * GIB, 4, "1 GiB I/O allowance (once)" },
	/* 2 NVMe disks alone: 2 * 8 + 1 = 17 GiB */
	{ "2 NVMe disks, no VFIO",
	  { .arch = "x86_64", .memory = 8 * GIB, .nvme = 2 },
	  OK_BYTES, 17 * GIB, 3, "1 GiB I/O allowance (once)" },
	/* 4 + 1 + 0.25 GiB */
	{ "extra is added last",
	  { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 1, .spaces = one_space, .n_spaces = 1,
	    .spec = { .extra = 256 * MIB } },
	  OK_BYTES, 5 * GIB + 256 * MIB, 3, "memlock.extra" },
	/*
	 * ppc64, no VFIO, 4 GiB, PHBs 0 -> 1.  libvirt in KiB: 4194304 / 128 + 4096 * 1
	 * + 8192 = 45056 KiB = 44 MiB = 46137344 bytes.
	 */
	{ "ppc64 without VFIO",
	  { .arch = "ppc64", .memory = 4 * GIB },
	  OK_BYTES, 46137344, 3, "8 MiB" },
	/*
	 * ppc64le, 1 VFIO, 4 GiB, 1 PHB: base 44 MiB as above; passthrough
	 * max(2 GiB * 1, 4 GiB + 4 GiB / 512 * 1 + 8 MiB) = 4 GiB + 16 MiB.
	 * libvirt KiB: 45056 + 4194304 + 8192 + 8192 = 4255744 KiB = 4357881856 bytes.
	 */
	{ "ppc64le with VFIO, 1 PHB",
	  { .arch = "ppc64le", .memory = 4 * GIB, .n_vfio = 1, .pci_host_bridges = 1 },
	  OK_BYTES, 4357881856, 4, "ppc64 VFIO DMA windows" },
	/*
	 * ppc64, 1 VFIO, 1 GiB, 2 PHBs: base 1 GiB / 128 = 8 MiB, + 2 * 4 MiB, + 8 MiB
	 * = 24 MiB; passthrough max(2 GiB * 2, 1 GiB + 2 MiB * 2 + 8 MiB) = 4 GiB.
	 * 4 GiB + 24 MiB = 4320133120 bytes.
	 */
	{ "ppc64 with VFIO, 2 PHBs, small guest",
	  { .arch = "ppc64", .memory = 1 * GIB, .n_vfio = 1, .pci_host_bridges = 2 },
	  OK_BYTES, 4320133120, 4, "ppc64 VFIO DMA windows" },
	/* 46137344 + 1 MiB */
	{ "ppc64 with extra",
	  { .arch = "ppc64", .memory = 4 * GIB, .spec = { .extra = MIB } },
	  OK_BYTES, 46137344 + MIB, 4, "memlock.extra" },
	/* 2^63 twice does not fit */
	{ "overflow of the sum",
	  { .arch = "x86_64", .memory = UINT64_C(1) << 63, .n_vfio = 2, .spaces = two_spaces,
	    .n_spaces = 2 },
	  FAILS },
	{ "overflow of the sum by extra",
	  { .arch = "x86_64", .memory = UINT64_MAX - GIB, .n_vfio = 1, .spec = { .extra = 1 } },
	  FAILS },
	{ "overflow in the ppc64 formula",
	  { .arch = "ppc64", .memory = UINT64_MAX / 2, .n_vfio = 1, .pci_host_bridges = 1000 },
	  FAILS },
	/* INT_MAX pages of 4 KiB is the largest guest type1 can dirty-track: allowed */
	{ "guard: legacy + migration at the limit",
	  { .arch = "x86_64", .memory = (uint64_t)INT_MAX * 4096, .n_vfio = 1, .legacy = true,
	    .migration = true, .page_size = 4096 },
	  OK_BYTES, (uint64_t)INT_MAX * 4096 + GIB, 2, "1 GiB I/O allowance (once)" },
	{ "guard: legacy + migration one byte over",
	  { .arch = "x86_64", .memory = (uint64_t)INT_MAX * 4096 + 1, .n_vfio = 1, .legacy = true,
	    .migration = true },
	  FAILS },
	{ "guard is checked before an explicit hard limit",
	  { .arch = "x86_64", .memory = 9 * TIB, .n_vfio = 1, .legacy = true, .migration = true,
	    .spec = { .mode = VJ_MEMLOCK_HARD, .hard_limit = GIB } },
	  FAILS },
	{ "guard: 9 TiB without migration is fine",
	  { .arch = "x86_64", .memory = 9 * TIB, .n_vfio = 1, .legacy = true },
	  OK_BYTES, 9 * TIB + GIB, 2, NULL },
	{ "guard: 9 TiB on iommufd with migration is fine",
	  { .arch = "x86_64", .memory = 9 * TIB, .n_vfio = 1, .migration = true },
	  OK_BYTES, 9 * TIB + GIB, 2, NULL },
	/* 64 KiB pages: INT_MAX pages cover ~128 TiB */
	{ "guard: 9 TiB with 64 KiB pages is fine",
	  { .arch = "aarch64", .memory = 9 * TIB, .n_vfio = 1, .legacy = true, .migration = true,
	    .page_size = 65536 },
	  OK_BYTES, 9 * TIB + GIB, 2, NULL },
};

static uint64_t terms_sum(const struct vj_memlock_plan *p)
{
	uint64_t s = 0;

	for (size_t i = 0; i < p->n_terms; i++)
		s += p->terms[i].bytes;
	return s;
}

static void check_case(const struct policy_case *c)
{
	struct vj_memlock_plan p;
	struct vj_error *err = NULL;
	int r;

	print_message("case: %s\n", c->name);
	memset(&p, 0xa5, sizeof(p));
	r = vj_memlock_compute(&c->in, &p, &err);
	if (c->outcome == FAILS) {
		assert_int_equal(r, -1);
		assert_non_null(err);
		assert_int_equal(err->status, VJ_EXIT_USAGE);
		assert_string_equal(err->step, "memlock");
		assert_string_equal(err->object, "memory");
		assert_int_equal(p.n_terms, 0);
		assert_null(p.terms);
		vj_error_free(err);
		return;
	}
	assert_int_equal(r, 0);
	assert_null(err);
	assert_int_equal(p.unchanged, c->outcome == OK_UNCHANGED);
	assert_int_equal(p.unlimited, c->outcome == OK_UNLIMITED);
	if (c->outcome == OK_BYTES) {
		assert_int_equal(p.bytes, c->bytes);
		assert_int_equal(terms_sum(&p), p.bytes);
	} else {
		assert_int_equal(p.bytes, 0);
		assert_int_equal(terms_sum(&p), 0);
	}
	assert_true(p.n_terms >= 1);
	if (c->n_terms)
		assert_int_equal(p.n_terms, c->n_terms);
	for (size_t i = 0; i < p.n_terms; i++) {
		assert_non_null(p.terms[i].reason);
		assert_true(strlen(p.terms[i].reason) > 0);
	}
	if (c->last_reason)
		assert_contains(p.terms[p.n_terms - 1].reason, c->last_reason);
	vj_memlock_plan_clear(&p);
	assert_null(p.terms);
	assert_int_equal(p.n_terms, 0);
}

static void test_policy_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

static size_t count_terms_with(const struct vj_memlock_plan *p, const char *needle)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_terms; i++)
		if (strstr(p->terms[i].reason, needle))
			n++;
	return n;
}

/* Each DMA address space is named in its own term, with the guest RAM. */
static void test_space_terms_name_each_space(void **state)
{
	struct vj_memlock_input in = { .arch = "x86_64", .memory = 4 * GIB, .n_vfio = 2,
				       .spaces = two_spaces, .n_spaces = 2, .vdpa = 2, .nvme = 1 };
	struct vj_memlock_plan p;
	struct vj_error *err = NULL;

	assert_int_equal(vj_memlock_compute(&in, &p, &err), 0);
	/* 2 spaces + 2 vDPA + 1 NVMe = 5 budgets of 4 GiB, + 1 GiB */
	assert_int_equal(p.bytes, 21 * GIB);
	assert_int_equal(p.n_terms, 6);
	assert_string_equal(p.terms[0].reason,
			    "guest RAM for DMA address space: iommufd context iommufd0 (0009:06:00.0)");
	assert_int_equal(p.terms[0].bytes, 4 * GIB);
	assert_string_equal(p.terms[1].reason,
			    "guest RAM for DMA address space: iommufd context iommufd1 (0009:07:00.0)");
	assert_int_equal(count_terms_with(&p, "guest RAM for vDPA device"), 2);
	assert_int_equal(count_terms_with(&p, "guest RAM for NVMe disk"), 1);
	assert_int_equal(count_terms_with(&p, "1 GiB I/O allowance (once)"), 1);
	assert_int_equal(p.terms[5].bytes, GIB);
	vj_memlock_plan_clear(&p);
}

/* The ppc64 formula applies without any device, as libvirt does. */
static void test_ppc64_terms(void **state)
{
	struct vj_memlock_input in = { .arch = "ppc64le", .memory = 4 * GIB, .n_vfio = 1,
				       .pci_host_bridges = 1 };
	struct vj_memlock_plan p;
	struct vj_error *err = NULL;

	assert_int_equal(vj_memlock_compute(&in, &p, &err), 0);
	assert_false(p.unchanged);
	assert_int_equal(p.n_terms, 4);
	assert_int_equal(p.terms[0].bytes, 32 * MIB);      /* 4 GiB / 128 */
	assert_int_equal(p.terms[1].bytes, 4 * MIB);       /* 1 PHB */
	assert_int_equal(p.terms[2].bytes, 8 * MIB);
	assert_int_equal(p.terms[3].bytes, 4 * GIB + 16 * MIB);
	assert_contains(p.terms[0].reason, "hash page table");
	assert_int_equal(count_terms_with(&p, "1 GiB I/O allowance"), 0);
	vj_memlock_plan_clear(&p);
}

static void test_guard_message(void **state)
{
	struct vj_memlock_input in = { .arch = "x86_64", .memory = 9 * TIB, .n_vfio = 1,
				       .legacy = true, .migration = true };
	struct vj_memlock_plan p;
	struct vj_error *err = NULL;

	assert_int_equal(vj_memlock_compute(&in, &p, &err), -1);
	assert_non_null(err);
	assert_int_equal(err->status, VJ_EXIT_USAGE);
	assert_contains(err->message, "9895604649984"); /* the guest size, 9 TiB */
	assert_contains(err->message, "~8 TiB");
	assert_contains(err->message, "migrated");
	assert_string_equal(err->hint, "use backend iommufd for every hostdev");
	vj_error_free(err);
}

static void test_clear_tolerates_empty(void **state)
{
	struct vj_memlock_plan p = { 0 };

	vj_memlock_plan_clear(&p);
	vj_memlock_plan_clear(NULL);
	assert_int_equal(p.n_terms, 0);
}

/* ------------------------------------------------------------------------ */
/* RLIMIT_MEMLOCK, in forked children so the test process keeps its limits.  */

static bool has_cap_sys_resource(void)
{
	char *hex = status_field("CapEff");
	unsigned long long eff = hex ? strtoull(hex, NULL, 16) : 0;

	free(hex);
	return eff & (1ULL << 24); /* CAP_SYS_RESOURCE */
}

static bool limits_are(pid_t pid, uint64_t soft, uint64_t hard)
{
	uint64_t s, h;

	return vj_proc_memlock(pid ? pid : getpid(), &s, &h) == 0 && s == soft && h == hard;
}

static bool err_has(const struct vj_error *e, const char *needle)
{
	return e && e->message && strstr(e->message, needle);
}

static void child_set(void *arg)
{
	struct vj_memlock_plan p = { .bytes = 4 * MIB };
	struct vj_error *err = NULL;
	int r;

	CHILD_CHECK(vj_rlimit_memlock_set(&p, &err) == 0);
	CHILD_CHECK(limits_are(0, 4 * MIB, 4 * MIB));
	CHILD_CHECK(limits_are(getpid(), 4 * MIB, 4 * MIB));

	/* unchanged: nothing happens even though bytes says 1 MiB */
	p = (struct vj_memlock_plan){ .unchanged = true, .bytes = MIB };
	CHILD_CHECK(vj_rlimit_memlock_set(&p, &err) == 0);
	CHILD_CHECK(limits_are(0, 4 * MIB, 4 * MIB));

	/* the hard limit is now 4 MiB: 16 MiB needs CAP_SYS_RESOURCE */
	p = (struct vj_memlock_plan){ .bytes = 16 * MIB };
	r = vj_rlimit_memlock_set(&p, &err);
	if (has_cap_sys_resource()) {
		CHILD_CHECK(r == 0);
		CHILD_CHECK(limits_are(0, 16 * MIB, 16 * MIB));
		return;
	}
	CHILD_CHECK(r == -1 && err);
	CHILD_CHECK(err->status == VJ_EXIT_SETUP && err->errnum == EPERM);
	CHILD_CHECK(strcmp(err->step, "memlock") == 0);
	CHILD_CHECK(strcmp(err->object, "RLIMIT_MEMLOCK") == 0);
	CHILD_CHECK(err_has(err, "16777216 bytes wanted"));
	CHILD_CHECK(err_has(err, "hard limit is 4194304 bytes"));
	CHILD_CHECK(err_has(err, "raising the hard limit needs CAP_SYS_RESOURCE"));
	vj_error_free(err);
	err = NULL;
	CHILD_CHECK(limits_are(0, 4 * MIB, 4 * MIB));

	p = (struct vj_memlock_plan){ .unlimited = true };
	CHILD_CHECK(vj_rlimit_memlock_set(&p, &err) == -1);
	CHILD_CHECK(err_has(err, "unlimited wanted"));
	vj_error_free(err);
}

static void child_raise(void *arg)
{
	struct vj_memlock_plan p = { .bytes = 4 * MIB };
	struct rlimit rl = { .rlim_cur = MIB, .rlim_max = 4 * MIB };
	struct vj_error *err = NULL;
	int r;

	CHILD_CHECK(vj_rlimit_memlock_set(&p, &err) == 0);
	CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);

	CHILD_CHECK(vj_rlimit_memlock_raise(getpid(), 2 * MIB, &err) == 0);
	CHILD_CHECK(limits_are(0, 2 * MIB, 4 * MIB));
	/* never lowers */
	CHILD_CHECK(vj_rlimit_memlock_raise(0, MIB, &err) == 0);
	CHILD_CHECK(limits_are(0, 2 * MIB, 4 * MIB));

	r = vj_rlimit_memlock_raise(0, 16 * MIB, &err);
	if (has_cap_sys_resource()) {
		CHILD_CHECK(r == 0);
		CHILD_CHECK(limits_are(0, 16 * MIB, 16 * MIB));
		return;
	}
	CHILD_CHECK(r == -1 && err && err->errnum == EPERM);
	CHILD_CHECK(err_has(err, "CAP_SYS_RESOURCE"));
	CHILD_CHECK(err_has(err, "hard limit is 4194304 bytes"));
	vj_error_free(err);
	CHILD_CHECK(limits_are(0, 2 * MIB, 4 * MIB));
}

static void test_rlimit_set(void **state)
{
	run_in_child(child_set, NULL);
}

static void test_rlimit_raise_self(void **state)
{
	run_in_child(child_raise, NULL);
}

/* A child that joins @cgroup (when given), lowers its soft limit to 1 MiB (or
 * its hard limit, when lower) and waits to be killed. */
static pid_t spawn_waiter(const char *cgroup)
{
	int ready[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl;

		close(ready[0]);
		if ((cgroup && vj_cgroup_enter(cgroup, 0, NULL) < 0) || getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			_exit(1);
		rl.rlim_cur = MIB < rl.rlim_max ? MIB : rl.rlim_max;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

/* prlimit on another process: a child lowers its soft limit and waits. */
static void test_rlimit_raise_other_process(void **state)
{
	struct vj_error *err = NULL;
	uint64_t soft, hard;
	int status;
	pid_t pid;

	pid = spawn_waiter(NULL);

	assert_int_equal(vj_proc_memlock(pid, &soft, &hard), 0);
	assert_true(soft <= MIB);
	if (hard >= 2 * MIB) {
		assert_int_equal(vj_rlimit_memlock_raise(pid, 2 * MIB, &err), 0);
		assert_true(limits_are(pid, 2 * MIB, hard));
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	/* the child is reaped: its pid names no process any more */
	assert_int_equal(vj_proc_memlock(pid, &soft, &hard), -1);
	assert_int_equal(vj_rlimit_memlock_raise(pid, 2 * MIB, &err), -1);
	assert_non_null(err);
	assert_int_equal(err->errnum, ESRCH);
	assert_int_equal(err->status, VJ_EXIT_SETUP);
	assert_contains(err->object, "pid");
	vj_error_free(err);
}

/* ------------------------------------------------------------------------ */
/* The engine's vmm-memlock step: every change has its undo                  */

/* This process, without a jail: soft = the plan; the undo puts back what it had. */
static void child_step_self(void *arg)
{
	struct vj_memlock_plan p = { .bytes = 2 * MIB };
	struct rlimit rl = { .rlim_cur = MIB, .rlim_max = 4 * MIB };
	struct vj_apply a = { .dirfd = -1 };
	struct vj_error *err = NULL;

	CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	vj_apply_vmm_memlock(&a, VJ_VMM_MEMLOCK_SOFT, &p);
	CHILD_CHECK(vj_apply_step(&a, VJ_STEP_VMM_MEMLOCK, &err) == 0);
	CHILD_CHECK(limits_are(0, 2 * MIB, 4 * MIB));
	vj_apply_undo(&a); /* a later step failed */
	CHILD_CHECK(limits_are(0, MIB, 4 * MIB));

	/* LIMITS (launch's rule), then a release: the process keeps it */
	vj_apply_vmm_memlock(&a, VJ_VMM_MEMLOCK_LIMITS, &p);
	a.vmm_memlock.soft = 3 * MIB;
	a.vmm_memlock.hard = 4 * MIB;
	CHILD_CHECK(vj_apply_step(&a, VJ_STEP_VMM_MEMLOCK, &err) == 0);
	CHILD_CHECK(limits_are(0, 3 * MIB, 4 * MIB));
	vj_apply_release(&a);
	vj_apply_undo(&a);
	CHILD_CHECK(limits_are(0, 3 * MIB, 4 * MIB));

	/* unchanged: nothing is set, nothing is undone */
	p = (struct vj_memlock_plan){ .unchanged = true, .bytes = MIB };
	vj_apply_vmm_memlock(&a, VJ_VMM_MEMLOCK_PLAN, &p);
	CHILD_CHECK(vj_apply_step(&a, VJ_STEP_VMM_MEMLOCK, &err) == 0);
	vj_apply_undo(&a);
	CHILD_CHECK(limits_are(0, 3 * MIB, 4 * MIB));

	/* a refusal leaves nothing changed: above the hard limit without the capability */
	if (!has_cap_sys_resource()) {
		p = (struct vj_memlock_plan){ .bytes = 16 * MIB };
		vj_apply_vmm_memlock(&a, VJ_VMM_MEMLOCK_PLAN, &p);
		CHILD_CHECK(vj_apply_step(&a, VJ_STEP_VMM_MEMLOCK, &err) == -1);
		CHILD_CHECK(err && err->errnum == EPERM);
		vj_error_free(err);
		CHILD_CHECK(limits_are(0, 3 * MIB, 4 * MIB));
	}
}

static void test_step_self(void **state)
{
	run_in_child(child_step_self, NULL);
}

/* Another process by pid (the service's raise for its client): raised, then a
 * later step fails and the undo puts back what it had; once it is gone, the
 * step fails and names it. */
static void test_step_other_undone(void **state)
{
	struct vj_memlock_plan p = { .bytes = 2 * MIB };
	struct vj_apply a = { .dirfd = -1 };
	struct vj_error *err = NULL;
	uint64_t soft, hard;
	int status, pidfd;
	pid_t pid;

	pid = spawn_waiter(NULL);
	pidfd = vj_pidfd_open(pid);
	assert_true(pidfd >= 0);
	assert_int_equal(vj_proc_memlock(pid, &soft, &hard), 0);
	if (hard >= 2 * MIB || has_cap_sys_resource()) {
		vj_apply_vmm_memlock(&a, VJ_VMM_MEMLOCK_RAISE, &p);
		a.vmm_memlock.pid = pid;
		a.vmm_memlock.pidfd = pidfd;
		assert_int_equal(vj_apply_step(&a, VJ_STEP_VMM_MEMLOCK, &err), 0);
		assert_true(limits_are(pid, 2 * MIB, hard > 2 * MIB ? hard : 2 * MIB));
		vj_apply_undo(&a);
		assert_true(limits_are(pid, soft, hard));
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	vj_apply_vmm_memlock(&a, VJ_VMM_MEMLOCK_EXACT, &p);
	a.vmm_memlock.pid = pid;
	a.vmm_memlock.pidfd = pidfd;
	a.vmm_memlock.step = "launch";
	a.vmm_memlock.who = "pid 1234";
	a.vmm_memlock.gone = "the client exited";
	assert_int_equal(vj_apply_step(&a, VJ_STEP_VMM_MEMLOCK, &err), -1);
	assert_non_null(err);
	assert_int_equal(err->errnum, ESRCH);
	assert_string_equal(err->step, "launch");
	assert_string_equal(err->object, "pid 1234");
	assert_contains(err->message, "the client exited");
	vj_error_free(err);
	vj_apply_undo(&a); /* nothing to put back */
	close(pidfd);
}

/* ------------------------------------------------------------------------ */
/* attach and detach on a running jail: the memlock step and the VMM's limit  */

struct jail_fx {
	char *dir;          /* the state directory */
	int dirfd;
	char *cgroup;       /* the jail's cgroup, below this process's */
	pid_t vmm;          /* a waiter in it, soft limit 1 MiB */
	uint64_t hard;      /* its hard limit */
	struct vj_state st; /* a run jail whose plan sets no limit */
	char warned[1024];  /* the last warning */
	struct vj_run_opts o;
};

static void fx_warn(const char *msg, void *userdata)
{
	struct jail_fx *fx = userdata;

	snprintf(fx->warned, sizeof(fx->warned), "%s", msg);
}

static struct vj_plan *plan_with(uint64_t bytes)
{
	struct vj_plan *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->name = strdup("memvm");
	p->memlock = bytes ? (struct vj_memlock_plan){ .bytes = bytes } : (struct vj_memlock_plan){ .unchanged = true };
	return p;
}

static int jail_setup(void **state)
{
	struct jail_fx *fx = calloc(1, sizeof(*fx));
	_cleanup_free_ char *root = NULL, *self = NULL;
	struct vj_error *err = NULL;
	uint64_t soft;

	*state = fx;
	if (!fx || geteuid() != 0 || vj_cgroup2_root(NULL, &root, &err) < 0 ||
	    vj_cgroup_self(NULL, &self, &err) < 0) {
		vj_error_free(err);
		return 0; /* the test skips */
	}
	fx->cgroup = vj_strdupf("%s%s/vfiojail-test-memlock-%ld", root, self, (long)getpid());
	if (!fx->cgroup || vj_cgroup_create(fx->cgroup, &err) < 0) {
		vj_error_print(err, stderr);
		vj_error_free(err);
		return -1;
	}
	fx->dir = temp_dir("vfiojail-test-state");
	fx->dirfd = open(fx->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fx->vmm = spawn_waiter(fx->cgroup);
	if (fx->dirfd < 0 || vj_proc_memlock(fx->vmm, &soft, &fx->hard) < 0 || soft != MIB)
		return -1;
	fx->st = (struct vj_state){
		.name = strdup("memvm"),
		.kind = VJ_STATE_RUN,
		.origin = VJ_ORIGIN_RUN,
		.cgroup = strdup(fx->cgroup),
		.bpf_pin = strdup("/nonexistent/pin"), /* only recover looks: the memlock step needs none */
		.vmm = fx->vmm,
		.plan = plan_with(0),
		.spec = strdup("{}"),
	};
	fx->o = (struct vj_run_opts){ .warn = fx_warn, .userdata = fx };
	if (vj_pid_starttime(fx->vmm, &fx->st.vmm_start) < 0 || vj_state_write(fx->dirfd, &fx->st, &err) < 0) {
		vj_error_free(err);
		return -1;
	}
	return 0;
}

static int jail_teardown(void **state)
{
	struct jail_fx *fx = *state;

	if (!fx)
		return 0;
	if (fx->vmm > 0) {
		kill(fx->vmm, SIGKILL);
		waitpid(fx->vmm, NULL, 0);
	}
	if (fx->cgroup)
		vj_cgroup_remove(fx->cgroup, NULL);
	if (fx->dirfd > 0)
		close(fx->dirfd);
	rm_tree(fx->dir);
	free(fx->dir);
	free(fx->cgroup);
	vj_state_clear(&fx->st);
	free(fx);
	return 0;
}

static int fail_last(struct vj_apply *a, void *data, struct vj_error **err)
{
	(void)a;
	(void)data;
	return vj_err(err, VJ_EXIT_SETUP, 0, "attach", "test", NULL, "a later step failed");
}

/* attach or detach's memlock step: the jail from its plan to one with @bytes
 * (0: no limit); the engine's last step fails when @fail. */
static int change(struct jail_fx *fx, uint64_t bytes, bool fail, bool *memlock)
{
	static const enum vj_step steps[] = { VJ_STEP_MEMLOCK };
	struct vj_apply a = { .dirfd = fx->dirfd, .st = &fx->st, .o = &fx->o };
	struct vj_error *err = NULL;
	int r;

	if (fail)
		a.last = fail_last;
	fx->warned[0] = 0;
	r = vj_apply_change(&a, plan_with(bytes), strdup("{}"), steps, ARRAY_SIZE(steps), &err);
	if (memlock)
		*memlock = a.memlock_changed;
	vj_apply_release(&a);
	assert_true((r == 0) == !err);
	vj_error_free(err);
	return r;
}

/* What the state file says the VMM had before the raise. */
static struct vj_memlock_before recorded(struct jail_fx *fx)
{
	struct vj_state back = { 0 };
	struct vj_memlock_before b;

	assert_int_equal(vj_state_read(fx->dirfd, "memvm", &back, NULL), 0);
	assert_null(back.change);
	b = back.vmm_memlock_before;
	vj_state_clear(&back);
	return b;
}

/* status's item @name for the jail: true and its detail in @detail when there is one. */
static bool status_item(struct jail_fx *fx, const char *name, char *detail, size_t size)
{
	struct vj_run_opts o = fx->o;
	struct vj_status *s = NULL;
	bool found = false;

	o.state_dir = fx->dir;
	assert_int_equal(vj_status_get("memvm", &o, &s, NULL), 0);
	for (size_t i = 0; i < s->n_items; i++)
		if (!strcmp(s->items[i].name, name)) {
			snprintf(detail, size, "%s", s->items[i].detail);
			found = true;
		}
	vj_status_free(s);
	return found;
}

/* The libvirt hotplug's memlock: attach raises the VMM from a plan without a
 * limit and records what it had; the detach of the last device puts it back. */
static void test_detach_puts_back(void **state)
{
	struct jail_fx *fx = fixture_or_skip(state);
	struct vj_memlock_before b;
	bool memlock = false;
	char seen[512], want[256];

	if (fx->hard < 2 * MIB && !has_cap_sys_resource())
		skip();
	assert_int_equal(change(fx, 2 * MIB, false, &memlock), 0);
	assert_true(memlock);
	assert_true(limits_are(fx->vmm, 2 * MIB, fx->hard > 2 * MIB ? fx->hard : 2 * MIB));
	b = recorded(fx);
	assert_true(b.set);
	assert_int_equal(b.soft, MIB);
	assert_int_equal(b.hard, fx->hard);
	/* status says what the last detach puts back */
	assert_true(status_item(fx, "vmm-memlock-before", seen, sizeof(seen)));
	if (fx->hard == RLIM_INFINITY)
		snprintf(want, sizeof(want), "soft 1048576, hard unlimited: the detach that leaves no limit puts them back");
	else
		snprintf(want, sizeof(want), "soft 1048576, hard %" PRIu64 ": the detach that leaves no limit puts them back",
			 fx->hard);
	assert_contains(seen, want);

	assert_int_equal(change(fx, 0, false, &memlock), 0);
	assert_true(memlock);
	assert_true(limits_are(fx->vmm, MIB, fx->hard));
	assert_false(recorded(fx).set);
	assert_false(status_item(fx, "vmm-memlock-before", seen, sizeof(seen)));
	assert_string_equal(fx->warned, "");

	/* A detach with no raise of vfiojail's to undo sets nothing. */
	assert_int_equal(change(fx, 0, false, &memlock), 0);
	assert_false(memlock);
	assert_true(limits_are(fx->vmm, MIB, fx->hard));
}

/* Someone else (libvirt) set the limit after the raise: theirs wins, said. */
static void test_detach_leaves_anothers_limit(void **state)
{
	struct jail_fx *fx = fixture_or_skip(state);
	uint64_t other = 3 * MIB;

	if (fx->hard < other && !has_cap_sys_resource())
		skip();
	assert_int_equal(change(fx, 2 * MIB, false, NULL), 0);
	assert_int_equal(vj_rlimit_memlock_set_pid(fx->vmm, other, fx->hard > other ? fx->hard : other, fx->hard, NULL), 0);
	assert_int_equal(change(fx, 0, false, NULL), 0);
	assert_true(limits_are(fx->vmm, other, fx->hard > other ? fx->hard : other));
	assert_contains(fx->warned, "someone else set it after vfiojail raised it to 2097152");
	assert_contains(fx->warned, "soft 1048576");
	assert_false(recorded(fx).set);
}

/* The VMM the state names is gone and its pid is another process's (the start
 * time differs): the detach puts nothing back on that process, and the record
 * goes with the VMM. */
static void test_detach_reused_pid(void **state)
{
	struct jail_fx *fx = fixture_or_skip(state);
	bool memlock = true;

	if (fx->hard < 2 * MIB && !has_cap_sys_resource())
		skip();
	assert_int_equal(change(fx, 2 * MIB, false, NULL), 0);
	assert_true(recorded(fx).set);
	fx->st.vmm_start += 1; /* the waiter is not the VMM that was recorded */
	assert_int_equal(change(fx, 0, false, &memlock), 0);
	assert_false(memlock);
	assert_true(limits_are(fx->vmm, 2 * MIB, fx->hard > 2 * MIB ? fx->hard : 2 * MIB));
	assert_false(recorded(fx).set);
	assert_string_equal(fx->warned, "");
}

/* A failure after the step undoes it, the record with it; a crashed attach is
 * undone by the next command (vj_apply_recover) down to the recorded limit. */
static void test_undo_and_recover(void **state)
{
	struct jail_fx *fx = fixture_or_skip(state);
	struct vj_error *err = NULL;
	struct vj_state_change *c;

	if (fx->hard < 2 * MIB && !has_cap_sys_resource())
		skip();
	assert_int_equal(change(fx, 2 * MIB, true, NULL), -1);
	assert_true(limits_are(fx->vmm, MIB, fx->hard));
	assert_false(fx->st.vmm_memlock_before.set);
	assert_false(recorded(fx).set);

	assert_int_equal(change(fx, 2 * MIB, false, NULL), 0);
	assert_int_equal(change(fx, 0, true, NULL), -1); /* the detach undone: raised again, recorded */
	assert_true(limits_are(fx->vmm, 2 * MIB, fx->hard > 2 * MIB ? fx->hard : 2 * MIB));
	assert_true(fx->st.vmm_memlock_before.set);
	assert_true(recorded(fx).set);
	assert_int_equal(change(fx, 0, false, NULL), 0);
	assert_true(limits_are(fx->vmm, MIB, fx->hard));

	/* An attach that crashed after its raise: the state has the change and the record. */
	assert_non_null(c = calloc(1, sizeof(*c)));
	*c = (struct vj_state_change){ .plan = plan_with(2 * MIB), .spec = strdup("{}"),
				       .steps = VJ_STEP_BIT(VJ_STEP_MEMLOCK) };
	fx->st.change = c;
	fx->st.vmm_memlock_before = (struct vj_memlock_before){ .set = true, .soft = MIB, .hard = fx->hard };
	assert_int_equal(vj_state_write(fx->dirfd, &fx->st, NULL), 0);
	assert_int_equal(vj_rlimit_memlock_set_pid(fx->vmm, 2 * MIB, fx->hard, fx->hard, NULL), 0);
	assert_int_equal(vj_apply_recover(fx->dirfd, &fx->st, &fx->o, &err), 0);
	assert_null(err);
	assert_true(limits_are(fx->vmm, MIB, fx->hard));
	assert_false(recorded(fx).set);
}

/* ------------------------------------------------------------------------ */
/* The limit a launched VMM gets (vj_launch_memlock)                         */

struct launch_case {
	const char *name;
	struct vj_memlock_plan plan;
	bool exact;
	uint64_t cur_soft, cur_hard;
	uint64_t soft, hard;
	enum vj_memlock_from from;
};

static void test_launch_memlock(void **state)
{
	(void)state;
	static const struct launch_case launch_cases[] = {
		{ "launcher below: raised", { .bytes = 2 * GIB }, false, 64 * 1024, 8 * MIB, 2 * GIB, 2 * GIB,
		  VJ_MEMLOCK_FROM_PLAN },
		{ "launcher above (libvirt's RAM + 1 GiB): kept", { .bytes = 2 * GIB }, false, 3 * GIB, 3 * GIB,
		  3 * GIB, 3 * GIB, VJ_MEMLOCK_FROM_LAUNCHER },
		{ "soft below, hard above: soft raised, hard kept", { .bytes = 2 * GIB }, false, 8 * MIB,
		  3 * GIB, 2 * GIB, 3 * GIB, VJ_MEMLOCK_FROM_PLAN },
		{ "launcher unlimited: kept", { .bytes = 2 * GIB }, false, UINT64_MAX, UINT64_MAX, UINT64_MAX,
		  UINT64_MAX, VJ_MEMLOCK_FROM_LAUNCHER },
		{ "equal: the plan", { .bytes = 2 * GIB }, false, 2 * GIB, 2 * GIB, 2 * GIB, 2 * GIB,
		  VJ_MEMLOCK_FROM_PLAN },
		{ "exact, launcher above: lowered, said", { .bytes = 4 * MIB }, true, 8 * MIB, 8 * MIB, 4 * MIB,
		  4 * MIB, VJ_MEMLOCK_FROM_EXACT },
		{ "exact, launcher below: the plan", { .bytes = 4 * MIB }, true, 1 * MIB, 4 * MIB, 4 * MIB,
		  4 * MIB, VJ_MEMLOCK_FROM_PLAN },
		{ "plan unlimited", { .unlimited = true }, false, 8 * MIB, 8 * MIB, UINT64_MAX, UINT64_MAX,
		  VJ_MEMLOCK_FROM_PLAN },
		{ "plan unchanged: the launcher's, nothing recorded", { .unchanged = true }, false, 8 * MIB,
		  16 * MIB, 8 * MIB, 16 * MIB, VJ_MEMLOCK_FROM_NONE },
	};

	for (size_t i = 0; i < sizeof(launch_cases) / sizeof(launch_cases[0]); i++) {
		const struct launch_case *c = &launch_cases[i];
		uint64_t soft = 0, hard = 0;
		enum vj_memlock_from from =
			vj_launch_memlock(&c->plan, c->exact, c->cur_soft, c->cur_hard, &soft, &hard);

		if (soft != c->soft || hard != c->hard || from != c->from)
			fail_msg("%s: got soft %" PRIu64 " hard %" PRIu64 " from %d", c->name, soft, hard, (int)from);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_table),
		cmocka_unit_test(test_space_terms_name_each_space),
		cmocka_unit_test(test_ppc64_terms),
		cmocka_unit_test(test_guard_message),
		cmocka_unit_test(test_clear_tolerates_empty),
		cmocka_unit_test(test_rlimit_set),
		cmocka_unit_test(test_rlimit_raise_self),
		cmocka_unit_test(test_rlimit_raise_other_process),
		cmocka_unit_test(test_step_self),
		cmocka_unit_test(test_step_other_undone),
		cmocka_unit_test(test_launch_memlock),
		cmocka_unit_test_setup_teardown(test_detach_puts_back, jail_setup, jail_teardown),
		cmocka_unit_test_setup_teardown(test_detach_leaves_anothers_limit, jail_setup, jail_teardown),
		cmocka_unit_test_setup_teardown(test_undo_and_recover, jail_setup, jail_teardown),
		cmocka_unit_test_setup_teardown(test_detach_reused_pid, jail_setup, jail_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
