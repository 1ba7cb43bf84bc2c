/* Unit tests of file-state restore: the delta codec and writer (format/delta.c),
 * the confined tree primitives and the whole-trace restore and timeline
 * (replay/restore.c, replay/timeline.c). Scenarios are applied both to a real
 * directory (the oracle) and, as deltas through the store API, to a trace that is
 * then restored and compared entry by entry. Hostile traces are written through
 * the same API and must not make restore write outside its directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/delta.h"
#include "format/kserr.h"
#include "replay/restore.h"
#include "replay/timeline.h"
#include "replay/trace.h"
#include "store/store.h"
#include "util/bytes.h"

struct fx {
	char dir[256];     /* scratch root */
	char live[300];    /* the oracle tree: <dir>/live/state */
	char state[300];   /* the recorded state dir path (== live) */
	char trace[300];
	char to[300];      /* restore destination */
	char outside[300]; /* must never appear */
	struct ks_store *st;
	struct ks_delta_writer *w;
	uint64_t ts;
};

/* snprintf for paths, out of the compiler's truncation analysis: a path that
 * does not fit is cut, and then not found. */
static void pathf(char *out, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, n, fmt, ap);
	va_end(ap);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(p);
	return unlink(p);
}

static void rm_tree(const char *p)
{
	/* read-only directories of the scenarios must not stop the cleanup */
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null", p);
	if (system(cmd)) {
	}
	nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int store_put(void *ctx, int db, const void *k, size_t kl, const void *v, size_t vl)
{
	return ks_store_put(ctx, db == KS_DW_FILES ? KS_DB_FILES : KS_DB_DELTAS, k, kl, v, vl);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/ks_restore_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->live, sizeof(f->live), "%s/live", f->dir);
	mkdir(f->live, 0755);
	snprintf(f->live, sizeof(f->live), "%s/live/state", f->dir);
	snprintf(f->state, sizeof(f->state), "%s", f->live);
	snprintf(f->trace, sizeof(f->trace), "%s/trace.lmdb", f->dir);
	snprintf(f->to, sizeof(f->to), "%s/to", f->dir);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
	f->ts = 1000000000ull;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->w)
		ks_dw_free(f->w);
	if (f->st)
		ks_store_close(f->st);
	rm_tree(f->dir);
	free(f);
	return 0;
}

/* ---- building traces -------------------------------------------------------- */

static void trace_begin(struct fx *f, const char *state_dirs_json)
{
	char json[700];

	assert_int_equal(ks_store_open(f->trace, KS_STORE_CREATE, &f->st), 0);
	if (!state_dirs_json) {
		snprintf(json, sizeof(json), "[\"%s\"]", f->state);
		state_dirs_json = json;
	}
	assert_int_equal(ks_store_put_meta(f->st, "state_dirs", state_dirs_json), 0);
	assert_int_equal(ks_store_put_meta(f->st, "mono_to_realtime_ns", "1700000000000000000"), 0);
	assert_int_equal(ks_store_put_meta(f->st, "statedir_start_ns", "1000000000"), 0);
	assert_int_equal(ks_dw_new(store_put, f->st, 0, &f->w), 0);
}

static void trace_end(struct fx *f)
{
	assert_int_equal(ks_dw_flush(f->w), 0);
	ks_dw_free(f->w);
	f->w = NULL;
	assert_int_equal(ks_store_close(f->st), 0);
	f->st = NULL;
}

static uint64_t id_of(struct fx *f, const char *rel)
{
	char p[PATH_MAX];
	uint64_t id;

	if (!strcmp(rel, "."))
		snprintf(p, sizeof(p), "%s", f->state);
	else
		snprintf(p, sizeof(p), "%s/%s", f->state, rel);
	assert_int_equal(ks_dw_file(f->w, p, strlen(p), &id), 0);
	return id;
}

static void put(struct fx *f, struct ks_delta *d, const void *data, size_t len)
{
	if (!d->ts)
		d->ts = f->ts += 1000;
	d->pid = d->pid ? d->pid : 42;
	assert_int_equal(ks_dw_add(f->w, d, data, len), 0);
}

static const char *lpath(struct fx *f, const char *rel, char *buf)
{
	snprintf(buf, PATH_MAX, "%s/%s", f->live, rel);
	return buf;
}

/* Each op: done on the live tree (the oracle) and recorded as a delta. */
static void op_mkdir(struct fx *f, const char *rel, mode_t mode)
{
	char p[PATH_MAX];
	struct ks_delta d = { .op = KS_DOP_MKDIR, .file = id_of(f, rel), .mode = mode,
			      .uid = UINT32_MAX, .gid = UINT32_MAX };

	assert_int_equal(strcmp(rel, ".") ? mkdir(lpath(f, rel, p), mode) : mkdir(f->live, mode), 0);
	assert_int_equal(chmod(strcmp(rel, ".") ? p : f->live, mode), 0);
	put(f, &d, NULL, 0);
}

static void op_write(struct fx *f, const char *rel, uint64_t off, const void *data, size_t len)
{
	char p[PATH_MAX];
	struct ks_delta d = { .op = KS_DOP_WRITE, .file = id_of(f, rel), .offset = off,
			      .length = len };
	int fd = open(lpath(f, rel, p), O_WRONLY | O_CREAT, 0644);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
	close(fd);
	put(f, &d, data, len);
}

static void op_create(struct fx *f, const char *rel, mode_t mode)
{
	char p[PATH_MAX];
	struct ks_delta d = { .op = KS_DOP_CREATE, .file = id_of(f, rel), .mode = mode,
			      .uid = UINT32_MAX, .gid = UINT32_MAX };
	int fd = open(lpath(f, rel, p), O_WRONLY | O_CREAT, mode);

	assert_true(fd >= 0);
	fchmod(fd, mode);
	close(fd);
	put(f, &d, NULL, 0);
}

