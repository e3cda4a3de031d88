/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-timer: wall-clock timing of launches for tools/bench, without a shell in
 * the measured path (posix_spawn + waitpid, CLOCK_MONOTONIC).
 *
 *   bench-timer rounds PLAN RUNS WARMUP
 *      PLAN: one command a line, "NAME<TAB>COMMAND<TAB>AFTER" (words split on
 *      spaces; AFTER is "-" or a command run untimed after each launch, e.g. a
 *      teardown).  Runs the commands interleaved, A B C A B C ..., WARMUP rounds
 *      unrecorded then RUNS rounds; prints "ROUND NAME MICROSECONDS STATUS CPU_US" a
 *      line: wall time, exit status, and the CPU time (user + system) of the command
 *      and of what it waited for, which other work on the machine moves far less.
 *
 *      With BENCH_GAP_MS=G in the environment, each timed launch comes G ms after
 *      the previous command ended (launches spaced as in a fleet, not back to back).
 *
 *   bench-timer parallel N -- COMMAND [ARG...]
 *      Starts N copies at once ("{}" in an argument becomes the copy's index),
 *      waits for all; prints "wall_us W failed F" and "fail I STATUS" per failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_CMDS 64
#define MAX_WORDS 4096

struct cmd {
	char *name;
	char **run, **after;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static char **split_words(char *s)
{
	char **v = calloc(MAX_WORDS + 1, sizeof(char *)), *save = NULL, *w;
	size_t n = 0;

	if (!v)
		return NULL;
	for (w = strtok_r(s, " ", &save); w && n < MAX_WORDS; w = strtok_r(NULL, " ", &save))
		v[n++] = w;
	return v;
}

/* Spawn @argv with stdin and stdout on /dev/null (stderr kept); returns its pid. */
static pid_t spawn(char **argv)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		errno = r;
		perror(argv[0]);
		return -1;
	}
	return pid;
}

/* The exit status; in *@cpu_us (when not NULL) the CPU time of @pid and of the
 * children it waited for. */
static int wait_status(pid_t pid, double *cpu_us)
{
	struct rusage ru;
	int st;

	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR)
			return -1;
	if (cpu_us)
		*cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
			  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_once(char **argv, double *us, double *cpu_us)
{
	double t0 = now_us();
	pid_t pid = spawn(argv);
	int st = pid < 0 ? 127 : wait_status(pid, cpu_us);

	*us = now_us() - t0;
	return st;
}

static int read_plan(const char *path, struct cmd *cmds, size_t *n)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!f) {
		perror(path);
		return -1;
	}
	*n = 0;
	while ((len = getline(&line, &cap, f)) > 0 && *n < MAX_CMDS) {
		char *name, *run, *after, *save = NULL;

		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		name = strtok_r(line, "\t", &save);
		run = strtok_r(NULL, "\t", &save);
		after = strtok_r(NULL, "\t", &save);
		if (!name || !run)
			continue;
		cmds[*n].name = strdup(name);
		cmds[*n].run = split_words(strdup(run));
		cmds[*n].after = after && strcmp(after, "-") ? split_words(strdup(after)) : NULL;
		(*n)++;
	}
	free(line);
	fclose(f);
	return 0;
}

static int rounds(const char *plan, int runs, int warmup)
{
	static struct cmd cmds[MAX_CMDS]; /* static: reachable until exit */
	size_t n, i;
	int r;

	const char *gap_env = getenv("BENCH_GAP_MS");
	long gap_ms = gap_env ? atol(gap_env) : 0;
	struct timespec gap = { gap_ms / 1000, (gap_ms % 1000) * 1000000L };

	if (read_plan(plan, cmds, &n) < 0 || n == 0)
		return 2;
	for (r = 0; r < warmup + runs; r++) {
		for (i = 0; i < n; i++) {
			double us, cpu_us = 0, ignored;
			int st;

			if (gap_ms > 0)
				nanosleep(&gap, NULL);
			st = run_once(cmds[i].run, &us, &cpu_us);

			if (cmds[i].after)
				run_once(cmds[i].after, &ignored, NULL);
			if (r >= warmup)
				printf("%d %s %.1f %d %.0f\n", r - warmup, cmds[i].name, us, st, cpu_us);
		}
		fflush(stdout);
	}
	return 0;
}

static char **with_index(char **argv, int argc, int index)
{
	char **v = calloc((size_t)argc + 1, sizeof(char *));
	int i;

	for (i = 0; v && i < argc; i++) {
		char *at = strstr(argv[i], "{}");
		if (!at) {
			v[i] = argv[i];
			continue;
		}
		if (asprintf(&v[i], "%.*s%d%s", (int)(at - argv[i]), argv[i], index, at + 2) < 0)
			return NULL;
	}
	return v;
}

static int parallel(int n, char **argv, int argc)
{
	pid_t *pids = calloc((size_t)n, sizeof(pid_t));
	char ***argvs = calloc((size_t)n, sizeof(char **));
	int i, failed = 0;
	double t0;

	if (!pids || !argvs)
		return 2;
	for (i = 0; i < n; i++)
		if (!(argvs[i] = with_index(argv, argc, i)))
			return 2;
	t0 = now_us();
	for (i = 0; i < n; i++)
		pids[i] = spawn(argvs[i]);
	for (i = 0; i < n; i++) {
		int st = pids[i] < 0 ? 127 : wait_status(pids[i], NULL);
		if (st != 0) {
			failed++;
			printf("fail %d %d\n", i, st);
		}
	}
	printf("wall_us %.1f failed %d\n", now_us() - t0, failed);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "rounds") == 0)
		return rounds(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc >= 5 && strcmp(argv[1], "parallel") == 0 && strcmp(argv[3], "--") == 0)
		return parallel(atoi(argv[2]), argv + 4, argc - 4);
	fprintf(stderr, "usage: bench-timer rounds PLAN RUNS WARMUP\n"
			"       bench-timer parallel N -- COMMAND [ARG...]\n");
	return 2;
}
