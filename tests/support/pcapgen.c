/* The tests' capture writer (pcapgen.h). */
#include "pcapgen.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#define PCAPGEN_ETH_HLEN 14
#define PCAPGEN_IP_HLEN	 20
#define PCAPGEN_UDP_HLEN 8
#define PCAPGEN_NS	 1000000000LL

pcap_t *pcapgen_dead(void)
{
	pcap_t *p =
	    pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);

	assert_non_null(p);
	return p;
}

void pcapgen_udp(pcap_dumper_t *d, int64_t t_ns, const char *src, uint16_t sport, const char *dst,
		 uint16_t dport, const uint8_t *payload, size_t len, uint16_t ipid, uint8_t ttl)
{
	uint8_t buf[1514] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00};
	uint8_t *ip = buf + PCAPGEN_ETH_HLEN, *udp = ip + PCAPGEN_IP_HLEN;
	uint16_t tot = (uint16_t)(PCAPGEN_IP_HLEN + PCAPGEN_UDP_HLEN + len);
	struct pcap_pkthdr h;

	assert_true(len + PCAPGEN_ETH_HLEN + PCAPGEN_IP_HLEN + PCAPGEN_UDP_HLEN <= sizeof(buf));
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[4] = (uint8_t)(ipid >> 8);
	ip[5] = (uint8_t)ipid;
	ip[6] = 0x40; /* DF */
	ip[8] = ttl;
	ip[9] = 17;
	assert_int_equal(inet_pton(AF_INET, src, ip + 12), 1);
	assert_int_equal(inet_pton(AF_INET, dst, ip + 16), 1);
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	udp[4] = (uint8_t)((PCAPGEN_UDP_HLEN + len) >> 8);
	udp[5] = (uint8_t)(PCAPGEN_UDP_HLEN + len);
	memcpy(udp + PCAPGEN_UDP_HLEN, payload, len);
	h.ts.tv_sec = (time_t)(t_ns / PCAPGEN_NS);
	h.ts.tv_usec = (suseconds_t)(t_ns % PCAPGEN_NS); /* nanoseconds: the dead handle says so */
	h.caplen = h.len = PCAPGEN_ETH_HLEN + (uint32_t)tot;
	pcap_dump((u_char *)d, &h, buf);
}
