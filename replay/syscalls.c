/* Syscall names and categories. The names come from build/syscall_names.h (made
 * from this architecture's asm/unistd_64.h); the categories from the one table
 * below, which lists every x86_64 syscall by name. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "replay/syscalls.h"

static const char *const names[] = {
#include "syscall_names.h"
};

#define NAMES_LEN (sizeof(names) / sizeof(names[0]))

static const char *const cat_names[KS_CAT_COUNT] = {
	[KS_CAT_FILE_IO] = "file_io",   [KS_CAT_MEMORY] = "memory",
	[KS_CAT_PROCESS] = "process",   [KS_CAT_NETWORK] = "network",
	[KS_CAT_TIME] = "time",         [KS_CAT_IPC] = "ipc",
	[KS_CAT_SECURITY] = "security", [KS_CAT_SIGNAL] = "signal",
	[KS_CAT_SYSTEM] = "system",     [KS_CAT_OTHER] = "other",
};

/*
 * The category of every syscall, by name. Choices that are a judgement call:
 * - poll/ppoll/select/pselect6/epoll_*: network. They wait for readiness, which in
 *   the programs people profile is overwhelmingly socket readiness; the time spent
 *   in them is time waiting on peers.
 * - dup*, fcntl, flock, close_range, inotify/fanotify, xattrs, io_uring and aio:
 *   file_io (they act on file descriptors and files).
 * - sched_* and sched_yield: time ("time and scheduling", as denet defines it).
 * - futex*, pipe*, eventfd*, SysV and POSIX IPC: ipc. set/get_robust_list, rseq,
 *   set_tid_address, arch_prctl, *_thread_area: process (thread set-up).
 * - memfd_create, process_vm_readv/writev, membarrier: memory.
 * - identity (uid/gid/groups), capabilities, prctl, seccomp, landlock, keys,
 *   chroot, chmod/chown/umask: security. ioctl, mounts, modules, reboot, bpf,
 *   perf_event_open, getrandom, getcpu: system.
 * - Syscalls the kernel no longer implements (uselib, tuxcall, ...): other.
 * Names of newer kernels are listed too, so a build on newer headers stays covered.
 */
#define F KS_CAT_FILE_IO
#define M KS_CAT_MEMORY
#define P KS_CAT_PROCESS
#define N KS_CAT_NETWORK
#define T KS_CAT_TIME
#define I KS_CAT_IPC
#define S KS_CAT_SECURITY
#define G KS_CAT_SIGNAL
#define Y KS_CAT_SYSTEM
#define O KS_CAT_OTHER

