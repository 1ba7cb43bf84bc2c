/* The fd tables driven by a trace: what each recorded syscall does to them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "format/sysargs.h"
#include "replay/fdreplay.h"
#include "util/grow.h"

#define PATH_BUF 4096

static enum fdt_kind kind_of_link(const char *s)
{
	if (s[0] == '/')
		return FDT_FILE;
	if (!strncmp(s, "socket:", 7))
		return FDT_SOCKET;
	if (!strncmp(s, "pipe:", 5))
		return FDT_PIPE;
	return FDT_OTHER;
}

int fdreplay_init(struct fdreplay *r, const struct argindex *ix)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->ix = ix;
	err = fdt_init(&r->fdt);
	for (size_t i = 0; !err && i < ix->nprefd; i++) {
		const struct argref *a = &ix->ref[ix->prefd[i]];
		const char *s = argindex_data(ix, a);
		uint32_t obj = fdt_object(&r->fdt, kind_of_link(s), s, a->len);

		if (a->val == AT_FDCWD)
			fdt_set_cwd(&r->fdt, a->pid, obj);
		else
			err = fdt_install(&r->fdt, a->pid, a->val, obj, a->nr & O_CLOEXEC);
	}
	return err;
}

int fdreplay_add_proc(struct fdreplay *r, const struct ks_proc *p)
{
	if (KS_GROW(&r->pe, &r->cappe, r->npe + 1))
		return -ENOMEM;
	r->pe[r->npe++] = (struct fdreplay_proc){ .ts = p->ts, .what = p->what, .pid = p->pid,
						  .tid = p->tid, .ppid = p->ppid };
	return 0;
}

static int by_ts(const void *a, const void *b)
{
	const struct fdreplay_proc *x = a, *y = b;

	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

void fdreplay_sort(struct fdreplay *r)
{
	ks_qsort(r->pe, r->npe, sizeof(*r->pe), by_ts);
}

static int apply_proc(struct fdreplay *r, const struct fdreplay_proc *p)
{
	switch (p->what) {
	case KS_PROC_FORK:
		/* threads share their process's table */
		return p->tid == p->pid ? fdt_fork(&r->fdt, p->ppid, p->pid) : 0;
	case KS_PROC_EXEC:
		return fdt_exec(&r->fdt, p->pid);
	case KS_PROC_EXIT:
		if (p->tid == p->pid)
			fdt_exit(&r->fdt, p->pid);
		return 0;
	}
	return 0;
}

static int advance(struct fdreplay *r, uint64_t until)
{
	int err = 0;

	while (!err && r->next < r->npe && r->pe[r->next].ts <= until)
		err = apply_proc(r, &r->pe[r->next++]);
	return err;
}

int fdreplay_flush(struct fdreplay *r)
{
	return advance(r, UINT64_MAX);
}

size_t fdreplay_join(const char *base, const char *path, char *out, size_t n)
{
	char tmp[PATH_BUF];
	size_t len = 0;
	const char *p;

	if (path[0] == '/' || !base || !base[0])
		snprintf(tmp, sizeof(tmp), "%s", path);
	else
		snprintf(tmp, sizeof(tmp), "%s/%s", base, path);
	if (tmp[0] != '/')
		return (size_t)snprintf(out, n, "%s", tmp) < n ? strlen(out) : n - 1;
	/* component by component: "." dropped, ".." pops */
	for (p = tmp; *p;) {
		const char *e;
		size_t cl;

		while (*p == '/')
			p++;
		e = strchrnul(p, '/');
		cl = e - p;
		if (!cl || (cl == 1 && p[0] == '.')) {
			/* nothing */
		} else if (cl == 2 && p[0] == '.' && p[1] == '.') {
			while (len && out[len - 1] != '/')
				len--;
			if (len)
				len--;
		} else if (len + 1 + cl < n) {
			out[len++] = '/';
			memcpy(out + len, p, cl);
			len += cl;
		}
		p = e;
	}
	if (!len && n > 1)
		out[len++] = '/';
	out[len < n ? len : n - 1] = 0;
	return len < n ? len : n - 1;
}

static int64_t slot_val(const struct ks_syscall *s, int slot)
{
	return slot == 0 ? s->arg0 : slot == 1 ? s->arg1 : slot == 2 ? s->arg2 : 0;
}

/* The value of argument i of the call, or 0 when not recorded. */
static int64_t argv_of(const struct ks_sysargs *sa, const struct ks_syscall *s, unsigned i)
{
	return slot_val(s, ks_sysargs_slot(sa, i));
}

/* The index of the first argument of kind k, or -1. */
static int arg_index(const struct ks_sysargs *sa, unsigned k, unsigned nth)
{
	for (unsigned i = 0; i < sa->nargs; i++)
		if (sa->arg[i] == k && !nth--)
			return (int)i;
	return -1;
}

