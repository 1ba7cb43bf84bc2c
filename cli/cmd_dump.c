/* `ksight dump`: every event of a trace, one per line, in segment order. The trace
 * is verified in a first pass (every segment decoded) so that a damaged trace
 * prints nothing rather than a prefix that looks whole. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli/cli.h"
#include "cli/args.h"
#include "format/delta.h"
#include "replay/procs.h"
#include "replay/report.h"
#include "replay/syscalls.h"
#include "replay/sysfmt.h"

static const char usage_text[] =
	"usage: ksight dump FILE [--json]\n"
	"\n"
	"Prints every event of a trace, one per line, in the order it was stored.\n"
	"Text lines are strace-like:\n"
	"  SECONDS PID/TID name(NR) = RET <DURATION>     (a syscall)\n"
	"  SECONDS PID/TID openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY) = 3 <0.000006>\n"
	"                                                (one with its arguments)\n"
	"  SECONDS PID/TID fork|exec|exit ...            (a process event)\n"
	"  SECONDS PID/TID file OP PATH offset=N bytes=N (a change under a state dir)\n"
	"where SECONDS counts from the trace start. With --json each line is one JSON\n"
	"object with \"kind\" and the event's fields (\"ts\": CLOCK_MONOTONIC ns; 'ksight\n"
	"info --json' gives meta.mono_to_realtime_ns to turn it into wall-clock time).\n"
	"The whole trace is checked before the first line is printed.\n"
	"\n"
	"options:\n"
	"  -j, --json   JSON lines instead of text\n"
	"  -h, --help   this text\n"
	"\n"
	"Exit status: 0, 1 if the trace is damaged or unreadable, 2 for bad arguments.\n"
	"\n"
	"examples:\n"
	"  ksight dump trace.lmdb | less\n"
	"  ksight dump trace.lmdb | grep ' = -1 '\n"
	"  ksight dump trace.lmdb --json | jq -c 'select(.name == \"openat\")'\n";

struct dumper {
	FILE *f;
	bool json;
	uint64_t base;
	bool base_known;
	struct argindex ix; /* paths and addresses of the syscalls */
	struct replay_trace *t; /* for the files table */
	uint64_t first;         /* the first pass: the earliest event */
};

static void put_offset(FILE *f, uint64_t ts, uint64_t base)
{
	uint64_t d = ts >= base ? ts - base : base - ts;

	fprintf(f, "%s%llu.%09llu", ts >= base ? "" : "-", (unsigned long long)(d / 1000000000),
		(unsigned long long)(d % 1000000000));
}

/* Addresses read better in hex, as strace prints them. */
static bool returns_address(uint32_t nr)
{
	const char *n = ks_syscall_known_name(nr);

	return n && (!strcmp(n, "mmap") || !strcmp(n, "mremap") || !strcmp(n, "brk") ||
		     !strcmp(n, "shmat"));
}

static void syscall_text(FILE *f, const struct dumper *d, const struct ks_syscall *r)
{
	char nb[KS_SYSCALL_NAME_MAX];
	const char *en;

	put_offset(f, r->ts, d->base);
	if (r->flags & KS_SYSF_ARGS) {
		char line[4096];

		/* as strace -T prints it */
		sysfmt_call(line, sizeof(line), r, &d->ix);
		fprintf(f, " %u/%u %s <%llu.%06llu>\n", r->pid, r->tid, line,
			(unsigned long long)(r->dur / 1000000000),
			(unsigned long long)(r->dur % 1000000000 / 1000));
		return;
	}
	fprintf(f, " %u/%u %s(%u) = ", r->pid, r->tid, ks_syscall_name(r->nr, nb), r->nr);
	if (r->flags & KS_SYSF_NORET) {
		fputs("?\n", f);
		return;
	}
	if (r->ret < 0 && r->ret >= -4095 && (en = strerrorname_np((int)-r->ret)))
		fprintf(f, "-1 %s", en);
	else if (r->ret > 0xffff && returns_address(r->nr))
		fprintf(f, "%#llx", (unsigned long long)r->ret);
	else
		fprintf(f, "%lld", (long long)r->ret);
	fprintf(f, " <%llu.%09llu>\n", (unsigned long long)(r->dur / 1000000000),
		(unsigned long long)(r->dur % 1000000000));
}

static void syscall_json(FILE *f, const struct ks_syscall *r)
{
	char nb[KS_SYSCALL_NAME_MAX];

	fprintf(f, "{\"kind\":\"syscall\",\"ts\":%llu,\"pid\":%u,\"tid\":%u,\"nr\":%u,"
		"\"name\":\"%s\",\"ret\":%lld,\"dur_ns\":%llu,\"noret\":%s}\n",
		(unsigned long long)r->ts, r->pid, r->tid, r->nr, ks_syscall_name(r->nr, nb),
		(long long)r->ret, (unsigned long long)r->dur,
		r->flags & KS_SYSF_NORET ? "true" : "false");
}

