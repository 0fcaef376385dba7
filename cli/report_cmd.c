/* natbed report: report.html (and the matrix as text) from a results.json. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cli.h"
#include "report.h"
#include "results.h"

static void report_usage(FILE *f)
{
	fprintf(f, "usage: natbed report [-o FILE] [--matrix] RESULTS.json|DIR\n"
		   "\n"
		   "Reads the results.json a run wrote (docs/results.md), or DIR/results.json\n"
		   "given the run's directory DIR, and writes report.html: one self-contained\n"
		   "page, readable offline (no script, nothing fetched), with the matrix of the\n"
		   "method that connected each pair, success rates with their 95%% intervals,\n"
		   "setup-time distributions, the fallback flows and, behind zero-trust gates,\n"
		   "auth times per trust level. Exit status 0 when written, 1 when the file\n"
		   "cannot be read or the page written, 2 on bad usage. Needs no root.\n"
		   "\n"
		   "  -o, --output FILE  where to write the page (default: report.html beside\n"
		   "                     the results.json)\n"
		   "  -m, --matrix       also print the matrix as a table on standard output,\n"
		   "                     coloured when it is a terminal (and, behind gates,\n"
		   "                     a line per trust level)\n"
		   "  -h, --help         this text\n");
}

int cmd_report(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"matrix", no_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char out[CLI_PATH_MAX], in[CLI_PATH_MAX], err[CLI_PATH_MAX + 256], *copy;
	const char *output = NULL, *input;
	struct stat st;
	struct results *r;
	int c, matrix = 0, rc;

	while ((c = getopt_long(argc, argv, "o:mh", lopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'm':
			matrix = 1;
			break;
		case 'h':
			report_usage(stdout);
			return 0;
		default:
			report_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		report_usage(stderr);
		return 2;
	}
	input = argv[optind];
	if (stat(input, &st) == 0 && S_ISDIR(st.st_mode)) { /* a run's directory */
		size_t n = strlen(input);

		while (n > 1 && input[n - 1] == '/') /* "out/run/": not out/run//results.json */
			n--;
		if (snprintf(in, sizeof(in), "%.*s/results.json", (int)n, input) >= (int)sizeof(in)) {
			fprintf(stderr, "natbed report: %s: path too long\n", input);
			return 1;
		}
		input = in;
	}
	if (!output) {
		if (!(copy = strdup(input)))
			return 1;
		snprintf(out, sizeof(out), "%s/report.html", dirname(copy));
		free(copy);
		output = out;
	}
	if (!(r = results_load(input, err, sizeof(err)))) {
		fprintf(stderr, "natbed report: %s\n", err);
		return 1;
	}
	if ((rc = report_write(r, output, err, sizeof(err))) < 0)
		fprintf(stderr, "natbed report: %s\n", err);
	else
		fprintf(stderr, "natbed report: wrote %s\n", output);
	if (rc == 0 && matrix) {
		report_print_matrix(r, stdout, isatty(STDOUT_FILENO));
		report_print_gate(r, stdout);
	}
	results_free(r);
	return rc < 0 ? 1 : 0;
}
