/* The one ABI between the BPF probes and the recorder: plain structs, explicit
 * padding, compiled by clang (BPF) and gcc alike. Bump KS_ABI_VERSION on change. */
#ifndef KSIGHT_BPF_EVENTS_H
#define KSIGHT_BPF_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define KS_ABI_VERSION 1

/* The low 16 bits of the first __u32 of every ring-buffer record say what
 * follows; the high 16 bits carry the record's flags. */
enum ks_ev_type {
	KS_EV_SYSCALL = 1,
	KS_EV_PROC = 2,
	KS_EV_SCHED = 3,
};

/* ks_ev_syscall.flags */
#define KS_EV_SYSF_NORET 0x1 /* exit/exit_group: the syscall never returned */

struct ks_ev_syscall {
	__u32 type;  /* KS_EV_SYSCALL | flags << 16 */
	__u32 nr;    /* syscall number */
	__u64 ts;    /* entry, CLOCK_MONOTONIC ns */
	__u64 dur;   /* ns from entry to exit; 0 with KS_EV_SYSF_NORET */
	__s64 ret;   /* return value */
	__u32 pid;   /* thread group id */
	__u32 tid;
};

/* ks_ev_proc.what (same values as enum ks_proc_what in format/event.h) */
enum ks_ev_proc_what {
	KS_EV_FORK = 1, /* new process or thread (tid != pid for threads) */
	KS_EV_EXEC = 2,
	KS_EV_EXIT = 3, /* a thread ended; the process ended when tid == pid */
};

#define KS_COMM_LEN 16
#define KS_ARGV_LEN 256

struct ks_ev_proc {
	__u32 type; /* KS_EV_PROC */
	__u32 what; /* enum ks_ev_proc_what */
	__u64 ts;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__s32 exit_code; /* wait(2) status for KS_EV_EXIT */
	char comm[KS_COMM_LEN];
	__u32 argv_len; /* bytes used in argv, NUL-separated */
	__u32 _pad;
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

/* Index of the per-CPU drop counters (map "drops"). */
enum ks_drop_idx {
	KS_DROP_SYSCALL = 0,
	KS_DROP_PROC = 1,
	KS_DROP_SCHED = 2,
	KS_DROP_FILE = 3,
	KS_DROP_TRANSPORT = 7, /* perf buffer losses, counted by userspace */
	KS_DROP_MAX = 8,
};

#endif
