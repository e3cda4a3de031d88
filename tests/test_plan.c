/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The plan of a VM with many devices, built from a stand-in /dev (needs root for
 * mknod): nodes and rules de-duplicated, host ACLs found, symlinks refused; and
 * the state file that keeps that plan, written and read back.
 */
#include <fcntl.h>
#include <sys/acl.h>
#include <sys/sysmacros.h>

#include <json-c/json.h>

#include "plan.h"
#include "plan_fields.h"
#include "plan_json.h"
#include "state.h"
#include "testlib.h"
#include "util.h"
#include "vfiojail/vfiojail.h"

#define N_BENCH 300
#define BENCH_MAJOR 240u
#define N_DEFAULTS 6 /* null zero full random urandom ptmx: no kvm, no userfaultfd */
#define N_PTS_RULES 8

struct fixture {
	char root[64]; /* holds dev/ and state/ */
	char dev[96];
	char state[96];
};

static void at(const struct fixture *f, const char *rel, char out[static 256])
{
	snprintf(out, 256, "%s/%s", f->dev, rel);
}

static void node(const struct fixture *f, const char *rel, unsigned maj, unsigned min)
{
	char p[256];

	at(f, rel, p);
	assert_int_equal(mknod(p, S_IFCHR | 0600, makedev(maj, min)), 0);
}

static int setup(void **state)
{
	static const struct {
		const char *name;
		unsigned maj, min;
	} defaults[] = { { "null", 1, 3 }, { "zero", 1, 5 },	  { "full", 1, 7 },
			 { "random", 1, 8 }, { "urandom", 1, 9 }, { "ptmx", 5, 2 } };
	struct fixture *f;
	char p[256];
	acl_t acl;

	if (geteuid() != 0)
		return 0; /* each test skips */
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/vj-plan-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dev, sizeof(f->dev), "%s/dev", f->root);
	snprintf(f->state, sizeof(f->state), "%s/state", f->root);
	assert_int_equal(mkdir(f->dev, 0755), 0);
	for (size_t i = 0; i < ARRAY_SIZE(defaults); i++)
		node(f, defaults[i].name, defaults[i].maj, defaults[i].min);
	at(f, "bench", p);
	assert_int_equal(mkdir(p, 0755), 0);
	for (unsigned k = 0; k < N_BENCH; k++) {
		char rel[32];
		snprintf(rel, sizeof(rel), "bench/d%u", k);
		node(f, rel, BENCH_MAJOR, k);
	}
	node(f, "bench/again", BENCH_MAJOR, 7); /* the same device as bench/d7 */
	node(f, "withacl", 10, 200);
	at(f, "withacl", p);
	acl = acl_from_text("u::rw-,u:daemon:rw-,g::---,m::rw-,o::---");
	assert_non_null(acl);
	assert_int_equal(acl_set_file(p, ACL_TYPE_ACCESS, acl), 0);
	acl_free(acl);
	at(f, "link", p);
	assert_int_equal(symlink("bench", p), 0); /* a symlinked directory */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	assert_int_equal(rm_tree(f->root), 0);
	free(f);
	return 0;
}

/* A spec of the bench devices, bench/again, withacl and, when given, @extra. */
static struct vj_spec *bench_spec(const char *extra)
{
	struct vj_spec *spec = vj_spec_new();
	struct vj_error *err = NULL;
	char p[64];

	assert_non_null(spec);
	assert_int_equal(vj_spec_set_flag(spec, "name", "vm", &err), 0);
	assert_int_equal(vj_spec_set_flag(spec, "user", "nobody", &err), 0);
	for (unsigned k = 0; k < N_BENCH; k++) {
		snprintf(p, sizeof(p), "/dev/bench/d%u", k);
		assert_int_equal(vj_spec_set_flag(spec, "device", p, &err), 0);
	}
	assert_int_equal(vj_spec_set_flag(spec, "device", "/dev/bench/again:r", &err), 0);
	assert_int_equal(vj_spec_set_flag(spec, "device", "/dev/withacl", &err), 0);
	assert_int_equal(vj_spec_set_flag(spec, "device", "/dev/null:r", &err), 0);
	if (extra)
		assert_int_equal(vj_spec_set_flag(spec, "device", extra, &err), 0);
	assert_int_equal(vj_spec_finish(spec, &err), 0);
	return spec;
}