static void op_content(struct fx *f, const char *rel, const void *data, size_t len,
		       uint64_t size, mode_t mode)
{
	char p[PATH_MAX];
	struct ks_delta d = { .op = KS_DOP_CONTENT, .file = id_of(f, rel), .length = size,
			      .mode = mode, .uid = UINT32_MAX, .gid = UINT32_MAX };
	int fd = open(lpath(f, rel, p), O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	fchmod(fd, mode);
	close(fd);
	put(f, &d, data, len);
}

static void op_simple(struct fx *f, unsigned op, const char *rel, const char *rel2,
		      uint64_t a, uint64_t b, uint32_t arg)
{
	char p[PATH_MAX], p2[PATH_MAX];
	struct ks_delta d = { .op = (uint8_t)op, .file = id_of(f, rel), .uid = UINT32_MAX,
			      .gid = UINT32_MAX, .arg = arg };
	int fd;

	lpath(f, rel, p);
	if (rel2) {
		lpath(f, rel2, p2);
		d.file2 = id_of(f, rel2);
	}
	switch (op) {
	case KS_DOP_TRUNCATE:
		assert_int_equal(truncate(p, (off_t)a), 0);
		d.length = a;
		break;
	case KS_DOP_UNLINK:
		assert_int_equal(unlink(p), 0);
		break;
	case KS_DOP_RMDIR:
		assert_int_equal(rmdir(p), 0);
		break;
	case KS_DOP_RENAME:
		assert_int_equal(renameat2(AT_FDCWD, p, AT_FDCWD, p2, arg), 0);
		break;
	case KS_DOP_LINK:
		assert_int_equal(link(p, p2), 0);
		break;
	case KS_DOP_CHMOD:
		assert_int_equal(chmod(p, (mode_t)a), 0);
		d.mode = (uint32_t)a;
		break;
	case KS_DOP_FALLOCATE:
		fd = open(p, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(fallocate(fd, (int)arg, (off_t)a, (off_t)b), 0);
		close(fd);
		d.offset = a;
		d.length = b;
		break;
	default:
		fail_msg("op %u", op);
	}
	put(f, &d, NULL, 0);
}

static void op_symlink(struct fx *f, const char *rel, const char *target)
{
	char p[PATH_MAX];
	struct ks_delta d = { .op = KS_DOP_SYMLINK, .file = id_of(f, rel) };

	assert_int_equal(symlink(target, lpath(f, rel, p)), 0);
	put(f, &d, target, strlen(target));
}

/* ---- comparing trees -------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list_dir(const char *p, char ***out)
{
	DIR *d = opendir(p);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), name_cmp);
	*out = v;
	return n;
}

static void same_file(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	char ba[8192], bb[8192];
	size_t na, nb;

	assert_non_null(fa);
	assert_non_null(fb);
	do {
		na = fread(ba, 1, sizeof(ba), fa);
		nb = fread(bb, 1, sizeof(bb), fb);
		if (na != nb || memcmp(ba, bb, na))
			fail_msg("%s and %s differ", a, b);
	} while (na);
	fclose(fa);
	fclose(fb);
}

/* Type, mode, size, bytes, link targets and link counts of every entry. */
static void same_tree(const char *a, const char *b)
{
	struct stat sa, sb;
	char **na, **nb;
	size_t n, m;

	assert_int_equal(lstat(a, &sa), 0);
	if (lstat(b, &sb))
		fail_msg("%s is missing", b);
	if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT))
		fail_msg("%s: type %o, %s: type %o", a, sa.st_mode & S_IFMT, b, sb.st_mode & S_IFMT);
	if (!S_ISLNK(sa.st_mode) && (sa.st_mode & 07777) != (sb.st_mode & 07777))
		fail_msg("%s: mode %o, %s: mode %o", a, sa.st_mode & 07777, b, sb.st_mode & 07777);
	if (S_ISREG(sa.st_mode)) {
		if (sa.st_size != sb.st_size)
			fail_msg("%s: %lld bytes, %s: %lld", a, (long long)sa.st_size, b,
				 (long long)sb.st_size);
		if (sa.st_nlink != sb.st_nlink)
			fail_msg("%s: %lu links, %s: %lu", a, (unsigned long)sa.st_nlink, b,
				 (unsigned long)sb.st_nlink);
		same_file(a, b);
	} else if (S_ISLNK(sa.st_mode)) {
		char ta[PATH_MAX] = "", tb[PATH_MAX] = "";

		assert_true(readlink(a, ta, sizeof(ta) - 1) >= 0);
		assert_true(readlink(b, tb, sizeof(tb) - 1) >= 0);
		assert_string_equal(ta, tb);
	} else if (S_ISDIR(sa.st_mode)) {
		n = list_dir(a, &na);
		m = list_dir(b, &nb);
		if (n != m)
			fail_msg("%s has %zu entries, %s has %zu", a, n, b, m);
		for (size_t i = 0; i < n; i++) {
			char ca[PATH_MAX], cb[PATH_MAX];

			assert_string_equal(na[i], nb[i]);
			snprintf(ca, sizeof(ca), "%s/%s", a, na[i]);
			snprintf(cb, sizeof(cb), "%s/%s", b, nb[i]);
			same_tree(ca, cb);
			free(na[i]);
			free(nb[i]);
		}
		free(na);
		free(nb);
	}
}

static int do_restore(struct fx *f, uint64_t at, bool flat, char *err, size_t errlen)
{
	struct replay_trace *t;
	struct restore_opts o = { .to = f->to, .at = at, .flat = flat };
	struct restore_stats st;
	char msg[512];
	int rc;

	assert_int_equal(replay_open(f->trace, &t, msg, sizeof(msg)), 0);
	rc = restore_trace(t, &o, &st);
	if (err)
		snprintf(err, errlen, "%s", rc ? t->err : "");
	replay_close(t);
	return rc;
}

static const char *restored(struct fx *f, char *buf)
{
	snprintf(buf, PATH_MAX, "%s%s", f->to, f->state);
	return buf;
}

static void fill(uint8_t *p, size_t n, unsigned seed);

/* ---- codec ------------------------------------------------------------------ */

struct mem_put {
	uint8_t k[64][32];
	size_t kl[64];
	uint8_t *v[64];
	size_t vl[64];
	int n;
	bool fail_deltas; /* puts of deltas fail */
};

static int mem_put(void *ctx, int db, const void *k, size_t kl, const void *v, size_t vl)
{
	struct mem_put *m = ctx;

	if (db != KS_DW_DELTAS || m->n == 64)
		return 0;
	if (m->fail_deltas && kl == KS_DELTA_KEY_LEN)
		return -EIO;
	memcpy(m->k[m->n], k, kl);
	m->kl[m->n] = kl;
	m->v[m->n] = malloc(vl);
	memcpy(m->v[m->n], v, vl);
	m->vl[m->n++] = vl;
	return 0;
}

