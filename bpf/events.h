/* The one ABI between the BPF probes and the recorder: plain structs, explicit
 * padding, compiled by clang (BPF) and gcc alike. Bump KS_ABI_VERSION on change. */
#ifndef KSIGHT_BPF_EVENTS_H
#define KSIGHT_BPF_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KS_ABI_VERSION 4

/* The low 16 bits of the first __u32 of every ring-buffer record say what
 * follows; the high 16 bits carry the record's flags. */
enum ks_ev_type {
	KS_EV_SYSCALL = 1,
	KS_EV_PROC = 2,
	KS_EV_SCHED = 3,
	KS_EV_BLOCK = 7, /* bpf/blockio.bpf.c */
	KS_EV_NET = 8,   /* bpf/net.bpf.c */
	KS_EV_SAMPLE = 4, /* CPU profile: struct ks_ev_sample (bpf/profile.bpf.c) */
	KS_EV_OFFCPU = 5, /* off-CPU span: struct ks_ev_offcpu (bpf/offcpu.bpf.c) */
	KS_EV_SYSARG = 6, /* a syscall's string or sockaddr argument (ks_ev_sysarg) */
	KS_EV_BATCH = 9,  /* a CPU's syscall records sent together (ks_ev_batch) */
};

/* --- per-CPU batches (bpf/batch.bpf.h) -------------------------------------
 * A batch holds one CPU's syscall records (struct ks_ev_syscall, or
 * ks_ev_syscall_args when flagged so) back to back, in the order they were made;
 * each record's size follows from its type. */
#define KS_BATCH_BYTES 4096 /* a power of two: the probe masks offsets with it */

/* ks_ev_batch.why: what sent the batch */
enum ks_batch_why {
	KS_BATCH_FULL = 1,   /* no room for the next record */
	KS_BATCH_SWITCH = 2, /* the CPU switched tasks */
	KS_BATCH_TICK = 3,   /* the periodic tick (at most KS_BATCH_TICK_HZ per second) */
	KS_BATCH_WHY_MAX = 4,
};

#define KS_BATCH_TICK_HZ 10

struct ks_ev_batch {
	__u32 type; /* KS_EV_BATCH */
	__u32 cpu;
	__u32 len;  /* bytes of records that follow */
	__u16 count; /* records that follow */
	__u16 why;  /* enum ks_batch_why */
};

/* ks_ev_syscall.flags */
#define KS_EV_SYSF_NORET 0x1 /* exit/exit_group: the syscall never returned */
#define KS_EV_SYSF_ARGS 0x2  /* the record is a ks_ev_syscall_args */

struct ks_ev_syscall {
	__u32 type;  /* KS_EV_SYSCALL | flags << 16 */
	__u32 nr;    /* syscall number */
	__u64 ts;    /* entry, CLOCK_MONOTONIC ns */
	__u64 dur;   /* ns from entry to exit; 0 with KS_EV_SYSF_NORET */
	__s64 ret;   /* return value */
	__u32 pid;   /* thread group id */
	__u32 tid;
};

/* --- syscall arguments ---------------------------------------------------
 * Which arguments of syscall nr are recorded: the loader fills arg_spec[nr]
 * (rodata of the syscall family) from the argument table of format/sysargs.c.
 * Each field is an argument index + 1 (0: none). */
#define KS_ARG_NRS 512            /* arg_spec entries: syscall numbers below this */
#define KS_ARG_SLOT(spec, i) (((spec) >> (3 * (i))) & 7) /* numbers, i = 0..2 */
#define KS_ARG_PATH1(spec) (((spec) >> 9) & 7)     /* a path string */
#define KS_ARG_PATH2(spec) (((spec) >> 12) & 7)    /* a second path string */
#define KS_ARG_ADDR(spec) (((spec) >> 15) & 7)     /* a sockaddr passed in ... */
#define KS_ARG_ADDRLEN(spec) (((spec) >> 18) & 7)  /* ... and its length */
#define KS_ARG_PEER(spec) (((spec) >> 21) & 7)     /* a sockaddr filled in ... */
#define KS_ARG_PEERLEN(spec) (((spec) >> 24) & 7)  /* ... and its length's pointer */
#define KS_ARG_FDPAIR(spec) (((spec) >> 27) & 7)   /* an int[2] of new fds filled in */
#define KS_ARG_ON 0x80000000u                      /* record this syscall's arguments */

