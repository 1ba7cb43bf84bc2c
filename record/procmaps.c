/* record: the traced processes' executable mappings, the module table and the
 * kallsyms snapshot (see record/procmaps.h). */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "record/procmaps.h"
#include "util/clock.h"
#include "util/grow.h"
#include "util/hmap.h"

#define REREAD_NS (5ull * 1000 * 1000)

struct pm_range {
	uint64_t start, end, pgoff;
	uint32_t module;
};

struct pm_proc {
	struct pm_range *r;
	size_t n, cap;
	uint64_t read_ns; /* 0: to be read */
	uint64_t mm;      /* the address space they were read for (0: unknown) */
	bool gone;
};

struct pmaps {
	struct ks_hmap procs;   /* pid -> struct pm_proc * (freed at the process's exit) */
	uint32_t gone[64];      /* pids found gone lately: not looked for again */
	unsigned ngone;
	struct ks_hmap by_file; /* hash(dev, ino, path) -> module id (multimap) */
	struct pm_module *mod;  /* mod[id - 1] */
	size_t nmod, capmod;
	struct ks_hmap by_build_id; /* hash(build-id hex) -> module id (multimap) */
	uint32_t *dirty;        /* module ids marked dirty, in order */
	size_t ndirty, capdirty, dirty_pos;
};

int pmaps_new(struct pmaps **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	elf_version(EV_CURRENT);
	return 0;
}

void pmaps_free(struct pmaps *pm)
{
	if (!pm)
		return;
	ks_hmap_each(&pm->procs, i) {
		struct pm_proc *pp = (struct pm_proc *)(uintptr_t)pm->procs.slot[i].val;

		free(pp->r);
		free(pp);
	}
	for (size_t i = 0; i < pm->nmod; i++) {
		if (pm->mod[i].fd >= 0)
			close(pm->mod[i].fd);
		free(pm->mod[i].path);
	}
	free(pm->mod);
	ks_hmap_free(&pm->procs);
	ks_hmap_free(&pm->by_file);
	ks_hmap_free(&pm->by_build_id);
	free(pm->dirty);
	free(pm);
}

struct pm_module *pmaps_module(struct pmaps *pm, uint32_t id)
{
	return id >= 1 && id <= pm->nmod ? &pm->mod[id - 1] : NULL;
}

size_t pmaps_nmodules(const struct pmaps *pm)
{
	return pm->nmod;
}

/* The GNU build-id note of the ELF file at fd as hex (41 bytes), and its
 * loadable segments. */
static void read_elf_info(int fd, struct pm_module *m)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	Elf_Scn *scn = NULL;
	char *out = m->build_id;
	size_t nph = 0;

	out[0] = 0;
	if (!e)
		return;
	if (!elf_getphdrnum(e, &nph))
		for (size_t i = 0; i < nph && m->nseg < PM_MAX_SEGS; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, i, &ph) && ph.p_type == PT_LOAD)
				m->seg[m->nseg++] = (struct pm_seg){ ph.p_offset, ph.p_vaddr,
								     ph.p_filesz };
		}
	while ((scn = elf_nextscn(e, scn)) && !out[0]) {
		GElf_Shdr sh;
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		while (d && (off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			const unsigned char *desc = (const unsigned char *)d->d_buf + doff;

			if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
			    memcmp((const char *)d->d_buf + noff, "GNU", 4) || nh.n_descsz > 20)
				continue;
			for (size_t i = 0; i < nh.n_descsz; i++)
				sprintf(out + 2 * i, "%02x", desc[i]);
			break;
		}
	}
	elf_end(e);
}

static int mark_dirty(struct pmaps *pm, struct pm_module *m)
{
	int err;

	if (m->dirty)
		return 0;
	err = KS_GROW(&pm->dirty, &pm->capdirty, pm->ndirty + 1);
	if (err)
		return err;
	pm->dirty[pm->ndirty++] = m->id;
	m->dirty = true;
	return 0;
}

struct pm_module *pmaps_next_dirty(struct pmaps *pm)
{
	struct pm_module *m;

	if (pm->dirty_pos == pm->ndirty) {
		pm->dirty_pos = pm->ndirty = 0;
		return NULL;
	}
	m = &pm->mod[pm->dirty[pm->dirty_pos++] - 1];
	m->dirty = false;
	return m;
}

