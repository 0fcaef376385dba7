/* natbed run: a host's serve line read for its connects. */
#include "run_agent.h"

#include <stdio.h>
#include <string.h>
#include "natbed/strcopy.h"

/* serve's options connect must not inherit: its name and socket, its
 * counters file, each followed by a value. */
static const char *const run_agent_own[] = {"--name", "--bind", "--stats"};

static int own_option(const char *w, const char **value)
{
	size_t i, len;

	*value = NULL;
	for (i = 0; i < sizeof(run_agent_own) / sizeof(run_agent_own[0]); i++) {
		len = strlen(run_agent_own[i]);
		if (strcmp(w, run_agent_own[i]) == 0)
			return (int)i;
		if (strncmp(w, run_agent_own[i], len) == 0 && w[len] == '=') {
			*value = w + len + 1;
			return (int)i;
		}
	}
	return -1;
}

/* Whether option opt (e.g. "--gate") is among argv[0..argc), as a word of
 * its own or as "opt=value". */
static int has_option(char *const *argv, int argc, const char *opt)
{
	size_t len = strlen(opt);
	int i;

	for (i = 0; i < argc; i++)
		if (strncmp(argv[i], opt, len) == 0 && (!argv[i][len] || argv[i][len] == '='))
			return 1;
	return 0;
}

/* The program's base name is natbed-agent (a path to it is fine). */
static int is_agent(const char *w)
{
	const char *slash = strrchr(w, '/');

	return strcmp(slash ? slash + 1 : w, "natbed-agent") == 0;
}

void run_agent_name(const char *serve_name, const char *tail, char *buf, size_t len)
{
	int keep = RUN_AGENT_NAME_MAX - (int)strlen(tail);

	snprintf(buf, len, "%.*s%s", keep > 0 ? keep : 0, serve_name, tail);
}

void run_connect_name(const char *serve_name, unsigned id, unsigned round, char *buf, size_t len)
{
	char tail[32];

	if (round)
		snprintf(tail, sizeof(tail), ".c%u.%u", id, round);
	else
		snprintf(tail, sizeof(tail), ".c%u", id);
	run_agent_name(serve_name, tail, buf, len);
}

int run_agent_parse(const struct topo *t, int h, struct run_agent *out, char *err, size_t errlen)
{
	const struct topo_host *host = &t->hosts[h];
	char *words[RUN_AGENT_ARGS_MAX + 3], *save = NULL, *w;
	const char *value;
	int n = 0, i, own;

	memset(out, 0, sizeof(*out));
	if (!host->run[0]) {
		snprintf(err, errlen,
			 "host %s runs no program: a host the scenario connects runs "
			 "`natbed-agent serve --name N --rendezvous ... --stun ...`",
			 host->name);
		return -1;
	}
	if (strpbrk(host->run, "\"'`$;&|<>\\")) {
		snprintf(err, errlen,
			 "host %s (line %d): natbed run reads the run line as plain words; "
			 "drop the quotes and shell syntax",
			 host->name, host->run_line);
		return -1;
	}
	str_copy(out->words, sizeof(out->words), host->run);
	for (w = strtok_r(out->words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == (int)(sizeof(words) / sizeof(words[0]))) {
			snprintf(err, errlen,
				 "host %s (line %d): more than %d words in its run line",
				 host->name, host->run_line, RUN_AGENT_ARGS_MAX);
			return -1;
		}
		words[n++] = w;
	}
	if (n < 2 || !is_agent(words[0]) || strcmp(words[1], "serve") != 0) {
		snprintf(err, errlen,
			 "host %s (line %d) runs `%s`, not `natbed-agent serve ...`: natbed run "
			 "connects agents only",
			 host->name, host->run_line, host->run);
		return -1;
	}
	for (i = 2; i < n; i++) {
		own = own_option(words[i], &value);
		if (own < 0 && out->argc == RUN_AGENT_ARGS_MAX) {
			snprintf(err, errlen,
				 "host %s (line %d): more than %d words in its run line",
				 host->name, host->run_line, RUN_AGENT_ARGS_MAX);
			return -1;
		}
		if (own < 0) {
			out->argv[out->argc++] = words[i];
			continue;
		}
		if (!value && i + 1 < n)
			value = words[++i];
		if (!value) {
			snprintf(err, errlen, "host %s (line %d): %s without its value", host->name,
				 host->run_line, words[i]);
			return -1;
		}
		if (own == 0)
			str_copy(out->name, sizeof(out->name), value);
	}
	if (!out->name[0]) {
		snprintf(err, errlen, "host %s (line %d): its natbed-agent serve has no --name",
			 host->name, host->run_line);
		return -1;
	}
	/* behind a gate, serve authenticates as its --name; a connect runs
	 * under a name of its own (NAME.cID), so it says whose it is */
	if (has_option(out->argv, out->argc, "--gate") &&
	    !has_option(out->argv, out->argc, "--gate-user")) {
		if (out->argc + 2 > RUN_AGENT_ARGS_MAX) {
			snprintf(err, errlen,
				 "host %s (line %d): more than %d words in its run line",
				 host->name, host->run_line, RUN_AGENT_ARGS_MAX);
			return -1;
		}
		out->argv[out->argc++] = "--gate-user";
		out->argv[out->argc++] = out->name;
	}
	return 0;
}