/* The path argument (which: KS_SA_PATH or KS_SA_PATH2) resolved to an object. */
static uint32_t path_object(struct fdreplay *r, const struct ks_syscall *s,
			    const struct ks_sysargs *sa, uint32_t which)
{
	const struct argref *a = argindex_find(r->ix, s->tid, s->ts, which);
	char out[PATH_BUF];
	const char *base = NULL;
	int pi, di;
	size_t len;

	if (!a)
		return 0;
	pi = arg_index(sa, KS_A_PATH, which == KS_SA_PATH2);
	di = pi > 0 && sa->arg[pi - 1] == KS_A_DIRFD ? pi - 1 : -1;
	if (!a->len) /* AT_EMPTY_PATH: the dirfd itself */
		return di >= 0 ? fdt_lookup(&r->fdt, s->pid, argv_of(sa, s, di)) : 0;
	if (argindex_data(r->ix, a)[0] != '/') {
		int64_t dfd = di >= 0 ? argv_of(sa, s, di) : AT_FDCWD;
		uint32_t o = dfd == AT_FDCWD ? fdt_cwd(&r->fdt, s->pid) : fdt_lookup(&r->fdt, s->pid, dfd);

		if (o)
			base = fdt_get(&r->fdt, o)->name;
	}
	len = fdreplay_join(base, argindex_data(r->ix, a), out, sizeof(out));
	return fdt_object(&r->fdt, FDT_FILE, out, len);
}

/* "addr:port" of a recorded sockaddr, IPv6 in brackets; "" for others. */
static void addr_text(const struct argref *a, const char *d, char *out, size_t n)
{
	sa_family_t fam = 0;
	char ip[INET6_ADDRSTRLEN];

	out[0] = 0;
	if (a->len >= sizeof(fam))
		memcpy(&fam, d, sizeof(fam));
	if (fam == AF_INET && a->len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;

		memcpy(&in, d, sizeof(in));
		inet_ntop(AF_INET, &in.sin_addr, ip, sizeof(ip));
		snprintf(out, n, "%s:%u", ip, ntohs(in.sin_port));
	} else if (fam == AF_INET6 && a->len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;

		memcpy(&in6, d, sizeof(in6));
		inet_ntop(AF_INET6, &in6.sin6_addr, ip, sizeof(ip));
		snprintf(out, n, "[%s]:%u", ip, ntohs(in6.sin6_port));
	} else if (fam == AF_UNIX && a->len > sizeof(fam)) {
		size_t l = strnlen(d + sizeof(fam), a->len - sizeof(fam));

		snprintf(out, n, "%s%.*s", d[sizeof(fam)] ? "" : "@", (int)l,
			 d + sizeof(fam) + !d[sizeof(fam)]);
	}
}

static int set_endpoint(struct fdreplay *r, uint32_t obj, const struct argref *a, bool remote)
{
	struct fdt_object *o = &r->fdt.obj[obj];
	char buf[160];
	char **dst = remote ? &o->remote : &o->local;

	if (!obj || !a || o->kind != FDT_SOCKET)
		return 0;
	addr_text(a, argindex_data(r->ix, a), buf, sizeof(buf));
	if (!buf[0])
		return 0;
	free(*dst);
	*dst = strdup(buf);
	return *dst ? 0 : -ENOMEM;
}

/* A socket or pipe object of its own (no two share a name). */
static uint32_t fresh(struct fdreplay *r, enum fdt_kind kind, uint32_t domain, uint32_t type)
{
	char name[48];
	int len = snprintf(name, sizeof(name), "%s:%llu", kind == FDT_PIPE ? "pipe" : "socket",
			   (unsigned long long)(kind == FDT_PIPE ? ++r->npipes : ++r->nsockets));
	uint32_t id = fdt_object(&r->fdt, kind, name, len);

	if (id) {
		r->fdt.obj[id].domain = domain;
		r->fdt.obj[id].type = type;
	}
	return id;
}

static bool cloexec_of(const struct ks_sysargs *sa, const struct ks_syscall *s)
{
	return sa->cloexec_flag && (argv_of(sa, s, sa->cloexec_flag - 1) & O_CLOEXEC);
}

static int pair(struct fdreplay *r, const struct ks_syscall *s, const struct ks_sysargs *sa,
		bool is_pipe)
{
	const struct argref *a = argindex_find(r->ix, s->tid, s->ts, KS_SA_FDPAIR);
	int fds[2];
	uint32_t o;
	int err;

	if (!a || a->len < sizeof(fds))
		return 0;
	memcpy(fds, argindex_data(r->ix, a), sizeof(fds));
	o = is_pipe ? fresh(r, FDT_PIPE, 0, 0) :
		      fresh(r, FDT_SOCKET, argv_of(sa, s, 0), argv_of(sa, s, 1) & 0xff);
	err = fdt_install(&r->fdt, s->pid, fds[0], o, cloexec_of(sa, s));
	return err ?: fdt_install(&r->fdt, s->pid, fds[1], o, cloexec_of(sa, s));
}

