/* Address helpers shared by the STUN tools in agents/. */
#ifndef NATBED_AGENTS_STUNADDR_H
#define NATBED_AGENTS_STUNADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest string stunaddr_str() writes, NUL included: "[v6]:port". */
#define STUNADDR_STRLEN 56

/* Parses "IPv4", "IPv4:PORT", "IPv6", "[IPv6]" or "[IPv6]:PORT" into *out,
 * using default_port when none is given. Returns 0, or -EINVAL. */
int stunaddr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *out);

/* Writes sa as "ip:port" (IPv4) or "[ip]:port" (IPv6) into buf; returns buf. */
char *stunaddr_str(const struct sockaddr_storage *sa, char *buf, size_t len);

/* The port of sa in host order; stunaddr_set_port() sets it. */
uint16_t stunaddr_port(const struct sockaddr_storage *sa);
void stunaddr_set_port(struct sockaddr_storage *sa, uint16_t port);

/* The socklen_t matching sa's family. */
socklen_t stunaddr_len(const struct sockaddr_storage *sa);

/* True when a and b hold the same family, address and port. */
int stunaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif
