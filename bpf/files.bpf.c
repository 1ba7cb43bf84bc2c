// SPDX-License-Identifier: GPL-2.0
/* File changes of the traced tasks under the state dirs: the write family with
 * the bytes taken from the user buffer at syscall exit (how many were written
 * comes from the return value), truncation, allocation, modes and owners by fd,
 * creating and truncating opens, copies into a file (as dirty ranges), shared
 * writable mappings, and the namespace operations by their path strings.
 *
 * Whether a file lies under a state dir is decided here: a walk up the file's
 * dentries (crossing mounts) looks each directory up in "statedirs", so a write
 * elsewhere costs one walk and emits nothing. The path under the state dir is
 * built in the same walk. Namespace operations are resolved against the
 * directory they are relative to: emitted when it lies under a state dir, is an
 * ancestor of one, or the path climbs with "..". */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "common.bpf.h"

/* Set by the loader: the bytes of one syscall carried in records; the rest is a
 * dirty range read back by userspace. */
const volatile __u32 max_payload = 1 << 20;

#define MAX_DEPTH 32
#define MAX_MOUNTS 8
#define HALF 8192 /* record strings end below HALF; data pieces are <= HALF */
#define MAX_IOV 64

#define S_IFMT 0170000
#define S_IFREG 0100000
#define AT_FDCWD -100
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_WRONLY 01
#define O_APPEND 02000
#define FMODE_WRITE 0x2
#define PROT_WRITE 0x2
#define MAP_SHARED 0x1
#define RWF_APPEND 0x10

#if defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, syscallno)
#define SYSCALL_ARG6(regs) BPF_CORE_READ(regs, regs[5])
/* the generic table: no legacy calls (they get numbers that never match) */
#define NR_write 64
#define NR_pwrite64 68
#define NR_writev 66
#define NR_pwritev 70
#define NR_pwritev2 287
#define NR_ftruncate 46
#define NR_truncate 45
#define NR_fallocate 47
#define NR_fchmod 52
#define NR_fchown 55
#define NR_openat 56
#define NR_openat2 437
#define NR_close 57
#define NR_mmap 222
#define NR_munmap 215
#define NR_msync 227
#define NR_sendfile 71
#define NR_splice 76
#define NR_copy_file_range 285
#define NR_mkdirat 34
#define NR_mknodat 33
#define NR_unlinkat 35
#define NR_symlinkat 36
#define NR_linkat 37
#define NR_renameat 38
#define NR_renameat2 276
#define NR_fchmodat 53
#define NR_fchmodat2 452
#define NR_fchownat 54
#define NR_open 100001
#define NR_creat 100002
#define NR_mkdir 100003
#define NR_rmdir 100004
#define NR_unlink 100005
#define NR_rename 100006
#define NR_link 100007
#define NR_symlink 100008
#define NR_chmod 100009
#define NR_chown 100010
#define NR_lchown 100011
#define NR_mknod 100012
#else
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#define SYSCALL_ARG6(regs) BPF_CORE_READ(regs, r9)
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_mmap 9
#define NR_munmap 11
#define NR_pwrite64 18
#define NR_writev 20
#define NR_msync 26
#define NR_sendfile 40
#define NR_truncate 76
#define NR_ftruncate 77
#define NR_rename 82
#define NR_mkdir 83
#define NR_rmdir 84
#define NR_creat 85
#define NR_link 86
#define NR_unlink 87
#define NR_symlink 88
#define NR_chmod 90
#define NR_fchmod 91
#define NR_chown 92
#define NR_fchown 93
#define NR_lchown 94
#define NR_mknod 133
#define NR_openat 257
#define NR_mkdirat 258
#define NR_mknodat 259
#define NR_fchownat 260
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_linkat 265
#define NR_symlinkat 266
#define NR_fchmodat 268
#define NR_splice 275
#define NR_fallocate 285
#define NR_pwritev 296
#define NR_renameat2 316
#define NR_copy_file_range 326
#define NR_pwritev2 328
#define NR_openat2 437
#define NR_fchmodat2 452
#endif