static void test_codec_round_trip(void **state)
{
	struct mem_put m = { 0 };
	struct ks_delta_writer *w;
	struct ks_delta_reader *rd;
	struct ks_delta d = { .op = KS_DOP_WRITE, .file = 7, .ts = 99, .pid = 5, .offset = 10,
			      .length = 11 }, e;
	struct ks_dw_stats st;
	static uint8_t big[3 * KS_CHUNK_MAX + 100];
	const void *p;
	(void)state;

	assert_int_equal(ks_dw_new(mem_put, &m, 0, &w), 0);
	assert_int_equal(ks_delta_reader_new(&rd), 0);
	assert_int_equal(ks_dw_add(w, &d, "hello world", 11), 0);
	assert_int_equal(m.n, 1);
	assert_int_equal(ks_delta_decode(m.k[0], m.kl[0], m.v[0], m.vl[0], &e), 0);
	assert_int_equal(e.file, 7);
	assert_int_equal(e.seq, 1);
	assert_int_equal(e.ts, 99);
	assert_int_equal(e.pid, 5);
	assert_int_equal(e.offset, 10);
	assert_int_equal(e.length, 11);
	assert_int_equal(e.dlen, 11);
	assert_int_equal(ks_delta_inline(rd, &e, &p), 0);
	assert_memory_equal(p, "hello world", 11);

	/* a big write at an unaligned offset: chunks cut at absolute multiples of
	 * KS_CHUNK_MAX, the zero one a hole, a repeated one stored once; random
	 * bytes that do not compress are a value of their own, the rest goes into a
	 * pack, which the delta waits for */
	fill(big, KS_CHUNK_MAX, 3);
	memset(big + KS_CHUNK_MAX, 0, KS_CHUNK_MAX);
	memcpy(big + 2 * KS_CHUNK_MAX, big, KS_CHUNK_MAX);
	memset(big + 3 * KS_CHUNK_MAX, 'a', 100);
	d = (struct ks_delta){ .op = KS_DOP_WRITE, .file = 7, .offset = KS_CHUNK_MAX,
			       .length = sizeof(big) };
	assert_int_equal(ks_dw_add(w, &d, big, sizeof(big)), 0);
	ks_dw_get_stats(w, &st);
	assert_int_equal(st.chunks, 2);      /* random x 64K, 'a' x 100 */
	assert_int_equal(st.chunks_dup, 1);  /* the second random x 64K */
	assert_int_equal(st.chunks_zero, 1);
	assert_int_equal(m.n, 1 + 1);        /* the random chunk; the delta waits */
	assert_int_equal(ks_dw_flush(w), 0);
	assert_int_equal(m.n, 1 + 1 + 2);    /* then the pack and the delta */
	assert_true(ks_is_pack_key(m.k[2], m.kl[2]));
	assert_int_equal(ks_delta_decode(m.k[3], m.kl[3], m.v[3], m.vl[3], &e), 0);
	assert_int_equal(e.enc, KS_DENC_CHUNKS);
	assert_int_equal(ks_delta_chunk_count(&e), 4);
	assert_int_equal(e.dlen, sizeof(big));
	{
		struct ks_chunk_ref r;
		const void *c;
		size_t cl;

		ks_delta_chunk_ref(&e, 1, &r);
		assert_int_equal(r.kind, KS_CHUNK_ZERO);
		ks_delta_chunk_ref(&e, 0, &r);
		assert_int_equal(r.kind, KS_CHUNK_DATA);
		assert_int_equal(r.pack, 0);
		assert_true(ks_is_chunk_key(m.k[1], m.kl[1]));
		assert_memory_equal(m.k[1] + 8, r.hash, 16);
		assert_int_equal(ks_chunk_decode(rd, r.hash, r.len, m.v[1], m.vl[1], &p), 0);
		assert_memory_equal(p, big, KS_CHUNK_MAX);
		/* a damaged chunk is caught by its hash */
		m.v[1][m.vl[1] - 1] ^= 1;
		assert_int_not_equal(ks_chunk_decode(rd, r.hash, r.len, m.v[1], m.vl[1], &p), 0);
		m.v[1][m.vl[1] - 1] ^= 1;
		assert_int_equal(ks_chunk_decode(rd, r.hash, r.len + 1, m.v[1], m.vl[1], &p),
				 -KS_ERAWSIZE);
		/* the packed one, and a reference past its pack's end */
		ks_delta_chunk_ref(&e, 3, &r);
		assert_int_not_equal(r.pack, 0);
		assert_int_equal(ks_pack_slice(m.v[2], m.vl[2], &r, &c, &cl), 0);
		assert_int_equal(ks_chunk_decode(rd, r.hash, r.len, c, cl, &p), 0);
		assert_memory_equal(p, big + 3 * KS_CHUNK_MAX, 100);
		r.off = (uint32_t)m.vl[2];
		assert_int_equal(ks_pack_slice(m.v[2], m.vl[2], &r, &c, &cl), -KS_ETRUNC);
		r.off = 0;
		r.slen = UINT32_MAX;
		assert_int_equal(ks_pack_slice(m.v[2], m.vl[2], &r, &c, &cl), -KS_ETRUNC);
		assert_int_equal(ks_pack_slice(m.v[2], 4, &r, &c, &cl), -KS_ETRUNC);
	}
	for (int i = 0; i < m.n; i++)
		free(m.v[i]);
	ks_delta_reader_free(rd);
	ks_dw_free(w);
}

/* Walks every chunk reference of the stored deltas: refd[j] set for each stored
 * chunk or pack referred to. Returns the references to ones not stored. */
static int mem_refs(const struct mem_put *m, bool refd[64])
{
	struct ks_delta d;
	struct ks_chunk_ref r;
	int n = 0;

	for (int i = 0; i < m->n; i++) {
		if (m->kl[i] != KS_DELTA_KEY_LEN ||
		    ks_delta_decode(m->k[i], m->kl[i], m->v[i], m->vl[i], &d) ||
		    d.enc != KS_DENC_CHUNKS)
			continue;
		for (size_t c = 0; c < ks_delta_chunk_count(&d); c++) {
			bool found = false;

			ks_delta_chunk_ref(&d, c, &r);
			if (r.kind != KS_CHUNK_DATA)
				continue;
			for (int j = 0; j < m->n; j++)
				if (r.pack ? ks_is_pack_key(m->k[j], m->kl[j]) &&
					     ks_get_be64(m->k[j] + 12) == r.pack :
					     ks_is_chunk_key(m->k[j], m->kl[j]) &&
					     !memcmp(m->k[j] + 8, r.hash, 16))
					found = refd[j] = true;
			n += !found;
		}
	}
	return n;
}

/* What a drop's sweep does to the stored deltas: the deltas below upto go, then
 * every chunk and pack no delta left refers to. */
static void mem_sweep(struct mem_put *m, uint64_t upto)
{
	struct ks_delta d;
	bool refd[64] = { false };

	for (int i = 0; i < m->n; i++)
		if (m->kl[i] == KS_DELTA_KEY_LEN &&
		    !ks_delta_decode(m->k[i], m->kl[i], m->v[i], m->vl[i], &d) && d.seq < upto)
			m->kl[i] = 0;
	mem_refs(m, refd);
	for (int i = 0; i < m->n; i++)
		if ((ks_is_chunk_key(m->k[i], m->kl[i]) || ks_is_pack_key(m->k[i], m->kl[i])) &&
		    !refd[i])
			m->kl[i] = 0;
}

