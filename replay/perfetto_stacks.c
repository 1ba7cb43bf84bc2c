/* replay: CPU sample stacks interned for the Perfetto export (see
 * replay/perfetto_stacks.h). Frames are keyed by (module, offset), function
 * names by their text, mappings by module; one iid counter serves every table,
 * so an iid never names two values, even across a reset. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay/perfetto_stacks.h"
#include "util/grow.h"
#include "util/hmap.h"

#define PKT_MAX (KS_FRAMES_MAX + 1) /* new entries of one kind in one packet */

typedef Perfetto__Protos__InternedString Str;

struct frame_key {
	uint32_t module;
	uint64_t off, iid;
};

struct name_key {
	const char *name; /* lives in the symbol table */
	uint64_t iid;
};

struct pf_stacks {
	struct ks_symtab *sym;
	struct ks_hmap stacks; /* stack id -> callstack iid << 1 | has kernel frames */
	struct ks_hmap frames; /* hash(module, off) -> index in fk (multimap) */
	struct frame_key *fk;
	size_t nfk, capfk;
	struct ks_hmap names;  /* hash(name) -> index in nk (multimap) */
	struct name_key *nk;
	size_t nnk, capnk;
	struct ks_hmap maps;   /* module -> mapping iid */
	uint64_t next_iid;
	size_t entries;
	/* the new entries of the packet being built */
	Perfetto__Protos__Callstack cs, *csp;
	uint64_t ids[PKT_MAX];
	Perfetto__Protos__Frame fr[PKT_MAX], *frp[PKT_MAX];
	Str fn[PKT_MAX], *fnp[PKT_MAX];
	Perfetto__Protos__Mapping map[PKT_MAX], *mapp[PKT_MAX];
	Str path[PKT_MAX], *pathp[PKT_MAX];
	uint64_t pathid[PKT_MAX];
};

int pf_stacks_new(struct ks_symtab *sym, struct pf_stacks **out)
{
	struct pf_stacks *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	x->sym = sym;
	x->csp = &x->cs;
	*out = x;
	return 0;
}

void pf_stacks_free(struct pf_stacks *x)
{
	if (!x)
		return;
	ks_hmap_free(&x->stacks);
	ks_hmap_free(&x->frames);
	ks_hmap_free(&x->names);
	ks_hmap_free(&x->maps);
	free(x->fk);
	free(x->nk);
	free(x);
}

size_t pf_stacks_entries(const struct pf_stacks *x)
{
	return x->entries;
}

void pf_stacks_clear(struct pf_stacks *x)
{
	ks_hmap_clear(&x->stacks);
	ks_hmap_clear(&x->frames);
	ks_hmap_clear(&x->names);
	ks_hmap_clear(&x->maps);
	x->nfk = x->nnk = 0;
	x->entries = 0;
}

static void set_str(Str *s, uint64_t iid, const char *text)
{
	perfetto__protos__interned_string__init(s);
	s->has_iid = 1;
	s->iid = iid;
	s->has_str = 1;
	s->str.len = strlen(text);
	s->str.data = (uint8_t *)text;
}

static int name_iid(struct pf_stacks *x, const char *name, Perfetto__Protos__InternedData *in,
		    uint64_t *iid)
{
	uint64_t h = ks_hash_bytes(name, strlen(name));

	for (uint64_t *v = ks_hmap_get(&x->names, h); v; v = ks_hmap_next(&x->names, h, v))
		if (!strcmp(x->nk[*v].name, name)) {
			*iid = x->nk[*v].iid;
			return 0;
		}
	if (KS_GROW(&x->nk, &x->capnk, x->nnk + 1) || ks_hmap_add(&x->names, h, x->nnk))
		return -ENOMEM;
	*iid = ++x->next_iid;
	x->nk[x->nnk++] = (struct name_key){ name, *iid };
	set_str(&x->fn[in->n_function_names], *iid, name);
	x->fnp[in->n_function_names] = &x->fn[in->n_function_names];
	in->n_function_names++;
	in->function_names = x->fnp;
	x->entries++;
	return 0;
}

