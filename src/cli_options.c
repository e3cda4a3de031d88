/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The command line into struct cli: the option table (the fixed options, then
 * one per spec flag from the spec's table), the parser, the spec it names, and
 * the run options every command's entry point builds from it.
 */
#include "cli.h"

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

/* The fixed options; the spec's flags are added from its table (vj_spec_flag). */
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
int options_build(void)
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

void options_free(void)
{
	free(long_options);
	long_options = NULL;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vfiojail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'vfiojail --help'.\n", stderr);
	return VJ_EXIT_USAGE;
}

/* Stop a parse with @s as the exit status: -1. */
int stop(int *status, int s)
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
int parse_options(struct cli *cli, int argc, char **argv, int *status)
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
int load_spec(struct cli *cli, struct vj_spec **out, int *status)
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

void print_warning(const char *msg, void *userdata)
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
unsigned listen_fds(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end = NULL;
	long n;

	if (!pid || !fds || strtol(pid, &end, 10) != (long)getpid() || *end)
		return 0;
	n = strtol(fds, &end, 10);
	return *fds && !*end && n > 0 && n <= 4096 ? (unsigned)n : 0;
}

void run_opts_init(struct cli *cli, struct vj_run_opts *o)
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

/* "CMD [OPTIONS] -- NAME ...": after "--" comes the name, as getopt's convention
 * has it (the name may then start with '-'); what follows it stays in vmm_argv. */
void name_after_dashdash(struct cli *cli)
{
	if (cli->n_rest != 0 || !cli->vmm_argv || !cli->vmm_argv[0])
		return;
	cli->rest = cli->vmm_argv;
	cli->n_rest = 1;
	cli->vmm_argv = cli->vmm_argv[1] ? cli->vmm_argv + 1 : NULL;
}
