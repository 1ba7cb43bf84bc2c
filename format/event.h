/* The event schema: one row struct per event kind, and a table of fields per
 * kind that the segment codec walks. New kinds or new fields append to the tables;
 * decoders ignore columns they do not know and leave missing ones zero, so
 * adding either is not a format break. */
#ifndef KSIGHT_EVENT_H
#define KSIGHT_EVENT_H

#include <stddef.h>
#include <stdint.h>

enum ks_kind {
	KS_KIND_SYSCALL = 1,
	KS_KIND_PROC = 2,   /* fork / exec / exit */
	KS_KIND_SCHED = 3,  /* scheduler buckets or switches */
	KS_KIND_SAMPLE = 4, /* /proc sampler */
	KS_KIND_FILE = 5,   /* file operations under state dirs */
	KS_KIND_BLOCK = 10, /* block requests */
	KS_KIND_NET = 11,   /* socket bytes, TCP states and retransmits */
	KS_KIND_CPU_SAMPLE = 6, /* on-CPU stack samples */
	KS_KIND_OFFCPU = 7,     /* off-CPU spans with their stacks */
	KS_KIND_STACK = 8,      /* the stack table: stacks, modules, archived symbols */
	KS_KIND_SYSARG = 9, /* syscall string and sockaddr arguments, fds at start */
	KS_KIND_MAX = 16,   /* kinds are < KS_KIND_MAX */
};

#define KS_SYSF_NORET 0x1 /* same value as in bpf/events.h */
#define KS_SYSF_ARGS 0x2  /* arg0..arg2 hold what format/sysargs.h says for nr */

struct ks_syscall {
	uint64_t ts;  /* entry, CLOCK_MONOTONIC ns (meta: mono_to_realtime_ns) */
	uint64_t dur; /* ns; 0 when the syscall never returned */
	int64_t ret;
	uint32_t pid;
	uint32_t tid;
	uint32_t nr;
	uint32_t flags; /* KS_SYSF_* */
	int64_t arg0, arg1, arg2; /* with KS_SYSF_ARGS: the recorded numeric arguments */
};

/* What a ks_sysarg row holds (1..5: same values as bpf/events.h). */
enum ks_sysarg_what {
	KS_SA_PATH = 1,   /* the syscall's first path argument */
	KS_SA_PATH2 = 2,  /* its second path */
	KS_SA_ADDR = 3,   /* a sockaddr passed in; val: the length argument */
	KS_SA_PEER = 4,   /* a sockaddr the kernel filled in; val: its length */
	KS_SA_FDPAIR = 5, /* the two new fds of pipe or socketpair (int[2]) */
	KS_SA_PREFD = 6,  /* an fd open before the recording: val = fd, nr = its
			   * open flags (fdinfo), data = the /proc/PID/fd link */
};

#define KS_SAF_TRUNC 0x1 /* data was cut at KS_SYSARG_MAX (or 128 for a sockaddr) */
#define KS_SAF_FAULT 0x2 /* user memory could not be read */

#define KS_SYSARG_MAX 256

/* An argument that is not a number, joined to its syscall by tid and ts (the
 * syscall's entry time). */
struct ks_sysarg {
	uint64_t ts;
	uint32_t pid;
	uint32_t tid;
	uint32_t what;  /* enum ks_sysarg_what */
	uint32_t nr;    /* the syscall */
	int64_t val;
	uint32_t flags; /* KS_SAF_* */
	uint32_t len;
	char data[KS_SYSARG_MAX];
};

/* START: the recorder read a process that was running when the recording began
 * from /proc (comm, argv, exe, ppid, cgroup), a name for it as if it exec'd then.
 * JOIN: the probes adopted a running thread (-a, --cgroup: it was running before,
 * or moved into the cgroup); comm, argv and cgroup from the kernel.
 * LIVE: a process alive at a checkpoint of a bounded recording (read from
 * /proc), naming what the dropped events before it named. */
enum ks_proc_what {
	KS_PROC_FORK = 1,
	KS_PROC_EXEC = 2,
	KS_PROC_EXIT = 3,
	KS_PROC_START = 4,
	KS_PROC_JOIN = 5, /* same value as KS_EV_JOIN in bpf/events.h */
	KS_PROC_LIVE = 6,
};

#define KS_COMM_MAX 16
#define KS_ARGV_MAX 4096
#define KS_EXE_MAX 256

#define KS_PROCF_ARGV_TRUNC 0x1 /* ks_proc.flags: the exec's argv was longer than argv */

