/* natbed units: strict parsers for the values topologies and the control
 * socket take. Each returns 0 and fills *out, or -1 and leaves it alone. */
#ifndef NATBED_UNITS_H
#define NATBED_UNITS_H

#include <stdint.h>

#include "natbed/clock.h"

/* "10ms", "2s", "500us", "1.5ms": us, ms or s, decimals down to the ns. */
int units_parse_duration(const char *s, natbed_time_t *out_ns);
/* "1%", "0.5%": 0% to 100% with the sign, to a millionth of a percent;
 * *out_fraction is 0..1. */
int units_parse_percent(const char *s, double *out_fraction);
/* "10mbit", "1gbit", "64kbit", "1500bit": bits per second. */
int units_parse_rate(const char *s, uint64_t *out_bps);
/* Reads decimal digits at p into *v (at most limit) and counts them in
 * *ndigits. Returns the first byte after them, or NULL when there is no
 * digit or the value passes limit: the building block of the others. */
const char *units_scan_digits(const char *p, int64_t limit, int64_t *v, unsigned *ndigits);

/* A whole decimal number 0..max ("0", "250"): no sign, no space. */
int units_parse_count(const char *s, int64_t max, int64_t *out);

/* "LO-HI" with 1 <= LO <= HI <= 65535. */
int units_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi);

#endif
