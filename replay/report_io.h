/* The block I/O and network parts of the report: computed with the rest by
 * report_compute (report_io_compute), written by the JSON and text writers. */
#ifndef KSIGHT_REPLAY_REPORT_IO_H
#define KSIGHT_REPLAY_REPORT_IO_H

#include <jansson.h>
#include <stdio.h>

struct report;

/* Reads what the recorder said of the I/O probes and the device names, and
 * finishes the block and network analyses. Returns 0 or -ENOMEM. */
int report_io_compute(struct report *r);
/* Sets "block_io", "network" and "io_buckets" in doc; false on ENOMEM. */
bool report_io_json(const struct report *r, json_t *doc);
/* The BLOCK I/O and NETWORK sections. */
void report_io_text(FILE *f, const struct report *r);

#endif
