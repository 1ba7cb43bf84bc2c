/* replay: the offline symbolizer (libdwfl) and the trace's stack table, see
 * replay/symbols.h. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <elfutils/libdwfl.h>

#include "format/event.h"
#include "format/kserr.h"
#include "replay/symbols.h"
#include "util/grow.h"
#include "util/hmap.h"

/* ---- the ELF symbolizer ------------------------------------------------------- */

struct elf_file {
	char *key;      /* path NUL build-id */
	size_t klen;
	Dwfl *dwfl;     /* NULL: nothing usable */
	Dwfl_Module *mod;
	GElf_Addr bias;
	Elf *elf;
};

struct ks_elfsym {
	struct ks_hmap by_key; /* hash(key) -> index in f[] (multimap) */
	struct elf_file *f;
	size_t n, cap;
	Dwfl_Callbacks cb;
	char *dwfl_path;       /* libdwfl's search path: the file's dir, .debug, debug_dir */
	char debug_dir[256];
};

int ks_elfsym_new(struct ks_elfsym **out)
{
	struct ks_elfsym *es = calloc(1, sizeof(*es));

	if (!es)
		return -ENOMEM;
	elf_version(EV_CURRENT);
	es->cb = (Dwfl_Callbacks){
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.section_address = dwfl_offline_section_address,
		.debuginfo_path = &es->dwfl_path,
	};
	if (ks_elfsym_set_debug_dir(es, "/usr/lib/debug")) {
		free(es);
		return -ENOMEM;
	}
	*out = es;
	return 0;
}

int ks_elfsym_set_debug_dir(struct ks_elfsym *es, const char *dir)
{
	char *p;

	if (strlen(dir) >= sizeof(es->debug_dir))
		return -ENAMETOOLONG;
	if (asprintf(&p, ":.debug:%s", dir) < 0)
		return -ENOMEM;
	free(es->dwfl_path);
	es->dwfl_path = p;
	snprintf(es->debug_dir, sizeof(es->debug_dir), "%s", dir);
	return 0;
}

void ks_elfsym_free(struct ks_elfsym *es)
{
	if (!es)
		return;
	for (size_t i = 0; i < es->n; i++) {
		if (es->f[i].dwfl)
			dwfl_end(es->f[i].dwfl);
		free(es->f[i].key);
	}
	free(es->f);
	free(es->dwfl_path);
	ks_hmap_free(&es->by_key);
	free(es);
}

static void hex_id(const unsigned char *id, int len, char *out, size_t size)
{
	out[0] = 0;
	for (int i = 0; i < len && (size_t)(2 * i + 2) < size; i++)
		sprintf(out + 2 * i, "%02x", id[i]);
}

/* Reports file (path) into a new Dwfl; keeps it when its build-id is want (or
 * want is empty). */
static int report(struct ks_elfsym *es, struct elf_file *ef, const char *path, const char *want)
{
	const unsigned char *id;
	GElf_Addr vaddr;
	char have[64];
	int fd, len;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ef->dwfl = dwfl_begin(&es->cb);
	if (!ef->dwfl) {
		close(fd);
		return -ENOMEM;
	}
	/* the fd is the library's from here on */
	ef->mod = dwfl_report_offline(ef->dwfl, "", path, fd);
	dwfl_report_end(ef->dwfl, NULL, NULL);
	if (!ef->mod)
		goto fail;
	len = dwfl_module_build_id(ef->mod, &id, &vaddr);
	hex_id(id, len > 0 ? len : 0, have, sizeof(have));
	if (want && want[0] && strcmp(have, want))
		goto fail;
	ef->elf = dwfl_module_getelf(ef->mod, &ef->bias);
	if (!ef->elf)
		goto fail;
	return 0;
fail:
	dwfl_end(ef->dwfl);
	ef->dwfl = NULL;
	ef->mod = NULL;
	return -ENOENT;
}

static int open_file(struct ks_elfsym *es, struct elf_file *ef, const char *path,
		     const char *build_id)
{
	char dbg[512];

	if (path[0] == '/' && !report(es, ef, path, build_id))
		return 0;
	/* the file is gone or was rebuilt: its debug file by build-id, if installed */
	if (!build_id || strlen(build_id) < 3 || strlen(build_id) > 40)
		return -ENOENT;
	snprintf(dbg, sizeof(dbg), "%s/.build-id/%.2s/%s.debug", es->debug_dir, build_id,
		 build_id + 2);
	return report(es, ef, dbg, build_id);
}