/* A syscall with its numeric arguments (KS_EV_SYSF_ARGS): the fixed event, then
 * the recorded numbers in the order of the spec's slots. */
struct ks_ev_syscall_args {
	struct ks_ev_syscall sc;
	__s64 arg[3];
};

/* ks_ev_sysarg: the high 16 bits of type (same values as format/event.h) */
enum ks_ev_sysarg_what {
	KS_EV_SA_PATH = 1,   /* the first path argument */
	KS_EV_SA_PATH2 = 2,  /* the second (rename, link, symlink) */
	KS_EV_SA_ADDR = 3,   /* a sockaddr passed in: val = its length argument */
	KS_EV_SA_PEER = 4,   /* a sockaddr the kernel filled in: val = its length */
	KS_EV_SA_FDPAIR = 5, /* pipe, socketpair: data = the two new fds (int[2]) */
};

#define KS_EV_SAF_TRUNC 0x1 /* the string or address was longer than data */
#define KS_EV_SAF_FAULT 0x2 /* user memory could not be read */

#define KS_SYSARG_DATA 256

/* Joined to its syscall by tid and ts (the syscall's entry time). Followed by
 * len bytes of data (no NUL), sent without the unused rest. */
struct ks_ev_sysarg {
	__u32 type;  /* KS_EV_SYSARG | what << 16 */
	__u32 pid;
	__u32 tid;
	__u32 nr;
	__u64 ts;    /* the syscall's entry, CLOCK_MONOTONIC ns */
	__s64 val;
	__u32 len;
	__u32 flags; /* KS_EV_SAF_* */
	char data[KS_SYSARG_DATA];
};

/* ks_ev_proc.what (same values as enum ks_proc_what in format/event.h) */
enum ks_ev_proc_what {
	KS_EV_FORK = 1, /* new process or thread (tid != pid for threads) */
	KS_EV_EXEC = 2,
	KS_EV_EXIT = 3, /* a thread ended; the process ended when tid == pid */
	KS_EV_JOIN = 5, /* -a, --cgroup: a running thread joined the traced set */
};

#define KS_CGROUP_MAX 8 /* --cgroup targets the probes test */

#define KS_COMM_LEN 16
#define KS_ARGV_LEN 4096 /* argv bytes kept; a power of two (the probe masks with it) */

#define KS_EV_PROCF_ARGV_TRUNC 0x1 /* ks_ev_proc.flags: argv was longer than KS_ARGV_LEN */

/* Sent without the unused rest of argv: offsetof(argv) + argv_len bytes. */
struct ks_ev_proc {
	__u32 type; /* KS_EV_PROC */
	__u32 what; /* enum ks_ev_proc_what */
	__u64 ts;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__s32 exit_code; /* wait(2) status for KS_EV_EXIT */
	char comm[KS_COMM_LEN];
	__u64 cgroup;   /* the task's cgroup v2 id (its directory's inode) */
	__u32 argv_len; /* bytes used in argv, NUL-separated */
	__u32 flags;    /* KS_EV_PROCF_* */
	char argv[KS_ARGV_LEN];
};

/* ks_ev_sched: the high 16 bits of type */
enum ks_ev_sched_what {
	KS_EV_SWITCH = 1,
	KS_EV_WAKEUP = 2,
	KS_EV_WAKEUP_NEW = 3,
};

#define KS_EV_PREEMPTED 0x80000000u /* in prev_state: the leaving task was preempted */

struct ks_ev_sched {
	__u32 type; /* KS_EV_SCHED | what << 16 */
	__u32 cpu;
	__u64 ts;
	__u32 prev_pid;   /* switch: the task leaving (0 when untraced); wakeup: the woken task */
	__u32 prev_tid;
	__u32 next_pid;   /* switch: the task coming in (0 when untraced) */
	__u32 next_tid;
	__u32 prev_state; /* switch: the leaving task's state | KS_EV_PREEMPTED */
	__u32 faults;     /* switch: user page faults of the leaving task so far */
};

/* ks_ev_block.flags (high 16 bits of type) */
#define KS_EV_BLK_KTHREAD 0x1 /* submitted by a kernel thread (write-back, journal) */
#define KS_EV_BLK_ERROR 0x2   /* completed with an error */

/* One block request, at its completion: who submitted it (captured when it was
 * started, in the submitter's context), the device, and its queue and service
 * times. A request completed in parts gives one record per part. */
