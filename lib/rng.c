/* natbed seeded random numbers: keyed stateless draws and xoshiro256**.
 *
 * rng_keyed_u64(seed, key, n) is element n of a splitmix64 stream whose
 * starting state is a hash of (seed, key): each output goes through the
 * full splitmix64 finalizer, so neighbouring counters, keys and seeds give
 * unrelated values. struct rng is xoshiro256** (Blackman & Vigna), seeded
 * from splitmix64 as its authors recommend.
 */
#include "natbed/rng.h"

#include <stdbool.h>

#define RNG_GOLDEN    0x9e3779b97f4a7c15ull /* 2^64 / golden ratio */
#define RNG_FNV_BASIS 0xcbf29ce484222325ull /* FNV-1a 64-bit */
#define RNG_FNV_PRIME 0x100000001b3ull
#define RNG_NAME_MAX  256 /* bytes of a name rng_key() hashes */
/* rng_below() rejection tries: each fails with probability < 1/2, so
 * running out is a 2^-64 event; the fallback then has a bias of the same
 * order. */
#define RNG_BELOW_TRIES 64

/* The splitmix64 finalizer: a bijection with full avalanche. */
static uint64_t rng_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t rng_keyed_u64(uint64_t seed, uint64_t key, uint64_t n)
{
	uint64_t state = rng_mix64(seed + RNG_GOLDEN);

	state = rng_mix64(state ^ rng_mix64(key + 2 * RNG_GOLDEN));
	return rng_mix64(state + (n + 1) * RNG_GOLDEN);
}

/* The top 53 bits as a double in [0, 1). */
static double rng_to_unit(uint64_t x)
{
	return (double)(x >> 11) * 0x1.0p-53;
}

double rng_keyed_unit(uint64_t seed, uint64_t key, uint64_t n)
{
	return rng_to_unit(rng_keyed_u64(seed, key, n));
}

uint64_t rng_key(const char *name, uint64_t num)
{
	uint64_t h = RNG_FNV_BASIS;

	for (size_t i = 0; name && i < RNG_NAME_MAX && name[i]; i++) {
		h ^= (unsigned char)name[i];
		h *= RNG_FNV_PRIME;
	}
	return rng_mix64(h ^ rng_mix64(num + RNG_GOLDEN));
}

static uint64_t rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void rng_seed(struct rng *r, uint64_t seed, uint64_t key)
{
	uint64_t sm = rng_mix64(seed + RNG_GOLDEN) ^ rng_mix64(key + 2 * RNG_GOLDEN);
	bool zero = true;

	for (int i = 0; i < 4; i++) {
		sm += RNG_GOLDEN;
		r->s[i] = rng_mix64(sm);
		zero = zero && r->s[i] == 0;
	}
	/* xoshiro's one forbidden state. */
	if (zero)
		r->s[0] = RNG_GOLDEN;
}

uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return out;
}

uint64_t rng_below(struct rng *r, uint64_t bound)
{
	/* 2^64 mod bound: values below it belong to an incomplete last
	 * period of "x mod bound" and are rejected. */
	uint64_t threshold;
	uint64_t x = 0;

	if (bound == 0)
		return 0;
	threshold = (0 - bound) % bound;
	for (int i = 0; i < RNG_BELOW_TRIES; i++) {
		x = rng_next(r);
		if (x >= threshold)
			break;
	}
	return x % bound;
}

double rng_unit(struct rng *r)
{
	return rng_to_unit(rng_next(r));
}
