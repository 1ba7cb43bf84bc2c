/* Replaying the fd tables (replay/fdtable.h) from a trace: the fds held at
 * start, fork/exec/exit, and the effect of every syscall whose arguments were
 * recorded. fdreplay_syscall names the object each call acts on. */
#ifndef KSIGHT_REPLAY_FDREPLAY_H
#define KSIGHT_REPLAY_FDREPLAY_H

#include <stdint.h>

#include "format/event.h"
#include "replay/argindex.h"
#include "replay/fdtable.h"

/* What the fd tables need of a process event (not its argv). */
struct fdreplay_proc {
	uint64_t ts;
	uint32_t what, pid, tid, ppid;
};

struct fdreplay {
	struct fdtable fdt;
	const struct argindex *ix;
	struct fdreplay_proc *pe; /* process events, by time */
	size_t npe, cappe, next; /* next: the first not applied */
	uint64_t nsockets, npipes; /* objects that are never shared by name */
};

/* Prepares r over the arguments in ix (kept, not copied) and installs the fds
 * held at start. Returns 0 or -ENOMEM. */
int fdreplay_init(struct fdreplay *r, const struct argindex *ix);
/* Queues a process event (fork, exec, exit); call before the syscalls. */
int fdreplay_add_proc(struct fdreplay *r, const struct ks_proc *p);
/* Orders the queued process events; call once they are all added. */
void fdreplay_sort(struct fdreplay *r);
/* Applies the process events up to the end of row, then row itself. *obj: the
 * object the call acts on (an fd's, or a path's), 0 when none or unknown.
 * Returns 0 or -ENOMEM. */
int fdreplay_syscall(struct fdreplay *r, const struct ks_syscall *row, uint32_t *obj);
/* Applies the remaining process events. */
int fdreplay_flush(struct fdreplay *r);
void fdreplay_free(struct fdreplay *r);

/* Writes path resolved against base ("" or NULL: none) into out (size n),
 * with "." and ".." taken out when the result is absolute. Returns its length. */
size_t fdreplay_join(const char *base, const char *path, char *out, size_t n);

#endif