/* References of the stored deltas to chunks or packs that are not stored. */
static int mem_dangling(struct mem_put *m)
{
	bool refd[64] = { false };

	return mem_refs(m, refd);
}

/* The chunks the delta writer remembers are the ones a sweep keeps: those the
 * deltas of the last checkpoint and after it refer to. A content that is given
 * up (the shadow refused it) has stored chunks no delta refers to, and one the
 * checkpoint did not refer to is gone with the epoch before it; the same bytes
 * written again must be stored again, not referred to. */
static void test_dw_remembers_what_a_sweep_keeps(void **state)
{
	static uint8_t a[KS_CHUNK_MAX + 100], b[KS_CHUNK_MAX + 100];
	struct mem_put m = { 0 };
	struct ks_delta_writer *w;
	struct ks_delta d;
	uint64_t seq, upto, reused;
	(void)state;

	/* random, so a value of its own, and 100 bytes of text, so a pack */
	fill(a, KS_CHUNK_MAX, 11);
	memset(a + KS_CHUNK_MAX, 'a', 100);
	fill(b, KS_CHUNK_MAX, 12);
	memset(b + KS_CHUNK_MAX, 'b', 100);
	assert_int_equal(ks_dw_new(mem_put, &m, 0, &w), 0);

	/* given up: chunks stored, no delta; a sweep takes them */
	d = (struct ks_delta){ .op = KS_DOP_CONTENT, .file = 1, .length = sizeof(a) };
	assert_int_equal(ks_dw_content_begin(w, &d), 0);
	assert_int_equal(ks_dw_content_data(w, a, sizeof(a)), 0);
	ks_dw_content_abort(w);
	assert_int_equal(ks_dw_flush(w), 0);
	mem_sweep(&m, 1);
	d = (struct ks_delta){ .op = KS_DOP_WRITE, .file = 2, .length = sizeof(a) };
	assert_int_equal(ks_dw_add(w, &d, a, sizeof(a)), 0);
	assert_int_equal(ks_dw_flush(w), 0);
	assert_int_equal(mem_dangling(&m), 0);
	/* a delta that cannot be put: the same */
	fill(b, KS_CHUNK_MAX, 13);
	m.fail_deltas = true;
	d = (struct ks_delta){ .op = KS_DOP_WRITE, .file = 2, .length = KS_CHUNK_MAX };
	assert_int_equal(ks_dw_add(w, &d, b, KS_CHUNK_MAX), -EIO);
	m.fail_deltas = false;
	mem_sweep(&m, 1);
	d = (struct ks_delta){ .op = KS_DOP_WRITE, .file = 2, .length = KS_CHUNK_MAX };
	assert_int_equal(ks_dw_add(w, &d, b, KS_CHUNK_MAX), 0);
	assert_int_equal(ks_dw_flush(w), 0);
	assert_int_equal(mem_dangling(&m), 0);
	fill(b, KS_CHUNK_MAX, 12);

	/* A, then B; the next checkpoint holds B only; the epoch before it goes
	 * (its deltas, then what nothing refers to), and A is written again */
	d = (struct ks_delta){ .op = KS_DOP_CONTENT, .file = 3, .length = sizeof(b) };
	assert_int_equal(ks_dw_content_begin(w, &d), 0);
	assert_int_equal(ks_dw_content_data(w, b, sizeof(b)), 0);
	assert_int_equal(ks_dw_content_end(w, sizeof(b), &seq), 0);
	assert_int_equal(ks_dw_flush(w), 0);
	ks_dw_checkpoint_begin(w);
	upto = ks_dw_next_seq(w);
	d = (struct ks_delta){ .op = KS_DOP_CONTENT, .file = 3, .length = sizeof(b),
			       .flags = KS_DF_BASELINE };
	assert_int_equal(ks_dw_content_begin(w, &d), 0);
	assert_int_equal(ks_dw_content_data(w, b, sizeof(b)), 0);
	assert_int_equal(ks_dw_content_end(w, sizeof(b), &seq), 0);
	assert_int_equal(ks_dw_flush(w), 0);
	ks_dw_checkpoint_end(w, &reused);
	assert_true(reused > KS_CHUNK_MAX); /* B referred to, not stored again */
	mem_sweep(&m, upto);
	assert_int_equal(mem_dangling(&m), 0);
	d = (struct ks_delta){ .op = KS_DOP_WRITE, .file = 3, .length = sizeof(a) };
	assert_int_equal(ks_dw_add(w, &d, a, sizeof(a)), 0);
	d = (struct ks_delta){ .op = KS_DOP_WRITE, .file = 3, .length = sizeof(b) };
	assert_int_equal(ks_dw_add(w, &d, b, sizeof(b)), 0);
	assert_int_equal(ks_dw_flush(w), 0);
	assert_int_equal(mem_dangling(&m), 0);
	assert_true(m.n < 64);
	for (int i = 0; i < m.n; i++)
		free(m.v[i]);
	ks_dw_free(w);
}

