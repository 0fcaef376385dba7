/* natbed JSON helpers for checkpoints: the few value kinds every part's
 * serialiser writes and reads strictly (a checkpoint file is input: each
 * reader checks type and range and says no, never guesses). */
#ifndef NATBED_JSONCK_H
#define NATBED_JSONCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* addr (network order) as "A.B.C.D". A new reference, or NULL on ENOMEM. */
json_t *jsonck_ipv4(uint32_t addr);
/* "A.B.C.D" into *out (network order): 0, or -1 when j is not one. */
int jsonck_ipv4_read(const json_t *j, uint32_t *out);

/* An integer lo..hi into *out: 0, or -1 (then *out is j's value or 0). */
int jsonck_int(const json_t *j, json_int_t lo, json_int_t hi, json_int_t *out);

/* A 64-bit word as a string, decimal or 16 hex digits: JSON integers are
 * signed. A new reference, or NULL on ENOMEM. */
json_t *jsonck_u64(uint64_t v, bool hex);
/* Reads one back: digits only (lower-case hex), no overflow. 0 or -1. */
int jsonck_u64_read(const json_t *j, bool hex, uint64_t *out);

#endif