/* (dev, ino) of each state dir -> its index; of each ancestor -> ANCESTOR. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct ks_statedir_key);
	__type(value, __u32);
} statedirs SEC(".maps");

/* Processes that mapped a state-dir file shared and writable. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} mappers SEC(".maps");

struct rec {
	struct ks_ev_file e;
	char buf[2 * HALF];
};

struct walk {
	const unsigned char *name[MAX_DEPTH];
	__u32 nlen[MAX_DEPTH];
	__u32 depth;
	__u32 dir;
	__u32 found;    /* under state dir dir */
	__u32 root;     /* reached the root: an absolute path */
	__u32 ancestor; /* the start is an ancestor of a state dir */
	__u32 _pad;
};

/* Loop states live in the per-CPU work area, not on the stack: the verifier
 * knows nothing of a map value's contents, so a bpf_loop callback's states
 * converge at once instead of being explored turn by turn. */
struct walk_state {
	__u64 d, mnt; /* struct dentry *, struct mount * */
	__u32 k, first;
};

struct path_state {
	__u32 k, off, n, long_;
};

struct write_state {
	__u64 ubuf;      /* write, pwrite64: the buffer; vectors: the iovec array */
	__u64 iov_base, iov_left;
	__u64 off;       /* file offset of the next byte */
	__u64 left;      /* bytes of the syscall not yet emitted */
	__u64 carry;     /* of those, bytes to carry in records */
	__u32 iov_idx, iovcnt;
	__u32 hlen;      /* bytes of r->buf holding the path */
	__u32 vec;
	__u32 fault;
	__u32 _pad;
};

struct dot_state {
	__u32 k, len, found, _pad;
};

struct work {
	struct walk w[2];
	char str[2][KS_EVF_PATH_MAX];
	struct walk_state ws;
	struct path_state ps;
	struct write_state wr;
	struct dot_state ds;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rec);
} recs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct work);
} works SEC(".maps");

static const __u32 zero = 0;