static struct vj_plan *build(const struct fixture *f, const struct vj_spec *spec,
			     struct vj_error **err)
{
	struct vj_plan_opts o = { .roots = { .dev = f->dev } };
	struct vj_plan *plan = NULL;

	if (vj_plan_build(spec, &o, &plan, err) < 0)
		return NULL;
	assert_non_null(plan);
	return plan;
}

static const struct vj_node *find_node(const struct vj_plan *p, const char *path)
{
	for (size_t i = 0; i < p->n_nodes; i++)
		if (!strcmp(p->nodes[i].path, path))
			return &p->nodes[i];
	return NULL;
}

static const struct vj_rule *find_rule(const struct vj_plan *p, unsigned maj, unsigned min)
{
	const struct vj_rule *found = NULL;

	for (size_t i = 0; i < p->n_rules; i++) {
		if (p->rules[i].type != 'c' || p->rules[i].major != maj || p->rules[i].minor != min)
			continue;
		assert_null(found); /* one rule per device */
		found = &p->rules[i];
	}
	return found;
}

static void test_many_devices(void **state)
{
	struct fixture *f = fixture_or_skip(state);
	struct vj_spec *spec = bench_spec(NULL);
	struct vj_error *err = NULL;
	struct vj_plan *p = build(f, spec, &err);
	const struct vj_node *n;
	const struct vj_rule *r;
	char path[256];

	if (!p) {
		vj_error_print(err, stderr);
		fail();
	}
	/* Defaults, the bench nodes in spec order, again, withacl; /dev/null merged. */
	assert_int_equal(p->n_nodes, N_DEFAULTS + N_BENCH + 2);
	for (unsigned k = 0; k < N_BENCH; k++) {
		n = &p->nodes[N_DEFAULTS + k];
		snprintf(path, sizeof(path), "/dev/bench/d%u", k);
		assert_string_equal(n->path, path);
		assert_int_equal(n->minor, k);
		snprintf(path, sizeof(path), "%s/bench/d%u", f->dev, k);
		assert_string_equal(n->host_path, path);
		assert_false(n->copy_acl); /* no ACL on the host node */
	}
	n = find_node(p, "/dev/null");
	assert_non_null(n);
	assert_int_equal(n->access, VJ_ACC_READ | VJ_ACC_WRITE);
	assert_string_equal(n->reason, "default pseudo-device; listed in the spec's devices");
	n = find_node(p, "/dev/withacl");
	assert_non_null(n);
	assert_true(n->copy_acl);

	/* One rule per device: the pts majors, 6 defaults, the bench devices, withacl. */
	assert_int_equal(p->n_rules, N_PTS_RULES + N_DEFAULTS + N_BENCH + 1);
	r = find_rule(p, BENCH_MAJOR, 7);
	assert_non_null(r);
	assert_int_equal(r->access, VJ_ACC_READ | VJ_ACC_WRITE);
	assert_string_equal(r->reason, "/dev/bench/d7; /dev/bench/again");
	r = find_rule(p, BENCH_MAJOR, N_BENCH - 1);
	assert_non_null(r);
	assert_string_equal(r->reason, "/dev/bench/d299");
	vj_plan_free(p);
	vj_spec_free(spec);
}

static void expect_refused(const struct fixture *f, const char *device, const char *object,
			   const char *needle)
{
	struct vj_spec *spec = bench_spec(device);
	struct vj_error *err = NULL;

	assert_null(build(f, spec, &err));
	assert_non_null(err);
	assert_int_equal(err->status, VJ_EXIT_SETUP);
	assert_string_equal(err->object, object);
	if (!strstr(err->message, needle))
		fail_msg("%s: \"%s\" lacks \"%s\"", device, err->message, needle);
	vj_error_free(err);
	vj_spec_free(spec);
}

