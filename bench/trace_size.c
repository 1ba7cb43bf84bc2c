/* Where the bytes of a trace file go (bench/RESULTS.md, "Trace size"): the whole
 * file per recorded syscall, LMDB's share (overflow-page tails, tree and free
 * pages), per kind the segments' bytes, and per column what it compresses to
 * alone. With -r ROWS the decoded rows are encoded again by this build's codec in
 * segments of ROWS events, to compare layouts on one recording.
 *
 * usage: trace_size [-r ROWS] [-l LEVEL] [-c] [-d PREFIX] TRACE
 *   -c  per column, -d  write each kind's decoded rows to PREFIX.KIND
 * build: bench/bench.py --sizes builds it as build/bench/trace_size */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "format/column.h"
#include "format/event.h"
#include "format/kserr.h"
#include "format/segment.h"
#include "store/store.h"

#define PAGE 4096
#define PAGE_HDR 16
/* LMDB 0.9 with 4 KiB pages: a node (8 bytes + key + value) over this size puts
 * its value on overflow pages of its own */
#define NODE_MAX 2038
#define SEG_KEY 9

struct kind_stat {
	uint64_t segs, events, bytes, page_bytes;
	uint8_t *rows;
	size_t n, cap;
};

static struct kind_stat kinds[KS_KIND_MAX];

/* Bytes a value of len takes in the file: its overflow run, or its node in a
 * leaf page (about, leaves are not full). */
static uint64_t value_footprint(size_t len)
{
	if (8 + SEG_KEY + len > NODE_MAX)
		return (PAGE_HDR + len + PAGE - 1) / PAGE * PAGE;
	return 8 + SEG_KEY + len + 2;
}

static int keep_rows(struct kind_stat *k, const void *rows, size_t n, size_t row_size)
{
	if (k->n + n > k->cap) {
		size_t cap = (k->n + n) * 2;
		uint8_t *p = realloc(k->rows, cap * row_size);

		if (!p)
			return -ENOMEM;
		k->rows = p;
		k->cap = cap;
	}
	memcpy(k->rows + k->n * row_size, rows, n * row_size);
	k->n += n;
	return 0;
}

/* Each column of a kind's rows encoded and compressed alone, in segments of seg
 * rows. */
static void column_sizes(const struct ks_schema *s, struct kind_stat *k, size_t seg,
			 int level, uint64_t syscalls)
{
	uint8_t *col = NULL, *z = NULL;

	for (size_t fi = 0; fi < s->nfields; fi++) {
		const struct ks_field *f = &s->fields[fi], *aux = NULL;
		uint64_t raw = 0, comp = 0;
		int derived = 0;

		for (size_t j = 0; j < s->nfields; j++) {
			const struct ks_field *g = &s->fields[j];

			derived |= g->type == KS_F_BYTES && strcmp(g->len_field, f->name) == 0;
			const char *want = f->type == KS_F_BYTES ? f->len_field :
					   (f->enc & KS_ENC_BASE_MASK) == KS_ENC_GAP ? f->ref_field : NULL;

			if (want && strcmp(s->fields[j].name, want) == 0)
				aux = &s->fields[j];
		}
		if (derived) /* the bytes column carries it */
			continue;
		for (size_t at = 0; at < k->n; at += seg) {
			size_t n = k->n - at < seg ? k->n - at : seg, len, bound;

			col = realloc(col, ks_col_bound(f, n));
			len = ks_col_encode(f, aux, k->rows + at * s->row_size, n, s->row_size, col);
			bound = ZSTD_compressBound(len);
			z = realloc(z, bound);
			raw += len;
			comp += ZSTD_compress(z, bound, col, len, level);
		}
		printf("    %-12s raw %6.2f  zstd %6.2f B/event  %6.3f B/syscall\n", f->name,
		       (double)raw / k->n, (double)comp / k->n, (double)comp / syscalls);
	}
	free(col);
	free(z);
}

/* The rows of a kind encoded again by this build's codec in segments of seg rows:
 * returns the bytes and, in *pages, their footprint in the file. */
static uint64_t reencode(struct ks_seg_encoder *enc, unsigned kind, struct kind_stat *k,
			 size_t seg, uint64_t *pages)
{
	const struct ks_schema *s = ks_schema_get(kind);
	uint64_t total = 0;

	*pages = 0;
	for (size_t at = 0; at < k->n; at += seg) {
		size_t n = k->n - at < seg ? k->n - at : seg, len;
		const uint8_t *out;
		int err = ks_seg_encode(enc, kind, k->rows + at * s->row_size, n, &out, &len);

		if (err) {
			fprintf(stderr, "encode %s: %s\n", s->name, ks_strerror(err));
			exit(1);
		}
		total += len;
		*pages += value_footprint(len);
	}
	return total;
}