static void test_codec_rejects(void **state)
{
	uint8_t key[KS_DELTA_KEY_LEN], v[KS_DELTA_HDR_SIZE + 64];
	struct ks_delta d = { .op = KS_DOP_CHMOD, .file = 1, .mode = 0644 }, e;
	(void)state;

	ks_delta_key(1, 1, key);
	ks_delta_encode(&d, NULL, v);
	assert_int_equal(ks_delta_decode(key, sizeof(key), v, KS_DELTA_HDR_SIZE, &e), 0);
	v[3] ^= 1; /* any bit flipped: the checksum says so */
	assert_int_equal(ks_delta_decode(key, sizeof(key), v, KS_DELTA_HDR_SIZE, &e), -KS_ECHECKSUM);
	v[3] ^= 1;
	assert_int_equal(ks_delta_decode(key, sizeof(key), v, KS_DELTA_HDR_SIZE - 1, &e),
			 -KS_ETRUNC);
	assert_int_equal(ks_delta_decode(key, sizeof(key), v, KS_DELTA_HDR_SIZE + 1, &e),
			 -KS_ETRAILING);
	assert_int_not_equal(ks_delta_decode(key, 8, v, KS_DELTA_HDR_SIZE, &e), 0);
#define REJECT(field, value, code)                                                   \
	do {                                                                        \
		struct ks_delta x = d;                                              \
		x.field = value;                                                    \
		ks_delta_encode(&x, NULL, v);                                       \
		assert_int_equal(ks_delta_decode(key, sizeof(key), v, KS_DELTA_HDR_SIZE, &e), \
				 code);                                             \
	} while (0)
	REJECT(op, 0, -KS_ESCHEMA);
	REJECT(op, KS_DOP_MAX, -KS_ESCHEMA);
	REJECT(op, KS_DOP_WRITE, -KS_ESIZES); /* a write without bytes */
	REJECT(op, KS_DOP_RENAME, -KS_ESCHEMA); /* without file2 */
	REJECT(op, KS_DOP_SYMLINK, -KS_ESCHEMA); /* without a target */
	REJECT(mode, 010644, -KS_ESCHEMA);
	REJECT(flags, 0x80, -KS_EFLAGS);
	REJECT(enc, 9, -KS_ESCHEMA);
	REJECT(offset, KS_FILE_SIZE_MAX + 1, -KS_ERANGE);
	REJECT(length, UINT64_MAX, -KS_ERANGE);
	/* offset + length wrapping around */
	{
		struct ks_delta x = d;

		x.offset = KS_FILE_SIZE_MAX;
		x.length = 1;
		ks_delta_encode(&x, NULL, v);
		assert_int_equal(ks_delta_decode(key, sizeof(key), v, KS_DELTA_HDR_SIZE, &e),
				 -KS_ERANGE);
	}
	/* version */
	ks_delta_encode(&d, NULL, v);
	v[0] = 2;
	assert_int_equal(ks_delta_decode(key, sizeof(key), v, KS_DELTA_HDR_SIZE, &e), -KS_EVERSION);
	/* a chunk list whose entries are bad */
	{
		struct ks_delta x = { .op = KS_DOP_WRITE, .file = 1, .enc = KS_DENC_CHUNKS,
				      .plen = KS_CHUNK_REF_SIZE, .length = 10 };
		uint8_t ref[KS_CHUNK_REF_SIZE] = { 0 };
		const size_t vl = KS_DELTA_HDR_SIZE + KS_CHUNK_REF_SIZE;

		ref[1] = 10; /* len 10 */
		ref[33] = 20; /* stored in 20 bytes */
		ks_delta_encode(&x, ref, v);
		assert_int_equal(ks_delta_decode(key, sizeof(key), v, vl, &e), 0);
		ref[29] = 4; /* an offset, but no pack */
		ks_delta_encode(&x, ref, v);
		assert_int_equal(ks_delta_decode(key, sizeof(key), v, vl, &e), -KS_ESCHEMA);
		ref[29] = 0;
		ref[0] = 7; /* kind */
		ks_delta_encode(&x, ref, v);
		assert_int_equal(ks_delta_decode(key, sizeof(key), v, vl, &e), -KS_ESCHEMA);
		ref[0] = 0;
		ref[3] = 1; /* len 65546 > KS_CHUNK_MAX */
		ks_delta_encode(&x, ref, v);
		assert_int_equal(ks_delta_decode(key, sizeof(key), v, vl, &e), -KS_ESCHEMA);
		ref[3] = 0;
		ref[1] = 9; /* 9 bytes for a write of 10 */
		ks_delta_encode(&x, ref, v);
		assert_int_equal(ks_delta_decode(key, sizeof(key), v, vl, &e), -KS_ESIZES);
	}
}

