/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-cgjoin: the kernel's price for moving a process between cgroups.
 *
 *   bench-cgjoin HOME ROUNDS GAP_MS
 *
 * HOME is the cgroup2 directory this process is in.  It makes HOME/cgjoin-a and
 * HOME/cgjoin-b and moves itself between them (a write of its pid to
 * cgroup.procs, as every launcher does to put a VMM in its cgroup), timing each
 * move: ROUNDS moves right after the previous one, and ROUNDS moves after
 * GAP_MS of no migration.  Since Linux 6.0 a move takes cgroup_threadgroup_rwsem
 * for writing, which waits for an RCU grace period unless another writer went
 * through within about one grace period (kernel/rcu/sync.c), or cgroup2 is
 * mounted with favordynmods.  Prints "back_to_back_us M after_idle_us M" (medians).
 * Moves itself back to HOME and removes both cgroups.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int move_to(const char *dir)
{
	char path[4096];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		return -1;
	}
	ok = write(fd, "0", 1) == 1;
	if (!ok)
		perror(path);
	close(fd);
	return ok ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	char a[4096], b[4096];
	double *quick, *idle;
	int rounds, gap_ms, rc = 1;

	if (argc != 4 || (rounds = atoi(argv[2])) <= 0 || (gap_ms = atoi(argv[3])) < 0) {
		fprintf(stderr, "usage: bench-cgjoin HOME ROUNDS GAP_MS\n");
		return 2;
	}
	snprintf(a, sizeof(a), "%s/cgjoin-a", argv[1]);
	snprintf(b, sizeof(b), "%s/cgjoin-b", argv[1]);
	quick = calloc((size_t)rounds, sizeof(double));
	idle = calloc((size_t)rounds, sizeof(double));
	if (!quick || !idle || (mkdir(a, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(b, 0755) < 0 && errno != EEXIST)) {
		perror("cgjoin");
		goto out;
	}
	for (int i = 0; i < rounds; i++) {
		struct timespec gap = { gap_ms / 1000, (long)(gap_ms % 1000) * 1000000L };
		double t0;

		nanosleep(&gap, NULL);
		t0 = now_us();
		if (move_to(a) < 0)
			goto out;
		idle[i] = now_us() - t0;
		t0 = now_us();
		if (move_to(b) < 0)
			goto out;
		quick[i] = now_us() - t0;
	}
	printf("back_to_back_us %.1f after_idle_us %.1f\n", median(quick, rounds),
	       median(idle, rounds));
	rc = 0;
out:
	move_to(argv[1]);
	rmdir(a);
	rmdir(b);
	free(quick);
	free(idle);
	return rc;
}
