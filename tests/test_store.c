/* Unit tests of store/: round trips, segment order, append after reopen, a writer
 * killed mid-run, map growth, read-only opening, and damaged or foreign files
 * (each damaged open runs in a child so a crash is seen and counted). */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "format/kserr.h"
#include "store/store.h"

#define MiB (1024u * 1024u)

/* ASan builds: a small quarantine keeps this process small, and so the thousands
 * of forks of the damaged-file tests fast. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=8";
}

struct fixture {
	char dir[512];
	char path[600];
};

/* ---- helpers ---------------------------------------------------------------- */

/* snprintf for paths; a path that does not fit is cut, and then not found. */
static void pathf(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, n, fmt, ap);
	va_end(ap);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/ks_store_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	pathf(fx->path, sizeof(fx->path), "%s/trace.lmdb", fx->dir);
	*state = fx;
	return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(p);
	return unlink(p);
}

static int chmod_dirs(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(p, 0700);
	else if (flag == FTW_F && !(sb->st_mode & S_IWUSR))
		chmod(p, 0600);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	chmod(fx->dir, 0700);
	nftw(fx->dir, chmod_dirs, 16, FTW_PHYS);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void path_in(const struct fixture *fx, const char *name, char *out, size_t n)
{
	pathf(out, n, "%s/%s", fx->dir, name);
}

static int exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static int lock_exists(const char *path)
{
	char lp[PATH_MAX];

	pathf(lp, sizeof(lp), "%s-lock", path);
	return exists(lp);
}

/* The content of segment (kind, seq): its length and bytes are derived from both,
 * so a segment read back in the wrong place or damaged does not compare equal. */
static size_t seg_len(unsigned kind, uint64_t seq)
{
	uint64_t h = (seq + 1) * 2654435761u + kind * 40503u;

	if (seq % 13 == 5)
		return 3000 + h % 20000; /* overflow pages */
	return 1 + h % 1500;
}

static void seg_fill(unsigned char *b, size_t len, unsigned kind, uint64_t seq)
{
	uint32_t x = (uint32_t)(seq * 0x9E3779B9u) ^ (kind << 24) ^ 0x5bd1e995u;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
}

static int seg_matches(const void *buf, size_t len, unsigned kind, uint64_t seq)
{
	static unsigned char want[64 * 1024];
	size_t wlen = seg_len(kind, seq);

	if (len != wlen || wlen > sizeof(want))
		return 0;
	seg_fill(want, wlen, kind, seq);
	return memcmp(buf, want, len) == 0;
}

static int put_seg(struct ks_store *st, unsigned kind, uint64_t seq)
{
	static unsigned char b[64 * 1024];
	size_t len = seg_len(kind, seq);

	seg_fill(b, len, kind, seq);
	return ks_store_put_segment(st, kind, b, len);
}

static void be32(unsigned char *k, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		k[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void be64(unsigned char *k, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		k[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* A trace with every database used, committed over several transactions so it has
 * branch pages, overflow pages and a free list. */
static int build_trace(const char *path, unsigned nseg)
{
	struct ks_store *st;
	char val[128];
	int err = ks_store_open(path, KS_STORE_CREATE, &st);

	if (err)
		return err;
	err = ks_store_put_meta(st, "host", "testhost");
	if (!err)
		err = ks_store_put_meta(st, "kernel", "6.1.0-test");
	for (unsigned i = 0; i < nseg && !err; i++) {
		err = put_seg(st, 1 + i % 3, i / 3);
		if (!err && i % 20 == 19)
			err = ks_store_commit(st);
	}
	for (uint32_t pid = 100; pid < 160 && !err; pid++) {
		unsigned char k[4];

		be32(k, pid);
		snprintf(val, sizeof(val), "proc %u comm=cmd%u argv=a b c", pid, pid);
		err = ks_store_put(st, KS_DB_FILES, k, sizeof(k), val, strlen(val));
	}
	for (uint64_t id = 1; id <= 40 && !err; id++) {
		unsigned char k[16];

		be64(k, id);
		snprintf(val, sizeof(val), "/state/dir/file-%03llu", (unsigned long long)id);
		err = ks_store_put(st, KS_DB_FILES, k, 8, val, strlen(val));
		be64(k + 8, id * 3);
		if (!err)
			err = ks_store_put(st, KS_DB_DELTAS, k, 16, val, strlen(val));
	}
	if (!err)
		err = ks_store_put_meta(st, "lost.cpu0", "0");
	if (err) {
		ks_store_close(st);
		return err;
	}
	return ks_store_close(st);
}

static int read_file(const char *path, unsigned char **buf, size_t *len)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = 0;

	*buf = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		err = -errno;
		goto out;
	}
	*len = (size_t)sb.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		err = -ENOMEM;
		goto out;
	}
	if (pread(fd, *buf, *len, 0) != (ssize_t)*len)
		err = -EIO;
out:
	close(fd);
	return err;
}

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd;
	int err = 0;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (len && write(fd, buf, len) != (ssize_t)len)
		err = -EIO;
	close(fd);
	return err;
}

/* Opens path read-only and reads everything in it, touching every byte handed
 * out. Returns 0 or the first error. Used by children on damaged files. */
static int read_everything(const char *path)
{
	struct ks_store *st;
	struct ks_store_info info;
	volatile unsigned sum = 0;
	char *v = NULL;
	int err = ks_store_open(path, KS_STORE_RDONLY, &st);

	if (err)
		return err;
	for (int db = 0; db < KS_DB_COUNT && !err; db++) {
		struct ks_db_iter *it;
		const void *k, *val;
		size_t kl, vl;
		int r;

		err = ks_store_iter(st, db, &it);
		if (err)
			break;
		while ((r = ks_db_iter_next(it, &k, &kl, &val, &vl)) == 1) {
			for (size_t i = 0; i < kl; i++)
				sum += ((const unsigned char *)k)[i];
			for (size_t i = 0; i < vl; i++)
				sum += ((const unsigned char *)val)[i];
		}
		ks_db_iter_free(it);
		err = r;
	}
	for (unsigned kind = 0; kind <= 3 && !err; kind++) {
		struct ks_seg_iter *it;
		const void *b;
		size_t len;
		int r;

		err = ks_store_iter_segments(st, kind, &it);
		if (err)
			break;
		while ((r = ks_seg_iter_next(it, NULL, NULL, &b, &len)) == 1)
			for (size_t i = 0; i < len; i++)
				sum += ((const unsigned char *)b)[i];
		ks_seg_iter_free(it);
		err = r;
	}
	if (!err)
		err = ks_store_get_meta(st, "format_version", &v);
	free(v);
	if (!err)
		err = ks_store_stat(st, &info);
	ks_store_close(st);
	return err;
}

/* Outcome of a child that opened a damaged file. */
enum outcome { OUT_OK, OUT_ERROR, OUT_LMDB_CRASH, OUT_CRASH, OUT_HANG };

#define CHILD_OK 100
#define CHILD_ERROR 101
#define CHILD_LMDB_CRASH 102

static int in_lmdb(void *addr)
{
	Dl_info di;

	return dladdr(addr, &di) && di.dli_fname && strstr(di.dli_fname, "liblmdb");
}

static int in_libc(void *addr)
{
	Dl_info di;

	return dladdr(addr, &di) && di.dli_fname && strstr(di.dli_fname, "libc.so");
}

/* A fatal signal in a reading child: whose fault? Frames 0 and 1 are this handler
 * and the signal trampoline; the first frame after them outside libc (memcmp,
 * abort...) is the culprit. LMDB's own crashes exit CHILD_LMDB_CRASH, any other
 * dies of the signal. */
static void child_crash(int sig)
{
	void *frames[64];
	int n = backtrace(frames, 64);

	for (int i = 2; i < n; i++) {
		if (in_libc(frames[i]))
			continue;
		if (in_lmdb(frames[i]))
			_exit(CHILD_LMDB_CRASH);
		break;
	}
	signal(sig, SIG_DFL);
	raise(sig);
	_exit(1);
}

/* Runs read_everything(path) in a child. *err gets the clean error, if any. */
static enum outcome read_in_child(const char *path, int *err)
{
	int pfd[2];
	int status, e = 0;
	pid_t pid;

	if (pipe(pfd) < 0)
		return OUT_CRASH;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return OUT_CRASH;
	}
	if (pid == 0) {
		int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
		int devnull = open("/dev/null", O_WRONLY);

		/* cmocka (and ASan) catch these to report and go on: here they are
		 * classified and kill the child */
		for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
			signal(fatal[i], child_crash);
		close(pfd[0]);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		alarm(20);
		e = read_everything(path);
		if (write(pfd[1], &e, sizeof(e)) != sizeof(e))
			_exit(1);
		_exit(e ? CHILD_ERROR : CHILD_OK);
	}
	close(pfd[1]);
	if (read(pfd[0], &e, sizeof(e)) != sizeof(e))
		e = 0;
	close(pfd[0]);
	*err = e;
	if (waitpid(pid, &status, 0) < 0)
		return OUT_CRASH;
	if (WIFSIGNALED(status))
		return WTERMSIG(status) == SIGALRM ? OUT_HANG : OUT_CRASH;
	switch (WEXITSTATUS(status)) {
	case CHILD_OK:
		return OUT_OK;
	case CHILD_ERROR:
		return OUT_ERROR;
	case CHILD_LMDB_CRASH:
		return OUT_LMDB_CRASH;
	default:
		return OUT_CRASH;
	}
}

/* ---- round trips ------------------------------------------------------------ */