static __always_inline struct file *fd_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (fd < 0 || (unsigned long)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* Up from d to a state dir (found) or the root, noting each name; one step per
 * bpf_loop turn, so the verifier checks a step once. */
static long walk_step(__u64 i, void *unused)
{
	struct work *wk = bpf_map_lookup_elem(&works, &zero);
	struct dentry *d, *parent, *mroot;
	struct ks_statedir_key k = { 0 };
	struct mount *mnt;
	struct walk *w;
	__u32 *v;

	if (!wk)
		return 1;
	w = &wk->w[wk->ws.k & 1];
	d = (struct dentry *)wk->ws.d;
	mnt = (struct mount *)wk->ws.mnt;
	k.ino = BPF_CORE_READ(d, d_inode, i_ino);
	k.dev = BPF_CORE_READ(d, d_sb, s_dev);
	v = bpf_map_lookup_elem(&statedirs, &k);
	if (v) {
		if (!(*v & KS_STATEDIR_ANCESTOR)) {
			w->found = 1;
			w->dir = *v;
			return 1;
		}
		if (wk->ws.first)
			w->ancestor = 1;
	}
	wk->ws.first = 0;
	mroot = BPF_CORE_READ(mnt, mnt.mnt_root);
	if (d == mroot) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (up == mnt) {
			w->root = 1;
			return 1;
		}
		wk->ws.d = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		wk->ws.mnt = (__u64)up;
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (parent == d || !parent) {
		w->root = 1;
		return 1;
	}
	if (w->depth >= MAX_DEPTH)
		return 1;
	w->name[w->depth & (MAX_DEPTH - 1)] = BPF_CORE_READ(d, d_name.name);
	w->nlen[w->depth & (MAX_DEPTH - 1)] = BPF_CORE_READ(d, d_name.len);
	w->depth++;
	wk->ws.d = (__u64)parent;
	return 0;
}

static __always_inline void walk_up(struct work *wk, __u32 k, struct dentry *d,
				    struct vfsmount *vfsmnt)
{
	struct walk *w = &wk->w[k & 1];

	w->depth = 0;
	w->found = 0;
	w->root = 0;
	w->ancestor = 0;
	wk->ws.d = (__u64)d;
	wk->ws.mnt = (__u64)container_of(vfsmnt, struct mount, mnt);
	wk->ws.k = k & 1;
	wk->ws.first = 1;
	bpf_loop(MAX_DEPTH + MAX_MOUNTS, walk_step, NULL, 0);
}

/* Writes the walked path (root first, no leading '/') at r->buf[off]; one
 * component per bpf_loop turn. */
static long path_step(__u64 j, void *unused)
{
	struct work *wk = bpf_map_lookup_elem(&works, &zero);
	struct rec *r = bpf_map_lookup_elem(&recs, &zero);
	struct path_state *c;
	struct walk *w;
	__u32 i, len;

	if (!wk || !r)
		return 1;
	c = &wk->ps;
	w = &wk->w[c->k & 1];
	if (j >= w->depth)
		return 1;
	i = (w->depth - 1 - (__u32)j) & (MAX_DEPTH - 1);
	len = w->nlen[i] & 255;
	if (c->n + len + 1 >= KS_EVF_PATH_MAX) {
		c->long_ = 1;
		return 1;
	}
	if (c->n) {
		r->buf[(c->off + c->n) & (HALF - 1)] = '/';
		c->n++;
	}
	bpf_probe_read_kernel(&r->buf[(c->off + c->n) & (HALF - 1)], len, w->name[i]);
	c->n += len;
	return 0;
}

static __always_inline __u32 put_path(struct work *wk, __u32 off, __u32 k, __u32 *long_)
{
	wk->ps.k = k;
	wk->ps.off = off;
	wk->ps.n = 0;
	wk->ps.long_ = 0;
	bpf_loop(MAX_DEPTH, path_step, NULL, 0);
	if (wk->ps.long_)
		*long_ = 1;
	return wk->ps.n & (KS_EVF_PATH_MAX - 1);
}

static __always_inline __u32 put_str(struct rec *r, __u32 off, const char *s, __u32 len)
{
	len &= KS_EVF_PATH_MAX - 1;
	bpf_probe_read_kernel(&r->buf[off & (HALF - 1)], len, s);
	return len;
}

static __always_inline struct rec *rec_begin(__u32 what, __u32 nr)
{
	struct rec *r = bpf_map_lookup_elem(&recs, &zero);
	__u64 id = bpf_get_current_pid_tgid();

	if (!r)
		return NULL;
	__builtin_memset(&r->e, 0, sizeof(r->e));
	r->e.type = KS_EV_FILE | (what << 16);
	r->e.pid = id >> 32;
	r->e.tid = (__u32)id;
	r->e.nr = nr;
	r->e.ts = bpf_ktime_get_ns();
	return r;
}

static __always_inline void rec_send(void *ctx, struct rec *r, __u32 size)
{
	size &= 2 * HALF - 1;
	output(ctx, r, sizeof(r->e) + size, KS_DROP_FILE);
}

/* The state-dir file behind fd, walked into wk->w[0]; NULL when it is not one. */
static __always_inline struct file *member_file(struct work *wk, long fd, bool regular)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *f = fd_file(task, fd);
	struct dentry *d;
	umode_t mode;

	if (!f)
		return NULL;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if (regular && (mode & S_IFMT) != S_IFREG)
		return NULL;
	d = BPF_CORE_READ(f, f_path.dentry);
	/* a removed file (still open) has no path: its changes are gone with it */
	if (regular && !BPF_CORE_READ(d, d_hash.pprev))
		return NULL;
	walk_up(wk, 0, d, BPF_CORE_READ(f, f_path.mnt));
	return wk->w[0].found ? f : NULL;
}

/* Starts a record about file f (the walk in wk->w[0]): header and path. Returns
 * the bytes used in r->buf. */
static __always_inline __u32 fd_rec(struct rec *r, struct work *wk, struct file *f)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	__u32 long_ = 0, n;

	r->e.ino = BPF_CORE_READ(ino, i_ino);
	r->e.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	r->e.mode = BPF_CORE_READ(ino, i_mode);
	r->e.uid = BPF_CORE_READ(ino, i_uid.val);
	r->e.gid = BPF_CORE_READ(ino, i_gid.val);
	r->e.dir = wk->w[0].dir;
	n = put_path(wk, 0, 0, &long_);
	r->e.len1 = n;
	if (long_)
		r->e.flags |= KS_EVF_F_LONG;
	return n;
}

/* ---- the write family ------------------------------------------------------- */

/* The ring buffer directly: the perf buffer needs the program's context, which
 * a bpf_loop callback does not have (with it, writes become dirty ranges). */