static void test_refusals(void **state)
{
	struct fixture *f = fixture_or_skip(state);
	char field[32];

	snprintf(field, sizeof(field), "devices[%d]", N_BENCH + 3);
	/* Through a symlinked directory, right after a node of the directory it
	 * points to was looked up: the open directory is not reused for it. */
	expect_refused(f, "/dev/link/d1", field, "is not a device node");
	expect_refused(f, "/dev/bench", field, "is not a device node");
	expect_refused(f, "/dev/bench/none", field, "cannot use /dev/bench/none");
	expect_refused(f, "/dev/none/d1", field, "cannot use /dev/none/d1");
}

static void test_state_round_trip(void **state)
{
	struct fixture *f = fixture_or_skip(state);
	struct vj_spec *spec = bench_spec(NULL);
	struct vj_error *err = NULL;
	struct vj_plan *p = build(f, spec, &err);
	struct vj_state st = { 0 }, back;
	struct vj_state_change change = { 0 };
	const char *odd = "/dev/odd \"quoted\" back\\slash\ttab\x01 caf\xc3\xa9";
	int dirfd;

	assert_non_null(p);
	/* A string that needs every kind of escape. */
	free(p->nodes[N_DEFAULTS].host_path);
	p->nodes[N_DEFAULTS].host_path = strdup(odd);
	p->memlock.unchanged = false;
	p->memlock.bytes = UINT64_C(1) << 40;
	st = (struct vj_state){ .name = "vm", .kind = VJ_STATE_SETUP, .cgroup = "/sys/fs/cgroup/x",
				.bpf_pin = "/sys/fs/bpf/vfiojail/vm", .ns_path = "/run/ns/vm",
				.owner = 42, .owner_start = UINT64_C(123456789012),
				.plan = p, .spec = "{\"name\": \"vm\", \"n\": [1, 2]}",
				.dev_root = f->dev, .iommufd_best_effort = true };
	/* The ledger and a change under way, as attach writes them. */
	st.ledger = VJ_STEP_BIT(VJ_STEP_CGROUP) | VJ_STEP_BIT(VJ_STEP_FILTER) | VJ_STEP_BIT(VJ_STEP_NAMESPACE);
	change.plan = vj_plan_dup(p);
	assert_non_null(change.plan);
	change.plan->n_nodes--;
	change.plan->memlock.unlimited = true;
	change.spec = "{\"name\":\"vm\"}";
	change.steps = VJ_STEP_BIT(VJ_STEP_NODES) | VJ_STEP_BIT(VJ_STEP_RULES);
	st.change = &change;
	assert_int_equal(mkdir(f->state, 0700), 0);
	dirfd = vj_state_dir_open(f->state, &err);
	assert_true(dirfd >= 0);
	assert_int_equal(vj_state_write(dirfd, &st, &err), 0);
	assert_int_equal(vj_state_read(dirfd, "vm", &back, &err), 0);

	assert_string_equal(back.name, "vm");
	assert_int_equal(back.kind, VJ_STATE_SETUP);
	assert_string_equal(back.cgroup, st.cgroup);
	assert_string_equal(back.bpf_pin, st.bpf_pin);
	assert_string_equal(back.ns_path, st.ns_path);
	assert_int_equal(back.owner, 42);
	assert_int_equal(back.owner_start, st.owner_start);
	assert_string_equal(back.spec, "{\"name\":\"vm\",\"n\":[1,2]}");
	assert_string_equal(back.dev_root, f->dev);
	assert_null(back.sysfs_root);
	assert_null(back.cgroup_parent);
	assert_true(back.iommufd_best_effort);
	assert_int_equal(back.plan->uid, p->uid);
	assert_int_equal(back.plan->memlock.bytes, p->memlock.bytes);
	assert_int_equal(back.plan->n_nodes, p->n_nodes);
	for (size_t i = 0; i < p->n_nodes; i++) {
		const struct vj_node *a = &p->nodes[i], *b = &back.plan->nodes[i];
		assert_string_equal(b->path, a->path);
		assert_string_equal(b->host_path, a->host_path);
		assert_true(b->type == a->type && b->major == a->major && b->minor == a->minor);
		assert_true(b->access == a->access && b->uid == a->uid && b->gid == a->gid);
		assert_true(b->mode == a->mode && b->copy_acl == a->copy_acl);
	}
	assert_string_equal(back.plan->nodes[N_DEFAULTS].host_path, odd);
	assert_int_equal(back.plan->n_rules, p->n_rules);
	for (size_t i = 0; i < p->n_rules; i++)
		assert_memory_equal(&back.plan->rules[i].type, &p->rules[i].type, 1);
	assert_int_equal(back.plan->rules[0].minor, VJ_RULE_ANY);
	assert_int_equal(back.ledger, st.ledger);
	assert_non_null(back.change);
	assert_int_equal(back.change->steps, change.steps);
	assert_int_equal(back.change->plan->n_nodes, p->n_nodes - 1);
	assert_true(back.change->plan->memlock.unlimited);
	assert_string_equal(back.change->spec, "{\"name\":\"vm\"}");

	vj_state_clear(&back);
	assert_int_equal(vj_state_remove(dirfd, "vm", &err), 0);
	close(dirfd);
	change.plan->n_nodes++;
	vj_plan_free(change.plan);
	vj_plan_free(p);
	vj_spec_free(spec);
}