static int mapping_iid(struct pf_stacks *x, uint32_t module, Perfetto__Protos__InternedData *in,
		       uint64_t *iid)
{
	Perfetto__Protos__Mapping *m = &x->map[in->n_mappings];
	size_t k = in->n_mappings;
	bool added;
	uint64_t *v = ks_hmap_upsert(&x->maps, module, 0, &added);

	if (!v)
		return -ENOMEM;
	if (!added) {
		*iid = *v;
		return 0;
	}
	/* the file's short name, one path string of its own */
	set_str(&x->path[k], ++x->next_iid, ks_symtab_module(x->sym, module));
	x->pathp[k] = &x->path[k];
	x->pathid[k] = x->path[k].iid;
	in->n_mapping_paths = k + 1;
	in->mapping_paths = x->pathp;
	perfetto__protos__mapping__init(m);
	m->has_iid = 1;
	m->iid = *v = *iid = ++x->next_iid;
	m->n_path_string_ids = 1;
	m->path_string_ids = &x->pathid[k];
	x->mapp[k] = m;
	in->n_mappings = k + 1;
	in->mappings = x->mapp;
	x->entries += 2;
	return 0;
}

static int frame_iid(struct pf_stacks *x, uint32_t module, uint64_t off, const char *name,
		     Perfetto__Protos__InternedData *in, uint64_t *iid)
{
	uint64_t h = ks_hash_u64(off ^ ks_hash_u64(module));
	Perfetto__Protos__Frame *f;
	uint64_t fid, mid;
	int err;

	for (uint64_t *v = ks_hmap_get(&x->frames, h); v; v = ks_hmap_next(&x->frames, h, v))
		if (x->fk[*v].module == module && x->fk[*v].off == off) {
			*iid = x->fk[*v].iid;
			return 0;
		}
	err = name_iid(x, name, in, &fid);
	err = err ?: mapping_iid(x, module, in, &mid);
	if (err || KS_GROW(&x->fk, &x->capfk, x->nfk + 1) || ks_hmap_add(&x->frames, h, x->nfk))
		return -ENOMEM;
	*iid = ++x->next_iid;
	x->fk[x->nfk++] = (struct frame_key){ module, off, *iid };
	f = &x->fr[in->n_frames];
	perfetto__protos__frame__init(f);
	f->has_iid = f->has_function_name_id = f->has_mapping_id = f->has_rel_pc = 1;
	f->iid = *iid;
	f->function_name_id = fid;
	f->mapping_id = mid;
	f->rel_pc = off;
	x->frp[in->n_frames++] = f;
	in->frames = x->frp;
	x->entries++;
	return 0;
}

int pf_stacks_intern(struct pf_stacks *x, uint64_t stack, Perfetto__Protos__InternedData *in,
		     uint64_t *iid, bool *kernel)
{
	uint64_t *v = ks_hmap_get(&x->stacks, stack);
	const struct ks_frame *f;
	unsigned nk = 0, nu = 0, n = 0;
	int err = 0;

	if (v) {
		*iid = *v >> 1;
		*kernel = *v & 1;
		return 0;
	}
	if (ks_symtab_stack(x->sym, stack, &f, &nk, &nu)) {
		err = frame_iid(x, KS_UNKNOWN_MODULE, UINT64_MAX, "[missing stack]", in, &x->ids[n++]);
		nk = nu = 0;
	}
	/* outermost first: the user part from its root, then the kernel part */
	for (unsigned i = nk + nu; i-- > nk && !err;)
		err = frame_iid(x, f[i].module, f[i].off, ks_symtab_name(x->sym, &f[i], NULL), in,
				&x->ids[n++]);
	for (unsigned i = nk; i-- > 0 && !err;)
		err = frame_iid(x, f[i].module, f[i].off, ks_symtab_name(x->sym, &f[i], NULL), in,
				&x->ids[n++]);
	if (err)
		return err;
	*iid = ++x->next_iid;
	*kernel = nk > 0;
	if (ks_hmap_put(&x->stacks, stack, *iid << 1 | *kernel))
		return -ENOMEM;
	perfetto__protos__callstack__init(&x->cs);
	x->cs.has_iid = 1;
	x->cs.iid = *iid;
	x->cs.n_frame_ids = n;
	x->cs.frame_ids = x->ids;
	in->n_callstacks = 1;
	in->callstacks = &x->csp;
	x->entries++;
	return 0;
}