static const struct {
	const char *name;
	enum ks_cat cat;
} cat_table[] = {
	/* file_io */
	{ "read", F }, { "write", F }, { "open", F }, { "close", F }, { "stat", F },
	{ "fstat", F }, { "lstat", F }, { "lseek", F }, { "pread64", F },
	{ "pwrite64", F }, { "readv", F }, { "writev", F }, { "access", F },
	{ "sendfile", F }, { "fcntl", F }, { "flock", F }, { "fsync", F },
	{ "fdatasync", F }, { "truncate", F }, { "ftruncate", F }, { "getdents", F },
	{ "getcwd", F }, { "chdir", F }, { "fchdir", F }, { "rename", F },
	{ "mkdir", F }, { "rmdir", F }, { "creat", F }, { "link", F }, { "unlink", F },
	{ "symlink", F }, { "readlink", F }, { "utime", F }, { "mknod", F },
	{ "ustat", F }, { "statfs", F }, { "fstatfs", F }, { "sync", F },
	{ "readahead", F }, { "setxattr", F }, { "lsetxattr", F }, { "fsetxattr", F },
	{ "getxattr", F }, { "lgetxattr", F }, { "fgetxattr", F }, { "listxattr", F },
	{ "llistxattr", F }, { "flistxattr", F }, { "removexattr", F },
	{ "lremovexattr", F }, { "fremovexattr", F }, { "io_setup", F },
	{ "io_destroy", F }, { "io_getevents", F }, { "io_submit", F },
	{ "io_cancel", F }, { "getdents64", F }, { "fadvise64", F }, { "utimes", F },
	{ "inotify_init", F }, { "inotify_add_watch", F }, { "inotify_rm_watch", F },
	{ "openat", F }, { "mkdirat", F }, { "mknodat", F }, { "futimesat", F },
	{ "newfstatat", F }, { "unlinkat", F }, { "renameat", F }, { "linkat", F },
	{ "symlinkat", F }, { "readlinkat", F }, { "faccessat", F }, { "splice", F },
	{ "tee", F }, { "sync_file_range", F }, { "vmsplice", F }, { "utimensat", F },
	{ "fallocate", F }, { "inotify_init1", F }, { "preadv", F }, { "pwritev", F },
	{ "fanotify_init", F }, { "fanotify_mark", F }, { "name_to_handle_at", F },
	{ "open_by_handle_at", F }, { "syncfs", F }, { "renameat2", F },
	{ "copy_file_range", F }, { "preadv2", F }, { "pwritev2", F }, { "statx", F },
	{ "io_pgetevents", F }, { "io_uring_setup", F }, { "io_uring_enter", F },
	{ "io_uring_register", F }, { "close_range", F }, { "openat2", F },
	{ "faccessat2", F }, { "dup", F }, { "dup2", F }, { "dup3", F },
	{ "cachestat", F }, { "setxattrat", F }, { "getxattrat", F },
	{ "listxattrat", F }, { "removexattrat", F }, { "file_getattr", F },
	{ "file_setattr", F },

	/* memory */
	{ "mmap", M }, { "mprotect", M }, { "munmap", M }, { "brk", M },
	{ "mremap", M }, { "msync", M }, { "mincore", M }, { "madvise", M },
	{ "mlock", M }, { "munlock", M }, { "mlockall", M }, { "munlockall", M },
	{ "remap_file_pages", M }, { "mbind", M }, { "set_mempolicy", M },
	{ "get_mempolicy", M }, { "migrate_pages", M }, { "move_pages", M },
	{ "process_vm_readv", M }, { "process_vm_writev", M }, { "memfd_create", M },
	{ "userfaultfd", M }, { "membarrier", M }, { "mlock2", M },
	{ "pkey_mprotect", M }, { "pkey_alloc", M }, { "pkey_free", M },
	{ "process_madvise", M }, { "memfd_secret", M }, { "process_mrelease", M },
	{ "set_mempolicy_home_node", M }, { "map_shadow_stack", M }, { "mseal", M },
	{ "modify_ldt", M },

	/* process */
	{ "clone", P }, { "fork", P }, { "vfork", P }, { "execve", P }, { "exit", P },
	{ "wait4", P }, { "waitid", P }, { "exit_group", P }, { "getpid", P },
	{ "getppid", P }, { "gettid", P }, { "setpgid", P }, { "getpgrp", P },
	{ "setsid", P }, { "getpgid", P }, { "getsid", P }, { "getpriority", P },
	{ "setpriority", P }, { "getrlimit", P }, { "setrlimit", P },
	{ "prlimit64", P }, { "getrusage", P }, { "ptrace", P }, { "personality", P },
	{ "arch_prctl", P }, { "set_thread_area", P }, { "get_thread_area", P },
	{ "set_tid_address", P }, { "set_robust_list", P }, { "get_robust_list", P },
	{ "rseq", P }, { "unshare", P }, { "setns", P }, { "kcmp", P },
	{ "ioprio_set", P }, { "ioprio_get", P }, { "execveat", P }, { "clone3", P },
	{ "pidfd_open", P }, { "pidfd_getfd", P },

	/* network (and readiness waits: see above) */
	{ "socket", N }, { "connect", N }, { "accept", N }, { "accept4", N },
	{ "sendto", N }, { "recvfrom", N }, { "sendmsg", N }, { "recvmsg", N },
	{ "sendmmsg", N }, { "recvmmsg", N }, { "shutdown", N }, { "bind", N },
	{ "listen", N }, { "getsockname", N }, { "getpeername", N },
	{ "socketpair", N }, { "setsockopt", N }, { "getsockopt", N }, { "poll", N },
	{ "ppoll", N }, { "select", N }, { "pselect6", N }, { "epoll_create", N },
	{ "epoll_create1", N }, { "epoll_ctl", N }, { "epoll_wait", N },
	{ "epoll_pwait", N }, { "epoll_pwait2", N }, { "epoll_ctl_old", N },
	{ "epoll_wait_old", N },

	/* time and scheduling */
	{ "nanosleep", T }, { "clock_nanosleep", T }, { "getitimer", T },
	{ "setitimer", T }, { "alarm", T }, { "gettimeofday", T },
	{ "settimeofday", T }, { "time", T }, { "times", T }, { "adjtimex", T },
	{ "clock_settime", T }, { "clock_gettime", T }, { "clock_getres", T },
	{ "clock_adjtime", T }, { "timer_create", T }, { "timer_settime", T },
	{ "timer_gettime", T }, { "timer_getoverrun", T }, { "timer_delete", T },
	{ "timerfd_create", T }, { "timerfd_settime", T }, { "timerfd_gettime", T },
	{ "sched_yield", T }, { "sched_setparam", T }, { "sched_getparam", T },
	{ "sched_setscheduler", T }, { "sched_getscheduler", T },
	{ "sched_get_priority_max", T }, { "sched_get_priority_min", T },
	{ "sched_rr_get_interval", T }, { "sched_setaffinity", T },
	{ "sched_getaffinity", T }, { "sched_setattr", T }, { "sched_getattr", T },

	/* ipc */
	{ "pipe", I }, { "pipe2", I }, { "futex", I }, { "futex_waitv", I },
	{ "futex_wake", I }, { "futex_wait", I }, { "futex_requeue", I },
	{ "eventfd", I }, { "eventfd2", I }, { "shmget", I }, { "shmat", I },
	{ "shmctl", I }, { "shmdt", I }, { "semget", I }, { "semop", I },
	{ "semctl", I }, { "semtimedop", I }, { "msgget", I }, { "msgsnd", I },
	{ "msgrcv", I }, { "msgctl", I }, { "mq_open", I }, { "mq_unlink", I },
	{ "mq_timedsend", I }, { "mq_timedreceive", I }, { "mq_notify", I },
	{ "mq_getsetattr", I },

	/* security */
	{ "chmod", S }, { "fchmod", S }, { "fchmodat", S }, { "fchmodat2", S },
	{ "chown", S }, { "fchown", S }, { "lchown", S }, { "fchownat", S },
	{ "umask", S }, { "getuid", S }, { "getgid", S }, { "geteuid", S },
	{ "getegid", S }, { "setuid", S }, { "setgid", S }, { "setreuid", S },
	{ "setregid", S }, { "setresuid", S }, { "getresuid", S },
	{ "setresgid", S }, { "getresgid", S }, { "getgroups", S },
	{ "setgroups", S }, { "setfsuid", S }, { "setfsgid", S }, { "capget", S },
	{ "capset", S }, { "prctl", S }, { "seccomp", S }, { "chroot", S },
	{ "add_key", S }, { "request_key", S }, { "keyctl", S },
	{ "landlock_create_ruleset", S }, { "landlock_add_rule", S },
	{ "landlock_restrict_self", S }, { "lsm_get_self_attr", S },
	{ "lsm_set_self_attr", S }, { "lsm_list_modules", S },

	/* signal */
	{ "rt_sigaction", G }, { "rt_sigprocmask", G }, { "rt_sigreturn", G },
	{ "rt_sigpending", G }, { "rt_sigtimedwait", G }, { "rt_sigqueueinfo", G },
	{ "rt_sigsuspend", G }, { "rt_tgsigqueueinfo", G }, { "sigaltstack", G },
	{ "kill", G }, { "tkill", G }, { "tgkill", G }, { "pause", G },
	{ "signalfd", G }, { "signalfd4", G }, { "pidfd_send_signal", G },
	{ "restart_syscall", G },

	/* system */
	{ "ioctl", Y }, { "uname", Y }, { "sysinfo", Y }, { "syslog", Y },
	{ "sysfs", Y }, { "_sysctl", Y }, { "reboot", Y }, { "sethostname", Y },
	{ "setdomainname", Y }, { "iopl", Y }, { "ioperm", Y }, { "acct", Y },
	{ "vhangup", Y }, { "mount", Y }, { "umount2", Y }, { "pivot_root", Y },
	{ "swapon", Y }, { "swapoff", Y }, { "quotactl", Y }, { "quotactl_fd", Y },
	{ "create_module", Y }, { "init_module", Y }, { "finit_module", Y },
	{ "delete_module", Y }, { "get_kernel_syms", Y }, { "query_module", Y },
	{ "kexec_load", Y }, { "kexec_file_load", Y }, { "lookup_dcookie", Y },
	{ "perf_event_open", Y }, { "bpf", Y }, { "getcpu", Y }, { "getrandom", Y },
	{ "open_tree", Y }, { "open_tree_attr", Y }, { "move_mount", Y },
	{ "fsopen", Y }, { "fsconfig", Y }, { "fsmount", Y }, { "fspick", Y },
	{ "mount_setattr", Y }, { "statmount", Y }, { "listmount", Y },
	{ "nfsservctl", Y },

	/* other: reserved or removed entry points */
	{ "uselib", O }, { "getpmsg", O }, { "putpmsg", O }, { "afs_syscall", O },
	{ "tuxcall", O }, { "security", O }, { "vserver", O }, { "uretprobe", O },
};

