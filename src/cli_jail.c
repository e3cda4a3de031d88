/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The commands' entry points: each checks its arguments, calls the core
 * (vfiojail.h) and turns the result into an exit status (exit_status).
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

int cmd_plan(struct cli *cli)
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

int cmd_check(struct cli *cli)
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

int cmd_run(struct cli *cli)
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

int cmd_teardown(struct cli *cli)
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

int cmd_setup(struct cli *cli)
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

int cmd_enter(struct cli *cli)
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

int cmd_status(struct cli *cli)
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

int cmd_list(struct cli *cli)
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

int cmd_gc(struct cli *cli)
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

int cmd_hotplug(struct cli *cli)
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

int cmd_derive(struct cli *cli)
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
