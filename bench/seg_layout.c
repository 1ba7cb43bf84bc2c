/* Benchmark behind the segment layout choice (bench/SEGMENT_LAYOUT.md): the
 * column-wise codec of format/segment.c against row-wise msgpack (one array or
 * one map per event) under the same zstd levels, on syscalls parsed from a real
 * `strace -f --timestamps=unix,ns --syscall-times=ns` log.
 *
 * usage: seg_layout STRACE_LOG [UNISTD_64_H] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>
#include <zstd.h>

#include "format/event.h"
#include "format/kserr.h"
#include "format/segment.h"

#define SEG_EVENTS 65536
#define MAX_NR 1024
#define MAX_PIDS 65536

static char *nr_names[MAX_NR];

static int load_unistd(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256], name[128];
	unsigned nr;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "#define __NR_%127s %u", name, &nr) == 2 && nr < MAX_NR)
			nr_names[nr] = strdup(name);
	fclose(f);
	return 0;
}

static int nr_of(const char *name, size_t len)
{
	for (int i = 0; i < MAX_NR; i++)
		if (nr_names[i] && strlen(nr_names[i]) == len &&
		    memcmp(nr_names[i], name, len) == 0)
			return i;
	return -1;
}

static int errno_of(const char *name, size_t len)
{
	for (int e = 1; e < 4096; e++) {
		const char *n = strerrorname_np(e);

		if (n && strlen(n) == len && memcmp(n, name, len) == 0)
			return e;
	}
	return 4095;
}

/* "SEC.NSEC" -> ns */
static uint64_t parse_ts(const char *s)
{
	char *dot;
	uint64_t sec = strtoull(s, &dot, 10), frac = 0;
	int digits = 0;

	if (*dot == '.')
		for (const char *p = dot + 1; *p >= '0' && *p <= '9'; p++, digits++)
			frac = frac * 10 + (uint64_t)(*p - '0');
	while (digits++ < 9)
		frac *= 10;
	return sec * 1000000000ull + frac;
}

/* " = RET [ERRNAME (...)] <DUR>" at the end of a finished call. */
static void parse_result(const char *line, struct ks_syscall *e)
{
	const char *eq = strrchr(line, '=');
	const char *lt = strrchr(line, '<');
	const char *p;

	if (!eq)
		return;
	p = eq + 1;
	while (*p == ' ')
		p++;
	if (*p == '?') {
		e->flags = KS_SYSF_NORET;
		return;
	}
	if (p[0] == '0' && p[1] == 'x') {
		e->ret = (int64_t)strtoull(p, NULL, 16);
	} else {
		char *end;

		e->ret = strtoll(p, &end, 10);
		if (e->ret == -1 && end[0] == ' ' && end[1] == 'E') {
			size_t n = strcspn(end + 1, " ");

			e->ret = -errno_of(end + 1, n);
		}
	}
	if (lt && lt[1] >= '0' && lt[1] <= '9')
		e->dur = parse_ts(lt + 1);
}

struct pending {
	uint64_t ts;
	uint32_t nr;
	int used;
};

static struct pending pend[MAX_PIDS];

/* Returns the number of rows parsed into *rows. */
static size_t parse_strace(FILE *f, struct ks_syscall **rows)
{
	size_t n = 0, cap = 1 << 16;
	char line[65536];
	struct ks_syscall *r = malloc(cap * sizeof(*r));

	while (r && fgets(line, sizeof(line), f)) {
		char *p = line, *name;
		unsigned pid = (unsigned)strtoul(p, &p, 10);
		uint64_t ts;
		struct ks_syscall e = { 0 };
		int nr;

		while (*p == ' ')
			p++;
		ts = parse_ts(p);
		p = strchr(p, ' ');
		if (!p || pid >= MAX_PIDS)
			continue;
		name = p + 1;
		if (*name == '+' || *name == '-')
			continue; /* +++ exited, --- signal */
		if (strncmp(name, "<... ", 5) == 0) { /* resumed */
			if (!pend[pid].used)
				continue;
			e.ts = pend[pid].ts;
			e.nr = pend[pid].nr;
			pend[pid].used = 0;
		} else {
			nr = nr_of(name, strcspn(name, "("));
			if (nr < 0)
				continue;
			e.ts = ts;
			e.nr = (uint32_t)nr;
			if (strstr(name, "<unfinished ...>")) {
				pend[pid] = (struct pending){ ts, (uint32_t)nr, 1 };
				continue;
			}
		}
		e.pid = e.tid = pid;
		parse_result(name, &e);
		if (n == cap) {
			cap *= 2;
			r = realloc(r, cap * sizeof(*r));
			if (!r)
				break;
		}
		r[n++] = e;
	}
	*rows = r;
	return r ? n : 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* the machine is shared */
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- row-wise msgpack: one array (or map) per event ---------------------- */

static const char *const keys[] = { "ts", "dur", "ret", "pid", "tid", "nr", "flags" };

struct rowseg {
	void *buf;
	size_t len;
};

static void pack_row(msgpack_packer *pk, const struct ks_syscall *e, int as_map)
{
	const uint64_t u[] = { e->ts, e->dur, 0, e->pid, e->tid, e->nr, e->flags };

	if (as_map)
		msgpack_pack_map(pk, 7);
	else
		msgpack_pack_array(pk, 7);
	for (int i = 0; i < 7; i++) {
		if (as_map) {
			msgpack_pack_str(pk, strlen(keys[i]));
			msgpack_pack_str_body(pk, keys[i], strlen(keys[i]));
		}
		if (i == 2)
			msgpack_pack_int64(pk, e->ret);
		else
			msgpack_pack_uint64(pk, u[i]);
	}
}

static int row_encode(ZSTD_CCtx *cctx, msgpack_sbuffer *sb, const struct ks_syscall *rows,
		      size_t n, int as_map, struct rowseg *out)
{
	msgpack_packer pk;
	size_t bound;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++)
		pack_row(&pk, &rows[i], as_map);
	bound = ZSTD_compressBound(sb->size);
	out->buf = realloc(out->buf, bound);
	out->len = ZSTD_compress2(cctx, out->buf, bound, sb->data, sb->size);
	return ZSTD_isError(out->len) ? -1 : 0;
}

