/* The traversal method table: one line a method, in the order
 * docs/methods.md lists them. */
#include <string.h>

#include "method.h"
#include "method_checks.h"

static const struct method *const methods[] = {
    &method_direct,   &method_punch,   &method_predict,
    &method_birthday, &method_portmap, &method_relay,
};

size_t method_count(void)
{
	size_t n = 0, i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		n += methods[i] != NULL;
	return n;
}

const struct method *method_at(size_t i)
{
	size_t k;

	for (k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
		if (methods[k] && i-- == 0)
			return methods[k];
	return NULL;
}

const struct method *method_find(const char *name)
{
	const struct method *m;
	size_t i;

	for (i = 0; (m = method_at(i)) != NULL; i++)
		if (strcmp(m->spec.name, name) == 0)
			return m;
	return NULL;
}
