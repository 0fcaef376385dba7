#include "select.h"

#include <stdio.h>
#include <string.h>

void sel_pair_of(const struct trav_cand *self, const struct trav_cand *peer, struct sel_pair *p)
{
	/* one site: the same public address, or both on one segment with
	 * no NAT between them (host candidates in one network) */
	p->same_site = self->srflx.addr && self->srflx.addr == peer->srflx.addr &&
		       self->nat.map != NI_MAP_NONE;
	p->self = natinfo_class(&self->nat);
	p->peer = natinfo_class(&peer->nat);
	p->self_cand = self;
	p->peer_cand = peer;
}

const char *sel_pair_key(const struct sel_pair *p, char *buf)
{
	/* what snprintf("%s|%s") writes, cut as it cuts, without printf: a
	 * simulation asks for a key for every method of every cascade */
	const char *part[3] = {ni_class_name(p->self), "|", ni_class_name(p->peer)};
	size_t n = 0;

	if (p->same_site) {
		part[0] = "same-site";
		part[1] = part[2] = "";
	}
	for (int i = 0; i < 3; i++)
		for (const char *c = part[i]; *c && n < SEL_PAIR_KEY_MAX - 1; c++)
			buf[n++] = *c;
	buf[n] = '\0';
	return buf;
}

static const char *const sel_priority_names[SEL_PRIORITY_COUNT] = {"success_rate", "cost",
								   "security", "balanced"};

const char *sel_priority_name(enum sel_priority p)
{
	return (unsigned)p < SEL_PRIORITY_COUNT ? sel_priority_names[p] : "unknown";
}

int sel_priority_parse(const char *s, enum sel_priority *out)
{
	int i;

	for (i = 0; i < SEL_PRIORITY_COUNT; i++)
		if (strcmp(s, sel_priority_names[i]) == 0) {
			*out = (enum sel_priority)i;
			return 0;
		}
	return -1;
}

double sel_prior(const struct method *m, const struct sel_pair *p)
{
	/* what it needs is missing (a relayed candidate, a NAT that maps) */
	if (m->spec.usable && p->self_cand && p->peer_cand &&
	    !m->spec.usable(p->self_cand, p->peer_cand))
		return 0.0;
	/* peers of one site meet as if no NAT stood between them */
	if (p->same_site)
		return m->spec.prior(NI_CLASS_OPEN, NI_CLASS_OPEN);
	return m->spec.prior(p->self, p->peer);
}

double sel_rate(const struct method *m, const struct sel_pair *p, const struct learn *l)
{
	char key[SEL_PAIR_KEY_MAX];
	struct learn_counts c;

	learn_get(l, sel_pair_key(p, key), m->spec.name, &c);
	return (sel_prior(m, p) * SEL_PRIOR_WEIGHT + c.successes) / (SEL_PRIOR_WEIGHT + c.attempts);
}

double sel_score(const struct method *m, const struct sel_pair *p, const struct learn *l,
		 enum sel_priority pri)
{
	const struct method_spec *s = &m->spec;
	double cheap = 1.0 - s->cost / 2.0;

	switch (pri) {
	case SEL_SUCCESS_RATE:
		return sel_rate(m, p, l);
	case SEL_COST:
		return cheap;
	case SEL_SECURITY:
		return s->security;
	default:
		return 0.4 * sel_rate(m, p, l) + 0.3 * s->reliability + 0.2 * s->security +
		       0.1 * cheap;
	}
}

/* Inserts c into out[0..n) by score, best first, after its equals (a
 * stable insertion: ties keep the order they came in); with relay_last,
 * a method that relays goes after every one that does not. */
static void insert_ordered(struct sel_choice *out, size_t n, const struct sel_choice *c,
			   bool relay_last)
{
	size_t j;

	for (j = n; j > 0; j--) {
		bool r_prev = relay_last && out[j - 1].m->spec.relay;
		bool r_new = relay_last && c->m->spec.relay;

		if (r_prev == r_new ? out[j - 1].score >= c->score : r_new)
			break;
		out[j] = out[j - 1];
	}
	out[j] = *c;
}

static void insert_by_score(struct sel_choice *out, size_t n, const struct sel_choice *c)
{
	insert_ordered(out, n, c, false);
}

static struct sel_choice choice_of(const struct method *m, const struct sel_pair *p,
				   const struct learn *l, enum sel_priority pri,
				   const struct sel_limits *lim)
{
	struct sel_choice c = {.m = m,
			       .prior = sel_prior(m, p),
			       .rate = sel_rate(m, p, l),
			       .score = sel_score(m, p, l, pri)};

	if (lim->no_relay && m->spec.relay)
		c.skip = SEL_SKIP_RELAY;
	else if (lim->budget_ns && m->spec.budget_ns > lim->budget_ns)
		c.skip = SEL_SKIP_BUDGET;
	else if (c.rate < SEL_HOPELESS)
		c.skip = SEL_SKIP_HOPELESS;
	return c;
}

size_t sel_order(const struct sel_pair *p, const struct learn *l, enum sel_priority pri,
		 const struct sel_limits *lim, const struct method *const *methods, size_t count,
		 const struct method **out, size_t max)
{
	struct sel_choice sorted[64];
	size_t n = 0, i;

	for (i = 0; i < count && n < max && n < 64; i++) {
		struct sel_choice c = choice_of(methods[i], p, l, pri, lim);

		/* the constraints only: a hopeless method keeps its place */
		if (c.skip == SEL_SKIP_RELAY || c.skip == SEL_SKIP_BUDGET)
			continue;
		insert_by_score(sorted, n++, &c);
	}
	for (i = 0; i < n; i++)
		out[i] = sorted[i].m;
	return n;
}

static const char *const skip_reasons[SEL_SKIP_COUNT] = {"", "skipped: relay not allowed",
							 "skipped: needs more than the budget",
							 "skipped: no chance for this pair"};

const char *sel_skip_reason(enum sel_skip s)
{
	return (unsigned)s < SEL_SKIP_COUNT ? skip_reasons[s] : "skipped";
}

size_t sel_cascade(const struct sel_pair *p, const struct learn *l, enum sel_priority pri,
		   const struct sel_limits *lim, const struct method *const *methods, size_t count,
		   struct sel_choice *out, size_t max)
{
	struct sel_choice tried[64], skipped[64];
	size_t nt = 0, ns = 0, i;

	for (i = 0; i < count && i < 64; i++) {
		struct sel_choice c = choice_of(methods[i], p, l, pri, lim);

		if (c.skip == SEL_SKIP_NONE)
			insert_ordered(tried, nt++, &c, true);
		else
			insert_by_score(skipped, ns++, &c);
	}
	/* the best max of them, in that order */
	if (nt > max)
		nt = max;
	if (ns > max - nt)
		ns = max - nt;
	memcpy(out, tried, nt * sizeof(*out));
	memcpy(out + nt, skipped, ns * sizeof(*out));
	return nt + ns;
}
