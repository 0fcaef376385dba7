/* The pieces natbed run and natbed matrix share (session.h). */
#include "session.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "results.h"

double session_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int session_up(const char *prefix, const char *out, uint64_t seed, const char *capture,
	       const char *topo_path)
{
	char natbed[CLI_PATH_MAX + 8], seedbuf[32], log[PATH_MAX + 8];
	char *argv[16];
	int n = 0, status;
	pid_t pid;

	snprintf(natbed, sizeof(natbed), "%s/natbed", cli_exe_dir());
	snprintf(seedbuf, sizeof(seedbuf), "%llu", (unsigned long long)seed);
	snprintf(log, sizeof(log), "%s/up.log", out);
	argv[n++] = natbed;
	argv[n++] = "up";
	argv[n++] = "--prefix";
	argv[n++] = (char *)prefix;
	argv[n++] = "--out";
	argv[n++] = (char *)out;
	argv[n++] = "--seed";
	argv[n++] = seedbuf;
	if (capture) {
		argv[n++] = "--capture";
		argv[n++] = (char *)capture;
	}
	argv[n++] = (char *)topo_path;
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		FILE *f;

		setpgid(0, 0);
		f = freopen(log, "w", stdout);
		(void)f;
		execv(natbed, argv);
		fprintf(stderr, "natbed: cannot run %s: %s\n", natbed, strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1; /* natbed up said why, and left nothing behind */
	return 0;
}

int session_check(const char *who, const char *out, const char *capture, struct results *r)
{
	struct check_opts co = {.results = r};
	struct check_verdict v;
	char err[PATH_MAX + 256];

	if (capture && strcmp(capture, "none") == 0) {
		fprintf(stderr, "%s: natbed check skipped: no captures (--capture none)\n", who);
		return 0;
	}
	/* a run it cannot read (too few captures, say) is no violation */
	if (check_run(out, &co, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: natbed check could not check the run: %s\n", who, err);
		return 0;
	}
	results_set_check(r, v.passed, v.n_violations, v.summary);
	fprintf(stderr, "%s: natbed check %s: %s\n", who, out, v.summary);
	return v.passed ? 0 : -1;
}