static struct pm_module *find_build_id(struct pmaps *pm, const char *hex)
{
	uint64_t h = ks_hash_bytes(hex, strlen(hex));

	for (uint64_t *v = ks_hmap_get(&pm->by_build_id, h); v; v = ks_hmap_next(&pm->by_build_id, h, v))
		if (!strcmp(pm->mod[*v - 1].build_id, hex))
			return &pm->mod[*v - 1];
	return NULL;
}

/* The next module slot, zeroed but for a copy of path, its id and no fd; it
 * counts (pm->nmod++) once the caller has indexed it. NULL with *err set. */
static struct pm_module *module_new(struct pmaps *pm, const char *path, int *err)
{
	struct pm_module *m;

	*err = KS_GROW(&pm->mod, &pm->capmod, pm->nmod + 1);
	if (*err)
		return NULL;
	m = &pm->mod[pm->nmod];
	memset(m, 0, sizeof(*m));
	m->path = strdup(path);
	if (!m->path) {
		*err = -ENOMEM;
		return NULL;
	}
	m->id = pm->nmod + 1;
	m->fd = -1;
	return m;
}

int pmaps_module_by_build_id(struct pmaps *pm, const unsigned char *id, uint32_t *module)
{
	struct pm_module *m;
	char hex[41];
	int err;

	for (int i = 0; i < 20; i++)
		sprintf(hex + 2 * i, "%02x", id[i]);
	m = find_build_id(pm, hex);
	if (m) {
		*module = m->id;
		return 0;
	}
	m = module_new(pm, "", &err);
	if (!m)
		return err;
	memcpy(m->build_id, hex, sizeof(hex));
	err = ks_hmap_add(&pm->by_build_id, ks_hash_bytes(hex, 40), m->id);
	err = err ?: mark_dirty(pm, m);
	if (err) {
		free(m->path);
		return err;
	}
	pm->nmod++;
	*module = m->id;
	return 0;
}

/* A file just opened from a mapping whose build-id a path-less module (made
 * from the kernel's frames) already has: that module gets the file. */
static struct pm_module *adopt_file(struct pmaps *pm, struct pm_module *fresh)
{
	struct pm_module *m = fresh->build_id[0] ? find_build_id(pm, fresh->build_id) : NULL;

	if (!m || m->path[0])
		return NULL;
	free(m->path);
	m->path = fresh->path;
	m->fd = fresh->fd;
	m->dev = fresh->dev;
	m->ino = fresh->ino;
	memcpy(m->seg, fresh->seg, sizeof(m->seg));
	m->nseg = fresh->nseg;
	return m;
}