struct ks_ev_block {
	__u32 type;     /* KS_EV_BLOCK | flags << 16 */
	__u32 dev;      /* the disk, kernel encoding (major << 20 | minor) */
	__u64 ts;       /* completion, CLOCK_MONOTONIC ns */
	__u64 queue_ns; /* start (block_io_start / insert) to issue to the driver */
	__u64 service_ns; /* issue to completion */
	__u64 sector;
	__u32 bytes;
	__u32 op;       /* REQ_OP_* (0 read, 1 write, 2 flush, 3 discard, ...) */
	__u32 pid;      /* the submitter's thread group */
	__u32 tid;
	char comm[KS_COMM_LEN];
};

/* ks_ev_net: the high 16 bits of type */
enum ks_ev_net_what {
	KS_EV_NET_SEND = 1,    /* bytes sent on a socket (sock_send_length) */
	KS_EV_NET_RECV = 2,    /* bytes received (sock_recv_length) */
	KS_EV_NET_STATE = 3,   /* a TCP state change (inet_sock_set_state) */
	KS_EV_NET_RETRANS = 4, /* a TCP segment retransmitted (tcp_retransmit_skb) */
};

/* One socket event of a traced task, with the socket's endpoints as they are at
 * that moment (ports in host order, addresses in network order; IPv4 in the
 * first 4 bytes). sk identifies the socket while it lives. */
struct ks_ev_net {
	__u32 type;   /* KS_EV_NET | what << 16 */
	__u32 pid;    /* the socket's owner: the caller, or for events in softirq
		       * context the task last seen sending or connecting on it */
	__u32 tid;
	__u16 family; /* AF_INET or AF_INET6 */
	__u8 proto;   /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 state;   /* STATE: the new TCP state; else the socket's */
	__u64 ts;
	__u64 sk;
	__u64 bytes;  /* SEND, RECV */
	__u16 sport, dport;
	__u32 oldstate; /* STATE: the TCP state left */
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[KS_COMM_LEN];
};

/* --- CPU profile (bpf/profile.bpf.c, bpf/offcpu.bpf.c) --------------------- */

#define KS_STACK_DEPTH 127 /* frames per stack, kernel and user each (perf's default) */

/* ks_ev_sample.flags, ks_ev_offcpu.flags (the high 16 bits of type) */
#define KS_EVS_KTRUNC 0x01    /* the kernel stack filled KS_STACK_DEPTH frames */
#define KS_EVS_UTRUNC 0x02    /* the user stack did */
#define KS_EVS_KMISSING 0x04  /* no kernel stack (error, or a stack map collision) */
#define KS_EVS_UMISSING 0x08  /* no user stack */
#define KS_EVS_USER 0x10      /* sample: the CPU was in user mode */
#define KS_EVS_PREEMPTED 0x20 /* off-CPU: preempted, not blocked */
#define KS_EVS_BUILD_ID 0x80  /* sample: user frames are struct ks_ev_build_id_frame */

/* A user frame as the kernel gives it with BPF_F_USER_BUILD_ID: the file's
 * build-id and the offset in it (status 1), or the bare address (status 2) where
 * the kernel could not tell (same layout as struct bpf_stack_build_id). */
struct ks_ev_build_id_frame {
	__s32 status;
	unsigned char build_id[20];
	__u64 off_or_ip;
};

/* One on-CPU sample of a traced task, followed by nk kernel addresses (__u64
 * each), then nu user frames: addresses (__u64), or with KS_EVS_BUILD_ID
 * struct ks_ev_build_id_frame; each part innermost first. */
struct ks_ev_sample {
	__u32 type; /* KS_EV_SAMPLE | flags << 16 */
	__u32 cpu;
	__u64 ts;
	__u32 pid;
	__u32 tid;
	__u16 nk;
	__u16 nu;
	__u32 _pad;
	__u64 mm; /* the address space sampled: the recorder names it in "maps_known" */
};

/* One off-CPU span of a traced thread: from its switch-out (ts) to its next
 * switch-in (ts + dur). kstack/ustack are ids in the "stackmap" map (a
 * BPF_MAP_TYPE_STACK_TRACE), or a negative errno. */
struct ks_ev_offcpu {
	__u32 type; /* KS_EV_OFFCPU | flags << 16 */
	__u32 cpu;  /* where it ran again */
	__u64 ts;
	__u64 dur;
	__u32 pid;
	__u32 tid;
	__s32 kstack;
	__s32 ustack;
};

