/* Unit tests of the interning of sample stacks for the Perfetto export
 * (replay/perfetto_stacks.c): callstacks outermost frame first, every frame,
 * name and mapping sent once per sequence state, iids never reused after a
 * reset, and a stack the table lacks made one "[missing stack]" frame. The
 * oracle is the stack table built here by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "format/event.h"
#include "format/stack.h"
#include "replay/perfetto_stacks.h"

typedef Perfetto__Protos__InternedData Interned;

static void add_row(struct ks_symtab *s, uint32_t what, uint64_t id, uint64_t off,
		    const void *data, size_t len)
{
	struct ks_stack_row r = { .what = what, .id = id, .off = off, .data_len = (uint32_t)len };

	memcpy(r.data, data, len);
	assert_int_equal(ks_symtab_add(s, &r), 0);
}

static void add_stack(struct ks_symtab *s, uint64_t id, const struct ks_frame *f, unsigned nk,
		      unsigned nu)
{
	uint8_t buf[KS_STACK_DATA_MAX];
	int n = ks_frames_encode(f, nk, nu, buf, sizeof(buf));

	assert_true(n > 0);
	add_row(s, KS_STACK_FRAMES, id, 0, buf, (size_t)n);
}

/* Kernel frames 0xa0, 0xb0 (innermost first), then user 0x10, 0x20, 0x30 of
 * module 1 (innermost first): stack 1; stack 2 shares the user part. */
static const struct ks_frame k1[] = { { KS_KERNEL_MODULE, 0, 0xa0 }, { KS_KERNEL_MODULE, 0, 0xb0 },
				      { 1, 0, 0x10 }, { 1, 0, 0x20 }, { 1, 0, 0x30 } };
static const struct ks_frame k2[] = { { KS_KERNEL_MODULE, 0, 0xc0 }, { 1, 0, 0x10 },
				      { 1, 0, 0x20 }, { 1, 0, 0x30 } };

static int setup(void **state)
{
	struct ks_symtab *s;
	static const char mod[] = "/usr/bin/prog\0abcd";
	static const struct { uint32_t m; uint64_t off; const char *name; } syms[] = {
		{ 0, 0xa0, "k_inner" }, { 0, 0xb0, "k_outer" }, { 0, 0xc0, "k_other" },
		{ 1, 0x10, "leaf" }, { 1, 0x20, "middle" }, { 1, 0x30, "main" },
	};

	assert_int_equal(ks_symtab_new(false, &s), 0);
	add_row(s, KS_STACK_MODULE, 1, 0, mod, sizeof(mod));
	for (size_t i = 0; i < sizeof(syms) / sizeof(*syms); i++)
		add_row(s, KS_STACK_SYMBOL, syms[i].m, syms[i].off, syms[i].name,
			strlen(syms[i].name) + 1);
	add_stack(s, 1, k1, 2, 3);
	add_stack(s, 2, k2, 1, 3);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	ks_symtab_free(*state);
	return 0;
}

/* The function names of the callstack in in, outermost first. */
static void names_of(const Interned *in, char out[][32], size_t *n)
{
	const Perfetto__Protos__Callstack *cs = in->callstacks[0];

	*n = cs->n_frame_ids;
	for (size_t i = 0; i < cs->n_frame_ids; i++) {
		const Perfetto__Protos__Frame *f = NULL;

		for (size_t k = 0; k < in->n_frames; k++)
			if (in->frames[k]->iid == cs->frame_ids[i])
				f = in->frames[k];
		assert_non_null(f);
		out[i][0] = 0;
		for (size_t k = 0; k < in->n_function_names; k++)
			if (in->function_names[k]->iid == f->function_name_id)
				snprintf(out[i], 32, "%.*s", (int)in->function_names[k]->str.len,
					 (const char *)in->function_names[k]->str.data);
	}
}

