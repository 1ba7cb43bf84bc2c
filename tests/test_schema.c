/* Unit tests of the event schema tables (format/schema.c) and the error
 * messages (format/kserr.c): the tables are what the segment codec trusts. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "format/event.h"
#include "format/kserr.h"

static const struct ks_field *find(const struct ks_schema *s, const char *name)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].name, name) == 0)
			return &s->fields[i];
	return NULL;
}

static void check_field(const struct ks_schema *s, const struct ks_field *f)
{
	assert_non_null(f->name);
	assert_true(f->name[0] != '\0');
	assert_ptr_equal(find(s, f->name), f); /* names are unique */
	assert_true((size_t)f->offset + f->size <= s->row_size);
	assert_true((f->enc & ~(KS_ENC_BASE_MASK | KS_ENC_PLANES)) == 0);
	assert_true((f->enc & KS_ENC_BASE_MASK) <= KS_ENC_SYSRET);
	if ((f->enc & KS_ENC_BASE_MASK) == KS_ENC_SYSRET) {
		/* a syscall's ret, decoded after what predicts it */
		assert_int_equal(s->kind, KS_KIND_SYSCALL);
		assert_int_equal(f->offset, offsetof(struct ks_syscall, ret));
		for (const char *const *n = (const char *const[]){ "nr", "flags", "arg0", "arg1",
								  "arg2", NULL }; *n; n++)
			assert_true(find(s, *n) < f);
	}
	if ((f->enc & KS_ENC_BASE_MASK) == KS_ENC_GAP) {
		/* the ref is a U64 field decoded before this one */
		const struct ks_field *ref = f->ref_field ? find(s, f->ref_field) : NULL;

		assert_non_null(ref);
		assert_int_equal(ref->type, KS_F_U64);
		assert_true(ref < f);
	} else {
		assert_null(f->ref_field);
	}
	switch (f->type) {
	case KS_F_U32:
	case KS_F_S32:
		assert_int_equal(f->size, 4);
		break;
	case KS_F_U64:
	case KS_F_S64:
		assert_int_equal(f->size, 8);
		break;
	case KS_F_STR:
		assert_int_equal(f->enc, KS_ENC_PLAIN);
		assert_true(f->size > 0);
		break;
	case KS_F_BYTES: {
		const struct ks_field *len;

		assert_int_equal(f->enc, KS_ENC_PLAIN);
		assert_non_null(f->len_field);
		len = find(s, f->len_field);
		assert_non_null(len);
		assert_int_equal(len->type, KS_F_U32);
		break;
	}
	default:
		fail_msg("field %s has type %u", f->name, f->type);
	}
	if (f->type != KS_F_BYTES)
		assert_null(f->len_field);
}

/* No two fields share a byte of the row. */
static void check_no_overlap(const struct ks_schema *s)
{
	unsigned char used[8192] = { 0 };

	assert_true(s->row_size <= sizeof(used));
	for (size_t i = 0; i < s->nfields; i++)
		for (size_t b = 0; b < s->fields[i].size; b++) {
			assert_int_equal(used[s->fields[i].offset + b], 0);
			used[s->fields[i].offset + b] = 1;
		}
}

static void test_tables_consistent(void **state)
{
	unsigned known = 0;

	(void)state;
	for (unsigned k = 0; k < KS_KIND_MAX + 4; k++) {
		const struct ks_schema *s = ks_schema_get(k);
		const struct ks_field *ts;

		if (!s)
			continue;
		known++;
		assert_int_equal(s->kind, k);
		assert_int_equal(ks_kind_from_name(s->name), (int)k);
		assert_true(s->nfields > 0 && s->nfields <= 32);
		for (size_t i = 0; i < s->nfields; i++)
			check_field(s, &s->fields[i]);
		check_no_overlap(s);
		ts = find(s, "ts");
		assert_non_null(ts);
		assert_int_equal(ts->offset, s->ts_offset);
		assert_int_equal(ts->type, KS_F_U64);
		/* the tables of format 1 still read its segments */
		s = ks_schema_get_version(k, 1);
		for (size_t i = 0; i < s->nfields; i++)
			check_field(s, &s->fields[i]);
		check_no_overlap(s);
		assert_int_equal(s->row_size, ks_schema_get(k)->row_size);
	}
	assert_true(known >= 4); /* syscall, proc, sched, sample; file may follow */
}

static void expect(const struct ks_schema *s, const char *name, size_t offset,
		   unsigned type, unsigned enc)
{
	const struct ks_field *f = find(s, name);

	assert_non_null(f);
	assert_int_equal(f->offset, offset);
	assert_int_equal(f->type, type);
	assert_int_equal(f->enc, enc);
}