static void test_rel_ok(void **state)
{
	static const char *good[] = { ".", "a", "a/b", "a/.b", "a/..b", "...", "a b/c" };
	static const char *bad[] = { "", "/a", "a/", "a//b", "..", "a/..", "../a", "a/./b",
				     "./a", "a/." };
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(rs_rel_ok(good[i], strlen(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (rs_rel_ok(bad[i], strlen(bad[i])))
			fail_msg("'%s' accepted", bad[i]);
	assert_false(rs_rel_ok("a\0b", 3));
}

/* ---- whole-trace restore ------------------------------------------------------ */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

/* Every operation, and the oracle tree next to it. */
static void scenario(struct fx *f)
{
	static uint8_t buf[300000];
	uint8_t small[700];

	op_mkdir(f, ".", 0755);
	op_mkdir(f, "sub", 0750);
	op_mkdir(f, "sub/deep", 0700);
	fill(buf, sizeof(buf), 1);
	op_content(f, "before.bin", buf, 200000, 200000, 0640);
	op_content(f, "sparse", "head", 4, 5u << 20, 0600);
	op_content(f, "empty", "", 0, 0, 0444);
	op_create(f, "sub/new.txt", 0664);
	op_write(f, "sub/new.txt", 0, "first line\n", 11);
	for (unsigned i = 0; i < 40; i++) {
		fill(small, sizeof(small), 100 + i);
		op_write(f, "before.bin", (i * 7919u) % 199000u, small, sizeof(small));
	}
	fill(buf, sizeof(buf), 2);
	op_create(f, "sub/deep/big", 0644);
	op_write(f, "sub/deep/big", 12345, buf, sizeof(buf)); /* chunked, unaligned */
	op_simple(f, KS_DOP_TRUNCATE, "sub/deep/big", NULL, 100000, 0, 0);
	op_simple(f, KS_DOP_TRUNCATE, "sub/new.txt", NULL, 3u << 20, 0, 0); /* sparse extension */
	op_simple(f, KS_DOP_FALLOCATE, "before.bin", NULL, 1000, 5000, FALLOC_FL_PUNCH_HOLE |
		  FALLOC_FL_KEEP_SIZE);
	op_simple(f, KS_DOP_FALLOCATE, "before.bin", NULL, 250000, 10000, 0);
	op_simple(f, KS_DOP_LINK, "before.bin", "sub/hardlink", 0, 0, 0);
	op_write(f, "sub/hardlink", 5, "through the link", 16);
	op_symlink(f, "link-to-sub", "sub/new.txt");
	op_symlink(f, "dangling", "/nonexistent/../etc/passwd");
	op_simple(f, KS_DOP_RENAME, "sub/new.txt", "renamed.txt", 0, 0, 0);
	op_create(f, "gone", 0600);
	op_simple(f, KS_DOP_UNLINK, "gone", NULL, 0, 0, 0);
	op_mkdir(f, "gonedir", 0755);
	op_simple(f, KS_DOP_RMDIR, "gonedir", NULL, 0, 0, 0);
	op_create(f, "x", 0600);
	op_write(f, "x", 0, "xxxx", 4);
	op_create(f, "y", 0600);
	op_write(f, "y", 0, "yy", 2);
	op_simple(f, KS_DOP_RENAME, "x", "y", 0, 0, RENAME_EXCHANGE);
	op_simple(f, KS_DOP_RENAME, "y", "sub/deep/big", 0, 0, 0); /* over an existing file */
	op_simple(f, KS_DOP_CHMOD, "sub/deep", NULL, 0500, 0, 0);  /* read-only dir */
	op_simple(f, KS_DOP_CHMOD, "before.bin", NULL, 0604, 0, 0);
}

static void test_restore_every_op(void **state)
{
	struct fx *f = *state;
	char err[700], p[PATH_MAX];

	trace_begin(f, NULL);
	scenario(f);
	trace_end(f);
	if (do_restore(f, UINT64_MAX, false, err, sizeof(err)))
		fail_msg("%s", err);
	same_tree(f->live, restored(f, p));
	/* --flat: the state dir's contents directly in DIR */
	rm_tree(f->to);
	if (do_restore(f, UINT64_MAX, true, err, sizeof(err)))
		fail_msg("%s", err);
	same_tree(f->live, f->to);
	/* DIR must be empty */
	assert_int_not_equal(do_restore(f, UINT64_MAX, true, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "not empty"));
}

static void test_restore_at_and_torn(void **state)
{
	struct fx *f = *state;
	char err[700], p[PATH_MAX], q[PATH_MAX], snap[PATH_MAX];
	struct ks_delta d;
	uint64_t mid;
	FILE *fp;

	trace_begin(f, NULL);
	op_mkdir(f, ".", 0755);
	op_create(f, "db", 0644);
	op_write(f, "db", 0, "version one", 11);
	mid = f->ts;
	/* the oracle of the state at mid */
	snprintf(snap, sizeof(snap), "%s/snap", f->dir);
	pathf(p, sizeof(p), "cp -a '%s' '%s'", f->live, snap);
	assert_int_equal(system(p), 0);
	op_write(f, "db", 0, "VERSION TWO, longer", 19);
	op_simple(f, KS_DOP_RENAME, "db", "db.old", 0, 0, 0);
	/* a change of two deltas cut after the first: left out whole */
	d = (struct ks_delta){ .op = KS_DOP_CREATE, .file = id_of(f, "torn"), .mode = 0600,
			       .flags = KS_DF_MORE, .uid = UINT32_MAX, .gid = UINT32_MAX };
	put(f, &d, NULL, 0);
	trace_end(f);

	assert_int_equal(do_restore(f, mid, false, err, sizeof(err)), 0);
	same_tree(snap, restored(f, p));
	rm_tree(f->to);
	assert_int_equal(do_restore(f, UINT64_MAX, false, err, sizeof(err)), 0);
	same_tree(f->live, restored(f, p));
	pathf(q, sizeof(q), "%s/torn", p);
	assert_int_not_equal(access(q, F_OK), 0);
	pathf(q, sizeof(q), "%s/db.old", p);
	fp = fopen(q, "r");
	assert_non_null(fp);
	fclose(fp);
	/* before everything: nothing but the parents */
	rm_tree(f->to);
	assert_int_equal(do_restore(f, 1, false, err, sizeof(err)), 0);
	assert_int_not_equal(access(restored(f, p), F_OK), 0);
}

/* ---- hostile traces -------------------------------------------------------------- */

static void put_file_entry(struct fx *f, uint64_t id, const char *path, size_t len)
{
	uint8_t key[8];

	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(id >> (56 - 8 * i));
	assert_int_equal(ks_store_put(f->st, KS_DB_FILES, key, 8, path, len), 0);
}

static void put_raw_delta(struct fx *f, uint64_t file, uint64_t seq, struct ks_delta *d,
			  const void *payload)
{
	uint8_t key[KS_DELTA_KEY_LEN], v[KS_DELTA_HDR_SIZE + 4096];

	d->ts = d->ts ? d->ts : 2000000000ull;
	ks_delta_key(file, seq, key);
	ks_delta_encode(d, payload, v);
	assert_int_equal(ks_store_put(f->st, KS_DB_DELTAS, key, sizeof(key), v,
				      KS_DELTA_HDR_SIZE + d->plen), 0);
}

/* Nothing may exist outside DIR but what was there before. */
static void nothing_outside(struct fx *f)
{
	char **names;
	size_t n = list_dir(f->dir, &names);

	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "live") && strcmp(names[i], "to") &&
		    strncmp(names[i], "trace.lmdb", 10))
			fail_msg("restore wrote %s/%s", f->dir, names[i]);
		free(names[i]);
	}
	free(names);
	assert_int_not_equal(access("/etc/ksight-restore-test", F_OK), 0);
}

static void hostile_path(struct fx *f, const char *path, size_t len, const char *expect)
{
	struct ks_delta d = { .op = KS_DOP_WRITE, .file = 2, .length = 4, .enc = KS_DENC_RAW,
			      .plen = 4, .rlen = 4 };
	struct ks_delta mk = { .op = KS_DOP_MKDIR, .file = 1, .mode = 0755 };
	char err[700];

	rm_tree(f->to);
	unlink(f->trace);
	trace_begin(f, NULL);
	put_file_entry(f, 1, f->state, strlen(f->state));
	put_file_entry(f, 2, path, len);
	put_raw_delta(f, 1, 1, &mk, NULL);
	put_raw_delta(f, 2, 2, &d, "evil");
	trace_end(f);
	assert_int_not_equal(do_restore(f, UINT64_MAX, false, err, sizeof(err)), 0);
	if (!strstr(err, expect))
		fail_msg("for '%.*s': '%s' lacks '%s'", (int)len, path, err, expect);
	assert_non_null(strstr(err, "file entry 2"));
	nothing_outside(f);
	/* refused before anything was written */
	assert_int_not_equal(access(f->to, F_OK), 0);
}

static void test_hostile_paths(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX];
	size_t n;

	n = (size_t)snprintf(p, sizeof(p), "%s/../../outside", f->state);
	hostile_path(f, p, n, "'..'");
	n = (size_t)snprintf(p, sizeof(p), "%s/a/../../../outside", f->state);
	hostile_path(f, p, n, "'..'");
	hostile_path(f, "/etc/ksight-restore-test", 24, "outside the recorded state dirs");
	n = (size_t)snprintf(p, sizeof(p), "%sX/sibling", f->state); /* a prefix is not a parent */
	hostile_path(f, p, n, "outside the recorded state dirs");
	n = (size_t)snprintf(p, sizeof(p), "relative/outside");
	hostile_path(f, p, n, "not a plain absolute path");
	n = (size_t)snprintf(p, sizeof(p), "%s/a//b", f->state);
	hostile_path(f, p, n, "not a plain absolute path");
	n = (size_t)snprintf(p, sizeof(p), "%s/nul", f->state);
	p[n++] = '\0';
	n += (size_t)snprintf(p + n, sizeof(p) - n, "/../../../outside");
	hostile_path(f, p, n, "\\x00");
}