static void put_printable(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		fputc(!c ? ' ' : c >= 0x20 && c < 0x7f ? c : '?', f);
	}
}

static void proc_text(FILE *f, const struct dumper *d, const struct ks_proc *p)
{
	size_t clen = strnlen(p->comm, KS_COMM_MAX);
	size_t alen = p->argv_len < KS_ARGV_MAX ? p->argv_len : KS_ARGV_MAX;

	put_offset(f, p->ts, d->base);
	fprintf(f, " %u/%u ", p->pid, p->tid);
	switch (p->what) {
	case KS_PROC_FORK:
		fprintf(f, "fork%s ppid=%u comm=", p->tid != p->pid ? " thread" : "", p->ppid);
		put_printable(f, p->comm, clen);
		break;
	case KS_PROC_EXEC:
		fputs("exec comm=", f);
		put_printable(f, p->comm, clen);
		fputs(" argv=", f);
		while (alen && !p->argv[alen - 1])
			alen--;
		put_printable(f, p->argv, alen);
		break;
	case KS_PROC_EXIT:
		fprintf(f, "exit%s code=%d", p->tid != p->pid ? " thread" : "",
			replay_exit_code(p->exit_code));
		if (WIFSIGNALED(p->exit_code))
			fprintf(f, " (killed by SIG%s)", sigabbrev_np(WTERMSIG(p->exit_code)) ?: "?");
		break;
	default:
		fprintf(f, "proc what=%u ppid=%u", p->what, p->ppid);
	}
	fputc('\n', f);
}

static const char *proc_what(uint32_t what)
{
	switch (what) {
	case KS_PROC_FORK:
		return "fork";
	case KS_PROC_EXEC:
		return "exec";
	case KS_PROC_EXIT:
		return "exit";
	default:
		return "unknown";
	}
}

static uint64_t field_u(const void *row, const struct ks_field *fd)
{
	const char *p = (const char *)row + fd->offset;
	uint32_t u32;
	int32_t s32;
	uint64_t u64;

	switch (fd->type) {
	case KS_F_U32:
		memcpy(&u32, p, 4);
		return u32;
	case KS_F_S32:
		memcpy(&s32, p, 4);
		return (uint64_t)(int64_t)s32;
	default:
		memcpy(&u64, p, 8);
		return u64;
	}
}

static size_t bytes_len(const struct ks_schema *s, const void *row, const struct ks_field *fd)
{
	for (size_t i = 0; fd->len_field && i < s->nfields; i++) {
		if (!strcmp(s->fields[i].name, fd->len_field)) {
			uint64_t n = field_u(row, &s->fields[i]);

			return n < fd->size ? (size_t)n : fd->size;
		}
	}
	return fd->size;
}

/* One object with every schema field: proc events, and kinds added later. */
static json_t *row_json(const struct ks_schema *s, const void *row)
{
	json_t *o = json_pack("{s:s}", "kind", s->name);
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < s->nfields; i++) {
		const struct ks_field *fd = &s->fields[i];
		const char *p = (const char *)row + fd->offset;
		json_t *v;

		switch (fd->type) {
		case KS_F_STR:
			v = report_json_text(p, strnlen(p, fd->size));
			break;
		case KS_F_BYTES:
			v = report_json_text(p, bytes_len(s, row, fd));
			break;
		case KS_F_S32:
		case KS_F_S64:
			v = json_integer((json_int_t)field_u(row, fd));
			break;
		default:
			v = json_integer((json_int_t)(field_u(row, fd) > INT64_MAX ? INT64_MAX :
										 field_u(row, fd)));
		}
		ok = v && !json_object_set_new(o, fd->name, v);
	}
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *proc_json(const struct ks_schema *s, const struct ks_proc *p)
{
	json_t *o = row_json(s, p), *argv = json_array();
	size_t alen = p->argv_len < KS_ARGV_MAX ? p->argv_len : KS_ARGV_MAX, i = 0;
	bool ok = o && argv;

	/* argv as an array of strings, as in the report, and the event's name. */
	while (ok && i < alen) {
		size_t n = strnlen(p->argv + i, alen - i);
		json_t *a = report_json_text(p->argv + i, n);

		ok = a && !json_array_append_new(argv, a);
		i += n + 1;
	}
	if (ok) {
		ok = !json_object_set_new(o, "argv", argv); /* steals argv, also on failure */
		argv = NULL;
	}
	ok = ok && !json_object_set_new(o, "event", json_string(proc_what(p->what)));
	if (ok && p->what == KS_PROC_EXIT)
		ok = !json_object_set_new(o, "exit_status", json_integer(replay_exit_code(p->exit_code)));
	if (!ok) {
		json_decref(o);
		json_decref(argv);
		return NULL;
	}
	return o;
}

