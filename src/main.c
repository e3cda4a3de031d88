/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vfiojail command: parses arguments and calls the library, nothing more.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "error.h"
#include "vfiojail/vfiojail.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum {
	OPT_JSON = 0x100,
	OPT_SYSFS_ROOT,
	OPT_PROC_ROOT,
	OPT_DEV_ROOT,
	OPT_STATE_DIR,
	OPT_CGROUP_PARENT,
	OPT_IOMMUFD_ACCOUNTING,
	OPT_EXEC,
	OPT_KILL,
	OPT_IF_LAUNCHED,
	OPT_BPFFS,
	OPT_PRESERVE_FDS,
	OPT_SOCKET,
	OPT_SPEC_DIR,
	OPT_PID,
	OPT_TIMEOUT,
	OPT_SPEC_JSON,
	OPT_VFIOJAIL,
	OPT_DAEMON,
	OPT_PIDFILE,
	OPT_LOG,
	OPT_DERIVED_DIR,
	OPT_REQUIRE_SPEC,
	OPT_INSTALL,
	OPT_REMOVE,
	OPT_FROM,
	OPT_ALLOCATION,
	OPT_QMP,
	OPT_QMP_IOMMUFD,
	OPT_QMP_BUS,
	OPT_SPEC_FLAG, /* spec flags are told apart by their long name */
};

struct cli {
	const char *command;
	bool json;
	struct vj_plan_opts plan_opts;
	const char *state_dir;
	const char *bpffs;
	bool best_effort;
	bool exec;
	bool kill;
	bool if_launched;           /* teardown: only a launched jail whose VMM is gone */
	long preserve_fds;          /* -1: not given */
	const char *socket;         /* serve, launch */
	const char *spec_dir;       /* serve */
	bool daemon;                /* serve --daemon */
	const char *pidfile;        /* serve */
	const char *log;            /* serve: the log file instead of stderr */
	const char *derived_dir;    /* serve, derive --install */
	bool require_spec;          /* serve, derive --install: root's spec must bound the derived one */
	bool install, remove;       /* derive --install NAME, derive --remove NAME (the libvirt hook) */
	long pid;                   /* handoff: the container's process; 0 not given */
	long timeout;               /* handoff, hook: seconds; 0 not given */
	const char *spec_json;      /* hook create-runtime: the spec as JSON */
	const char *vfiojail;       /* cdi: the vfiojail the hooks run */
	const char *from;           /* derive: the launcher whose description is read */
	const char *derive_user;    /* derive: --user and --group */
	const char *derive_group;
	const char *allocation;     /* cdi: a DRA driver's or device plugin's allocation */
	char **vmm_argv;            /* after "--" */
	const char *spec_path;
	struct vj_spec *spec_flags; /* non-NULL once a spec flag was given */
	char **rest;                /* positional arguments after the options */
	int n_rest;
	const char **hostdevs;      /* attach, detach: --hostdev and --device as written */
	size_t n_hostdevs;
	const char **devices;
	size_t n_devices;
	const char *qmp, *qmp_iommufd, *qmp_bus; /* attach, detach --qmp */
};

/* The fixed options; the spec's flags are added from its table (vj_spec_flag). */
static const struct option fixed_options[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },
	{ "proc-root", required_argument, NULL, OPT_PROC_ROOT },
	{ "dev-root", required_argument, NULL, OPT_DEV_ROOT },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "cgroup-parent", required_argument, NULL, OPT_CGROUP_PARENT },
	{ "iommufd-accounting", required_argument, NULL, OPT_IOMMUFD_ACCOUNTING },
	{ "exec", no_argument, NULL, OPT_EXEC },
	{ "kill", no_argument, NULL, OPT_KILL },
	{ "if-launched", no_argument, NULL, OPT_IF_LAUNCHED },
	{ "bpffs", required_argument, NULL, OPT_BPFFS },
	{ "preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "spec-dir", required_argument, NULL, OPT_SPEC_DIR },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "spec-json", required_argument, NULL, OPT_SPEC_JSON },
	{ "vfiojail", required_argument, NULL, OPT_VFIOJAIL },
	{ "daemon", no_argument, NULL, OPT_DAEMON },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "derived-dir", required_argument, NULL, OPT_DERIVED_DIR },
	{ "require-spec", no_argument, NULL, OPT_REQUIRE_SPEC },
	{ "install", no_argument, NULL, OPT_INSTALL },
	{ "remove", no_argument, NULL, OPT_REMOVE },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "allocation", required_argument, NULL, OPT_ALLOCATION },
	{ "qmp", required_argument, NULL, OPT_QMP },
	{ "qmp-iommufd", required_argument, NULL, OPT_QMP_IOMMUFD },
	{ "qmp-bus", required_argument, NULL, OPT_QMP_BUS },
	{ "help", no_argument, NULL, 'h' },
};
static struct option *long_options;

