/* natbed-agent: the options that shape a connect's plan (agent_plan.h). */
#include "agent_plan.h"

#include <stdio.h>
#include <string.h>

#include "natbed/units.h"
void agent_connect_opts_init(struct agent_connect_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->probes = AGENT_CONNECT_PROBES;
	o->priority = SEL_BALANCED;
}

int agent_connect_option(struct agent_connect_opts *o, int opt, const char *arg)
{
	int64_t k;

	switch (opt) {
	case 'c':
		o->cascade = true;
		return 1;
	case 'P':
		if (sel_priority_parse(arg, &o->priority) < 0) {
			fprintf(stderr, "--priority %s: success_rate, cost, security or balanced\n",
				arg);
			return -1;
		}
		o->cascade_only = true;
		return 1;
	case 'R':
		o->no_relay = true;
		o->cascade_only = true;
		return 1;
	case 'l':
		o->learn_path = arg;
		return 1;
	case 'p':
		if (!rdvmsg_name_ok(arg, RDV_NAME_MAX)) {
			fprintf(stderr, "--peer %s: not an agent name\n", arg);
			return -1;
		}
		o->peer = arg;
		return 1;
	case 'm':
		o->method = arg;
		return 1;
	case 'b':
		if (units_parse_duration(arg, &o->budget_ns) < 0 || o->budget_ns <= 0 ||
		    o->budget_ns > 3600 * NATBED_NS_PER_S) {
			fprintf(stderr, "--budget %s: a duration in (0, 3600s]\n", arg);
			return -1;
		}
		return 1;
	case 'k':
		if (units_parse_count(arg, PROBE_MAX, &k) < 0) {
			fprintf(stderr, "--probes %s: 0..%d\n", arg, PROBE_MAX);
			return -1;
		}
		o->probes = (int)k;
		return 1;
	default:
		return 0;
	}
}

void agent_cascade_plan(const struct agent_cli *c, const struct agent_connect_opts *o,
			const struct method **table, struct learn *l, struct agent_plan *p)
{
	const struct method *(*at)(size_t) = c->env->method_at ? c->env->method_at : method_at;
	size_t n = 0;

	while (n < AGENT_PLAN_MAX && (table[n] = at(n)) != NULL)
		n++;
	memset(p, 0, sizeof(*p));
	p->probes = o->probes;
	p->learn = l;
	p->cascade = true;
	p->table = table;
	p->ntable = n;
	p->priority = o->priority;
	p->total_ns = o->budget_ns;
	p->limits = (struct sel_limits){.no_relay = o->no_relay, .budget_ns = o->budget_ns};
}