/* The leaving task's state as ps and perf sched spell it (R, S, D, ...). */
static const char *task_state(uint32_t state, char buf[16])
{
	switch (state & ~KS_SCHED_PREEMPTED) {
	case 0:
		return "R";
	case 0x1:
		return "S";
	case 0x2:
		return "D";
	case 0x4:
		return "T";
	case 0x8:
		return "t";
	case SCHED_TASK_DEAD:
		return "X";
	case 0x402: /* TASK_IDLE */
		return "I";
	default:
		snprintf(buf, 16, "0x%x", state & ~KS_SCHED_PREEMPTED);
		return buf;
	}
}

static const char *sched_what(uint32_t what)
{
	return what == KS_SCHED_SWITCH ? "switch" : what == KS_SCHED_WAKEUP ? "wakeup" :
	       what == KS_SCHED_WAKEUP_NEW ? "wakeup_new" : "sched";
}

/* "OFFSET cpu=N switch PID/TID (S, faults=F) => PID/TID", "-" for an untraced side,
 * or "OFFSET cpu=N wakeup PID/TID". */
static void sched_text(FILE *f, const struct dumper *d, const struct ks_sched *e)
{
	char sb[16];

	put_offset(f, e->ts, d->base);
	fprintf(f, " cpu=%u %s ", e->cpu, sched_what(e->what));
	if (e->what != KS_SCHED_SWITCH) {
		fprintf(f, "%u/%u\n", e->prev_pid, e->prev_tid);
		return;
	}
	if (e->prev_tid)
		fprintf(f, "%u/%u (%s%s, faults=%u)", e->prev_pid, e->prev_tid,
			task_state(e->prev_state, sb),
			e->prev_state & KS_SCHED_PREEMPTED ? ", preempted" : "", e->faults);
	else
		fputc('-', f);
	if (e->next_tid)
		fprintf(f, " => %u/%u\n", e->next_pid, e->next_tid);
	else
		fputs(" => -\n", f);
}

