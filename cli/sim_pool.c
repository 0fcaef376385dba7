/* natbed sim: clones of the arrival sites, a NAT and gate per client. */
#include "sim_pool.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "natbed/strcopy.h"

struct sim_pool {
	size_t n_hosts, n_nats; /* t's own */
	int *site_of;		/* per host of t now: the site a clone copies, else itself */
	int *nat_of;		/* per NAT of t now: likewise */
	/* per site h of t's own: its clones free now, a ring of count[h]
	 * slots at free_clone[first[h]], n_free[h] of them from head[h]: the
	 * one free longest is taken first, so that its NAT's mappings have
	 * most likely expired by then */
	int *free_clone;
	size_t *first, *head, *n_free, *count;
	size_t clones;
};

static uint32_t pool_mask(unsigned len)
{
	return len ? htonl(~0u << (32 - len)) : 0;
}

/* Whether a/len and the clones' /16 overlap. */
static bool pool_overlaps(struct in_addr a, unsigned len)
{
	unsigned l = len < SIM_POOL_PUBLIC_LEN ? len : SIM_POOL_PUBLIC_LEN;

	return (a.s_addr & pool_mask(l)) == (inet_addr(SIM_POOL_PUBLIC) & pool_mask(l));
}

/* Whether name is one a clone could have: "...--K". */
static bool pool_like_clone(const char *name)
{
	const char *d = strstr(name, "--");

	for (; d; d = strstr(d + 1, "--"))
		if (d[2] && strspn(d + 2, "0123456789") == strlen(d + 2))
			return true;
	return false;
}

/* A name of t a clone could take, or an address of t in the clones' /16,
 * named into err: -1; else 0. */
static int pool_check_space(const struct topo *t, char *err, size_t errlen)
{
	size_t i, a;

	for (i = 0; i < t->n_hosts + t->n_nats; i++) {
		const char *name = i < t->n_hosts ? t->hosts[i].name : t->nats[i - t->n_hosts].name;

		if (pool_like_clone(name)) {
			snprintf(err, errlen,
				 "%s: a site per client names its clones NAME--K: rename it", name);
			return -1;
		}
	}
	for (i = 0; i < t->n_hosts; i++)
		for (a = 0; a < t->hosts[i].n_addrs; a++)
			if (pool_overlaps(t->hosts[i].addrs[a], 32)) {
				snprintf(err, errlen,
					 "host %s: %s is in %s/%d, where a site per client puts "
					 "its NATs' public addresses",
					 t->hosts[i].name, inet_ntoa(t->hosts[i].addrs[a]),
					 SIM_POOL_PUBLIC, SIM_POOL_PUBLIC_LEN);
				return -1;
			}
	for (i = 0; i < t->n_nats; i++) {
		const struct topo_nat *n = &t->nats[i];
		bool in = pool_overlaps(n->inside_net, n->inside_len);

		for (a = 0; !in && a < n->n_public; a++)
			in = pool_overlaps(n->publics[a], 32);
		if (in) {
			snprintf(err, errlen,
				 "NAT %s: its addresses meet %s/%d, where a site per client "
				 "puts its NATs' public addresses",
				 n->name, SIM_POOL_PUBLIC, SIM_POOL_PUBLIC_LEN);
			return -1;
		}
	}
	return 0;
}

/* "NAME--K", NAME cut so that it fits. */
static void pool_name(char out[TOPO_NAME_MAX], const char *name, size_t k)
{
	char tail[16], site[TOPO_NAME_MAX];
	int keep;

	str_copy(site, sizeof(site), name);
	snprintf(tail, sizeof(tail), "--%zu", k);
	keep = (int)(TOPO_NAME_MAX - 1 - strlen(tail));
	snprintf(out, TOPO_NAME_MAX, "%.*s%s", keep, site, tail);
}

/* A copy of gate g (NULL: none) in which site h is clone c. */
static struct topo_gate *pool_gate(const struct topo_gate *g, int h, int c, const char *c_name)
{
	struct topo_gate *n;
	size_t i;