static void test_put_commit_reopen(void **state)
{
	struct fixture *fx = *state;
	struct ks_store *st;
	struct ks_store_info info;
	unsigned char k[8];
	const void *v;
	size_t vl;
	char *s;

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	assert_true(lock_exists(fx->path));
	assert_int_equal(ks_store_put_meta(st, "host", "box1"), 0);
	assert_int_equal(ks_store_put_meta(st, "empty", ""), 0);
	be32(k, 4242);
	assert_int_equal(ks_store_put(st, KS_DB_DELTAS, k, 4, "proc-a", 6), 0);
	assert_int_equal(ks_store_commit(st), 0);
	/* the writer reads its own uncommitted puts */
	be64(k, 7);
	assert_int_equal(ks_store_put(st, KS_DB_FILES, k, 8, "/a/b", 4), 0);
	assert_int_equal(ks_store_get(st, KS_DB_FILES, k, 8, &v, &vl), 0);
	assert_int_equal(vl, 4);
	assert_memory_equal(v, "/a/b", 4);
	/* overwrite, then close commits */
	assert_int_equal(ks_store_put_meta(st, "host", "box2"), 0);
	assert_int_equal(ks_store_close(st), 0);
	assert_false(lock_exists(fx->path));

	assert_int_equal(ks_store_open(fx->path, KS_STORE_RDONLY, &st), 0);
	assert_false(lock_exists(fx->path));
	assert_int_equal(ks_store_get_meta(st, "host", &s), 0);
	assert_string_equal(s, "box2");
	free(s);
	assert_int_equal(ks_store_get_meta(st, "empty", &s), 0);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(ks_store_get_meta(st, "format_version", &s), 0);
	assert_string_equal(s, "2");
	free(s);
	assert_int_equal(ks_store_get_meta(st, "nope", &s), -KS_ENOTFOUND);
	assert_null(s);
	be32(k, 4242);
	assert_int_equal(ks_store_get(st, KS_DB_DELTAS, k, 4, &v, &vl), 0);
	assert_int_equal(vl, 6);
	assert_memory_equal(v, "proc-a", 6);
	be64(k, 7);
	assert_int_equal(ks_store_get(st, KS_DB_FILES, k, 8, &v, &vl), 0);
	assert_memory_equal(v, "/a/b", 4);
	be64(k, 8);
	assert_int_equal(ks_store_get(st, KS_DB_FILES, k, 8, &v, &vl), -KS_ENOTFOUND);
	assert_int_equal(ks_store_stat(st, &info), 0);
	/* three puts and the manifest */
	assert_int_equal(info.entries[KS_DB_META], 4);
	assert_true(info.value_bytes[KS_DB_META] > 1 + 4 + 0 + 100);
	assert_int_equal(info.entries[KS_DB_DELTAS], 1);
	assert_int_equal(info.entries[KS_DB_FILES], 1);
	assert_int_equal(info.entries[KS_DB_SEGMENTS], 0);
	assert_true(info.file_size >= 8192);
	assert_true(info.map_size >= info.file_size);
	/* writer calls on a reader */
	assert_int_equal(ks_store_put_meta(st, "x", "y"), -EBADF);
	assert_int_equal(ks_store_commit(st), -EBADF);
	assert_int_equal(ks_store_put_segment(st, 1, "x", 1), -EBADF);
	assert_int_equal(ks_store_close(st), 0);
}

static void test_db_iter_order(void **state)
{
	struct fixture *fx = *state;
	struct ks_store *st;
	struct ks_db_iter *it;
	const void *k, *v;
	size_t kl, vl;
	uint32_t pids[] = { 70000, 5, 300, 1, 65536 };
	uint32_t prev = 0;
	int n = 0;

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
		unsigned char kb[4];

		be32(kb, pids[i]);
		assert_int_equal(ks_store_put(st, KS_DB_FILES, kb, 4, &pids[i], 4), 0);
	}
	/* iterators are for readers */
	assert_int_equal(ks_store_iter(st, KS_DB_FILES, &it), -EBADF);
	assert_null(it);
	assert_int_equal(ks_store_close(st), 0);

	assert_int_equal(ks_store_open(fx->path, KS_STORE_RDONLY, &st), 0);
	assert_int_equal(ks_store_iter(st, KS_DB_FILES, &it), 0);
	while (ks_db_iter_next(it, &k, &kl, &v, &vl) == 1) {
		const unsigned char *kb = k;
		uint32_t pid = (uint32_t)kb[0] << 24 | kb[1] << 16 | kb[2] << 8 | kb[3];
		uint32_t val;

		assert_int_equal(kl, 4);
		assert_int_equal(vl, 4);
		memcpy(&val, v, 4);
		assert_int_equal(val, pid);
		assert_true(pid > prev);
		prev = pid;
		n++;
	}
	assert_int_equal(n, 5);
	assert_int_equal(ks_db_iter_next(it, &k, &kl, &v, &vl), 0);
	ks_db_iter_free(it);
	/* an iterator that outlives its store fails cleanly */
	assert_int_equal(ks_store_iter(st, KS_DB_FILES, &it), 0);
	assert_int_equal(ks_store_close(st), 0);
	assert_int_equal(ks_db_iter_next(it, &k, &kl, &v, &vl), -EBADF);
	ks_db_iter_free(it);
	ks_db_iter_free(NULL);
	ks_seg_iter_free(NULL);
}

/* ---- segments --------------------------------------------------------------- */

/* Checks that the kind's segments (0 = all) come back in kind, then sequence order,
 * with the expected count per kind and intact bytes. */
static void check_segments(const char *path, unsigned kind, const uint64_t *count, unsigned nkinds)
{
	struct ks_store *st;
	struct ks_seg_iter *it;
	unsigned k, last_kind = 0;
	uint64_t seq, next = 0, seen[256] = { 0 };
	const void *b;
	size_t len;
	int r;

	assert_int_equal(ks_store_open(path, KS_STORE_RDONLY, &st), 0);
	assert_int_equal(ks_store_iter_segments(st, kind, &it), 0);
	while ((r = ks_seg_iter_next(it, &k, &seq, &b, &len)) == 1) {
		if (kind)
			assert_int_equal(k, kind);
		assert_true(k >= last_kind);
		if (k != last_kind)
			next = 0;
		assert_int_equal(seq, next);
		assert_true(seg_matches(b, len, k, seq));
		last_kind = k;
		next++;
		seen[k]++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(ks_seg_iter_next(it, &k, &seq, &b, &len), 0);
	ks_seg_iter_free(it);
	for (unsigned i = 1; i < nkinds; i++)
		if (!kind || i == kind)
			assert_int_equal(seen[i], count[i]);
		else
			assert_int_equal(seen[i], 0);
	assert_int_equal(ks_store_close(st), 0);
}

static void test_segments_order_and_kind(void **state)
{
	struct fixture *fx = *state;
	struct ks_store *st;
	struct ks_seg_iter *it;
	uint64_t count[256] = { 0 };
	unsigned order[] = { 3, 1, 2, 3, 3, 5, 1, 2, 3, 1 };

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	for (int round = 0; round < 40; round++)
		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
			unsigned kind = order[i];

			assert_int_equal(put_seg(st, kind, count[kind]), 0);
			count[kind]++;
			if ((round * 10 + i) % 37 == 0)
				assert_int_equal(ks_store_commit(st), 0);
		}
	assert_int_equal(ks_store_put_segment(st, 0, "x", 1), -EINVAL);
	assert_int_equal(ks_store_put_segment(st, 256, "x", 1), -EINVAL);
	/* kind 255 is the last valid one, and sorts last */
	assert_int_equal(put_seg(st, 255, count[255]++), 0);
	assert_int_equal(ks_store_iter_segments(st, 0, &it), -EBADF);
	assert_int_equal(ks_store_close(st), 0);

	check_segments(fx->path, 0, count, 256);
	for (unsigned kind = 1; kind < 8; kind++)
		check_segments(fx->path, kind, count, 256);
	check_segments(fx->path, 255, count, 256);

	struct ks_store *rd;

	assert_int_equal(ks_store_open(fx->path, KS_STORE_RDONLY, &rd), 0);
	assert_int_equal(ks_store_iter_segments(rd, 256, &it), -EINVAL);
	assert_int_equal(ks_store_close(rd), 0);
}