static json_t *sched_json(const struct ks_schema *s, const struct ks_sched *e)
{
	json_t *o = row_json(s, e);
	char sb[16];

	if (o && (json_object_set_new(o, "event", json_string(sched_what(e->what))) ||
		  (e->what == KS_SCHED_SWITCH && e->prev_tid &&
		   (json_object_set_new(o, "state", json_string(task_state(e->prev_state, sb))) ||
		    json_object_set_new(o, "preempted",
					json_boolean(e->prev_state & KS_SCHED_PREEMPTED)))))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void generic_text(FILE *f, const struct dumper *d, const struct ks_schema *s,
			 const void *row)
{
	uint64_t ts;

	memcpy(&ts, (const char *)row + s->ts_offset, 8);
	put_offset(f, ts, d->base);
	fprintf(f, " %s", s->name);
	for (size_t i = 0; i < s->nfields; i++) {
		const struct ks_field *fd = &s->fields[i];
		const char *p = (const char *)row + fd->offset;

		if (fd->offset == s->ts_offset && !strcmp(fd->name, "ts"))
			continue;
		fprintf(f, " %s=", fd->name);
		if (fd->type == KS_F_STR)
			put_printable(f, p, strnlen(p, fd->size));
		else if (fd->type == KS_F_BYTES)
			put_printable(f, p, bytes_len(s, row, fd));
		else if (fd->type == KS_F_S32 || fd->type == KS_F_S64)
			fprintf(f, "%lld", (long long)field_u(row, fd));
		else
			fprintf(f, "%llu", (unsigned long long)field_u(row, fd));
	}
	fputc('\n', f);
}

/* Flags of a file change as words: baseline, correction, readback, more. */
static void file_flags_text(FILE *f, uint32_t flags)
{
	if (flags & KS_DF_BASELINE)
		fputs(" baseline", f);
	if (flags & KS_DF_CORRECTION)
		fputs(" correction", f);
	if (flags & KS_DF_READBACK)
		fputs(" readback", f);
	if (flags & KS_DF_MORE)
		fputs(" more", f);
}

/* "OFFSET PID/TID file OP PATH offset=N bytes=N seq=N [flags]". */
static int file_text(FILE *f, const struct dumper *d, const struct ks_file *e)
{
	const char *path;
	size_t len;
	int err = replay_file_path(d->t, e->file, &path, &len);

	if (err)
		return err;
	put_offset(f, e->ts, d->base);
	fprintf(f, " %u/%u file %s ", e->pid, e->tid, ks_delta_op_name(e->op));
	put_printable(f, path, len);
	fprintf(f, " offset=%llu bytes=%llu seq=%llu", (unsigned long long)e->offset,
		(unsigned long long)e->bytes, (unsigned long long)e->seq);
	file_flags_text(f, e->flags);
	fputc('\n', f);
	return 0;
}

/* Every field, and the op's name and the file's path. */
static json_t *file_json(const struct dumper *d, const struct ks_schema *s,
			 const struct ks_file *e, int *err)
{
	json_t *o = row_json(s, e);
	const char *path;
	size_t len;

	*err = replay_file_path(d->t, e->file, &path, &len);
	if (*err) {
		json_decref(o);
		return NULL;
	}
	if (o && (json_object_set_new(o, "op_name", json_string(ks_delta_op_name(e->op))) ||
		  json_object_set_new(o, "path", report_json_text(path, len)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int put_json_line(FILE *f, json_t *o)
{
	if (!o || json_dumpf(o, f, JSON_COMPACT)) {
		json_decref(o);
		return -ENOMEM;
	}
	json_decref(o);
	fputc('\n', f);
	return 0;
}

static int dump_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			const void *rows)
{
	struct dumper *d = ctx;
	const struct ks_schema *s = ks_schema_get(hdr->kind);
	int err = 0;

	(void)seq;
	if (hdr->kind == KS_KIND_SYSCALL) {
		const struct ks_syscall *r = rows;

		for (uint32_t i = 0; i < hdr->count; i++) {
			if (d->json)
				syscall_json(d->f, &r[i]);
			else
				syscall_text(d->f, d, &r[i]);
		}
	} else if (hdr->kind == KS_KIND_PROC) {
		const struct ks_proc *p = rows;

		for (uint32_t i = 0; i < hdr->count && !err; i++) {
			if (d->json)
				err = put_json_line(d->f, proc_json(s, &p[i]));
			else
				proc_text(d->f, d, &p[i]);
		}
	} else if (hdr->kind == KS_KIND_SCHED) {
		const struct ks_sched *e = rows;

		for (uint32_t i = 0; i < hdr->count && !err; i++) {
			if (d->json)
				err = put_json_line(d->f, sched_json(s, &e[i]));
			else
				sched_text(d->f, d, &e[i]);
		}
	} else if (hdr->kind == KS_KIND_FILE) {
		const struct ks_file *e = rows;

		for (uint32_t i = 0; i < hdr->count && !err; i++) {
			if (d->json) {
				json_t *o = file_json(d, s, &e[i], &err);

				err = err ?: put_json_line(d->f, o);
			} else {
				err = file_text(d->f, d, &e[i]);
			}
		}
	} else {
		for (uint32_t i = 0; i < hdr->count && !err; i++) {
			const void *row = (const char *)rows + (size_t)i * s->row_size;

			if (d->json)
				err = put_json_line(d->f, row_json(s, row));
			else
				generic_text(d->f, d, s, row);
		}
	}
	if (!err && ferror(d->f))
		err = -EIO;
	return err;
}

/* The first pass: every segment decodes, every file event names a file. */
static int verify_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			  const void *rows)
{
	struct dumper *d = ctx;
	const struct ks_file *e = rows;
	const char *path;
	size_t len;
	int err = 0;

	(void)seq;
	if (hdr->count && hdr->first_ts < d->first)
		d->first = hdr->first_ts;
	for (uint32_t i = 0; hdr->kind == KS_KIND_FILE && i < hdr->count && !err; i++)
		err = replay_file_path(d->t, e[i].file, &path, &len);
	return err;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct dumper d = { .f = stdout, .first = UINT64_MAX };
	struct replay_trace *t = NULL;
	char msg[2048];
	int c, err, rc = KS_EXIT_FAIL;

	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			d.json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return KS_EXIT_OK;
		default:
			return replay_bad_option("dump", c, argv);
		}
	}
	const char *file;
	int op = replay_trace_operand("dump", argc, argv, "give the trace file", &file);
	if (op >= 0)
		return op;
	if (replay_open_said(file, &t))
		return KS_EXIT_FAIL;
	d.t = t;
	err = replay_each_segment(t, 0, verify_segment, &d);
	if (err) {
		ks_error("%s", t->err);
		goto out;
	}
	if (replay_incomplete_line(t, msg, sizeof(msg)))
		ks_error("%s", msg);
	d.base = t->meta.have & RM_START ? t->meta.start_ns : d.first == UINT64_MAX ? 0 : d.first;
	err = argindex_load(&d.ix, t);
	err = err ?: replay_each_segment(t, 0, dump_segment, &d);
	if (!err && fflush(stdout))
		err = -errno;
	if (err) {
		if (t->err[0])
			ks_error("%s", t->err);
		else
			ks_error("dump: writing the output failed: %s", strerror(-err));
		goto out;
	}
	rc = KS_EXIT_OK;
out:
	argindex_free(&d.ix);
	replay_close(t);
	return rc;
}
