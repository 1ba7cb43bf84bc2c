/* The field tables of each event kind: what the segment codec walks to turn rows
 * into columns and back. Adding a kind is adding a table and one line in kinds[]. */
#include <errno.h>
#include <string.h>

#include "format/event.h"
#include "format/kserr.h"

#define FIELD(st, member, ftype, fenc)                                         \
	{                                                                      \
		.name = #member, .offset = offsetof(st, member),               \
		.size = sizeof(((st *)0)->member), .type = (ftype),            \
		.enc = (fenc),                                                 \
	}

/* pid/tid come in runs (one thread issues many syscalls in a row), so their
 * deltas are mostly zero. Durations and start times are nanosecond noise: as
 * byte planes zstd codes each byte position on its own (as dictionary planes
 * when their values repeat), and a start time against the previous syscall's
 * end (the time spent in user space between them) is smaller than against its
 * start. A read or write mostly returns the count it asked for: ret is stored
 * against it, so it comes after the arguments. Measured on `tar -xf` of
 * /usr/include: bench/SEGMENT_LAYOUT.md, bench/RESULTS.md. dur comes before ts:
 * a gap column needs its ref decoded first. */
static const struct ks_field syscall_fields[] = {
	FIELD(struct ks_syscall, dur, KS_F_U64, KS_ENC_PLAIN | KS_ENC_PLANES),
	{
		.name = "ts",
		.offset = offsetof(struct ks_syscall, ts),
		.size = sizeof(uint64_t),
		.type = KS_F_U64,
		.enc = KS_ENC_GAP | KS_ENC_PLANES,
		.ref_field = "dur",
	},
	FIELD(struct ks_syscall, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_syscall, tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_syscall, nr, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_syscall, flags, KS_F_U32, KS_ENC_PLAIN),
	/* Arguments: fds, counts and flags repeat; zero where nothing is recorded. */
	FIELD(struct ks_syscall, arg0, KS_F_S64, KS_ENC_PLAIN),
	FIELD(struct ks_syscall, arg1, KS_F_S64, KS_ENC_PLAIN),
	FIELD(struct ks_syscall, arg2, KS_F_S64, KS_ENC_PLAIN),
	FIELD(struct ks_syscall, ret, KS_F_S64, KS_ENC_SYSRET),
};

/* Format 1 stored ret as a plain zigzag varint; kept to read its traces. */
static const struct ks_field syscall_fields_v1[] = {
	FIELD(struct ks_syscall, dur, KS_F_U64, KS_ENC_PLAIN | KS_ENC_PLANES),
	{
		.name = "ts",
		.offset = offsetof(struct ks_syscall, ts),
		.size = sizeof(uint64_t),
		.type = KS_F_U64,
		.enc = KS_ENC_GAP | KS_ENC_PLANES,
		.ref_field = "dur",
	},
	FIELD(struct ks_syscall, ret, KS_F_S64, KS_ENC_PLAIN),
	FIELD(struct ks_syscall, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_syscall, tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_syscall, nr, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_syscall, flags, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_syscall, arg0, KS_F_S64, KS_ENC_PLAIN),
	FIELD(struct ks_syscall, arg1, KS_F_S64, KS_ENC_PLAIN),
	FIELD(struct ks_syscall, arg2, KS_F_S64, KS_ENC_PLAIN),
};

/* argv_len is carried by the argv column (its byte length), not stored apart. */
static const struct ks_field proc_fields[] = {
	FIELD(struct ks_proc, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_proc, what, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_proc, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_proc, tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_proc, ppid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_proc, exit_code, KS_F_S32, KS_ENC_PLAIN),
	FIELD(struct ks_proc, argv_len, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_proc, comm, KS_F_STR, KS_ENC_PLAIN),
	{
		.name = "argv",
		.offset = offsetof(struct ks_proc, argv),
		.size = KS_ARGV_MAX,
		.type = KS_F_BYTES,
		.enc = KS_ENC_PLAIN,
		.len_field = "argv_len",
	},
	FIELD(struct ks_proc, cgroup, KS_F_U64, KS_ENC_PLAIN),
	FIELD(struct ks_proc, exe, KS_F_STR, KS_ENC_PLAIN),
	FIELD(struct ks_proc, flags, KS_F_U32, KS_ENC_PLAIN),
};

