/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The services' entry points: serve (socket activation, --daemon), its clients
 * launch and contexts, and the Kubernetes path's cdi, handoff and hook.
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

int cmd_serve(struct cli *cli)
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

int cmd_launch(struct cli *cli)
{
	return cmd_unprivileged(cli, "launch", "VMM", vj_launch);
}

/* The contexts alone: as launch, the caller's command and fds only. */
int cmd_contexts(struct cli *cli)
{
	return cmd_unprivileged(cli, "contexts", "CMD", vj_contexts);
}

/* ------------------------------------------------------------------------- */
/* The Kubernetes path                                                        */

int cmd_cdi(struct cli *cli)
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
int cmd_handoff(struct cli *cli)
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
int cmd_hook(struct cli *cli)
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
