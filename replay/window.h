/* Bounded recordings on replay: what the size and time limits dropped (not
 * lost), the window of time the trace still holds, and the epoch a restore at a
 * given time starts from. */
#ifndef KSIGHT_REPLAY_WINDOW_H
#define KSIGHT_REPLAY_WINDOW_H

#include <stdint.h>

#include "format/epoch.h"
#include "store/store.h"

struct replay_trace;

/* Fills t->whole's retention from the manifest m (NULL: none) and the trace's
 * meta and epoch marks. */
void replay_retention(struct replay_trace *t, const struct ks_manifest *m);

/* The latest epoch of t opened at or before at (CLOCK_MONOTONIC ns) into e.
 * Returns 1, 0 (none: the trace has no epochs, or at is before them), or a
 * negative error with t->err set (a damaged mark). */
int replay_epoch_at(struct replay_trace *t, uint64_t at, struct ks_epoch *e);

#endif
