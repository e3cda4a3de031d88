/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A forked helper and its error pipe (see child.h). */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

/* The error crosses the pipe as NUL-separated fields. */
void vj_child_send_error(int fd, const struct vj_error *e)
{
	char buf[4096];
	int n;

	if (!e)
		return;
	n = snprintf(buf, sizeof(buf), "%d%c%d%c%s%c%s%c%s%c%s", e->status, 0, e->errnum, 0,
		     e->step ? e->step : "", 0, e->object ? e->object : "", 0,
		     e->message ? e->message : "", 0, e->hint ? e->hint : "");
	if (n > 0 && write(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n + 1 : sizeof(buf)) < 0)
		return;
}

int vj_child_parse_error(char *buf, size_t n, struct vj_error **err)
{
	char *f[6];
	int i;

	if (n == 0)
		return 0;
	buf[n] = '\0';
	f[0] = buf;
	for (i = 1; i < 6; i++)
		f[i] = f[i - 1] + strlen(f[i - 1]) + (f[i - 1] + strlen(f[i - 1]) < buf + n ? 1 : 0);
	return vj_err(err, atoi(f[0]), atoi(f[1]), *f[2] ? f[2] : NULL, *f[3] ? f[3] : NULL,
		      *f[5] ? f[5] : NULL, "%s", f[4]);
}

size_t vj_child_recv(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
	}
	return n;
}

int vj_child_recv_error(int fd, struct vj_error **err)
{
	char buf[4096];
	size_t n = vj_child_recv(fd, buf, sizeof(buf));

	return n == 0 ? 0 : vj_child_parse_error(buf, n, err);
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	p[0] = p[1] = -1;
}

/* The child's side: wait for the parent's gate (@gate_rd) or pass its own
 * (@gate, with its pid), run @fn, then exit, hold or (EXEC) not return. */
static _Noreturn void child_main(enum vj_child_mode mode, int errfd, int gate_rd, int hold_rd,
				 int (*gate)(pid_t pid, void *arg, struct vj_error **err),
				 int (*fn)(void *arg, int *errfd, struct vj_error **err), void *arg)
{
	struct vj_error *e = NULL;
	char go = 0;

	if (gate_rd >= 0) {
		/* Nothing runs before the parent's gate said yes. */
		while (read(gate_rd, &go, 1) < 0 && errno == EINTR)
			;
		close(gate_rd);
		if (go != 1)
			_exit(VJ_EXIT_SETUP);
	}
	if ((gate && gate(getpid(), arg, &e) < 0) || fn(arg, &errfd, &e) < 0 || mode == VJ_CHILD_EXEC) {
		/* EXEC: @fn returns only when the exec failed. */
		int status = e ? e->status : VJ_EXIT_SETUP;
		vj_child_send_error(errfd, e);
		vj_error_free(e); /* the parent's heap, when the memory is shared */
		_exit(status);
	}
	if (mode == VJ_CHILD_HOLD) {
		close(errfd); /* EOF without an error: ready */
		while (read(hold_rd, &go, 1) < 0 && errno == EINTR)
			;
	}
	_exit(0);
}

/*
 * The launch child without a copy of this process (VJ_CHILD_EXEC): clone with
 * CLONE_VM | CLONE_VFORK, as posix_spawn does.  The child runs on a stack of its
 * own in our memory and we sleep in the kernel until it has exec'd or exited;
 * no page table is copied and the child takes no fault on a page we already
 * mapped (a fork cost the launch about 0.15 ms, a fifth of its overhead over
 * the floor's, in page faults alone).  What this asks of @gate and @fn: they
 * write only what the parent would (the gate's record) or never reads again,
 * and change no environ; every signal is blocked until the exec resets them.
 * Only where it is safe: a threaded caller's other threads would run beside
 * the child in the same memory (and glibc's set*id would reach them), and
 * ASan cannot follow a child onto a stack it did not make.  Those fork.
 */
#define SPAWN_STACK (256 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define VJ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VJ_ASAN 1
#endif
#endif

struct spawn {
	int errfd;
	int (*gate)(pid_t pid, void *arg, struct vj_error **err);
	int (*fn)(void *arg, int *errfd, struct vj_error **err);
	void *arg;
	volatile bool ran; /* the child's first act: its writes are ours to read */
};

static int spawn_main(void *p)
{
	struct spawn *s = p;

	s->ran = true;
	child_main(VJ_CHILD_EXEC, s->errfd, -1, -1, s->gate, s->fn, s->arg);
}

static bool spawn_ok(void)
{
#ifdef VJ_ASAN
	return false;
#else
	return __libc_single_threaded;
#endif
}

