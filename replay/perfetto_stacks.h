/* The interning of CPU sample stacks for the Perfetto export: a trace stack id
 * becomes a Perfetto callstack of frames, each with its function name and a
 * mapping per module, every entry sent once per state of the packet sequence. */
#ifndef KSIGHT_REPLAY_PERFETTO_STACKS_H
#define KSIGHT_REPLAY_PERFETTO_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "perfetto_trace.pb-c.h"
#include "replay/symbols.h"

/* Entries held before the caller resets the sequence's state: the tables stay
 * bounded whatever the number of distinct stacks. */
#define PF_STACKS_MAX (1u << 18)

struct pf_stacks;

/* Names frames through sym (which must outlive it). Returns 0, -ENOMEM. */
int pf_stacks_new(struct ks_symtab *sym, struct pf_stacks **out);
void pf_stacks_free(struct pf_stacks *x);

/* The callstack iid of the trace's stack id in *iid; what the sequence has not
 * been sent yet is added to in (which points into x until the next call);
 * *kernel says whether the stack has kernel frames (the sample was taken in the
 * kernel). A stack the table lacks is one "[missing stack]" frame. Returns 0,
 * -ENOMEM. */
int pf_stacks_intern(struct pf_stacks *x, uint64_t stack, Perfetto__Protos__InternedData *in,
		     uint64_t *iid, bool *kernel);

/* Entries sent since the last clear; at PF_STACKS_MAX the caller clears the
 * sequence's incremental state and calls pf_stacks_clear. */
size_t pf_stacks_entries(const struct pf_stacks *x);
/* Forgets what was sent (iids are never reused). */
void pf_stacks_clear(struct pf_stacks *x);

#endif
