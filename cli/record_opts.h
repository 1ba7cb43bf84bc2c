/* `ksight record`'s option values and output file (cli/record_opts.c). */
#ifndef KSIGHT_CLI_RECORD_OPTS_H
#define KSIGHT_CLI_RECORD_OPTS_H

#include <stdint.h>

/* A ring buffer size: 1..4G with K/M/G, rounded up to a power of two (at least
 * a page). Returns 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);
/* A duration with a unit, or a bare number of seconds ("2.5"); not 0. */
int parse_seconds(const char *arg, uint64_t *ns);
/* A --keep: as parse_seconds, and minutes (10m) or hours (1h). Returns 0 or
 * -EINVAL. */
int parse_keep(const char *s, uint64_t *ns);
/* A --max-size: bytes with K/M/G/T (powers of 1024), 1M to 4T. Returns 0 or
 * -EINVAL. */
int parse_max_size(const char *s, uint64_t *out);

/* Holds an exclusive flock on the trace while it is recorded, so that a second
 * `record -o` of the same name refuses instead of moving it away. Returns the fd
 * (kept open) or -1. */
int lock_trace(const char *path);
/* Checks -o before anything is touched, then moves an existing trace to FILE.old;
 * says why on stderr and returns -1 when it cannot. Returns 0 or -1. */
int make_room(const char *path);

#endif
