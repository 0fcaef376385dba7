/* A fake in-memory network for unit tests of the agents' state machines:
 * hosts on one flat segment (no NATs), each with its own struct dgram;
 * every datagram arrives after a fixed one-way delay, in virtual time on
 * one scheduler. A filter sees every datagram and may drop it; the test
 * may inject datagrams from any source (spoofing). Not the emulator's
 * virtual network (emulator/vnet.c): that one puts the NAT engines in
 * between.
 *
 * It is whole in a natbed sim checkpoint (natbed/ckpt.h): its socket
 * table (each socket's callback and argument), its hosts' struct dgram,
 * the scheduler, its STUN servers, its counters and the datagrams in
 * flight (events that own their packet). A test saves the network and
 * the state machines on it, loads both into a new network, and compares
 * what each delivers from then on (cknet_log). The filter is the test's:
 * not written, set it again on the loaded network. */
#ifndef NATBED_TESTS_CKNET_H
#define NATBED_TESTS_CKNET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram.h"

struct ckw;
struct ckr;
struct cknet;

/* What the filter sees; return false to drop the datagram. */
typedef bool (*cknet_filter_fn)(void *arg, const struct dg_ep *from, const struct dg_ep *to,
				const uint8_t *buf, size_t len);

/* A network at time 0 whose datagrams take delay_ns one way. NULL on
 * ENOMEM. */
struct cknet *cknet_new(natbed_time_t delay_ns, uint64_t seed);
/* Frees the network and the datagrams in flight; the scheduler's events
 * are dropped with it. NULL is safe. */
void cknet_free(struct cknet *n);

struct sched *cknet_sched(struct cknet *n);

/* A host with address ip ("192.0.2.1"); its dgram lives as long as n.
 * NULL when the table is full. */
const struct dgram *cknet_host(struct cknet *n, const char *ip);
/* The same with a second address alt (RFC 5780's alternate), NULL: none. */
const struct dgram *cknet_host2(struct cknet *n, const char *ip, const char *alt);

/* Delivers buf from *from (anyone) to *to after the delay. */
void cknet_inject(struct cknet *n, const struct dg_ep *from, const struct dg_ep *to,
		  const void *buf, size_t len);

/* Runs the scheduler until t (absolute ns). */
void cknet_run_until(struct cknet *n, natbed_time_t t);

/* Runs the scheduler for d ns from now. */
void cknet_run_for(struct cknet *n, natbed_time_t d);

/* Every datagram sent or injected goes through fn (NULL: none) first. */
void cknet_set_filter(struct cknet *n, cknet_filter_fn fn, void *arg);

/* A STUN server (natbed-stund's request logic, agents/dgstund.h) on a new
 * host at ip:port, owned by n; cknet_stund2 with RFC 5780's alternate
 * address alt too. A network with one is written with dgstund_ckfns
 * among the tables. 0 or -errno. */
int cknet_stund(struct cknet *n, const char *ip, uint16_t port);
int cknet_stund2(struct cknet *n, const char *ip, const char *alt, uint16_t port);

struct cknet_stats {
	uint64_t sent, delivered, dropped, unreachable;
};
void cknet_stats(const struct cknet *n, struct cknet_stats *st);

/* "ip:port" as a struct dg_ep. */
struct dg_ep cknet_ep(const char *ip, uint16_t port);

/* Every datagram delivered (or found no socket) since the last
 * cknet_log_clear, one line each: "TIME FROM>TO LEN HASH". */
const char *cknet_log(const struct cknet *n);
void cknet_log_clear(struct cknet *n);

/* The network (hosts, sockets, delay, the log left out): declares the
 * scheduler and each host's dgram. Write ckw_sched() first. */
json_t *cknet_ckpt_save(const struct cknet *n, struct ckw *w);
/* A network built from j at its time, its scheduler empty: give the
 * queue to ckr_sched(r, cknet_sched(n), ...). NULL on error (in r). */
struct cknet *cknet_ckpt_load(const json_t *j, struct ckr *r);
extern const struct ckfns cknet_ckfns;

/* A whole world on n, as tests/support/ckround.h writes one: its parts
 * {"net": n's, "parts": save(w, ctx)}, written with tables[0..nt)
 * (cknet_ckfns among them). NULL with the writer's error in err. */
typedef json_t *(*cknet_save_fn)(struct ckw *w, void *ctx);
json_t *cknet_world_save(const struct cknet *n, const struct ckfns *const *tables, size_t nt,
			 cknet_save_fn save, void *ctx, char *err, size_t errlen);

/* The world of cknet_world_save() in a new network: load(r, parts, ctx)
 * builds the parts; then ckr_finish(). NULL with the reader's error in
 * err (the network freed; the parts load built are the caller's). */
typedef int (*cknet_load_fn)(struct ckr *r, const json_t *parts, void *ctx);
struct cknet *cknet_world_load(const json_t *j, const struct ckfns *const *tables, size_t nt,
			       cknet_load_fn load, void *ctx, char *err, size_t errlen);

/* The test's parts in a world cknet_world_save() wrote (borrowed). */
const json_t *cknet_world_parts(const json_t *j);

/* The round trip every checkpoint test makes: j (cknet_world_save's)
 * loaded into a new network (load filling ctx), that world written again
 * with save, and the two files compared. The new network (NULL when it
 * does not load), err empty when all went well, else the problem ("load:
 * ...", "save: ...", "written again, the file differs"). */
struct cknet *cknet_world_reload(const json_t *j, const struct ckfns *const *tables, size_t nt,
				 cknet_save_fn save, cknet_load_fn load, void *ctx, char *err,
				 size_t errlen);

#endif
