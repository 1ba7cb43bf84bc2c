/* Option values of `ksight record`: sizes and durations as the user writes them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/record_opts.h"
#include "util/units.h"

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t p = 4096;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	/* checked before the shift, so no size wraps around to a small one */
	if (*end || !v || *s == '-' || v > (4ull << 30) >> shift)
		return -EINVAL;
	v <<= shift;
	while (p < v)
		p <<= 1;
	*out = p;
	return 0;
}

/* A duration with a unit, or a bare number of seconds ("2.5"); not 0. */
int parse_seconds(const char *arg, uint64_t *ns)
{
	char with_unit[64];

	if (!ks_parse_duration(arg, ns))
		return *ns ? 0 : -EINVAL;
	if (snprintf(with_unit, sizeof(with_unit), "%ss", arg) >= (int)sizeof(with_unit) ||
	    ks_parse_duration(with_unit, ns))
		return -EINVAL;
	return *ns ? 0 : -EINVAL;
}

int parse_max_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B' && (end += 1)))
		end++;
	if (*end || v > (1ull << 42) >> shift || (v << shift) < (1ull << 20))
		return -EINVAL;
	*out = v << shift;
	return 0;
}
