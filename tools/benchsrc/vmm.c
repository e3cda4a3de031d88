/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-vmm: stand-in VMMs for tools/bench, run as the VM's user inside a jail.
 *
 *   bench-vmm rss FILE       writes "self_maxrss_kib N parent_rss0_kib N parent_rss_kib N
 *                            parent_hwm_kib N parent_anon_kib N" to FILE: its own peak
 *                            RSS, which after an exec includes the peak of the program
 *                            it replaced (getrusage keeps the old mm's high-water mark),
 *                            its parent's RSS (the supervisor of `run`) as it starts,
 *                            and, one second later, its parent's RSS, peak and
 *                            anonymous part: the supervisor settled, as it stays while
 *                            a VM runs.
 *   bench-vmm sleep FILE     creates FILE, then sleeps until killed (an idle VM).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* A "Key:   N kB" field of /proc/PID/status, in KiB; -1 when absent. */
static long status_field(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static int report_rss(const char *file)
{
	struct rusage ru;
	pid_t parent = getppid();
	long rss0 = status_field(parent, "VmRSS");
	FILE *f;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 1;
	sleep(1);
	f = fopen(file, "we");
	if (!f) {
		perror(file);
		return 1;
	}
	fprintf(f,
		"self_maxrss_kib %ld parent_rss0_kib %ld parent_rss_kib %ld parent_hwm_kib %ld "
		"parent_anon_kib %ld\n",
		ru.ru_maxrss, rss0, status_field(parent, "VmRSS"), status_field(parent, "VmHWM"),
		status_field(parent, "RssAnon"));
	return fclose(f) == 0 ? 0 : 1;
}

static int idle(const char *file)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		perror(file);
		return 1;
	}
	close(fd);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "rss") == 0)
		return report_rss(argv[2]);
	if (argc == 3 && strcmp(argv[1], "sleep") == 0)
		return idle(argv[2]);
	fprintf(stderr, "usage: bench-vmm rss FILE | sleep FILE\n");
	return 2;
}
