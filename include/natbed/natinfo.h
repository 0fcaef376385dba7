/* natbed: what a NAT does, as NAT discovery measures it (RFC 5780)
 * and as traversal methods' priors are keyed. */
#ifndef NATBED_NATINFO_H
#define NATBED_NATINFO_H

#include <stdbool.h>
#include <stdint.h>

/* RFC 4787 §4.1 mapping and §5 filtering, as measured; NONE: no NAT (the
 * host's own address is what the world sees). */
enum ni_map { NI_MAP_UNKNOWN, NI_MAP_NONE, NI_MAP_EIM, NI_MAP_ADM, NI_MAP_APDM };
enum ni_filter { NI_FILTER_UNKNOWN, NI_FILTER_NONE, NI_FILTER_EIF, NI_FILTER_ADF, NI_FILTER_APDF };
/* RFC 4787 §4.2 port assignment, as seen from outside. */
enum ni_ports { NI_PORTS_UNKNOWN, NI_PORTS_PRESERVE, NI_PORTS_SEQUENTIAL, NI_PORTS_RANDOM };

struct natinfo {
	enum ni_map map;
	enum ni_filter filter;
	enum ni_ports ports;
	int stride;  /* sequential: distance between new mappings' ports (may be < 0) */
	int hairpin; /* 1, 0, or -1 unknown */
	/* its gateway grants mappings: answered PCP or NAT-PMP (RFC 6887,
	 * RFC 6886) when the agent asked at start; 0 otherwise */
	int pcp;
};

/* The classes method priors are keyed by: one per pair that behaves
 * differently for traversal. */
enum ni_class {
	NI_CLASS_OPEN,		  /* no NAT */
	NI_CLASS_FULL_CONE,	  /* EIM, EIF */
	NI_CLASS_RESTRICTED,	  /* EIM, ADF */
	NI_CLASS_PORT_RESTRICTED, /* EIM, APDF */
	NI_CLASS_ADDR_DEPENDENT,  /* ADM, any filtering */
	NI_CLASS_SYM_SEQUENTIAL,  /* APDM, predictable ports (sequential or preserved) */
	NI_CLASS_SYM_RANDOM,	  /* APDM, random ports */
	NI_CLASS_UNKNOWN,
	NI_CLASS_COUNT
};

enum ni_class natinfo_class(const struct natinfo *ni);

/* Names as JSON and docs spell them ("endpoint-independent", "preserve",
 * "port-restricted", ...). */
const char *ni_map_name(enum ni_map m);
const char *ni_filter_name(enum ni_filter f);
const char *ni_ports_name(enum ni_ports p);
const char *ni_class_name(enum ni_class c);
/* The class called name, or NI_CLASS_UNKNOWN. */
enum ni_class ni_class_find(const char *name);

#endif
