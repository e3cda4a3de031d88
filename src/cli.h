/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vfiojail command's parts (main.c is the dispatcher): what the command
 * line says (struct cli, cli_options.c), the help (cli_usage.c), and one entry
 * point per command (cli_jail.c: the commands; cli_service.c: the services).
 * Every error becomes an exit status in one function, exit_status (cli_exit.c).
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

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

/* cli_exit.c: the CLI's one place where an error becomes an exit status. */
int exit_status(int r, struct vj_error *e);

/* cli_usage.c: `vfiojail --help`, to @f. */
void usage(FILE *f);

/* cli_options.c: the option table (fixed options, then the spec's flags), its
 * parser and the helpers every command's entry point shares. */
int options_build(void);
void options_free(void);
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int stop(int *status, int s);
int parse_options(struct cli *cli, int argc, char **argv, int *status);
int load_spec(struct cli *cli, struct vj_spec **out, int *status);
void print_warning(const char *msg, void *userdata);
unsigned listen_fds(void);
void run_opts_init(struct cli *cli, struct vj_run_opts *o);
void name_after_dashdash(struct cli *cli);

/* cli_jail.c: the commands' entry points. */
int cmd_plan(struct cli *cli);
int cmd_check(struct cli *cli);
int cmd_run(struct cli *cli);
int cmd_teardown(struct cli *cli);
int cmd_setup(struct cli *cli);
int cmd_enter(struct cli *cli);
int cmd_status(struct cli *cli);
int cmd_list(struct cli *cli);
int cmd_gc(struct cli *cli);
int cmd_hotplug(struct cli *cli);
int cmd_derive(struct cli *cli);

/* cli_service.c: the services' entry points. */
int cmd_serve(struct cli *cli);
int cmd_launch(struct cli *cli);
int cmd_contexts(struct cli *cli);
int cmd_cdi(struct cli *cli);
int cmd_handoff(struct cli *cli);
int cmd_hook(struct cli *cli);
