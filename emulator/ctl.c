#include "ctl.h"

#include <errno.h>
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

/* Parses a request and runs it; always returns an answer object. */
static json_t *ctl_answer(struct ctl *c, const char *req, size_t len)
{
	const char *argv[CTL_ARGS_MAX];
	char err[CTL_ERR_MAX] = "";
	json_error_t jerr;
	json_t *j = json_loadb(req, len, 0, &jerr), *res = NULL, *ans;
	const struct ctl_cmd *cmd;
	size_t i, argc;

	if (!j || !json_is_array(j) || json_array_size(j) == 0 ||
	    json_array_size(j) > CTL_ARGS_MAX) {
		snprintf(err, sizeof(err), "request must be a JSON array of 1 to %d words",
			 CTL_ARGS_MAX);
		goto out;
	}
	argc = json_array_size(j);
	for (i = 0; i < argc; i++) {
		argv[i] = json_string_value(json_array_get(j, i));
		if (!argv[i]) {
			snprintf(err, sizeof(err), "word %zu is not a string", i + 1);
			goto out;
		}
	}
	cmd = ctl_find(c, (int)argc, argv);
	if (!cmd) {
		snprintf(err, sizeof(err), "unknown command '%s%s%s'", argv[0], argc > 1 ? " " : "",
			 argc > 1 ? argv[1] : "");
		goto out;
	}
	res = cmd->fn(c->ctx, (int)argc, argv, err, sizeof(err));
	if (!res && !err[0])
		snprintf(err, sizeof(err), "command failed");
out:
	json_decref(j);
	if (res)
		ans = json_pack("{s:b,s:o}", "ok", 1, "result", res);
	else
		ans = json_pack("{s:b,s:s}", "ok", 0, "error", err);
	return ans;
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

static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	json_t *ans;
	char *text;

	if (!line) {
		if (evbuffer_get_length(in) > CTL_REQ_MAX)
			bufferevent_free(bev); /* a stranger's flood */
		return;
	}
	ans = n <= CTL_REQ_MAX ? ctl_answer(c, line, n)
			       : json_pack("{s:b,s:s}", "ok", 0, "error", "request too long");
	free(line);
	text = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
	json_decref(ans);
	if (text) {
		bufferevent_write(bev, text, strlen(text));
		bufferevent_write(bev, "\n", 1);
		free(text);
	}
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