/* Switches of one task come in pairs on a CPU: tids repeat, deltas stay small. */
static const struct ks_field sched_fields[] = {
	FIELD(struct ks_sched, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sched, what, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_sched, cpu, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_sched, prev_pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_sched, prev_tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_sched, next_pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_sched, next_tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_sched, prev_state, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_sched, faults, KS_F_U32, KS_ENC_DELTA),
};

/* Samples of a process change slowly: deltas of counters are small. */
static const struct ks_field sample_fields[] = {
	FIELD(struct ks_sample, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sample, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_sample, threads, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_sample, rss_kb, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sample, vsz_kb, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sample, read_bytes, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sample, write_bytes, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sample, rchar, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sample, wchar, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sample, cpu_ns, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sample, minflt, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sample, majflt, KS_F_U64, KS_ENC_DELTA),
};

/* Changes of one file come in runs: ids, sequences and offsets move little. */
static const struct ks_field file_fields[] = {
	FIELD(struct ks_file, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_file, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_file, tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_file, op, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_file, flags, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_file, file, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_file, seq, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_file, offset, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_file, bytes, KS_F_U64, KS_ENC_PLAIN),
};

/* Block requests and socket events come in runs from one device or socket. */
static const struct ks_field block_fields[] = {
	FIELD(struct ks_block, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_block, queue_ns, KS_F_U64, KS_ENC_PLAIN),
	FIELD(struct ks_block, service_ns, KS_F_U64, KS_ENC_PLAIN),
	FIELD(struct ks_block, sector, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_block, dev, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_block, op, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_block, bytes, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_block, flags, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_block, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_block, tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_block, comm, KS_F_STR, KS_ENC_PLAIN),
};

static const struct ks_field net_fields[] = {
	FIELD(struct ks_net, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_net, sk, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_net, bytes, KS_F_U64, KS_ENC_PLAIN),
	FIELD(struct ks_net, laddr_hi, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_net, laddr_lo, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_net, raddr_hi, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_net, raddr_lo, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_net, what, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_net, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_net, tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_net, family, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_net, proto, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_net, state, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_net, oldstate, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_net, lport, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_net, rport, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_net, comm, KS_F_STR, KS_ENC_PLAIN),
};

/* Samples come per CPU in time order; stacks repeat within a thread. */
static const struct ks_field cpu_sample_fields[] = {
	FIELD(struct ks_cpu_sample, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_cpu_sample, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_cpu_sample, tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_cpu_sample, cpu, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_cpu_sample, flags, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_cpu_sample, stack, KS_F_U64, KS_ENC_DELTA),
};

static const struct ks_field offcpu_fields[] = {
	FIELD(struct ks_offcpu, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_offcpu, dur, KS_F_U64, KS_ENC_PLAIN | KS_ENC_PLANES),
	FIELD(struct ks_offcpu, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_offcpu, tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_offcpu, cpu, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_offcpu, flags, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_offcpu, stack, KS_F_U64, KS_ENC_DELTA),
};

static const struct ks_field stack_fields[] = {
	FIELD(struct ks_stack_row, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_stack_row, id, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_stack_row, off, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_stack_row, what, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_stack_row, data_len, KS_F_U32, KS_ENC_PLAIN),
	{
		.name = "data",
		.offset = offsetof(struct ks_stack_row, data),
		.size = KS_STACK_DATA_MAX,
		.type = KS_F_BYTES,
		.enc = KS_ENC_PLAIN,
		.len_field = "data_len",
	},
};

static const struct ks_field sysarg_fields[] = {
	FIELD(struct ks_sysarg, ts, KS_F_U64, KS_ENC_DELTA),
	FIELD(struct ks_sysarg, pid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_sysarg, tid, KS_F_U32, KS_ENC_DELTA),
	FIELD(struct ks_sysarg, what, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_sysarg, nr, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_sysarg, val, KS_F_S64, KS_ENC_PLAIN),
	FIELD(struct ks_sysarg, flags, KS_F_U32, KS_ENC_PLAIN),
	FIELD(struct ks_sysarg, len, KS_F_U32, KS_ENC_PLAIN),
	{
		.name = "data",
		.offset = offsetof(struct ks_sysarg, data),
		.size = KS_SYSARG_MAX,
		.type = KS_F_BYTES,
		.enc = KS_ENC_PLAIN,
		.len_field = "len",
	},
};