/* A hostdev of the fixture GPU host, handed as an fd or not. */
static struct vj_plan *gpu_plan(const struct fixture *f, const char *hostdev)
{
	const char *fx = getenv("VJ_FIXTURES");
	struct vj_spec *spec = vj_spec_new();
	struct vj_error *err = NULL;
	struct vj_plan *plan = NULL;
	char *sys;

	assert_non_null(fx);
	sys = pathf("%s/gpu-iommufd/sys", fx);
	struct vj_plan_opts o = { .roots = { .dev = f->dev, .sysfs = sys } };
	assert_non_null(spec);
	assert_int_equal(vj_spec_set_flag(spec, "name", "vm", &err), 0);
	assert_int_equal(vj_spec_set_flag(spec, "user", "nobody", &err), 0);
	assert_int_equal(vj_spec_set_flag(spec, "memory", "1GiB", &err), 0);
	assert_int_equal(vj_spec_set_flag(spec, "hostdev", hostdev, &err), 0);
	assert_int_equal(vj_spec_finish(spec, &err), 0);
	if (vj_plan_build(spec, &o, &plan, &err) != 0)
		fail_msg("%s: %s", err->object, err->message);
	vj_spec_free(spec);
	free(sys);
	return plan;
}

/* Handed as an fd, a hostdev has no node in the jail and no rule in its filter;
 * the plan keeps its cdev and device number (to check the fd opened), /dev/iommu
 * stays.  Without fd, the node and its rule as before. */
static void test_hostdev_fd(void **state)
{
	struct fixture *f = fixture_or_skip(state);
	struct vj_plan *p = gpu_plan(f, "0009:06:00.0,fd=gpu0");
	const struct vj_hostdev_plan *h = &p->hostdevs[0];

	assert_int_equal(p->n_hostdevs, 1);
	assert_string_equal(h->fd, "gpu0");
	assert_string_equal(h->node, "/dev/vfio/devices/vfio0");
	assert_int_equal(h->major, 240);
	assert_int_equal(h->minor, 0);
	assert_null(find_node(p, "/dev/vfio/devices/vfio0"));
	assert_null(find_rule(p, 240, 0));
	assert_non_null(find_node(p, "/dev/iommu"));
	assert_non_null(find_rule(p, 10, 120));
	vj_plan_free(p);

	p = gpu_plan(f, "0009:06:00.0");
	assert_null(p->hostdevs[0].fd);
	assert_int_equal(p->hostdevs[0].major, 240);
	assert_non_null(find_node(p, "/dev/vfio/devices/vfio0"));
	assert_non_null(find_rule(p, 240, 0));
	vj_plan_free(p);
}

/* plan -> state -> plan keeps "fd" and the device number, with and without fd;
 * an older state without those keys reads as no fd. */
