/* natbed: swapping two objects' bytes in place, with no memory to fail:
 * what a restore does to move a checkpoint's state, built aside, into a
 * running engine (nat_adopt, fw_adopt). */
#ifndef NATBED_SWAP_H
#define NATBED_SWAP_H

#include <stddef.h>

static inline void natbed_swap(void *a, void *b, size_t n)
{
	unsigned char *x = a, *y = b, t;
	size_t i;

	for (i = 0; i < n; i++) {
		t = x[i];
		x[i] = y[i];
		y[i] = t;
	}
}

#endif
