/* natbed agents: the NAT classes and candidates the rendezvous client's
 * rendezvous server's, the agent's and a traversal try's checkpoints
 * (natbed/ckpt.h) write, both ways, beside ckget.h's readers.
 */
#ifndef NATBED_AGENTS_CKVAL_H
#define NATBED_AGENTS_CKVAL_H

#include <jansson.h>

#include "ckget.h"
#include "method.h"

/* A NAT as [map, filter, ports, stride, hairpin, pcp]; a candidate as
 * {name, host, srflx, relay, nat}. New references, NULL on ENOMEM. */
json_t *ckval_nat(const struct natinfo *ni);
json_t *ckval_cand(const struct trav_cand *c, struct ckw *w);

/* What they wrote, from o[key] of g's object (zeros, and g marked bad,
 * when it is not one). */
void ckval_get_nat(struct ckget *g, const char *key, struct natinfo *out);
void ckval_get_cand(struct ckget *g, const char *key, struct trav_cand *out);

#endif