static void test_hostdev_fd_state(void **state)
{
	struct fixture *f = fixture_or_skip(state);
	static const char *const forms[] = { "0009:06:00.0,fd=gpu0", "0009:06:00.0" };
	struct vj_error *err = NULL;
	int dirfd;

	assert_int_equal(mkdir(f->state, 0700), 0);
	dirfd = vj_state_dir_open(f->state, &err);
	assert_true(dirfd >= 0);
	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		struct vj_plan *p = gpu_plan(f, forms[i]);
		struct vj_state st = { .name = "vm", .kind = VJ_STATE_SETUP, .cgroup = "/sys/fs/cgroup/x",
				       .bpf_pin = "/sys/fs/bpf/vfiojail/vm", .ns_path = "/run/ns/vm",
				       .plan = p, .spec = "{\"name\": \"vm\"}", .dev_root = f->dev },
				back;

		assert_int_equal(vj_state_write(dirfd, &st, &err), 0);
		if (vj_state_read(dirfd, "vm", &back, &err) != 0)
			fail_msg("%s: %s", err->object, err->message);
		const struct vj_hostdev_plan *a = &p->hostdevs[0], *b = &back.plan->hostdevs[0];
		if (a->fd)
			assert_string_equal(b->fd, a->fd);
		else
			assert_null(b->fd);
		assert_string_equal(b->node, a->node);
		assert_true(b->major == a->major && b->minor == a->minor);
		assert_int_equal(back.plan->n_nodes, p->n_nodes);
		assert_int_equal(back.plan->n_rules, p->n_rules);
		vj_state_clear(&back);
		vj_plan_free(p);
	}
	assert_int_equal(vj_state_remove(dirfd, "vm", &err), 0);
	close(dirfd);

	/* An older plan: no "fd", "major", "minor". */
	struct vj_plan *p = gpu_plan(f, "0009:06:00.0"), *back = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	assert_non_null(m);
	assert_int_equal(vj_plan_print_json(p, m), 0);
	fclose(m);
	json_object *o = json_tokener_parse(text), *hd;
	assert_non_null(o);
	hd = json_object_array_get_idx(json_object_object_get(o, "hostdevs"), 0);
	json_object_object_del(hd, "fd");
	json_object_object_del(hd, "major");
	json_object_object_del(hd, "minor");
	assert_int_equal(vj_plan_json_read(o, &back), 0);
	assert_null(back->hostdevs[0].fd);
	assert_string_equal(back->hostdevs[0].node, "/dev/vfio/devices/vfio0");
	vj_plan_free(back);
	/* An fd without the device number to check it by: refused as damaged. */
	json_object_object_add(hd, "fd", json_object_new_string("gpu0"));
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	json_object_put(o);
	free(text);
	vj_plan_free(p);
}

/* The brief form (the state's) of @p, parsed. */
static json_object *brief_tree(const struct vj_plan *p)
{
	char *text = vj_state_plan_json(p);
	json_object *o;

	assert_non_null(text);
	o = json_tokener_parse(text);
	assert_non_null(o);
	free(text);
	return o;
}

static void assert_same_nodes(const struct vj_plan *a, const struct vj_plan *b)
{
	assert_int_equal(b->n_nodes, a->n_nodes);
	for (size_t i = 0; i < a->n_nodes; i++) {
		const struct vj_node *x = &a->nodes[i], *y = &b->nodes[i];
		assert_string_equal(y->path, x->path);
		if (x->host_path || y->host_path)
			assert_string_equal(y->host_path, x->host_path);
		assert_true(y->type == x->type && y->major == x->major && y->minor == x->minor);
		assert_true(y->access == x->access && y->uid == x->uid && y->gid == x->gid);
		assert_true(y->mode == x->mode && y->copy_acl == x->copy_acl);
	}
}

static void assert_same_rules(const struct vj_plan *a, const struct vj_plan *b)
{
	assert_int_equal(b->n_rules, a->n_rules);
	for (size_t i = 0; i < a->n_rules; i++)
		assert_true(b->rules[i].type == a->rules[i].type && b->rules[i].major == a->rules[i].major &&
			    b->rules[i].minor == a->rules[i].minor && b->rules[i].access == a->rules[i].access);
}

/* From version 5 the state keeps the lists of single-value records as columns
 * and rows, named by the field table; `plan --json` keeps its objects.  The
 * reader maps columns by name: reordered or missing optional columns read the
 * same, an unknown, doubled or missing required column, or a row of the wrong
 * length, is a malformed plan. */