static uint64_t obj_u64(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (uint64_t)o->via.i64 : o->via.u64;
}

static int row_fill(const msgpack_object *o, struct ks_syscall *e)
{
	uint64_t v[7];

	if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 7) {
		for (int i = 0; i < 7; i++)
			v[i] = obj_u64(&o->via.array.ptr[i]);
	} else if (o->type == MSGPACK_OBJECT_MAP && o->via.map.size == 7) {
		for (int i = 0; i < 7; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];
			int k = 0;

			while (k < 7 && (kv->key.via.str.size != strlen(keys[k]) ||
					 memcmp(kv->key.via.str.ptr, keys[k], kv->key.via.str.size)))
				k++;
			if (k == 7)
				return -1;
			v[k] = obj_u64(&kv->val);
		}
	} else {
		return -1;
	}
	*e = (struct ks_syscall){ v[0], v[1], (int64_t)v[2], (uint32_t)v[3],
				  (uint32_t)v[4], (uint32_t)v[5], (uint32_t)v[6] };
	return 0;
}

struct rowdec {
	ZSTD_DCtx *dctx;
	char *raw;
	size_t raw_cap;
	msgpack_unpacked u;
	struct ks_syscall *rows;
	size_t rows_cap;
};

static int row_decode(struct rowdec *d, const struct rowseg *seg, size_t *n)
{
	unsigned long long raw = ZSTD_getFrameContentSize(seg->buf, seg->len);
	size_t off = 0, r;
	const msgpack_object *a;

	if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN)
		return -1;
	if (raw > d->raw_cap) {
		d->raw = realloc(d->raw, raw);
		d->raw_cap = raw;
	}
	r = ZSTD_decompressDCtx(d->dctx, d->raw, raw, seg->buf, seg->len);
	if (ZSTD_isError(r) || r != raw)
		return -1;
	if (msgpack_unpack_next(&d->u, d->raw, raw, &off) != MSGPACK_UNPACK_SUCCESS)
		return -1;
	a = &d->u.data;
	if (a->type != MSGPACK_OBJECT_ARRAY)
		return -1;
	if (a->via.array.size > d->rows_cap) {
		d->rows = realloc(d->rows, a->via.array.size * sizeof(*d->rows));
		d->rows_cap = a->via.array.size;
	}
	for (uint32_t i = 0; i < a->via.array.size; i++)
		if (row_fill(&a->via.array.ptr[i], &d->rows[i]))
			return -1;
	*n = a->via.array.size;
	return 0;
}

/* ---- measurement ---------------------------------------------------------- */

struct result {
	double bytes_per_event, raw_per_event, enc_s, dec_s;
};

#define ROUNDS 20

static void bench_column(const struct ks_syscall *rows, size_t n, int level,
			 struct result *res)
{
	struct ks_seg_encoder *enc;
	struct ks_seg_decoder *dec;
	size_t nseg = (n + SEG_EVENTS - 1) / SEG_EVENTS;
	uint8_t **segs = calloc(nseg, sizeof(*segs));
	size_t *lens = calloc(nseg, sizeof(*lens));
	double best_enc = 1e9, best_dec = 1e9, comp = 0, raw = 0;

	if (ks_seg_encoder_new(level, &enc) || ks_seg_decoder_new(&dec))
		exit(1);
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now();