static struct elf_file *file_get(struct ks_elfsym *es, const char *path, const char *build_id)
{
	size_t pl = strlen(path), bl = build_id ? strlen(build_id) : 0, klen = pl + 1 + bl;
	char *key = malloc(klen + 1);
	struct elf_file *ef;
	uint64_t h;

	if (!key)
		return NULL;
	memcpy(key, path, pl + 1);
	memcpy(key + pl + 1, bl ? build_id : "", bl + 1);
	h = ks_hash_bytes(key, klen);
	for (uint64_t *v = ks_hmap_get(&es->by_key, h); v; v = ks_hmap_next(&es->by_key, h, v))
		if (es->f[*v].klen == klen && !memcmp(es->f[*v].key, key, klen)) {
			free(key);
			return &es->f[*v];
		}
	if (KS_GROW(&es->f, &es->cap, es->n + 1) || ks_hmap_add(&es->by_key, h, es->n)) {
		free(key);
		return NULL;
	}
	ef = &es->f[es->n++];
	memset(ef, 0, sizeof(*ef));
	ef->key = key;
	ef->klen = klen;
	open_file(es, ef, path, build_id);
	return ef;
}

/* The virtual address of file offset off, from the program headers. */
static int off_to_vaddr(Elf *e, uint64_t off, GElf_Addr *vaddr)
{
	size_t n;

	if (elf_getphdrnum(e, &n))
		return -ENOENT;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (off >= ph.p_offset && off < ph.p_offset + ph.p_memsz) {
			*vaddr = off - ph.p_offset + ph.p_vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

static int resolve(struct ks_elfsym *es, const char *path, const char *build_id, bool is_off,
		   uint64_t at, char *name, size_t size)
{
	struct elf_file *ef = file_get(es, path, build_id);
	GElf_Addr vaddr = at;
	const char *s;

	if (!ef)
		return -ENOMEM;
	if (!ef->dwfl || (is_off && off_to_vaddr(ef->elf, at, &vaddr)))
		return -ENOENT;
	s = dwfl_module_addrname(ef->mod, vaddr + ef->bias);
	if (!s || !s[0])
		return -ENOENT;
	/* "memcpy@GLIBC_2.14" from .dynsym: the version is not part of the name */
	snprintf(name, size, "%.*s", (int)strcspn(s, "@"), s);
	return 0;
}

int ks_elfsym_resolve(struct ks_elfsym *es, const char *path, const char *build_id,
		      uint64_t off, char *name, size_t size)
{
	return resolve(es, path, build_id, true, off, name, size);
}

int ks_elfsym_resolve_vaddr(struct ks_elfsym *es, const char *path, const char *build_id,
			    uint64_t vaddr, char *name, size_t size)
{
	return resolve(es, path, build_id, false, vaddr, name, size);
}

/* ---- the trace's stack table -------------------------------------------------- */

struct stack_ent {
	size_t frame0; /* index in frames[] */
	uint16_t nk, nu;
};

struct module_ent {
	char *path, *build_id, *base;
	uint64_t seg[8][3]; /* file offset, address, size of each loadable segment */
	unsigned nseg;
};

struct sym_ent {
	uint32_t module;
	uint64_t off;
	char *name;
	uint8_t how; /* 1 archived, 2 live, 3 unnamed */
};

struct ks_symtab {
	struct ks_hmap stack_by_id; /* stack id -> index in stacks[] */
	struct stack_ent *stacks;
	size_t nstacks, capstacks;
	struct ks_frame *frames;
	size_t nframes, capframes;
	struct ks_hmap mod_by_id;   /* module id -> index in mods[] */
	struct module_ent *mods;
	size_t nmods, capmods;
	struct ks_hmap sym_by_key;  /* hash(module, off) -> index in syms[] (multimap) */
	struct sym_ent *syms;
	size_t nsyms, capsyms;
	struct ks_elfsym *es;       /* live naming, NULL when off */
	uint64_t counts[4];
	int err;
};

static uint64_t sym_hash(uint32_t module, uint64_t off)
{
	return ks_hash_u64(off ^ ks_hash_u64(module));
}

static struct sym_ent *sym_find(const struct ks_symtab *s, uint32_t module, uint64_t off)
{
	uint64_t h = sym_hash(module, off);

	for (uint64_t *v = ks_hmap_get(&s->sym_by_key, h); v; v = ks_hmap_next(&s->sym_by_key, h, v))
		if (s->syms[*v].module == module && s->syms[*v].off == off)
			return &s->syms[*v];
	return NULL;
}

static struct sym_ent *sym_add(struct ks_symtab *s, uint32_t module, uint64_t off, char *name,
			       uint8_t how)
{
	if (KS_GROW(&s->syms, &s->capsyms, s->nsyms + 1) ||
	    ks_hmap_add(&s->sym_by_key, sym_hash(module, off), s->nsyms)) {
		free(name);
		return NULL;
	}
	s->syms[s->nsyms] = (struct sym_ent){ .module = module, .off = off, .name = name, .how = how };
	return &s->syms[s->nsyms++];
}

int ks_symtab_add(struct ks_symtab *s, const struct ks_stack_row *r)
{
	size_t len = r->data_len < KS_STACK_DATA_MAX ? r->data_len : KS_STACK_DATA_MAX;

	switch (r->what) {
	case KS_STACK_FRAMES: {
		struct ks_frame f[KS_FRAMES_MAX];
		unsigned nk, nu;
		int err = ks_frames_decode((const uint8_t *)r->data, len, f, &nk, &nu);

		if (err)
			return err;
		if (ks_hmap_get(&s->stack_by_id, r->id))
			return 0;
		err = KS_GROW(&s->stacks, &s->capstacks, s->nstacks + 1);
		err = err ?: KS_GROW(&s->frames, &s->capframes, s->nframes + nk + nu);
		err = err ?: ks_hmap_put(&s->stack_by_id, r->id, s->nstacks);
		if (err)
			return err;
		if (nk + nu)
			memcpy(s->frames + s->nframes, f, (nk + nu) * sizeof(*f));
		s->stacks[s->nstacks++] = (struct stack_ent){ .frame0 = s->nframes, .nk = nk, .nu = nu };
		s->nframes += nk + nu;
		return 0;
	}
	case KS_STACK_MODULE: {
		struct module_ent *m;
		size_t pl = strnlen(r->data, len);
		const char *slash;

		if (ks_hmap_get(&s->mod_by_id, r->id))
			return 0;
		if (KS_GROW(&s->mods, &s->capmods, s->nmods + 1) ||
		    ks_hmap_put(&s->mod_by_id, r->id, s->nmods))
			return -ENOMEM;
		m = &s->mods[s->nmods];
		m->path = strndup(r->data, pl);
		m->build_id = pl < len ? strndup(r->data + pl + 1, len - pl - 1) : strdup("");
		m->nseg = 0;
		if (m->build_id) {
			size_t segs = pl + 1 + strlen(m->build_id) + 1;

			for (; segs + 24 <= len && m->nseg < 8; segs += 24, m->nseg++)
				for (int k = 0; k < 3; k++) {
					uint64_t v;

					memcpy(&v, r->data + segs + 8 * k, 8);
					m->seg[m->nseg][k] = le64toh(v);
				}
		}
		if (!m->path || !m->build_id) {
			free(m->path);
			free(m->build_id);
			return -ENOMEM;
		}
		slash = strrchr(m->path, '/');
		m->base = slash ? (char *)slash + 1 : m->path;
		s->nmods++;
		return 0;
	}
	case KS_STACK_SYMBOL: {
		char *name;

		if (r->id > UINT32_MAX || sym_find(s, (uint32_t)r->id, r->off))
			return 0;
		name = strndup(r->data, strnlen(r->data, len));
		if (!name || !sym_add(s, (uint32_t)r->id, r->off, name, 1))
			return -ENOMEM;
		return 0;
	}
	}
	return 0; /* rows of a later version */
}

static int on_stack_segment(void *ctx, const struct ks_seg_header *hdr, uint64_t seq,
			    const void *rows)
{
	struct ks_symtab *s = ctx;
	const struct ks_stack_row *r = rows;

	(void)seq;
	for (uint32_t i = 0; i < hdr->count; i++) {
		int err = ks_symtab_add(s, &r[i]);

		if (err) {
			s->err = err;
			return err;
		}
	}
	return 0;
}

int ks_symtab_new(bool live, struct ks_symtab **out)
{
	struct ks_symtab *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	err = live ? ks_elfsym_new(&s->es) : 0;
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	return 0;
}

int ks_symtab_load(struct replay_trace *t, bool live, struct ks_symtab **out)
{
	struct ks_symtab *s;
	int err;

	err = ks_symtab_new(live, &s);
	if (err)
		return err;
	err = replay_each_segment(t, KS_KIND_STACK, on_stack_segment, s);
	if (err && s->err && s->err != -ENOMEM)
		replay_fail(t, s->err, "the stack table: %s", ks_strerror(s->err));
	if (err) {
		ks_symtab_free(s);
		return err;
	}
	*out = s;
	return 0;
}

void ks_symtab_free(struct ks_symtab *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nmods; i++) {
		free(s->mods[i].path);
		free(s->mods[i].build_id);
	}
	for (size_t i = 0; i < s->nsyms; i++)
		free(s->syms[i].name);
	ks_elfsym_free(s->es);
	ks_hmap_free(&s->stack_by_id);
	ks_hmap_free(&s->mod_by_id);
	ks_hmap_free(&s->sym_by_key);
	free(s->stacks);
	free(s->frames);
	free(s->mods);
	free(s->syms);
	free(s);
}

int ks_symtab_stack(const struct ks_symtab *s, uint64_t id, const struct ks_frame **f,
		    unsigned *nk, unsigned *nu)
{
	uint64_t *i = ks_hmap_get(&s->stack_by_id, id);

	static const struct ks_frame none;

	if (!i)
		return -ENOENT;
	*f = s->frames ? s->frames + s->stacks[*i].frame0 : &none;
	*nk = s->stacks[*i].nk;
	*nu = s->stacks[*i].nu;
	return 0;
}

static const struct module_ent *module_get(const struct ks_symtab *s, uint32_t module)
{
	uint64_t *i = ks_hmap_get(&s->mod_by_id, module);

	return i ? &s->mods[*i] : NULL;
}

const char *ks_symtab_module(const struct ks_symtab *s, uint32_t module)
{
	const struct module_ent *m;

	if (module == KS_KERNEL_MODULE)
		return "[kernel]";
	m = module != KS_UNKNOWN_MODULE ? module_get(s, module) : NULL;
	return m ? m->base : "[unknown]";
}

/* With the segments the recorder saw, the offset becomes an address, which a
 * debug file found by build-id resolves too; else the file's own segments. */
static int live_name(struct ks_elfsym *es, const struct module_ent *m, uint64_t off, char *buf,
		     size_t size)
{
	for (unsigned i = 0; i < m->nseg; i++)
		if (off >= m->seg[i][0] && off - m->seg[i][0] < m->seg[i][2])
			return ks_elfsym_resolve_vaddr(es, m->path, m->build_id,
						       off - m->seg[i][0] + m->seg[i][1], buf, size);
	return ks_elfsym_resolve(es, m->path, m->build_id, off, buf, size);
}

const char *ks_symtab_name(struct ks_symtab *s, const struct ks_frame *f, bool *named)
{
	const struct module_ent *m = NULL;
	struct sym_ent *e = sym_find(s, f->module, f->off);
	char buf[1024], *name = NULL;
	uint8_t how = 3;

	if (e)
		goto out;
	if (f->module != KS_KERNEL_MODULE && f->module != KS_UNKNOWN_MODULE)
		m = module_get(s, f->module);
	if (m && s->es && !live_name(s->es, m, f->off, buf, sizeof(buf)))
		how = 2;
	else if (m)
		snprintf(buf, sizeof(buf), "%s+0x%llx", m->base, (unsigned long long)f->off);
	else
		snprintf(buf, sizeof(buf), "[unknown]");
	name = strdup(buf);
	e = name ? sym_add(s, f->module, f->off, name, how) : NULL;
	if (!e) {
		if (named)
			*named = false;
		return "[unknown]";
	}
	s->counts[how]++;
out:
	if (named)
		*named = e->how != 3;
	return e->name;
}

void ks_symtab_counts(const struct ks_symtab *s, uint64_t *archived, uint64_t *live,
		      uint64_t *unnamed)
{
	uint64_t a = 0;

	for (size_t i = 0; i < s->nsyms; i++)
		a += s->syms[i].how == 1;
	*archived = a;
	*live = s->counts[2];
	*unnamed = s->counts[3];
}