static pid_t spawn(struct spawn *s)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	sigset_t all, old;
	char *stack;
	pid_t pid;
	int errnum;

	stack = mmap(NULL, SPAWN_STACK, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	if (mprotect(stack, page, PROT_NONE) < 0) { /* a guard page below it */
		errnum = errno;
		munmap(stack, SPAWN_STACK);
		errno = errnum;
		return -1;
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = clone(spawn_main, stack + SPAWN_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, s);
	errnum = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	munmap(stack, SPAWN_STACK);
	errno = errnum;
	return pid;
}

/* vj_child_run's EXEC by spawn(): the gate passed in the child, with its pid. */
static int spawn_run(struct vj_child *c, int (*gate)(pid_t pid, void *arg, struct vj_error **err),
		     int (*fn)(void *arg, int *errfd, struct vj_error **err), void *arg, const char *what,
		     const char *object, struct vj_error **err)
{
	struct spawn s = { -1, gate, fn, arg, false };
	int errp[2], status, r;

	if (pipe2(errp, O_CLOEXEC) < 0)
		return vj_err_sys(err, what, object, errno, NULL, "pipe");
	s.errfd = errp[1];
	c->pid = spawn(&s);
	r = errno;
	close(errp[1]);
	if (c->pid < 0) {
		close(errp[0]);
		return vj_err_sys(err, what, object, r, NULL, "cannot start the child");
	}
	/* Here the child has exec'd (EOF) or failed (its error); under valgrind,
	 * which runs a vfork as a fork, the read waits for that. */
	r = vj_child_recv_error(errp[0], err);
	close(errp[0]);
	/* Its memory was its own after all (valgrind): what the gate recorded did
	 * not reach us; it is recorded again here, with the same pid. */
	if (r == 0 && gate && !s.ran && gate(c->pid, arg, err) < 0) {
		kill(c->pid, SIGKILL);
		r = -1;
	}
	if (r < 0) {
		reap(c->pid, &status);
		c->pid = -1;
	}
	return r;
}

int vj_child_run(struct vj_child *c, enum vj_child_mode mode,
		 int (*gate)(pid_t pid, void *arg, struct vj_error **err),
		 int (*fn)(void *arg, int *errfd, struct vj_error **err), void *arg,
		 const char *what, const char *object, struct vj_error **err)
{
	int errp[2] = { -1, -1 }, holdp[2] = { -1, -1 }, gatep[2] = { -1, -1 }, status = 0, r;

	c->pid = -1;
	c->gofd = -1;
	if (mode == VJ_CHILD_EXEC && spawn_ok())
		return spawn_run(c, gate, fn, arg, what, object, err);
	if (pipe2(errp, O_CLOEXEC) < 0 || (mode == VJ_CHILD_HOLD && pipe2(holdp, O_CLOEXEC) < 0) ||
	    (gate && pipe2(gatep, O_CLOEXEC) < 0)) {
		r = errno;
		close_pair(errp);
		close_pair(holdp);
		return vj_err_sys(err, what, object, r, NULL, "pipe");
	}
	c->pid = fork();
	if (c->pid < 0) {
		r = errno;
		close_pair(errp);
		close_pair(holdp);
		close_pair(gatep);
		return vj_err_sys(err, what, object, r, NULL, "cannot fork");
	}
	if (c->pid == 0) {
		close(errp[0]);
		if (holdp[1] >= 0)
			close(holdp[1]);
		if (gatep[1] >= 0)
			close(gatep[1]);
		child_main(mode, errp[1], gatep[0], holdp[0], NULL, fn, arg);
	}
	close(errp[1]);
	if (holdp[0] >= 0)
		close(holdp[0]);
	r = 0;
	if (gate) {
		char go = 1;

		close(gatep[0]);
		r = gate(c->pid, arg, err);
		if (r == 0 && write(gatep[1], &go, 1) != 1)
			r = vj_err_sys(err, what, object, errno, NULL, "cannot release the child");
		close(gatep[1]); /* without the byte, the child exits before it runs @fn */
	}
	if (r == 0)
		r = vj_child_recv_error(errp[0], err);
	close(errp[0]);
	c->gofd = mode == VJ_CHILD_HOLD ? holdp[1] : -1;
	if (r < 0 || mode == VJ_CHILD_EXIT) {
		if (c->gofd >= 0)
			close(c->gofd);
		c->gofd = -1;
		reap(c->pid, &status);
		c->pid = -1;
		if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			r = vj_err_sys(err, what, object, 0, NULL, "the helper died (wait status %d)", status);
	}
	return r;
}

void vj_child_finish(struct vj_child *c)
{
	int status;

	if (c->gofd >= 0)
		close(c->gofd); /* the child reads EOF and exits */
	c->gofd = -1;
	if (c->pid > 0)
		reap(c->pid, &status);
	c->pid = -1;
}
