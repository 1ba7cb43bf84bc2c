/* Duration parsing with integer arithmetic (so "2.5s" is exactly 2500000000 ns)
 * and the formatting the text reports share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/units.h"

int ks_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
		unsigned frac_digits; /* decimals that still fit in whole ns */
	} units[] = {
		{ "ns", 1, 0 },
		{ "us", 1000, 3 },
		{ "ms", 1000000, 6 },
		{ "s", 1000000000, 9 },
	};
	uint64_t whole = 0, frac = 0, frac_scale = 1, mult = 0;
	unsigned nfrac = 0, ndigits = 0, max_frac = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9') {
		if (whole > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p++ - '0');
		ndigits++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (nfrac < 9) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_scale *= 10;
				nfrac++;
			}
			p++;
			ndigits++;
		}
	}
	if (!ndigits)
		return -EINVAL;
	if (!*p) {
		if (whole || frac)
			return -EINVAL; /* a unit is required: 10 what? */
		*ns = 0;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(p, units[i].suffix)) {
			mult = units[i].mult;
			max_frac = units[i].frac_digits;
		}
	}
	if (!mult)
		return -EINVAL;
	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	/* Drop decimals finer than a nanosecond. */
	while (nfrac > max_frac) {
		frac /= 10;
		frac_scale /= 10;
		nfrac--;
	}
	frac = frac * mult / frac_scale;
	if (whole * mult > UINT64_MAX - frac)
		return -ERANGE;
	*ns = whole * mult + frac;
	return 0;
}

int ks_parse_range(const char *s, uint64_t *from, uint64_t *to)
{
	const char *comma = strchr(s, ',');
	char left[64];
	size_t n;
	int err;

	if (!comma)
		return -EINVAL;
	n = (size_t)(comma - s);
	if (n >= sizeof(left))
		return -EINVAL;
	memcpy(left, s, n);
	left[n] = 0;
	*from = 0;
	*to = UINT64_MAX;
	if (n && (err = ks_parse_duration(left, from)))
		return err;
	if (comma[1] && (err = ks_parse_duration(comma + 1, to)))
		return err;
	if (*from >= *to)
		return -EINVAL;
	return 0;
}

/* Three significant digits in the unit that keeps the number below 1000. */
static void fmt3(char *buf, size_t len, double v, const char *unit)
{
	snprintf(buf, len, v < 10 ? "%.2f%s" : v < 100 ? "%.1f%s" : "%.0f%s", v, unit);
}

const char *ks_fmt_dur(char buf[KS_DUR_BUF], uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, KS_DUR_BUF, "%lluns", (unsigned long long)ns);
	else if (ns < 999500)
		fmt3(buf, KS_DUR_BUF, (double)ns / 1e3, "us");
	else if (ns < 999500000)
		fmt3(buf, KS_DUR_BUF, (double)ns / 1e6, "ms");
	else
		snprintf(buf, KS_DUR_BUF, "%.3fs", (double)ns / 1e9);
	return buf;
}

const char *ks_fmt_utc(char buf[KS_TIME_BUF], int64_t epoch_ns)
{
	time_t secs = (time_t)(epoch_ns >= 0 ? epoch_ns / 1000000000 : (epoch_ns + 1) / 1000000000 - 1);
	struct tm tm;

	if (!gmtime_r(&secs, &tm) || !strftime(buf, KS_TIME_BUF, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, KS_TIME_BUF, "?");
	return buf;
}

int ks_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end)
		return -EINVAL;
	*v = x;
	return 0;
}

int ks_parse_s64(const char *s, int64_t *v)
{
	char *end;
	long long x;

	if (!s || !*s || !((*s >= '0' && *s <= '9') || *s == '-'))
		return -EINVAL;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end || end == s)
		return -EINVAL;
	*v = x;
	return 0;
}
