/* The argument schema of the syscall kind: for each syscall number of this
 * architecture, what its arguments are, which of them a trace records (the
 * numbers in the arg0..arg2 columns, strings and sockaddrs as sysarg rows) and
 * what the call does to the fd table. The recorder packs it into the probe's
 * spec; replay reads it to name, attribute and print the recorded values. */
#ifndef KSIGHT_SYSARGS_H
#define KSIGHT_SYSARGS_H

#include <stdint.h>

/* What one argument is. The numeric kinds (below KS_A_PATH) fill the slots
 * arg0..arg2 in argument order; the others are pointers. */
enum ks_argk {
	KS_A_NONE = 0,
	KS_A_FD,       /* int fd */
	KS_A_DIRFD,    /* int dirfd: AT_FDCWD */
	KS_A_SIZE,     /* size_t count */
	KS_A_INT,      /* int */
	KS_A_OFF,      /* off_t */
	KS_A_OFLAGS,   /* O_* */
	KS_A_MODE,     /* octal mode */
	KS_A_HEX,      /* flags shown in hex */
	KS_A_FCNTL,    /* F_* command */
	KS_A_ATFLAGS,  /* AT_* */
	KS_A_WHENCE,   /* SEEK_* */
	KS_A_DOMAIN,   /* AF_* */
	KS_A_SOCKTYPE, /* SOCK_* */
	KS_A_PATH,     /* a path string (sysarg KS_SA_PATH, then KS_SA_PATH2) */
	KS_A_BUF,      /* a data buffer: not recorded */
	KS_A_ADDR,     /* a sockaddr passed in (KS_SA_ADDR) */
	KS_A_ADDRLEN,  /* its length (the sysarg's val) */
	KS_A_PEER,     /* a sockaddr filled in (KS_SA_PEER) */
	KS_A_PEERLEN,  /* a pointer to its length */
	KS_A_FDPAIR,   /* int[2] filled in (KS_SA_FDPAIR) */
	KS_A_PTR,      /* another pointer: not recorded */
};

/* What the call does, for the fd table and the file figures. */
enum ks_argrole {
	KS_R_NONE = 0,
	KS_R_FD,          /* an operation on the fd in arg0 */
	KS_R_READ,        /* reads ret bytes from the fd in arg0 */
	KS_R_WRITE,       /* writes ret bytes to it */
	KS_R_OPEN,        /* returns a new fd for its path */
	KS_R_CLOSE,       /* closes the fd in arg0 */
	KS_R_CLOSE_RANGE, /* closes arg0..arg1, or marks them close-on-exec */
	KS_R_DUP,         /* returns a copy of arg0 */
	KS_R_DUP2,        /* makes arg1 a copy of arg0 (dup3: arg2 flags) */
	KS_R_FCNTL,       /* F_DUPFD, F_DUPFD_CLOEXEC, F_SETFD on arg0 */
	KS_R_SOCKET,      /* returns a new socket: arg0 domain, arg1 type */
	KS_R_SOCKETPAIR,  /* two new sockets (KS_SA_FDPAIR) */
	KS_R_PIPE,        /* two new pipe ends (KS_SA_FDPAIR) */
	KS_R_ACCEPT,      /* returns a new socket connected to KS_SA_PEER */
	KS_R_CONNECT,     /* the socket in arg0 connects to KS_SA_ADDR */
	KS_R_BIND,        /* the socket in arg0 is bound to KS_SA_ADDR */
	KS_R_NEWFD,       /* returns a new fd of another kind (eventfd, epoll...) */
	KS_R_PATH,        /* acts on its path only */
};

#define KS_SYSARGS_MAX_ARGS 6

struct ks_sysargs {
	uint8_t role;  /* enum ks_argrole */
	uint8_t nargs;
	uint8_t arg[KS_SYSARGS_MAX_ARGS]; /* enum ks_argk */
	uint8_t cloexec_flag; /* the arg index + 1 of flags holding O_CLOEXEC (or
			       * SOCK_CLOEXEC), 0: none */
};

/* Returns the argument schema of syscall nr, or NULL when its arguments are not
 * recorded. */
const struct ks_sysargs *ks_sysargs_get(uint32_t nr);

/* Returns the slot (0..2: arg0..arg2) holding argument i of s, or -1 when that
 * argument is not a recorded number. */
int ks_sysargs_slot(const struct ks_sysargs *s, unsigned i);

/* One past the largest syscall number with a schema. */
uint32_t ks_sysargs_nr_end(void);

#endif