static void callstack_outermost_first(void **state)
{
	struct pf_stacks *x;
	Interned in = PERFETTO__PROTOS__INTERNED_DATA__INIT;
	char names[8][32];
	uint64_t iid, again;
	bool kernel;
	size_t n;

	assert_int_equal(pf_stacks_new(*state, &x), 0);
	assert_int_equal(pf_stacks_intern(x, 1, &in, &iid, &kernel), 0);
	assert_true(kernel);
	assert_int_equal(in.n_callstacks, 1);
	assert_int_equal(in.callstacks[0]->iid, iid);
	assert_int_equal(in.n_frames, 5);
	names_of(&in, names, &n);
	assert_int_equal(n, 5);
	assert_string_equal(names[0], "main");
	assert_string_equal(names[1], "middle");
	assert_string_equal(names[2], "leaf");
	assert_string_equal(names[3], "k_outer");
	assert_string_equal(names[4], "k_inner");
	/* two modules: the program (by its file name) and the kernel */
	assert_int_equal(in.n_mappings, 2);
	assert_int_equal(in.n_mapping_paths, 2);
	assert_int_equal((int)in.mapping_paths[0]->str.len, 4);
	assert_memory_equal(in.mapping_paths[0]->str.data, "prog", 4);
	assert_int_equal(in.frames[0]->rel_pc, 0x30);
	/* a second sample of it: nothing new to send */
	Interned in2 = PERFETTO__PROTOS__INTERNED_DATA__INIT;

	assert_int_equal(pf_stacks_intern(x, 1, &in2, &again, &kernel), 0);
	assert_int_equal(again, iid);
	assert_int_equal(in2.n_callstacks + in2.n_frames + in2.n_function_names + in2.n_mappings, 0);
	pf_stacks_free(x);
}

static void shared_frames_are_sent_once(void **state)
{
	struct pf_stacks *x;
	Interned a = PERFETTO__PROTOS__INTERNED_DATA__INIT, b = PERFETTO__PROTOS__INTERNED_DATA__INIT;
	uint64_t ia, ib;
	bool kernel;

	assert_int_equal(pf_stacks_new(*state, &x), 0);
	assert_int_equal(pf_stacks_intern(x, 1, &a, &ia, &kernel), 0);
	assert_int_equal(pf_stacks_intern(x, 2, &b, &ib, &kernel), 0);
	assert_int_not_equal(ia, ib);
	/* only k_other is new: one frame, one name, no mapping */
	assert_int_equal(b.n_frames, 1);
	assert_int_equal(b.n_function_names, 1);
	assert_int_equal(b.n_mappings, 0);
	assert_int_equal(b.callstacks[0]->n_frame_ids, 4);
	/* a stack the table lacks: one named frame, not a failure */
	Interned c = PERFETTO__PROTOS__INTERNED_DATA__INIT;
	char names[8][32];
	size_t n;

	assert_int_equal(pf_stacks_intern(x, 99, &c, &ia, &kernel), 0);
	assert_false(kernel);
	names_of(&c, names, &n);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "[missing stack]");
	pf_stacks_free(x);
}

static void clear_sends_again_with_new_iids(void **state)
{
	struct pf_stacks *x;
	Interned a = PERFETTO__PROTOS__INTERNED_DATA__INIT, b = PERFETTO__PROTOS__INTERNED_DATA__INIT;
	uint64_t ia, ib, max = 0;
	bool kernel;

	assert_int_equal(pf_stacks_new(*state, &x), 0);
	assert_int_equal(pf_stacks_intern(x, 1, &a, &ia, &kernel), 0);
	/* 5 frames, 5 names, 2 mappings with a path each, 1 callstack */
	assert_int_equal(pf_stacks_entries(x), 5 + 5 + 2 * 2 + 1);
	for (size_t i = 0; i < a.n_frames; i++)
		max = a.frames[i]->iid > max ? a.frames[i]->iid : max;
	max = ia > max ? ia : max;
	pf_stacks_clear(x);
	assert_int_equal(pf_stacks_entries(x), 0);
	assert_int_equal(pf_stacks_intern(x, 1, &b, &ib, &kernel), 0);
	assert_int_equal(b.n_frames, 5);
	assert_int_equal(b.n_function_names, 5);
	assert_true(ib > max);
	for (size_t i = 0; i < b.n_frames; i++)
		assert_true(b.frames[i]->iid > max);
	/* what it sends packs into a valid message */
	Perfetto__Protos__TracePacket pk = PERFETTO__PROTOS__TRACE_PACKET__INIT;
	uint8_t buf[4096];
	size_t len;
	Perfetto__Protos__TracePacket *back;

	pk.interned_data = &b;
	len = perfetto__protos__trace_packet__get_packed_size(&pk);
	assert_true(len < sizeof(buf));
	perfetto__protos__trace_packet__pack(&pk, buf);
	back = perfetto__protos__trace_packet__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->interned_data->n_frames, 5);
	assert_int_equal(back->interned_data->callstacks[0]->n_frame_ids, 5);
	perfetto__protos__trace_packet__free_unpacked(back, NULL);
	pf_stacks_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(callstack_outermost_first),
		cmocka_unit_test(shared_frames_are_sent_once),
		cmocka_unit_test(clear_sends_again_with_new_iids),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