	if (!g)
		return NULL;
	n = malloc(sizeof(*n));
	if (!n)
		return NULL;
	*n = *g;
	for (i = 0; i < n->n_hosts; i++)
		if (n->hosts[i].index == h) {
			n->hosts[i].index = c;
			str_copy(n->hosts[i].name, sizeof(n->hosts[i].name), c_name);
		}
	for (i = 0; i < n->n_exempt; i++)
		if (n->exempt[i].to_index == h) {
			n->exempt[i].to_index = c;
			str_copy(n->exempt[i].to_host, sizeof(n->exempt[i].to_host), c_name);
		}
	return n;
}

/* Clone k of site h, with copy k_nat of its NAT, appended to t (room made
 * by the caller); *next is the next free public address (host order). */
static int pool_clone(struct topo *t, int h, size_t k, size_t k_nat, uint32_t *next)
{
	const struct topo_host *sh = &t->hosts[h];
	const struct topo_nat *sn = &t->nats[sh->nat];
	struct topo_nat *n = &t->nats[t->n_nats];
	struct topo_host *c = &t->hosts[t->n_hosts];
	int ni = (int)t->n_nats, ci = (int)t->n_hosts;
	size_t a;

	*n = *sn;
	pool_name(n->name, sn->name, k_nat);
	for (a = 0; a < n->n_public; a++)
		n->publics[a].s_addr = htonl((*next)++);
	*c = *sh;
	pool_name(c->name, sh->name, k);
	c->nat = ni;
	c->run[0] = '\0';
	c->run_line = 0;
	n->gate = NULL;
	c->gate = NULL;
	t->n_nats++;
	t->n_hosts++;
	/* counted in t now: topo_free frees what was copied */
	if ((sn->gate && !(n->gate = pool_gate(sn->gate, h, ci, c->name))) ||
	    (sh->gate && !(c->gate = pool_gate(sh->gate, h, ci, c->name))))
		return -1;
	return 0;
}

static bool pool_is_site(const struct topo *t, size_t h)
{
	size_t i;

	for (i = 0; t->scenario && i < t->scenario->n_sites; i++)
		if ((size_t)t->scenario->sites[i].index == h)
			return true;
	return false;
}

/* What a copy of site h, alone behind a copy of its NAT, would lose: the
 * scenario's `to` behind that NAT, or another host there running a
 * program (a site's own agent aside). -1 with err; else 0. */
static int pool_check_alone(const struct topo *t, size_t h, char *err, size_t errlen)
{
	int nat = t->hosts[h].nat;
	size_t o;

	for (o = 0; o < t->n_hosts; o++) {
		const struct topo_host *oh = &t->hosts[o];
		bool to = t->scenario && (int)o == t->scenario->to_index;

		if (o == h || oh->nat != nat)
			continue;
		if (to || (oh->run[0] && !pool_is_site(t, o))) {
			snprintf(err, errlen,
				 "site %s: %s sits behind its NAT %s%s: a copy of %s, alone behind "
				 "a copy of %s, could not reach it",
				 t->hosts[h].name, oh->name, t->nats[nat].name,
				 to ? " (the scenario's to)" : " and runs a program",
				 t->hosts[h].name, t->nats[nat].name);
			return -1;
		}
	}
	return 0;
}

