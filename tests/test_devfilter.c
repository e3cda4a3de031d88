/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The BPF device filter on the real kernel (needs root): a child in a temp
 * cgroup opens stand-in nodes.  Char majors 240-242 have no driver here, so an
 * allowed open reaches the driver lookup and fails ENXIO, a denied one EPERM.
 * Pins go to a private bpffs in a private mount namespace.
 */
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <bpf/bpf.h>

#include "cgroup.h"
#include "devfilter.h"
#include "testlib.h"
#include "util.h"

#define R VJ_ACC_READ
#define W VJ_ACC_WRITE
#define ANY VJ_RULE_ANY

/* Shared by all tests: a tmpfs for the nodes and a bpffs, both in our private mount ns. */
static char dev_dir[] = "/tmp/vfiojail-test-dev-XXXXXX";
static char bpffs_dir[] = "/tmp/vfiojail-test-bpffs-XXXXXX";
static bool dev_mounted, bpffs_mounted;
static char *cg_root;
static unsigned counter;

static const struct vj_rule base_rules[] = {
	{ .type = 'c', .major = 1, .minor = 3, .access = R | W },      /* /dev/null   */
	{ .type = 'c', .major = 240, .minor = ANY, .access = R | W },  /* wildcard    */
	{ .type = 'c', .major = 242, .minor = 0, .access = R },        /* read-only   */
};
static const struct vj_rule hotplug_rule = { .type = 'c', .major = 241, .minor = 0, .access = R | W };

struct fixture {
	char *cg;
	int cg_fd;
	struct vj_devfilter *f;
	char *pin;
	int map_fd;
};

static char *node(const char *name)
{
	return vj_path_join(dev_dir, name);
}

static int make_node(const char *name, mode_t type, unsigned maj, unsigned min)
{
	_cleanup_free_ char *p = node(name);

	return p && mknod(p, type | 0666, makedev(maj, min)) == 0 ? 0 : -1;
}

static int group_teardown(void **state);

static int group_prepare(void)
{
	struct vj_error *err = NULL;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	if (!mkdtemp(dev_dir) || !mkdtemp(bpffs_dir))
		return -1;
	if (mount("vfiojail-test", dev_dir, "tmpfs", 0, "mode=0755") < 0)
		return -1;
	dev_mounted = true;
	if (mount("bpf", bpffs_dir, "bpf", 0, "mode=0700") < 0)
		return -1;
	bpffs_mounted = true;
	if (make_node("null", S_IFCHR, 1, 3) < 0 || make_node("c240_0", S_IFCHR, 240, 0) < 0 ||
	    make_node("c240_7", S_IFCHR, 240, 7) < 0 || make_node("c241_0", S_IFCHR, 241, 0) < 0 ||
	    make_node("c242_0", S_IFCHR, 242, 0) < 0 || make_node("b240_0", S_IFBLK, 240, 0) < 0 ||
	    make_node("c243_0", S_IFCHR, 243, 0) < 0)
		return -1;
	if (vj_cgroup2_root(NULL, &cg_root, &err) < 0) {
		vj_error_print(err, stderr);
		vj_error_free(err);
		return -1;
	}
	return 0;
}

static int group_setup(void **state)
{
	if (group_prepare() == 0)
		return 0;
	perror("test_devfilter setup");
	group_teardown(state);
	return -1;
}

