/* libFuzzer harness for the topology loader (lib/topo.c, topo_nat.c, topo_fw.c): any bytes as a
 * YAML file. A load either succeeds with a topology or fails with an error
 * that names the file first (STYLE.md habit 3: "file:line: key: what"). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "natbed/topo.h"

#define FUZZ_TOPO_NAME "fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prefix[] = FUZZ_TOPO_NAME ":";
	char err[TOPO_ERR_MAX];
	struct topo *t = NULL;
	int rc;

	/* not NUL-filled, so an unterminated error shows */
	memset(err, 'x', sizeof(err));
	rc =
	    topo_load_string((const char *)data, size, FUZZ_TOPO_NAME, "nb-", &t, err, sizeof(err));
	if (rc == 0) {
		if (!t || t->n_hosts == 0)
			__builtin_trap();
		/* every name the loader accepted finds itself again */
		for (size_t i = 0; i < t->n_hosts; i++)
			if (topo_host_find(t, t->hosts[i].name) != (int)i)
				__builtin_trap();
		for (size_t i = 0; i < t->n_nats; i++)
			if (topo_nat_find(t, t->nats[i].name) != (int)i)
				__builtin_trap();
	} else if (rc != -1 || t || strncmp(err, prefix, sizeof(prefix) - 1) != 0 ||
		   memchr(err, '\0', sizeof(err)) == NULL) {
		__builtin_trap();
	}
	topo_free(t);
	return 0;
}
