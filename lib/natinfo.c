#include "natbed/natinfo.h"

#include <string.h>

enum ni_class natinfo_class(const struct natinfo *ni)
{
	switch (ni->map) {
	case NI_MAP_NONE:
		return NI_CLASS_OPEN;
	case NI_MAP_EIM:
		return ni->filter == NI_FILTER_EIF    ? NI_CLASS_FULL_CONE
		       : ni->filter == NI_FILTER_ADF  ? NI_CLASS_RESTRICTED
		       : ni->filter == NI_FILTER_APDF ? NI_CLASS_PORT_RESTRICTED
						      : NI_CLASS_UNKNOWN;
	case NI_MAP_ADM:
		return NI_CLASS_ADDR_DEPENDENT;
	case NI_MAP_APDM:
		return ni->ports == NI_PORTS_RANDOM    ? NI_CLASS_SYM_RANDOM
		       : ni->ports == NI_PORTS_UNKNOWN ? NI_CLASS_UNKNOWN
						       : NI_CLASS_SYM_SEQUENTIAL;
	default:
		return NI_CLASS_UNKNOWN;
	}
}

static const char *const map_names[] = {"unknown", "none", "endpoint-independent",
					"address-dependent", "address-and-port-dependent"};
static const char *const filter_names[] = {"unknown", "none", "endpoint-independent",
					   "address-dependent", "address-and-port-dependent"};
static const char *const ports_names[] = {"unknown", "preserve", "sequential", "random"};
static const char *const class_names[NI_CLASS_COUNT] = {"open",
							"full-cone",
							"restricted-cone",
							"port-restricted",
							"addr-dependent",
							"symmetric-sequential",
							"symmetric-random",
							"unknown"};

const char *ni_map_name(enum ni_map m)
{
	return (unsigned)m < sizeof(map_names) / sizeof(map_names[0]) ? map_names[m] : "unknown";
}

const char *ni_filter_name(enum ni_filter f)
{
	return (unsigned)f < sizeof(filter_names) / sizeof(filter_names[0]) ? filter_names[f]
									    : "unknown";
}

const char *ni_ports_name(enum ni_ports p)
{
	return (unsigned)p < sizeof(ports_names) / sizeof(ports_names[0]) ? ports_names[p]
									  : "unknown";
}

const char *ni_class_name(enum ni_class c)
{
	return (unsigned)c < NI_CLASS_COUNT ? class_names[c] : "unknown";
}

enum ni_class ni_class_find(const char *name)
{
	int c;

	for (c = 0; name && c < NI_CLASS_COUNT; c++)
		if (strcmp(class_names[c], name) == 0)
			return (enum ni_class)c;
	return NI_CLASS_UNKNOWN;
}