static int module_get(struct pmaps *pm, uint32_t pid, const char *mapname, uint64_t start,
		      uint64_t end, uint64_t dev, uint64_t ino, uint32_t *id)
{
	uint64_t h = ks_hash_bytes(mapname, strlen(mapname)) ^ ks_hash_u64(dev << 32 ^ ino);
	struct pm_module *m;
	char p[128];
	int err;

	for (uint64_t *v = ks_hmap_get(&pm->by_file, h); v; v = ks_hmap_next(&pm->by_file, h, v)) {
		m = &pm->mod[*v - 1];
		if (m->dev == dev && m->ino == ino && !strcmp(m->path, mapname)) {
			*id = m->id;
			return 0;
		}
	}
	m = module_new(pm, mapname, &err);
	if (!m)
		return err;
	m->dev = dev;
	m->ino = ino;
	if (mapname[0] == '/') {
		/* the mapping itself: right even when the file was deleted or replaced */
		snprintf(p, sizeof(p), "/proc/%u/map_files/%" PRIx64 "-%" PRIx64, pid, start, end);
		m->fd = open(p, O_RDONLY | O_CLOEXEC);
		if (m->fd < 0) {
			snprintf(p, sizeof(p), "/proc/%u/root", pid);
			char *full = malloc(strlen(p) + strlen(mapname) + 1);

			if (full) {
				strcpy(full, p);
				strcat(full, mapname);
				m->fd = open(full, O_RDONLY | O_CLOEXEC);
				free(full);
			}
		}
		if (m->fd >= 0)
			read_elf_info(m->fd, m);
	}
	{
		struct pm_module *old = adopt_file(pm, m);

		if (old) {
			err = ks_hmap_add(&pm->by_file, h, old->id);
			err = err ?: mark_dirty(pm, old);
			*id = old->id;
			return err; /* its path and fd are old's now */
		}
	}
	err = ks_hmap_add(&pm->by_file, h, m->id);
	err = err ?: m->build_id[0] ? ks_hmap_add(&pm->by_build_id,
						  ks_hash_bytes(m->build_id, strlen(m->build_id)),
						  m->id) : 0;
	err = err ?: mark_dirty(pm, m);
	if (err) {
		if (m->fd >= 0)
			close(m->fd);
		free(m->path);
		return err;
	}
	pm->nmod++;
	*id = m->id;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct pm_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* (Re)reads /proc/PID/maps: the executable mappings of files and of the
 * kernel's own ([vdso]). */
static int proc_read(struct pmaps *pm, uint32_t pid, struct pm_proc *pp)
{
	char path[64], *line = NULL, name[4096];
	size_t cap = 0;
	FILE *f;
	int err = 0;

	pp->read_ns = ks_mono_ns();
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	if (!f) {
		pp->gone = true;
		return 0;
	}
	pp->n = 0;
	while (!err && getline(&line, &cap, f) > 0) {
		uint64_t start, end, pgoff, ino;
		unsigned maj, min;
		char perm[8];
		int used = 0;

		name[0] = 0;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &start, &end, perm, &pgoff, &maj, &min, &ino, &used) < 7)
			continue;
		if (perm[2] != 'x')
			continue;
		if (used && sscanf(line + used, "%4095[^\n]", name) != 1)
			name[0] = 0;
		if (name[0] != '/' && name[0] != '[')
			continue;
		err = KS_GROW(&pp->r, &pp->cap, pp->n + 1);
		if (err)
			break;
		pp->r[pp->n] = (struct pm_range){ .start = start, .end = end, .pgoff = pgoff };
		err = module_get(pm, pid, name, start, end, (uint64_t)maj << 20 | min, ino,
				 &pp->r[pp->n].module);
		if (!err)
			pp->n++;
	}
	free(line);
	fclose(f);
	ks_qsort(pp->r, pp->n, sizeof(*pp->r), cmp_range);
	return err;
}

static const struct pm_range *find_range(const struct pm_proc *pp, uint64_t addr)
{
	size_t lo = 0, hi = pp->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (addr < pp->r[mid].start)
			hi = mid;
		else if (addr >= pp->r[mid].end)
			lo = mid + 1;
		else
			return &pp->r[mid];
	}
	return NULL;
}

static bool was_gone(const struct pmaps *pm, uint32_t pid)
{
	for (unsigned i = 0; i < sizeof(pm->gone) / sizeof(pm->gone[0]); i++)
		if (pm->gone[i] == pid)
			return true;
	return false;
}

void pmaps_drop(struct pmaps *pm, uint32_t pid)
{
	uint64_t *v = ks_hmap_get(&pm->procs, pid);
	struct pm_proc *pp;

	if (!v)
		return;
	pp = (struct pm_proc *)(uintptr_t)*v;
	ks_hmap_remove(&pm->procs, v);
	free(pp->r);
	free(pp);
}

/* pid's entry, made on first sight; -ENOENT for a pid found gone lately (its
 * late events are many: each would look for its maps again). */
static int proc_get(struct pmaps *pm, uint32_t pid, struct pm_proc **out)
{
	uint64_t *v = ks_hmap_get(&pm->procs, pid);
	struct pm_proc *pp;

	if (v) {
		*out = (struct pm_proc *)(uintptr_t)*v;
		return 0;
	}
	if (was_gone(pm, pid))
		return -ENOENT;
	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return -ENOMEM;
	if (ks_hmap_put(&pm->procs, pid, (uintptr_t)pp)) {
		free(pp);
		return -ENOMEM;
	}
	*out = pp;
	return 0;
}

/* After a read: a process found gone keeps no entry, and is remembered. */
static int gone_check(struct pmaps *pm, uint32_t pid, struct pm_proc *pp)
{
	if (!pp->gone || pp->n)
		return 0;
	pm->gone[pm->ngone++ % (sizeof(pm->gone) / sizeof(pm->gone[0]))] = pid;
	pmaps_drop(pm, pid);
	return -ENOENT;
}

