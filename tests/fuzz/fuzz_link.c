/* libFuzzer harness for the link parameters (lib/link.c): the input is
 * NUL-separated strings read as KEY, VALUE, KEY, VALUE, ... applied with
 * link_cfg_set() to a default configuration, then a link built from it
 * decides a few packets, the same pairs are applied again with link_set()
 * and it decides a few more. Then its checkpoint is restored into a fresh
 * link, and both decide the same further packets.
 *
 * Checked: a refused setting leaves the configuration as it was and says
 * why; a verdict delivers one or two copies exactly when it passes, never
 * before the packet arrived; the counters add up; the restored link
 * decides every packet as the original does. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natbed/link.h"
#include "natbed/link_ctl.h"
#include "natbed/log.h"

#define LINK_FUZZ_PAIRS	  16 /* settings read from one input */
#define LINK_FUZZ_PACKETS 24 /* packets decided before and after link_set() */
#define LINK_FUZZ_STR_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next NUL-terminated string of the input into buf (cut at cap - 1),
 * or false when the input is used up. */
static bool link_fuzz_str(const uint8_t **p, size_t *n, char *buf, size_t cap)
{
	const uint8_t *end;
	size_t len;

	if (*n == 0)
		return false;
	end = memchr(*p, '\0', *n);
	len = end ? (size_t)(end - *p) : *n;
	memcpy(buf, *p, len < cap ? len : cap - 1);
	buf[len < cap ? len : cap - 1] = '\0';
	*p += end ? len + 1 : len;
	*n -= end ? len + 1 : len;
	return true;
}

static void link_fuzz_check(struct link *l, natbed_time_t *now, uint64_t *decided)
{
	static const uint8_t protos[] = {17, 6, 1, 0};
	struct link_stats st;
	uint64_t dropped = 0, passed = 0;

	for (unsigned i = 0; i < LINK_FUZZ_PACKETS; i++) {
		struct link_pkt p = {
		    .flow = i % 3,
		    .seq = decided[i % 3]++,
		    .len = 60 + (i * 487) % 1455,
		    .proto = protos[i % 4],
		    .sport = (uint16_t)(3478 + i % 2),
		    .dport = 53,
		};
		struct link_verdict v = link_decide(l, &p, *now);

		if ((unsigned)v.drop >= LINK_DROP_COUNT || v.n > 2 ||
		    (v.drop == LINK_PASS) != (v.n >= 1))
			__builtin_trap();
		for (unsigned c = 0; c < v.n; c++)
			if (v.deliver_ns[c] < *now)
				__builtin_trap();
		*now += (natbed_time_t)(i % 4) * NATBED_NS_PER_MS;
	}
	link_get_stats(l, &st);
	for (int d = LINK_PASS + 1; d < LINK_DROP_COUNT; d++)
		dropped += st.dropped[d];
	passed = st.delivered - st.duplicated;
	if (st.packets != dropped + passed || st.duplicated > st.delivered)
		__builtin_trap();
}

/* Restores l's checkpoint (through text) into a fresh link of l's
 * identity whose clock is `shift` ahead; both then decide alike. */
static void link_fuzz_checkpoint(struct link *l, natbed_time_t now, const uint64_t *decided)
{
	const natbed_time_t shift = 1000 * NATBED_NS_PER_S;
	json_t *ck = link_checkpoint(l, now), *back = NULL;
	char err[LINK_ERR_MAX], *text = ck ? json_dumps(ck, JSON_COMPACT) : NULL;
	struct link_cfg cfg = *link_config(l);
	struct link *twin, *fresh = NULL;

	link_cfg_default(&cfg);
	memcpy(cfg.name, link_config(l)->name, sizeof(cfg.name));
	cfg.seed = link_config(l)->seed;
	cfg.key = link_config(l)->key;
	cfg.dir = link_config(l)->dir;
	twin = link_new(&cfg, err, sizeof(err));
	if (text)
		back = json_loads(text, 0, NULL);
	if (twin && back &&
	    !(fresh = link_restore_prepare(twin, back, now + shift, err, sizeof(err))))
		__builtin_trap(); /* its own checkpoint must fit */
	if (fresh) {
		link_adopt(twin, fresh);
		for (unsigned i = 0; i < LINK_FUZZ_PACKETS; i++) {
			struct link_pkt p = {.flow = i % 3,
					     .seq = decided[i % 3] + i / 3,
					     .len = 60 + (i * 331) % 1455,
					     .proto = 17};
			struct link_verdict a = link_decide(l, &p, now), b;

			b = link_decide(twin, &p, now + shift);
			if (a.drop != b.drop || a.n != b.n)
				__builtin_trap();
			for (unsigned c = 0; c < a.n; c++)
				if (a.deliver_ns[c] + shift != b.deliver_ns[c] ||
				    a.corrupt[c] != b.corrupt[c])
					__builtin_trap();
			now += (natbed_time_t)(i % 3) * NATBED_NS_PER_MS;
		}
	}
	link_free(twin);
	json_decref(back);
	json_decref(ck);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char key[LINK_FUZZ_PAIRS][LINK_FUZZ_STR_MAX],
	    value[LINK_FUZZ_PAIRS][LINK_FUZZ_STR_MAX];
	char err[LINK_ERR_MAX];
	uint64_t decided[3] = {0};
	natbed_time_t now = NATBED_NS_PER_S;
	struct link_cfg cfg, before;
	size_t pairs = 0;
	struct link *l;

	log_init("fuzz_link", LOG_LVL_ERROR);
	link_cfg_default(&cfg);
	snprintf(cfg.name, sizeof(cfg.name), "fuzz");
	cfg.seed = size;
	while (pairs < LINK_FUZZ_PAIRS &&
	       link_fuzz_str(&data, &size, key[pairs], sizeof(key[pairs])) &&
	       link_fuzz_str(&data, &size, value[pairs], sizeof(value[pairs]))) {
		before = cfg;
		err[0] = '\0';
		if (link_cfg_set(&cfg, key[pairs], value[pairs], err, sizeof(err)) < 0 &&
		    (err[0] == '\0' || memcmp(&before, &cfg, sizeof(cfg)) != 0))
			__builtin_trap();
		pairs++;
	}
	err[0] = '\0';
	l = link_new(&cfg, err, sizeof(err));
	if (!l) {
		if (err[0] == '\0')
			__builtin_trap();
		return 0;
	}
	link_fuzz_check(l, &now, decided);
	for (size_t i = 0; i < pairs; i++) {
		err[0] = '\0';
		if (link_set(l, key[i], value[i], err, sizeof(err)) < 0 && err[0] == '\0')
			__builtin_trap();
	}
	link_set_up(l, !(pairs & 1));
	link_fuzz_check(l, &now, decided);
	link_fuzz_checkpoint(l, now, decided);
	link_free(l);
	return 0;
}
