/* Ctrl-C for the commands that run things and must tear down whatever
 * happens (natbed run, natbed matrix): SIGINT and SIGTERM are counted, not
 * obeyed, and wake a poll() through a pipe, so the command's loop stops
 * what it started, writes what it has and brings the topology down. A
 * second signal usually means "now": the loops kill at once. */
#ifndef NATBED_CLI_SIGSTOP_H
#define NATBED_CLI_SIGSTOP_H

/* Catches SIGINT and SIGTERM from now on (call once, before anything is
 * started). 0 or -errno. */
int sigstop_catch(void);
/* How many stop signals came so far. */
int sigstop_count(void);
/* A descriptor that polls readable once a signal came (POLLIN); -1 before
 * sigstop_catch(). */
int sigstop_fd(void);
/* Empties that descriptor, after poll() said it is readable. */
void sigstop_drain(void);

#endif