int pmaps_sync(struct pmaps *pm, uint32_t pid, uint64_t mm)
{
	struct pm_proc *pp;
	int err = proc_get(pm, pid, &pp);

	if (err)
		return err;
	if (!pp->read_ns || (mm && pp->mm != mm)) {
		pp->gone = false;
		err = proc_read(pm, pid, pp);
		err = err ?: gone_check(pm, pid, pp);
		if (err)
			return err;
		pp->mm = mm;
	}
	return pp->gone ? -ENOENT : 0;
}

int pmaps_place(struct pmaps *pm, uint32_t pid, uint64_t addr, uint32_t *module, uint64_t *off)
{
	const struct pm_range *r;
	struct pm_proc *pp;
	int err;

	err = proc_get(pm, pid, &pp);
	if (err)
		return err;
	if (!pp->read_ns && ((err = proc_read(pm, pid, pp)) || (err = gone_check(pm, pid, pp))))
		return err;
	r = find_range(pp, addr);
	if (!r && !pp->gone && ks_mono_ns() - pp->read_ns >= REREAD_NS) {
		err = proc_read(pm, pid, pp);
		if (err)
			return err;
		r = find_range(pp, addr);
	}
	if (!r)
		return -ENOENT;
	*module = r->module;
	*off = addr - r->start + r->pgoff;
	return 0;
}

void pmaps_forget(struct pmaps *pm, uint32_t pid)
{
	uint64_t *v = ks_hmap_get(&pm->procs, pid);

	if (v) {
		((struct pm_proc *)(uintptr_t)*v)->read_ns = 0;
		((struct pm_proc *)(uintptr_t)*v)->gone = false;
	}
}

/* ---- kallsyms ---------------------------------------------------------------- */

/* The file is read whole and its text-symbol lines indexed in place (sscanf and
 * a copy per line cost more than the kernel takes to print the 100k+ lines). */
struct ksym {
	uint64_t addr;
	const char *name; /* "name" or "name [module]", NUL-terminated in buf */
};

struct ksyms {
	char *buf;
	struct ksym *s;
	size_t n, cap;
};

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

void ksyms_free(struct ksyms *k)
{
	if (!k)
		return;
	free(k->buf);
	free(k->s);
	free(k);
}

static int read_all(FILE *f, char **out)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;

	for (;;) {
		size_t n;

		if (len + 65536 + 1 > cap) {
			char *nb = realloc(buf, cap = (cap ? cap * 2 : 1 << 22));

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	buf[len] = 0;
	*out = buf;
	return 0;
}

int ksyms_load(FILE *f, struct ksyms **out)
{
	struct ksyms *k;
	bool nonzero = false;
	char *p;
	int err;

	if (!f)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	err = k ? read_all(f, &k->buf) : -ENOMEM;
	fclose(f);
	if (err) {
		free(k);
		return err;
	}
	for (p = k->buf; *p && !err;) {
		char *end = strchr(p, '\n'), *name, *type;
		uint64_t addr;

		if (end)
			*end = 0;
		addr = strtoull(p, &type, 16);
		/* "ADDR T NAME[\t[MODULE]]" */
		if (type[0] == ' ' && type[1] && type[2] == ' ' &&
		    (type[1] == 't' || type[1] == 'T' || type[1] == 'w' || type[1] == 'W')) {
			name = type + 3;
			for (char *t = strchr(name, '\t'); t; t = strchr(t, '\t'))
				*t = ' ';
			nonzero |= addr != 0;
			err = KS_GROW(&k->s, &k->cap, k->n + 1);
			if (!err)
				k->s[k->n++] = (struct ksym){ .addr = addr, .name = name };
		}
		p = end ? end + 1 : p + strlen(p);
	}
	if (!err && !nonzero)
		err = -EPERM;
	if (err) {
		ksyms_free(k);
		return err;
	}
	ks_qsort(k->s, k->n, sizeof(*k->s), cmp_ksym);
	*out = k;
	return 0;
}

const char *ksyms_find(const struct ksyms *k, uint64_t addr)
{
	size_t lo = 0, hi = k->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (k->s[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? k->s[lo - 1].name : NULL;
}
