/* The NAT's behaviours as tables: RFC 4787 mapping, filtering and port
 * assignment. A new behaviour is one entry here (and its word in
 * lib/topo_nat.c). */
#include "nat_int.h"

/* --- mapping (RFC 4787 §4.1) --------------------------------------------- */

/* REQ-1: one mapping per inside endpoint, whoever it talks to */
static void map_eim(uint32_t ra, uint16_t rp, uint32_t *ka, uint16_t *kp)
{
	*ka = 0;
	*kp = 0;
}

static void map_adm(uint32_t ra, uint16_t rp, uint32_t *ka, uint16_t *kp)
{
	*ka = ra;
	*kp = 0;
}

static void map_apdm(uint32_t ra, uint16_t rp, uint32_t *ka, uint16_t *kp)
{
	*ka = ra;
	*kp = rp;
}

const struct nat_mapping_kind nat_mapping_kinds[] = {
    [TOPO_MAP_EIM] = {"endpoint-independent", map_eim},
    [TOPO_MAP_ADM] = {"address-dependent", map_adm},
    [TOPO_MAP_APDM] = {"address-and-port-dependent", map_apdm},
};

/* --- filtering (RFC 4787 §5) --------------------------------------------- */

static bool filter_eif(const struct nat_map *m, uint32_t addr, uint16_t port)
{
	return true;
}

static bool filter_adf(const struct nat_map *m, uint32_t addr, uint16_t port)
{
	return nat_perm_find(m, addr, 0, false) != NULL;
}

static bool filter_apdf(const struct nat_map *m, uint32_t addr, uint16_t port)
{
	return nat_perm_find(m, addr, port, true) != NULL;
}

const struct nat_filtering_kind nat_filtering_kinds[] = {
    [TOPO_MAP_EIM] = {"endpoint-independent", filter_eif},
    [TOPO_MAP_ADM] = {"address-dependent", filter_adf},
    [TOPO_MAP_APDM] = {"address-and-port-dependent", filter_apdf},
};

/* --- port assignment (RFC 4787 §4.2) ------------------------------------- */

static uint32_t ports_range(const struct nat *n)
{
	return (uint32_t)n->cfg.b.port_hi - n->cfg.b.port_lo + 1;
}

/* Port preservation: the inside port when free, else the next free one. */
static int32_t ports_preserve(struct nat *n, enum nat_proto p, uint16_t want)
{
	const struct topo_nat_behaviour *b = &n->cfg.b;

	return nat_port_scan(n, p, (want >= b->port_lo && want <= b->port_hi) ? want : b->port_lo,
			     want);
}

/* Each new mapping `stride` ports after the last one (port prediction's
 * favourite). */
static int32_t ports_sequential(struct nat *n, enum nat_proto p, uint16_t want)
{
	uint32_t lo = n->cfg.b.port_lo, range = ports_range(n), start = n->next_port[p], i, port;

	for (i = 0; i < range; i++) {
		port = lo + (start - lo + i * n->cfg.b.stride) % range;
		if (nat_port_ok(n, p, port, want)) {
			n->next_port[p] = lo + (port - lo + n->cfg.b.stride) % range;
			return (int32_t)port;
		}
	}
	return nat_port_scan(n, p, start, want);
}

#define PORTS_RANDOM_TRIES 32

/* Seeded random draws; a crowded range falls back to a scan from a random
 * place. */
static int32_t ports_random(struct nat *n, enum nat_proto p, uint16_t want)
{
	uint32_t lo = n->cfg.b.port_lo, range = ports_range(n), i, port;

	for (i = 0; i < PORTS_RANDOM_TRIES; i++) {
		port = lo + (uint32_t)rng_below(&n->rng, range);
		if (nat_port_ok(n, p, port, want))
			return (int32_t)port;
	}
	return nat_port_scan(n, p, lo + (uint32_t)rng_below(&n->rng, range), want);
}

const struct nat_ports_kind nat_ports_kinds[] = {
    [TOPO_PORTS_PRESERVE] = {"preserve", ports_preserve},
    [TOPO_PORTS_SEQUENTIAL] = {"sequential", ports_sequential},
    [TOPO_PORTS_RANDOM] = {"random", ports_random},
};
