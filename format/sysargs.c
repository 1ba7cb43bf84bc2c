/* The argument table of the syscall kind (see sysargs.h): one line per syscall
 * whose arguments a trace records, keyed by this architecture's numbers. */
#include <stddef.h>
#include <sys/syscall.h>

#include "format/sysargs.h"

#define F KS_A_FD
#define D KS_A_DIRFD
#define Z KS_A_SIZE
#define I KS_A_INT
#define O KS_A_OFF
#define OF KS_A_OFLAGS
#define M KS_A_MODE
#define X KS_A_HEX
#define FC KS_A_FCNTL
#define AT KS_A_ATFLAGS
#define W KS_A_WHENCE
#define DOM KS_A_DOMAIN
#define ST KS_A_SOCKTYPE
#define P KS_A_PATH
#define B KS_A_BUF
#define A KS_A_ADDR
#define AL KS_A_ADDRLEN
#define PE KS_A_PEER
#define PL KS_A_PEERLEN
#define FP KS_A_FDPAIR
#define PT KS_A_PTR

/* SC(name, role, cloexec flag argument + 1 or 0, argument kinds...) */
#define SC(n, r, cx, ...)                                                      \
	[SYS_##n] = {                                                          \
		.role = KS_R_##r,                                              \
		.cloexec_flag = (cx),                                          \
		.nargs = sizeof((uint8_t[]){ __VA_ARGS__ }),                   \
		.arg = { __VA_ARGS__ },                                        \
	}