static __always_inline void ring_send(struct rec *r, __u32 size)
{
	size &= 2 * HALF - 1;
	if (bpf_ringbuf_output(&events, r, sizeof(r->e) + size, wakeup_flag()))
		count_drop(KS_DROP_FILE);
}

static long piece(__u64 i, void *unused)
{
	struct work *wk = bpf_map_lookup_elem(&works, &zero);
	struct rec *r = bpf_map_lookup_elem(&recs, &zero);
	struct write_state *w;
	__u64 n, base;
	__u32 sz, hlen;

	if (!wk || !r)
		return 1;
	w = &wk->wr;
	if (!w->carry)
		return 1;
	if (w->vec) {
		if (!w->iov_left) {
			struct iovec iov;

			if (w->iov_idx >= w->iovcnt || w->iov_idx >= MAX_IOV ||
			    bpf_probe_read_user(&iov, sizeof(iov),
						(void *)(w->ubuf + w->iov_idx * sizeof(iov)))) {
				w->fault = 1;
				return 1;
			}
			w->iov_idx++;
			w->iov_base = (__u64)iov.iov_base;
			w->iov_left = iov.iov_len;
			return 0; /* an empty vector costs one turn */
		}
		base = w->iov_base;
		n = w->iov_left;
	} else {
		base = w->ubuf;
		n = w->carry;
	}
	if (n > w->carry)
		n = w->carry;
	if (n > KS_EVF_PIECE)
		n = KS_EVF_PIECE;
	sz = n;
	if (sz > KS_EVF_PIECE)
		return 1;
	hlen = w->hlen & (HALF - 1);
	if (bpf_probe_read_user(&r->buf[hlen], sz, (void *)base)) {
		w->fault = 1;
		return 1;
	}
	r->e.type = KS_EV_FILE | (KS_EVF_WRITE << 16);
	r->e.off = w->off;
	r->e.len = sz;
	r->e.dlen = sz;
	r->e.flags = (r->e.flags & ~KS_EVF_F_MORE) | (w->left > sz ? KS_EVF_F_MORE : 0);
	ring_send(r, hlen + sz);
	w->off += sz;
	w->left -= sz;
	w->carry -= sz;
	if (w->vec) {
		w->iov_base += sz;
		w->iov_left -= sz;
	} else {
		w->ubuf += sz;
	}
	return 0;
}

/* The ring is a quarter full: bytes would crowd out the other events (and be
 * lost with them); a dirty range, read back from the file, costs a record. */
static __always_inline bool ring_busy(void)
{
	__u64 avail, size;

	if (use_perfbuf)
		return true;
	avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	size = bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
	return avail * 4 > size;
}

static __always_inline int on_write(void *ctx, struct pt_regs *regs, long nr, long ret)
{
	struct work *wk = bpf_map_lookup_elem(&works, &zero);
	struct write_state *w;
	struct file *f;
	struct rec *r;
	__u64 pos = 0;
	bool at_pos = false;
	__u32 fflags;

	if (!wk || ret <= 0)
		return 0;
	f = member_file(wk, PT_REGS_PARM1_CORE_SYSCALL(regs), true);
	if (!f)
		return 0;
	r = rec_begin(KS_EVF_WRITE, nr);
	if (!r)
		return 0;
	w = &wk->wr;
	__builtin_memset(w, 0, sizeof(*w));
	w->hlen = fd_rec(r, wk, f);
	w->ubuf = PT_REGS_PARM2_CORE_SYSCALL(regs);
	if (nr == NR_writev || nr == NR_pwritev || nr == NR_pwritev2) {
		w->vec = 1;
		w->iovcnt = PT_REGS_PARM3_CORE_SYSCALL(regs);
	}
	if (nr == NR_pwrite64) {
		pos = PT_REGS_PARM4_CORE_SYSCALL(regs);
		at_pos = true;
	} else if (nr == NR_pwritev || nr == NR_pwritev2) {
		pos = PT_REGS_PARM4_CORE_SYSCALL(regs);
		at_pos = (long)pos != -1;
	}
	fflags = BPF_CORE_READ(f, f_flags);
	if (at_pos && ((fflags & O_APPEND) ||
		       (nr == NR_pwritev2 && (SYSCALL_ARG6(regs) & RWF_APPEND))))
		w->off = BPF_CORE_READ(f, f_inode, i_size) - ret; /* appended whatever pos said */
	else if (at_pos)
		w->off = pos;
	else
		w->off = BPF_CORE_READ(f, f_pos) - ret;
	r->e.total = ret;
	w->left = ret;
	w->carry = ring_busy() ? 0 : (__u64)ret < max_payload ? (__u64)ret : max_payload;
	if (!w->carry)
		r->e.flags |= KS_EVF_F_BUSY;
	if (!use_perfbuf && w->carry)
		bpf_loop(max_payload / KS_EVF_PIECE + MAX_IOV + 2, piece, NULL, 0);
	if (w->left) {
		/* too much to carry, or unreadable: userspace reads it back */
		r->e.type = KS_EV_FILE | (KS_EVF_DIRTY << 16);
		r->e.off = w->off;
		r->e.len = w->left;
		r->e.dlen = 0;
		r->e.flags &= ~KS_EVF_F_MORE;
		if (w->fault)
			r->e.flags |= KS_EVF_F_FAULT;
		rec_send(ctx, r, w->hlen);
	}
	return 0;
}

