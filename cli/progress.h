/* cli: the live progress line of `ksight record` on a terminal: elapsed time,
 * events and events per second, trace size and lost events, redrawn in place at
 * least once a second and cleared before the summary line. */
#ifndef KSIGHT_CLI_PROGRESS_H
#define KSIGHT_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define PROGRESS_INTERVAL_NS (500ull * 1000 * 1000)

struct progress {
	bool on;           /* stderr is a terminal and -q was not given */
	const char *path;  /* the trace file, for its size */
	uint64_t start_ns, last_ns;
	uint64_t events, last_events;
	bool drawn;
};

/* Turns the line on when stderr is a terminal and not quiet. */
void progress_init(struct progress *p, bool quiet, const char *path, uint64_t start_ns);

/* Counts n more events (consumer_drain's figure; negative values are ignored). */
static inline void progress_count(struct progress *p, int n)
{
	if (n > 0)
		p->events += (uint64_t)n;
}

/* True when the line is on and due for a redraw at now. */
static inline bool progress_due(const struct progress *p, uint64_t now)
{
	return p->on && now - p->last_ns >= PROGRESS_INTERVAL_NS;
}

/* Redraws the line with lost events so far. */
void progress_draw(struct progress *p, uint64_t now, uint64_t lost);

/* Erases the line (the summary line takes its place). */
void progress_end(struct progress *p);

#endif
