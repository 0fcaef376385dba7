/* natbed-agent behind a zero-trust gate (agent_gate.h). */
#include "agent_gate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "natbed/log.h"
#include "natbed/strcopy.h"

int agent_gate_option(struct agent_cli *c, int opt, const char *arg)
{
	struct agent_gate *g = &c->gate;
	struct gatemsg_resource r;

	switch (opt) {
	case AGENT_OPT_GATE:
		if (dg_ep_parse(arg, TOPO_GATE_PORT_DEFAULT, &g->cfg.gate) < 0) {
			fprintf(stderr, "--gate %s: not IPv4[:PORT]\n", arg);
			return -1;
		}
		g->on = true;
		return 1;
	case AGENT_OPT_GATE_KEY:
		if (!*arg || strlen(arg) >= sizeof(g->cfg.key)) {
			fprintf(stderr, "--gate-key: 1 to %zu characters\n",
				sizeof(g->cfg.key) - 1);
			return -1;
		}
		str_copy(g->cfg.key, sizeof(g->cfg.key), arg);
		g->have_key = true;
		return 1;
	case AGENT_OPT_GATE_USER:
		if (strlen(arg) >= sizeof(g->cfg.user) || gatemsg_resource_parse(arg, &r) < 0 ||
		    r.kind != GATEMSG_RES_HOST) {
			fprintf(stderr, "--gate-user %s: a host's name ([a-z][a-z0-9-]*)\n", arg);
			return -1;
		}
		str_copy(g->cfg.user, sizeof(g->cfg.user), arg);
		g->have_user = true;
		return 1;
	case AGENT_OPT_GATE_RESOURCE:
		if (strlen(arg) >= sizeof(g->cfg.resource) || gatemsg_resource_parse(arg, &r) < 0) {
			fprintf(stderr,
				"--gate-resource %s: any, IPv4, IPv4:PORT or a host's name\n", arg);
			return -1;
		}
		str_copy(g->cfg.resource, sizeof(g->cfg.resource), arg);
		return 1;
	default:
		return 0;
	}
}

bool agent_gate_complete(const struct agent_cli *c)
{
	const struct agent_gate *g = &c->gate;
	struct gatemsg_resource r;

	if (!g->on && (g->have_key || g->have_user || g->cfg.resource[0])) {
		fprintf(stderr, "natbed-agent: --gate-key, --gate-user and --gate-resource need "
				"--gate\n");
		return false;
	}
	if (g->on && !g->have_key) {
		fprintf(stderr, "natbed-agent: --gate needs --gate-key\n");
		return false;
	}
	if (g->on && !g->have_user &&
	    (gatemsg_resource_parse(c->cfg.name, &r) < 0 || r.kind != GATEMSG_RES_HOST)) {
		fprintf(stderr, "natbed-agent: --name %s is not a host's name: give --gate-user\n",
			c->cfg.name);
		return false;
	}
	return true;
}

static void agent_gate_done(void *arg, const struct gatec_report *r)
{
	struct agent_cli *c = arg;

	c->gate.rep = *r;
	c->gate.done = true;
	agent_loop_stop(&c->loop, 0);
}

static void agent_gate_log(const struct agent_gate *g)
{
	const struct gatec_report *r = &g->rep;
	char ep[DG_EP_STR];

	dg_ep_str(&g->cfg.gate, ep);
	if (r->result == GATEC_GRANTED)
		log_info("gate %s: %s granted %s at trust %s in %.1f ms (now %s)", ep, g->cfg.user,
			 g->cfg.resource[0] ? g->cfg.resource : "any", topo_trust_name(r->level),
			 r->auth_ms, topo_trust_name(r->level_now));
	else if (r->result == GATEC_TIMEOUT)
		log_err("gate %s: no answer in %.1f ms (%d requests)", ep, r->auth_ms, r->sent);
	else
		log_err("gate %s: %s %s: %d %s after %.1f ms", ep, g->cfg.user,
			gatec_result_name(r->result), r->code, r->reason, r->auth_ms);
}

/* One exchange on c's loop: 0 when it ended (g->rep), -EINTR when stopped
 * first, -EACCES without a socket. */
static int agent_gate_once(struct agent_cli *c)
{
	struct agent_gate *g = &c->gate;
	struct gatec_ops ops = {.done = agent_gate_done};
	struct gatec *gc;

	/* nonces rise across runs of the host's agents: microseconds of the
	 * wall clock at start, then one more per request */
	g->cfg.nonce = (uint64_t)(clock_wall_ns() / NATBED_NS_PER_US);
	g->done = false;
	gc = gatec_new(agent_loop_dgram(&c->loop), &g->cfg, &ops, c);
	if (!gc) {
		log_err("gate: cannot open a socket");
		return -EACCES;
	}
	agent_loop_run(&c->loop);
	gatec_free(gc);
	c->loop.status = 1; /* until something says otherwise, again */
	if (g->done)
		agent_gate_log(g);
	return g->done ? 0 : -EINTR;
}

int agent_gate_auth(struct agent_cli *c)
{
	struct agent_gate *g = &c->gate;
	int tries = c->cfg.serve ? AGENT_GATE_SERVE_TRIES : 1, r;

	if (!g->on)
		return 0;
	if (!g->have_user)
		snprintf(g->cfg.user, sizeof(g->cfg.user), "%.*s", (int)sizeof(g->cfg.user) - 1,
			 c->cfg.name);
	/* a server asks again after a denial: the gate decided no this time */
	do {
		if ((r = agent_gate_once(c)) < 0)
			return r;
	} while (g->rep.result == GATEC_DENIED && --tries > 0);
	return g->rep.result == GATEC_GRANTED ? 0 : -EACCES;
}

static json_t *agent_gate_ms(double ms)
{
	return json_real(round(ms * 1000) / 1000);
}

void agent_gate_json(const struct agent_cli *c, json_t *j)
{
	const struct gatec_report *r = &c->gate.rep;
	json_t *setup = json_object_get(j, "setup_ms");

	if (!c->gate.on || !c->gate.done)
		return;
	if (json_is_number(setup))
		json_object_set_new(j, "setup_ms",
				    agent_gate_ms(json_number_value(setup) + r->auth_ms));
	json_object_set_new(j, "gate", json_string(gatec_result_name(r->result)));
	json_object_set_new(j, "auth_ms", agent_gate_ms(r->auth_ms));
	json_object_set_new(j, "trust",
			    r->has_trust ? json_string(topo_trust_name(r->level)) : json_null());
}

void agent_gate_report(const struct agent_cli *c, const struct agent_plan *plan,
		       struct agent_report *r)
{
	const struct gatec_report *g = &c->gate.rep;

	memset(r, 0, sizeof(*r));
	str_copy(r->peer, sizeof(r->peer), plan->peer);
	r->m = plan->steps[0].m;
	r->path = "none";
	r->probe.rtt_ms = r->probe.rtt_min_ms = r->probe.rtt_max_ms = -1;
	if (!c->gate.done)
		snprintf(r->reason, sizeof(r->reason), "gate: stopped before its answer");
	else if (g->result == GATEC_TIMEOUT)
		snprintf(r->reason, sizeof(r->reason), "gate: %.80s", g->reason);
	else
		snprintf(r->reason, sizeof(r->reason), "gate: %s (%d %.60s)",
			 gatec_result_name(g->result), g->code, g->reason);
}
