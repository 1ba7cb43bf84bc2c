/* A flame graph of folded stacks as one self-contained interactive SVG (inline
 * script and style, nothing loaded from outside): tooltips with counts and
 * percentages, click to zoom, search. */
#ifndef KSIGHT_REPLAY_FLAME_H
#define KSIGHT_REPLAY_FLAME_H

#include <stdio.h>

#include "replay/profile.h"

struct flame_opts {
	const char *title;
	const char *unit;   /* "samples", "us" */
	double unit_scale;  /* a line's value / unit_scale is shown */
	const char *inline_id; /* non-NULL: an <svg> for inside an HTML page, with this
				* id: no XML prolog, no script (labels written
				* out, tooltips from <title>), style scoped to it */
};

/* Writes the graph of n folded lines to f. Returns 0, -ENOMEM, -EIO. */
int flame_write(FILE *f, const struct prof_line *lines, size_t n, const struct flame_opts *o);

#endif