static void test_state_rows(void **state)
{
	struct fixture *f = fixture_or_skip(state);
	struct vj_plan *p = gpu_plan(f, "0009:06:00.0"), *back = NULL;
	json_object *o = brief_tree(p), *nodes, *cols, *rows, *hd, *v;
	char *text = NULL;
	size_t len = 0;
	FILE *m;

	/* The state's form: nodes, rules and iommufd as rows, a hostdev (which has
	 * a list and a check of its own) an object, its BARs rows. */
	assert_true(json_object_object_get_ex(o, "nodes", &nodes));
	assert_true(json_object_is_type(nodes, json_type_object));
	assert_true(json_object_object_get_ex(nodes, "columns", &cols));
	assert_string_equal(json_object_to_json_string_ext(cols, JSON_C_TO_STRING_PLAIN),
			    "[\"path\",\"type\",\"major\",\"minor\",\"access\",\"uid\",\"gid\",\"mode\",\"host_path\",\"copy_acl\"]");
	assert_true(json_object_object_get_ex(nodes, "rows", &rows));
	assert_int_equal(json_object_array_length(rows), p->n_nodes);
	v = json_object_object_get(o, "rules");
	assert_string_equal(json_object_to_json_string_ext(json_object_object_get(v, "columns"), JSON_C_TO_STRING_PLAIN),
			    "[\"type\",\"major\",\"minor\",\"access\"]");
	assert_true(json_object_is_type(json_object_object_get(json_object_object_get(o, "iommufd"), "rows"),
					json_type_array));
	hd = json_object_array_get_idx(json_object_object_get(o, "hostdevs"), 0);
	assert_true(json_object_is_type(hd, json_type_object));
	assert_int_equal(json_object_array_length(json_object_object_get(json_object_object_get(hd, "bars"), "rows")),
			 p->hostdevs[0].n_bars);
	assert_int_equal(vj_plan_json_read(o, &back), 0);
	assert_same_nodes(p, back);
	assert_same_rules(p, back);
	assert_int_equal(back->n_iommufd, p->n_iommufd);
	assert_string_equal(back->iommufd[0].id, p->iommufd[0].id);
	assert_int_equal(back->iommufd[0].n_devices, p->iommufd[0].n_devices);
	assert_int_equal(back->hostdevs[0].n_bars, p->hostdevs[0].n_bars);
	assert_int_equal(back->hostdevs[0].bars[1].size, p->hostdevs[0].bars[1].size);
	vj_plan_free(back);

	/* plan --json: objects, as before. */
	m = open_memstream(&text, &len);
	assert_non_null(m);
	assert_int_equal(vj_plan_print_json(p, m), 0);
	fclose(m);
	assert_non_null(strstr(text, "\"nodes\": [\n    {\n      \"path\""));
	free(text);

	/* Columns reordered (path last) and copy_acl's missing: read by name. */
	json_object *cols2 = json_object_new_array(), *rows2 = json_object_new_array();
	size_t ncols = json_object_array_length(cols);
	for (size_t c = 1; c < ncols; c++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(cols, c)), "copy_acl") != 0)
			json_object_array_add(cols2, json_object_get(json_object_array_get_idx(cols, c)));
	json_object_array_add(cols2, json_object_new_string("path"));
	for (size_t j = 0; j < json_object_array_length(rows); j++) {
		json_object *row = json_object_array_get_idx(rows, j), *row2 = json_object_new_array();
		for (size_t c = 1; c < ncols; c++)
			if (strcmp(json_object_get_string(json_object_array_get_idx(cols, c)), "copy_acl") != 0)
				json_object_array_add(row2, json_object_get(json_object_array_get_idx(row, c)));
		json_object_array_add(row2, json_object_get(json_object_array_get_idx(row, 0)));
		json_object_array_add(rows2, row2);
	}
	json_object_object_add(nodes, "columns", cols2);
	json_object_object_add(nodes, "rows", rows2);
	cols = cols2;
	rows = rows2;
	assert_int_equal(vj_plan_json_read(o, &back), 0);
	for (size_t i = 0; i < p->n_nodes; i++)
		p->nodes[i].copy_acl = false;
	assert_same_nodes(p, back);
	vj_plan_free(back);

	/* A column no field has. */
	json_object_array_add(cols, json_object_new_string("colour"));
	for (size_t j = 0; j < json_object_array_length(rows); j++)
		json_object_array_add(json_object_array_get_idx(rows, j), json_object_new_int(1));
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	assert_null(back);
	/* A column twice. */
	json_object_array_put_idx(cols, json_object_array_length(cols) - 1, json_object_new_string("mode"));
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	/* A required column missing (path, the last now): "colour" in its place is
	 * unknown; without it, the rows are one too long. */
	json_object_array_put_idx(cols, json_object_array_length(cols) - 1, json_object_new_string("copy_acl"));
	json_object_array_put_idx(cols, json_object_array_length(cols) - 2, json_object_new_string("colour"));
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	json_object_array_del_idx(cols, json_object_array_length(cols) - 2, 1);
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	/* The rows fit again (their 1s gone): copy_acl's cells hold the paths, the
	 * wrong type. */
	for (size_t j = 0; j < json_object_array_length(rows); j++)
		json_object_array_del_idx(json_object_array_get_idx(rows, j), json_object_array_length(cols), 1);
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	/* Named "path" again: as it was. */
	json_object_array_put_idx(cols, json_object_array_length(cols) - 1, json_object_new_string("path"));
	assert_int_equal(vj_plan_json_read(o, &back), 0);
	assert_same_nodes(p, back);
	vj_plan_free(back);
	/* A row that is not an array. */
	json_object *row0 = json_object_get(json_object_array_get_idx(rows, 0));
	json_object_array_put_idx(rows, 0, json_object_new_string("row"));
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	json_object_array_put_idx(rows, 0, row0);
	/* A required column missing: path, with its cells. */
	json_object_array_del_idx(cols, json_object_array_length(cols) - 1, 1);
	for (size_t j = 0; j < json_object_array_length(rows); j++)
		json_object_array_del_idx(json_object_array_get_idx(rows, j), json_object_array_length(cols), 1);
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	/* A record with a check of its own (a hostdev) is never rows. */
	json_object_put(o);
	o = brief_tree(p);
	json_object *t = json_object_new_object();
	json_object_object_add(t, "columns", json_object_new_array());
	json_object_object_add(t, "rows", json_object_new_array());
	json_object_object_add(o, "hostdevs", t);
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	/* "columns" or "rows" missing or not arrays. */
	json_object_object_del(o, "hostdevs");
	nodes = json_object_object_get(o, "nodes");
	json_object_object_add(nodes, "columns", json_object_new_string("path"));
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	json_object_object_del(nodes, "columns");
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	json_object_object_add(nodes, "rows", NULL);
	assert_int_equal(vj_plan_json_read(o, &back), -1);
	json_object_put(o);
	vj_plan_free(p);
}