static const struct ks_sysargs table[] = {
	/* data */
	SC(read, READ, 0, F, B, Z),
	SC(write, WRITE, 0, F, B, Z),
	SC(pread64, READ, 0, F, B, Z, O),
	SC(pwrite64, WRITE, 0, F, B, Z, O),
	SC(readv, READ, 0, F, PT, I),
	SC(writev, WRITE, 0, F, PT, I),
	SC(preadv, READ, 0, F, PT, I, O),
	SC(pwritev, WRITE, 0, F, PT, I, O),
	SC(preadv2, READ, 0, F, PT, I, O),
	SC(pwritev2, WRITE, 0, F, PT, I, O),
	SC(sendfile, WRITE, 0, F, F, PT, Z),
	SC(sendto, WRITE, 0, F, B, Z, X, A, AL),
	SC(recvfrom, READ, 0, F, B, Z, X, PE, PL),
	SC(sendmsg, WRITE, 0, F, PT, X),
	SC(recvmsg, READ, 0, F, PT, X),
	/* the fd table */
	SC(close, CLOSE, 0, F),
	SC(close_range, CLOSE_RANGE, 0, F, Z, X),
	SC(dup, DUP, 0, F),
	SC(dup3, DUP2, 3, F, F, OF),
	SC(fcntl, FCNTL, 0, F, FC, X),
	SC(openat, OPEN, 3, D, P, OF, M),
	SC(openat2, OPEN, 0, D, P, PT, Z),
	SC(socket, SOCKET, 2, DOM, ST, I),
	SC(socketpair, SOCKETPAIR, 2, DOM, ST, I, FP),
	SC(pipe2, PIPE, 2, FP, OF),
	SC(accept, ACCEPT, 0, F, PE, PL),
	SC(accept4, ACCEPT, 4, F, PE, PL, X),
	SC(connect, CONNECT, 0, F, A, AL),
	SC(bind, BIND, 0, F, A, AL),
	SC(epoll_create1, NEWFD, 1, OF),
	SC(eventfd2, NEWFD, 2, I, OF),
	SC(timerfd_create, NEWFD, 2, I, OF),
	SC(signalfd4, NEWFD, 4, F, PT, Z, OF),
	SC(inotify_init1, NEWFD, 1, OF),
	SC(memfd_create, NEWFD, 0, P, X),
	SC(pidfd_open, NEWFD, 0, I, X),
	/* other fd operations */
	SC(fstat, FD, 0, F, B),
	SC(lseek, FD, 0, F, O, W),
	SC(fsync, FD, 0, F),
	SC(fdatasync, FD, 0, F),
	SC(ftruncate, FD, 0, F, O),
	SC(fallocate, FD, 0, F, I, O, O),
	SC(fadvise64, FD, 0, F, O, O, I),
	SC(getdents64, FD, 0, F, B, Z),
	SC(ioctl, FD, 0, F, X, PT),
	SC(fchmod, FD, 0, F, M),
	SC(fchown, FD, 0, F, I, I),
	SC(flock, FD, 0, F, I),
	SC(fchdir, FD, 0, F),
	SC(fstatfs, FD, 0, F, B),
	SC(listen, FD, 0, F, I),
	SC(shutdown, FD, 0, F, I),
	SC(getsockname, FD, 0, F, PE, PL),
	SC(getpeername, FD, 0, F, PE, PL),
	SC(setsockopt, FD, 0, F, I, I, PT, I),
	SC(getsockopt, FD, 0, F, I, I, PT, PT),
	SC(epoll_ctl, FD, 0, F, I, F, PT),
	SC(epoll_pwait, FD, 0, F, PT, I, I),
	SC(inotify_add_watch, FD, 0, F, P, X),
	/* paths */
	SC(newfstatat, PATH, 0, D, P, B, AT),
	SC(statx, PATH, 0, D, P, AT, X, B),
	SC(faccessat, PATH, 0, D, P, I),
	SC(faccessat2, PATH, 0, D, P, I, AT),
	SC(execve, PATH, 0, P, PT, PT),
	SC(execveat, PATH, 0, D, P, PT, PT, AT),
	SC(unlinkat, PATH, 0, D, P, AT),
	SC(renameat, PATH, 0, D, P, D, P),
	SC(renameat2, PATH, 0, D, P, D, P, X),
	SC(mkdirat, PATH, 0, D, P, M),
	SC(chdir, PATH, 0, P),
	SC(fchmodat, PATH, 0, D, P, M),
	SC(fchownat, PATH, 0, D, P, I, I, AT),
	SC(truncate, PATH, 0, P, O),
	SC(readlinkat, PATH, 0, D, P, B, Z),
	SC(symlinkat, PATH, 0, P, D, P),
	SC(linkat, PATH, 0, D, P, D, P, AT),
	SC(statfs, PATH, 0, P, B),
	SC(utimensat, PATH, 0, D, P, PT, AT),
	SC(mknodat, PATH, 0, D, P, M, I),
	SC(chroot, PATH, 0, P),
#ifdef SYS_open /* the calls newer architectures only have as *at */
	SC(open, OPEN, 2, P, OF, M),
	SC(creat, OPEN, 0, P, M),
	SC(dup2, DUP2, 0, F, F),
	SC(pipe, PIPE, 0, FP),
	SC(epoll_create, NEWFD, 0, I),
	SC(eventfd, NEWFD, 0, I),
	SC(inotify_init, NEWFD, 0, I),
	SC(epoll_wait, FD, 0, F, PT, I, I),
	SC(stat, PATH, 0, P, B),
	SC(lstat, PATH, 0, P, B),
	SC(access, PATH, 0, P, I),
	SC(unlink, PATH, 0, P),
	SC(rename, PATH, 0, P, P),
	SC(mkdir, PATH, 0, P, M),
	SC(rmdir, PATH, 0, P),
	SC(chmod, PATH, 0, P, M),
	SC(chown, PATH, 0, P, I, I),
	SC(lchown, PATH, 0, P, I, I),
	SC(readlink, PATH, 0, P, B, Z),
	SC(symlink, PATH, 0, P, P),
	SC(link, PATH, 0, P, P),
	SC(mknod, PATH, 0, P, M, I),
#endif
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

const struct ks_sysargs *ks_sysargs_get(uint32_t nr)
{
	return nr < NTABLE && table[nr].nargs ? &table[nr] : NULL;
}

int ks_sysargs_slot(const struct ks_sysargs *s, unsigned i)
{
	int slot = 0;

	if (!s || i >= s->nargs || s->arg[i] == KS_A_NONE || s->arg[i] >= KS_A_PATH)
		return -1;
	for (unsigned k = 0; k < i; k++)
		if (s->arg[k] != KS_A_NONE && s->arg[k] < KS_A_PATH)
			slot++;
	return slot < 3 ? slot : -1;
}

uint32_t ks_sysargs_nr_end(void)
{
	return NTABLE;
}