static int group_teardown(void **state)
{
	/* Unmounting the tmpfs drops the nodes; unmounting the bpffs drops any pin. */
	if (dev_mounted)
		umount2(dev_dir, MNT_DETACH);
	if (bpffs_mounted)
		umount2(bpffs_dir, MNT_DETACH);
	rmdir(dev_dir);
	rmdir(bpffs_dir);
	free(cg_root);
	return 0;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct vj_error *err = NULL;
	_cleanup_free_ char *name = NULL;

	if (!fx)
		return -1;
	*state = fx;
	fx->cg_fd = -1;
	fx->map_fd = -1;
	fx->cg = vj_strdupf("%s/vfiojail-test-%ld-%u", cg_root, (long)getpid(), counter);
	name = vj_strdupf("test-%u", counter++);
	fx->pin = vj_devfilter_pin_dir(bpffs_dir, name);
	if (!fx->cg || !fx->pin || vj_cgroup_create(fx->cg, &err) < 0)
		goto fail;
	fx->cg_fd = vj_cgroup_open(fx->cg, &err);
	if (fx->cg_fd < 0)
		goto fail;
	return 0;
fail:
	vj_error_print(err, stderr);
	vj_error_free(err);
	return -1;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;

	vj_devfilter_free(fx->f);
	if (fx->map_fd >= 0)
		close(fx->map_fd);
	if (fx->pin)
		vj_devfilter_unpin_dir(fx->pin, &err);
	if (fx->cg_fd >= 0)
		close(fx->cg_fd);
	if (fx->cg) {
		vj_cgroup_kill(fx->cg, &err);
		vj_cgroup_remove(fx->cg, &err);
	}
	if (err) {
		vj_error_print(err, stderr);
		vj_error_free(err);
	}
	free(fx->pin);
	free(fx->cg);
	free(fx);
	return 0;
}

/* open(@name, @flags) from a child inside the cgroup: 0 or the errno. */
static int probe(struct fixture *fx, const char *name, int flags)
{
	_cleanup_free_ char *p = node(name);
	int pipefd[2], result = -1, status = 0;
	pid_t pid;

	assert_non_null(p);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vj_error *err = NULL;
		int fd, r = -1;
		if (vj_cgroup_enter(fx->cg, 0, &err) == 0) {
			fd = open(p, flags | O_CLOEXEC | O_NOCTTY);
			r = fd >= 0 ? 0 : errno;
		}
		_exit(write(pipefd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &result, sizeof(result)), sizeof(result));
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(result >= 0); /* the child got into the cgroup */
	return result;
}

/* The BPF_CGROUP_DEVICE programs attached to the cgroup itself. */
static unsigned attached(struct fixture *fx, uint32_t *first_id)
{
	__u32 ids[8] = { 0 }, cnt = 8, flags = 0;

	assert_int_equal(bpf_prog_query(fx->cg_fd, BPF_CGROUP_DEVICE, 0, &flags, ids, &cnt), 0);
	if (first_id)
		*first_id = ids[0];
	return cnt;
}

/* Link release after an unpin is deferred to a workqueue in the kernel: wait a little. */
static unsigned attached_settled(struct fixture *fx, unsigned want)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };
	unsigned n = 0;
	int i;

	for (i = 0; i < 200; i++) {
		n = attached(fx, NULL);
		if (n == want)
			break;
		nanosleep(&ts, NULL);
	}
	return n;
}

static void load_attach(struct fixture *fx, const struct vj_rule *rules, size_t n)
{
	struct vj_error *err = NULL;

	if (vj_devfilter_load(rules, n, &fx->f, &err) < 0 ||
	    vj_devfilter_attach(fx->f, fx->cg_fd, fx->cg, &err) < 0)
		vj_error_print(err, stderr);
	assert_null(err);
}

static void pin_and_open(struct fixture *fx)
{
	struct vj_error *err = NULL;

	if (vj_devfilter_pin(fx->f, fx->pin, &err) < 0 ||
	    vj_devfilter_open_pinned(fx->pin, &fx->map_fd, NULL, &err) < 0)
		vj_error_print(err, stderr);
	assert_null(err);
}

static void assert_devfilter_error(struct vj_error *err, const char *object_part)
{
	assert_error_of(err, VJ_EXIT_SETUP, "devfilter", object_part);
}

/* ---------------------------------------------------------------------- */