static void test_reopen_append(void **state)
{
	struct fixture *fx = *state;
	struct ks_store *st;
	uint64_t count[6] = { 0 };

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(put_seg(st, 1, count[1]++), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(put_seg(st, 2, count[2]++), 0);
	assert_int_equal(ks_store_close(st), 0);

	/* flags 0: the existing trace, appended to */
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(put_seg(st, 1, count[1]++), 0);
	assert_int_equal(put_seg(st, 4, count[4]++), 0);
	assert_int_equal(put_seg(st, 2, count[2]++), 0);
	assert_int_equal(ks_store_close(st), 0);
	assert_false(lock_exists(fx->path));

	/* and once more, with nothing written */
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	assert_int_equal(ks_store_close(st), 0);
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	assert_int_equal(put_seg(st, 1, count[1]++), 0);
	assert_int_equal(ks_store_close(st), 0);

	check_segments(fx->path, 0, count, 6);
	assert_int_equal(count[1], 11);
}

/* A writer whose commits left pages on the free list closes into a compacted
 * file: smaller, with every segment and meta value, the owner and mode kept, no
 * PATH.compact left; with a threshold above what is free the file stays. */
static void test_close_compact(void **state)
{
	struct fixture *fx = *state;
	struct ks_store *st;
	uint64_t count[6] = { 0 };
	struct stat before, after;
	char tmp[700], *val = NULL;
	int fd;

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(put_seg(st, 1 + i % 3, count[1 + i % 3]++), 0);
		assert_int_equal(ks_store_put_meta(st, "state", i % 2 ? "recording" : "x"), 0);
		assert_int_equal(ks_store_commit(st), 0);
	}
	assert_int_equal(chmod(fx->path, 0640), 0);
	assert_int_equal(chown(fx->path, 65534, 65534), 0);
	assert_int_equal(stat(fx->path, &before), 0);
	/* a copy a killed writer left is replaced, not in the way */
	pathf(tmp, sizeof(tmp), "%s.compact", fx->path);
	fd = open(tmp, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	/* more than everything free, or a file over the size: kept as it is */
	assert_int_equal(ks_store_close_compact(st, 101, UINT64_MAX), 0);
	assert_int_equal(stat(fx->path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	assert_int_equal(ks_store_close_compact(st, 1, (uint64_t)before.st_size - 1), 0);
	assert_int_equal(stat(fx->path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	assert_int_equal(ks_store_put_meta(st, "state", "complete"), 0);
	assert_int_equal(ks_store_close_compact(st, 1, UINT64_MAX), 0);
	assert_int_equal(stat(fx->path, &after), 0);
	assert_int_not_equal(after.st_ino, before.st_ino);
	assert_true(after.st_size < before.st_size);
	assert_int_equal(after.st_mode & 07777, 0640);
	assert_int_equal(after.st_uid, 65534);
	assert_int_equal(access(tmp, F_OK), -1);
	check_segments(fx->path, 0, count, 6);
	assert_int_equal(ks_store_open(fx->path, KS_STORE_RDONLY, &st), 0);
	assert_int_equal(ks_store_get_meta(st, "state", &val), 0);
	assert_string_equal(val, "complete");
	free(val);
	assert_int_equal(ks_store_close(st), 0);
}

/* A writer compacted while it writes goes on in the new file: nothing committed
 * before or put after is missing, the file got smaller, and with too little
 * free nothing is done. */
static void test_compact_live(void **state)
{
	struct fixture *fx = *state;
	struct ks_store *st;
	uint64_t count[6] = { 0 };
	struct stat before, after;

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(put_seg(st, 1 + i % 3, count[1 + i % 3]++), 0);
		assert_int_equal(ks_store_put_meta(st, "state", i % 2 ? "recording" : "x"), 0);
		assert_int_equal(ks_store_commit(st), 0);
	}
	assert_int_equal(ks_store_compact_live(st, 101), 0);
	assert_int_equal(stat(fx->path, &before), 0);
	assert_int_equal(ks_store_compact_live(st, 1), 1);
	assert_int_equal(stat(fx->path, &after), 0);
	assert_int_not_equal(after.st_ino, before.st_ino);
	assert_true(after.st_size < before.st_size);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(put_seg(st, 1 + i % 3, count[1 + i % 3]++), 0);
		assert_int_equal(ks_store_commit(st), 0);
	}
	assert_int_equal(ks_store_put_meta(st, "state", "complete"), 0);
	assert_int_equal(ks_store_close(st), 0);
	check_segments(fx->path, 0, count, 6);
}

static void test_commit_policy(void **state)
{
	struct fixture *fx = *state;
	struct ks_store *st, *rd;
	uint64_t t0;
	struct timespec ts;
	char *v;
	pid_t pid;
	int status;

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	assert_int_equal(ks_store_put_meta(st, "a", "1"), 0);
	assert_int_equal(ks_store_maybe_commit(st, t0), 0);
	/* not committed yet: a reader in another process does not see it */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int e = ks_store_open(fx->path, KS_STORE_RDONLY, &rd);

		if (!e)
			e = ks_store_get_meta(rd, "a", &v);
		_exit(e == -KS_ENOTFOUND ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* an interval later it is */
	assert_int_equal(ks_store_maybe_commit(st, t0 + KS_STORE_COMMIT_INTERVAL_NS + 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int e = ks_store_open(fx->path, KS_STORE_RDONLY, &rd);

		if (!e)
			e = ks_store_get_meta(rd, "a", &v);
		_exit(e == 0 && strcmp(v, "1") == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(ks_store_close(st), 0);
}

/* ---- a writer killed with SIGKILL ---------------------------------------------- */

/* The child appends segment i (kind 1 + i % 3, sequence i / 3), commits, and tells
 * the parent how many commits it completed, until it is killed. */
static void killed_writer_child(const char *path, int wfd, uint32_t start)
{
	struct ks_store *st;

	if (ks_store_open(path, start ? 0 : KS_STORE_CREATE, &st))
		_exit(2);
	for (uint32_t i = start;; i++) {
		if (put_seg(st, 1 + i % 3, i / 3) || ks_store_commit(st))
			_exit(3);
		uint32_t done = i + 1;

		if (write(wfd, &done, sizeof(done)) != sizeof(done))
			_exit(4);
	}
}

/* Returns how many segments the child reported committed before it was killed. */
static uint32_t run_killed_writer(const char *path, uint32_t start, uint32_t kill_after)
{
	uint32_t done = start, n;
	int pfd[2], status;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		killed_writer_child(path, pfd[1], start);
	}
	close(pfd[1]);
	while (done < start + kill_after && read(pfd[0], &n, sizeof(n)) == sizeof(n))
		done = n;
	kill(pid, SIGKILL);
	while (read(pfd[0], &n, sizeof(n)) == sizeof(n))
		done = n;
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	return done;
}

/* Every reported segment is there and intact; at most one more (committed, then
 * killed before it could report) and it too is intact; nothing else. */
static uint32_t check_after_kill(const char *path, uint32_t done)
{
	struct ks_store *st;
	struct ks_seg_iter *it;
	uint64_t per_kind[4] = { 0 };
	unsigned k;
	uint64_t seq;
	const void *b;
	size_t len;
	uint32_t total = 0;
	int r;

	assert_int_equal(ks_store_open(path, KS_STORE_RDONLY, &st), 0);
	assert_int_equal(ks_store_iter_segments(st, 0, &it), 0);
	while ((r = ks_seg_iter_next(it, &k, &seq, &b, &len)) == 1) {
		assert_true(k >= 1 && k <= 3);
		assert_int_equal(seq, per_kind[k]);
		assert_true(seg_matches(b, len, k, seq));
		per_kind[k]++;
		total++;
	}
	assert_int_equal(r, 0);
	ks_seg_iter_free(it);
	assert_int_equal(ks_store_close(st), 0);
	assert_true(total == done || total == done + 1);
	/* no gap: the segments are exactly 0..total-1 in the writer's order */
	for (unsigned kind = 1; kind <= 3; kind++)
		assert_int_equal(per_kind[kind], (total + 3 - kind) / 3);
	return total;
}

static void test_killed_writer(void **state)
{
	struct fixture *fx = *state;
	uint32_t total = 0;

	for (int round = 0; round < 4; round++) {
		uint32_t done = run_killed_writer(fx->path, total, 150 + 97 * (uint32_t)round);

		assert_true(done >= total + 150);
		/* the killed writer leaves its lock file: the reader uses it */
		assert_true(lock_exists(fx->path));
		total = check_after_kill(fx->path, done);
		assert_int_equal(read_everything(fx->path), 0);
	}
	/* a writer reopens the killed trace and appends after the last sequence */
	struct ks_store *st;

	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	for (uint32_t i = total; i < total + 7; i++)
		assert_int_equal(put_seg(st, 1 + i % 3, i / 3), 0);
	assert_int_equal(ks_store_close(st), 0);
	assert_false(lock_exists(fx->path));
	assert_int_equal(check_after_kill(fx->path, total + 7), total + 7);
}

/* ---- map growth ------------------------------------------------------------- */

static int put_big(struct ks_store *st, unsigned kind, uint64_t seq, unsigned char *b, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = seq * 0x100000001b3ull ^ (i * 0x9E3779B97F4A7C15ull) ^ kind;

		memcpy(b + i, &w, 8);
	}
	return ks_store_put_segment(st, kind, b, len);
}

static int big_ok(const unsigned char *got, unsigned kind, uint64_t seq, unsigned char *b, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = seq * 0x100000001b3ull ^ (i * 0x9E3779B97F4A7C15ull) ^ kind;

		memcpy(b + i, &w, 8);
	}
	return memcmp(got, b, len) == 0;
}

static void test_map_growth(void **state)
{
	struct fixture *fx = *state;
	const size_t len = 1 * MiB;
	unsigned char *b = malloc(len);
	struct ks_store *st;
	struct ks_seg_iter *it;
	struct ks_store_info info;
	unsigned k;
	uint64_t seq, n1 = 100, n2 = 150;
	const void *got;
	size_t gl;

	assert_non_null(b);
	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	/* one transaction of 100 MiB: the initial 64 MiB map fills inside it */
	for (uint64_t i = 0; i < n1; i++)
		assert_int_equal(put_big(st, 1, i, b, len), 0);
	assert_int_equal(ks_store_commit(st), 0);
	/* and 150 MiB more over transactions of 30 MiB */
	for (uint64_t i = 0; i < n2; i++) {
		assert_int_equal(put_big(st, 2, i, b, len), 0);
		if (i % 30 == 29)
			assert_int_equal(ks_store_commit(st), 0);
	}
	assert_int_equal(ks_store_stat(st, &info), 0);
	assert_int_equal(info.entries[KS_DB_SEGMENTS], n1 + n2);
	assert_int_equal(ks_store_close(st), 0);

	assert_int_equal(ks_store_open(fx->path, KS_STORE_RDONLY, &st), 0);
	assert_int_equal(ks_store_stat(st, &info), 0);
	assert_true(info.map_size > 64ull * MiB);
	assert_true(info.file_size > 250ull * MiB);
	assert_int_equal(info.value_bytes[KS_DB_SEGMENTS], (n1 + n2) * len);
	uint64_t seen[3] = { 0 };
	unsigned char *want = malloc(len);

	assert_non_null(want);
	assert_int_equal(ks_store_iter_segments(st, 0, &it), 0);
	while (ks_seg_iter_next(it, &k, &seq, &got, &gl) == 1) {
		assert_true(k == 1 || k == 2);
		assert_int_equal(seq, seen[k]);
		assert_int_equal(gl, len);
		assert_true(big_ok(got, k, seq, want, len));
		seen[k]++;
	}
	ks_seg_iter_free(it);
	assert_int_equal(seen[1], n1);
	assert_int_equal(seen[2], n2);
	assert_int_equal(ks_store_close(st), 0);
	free(want);
	free(b);
}

/* ---- read-only files and directories ---------------------------------------------- */

/* Every descriptor this process has on path is open read-only. Returns how many
 * there are, or -1 when one is writable. */
static int fds_on_file_rdonly(const char *path)
{
	struct stat want, sb;
	int n = 0;

	if (stat(path, &want) < 0)
		return -1;
	for (int fd = 0; fd < 1024; fd++) {
		char fi[64], line[128];
		FILE *f;
		unsigned flags = 0;

		if (fstat(fd, &sb) < 0 || sb.st_dev != want.st_dev || sb.st_ino != want.st_ino)
			continue;
		snprintf(fi, sizeof(fi), "/proc/self/fdinfo/%d", fd);
		f = fopen(fi, "re");
		if (!f)
			return -1;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "flags: %o", &flags) == 1)
				break;
		fclose(f);
		if ((flags & O_ACCMODE) != O_RDONLY)
			return -1;
		n++;
	}
	return n;
}

/* In a child without privileges (nobody, when we are root): the reader opens the
 * 0400 file in the 0500 directory, creates no lock file (and leaves alone one it
 * may not write) and writes nothing; a writer is refused. Exit 0 on success, the
 * failed step's number otherwise. */
static int readonly_child(const char *dir, const char *path, int drop, int lock_present)
{
	struct ks_store *st;
	char newp[PATH_MAX];

	if (drop && (setgroups(0, NULL) || setgid(65534) || setuid(65534)))
		return 10;
	/* a process that changed its uid loses /proc/self to root; take it back */
	if (drop && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		return 10;
	if (drop && access(path, W_OK) == 0)
		return 11; /* still privileged: the check would prove nothing */
	if (ks_store_open(path, KS_STORE_RDONLY, &st))
		return 12;
	if (lock_exists(path) != lock_present)
		return 13;
	if (fds_on_file_rdonly(path) != 1)
		return 14;
	if (ks_store_close(st))
		return 15;
	if (read_everything(path))
		return 16;
	if (ks_store_open(path, 0, &st) != -EACCES)
		return 17;
	pathf(newp, sizeof(newp), "%s/new.lmdb", dir);
	if (ks_store_open(newp, KS_STORE_CREATE, &st) != -EACCES)
		return 18;
	if (lock_exists(path) != lock_present || exists(newp))
		return 19;
	return 0;
}

static int run_readonly_child(const char *dir, const char *path, int drop, int lock_present)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(readonly_child(dir, path, drop, lock_present));
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ks_store_put_bytes against LMDB's own page count: large segments, each in its
 * run of overflow pages, counted to the page; the sum only grows. */
static void test_put_bytes(void **state)
{
	struct fixture *fx = *state;
	struct ks_store *st;
	uint64_t used0, used1, put0, put1;
	static unsigned char seg[100000];

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_store_commit(st), 0);
	assert_int_equal(ks_store_used_bytes(st, &used0), 0);
	put0 = ks_store_put_bytes(st);
	for (int i = 0; i < 20; i++) {
		seg[i] = (unsigned char)i;
		assert_int_equal(ks_store_put_segment(st, 1, seg, sizeof(seg)), 0);
	}
	assert_int_equal(ks_store_commit(st), 0);
	assert_int_equal(ks_store_used_bytes(st, &used1), 0);
	put1 = ks_store_put_bytes(st);
	/* 20 runs of 25 pages; LMDB adds a leaf, the manifest, the meta tree */
	assert_true(put1 - put0 >= 20 * 25 * 4096ull);
	assert_true(put1 - put0 <= used1 - used0 + 4096);
	assert_true(used1 - used0 <= put1 - put0 + 8 * 4096);
	assert_int_equal(ks_store_drop_segments(st, 1, 10, 0), 0);
	assert_int_equal(ks_store_commit(st), 0);
	assert_true(ks_store_put_bytes(st) == put1);
	assert_int_equal(ks_store_close(st), 0);
}

/* The same value put again under its key (a checkpoint's unchanged chunks) writes
 * nothing: no put bytes, no new pages (the file does not grow), the manifest and
 * the values as they were; a changed value is written. */
static void test_same_value_put(void **state)
{
	struct fixture *fx = *state;
	static struct ks_store_check ck[1];
	struct ks_store *st;
	struct stat sb0 = { 0 }, sb1;
	uint64_t put0 = 0, same0 = 0;
	static unsigned char val[100000];
	unsigned char key[24];
	const void *v;
	size_t vl;

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	for (int round = 0; round < 2; round++) {
		if (round) {
			assert_int_equal(stat(fx->path, &sb0), 0);
			put0 = ks_store_put_bytes(st);
			same0 = ks_store_same_bytes(st);
		}
		for (int i = 0; i < 20; i++) {
			memset(key, 0xee, sizeof(key));
			key[23] = (unsigned char)i;
			memset(val, i + 1, sizeof(val));
			assert_int_equal(ks_store_put(st, KS_DB_DELTAS, key, sizeof(key), val,
						      sizeof(val)), 0);
		}
		assert_int_equal(ks_store_commit(st), 0);
	}
	assert_int_equal(stat(fx->path, &sb1), 0);
	assert_true(ks_store_put_bytes(st) == put0);
	assert_true(ks_store_same_bytes(st) - same0 >= 20 * 25 * 4096ull);
	assert_true(sb1.st_size <= sb0.st_size + 8 * 4096);
	/* one byte changed: written */
	key[23] = 7;
	memset(val, 8, sizeof(val));
	val[5000] = 0;
	assert_int_equal(ks_store_put(st, KS_DB_DELTAS, key, sizeof(key), val, sizeof(val)), 0);
	assert_true(ks_store_put_bytes(st) - put0 >= 25 * 4096ull);
	assert_int_equal(ks_store_commit(st), 0);
	assert_int_equal(ks_store_get(st, KS_DB_DELTAS, key, sizeof(key), &v, &vl), 0);
	assert_int_equal(vl, sizeof(val));
	assert_int_equal(((const unsigned char *)v)[5000], 0);
	assert_int_equal(((const unsigned char *)v)[5001], 8);
	key[23] = 3;
	assert_int_equal(ks_store_get(st, KS_DB_DELTAS, key, sizeof(key), &v, &vl), 0);
	assert_int_equal(((const unsigned char *)v)[99999], 4);
	assert_int_equal(ks_store_close(st), 0);
	assert_int_equal(ks_store_open(fx->path, KS_STORE_RDONLY, &st), 0);
	assert_int_equal(ks_store_check(st, ck), 0);
	assert_int_equal(ck->nflaws, 0);
	assert_int_equal(ks_store_close(st), 0);
}

static void test_readonly_open(void **state)
{
	struct fixture *fx = *state;
	char ro[PATH_MAX], path[PATH_MAX], lockp[PATH_MAX];
	struct ks_store *st;
	struct stat sb;
	int root = geteuid() == 0;
	int rc;

	path_in(fx, "ro", ro, sizeof(ro));
	pathf(path, sizeof(path), "%s/t.lmdb", ro);
	pathf(lockp, sizeof(lockp), "%s-lock", path);
	assert_int_equal(mkdir(ro, 0700), 0);
	assert_int_equal(build_trace(path, 60), 0);
	if (root) {
		assert_int_equal(chown(ro, 65534, 65534), 0);
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(chmod(fx->dir, 0711), 0);
	}
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(chmod(ro, 0500), 0);

	/* here (root or not): no lock file, and LMDB's descriptor is read-only */
	assert_int_equal(ks_store_open(path, KS_STORE_RDONLY, &st), 0);
	assert_false(lock_exists(path));
	assert_int_equal(fds_on_file_rdonly(path), 1);
	assert_int_equal(ks_store_close(st), 0);
	assert_false(lock_exists(path));

	/* and where the permission bits bind */
	rc = run_readonly_child(ro, path, root, 0);
	if (rc == 10) {
		print_message("  cannot drop to uid 65534 here: checked as root only\n");
		return;
	}
	assert_int_equal(rc, 0);
	/* a lock file the reader may not write: not used, not touched */
	if (!root)
		assert_int_equal(chmod(ro, 0700), 0);
	assert_int_equal(write_file(lockp, "", 0), 0);
	assert_int_equal(chmod(lockp, 0400), 0);
	if (!root)
		assert_int_equal(chmod(ro, 0500), 0);
	assert_int_equal(run_readonly_child(ro, path, root, 1), 0);
	assert_int_equal(stat(lockp, &sb), 0);
	assert_int_equal(sb.st_size, 0);
}

/* ---- errors at open --------------------------------------------------------- */

static void test_open_errors(void **state)
{
	struct fixture *fx = *state;
	char victim[PATH_MAX], link[PATH_MAX], lockp[PATH_MAX];
	char dangling[PATH_MAX], fifo[PATH_MAX], dangling_target[PATH_MAX];
	struct ks_store *st = (struct ks_store *)1;
	unsigned char *buf;
	size_t len;

	assert_int_equal(ks_store_open(fx->path, KS_STORE_RDONLY, &st), -ENOENT);
	assert_null(st);
	assert_int_equal(ks_store_open(fx->path, 0, &st), -ENOENT);
	assert_false(exists(fx->path));
	assert_false(lock_exists(fx->path));
	assert_int_equal(ks_store_open(fx->path, KS_STORE_RDONLY | KS_STORE_CREATE, &st), -EINVAL);
	assert_int_equal(ks_store_open("", KS_STORE_RDONLY, &st), -EINVAL);
	assert_int_equal(ks_store_open(fx->path, 0x80, &st), -EINVAL);

	/* existing file */
	assert_int_equal(build_trace(fx->path, 10), 0);
	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), -EEXIST);
	assert_int_equal(read_everything(fx->path), 0);

	/* a symlink at the path, to an existing file: refused, target untouched */
	path_in(fx, "victim", victim, sizeof(victim));
	path_in(fx, "link.lmdb", link, sizeof(link));
	assert_int_equal(write_file(victim, "precious\n", 9), 0);
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(ks_store_open(link, KS_STORE_CREATE, &st), -EEXIST);
	assert_int_equal(ks_store_open(link, 0, &st), -ELOOP);
	assert_int_equal(read_file(victim, &buf, &len), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(buf, "precious\n", 9);
	free(buf);
	/* a dangling symlink: nothing created at its target */
	path_in(fx, "dangling.lmdb", dangling, sizeof(dangling));
	path_in(fx, "made-through-link", dangling_target, sizeof(dangling_target));
	assert_int_equal(symlink(dangling_target, dangling), 0);
	assert_int_equal(ks_store_open(dangling, KS_STORE_CREATE, &st), -EEXIST);
	assert_false(exists(dangling_target));

	/* a symlink where the writer's lock file goes: not followed, victim untouched,
	 * and no half-made trace left */
	char fresh[PATH_MAX];

	path_in(fx, "fresh.lmdb", fresh, sizeof(fresh));
	pathf(lockp, sizeof(lockp), "%s-lock", fresh);
	assert_int_equal(symlink(victim, lockp), 0);
	assert_int_equal(ks_store_open(fresh, KS_STORE_CREATE, &st), -EEXIST);
	assert_false(exists(fresh));
	assert_int_equal(read_file(victim, &buf, &len), 0);
	assert_int_equal(len, 9);
	free(buf);
	/* a stale regular lock file is replaced */
	unlink(lockp);
	assert_int_equal(write_file(lockp, "stale", 5), 0);
	assert_int_equal(ks_store_open(fresh, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_store_close(st), 0);
	assert_false(exists(lockp));
	struct stat sb;

	assert_int_equal(stat(fresh, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);

	/* a directory, a FIFO (must not hang) */
	assert_int_equal(ks_store_open(fx->dir, KS_STORE_RDONLY, &st), -EISDIR);
	path_in(fx, "fifo", fifo, sizeof(fifo));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(ks_store_open(fifo, KS_STORE_RDONLY, &st), -KS_ENOTTRACE);
	assert_int_equal(ks_store_open(fifo, 0, &st), -KS_ENOTTRACE);

	/* bad arguments on a writer */
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	assert_int_equal(ks_store_put(st, KS_DB_COUNT, "k", 1, "v", 1), -EINVAL);
	assert_int_equal(ks_store_put(st, KS_DB_META, "k", 0, "v", 1), -EINVAL);
	char bigkey[600];

	memset(bigkey, 'k', sizeof(bigkey));
	assert_int_equal(ks_store_put(st, KS_DB_META, bigkey, sizeof(bigkey), "v", 1), -EINVAL);
	assert_int_equal(ks_store_put(st, KS_DB_META, "k", 1, NULL, 1), -EINVAL);
	assert_int_equal(ks_store_put(st, KS_DB_META, "k", 1, NULL, 0), 0);
	assert_int_equal(ks_store_close(st), 0);
	assert_int_equal(read_everything(fx->path), 0);
}

/* ---- files that are not traces ------------------------------------------------- */

static void expect_open_error(const char *path, int want)
{
	int err = 0;

	assert_int_equal(read_in_child(path, &err), OUT_ERROR);
	assert_int_equal(err, want);
}

/* Makes an LMDB environment with LMDB directly: one named database "meta"
 * holding format_version = version (NULL: none), or no databases at all. */
static void make_raw_lmdb(const char *path, int with_meta, const char *version)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	if (with_meta) {
		const char *names[] = { "meta", "segments", "procs", "files", "deltas", "stats" };

		for (int i = 0; i < 6; i++) {
			assert_int_equal(mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi), 0);
			if (i == 0 && version) {
				MDB_val k = { 14, "format_version" }, v = { strlen(version), (void *)version };

				assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
			}
		}
	} else {
		MDB_val k = { 3, "abc" }, v = { 3, "def" };

		assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void test_not_traces(void **state)
{
	struct fixture *fx = *state;
	char p[PATH_MAX];
	unsigned char *rnd = malloc(MiB);
	const char *text = "this is not a trace\n";

	assert_non_null(rnd);
	path_in(fx, "empty", p, sizeof(p));
	assert_int_equal(write_file(p, "", 0), 0);
	expect_open_error(p, -KS_ENOTTRACE);
	path_in(fx, "text", p, sizeof(p));
	assert_int_equal(write_file(p, text, strlen(text)), 0);
	expect_open_error(p, -KS_ENOTTRACE);
	for (size_t i = 0; i < MiB; i++)
		rnd[i] = (unsigned char)(rand() >> 7);
	path_in(fx, "random", p, sizeof(p));
	assert_int_equal(write_file(p, rnd, MiB), 0);
	expect_open_error(p, -KS_ENOTTRACE);
	path_in(fx, "zeros", p, sizeof(p));
	memset(rnd, 0, MiB);
	assert_int_equal(write_file(p, rnd, MiB), 0);
	expect_open_error(p, -KS_ENOTTRACE);
	free(rnd);

	/* LMDB files that are not ksight traces, or of another version */
	path_in(fx, "plain.mdb", p, sizeof(p));
	make_raw_lmdb(p, 0, NULL);
	expect_open_error(p, -KS_ENOTTRACE);
	path_in(fx, "nover.mdb", p, sizeof(p));
	make_raw_lmdb(p, 1, NULL);
	expect_open_error(p, -KS_ENOTTRACE);
	path_in(fx, "v3.mdb", p, sizeof(p));
	make_raw_lmdb(p, 1, "3");
	expect_open_error(p, -KS_EVERSION);
	path_in(fx, "v0.mdb", p, sizeof(p));
	make_raw_lmdb(p, 1, "0");
	expect_open_error(p, -KS_EVERSION);
	path_in(fx, "v12.mdb", p, sizeof(p));
	make_raw_lmdb(p, 1, "12");
	expect_open_error(p, -KS_EVERSION);
	/* format 1 (ret as a plain column) is still read; 2 is what is written */
	path_in(fx, "v1.mdb", p, sizeof(p));
	make_raw_lmdb(p, 1, "1");
	assert_int_equal(read_everything(p), 0);
	path_in(fx, "v2.mdb", p, sizeof(p));
	make_raw_lmdb(p, 1, "2");
	assert_int_equal(read_everything(p), 0);
}

/* A trace holds meta, segments, files and deltas; the first traces also held two
 * databases nothing wrote ("procs", "stats"), and they still open and read. */
static void test_tables_old_and_new(void **state)
{
	struct fixture *fx = *state;
	struct ks_store *st;
	struct ks_store_info info;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	char p[PATH_MAX];

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_store_close(st), 0);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, fx->path, MDB_NOSUBDIR | MDB_NOLOCK | MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "files", 0, &dbi), 0);
	assert_int_equal(mdb_dbi_open(txn, "procs", 0, &dbi), MDB_NOTFOUND);
	assert_int_equal(mdb_dbi_open(txn, "stats", 0, &dbi), MDB_NOTFOUND);
	mdb_txn_abort(txn);
	mdb_env_close(env);

	path_in(fx, "old.mdb", p, sizeof(p));
	make_raw_lmdb(p, 1, "1");
	assert_int_equal(read_everything(p), 0);
	assert_int_equal(ks_store_open(p, KS_STORE_RDONLY, &st), 0);
	assert_int_equal(ks_store_stat(st, &info), 0);
	assert_int_equal(info.entries[KS_DB_META], 1);
	assert_int_equal(ks_store_close(st), 0);
}

