/* What a checkpoint holds of a running network, by reference: the engines
 * reached by the names of their parts (a host, a NAT, "internet" for the
 * core's link) wherever they run, a fabric (natbed-emu: fabric_parts,
 * fabric.h) or a virtual network (natbed sim: vnet_parts, vnet.h). A type
 * of its own, so that both can fill one without depending on the
 * checkpoint code. */
#ifndef NATBED_EMU_EMU_PARTS_H
#define NATBED_EMU_EMU_PARTS_H

#include <stddef.h>

struct engines;
struct flowtab;
struct linkset;

struct emu_parts {
	const struct engines *eng; /* the NATs, firewalls and gates */
	struct linkset *links;	   /* the hosts', the NATs' and the core's links */
	struct flowtab *flows;	   /* the packet numbers per flow */
	size_t in_flight;	   /* packets on their way when taken: counted, not saved */
};

#endif