static void test_attach_enforces_rules(void **state)
{
	struct fixture *fx = *state;
	uint32_t id = 0;

	/* Without the filter every stand-in reaches its (missing) driver. */
	assert_int_equal(probe(fx, "c241_0", O_RDONLY), ENXIO);
	assert_int_equal(probe(fx, "c242_0", O_WRONLY), ENXIO);
	assert_int_equal(attached(fx, NULL), 0);

	load_attach(fx, base_rules, ARRAY_SIZE(base_rules));
	assert_int_equal(attached(fx, &id), 1);
	assert_int_equal(id, vj_devfilter_prog_id(fx->f));
	assert_true(id != 0);

	assert_int_equal(probe(fx, "null", O_RDWR), 0);
	assert_int_equal(probe(fx, "c240_0", O_RDWR), ENXIO);      /* allowed by 240:*  */
	assert_int_equal(probe(fx, "c240_7", O_RDONLY), ENXIO);    /* allowed by 240:*  */
	assert_int_equal(probe(fx, "c241_0", O_RDONLY), EPERM);    /* no rule           */
	assert_int_equal(probe(fx, "c242_0", O_RDONLY), ENXIO);    /* read-only rule    */
	assert_int_equal(probe(fx, "c242_0", O_WRONLY), EPERM);
	assert_int_equal(probe(fx, "c242_0", O_RDWR), EPERM);
	assert_int_equal(probe(fx, "b240_0", O_RDONLY), EPERM);    /* type is in the key */
}

static void test_free_unpinned_detaches(void **state)
{
	struct fixture *fx = *state;

	load_attach(fx, base_rules, ARRAY_SIZE(base_rules));
	assert_int_equal(probe(fx, "c241_0", O_RDONLY), EPERM);
	vj_devfilter_free(TAKE_PTR(fx->f));
	assert_int_equal(attached_settled(fx, 0), 0);
	assert_int_equal(probe(fx, "c241_0", O_RDONLY), ENXIO);
}

static void test_hotplug_update_then_delete(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;

	load_attach(fx, base_rules, ARRAY_SIZE(base_rules));
	pin_and_open(fx);
	assert_int_equal(probe(fx, "c241_0", O_RDWR), EPERM);
	assert_int_equal(vj_devfilter_map_update(fx->map_fd, &hotplug_rule, &err), 0);
	assert_int_equal(probe(fx, "c241_0", O_RDWR), ENXIO);
	assert_int_equal(vj_devfilter_map_delete(fx->map_fd, &hotplug_rule, &err), 0);
	assert_int_equal(probe(fx, "c241_0", O_RDWR), EPERM);
	/* Deleting what is not there says so, naming the rule. */
	assert_int_equal(vj_devfilter_map_delete(fx->map_fd, &hotplug_rule, &err), -1);
	assert_devfilter_error(err, "241:0");
	assert_int_equal(err->errnum, ENOENT);
	vj_error_free(err);
}