static void test_truncated(void **state)
{
	struct fixture *fx = *state;
	char p[PATH_MAX];
	unsigned char *buf;
	size_t len;
	int err;

	assert_int_equal(build_trace(fx->path, 400), 0);
	assert_int_equal(read_file(fx->path, &buf, &len), 0);
	assert_true(len > 64 * 4096);
	size_t cuts[] = { 1, 16, 19, 20, 100, 151, 152, 4095, 4096, 4096 + 151, 4096 + 152,
			  8191, 8192, 8193, 3 * 4096, len / 2, len / 2 + 7, len - 4096,
			  len - 1 };

	path_in(fx, "cut.lmdb", p, sizeof(p));
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		assert_int_equal(write_file(p, buf, cuts[i]), 0);
		assert_int_equal(read_in_child(p, &err), OUT_ERROR);
		if (cuts[i] < 20)
			assert_int_equal(err, -KS_ENOTTRACE);
		else
			assert_int_equal(err, -KS_ECORRUPT);
	}
	/* padded with zeros it still opens (LMDB never shrinks its file) */
	unsigned char *more = calloc(1, len + 3 * 4096);

	assert_non_null(more);
	memcpy(more, buf, len);
	assert_int_equal(write_file(p, more, len + 3 * 4096), 0);
	assert_int_equal(read_in_child(p, &err), OUT_OK);
	free(more);
	free(buf);
}