/* ---- other changes by fd ------------------------------------------------------ */

static __always_inline int on_fd(void *ctx, long nr, long fd, __u32 what, __u64 off, __u64 len,
				 __u32 arg, bool regular)
{
	struct work *wk = bpf_map_lookup_elem(&works, &zero);
	struct file *f;
	struct rec *r;
	__u32 n;

	if (!wk)
		return 0;
	f = member_file(wk, fd, regular);
	if (!f)
		return 0;
	r = rec_begin(what, nr);
	if (!r)
		return 0;
	n = fd_rec(r, wk, f);
	r->e.off = off;
	r->e.len = len;
	r->e.total = len;
	r->e.arg = arg;
	rec_send(ctx, r, n);
	return 0;
}

static __always_inline int on_open(void *ctx, struct pt_regs *regs, long nr, long ret)
{
	__u64 flags;

	if (nr == NR_open)
		flags = PT_REGS_PARM2_CORE_SYSCALL(regs);
	else if (nr == NR_openat)
		flags = PT_REGS_PARM3_CORE_SYSCALL(regs);
	else if (nr == NR_creat)
		flags = O_CREAT | O_WRONLY | O_TRUNC;
	else if (bpf_probe_read_user(&flags, sizeof(flags), (void *)PT_REGS_PARM3_CORE_SYSCALL(regs)))
		return 0; /* openat2's struct open_how: flags first */
	if (!(flags & (O_CREAT | O_TRUNC)))
		return 0;
	return on_fd(ctx, nr, ret, KS_EVF_OPEN, 0, 0, (__u32)flags, true);
}

/* Bytes copied in by the kernel (no user buffer): a dirty range. */
static __always_inline int on_copy(void *ctx, struct pt_regs *regs, long nr, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long fd;
	__u64 offp = 0, off = 0;
	struct file *f;

	if (ret <= 0)
		return 0;
	if (nr == NR_sendfile) {
		fd = PT_REGS_PARM1_CORE_SYSCALL(regs);
	} else {
		fd = PT_REGS_PARM3_CORE_SYSCALL(regs);
		offp = PT_REGS_PARM4_CORE_SYSCALL(regs);
	}
	if (offp) {
		if (bpf_probe_read_user(&off, sizeof(off), (void *)offp))
			return 0;
	} else {
		f = fd_file(task, fd);
		if (!f)
			return 0;
		off = BPF_CORE_READ(f, f_pos);
	}
	return on_fd(ctx, nr, fd, KS_EVF_DIRTY, off - ret, ret, 0, true);
}

static __always_inline int on_mmap(void *ctx, struct pt_regs *regs, long nr, long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, one = 1;
	__u64 prot = PT_REGS_PARM3_CORE_SYSCALL(regs);
	__u64 flags = PT_REGS_PARM4_CORE_SYSCALL(regs);
	struct work *wk = bpf_map_lookup_elem(&works, &zero);

	if (!(prot & PROT_WRITE) || !(flags & MAP_SHARED) || !wk)
		return 0;
	if (!member_file(wk, PT_REGS_PARM5_CORE_SYSCALL(regs), true))
		return 0;
	bpf_map_update_elem(&mappers, &tgid, &one, BPF_ANY);
	return on_fd(ctx, nr, PT_REGS_PARM5_CORE_SYSCALL(regs), KS_EVF_MMAP,
		     SYSCALL_ARG6(regs), PT_REGS_PARM2_CORE_SYSCALL(regs), 0, true);
}

