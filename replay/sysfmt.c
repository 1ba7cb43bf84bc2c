/* strace-style syscall lines from recorded arguments. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "format/sysargs.h"
#include "replay/syscalls.h"
#include "replay/sysfmt.h"

static const char *errno_text(int64_t ret);

struct out {
	char *p;
	size_t n, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(o->len < o->n ? o->p + o->len : NULL, o->len < o->n ? o->n - o->len : 0,
		      fmt, ap);
	va_end(ap);
	if (w > 0)
		o->len += w;
}

struct flag {
	long v;
	const char *name;
};

static void flags(struct out *o, long v, const struct flag *t, bool hex)
{
	bool any = false;

	for (; t->name; t++)
		if (t->v && (v & t->v) == t->v) {
			put(o, "%s%s", any ? "|" : "", t->name);
			v &= ~t->v;
			any = true;
		}
	if (v || !any)
		put(o, hex ? "%s%#lx" : "%s%ld", any ? "|" : "", v);
}

static const struct flag oflags[] = {
	{ O_CREAT, "O_CREAT" }, { O_EXCL, "O_EXCL" }, { O_NOCTTY, "O_NOCTTY" },
	{ O_TRUNC, "O_TRUNC" }, { O_APPEND, "O_APPEND" }, { O_NONBLOCK, "O_NONBLOCK" },
	{ __O_TMPFILE | O_DIRECTORY, "O_TMPFILE" }, { O_SYNC, "O_SYNC" }, { O_DSYNC, "O_DSYNC" },
	{ O_DIRECT, "O_DIRECT" }, { O_LARGEFILE, "O_LARGEFILE" }, { O_DIRECTORY, "O_DIRECTORY" },
	{ O_NOFOLLOW, "O_NOFOLLOW" }, { O_NOATIME, "O_NOATIME" }, { O_CLOEXEC, "O_CLOEXEC" },
	{ O_PATH, "O_PATH" }, { 0, NULL },
};

static const struct flag atflags[] = {
	{ AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW" }, { AT_REMOVEDIR, "AT_REMOVEDIR" },
	{ AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW" }, { AT_NO_AUTOMOUNT, "AT_NO_AUTOMOUNT" },
	{ AT_EMPTY_PATH, "AT_EMPTY_PATH" }, { 0, NULL },
};

static const struct flag sockflags[] = {
	{ SOCK_CLOEXEC, "SOCK_CLOEXEC" }, { SOCK_NONBLOCK, "SOCK_NONBLOCK" }, { 0, NULL },
};

static void open_flags(struct out *o, long v)
{
	static const char *const acc[] = { "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE" };

	put(o, "%s", acc[v & O_ACCMODE]);
	v &= ~(long)O_ACCMODE;
#if defined(__x86_64__) || defined(__aarch64__)
	v &= ~(long)O_LARGEFILE; /* strace leaves it out where it is the default */
#endif
	if (v) {
		put(o, "|");
		flags(o, v, oflags, true);
	}
}

static const char *name_of(long v, const struct flag *t)
{
	for (; t->name; t++)
		if (t->v == v)
			return t->name;
	return NULL;
}

static void quoted(struct out *o, const char *s, size_t len, bool trunc)
{
	put(o, "\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c == '\n')
			put(o, "\\n");
		else if (c == '\t')
			put(o, "\\t");
		else if (c >= 0x20 && c < 0x7f)
			put(o, "%c", c);
		else
			put(o, "\\%o", c);
	}
	put(o, "\"%s", trunc ? "..." : "");
}

