/* Captures written by the tests, as natbed-emu writes them: Ethernet
 * frames carrying IPv4 UDP, with nanosecond times. For the readers of
 * captures (natbed check, natbed matrix's judge) to be fed made-up runs. */
#ifndef NATBED_TESTS_PCAPGEN_H
#define NATBED_TESTS_PCAPGEN_H

#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>

/* A dead handle for Ethernet with nanosecond times (pcap_close() it). */
pcap_t *pcapgen_dead(void);

/* One frame on d at t_ns (ns since the epoch): UDP from src:sport to
 * dst:dport (dotted quads) carrying payload[0..len), with IP
 * identification ipid and TTL ttl. Asserts (cmocka) on bad input. */
void pcapgen_udp(pcap_dumper_t *d, int64_t t_ns, const char *src, uint16_t sport, const char *dst,
		 uint16_t dport, const uint8_t *payload, size_t len, uint16_t ipid, uint8_t ttl);

#endif
