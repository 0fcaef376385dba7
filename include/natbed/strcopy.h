/* natbed strcopy: a string into a fixed buffer, cut to fit.
 *
 * What snprintf(dst, size, "%s", src) does, without the format machinery
 * (a tenth of the time): natbed sim copies names and reasons some 25
 * times a client. */
#ifndef NATBED_STRCOPY_H
#define NATBED_STRCOPY_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src (NULL: the empty string) into dst of size bytes, at most
 * size - 1 of them, always terminated (size 0: nothing written). Returns
 * true when src fit whole. */
static inline bool str_copy(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	if (size == 0)
		return false;
	if (!src)
		src = "";
	/* byte by byte: names and reasons are short, and a memcpy of a length
	 * found at run time made GCC fear reading past a literal */
	for (; n + 1 < size && src[n]; n++)
		dst[n] = src[n];
	dst[n] = '\0';
	return src[n] == '\0';
}

#endif