int fdreplay_syscall(struct fdreplay *r, const struct ks_syscall *s, uint32_t *obj)
{
	const struct ks_sysargs *sa;
	bool ok = s->ret >= 0 && !(s->flags & KS_SYSF_NORET);
	uint32_t o = 0;
	int err = advance(r, s->ts + s->dur);

	*obj = 0;
	if (err || !(s->flags & KS_SYSF_ARGS) || !(sa = ks_sysargs_get(s->nr)))
		return err;
	switch (sa->role) {
	case KS_R_OPEN:
		o = path_object(r, s, sa, KS_SA_PATH);
		if (ok && o)
			err = fdt_install(&r->fdt, s->pid, s->ret, o, cloexec_of(sa, s));
		break;
	case KS_R_PATH:
		o = path_object(r, s, sa, KS_SA_PATH);
		if (ok && o && s->nr == SYS_chdir)
			fdt_set_cwd(&r->fdt, s->pid, o);
		break;
	case KS_R_CLOSE:
		o = fdt_lookup(&r->fdt, s->pid, s->arg0);
		fdt_close(&r->fdt, s->pid, s->arg0);
		break;
	case KS_R_CLOSE_RANGE:
		if (ok)
			fdt_close_range(&r->fdt, s->pid, (uint32_t)s->arg0, (uint32_t)s->arg1,
					s->arg2 & 4 /* CLOSE_RANGE_CLOEXEC */);
		break;
	case KS_R_DUP:
		o = fdt_lookup(&r->fdt, s->pid, s->arg0);
		if (ok)
			err = fdt_dup(&r->fdt, s->pid, s->arg0, s->ret, false);
		break;
	case KS_R_DUP2:
		o = fdt_lookup(&r->fdt, s->pid, s->arg0);
		if (ok && s->arg0 != s->arg1)
			err = fdt_dup(&r->fdt, s->pid, s->arg0, s->arg1, cloexec_of(sa, s));
		break;
	case KS_R_FCNTL:
		o = fdt_lookup(&r->fdt, s->pid, s->arg0);
		if (ok && (s->arg1 == F_DUPFD || s->arg1 == F_DUPFD_CLOEXEC))
			err = fdt_dup(&r->fdt, s->pid, s->arg0, s->ret, s->arg1 == F_DUPFD_CLOEXEC);
		else if (ok && s->arg1 == F_SETFD)
			fdt_set_cloexec(&r->fdt, s->pid, s->arg0, s->arg2 & FD_CLOEXEC);
		break;
	case KS_R_SOCKET:
		if (ok) {
			o = fresh(r, FDT_SOCKET, s->arg0, s->arg1 & 0xff);
			err = fdt_install(&r->fdt, s->pid, s->ret, o, s->arg1 & SOCK_CLOEXEC);
		}
		break;
	case KS_R_SOCKETPAIR:
	case KS_R_PIPE:
		if (ok)
			err = pair(r, s, sa, sa->role == KS_R_PIPE);
		break;
	case KS_R_ACCEPT: {
		uint32_t l = fdt_lookup(&r->fdt, s->pid, s->arg0);

		if (ok) {
			const struct fdt_object *lo = fdt_get(&r->fdt, l);

			o = fresh(r, FDT_SOCKET, lo->domain, lo->type);
			if (o && lo->local && !(r->fdt.obj[o].local = strdup(lo->local)))
				return -ENOMEM;
			err = set_endpoint(r, o, argindex_find(r->ix, s->tid, s->ts, KS_SA_PEER), true);
			err = err ?: fdt_install(&r->fdt, s->pid, s->ret, o, cloexec_of(sa, s));
		}
		break;
	}
	case KS_R_CONNECT:
	case KS_R_BIND:
		o = fdt_lookup(&r->fdt, s->pid, s->arg0);
		if (ok || s->ret == -EINPROGRESS)
			err = set_endpoint(r, o, argindex_find(r->ix, s->tid, s->ts, KS_SA_ADDR),
					   sa->role == KS_R_CONNECT);
		break;
	case KS_R_NEWFD:
		if (ok) {
			static const char anon[] = "anon_inode";

			o = fdt_object(&r->fdt, FDT_OTHER, anon, sizeof(anon) - 1);
			err = fdt_install(&r->fdt, s->pid, s->ret, o, cloexec_of(sa, s));
		}
		break;
	default: /* reads, writes and other operations on the fd in arg0 */
		o = fdt_lookup(&r->fdt, s->pid, s->arg0);
		if (ok && o && s->nr == SYS_fchdir)
			fdt_set_cwd(&r->fdt, s->pid, o);
	}
	*obj = o;
	return err;
}

void fdreplay_free(struct fdreplay *r)
{
	fdt_free(&r->fdt);
	free(r->pe);
	memset(r, 0, sizeof(*r));
}