/* ---- bit flips ---------------------------------------------------------------- */

struct flip_stats {
	unsigned trials, ok, error, lmdb_crash, crash, hang;
};

static void flip_count(struct flip_stats *fs, enum outcome o)
{
	fs->trials++;
	if (o == OUT_OK)
		fs->ok++;
	else if (o == OUT_ERROR)
		fs->error++;
	else if (o == OUT_LMDB_CRASH)
		fs->lmdb_crash++;
	else if (o == OUT_CRASH)
		fs->crash++;
	else
		fs->hang++;
}

static enum outcome flip_trial(const char *p, unsigned char *buf, size_t len, size_t bit)
{
	enum outcome o;
	int err;

	buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	if (write_file(p, buf, len))
		o = OUT_CRASH;
	else
		o = read_in_child(p, &err);
	buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	return o;
}

static void flip_report(const char *what, const struct flip_stats *fs)
{
	print_message("  %s: %u trials: %u opened and read, %u clean errors, "
		      "%u crashes in LMDB (%.2f%%), %u other crashes, %u hangs\n", what,
		      fs->trials, fs->ok, fs->error, fs->lmdb_crash,
		      fs->trials ? 100.0 * fs->lmdb_crash / fs->trials : 0.0, fs->crash,
		      fs->hang);
}

/* Every bit of both LMDB meta structures: never a crash. */
static void test_meta_bitflips(void **state)
{
	struct fixture *fx = *state;
	struct flip_stats fs = { 0 };
	char p[PATH_MAX];
	unsigned char *buf;
	size_t len;

	assert_int_equal(build_trace(fx->path, 60), 0);
	assert_int_equal(read_file(fx->path, &buf, &len), 0);
	path_in(fx, "flip.lmdb", p, sizeof(p));
	for (size_t page = 0; page < 2; page++)
		for (size_t bit = 0; bit < 152 * 8; bit++)
			flip_count(&fs, flip_trial(p, buf, len, page * 4096 * 8 + bit));
	flip_report("meta page bit flips", &fs);
	assert_int_equal(fs.crash + fs.lmdb_crash, 0);
	assert_int_equal(fs.hang, 0);
	assert_true(fs.error > fs.trials / 4);
	free(buf);
}

static unsigned env_uint(const char *name, unsigned def)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned)strtoul(v, NULL, 0) : def;
}

static uint16_t rd16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

/* A bit of LMDB's structure in a branch or leaf page: its header, its node
 * pointer array, or the 8-byte header of one of its nodes. */
static size_t structural_bit(const unsigned char *page)
{
	size_t lower = rd16(page + 12), nkeys = lower > 16 ? (lower - 16) / 2 : 0;
	size_t byte = (size_t)rand() % 16;
	int where = rand() % 3;

	if (where == 1 && nkeys)
		byte = 16 + (size_t)rand() % (nkeys * 2);
	if (where == 2 && nkeys) {
		size_t off = rd16(page + 16 + 2 * ((size_t)rand() % nkeys));

		if (off >= 16 && off + 8 <= 4096)
			byte = off + (size_t)rand() % 8;
	}
	return byte * 8 + (size_t)rand() % 8;
}

/* Random single-bit flips in the B-tree pages (page 2 on): anywhere in the file,
 * anywhere in branch and leaf pages, and in their structure only. LMDB does not
 * check its pages, so the reader walks the trees first (verify.c): no flip may
 * crash LMDB or anything else. KS_FLIP_MAX_CRASH (default 0) tolerates that many
 * crashes inside LMDB, to measure a build without the walk; KS_FLIP_TRIALS sets
 * the trials per kind, KS_FLIP_SEED the seed. */