		comp = raw = 0;
		for (size_t s = 0; s < nseg; s++) {
			size_t cnt = n - s * SEG_EVENTS < SEG_EVENTS ? n - s * SEG_EVENTS : SEG_EVENTS;
			const uint8_t *out;
			struct ks_seg_header h;

			if (ks_seg_encode(enc, KS_KIND_SYSCALL, rows + s * SEG_EVENTS, cnt, &out,
					  &lens[s]))
				exit(1);
			segs[s] = realloc(segs[s], lens[s]);
			memcpy(segs[s], out, lens[s]);
			ks_seg_read_header(out, lens[s], &h);
			comp += (double)lens[s];
			raw += h.raw_size;
		}
		best_enc = now() - t0 < best_enc ? now() - t0 : best_enc;
	}
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now();

		for (size_t s = 0; s < nseg; s++) {
			struct ks_seg_header h;
			const void *out;
			int err = ks_seg_decode(dec, segs[s], lens[s], &h, &out);

			if (err) {
				fprintf(stderr, "decode: %s\n", ks_strerror(err));
				exit(1);
			}
			if (round == 0 &&
			    memcmp(out, rows + s * SEG_EVENTS, h.count * sizeof(*rows)))
				exit(1);
		}
		best_dec = now() - t0 < best_dec ? now() - t0 : best_dec;
	}
	res->bytes_per_event = comp / (double)n;
	res->raw_per_event = raw / (double)n;
	res->enc_s = best_enc;
	res->dec_s = best_dec;
	for (size_t s = 0; s < nseg; s++)
		free(segs[s]);
	free(segs);
	free(lens);
	ks_seg_encoder_free(enc);
	ks_seg_decoder_free(dec);
}

static void bench_row(const struct ks_syscall *rows, size_t n, int level, int as_map,
		      struct result *res)
{
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	msgpack_sbuffer sb;
	struct rowdec d = { .dctx = ZSTD_createDCtx() };
	size_t nseg = (n + SEG_EVENTS - 1) / SEG_EVENTS;
	struct rowseg *segs = calloc(nseg, sizeof(*segs));
	double best_enc = 1e9, best_dec = 1e9, comp = 0, raw = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_unpacked_init(&d.u);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now();

		comp = raw = 0;
		for (size_t s = 0; s < nseg; s++) {
			size_t cnt = n - s * SEG_EVENTS < SEG_EVENTS ? n - s * SEG_EVENTS : SEG_EVENTS;

			if (row_encode(cctx, &sb, rows + s * SEG_EVENTS, cnt, as_map, &segs[s]))
				exit(1);
			comp += (double)segs[s].len;
			raw += (double)sb.size;
		}
		best_enc = now() - t0 < best_enc ? now() - t0 : best_enc;
	}
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now();

		for (size_t s = 0; s < nseg; s++) {
			size_t cnt;

			if (row_decode(&d, &segs[s], &cnt))
				exit(1);
			if (round == 0 &&
			    memcmp(d.rows, rows + s * SEG_EVENTS, cnt * sizeof(*rows)))
				exit(1);
		}
		best_dec = now() - t0 < best_dec ? now() - t0 : best_dec;
	}
	res->bytes_per_event = comp / (double)n;
	res->raw_per_event = raw / (double)n;
	res->enc_s = best_enc;
	res->dec_s = best_dec;
	for (size_t s = 0; s < nseg; s++)
		free(segs[s].buf);
	free(segs);
	free(d.raw);
	free(d.rows);
	msgpack_unpacked_destroy(&d.u);
	msgpack_sbuffer_destroy(&sb);
	ZSTD_freeCCtx(cctx);
	ZSTD_freeDCtx(d.dctx);
}

static void print(const char *layout, int level, const struct result *r, size_t n)
{
	double mb = (double)n * sizeof(struct ks_syscall) / 1e6;

	printf("%-12s %5d %10.2f %10.2f %12.0f %12.1f %14.1f\n", layout, level,
	       r->bytes_per_event, r->raw_per_event, mb / r->enc_s,
	       (double)n / r->enc_s / 1e6, (double)n / r->dec_s / 1e6);
}

int main(int argc, char **argv)
{
	static const int levels[] = { 1, 3, 6 };
	const char *unistd = argc > 2 ? argv[2] : "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
	struct ks_syscall *rows;
	struct result r;
	size_t n;
	FILE *f;

	if (argc < 2) {
		fprintf(stderr, "usage: %s STRACE_LOG [UNISTD_64_H]\n", argv[0]);
		return 2;
	}
	if (load_unistd(unistd)) {
		fprintf(stderr, "seg_layout: cannot read %s\n", unistd);
		return 1;
	}
	f = fopen(argv[1], "r");
	if (!f) {
		fprintf(stderr, "seg_layout: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	n = parse_strace(f, &rows);
	fclose(f);
	if (!n) {
		fprintf(stderr, "seg_layout: no syscalls in %s\n", argv[1]);
		return 1;
	}
	printf("%zu syscalls, segments of %d events, %d rounds (best)\n", n, SEG_EVENTS,
	       ROUNDS);
	printf("%-12s %5s %10s %10s %12s %12s %14s\n", "layout", "zstd", "B/event",
	       "raw B/ev", "enc MB/s", "enc Mev/s", "dec Mev/s");
	for (size_t i = 0; i < 3; i++) {
		bench_row(rows, n, levels[i], 1, &r);
		print("row-map", levels[i], &r, n);
		bench_row(rows, n, levels[i], 0, &r);
		print("row-array", levels[i], &r, n);
		bench_column(rows, n, levels[i], &r);
		print("column", levels[i], &r, n);
	}
	free(rows);
	return 0;
}
