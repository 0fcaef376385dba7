/* Private to the topology loader (lib/topo.c, topo_nat.c, topo_fw.c): the
 * key tables sections are walked with, a NAT as read, and the helpers the
 * loader's files share. Not installed; callers use natbed/topo.h.
 *
 * Every parser here takes the loader and the key path of the node it reads
 * (for the error), and returns 0 or -1 with the error written by topo_fail().
 */
#ifndef NATBED_TOPO_INT_H
#define NATBED_TOPO_INT_H

#include "natbed/topo.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define KEY_PATH_MAX   160 /* a dotted key path in an error */
#define VALUE_SHOW_MAX 64  /* bytes of a bad value quoted in an error */

/* One load: the document, the error buffer, what has been read (topo.c). */
struct loader;
struct text_kind;

/* Parses value node n (named by path) into dst. Returns 0 or -1 with the
 * error written. */
typedef int (*value_fn)(struct loader *ld, const yaml_node_t *n, const char *path, void *dst);

/* One key of a section. off is where the value goes in the section's
 * object (0 with a parser that takes the whole object); size and bit serve
 * layering (link blocks) and the `set` words. */
struct key_spec {
	const char *key;
	const struct text_kind *text; /* a scalar of this kind, or NULL and: */
	value_fn parse;		      /* the parser of a structured value */
	size_t off;
	size_t size;
	unsigned bit;
};

/* A kind of scalar value: its parser, and what an error says about it. */
struct text_kind {
	int (*parse)(const char *s, void *dst);
	const char *what;
	const char *hint;
};

enum nat_key {
	NK_PRESET,
	NK_MAPPING,
	NK_FILTERING,
	NK_PORTS,
	NK_PORT_RANGE,
	NK_HAIRPIN,
	NK_TIMEOUT,
	NK_STRIDE,
	NK_PARITY,
	NK_POOL,
	NK_REFRESH_INBOUND,
	NK_UNREPLIED,
	NK_INBOUND_RESERVES,
	NK_PORT_BLOCK,
	NK_PORT_BLOCKS,
	NK_PCP,
	NK_PUBLIC,
	NK_INSIDE,
	NK_UPSTREAM,
	NK_LINK,
	NK_FIREWALL,
	NK_GATE,
	NK_COUNT
};

/* A NAT as read, with what resolve() needs beyond struct topo_nat. */
struct nat_in {
	struct topo_nat nat;
	char upstream[TOPO_NAME_MAX];
	int line[NK_COUNT]; /* line of each key given, 0 when absent */
};

/* ---- errors and small helpers (topo.c) ---- */

/* Writes "FILE:LINE: key: problem" unless an error is already written (the
 * first one wins). Always returns -1. */
__attribute__((format(printf, 4, 5))) int topo_fail(struct loader *ld, int line, const char *key,
						    const char *fmt, ...);