static void test_btree_bitflips(void **state)
{
	struct fixture *fx = *state;
	struct flip_stats any = { 0 }, tree = { 0 }, structure = { 0 };
	unsigned trials = env_uint("KS_FLIP_TRIALS", 1000);
	unsigned seed = env_uint("KS_FLIP_SEED", 12345);
	unsigned max_crash = env_uint("KS_FLIP_MAX_CRASH", 0);
	size_t tree_pages[4096], ntree = 0;
	char p[PATH_MAX];
	unsigned char *buf;
	size_t len, npages;

	assert_int_equal(build_trace(fx->path, 400), 0);
	assert_int_equal(read_file(fx->path, &buf, &len), 0);
	npages = len / 4096;
	for (size_t pg = 2; pg < npages && ntree < 4096; pg++)
		if (rd16(buf + pg * 4096 + 10) & 0x03) /* P_BRANCH | P_LEAF */
			tree_pages[ntree++] = pg;
	assert_true(ntree >= 8);
	srand(seed);
	path_in(fx, "flip.lmdb", p, sizeof(p));
	for (unsigned t = 0; t < trials; t++) {
		size_t pg = 2 + (size_t)rand() % (npages - 2);

		flip_count(&any, flip_trial(p, buf, len, pg * 4096 * 8 + (size_t)rand() % 32768));
		pg = tree_pages[(size_t)rand() % ntree];
		flip_count(&tree, flip_trial(p, buf, len, pg * 4096 * 8 + (size_t)rand() % 32768));
		pg = tree_pages[(size_t)rand() % ntree];
		flip_count(&structure, flip_trial(p, buf, len,
						  pg * 4096 * 8 + structural_bit(buf + pg * 4096)));
	}
	print_message("  trace of %zu pages, %zu of them branch or leaf, seed %u\n",
		      npages, ntree, seed);
	flip_report("B-tree bit flips, any page", &any);
	flip_report("B-tree bit flips, branch/leaf pages", &tree);
	flip_report("B-tree bit flips, page structure", &structure);
	assert_int_equal(any.crash + tree.crash + structure.crash, 0);
	assert_int_equal(any.hang + tree.hang + structure.hang, 0);
	assert_true(any.lmdb_crash + tree.lmdb_crash + structure.lmdb_crash <= max_crash);
	/* the walk turns structure damage into errors; the flips it lets by are in
	 * stale pages (no tree uses them), in mp_pad (unused) or in a value's size
	 * within its padding byte or overflow run */
	assert_true(structure.error > 0);
	free(buf);
}

/* ---- targeted damage to the B-trees ----------------------------------------------- */

/* LMDB 0.9's layout (mdb.c), as much as the damage below needs: 4 KiB pages; a
 * page header of 16 bytes (pgno, pad, flags at 10, lower at 12 and upper at 14, or
 * an overflow run's length at 12), node offsets from 16; a node header of 8 bytes
 * (data size or child page over lo, hi and flags; flags at 4; key size at 6), then
 * the key and the data. */
#define PSZ 4096u

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void wr16(unsigned char *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void wr32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void wr64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static unsigned nkeys_of(const unsigned char *pg)
{
	return (rd16(pg + 12) - 16u) / 2;
}

/* File offset of node i of the page at file offset pg. */
static size_t node_off(const unsigned char *buf, size_t pg, unsigned i)
{
	return pg + rd16(buf + pg + 16 + 2 * i);
}

static uint64_t child_of(const unsigned char *nd)
{
	return rd16(nd) | (uint64_t)rd16(nd + 2) << 16 | (uint64_t)rd16(nd + 4) << 32;
}

static void set_child(unsigned char *nd, uint64_t pg)
{
	wr16(nd, (uint16_t)pg);
	wr16(nd + 2, (uint16_t)(pg >> 16));
	wr16(nd + 4, (uint16_t)(pg >> 32));
}

static uint64_t run_of(const unsigned char *nd)
{
	return rd64(nd + 8 + rd16(nd + 6));
}

/* Where the damage goes in build_trace(400)'s file, as file offsets. */
struct tree_map {
	size_t seg_node, seg_rec; /* "segments" in the main database, and its MDB_db */
	size_t root;              /* the segments database's root: a branch */
	size_t leaf, plain;       /* a leaf under it, and a value stored in that page */
	size_t big[2];            /* two values on overflow runs of 2 pages or more */
	uint64_t last_pg;
};

static void tree_map_find(const unsigned char *buf, struct tree_map *t)
{
	const unsigned char *meta = rd64(buf + 144) >= rd64(buf + PSZ + 144) ? buf : buf + PSZ;
	size_t main_leaf = rd64(meta + 16 + 72 + 40) * PSZ;
	unsigned nbig = 0;

	memset(t, 0, sizeof(*t));
	t->last_pg = rd64(meta + 16 + 120);
	assert_int_equal(rd16(buf + main_leaf + 10), 0x02);
	for (unsigned i = 0; i < nkeys_of(buf + main_leaf); i++) {
		size_t nd = node_off(buf, main_leaf, i);

		if (rd16(buf + nd + 6) == 8 && !memcmp(buf + nd + 8, "segments", 8))
			t->seg_node = nd;
	}
	assert_true(t->seg_node);
	t->seg_rec = t->seg_node + 8 + 8;
	assert_int_equal(rd16(buf + t->seg_rec + 6), 2);
	t->root = rd64(buf + t->seg_rec + 40) * PSZ;
	assert_int_equal(rd16(buf + t->root + 10), 0x01);
	t->leaf = child_of(buf + node_off(buf, t->root, 1)) * PSZ;
	for (unsigned i = 0; i < nkeys_of(buf + t->leaf) && !t->plain; i++)
		if (rd16(buf + node_off(buf, t->leaf, i) + 4) == 0)
			t->plain = node_off(buf, t->leaf, i);
	assert_true(t->plain);
	for (unsigned c = 0; c < nkeys_of(buf + t->root) && nbig < 2; c++) {
		size_t lf = child_of(buf + node_off(buf, t->root, c)) * PSZ;

		for (unsigned i = 0; i < nkeys_of(buf + lf) && nbig < 2; i++) {
			const unsigned char *nd = buf + node_off(buf, lf, i);

			if (rd16(nd + 4) == 0x01 && (rd16(nd) | (uint32_t)rd16(nd + 2) << 16) > PSZ)
				t->big[nbig++] = node_off(buf, lf, i);
		}
	}
	assert_int_equal(nbig, 2);
}

/* Applies damage i to buf. Returns its name, or NULL past the last one. */
static const char *damage_apply(unsigned char *buf, const struct tree_map *t, unsigned i)
{
	unsigned char *leaf = buf + t->leaf, *root = buf + t->root, *rec = buf + t->seg_rec;
	unsigned char *plain = buf + t->plain, *big = buf + t->big[0];
	unsigned char *run = buf + run_of(big) * PSZ;
	uint16_t ptr0 = rd16(leaf + 16);

	switch (i) {
	case 0:
		wr64(leaf, rd64(leaf) + 1);
		return "page number";
	case 1:
		wr16(leaf + 10, 0x02 | 0x20);
		return "LEAF2 page";
	case 2:
		wr16(leaf + 10, 0x01);
		return "branch where the leaves are";
	case 3:
		wr16(leaf + 12, (uint16_t)(rd16(leaf + 14) + 2));
		return "lower past upper";
	case 4:
		wr16(leaf + 14, PSZ + 2);
		return "upper past the page";
	case 5:
		wr16(leaf + 16, PSZ - 4);
		return "node past the page";
	case 6:
		wr16(leaf + 16, 8);
		return "node in the header";
	case 7:
		wr16(leaf + 18, ptr0);
		return "two offsets to one node";
	case 8:
		wr16(plain + 6, 0xffff);
		return "key size";
	case 9:
		wr16(plain + 2, 0x0100);
		return "data size";
	case 10:
		wr16(leaf + 16, rd16(leaf + 18));
		wr16(leaf + 18, ptr0);
		return "keys out of order";
	case 11:
		wr16(root + 12, 16 + 2);
		return "branch of one node";
	case 12:
		set_child(buf + node_off(buf, t->root, 1), t->root / PSZ);
		return "child loops to the root";
	case 13:
		set_child(buf + node_off(buf, t->root, 1), child_of(buf + node_off(buf, t->root, 0)));
		return "child shared";
	case 14:
		set_child(buf + node_off(buf, t->root, 1), t->last_pg + 1);
		return "child past the last page";
	case 15:
		wr16(run + 10, 0x02);
		return "overflow page flags";
	case 16:
		wr32(run + 12, 0x7fffffff);
		return "overflow run past the file";
	case 17:
		wr32(run + 12, 1);
		return "overflow run shorter than its value";
	case 18:
		wr64(big + 8 + rd16(big + 6), run_of(buf + t->big[1]));
		return "overflow run shared";
	case 19:
		wr64(big + 8 + rd16(big + 6), t->leaf / PSZ);
		return "overflow run over a tree page";
	case 20:
		wr64(rec + 32, rd64(rec + 32) + 1);
		return "entry count";
	case 21:
		wr16(rec + 6, 3);
		return "depth";
	case 22:
		wr64(rec + 16, rd64(rec + 16) - 1);
		return "leaf page count";
	case 23:
		wr16(plain + 4, 0x04);
		return "node with duplicates";
	case 24:
		wr16(buf + t->seg_node + 4, 0);
		return "database record as a plain value";
	default:
		return NULL;
	}
}

/* Each kind of damage the walk looks for, one at a time, in the segments database
 * (a branch over leaves and overflow runs): a clean -KS_ECORRUPT every time. LMDB
 * alone crashes on 6 of these and reads 13 as if nothing were wrong. */
static void test_btree_damage(void **state)
{
	struct fixture *fx = *state;
	struct tree_map t;
	unsigned char *buf, *work;
	const char *what;
	char p[PATH_MAX];
	size_t len;
	int err = 0;

	assert_int_equal(build_trace(fx->path, 400), 0);
	assert_int_equal(read_file(fx->path, &buf, &len), 0);
	tree_map_find(buf, &t);
	work = malloc(len);
	assert_non_null(work);
	path_in(fx, "damaged.lmdb", p, sizeof(p));
	assert_int_equal(write_file(p, buf, len), 0);
	assert_int_equal(read_in_child(p, &err), OUT_OK);
	for (unsigned i = 0;; i++) {
		enum outcome o;

		memcpy(work, buf, len);
		what = damage_apply(work, &t, i);
		if (!what)
			break;
		assert_int_equal(write_file(p, work, len), 0);
		o = read_in_child(p, &err);
		if (o != OUT_ERROR || err != -KS_ECORRUPT)
			fail_msg("%s: outcome %d, error %d", what, o, err);
	}
	free(work);
	free(buf);
}

/* Traces in shapes our writer seldom makes, written by LMDB itself, pass the walk:
 * keys of 1 to 511 bytes, values about the overflow threshold, overflow values
 * overwritten in their own transaction (runs longer than their value) and in later
 * ones, trees three levels deep. */
static void test_lmdb_shapes(void **state)
{
	struct fixture *fx = *state;
	static unsigned char val[40000], key[511];
	const size_t lens[] = { 0, 1, 100, 2000, 2030, 2040, 2100, 4080, 5000, 12000, 40000 };
	const size_t nlens = sizeof(lens) / sizeof(lens[0]);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[6];
	MDB_stat ms;

	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (unsigned char)(i * 7 + 3);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 6), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 256ull * MiB), 0);
	assert_int_equal(mdb_env_open(env, fx->path, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC, 0600), 0);
	for (unsigned t = 0; t < 40; t++) {
		assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
		for (int i = 0; i < 6; i++) {
			/* the layout of the first traces, with "procs" and "stats" */
			const char *names[6] = { "meta", "segments", "procs", "files",
						 "deltas", "stats" };

			assert_int_equal(mdb_dbi_open(txn, names[i], MDB_CREATE, &dbi[i]), 0);
		}
		if (t == 0) {
			MDB_val k = { 14, "format_version" }, v = { 1, "1" };

			assert_int_equal(mdb_put(txn, dbi[KS_DB_META], &k, &v, 0), 0);
		}
		for (unsigned op = 0; op < 150; op++) {
			unsigned id = (t * 150 + op) * 2654435761u % 997;
			MDB_val k = { 1 + id * 37 % 511, key }, v = { lens[(id + t + op) % nlens], val };
			MDB_dbi d = dbi[2 + id % 4];

			memset(key, 'k', sizeof(key));
			be32(key, id);
			if (op % 10 == 0) {
				/* a segment key, and one overflow value overwritten in place */
				key[0] = 1;
				be64(key + 1, id);
				k.mv_size = 9;
				d = dbi[KS_DB_SEGMENTS];
				v.mv_size = 40000;
				assert_int_equal(mdb_put(txn, d, &k, &v, 0), 0);
				v.mv_size = 5000 + id;
			}
			assert_int_equal(mdb_put(txn, d, &k, &v, 0), 0);
		}
		assert_int_equal(mdb_txn_commit(txn), 0);
	}
	assert_int_equal(mdb_env_stat(env, &ms), 0);
	mdb_env_close(env);
	assert_int_equal(read_everything(fx->path), 0);
}