/* A jail made by the previous vfiojail: a real state file of version 4 (the
 * plan's lists as objects, as `plan --json` has them), written by setup and
 * attach of the vfiojail before version 5.  It reads; written again it is
 * version 5, with rows, and reads back the same. */
static void test_state_v4(void **state)
{
	struct fixture *f = fixture_or_skip(state);
	struct vj_error *err = NULL;
	struct vj_state v4, v5;
	char *src = pathf("%s/state/hp-v4.json", getenv("VJ_FIXTURES")), *dst;
	json_object *o;
	int dirfd;

	assert_int_equal(mkdir(f->state, 0700), 0);
	dst = pathf("%s/hp.json", f->state);
	o = json_object_from_file(src);
	assert_non_null(o);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "version")), 4);
	assert_int_equal(json_object_to_file_ext(dst, o, JSON_C_TO_STRING_PLAIN), 0);
	json_object_put(o);
	assert_int_equal(chmod(dst, 0600), 0);
	dirfd = vj_state_dir_open(f->state, &err);
	assert_true(dirfd >= 0);
	if (vj_state_read(dirfd, "hp", &v4, &err) != 0)
		fail_msg("%s: %s", err->object, err->message);
	assert_int_equal(v4.kind, VJ_STATE_SETUP);
	assert_int_equal(v4.origin, VJ_ORIGIN_SETUP);
	assert_string_equal(v4.ns_path, "/run/vfiojail/ns/hp");
	assert_non_null(v4.spec);
	assert_int_equal(v4.plan->n_nodes, 15);
	assert_string_equal(v4.plan->nodes[14].path, "/dev/bench/d100");
	assert_int_equal(v4.plan->nodes[14].major, 240);
	assert_int_equal(v4.plan->nodes[14].minor, 100);
	assert_int_equal(v4.plan->nodes[14].mode, 0600);
	assert_int_equal(v4.plan->nodes[14].access, VJ_ACC_READ | VJ_ACC_WRITE);
	assert_int_equal(v4.plan->n_rules, 23);
	assert_int_equal(v4.plan->rules[0].minor, VJ_RULE_ANY);
	assert_int_equal(v4.plan->rules[22].minor, 100);
	assert_int_equal(v4.plan->memlock.bytes, 4194304);
	assert_true(v4.plan->groups_known && v4.plan->n_groups == 1);

	/* A temporary file left (here a planted symlink): removed, its target kept. */
	char *target = pathf("%s/target", f->root), *tmp = pathf("%s/hp.json.tmp", f->state);
	struct stat sb;
	assert_int_equal(close(open(target, O_WRONLY | O_CREAT | O_EXCL, 0600)), 0);
	assert_int_equal(symlink(target, tmp), 0);
	assert_int_equal(vj_state_write(dirfd, &v4, &err), 0);
	assert_int_equal(lstat(tmp, &sb), -1);
	assert_int_equal(stat(target, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	assert_int_equal(unlink(target), 0);
	free(target);
	free(tmp);
	o = json_object_from_file(dst);
	assert_non_null(o);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "version")), 5);
	assert_true(json_object_is_type(json_object_object_get(json_object_object_get(o, "plan"), "nodes"),
					json_type_object));
	json_object_put(o);
	assert_int_equal(vj_state_read(dirfd, "hp", &v5, &err), 0);
	assert_same_nodes(v4.plan, v5.plan);
	assert_same_rules(v4.plan, v5.plan);
	assert_int_equal(v5.plan->memlock.bytes, v4.plan->memlock.bytes);
	assert_string_equal(v5.spec, v4.spec);
	assert_int_equal(v5.owner_start, v4.owner_start);
	vj_state_clear(&v5);
	vj_state_clear(&v4);
	assert_int_equal(vj_state_remove(dirfd, "hp", &err), 0);
	close(dirfd);
	free(dst);
	free(src);
}

