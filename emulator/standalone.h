/* natbed-emu standalone mode: two real interfaces of a machine, an inside
 * network behind one emulated NAT and the outside, so real devices can sit
 * behind any NAT behaviour:
 *   natbed-emu --inside eth1 --outside eth2 --public 203.0.113.10 \
 *              --inside-net 192.168.50.0/24 [--preset symmetric]
 * The topology it runs is built from those options. */
#ifndef NATBED_EMU_STANDALONE_H
#define NATBED_EMU_STANDALONE_H

#include <stddef.h>
#include <stdint.h>

#include "natbed/topo.h"

struct standalone_opts {
	const char *inside;	/* interface toward the inside network */
	const char *outside;	/* interface toward the outside */
	const char *public_ip;	/* the NAT's outside address */
	const char *inside_net; /* CIDR; the emulator plays its first address */
	const char *preset;	/* NAT preset, default port-restricted */
	uint64_t seed;
};

/* Builds the topology; the ports are named after the interfaces. Returns 0,
 * or -1 with the reason in err (naming the option at fault). */
int standalone_topo(const struct standalone_opts *o, struct topo **out, char *err, size_t errlen);

#endif
