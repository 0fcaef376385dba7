/* Private to the gate engine (gate.c) and its control and checkpoint code
 * (gate_ctl.c). Callers use gate.h. */
#ifndef NATBED_EMU_GATE_INT_H
#define NATBED_EMU_GATE_INT_H

#include "gate.h"

#define GATE_ANSWER_MAX 256		   /* an answer's bytes */
#define GATE_RATE_RING	TOPO_GATE_RATE_MAX /* request times kept per host */

/* A pinhole: host h may reach res (and be reached from it) until expires;
 * every packet through it moves expires on. */
struct gate_pin {
	struct gate_host *h;
	bool used;
	struct gatemsg_resource res;
	int res_host; /* GATEMSG_RES_HOST: the host's topology index */
	natbed_time_t opened, expires;
	uint64_t packets;
	uint64_t ev; /* its expiry event, 0 when none */
};

/* A request waiting for its delay. */
struct gate_pending {
	struct gate_host *h;
	bool used;
	uint8_t txid[STUN_TXID_LEN];
	uint32_t addr; /* where the answer goes, network order */
	uint16_t port;
	struct gatemsg_resource res;
	int res_host;
	enum topo_trust level; /* the host's when it came: its delay's and chance's */
	uint32_t rate;	       /* the host's requests in the rate window before it */
	uint64_t n;	       /* the host's request number: its draws */
	natbed_time_t asked, due;
	uint64_t ev; /* its decision event */
};

/* A decision, for `ctl gate NAME hosts`. */
struct gate_hist {
	natbed_time_t at;
	bool granted;
	enum topo_trust level, after;
	double risk;
	natbed_time_t delay_ns;
};

struct gate_host_counters {
	uint64_t requests; /* accepted: each gets a decision */
	uint64_t granted, denied;
	uint64_t refused[GATE_R_COUNT];
};

/* A host behind the gate. Its name and key are the topology's. */
struct gate_host {
	struct gate *g;
	int index; /* in the topology */
	const char *name;
	const char *key;
	size_t keylen;
	uint32_t addrs[TOPO_ADDRS_MAX]; /* network order */
	size_t n_addrs;
	uint64_t stream; /* the key of its draws */
	enum topo_trust level;
	uint32_t failures; /* denials since its last grant */
	uint32_t in_a_row; /* denials since its last grant or demotion */
	bool granted_ever;
	natbed_time_t last_grant;
	natbed_time_t rate[GATE_RATE_RING]; /* times of its last requests */
	unsigned rate_next, rate_n;
	/* RFC 4303 §3.4.3's window over nonces: bit i stands for top - i */
	uint64_t nonce_top, nonce_bits;
	uint64_t draws;
	struct gate_pending pend[GATE_PENDING_MAX];
	struct gate_pin pins[GATE_PINS_MAX];
	struct gate_hist hist[GATE_HISTORY];
	unsigned hist_next, hist_n;
	struct gate_host_counters c;
};

struct gate {
	struct gate_cfg cfg;
	char name[TOPO_NAME_MAX];
	struct sched *s;
	struct topo_gate_model m;
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
	struct gate_host *hosts;
	size_t n_hosts;
	uint32_t *slot_addr; /* open addressing, address -> host: 0 is empty */
	uint32_t *slot_host;
	size_t slot_mask;
	struct gate_counters c;
	const char *why;
	const char *why_host;
};

/* The host whose topology index is h, or NULL. */
struct gate_host *gate_host_of(const struct gate *g, int h);

/* The host called name, or NULL. */
struct gate_host *gate_host_named(const struct gate *g, const char *name);

/* Risk (0..1) of host h at now with rate requests in the window. */
double gate_risk(const struct gate *g, const struct gate_host *h, uint32_t rate, natbed_time_t now);

/* h's requests in the rate window ending at now. */
uint32_t gate_rate_count(const struct gate *g, const struct gate_host *h, natbed_time_t now);

/* Puts the decision of p, or the expiry check of pin, on the scheduler
 * (at p->due, at pin->expires). 0, or -1 when the scheduler has no room. */
int gate_pending_arm(struct gate_pending *p);
int gate_pin_arm(struct gate_pin *pin);

/* Writes an event line through cfg.event. */
void gate_emit(const struct gate *g, natbed_time_t now, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
