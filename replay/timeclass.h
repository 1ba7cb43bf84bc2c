/* Behaviour classes from the time model: the share of thread time each resource
 * took, not counting the time threads waited on each other, and one sentence that
 * says why. */
#ifndef KSIGHT_REPLAY_TIMECLASS_H
#define KSIGHT_REPLAY_TIMECLASS_H

#include <stddef.h>
#include <stdint.h>

#include "replay/behavior.h"
#include "replay/timemodel.h"

/* Sets the class, the intensities and the evidence ratios of b from m (after
 * tm_finish) over wall_ns of wall time; keeps b's syscall rate, and its memory
 * intensity when the RSS growth gave more. Writes the reason into reason[n]. */
void tm_classify(const struct timemodel *m, uint64_t wall_ns, struct behavior *b, char *reason,
		 size_t n);

/* "78% of thread time" style share in whole percent of part in whole. */
static inline unsigned tm_pct(uint64_t part, uint64_t whole)
{
	return whole ? (unsigned)((part * 100.0) / whole + 0.5) : 0;
}

#endif