/* --- the manifest ------------------------------------------------------------ */

static struct ks_store_check *check_of(const char *path)
{
	static struct ks_store_check c;
	struct ks_store *st;

	assert_int_equal(ks_store_open(path, KS_STORE_RDONLY, &st), 0);
	assert_int_equal(ks_store_check(st, &c), 0);
	ks_store_close(st);
	return &c;
}

/* Segments of kinds 1 and 2 with known event counts, meta written twice, files and
 * deltas: events of kind 1 are 10 per segment, of kind 2 unknown. */
static void manifest_trace(const char *path, unsigned nseg)
{
	struct ks_store *st;

	assert_int_equal(ks_store_open(path, KS_STORE_CREATE, &st), 0);
	assert_int_equal(ks_store_put_meta(st, "state", "recording"), 0);
	assert_int_equal(ks_store_commit(st), 0);
	for (unsigned i = 0; i < nseg; i++) {
		static unsigned char b[64 * 1024];
		size_t len = seg_len(1, i);

		seg_fill(b, len, 1, i);
		assert_int_equal(ks_store_put_segment_events(st, 1, b, len, 10), 0);
		assert_int_equal(put_seg(st, 2, i), 0);
		if (i % 3 == 2)
			assert_int_equal(ks_store_commit(st), 0);
	}
	assert_int_equal(ks_store_put(st, KS_DB_FILES, "\0\0\0\0\0\0\0\1", 8, "/a/b", 4), 0);
	assert_int_equal(ks_store_put(st, KS_DB_DELTAS, "d1", 2, "xyz", 3), 0);
	assert_int_equal(ks_store_put(st, KS_DB_DELTAS, "d1", 2, "xyzw", 4), 0); /* replaced */
	assert_int_equal(ks_store_put_meta(st, "state", "complete"), 0);
	assert_int_equal(ks_store_close(st), 0);
}

static void test_manifest_whole(void **state)
{
	struct fixture *fx = *state;
	struct ks_store_check *c;
	struct ks_store *st;

	manifest_trace(fx->path, 7);
	c = check_of(fx->path);
	assert_int_equal(c->nflaws, 0);
	assert_true(c->have_manifest);
	assert_int_equal(c->manifest.segments[1], 7);
	assert_int_equal(c->manifest.segments[2], 7);
	assert_int_equal(c->manifest.events[1], 70);
	assert_true(c->manifest.events[2] == KS_EVENTS_UNKNOWN);
	assert_int_equal(c->manifest.entries[KS_DB_FILES], 1);
	assert_int_equal(c->manifest.entries[KS_DB_DELTAS], 1);
	/* the manifest's key is the store's own */
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	assert_int_equal(ks_store_put_meta(st, "manifest", "x"), -EINVAL);
	/* appending keeps it whole, sequences going on */
	assert_int_equal(ks_store_put_segment_events(st, 1, "abc", 3, 5), 0);
	assert_int_equal(ks_store_close(st), 0);
	c = check_of(fx->path);
	assert_int_equal(c->nflaws, 0);
	assert_int_equal(c->manifest.segments[1], 8);
	assert_int_equal(c->manifest.events[1], 75);
}

static void test_manifest_discard(void **state)
{
	struct fixture *fx = *state;
	struct ks_store_check *c;
	struct ks_store *st;
	uint64_t ev[256], puts = 0;

	manifest_trace(fx->path, 3);
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	assert_int_equal(ks_store_put_segment_events(st, 1, "abc", 3, 5), 0);
	assert_int_equal(ks_store_put_segment_events(st, 1, "abcd", 4, 6), 0);
	assert_int_equal(ks_store_put_meta(st, "extra", "1"), 0);
	assert_true(ks_store_pending_bytes(st) > 0);
	assert_int_equal(ks_store_discard(st, ev, &puts), 0);
	assert_int_equal(ev[1], 11);
	assert_int_equal(ev[2], 0);
	assert_int_equal(puts, 1);
	assert_int_equal(ks_store_pending_bytes(st), 0);
	/* the next segment takes the dropped one's sequence: no gap */
	assert_int_equal(ks_store_put_segment_events(st, 1, "z", 1, 1), 0);
	assert_int_equal(ks_store_close(st), 0);
	c = check_of(fx->path);
	assert_int_equal(c->nflaws, 0);
	assert_int_equal(c->manifest.segments[1], 4);
	assert_int_equal(c->manifest.events[1], 31);
}

/* Changes the file behind the store's back, with LMDB itself. */
static void raw_edit(const char *path, enum ks_db db, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	static const char *const names[] = { "meta", "segments", "files", "deltas" };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, names[db], 0, &dbi), 0);
	if (val)
		assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	else
		assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void sk(unsigned char k[9], unsigned kind, uint64_t seq)
{
	k[0] = (unsigned char)kind;
	be64(k + 1, seq);
}

static void test_manifest_flaws(void **state)
{
	struct fixture *fx = *state;
	struct ks_store_check *c;
	unsigned char k[9];
	char path[PATH_MAX + 16];
	int n = 0;

	/* a segment in the middle and the last one deleted: two runs, named */
	manifest_trace(fx->path, 7);
	sk(k, 1, 3);
	raw_edit(fx->path, KS_DB_SEGMENTS, k, 9, NULL, 0);
	sk(k, 2, 6);
	raw_edit(fx->path, KS_DB_SEGMENTS, k, 9, NULL, 0);
	c = check_of(fx->path);
	assert_int_equal(c->nflaws, 2);
	assert_int_equal(c->flaws[0].type, KS_FLAW_SEG_MISSING);
	assert_int_equal(c->flaws[0].kind, 1);
	assert_int_equal(c->flaws[0].seq, 3);
	assert_int_equal(c->flaws[0].seq_end, 3);
	assert_int_equal(c->flaws[1].type, KS_FLAW_SEG_MISSING);
	assert_int_equal(c->flaws[1].kind, 2);
	assert_int_equal(c->flaws[1].seq, 6);

	/* a duplicate past the end */
	pathf(path, sizeof(path), "%s/t%d.lmdb", fx->dir, n++);
	manifest_trace(path, 4);
	sk(k, 1, 4);
	raw_edit(path, KS_DB_SEGMENTS, k, 9, "dup", 3);
	c = check_of(path);
	assert_int_equal(c->nflaws, 1);
	assert_int_equal(c->flaws[0].type, KS_FLAW_SEG_EXTRA);
	assert_int_equal(c->flaws[0].seq, 4);

	/* a segment replaced: as many, other contents */
	pathf(path, sizeof(path), "%s/t%d.lmdb", fx->dir, n++);
	manifest_trace(path, 4);
	sk(k, 2, 1);
	raw_edit(path, KS_DB_SEGMENTS, k, 9, "other", 5);
	c = check_of(path);
	assert_int_equal(c->nflaws, 1);
	assert_int_equal(c->flaws[0].type, KS_FLAW_SEG_ALTERED);
	assert_int_equal(c->flaws[0].kind, 2);

	/* meta altered, a delta removed, the files table grown */
	pathf(path, sizeof(path), "%s/t%d.lmdb", fx->dir, n++);
	manifest_trace(path, 2);
	raw_edit(path, KS_DB_META, "state", 5, "completf", 8);
	raw_edit(path, KS_DB_DELTAS, "d1", 2, NULL, 0);
	raw_edit(path, KS_DB_FILES, "\0\0\0\0\0\0\0\2", 8, "/c", 2);
	c = check_of(path);
	assert_int_equal(c->nflaws, 3);
	assert_int_equal(c->flaws[0].type, KS_FLAW_DB_ALTERED);
	assert_int_equal(c->flaws[0].db, KS_DB_META);
	assert_int_equal(c->flaws[1].type, KS_FLAW_DB_COUNT);
	assert_int_equal(c->flaws[1].db, KS_DB_FILES);
	assert_int_equal(c->flaws[1].want, 1);
	assert_int_equal(c->flaws[1].found, 2);
	assert_int_equal(c->flaws[2].type, KS_FLAW_DB_COUNT);
	assert_int_equal(c->flaws[2].db, KS_DB_DELTAS);
	assert_int_equal(c->flaws[2].found, 0);

	/* the manifest damaged, then gone */
	pathf(path, sizeof(path), "%s/t%d.lmdb", fx->dir, n++);
	manifest_trace(path, 2);
	raw_edit(path, KS_DB_META, "manifest", 8, "KSMF-not-really-one-at-all-xxxxxxxxxxxx", 40);
	c = check_of(path);
	assert_int_equal(c->nflaws, 1);
	assert_int_equal(c->flaws[0].type, KS_FLAW_MANIFEST);
	assert_false(c->have_manifest);
	raw_edit(path, KS_DB_META, "manifest", 8, NULL, 0);
	c = check_of(path);
	assert_int_equal(c->nflaws, 1);
	assert_int_equal(c->flaws[0].type, KS_FLAW_NO_MANIFEST);
}