static __always_inline int on_msync(void *ctx, long nr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct rec *r;

	if (!bpf_map_lookup_elem(&mappers, &tgid))
		return 0;
	r = rec_begin(KS_EVF_MSYNC, nr);
	if (r)
		rec_send(ctx, r, 0);
	return 0;
}

/* ---- namespace operations ----------------------------------------------------- */

static long dotdot(__u64 i, void *unused)
{
	struct work *wk = bpf_map_lookup_elem(&works, &zero);
	const char *s;
	__u32 len;

	if (!wk)
		return 1;
	s = wk->str[wk->ds.k & 1];
	len = wk->ds.len;
	if (i + 1 >= len)
		return 1;
	if (s[i & (KS_EVF_PATH_MAX - 1)] == '.' && s[(i + 1) & (KS_EVF_PATH_MAX - 1)] == '.' &&
	    (!i || s[(i - 1) & (KS_EVF_PATH_MAX - 1)] == '/') &&
	    (i + 2 >= len || s[(i + 2) & (KS_EVF_PATH_MAX - 1)] == '/')) {
		wk->ds.found = 1;
		return 1;
	}
	return 0;
}

/* Reads path argument upath (relative to dfd) into wk->str[k] and walks the
 * directory it is relative to into wk->w[k]. Returns its length, or -1. */
static __always_inline long resolve(struct work *wk, int k, long dfd, const char *upath)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct dentry *d;
	struct vfsmount *m;
	char *s = wk->str[k & 1];
	long n = bpf_probe_read_user_str(s, KS_EVF_PATH_MAX, upath);

	if (n <= 0)
		return -1;
	if (s[0] == '/') {
		d = BPF_CORE_READ(task, fs, root.dentry);
		m = BPF_CORE_READ(task, fs, root.mnt);
	} else if ((int)dfd == AT_FDCWD) {
		d = BPF_CORE_READ(task, fs, pwd.dentry);
		m = BPF_CORE_READ(task, fs, pwd.mnt);
	} else {
		struct file *f = fd_file(task, dfd);

		if (!f)
			return -1;
		d = BPF_CORE_READ(f, f_path.dentry);
		m = BPF_CORE_READ(f, f_path.mnt);
	}
	walk_up(wk, k, d, m);
	return n - 1;
}

/* Whether the path (resolved by resolve) may name something under a state dir. */
static __always_inline bool may_matter(struct work *wk, int k, long len)
{
	if (wk->w[k & 1].found || wk->w[k & 1].ancestor)
		return true;
	wk->ds.k = k;
	wk->ds.len = len;
	wk->ds.found = 0;
	bpf_loop(KS_EVF_PATH_MAX, dotdot, NULL, 0);
	return wk->ds.found;
}

