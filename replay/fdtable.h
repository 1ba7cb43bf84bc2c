/* The fd table of every process, replayed from the recorded syscall arguments:
 * opens, dups, closes, close-on-exec, inheritance at fork. Each fd leads to an
 * object (a file path, a socket, a pipe, or another kind of fd) that the
 * analyses attribute their syscalls to: fdt_lookup answers "what is fd N of
 * process P now". Memory grows with processes, open fds and distinct objects. */
#ifndef KSIGHT_REPLAY_FDTABLE_H
#define KSIGHT_REPLAY_FDTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hmap.h"

enum fdt_kind {
	FDT_UNKNOWN = 0, /* opened before anything the trace knows */
	FDT_FILE,        /* a path: regular file, directory, device */
	FDT_SOCKET,
	FDT_PIPE,        /* a pipe or FIFO */
	FDT_OTHER,       /* eventfd, epoll, timerfd, memfd, ... */
};

#define FDT_FD_MAX (1u << 20) /* fds at or past this are not followed */

struct fdt_object {
	uint32_t kind;    /* enum fdt_kind */
	uint32_t domain;  /* sockets: AF_* */
	uint32_t type;    /* sockets: SOCK_* */
	uint32_t name_len;
	char *name;       /* path, "pipe:[N]", "socket:[N]", or endpoints */
	char *local, *remote; /* sockets: "addr:port" when known, else NULL */
};

struct fdt_proc {
	uint32_t pid;
	uint32_t *fd;     /* object id << 1 | close-on-exec; 0: not open */
	size_t nfd;
	uint32_t cwd;     /* object id of the working directory, 0: unknown */
};

struct fdtable {
	struct ks_hmap procs;      /* pid -> index in proc */
	struct fdt_proc *proc;
	size_t nproc, capproc;
	struct ks_hmap names;      /* hash(kind, name) -> object id (multimap) */
	struct fdt_object *obj;    /* obj[0]: the unknown object */
	size_t nobj, capobj;
	uint32_t cache_pid, cache_idx; /* the last process looked up */
};

/* Prepares an empty table. Returns 0 or -ENOMEM. */
int fdt_init(struct fdtable *t);
void fdt_free(struct fdtable *t);

/* Returns the id of the object of kind named name[0..len) (interned: the same
 * kind and name give the same id), or 0 on ENOMEM (the unknown object). */
uint32_t fdt_object(struct fdtable *t, enum fdt_kind kind, const char *name, size_t len);
/* Returns object id (0 and unknown ids: the unknown object). */
const struct fdt_object *fdt_get(const struct fdtable *t, uint32_t id);

/* Process events. Returns 0 or -ENOMEM. */
int fdt_fork(struct fdtable *t, uint32_t parent, uint32_t child);
int fdt_exec(struct fdtable *t, uint32_t pid);  /* closes the close-on-exec fds */
void fdt_exit(struct fdtable *t, uint32_t pid);

/* fd operations of process pid. Each returns 0, or -ENOMEM; an fd out of range
 * is ignored. */
int fdt_install(struct fdtable *t, uint32_t pid, int64_t fd, uint32_t obj, bool cloexec);
void fdt_close(struct fdtable *t, uint32_t pid, int64_t fd);
/* newfd becomes a copy of oldfd (dup, dup2, dup3, F_DUPFD): the object, with
 * cloexec as given (dups clear it unless asked). */
int fdt_dup(struct fdtable *t, uint32_t pid, int64_t oldfd, int64_t newfd, bool cloexec);
/* close_range: closes lo..hi, or with cloexec_only marks them close-on-exec. */
void fdt_close_range(struct fdtable *t, uint32_t pid, uint64_t lo, uint64_t hi,
		     bool cloexec_only);
void fdt_set_cloexec(struct fdtable *t, uint32_t pid, int64_t fd, bool on);

void fdt_set_cwd(struct fdtable *t, uint32_t pid, uint32_t obj);
uint32_t fdt_cwd(struct fdtable *t, uint32_t pid);

/* Returns the object id of fd in process pid: 0 when the fd is not open or the
 * trace does not know where it came from. */
uint32_t fdt_lookup(struct fdtable *t, uint32_t pid, int64_t fd);
/* Returns whether fd of pid is open (known or not) and close-on-exec. */
bool fdt_cloexec(struct fdtable *t, uint32_t pid, int64_t fd);

#endif
