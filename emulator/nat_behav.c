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

const struct nat_mapping_kind nat_mapping_kinds[TOPO_MAP_COUNT] = {
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

const struct nat_filtering_kind nat_filtering_kinds[TOPO_MAP_COUNT] = {
    [TOPO_MAP_EIM] = {"endpoint-independent", filter_eif},
    [TOPO_MAP_ADM] = {"address-dependent", filter_adf},
    [TOPO_MAP_APDM] = {"address-and-port-dependent", filter_apdf},
};

/* --- port assignment (RFC 4787 §4.2) ------------------------------------- */

static bool ports_keeps(const struct nat *n, const struct nat_pick *pk)
{
	return pk->want >= pk->keep_lo && pk->want <= pk->hi && nat_port_ok(n, pk, pk->want);
}

/* A seeded random port of the range. */
static uint32_t ports_draw(struct nat *n, const struct nat_pick *pk)
{
	return pk->lo + (uint32_t)rng_below(&n->rng, pk->hi - pk->lo + 1);
}

/* Port preservation: the inside port when free, else the next free one. */
static int32_t ports_preserve(struct nat *n, const struct nat_pick *pk)
{
	if (ports_keeps(n, pk))
		return pk->want;
	return nat_port_scan(n, pk, pk->want);
}

/* Each new mapping `stride` ports after the last one (port prediction's
 * favourite). */
static int32_t ports_sequential(struct nat *n, const struct nat_pick *pk)
{
	uint32_t lo = pk->lo, range = pk->hi - pk->lo + 1, i, port;
	uint32_t *next = &n->next_port[pk->proto], start = *next;

	if (start < lo || start > pk->hi)
		start = lo;
	for (i = 0; i < range; i++) {
		port = lo + (start - lo + i * n->cfg.b.stride) % range;
		if (nat_port_ok(n, pk, port)) {
			*next = lo + (port - lo + n->cfg.b.stride) % range;
			return (int32_t)port;
		}
	}
	return nat_port_scan(n, pk, start);
}

#define PORTS_RANDOM_TRIES 32

/* Seeded random draws; a crowded range falls back to a scan from a random
 * place. */
static int32_t ports_random(struct nat *n, const struct nat_pick *pk)
{
	uint32_t i, port;

	for (i = 0; i < PORTS_RANDOM_TRIES; i++) {
		port = ports_draw(n, pk);
		if (nat_port_ok(n, pk, port))
			return (int32_t)port;
	}
	return nat_port_scan(n, pk, ports_draw(n, pk));
}

/* Linux (nf_nat_l4proto_unique_tuple): the inside port when free, else a
 * random place in its class and the first free port upward from there. */
static int32_t ports_preserve_random(struct nat *n, const struct nat_pick *pk)
{
	if (ports_keeps(n, pk))
		return pk->want;
	return nat_port_scan(n, pk, ports_draw(n, pk));
}

const struct nat_ports_kind nat_ports_kinds[TOPO_PORTS_COUNT] = {
    [TOPO_PORTS_PRESERVE] = {"preserve", ports_preserve},
    [TOPO_PORTS_SEQUENTIAL] = {"sequential", ports_sequential},
    [TOPO_PORTS_RANDOM] = {"random", ports_random},
    [TOPO_PORTS_PRESERVE_RANDOM] = {"preserve-random", ports_preserve_random},
};
