/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiojail status's text table: the processes' columns start where their header
 * does, whatever the width of the pids and memlock values. */
#include "testlib.h"
#include "vfiojail/vfiojail.h"

/* Where each space-separated field of @line starts; their number. */
static size_t field_starts(const char *line, size_t *at, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; line[i] && line[i] != '\n'; i++)
		if (line[i] != ' ' && (i == 0 || line[i - 1] == ' ')) {
			assert_true(n < max);
			at[n++] = i;
		}
	return n;
}

/* Prints @s and checks every row of the processes' table against its header;
 * the printed table in *out (caller frees). */
static void check_aligned(const struct vj_status *s, char **out)
{
	size_t len = 0, head[8], row[8], nh;
	FILE *f = open_memstream(out, &len);
	char *line, *save = NULL;
	size_t rows = 0;
	bool in_table = false;

	assert_non_null(f);
	assert_int_equal(vj_status_print_table(s, f), 0);
	assert_int_equal(fclose(f), 0);
	char *copy = strdup(*out);
	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!in_table) {
			if (strncmp(line, "PID ", 4) == 0) {
				in_table = true;
				nh = field_starts(line, head, 8);
				assert_int_equal(nh, 4);
			}
			continue;
		}
		assert_int_equal(field_starts(line, row, 8), nh);
		for (size_t c = 0; c < nh; c++)
			if (row[c] != head[c])
				fail_msg("row \"%s\": field %zu starts at %zu, its header at %zu\n%s", line, c, row[c],
					 head[c], *out);
		rows++;
	}
	assert_true(in_table);
	assert_int_equal(rows, s->n_procs);
	free(copy);
}

static void test_columns_follow_the_widest_cell(void **state)
{
	(void)state;
	struct vj_status_proc procs[] = {
		{ .pid = 7, .memlock_soft = UINT64_MAX, .memlock_hard = UINT64_MAX, .locked = 0 },
		{ .pid = 4194304, .memlock_soft = 1099511627776ULL, .memlock_hard = 18446744073709551614ULL,
		  .locked = 123456789012ULL },
		{ .pid = 42, .memlock_soft = 0, .memlock_hard = 65536, .locked = 4096 },
	};
	struct vj_status s = {
		.name = (char *)"a-very-long-vm-name-that-is-wider-than-every-column.of.the.table_0123456789",
		.kind = (char *)"launch", .procs = procs, .n_procs = 3,
	};
	char *out = NULL;

	check_aligned(&s, &out);
	/* The widest cells set the widths: the 20-digit hard limit, the 13-digit soft. */
	assert_non_null(strstr(out, "PID      MEMLOCK-SOFT   MEMLOCK-HARD          LOCKED\n"));
	assert_non_null(strstr(out, "4194304  1099511627776  18446744073709551614  123456789012\n"));
	assert_non_null(strstr(out, "7        unlimited      unlimited             0\n"));
	free(out);
}

static void test_narrow_cells_keep_the_header_width(void **state)
{
	(void)state;
	struct vj_status_proc procs[] = { { .pid = 1, .memlock_soft = 0, .memlock_hard = 0, .locked = 0 } };
	struct vj_status s = { .name = (char *)"v", .kind = (char *)"setup", .procs = procs, .n_procs = 1 };
	char *out = NULL;

	check_aligned(&s, &out);
	assert_string_equal(out, "v (setup)\n"
				 "PID  MEMLOCK-SOFT  MEMLOCK-HARD  LOCKED\n"
				 "1    0             0             0\n");
	free(out);
}

static void test_no_process_no_table(void **state)
{
	(void)state;
	struct vj_status s = { .name = (char *)"v", .kind = (char *)"run", .abandoned = true };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	assert_int_equal(vj_status_print_table(&s, f), 0);
	fclose(f);
	assert_string_equal(out, "v (run), abandoned\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_columns_follow_the_widest_cell),
		cmocka_unit_test(test_narrow_cells_keep_the_header_width),
		cmocka_unit_test(test_no_process_no_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