/* Retention: what is dropped by policy is recorded, not missing. */
static void test_manifest_drops(void **state)
{
	struct fixture *fx = *state;
	struct ks_store_check *c;
	struct ks_store *st;
	const unsigned char *kb;

	manifest_trace(fx->path, 7);
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	assert_int_equal(ks_store_drop_segments(st, 1, 3, 30), 0);
	assert_int_equal(ks_store_drop_segments(st, 1, 9, 0), -EINVAL); /* past the end */
	assert_int_equal(ks_store_drop(st, KS_DB_DELTAS, "d1", 2), 0);
	assert_int_equal(ks_store_drop(st, KS_DB_DELTAS, "d1", 2), -KS_ENOTFOUND);
	assert_int_equal(ks_store_drop(st, KS_DB_META, "manifest", 8), -EINVAL);
	assert_int_equal(ks_store_close(st), 0);
	c = check_of(fx->path);
	assert_int_equal(c->nflaws, 0);
	assert_int_equal(c->manifest.first[1], 3);
	assert_int_equal(c->manifest.segments[1], 4);
	assert_int_equal(c->manifest.events[1], 40);
	assert_int_equal(c->manifest.dropped_events[1], 30);
	assert_int_equal(c->manifest.dropped[KS_DB_SEGMENTS], 3);
	assert_int_equal(c->manifest.dropped[KS_DB_DELTAS], 1);
	assert_int_equal(c->manifest.entries[KS_DB_DELTAS], 0);
	/* a writer reopening goes on after the last kept sequence */
	assert_int_equal(ks_store_open(fx->path, 0, &st), 0);
	assert_int_equal(ks_store_put_segment_events(st, 1, "abc", 3, 5), 0);
	assert_int_equal(ks_store_close(st), 0);
	c = check_of(fx->path);
	assert_int_equal(c->nflaws, 0);
	assert_int_equal(c->manifest.segments[1], 5);
	assert_int_equal(c->manifest.events[1], 45);
	{
		struct ks_seg_iter *it;
		uint64_t seq = 0;
		unsigned kind = 0;

		assert_int_equal(ks_store_open(fx->path, KS_STORE_RDONLY, &st), 0);
		assert_int_equal(ks_store_iter_segments(st, 1, &it), 0);
		assert_int_equal(ks_seg_iter_next(it, &kind, &seq, NULL, NULL), 1);
		assert_int_equal(seq, 3);
		ks_seg_iter_free(it);
		ks_store_close(st);
	}
	(void)kb;
}

struct cap_ctx {
	struct ks_store *st;
	uint64_t first, next, drops;
};

/* The full capped map's callback: the oldest half of the segments go. */
static int cap_full(void *ctx)
{
	struct cap_ctx *x = ctx;
	uint64_t upto = x->first + (x->next - x->first) / 2;

	if (upto == x->first)
		return -ENOENT;
	if (ks_store_drop_segments(x->st, 1, upto, 0) || ks_store_commit(x->st))
		return -EIO;
	x->first = upto;
	x->drops++;
	return 0;
}

static void test_capped_map(void **state)
{
	struct fixture *fx = *state;
	struct cap_ctx x = { 0 };
	struct ks_store_check *c;
	struct stat sb;
	static unsigned char b[20000];

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &x.st), 0);
	assert_int_equal(ks_store_set_cap(x.st, 1 << 10, cap_full, &x), -EINVAL);
	assert_int_equal(ks_store_set_cap(x.st, 2 << 20, cap_full, &x), 0);
	for (unsigned i = 0; i < 1000; i++) {
		for (size_t j = 0; j < sizeof(b); j++)
			b[j] = (unsigned char)(i * 131 + j * 7);
		assert_int_equal(ks_store_put_segment_events(x.st, 1, b, sizeof(b), 1), 0);
		x.next++;
		if (i % 10 == 9)
			assert_int_equal(ks_store_commit(x.st), 0);
	}
	assert_int_equal(ks_store_close(x.st), 0);
	assert_true(x.drops > 0);
	assert_int_equal(stat(fx->path, &sb), 0);
	assert_true(sb.st_size <= 2 << 20);
	c = check_of(fx->path);
	assert_int_equal(c->nflaws, 0);
	assert_int_equal(c->manifest.first[1], x.first);
	assert_int_equal(c->manifest.segments[1], 1000 - x.first);
	assert_int_equal(c->manifest.dropped[KS_DB_SEGMENTS], x.first);
}

/* The full callback as bounded recording has it: one small put and commit in
 * the reserve first, then the oldest half of the segments go. */
static int cap_full_put(void *ctx)
{
	struct cap_ctx *x = ctx;
	char n[24];

	snprintf(n, sizeof(n), "%llu", (unsigned long long)x->drops);
	if (ks_store_put_meta(x->st, "full_maps", n) || ks_store_commit(x->st))
		return -EIO;
	return cap_full(ctx);
}

/* A capped map where the same values are put again (skipped) beside segments that
 * fill it: a skipped put survives the full map's drop and the replay of the puts
 * set aside, a drop after a skipped put in the same transaction deletes, the
 * manifest matches what is stored; and the map and the file stay within the cap,
 * through full maps and live compactions alike. */
static void test_capped_map_same_values(void **state)
{
	struct fixture *fx = *state;
	struct cap_ctx x = { 0 };
	struct ks_store_check *c;
	struct ks_store_info info;
	struct stat sb;
	static unsigned char b[20000], val[30000];
	unsigned char key[24];
	const uint64_t cap = 2 << 20;
	const void *v;
	size_t vl;
	int compacted = 0;

	assert_int_equal(ks_store_open(fx->path, KS_STORE_CREATE, &x.st), 0);
	for (int k = 0; k < 4; k++) {
		memset(key, 0xee, sizeof(key));
		key[23] = (unsigned char)k;
		memset(val, k + 1, sizeof(val));
		assert_int_equal(ks_store_put(x.st, KS_DB_DELTAS, key, sizeof(key), val,
					      sizeof(val)), 0);
	}
	assert_int_equal(ks_store_commit(x.st), 0);
	assert_int_equal(ks_store_set_cap(x.st, cap, cap_full_put, &x), 0);
	for (unsigned i = 0; i < 800; i++) {
		int k = (int)(i % 4);

		for (size_t j = 0; j < sizeof(b); j++)
			b[j] = (unsigned char)(i * 131 + j * 7);
		memset(key, 0xee, sizeof(key));
		key[23] = (unsigned char)k;
		memset(val, k + 1, sizeof(val));
		/* the same value: skipped, then the segment that fills the map */
		assert_int_equal(ks_store_put(x.st, KS_DB_DELTAS, key, sizeof(key), val,
					      sizeof(val)), 0);
		assert_int_equal(ks_store_put_segment_events(x.st, 1, b, sizeof(b), 1), 0);
		x.next++;
		if (i % 50 == 25) {
			/* put (skipped), dropped and put again in one transaction */
			key[23] = 9;
			memset(val, 9, sizeof(val));
			ks_store_put(x.st, KS_DB_DELTAS, key, sizeof(key), val, sizeof(val));
			assert_int_equal(ks_store_put(x.st, KS_DB_DELTAS, key, sizeof(key), val,
						      sizeof(val)), 0);
			assert_int_equal(ks_store_drop(x.st, KS_DB_DELTAS, key, sizeof(key)), 0);
			assert_int_equal(ks_store_get(x.st, KS_DB_DELTAS, key, sizeof(key), &v,
						      &vl), -KS_ENOTFOUND);
			if (i % 100 == 75)
				assert_int_equal(ks_store_put(x.st, KS_DB_DELTAS, key, sizeof(key),
							      val, sizeof(val)), 0);
		}
		if (i % 10 == 9)
			assert_int_equal(ks_store_commit(x.st), 0);
		if (i % 200 == 199) {
			int r = ks_store_compact_live(x.st, 1);

			assert_true(r >= 0);
			compacted += r;
		}
		assert_int_equal(ks_store_stat(x.st, &info), 0);
		assert_true(info.map_size <= cap);
		assert_int_equal(stat(fx->path, &sb), 0);
		assert_true((uint64_t)sb.st_size <= cap);
	}
	assert_true(x.drops > 1);
	assert_true(compacted > 0);
	assert_true(ks_store_same_bytes(x.st) >= 800 * sizeof(val));
	for (int k = 0; k < 4; k++) {
		key[23] = (unsigned char)k;
		assert_int_equal(ks_store_get(x.st, KS_DB_DELTAS, key, sizeof(key), &v, &vl), 0);
		assert_int_equal(vl, sizeof(val));
		assert_int_equal(((const unsigned char *)v)[vl - 1], k + 1);
	}
	key[23] = 9; /* dropped at i = 725, put again after the drop at i = 775 */
	assert_int_equal(ks_store_get(x.st, KS_DB_DELTAS, key, sizeof(key), &v, &vl), 0);
	assert_int_equal(ks_store_close(x.st), 0);
	c = check_of(fx->path);
	assert_int_equal(c->nflaws, 0);
	assert_int_equal(c->manifest.entries[KS_DB_DELTAS], 5);
	assert_int_equal(c->manifest.first[1], x.first);
	assert_int_equal(c->manifest.segments[1], 800 - x.first);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_commit_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_iter_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segments_order_and_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_value_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_traces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tables_old_and_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_bitflips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_btree_bitflips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_btree_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lmdb_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_flaws, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capped_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capped_map_same_values, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
