/* natbed-emu flow numbering: checkpoints (flowtab_ctl.h). flowtab.c
 * numbers; this file serialises. */
#include "flowtab_ctl.h"

#include <arpa/inet.h>
#include <stdio.h>

#include "natbed/jsonck.h"

static void flowtab_ck_one(void *ctx, const struct flow_tuple *k, uint64_t next)
{
	json_array_append_new(ctx, json_pack("[i,o,i,o,i,I]", k->proto, jsonck_ipv4(k->src),
					     ntohs(k->sport), jsonck_ipv4(k->dst), ntohs(k->dport),
					     (json_int_t)next));
}

json_t *flowtab_checkpoint(const struct flowtab *t)
{
	json_t *flows = json_array();
	struct flowtab_stats st;

	flowtab_get_stats(t, &st);
	flowtab_each(t, flowtab_ck_one, flows);
	return json_pack("{s:I,s:I,s:o}", "max", (json_int_t)st.max, "recycled",
			 (json_int_t)st.recycled, "flows", flows);
}

/* One flow [proto, src, sport, dst, dport, next]. */
static int flowtab_ck_read(struct flowtab *t, const json_t *e)
{
	struct flow_tuple k = {0};
	json_int_t proto, sport, dport, next;

	if (json_array_size(e) != 6 || jsonck_int(json_array_get(e, 0), 0, 255, &proto) < 0 ||
	    jsonck_ipv4_read(json_array_get(e, 1), &k.src) < 0 ||
	    jsonck_int(json_array_get(e, 2), 0, 65535, &sport) < 0 ||
	    jsonck_ipv4_read(json_array_get(e, 3), &k.dst) < 0 ||
	    jsonck_int(json_array_get(e, 4), 0, 65535, &dport) < 0 ||
	    jsonck_int(json_array_get(e, 5), 0, INT64_MAX, &next) < 0 ||
	    next < 1) /* a flow is remembered when its first packet is numbered */
		return -1;
	k.proto = (uint8_t)proto;
	k.sport = htons((uint16_t)sport);
	k.dport = htons((uint16_t)dport);
	return flowtab_put(t, &k, (uint64_t)next);
}

struct flowtab *flowtab_restore_prepare(const struct flowtab *t, const json_t *j, char *err,
					size_t errlen)
{
	const json_t *flows = json_object_get(j, "flows"), *e;
	json_int_t recycled = json_integer_value(json_object_get(j, "recycled"));
	struct flowtab_stats st;
	struct flowtab *fresh;
	size_t i;

	flowtab_get_stats(t, &st);
	if (!json_is_array(flows) || !json_is_integer(json_object_get(j, "recycled")) ||
	    recycled < 0) {
		snprintf(err, errlen, "not a flow table's checkpoint (flows, recycled)");
		return NULL;
	}
	if (json_array_size(flows) > st.max) {
		snprintf(err, errlen, "%zu flows, more than the %zu this natbed-emu remembers",
			 json_array_size(flows), st.max);
		return NULL;
	}
	fresh = flowtab_new(st.max);
	if (!fresh) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	json_array_foreach(flows, i, e)
	{
		if (flowtab_ck_read(fresh, e) < 0) {
			snprintf(err, errlen,
				 "flows[%zu]: not [proto, src, sport, dst, dport, next] "
				 "or a flow listed twice",
				 i);
			flowtab_free(fresh);
			return NULL;
		}
	}
	flowtab_set_recycled(fresh, (uint64_t)recycled);
	return fresh;
}
