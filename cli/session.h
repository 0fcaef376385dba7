/* What natbed run and natbed matrix share around the thing they run: the
 * output directory, the topology brought up by a child `natbed up` (so
 * Ctrl-C reaches the command alone, which then tears down what up built),
 * the clock they time the run by, and natbed check on the captures once
 * the topology is down. */
#ifndef NATBED_CLI_SESSION_H
#define NATBED_CLI_SESSION_H

#include <stdint.h>

struct results;

/* Seconds on the monotonic clock: intervals only. */
double session_now_s(void);

/* `natbed up --prefix prefix --out out --seed seed [--capture capture]
 * topo_path` as a child in a process group of its own, its standard output
 * in out/up.log. Waits for it. 0 when the topology is up (the caller tears
 * it down with cli_teardown), -1 when it is not (natbed up said why on
 * standard error and left nothing behind). */
int session_up(const char *prefix, const char *out, uint64_t seed, const char *capture,
	       const char *topo_path);

/* natbed check (cli/check.h) on the captures in out, once the topology is
 * down, with r's attempts to back; its verdict goes into r
 * (results_set_check) and one line, after who, to standard error. capture
 * is what the run captured ("none": nothing to check). Returns -1 when it
 * found violations; 0 when it passed, or could not check (said why). */
int session_check(const char *who, const char *out, const char *capture, struct results *r);

#endif
