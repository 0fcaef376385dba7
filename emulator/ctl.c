#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "natbed/log.h"

#define CTL_IDLE_S  5  /* a client that says nothing is dropped after this */
#define CTL_BACKLOG 64 /* connections waiting to be accepted */

struct ctl {
	struct evconnlistener *l;
	const struct ctl_cmd *cmds;
	size_t n_cmds;
	void *ctx;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static const struct ctl_cmd *ctl_find(const struct ctl *c, int argc, const char **argv)
{
	size_t i;

	for (i = 0; i < c->n_cmds; i++) {
		const struct ctl_cmd *cmd = &c->cmds[i];

		if (strcmp(cmd->word, argv[0]) != 0)
			continue;
		if (!cmd->word2 || (argc > 1 && strcmp(cmd->word2, argv[1]) == 0))
			return cmd;
	}
	return NULL;
}

/* A request's words; argv points into j. */
struct ctl_req {
	json_t *j;
	const char *argv[CTL_ARGS_MAX];
	int argc;
};

/* Parses a request: 0, or -1 with err filled. req->j is the caller's to
 * release either way. */
static int ctl_parse(const char *text, size_t len, struct ctl_req *req, char *err, size_t errlen)
{
	json_error_t jerr;
	size_t i, n;

	req->j = json_loadb(text, len, 0, &jerr);
	n = json_is_array(req->j) ? json_array_size(req->j) : 0;
	if (n == 0 || n > CTL_ARGS_MAX) {
		snprintf(err, errlen, "request must be a JSON array of 1 to %d words",
			 CTL_ARGS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		req->argv[i] = json_string_value(json_array_get(req->j, i));
		if (!req->argv[i]) {
			snprintf(err, errlen, "word %zu is not a string", i + 1);
			return -1;
		}
	}
	req->argc = (int)n;
	return 0;
}

/* ans (its reference taken) as one line of text and a newline, malloc'd;
 * NULL when out of memory. */
static char *ctl_line(json_t *ans)
{
	char *text = ans ? json_dumps(ans, JSON_COMPACT) : NULL, *line = NULL;
	size_t n;

	json_decref(ans);
	if (text && (line = malloc((n = strlen(text)) + 2))) {
		memcpy(line, text, n);
		memcpy(line + n, "\n", 2);
	}
	free(text);
	return line;
}

char *ctl_answer_line(json_t *result)
{
	return ctl_line(result ? json_pack("{s:b,s:o}", "ok", 1, "result", result) : NULL);
}

static char *ctl_error_line(const char *err)
{
	return ctl_line(json_pack("{s:b,s:s}", "ok", 0, "error", err));
}

/* Hands the connection to a stream command: 0 when it took it (bev is
 * freed, the socket lives on in the command), -1 with err filled. */
static int ctl_take(struct ctl *c, struct bufferevent *bev, const struct ctl_cmd *cmd,
		    struct ctl_req *req, char *err, size_t errlen)
{
	int fd = fcntl(bufferevent_getfd(bev), F_DUPFD_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "dup: %s", strerror(errno));
		return -1;
	}
	if (cmd->take(c->ctx, req->argc, req->argv, fd, err, errlen) < 0) {
		close(fd);
		if (!err[0])
			snprintf(err, errlen, "command failed");
		return -1;
	}
	bufferevent_free(bev); /* closes the first descriptor: fd stays open */
	return 0;
}

static void ctl_done_cb(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	/* EOF, error or idle time-out: the client is gone. */
	bufferevent_free(bev);
}

/* Runs the request in line[0..n): the answer line to send, or NULL when a
 * stream command took the connection (bev is gone then). */
static char *ctl_run(struct ctl *c, struct bufferevent *bev, const char *line, size_t n,
		     bool *taken)
{
	char err[CTL_ERR_MAX] = "";
	struct ctl_req req = {0};
	const struct ctl_cmd *cmd;
	json_t *res = NULL;
	char *ans = NULL;

	*taken = false;
	if (n > CTL_REQ_MAX) {
		snprintf(err, sizeof(err), "request too long");
	} else if (ctl_parse(line, n, &req, err, sizeof(err)) == 0) {
		cmd = ctl_find(c, req.argc, req.argv);
		if (!cmd)
			snprintf(err, sizeof(err), "unknown command '%s%s%s'", req.argv[0],
				 req.argc > 1 ? " " : "", req.argc > 1 ? req.argv[1] : "");
		else if (cmd->take)
			*taken = ctl_take(c, bev, cmd, &req, err, sizeof(err)) == 0;
		else if (!(res = cmd->fn(c->ctx, req.argc, req.argv, err, sizeof(err))) && !err[0])
			snprintf(err, sizeof(err), "command failed");
	}
	json_decref(req.j);
	if (!*taken)
		ans = res ? ctl_answer_line(res) : ctl_error_line(err);
	return ans;
}

static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF), *ans;
	bool taken;

	if (!line) {
		if (evbuffer_get_length(in) > CTL_REQ_MAX)
			bufferevent_free(bev); /* a stranger's flood */
		return;
	}
	ans = ctl_run(c, bev, line, n, &taken);
	free(line);
	if (taken)
		return;
	if (ans)
		bufferevent_write(bev, ans, strlen(ans));
	free(ans);
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, ctl_done_cb, ctl_event_cb, c);
	ctl_done_cb(bev, c);
}

static void ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int socklen, void *arg)
{
	struct ctl *c = arg;
	struct bufferevent *bev;
	struct timeval idle = {CTL_IDLE_S, 0};

	bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, ctl_read_cb, NULL, ctl_event_cb, c);
	bufferevent_set_timeouts(bev, &idle, &idle);
	bufferevent_enable(bev, EV_READ);
}

struct ctl *ctl_new(struct event_base *base, const char *path, const struct ctl_cmd *cmds,
		    size_t n_cmds, void *ctx, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct ctl *c;
	mode_t old;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: control socket path too long", path);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->cmds = cmds;
	c->n_cmds = n_cmds;
	c->ctx = ctx;
	strcpy(c->path, path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	unlink(path);
	old = umask(0177); /* born 0600 (0777 & ~0177): only root may steer the fabric */
	c->l = evconnlistener_new_bind(base, ctl_accept_cb, c,
				       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, CTL_BACKLOG,
				       (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (!c->l) {
		snprintf(err, errlen, "%s: cannot listen: %s", path, strerror(errno));
		free(c);
		return NULL;
	}
	return c;
}

void ctl_free(struct ctl *c)
{
	if (!c)
		return;
	evconnlistener_free(c->l);
	unlink(c->path);
	free(c);
}