static inline int line_of(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

/* The node at index of the document being loaded (libyaml's indices). */
const yaml_node_t *topo_node_at(const struct loader *ld, int index);

/* "a mapping", "a list" or "a scalar": what n is, for an error. */
const char *topo_node_kind(const yaml_node_t *n);

/* YAML 1.1 null: an empty plain scalar, ~ or null. */
bool topo_is_null(const yaml_node_t *n);

/* A block that must be of type (a mapping, a list) and may be left empty:
 * 1 when n is one, 0 when it is null (read as empty), -1 with "expected
 * WHAT, got KIND" written otherwise. */
int topo_block(struct loader *ld, const yaml_node_t *n, const char *path, yaml_node_type_t type,
	       const char *what);

/* The text of scalar n, or NULL with the error written (a mapping or a list
 * where a scalar belongs, no value, an embedded NUL). */
const char *topo_scalar(struct loader *ld, const yaml_node_t *n, const char *path);

/* dst = "parent.key" (or "key" at the top), truncated with "..." when it
 * does not fit: a key path only ever appears in an error. */
void topo_path_join(char *dst, size_t size, const char *parent, const char *key);

/* dst = "parent[k]", truncated like topo_path_join(). */
void topo_path_index(char *dst, size_t size, const char *parent, size_t k);

/* Copies s into dst[size]; -1 when it does not fit. */
int topo_copy_str(char *dst, size_t size, const char *s);

static inline uint32_t ip_h(struct in_addr a)
{
	return ntohl(a.s_addr);
}

static inline struct in_addr ip_n(uint32_t h)
{
	struct in_addr a = {.s_addr = htonl(h)};

	return a;
}

static inline uint32_t prefix_mask(unsigned len)
{
	return len ? ~(uint32_t)0 << (32 - len) : 0;
}

/* Unicast and usable on a segment: not 0/8, 127/8, multicast or reserved. */
static inline bool ip_unicast(struct in_addr a)
{
	uint32_t first = ip_h(a) >> 24;

	return first != 0 && first != 127 && first < 224;
}

/* A word of the file and the enum value it stands for. */
struct name_value {
	const char *name;
	int value;
};

/* Looks s (may be NULL) up among the n words of t: 0 with *out set, or -1. */
int topo_nv_parse(const struct name_value *t, size_t n, const char *s, int *out);

/* The word for value among the n of t, or NULL. */
const char *topo_nv_name(const struct name_value *t, size_t n, int value);

/* ---- the walker and the values files share (topo.c) ---- */

/* Walks mapping n (named by path; a null value reads as an empty mapping)
 * with the key table keys: refuses unknown and duplicate keys, parses each
 * value into obj + off, records each key's line in lines[] (indexed like
 * keys, zeroed by the caller) and ORs each given key's bit into *set (set
 * may be NULL). Returns 0 or -1 with the error written. */
int topo_walk_map(struct loader *ld, const yaml_node_t *n, const char *path,
		  const struct key_spec *keys, size_t n_keys, void *obj, int *lines, unsigned *set);

/* Reads scalar n (named by path) of kind k into dst; an error reads
 * "bad KIND 'VALUE' (HINT)". Returns 0 or -1. */
int topo_text_read(struct loader *ld, const yaml_node_t *n, const char *path, void *dst,
		   const struct text_kind *k);

/* Prefix lengths a topo_prefix_read() caller accepts; bare: a plain address
 * reads as /32. */
struct prefix_rule {
	unsigned min_len, max_len;
	bool bare;
};

/* Reads scalar n as a prefix ("A.B.C.D/LEN", or "A.B.C.D" when bare) whose
 * length pr allows and whose host bits are zero, into *a and *len. Returns
 * its text, or NULL with the error written. */
const char *topo_prefix_read(struct loader *ld, const yaml_node_t *n, const char *path,
			     const struct prefix_rule *pr, struct in_addr *a, unsigned *len);

/* Scalar kinds more than one block uses. */
extern const struct text_kind topo_k_bool;     /* true or false, into a bool */
extern const struct text_kind topo_k_duration; /* into a natbed_time_t, ns */
extern const struct text_kind topo_k_addr;     /* a unicast IPv4 address */
extern const struct text_kind topo_k_nat_ref;  /* a NAT's name, checked in resolve() */
extern const struct text_kind topo_k_percent;  /* 0% to 100%, into a double 0..1 */

/* A link block, into a struct topo_link. */
int topo_v_link(struct loader *ld, const yaml_node_t *n, const char *path, void *dst);

/* ---- NAT blocks (topo_nat.c) ---- */

/* The keys of a NAT block; values go into a struct nat_in. */
extern const struct key_spec topo_nat_keys[NK_COUNT];

/* Fills the behaviour fields not flagged in nat->set from the preset
 * nat->preset names (one the walk accepted), or from the plain defaults
 * when it is "". */
void topo_nat_behaviour_fill(struct topo_nat *nat);

/* ---- the scenario section (topo_scen.c) ---- */

/* The scenario section, into a struct topo_scenario * it allocates. */
int topo_v_scenario(struct loader *ld, const yaml_node_t *n, const char *path, void *dst);
/* Frees a scenario section and its lists; NULL is safe. */
void topo_scenario_free(struct topo_scenario *s);

/* Binds the scenario's host names to t's hosts. 0, or -1 with the error
 * written. */
int topo_scenario_bind(struct loader *ld, struct topo *t);

/* ---- firewall blocks (topo_fw.c) ---- */

/* A firewall block under a NAT or a host, into a struct topo_fw; a null
 * block is an empty one. */
int topo_v_firewall(struct loader *ld, const yaml_node_t *n, const char *path, void *dst);

/* ---- gate blocks (topo_gate.c) ---- */

/* A gate block under a NAT or a host, into the struct topo_gate * at dst,
 * which it allocates (a null block is a gate with every default). */
int topo_v_gate(struct loader *ld, const yaml_node_t *n, const char *path, void *dst);

/* Binds every gate of t to its hosts: default addresses, the hosts its
 * hosts block names (which must be behind it), a key for every host it
 * gates, exemptions' host names. 0, or -1 with the error written. */
int topo_gates_bind(struct loader *ld, struct topo *t);

#endif