static void test_hostile_state_dirs(void **state)
{
	struct fx *f = *state;
	static const char *lists[] = { "[\"/\"]", "[\"/tmp/../etc\"]", "[\"relative\"]",
				       "{\"a\": 1}", "[1]", "not json" };
	char err[700];

	for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
		rm_tree(f->to);
		unlink(f->trace);
		trace_begin(f, lists[i]);
		trace_end(f);
		assert_int_not_equal(do_restore(f, UINT64_MAX, false, err, sizeof(err)), 0);
		assert_non_null(strstr(err, "state dir"));
		nothing_outside(f);
	}
}

/* A symlink pointing out, then deltas that would go through it. */
static void test_hostile_symlinks(void **state)
{
	struct fx *f = *state;
	char err[700], p[PATH_MAX], target[PATH_MAX];
	struct ks_delta d;
	size_t n;

	mkdir(f->outside, 0755);
	trace_begin(f, NULL);
	op_mkdir(f, ".", 0755);
	snprintf(target, sizeof(target), "%s", f->outside);
	op_symlink(f, "evil", target);
	op_symlink(f, "evilfile", "../../outside/file");
	/* not done on the oracle: what a hostile trace asks for */
	d = (struct ks_delta){ .op = KS_DOP_WRITE, .file = id_of(f, "evil/x"), .length = 4 };
	put(f, &d, "pwnd", 4);
	d = (struct ks_delta){ .op = KS_DOP_WRITE, .file = id_of(f, "evilfile"), .length = 4 };
	put(f, &d, "pwnd", 4);
	d = (struct ks_delta){ .op = KS_DOP_CREATE, .file = id_of(f, "evil/created"),
			       .mode = 0644, .uid = UINT32_MAX, .gid = UINT32_MAX };
	put(f, &d, NULL, 0);
	d = (struct ks_delta){ .op = KS_DOP_MKDIR, .file = id_of(f, "evil/dir"), .mode = 0755,
			       .uid = UINT32_MAX, .gid = UINT32_MAX };
	put(f, &d, NULL, 0);
	d = (struct ks_delta){ .op = KS_DOP_CHMOD, .file = id_of(f, "evilfile"), .mode = 0777 };
	put(f, &d, NULL, 0);
	d = (struct ks_delta){ .op = KS_DOP_TRUNCATE, .file = id_of(f, "evilfile"), .length = 0 };
	put(f, &d, NULL, 0);
	d = (struct ks_delta){ .op = KS_DOP_RENAME, .file = id_of(f, "evilfile"),
			       .file2 = id_of(f, "evil/moved") };
	put(f, &d, NULL, 0);
	d = (struct ks_delta){ .op = KS_DOP_LINK, .file = id_of(f, "evilfile"),
			       .file2 = id_of(f, "evil/linked") };
	put(f, &d, NULL, 0);
	d = (struct ks_delta){ .op = KS_DOP_SYMLINK, .file = id_of(f, "evil/sym") };
	put(f, &d, "x", 1);
	/* CONTENT over the symlink replaces the link itself, never its target */
	d = (struct ks_delta){ .op = KS_DOP_CONTENT, .file = id_of(f, "evilfile"), .length = 4,
			       .mode = 0600, .uid = UINT32_MAX, .gid = UINT32_MAX };
	put(f, &d, "safe", 4);
	trace_end(f);
	assert_int_not_equal(do_restore(f, UINT64_MAX, false, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "could not be applied"));
	/* the outside directory is as it was: empty */
	{
		char **names;

		n = list_dir(f->outside, &names);
		assert_int_equal(n, 0);
		free(names);
	}
	snprintf(p, sizeof(p), "%s%s/evilfile", f->to, f->state);
	{
		struct stat sb;
		char buf[8] = "";
		FILE *fp;

		assert_int_equal(lstat(p, &sb), 0);
		assert_true(S_ISREG(sb.st_mode));
		fp = fopen(p, "r");
		assert_non_null(fp);
		assert_int_equal(fread(buf, 1, 4, fp), 4);
		fclose(fp);
		assert_string_equal(buf, "safe");
	}
	snprintf(p, sizeof(p), "%s%s/evil", f->to, f->state);
	{
		char t[PATH_MAX] = "";

		assert_true(readlink(p, t, sizeof(t) - 1) > 0);
		assert_string_equal(t, target);
	}
}

/* The destination itself must not be a symlink to elsewhere. */
static void test_dest_symlink(void **state)
{
	struct fx *f = *state;
	char err[700];

	mkdir(f->outside, 0755);
	assert_int_equal(symlink(f->outside, f->to), 0);
	trace_begin(f, NULL);
	op_mkdir(f, ".", 0755);
	trace_end(f);
	assert_int_not_equal(do_restore(f, UINT64_MAX, false, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "symlink"));
	unlink(f->to);
}

/* A chunk whose bytes do not match its hash is refused, named. */
static void test_damaged_chunk(void **state)
{
	struct fx *f = *state;
	struct ks_db_iter *it;
	const void *k, *v;
	size_t kl, vl;
	char err[700];
	static uint8_t buf[100000];
	uint8_t key[KS_CHUNK_KEY_LEN], *copy = NULL;
	size_t copylen = 0;
	struct replay_trace *t;

	trace_begin(f, NULL);
	op_mkdir(f, ".", 0755);
	fill(buf, sizeof(buf), 9);
	op_content(f, "f", buf, sizeof(buf), sizeof(buf), 0644);
	trace_end(f);
	/* find a chunk and write it back damaged */
	assert_int_equal(replay_open(f->trace, &t, err, sizeof(err)), 0);
	assert_int_equal(ks_store_iter(t->st, KS_DB_DELTAS, &it), 0);
	while (ks_db_iter_next(it, &k, &kl, &v, &vl) > 0)
		if (ks_is_chunk_key(k, kl) && !copy) {
			memcpy(key, k, kl);
			copy = malloc(vl);
			memcpy(copy, v, vl);
			copylen = vl;
		}
	ks_db_iter_free(it);
	replay_close(t);
	assert_non_null(copy);
	copy[copylen / 2] ^= 0x40;
	assert_int_equal(ks_store_open(f->trace, 0, &f->st), 0);
	assert_int_equal(ks_store_put(f->st, KS_DB_DELTAS, key, sizeof(key), copy, copylen), 0);
	assert_int_equal(ks_store_close(f->st), 0);
	f->st = NULL;
	free(copy);
	assert_int_not_equal(do_restore(f, UINT64_MAX, false, err, sizeof(err)), 0);
	assert_true(strstr(err, "checksum") || strstr(err, "ecompress") || strstr(err, "size"));
	assert_non_null(strstr(err, "content"));
}