struct ks_proc {
	uint64_t ts;
	uint32_t what; /* enum ks_proc_what */
	uint32_t pid;
	uint32_t tid;
	uint32_t ppid;
	int32_t exit_code; /* wait(2) status on KS_PROC_EXIT */
	uint32_t argv_len;
	char comm[KS_COMM_MAX];  /* NUL-terminated unless full */
	char argv[KS_ARGV_MAX];  /* argv_len bytes, NUL-separated */
	uint64_t cgroup;         /* cgroup v2 id (meta "cgroups" names it); 0: unknown */
	char exe[KS_EXE_MAX];    /* START only: /proc/PID/exe, NUL-terminated */
	uint32_t flags;          /* KS_PROCF_* */
};

enum ks_sched_what { KS_SCHED_SWITCH = 1, KS_SCHED_WAKEUP = 2, KS_SCHED_WAKEUP_NEW = 3 };

#define KS_SCHED_PREEMPTED 0x80000000u /* in prev_state: the leaving task was preempted */

/* One scheduler event of a traced task. A switch names the task leaving (prev_*,
 * zero when it is not traced) and the one coming in (next_*); a wake-up names the
 * woken task in prev_*. */
struct ks_sched {
	uint64_t ts;
	uint32_t what; /* enum ks_sched_what */
	uint32_t cpu;
	uint32_t prev_pid;
	uint32_t prev_tid;
	uint32_t next_pid;
	uint32_t next_tid;
	uint32_t prev_state; /* task state of the leaving task | KS_SCHED_PREEMPTED */
	uint32_t faults;     /* user page faults of the leaving thread so far */
};

/* One /proc sample of a traced process. */
struct ks_sample {
	uint64_t ts;
	uint32_t pid;
	uint32_t threads;
	uint64_t rss_kb;
	uint64_t vsz_kb;
	uint64_t read_bytes;  /* /proc/PID/io read_bytes (storage) */
	uint64_t write_bytes; /* /proc/PID/io write_bytes */
	uint64_t rchar;       /* /proc/PID/io rchar (every read) */
	uint64_t wchar;
	uint64_t cpu_ns;      /* utime + stime from /proc/PID/stat */
	uint64_t minflt;
	uint64_t majflt;
};

/* One change under a state dir (its bytes are in the deltas database: file +
 * seq is the delta's key), for dump and report. */
struct ks_file {
	uint64_t ts;     /* when the change was complete */
	uint32_t pid;
	uint32_t tid;
	uint32_t op;     /* enum ks_delta_op (format/delta.h) */
	uint32_t flags;  /* KS_DF_* (format/delta.h) */
	uint64_t file;   /* path id: the files database */
	uint64_t seq;    /* the delta's sequence */
	uint64_t offset;
	uint64_t bytes;  /* bytes written, new size, ... as the op has it */
};

#define KS_BLK_KTHREAD 0x1 /* same values as bpf/events.h KS_EV_BLK_* */
#define KS_BLK_ERROR 0x2

/* One block request (or completed part of one). */
struct ks_block {
	uint64_t ts;         /* completion */
	uint64_t queue_ns;   /* start to issue */
	uint64_t service_ns; /* issue to completion */
	uint64_t sector;
	uint32_t dev;        /* major << 20 | minor */
	uint32_t op;         /* REQ_OP_* */
	uint32_t bytes;
	uint32_t flags;      /* KS_BLK_* */
	uint32_t pid;        /* submitter */
	uint32_t tid;
	char comm[KS_COMM_MAX];
};

enum ks_net_what { KS_NET_SEND = 1, KS_NET_RECV = 2, KS_NET_STATE = 3, KS_NET_RETRANS = 4 };

/* One socket event (see bpf/events.h ks_ev_net). An address is its 16
 * network-order bytes copied into two u64 (bytes 0-7 in *_hi, 8-15 in *_lo, in
 * memory order); IPv4 uses the first 4. */
struct ks_net {
	uint64_t ts;
	uint64_t sk;
	uint64_t bytes;
	uint64_t laddr_hi, laddr_lo, raddr_hi, raddr_lo;
	uint32_t what;   /* enum ks_net_what */
	uint32_t pid;
	uint32_t tid;
	uint32_t family; /* AF_INET, AF_INET6 */
	uint32_t proto;  /* IPPROTO_TCP, IPPROTO_UDP */
	uint32_t state, oldstate;
	uint32_t lport, rport;
	char comm[KS_COMM_MAX];
};

/* --- CPU profile ------------------------------------------------------------ */