static void test_pin_survives_free_and_dumps_rules(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	struct vj_rule *dump = NULL;
	size_t n = 0, i;
	_cleanup_free_ char *link = vj_path_join(fx->pin, "link");
	_cleanup_free_ char *rules = vj_path_join(fx->pin, "rules");
	int link_fd = -1;
	uint32_t id;

	load_attach(fx, base_rules, ARRAY_SIZE(base_rules));
	id = vj_devfilter_prog_id(fx->f);
	assert_int_equal(vj_devfilter_pin(fx->f, fx->pin, &err), 0);
	assert_int_equal(access(link, F_OK), 0);
	assert_int_equal(access(rules, F_OK), 0);

	/* The manager exits: the pinned link keeps the filter on the cgroup. */
	vj_devfilter_free(TAKE_PTR(fx->f));
	assert_int_equal(attached(fx, NULL), 1);
	assert_int_equal(probe(fx, "c241_0", O_RDONLY), EPERM);

	assert_int_equal(vj_devfilter_open_pinned(fx->pin, &fx->map_fd, &link_fd, &err), 0);
	assert_true(link_fd >= 0);
	close(link_fd);
	assert_int_equal(vj_devfilter_map_dump(fx->map_fd, &dump, &n, &err), 0);
	assert_int_equal(n, ARRAY_SIZE(base_rules));
	for (i = 0; i < n; i++) { /* base_rules is sorted by type, major, minor */
		assert_int_equal(dump[i].type, base_rules[i].type);
		assert_int_equal(dump[i].major, base_rules[i].major);
		assert_int_equal(dump[i].minor, base_rules[i].minor);
		assert_int_equal(dump[i].access, base_rules[i].access);
	}
	vj_devfilter_rules_free(dump, n);
	assert_int_equal(attached(fx, &id), 1);
	close(fx->map_fd);
	fx->map_fd = -1;

	/* Unpinning removes exactly what was pinned, and the filter goes. */
	assert_int_equal(vj_devfilter_unpin_dir(fx->pin, &err), 0);
	assert_int_equal(access(fx->pin, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(attached_settled(fx, 0), 0);
	assert_int_equal(probe(fx, "c241_0", O_RDONLY), ENXIO);
	assert_int_equal(vj_devfilter_unpin_dir(fx->pin, &err), 0); /* idempotent */
	assert_null(err);
}

static void test_map_is_sized_for_the_rules(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	struct vj_rule rules[40];
	struct vj_rule extra = { .type = 'c', .minor = 0, .access = R };
	unsigned i;

	memset(rules, 0, sizeof(rules));
	for (i = 0; i < ARRAY_SIZE(rules); i++)
		rules[i] = (struct vj_rule){ .type = 'b', .major = 300 + i, .minor = ANY, .access = R };
	load_attach(fx, rules, ARRAY_SIZE(rules));
	pin_and_open(fx);
	/* 40 rules get the minimum, 512 entries: 472 more fit, the next one does not. */
	for (i = 0; i < 472; i++) {
		extra.major = 1000 + i;
		assert_int_equal(vj_devfilter_map_update(fx->map_fd, &extra, &err), 0);
	}
	extra.major = 2000;
	assert_int_equal(vj_devfilter_map_update(fx->map_fd, &extra, &err), -1);
	assert_devfilter_error(err, "2000:0");
	assert_int_equal(err->errnum, E2BIG);
	assert_non_null(err->hint);
	vj_error_free(err);
}

static void test_bad_rules_are_rejected(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	const struct vj_rule bad_type[] = { { .type = 'x', .major = 1, .minor = 3, .access = R } };
	const struct vj_rule bad_wild = { .type = 'c', .major = ANY, .minor = 3, .access = R };
	const struct vj_rule no_access = { .type = 'c', .major = 1, .minor = 3, .access = 0 };

	assert_int_equal(vj_devfilter_load(bad_type, 1, &fx->f, &err), -1);
	assert_null(fx->f);
	assert_devfilter_error(err, "1:3");
	assert_int_equal(err->errnum, EINVAL);
	vj_error_free(TAKE_PTR(err));

	load_attach(fx, base_rules, ARRAY_SIZE(base_rules));
	pin_and_open(fx);
	assert_int_equal(vj_devfilter_map_update(fx->map_fd, &bad_wild, &err), -1);
	assert_devfilter_error(err, "*:3");
	vj_error_free(TAKE_PTR(err));
	assert_int_equal(vj_devfilter_map_update(fx->map_fd, &no_access, &err), -1);
	assert_devfilter_error(err, "1:3");
	vj_error_free(err);
}

static void test_attach_to_non_cgroup_fails_closed(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	_cleanup_close_ int fd = open(dev_dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(vj_devfilter_load(base_rules, ARRAY_SIZE(base_rules), &fx->f, &err), 0);
	assert_int_equal(vj_devfilter_attach(fx->f, fd, dev_dir, &err), -1);
	assert_devfilter_error(err, dev_dir);
	assert_true(err->errnum != 0);
	vj_error_free(TAKE_PTR(err));
	/* Nothing to pin: it is not attached. */
	assert_int_equal(vj_devfilter_pin(fx->f, fx->pin, &err), -1);
	assert_devfilter_error(err, fx->pin);
	vj_error_free(err);
	assert_int_equal(access(fx->pin, F_OK), -1);
}

static void test_pin_outside_bpffs_fails(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	_cleanup_free_ char *dir = vj_path_join(dev_dir, "pins/vm");
	_cleanup_free_ char *parent = vj_path_join(dev_dir, "pins");

	load_attach(fx, base_rules, ARRAY_SIZE(base_rules));
	assert_int_equal(vj_devfilter_pin(fx->f, dir, &err), -1);
	assert_devfilter_error(err, dir);
	assert_non_null(err->hint);
	assert_contains(err->hint, "mount -t bpf");
	vj_error_free(err);
	assert_int_equal(access(parent, F_OK), -1); /* nothing created on the wrong fs */
}

static void test_pin_over_leftover_fails(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	struct vj_devfilter *second = NULL;
	struct vj_rule *dump = NULL;
	size_t n = 0;

	load_attach(fx, base_rules, ARRAY_SIZE(base_rules));
	pin_and_open(fx);
	assert_int_equal(vj_devfilter_load(&hotplug_rule, 1, &second, &err), 0);
	assert_int_equal(vj_devfilter_attach(second, fx->cg_fd, fx->cg, &err), 0);
	assert_int_equal(attached(fx, NULL), 2);
	assert_int_equal(vj_devfilter_pin(second, fx->pin, &err), -1);
	vj_devfilter_free(second);
	assert_devfilter_error(err, "link");
	assert_int_equal(err->errnum, EEXIST);
	vj_error_free(err);
	err = NULL;
	/* The first filter's pins are untouched. */
	assert_int_equal(attached_settled(fx, 1), 1);
	assert_int_equal(vj_devfilter_map_dump(fx->map_fd, &dump, &n, &err), 0);
	assert_int_equal(n, ARRAY_SIZE(base_rules));
	vj_devfilter_rules_free(dump, n);
	assert_int_equal(probe(fx, "c241_0", O_RDONLY), EPERM);
}

static void test_open_pinned_missing_fails(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	int map_fd = -1;

	assert_int_equal(vj_devfilter_open_pinned(fx->pin, &map_fd, NULL, &err), -1);
	assert_int_equal(map_fd, -1);
	assert_devfilter_error(err, fx->pin);
	assert_int_equal(err->errnum, ENOENT);
	vj_error_free(err);
}

/* The pinned link's id and program id, and the pinned map's max_entries and rules. */
struct pinned {
	uint32_t link_id, prog_id, max_entries;
	size_t n_rules;
};

static struct pinned pinned_now(struct fixture *fx)
{
	struct vj_error *err = NULL;
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	struct pinned p = { 0 };
	struct vj_rule *dump = NULL;
	int map_fd = -1, link_fd = -1;

	if (vj_devfilter_open_pinned(fx->pin, &map_fd, &link_fd, &err) < 0)
		vj_error_print(err, stderr);
	assert_null(err);
	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(link_fd, &info, &len), 0);
	p.link_id = info.id;
	p.prog_id = info.prog_id;
	assert_int_equal(vj_devfilter_map_max_entries(map_fd, &p.max_entries, &err), 0);
	assert_int_equal(vj_devfilter_map_dump(map_fd, &dump, &p.n_rules, &err), 0);
	vj_devfilter_rules_free(dump, p.n_rules);
	close(map_fd);
	close(link_fd);
	return p;
}

/* base_rules, hotplug_rule and block-device fillers: @n rules in all. */
static struct vj_rule *grown_rules(size_t n)
{
	struct vj_rule *all = calloc(n, sizeof(*all));
	size_t i;

	assert_non_null(all);
	assert_true(n > ARRAY_SIZE(base_rules) + 1);
	memcpy(all, base_rules, sizeof(base_rules));
	all[ARRAY_SIZE(base_rules)] = hotplug_rule;
	for (i = ARRAY_SIZE(base_rules) + 1; i < n; i++)
		all[i] = (struct vj_rule){ .type = 'b', .major = 300 + (uint32_t)i, .minor = ANY,
					   .access = R };
	return all;
}

static void test_replace_grows_past_the_map_size(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	struct vj_devfilter_swap *swap = NULL;
	_cleanup_free_ struct vj_rule *all = grown_rules(600);
	_cleanup_free_ char *tmp = vj_path_join(fx->pin, "rules-grow");
	struct pinned before, after, back;
	uint32_t id = 0;

	load_attach(fx, base_rules, ARRAY_SIZE(base_rules));
	pin_and_open(fx);
	before = pinned_now(fx);
	assert_int_equal(before.max_entries, 512);
	assert_int_equal(before.n_rules, ARRAY_SIZE(base_rules));
	assert_int_equal(probe(fx, "c241_0", O_RDWR), EPERM);

	/* 600 rules: more than the map holds, so a bigger filter goes in. */
	if (vj_devfilter_replace(fx->pin, fx->cg_fd, all, 600, &swap, &err) < 0)
		vj_error_print(err, stderr);
	assert_null(err);
	assert_non_null(swap);
	after = pinned_now(fx);
	assert_int_equal(after.link_id, before.link_id);   /* the same link */
	assert_true(after.prog_id != before.prog_id);
	assert_int_equal(after.max_entries, 2048);         /* pow2 >= 2 * 600 */
	assert_int_equal(after.n_rules, 600);
	assert_int_equal(attached(fx, &id), 1);
	assert_int_equal(id, after.prog_id);
	assert_int_equal(access(tmp, F_OK), -1);           /* no temporary pin left */
	assert_int_equal(probe(fx, "null", O_RDWR), 0);          /* old rules allow */
	assert_int_equal(probe(fx, "c240_7", O_RDONLY), ENXIO);
	assert_int_equal(probe(fx, "c241_0", O_RDWR), ENXIO);    /* the new one allows */
	assert_int_equal(probe(fx, "c242_0", O_WRONLY), EPERM);  /* still read-only */
	assert_int_equal(probe(fx, "c243_0", O_RDONLY), EPERM);  /* unlisted */
	assert_int_equal(probe(fx, "b240_0", O_RDONLY), EPERM);

	/* The rollback puts the old program and map back, on the same link. */
	if (vj_devfilter_swap_rollback(swap, &err) < 0)
		vj_error_print(err, stderr);
	assert_null(err);
	vj_devfilter_swap_free(swap);
	back = pinned_now(fx);
	assert_int_equal(back.link_id, before.link_id);
	assert_int_equal(back.prog_id, before.prog_id);
	assert_int_equal(back.max_entries, 512);
	assert_int_equal(back.n_rules, ARRAY_SIZE(base_rules));
	assert_int_equal(attached(fx, &id), 1);
	assert_int_equal(id, before.prog_id);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(probe(fx, "c241_0", O_RDWR), EPERM);
	assert_int_equal(probe(fx, "c240_7", O_RDONLY), ENXIO);
	/* The pinned map is the old one itself: an update through it is enforced. */
	assert_int_equal(vj_devfilter_map_update(fx->map_fd, &hotplug_rule, &err), 0);
	assert_int_equal(probe(fx, "c241_0", O_RDWR), ENXIO);
}

static void test_replace_failure_changes_nothing(void **state)
{
	struct fixture *fx = *state;
	struct vj_error *err = NULL;
	struct vj_devfilter_swap *swap = NULL;
	_cleanup_free_ struct vj_rule *all = grown_rules(600);
	struct pinned before, after;

	load_attach(fx, base_rules, ARRAY_SIZE(base_rules));
	pin_and_open(fx);
	before = pinned_now(fx);
	all[599] = (struct vj_rule){ .type = 'c', .major = 5000, .minor = 0, .access = R };
	assert_int_equal(vj_devfilter_replace(fx->pin, fx->cg_fd, all, 600, &swap, &err), -1);
	assert_null(swap);
	assert_devfilter_error(err, "5000:0");
	vj_error_free(TAKE_PTR(err));
	/* A jail without pins: nothing to replace, said so. */
	assert_int_equal(vj_devfilter_replace(bpffs_dir, fx->cg_fd, all, 10, &swap, &err), -1);
	assert_null(swap);
	assert_devfilter_error(err, bpffs_dir);
	assert_int_equal(err->errnum, ENOENT);
	vj_error_free(err);
	after = pinned_now(fx);
	assert_int_equal(after.link_id, before.link_id);
	assert_int_equal(after.prog_id, before.prog_id);
	assert_int_equal(after.max_entries, before.max_entries);
	assert_int_equal(after.n_rules, before.n_rules);
	assert_int_equal(probe(fx, "c241_0", O_RDWR), EPERM);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_attach_enforces_rules),
		T(test_free_unpinned_detaches),
		T(test_hotplug_update_then_delete),
		T(test_pin_survives_free_and_dumps_rules),
		T(test_map_is_sized_for_the_rules),
		T(test_bad_rules_are_rejected),
		T(test_attach_to_non_cgroup_fails_closed),
		T(test_pin_outside_bpffs_fails),
		T(test_pin_over_leftover_fails),
		T(test_open_pinned_missing_fails),
		T(test_replace_grows_past_the_map_size),
		T(test_replace_failure_changes_nothing),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_devfilter needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
