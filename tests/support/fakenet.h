/* A fake in-memory network for unit tests of the agents' state machines:
 * hosts on one flat segment (no NATs), each with its own struct dgram;
 * every datagram arrives after a fixed one-way delay, in virtual time on
 * one scheduler. A filter sees every datagram and may drop it; the test
 * may inject datagrams from any source (spoofing). Not the emulator's
 * virtual network (emulator/vnet.c): that one puts the NAT engines in
 * between. */
#ifndef NATBED_TESTS_FAKENET_H
#define NATBED_TESTS_FAKENET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram.h"

struct fakenet;

/* What the filter sees; return false to drop the datagram. */
typedef bool (*fakenet_filter_fn)(void *arg, const struct dg_ep *from, const struct dg_ep *to,
				  const uint8_t *buf, size_t len);

/* A network whose datagrams take delay_ns one way. NULL on ENOMEM. */
struct fakenet *fakenet_new(natbed_time_t delay_ns, uint64_t seed);
void fakenet_free(struct fakenet *n);

struct sched *fakenet_sched(struct fakenet *n);

/* A host with address ip ("192.0.2.1"); its dgram is valid while n lives. */
const struct dgram *fakenet_host(struct fakenet *n, const char *ip);

void fakenet_set_filter(struct fakenet *n, fakenet_filter_fn fn, void *arg);

/* Delivers buf from *from (anyone) to *to after the delay. */
void fakenet_inject(struct fakenet *n, const struct dg_ep *from, const struct dg_ep *to,
		    const void *buf, size_t len);

/* Runs the scheduler until t (absolute, ns). */
void fakenet_run_until(struct fakenet *n, natbed_time_t t);

/* Runs the scheduler for d ns from now. */
void fakenet_run_for(struct fakenet *n, natbed_time_t d);

/* A STUN server (natbed-stund's request logic) at ip:port. 0 or -errno. */
int fakenet_stund(struct fakenet *n, const char *ip, uint16_t port);

struct fakenet_stats {
	uint64_t sent, delivered, dropped, unreachable;
};
void fakenet_stats(const struct fakenet *n, struct fakenet_stats *st);

/* "ip:port" as a struct dg_ep. */
struct dg_ep fakenet_ep(const char *ip, uint16_t port);

#endif
