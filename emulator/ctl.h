/* natbed-emu control socket: a UNIX stream socket (mode 0600) that takes
 * one request per connection, a JSON array of words such as
 * ["show","ports"], and answers one JSON object:
 *   {"ok":true,"result":...}  or  {"ok":false,"error":"..."}
 * Commands come from a table of {words, handler}; nothing else is run.
 * A stream command (a live capture) keeps the connection: it answers the
 * same line first, then sends what it streams. */
#ifndef NATBED_EMU_CTL_H
#define NATBED_EMU_CTL_H

#include <jansson.h>
#include <stddef.h>

#define CTL_REQ_MAX  4096 /* bytes of one request */
#define CTL_ARGS_MAX 8
#define CTL_ERR_MAX  1024 /* bytes of an error answer: room for a path and a reason */

struct ctl;
struct event_base;

/* Runs a command: argv[0..argc) are the request's words (the table's words
 * included). Returns the result (a new reference) or NULL with err filled. */
typedef json_t *(*ctl_fn)(void *ctx, int argc, const char **argv, char *err, size_t errlen);

/* A stream command: on success it takes fd (the client's connection),
 * writes ctl_answer_line() of its result on it before anything else, and
 * returns 0; else it leaves fd alone, fills err and returns -1 (ctl
 * answers the error and closes). */
typedef int (*ctl_take_fn)(void *ctx, int argc, const char **argv, int fd, char *err,
			   size_t errlen);

struct ctl_cmd {
	const char *word;  /* first word */
	const char *word2; /* second word, or NULL to take any */
	ctl_fn fn;	   /* a command answered at once, or */
	ctl_take_fn take;  /* a stream command */
};

/* The answer line of a successful command: {"ok":true,"result":RESULT}
 * and a newline, malloc'd (the caller frees it); takes result's reference.
 * NULL when out of memory. */
char *ctl_answer_line(json_t *result);

/* Listens on path (replaced if stale). cmds must outlive the ctl.
 * Returns NULL and fills err. */
struct ctl *ctl_new(struct event_base *base, const char *path, const struct ctl_cmd *cmds,
		    size_t n_cmds, void *ctx, char *err, size_t errlen);
/* Stops listening and removes the socket file. NULL is safe. */
void ctl_free(struct ctl *c);

#endif
