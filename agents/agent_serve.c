/* natbed-agent serve: register, and answer every introduction as responder
 * with the method it names, until stopped; a path found echoes probes. */
#include <getopt.h>
#include <stdio.h>

#include "agent.h"
#include "natbed/log.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: natbed-agent serve --name N --rendezvous IP[:PORT] --stun IP[:PORT]\n"
		   "                          [--no-discover | --nat CLASS] [--bind IP[:PORT]]\n"
		   "                          [--stats FILE] [--verbose]\n"
		   "                          [--turn IP[:PORT] --turn-user U --turn-pass P]\n"
		   "\n"
		   "Measures its NAT (RFC 5780, against --stun), then registers N with the\n"
		   "rendezvous with its candidates and that NAT (refreshed at half its lifetime,\n"
		   "which keeps the NAT's mapping alive) and answers every connection request:\n"
		   "each try runs as responder at the common start with the method the\n"
		   "introduction names, and a path found echoes the initiator's probes. Runs\n"
		   "until SIGTERM or SIGINT, then gives the name up. Logs \"registered as N:\n"
		   "host H srflx S nat CLASS\" once ready.\n"
		   "\n" AGENT_CLI_HELP);
}

static void on_ready(void *arg, struct agent *a)
{
	const struct trav_cand *self = agent_self(a);
	struct agent_cli *c = arg;
	char h[DG_EP_STR], s[DG_EP_STR], r[DG_EP_STR];

	log_info("registered as %s: host %s srflx %s nat %s%s%s", c->cfg.name,
		 dg_ep_str(&self->host, h), dg_ep_str(&self->srflx, s),
		 ni_class_name(natinfo_class(&self->nat)), self->relay.addr ? " relay " : "",
		 self->relay.addr ? dg_ep_str(&self->relay, r) : "");
}

static void on_failed(void *arg, struct agent *a, const char *reason)
{
	log_err("cannot register: %s", reason);
	agent_cli_stop(arg, 1);
}

int agent_cmd_serve(int argc, char **argv, const struct agent_env *env)
{
	static const struct option opts[] = {AGENT_CLI_OPTIONS, {NULL, 0, NULL, 0}};
	struct agent_ops ops = {.ready = on_ready, .failed = on_failed};
	struct agent_cli c;
	int opt;

	agent_cli_init(&c, env);
	c.cfg.serve = true;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == AGENT_OPT_HELP) {
			usage(stdout);
			return 0;
		}
		if (agent_cli_option(&c, opt, optarg) != 1) {
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !agent_cli_complete(&c, "serve"))
		return 2;
	ops.arg = &c;
	if (agent_cli_start(&c, &ops) == 0)
		agent_cli_run(&c);
	return agent_cli_end(&c);
}