static __always_inline int on_name(void *ctx, struct pt_regs *regs, long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct work *wk = bpf_map_lookup_elem(&works, &zero);
	long a0 = PT_REGS_PARM1_CORE_SYSCALL(regs), a1 = PT_REGS_PARM2_CORE_SYSCALL(regs);
	long a2 = PT_REGS_PARM3_CORE_SYSCALL(regs), a3 = PT_REGS_PARM4_CORE_SYSCALL(regs);
	long a4 = PT_REGS_PARM5_CORE_SYSCALL(regs);
	long l1 = -1, l2 = -1, target = -1;
	__u32 mode = 0, uid = 0, gid = 0, arg = 0, umask = BPF_CORE_READ(task, fs, umask);
	__u64 len = 0;
	__u32 long_ = 0, n, o;
	struct rec *r;

	if (!wk)
		return 0;
	uid = BPF_CORE_READ(task, cred, fsuid.val);
	gid = BPF_CORE_READ(task, cred, fsgid.val);
	if (nr == NR_mkdir || nr == NR_rmdir || nr == NR_unlink || nr == NR_chmod ||
	    nr == NR_chown || nr == NR_lchown || nr == NR_truncate || nr == NR_mknod) {
		l1 = resolve(wk, 0, AT_FDCWD, (const char *)a0);
		if (nr == NR_mkdir)
			mode = a1 & 01777 & ~umask;
		else if (nr == NR_mknod)
			mode = a1;
		else if (nr == NR_chmod)
			mode = a1 & 07777;
		else if (nr == NR_truncate)
			len = a1;
		if (nr == NR_chown || nr == NR_lchown) {
			uid = a1;
			gid = a2;
			arg = nr == NR_lchown ? 0x100 /* AT_SYMLINK_NOFOLLOW */ : 0;
		}
	} else if (nr == NR_mkdirat || nr == NR_unlinkat || nr == NR_fchmodat ||
		   nr == NR_fchmodat2 || nr == NR_fchownat || nr == NR_mknodat) {
		l1 = resolve(wk, 0, a0, (const char *)a1);
		if (nr == NR_mkdirat)
			mode = a2 & 01777 & ~umask;
		else if (nr == NR_mknodat)
			mode = a2;
		else if (nr == NR_fchmodat || nr == NR_fchmodat2)
			mode = a2 & 07777;
		if (nr == NR_unlinkat)
			arg = a2;
		else if (nr == NR_fchmodat2)
			arg = a3;
		if (nr == NR_fchownat) {
			uid = a2;
			gid = a3;
			arg = a4;
		}
	} else if (nr == NR_rename || nr == NR_link) {
		l1 = resolve(wk, 0, AT_FDCWD, (const char *)a0);
		l2 = resolve(wk, 1, AT_FDCWD, (const char *)a1);
	} else if (nr == NR_renameat || nr == NR_renameat2 || nr == NR_linkat) {
		l1 = resolve(wk, 0, a0, (const char *)a1);
		l2 = resolve(wk, 1, a2, (const char *)a3);
		if (nr != NR_renameat)
			arg = a4;
	} else if (nr == NR_symlink) {
		l1 = resolve(wk, 0, AT_FDCWD, (const char *)a1);
		target = bpf_probe_read_user_str(wk->str[1], KS_EVF_PATH_MAX, (const char *)a0);
	} else if (nr == NR_symlinkat) {
		l1 = resolve(wk, 0, a1, (const char *)a2);
		target = bpf_probe_read_user_str(wk->str[1], KS_EVF_PATH_MAX, (const char *)a0);
	} else {
		return 0;
	}
	if ((nr == NR_mknod || nr == NR_mknodat)) {
		if ((mode & S_IFMT) && (mode & S_IFMT) != S_IFREG)
			return 0; /* devices, fifos, sockets: not file state */
		mode = mode & 07777 & ~umask;
	}
	if (l1 < 0)
		return 0;
	if (!may_matter(wk, 0, l1) && (l2 < 0 || !may_matter(wk, 1, l2)))
		return 0;
	r = rec_begin(KS_EVF_NAME, nr);
	if (!r)
		return 0;
	r->e.mode = mode;
	r->e.uid = uid;
	r->e.gid = gid;
	r->e.arg = arg;
	r->e.len = len;
	r->e.dir = wk->w[0].dir;
	if (!wk->w[0].found)
		r->e.flags |= KS_EVF_F_ABS1;
	if (!wk->w[0].found && !wk->w[0].root)
		long_ = 1;
	o = put_path(wk, 0, 0, &long_);
	r->e.len1 = o;
	n = put_str(r, o, wk->str[0], l1);
	r->e.len2 = n;
	o += n;
	if (l2 >= 0) {
		r->e.dir3 = wk->w[1].dir;
		if (!wk->w[1].found)
			r->e.flags |= KS_EVF_F_ABS3;
		if (!wk->w[1].found && !wk->w[1].root)
			long_ = 1;
		n = put_path(wk, o, 1, &long_);
		r->e.len3 = n;
		o += n;
		n = put_str(r, o, wk->str[1], l2);
		r->e.len4 = n;
		o += n;
	} else if (target > 0) {
		n = put_str(r, o, wk->str[1], target - 1);
		r->e.len4 = n;
		o += n;
	}
	if (long_)
		r->e.flags |= KS_EVF_F_LONG;
	rec_send(ctx, r, o);
	return 0;
}

/* ---- hooks ---------------------------------------------------------------------- */

/* Three programs on sys_exit, each for its group of syscalls: each is verified
 * on its own (one program for all exceeds the verifier's budget), and a
 * syscall outside the group costs a compare. */
