/* natbed JSON helpers for checkpoints (natbed/jsonck.h). */
#include "natbed/jsonck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *jsonck_ipv4(uint32_t addr)
{
	char s[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, s, sizeof(s));
	return json_string(s);
}

int jsonck_ipv4_read(const json_t *j, uint32_t *out)
{
	const char *s = json_string_value(j);
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*out = a.s_addr;
	return 0;
}

int jsonck_int(const json_t *j, json_int_t lo, json_int_t hi, json_int_t *out)
{
	*out = json_integer_value(j);
	return json_is_integer(j) && *out >= lo && *out <= hi ? 0 : -1;
}

json_t *jsonck_u64(uint64_t v, bool hex)
{
	char s[24];

	snprintf(s, sizeof(s), hex ? "%016" PRIx64 : "%" PRIu64, v);
	return json_string(s);
}

int jsonck_u64_read(const json_t *j, bool hex, uint64_t *out)
{
	const char *s = json_string_value(j);
	char *end;

	if (!s || !*s || strspn(s, hex ? "0123456789abcdef" : "0123456789") != strlen(s))
		return -1;
	errno = 0;
	*out = strtoull(s, &end, hex ? 16 : 10);
	return *end || errno ? -1 : 0;
}
