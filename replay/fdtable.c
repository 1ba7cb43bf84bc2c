/* Per-process fd tables for replay: a dense array per process (an fd is an
 * index), interned objects shared by every table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replay/fdtable.h"
#include "util/grow.h"

/* An fd's entry: 0 when closed, else (object id + 1) << 1 | close-on-exec. */
#define ENT(id, cx) ((((uint32_t)(id) + 1) << 1) | ((cx) ? 1u : 0u))
#define ENT_ID(e) (((e) >> 1) - 1)

int fdt_init(struct fdtable *t)
{
	memset(t, 0, sizeof(*t));
	t->cache_idx = UINT32_MAX;
	if (KS_GROW(&t->obj, &t->capobj, 1))
		return -ENOMEM;
	memset(&t->obj[0], 0, sizeof(t->obj[0]));
	t->nobj = 1;
	return 0;
}

void fdt_free(struct fdtable *t)
{
	for (size_t i = 0; i < t->nproc; i++)
		free(t->proc[i].fd);
	for (size_t i = 0; i < t->nobj; i++) {
		free(t->obj[i].name);
		free(t->obj[i].local);
		free(t->obj[i].remote);
	}
	free(t->proc);
	free(t->obj);
	ks_hmap_free(&t->procs);
	ks_hmap_free(&t->names);
	memset(t, 0, sizeof(*t));
}

static uint64_t name_hash(enum fdt_kind kind, const char *name, size_t len)
{
	return ks_hash_bytes(name, len) ^ ks_hash_u64(kind);
}

uint32_t fdt_object(struct fdtable *t, enum fdt_kind kind, const char *name, size_t len)
{
	uint64_t h = name_hash(kind, name, len), *v;
	struct fdt_object *o;

	for (v = ks_hmap_get(&t->names, h); v; v = ks_hmap_next(&t->names, h, v)) {
		o = &t->obj[*v];
		if (o->kind == kind && o->name_len == len && !memcmp(o->name, name, len))
			return (uint32_t)*v;
	}
	if (t->nobj >= (1u << 30) || KS_GROW(&t->obj, &t->capobj, t->nobj + 1))
		return 0;
	o = &t->obj[t->nobj];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->name = malloc(len + 1);
	if (!o->name)
		return 0;
	memcpy(o->name, name, len);
	o->name[len] = 0;
	o->name_len = (uint32_t)len;
	if (ks_hmap_add(&t->names, h, t->nobj)) {
		free(o->name);
		return 0;
	}
	return (uint32_t)t->nobj++;
}

const struct fdt_object *fdt_get(const struct fdtable *t, uint32_t id)
{
	return &t->obj[id < t->nobj ? id : 0];
}

/* The process's table, created empty when create is set; NULL when absent or on
 * ENOMEM. */
static struct fdt_proc *proc_of(struct fdtable *t, uint32_t pid, bool create)
{
	uint64_t *v;

	if (t->cache_idx != UINT32_MAX && t->cache_pid == pid)
		return &t->proc[t->cache_idx];
	v = ks_hmap_get(&t->procs, pid);
	if (!v) {
		if (!create || KS_GROW(&t->proc, &t->capproc, t->nproc + 1) ||
		    ks_hmap_put(&t->procs, pid, t->nproc))
			return NULL;
		memset(&t->proc[t->nproc], 0, sizeof(t->proc[0]));
		t->proc[t->nproc].pid = pid;
		v = ks_hmap_get(&t->procs, pid);
		t->nproc++;
	}
	t->cache_pid = pid;
	t->cache_idx = (uint32_t)*v;
	return &t->proc[*v];
}

static int reserve(struct fdt_proc *p, uint64_t fd)
{
	size_t old = p->nfd, cap = p->nfd;

	if (fd < p->nfd)
		return 0;
	if (KS_GROW(&p->fd, &cap, fd + 1))
		return -ENOMEM;
	memset(p->fd + old, 0, (cap - old) * sizeof(*p->fd));
	p->nfd = cap;
	return 0;
}

