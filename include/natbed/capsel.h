/* natbed capture selection: which of a topology's captures a run writes
 * (`natbed up --capture`, `natbed-emu --capture`; docs/captures.md).
 *
 * A selection is "all", "none" or a comma-separated list of names: a host
 * name selects the host's fabric port (HOST.pcap), a NAT name or NAT-wan
 * selects the NAT's outside view (NAT-wan.pcap). */
#ifndef NATBED_CAPSEL_H
#define NATBED_CAPSEL_H

#include <stdbool.h>
#include <stddef.h>

#include "natbed/topo.h"

#define CAPSEL_DEFAULT "all"

/* Reads spec against t. On success fills host[0..t->n_hosts) and
 * nat[0..t->n_nats) (either may be NULL: only check) with true where a
 * capture is written and returns 0. A name t does not have, an empty name
 * or an empty spec: returns -1, touches neither array and writes into err
 * the bad name and the names t has. */
int capsel_parse(const struct topo *t, const char *spec, bool *host, bool *nat, char *err,
		 size_t errlen);

/* The one capture name names (a host: HOST.pcap; NAT or NAT-wan:
 * NAT-wan.pcap): 0 with *host or *nat its index and the other -1, or -1
 * with err as capsel_parse() writes it. */
int capsel_find(const struct topo *t, const char *name, int *host, int *nat, char *err,
		size_t errlen);

#endif