#define SCHEMA(k, nm, st, tbl)                                                 \
	{                                                                      \
		.kind = (k), .name = (nm), .row_size = sizeof(st),             \
		.fields = (tbl), .nfields = sizeof(tbl) / sizeof((tbl)[0]),    \
		.ts_offset = offsetof(st, ts),                                 \
	}

static const struct ks_schema syscall_schema =
	SCHEMA(KS_KIND_SYSCALL, "syscall", struct ks_syscall, syscall_fields);
static const struct ks_schema syscall_schema_v1 =
	SCHEMA(KS_KIND_SYSCALL, "syscall", struct ks_syscall, syscall_fields_v1);
static const struct ks_schema proc_schema =
	SCHEMA(KS_KIND_PROC, "proc", struct ks_proc, proc_fields);

static const struct ks_schema sched_schema =
	SCHEMA(KS_KIND_SCHED, "sched", struct ks_sched, sched_fields);
static const struct ks_schema sample_schema =
	SCHEMA(KS_KIND_SAMPLE, "sample", struct ks_sample, sample_fields);
static const struct ks_schema file_schema =
	SCHEMA(KS_KIND_FILE, "file", struct ks_file, file_fields);
static const struct ks_schema block_schema =
	SCHEMA(KS_KIND_BLOCK, "block", struct ks_block, block_fields);
static const struct ks_schema net_schema =
	SCHEMA(KS_KIND_NET, "net", struct ks_net, net_fields);
static const struct ks_schema sysarg_schema =
	SCHEMA(KS_KIND_SYSARG, "sysarg", struct ks_sysarg, sysarg_fields);

static const struct ks_schema cpu_sample_schema =
	SCHEMA(KS_KIND_CPU_SAMPLE, "cpu_sample", struct ks_cpu_sample, cpu_sample_fields);
static const struct ks_schema offcpu_schema =
	SCHEMA(KS_KIND_OFFCPU, "offcpu", struct ks_offcpu, offcpu_fields);
static const struct ks_schema stack_schema =
	SCHEMA(KS_KIND_STACK, "stack", struct ks_stack_row, stack_fields);

static const struct ks_schema *const kinds[KS_KIND_MAX] = {
	[KS_KIND_SYSCALL] = &syscall_schema,
	[KS_KIND_PROC] = &proc_schema,
	[KS_KIND_SCHED] = &sched_schema,
	[KS_KIND_SAMPLE] = &sample_schema,
	[KS_KIND_FILE] = &file_schema,
	[KS_KIND_BLOCK] = &block_schema,
	[KS_KIND_NET] = &net_schema,
	[KS_KIND_CPU_SAMPLE] = &cpu_sample_schema,
	[KS_KIND_OFFCPU] = &offcpu_schema,
	[KS_KIND_STACK] = &stack_schema,
	[KS_KIND_SYSARG] = &sysarg_schema,
};

/* Returns the schema of kind, or NULL when the kind is unknown or has none yet. */
const struct ks_schema *ks_schema_get(unsigned kind)
{
	return kind < KS_KIND_MAX ? kinds[kind] : NULL;
}

/* The tables segments of format version wrote: only the syscall kind's differ. */
const struct ks_schema *ks_schema_get_version(unsigned kind, unsigned version)
{
	if (version == 1 && kind == KS_KIND_SYSCALL)
		return &syscall_schema_v1;
	return ks_schema_get(kind);
}

/* Returns the kind whose schema is named name, or -KS_EKIND. */
int ks_kind_from_name(const char *name)
{
	if (!name)
		return -KS_EKIND;
	for (unsigned k = 0; k < KS_KIND_MAX; k++)
		if (kinds[k] && strcmp(kinds[k]->name, name) == 0)
			return (int)k;
	return -KS_EKIND;
}
