/* NAT classes and candidates in checkpoints (ckval.h). */
#include "ckval.h"

#include <string.h>

json_t *ckval_nat(const struct natinfo *ni)
{
	return json_pack("[iiiiii]", (int)ni->map, (int)ni->filter, (int)ni->ports, ni->stride,
			 ni->hairpin, ni->pcp);
}

json_t *ckval_cand(const struct trav_cand *c, struct ckw *w)
{
	return json_pack("{s:s,s:o,s:o,s:o,s:o}", "name", c->name, "host",
			 dg_ep_ckpt_save(&c->host, w), "srflx", dg_ep_ckpt_save(&c->srflx, w),
			 "relay", dg_ep_ckpt_save(&c->relay, w), "nat", ckval_nat(&c->nat));
}

void ckval_get_nat(struct ckget *g, const char *key, struct natinfo *out)
{
	static const json_int_t lo[6] = {0, 0, 0, INT32_MIN, INT32_MIN, INT32_MIN};
	static const json_int_t hi[6] = {NI_MAP_APDM, NI_FILTER_APDF, NI_PORTS_RANDOM,
					 INT32_MAX,   INT32_MAX,      INT32_MAX};
	const json_t *j = ckget_get(g, key);
	json_int_t x[6];

	memset(out, 0, sizeof(*out));
	if (!j)
		return;
	for (size_t i = 0; i < 6; i++)
		if (!json_is_array(j) || json_array_size(j) != 6 ||
		    jsonck_int(json_array_get(j, i), lo[i], hi[i], &x[i]) < 0) {
			ckget_fail(g, key, "not a NAT [map, filter, ports, stride, hairpin, pcp]");
			return;
		}
	out->map = (enum ni_map)x[0];
	out->filter = (enum ni_filter)x[1];
	out->ports = (enum ni_ports)x[2];
	out->stride = (int)x[3];
	out->hairpin = (int)x[4];
	out->pcp = (int)x[5];
}

void ckval_get_cand(struct ckget *g, const char *key, struct trav_cand *out)
{
	struct ckget c = {g->r, g->mod, ckget_get(g, key), false};

	memset(out, 0, sizeof(*out));
	if (!c.o)
		return;
	ckget_str(&c, "name", out->name, sizeof(out->name));
	ckget_ep(&c, "host", &out->host);
	ckget_ep(&c, "srflx", &out->srflx);
	ckget_ep(&c, "relay", &out->relay);
	ckval_get_nat(&c, "nat", &out->nat);
	g->bad |= c.bad;
}