static void sockaddr(struct out *o, const struct argref *a, const char *d)
{
	sa_family_t fam = 0;
	char ip[INET6_ADDRSTRLEN];

	if (a->len < sizeof(fam)) {
		put(o, "...");
		return;
	}
	memcpy(&fam, d, sizeof(fam));
	if (fam == AF_INET && a->len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;

		memcpy(&in, d, sizeof(in));
		inet_ntop(AF_INET, &in.sin_addr, ip, sizeof(ip));
		put(o, "{sa_family=AF_INET, sin_port=htons(%u), sin_addr=inet_addr(\"%s\")}",
		    ntohs(in.sin_port), ip);
	} else if (fam == AF_INET6 && a->len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;

		memcpy(&in6, d, sizeof(in6));
		inet_ntop(AF_INET6, &in6.sin6_addr, ip, sizeof(ip));
		put(o, "{sa_family=AF_INET6, sin6_port=htons(%u), sin6_flowinfo=htonl(%u), "
		    "inet_pton(AF_INET6, \"%s\", &sin6_addr), sin6_scope_id=%u}",
		    ntohs(in6.sin6_port), ntohl(in6.sin6_flowinfo), ip, in6.sin6_scope_id);
	} else if (fam == AF_UNIX) {
		size_t l = a->len > sizeof(fam) ? strnlen(d + sizeof(fam), a->len - sizeof(fam)) : 0;

		put(o, "{sa_family=AF_UNIX, sun_path=");
		quoted(o, d + sizeof(fam), l, false);
		put(o, "}");
	} else {
		put(o, "{sa_family=%u, ...}", fam);
	}
}

static const struct flag fcntl_cmds[] = {
	{ F_DUPFD, "F_DUPFD" }, { F_GETFD, "F_GETFD" }, { F_SETFD, "F_SETFD" },
	{ F_GETFL, "F_GETFL" }, { F_SETFL, "F_SETFL" }, { F_GETLK, "F_GETLK" },
	{ F_SETLK, "F_SETLK" }, { F_SETLKW, "F_SETLKW" }, { F_DUPFD_CLOEXEC, "F_DUPFD_CLOEXEC" },
	{ 0, NULL },
};

static void number(struct out *o, unsigned kind, int64_t v, const struct ks_sysargs *sa)
{
	const char *n;

	switch (kind) {
	case KS_A_DIRFD:
		if ((int)v == AT_FDCWD)
			put(o, "AT_FDCWD");
		else
			put(o, "%d", (int)v);
		break;
	case KS_A_FD:
	case KS_A_INT:
		put(o, "%d", (int)v);
		break;
	case KS_A_OFLAGS:
		open_flags(o, v);
		break;
	case KS_A_MODE:
		put(o, "%#llo", (unsigned long long)v);
		break;
	case KS_A_HEX:
		put(o, v ? "%#llx" : "0", (unsigned long long)v);
		break;
	case KS_A_FCNTL:
		n = v == F_DUPFD ? "F_DUPFD" : name_of(v, fcntl_cmds);
		if (n)
			put(o, "%s", n);
		else
			put(o, "%lld", (long long)v);
		break;
	case KS_A_ATFLAGS:
		flags(o, v, atflags, true);
		break;
	case KS_A_WHENCE:
		if (v >= 0 && v <= 2)
			put(o, "%s", (const char *[]){ "SEEK_SET", "SEEK_CUR", "SEEK_END" }[v]);
		else
			put(o, "%lld", (long long)v);
		break;
	case KS_A_DOMAIN:
		n = v == AF_INET ? "AF_INET" : v == AF_INET6 ? "AF_INET6" : v == AF_UNIX ? "AF_UNIX" :
		    v == AF_NETLINK ? "AF_NETLINK" : NULL;
		if (n)
			put(o, "%s", n);
		else
			put(o, "%lld", (long long)v);
		break;
	case KS_A_SOCKTYPE:
		n = (v & 0xf) == SOCK_STREAM ? "SOCK_STREAM" : (v & 0xf) == SOCK_DGRAM ? "SOCK_DGRAM" :
		    (v & 0xf) == SOCK_RAW ? "SOCK_RAW" : (v & 0xf) == SOCK_SEQPACKET ? "SOCK_SEQPACKET" : NULL;
		if (n)
			put(o, "%s", n);
		else
			put(o, "%lld", (long long)(v & 0xf));
		if (v & ~0xfll) {
			put(o, "|");
			flags(o, v & ~0xfll, sockflags, true);
		}
		break;
	default: /* sizes, offsets */
		put(o, "%llu", (unsigned long long)v);
	}
	(void)sa;
}

