/* A recorded syscall as strace prints it: name(args) = ret, with flag, errno
 * and address names, for `ksight dump`. Buffers the trace does not hold are
 * shown as "..."; numbers past the recorded ones as "?". */
#ifndef KSIGHT_REPLAY_SYSFMT_H
#define KSIGHT_REPLAY_SYSFMT_H

#include <stddef.h>

#include "format/event.h"
#include "replay/argindex.h"

/* Writes "name(args) = ret" for r into buf (size n, NUL-terminated, cut when
 * short); ix may be NULL (no strings). Returns the length it needed. */
size_t sysfmt_call(char *buf, size_t n, const struct ks_syscall *r, const struct argindex *ix);

#endif
