/* natbed matrix's grid and --expect files (cli/matrix_grid.c): the grid
 * it prints reads back as an expect file that matches; a file that says
 * otherwise names each cell; bad files say where. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "matrix_grid.h"

static const char *const labels[] = {"full-cone", "symmetric", "public", "lan"};
static const struct mx_cell cells[] = {
    {"full-cone", "symmetric", "direct", "fc-sym"},
    {"full-cone", "public", "direct", "fc-pub"},
    {"symmetric", "public", "relayed", "sym-pub"},
    {"lan", "lan", "none", "lan1-lan2"},
};
#define N_CELLS (sizeof(cells) / sizeof(cells[0]))

/* text into a file of its own; the path to unlink and free */
static char *file_of(const char *text)
{
	char *path = strdup("/tmp/natbed-grid.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static char *printed(bool colour)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	mx_grid_print(f, labels, 4, cells, N_CELLS, colour);
	fclose(f);
	return buf;
}

static void test_print_reads_back(void **state)
{
	char *text = printed(false), *path = file_of(text), err[256], *out = NULL;
	struct mx_expect *e = mx_expect_load(path, err, sizeof(err));
	size_t compared, len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	assert_non_null(e);
	/* both halves and the diagonal */
	assert_non_null(strstr(text, "\nsymmetric  direct     -          relayed  -\n"));
	assert_non_null(strstr(text, "\nlan        -          -          -        none\n"));
	assert_string_equal(mx_expect_get(e, "public", "symmetric"), "relayed");
	assert_string_equal(mx_expect_get(e, "lan", "lan"), "none");
	assert_null(mx_expect_get(e, "full-cone", "full-cone"));
	assert_null(mx_expect_get(e, "full-cone", "cgnat"));
	assert_int_equal(mx_expect_compare(e, cells, N_CELLS, f, &compared), 0);
	fclose(f);
	assert_int_equal(compared, N_CELLS);
	assert_string_equal(out, "");
	free(out);
	mx_expect_free(e);
	unlink(path);
	free(path);
	free(text);
	text = printed(true);
	assert_non_null(strstr(text, "\033[32mdirect\033[0m"));
	assert_non_null(strstr(text, "\033[31mnone\033[0m"));
	free(text);
}

static void test_differences_named(void **state)
{
	char *path = file_of("# what theory says\n"
			     "            symmetric   public  cgnat\n"
			     "full-cone   direct      direct  direct\n"
			     "symmetric   -           direct  -\n"
			     "\n"
			     "lan\t- - -\n");
	char err[256], *out = NULL;
	struct mx_expect *e = mx_expect_load(path, err, sizeof(err));
	size_t compared, len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	assert_non_null(e);
	assert_int_equal(mx_expect_compare(e, cells, N_CELLS, f, &compared), 1);
	fclose(f);
	assert_int_equal(compared, 3); /* fc-sym, fc-pub, sym-pub; nothing for lan */
	assert_string_equal(out, "symmetric x public (sym-pub): expected direct, got relayed\n");
	free(out);
	mx_expect_free(e);
	unlink(path);
	free(path);
}

static void assert_refused(const char *text, const char *says)
{
	char *path = file_of(text), err[256];

	assert_null(mx_expect_load(path, err, sizeof(err)));
	if (!strstr(err, says))
		fail_msg("'%s' does not say '%s'", err, says);
	assert_non_null(strstr(err, path));
	unlink(path);
	free(path);
}

static void test_bad_files(void **state)
{
	char err[256];

	(void)state;
	assert_refused("# only a comment\n\n", "no grid");
	assert_refused("a b\na direct\n", ":2: 1 cells, but the first line has 2 columns");
	assert_refused("a b\na - maybe\n", ":2: 'maybe' under b");
	assert_refused("a b\na - direct\nb none -\n", ":3: b x a is none here but direct");
	assert_null(mx_expect_load("/nonexistent/grid", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/grid: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_print_reads_back),
	    cmocka_unit_test(test_differences_named),
	    cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