/* File changes under the state dirs (bpf/files.bpf.c): record types from 16 on
 * are routed by the consumer to the state dir capture (record/statedir.c). */
enum ks_ev_file_type {
	KS_EV_FILE = 16,
};

/* ks_ev_file: the high 16 bits of type */
enum ks_ev_file_what {
	KS_EVF_WRITE = 1,     /* bytes written: one piece (off, len, data) of a syscall */
	KS_EVF_DIRTY = 2,     /* bytes written that the probe could not take: off, len */
	KS_EVF_TRUNCATE = 3,  /* ftruncate: len */
	KS_EVF_FALLOCATE = 4, /* arg: mode; off, len */
	KS_EVF_CHMOD = 5,     /* fchmod: mode (after) */
	KS_EVF_CHOWN = 6,     /* fchown: uid, gid (after) */
	KS_EVF_OPEN = 7,      /* an open with O_CREAT or O_TRUNC: arg = flags; mode, uid, gid */
	KS_EVF_CLOSE = 8,     /* close of a file open for writing */
	KS_EVF_MMAP = 9,      /* a shared writable mapping: off, len */
	KS_EVF_MSYNC = 10,    /* msync or munmap by a process that mapped a state-dir file */
	KS_EVF_NAME = 11,     /* a namespace operation (nr says which) by its path strings */
	KS_EVF_EXIT = 12,     /* a traced process ended */
};

/* ks_ev_file.flags */
#define KS_EVF_F_MORE 0x01  /* more pieces of this syscall follow */
#define KS_EVF_F_ABS1 0x02  /* s1 is absolute (from the root), not under state dir dir */
#define KS_EVF_F_ABS3 0x04  /* s3 likewise */
#define KS_EVF_F_LONG 0x08  /* a path was too deep or too long to resolve */
#define KS_EVF_F_FAULT 0x10 /* user memory could not be read */
#define KS_EVF_F_BUSY 0x20  /* the ring was filling: bytes left to be read back */

#define KS_EVF_PATH_MAX 1024 /* bytes of each string (s1..s4) */
#define KS_EVF_PIECE 8192    /* data bytes per record */

/* Followed by len1..len4 bytes of the strings s1..s4 (no NULs) and dlen bytes of
 * data. fd operations: s1 is the file's path under state dir dir. KS_EVF_NAME:
 * s1 is the directory the first path argument is relative to (its dirfd, the
 * cwd, or the root for an absolute one), s2 that argument as passed; s3 and s4
 * the same for a second path (rename, link); symlink: s4 is the target. */
struct ks_ev_file {
	__u32 type;  /* KS_EV_FILE | what << 16 */
	__u32 pid;
	__u32 tid;
	__u32 nr;    /* the syscall */
	__u64 ts;    /* completion, CLOCK_MONOTONIC ns */
	__u64 ino;   /* fd operations: the file's inode */
	__u64 off;
	__u64 len;
	__u64 total; /* WRITE, DIRTY: bytes the whole syscall wrote */
	__u32 dev;   /* the inode's device, kernel encoding (major << 20 | minor) */
	__u32 mode;
	__u32 uid;
	__u32 gid;
	__u32 arg;
	__u32 flags; /* KS_EVF_F_* */
	__u32 dir;   /* state dir index s1 is relative to */
	__u32 dir3;  /* same for s3 */
	__u16 len1, len2, len3, len4;
	__u32 dlen;
	__u32 _pad;
};

/* Keys and values of the state dir map ("statedirs") the loader fills. */
struct ks_statedir_key {
	__u64 ino;
	__u32 dev;  /* kernel encoding */
	__u32 _pad;
};
#define KS_STATEDIR_ANCESTOR 0x80000000u /* value: an ancestor of a state dir, not one */

/* Index of the per-CPU drop counters (map "drops"). */
enum ks_drop_idx {
	KS_DROP_SYSCALL = 0,
	KS_DROP_PROC = 1,
	KS_DROP_SCHED = 2,
	KS_DROP_FILE = 3,
	KS_DROP_IO = 6, /* block and network records */
	KS_DROP_SAMPLE = 4, /* CPU samples and off-CPU spans */
	KS_DROP_ARGS = 5, /* syscall argument side records (ks_ev_sysarg) */
	KS_DROP_TRANSPORT = 7, /* perf buffer losses, counted by userspace */
	KS_DROP_MAX = 8,
};

#endif
