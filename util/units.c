/* util: duration and time parsing with integer arithmetic (so "2.5s" is exactly
 * 2500000000 ns), and the formatting the text reports share. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/units.h"

#define NS_PER_SEC 1000000000ull

/* A decimal number at *pp: digits, then optionally '.' and more digits.
 * *whole: the integer part; *frac9: the first nine decimals as billionths
 * (finer ones are dropped); *nwhole, *nfrac: how many digits each part had.
 * Advances *pp past the number. Returns 0 or -ERANGE (integer part over
 * UINT64_MAX). */
static int parse_decimal(const char **pp, uint64_t *whole, uint64_t *frac9,
			 unsigned *nwhole, unsigned *nfrac)
{
	const char *p = *pp;
	uint64_t w = 0, f = 0;
	unsigned nw = 0, nf = 0;

	for (; *p >= '0' && *p <= '9'; p++, nw++) {
		if (w > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		w = w * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, nf++)
			if (nf < 9)
				f = f * 10 + (uint64_t)(*p - '0');
	}
	for (unsigned i = nf; i < 9; i++)
		f *= 10;
	*whole = w;
	*frac9 = f;
	*nwhole = nw;
	*nfrac = nf;
	*pp = p;
	return 0;
}

int ks_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{ "ns", 1 },
		{ "us", 1000 },
		{ "ms", 1000000 },
		{ "s", NS_PER_SEC },
	};
	uint64_t whole, frac9, mult = 0, frac;
	unsigned nwhole, nfrac;
	const char *p = s;
	int err;

	if ((err = parse_decimal(&p, &whole, &frac9, &nwhole, &nfrac)))
		return err;
	if (!nwhole && !nfrac)
		return -EINVAL; /* "nan", "inf", "-1s", "" */
	if (!*p) {
		if (whole || frac9)
			return -EINVAL; /* a unit is required: 10 what? */
		*ns = 0;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(p, units[i].suffix))
			mult = units[i].mult;
	if (!mult)
		return -EINVAL;
	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	/* decimals finer than a nanosecond are dropped (frac9 * mult < 10^18) */
	frac = frac9 * mult / NS_PER_SEC;
	if (whole * mult > UINT64_MAX - frac)
		return -ERANGE;
	*ns = whole * mult + frac;
	return 0;
}

/* n decimal digits at p exactly, as a number; -1 when one is not a digit. */
static int fixed_digits(const char *p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* "YYYY-MM-DD(T| )HH:MM:SS[.frac][Z|+HH:MM|-HH:MM]"; no zone means UTC. */
static int parse_rfc3339(const char *s, int64_t *epoch_ns)
{
	int y = fixed_digits(s, 4), mo = fixed_digits(s + 5, 2), d, h, mi, sec, off = 0;
	uint64_t whole, frac9;
	unsigned nwhole, nfrac;
	const char *p;
	int64_t secs;

	if (y < 0 || s[4] != '-' || mo < 0 || s[7] != '-' || (d = fixed_digits(s + 8, 2)) < 0 ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    (h = fixed_digits(s + 11, 2)) < 0 || s[13] != ':' ||
	    (mi = fixed_digits(s + 14, 2)) < 0 || s[16] != ':' ||
	    (sec = fixed_digits(s + 17, 2)) < 0)
		return -EINVAL;
	/* only dates that exist; second 60 is a leap second (the next minute's first) */
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		return -EINVAL;
	p = s + 19;
	frac9 = 0;
	if (*p == '.') {
		parse_decimal(&p, &whole, &frac9, &nwhole, &nfrac);
		if (!nfrac)
			return -EINVAL;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh = fixed_digits(p + 1, 2), om;

		if (oh < 0 || p[3] != ':' || (om = fixed_digits(p + 4, 2)) < 0 || oh > 23 || om > 59)
			return -EINVAL;
		off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
		p += 6;
	}
	if (*p)
		return -EINVAL;
	secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
	/* int64 ns reach the years 1677 to 2262 */
	if (secs < INT64_MIN / (int64_t)NS_PER_SEC + 1 || secs > INT64_MAX / (int64_t)NS_PER_SEC - 1)
		return -ERANGE;
	*epoch_ns = secs * (int64_t)NS_PER_SEC + (int64_t)frac9;
	return 0;
}

int ks_parse_time(const char *s, int64_t *epoch_ns)
{
	uint64_t whole, frac9;
	unsigned nwhole, nfrac;
	const char *p = s;
	int err;

	if (fixed_digits(s, 4) >= 0 && s[4] == '-')
		return parse_rfc3339(s, epoch_ns);
	/* Unix seconds: digits, and at least one decimal after a '.' */
	if ((err = parse_decimal(&p, &whole, &frac9, &nwhole, &nfrac)))
		return err;
	if (!nwhole || *p || (!nfrac && p[-1] == '.'))
		return -EINVAL;
	if (whole > (uint64_t)INT64_MAX / NS_PER_SEC - 1)
		return -ERANGE;
	*epoch_ns = (int64_t)(whole * NS_PER_SEC + frac9);
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
