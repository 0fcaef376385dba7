/* natbed agents: asking the NAT for a mapping, with PCP (RFC 6887) MAP and,
 * when the gateway does not speak PCP, NAT-PMP (RFC 6886).
 *
 * A state machine over the datagram interface, like every agent part: it
 * sends MAP for (protocol, internal port) to the gateway's port 5351 from a
 * socket of its own, retransmits, falls back to NAT-PMP on UNSUPP_VERSION
 * or silence, renews at half the lifetime granted, maps again when the
 * server's epoch shows it rebooted (RFC 6887 §8.5), and deletes the mapping
 * when freed. */
#ifndef NATBED_AGENTS_PCPC_H
#define NATBED_AGENTS_PCPC_H

#include <jansson.h>
#include <stdint.h>

#include "dgram.h"

struct pcpc_cfg {
	struct dg_ep gateway; /* the NAT's inside address, port 5351 */
	uint32_t client;      /* our address as the gateway sees it (network order) */
	uint8_t proto;	      /* 17 (UDP) or 6 (TCP) */
	uint16_t int_port;    /* the internal port to map (network order) */
	uint16_t ext_port;    /* the outside port suggested (network order); 0: int_port */
	uint32_t lifetime_s;  /* asked for; 0: 7200 (RFC 6886's advice) */
	natbed_time_t rto_ns; /* first retransmission; 0: 250 ms */
	unsigned tries;	      /* sends per protocol before the next; 0: 3 */
	/* Only ask whether the gateway answers: PCP ANNOUNCE (RFC 6887
	 * §14.1), else NAT-PMP's public address request (RFC 6886 §3.2).
	 * granted() then says which (lifetime 0; ext->addr the public
	 * address NAT-PMP gives, 0 for PCP); nothing is mapped, renewed or
	 * deleted. int_port and ext_port are not used. */
	int announce;
};

struct pcpc_ops {
	/* The mapping exists (or was renewed): its outside endpoint, the
	 * lifetime granted, and which protocol granted it ("pcp", "nat-pmp").
	 * NAT-PMP's answer names no address: ext->addr is then 0, and the
	 * caller knows it (its server-reflexive address). */
	void (*granted)(void *arg, const struct dg_ep *ext, uint32_t lifetime_s, const char *by);
	/* No mapping: reason says why ("no PCP or NAT-PMP answer from
	 * 192.168.1.1", "NO_RESOURCES", ...). */
	void (*failed)(void *arg, const char *reason);
};

struct pcpc;

/* Opens a socket on dg and asks; NULL on ENOMEM or no socket. */
struct pcpc *pcpc_new(const struct dgram *dg, const struct pcpc_cfg *cfg,
		      const struct pcpc_ops *ops, void *arg);
/* Deletes the mapping (lifetime 0, not waited for), closes the socket,
 * cancels every timer. NULL is safe. */
void pcpc_free(struct pcpc *c);
/* The same but the mapping stays until its lifetime ends (no renewal):
 * for a mapping still in use when its client goes. NULL is safe. */
void pcpc_release(struct pcpc *c);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): c whole; its ops is a static
 * object of its owner's table (CKVAR), its arg an object. A new
 * reference, NULL on error (said in w). */
json_t *pcpc_ckpt_save(const struct pcpc *c, struct ckw *w);
/* A pcpc built from j, nothing opened, sent or scheduled (its socket id
 * is the one the network restores): its pointers, timer and ops are
 * filled at ckr_finish(). NULL on error (said in r). */
struct pcpc *pcpc_ckpt_load(const json_t *j, struct ckr *r);
/* The functions a pcpc gives the scheduler and its socket. */
extern const struct ckfns pcpc_ckfns;

#endif
