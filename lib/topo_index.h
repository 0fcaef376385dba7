/* Private to the topology loader (lib/topo.c): hash indexes of what a
 * topology file names and uses, so that a file of tens of thousands of
 * NATs and hosts loads in time linear in its size. One index holds names
 * (NATs and hosts: one namespace), another addresses (NAT publics, host
 * addresses, given or allocated). Keys are not copied: a name must outlive
 * the index. */
#ifndef NATBED_TOPO_INDEX_H
#define NATBED_TOPO_INDEX_H

#include <stddef.h>
#include <stdint.h>

enum tidx_kind { TIDX_NAT, TIDX_HOST };

struct tidx_entry {
	const char *name; /* a name index's key; NULL: a free slot */
	uint32_t addr;	  /* an address index's key (network order) */
	enum tidx_kind kind;
	size_t i; /* the NAT's or host's index */
	size_t k; /* an address: which of its addresses */
	int used;
};

struct tidx {
	struct tidx_entry *slots;
	size_t cap, n; /* cap a power of two, n < cap / 2 */
};

/* Adds a key (the caller checked it is absent). 0 or -ENOMEM. */
int tidx_put_name(struct tidx *x, const char *name, enum tidx_kind kind, size_t i);
int tidx_put_addr(struct tidx *x, uint32_t addr, enum tidx_kind kind, size_t i, size_t k);

/* The entry of a key, or NULL. */
const struct tidx_entry *tidx_name(const struct tidx *x, const char *name);
const struct tidx_entry *tidx_addr(const struct tidx *x, uint32_t addr);

void tidx_free(struct tidx *x);

#endif