/* fixed_options, then one OPT_SPEC_FLAG option per spec flag, then the end. */
static int options_build(void)
{
	size_t n = 0, k = ARRAY_LEN(fixed_options);
	bool value;

	while (vj_spec_flag(n, NULL))
		n++;
	long_options = calloc(k + n + 1, sizeof(*long_options));
	if (!long_options)
		return -1;
	memcpy(long_options, fixed_options, sizeof(fixed_options));
	for (size_t i = 0; i < n; i++) {
		long_options[k + i].name = vj_spec_flag(i, &value);
		long_options[k + i].has_arg = value ? required_argument : no_argument;
		long_options[k + i].val = OPT_SPEC_FLAG;
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("Usage: vfiojail COMMAND [OPTIONS]\n"
	      "\n"
	      "Commands:\n"
	      "  plan [SPEC] [--json]    print what run would do on this host; changes nothing\n"
	      "  check [--json]          validate this host for vfiojail (PASS/WARN/FAIL)\n"
	      "  run [SPEC] [--exec] -- VMM [ARGS...]\n"
	      "                          start the VMM in its jail and supervise it\n"
	      "  setup [SPEC]            build the jail and keep it, starting nothing\n"
	      "  enter NAME [--exec] -- CMD [ARGS...]\n"
	      "                          run CMD in the jail made by setup, as run runs the VMM\n"
	      "  attach NAME --hostdev BDF[,...] | --device PATH[:rwm] ...\n"
	      "                          hot-plug devices into a jail (setup, run or launch)\n"
	      "  detach NAME --hostdev BDF | --device PATH ...\n"
	      "                          unplug them: access is revoked first, then the nodes go\n"
	      "  attach NAME --hostdev BDF --qmp SOCKET [--qmp-iommufd ID] [--qmp-bus BUS] [--timeout S]\n"
	      "                          hot-plug the device into the running QEMU by fd (iommufd)\n"
	      "  detach NAME --hostdev BDF --qmp SOCKET [--timeout S]\n"
	      "                          device_del it, wait for DEVICE_DELETED, then revoke\n"
	      "  teardown [--kill] NAME  remove a jail: cgroup, filter, namespace, state\n"
	      "  teardown --if-launched NAME\n"
	      "                          remove it only if the launch service made it and its\n"
	      "                          VMM and every process of its cgroup are gone (the\n"
	      "                          libvirt release hook); other jails are left, with a note\n"
	      "  status NAME [--json]    the jail's state checked against the system (1: drift)\n"
	      "  list [--json]           every jail, checked as status does\n"
	      "  serve [--socket PATH] [--spec-dir DIR] [--derived-dir DIR] [--require-spec]\n"
	      "        [--daemon] [--pidfile PATH] [--log FILE]\n"
	      "                          root's launch service for unprivileged launchers: the\n"
	      "                          spec derived from the libvirt domain (--derived-dir,\n"
	      "                          default " VJ_DEFAULT_DERIVED_DIR "), bounded by root's\n"
	      "                          (--spec-dir; needed with --require-spec), or root's;\n"
	      "                          --daemon: detach once it listens (pid file\n"
	      "                          " VJ_DEFAULT_SERVE_PIDFILE ", log " VJ_DEFAULT_SERVE_LOG ")\n"
	      "  launch NAME [--socket PATH] [--preserve-fds N] [--timeout S] -- VMM [ARGS...]\n"
	      "                          as the VM's user: get VM NAME's jail from the service\n"
	      "                          (its spec, as serve chooses it), become the VMM\n"
	      "  contexts NAME [--socket PATH] [--preserve-fds N] [--timeout S] -- CMD [ARGS...]\n"
	      "                          as the VM's user: get VM NAME's iommufd contexts alone\n"
	      "                          (per-process accounting; no jail, no memlock change) and\n"
	      "                          run CMD with them, e.g. virsh dom-fd-associate\n"
	      "  cdi [SPEC | --allocation FILE] [--vfiojail PATH] [--timeout S]\n"
	      "                          print a CDI spec (kind vfiojail.dev/vm) for the VM and\n"
	      "                          make its hand-off directory (docs/KUBERNETES.md);\n"
	      "                          --allocation: the VM from a DRA driver's claim or a\n"
	      "                          device plugin's allocation (\"-\" for stdin), its CDI\n"
	      "                          device id noted on stderr; --vfiojail: the vfiojail\n"
	      "                          the hooks run (default " VJ_SBINDIR "/vfiojail);\n"
	      "                          --timeout: how long the hand-off waits (default 60)\n"
	      "  handoff [SPEC] --pid PID [--socket PATH] [--timeout S]\n"
	      "                          give the VM's iommufd contexts (per-process accounting)\n"
	      "                          once to a process of the VM's user in PID's pid\n"
	      "                          namespace and cgroup, which runs vfiojail launch\n"
	      "  hook create-runtime|poststop\n"
	      "                          the CDI spec's hooks (the OCI state on stdin)\n"
	      "  derive --from libvirt [--user USER] [--group GROUP] [XML|-]\n"
	      "                          print the spec of a libvirt domain XML (stdin: \"-\" or\n"
	      "                          none) as JSON; --sysfs-root and --dev-root read the host\n"
	      "  derive --from libvirt --install [--spec-dir DIR] [--derived-dir DIR]\n"
	      "         [--require-spec] [--user USER] [--group GROUP] NAME\n"
	      "                          the libvirt hook at prepare: the XML on stdin, bounded by\n"
	      "                          root's spec when there is one, installed for serve\n"
	      "  derive --remove [--derived-dir DIR] NAME\n"
	      "                          the hook at release: the derived spec goes\n"
	      "  gc                      tear down jails with no process left whose launcher\n"
	      "                          or supervisor is gone\n"
	      "  version                 print the version\n"
	      "\n"
	      "A NAME that starts with \"-\" goes after \"--\": teardown -- NAME,\n"
	      "status -- NAME, attach --device PATH -- NAME, enter -- NAME -- CMD [ARGS...],\n"
	      "launch -- NAME -- VMM [ARGS...], contexts -- NAME -- CMD [ARGS...].\n"
	      "\n"
	      "The spec is a JSON file (SPEC, \"-\" for stdin) or these flags:\n"
	      "  --name NAME  --user USER  --group GROUP  --groups G1,G2,...  --memory SIZE\n"
	      "  --arch ARCH\n"
	      "  --hostdev BDF[,backend=iommufd|legacy][,iommufd=ID][,fd=ID]   (repeatable)\n"
	      "  --device PATH[:rwm]  --iommufd ID                     (repeatable)\n"
	      "  --viommu N  --nvme N  --vdpa N  --pci-host-bridges N  --migration\n"
	      "  --memlock-hard-limit SIZE | --memlock-extra SIZE | --memlock-unlimited\n"
	      "\n"
	      "Host options:\n"
	      "  --sysfs-root DIR  --proc-root DIR  --dev-root DIR   read the host from here\n"
	      "  --cgroup-parent PATH   create the VM's cgroup under PATH (cgroup2-relative)\n"
	      "  --state-dir DIR        state directory (default " VJ_DEFAULT_STATE_DIR ")\n"
	      "  --bpffs DIR            bpffs where filters are pinned (default /sys/fs/bpf)\n"
	      "\n"
	      "Launch options (run, enter; launch and contexts take --preserve-fds):\n"
	      "  --exec                 become the VMM: no supervisor, teardown NAME after it exits\n"
	      "  --preserve-fds N       the launcher's fds 3 to 3+N-1 reach the VMM as they are;\n"
	      "                         with LISTEN_PID = our pid, LISTEN_FDS fds are kept too and\n"
	      "                         LISTEN_PID becomes the VMM's\n"
	      "  --iommufd-accounting=strict|best-effort\n"
	      "                         strict (default): refuse to start when per-process iommufd\n"
	      "                         accounting cannot be set; best-effort: warn and go on\n"
	      "  @fd:ID@ in the VMM's arguments becomes the fd of iommufd context ID (the fds\n"
	      "  after the preserved ones: 3, 4, ... when none are);\n"
	      "  VFIOJAIL_FD_<ID> in its environment holds the same number.\n"
	      "\n"
	      "Exit status: run exits with the VMM's status (128+N when killed by signal N);\n"
	      "1 check failed, status found drift, or teardown found the VM running;\n"
	      "2 bad spec, usage or name, or the name is in use; 3 the launch service refused\n"
	      "the caller;\n"
	      "125 vfiojail failed before the VMM started (the host cannot provide what the\n"
	      "spec asks); 126 the VMM cannot be executed; 127 it was not found.  See vfiojail(1).\n",
	      f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vfiojail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'vfiojail --help'.\n", stderr);
	return VJ_EXIT_USAGE;
}

/* The CLI's one place where an error becomes an exit status: print and free @e
 * when there is one; a library call's -1 becomes its error's status (125 when it
 * has none: out of memory), any other @r (a VMM's status, a command's verdict)
 * is returned as it is. */
static int exit_status(int r, struct vj_error *e)
{
	if (r >= 0 && !e)
		return r;
	if (r < 0)
		r = e && e->status ? e->status : VJ_EXIT_SETUP;
	vj_error_print(e, stderr); /* NULL: "out of memory" */
	vj_error_free(e);
	return r;
}

/* Stop a parse with @s as the exit status: -1. */
static int stop(int *status, int s)
{
	*status = s;
	return -1;
}

static bool is_hotplug(const char *command)
{
	return !strcmp(command, "attach") || !strcmp(command, "detach");
}

/* attach and detach take --hostdev and --device only, kept as written: the
 * library checks them against the jail's spec.  0, or -1 with *status. */
static int hotplug_flag(struct cli *cli, const char *flag, int argc, int *status)
{
	const char ***list = !strcmp(flag, "hostdev") ? &cli->hostdevs : &cli->devices;
	size_t *n = !strcmp(flag, "hostdev") ? &cli->n_hostdevs : &cli->n_devices;

	if (strcmp(flag, "hostdev") != 0 && strcmp(flag, "device") != 0)
		return stop(status, usage_error("%s takes --hostdev and --device, not --%s", cli->command, flag));
	if (!*list && !(*list = calloc((size_t)argc, sizeof(**list))))
		return stop(status, exit_status(-1, NULL));
	(*list)[(*n)++] = optarg;
	return 0;
}

/* Parse options into @cli: 0 to go on with the command, or -1 to end with the
 * exit status *status (0 after --help; an error is printed). */
static int parse_options(struct cli *cli, int argc, char **argv, int *status)
{
	struct vj_error *e = NULL;
	int c, idx;

	optind = 1;
	opterr = 0;
	/* "enter NAME CMD ARGS" without "--": options stop at NAME. */
	const char *optstring = !strcmp(cli->command, "enter") && !cli->vmm_argv ? "+h" : "h";

	while ((c = getopt_long(argc, argv, optstring, long_options, &idx)) != -1) {
		switch (c) {
		case OPT_JSON:
			cli->json = true;
			break;
		case OPT_SYSFS_ROOT:
			cli->plan_opts.roots.sysfs = optarg;
			break;
		case OPT_PROC_ROOT:
			cli->plan_opts.roots.proc = optarg;
			break;
		case OPT_DEV_ROOT:
			cli->plan_opts.roots.dev = optarg;
			break;
		case OPT_STATE_DIR:
			cli->state_dir = optarg;
			break;
		case OPT_CGROUP_PARENT:
			cli->plan_opts.cgroup_parent = optarg;
			break;
		case OPT_IOMMUFD_ACCOUNTING:
			if (!strcmp(optarg, "best-effort"))
				cli->best_effort = true;
			else if (!strcmp(optarg, "strict"))
				cli->best_effort = false;
			else
				return stop(status, usage_error("--iommufd-accounting: \"%s\" is not strict or best-effort", optarg));
			break;
		case OPT_EXEC:
			cli->exec = true;
			break;
		case OPT_KILL:
			cli->kill = true;
			break;
		case OPT_IF_LAUNCHED:
			cli->if_launched = true;
			break;
		case OPT_BPFFS:
			cli->bpffs = optarg;
			break;
		case OPT_SOCKET:
			cli->socket = optarg;
			break;
		case OPT_SPEC_DIR:
			cli->spec_dir = optarg;
			break;
		case OPT_PID:
		case OPT_TIMEOUT: {
			char *end = NULL;
			long v;
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || !*optarg || *end || v <= 0 || v > (c == OPT_PID ? 0x3fffffffL : 86400L))
				return stop(status, usage_error("--%s: \"%s\" is not a %s", c == OPT_PID ? "pid" : "timeout", optarg,
						   c == OPT_PID ? "process id" : "number of seconds from 1 to 86400"));
			*(c == OPT_PID ? &cli->pid : &cli->timeout) = v;
			break;
		}
		case OPT_SPEC_JSON:
			cli->spec_json = optarg;
			break;
		case OPT_VFIOJAIL:
			cli->vfiojail = optarg;
			break;
		case OPT_DAEMON:
			cli->daemon = true;
			break;
		case OPT_PIDFILE:
		case OPT_LOG:
			if (!*optarg)
				return stop(status, usage_error("--%s: an empty path", c == OPT_PIDFILE ? "pidfile" : "log"));
			*(c == OPT_PIDFILE ? &cli->pidfile : &cli->log) = optarg;
			break;
		case OPT_DERIVED_DIR:
			cli->derived_dir = optarg;
			break;
		case OPT_REQUIRE_SPEC:
			cli->require_spec = true;
			break;
		case OPT_INSTALL:
		case OPT_REMOVE:
			if (strcmp(cli->command, "derive") != 0)
				return stop(status, usage_error("--%s is for derive, not %s", c == OPT_INSTALL ? "install" : "remove",
						   cli->command));
			*(c == OPT_INSTALL ? &cli->install : &cli->remove) = true;
			break;
		case OPT_FROM:
			cli->from = optarg;
			break;
		case OPT_ALLOCATION:
			cli->allocation = optarg;
			break;
		case OPT_QMP:
			cli->qmp = optarg;
			break;
		case OPT_QMP_IOMMUFD:
			cli->qmp_iommufd = optarg;
			break;
		case OPT_QMP_BUS:
			cli->qmp_bus = optarg;
			break;
		case OPT_PRESERVE_FDS: {
			char *end = NULL;
			errno = 0;
			cli->preserve_fds = strtol(optarg, &end, 10);
			if (errno || !*optarg || *end || cli->preserve_fds < 0 || cli->preserve_fds > 4096)
				return stop(status, usage_error("--preserve-fds: \"%s\" is not a number of fds from 0 to 4096",
						   optarg));
			break;
		}
		case OPT_SPEC_FLAG:
			if (!strcmp(cli->command, "derive")) {
				const char *flag = long_options[idx].name;
				if (strcmp(flag, "user") != 0 && strcmp(flag, "group") != 0)
					return stop(status, usage_error("derive takes --user and --group, not --%s: the "
							   "domain XML gives the rest", flag));
				*(!strcmp(flag, "user") ? &cli->derive_user : &cli->derive_group) = optarg;
				break;
			}
			if (is_hotplug(cli->command)) {
				if (hotplug_flag(cli, long_options[idx].name, argc, status) < 0)
					return -1;
				break;
			}
			if (!cli->spec_flags && !(cli->spec_flags = vj_spec_new()))
				return stop(status, exit_status(-1, NULL));
			if (vj_spec_set_flag(cli->spec_flags, long_options[idx].name, optarg, &e) < 0)
				return stop(status, exit_status(-1, e));
			break;
		case 'h':
			usage(stdout);
			return stop(status, 0);
		case '?':
			if (optopt)
				return stop(status, usage_error("option '-%c' is not known or lacks its value", optopt));
			return stop(status, usage_error("option '%s' is not known or lacks its value",
					   argv[optind - 1]));
		default:
			return stop(status, usage_error("cannot parse option '%s'", argv[optind - 1]));
		}
	}
	cli->rest = argv + optind;
	cli->n_rest = argc - optind;
	return 0;
}

/* The spec from SPEC or from the flags, never both: 0 and *out, or -1 with
 * the exit status in *status (the error printed). */
static int load_spec(struct cli *cli, struct vj_spec **out, int *status)
{
	struct vj_error *e = NULL;

	if (cli->spec_path && cli->spec_flags)
		return stop(status, usage_error("%s", "give a spec file or spec flags (--name, --user, ...), not both"));
	if (cli->spec_path) {
		if (vj_spec_parse_file(cli->spec_path, out, &e) < 0)
			return stop(status, exit_status(-1, e));
		return 0;
	}
	if (!cli->spec_flags)
		return stop(status, usage_error("%s", "no spec: give a SPEC file or --name, --user and the other spec flags"));
	if (vj_spec_finish(cli->spec_flags, &e) < 0)
		return stop(status, exit_status(-1, e));
	*out = cli->spec_flags;
	cli->spec_flags = NULL;
	return 0;
}

static void run_opts_init(struct cli *cli, struct vj_run_opts *o);

static int cmd_plan(struct cli *cli)
{
	struct vj_spec *spec = NULL;
	struct vj_plan *plan = NULL;
	struct vj_error *e = NULL;
	int r;

	if (cli->n_rest > 1)
		return usage_error("plan takes one SPEC, got extra argument '%s'", cli->rest[1]);
	cli->spec_path = cli->n_rest == 1 ? cli->rest[0] : NULL;
	if (load_spec(cli, &spec, &r) < 0)
		return r;
	if (vj_plan_build(spec, &cli->plan_opts, &plan, &e) < 0) {
		vj_spec_free(spec);
		return exit_status(-1, e);
	}
	/* What run would stop at is an error here too (125), with run's message. */
	{
		struct vj_run_opts o;
		run_opts_init(cli, &o);
		if (vj_preflight(&o, plan, &e) < 0) {
			vj_plan_free(plan);
			vj_spec_free(spec);
			return exit_status(-1, e);
		}
	}
	r = cli->json ? vj_plan_print_json(plan, stdout) : vj_plan_print_table(plan, stdout);
	vj_plan_free(plan);
	vj_spec_free(spec);
	return r < 0 ? VJ_EXIT_SETUP : 0;
}

static int cmd_check(struct cli *cli)
{
	struct vj_check_report *rep = NULL;
	struct vj_error *e = NULL;
	int r;

	if (cli->n_rest > 0)
		return usage_error("check takes no arguments, got '%s'", cli->rest[0]);
	if (cli->spec_flags)
		return usage_error("%s", "check takes no spec flags");
	if (vj_check_host(&cli->plan_opts.roots, &rep, &e) < 0)
		return exit_status(-1, e);
	r = cli->json ? vj_check_print_json(rep, stdout) : vj_check_print_table(rep, stdout);
	if (r == 0)
		r = vj_check_worst(rep) == VJ_CHECK_FAIL ? VJ_EXIT_FAIL : 0;
	else
		r = VJ_EXIT_SETUP;
	vj_check_report_free(rep);
	return r;
}

static void print_warning(const char *msg, void *userdata)
{
	(void)userdata;
	fputs("vfiojail: warning: ", stderr);
	/* A VM name in it may hold control characters: never raw to a terminal. */
	for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			fprintf(stderr, "\\x%02x", *p);
		else
			fputc(*p, stderr);
	fputc('\n', stderr);
}

/* systemd's socket activation: LISTEN_FDS fds from 3 are ours when LISTEN_PID
 * names us; they come first, then --preserve-fds N more (as runc counts them). */
static unsigned listen_fds(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end = NULL;
	long n;

	if (!pid || !fds || strtol(pid, &end, 10) != (long)getpid() || *end)
		return 0;
	n = strtol(fds, &end, 10);
	return *fds && !*end && n > 0 && n <= 4096 ? (unsigned)n : 0;
}

static void run_opts_init(struct cli *cli, struct vj_run_opts *o)
{
	unsigned listen = listen_fds();

	*o = (struct vj_run_opts){
		.preserve_fds = listen + (unsigned)(cli->preserve_fds > 0 ? cli->preserve_fds : 0),
		.listen_pid = listen > 0,
		.plan = cli->plan_opts,
		.state_dir = cli->state_dir,
		.bpffs = cli->bpffs,
		.iommufd_best_effort = cli->best_effort,
		.exec = cli->exec,
		.argv = cli->vmm_argv,
		.warn = print_warning,
	};
}

static int cmd_run(struct cli *cli)
{
	struct vj_spec *spec = NULL;
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	int r;

	if (cli->n_rest > 1)
		return usage_error("run takes one SPEC before \"--\", got extra argument '%s'", cli->rest[1]);
	if (!cli->vmm_argv || !cli->vmm_argv[0])
		return usage_error("%s", "run needs the VMM after \"--\": vfiojail run SPEC -- VMM [ARGS...]");
	cli->spec_path = cli->n_rest == 1 ? cli->rest[0] : NULL;
	if (load_spec(cli, &spec, &r) < 0)
		return r;
	run_opts_init(cli, &o);
	fflush(NULL);
	r = vj_run(spec, &o, &e);
	vj_spec_free(spec);
	return exit_status(r, e);
}

/* "CMD [OPTIONS] -- NAME ...": after "--" comes the name, as getopt's convention
 * has it (the name may then start with '-'); what follows it stays in vmm_argv. */
static void name_after_dashdash(struct cli *cli)
{
	if (cli->n_rest != 0 || !cli->vmm_argv || !cli->vmm_argv[0])
		return;
	cli->rest = cli->vmm_argv;
	cli->n_rest = 1;
	cli->vmm_argv = cli->vmm_argv[1] ? cli->vmm_argv + 1 : NULL;
}

static int cmd_teardown(struct cli *cli)
{
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	int r;

	name_after_dashdash(cli);
	if (cli->n_rest != 1 || cli->vmm_argv)
		return usage_error("%s", "teardown takes one NAME");
	if (cli->spec_flags)
		return usage_error("%s", "teardown takes a NAME, not spec flags");
	if (cli->kill && cli->if_launched)
		return usage_error("%s", "teardown --if-launched never kills: give --kill or --if-launched, not both");
	run_opts_init(cli, &o);
	if (cli->if_launched) /* 1: another command's jail, left alone with a note: 0 */
		r = vj_teardown_if_launched(cli->rest[0], &o, &e) < 0 ? -1 : 0;
	else
		r = vj_teardown(cli->rest[0], &o, cli->kill, &e);
	return exit_status(r, e);
}


static int cmd_setup(struct cli *cli)
{
	char shown[VJ_NAME_SHOWN_MAX];
	struct vj_spec *spec = NULL;
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	int r;

	if (cli->n_rest > 1)
		return usage_error("setup takes one SPEC, got extra argument '%s'", cli->rest[1]);
	if (cli->vmm_argv)
		return usage_error("%s", "setup starts nothing: use vfiojail enter NAME -- CMD afterwards");
	cli->spec_path = cli->n_rest == 1 ? cli->rest[0] : NULL;
	if (load_spec(cli, &spec, &r) < 0)
		return r;
	run_opts_init(cli, &o);
	r = vj_setup(spec, &o, &e);
	if (r == 0)
		printf("%s\n", vj_name_shown(spec->name, shown));
	vj_spec_free(spec);
	return exit_status(r, e);
}

static int cmd_enter(struct cli *cli)
{
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	int r;

	if (cli->spec_flags)
		return usage_error("%s", "enter takes a NAME, not spec flags");
	/* "enter -- NAME [--] CMD ARGS": a NAME that starts with '-'. */
	if (cli->n_rest == 0 && cli->vmm_argv) {
		name_after_dashdash(cli);
		if (cli->vmm_argv && !strcmp(cli->vmm_argv[0], "--"))
			cli->vmm_argv++;
	}
	/* "enter NAME CMD ARGS" without "--": everything after NAME is the command. */
	if (!cli->vmm_argv && cli->n_rest >= 2)
		cli->vmm_argv = cli->rest + 1;
	else if (cli->n_rest != 1)
		return usage_error("%s", "enter takes one NAME, then the command: vfiojail enter NAME -- CMD [ARGS...]");
	if (!cli->vmm_argv || !cli->vmm_argv[0])
		return usage_error("%s", "enter needs a command: vfiojail enter NAME -- CMD [ARGS...]");
	run_opts_init(cli, &o);
	fflush(NULL);
	r = vj_enter(cli->rest[0], &o, &e);
	return exit_status(r, e);
}

static void print_log(const char *msg, void *userdata)
{
	(void)userdata;
	vj_log_line("serve", msg);
}

static void print_serve_warning(const char *msg, void *userdata)
{
	char line[1100];
	size_t n = (size_t)snprintf(line, sizeof(line), "warning: ");

	(void)userdata;
	/* A VM name in it may hold control characters: never raw to a terminal. */
	for (const unsigned char *p = (const unsigned char *)msg; *p && n + 5 < sizeof(line); p++)
		n += (size_t)(*p < 0x20 || *p == 0x7f ? snprintf(line + n, sizeof(line) - n, "\\x%02x", *p)
						      : snprintf(line + n, sizeof(line) - n, "%c", *p));
	vj_log_line("serve", line);
}

/* serve's process: the pid file it holds and the parent a daemon tells. */
struct serve_proc {
	const char *pidfile;
	int pidfd, ready_fd;
};

static int serve_ready(void *userdata, struct vj_error **err)
{
	struct serve_proc *sp = userdata;

	if (sp->pidfd >= 0 && vj_pidfile_write(sp->pidfd, sp->pidfile, err) < 0)
		return -1;
	vj_daemon_ready(&sp->ready_fd);
	return 0;
}

static int cmd_serve(struct cli *cli)
{
	struct vj_serve_opts so = { .listen_fd = -1 };
	struct serve_proc sp = { .pidfile = cli->pidfile, .pidfd = -1, .ready_fd = -1 };
	const char *log = cli->log;
	struct vj_error *e = NULL;
	unsigned listen = listen_fds();
	int r;

	if (cli->n_rest || cli->vmm_argv || cli->spec_flags)
		return usage_error("%s", "serve takes options only: [--socket PATH] [--spec-dir DIR] [--derived-dir DIR] "
				   "[--require-spec] [--daemon] [--pidfile PATH] [--log FILE] [HOST-OPTIONS]");
	if (listen > 1)
		return usage_error("serve takes one socket by socket activation, got LISTEN_FDS=%u", listen);
	if (listen && cli->daemon)
		return usage_error("%s", "serve --daemon is not for socket activation: the service manager "
				   "that passed the socket keeps the service");
	if (cli->daemon) {
		sp.pidfile = sp.pidfile ? sp.pidfile : VJ_DEFAULT_SERVE_PIDFILE;
		log = log ? log : VJ_DEFAULT_SERVE_LOG;
	}
	run_opts_init(cli, &so.run);
	so.run.preserve_fds = 0;
	so.run.listen_pid = false;
	so.run.warn = print_serve_warning;
	so.run.userdata = &sp;
	so.socket_path = cli->socket;
	so.spec_dir = cli->spec_dir;
	so.derived_dir = cli->derived_dir;
	so.require_spec = cli->require_spec;
	so.listen_fd = listen == 1 ? 3 : -1;
	so.log = print_log;
	so.ready = serve_ready;
	setvbuf(stderr, NULL, _IOLBF, 0);
	/* Locked before anything listens: a second service with the same pid
	 * file stops here, and the lock goes with the daemon. */
	if (sp.pidfile && (sp.pidfd = vj_pidfile_lock(sp.pidfile, &e)) < 0)
		return exit_status(-1, e);
	if (cli->daemon) {
		r = vj_daemon_detach(log, &sp.ready_fd, &e);
		if (r > 0) {
			close(sp.pidfd); /* the daemon's now */
			return 0;
		}
		if (r < 0) {
			/* Nobody's: a daemon that failed removed it already (the
			 * check of vj_pidfile_remove spares a newer file). */
			vj_pidfile_remove(sp.pidfd, sp.pidfile);
			return exit_status(-1, e);
		}
	} else if (log) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
			vj_err(&e, VJ_EXIT_SETUP, errno, "serve", log, NULL, "cannot open the log");
			if (fd >= 0)
				close(fd);
			vj_pidfile_remove(sp.pidfd, sp.pidfile);
			return exit_status(-1, e);
		}
		close(fd);
	}
	r = vj_serve(&so, &e);
	/* After the socket went (vj_serve removed it): a script that waits for the
	 * pid file to go finds the socket gone too. */
	vj_pidfile_remove(sp.pidfd, sp.pidfile);
	if (r < 0) {
		vj_daemon_failed(&sp.ready_fd, e);
		if (cli->daemon)
			print_log(e && e->message ? e->message : "the service failed", NULL);
		return exit_status(-1, e);
	}
	return 0;
}