static int pool_alloc(struct sim_pool *p, const struct topo *t, const uint32_t *peak,
		      size_t *clones, size_t *addrs, char *err, size_t errlen)
{
	size_t h, at = 0;

	*clones = *addrs = 0;
	p->n_hosts = t->n_hosts;
	p->n_nats = t->n_nats;
	for (h = 0; h < t->n_hosts; h++) {
		const struct topo_host *sh = &t->hosts[h];

		if (!peak[h] || sh->nat < 0)
			continue;
		if (t->nats[sh->nat].upstream >= 0) {
			snprintf(err, errlen,
				 "site %s: its NAT %s sits behind NAT %s: a site per client "
				 "copies NATs on the internet only",
				 sh->name, t->nats[sh->nat].name,
				 t->nats[t->nats[sh->nat].upstream].name);
			return -1;
		}
		if (pool_check_alone(t, h, err, errlen) < 0)
			return -1;
		*clones += peak[h];
		*addrs += peak[h] * t->nats[sh->nat].n_public;
	}
	p->site_of = malloc((t->n_hosts + *clones) * sizeof(*p->site_of));
	p->nat_of = malloc((t->n_nats + *clones) * sizeof(*p->nat_of));
	p->free_clone = malloc((*clones + 1) * sizeof(*p->free_clone));
	p->first = calloc(t->n_hosts, sizeof(*p->first));
	p->head = calloc(t->n_hosts, sizeof(*p->head));
	p->n_free = calloc(t->n_hosts, sizeof(*p->n_free));
	p->count = calloc(t->n_hosts, sizeof(*p->count));
	if (!p->site_of || !p->nat_of || !p->free_clone || !p->first || !p->head || !p->n_free ||
	    !p->count) {
		snprintf(err, errlen, "out of memory for %zu clones of sites", *clones);
		return -1;
	}
	for (h = 0; h < t->n_hosts; h++) {
		p->first[h] = at;
		if (peak[h] && t->hosts[h].nat >= 0)
			at += p->count[h] = peak[h];
	}
	return 0;
}

int sim_pool_new(struct topo *t, const uint32_t *peak, struct sim_pool **out, char *err,
		 size_t errlen)
{
	struct sim_pool *p = calloc(1, sizeof(*p));
	size_t clones, addrs, h, k, n_hosts = t->n_hosts;
	uint32_t next = ntohl(inet_addr(SIM_POOL_PUBLIC)) + 1;
	struct topo_host *hosts;
	struct topo_nat *nats;
	size_t *k_nat = calloc(t->n_nats + 1, sizeof(*k_nat)); /* copies of each NAT */

	*out = NULL;
	if (!p || !k_nat) {
		snprintf(err, errlen, "out of memory");
		free(p);
		free(k_nat);
		return -1;
	}
	if (pool_alloc(p, t, peak, &clones, &addrs, err, errlen) < 0 ||
	    (clones && pool_check_space(t, err, errlen) < 0))
		goto fail;
	if (addrs > (1u << (32 - SIM_POOL_PUBLIC_LEN)) - 2) {
		snprintf(err, errlen,
			 "a site per client needs %zu clones of sites (%zu public addresses), "
			 "more than %s/%d holds: fewer clients at once (a lower arrival-rate)",
			 clones, addrs, SIM_POOL_PUBLIC, SIM_POOL_PUBLIC_LEN);
		goto fail;
	}
	nats = realloc(t->nats, (t->n_nats + clones + 1) * sizeof(*nats));
	if (nats)
		t->nats = nats;
	hosts = realloc(t->hosts, (t->n_hosts + clones + 1) * sizeof(*hosts));
	if (hosts)
		t->hosts = hosts;
	if (!nats || !hosts) {
		snprintf(err, errlen, "out of memory for %zu clones of sites", clones);
		goto fail;
	}
	for (h = 0; h < p->n_hosts + clones; h++)
		p->site_of[h] = (int)h;
	for (h = 0; h < p->n_nats + clones; h++)
		p->nat_of[h] = (int)h;
	for (h = 0; h < n_hosts; h++) {
		if (!peak[h] || t->hosts[h].nat < 0)
			continue;
		for (k = 1; k <= peak[h]; k++) {
			p->site_of[t->n_hosts] = (int)h;
			p->nat_of[t->n_nats] = t->hosts[h].nat;
			if (pool_clone(t, (int)h, k, ++k_nat[t->hosts[h].nat], &next) < 0) {
				snprintf(err, errlen, "out of memory for clones of %s",
					 t->hosts[h].name);
				goto fail;
			}
		}
		/* the ring: clone 1 first */
		for (k = 0; k < peak[h]; k++)
			p->free_clone[p->first[h] + k] = (int)(t->n_hosts - peak[h] + k);
		p->n_free[h] = peak[h];
	}
	p->clones = clones;
	*out = p;
	free(k_nat);
	return 0;
fail:
	sim_pool_free(p);
	free(k_nat);
	return -1;
}

