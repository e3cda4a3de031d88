/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiojail's core: give a VM exactly the device access it needs before its VMM
 * starts.  This is the interface between the CLI (src/main.c) and the core, which
 * is a static library linked into the binary and never installed: no ABI is
 * promised (docs/ARCHITECTURE.md, section 7).
 *
 * The core is a planning core (spec -> plan: it reads the host under
 * overridable roots and changes nothing) and an apply engine (every change to the
 * host is a step from one plan to the next, with its undo; docs/ARCHITECTURE.md).
 *
 * Conventions:
 * - Every function that can fail takes a `struct vj_error **` and, on failure,
 *   returns -1 and stores an error that names the step, the object, the errno, a
 *   hint and its class (`status`, the exit status the CLI gives it).  err may be
 *   NULL; an error stored is the caller's (vj_error_free).  A few return a
 *   documented result besides (vj_run and vj_enter: the VMM's exit status).
 * - The *_print_* functions write to a stdio stream: 0, or a negative errno
 *   (-EIO when the stream failed, -ENOMEM).
 * - What a function returns through an `out` pointer is the caller's, freed with
 *   the function named beside it; every `const` argument is only read.
 * - Errors are values: nothing in the library calls exit().  The library does
 *   not install signal handlers, except while vj_run or vj_enter supervise a VMM.
 */
#ifndef VFIOJAIL_VFIOJAIL_H
#define VFIOJAIL_VFIOJAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif


/* ------------------------------------------------------------------------- */
/* Exit statuses shared by the CLI and the library's error values.           */

enum vj_exit {
	VJ_EXIT_OK = 0,
	VJ_EXIT_FAIL = 1,      /* check found a failure; status found drift        */
	VJ_EXIT_USAGE = 2,     /* bad spec, bad flag, bad name: nothing was changed */
	VJ_EXIT_DENIED = 3,    /* launch: the service refused this caller or spec   */
	VJ_EXIT_SETUP = 125,   /* vfiojail failed before the VMM started           */
	VJ_EXIT_NOEXEC = 126,  /* the VMM exists but cannot be executed            */
	VJ_EXIT_NOTFOUND = 127 /* the VMM was not found                            */
};

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */

struct vj_error {
	int status;          /* enum vj_exit the CLI should return                */
	int errnum;          /* errno, 0 when the failure is not a syscall's      */
	char *step;          /* "spec", "discover", "memlock", "cgroup", ...     */
	char *object;        /* field, path, PCI address, name                    */
	char *message;       /* what went wrong, one sentence                     */
	char *hint;          /* what the user can do, or NULL                     */
	struct vj_error *cause; /* an earlier error this one wraps, or NULL      */
};

void vj_error_free(struct vj_error *err);
/* "step: object: message: strerror(errnum)\n  hint: ..." on @f, with causes. */
void vj_error_print(const struct vj_error *err, FILE *f);

/* ------------------------------------------------------------------------- */
/* Sizes, PCI addresses, names                                               */

/* "32GiB", "512M", "1073741824", "4 KiB": binary units only; overflow fails. */
int vj_parse_size(const char *s, uint64_t *out, const char *field,
		  struct vj_error **err);

struct vj_pci_addr {
	uint16_t domain;
	uint8_t bus;
	uint8_t slot;     /* 0..0x1f */
	uint8_t function; /* 0..7 */
};
/* "0009:06:00.0" or "06:00.0" (domain 0000). */
int vj_parse_pci_addr(const char *s, struct vj_pci_addr *out,
		      const char *field, struct vj_error **err);
/* Canonical "dddd:bb:ss.f" into @buf (at least 13 bytes). */
void vj_pci_addr_format(const struct vj_pci_addr *a, char buf[static 13]);

/* A VM name: valid UTF-8 (no overlong form, surrogate or code point past U+10FFFF),
 * 1 to VJ_NAME_MAX_BYTES bytes, no "/", and an escape (the form cgroup, pin and
 * state file names use, vfiojail-spec(5)) of at most 240 bytes. */
#define VJ_NAME_MAX_BYTES 200
int vj_validate_name(const char *name, const char *field, struct vj_error **err);
/* @name for a terminal: itself, or when it holds a control character (C0, DEL, C1)
 * double-quoted with \xHH escapes into @buf.  NULL shows as (null). */
#define VJ_NAME_SHOWN_MAX (4 * VJ_NAME_MAX_BYTES + 6)
const char *vj_name_shown(const char *name, char buf[static VJ_NAME_SHOWN_MAX]);

/* ------------------------------------------------------------------------- */
/* The VM spec                                                                */

enum vj_backend { VJ_BACKEND_IOMMUFD = 0, VJ_BACKEND_LEGACY = 1 };

/* Device cgroup access bits, as the kernel's BPF_DEVCG_ACC_* values. */
enum vj_access { VJ_ACC_MKNOD = 1, VJ_ACC_READ = 2, VJ_ACC_WRITE = 4 };

struct vj_iommufd_spec {
	char *id; /* [A-Za-z][A-Za-z0-9_.-]{0,31}, a QEMU object id */
};

struct vj_hostdev_spec {
	struct vj_pci_addr addr;
	char pci[13];         /* canonical form of addr */
	enum vj_backend backend;
	char *iommufd;        /* context id (iommufd backend), NULL for legacy */
	/* "fd": the id the cdev is handed to the VMM as (@fd:ID@, VFIOJAIL_FD_<ID>;
	 * the context id form, unique among contexts and hostdev fds), iommufd
	 * backend only; NULL: the VMM opens the node in its /dev. */
	char *fd;
};

struct vj_device_spec {
	char *path;           /* absolute path under /dev */
	unsigned access;      /* enum vj_access bits */
};

enum vj_memlock_mode {
	VJ_MEMLOCK_AUTO = 0,  /* the policy decides                    */
	VJ_MEMLOCK_HARD,      /* memlock.hard_limit: explicit bytes    */
	VJ_MEMLOCK_UNLIMITED  /* memlock.unlimited: guest RAM locked   */
};

struct vj_memlock_spec {
	enum vj_memlock_mode mode;
	uint64_t hard_limit;
	uint64_t extra;       /* memlock.extra, added to the policy's result */
};

struct vj_spec {
	char *name;
	char *user;           /* as written: name or number */
	char *group;          /* as written, or NULL        */
	uid_t uid;
	gid_t gid;
	/* "groups": the VMM's supplementary groups, exactly (as written, and as
	 * resolved by vj_spec_finish); not given: the user's groups from the group
	 * database, as initgroups(3) would set them. */
	bool groups_set;
	char **groups;
	gid_t *group_ids;
	size_t n_groups;
	uint64_t memory;      /* guest RAM including hotpluggable maximum */
	char *arch;           /* uname -m style; NULL = the host's */
	struct vj_iommufd_spec *iommufd;
	size_t n_iommufd;
	struct vj_hostdev_spec *hostdevs;
	size_t n_hostdevs;
	struct vj_device_spec *devices;
	size_t n_devices;
	unsigned viommu;      /* number of vIOMMUs */
	unsigned nvme;        /* NVMe disks driven from userspace (memlock factor) */
	unsigned vdpa;        /* vDPA devices (memlock factor) */
	unsigned pci_host_bridges; /* ppc64 only: sPAPR PHBs, default 1 */
	bool migration;
	struct vj_memlock_spec memlock;
	/* The library's, while the spec is built (which once-only flags were given,
	 * lookup indexes): NULL in a zeroed or vj_spec_init'd struct, made on first
	 * use, released by vj_spec_clear.  Nothing else is kept behind the struct. */
	struct vj_spec_priv *priv;
};

/* Where the host is read from.  NULL members mean /sys, /proc, /dev. */
struct vj_roots {
	const char *sysfs;
	const char *proc;
	const char *dev;
};

/* A spec is the caller's own struct (vj_spec_init, then vj_spec_clear) or the
 * library's (vj_spec_new, then vj_spec_free, which clears and frees it).  The
 * parsers and flags fill either; clear releases what they allocated and leaves an
 * initialised spec. */
void vj_spec_init(struct vj_spec *spec);
void vj_spec_clear(struct vj_spec *spec);
struct vj_spec *vj_spec_new(void);
void vj_spec_free(struct vj_spec *spec);
/* Parse a JSON spec file; "-" reads standard input.  User and group names are
 * resolved through the passwd and group databases. */
int vj_spec_parse_file(const char *path, struct vj_spec **out, struct vj_error **err);
int vj_spec_parse_string(const char *json, struct vj_spec **out, struct vj_error **err);
/* Flags that mirror the spec's fields: @flag is the name without "--", one of
 * vj_spec_flag's.  Repeated list flags append.  Call vj_spec_finish() once all
 * flags are in. */
/* The spec's flags, from the one table the JSON keys use too: the @i-th flag name
 * (without "--"), and in *@has_value whether it takes a value; NULL past the last.
 * The CLI builds its options from this, so a new spec field is declared once. */
const char *vj_spec_flag(size_t i, bool *has_value);
int vj_spec_set_flag(struct vj_spec *spec, const char *flag, const char *value,
		     struct vj_error **err);
/* Check required fields, resolve ids and defaults; JSON parsing calls it. */
int vj_spec_finish(struct vj_spec *spec, struct vj_error **err);

/* ------------------------------------------------------------------------- */
/* A spec derived from a libvirt domain XML                                   */

/* The largest domain XML vj_spec_from_libvirt reads. */
#define VJ_DOMXML_MAX (4u * 1024 * 1024)

struct vj_domxml_opts {
	/* The VM's user and group; NULL: the domain's DAC seclabel
	 * (<seclabel model='dac'><label>USER:GROUP</label>), else @default_user
	 * with its primary group. */
	const char *user;
	const char *group;
	const char *default_user; /* NULL: the build's libvirt_qemu_user ("libvirt-qemu") */
	/* sysfs: USB devices by vendor and product, SCSI host devices' sg nodes;
	 * dev: where /dev is read, to resolve the symlinks libvirt names disks by. */
	struct vj_roots roots;
};

/*
 * The spec of the libvirt domain @xml (@len bytes, at most VJ_DOMXML_MAX; parsed
 * without network, DTD or entity expansion; a DOCTYPE is refused), validated
 * as a JSON spec is: *out (vj_spec_free) and, when @json is not NULL, the spec
 * as JSON text in *json (free; user and group as written).  -1 with *err: status
 * 2 for a domain the spec cannot describe, the error naming the XML element
 * ("devices/hostdev[2]/source/address") or the spec's field; 125 out of memory.
 * The mapping is vfiojail-spec(5)'s "Derived from a libvirt domain".
 */
int vj_spec_from_libvirt(const char *xml, size_t len, const struct vj_domxml_opts *o,
			 struct vj_spec **out, char **json, struct vj_error **err);

/* ------------------------------------------------------------------------- */
/* The memlock policy                                                         */

struct vj_memlock_term {
	uint64_t bytes;
	char *reason;
};

struct vj_memlock_plan {
	bool unchanged;       /* leave RLIMIT_MEMLOCK as it is */
	bool unlimited;       /* RLIM_INFINITY                 */
	uint64_t bytes;       /* when neither of the above     */
	struct vj_memlock_term *terms;
	size_t n_terms;
};

/* ------------------------------------------------------------------------- */
/* The plan                                                                   */

struct vj_node {
	char *path;           /* inside the jail's /dev, absolute            */
	char *host_path;      /* what was read for it, for messages           */
	char type;            /* 'c' or 'b'                                   */
	uint32_t major, minor;
	unsigned access;      /* enum vj_access bits                          */
	uid_t uid;
	gid_t gid;
	mode_t mode;          /* permission bits only                         */
	char *reason;
	bool copy_acl;        /* copy the host node's ACL when it has one     */
};

/* A BPF allow rule; minor or major UINT32_MAX is a wildcard. */
#define VJ_RULE_ANY UINT32_MAX
struct vj_rule {
	char type;
	uint32_t major, minor;
	unsigned access;
	char *reason;
};

enum vj_accounting { VJ_ACCOUNTING_PER_PROCESS = 1, VJ_ACCOUNTING_PER_USER = 0 };

struct vj_iommufd_plan {
	char *id;
	char *path;           /* /dev/iommu (the host's, opened by vfiojail) */
	uint32_t major, minor;
	enum vj_accounting accounting;
	size_t n_devices;     /* hostdevs bound to it */
};

struct vj_bar {
	unsigned index;
	uint64_t size;
};

struct vj_hostdev_plan {
	char pci[13];
	enum vj_backend backend;
	char *driver;
	int iommu_group;      /* -1 when none */
	char *node;           /* /dev/vfio/devices/vfioN or /dev/vfio/G */
	char *iommufd;        /* context id or NULL */
	struct vj_bar *bars;
	size_t n_bars;
	char *fd;             /* the id it is handed as (@fd:ID@); NULL: reached by its node */
	uint32_t major, minor; /* the node's device number (sysfs); with fd, what the
				* opened cdev must be (0:0 in an older state) */
};

struct vj_plan {
	char *name;
	uid_t uid;
	gid_t gid;
	gid_t *groups;        /* supplementary groups, sorted, no duplicates */
	size_t n_groups;
	bool groups_known;    /* false: a plan read from an old state; look them up */
	char *arch;
	struct vj_node *nodes;
	size_t n_nodes;
	struct vj_rule *rules;
	size_t n_rules;
	struct vj_iommufd_plan *iommufd;
	size_t n_iommufd;
	struct vj_hostdev_plan *hostdevs;
	size_t n_hostdevs;
	struct vj_memlock_plan memlock;
	char *cgroup;         /* absolute path of the cgroup to create, or NULL */
	char **warnings;
	size_t n_warnings;
	struct vj_plan_priv *priv; /* the builder's lookups while vj_plan_build runs; NULL after */
};

struct vj_plan_opts {
	struct vj_roots roots;
	const char *cgroup_parent; /* relative to the cgroup2 root; NULL = caller's own */
	/* the cgroup of a jail that exists (attach, detach re-plan it): the plan's
	 * cgroup as it is, not worked out from the caller's again; NULL = work it out */
	const char *cgroup;
};

/* The plan of @spec on this host (@opts may be NULL: the real roots, the caller's
 * cgroup): *out (vj_plan_free), or -1 with *err (status 125: the host cannot
 * provide what the spec asks for, e.g. a device in no IOMMU group, or cannot be
 * read).  Nothing is changed.  Warnings are in (*out)->warnings. */
int vj_plan_build(const struct vj_spec *spec, const struct vj_plan_opts *opts,
		  struct vj_plan **out, struct vj_error **err);
void vj_plan_free(struct vj_plan *plan);
/* The plan as JSON (pretty), in the schema the state file keeps it in too
 * (vfiojail(1), plan --json). */
int vj_plan_print_json(const struct vj_plan *plan, FILE *f);
int vj_plan_print_table(const struct vj_plan *plan, FILE *f);

/* ------------------------------------------------------------------------- */
/* Host checks                                                                */

enum vj_check_status { VJ_CHECK_PASS = 0, VJ_CHECK_WARN = 1, VJ_CHECK_FAIL = 2 };

struct vj_check {
	char *name;
	enum vj_check_status status;
	char *detail;
	char *hint;
};

struct vj_check_report {
	struct vj_check *checks;
	size_t n_checks;
};

int vj_check_host(const struct vj_roots *roots, struct vj_check_report **out,
		  struct vj_error **err);
void vj_check_report_free(struct vj_check_report *r);
/* Worst status in the report. */
enum vj_check_status vj_check_worst(const struct vj_check_report *r);
/* "PASS  name: detail" lines with "hint:" lines under the others. */
int vj_check_print_table(const struct vj_check_report *r, FILE *f);
/* {"checks": [{"name", "status": "PASS"|"WARN"|"FAIL", "detail", "hint"}]} */
int vj_check_print_json(const struct vj_check_report *r, FILE *f);

/* ------------------------------------------------------------------------- */
/* Running a VMM in its jail                                                  */

struct vj_run_opts {
	struct vj_plan_opts plan;
	const char *state_dir;     /* NULL = VJ_DEFAULT_STATE_DIR (/run/vfiojail)        */
	const char *bpffs;         /* bpffs mount; NULL = /sys/fs/bpf                    */
	bool iommufd_best_effort;  /* --iommufd-accounting=best-effort                    */
	bool exec;                 /* --exec: become the VMM, no supervisor               */
	char *const *argv;         /* the VMM and its arguments; argv[0] looked up in PATH */
	/* Launcher fds: 3 .. 3+preserve_fds-1 reach the VMM at the same numbers (each
	 * must be open); iommufd contexts take the numbers after them.  With
	 * listen_pid, LISTEN_PID is set to the VMM's pid (systemd socket activation:
	 * the caller counts LISTEN_FDS into preserve_fds). */
	unsigned preserve_fds;
	bool listen_pid;
	/* Called for each warning (plan warnings, best-effort downgrades); may be NULL. */
	void (*warn)(const char *msg, void *userdata);
	void *userdata;
	/* vj_launch: how long to wait for the service or hand-off to take the
	 * connection and answer; 0 = VJ_LAUNCH_TIMEOUT_S. */
	unsigned timeout_s;
};

/* vj_launch's default time limit, in seconds. */
#define VJ_LAUNCH_TIMEOUT_S 30

/*
 * Plan, apply, start the VMM as the VM's user, supervise it and clean up.
 * Returns the VMM's exit status (128 + signal when it was killed), or -1 with
 * *err, whose status says why: 2 bad spec, argv or name in use, 125 vfiojail
 * failed before the VMM started (nothing is left behind), 126 the VMM cannot be
 * executed, 127 it was not found.  With opts->exec it does not return when the
 * VMM starts.
 */
int vj_run(const struct vj_spec *spec, const struct vj_run_opts *opts,
	   struct vj_error **err);

/*
 * What vj_run and vj_setup would stop at before they change anything, checked
 * without changing anything: no cgroup2 mount, a read-only one, a state dir that
 * cannot be made or is someone else's, an opts->bpffs that is not a bpffs, a pin
 * directory someone else made.  Returns 0, or -1 with the error (status 125) the
 * launch would give; `vfiojail plan` calls it, so a dry run and a launch agree.
 */
int vj_preflight(const struct vj_run_opts *opts, const struct vj_plan *plan,
		 struct vj_error **err);

/*
 * Remove what a jail left: its cgroup (after its processes are gone; with
 * @kill they are SIGKILLed first), its pinned filter, its state.  Idempotent:
 * 0 when there is nothing left; -1 with *err (status 1: the VM still runs and
 * @kill is false; 2 bad name or its lock is held; 125).  Only opts->state_dir and
 * opts->bpffs are used.
 */
int vj_teardown(const char *name, const struct vj_run_opts *opts, bool kill,
		struct vj_error **err);

/*
 * The libvirt release hook's teardown: remove NAME's jail only when the launch
 * service made it (the state's origin is "launch"), its VMM is gone (its pid is
 * no longer the process that started at the recorded start time, or that process
 * has exited) and its cgroup has no process; nothing is killed.  Returns 0 when
 * it was removed or there is no jail of the name; 1 when another command made it
 * (setup, run, or an older vfiojail that did not record which): left alone, the
 * reason given to opts->warn; -1 with *err: status 1 when its VMM or another
 * process of its cgroup still runs, 2 bad name or its lock is held, 125 a damaged
 * or unreadable state file (left alone) or a removal that failed.
 */
int vj_teardown_if_launched(const char *name, const struct vj_run_opts *opts,
			    struct vj_error **err);

/* ------------------------------------------------------------------------- */
/* The launch service: unprivileged launchers                                 */

struct vj_serve_opts {
	struct vj_run_opts run;   /* host options, state_dir, bpffs, warn (argv unused) */
	const char *socket_path;  /* NULL = VJ_DEFAULT_SOCKET (/run/vfiojail.sock)      */
	const char *spec_dir;     /* NULL = VJ_DEFAULT_SPEC_DIR (/etc/vfiojail/vm)      */
	/* NULL = VJ_DEFAULT_DERIVED_DIR (/run/vfiojail/libvirt): specs vfiojail derive
	 * --install wrote from a launcher's VM description (the libvirt hook). */
	const char *derived_dir;
	bool require_spec;        /* a derived spec needs root's spec to bound it     */
	int listen_fd;            /* >= 0: a listening socket handed over (LISTEN_FDS)  */
	void (*log)(const char *msg, void *userdata); /* one line per request; may be NULL */
	/* Called once the socket listens, before the first request is read (a
	 * daemon writes its pid file and tells its parent); may be NULL.  -1 with
	 * *err stops the service. */
	int (*ready)(void *userdata, struct vj_error **err);
};

/*
 * Serve launches until SIGTERM or SIGINT: a client of uid U asking for VM NAME
 * gets it only when a spec of root's grants it: <derived_dir>/NAME.json (NAME
 * escaped; the spec derived from the libvirt domain at "prepare"), bounded by
 * <spec_dir>/NAME.json when that exists (vj_spec_bound; with require_spec it
 * must), or else <spec_dir>/NAME.json alone.  Each is a regular file owned by
 * root and writable by no one else, in a directory chain owned by root and
 * writable by no one else (no symlink followed), the spec's name is NAME and
 * its user is U.  The client process is then moved into the VM's cgroup (filter
 * attached and pinned), its hard memlock limit raised to the plan when lower,
 * and it gets the iommufd contexts (per-process accounting) by SCM_RIGHTS.
 * When that process exits the jail is torn down.  Returns 0 on a signal, or -1
 * with *err (status 125) when it cannot serve at all.
 */
int vj_serve(const struct vj_serve_opts *opts, struct vj_error **err);

/* Where the libvirt hook installs derived specs and the service finds them. */
struct vj_derived_opts {
	struct vj_plan_opts plan; /* the host the plans are made for (memlock bound)      */
	const char *spec_dir;     /* root's specs; NULL = VJ_DEFAULT_SPEC_DIR             */
	const char *derived_dir;  /* NULL = VJ_DEFAULT_DERIVED_DIR (/run/vfiojail/libvirt) */
	bool require_spec;        /* refuse a VM root's spec does not name               */
	const char *user, *group; /* derive --user, --group: the VM's, named explicitly   */
};

/*
 * The libvirt hook at "prepare" (vfiojail derive --from libvirt --install NAME):
 * derive the spec of domain @name from its XML @xml (@len bytes, as
 * vj_spec_from_libvirt), refuse it unless the XML's <name> is @name, bound it
 * by root's spec <spec_dir>/NAME.json when there is one (vj_spec_bound: root's
 * user, group and groups; no hostdev, node, access, memory or memlock beyond
 * root's; a user the XML's DAC seclabel or o->user names must be root's; with
 * o->require_spec root's spec must exist), then write it atomically to
 * <derived_dir>/NAME.json (NAME escaped), root's, mode 0600, making the
 * directory (mode 0700) as the service walks it.  0, or -1 with *err: status 2
 * for a refusal (nothing written, an older derived spec of the name removed),
 * 125 when the host cannot give the plan or the file cannot be written.
 */
int vj_derived_install(const char *name, const char *xml, size_t len, const struct vj_derived_opts *o,
		       struct vj_error **err);
/* The hook at "release": <derived_dir>/NAME.json goes (0 also when there is none). */
int vj_derived_remove(const char *name, const struct vj_derived_opts *o, struct vj_error **err);

/*
 * The client: ask the service at @socket_path (NULL: the default) for VM @name,
 * then become the VMM opts->argv with the contexts after opts->preserve_fds
 * launcher fds (@fd:ID@, VFIOJAIL_FD_<ID>, LISTEN_PID as run does), the soft
 * memlock limit of the plan and no_new_privs.  Returns only on failure: -1 with
 * *err (status VJ_EXIT_DENIED when the service refused, else as vj_run).
 */
int vj_launch(const char *name, const char *socket_path, const struct vj_run_opts *opts,
	      struct vj_error **err);

/*
 * The contexts alone, for a launcher that starts the VMM itself and takes an
 * iommufd fd from its caller (session libvirt's fdgroup, `virsh
 * dom-fd-associate`): ask the service at @socket_path (NULL: the default; not
 * VFIOJAIL_SOCKET, a hand-off gives launch only) for VM @name's iommufd
 * contexts, then exec opts->argv with them after opts->preserve_fds launcher
 * fds (@fd:ID@, VFIOJAIL_FD_<ID>, LISTEN_PID as launch).  The service checks
 * the caller as for launch and makes nothing else: no jail, cgroup or filter;
 * the caller's RLIMIT_MEMLOCK, ids and privileges are left as they are (no
 * no_new_privs).  Returns only on failure: -1 with *err (status
 * VJ_EXIT_DENIED when the service refused, else as vj_run).
 */
int vj_contexts(const char *name, const char *socket_path, const struct vj_run_opts *opts,
		struct vj_error **err);

/* ------------------------------------------------------------------------- */
/* Standalone jails: setup, enter, teardown                                   */

/*
 * Build the VM's jail without starting anything: the cgroup with its attached
 * and pinned filter, the mount namespace with its /dev (kept alive by a binding
 * of its nsfs file under <state_dir>/ns), and the state file.  0, or -1 with
 * *err, whose status says why: 2 bad spec or a jail of this name exists (left
 * untouched), 125 the host
 * cannot provide it (nothing is left behind).  Only opts->plan, state_dir,
 * bpffs, iommufd_best_effort and warn are used.
 */
int vj_setup(const struct vj_spec *spec, const struct vj_run_opts *opts,
	     struct vj_error **err);

/*
 * Run opts->argv in the jail NAME made by vj_setup, as vj_run runs the VMM (its
 * namespace and cgroup, memlock, fresh iommufd contexts with @fd:ID@, dropped
 * privileges), supervised or with opts->exec.  The jail stays when it exits.
 * Returns as vj_run does.
 */
int vj_enter(const char *name, const struct vj_run_opts *opts, struct vj_error **err);

/* ------------------------------------------------------------------------- */
/* Hotplug into a jail of any kind (setup, run, launch)                       */

/* Devices to attach or detach, written as the spec's flags are:
 * "BDF[,backend=iommufd|legacy][,iommufd=ID]" and "PATH[:ACCESS]". */
struct vj_hotplug {
	const char *const *hostdevs;
	size_t n_hostdevs;
	const char *const *devices;
	size_t n_devices;
	/* attach --qmp / detach --qmp: the running QEMU's QMP socket (NULL: none) */
	const char *qmp;
	const char *qmp_iommufd; /* attach: QEMU's iommufd object id (NULL: the hostdev's context) */
	const char *qmp_bus;     /* attach: the bus device_add puts it on (NULL: QEMU's choice) */
	int timeout_s;           /* each QMP reply (0: 10 s); DEVICE_DELETED waits 3 times as long */
};

/*
 * Add devices to the running jail NAME, in this order: re-plan from the spec in
 * its state plus @h (validated as the spec is); raise RLIMIT_MEMLOCK of every
 * process in its cgroup to the new plan (never lowering one); create the new
 * nodes in its namespace (setup's kept one, a run VMM's own; none for a
 * launched VMM, whose launcher makes them: opts->warn says so); add their rules
 * to its filter's map; write the state.  A jail of run or launch is changed
 * only while the process its state names by pid and start time still runs.
 * A failure undoes the steps before it.  0, or -1 with *err, whose status says why: 2 bad device,
 * already attached, no such jail, or a VMM gone; 125 the host cannot
 * provide it (the jail is as before).  Only opts->state_dir, bpffs and warn
 * are used; the roots and cgroup parent are the state's.
 */
/* With h->qmp (one iommufd hostdev, no device): the whole hotplug into the running
 * QEMU on that QMP socket, by fd; the device gets no node and no rule, its plan entry
 * records the fd name (vfiojail(1), attach --qmp). */
int vj_attach(const char *name, const struct vj_hotplug *h,
	      const struct vj_run_opts *opts, struct vj_error **err);

/*
 * Remove devices from the running jail NAME: their rules leave the filter's map
 * first (access is revoked at once), then their nodes; rules and nodes still
 * needed by another device stay.  RLIMIT_MEMLOCK is lowered to the new plan
 * only when no process has more memory locked than that (else it is kept, with
 * a warning).  Returns as vj_attach does (2: a device that is not attached).
 */
/* With h->qmp: device_del, DEVICE_DELETED within 3 x h->timeout_s, no process of the
 * VM holding the device, then the memlock step and the state (vfiojail(1)). */
int vj_detach(const char *name, const struct vj_hotplug *h,
	      const struct vj_run_opts *opts, struct vj_error **err);

/* ------------------------------------------------------------------------- */
/* What a jail's state says, verified against the live system                 */

struct vj_status_item {
	char *name;           /* "cgroup", "filter", "rules", "namespace", "memlock", ... */
	bool ok;              /* false: drift                                           */
	char *detail;
};

struct vj_status_proc {
	pid_t pid;
	uint64_t memlock_soft, memlock_hard; /* UINT64_MAX = unlimited */
	uint64_t locked;      /* VmLck bytes */
};

/* A hostdev of the jail's plan, and how the VMM reaches it. */
struct vj_status_hostdev {
	char pci[13];
	char *node;           /* its node on the host (/dev/vfio/devices/vfioN, /dev/vfio/G) */
	char *fd;             /* handed to the VMM as this fd id (no node in the jail), or NULL */
};

struct vj_status {
	char *name;
	char *kind;           /* the command that made it: "run", "setup", "launch",
			       * or "unknown" (an older vfiojail's run or launch) */
	char *cgroup;
	struct vj_status_item *items;
	size_t n_items;
	struct vj_status_proc *procs;
	size_t n_procs;
	bool drift;           /* some item is not as the state says           */
	bool abandoned;       /* no process left and its owner (launcher or
			       * supervisor) is gone: vfiojail gc removes it */
	struct vj_status_hostdev *hostdevs; /* the plan's, in spec order */
	size_t n_hostdevs;
};

/* Read NAME's state and check it: 0, or -1 with *err (2: no such jail). */
int vj_status_get(const char *name, const struct vj_run_opts *opts,
		  struct vj_status **out, struct vj_error **err);
void vj_status_free(struct vj_status *s);
/* "OK    item: detail" / "DRIFT item: detail" lines, then the processes. */
int vj_status_print_table(const struct vj_status *s, FILE *f);
/* {"name", "kind", "cgroup", "drift", "abandoned", "items": [{"name", "ok",
 * "detail"}], "processes": [{"pid", "memlock_soft", "memlock_hard", "locked"}],
 * "hostdevs": [{"pci", "node", "fd"}]} (fd: the id, or null) */
int vj_status_print_json(const struct vj_status *s, FILE *f);
/* The names of every jail in the state directory, sorted. */
int vj_list(const struct vj_run_opts *opts, char ***names, size_t *n,
	    struct vj_error **err);

/* Tear down every abandoned jail (see struct vj_status); the names removed are
 * returned in *removed (caller frees each and the array).  0, or -1 with *err
 * for the first jail that could not be removed (the others are still tried). */
int vj_gc(const struct vj_run_opts *opts, char ***removed, size_t *n,
	  struct vj_error **err);

/* ------------------------------------------------------------------------- */
/* Kubernetes: a CDI spec and the hand-off of the iommufd contexts            */

struct vj_cdi_opts {
	const char *vfiojail;    /* the vfiojail the hooks run (default SBINDIR/vfiojail, where
				  * meson installs it) */
	const char *state_dir;   /* the node's state dir; hand-offs in STATE_DIR/handoff */
	const struct vj_roots *roots; /* passed on to the createRuntime hook */
	bool best_effort;        /* --iommufd-accounting=best-effort for the hook */
	unsigned timeout_s;      /* how long the hand-off waits (0: 60 s) */
};

/*
 * Print a CDI spec (kind vfiojail.dev/vm, device NAME) for @plan: its device
 * nodes (all but the ones every OCI runtime makes itself), the environment a
 * launcher in the pod needs (VFIOJAIL_VM, VFIOJAIL_SOCKET, VFIOJAIL_MEMLOCK), the
 * VM's hand-off directory mounted at /run/vfiojail-handoff, and two hooks:
 * createRuntime (`vfiojail hook create-runtime`: RLIMIT_MEMLOCK of the
 * container's process, then the hand-off of the contexts) with @spec (as JSON,
 * user and group as ids) and poststop (`vfiojail hook poststop`).  0, or -1 with
 * *err (status 2: a VM name CDI cannot carry).
 */
int vj_cdi_print(const struct vj_plan *plan, const struct vj_spec *spec,
		 const struct vj_cdi_opts *opts, FILE *f, struct vj_error **err);

/*
 * An allocation (docs/KUBERNETES.md, "From a DRA driver or device plugin"): a
 * spec (vfiojail-spec(5)) in which "claim", the ResourceClaim as a DRA driver's
 * NodePrepareResources gets it ({ "namespace", "name", "uid" }), may stand for
 * "name"; hostdevs is required and not empty.  The VM is then named
 * VJ_ALLOCATION_NAME_PREFIX + the claim's uid in lower case: stable, and a valid
 * vfiojail and CDI name.  Errors name the field as written (claim.uid,
 * hostdevs[1].pci), status 2.  @path "-" reads standard input (1 MiB at most).
 */
#define VJ_ALLOCATION_NAME_PREFIX "claim-"
struct vj_allocation {
	struct vj_spec *spec;    /* the VM's spec */
	char *claim;             /* "NAMESPACE/NAME" of the claim; NULL when "name" was given */
	char *cdi_device;        /* the CDI device id: "vfiojail.dev/vm=NAME" */
};
int vj_allocation_parse_file(const char *path, struct vj_allocation *out,
			     struct vj_error **err);
int vj_allocation_parse_string(const char *json, struct vj_allocation *out,
			       struct vj_error **err);
void vj_allocation_clear(struct vj_allocation *a);
/* vj_plan_build for an allocation's spec: an error about one of its PCI devices
 * (one this node lacks, in no IOMMU group, ...) is wrapped to name its field,
 * hostdevs[N].pci, its status kept (125). */
int vj_allocation_plan(const struct vj_spec *spec, const struct vj_plan_opts *opts,
		       struct vj_plan **out, struct vj_error **err);

struct vj_handoff_opts {
	struct vj_run_opts run;  /* plan roots, iommufd_best_effort, warn */
	const char *socket_path; /* where to listen; NULL: STATE_DIR/handoff/NAME/handoff.sock,
				  * one hand-off of the VM at a time (see create-runtime) */
	pid_t container_pid;     /* clients must be in its pid namespace and cgroup */
	unsigned timeout_s;      /* how long to serve (0: 60 s) */
	int ready_fd;            /* >= 0: closed once the socket listens (a daemon's parent waits) */
	void (*log)(const char *msg, void *userdata); /* every hand-off and refusal */
};

/*
 * The node's half of the hand-off: plan @spec, open its iommufd contexts
 * (per-process accounting set and read back unless best effort), listen on
 * opts->socket_path (mode 0600, owned by the VM's user), and give the contexts,
 * once, to the first client that asks for this VM by name and is the VM's uid
 * and gid, in opts->container_pid's pid namespace and cgroup.  A client is the
 * process that connected, named by its SO_PEERPIDFD pidfd (Linux 6.5; without
 * it every client is refused), and all its ids must still be the VM's when the
 * contexts are sent.  Every refusal and the hand-off are logged.  Serves until the time is up (refusing later
 * clients), then removes the socket: 0 when the contexts were handed over, -1
 * with *err otherwise (status 1: no client in time; 125: cannot serve).  The pod's
 * half is vj_launch with the socket.
 */
int vj_handoff_serve(const struct vj_spec *spec, const struct vj_handoff_opts *opts,
		     struct vj_error **err);

/* STATE_DIR/handoff/NAME (NAME escaped): the VM's hand-off directory, which its
 * CDI spec mounts into the container; made (root's, mode 0755) when missing, as
 * the bind mount needs it before the hooks run.  teardown NAME removes it. */
int vj_handoff_prepare(const char *name, const struct vj_run_opts *opts,
		       struct vj_error **err);

/*
 * The CDI createRuntime hook: @oci_state is the OCI state the runtime writes on
 * the hook's stdin (its "pid": the container's process, in the host's pid
 * namespace).  Plans @spec, sets that process's RLIMIT_MEMLOCK (soft and hard)
 * to the plan, and starts the hand-off (vj_handoff_serve, a daemon that serves
 * STATE_DIR/handoff/NAME/handoff.sock for @timeout_s, logging to
 * STATE_DIR/handoff/NAME.log).  The state ("id" and "pid" needed) is read whole,
 * up to 16 MiB.  One hand-off per VM at a time: the daemon records its pid,
 * start time and the container's id in STATE_DIR/handoff/NAME.pid and holds
 * that file's lock for its life; while it lives, another container's hook is
 * refused (status 125, naming the VM and the container that has it).  Returns
 * once the socket listens: 0, or -1 with *err (the runtime then does not start
 * the container).
 */
int vj_cdi_hook_create_runtime(const struct vj_spec *spec, const struct vj_run_opts *opts,
			       unsigned timeout_s, FILE *oci_state, struct vj_error **err);
/* The CDI poststop hook, @oci_state as for create-runtime (its "id": the
 * container): the VM's hand-off ends (its daemon is stopped, the socket
 * removed) when it is that container's; another container's is left alone.
 * The daemon is signalled only through a pidfd matching its recorded pid and
 * start time while it holds its lock. */
int vj_cdi_hook_poststop(const char *name, const struct vj_run_opts *opts,
			 FILE *oci_state, struct vj_error **err);

#ifdef __cplusplus
}
#endif
#endif