SEC("tp_btf/sys_exit")
int BPF_PROG(ks_files_write, struct pt_regs *regs, long ret)
{
	long nr = SYSCALL_NR(regs);

	if (ret <= 0 || (nr != NR_write && nr != NR_pwrite64 && nr != NR_writev &&
			 nr != NR_pwritev && nr != NR_pwritev2))
		return 0;
	if (!current_ctx())
		return 0;
	return on_write(ctx, regs, nr, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ks_files_fd, struct pt_regs *regs, long ret)
{
	long nr = SYSCALL_NR(regs);

	if (ret < 0)
		return 0;
	switch (nr) {
	case NR_ftruncate:
	case NR_fallocate:
	case NR_fchmod:
	case NR_fchown:
	case NR_open:
	case NR_openat:
	case NR_openat2:
	case NR_creat:
	case NR_sendfile:
	case NR_splice:
	case NR_copy_file_range:
	case NR_mmap:
	case NR_msync:
	case NR_munmap:
		break;
	default:
		return 0;
	}
	if (!current_ctx())
		return 0;
	switch (nr) {
	case NR_ftruncate:
		return on_fd(ctx, nr, PT_REGS_PARM1_CORE_SYSCALL(regs), KS_EVF_TRUNCATE, 0,
			     PT_REGS_PARM2_CORE_SYSCALL(regs), 0, true);
	case NR_fallocate:
		return on_fd(ctx, nr, PT_REGS_PARM1_CORE_SYSCALL(regs), KS_EVF_FALLOCATE,
			     PT_REGS_PARM3_CORE_SYSCALL(regs), PT_REGS_PARM4_CORE_SYSCALL(regs),
			     PT_REGS_PARM2_CORE_SYSCALL(regs), true);
	case NR_fchmod:
		return on_fd(ctx, nr, PT_REGS_PARM1_CORE_SYSCALL(regs), KS_EVF_CHMOD, 0, 0, 0, false);
	case NR_fchown:
		return on_fd(ctx, nr, PT_REGS_PARM1_CORE_SYSCALL(regs), KS_EVF_CHOWN, 0, 0, 0, false);
	case NR_open:
	case NR_openat:
	case NR_openat2:
	case NR_creat:
		return on_open(ctx, regs, nr, ret);
	case NR_sendfile:
	case NR_splice:
	case NR_copy_file_range:
		return on_copy(ctx, regs, nr, ret);
	case NR_mmap:
		return on_mmap(ctx, regs, nr, ret);
	default:
		return on_msync(ctx, nr);
	}
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ks_files_name, struct pt_regs *regs, long ret)
{
	long nr = SYSCALL_NR(regs);

	if (ret < 0)
		return 0;
	switch (nr) {
	case NR_mkdir:
	case NR_mkdirat:
	case NR_rmdir:
	case NR_unlink:
	case NR_unlinkat:
	case NR_rename:
	case NR_renameat:
	case NR_renameat2:
	case NR_link:
	case NR_linkat:
	case NR_symlink:
	case NR_symlinkat:
	case NR_truncate:
	case NR_chmod:
	case NR_fchmodat:
	case NR_fchmodat2:
	case NR_chown:
	case NR_lchown:
	case NR_fchownat:
	case NR_mknod:
	case NR_mknodat:
		break;
	default:
		return 0;
	}
	if (!current_ctx())
		return 0;
	return on_name(ctx, regs, nr);
}

/* A close of a file open for writing: userspace verifies it. */
SEC("tp_btf/sys_enter")
int BPF_PROG(ks_files_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task;
	struct file *f;

	if (id != NR_close || !current_ctx())
		return 0;
	task = bpf_get_current_task_btf();
	f = fd_file(task, PT_REGS_PARM1_CORE_SYSCALL(regs));
	if (!f || !(BPF_CORE_READ(f, f_mode) & FMODE_WRITE))
		return 0;
	return on_fd(ctx, id, PT_REGS_PARM1_CORE_SYSCALL(regs), KS_EVF_CLOSE, 0, 0, 0, true);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ks_files_proc_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct rec *r;

	if (BPF_CORE_READ(p, pid) != tgid || !current_ctx())
		return 0;
	bpf_map_delete_elem(&mappers, &tgid);
	r = rec_begin(KS_EVF_EXIT, 0);
	if (r)
		rec_send(ctx, r, 0);
	return 0;
}
