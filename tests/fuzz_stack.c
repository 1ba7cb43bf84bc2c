/* libFuzzer target of the stack table's readers: the frame decoder
 * (format/stack.c) on the raw input, then the input cut into stack-table rows
 * (what, id, offset, length, data) loaded into a table (replay/symbols.c) whose
 * every stack is then named, as `stacks` and `report` name them (from the rows
 * only: no live files). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/event.h"
#include "format/stack.h"
#include "replay/symbols.h"

static uint64_t take(const uint8_t **p, const uint8_t *end, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n && *p < end; i++)
		v |= (uint64_t)*(*p)++ << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_frame f[KS_FRAMES_MAX];
	const uint8_t *p = data, *end = data + size;
	static struct ks_stack_row r;
	struct ks_symtab *s;
	unsigned nk, nu;
	uint64_t maxid = 0;

	if (!ks_frames_decode(data, size, f, &nk, &nu) && nk + nu > KS_FRAMES_MAX)
		abort();
	if (ks_symtab_new(false, &s))
		abort();
	while (p < end) {
		size_t len;

		memset(&r, 0, offsetof(struct ks_stack_row, data));
		r.what = take(&p, end, 1) % 4;
		r.id = take(&p, end, 1);
		r.off = take(&p, end, 2);
		len = take(&p, end, 2);
		r.data_len = len; /* may claim more than the field holds */
		len = len < (size_t)(end - p) ? len : (size_t)(end - p);
		len = len < KS_STACK_DATA_MAX ? len : KS_STACK_DATA_MAX;
		memcpy(r.data, p, len);
		p += len;
		if (r.id > maxid)
			maxid = r.id;
		if (ks_symtab_add(s, &r) == -12 /* ENOMEM */)
			abort();
	}
	for (uint64_t id = 0; id <= maxid; id++) {
		const struct ks_frame *sf;

		if (ks_symtab_stack(s, id, &sf, &nk, &nu))
			continue;
		for (unsigned i = 0; i < nk + nu; i++) {
			const char *name = ks_symtab_name(s, &sf[i], NULL);

			if (!name || !ks_symtab_module(s, sf[i].module))
				abort();
			(void)strlen(name);
		}
	}
	ks_symtab_free(s);
	return 0;
}
