/* natbed agents: the probe exchange on a path a try found, a state machine
 * over struct dgram. The initiator sends K probes, one every interval; the
 * responder echoes each; the initiator measures round-trip times and loss.
 *
 * A probe is a STUN request of method NBSTUN_METHOD_PROBE carrying TRY
 * (the try id, 8 bytes) and SEQ (its number, 4 bytes), with FINGERPRINT;
 * the echo is its success response: same transaction, TRY and SEQ. Only
 * echoes from the path's remote endpoint count.
 */
#ifndef NATBED_AGENTS_PROBE_H
#define NATBED_AGENTS_PROBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram.h"

#define PROBE_INTERVAL_MS 20
#define PROBE_WAIT_MS	  1000 /* after the last probe, echoes awaited this long */
#define PROBE_MAX	  10000

struct probe_cfg {
	int count;		   /* probes to send, 0..PROBE_MAX */
	natbed_time_t interval_ns; /* 0: PROBE_INTERVAL_MS */
	natbed_time_t wait_ns;	   /* 0: PROBE_WAIT_MS */
	uint64_t try_id;
};

struct probe_result {
	int sent, answered;
	double loss;			       /* 1 - answered / sent; 0 when none sent */
	double rtt_ms, rtt_min_ms, rtt_max_ms; /* over the answered; -1 when none */
};

typedef void (*probe_done_fn)(void *arg, const struct probe_result *r);

struct probe;

/* Starts probing remote from sock of d; done(arg, result) is called once,
 * when every probe is answered or wait_ns after the last was sent, never
 * from inside probe_new(). The caller passes sock's datagrams to
 * probe_input(). NULL on ENOMEM or a count out of range. */
struct probe *probe_new(const struct dgram *d, int sock, const struct dg_ep *remote,
			const struct probe_cfg *cfg, probe_done_fn done, void *arg);

/* Cancels the timers and frees p. NULL is safe. */
void probe_free(struct probe *p);

struct ckw;
struct ckr;

/* natbed sim checkpoints (natbed/ckpt.h): p whole, the times and answers
 * of the probes sent with it. A new reference, NULL on error (said in
 * w). */
json_t *probe_ckpt_save(const struct probe *p, struct ckw *w);
/* A probe built from j, nothing sent or scheduled: its pointers,
 * function and timer are filled at ckr_finish(). NULL on error (said in
 * r). */
struct probe *probe_ckpt_load(const json_t *j, struct ckr *r);
/* probe_tick, the one function a probe gives the scheduler. */
extern const struct ckfns probe_ckfns;

/* A datagram on the probing socket: true when it was an echo of p's (a
 * duplicate echo counts once). */
bool probe_input(struct probe *p, const struct dg_ep *from, const uint8_t *buf, size_t len,
		 natbed_time_t now);

/* The responder: when buf is a probe of try_id from *expect (NULL: from
 * anyone), echoes it from sock to from and returns true. */
bool probe_echo(const struct dgram *d, int sock, uint64_t try_id, const struct dg_ep *expect,
		const struct dg_ep *from, const uint8_t *buf, size_t len);

#endif