/* ks_cpu_sample.flags and ks_offcpu.flags: same values as KS_EVS_* in bpf/events.h */
#define KS_STK_KTRUNC 0x01
#define KS_STK_UTRUNC 0x02
#define KS_STK_KMISSING 0x04
#define KS_STK_UMISSING 0x08
#define KS_STK_USER 0x10
#define KS_STK_PREEMPTED 0x20
#define KS_STK_UNRESOLVED 0x40 /* user frames the recorder could not place in a module */

/* One on-CPU sample; stack is an id of the stack table (KS_KIND_STACK). */
struct ks_cpu_sample {
	uint64_t ts;
	uint32_t pid;
	uint32_t tid;
	uint32_t cpu;
	uint32_t flags; /* KS_STK_* */
	uint64_t stack;
};

/* One span a thread spent off the CPU, from its switch-out at ts. */
struct ks_offcpu {
	uint64_t ts;
	uint64_t dur;
	uint32_t pid;
	uint32_t tid;
	uint32_t cpu;
	uint32_t flags; /* KS_STK_* (KS_STK_PREEMPTED: preempted, else blocked) */
	uint64_t stack;
};

/* Rows of the stack table. A frame is a module and an offset in it: module 0 is
 * the kernel (offset: the address), others are files (offset: the file offset
 * of the address, so it does not depend on where the file was mapped). */
enum ks_stack_what {
	KS_STACK_FRAMES = 1, /* id: stack id; data: the frames (format/stack.h) */
	KS_STACK_MODULE = 2, /* id: module id; data: path NUL build-id (hex) NUL, then
			      * per loadable segment its file offset, address and size
			      * (u64 little-endian each) */
	KS_STACK_SYMBOL = 3, /* id: module id, off: offset; data: the function's name */
};

#define KS_KERNEL_MODULE 0
#define KS_STACK_DATA_MAX 3072

struct ks_stack_row {
	uint64_t ts; /* when the recorder made the row */
	uint64_t id;
	uint64_t off;
	uint32_t what;     /* enum ks_stack_what */
	uint32_t data_len;
	char data[KS_STACK_DATA_MAX];
};

enum ks_ftype {
	KS_F_U32 = 1,
	KS_F_S32,
	KS_F_U64,
	KS_F_S64,
	KS_F_STR,   /* char[size], stored trimmed at its first NUL */
	KS_F_BYTES, /* char[size] with its length in the field named by len_field */
};

enum ks_fenc {
	KS_ENC_PLAIN = 0, /* varint (zigzag for signed) */
	KS_ENC_DELTA = 1, /* zigzag varint of the difference to the previous row */
	KS_ENC_GAP = 2,   /* zigzag varint of v[i] - (v[i-1] + ref[i-1]): a start time
			   * against the previous row's end (ref_field: its duration,
			   * a U64 field listed earlier in the table) */
	KS_ENC_SYSRET = 3, /* a syscall's ret: zigzag varint of ret minus the byte
			    * count it asked for (read and write families with
			    * recorded arguments; 0 otherwise): decoded after nr,
			    * flags and arg0..arg2 (format 2) */
	KS_ENC_BASE_MASK = 0x0f,
	KS_ENC_PLANES = 0x10, /* flag: the values above as fixed-width little-endian
			       * byte planes (a width byte, then plane 0 of every row,
			       * plane 1, ...) instead of varints: noisy numbers such as
			       * nanosecond durations compress far better this way */
};

struct ks_field {
	const char *name;    /* column name in the segment document */
	uint16_t offset;     /* offsetof in the row struct */
	uint16_t size;       /* sizeof the member */
	uint8_t type;        /* enum ks_ftype */
	uint8_t enc;         /* enum ks_fenc */
	const char *len_field; /* KS_F_BYTES only: the U32 field holding the length */
	const char *ref_field; /* KS_ENC_GAP only: the field added to the previous value */
};

struct ks_schema {
	unsigned kind;
	const char *name;   /* "syscall", "proc", ... */
	size_t row_size;
	const struct ks_field *fields;
	size_t nfields;
	uint16_t ts_offset; /* offset of the u64 timestamp used for first/last ts */
};

/* Returns the schema of kind, or NULL when the kind is unknown. */
const struct ks_schema *ks_schema_get(unsigned kind);
/* Returns the schema segments of format version (1..KS_FORMAT_VERSION) were
 * written with: the same rows, columns encoded as that version did. */
const struct ks_schema *ks_schema_get_version(unsigned kind, unsigned version);
/* Returns the kind named name ("syscall", ...), or -KS_EKIND. */
int ks_kind_from_name(const char *name);

#endif