/* The field table's cells (plan_fields.c) as the table walker needs them: in
 * each record the shown members numbered 1, 2, ... once each, every one with a
 * template, a list's label row complete, and every list and embedded record
 * shown has its record.  A row added with a place taken would hide a member. */
static void check_cells(const struct vj_record *r, const char *where)
{
	size_t shown = 0, labelled = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct vj_field *f = &r->fields[i];
		size_t same = 0;

		if (!f->cell.pos)
			continue;
		shown++;
		labelled += f->cell.label != NULL;
		if (!f->cell.tmpl)
			fail_msg("%s.%s: shown without a template", where, f->key);
		if ((f->kind == K_LIST || f->kind == K_REC) && !f->sub)
			fail_msg("%s.%s: a list without its record", where, f->key);
		if (f->kind == K_STRS && !f->cell.item)
			fail_msg("%s.%s: strings without an item template", where, f->key);
		for (size_t j = 0; j < r->n; j++)
			same += r->fields[j].cell.pos == f->cell.pos;
		if (same != 1)
			fail_msg("%s.%s: place %u is taken %zu times", where, f->key, f->cell.pos, same);
		if (f->cell.pos > r->n)
			fail_msg("%s.%s: place %u, past the record's %zu members", where, f->key, f->cell.pos, r->n);
		if (f->sub)
			check_cells(f->sub, f->key);
	}
	for (size_t i = 0; i < r->n; i++)
		if (r->fields[i].cell.pos > shown)
			fail_msg("%s.%s: place %u leaves a gap (%zu shown)", where, r->fields[i].key,
				 r->fields[i].cell.pos, shown);
	if (labelled && labelled != shown)
		fail_msg("%s: %zu of %zu shown members have a column label", where, labelled, shown);
}

static void test_table_cells(void **state)
{
	(void)state;
	check_cells(&vj_plan_record, "plan");
	assert_int_equal(vj_node_record.fields[0].cell.pos, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostdev_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostdev_fd_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_v4, setup, teardown),
		cmocka_unit_test(test_table_cells),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
