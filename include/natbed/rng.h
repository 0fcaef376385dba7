/* natbed seeded random numbers.
 *
 * Two kinds:
 *  - rng_keyed_*: stateless, a pure function of (seed, stream key, counter),
 *    so a decision about packet n of a flow is the same however packets
 *    interleave (DESIGN: "keyed by what it decides");
 *  - struct rng: a small stateful generator (xoshiro256**) for sequences
 *    whose order is fixed, e.g. a NAT's random port choices.
 */
#ifndef NATBED_RNG_H
#define NATBED_RNG_H

#include <stddef.h>
#include <stdint.h>

/* 64 well-mixed bits from (seed, key, n). */
uint64_t rng_keyed_u64(uint64_t seed, uint64_t key, uint64_t n);

/* A double in [0, 1) from (seed, key, n). */
double rng_keyed_unit(uint64_t seed, uint64_t key, uint64_t n);

/* A stream key from a name and a number (e.g. link name, direction). */
uint64_t rng_key(const char *name, uint64_t num);

struct rng {
	uint64_t s[4];
};

/* Seeds r deterministically from seed and key. */
void rng_seed(struct rng *r, uint64_t seed, uint64_t key);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, bound) without modulo bias; bound 0 returns 0. */
uint64_t rng_below(struct rng *r, uint64_t bound);
/* Uniform double in [0, 1). */
double rng_unit(struct rng *r);

#endif
