/* natbed capture selection: "all", "none" or NAME[,NAME...] against a
 * topology's hosts and NATs. */
#include "natbed/capsel.h"

#include <stdio.h>
#include <string.h>

#define CAPSEL_WAN_SUFFIX "-wan"
#define CAPSEL_LIST_MAX	  8 /* names listed in an error before "..." */
#define CAPSEL_LIST_LEN	  320

/* The names of t's hosts (or NATs) for an error: "a, b, c" or "none". */
static void capsel_names(const struct topo *t, bool nats, char *buf, size_t len)
{
	size_t k, n = nats ? t->n_nats : t->n_hosts, pos = 0;
	int w;

	snprintf(buf, len, "none");
	for (k = 0; k < n && k <= CAPSEL_LIST_MAX && pos < len; k++) {
		if (k == CAPSEL_LIST_MAX)
			w = snprintf(buf + pos, len - pos, ", ... (%zu more)", n - k);
		else
			w = snprintf(buf + pos, len - pos, "%s%s", k ? ", " : "",
				     nats ? t->nats[k].name : t->hosts[k].name);
		if (w < 0)
			break;
		pos += (size_t)w;
	}
}

static void capsel_err(const struct topo *t, const char *name, size_t len, char *err, size_t errlen)
{
	char hosts[CAPSEL_LIST_LEN], nats[CAPSEL_LIST_LEN];

	if (len == 0) {
		snprintf(err, errlen, "an empty name (give all, none or NAME[,NAME...])");
		return;
	}
	capsel_names(t, false, hosts, sizeof(hosts));
	capsel_names(t, true, nats, sizeof(nats));
	snprintf(err, errlen,
		 "'%.*s' is neither a host nor a NAT of topology %s (hosts: %s; NATs: %s)",
		 (int)len, name, t->name, hosts, nats);
}

/* What the name of len bytes at p names: 0 with *host or *nat its index
 * (the other -1), or -1 if nothing. */
static int capsel_lookup(const struct topo *t, const char *p, size_t len, int *host, int *nat)
{
	char name[TOPO_NAME_MAX + sizeof(CAPSEL_WAN_SUFFIX)];
	size_t sfx = strlen(CAPSEL_WAN_SUFFIX);

	*host = *nat = -1;
	if (len == 0 || len >= sizeof(name))
		return -1;
	memcpy(name, p, len);
	name[len] = '\0';
	if ((*host = topo_host_find(t, name)) >= 0)
		return 0;
	/* NAT, or NAT-wan as its capture file is called */
	if (len > sfx && strcmp(name + len - sfx, CAPSEL_WAN_SUFFIX) == 0 &&
	    topo_nat_find(t, name) < 0)
		name[len - sfx] = '\0';
	*nat = topo_nat_find(t, name);
	return *nat >= 0 ? 0 : -1;
}

/* Marks what the name of len bytes at p selects. 0, or -1 if nothing. */
static int capsel_name(const struct topo *t, const char *p, size_t len, bool *host, bool *nat)
{
	int h, n;

	if (capsel_lookup(t, p, len, &h, &n) < 0)
		return -1;
	if (h >= 0 && host)
		host[h] = true;
	if (n >= 0 && nat)
		nat[n] = true;
	return 0;
}

int capsel_find(const struct topo *t, const char *name, int *host, int *nat, char *err,
		size_t errlen)
{
	size_t len = strlen(name);

	if (capsel_lookup(t, name, len, host, nat) < 0) {
		capsel_err(t, name, len, err, errlen);
		return -1;
	}
	return 0;
}

/* One pass over the list; with NULL arrays it only checks. */
static int capsel_scan(const struct topo *t, const char *spec, bool *host, bool *nat, char *err,
		       size_t errlen)
{
	const char *p = spec;
	size_t len;

	for (;;) {
		len = strcspn(p, ",");
		if (capsel_name(t, p, len, host, nat) < 0) {
			capsel_err(t, p, len, err, errlen);
			return -1;
		}
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

int capsel_parse(const struct topo *t, const char *spec, bool *host, bool *nat, char *err,
		 size_t errlen)
{
	bool all = strcmp(spec, "all") == 0;
	size_t k;

	if (!all && strcmp(spec, "none") != 0) {
		if (capsel_scan(t, spec, NULL, NULL, err, errlen) < 0)
			return -1;
	}
	for (k = 0; host && k < t->n_hosts; k++)
		host[k] = all;
	for (k = 0; nat && k < t->n_nats; k++)
		nat[k] = all;
	if (all || strcmp(spec, "none") == 0)
		return 0;
	return capsel_scan(t, spec, host, nat, err, errlen);
}