static void test_syscall_schema(void **state)
{
	const struct ks_schema *s = ks_schema_get(KS_KIND_SYSCALL);

	(void)state;
	assert_non_null(s);
	assert_string_equal(s->name, "syscall");
	assert_int_equal(s->row_size, sizeof(struct ks_syscall));
	assert_int_equal(s->nfields, 10);
	expect(s, "arg0", offsetof(struct ks_syscall, arg0), KS_F_S64, KS_ENC_PLAIN);
	expect(s, "arg2", offsetof(struct ks_syscall, arg2), KS_F_S64, KS_ENC_PLAIN);
	expect(s, "ts", offsetof(struct ks_syscall, ts), KS_F_U64, KS_ENC_GAP | KS_ENC_PLANES);
	expect(s, "dur", offsetof(struct ks_syscall, dur), KS_F_U64, KS_ENC_PLAIN | KS_ENC_PLANES);
	expect(s, "ret", offsetof(struct ks_syscall, ret), KS_F_S64, KS_ENC_SYSRET);
	expect(ks_schema_get_version(KS_KIND_SYSCALL, 1), "ret", offsetof(struct ks_syscall, ret),
	       KS_F_S64, KS_ENC_PLAIN);
	expect(s, "pid", offsetof(struct ks_syscall, pid), KS_F_U32, KS_ENC_DELTA);
	expect(s, "tid", offsetof(struct ks_syscall, tid), KS_F_U32, KS_ENC_DELTA);
	expect(s, "nr", offsetof(struct ks_syscall, nr), KS_F_U32, KS_ENC_PLAIN);
	expect(s, "flags", offsetof(struct ks_syscall, flags), KS_F_U32, KS_ENC_PLAIN);
}

static void test_proc_schema(void **state)
{
	const struct ks_schema *s = ks_schema_get(KS_KIND_PROC);

	(void)state;
	assert_non_null(s);
	assert_string_equal(s->name, "proc");
	assert_int_equal(s->row_size, sizeof(struct ks_proc));
	expect(s, "ts", offsetof(struct ks_proc, ts), KS_F_U64, KS_ENC_DELTA);
	expect(s, "what", offsetof(struct ks_proc, what), KS_F_U32, KS_ENC_PLAIN);
	expect(s, "pid", offsetof(struct ks_proc, pid), KS_F_U32, KS_ENC_DELTA);
	expect(s, "tid", offsetof(struct ks_proc, tid), KS_F_U32, KS_ENC_DELTA);
	expect(s, "ppid", offsetof(struct ks_proc, ppid), KS_F_U32, KS_ENC_DELTA);
	expect(s, "exit_code", offsetof(struct ks_proc, exit_code), KS_F_S32, KS_ENC_PLAIN);
	expect(s, "comm", offsetof(struct ks_proc, comm), KS_F_STR, KS_ENC_PLAIN);
	expect(s, "argv", offsetof(struct ks_proc, argv), KS_F_BYTES, KS_ENC_PLAIN);
	assert_int_equal(find(s, "comm")->size, KS_COMM_MAX);
	assert_int_equal(find(s, "argv")->size, KS_ARGV_MAX);
	assert_string_equal(find(s, "argv")->len_field, "argv_len");
}

static void test_kinds_without_schema(void **state)
{
	(void)state;
	assert_null(ks_schema_get(0));
	assert_non_null(ks_schema_get(KS_KIND_SCHED));
	assert_non_null(ks_schema_get(KS_KIND_SAMPLE));
	assert_null(ks_schema_get(KS_KIND_MAX - 1));
	assert_null(ks_schema_get(KS_KIND_MAX));
	assert_null(ks_schema_get(UINT_MAX));
}

static void test_kind_from_name(void **state)
{
	(void)state;
	assert_int_equal(ks_kind_from_name("syscall"), KS_KIND_SYSCALL);
	assert_int_equal(ks_kind_from_name("proc"), KS_KIND_PROC);
	assert_int_equal(ks_kind_from_name("Syscall"), -KS_EKIND);
	assert_int_equal(ks_kind_from_name("sched"), KS_KIND_SCHED);
	assert_int_equal(ks_kind_from_name("nosuchkind"), -KS_EKIND);
	assert_int_equal(ks_kind_from_name(""), -KS_EKIND);
	assert_int_equal(ks_kind_from_name(NULL), -KS_EKIND);
}

static void test_strerror(void **state)
{
	const char *unknown = ks_strerror(-(KS_ERR_BASE + 1000000));

	(void)state;
	for (int e = KS_ERR_BASE + 1; e < KS_ERR_END; e++) {
		const char *m = ks_strerror(-e);

		assert_non_null(m);
		assert_true(strlen(m) > 5);
		assert_string_not_equal(m, "unknown ksight error");
		assert_ptr_equal(ks_strerror(e), m);
		for (int o = KS_ERR_BASE + 1; o < e; o++)
			assert_string_not_equal(ks_strerror(-o), m);
	}
	assert_string_equal(ks_strerror(0), "success");
	assert_string_equal(ks_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(ks_strerror(-ENOMEM), strerror(ENOMEM));
	assert_string_equal(ks_strerror(EINVAL), strerror(EINVAL));
	assert_non_null(unknown);
	assert_non_null(ks_strerror(INT_MIN));
	assert_non_null(ks_strerror(INT_MAX));
	assert_non_null(ks_strerror(-KS_ERR_BASE));
	assert_non_null(ks_strerror(-KS_ERR_END));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_consistent),
		cmocka_unit_test(test_syscall_schema),
		cmocka_unit_test(test_proc_schema),
		cmocka_unit_test(test_kinds_without_schema),
		cmocka_unit_test(test_kind_from_name),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