/* The unprivileged side, launch and contexts: everything but the fds and the
 * command is root's choice.  "VERB [OPTIONS] -- NAME -- CMD ARGS" takes a NAME
 * that starts with '-' (the libvirt wrapper always uses this form). */
static int cmd_unprivileged(struct cli *cli, const char *verb, const char *what,
			    int (*call)(const char *, const char *, const struct vj_run_opts *, struct vj_error **))
{
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	int r;

	if (cli->spec_flags || cli->state_dir || cli->bpffs || cli->exec || cli->best_effort ||
	    cli->spec_dir || cli->plan_opts.cgroup_parent || cli->plan_opts.roots.sysfs ||
	    cli->plan_opts.roots.proc || cli->plan_opts.roots.dev)
		return usage_error("%s takes --socket, --preserve-fds and --timeout only: root's spec and "
				   "the service decide everything else", verb);
	if (cli->n_rest == 0 && cli->vmm_argv && cli->vmm_argv[0] && cli->vmm_argv[1] &&
	    !strcmp(cli->vmm_argv[1], "--")) {
		name_after_dashdash(cli);
		cli->vmm_argv++;
	}
	if (cli->n_rest != 1)
		return usage_error("%s takes one NAME: vfiojail %s NAME -- %s [ARGS...]", verb, verb, what);
	if (!cli->vmm_argv || !cli->vmm_argv[0])
		return usage_error("%s needs %s after \"--\": vfiojail %s NAME -- %s [ARGS...]", verb,
				   !strcmp(verb, "launch") ? "the VMM" : "a command", verb, what);
	run_opts_init(cli, &o);
	o.timeout_s = (unsigned)cli->timeout;
	fflush(NULL);
	r = call(cli->rest[0], cli->socket, &o, &e);
	return exit_status(r, e);
}

