/* natbed strict unit parsers: the one grammar for durations, percentages,
 * rates and port ranges, shared by the topology loader, the link model and
 * the control socket. A value without its unit, with a sign, an exponent,
 * a space or more decimals than stay exact is refused. */
#include "natbed/units.h"

#include <stdbool.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct unit {
	const char *name;
	int64_t mult;	   /* value of 1 UNIT in the result's unit */
	unsigned frac_max; /* decimals that stay exact: 10^frac_max == mult */
};

static const struct unit duration_units[] = {
    {"us", NATBED_NS_PER_US, 3},
    {"ms", NATBED_NS_PER_MS, 6},
    {"s", NATBED_NS_PER_S, 9},
};

static const struct unit rate_units[] = {
    {"bit", 1, 0},
    {"kbit", 1000, 3},
    {"mbit", 1000000, 6},
    {"gbit", 1000000000, 9},
};

/* Millionths of a percent, so 0.000001% stays exact. */
#define PERCENT_SCALE 1000000
static const struct unit percent_units[] = {
    {"%", PERCENT_SCALE, 6},
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

const char *units_scan_digits(const char *p, int64_t limit, int64_t *v, unsigned *ndigits)
{
	*v = 0;
	*ndigits = 0;
	for (; is_digit(*p); p++, (*ndigits)++) {
		if (*v > (limit - (*p - '0')) / 10)
			return NULL;
		*v = *v * 10 + (*p - '0');
	}
	return *ndigits ? p : NULL;
}

int units_parse_count(const char *s, int64_t max, int64_t *out)
{
	const char *p;
	unsigned nd;
	int64_t v;

	if (!s || !(p = units_scan_digits(s, max, &v, &nd)) || *p)
		return -1;
	*out = v;
	return 0;
}

/* Parses "DIGITS[.DIGITS]UNIT", UNIT one of units exactly (no sign, no
 * exponent, no space), into an integer count of the result's unit.
 * Returns 0 or -1 (malformed, unknown unit, too many decimals, overflow). */
static int parse_scaled(const char *s, const struct unit *units, size_t n_units, int64_t *out)
{
	int64_t ip, fp = 0, scale;
	unsigned nd, fd = 0, k;
	const char *p;
	size_t i;

	if (!s || !(p = units_scan_digits(s, INT64_MAX, &ip, &nd)))
		return -1;
	if (*p == '.' && !(p = units_scan_digits(p + 1, INT64_MAX, &fp, &fd)))
		return -1;
	for (i = 0; i < n_units; i++)
		if (!strcmp(p, units[i].name))
			break;
	if (i == n_units || fd > units[i].frac_max)
		return -1;
	for (scale = units[i].mult, k = 0; k < fd; k++)
		scale /= 10;
	fp *= scale;
	if (ip > (INT64_MAX - fp) / units[i].mult)
		return -1;
	*out = ip * units[i].mult + fp;
	return 0;
}

int units_parse_duration(const char *s, natbed_time_t *out_ns)
{
	int64_t v;

	if (parse_scaled(s, duration_units, ARRAY_SIZE(duration_units), &v) < 0)
		return -1;
	*out_ns = v;
	return 0;
}

int units_parse_percent(const char *s, double *out_fraction)
{
	int64_t v;

	if (parse_scaled(s, percent_units, ARRAY_SIZE(percent_units), &v) < 0)
		return -1;
	if (v > 100 * (int64_t)PERCENT_SCALE)
		return -1;
	*out_fraction = (double)v / (100.0 * PERCENT_SCALE);
	return 0;
}

int units_parse_rate(const char *s, uint64_t *out_bps)
{
	int64_t v;

	if (parse_scaled(s, rate_units, ARRAY_SIZE(rate_units), &v) < 0)
		return -1;
	*out_bps = (uint64_t)v;
	return 0;
}

int units_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
	int64_t a, b;
	unsigned nd;
	const char *p;

	if (!s || !(p = units_scan_digits(s, 65535, &a, &nd)) || *p != '-')
		return -1;
	if (!(p = units_scan_digits(p + 1, 65535, &b, &nd)) || *p)
		return -1;
	if (a < 1 || a > b)
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}