size_t sysfmt_call(char *buf, size_t n, const struct ks_syscall *r, const struct argindex *ix)
{
	struct out o = { buf, n, 0 };
	const struct ks_sysargs *sa = r->flags & KS_SYSF_ARGS ? ks_sysargs_get(r->nr) : NULL;
	char nb[KS_SYSCALL_NAME_MAX];
	const char *en;
	int paths = 0;

	if (n)
		buf[0] = 0;
	put(&o, "%s(", ks_syscall_name(r->nr, nb));
	for (unsigned i = 0; sa && i < sa->nargs; i++) {
		unsigned k = sa->arg[i];
		int slot = ks_sysargs_slot(sa, i);
		const struct argref *a = NULL;
		int64_t v = slot == 0 ? r->arg0 : slot == 1 ? r->arg1 : r->arg2;

		if (i)
			put(&o, ", ");
		if (k < KS_A_PATH) {
			if (slot < 0)
				put(&o, "?");
			else
				number(&o, k, v, sa);
			/* the mode of open matters only when it creates */
			if (k == KS_A_OFLAGS && i + 1 < sa->nargs && sa->arg[i + 1] == KS_A_MODE &&
			    !(v & (O_CREAT | __O_TMPFILE)))
				break;
			continue;
		}
		switch (k) {
		case KS_A_PATH:
			a = ix ? argindex_find(ix, r->tid, r->ts, paths++ ? KS_SA_PATH2 : KS_SA_PATH) : NULL;
			if (a && !(a->flags & KS_SAF_FAULT))
				quoted(&o, argindex_data(ix, a), a->len, a->flags & KS_SAF_TRUNC);
			else
				put(&o, "...");
			break;
		case KS_A_ADDR:
		case KS_A_PEER:
			a = ix ? argindex_find(ix, r->tid, r->ts, k == KS_A_ADDR ? KS_SA_ADDR : KS_SA_PEER) : NULL;
			if (a)
				sockaddr(&o, a, argindex_data(ix, a));
			else
				put(&o, k == KS_A_PEER ? "NULL" : "...");
			break;
		case KS_A_ADDRLEN:
		case KS_A_PEERLEN:
			a = ix ? argindex_find(ix, r->tid, r->ts, k == KS_A_ADDRLEN ? KS_SA_ADDR : KS_SA_PEER) : NULL;
			if (a)
				put(&o, k == KS_A_PEERLEN ? "[%lld]" : "%lld", (long long)a->val);
			else
				put(&o, k == KS_A_PEERLEN ? "NULL" : "?");
			break;
		case KS_A_FDPAIR:
			a = ix ? argindex_find(ix, r->tid, r->ts, KS_SA_FDPAIR) : NULL;
			if (a && a->len >= 8) {
				int fds[2];

				memcpy(fds, argindex_data(ix, a), sizeof(fds));
				put(&o, "[%d, %d]", fds[0], fds[1]);
			} else {
				put(&o, "...");
			}
			break;
		default:
			put(&o, "...");
		}
	}
	if (!sa && !(r->flags & KS_SYSF_ARGS))
		put(&o, "%u", r->nr);
	put(&o, ") = ");
	if (r->flags & KS_SYSF_NORET)
		put(&o, "?");
	else if ((en = sysfmt_errno_name(r->ret)))
		put(&o, "-1 %s (%s)", en, errno_text(r->ret));
	else
		put(&o, "%lld", (long long)r->ret);
	return o.len;
}

/* The kernel's own codes (include/linux/errno.h), which reach user space only as
 * the return value a tracer sees when a signal interrupts a call; strace's words. */
static const struct {
	const char *name, *text;
} internal[] = {
	{ "ERESTARTSYS", "To be restarted if SA_RESTART is set" },
	{ "ERESTARTNOINTR", "To be restarted" },
	{ "ERESTARTNOHAND", "To be restarted if no handler" },
	{ "ENOIOCTLCMD", "No ioctl command" },
	{ "ERESTART_RESTARTBLOCK", "Interrupted by signal" },
	{ "EPROBE_DEFER", "Requested probe deferred" },
	{ "EOPENSTALE", "Stale open" },
	{ "ENOPARAM", "No such parameter" },
};
#define NINTERNAL (sizeof(internal) / sizeof(internal[0]))

const char *sysfmt_errno_name(int64_t ret)
{
	if (ret >= 0 || ret < -4095)
		return NULL;
	if (-ret >= 512 && -ret < 512 + (int64_t)NINTERNAL)
		return internal[-ret - 512].name;
	return strerrorname_np((int)-ret);
}

static const char *errno_text(int64_t ret)
{
	if (-ret >= 512 && -ret < 512 + (int64_t)NINTERNAL)
		return internal[-ret - 512].text;
	return strerror((int)-ret);
}