int main(int argc, char **argv)
{
	struct ks_store *st = NULL;
	struct ks_seg_decoder *dec = NULL;
	struct ks_seg_encoder *enc = NULL;
	struct ks_seg_iter *it = NULL;
	struct ks_store_info info;
	size_t rows_per_seg = 0;
	int level = 3, columns = 0, opt, err;
	const char *rows_out = NULL;
	uint64_t syscalls, seg_total = 0, page_total = 0;
	struct stat sb;

	while ((opt = getopt(argc, argv, "r:l:cd:")) != -1) {
		if (opt == 'r')
			rows_per_seg = strtoul(optarg, NULL, 0);
		else if (opt == 'l')
			level = atoi(optarg);
		else if (opt == 'c')
			columns = 1;
		else if (opt == 'd')
			rows_out = optarg;
		else
			goto usage;
	}
	if (optind + 1 != argc)
		goto usage;
	if (stat(argv[optind], &sb)) {
		perror(argv[optind]);
		return 1;
	}
	err = ks_store_open(argv[optind], KS_STORE_RDONLY, &st);
	err = err ?: ks_seg_decoder_new(&dec);
	err = err ?: ks_store_iter_segments(st, 0, &it);
	err = err ?: ks_store_stat(st, &info);
	if (err)
		goto fail;
	for (;;) {
		struct ks_seg_header h;
		const void *buf, *rows;
		unsigned kind;
		size_t len;

		err = ks_seg_iter_next(it, &kind, NULL, &buf, &len);
		if (err <= 0)
			break;
		err = ks_seg_decode(dec, buf, len, &h, &rows);
		if (err)
			goto fail;
		kinds[kind].segs++;
		kinds[kind].events += h.count;
		kinds[kind].bytes += len;
		kinds[kind].page_bytes += value_footprint(len);
		seg_total += len;
		page_total += value_footprint(len);
		if ((columns || rows_per_seg || rows_out) &&
		    (err = keep_rows(&kinds[kind], rows, h.count, ks_schema_get(kind)->row_size)))
			goto fail;
	}
	if (err < 0)
		goto fail;
	syscalls = kinds[KS_KIND_SYSCALL].events ? kinds[KS_KIND_SYSCALL].events : 1;
	printf("file %lld bytes, %" PRIu64 " syscalls: %.3f B/syscall (whole file)\n",
	       (long long)sb.st_size, kinds[KS_KIND_SYSCALL].events,
	       (double)sb.st_size / syscalls);
	printf("segments %" PRIu64 " bytes (%.3f B/syscall), in pages and leaf nodes %" PRIu64
	       " (%.3f); LMDB rest (trees, meta, free pages) %.3f B/syscall\n",
	       seg_total, (double)seg_total / syscalls, page_total,
	       (double)page_total / syscalls,
	       ((double)sb.st_size - (double)page_total) / syscalls);
	printf("\n%-11s %5s %9s %10s %9s %10s %10s\n", "kind", "segs", "events", "bytes",
	       "B/event", "B/syscall", "+pages");
	for (unsigned k = 1; k < KS_KIND_MAX; k++) {
		struct kind_stat *ks = &kinds[k];

		if (!ks->segs)
			continue;
		printf("%-11s %5" PRIu64 " %9" PRIu64 " %10" PRIu64 " %9.2f %10.3f %10.3f\n",
		       ks_schema_get(k)->name, ks->segs, ks->events, ks->bytes,
		       (double)ks->bytes / (ks->events ? ks->events : 1),
		       (double)ks->bytes / syscalls, (double)ks->page_bytes / syscalls);
		if (columns && ks->n)
			column_sizes(ks_schema_get(k), ks, rows_per_seg ? rows_per_seg : 65536,
				     level, syscalls);
	}
	for (unsigned k = 1; rows_out && k < KS_KIND_MAX; k++) {
		char path[4096];
		FILE *f;

		if (!kinds[k].n)
			continue;
		snprintf(path, sizeof(path), "%s.%s", rows_out, ks_schema_get(k)->name);
		f = fopen(path, "w");
		if (!f || fwrite(kinds[k].rows, ks_schema_get(k)->row_size, kinds[k].n, f) !=
		    kinds[k].n || fclose(f)) {
			perror(path);
			return 1;
		}
	}
	if (rows_per_seg) {
		uint64_t all = 0, allp = 0;

		err = ks_seg_encoder_new(level, &enc);
		if (err)
			goto fail;
		printf("\nencoded again in segments of %zu rows, zstd %d:\n", rows_per_seg, level);
		for (unsigned k = 1; k < KS_KIND_MAX; k++) {
			uint64_t pages, b;

			if (!kinds[k].n)
				continue;
			b = reencode(enc, k, &kinds[k], rows_per_seg, &pages);
			all += b;
			allp += pages;
			printf("%-11s %10" PRIu64 " bytes %9.3f B/syscall %9.3f with pages\n",
			       ks_schema_get(k)->name, b, (double)b / syscalls,
			       (double)pages / syscalls);
		}
		printf("%-11s %10" PRIu64 " bytes %9.3f B/syscall %9.3f with pages\n", "total",
		       all, (double)all / syscalls, (double)allp / syscalls);
	}
	ks_seg_iter_free(it);
	ks_seg_decoder_free(dec);
	ks_seg_encoder_free(enc);
	ks_store_close(st);
	return 0;
fail:
	fprintf(stderr, "trace_size: %s\n", ks_strerror(err));
	return 1;
usage:
	fprintf(stderr, "usage: trace_size [-r ROWS] [-l LEVEL] [-c] [-d PREFIX] TRACE\n");
	return 2;
}
