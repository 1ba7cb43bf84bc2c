/* util: durations and times as users type and read them: "2.5s", "10ms", "1.2us",
 * "2025-01-31 12:00:00" (UTC). */
#ifndef KSIGHT_UTIL_UNITS_H
#define KSIGHT_UTIL_UNITS_H

#include <stdint.h>

/* Parses a duration: a decimal number with an ns, us, ms or s suffix ("0" alone is
 * allowed). Exact for up to 9 decimals; finer ones are dropped. Returns 0, or
 * -EINVAL (no unit, garbage, "nan", "inf", a sign) or -ERANGE (over UINT64_MAX ns). */
int ks_parse_duration(const char *s, uint64_t *ns);

/* Parses a point in time: RFC 3339 ("2025-01-31T12:00:00.25Z", "+02:00" and
 * "-05:00" offsets, a space for the T, no zone meaning UTC) or Unix seconds with a
 * fraction ("1738324800.5"). A date that does not exist (February 30th, month 13,
 * hour 24, minute 60) is refused. Returns 0 with *epoch_ns (ns since the epoch,
 * UTC), -EINVAL (not a time) or -ERANGE (outside the years 1677-2262). */
int ks_parse_time(const char *s, int64_t *epoch_ns);

/* Parses "FROM,TO" (each a duration, either may be empty) into [*from, *to);
 * an empty TO gives UINT64_MAX. Returns 0, -EINVAL (no comma, bad duration, or
 * FROM >= TO), -ERANGE. */
int ks_parse_range(const char *s, uint64_t *from, uint64_t *to);

#define KS_DUR_BUF 24
/* Formats ns with an adaptive unit: "850ns", "12.3us", "4.56ms", "1.234s". */
const char *ks_fmt_dur(char buf[KS_DUR_BUF], uint64_t ns);

#define KS_TIME_BUF 32
/* Formats nanoseconds since the epoch as "YYYY-MM-DD HH:MM:SS" in UTC. */
const char *ks_fmt_utc(char buf[KS_TIME_BUF], int64_t epoch_ns);

/* Parses a whole string as a decimal u64 / s64. Returns 0 or -EINVAL/-ERANGE. */
int ks_parse_u64(const char *s, uint64_t *v);
int ks_parse_s64(const char *s, int64_t *v);

#endif
