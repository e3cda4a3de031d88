/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in VMM for the hotplug tests: one process that stays alive across
 * attach and detach and answers commands read from standard input, one answer
 * line each on standard output:
 *
 *   open PATH        "ok", or the errno's name (EPERM, ENXIO, ENOENT, ...)
 *   memlock          "SOFT HARD" of RLIMIT_MEMLOCK in bytes ("unlimited")
 *   setmemlock N     set the soft limit to N bytes (the hard one is kept): "ok" or errno
 *   quit             exit 0 (so does end of input)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *err_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "EUNKNOWN";
}

static void print_limit(rlim_t v)
{
	if (v == RLIM_INFINITY)
		fputs("unlimited", stdout);
	else
		printf("%" PRIu64, (uint64_t)v);
}

static void cmd_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		puts(err_name(errno));
		return;
	}
	close(fd);
	puts("ok");
}

static void cmd_memlock(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
		puts(err_name(errno));
		return;
	}
	print_limit(rl.rlim_cur);
	putchar(' ');
	print_limit(rl.rlim_max);
	putchar('\n');
}

static void cmd_setmemlock(const char *arg)
{
	struct rlimit rl;
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || end == arg) {
		puts("EINVAL");
		return;
	}
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
		puts(err_name(errno));
		return;
	}
	rl.rlim_cur = (rlim_t)v;
	puts(setrlimit(RLIMIT_MEMLOCK, &rl) == 0 ? "ok" : err_name(errno));
}

int main(void)
{
	char line[4096];

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "open ", 5))
			cmd_open(line + 5);
		else if (!strcmp(line, "memlock"))
			cmd_memlock();
		else if (!strncmp(line, "setmemlock ", 11))
			cmd_setmemlock(line + 11);
		else if (!strcmp(line, "quit"))
			return 0;
		else
			puts("EINVAL");
	}
	return 0;
}