int fdt_fork(struct fdtable *t, uint32_t parent, uint32_t child)
{
	struct fdt_proc *c, *p;
	size_t n;

	fdt_exit(t, child); /* a reused pid starts afresh */
	c = proc_of(t, child, true);
	if (!c)
		return -ENOMEM;
	p = proc_of(t, parent, false);
	c = proc_of(t, child, false); /* proc[] may have moved */
	if (!p)
		return 0;
	c->cwd = p->cwd;
	if (!p->nfd)
		return 0;
	n = p->nfd;
	c->fd = malloc(n * sizeof(*c->fd));
	if (!c->fd)
		return -ENOMEM;
	memcpy(c->fd, p->fd, n * sizeof(*c->fd));
	c->nfd = n;
	return 0;
}

int fdt_exec(struct fdtable *t, uint32_t pid)
{
	struct fdt_proc *p = proc_of(t, pid, false);

	for (size_t i = 0; p && i < p->nfd; i++)
		if (p->fd[i] & 1)
			p->fd[i] = 0;
	return 0;
}

void fdt_exit(struct fdtable *t, uint32_t pid)
{
	struct fdt_proc *p = proc_of(t, pid, false);

	if (!p)
		return;
	free(p->fd);
	p->fd = NULL;
	p->nfd = 0;
	p->cwd = 0;
}

int fdt_install(struct fdtable *t, uint32_t pid, int64_t fd, uint32_t obj, bool cloexec)
{
	struct fdt_proc *p;

	if (fd < 0 || fd >= FDT_FD_MAX)
		return 0;
	p = proc_of(t, pid, true);
	if (!p || reserve(p, fd))
		return -ENOMEM;
	p->fd[fd] = ENT(obj, cloexec);
	return 0;
}

void fdt_close(struct fdtable *t, uint32_t pid, int64_t fd)
{
	struct fdt_proc *p = proc_of(t, pid, false);

	if (p && fd >= 0 && (uint64_t)fd < p->nfd)
		p->fd[fd] = 0;
}

int fdt_dup(struct fdtable *t, uint32_t pid, int64_t oldfd, int64_t newfd, bool cloexec)
{
	return fdt_install(t, pid, newfd, fdt_lookup(t, pid, oldfd), cloexec);
}

void fdt_close_range(struct fdtable *t, uint32_t pid, uint64_t lo, uint64_t hi,
		     bool cloexec_only)
{
	struct fdt_proc *p = proc_of(t, pid, false);

	if (!p)
		return;
	for (uint64_t fd = lo; fd <= hi && fd < p->nfd; fd++) {
		if (!cloexec_only)
			p->fd[fd] = 0;
		else if (p->fd[fd])
			p->fd[fd] |= 1;
	}
}

void fdt_set_cloexec(struct fdtable *t, uint32_t pid, int64_t fd, bool on)
{
	struct fdt_proc *p = proc_of(t, pid, false);

	if (p && fd >= 0 && (uint64_t)fd < p->nfd && p->fd[fd])
		p->fd[fd] = (p->fd[fd] & ~1u) | (on ? 1u : 0u);
}

uint32_t fdt_lookup(struct fdtable *t, uint32_t pid, int64_t fd)
{
	struct fdt_proc *p = proc_of(t, pid, false);

	if (!p || fd < 0 || (uint64_t)fd >= p->nfd || !p->fd[fd])
		return 0;
	return ENT_ID(p->fd[fd]);
}

bool fdt_cloexec(struct fdtable *t, uint32_t pid, int64_t fd)
{
	struct fdt_proc *p = proc_of(t, pid, false);

	return p && fd >= 0 && (uint64_t)fd < p->nfd && (p->fd[fd] & 1);
}

void fdt_set_cwd(struct fdtable *t, uint32_t pid, uint32_t obj)
{
	struct fdt_proc *p = proc_of(t, pid, true);

	if (p)
		p->cwd = obj;
}

uint32_t fdt_cwd(struct fdtable *t, uint32_t pid)
{
	struct fdt_proc *p = proc_of(t, pid, false);

	return p ? p->cwd : 0;
}