#undef F
#undef M
#undef P
#undef N
#undef T
#undef I
#undef S
#undef G
#undef Y
#undef O

#define CAT_TABLE_LEN (sizeof(cat_table) / sizeof(cat_table[0]))

static unsigned char cat_of_nr[NAMES_LEN];
static pthread_once_t cat_once = PTHREAD_ONCE_INIT;

static int table_index(const char *name)
{
	for (size_t i = 0; i < CAT_TABLE_LEN; i++)
		if (!strcmp(cat_table[i].name, name))
			return (int)i;
	return -1;
}

static void cat_init(void)
{
	for (size_t nr = 0; nr < NAMES_LEN; nr++) {
		int i = names[nr] ? table_index(names[nr]) : -1;

		cat_of_nr[nr] = i < 0 ? KS_CAT_OTHER : cat_table[i].cat;
	}
}

const char *ks_syscall_known_name(uint32_t nr)
{
	return nr < NAMES_LEN ? names[nr] : NULL;
}

const char *ks_syscall_name(uint32_t nr, char buf[KS_SYSCALL_NAME_MAX])
{
	const char *n = ks_syscall_known_name(nr);

	if (n)
		return n;
	snprintf(buf, KS_SYSCALL_NAME_MAX, "syscall_%u", nr);
	return buf;
}

int ks_syscall_nr(const char *name)
{
	for (size_t nr = 0; nr < NAMES_LEN; nr++)
		if (names[nr] && !strcmp(names[nr], name))
			return (int)nr;
	return -1;
}

enum ks_cat ks_syscall_category(uint32_t nr)
{
	if (nr >= NAMES_LEN)
		return KS_CAT_OTHER;
	pthread_once(&cat_once, cat_init);
	return (enum ks_cat)cat_of_nr[nr];
}

enum ks_cat ks_syscall_category_by_name(const char *name)
{
	int i = table_index(name);

	return i < 0 ? KS_CAT_OTHER : cat_table[i].cat;
}

int ks_syscall_listed(const char *name)
{
	return table_index(name) >= 0;
}

const char *ks_cat_name(enum ks_cat cat)
{
	return (unsigned)cat < KS_CAT_COUNT ? cat_names[cat] : "other";
}

uint32_t ks_syscall_nr_end(void)
{
	return (uint32_t)NAMES_LEN;
}
