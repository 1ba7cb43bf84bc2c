/* A recorded syscall as strace prints it: name(args) = ret, with flag, errno
 * and address names, for `ksight dump`. Buffers the trace does not hold are
 * shown as "..."; numbers past the recorded ones as "?". */
#ifndef KSIGHT_REPLAY_SYSFMT_H
#define KSIGHT_REPLAY_SYSFMT_H

#include <stddef.h>
#include <stdint.h>

#include "format/event.h"
#include "replay/argindex.h"

/* Writes "name(args) = ret" for r into buf (size n, NUL-terminated, cut when
 * short); ix may be NULL (no strings). Returns the length it needed. */
size_t sysfmt_call(char *buf, size_t n, const struct ks_syscall *r, const struct argindex *ix);

/* Returns the errno name of a syscall's return value ret (-1..-4095) as strace
 * prints it, kernel-internal codes included ("ERESTARTNOHAND"), or NULL. */
const char *sysfmt_errno_name(int64_t ret);

#endif