static int cmd_launch(struct cli *cli)
{
	return cmd_unprivileged(cli, "launch", "VMM", vj_launch);
}

/* The contexts alone: as launch, the caller's command and fds only. */
static int cmd_contexts(struct cli *cli)
{
	return cmd_unprivileged(cli, "contexts", "CMD", vj_contexts);
}

/* ------------------------------------------------------------------------- */
/* The Kubernetes path                                                        */

static int cmd_cdi(struct cli *cli)
{
	struct vj_spec *spec = NULL;
	struct vj_plan *plan = NULL;
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	struct vj_cdi_opts co = { 0 };
	struct vj_allocation alloc = { 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *mem = NULL;
	int r;

	if (cli->n_rest > 1)
		return usage_error("cdi takes one SPEC, got extra argument '%s'", cli->rest[1]);
	if (cli->allocation && (cli->n_rest || cli->spec_flags))
		return usage_error("%s", "cdi takes --allocation FILE, a SPEC or spec flags: one of them");
	if (cli->allocation) {
		if (vj_allocation_parse_file(cli->allocation, &alloc, &e) < 0)
			return exit_status(-1, e);
		spec = alloc.spec;
		alloc.spec = NULL;
	} else {
		cli->spec_path = cli->n_rest == 1 ? cli->rest[0] : NULL;
		if (load_spec(cli, &spec, &r) < 0)
			return r;
	}
	run_opts_init(cli, &o);
	co = (struct vj_cdi_opts){ .vfiojail = cli->vfiojail, .state_dir = cli->state_dir,
				   .roots = &cli->plan_opts.roots, .best_effort = cli->best_effort,
				   .timeout_s = (unsigned)cli->timeout };
	r = cli->allocation ? vj_allocation_plan(spec, &cli->plan_opts, &plan, &e)
			    : vj_plan_build(spec, &cli->plan_opts, &plan, &e);
	for (size_t i = 0; r == 0 && i < plan->n_warnings; i++)
		print_warning(plan->warnings[i], NULL);
	/* Written whole, and only once the directory the spec mounts exists (it must
	 * before any container starts): a refused VM prints nothing and makes nothing. */
	if (r == 0 && !(mem = open_memstream(&text, &len)))
		r = -1;
	if (r == 0)
		r = vj_cdi_print(plan, spec, &co, mem, &e);
	if (mem && fclose(mem) != 0 && r == 0)
		r = -1;
	if (r == 0)
		r = vj_handoff_prepare(spec->name, &o, &e);
	if (r == 0 && fwrite(text, 1, len, stdout) != len)
		r = -1;
	/* The spec mounts the hand-off directory, under the state dir (a tmpfs): a
	 * spec kept where it outlives that (a reboot, a teardown) fails every pod
	 * that asks for the VM, and the hooks run too late to make it again. */
	if (r == 0)
		fprintf(stderr,
			"vfiojail: note: install this spec in /var/run/cdi, not /etc/cdi: it mounts %s/%s/%s, "
			"which goes with a reboot or teardown, and a spec that outlives it fails the pod\n",
			cli->state_dir && *cli->state_dir ? cli->state_dir : VJ_DEFAULT_STATE_DIR, "handoff",
			spec->name);
	/* What the driver returns to the kubelet (also the spec's kind "=" its device's name). */
	if (r == 0 && alloc.cdi_device)
		fprintf(stderr, "vfiojail: note: CDI device %s%s%s%s\n", alloc.cdi_device,
			alloc.claim ? " for claim " : "", alloc.claim ? alloc.claim : "",
			alloc.claim ? ": return it in cdi_device_ids (NodePrepareResources)"
				    : ": return it in CDIDevices (Allocate)");
	vj_allocation_clear(&alloc);
	free(text);
	vj_plan_free(plan);
	vj_spec_free(spec);
	return exit_status(r, e);
}

static void print_handoff_log(const char *msg, void *userdata)
{
	(void)userdata;
	vj_log_line("handoff", msg);
}

/* In the foreground, for one process (--pid) and its pid namespace. */
static int cmd_handoff(struct cli *cli)
{
	struct vj_spec *spec = NULL;
	struct vj_error *e = NULL;
	struct vj_handoff_opts ho = { .ready_fd = -1 };
	int r;

	if (cli->n_rest > 1)
		return usage_error("handoff takes one SPEC, got extra argument '%s'", cli->rest[1]);
	if (!cli->pid)
		return usage_error("%s", "handoff needs --pid PID: the process whose pid namespace and cgroup the client must share");
	cli->spec_path = cli->n_rest == 1 ? cli->rest[0] : NULL;
	if (load_spec(cli, &spec, &r) < 0)
		return r;
	run_opts_init(cli, &ho.run);
	ho.container_pid = (pid_t)cli->pid;
	ho.timeout_s = (unsigned)cli->timeout;
	ho.log = print_handoff_log;
	setvbuf(stderr, NULL, _IOLBF, 0);
	ho.socket_path = cli->socket;
	r = vj_handoff_serve(spec, &ho, &e);
	vj_spec_free(spec);
	return exit_status(r, e);
}

/* The CDI hooks: hook create-runtime (the OCI state on stdin), hook poststop NAME. */
static int cmd_hook(struct cli *cli)
{
	struct vj_spec *spec = NULL;
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	int r;

	if (cli->n_rest < 1)
		return usage_error("%s", "hook takes create-runtime or poststop");
	run_opts_init(cli, &o);
	if (!strcmp(cli->rest[0], "poststop")) {
		cli->rest++;
		cli->n_rest--;
		name_after_dashdash(cli);
		if (cli->n_rest != 1)
			return usage_error("%s", "hook poststop takes one NAME");
		r = vj_cdi_hook_poststop(cli->rest[0], &o, stdin, &e);
		return exit_status(r, e);
	}
	if (strcmp(cli->rest[0], "create-runtime") != 0 || cli->n_rest != 1)
		return usage_error("%s", "hook takes create-runtime (the spec in --spec-json) or poststop NAME");
	if (!cli->spec_json)
		return usage_error("%s", "hook create-runtime needs --spec-json");
	if (vj_spec_parse_string(cli->spec_json, &spec, &e) < 0)
		return exit_status(-1, e);
	r = vj_cdi_hook_create_runtime(spec, &o, (unsigned)cli->timeout, stdin, &e);
	vj_spec_free(spec);
	return exit_status(r, e);
}

static int cmd_status(struct cli *cli)
{
	struct vj_status *st = NULL;
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	int r;

	name_after_dashdash(cli);
	if (cli->n_rest != 1 || cli->spec_flags || cli->vmm_argv)
		return usage_error("%s", "status takes one NAME");
	run_opts_init(cli, &o);
	if (vj_status_get(cli->rest[0], &o, &st, &e) < 0)
		return exit_status(-1, e);
	r = cli->json ? vj_status_print_json(st, stdout) : vj_status_print_table(st, stdout);
	r = r < 0 ? VJ_EXIT_SETUP : st->drift ? VJ_EXIT_FAIL : 0;
	vj_status_free(st);
	return r;
}

/* The columns @name takes as vj_name_shown shows it (one per character). */
static int shown_width(const char *name)
{
	char buf[VJ_NAME_SHOWN_MAX];
	int w = 0;

	for (const char *p = vj_name_shown(name, buf); *p; p++)
		w += ((unsigned char)*p & 0xc0) != 0x80;
	return w;
}

static int cmd_list(struct cli *cli)
{
	char shown[VJ_NAME_SHOWN_MAX];
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	char **names = NULL;
	size_t n = 0, i, printed = 0;
	int r = 0, width = 24;

	if (cli->n_rest != 0 || cli->spec_flags)
		return usage_error("%s", "list takes no arguments");
	run_opts_init(cli, &o);
	if (vj_list(&o, &names, &n, &e) < 0)
		return exit_status(-1, e);
	/* The NAME column as wide as the longest name, so long names keep the columns. */
	for (i = 0; i < n; i++)
		width = shown_width(names[i]) > width ? shown_width(names[i]) : width;
	if (cli->json)
		fputs("{\"jails\": [", stdout);
	else
		printf("%-*s %-7s %-6s %s\n", width, "NAME", "KIND", "PROCS", "STATE");
	for (i = 0; i < n; i++) {
		struct vj_status *st = NULL;
		if (vj_status_get(names[i], &o, &st, &e) < 0) {
			r = exit_status(VJ_EXIT_FAIL, e);
			e = NULL;
		} else if (cli->json) {
			fputs(printed++ ? "," : "", stdout);
			vj_status_print_json(st, stdout);
		} else {
			printf("%s%*s %-7s %-6zu %s%s\n", vj_name_shown(st->name, shown),
			       width - shown_width(st->name), "", st->kind, st->n_procs,
			       st->drift ? "drift" : "ok", st->abandoned ? ", abandoned" : "");
		}
		if (st && st->drift)
			r = VJ_EXIT_FAIL;
		vj_status_free(st);
		free(names[i]);
	}
	free(names);
	if (cli->json)
		fputs("]}\n", stdout);
	return r;
}

static int cmd_gc(struct cli *cli)
{
	char shown[VJ_NAME_SHOWN_MAX];
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	char **names = NULL;
	size_t n = 0;
	int r;

	if (cli->n_rest != 0 || cli->spec_flags)
		return usage_error("%s", "gc takes no arguments");
	run_opts_init(cli, &o);
	r = vj_gc(&o, &names, &n, &e);
	for (size_t i = 0; i < n; i++) {
		printf("removed %s\n", vj_name_shown(names[i], shown));
		free(names[i]);
	}
	free(names);
	return r < 0 ? exit_status(-1, e) : 0;
}

static int cmd_hotplug(struct cli *cli)
{
	struct vj_hotplug h = {
		.hostdevs = cli->hostdevs, .n_hostdevs = cli->n_hostdevs,
		.devices = cli->devices, .n_devices = cli->n_devices,
	};
	struct vj_error *e = NULL;
	struct vj_run_opts o;
	bool attach = !strcmp(cli->command, "attach");
	int r;

	name_after_dashdash(cli); /* "attach --device PATH -- NAME" */
	if (cli->n_rest != 1 || cli->vmm_argv)
		return usage_error("%s takes one NAME and --hostdev/--device flags", cli->command);
	if (!cli->n_hostdevs && !cli->n_devices)
		return usage_error("%s needs at least one --hostdev BDF or --device PATH", cli->command);
	if (!cli->qmp && (cli->qmp_iommufd || cli->qmp_bus || cli->timeout))
		return usage_error("%s: --qmp-iommufd, --qmp-bus and --timeout go with --qmp SOCKET", cli->command);
	if (!attach && (cli->qmp_iommufd || cli->qmp_bus))
		return usage_error("%s", "detach takes --qmp SOCKET and --timeout, not --qmp-iommufd or --qmp-bus");
	if (cli->timeout > 3600)
		return usage_error("--timeout: %ld is more than 3600 seconds", cli->timeout);
	h.qmp = cli->qmp;
	h.qmp_iommufd = cli->qmp_iommufd;
	h.qmp_bus = cli->qmp_bus;
	h.timeout_s = (int)cli->timeout;
	run_opts_init(cli, &o);
	r = attach ? vj_attach(cli->rest[0], &h, &o, &e) : vj_detach(cli->rest[0], &h, &o, &e);
	return exit_status(r, e);
}

/* ------------------------------------------------------------------------- */
/* A spec derived from the launcher's own description                         */

/* All of @fd, at most @max bytes (NUL-terminated): 0, or -errno (-EFBIG past @max). */
static int read_all(int fd, size_t max, char **out, size_t *out_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;

	for (;;) {
		ssize_t n;
		if (cap - len < 2) {
			char *bigger = realloc(buf, cap = cap ? cap * 2 : 65536);
			if (!bigger) {
				free(buf);
				return -ENOMEM;
			}
			buf = bigger;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			free(buf);
			return -saved;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

/* derive --install NAME (the domain XML on stdin) and derive --remove NAME: the
 * libvirt hook's "prepare" and "release" (vj_derived_install). */
static int derive_install(struct cli *cli)
{
	struct vj_derived_opts o = {
		.plan = cli->plan_opts, .spec_dir = cli->spec_dir, .derived_dir = cli->derived_dir,
		.require_spec = cli->require_spec, .user = cli->derive_user, .group = cli->derive_group,
	};
	struct vj_error *e = NULL;
	char *xml = NULL;
	size_t len = 0;
	int r;

	name_after_dashdash(cli);
	if (cli->install && cli->remove)
		return usage_error("%s", "derive takes --install or --remove, not both");
	if (cli->n_rest != 1 || cli->vmm_argv)
		return usage_error("derive --%s takes one NAME (the domain's name)%s", cli->install ? "install" : "remove",
				   cli->install ? "; the domain XML comes on standard input" : "");
	if (cli->remove) {
		if (cli->from || cli->derive_user || cli->derive_group || cli->require_spec || cli->spec_dir)
			return usage_error("%s", "derive --remove NAME takes --derived-dir only");
		return exit_status(vj_derived_remove(cli->rest[0], &o, &e), e);
	}
	if (!cli->from || strcmp(cli->from, "libvirt") != 0)
		return usage_error("%s", "derive --install needs --from libvirt");
	r = read_all(STDIN_FILENO, VJ_DOMXML_MAX, &xml, &len);
	if (r < 0) {
		fprintf(stderr, "vfiojail: the domain XML on standard input: %s\n",
			r == -EFBIG ? "larger than the largest derive reads" : strerror(-r));
		return VJ_EXIT_USAGE;
	}
	r = vj_derived_install(cli->rest[0], xml, len, &o, &e);
	free(xml);
	return exit_status(r, e);
}

static int cmd_derive(struct cli *cli)
{
	struct vj_domxml_opts o = {
		.user = cli->derive_user,
		.group = cli->derive_group,
		.roots = cli->plan_opts.roots,
	};
	const char *path = cli->n_rest == 1 ? cli->rest[0] : "-";
	struct vj_spec *spec = NULL;
	struct vj_error *e = NULL;
	char *xml = NULL, *json = NULL;
	size_t len = 0;
	int fd, r;

	if (cli->install || cli->remove)
		return derive_install(cli);
	if (cli->derived_dir || cli->require_spec || cli->spec_dir)
		return usage_error("%s", "--derived-dir, --require-spec and --spec-dir are for derive --install");
	if (!cli->from)
		return usage_error("%s", "derive needs --from libvirt");
	if (strcmp(cli->from, "libvirt") != 0)
		return usage_error("derive --from: \"%s\" is not known (libvirt is)", cli->from);
	if (cli->n_rest > 1 || cli->vmm_argv)
		return usage_error("%s", "derive takes one XML file (\"-\" or none: standard input)");
	fd = !strcmp(path, "-") ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "vfiojail: %s: cannot open the domain XML: %s\n", path, strerror(errno));
		return VJ_EXIT_USAGE;
	}
	r = read_all(fd, VJ_DOMXML_MAX, &xml, &len);
	if (fd != STDIN_FILENO)
		close(fd);
	if (r == -EFBIG) {
		fprintf(stderr, "vfiojail: %s: the domain XML is larger than %u MiB\n", path,
			VJ_DOMXML_MAX >> 20);
		return VJ_EXIT_USAGE;
	}
	if (r < 0) {
		fprintf(stderr, "vfiojail: %s: cannot read the domain XML: %s\n", path, strerror(-r));
		return VJ_EXIT_USAGE;
	}
	r = vj_spec_from_libvirt(xml, len, &o, &spec, &json, &e);
	free(xml);
	if (r == 0 && printf("%s\n", json) < 0)
		r = VJ_EXIT_SETUP;
	free(json);
	vj_spec_free(spec);
	return exit_status(r, e);
}

static const struct command {
	const char *name;
	int (*fn)(struct cli *cli);
} commands[] = {
	{ "plan", cmd_plan },
	{ "check", cmd_check },
	{ "run", cmd_run },
	{ "teardown", cmd_teardown },
	{ "setup", cmd_setup },
	{ "enter", cmd_enter },
	{ "status", cmd_status },
	{ "list", cmd_list },
	{ "gc", cmd_gc },
	{ "serve", cmd_serve },
	{ "launch", cmd_launch },
	{ "contexts", cmd_contexts },
	{ "cdi", cmd_cdi },
	{ "handoff", cmd_handoff },
	{ "hook", cmd_hook },
	{ "derive", cmd_derive },
	{ "attach", cmd_hotplug },
	{ "detach", cmd_hotplug },
};

int main(int argc, char **argv)
{
	struct cli cli = { .preserve_fds = -1 };
	size_t i;
	int r, status;

	if (argc < 2)
		return usage(stderr), VJ_EXIT_USAGE;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("vfiojail %s\n", VJ_VERSION);
		return 0;
	}
	if (options_build() < 0)
		return exit_status(-1, NULL);
	cli.command = argv[1];
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, cli.command) != 0)
			continue;
		/* Everything after the first "--" is the VMM's, untouched by getopt. */
		int n = argc;
		for (int k = 2; k < argc; k++)
			if (!strcmp(argv[k], "--")) {
				n = k;
				cli.vmm_argv = argv + k + 1;
				break;
			}
		r = parse_options(&cli, n - 1, argv + 1, &status) < 0 ? status : -1;
		if (r < 0 && cli.preserve_fds >= 0 && strcmp(cli.command, "run") && strcmp(cli.command, "enter") &&
		    strcmp(cli.command, "launch") && strcmp(cli.command, "contexts"))
			r = usage_error("--preserve-fds is for run, enter, launch and contexts, not %s", cli.command);
		if (r < 0 && cli.socket && strcmp(cli.command, "serve") && strcmp(cli.command, "launch") &&
		    strcmp(cli.command, "handoff") && strcmp(cli.command, "contexts"))
			r = usage_error("--socket is for serve, launch, contexts and handoff, not %s", cli.command);
		if (r < 0 && (cli.daemon || cli.pidfile || cli.log) && strcmp(cli.command, "serve"))
			r = usage_error("--%s is for serve, not %s",
					cli.daemon ? "daemon" : cli.pidfile ? "pidfile" : "log", cli.command);
		if (r < 0 && (cli.allocation || cli.vfiojail) && strcmp(cli.command, "cdi"))
			r = usage_error("--%s is for cdi, not %s", cli.allocation ? "allocation" : "vfiojail", cli.command);
		if (r < 0 && (cli.derived_dir || cli.require_spec) && strcmp(cli.command, "serve") &&
		    strcmp(cli.command, "derive"))
			r = usage_error("--%s is for serve and derive --install, not %s",
					cli.derived_dir ? "derived-dir" : "require-spec", cli.command);
		if (r < 0)
			r = commands[i].fn(&cli);
		vj_spec_free(cli.spec_flags);
		free(cli.hostdevs);
		free(cli.devices);
		free(long_options);
		return r;
	}
	free(long_options);
	return usage_error("unknown command '%s'", cli.command);
}
