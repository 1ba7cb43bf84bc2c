/* Option values of `ksight record` (cli/record_opts.c). */
#ifndef KSIGHT_CLI_RECORD_OPTS_H
#define KSIGHT_CLI_RECORD_OPTS_H

#include <stdint.h>

/* A ring buffer size: 1..4G with K/M/G, rounded up to a power of two (at least
 * a page). Returns 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);
/* A duration with a unit, or a bare number of seconds ("2.5"); not 0. */
int parse_seconds(const char *arg, uint64_t *ns);
/* A --max-size: bytes with K/M/G/T (powers of 1024), 1M to 4T. Returns 0 or
 * -EINVAL. */
int parse_max_size(const char *s, uint64_t *out);

#endif
