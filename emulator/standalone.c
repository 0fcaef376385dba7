#include "standalone.h"

#include <stdio.h>
#include <string.h>

int standalone_topo(const struct standalone_opts *o, struct topo **out, char *err, size_t errlen)
{
	char text[1024], lerr[TOPO_ERR_MAX];
	int n;

	if (!o->inside || !o->outside || !o->public_ip || !o->inside_net) {
		snprintf(err, errlen,
			 "standalone mode needs --inside IF, --outside IF, --public IP and "
			 "--inside-net CIDR");
		return -1;
	}
	if (strcmp(o->inside, o->outside) == 0) {
		snprintf(err, errlen, "--inside and --outside name the same interface");
		return -1;
	}
	/* Values go in quoted so a stray character is a YAML error, not a key. */
	n = snprintf(text, sizeof(text),
		     "name: standalone\n"
		     "seed: %llu\n"
		     "nats:\n"
		     "  nat:\n"
		     "    preset: \"%s\"\n"
		     "    public: \"%s\"\n"
		     "    inside: \"%s\"\n"
		     "hosts:\n"
		     "  \"%s\": { nat: nat }\n"
		     "  \"%s\": {}\n",
		     (unsigned long long)o->seed, o->preset ? o->preset : "port-restricted",
		     o->public_ip, o->inside_net, o->inside, o->outside);
	if (n < 0 || (size_t)n >= sizeof(text) || strpbrk(o->inside, "\"\n") ||
	    strpbrk(o->outside, "\"\n")) {
		snprintf(err, errlen, "interface names too long or malformed");
		return -1;
	}
	/* The prefix "x" stands for none: only interface name length matters. */
	if (topo_load_string(text, (size_t)n, "standalone options", "x", out, lerr, sizeof(lerr)) <
	    0) {
		/* "standalone options:LINE: key: problem": name the option instead */
		const char *key = strchr(lerr, ':');

		key = key ? strchr(key + 1, ':') : NULL;
		snprintf(err, errlen, "bad standalone options:%s", key ? key + 1 : lerr);
		return -1;
	}
	return 0;
}
