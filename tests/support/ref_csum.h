/* A reference Internet checksum for the tests and fuzzers: RFC 1071, the
 * 16-bit one's complement sum, folded, not complemented. Written apart from
 * emulator/proto.c so a check is never the code under test. */
#ifndef NATBED_TESTS_REF_CSUM_H
#define NATBED_TESTS_REF_CSUM_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t ref_csum_sum(uint32_t sum, const uint8_t *d, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)d[i] << 8 | d[i + 1];
	if (len & 1)
		sum += (uint32_t)d[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

#endif