void sim_pool_free(struct sim_pool *p)
{
	if (!p)
		return;
	free(p->site_of);
	free(p->nat_of);
	free(p->free_clone);
	free(p->first);
	free(p->head);
	free(p->n_free);
	free(p->count);
	free(p);
}

int sim_pool_take(struct sim_pool *p, int h)
{
	int c;

	if (h < 0 || (size_t)h >= p->n_hosts)
		return -1;
	if (!p->count[h])
		return h;
	if (!p->n_free[h])
		return -1;
	c = p->free_clone[p->first[h] + p->head[h]];
	p->head[h] = (p->head[h] + 1) % p->count[h];
	p->n_free[h]--;
	return c;
}

void sim_pool_give(struct sim_pool *p, int c)
{
	int s = sim_pool_site_of(p, c);

	if (s == c || p->n_free[s] == p->count[s])
		return;
	p->free_clone[p->first[s] + (p->head[s] + p->n_free[s]) % p->count[s]] = c;
	p->n_free[s]++;
}

int sim_pool_site_of(const struct sim_pool *p, int c)
{
	return c >= 0 && (size_t)c < p->n_hosts + p->clones ? p->site_of[c] : c;
}

int sim_pool_nat_of(const struct sim_pool *p, int n)
{
	return n >= 0 && (size_t)n < p->n_nats + p->clones ? p->nat_of[n] : n;
}

size_t sim_pool_clones(const struct sim_pool *p)
{
	return p->clones;
}

/* --- checkpoints ------------------------------------------------------------ */

/* n sizes (or ints with ints) as a JSON array. */
static json_t *pool_array(const size_t *z, const int *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer(z ? (json_int_t)z[i] : v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *sim_pool_ckpt_save(const struct sim_pool *p)
{
	return json_pack("{s:o,s:o,s:o}", "free", pool_array(NULL, p->free_clone, p->clones),
			 "head", pool_array(p->head, NULL, p->n_hosts), "n_free",
			 pool_array(p->n_free, NULL, p->n_hosts));
}

int sim_pool_ckpt_fill(struct sim_pool *p, const json_t *j, char *err, size_t errlen)
{
	const json_t *fr = json_object_get(j, "free"), *head = json_object_get(j, "head"),
		     *n_free = json_object_get(j, "n_free");
	size_t i;

	if (json_array_size(fr) != p->clones || json_array_size(head) != p->n_hosts ||
	    json_array_size(n_free) != p->n_hosts) {
		snprintf(err, errlen, "pool: not %zu clones of %zu sites", p->clones, p->n_hosts);
		return -1;
	}
	for (i = 0; i < p->n_hosts; i++) {
		json_int_t hd = json_integer_value(json_array_get(head, i));
		json_int_t nf = json_integer_value(json_array_get(n_free, i));

		if (hd < 0 || nf < 0 || (p->count[i] ? (size_t)hd >= p->count[i] : hd != 0) ||
		    (size_t)nf > p->count[i]) {
			snprintf(err, errlen, "pool: site %zu: head or n_free out of range", i);
			return -1;
		}
		p->head[i] = (size_t)hd;
		p->n_free[i] = (size_t)nf;
	}
	for (i = 0; i < p->clones; i++) {
		json_int_t c = json_integer_value(json_array_get(fr, i));

		if (c < (json_int_t)p->n_hosts || c >= (json_int_t)(p->n_hosts + p->clones)) {
			snprintf(err, errlen, "pool: free[%zu]: not a clone", i);
			return -1;
		}
		p->free_clone[i] = (int)c;
	}
	return 0;
}