/* A pack whose bytes were damaged: its chunks fail their hash, named. */
static void test_damaged_pack(void **state)
{
	struct fx *f = *state;
	struct replay_trace *t;
	struct ks_db_iter *it;
	const void *k, *v;
	size_t kl, vl, copylen = 0;
	uint8_t key[KS_PACK_KEY_LEN], *copy = NULL;
	char err[700], text[20000];

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "compressible text, "[i % 19];
	trace_begin(f, NULL);
	op_mkdir(f, ".", 0755);
	op_content(f, "f", text, sizeof(text), sizeof(text), 0644);
	trace_end(f);
	assert_int_equal(replay_open(f->trace, &t, err, sizeof(err)), 0);
	assert_int_equal(ks_store_iter(t->st, KS_DB_DELTAS, &it), 0);
	while (ks_db_iter_next(it, &k, &kl, &v, &vl) > 0)
		if (ks_is_pack_key(k, kl) && !copy) {
			memcpy(key, k, kl);
			copy = malloc(vl);
			memcpy(copy, v, vl);
			copylen = vl;
		}
	ks_db_iter_free(it);
	replay_close(t);
	assert_non_null(copy);
	copy[copylen - 3] ^= 0x01;
	assert_int_equal(ks_store_open(f->trace, 0, &f->st), 0);
	assert_int_equal(ks_store_put(f->st, KS_DB_DELTAS, key, sizeof(key), copy, copylen), 0);
	assert_int_equal(ks_store_close(f->st), 0);
	f->st = NULL;
	free(copy);
	assert_int_not_equal(do_restore(f, UINT64_MAX, false, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "content"));
	assert_non_null(strstr(err, "'f'") ? err : strstr(err, "/f'"));
}

/* ---- times and timeline ------------------------------------------------------ */

static void test_parse_time(void **state)
{
	struct fx *f = *state;
	struct replay_trace *t;
	char msg[512];
	uint64_t v;

	trace_begin(f, NULL);
	trace_end(f);
	assert_int_equal(replay_open(f->trace, &t, msg, sizeof(msg)), 0);
	/* mono_to_realtime = 1700000000 s; start = 1 s */
	assert_int_equal(restore_parse_time(t, "+2.5s", &v), 0);
	assert_int_equal(v, 3500000000ull);
	assert_int_equal(restore_parse_time(t, "+150ms", &v), 0);
	assert_int_equal(v, 1150000000ull);
	assert_int_equal(restore_parse_time(t, "1700000002.25", &v), 0);
	assert_int_equal(v, 2250000000ull);
	assert_int_equal(restore_parse_time(t, "1700000002", &v), 0);
	assert_int_equal(v, 2000000000ull);
	/* 1700000002 is 2023-11-14T22:13:22Z */
	assert_int_equal(restore_parse_time(t, "2023-11-14T22:13:22.5Z", &v), 0);
	assert_int_equal(v, 2500000000ull);
	assert_int_equal(restore_parse_time(t, "2023-11-14 22:13:22.5", &v), 0);
	assert_int_equal(v, 2500000000ull);
	assert_int_equal(restore_parse_time(t, "2023-11-15T00:13:22+02:00", &v), 0);
	assert_int_equal(v, 2000000000ull);
	assert_int_equal(restore_parse_time(t, "2023-11-14T21:13:22.000000001-01:00", &v), 0);
	assert_int_equal(v, 2000000001ull);
	assert_int_equal(restore_parse_time(t, "1970-01-01T00:00:00Z", &v), 0);
	assert_int_equal(v, 0); /* before the clock's start: clamped */
	assert_int_equal(restore_parse_time(t, "+2.5", &v), -EINVAL);
	assert_int_equal(restore_parse_time(t, "yesterday", &v), -EINVAL);
	assert_int_equal(restore_parse_time(t, "2023-13-14T22:13:22Z", &v), -EINVAL);
	assert_int_equal(restore_parse_time(t, "2023-11-14T22:13:22Zjunk", &v), -EINVAL);
	assert_int_equal(restore_parse_time(t, "12.", &v), -EINVAL);
	assert_int_equal(restore_parse_time(t, "", &v), -EINVAL);
	replay_close(t);
}

static void test_timeline_sizes(void **state)
{
	struct fx *f = *state;
	struct replay_trace *t;
	struct timeline tl;
	char msg[512], p[PATH_MAX];
	const struct timeline_file *a = NULL, *b = NULL;

	trace_begin(f, NULL);
	op_mkdir(f, ".", 0755);
	op_create(f, "a", 0644);
	op_write(f, "a", 0, "12345", 5);
	op_simple(f, KS_DOP_LINK, "a", "b", 0, 0, 0);
	op_write(f, "b", 10, "xy", 2);           /* a and b: 12 bytes */
	op_simple(f, KS_DOP_TRUNCATE, "a", NULL, 3, 0, 0);
	op_simple(f, KS_DOP_UNLINK, "a", NULL, 0, 0, 0);
	op_simple(f, KS_DOP_RENAME, "b", "c", 0, 0, 0);
	trace_end(f);
	assert_int_equal(replay_open(f->trace, &t, msg, sizeof(msg)), 0);
	assert_int_equal(timeline_build(t, NULL, &tl), 0);
	for (size_t i = 0; i < tl.n; i++) {
		if (strstr(tl.files[i].path, "/state/a"))
			a = &tl.files[i];
		if (strstr(tl.files[i].path, "/state/b"))
			b = &tl.files[i];
	}
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->n, 5); /* create, write, link (from), truncate, unlink */
	assert_int_equal(a->rows[1].size, 5);
	assert_int_equal(a->rows[3].size, 3);
	assert_int_equal(a->rows[4].size, -1);
	assert_int_equal(b->n, 3); /* link (new name), write, rename (from) */
	assert_int_equal(b->rows[1].size, 12);
	assert_int_equal(b->rows[1].bytes, 2);
	assert_int_equal(b->rows[1].offset, 10);
	assert_int_equal(b->rows[2].size, -1);
	timeline_free(&tl);
	/* a filter keeps the path and what lies under it only */
	snprintf(p, sizeof(p), "%s/c", f->state);
	assert_int_equal(timeline_build(t, p, &tl), 0);
	assert_int_equal(tl.n, 1);
	assert_int_equal(tl.files[0].rows[0].size, 3);
	timeline_free(&tl);
	replay_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_round_trip),
		cmocka_unit_test(test_codec_rejects),
		cmocka_unit_test(test_dw_remembers_what_a_sweep_keeps),
		cmocka_unit_test(test_rel_ok),
		cmocka_unit_test_setup_teardown(test_restore_every_op, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_at_and_torn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_state_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dest_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_chunk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeline_sizes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
