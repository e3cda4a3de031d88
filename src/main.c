/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vfiojail command: finds the command, parses its options (cli_options.c)
 * and calls its entry point (cli_jail.c, cli_service.c); every error becomes
 * an exit status in one function (exit_status, cli_exit.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "error.h"

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
		options_free();
		return r;
	}
	options_free();
	return usage_error("unknown command '%s'", cli.command);
}
