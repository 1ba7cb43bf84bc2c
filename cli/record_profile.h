/* cli: the CPU profile's part of `ksight record`: starting it beside the probes,
 * and at the end archiving the symbols of its stacks through the offline
 * symbolizer (replay/symbols.h), with the counts, into the trace. */
#ifndef KSIGHT_CLI_RECORD_PROFILE_H
#define KSIGHT_CLI_RECORD_PROFILE_H

#include <stdbool.h>

#include "record/profile.h"

/* On-CPU samples at hz (0: none) and off-CPU stacks, when they can attach; what
 * is missing is said under --debug and in the trace's meta "profile", and the
 * recording goes on without it. ks: the kernel's symbols being read since the
 * start (profile_kallsyms_start), taken in any case; NULL: read from now on.
 * Returns the profile, or NULL when nothing runs. */
struct profile *record_profile_start(unsigned hz, bool offcpu, struct profile_kallsyms *ks,
				     struct probes *p, struct consumer *c);

/* After the command: drains the ring, archives the frames' symbols (archive) and
 * puts the profile's counts into meta. pf may be NULL. */
void record_profile_finish(struct profile *pf, struct consumer *c, bool archive);

#endif
